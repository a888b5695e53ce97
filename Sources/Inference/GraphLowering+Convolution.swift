import CXNNPack
import Foundation
import ONNXProto

/// Convolutions: windows and padding, Conv onto XNNPACK or our kernels, BatchNormalization.
extension GraphLowering {
    /// Spatial padding (top, left, bottom, right) and output size for convolution-like windows.
    func window(_ node: Onnx_NodeProto, input: [Int], kernel: [Int], strides: [Int], dilations: [Int], ceilMode: Bool = false)
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

    /// A Conv's or ConvTranspose's 4-D input and constant 4-D weights.
    func convolutionOperands(_ node: Onnx_NodeProto) throws -> (input: String, info: LoweredValue, weights: ConstantTensor) {
        let (inputName, info) = try firstInput(node)
        guard info.shape.count == 4 else { throw unsupported(node, "only 2-D convolution (4-D input) is supported, input is \(info.shape)") }
        guard node.input.count >= 2 else { throw InferenceError.invalidModel(detail: "\(node.opType) '\(node.displayName)' has no weights") }
        let weights = try requireConstant(node.input[1], node: node, role: "weights")
        guard weights.shape.count == 4 else { throw unsupported(node, "weights must be 4-D, got \(weights.shape)") }
        return (inputName, info, weights)
    }

    /// The optional bias input (zeros when absent), one value per output channel.
    func convolutionBias(_ node: Onnx_NodeProto, outputs: Int) throws -> [Float] {
        guard node.input.count > 2, !node.input[2].isEmpty else { return [Float](repeating: 0, count: outputs) }
        let given = try requireConstant(node.input[2], node: node, role: "bias")
        guard given.count == outputs else { throw unsupported(node, "bias has \(given.count) values for \(outputs) output channels") }
        return given.values
    }

