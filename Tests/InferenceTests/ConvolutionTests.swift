import Foundation
import ONNXProto
import Testing

@testable import Inference

/// Deterministic pseudo-random values in [-1, 1) so failures reproduce.
func pseudoRandom(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
    }
}

/// Straightforward NCHW grouped convolution, the reference the XNNPACK path is checked against.
func referenceConv(
    input: [Float], shape: [Int], weights: [Float], weightShape: [Int], bias: [Float], groups: Int,
    pads: [Int], strides: [Int], dilations: [Int]
) -> (values: [Float], shape: [Int]) {
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    let (o, cg, kh, kw) = (weightShape[0], weightShape[1], weightShape[2], weightShape[3])
    let oh = (h + pads[0] + pads[2] - ((kh - 1) * dilations[0] + 1)) / strides[0] + 1
    let ow = (w + pads[1] + pads[3] - ((kw - 1) * dilations[1] + 1)) / strides[1] + 1
    let perGroup = o / groups
    var out = [Float](repeating: 0, count: n * o * oh * ow)
    for b in 0..<n {
        for oc in 0..<o {
            let group = oc / perGroup
            for y in 0..<oh {
                for x in 0..<ow {
                    var sum = bias[oc]
                    for ic in 0..<cg {
                        let channel = group * cg + ic
                        for ky in 0..<kh {
                            for kx in 0..<kw {
                                let iy = y * strides[0] - pads[0] + ky * dilations[0]
                                let ix = x * strides[1] - pads[1] + kx * dilations[1]
                                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                sum += input[((b * c + channel) * h + iy) * w + ix] * weights[((oc * cg + ic) * kh + ky) * kw + kx]
                            }
                        }
                    }
                    out[((b * o + oc) * oh + y) * ow + x] = sum
                }
            }
        }
    }
    return (out, [n, o, oh, ow])
}

func intsAttribute(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .ints
    attribute.ints = values.map { Int64($0) }
    return attribute
}

func intAttribute(_ name: String, _ value: Int) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .int
    attribute.i = Int64(value)
    return attribute
}

/// Input x -> Conv -> BatchNormalization -> Clip(0, 6) -> y, with everything but x as initializers.
func convBlockModel(
    inputShape: [Int], weightShape: [Int], groups: Int, pads: [Int], strides: [Int], dilations: [Int],
    weights: [Float], bias: [Float], bn: (scale: [Float], shift: [Float], mean: [Float], variance: [Float])
)
    -> Onnx_ModelProto
{
    var model = Onnx_ModelProto()
    model.irVersion = 8
    var opset = Onnx_OperatorSetIdProto()
    opset.version = 13
    model.opsetImport = [opset]
    var conv = Onnx_NodeProto()
    conv.opType = "Conv"
    conv.input = ["x", "w", "b"]
    conv.output = ["conv"]
    conv.attribute = [
        intsAttribute("pads", pads), intsAttribute("strides", strides), intsAttribute("dilations", dilations),
        intAttribute("group", groups),
    ]
    var norm = Onnx_NodeProto()
    norm.opType = "BatchNormalization"
    norm.input = ["conv", "s", "sh", "m", "v"]
    norm.output = ["bn"]
    var clip = Onnx_NodeProto()
    clip.opType = "Clip"
    clip.input = ["bn", "lo", "hi"]
    clip.output = ["y"]
    model.graph.node = [conv, norm, clip]
    model.graph.declareInputAndOutput(shape: inputShape)
    let o = weightShape[0]
    model.graph.initializer = [
        floatTensor("w", shape: weightShape, values: weights), floatTensor("b", shape: [o], values: bias),
        floatTensor("s", shape: [o], values: bn.scale), floatTensor("sh", shape: [o], values: bn.shift),
        floatTensor("m", shape: [o], values: bn.mean), floatTensor("v", shape: [o], values: bn.variance),
        floatTensor("lo", shape: [], values: [0]), floatTensor("hi", shape: [], values: [6]),
    ]
    return model
}

struct ConvCase: CustomTestStringConvertible, Sendable {
    var label: String
    var input: [Int]
    var weight: [Int]
    var groups: Int
    var pads: [Int]
    var strides: [Int]
    var dilations: [Int]
    var testDescription: String { label }
}

