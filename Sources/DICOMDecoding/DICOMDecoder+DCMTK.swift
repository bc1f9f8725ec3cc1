// The only file that calls into the C shim. Handles are owned by final classes that free them in deinit;
// nothing outside this file sees a C type.
internal import CDCMTK
import Foundation
import XRayCore

/// Status codes of the shim as Swift values.
private enum ShimStatus {
    case ok, notDICOM, unreadable, corrupt, noPixelData, unsupportedTransferSyntax, tooLarge
    case invalidArgument, outOfMemory, internalError

    init(_ raw: Int32) {
        switch raw {
        case Self.code(CDCMTK_OK): self = .ok
        case Self.code(CDCMTK_NOT_DICOM): self = .notDICOM
        case Self.code(CDCMTK_UNREADABLE): self = .unreadable
        case Self.code(CDCMTK_CORRUPT): self = .corrupt
        case Self.code(CDCMTK_NO_PIXEL_DATA): self = .noPixelData
        case Self.code(CDCMTK_UNSUPPORTED_TRANSFER_SYNTAX): self = .unsupportedTransferSyntax
        case Self.code(CDCMTK_TOO_LARGE): self = .tooLarge
        case Self.code(CDCMTK_INVALID_ARGUMENT): self = .invalidArgument
        case Self.code(CDCMTK_OUT_OF_MEMORY): self = .outOfMemory
        default: self = .internalError
        }
    }

    private static func code(_ s: cdcmtk_status) -> Int32 { Int32(bitPattern: s.rawValue) }
}

/// The shim's thread-local message for the last failure on this thread.
private func lastShimError() -> String {
    let message = String(cString: cdcmtk_last_error())
    return message.isEmpty ? "no details" : message
}

/// Text from the shim: UTF-8 as converted by DCMTK; bytes that are not valid UTF-8 (a character set DCMTK
/// could not convert) are read as ISO 8859-1 rather than dropped.
private func text(_ pointer: UnsafePointer<CChar>?) -> String? {
    guard let pointer else { return nil }
    let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self),
                                    count: strlen(pointer))
    let decoded = String(validating: bytes, as: UTF8.self)
        ?? String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    let trimmed = decoded.trimmingCharacters(in: CharacterSet.whitespacesAndNewlines.union(CharacterSet(charactersIn: "\0")))
    return trimmed.isEmpty ? nil : trimmed
}

/// A loaded DICOM data set; owns a `cdcmtk_file`.
final class DCMTKFile {
    private let handle: OpaquePointer
    let fileName: String

    private init(handle: OpaquePointer, fileName: String) {
        self.handle = handle
        self.fileName = fileName
    }

    deinit { cdcmtk_file_free(handle) }

    static func open(_ url: URL) throws(DICOMError) -> DCMTKFile {
        let name = url.lastPathComponent
        guard url.isFileURL else { throw .unreadable(file: name, cause: "not a file URL: \(url.scheme ?? "no scheme")") }
        var raw: OpaquePointer?
        let status = ShimStatus(url.withUnsafeFileSystemRepresentation { path -> Int32 in
            guard let path else { return Int32(bitPattern: CDCMTK_INVALID_ARGUMENT.rawValue) }
            return cdcmtk_file_open(path, &raw)
        })
        guard status == .ok, let raw else { throw error(status, file: name) }
        return DCMTKFile(handle: raw, fileName: name)
    }

    static func isProbablyDICOM(_ url: URL) -> Bool {
        guard url.isFileURL else { return false }
        return url.withUnsafeFileSystemRepresentation { path in
            guard let path else { return false }
            return cdcmtk_is_probably_dicom(path) == 1
        }
    }

    /// The value of (group,element), trimmed; nil if absent or empty.
    func string(_ group: UInt16, _ element: UInt16) -> String? {
        text(cdcmtk_file_string(handle, group, element))
    }

    func int(_ group: UInt16, _ element: UInt16) -> Int? {
        string(group, element).flatMap { Int($0) }
    }

    var messages: [String] {
        (0..<cdcmtk_file_message_count(handle)).compactMap { text(cdcmtk_file_message(handle, $0)) }
    }

    func metadata() -> ScanMetadata {
        var m = ScanMetadata()
        m.patientName = string(0x0010, 0x0010)
        m.patientID = string(0x0010, 0x0020)
        m.patientSex = string(0x0010, 0x0040)
        m.patientBirthDate = string(0x0010, 0x0030)
        m.patientAge = string(0x0010, 0x1010)
        m.studyInstanceUID = string(0x0020, 0x000D)
        m.seriesInstanceUID = string(0x0020, 0x000E)
        m.sopInstanceUID = string(0x0008, 0x0018)
        m.sopClassUID = string(0x0008, 0x0016)
        m.studyDate = string(0x0008, 0x0020)
        m.seriesDate = string(0x0008, 0x0021)
        m.acquisitionDate = string(0x0008, 0x0022)
        m.studyTime = string(0x0008, 0x0030)
        m.studyDescription = string(0x0008, 0x1030)
        m.accessionNumber = string(0x0008, 0x0050)
        m.modality = string(0x0008, 0x0060)
        m.bodyPartExamined = string(0x0018, 0x0015)
        m.viewPosition = string(0x0018, 0x5101)
        m.patientOrientation = string(0x0020, 0x0020).map {
            $0.split(separator: "\\").map { $0.trimmingCharacters(in: .whitespaces) }
        }.flatMap { $0.count == 2 && $0.allSatisfy({ !$0.isEmpty }) ? $0 : nil }
        m.institutionName = string(0x0008, 0x0080)
        m.manufacturer = string(0x0008, 0x0070)
        m.rows = int(0x0028, 0x0010)
        m.columns = int(0x0028, 0x0011)
        if let spacing = string(0x0028, 0x0030) {
            let values = spacing.split(separator: "\\").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
            m.pixelSpacing = values.count == 2 && values.allSatisfy({ $0 > 0 && $0.isFinite }) ? values : nil
        }
        m.photometricInterpretation = string(0x0028, 0x0004)
        m.bitsAllocated = int(0x0028, 0x0100)
        m.bitsStored = int(0x0028, 0x0101)
        m.transferSyntaxUID = text(cdcmtk_file_transfer_syntax_uid(handle))
        m.transferSyntaxName = text(cdcmtk_file_transfer_syntax_name(handle))
        m.numberOfFrames = int(0x0028, 0x0008)
        return m
    }

