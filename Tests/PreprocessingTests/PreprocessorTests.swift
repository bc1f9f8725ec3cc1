import Foundation
import ImageDecoding
import Preprocessing
import Testing
import XRayCore

/// `Preprocessor` matches the training recipe's tensor (Pillow resize, ToTensor, 3 channels,
/// Normalize) computed with torch in float32, within 1e-6.
@Suite struct PreprocessorTests {
    @Test func matchesTheReferenceTensor() throws {
        let names = ["covid_rgb.jpeg", "covid_grey.jpg"]
        let images = try names.map { try JPEGDecoder().decode(contentsOf: Fixtures.url($0)).image }
        let tensor = Preprocessor(inputSize: 112).tensor(from: images)
        let reference = try Fixtures.float32("tensor_2x3x112x112.f32")
        #expect(tensor.shape == [2, 3, 112, 112])
        #expect(tensor.scalars.count == reference.count)
        var maxDiff: Float = 0
        for i in 0..<min(reference.count, tensor.scalars.count) {
            maxDiff = max(maxDiff, abs(tensor.scalars[i] - reference[i]))
        }
        #expect(maxDiff <= 1e-6, "max abs diff \(maxDiff)")
    }

    /// At the default 224: the resized grey is Pillow's exactly (fixture), and each channel is
    /// float32 (x / 255 - mean) / std of it.
    @Test func defaultSizeIsPillowResizeThenNormalize() throws {
        let image = try JPEGDecoder().decode(contentsOf: Fixtures.url("covid_rgb.jpeg")).image
        let grey = try Fixtures.pgm("covid_rgb.jpeg.L224.pgm")
        let p = Preprocessor()
        let tensor = p.tensor(from: [image])
        #expect(tensor.shape == [1, 3, 224, 224])
        let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
        var maxDiff: Float = 0
        for c in 0..<3 {
            for i in 0..<(224 * 224) {
                let expected = (Float(grey.pixels[i]) / 255 - mean[c]) / std[c]
                maxDiff = max(maxDiff, abs(tensor.scalars[c * 224 * 224 + i] - expected))
            }
        }
        #expect(maxDiff <= 1e-6, "max abs diff \(maxDiff)")
    }

    @Test func imagesAlreadyAtInputSizeAreNotResized() {
        let image = pattern(width: 32, height: 32)
        let tensor = Preprocessor(inputSize: 32, mean: [0, 0, 0], std: [1, 1, 1]).tensor(from: [image])
        for c in 0..<3 {
            for i in 0..<(32 * 32) {
                #expect(tensor.scalars[c * 1024 + i] == Float(image.pixels[i]) / 255)
            }
        }
    }

    @Test func batchesKeepOrderAndEmptyBatchHasZeroImages() {
        let a = pattern(width: 50, height: 40)
        let b = GrayImage(width: 30, height: 60, pixels: [UInt8](repeating: 255, count: 1800))
        let p = Preprocessor(inputSize: 16)
        let both = p.tensor(from: [a, b])
        let first = p.tensor(from: [a])
        let second = p.tensor(from: [b])
        #expect(both.shape == [2, 3, 16, 16])
        #expect(Array(both.scalars[0..<768]) == first.scalars)
        #expect(Array(both.scalars[768...]) == second.scalars)
        #expect(p.tensor(from: []).shape == [0, 3, 16, 16])
    }
}