@Suite("Convolution variants against a reference implementation")
struct ConvolutionTests {
    static let cases = [
        ConvCase(
            label: "depthwise 3x3 stride 2 asymmetric pads", input: [2, 8, 9, 9], weight: [8, 1, 3, 3], groups: 8,
            pads: [0, 0, 1, 1], strides: [2, 2], dilations: [1, 1]),
        // 43 channels: CKernels' 8-channel strips and the per-pixel tail; uneven pads make edge taps vary by side.
        ConvCase(
            label: "depthwise 5x5 stride 2, 43 channels, uneven pads", input: [2, 43, 10, 9], weight: [43, 1, 5, 5], groups: 43,
            pads: [2, 1, 1, 2], strides: [2, 2], dilations: [1, 1]),
        ConvCase(
            label: "depthwise 3x3 stride 1, 40 channels", input: [1, 40, 6, 5], weight: [40, 1, 3, 3], groups: 40,
            pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1]),
        // Wide rows: whole 8-pixel strips inside the image (unchecked) between checked edge strips.
        ConvCase(
            label: "depthwise 3x3 stride 1, 24 channels, 21 wide", input: [1, 24, 5, 21], weight: [24, 1, 3, 3], groups: 24,
            pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1]),
        ConvCase(
            label: "depthwise 5x5 stride 2, 16 channels, 40 wide", input: [1, 16, 7, 40], weight: [16, 1, 5, 5], groups: 16,
            pads: [2, 2, 1, 1], strides: [2, 2], dilations: [1, 1]),
        ConvCase(
            label: "depthwise 3x3 strides 1x2, batch 2", input: [2, 16, 6, 20], weight: [16, 1, 3, 3], groups: 16,
            pads: [1, 0, 1, 1], strides: [1, 2], dilations: [1, 1]),
        // No strip kernel for 7-wide windows: every pixel takes the per-pixel path.
        ConvCase(
            label: "depthwise 7x7, 12 channels", input: [1, 12, 9, 10], weight: [12, 1, 7, 7], groups: 12,
            pads: [3, 3, 3, 3], strides: [1, 1], dilations: [1, 1]),
        ConvCase(
            label: "depthwise multiplier 2, 5x5", input: [1, 4, 11, 7], weight: [8, 1, 5, 5], groups: 4,
            pads: [2, 2, 2, 2], strides: [1, 1], dilations: [1, 1]),
        ConvCase(
            label: "grouped (4 groups) dilated", input: [1, 8, 10, 10], weight: [12, 2, 3, 3], groups: 4,
            pads: [1, 2, 1, 0], strides: [1, 2], dilations: [2, 1]),
        ConvCase(
            label: "pointwise 1x1", input: [3, 16, 5, 5], weight: [24, 16, 1, 1], groups: 1,
            pads: [0, 0, 0, 0], strides: [1, 1], dilations: [1, 1]),
        ConvCase(
            label: "dense 3x3 stride 2 asymmetric pads", input: [1, 3, 16, 16], weight: [8, 3, 3, 3], groups: 1,
            pads: [0, 0, 1, 1], strides: [2, 2], dilations: [1, 1]),
        // Two channel panels (the second with 4 of 16 columns), 6-pixel tiles plus a partial one between edge pixels.
        ConvCase(
            label: "dense 3x3 stride 1, 5 -> 20 channels, batch 2", input: [2, 5, 7, 15], weight: [20, 5, 3, 3], groups: 1,
            pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1]),
        ConvCase(
            label: "dense 7x7 stride 2 (a ResNet-style stem)", input: [1, 3, 20, 23], weight: [16, 3, 7, 7], groups: 1,
            pads: [3, 3, 3, 3], strides: [2, 2], dilations: [1, 1]),
        ConvCase(
            label: "dense 1x1 stride 2", input: [1, 8, 9, 9], weight: [12, 8, 1, 1], groups: 1,
            pads: [0, 0, 0, 0], strides: [2, 2], dilations: [1, 1]),
    ]

    /// Conv + BatchNormalization (folded into the conv) + Clip(0, 6) (fused as output bounds) matches the unfused
    /// reference. Tolerance 1e-4 relative: folding BN changes the rounding of the weights slightly.
    @Test(arguments: cases)
    func convBatchNormClip(_ spec: ConvCase) throws {
        let o = spec.weight[0]
        let input = pseudoRandom(spec.input.reduce(1, *), seed: 1).map { $0 * 3 }
        let weights = pseudoRandom(spec.weight.reduce(1, *), seed: 2)
        let bias = pseudoRandom(o, seed: 3)
        let bn = (
            scale: pseudoRandom(o, seed: 4).map { $0 + 1.5 }, shift: pseudoRandom(o, seed: 5),
            mean: pseudoRandom(o, seed: 6), variance: pseudoRandom(o, seed: 7).map { $0 + 1.2 }
        )
        let proto = convBlockModel(
            inputShape: spec.input, weightShape: spec.weight, groups: spec.groups, pads: spec.pads,
            strides: spec.strides, dilations: spec.dilations, weights: weights, bias: bias, bn: bn)
        let model = try ONNXModel(serializedData: proto.serializedData())

        let lowered = try GraphLowering(model: model, batchSize: spec.input[0]).lower()
        let isPointwise = spec.weight[2] == 1 && spec.weight[3] == 1 && spec.groups == 1 && spec.strides == [1, 1]
        // A dense conv on a small image with padding is preceded by an explicit pad (its tiles then span rows).
        let outWidth = (spec.input[3] + spec.pads[1] + spec.pads[3] - spec.weight[3]) / spec.strides[1] + 1
        let explicitPad =
            spec.groups == 1 && !isPointwise && spec.dilations == [1, 1] && spec.pads.contains { $0 > 0 } && outWidth <= 20
            && PointwiseConvolution.isSupported
        // The conv is the only compute node (XNNPACK or CKernels); the rest is the NHWC -> NCHW output transpose.
        #expect(
            lowered.ops.filter { $0.isXNN || $0.isCKernel }.count == (explicitPad ? 2 : 1), "BN and Clip should fold into the single conv node")
        #expect(lowered.ops.filter(\.isPointwise).count == (isPointwise && PointwiseConvolution.isSupported ? 1 : 0))
        let isDepthwise = spec.groups > 1 && spec.groups == spec.input[1] && spec.weight[0] == spec.input[1] && spec.dilations == [1, 1]
        #expect(lowered.ops.filter(\.isDepthwise).count == (isDepthwise && PointwiseConvolution.isSupported ? 1 : 0))
        let isDense = spec.groups == 1 && !isPointwise && spec.dilations == [1, 1]
        #expect(lowered.ops.filter(\.isDense).count == (isDense && PointwiseConvolution.isSupported ? 1 : 0))

        let reference = referenceConv(
            input: input, shape: spec.input, weights: weights, weightShape: spec.weight, bias: bias,
            groups: spec.groups, pads: spec.pads, strides: spec.strides, dilations: spec.dilations)
        let plane = reference.shape[2] * reference.shape[3]
        let expected = reference.values.enumerated().map { index, value in
            let channel = (index / plane) % o
            let normalised = (value - bn.mean[channel]) / (bn.variance[channel] + 1e-5).squareRoot() * bn.scale[channel] + bn.shift[channel]
            return min(max(normalised, 0), 6)
        }
        for threads in [1, 2] {
            for ownKernels in [true, false] {
                let session = try InferenceSession(
                    model: model, batchSize: spec.input[0], threads: threads,
                    ownKernels: ownKernels)
                let output = try session.run(nchw: input)
                #expect(output.count == expected.count)
                let worst = maxRelativeError(output, expected)
                #expect(worst <= 1e-4, "\(spec.label), \(threads) threads, CKernels \(ownKernels): max error \(worst)")
            }
        }
    }
}

