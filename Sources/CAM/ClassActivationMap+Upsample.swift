extension ClassActivationMap {
    /// The map resized to `width`×`height` by bilinear interpolation between cell centres.
    ///
    /// The preprocessing resizes the whole scan to the network's square input (no crop, aspect ratio
    /// not kept), so feature cell (i, j) of an h×w map covers the same relative area of the scan, and
    /// its centre sits at ((j + 0.5)·W/w, (i + 0.5)·H/h) in scan pixels. Beyond the outermost
    /// centres the edge value is kept (clamping). This is PyTorch's
    /// `F.interpolate(mode="bilinear", align_corners=False)` (no antialias), computed the same way
    /// in float32; `isEmpty` and the class are kept.
    public static func upsampled(_ map: ActivationMap, width: Int, height: Int) -> ActivationMap {
        precondition(width > 0 && height > 0, "target size must be positive, got \(width)x\(height)")
        let columns = LinearTaps(inSize: map.width, outSize: width)
        let rows = LinearTaps(inSize: map.height, outSize: height)
        var out = [Float](repeating: 0, count: width * height)
        let v = map.values, w = map.width
        for y in 0..<height {
            let r0 = rows.first[y] * w, r1 = rows.second[y] * w
            let a0 = rows.weight0[y], a1 = rows.weight1[y]
            for x in 0..<width {
                let c0 = columns.first[x], c1 = columns.second[x]
                let b0 = columns.weight0[x], b1 = columns.weight1[x]
                out[y * width + x] = a0 * (b0 * v[r0 + c0] + b1 * v[r0 + c1]) + a1 * (b0 * v[r1 + c0] + b1 * v[r1 + c1])
            }
        }
        return ActivationMap(width: width, height: height, values: out, className: map.className,
                             classIndex: map.classIndex, isEmpty: map.isEmpty)
    }
}

/// For each output index along one axis: the two input cells it interpolates and their weights,
/// as PyTorch's `area_pixel_compute_source_index` (align_corners=False) and `compute_indices_weights_linear`.
struct LinearTaps {
    var first: [Int], second: [Int], weight0: [Float], weight1: [Float]

    init(inSize: Int, outSize: Int) {
        let scale = Float(inSize) / Float(outSize)
        first = []; second = []; weight0 = []; weight1 = []
        for d in 0..<outSize {
            // Output pixel d's centre, in input cell coordinates where cell i's centre is i.
            let source = max(scale * (Float(d) + 0.5) - 0.5, 0)
            let i0 = min(Int(source), inSize - 1)
            let lambda = source - Float(i0)
            first.append(i0)
            second.append(i0 < inSize - 1 ? i0 + 1 : i0)
            weight0.append(1 - lambda)
            weight1.append(lambda)
        }
    }
}
