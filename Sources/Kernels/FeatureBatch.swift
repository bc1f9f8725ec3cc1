import XRayCore

/// A batch of [C, H, W] maps stored one image after another (NCHW) in memory the caller owns:
/// the unit the training kernels work on (batch statistics need every image at once).
///
/// `@unchecked Sendable` for the same reason as `FeatureMap`: the threads of one parallel stage
/// write disjoint images or channels, and the owner keeps the memory alive.
public struct FeatureBatch: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let images: Int
    public let channels: Int
    public let height: Int
    public let width: Int

    public init(base: UnsafeMutablePointer<Float>, images: Int, channels: Int, height: Int, width: Int) {
        precondition(images >= 0 && channels >= 0 && height >= 0 && width >= 0)
        self.base = base
        self.images = images
        self.channels = channels
        self.height = height
        self.width = width
    }

    public var planeSize: Int { height * width }
    /// Floats per image: C·H·W.
    public var imageSize: Int { channels * height * width }
    public var count: Int { images * imageSize }
    public var shape: [Int] { [images, channels, height, width] }

    public func image(_ i: Int) -> FeatureMap {
        FeatureMap(base: base + i * imageSize, channels: channels, height: height, width: width)
    }

    /// Channel `c` of image `i`: H·W floats.
    public func plane(_ i: Int, _ c: Int) -> UnsafeMutablePointer<Float> { base + (i * channels + c) * planeSize }

    public func toTensor() -> Tensor {
        Tensor(shape: shape, scalars: Array(UnsafeBufferPointer(start: base, count: count)))
    }
}

extension Tensor {
    /// Runs `body` on a mutable copy of this [N, C, H, W] tensor viewed as a batch; returns the copy too.
    func withBatch<R>(_ body: (FeatureBatch) -> R) -> (Tensor, R) {
        precondition(shape.count == 4, "expected [N, C, H, W], got \(shape)")
        var copy = scalars
        let r = copy.withUnsafeMutableBufferPointer {
            body(FeatureBatch(base: $0.baseAddress!, images: shape[0], channels: shape[1], height: shape[2], width: shape[3]))
        }
        return (Tensor(shape: shape, scalars: copy), r)
    }
}

/// A zeroed, 64-byte aligned float allocation owned by the tensor conveniences and by trainers.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let base: UnsafeMutablePointer<Float>

    public init(count: Int) {
        precondition(count >= 0)
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 16) * 4, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 16))
        base.initialize(repeating: 0, count: max(count, 16))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    public var array: [Float] { Array(UnsafeBufferPointer(start: base, count: count)) }

    public func batch(images: Int, channels: Int, height: Int, width: Int, offset: Int = 0) -> FeatureBatch {
        precondition(offset >= 0 && offset + images * channels * height * width <= count, "batch outside the buffer")
        return FeatureBatch(base: base + offset, images: images, channels: channels, height: height, width: width)
    }

    public func scratch(offset: Int = 0, count n: Int) -> Scratch {
        precondition(offset >= 0 && offset + n <= count, "scratch outside the buffer")
        return Scratch(base: base + offset, count: n)
    }
}
