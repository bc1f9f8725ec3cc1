import Foundation
import ModelDevelopment
import Pipeline
import ResNet
import Testing
import TestSupport
import Training
import XRayCore

/// A run stopped by `maxSteps` and resumed, in several sittings, ends with the same tensors, bit
/// for bit, as one that never stopped: on tiny 64x64 scans, two threads, augmentation on, the
/// cosine schedule and weight decay, so every piece of state that decides the future takes part.
@Suite(.serialized) struct TrainingRunResumeTests {
    static let classNames = DatasetIndex.classes
    static let side = 64

    /// `count` scans per class: hash noise over a class-dependent gradient, so validation accuracy moves.
    static func scans(_ name: String, perClass count: Int) -> LabelledScans {
        var entries: [DatasetIndex.Entry] = [], images: [GrayImage] = []
        for (c, label) in classNames.enumerated() {
            for i in 0..<count {
                let noise = hashUniform("\(name).\(label).\(i)", [side * side], 0, 96).scalars
                let pixels = (0..<side * side).map { p in UInt8(Float((p % side) * (c + 1) * 50 / side) + noise[p]) }
                images.append(GrayImage(width: side, height: side, pixels: pixels))
                entries.append(DatasetIndex.Entry(path: "/synthetic/\(name)/\(label)/\(i).png", label: label, split: nil, source: nil,
                                                  patientID: nil))
            }
        }
        return LabelledScans(entries: entries, images: images)
    }

    // 9 training scans at batch 4: two steps an epoch (the last single image is dropped), 6 steps in 3 epochs.
    static let train = scans("train", perClass: 3)
    static let validation = scans("validation", perClass: 2)
    static let configuration = ResNetConfiguration(classNames: classNames, inputSize: side, name: "resume-test", version: "1",
                                                   description: "TrainingRunResumeTests", trained: true)

    static var options: TrainingRun.Options {
        var o = TrainingRun.Options()
        o.epochs = 3
        o.batchSize = 4
        o.learningRate = 1e-3
        o.weightDecay = 1e-4
        o.cosineSchedule = true
        o.evalEvery = 1
        o.seed = 11
        o.threads = 2
        o.targetAccuracy = 2  // never reached: the epochs end the run
        return o
    }

    struct Sittings {
        let directory: URL
        var model: URL { directory.appendingPathComponent("model.safetensors") }
        var checkpoint: URL { directory.appendingPathComponent("model.resume.safetensors") }
        var log: [String] = []
        var outcomes: [TrainingRun.Outcome] = []
    }

    /// Trains in one sitting per stop (`maxSteps` = the stop), then one to the end unless `finish` is false.
    static func train(stoppingAt stops: [Int], finish: Bool = true, options: TrainingRun.Options = options) throws -> Sittings {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var sittings = Sittings(directory: dir)
        for stop in stops.map(Optional.some) + (finish ? [nil] : []) {
            var o = options
            o.maxSteps = stop
            let lines = LogLines()
            let run: TrainingRun
            if let checkpoint = try TrainingRun.Checkpoint.read(besideModel: sittings.model) {
                run = try TrainingRun(resuming: checkpoint, options: o, configuration: configuration, train: train, validation: validation,
                                      modelURL: sittings.model, summary: [:], log: lines.append)
            } else {
                let network = ResNet18Training(classes: classNames.count, seed: o.seed,
                                               optimizer: Adam.Configuration(learningRate: Float(o.learningRate),
                                                                             weightDecay: Float(o.weightDecay)),
                                               threads: o.threads)
                run = TrainingRun(options: o, configuration: configuration, network: network, train: train, validation: validation,
                                  modelURL: sittings.model, summary: [:], log: lines.append)
            }
            sittings.outcomes.append(try run.run())
            sittings.log += lines.lines
        }
        return sittings
    }

