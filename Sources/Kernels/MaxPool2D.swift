import XRayCore

/// 2-D max pooling (square window, padding counts as −∞, as in PyTorch).
public enum MaxPool2D {
    public static func outputSize(_ n: Int, kernel: Int, stride: Int, padding: Int) -> Int {
        (n + 2 * padding - kernel) / stride + 1
    }

    /// Pools channels `channels` of one image into `output`.
    public static func forward(_ input: FeatureMap, into output: FeatureMap, kernel: Int, stride: Int, padding: Int,
                               channels: Range<Int>? = nil) {
        let h = input.height, w = input.width
        let oh = outputSize(h, kernel: kernel, stride: stride, padding: padding)
        let ow = outputSize(w, kernel: kernel, stride: stride, padding: padding)
        precondition(padding * 2 <= kernel, "padding must be at most half the window")
        precondition(output.shape == [input.channels, oh, ow], "max pool output must be \([input.channels, oh, ow]), got \(output.shape)")
        let columnMax = UnsafeMutablePointer<Float>.allocate(capacity: w)
        defer { columnMax.deallocate() }
        for c in channels ?? 0..<input.channels {
            let plane = input.base + c * h * w, outPlane = output.base + c * oh * ow
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
