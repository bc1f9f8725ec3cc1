import Audit
import Foundation
import Pipeline
import ResNet
import Training
import XRayCore

/// The resume checkpoint, `<model>.resume.safetensors`, written at every validation.
///
/// It holds everything that decides what the run does next, so that a run stopped at a validation
/// (by `maxSteps`, `maxMinutes`, or killed after it) and resumed ends with the same weights, bit for
/// bit, as one that never stopped (with the same thread count: another one adds gradient sums in
/// another order):
/// - tensors: every parameter, BatchNorm running statistics and `num_batches_tracked` (torchvision
///   names), and Adam's moments and step count (`optimizer.adam.m.<param>`, `optimizer.adam.v.<param>`,
///   `optimizer.adam.step`);
/// - `cxreview.resume` (JSON, `State`): step, epoch, position in the epoch, the training-loss window,
///   images trained, wall time so far, the validation history and the best record;
/// - `cxreview.resume.options` (JSON): the options the run was started with, which must match on resume;
/// - `cxreview.resume.scans` (JSON): counts and SHA-256 of the decoded training and validation scans
///   and their labels, which must match too;
/// - the model configuration.
///
/// Nothing else is needed: the batch order of an epoch is a function of (seed, epoch), each sample's
/// augmentation of (seed, epoch, position), and the cosine schedule's learning rate of the step.
/// The best model so far is the model file itself, written at the validation that found it.
extension TrainingRun {
    /// Where the run is, and every other thing besides the network that decides what it does next.
    struct State: Codable {
        var step = 0
        /// 1-based; past the last epoch when the run has finished them all.
        var epoch = 1
        /// Images of the epoch's order already drawn (the sampler's position; its generator is
        /// re-seeded from the seed and the epoch).
        var positionInEpoch = 0
        /// Training loss summed since the last validation, and the steps summed.
        var lossSum = 0.0
        var lossCount = 0
        var imagesTrained = 0
        /// Wall time of the training loop in all sittings so far, in seconds.
        var elapsed = 0.0
        var history: [Record] = []
        var best: Record?
        /// Updates of the weight average (`average.<name>` tensors), with `Options.averageDecay`.
        var averageUpdates = 0

        init() {}

        enum CodingKeys: String, CodingKey {
            case step, epoch, positionInEpoch, lossSum, lossCount, imagesTrained, elapsed, history, best, averageUpdates
        }

