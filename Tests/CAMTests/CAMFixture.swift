import Foundation
import ImageDecoding
import Preprocessing
import ResNet
import TestSupport
import XRayCore

/// Tests/Fixtures/cam/expected.json, written by Tests/Fixtures/make_cam_fixtures.py.
struct CAMFixture: Decodable {
    struct Upsampled: Decodable {
        let width: Int, height: Int
        /// [y, x, value] of F.interpolate's output.
        let points: [[Double]]
    }
    struct Synthetic: Decodable {
        struct Output: Decodable { let width: Int, height: Int, values: [Float] }
        let width: Int, height: Int, values: [Float]
        let outputs: [Output]
    }

    let model: String, sample: String
    let imageWidth: Int, imageHeight: Int
    let classes: [String]
    let logits: [Float]
    let predicted: Int
    let featureHeight: Int, featureWidth: Int
    /// Raw 7x7 CAM of every class (float64 sums of torchvision's float32 features).
    let cam: [[Float]]
    /// Grad-CAM at layer4 from autograd, before the ReLU.
    let gradcam: [[Float]]
    /// Grad-CAM at layer3 (14x14) from autograd through layer4, avgpool and fc, before the ReLU.
    let gradcamLayer3: [[Float]]
    let layer3Height: Int, layer3Width: Int
    /// The predicted class's CAM, ReLU then / max: the input of the upsampling checks.
    let normalisedCAM: [Float]
    let upsampled: [String: Upsampled]
    let synthetic: Synthetic

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let shared: CAMFixture = {
        let url = root.appendingPathComponent("Tests/Fixtures/cam/expected.json")
        do { return try JSONDecoder().decode(CAMFixture.self, from: Data(contentsOf: url)) }
        catch { fatalError("cannot read \(url.path): \(error); run Tests/Fixtures/make_cam_fixtures.py") }
    }()
}

/// The fixture's sample decoded, preprocessed and run through the fixture's model by our own code.
struct ModelRun: Sendable {
    let scan: GrayImage
    let output: ResNetOutput
    let fcWeight: Tensor
    let classNames: [String]
    let model: ResNet18
    let input: Tensor

    static let shared: ModelRun = {
        let fixture = CAMFixture.shared
        do {
            // The fixture's model: the e2e test model (`fixture.model` names the files it is made from).
            let model = try ResNet18.load(contentsOf: TestModel.e2e)
            let scan = try PNGDecoder().decode(contentsOf: CAMFixture.root.appendingPathComponent(fixture.sample)).image
            let c = model.configuration
            let input = Preprocessor(inputSize: c.inputSize, mean: c.mean, std: c.std).tensor(from: [scan])
            return ModelRun(scan: scan, output: model.forward(input), fcWeight: model.fcWeight, classNames: c.classNames,
                            model: model, input: input)
        } catch {
            fatalError("cannot run \(fixture.model) on \(fixture.sample): \(error)")
        }
    }()
}

func relu(_ v: [Float]) -> [Float] { v.map { max($0, 0) } }

func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) {
        dot += Double(x) * Double(y)
        na += Double(x) * Double(x)
        nb += Double(y) * Double(y)
    }
    return dot / (na.squareRoot() * nb.squareRoot())
}
