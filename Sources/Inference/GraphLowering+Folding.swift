import Foundation
import ONNXProto

/// Constant folding: nodes whose result is known while lowering (every input a constant, or a Shape of a
/// tensor whose shape is fixed) are computed here instead of run. Exporters write shape arithmetic this
/// way (Shape -> Slice/Gather -> Concat -> Reshape, PaddleOCR's attention blocks), and a constant bias
/// reshaped before its Add; once the input size is fixed, all of it is constant.
extension GraphLowering {
    static let foldableOperators: Set<String> = [
        "Shape", "Gather", "Slice", "Squeeze", "Unsqueeze", "Concat", "Cast", "Reshape", "Flatten", "Identity",
        "Add", "Sub", "Mul", "Div", "Transpose",
    ]

    /// Folds `node` when it can be computed now; returns whether it was.
    func foldIfConstant(_ node: Onnx_NodeProto) throws -> Bool {
        guard Self.foldableOperators.contains(node.opType), node.output.count == 1, let first = node.input.first, !first.isEmpty else {
            return false
        }
        let output = node.output[0]
        if node.opType == "Shape" {
            // Only the shape is read, so the input may be computed at run time.
            let shape = try value(first, node: node).shape
            let rank = shape.count
            func clamped(_ axis: Int) -> Int { min(max(axis < 0 ? axis + rank : axis, 0), rank) }
            let start = clamped(node.int("start", default: 0))
            let end = clamped(node.int("end", default: rank))
            let kept = start < end ? Array(shape[start..<end]) : []
            constants[output] = ConstantTensor(shape: [kept.count], integers: kept)
            return true
        }
        let inputs = node.input.filter { !$0.isEmpty }
        guard inputs.allSatisfy({ values[resolve($0)] == nil && constant($0) != nil }) else { return false }
        let tensors = inputs.compactMap { constant($0) }
        let x = tensors[0]
        switch node.opType {
        case "Identity": constants[output] = x
        case "Cast": constants[output] = try cast(x, node: node)
        case "Reshape": constants[output] = x.reshaped(try reshapeTarget(node, input: x.shape))
        case "Squeeze", "Unsqueeze": constants[output] = x.reshaped(try squeezeTarget(node, input: x.shape))
        case "Flatten":
            var axis = node.int("axis", default: 1)
            if axis < 0 { axis += x.shape.count }
            guard (0...x.shape.count).contains(axis) else { throw unsupported(node, "axis \(axis) out of range") }
            constants[output] = x.reshaped([x.shape[..<axis].reduce(1, *), x.shape[axis...].reduce(1, *)])
        case "Slice":
            let maps = try sliceMaps(node, shape: x.shape)
            constants[output] = x.picking(flatIndices(maps, shape: x.shape), shape: maps.map(\.count))
        case "Transpose":
            let rank = x.shape.count
            let perm = node.ints("perm") ?? Array((0..<rank).reversed())
            guard perm.sorted() == Array(0..<rank) else { throw unsupported(node, "perm \(perm) is not a permutation of rank \(rank)") }
            let outShape = perm.map { x.shape[$0] }
            let strides = Self.strides(x.shape)
            var indices: [Int] = []
            indices.reserveCapacity(x.count)
            Self.forEachPosition(outShape) { position in
                var offset = 0
                for (axis, index) in zip(perm, position) { offset += strides[axis] * index }
                indices.append(offset)
            }
            constants[output] = x.picking(indices, shape: outShape)
        case "Gather": constants[output] = try gather(x, indices: tensors.count > 1 ? tensors[1] : nil, node: node)
        case "Concat": constants[output] = try concatenate(tensors, node: node)
        default: constants[output] = try elementwise(node, tensors)
        }
        return true
    }

    private func cast(_ x: ConstantTensor, node: Onnx_NodeProto) throws -> ConstantTensor {
        let to = node.int("to", default: 1)
        switch to {
        case 1, 10, 11, 16: return ConstantTensor(shape: x.shape, values: x.values)  // float, float16, double, bfloat16
        case 2, 3, 4, 5, 6, 7, 12, 13: return ConstantTensor(shape: x.shape, integers: x.intValues)  // the integer types
        case 9: return ConstantTensor(shape: x.shape, integers: x.values.map { $0 != 0 ? 1 : 0 })  // bool
        default: throw unsupported(node, "cast to element type \(to)")
        }
    }

    private func gather(_ x: ConstantTensor, indices: ConstantTensor?, node: Onnx_NodeProto) throws -> ConstantTensor {
        guard let indices else { throw unsupported(node, "needs indices") }
        let rank = x.shape.count
        var axis = node.int("axis", default: 0)
        if axis < 0 { axis += rank }
        guard (0..<rank).contains(axis) else { throw unsupported(node, "axis \(axis) out of range for rank \(rank)") }
        let size = x.shape[axis]
        let picked = try indices.intValues.map { index in
            let wrapped = index < 0 ? index + size : index
            guard (0..<size).contains(wrapped) else { throw unsupported(node, "index \(index) out of range for axis size \(size)") }
            return wrapped
        }
        let outer = x.shape[..<axis].reduce(1, *)
        let inner = x.shape[(axis + 1)...].reduce(1, *)
        var flat: [Int] = []
        flat.reserveCapacity(outer * picked.count * inner)
        for o in 0..<outer {
            for index in picked { for i in 0..<inner { flat.append((o * size + index) * inner + i) } }
        }
        return x.picking(flat, shape: Array(x.shape[..<axis]) + indices.shape + Array(x.shape[(axis + 1)...]))
    }

