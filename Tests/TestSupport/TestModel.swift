import Foundation

/// The untrained end-to-end test model, made once per test process from committed files instead
/// of being committed a second time: the weights of `Tests/Fixtures/interop/resnet18-plain-f16.safetensors`
/// (a torchvision state dict as PyTorch wrote it, float16) without its `num_batches_tracked`
/// entries, with `Tests/Fixtures/e2e/config.json` as its `cxreview.config` (name
/// "resnet18-random-test", `trained: false`). `make_e2e_fixtures.py` writes both and its
/// `expected.json` from exactly these weights.
public enum TestModel {
    /// The model file (under `.build/`, which tests never clean; safe to read from any number of
    /// processes). Made again if something removed it.
    public static var e2e: URL {
        get throws {
            let url = try built.get()
            return FileManager.default.fileExists(atPath: url.path) ? url : try build()
        }
    }

    /// `e2e`'s path; a test process that cannot build it stops with the reason.
    public static var e2ePath: String {
        do { return try e2e.path } catch { fatalError("\(error)") }
    }

    /// The repository root (the folder with Package.swift), found from this file's path.
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return url
    }()

    public struct BuildError: Error, CustomStringConvertible {
        public let description: String
    }

    private static let built: Result<URL, BuildError> = Result { try build() }.mapError { error in
        error as? BuildError ?? BuildError(description: "cannot build the e2e test model: \(error)")
    }

    /// The e2e model with its configuration changed by `edit` (the JSON object of `e2e/config.json`),
    /// e.g. to say which classes it was trained on.
    public static func e2e(editingConfiguration edit: (inout [String: Any]) -> Void) throws -> URL {
        var config = try configuration()
        edit(&config)
        return try build(configuration: String(decoding: try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]),
                                               as: UTF8.self))
    }

    static func configuration() throws -> [String: Any] {
        let data = try Data(contentsOf: packageRoot.appendingPathComponent("Tests/Fixtures/e2e/config.json"))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw BuildError(description: "Tests/Fixtures/e2e/config.json is not a JSON object")
        }
        return object
    }

    private static func build(configuration override: String? = nil) throws -> URL {
        let fixtures = packageRoot.appendingPathComponent("Tests/Fixtures")
        let plain = try Data(contentsOf: fixtures.appendingPathComponent("interop/resnet18-plain-f16.safetensors"))
        let config = try override ?? String(contentsOf: fixtures.appendingPathComponent("e2e/config.json"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let data = try repack(plain, dropping: { $0.hasSuffix("num_batches_tracked") }, metadata: ["cxreview.config": config])
        // One file per header (the body is the plain file's bytes; a changed one is caught by the comparison
        // below), written under a unique name and renamed into place, so that test processes running side by
        // side never see a partial one.
        let header = data.prefix(8 + (try safetensorsHeader(data).length))
        let digest = data.count.description + "-" + String(UInt32(truncatingIfNeeded: header.reduce(into: 5381) { $0 = ($0 &* 33) &+ Int($1) }), radix: 16)
        let folder = packageRoot.appendingPathComponent(".build/test-models")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent("e2e-\(digest).safetensors")
        if let existing = try? Data(contentsOf: url), existing == data { return url }
        let partial = url.appendingPathExtension("\(ProcessInfo.processInfo.processIdentifier).\(UUID().uuidString)")
        try data.write(to: partial)
        if rename(partial.path, url.path) != 0 {
            try? FileManager.default.removeItem(at: partial)
            throw BuildError(description: "cannot move \(partial.path) to \(url.path): errno \(errno)")
        }
        return url
    }

    /// The JSON header of safetensors bytes (tensor entries and `__metadata__`) and its length in bytes.
    public static func safetensorsHeader(_ file: Data) throws -> (object: [String: Any], length: Int) {
        guard file.count >= 8 else { throw BuildError(description: "not a safetensors file: \(file.count) bytes") }
        let length = file.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard length > 0, 8 + length <= file.count,
              let object = try JSONSerialization.jsonObject(with: file.subdata(in: 8..<8 + length)) as? [String: Any]
        else { throw BuildError(description: "not a safetensors header") }
        return (object, length)
    }

    /// A safetensors file without the tensors `dropping` names and with `metadata`; the kept tensors'
    /// bytes are copied unchanged, in their original order.
    static func repack(_ file: Data, dropping: (String) -> Bool, metadata: [String: String]) throws -> Data {
        let (header, headerLength) = try safetensorsHeader(file)
        let body = file.subdata(in: 8 + headerLength..<file.count)
        var entries: [(name: String, info: [String: Any], start: Int, end: Int)] = []
        for (name, value) in header where name != "__metadata__" && !dropping(name) {
            guard let info = value as? [String: Any], let offsets = info["data_offsets"] as? [Int], offsets.count == 2 else {
                throw BuildError(description: "tensor \(name) has no data_offsets")
            }
            entries.append((name, info, offsets[0], offsets[1]))
        }
        entries.sort { $0.start < $1.start }
        var newHeader: [String: Any] = ["__metadata__": metadata]
        var newBody = Data()
        for e in entries {
            var info = e.info
            info["data_offsets"] = [newBody.count, newBody.count + e.end - e.start]
            newBody.append(body.subdata(in: e.start..<e.end))
            newHeader[e.name] = info
        }
        var json = try JSONSerialization.data(withJSONObject: newHeader, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }  // the data starts 8-byte aligned
        var out = Data((0..<8).map { UInt8(truncatingIfNeeded: json.count >> (8 * $0)) })
        out.append(json)
        out.append(newBody)
        return out
    }
}
