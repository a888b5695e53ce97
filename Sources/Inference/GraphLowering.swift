import CXNNPack
import Foundation
import ONNXProto

/// Turns an ONNX graph into XNNPACK nodes (NHWC) plus the few host kernels XNNPACK lacks,
/// inferring every shape for a fixed batch size.
final class GraphLowering {
    let model: ONNXModel
    let batchSize: Int
    var nodes: [Onnx_NodeProto]
    var constants: [String: ConstantTensor] = [:]
    var values: [String: LoweredValue] = [:]
    var ops: [LoweredOp] = []
    var aliases: [String: String] = [:]
    var conversions: [String: String] = [:]
    var consumerCount: [String: Int] = [:]
    var consumerIndex: [String: Int] = [:]
    var skipped = Set<Int>()
    var graphOutputs = Set<String>()
    var counter = 0
    /// The batch size fixed in the file's input declaration, if any (exporters bake it into Reshape targets).
    var declaredBatch: Int?
    let storage = ConstantStorage()
    /// Whether 1x1 convolutions go to the CKernels GEMM rather than XNNPACK.
    let ownKernels: Bool
    /// The input's axes after the batch, for a model whose declaration leaves some open.
    let inputSize: [Int]?
    /// The INT8 kernels a QDQ model's quantized runs go to (see `QuantizedConvolution.cpuLevel`); 0 runs
    /// its fp32 emulation instead.
    let int8Level: Int
    var quantizedKernels: Bool { int8Level > 0 }
    /// Quantized constants (int8 weights) by the name of their DequantizeLinear's output, for the INT8 kernels.
    var quantizedConstants: [String: (tensor: ConstantTensor, quantization: Quantization)] = [:]
    /// A DequantizeLinear's output → the uint8 value it reads and its parameters: INT8 kernels read the bytes.
    var dequantizedSource: [String: (name: String, quantization: ActivationQuantization)] = [:]
    /// The nodes reading each name (not skipped ones), built when first needed.
    var readersByName: [String: [Int]]?

    init(
        model: ONNXModel, batchSize: Int, inputSize: [Int]? = nil, ownKernels: Bool = PointwiseConvolution.isSupported,
        int8Level: Int = QuantizedConvolution.cpuLevel
    ) {
        self.model = model
        self.batchSize = batchSize
        self.inputSize = inputSize
        self.nodes = model.proto.graph.node
        self.ownKernels = ownKernels && PointwiseConvolution.isSupported
        self.int8Level = self.ownKernels ? min(max(0, int8Level), QuantizedConvolution.cpuLevel) : 0
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
            throw InferenceError.invalidModel(
                detail: "the graph has \(inputs.count) inputs (\(inputs.joined(separator: ", "))); only single-input models are supported")
        }
        var inputShape = try declaredInputShape(inputName)
        values[inputName] = LoweredValue(shape: inputShape, layout: inputShape.count == 4 ? .nhwc : .plain)
        if let channelsFirst = foldChannelsLastInput(inputName, declared: inputShape) { inputShape = channelsFirst }

        countConsumers()
        try foldBatchNormalization()
        countConsumers()
        for (index, node) in nodes.enumerated() where !skipped.contains(index) {
            try lowerNode(node, index: index)
        }

        guard let outputName = graph.output.first?.name else {
            throw InferenceError.invalidModel(detail: "the graph has no output")
        }
        var resolved = resolve(outputName)
        if values[resolved]?.quantization != nil { resolved = try widenQuantized(resolved, origin: "graph output") }
        if values[resolved] == nil, constants[resolved] != nil, let folded = materialize(resolved, layout: .plain) {
            resolved = folded  // the whole output was folded (a Shape): hand out its values
        }
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

