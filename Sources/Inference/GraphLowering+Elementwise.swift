import CXNNPack
import Foundation
import ONNXProto

/// Elementwise operators: Relu/Clip, HardSwish, Sigmoid, Exp, PRelu, Add/Sub/Mul/Div.
extension GraphLowering {
    func lowerClamp(_ node: Onnx_NodeProto, min: Float, max: Float) throws {
        let (input, info) = try firstInput(node)
        let output = node.output[0]
        define(output, shape: info.shape, layout: info.layout)
        emitXNN([input], [output], origin: node.displayName) { xnn_define_clamp($0, min, max, $1[0], $2[0], 0) }
    }

    func lowerUnary(_ node: Onnx_NodeProto, _ body: @escaping (xnn_subgraph_t, UInt32, UInt32) -> xnn_status) throws {
        let (input, info) = try firstInput(node)
        let output = node.output[0]
        define(output, shape: info.shape, layout: info.layout)
        emitXNN([input], [output], origin: node.displayName) { body($0, $1[0], $2[0]) }
    }

    func lowerBinary(_ node: Onnx_NodeProto) throws {
        guard node.input.count == 2, let outputName = node.output.first else { throw unsupported(node, "needs two inputs") }
        let a = try value(node.input[0], node: node)
        let b = try value(node.input[1], node: node)
        let aConst = constant(node.input[0]) != nil && values[resolve(node.input[0])] == nil
        let bConst = constant(node.input[1]) != nil && values[resolve(node.input[1])] == nil
        if aConst && bConst { throw unsupported(node, "both inputs are constants; constant folding is not supported") }
        let (shape, padded) = try broadcast(a.shape, b.shape, node: node)
        let rank = shape.count
        let nhwc = rank == 4 && ((!aConst && a.layout == .nhwc && a.shape.count == 4) || (!bConst && b.layout == .nhwc && b.shape.count == 4))
        let layout: Layout = nhwc ? .nhwc : .plain
        var operands: [String] = []
        for (position, isConst) in [aConst, bConst].enumerated() {
            let name = node.input[position]
            if isConst, let tensor = constant(name) {
                let logical = padded[position]
                operands.append(
                    addConstant(physicalValues(tensor.values, shape: logical, layout: layout), shape: logical, layout: layout, name: name))
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

    /// HardSigmoid, clamp(alpha x + beta, 0, 1): a multiply and an add whose output bounds are [0, 1]
    /// (this XNNPACK has no such node), narrowed further by a Relu/Clip that follows.
    func lowerHardSigmoid(_ node: Onnx_NodeProto) throws {
        let (input, info) = try firstInput(node)
        let alpha = node.float("alpha", default: 0.2)
        let beta = node.float("beta", default: 0.5)
        let ones = [Int](repeating: 1, count: info.shape.count)
        let alphaID = addConstant([alpha], shape: ones, layout: info.layout, name: "\(node.output[0]).alpha")
        let betaID = addConstant([beta], shape: ones, layout: info.layout, name: "\(node.output[0]).beta")
        let scaled = freshName(node.output[0])
        define(scaled, shape: info.shape, layout: info.layout)
        emitXNN([resolve(input), alphaID], [scaled], origin: node.displayName) {
            xnn_define_multiply2($0, -.infinity, .infinity, $1[0], $1[1], $2[0], 0)
        }
        let fused = fusedActivation(for: node.output[0])
        let (low, high) = (max(0, fused.min), min(1, fused.max))
        define(fused.output, shape: info.shape, layout: info.layout)
        emitXNN([scaled, betaID], [fused.output], origin: node.displayName) { xnn_define_add2($0, low, high, $1[0], $1[1], $2[0], 0) }
    }

    /// Pow with a constant exponent of 1, 2 or 0.5 (what normalisation layers write): a copy, XNNPACK's
    /// square or square root.
    func lowerPow(_ node: Onnx_NodeProto) throws {
        guard node.input.count == 2 else { throw unsupported(node, "needs a base and an exponent") }
        let exponent = try requireConstant(node.input[1], node: node, role: "exponent")
        guard exponent.count == 1, let power = exponent.values.first else {
            throw unsupported(node, "the exponent must be one value, got shape \(exponent.shape)")
        }
        switch power {
        case 1: aliases[node.output[0]] = resolve(node.input[0])
        case 2: try lowerUnary(node) { xnn_define_square($0, $1, $2, 0) }
        case 0.5: try lowerUnary(node) { xnn_define_square_root($0, $1, $2, 0) }
        default: throw unsupported(node, "exponent \(power) (only 1, 2 and 0.5 are supported)")
        }
    }

    /// Exp on the host (this XNNPACK has none), in the input's layout.
    func lowerExp(_ node: Onnx_NodeProto) throws {
        let (input, info) = try firstInput(node)
        let output = node.output[0]
        define(output, shape: info.shape, layout: info.layout)
        let count = info.count
        emitHost([input], [output], origin: node.displayName) { inputs, outputs in
            for index in 0..<count { outputs[0][index] = expf(inputs[0][index]) }
        }
    }

    /// PRelu with a constant slope: XNNPACK's when the slope is one value per channel (the last
    /// memory axis), else a host kernel over the slope broadcast to the input's shape.
    func lowerPRelu(_ node: Onnx_NodeProto) throws {
        let (input, info) = try firstInput(node)
        guard node.input.count == 2 else { throw unsupported(node, "needs a slope") }
        let slope = try requireConstant(node.input[1], node: node, role: "slope")
        let rank = info.shape.count
        guard slope.shape.count <= rank else { throw unsupported(node, "slope \(slope.shape) has a higher rank than \(info.shape)") }
        let padded = [Int](repeating: 1, count: rank - slope.shape.count) + slope.shape
        guard zip(padded, info.shape).allSatisfy({ $0 == $1 || $0 == 1 }) else {
            throw unsupported(node, "slope \(slope.shape) does not broadcast to \(info.shape)")
        }
        let output = node.output[0]
        define(output, shape: info.shape, layout: info.layout)
        let channelAxis = info.layout == .nhwc ? 1 : rank - 1
        let perChannel = padded.indices.allSatisfy { $0 == channelAxis || padded[$0] == 1 } && padded[channelAxis] == info.shape[channelAxis]
        if perChannel {
            let slopeValue = addConstant(slope.values, shape: [info.shape[channelAxis]], name: node.input[1])
            emitXNN([input, slopeValue], [output], origin: node.displayName) { xnn_define_prelu($0, $1[0], $1[1], $2[0], 0) }
            return
        }
        // Broadcast the slope to the full shape once, in the input's memory order.
        let strides = IndexGather.strides(of: padded)
        var full = [Float](repeating: 0, count: info.count)
        let logicalStrides = IndexGather.strides(of: info.shape)
        for index in 0..<info.count {
            var offset = 0
            for axis in 0..<rank where padded[axis] > 1 { offset += (index / logicalStrides[axis] % info.shape[axis]) * strides[axis] }
            full[index] = slope.values[offset]
        }
        let physical = physicalValues(full, shape: info.shape, layout: info.layout)
        let count = info.count
        emitHost([input], [output], origin: node.displayName) { inputs, outputs in
            for index in 0..<count {
                let x = inputs[0][index]
                outputs[0][index] = x < 0 ? x * physical[index] : x
            }
        }
    }
}
