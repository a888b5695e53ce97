/// How a tensor's elements are laid out in memory. ONNX shapes are always logical (NCHW for images);
/// XNNPACK's spatial operators want channels last, so 4-D activations are kept NHWC internally.
enum Layout: Sendable {
    /// Memory order equals the logical ONNX order.
    case plain
    /// A logical [N, C, H, W] tensor stored as [N, H, W, C].
    case nhwc
}

/// The memory shape of a logical shape in a layout.
func physicalShape(_ shape: [Int], _ layout: Layout) -> [Int] {
    switch layout {
    case .plain: return shape
    case .nhwc: return [shape[0], shape[2], shape[3], shape[1]]
    }
}

/// Whether NCHW and NHWC orders of this 4-D shape are the same bytes (a single channel, or a 1x1 image),
/// in which case switching layout is a free reinterpretation.
func layoutIsTrivial(_ shape: [Int]) -> Bool {
    shape.count == 4 && (shape[1] == 1 || shape[2] * shape[3] == 1)
}

/// Copies a [N, C, H, W] tensor into [N, H, W, C] order.
func transposeNCHWToNHWC(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, shape: [Int]) {
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    let plane = h * w
    for image in 0..<n {
        let src = source + image * c * plane
        let dst = destination + image * c * plane
        for channel in 0..<c {
            let srcPlane = src + channel * plane
            for pixel in 0..<plane {
                dst[pixel * c + channel] = srcPlane[pixel]
            }
        }
    }
}

/// Copies a [N, H, W, C] tensor into [N, C, H, W] order (`shape` is the logical NCHW shape).
func transposeNHWCToNCHW(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, shape: [Int]) {
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    let plane = h * w
    for image in 0..<n {
        let src = source + image * c * plane
        let dst = destination + image * c * plane
        for channel in 0..<c {
            let dstPlane = dst + channel * plane
            for pixel in 0..<plane {
                dstPlane[pixel] = src[pixel * c + channel]
            }
        }
    }
}

/// A constant's values rearranged for a layout (NCHW data to NHWC when needed).
func physicalValues(_ values: [Float], shape: [Int], layout: Layout) -> [Float] {
    guard layout == .nhwc, !layoutIsTrivial(shape) else { return values }
    var result = [Float](repeating: 0, count: values.count)
    values.withUnsafeBufferPointer { source in
        result.withUnsafeMutableBufferPointer { destination in
            if let s = source.baseAddress, let d = destination.baseAddress {
                transposeNCHWToNHWC(s, d, shape: shape)
            }
        }
    }
    return result
}
