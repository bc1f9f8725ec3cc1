import CAM
import Testing
import TestSupport
import XRayCore

@Suite("Class activation maps against PyTorch")
struct ClassActivationMapTests {
    let fixture = CAMFixture.shared
    let run = ModelRun.shared

    @Test func sameInputAsPyTorch() {
        // Full-network logits: atol 1e-3 (summation order differs), as in the e2e tests.
        expectClose(run.output.logits.scalars, fixture.logits, atol: 1e-3, "logits")
        #expect(run.output.features.shape == [1, 512, fixture.featureHeight, fixture.featureWidth])
    }

    @Test func camOfEveryClassMatchesPyTorch() {
        let maps = ClassActivationMap.computeAll(features: run.output.features, image: 0, fcWeight: run.fcWeight,
                                                 classNames: run.classNames)
        #expect(maps.map(\.className) == fixture.classes)
        for (c, map) in maps.enumerated() {
            #expect(map.width == fixture.featureWidth && map.height == fixture.featureHeight && map.classIndex == c)
            let scale = fixture.cam[c].map(abs).max()!
            // atol 1e-3 relative to the map's largest magnitude: float32 network, other summation order.
            expectClose(map.values.map { $0 / scale }, fixture.cam[c].map { $0 / scale }, atol: 1e-3, "CAM \(map.className)")
            print("CAM \(map.className): max |error| / max |map| = \(maxAbsDifference(map.values, fixture.cam[c]) / scale)")
        }
    }

    /// The check: at layer4 Grad-CAM and CAM coincide up to scale, since logit = fc(avgpool(A)).
    @Test func gradCAMAtLayer4IsProportionalToCAM() {
        let plane = Float(fixture.featureHeight * fixture.featureWidth)
        for (c, name) in run.classNames.enumerated() {
            let cam = ClassActivationMap.compute(features: run.output.features, image: 0, fcWeight: run.fcWeight,
                                                 classIndex: c, className: name)
            let grad = ClassActivationMap.gradCAM(features: run.output.features, image: 0, fcWeight: run.fcWeight,
                                                  classIndex: c, className: name)
            let cosine = cosineSimilarity(relu(grad.values), relu(cam.values))
            #expect(abs(cosine - 1) <= 1e-5, "\(name): cosine \(cosine)")
            // The scale is exactly 1/(h·w); float32 rounding of the two sums only.
            expectClose(grad.values.map { $0 * plane }, cam.values, rtol: 1e-5, atol: 1e-6 * cam.values.map(abs).max()!,
                        "Grad-CAM·h·w vs CAM \(name)")
            // After normalisation the scale is gone: the same heat map.
            let a = ClassActivationMap.normalised(grad), b = ClassActivationMap.normalised(cam)
            #expect(!a.isEmpty && !b.isEmpty)
            expectClose(a.values, b.values, atol: 1e-6, "normalised Grad-CAM vs CAM \(name)")
        }
    }

    @Test func gradCAMMatchesPyTorchAutograd() {
        for (c, name) in run.classNames.enumerated() {
            let grad = ClassActivationMap.gradCAM(features: run.output.features, image: 0, fcWeight: run.fcWeight,
                                                  classIndex: c, className: name)
            let scale = fixture.gradcam[c].map(abs).max()!
            expectClose(grad.values.map { $0 / scale }, fixture.gradcam[c].map { $0 / scale }, atol: 1e-3, "Grad-CAM \(name)")
            #expect(abs(cosineSimilarity(relu(grad.values), relu(fixture.gradcam[c])) - 1) <= 1e-5)
            print("Grad-CAM \(name): max |error| / max |map| = \(maxAbsDifference(grad.values, fixture.gradcam[c]) / scale)")
        }
    }

    /// Grad-CAM at layer3 through our backward pass (layer4, avgpool, fc) against PyTorch autograd.
    @Test func gradCAMAtLayer3MatchesPyTorchAutograd() {
        for (c, name) in run.classNames.enumerated() {
            let g = run.model.layer3Gradient(run.input, classIndex: c)
            #expect(g.activations.shape == [1, 256, fixture.layer3Height, fixture.layer3Width])
            #expect(g.classIndex == c)
            // The same forward pass as the batched one (atol 1e-3, as for full-network logits).
            expectClose(g.logits, fixture.logits, atol: 1e-3, "layer3 pass logits")
            let map = ClassActivationMap.gradCAM(activations: g.activations, gradient: g.gradient, image: 0,
                                                 classIndex: c, className: name)
            #expect(map.width == fixture.layer3Width && map.height == fixture.layer3Height)
            let scale = fixture.gradcamLayer3[c].map(abs).max()!
            // atol 1e-3 of the map's largest magnitude, as for layer4: float32 network and backward.
            expectClose(map.values.map { $0 / scale }, fixture.gradcamLayer3[c].map { $0 / scale }, atol: 1e-3,
                        "Grad-CAM layer3 \(name)")
            #expect(abs(cosineSimilarity(relu(map.values), relu(fixture.gradcamLayer3[c])) - 1) <= 1e-4)
            print("Grad-CAM layer3 \(name): max |error| / max |map| = \(maxAbsDifference(map.values, fixture.gradcamLayer3[c]) / scale)")
        }
        // Without a class, the predicted one.
        #expect(run.model.layer3Gradient(run.input).classIndex == fixture.predicted)
    }

    @Test func pickedImageOfABatch() {
        // Image 1 of a batch is read, not image 0 (which is scaled here so the two differ).
        let f = run.output.features
        let batch = Tensor(shape: [2] + f.shape.dropFirst(), scalars: f.scalars.map { $0 * 2 } + f.scalars)
        let second = ClassActivationMap.compute(features: batch, image: 1, fcWeight: run.fcWeight, classIndex: 2, className: "covid")
        let single = ClassActivationMap.compute(features: f, image: 0, fcWeight: run.fcWeight, classIndex: 2, className: "covid")
        #expect(second == single)
    }
}