    /// ConvTranspose (2-D, groups, strides, dilations, pads, output_padding or output_shape) on XNNPACK's
    /// deconvolution, with the bias and a following Relu/Clip fused. A text detector's head upsamples its
    /// probability map this way.
    func lowerConvTranspose(_ node: Onnx_NodeProto) throws {
        let (inputName, info, weights) = try convolutionOperands(node)
        let (n, c, h, w) = (info.shape[0], info.shape[1], info.shape[2], info.shape[3])
        let groups = node.int("group", default: 1)
        let (cin, og, kh, kw) = (weights.shape[0], weights.shape[1], weights.shape[2], weights.shape[3])
        guard groups >= 1, cin == c, c % groups == 0 else {
            throw unsupported(node, "weights \(weights.shape) do not match \(c) input channels in \(groups) groups")
        }
        let o = og * groups
        let ig = c / groups
        let strides = node.ints("strides") ?? [1, 1]
        let dilations = node.ints("dilations") ?? [1, 1]
        var outputPadding = node.ints("output_padding") ?? [0, 0]
        guard strides.count == 2, dilations.count == 2, outputPadding.count == 2 else {
            throw unsupported(node, "strides, dilations and output_padding need 2 values each")
        }
        let extent = [(kh - 1) * dilations[0] + 1, (kw - 1) * dilations[1] + 1]
        let fullHeight: Int = strides[0] * (h - 1) + outputPadding[0] + extent[0]
        let fullWidth: Int = strides[1] * (w - 1) + outputPadding[1] + extent[1]
        var full = [fullHeight, fullWidth]
        var pads = [0, 0, 0, 0]
        let autoPad = node.string("auto_pad") ?? "NOTSET"
        if let shape = node.ints("output_shape") {
            let wanted = Array(shape.suffix(2))
            for axis in 0..<2 {
                let total = full[axis] - wanted[axis]
                if total < 0 {
                    // Larger than the windows reach: the extra rows/columns come from the output padding.
                    guard -total < strides[axis] else { throw unsupported(node, "output_shape \(shape) is out of reach of the input") }
                    outputPadding[axis] -= total
                    full[axis] = wanted[axis]
                    continue
                }
                pads[axis] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                pads[axis + 2] = total - pads[axis]
            }
        } else if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
            for axis in 0..<2 {
                let total = max(0, full[axis] - [h, w][axis] * strides[axis])
                pads[axis] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                pads[axis + 2] = total - pads[axis]
            }
        } else if let given = node.ints("pads") {
            guard given.count == 4 else { throw unsupported(node, "pads must have 4 values for 2-D, got \(given)") }
            pads = given
        }
        let outSize = [full[0] - pads[0] - pads[2], full[1] - pads[1] - pads[3]]
        guard outSize.allSatisfy({ $0 > 0 }) else { throw unsupported(node, "pads \(pads) leave no output") }
        let bias = try convolutionBias(node, outputs: o)
        // ONNX [in][out per group][kh][kw] -> XNNPACK [group * out per group][kh][kw][in per group].
        var filter = [Float](repeating: 0, count: weights.count)
        for g in 0..<groups {
            for oc in 0..<og {
                for ky in 0..<kh {
                    for kx in 0..<kw {
                        for ic in 0..<ig {
                            let source = (((g * ig + ic) * og + oc) * kh + ky) * kw + kx
                            filter[(((g * og + oc) * kh + ky) * kw + kx) * ig + ic] = weights.values[source]
                        }
                    }
                }
            }
        }
        let filterID = addConstant(filter, shape: [o, kh, kw, ig], name: node.input[1])
        let biasID = addConstant(bias, shape: [o], name: "\(node.output[0]).bias")
        let x = try ensure(inputName, .nhwc, origin: node.displayName)
        let fused = fusedActivation(for: node.output[0])
        define(fused.output, shape: [n, o, outSize[0], outSize[1]], layout: .nhwc)
        let (top, left, bottom, right) = (UInt32(pads[0]), UInt32(pads[1]), UInt32(pads[2]), UInt32(pads[3]))
        let (adjustH, adjustW) = (UInt32(outputPadding[0]), UInt32(outputPadding[1]))
        let (sh, sw, dh, dw) = (UInt32(strides[0]), UInt32(strides[1]), UInt32(dilations[0]), UInt32(dilations[1]))
        let (low, high) = (fused.min, fused.max)
        emitXNN([x, filterID, biasID], [fused.output], origin: node.displayName) { subgraph, inputs, outputs in
            xnn_define_deconvolution_2d(
                subgraph, top, right, bottom, left, adjustH, adjustW, UInt32(kh), UInt32(kw), sh, sw, dh, dw, UInt32(groups), ig,
                og, low, high, inputs[0], inputs[1], inputs[2], outputs[0], 0)
        }
    }

    func lowerConv(_ node: Onnx_NodeProto) throws {
        if try lowerQuantizedConv(node) { return }
        let (inputName, info, weights) = try convolutionOperands(node)
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
        var bias = try convolutionBias(node, outputs: o)
        let x = try ensure(inputName, .nhwc, origin: node.displayName)
        let outShape = [n, o, outSize[0], outSize[1]]
        // Which kernel runs it decides what can be fused after it: ours take a HardSwish and an affine map too.
        var geometry = WindowedConvolution.Geometry(
            inputChannels: c, outputChannels: o, input: [h, w], output: outSize,
            kernel: [kh, kw], strides: strides, pads: pads)
        let windowed: WindowedConvolution.Kind? = groups == 1 ? .dense : (groups == c && cg == 1 && o == c ? .depthwise : nil)
        let pointwise = ownKernels && kh == 1 && kw == 1 && groups == 1 && strides == [1, 1] && pads == [0, 0, 0, 0]
        let winograd = ownKernels && windowed == .dense && dilations == [1, 1] && WinogradConvolution.isWorthwhile(geometry)
        let direct = ownKernels && windowed != nil && dilations == [1, 1] && WindowedConvolution.supports(geometry)
        guard pointwise || winograd || direct else {
            try lowerConvOnXNNPack(node, x: x, weights: weights, bias: bias, shape: outShape, pads: pads, strides: strides, dilations: dilations)
            return
        }
        var epilogue = fusedEpilogue(for: node.output[0])
        bias = bias.map { $0 + epilogue.biasShift }
        define(epilogue.output, shape: outShape, layout: .nhwc)
        if pointwise {
            // NHWC makes a 1x1 convolution a plain GEMM over pixels, and OIHW weights are already [out][in].
            var inputs = [x]
            if epilogue.isPlain, epilogue.output == node.output[0], let skip = residualAdd(after: node.output[0], shape: outShape) {
                // conv -> Add(skip) [-> Relu]: the Add in the GEMM's epilogue, then the Relu's clamp.
                epilogue = fusedEpilogue(for: skip.output)
                bias = bias.map { $0 + epilogue.biasShift }  // (acc + bias) + skip + shift: the same sum
                inputs.append(skip.operand)
                define(epilogue.output, shape: outShape, layout: .nhwc)
            }
            let kernel = try PointwiseConvolution(
                pixels: n * h * w, inputChannels: c, outputChannels: o, weights: weights.values, bias: bias, low: epilogue.low,
                high: epilogue.high, hardSwish: epilogue.hardSwish)
            ops.append(LoweredOp(kind: .kernel(kernel), inputs: inputs, outputs: [epilogue.output], origin: node.displayName))
            return
        }
        if winograd {
            let kernel = try WinogradConvolution(
                batch: n, geometry: geometry, weights: weights.values, bias: bias, low: epilogue.low, high: epilogue.high,
                hardSwish: epilogue.hardSwish)
            ops.append(LoweredOp(kind: .kernel(kernel), inputs: [x], outputs: [epilogue.output], origin: node.displayName))
            return
        }
        guard let windowed else { return }
        var input = x
        if windowed == .dense, pads.contains(where: { $0 > 0 }), outSize[1] <= 20 {
            // Without padding the dense kernel's tiles of 6 pixels run across output rows; on a small image
            // (ResNet's 7x7 and 14x14 stages) a row of 7 is otherwise a tile of 6 and one of 1, and the pixels
            // at the sides are computed one by one. Padding the input first (a small copy) avoids both.
            input = try emitConstantPad(x, before: [0, 0, pads[0], pads[1]], after: [0, 0, pads[2], pads[3]], origin: node.displayName)
            geometry = WindowedConvolution.Geometry(
                inputChannels: c, outputChannels: o, input: [h + pads[0] + pads[2], w + pads[1] + pads[3]], output: outSize,
                kernel: [kh, kw], strides: strides, pads: [0, 0, 0, 0])
        }
        // Grouped OIHW weights of a depthwise convolution are already [channel][kh][kw].
        let kernel = try WindowedConvolution(
            windowed, batch: n, geometry: geometry, weights: weights.values, bias: bias, low: epilogue.low, high: epilogue.high,
            hardSwish: epilogue.hardSwish)
        ops.append(LoweredOp(kind: .kernel(kernel), inputs: [input], outputs: [epilogue.output], origin: node.displayName))
    }

    /// A convolution our kernels do not take (dilated, grouped but not depthwise, or a CPU without AVX2/FMA)
    /// on XNNPACK, with a following Relu/Clip fused.
    private func lowerConvOnXNNPack(
        _ node: Onnx_NodeProto, x: String, weights: ConstantTensor, bias: [Float], shape outShape: [Int], pads: [Int], strides: [Int],
        dilations: [Int]
    ) throws {
        let (c, o, kh, kw) = (values[x]?.shape[1] ?? 0, weights.shape[0], weights.shape[2], weights.shape[3])
        let cg = weights.shape[1]
        let groups = node.int("group", default: 1)
        let fused = fusedActivation(for: node.output[0])
        define(fused.output, shape: outShape, layout: .nhwc)
        let biasID = addConstant(bias, shape: [o], name: "\(node.output[0]).bias")
        let (top, left, bottom, right) = (UInt32(pads[0]), UInt32(pads[1]), UInt32(pads[2]), UInt32(pads[3]))
        let (sh, sw, dh, dw) = (UInt32(strides[0]), UInt32(strides[1]), UInt32(dilations[0]), UInt32(dilations[1]))
        let low = fused.min
        let high = fused.max
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
                xnn_define_depthwise_convolution_2d(
                    subgraph, top, right, bottom, left, UInt32(kh), UInt32(kw), sh, sw, dh, dw,
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
                xnn_define_convolution_2d(
                    subgraph, top, right, bottom, left, UInt32(kh), UInt32(kw), sh, sw, dh, dw,
                    UInt32(groups), cg, groupOut, low, high, inputs[0], inputs[1], inputs[2], outputs[0], 0)
            }
        }
    }

    /// When the only reader of a convolution's `output` is an Add of it and an already computed NHWC
    /// value of the same shape (a residual connection), skips that Add and returns the other operand
    /// and the Add's output.
    func residualAdd(after output: String, shape: [Int]) -> (operand: String, output: String)? {
        guard !graphOutputs.contains(output), consumerCount[output] == 1, let index = consumerIndex[output] else { return nil }
        let add = nodes[index]
        guard add.opType == "Add", add.input.count == 2, add.input[0] != add.input[1], let result = add.output.first else { return nil }
        let other = resolve(add.input[0] == output ? add.input[1] : add.input[0])
        guard let value = values[other], value.constant == nil, value.shape == shape, value.layout == .nhwc else { return nil }
        skipped.insert(index)
        return (other, result)
    }

    /// Per-channel shape for broadcasting a [C] vector against a value (channel axis 1).
    func channelBroadcastShape(rank: Int, channels: Int) -> [Int] {
        var shape = [Int](repeating: 1, count: max(rank, 2))
        shape[1] = channels
        return shape
    }

    func lowerBatchNorm(_ node: Onnx_NodeProto) throws {
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
}
