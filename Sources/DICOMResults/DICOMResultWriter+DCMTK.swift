// The only file that calls into CDCMTKResults. The source handle is owned by a final class that frees it in
// deinit; C strings live in a pool for the length of one call; nothing outside this file sees a C type.
internal import CDCMTKResults
import CAM
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The series and instance strings every object carries (`cdcmtkr_instance`).
struct InstanceInfo {
    var seriesInstanceUID: String
    var sopInstanceUID: String
    var seriesNumber: Int32
    var seriesDescription: String
    var contentDate: String
    var contentTime: String
    var manufacturer: String
    var modelName: String
    var softwareVersion: String
    var contributionDescription: String
}

/// What the SR records (`cdcmtkr_classification`), codes as Swift values.
struct SRContent {
    var predictedClass: ResultCodes.Code
    var probabilities: [(concept: ResultCodes.Code, value: Double)]
    var outOfDistribution: Bool
    var algorithmName: String
    var algorithmVersion: String
    var algorithmParameters: [String]
    var trackingIdentifier: String
    var trackingUID: String
    var deviceObserverUID: String
    var comment: String
}

/// NUL-terminated copies of Swift strings that stay valid until the pool is released.
private final class CStringPool {
    private var pointers: [UnsafeMutablePointer<CChar>] = []

    func callAsFunction(_ s: String) -> UnsafePointer<CChar> {
        let p = strdup(s)!
        pointers.append(p)
        return UnsafePointer(p)
    }

    func code(_ c: ResultCodes.Code) -> cdcmtkr_code {
        cdcmtkr_code(value: self(c.value), scheme: self(c.scheme), meaning: self(c.meaning))
    }

    deinit { pointers.forEach { free($0) } }
}

/// A loaded source image; owns a `cdcmtkr_source`.
final class DCMTKResultSource {
    private let handle: OpaquePointer
    let fileName: String

    private init(handle: OpaquePointer, fileName: String) {
        self.handle = handle
        self.fileName = fileName
    }

    deinit { cdcmtkr_source_free(handle) }

    static func open(_ url: URL) throws(DICOMResultsError) -> DCMTKResultSource {
        let name = url.lastPathComponent
        var raw: OpaquePointer?
        let status = url.withUnsafeFileSystemRepresentation { path -> Int32 in
            guard let path else { return Int32(CDCMTKR_INVALID_ARGUMENT.rawValue) }
            return cdcmtkr_source_open(path, &raw)
        }
        guard status == Int32(CDCMTKR_OK.rawValue), let raw else {
            throw error(status, object: "source", file: name, path: url.path)
        }
        return DCMTKResultSource(handle: raw, fileName: name)
    }

    /// What the results leave out of the source's patient and study attributes, and why (never a value).
    var notes: [String] {
        (0..<cdcmtkr_source_note_count(handle)).compactMap { cdcmtkr_source_note(handle, $0).map { String(cString: $0) } }
    }

    func writeEncapsulatedPDF(_ info: InstanceInfo, pdf: Data, title: String, to path: String) throws(DICOMResultsError) {
        let pool = CStringPool()
        var instance = Self.instance(info, pool)
        let status = pdf.withUnsafeBytes { bytes in
            cdcmtkr_write_encapsulated_pdf(handle, &instance, bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count,
                                           pool(title), pool(path))
        }
        try check(status, object: "Encapsulated PDF", path: path)
    }

    func writeSecondaryCapture(_ info: InstanceInfo, image: RGBImage, derivation: String, to path: String) throws(DICOMResultsError) {
        let pool = CStringPool()
        var instance = Self.instance(info, pool)
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            cdcmtkr_write_secondary_capture(handle, &instance, pixels.baseAddress, Int32(image.width), Int32(image.height),
                                            pool(derivation), pool(path))
        }
        try check(status, object: "Secondary Capture", path: path)
    }

    func writeSR(_ info: InstanceInfo, _ content: SRContent, to path: String) throws(DICOMResultsError) {
        let pool = CStringPool()
        var instance = Self.instance(info, pool)
        let probabilities = content.probabilities.map { cdcmtkr_probability(concept: pool.code($0.concept), value: $0.value) }
        let parameters: [UnsafePointer<CChar>?] = content.algorithmParameters.map { pool($0) }
        let status = probabilities.withUnsafeBufferPointer { p in
            parameters.withUnsafeBufferPointer { params in
                var c = cdcmtkr_classification(
                    predicted_class: pool.code(content.predictedClass),
                    probabilities: p.baseAddress, probability_count: Int32(p.count),
                    out_of_distribution_concept: pool.code(ResultCodes.outOfDistribution),
                    out_of_distribution: content.outOfDistribution ? 1 : 0,
                    predicted_class_concept: pool.code(ResultCodes.predictedClass),
                    algorithm_name: pool(content.algorithmName), algorithm_version: pool(content.algorithmVersion),
                    algorithm_parameters: params.baseAddress, algorithm_parameter_count: Int32(params.count),
                    tracking_identifier: pool(content.trackingIdentifier), tracking_uid: pool(content.trackingUID),
                    device_observer_uid: pool(content.deviceObserverUID), comment: pool(content.comment),
                    local_scheme_designator: pool(ResultCodes.localScheme), local_scheme_name: pool(ResultCodes.localSchemeName))
                return cdcmtkr_write_sr(handle, &instance, &c, pool(path))
            }
        }
        try check(status, object: "SR", path: path)
    }

    private static func instance(_ i: InstanceInfo, _ pool: CStringPool) -> cdcmtkr_instance {
        cdcmtkr_instance(
            series_instance_uid: pool(i.seriesInstanceUID), sop_instance_uid: pool(i.sopInstanceUID),
            series_number: i.seriesNumber, series_description: pool(i.seriesDescription),
            content_date: pool(i.contentDate), content_time: pool(i.contentTime), manufacturer: pool(i.manufacturer),
            model_name: pool(i.modelName), software_version: pool(i.softwareVersion),
            contribution_description: pool(i.contributionDescription))
    }

    private func check(_ status: Int32, object: String, path: String) throws(DICOMResultsError) {
        guard status != Int32(CDCMTKR_OK.rawValue) else { return }
        throw Self.error(status, object: object, file: fileName, path: path)
    }

    /// The shim's status and thread-local message as a typed error.
    private static func error(_ status: Int32, object: String, file: String, path: String) -> DICOMResultsError {
        let cause = String(cString: cdcmtkr_last_error())
        switch UInt32(bitPattern: status) {
        case CDCMTKR_UNREADABLE.rawValue: return .unreadable(file: file, cause: cause)
        case CDCMTKR_INVALID_SOURCE.rawValue: return .invalidSource(file: file, cause: cause)
        case CDCMTKR_INVALID_ARGUMENT.rawValue: return .invalidResult(reason: "\(object): \(cause)")
        case CDCMTKR_BUILD_FAILED.rawValue: return .buildFailed(object: object, cause: cause)
        case CDCMTKR_WRITE_FAILED.rawValue: return .writeFailed(path: path, cause: cause)
        case CDCMTKR_CHARSET.rawValue: return .characterSet(file: file, cause: cause)
        default: return .internalError(cause: "\(object): \(cause.isEmpty ? "status \(status)" : cause)")
        }
    }
}
