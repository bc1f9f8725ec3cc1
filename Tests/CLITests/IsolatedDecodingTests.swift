import Foundation
import Pipeline
import Testing
import XRayCore
#if canImport(Glibc)
import Glibc
#endif

/// The decoder child process (`cxreview decode-worker`) that classify and watch decode through:
/// what comes back must be what decoding in this process gives, bit for bit, and one child serves
/// many files.
@Suite struct IsolatedDecodingTests {
    static let files = [
        "samples/cr-mono1-chest-no-meta.dcm", "samples/siim-chest-jpeg-baseline.dcm",
        "samples/covid19-3way-test-covid-0105.png", "samples/covid19-3way-test-normal-0121.jpeg",
        "Tests/Fixtures/dicom/MR_small_RLE.dcm", "Tests/Fixtures/dicom/CT_small.dcm",
    ]

    @Test func theChildDecodesExactlyAsThisProcessDoes() throws {
        let isolated = IsolatedScanLoader(command: [CLI.executable.path, "decode-worker"])
        for file in Self.files {
            let url = URL(fileURLWithPath: CLI.path(file))
            let here = try ScanLoader().load(url)
            let there = try isolated.load(url)
            #expect(there == here, "\(file)")
        }
        #expect(isolated.childrenStarted == 1)
    }

    /// The child limits its own address space to 1 GiB and writes no core files, and reports its
    /// own peak memory (not the parent's, which getrusage would carry over the exec).
    @Test func theChildRunsUnderItsLimits() throws {
        let isolated = IsolatedScanLoader(command: [CLI.executable.path, "decode-worker"])
        _ = try isolated.load(URL(fileURLWithPath: CLI.path("samples/siim-chest-jpeg-baseline.dcm")))
        let me = getpid()
        let workers = try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init).filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
            return fields.count > 2 && Int32(fields[1]) == me && String(decoding: cmdline, as: UTF8.self).contains("decode-worker")
        }
        let worker = try #require(workers.first, "no decode-worker child of this process")
        let limits = try String(contentsOfFile: "/proc/\(worker)/limits", encoding: .utf8).split(separator: "\n")
        let address = try #require(limits.first { $0.hasPrefix("Max address space") })
        let core = try #require(limits.first { $0.hasPrefix("Max core file size") })
        #expect(address.split(separator: " ", omittingEmptySubsequences: true).contains("1073741824"), "\(address)")
        #expect(core.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).first == "0", "\(core)")
        let peak = isolated.largestChildPeakBytes
        #expect(peak > 1_000_000 && peak < 512 << 20, "the child's own peak, not this test process's: \(peak) bytes")
    }

    @Test func aDecoderErrorComesBackWordForWord() throws {
        let isolated = IsolatedScanLoader(command: [CLI.executable.path, "decode-worker"])
        for file in ["Tests/Fixtures/dicom/MR_truncated.dcm", "README.md", "no-such-file.dcm"] {
            let url = URL(fileURLWithPath: CLI.path(file))
            var here: PipelineError?, there: PipelineError?
            do { _ = try ScanLoader().load(url) } catch { here = error }
            do { _ = try isolated.load(url) } catch { there = error }
            let a = try #require(here), b = try #require(there)
            #expect(a.stage == b.stage, "\(file)")
            #expect(a.description == b.description, "\(file)")
        }
        #expect(isolated.childrenStarted == 1, "an error is an answer, not a crash: the child stays")
    }

    /// A file that crashes DCMTK 3.6.7 today (RLE segment 2 offset 0x40000000) beside a good one:
    /// `classify` reports the good one and names the bad one, whatever the decoder does with it.
    @Test func classifyGoesOnAfterAFileThatBreaksTheDecoder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-isolated-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: CLI.path("Tests/Fixtures/dicom/MR_small_RLE.dcm"))))
        let header = try #require(Self.firstRLEHeader(bytes))
        bytes.replaceSubrange(header + 8..<header + 12, with: [0x00, 0x00, 0x00, 0x40])
        let bad = dir.appendingPathComponent("rle-offset.dcm")
        try Data(bytes).write(to: bad)
        let run = try CLI.run(["classify", bad.path, "samples/covid19-3way-test-covid-0105.png", "--model", CLI.testModel, "--json"])
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stdout.contains("covid19-3way-test-covid-0105.png"))
        #expect(run.stderr.contains("rle-offset.dcm"))
        #expect(!run.stderr.contains("Backtrac"), "the child's crash report must not reach the user")
    }

    /// The offset of the RLE header: the first fragment after the basic offset table item.
    static func firstRLEHeader(_ b: [UInt8]) -> Int? {
        let pixelData: [UInt8] = [0xE0, 0x7F, 0x10, 0x00], item: [UInt8] = [0xFE, 0xFF, 0x00, 0xE0]
        func find(_ needle: [UInt8], from: Int) -> Int? {
            guard from + needle.count <= b.count else { return nil }
            return (from...(b.count - needle.count)).first { Array(b[$0..<$0 + needle.count]) == needle }
        }
        guard let p = find(pixelData, from: 132), let table = find(item, from: p) else { return nil }
        let length = Int(b[table + 4]) | Int(b[table + 5]) << 8 | Int(b[table + 6]) << 16 | Int(b[table + 7]) << 24
        let fragment = table + 8 + length
        guard fragment + 16 <= b.count, Array(b[fragment..<fragment + 4]) == item else { return nil }
        return fragment + 8
    }
}
