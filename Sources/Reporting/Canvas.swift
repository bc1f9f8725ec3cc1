import Foundation

// The drawing vocabulary shared by every figure: geometry, colours and fonts, all in points
// (1/72 inch). `Canvas` (Canvas+Cairo.swift) turns them into Cairo and Pango calls.

/// A point on the page, in points from the top-left corner.
struct Point: Sendable, Equatable {
    var x: Double
    var y: Double
}

/// A rectangle on the page, in points; `y` grows downwards.
struct Rect: Sendable, Equatable {
    var x: Double
    var y: Double
    var width: Double
    var height: Double

    var maxX: Double { x + width }
    var maxY: Double { y + height }
    var midX: Double { x + width / 2 }
    var midY: Double { y + height / 2 }

    /// The rectangle shrunk by `d` on every side.
    func inset(by d: Double) -> Rect {
        Rect(x: x + d, y: y + d, width: max(0, width - 2 * d), height: max(0, height - 2 * d))
    }

    /// The largest rectangle with `aspect` (width / height) centred in this one (letterboxing).
    func fitting(aspect: Double) -> Rect {
        if width / height > aspect {
            let w = height * aspect
            return Rect(x: x + (width - w) / 2, y: y, width: w, height: height)
        }
        let h = width / aspect
        return Rect(x: x, y: y + (height - h) / 2, width: width, height: h)
    }
}

/// The size of a text block, in points.
struct Size: Sendable, Equatable {
    var width: Double
    var height: Double
}

/// An sRGB colour with alpha, components 0...1.
struct Color: Sendable, Equatable {
    var red: Double
    var green: Double
    var blue: Double
    var alpha: Double = 1

    /// A colour from 0xRRGGBB.
    init(hex: UInt32, alpha: Double = 1) {
        red = Double((hex >> 16) & 0xFF) / 255
        green = Double((hex >> 8) & 0xFF) / 255
        blue = Double(hex & 0xFF) / 255
        self.alpha = alpha
    }

    init(red: Double, green: Double, blue: Double, alpha: Double = 1) {
        self.red = red
        self.green = green
        self.blue = blue
        self.alpha = alpha
    }

    func withAlpha(_ a: Double) -> Color { Color(red: red, green: green, blue: blue, alpha: a) }

    /// Relative luminance (WCAG), used to choose black or white text on a coloured cell.
    var luminance: Double {
        func linear(_ c: Double) -> Double { c <= 0.03928 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4) }
        return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
    }

    /// "#RRGGBB", for Pango markup.
    var hexString: String {
        func byte(_ c: Double) -> String {
            let v = Int((min(max(c, 0), 1) * 255).rounded())
            return (v < 16 ? "0" : "") + String(v, radix: 16, uppercase: true)
        }
        return "#" + byte(red) + byte(green) + byte(blue)
    }

    static let black = Color(hex: 0x000000)
    static let white = Color(hex: 0xFFFFFF)
    /// Body text that is not the main message (subtitles, captions).
    static let secondaryText = Color(hex: 0x555555)
    static let gridLine = Color(hex: 0xDDDDDD)
    static let axis = Color(hex: 0x333333)
}

/// The Okabe–Ito palette (Okabe & Ito 2008), distinguishable with the common colour-vision
/// deficiencies. Ordered for lines on white: yellow, the weakest on white, comes last.
enum Palette {
    static let blue = Color(hex: 0x0072B2)
    static let vermillion = Color(hex: 0xD55E00)
    static let bluishGreen = Color(hex: 0x009E73)
    static let reddishPurple = Color(hex: 0xCC79A7)
    static let orange = Color(hex: 0xE69F00)
    static let skyBlue = Color(hex: 0x56B4E9)
    static let yellow = Color(hex: 0xF0E442)

    static let lines: [Color] = [blue, vermillion, bluishGreen, reddishPurple, orange, skyBlue, .black, yellow]

    /// The colour of series `i`, cycling after eight.
    static func line(_ i: Int) -> Color { lines[i % lines.count] }

    /// A prediction that matches the true label (the tutorial's green).
    static let correct = bluishGreen
    /// A prediction that does not match the true label (the tutorial's red).
    static let wrong = vermillion
}

/// A font by fontconfig family name and size in points.
struct Font: Sendable, Equatable {
    var family: String
    var size: Double
    var bold: Bool = false
    var italic: Bool = false

    /// The proportional face for all text ("DejaVu Sans", falling back to fontconfig's "Sans").
    static func sans(_ size: Double, bold: Bool = false) -> Font {
        Font(family: "DejaVu Sans, Sans", size: size, bold: bold)
    }

    /// The monospaced face, for preformatted lines whose columns must line up.
    static func mono(_ size: Double) -> Font {
        Font(family: "DejaVu Sans Mono, Monospace", size: size)
    }
}

/// How the lines of a text block sit within its width.
enum TextAlignment: Sendable {
    case left, center, right
}

/// A piece of text with its own colour or weight, for one line that mixes styles.
struct TextRun: Sendable, Equatable {
    var text: String
    var color: Color?
    var bold = false

    /// Pango markup for the run, with the text escaped.
    var markup: String {
        var escaped = ""
        for c in text {
            switch c {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "'": escaped += "&apos;"
            case "\"": escaped += "&quot;"
            default: escaped.append(c)
            }
        }
        var attributes = ""
        if let color { attributes += " foreground=\"\(color.hexString)\"" }
        if bold { attributes += " weight=\"bold\"" }
        return attributes.isEmpty ? escaped : "<span\(attributes)>\(escaped)</span>"
    }
}

/// Document information stored in a PDF (Cairo's PDF metadata); ignored for PNG.
struct DocumentInfo: Sendable, Equatable {
    var title: String
    var subject: String
    var creator = "CXReview"
    var created = Date()

    /// The creation date as Cairo wants it: ISO 8601, UTC.
    var createdString: String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: created)
    }
}

/// An RGB raster read back from a PNG, for checking renderings in tests.
struct RGBRaster: Sendable {
    let width: Int
    let height: Int
    /// `width * height * 3` bytes, R G B per pixel, top row first.
    let bytes: [UInt8]

    subscript(x: Int, y: Int) -> (r: Int, g: Int, b: Int) {
        let i = (y * width + x) * 3
        return (Int(bytes[i]), Int(bytes[i + 1]), Int(bytes[i + 2]))
    }
}

/// Number formatting shared by the figures: no locale, so figures read the same everywhere.
enum NumberText {
    /// `v` with exactly `digits` decimals, e.g. 0.98654 → "0.987".
    static func fixed(_ v: Double, digits: Int) -> String {
        String(format: "%.\(digits)f", locale: nil, v)
    }

    /// A count in at most four characters: 999, 1.2k, 12k, 1.2M.
    static func compact(_ n: Int) -> String {
        switch n {
        case ..<1000: return String(n)
        case ..<9950: return fixed(Double(n) / 1000, digits: 1) + "k"
        case ..<999_500: return String(Int((Double(n) / 1000).rounded())) + "k"
        default: return fixed(Double(n) / 1_000_000, digits: 1) + "M"
        }
    }
}
