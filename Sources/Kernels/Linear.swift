import XRayCore

/// Fully connected layer: y = x · Wᵀ + b.
public enum Linear {
    /// x [N, in], weight [out, in], bias [out] → [N, out].
    public static func forward(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(x.shape.count == 2 && weight.shape.count == 2 && x.shape[1] == weight.shape[1],
                     "linear: input \(x.shape) does not match weight \(weight.shape)")
        let (n, k, m) = (x.shape[0], x.shape[1], weight.shape[0])
        if let bias { precondition(bias.shape == [m], "linear bias must be [\(m)], got \(bias.shape)") }
        var y = PackedGEMM.multiply(x.scalars, weight.scalars, m: n, n: m, k: k, transB: true)
        if let bias {
            for i in 0..<n { for j in 0..<m { y[i * m + j] += bias.scalars[j] } }
        }
        return Tensor(shape: [n, m], scalars: y)
    }
}
