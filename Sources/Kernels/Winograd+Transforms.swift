/// Winograd's transforms: weights U = G g Gᵀ (in Double), input V = Bᵀ d B and output Aᵀ M A for
/// F(4×4, 3×3) and F(2×2, 3×3), in Swift SIMD4 code. The schedule that runs them is in Winograd.swift.
extension Winograd {
    private static let g4x4: [[Double]] = [
        [1.0 / 4, 0, 0],
        [-1.0 / 6, -1.0 / 6, -1.0 / 6],
        [-1.0 / 6, 1.0 / 6, -1.0 / 6],
        [1.0 / 24, 1.0 / 12, 1.0 / 6],
        [1.0 / 24, -1.0 / 12, 1.0 / 6],
        [0, 0, 1],
    ]
    private static let g2x2: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]

    /// U = G (scale[cout] · g) Gᵀ for every (cout, cin), computed in Double, written as [α², Cout, Cin].
    static func transformWeights(_ w: [Float], scale: [Double], outChannels: Int, inChannels: Int, tile: Tile,
                                 into u: UnsafeMutableBufferPointer<Float>) {
        let G = tile == .f4x4 ? g4x4 : g2x2
        let alpha = tile.alpha
        precondition(u.count == tile.positions * outChannels * inChannels)
        let plane = outChannels * inChannels
        var g = [Double](repeating: 0, count: 9), gg = [Double](repeating: 0, count: 3 * alpha)
        for o in 0..<outChannels {
            for c in 0..<inChannels {
                for j in 0..<9 { g[j] = Double(w[(o * inChannels + c) * 9 + j]) * scale[o] }
                // Gg: [α×3]
                for i in 0..<alpha {
                    for j in 0..<3 { gg[i * 3 + j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j] }
                }
                for i in 0..<alpha {
                    for k in 0..<alpha {
                        let v = gg[i * 3] * G[k][0] + gg[i * 3 + 1] * G[k][1] + gg[i * 3 + 2] * G[k][2]
                        u[(i * alpha + k) * plane + o * inChannels + c] = Float(v)
                    }
                }
            }
        }
    }

    /// Per-part temporary floats: a zero row and α transformed rows for the input transform.
    static func tempCount(_ tile: Tile, width: Int) -> Int {
        let (_, tx) = tiles(tile, height: 1, width: width)
        return (width + 4) + tile.alpha * rowLength(tile, tilesX: tx)
    }

    /// Length of a column-transformed row: x = −1 … m·tilesX (rounded up to whole 4-tile groups), plus one vector.
    static func rowLength(_ tile: Tile, tilesX: Int) -> Int { 4 * tile.size * ((tilesX + 3) / 4) + 8 }

    /// Bᵀ·(d0…d5) for one row or column of six values (any lane type).
    @inline(__always)
    private static func inputRows(_ a: F4, _ b: F4, _ c: F4, _ d: F4, _ e: F4, _ f: F4) -> (F4, F4, F4, F4, F4, F4) {
        let four: F4 = .init(repeating: 4), five: F4 = .init(repeating: 5), two: F4 = .init(repeating: 2)
        let ec = e - c, db = d - b
        return (four * a - five * c + e, (d + e) - four * (b + c), (e - d) + four * (b - c),
                ec + two * db, ec - two * db, four * b - five * d + f)
    }

    /// V[ξ][tile] for one channel; V position ξ lives at `into + ξ · positionStride`.
    ///
    /// For each strip of six input rows, Bᵀ runs down the columns (4 x positions per vector) into six
    /// zero-padded rows; then each group of 4 tiles is transposed into lanes (lane = tile) and Bᵀ
    /// runs along the rows, giving the 36 values of 4 tiles in registers.
    static func transformInput(_ src: UnsafeMutablePointer<Float>, height h: Int, width w: Int,
                                       tilesY: Int, tilesX: Int, into dst: UnsafeMutablePointer<Float>,
                                       positionStride: Int, temp: UnsafeMutablePointer<Float>) {
        let length = rowLength(.f4x4, tilesX: tilesX)
        let zero = temp
        zero.update(repeating: 0, count: w + 4)
        let rows = temp + w + 4
        let groups = (tilesX + 3) / 4
        let wVec = w & ~3
        for ty in 0..<tilesY {
            // Input rows 4ty−1 … 4ty+4 (zero outside the image).
            func row(_ j: Int) -> UnsafeMutablePointer<Float> {
                let y = 4 * ty - 1 + j
                return y >= 0 && y < h ? src + y * w : zero
            }
            let (d0, d1, d2, d3, d4, d5) = (row(0), row(1), row(2), row(3), row(4), row(5))
            let t0 = rows, t1 = t0 + length, t2 = t1 + length, t3 = t2 + length, t4 = t3 + length, t5 = t4 + length
            // Columns: t_i[1 + x] = (Bᵀ d)[i][x]; t_i[0] and t_i[w+1…] are the zero padding.
            var x = 0
            while x < wVec {
                let r = inputRows(load(d0 + x), load(d1 + x), load(d2 + x), load(d3 + x), load(d4 + x), load(d5 + x))
                store(r.0, t0 + 1 + x); store(r.1, t1 + 1 + x); store(r.2, t2 + 1 + x)
                store(r.3, t3 + 1 + x); store(r.4, t4 + 1 + x); store(r.5, t5 + 1 + x)
                x += 4
            }
            for i in 0..<6 {
                let t = rows + i * length
                t[0] = 0
                (t + w + 1).update(repeating: 0, count: length - w - 1)
            }
            while x < w {
                let r = inputRows(F4(repeating: d0[x]), F4(repeating: d1[x]), F4(repeating: d2[x]),
                                  F4(repeating: d3[x]), F4(repeating: d4[x]), F4(repeating: d5[x]))
                t0[1 + x] = r.0[0]; t1[1 + x] = r.1[0]; t2[1 + x] = r.2[0]
                t3[1 + x] = r.3[0]; t4[1 + x] = r.4[0]; t5[1 + x] = r.5[0]
                x += 1
            }
            // Rows: tile k of a group reads t_i[4k … 4k+5].
            let base = dst + ty * tilesX
            for i in 0..<6 {
                let t = rows + i * length
                let o = base + (i * 6) * positionStride
                for gIndex in 0..<groups {
                    let p = t + 16 * gIndex
                    let a = load(p), b = load(p + 4), c = load(p + 8), dd = load(p + 12), e = load(p + 16)
                    let e0 = F4(a[0], b[0], c[0], dd[0]), e1 = F4(a[1], b[1], c[1], dd[1])
                    let e2 = F4(a[2], b[2], c[2], dd[2]), e3 = F4(a[3], b[3], c[3], dd[3])
                    let e4 = F4(b[0], c[0], dd[0], e[0]), e5 = F4(b[1], c[1], dd[1], e[1])
                    let r = inputRows(e0, e1, e2, e3, e4, e5)
                    let at = o + 4 * gIndex
                    let valid = min(4, tilesX - 4 * gIndex)
                    store(r.0, at, valid); store(r.1, at + positionStride, valid); store(r.2, at + 2 * positionStride, valid)
                    store(r.3, at + 3 * positionStride, valid); store(r.4, at + 4 * positionStride, valid)
                    store(r.5, at + 5 * positionStride, valid)
                }
            }
        }
    }

    /// Aᵀ·(m0…m5): four values from six.
    @inline(__always)
    private static func outputRows(_ m0: F4, _ m1: F4, _ m2: F4, _ m3: F4, _ m4: F4, _ m5: F4) -> (F4, F4, F4, F4) {
        let s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4
        return (m0 + s12 + s34, d12 + F4(repeating: 2) * d34, s12 + F4(repeating: 4) * s34, d12 + F4(repeating: 8) * d34 + m5)
    }

    /// Output plane of one channel of one image from M[ξ][tile] (position ξ at `m + ξ · positionStride`),
    /// with the epilogue (bias, residual plane, ReLU). Works on groups of 4 tiles in registers (lane = tile), then transposes each output
    /// row back to 4 consecutive pixels per tile.
    static func transformOutput(_ m: UnsafeMutablePointer<Float>, positionStride ps: Int, tilesY: Int, tilesX: Int,
                                        into out: UnsafeMutablePointer<Float>, height h: Int, width w: Int,
                                        bias b: Float, residual: UnsafePointer<Float>?, relu: Bool) {
        let bias = F4(repeating: b)
        let groups = (tilesX + 3) / 4
        for ty in 0..<tilesY {
            for gIndex in 0..<groups {
                let at = m + ty * tilesX + 4 * gIndex
                // Aᵀ along each row i of the 6×6 tile: ri = (q0, q1, q2, q3).
                func rowTransform(_ i: Int) -> (F4, F4, F4, F4) {
                    let p = at + (i * 6) * ps
                    return outputRows(load(p), load(p + ps), load(p + 2 * ps), load(p + 3 * ps), load(p + 4 * ps), load(p + 5 * ps))
                }
                let r0 = rowTransform(0), r1 = rowTransform(1), r2 = rowTransform(2)
                let r3 = rowTransform(3), r4 = rowTransform(4), r5 = rowTransform(5)
                // Aᵀ down each column q: cq = (y[0][q], y[1][q], y[2][q], y[3][q]).
                let c0 = outputRows(r0.0, r1.0, r2.0, r3.0, r4.0, r5.0)
                let c1 = outputRows(r0.1, r1.1, r2.1, r3.1, r4.1, r5.1)
                let c2 = outputRows(r0.2, r1.2, r2.2, r3.2, r4.2, r5.2)
                let c3 = outputRows(r0.3, r1.3, r2.3, r3.3, r4.3, r5.3)
                let tiles = min(4, tilesX - 4 * gIndex)
                for p in 0..<4 {
                    let oy = 4 * ty + p
                    if oy >= h { break }
                    let (q0, q1, q2, q3): (F4, F4, F4, F4)
                    switch p {
                    case 0: (q0, q1, q2, q3) = (c0.0, c1.0, c2.0, c3.0)
                    case 1: (q0, q1, q2, q3) = (c0.1, c1.1, c2.1, c3.1)
                    case 2: (q0, q1, q2, q3) = (c0.2, c1.2, c2.2, c3.2)
                    default: (q0, q1, q2, q3) = (c0.3, c1.3, c2.3, c3.3)
                    }
                    for k in 0..<tiles {
                        // Tile k's four pixels of this row.
                        var y = F4(q0[k], q1[k], q2[k], q3[k]) + bias
                        let x = 4 * (4 * gIndex + k)
                        let o = out + oy * w + x
                        if x + 4 <= w {
                            if let residual { y += load(residual + oy * w + x) }
                            if relu { y = y.replacing(with: 0, where: y .< 0) }
                            store(y, o)
                        } else {
                            for l in 0..<(w - x) {
                                var v = y[l]
                                if let residual { v += residual[oy * w + x + l] }
                                o[l] = relu ? max(v, 0) : v
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: - F(2×2, 3×3)

    /// Bᵀ·(d0…d3) for F(2×2): Bᵀ = [[1,0,−1,0], [0,1,1,0], [0,−1,1,0], [0,1,0,−1]].
    @inline(__always)
    private static func inputRows2(_ a: F4, _ b: F4, _ c: F4, _ d: F4) -> (F4, F4, F4, F4) {
        (a - c, b + c, c - b, b - d)
    }

    /// F(2×2) input transform of one channel (same scheme as the F(4×4) one, 4-row strips at stride 2).
    static func transformInput2(_ src: UnsafeMutablePointer<Float>, height h: Int, width w: Int,
                                        tilesY: Int, tilesX: Int, into dst: UnsafeMutablePointer<Float>,
                                        positionStride ps: Int, temp: UnsafeMutablePointer<Float>) {
        let length = rowLength(.f2x2, tilesX: tilesX)
        let zero = temp
        zero.update(repeating: 0, count: w + 4)
        let rows = temp + w + 4
        let groups = (tilesX + 3) / 4
        let wVec = w & ~3
        for ty in 0..<tilesY {
            func row(_ j: Int) -> UnsafeMutablePointer<Float> {
                let y = 2 * ty - 1 + j
                return y >= 0 && y < h ? src + y * w : zero
            }
            let (d0, d1, d2, d3) = (row(0), row(1), row(2), row(3))
            let t0 = rows, t1 = t0 + length, t2 = t1 + length, t3 = t2 + length
            var x = 0
            while x < wVec {
                let r = inputRows2(load(d0 + x), load(d1 + x), load(d2 + x), load(d3 + x))
                store(r.0, t0 + 1 + x); store(r.1, t1 + 1 + x); store(r.2, t2 + 1 + x); store(r.3, t3 + 1 + x)
                x += 4
            }
            for i in 0..<4 {
                let t = rows + i * length
                t[0] = 0
                (t + w + 1).update(repeating: 0, count: length - w - 1)
            }
            while x < w {
                t0[1 + x] = d0[x] - d2[x]; t1[1 + x] = d1[x] + d2[x]
                t2[1 + x] = d2[x] - d1[x]; t3[1 + x] = d1[x] - d3[x]
                x += 1
            }
            // Rows: tile k of a group reads t_i[2k … 2k+3].
            let base = dst + ty * tilesX
            for i in 0..<4 {
                let t = rows + i * length
                let o = base + (i * 4) * ps
                for gIndex in 0..<groups {
                    let p = t + 8 * gIndex
                    let a = load(p), b = load(p + 4), c = load(p + 8)
                    let e0 = F4(a[0], a[2], b[0], b[2]), e1 = F4(a[1], a[3], b[1], b[3])
                    let e2 = F4(a[2], b[0], b[2], c[0]), e3 = F4(a[3], b[1], b[3], c[1])
                    let r = inputRows2(e0, e1, e2, e3)
                    let at = o + 4 * gIndex
                    let valid = min(4, tilesX - 4 * gIndex)
                    store(r.0, at, valid); store(r.1, at + ps, valid); store(r.2, at + 2 * ps, valid); store(r.3, at + 3 * ps, valid)
                }
            }
        }
    }

    /// F(2×2) output transform with the epilogue: Aᵀ = [[1,1,1,0], [0,1,−1,−1]].
    static func transformOutput2(_ m: UnsafeMutablePointer<Float>, positionStride ps: Int, tilesY: Int, tilesX: Int,
                                         into out: UnsafeMutablePointer<Float>, height h: Int, width w: Int,
                                         bias b: Float, residual: UnsafePointer<Float>?, relu: Bool) {
        let bias = F4(repeating: b)
        let groups = (tilesX + 3) / 4
        for ty in 0..<tilesY {
            for gIndex in 0..<groups {
                let at = m + ty * tilesX + 4 * gIndex
                func rowTransform(_ i: Int) -> (F4, F4) {
                    let p = at + (i * 4) * ps
                    let m1 = load(p + ps), m2 = load(p + 2 * ps)
                    return (load(p) + m1 + m2, m1 - m2 - load(p + 3 * ps))
                }
                let r0 = rowTransform(0), r1 = rowTransform(1), r2 = rowTransform(2), r3 = rowTransform(3)
                let y00 = r0.0 + r1.0 + r2.0, y01 = r0.1 + r1.1 + r2.1
                let y10 = r1.0 - r2.0 - r3.0, y11 = r1.1 - r2.1 - r3.1
                let pixels = min(8, w - 8 * gIndex)
                for p in 0..<2 {
                    let oy = 2 * ty + p
                    if oy >= h { break }
                    let (q0, q1) = p == 0 ? (y00, y01) : (y10, y11)
                    // Pixels 8g … 8g+7 of this row: tiles interleaved (q0, q1) per tile.
                    for half in 0..<2 {
                        let x = 8 * gIndex + 4 * half
                        let count = min(4, pixels - 4 * half)
                        if count <= 0 { break }
                        var y = (half == 0 ? F4(q0[0], q1[0], q0[1], q1[1]) : F4(q0[2], q1[2], q0[3], q1[3])) + bias
                        let o = out + oy * w + x
                        if count == 4 {
                            if let residual { y += load(residual + oy * w + x) }
                            if relu { y = y.replacing(with: 0, where: y .< 0) }
                            store(y, o)
                        } else {
                            for l in 0..<count {
                                var v = y[l]
                                if let residual { v += residual[oy * w + x + l] }
                                o[l] = relu ? max(v, 0) : v
                            }
                        }
                    }
                }
            }
        }
    }
}

typealias F4 = SIMD4<Float>

@inline(__always) private func load(_ p: UnsafeMutablePointer<Float>) -> F4 {
    UnsafeRawPointer(p).loadUnaligned(as: F4.self)
}

@inline(__always) private func load(_ p: UnsafePointer<Float>) -> F4 {
    UnsafeRawPointer(p).loadUnaligned(as: F4.self)
}

@inline(__always) private func store(_ v: F4, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F4.self)
}

/// Stores the first `count` lanes.
@inline(__always) private func store(_ v: F4, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    if count == 4 {
        store(v, p)
    } else {
        for l in 0..<count { p[l] = v[l] }
    }
}
