import CKernels
import Foundation
import ONNXProto

/// QDQ models on the INT8 kernels. Every per-tensor uint8 QuantizeLinear makes a uint8 value (1 byte per
/// element); a DequantizeLinear of one is skipped when all its readers are INT8 kernels, which read the bytes:
/// - Conv (without groups or depthwise, symmetric int8 weights per channel) whose output, through an optional Relu/Clip,
///   goes only to a uint8 QuantizeLinear: one QuantizedConvolution writing that quantizer's bytes;
/// - Add of two such values going only to a uint8 QuantizeLinear (a residual connection): one byte kernel.
/// Any other reader gets the value dequantized to fp32 (one pass), so every graph still runs, as fast as
/// its quantized runs allow.
extension GraphLowering {
    /// A Conv that runs on a QuantizedConvolution, and the nodes after it that the kernel absorbs.
    struct QuantizedConvPlan {
        var kind: QuantizedConvolution.Kind
        var input: String
        var inputShape: [Int]
        var geometry: WindowedConvolution.Geometry
        var weights: [Int8]
        var weightScales: [Float]
        var quantization: QuantizedConvolution.Quantization
        /// The quantizer's output: the uint8 value the kernel writes.
        var output: String
        var absorbed: [Int]
    }

    func readers(of name: String) -> [Int] {
        if readersByName == nil {
            var map: [String: [Int]] = [:]
            for (index, node) in nodes.enumerated() {
                for input in Set(node.input) where !input.isEmpty { map[input, default: []].append(index) }
            }
            readersByName = map
        }
        return (readersByName?[name] ?? []).filter { !skipped.contains($0) }
    }

    /// The uint8 quantizer `output` flows into (through at most one Relu or Clip, each the only reader of the
    /// value before it), with the clamp in quantized units that the Relu/Clip and the uint8 range give.
    func quantizerAfter(_ output: String) -> (index: [Int], output: String, quantization: ActivationQuantization, range: ClosedRange<Int>)? {
        var current = output
        var absorbed: [Int] = []
        var bounds: (min: Float, max: Float) = (-.infinity, .infinity)
        for _ in 0..<2 {
            guard !graphOutputs.contains(current) else { return nil }
            let next = readers(of: current)
            guard next.count == 1, let node = nodes[safe: next[0]], node.input.first == current, let result = node.output.first else { return nil }
            switch node.opType {
            case "Relu" where absorbed.isEmpty:
                bounds = (0, .infinity)
            case "Clip" where absorbed.isEmpty:
                guard let clip = try? clipBounds(node) else { return nil }
                bounds = clip
            case "QuantizeLinear":
                guard let q = try? quantization(node, rank: 4), q.axis == nil, q.range == 0...255 else { return nil }
                let activation = ActivationQuantization(scale: q.scales[0], zeroPoint: Int(q.zeroPoints[0]))
                // Quantizing is monotonic, so quantizing the clamp's bounds clamps the quantized value exactly.
                func quantized(_ bound: Float) -> Int { Int((bound / activation.scale).rounded(.toNearestOrEven)) + activation.zeroPoint }
                let low = bounds.min.isFinite ? max(0, min(255, quantized(bounds.min))) : 0
                let high = bounds.max.isFinite ? max(low, min(255, quantized(bounds.max))) : 255
                return (absorbed + [next[0]], result, activation, low...high)
            default:
                return nil
            }
            absorbed.append(next[0])
            current = result
        }
        return nil
    }

