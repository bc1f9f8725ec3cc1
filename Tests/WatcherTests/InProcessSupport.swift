import Foundation
import Logging
@testable import Watcher
#if canImport(Glibc)
import Glibc
#endif

/// A watcher's folders in a fresh temporary directory, for the in-process tests: the settings that
/// `cxreview watch INBOX --out REPORTS --model <test model>` would make, with no settle time.
final class TemporaryInbox {
    let root: String
    var settings = WatchSettings()
    var paths: WatchSettings.Paths { settings.paths }

    init(_ name: String) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-inproc-\(name)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: base + "/inbox", withIntermediateDirectories: true)
        root = InboxScanner.realPath(base) ?? base
        settings.inbox = root + "/inbox"
        settings.reports = root + "/reports"
        settings.model = WatchFolder.fixtureModel.path
        settings.settle = 0
        settings.grace = 0
        settings.threads = 1
        settings.statusEvery = 3600
    }

    deinit {
        if ProcessInfo.processInfo.environment["CXR_KEEP_WATCH_FOLDERS"] == nil {
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    /// Writes `data` into the inbox as `relative`; returns the job a watcher would make of it.
    @discardableResult
    func drop(_ relative: String, _ data: Data) throws -> Job {
        let path = paths.inbox + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
        return Job(path: path, relative: relative, seen: Date())
    }

    /// Regular files under `folder`, relative to it; the watcher's own folders in the inbox are skipped.
    func files(in folder: String) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: folder) else { return [] }
        var out: [String] = []
        while let p = e.nextObject() as? String {
            if folder == paths.inbox, ["archive", "failed", ".cxreview"].contains(p) { e.skipDescendants(); continue }
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder + "/" + p, isDirectory: &isFolder), !isFolder.boolValue { out.append(p) }
        }
        return out.sorted()
    }

    static let quiet = Logger(label: "cxreview.test") { _ in SwiftLogNoOpLogHandler() }
}

/// An action on `input` as the watcher would plan it, without a classifier.
func failedAction(input: String, relative: String, destination: String, transaction: String = UUID().uuidString.lowercased()) -> PendingAction {
    var st = stat()
    lstat(input, &st)
    return .failed(FailedAction(
        fields: ActionFields(transaction: transaction, input: input, relative: relative, sha256: "", size: Int(st.st_size),
                             device: UInt64(st.st_dev), inode: UInt64(st.st_ino), destination: destination, model: "m", modelSHA256: "00"),
        notePath: destination + ".error.txt", note: "what is wrong\n", reason: "a test", judged: FileStamp(st)))
}

func reportAction(input: String, relative: String, destination: String, report: String) -> PendingAction {
    var st = stat()
    lstat(input, &st)
    return .report(ReportAction(
        fields: ActionFields(transaction: UUID().uuidString.lowercased(), input: input, relative: relative, sha256: "ab12",
                             size: Int(st.st_size), device: UInt64(st.st_dev), inode: UInt64(st.st_ino), destination: destination,
                             model: "m", modelSHA256: "00"),
        report: report,
        result: .init(predictedClass: "normal", probabilities: ["normal=0.9000", "viral=0.0500", "covid=0.0500"],
                      studyInstanceUID: "1.2.3", sopInstanceUID: "1.2.3.4", modality: "CR", patientToken: nil,
                      saliency: "class activation map (layer4) of normal", warnings: [])))
}
