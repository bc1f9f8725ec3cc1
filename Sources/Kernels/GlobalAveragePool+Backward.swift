import XRayCore

extension GlobalAveragePool {
    /// Spreads each channel's gradient evenly over its plane: dX[c, :] = dY[c] / (H·W), one image.
    package static func backward(gradOutput: UnsafePointer<Float>, into gradInput: FeatureMap) {
        let n = gradInput.planeSize, scale = 1 / Float(n)
        for c in 0..<gradInput.channels {
            let g = gradOutput[c] * scale, dst = gradInput.base + c * n
            for j in 0..<n { dst[j] = g }
        }
    }

    /// Tensor convenience: [N, C] gradient → [N, C, H, W].
    public static func backward(gradOutput: Tensor, height: Int, width: Int) -> Tensor {
        precondition(gradOutput.shape.count == 2)
        let (n, c) = (gradOutput.shape[0], gradOutput.shape[1])
        let scale = 1 / Float(height * width)
        var out = [Float](repeating: 0, count: n * c * height * width)
        for i in 0..<(n * c) { for j in 0..<(height * width) { out[i * height * width + j] = gradOutput.scalars[i] * scale } }
        return Tensor(shape: [n, c, height, width], scalars: out)
    }
}
