public import Foundation
public import XRayCore

/// A grid of scans with their labels, like the preview of the original PyTorch tutorial: each image
/// with its true label below it in black and, when given, the predicted label in green when right
/// and red when wrong (with ✓ / ✗, so the colours are not the only cue).
///
/// Tiles are `tileSize` points square (pixels in the PNG), each scan letterboxed on black.
public struct PreviewGrid: Sendable {
    /// One scan and its labels.
    public struct Tile: Sendable {
        public var image: GrayImage
        public var trueLabel: String?
        /// The model's label; it is right when it equals `trueLabel`.
        public var predicted: String?
        /// Free text under the labels, e.g. a file name; wrapped to the tile width.
        public var caption: String?

        public init(image: GrayImage, trueLabel: String? = nil, predicted: String? = nil, caption: String? = nil) {
            self.image = image
            self.trueLabel = trueLabel
            self.predicted = predicted
            self.caption = caption
        }

        /// True or false when both labels are known; nil otherwise.
        public var isCorrect: Bool? {
            guard let trueLabel, let predicted else { return nil }
            return trueLabel == predicted
        }
    }

    public var title: String
    public var tiles: [Tile]
    public var columns: Int = 6
    /// Tile side in points (PDF) or pixels (PNG), 32...1024.
    public var tileSize: Int = 224
    public var disclaimer: String = "Research use only. Not for diagnostic use."

    public init(
        title: String, tiles: [Tile], columns: Int = 6, tileSize: Int = 224,
        disclaimer: String = "Research use only. Not for diagnostic use."
    ) {
        self.title = title
        self.tiles = tiles
        self.columns = columns
        self.tileSize = tileSize
        self.disclaimer = disclaimer
    }

    /// Renders the grid to `url` as a single page sized to fit it.
    ///
    /// Writes atomically: to a temporary file in the same folder, then renamed, so the figure is
    /// complete or absent; never overwrites an existing file unless `overwrite` is true.
    /// - Throws: `RenderError.invalidFigure` for no tiles or out-of-range sizes (before anything is
    ///   written), `.exists` or `.cannotWrite` for the file.
    public func write(to url: URL, format: FigureFormat, overwrite: Bool = false) throws(RenderError) {
        _ = try render(to: url, format: format, overwrite: overwrite)
    }

    /// Largest page side Cairo's image surfaces allow.
    static let maximumSide = 32_767.0

    func validate() throws(RenderError) {
        guard !tiles.isEmpty else { throw .invalidFigure(reason: "the preview grid has no tiles") }
        guard columns >= 1 else { throw .invalidFigure(reason: "columns is \(columns); it must be at least 1") }
        guard (32...1024).contains(tileSize) else {
            throw .invalidFigure(reason: "tileSize is \(tileSize); it must be between 32 and 1024")
        }
    }

    /// Where the parts of the grid were drawn, in points (= PNG pixels).
    struct Geometry {
        /// Per tile: the image as drawn (letterboxed), the true label's line, the predicted label's line.
        var images: [Rect] = []
        var trueLabels: [Rect?] = []
        var predictedLabels: [Rect?] = []
        var disclaimer: Rect?
    }

    func render(to url: URL, format: FigureFormat, overwrite: Bool) throws(RenderError) -> Geometry {
        try validate()
        let info = DocumentInfo(title: title, subject: "Preview of \(tiles.count) scans with labels. \(disclaimer)")
        // Sizes depend on text measurement, so lay out once on a small scratch page, then draw.
        let size = try Self.measurePage(self)
        guard size.width <= Self.maximumSide, size.height <= Self.maximumSide else {
            throw .invalidFigure(reason: "\(tiles.count) tiles of \(tileSize) in \(columns) columns make a page of \(Int(size.width))×\(Int(size.height)), over the limit of \(Int(Self.maximumSide)); split the tiles over several grids")
        }
        var geometry = Geometry()
        try Canvas.render(to: url, format: format, overwrite: overwrite, size: size, pngScale: 1, info: info) {
            (canvas) throws(RenderError) in
            geometry = draw(on: canvas, drawing: true).geometry
        }
        return geometry
    }
}
