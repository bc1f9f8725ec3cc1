import XRayCore

/// The model's input transform, as the PyTorch training recipe applies it to a PIL 'L' image:
/// `Resize((s, s))` (Pillow bilinear with antialias), `ToTensor()` (float32 / 255), grey
/// replicated to 3 channels, `Normalize(mean, std)` (float32 `(x - mean) / std`).
public struct Preprocessor: Sendable {
    public let inputSize: Int
    public let mean: [Float]
    public let std: [Float]

    public init(inputSize: Int = 224, mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]) {
        precondition(inputSize > 0, "input size must be positive")
        precondition(mean.count == 3 && std.count == 3, "mean and std need one value per channel (3)")
        precondition(std.allSatisfy { $0 != 0 }, "std values must not be zero")
        self.inputSize = inputSize
        self.mean = mean
        self.std = std
    }

    /// [N, 3, inputSize, inputSize]: each image resized like torchvision Resize((s,s)) on a PIL 'L'
    /// image (Pillow antialiased bilinear), ToTensor (/255), grey replicated to 3 channels,
    /// Normalize(mean, std).
    public func tensor(from images: [GrayImage]) -> Tensor {
        let s = inputSize
        let plane = s * s
        // Every grey level maps to one float per channel; the same float32 operations as
        // torchvision (`x.float().div(255)`, then `.sub_(mean).div_(std)`), tabulated once.
        var table = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            for v in 0..<256 {
                let x = Float(v) / 255
                table[c * 256 + v] = (x - mean[c]) / std[c]
            }
        }
        var scalars = [Float](repeating: 0, count: images.count * 3 * plane)
        scalars.withUnsafeMutableBufferPointer { out in
            table.withUnsafeBufferPointer { lut in
                for (n, image) in images.enumerated() {
                    let resized = (image.width == s && image.height == s)
                        ? image : PillowResize.bilinear(image, width: s, height: s)
                    resized.pixels.withUnsafeBufferPointer { px in
                        for c in 0..<3 {
                            let base = (n * 3 + c) * plane
                            let lutBase = c * 256
                            for i in 0..<plane { out[base + i] = lut[lutBase + Int(px[i])] }
                        }
                    }
                }
            }
        }
        return Tensor(shape: [images.count, 3, s, s], scalars: scalars)
    }
}
