/// How a file was turned into the displayed grey image: what a reader needs to trust the picture.
public struct DecodingNotes: Sendable, Equatable, Codable {
    public enum SourceFormat: String, Sendable, Codable {
        case dicom, png, jpeg
    }

    /// Which VOI (window) transform produced the 8-bit image.
    public enum Window: Sendable, Equatable, Codable, CustomStringConvertible {
        /// The file's first Window Center / Width pair.
        case file(center: Double, width: Double)
        /// The file's first VOI LUT (0028,3010).
        case voiLUT(explanation: String)
        /// No window in the file: a robust automatic window over the pixel histogram.
        case automatic(method: String, center: Double, width: Double)
        /// 8-bit data shown as stored, no VOI transform (PNG, JPEG, 8-bit DICOM without a window).
        case none

        public var description: String {
            switch self {
            case let .file(c, w): return "window from file (center \(Self.format(c)), width \(Self.format(w)))"
            case let .voiLUT(e): return "VOI LUT from file" + (e.isEmpty ? "" : " (\(e))")
            case let .automatic(m, c, w): return "automatic window, \(m) (center \(Self.format(c)), width \(Self.format(w)))"
            case .none: return "no window (stored values shown as they are)"
            }
        }

        /// Whole numbers as integers, others with three decimals; NaN, infinities and values beyond Int's
        /// range (which a damaged header can carry) in scientific notation rather than trapping.
        static func format(_ v: Double) -> String {
            guard v.isFinite else { return v.isNaN ? "NaN" : (v < 0 ? "-infinity" : "infinity") }
            if abs(v) >= 1e9 { return "\(v)" }
            return v == v.rounded() ? String(Int(v)) : String(format3: v)
        }
    }

    public var format: SourceFormat
    public var window: Window
    /// True when the stored values were inverted for display (MONOCHROME1, or Presentation LUT Shape INVERSE).
    public var inverted: Bool
    /// Frames in the file; only the first is used.
    public var frameCount: Int
    /// True when a colour image was converted to grey.
    public var convertedFromColour: Bool
    /// Anything else a reader should know, one sentence each (e.g. "first of 10 frames used").
    public var messages: [String]

    public init(
        format: SourceFormat, window: Window = .none, inverted: Bool = false, frameCount: Int = 1,
        convertedFromColour: Bool = false, messages: [String] = []
    ) {
        self.format = format
        self.window = window
        self.inverted = inverted
        self.frameCount = frameCount
        self.convertedFromColour = convertedFromColour
        self.messages = messages
    }

    /// One line for a terminal or a report.
    public var summary: String {
        var parts = [format.rawValue.uppercased(), window.description]
        if inverted { parts.append("inverted for display (bones white)") }
        if frameCount > 1 { parts.append("first of \(frameCount) frames used") }
        if convertedFromColour { parts.append("colour converted to grey") }
        parts += messages
        return parts.joined(separator: "; ")
    }
}

extension String {
    /// Three decimals, no locale, no Foundation needed. NaN, infinities and magnitudes of 1e15 and more
    /// (whose thousandfold does not fit an Int) are written by Swift's own description instead.
    init(format3 v: Double) {
        guard v.isFinite, abs(v) < 1e15 else {
            self = v.isNaN ? "NaN" : v.isInfinite ? (v < 0 ? "-infinity" : "infinity") : "\(v)"
            return
        }
        let scaled = (v * 1000).rounded()
        let sign = scaled < 0 ? "-" : ""
        let a = abs(Int(scaled))
        let frac = a % 1000
        self = "\(sign)\(a / 1000)." + (frac < 10 ? "00" : frac < 100 ? "0" : "") + "\(frac)"
    }

    /// The text with control characters escaped (a newline as `\n`, a tab as `\t`, others as `\u{..}`), so
    /// that a file name keeps an error message on one line.
    public var escapingControlCharacters: String {
        var out = ""
        for scalar in unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}" {
                    out += "\\u{" + String(scalar.value, radix: 16) + "}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}

extension DecodingNotes.SourceFormat {
    /// PNG or JPEG by the signature a file starts with; nil for anything else (DICOM has its own
    /// sniffing, through DCMTK's reader: a preamble, or a bare data set).
    public init?(imageSignature head: some Collection<UInt8>) {
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else if head.starts(with: [0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else {
            return nil
        }
    }
}
