import Foundation
import Pipeline
import Testing
import XRayCore
#if canImport(Glibc)
import Glibc
#endif

/// Mutants of the DICOM, PNG and JPEG fixtures through the decoder child process and the network,
/// for `CXR_FUZZ_SECONDS` seconds (scripts/test.sh sets it; unset, the suite is skipped).
///
/// Each mutant is decoded as `classify` and `watch` decode (`IsolatedScanLoader`, 10 s per file);
/// every image that decodes goes through the shipped network's test copy. It fails on a mutant
/// that crashes the decoder, takes over 10 s, or gives a non-finite probability, and prints the
/// figures: mutants by outcome, the slowest, and the decoder children's peak memory. Mutants are
/// drawn from a seeded generator (`CXR_FUZZ_SEED`, default 1), so a failure can be reproduced;
/// a failing mutant is kept in `CXR_FUZZ_KEEP` (default /tmp/cxr-fuzz-failures).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["CXR_FUZZ_SECONDS"] != nil))
struct MutationFuzzTests {
    static let seeds = [
        "Tests/Fixtures/dicom/CR-MONO1-10-chest.dcm", "Tests/Fixtures/dicom/CT_small.dcm", "Tests/Fixtures/dicom/JPEG-LL.dcm",
        "Tests/Fixtures/dicom/JPEG2000.dcm", "Tests/Fixtures/dicom/MR_small_RLE.dcm", "Tests/Fixtures/dicom/MR_small_jpeg_ls_lossless.dcm",
        "Tests/Fixtures/dicom/SC_rgb_jpeg_dcmtk.dcm", "Tests/Fixtures/dicom/emri_small.dcm", "Tests/Fixtures/dicom/no_meta.dcm",
        "Tests/Fixtures/dicom/vlut_04.dcm", "Tests/Fixtures/dicom/jpeg_lossless_with_inverse_presentation_lut_shape.dcm",
        "samples/siim-chest-jpeg-baseline.dcm", "samples/cr-mono1-chest-no-meta.dcm",
        "samples/covid19-3way-test-covid-0105.png", "samples/covid19-3way-test-normal-0121.jpeg",
        // JPEG 2000 and HTJ2K through OpenJPEG (issue 16).
        "Tests/Fixtures/dicom/MR_small_jp2klossless.dcm", "Tests/Fixtures/dicom/SC_rgb_htj2k_rct.dcm",
    ]

    /// SplitMix64: small, seeded, the same on every machine.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    }

