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
