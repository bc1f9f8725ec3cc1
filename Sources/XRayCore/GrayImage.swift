/// An 8-bit greyscale image, row-major, top row first, ready for display: bones are white.
///
/// Every decoder (DICOM after its modality and VOI transforms, PNG, JPEG) produces this, so the
/// preprocessing sees one kind of input whatever the file was, exactly as an exported PNG would be.
public struct GrayImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width * height` values, 0 black to 255 white.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "image dimensions must be positive")
        precondition(pixels.count == width * height, "pixel count \(pixels.count) != \(width)x\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The pixel at column `x`, row `y`.
    @inlinable public subscript(x: Int, y: Int) -> UInt8 {
        pixels[y * width + x]
    }
}
