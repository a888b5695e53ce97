import CKernels
import CXNNPack
import Foundation

/// How a uint8 activation maps to real values: x = (q - zeroPoint) * scale (ONNX's per-tensor QuantizeLinear).
struct ActivationQuantization: Equatable {
    var scale: Float
    var zeroPoint: Int
}

/// An INT8 convolution on CKernels: uint8 NHWC activations in and out (1 byte per element, in the session's
/// float buffers), symmetric int8 weights per output channel, int32 sums, the bias and requantization fused
/// into the store. Pointwise (1x1) layers are a GEMM on AVX-512 VNNI or AVX2 (see QuantizedPointwise.c),
/// other convolutions without groups the same GEMM on gathered windows, depthwise layers vpdpbusd on transposed
/// taps (VNNI) or f32 FMAs on exact integers (QuantizedDepthwise.c).
final class QuantizedConvolution: ConvolutionKernel, @unchecked Sendable {
    enum Kind: Equatable {
        case pointwise
        /// Groups of 1 with any kernel, stride and padding (3x3, a strided 1x1, a stem).
        case dense
        case depthwise
    }

    /// The int8 instructions this CPU gives the kernels (see `ck_int8_level`): 2 AVX-512 VNNI, 1 AVX2, 0 none.
    /// `IMAGE_PIPELINE_INT8_LEVEL=1` holds a VNNI machine to the AVX2 path (to measure or test it).
    static let cpuLevel: Int = {
        let available = Int(ck_int8_level())
        if let forced = ProcessInfo.processInfo.environment["IMAGE_PIPELINE_INT8_LEVEL"].flatMap(Int.init), (0...available).contains(forced) {
            return forced
        }
        return available
    }()

    /// Whether this CPU runs the INT8 kernels at all; without them a QDQ model runs its fp32 emulation.
    static var isSupported: Bool { cpuLevel >= 1 }

    let kind: Kind
    /// Batch x height x width rows of a pointwise layer; images of a dense or depthwise one.
    private let rows: Int
    // Packed once here and only read by `run`, so sharing across threads is safe.
    private let pointwise: OpaquePointer?
    private let dense: OpaquePointer?
    private let depthwise: OpaquePointer?

    /// The quantization of a layer: input and output activations and the output's clamp in quantized units.
    struct Quantization {
        var input: ActivationQuantization
        var output: ActivationQuantization
        var outputRange: ClosedRange<Int>

        var kernelValue: ck_quantization {
            ck_quantization(
                input_scale: input.scale, input_zero_point: Int32(input.zeroPoint), output_scale: output.scale,
                output_zero_point: Int32(output.zeroPoint), output_min: Int32(outputRange.lowerBound), output_max: Int32(outputRange.upperBound))
        }
    }

    /// A pointwise layer for `pixels` rows: `weights` [outputChannels][inputChannels], `weightScales` and `bias`
    /// one per output channel.
    init(
        pointwisePixels pixels: Int, inputChannels: Int, outputChannels: Int, weights: [Int8], weightScales: [Float], bias: [Float],
        quantization: Quantization, level: Int = QuantizedConvolution.cpuLevel
    ) throws {
        guard Self.isSupported else { throw InferenceError.backend(call: "ck_qpointwise_create (this CPU lacks AVX2)", status: -1) }
        guard pixels > 0, weights.count == inputChannels * outputChannels, weightScales.count == outputChannels, bias.count == outputChannels
        else {
            throw InferenceError.invalidModel(
                detail: "INT8 1x1 convolution \(inputChannels) -> \(outputChannels) got \(weights.count) weights, \(weightScales.count) scales")
        }
        var q = quantization.kernelValue
        let created = weights.withUnsafeBufferPointer { w in
            weightScales.withUnsafeBufferPointer { s in
                bias.withUnsafeBufferPointer { b in
                    ck_qpointwise_create(inputChannels, outputChannels, w.baseAddress, s.baseAddress, b.baseAddress, &q, Int32(level))
                }
            }
        }
        guard let created else {
            throw InferenceError.backend(call: "ck_qpointwise_create(\(inputChannels) -> \(outputChannels)): out of memory", status: -1)
        }
        kind = .pointwise
        rows = pixels
        pointwise = created
        dense = nil
        depthwise = nil
    }

