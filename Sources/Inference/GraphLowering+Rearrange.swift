import CXNNPack
import Foundation
import ONNXProto

/// Operators that move elements: Transpose, Pad, Slice, Split.
extension GraphLowering {
    func lowerTranspose(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        let rank = info.shape.count
        let perm = (node.ints("perm") ?? Array((0..<rank).reversed())).map { $0 < 0 ? $0 + rank : $0 }
        guard perm.count == rank, Set(perm) == Set(0..<rank) else { throw unsupported(node, "perm \(perm) is not a permutation of \(rank) axes") }
        let shape = perm.map { info.shape[$0] }
        let output = node.output[0]
        // NCHW <-> NHWC between the two layouts moves no element: the memory is already in the
        // order asked for (models converted from TensorFlow transpose at their ends).
        let relabel: Layout? =
            rank == 4 && info.layout == .nhwc && perm == [0, 2, 3, 1]
            ? .plain : rank == 4 && info.layout == .plain && perm == [0, 3, 1, 2] ? .nhwc : nil
        if let relabel {
            define(output, shape: shape, layout: relabel)
            let dims = physicalShape(shape, relabel)
            emitXNN([inputName], [output], origin: node.displayName) { subgraph, inputs, outputs in
                dims.withUnsafeBufferPointer { xnn_define_static_reshape(subgraph, dims.count, $0.baseAddress, inputs[0], outputs[0], 0) }
            }
            return
        }
        let source = try plainMemory(inputName, origin: node.displayName)
        let strides = IndexGather.strides(of: info.shape)
        let gather = IndexGather(shape: shape, strides: perm.map { strides[$0] }, maps: shape.map { Array(0..<$0) })
        define(output, shape: shape, layout: .plain)
        emitHost([source], [output], origin: node.displayName) { inputs, outputs in gather.run(inputs[0], outputs[0]) }
    }

    func lowerPad(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        let rank = info.shape.count
        let mode = node.string("mode") ?? "constant"
        var pads: [Int]
        var fill: Float = 0
        if model.opsetVersion < 11 {
            guard let given = node.ints("pads") else { throw unsupported(node, "no pads") }
            pads = given
            fill = node.float("value", default: 0)
        } else {
            guard node.input.count > 1, !node.input[1].isEmpty else { throw unsupported(node, "no pads input") }
            pads = try requireConstant(node.input[1], node: node, role: "pads").intValues
            if node.input.count > 2, !node.input[2].isEmpty {
                fill = try requireConstant(node.input[2], node: node, role: "constant_value").values.first ?? 0
            }
            if node.input.count > 3, !node.input[3].isEmpty {
                // Opset 18's axes: pads for the listed axes only.
                let axes = try requireConstant(node.input[3], node: node, role: "axes").intValues.map { $0 < 0 ? $0 + rank : $0 }
                guard pads.count == 2 * axes.count, axes.allSatisfy({ (0..<rank).contains($0) }) else {
                    throw unsupported(node, "pads \(pads) do not match axes \(axes)")
                }
                var full = [Int](repeating: 0, count: 2 * rank)
                for (index, axis) in axes.enumerated() {
                    full[axis] = pads[index]
                    full[rank + axis] = pads[axes.count + index]
                }
                pads = full
            }
        }
        guard pads.count == 2 * rank else { throw unsupported(node, "pads \(pads) need \(2 * rank) values for rank \(rank)") }
        let before = Array(pads[..<rank])
        let after = Array(pads[rank...])
        let shape = (0..<rank).map { info.shape[$0] + before[$0] + after[$0] }
        guard shape.allSatisfy({ $0 > 0 }) else { throw unsupported(node, "pads \(pads) leave nothing of \(info.shape)") }
        if mode == "constant", pads.allSatisfy({ $0 >= 0 }) {
            try emitConstantPad(inputName, before: before, after: after, fill: fill, output: node.output[0], origin: node.displayName)
            return
        }
        let maps = try (0..<rank).map { axis -> [Int] in
            let size = info.shape[axis]
            return try (0..<shape[axis]).map { index in
                let source = index - before[axis]
                if (0..<size).contains(source) { return source }
                switch mode {
                case "constant": return -1
                case "edge": return min(max(source, 0), size - 1)
                case "wrap": return ((source % size) + size) % size
                case "reflect":
                    guard size > 1 else { return 0 }
                    let period = 2 * (size - 1)
                    let folded = ((source % period) + period) % period
                    return folded < size ? folded : period - folded
                default: throw unsupported(node, "mode '\(mode)'")
                }
            }
        }
        try emitGather(node, input: inputName, info: info, outputs: [(node.output[0], shape, maps)], fill: fill)
    }

    func lowerSlice(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        let maps = try sliceMaps(node, shape: info.shape)
        try emitGather(node, input: inputName, info: info, outputs: [(node.output[0], maps.map(\.count), maps)], fill: 0)
    }

