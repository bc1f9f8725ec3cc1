/// Sequential colour maps for heat maps.
enum Colormap {
    /// ColorBrewer "Blues": single hue, luminance falling monotonically from near-white to dark
    /// blue, so the order reads the same with any colour-vision deficiency and in greyscale print.
    static let bluesStops: [Color] = [
        0xF7FBFF, 0xDEEBF7, 0xC6DBEF, 0x9ECAE1, 0x6BAED6, 0x4292C6, 0x2171B5, 0x08519C, 0x08306B,
    ].map { Color(hex: $0) }

    /// The colour for `t` in 0...1 (clamped): 0 lightest, 1 darkest.
    static func blues(_ t: Double) -> Color {
        let t = t.isFinite ? min(max(t, 0), 1) : 0
        let position = t * Double(bluesStops.count - 1)
        let i = min(Int(position), bluesStops.count - 2)
        let f = position - Double(i)
        let a = bluesStops[i], b = bluesStops[i + 1]
        return Color(
            red: a.red + (b.red - a.red) * f, green: a.green + (b.green - a.green) * f,
            blue: a.blue + (b.blue - a.blue) * f)
    }
}
