import XRayCore

/// Batch normalisation in training mode, as PyTorch's BatchNorm2d: normalise with the batch mean
/// and biased variance over (N, H, W), update the running statistics with the unbiased variance,
/// and back-propagate through the batch statistics.
extension BatchNorm {
    package static let defaultMomentum: Float = 0.1

    /// Per-channel batch mean, biased variance and 1/√(var + ε) over all images and positions.
    /// Two passes (mean, then squared deviations); plane sums in float lanes, totals in Double.
    package static func batchStatistics(_ x: FeatureBatch, mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>,
                                       invStd: UnsafeMutablePointer<Float>, epsilon: Float = defaultEpsilon, threads: Int) {
        let plane = x.planeSize, total = Double(x.images * plane)
        precondition(total > 0, "batch norm over an empty batch")
        Parallel.run(parts: max(1, min(threads, x.channels))) { part in
            for c in part.range(of: x.channels) {
                var s = 0.0
                for i in 0..<x.images { s += Double(laneSum(x.plane(i, c), plane)) }
                let m = s / total
                var q = 0.0
                let mf = Float(m)
                for i in 0..<x.images { q += Double(laneSquaredDeviation(x.plane(i, c), plane, from: mf)) }
                // Correct for rounding the mean to float: Σ(x−m)² = Σ(x−mf)² − n(m−mf)².
                let d = m - Double(mf)
                let v = max(0, q / total - d * d)
                mean[c] = Float(m)
                variance[c] = Float(v)
                invStd[c] = Float(1 / (v + Double(epsilon)).squareRoot())
            }
        }
    }

    /// running = (1 − momentum)·running + momentum·batch, with the batch variance made unbiased (n/(n−1)).
    package static func updateRunningStatistics(runningMean: UnsafeMutablePointer<Float>, runningVar: UnsafeMutablePointer<Float>,
                                               mean: UnsafePointer<Float>, variance: UnsafePointer<Float>, channels: Int,
                                               count n: Int, momentum: Float = defaultMomentum) {
        let unbias = n > 1 ? Double(n) / Double(n - 1) : 1
        for c in 0..<channels {
            runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean[c]
            runningVar[c] = (1 - momentum) * runningVar[c] + momentum * Float(Double(variance[c]) * unbias)
        }
    }

    /// y = x·α + β′ with α = invStd·γ and β′ = β − mean·α (PyTorch's form), then + residual and
    /// ReLU if asked. `y` may alias `x`.
    package static func trainingForward(_ x: FeatureBatch, mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
                                       gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, residual: FeatureBatch? = nil,
                                       relu: Bool = false, into y: FeatureBatch, threads: Int) {
        precondition(y.shape == x.shape, "batch norm output \(y.shape) != input \(x.shape)")
        if let residual { precondition(residual.shape == x.shape, "residual \(residual.shape) != \(x.shape)") }
        let plane = x.planeSize, c = x.channels
        Parallel.run(parts: max(1, min(threads, x.images * c))) { part in
            for ic in part.range(of: x.images * c) {
                let ch = ic % c
                let a = invStd[ch] * gamma[ch], b = beta[ch] - mean[ch] * a
                let src = x.base + ic * plane, dst = y.base + ic * plane
                if let residual {
                    let r = residual.base + ic * plane
                    if relu {
                        for j in 0..<plane { dst[j] = max(src[j] * a + b + r[j], 0) }
                    } else {
                        for j in 0..<plane { dst[j] = src[j] * a + b + r[j] }
                    }
                } else if relu {
                    for j in 0..<plane { dst[j] = max(src[j] * a + b, 0) }
                } else {
                    for j in 0..<plane { dst[j] = src[j] * a + b }
                }
            }
        }
    }

    /// Gradients through training-mode batch norm, given dL/dy (already through any ReLU):
    /// dγ = Σ dy·x̂, dβ = Σ dy, dx = γ·invStd·(dy − Σdy/M − x̂·Σ(dy·x̂)/M) with x̂ = (x − mean)·invStd.
    /// `gradInput` may alias `gradOutput`.
    package static func trainingBackward(gradOutput dy: FeatureBatch, input x: FeatureBatch, mean: UnsafePointer<Float>,
                                        invStd: UnsafePointer<Float>, gamma: UnsafePointer<Float>, gradInput dx: FeatureBatch,
                                        gradGamma: UnsafeMutablePointer<Float>, gradBeta: UnsafeMutablePointer<Float>, threads: Int) {
        precondition(dy.shape == x.shape && dx.shape == x.shape, "batch norm backward: shapes \(dy.shape), \(x.shape), \(dx.shape)")
        let plane = x.planeSize, total = Double(x.images * plane)
        Parallel.run(parts: max(1, min(threads, x.channels))) { part in
            for c in part.range(of: x.channels) {
                let m = mean[c]
                var sdy = 0.0, sdyx = 0.0
                for i in 0..<x.images {
                    let (a, b) = laneGradientSums(dy.plane(i, c), x.plane(i, c), plane, mean: m)
                    sdy += Double(a)
                    sdyx += Double(b)
                }
                let istd = Double(invStd[c])
                gradGamma[c] = Float(sdyx * istd)
                gradBeta[c] = Float(sdy)
                // dx = dy·s − (x − m)·k − o, with s = γ·istd, k = s·istd²·Σ(dy(x−m))/M, o = s·Σdy/M.
                let s = Double(gamma[c]) * istd
                let k = Float(s * istd * istd * sdyx / total), o = Float(s * sdy / total), sf = Float(s)
                for i in 0..<x.images {
                    let g = dy.plane(i, c), xi = x.plane(i, c), out = dx.plane(i, c)
                    for j in 0..<plane { out[j] = g[j] * sf - (xi[j] - m) * k - o }
                }
            }
        }
    }