    private func concatenate(_ parts: [ConstantTensor], node: Onnx_NodeProto) throws -> ConstantTensor {
        let rank = parts[0].shape.count
        var axis = node.int("axis", default: 0)
        if axis < 0 { axis += rank }
        guard (0..<rank).contains(axis),
            parts.allSatisfy({ part in
                part.shape.count == rank && part.shape.indices.allSatisfy { $0 == axis || part.shape[$0] == parts[0].shape[$0] }
            })
        else { throw unsupported(node, "shapes \(parts.map(\.shape)) do not concatenate on axis \(axis)") }
        let outer = parts[0].shape[..<axis].reduce(1, *)
        var shape = parts[0].shape
        shape[axis] = parts.map { $0.shape[axis] }.reduce(0, +)
        let chunks = parts.map { $0.shape[axis...].reduce(1, *) }
        if parts.allSatisfy(\.isInteger) {
            let all = parts.map(\.intValues)
            var out: [Int] = []
            for row in 0..<outer { for (part, chunk) in chunks.enumerated() { out += all[part][(row * chunk)..<((row + 1) * chunk)] } }
            return ConstantTensor(shape: shape, integers: out)
        }
        var out: [Float] = []
        for row in 0..<outer { for (part, chunk) in chunks.enumerated() { out += parts[part].values[(row * chunk)..<((row + 1) * chunk)] } }
        return ConstantTensor(shape: shape, values: out)
    }

    /// Add, Sub, Mul, Div with NumPy broadcasting; integers stay exact (Div truncates, as ONNX's integer Div).
    private func elementwise(_ node: Onnx_NodeProto, _ operands: [ConstantTensor]) throws -> ConstantTensor {
        guard operands.count == 2 else { throw unsupported(node, "needs two inputs") }
        let (a, b) = (operands[0], operands[1])
        let (shape, padded) = try broadcast(a.shape, b.shape, node: node)
        let (aStrides, bStrides) = (Self.broadcastStrides(padded[0]), Self.broadcastStrides(padded[1]))
        var pairs: [(Int, Int)] = []
        pairs.reserveCapacity(shape.reduce(1, *))
        Self.forEachPosition(shape) { position in
            var (i, j) = (0, 0)
            for axis in position.indices {
                i += position[axis] * aStrides[axis]
                j += position[axis] * bStrides[axis]
            }
            pairs.append((i, j))
        }
        let op = node.opType
        if a.isInteger && b.isInteger {
            let (x, y) = (a.intValues, b.intValues)
            let out = try pairs.map { i, j -> Int in
                switch op {
                case "Add": return x[i] &+ y[j]
                case "Sub": return x[i] &- y[j]
                case "Mul": return x[i] &* y[j]
                default:
                    guard y[j] != 0 else { throw unsupported(node, "integer division by zero") }
                    return x[i] / y[j]
                }
            }
            return ConstantTensor(shape: shape, integers: out)
        }
        let (x, y) = (a.values, b.values)
        let out = pairs.map { i, j -> Float in
            switch op {
            case "Add": return x[i] + y[j]
            case "Sub": return x[i] - y[j]
            case "Mul": return x[i] * y[j]
            default: return x[i] / y[j]
            }
        }
        return ConstantTensor(shape: shape, values: out)
    }

    /// Flat positions, in output order, of the elements picked by per-axis index maps from a tensor of `shape`.
    func flatIndices(_ maps: [[Int]], shape: [Int]) -> [Int] {
        let strides = Self.strides(shape)
        var indices: [Int] = []
        Self.forEachPosition(maps.map(\.count)) { position in
            var offset = 0
            for axis in position.indices { offset += maps[axis][position[axis]] * strides[axis] }
            indices.append(offset)
        }
        return indices
    }

    /// NumPy broadcasting of two shapes: the result, and both shapes padded with leading 1s to its rank.
    func broadcast(_ a: [Int], _ b: [Int], node: Onnx_NodeProto) throws -> (shape: [Int], padded: [[Int]]) {
        let rank = max(a.count, b.count)
        let padded = [a, b].map { [Int](repeating: 1, count: rank - $0.count) + $0 }
        var shape: [Int] = []
        for axis in 0..<rank {
            let (x, y) = (padded[0][axis], padded[1][axis])
            guard x == y || x == 1 || y == 1 else { throw unsupported(node, "shapes \(a) and \(b) do not broadcast") }
            shape.append(max(x, y))
        }
        return (shape, padded)
    }

    /// Row-major strides of `shape`.
    static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        for axis in shape.indices.dropLast().reversed() { strides[axis] = strides[axis + 1] * shape[axis + 1] }
        return strides
    }

    /// Strides that repeat an axis of size 1 (broadcasting).
    static func broadcastStrides(_ shape: [Int]) -> [Int] {
        zip(strides(shape), shape).map { $1 == 1 ? 0 : $0 }
    }

    /// Calls `body` with every index tuple of `shape` in row-major order.
    static func forEachPosition(_ shape: [Int], _ body: ([Int]) -> Void) {
        let count = shape.reduce(1, *)
        guard count > 0 else { return }
        var position = [Int](repeating: 0, count: shape.count)
        for _ in 0..<count {
            body(position)
            var axis = shape.count - 1
            while axis >= 0 {
                position[axis] += 1
                if position[axis] < shape[axis] { break }
                position[axis] = 0
                axis -= 1
            }
        }
    }
}
