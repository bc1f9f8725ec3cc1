import DICOMDecoding
import Foundation
import ImageDecoding
@testable import Pipeline
import Testing
import TestSupport
import XRayCore

#if canImport(Glibc)
import Glibc
#endif

/// Hostile inputs (issue 14, items 5a-5d): every one must end, in under 10 s, in a one-line typed error that
/// names the file and says what is wrong, or in an accepted image whose notes state the damage as a warning.
/// The small files are in Tests/Fixtures/hostile (made by make_hostile.py there); the big ones are built here.
@Suite("Hostile inputs", .serialized)
struct HostileInputTests {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/hostile", isDirectory: true)

    enum Outcome: Sendable {
        /// Refused; the error's description contains every phrase.
        case refused([String])
        /// Accepted; some note message contains the phrase.
        case warned(String)
        /// Accepted without warnings (the control file).
        case clean
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let item: String
        let file: String
        let outcome: Outcome
        var testDescription: String { "\(item) \(file)" }
    }

    static let cases: [Case] = [
        Case(item: "control", file: "control_mono16.dcm", outcome: .clean),
        // 5a: crashes
        Case(item: "5a window NaN", file: "window_nan.dcm", outcome: .warned("Window Center 'NaN'")),
        Case(item: "5a window inf", file: "window_inf.dcm", outcome: .warned("Window Width 'inf'")),
        Case(item: "5a window 9.3e15", file: "window_huge.dcm", outcome: .warned("Window Center '9.3e15'")),
        Case(item: "5a RLE offset", file: "rle_offset_huge.dcm",
             outcome: .refused(["damaged", "RLE segment 1 of 1 starts at byte 1073741824"])),
        // 5b: memory
        Case(item: "5b deflate 4 GiB", file: "deflate_declares_4gib.dcm",
             outcome: .refused(["Pixel Data (7FE0,0010) declares 4294967280 bytes", "need only 131072"])),
        Case(item: "5b PNG tEXt 2 GiB", file: "text_2gib.png", outcome: .refused(["damaged", "tEXt chunk declares 2147483647 bytes"])),
        Case(item: "5b progressive scans", file: "progressive_150_scans.jpg",
             outcome: .refused(["more than 100 progressive scans"])),
        // 5c: named transfer syntaxes
        // HTJ2K is decoded (OpenJPEG): this file's "codestream" is junk, so it is damaged.
        Case(item: "5c HTJ2K", file: "ts_htj2k.dcm",
             outcome: .refused(["damaged", "High-Throughput JPEG 2000", "codestream header cannot be read"])),
        Case(item: "5c JPEG-XL", file: "ts_jpegxl.dcm", outcome: .refused(["uses JPEG XL Lossless (1.2.840.10008.1.2.4.110)"])),
        Case(item: "5c deflated frame", file: "ts_deflated_frame.dcm",
             outcome: .refused(["uses Deflated Image Frame Compression (1.2.840.10008.1.2.8.1)"])),
        Case(item: "5c unknown syntax", file: "ts_unknown.dcm",
             outcome: .refused(["uses an unknown transfer syntax (1.2.3.4.5.6.7.8)"])),
        Case(item: "5c garbage syntax", file: "ts_garbage.dcm",
             outcome: .refused(["uses a garbled transfer syntax UID, not a valid UID (not-a-uid!)"])),
        Case(item: "5c ACR-NEMA truncated", file: "acrnema_truncated.dcm",
             outcome: .refused(["damaged or truncated DICOM file", "premature end of stream"])),
        Case(item: "5c JPEG in DICOM", file: "jpeg_broken_in_dicom.dcm",
             outcome: .refused(["JPEG Baseline", "could not be decompressed"])),
        Case(item: "5c JPEG-LS named .jpg", file: "jpegls_stream.jpg", outcome: .refused(["not supported", "JPEG-LS"])),
        // 5d: damage accepted before
        Case(item: "5d JPEG claims 10000x10000", file: "claims_10000x10000.jpg",
             outcome: .refused(["damaged", "premature end of data segment"])),
        Case(item: "5d Huffman under SOF9", file: "huffman_as_arithmetic.jpg", outcome: .refused(["damaged", "arithmetic-coded frame (SOF9) that carries Huffman tables"])),
        Case(item: "5d short RLE segment", file: "rle_short_segment.dcm",
             outcome: .refused(["RLE segment 1 of 1 decodes to 100 bytes", "need 4096"])),
        Case(item: "5d 64x64 JPEG in 256x256", file: "jpeg64_in_256_header.dcm",
             outcome: .refused(["compressed first frame is 64x64 pixels", "say 256x256"])),
        Case(item: "5d rescale NaN", file: "rescale_nan.dcm", outcome: .refused(["Rescale Slope (0028,1053) is 'NaN'"])),
        Case(item: "5d rescale -inf", file: "rescale_inf.dcm", outcome: .refused(["Rescale Slope (0028,1053) is '-inf'"])),
        Case(item: "5d rescale 1e300", file: "rescale_huge.dcm", outcome: .refused(["Rescale Slope (0028,1053) is '1e300'"])),
        Case(item: "5d absurd LUT", file: "lut_absurd.dcm", outcome: .refused(["single grey level"])),
        Case(item: "5d BitsAllocated 7", file: "bits_allocated_7.dcm", outcome: .refused(["Bits Allocated (0028,0100) is 7;"])),
        Case(item: "5d BitsAllocated 65535", file: "bits_allocated_65535.dcm",
             outcome: .refused(["Bits Allocated (0028,0100) is 65535;"])),
    ]