    func decodeFirstFrame() throws(DICOMError) -> DecodedScan {
        var metadata = metadata()
        var raw: OpaquePointer?
        let status = ShimStatus(cdcmtk_decode_first_frame(
            handle, Int64(ImageLimits.maxDimension), Int64(ImageLimits.maxPixels), &raw))
        guard status == .ok, let raw else {
            if status == .unsupportedTransferSyntax {
                throw .unsupportedTransferSyntax(
                    file: fileName, syntax: metadata.transferSyntaxName ?? "an unknown transfer syntax",
                    uid: metadata.transferSyntaxUID ?? "unknown UID")
            }
            throw Self.error(status, file: fileName)
        }
        let image = DCMTKImage(handle: raw)
        let notes = DecodingNotes(
            format: .dicom, window: image.window, inverted: image.inverted, frameCount: image.frameCount,
            convertedFromColour: image.convertedFromColour, messages: messages + image.messages)
        if metadata.numberOfFrames == nil { metadata.numberOfFrames = image.frameCount }
        return DecodedScan(image: image.grayImage(), metadata: metadata, notes: notes)
    }

    /// The error for a failed shim call, with the shim's message as the cause.
    private static func error(_ status: ShimStatus, file: String) -> DICOMError {
        let cause = lastShimError()
        switch status {
        case .notDICOM: return .notDICOM(file: file, cause: cause)
        case .unreadable: return .unreadable(file: file, cause: cause)
        case .corrupt: return .corrupt(file: file, cause: cause)
        case .noPixelData: return .noPixelData(file: file, sopClass: cause)
        case .unsupportedTransferSyntax:
            // "name (uid)" from the shim when the data set itself could not be loaded.
            if let open = cause.range(of: " (", options: .backwards), cause.hasSuffix(")") {
                let uid = String(cause[open.upperBound..<cause.index(before: cause.endIndex)])
                return .unsupportedTransferSyntax(file: file, syntax: String(cause[..<open.lowerBound]), uid: uid)
            }
            return .unsupportedTransferSyntax(file: file, syntax: cause, uid: "unknown UID")
        case .tooLarge:
            let parts = cause.split(separator: "x").compactMap { Int($0) }
            return .tooLarge(file: file, columns: parts.first ?? 0, rows: parts.count > 1 ? parts[1] : 0)
        case .invalidArgument, .outOfMemory, .internalError, .ok: return .internalError(file: file, cause: cause)
        }
    }
}

/// A rendered frame; owns a `cdcmtk_image`.
final class DCMTKImage {
    private let handle: OpaquePointer

    init(handle: OpaquePointer) { self.handle = handle }
    deinit { cdcmtk_image_free(handle) }

    var width: Int { Int(cdcmtk_image_width(handle)) }
    var height: Int { Int(cdcmtk_image_height(handle)) }
    var inverted: Bool { cdcmtk_image_inverted(handle) == 1 }
    var convertedFromColour: Bool { cdcmtk_image_converted_from_colour(handle) == 1 }
    var frameCount: Int { max(1, Int(cdcmtk_image_frame_count(handle))) }
    var messages: [String] {
        (0..<cdcmtk_image_message_count(handle)).compactMap { text(cdcmtk_image_message(handle, $0)) }
    }

    var window: DecodingNotes.Window {
        let center = cdcmtk_image_window_center(handle)
        let width = cdcmtk_image_window_width(handle)
        let explanation = text(cdcmtk_image_window_explanation(handle)) ?? ""
        switch cdcmtk_image_window_kind(handle) {
        case Int32(bitPattern: CDCMTK_WINDOW_FILE.rawValue): return .file(center: center, width: width)
        case Int32(bitPattern: CDCMTK_WINDOW_VOI_LUT.rawValue): return .voiLUT(explanation: explanation)
        case Int32(bitPattern: CDCMTK_WINDOW_AUTOMATIC.rawValue):
            return .automatic(method: explanation, center: center, width: width)
        default: return .none
        }
    }

    /// Copies the pixels out of the shim (the only copy the Swift side makes).
    func grayImage() -> GrayImage {
        let w = width, h = height
        let pixels = [UInt8](UnsafeBufferPointer(start: cdcmtk_image_pixels(handle), count: w * h))
        return GrayImage(width: w, height: h, pixels: pixels)
    }
}
