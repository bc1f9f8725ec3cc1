import Foundation
import Kernels
import ResNet
import XRayCore

/// Adam with torch.optim.Adam's semantics (defaults β = (0.9, 0.999), ε = 1e-8; weight decay is an
/// L2 term added to the gradient, not AdamW's decoupled decay):
///
///     g ← g + λ·p;  m ← m + (1 − β₁)(g − m);  v ← β₂·v + (1 − β₂)·g²
///     p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
///
/// The update runs in float32 in the same order as PyTorch's single-tensor path, with the bias
/// corrections in Double. The moments of all parameters live in two flat buffers laid out like the
/// parameters; `state()` / `restore(_:)` name them `adam.m.<param>` / `adam.v.<param>`.
public final class Adam {
    public struct Configuration: Sendable, Equatable, Codable {
        public var learningRate: Float
        public var beta1: Float
        public var beta2: Float
        public var epsilon: Float
        public var weightDecay: Float

        public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0) {
            self.learningRate = learningRate
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.weightDecay = weightDecay
        }
    }

    public var configuration: Configuration
    /// Updates taken so far (PyTorch's `state['step']`).
    public private(set) var step: Int = 0
    /// (name, shape, offset) of each parameter in the flat buffers.
    public let layout: [(name: String, shape: [Int], offset: Int)]
    public let count: Int
    let m: FloatBuffer
    let v: FloatBuffer

    public static let stepKey = "adam.step"

    public init(parameters: [(name: String, shape: [Int])], configuration: Configuration) {
        var offset = 0
        var layout: [(name: String, shape: [Int], offset: Int)] = []
        for p in parameters {
            layout.append((p.name, p.shape, offset))
            offset += p.shape.reduce(1, *)
        }
        self.layout = layout
        self.count = offset
        self.configuration = configuration
        m = FloatBuffer(count: offset)
        v = FloatBuffer(count: offset)
    }

    /// One update of the parameters in `parameters` in place from `gradients` (flat, in `layout` order).
    package func update(parameters: FloatBuffer, gradients: FloatBuffer, threads: Int = 2) {
        precondition(parameters.count >= count && gradients.count >= count, "Adam: buffers smaller than the \(count) parameters")
        update(parameters: parameters.base, gradients: gradients.base, threads: threads)
    }

    /// One update of all parameters in place from their gradients (flat, in `layout` order).
    public func update(parameters p: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, threads: Int = 2) {
        step += 1
        let c = configuration
        let t = Double(step)
        let bias1 = 1 - pow(Double(c.beta1), t), bias2 = 1 - pow(Double(c.beta2), t)
        let stepSize = Float(Double(c.learningRate) / bias1), bias2Sqrt = Float(bias2.squareRoot())
        let w1 = 1 - c.beta1, b2 = c.beta2, w2 = 1 - c.beta2, eps = c.epsilon, decay = c.weightDecay
        let m = m.base, v = v.base
        Parallel.run(parts: max(1, min(threads, count / 65536))) { part in
            for i in part.range(of: count) {
                var g = gradients[i]
                if decay != 0 { g += decay * p[i] }
                m[i] += w1 * (g - m[i])
                v[i] = v[i] * b2 + w2 * g * g
                p[i] += -stepSize * (m[i] / (v[i].squareRoot() / bias2Sqrt + eps))
            }
        }
    }

    /// The moments (`adam.m.<param>`, `adam.v.<param>`) and the step count (`adam.step`, a scalar).
    public func state() -> [String: Tensor] {
        var out: [String: Tensor] = [Self.stepKey: Tensor(shape: [], scalars: [Float(step)])]
        for (name, shape, offset) in layout {
            let n = shape.reduce(1, *)
            out["adam.m.\(name)"] = Tensor(shape: shape, scalars: Array(UnsafeBufferPointer(start: m.base + offset, count: n)))
            out["adam.v.\(name)"] = Tensor(shape: shape, scalars: Array(UnsafeBufferPointer(start: v.base + offset, count: n)))
        }
        return out
    }

    /// Restores what `state()` returned (e.g. read back from a safetensors file).
    /// - Throws: every missing or mis-shaped moment, or a missing/invalid step.
    public func restore(_ state: [String: Tensor]) throws(ModelError) {
        var problems: [ModelError] = []
        guard let s = state[Self.stepKey], s.count == 1, s.scalars[0] >= 0, s.scalars[0] == s.scalars[0].rounded() else {
            throw .malformed(path: "<adam state>", reason: "\(Self.stepKey) is missing or not a non-negative whole number")
        }
        for (name, shape, _) in layout {
            for key in ["adam.m.\(name)", "adam.v.\(name)"] {
                guard let t = state[key] else { problems.append(.missingTensor(name: key)); continue }
                if t.shape != shape { problems.append(.shapeMismatch(name: key, expected: shape, found: t.shape)) }
            }
        }
        if problems.count == 1 { throw problems[0] }
        if !problems.isEmpty { throw .parameterProblems(problems) }
        for (name, _, offset) in layout {
            state["adam.m.\(name)"]!.scalars.withUnsafeBufferPointer { (m.base + offset).update(from: $0.baseAddress!, count: $0.count) }
            state["adam.v.\(name)"]!.scalars.withUnsafeBufferPointer { (v.base + offset).update(from: $0.baseAddress!, count: $0.count) }
        }
        step = Int(s.scalars[0])
    }

    /// Saves the state as safetensors, the step also as metadata `adam.step`.
    public func write(to url: URL) throws(ModelError) {
        try SafeTensors.write(state(), metadata: [Self.stepKey: String(step)], to: url)
    }

    /// Restores from a file written by `write(to:)`.
    public func read(contentsOf url: URL) throws(ModelError) {
        try restore(SafeTensors.read(contentsOf: url).tensors)
    }
}
