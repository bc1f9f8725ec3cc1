/// A decoded input file: the display image, what the header says, and how the image was made.
public struct DecodedScan: Sendable, Equatable {
    public var image: GrayImage
    public var metadata: ScanMetadata
    public var notes: DecodingNotes

    public init(image: GrayImage, metadata: ScanMetadata, notes: DecodingNotes) {
        self.image = image
        self.metadata = metadata
        self.notes = notes
    }
}