    /// A convolution without groups (dilation 1) for `batch` images of `geometry`: `weights` as ONNX holds them,
    /// [outputChannels][inputChannels][kh][kw], `weightScales` and `bias` one per output channel.
    init(
        denseBatch batch: Int, geometry: WindowedConvolution.Geometry, weights: [Int8], weightScales: [Float], bias: [Float],
        quantization: Quantization, level: Int = QuantizedConvolution.cpuLevel
    ) throws {
        guard Self.isSupported else { throw InferenceError.backend(call: "ck_qconv_create (this CPU lacks AVX2)", status: -1) }
        let (c, o) = (geometry.inputChannels, geometry.outputChannels)
        guard weights.count == o * c * geometry.kernel[0] * geometry.kernel[1], weightScales.count == o, bias.count == o else {
            throw InferenceError.invalidModel(detail: "INT8 convolution \(c) -> \(o), \(geometry.kernel) got \(weights.count) weights")
        }
        var q = quantization.kernelValue
        let created = weights.withUnsafeBufferPointer { w in
            weightScales.withUnsafeBufferPointer { s in
                bias.withUnsafeBufferPointer { b in
                    ck_qconv_create(
                        c, o, geometry.kernel[0], geometry.kernel[1], geometry.strides[0], geometry.strides[1], geometry.pads[0], geometry.pads[1],
                        geometry.input[0], geometry.input[1], geometry.output[0], geometry.output[1], w.baseAddress, s.baseAddress, b.baseAddress, &q,
                        Int32(level))
                }
            }
        }
        guard let created else {
            throw InferenceError.backend(call: "ck_qconv_create(\(c) -> \(o), \(geometry.kernel)): unsupported sizes or out of memory", status: -1)
        }
        kind = .dense
        rows = batch
        pointwise = nil
        dense = created
        depthwise = nil
    }

    /// Whether the dense kernel takes `geometry` (leading pads inside the window).
    static func supportsDense(_ geometry: WindowedConvolution.Geometry) -> Bool {
        isSupported && geometry.pads[0] < geometry.kernel[0] && geometry.pads[1] < geometry.kernel[1]
    }

    /// A depthwise layer (one filter per channel, dilation 1) for `batch` images of `geometry`: `weights`
    /// [channels][kh][kw], `weightScales` and `bias` one per channel.
    init(
        depthwiseBatch batch: Int, geometry: WindowedConvolution.Geometry, weights: [Int8], weightScales: [Float], bias: [Float],
        quantization: Quantization, level: Int = QuantizedConvolution.cpuLevel
    ) throws {
        guard Self.isSupported else { throw InferenceError.backend(call: "ck_qdepthwise_create (this CPU lacks AVX2)", status: -1) }
        let c = geometry.inputChannels
        guard weights.count == c * geometry.kernel[0] * geometry.kernel[1], weightScales.count == c, bias.count == c else {
            throw InferenceError.invalidModel(detail: "INT8 depthwise convolution of \(c) channels got \(weights.count) weights")
        }
        var q = quantization.kernelValue
        let created = weights.withUnsafeBufferPointer { w in
            weightScales.withUnsafeBufferPointer { s in
                bias.withUnsafeBufferPointer { b in
                    ck_qdepthwise_create(
                        c, geometry.kernel[0], geometry.kernel[1], geometry.strides[0], geometry.strides[1], geometry.pads[0], geometry.pads[1],
                        geometry.input[0], geometry.input[1], geometry.output[0], geometry.output[1], w.baseAddress, s.baseAddress, b.baseAddress, &q,
                        Int32(level))
                }
            }
        }
        guard let created else {
            throw InferenceError.backend(
                call: "ck_qdepthwise_create(\(c) channels, \(geometry.kernel)): unsupported sizes or out of memory", status: -1)
        }
        kind = .depthwise
        rows = batch
        pointwise = nil
        dense = nil
        depthwise = created
    }

    /// Whether the depthwise kernel takes `geometry` (leading pads inside the window, at most 64 taps).
    static func supportsDepthwise(_ geometry: WindowedConvolution.Geometry) -> Bool {
        isSupported && geometry.kernel[0] * geometry.kernel[1] <= 64 && geometry.pads[0] < geometry.kernel[0]
            && geometry.pads[1] < geometry.kernel[1]
    }

    /// `input` and `output` hold uint8 values (the buffers are typed Float for the session's plan).
    func run(
        input: UnsafePointer<Float>, residual: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, threadpool: pthreadpool_t?,
        yieldWorkers: Bool
    ) {
        let source = UnsafeRawPointer(input).assumingMemoryBound(to: UInt8.self)
        let destination = UnsafeMutableRawPointer(output).assumingMemoryBound(to: UInt8.self)
        let pool = threadpool.map { UnsafeMutableRawPointer($0) }
        if let pointwise {
            ck_qpointwise_run(pointwise, rows, source, destination, pool, yieldWorkers ? 1 : 0)
        } else if let dense {
            ck_qconv_run(dense, rows, source, destination, pool, yieldWorkers ? 1 : 0)
        } else if let depthwise {
            ck_qdepthwise_run(depthwise, rows, source, destination, pool, yieldWorkers ? 1 : 0)
        }
    }

    deinit {
        ck_qpointwise_destroy(pointwise)
        ck_qconv_destroy(dense)
        ck_qdepthwise_destroy(depthwise)
    }
}