    /// A model converted from TensorFlow declares its image input channels-last ([N, H, W, C]) and
    /// transposes it to [N, C, H, W] first. When every reader of the input is that transpose, the
    /// input is taken as the NCHW image it becomes, stored NHWC as every 4-D value is: the pixels
    /// go in as given and neither transpose runs. Returns the input's new logical shape.
    func foldChannelsLastInput(_ inputName: String, declared: [Int]) -> [Int]? {
        guard declared.count == 4 else { return nil }
        let readers = nodes.indices.filter { nodes[$0].input.contains(inputName) }
        guard !readers.isEmpty,
            readers.allSatisfy({ nodes[$0].opType == "Transpose" && nodes[$0].ints("perm") == [0, 3, 1, 2] && nodes[$0].output.count == 1 })
        else { return nil }
        let shape = [declared[0], declared[3], declared[1], declared[2]]
        values[inputName] = LoweredValue(shape: shape, layout: .nhwc)
        for index in readers {
            aliases[nodes[index].output[0]] = inputName
            skipped.insert(index)
        }
        return shape
    }

    // MARK: - Operators

    /// Every operator `lowerNode` takes (for error messages); keep in step with its switch.
    static let supportedOperators: Set<String> = foldableOperators.union([
        "Conv", "ConvTranspose", "BatchNormalization", "Relu", "Clip", "HardSwish", "HardSigmoid", "Sigmoid", "Sqrt", "Pow", "Exp",
        "PRelu", "GlobalAveragePool", "ReduceMean", "AveragePool", "MaxPool", "Gemm", "MatMul", "Softmax", "Pad", "Split", "Resize",
        "Upsample", "Dropout", "Constant", "QuantizeLinear", "DequantizeLinear",
    ])

    func lowerNode(_ node: Onnx_NodeProto, index: Int) throws {
        guard node.domain.isEmpty || node.domain == "ai.onnx" else {
            throw InferenceError.unsupportedOperator(op: "\(node.domain).\(node.opType)", node: node.displayName)
        }
        if try foldIfConstant(node) { return }
        switch node.opType {
        case "Conv": try lowerConv(node)
        case "BatchNormalization": try lowerBatchNorm(node)
        case "Relu": try lowerClamp(node, min: 0, max: .infinity)
        case "Clip":
            let bounds = try clipBounds(node)
            try lowerClamp(node, min: bounds.min, max: bounds.max)
        case "HardSwish": try lowerUnary(node) { xnn_define_hardswish($0, $1, $2, 0) }
        case "Sigmoid": try lowerUnary(node) { xnn_define_sigmoid($0, $1, $2, 0) }
        case "HardSigmoid": try lowerHardSigmoid(node)
        case "Sqrt": try lowerUnary(node) { xnn_define_square_root($0, $1, $2, 0) }
        case "Pow": try lowerPow(node)
        case "ConvTranspose": try lowerConvTranspose(node)
        case "Add" where lowerQuantizedAdd(node): break
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
        case "Transpose": try lowerTranspose(node)
        case "Pad": try lowerPad(node)
        case "Slice": try lowerSlice(node)
        case "Split": try lowerSplit(node)
        case "Resize", "Upsample": try lowerResize(node)
        case "Exp": try lowerExp(node)
        case "PRelu": try lowerPRelu(node)
        case "QuantizeLinear": try lowerQuantize(node)
        case "DequantizeLinear": try lowerDequantize(node)
        case "Cast" where [1, 10, 11, 16].contains(node.int("to", default: 1)):
            // Every computed value is float already.
            aliases[node.output[0]] = resolve(node.input[0])
        case "Cast", "Gather":
            throw unsupported(node, "only supported on constants (shape arithmetic folded while lowering), not on a value computed at run time")
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

    func firstInput(_ node: Onnx_NodeProto) throws -> (name: String, value: LoweredValue) {
        guard let input = node.input.first, !input.isEmpty, node.output.first != nil else {
            throw InferenceError.invalidModel(detail: "node '\(node.displayName)' lacks an input or output")
        }
        let found = try value(input, node: node)
        if found.constant == nil, values[resolve(input)] == nil {
            throw InferenceError.unsupportedAttribute(
                op: node.opType, node: node.displayName, detail: "input '\(input)' is a constant; constant folding is not supported")
        }
        return (resolve(input), found)
    }

    func unsupported(_ node: Onnx_NodeProto, _ detail: String) -> InferenceError {
        InferenceError.unsupportedAttribute(op: node.opType, node: node.displayName, detail: detail)
    }

}
