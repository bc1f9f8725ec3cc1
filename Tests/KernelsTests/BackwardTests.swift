import Foundation
import Testing
import TestSupport
import XRayCore
@testable import Kernels

// Gradient checks for the training kernels: each analytic gradient against central finite
// differences of the float32 forward, with the scalar objective L = Σ y·R (R fixed, hash-generated)
// accumulated in Double. Tolerance: |fd − analytic| ≤ tol · max|analytic| over the checked entries.

/// Central differences of `f` at up to `samples` entries of `x` (evenly spread), vs `analytic`.
/// Returns the worst error relative to max|analytic|.
func finiteDifferenceError(_ x: [Float], analytic: [Float], epsilon: Float, samples: Int = 48,
                           _ f: ([Float]) -> Double) -> Double {
    precondition(x.count == analytic.count)
    let scale = Double(analytic.map { abs($0) }.max() ?? 0)
    let step = max(1, x.count / samples)
    var worst = 0.0
    for i in stride(from: 0, to: x.count, by: step) {
        var plus = x, minus = x
        plus[i] += epsilon
        minus[i] -= epsilon
        let h = Double(plus[i]) - Double(minus[i])  // the float step actually taken
        let fd = (f(plus) - f(minus)) / h
        worst = max(worst, abs(fd - Double(analytic[i])) / max(scale, 1e-12))
    }
    return worst
}

