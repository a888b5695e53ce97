import Foundation
import ONNXProto
import Testing

@testable import Inference

/// One QDQ convolution (Quantize → Dequantize → Conv [→ Relu] → Quantize → Dequantize, int8 weights per
/// channel) on the INT8 kernels, against the definition computed in double precision: every output within one
/// quantization step, nearly all exact. Sizes leave tails everywhere (channels not multiples of 4, 8 or 16,
/// rows not multiples of the 6-row tile) and cover padding, strides, both kernel levels and the per-pixel path.
@Suite("INT8 convolution kernels against the QDQ definition", .enabled(if: QuantizedConvolution.isSupported, "needs AVX2"))
struct QuantizedKernelTests {
    struct Layer: CustomTestStringConvertible, Sendable {
        var name: String
        var channels: Int
        var size: [Int]
        var weights: [Int]
        var group: Int
        var pads: [Int]
        var strides: [Int]
        var relu = false
        /// Whether the INT8 kernels take it (else it runs dequantized, in fp32).
        var onKernels = true
        var testDescription: String { name }
    }

    static let layers = [
        Layer(name: "pointwise 19 -> 37", channels: 19, size: [5, 7], weights: [37, 19, 1, 1], group: 1, pads: [0, 0, 0, 0], strides: [1, 1]),
        Layer(
            name: "pointwise 64 -> 16, Relu", channels: 64, size: [9, 11], weights: [16, 64, 1, 1], group: 1, pads: [0, 0, 0, 0], strides: [1, 1],
            relu: true),
        Layer(name: "depthwise 3x3", channels: 21, size: [9, 11], weights: [21, 1, 3, 3], group: 21, pads: [1, 1, 1, 1], strides: [1, 1]),
        Layer(
            name: "depthwise 5x5 stride 2", channels: 24, size: [13, 13], weights: [24, 1, 5, 5], group: 24, pads: [2, 2, 2, 2], strides: [2, 2]),
        Layer(
            name: "depthwise 3x3 stride 2, pads after", channels: 16, size: [8, 8], weights: [16, 1, 3, 3], group: 16, pads: [0, 0, 1, 1],
            strides: [2, 2]),
        // Wide enough for strips inside the image as well as at its sides; 40 channels: blocks of 16 and a tail.
        Layer(
            name: "depthwise 3x3 on a wide image", channels: 40, size: [6, 30], weights: [40, 1, 3, 3], group: 40, pads: [1, 1, 1, 1],
            strides: [1, 1]),
        Layer(
            name: "depthwise 5x5 on a wide image, Relu", channels: 32, size: [7, 27], weights: [32, 1, 5, 5], group: 32,
            pads: [2, 2, 2, 2], strides: [1, 1], relu: true),
        Layer(
            name: "depthwise 7x7 (per-pixel path), Relu", channels: 16, size: [9, 9], weights: [16, 1, 7, 7], group: 16, pads: [3, 3, 3, 3],
            strides: [1, 1], relu: true),
        Layer(name: "dense 3x3", channels: 13, size: [7, 9], weights: [20, 13, 3, 3], group: 1, pads: [1, 1, 1, 1], strides: [1, 1]),
        Layer(
            name: "dense 3x3 stride 2, pads after, Relu", channels: 8, size: [9, 8], weights: [33, 8, 3, 3], group: 1, pads: [0, 0, 1, 1],
            strides: [2, 2], relu: true),
        Layer(name: "pointwise stride 2", channels: 24, size: [7, 7], weights: [40, 24, 1, 1], group: 1, pads: [0, 0, 0, 0], strides: [2, 2]),
        Layer(
            name: "stem 7x7 stride 2 on 3 channels", channels: 3, size: [17, 16], weights: [16, 3, 7, 7], group: 1, pads: [3, 3, 3, 3],
            strides: [2, 2]),
        Layer(
            name: "grouped 3x3 (not on the INT8 kernels)", channels: 8, size: [6, 6], weights: [8, 4, 3, 3], group: 2, pads: [1, 1, 1, 1],
            strides: [1, 1], onKernels: false),
    ]

    static let levels = Array(1...max(1, QuantizedConvolution.cpuLevel))

