import XRayCore

extension ReLU {
    /// gradient *= (output > 0), in place: the ReLU's backward from its saved output.
    package static func backward(gradient: UnsafeMutablePointer<Float>, output: UnsafePointer<Float>, count: Int) {
        for j in 0..<count where !(output[j] > 0) { gradient[j] = 0 }
    }

    /// The same over a batch, split between `threads`.
    package static func backward(gradient: FeatureBatch, output: FeatureBatch, threads: Int) {
        precondition(gradient.shape == output.shape, "relu backward: \(gradient.shape) != \(output.shape)")
        let n = gradient.count
        Parallel.run(parts: max(1, min(threads, n / 4096))) { part in
            let r = part.range(of: n)
            backward(gradient: gradient.base + r.lowerBound, output: output.base + r.lowerBound, count: r.count)
        }
    }

    /// Tensor convenience: dL/dx for y = relu(x) (the gradient at 0 is 0, as in PyTorch).
    public static func backward(gradOutput: Tensor, output: Tensor) -> Tensor {
        precondition(gradOutput.shape == output.shape)
        return Tensor(shape: output.shape, scalars: zip(gradOutput.scalars, output.scalars).map { $1 > 0 ? $0 : 0 })
    }
}

extension Add {
    /// The residual add's backward: both summands receive the output gradient; this adds it onto
    /// an already-computed gradient (`into += gradient`).
    package static func backward(gradient: FeatureBatch, accumulateInto target: FeatureBatch, threads: Int) {
        precondition(gradient.shape == target.shape, "add backward: \(gradient.shape) != \(target.shape)")
        let n = gradient.count
        Parallel.run(parts: max(1, min(threads, n / 4096))) { part in
            for j in part.range(of: n) { target.base[j] += gradient.base[j] }
        }
    }
}
