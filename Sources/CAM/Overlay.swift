public import XRayCore

/// A heat map laid over the grey scan.
public enum Overlay {
    /// Blends `colormap(m)` over the scan with opacity `maxAlpha·m` at each pixel, m the map's value.
    ///
    /// Where m = 0 (and everywhere for an empty map) the pixel is the plain grey scan (R = G = B);
    /// the hottest pixels (m = 1) are `maxAlpha` colour. Map values are clamped to 0...1.
    /// - Parameter map: normalised, at the scan's size (`ClassActivationMap.heatmap`).
    public static func blend(
        scan: GrayImage, map: ActivationMap, colormap: Colormap = .inferno, maxAlpha: Float = 0.5
    ) -> RGBImage {
        precondition(map.width == scan.width && map.height == scan.height,
                     "map \(map.width)x\(map.height) does not match scan \(scan.width)x\(scan.height); upsample it first")
        precondition((0...1).contains(maxAlpha), "maxAlpha must be in 0...1, got \(maxAlpha)")
        var out = [UInt8](repeating: 0, count: scan.pixels.count * 3)
        for i in scan.pixels.indices {
            let grey = scan.pixels[i]
            let m = map.isEmpty || map.values[i].isNaN ? 0 : min(max(map.values[i], 0), 1)
            guard m > 0 else {
                out[3 * i] = grey; out[3 * i + 1] = grey; out[3 * i + 2] = grey
                continue
            }
            let alpha = maxAlpha * m, c = colormap.color(at: m), g = Float(grey)
            out[3 * i] = mix(g, c.red, alpha)
            out[3 * i + 1] = mix(g, c.green, alpha)
            out[3 * i + 2] = mix(g, c.blue, alpha)
        }
        return RGBImage(width: scan.width, height: scan.height, pixels: out)
    }

    private static func mix(_ grey: Float, _ colour: UInt8, _ alpha: Float) -> UInt8 {
        UInt8(min(max(((1 - alpha) * grey + alpha * Float(colour)).rounded(), 0), 255))
    }
}
