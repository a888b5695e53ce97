import CXNNPack
import Testing

@testable import Inference

/// The CKernels GEMM behind 1x1 convolutions, against a plain triple loop, on sizes that leave partial tiles
/// (rows not a multiple of 6, channels not a multiple of 8 or 16) and with the row/channel split of two threads.
@Suite("CKernels pointwise GEMM", .enabled(if: PointwiseConvolution.isSupported, "needs a CPU with AVX2 and FMA"))
struct PointwiseConvolutionTests {
    struct Size: CustomTestStringConvertible, Sendable {
        var pixels: Int
        var inputs: Int
        var outputs: Int
        var testDescription: String { "M=\(pixels) K=\(inputs) N=\(outputs)" }
    }

    static let sizes = [
        Size(pixels: 1, inputs: 1, outputs: 1), Size(pixels: 5, inputs: 3, outputs: 7), Size(pixels: 7, inputs: 17, outputs: 9),
        Size(pixels: 13, inputs: 33, outputs: 24), Size(pixels: 49, inputs: 19, outputs: 40), Size(pixels: 83, inputs: 70, outputs: 57),
        Size(pixels: 151, inputs: 11, outputs: 131), Size(pixels: 6, inputs: 16, outputs: 16), Size(pixels: 12, inputs: 8, outputs: 32),
        // More than 256 input channels: the sums go through the output in blocks of 256, the last one partial.
        Size(pixels: 20, inputs: 600, outputs: 21), Size(pixels: 9, inputs: 257, outputs: 16), Size(pixels: 49, inputs: 512, outputs: 40),
    ]

    static func reference(_ size: Size, input: [Float], weights: [Float], bias: [Float], low: Float, high: Float) -> [Float] {
        var out = [Float](repeating: 0, count: size.pixels * size.outputs)
        for row in 0..<size.pixels {
            for column in 0..<size.outputs {
                var sum = bias[column]
                for k in 0..<size.inputs { sum += input[row * size.inputs + k] * weights[column * size.inputs + k] }
                out[row * size.outputs + column] = min(max(sum, low), high)
            }
        }
        return out
    }

    @Test(arguments: sizes, [1, 2])
    func matchesReference(_ size: Size, threads: Int) throws {
        let input = pseudoRandom(size.pixels * size.inputs, seed: 31)
        let weights = pseudoRandom(size.outputs * size.inputs, seed: 32)
        let bias = pseudoRandom(size.outputs, seed: 33)
        let pool = threads > 1 ? pthreadpool_create(threads) : nil
        defer { if let pool { pthreadpool_destroy(pool) } }
        for (low, high) in [(-Float.infinity, Float.infinity), (Float(-0.5), Float(0.75))] {
            let kernel = try PointwiseConvolution(
                pixels: size.pixels, inputChannels: size.inputs, outputChannels: size.outputs,
                weights: weights, bias: bias, low: low, high: high)
            let expected = Self.reference(size, input: input, weights: weights, bias: bias, low: low, high: high)
            // A sentinel after the output catches writes past the last row or column.
            let (output, untouched) = runWithSentinel(kernel, input: input, count: expected.count, pool: pool)
            let worst = maxRelativeError(output, expected)
            #expect(worst <= 1e-5, "\(size.testDescription), \(threads) threads, clamp [\(low), \(high)]: max error \(worst)")
            #expect(untouched, "wrote past the end of the output")
        }
    }
}

@Suite("CKernels pointwise GEMM with a residual")
struct PointwiseResidualTests {
    @Test(
        "the residual is added before the clamp, for full and partial panels, in place, and over blocks of input channels",
        arguments: [16, 24, 5], [7, 300])
    func residualIsAddedBeforeTheClamp(outputs: Int, inputs: Int) throws {
        guard PointwiseConvolution.isSupported else { return }
        let pixels = 13
        let weights = (0..<(inputs * outputs)).map { Float(($0 * 37) % 11) / 11 - 0.5 }
        let bias = (0..<outputs).map { Float($0) / 10 }
        let x = (0..<(pixels * inputs)).map { Float(($0 * 17) % 13) / 13 - 0.3 }
        let skip = (0..<(pixels * outputs)).map { Float(($0 * 29) % 7) / 7 - 0.5 }
        let kernel = try PointwiseConvolution(
            pixels: pixels, inputChannels: inputs, outputChannels: outputs, weights: weights, bias: bias, low: 0, high: 1)
        var expected = [Float](repeating: 0, count: pixels * outputs)
        for p in 0..<pixels {
            for o in 0..<outputs {
                var sum = bias[o] + skip[p * outputs + o]
                for i in 0..<inputs { sum += x[p * inputs + i] * weights[o * inputs + i] }
                expected[p * outputs + o] = min(max(sum, 0), 1)
            }
        }
        var output = [Float](repeating: .nan, count: pixels * outputs)
        x.withUnsafeBufferPointer { x in
            skip.withUnsafeBufferPointer { skip in
                output.withUnsafeMutableBufferPointer { out in
                    kernel.run(input: x.baseAddress!, residual: skip.baseAddress!, output: out.baseAddress!, threadpool: nil, yieldWorkers: false)
                }
            }
        }
        #expect(zip(output, expected).allSatisfy { abs($0 - $1) < 1e-4 })
        // In place: the residual buffer is the output.
        var inPlace = skip
        x.withUnsafeBufferPointer { x in
            inPlace.withUnsafeMutableBufferPointer { buffer in
                kernel.run(input: x.baseAddress!, residual: buffer.baseAddress!, output: buffer.baseAddress!, threadpool: nil, yieldWorkers: false)
            }
        }
        #expect(zip(inPlace, expected).allSatisfy { abs($0 - $1) < 1e-4 })
    }
}