/// Σ y·r in Double.
func dot(_ y: [Float], _ r: [Float]) -> Double {
    precondition(y.count == r.count)
    return zip(y, r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
}

@Suite struct BackwardTests {
    
    
    static let convShapes: [(name: String, input: [Int], weight: [Int], stride: Int, padding: Int)] = [
        ("fd_3x3_s1", [2, 3, 7, 6], [4, 3, 3, 3], 1, 1),
        ("fd_3x3_s2", [2, 3, 7, 6], [4, 3, 3, 3], 2, 1),
        ("fd_7x7_s2", [2, 3, 11, 9], [2, 3, 7, 7], 2, 3),
        ("fd_1x1_s2", [2, 4, 7, 6], [3, 4, 1, 1], 2, 0),
        ("fd_1x1_s1", [2, 4, 5, 5], [3, 4, 1, 1], 1, 0),
        ("fd_3x3_s1_p0", [2, 2, 6, 6], [3, 2, 3, 3], 1, 0),
    ]

    @Test(arguments: convShapes.indices)
    func convolutionGradientsMatchFiniteDifferences(_ index: Int) {
        let c = Self.convShapes[index]
        let x = hashUniform("\(c.name).x", c.input, -1, 1), w = hashUniform("\(c.name).w", c.weight, -0.5, 0.5)
        let y = Conv2D.forwardTraining(x, weight: w, stride: c.stride, padding: c.padding)
        let r = hashUniform("\(c.name).r", y.shape, -1, 1)
        // The training forward agrees with the inference forward (zero bias).
        expectClose(y.scalars, Conv2D.forward(x, weight: w, bias: nil, stride: c.stride, padding: c.padding).scalars,
                    rtol: 1e-5, atol: 1e-6, "\(c.name) forward")
        for threads in [1, 2] {
            let (dx, dw) = Conv2D.backward(input: x, weight: w, gradOutput: r, stride: c.stride, padding: c.padding, threads: threads)
            let ex = finiteDifferenceError(x.scalars, analytic: dx.scalars, epsilon: 1e-2) {
                dot(Conv2D.forwardTraining(Tensor(shape: x.shape, scalars: $0), weight: w, stride: c.stride, padding: c.padding).scalars, r.scalars)
            }
            let ew = finiteDifferenceError(w.scalars, analytic: dw.scalars, epsilon: 1e-2) {
                dot(Conv2D.forwardTraining(x, weight: Tensor(shape: w.shape, scalars: $0), stride: c.stride, padding: c.padding).scalars, r.scalars)
            }
            print("\(c.name) threads \(threads): worst relative FD error dx \(ex), dW \(ew)")
            #expect(ex < 1e-3 && ew < 1e-3, "\(c.name): dx \(ex), dW \(ew)")
        }
    }

    @Test func col2imIsTheAdjointOfIm2col() {
        // <im2col(x), c> == <x, col2im(c)> for random x and c.
        let g = ConvGeometry(inChannels: 3, outChannels: 1, kernel: 3, stride: 2, padding: 1)
        let x = hashUniform("adj.x", [3, 7, 8], -1, 1)
        let colX = Im2Col.matrix(x.scalars, channels: 3, height: 7, width: 8, geometry: g)
        let c = hashUniform("adj.c", [colX.count], -1, 1).scalars
        let back = Im2Col.image(fromMatrix: c, channels: 3, height: 7, width: 8, geometry: g)
        #expect(abs(dot(colX, c) - dot(x.scalars, back)) < 1e-9 * Double(c.count))
    }

    @Test func batchNormTrainingForwardMatchesDefinition() {
        let x = hashUniform("bn.x", [3, 4, 5, 3], -2, 3)
        let gamma = hashUniform("bn.gamma", [4], 0.5, 1.5), beta = hashUniform("bn.beta", [4], -0.5, 0.5)
        let (y, mean, variance) = BatchNorm.trainingForward(x, gamma: gamma, beta: beta)
        let plane = 15, m = 45
        for c in 0..<4 {
            var values: [Double] = []
            for n in 0..<3 { for j in 0..<plane { values.append(Double(x.scalars[(n * 4 + c) * plane + j])) } }
            let mu = values.reduce(0, +) / Double(m)
            let v = values.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(m)
            #expect(abs(Double(mean[c]) - mu) < 1e-6 && abs(Double(variance[c]) - v) < 1e-5)
            for n in 0..<3 {
                for j in 0..<plane {
                    let i = (n * 4 + c) * plane + j
                    let ref = (Double(x.scalars[i]) - mu) / (v + 1e-5).squareRoot() * Double(gamma.scalars[c]) + Double(beta.scalars[c])
                    #expect(abs(Double(y.scalars[i]) - ref) < 1e-5)
                }
            }
        }
        var runningMean: [Float] = [0.5, 0, 0, 0], runningVar: [Float] = [2, 1, 1, 1]
        BatchNorm.updateRunningStatistics(runningMean: &runningMean, runningVar: &runningVar, mean: mean, variance: variance,
                                          channels: 4, count: m)
        #expect(abs(runningMean[0] - (0.9 * 0.5 + 0.1 * mean[0])) < 1e-6)
        #expect(abs(runningVar[0] - (0.9 * 2 + 0.1 * variance[0] * 45 / 44)) < 1e-5)
    }

    @Test func batchNormTrainingGradientsMatchFiniteDifferences() {
        let x = hashUniform("bnfd.x", [3, 4, 5, 3], -2, 3)
        let gamma = hashUniform("bnfd.gamma", [4], 0.5, 1.5), beta = hashUniform("bnfd.beta", [4], -0.5, 0.5)
        let r = hashUniform("bnfd.r", x.shape, -1, 1)
        let (dx, dg, db) = BatchNorm.trainingBackward(gradOutput: r, input: x, gamma: gamma)
        func loss(_ x: Tensor, _ g: Tensor, _ b: Tensor) -> Double { dot(BatchNorm.trainingForward(x, gamma: g, beta: b).output.scalars, r.scalars) }
        let ex = finiteDifferenceError(x.scalars, analytic: dx.scalars, epsilon: 1e-2, samples: 180) { loss(Tensor(shape: x.shape, scalars: $0), gamma, beta) }
        let eg = finiteDifferenceError(gamma.scalars, analytic: dg.scalars, epsilon: 1e-2) { loss(x, Tensor(shape: [4], scalars: $0), beta) }
        let eb = finiteDifferenceError(beta.scalars, analytic: db.scalars, epsilon: 1e-2) { loss(x, gamma, Tensor(shape: [4], scalars: $0)) }
        print("batch norm (train): worst relative FD error dx \(ex), dγ \(eg), dβ \(eb)")
        #expect(ex < 2e-3 && eg < 1e-3 && eb < 1e-3)
    }

    @Test func reluGradientMatchesFiniteDifferencesAwayFromTheKink() {
        // |x| ≥ 0.05 so that ±ε never crosses 0.
        let raw = hashUniform("relu.x", [2, 3, 4, 4], -1, 1).scalars
        let x = raw.map { $0 < 0 ? $0 - 0.05 : $0 + 0.05 }
        let r = hashUniform("relu.r", [2, 3, 4, 4], -1, 1)
        let y = ReLU.forward(Tensor(shape: r.shape, scalars: x))
        let dx = ReLU.backward(gradOutput: r, output: y)
        let e = finiteDifferenceError(x, analytic: dx.scalars, epsilon: 1e-2, samples: 96) { dot(ReLU.forward(Tensor(shape: r.shape, scalars: $0)).scalars, r.scalars) }
        #expect(e < 1e-4)
    }

    @Test func maxPoolGradientMatchesFiniteDifferencesWithoutTies() {
        // A permutation of evenly spaced values: no ties, gaps (0.0046) far above 2ε.
        let shape = [2, 3, 9, 8], n = 432
        var order = Array(0..<n)
        var state: UInt64 = 12345
        for i in stride(from: n - 1, to: 0, by: -1) {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            order.swapAt(i, Int((state >> 33) % UInt64(i + 1)))
        }
        let x = order.map { Float($0) / Float(n) * 2 - 1 }
        let pooledShape = [2, 3, MaxPool2D.outputSize(9, kernel: 3, stride: 2, padding: 1), MaxPool2D.outputSize(8, kernel: 3, stride: 2, padding: 1)]
        let r = hashUniform("pool.r", pooledShape, -1, 1)
        let dx = MaxPool2D.backward(input: Tensor(shape: shape, scalars: x), gradOutput: r, kernel: 3, stride: 2, padding: 1)
        let e = finiteDifferenceError(x, analytic: dx.scalars, epsilon: 1e-3, samples: n) {
            dot(MaxPool2D.forward(Tensor(shape: shape, scalars: $0), kernel: 3, stride: 2, padding: 1).scalars, r.scalars)
        }
        #expect(e < 1e-3)
    }

    @Test func maxPoolGradientGoesToTheFirstMaximumOnTies() {
        // All equal: PyTorch routes each window's gradient to its first element in scan order.
        let x = Tensor(shape: [1, 1, 4, 4], scalars: [Float](repeating: 1, count: 16))
        let dx = MaxPool2D.backward(input: x, gradOutput: Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4]), kernel: 3, stride: 2, padding: 1)
        // Windows start at (−1,−1), (−1,1), (1,−1), (1,1): first in-image elements (0,0), (0,1), (1,0), (1,1).
        #expect(dx.scalars == [1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func averagePoolAndLinearGradientsMatchFiniteDifferences() {
        let x = hashUniform("gap.x", [2, 5, 3, 4], -1, 1)
        let r = hashUniform("gap.r", [2, 5], -1, 1)
        let dx = GlobalAveragePool.backward(gradOutput: r, height: 3, width: 4)
        let eg = finiteDifferenceError(x.scalars, analytic: dx.scalars, epsilon: 1e-2) { dot(GlobalAveragePool.forward(Tensor(shape: x.shape, scalars: $0)).scalars, r.scalars) }

        let a = hashUniform("lin.x", [3, 6], -1, 1), w = hashUniform("lin.w", [4, 6], -1, 1), b = hashUniform("lin.b", [4], -1, 1)
        let rl = hashUniform("lin.r", [3, 4], -1, 1)
        let (da, dw, db) = Linear.backward(input: a, weight: w, gradOutput: rl)
        let ea = finiteDifferenceError(a.scalars, analytic: da.scalars, epsilon: 1e-2) { dot(Linear.forward(Tensor(shape: a.shape, scalars: $0), weight: w, bias: b).scalars, rl.scalars) }
        let ew = finiteDifferenceError(w.scalars, analytic: dw.scalars, epsilon: 1e-2) { dot(Linear.forward(a, weight: Tensor(shape: w.shape, scalars: $0), bias: b).scalars, rl.scalars) }
        let eb = finiteDifferenceError(b.scalars, analytic: db.scalars, epsilon: 1e-2) { dot(Linear.forward(a, weight: w, bias: Tensor(shape: [4], scalars: $0)).scalars, rl.scalars) }
        print("avg pool dx \(eg); linear dx \(ea), dW \(ew), db \(eb)")
        #expect(eg < 1e-4 && ea < 1e-4 && ew < 1e-4 && eb < 1e-4)
    }

    @Test(arguments: [false, true])
    func crossEntropyGradientMatchesFiniteDifferences(weighted: Bool) {
        let z = hashUniform("ce.z", [5, 3], -3, 3), labels = [0, 2, 1, 1, 2]
        let weights: [Float]? = weighted ? [1, 2.5, 0.5] : nil
        let (loss, dz) = CrossEntropy.forward(logits: z, labels: labels, classWeights: weights)
        // Reference: Σ w_y·(logsumexp − z_y) / Σ w_y in Double (PyTorch's weighted mean).
        var total = 0.0, wsum = 0.0
        for i in 0..<5 {
            let row = (0..<3).map { Double(z.scalars[i * 3 + $0]) }
            let lse = log(row.map { Foundation.exp($0) }.reduce(0, +))
            let w = Double(weights?[labels[i]] ?? 1)
            total += w * (lse - row[labels[i]])
            wsum += w
        }
        #expect(abs(Double(loss) - total / wsum) < 1e-6)
        let e = finiteDifferenceError(z.scalars, analytic: dz.scalars, epsilon: 1e-3, samples: 15) {
            Double(CrossEntropy.forward(logits: Tensor(shape: z.shape, scalars: $0), labels: labels, classWeights: weights).loss)
        }
        #expect(e < 2e-3, "cross-entropy (weighted: \(weighted)) FD error \(e)")
    }

    /// relu(bn2(conv2(relu(bn1(conv1(x))))) + x), composed from the kernels; backward likewise.
    @Test func residualBlockGradientMatchesFiniteDifferences() {
        let x = hashUniform("block.x", [2, 4, 5, 5], -1, 1)
        let w1 = hashUniform("block.w1", [4, 4, 3, 3], -0.4, 0.4), w2 = hashUniform("block.w2", [4, 4, 3, 3], -0.4, 0.4)
        let g1 = hashUniform("block.g1", [4], 0.8, 1.2), b1 = hashUniform("block.b1", [4], -0.1, 0.1)
        let g2 = hashUniform("block.g2", [4], 0.8, 1.2), b2 = hashUniform("block.b2", [4], -0.1, 0.1)
        let r = hashUniform("block.r", x.shape, -1, 1)
        func forward(_ x: Tensor) -> (z1: Tensor, a1: Tensor, z2: Tensor, out: Tensor) {
            let z1 = Conv2D.forwardTraining(x, weight: w1, padding: 1)
            let a1 = ReLU.forward(BatchNorm.trainingForward(z1, gamma: g1, beta: b1).output)
            let z2 = Conv2D.forwardTraining(a1, weight: w2, padding: 1)
            let out = ReLU.forward(Add.forward(BatchNorm.trainingForward(z2, gamma: g2, beta: b2).output, x))
            return (z1, a1, z2, out)
        }
        let f = forward(x)
        let gSum = ReLU.backward(gradOutput: r, output: f.out)
        let dz2 = BatchNorm.trainingBackward(gradOutput: gSum, input: f.z2, gamma: g2).gradInput
        let da1 = Conv2D.backward(input: f.a1, weight: w2, gradOutput: dz2, padding: 1).gradInput
        let dz1 = BatchNorm.trainingBackward(gradOutput: ReLU.backward(gradOutput: da1, output: f.a1), input: f.z1, gamma: g1).gradInput
        let dx = Add.forward(Conv2D.backward(input: x, weight: w1, gradOutput: dz1, padding: 1).gradInput, gSum)
        // Skip points where ±ε moves a ReLU input across 0 (as ggml's grad_expect does at kinks).
        func pattern(_ f: (z1: Tensor, a1: Tensor, z2: Tensor, out: Tensor)) -> [Bool] { f.a1.scalars.map { $0 > 0 } + f.out.scalars.map { $0 > 0 } }
        let base = pattern(f), scale = Double(dx.scalars.map { abs($0) }.max()!)
        var e = 0.0, checked = 0
        for i in stride(from: 0, to: x.count, by: 2) {
            var plus = x.scalars, minus = x.scalars
            plus[i] += 1e-3
            minus[i] -= 1e-3
            let fp = forward(Tensor(shape: x.shape, scalars: plus)), fm = forward(Tensor(shape: x.shape, scalars: minus))
            guard pattern(fp) == base, pattern(fm) == base else { continue }
            let fd = (dot(fp.out.scalars, r.scalars) - dot(fm.out.scalars, r.scalars)) / (Double(plus[i]) - Double(minus[i]))
            e = max(e, abs(fd - Double(dx.scalars[i])) / scale)
            checked += 1
        }
        #expect(checked >= 40, "only \(checked) points away from ReLU kinks")
        print("residual block: worst relative FD error dx \(e) over \(checked) points")
        #expect(e < 2e-3)
    }
}
