import Foundation
import ONNXProto
import Testing

@testable import Inference

/// Conv -> Add(scalar) -> HardSwish -> Mul(scalar) -> Add(scalar), PP-LCNet's block, fused into our kernels'
/// store: the same outputs as XNNPACK running each node (ownKernels: false), for every kernel kind.
@Suite("Activation and affine fused into the convolution kernels", .enabled(if: PointwiseConvolution.isSupported, "needs AVX2 and FMA"))
struct EpilogueFusionTests {
    struct Layer: CustomTestStringConvertible, Sendable {
        var name: String
        var weights: [Int]
        var group: Int
        var pads: [Int]
        var testDescription: String { name }
    }

    static let layers = [
        Layer(name: "pointwise", weights: [24, 16, 1, 1], group: 1, pads: [0, 0, 0, 0]),
        Layer(name: "depthwise 3x3", weights: [16, 1, 3, 3], group: 16, pads: [1, 1, 1, 1]),
        Layer(name: "dense 3x3 (Winograd)", weights: [32, 16, 3, 3], group: 1, pads: [1, 1, 1, 1]),
        Layer(name: "dense 5x5 (direct)", weights: [8, 16, 5, 5], group: 1, pads: [2, 2, 2, 2]),
    ]

    func model(_ layer: Layer, chain: [String]) throws -> ONNXModel {
        var model = Onnx_ModelProto()
        model.irVersion = 8
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 14
        model.opsetImport = [opset]
        func attribute(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
            var attribute = Onnx_AttributeProto()
            attribute.name = name
            if name == "group" { attribute.i = Int64(values[0]) } else { attribute.ints = values.map { Int64($0) } }
            return attribute
        }
        var conv = Onnx_NodeProto()
        conv.opType = "Conv"
        conv.input = ["x", "w", "b"]
        conv.output = ["c0"]
        conv.attribute = [attribute("pads", layer.pads), attribute("group", [layer.group])]
        var nodes = [conv]
        var initializers = [
            floatTensor("w", shape: layer.weights, values: pseudoRandom(layer.weights.reduce(1, *), seed: 61).map { $0 * 0.3 }),
            floatTensor("b", shape: [layer.weights[0]], values: pseudoRandom(layer.weights[0], seed: 62)),
        ]
        var last = "c0"
        for (index, op) in chain.enumerated() {
            var node = Onnx_NodeProto()
            let output = "c\(index + 1)"
            if op == "HardSwish" || op == "Relu" {
                node.opType = op
                node.input = [last]
            } else {
                // "Add 0.25" / "Mul -1.5": the constant first for Mul, as PaddleOCR's export writes it.
                let parts = op.split(separator: " ")
                node.opType = String(parts[0])
                let constant = "k\(index)"
                initializers.append(floatTensor(constant, shape: [1], values: [Float(parts[1])!]))
                node.input = node.opType == "Mul" ? [constant, last] : [last, constant]
            }
            node.output = [output]
            nodes.append(node)
            last = output
        }
        nodes[nodes.count - 1].output = ["y"]
        model.graph.node = nodes
        model.graph.initializer = initializers
        model.graph.declareInputAndOutput(shape: [1, 16, 9, 11])
        return try ONNXModel(serializedData: model.serializedData())
    }

    @Test(arguments: layers, [["Add 0.25", "HardSwish", "Mul -1.5", "Add 0.75"], ["HardSwish"], ["Add -0.5", "Relu"], ["HardSwish", "Add 2"]])
    func matchesUnfused(_ layer: Layer, chain: [String]) throws {
        let model = try model(layer, chain: chain)
        let input = pseudoRandom(16 * 9 * 11, seed: 63)
        let fused = try InferenceSession(model: model, batchSize: 1, threads: 2, ownKernels: true)
        let reference = try InferenceSession(model: model, batchSize: 1, threads: 1, ownKernels: false)
        let got = try fused.run(nchw: input)
        let want = try reference.run(nchw: input)
        #expect(got.count == want.count)
        let worst = maxRelativeError(got, want)
        #expect(worst <= 1e-5, "\(layer.name) \(chain): max error \(worst)")
        // The fused nodes are really gone: one step (the kernel) plus the layout conversions around it.
        fused.setProfiling(true)
        _ = try fused.run(nchw: input)
        #expect(!fused.stepProfile().contains { $0.nodes.contains("HardSwish") || $0.nodes.contains("Relu") })
    }
}
