/// A sequential colour map for heat maps: 256 colours from low (index 0) to high (index 255).
public struct Colormap: Sendable, Equatable {
    public let name: String
    /// 256 colours, low to high.
    public let colors: [RGBColor]

    public init(name: String, colors: [RGBColor]) {
        precondition(colors.count == 256, "a colour map has 256 entries, got \(colors.count)")
        self.name = name
        self.colors = colors
    }

    /// matplotlib's inferno: perceptually uniform, luminance rising monotonically from black to pale
    /// yellow, so it also reads in greyscale print and with colour-vision deficiencies. Each component
    /// is matplotlib's float rounded to the nearest of 0...255.
    public static let inferno = Colormap(
        name: "inferno",
        colors: infernoTable.map { r, g, b in RGBColor(red: byte(r), green: byte(g), blue: byte(b)) })

    /// The colour for `t` in 0...1 (clamped; NaN counts as 0): entry ⌊256·t⌋, the last for t = 1,
    /// as matplotlib indexes a 256-entry table.
    public func color(at t: Float) -> RGBColor {
        let t = t.isNaN ? 0 : min(max(t, 0), 1)
        return colors[min(Int(t * 256), 255)]
    }

    /// What a colour bar beside the overlay shows: all 256 colours, low to high, and the tick labels.
    public var legend: Legend {
        Legend(colors: colors, ticks: [Legend.Tick(position: 0, label: "low"), Legend.Tick(position: 1, label: "high")])
    }

    /// A colour bar: `colors` drawn in order from the low end to the high end, with `ticks` at
    /// relative positions along it (0 the low end, 1 the high end).
    public struct Legend: Sendable, Equatable {
        public struct Tick: Sendable, Equatable {
            public let position: Double
            public let label: String
        }

        public let colors: [RGBColor]
        public let ticks: [Tick]
    }

    static func byte(_ v: Double) -> UInt8 { UInt8((min(max(v, 0), 1) * 255).rounded()) }
}
