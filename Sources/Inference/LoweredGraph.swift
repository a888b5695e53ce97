import CXNNPack

/// A tensor of the lowered graph: its logical ONNX shape, memory layout and, for constants, its data.
struct LoweredValue {
    var shape: [Int]
    var layout: Layout
    /// Constant data in physical order, owned by the plan's `ConstantStorage`.
    var constant: UnsafeMutablePointer<Float>?
    /// Set for a uint8 activation of a QDQ model run on the INT8 kernels (1 byte per element); nil: fp32.
    var quantization: ActivationQuantization?

    var physical: [Int] { physicalShape(shape, layout) }
    var count: Int { shape.reduce(1, *) }
    /// Floats of buffer the value needs (a uint8 value packs four elements into each).
    var bufferFloats: Int { quantization == nil ? count : (count + 3) / 4 }
}

/// Defines one XNNPACK node given the subgraph ids of its inputs and outputs.
typealias XNNDefine = (xnn_subgraph_t, [UInt32], [UInt32]) -> xnn_status

/// Runs a CPU kernel that XNNPACK (this version) lacks, on raw buffers.
typealias HostKernel = @Sendable ([UnsafePointer<Float>], [UnsafeMutablePointer<Float>]) -> Void

/// One operation after lowering: an XNNPACK subgraph node, a host kernel, or a convolution on CKernels.
struct LoweredOp {
    enum Kind {
        case xnn(XNNDefine)
        case host(HostKernel)
        /// Runs between XNNPACK runtimes like a host kernel, but on the session's thread pool.
        case kernel(any ConvolutionKernel)
    }
    var kind: Kind
    var inputs: [String]
    var outputs: [String]
    /// The ONNX node this came from, for error messages.
    var origin: String

    var isXNN: Bool {
        if case .xnn = kind { return true }
        return false
    }

    /// Runs on a CKernels convolution.
    var isCKernel: Bool { kernel != nil }
    var isPointwise: Bool { kernel is PointwiseConvolution }
    var isDepthwise: Bool { (kernel as? WindowedConvolution)?.kind == .depthwise }
    var isDense: Bool { (kernel as? WindowedConvolution)?.kind == .dense }
    var isQuantized: Bool { kernel is QuantizedConvolution }

    private var kernel: (any ConvolutionKernel)? {
        if case .kernel(let kernel) = kind { return kernel }
        return nil
    }
}

/// The whole model lowered for a fixed batch size: ops in execution order plus every value they touch.
struct LoweredGraph {
    var ops: [LoweredOp]
    var values: [String: LoweredValue]
    var input: String
    var inputShape: [Int]
    var output: String
    var storage: ConstantStorage
}