    /// Quantization parameters of the test layer: input, output, per-channel weight scales.
    struct Parameters {
        var inputScale: Float = 0.02
        var inputZeroPoint = 118
        var outputScale: Float = 0.05
        var outputZeroPoint = 131
        var weightScales: [Float]
        var weights: [Int8]
        var bias: [Int32]
    }

    static func parameters(_ layer: Layer) -> Parameters {
        let count = layer.weights.reduce(1, *)
        let outputs = layer.weights[0]
        let weights = pseudoRandom(count, seed: 71).map { Int8(($0 * 127).rounded()) }
        // Scales vary by channel, about one step of the output per product of full-scale values.
        let scales = pseudoRandom(outputs, seed: 72).map { (1.5 + $0) * 0.004 }
        let bias = pseudoRandom(outputs, seed: 73).map { Int32(($0 * 4000).rounded()) }
        return Parameters(weightScales: scales, weights: weights, bias: bias)
    }

    static func model(_ layer: Layer, _ p: Parameters) throws -> ONNXModel {
        var model = Onnx_ModelProto()
        model.irVersion = 8
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 13
        model.opsetImport = [opset]
        func node(_ op: String, _ inputs: [String], _ output: String, _ attributes: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
            var node = Onnx_NodeProto()
            node.opType = op
            node.name = output
            node.input = inputs
            node.output = [output]
            node.attribute = attributes
            return node
        }
        func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
            var attribute = Onnx_AttributeProto()
            attribute.name = name
            attribute.type = .ints
            attribute.ints = values.map { Int64($0) }
            return attribute
        }
        var group = Onnx_AttributeProto()
        group.name = "group"
        group.type = .int
        group.i = Int64(layer.group)
        var axis = Onnx_AttributeProto()
        axis.name = "axis"
        axis.type = .int
        axis.i = 0
        let outputs = layer.weights[0]
        let biasScales = p.weightScales.map { $0 * p.inputScale }
        var nodes = [
            node("QuantizeLinear", ["x", "xs", "xz"], "xq"),
            node("DequantizeLinear", ["xq", "xs", "xz"], "xd"),
            node("DequantizeLinear", ["wq", "ws", "wz"], "w", [axis]),
            node("DequantizeLinear", ["bq", "bs", "bz"], "b", [axis]),
            node("Conv", ["xd", "w", "b"], "c", [ints("pads", layer.pads), ints("strides", layer.strides), group]),
        ]
        var last = "c"
        if layer.relu {
            nodes.append(node("Relu", ["c"], "r"))
            last = "r"
        }
        nodes += [node("QuantizeLinear", [last, "ys", "yz"], "yq"), node("DequantizeLinear", ["yq", "ys", "yz"], "y")]
        model.graph.node = nodes
        model.graph.initializer = [
            floatTensor("xs", shape: [], values: [p.inputScale]), integerTensor("xz", type: 2, shape: [], values: [p.inputZeroPoint]),
            floatTensor("ys", shape: [], values: [p.outputScale]), integerTensor("yz", type: 2, shape: [], values: [p.outputZeroPoint]),
            integerTensor("wq", type: 3, shape: layer.weights, values: p.weights.map { Int($0) }),
            floatTensor("ws", shape: [outputs], values: p.weightScales),
            integerTensor("wz", type: 3, shape: [outputs], values: [Int](repeating: 0, count: outputs)),
            integerTensor("bq", type: 6, shape: [outputs], values: p.bias.map { Int($0) }),
            floatTensor("bs", shape: [outputs], values: biasScales),
            integerTensor("bz", type: 6, shape: [outputs], values: [Int](repeating: 0, count: outputs)),
        ]
        model.graph.declareInputAndOutput(shape: [1, layer.channels] + layer.size)
        return try ONNXModel(serializedData: model.serializedData())
    }

    /// The layer's quantized outputs (before the last Dequantize) by the definition, in double precision.
    static func reference(_ layer: Layer, _ p: Parameters, input: [Float]) -> [Int] {
        let (c, h, w) = (layer.channels, layer.size[0], layer.size[1])
        let (o, kh, kw) = (layer.weights[0], layer.weights[2], layer.weights[3])
        let perGroup = c / layer.group
        let outGroup = o / layer.group
        let oh = (h + layer.pads[0] + layer.pads[2] - kh) / layer.strides[0] + 1
        let ow = (w + layer.pads[1] + layer.pads[3] - kw) / layer.strides[1] + 1
        let xq = input.map { min(255, max(0, Int(($0 / p.inputScale).rounded(.toNearestOrEven)) + p.inputZeroPoint)) }
        var out = [Int](repeating: 0, count: o * oh * ow)
        for oc in 0..<o {
            let g = oc / outGroup
            for y in 0..<oh {
                for x in 0..<ow {
                    var sum = Double(p.bias[oc]) * Double(p.inputScale * p.weightScales[oc])
                    for ic in 0..<perGroup {
                        for ky in 0..<kh {
                            for kx in 0..<kw {
                                let iy = y * layer.strides[0] - layer.pads[0] + ky
                                let ix = x * layer.strides[1] - layer.pads[1] + kx
                                guard (0..<h).contains(iy), (0..<w).contains(ix) else { continue }
                                let q = xq[((g * perGroup + ic) * h + iy) * w + ix]
                                let weight = p.weights[((oc * perGroup + ic) * kh + ky) * kw + kx]
                                sum += Double(q - p.inputZeroPoint) * Double(p.inputScale) * Double(weight) * Double(p.weightScales[oc])
                            }
                        }
                    }
                    if layer.relu { sum = max(0, sum) }
                    let v = Int((sum / Double(p.outputScale)).rounded(.toNearestOrEven)) + p.outputZeroPoint
                    out[(oc * oh + y) * ow + x] = min(255, max(0, v))
                }
            }
        }
        return out
    }

    @Test("within one step of the definition", arguments: layers, levels)
    func matchesDefinition(_ layer: Layer, level: Int) throws {
        let p = Self.parameters(layer)
        let model = try Self.model(layer, p)
        // Inputs spanning the quantized range and beyond (saturation), as real values.
        let input = pseudoRandom(layer.channels * layer.size.reduce(1, *), seed: 74).map { $0 * 2.6 }
        let want = Self.reference(layer, p, input: input)
        for threads in [1, 2] {
            let session = try InferenceSession(model: model, batchSize: 1, threads: threads, ownKernels: true, int8Level: level)
            let got = try session.run(nchw: input).map { Int(($0 / p.outputScale).rounded()) + p.outputZeroPoint }
            #expect(got.count == want.count)
            let off = zip(got, want).map { abs($0 - $1) }
            #expect((off.max() ?? 99) <= 1, "\(layer.name), level \(level), \(threads) threads: off by up to \(off.max() ?? -1) steps")
            let exact = Double(off.filter { $0 == 0 }.count) / Double(max(1, off.count))
            #expect(exact >= 0.99, "\(layer.name): only \(exact) of the outputs exact")
            // On the kernels, the input's Dequantize and the Conv are one step: no fp32 copy of the input is made.
            session.setProfiling(true)
            _ = try session.run(nchw: input)
            let steps = session.stepProfile().map(\.nodes)
            #expect(steps.contains { $0.contains("xd") } == !layer.onKernels, "\(layer.name): steps \(steps)")
        }
    }

    @Test("the AVX2 and VNNI kernels compute the same bytes", .enabled(if: QuantizedConvolution.cpuLevel >= 2, "needs AVX-512 VNNI"))
    func levelsAgree() throws {
        let model = try ONNXModel(contentsOf: RepositoryPaths.quantizedModel)
        let input = pseudoRandom(3 * 224 * 224, seed: 75)
        let avx2 = try InferenceSession(model: model, batchSize: 1, threads: 2, ownKernels: true, int8Level: 1).run(nchw: input)
        let vnni = try InferenceSession(model: model, batchSize: 1, threads: 2, ownKernels: true, int8Level: 2).run(nchw: input)
        #expect(avx2 == vnni)
    }
}

/// An integer tensor (2 UINT8, 3 INT8, 6 INT32) in int32_data, as ONNX stores small integer types.
func integerTensor(_ name: String, type: Int32, shape: [Int], values: [Int]) -> Onnx_TensorProto {
    var tensor = Onnx_TensorProto()
    tensor.name = name
    tensor.dims = shape.map { Int64($0) }
    tensor.dataType = type
    tensor.int32Data = values.map { Int32($0) }
    return tensor
}
