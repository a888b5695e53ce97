import CKernels
import CXNNPack

/// A depthwise convolution (one filter per channel, dilation 1) with fused bias and clamp, run by CKernels.
///
/// Why not XNNPACK: Debian's gcc build of its depthwise microkernels chains every tap into one accumulator
/// and waits on FMA latency; this kernel keeps four independent accumulators per output pixel.
final class DepthwiseConvolution: @unchecked Sendable {
    /// Images per run.
    let batch: Int
    // Packed once here and only read by `run`, so sharing across threads is safe.
    private let packed: OpaquePointer

    /// Packs `weights` ([channels][kernel]) and `bias` for NHWC `input` sizes; `pads` are ONNX's [top, left, bottom, right].
    init(batch: Int, channels: Int, input: [Int], output: [Int], kernel: [Int], strides: [Int], pads: [Int],
         weights: [Float], bias: [Float], low: Float, high: Float) throws {
        guard PointwiseConvolution.isSupported else {
            throw InferenceError.backend(call: "ck_depthwise_create (this CPU lacks AVX2/FMA)", status: -1)
        }
        guard batch > 0, channels > 0, input.count == 2, output.count == 2, kernel.count == 2, strides.count == 2, pads.count == 4,
              weights.count == channels * kernel[0] * kernel[1], bias.count == channels else {
            throw InferenceError.invalidModel(detail: "depthwise convolution over \(channels) channels got \(weights.count) weights, \(bias.count) biases, kernel \(kernel)")
        }
        let created = weights.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                ck_depthwise_create(channels, kernel[0], kernel[1], strides[0], strides[1], pads[0], pads[1], input[0], input[1],
                                    output[0], output[1], w.baseAddress, b.baseAddress, low, high)
            }
        }
        guard let created else {
            throw InferenceError.backend(call: "ck_depthwise_create(\(channels) channels, kernel \(kernel)): bad sizes or out of memory", status: -1)
        }
        packed = created
        self.batch = batch
    }

    /// Computes the NHWC `output` from the NHWC `input` on `threadpool`; `yieldWorkers` as for PointwiseConvolution.
    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, threadpool: pthreadpool_t?, yieldWorkers: Bool = false) {
        ck_depthwise_run(packed, batch, input, output, threadpool.map { UnsafeMutableRawPointer($0) }, yieldWorkers ? 1 : 0)
    }

    deinit {
        ck_depthwise_destroy(packed)
    }
}
