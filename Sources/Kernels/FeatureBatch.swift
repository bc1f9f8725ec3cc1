import XRayCore

/// A batch of [C, H, W] maps stored one image after another (NCHW) in memory the caller owns:
/// the unit the training kernels work on (batch statistics need every image at once).
///
/// `@unchecked Sendable` for the same reason as `FeatureMap`: the threads of one parallel stage
/// write disjoint images or channels, and the owner keeps the memory alive.
package struct FeatureBatch: @unchecked Sendable {
    package let base: UnsafeMutablePointer<Float>
    package let images: Int
    package let channels: Int
    package let height: Int
    package let width: Int

    package init(base: UnsafeMutablePointer<Float>, images: Int, channels: Int, height: Int, width: Int) {
        precondition(images >= 0 && channels >= 0 && height >= 0 && width >= 0)
        self.base = base
        self.images = images
        self.channels = channels
        self.height = height
        self.width = width
    }

    package var planeSize: Int { height * width }
    /// Floats per image: C·H·W.
    package var imageSize: Int { channels * height * width }
    package var count: Int { images * imageSize }
    package var shape: [Int] { [images, channels, height, width] }

    package func image(_ i: Int) -> FeatureMap {
        FeatureMap(base: base + i * imageSize, channels: channels, height: height, width: width)
    }

    /// Channel `c` of image `i`: H·W floats.
    package func plane(_ i: Int, _ c: Int) -> UnsafeMutablePointer<Float> { base + (i * channels + c) * planeSize }

    package func toTensor() -> Tensor {
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
package final class FloatBuffer: @unchecked Sendable {
    package let count: Int
    package let base: UnsafeMutablePointer<Float>

    package init(count: Int) {
        precondition(count >= 0)
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 16) * 4, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 16))
        base.initialize(repeating: 0, count: max(count, 16))
    }

    package convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    package var array: [Float] { Array(UnsafeBufferPointer(start: base, count: count)) }

    package func batch(images: Int, channels: Int, height: Int, width: Int, offset: Int = 0) -> FeatureBatch {
        precondition(offset >= 0 && offset + images * channels * height * width <= count, "batch outside the buffer")
        return FeatureBatch(base: base + offset, images: images, channels: channels, height: height, width: width)
    }

    package func scratch(offset: Int = 0, count n: Int) -> Scratch {
        precondition(offset >= 0 && offset + n <= count, "scratch outside the buffer")
        return Scratch(base: base + offset, count: n)
    }
}
