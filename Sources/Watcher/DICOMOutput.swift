public import DICOMResults
public import Foundation
public import Pipeline
public import Reporting

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
        let pdf: Data
        do { pdf = try Data(contentsOf: report.url) } catch {
            throw .writeFailed(path: report.url.path, cause: "the report just written cannot be read back: \(error.localizedDescription)")
        }
        return try writer.write(source: URL(fileURLWithPath: value.classification.file),
                                result: DICOMResult(value, report: report, pdf: pdf, model: reportWriter.modelInfo),
                                plan: planned.plan)
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

extension DICOMResult {
    /// The result of a classified scan whose report is written (`pdf`: its bytes), as its DICOM objects
    /// record it; for the watcher and `classify --dicom-out`.
    public init(_ value: ClassifiedScan, report: ReportWriter.Written, pdf: Data, model: ScanReport.Model) {
        let c = value.classification
        self.init(
            predictedClass: c.predictedClass,
            probabilities: c.probabilities.map { .init(className: $0.className, probability: $0.probability) },
            modelName: model.name, modelVersion: model.version, modelSHA256: model.sha256,
            softwareVersion: ReportWriter.softwareVersion, outOfDistribution: c.outOfDistribution.flagged,
            reportPDF: pdf, overlay: report.picture)
    }
}
