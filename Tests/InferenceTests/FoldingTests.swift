import Foundation
import ONNXProto
import Testing

@testable import Inference

/// Input sizes given per session and the shape arithmetic exporters write around them (Shape -> Gather/
/// Slice -> Mul -> Unsqueeze -> Concat -> Cast -> Reshape), folded while lowering.
@Suite("Open input sizes and constant folding")
struct FoldingTests {
    func node(_ op: String, _ inputs: [String], _ output: String, ints: [String: [Int]] = [:]) -> Onnx_NodeProto {
        var node = Onnx_NodeProto()
        node.opType = op
        node.input = inputs
        node.output = [output]
        node.attribute = ints.map { name, values in
            var attribute = Onnx_AttributeProto()
            attribute.name = name
            if name == "to" || name == "axis" {
                attribute.i = Int64(values[0])
            } else {
                attribute.ints = values.map { Int64($0) }
            }
            return attribute
        }
        return node
    }

    func int64(_ name: String, _ values: [Int], shape: [Int]? = nil) -> Onnx_TensorProto {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dims = (shape ?? [values.count]).map { Int64($0) }
        tensor.dataType = 7
        tensor.int64Data = values.map { Int64($0) }
        return tensor
    }

    /// x [N, 3, H, W] (H and W open) -> Relu -> Reshape to [N, 3, H * W] through computed shapes -> Mul by a
    /// constant that is itself folded (a reshaped [3] scale, as exporters write a Conv bias).
    func flattenModel() throws -> ONNXModel {
        var model = Onnx_ModelProto()
        model.irVersion = 8
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 13
        model.opsetImport = [opset]
        model.graph.initializer = [
            int64("two", [2], shape: []), int64("three", [3], shape: []), int64("zero_axis", [0]),
            int64("begin", [0]), int64("end", [2]),
            floatTensor("scale", shape: [3], values: [1, 2, -1]), int64("scale_shape", [1, 3, 1]),
        ]
        model.graph.node = [
            node("Relu", ["x"], "r"),
            node("Shape", ["r"], "s"),
            node("Slice", ["s", "begin", "end"], "nc"),
            node("Gather", ["s", "two"], "h", ints: ["axis": [0]]),
            node("Gather", ["s", "three"], "w", ints: ["axis": [0]]),
            node("Mul", ["h", "w"], "hw"),
            node("Unsqueeze", ["hw", "zero_axis"], "hw1"),
            node("Concat", ["nc", "hw1"], "target", ints: ["axis": [0]]),
            node("Cast", ["target"], "target64", ints: ["to": [7]]),
            node("Reshape", ["r", "target64"], "flat"),
            node("Reshape", ["scale", "scale_shape"], "scale3"),
            node("Mul", ["flat", "scale3"], "y"),
        ]
        var input = Onnx_ValueInfoProto()
        input.name = "x"
        input.type.tensorType.elemType = 1
        input.type.tensorType.shape.dim = ["N", "3", "H", "W"].map { size in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let fixed = Int64(size) { dim.dimValue = fixed } else { dim.dimParam = size }
            return dim
        }
        var output = Onnx_ValueInfoProto()
        output.name = "y"
        model.graph.input = [input]
        model.graph.output = [output]
        return try ONNXModel(serializedData: model.serializedData())
    }

    @Test("one model, two input sizes: each session folds the shapes for its own size", arguments: [[3, 4, 5], [3, 2, 7]])
    func shapesFoldPerInputSize(size: [Int]) throws {
        let session = try InferenceSession(model: flattenModel(), batchSize: 1, threads: 1, inputSize: size)
        let pixels = size[1] * size[2]
        #expect(session.inputShape == [1] + size)
        #expect(session.outputShape == [1, 3, pixels])
        let input = (0..<(3 * pixels)).map { Float($0 % 7) - 3 }
        let output = try session.run(nchw: input)
        let expected = input.enumerated().map { index, value in max(0, value) * [1, 2, -1][index / pixels] }
        #expect(output == expected)
    }

    @Test("an open axis without a size, or a size the file contradicts, is a clear error")
    func inputSizeErrors() throws {
        let model = try flattenModel()
        #expect {
            try InferenceSession(model: model, batchSize: 1, threads: 1)
        } throws: { error in
            "\(error)".contains("give the input's size")
        }
        #expect {
            try InferenceSession(model: model, batchSize: 1, threads: 1, inputSize: [4, 4, 5])
        } throws: { error in
            "\(error)".contains("fixed at 3")
        }
        #expect(throws: InferenceError.self) { try InferenceSession(model: model, batchSize: 1, threads: 1, inputSize: [3, 4]) }
    }

    @Test("sessions by size: one per size, reused, the least recently used dropped beyond the capacity")
    func sessionsBySize() throws {
        let sessions = SessionsBySize(model: try flattenModel(), pool: try InferenceThreads(count: 2), capacity: 2)
        let small = try sessions.session(for: [3, 4, 5])
        #expect(try sessions.session(for: [3, 4, 5]) === small)
        #expect(sessions.builds == 1)
        _ = try sessions.session(for: [3, 2, 7])
        _ = try sessions.session(for: [3, 4, 5])
        #expect(sessions.builds == 2, "both sizes kept")
        _ = try sessions.session(for: [3, 6, 6])  // drops [3, 2, 7], used least recently
        #expect(try sessions.session(for: [3, 4, 5]) === small)
        _ = try sessions.session(for: [3, 2, 7])
        #expect(sessions.builds == 4)
        let output = try small.run(nchw: [Float](repeating: 1, count: 60))
        #expect(output.count == 60)
    }
}
