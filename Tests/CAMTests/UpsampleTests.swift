import CAM
import Testing
import TestSupport

@Suite("Upsampling with the preprocessing's geometry")
struct UpsampleTests {
    let fixture = CAMFixture.shared

    @Test(arguments: ["640x640", "500x300"])
    func matchesTorchInterpolateAtSampledPixels(size: String) throws {
        let reference = try #require(fixture.upsampled[size])
        let cam = ActivationMap(width: fixture.featureWidth, height: fixture.featureHeight, values: fixture.normalisedCAM,
                                className: fixture.classes[fixture.predicted], classIndex: fixture.predicted)
        let up = ClassActivationMap.upsampled(cam, width: reference.width, height: reference.height)
        #expect(up.width == reference.width && up.height == reference.height && up.className == cam.className)
        let ours = reference.points.map { up[Int($0[1]), Int($0[0])] }
        // atol 1e-5 on a normalised map: the same float32 formula as PyTorch's CPU kernel.
        expectClose(ours, reference.points.map { Float($0[2]) }, atol: 1e-5, "upsampled to \(size)")
        print("upsampled \(size): max |error| = \(maxAbsDifference(ours, reference.points.map { Float($0[2]) }))")
    }

    @Test func matchesTorchInterpolateOnANonSquareGrid() {
        let s = fixture.synthetic
        let map = ActivationMap(width: s.width, height: s.height, values: s.values, className: "x", classIndex: 0)
        for out in s.outputs {
            let up = ClassActivationMap.upsampled(map, width: out.width, height: out.height)
            expectClose(up.values, out.values, atol: 1e-5, "\(s.width)x\(s.height) -> \(out.width)x\(out.height)")
        }
    }

    @Test func cellCentresKeepTheirValues() {
        // 2x2 map to 8x4: cell (i, j)'s centre is at ((j + 0.5)·4, (i + 0.5)·2) = pixel centre x + 0.5, so
        // no pixel sits exactly on it; pixels 1...2 columns in from the edge lie between the centres.
        let map = ActivationMap(width: 2, height: 2, values: [0, 1, 2, 3], className: "x", classIndex: 0)
        let up = ClassActivationMap.upsampled(map, width: 8, height: 4)
        // Left of the first centre (x = 2) and above the first (y = 1) the edge is clamped.
        #expect(up[0, 0] == 0 && up[1, 0] == 0 && up[7, 3] == 3 && up[6, 3] == 3)
        // Pixel x = 3 has its centre at 3.5: 3/8 of the way from the centre at 2 to the one at 6.
        #expect(abs(up[3, 0] - 0.375) < 1e-6)
        // Same size: unchanged.
        #expect(ClassActivationMap.upsampled(map, width: 2, height: 2) == map)
    }
}
