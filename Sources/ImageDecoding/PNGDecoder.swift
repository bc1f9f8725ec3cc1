public import Foundation
public import XRayCore

/// Decodes PNG files to the 8-bit grey image the model sees, matching Pillow's
/// `Image.open(path).convert("L")` exactly for 1/2/4/8-bit grey, grey+alpha, RGB, RGBA, palette
/// (with or without tRNS), interlaced, and 16-bit colour files (high byte, as Pillow).
///
/// One deliberate difference: 16-bit grey is scaled to 8 bits (high byte), where Pillow clips
/// values above 255; the notes say so.
public struct PNGDecoder: Sendable {
    public init() {}

    public func decode(contentsOf url: URL) throws(ImageDecodingError) -> DecodedScan {
        let bytes = try FileBytes.read(url)
        return try decode(data: bytes, name: url.lastPathComponent)
    }

    public func decode(data: [UInt8], name: String) throws(ImageDecodingError) -> DecodedScan {
        guard !data.isEmpty else { throw .empty(file: name) }
        guard data.starts(with: Self.signature) else { throw .wrongFormat(file: name, expected: "PNG") }
        let raw = try decodeWithLibPNG(data, name: name)

        var notes = DecodingNotes(format: .png, window: .none)
        var metadata = ScanMetadata()
        metadata.rows = raw.height
        metadata.columns = raw.width
        metadata.bitsStored = raw.bitDepth

        let pixels: [UInt8]
        let count = raw.width * raw.height
        if raw.bytesPerSample == 2 {
            pixels = raw.samples.withUnsafeBufferPointer {
                GreyConversion.grey(fromBigEndian16: $0, pixelCount: count)
            }
            notes.messages.append("16-bit grey scaled to 8 bits (high byte)")
        } else {
            let converted = raw.samples.withUnsafeBufferPointer {
                GreyConversion.grey(fromInterleaved: $0, channels: raw.channels, pixelCount: count)
            }
            pixels = converted.pixels
            if raw.isColour {
                notes.convertedFromColour = true
                if converted.equalChannels { notes.messages.append("colour image with equal channels") }
            }
        }
        if raw.hasTransparency { notes.messages.append("transparency ignored") }
        return DecodedScan(
            image: GrayImage(width: raw.width, height: raw.height, pixels: pixels),
            metadata: metadata, notes: notes)
    }

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
}

/// What libpng produced, before grey conversion.
struct RawPNG {
    var width: Int
    var height: Int
    var bitDepth: Int
    /// Colour type in the file is RGB, RGBA or palette.
    var isColour: Bool
    var hasTransparency: Bool
    /// Samples per pixel in `samples` (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA).
    var channels: Int
    /// 2 only for 16-bit grey, kept raw big-endian.
    var bytesPerSample: Int
    var samples: [UInt8]
}
