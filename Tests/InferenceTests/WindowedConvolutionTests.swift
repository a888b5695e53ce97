import CXNNPack
import Testing

@testable import Inference

/// The CKernels depthwise and dense kernels called directly on many generated geometries (window 1-7,
/// strides 1-3, uneven pads, channel counts around the 8/16 boundaries, 1-2 images), against a plain NHWC loop,
/// on 1 and 2 threads, with a sentinel after the output.
@Suite("CKernels depthwise and dense convolutions", .enabled(if: PointwiseConvolution.isSupported, "needs a CPU with AVX2 and FMA"))
struct WindowedConvolutionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var kind: WindowedConvolution.Kind
        var batch: Int
        var geometry: WindowedConvolution.Geometry
        var testDescription: String {
            let g = geometry
            return
                "\(kind) \(batch)x\(g.input[0])x\(g.input[1])x\(g.inputChannels) -> \(g.outputChannels), kernel \(g.kernel), strides \(g.strides), pads \(g.pads)"
        }
    }

    /// Deterministic geometries: each case draws its sizes from a seeded generator.
    static let cases: [Case] = (0..<40).map { index in
        var state = UInt64(index) &* 0x9E37_79B9_7F4A_7C15 &+ 12345
        func next(_ range: ClosedRange<Int>) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return range.lowerBound + Int((state >> 33) % UInt64(range.count))
        }
        let kind: WindowedConvolution.Kind = index % 3 == 2 ? .dense : .depthwise
        let kernel = [next(1...7), next(1...7)]
        let strides = [next(1...3), next(1...3)]
        let pads: [Int] = [next(0...(kernel[0] - 1)), next(0...(kernel[1] - 1)), next(0...kernel[0]), next(0...kernel[1])]
        let smallestHeight: Int = max(1, kernel[0] - pads[0] - pads[2])
        let smallestWidth: Int = max(1, kernel[1] - pads[1] - pads[3])
        let input: [Int] = [next(smallestHeight...19), next(smallestWidth...23)]
        var output: [Int] = []
        for axis in 0..<2 {
            let span: Int = input[axis] + pads[axis] + pads[axis + 2] - kernel[axis]
            output.append(span / strides[axis] + 1)
        }
        let channels = [1, 3, 7, 8, 9, 15, 16, 17, 24, 33, 40][next(0...10)]
        let outputs = kind == .dense ? [1, 5, 8, 16, 17, 32, 35][next(0...6)] : channels
        return Case(
            kind: kind, batch: next(1...2),
            geometry: .init(
                inputChannels: channels, outputChannels: outputs, input: input,
                output: output, kernel: kernel, strides: strides, pads: pads))
    }

    /// NHWC reference: output[n][y][x][o] = clamp(bias[o] + sum over the window and the channels read).
    static func reference(_ c: Case, input: [Float], weights: [Float], bias: [Float], low: Float, high: Float) -> [Float] {
        let g = c.geometry
        let (cin, cout) = (g.inputChannels, g.outputChannels)
        var out = [Float](repeating: 0, count: c.batch * g.output[0] * g.output[1] * cout)
        for n in 0..<c.batch {
            for y in 0..<g.output[0] {
                for x in 0..<g.output[1] {
                    for o in 0..<cout {
                        var sum = bias[o]
                        for ky in 0..<g.kernel[0] {
                            let iy = y * g.strides[0] - g.pads[0] + ky
                            guard iy >= 0 && iy < g.input[0] else { continue }
                            for kx in 0..<g.kernel[1] {
                                let ix = x * g.strides[1] - g.pads[1] + kx
                                guard ix >= 0 && ix < g.input[1] else { continue }
                                let pixel = ((n * g.input[0] + iy) * g.input[1] + ix) * cin
                                if c.kind == .depthwise {
                                    sum += input[pixel + o] * weights[(o * g.kernel[0] + ky) * g.kernel[1] + kx]
                                } else {
                                    for i in 0..<cin {
                                        sum += input[pixel + i] * weights[((o * cin + i) * g.kernel[0] + ky) * g.kernel[1] + kx]
                                    }
                                }
                            }
                        }
                        out[((n * g.output[0] + y) * g.output[1] + x) * cout + o] = min(max(sum, low), high)
                    }
                }
            }
        }
        return out
    }

    @Test(arguments: cases, [1, 2])
    func matchesReference(_ c: Case, threads: Int) throws {
        let g = c.geometry
        let window = g.kernel[0] * g.kernel[1]
        let input = pseudoRandom(c.batch * g.input[0] * g.input[1] * g.inputChannels, seed: 41)
        let weights = pseudoRandom(c.kind == .depthwise ? g.outputChannels * window : g.outputChannels * g.inputChannels * window, seed: 42)
        let bias = pseudoRandom(g.outputChannels, seed: 43)
        let low: Float = -0.8
        let high: Float = 0.9
        let kernel = try WindowedConvolution(c.kind, batch: c.batch, geometry: g, weights: weights, bias: bias, low: low, high: high)
        let expected = Self.reference(c, input: input, weights: weights, bias: bias, low: low, high: high)
        let pool = threads > 1 ? pthreadpool_create(threads) : nil
        defer { if let pool { pthreadpool_destroy(pool) } }
        // A sentinel after the output catches writes past the end.
        let (output, untouched) = runWithSentinel(kernel, input: input, count: expected.count, pool: pool)
        let worst = maxRelativeError(output, expected)
        #expect(worst <= 1e-5, "max error \(worst)")
        #expect(untouched, "wrote past the end of the output")
    }

    /// 3x3 stride-1 geometries for the Winograd kernel: odd and even output sizes (a last tile half outside),
    /// leading and trailing pads 0-2, channels around the 16-wide panels, 1-2 images.
    static let winogradCases: [Case] = (0..<24).map { index in
        var state = UInt64(index) &* 0x2545_F491_4F6C_DD1D &+ 777
        func next(_ range: ClosedRange<Int>) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return range.lowerBound + Int((state >> 33) % UInt64(range.count))
        }
        let pads: [Int] = [next(0...2), next(0...2), next(0...2), next(0...2)]
        let smallestHeight: Int = max(1, 3 - pads[0] - pads[2])
        let smallestWidth: Int = max(1, 3 - pads[1] - pads[3])
        let input: [Int] = [next(smallestHeight...17), next(smallestWidth...17)]
        let output: [Int] = [input[0] + pads[0] + pads[2] - 2, input[1] + pads[1] + pads[3] - 2]
        return Case(
            kind: .dense, batch: next(1...2),
            geometry: .init(
                inputChannels: [8, 16, 24, 40, 64][next(0...4)], outputChannels: [8, 16, 24, 32, 40, 56][next(0...5)],
                input: input, output: output, kernel: [3, 3], strides: [1, 1], pads: pads))
    }

    @Test(arguments: winogradCases, [1, 2])
    func winogradMatchesReference(_ c: Case, threads: Int) throws {
        let g = c.geometry
        let input = pseudoRandom(c.batch * g.input[0] * g.input[1] * g.inputChannels, seed: 51)
        let weights = pseudoRandom(g.outputChannels * g.inputChannels * 9, seed: 52)
        let bias = pseudoRandom(g.outputChannels, seed: 53)
        let (low, high): (Float, Float) = (-6, 7)  // clamps some outputs, most not
        let kernel = try WinogradConvolution(batch: c.batch, geometry: g, weights: weights, bias: bias, low: low, high: high)
        let expected = Self.reference(c, input: input, weights: weights, bias: bias, low: low, high: high)
        let pool = threads > 1 ? pthreadpool_create(threads) : nil
        defer { if let pool { pthreadpool_destroy(pool) } }
        // Twice: the second run reuses the op's transform buffers.
        for _ in 0..<2 {
            let (output, untouched) = runWithSentinel(kernel, input: input, count: expected.count, pool: pool)
            let worst = maxRelativeError(output, expected)
            // Winograd adds and subtracts transformed values before multiplying: a little more rounding.
            #expect(worst <= 1e-4, "max error \(worst)")
            #expect(untouched, "wrote past the end of the output")
        }
    }

    @Test func winogradRefusesWhatItCannotRun() {
        let g = WindowedConvolution.Geometry(
            inputChannels: 12, outputChannels: 16, input: [8, 8], output: [8, 8], kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1])
        #expect(!WinogradConvolution.supports(g))
        #expect(throws: InferenceError.self) {
            try WinogradConvolution(
                batch: 1, geometry: g, weights: [Float](repeating: 0, count: 16 * 12 * 9), bias: [Float](repeating: 0, count: 16), low: 0, high: 1)
        }
        var strided = g
        (strided.inputChannels, strided.strides) = (16, [2, 2])
        #expect(!WinogradConvolution.supports(strided))
    }
}
