import CXNNPack
import Foundation
import ONNXProto

/// Shape operators: Flatten, Reshape, Squeeze/Unsqueeze, Concat, Softmax.
extension GraphLowering {
    func lowerFlatten(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        let rank = info.shape.count
        var axis = node.int("axis", default: 1)
        if axis < 0 { axis += rank }
        guard axis >= 0, axis <= rank else { throw unsupported(node, "axis \(axis) out of range for rank \(rank)") }
        let outer = info.shape[..<axis].reduce(1, *)
        let inner = info.shape[axis...].reduce(1, *)
        try reshape(inputName, to: [outer, inner], output: node.output[0], origin: node.displayName)
    }

    func lowerReshape(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        try reshape(inputName, to: reshapeTarget(node, input: info.shape), output: node.output[0], origin: node.displayName)
    }

    /// The output shape of a Reshape node on an input of `shape`: 0 copies an input axis (unless allowzero),
    /// -1 is inferred.
    func reshapeTarget(_ node: Onnx_NodeProto, input shape: [Int]) throws -> [Int] {
        var requested: [Int]
        if node.input.count > 1, !node.input[1].isEmpty {
            requested = try requireConstant(node.input[1], node: node, role: "shape").intValues
        } else if let given = node.ints("shape") {
            requested = given
        } else {
            throw unsupported(node, "no target shape")
        }
        let count = shape.reduce(1, *)
        let allowZero = node.int("allowzero", default: 0) != 0
        if let declaredBatch, declaredBatch != batchSize, requested.first == declaredBatch, shape.first == batchSize {
            // A target like [1, 1280] from a batch-1 export: keep the batch axis following the session's batch.
            requested[0] = batchSize
        }
        for (axis, size) in requested.enumerated() where size == 0 && !allowZero {
            guard axis < shape.count else { throw unsupported(node, "0 at axis \(axis) beyond the input rank") }
            requested[axis] = shape[axis]
        }
        let known = requested.filter { $0 != -1 }.reduce(1, *)
        if let inferred = requested.firstIndex(of: -1) {
            guard known > 0, count % known == 0 else { throw unsupported(node, "cannot infer -1 in \(requested) for \(shape)") }
            requested[inferred] = count / known
        }
        guard requested.reduce(1, *) == count, requested.allSatisfy({ $0 > 0 }) else {
            throw unsupported(node, "shape \(requested) does not hold the \(count) elements of \(shape)")
        }
        return requested
    }

    func lowerSqueeze(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        try reshape(inputName, to: squeezeTarget(node, input: info.shape), output: node.output[0], origin: node.displayName)
    }

    /// The output shape of a Squeeze or Unsqueeze node on an input of `shape`.
    func squeezeTarget(_ node: Onnx_NodeProto, input: [Int]) throws -> [Int] {
        var axes = node.ints("axes")
        if axes == nil, node.input.count > 1, !node.input[1].isEmpty {
            axes = try requireConstant(node.input[1], node: node, role: "axes").intValues
        }
        var shape = input
        if node.opType == "Squeeze" {
            let rank = shape.count
            let drop = Set((axes ?? shape.indices.filter { shape[$0] == 1 }).map { $0 < 0 ? $0 + rank : $0 })
            shape = shape.indices.filter { !drop.contains($0) }.map { shape[$0] }
        } else {
            guard let axes else { throw unsupported(node, "no axes") }
            let rank = shape.count + axes.count
            for axis in axes.map({ $0 < 0 ? $0 + rank : $0 }).sorted() { shape.insert(1, at: min(axis, shape.count)) }
        }
        return shape
    }

