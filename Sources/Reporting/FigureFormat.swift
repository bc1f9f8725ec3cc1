/// The file format of a rendered figure.
public enum FigureFormat: String, Sendable, CaseIterable {
    /// A raster image (RGB), sized for reading on screen.
    case png
    /// A single-page vector PDF, sized in points.
    case pdf

    /// The format for a file extension ("png", "PDF"); `nil` for anything else.
    public init?(pathExtension: String) {
        self.init(rawValue: pathExtension.lowercased())
    }
}
