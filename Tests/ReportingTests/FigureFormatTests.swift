import Reporting
import Testing

@Suite struct FigureFormatTests {
    @Test func pathExtensionsMapCaseInsensitively() {
        #expect(FigureFormat(pathExtension: "png") == .png)
        #expect(FigureFormat(pathExtension: "PDF") == .pdf)
        #expect(FigureFormat(pathExtension: "jpg") == nil)
        #expect(FigureFormat(pathExtension: "") == nil)
    }
}