    /// Every tensor of both files has the same name, shape and bits.
    static func expectIdentical(_ a: URL, _ b: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let x = try SafeTensors.read(contentsOf: a).tensors, y = try SafeTensors.read(contentsOf: b).tensors
        #expect(x.keys.sorted() == y.keys.sorted(), sourceLocation: sourceLocation)
        var differing: [String] = []
        for (name, t) in x {
            guard let u = y[name] else { continue }
            if t.shape != u.shape || t.scalars.map(\.bitPattern) != u.scalars.map(\.bitPattern) { differing.append(name) }
        }
        #expect(differing.isEmpty, "\(differing.count) of \(x.count) tensors differ in \(a.lastPathComponent), e.g. \(differing.sorted().prefix(5))",
                sourceLocation: sourceLocation)
    }

    @Test func resumedRunEndsBitIdenticalToAnUnbrokenOne() throws {
        let unbroken = try Self.train(stoppingAt: [])
        defer { try? FileManager.default.removeItem(at: unbroken.directory) }
        // Stops mid-epoch (step 1), at an epoch's end (4), and one step into an epoch (5).
        let resumed = try Self.train(stoppingAt: [1, 4, 5])
        defer { try? FileManager.default.removeItem(at: resumed.directory) }

        #expect(resumed.outcomes.map(\.steps) == [1, 4, 5, 6])
        #expect(resumed.log.contains("resuming at step 4 (epoch 2, image 8 of the epoch)"))
        #expect(resumed.log.contains("step limit of 5 reached: stopping (--resume continues the run)"))
        // The final state (weights, BN statistics and counters, Adam's moments and step) and the best model.
        try Self.expectIdentical(unbroken.checkpoint, resumed.checkpoint)
        try Self.expectIdentical(unbroken.model, resumed.model)

        let a = try #require(unbroken.outcomes.last), b = try #require(resumed.outcomes.last)
        #expect(a.steps == 6 && b.steps == 6)
        #expect(a.temperature == b.temperature)
        #expect(a.best?.step == b.best?.step)
        #expect(a.images == 24 && b.images == 24)
        func figures(_ r: TrainingRun.Record) -> [Double] {
            [Double(r.step), Double(r.epoch), r.trainLoss, r.validationLoss, r.validationAccuracy, r.validationBalancedAccuracy ?? -1]
        }
        #expect(a.history.map(figures) == b.history.map(figures))

        // A speed line after every validation, and the totals at the end of each sitting.
        #expect(unbroken.log.filter { $0.hasPrefix("speed: ") }.count == 6)
        #expect(unbroken.log.contains { $0.hasPrefix("trained 24 images in ") && $0.contains(" images/s") && !$0.contains("this sitting") })
        #expect(resumed.log.contains { $0.hasPrefix("trained 24 images in ") && $0.contains("; this sitting 4 images in ") })

        // Resuming a finished run trains nothing more.
        let checkpoint = try #require(try TrainingRun.Checkpoint.read(besideModel: unbroken.model))
        let before = try SafeTensors.read(contentsOf: unbroken.checkpoint).tensors
        let lines = LogLines()
        let again = try TrainingRun(resuming: checkpoint, options: Self.options, configuration: Self.configuration, train: Self.train,
                                    validation: Self.validation, modelURL: unbroken.model, summary: [:], log: lines.append).run()
        #expect(again.steps == 6)
        #expect(lines.lines.contains("all 3 epochs are trained already"))
        #expect(try SafeTensors.read(contentsOf: unbroken.checkpoint).tensors == before)
    }

    /// With the weight average on, the average is what validation measures and the model file keeps,
    /// and a resumed run averages to the same bits (the checkpoint carries it and its update count).
    @Test func weightAverageIsKeptAndResumesBitIdentical() throws {
        var o = Self.options
        o.averageDecay = 0.9
        let unbroken = try Self.train(stoppingAt: [], options: o)
        defer { try? FileManager.default.removeItem(at: unbroken.directory) }
        let resumed = try Self.train(stoppingAt: [1, 4], options: o)
        defer { try? FileManager.default.removeItem(at: resumed.directory) }
        try Self.expectIdentical(unbroken.checkpoint, resumed.checkpoint)
        try Self.expectIdentical(unbroken.model, resumed.model)

        let checkpoint = try SafeTensors.read(contentsOf: unbroken.checkpoint)
        let averaged = checkpoint.tensors.filter { $0.key.hasPrefix("average.") }
        let weights = checkpoint.tensors.filter { !$0.key.hasPrefix("average.") && !$0.key.hasPrefix("optimizer.") }
        #expect(averaged.count == weights.count, "every weight, statistic and counter is averaged or carried")
        #expect(checkpoint.metadata["cxreview.resume"]?.contains("\"averageUpdates\":6") == true)
        // The average differs from the last step's weights, and the best model is an average: its
        // weights are the checkpoint's average when the last validation was the best, never the raw ones.
        let w = try #require(weights["layer1.0.conv1.weight"]), a = try #require(averaged["average.layer1.0.conv1.weight"])
        #expect(w != a)
        let best = try SafeTensors.read(contentsOf: unbroken.model)
        #expect(best.tensors["layer1.0.conv1.weight"] != w)
        #expect(best.metadata["cxreview.training"]?.contains("moving average, decay 0.9 per step") == true)

        // The decay is a setting of the run: another one is refused on resume.
        var other = o
        other.averageDecay = 0.99
        let c = try #require(try TrainingRun.Checkpoint.read(besideModel: unbroken.model))
        #expect(throws: ResumeError.self) {
            try TrainingRun(resuming: c, options: other, configuration: Self.configuration, train: Self.train,
                            validation: Self.validation, modelURL: unbroken.model, summary: [:], log: { _ in })
        }
    }

    /// The model's configuration lists, per age group, the classes training drew from, which
    /// `classify` warns by; scans without an age group add nothing.
    @Test func theModelSaysWhichClassesEachAgeGroupWasTrainedOn() throws {
        let ages = ["normal": "child", "viral": "child", "covid": "adult"]
        let entries = Self.train.entries.map { e in
            DatasetIndex.Entry(path: e.path, label: e.label, split: nil, source: "s", patientID: nil, ageGroup: ages[e.label])
        }
        let train = LabelledScans(entries: entries, images: Self.train.images)
        var o = Self.options
        o.epochs = 1
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-groups-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("model.safetensors")
        let network = ResNet18Training(classes: Self.classNames.count, seed: o.seed,
                                       optimizer: Adam.Configuration(learningRate: Float(o.learningRate)), threads: o.threads)
        _ = try TrainingRun(options: o, configuration: Self.configuration, network: network, train: train, validation: Self.validation,
                            modelURL: model, summary: [:], log: { _ in }).run()
        let config = try ResNet18.load(contentsOf: model).configuration
        #expect(config.trainedClasses == ["child": ["normal", "viral"], "adult": ["covid"]])
    }

    @Test func resumeRefusesOtherSettingsAndOtherScans() throws {
        let stopped = try Self.train(stoppingAt: [1], finish: false)
        defer { try? FileManager.default.removeItem(at: stopped.directory) }
        let checkpoint = try #require(try TrainingRun.Checkpoint.read(besideModel: stopped.model))
        func resume(_ options: TrainingRun.Options, train: LabelledScans = Self.train) throws(ResumeError) -> TrainingRun {
            try TrainingRun(resuming: checkpoint, options: options, configuration: Self.configuration, train: train,
                            validation: Self.validation, modelURL: stopped.model, summary: [:], log: { _ in })
        }
        var seed = Self.options
        seed.seed = 12
        seed.learningRate = 3e-4
        let settings = #expect(throws: ResumeError.self) { try resume(seed) }
        #expect(settings?.description.contains("--lr 0.001 (this command: 0.0003), --seed 11 (this command: 12)") == true,
                "\(String(describing: settings))")
        let scans = #expect(throws: ResumeError.self) { try resume(Self.options, train: Self.scans("other", perClass: 3)) }
        #expect(scans?.description.contains("belongs to a run on other scans") == true, "\(String(describing: scans))")
        var allowed = Self.options
        allowed.targetAccuracy = 0.5
        allowed.maxMinutes = 10
        _ = try resume(allowed)
    }

    @Test func speedLineGivesRateEpochTimeAndTimeLeft() {
        func speed(maxSteps: Int? = nil, timeLeft: Double? = nil) -> TrainingSpeed {
            TrainingSpeed(steps: 20, images: 120, seconds: 60, step: 40, stepsPerEpoch: 100, epochs: 3, evalEvery: 20,
                          maxSteps: maxSteps, secondsToTimeLimit: timeLeft)
        }
        #expect(speed().line == "speed: 2.0 images/s, 5 min 0 s per epoch; step 40 of 300, 13 min 0 s left")
        #expect(speed(maxSteps: 50).line == "speed: 2.0 images/s, 5 min 0 s per epoch; step 40 of 60 (step limit), 1 min 0 s left")
        #expect(speed(maxSteps: 500).line.hasSuffix("step 40 of 300, 13 min 0 s left"))
        // 100 s are 34 steps at 3 s; the limit is checked at the validation after them (step 80).
        #expect(speed(timeLeft: 100).line.hasSuffix("step 40 of 80 (time limit), 2 min 0 s left"))
        #expect(speed(timeLeft: -5).line.hasSuffix("step 40 of 40 (time limit), 0 s left"))
        #expect(TrainingSpeed.duration(59.4) == "59 s")
        #expect(TrainingSpeed.duration(7260) == "2 h 1 min")
        #expect(TrainingSpeed.steps(images: 9, batchSize: 4) == 2)
        #expect(TrainingSpeed.steps(images: 10, batchSize: 4) == 3)
        #expect(TrainingSpeed.summary(images: 240, seconds: 125, sitting: (120, 60))
                == "trained 240 images in 2 min 5 s: 1.92 images/s; this sitting 120 images in 1 min 0 s: 2.00 images/s")
    }
}

/// Collects a run's log lines.
final class LogLines: @unchecked Sendable {
    private(set) var lines: [String] = []
    func append(_ line: String) { lines.append(line) }
}
