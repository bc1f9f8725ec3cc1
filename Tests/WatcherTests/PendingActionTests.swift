import Foundation
import Testing
@testable import Watcher

/// The crash journal's format: an action written by the version before `PendingAction` became an enum
/// (a watcher killed just before an upgrade) must still be read, and what is written now is that format.
@Suite struct PendingActionTests {
    /// Pending actions as the earlier version wrote them (JSONEncoder of its struct: optionals left out
    /// when nil, slashes escaped), one of each kind.
    static let oldReport = #"""
        {"transaction":"0b6f3c1e-2f55-4d7a-9c59-5d0c0f0e7a11","kind":"report","input":"\/srv\/inbox\/sub\/chest.dcm","relative":"sub\/chest.dcm","sha256":"9f2b5c0d6a0e4b7c8d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c","size":532480,"device":2049,"inode":1311,"destination":"\/srv\/inbox\/archive\/2026-12-01\/sub\/chest.dcm","report":"\/srv\/reports\/chest.dcm.pdf","result":{"predictedClass":"covid","probabilities":["normal=0.0100","viral=0.0200","covid=0.9700"],"studyInstanceUID":"1.2.826.0.1.3680043.8.498.1","sopInstanceUID":"1.2.826.0.1.3680043.8.498.2","modality":"CR","patientToken":"a1b2c3","saliency":"class activation map (layer4) of covid","warnings":["view: lateral?"]},"model":"cxreview-resnet18 v3","modelSHA256":"5e5e5e"}
        """#
    static let oldFailed = #"""
        {"transaction":"7a1d2e3f-0000-4000-8000-000000000001","kind":"failed","input":"\/srv\/inbox\/random.dcm","relative":"random.dcm","sha256":"","size":5000,"device":2049,"inode":77,"destination":"\/srv\/inbox\/failed\/random.dcm","notePath":"\/srv\/inbox\/failed\/random.dcm.error.txt","note":"CXReview could not process this file.\n","reason":"it is not a DICOM, PNG or JPEG file","model":"m","modelSHA256":"5e5e5e","judgedMtime":[1764547200,123456789]}
        """#
    static let oldDuplicate = #"""
        {"transaction":"7a1d2e3f-0000-4000-8000-000000000002","kind":"duplicate","input":"\/srv\/inbox\/copy.png","relative":"copy.png","sha256":"abc","size":10,"device":2049,"inode":78,"destination":"\/srv\/inbox\/archive\/2026-12-01\/copy.png","notePath":"\/srv\/inbox\/archive\/2026-12-01\/copy.png.duplicate.txt","note":"same content\n","earlierReport":"\/srv\/reports\/first.png.pdf","model":"m","modelSHA256":"5e5e5e"}
        """#

    static func decode(_ json: String) throws -> PendingAction {
        try JSONDecoder().decode(PendingAction.self, from: Data(json.utf8))
    }

    /// The JSON object, to compare keys and values whatever their order.
    static func object(_ data: Data) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: data) as? NSDictionary)
    }

    @Test func anOldReportActionIsRead() throws {
        guard case let .report(a) = try Self.decode(Self.oldReport) else { Issue.record("not a report action"); return }
        #expect(a.fields == ActionFields(
            transaction: "0b6f3c1e-2f55-4d7a-9c59-5d0c0f0e7a11", input: "/srv/inbox/sub/chest.dcm", relative: "sub/chest.dcm",
            sha256: "9f2b5c0d6a0e4b7c8d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c", size: 532480, device: 2049, inode: 1311,
            destination: "/srv/inbox/archive/2026-12-01/sub/chest.dcm", model: "cxreview-resnet18 v3", modelSHA256: "5e5e5e"))
        #expect(a.report == "/srv/reports/chest.dcm.pdf")
        #expect(a.result.predictedClass == "covid")
        #expect(a.result.probabilities == ["normal=0.0100", "viral=0.0200", "covid=0.9700"])
        #expect(a.result.studyInstanceUID == "1.2.826.0.1.3680043.8.498.1")
        #expect(a.result.patientToken == "a1b2c3")
        #expect(a.result.warnings == ["view: lateral?"])
    }

    @Test func anOldFailedActionIsReadWithTheFileAsJudged() throws {
        guard case let .failed(a) = try Self.decode(Self.oldFailed) else { Issue.record("not a failed action"); return }
        #expect(a.fields.sha256 == "")
        #expect(a.reason == "it is not a DICOM, PNG or JPEG file")
        #expect(a.notePath == "/srv/inbox/failed/random.dcm.error.txt")
        #expect(a.note == "CXReview could not process this file.\n")
        #expect(a.judged == FileStamp(size: 5000, mtimeSeconds: 1764547200, mtimeNanoseconds: 123456789, inode: 77))
    }

    @Test func anOldDuplicateActionIsRead() throws {
        guard case let .duplicate(a) = try Self.decode(Self.oldDuplicate) else { Issue.record("not a duplicate action"); return }
        #expect(a.earlierReport == "/srv/reports/first.png.pdf")
        #expect(a.notePath == "/srv/inbox/archive/2026-12-01/copy.png.duplicate.txt")
        #expect(a.fields.destination == "/srv/inbox/archive/2026-12-01/copy.png")
    }

    /// Written now, read by the earlier version: the same keys and values as it wrote.
    @Test(arguments: [oldReport, oldFailed, oldDuplicate])
    func whatIsWrittenIsTheEarlierFormat(_ json: String) throws {
        let written = try JSONEncoder().encode(try Self.decode(json))
        #expect(try Self.object(written) == Self.object(Data(json.utf8)))
    }

    /// An action of an unknown kind, or missing what its kind needs, does not decode (the journal sets it aside).
    @Test func anIncompleteActionIsNotRead() throws {
        let noReport = Self.oldReport.replacingOccurrences(of: #""report":"\/srv\/reports\/chest.dcm.pdf","#, with: "")
        #expect(noReport != Self.oldReport)
        #expect(throws: (any Error).self) { try Self.decode(noReport) }
        let unknown = Self.oldDuplicate.replacingOccurrences(of: #""kind":"duplicate""#, with: #""kind":"moved""#)
        #expect(throws: (any Error).self) { try Self.decode(unknown) }
    }
}
