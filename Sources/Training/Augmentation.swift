import Foundation
import XRayCore

/// Random changes to a training image, so a network trained from scratch on a few thousand scans
/// sees each one in many forms: a horizontal flip (as the tutorial did), a small rotation, zoom and
/// shift, and a change of brightness and contrast.
///
/// It works on the image already resized to the network's input size exactly as at test time,
/// so with every change off the output is the test-time input, bit for bit.
public struct Augmentation: Sendable, Equatable, Codable {
    public var flipProbability: Double = 0.5
    public var maxRotationDegrees: Double = 7
    public var scaleRange: ClosedRange<Double> = 0.92...1.08
    /// Largest shift as a fraction of the side.
    public var maxShift: Double = 0.04
    /// Multiplicative contrast around mid-grey and additive brightness, in grey levels.
    public var contrastRange: ClosedRange<Double> = 0.85...1.15
    public var maxBrightness: Double = 12

    public init() {}

    /// No change at all: evaluation and the validation split use this.
    public static let none: Augmentation = {
        var a = Augmentation()
        a.flipProbability = 0
        a.maxRotationDegrees = 0
        a.scaleRange = 1...1
        a.maxShift = 0
        a.contrastRange = 1...1
        a.maxBrightness = 0
        return a
    }()

    /// The parameters drawn for one sample.
    public struct Draw: Sendable, Equatable {
        public var flip: Bool
        public var rotation: Double  // radians
        public var scale: Double
        public var shiftX: Double, shiftY: Double  // pixels
        public var contrast: Double
        public var brightness: Double

        public static let identity = Draw(flip: false, rotation: 0, scale: 1, shiftX: 0, shiftY: 0, contrast: 1, brightness: 0)
    }

    public func draw(side: Int, using rng: inout some RandomNumberGenerator) -> Draw {
        func uniform(_ r: ClosedRange<Double>) -> Double { r.lowerBound == r.upperBound ? r.lowerBound : Double.random(in: r, using: &rng) }
        return Draw(
            flip: flipProbability > 0 && Double.random(in: 0..<1, using: &rng) < flipProbability,
            rotation: uniform(-maxRotationDegrees...maxRotationDegrees) * .pi / 180,
            scale: uniform(scaleRange),
            shiftX: uniform(-maxShift...maxShift) * Double(side),
            shiftY: uniform(-maxShift...maxShift) * Double(side),
            contrast: uniform(contrastRange),
            brightness: uniform(-maxBrightness...maxBrightness))
    }

    /// Applies one draw: an affine warp about the centre with bilinear sampling (edges repeat the
    /// border), then contrast and brightness, rounded back to 8 bits.
    public static func apply(_ d: Draw, to image: GrayImage) -> GrayImage {
        if d == .identity { return image }
        let w = image.width, h = image.height
        var out = [UInt8](repeating: 0, count: w * h)
        let cx = Double(w - 1) / 2, cy = Double(h - 1) / 2
        // Output pixel → source pixel: undo shift, scale and rotation about the centre, then flip.
        let c = cos(d.rotation) / d.scale, s = sin(d.rotation) / d.scale
        let geometric = d.rotation != 0 || d.scale != 1 || d.shiftX != 0 || d.shiftY != 0
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    for x in 0..<w {
                        var v: Double
                        if geometric {
                            let dx = Double(x) - cx - d.shiftX, dy = Double(y) - cy - d.shiftY
                            var sx = c * dx + s * dy + cx
                            let sy = -s * dx + c * dy + cy
                            if d.flip { sx = Double(w - 1) - sx }
                            v = bilinear(src, w, h, sx, sy)
                        } else {
                            v = Double(src[y * w + (d.flip ? w - 1 - x : x)])
                        }
                        v = (v - 127.5) * d.contrast + 127.5 + d.brightness
                        dst[y * w + x] = UInt8(max(0, min(255, v.rounded())))
                    }
                }
            }
        }
        return GrayImage(width: w, height: h, pixels: out)
    }

    @inline(__always)
    static func bilinear(_ p: UnsafeBufferPointer<UInt8>, _ w: Int, _ h: Int, _ x: Double, _ y: Double) -> Double {
        let xc = min(max(x, 0), Double(w - 1)), yc = min(max(y, 0), Double(h - 1))
        let x0 = Int(xc), y0 = Int(yc)
        let x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1)
        let fx = xc - Double(x0), fy = yc - Double(y0)
        let top = Double(p[y0 * w + x0]) * (1 - fx) + Double(p[y0 * w + x1]) * fx
        let bottom = Double(p[y1 * w + x0]) * (1 - fx) + Double(p[y1 * w + x1]) * fx
        return top * (1 - fy) + bottom * fy
    }
}
