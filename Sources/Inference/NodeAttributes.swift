import ONNXProto

/// Typed access to ONNX node attributes, with the defaults the operator specs give.
extension Onnx_NodeProto {
    /// A name for error messages: the node's own name, or its op and first output when unnamed.
    var displayName: String {
        name.isEmpty ? "\(opType) -> \(output.first ?? "?")" : name
    }

    func attribute(_ name: String) -> Onnx_AttributeProto? {
        attribute.first { $0.name == name }
    }

    func int(_ name: String, default value: Int) -> Int {
        guard let found = attribute(name) else { return value }
        return Int(found.i)
    }

    func ints(_ name: String) -> [Int]? {
        guard let found = attribute(name) else { return nil }
        return found.ints.map { Int($0) }
    }

    func float(_ name: String, default value: Float) -> Float {
        guard let found = attribute(name) else { return value }
        return found.f
    }

    func string(_ name: String) -> String? {
        guard let found = attribute(name) else { return nil }
        return String(decoding: found.s, as: UTF8.self)
    }
}
