import Foundation
import ONNXProto

/// A constant tensor (initializer or Constant node output) decoded to Float, in ONNX (row-major, logical) order.
struct ConstantTensor: Sendable {
    var shape: [Int]
    var values: [Float]

    var count: Int { values.count }

    init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }

    /// Decodes float, double and integer tensors; integers (shapes, axes) are converted to Float exactly enough
    /// for the small values they hold, and also kept as Int64 via `int64Values`.
    init(_ proto: Onnx_TensorProto) throws {
        let name = proto.name
        if proto.hasDataLocation && proto.dataLocation == .external {
            throw InferenceError.invalidModel(
                detail: "tensor '\(name)' keeps its data in an external file, which is not supported; save the model with all tensors embedded")
        }
        shape = proto.dims.map { Int($0) }
        let count = shape.reduce(1, *)
        let raw = proto.rawData
        switch proto.dataType {
        case 1:  // FLOAT
            if !proto.floatData.isEmpty {
                values = proto.floatData
            } else {
                values = raw.withUnsafeBytes { bytes in
                    (0..<(bytes.count / 4)).map { bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
                }
            }
        case 11:  // DOUBLE
            if !proto.doubleData.isEmpty {
                values = proto.doubleData.map { Float($0) }
            } else {
                values = raw.withUnsafeBytes { bytes in
                    (0..<(bytes.count / 8)).map { Float(bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Double.self)) }
                }
            }
        case 7:  // INT64
            if !proto.int64Data.isEmpty {
                values = proto.int64Data.map { Float($0) }
            } else {
                values = raw.withUnsafeBytes { bytes in
                    (0..<(bytes.count / 8)).map { Float(bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
                }
            }
        case 6:  // INT32
            if !proto.int32Data.isEmpty {
                values = proto.int32Data.map { Float($0) }
            } else {
                values = raw.withUnsafeBytes { bytes in
                    (0..<(bytes.count / 4)).map { Float(bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
                }
            }
        default:
            throw InferenceError.invalidModel(
                detail: "tensor '\(name)' has element type \(proto.dataType); only float, double, int32 and int64 tensors are supported")
        }
        if values.count != count {
            throw InferenceError.invalidModel(detail: "tensor '\(name)' has \(values.count) elements but its shape \(shape) needs \(count)")
        }
    }

    /// The values as integers (for shape and axis tensors).
    var intValues: [Int] { values.map { Int($0) } }
}
