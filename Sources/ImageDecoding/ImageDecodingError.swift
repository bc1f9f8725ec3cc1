import XRayCore

/// Why a PNG or JPEG file could not be turned into a grey image. Every case names the file.
public enum ImageDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be read (the system's reason, e.g. "No such file or directory").
    case unreadable(file: String, reason: String)
    /// The file has no bytes.
    case empty(file: String)
    /// The bytes do not start with the signature of the expected format ("PNG" or "JPEG").
    case wrongFormat(file: String, expected: String)
    /// The decoder library rejected the data (truncated, damaged); `reason` is its message.
    case corrupt(file: String, reason: String)
    /// A valid file of a kind this decoder does not handle (e.g. a CMYK JPEG).
    case unsupported(file: String, reason: String)
    /// The header claims more pixels than `ImageLimits` allows; refused before allocating.
    case tooLarge(file: String, width: Int, height: Int)
    /// Not enough memory for the pixel buffer.
    case outOfMemory(file: String, width: Int, height: Int)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file.escapingControlCharacters): cannot read the file (\(reason)); check the path and its permissions."
        case let .empty(file):
            return "\(file.escapingControlCharacters): the file is empty (0 bytes); export or copy the image again."
        case let .wrongFormat(file, expected):
            return "\(file.escapingControlCharacters): not a \(expected) file (it does not start with the \(expected) signature); check the file's type and extension."
        case let .corrupt(file, reason):
            return "\(file.escapingControlCharacters): the image data is damaged or incomplete (\(reason)); export or copy the image again."
        case let .unsupported(file, reason):
            return "\(file.escapingControlCharacters): this kind of image is not supported (\(reason)); convert it to an 8-bit greyscale or RGB PNG or JPEG."
        case let .tooLarge(file, width, height):
            return "\(file.escapingControlCharacters): the header claims \(width)x\(height) pixels, over the limit of \(ImageLimits.maxDimension) a side and \(ImageLimits.maxPixels) in all; refused without decoding (downscale the image, or check it is not a decompression bomb)."
        case let .outOfMemory(file, width, height):
            return "\(file.escapingControlCharacters): not enough memory to decode \(width)x\(height) pixels; free memory and try again."
        }
    }
}
