import Foundation
import Testing
import XRayCore

// Shared by the numerical test targets (KernelsTests, ResNetTests, TrainingTests). The hash
// generator mirrors `hash_uniform` in Tests/Fixtures/make_resnet_fixtures.py bit for bit, so
// weights and inputs need not be stored in the fixtures.

/// FNV-1a (32-bit) of the UTF-8 name: the generator's seed.
public func fnv1a(_ name: String) -> UInt32 {
    var h: UInt32 = 0x811C_9DC5
    for b in name.utf8 { h = (h ^ UInt32(b)) &* 0x0100_0193 }
    return h
}

/// float32 in [lo, hi): lowbias32(seed·0x9E3779B9 + i) >> 8, scaled exactly as in the Python script.
public func hashUniform(_ name: String, _ shape: [Int], _ lo: Double, _ hi: Double) -> Tensor {
    let seed = fnv1a(name) &* 0x9E37_79B9
    let span = Float(hi - lo), low = Float(lo)
    let n = shape.reduce(1, *)
    let scalars = (0..<n).map { i -> Float in
        var x = seed &+ UInt32(truncatingIfNeeded: i)
        x ^= x >> 16
        x = x &* 0x7FEB_352D
        x ^= x >> 15
        x = x &* 0x846C_A68B
        x ^= x >> 16
        let u = Float(x >> 8) * 0x1p-24
        return u * span + low
    }
    return Tensor(shape: shape, scalars: scalars)
}

/// Checks |a − b| ≤ atol + rtol·|b| elementwise; on failure records the worst index and error.
public func expectClose(_ a: [Float], _ b: [Float], rtol: Float = 0, atol: Float, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, "\(what): \(a.count) values vs \(b.count)", sourceLocation: sourceLocation)
    guard a.count == b.count else { return }
    var worst = -1, worstExcess: Float = 0, maxError: Float = 0
    for i in a.indices {
        let err = abs(a[i] - b[i])
        maxError = max(maxError, err.isNaN ? .infinity : err)
        let excess = err - (atol + rtol * abs(b[i]))
        if excess > worstExcess || err.isNaN { worst = i; worstExcess = err.isNaN ? .infinity : excess }
    }
    #expect(worst < 0, "\(what): worst at index \(worst): \(worst >= 0 ? a[worst] : 0) vs \(worst >= 0 ? b[worst] : 0) (|err| \(worst >= 0 ? abs(a[worst] - b[worst]) : 0), atol \(atol), rtol \(rtol))", sourceLocation: sourceLocation)
}

public func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Minimal reader for the F32 fixtures written by safetensors.torch (the full reader lives in ResNet).