        /// Checkpoints written before the loss window and image count were kept start those at 0.
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            step = try c.decode(Int.self, forKey: .step)
            epoch = try c.decode(Int.self, forKey: .epoch)
            positionInEpoch = try c.decode(Int.self, forKey: .positionInEpoch)
            lossSum = try c.decodeIfPresent(Double.self, forKey: .lossSum) ?? 0
            lossCount = try c.decodeIfPresent(Int.self, forKey: .lossCount) ?? 0
            imagesTrained = try c.decodeIfPresent(Int.self, forKey: .imagesTrained) ?? 0
            elapsed = try c.decode(Double.self, forKey: .elapsed)
            history = try c.decode([Record].self, forKey: .history)
            best = try c.decodeIfPresent(Record.self, forKey: .best)
            averageUpdates = try c.decodeIfPresent(Int.self, forKey: .averageUpdates) ?? 0
        }
    }

    /// The decoded scans a run trains and validates on, recognisable again.
    struct Scans: Codable, Equatable {
        var train: Int
        var validation: Int
        var sha256: String
    }

    static let stateKey = "cxreview.resume"
    static let optionsKey = "cxreview.resume.options"
    static let scansKey = "cxreview.resume.scans"
    static let optimizerPrefix = "optimizer."
    static let averagePrefix = "average."

    static func resumeURL(forModel modelURL: URL) -> URL {
        modelURL.deletingPathExtension().appendingPathExtension("resume.safetensors")
    }

    /// A resume checkpoint as read from disk.
    public struct Checkpoint {
        public let url: URL
        let tensors: [String: Tensor]
        let metadata: [String: String]

        /// The checkpoint beside `modelURL` (`<model>.resume.safetensors`), or nil when there is none.
        public static func read(besideModel modelURL: URL) throws(ResumeError) -> Checkpoint? {
            let url = TrainingRun.resumeURL(forModel: modelURL)
            guard FileManager.default.fileExists(atPath: url.path) else { return nil }
            do {
                let (tensors, metadata) = try SafeTensors.read(contentsOf: url)
                return Checkpoint(url: url, tensors: tensors, metadata: metadata)
            } catch {
                throw .unreadable(file: url.path, reason: error.description)
            }
        }
    }

    /// Continues the run saved in `checkpoint`: its network, optimiser and position, with the same
    /// options (`epochs` unless the schedule is cosine, `targetAccuracy`, `threads`, `maxMinutes` and
    /// `maxSteps` may change) and the same scans.
    /// - Throws: when the checkpoint is malformed, was made with other options or scans, or the best
    ///   model it refers to is missing.
    public convenience init(resuming checkpoint: Checkpoint, options: Options, configuration: ResNetConfiguration,
                            train: LabelledScans, validation: LabelledScans, modelURL: URL, summary: [String: String],
                            log: @escaping (String) -> Void) throws(ResumeError) {
        let file = checkpoint.url.path
        guard let json = checkpoint.metadata[Self.stateKey], let state = try? JSONDecoder().decode(State.self, from: Data(json.utf8)) else {
            throw .malformed(file: file, reason: "its \(Self.stateKey) metadata is missing or not valid")
        }
        if let json = checkpoint.metadata[Self.optionsKey] {
            guard let saved = try? JSONDecoder().decode(Options.self, from: Data(json.utf8)) else {
                throw .malformed(file: file, reason: "its \(Self.optionsKey) metadata is not valid")
            }
            let differences = Self.differences(saved: saved, now: options)
            if !differences.isEmpty { throw .settingsDiffer(file: file, differences: differences) }
            if saved.threads != options.threads {
                log("warning: the run used --threads \(saved.threads); with \(options.threads) its gradient sums add up in another order, so it continues to weights that agree with an unbroken run only to rounding")
            }
        } else {
            log("warning: \(file) predates recorded settings: resume it with the settings it was started with")
        }
        let scans = Self.scans(train: train, validation: validation, classNames: configuration.classNames)
        if let json = checkpoint.metadata[Self.scansKey] {
            guard let saved = try? JSONDecoder().decode(Scans.self, from: Data(json.utf8)) else {
                throw .malformed(file: file, reason: "its \(Self.scansKey) metadata is not valid")
            }
            if saved != scans {
                throw .scansDiffer(file: file, saved: (saved.train, saved.validation), now: (scans.train, scans.validation))
            }
        }
        if state.best != nil && !FileManager.default.fileExists(atPath: modelURL.path) {
            throw .modelMissing(file: file, model: modelURL.path)
        }
        var parameters: [String: Tensor] = [:], optimizer: [String: Tensor] = [:], averaged: [String: Tensor] = [:]
        for (name, tensor) in checkpoint.tensors {
            if name.hasPrefix(Self.optimizerPrefix) {
                optimizer[String(name.dropFirst(Self.optimizerPrefix.count))] = tensor
            } else if name.hasPrefix(Self.averagePrefix) {
                averaged[String(name.dropFirst(Self.averagePrefix.count))] = tensor
            } else {
                parameters[name] = tensor
            }
        }
        let network: ResNet18Training
        do {
            network = try ResNet18Training(
                parameters: parameters, classes: configuration.classNames.count,
                optimizer: Adam.Configuration(learningRate: Float(options.learningRate), weightDecay: Float(options.weightDecay)),
                threads: options.threads)
            try network.restoreOptimizerState(optimizer)
        } catch {
            throw .notAResNet18(file: file, reason: String(describing: error))
        }
        self.init(options: options, configuration: configuration, network: network, train: train, validation: validation,
                  modelURL: modelURL, summary: Self.resumedSummary(summary, model: modelURL), log: log)
        self.state = state
        if let decay = options.averageDecay, state.averageUpdates > 0 {
            guard !averaged.isEmpty else { throw .malformed(file: file, reason: "it has no weight average for --average-weights") }
            average = WeightAverage(decay: decay, tensors: averaged, updates: state.averageUpdates)
        }
        scansFingerprint = scans
        log("resuming at step \(state.step) (epoch \(state.epoch), image \(state.positionInEpoch) of the epoch)")
    }

    /// The training summary of a resumed run: the command and the starting weights are those of the
    /// run's first sitting (a resume command names neither `--init-weights` nor, often, all its flags),
    /// taken from the model file it wrote; the resuming command is kept beside them.
    static func resumedSummary(_ summary: [String: String], model: URL) -> [String: String] {
        guard let metadata = try? SafeTensors.read(contentsOf: model).metadata, let first = trainingSummary(metadata) else {
            return summary
        }
        var merged = summary
        for key in ["command", "init"] { if let value = first[key] { merged[key] = value } }
        merged["resumed_by"] = summary["command"]
        return merged
    }

    /// Writes the checkpoint for the current position; `elapsed` is the wall time over all sittings.
    func writeCheckpoint(elapsed: Double) throws {
        var tensors = network.exportParameters()
        for (k, v) in network.optimizerState() { tensors[Self.optimizerPrefix + k] = v }
        for (k, v) in average?.tensors ?? [:] { tensors[Self.averagePrefix + k] = v }
        var saved = state
        saved.averageUpdates = average?.updates ?? 0
        saved.elapsed = elapsed
        let scans = scansFingerprint ?? Self.scans(train: train, validation: validation, classNames: configuration.classNames)
        scansFingerprint = scans
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func json(_ value: some Encodable) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
        try SafeTensors.write(tensors, metadata: [
            Self.stateKey: try json(saved), Self.optionsKey: try json(options), Self.scansKey: try json(scans),
            ResNetConfiguration.metadataKey: configuration.jsonString(),
        ], to: resumeURL)
    }

    /// Counts and SHA-256 of the labels and pixels of the training then the validation scans, in order.
    static func scans(train: LabelledScans, validation: LabelledScans, classNames: [String]) -> Scans {
        func chunks(_ s: LabelledScans) -> [[UInt8]] {
            zip(s.labels(classNames: classNames), s.images).flatMap { label, image -> [[UInt8]] in
                [withUnsafeBytes(of: (Int64(label).littleEndian, Int64(image.width).littleEndian, Int64(image.height).littleEndian)) { Array($0) },
                 image.pixels]
            }
        }
        let all = chunks(train) + [Array("validation".utf8)] + chunks(validation)
        return Scans(train: train.count, validation: validation.count, sha256: ContentHash.sha256(of: all))
    }

    /// The options that shape the run's future and differ, as `--flag saved (this command: now)`.
    static func differences(saved: Options, now: Options) -> [String] {
        var out: [String] = []
        func check<T: Equatable>(_ flag: String, _ a: T, _ b: T, _ show: (T) -> String) {
            if a != b { out.append("\(flag) \(show(a)) (this command: \(show(b)))") }
        }
        check("--batch-size", saved.batchSize, now.batchSize) { "\($0)" }
        check("--lr", saved.learningRate, now.learningRate) { "\($0)" }
        check("--weight-decay", saved.weightDecay, now.weightDecay) { "\($0)" }
        check("--eval-every", saved.evalEvery, now.evalEvery) { "\($0)" }
        check("--seed", saved.seed, now.seed) { "\($0)" }
        check("--lr-schedule", saved.cosineSchedule, now.cosineSchedule) { $0 ? "cosine" : "constant" }
        if saved.cosineSchedule && now.cosineSchedule {
            check("--epochs", saved.epochs, now.epochs) { "\($0) (the cosine schedule spans them)" }
        }
        check("--select-by", saved.selectBy, now.selectBy) { $0.rawValue }
        check("--balance", saved.balance, now.balance) { $0.rawValue }
        check("--min-cell", saved.minimumCell, now.minimumCell) { "\($0)" }
        check("--min-validation-cell", saved.minimumValidationCell, now.minimumValidationCell) { "\($0)" }
        check("--average-weights", saved.averageDecay, now.averageDecay) { $0.map { "\($0)" } ?? "off" }
        if saved.augmentation != now.augmentation {
            out.append("augmentation \(saved.augmentation.maxRotationDegrees == 0 ? "off (--no-augmentation)" : "on") (this command: \(now.augmentation.maxRotationDegrees == 0 ? "off" : "on"))")
        }
        return out
    }
}

