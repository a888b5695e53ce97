import CKernels
import CXNNPack

/// A 1x1, stride-1, ungrouped convolution (a GEMM on NHWC rows) run by the AVX2/FMA kernel in CKernels.
///
/// Why not XNNPACK: Debian's gcc build of XNNPACK's f32 GEMM microkernel spills an accumulator in its inner
/// loop, and these convolutions are most of a mobile network's arithmetic.
final class PointwiseConvolution: ConvolutionKernel, @unchecked Sendable {
    /// Whether this CPU has what the kernel needs (AVX2 and FMA); without it convolutions stay on XNNPACK.
    static let isSupported: Bool = ck_pointwise_supported() != 0

    /// Rows of the GEMM: batch x height x width.
    let pixels: Int
    let inputChannels: Int
    let outputChannels: Int
    // Packed once here and only read by `run`, so sharing across threads is safe.
    private let packed: OpaquePointer

    /// Packs `weights` ([outputChannels][inputChannels]) and `bias` for `pixels` rows; outputs clamp to [low, high],
    /// then, with `hardSwish`, become HardSwish(y) * scale + shift.
    init(
        pixels: Int, inputChannels: Int, outputChannels: Int, weights: [Float], bias: [Float], low: Float, high: Float,
        hardSwish: (scale: Float, shift: Float)? = nil
    ) throws {
        guard Self.isSupported else {
            throw InferenceError.backend(call: "ck_pointwise_create (this CPU lacks AVX2/FMA)", status: -1)
        }
        guard pixels > 0, inputChannels > 0, outputChannels > 0, weights.count == inputChannels * outputChannels,
            bias.count == outputChannels
        else {
            throw InferenceError.invalidModel(
                detail: "1x1 convolution with \(inputChannels) -> \(outputChannels) channels got \(weights.count) weights and \(bias.count) biases")
        }
        let created = weights.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                ck_pointwise_create(inputChannels, outputChannels, w.baseAddress, b.baseAddress, low, high)
            }
        }
        guard let created else {
            throw InferenceError.backend(call: "ck_pointwise_create(\(inputChannels) -> \(outputChannels)): out of memory", status: -1)
        }
        if let hardSwish { ck_pointwise_set_hardswish(created, hardSwish.scale, hardSwish.shift) }
        packed = created
        self.pixels = pixels
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
    }

    var fusesResidual: Bool { true }

    /// Computes `output` ([pixels][outputChannels]) from `input` ([pixels][inputChannels]) on `threadpool`;
    /// `residual` ([pixels][outputChannels]) is added in the GEMM's epilogue, before the clamp: a residual
    /// connection's Add without another pass over memory. `yieldWorkers` lets the pool's threads sleep
    /// afterwards (for the last step of a run).
    func run(
        input: UnsafePointer<Float>, residual: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, threadpool: pthreadpool_t?,
        yieldWorkers: Bool
    ) {
        ck_pointwise_run(packed, pixels, input, residual, output, threadpool.map { UnsafeMutableRawPointer($0) }, yieldWorkers ? 1 : 0)
    }

    deinit {
        ck_pointwise_destroy(packed)
    }
}
