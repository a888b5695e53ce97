import CKernels
import CXNNPack
import Foundation
import ONNXProto

/// Values: names, aliases, constants, layouts and the emitted ops.
extension GraphLowering {
    func declaredInputShape(_ name: String) throws -> [Int] {
        guard let info = model.proto.graph.input.first(where: { $0.name == name }) else {
            throw InferenceError.invalidModel(detail: "input '\(name)' has no declaration")
        }
        let dims = info.type.tensorType.shape.dim
        guard !dims.isEmpty else {
            throw InferenceError.invalidModel(detail: "input '\(name)' has no declared shape")
        }
        if let inputSize {
            guard inputSize.count == dims.count - 1, inputSize.allSatisfy({ $0 > 0 }) else {
                throw InferenceError.invalidModel(
                    detail: "input size \(inputSize) does not fit input '\(name)', which has \(dims.count - 1) axes after the batch")
            }
        }
        var shape: [Int] = []
        for (axis, dim) in dims.enumerated() {
            if axis == 0 {
                declaredBatch = dim.dimValue > 0 ? Int(dim.dimValue) : nil
                shape.append(batchSize)  // the first axis is the batch, whatever the file declares
            } else if let given = inputSize?[axis - 1] {
                guard dim.dimValue <= 0 || Int(dim.dimValue) == given else {
                    throw InferenceError.invalidModel(
                        detail: "input '\(name)' axis \(axis) is fixed at \(dim.dimValue) by the model, not \(given)")
                }
                shape.append(given)
            } else if dim.dimValue > 0 {
                shape.append(Int(dim.dimValue))
            } else {
                throw InferenceError.invalidModel(
                    detail:
                        "input '\(name)' axis \(axis) has no fixed size ('\(dim.dimParam)'); give the input's size when making the session (inputSize)"
                )
            }
        }
        return shape
    }

    func countConsumers() {
        consumerCount = [:]
        consumerIndex = [:]
        for (index, node) in nodes.enumerated() where !skipped.contains(index) {
            for input in node.input where !input.isEmpty {
                consumerCount[input, default: 0] += 1
                consumerIndex[input] = index
            }
        }
    }

    func resolve(_ name: String) -> String {
        var current = name
        while let next = aliases[current] { current = next }
        return current
    }

    func freshName(_ base: String) -> String {
        counter += 1
        return "\(base)#\(counter)"
    }

    func value(_ name: String, node: Onnx_NodeProto) throws -> LoweredValue {
        let resolved = resolve(name)
        if let found = values[resolved] { return found }
        if let source = dequantizedSource[resolved], let info = values[source.name] {
            // Left as bytes for INT8 kernels that in the end did not take this reader: dequantize after all.
            define(resolved, shape: info.shape, layout: info.layout)
            let kernel = QuantizedElementwise.dequantize(count: info.count, from: source.quantization)
            ops.append(LoweredOp(kind: .kernel(kernel), inputs: [source.name], outputs: [resolved], origin: node.displayName))
            return values[resolved] ?? info
        }
        if let constant = constants[resolved] {
            return LoweredValue(shape: constant.shape, layout: .plain)
        }
        throw InferenceError.missingTensor(name: name, node: node.displayName)
    }

    func constant(_ name: String) -> ConstantTensor? {
        constants[resolve(name)]
    }

    func requireConstant(_ name: String, node: Onnx_NodeProto, role: String) throws -> ConstantTensor {
        if let found = constant(name) { return found }
        if values[resolve(name)] != nil {
            throw InferenceError.unsupportedAttribute(
                op: node.opType, node: node.displayName, detail: "\(role) '\(name)' must be a constant (initializer), not computed at run time")
        }
        throw InferenceError.missingTensor(name: name, node: node.displayName)
    }

    /// Registers constant data (already in physical order) as a value usable by ops.
    func addConstant(_ values: [Float], shape: [Int], layout: Layout = .plain, name: String = "const") -> String {
        let id = freshName(name)
        self.values[id] = LoweredValue(shape: shape, layout: layout, constant: storage.store(values))
        return id
    }

    /// Makes a constant (by ONNX name) available as a value in `layout`.
    func materialize(_ name: String, layout: Layout) -> String? {
        guard let tensor = constant(name) else { return nil }
        return addConstant(physicalValues(tensor.values, shape: tensor.shape, layout: layout), shape: tensor.shape, layout: layout, name: name)
    }

    func define(_ name: String, shape: [Int], layout: Layout) {
        values[name] = LoweredValue(shape: shape, layout: layout)
    }

