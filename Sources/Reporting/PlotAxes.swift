/// A square data area mapping [0, 1] × [0, 1] onto a rectangle, with its grid, ticks, axis labels and legend.
struct PlotAxes {
    /// The data area on the page.
    let rect: Rect

    static let tickFont = Font.sans(7)
    static let labelFont = Font.sans(8)
    /// Space the tick labels and axis label need left of and below the data area.
    static let leftSpace = 30.0
    static let bottomSpace = 27.0

    /// The page position of data point (x, y); y grows upwards in data space.
    func point(_ x: Double, _ y: Double) -> Point {
        Point(x: rect.x + x * rect.width, y: rect.maxY - y * rect.height)
    }

    /// Grid lines and tick labels at 0, 0.2, ..., 1, the frame, and the two axis labels.
    func drawFrame(on c: Canvas, xLabel: String, yLabel: String) {
        let ticks = stride(from: 0.0, through: 1.0001, by: 0.2).map { $0 }
        for t in ticks {
            c.line([point(t, 0), point(t, 1)], .gridLine, lineWidth: 0.4)
            c.line([point(0, t), point(1, t)], .gridLine, lineWidth: 0.4)
            let label = NumberText.fixed(t, digits: 1)
            let s = c.measure(label, Self.tickFont)
            c.text(label, at: Point(x: point(t, 0).x - s.width / 2, y: rect.maxY + 2), Self.tickFont, .secondaryText)
            c.text(label, at: Point(x: rect.x - 3 - s.width, y: point(0, t).y - s.height / 2), Self.tickFont, .secondaryText)
        }
        c.stroke(rect, .axis, lineWidth: 0.6)
        let xs = c.measure(xLabel, Self.labelFont)
        c.text(xLabel, at: Point(x: rect.midX - xs.width / 2, y: rect.maxY + 12), Self.labelFont, .axis)
        let ys = c.measure(yLabel, Self.labelFont)
        c.verticalText(yLabel, centeredAt: Point(x: rect.x - Self.leftSpace + ys.height / 2, y: rect.midY), Self.labelFont, .axis)
    }

    /// A short message in the middle of an empty plot, on white so the grid does not run through it.
    func placeholder(_ message: String, on c: Canvas) {
        let font = Font.sans(8)
        let s = c.measure(message, font)
        let box = Rect(x: rect.midX - s.width / 2 - 4, y: rect.midY - s.height / 2 - 2, width: s.width + 8, height: s.height + 4)
        c.fill(box, .white)
        c.text(message, at: Point(x: box.x + 4, y: box.y + 2), font, .secondaryText)
    }

    /// The marker drawn beside a legend label.
    enum Swatch {
        case line(Color, dash: [Double]?)
        case bar(Color)
        case dot(Color)
    }

    enum Corner { case topLeft, bottomRight }

    static let legendFont = Font.sans(7)

    /// A boxed legend inside the data area at `corner`, on a translucent white background.
    func drawLegend(on c: Canvas, _ entries: [(Swatch, String)], corner: Corner) {
        guard !entries.isEmpty else { return }
        let swatchWidth = 14.0, pad = 4.0, gap = 2.0
        let maxTextWidth = rect.width - 2 * 6 - swatchWidth - 3 * pad
        let sizes = entries.map { c.measure($0.1, Self.legendFont, width: maxTextWidth) }
        let width = swatchWidth + 3 * pad + (sizes.map(\.width).max() ?? 0)
        let height = sizes.map(\.height).reduce(0, +) + Double(entries.count - 1) * gap + 2 * pad
        let origin = corner == .topLeft
            ? Point(x: rect.x + 6, y: rect.y + 6)
            : Point(x: rect.maxX - 6 - width, y: rect.maxY - 6 - height)
        let box = Rect(x: origin.x, y: origin.y, width: width, height: height)
        c.fill(box, Color.white.withAlpha(0.9))
        c.stroke(box, .gridLine, lineWidth: 0.5)
        var y = box.y + pad
        for ((swatch, label), size) in zip(entries, sizes) {
            let midY = y + min(size.height, Self.legendFont.size * 1.2) / 2
            let x0 = box.x + pad
            switch swatch {
            case let .line(color, dash):
                c.line([Point(x: x0, y: midY), Point(x: x0 + swatchWidth, y: midY)], color, lineWidth: 1.6, dash: dash)
            case let .bar(color):
                c.fill(Rect(x: x0 + 2, y: midY - 3.5, width: swatchWidth - 4, height: 7), color)
            case let .dot(color):
                c.circle(center: Point(x: x0 + swatchWidth / 2, y: midY), radius: 2.2, fill: color, outline: .white)
            }
            c.text(label, at: Point(x: x0 + swatchWidth + pad, y: y), Self.legendFont, .black, width: maxTextWidth)
            y += size.height + gap
        }
    }
}
