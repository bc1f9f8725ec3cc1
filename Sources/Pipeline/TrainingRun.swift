import Foundation
import Preprocessing
import ResNet
import Training
import XRayCore

/// The training loop of the PyTorch tutorial, natively: batches drawn class-balanced and
/// augmented, validation loss and accuracy every `evalEvery` steps, the best model kept, a stop
/// as soon as validation accuracy reaches the target, and temperature scaling fitted on the
/// validation split at the end. Every `evalEvery` steps it also writes a resume checkpoint.
public final class TrainingRun {
    public struct Options: Sendable, Codable {
        public var epochs: Int = 30
        public var batchSize: Int = 6
        public var learningRate: Double = 3e-5
        public var weightDecay: Double = 0
        public var targetAccuracy: Double = 0.95
        public var evalEvery: Int = 20
        public var seed: UInt64 = 0
        public var threads: Int = 2
        public var augmentation: Augmentation = Augmentation()
        /// Cosine decay of the learning rate from `learningRate` to 1% of it over all epochs (else constant).
        public var cosineSchedule = false
        /// Stop after this many minutes of training (the best model so far is kept); nil: no limit.
        public var maxMinutes: Double?
        /// The validation figure that picks the best model and is compared with `targetAccuracy`:
        /// balanced accuracy (mean per-class recall) by default, since on an imbalanced validation
        /// split plain accuracy rewards a model that favours the largest class.
        public var selectByBalancedAccuracy = true
        public init() {}
    }

    public struct Record: Sendable, Codable {
        public let step: Int
        public let epoch: Int
        public let trainLoss: Double
        public let validationLoss: Double
        public let validationAccuracy: Double
        /// Mean per-class recall (nil in checkpoints written before it was recorded).
        public let validationBalancedAccuracy: Double?
        public let seconds: Double

        func score(balanced: Bool) -> Double? { balanced ? validationBalancedAccuracy : validationAccuracy }
    }

    public struct Outcome: Sendable {
        public let best: Record?
        public let temperature: Double
        public let history: [Record]
        public let stoppedEarly: Bool
        public let steps: Int
        public let seconds: Double
    }

    let options: Options
    let configuration: ResNetConfiguration
    let network: TrainableNetwork
    let train: LabelledScans
    let validation: LabelledScans
    let modelURL: URL
    let resumeURL: URL
    /// Written into the model file as `cxreview.training` (JSON) beside the configuration.
    let summary: [String: String]
    let log: (String) -> Void

    public private(set) var history: [Record] = []
    private var best: Record?
    private var step = 0
    private var epoch = 1
    private var positionInEpoch = 0
    private var elapsedBefore = 0.0

    public init(options: Options, configuration: ResNetConfiguration, network: TrainableNetwork,
                train: LabelledScans, validation: LabelledScans, modelURL: URL, summary: [String: String],
                log: @escaping (String) -> Void) {
        self.options = options
        self.configuration = configuration
        self.network = network
        self.train = train
        self.validation = validation
        self.modelURL = modelURL
        self.resumeURL = modelURL.deletingPathExtension().appendingPathExtension("resume.safetensors")
        self.summary = summary
        self.log = log
    }

    // MARK: - Resume

    static let positionKey = "cxreview.resume"

    struct Position: Codable {
        var step: Int
        var epoch: Int
        var positionInEpoch: Int
        var elapsed: Double
        var history: [Record]
        var best: Record?
    }

    /// Parameters and position of a resume checkpoint, or nil when there is none.
    public static func resumeState(for modelURL: URL) throws -> (parameters: [String: Tensor], optimizer: [String: Tensor], metadata: [String: String])? {
        let url = modelURL.deletingPathExtension().appendingPathExtension("resume.safetensors")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let (tensors, metadata) = try SafeTensors.read(contentsOf: url)
        var params: [String: Tensor] = [:], opt: [String: Tensor] = [:]
        for (k, v) in tensors {
            if k.hasPrefix("optimizer.") { opt[String(k.dropFirst("optimizer.".count))] = v } else { params[k] = v }
        }
        return (params, opt, metadata)
    }

