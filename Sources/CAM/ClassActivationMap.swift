public import XRayCore

/// Class activation maps (Zhou et al. 2016) and Grad-CAM (Selvaraju et al. 2017) from a ResNet's
/// layer4 features and its fc layer, for networks whose logits are `fc(avgpool(A))`.
///
/// Typical use: `heatmap(compute(...), width: scan.width, height: scan.height)`, then `Overlay.blend`.
public enum ClassActivationMap {
    /// The raw map Σ_k w[c, k]·A_k [h, w] of class `classIndex` for image `image`.
    ///
    /// - Parameters:
    ///   - features: layer4 activations [N, K, h, w] (after its last ReLU).
    ///   - fcWeight: the fc weight [classes, K].
    public static func compute(
        features: Tensor, image: Int, fcWeight: Tensor, classIndex: Int, className: String
    ) -> ActivationMap {
        let (k, h, w) = checkShapes(features: features, image: image, fcWeight: fcWeight, classIndex: classIndex)
        let weights = (0..<k).map { Double(fcWeight.scalars[classIndex * k + $0]) }
        return weightedSum(features: features, image: image, weights: weights, channels: k, height: h, width: w,
                           classIndex: classIndex, className: className)
    }

    /// The raw map of every class, in class order; `classNames` gives one name per row of `fcWeight`.
    public static func computeAll(features: Tensor, image: Int, fcWeight: Tensor, classNames: [String]) -> [ActivationMap] {
        precondition(fcWeight.shape.count == 2 && classNames.count == fcWeight.shape[0],
                     "\(classNames.count) class names for fc weight \(fcWeight.shape)")
        return classNames.indices.map {
            compute(features: features, image: image, fcWeight: fcWeight, classIndex: $0, className: classNames[$0])
        }
    }

    /// Grad-CAM at layer4 before its ReLU: Σ_k α_k·A_k with α_k the spatial mean of ∂logit_c/∂A_k.
    ///
    /// For logit = fc(avgpool(A)) the backward pass gives ∂logit_c/∂A[k, i, j] = w[c, k] / (h·w) at every
    /// position, so α_k = w[c, k] / (h·w) and Grad-CAM equals the CAM divided by h·w. The gradient is
    /// still formed and averaged explicitly, as Grad-CAM does. For earlier stages use
    /// `gradCAM(activations:gradient:…)` with the network's backward pass.
    public static func gradCAM(
        features: Tensor, image: Int, fcWeight: Tensor, classIndex: Int, className: String
    ) -> ActivationMap {
        let (k, h, w) = checkShapes(features: features, image: image, fcWeight: fcWeight, classIndex: classIndex)
        let plane = h * w
        // ∂logit_c/∂pooled_k = w[c, k] (fc backward); avgpool's backward spreads it as 1/(h·w) per position.
        var gradient = [Double](repeating: 0, count: k * plane)
        for channel in 0..<k {
            let g = Double(fcWeight.scalars[classIndex * k + channel]) / Double(plane)
            for p in 0..<plane { gradient[channel * plane + p] = g }
        }
        let alpha = (0..<k).map { channel in
            gradient[(channel * plane)..<((channel + 1) * plane)].reduce(0, +) / Double(plane)
        }
        return weightedSum(features: features, image: image, weights: alpha, channels: k, height: h, width: w,
                           classIndex: classIndex, className: className)
    }

