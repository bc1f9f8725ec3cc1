import XRayCore

/// Tensors in and out of a flat buffer, for models that keep their parameters in one (the trainer's
/// parameters, gradients and BatchNorm running statistics), so they never take its pointer.
extension FloatBuffer {
    /// A copy of the floats at `offset`, shaped `shape`.
    package func tensor(at offset: Int, shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        precondition(offset >= 0 && offset + n <= count, "tensor \(shape) at \(offset) outside a buffer of \(count)")
        return Tensor(shape: shape, scalars: Array(UnsafeBufferPointer(start: base + offset, count: n)))
    }

    /// Overwrites the floats from `offset` with `scalars`.
    package func write(_ scalars: [Float], at offset: Int) {
        precondition(offset >= 0 && offset + scalars.count <= count, "\(scalars.count) floats at \(offset) outside a buffer of \(count)")
        if scalars.isEmpty { return }
        scalars.withUnsafeBufferPointer { (base + offset).update(from: $0.baseAddress!, count: $0.count) }
    }
}
