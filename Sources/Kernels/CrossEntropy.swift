import XRayCore

/// Softmax cross-entropy averaged over the batch, as torch.nn.CrossEntropyLoss(weight:):
/// loss = Σ_i w[y_i]·(−log softmax(z_i)[y_i]) / Σ_i w[y_i] (w = 1 without class weights).
public enum CrossEntropy {
    /// Returns the loss and dL/dlogits [N, classes]: w[y_i]·(softmax(z_i) − onehot(y_i)) / Σ w[y_i].
    /// Computed in Double.
    public static func forward(logits: Tensor, labels: [Int], classWeights: [Float]? = nil) -> (loss: Float, gradLogits: Tensor) {
        precondition(logits.shape.count == 2 && logits.shape[0] == labels.count, "cross-entropy: logits \(logits.shape) vs \(labels.count) labels")
        let (n, k) = (logits.shape[0], logits.shape[1])
        precondition(labels.allSatisfy { (0..<k).contains($0) }, "cross-entropy: a label is outside 0..<\(k)")
        if let classWeights { precondition(classWeights.count == k, "cross-entropy: \(classWeights.count) class weights for \(k) classes") }
        var grad = [Float](repeating: 0, count: n * k)
        var total = 0.0, weightSum = 0.0
        var probabilities = [Double](repeating: 0, count: k)
        for i in 0..<n {
            let row = logits.scalars[(i * k)..<((i + 1) * k)]
            let m = Double(row.max()!)
            var sum = 0.0
            for (j, z) in row.enumerated() { probabilities[j] = Elementary.exp(Double(z) - m); sum += probabilities[j] }
            let w = Double(classWeights?[labels[i]] ?? 1)
            total += w * (m + Elementary.log(sum) - Double(row[row.startIndex + labels[i]]))
            weightSum += w
            for j in 0..<k { probabilities[j] /= sum }
            probabilities[labels[i]] -= 1
            for j in 0..<k { grad[i * k + j] = Float(w * probabilities[j]) }
        }
        precondition(weightSum > 0, "cross-entropy: the targets' class weights sum to zero")
        for j in grad.indices { grad[j] = Float(Double(grad[j]) / weightSum) }
        return (Float(total / weightSum), Tensor(shape: logits.shape, scalars: grad))
    }
}

/// eˣ and ln x in Double without libm (Kernels imports no C maths), accurate to a few ulp.
enum Elementary {
    /// Cody–Waite reduction x = k·ln2 + r, then a degree-13 Taylor polynomial, scaled by 2ᵏ.
    static func exp(_ x: Double) -> Double {
        if x.isNaN { return x }
        if x > 709.78 { return .infinity }
        if x < -745.2 { return 0 }
        let ln2Hi = 6.93147180369123816490e-01, ln2Lo = 1.90821492927058770002e-10
        let k = (x / 0.693147180559945309417).rounded()
        let r = (x - k * ln2Hi) - k * ln2Lo
        var p = 1.0
        for i in stride(from: 13, through: 1, by: -1) { p = 1 + p * r / Double(i) }
        return Double(sign: .plus, exponent: Int(k), significand: p)
    }

    /// x = 2ᵉ·m with m in [√½, √2), ln m = 2·atanh((m − 1)/(m + 1)) by its series.
    static func log(_ x: Double) -> Double {
        if x.isNaN || x < 0 { return .nan }
        if x == 0 { return -.infinity }
        if x.isInfinite { return x }
        var e = Double(x.exponent), m = x.significand
        if m > 2.0.squareRoot() { m /= 2; e += 1 }
        let t = (m - 1) / (m + 1), t2 = t * t
        var term = t, sum = 0.0
        for i in stride(from: 1, through: 41, by: 2) { sum += term / Double(i); term *= t2 }
        return 2 * sum + e * 0.693147180559945309417232121458
    }
}
