import ArgumentParser
import Benchmarks
import Foundation
import Kernels
import Pipeline
import Preprocessing
import ResNet
import XRayCore

#if canImport(Glibc)
import Glibc
#endif

struct BenchmarkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "benchmark",
        abstract: "Time the forward pass (batch 1 and 8) beside ONNX Runtime, and each stage for a 2000x2000 16-bit DICOM.",
        discussion: """
            The ONNX Runtime reference (../shared/bench/ort-reference) runs as a child of this \
            process with the same weights, so the ratios compare runs on the same machine at the \
            same time. The two alternate in rounds (--rounds), so that a change in the machine's \
            load during the run affects both; each figure is the median of the rounds' medians, and \
            each round's ratio is printed too. Compare ratios, not absolute times across runs: the \
            machine is shared.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Timed runs per measurement (split between the rounds).")
    var runs: Int = 30

    @Option(name: .long, help: "Rounds in which cxreview and ONNX Runtime alternate, per batch size.")
    var rounds: Int = 5

    @Option(name: .long, help: "Untimed runs before each measurement.")
    var warmup: Int = 3

    @Option(name: .long, help: "The ONNX Runtime reference script.")
    var reference: String = "../shared/bench/ort-reference"

    @Flag(name: .long, help: "Skip the ONNX Runtime reference.")
    var noReference = false

    @Flag(name: .long, help: "Instead, time a training step (forward, backward, Adam) at batch 6 and 32 beside PyTorch CPU fp32, and beside PyTorch with bf16 autocast where the CPU has AVX-512 BF16 or AMX.")
    var training = false

    @Option(name: .long, help: "The PyTorch training-step reference script.")
    var trainingReference: String = "scripts/torch-train-reference"

    @Flag(name: .long, help: "Instead, measure `cxreview watch` end to end: scans per minute and drop-to-report latency for 1024x1024 PNGs and 2000x2000 DICOMs.")
    var watch = false

    @Option(name: .long, help: "With --watch: files per batch.")
    var watchFiles: Int = 30

    func validate() throws {
        guard runs >= 1, warmup >= 0 else { throw ValidationError("--runs must be at least 1 and --warmup at least 0.") }
        guard rounds >= 1, rounds <= runs else { throw ValidationError("--rounds must be between 1 and --runs (\(runs)).") }
    }

    func run() throws {
        if watch {
            let url: URL
            do { url = try ModelLocator.locate(explicit: modelOptions.model) } catch { throw CommandFailure(message: error.description) }
            let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            do {
                try WatchBenchmark(executable: exe, model: url, files: watchFiles, threads: modelOptions.threads).run()
            } catch let failure as WatchBenchmark.Failure {
                throw CommandFailure(message: failure.message)
            }
            print("\n\(Terminal.disclaimer)")
            return
        }
        if training {
            print("cxreview benchmark --training: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(modelOptions.threads) threads")
            try trainingBenchmark(threads: modelOptions.threads)
            print("\n\(Terminal.disclaimer)")
            return
        }
        let (model, modelURL) = try modelOptions.load()
        let threads = modelOptions.threads
        print("cxreview benchmark: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(threads) threads, model \(modelURL.lastPathComponent)")
        print("kernels: inference \(KernelPaths.inference); \(KernelPaths.openBLAS)")

        // 1. One 2000x2000 16-bit DICOM, stage by stage.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cxreview-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let dicom = dir.appendingPathComponent("synthetic-2000x2000-16bit.dcm")
        try SyntheticScans.writeDICOM(to: dicom)
        let stages = try stageTimes(dicom: dicom, model: model, threads: threads)
        print("\nstages for one 2000x2000 16-bit DICOM (12 bits stored, uncompressed), median of \(runs):")
        print("  decode      \(Self.f1(stages.decode)) ms in this process; \(Self.f1(stages.isolatedDecode)) ms in the decoder child process (as classify and watch decode), \(Self.f1(stages.childStart)) ms to start that child once")
        print("  preprocess  \(Self.f1(stages.preprocess)) ms")
        print("  forward     \(Self.f1(stages.forward)) ms (batch 1)")

        // 2. Peak memory of `cxreview classify` on it, in a child process (before any reference runs,
        //    because getrusage reports the largest child so far).
        if let peak = try Self.peakMemoryOfClassify(dicom: dicom, model: modelURL, classes: modelOptions.classes, threads: threads) {
            print("  peak memory of `cxreview classify` on it: \(Self.f1(peak)) MB (target < 300 MB)")
        }

        // 3. The forward pass beside ONNX Runtime.
        let script = URL(fileURLWithPath: reference)
        let haveReference = !noReference && FileManager.default.isExecutableFile(atPath: script.path)
        if !noReference && !haveReference {
            Terminal.warn("no ONNX Runtime reference at \(script.path); ratios are not printed (use --reference PATH).")
        }
        let perRound = (runs + rounds - 1) / rounds
        print("\nforward pass, \(model.configuration.inputSize)x\(model.configuration.inputSize), \(threads) threads, "
              + "median of \(rounds) round\(rounds == 1 ? "" : "s") of \(perRound) runs\(haveReference ? ", cxreview and ONNX Runtime alternating" : ""):")
        print("  batch  cxreview ms/image  images/s  |  onnxruntime ms/image  images/s  |  speed ratio (cxreview / ORT)")
        for batch in [1, 8] {
            var ours: [Double] = [], theirs: [Double] = [], version = ""
            var failed = false
            for _ in 0..<rounds {
                ours.append(Statistics.median(
                    ForwardBenchmark.times(model: model, batch: batch, threads: threads, warmup: warmup, runs: perRound)))
                guard haveReference && !failed else { continue }
                if let ort = try? Self.runReference(script: script, weights: modelURL, batch: batch, threads: threads, runs: perRound,
                                                    warmup: warmup) {
                    theirs.append(ort.msPerImage)
                    version = ort.version
                } else {
                    failed = true
                }
            }
            let mine = Statistics.median(ours)
            var line = "  \(String(batch).padding(5))  \(Self.f1(mine).padding(17))  \(Self.f1(1000 / mine).padding(8))"
            if haveReference {
                if failed {
                    line += "  |  reference failed (run \(script.path) time --batch \(batch) by hand to see why)"
                } else {
                    let reference = Statistics.median(theirs)
                    let each = zip(theirs, ours).map { String(format: "%.2f", $0 / $1) }.joined(separator: " ")
                    line += "  |  \(Self.f1(reference).padding(20))  \(Self.f1(1000 / reference).padding(8))"
                        + "  |  \(String(format: "%.2f", reference / mine))x  (rounds \(each); onnxruntime \(version))"
                }
            }
            print(line)
        }
        print("\n\(Terminal.disclaimer)")
    }

    /// Training steps at batch 6 (the tutorial's) and 32, ours then PyTorch's fp32, same threads; and
    /// PyTorch under bf16 autocast beside them where the CPU has AVX-512 BF16 or AMX.
    func trainingBenchmark(threads: Int) throws {
        let script = URL(fileURLWithPath: trainingReference)
        let haveReference = !noReference && FileManager.default.isExecutableFile(atPath: script.path)
        if !noReference && !haveReference { Terminal.warn("no PyTorch reference at \(script.path); ratios are not printed.") }
        let bf16 = haveReference && Self.cpuHasBF16
        let steps = max(3, runs / 4)
        print("\ntraining step (forward, backward, Adam), 224x224, \(threads) threads, median of \(steps) steps:")
        print("  kernels: \(KernelPaths.training)")
        print("  batch  cxreview images/s  ms/step  |  pytorch fp32 images/s  ms/step  |  ratio"
              + (bf16 ? "  |  pytorch bf16 autocast images/s  ratio" : ""))
        var version = ""
        for batch in [6, 32] {
            let ours = TrainingBenchmark.run(batch: batch, threads: threads, warmup: 1, runs: steps)
            var line = "  \(String(batch).padding(5))  \(Self.f1(ours.imagesPerSecond).padding(17))  \(String(format: "%.0f", ours.msPerStep).padding(7))"
            if haveReference {
                if let r = Self.runTrainingReference(script: script, batch: batch, threads: threads, steps: steps, autocast: nil) {
                    version = r.version
                    line += "  |  \(Self.f1(r.images_per_s).padding(21))  \(String(format: "%.0f", r.ms_per_step.median).padding(7))"
                        + "  |  \(String(format: "%.2f", ours.imagesPerSecond / r.images_per_s))x"
                } else {
                    line += "  |  reference failed (run \(script.path) time --batch \(batch) by hand to see why)"
                }
            }
            if bf16 {
                if let r = Self.runTrainingReference(script: script, batch: batch, threads: threads, steps: steps, autocast: "bf16") {
                    line += "  |  \(Self.f1(r.images_per_s).padding(30))  \(String(format: "%.2f", ours.imagesPerSecond / r.images_per_s))x"
                } else {
                    line += "  |  bf16 reference failed"
                }
            }
            print(line)
        }
        if !version.isEmpty { print("  (torch \(version); ratio = cxreview images/s ÷ PyTorch images/s)") }
        if haveReference && !bf16 { print("  (no bf16 reference: this CPU has neither AVX-512 BF16 nor AMX-BF16)") }
    }

    struct TrainingReferenceLine: Decodable {
        let version: String
        let images_per_s: Double
        struct MS: Decodable { let median: Double }
        let ms_per_step: MS
    }

    /// One run of the PyTorch training reference; nil when it fails or prints no result line.
    static func runTrainingReference(script: URL, batch: Int, threads: Int, steps: Int, autocast: String?) -> TrainingReferenceLine? {
        let p = Process()
        p.executableURL = script
        p.arguments = ["time", "--batch", String(batch), "--threads", String(threads), "--runs", String(steps), "--warmup", "1"]
            + (autocast.map { ["--autocast", $0] } ?? [])
        let out = Pipe()
        p.standardOutput = out
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let last = String(decoding: data, as: UTF8.self).split(separator: "\n").last else { return nil }
        return try? JSONDecoder().decode(TrainingReferenceLine.self, from: Data(last.utf8))
    }

    /// True when /proc/cpuinfo lists AVX-512 BF16 or AMX-BF16 (where PyTorch's bf16 autocast is fast).
    static var cpuHasBF16: Bool {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let set = Set(flags.split(separator: " ").map(String.init))
        return set.contains("avx512_bf16") || set.contains("amx_bf16")
    }

    struct StageTimes { var decode, isolatedDecode, childStart, preprocess, forward: Double }

    func stageTimes(dicom: URL, model: ResNet18, threads: Int) throws -> StageTimes {
        let loader = ScanLoader()
        let c = model.configuration
        let pre = Preprocessor(inputSize: c.inputSize, mean: c.mean, std: c.std)
        var decode: [Double] = [], preprocess: [Double] = [], forward: [Double] = []
        for i in 0..<(warmup + runs) {
            let t0 = DispatchTime.now()
            let scan = try loader.load(dicom)
            let t1 = DispatchTime.now()
            let input = pre.tensor(from: [scan.image])
            let t2 = DispatchTime.now()
            _ = model.forward(input, threads: threads)
            let t3 = DispatchTime.now()
            if i >= warmup {
                decode.append(Self.ms(t0, t1))
                preprocess.append(Self.ms(t1, t2))
                forward.append(Self.ms(t2, t3))
            }
        }
        // The same file through the decoder child process: the first load includes starting it.
        let isolated = IsolatedScanLoader(command: DecodeWorkerCommand.command)
        let s0 = DispatchTime.now()
        _ = try isolated.load(dicom)
        let childStart = Self.ms(s0, DispatchTime.now())
        var isolatedDecode: [Double] = []
        for _ in 0..<runs {
            let t0 = DispatchTime.now()
            _ = try isolated.load(dicom)
            isolatedDecode.append(Self.ms(t0, DispatchTime.now()))
        }
        let firstDecode = childStart - Statistics.median(isolatedDecode)
        return StageTimes(decode: Statistics.median(decode), isolatedDecode: Statistics.median(isolatedDecode),
                          childStart: max(0, firstDecode), preprocess: Statistics.median(preprocess),
                          forward: Statistics.median(forward))
    }

    /// Runs `cxreview classify` on the file as a child and returns its peak resident memory in MB.
    static func peakMemoryOfClassify(dicom: URL, model: URL, classes: String?, threads: Int) throws -> Double? {
        guard let exe = Bundle.main.executableURL else { return nil }
        let p = Process()
        p.executableURL = exe
        p.arguments = ["classify", dicom.path, "--model", model.path, "--threads", String(threads)] + (classes.map { ["--classes", $0] } ?? [])
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            Terminal.warn("`cxreview classify` on the benchmark DICOM exited with \(p.terminationStatus); no memory figure.")
            return nil
        }
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_CHILDREN.rawValue), &usage)
        return Double(usage.ru_maxrss) / 1024  // kilobytes on Linux
    }

    struct Reference { let msPerImage: Double; let version: String }

    static func runReference(script: URL, weights: URL, batch: Int, threads: Int, runs: Int, warmup: Int) throws -> Reference {
        let p = Process()
        p.executableURL = script
        p.arguments = ["time", "--weights", weights.path, "--batch", String(batch), "--threads", String(threads),
                       "--runs", String(runs), "--warmup", String(warmup)]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        struct Line: Decodable {
            struct MS: Decodable { let median: Double }
            let version: String
            let ms_per_image: MS
        }
        guard p.terminationStatus == 0,
              let last = String(decoding: data, as: UTF8.self).split(separator: "\n").last,
              let line = try? JSONDecoder().decode(Line.self, from: Data(last.utf8))
        else { throw CommandFailure(message: "reference run failed") }
        return Reference(msPerImage: line.ms_per_image.median, version: line.version)
    }

    static func ms(_ a: DispatchTime, _ b: DispatchTime) -> Double { Double(b.uptimeNanoseconds - a.uptimeNanoseconds) / 1e6 }
    static func f1(_ v: Double) -> String { String(format: "%.1f", v) }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
