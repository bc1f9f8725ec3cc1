import DICOMDecoding
import Foundation
import ImageDecoding
import XRayCore

/// Turns a file into a `DecodedScan`, choosing the decoder by the file's content, not its name.
public struct ScanLoader: Sendable {
    public typealias Format = DecodingNotes.SourceFormat

    public init() {}

    /// PNG and JPEG by their signatures; DICOM by 'DICM' at offset 128 or, for files without a
    /// preamble (ACR-NEMA style), by the start looking like a bare data set (a truncated one too, so that
    /// its error says it is damaged). Only regular files are opened: a FIFO would block forever.
    public func sniff(_ url: URL) throws(PipelineError) -> Format {
        let name = url.relativePath
        let path = url.path
        var info = stat()
        if stat(path, &info) != 0 {
            throw PipelineError(stage: .read, file: name, underlying: Self.statFailure(errno: errno, path: path, name: name))
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR:
            throw PipelineError(stage: .read, file: name, underlying: InputError.isDirectory(file: name))
        case S_IFIFO:
            throw PipelineError(stage: .read, file: name, underlying: InputError.notRegularFile(file: name, kind: "a named pipe (FIFO)"))
        case S_IFSOCK:
            throw PipelineError(stage: .read, file: name, underlying: InputError.notRegularFile(file: name, kind: "a socket"))
        default:
            throw PipelineError(stage: .read, file: name, underlying: InputError.notRegularFile(file: name, kind: "a device"))
        }
        let head: Data
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            head = try handle.read(upToCount: 132) ?? Data()
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
            throw PipelineError(stage: .read, file: name, underlying: InputError.unreadable(file: name, reason: reason))
        }
        if head.isEmpty {
            throw PipelineError(stage: .read, file: name, underlying: InputError.empty(file: name))
        }
        let bytes = [UInt8](head)
        if let image = Format(imageSignature: bytes) { return image }
        if DICOMDecoder.isProbablyDICOM(url) { return .dicom }
        let shown = bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw PipelineError(stage: .read, file: name, underlying: InputError.unrecognisedFormat(file: name, firstBytes: shown))
    }

    /// What a failed stat(2) of `path` means for the user: missing, a link loop, a dangling link, or the
    /// system's reason (EACCES when a folder on the path may not be searched).
    static func statFailure(errno code: Int32, path: String, name: String) -> InputError {
        var link = stat()
        switch code {
        case ELOOP:
            return .symbolicLinkLoop(file: name)
        case ENOENT where lstat(path, &link) == 0:
            return .unreadable(file: name, reason: "it is a symbolic link whose target does not exist")
        case ENOENT, ENOTDIR:
            return .notFound(file: name)
        default:
            return .unreadable(file: name, reason: String(cString: strerror(code)))
        }
    }

    /// Decodes the file to a display-ready grey image with its header fields and decoding notes.
    public func load(_ url: URL) throws(PipelineError) -> DecodedScan {
        let format = try sniff(url)
        switch format {
        case .dicom:
            do { return try DICOMDecoder().decode(contentsOf: url) } catch { throw Self.decodeFailure(url, error) }
        case .png:
            do { return try PNGDecoder().decode(contentsOf: url) } catch { throw Self.decodeFailure(url, error) }
        case .jpeg:
            do { return try JPEGDecoder().decode(contentsOf: url) } catch { throw Self.decodeFailure(url, error) }
        }
    }

    private static func decodeFailure(_ url: URL, _ error: some Error & Sendable) -> PipelineError {
        PipelineError(stage: .decode, file: url.relativePath, underlying: error)
    }
}
