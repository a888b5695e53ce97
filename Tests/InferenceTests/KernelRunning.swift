import CXNNPack

@testable import Inference

/// The largest error of `output` against `expected`, relative to max(1, |expected|).
func maxRelativeError(_ output: [Float], _ expected: [Float]) -> Float {
    zip(output, expected).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
}

/// Runs a CKernels convolution on `input` into `count` output floats followed by a NaN sentinel; `untouched`
/// is false when the kernel wrote past the end.
func runWithSentinel(
    _ kernel: any ConvolutionKernel, input: [Float], count: Int,
    pool: pthreadpool_t?
) -> (output: [Float], untouched: Bool) {
    var output = [Float](repeating: .nan, count: count + 16)
    input.withUnsafeBufferPointer { source in
        output.withUnsafeMutableBufferPointer { target in
            guard let from = source.baseAddress, let to = target.baseAddress else { return }
            kernel.run(input: from, output: to, threadpool: pool, yieldWorkers: false)
        }
    }
    return (Array(output[..<count]), output[count...].allSatisfy { $0.isNaN })
}
