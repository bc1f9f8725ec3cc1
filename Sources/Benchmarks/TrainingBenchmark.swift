import Dispatch
import Training
import XRayCore

/// Times `ResNet18Training.trainStep` (forward, backward, Adam) at 224×224 on a random batch with
/// torchvision's initialisation, 3 classes, Adam lr 3e-5 (for the CLI's benchmark command).
public enum TrainingBenchmark {
    /// Median milliseconds per step over `runs` timed steps after `warmup` untimed ones, and images per second.
    public static func run(batch: Int, threads: Int, warmup: Int, runs: Int) -> (msPerStep: Double, imagesPerSecond: Double) {
        precondition(batch >= 2 && runs >= 1 && warmup >= 0, "a training step needs at least 2 images and 1 run")
        let side = 224
        let trainer = ResNet18Training(classes: 3, seed: 1, optimizer: .init(learningRate: 3e-5), threads: threads)
        var rng = SplitMix64(seed: 7)
        let input = Tensor(shape: [batch, 3, side, side],
                           scalars: (0..<(batch * 3 * side * side)).map { _ in Float(rng.next() >> 40) * 0x1p-24 * 4 - 2 })
        let labels = (0..<batch).map { $0 % 3 }
        for _ in 0..<warmup { trainer.trainStep(input: input, labels: labels) }
        var times: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            trainer.trainStep(input: input, labels: labels)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        let median = Statistics.median(times)
        return (median, Double(batch) * 1000 / median)
    }
}