    func lowerConcat(_ node: Onnx_NodeProto) throws {
        guard !node.input.isEmpty, let outputName = node.output.first else { throw unsupported(node, "no inputs") }
        let infos = try node.input.map { try value($0, node: node) }
        let isDynamic = node.input.map { values[resolve($0)] != nil }
        let rank = infos[0].shape.count
        var axis = node.int("axis", default: 0)
        if axis < 0 { axis += rank }
        guard axis >= 0, axis < rank else { throw unsupported(node, "axis out of range") }
        for info in infos {
            guard info.shape.count == rank, info.shape.indices.allSatisfy({ $0 == axis || info.shape[$0] == infos[0].shape[$0] }) else {
                throw unsupported(node, "input shapes \(infos.map(\.shape)) do not concatenate on axis \(axis)")
            }
        }
        let dynamicInfos = zip(infos, isDynamic).filter { $0.1 }.map { $0.0 }
        let layout: Layout = rank == 4 && !dynamicInfos.isEmpty && dynamicInfos.allSatisfy({ $0.layout == .nhwc }) ? .nhwc : .plain
        var operands: [String] = []
        for (position, name) in node.input.enumerated() {
            if isDynamic[position] {
                operands.append(try ensure(resolve(name), layout, origin: node.displayName))
            } else if let materialized = materialize(name, layout: layout) {
                operands.append(materialized)
            }
        }
        var shape = infos[0].shape
        shape[axis] = infos.map { $0.shape[axis] }.reduce(0, +)
        define(outputName, shape: shape, layout: layout)
        // Concatenate in memory order: the physical axis is where the logical one lands in the layout.
        let physicalAxis = layout == .nhwc ? [0, 3, 1, 2][axis] : axis
        let physicalShapes = infos.map { physicalShape($0.shape, layout) }
        let outer = physicalShapes[0][..<physicalAxis].reduce(1, *)
        let chunks = physicalShapes.map { $0[physicalAxis...].reduce(1, *) }
        let total = chunks.reduce(0, +)
        emitHost(operands, [outputName], origin: node.displayName) { inputs, outputs in
            for row in 0..<outer {
                var offset = row * total
                for (index, chunk) in chunks.enumerated() {
                    (outputs[0] + offset).update(from: inputs[index] + row * chunk, count: chunk)
                    offset += chunk
                }
            }
        }
    }

    func lowerSoftmax(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        let rank = info.shape.count
        let legacy = model.opsetVersion < 13
        var axis = node.int("axis", default: legacy ? 1 : -1)
        if axis < 0 { axis += rank }
        guard axis >= 0, axis < rank else { throw unsupported(node, "axis out of range") }
        let source = try plainMemory(inputName, origin: node.displayName)
        let output = node.output[0]
        let outer = info.shape[..<axis].reduce(1, *)
        if axis == rank - 1 || legacy {
            // XNNPACK normalizes over the last dimension; opset < 13 flattens to 2-D at `axis` first.
            let inner = info.shape[axis...].reduce(1, *)
            var x = source
            if axis != rank - 1 {
                x = freshName(output)
                try reshape(source, to: [outer, inner], output: x, origin: node.displayName)
            }
            let result = axis != rank - 1 ? freshName(output) : output
            define(result, shape: axis != rank - 1 ? [outer, inner] : info.shape, layout: .plain)
            emitXNN([x], [result], origin: node.displayName) { xnn_define_softmax($0, $1[0], $2[0], 0) }
            if result != output {
                try reshape(result, to: info.shape, output: output, origin: node.displayName)
            }
            return
        }
        // Softmax over an inner axis: a host kernel (XNNPACK of this vintage has no transpose).
        let length = info.shape[axis]
        let inner = info.shape[(axis + 1)...].reduce(1, *)
        define(output, shape: info.shape, layout: .plain)
        emitHost([source], [output], origin: node.displayName) { inputs, outputs in
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * length * inner + i
                    var largest = -Float.infinity
                    for j in 0..<length { largest = max(largest, inputs[0][base + j * inner]) }
                    var sum: Float = 0
                    for j in 0..<length {
                        let e = expf(inputs[0][base + j * inner] - largest)
                        outputs[0][base + j * inner] = e
                        sum += e
                    }
                    for j in 0..<length { outputs[0][base + j * inner] /= sum }
                }
            }
        }
    }
}