    /// How `node` runs on a QuantizedConvolution, or nil when it cannot (it then runs in fp32).
    func quantizedConvPlan(_ node: Onnx_NodeProto) -> QuantizedConvPlan? {
        guard quantizedKernels, node.opType == "Conv", node.input.count >= 2, let first = node.output.first,
            let source = dequantizedSource[resolve(node.input[0])], let input = values[source.name], input.shape.count == 4,
            input.layout == .nhwc, let weights = quantizedConstants[resolve(node.input[1])], weights.tensor.shape.count == 4,
            weights.quantization.range == -128...127, weights.quantization.zeroPoints.allSatisfy({ $0 == 0 })
        else { return nil }
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (o, cg, kh, kw) = (weights.tensor.shape[0], weights.tensor.shape[1], weights.tensor.shape[2], weights.tensor.shape[3])
        let scales = weights.quantization.scales
        guard scales.count == 1 || (weights.quantization.axis == 0 && scales.count == o) else { return nil }
        let groups = node.int("group", default: 1)
        let strides = node.ints("strides") ?? [1, 1]
        let dilations = node.ints("dilations") ?? [1, 1]
        guard strides.count == 2, dilations == [1, 1],
            let (pads, outSize) = try? window(node, input: [h, w], kernel: [kh, kw], strides: strides, dilations: dilations)
        else { return nil }
        let geometry = WindowedConvolution.Geometry(
            inputChannels: c, outputChannels: o, input: [h, w], output: outSize, kernel: [kh, kw], strides: strides, pads: pads)
        let kind: QuantizedConvolution.Kind
        if groups == 1, cg == c, kh == 1, kw == 1, strides == [1, 1], pads == [0, 0, 0, 0] {
            kind = .pointwise
        } else if groups == c, cg == 1, o == c, QuantizedConvolution.supportsDepthwise(geometry) {
            kind = .depthwise
        } else if groups == 1, cg == c, QuantizedConvolution.supportsDense(geometry) {
            kind = .dense
        } else {
            return nil
        }
        guard let after = quantizerAfter(first) else { return nil }
        return QuantizedConvPlan(
            kind: kind, input: source.name, inputShape: [n, c, h, w], geometry: geometry,
            weights: weights.tensor.values.map { Int8($0) },
            weightScales: scales.count == o ? scales : [Float](repeating: scales[0], count: o),
            quantization: .init(input: source.quantization, output: after.quantization, outputRange: after.range),
            output: after.output, absorbed: after.index)
    }

    /// Lowers `node` onto a QuantizedConvolution when it can; returns false otherwise.
    func lowerQuantizedConv(_ node: Onnx_NodeProto) throws -> Bool {
        guard let plan = quantizedConvPlan(node) else { return false }
        let bias = try convolutionBias(node, outputs: plan.geometry.outputChannels)
        let kernel: QuantizedConvolution
        switch plan.kind {
        case .pointwise:
            kernel = try QuantizedConvolution(
                pointwisePixels: plan.inputShape[0] * plan.inputShape[2] * plan.inputShape[3], inputChannels: plan.geometry.inputChannels,
                outputChannels: plan.geometry.outputChannels, weights: plan.weights, weightScales: plan.weightScales, bias: bias,
                quantization: plan.quantization, level: int8Level)
        case .dense:
            kernel = try QuantizedConvolution(
                denseBatch: plan.inputShape[0], geometry: plan.geometry, weights: plan.weights, weightScales: plan.weightScales, bias: bias,
                quantization: plan.quantization, level: int8Level)
        case .depthwise:
            kernel = try QuantizedConvolution(
                depthwiseBatch: plan.inputShape[0], geometry: plan.geometry, weights: plan.weights, weightScales: plan.weightScales, bias: bias,
                quantization: plan.quantization, level: int8Level)
        }
        skipped.formUnion(plan.absorbed)
        var output = LoweredValue(
            shape: [plan.inputShape[0], plan.geometry.outputChannels, plan.geometry.output[0], plan.geometry.output[1]], layout: .nhwc)
        output.quantization = plan.quantization.output
        values[plan.output] = output
        ops.append(LoweredOp(kind: .kernel(kernel), inputs: [plan.input], outputs: [plan.output], origin: node.displayName))
        return true
    }

    /// The two uint8 values an Add reads, and the quantizer it feeds, when it runs as a byte kernel.
    func quantizedAddPlan(_ node: Onnx_NodeProto) -> (
        a: String, b: String, output: String, index: [Int], quantization: ActivationQuantization, range: ClosedRange<Int>
    )? {
        guard quantizedKernels, node.opType == "Add", node.input.count == 2, let first = node.output.first,
            let a = dequantizedSource[resolve(node.input[0])], let b = dequantizedSource[resolve(node.input[1])],
            let aValue = values[a.name], let bValue = values[b.name], aValue.shape == bValue.shape, aValue.layout == bValue.layout,
            let after = quantizerAfter(first)
        else { return nil }
        return (a.name, b.name, after.output, after.index, after.quantization, after.range)
    }

