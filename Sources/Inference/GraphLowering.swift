import CXNNPack
import Foundation
import ONNXProto

/// Turns an ONNX graph into XNNPACK nodes (NHWC) plus the few host kernels XNNPACK lacks,
/// inferring every shape for a fixed batch size.
final class GraphLowering {
    private let model: ONNXModel
    private let batchSize: Int
    private var nodes: [Onnx_NodeProto]
    private var constants: [String: ConstantTensor] = [:]
    private var values: [String: LoweredValue] = [:]
    private var ops: [LoweredOp] = []
    private var aliases: [String: String] = [:]
    private var conversions: [String: String] = [:]
    private var consumerCount: [String: Int] = [:]
    private var consumerIndex: [String: Int] = [:]
    private var skipped = Set<Int>()
    private var graphOutputs = Set<String>()
    private var counter = 0
    /// The batch size fixed in the file's input declaration, if any (exporters bake it into Reshape targets).
    private var declaredBatch: Int?
    private let storage = ConstantStorage()
    /// Whether 1x1 convolutions go to the CKernels GEMM rather than XNNPACK.
    private let ownKernels: Bool

    init(model: ONNXModel, batchSize: Int, ownKernels: Bool = PointwiseConvolution.isSupported) {
        self.model = model
        self.batchSize = batchSize
        self.nodes = model.proto.graph.node
        self.ownKernels = ownKernels && PointwiseConvolution.isSupported
    }

    /// Lowers the whole graph; throws on the first unsupported or malformed node.
    func lower() throws -> LoweredGraph {
        let graph = model.proto.graph
        for tensor in graph.initializer {
            constants[tensor.name] = try ConstantTensor(tensor)
        }
        graphOutputs = Set(graph.output.map(\.name))
        let inputs = model.inputNames
        guard let inputName = inputs.first else {
            throw InferenceError.invalidModel(detail: "the graph has no input that is not an initializer")
        }
        guard inputs.count == 1 else {
            throw InferenceError.invalidModel(detail: "the graph has \(inputs.count) inputs (\(inputs.joined(separator: ", "))); only single-input models are supported")
        }
        let inputShape = try declaredInputShape(inputName)
        values[inputName] = LoweredValue(shape: inputShape, layout: inputShape.count == 4 ? .nhwc : .plain)

        countConsumers()
        try foldBatchNormalization()
        countConsumers()
        for (index, node) in nodes.enumerated() where !skipped.contains(index) {
            try lowerNode(node, index: index)
        }

        guard let outputName = graph.output.first?.name else {
            throw InferenceError.invalidModel(detail: "the graph has no output")
        }
        let resolved = resolve(outputName)
        guard values[resolved] != nil else {
            throw InferenceError.missingTensor(name: outputName, node: "graph output")
        }
        var output = try ensure(resolved, .plain, origin: "graph output")
        if output == inputName || values[output]?.constant != nil {
            // Give the output its own buffer so the session never hands out the input or a constant.
            output = try copyValue(output, origin: "graph output")
        }
        return LoweredGraph(ops: ops, values: values, input: inputName, inputShape: inputShape, output: output, storage: storage)
    }

    // MARK: - Graph bookkeeping

    private func declaredInputShape(_ name: String) throws -> [Int] {
        guard let info = model.proto.graph.input.first(where: { $0.name == name }) else {
            throw InferenceError.invalidModel(detail: "input '\(name)' has no declaration")
        }
        let dims = info.type.tensorType.shape.dim
        guard !dims.isEmpty else {
            throw InferenceError.invalidModel(detail: "input '\(name)' has no declared shape")
        }
        var shape: [Int] = []
        for (axis, dim) in dims.enumerated() {
            if axis == 0 {
                declaredBatch = dim.dimValue > 0 ? Int(dim.dimValue) : nil
                shape.append(batchSize)  // the first axis is the batch, whatever the file declares
            } else if dim.dimValue > 0 {
                shape.append(Int(dim.dimValue))
            } else {
                throw InferenceError.invalidModel(detail: "input '\(name)' axis \(axis) has no fixed size ('\(dim.dimParam)'); only the batch axis may be symbolic")
            }
        }
        return shape
    }

    private func countConsumers() {
        consumerCount = [:]
        consumerIndex = [:]
        for (index, node) in nodes.enumerated() where !skipped.contains(index) {
            for input in node.input where !input.isEmpty {
                consumerCount[input, default: 0] += 1
                consumerIndex[input] = index
            }
        }
    }

    private func resolve(_ name: String) -> String {
        var current = name
        while let next = aliases[current] { current = next }
        return current
    }

    private func freshName(_ base: String) -> String {
        counter += 1
        return "\(base)#\(counter)"
    }

    private func value(_ name: String, node: Onnx_NodeProto) throws -> LoweredValue {
        let resolved = resolve(name)
        if let found = values[resolved] { return found }
        if let constant = constants[resolved] {
            return LoweredValue(shape: constant.shape, layout: .plain)
        }
        throw InferenceError.missingTensor(name: name, node: node.displayName)
    }

    private func constant(_ name: String) -> ConstantTensor? {
        constants[resolve(name)]
    }

    private func requireConstant(_ name: String, node: Onnx_NodeProto, role: String) throws -> ConstantTensor {
        if let found = constant(name) { return found }
        if values[resolve(name)] != nil {
            throw InferenceError.unsupportedAttribute(op: node.opType, node: node.displayName, detail: "\(role) '\(name)' must be a constant (initializer), not computed at run time")
        }
        throw InferenceError.missingTensor(name: name, node: node.displayName)
    }

