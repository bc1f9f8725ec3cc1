/// Limits every decoder checks before it allocates pixel memory, so that a decompression bomb
/// fails fast with a clear error instead of exhausting memory.
public enum ImageLimits {
    /// Largest accepted width or height. Detector panels are at most about 4,300 pixels a side.
    public static let maxDimension = 16_384
    /// Largest accepted pixel count (width x height), 100 megapixels.
    public static let maxPixels = 100_000_000
}
