import CAM
import Foundation

/// Text burned into an image's pixels, for DICOM objects whose viewers show pixels only (a Secondary Capture).
public enum BurnedInText {
    /// `image` below a black band holding `lines` in white (the first in bold), so that no text covers the
    /// scan. The band's font scales with the image's width (at least 12 px); returns the taller image.
    public static func band(_ lines: [String], above image: RGBImage) throws(RenderError) -> RGBImage {
        let fontSize = max(12, (Double(image.width) / 48).rounded())
        let margin = (fontSize * 0.6).rounded()
        let fonts = lines.indices.map { Font.sans(fontSize, bold: $0 == 0) }
        // Measure first: the band is as tall as the wrapped lines need.
        let scratch = try Canvas.scratch()
        let textWidth = Double(image.width) - 2 * margin
        let heights = zip(lines, fonts).map { scratch.measure($0, $1, width: textWidth).height }
        let bandHeight = Int((heights.reduce(0, +) + 2 * margin).rounded(.up))
        return try Canvas.raster(width: image.width, height: image.height + bandHeight) { canvas in
            canvas.fill(Rect(x: 0, y: 0, width: Double(image.width), height: Double(bandHeight)), .black)
            var y = margin
            for (line, (font, height)) in zip(lines, zip(fonts, heights)) {
                canvas.text(line, at: Point(x: margin, y: y), font, .white, width: textWidth)
                y += height
            }
            canvas.image(image, fitting: Rect(x: 0, y: Double(bandHeight), width: Double(image.width), height: Double(image.height)),
                         background: nil)
        }
    }
}
