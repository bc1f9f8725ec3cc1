import Foundation

/// Finds the model file: the path given, else `$CXREVIEW_MODEL`, else the model shipped in `models/`.
public enum ModelLocator {
    /// File name of the model that ships in the repository's `models/` folder.
    public static let shippedFileName = "cxreview-resnet18.safetensors"

    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case notFound(path: String)
        case noModel(searched: [String])

        public var description: String {
            switch self {
            case let .notFound(path):
                return "model file \(path) does not exist; check the path given with --model or $CXREVIEW_MODEL."
            case let .noModel(searched):
                return "no model given and none shipped yet (looked for \(searched.joined(separator: ", "))): "
                    + "pass --model PATH to a ResNet18 safetensors file with torchvision tensor names and 3 classes. "
                    + "A trained model ships once the training work (issue 3) lands."
            }
        }
    }

    /// Places the shipped model may be: `./models/`, and `models/` in the package the binary was
    /// built in (the first folder above the executable that holds a `Package.swift`).
    public static func shippedCandidates() -> [URL] {
        var urls = [URL(fileURLWithPath: "models").appendingPathComponent(shippedFileName).standardizedFileURL]
        if let exe = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            var dir = exe.deletingLastPathComponent()
            while dir.path != "/" {
                if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                    urls.append(dir.appendingPathComponent("models").appendingPathComponent(shippedFileName))
                    break
                }
                dir = dir.deletingLastPathComponent()
            }
        }
        var seen = Set<String>()
        return urls.filter { seen.insert($0.standardizedFileURL.path).inserted }
    }

    public static func locate(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(Failure) -> URL
    {
        if let path = explicit ?? environment["CXREVIEW_MODEL"].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard FileManager.default.fileExists(atPath: path) else { throw .notFound(path: path) }
            return URL(fileURLWithPath: path)
        }
        let candidates = shippedCandidates()
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) {
            return found
        }
        throw .noModel(searched: candidates.map(\.path))
    }
}
