import Foundation
import XRayCore

/// Random changes to a training image, so a network trained from scratch on a few thousand scans
/// sees each one in many forms: a horizontal flip (as the tutorial did), a small rotation, zoom and
/// shift, and the ways one hospital's films differ from another's: exposure and processing (gamma,
/// contrast, brightness), detector resolution (down- and up-sampling), sharpness (Gaussian blur) and
/// noise. A network that has seen these cannot tell sources apart by them as easily, and a source
/// that is its class's only one (all adult normals come from RSNA/NIH) then teaches less of its look.
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
    public var contrastRange: ClosedRange<Double> = 0.8...1.25
    public var maxBrightness: Double = 16
    /// v ← 255·(v/255)^γ, γ drawn log-uniformly from this range.
    public var gammaRange: ClosedRange<Double> = 0.7...1.4
    /// Chance of a Gaussian blur, and its largest σ in pixels (σ drawn uniformly above 0.3).
    public var blurProbability: Double = 0.25
    public var maxBlurSigma: Double = 1.2
    /// Chance of down-sampling to a fraction of the side (drawn from `resolutionRange`) and back.
    public var resolutionProbability: Double = 0.25
    public var resolutionRange: ClosedRange<Double> = 0.35...0.8
    /// Chance of Gaussian noise, and its largest σ in grey levels.
    public var noiseProbability: Double = 0.25
    public var maxNoiseSigma: Double = 6

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
        a.gammaRange = 1...1
        a.blurProbability = 0
        a.resolutionProbability = 0
        a.noiseProbability = 0
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
        public var gamma: Double = 1
        /// 0: no blur.
        public var blurSigma: Double = 0
        /// 1: full resolution.
        public var resolution: Double = 1
        /// 0: no noise; else its σ in grey levels, drawn from `noiseSeed`.
        public var noiseSigma: Double = 0
        public var noiseSeed: UInt64 = 0

        public static let identity = Draw(flip: false, rotation: 0, scale: 1, shiftX: 0, shiftY: 0, contrast: 1, brightness: 0)
    }

    public func draw(side: Int, using rng: inout some RandomNumberGenerator) -> Draw {
        func uniform(_ r: ClosedRange<Double>) -> Double { r.lowerBound == r.upperBound ? r.lowerBound : Double.random(in: r, using: &rng) }
        func chance(_ p: Double) -> Bool { p > 0 && Double.random(in: 0..<1, using: &rng) < p }
        var d = Draw(
            flip: chance(flipProbability),
            rotation: uniform(-maxRotationDegrees...maxRotationDegrees) * .pi / 180,
            scale: uniform(scaleRange),
            shiftX: uniform(-maxShift...maxShift) * Double(side),
            shiftY: uniform(-maxShift...maxShift) * Double(side),
            contrast: uniform(contrastRange),
            brightness: uniform(-maxBrightness...maxBrightness))
        d.gamma = exp(uniform(log(gammaRange.lowerBound)...log(gammaRange.upperBound)))
        if chance(blurProbability) { d.blurSigma = uniform(min(0.3, maxBlurSigma)...maxBlurSigma) }
        if chance(resolutionProbability) { d.resolution = uniform(resolutionRange) }
        if chance(noiseProbability) {
            d.noiseSigma = uniform(0...maxNoiseSigma)
            d.noiseSeed = rng.next()
        }
        return d
    }

    /// Applies one draw: an affine warp about the centre with bilinear sampling (edges repeat the
    /// border), down- and up-sampling, blur, then gamma, contrast, brightness and noise, rounded back
    /// to 8 bits.
    public static func apply(_ d: Draw, to image: GrayImage) -> GrayImage {
        if d == .identity { return image }
        let w = image.width, h = image.height
        var v = [Double](repeating: 0, count: w * h)
        let cx = Double(w - 1) / 2, cy = Double(h - 1) / 2
        // Output pixel → source pixel: undo shift, scale and rotation about the centre, then flip.
        let c = cos(d.rotation) / d.scale, s = sin(d.rotation) / d.scale
        let geometric = d.rotation != 0 || d.scale != 1 || d.shiftX != 0 || d.shiftY != 0
        image.pixels.withUnsafeBufferPointer { src in
            for y in 0..<h {
                for x in 0..<w {
                    if geometric {
                        let dx = Double(x) - cx - d.shiftX, dy = Double(y) - cy - d.shiftY
                        var sx = c * dx + s * dy + cx
                        let sy = -s * dx + c * dy + cy
                        if d.flip { sx = Double(w - 1) - sx }
                        v[y * w + x] = bilinear(src, w, h, sx, sy)
                    } else {
                        v[y * w + x] = Double(src[y * w + (d.flip ? w - 1 - x : x)])
                    }
                }
            }
        }
        if d.resolution < 1 { v = resample(v, w, h, factor: d.resolution) }
        if d.blurSigma > 0 { v = blur(v, w, h, sigma: d.blurSigma) }
        var noise = SplitMix64(seed: d.noiseSeed)
        var out = [UInt8](repeating: 0, count: w * h)
        for i in 0..<(w * h) {
            var x = v[i]
            if d.gamma != 1 { x = 255 * pow(max(0, min(255, x)) / 255, d.gamma) }
            x = (x - 127.5) * d.contrast + 127.5 + d.brightness
            if d.noiseSigma > 0 { x += d.noiseSigma * normal(&noise) }
            out[i] = UInt8(max(0, min(255, x.rounded())))
        }
        return GrayImage(width: w, height: h, pixels: out)
    }

    /// Down-samples to `factor` of each side by box averaging, then back up bilinearly: a detector
    /// with fewer, larger pixels.
    static func resample(_ v: [Double], _ w: Int, _ h: Int, factor: Double) -> [Double] {
        let sw = max(2, Int((Double(w) * factor).rounded())), sh = max(2, Int((Double(h) * factor).rounded()))
        var small = [Double](repeating: 0, count: sw * sh)
        for y in 0..<sh {
            let y0 = y * h / sh, y1 = max(y0 + 1, (y + 1) * h / sh)
            for x in 0..<sw {
                let x0 = x * w / sw, x1 = max(x0 + 1, (x + 1) * w / sw)
                var sum = 0.0
                for yy in y0..<y1 { for xx in x0..<x1 { sum += v[yy * w + xx] } }
                small[y * sw + x] = sum / Double((y1 - y0) * (x1 - x0))
            }
        }
        var out = [Double](repeating: 0, count: w * h)
        let fx = Double(sw) / Double(w), fy = Double(sh) / Double(h)
        for y in 0..<h {
            let sy = min(max((Double(y) + 0.5) * fy - 0.5, 0), Double(sh - 1))
            let y0 = Int(sy), y1 = min(y0 + 1, sh - 1), ty = sy - Double(y0)
            for x in 0..<w {
                let sx = min(max((Double(x) + 0.5) * fx - 0.5, 0), Double(sw - 1))
                let x0 = Int(sx), x1 = min(x0 + 1, sw - 1), tx = sx - Double(x0)
                let top = small[y0 * sw + x0] * (1 - tx) + small[y0 * sw + x1] * tx
                let bottom = small[y1 * sw + x0] * (1 - tx) + small[y1 * sw + x1] * tx
                out[y * w + x] = top * (1 - ty) + bottom * ty
            }
        }
        return out
    }

    /// Separable Gaussian blur (radius ⌈3σ⌉, edges repeat the border).
    static func blur(_ v: [Double], _ w: Int, _ h: Int, sigma: Double) -> [Double] {
        let r = max(1, Int((3 * sigma).rounded(.up)))
        var k = (-r...r).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = k.reduce(0, +)
        k = k.map { $0 / total }
        var tmp = [Double](repeating: 0, count: w * h), out = tmp
        for y in 0..<h {
            for x in 0..<w {
                var s = 0.0
                for j in -r...r { s += k[j + r] * v[y * w + min(w - 1, max(0, x + j))] }
                tmp[y * w + x] = s
            }
        }
        for y in 0..<h {
            for x in 0..<w {
                var s = 0.0
                for j in -r...r { s += k[j + r] * tmp[min(h - 1, max(0, y + j)) * w + x] }
                out[y * w + x] = s
            }
        }
        return out
    }

    /// A standard normal draw (Box–Muller).
    static func normal(_ rng: inout SplitMix64) -> Double {
        let u1 = max(Double(rng.next() >> 11) * 0x1p-53, 1e-300), u2 = Double(rng.next() >> 11) * 0x1p-53
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
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