@Suite("Lowering of EfficientNet-Lite0", .enabled(if: RepositoryPaths.haveEfficientNet))
struct EfficientNetLoweringTests {
    /// Every Clip (ReLU6) folds into its conv: one node per Conv, Add, GlobalAveragePool, Flatten and Gemm, and no
    /// host kernels at all (the NHWC input needs no conversion); every convolution (1x1, depthwise and the dense
    /// stem) goes to CKernels when the CPU allows, and then each residual Add folds into the 1x1 projection
    /// before it.
    @Test(arguments: [true, false])
    func clipsFuseIntoConvolutions(ownKernels: Bool) throws {
        let model = try ONNXModel(contentsOf: RepositoryPaths.model)
        let counted = model.proto.graph.node.filter { ["Conv", "Add", "GlobalAveragePool", "Flatten", "Gemm"].contains($0.opType) }.count
        let pointwise = model.proto.graph.node.filter { node in
            node.opType == "Conv" && node.attribute.first { $0.name == "kernel_shape" }?.ints == [1, 1]
                && (node.attribute.first { $0.name == "group" }?.i ?? 1) == 1
        }.count
        let lowered = try GraphLowering(model: model, batchSize: 1, ownKernels: ownKernels).lower()
        let hostKernels = lowered.ops.filter { !$0.isXNN && !$0.isCKernel }.count
        #expect(hostKernels == 0)
        let adds = model.proto.graph.node.filter { $0.opType == "Add" }.count
        let own = ownKernels && PointwiseConvolution.isSupported
        #expect(adds > 0)
        #expect(lowered.ops.count == counted - (own ? adds : 0))
        #expect(lowered.ops.filter { $0.isPointwise && $0.inputs.count == 2 }.count == (own ? adds : 0))
        #expect(pointwise > 0)
        #expect(lowered.ops.filter(\.isPointwise).count == (ownKernels && PointwiseConvolution.isSupported ? pointwise : 0))
        let convolutions = model.proto.graph.node.filter { $0.opType == "Conv" }.count
        #expect(lowered.ops.filter(\.isCKernel).count == (ownKernels && PointwiseConvolution.isSupported ? convolutions : 0))
        #expect(lowered.ops.filter(\.isDense).count == (ownKernels && PointwiseConvolution.isSupported ? 1 : 0))
    }
}
