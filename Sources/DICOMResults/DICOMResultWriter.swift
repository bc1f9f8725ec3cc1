import CAM
public import Foundation
import Reporting
import XRayCore
#if canImport(Glibc)
import Glibc
#endif

/// Writes CXReview's result for one DICOM scan as three DICOM objects in the scan's study, each in a new series
/// of its own: an Encapsulated PDF of the report, a Secondary Capture of the scan with its overlay and the
/// result burned in, and a Comprehensive 3D SR (TID 1500). Files are named `<SOP Instance UID>.dcm`, written
/// atomically and never overwritten; the three appear together or not at all.
public struct DICOMResultWriter: Sendable {
    public let directory: URL
    public let uids: UIDGenerator

    /// The three files written for one scan.
    public struct Written: Sendable, Equatable {
        public let encapsulatedPDF: URL
        public let secondaryCapture: URL
        public let structuredReport: URL
        /// What the objects leave out of the source and why (e.g. an attribute whose value is invalid for its
        /// VR); attribute names and tags only, never values.
        public let notes: [String]

        public var all: [URL] { [encapsulatedPDF, secondaryCapture, structuredReport] }
    }

    /// The UIDs of one scan's three objects, chosen before anything is written: a caller with a crash journal
    /// records the plan first, so after a crash it knows the files (`files(in:)`) that belong to the transaction.
    public struct Plan: Sendable, Equatable, Codable {
        public struct Instance: Sendable, Equatable, Codable {
            public let seriesInstanceUID: String
            public let sopInstanceUID: String
        }

        public let encapsulatedPDF: Instance
        public let secondaryCapture: Instance
        public let structuredReport: Instance
        /// The SR's tracking UID (TID 1500 measurement group).
        public let trackingUID: String

        /// The three files, as `write` names them in `directory`.
        public func files(in directory: URL) -> [URL] {
            [encapsulatedPDF, secondaryCapture, structuredReport].map { directory.appendingPathComponent($0.sopInstanceUID + ".dcm") }
        }
    }

    /// New UIDs for one scan's objects.
    public func plan() -> Plan {
        func instance() -> Plan.Instance { .init(seriesInstanceUID: uids.make(), sopInstanceUID: uids.make()) }
        return Plan(encapsulatedPDF: instance(), secondaryCapture: instance(), structuredReport: instance(), trackingUID: uids.make())
    }

    static let manufacturer = "CXReview project"
    static let modelName = "CXReview"
    static let researchUseOnly = "RESEARCH USE ONLY"
    /// Series numbers per object type, so a viewer lists them in the same order in every study.
    static let seriesNumbers: (pdf: Int32, sc: Int32, sr: Int32) = (9901, 9902, 9903)
    /// Identifies CXReview as the SR's device observer (with a root: `<root>.1`).
    static let deviceUUID = UUID(uuidString: "5C1A7E0D-3B8E-4B6F-9D2A-6E0C8F4A1B27")!

