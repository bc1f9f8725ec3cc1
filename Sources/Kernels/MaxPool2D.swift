import XRayCore

/// 2-D max pooling (square window, padding counts as −∞, as in PyTorch).
public enum MaxPool2D {
    public static func outputSize(_ n: Int, kernel: Int, stride: Int, padding: Int) -> Int {
        (n + 2 * padding - kernel) / stride + 1
    }

    /// Pools channels `channels` (all images of the group) into `output`.
    package static func forward(_ input: FeatureMap, into output: FeatureMap, kernel: Int, stride: Int, padding: Int,
                               channels: Range<Int>? = nil) {
        let h = input.height, w = input.width
        let oh = outputSize(h, kernel: kernel, stride: stride, padding: padding)
        let ow = outputSize(w, kernel: kernel, stride: stride, padding: padding)
        precondition(padding * 2 <= kernel, "padding must be at most half the window")
        precondition(output.channels == input.channels && output.images == input.images && output.height == oh && output.width == ow,
                     "max pool output must be \([input.channels, input.images, oh, ow]), got \(output.shape)")
        let group = input.images
        let planes = (channels ?? 0..<input.channels).lowerBound * group..<(channels ?? 0..<input.channels).upperBound * group
        if kernel == 3 && stride == 2 && padding == 1 {
            forward3x3s2(input, into: output, planes: planes)
            return
        }
        let columnMax = UnsafeMutablePointer<Float>.allocate(capacity: w)
        defer { columnMax.deallocate() }
        for p in planes {
            let plane = input.base + p * h * w, outPlane = output.base + p * oh * ow
            for oy in 0..<oh {
                let y0 = max(0, oy * stride - padding), y1 = min(h, oy * stride - padding + kernel)
                // Max down the window's rows first (contiguous), then across each window.
                columnMax.update(from: plane + y0 * w, count: w)
                for y in (y0 + 1)..<max(y0 + 1, y1) {
                    let row = plane + y * w
                    for x in 0..<w { columnMax[x] = max(columnMax[x], row[x]) }
                }
                let out = outPlane + oy * ow
                for ox in 0..<ow {
                    let x0 = max(0, ox * stride - padding), x1 = min(w, ox * stride - padding + kernel)
                    var m = columnMax[x0]
                    for x in (x0 + 1)..<max(x0 + 1, x1) { m = max(m, columnMax[x]) }
                    out[ox] = m
                }
            }
        }
    }

    /// The ResNet stem's pool (3×3, stride 2, padding 1), vectorised: the max of each input column
    /// over the window's rows (8 columns per vector), then of each window's three columns (8 outputs
    /// per vector, from even and odd lanes of a shifted copy padded with −∞). Same results as the
    /// general loop, at a fraction of its time.
    private static func forward3x3s2(_ input: FeatureMap, into output: FeatureMap, planes: Range<Int>) {
        typealias V8 = SIMD8<Float>
        typealias V16 = SIMD16<Float>
        let h = input.height, w = input.width, oh = output.height, ow = output.width
        // cm[1 + x] = max over the window's rows of column x; cm[0] and cm[1 + w …] are −∞.
        let count = w + 2 + 32
        let cm = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { cm.deallocate() }
        cm.initialize(repeating: -.infinity, count: count)
        @inline(__always) func load8(_ p: UnsafePointer<Float>) -> V8 { UnsafeRawPointer(p).loadUnaligned(as: V8.self) }
        @inline(__always) func load16(_ p: UnsafePointer<Float>) -> V16 { UnsafeRawPointer(p).loadUnaligned(as: V16.self) }
        @inline(__always) func max8(_ a: V8, _ b: V8) -> V8 { a.replacing(with: b, where: b .> a) }
        let wVec = w & ~7
        for p in planes {
            let plane = UnsafePointer(input.base + p * h * w), outPlane = output.base + p * oh * ow
            for oy in 0..<oh {
                let y0 = max(0, 2 * oy - 1), y1 = min(h, 2 * oy + 2)
                let r0 = plane + y0 * w, r1 = plane + (y0 + 1 < y1 ? y0 + 1 : y0) * w, r2 = plane + (y0 + 2 < y1 ? y0 + 2 : y0) * w
                var x = 0
                while x < wVec {
                    let m = max8(max8(load8(r0 + x), load8(r1 + x)), load8(r2 + x))
                    UnsafeMutableRawPointer(cm + 1 + x).storeBytes(of: m, as: V8.self)
                    x += 8
                }
                while x < w {
                    cm[1 + x] = max(max(r0[x], r1[x]), r2[x])
                    x += 1
                }
                // out[ox] = max(cm[2ox], cm[2ox + 1], cm[2ox + 2]).
                let out = outPlane + oy * ow
                let c = UnsafePointer(cm)
                var ox = 0
                while ox + 8 <= ow {
                    let a = load16(c + 2 * ox), b = load16(c + 2 * ox + 2)
                    let m = max8(max8(a.evenHalf, a.oddHalf), b.evenHalf)
                    UnsafeMutableRawPointer(out + ox).storeBytes(of: m, as: V8.self)
                    ox += 8
                }
                while ox < ow {
                    out[ox] = max(max(cm[2 * ox], cm[2 * ox + 1]), cm[2 * ox + 2])
                    ox += 1
                }
            }
        }
    }

    /// Tensor convenience: [N, C, H, W] → [N, C, oh, ow].
    public static func forward(_ input: Tensor, kernel: Int, stride: Int, padding: Int) -> Tensor {
        precondition(input.shape.count == 4, "max pool input must be [N, C, H, W], got \(input.shape)")
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let oh = outputSize(h, kernel: kernel, stride: stride, padding: padding)
        let ow = outputSize(w, kernel: kernel, stride: stride, padding: padding)
        let space = Workspace(capacity: c * (h * w + oh * ow))
        let x = space.featureMap(at: 0, channels: c, height: h, width: w)
        let y = space.featureMap(at: c * h * w, channels: c, height: oh, width: ow)
        var out = [Float](repeating: 0, count: n * c * oh * ow)
        withExtendedLifetime(space) {  // x and y point into it
            for i in 0..<n {
                x.load(from: input, image: i)
                forward(x, into: y, kernel: kernel, stride: stride, padding: padding)
                y.store(into: &out, image: i)
            }
        }
        return Tensor(shape: [n, c, oh, ow], scalars: out)
    }
}
