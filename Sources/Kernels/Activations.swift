import XRayCore

/// max(x, 0) elementwise.
public enum ReLU {
    public static func forward(_ x: Tensor) -> Tensor {
        Tensor(shape: x.shape, scalars: x.scalars.map { max($0, 0) })
    }

    package static func forward(inPlace x: FeatureMap) {
        for i in 0..<x.count { x.base[i] = max(x.base[i], 0) }
    }
}

/// Softmax along the last dimension, computed stably (max subtracted, sums in Double).
public enum Softmax {
    public static func forward(_ x: Tensor) -> Tensor {
        precondition(!x.shape.isEmpty, "softmax needs at least one dimension")
        let n = x.shape.last!
        var out = x.scalars
        guard n > 0 else { return x }
        for start in stride(from: 0, to: out.count, by: n) {
            let row = out[start..<(start + n)]
            let m = row.max()!
            var sum = 0.0
            for i in start..<(start + n) { let e = Elementary.exp(Double(out[i] - m)); out[i] = Float(e); sum += e }
            for i in start..<(start + n) { out[i] = Float(Double(out[i]) / sum) }
        }
        return Tensor(shape: x.shape, scalars: out)
    }

    /// Softmax of one row.
    public static func forward(_ row: [Float]) -> [Float] {
        forward(Tensor(shape: [row.count], scalars: row)).scalars
    }
}

/// Elementwise a + b (same shape).
public enum Add {
    public static func forward(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "add: shapes \(a.shape) and \(b.shape) differ")
        return Tensor(shape: a.shape, scalars: zip(a.scalars, b.scalars).map { $0 + $1 })
    }

    package static func forward(_ a: FeatureMap, plus b: FeatureMap, into out: FeatureMap) {
        precondition(a.shape == b.shape && a.shape == out.shape, "add: shapes \(a.shape), \(b.shape), \(out.shape) differ")
        for i in 0..<a.count { out.base[i] = a.base[i] + b.base[i] }
    }
}
