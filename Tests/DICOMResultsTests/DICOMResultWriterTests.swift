import CAM
import DICOMResults
import Foundation
import Reporting
import TestSupport
import Testing

/// The three result objects, written by real DCMTK from real fixtures, checked with DCMTK's dcmdump and the
/// independent dicom3tools (dciodvfy, dcentvfy) and pixelmed (DicomSRValidator) where installed.
@Suite("DICOM results: Encapsulated PDF, Secondary Capture, TID 1500 SR")
struct DICOMResultWriterTests {
    /// The Patient and General Study attributes that must be copies of the source's, plus the character set.
    static let studyTags = ["0008,0005", "0010,0010", "0010,0020", "0010,0030", "0010,0040", "0020,000d", "0008,0020",
                            "0008,0030", "0008,0050", "0020,0010", "0008,0090", "0008,1030", "0010,1010"]

    static let sources = ["highdicom_dx_image.dcm", "CR-MONO1-10-chest.dcm", "dx_utf8_patient.dcm", "dx_latin1_patient.dcm"]

    @Test(.enabled(if: Support.which("dcmdump") != nil, "dcmdump (apt: dcmtk) is not installed"),
          arguments: sources)
    func objectsGoIntoTheSourceStudyWithItsPatientAndStudyCopied(_ name: String) throws {
        let source = Support.dicom(name), out = try Support.folder()
        defer { Support.cleanUp(out) }
        let written = try DICOMResultWriter(directory: out).write(source: source, result: Support.result())
        let classes = ["1.2.840.10008.5.1.4.1.1.104.1", "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.88.34"]
        var series: Set<String> = []
        for (file, sopClass) in zip(written.all, classes) {
            #expect(try Support.dump(file, "0008,0016")?.contains(sopClass) == true, "\(file.lastPathComponent)")
            let instance = try #require(try Support.dump(file, "0008,0018"))
            #expect(instance.contains("[\(file.deletingPathExtension().lastPathComponent)]"), "named after its SOP Instance UID")
            series.insert(try #require(try Support.dump(file, "0020,000e")))
            for tag in Self.studyTags {
                // What the source lacks is absent, or present empty where the module makes it Type 2.
                let expected = try Support.dump(source, tag)
                let actual = try Support.dump(file, tag)
                if let expected {
                    #expect(actual == expected, "\(tag) of \(file.lastPathComponent) vs \(name)")
                } else {
                    #expect(actual == nil || actual!.contains("(no value available)"), "\(tag) of \(file.lastPathComponent): \(actual!)")
                }
            }
            #expect(try Support.dump(file, "0018,a001") != nil, "Contributing Equipment Sequence")
            #expect(try Support.dump(file, "0008,103e")?.contains("RESEARCH USE ONLY") == true)
        }
        #expect(series.count == 3, "a new series per object type")
        #expect(try Support.dump(written.structuredReport, "0040,a493")?.contains("[UNVERIFIED]") == true)
        #expect(try Support.dump(written.encapsulatedPDF, "0042,0010")?.contains("RESEARCH USE ONLY") == true)
        #expect(try Support.dump(written.secondaryCapture, "0028,0301")?.contains("[YES]") == true)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: out.path)) == Set(written.all.map(\.lastPathComponent)),
                "no temporary files are left")
    }

    /// pdf2dcm --study-from drops these; the results must not.
    @Test(.enabled(if: Support.which("dcmdump") != nil, "dcmdump (apt: dcmtk) is not installed"))
    func studyDateTimeAccessionAndStudyIDAreKept() throws {
        let source = Support.dicom("highdicom_dx_image.dcm")
        let folder2 = try Support.folder()
        defer { Support.cleanUp(folder2) }
        let written = try DICOMResultWriter(directory: folder2).write(source: source, result: Support.result())
        for file in written.all {
            #expect(try Support.dump(file, "0008,0020")?.contains("[20200125]") == true)
            #expect(try Support.dump(file, "0008,0030")?.contains("[104702.826]") == true)
            #expect(try Support.dump(file, "0008,0050")?.contains("[16387a]") == true)
            #expect(try Support.dump(file, "0020,0010")?.contains("[A2273]") == true)
        }
    }

