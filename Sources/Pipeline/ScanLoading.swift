import Foundation
import XRayCore

/// Something that turns a file into a `DecodedScan`: in this process (`ScanLoader`), or in a
/// decoder child process that a crashing C library cannot take the caller down with
/// (`IsolatedScanLoader`).
public protocol ScanLoading: Sendable {
    func load(_ url: URL) throws(PipelineError) -> DecodedScan
}

extension ScanLoader: ScanLoading {}