    /// Lowers an Add of two uint8 values into a uint8 quantizer onto the byte kernel; returns false otherwise.
    func lowerQuantizedAdd(_ node: Onnx_NodeProto) -> Bool {
        guard let plan = quantizedAddPlan(node), let aSource = dequantizedSource[resolve(node.input[0])],
            let bSource = dequantizedSource[resolve(node.input[1])], let shape = values[plan.a]?.shape, let layout = values[plan.a]?.layout
        else { return false }
        skipped.formUnion(plan.index)
        var output = LoweredValue(shape: shape, layout: layout)
        output.quantization = plan.quantization
        values[plan.output] = output
        let kernel = QuantizedElementwise.add(
            count: output.count, aSource.quantization, bSource.quantization, to: plan.quantization, range: plan.range)
        ops.append(LoweredOp(kind: .kernel(kernel), inputs: [plan.a, plan.b], outputs: [plan.output], origin: node.displayName))
        return true
    }

    /// A uint8 QuantizeLinear of an fp32 value: the bytes, as ONNX computes them.
    func lowerQuantizeToBytes(_ node: Onnx_NodeProto, input: String, quantization: Quantization) {
        guard let info = values[input], let output = node.output.first else { return }
        let activation = ActivationQuantization(scale: quantization.scales[0], zeroPoint: Int(quantization.zeroPoints[0]))
        var value = LoweredValue(shape: info.shape, layout: info.layout)
        value.quantization = activation
        values[output] = value
        let kernel = QuantizedElementwise.quantize(count: info.count, to: activation)
        ops.append(LoweredOp(kind: .kernel(kernel), inputs: [input], outputs: [output], origin: node.displayName))
    }

    /// A DequantizeLinear of a uint8 value: remembered for the INT8 kernels that read the bytes; dequantized
    /// to fp32 (a following Relu/Clip fused) only when another reader needs it.
    func lowerDequantizeOfBytes(_ node: Onnx_NodeProto, source: String, quantization: Quantization) throws {
        guard let output = node.output.first, let info = values[source] else { return }
        let activation = ActivationQuantization(scale: quantization.scales[0], zeroPoint: Int(quantization.zeroPoints[0]))
        dequantizedSource[output] = (source, activation)
        let byteReaders = readers(of: output).allSatisfy { index in
            let reader = nodes[index]
            return quantizedConvPlan(reader) != nil || (reader.opType == "Add" && willBeBytes(reader))
        }
        if byteReaders && !graphOutputs.contains(output) { return }
        let fused = fusedActivation(for: output)
        define(fused.output, shape: info.shape, layout: info.layout)
        let kernel = QuantizedElementwise.dequantize(count: info.count, from: activation, low: fused.min, high: fused.max)
        ops.append(LoweredOp(kind: .kernel(kernel), inputs: [source], outputs: [fused.output], origin: node.displayName))
    }

    /// Whether an Add will run on bytes: both inputs dequantize uint8 values (the other may not be lowered
    /// yet, so its producer is checked: a DequantizeLinear of a uint8 QuantizeLinear) and a quantizer follows.
    private func willBeBytes(_ add: Onnx_NodeProto) -> Bool {
        guard add.input.count == 2, let output = add.output.first, quantizerAfter(output) != nil else { return false }
        return add.input.allSatisfy { name in
            if dequantizedSource[resolve(name)] != nil { return true }
            guard let dq = nodes.first(where: { $0.output.first == name }), dq.opType == "DequantizeLinear", let q = dq.input.first,
                let quantizer = nodes.first(where: { $0.output.first == q }), quantizer.opType == "QuantizeLinear",
                let parameters = try? quantization(quantizer, rank: 4)
            else { return false }
            return parameters.axis == nil && parameters.range == 0...255
        }
    }

    /// A uint8 value as floats holding its integers (what a QuantizeLinear graph output is in fp32).
    func widenQuantized(_ name: String, origin: String) throws -> String {
        guard let info = values[name] else { throw InferenceError.missingTensor(name: name, node: origin) }
        let widened = freshName(name)
        define(widened, shape: info.shape, layout: info.layout)
        let kernel = QuantizedElementwise.dequantize(count: info.count, from: ActivationQuantization(scale: 1, zeroPoint: 0))
        ops.append(LoweredOp(kind: .kernel(kernel), inputs: [name], outputs: [widened], origin: origin))
        return widened
    }
}

extension Array {
    fileprivate subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
