import Foundation
import XRayCore

/// An exponential moving average of a network's weights and BatchNorm running statistics over the
/// training steps (Polyak averaging, as timm's `ModelEmaV2`): validated and kept in place of the
/// last step's weights, it does not swing from one check to the next with the last few batches.
///
/// The decay at update n is min(`decay`, (1 + n) / (10 + n)), so the first updates follow the
/// weights closely (a freshly initialised `fc` is not averaged with zeros). Each step's
/// `num_batches_tracked` is copied, not averaged. Float arithmetic in a fixed order, so a resumed
/// run averages to the same bits as an unbroken one.
public struct WeightAverage: Sendable {
    public let decay: Double
    public private(set) var tensors: [String: Tensor]
    /// Updates so far.
    public private(set) var updates: Int

    public init(decay: Double, tensors: [String: Tensor] = [:], updates: Int = 0) {
        precondition(decay > 0 && decay < 1, "decay in (0, 1)")
        self.decay = decay
        self.tensors = tensors
        self.updates = updates
    }

    /// The decay the next update uses.
    public var currentDecay: Float { Float(min(decay, Double(1 + updates) / Double(10 + updates))) }

    /// Moves the average towards `parameters` (every name it holds must be there, of the same shape).
    public mutating func update(with parameters: [String: Tensor]) {
        let d = currentDecay
        if tensors.isEmpty {
            tensors = parameters
        } else {
            for (name, p) in parameters {
                if name.hasSuffix("num_batches_tracked") { tensors[name] = p; continue }
                guard var a = tensors[name] else { preconditionFailure("\(name) is not averaged") }
                precondition(a.shape == p.shape, "\(name): shape \(p.shape), averaged \(a.shape)")
                a.scalars.withUnsafeMutableBufferPointer { av in
                    p.scalars.withUnsafeBufferPointer { pv in
                        for i in av.indices { av[i] = d * av[i] + (1 - d) * pv[i] }
                    }
                }
                tensors[name] = a
            }
        }
        updates += 1
    }
}
