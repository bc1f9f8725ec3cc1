import Foundation

/// Writes a simple uncompressed (Explicit VR Little Endian) 16-bit MONOCHROME2 Secondary Capture
/// image: the synthetic scans of the benchmarks and the tests. The product only reads DICOM, so this
/// writer lives here, in plain Swift, beside the other synthetic inputs.
///
/// The file holds the same elements DCMTK's `DcmFileFormat::saveFile` wrote for the earlier writer
/// (a fixture in Tests/Fixtures/dicom compares the decoded results), with fresh UIDs under the
/// 2.25 root (PS3.5 B.2: a UUID as one decimal number).
public enum DICOMWriter {
    /// What was wrong with a write; `file` is the file's name.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public let file: String
        public let cause: String
        public var description: String { "cannot write \(file): \(cause)" }
    }

    /// - Parameters:
    ///   - pixels: `width * height` values, row-major, top row first; each must fit in `bitsStored` bits.
    ///   - bitsStored: 1...16.
    ///   - patientName: DICOM PN text; a name that is not plain ASCII is written as UTF-8 with
    ///     Specific Character Set ISO_IR 192.
    public static func writeMonochrome16(
        width: Int, height: Int, pixels: [UInt16], bitsStored: Int = 16,
        windowCenter: Double, windowWidth: Double, patientName: String = "", to url: URL
    ) throws(Failure) {
        let name = url.lastPathComponent
        func fail(_ cause: String) -> Failure { Failure(file: name, cause: cause) }
        guard url.isFileURL else { throw fail("not a file URL") }
        guard width > 0, height > 0, width <= 65_535, height <= 65_535 else {
            throw fail("width and height must be 1...65535, got \(width)x\(height)")
        }
        guard pixels.count == width * height else { throw fail("\(pixels.count) pixels for \(width)x\(height)") }
        guard (1...16).contains(bitsStored) else { throw fail("bits stored must be 1...16, got \(bitsStored)") }
        guard windowWidth >= 1, windowCenter.isFinite, windowWidth.isFinite else {
            throw fail("window width must be at least 1 and the centre finite")
        }
        let maxValue = UInt32(1) << bitsStored - 1
        if let i = pixels.firstIndex(where: { UInt32($0) > maxValue }) {
            throw fail("pixel \(i) is \(pixels[i]), more than \(bitsStored) bits hold")
        }
        let bytes = file(width: width, height: height, pixels: pixels, bitsStored: bitsStored,
                         windowCenter: windowCenter, windowWidth: windowWidth, patientName: patientName)
        do { try Data(bytes).write(to: url) } catch { throw fail("\(error.localizedDescription)") }
    }

    static let secondaryCapture = "1.2.840.10008.5.1.4.1.1.7"
    static let explicitLittleEndian = "1.2.840.10008.1.2.1"

    /// The whole file: preamble, "DICM", the file meta group, then the data set in tag order.
    static func file(width: Int, height: Int, pixels: [UInt16], bitsStored: Int,
                     windowCenter: Double, windowWidth: Double, patientName: String) -> [UInt8] {
        let instance = newUID(), study = newUID(), series = newUID()
        let now = Date()
        let calendar = Calendar(identifier: .gregorian)
        let c = calendar.dateComponents(in: TimeZone.current, from: now)
        let date = String(format: "%04d%02d%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
        let time = String(format: "%02d%02d%02d", c.hour ?? 0, c.minute ?? 0, c.second ?? 0)

        var meta = Elements()
        meta.add(0x0002, 0x0001, "OB", [0x00, 0x01])
        meta.add(0x0002, 0x0002, "UI", text: secondaryCapture)
        meta.add(0x0002, 0x0003, "UI", text: instance)
        meta.add(0x0002, 0x0010, "UI", text: explicitLittleEndian)
        meta.add(0x0002, 0x0012, "UI", text: "2.25.329800735698586629295641978511506172918")
        meta.add(0x0002, 0x0013, "SH", text: "CXREVIEW_BENCH")
        var groupLength = Elements()
        groupLength.add(0x0002, 0x0000, "UL", le32(UInt32(meta.bytes.count)))

        var data = Elements()
        if !patientName.allSatisfy(\.isASCII) { data.add(0x0008, 0x0005, "CS", text: "ISO_IR 192") }
        data.add(0x0008, 0x0016, "UI", text: secondaryCapture)
        data.add(0x0008, 0x0018, "UI", text: instance)
        data.add(0x0008, 0x0020, "DA", text: date)
        data.add(0x0008, 0x0030, "TM", text: time)
        data.add(0x0008, 0x0060, "CS", text: "OT")
        data.add(0x0008, 0x0064, "CS", text: "SYN")  // synthetic image
        data.add(0x0008, 0x1030, "LO", text: "Synthetic test image")
        data.add(0x0010, 0x0010, "PN", text: patientName)
        data.add(0x0010, 0x0020, "LO", text: "")
        data.add(0x0020, 0x000D, "UI", text: study)
        data.add(0x0020, 0x000E, "UI", text: series)
        data.add(0x0028, 0x0002, "US", le16(1))
        data.add(0x0028, 0x0004, "CS", text: "MONOCHROME2")
        data.add(0x0028, 0x0010, "US", le16(UInt16(height)))
        data.add(0x0028, 0x0011, "US", le16(UInt16(width)))
        data.add(0x0028, 0x0100, "US", le16(16))
        data.add(0x0028, 0x0101, "US", le16(UInt16(bitsStored)))
        data.add(0x0028, 0x0102, "US", le16(UInt16(bitsStored - 1)))
        data.add(0x0028, 0x0103, "US", le16(0))
        data.add(0x0028, 0x1050, "DS", text: decimal(windowCenter))
        data.add(0x0028, 0x1051, "DS", text: decimal(windowWidth))
        var pixelBytes = [UInt8](repeating: 0, count: pixels.count * 2)
        for (i, p) in pixels.enumerated() {
            pixelBytes[2 * i] = UInt8(truncatingIfNeeded: p)
            pixelBytes[2 * i + 1] = UInt8(truncatingIfNeeded: p >> 8)
        }
        data.add(0x7FE0, 0x0010, "OW", pixelBytes)

        return [UInt8](repeating: 0, count: 128) + Array("DICM".utf8) + groupLength.bytes + meta.bytes + data.bytes
    }

    /// Explicit VR Little Endian elements, appended in the caller's (ascending) tag order.
    struct Elements {
        var bytes: [UInt8] = []

        /// Text values: UI padded to even length with NUL, the others with a space (PS3.5 6.2).
        mutating func add(_ group: UInt16, _ element: UInt16, _ vr: String, text: String) {
            var value = Array(text.utf8)
            if value.count % 2 == 1 { value.append(vr == "UI" ? 0x00 : 0x20) }
            add(group, element, vr, value)
        }

        mutating func add(_ group: UInt16, _ element: UInt16, _ vr: String, _ value: [UInt8]) {
            precondition(value.count % 2 == 0, "DICOM values have even length")
            bytes += le16(group) + le16(element) + Array(vr.utf8)
            if ["OB", "OW", "SQ", "UN", "UT"].contains(vr) {
                bytes += [0, 0] + le32(UInt32(value.count))
            } else {
                bytes += le16(UInt16(value.count))
            }
            bytes += value
        }
    }

    /// A new UID under 2.25: a random (version 4) UUID as one decimal number.
    static func newUID() -> String {
        let u = UUID().uuid
        var digits = [u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15]
        var decimal: [Character] = []
        while digits.contains(where: { $0 != 0 }) {
            var remainder = 0
            for i in digits.indices {
                let v = remainder * 256 + Int(digits[i])
                digits[i] = UInt8(v / 10)
                remainder = v % 10
            }
            decimal.append(Character(String(remainder)))
        }
        return "2.25." + (decimal.isEmpty ? "0" : String(decimal.reversed()))
    }

    /// A DS value as DCMTK's writer printed it (`%.6g`, at most 16 characters).
    static func decimal(_ v: Double) -> String { String(format: "%.6g", v) }
}

func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
