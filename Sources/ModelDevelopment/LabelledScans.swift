import Foundation
import Pipeline
import Synchronization
import Preprocessing
import Training
import XRayCore

/// Labelled scans decoded once and kept in memory at the network's input size (8-bit, resized
/// exactly as at inference), with a rank thumbnail of each original for near-duplicate checks.
///
/// 2,600 scans at 224x224 take about 130 MB. Files that cannot be decoded are left out and
/// listed in `failures` with their reasons; they never stop the load.
public struct LabelledScans: Sendable {
    public private(set) var entries: [DatasetIndex.Entry] = []
    /// Input-size images, same order as `entries`.
    public private(set) var images: [GrayImage] = []
    public private(set) var thumbnails: [RankThumbnail] = []
    public private(set) var failures: [PipelineError] = []

    public init() {}

    /// Scans already decoded at the network's input size (e.g. made by a test), each with its entry;
    /// the thumbnails are made from these images.
    public init(entries: [DatasetIndex.Entry], images: [GrayImage]) {
        precondition(entries.count == images.count, "\(entries.count) entries for \(images.count) images")
        self.entries = entries
        self.images = images
        thumbnails = images.map { RankThumbnail(thumbnail: PillowResize.bilinear($0, width: RankThumbnail.side, height: RankThumbnail.side)) }
    }

    /// Class index of each entry in `classNames` order.
    public func labels(classNames: [String]) -> [Int] {
        entries.map { e in classNames.firstIndex(of: e.label)! }
    }

    public var count: Int { entries.count }

    /// Decodes `entries` on `threads` threads, reporting progress as (done, total).
    public static func load(
        _ entries: [DatasetIndex.Entry], inputSize: Int, threads: Int = 2,
        progress: (@Sendable (Int, Int) -> Void)? = nil
    ) -> LabelledScans {
        let loader = ScanLoader()
        let n = entries.count
        let results = Mutex<[Int: Result<(GrayImage, RankThumbnail), PipelineError>]>([:])
        let next = Mutex(0)
        let parts = max(1, min(threads, n))
        DispatchQueue.concurrentPerform(iterations: parts) { _ in
            while true {
                let i: Int = next.withLock { v in defer { v += 1 }; return v }
                if i >= n { break }
                let r: Result<(GrayImage, RankThumbnail), PipelineError>
                do throws(PipelineError) {
                    let scan = try loader.load(URL(fileURLWithPath: entries[i].path))
                    let small = PillowResize.bilinear(scan.image, width: inputSize, height: inputSize)
                    let thumb = RankThumbnail(thumbnail: PillowResize.bilinear(scan.image, width: RankThumbnail.side, height: RankThumbnail.side))
                    r = .success((small, thumb))
                } catch {
                    r = .failure(error)
                }
                let done = results.withLock { d in d[i] = r; return d.count }
                progress?(done, n)
            }
        }
        var out = LabelledScans()
        let all = results.withLock { $0 }
        for i in 0..<n {
            switch all[i]! {
            case let .success((image, thumb)):
                out.entries.append(entries[i])
                out.images.append(image)
                out.thumbnails.append(thumb)
            case let .failure(e):
                out.failures.append(e)
            }
        }
        return out
    }

    /// The subset at `indices`, in that order.
    public func subset(_ indices: [Int]) -> LabelledScans {
        var s = LabelledScans()
        s.entries = indices.map { entries[$0] }
        s.images = indices.map { images[$0] }
        s.thumbnails = indices.map { thumbnails[$0] }
        return s
    }
}