    func emitXNN(_ inputs: [String], _ outputs: [String], origin: String, _ body: @escaping XNNDefine) {
        ops.append(LoweredOp(kind: .xnn(body), inputs: inputs, outputs: outputs, origin: origin))
    }

    func emitHost(_ inputs: [String], _ outputs: [String], origin: String, _ body: @escaping HostKernel) {
        ops.append(LoweredOp(kind: .host(body), inputs: inputs, outputs: outputs, origin: origin))
    }

    /// Returns a value holding `name` in `layout`, inserting a conversion when the bytes differ.
    func ensure(_ name: String, _ layout: Layout, origin: String) throws -> String {
        guard let current = values[name] else {
            throw InferenceError.missingTensor(name: name, node: origin)
        }
        if current.layout == layout { return name }
        let key = "\(name)|\(layout)"
        if let done = conversions[key] { return done }
        let converted = freshName(name)
        let shape = current.shape
        define(converted, shape: shape, layout: layout)
        if layoutIsTrivial(shape) {
            // Same bytes, different dims: an XNNPACK reshape (a copy of a small tensor).
            let dims = physicalShape(shape, layout).map { $0 }
            emitXNN([name], [converted], origin: origin) { subgraph, inputs, outputs in
                dims.withUnsafeBufferPointer { xnn_define_static_reshape(subgraph, dims.count, $0.baseAddress, inputs[0], outputs[0], 0) }
            }
        } else if layout == .nhwc {
            emitHost([name], [converted], origin: origin) { inputs, outputs in
                transposeNCHWToNHWC(inputs[0], outputs[0], shape: shape)
            }
        } else {
            emitHost([name], [converted], origin: origin) { inputs, outputs in
                transposeNHWCToNCHW(inputs[0], outputs[0], shape: shape)
            }
        }
        conversions[key] = converted
        return converted
    }

    /// Returns a value whose memory is in logical order (plain, or NHWC that happens to be identical).
    func plainMemory(_ name: String, origin: String) throws -> String {
        guard let current = values[name] else { throw InferenceError.missingTensor(name: name, node: origin) }
        if current.layout == .plain || layoutIsTrivial(current.shape) { return name }
        return try ensure(name, .plain, origin: origin)
    }

    func copyValue(_ name: String, origin: String) throws -> String {
        guard let current = values[name] else { throw InferenceError.missingTensor(name: name, node: origin) }
        let copy = freshName(name)
        define(copy, shape: current.shape, layout: current.layout)
        let dims = current.physical
        emitXNN([name], [copy], origin: origin) { subgraph, inputs, outputs in
            dims.withUnsafeBufferPointer { xnn_define_static_reshape(subgraph, dims.count, $0.baseAddress, inputs[0], outputs[0], 0) }
        }
        return copy
    }

    /// Emits XNNPACK's constant pad of `name` by the logical per-axis amounts `before` and `after`
    /// (XNNPACK pads in memory order: the amounts are permuted like the axes of the value's
    /// layout), into `output` or a fresh value; returns the padded value's name.
    @discardableResult
    func emitConstantPad(_ name: String, before: [Int], after: [Int], fill: Float = 0, output: String? = nil, origin: String) throws -> String {
        guard let value = values[name] else { throw InferenceError.missingTensor(name: name, node: origin) }
        let rank = value.shape.count
        let padded = output ?? freshName(name)
        define(padded, shape: (0..<rank).map { value.shape[$0] + before[$0] + after[$0] }, layout: value.layout)
        let order = value.layout == .nhwc ? [0, 2, 3, 1] : Array(0..<rank)
        let (pre, post) = (order.map { before[$0] }, order.map { after[$0] })
        emitXNN([name], [padded], origin: origin) { subgraph, inputs, outputs in
            pre.withUnsafeBufferPointer { b in
                post.withUnsafeBufferPointer { a in
                    xnn_define_static_constant_pad(subgraph, b.baseAddress, a.baseAddress, fill, inputs[0], outputs[0], 0)
                }
            }
        }
        return padded
    }

    /// Emits a reshape of a value whose memory is in logical order to `shape` (plain layout).
    func reshape(_ name: String, to shape: [Int], output: String, origin: String) throws {
        let source = try plainMemory(name, origin: origin)
        define(output, shape: shape, layout: .plain)
        let dims = shape
        emitXNN([source], [output], origin: origin) { subgraph, inputs, outputs in
            dims.withUnsafeBufferPointer { xnn_define_static_reshape(subgraph, dims.count, $0.baseAddress, inputs[0], outputs[0], 0) }
        }
    }
}
