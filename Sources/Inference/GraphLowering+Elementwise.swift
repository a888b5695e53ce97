import CXNNPack
import Foundation
import ONNXProto

/// Elementwise operators: Relu/Clip, HardSwish, Sigmoid, Add/Sub/Mul/Div.
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
}
