import Foundation
import Pipeline

/// How fast a training run goes and how long it has left, from the steps and wall time since the
/// last report: the line `train` prints after each validation of a long run.
///
/// Wall time includes the validations and checkpoint writes, so the time per epoch and the time left
/// are what a person waits; the run stops at the end of its epochs or, when a limit is set, at the
/// first validation past `maxSteps` or past the time limit, whichever comes first.
public struct TrainingSpeed: Sendable, Equatable {
    public enum Limit: Sendable, Equatable {
        case epochs, steps, time
    }

    public let imagesPerSecond: Double
    public let secondsPerEpoch: Double
    public let step: Int
    /// The step the run is expected to stop at.
    public let lastStep: Int
    public let secondsLeft: Double
    /// What ends the run first.
    public let limit: Limit

    /// - Parameters:
    ///   - steps, images, seconds: trained since the last report (wall time).
    ///   - stepsPerEpoch: steps trained per epoch (`steps(images:batchSize:)`).
    ///   - secondsToTimeLimit: what is left of the time limit (negative when it has passed), or nil.
    public init(steps: Int, images: Int, seconds: Double, step: Int, stepsPerEpoch: Int, epochs: Int, evalEvery: Int,
                maxSteps: Int?, secondsToTimeLimit: Double?) {
        let seconds = max(seconds, 1e-9), perStep = seconds / Double(max(1, steps))
        imagesPerSecond = Double(images) / seconds
        secondsPerEpoch = perStep * Double(stepsPerEpoch)
        self.step = step
        // Limits are checked at validations: the first one at or after a step.
        func validation(atOrAfter s: Int) -> Int { max(step, (s + evalEvery - 1) / evalEvery * evalEvery) }
        var last = max(step, stepsPerEpoch * epochs), limit = Limit.epochs
        if let maxSteps, validation(atOrAfter: maxSteps) < last {
            last = validation(atOrAfter: maxSteps)
            limit = .steps
        }
        if let left = secondsToTimeLimit {
            let stop = left <= 0 ? step : validation(atOrAfter: step + Int((left / perStep).rounded(.up)))
            if stop < last {
                last = stop
                limit = .time
            }
        }
        lastStep = last
        self.limit = limit
        secondsLeft = Double(last - step) * perStep
    }

    /// Steps one epoch of `images` trains: whole batches, and a last smaller one of two images or more.
    public static func steps(images: Int, batchSize: Int) -> Int {
        images / batchSize + (images % batchSize >= 2 ? 1 : 0)
    }

    /// `speed: 14.2 images/s, 8 min 36 s per epoch; step 40 of 2500, 2 h 31 min left`, the step
    /// count followed by `(step limit)` or `(time limit)` when a limit ends the run first.
    public var line: String {
        let until = switch limit {
        case .epochs: ""
        case .steps: " (step limit)"
        case .time: " (time limit)"
        }
        return String(format: "speed: %.1f images/s, %@ per epoch; step %d of %d%@, %@ left",
                      imagesPerSecond, Self.duration(secondsPerEpoch), step, lastStep, until, Self.duration(secondsLeft))
    }

    /// `trained 2400 images in 31 min 12 s: 1.28 images/s`, and this sitting's figures after a resume.
    public static func summary(images: Int, seconds: Double, sitting: (images: Int, seconds: Double)?) -> String {
        func part(_ images: Int, _ seconds: Double) -> String {
            String(format: "%d images in %@: %.2f images/s", images, duration(seconds), Double(images) / max(seconds, 1e-9))
        }
        return "trained " + part(images, seconds) + (sitting.map { "; this sitting " + part($0.images, $0.seconds) } ?? "")
    }

    /// `42 s`, `8 min 36 s`, `2 h 31 min`.
    public static func duration(_ seconds: Double) -> String {
        let s = Int(max(0, seconds).rounded())
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min \(s % 60) s" }
        let m = (s + 30) / 60
        return "\(m / 60) h \(m % 60) min"
    }
}
