import CAM
import Testing
import XRayCore

@Suite("Overlay and colour map")
struct OverlayTests {
    func scan(width: Int, height: Int) -> GrayImage {
        GrayImage(width: width, height: height, pixels: (0..<(width * height)).map { UInt8(($0 * 7) % 256) })
    }

    @Test func zeroMapLeavesTheScanGrey() {
        let s = scan(width: 50, height: 30)
        for map in [
            ActivationMap(width: 50, height: 30, values: [Float](repeating: 0, count: 1500), className: "x", classIndex: 0),
            ActivationMap(width: 50, height: 30, values: [Float](repeating: 0.9, count: 1500), className: "x", classIndex: 0,
                          isEmpty: true),
        ] {
            let out = Overlay.blend(scan: s, map: map)
            #expect(out.width == 50 && out.height == 30)
            for y in 0..<30 {
                for x in 0..<50 { #expect(out[x, y] == RGBColor(red: s[x, y], green: s[x, y], blue: s[x, y])) }
            }
        }
    }

    /// One hot cell at (row 0, col 6) of a 7x7 map must colour the top-right of a 500x300 scan.
    @Test func hotCellLandsTopRightOfANonSquareScan() {
        var values = [Float](repeating: -0.2, count: 49)
        values[0 * 7 + 6] = 3
        let raw = ActivationMap(width: 7, height: 7, values: values, className: "covid", classIndex: 2)
        let heat = ClassActivationMap.heatmap(raw, width: 500, height: 300)
        let grey = GrayImage(width: 500, height: 300, pixels: [UInt8](repeating: 128, count: 150_000))
        let out = Overlay.blend(scan: grey, map: heat)

        // The cell covers x in [6·500/7, 500) ≈ [428.6, 500), y in [0, 300/7) ≈ [0, 42.9); its centre
        // (464.3, 21.4) and everything right of / above it get the full value.
        #expect(heat[499, 0] == 1 && heat[470, 10] == 1)
        let hot = Colormap.inferno.colors[255]
        let expected = RGBColor(red: mix(128, hot.red), green: mix(128, hot.green), blue: mix(128, hot.blue))
        #expect(out[499, 0] == expected && out[470, 10] == expected)
        // Beyond one cell spacing from the centre nothing is coloured: plain grey.
        for (x, y) in [(0, 0), (0, 299), (499, 299), (250, 150), (385, 21), (464, 65)] {
            #expect(heat[x, y] == 0, "(\(x), \(y))")
            #expect(out[x, y] == RGBColor(red: 128, green: 128, blue: 128), "(\(x), \(y))")
        }
        // All coloured pixels lie in the top-right region.
        for y in 0..<300 {
            for x in 0..<500 where heat[x, y] > 0 {
                #expect(x > 500 * 5 / 7 && y < 300 * 2 / 7, "(\(x), \(y)) coloured")
            }
        }
    }

    func mix(_ grey: Float, _ colour: UInt8) -> UInt8 { UInt8((0.5 * grey + 0.5 * Float(colour)).rounded()) }

    @Test func infernoTable() {
        let c = Colormap.inferno.colors
        #expect(c.count == 256)
        // matplotlib: inferno(0) = (0.001462, 0.000466, 0.013866), inferno(1) = (0.988362, 0.998364, 0.644924).
        #expect(c[0] == RGBColor(red: 0, green: 0, blue: 4))
        #expect(c[255] == RGBColor(red: 252, green: 255, blue: 164))
        // Perceptually uniform and sequential: luminance rises almost monotonically.
        let luma = c.map { 0.2126 * Double($0.red) + 0.7152 * Double($0.green) + 0.0722 * Double($0.blue) }
        #expect(zip(luma, luma.dropFirst()).allSatisfy { $1 >= $0 - 0.5 })
        #expect(Colormap.inferno.color(at: 0) == c[0] && Colormap.inferno.color(at: 1) == c[255])
        #expect(Colormap.inferno.color(at: .nan) == c[0] && Colormap.inferno.color(at: 2) == c[255])
        #expect(Colormap.inferno.color(at: 0.5) == c[128])
    }

    @Test func legend() {
        let legend = Colormap.inferno.legend
        #expect(legend.colors == Colormap.inferno.colors)
        #expect(legend.ticks.map(\.label) == ["low", "high"])
        #expect(legend.ticks.map(\.position) == [0, 1])
    }
}
