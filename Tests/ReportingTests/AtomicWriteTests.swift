import Foundation
@testable import Reporting
import Testing

/// Figures are complete or absent, never overwrite by accident, and say why a write failed.
@Suite struct AtomicWriteTests {
    @Test(arguments: [FigureFormat.png, .pdf])
    func refusesToOverwriteAndLeavesNoTemporaryFile(format: FigureFormat) throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("figure.\(format.rawValue)")
        try Data("keep me".utf8).write(to: url)

        #expect(throws: RenderError.exists(path: url.path)) {
            try Support.evaluation().write(to: url, format: format)
        }
        #expect(try Data(contentsOf: url) == Data("keep me".utf8))
        #expect(try Support.contents(of: folder) == ["figure.\(format.rawValue)"])
        // The message is for a command-line user: it names what to do, not a Swift parameter.
        #expect(RenderError.exists(path: url.path).description.contains("remove it"))
        #expect(!RenderError.exists(path: url.path).description.contains("overwrite:"))

        try Support.grid().write(to: url, format: format, overwrite: true)
        let magic = try Data(contentsOf: url).prefix(4)
        #expect(magic == Data(format == .png ? [0x89, 0x50, 0x4E, 0x47] : Array("%PDF".utf8)))
        #expect(try Support.contents(of: folder) == ["figure.\(format.rawValue)"], "no temporary file after success")
    }

    @Test func missingFolderIsCannotWriteWithTheReason() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("no/such/folder/figure.pdf")
        #expect(throws: RenderError.cannotWrite(path: url.path, reason: "No such file or directory")) {
            try Support.evaluation().write(to: url, format: .pdf)
        }
    }

    @Test func aFileInPlaceOfTheFolderIsCannotWrite() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let file = folder.appendingPathComponent("plain-file")
        try Data().write(to: file)
        let url = file.appendingPathComponent("figure.png")
        #expect(throws: RenderError.cannotWrite(path: url.path, reason: "Not a directory")) {
            try Support.grid().write(to: url, format: .png)
        }
        #expect(try Support.contents(of: folder) == ["plain-file"])
    }

    @Test(.enabled(if: getuid() != 0, "root may write to read-only folders"))
    func unwritableFolderIsCannotWrite() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: folder.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder.path) }
        let url = folder.appendingPathComponent("figure.png")
        #expect(throws: RenderError.cannotWrite(path: url.path, reason: "Permission denied")) {
            try Support.evaluation().write(to: url, format: .png)
        }
    }

    @Test func aFailedRenderLeavesNoTemporaryFile() throws {
        // Passes the existence check, then fails while drawing (the text does not fit the page).
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        var figure = Support.evaluation()
        figure.notes = Array(repeating: "a long caveat that takes a whole line of the page or close to it, repeated", count: 60)
        #expect(throws: RenderError.self) {
            try figure.write(to: folder.appendingPathComponent("figure.pdf"), format: .pdf)
        }
        #expect(try Support.contents(of: folder).isEmpty)
    }
}