    /// Grad-CAM at any stage from its activations A [N, K, h, w] and ∂logit_c/∂A (same shape, e.g.
    /// `ResNet18.layer3Gradient`): Σ_k α_k·A_k with α_k the spatial mean of the gradient of channel
    /// k, before the ReLU (Selvaraju et al. 2017); `normalised` and `heatmap` apply as for the CAM.
    public static func gradCAM(
        activations: Tensor, gradient: Tensor, image: Int, classIndex: Int, className: String
    ) -> ActivationMap {
        precondition(activations.shape.count == 4 && activations.shape == gradient.shape,
                     "activations \(activations.shape) and gradient \(gradient.shape) must both be [N, K, h, w]")
        precondition(image >= 0 && image < activations.shape[0], "image \(image) out of range for \(activations.shape)")
        let (k, h, w) = (activations.shape[1], activations.shape[2], activations.shape[3])
        precondition(h > 0 && w > 0, "empty activation map \(activations.shape)")
        let plane = h * w, base = image * k * plane
        let alpha = (0..<k).map { channel in
            var sum = 0.0
            for p in 0..<plane { sum += Double(gradient.scalars[base + channel * plane + p]) }
            return sum / Double(plane)
        }
        return weightedSum(features: activations, image: image, weights: alpha, channels: k, height: h, width: w,
                           classIndex: classIndex, className: className)
    }

    /// ReLU, then division by the maximum, so values lie in 0...1 and the hottest cell is 1.
    ///
    /// A map with no positive value, a flat map (all values equal) or one holding NaN or infinity has
    /// nothing to show: it comes back all zero with `isEmpty` set, never NaN.
    public static func normalised(_ map: ActivationMap) -> ActivationMap {
        var low = Float.infinity, high = -Float.infinity
        for v in map.values {
            guard v.isFinite else { return empty(like: map) }
            low = min(low, v)
            high = max(high, v)
        }
        // Flat: the spread is lost in float32 rounding relative to the magnitude.
        let flat = high - low <= 4 * Float.ulpOfOne * max(abs(high), abs(low))
        guard high > 0, !flat else { return empty(like: map) }
        let scale = 1 / high
        return ActivationMap(width: map.width, height: map.height, values: map.values.map { max($0, 0) * scale },
                             className: map.className, classIndex: map.classIndex)
    }

    /// The normalised map at the scan's full resolution: `upsampled(normalised(raw), width:, height:)`.
    public static func heatmap(_ raw: ActivationMap, width: Int, height: Int) -> ActivationMap {
        upsampled(normalised(raw), width: width, height: height)
    }

    private static func empty(like map: ActivationMap) -> ActivationMap {
        ActivationMap(width: map.width, height: map.height, values: [Float](repeating: 0, count: map.values.count),
                      className: map.className, classIndex: map.classIndex, isEmpty: true)
    }

    private static func checkShapes(
        features: Tensor, image: Int, fcWeight: Tensor, classIndex: Int
    ) -> (channels: Int, height: Int, width: Int) {
        precondition(features.shape.count == 4, "features must be [N, K, h, w], got \(features.shape)")
        precondition(image >= 0 && image < features.shape[0], "image \(image) out of range for features \(features.shape)")
        precondition(fcWeight.shape.count == 2 && fcWeight.shape[1] == features.shape[1],
                     "fc weight \(fcWeight.shape) does not match features \(features.shape)")
        precondition(classIndex >= 0 && classIndex < fcWeight.shape[0], "class \(classIndex) out of range for \(fcWeight.shape)")
        precondition(features.shape[2] > 0 && features.shape[3] > 0, "empty feature map \(features.shape)")
        return (features.shape[1], features.shape[2], features.shape[3])
    }

    /// Σ_k weights[k]·A_k for one image, accumulated in Float64.
    private static func weightedSum(
        features: Tensor, image: Int, weights: [Double], channels k: Int, height h: Int, width w: Int,
        classIndex: Int, className: String
    ) -> ActivationMap {
        let plane = h * w
        var sum = [Double](repeating: 0, count: plane)
        let base = image * k * plane
        for channel in 0..<k where weights[channel] != 0 {
            let wk = weights[channel], offset = base + channel * plane
            for p in 0..<plane { sum[p] += wk * Double(features.scalars[offset + p]) }
        }
        return ActivationMap(width: w, height: h, values: sum.map { Float($0) }, className: className, classIndex: classIndex)
    }
}
