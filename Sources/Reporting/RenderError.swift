/// Why a figure or report could not be written. Every case says what happened and what to do.
public enum RenderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The output file exists and `overwrite` was false; nothing was written.
    case exists(path: String)
    /// The file could not be created or written; `reason` is the system's (errno) or Cairo's message.
    case cannotWrite(path: String, reason: String)
    /// The figure's data is inconsistent (e.g. a confusion matrix that does not match the class names).
    case invalidFigure(reason: String)
    /// Cairo or Pango failed while drawing (e.g. out of memory); `reason` is Cairo's status message.
    case drawingFailed(reason: String)

    public var description: String {
        switch self {
        case let .exists(path):
            return "\(path) already exists and was left untouched; choose another name or remove it first."
        case let .cannotWrite(path, reason):
            return "cannot write \(path) (\(reason)); check that the folder exists, is writable and has free space."
        case let .invalidFigure(reason):
            return "the figure cannot be drawn: \(reason); fix the data passed to the figure."
        case let .drawingFailed(reason):
            return "drawing the figure failed in Cairo (\(reason)); free memory or reduce the figure's size and try again."
        }
    }
}
