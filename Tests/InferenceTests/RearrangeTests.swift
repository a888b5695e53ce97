import Foundation
import ONNXProto
import Testing

@testable import Inference

/// What the node vectors do not reach: the layout shortcuts of Transpose (no element moves between
/// NCHW and NHWC), a channels-last graph input, and the clear errors of the new operators.
@Suite("Transpose, Pad, Resize: layouts and errors")
struct RearrangeTests {
    func attribute(_ name: String, ints: [Int]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.ints = ints.map { Int64($0) }
        return attribute
    }

    func attribute(_ name: String, string: String) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.s = Data(string.utf8)
        return attribute
    }

    /// A [1, 2, 4, 4] input with values 0, 1, 2, ... in NCHW order.
    let counting = (0..<32).map { Float($0) }

    @Test("Transpose to NHWC of a 4-D value returns its elements in NHWC order")
    func transposeToChannelsLast() throws {
        let model = try ONNXModel(
            serializedData: singleNodeModel(op: "Transpose", attributes: [attribute("perm", ints: [0, 2, 3, 1])]).serializedData())
        let session = try InferenceSession(model: model, batchSize: 1, threads: 1)
        let output = try session.run(nchw: counting)
        // y[0, h, w, c] = x[0, c, h, w]
        var expected: [Float] = []
        for h in 0..<4 {
            for w in 0..<4 {
                for c in 0..<2 { expected.append(Float(c * 16 + h * 4 + w)) }
            }
        }
        #expect(output == expected)
    }

    @Test("a channels-last input read by a transpose to NCHW takes the pixels as given, neither transpose running")
    func channelsLastInputIsFolded() throws {
        var model = Onnx_ModelProto()
        model.irVersion = 8
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 13
        model.opsetImport = [opset]
        var transpose = Onnx_NodeProto()
        transpose.opType = "Transpose"
        transpose.input = ["x"]
        transpose.output = ["t"]
        transpose.attribute = [attribute("perm", ints: [0, 3, 1, 2])]
        var relu = Onnx_NodeProto()
        relu.opType = "Relu"
        relu.input = ["t"]
        relu.output = ["y"]
        model.graph.node = [transpose, relu]
        model.graph.declareInputAndOutput(shape: [1, 4, 4, 2])
        let session = try InferenceSession(model: ONNXModel(serializedData: model.serializedData()), batchSize: 1, threads: 1)
        #expect(session.inputShape == [1, 2, 4, 4], "the input is the NCHW image the transpose makes")
        // Pixels in the file's own order (HWC), some negative for the Relu.
        let pixels: [Float] = (0..<32).map { index in index % 5 == 0 ? -Float(index) : Float(index) }
        let output = pixels.withUnsafeBufferPointer { try? session.run(nhwc: $0) }
        var expected: [Float] = []
        for c in 0..<2 {
            for h in 0..<4 {
                for w in 0..<4 { expected.append(max(0, pixels[(h * 4 + w) * 2 + c])) }
            }
        }
        #expect(output == expected)
    }

    @Test("Pad by reflection and edge on a 4-D (NHWC-stored) value matches the definition")
    func padModesOnChannelsLastValues() throws {
        for mode in ["reflect", "edge", "constant"] {
            let pads = floatTensor("pads", shape: [8], values: [0, 0, 1, 2, 0, 0, 2, 1])
            var tensor = pads
            tensor.dataType = 7
            tensor.floatData = []
            tensor.int64Data = [0, 0, 1, 2, 0, 0, 2, 1]
            let model = try ONNXModel(
                serializedData: singleNodeModel(
                    op: "Pad", inputs: ["pads"], attributes: [attribute("mode", string: mode)], initializers: [tensor]
                ).serializedData())
            let session = try InferenceSession(model: model, batchSize: 1, threads: 1)
            let output = try session.run(nchw: counting)
            func source(_ index: Int, size: Int, before: Int) -> Int? {
                let at = index - before
                if (0..<size).contains(at) { return at }
                switch mode {
                case "edge": return min(max(at, 0), size - 1)
                case "reflect": return at < 0 ? -at : 2 * (size - 1) - at
                default: return nil
                }
            }
            var expected: [Float] = []
            for c in 0..<2 {
                for h in 0..<7 {
                    for w in 0..<7 {
                        if let y = source(h, size: 4, before: 1), let x = source(w, size: 4, before: 2) {
                            expected.append(Float(c * 16 + y * 4 + x))
                        } else {
                            expected.append(0)
                        }
                    }
                }
            }
            #expect(output == expected, "mode \(mode)")
        }
    }

    @Test("cubic Resize and an unknown Pad mode are refused, naming what is missing")
    func unsupportedModesAreNamed() throws {
        let cubic = try NodeTestCase(name: "test_resize_upsample_scales_cubic").load()
        let error = #expect(throws: InferenceError.self) { try InferenceSession(model: cubic.model, batchSize: 1, threads: 1) }
        #expect(error?.description.contains("cubic") == true)

        var tensor = Onnx_TensorProto()
        tensor.name = "pads"
        tensor.dims = [8]
        tensor.dataType = 7
        tensor.int64Data = [0, 0, 1, 1, 0, 0, 1, 1]
        let model = try ONNXModel(
            serializedData: singleNodeModel(op: "Pad", inputs: ["pads"], attributes: [attribute("mode", string: "mirror")], initializers: [tensor])
                .serializedData())
        let padError = #expect(throws: InferenceError.self) { try InferenceSession(model: model, batchSize: 1, threads: 1) }
        #expect(padError?.description.contains("mirror") == true)
    }

    @Test("Slice's INT64_MAX end (to the end of the axis) is exact, not a trap")
    func sliceToTheEnd() throws {
        func ints(_ name: String, _ values: [Int64]) -> Onnx_TensorProto {
            var tensor = Onnx_TensorProto()
            tensor.name = name
            tensor.dims = [Int64(values.count)]
            tensor.dataType = 7
            tensor.int64Data = values
            return tensor
        }
        let model = try ONNXModel(
            serializedData: singleNodeModel(
                op: "Slice", inputs: ["starts", "ends", "axes"],
                initializers: [ints("starts", [1]), ints("ends", [Int64.max]), ints("axes", [3])]
            ).serializedData())
        let session = try InferenceSession(model: model, batchSize: 1, threads: 1)
        let output = try session.run(nchw: counting)
        #expect(output == counting.enumerated().filter { $0.offset % 4 != 0 }.map(\.element))
    }
}