    /// For each axis of an input of `shape`, the input positions a Slice node keeps, in output order.
    func sliceMaps(_ node: Onnx_NodeProto, shape: [Int]) throws -> [[Int]] {
        let rank = shape.count
        var starts: [Int]
        var ends: [Int]
        var axes: [Int]?
        var steps: [Int]?
        if model.opsetVersion < 10 {
            guard let s = node.ints("starts"), let e = node.ints("ends") else { throw unsupported(node, "no starts or ends") }
            (starts, ends, axes) = (s, e, node.ints("axes"))
        } else {
            guard node.input.count >= 3 else { throw unsupported(node, "needs starts and ends inputs") }
            starts = try requireConstant(node.input[1], node: node, role: "starts").intValues
            ends = try requireConstant(node.input[2], node: node, role: "ends").intValues
            if node.input.count > 3, !node.input[3].isEmpty { axes = try requireConstant(node.input[3], node: node, role: "axes").intValues }
            if node.input.count > 4, !node.input[4].isEmpty { steps = try requireConstant(node.input[4], node: node, role: "steps").intValues }
        }
        let sliced = (axes ?? Array(0..<starts.count)).map { $0 < 0 ? $0 + rank : $0 }
        let stepList = steps ?? [Int](repeating: 1, count: starts.count)
        guard starts.count == ends.count, sliced.count == starts.count, stepList.count == starts.count,
            sliced.allSatisfy({ (0..<rank).contains($0) }), Set(sliced).count == sliced.count
        else { throw unsupported(node, "starts \(starts), ends \(ends), axes \(sliced) and steps \(stepList) do not match rank \(rank)") }
        var maps = shape.map { Array(0..<$0) }
        for (index, axis) in sliced.enumerated() {
            let size = shape[axis]
            let step = stepList[index]
            guard step != 0 else { throw unsupported(node, "step 0") }
            var start = starts[index] < 0 ? starts[index] + size : starts[index]
            var end = ends[index] < 0 ? ends[index] + size : ends[index]
            if step > 0 {
                start = min(max(start, 0), size)
                end = min(max(end, 0), size)
            } else {
                start = min(max(start, 0), size - 1)
                end = min(max(end, -1), size - 1)
            }
            let count = max(0, (end - start + step + (step > 0 ? -1 : 1)) / step)
            guard count > 0 else { throw unsupported(node, "the slice of axis \(axis) is empty (empty tensors are not supported)") }
            maps[axis] = (0..<count).map { start + $0 * step }
        }
        return maps
    }

    func lowerSplit(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        let rank = info.shape.count
        var axis = node.int("axis", default: 0)
        if axis < 0 { axis += rank }
        guard (0..<rank).contains(axis) else { throw unsupported(node, "axis \(axis) out of range for rank \(rank)") }
        let size = info.shape[axis]
        let outputs = node.output
        var parts: [Int]
        if model.opsetVersion >= 13, node.input.count > 1, !node.input[1].isEmpty {
            parts = try requireConstant(node.input[1], node: node, role: "split").intValues
        } else if let given = node.ints("split") {
            parts = given
        } else {
            // Equal parts; opset 18 lets the last be smaller.
            let each = (size + outputs.count - 1) / outputs.count
            parts = (0..<outputs.count).map { min(each, max(0, size - $0 * each)) }
        }
        guard parts.count == outputs.count, parts.reduce(0, +) == size, parts.allSatisfy({ $0 > 0 }) else {
            throw unsupported(node, "parts \(parts) do not split \(size) into \(outputs.count) non-empty outputs")
        }
        var offset = 0
        var results: [(String, [Int], [[Int]])] = []
        for (part, name) in zip(parts, outputs) {
            var maps = info.shape.map { Array(0..<$0) }
            maps[axis] = Array(offset..<(offset + part))
            var shape = info.shape
            shape[axis] = part
            results.append((name, shape, maps))
            offset += part
        }
        try emitGather(node, input: inputName, info: info, outputs: results, fill: 0)
    }

    /// One host op gathering each output from the input by logical per-axis maps, computed in the
    /// input's own layout (an NHWC input gives NHWC outputs, with no transposes around the copy).
    func emitGather(
        _ node: Onnx_NodeProto, input: String, info: LoweredValue, outputs: [(name: String, shape: [Int], maps: [[Int]])], fill: Float
    ) throws {
        let layout: Layout = info.shape.count == 4 ? info.layout : .plain
        let order = layout == .nhwc ? [0, 2, 3, 1] : Array(info.shape.indices)
        let strides = IndexGather.strides(of: physicalShape(info.shape, layout))
        let gathers = outputs.map { output in
            IndexGather(shape: order.map { output.shape[$0] }, strides: strides, maps: order.map { output.maps[$0] }, fill: fill)
        }
        for output in outputs { define(output.name, shape: output.shape, layout: layout) }
        emitHost([input], outputs.map(\.name), origin: node.displayName) { inputs, results in
            for (index, gather) in gathers.enumerated() { gather.run(inputs[0], results[index]) }
        }
    }
}