    /// Bytes as stored: the UTF-8 name is in every object byte for byte, declared ISO_IR 192 (never ISO_IR 100).
    @Test(.enabled(if: Support.which("dcmdump") != nil, "dcmdump (apt: dcmtk) is not installed"))
    func utf8PatientNameSurvivesDeclaredISO_IR_192() throws {
        let folder3 = try Support.folder()
        defer { Support.cleanUp(folder3) }
        let written = try DICOMResultWriter(directory: folder3)
            .write(source: Support.dicom("dx_utf8_patient.dcm"), result: Support.result())
        for file in written.all {
            #expect(try Support.dump(file, "0008,0005") == "(0008,0005) CS [ISO_IR 192]")
            let bytes = try Data(contentsOf: file)
            #expect(bytes.range(of: Data("Иванов^Пётр".utf8)) != nil, "\(file.lastPathComponent)")
            #expect(bytes.range(of: Data("Грудная клетка".utf8)) != nil)
        }
    }

    /// A Latin-1 source keeps its bytes and ISO_IR 100 while the results' own text is ASCII; with a model
    /// name that is not ASCII, everything is UTF-8 and declared so.
    @Test(.enabled(if: Support.which("dcmdump") != nil, "dcmdump (apt: dcmtk) is not installed"))
    func latin1SourceIsCopiedAsStoredOrConvertedWhole() throws {
        let source = Support.dicom("dx_latin1_patient.dcm")
        let latin1Name = Data([0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72, 0x5E, 0x4A, 0xFC, 0x72, 0x67, 0x65, 0x6E])  // Müller^Jürgen
        let folder4 = try Support.folder()
        defer { Support.cleanUp(folder4) }
        let ascii = try DICOMResultWriter(directory: folder4).write(source: source, result: Support.result())
        for file in ascii.all {
            #expect(try Support.dump(file, "0008,0005") == "(0008,0005) CS [ISO_IR 100]")
            #expect(try Data(contentsOf: file).range(of: latin1Name) != nil, "\(file.lastPathComponent)")
        }
        let folder5 = try Support.folder()
        defer { Support.cleanUp(folder5) }
        let utf8 = try DICOMResultWriter(directory: folder5)
            .write(source: source, result: Support.result(modelName: "modèle-θ"))
        for file in utf8.all {
            #expect(try Support.dump(file, "0008,0005") == "(0008,0005) CS [ISO_IR 192]")
            let bytes = try Data(contentsOf: file)
            #expect(bytes.range(of: Data("Müller^Jürgen".utf8)) != nil, "\(file.lastPathComponent)")
            #expect(bytes.range(of: latin1Name) == nil)
        }
        #expect(try Data(contentsOf: utf8.structuredReport).range(of: Data("modèle-θ".utf8)) != nil)
    }

    /// The SIIM scan's Patient's Age is "62", not a valid AS ("062Y"): copied, it would make every result
    /// invalid, so it is left out and the notes say so without its value.
    @Test(.enabled(if: Support.which("dcmdump") != nil, "dcmdump (apt: dcmtk) is not installed"))
    func valuesInvalidForTheirVRAreLeftOutAndNoted() throws {
        let source = Support.dicom("siim_1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm")
        #expect(try Support.dump(source, "0010,1010")?.contains("[62]") == true, "the fixture's invalid age")
        let folder6 = try Support.folder()
        defer { Support.cleanUp(folder6) }
        let written = try DICOMResultWriter(directory: folder6).write(source: source, result: Support.result())
        #expect(written.notes == ["left out the source's PatientAge (0010,1010): its value is not valid AS"], "\(written.notes)")
        for file in written.all {
            #expect(try Support.dump(file, "0010,1010") == nil)
            #expect(try Support.dump(file, "0010,0010") == Support.dump(source, "0010,0010"))
        }
    }

