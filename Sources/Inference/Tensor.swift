import Foundation
import ONNXProto

/// A constant tensor (initializer or Constant node output) decoded to Float, in ONNX (row-major, logical) order.
struct ConstantTensor: Sendable {
    var shape: [Int]
    var values: [Float]
    /// The exact values of an integer tensor (Float cannot hold INT64_MAX, Slice's "to the end").
    private var integers: [Int]?
    /// For an int8 or uint8 tensor (a quantized tensor's zero point), the range its type holds.
    var quantizedRange: ClosedRange<Int>?

    var count: Int { values.count }

    init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }

    /// An integer tensor (a shape, indices) kept exact.
    init(shape: [Int], integers: [Int]) {
        self.shape = shape
        self.integers = integers
        self.values = integers.map { Float($0) }
    }

    /// Whether the tensor holds integers (ONNX int32/int64), which arithmetic keeps exact.
    var isInteger: Bool { integers != nil }

    /// The same elements under another shape (Reshape, Squeeze, Unsqueeze); the count must match.
    func reshaped(_ newShape: [Int]) -> ConstantTensor {
        var copy = self
        copy.shape = newShape
        return copy
    }

    /// The elements at `indices` (flat positions), keeping the element type.
    func picking(_ indices: [Int], shape newShape: [Int]) -> ConstantTensor {
        if let integers { return ConstantTensor(shape: newShape, integers: indices.map { integers[$0] }) }
        return ConstantTensor(shape: newShape, values: indices.map { values[$0] })
    }

    /// Decodes float, double and integer (int8, uint8, int32, int64) tensors; integers (shapes, axes) are converted to Float exactly enough
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
            let exact: [Int]
            if !proto.int64Data.isEmpty {
                exact = proto.int64Data.map { Int($0) }
            } else {
                exact = raw.withUnsafeBytes { bytes in
                    (0..<(bytes.count / 8)).map { Int(bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
                }
            }
            integers = exact
            values = exact.map { Float($0) }
        case 6:  // INT32
            let exact: [Int]
            if !proto.int32Data.isEmpty {
                exact = proto.int32Data.map { Int($0) }
            } else {
                exact = raw.withUnsafeBytes { bytes in
                    (0..<(bytes.count / 4)).map { Int(bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
                }
            }
            integers = exact
            values = exact.map { Float($0) }
        case 2, 3:  // UINT8, INT8: quantized weights and zero points
            let signed = proto.dataType == 3
            quantizedRange = signed ? -128...127 : 0...255
            let exact: [Int]
            if !proto.int32Data.isEmpty {
                exact = proto.int32Data.map { Int($0) }
            } else {
                exact = raw.map { signed ? Int(Int8(bitPattern: $0)) : Int($0) }
            }
            integers = exact
            values = exact.map { Float($0) }
        default:
            throw InferenceError.invalidModel(
                detail: "tensor '\(name)' has element type \(proto.dataType); only float, double, int8, uint8, int32 and int64 tensors are supported")
        }
        if values.count != count {
            throw InferenceError.invalidModel(detail: "tensor '\(name)' has \(values.count) elements but its shape \(shape) needs \(count)")
        }
    }

    /// The values as integers (for shape, axis and index tensors): exact for integer tensors; float
    /// ones are truncated, out-of-range values saturating rather than trapping.
    var intValues: [Int] {
        integers ?? values.map { $0.isNaN ? 0 : Int(max(-9.0e15, min(9.0e15, $0))) }
    }
}
