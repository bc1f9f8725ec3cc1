import XRayCore

extension Linear {
    /// Gradients of y = x·Wᵀ + b for dL/dy [N, out]: dx = dy·W [N, in], dW = dyᵀ·x [out, in], db = Σ_n dy [out].
    public static func backward(input x: Tensor, weight: Tensor, gradOutput dy: Tensor)
        -> (gradInput: Tensor, gradWeight: Tensor, gradBias: Tensor) {
        precondition(x.shape.count == 2 && weight.shape.count == 2 && x.shape[1] == weight.shape[1]
                     && dy.shape == [x.shape[0], weight.shape[0]], "linear backward: x \(x.shape), W \(weight.shape), dy \(dy.shape)")
        let (n, k, m) = (x.shape[0], x.shape[1], weight.shape[0])
        let dx = PackedGEMM.multiply(dy.scalars, weight.scalars, m: n, n: k, k: m)
        let dw = PackedGEMM.multiply(dy.scalars, x.scalars, m: m, n: k, k: n, transA: true)
        var db = [Float](repeating: 0, count: m)
        for i in 0..<n { for j in 0..<m { db[j] += dy.scalars[i * m + j] } }
        return (Tensor(shape: x.shape, scalars: dx), Tensor(shape: weight.shape, scalars: dw), Tensor(shape: [m], scalars: db))
    }
}
