import CKernels
import CXNNPack

/// A convolution on one of the hand-written CKernels, run between XNNPACK runtimes on the session's thread pool
/// (the INT8 element-wise steps, `QuantizedElementwise`, run the same way).
protocol ConvolutionKernel: AnyObject, Sendable {
    /// Computes the NHWC `output` from the NHWC `input` on `threadpool`, adding `residual` (the output's shape)
    /// before the clamp when given (only kernels that `fusesResidual` take one); `yieldWorkers` lets the pool's
    /// threads sleep afterwards (for the last step of a run) instead of spinning for the next job.
    func run(
        input: UnsafePointer<Float>, residual: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, threadpool: pthreadpool_t?,
        yieldWorkers: Bool)
    /// Whether the kernel can add a residual connection (the lowering fuses an Add into it).
    var fusesResidual: Bool { get }
}

extension ConvolutionKernel {
    var fusesResidual: Bool { false }

    /// `run` without a residual.
    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, threadpool: pthreadpool_t?, yieldWorkers: Bool) {
        run(input: input, residual: nil, output: output, threadpool: threadpool, yieldWorkers: yieldWorkers)
    }
}

/// A depthwise (one filter per channel) or dense (groups 1) convolution with a kh x kw window, dilation 1, fused
/// bias and clamp, on CKernels.
///
/// Why not XNNPACK: Debian's build computes depthwise taps into one or two accumulators and waits on FMA
/// latency, and runs a first layer with 3 input channels on an SSE kernel; these kernels keep 8-12 independent
/// accumulators in AVX2 registers (see Depthwise.c and Convolution.c).
final class WindowedConvolution: ConvolutionKernel, @unchecked Sendable {
    enum Kind: Equatable {
        /// Channel c of the output reads only channel c of the input (multiplier 1).
        case depthwise
        /// Every output channel reads every input channel.
        case dense
    }

    /// The sizes of a convolution: NHWC spatial sizes [height, width], kernel, strides, and ONNX's pads
    /// [top, left, bottom, right] (the kernels need only the leading two).
    struct Geometry {
        var inputChannels: Int
        var outputChannels: Int
        var input: [Int]
        var output: [Int]
        var kernel: [Int]
        var strides: [Int]
        var pads: [Int]
    }

    let kind: Kind
    /// Images per run.
    let batch: Int
    // Packed once here and only read by `run`, so sharing across threads is safe.
    private let packed: OpaquePointer

    /// Whether the kernels handle `geometry` (leading pads smaller than the window) on this CPU.
    static func supports(_ geometry: Geometry) -> Bool {
        PointwiseConvolution.isSupported && geometry.pads.count == 4 && geometry.kernel.count == 2
            && geometry.pads[0] < geometry.kernel[0] && geometry.pads[1] < geometry.kernel[1]
    }

    /// Packs `weights` (ONNX OIHW; [channels][kh][kw] for depthwise) and `bias` ([outputChannels]); outputs clamp
    /// to [low, high], then, with `hardSwish`, become HardSwish(y) * scale + shift.
    init(
        _ kind: Kind, batch: Int, geometry g: Geometry, weights: [Float], bias: [Float], low: Float, high: Float,
        hardSwish: (scale: Float, shift: Float)? = nil
    ) throws {
        let name = kind == .depthwise ? "ck_depthwise_create" : "ck_convolution_create"
        guard Self.supports(g) else {
            throw InferenceError.backend(call: "\(name) (this CPU lacks AVX2/FMA, or pads \(g.pads) reach past kernel \(g.kernel))", status: -1)
        }
        let window = g.kernel.count == 2 ? g.kernel[0] * g.kernel[1] : 0
        let expected = kind == .depthwise ? g.outputChannels * window : g.outputChannels * g.inputChannels * window
        guard batch > 0, g.inputChannels > 0, g.outputChannels > 0, g.input.count == 2, g.output.count == 2, g.strides.count == 2,
            kind == .dense || g.inputChannels == g.outputChannels, weights.count == expected, bias.count == g.outputChannels
        else {
            throw InferenceError.invalidModel(
                detail:
                    "\(kind) convolution \(g.inputChannels) -> \(g.outputChannels) channels, kernel \(g.kernel) got \(weights.count) weights and \(bias.count) biases"
            )
        }
        let created = weights.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                switch kind {
                case .depthwise:
                    ck_depthwise_create(
                        g.outputChannels, g.kernel[0], g.kernel[1], g.strides[0], g.strides[1], g.pads[0], g.pads[1],
                        g.input[0], g.input[1], g.output[0], g.output[1], w.baseAddress, b.baseAddress, low, high)
                case .dense:
                    ck_convolution_create(
                        g.inputChannels, g.outputChannels, g.kernel[0], g.kernel[1], g.strides[0], g.strides[1],
                        g.pads[0], g.pads[1], g.input[0], g.input[1], g.output[0], g.output[1],
                        w.baseAddress, b.baseAddress, low, high)
                }
            }
        }
        guard let created else {
            throw InferenceError.backend(
                call: "\(name)(\(g.inputChannels) -> \(g.outputChannels) channels, kernel \(g.kernel)): bad sizes or out of memory", status: -1)
        }
        if let hardSwish {
            switch kind {
            case .depthwise: ck_depthwise_set_hardswish(created, hardSwish.scale, hardSwish.shift)
            case .dense: ck_convolution_set_hardswish(created, hardSwish.scale, hardSwish.shift)
            }
        }
        packed = created
        self.kind = kind
        self.batch = batch
    }

    func run(
        input: UnsafePointer<Float>, residual: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, threadpool: pthreadpool_t?,
        yieldWorkers: Bool
    ) {
        precondition(residual == nil, "the windowed kernels fuse no residual")
        let pool = threadpool.map { UnsafeMutableRawPointer($0) }
        switch kind {
        case .depthwise: ck_depthwise_run(packed, batch, input, output, pool, yieldWorkers ? 1 : 0)
        case .dense: ck_convolution_run(packed, batch, input, output, pool, yieldWorkers ? 1 : 0)
        }
    }

    deinit {
        switch kind {
        case .depthwise: ck_depthwise_destroy(packed)
        case .dense: ck_convolution_destroy(packed)
        }
    }
}
