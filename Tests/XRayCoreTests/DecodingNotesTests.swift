import Testing
@testable import XRayCore

@Suite struct DecodingNotesTests {
    @Test func windowDescriptionsSayWhereTheWindowCameFrom() {
        #expect(DecodingNotes.Window.file(center: 550, width: 1024).description
            == "window from file (center 550, width 1024)")
        #expect(DecodingNotes.Window.automatic(method: "0.5–99.5 percentile", center: 1500.25, width: 3000).description
            == "automatic window, 0.5–99.5 percentile (center 1500.250, width 3000)")
    }

    @Test func summaryListsInversionFramesAndColour() {
        let n = DecodingNotes(format: .dicom, window: .none, inverted: true, frameCount: 10, convertedFromColour: true)
        #expect(n.summary == "DICOM; no window (stored values shown as they are); inverted for display (bones white); first of 10 frames used; colour converted to grey")
    }

    @Test func negativeFractionsFormatWithSign() {
        #expect(String(format3: -1.5) == "-1.500")
        #expect(String(format3: 0.0625) == "0.063")
    }
}
