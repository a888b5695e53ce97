import CXNNPack
import Foundation
import ONNXProto

/// QuantizeLinear and DequantizeLinear, the operators of QDQ models (onnxruntime's quantizer,
/// Scripts/quantize_model.py). Quantized constants (int8 weights, int32 biases) are dequantized
/// once, here; an activation's quantize and dequantize run in fp32 with ONNX's exact arithmetic
/// (divide by the scale, round half to even, add the zero point, saturate), the integer values
/// held exactly as floats. So a QDQ file gives the outputs its arithmetic defines, on the fp32
/// kernels. With the INT8 kernels (GraphLowering+QuantizedKernels.swift) the uint8 values are kept as bytes
/// and Dequantize → Conv → Quantize runs go to them instead.
extension GraphLowering {
    /// A quantizer's scale and zero point: one of each, or one per index of `axis`.
    struct Quantization {
        var scales: [Float]
        var zeroPoints: [Float]
        var axis: Int?
        /// The quantized type's range (uint8 when the zero point is absent, as ONNX says).
        var range: ClosedRange<Int>
    }

    func quantization(_ node: Onnx_NodeProto, rank: Int) throws -> Quantization {
        guard node.input.count >= 2, !node.input[1].isEmpty else { throw unsupported(node, "needs a scale") }
        let scale = try requireConstant(node.input[1], node: node, role: "scale")
        guard scale.count >= 1, scale.values.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw unsupported(node, "scales must be positive and finite")
        }
        var zeroPoints = [Float](repeating: 0, count: scale.count)
        var range = 0...255
        if node.input.count > 2, !node.input[2].isEmpty {
            let zeroPoint = try requireConstant(node.input[2], node: node, role: "zero point")
            guard zeroPoint.count == scale.count else { throw unsupported(node, "\(zeroPoint.count) zero points for \(scale.count) scales") }
            zeroPoints = zeroPoint.values
            range = zeroPoint.quantizedRange ?? Int(Int32.min)...Int(Int32.max)
        }
        guard scale.count > 1 else { return Quantization(scales: scale.values, zeroPoints: zeroPoints, axis: nil, range: range) }
        var axis = node.int("axis", default: 1)
        if axis < 0 { axis += rank }
        guard (0..<rank).contains(axis) else { throw unsupported(node, "axis \(node.int("axis", default: 1)) for rank \(rank)") }
        return Quantization(scales: scale.values, zeroPoints: zeroPoints, axis: axis, range: range)
    }

    /// The scale and zero point index of each element of a tensor of `shape`.
    private func parameterIndex(_ quantization: Quantization, shape: [Int], node: Onnx_NodeProto) throws -> (Int) -> Int {
        guard let axis = quantization.axis else { return { _ in 0 } }
        guard shape.count > axis, shape[axis] == quantization.scales.count else {
            throw unsupported(node, "\(quantization.scales.count) scales along axis \(axis) of shape \(shape)")
        }
        let inner = shape[(axis + 1)...].reduce(1, *)
        let count = quantization.scales.count
        return { ($0 / inner) % count }
    }

    func lowerDequantize(_ node: Onnx_NodeProto) throws {
        guard let first = node.input.first, let output = node.output.first else { throw unsupported(node, "needs an input and an output") }
        if values[resolve(first)] == nil, let tensor = constant(first) {
            // Quantized weights or a bias: dequantized once.
            let quantization = try quantization(node, rank: tensor.shape.count)
            let index = try parameterIndex(quantization, shape: tensor.shape, node: node)
            let dequantized = tensor.values.indices.map { i in
                (tensor.values[i] - quantization.zeroPoints[index(i)]) * quantization.scales[index(i)]
            }
            constants[output] = ConstantTensor(shape: tensor.shape, values: dequantized)
            quantizedConstants[output] = (tensor, quantization)
            return
        }
        let (input, info) = try firstInput(node)
        let quantization = try quantization(node, rank: info.shape.count)
        guard quantization.axis == nil else { throw unsupported(node, "per-axis dequantization of a value computed at run time") }
        if info.quantization != nil {
            try lowerDequantizeOfBytes(node, source: input, quantization: quantization)
            return
        }
        let (scale, zeroPoint) = scalars(quantization, for: output, like: info)
        let centred = freshName(output)
        define(centred, shape: info.shape, layout: info.layout)
        emitXNN([input, zeroPoint], [centred], origin: node.displayName) {
            xnn_define_subtract($0, -.infinity, .infinity, $1[0], $1[1], $2[0], 0)
        }
        // A Relu or Clip after it narrows the multiply's output bounds instead of running apart.
        let fused = fusedActivation(for: output)
        define(fused.output, shape: info.shape, layout: info.layout)
        let (low, high) = (fused.min, fused.max)
        emitXNN([centred, scale], [fused.output], origin: node.displayName) { xnn_define_multiply2($0, low, high, $1[0], $1[1], $2[0], 0) }
    }

    func lowerQuantize(_ node: Onnx_NodeProto) throws {
        guard let first = node.input.first, let output = node.output.first else { throw unsupported(node, "needs an input and an output") }
        if values[resolve(first)] == nil, let tensor = constant(first) {
            let quantization = try quantization(node, rank: tensor.shape.count)
            let index = try parameterIndex(quantization, shape: tensor.shape, node: node)
            let (low, high) = (Float(quantization.range.lowerBound), Float(quantization.range.upperBound))
            let quantized = tensor.values.indices.map { i in
                min(high, max(low, (tensor.values[i] / quantization.scales[index(i)]).rounded(.toNearestOrEven) + quantization.zeroPoints[index(i)]))
            }
            constants[output] = ConstantTensor(shape: tensor.shape, values: quantized)
            return
        }
        let (input, info) = try firstInput(node)
        let quantization = try quantization(node, rank: info.shape.count)
        guard quantization.axis == nil else { throw unsupported(node, "per-axis quantization of a value computed at run time") }
        if quantizedKernels, quantization.range == 0...255, info.quantization == nil {
            lowerQuantizeToBytes(node, input: input, quantization: quantization)
            return
        }
        let (scale, zeroPoint) = scalars(quantization, for: output, like: info)
        let divided = freshName(output)
        define(divided, shape: info.shape, layout: info.layout)
        // A division, not a multiply by the reciprocal: the rounding that follows must see x / scale exactly.
        emitXNN([input, scale], [divided], origin: node.displayName) { xnn_define_divide($0, -.infinity, .infinity, $1[0], $1[1], $2[0], 0) }
        let rounded = freshName(output)
        define(rounded, shape: info.shape, layout: info.layout)
        emitXNN([divided], [rounded], origin: node.displayName) { xnn_define_bankers_rounding($0, $1[0], $2[0], 0) }
        define(output, shape: info.shape, layout: info.layout)
        let (low, high) = (Float(quantization.range.lowerBound), Float(quantization.range.upperBound))
        emitXNN([rounded, zeroPoint], [output], origin: node.displayName) { xnn_define_add2($0, low, high, $1[0], $1[1], $2[0], 0) }
    }

    /// The per-tensor scale and zero point as constants broadcastable to `info`'s shape.
    private func scalars(_ quantization: Quantization, for output: String, like info: LoweredValue) -> (scale: String, zeroPoint: String) {
        let ones = [Int](repeating: 1, count: info.shape.count)
        return (
            addConstant([quantization.scales[0]], shape: ones, layout: info.layout, name: "\(output).scale"),
            addConstant([quantization.zeroPoints[0]], shape: ones, layout: info.layout, name: "\(output).zero_point")
        )
    }
}
