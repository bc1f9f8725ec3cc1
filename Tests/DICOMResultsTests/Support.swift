import CAM
import DICOMResults
import Foundation
import TestSupport

/// Fixtures, a result to write, and the independent tools the tests check the objects with.
enum Support {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func dicom(_ name: String) -> URL { fixtures.appendingPathComponent("dicom").appendingPathComponent(name) }

    /// A fresh empty folder for one test's output.
    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-dicom-results-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Removes a test's folder, unless CXR_KEEP_DICOM_RESULTS is set (to look at the objects).
    static func cleanUp(_ folder: URL) {
        if let keep = ProcessInfo.processInfo.environment["CXR_KEEP_DICOM_RESULTS"], !keep.isEmpty {
            print("DICOM results kept in \(folder.path)")
            return
        }
        try? FileManager.default.removeItem(at: folder)
    }

    /// A small but complete PDF (one empty page), standing in for the report's bytes.
    static let pdf: Data = {
        var body = "%PDF-1.4\n"
        var offsets: [Int] = []
        for object in ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                       "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"] {
            offsets.append(body.utf8.count)
            body += "\(offsets.count) 0 obj\n\(object)\nendobj\n"
        }
        let xref = body.utf8.count
        body += "xref\n0 4\n0000000000 65535 f \n" + offsets.map { String(format: "%010d 00000 n \n", $0) }.joined()
        body += "trailer\n<< /Size 4 /Root 1 0 R >>\nstartxref\n\(xref)\n%%EOF\n"
        return Data(body.utf8)
    }()

    /// A 160x120 grey ramp with a red square, standing in for the report's overlay.
    static let overlay: RGBImage = {
        let w = 160, h = 120
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                let i = (y * w + x) * 3, grey = UInt8(x * 255 / (w - 1))
                let hot = (60..<100).contains(x) && (40..<80).contains(y)
                pixels[i] = hot ? 255 : grey
                pixels[i + 1] = hot ? 40 : grey
                pixels[i + 2] = hot ? 0 : grey
            }
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }()

    static func result(modelName: String = "resnet18-cxr", outOfDistribution: Bool = false) -> DICOMResult {
        DICOMResult(
            predictedClass: "covid",
            probabilities: [.init(className: "normal", probability: 0.05), .init(className: "viral", probability: 0.15),
                            .init(className: "covid", probability: 0.8)],
            modelName: modelName, modelVersion: "1.2", modelSHA256: String(repeating: "ab", count: 32),
            softwareVersion: "0.9.0", outOfDistribution: outOfDistribution, reportPDF: pdf, overlay: overlay)
    }

    /// The path of `tool` on PATH, or nil.
    static func which(_ tool: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    static let pixelmedJar = "/usr/share/java/pixelmed.jar"
    static var hasSRValidator: Bool { which("java") != nil && FileManager.default.fileExists(atPath: pixelmedJar) }

    /// `dcmdump`'s line for `tag` ("gggg,eeee") in `file`, without the trailing comment; nil if absent.
    static func dump(_ file: URL, _ tag: String) throws -> String? {
        let out = try Tool.run("dcmdump", ["-q", "-Un", "+P", tag, file.path])
        guard let line = out.stdout.split(separator: "\n").first else { return nil }
        return line.split(separator: "#").first.map { $0.trimmingCharacters(in: .whitespaces) }
    }
}
