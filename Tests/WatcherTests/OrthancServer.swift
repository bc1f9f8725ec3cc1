import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A real PACS for the tests: Debian's Orthanc (package `orthanc`), run as an ordinary process on 127.0.0.1
/// with its own configuration, storage and ports (above 10000), and removed afterwards. Its REST API reads
/// back what it stored.
final class OrthancServer {
    static let executable = "/usr/sbin/Orthanc"
    static var isInstalled: Bool { access(executable, X_OK) == 0 }
    static let aeTitle = "ORTHANC"

    let root: URL
    let httpPort: Int
    let dicomPort: Int
    private let process = Process()

    /// Starts Orthanc knowing `modalities` (name → AE title and port on 127.0.0.1), and waits until its REST
    /// API answers.
    init(modalities: [String: (aeTitle: String, port: Int)]) throws {
        root = URL(fileURLWithPath: "/tmp/cxr-orthanc-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("db"), withIntermediateDirectories: true)
        httpPort = LoopbackPort.free()
        var dicom = LoopbackPort.free()
        while dicom == httpPort { dicom = LoopbackPort.free() }
        dicomPort = dicom
        let config: [String: Any] = [
            "Name": "cxreview-test", "StorageDirectory": root.appendingPathComponent("db").path,
            "IndexDirectory": root.appendingPathComponent("db").path, "HttpPort": httpPort, "DicomPort": dicomPort,
            "DicomAet": Self.aeTitle, "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "Plugins": [String](),
            "HttpServerEnabled": true, "DicomServerEnabled": true, "StableAge": 1, "DicomCheckCalledAet": true,
            "DicomModalities": modalities.mapValues { [$0.aeTitle, "127.0.0.1", $0.port] as [Any] },
        ]
        let file = root.appendingPathComponent("orthanc.json")
        try JSONSerialization.data(withJSONObject: config).write(to: file)
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = [file.path]
        process.currentDirectoryURL = root
        let log = root.appendingPathComponent("orthanc.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? get("/system")) != nil { return }
            guard process.isRunning else { break }
            usleep(200_000)
        }
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        stop()
        throw Failure(description: "Orthanc did not start on HTTP port \(httpPort): \(text.suffix(2000))")
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// SIGTERM, then SIGKILL after 5 s: a child started from a test thread may inherit a signal mask that
    /// blocks SIGTERM, and this PACS's data goes with it anyway.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit {
        stop()
        if ProcessInfo.processInfo.environment["CXR_KEEP_WATCH_FOLDERS"] == nil { try? FileManager.default.removeItem(at: root) }
    }

    /// GET on the REST API; the decoded JSON.
    func get(_ path: String) throws -> Any { try request("GET", path, body: nil) }

    /// POST of a JSON body (or raw bytes, e.g. a DICOM file to /instances) on the REST API; the decoded JSON.
    func post(_ path: String, json: Any) throws -> Any { try request("POST", path, body: try JSONSerialization.data(withJSONObject: json)) }
    func post(_ path: String, data: Data) throws -> Any { try request("POST", path, body: data) }

    /// The study's series, each as (Modality, SOP Class UID of its first instance, number of instances).
    func series(ofStudy study: String) throws -> [(modality: String, sopClass: String, instances: Int)] {
        let list = try get("/studies/\(study)/series") as? [[String: Any]] ?? []
        return try list.map { s in
            let tags = s["MainDicomTags"] as? [String: Any] ?? [:]
            let instances = s["Instances"] as? [String] ?? []
            var sopClass = ""
            if let first = instances.first, let t = try get("/instances/\(first)/simplified-tags") as? [String: Any] {
                sopClass = t["SOPClassUID"] as? String ?? ""
            }
            return (tags["Modality"] as? String ?? "", sopClass, instances.count)
        }
    }

    private func request(_ method: String, _ path: String, body: Data?) throws -> Any {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(httpPort)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 60
        final class Box: @unchecked Sendable {
            var result: Result<(Data, Int), any Error> = .failure(Failure(description: "no answer"))
        }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error {
                box.result = .failure(error)
            } else {
                box.result = .success((data ?? Data(), (response as? HTTPURLResponse)?.statusCode ?? 0))
            }
            done.signal()
        }.resume()
        done.wait()
        let (data, status) = try box.result.get()
        guard (200..<300).contains(status) else {
            throw Failure(description: "Orthanc \(method) \(path): HTTP \(status): \(String(decoding: data.prefix(500), as: UTF8.self))")
        }
        return data.isEmpty ? [String: Any]() : try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    }
}
