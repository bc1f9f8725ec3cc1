import XRayCore

/// Mean over each channel's H×W plane.
public enum GlobalAveragePool {
    /// Writes the C means of each image g of the group to `output[g · C + c]`.
    package static func forward(_ input: FeatureMap, into output: UnsafeMutablePointer<Float>) {
        let n = input.planeSize
        for g in 0..<input.images {
            for c in 0..<input.channels {
                let plane = input.plane(channel: c, image: g)
                var sum: Float = 0
                for i in 0..<n { sum += plane[i] }
                output[g * input.channels + c] = sum / Float(n)
            }
        }
    }

    /// [N, C, H, W] → [N, C].
    public static func forward(_ input: Tensor) -> Tensor {
        precondition(input.shape.count == 4, "global average pool input must be [N, C, H, W], got \(input.shape)")
        let (n, c, plane) = (input.shape[0], input.shape[1], input.shape[2] * input.shape[3])
        var out = [Float](repeating: 0, count: n * c)
        for i in 0..<(n * c) {
            var sum: Float = 0
            for j in 0..<plane { sum += input.scalars[i * plane + j] }
            out[i] = sum / Float(plane)
        }
        return Tensor(shape: [n, c], scalars: out)
    }
}
