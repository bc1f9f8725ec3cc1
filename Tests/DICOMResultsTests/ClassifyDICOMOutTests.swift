import Foundation
import TestSupport
import Testing

/// `cxreview classify --report R --dicom-out D` as a user runs it: the built binary on the samples.
@Suite("cxreview classify --dicom-out")
struct ClassifyDICOMOutTests {
    static let root = Support.fixtures.deletingLastPathComponent().deletingLastPathComponent()
    static var model: String { TestModel.e2ePath }

    static func classify(_ arguments: [String]) throws -> Tool.Output {
        var env = ProcessInfo.processInfo.environment
        env["CXREVIEW_MODEL"] = nil
        return try Tool.run(BuiltExecutable.cxreview(packageRoot: root), ["classify", "--model", model] + arguments,
                            environment: env, directory: root)
    }

    @Test(.enabled(if: Support.which("dcmdump") != nil, "dcmdump (apt: dcmtk) is not installed"))
    func dicomScansGetThreeObjectsInTheirStudyAndImagesNone() throws {
        let out = try Support.folder()
        defer { Support.cleanUp(out) }
        let dicom = ["samples/cr-mono1-chest-no-meta.dcm", "samples/siim-chest-jpeg-baseline.dcm"]
        let run = try Self.classify(dicom + ["samples/covid19-3way-test-covid-0105.png", "--report", out.appendingPathComponent("reports").path,
                                             "--dicom-out", out.appendingPathComponent("dicom").path])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("DICOM results: none for samples/covid19-3way-test-covid-0105.png, a PNG image that belongs to no study"), "\(run.stderr)")
        let files = try FileManager.default.contentsOfDirectory(at: out.appendingPathComponent("dicom"), includingPropertiesForKeys: nil)
        #expect(files.count == 6 && files.allSatisfy { $0.pathExtension == "dcm" }, "\(files)")
        var studies: [String: Int] = [:]
        for file in files { studies[try #require(try Support.dump(file, "0020,000d")), default: 0] += 1 }
        let expected = try dicom.map { try #require(try Support.dump(Self.root.appendingPathComponent($0), "0020,000d")) }
        #expect(studies == Dictionary(uniqueKeysWithValues: expected.map { ($0, 3) }), "three objects in each source's study")
    }

    /// `--uid-root` puts every new series and instance UID under the organisation's root; a bad root is
    /// refused before anything is classified.
    @Test(.enabled(if: Support.which("dcmdump") != nil, "dcmdump (apt: dcmtk) is not installed"))
    func uidRootNamesTheNewSeriesAndInstances() throws {
        let out = try Support.folder()
        defer { Support.cleanUp(out) }
        let run = try Self.classify(["samples/cr-mono1-chest-no-meta.dcm", "--report", out.appendingPathComponent("reports").path,
                                     "--dicom-out", out.appendingPathComponent("dicom").path, "--uid-root", "1.2.826.0.1.3680043.10.999"])
        #expect(run.status == 0, "\(run.stderr)")
        let files = try FileManager.default.contentsOfDirectory(at: out.appendingPathComponent("dicom"), includingPropertiesForKeys: nil)
        #expect(files.count == 3)
        for file in files {
            for tag in ["0008,0018", "0020,000e"] {
                let uid = try #require(try Support.dump(file, tag))
                #expect(uid.contains("UI [1.2.826.0.1.3680043.10.999."), "\(file.lastPathComponent) \(tag) = \(uid)")
            }
        }
        let bad = try Self.classify(["samples/cr-mono1-chest-no-meta.dcm", "--report", out.appendingPathComponent("r2").path,
                                     "--dicom-out", out.appendingPathComponent("d2").path, "--uid-root", "1.2.03"])
        #expect(bad.status != 0 && bad.stderr.contains("1.2.03"), "\(bad.stderr)")
        let alone = try Self.classify(["samples/cr-mono1-chest-no-meta.dcm", "--uid-root", "1.2.3"])
        #expect(alone.stderr.contains("--uid-root goes with --dicom-out DIR."), "\(alone.stderr)")
    }

    @Test func dicomOutNeedsReport() throws {
        let folder1 = try Support.folder()
        defer { Support.cleanUp(folder1) }
        let run = try Self.classify(["samples/cr-mono1-chest-no-meta.dcm", "--dicom-out", folder1.path])
        #expect(run.status == 64, "\(run.stderr)")
        #expect(run.stderr.contains("--dicom-out goes with --report DIR."), "\(run.stderr)")
    }

    /// A scan whose results cannot be written fails alone, with the reason; its PDF report stays.
    @Test func aFailedDICOMResultFailsThatFileOnly() throws {
        let out = try Support.folder()
        defer { Support.cleanUp(out) }
        let run = try Self.classify(["Tests/Fixtures/dicom/dx_no_study.dcm", "samples/cr-mono1-chest-no-meta.dcm",
                                     "--report", out.appendingPathComponent("reports").path,
                                     "--dicom-out", out.appendingPathComponent("dicom").path])
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains("error: Tests/Fixtures/dicom/dx_no_study.dcm: no DICOM results were written (its PDF report"), "\(run.stderr)")
        #expect(run.stderr.contains("it has no Study Instance UID"), "\(run.stderr)")
        #expect(run.stdout.contains("1 classified, 1 failed"), "\(run.stdout)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("dicom").path).count == 3)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("reports").path).count == 2)
    }
}