    /// One to four of (most often the first two): flip bits, write a boundary value (0, 0xFF.., 0x7F.., 0x80..) of 1-4 bytes,
    /// cut the file short, repeat or drop a chunk, insert random bytes. Boundary values land most
    /// often in the first 4 KB, where headers and length fields are.
    static func mutate(_ original: [UInt8], _ g: inout Generator) -> [UInt8] {
        var b = original
        for _ in 0..<(1 + g.below(4)) {
            guard !b.isEmpty else { break }
            let headerBiased = g.below(3) > 0 ? g.below(min(b.count, 4096)) : g.below(b.count)
            switch g.below(12) {
            case 0...2:
                for _ in 0..<(1 + g.below(8)) { b[g.below(b.count)] ^= UInt8(1) << UInt8(g.below(8)) }
            case 3...6:
                let width = [1, 2, 4][g.below(3)]
                let values: [UInt64] = [0, ~0, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 1, 0x4000_0000]
                let v = values[g.below(values.count)]
                for k in 0..<width where headerBiased + k < b.count { b[headerBiased + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
            case 7:
                b.removeSubrange((1 + g.below(b.count))...)
            case 8, 9:
                let start = headerBiased, length = min(1 + g.below(512), b.count - start)
                b.insert(contentsOf: b[start..<start + length], at: start)
            case 10:
                let start = headerBiased, length = min(1 + g.below(512), b.count - start)
                b.removeSubrange(start..<start + length)
            default:
                b.insert(contentsOf: (0..<(1 + g.below(64))).map { _ in UInt8(truncatingIfNeeded: g.next()) }, at: headerBiased)
            }
        }
        return b
    }

    /// Whether the decoder child died on an assertion inside Debian's libopenjp2 (built with
    /// assertions on): its HTJ2K block decoder asserts on some malformed code-blocks (`ht_dec.c`,
    /// `mel_init`) instead of returning an error, which aborts the process. The child contains it —
    /// the file fails alone, with a message that names it — so the fuzz run counts it apart; any other
    /// crash, including one in DCMTK or in this project's code, still fails the test. Decides by the
    /// assertion message a `classify` of the mutant prints on stderr.
    static func isUpstreamOpenJPEGAssertion(_ mutant: [UInt8], in dir: URL) -> Bool {
        let url = dir.appendingPathComponent("assert-check-\(UUID().uuidString).dcm")
        guard (try? Data(mutant).write(to: url)) != nil else { return false }
        defer { try? FileManager.default.removeItem(at: url) }
        guard let run = try? CLI.run(["classify", "--model", CLI.testModel, url.path]) else { return false }
        return run.stderr.contains("/src/lib/openjp2/") && run.stderr.contains(": Assertion `")
            && run.stderr.contains("stopped the decoder (signal 6, Aborted)")
    }

    @Test func mutantsNeverCrashHangOrGiveNaN() throws {
        let environment = ProcessInfo.processInfo.environment
        let seconds = Double(environment["CXR_FUZZ_SECONDS"] ?? "") ?? 60
        var g = Generator(state: UInt64(environment["CXR_FUZZ_SEED"] ?? "") ?? 1)
        let keep = URL(fileURLWithPath: environment["CXR_FUZZ_KEEP"] ?? "/tmp/cxr-fuzz-failures")
        let originals = try Self.seeds.map { [UInt8](try Data(contentsOf: URL(fileURLWithPath: CLI.path($0)))) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-fuzz-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let loaded = try LoadedModel.load(URL(fileURLWithPath: CLI.path(CLI.testModel)), classNames: nil)
        let limit = 10.0
        var counts: [String: Int] = [:]
        var failures: [String] = []
        var slowest = (seconds: 0.0, name: "")
        var mutants = 0
        var peakMB = 0.0
        let clock = Date()
        do {
            let loader = IsolatedScanLoader(command: [CLI.executable.path, "decode-worker"], timeout: limit)
            let classifier = Classifier(model: loaded.network, threads: 1, loader: loader)
            while Date().timeIntervalSince(clock) < seconds {
                let which = g.below(originals.count)
                let mutant = Self.mutate(originals[which], &g)
                let name = "m\(mutants)-" + (Self.seeds[which] as NSString).lastPathComponent
                let url = dir.appendingPathComponent(name)
                try Data(mutant).write(to: url)
                mutants += 1
                let start = Date()
                let result = classifier.classify([url], batchSize: 1)[0]
                let took = Date().timeIntervalSince(start)
                if took > slowest.seconds { slowest = (took, name) }
                var failed: String?
                switch result {
                case let .success(c):
                    if c.probabilities.contains(where: { !$0.probability.isFinite }) {
                        failed = "non-finite probability"
                    } else {
                        counts["classified", default: 0] += 1
                    }
                case let .failure(error):
                    switch error.underlying as? IsolatedDecodeError {
                    case .crashed? where Self.isUpstreamOpenJPEGAssertion(mutant, in: dir):
                        // Contained as designed (one file fails with a clear error), but not ours to fix.
                        counts["OpenJPEG assertions (upstream, contained)", default: 0] += 1
                    case .crashed?: failed = "crash: \(error.description)"
                    case .stalled?: failed = "hang: \(error.description)"
                    case .cannotStart?: failed = "no decoder: \(error.description)"
                    default: counts["refused with a message", default: 0] += 1
                    }
                }
                if took > limit, failed == nil { failed = "took \(String(format: "%.1f", took)) s" }
                if let failed {
                    counts[String(failed.prefix { $0 != ":" && $0 != " " }), default: 0] += 1
                    try? FileManager.default.createDirectory(at: keep, withIntermediateDirectories: true)
                    try? Data(mutant).write(to: keep.appendingPathComponent(name))
                    failures.append("\(name) (seed \(environment["CXR_FUZZ_SEED"] ?? "1")): \(failed)")
                }
                try? FileManager.default.removeItem(at: url)
            }
            peakMB = Double(loader.largestChildPeakBytes) / 1_048_576
        }
        print("""
            mutation fuzz: \(mutants) mutants of \(Self.seeds.count) fixtures in \(String(format: "%.0f", Date().timeIntervalSince(clock))) s: \
            \(counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")); \
            slowest \(String(format: "%.2f", slowest.seconds)) s (\(slowest.name)); largest decoder child peak RSS \(String(format: "%.0f", peakMB)) MB
            """)
        #expect(mutants > 100, "too few mutants in \(seconds) s to mean anything")
        #expect(failures.isEmpty, "\(failures.count) mutants failed, kept in \(keep.path):\n\(failures.prefix(20).joined(separator: "\n"))")
        #expect(peakMB < 1024, "a decoder child reached \(peakMB) MB")
    }
}
