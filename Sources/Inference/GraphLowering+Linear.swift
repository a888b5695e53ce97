import CXNNPack
import Foundation
import ONNXProto

/// Fully connected layers: Gemm and MatMul.
extension GraphLowering {
    /// A fully connected layer: `weights` are [outputs, inputs] (already scaled).
    func emitFullyConnected(
        _ node: Onnx_NodeProto, input: String, inputShape: [Int], weights: [Float], outputs: Int,
        bias: [Float], matrixBias: [Float]?
    ) throws {
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
        } else if ownKernels, outShape.dropLast().reduce(1, *) >= 6 {
            // Many rows (a text line's positions into PP-OCR's 18,385 classes): our GEMM, as for 1x1
            // convolutions; XNNPACK's (Debian's build) spills an accumulator. A single row (a classifier's
            // head at batch 1) stays on XNNPACK, bound by reading the weights either way.
            let rows = outShape.dropLast().reduce(1, *)
            define(fused.output, shape: outShape, layout: .plain)
            let kernel = try PointwiseConvolution(
                pixels: rows, inputChannels: inputs, outputChannels: outputs, weights: weights, bias: bias, low: low, high: high)
            ops.append(LoweredOp(kind: .kernel(kernel), inputs: [x], outputs: [fused.output], origin: node.displayName))
        } else {
            define(fused.output, shape: outShape, layout: .plain)
            emitXNN([x, weightID, biasID], [fused.output], origin: node.displayName) {
                xnn_define_fully_connected($0, low, high, $1[0], $1[1], $1[2], $2[0], 0)
            }
        }
    }

    func lowerGemm(_ node: Onnx_NodeProto) throws {
        var (inputName, info) = try firstInput(node)
        guard info.shape.count == 2, node.input.count >= 2 else { throw unsupported(node, "A must be 2-D, got \(info.shape)") }
        let b = try requireConstant(node.input[1], node: node, role: "B")
        guard b.shape.count == 2 else { throw unsupported(node, "B must be 2-D") }
        let alpha = node.float("alpha", default: 1)
        let beta = node.float("beta", default: 1)
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

    func lowerMatMul(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        guard node.input.count == 2 else { throw unsupported(node, "needs two inputs") }
        if values[resolve(node.input[1])] != nil || (constant(node.input[1])?.shape.count ?? 2) > 2 {
            try lowerBatchedMatMul(node, a: inputName, aInfo: info)
            return
        }
        let b = try requireConstant(node.input[1], node: node, role: "B")
        guard b.shape.count == 2, info.shape.count >= 2, info.shape.last == b.shape[0] else {
            throw unsupported(node, "only [..., K] x [K, N] with a constant 2-D B is supported, got \(info.shape) x \(b.shape)")
        }
        let (k, n) = (b.shape[0], b.shape[1])
        var weights = [Float](repeating: 0, count: n * k)
        for out in 0..<n { for i in 0..<k { weights[out * k + i] = b.values[i * n + out] } }
        try emitFullyConnected(
            node, input: inputName, inputShape: info.shape, weights: weights, outputs: n,
            bias: [Float](repeating: 0, count: n), matrixBias: nil)
    }

    /// MatMul of two computed tensors ([..., M, K] x [..., K, N], leading axes broadcast), as attention
    /// blocks write (queries x keys, weights x values): a host kernel, since the operands are small
    /// (a text line's few dozen positions) and this XNNPACK has no batched matrix multiply.
    func lowerBatchedMatMul(_ node: Onnx_NodeProto, a: String, aInfo: LoweredValue) throws {
        let bInfo = try value(node.input[1], node: node)
        guard aInfo.shape.count >= 2, bInfo.shape.count >= 2 else {
            throw unsupported(node, "both operands need at least 2 axes, got \(aInfo.shape) x \(bInfo.shape)")
        }
        let (m, k) = (aInfo.shape[aInfo.shape.count - 2], aInfo.shape[aInfo.shape.count - 1])
        let (k2, n) = (bInfo.shape[bInfo.shape.count - 2], bInfo.shape[bInfo.shape.count - 1])
        guard k == k2 else { throw unsupported(node, "\(aInfo.shape) x \(bInfo.shape): inner sizes differ") }
        let (batch, padded) = try broadcast(Array(aInfo.shape.dropLast(2)), Array(bInfo.shape.dropLast(2)), node: node)
        let (aStrides, bStrides) = (Self.broadcastStrides(padded[0]), Self.broadcastStrides(padded[1]))
        var pairs: [(Int, Int)] = []
        Self.forEachPosition(batch) { position in
            var (i, j) = (0, 0)
            for axis in position.indices {
                i += position[axis] * aStrides[axis]
                j += position[axis] * bStrides[axis]
            }
            pairs.append((i * m * k, j * k * n))
        }
        let offsets = pairs
        let x = try plainMemory(a, origin: node.displayName)
        let y = try materialize(node.input[1], layout: .plain) ?? plainMemory(resolve(node.input[1]), origin: node.displayName)
        let output = node.output[0]
        define(output, shape: batch + [m, n], layout: .plain)
        emitHost([x, y], [output], origin: node.displayName) { inputs, outputs in
            for (index, (aOffset, bOffset)) in offsets.enumerated() {
                let (left, right, out) = (inputs[0] + aOffset, inputs[1] + bOffset, outputs[0] + index * m * n)
                for row in 0..<m {
                    let target = out + row * n
                    target.initialize(repeating: 0, count: n)
                    for inner in 0..<k {
                        let scale = left[row * k + inner]
                        let source = right + inner * n
                        for column in 0..<n { target[column] += scale * source[column] }
                    }
                }
            }
        }
    }
}