    /// Continues from the position stored in a resume checkpoint's metadata.
    public func restorePosition(_ metadata: [String: String]) throws {
        guard let json = metadata[Self.positionKey] else { return }
        let p = try JSONDecoder().decode(Position.self, from: Data(json.utf8))
        step = p.step
        epoch = p.epoch
        positionInEpoch = p.positionInEpoch
        elapsedBefore = p.elapsed
        history = p.history
        best = p.best
        log("resuming at step \(step) (epoch \(epoch), image \(positionInEpoch) of the epoch)")
    }

    private func writeResume(elapsed: Double) throws {
        var tensors = network.exportParameters()
        for (k, v) in network.optimizerState() { tensors["optimizer." + k] = v }
        let p = Position(step: step, epoch: epoch, positionInEpoch: positionInEpoch, elapsed: elapsed, history: history, best: best)
        let json = String(decoding: try JSONEncoder().encode(p), as: UTF8.self)
        try SafeTensors.write(tensors, metadata: [Self.positionKey: json, ResNetConfiguration.metadataKey: configuration.jsonString()], to: resumeURL)
    }

    // MARK: - Loop

    public func run() throws -> Outcome {
        let classes = configuration.classNames
        let labels = train.labels(classNames: classes)
        let sampler = BalancedSampler(labels: labels, classCount: classes.count, seed: options.seed)
        let preprocessor = Preprocessor(inputSize: configuration.inputSize, mean: configuration.mean, std: configuration.std)
        let start = DispatchTime.now()
        func elapsed() -> Double { elapsedBefore + Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }
        var lossSum = 0.0, lossCount = 0
        let stepsPerEpoch = (labels.count + options.batchSize - 1) / options.batchSize
        var stoppedEarly = false
        let totalSteps = Double(stepsPerEpoch * options.epochs)

        training: while epoch <= options.epochs {
            let order = sampler.epoch(epoch)
            while positionInEpoch < order.count {
                let batch = Array(order[positionInEpoch..<min(positionInEpoch + options.batchSize, order.count)])
                if batch.count < 2 {
                    // BatchNorm in training mode needs two images or more (as in PyTorch): drop a last single one.
                    positionInEpoch += batch.count
                    continue
                }
                var images: [GrayImage] = []
                for (j, i) in batch.enumerated() {
                    // One generator per sample, from (seed, epoch, position): the same draw on resume.
                    var rng = SplitMix64(seed: options.seed ^ (UInt64(epoch) << 40) ^ UInt64(positionInEpoch + j) &* 0x2545_F491_4F6C_DD1D)
                    images.append(Augmentation.apply(options.augmentation.draw(side: configuration.inputSize, using: &rng), to: train.images[i]))
                }
                if options.cosineSchedule {
                    let progress = min(1, Double(step) / totalSteps)
                    network.learningRate = options.learningRate * (0.01 + 0.99 * 0.5 * (1 + cos(.pi * progress)))
                }
                let loss = network.trainStep(input: preprocessor.tensor(from: images), labels: batch.map { labels[$0] }, classWeights: nil).loss
                lossSum += Double(loss)
                lossCount += 1
                step += 1
                positionInEpoch += batch.count
                Self.progress(epoch: epoch, of: options.epochs, step: (positionInEpoch + options.batchSize - 1) / options.batchSize,
                              of: stepsPerEpoch, loss: loss)

                if step % options.evalEvery == 0 {
                    let record = try validate(trainLoss: lossSum / Double(max(1, lossCount)), elapsed: elapsed())
                    lossSum = 0
                    lossCount = 0
                    try writeResume(elapsed: elapsed())
                    if let limit = options.maxMinutes, elapsed() >= limit * 60 {
                        log(String(format: "time limit of %.0f minutes reached: stopping", limit))
                        stoppedEarly = true
                        break training
                    }
                    if let score = record.score(balanced: options.selectByBalancedAccuracy), score >= options.targetAccuracy {
                        log("validation \(options.selectByBalancedAccuracy ? "balanced accuracy" : "accuracy") \(String(format: "%.1f%%", score * 100)) reached the target \(String(format: "%.1f%%", options.targetAccuracy * 100)): stopping")
                        stoppedEarly = true
                        break training
                    }
                }
            }
            epoch += 1
            positionInEpoch = 0
        }
        epoch = min(epoch, options.epochs)
        if best == nil || (step % options.evalEvery != 0 && !stoppedEarly) {
            _ = try validate(trainLoss: lossSum / Double(max(1, lossCount)), elapsed: elapsed())
            try writeResume(elapsed: elapsed())
        }
        let temperature = try calibrate()
        return Outcome(best: best, temperature: temperature, history: history, stoppedEarly: stoppedEarly, steps: step, seconds: elapsed())
    }

