import XRayCore

/// Memory for the fast forward path: one aligned allocation, carved into feature maps and scratch.
///
/// A `Workspace` is used by one forward pass at a time (several threads may work on disjoint parts
/// of it inside that pass); it is `@unchecked Sendable` so it can be pooled and handed between calls.
public final class Workspace: @unchecked Sendable {
    public let capacity: Int
    let base: UnsafeMutablePointer<Float>

    /// Allocates `capacity` floats (64-byte aligned, not initialised).
    public init(capacity: Int) {
        precondition(capacity >= 0)
        self.capacity = capacity
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 16) * 4, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(capacity, 16))
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    /// A [channels, height, width] map starting `offset` floats into the workspace.
    public func featureMap(at offset: Int, channels: Int, height: Int, width: Int) -> FeatureMap {
        precondition(offset >= 0 && offset + channels * height * width <= capacity, "feature map outside the workspace")
        return FeatureMap(base: base + offset, channels: channels, height: height, width: width)
    }

    /// `count` floats of scratch starting `offset` floats into the workspace.
    public func scratch(at offset: Int, count: Int) -> Scratch {
        precondition(offset >= 0 && offset + count <= capacity, "scratch outside the workspace")
        return Scratch(base: base + offset, count: count)
    }
}

/// A [C, H, W] float view into workspace memory (one image, row-major). Does not own its memory:
/// keep the `Workspace` alive (e.g. `withExtendedLifetime`) for as long as its views are used.
///
/// `@unchecked Sendable`: a view is shared by the threads of one parallel stage, which write
/// disjoint channels or rows; the owning `Workspace` outlives every view taken from it.
public struct FeatureMap: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let channels: Int
    public let height: Int
    public let width: Int

    public init(base: UnsafeMutablePointer<Float>, channels: Int, height: Int, width: Int) {
        self.base = base
        self.channels = channels
        self.height = height
        self.width = width
    }

    public var planeSize: Int { height * width }
    public var count: Int { channels * height * width }
    public var shape: [Int] { [channels, height, width] }

    /// Copies image `index` of an NCHW tensor into this map.
    public func load(from tensor: Tensor, image index: Int) {
        precondition(tensor.shape.count == 4 && Array(tensor.shape[1...]) == shape, "tensor \(tensor.shape) does not fit map \(shape)")
        tensor.scalars.withUnsafeBufferPointer { src in
            base.update(from: src.baseAddress! + index * count, count: count)
        }
    }

    /// Copies this map into image `index` of NCHW scalars.
    public func store(into scalars: inout [Float], image index: Int) {
        precondition(scalars.count >= (index + 1) * count)
        scalars.withUnsafeMutableBufferPointer { dst in
            (dst.baseAddress! + index * count).update(from: base, count: count)
        }
    }

    public func toTensor() -> Tensor {
        Tensor(shape: shape, scalars: Array(UnsafeBufferPointer(start: base, count: count)))
    }
}

/// Scratch floats lent to a kernel for one call.
public struct Scratch: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let count: Int
}

/// An immutable float array with a stable address, for weights read by several threads at once.
public final class FloatStorage: @unchecked Sendable {
    public let count: Int
    let base: UnsafeMutablePointer<Float>

    public init(_ values: [Float]) {
        count = values.count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 16) * 4, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 16))
        values.withUnsafeBufferPointer { base.initialize(from: $0.baseAddress!, count: count) }
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    public var array: [Float] { Array(UnsafeBufferPointer(start: base, count: count)) }
}
