import CKernels
import CXNNPack

/// A 3x3, stride-1, ungrouped convolution by Winograd's F(2x2, 3x3) transform on CKernels (Winograd.c): 16
/// multiplications per 2x2 output block and channel pair instead of 36.
///
/// Why: ResNet-style networks (open_nsfw) spend 40-45% of their arithmetic in 3x3 layers with 32-256 channels,
/// where the direct kernel is already near this CPU's FMA rate; only fewer multiplications make them faster.
/// The result differs from the direct sum by rounding only (about 1e-6 relative at these sizes).
final class WinogradConvolution: ConvolutionKernel, @unchecked Sendable {
    let batch: Int
    // Owns the transformed weights and the buffers of one run; runs do not overlap because the session
    // serializes its runs, and nothing else runs this op.
    private let op: OpaquePointer

    /// Whether the kernel handles `geometry`: 3x3, stride 1, leading pads at most 2, channel counts multiples of 8.
    static func supports(_ g: WindowedConvolution.Geometry) -> Bool {
        PointwiseConvolution.isSupported && g.kernel == [3, 3] && g.strides == [1, 1] && g.pads.count == 4
            && g.pads[0] <= 2 && g.pads[1] <= 2 && g.inputChannels % 8 == 0 && g.outputChannels % 8 == 0
            && g.input.count == 2 && g.output.count == 2
    }

    /// Whether it beats the direct kernel (measured on open_nsfw's layers): with fewer than 32 channels on
    /// either side its GEMMs are too thin to pay for the transforms.
    static func isWorthwhile(_ g: WindowedConvolution.Geometry) -> Bool {
        supports(g) && g.inputChannels >= 32 && g.outputChannels >= 32
    }

    /// Transforms `weights` (ONNX OIHW, 3x3) and keeps `bias` ([outputChannels]); outputs clamp to [low, high],
    /// then, with `hardSwish`, become HardSwish(y) * scale + shift.
    init(
        batch: Int, geometry g: WindowedConvolution.Geometry, weights: [Float], bias: [Float], low: Float, high: Float,
        hardSwish: (scale: Float, shift: Float)? = nil
    ) throws {
        guard Self.supports(g) else {
            throw InferenceError.backend(
                call: "ck_winograd_create (needs AVX2/FMA, a 3x3 stride-1 window, pads <= 2 and channels in multiples of 8; got \(g))",
                status: -1)
        }
        guard batch > 0, weights.count == g.outputChannels * g.inputChannels * 9, bias.count == g.outputChannels else {
            throw InferenceError.invalidModel(
                detail: "3x3 convolution \(g.inputChannels) -> \(g.outputChannels) channels got \(weights.count) weights and \(bias.count) biases")
        }
        let created = weights.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                ck_winograd_create(
                    g.inputChannels, g.outputChannels, batch, g.pads[0], g.pads[1], g.input[0], g.input[1], g.output[0], g.output[1],
                    w.baseAddress, b.baseAddress, low, high)
            }
        }
        guard let created else {
            throw InferenceError.backend(
                call: "ck_winograd_create(\(g.inputChannels) -> \(g.outputChannels), \(g.input)): bad sizes or out of memory", status: -1)
        }
        if let hardSwish { ck_winograd_set_hardswish(created, hardSwish.scale, hardSwish.shift) }
        op = created
        self.batch = batch
    }

    func run(
        input: UnsafePointer<Float>, residual: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, threadpool: pthreadpool_t?,
        yieldWorkers: Bool
    ) {
        precondition(residual == nil, "the Winograd kernel fuses no residual")
        ck_winograd_run(op, input, output, threadpool.map { UnsafeMutableRawPointer($0) }, yieldWorkers ? 1 : 0)
    }

    deinit {
        ck_winograd_destroy(op)
    }
}