    /// Validation loss and accuracy; writes the model file when accuracy improves.
    private func validate(trainLoss: Double, elapsed: Double) throws -> Record {
        if Self.interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        let params = network.exportParameters()
        let model = try ResNet18(parameters: params, configuration: configuration)
        let classifier = Classifier(model: model, threads: options.threads)
        let logits = classifier.logits(for: validation.images)
        let labels = validation.labels(classNames: configuration.classNames)
        let loss = TemperatureScaling.negativeLogLikelihood(logits: logits, labels: labels, temperature: 1)
        let predicted = logits.map { l in l.indices.max { l[$0] < l[$1] }! }
        let correct = zip(predicted, labels).filter { $0 == $1 }.count
        let present = Set(labels).sorted()
        let balanced = present.map { c in
            Double(zip(predicted, labels).filter { $1 == c && $0 == c }.count) / Double(labels.filter { $0 == c }.count)
        }.reduce(0, +) / Double(max(1, present.count))
        let record = Record(step: step, epoch: epoch, trainLoss: trainLoss, validationLoss: loss,
                            validationAccuracy: Double(correct) / Double(max(1, labels.count)),
                            validationBalancedAccuracy: balanced, seconds: elapsed)
        history.append(record)
        let byBalanced = options.selectByBalancedAccuracy
        let improved: Bool
        if let b = best, let old = b.score(balanced: byBalanced), let new = record.score(balanced: byBalanced) {
            improved = new > old || (new == old && record.validationLoss < b.validationLoss)
        } else {
            improved = true
        }
        log(String(format: "step %d (epoch %d): train loss %.4f, validation loss %.4f, accuracy %.1f%% (%d/%d), balanced accuracy %.1f%%%@",
                   step, epoch, trainLoss, loss, record.validationAccuracy * 100, correct, labels.count, balanced * 100,
                   improved ? "  best so far, saved" : ""))
        if improved {
            best = record
            try writeModel(params, temperature: nil)
        }
        return record
    }

    /// Fits the temperature on the validation split with the best model and writes the final file.
    private func calibrate() throws -> Double {
        let (params, _) = try SafeTensors.read(contentsOf: modelURL)
        let model = try ResNet18(parameters: params, configuration: configuration)
        let logits = Classifier(model: model, threads: options.threads).logits(for: validation.images)
        let t = TemperatureScaling.fit(logits: logits, labels: validation.labels(classNames: configuration.classNames))
        try writeModel(params, temperature: t)
        log(String(format: "temperature scaling on the validation split: T = %.3f", t))
        return t
    }

    private func writeModel(_ params: [String: Tensor], temperature: Double?) throws {
        var config = configuration
        config.trained = true
        config.temperature = temperature
        var training = summary
        training["best_step"] = best.map { String($0.step) }
        training["best_validation_accuracy"] = best.map { String(format: "%.4f", $0.validationAccuracy) }
        training["best_validation_balanced_accuracy"] = best?.validationBalancedAccuracy.map { String(format: "%.4f", $0) }
        training["selected_by"] = options.selectByBalancedAccuracy ? "balanced accuracy" : "accuracy"
        training["steps"] = String(step)
        let trainingJSON = String(decoding: try JSONSerialization.data(withJSONObject: training, options: [.sortedKeys]), as: UTF8.self)
        try SafeTensors.write(params.filter { !$0.key.hasSuffix("num_batches_tracked") },
                              metadata: [ResNetConfiguration.metadataKey: config.jsonString(), "cxreview.training": trainingJSON],
                              to: modelURL)
    }

    /// A progress bar on stderr when it is a terminal (a log file gets only the validation lines).
    static let interactive = isatty(2) == 1

    static func progress(epoch: Int, of epochs: Int, step: Int, of steps: Int, loss: Float) {
        guard interactive else { return }
        let width = 30
        let filled = min(width, step * width / max(1, steps))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        FileHandle.standardError.write(Data(String(format: "\r\u{1B}[Kepoch %d/%d %@ %d/%d  loss %.4f", epoch, epochs, bar, step, steps, loss).utf8))
    }
}