    @Test func twoRunsMakeNewSeriesAndInstancesAndOverwriteNothing() throws {
        let out = try Support.folder(), writer = try DICOMResultWriter(directory: out)
        defer { Support.cleanUp(out) }
        let source = Support.dicom("highdicom_dx_image.dcm")
        let sourceBytes = try Data(contentsOf: source)
        let first = try writer.write(source: source, result: Support.result())
        let firstBytes = try first.all.map { try Data(contentsOf: $0) }
        let second = try writer.write(source: source, result: Support.result())
        #expect(Set(first.all).isDisjoint(with: second.all))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).count == 6)
        #expect(try first.all.map { try Data(contentsOf: $0) } == firstBytes, "the first run's files are untouched")
        #expect(try Data(contentsOf: source) == sourceBytes, "the source is never modified")
        if Support.which("dcmdump") != nil {
            for (a, b) in zip(first.all, second.all) {
                #expect(try Support.dump(a, "0020,000e") != Support.dump(b, "0020,000e"))
            }
        }
    }

    @Test(arguments: ["images/covid_grey.jpg", "images/covid_grey.jpg.L.png"])
    func pngAndJPEGAreRefusedWithoutWritingAnything(_ relative: String) throws {
        let out = try Support.folder()
        defer { Support.cleanUp(out) }
        let image = Support.fixtures.appendingPathComponent(relative)
        #expect(throws: DICOMResultsError.notDICOM(file: image.lastPathComponent, format: relative.hasSuffix("png") ? "PNG" : "JPEG")) {
            try DICOMResultWriter(directory: out).write(source: image, result: Support.result())
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty)
        #expect(DICOMResultsError.notDICOM(file: "a.png", format: "PNG").description.contains("no DICOM results are written"))
    }

    /// A DICOM object without Study Instance UID belongs to no study: a clear error, and no files.
    @Test func sourceWithoutStudyIsRefused() throws {
        let out = try Support.folder()
        defer { Support.cleanUp(out) }
        do {
            let written = try DICOMResultWriter(directory: out).write(source: Support.dicom("dx_no_study.dcm"), result: Support.result())
            Issue.record("wrote \(written.all)")
        } catch {
            guard case .invalidSource(let file, let cause) = error else { Issue.record("\(error)"); return }
            #expect(file == "dx_no_study.dcm" && cause.contains("no Study Instance UID"), "\(cause)")
            #expect(error.description.contains("cannot be the source of DICOM results"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty)
    }

    @Test func uidsComeFromTheConfiguredRootOr2_25() throws {
        let rooted = try UIDGenerator(root: "1.2.826.0.1.3680043.10.1234")
        let a = rooted.make(), b = rooted.make()
        #expect(a != b && a.hasPrefix("1.2.826.0.1.3680043.10.1234.") && a.count <= 64)
        let plain = try UIDGenerator(root: nil).make()
        #expect(plain.hasPrefix("2.25.") && plain.count <= 64)
        for uid in [a, b, plain] {
            #expect(uid.split(separator: ".").allSatisfy { $0 == "0" || $0.first != "0" }, "\(uid)")
        }
        for bad in ["", "1..2", "1.02", "1.2.a", String(repeating: "1.2", count: 20)] {
            #expect(throws: DICOMResultsError.self) { try UIDGenerator(root: bad) }
        }
        let out = try Support.folder()
        defer { Support.cleanUp(out) }
        let written = try DICOMResultWriter(directory: out, uidRoot: "1.2.826.0.1.3680043.10.1234")
            .write(source: Support.dicom("highdicom_dx_image.dcm"), result: Support.result())
        #expect(written.all.allSatisfy { $0.lastPathComponent.hasPrefix("1.2.826.0.1.3680043.10.1234.") })
    }

    /// The burned-in band sits above the scan, which keeps every pixel; the band has white text on black.
    @Test func burnedInTextGoesInABandAboveTheScan() throws {
        let image = Support.overlay
        let burned = try BurnedInText.band(["RESEARCH USE ONLY", "covid (0.800)"], above: image)
        #expect(burned.width == image.width && burned.height > image.height)
        let band = burned.height - image.height
        #expect(Array(burned.pixels[(band * image.width * 3)...]) == image.pixels, "the scan's pixels are unchanged")
        let bandPixels = burned.pixels[..<(band * image.width * 3)]
        #expect(bandPixels.contains(255) && bandPixels.filter { $0 == 0 }.count > bandPixels.count / 2)
    }
}

