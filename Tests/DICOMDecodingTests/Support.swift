import Foundation
import TestSupport
import Testing
import XRayCore

/// Paths, temporary folders, PGM reading and running DCMTK's command-line tools for the DICOM tests.
enum Support {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/dicom", isDirectory: true)
    static let expected = fixtures.appendingPathComponent("expected", isDirectory: true)

    static func fixture(_ name: String) -> URL { fixtures.appendingPathComponent(name) }

    static let siim = "siim_1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"

    /// A fresh temporary folder, removed by the caller with `cleanUp`.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("cxr-dicom-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func cleanUp(_ url: URL) { try? FileManager.default.removeItem(at: url) }

    /// Reads a binary (P5) 8-bit PGM.
    static func readPGM(_ url: URL) throws -> GrayImage {
        let data = try Data(contentsOf: url)
        var index = data.startIndex
        func token() -> String {
            var out = ""
            while index < data.endIndex {
                let c = data[index]
                if c == UInt8(ascii: "#") {  // comment to end of line
                    while index < data.endIndex && data[index] != UInt8(ascii: "\n") { index += 1 }
                } else if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 {
                    if !out.isEmpty { index += 1; break }  // consume the single delimiter
                } else {
                    out.append(Character(Unicode.Scalar(c)))
                }
                index += 1
            }
            return out
        }
        let magic = token(), w = Int(token()) ?? 0, h = Int(token()) ?? 0, maxValue = Int(token()) ?? 0
        guard magic == "P5", w > 0, h > 0, maxValue == 255, data.endIndex - index >= w * h else {
            throw PGMError.malformed(url.lastPathComponent)
        }
        return GrayImage(width: w, height: h, pixels: [UInt8](data[index..<(index + w * h)]))
    }

    enum PGMError: Error { case malformed(String) }

    /// Largest absolute difference between two images of the same size (nil if sizes differ), and how many
    /// pixels differ at all.
    static func difference(_ a: GrayImage, _ b: GrayImage) -> (max: Int, count: Int)? {
        guard a.width == b.width, a.height == b.height else { return nil }
        var maxDiff = 0, count = 0
        for i in 0..<a.pixels.count {
            let d = abs(Int(a.pixels[i]) - Int(b.pixels[i]))
            if d > 0 { count += 1; maxDiff = max(maxDiff, d) }
        }
        return (maxDiff, count)
    }

    /// Runs a command-line tool found on PATH (or by absolute path); returns exit status and stderr.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let r = try Tool.run(tool, arguments)
        return (r.status, r.stderr)
    }

    static func toolExists(_ tool: String) -> Bool {
        ["/usr/bin", "/usr/local/bin", "/bin"].contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)")
        }
    }

    /// The DCMTK tool with the codecs a transfer syntax needs.
    static func renderTool(forTransferSyntax uid: String?) -> String {
        switch uid {
        case "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81": return "dcml2pnm"
        default: return "dcmj2pnm"
        }
    }

    /// dcmj2pnm/dcml2pnm options that make the same VOI choice the decoder reports in `notes`.
    static func toolOptions(for notes: DecodingNotes) -> [String] {
        var options: [String] = []
        if notes.convertedFromColour { options.append("+G") }
        switch notes.window {
        case .file: options += ["+Wi", "1"]
        case .voiLUT: options += ["+Wl", "1"]
        case let .automatic(_, center, width): options += ["+Ww", "\(center)", "\(width)"]
        case .none: break
        }
        return options
    }

    /// Renders the first frame of `url` with DCMTK's own tool, as the decoder described it in `scan.notes`.
    /// DCMTK cannot decode JPEG 2000: such a file is first decompressed by GDCM (`gdcmconv --raw`), an
    /// independent decoder, and the tool renders that copy.
    static func renderWithTool(_ url: URL, like scan: DecodedScan, into dir: URL) throws -> GrayImage {
        let out = dir.appendingPathComponent(url.deletingPathExtension().lastPathComponent + ".pgm")
        let tool = renderTool(forTransferSyntax: scan.metadata.transferSyntaxUID)
        var source = url
        if ["1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"].contains(scan.metadata.transferSyntaxUID) {
            source = dir.appendingPathComponent(url.deletingPathExtension().lastPathComponent + ".raw.dcm")
            let raw = try run("gdcmconv", ["--raw", url.path, source.path])
            guard raw.status == 0 else { throw ToolError.failed("gdcmconv --raw exited \(raw.status): \(raw.stderr)") }
        }
        let result = try run(tool, ["--quiet", "+F", "1"] + toolOptions(for: scan.notes) + ["+op", source.path, out.path])
        guard result.status == 0 else { throw ToolError.failed("\(tool) exited \(result.status): \(result.stderr)") }
        return try readPGM(out)
    }

    enum ToolError: Error { case failed(String) }
}
