/// Everything that can go wrong loading an ONNX model or running it on XNNPACK.
public enum InferenceError: Error, CustomStringConvertible, Sendable {
    /// The file could not be read at all.
    case unreadableFile(path: String, reason: String)
    /// The bytes are not a (supported) ONNX model.
    case notAnONNXModel(path: String, reason: String)
    /// A node uses an operator this engine does not implement.
    case unsupportedOperator(op: String, node: String)
    /// A node uses an attribute value or input combination this engine does not implement.
    case unsupportedAttribute(op: String, node: String, detail: String)
    /// A node refers to a tensor that no node, input or initializer provides.
    case missingTensor(name: String, node: String)
    /// The graph or a tensor is malformed (bad shapes, wrong element counts...).
    case invalidModel(detail: String)
    /// An XNNPACK or pthreadpool call failed.
    case backend(call: String, status: Int)
    /// The caller passed an input buffer of the wrong size.
    case inputSizeMismatch(expected: Int, got: Int)

    /// What went wrong, with the file/node involved and what to do about it.
    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "cannot read model file \(path): \(reason); check the path and permissions"
        case .notAnONNXModel(let path, let reason):
            return "\(path) is not a usable ONNX model (\(reason)); re-export or re-download the model"
        case .unsupportedOperator(let op, let node):
            return
                "unsupported ONNX operator '\(op)' in node '\(node)'; convert the model to use supported operators (\(GraphLowering.supportedOperators.sorted().joined(separator: ", ")))"
        case .unsupportedAttribute(let op, let node, let detail):
            return "unsupported use of \(op) in node '\(node)': \(detail)"
        case .missingTensor(let name, let node):
            return
                "node '\(node)' needs tensor '\(name)', which is neither a graph input, an initializer nor a node output; the model is incomplete (missing initializer?)"
        case .invalidModel(let detail):
            return "invalid ONNX model: \(detail)"
        case .backend(let call, let status):
            return "\(call) failed with XNNPACK status \(status); the CPU or the graph may not be supported by this XNNPACK build"
        case .inputSizeMismatch(let expected, let got):
            return "input buffer holds \(got) floats but the session expects \(expected) (batch x C x H x W)"
        }
    }
}
