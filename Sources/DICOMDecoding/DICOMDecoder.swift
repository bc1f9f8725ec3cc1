import Foundation
import XRayCore

/// Decodes DICOM files with DCMTK into display-ready grey images (bones white), with header fields and notes
/// on how the picture was made. Stateless and thread-safe; DCMTK's codecs are registered once per process.
public struct DICOMDecoder: Sendable {
    public init() {}

    /// Decodes the first frame to a display-ready 8-bit grey image (bones white) with header fields and notes.
    ///
    /// Modality LUT / rescale first, then the file's first window, else its first VOI LUT, else (for more than
    /// 8 bits) an automatic 0.5-99.5 percentile window; MONOCHROME1 and Presentation LUT Shape INVERSE are
    /// rendered inverted; colour is converted to grey (ITU-R 601 luma). Rows x Columns are checked against
    /// `ImageLimits` before pixels are decoded. Before DCMTK parses the file, a bounded walk over the raw data
    /// set refuses unknown transfer syntaxes (named), sequences nested more than 64 deep, runs of empty
    /// elements and Pixel Data declaring far more bytes than the image needs; before it decodes, the bit
    /// depths, rescale, RLE header and segments and the JPEG frame size are checked against the header.
    /// An unusable file window is ignored with a warning in the notes; a frame that renders as one grey
    /// level is refused.
    public func decode(contentsOf url: URL) throws(DICOMError) -> DecodedScan {
        try DCMTKFile.open(url).decodeFirstFrame()
    }

    /// Cheap check used for sniffing, without parsing: true if the path is a regular file with 'DICM' at
    /// offset 128, or whose first bytes look like a bare data set (ACR-NEMA style, no meta header), even a
    /// truncated one, so that decoding it reports the damage. Never blocks (a FIFO is not opened).
    public static func isProbablyDICOM(_ url: URL) -> Bool {
        DCMTKFile.isProbablyDICOM(url)
    }
}
