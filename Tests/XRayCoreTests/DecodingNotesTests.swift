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

    /// Issue 14, 5a: a damaged header's window reached these formatters and trapped converting to Int.
    @Test func nonFiniteAndHugeWindowValuesFormatWithoutTrapping() {
        #expect(String(format3: .nan) == "NaN")
        #expect(String(format3: .infinity) == "infinity")
        #expect(String(format3: -.infinity) == "-infinity")
        #expect(String(format3: 9.3e15) == "9.3e+15")
        #expect(String(format3: 123.4567) == "123.457")
        #expect(DecodingNotes.Window.file(center: .nan, width: 400).description == "window from file (center NaN, width 400)")
        #expect(DecodingNotes.Window.file(center: 9.3e15, width: .infinity).description
            == "window from file (center 9.3e+15, width infinity)")
        #expect(DecodingNotes.Window.automatic(method: "m", center: -1e300, width: 1).description
            == "automatic window, m (center -1e+300, width 1)")
    }

    @Test func controlCharactersAreEscapedOntoOneLine() {
        #expect("a\nb\tc\rd".escapingControlCharacters == "a\\nb\\tc\\rd")
        #expect("x\u{1B}[31my".escapingControlCharacters == "x\\u{1b}[31my")
        #expect("Müller^Zoë.dcm".escapingControlCharacters == "Müller^Zoë.dcm")
    }
}
