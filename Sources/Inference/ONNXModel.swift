import Foundation
import ONNXProto
import SwiftProtobuf

/// A parsed ONNX model: the protobuf graph plus convenient access to its metadata and I/O.
public struct ONNXModel: Sendable {
    /// The decoded protobuf, for callers that need more than this type exposes.
    public private(set) var proto: Onnx_ModelProto
    /// Where the model came from (for error messages).
    public let source: String

    /// Reads and validates an ONNX file.
    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw InferenceError.unreadableFile(path: url.path, reason: "\(error.localizedDescription)")
        }
        try self.init(serializedData: data, source: url.path)
    }

    /// Decodes an ONNX model from its serialized protobuf bytes.
    public init(serializedData data: Data, source: String = "<memory>") throws {
        self.source = source
        do {
            proto = try Onnx_ModelProto(serializedBytes: data)
        } catch {
            throw InferenceError.notAnONNXModel(path: source, reason: "protobuf decoding failed: \(error)")
        }
        // Protobuf happily decodes many random byte strings as unknown fields, so check the essentials.
        guard proto.irVersion > 0, proto.hasGraph, !proto.graph.node.isEmpty, !proto.graph.output.isEmpty else {
            throw InferenceError.notAnONNXModel(path: source, reason: "no ir_version, graph, nodes or outputs")
        }
    }

    /// The model's metadata_props as a dictionary (e.g. class labels, normalisation, version).
    public var metadata: [String: String] {
        Dictionary(proto.metadataProps.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
    }

    /// The version of the default ("ai.onnx") operator set the model was exported with.
    public var opsetVersion: Int {
        let entry = proto.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }
        return Int(entry?.version ?? 1)
    }

    /// Graph inputs that are not initializers, i.e. the tensors a caller must feed.
    public var inputNames: [String] {
        let initialized = Set(proto.graph.initializer.map(\.name))
        return proto.graph.input.map(\.name).filter { !initialized.contains($0) }
    }

    /// Names of the graph outputs.
    public var outputNames: [String] { proto.graph.output.map(\.name) }

    /// What a classifier's last layer reads (its pooled features): the data input of the Gemm or
    /// MatMul that produces the first graph output, looking through a final Softmax; nil when the
    /// graph ends otherwise.
    public var penultimateValue: String? {
        var name = outputNames.first
        while let wanted = name, let node = proto.graph.node.first(where: { $0.output.contains(wanted) }) {
            switch node.opType {
            case "Softmax", "Identity": name = node.input.first
            case "Gemm", "MatMul": return node.input.first
            default: return nil
            }
        }
        return nil
    }

    /// Returns a copy in which the given graph inputs become initializers (constants), e.g. to bind weights that
    /// an exporter left as inputs. Values are in ONNX (row-major) order.
    public func bindingInputs(_ tensors: [String: Onnx_TensorProto]) -> ONNXModel {
        var copy = self
        for (name, tensor) in tensors.sorted(by: { $0.key < $1.key }) {
            var tensor = tensor
            tensor.name = name
            copy.proto.graph.initializer.removeAll { $0.name == name }
            copy.proto.graph.initializer.append(tensor)
        }
        return copy
    }
}
