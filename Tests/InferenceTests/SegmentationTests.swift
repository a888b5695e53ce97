import Foundation
import ONNXProto
import Testing

@testable import Inference

/// Graphs that need host kernels between XNNPACK subgraphs (Concat, layout changes) still compute correctly.
@Suite("Mixed XNNPACK and host steps")
struct SegmentationTests {
    /// x -> Conv(a) -> Relu -> Concat(channels, with x) -> Conv(b) -> Flatten -> y.
    /// The Concat runs on the host between two XNNPACK runtimes, on NHWC data; Flatten of a non-1x1 map needs
    /// an NHWC -> NCHW transpose.
    @Test(arguments: [1, 2])
    func convConcatConv(threads: Int) throws {
        let shape = [2, 3, 6, 5]
        let aShape = [4, 3, 3, 3]
        let bShape = [2, 7, 1, 1]
        let x = pseudoRandom(shape.reduce(1, *), seed: 11)
        let a = pseudoRandom(aShape.reduce(1, *), seed: 12)
        let aBias = pseudoRandom(4, seed: 13)
        let b = pseudoRandom(bShape.reduce(1, *), seed: 14)
        let bBias = pseudoRandom(2, seed: 15)

        var model = Onnx_ModelProto()
        model.irVersion = 8
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 13
        model.opsetImport = [opset]
        func node(_ op: String, _ inputs: [String], _ output: String, _ attributes: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
            var node = Onnx_NodeProto()
            node.opType = op
            node.input = inputs
            node.output = [output]
            node.attribute = attributes
            return node
        }
        model.graph.node = [
            node("Conv", ["x", "a", "ab"], "c1", [intsAttribute("pads", [1, 1, 1, 1])]),
            node("Relu", ["c1"], "r1"),
            node("Concat", ["r1", "x"], "cat", [intAttribute("axis", 1)]),
            node("Conv", ["cat", "b", "bb"], "c2"),
            node("Flatten", ["c2"], "y"),
        ]
        model.graph.declareInputAndOutput(shape: shape)
        model.graph.initializer = [
            floatTensor("a", shape: aShape, values: a), floatTensor("ab", shape: [4], values: aBias),
            floatTensor("b", shape: bShape, values: b), floatTensor("bb", shape: [2], values: bBias),
        ]

        // Reference in NCHW.
        let first = referenceConv(
            input: x, shape: shape, weights: a, weightShape: aShape, bias: aBias, groups: 1,
            pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1])
        let plane = 6 * 5
        var concatenated: [Float] = []
        for image in 0..<2 {
            concatenated += first.values[(image * 4 * plane)..<((image + 1) * 4 * plane)].map { max($0, 0) }
            concatenated += x[(image * 3 * plane)..<((image + 1) * 3 * plane)]
        }
        let expected = referenceConv(
            input: concatenated, shape: [2, 7, 6, 5], weights: b, weightShape: bShape, bias: bBias,
            groups: 1, pads: [0, 0, 0, 0], strides: [1, 1], dilations: [1, 1]
        ).values

        let onnx = try ONNXModel(serializedData: model.serializedData())
        let lowered = try GraphLowering(model: onnx, batchSize: 2).lower()
        #expect(lowered.ops.contains { !$0.isXNN }, "Concat should be a host step")
        let session = try InferenceSession(model: onnx, batchSize: 2, threads: threads)
        #expect(session.outputCount == 2 * plane)
        for _ in 0..<2 {  // twice: buffers are reused between runs
            let result = try session.run(nchw: x)
            let worst = maxRelativeError(result, expected)
            #expect(result.count == expected.count)
            #expect(worst <= 1e-4, "max error \(worst)")
        }
    }
}

@Suite("Batch size")
struct BatchSizeTests {
    /// A Reshape target with the export's batch (1) baked in follows the session's batch instead.
    @Test func reshapeFollowsSessionBatch() throws {
        var shapeTensor = Onnx_TensorProto()
        shapeTensor.name = "target"
        shapeTensor.dims = [2]
        shapeTensor.dataType = 7
        shapeTensor.int64Data = [1, 32]
        let proto = singleNodeModel(op: "Reshape", inputs: ["target"], initializers: [shapeTensor])
        let model = try ONNXModel(serializedData: proto.serializedData())
        let session = try InferenceSession(model: model, batchSize: 3, threads: 1)
        #expect(session.inputShape == [3, 2, 4, 4])
        #expect(session.outputCount == 32)
        let input = pseudoRandom(3 * 32, seed: 21)
        #expect(try session.run(nchw: input) == input)
    }
}
