public import Pipeline
public import Reporting
import Foundation

extension DICOMResult {
    /// The result of a classified scan whose PDF report is written (`report`), as its DICOM objects record it;
    /// for `classify --dicom-out` and the watcher. The report's bytes are read back for the Encapsulated PDF.
    /// - Throws: `.writeFailed` when the report cannot be read back.
    public init(_ value: ClassifiedScan, report: ReportWriter.Written, model: ScanReport.Model) throws(DICOMResultsError) {
        let pdf: Data
        do { pdf = try Data(contentsOf: report.url) } catch {
            throw .writeFailed(path: report.url.path, cause: "the report just written cannot be read back: \(error.localizedDescription)")
        }
        let c = value.classification
        self.init(
            predictedClass: c.predictedClass,
            probabilities: c.probabilities.map { .init(className: $0.className, probability: $0.probability) },
            modelName: model.name, modelVersion: model.version, modelSHA256: model.sha256,
            softwareVersion: ReportWriter.softwareVersion, outOfDistribution: c.outOfDistribution.flagged,
            reportPDF: pdf, overlay: report.picture)
    }
}
