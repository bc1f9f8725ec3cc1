import Dispatch
import Kernels
import ResNet
import XRayCore

/// Times `ResNet18.forward` on a fixed pseudo-random batch (for the CLI's benchmark command).
public enum ForwardBenchmark {
    /// Milliseconds per image of each of `runs` timed forward passes, after `warmup` untimed ones.
    public static func times(model: ResNet18, batch: Int, threads: Int, warmup: Int, runs: Int) -> [Double] {
        precondition(batch >= 1 && runs >= 1 && warmup >= 0)
        let side = model.configuration.inputSize
        let count = batch * 3 * side * side
        var state: UInt32 = 0x9E37_79B9
        let scalars = (0..<count).map { _ -> Float in
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(state >> 8) / Float(1 << 24) * 4 - 2
        }
        let input = Tensor(shape: [batch, 3, side, side], scalars: scalars)
        for _ in 0..<warmup { _ = model.forward(input, threads: threads) }
        var times: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = model.forward(input, threads: threads)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(batch))
        }
        return times
    }
}
