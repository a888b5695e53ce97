import Foundation
import ONNXProto
import Testing

@testable import Inference

/// A fresh temporary directory per test.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("inference-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A tiny single-node model built in code: input x [1, 2, 4, 4] -> op -> y.
func singleNodeModel(
    op: String, inputs extra: [String] = [], attributes: [Onnx_AttributeProto] = [],
    initializers: [Onnx_TensorProto] = []
) -> Onnx_ModelProto {
    var model = Onnx_ModelProto()
    model.irVersion = 8
    var opset = Onnx_OperatorSetIdProto()
    opset.version = 13
    model.opsetImport = [opset]
    var node = Onnx_NodeProto()
    node.opType = op
    node.name = "the_\(op.lowercased())"
    node.input = ["x"] + extra
    node.output = ["y"]
    node.attribute = attributes
    model.graph.node = [node]
    model.graph.declareInputAndOutput(shape: [1, 2, 4, 4])
    model.graph.initializer = initializers
    return model
}

extension Onnx_GraphProto {
    /// Declares the graph's single float input `x` with `shape` and its output `y`.
    mutating func declareInputAndOutput(shape: [Int]) {
        var input = Onnx_ValueInfoProto()
        input.name = "x"
        input.type.tensorType.elemType = 1
        input.type.tensorType.shape.dim = shape.map { size in
            var dim = Onnx_TensorShapeProto.Dimension()
            dim.dimValue = Int64(size)
            return dim
        }
        var output = Onnx_ValueInfoProto()
        output.name = "y"
        self.input = [input]
        self.output = [output]
    }
}

func floatTensor(_ name: String, shape: [Int], values: [Float]) -> Onnx_TensorProto {
    var tensor = Onnx_TensorProto()
    tensor.name = name
    tensor.dims = shape.map { Int64($0) }
    tensor.dataType = 1
    tensor.floatData = values
    return tensor
}

@Suite("Clear errors")
struct ErrorTests {
    @Test func corruptFileIsNotAnONNXModel() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("corrupt.onnx")
        try Data("this is not a protobuf, just some text \u{1}\u{2}\u{3}".utf8).write(to: file)
        let error = #expect(throws: InferenceError.self) { try ONNXModel(contentsOf: file) }
        guard case .notAnONNXModel(let path, _) = error else {
            Issue.record("wrong error \(String(describing: error))")
            return
        }
        #expect(path == file.path)
        #expect(error?.description.contains("corrupt.onnx") == true)
    }

    @Test func truncatedModelIsRejected() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try Data(contentsOf: NodeTestCase(name: "test_conv_with_strides_padding").directory.appendingPathComponent("model.onnx"))
        let file = directory.appendingPathComponent("truncated.onnx")
        try source.prefix(source.count / 2).write(to: file)
        #expect(throws: InferenceError.self) { try ONNXModel(contentsOf: file) }
    }

    @Test func missingFileIsUnreadable() {
        let error = #expect(throws: InferenceError.self) { try ONNXModel(contentsOf: URL(fileURLWithPath: "/nonexistent/model.onnx")) }
        #expect(error?.description.contains("/nonexistent/model.onnx") == true)
    }

    @Test func unsupportedOperatorIsNamed() throws {
        let model = try ONNXModel(serializedData: singleNodeModel(op: "Tanh").serializedData())
        let error = #expect(throws: InferenceError.self) { try InferenceSession(model: model, batchSize: 1, threads: 1) }
        guard case .unsupportedOperator(let op, let node) = error else {
            Issue.record("wrong error \(String(describing: error))")
            return
        }
        #expect(op == "Tanh")
        #expect(node == "the_tanh")
        #expect(error?.description.contains("'Tanh'") == true)
    }

    @Test func unsupportedOperatorFromTestData() throws {
        let model = try ONNXModel(contentsOf: NodeTestCase(name: "test_abs").directory.appendingPathComponent("model.onnx"))
        let error = #expect(throws: InferenceError.self) { try InferenceSession(model: model, batchSize: 3, threads: 1) }
        #expect(error?.description.contains("'Abs'") == true)
    }

    @Test func missingInitializerIsNamed() throws {
        let model = try ONNXModel(serializedData: singleNodeModel(op: "Conv", inputs: ["conv.weight"]).serializedData())
        let error = #expect(throws: InferenceError.self) { try InferenceSession(model: model, batchSize: 1, threads: 1) }
        guard case .missingTensor(let name, let node) = error else {
            Issue.record("wrong error \(String(describing: error))")
            return
        }
        #expect(name == "conv.weight")
        #expect(node == "the_conv")
    }

    @Test func unsupportedAttributeValueIsExplained() throws {
        var autoPad = Onnx_AttributeProto()
        autoPad.name = "auto_pad"
        autoPad.s = Data("SOMETIMES".utf8)
        let weights = floatTensor("w", shape: [2, 2, 1, 1], values: [1, 0, 0, 1])
        let model = try ONNXModel(
            serializedData: singleNodeModel(op: "Conv", inputs: ["w"], attributes: [autoPad], initializers: [weights]).serializedData())
        let error = #expect(throws: InferenceError.self) { try InferenceSession(model: model, batchSize: 1, threads: 1) }
        guard case .unsupportedAttribute(let op, _, let detail) = error else {
            Issue.record("wrong error \(String(describing: error))")
            return
        }
        #expect(op == "Conv")
        #expect(detail.contains("SOMETIMES"))
    }

    @Test func trainingModeBatchNormIsRejected() throws {
        let (model, input, _) = try NodeTestCase(name: "test_batchnorm_example_training_mode").load()
        let error = #expect(throws: InferenceError.self) { try InferenceSession(model: model, batchSize: input.shape[0], threads: 1) }
        #expect(error?.description.contains("training_mode") == true)
    }

    @Test func unsupportedExponentIsRejected() throws {
        let exponent = floatTensor("e", shape: [1], values: [3])
        let model = try ONNXModel(serializedData: singleNodeModel(op: "Pow", inputs: ["e"], initializers: [exponent]).serializedData())
        let error = #expect(throws: InferenceError.self) { try InferenceSession(model: model, batchSize: 1, threads: 1) }
        #expect(error?.description.contains("exponent 3") == true)
    }

    @Test func gatherOfComputedValuesIsRejected() throws {
        let indices = floatTensor("i", shape: [1], values: [0])
        let model = try ONNXModel(serializedData: singleNodeModel(op: "Gather", inputs: ["i"], initializers: [indices]).serializedData())
        let error = #expect(throws: InferenceError.self) { try InferenceSession(model: model, batchSize: 1, threads: 1) }
        #expect(error?.description.contains("only supported on constants") == true)
    }

    @Test func wrongInputSizeIsRejected() throws {
        let (model, input, _) = try NodeTestCase(name: "test_relu").load()
        let session = try InferenceSession(model: model, batchSize: input.shape[0], threads: 1)
        let error = #expect(throws: InferenceError.self) { try session.run(nchw: [1, 2, 3]) }
        guard case .inputSizeMismatch(let expected, let got) = error else {
            Issue.record("wrong error \(String(describing: error))")
            return
        }
        #expect(expected == input.count)
        #expect(got == 3)
    }

    @Test func sessionIsReusable() throws {
        let (model, input, expected) = try NodeTestCase(name: "test_conv_with_strides_padding").load()
        let session = try InferenceSession(model: model, batchSize: 1, threads: 1)
        let first = try session.run(nchw: input.values)
        let second = try session.run(nchw: input.values)
        #expect(first == second)
        #expect(first.count == expected.count)
    }
}
