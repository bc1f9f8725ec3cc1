/// Winograd F(4×4, 3×3) convolution (Lavin & Gray 2015) for 3×3, stride 1, padding 1.
///
/// Each 6×6 input tile d (stride 4) becomes V = Bᵀ d B, each 3×3 kernel g becomes U = G g Gᵀ, and
/// the 4×4 output tile is Aᵀ (Σ_c U ⊙ V) A. The sum over input channels for each of the 36
/// transform-domain positions ξ is one sgemm: M_ξ [Cout × T] = U_ξ [Cout × Cin] · V_ξ [Cin × T],
/// T = number of tiles. Transforms run over whole tile rows so the inner loops are contiguous.
enum Winograd {
    static let alpha = 6, tile = 4, positions = 36

    static func supports(_ g: ConvGeometry) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.stride == 1 && g.padding == 1
    }

    /// Tile grid for an H×W image: tilesY × tilesX tiles of 4×4 outputs.
    static func tiles(height: Int, width: Int) -> (y: Int, x: Int) {
        ((height + tile - 1) / tile, (width + tile - 1) / tile)
    }

    /// U = G g Gᵀ for every (cout, cin), computed in Double: [36, Cout, Cin].
    static func transformWeights(_ w: [Float], outChannels: Int, inChannels: Int) -> [Float] {
        let G: [[Double]] = [
            [1.0 / 4, 0, 0],
            [-1.0 / 6, -1.0 / 6, -1.0 / 6],
            [-1.0 / 6, 1.0 / 6, -1.0 / 6],
            [1.0 / 24, 1.0 / 12, 1.0 / 6],
            [1.0 / 24, -1.0 / 12, 1.0 / 6],
            [0, 0, 1],
        ]
        var u = [Float](repeating: 0, count: positions * outChannels * inChannels)
        let plane = outChannels * inChannels
        for o in 0..<outChannels {
            for c in 0..<inChannels {
                let g = (0..<9).map { Double(w[(o * inChannels + c) * 9 + $0]) }
                // Gg: [6×3]
                var gg = [Double](repeating: 0, count: 18)
                for i in 0..<6 { for j in 0..<3 { gg[i * 3 + j] = (0..<3).reduce(0) { $0 + G[i][$1] * g[$1 * 3 + j] } } }
                for i in 0..<6 {
                    for k in 0..<6 {
                        let v = (0..<3).reduce(0.0) { $0 + gg[i * 3 + $1] * G[k][$1] }
                        u[(i * 6 + k) * plane + o * inChannels + c] = Float(v)
                    }
                }
            }
        }
        return u
    }

    /// Padded input plane for one channel: rows of 4·(tilesX+1) floats, each row stored as four
    /// phases (x mod 4) so that tile t's six columns are contiguous across t.
    private static func planeLayout(height: Int, width: Int) -> (rows: Int, phase: Int) {
        let (ty, tx) = tiles(height: height, width: width)
        return (tile * ty + 2, tx + 1)
    }

    static func scratchCount(_ g: ConvGeometry, height: Int, width: Int, parts: Int) -> Int {
        let (ty, tx) = tiles(height: height, width: width)
        let t = ty * tx
        let (rows, phase) = planeLayout(height: height, width: width)
        let perPart = max(rows * 4 * phase + 6 * 4 * phase, 28 * tx)
        return positions * (g.inChannels + g.outChannels) * t + parts * perPart
    }

    static func forward(_ input: FeatureMap, weights u: UnsafeMutablePointer<Float>, geometry g: ConvGeometry,
                        into output: FeatureMap, epilogue: Epilogue, scratch: Scratch, parts: Int) {
        let h = input.height, w = input.width
        let (tilesY, tilesX) = tiles(height: h, width: w)
        let t = tilesY * tilesX
        let cin = g.inChannels, cout = g.outChannels
        let v = scratch.base
        let m = v + positions * cin * t
        let temps = m + positions * cout * t
        let (rows, phase) = planeLayout(height: h, width: w)
        let perPart = max(rows * 4 * phase + 6 * 4 * phase, 28 * tilesX)

        Parallel.run(parts: parts) { part in
            let temp = temps + part.index * perPart
            for c in part.range(of: cin) {
                transformInput(input.base + c * h * w, height: h, width: w, tilesY: tilesY, tilesX: tilesX,
                               into: v + c * t, positionStride: cin * t, temp: temp)
            }
        }
        Parallel.run(parts: parts) { part in
            for xi in part.range(of: positions) {
                GEMM.sgemm(m: cout, n: t, k: cin, a: u + xi * cout * cin, lda: cin, b: v + xi * cin * t, ldb: t,
                           c: m + xi * cout * t, ldc: t)
            }
        }
        Parallel.run(parts: parts) { part in
            let temp = temps + part.index * perPart
            for o in part.range(of: cout) {
                transformOutput(m + o * t, positionStride: cout * t, tilesY: tilesY, tilesX: tilesX,
                                into: output.base + o * h * w, channel: o, height: h, width: w,
                                epilogue: epilogue, temp: temp)
            }
        }
    }

    /// V[ξ][tile] for one channel; V position ξ lives at `into + ξ · positionStride`.
    private static func transformInput(_ src: UnsafeMutablePointer<Float>, height h: Int, width w: Int,
                                       tilesY: Int, tilesX: Int, into dst: UnsafeMutablePointer<Float>,
                                       positionStride: Int, temp: UnsafeMutablePointer<Float>) {
        let rows = tile * tilesY + 2, phase = tilesX + 1, rowLength = 4 * phase
        let plane = temp, tr = temp + rows * rowLength
        plane.update(repeating: 0, count: rows * rowLength)
        for y in 0..<h {
            let row = plane + (y + 1) * rowLength, s = src + y * w
            for x in 0..<w {
                let xp = x + 1
                row[(xp & 3) * phase + (xp >> 2)] = s[x]
            }
        }
        for ty in 0..<tilesY {
            let d0 = plane + (4 * ty) * rowLength, d1 = d0 + rowLength, d2 = d1 + rowLength
            let d3 = d2 + rowLength, d4 = d3 + rowLength, d5 = d4 + rowLength
            let t0 = tr, t1 = t0 + rowLength, t2 = t1 + rowLength, t3 = t2 + rowLength, t4 = t3 + rowLength, t5 = t4 + rowLength
            // Columns: Bᵀ applied down each column of the 6-row strip (x order does not matter).
            for j in 0..<rowLength {
                let a = d0[j], b = d1[j], c = d2[j], d = d3[j], e = d4[j], f = d5[j]
                t0[j] = 4 * a - 5 * c + e
                t1[j] = (d + e) - 4 * (b + c)
                t2[j] = (e - d) + 4 * (b - c)
                t3[j] = (e - c) + 2 * (d - b)
                t4[j] = (e - c) - 2 * (d - b)
                t5[j] = 4 * b - 5 * d + f
            }
            // Rows: B applied along each transformed row; tile x uses phases 0-3 at x and 0-1 at x+1.
            let base = dst + ty * tilesX
            for i in 0..<6 {
                let r = tr + i * rowLength
                let p0 = r, p1 = r + phase, p2 = r + 2 * phase, p3 = r + 3 * phase
                let o0 = base + (i * 6) * positionStride, o1 = o0 + positionStride, o2 = o1 + positionStride
                let o3 = o2 + positionStride, o4 = o3 + positionStride, o5 = o4 + positionStride
                for x in 0..<tilesX {
                    let a = p0[x], b = p1[x], c = p2[x], d = p3[x], e = p0[x + 1], f = p1[x + 1]
                    o0[x] = 4 * a - 5 * c + e
                    o1[x] = (d + e) - 4 * (b + c)
                    o2[x] = (e - d) + 4 * (b - c)
                    o3[x] = (e - c) + 2 * (d - b)
                    o4[x] = (e - c) - 2 * (d - b)
                    o5[x] = 4 * b - 5 * d + f
                }
            }
        }
    }

    /// Output plane of one channel from M[ξ][tile] (position ξ at `m + ξ · positionStride`), with the epilogue.
    private static func transformOutput(_ m: UnsafeMutablePointer<Float>, positionStride: Int, tilesY: Int, tilesX: Int,
                                        into out: UnsafeMutablePointer<Float>, channel: Int, height h: Int, width w: Int,
                                        epilogue: Epilogue, temp: UnsafeMutablePointer<Float>) {
        let n = tilesX
        let r = temp            // [6 rows i][4 q][n]
        let y = temp + 24 * n   // [4 q][n] for one output row p
        let bias = epilogue.bias[channel]
        for ty in 0..<tilesY {
            let base = m + ty * tilesX
            // Aᵀ along each row i: R[i][q][x].
            for i in 0..<6 {
                let m0 = base + (i * 6) * positionStride, m1 = m0 + positionStride, m2 = m1 + positionStride
                let m3 = m2 + positionStride, m4 = m3 + positionStride, m5 = m4 + positionStride
                let q0 = r + i * 4 * n, q1 = q0 + n, q2 = q1 + n, q3 = q2 + n
                for x in 0..<n {
                    let s12 = m1[x] + m2[x], d12 = m1[x] - m2[x]
                    let s34 = m3[x] + m4[x], d34 = m3[x] - m4[x]
                    q0[x] = m0[x] + s12 + s34
                    q1[x] = d12 + 2 * d34
                    q2[x] = s12 + 4 * s34
                    q3[x] = d12 + 8 * d34 + m5[x]
                }
            }
            // Aᵀ down each column, one output row p at a time, then the epilogue.
            for p in 0..<4 {
                let oy = ty * 4 + p
                if oy >= h { break }
                for q in 0..<4 {
                    let c0 = r + q * n, c1 = c0 + 4 * n, c2 = c1 + 4 * n, c3 = c2 + 4 * n, c4 = c3 + 4 * n, c5 = c4 + 4 * n
                    let yq = y + q * n
                    switch p {
                    case 0: for x in 0..<n { yq[x] = c0[x] + (c1[x] + c2[x]) + (c3[x] + c4[x]) }
                    case 1: for x in 0..<n { yq[x] = (c1[x] - c2[x]) + 2 * (c3[x] - c4[x]) }
                    case 2: for x in 0..<n { yq[x] = (c1[x] + c2[x]) + 4 * (c3[x] + c4[x]) }
                    default: for x in 0..<n { yq[x] = (c1[x] - c2[x]) + 8 * (c3[x] - c4[x]) + c5[x] }
                    }
                }
                let row = out + oy * w
                if let residual = epilogue.residual {
                    let res = residual + (row - out) + channel * h * w
                    if epilogue.relu {
                        for x in 0..<w { row[x] = max(y[(x & 3) * n + (x >> 2)] + bias + res[x], 0) }
                    } else {
                        for x in 0..<w { row[x] = y[(x & 3) * n + (x >> 2)] + bias + res[x] }
                    }
                } else if epilogue.relu {
                    for x in 0..<w { row[x] = max(y[(x & 3) * n + (x >> 2)] + bias, 0) }
                } else {
                    for x in 0..<w { row[x] = y[(x & 3) * n + (x >> 2)] + bias }
                }
            }
        }
    }
}
