import Foundation

/// Temperature scaling (Guo et al. 2017): one scalar T > 0 that divides the logits so that the
/// softmax probabilities are calibrated, fitted by minimising the negative log-likelihood on
/// held-out data. It never changes which class is predicted.
public enum TemperatureScaling {
    /// Mean cross-entropy of softmax(logits / t) against the labels.
    public static func negativeLogLikelihood(logits: [[Float]], labels: [Int], temperature t: Double) -> Double {
        var total = 0.0
        for (row, y) in zip(logits, labels) {
            let z = row.map { Double($0) / t }
            let m = z.max()!
            let lse = m + Foundation.log(z.reduce(0) { $0 + Foundation.exp($1 - m) })
            total += lse - z[y]
        }
        return total / Double(labels.count)
    }

    /// The T minimising the NLL. NLL is convex in 1/T, so a golden-section search over
    /// log T in [1/100, 100] finds the minimum; the result is clamped to that range.
    public static func fit(logits: [[Float]], labels: [Int]) -> Double {
        precondition(logits.count == labels.count && !labels.isEmpty)
        let f = { (logT: Double) in negativeLogLikelihood(logits: logits, labels: labels, temperature: Foundation.exp(logT)) }
        var a = Foundation.log(0.01), b = Foundation.log(100.0)
        let g = (Foundation.sqrt(5.0) - 1) / 2
        var c = b - g * (b - a), d = a + g * (b - a)
        var fc = f(c), fd = f(d)
        for _ in 0..<80 {
            if fc < fd { b = d; d = c; fd = fc; c = b - g * (b - a); fc = f(c) } else { a = c; c = d; fc = fd; d = a + g * (b - a); fd = f(d) }
        }
        return Foundation.exp((a + b) / 2)
    }

    /// Softmax of logits / T, in Double.
    public static func probabilities(_ logits: [Float], temperature t: Double) -> [Double] {
        let z = logits.map { Double($0) / t }
        let m = z.max()!
        let e = z.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }
}
