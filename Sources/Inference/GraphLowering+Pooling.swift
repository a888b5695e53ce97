import CXNNPack
import Foundation
import ONNXProto

/// Pooling: global average, ReduceMean over space, average and max windows.
extension GraphLowering {
    func lowerGlobalAveragePool(_ node: Onnx_NodeProto, keepDims: Bool) throws {
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

    func lowerReduceMean(_ node: Onnx_NodeProto) throws {
        let (_, info) = try firstInput(node)
        var axes = node.ints("axes")
        if axes == nil, node.input.count > 1, !node.input[1].isEmpty {
            axes = try requireConstant(node.input[1], node: node, role: "axes").intValues
        }
        let rank = info.shape.count
        let keepDims = node.int("keepdims", default: 1) != 0
        if axes == nil || axes == [], node.int("noop_with_empty_axes", default: 0) != 0 {
            aliases[node.output[0]] = resolve(node.input[0])
            return
        }
        let normalized = Set((axes ?? Array(0..<rank)).map { $0 < 0 ? $0 + rank : $0 })
        guard normalized.allSatisfy({ (0..<rank).contains($0) }) else { throw unsupported(node, "axes \(axes ?? []) out of range for rank \(rank)") }
        if rank == 4, normalized == [2, 3] {
            try lowerGlobalAveragePool(node, keepDims: keepDims)
            return
        }
        try lowerReduceMean(node, axes: normalized, keepDims: keepDims)
    }

    /// The mean over any axes (a layer norm's last axis) as a host kernel on plain memory: each input
    /// element is added into its output slot, then every slot divided by the count it received.
    private func lowerReduceMean(_ node: Onnx_NodeProto, axes: Set<Int>, keepDims: Bool) throws {
        let (inputName, info) = try firstInput(node)
        let shape = info.shape
        let kept = shape.indices.map { axes.contains($0) ? 1 : shape[$0] }
        let outStrides = Self.broadcastStrides(kept).enumerated().map { axes.contains($0.offset) ? 0 : $0.element }
        let reduced = axes.map { shape[$0] }.reduce(1, *)
        let source = try plainMemory(inputName, origin: node.displayName)
        let output = node.output[0]
        define(output, shape: keepDims ? kept : shape.indices.filter { !axes.contains($0) }.map { shape[$0] }, layout: .plain)
        let (outCount, inCount) = (kept.reduce(1, *), info.count)
        if axes == [shape.count - 1] {
            // The common case, contiguous rows.
            let length = shape[shape.count - 1]
            emitHost([source], [output], origin: node.displayName) { inputs, outputs in
                for row in 0..<outCount {
                    var sum: Float = 0
                    for i in 0..<length { sum += inputs[0][row * length + i] }
                    outputs[0][row] = sum / Float(length)
                }
            }
            return
        }
        var targets: [Int] = []
        targets.reserveCapacity(inCount)
        Self.forEachPosition(shape) { position in
            var offset = 0
            for axis in position.indices { offset += position[axis] * outStrides[axis] }
            targets.append(offset)
        }
        let slots = targets
        emitHost([source], [output], origin: node.displayName) { inputs, outputs in
            outputs[0].initialize(repeating: 0, count: outCount)
            for index in 0..<inCount { outputs[0][slots[index]] += inputs[0][index] }
            for slot in 0..<outCount { outputs[0][slot] /= Float(reduced) }
        }
    }

    func lowerPool(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        guard info.shape.count == 4 else { throw unsupported(node, "only 2-D pooling (4-D input) is supported, input is \(info.shape)") }
        guard node.output.count == 1 || node.output.dropFirst().allSatisfy(\.isEmpty) else {
            throw unsupported(node, "the Indices output is not supported")
        }
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
            x = try emitConstantPad(x, before: [0, 0, pads[0], pads[1]], after: [0, 0, pads[2], pads[3]], origin: node.displayName)
            pads = [0, 0, 0, 0]
        }
        let fused = fusedActivation(for: node.output[0])
        define(fused.output, shape: [n, c, outSize[0], outSize[1]], layout: .nhwc)
        let p = pads.map { UInt32($0) }
        let k = kernel.map { UInt32($0) }
        let s = strides.map { UInt32($0) }
        let d = dilations.map { UInt32($0) }
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
}