/// Why a run cannot continue from its resume checkpoint; each says what to do.
public enum ResumeError: Error, Sendable, CustomStringConvertible {
    case unreadable(file: String, reason: String)
    case malformed(file: String, reason: String)
    case settingsDiffer(file: String, differences: [String])
    case scansDiffer(file: String, saved: (train: Int, validation: Int), now: (train: Int, validation: Int))
    case modelMissing(file: String, model: String)
    case notAResNet18(file: String, reason: String)

    public var description: String {
        let fresh = "or start a new run with another --out"
        switch self {
        case let .unreadable(f, reason), let .malformed(f, reason):
            return "the resume checkpoint \(f) cannot be used: \(reason); delete it to start afresh, \(fresh)."
        case let .settingsDiffer(f, differences):
            return "\(f) belongs to a run with other settings: \(differences.joined(separator: ", ")); "
                + "resume with the run's own settings (only --epochs, unless the schedule is cosine, --target-accuracy, --threads, "
                + "--max-minutes and --max-steps may change), \(fresh)."
        case let .scansDiffer(f, saved, now):
            return "\(f) belongs to a run on other scans (it trained on \(saved.train) and validated on \(saved.validation); "
                + "these are \(now.train) and \(now.validation), or the same number with other contents); "
                + "resume with the same DATA folders and options that split them (--seed, --validation-fraction, --holdout-fraction), \(fresh)."
        case let .modelMissing(f, model):
            return "\(f) keeps its best model so far in \(model), which is missing; put it back, \(fresh)."
        case let .notAResNet18(f, reason):
            return "the resume checkpoint \(f) does not hold a ResNet18 and its Adam state: \(reason); delete it to start afresh, \(fresh)."
        }
    }
}
