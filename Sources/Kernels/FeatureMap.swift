import XRayCore

/// Memory for the fast forward path: one aligned allocation, carved into feature maps and scratch.
///
/// A `Workspace` is used by one forward pass at a time (several threads may work on disjoint parts
/// of it inside that pass); it is `@unchecked Sendable` so it can be pooled and handed between calls.
package final class Workspace: @unchecked Sendable {
    package let capacity: Int
    let base: UnsafeMutablePointer<Float>

    /// Allocates `capacity` floats (64-byte aligned, not initialised).
    package init(capacity: Int) {
        precondition(capacity >= 0)
        self.capacity = capacity
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 16) * 4, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(capacity, 16))
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    /// A [channels, images, height, width] map starting `offset` floats into the workspace.
    package func featureMap(at offset: Int, channels: Int, images: Int = 1, height: Int, width: Int) -> FeatureMap {
        precondition(offset >= 0 && offset + channels * images * height * width <= capacity, "feature map outside the workspace")
        return FeatureMap(base: base + offset, channels: channels, images: images, height: height, width: width)
    }

    /// `count` floats of scratch starting `offset` floats into the workspace.
    package func scratch(at offset: Int, count: Int) -> Scratch {
        precondition(offset >= 0 && offset + count <= capacity, "scratch outside the workspace")
        return Scratch(base: base + offset, count: count)
    }
}

/// Activations of a group of images in workspace memory, laid out [C, G, H, W] ("CNHW"): for each
/// channel the G image planes follow each other, so one GEMM covers the whole group (its columns
/// are G·H·W) and the weights are packed once per group instead of once per image. G = 1 is the
/// plain [C, H, W] of one image. Does not own its memory: keep the `Workspace` alive (e.g.
/// `withExtendedLifetime`) for as long as its views are used.
///
/// `@unchecked Sendable`: a view is shared by the threads of one parallel stage, which write
/// disjoint channels or rows; the owning `Workspace` outlives every view taken from it.
package struct FeatureMap: @unchecked Sendable {
    package let base: UnsafeMutablePointer<Float>
    package let channels: Int
    /// G, the number of images in the group.
    package let images: Int
    package let height: Int
    package let width: Int

    package init(base: UnsafeMutablePointer<Float>, channels: Int, images: Int = 1, height: Int, width: Int) {
        precondition(channels >= 0 && images >= 1 && height >= 0 && width >= 0)
        self.base = base
        self.channels = channels
        self.images = images
        self.height = height
        self.width = width
    }

    package var planeSize: Int { height * width }
    package var count: Int { channels * images * height * width }
    /// [C, H, W] for one image, [C, G, H, W] for a group.
    package var shape: [Int] { images == 1 ? [channels, height, width] : [channels, images, height, width] }

    /// The H×W plane of channel `c` of image `g` of the group.
    @inline(__always)
    package func plane(channel c: Int, image g: Int = 0) -> UnsafeMutablePointer<Float> {
        base + (c * images + g) * height * width
    }

    /// Copies image `index` of an NCHW tensor into image `g` of this group.
    package func load(from tensor: Tensor, image index: Int, into g: Int = 0) {
        precondition(tensor.shape.count == 4 && tensor.shape[1] == channels && tensor.shape[2] == height && tensor.shape[3] == width,
                     "tensor \(tensor.shape) does not fit map \(shape)")
        let n = planeSize
        tensor.scalars.withUnsafeBufferPointer { src in
            for c in 0..<channels { plane(channel: c, image: g).update(from: src.baseAddress! + (index * channels + c) * n, count: n) }
        }
    }

    /// Copies image `g` of this group into image `index` of NCHW scalars.
    package func store(_ g: Int = 0, into scalars: UnsafeMutablePointer<Float>, image index: Int) {
        let n = planeSize
        for c in 0..<channels { (scalars + (index * channels + c) * n).update(from: plane(channel: c, image: g), count: n) }
    }

    /// Copies image `g` of this group into image `index` of NCHW scalars.
    package func store(_ g: Int = 0, into scalars: inout [Float], image index: Int) {
        precondition(scalars.count >= (index + 1) * channels * planeSize)
        scalars.withUnsafeMutableBufferPointer { store(g, into: $0.baseAddress!, image: index) }
    }

    /// The group as a tensor of shape `shape`.
    package func toTensor() -> Tensor {
        Tensor(shape: shape, scalars: Array(UnsafeBufferPointer(start: base, count: count)))
    }
}

/// Scratch floats lent to a kernel for one call.
package struct Scratch: @unchecked Sendable {
    package let base: UnsafeMutablePointer<Float>
    package let count: Int
}

/// An immutable float array with a stable address, for weights read by several threads at once.
package final class FloatStorage: @unchecked Sendable {
    package let count: Int
    let base: UnsafeMutablePointer<Float>

    package convenience init(_ values: [Float]) {
        self.init(count: values.count) { out in
            for i in 0..<values.count { out[i] = values[i] }
        }
    }

    /// Allocates `count` floats (zeroed) and lets `fill` write them, so large weights are built in
    /// place instead of through a temporary array.
    package init(count: Int, fill: (UnsafeMutableBufferPointer<Float>) -> Void) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 16) * 4, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 16))
        base.initialize(repeating: 0, count: max(count, 16))
        fill(UnsafeMutableBufferPointer(start: base, count: count))
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    package var array: [Float] { Array(UnsafeBufferPointer(start: base, count: count)) }
}