    /// Loads through ScanLoader, as `classify` does, with the time it took.
    static func load(_ url: URL) -> (result: Result<DecodedScan, PipelineError>, elapsed: Duration) {
        var result: Result<DecodedScan, PipelineError>!
        let elapsed = ContinuousClock().measure {
            do throws(PipelineError) { result = .success(try ScanLoader().load(url)) } catch { result = .failure(error) }
        }
        return (result, elapsed)
    }

    static func check(_ c: Case, _ outcome: (result: Result<DecodedScan, PipelineError>, elapsed: Duration)) {
        #expect(outcome.elapsed < .seconds(10), "\(c.file) took \(outcome.elapsed)")
        switch (c.outcome, outcome.result) {
        case let (.refused(phrases), .failure(error)):
            let text = error.description
            #expect(!text.contains("\n"), "one line: \(text)")
            #expect(text.contains(c.file), "names the file: \(text)")
            #expect(text.contains(";"), "says what to do: \(text)")
            for phrase in phrases { #expect(text.contains(phrase), "\(text)") }
        case let (.warned(phrase), .success(scan)):
            #expect(scan.notes.messages.contains { $0.contains(phrase) && $0.contains("warning") }, "\(scan.notes.messages)")
            #expect(!scan.notes.summary.isEmpty)
            #expect(Set(scan.image.pixels).count > 1, "a picture, not a flat field")
        case let (.clean, .success(scan)):
            #expect(scan.notes.messages.isEmpty, "\(scan.notes.messages)")
        case let (_, .failure(error)):
            Issue.record("\(c.file): expected \(c.outcome), refused: \(error.description)")
        case let (_, .success(scan)):
            Issue.record("\(c.file): expected \(c.outcome), accepted: \(scan.notes.summary)")
        }
    }

    @Test("each hostile file ends in a clear error or a warned image", arguments: cases)
    func hostileFile(_ c: Case) {
        Self.check(c, Self.load(Self.folder.appendingPathComponent(c.file)))
    }

    @Test("the decoders' typed errors: syntax and UID apart, JPEG-LS unsupported, damage as corrupt")
    func typedErrors() {
        func dicom(_ name: String) -> DICOMError? {
            do throws(DICOMError) { _ = try DICOMDecoder().decode(contentsOf: Self.folder.appendingPathComponent(name)); return nil } catch { return error }
        }
        func jpeg(_ name: String) -> ImageDecodingError? {
            do throws(ImageDecodingError) { _ = try JPEGDecoder().decode(contentsOf: Self.folder.appendingPathComponent(name)); return nil } catch { return error }
        }
        guard case .corrupt? = dicom("ts_htj2k.dcm") else { Issue.record("HTJ2K junk: not .corrupt"); return }
        #expect(dicom("ts_jpegxl.dcm") == .unsupportedTransferSyntax(
            file: "ts_jpegxl.dcm", syntax: "JPEG XL Lossless", uid: "1.2.840.10008.1.2.4.110"))
        #expect(dicom("ts_unknown.dcm") == .unsupportedTransferSyntax(
            file: "ts_unknown.dcm", syntax: "an unknown transfer syntax", uid: "1.2.3.4.5.6.7.8"))
        guard case .corrupt? = dicom("rle_offset_huge.dcm") else { Issue.record("RLE offset: not .corrupt"); return }
        guard case .corrupt? = dicom("acrnema_truncated.dcm") else { Issue.record("ACR-NEMA: not .corrupt"); return }
        guard case let .unsupported(_, reason)? = jpeg("jpegls_stream.jpg") else { Issue.record("JPEG-LS: not .unsupported"); return }
        #expect(reason == "a JPEG-LS stream (marker 0xF7), which libjpeg does not decode")
        guard case .corrupt? = jpeg("progressive_150_scans.jpg") else { Issue.record("scans: not .corrupt"); return }
    }

    // MARK: - Inputs too big to keep in the repository, built in a temporary folder

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// 'DICM' at byte 128 followed by `megabytes` MiB of zeros (5b: DCMTK logged once per empty element).
    static func writeZeroFile(_ url: URL, megabytes: Int) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        var head = Data(count: 128)
        head.append(contentsOf: Array("DICM".utf8))
        try handle.write(contentsOf: head)
        let chunk = Data(count: 1 << 20)
        for _ in 0..<megabytes { try handle.write(contentsOf: chunk) }
    }

    enum Nesting: String, Sendable, CaseIterable {
        /// Explicit VR little endian SQ.
        case little
        /// Explicit VR big endian SQ (the retired syntax).
        case big
        /// An explicit VR UN of undefined length, which DCMTK reads as a sequence in implicit VR, holding
        /// implicit VR sequences.
        case unknownVR
    }

    /// `depth` undefined-length sequences each holding one undefined-length item holding the next
    /// (5a: DcmItem::read recursed until the stack overflowed at about 7,000).
    static func nestedSequences(depth: Int, style: Nesting = .little) -> Data {
        let bigEndian = style == .big
        func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
        func u16(_ v: UInt16) -> [UInt8] { bigEndian ? le16(v).reversed() : le16(v) }
        func u32(_ v: UInt32) -> [UInt8] { bigEndian ? le32(v).reversed() : le32(v) }
        func element(_ g: UInt16, _ e: UInt16, _ vr: String, _ value: String, meta: Bool = false) -> [UInt8] {
            var v = Array(value.utf8)
            if v.count % 2 == 1 { v.append(0) }
            return meta ? le16(g) + le16(e) + Array(vr.utf8) + le16(UInt16(v.count)) + v
                : u16(g) + u16(e) + Array(vr.utf8) + u16(UInt16(v.count)) + v
        }
        var meta = [UInt8](repeating: 0, count: 128) + Array("DICM".utf8)
        let syntax = bigEndian ? "1.2.840.10008.1.2.2" : "1.2.840.10008.1.2.1"
        let metaBody = element(0x0002, 0x0010, "UI", syntax, meta: true)
        meta += le16(0x0002) + le16(0x0000) + Array("UL".utf8) + le16(4) + le32(UInt32(metaBody.count)) + metaBody
        var body = element(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.7")
        let open = u16(0x0040) + u16(0xA730) + Array("SQ".utf8) + [0, 0] + u32(.max)
            + u16(0xFFFE) + u16(0xE000) + u32(.max)
        let close = u16(0xFFFE) + u16(0xE00D) + u32(0) + u16(0xFFFE) + u16(0xE0DD) + u32(0)
        body.reserveCapacity(depth * (open.count + close.count))
        if style == .unknownVR {
            body += le16(0x0009) + le16(0x1010) + Array("UN".utf8) + [0, 0] + le32(.max)
                + le16(0xFFFE) + le16(0xE000) + le32(.max)
            let implicitOpen = le16(0x0009) + le16(0x1010) + le32(.max) + le16(0xFFFE) + le16(0xE000) + le32(.max)
            for _ in 1..<depth { body += implicitOpen }
        } else {
            for _ in 0..<depth { body += open }
        }
        for _ in 0..<depth { body += close }
        return Data(meta + body)
    }

    /// LSB-first bit packing, as DEFLATE (RFC 1951) stores its bits.
    struct BitWriter {
        var bytes: [UInt8] = []
        var buffer: UInt64 = 0
        var count = 0
        /// Appends the low `n` bits of `value`, least significant first.
        mutating func write(_ value: UInt32, bits n: Int) {
            buffer |= UInt64(value) << UInt64(count)
            count += n
            while count >= 8 { bytes.append(UInt8(buffer & 0xFF)); buffer >>= 8; count -= 8 }
        }
        /// Appends a Huffman code, most significant bit first.
        mutating func code(_ value: UInt32, bits n: Int) {
            var reversed: UInt32 = 0
            for i in 0..<n where value & (1 << UInt32(i)) != 0 { reversed |= 1 << UInt32(n - 1 - i) }
            write(reversed, bits: n)
        }
        mutating func literal(_ byte: UInt8) {  // fixed Huffman literal codes
            byte < 144 ? code(0x30 + UInt32(byte), bits: 8) : code(0x190 + UInt32(byte) - 144, bits: 9)
        }
        mutating func repeatPrevious258() {  // length 258 (code 285), distance 1 (code 0)
            code(0xC5, bits: 8)
            code(0, bits: 5)
        }
        mutating func flush() { if count > 0 { bytes.append(UInt8(buffer & 0xFF)); buffer = 0; count = 0 } }
    }

    /// A deflated data set (one fixed-Huffman DEFLATE block) whose Pixel Data declares 0xFFFFFFF0 bytes and
    /// really inflates to them: 27 MB on disk, 4 GiB inflated (5b: DCMTK inflated it into memory).
    static func deflateBomb() throws -> Data {
        let fixture = try Data(contentsOf: folder.appendingPathComponent("deflate_declares_4gib.dcm"))
        // The fixture's meta header (uncompressed) ends where its deflated data set begins.
        let bytes = [UInt8](fixture)
        let groupLength = Int(bytes[140]) | Int(bytes[141]) << 8 | Int(bytes[142]) << 16 | Int(bytes[143]) << 24
        let meta = Array(bytes[0..<(144 + groupLength)])
        func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func el(_ g: UInt16, _ e: UInt16, _ vr: String, _ value: [UInt8]) -> [UInt8] {
            le16(g) + le16(e) + Array(vr.utf8) + le16(UInt16(value.count)) + value
        }
        let header = el(0x0008, 0x0016, "UI", Array("1.2.840.10008.5.1.4.1.1.7\0".utf8))
            + el(0x0028, 0x0002, "US", le16(1)) + el(0x0028, 0x0004, "CS", Array("MONOCHROME2 ".utf8))
            + el(0x0028, 0x0010, "US", le16(256)) + el(0x0028, 0x0011, "US", le16(256))
            + el(0x0028, 0x0100, "US", le16(16)) + el(0x0028, 0x0101, "US", le16(16))
            + el(0x0028, 0x0102, "US", le16(15)) + el(0x0028, 0x0103, "US", le16(0))
            + le16(0x7FE0) + le16(0x0010) + Array("OW".utf8) + [0, 0, 0xF0, 0xFF, 0xFF, 0xFF]
        let zeros = 0xFFFF_FFF0
        var w = BitWriter()
        w.write(1, bits: 1)  // BFINAL
        w.write(1, bits: 2)  // BTYPE 01: fixed Huffman codes
        for b in header { w.literal(b) }
        w.literal(0)
        var matches = (zeros - 1) / 258
        // Eight 13-bit matches make 13 whole bytes once the writer is byte-aligned: repeat those bytes.
        while w.count != 0 { w.repeatPrevious258(); matches -= 1 }
        var pattern = BitWriter()
        for _ in 0..<8 { pattern.repeatPrevious258() }
        var out = Data(meta + w.bytes)
        out.reserveCapacity(out.count + matches / 8 * 13 + 64)
        let block = Data(pattern.bytes)
        for _ in 0..<(matches / 8) { out.append(block) }
        var tail = BitWriter()
        for _ in 0..<(matches % 8) { tail.repeatPrevious258() }
        for _ in 0..<((zeros - 1) % 258) { tail.literal(0) }
        tail.code(0, bits: 7)  // end of block
        tail.flush()
        out.append(contentsOf: tail.bytes)
        return out
    }

    @Test("5b: a deflated data set that really inflates to 4 GiB of Pixel Data is refused before inflating it")
    func deflateBombIsNotInflated() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("bomb.dcm")
        try Self.deflateBomb().write(to: url)
        Self.check(Case(item: "5b deflate bomb", file: "bomb.dcm",
                        outcome: .refused(["declares 4294967280 bytes", "need only 131072"])), Self.load(url))
    }

    @Test("5b: 'DICM' and 100 MB of zeros is refused at once, not read element by element")
    func dicmFollowedByZeros() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("zeros.dcm")
        try Self.writeZeroFile(url, megabytes: 100)
        Self.check(Case(item: "5b zeros", file: "zeros.dcm", outcome: .refused(["zero bytes", "zero-filled"])), Self.load(url))
    }

    @Test("5a: 7,000 nested sequences are refused before DCMTK recurses into them", arguments: Nesting.allCases)
    func deeplyNestedSequences(style: Nesting) throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("nested.dcm")
        try Self.nestedSequences(depth: 7_000, style: style).write(to: url)
        Self.check(Case(item: "5a nesting", file: "nested.dcm", outcome: .refused(["nested more than 64 deep"])),
                   Self.load(url))
    }

    @Test("nesting within the limit still reaches DCMTK (no pixel data: a clear error, not a refusal for depth)",
          arguments: Nesting.allCases)
    func shallowNestingIsNotRefused(style: Nesting) throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("nested8.dcm")
        try Self.nestedSequences(depth: 8, style: style).write(to: url)
        guard case let .failure(error) = Self.load(url).result else { Issue.record("accepted"); return }
        #expect(error.description.contains("without image pixels"), "\(error.description)")
    }

    @Test("5b: a FIFO is refused at once by the loader and by each decoder, never opened for a blocking read")
    func fifoDoesNotBlock() async throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("pipe.dcm")
        try #require(mkfifo(fifo.path, 0o600) == 0)
        // Run each attempt off the test's thread, so that a regression shows as a failure, not a hung suite.
        let attempts: [(String, @Sendable () -> String)] = [
            ("ScanLoader", { Self.load(fifo).result.failureDescription }),
            ("DICOMDecoder", { Self.describe { () throws(DICOMError) in _ = try DICOMDecoder().decode(contentsOf: fifo) } }),
            ("PNGDecoder", { Self.describe { () throws(ImageDecodingError) in _ = try PNGDecoder().decode(contentsOf: fifo) } }),
            ("JPEGDecoder", { Self.describe { () throws(ImageDecodingError) in _ = try JPEGDecoder().decode(contentsOf: fifo) } }),
        ]
        for (who, attempt) in attempts {
            let done = DispatchSemaphore(value: 0)
            let box = Box()
            Thread.detachNewThread {
                box.value = attempt()
                done.signal()
            }
            if done.wait(timeout: .now() + 5) == .timedOut {
                // Release the blocked reader so the thread can end.
                let writer = open(fifo.path, O_WRONLY | O_NONBLOCK)
                if writer >= 0 { close(writer) }
                Issue.record("\(who) blocked on the FIFO")
                continue
            }
            #expect(box.value.contains("pipe.dcm") && box.value.contains("named pipe (FIFO)"), "\(who): \(box.value)")
        }
    }

    @Test("5c: a symbolic link loop is named as one, not 'no such file'")
    func symbolicLinkLoop() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.dcm"), b = dir.appendingPathComponent("b.dcm")
        try FileManager.default.createSymbolicLink(atPath: a.path, withDestinationPath: b.path)
        try FileManager.default.createSymbolicLink(atPath: b.path, withDestinationPath: a.path)
        let text = Self.load(a).result.failureDescription
        #expect(text.contains("a.dcm") && text.contains("symbolic link that loops"), "\(text)")
        #expect(!text.contains("no such file"))
    }

    @Test("5c: an unreadable folder on the path gives the system's reason, not 'no such file'")
    func unreadableFolderIsNotMissing() throws {
        // As root, permissions cannot be taken away, so the errno mapping is checked directly.
        let error = ScanLoader.statFailure(errno: EACCES, path: "/nonexistent-\(UUID().uuidString)/x.dcm", name: "x.dcm")
        #expect(error == .unreadable(file: "x.dcm", reason: "Permission denied"))
        #expect(ScanLoader.statFailure(errno: ENOENT, path: "/nonexistent-\(UUID().uuidString)", name: "y.dcm")
            == .notFound(file: "y.dcm"))
        #expect(ScanLoader.statFailure(errno: ELOOP, path: "/", name: "z.dcm") == .symbolicLinkLoop(file: "z.dcm"))
        if getuid() != 0 {
            let dir = try Self.temporaryDirectory()
            defer { chmod(dir.path, 0o700); try? FileManager.default.removeItem(at: dir) }
            let inner = dir.appendingPathComponent("locked", isDirectory: true)
            try FileManager.default.createDirectory(at: inner, withIntermediateDirectories: true)
            try Data([1, 2, 3]).write(to: inner.appendingPathComponent("scan.dcm"))
            chmod(inner.path, 0o000)
            defer { chmod(inner.path, 0o700) }
            let text = Self.load(inner.appendingPathComponent("scan.dcm")).result.failureDescription
            #expect(text.contains("Permission denied"), "\(text)")
        }
    }

    @Test("5c: a file name with a newline keeps the error on one line")
    func newlineInFileName() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, bytes) in [("bad\nname.dcm", [UInt8](repeating: 0x41, count: 300)),
                              ("bad\nname.png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3]),
                              ("bad\rname.jpg", [0xFF, 0xD8, 0xFF, 0x00])] {
            let url = dir.appendingPathComponent(name)
            try Data(bytes).write(to: url)
            let text = Self.load(url).result.failureDescription
            #expect(!text.contains("\n") && !text.contains("\r"), "\(text)")
            #expect(text.contains("bad\\nname") || text.contains("bad\\rname"), "\(text)")
        }
        let missing = Self.load(dir.appendingPathComponent("gone\nfile.dcm")).result.failureDescription
        #expect(!missing.contains("\n") && missing.contains("gone\\nfile.dcm"), "\(missing)")
    }

    /// The figures for the report: every hostile input by outcome, through the decoder child process
    /// as `classify` and `watch` decode, with the slowest time and the child's peak resident memory
    /// (this test process's own peak would count every suite that runs beside it).
    @Test("figures: no hostile input crashes, hangs, passes 1 GB or ends in NaN")
    func figures() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let zeros = dir.appendingPathComponent("zeros.dcm")
        try Self.writeZeroFile(zeros, megabytes: 100)
        let nested = dir.appendingPathComponent("nested.dcm")
        try Self.nestedSequences(depth: 7_000).write(to: nested)
        let bomb = dir.appendingPathComponent("bomb.dcm")
        try Self.deflateBomb().write(to: bomb)
        var urls = Self.cases.map { Self.folder.appendingPathComponent($0.file) }
        urls += [zeros, nested, bomb]
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let loader = IsolatedScanLoader(command: [BuiltExecutable.cxreview(packageRoot: root).path, "decode-worker"], timeout: 10)
        var refused = 0, warned = 0, clean = 0
        var slowest = Duration.zero
        for url in urls {
            var result: Result<DecodedScan, PipelineError>!
            let elapsed = ContinuousClock().measure {
                do throws(PipelineError) { result = .success(try loader.load(url)) } catch { result = .failure(error) }
            }
            slowest = max(slowest, elapsed)
            switch result! {
            case let .failure(error):
                switch error.underlying as? IsolatedDecodeError {
                case .crashed?, .stalled?, .cannotStart?: Issue.record("\(url.lastPathComponent): \(error)")
                default: refused += 1
                }
            case let .success(scan):
                if scan.notes.messages.contains(where: { $0.contains("warning") }) { warned += 1 } else { clean += 1 }
                #expect(!scan.notes.summary.contains("NaN") || scan.notes.messages.contains { $0.contains("warning") })
            }
        }
        let peakMB = loader.largestChildPeakBytes / 1_048_576
        print("hostile inputs: \(urls.count) tried; refused \(refused), accepted with a warning \(warned), accepted clean \(clean); slowest \(slowest); decoder child peak RSS \(peakMB) MB; decoder children started \(loader.childrenStarted)")
        #expect(loader.childrenStarted == 1, "a hostile input crashed or stalled the decoder child")
        #expect(slowest < .seconds(10))
        #expect(peakMB < 1024)
        #expect(refused + warned + clean == urls.count)
    }

    final class Box: @unchecked Sendable { var value = "" }

    static func describe<E: Error>(_ body: () throws(E) -> Void) -> String {
        do { try body(); return "accepted" } catch { return String(describing: error) }
    }
}

extension Result where Failure == PipelineError {
    var failureDescription: String {
        if case let .failure(error) = self { return error.description }
        return "accepted"
    }
}