    // MARK: Tensor conveniences (tests)

    /// Training-mode forward on [N, C, H, W]: returns y and the batch mean and biased variance.
    package static func trainingForward(_ x: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float = defaultEpsilon)
        -> (output: Tensor, mean: [Float], variance: [Float]) {
        let c = x.shape[1]
        let mean = FloatBuffer(count: c), variance = FloatBuffer(count: c), invStd = FloatBuffer(count: c)
        let (y, _) = x.withBatch { xb in
            gamma.scalars.withUnsafeBufferPointer { g in
                beta.scalars.withUnsafeBufferPointer { b in
                    batchStatistics(xb, mean: mean.base, variance: variance.base, invStd: invStd.base, epsilon: epsilon, threads: 1)
                    trainingForward(xb, mean: mean.base, invStd: invStd.base, gamma: g.baseAddress!, beta: b.baseAddress!,
                                    into: xb, threads: 1)
                }
            }
        }
        return (y, mean.array, variance.array)
    }

    /// Training-mode backward on [N, C, H, W]: returns dx, dγ, dβ.
    package static func trainingBackward(gradOutput: Tensor, input x: Tensor, gamma: Tensor, epsilon: Float = defaultEpsilon)
        -> (gradInput: Tensor, gradGamma: Tensor, gradBeta: Tensor) {
        let c = x.shape[1]
        let mean = FloatBuffer(count: c), variance = FloatBuffer(count: c), invStd = FloatBuffer(count: c)
        let dg = FloatBuffer(count: c), db = FloatBuffer(count: c)
        var dxOut = gradOutput
        _ = x.withBatch { xb in
            let (d, _) = gradOutput.withBatch { dyb in
                gamma.scalars.withUnsafeBufferPointer { g in
                    batchStatistics(xb, mean: mean.base, variance: variance.base, invStd: invStd.base, epsilon: epsilon, threads: 1)
                    trainingBackward(gradOutput: dyb, input: xb, mean: mean.base, invStd: invStd.base, gamma: g.baseAddress!,
                                     gradInput: dyb, gradGamma: dg.base, gradBeta: db.base, threads: 2)
                }
            }
            dxOut = d
        }
        return (dxOut, Tensor(shape: [c], scalars: dg.array), Tensor(shape: [c], scalars: db.array))
    }
}

// MARK: Lane-parallel plane sums (eight float accumulators, vectorisable)

@inline(__always)
func laneSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var j = 0
    while j + 8 <= n {
        acc += UnsafeRawPointer(p + j).loadUnaligned(as: SIMD8<Float>.self)
        j += 8
    }
    var s = acc.sum()
    while j < n { s += p[j]; j += 1 }
    return s
}

@inline(__always)
func laneSquaredDeviation(_ p: UnsafePointer<Float>, _ n: Int, from m: Float) -> Float {
    var acc = SIMD8<Float>()
    let mv = SIMD8<Float>(repeating: m)
    var j = 0
    while j + 8 <= n {
        let d = UnsafeRawPointer(p + j).loadUnaligned(as: SIMD8<Float>.self) - mv
        acc += d * d
        j += 8
    }
    var s = acc.sum()
    while j < n { let d = p[j] - m; s += d * d; j += 1 }
    return s
}

/// (Σ g, Σ g·(x − m)) over one plane.
@inline(__always)
func laneGradientSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, mean m: Float) -> (Float, Float) {
    var a = SIMD8<Float>(), b = SIMD8<Float>()
    let mv = SIMD8<Float>(repeating: m)
    var j = 0
    while j + 8 <= n {
        let gv = UnsafeRawPointer(g + j).loadUnaligned(as: SIMD8<Float>.self)
        let xv = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self)
        a += gv
        b += gv * (xv - mv)
        j += 8
    }
    var sa = a.sum(), sb = b.sum()
    while j < n { sa += g[j]; sb += g[j] * (x[j] - m); j += 1 }
    return (sa, sb)
}
