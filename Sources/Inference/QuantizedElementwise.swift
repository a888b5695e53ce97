import CKernels
import CXNNPack

/// An element-wise step of a QDQ model on the INT8 kernels (QuantizedElementwise.c): a uint8 QuantizeLinear of
/// an fp32 value, a DequantizeLinear of a uint8 one (a Relu/Clip fused), or the Add of two uint8 values into a
/// quantizer (a residual connection). A kernel step rather than a host one so that a large tensor (a stem's
/// output: 400K elements) is split across the session's threads.
final class QuantizedElementwise: ConvolutionKernel, @unchecked Sendable {
    private let step: ck_u8_step

    private init(_ step: ck_u8_step) { self.step = step }

    /// ONNX QuantizeLinear of `count` floats to uint8, clamped to `range` (a fused Relu/Clip in quantized units).
    static func quantize(count: Int, to output: ActivationQuantization, range: ClosedRange<Int> = 0...255) -> QuantizedElementwise {
        QuantizedElementwise(
            ck_u8_step(
                kind: CK_U8_QUANTIZE, count: count, a_scale: 1, a_zero_point: 0, b_scale: 1, b_zero_point: 0, y_scale: output.scale,
                y_zero_point: Int32(output.zeroPoint), q_min: Int32(range.lowerBound), q_max: Int32(range.upperBound), low: 0, high: 0))
    }

    /// ONNX DequantizeLinear of `count` uint8 values to floats, clamped to [low, high].
    static func dequantize(count: Int, from input: ActivationQuantization, low: Float = -.infinity, high: Float = .infinity)
        -> QuantizedElementwise
    {
        QuantizedElementwise(
            ck_u8_step(
                kind: CK_U8_DEQUANTIZE, count: count, a_scale: input.scale, a_zero_point: Int32(input.zeroPoint), b_scale: 1,
                b_zero_point: 0, y_scale: 1, y_zero_point: 0, q_min: 0, q_max: 255, low: low, high: high))
    }

    /// The QDQ Add of two uint8 tensors of `count` elements (the input and the residual), quantized to `output`.
    static func add(
        count: Int, _ a: ActivationQuantization, _ b: ActivationQuantization, to output: ActivationQuantization, range: ClosedRange<Int>
    ) -> QuantizedElementwise {
        QuantizedElementwise(
            ck_u8_step(
                kind: CK_U8_ADD, count: count, a_scale: a.scale, a_zero_point: Int32(a.zeroPoint), b_scale: b.scale,
                b_zero_point: Int32(b.zeroPoint), y_scale: output.scale, y_zero_point: Int32(output.zeroPoint),
                q_min: Int32(range.lowerBound), q_max: Int32(range.upperBound), low: 0, high: 0))
    }

    var fusesResidual: Bool { step.kind == CK_U8_ADD }

    /// `input` and `output` hold uint8 or float values as the step's kind says (buffers are typed Float for the plan).
    func run(
        input: UnsafePointer<Float>, residual: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, threadpool: pthreadpool_t?,
        yieldWorkers: Bool
    ) {
        withUnsafePointer(to: step) { step in
            ck_u8_step_run(step, input, residual, output, threadpool.map { UnsafeMutableRawPointer($0) }, yieldWorkers ? 1 : 0)
        }
    }
}
