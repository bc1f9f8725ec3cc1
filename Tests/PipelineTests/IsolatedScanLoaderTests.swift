import Foundation
import Pipeline
import Testing

/// The parent side of decoder isolation, with real child processes that die or stall the way a
/// decoder child does on a hostile file (the real worker is tested in CLITests/IsolatedDecodingTests).
@Suite struct IsolatedScanLoaderTests {
    static let anyFile = URL(fileURLWithPath: "scan.dcm")

    @Test func aChildThatDiesCostsOneFileAndTheNextGetsANewChild() throws {
        // The child kills itself with SIGSEGV as soon as it starts, like DCMTK on a bad RLE offset.
        let loader = IsolatedScanLoader(command: ["/bin/sh", "-c", "kill -SEGV $$"], timeout: 10)
        for attempt in 1...3 {
            do {
                _ = try loader.load(Self.anyFile)
                Issue.record("a dead child returned a scan")
            } catch {
                #expect(error.stage == .decode)
                #expect(error.file == "scan.dcm")
                let underlying = try #require(error.underlying as? IsolatedDecodeError)
                guard case let .crashed(file, how) = underlying else {
                    Issue.record("expected a crash, got \(underlying)")
                    continue
                }
                #expect(file == "scan.dcm")
                #expect(how.contains("signal 11"))
                #expect(error.description.contains("stopped the decoder"))
                #expect(!error.description.contains("\n"))
            }
            #expect(loader.childrenStarted == attempt)
        }
    }

    @Test func aChildThatStallsIsKilledAtTheTimeout() throws {
        let loader = IsolatedScanLoader(command: ["/bin/sh", "-c", "exec sleep 60"], timeout: 0.5)
        let start = Date()
        #expect(throws: PipelineError.self) { _ = try loader.load(Self.anyFile) }
        let seconds = Date().timeIntervalSince(start)
        #expect(seconds >= 0.5 && seconds < 5, "took \(seconds) s")
        do {
            _ = try loader.load(Self.anyFile)
        } catch {
            #expect(error.underlying as? IsolatedDecodeError == .stalled(file: "scan.dcm", seconds: 0.5))
            #expect(error.description.contains("did not finish within 0.5 s"))
        }
    }

    @Test func aChildThatExitsEarlyIsNamedByItsStatus() throws {
        let loader = IsolatedScanLoader(command: ["/bin/sh", "-c", "exit 3"], timeout: 10)
        do {
            _ = try loader.load(Self.anyFile)
            Issue.record("an exited child returned a scan")
        } catch {
            #expect(error.underlying as? IsolatedDecodeError == .crashed(file: "scan.dcm", how: "exit status 3"))
        }
    }

    @Test func aMissingWorkerProgramSaysTheInstallationIsBroken() throws {
        let loader = IsolatedScanLoader(command: ["/nonexistent/cxreview", "decode-worker"], timeout: 10)
        do {
            _ = try loader.load(Self.anyFile)
            Issue.record("a missing program returned a scan")
        } catch {
            #expect(error.description.contains("cannot be started"))
            #expect(error.description.contains("/nonexistent/cxreview"))
        }
    }
}