/// The independent validators. Each needs its tool and says so when it is missing.
@Suite("DICOM results: independent validators", .serialized)
struct DICOMResultValidatorTests {
    static let sources = ["highdicom_dx_image.dcm", "dx_utf8_patient.dcm", "CR-MONO1-10-chest.dcm",
                          "siim_1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"]

    @Test(.enabled(if: Support.which("dciodvfy") != nil, "dciodvfy (apt: dicom3tools) is not installed"), arguments: sources)
    func dciodvfyFindsNoErrors(_ name: String) throws {
        let folder7 = try Support.folder()
        defer { Support.cleanUp(folder7) }
        let written = try DICOMResultWriter(directory: folder7)
            .write(source: Support.dicom(name), result: Support.result(outOfDistribution: true))
        for file in written.all {
            let out = try Tool.run("dciodvfy", [file.path])
            let report = out.stdout + out.stderr
            let errors = report.split(separator: "\n").filter { $0.hasPrefix("Error") }
            #expect(errors.isEmpty, "\(file.lastPathComponent) from \(name):\n\(report)")
        }
    }

    /// highdicom_dx_image.dcm itself is not among the sources here: its Pixel Data has an odd length, which
    /// dcentvfy refuses to read (the UTF-8 fixture is the same image, rewritten by pydicom).
    @Test(.enabled(if: Support.which("dcentvfy") != nil, "dcentvfy (apt: dicom3tools) is not installed"),
          arguments: ["dx_utf8_patient.dcm", "dx_latin1_patient.dcm", "CR-MONO1-10-chest.dcm"])
    func dcentvfyFindsResultsConsistentWithTheSource(_ name: String) throws {
        let source = Support.dicom(name)
        let folder8 = try Support.folder()
        defer { Support.cleanUp(folder8) }
        let written = try DICOMResultWriter(directory: folder8).write(source: source, result: Support.result())
        let out = try Tool.run("dcentvfy", [source.path] + written.all.map(\.path))
        let report = out.stdout + out.stderr
        #expect(!report.split(separator: "\n").contains { $0.hasPrefix("Error") }, "\(name):\n\(report)")
    }

    @Test(.enabled(if: Support.hasSRValidator, "DicomSRValidator (apt: pixelmed-apps, with java) is not installed"))
    func srPassesPixelmedsSRValidator() throws {
        let folder9 = try Support.folder()
        defer { Support.cleanUp(folder9) }
        let written = try DICOMResultWriter(directory: folder9)
            .write(source: Support.dicom("highdicom_dx_image.dcm"), result: Support.result())
        // JDK 17's XPath limits stop pixelmed's template checks; lift them.
        let out = try Tool.run("java", ["-Djdk.xml.xpathExprOpLimit=0", "-Djdk.xml.xpathExprGrpLimit=0",
                                        "-Djdk.xml.xpathTotalOpLimit=0", "-cp", Support.pixelmedJar,
                                        "com.pixelmed.validate.DicomSRValidator", written.structuredReport.path])
        let report = out.stdout + out.stderr
        #expect(report.contains("Found Comprehensive3DSR IOD"), "\(report)")
        #expect(report.contains("IOD validation complete"), "\(report)")
        #expect(!report.split(separator: "\n").contains { $0.hasPrefix("Error") }, "\(report)")
        #expect(!report.contains("Content Item not in template"), "\(report)")
    }
}
