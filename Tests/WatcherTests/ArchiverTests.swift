import Foundation
import Testing
@testable import Watcher

/// Nothing is ever overwritten: a name on disk or claimed by another worker gets a numbered one.
@Suite struct ArchiverTests {
    @Test func aTakenNameGetsANumberedOne() throws {
        let t = try TemporaryInbox("archiver-names")
        let archiver = Archiver(paths: t.paths, logger: TemporaryInbox.quiet)
        let folder = t.paths.archive + "/2026-12-05"
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: true)
        try Data("earlier".utf8).write(to: URL(fileURLWithPath: folder + "/sub/scan.dcm"))

        let first = archiver.claimDestination(for: "sub/scan.dcm", in: folder, suffix: "")
        #expect(first == folder + "/sub/scan-2.dcm")  // scan.dcm is on disk
        let second = archiver.claimDestination(for: "sub/scan.dcm", in: folder, suffix: "")
        #expect(second == folder + "/sub/scan-3.dcm")  // scan-2.dcm is claimed
        // A name whose note would land on an existing file is taken too.
        try Data("note".utf8).write(to: URL(fileURLWithPath: folder + "/other.png.error.txt"))
        #expect(archiver.claimDestination(for: "other.png", in: folder, suffix: ".error.txt") == folder + "/other-2.png")
    }

    @Test func aReleasedNameIsFreeAgain() throws {
        let t = try TemporaryInbox("archiver-release")
        let archiver = Archiver(paths: t.paths, logger: TemporaryInbox.quiet)
        let input = try t.drop("a.dcm", Data("a".utf8)).path
        let destination = archiver.claimDestination(for: "a.dcm", in: t.paths.failed, suffix: ".error.txt")
        let action = failedAction(input: input, relative: "a.dcm", destination: destination)
        #expect(archiver.isClaimed(destination))
        archiver.release(action)
        #expect(!archiver.isClaimed(destination))
        #expect(!archiver.isClaimed(destination + ".error.txt"))
        #expect(archiver.claimDestination(for: "a.dcm", in: t.paths.failed, suffix: ".error.txt") == destination)
    }

    /// Archiving moves the input and writes its note; repeated (as after a crash) it changes nothing.
    @Test func archivingIsRepeatable() throws {
        let t = try TemporaryInbox("archiver-move")
        let archiver = Archiver(paths: t.paths, logger: TemporaryInbox.quiet)
        let input = try t.drop("sub/a.dcm", Data("the scan".utf8)).path
        let destination = archiver.claimDestination(for: "sub/a.dcm", in: t.paths.failed, suffix: ".error.txt")
        let action = failedAction(input: input, relative: "sub/a.dcm", destination: destination)
        try archiver.archive(action)
        #expect(!FileManager.default.fileExists(atPath: input))
        #expect(FileManager.default.contents(atPath: destination) == Data("the scan".utf8))
        #expect(FileManager.default.contents(atPath: destination + ".error.txt") == Data("what is wrong\n".utf8))
        try archiver.archive(action)
        #expect(FileManager.default.contents(atPath: destination) == Data("the scan".utf8))
    }

    /// Someone else's file appeared under the destination after it was claimed: the move fails, and
    /// both files are left as they were.
    @Test func anOutsideFileAtTheDestinationIsNotOverwritten() throws {
        let t = try TemporaryInbox("archiver-clash")
        let archiver = Archiver(paths: t.paths, logger: TemporaryInbox.quiet)
        let input = try t.drop("a.dcm", Data("mine".utf8)).path
        let destination = archiver.claimDestination(for: "a.dcm", in: t.paths.failed, suffix: ".error.txt")
        try FileManager.default.createDirectory(atPath: t.paths.failed, withIntermediateDirectories: true)
        try Data("theirs".utf8).write(to: URL(fileURLWithPath: destination))
        #expect(throws: ActionFailure.self) { try archiver.archive(failedAction(input: input, relative: "a.dcm", destination: destination)) }
        #expect(FileManager.default.contents(atPath: destination) == Data("theirs".utf8))
        #expect(FileManager.default.contents(atPath: input) == Data("mine".utf8))
    }
}
