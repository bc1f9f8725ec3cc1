/// A saliency map for one class of one image: `width * height` values, row-major, top row first.
///
/// At the feature resolution (7×7 for a 224 input) the values are raw class evidence and may be
/// negative; after `ClassActivationMap.normalised` they lie in 0...1, and after `upsampled` the map
/// has the scan's own size, pixel (x, y) covering the scan's pixel (x, y).
public struct ActivationMap: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var values: [Float]
    /// The class the map explains, e.g. "covid".
    public let className: String
    /// Index of that class in the model's logits and fc weight.
    public let classIndex: Int
    /// True when normalisation found nothing to show (no positive value, a flat map, or a non-finite
    /// value): `values` are then all zero and a report should say "no salient region" instead of a heat map.
    public let isEmpty: Bool

    public init(width: Int, height: Int, values: [Float], className: String, classIndex: Int, isEmpty: Bool = false) {
        precondition(width > 0 && height > 0, "map dimensions must be positive, got \(width)x\(height)")
        precondition(values.count == width * height, "value count \(values.count) != \(width)x\(height)")
        self.width = width
        self.height = height
        self.values = values
        self.className = className
        self.classIndex = classIndex
        self.isEmpty = isEmpty
    }

    /// The value at column `x`, row `y`.
    @inlinable public subscript(x: Int, y: Int) -> Float {
        values[y * width + x]
    }
}
