import Foundation
import ONNXProto

/// Resize: nearest and linear interpolation of the spatial axes of a 4-D tensor.
extension GraphLowering {
    func lowerResize(_ node: Onnx_NodeProto) throws {
        let (inputName, info) = try firstInput(node)
        guard info.shape.count == 4 else { throw unsupported(node, "only 4-D inputs are resized, got \(info.shape)") }
        let mode = node.string("mode") ?? "nearest"
        guard mode == "nearest" || mode == "linear" else { throw unsupported(node, "mode '\(mode)' (nearest and linear are supported)") }
        let transform = model.opsetVersion < 11 ? "asymmetric" : node.string("coordinate_transformation_mode") ?? "half_pixel"
        let nearestMode = node.string("nearest_mode") ?? "round_prefer_floor"
        if node.int("antialias", default: 0) != 0 { throw unsupported(node, "antialias") }
        if let policy = node.string("keep_aspect_ratio_policy"), policy != "stretch" {
            throw unsupported(node, "keep_aspect_ratio_policy '\(policy)'")
        }
        if node.ints("axes") != nil { throw unsupported(node, "axes") }

        // Opset 10: (X, scales); 11+: (X, roi, scales, sizes), either scales or sizes given.
        let scalesIndex = model.opsetVersion < 11 ? 1 : 2
        var scales: [Float]?
        var sizes: [Int]?
        if node.input.count > scalesIndex, !node.input[scalesIndex].isEmpty {
            let given = try requireConstant(node.input[scalesIndex], node: node, role: "scales").values
            if !given.isEmpty { scales = given }
        }
        if node.input.count > 3, !node.input[3].isEmpty {
            let given = try requireConstant(node.input[3], node: node, role: "sizes").intValues
            if !given.isEmpty { sizes = given }
        }
        let shape: [Int]
        if let sizes {
            guard sizes.count == 4 else { throw unsupported(node, "sizes \(sizes) need 4 values") }
            shape = sizes
        } else if let scales {
            guard scales.count == 4, scales.allSatisfy({ $0 > 0 }) else { throw unsupported(node, "scales \(scales) need 4 positive values") }
            shape = zip(info.shape, scales).map { Int((Float($0) * $1).rounded(.down)) }
        } else {
            throw unsupported(node, "neither scales nor sizes")
        }
        guard shape[0] == info.shape[0], shape[1] == info.shape[1], shape.allSatisfy({ $0 > 0 }) else {
            throw unsupported(node, "only the spatial axes are resized (\(info.shape) to \(shape))")
        }
        // The scale the coordinate transform divides by: the given one, else output over input.
        let axisScale = { (axis: Int) -> Float in scales.map { $0[axis] } ?? Float(shape[axis]) / Float(info.shape[axis]) }
        let rows = try ResizeAxis(
            input: info.shape[2], output: shape[2], scale: axisScale(2), transform: transform, linear: mode == "linear", nearestMode: nearestMode,
            node: node.displayName)
        let columns = try ResizeAxis(
            input: info.shape[3], output: shape[3], scale: axisScale(3), transform: transform, linear: mode == "linear", nearestMode: nearestMode,
            node: node.displayName)
        let x = try ensure(inputName, .nhwc, origin: node.displayName)
        let output = node.output[0]
        define(output, shape: shape, layout: .nhwc)
        let (images, channels, width) = (info.shape[0], info.shape[1], info.shape[3])
        let height = info.shape[2]
        emitHost([x], [output], origin: node.displayName) { inputs, outputs in
            var out = outputs[0]
            for image in 0..<images {
                let source = inputs[0] + image * height * width * channels
                for row in 0..<rows.count {
                    let (y0, y1, wy) = (rows.low[row], rows.high[row], rows.weight[row])
                    for column in 0..<columns.count {
                        let (x0, x1, wx) = (columns.low[column], columns.high[column], columns.weight[column])
                        let a = source + (y0 * width + x0) * channels
                        let b = source + (y0 * width + x1) * channels
                        let c = source + (y1 * width + x0) * channels
                        let d = source + (y1 * width + x1) * channels
                        for channel in 0..<channels {
                            let top = a[channel] + (b[channel] - a[channel]) * wx
                            let bottom = c[channel] + (d[channel] - c[channel]) * wx
                            out[channel] = top + (bottom - top) * wy
                        }
                        out += channels
                    }
                }
            }
        }
    }
}

/// Where each output coordinate of one axis reads: two input coordinates and the weight of the
/// second (nearest is the same with weight 0).
struct ResizeAxis: Sendable {
    var low: [Int] = []
    var high: [Int] = []
    var weight: [Float] = []
    var count: Int { low.count }

    init(input: Int, output: Int, scale: Float, transform: String, linear: Bool, nearestMode: String, node: String) throws {
        for index in 0..<output {
            let x = Float(index)
            let original: Float
            switch transform {
            case "half_pixel": original = (x + 0.5) / scale - 0.5
            case "pytorch_half_pixel": original = output > 1 ? (x + 0.5) / scale - 0.5 : 0
            // The resized length is the input's times the scale, which need not be whole (ONNX).
            case "align_corners": original = output > 1 ? x * Float(input - 1) / (Float(input) * scale - 1) : 0
            case "asymmetric": original = x / scale
            case "tf_half_pixel_for_nn": original = (x + 0.5) / scale
            default: throw InferenceError.unsupportedAttribute(op: "Resize", node: node, detail: "coordinate_transformation_mode '\(transform)'")
            }
            if linear {
                // Beyond the edges the edge pixel repeats (as the ONNX reference pads by edge).
                let clamped = min(max(original, 0), Float(input - 1))
                let first = Int(clamped.rounded(.down))
                low.append(first)
                high.append(min(first + 1, input - 1))
                weight.append(clamped - Float(first))
            } else {
                let nearest: Float
                switch nearestMode {
                case "round_prefer_floor": nearest = original == original.rounded(.down) + 0.5 ? original.rounded(.down) : original.rounded()
                case "round_prefer_ceil": nearest = original.rounded(.toNearestOrAwayFromZero)
                case "floor": nearest = original.rounded(.down)
                case "ceil": nearest = original.rounded(.up)
                default: throw InferenceError.unsupportedAttribute(op: "Resize", node: node, detail: "nearest_mode '\(nearestMode)'")
                }
                let chosen = min(max(Int(nearest), 0), input - 1)
                low.append(chosen)
                high.append(chosen)
                weight.append(0)
            }
        }
    }
}
