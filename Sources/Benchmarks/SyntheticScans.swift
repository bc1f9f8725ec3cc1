import Foundation
import XRayCore

/// Generated scans for the benchmarks: a smooth chest-like shape plus noise that depends on a seed,
/// so that decode cost does not depend on anatomy and every generated file has its own bytes.
public enum SyntheticScans {
    /// A 2000x2000 16-bit DICOM (12 bits stored, uncompressed), as `cxreview benchmark` times.
    public static func writeDICOM(to url: URL, seed: UInt32 = 12345) throws(DICOMWriter.Failure) {
        let n = 2000
        let pixels = pattern(size: n, seed: seed, range: 4095).map { UInt16($0) }
        try DICOMWriter.writeMonochrome16(
            width: n, height: n, pixels: pixels, bitsStored: 12, windowCenter: 2048, windowWidth: 4096,
            patientName: "Benchmark^Synthetic", to: url)
    }

    /// An 8-bit `size`² image of the same pattern.
    public static func image(size n: Int, seed: UInt32) -> GrayImage {
        GrayImage(width: n, height: n, pixels: pattern(size: n, seed: seed, range: 255).map { UInt8($0) })
    }

    /// `size`² values from 0 to `range`.
    static func pattern(size n: Int, seed: UInt32, range: Double) -> [Double] {
        var values = [Double](repeating: 0, count: n * n)
        var state = seed
        for y in 0..<n {
            for x in 0..<n {
                state = state &* 1_664_525 &+ 1_013_904_223
                let dx = Double(x - n / 2) / Double(n), dy = Double(y - n / 2) / Double(n)
                let base = 0.5 + 0.366 * cos(6 * dx) * cos(4 * dy) - 0.293 * exp(-40 * (dx * dx + dy * dy))
                values[y * n + x] = max(0, min(range, (base + (Double(state >> 24) - 128) / 4096) * range)).rounded(.down)
            }
        }
        return values
    }
}
