public import Foundation
public import XRayCore

/// Decodes JPEG files to the 8-bit grey image the model sees, matching Pillow's
/// `Image.open(path).convert("L")`: grey JPEGs as decoded; YCbCr/RGB JPEGs decoded to RGB
/// (integer IDCT, fancy upsampling, as Pillow) and then converted with Pillow's luma formula,
/// not libjpeg's own Y channel, which differs by rounding. CMYK/YCCK JPEGs are refused.
public struct JPEGDecoder: Sendable {
    public init() {}

    public func decode(contentsOf url: URL) throws(ImageDecodingError) -> DecodedScan {
        let bytes = try FileBytes.read(url)
        return try decode(data: bytes, name: url.lastPathComponent)
    }

    public func decode(data: [UInt8], name: String) throws(ImageDecodingError) -> DecodedScan {
        guard !data.isEmpty else { throw .empty(file: name) }
        guard data.count >= 3, data[0] == 0xFF, data[1] == 0xD8, data[2] == 0xFF else {
            throw .wrongFormat(file: name, expected: "JPEG")
        }
        let raw = try decodeWithLibJPEG(data, name: name)

        var notes = DecodingNotes(format: .jpeg, window: .none)
        var metadata = ScanMetadata()
        metadata.rows = raw.height
        metadata.columns = raw.width
        metadata.bitsStored = 8

        let count = raw.width * raw.height
        let converted = raw.samples.withUnsafeBufferPointer {
            GreyConversion.grey(fromInterleaved: $0, channels: raw.channels, pixelCount: count)
        }
        if raw.channels == 3 {
            notes.convertedFromColour = true
            if converted.equalChannels { notes.messages.append("colour image with equal channels") }
        }
        if let warning = raw.warning {
            notes.messages.append("libjpeg warning: \(warning)")
        }
        return DecodedScan(
            image: GrayImage(width: raw.width, height: raw.height, pixels: converted.pixels),
            metadata: metadata, notes: notes)
    }
}

/// What libjpeg produced, before grey conversion.
struct RawJPEG {
    var width: Int
    var height: Int
    /// 1 grey or 3 RGB.
    var channels: Int
    var samples: [UInt8]
    /// The first libjpeg warning (data it could skip), with the count when more than one.
    var warning: String?
}
