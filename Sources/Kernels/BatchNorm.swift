import XRayCore

/// Batch normalisation in evaluation mode: y = (x − mean) / √(var + ε) · γ + β, per channel.
public enum BatchNorm {
    public static let defaultEpsilon: Float = 1e-5

    /// The four tensors of an eval-mode BatchNorm2d ([C] each) and its ε.
    public struct Parameters: Sendable {
        public var gamma: Tensor
        public var beta: Tensor
        public var runningMean: Tensor
        public var runningVar: Tensor
        public var epsilon: Float

        public init(gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, epsilon: Float = BatchNorm.defaultEpsilon) {
            self.gamma = gamma
            self.beta = beta
            self.runningMean = runningMean
            self.runningVar = runningVar
            self.epsilon = epsilon
        }
    }

    public static func scaleAndShift(_ p: Parameters) -> (scale: [Double], shift: [Double]) {
        scaleAndShift(gamma: p.gamma, beta: p.beta, runningMean: p.runningMean, runningVar: p.runningVar, epsilon: p.epsilon)
    }

    /// Per-channel scale γ/√(var+ε) and shift β − mean·scale, computed in Double.
    public static func scaleAndShift(gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor,
                                     epsilon: Float = defaultEpsilon) -> (scale: [Double], shift: [Double]) {
        let c = gamma.count
        precondition(beta.count == c && runningMean.count == c && runningVar.count == c, "batch norm parameters differ in length")
        var scale = [Double](repeating: 0, count: c), shift = scale
        for i in 0..<c {
            scale[i] = Double(gamma.scalars[i]) / (Double(runningVar.scalars[i]) + Double(epsilon)).squareRoot()
            shift[i] = Double(beta.scalars[i]) - Double(runningMean.scalars[i]) * scale[i]
        }
        return (scale, shift)
    }

    /// Folds an eval-mode batch norm that follows a convolution into the convolution's weight and
    /// bias: W′ = W · scale[cout], b′ = (b − mean) · scale + β. Returns [Cout, Cin, kh, kw] and [Cout].
    public static func fold(convWeight w: Tensor, convBias b: Tensor? = nil, gamma: Tensor, beta: Tensor,
                            runningMean: Tensor, runningVar: Tensor, epsilon: Float = defaultEpsilon) -> (weight: Tensor, bias: Tensor) {
        let cout = w.shape[0]
        precondition(gamma.count == cout, "batch norm has \(gamma.count) channels, conv has \(cout)")
        let (scale, shift) = scaleAndShift(gamma: gamma, beta: beta, runningMean: runningMean, runningVar: runningVar, epsilon: epsilon)
        let per = w.count / cout
        var folded = w.scalars
        var bias = [Float](repeating: 0, count: cout)
        for o in 0..<cout {
            for i in (o * per)..<((o + 1) * per) { folded[i] = Float(Double(w.scalars[i]) * scale[o]) }
            bias[o] = Float(Double(b?.scalars[o] ?? 0) * scale[o] + shift[o])
        }
        return (Tensor(shape: w.shape, scalars: folded), Tensor(shape: [cout], scalars: bias))
    }

    /// Eval-mode forward on [N, C, H, W].
    public static func forward(_ x: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor,
                               epsilon: Float = defaultEpsilon) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] == gamma.count, "batch norm input \(x.shape) does not match \(gamma.count) channels")
        let (scale, shift) = scaleAndShift(gamma: gamma, beta: beta, runningMean: runningMean, runningVar: runningVar, epsilon: epsilon)
        let c = x.shape[1], plane = x.shape[2] * x.shape[3]
        var out = x.scalars
        for i in 0..<out.count {
            let ch = (i / plane) % c
            out[i] = Float(Double(out[i]) * scale[ch] + shift[ch])
        }
        return Tensor(shape: x.shape, scalars: out)
    }
}
