import Foundation
import Pipeline
import Preprocessing
import ResNet
import Training
import XRayCore

/// The training loop of the PyTorch tutorial, natively: batches drawn class-balanced and
/// augmented, validation loss and accuracy every `evalEvery` steps, the best model kept, a stop
/// as soon as validation accuracy reaches the target, and temperature scaling fitted on the
/// validation split at the end. Every `evalEvery` steps it also writes a resume checkpoint, from
/// which `init(resuming:…)` continues to the same weights, bit for bit, as a run that never stopped.
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
        /// Stop at the first validation after this many minutes of this sitting (the best model so far
        /// is kept, and a resume starts the clock afresh); nil: no limit.
        public var maxMinutes: Double?
        /// Stop at the first validation at or after this step, counted over all sittings; nil: no limit.
        public var maxSteps: Int?
        /// The validation figure that picks the best model and is compared with `targetAccuracy`.
        public var selectBy: Selection = .worstGroupRecall
        /// What the batches are balanced over (see `BalancedSampler`).
        public var balance: Balance = .groups
        /// With `.groups`: the fewest training scans a (age group, class, source) cell needs to be drawn from.
        public var minimumCell = 20
        /// The fewest validation scans of a class in a group for its recall to count towards the worst group.
        public var minimumValidationCell = 10
        /// At the end, shift the class logits to the operating point fitted on the validation split
        /// (`OperatingPoint`), with at most this fraction of healthy children called viral and of healthy
        /// adults called COVID-19 there; nil: keep the network's own lines. Only the final step uses it,
        /// so a resumed run may change it (checkpoints written before it existed read it as nil).
        public var maximumFalseAlarm: Double? = nil
        /// Validate and keep an exponential moving average of the weights with this decay per step
        /// (`WeightAverage`) instead of the last step's weights; nil: the last step's.
        public var averageDecay: Double? = nil
        public init() {}
    }

    /// Which validation figure picks the best model.
    public enum Selection: String, Sendable, Codable, CaseIterable {
        /// The lowest recall of any class in any group (age group and source) that is trained on and
        /// has `minimumValidationCell` validation scans of that class: a model that learned the
        /// patient's age or the hospital instead of the disease scores low here however well it does overall.
        case worstGroupRecall = "worst-group-recall"
        /// Mean per-class recall: plain accuracy rewards a model that favours the largest class.
        case balancedAccuracy = "balanced-accuracy"
        /// The tutorial's.
        case accuracy
    }

    /// What training batches are balanced over.
    public enum Balance: String, Sendable, Codable, CaseIterable {
        /// Age group, then class within it, then source within that (`BalancedSampler`).
        case groups
        /// Classes only (the tutorial's, with every class equally likely).
        case classes
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
        /// The lowest recall of a class in a trained group, and which ("viral in child/kermany-paediatric").
        public var worstGroupRecall: Double? = nil
        public var worstGroup: String? = nil

        func score(_ selection: Selection) -> Double? {
            switch selection {
            case .accuracy: return validationAccuracy
            case .balancedAccuracy: return validationBalancedAccuracy
            case .worstGroupRecall: return worstGroupRecall ?? validationBalancedAccuracy
            }
        }
    }

    public struct Outcome: Sendable {
        public let best: Record?
        public let temperature: Double
        public let history: [Record]
        public let stoppedEarly: Bool
        public let steps: Int
        /// Wall time of the training loop (validations included) over all sittings.
        public let seconds: Double
        /// Images trained on (augmented copies counted once each) over all sittings.
        public let images: Int
        public let sittingImages: Int
        public let sittingSeconds: Double
    }

    let options: Options
    let configuration: ResNetConfiguration
    let network: TrainableNetwork
    let train: LabelledScans
    let validation: LabelledScans
    let modelURL: URL
    let resumeURL: URL
    /// Written into the model file as `cxreview.training` (`trainingKey`, JSON) beside the configuration.
    let summary: [String: String]
    let log: (String) -> Void

    /// Where the run is; the resume checkpoint stores it whole (TrainingRun+Resume.swift).
    var state = State()
    /// With `averageDecay`: the weights' moving average, which validation measures and the model file keeps.
    var average: WeightAverage?
    /// Of `train` and `validation`, worked out once for the checkpoints.
    var scansFingerprint: Scans?
    public var history: [Record] { state.history }

    public init(options: Options, configuration: ResNetConfiguration, network: TrainableNetwork,
                train: LabelledScans, validation: LabelledScans, modelURL: URL, summary: [String: String],
                log: @escaping (String) -> Void) {
        self.options = options
        self.configuration = configuration
        self.network = network
        self.train = train
        self.validation = validation
        self.modelURL = modelURL
        self.resumeURL = Self.resumeURL(forModel: modelURL)
        self.summary = summary
        self.log = log
        average = options.averageDecay.map { WeightAverage(decay: $0) }
    }

    // MARK: - Loop

    public func run() throws -> Outcome {
        let classes = configuration.classNames
        let labels = train.labels(classNames: classes)
        let sampler = Self.sampler(train.entries, options: options)
        let preprocessor = Preprocessor(inputSize: configuration.inputSize, mean: configuration.mean, std: configuration.std)
        let start = DispatchTime.now()
        let elapsedBefore = state.elapsed
        let imagesBefore = state.imagesTrained
        func sitting() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }
        func elapsed() -> Double { elapsedBefore + sitting() }
        let stepsPerEpoch = (labels.count + options.batchSize - 1) / options.batchSize
        var stoppedEarly = false
        let totalSteps = Double(stepsPerEpoch * options.epochs)
        // The speed line after each validation covers the steps since the one before.
        var window = (step: state.step, images: state.imagesTrained, seconds: 0.0)

        training: while state.epoch <= options.epochs {
            let order = sampler.epoch(state.epoch)
            while state.positionInEpoch < order.count {
                let position = state.positionInEpoch, epoch = state.epoch
                let batch = Array(order[position..<min(position + options.batchSize, order.count)])
                if batch.count < 2 {
                    // BatchNorm in training mode needs two images or more (as in PyTorch): drop a last single one.
                    state.positionInEpoch += batch.count
                    continue
                }
                var images: [GrayImage] = []
                for (j, i) in batch.enumerated() {
                    // One generator per sample, from (seed, epoch, position): the same draw on resume.
                    var rng = SplitMix64(seed: options.seed ^ (UInt64(epoch) << 40) ^ UInt64(position + j) &* 0x2545_F491_4F6C_DD1D)
                    images.append(Augmentation.apply(options.augmentation.draw(side: configuration.inputSize, using: &rng), to: train.images[i]))
                }
                if options.cosineSchedule {
                    let progress = min(1, Double(state.step) / totalSteps)
                    network.learningRate = options.learningRate * (0.01 + 0.99 * 0.5 * (1 + cos(.pi * progress)))
                }
                let loss = network.trainStep(input: preprocessor.tensor(from: images), labels: batch.map { labels[$0] }, classWeights: nil).loss
                average?.update(with: network.exportParameters())
                state.lossSum += Double(loss)
                state.lossCount += 1
                state.step += 1
                state.positionInEpoch += batch.count
                state.imagesTrained += batch.count
                Self.progress(epoch: epoch, of: options.epochs, step: (state.positionInEpoch + options.batchSize - 1) / options.batchSize,
                              of: stepsPerEpoch, loss: loss, imagesPerSecond: Double(state.imagesTrained - imagesBefore) / sitting())

                if state.step % options.evalEvery == 0 {
                    let record = try validate(elapsed: elapsed())
                    try writeCheckpoint(elapsed: elapsed())
                    let now = sitting()
                    let speed = TrainingSpeed(
                        steps: state.step - window.step, images: state.imagesTrained - window.images, seconds: now - window.seconds,
                        step: state.step, stepsPerEpoch: TrainingSpeed.steps(images: labels.count, batchSize: options.batchSize),
                        epochs: options.epochs, evalEvery: options.evalEvery, maxSteps: options.maxSteps,
                        secondsToTimeLimit: options.maxMinutes.map { $0 * 60 - now })
                    log(speed.line)
                    window = (state.step, state.imagesTrained, now)
                    if let limit = options.maxSteps, state.step >= limit {
                        log("step limit of \(limit) reached: stopping (--resume continues the run)")
                        stoppedEarly = true
                        break training
                    }
                    if let limit = options.maxMinutes, now >= limit * 60 {
                        log(String(format: "time limit of %g minutes reached: stopping (--resume continues the run)", limit))
                        stoppedEarly = true
                        break training
                    }
                    if let score = record.score(options.selectBy), score >= options.targetAccuracy {
                        log("validation \(options.selectBy.rawValue) \(String(format: "%.1f%%", score * 100)) reached the target \(String(format: "%.1f%%", options.targetAccuracy * 100)): stopping")
                        stoppedEarly = true
                        break training
                    }
                }
            }
            state.epoch += 1
            state.positionInEpoch = 0
        }
        if state.imagesTrained == imagesBefore && !stoppedEarly { log("all \(options.epochs) epochs are trained already") }
        // After the last epoch the checkpoint says so (epoch past the last), so a resume trains nothing again.
        if state.history.last?.step != state.step {
            _ = try validate(elapsed: elapsed())
            try writeCheckpoint(elapsed: elapsed())
        }
        let seconds = elapsed(), sittingSeconds = sitting()
        let images = state.imagesTrained, sittingImages = images - imagesBefore
        log(TrainingSpeed.summary(images: images, seconds: seconds,
                                  sitting: elapsedBefore > 0 && sittingImages > 0 ? (sittingImages, sittingSeconds) : nil))
        let temperature = try calibrate()
        return Outcome(best: state.best, temperature: temperature, history: state.history, stoppedEarly: stoppedEarly,
                       steps: state.step, seconds: seconds, images: images, sittingImages: sittingImages, sittingSeconds: sittingSeconds)
    }

    /// Validation loss and accuracy; writes the model file when accuracy improves. Starts a new
    /// window for the mean training loss.
    private func validate(elapsed: Double) throws -> Record {
        let trainLoss = state.lossSum / Double(max(1, state.lossCount))
        state.lossSum = 0
        state.lossCount = 0
        let step = state.step, epoch = min(state.epoch, options.epochs)
        if Self.interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        let params = average.flatMap { $0.updates > 0 ? $0.tensors : nil } ?? network.exportParameters()
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
        let trained = trainedCells
        let probabilities = logits.map { TemperatureScaling.probabilities($0, temperature: 1) }
        let groups = GroupBreakdown(labels: labels, probabilities: probabilities,
                                    sources: validation.entries.map(\.source), ageGroups: validation.entries.map(\.ageGroup),
                                    classNames: configuration.classNames, minGroupSize: options.minimumValidationCell,
                                    counts: { trained.contains("\($0) in \($1)") })
        let worst = groups.worstGroupRecall.map { (recall: $0.recall, cell: "\($0.className) in \($0.group)") }
        var record = Record(step: step, epoch: epoch, trainLoss: trainLoss, validationLoss: loss,
                            validationAccuracy: Double(correct) / Double(max(1, labels.count)),
                            validationBalancedAccuracy: balanced, seconds: elapsed)
        record.worstGroupRecall = worst?.recall
        record.worstGroup = worst?.cell
        state.history.append(record)
        let improved: Bool
        if let b = state.best, let old = b.score(options.selectBy), let new = record.score(options.selectBy) {
            let oldBalanced = b.validationBalancedAccuracy ?? 0, newBalanced = record.validationBalancedAccuracy ?? 0
            improved = new > old || (new == old && (newBalanced > oldBalanced
                || (newBalanced == oldBalanced && record.validationLoss < b.validationLoss)))
        } else {
            improved = true
        }
        log(String(format: "step %d (epoch %d): train loss %.4f, validation loss %.4f, accuracy %.1f%% (%d/%d), balanced accuracy %.1f%%%@%@",
                   step, epoch, trainLoss, loss, record.validationAccuracy * 100, correct, labels.count, balanced * 100,
                   worst.map { String(format: ", worst group recall %.1f%% (%@)", $0.recall * 100, $0.cell) } ?? "",
                   improved ? "  best so far, saved" : ""))
        var cells: [String] = []
        for g in groups.byAgeGroupAndSource {
            for p in g.perClass where p.support > 0 {
                let recall = Double(p.correct) / Double(p.support) * 100
                let note = trained.contains("\(p.className) in \(g.name)") ? "" : " (not trained on)"
                cells.append("\(p.className) in \(g.name) \(Int(recall.rounded()))% of \(p.support)\(note)")
            }
        }
        log("  recall by group: " + cells.joined(separator: "; "))
        if improved {
            state.best = record
            try writeModel(params, temperature: nil)
        }
        return record
    }

    /// With the best model: the operating point (if asked for) and then the temperature, both fitted on
    /// the validation split, and the final file written. A model file that carries offsets already (a
    /// finished run resumed) has them taken out first, so the fit starts from the network's own lines.
    private func calibrate() throws -> Double {
        var (params, metadata) = try SafeTensors.read(contentsOf: modelURL)
        if let previous = Self.operatingPointOffsets(metadata), var bias = params["fc.bias"], bias.count == previous.count {
            bias.scalars = zip(bias.scalars, previous).map { $0 - Float($1) }
            params["fc.bias"] = bias
        }
        let model = try ResNet18(parameters: params, configuration: configuration)
        var logits = Classifier(model: model, threads: options.threads).logits(for: validation.images)
        let labels = validation.labels(classNames: configuration.classNames)
        var operatingPoint: OperatingPoint?
        if let cap = options.maximumFalseAlarm {
            let trained = trainedCells
            let fit = validation.entries.indices.filter { trained.contains("\(validation.entries[$0].label) in \(validation.entries[$0].group)") }
            if configuration.classNames != OperatingPoint.classNames {
                log("no operating point fitted: it needs the classes \(OperatingPoint.classNames.joined(separator: ", ")) in that order")
            } else if fit.isEmpty {
                log("no operating point fitted: no validation scans of the groups training drew from")
            } else if var bias = params["fc.bias"] {
                // Fitted on the cells training drew from: the few validation scans of cells it never saw
                // (adult viral pneumonia) would move a line for a class it cannot tell in that group.
                let point = OperatingPoint.fit(logits: fit.map { logits[$0] }, labels: fit.map { labels[$0] },
                                               ageGroups: fit.map { validation.entries[$0].ageGroup }, maximumFalseAlarm: cap)
                bias.scalars = point.apply(toBias: bias.scalars)
                params["fc.bias"] = bias
                logits = logits.map { row in zip(row, point.offsets).map { $0 + Float($1) } }
                operatingPoint = point
                log("operating point on the validation split's \(fit.count) scans of trained groups (false alarms at most \(String(format: "%g%%", cap * 100))): \(point.summary)")
            }
        }
        let t = TemperatureScaling.fit(logits: logits, labels: labels)
        try writeModel(params, temperature: t, operatingPoint: operatingPoint)
        log(String(format: "temperature scaling on the validation split: T = %.3f", t))
        return t
    }

    /// The model file's metadata key for the training summary (JSON, string values).
    static let trainingKey = "cxreview.training"
    /// The training summary's key for the offsets folded into fc.bias (comma-separated, class order).
    static let operatingPointKey = "operating_point_offsets"

    /// The training summary a model file's metadata holds, if any.
    static func trainingSummary(_ metadata: [String: String]) -> [String: String]? {
        guard let json = metadata[trainingKey] else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
    }

    /// The offsets a model file says are folded into its fc.bias, if any.
    static func operatingPointOffsets(_ metadata: [String: String]) -> [Double]? {
        guard let text = trainingSummary(metadata)?[operatingPointKey] else { return nil }
        let values = text.split(separator: ",").compactMap { Double($0) }
        return values.isEmpty ? nil : values
    }

    private func writeModel(_ params: [String: Tensor], temperature: Double?, operatingPoint: OperatingPoint? = nil) throws {
        var config = configuration
        config.trained = true
        config.temperature = temperature
        config.trainedClasses = trainedClasses
        var training = summary
        let best = state.best
        training["best_step"] = best.map { String($0.step) }
        training["best_validation_accuracy"] = best.map { String(format: "%.4f", $0.validationAccuracy) }
        training["best_validation_balanced_accuracy"] = best?.validationBalancedAccuracy.map { String(format: "%.4f", $0) }
        training["selected_by"] = options.selectBy.rawValue
        training["best_worst_group_recall"] = best?.worstGroupRecall.map { String(format: "%.4f", $0) }
        training["best_worst_group"] = best?.worstGroup
        training["balance"] = options.balance.rawValue
        training["weights"] = average.map { String(format: "moving average, decay %g per step", $0.decay) } ?? "last step's"
        training["steps"] = String(state.step)
        if let operatingPoint {
            training[Self.operatingPointKey] = operatingPoint.offsets.map { String(format: "%.2f", $0) }.joined(separator: ",")
            training["operating_point"] = operatingPoint.summary
        }
        let trainingJSON = String(decoding: try JSONSerialization.data(withJSONObject: training, options: [.sortedKeys]), as: UTF8.self)
        try SafeTensors.write(params.filter { !$0.key.hasSuffix("num_batches_tracked") },
                              metadata: [ResNetConfiguration.metadataKey: config.jsonString(), Self.trainingKey: trainingJSON],
                              to: modelURL)
    }

    /// The sampler `options.balance` asks for, over these training entries.
    public static func sampler(_ entries: [DatasetIndex.Entry], options: Options) -> BalancedSampler {
        switch options.balance {
        case .classes:
            return BalancedSampler(labels: entries.map { DatasetIndex.classes.firstIndex(of: $0.label)! },
                                   classCount: DatasetIndex.classes.count, seed: options.seed)
        case .groups:
            return BalancedSampler(paths: entries.map(Self.cellPath), seed: options.seed, minimumLeaf: options.minimumCell, classLevel: 1)
        }
    }

    /// (age group, class, source): the sampler's path of an entry.
    public static func cellPath(_ e: DatasetIndex.Entry) -> [String] { [e.ageGroup ?? "unknown", e.label, e.source ?? "unknown"] }

    /// "class in age/source" of every cell the sampler draws from: the cells whose recall selects the
    /// model. Worked out once (it groups every training scan), not at every validation.
    private(set) lazy var trainedCells: Set<String> =
        Set(Self.sampler(train.entries, options: options).leaves.flatMap { leaf in
            leaf.members.map { "\(train.entries[$0].label) in \(train.entries[$0].group)" }
        })

    /// Per age group, the classes of the training scans (in the model's class order), for the model's
    /// configuration; nil when no training scan has an age group.
    var trainedClasses: [String: [String]]? {
        var groups: [String: Set<String>] = [:]
        for e in train.entries { if let g = e.ageGroup { groups[g, default: []].insert(e.label) } }
        return groups.isEmpty ? nil : groups.mapValues { present in configuration.classNames.filter(present.contains) }
    }

    /// A progress bar on stderr when it is a terminal (a log file gets only the validation lines).
    static let interactive = isatty(2) == 1

    static func progress(epoch: Int, of epochs: Int, step: Int, of steps: Int, loss: Float, imagesPerSecond: Double) {
        guard interactive else { return }
        let width = 30
        let filled = min(width, step * width / max(1, steps))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let text = String(format: "\r\u{1B}[Kepoch %d/%d %@ %d/%d  loss %.4f  %.1f images/s", epoch, epochs, bar, step, steps, loss,
                          imagesPerSecond)
        FileHandle.standardError.write(Data(text.utf8))
    }
}
