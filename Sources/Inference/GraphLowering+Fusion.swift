import CXNNPack
import Foundation
import ONNXProto

/// Fusion: activations into their producer, BatchNormalization into its Conv.
extension GraphLowering {
    /// If the only consumer of `output` is a Relu or a Clip with constant bounds, skips that node and returns its
    /// bounds and output name, so the producing XNNPACK node clamps for free.
    func fusedActivation(for output: String) -> (min: Float, max: Float, output: String) {
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

    /// What our convolution kernels do after the sum, in their store (see CKernels' ck_epilogue).
    struct Epilogue {
        /// A scalar Add right after the convolution, folded into its bias.
        var biasShift: Float = 0
        var low: Float = -.infinity
        var high: Float = .infinity
        /// HardSwish, then y * scale + shift (scalar Mul and Add after it; 1 and 0 when absent).
        var hardSwish: (scale: Float, shift: Float)?
        /// The value the kernel writes (the last fused node's output).
        var output: String

        /// Nothing fused but a clamp.
        var isPlain: Bool { biasShift == 0 && hardSwish == nil }
    }

    /// The nodes after a convolution's `output` that its kernel can do in its store, marked skipped:
    /// [Add scalar] then Relu/Clip, or [Add scalar] then HardSwish [Mul scalar] [Add scalar], which is how
    /// PP-LCNet writes every block (its "learnable affine" after each activation). Each link must be the
    /// only reader of the value before it.
    func fusedEpilogue(for output: String) -> Epilogue {
        var epilogue = Epilogue(output: output)
        if let (index, value) = scalarOperation("Add", reading: output) {
            skipped.insert(index)
            epilogue.biasShift = value
            epilogue.output = nodes[index].output[0]
        }
        let clamp = fusedActivation(for: epilogue.output)
        if clamp.output != epilogue.output {
            (epilogue.low, epilogue.high, epilogue.output) = (clamp.min, clamp.max, clamp.output)
            return epilogue
        }
        guard let index = soleReader(of: epilogue.output), nodes[index].opType == "HardSwish", nodes[index].input.first == epilogue.output
        else { return epilogue }
        skipped.insert(index)
        epilogue.output = nodes[index].output[0]
        var (scale, shift): (Float, Float) = (1, 0)
        if let (mul, value) = scalarOperation("Mul", reading: epilogue.output) {
            skipped.insert(mul)
            scale = value
            epilogue.output = nodes[mul].output[0]
        }
        if let (add, value) = scalarOperation("Add", reading: epilogue.output) {
            skipped.insert(add)
            shift = value
            epilogue.output = nodes[add].output[0]
        }
        epilogue.hardSwish = (scale, shift)
        return epilogue
    }

    /// The index of the one node reading `name`, when nothing else (not even the graph output) does.
    func soleReader(of name: String) -> Int? {
        guard !graphOutputs.contains(name), consumerCount[name] == 1, let index = consumerIndex[name] else { return nil }
        return index
    }

    /// When the sole reader of `name` is `op` (Add or Mul) of it and a one-element constant, that node and the value.
    func scalarOperation(_ op: String, reading name: String) -> (index: Int, value: Float)? {
        guard let index = soleReader(of: name) else { return nil }
        let node = nodes[index]
        guard node.opType == op, node.input.count == 2, node.output.count == 1, node.input.contains(name) else { return nil }
        let other = node.input[0] == name ? node.input[1] : node.input[0]
        guard other != name, values[resolve(other)] == nil, let constant = constant(other), constant.count == 1 else { return nil }
        return (index, constant.values[0])
    }

    func clipBounds(_ node: Onnx_NodeProto) throws -> (min: Float, max: Float) {
        if model.opsetVersion < 11 {
            return (node.float("min", default: -.infinity), node.float("max", default: .infinity))
        }
        var low = -Float.infinity
        var high = Float.infinity
        if node.input.count > 1, !node.input[1].isEmpty {
            let tensor = try requireConstant(node.input[1], node: node, role: "min")
            guard tensor.count == 1 else {
                throw InferenceError.unsupportedAttribute(op: "Clip", node: node.displayName, detail: "min must be a scalar")
            }
            low = tensor.values[0]
        }
        if node.input.count > 2, !node.input[2].isEmpty {
            let tensor = try requireConstant(node.input[2], node: node, role: "max")
            guard tensor.count == 1 else {
                throw InferenceError.unsupportedAttribute(op: "Clip", node: node.displayName, detail: "max must be a scalar")
            }
            high = tensor.values[0]
        }
        return (low, high)
    }

    /// Folds inference-mode BatchNormalization into the Conv feeding it (new weights and bias), the usual
    /// exporter leftover; the BN node disappears.
    func foldBatchNormalization() throws {
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
                let mean = constant(node.input[3]), let variance = constant(node.input[4])
            else { continue }
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
}
