import DICOMResults
import Foundation
import Pipeline

/// The watcher's DICOM results (`--dicom-out`): for each DICOM input, an Encapsulated PDF of its report, a
/// Secondary Capture with the overlay and the result burned in, and a TID 1500 SR, in the input's study.
///
/// Their UIDs are planned (`plan`) and journalled with the report action before anything is written, so a
/// restart knows which files belong to an interrupted transaction.
struct DICOMOutput: Sendable {
    let writer: DICOMResultWriter
    /// Whether the results are queued for the C-STORE sender.
    let send: Bool

    /// What the action will write for `value`: nil for PNG and JPEG inputs, which belong to no study.
    func plan(for value: ClassifiedScan) -> DICOMOutputs? {
        guard value.scan.notes.format == .dicom else { return nil }
        return DICOMOutputs(folder: writer.directory.path, plan: writer.plan(), send: send)
    }

    /// Writes the planned objects for the classified scan whose report `report` is written.
    func write(_ value: ClassifiedScan, report: ReportWriter.Written, reportWriter: ReportWriter,
               planned: DICOMOutputs) throws(DICOMResultsError) -> DICOMResultWriter.Written {
        try writer.write(source: URL(fileURLWithPath: value.classification.file),
                         result: try DICOMResult(value, report: report, model: reportWriter.modelInfo), plan: planned.plan)
    }

    /// Whether a failure is the surroundings' (retry later, the transaction rolled back) rather than the
    /// input's (its header cannot carry the results: the report stands without them).
    static func isEnvironmental(_ error: DICOMResultsError) -> Bool {
        switch error {
        case .writeFailed, .exists, .internalError, .burnInFailed, .unreadable: true
        case .notDICOM, .invalidSource, .invalidUIDRoot, .invalidResult, .buildFailed, .characterSet: false
        }
    }
}