    /// Registers constant data (already in physical order) as a value usable by ops.
    private func addConstant(_ values: [Float], shape: [Int], layout: Layout = .plain, name: String = "const") -> String {
        let id = freshName(name)
        self.values[id] = LoweredValue(shape: shape, layout: layout, constant: storage.store(values))
        return id
    }

    /// Makes a constant (by ONNX name) available as a value in `layout`.
    private func materialize(_ name: String, layout: Layout) -> String? {
        guard let tensor = constant(name) else { return nil }
        return addConstant(physicalValues(tensor.values, shape: tensor.shape, layout: layout), shape: tensor.shape, layout: layout, name: name)
    }

    private func define(_ name: String, shape: [Int], layout: Layout) {
        values[name] = LoweredValue(shape: shape, layout: layout)
    }

    private func emitXNN(_ inputs: [String], _ outputs: [String], origin: String, _ body: @escaping XNNDefine) {
        ops.append(LoweredOp(kind: .xnn(body), inputs: inputs, outputs: outputs, origin: origin))
    }

    private func emitHost(_ inputs: [String], _ outputs: [String], origin: String, _ body: @escaping HostKernel) {
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
    private func plainMemory(_ name: String, origin: String) throws -> String {
        guard let current = values[name] else { throw InferenceError.missingTensor(name: name, node: origin) }
        if current.layout == .plain || layoutIsTrivial(current.shape) { return name }
        return try ensure(name, .plain, origin: origin)
    }

    private func copyValue(_ name: String, origin: String) throws -> String {
        guard let current = values[name] else { throw InferenceError.missingTensor(name: name, node: origin) }
        let copy = freshName(name)
        define(copy, shape: current.shape, layout: current.layout)
        let dims = current.physical
        emitXNN([name], [copy], origin: origin) { subgraph, inputs, outputs in
            dims.withUnsafeBufferPointer { xnn_define_static_reshape(subgraph, dims.count, $0.baseAddress, inputs[0], outputs[0], 0) }
        }
        return copy
    }

    /// Emits a reshape of a value whose memory is in logical order to `shape` (plain layout).
    private func reshape(_ name: String, to shape: [Int], output: String, origin: String) throws {
        let source = try plainMemory(name, origin: origin)
        define(output, shape: shape, layout: .plain)
        let dims = shape
        emitXNN([source], [output], origin: origin) { subgraph, inputs, outputs in
            dims.withUnsafeBufferPointer { xnn_define_static_reshape(subgraph, dims.count, $0.baseAddress, inputs[0], outputs[0], 0) }
        }
    }

    // MARK: - Fusion

    /// If the only consumer of `output` is a Relu or a Clip with constant bounds, skips that node and returns its
    /// bounds and output name, so the producing XNNPACK node clamps for free.
    private func fusedActivation(for output: String) -> (min: Float, max: Float, output: String) {
        let none = (min: -Float.infinity, max: Float.infinity, output: output)
        guard !graphOutputs.contains(output), consumerCount[output] == 1, let index = consumerIndex[output] else { return none }
        let consumer = nodes[index]
        guard consumer.input.first == output, let result = consumer.output.first else { return none }
        switch consumer.opType {
        case "Relu":
            skipped.insert(index)
            return (0, .infinity, result)
        case "Clip":
            guard let bounds = try? clipBounds(consumer) else { return none }
            skipped.insert(index)
            return (bounds.min, bounds.max, result)
        default:
            return none
        }
    }

    private func clipBounds(_ node: Onnx_NodeProto) throws -> (min: Float, max: Float) {
        if model.opsetVersion < 11 {
            return (node.float("min", default: -.infinity), node.float("max", default: .infinity))
        }
        var low = -Float.infinity, high = Float.infinity
        if node.input.count > 1, !node.input[1].isEmpty {
            let tensor = try requireConstant(node.input[1], node: node, role: "min")
            guard tensor.count == 1 else { throw InferenceError.unsupportedAttribute(op: "Clip", node: node.displayName, detail: "min must be a scalar") }
            low = tensor.values[0]
        }
        if node.input.count > 2, !node.input[2].isEmpty {
            let tensor = try requireConstant(node.input[2], node: node, role: "max")
            guard tensor.count == 1 else { throw InferenceError.unsupportedAttribute(op: "Clip", node: node.displayName, detail: "max must be a scalar") }
            high = tensor.values[0]
        }
        return (low, high)
    }

    /// Folds inference-mode BatchNormalization into the Conv feeding it (new weights and bias), the usual
    /// exporter leftover; the BN node disappears.
    private func foldBatchNormalization() throws {
        var producer: [String: Int] = [:]
        for (index, node) in nodes.enumerated() {
            for output in node.output { producer[output] = index }
        }
        for (index, node) in nodes.enumerated() where node.opType == "BatchNormalization" {
            guard node.input.count == 5, node.output.count == 1 || node.output.dropFirst().allSatisfy(\.isEmpty),
                  node.int("training_mode", default: 0) == 0,
                  let convIndex = producer[node.input[0]], nodes[convIndex].opType == "Conv",
                  consumerCount[node.input[0]] == 1, !graphOutputs.contains(node.input[0]),
                  let weights = constant(nodes[convIndex].input.count > 1 ? nodes[convIndex].input[1] : ""),
                  let scale = constant(node.input[1]), let bias = constant(node.input[2]),
                  let mean = constant(node.input[3]), let variance = constant(node.input[4]) else { continue }
            let conv = nodes[convIndex]
            let outChannels = weights.shape.first ?? 0
            guard scale.count == outChannels, bias.count == outChannels, mean.count == outChannels, variance.count == outChannels else { continue }
            var convBias = [Float](repeating: 0, count: outChannels)
            if conv.input.count > 2, !conv.input[2].isEmpty {
                guard let existing = constant(conv.input[2]), existing.count == outChannels else { continue }
                convBias = existing.values
            }
            let epsilon = node.float("epsilon", default: 1e-5)
            let perChannel = weights.count / max(outChannels, 1)
            var newWeights = weights.values
            var newBias = convBias
            for channel in 0..<outChannels {
                let factor = scale.values[channel] / (variance.values[channel] + epsilon).squareRoot()
                for k in 0..<perChannel { newWeights[channel * perChannel + k] *= factor }
                newBias[channel] = (convBias[channel] - mean.values[channel]) * factor + bias.values[channel]
            }
            let weightName = freshName(conv.input[1])
            let biasName = freshName("\(conv.output[0]).bias")
            constants[weightName] = ConstantTensor(shape: weights.shape, values: newWeights)
            constants[biasName] = ConstantTensor(shape: [outChannels], values: newBias)
            var folded = conv
            folded.input = [conv.input[0], weightName, biasName]
            folded.output = [node.output[0]]
            nodes[convIndex] = folded
            skipped.insert(index)
        }
    }

    // MARK: - Operators

    private func lowerNode(_ node: Onnx_NodeProto, index: Int) throws {
        guard node.domain.isEmpty || node.domain == "ai.onnx" else {
            throw InferenceError.unsupportedOperator(op: "\(node.domain).\(node.opType)", node: node.displayName)
        }
        switch node.opType {
        case "Conv": try lowerConv(node)
        case "BatchNormalization": try lowerBatchNorm(node)
        case "Relu": try lowerClamp(node, min: 0, max: .infinity)
        case "Clip":
            let bounds = try clipBounds(node)
            try lowerClamp(node, min: bounds.min, max: bounds.max)
        case "HardSwish": try lowerUnary(node) { xnn_define_hardswish($0, $1, $2, 0) }
        case "Sigmoid": try lowerUnary(node) { xnn_define_sigmoid($0, $1, $2, 0) }
        case "Add", "Sub", "Mul", "Div": try lowerBinary(node)
        case "GlobalAveragePool": try lowerGlobalAveragePool(node, keepDims: true)
        case "ReduceMean": try lowerReduceMean(node)
        case "AveragePool", "MaxPool": try lowerPool(node)
        case "Gemm": try lowerGemm(node)
        case "MatMul": try lowerMatMul(node)
        case "Flatten": try lowerFlatten(node)
        case "Reshape": try lowerReshape(node)
        case "Squeeze", "Unsqueeze": try lowerSqueeze(node)
        case "Concat": try lowerConcat(node)
        case "Softmax": try lowerSoftmax(node)
        case "Identity", "Dropout":
            guard let input = node.input.first, let output = node.output.first else {
                throw InferenceError.invalidModel(detail: "node '\(node.displayName)' lacks an input or output")
            }
            aliases[output] = resolve(input)
        case "Constant":
            guard let tensor = node.attribute("value")?.t, let output = node.output.first else {
                throw InferenceError.unsupportedAttribute(op: "Constant", node: node.displayName, detail: "only the 'value' tensor form is supported")
            }
            constants[output] = try ConstantTensor(tensor)
        default:
            throw InferenceError.unsupportedOperator(op: node.opType, node: node.displayName)
        }
    }

    private func firstInput(_ node: Onnx_NodeProto) throws -> (name: String, value: LoweredValue) {
        guard let input = node.input.first, !input.isEmpty, node.output.first != nil else {
            throw InferenceError.invalidModel(detail: "node '\(node.displayName)' lacks an input or output")
        }
        let found = try value(input, node: node)
        if found.constant == nil, values[resolve(input)] == nil {
            throw InferenceError.unsupportedAttribute(op: node.opType, node: node.displayName, detail: "input '\(input)' is a constant; constant folding is not supported")
        }
        return (resolve(input), found)
    }

    private func unsupported(_ node: Onnx_NodeProto, _ detail: String) -> InferenceError {
        InferenceError.unsupportedAttribute(op: node.opType, node: node.displayName, detail: detail)
    }

    private func lowerClamp(_ node: Onnx_NodeProto, min: Float, max: Float) throws {
        let (input, info) = try firstInput(node)
        let output = node.output[0]
        define(output, shape: info.shape, layout: info.layout)
        emitXNN([input], [output], origin: node.displayName) { xnn_define_clamp($0, min, max, $1[0], $2[0], 0) }
    }

    private func lowerUnary(_ node: Onnx_NodeProto, _ body: @escaping (xnn_subgraph_t, UInt32, UInt32) -> xnn_status) throws {
        let (input, info) = try firstInput(node)
        let output = node.output[0]
        define(output, shape: info.shape, layout: info.layout)
        emitXNN([input], [output], origin: node.displayName) { body($0, $1[0], $2[0]) }
    }

    /// Spatial padding (top, left, bottom, right) and output size for convolution-like windows.
    private func window(_ node: Onnx_NodeProto, input: [Int], kernel: [Int], strides: [Int], dilations: [Int], ceilMode: Bool = false)
        throws -> (pads: [Int], output: [Int])
    {
        let autoPad = node.string("auto_pad") ?? "NOTSET"
        var pads = [0, 0, 0, 0]
        var output = [0, 0]
        for axis in 0..<2 {
            let extent = (kernel[axis] - 1) * dilations[axis] + 1
            switch autoPad {
            case "SAME_UPPER", "SAME_LOWER":
                let out = (input[axis] + strides[axis] - 1) / strides[axis]
                let total = max(0, (out - 1) * strides[axis] + extent - input[axis])
                let small = total / 2
                pads[axis] = autoPad == "SAME_UPPER" ? small : total - small
                pads[axis + 2] = total - pads[axis]
                output[axis] = out
            case "VALID", "NOTSET":
                if autoPad == "NOTSET", let given = node.ints("pads") {
                    guard given.count == 4 else { throw unsupported(node, "pads must have 4 values for 2-D, got \(given)") }
                    pads[axis] = given[axis]
                    pads[axis + 2] = given[axis + 2]
                }
                let span = input[axis] + pads[axis] + pads[axis + 2] - extent
                guard span >= 0 else { throw unsupported(node, "window larger than the padded input") }
                if ceilMode {
                    var out = (span + strides[axis] - 1) / strides[axis] + 1
                    // The last window must start inside the input or its leading padding (as onnxruntime does).
                    if (out - 1) * strides[axis] >= input[axis] + pads[axis] { out -= 1 }
                    // XNNPACK has no ceil mode: extend the trailing padding, which pooling ignores.
                    let needed = (out - 1) * strides[axis] + extent - (input[axis] + pads[axis] + pads[axis + 2])
                    if needed > 0 { pads[axis + 2] += needed }
                    output[axis] = out
                } else {
                    output[axis] = span / strides[axis] + 1
                }
            default:
                throw unsupported(node, "auto_pad '\(autoPad)'")
            }
        }
        return (pads, output)
    }

    private func lowerConv(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        guard info.shape.count == 4 else { throw unsupported(node, "only 2-D convolution (4-D input) is supported, input is \(info.shape)") }
        guard node.input.count >= 2 else { throw InferenceError.invalidModel(detail: "Conv '\(node.displayName)' has no weights") }
        let weights = try requireConstant(node.input[1], node: node, role: "weights")
        guard weights.shape.count == 4 else { throw unsupported(node, "weights must be 4-D, got \(weights.shape)") }
        let (n, c, h, w) = (info.shape[0], info.shape[1], info.shape[2], info.shape[3])
        let (o, cg, kh, kw) = (weights.shape[0], weights.shape[1], weights.shape[2], weights.shape[3])
        let groups = node.int("group", default: 1)
        guard groups >= 1, c % groups == 0, o % groups == 0, cg == c / groups else {
            throw unsupported(node, "group \(groups) does not match input channels \(c) and weights \(weights.shape)")
        }
        if let kernel = node.ints("kernel_shape"), kernel != [kh, kw] {
            throw unsupported(node, "kernel_shape \(kernel) differs from weights \(weights.shape)")
        }
        let strides = node.ints("strides") ?? [1, 1]
        let dilations = node.ints("dilations") ?? [1, 1]
        guard strides.count == 2, dilations.count == 2 else { throw unsupported(node, "strides/dilations must have 2 values") }
        let (pads, outSize) = try window(node, input: [h, w], kernel: [kh, kw], strides: strides, dilations: dilations)
        var bias = [Float](repeating: 0, count: o)
        if node.input.count > 2, !node.input[2].isEmpty {
            let given = try requireConstant(node.input[2], node: node, role: "bias")
            guard given.count == o else { throw unsupported(node, "bias has \(given.count) values for \(o) output channels") }
            bias = given.values
        }
        let x = try ensure(inputName, .nhwc, origin: node.displayName)
        let fused = fusedActivation(for: node.output[0])
        define(fused.output, shape: [n, o, outSize[0], outSize[1]], layout: .nhwc)
        if ownKernels && kh == 1 && kw == 1 && groups == 1 && strides == [1, 1] && pads == [0, 0, 0, 0] {
            // NHWC makes a 1x1 convolution a plain GEMM over pixels, and OIHW weights are already [out][in].
            let kernel = try PointwiseConvolution(pixels: n * h * w, inputChannels: c, outputChannels: o, weights: weights.values,
                                                  bias: bias, low: fused.min, high: fused.max)
            ops.append(LoweredOp(kind: .kernel(kernel), inputs: [x], outputs: [fused.output], origin: node.displayName))
            return
        }
        let geometry = WindowedConvolution.Geometry(inputChannels: c, outputChannels: o, input: [h, w], output: outSize,
                                                    kernel: [kh, kw], strides: strides, pads: pads)
        let windowed: WindowedConvolution.Kind? = groups == 1 ? .dense : (groups == c && cg == 1 && o == c ? .depthwise : nil)
        if ownKernels, let windowed, dilations == [1, 1], WindowedConvolution.supports(geometry) {
            // Grouped OIHW weights of a depthwise convolution are already [channel][kh][kw].
            let kernel = try WindowedConvolution(windowed, batch: n, geometry: geometry, weights: weights.values, bias: bias,
                                                 low: fused.min, high: fused.max)
            ops.append(LoweredOp(kind: .kernel(kernel), inputs: [x], outputs: [fused.output], origin: node.displayName))
            return
        }
        let biasID = addConstant(bias, shape: [o], name: "\(node.output[0]).bias")
        let (top, left, bottom, right) = (UInt32(pads[0]), UInt32(pads[1]), UInt32(pads[2]), UInt32(pads[3]))
        let (sh, sw, dh, dw) = (UInt32(strides[0]), UInt32(strides[1]), UInt32(dilations[0]), UInt32(dilations[1]))
        let low = fused.min, high = fused.max
        let spatial = kh * kw
        if groups > 1 && groups == c && cg == 1 {
            // Depthwise: XNNPACK wants [1, kh, kw, C * multiplier]; output channel g*m+j reads input channel g,
            // the same order as ONNX's grouped weights.
            var filter = [Float](repeating: 0, count: weights.count)
            for channel in 0..<o {
                for k in 0..<spatial { filter[k * o + channel] = weights.values[channel * spatial + k] }
            }
            let filterID = addConstant(filter, shape: [1, kh, kw, o], name: node.input[1])
            let multiplier = UInt32(o / c)
            emitXNN([x, filterID, biasID], [fused.output], origin: node.displayName) { subgraph, inputs, outputs in
                xnn_define_depthwise_convolution_2d(subgraph, top, right, bottom, left, UInt32(kh), UInt32(kw), sh, sw, dh, dw,
                                                    multiplier, c, low, high, inputs[0], inputs[1], inputs[2], outputs[0], 0)
            }
        } else {
            // OIHW -> OHWI, which is also XNNPACK's grouped layout [groups * group_out, kh, kw, group_in].
            var filter = [Float](repeating: 0, count: weights.count)
            for out in 0..<o {
                for channel in 0..<cg {
                    for k in 0..<spatial {
                        filter[(out * spatial + k) * cg + channel] = weights.values[(out * cg + channel) * spatial + k]
                    }
                }
            }
            let filterID = addConstant(filter, shape: [o, kh, kw, cg], name: node.input[1])
            let groupOut = o / groups
            emitXNN([x, filterID, biasID], [fused.output], origin: node.displayName) { subgraph, inputs, outputs in
                xnn_define_convolution_2d(subgraph, top, right, bottom, left, UInt32(kh), UInt32(kw), sh, sw, dh, dw,
                                          UInt32(groups), cg, groupOut, low, high, inputs[0], inputs[1], inputs[2], outputs[0], 0)
            }
        }
    }

    /// Per-channel shape for broadcasting a [C] vector against a value (channel axis 1).
    private func channelBroadcastShape(rank: Int, channels: Int) -> [Int] {
        var shape = [Int](repeating: 1, count: max(rank, 2))
        shape[1] = channels
        return shape
    }

    private func lowerBatchNorm(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        guard node.int("training_mode", default: 0) == 0 else { throw unsupported(node, "training_mode=1 is not supported (inference only)") }
        guard node.input.count == 5, info.shape.count >= 2 else { throw unsupported(node, "needs 5 inputs and an input of rank >= 2") }
        let scale = try requireConstant(node.input[1], node: node, role: "scale")
        let bias = try requireConstant(node.input[2], node: node, role: "B")
        let mean = try requireConstant(node.input[3], node: node, role: "mean")
        let variance = try requireConstant(node.input[4], node: node, role: "var")
        let channels = info.shape[1]
        guard [scale, bias, mean, variance].allSatisfy({ $0.count == channels }) else {
            throw unsupported(node, "parameters must have \(channels) values")
        }
        let epsilon = node.float("epsilon", default: 1e-5)
        var factor = [Float](repeating: 0, count: channels)
        var shift = [Float](repeating: 0, count: channels)
        for channel in 0..<channels {
            factor[channel] = scale.values[channel] / (variance.values[channel] + epsilon).squareRoot()
            shift[channel] = bias.values[channel] - mean.values[channel] * factor[channel]
        }
        let shape = channelBroadcastShape(rank: info.shape.count, channels: channels)
        let layout = info.layout
        let factorID = addConstant(factor, shape: shape, layout: layout == .nhwc ? .nhwc : .plain)
        let shiftID = addConstant(shift, shape: shape, layout: layout == .nhwc ? .nhwc : .plain)
        let scaled = freshName(node.output[0])
        define(scaled, shape: info.shape, layout: layout)
        emitXNN([inputName, factorID], [scaled], origin: node.displayName) {
            xnn_define_multiply2($0, -.infinity, .infinity, $1[0], $1[1], $2[0], 0)
        }
        let fused = fusedActivation(for: node.output[0])
        define(fused.output, shape: info.shape, layout: layout)
        let (low, high) = (fused.min, fused.max)
        emitXNN([scaled, shiftID], [fused.output], origin: node.displayName) {
            xnn_define_add2($0, low, high, $1[0], $1[1], $2[0], 0)
        }
    }

    private func lowerBinary(_ node: Onnx_NodeProto) throws {
        guard node.input.count == 2, let outputName = node.output.first else { throw unsupported(node, "needs two inputs") }
        let a = try value(node.input[0], node: node)
        let b = try value(node.input[1], node: node)
        let aConst = constant(node.input[0]) != nil && values[resolve(node.input[0])] == nil
        let bConst = constant(node.input[1]) != nil && values[resolve(node.input[1])] == nil
        if aConst && bConst { throw unsupported(node, "both inputs are constants; constant folding is not supported") }
        let rank = max(a.shape.count, b.shape.count)
        let padded = [a.shape, b.shape].map { [Int](repeating: 1, count: rank - $0.count) + $0 }
        var shape: [Int] = []
        for axis in 0..<rank {
            let (x, y) = (padded[0][axis], padded[1][axis])
            guard x == y || x == 1 || y == 1 else { throw unsupported(node, "shapes \(a.shape) and \(b.shape) do not broadcast") }
            shape.append(max(x, y))
        }
        let nhwc = rank == 4 && ((!aConst && a.layout == .nhwc && a.shape.count == 4) || (!bConst && b.layout == .nhwc && b.shape.count == 4))
        let layout: Layout = nhwc ? .nhwc : .plain
        var operands: [String] = []
        for (position, isConst) in [aConst, bConst].enumerated() {
            let name = node.input[position]
            if isConst, let tensor = constant(name) {
                let logical = padded[position]
                operands.append(addConstant(physicalValues(tensor.values, shape: logical, layout: layout), shape: logical, layout: layout, name: name))
            } else {
                var source = resolve(name)
                if padded[position].count != values[source]?.shape.count {
                    let expanded = freshName(source)
                    try reshape(source, to: padded[position], output: expanded, origin: node.displayName)
                    source = expanded
                }
                operands.append(try ensure(source, layout, origin: node.displayName))
            }
        }
        let fused = fusedActivation(for: outputName)
        define(fused.output, shape: shape, layout: layout)
        let (low, high) = (fused.min, fused.max)
        let op = node.opType
        emitXNN(operands, [fused.output], origin: node.displayName) { subgraph, inputs, outputs in
            switch op {
            case "Add": return xnn_define_add2(subgraph, low, high, inputs[0], inputs[1], outputs[0], 0)
            case "Sub": return xnn_define_subtract(subgraph, low, high, inputs[0], inputs[1], outputs[0], 0)
            case "Div": return xnn_define_divide(subgraph, low, high, inputs[0], inputs[1], outputs[0], 0)
            default: return xnn_define_multiply2(subgraph, low, high, inputs[0], inputs[1], outputs[0], 0)
            }
        }
    }

    private func lowerGlobalAveragePool(_ node: Onnx_NodeProto, keepDims: Bool) throws {
        let (inputName, info) = try firstInput(node)
        guard info.shape.count == 4 else { throw unsupported(node, "only 4-D inputs are supported, got \(info.shape)") }
        let x = try ensure(inputName, .nhwc, origin: node.displayName)
        let pooledShape = [info.shape[0], info.shape[1], 1, 1]
        let pooled = keepDims ? node.output[0] : freshName(node.output[0])
        let fused = keepDims ? fusedActivation(for: pooled) : (min: -Float.infinity, max: Float.infinity, output: pooled)
        define(fused.output, shape: pooledShape, layout: .nhwc)
        let (low, high) = (fused.min, fused.max)
        emitXNN([x], [fused.output], origin: node.displayName) { xnn_define_global_average_pooling_2d($0, low, high, $1[0], $2[0], 0) }
        if !keepDims {
            try reshape(pooled, to: [info.shape[0], info.shape[1]], output: node.output[0], origin: node.displayName)
        }
    }

    private func lowerReduceMean(_ node: Onnx_NodeProto) throws {
        let (_, info) = try firstInput(node)
        var axes = node.ints("axes")
        if axes == nil, node.input.count > 1, !node.input[1].isEmpty {
            axes = try requireConstant(node.input[1], node: node, role: "axes").intValues
        }
        let normalized = Set((axes ?? []).map { $0 < 0 ? $0 + info.shape.count : $0 })
        guard info.shape.count == 4, normalized == [2, 3] else {
            throw unsupported(node, "only the spatial mean (axes [2, 3] of a 4-D tensor) is supported, got axes \(axes ?? [])")
        }
        try lowerGlobalAveragePool(node, keepDims: node.int("keepdims", default: 1) != 0)
    }

    private func lowerPool(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        guard info.shape.count == 4 else { throw unsupported(node, "only 2-D pooling (4-D input) is supported, input is \(info.shape)") }
        guard node.output.count == 1 || node.output.dropFirst().allSatisfy(\.isEmpty) else { throw unsupported(node, "the Indices output is not supported") }
        guard let kernel = node.ints("kernel_shape"), kernel.count == 2 else { throw unsupported(node, "kernel_shape must have 2 values") }
        let strides = node.ints("strides") ?? [1, 1]
        let dilations = node.ints("dilations") ?? [1, 1]
        let isMax = node.opType == "MaxPool"
        guard strides.count == 2, dilations.count == 2 else { throw unsupported(node, "strides/dilations must have 2 values") }
        if !isMax && dilations != [1, 1] { throw unsupported(node, "dilated average pooling") }
        if isMax && node.int("storage_order", default: 0) != 0 { throw unsupported(node, "storage_order=1") }
        let ceilMode = node.int("ceil_mode", default: 0) != 0
        let includePad = !isMax && node.int("count_include_pad", default: 0) != 0
        if includePad && ceilMode { throw unsupported(node, "count_include_pad together with ceil_mode") }
        let (n, c, h, w) = (info.shape[0], info.shape[1], info.shape[2], info.shape[3])
        var (pads, outSize) = try window(node, input: [h, w], kernel: kernel, strides: strides, dilations: dilations, ceilMode: ceilMode)
        var x = try ensure(inputName, .nhwc, origin: node.displayName)
        if includePad && pads.contains(where: { $0 > 0 }) {
            // XNNPACK averages over real pixels only; zero-pad explicitly so the padding counts.
            let padded = freshName(node.output[0])
            define(padded, shape: [n, c, h + pads[0] + pads[2], w + pads[1] + pads[3]], layout: .nhwc)
            let before = [0, pads[0], pads[1], 0], after = [0, pads[2], pads[3], 0]
            emitXNN([x], [padded], origin: node.displayName) { subgraph, inputs, outputs in
                before.withUnsafeBufferPointer { b in
                    after.withUnsafeBufferPointer { a in
                        xnn_define_static_constant_pad(subgraph, b.baseAddress, a.baseAddress, 0, inputs[0], outputs[0], 0)
                    }
                }
            }
            x = padded
            pads = [0, 0, 0, 0]
        }
        let fused = fusedActivation(for: node.output[0])
        define(fused.output, shape: [n, c, outSize[0], outSize[1]], layout: .nhwc)
        let p = pads.map { UInt32($0) }
        let k = kernel.map { UInt32($0) }, s = strides.map { UInt32($0) }, d = dilations.map { UInt32($0) }
        let (low, high) = (fused.min, fused.max)
        if isMax {
            emitXNN([x], [fused.output], origin: node.displayName) {
                xnn_define_max_pooling_2d($0, p[0], p[3], p[2], p[1], k[0], k[1], s[0], s[1], d[0], d[1], low, high, $1[0], $2[0], 0)
            }
        } else {
            emitXNN([x], [fused.output], origin: node.displayName) {
                xnn_define_average_pooling_2d($0, p[0], p[3], p[2], p[1], k[0], k[1], s[0], s[1], low, high, $1[0], $2[0], 0)
            }
        }
    }

    /// A fully connected layer: `weights` are [outputs, inputs] (already scaled).
    private func emitFullyConnected(_ node: Onnx_NodeProto, input: String, inputShape: [Int], weights: [Float], outputs: Int,
                                    bias: [Float], matrixBias: [Float]?) throws {
        let x = try plainMemory(input, origin: node.displayName)
        let inputs = inputShape.last ?? 0
        let weightID = addConstant(weights, shape: [outputs, inputs], name: "\(node.output[0]).weights")
        let biasID = addConstant(bias, shape: [outputs], name: "\(node.output[0]).bias")
        let outShape = Array(inputShape.dropLast()) + [outputs]
        let fused = fusedActivation(for: node.output[0])
        let (low, high) = (fused.min, fused.max)
        if let matrixBias {
            let product = freshName(node.output[0])
            define(product, shape: outShape, layout: .plain)
            emitXNN([x, weightID, biasID], [product], origin: node.displayName) {
                xnn_define_fully_connected($0, -.infinity, .infinity, $1[0], $1[1], $1[2], $2[0], 0)
            }
            let matrixID = addConstant(matrixBias, shape: outShape, name: "\(node.output[0]).C")
            define(fused.output, shape: outShape, layout: .plain)
            emitXNN([product, matrixID], [fused.output], origin: node.displayName) {
                xnn_define_add2($0, low, high, $1[0], $1[1], $2[0], 0)
            }
        } else {
            define(fused.output, shape: outShape, layout: .plain)
            emitXNN([x, weightID, biasID], [fused.output], origin: node.displayName) {
                xnn_define_fully_connected($0, low, high, $1[0], $1[1], $1[2], $2[0], 0)
            }
        }
    }

    private func lowerGemm(_ node: Onnx_NodeProto) throws {
        var (inputName, info) = try firstInput(node)
        guard info.shape.count == 2, node.input.count >= 2 else { throw unsupported(node, "A must be 2-D, got \(info.shape)") }
        let b = try requireConstant(node.input[1], node: node, role: "B")
        guard b.shape.count == 2 else { throw unsupported(node, "B must be 2-D") }
        let alpha = node.float("alpha", default: 1), beta = node.float("beta", default: 1)
        if node.int("transA", default: 0) != 0 {
            // A is [K, M]: transpose it on the host (rare in classifiers; keeps the XNNPACK path simple).
            let source = try plainMemory(inputName, origin: node.displayName)
            let transposed = freshName(inputName)
            let (rows, cols) = (info.shape[0], info.shape[1])
            define(transposed, shape: [cols, rows], layout: .plain)
            emitHost([source], [transposed], origin: node.displayName) { inputs, outputs in
                for r in 0..<rows { for c in 0..<cols { outputs[0][c * rows + r] = inputs[0][r * cols + c] } }
            }
            inputName = transposed
            info = LoweredValue(shape: [cols, rows], layout: .plain)
        }
        let (m, k) = (info.shape[0], info.shape[1])
        let transB = node.int("transB", default: 0) != 0
        let n = transB ? b.shape[0] : b.shape[1]
        guard (transB ? b.shape[1] : b.shape[0]) == k else { throw unsupported(node, "A \(info.shape) and B \(b.shape) do not multiply") }
        var weights = [Float](repeating: 0, count: n * k)
        for out in 0..<n {
            for i in 0..<k { weights[out * k + i] = alpha * (transB ? b.values[out * k + i] : b.values[i * n + out]) }
        }
        var bias = [Float](repeating: 0, count: n)
        var matrixBias: [Float]?
        if node.input.count > 2, !node.input[2].isEmpty {
            let c = try requireConstant(node.input[2], node: node, role: "C")
            let padded = [Int](repeating: 1, count: max(0, 2 - c.shape.count)) + c.shape
            guard padded.count == 2, padded[0] == 1 || padded[0] == m, padded[1] == 1 || padded[1] == n else {
                throw unsupported(node, "C \(c.shape) does not broadcast to [\(m), \(n)]")
            }
            if padded[0] == 1 {
                for out in 0..<n { bias[out] = beta * c.values[padded[1] == 1 ? 0 : out] }
            } else {
                var full = [Float](repeating: 0, count: m * n)
                for row in 0..<m { for out in 0..<n { full[row * n + out] = beta * c.values[row * padded[1] + (padded[1] == 1 ? 0 : out)] } }
                matrixBias = full
            }
        }
        try emitFullyConnected(node, input: inputName, inputShape: [m, k], weights: weights, outputs: n, bias: bias, matrixBias: matrixBias)
    }

    private func lowerMatMul(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        guard node.input.count == 2 else { throw unsupported(node, "needs two inputs") }
        let b = try requireConstant(node.input[1], node: node, role: "B")
        guard b.shape.count == 2, info.shape.count >= 2, info.shape.last == b.shape[0] else {
            throw unsupported(node, "only [..., K] x [K, N] with a constant 2-D B is supported, got \(info.shape) x \(b.shape)")
        }
        let (k, n) = (b.shape[0], b.shape[1])
        var weights = [Float](repeating: 0, count: n * k)
        for out in 0..<n { for i in 0..<k { weights[out * k + i] = b.values[i * n + out] } }
        try emitFullyConnected(node, input: inputName, inputShape: info.shape, weights: weights, outputs: n,
                               bias: [Float](repeating: 0, count: n), matrixBias: nil)
    }

    private func lowerFlatten(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        let rank = info.shape.count
        var axis = node.int("axis", default: 1)
        if axis < 0 { axis += rank }
        guard axis >= 0, axis <= rank else { throw unsupported(node, "axis \(axis) out of range for rank \(rank)") }
        let outer = info.shape[..<axis].reduce(1, *), inner = info.shape[axis...].reduce(1, *)
        try reshape(inputName, to: [outer, inner], output: node.output[0], origin: node.displayName)
    }

    private func lowerReshape(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        var requested: [Int]
        if node.input.count > 1, !node.input[1].isEmpty {
            requested = try requireConstant(node.input[1], node: node, role: "shape").intValues
        } else if let given = node.ints("shape") {
            requested = given
        } else {
            throw unsupported(node, "no target shape")
        }
        let allowZero = node.int("allowzero", default: 0) != 0
        if let declaredBatch, declaredBatch != batchSize, requested.first == declaredBatch, info.shape.first == batchSize {
            // A target like [1, 1280] from a batch-1 export: keep the batch axis following the session's batch.
            requested[0] = batchSize
        }
        for (axis, size) in requested.enumerated() where size == 0 && !allowZero {
            guard axis < info.shape.count else { throw unsupported(node, "0 at axis \(axis) beyond the input rank") }
            requested[axis] = info.shape[axis]
        }
        let known = requested.filter { $0 != -1 }.reduce(1, *)
        if let inferred = requested.firstIndex(of: -1) {
            guard known > 0, info.count % known == 0 else { throw unsupported(node, "cannot infer -1 in \(requested) for \(info.shape)") }
            requested[inferred] = info.count / known
        }
        guard requested.reduce(1, *) == info.count, requested.allSatisfy({ $0 > 0 }) else {
            throw unsupported(node, "shape \(requested) does not hold the \(info.count) elements of \(info.shape)")
        }
        try reshape(inputName, to: requested, output: node.output[0], origin: node.displayName)
    }

    private func lowerSqueeze(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        var axes = node.ints("axes")
        if axes == nil, node.input.count > 1, !node.input[1].isEmpty {
            axes = try requireConstant(node.input[1], node: node, role: "axes").intValues
        }
        var shape = info.shape
        if node.opType == "Squeeze" {
            let rank = shape.count
            let drop = Set((axes ?? shape.indices.filter { shape[$0] == 1 }).map { $0 < 0 ? $0 + rank : $0 })
            shape = shape.indices.filter { !drop.contains($0) }.map { shape[$0] }
        } else {
            guard let axes else { throw unsupported(node, "no axes") }
            let rank = shape.count + axes.count
            for axis in axes.map({ $0 < 0 ? $0 + rank : $0 }).sorted() { shape.insert(1, at: min(axis, shape.count)) }
        }
        try reshape(inputName, to: shape, output: node.output[0], origin: node.displayName)
    }

    private func lowerConcat(_ node: Onnx_NodeProto) throws {
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

    private func lowerSoftmax(_ node: Onnx_NodeProto) throws {
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
        let length = info.shape[axis], inner = info.shape[(axis + 1)...].reduce(1, *)
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