    /// - Parameter uidRoot: the organisation's UID root; nil gives 2.25 UUID-derived UIDs.
    /// - Throws: `.invalidUIDRoot`, or `.writeFailed` when the folder cannot be made.
    public init(directory: URL, uidRoot: String? = nil) throws(DICOMResultsError) {
        uids = try UIDGenerator(root: uidRoot)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw .writeFailed(path: directory.path, cause: (error as NSError).localizedDescription)
        }
        self.directory = directory
    }

    /// Writes the three objects of `result` for the DICOM file `source` (never modified), with the UIDs of
    /// `plan` (by default new ones).
    /// - Throws: `.notDICOM` for PNG and JPEG sources (they belong to no study); `.exists` when a planned file is
    ///   there already; any failure leaves none of the three files behind.
    public func write(source: URL, result: DICOMResult, plan: Plan? = nil) throws(DICOMResultsError) -> Written {
        let plan = plan ?? self.plan()
        if let format = Self.imageFormat(of: source) { throw .notDICOM(file: source.lastPathComponent, format: format) }
        try Self.check(result)
        let dcmtk = try DCMTKResultSource.open(source)
        let (date, time) = Self.dateTime(result.createdAt)
        func info(_ number: Int32, _ what: String, _ uids: Plan.Instance) -> InstanceInfo {
            InstanceInfo(seriesInstanceUID: uids.seriesInstanceUID, sopInstanceUID: uids.sopInstanceUID, seriesNumber: number,
                         seriesDescription: "CXReview \(what) - \(Self.researchUseOnly)", contentDate: date, contentTime: time,
                         manufacturer: Self.manufacturer, modelName: Self.modelName, softwareVersion: result.softwareVersion,
                         contributionDescription: "Chest X-ray classification by CXReview \(result.softwareVersion), model \(Self.modelText(result)); research use only")
        }
        let pdf = info(Self.seriesNumbers.pdf, "report", plan.encapsulatedPDF),
            sc = info(Self.seriesNumbers.sc, "result image", plan.secondaryCapture),
            sr = info(Self.seriesNumbers.sr, "classification", plan.structuredReport)

        let burned: RGBImage
        do { burned = try BurnedInText.band(Self.burnedInLines(result), above: result.overlay) } catch {
            throw .burnInFailed(cause: error.description)
        }
        var staged: [StagedFile] = []
        defer { staged.forEach { $0.discard() } }
        staged.append(try StagedFile(directory: directory, name: pdf.sopInstanceUID + ".dcm") { (path) throws(DICOMResultsError) in
            try dcmtk.writeEncapsulatedPDF(pdf, pdf: result.reportPDF,
                                           title: "CXReview chest X-ray classification report - \(Self.researchUseOnly), not for clinical use",
                                           to: path)
        })
        staged.append(try StagedFile(directory: directory, name: sc.sopInstanceUID + ".dcm") { (path) throws(DICOMResultsError) in
            try dcmtk.writeSecondaryCapture(
                sc, image: burned,
                derivation: "Scan downsampled as in the CXReview report, saliency heat map of the predicted class blended over it, result burned in above; \(Self.researchUseOnly)",
                to: path)
        })
        staged.append(try StagedFile(directory: directory, name: sr.sopInstanceUID + ".dcm") { (path) throws(DICOMResultsError) in
            try dcmtk.writeSR(sr, srContent(result, trackingUID: plan.trackingUID), to: path)
        })
        try StagedFile.publish(staged, in: directory)
        return Written(encapsulatedPDF: staged[0].final, secondaryCapture: staged[1].final, structuredReport: staged[2].final,
                       notes: dcmtk.notes)
    }

    /// "PNG" or "JPEG" when the file starts with that format's signature; nil otherwise.
    static func imageFormat(of url: URL) -> String? {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return nil }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 8)) ?? Data())
        return DecodingNotes.SourceFormat(imageSignature: head)?.rawValue.uppercased()
    }

    static func check(_ r: DICOMResult) throws(DICOMResultsError) {
        guard !r.probabilities.isEmpty else { throw .invalidResult(reason: "no probabilities") }
        guard r.probabilities.contains(where: { $0.className == r.predictedClass }) else {
            throw .invalidResult(reason: "the predicted class \(r.predictedClass) is not among the probabilities' classes")
        }
        guard r.probabilities.allSatisfy({ $0.probability.isFinite && (0...1).contains($0.probability) }) else {
            throw .invalidResult(reason: "a probability is outside 0...1")
        }
        guard !r.modelName.isEmpty, !r.modelSHA256.isEmpty, !r.softwareVersion.isEmpty else {
            throw .invalidResult(reason: "the model name, its SHA-256 and the software version are required")
        }
        guard r.reportPDF.starts(with: Array("%PDF-".utf8)) else { throw .invalidResult(reason: "the report bytes are not a PDF") }
    }

    /// The model as the results name it: "name version", or "name" when it has no version.
    static func modelText(_ r: DICOMResult) -> String {
        [r.modelName, r.modelVersion].compactMap { $0 }.joined(separator: " ")
    }

    /// What the Secondary Capture shows above the scan: the notice, the result, every probability.
    static func burnedInLines(_ r: DICOMResult) -> [String] {
        let p = r.probabilities.first { $0.className == r.predictedClass }?.probability ?? 0
        let result = r.outOfDistribution
            ? "OUT OF DISTRIBUTION, no finding (model output: \(r.predictedClass) \(fixed(p)))"
            : "\(r.predictedClass) (\(fixed(p)))"
        return [
            "\(researchUseOnly) - NOT FOR CLINICAL USE - UNVERIFIED",
            "CXReview: \(result)",
            "probabilities: " + r.probabilities.map { "\($0.className) \(fixed($0.probability))" }.joined(separator: ", "),
            "model \(modelText(r)), CXReview \(r.softwareVersion)",
        ]
    }

    func srContent(_ r: DICOMResult, trackingUID: String) -> SRContent {
        var comment = "\(Self.researchUseOnly): not for clinical use. Calibrated probabilities from CXReview \(r.softwareVersion), not verified by a physician."
        if r.outOfDistribution {
            comment += " The scan is out of the model's distribution: its class is no finding."
        }
        return SRContent(
            predictedClass: ResultCodes.finding(r.predictedClass),
            probabilities: r.probabilities.map { (ResultCodes.probability($0.className), $0.probability) },
            outOfDistribution: r.outOfDistribution,
            algorithmName: r.modelName, algorithmVersion: r.modelVersion ?? "unversioned",
            algorithmParameters: ["model SHA-256 \(r.modelSHA256)", "software CXReview \(r.softwareVersion)"],
            trackingIdentifier: "CXReview classification", trackingUID: trackingUID,
            deviceObserverUID: uids.fixed(Self.deviceUUID, component: 1), comment: comment)
    }

    static func fixed(_ v: Double) -> String { String(format: "%.3f", locale: nil, v) }

    /// DICOM DA and TM of `date` in UTC.
    static func dateTime(_ date: Date) -> (String, String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return (String(format: "%04d%02d%02d", c.year!, c.month!, c.day!), String(format: "%02d%02d%02d", c.hour!, c.minute!, c.second!))
    }
}
