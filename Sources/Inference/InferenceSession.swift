import CXNNPack
import Foundation
import Logging

/// A model compiled for XNNPACK at a fixed batch size and thread count, with all memory allocated up front.
///
/// Reusable for any number of `run` calls. Calls are serialized by an internal lock, so sharing a session
/// between tasks is safe, but only one image batch runs at a time: give each concurrent worker its own session.
public final class InferenceSession: @unchecked Sendable {
    /// The input shape in ONNX order (NCHW for images), batch axis included.
    public let inputShape: [Int]
    /// Number of output floats per batch item (e.g. 1000 logits).
    public let outputCount: Int
    /// The output's shape in ONNX order, batch axis included (e.g. [1, 1, 480, 640] for a text detector's map).
    public let outputShape: [Int]
    /// The batch size the session was built for.
    public let batchSize: Int
    /// Floats per batch item of the tapped value (0 without a tap).
    public let tapCount: Int

    private enum Step {
        case xnn(xnn_runtime_t)
        case host(HostKernel, inputs: [UnsafePointer<Float>], outputs: [UnsafeMutablePointer<Float>])
        case kernel(
            any ConvolutionKernel, input: UnsafePointer<Float>, residual: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, last: Bool)
    }

    private let lock = NSLock()
    private var steps: [Step] = []
    /// What each step runs (its ONNX nodes), and its run times in nanoseconds while profiling is on.
    private var stepNames: [String] = []
    private var stepSamples: [[UInt64]] = []
    private var profiling = false
    private var runtimes: [xnn_runtime_t] = []
    private var buffers: [UnsafeMutablePointer<Float>] = []
    private var threadpool: pthreadpool_t?
    /// The shared pool the session runs on, kept alive with it; nil when the session owns `threadpool`.
    private let sharedThreads: InferenceThreads?
    private let storage: ConstantStorage
    private let inputBuffer: UnsafeMutablePointer<Float>
    private let inputCount: Int
    private let inputIsNHWC: Bool
    private let outputBuffer: UnsafeMutablePointer<Float>
    private let outputTotal: Int
    private let tapBuffer: UnsafeMutablePointer<Float>?

    /// The INT8 kernels this CPU runs QDQ models on: 2 AVX-512 VNNI, 1 AVX2, 0 none (a QDQ model then runs its
    /// fp32 emulation, correct but slower than the fp32 model).
    public static var int8KernelLevel: Int { QuantizedConvolution.cpuLevel }

    /// Compiles `model` for `batchSize` images using `threads` threads (1 runs on the caller's thread).
    ///
    /// `tap` names an intermediate value (e.g. a classifier's pooled features) to keep in its own
    /// buffer, readable with `runReadingTap`; nil taps nothing. `inputSize` gives the input's axes after the
    /// batch (e.g. [3, 48, 320]) for a model that leaves some of them open (a text detector or recognizer
    /// takes any image size); axes the file fixes must match. Shapes the graph computes from its input are
    /// folded for that size, so a session serves one input size: make one per size.
    public convenience init(
        model: ONNXModel, batchSize: Int, threads: Int, inputSize: [Int]? = nil, tap: String? = nil,
        logger: Logger = Logger(label: "Inference")
    ) throws {
        try self.init(
            model: model, batchSize: batchSize, threads: threads, ownKernels: PointwiseConvolution.isSupported, inputSize: inputSize,
            tap: tap, logger: logger)
    }

    /// As above, on `pool`'s threads (shared with other sessions) instead of a pool of its own.
    public convenience init(
        model: ONNXModel, batchSize: Int, pool: InferenceThreads, inputSize: [Int]? = nil, tap: String? = nil,
        logger: Logger = Logger(label: "Inference")
    ) throws {
        try self.init(
            model: model, batchSize: batchSize, threads: pool.count, ownKernels: PointwiseConvolution.isSupported, inputSize: inputSize,
            tap: tap, pool: pool, logger: logger)
    }

    /// As the public initializer; `ownKernels: false` keeps every convolution on XNNPACK, `int8Level` picks the INT8
    /// kernels of a QDQ model (2 VNNI, 1 AVX2, 0 its fp32 emulation; capped at what the CPU has), for comparisons.
    init(
        model: ONNXModel, batchSize: Int, threads: Int, ownKernels: Bool, int8Level: Int = QuantizedConvolution.cpuLevel,
        inputSize: [Int]? = nil, tap: String? = nil, pool: InferenceThreads? = nil, logger: Logger = Logger(label: "Inference")
    ) throws {
        guard batchSize >= 1, threads >= 1 else {
            throw InferenceError.invalidModel(detail: "batch size (\(batchSize)) and threads (\(threads)) must be at least 1")
        }
        let status = xnn_initialize(nil)
        guard status == xnn_status_success else { throw InferenceError.backend(call: "xnn_initialize", status: Int(status.rawValue)) }

        var graph = try GraphLowering(
            model: model, batchSize: batchSize, inputSize: inputSize, ownKernels: ownKernels, int8Level: int8Level
        ).lower()
        graph.ops = Self.liveOps(graph.ops, needed: [graph.output] + (tap.map { [$0] } ?? []))
        self.batchSize = batchSize
        storage = graph.storage
        inputShape = graph.inputShape
        guard let inputValue = graph.values[graph.input], let outputValue = graph.values[graph.output] else {
            throw InferenceError.invalidModel(detail: "lowering lost the graph input or output")
        }
        inputCount = inputValue.count
        inputIsNHWC = inputValue.layout == .nhwc
        outputTotal = outputValue.count
        outputCount = outputValue.count / batchSize
        outputShape = outputValue.shape
        if let tap {
            guard let tapValue = graph.values[tap], tapValue.constant == nil, tapValue.quantization == nil, tapValue.count % batchSize == 0 else {
                throw InferenceError.invalidModel(detail: "no computed value '\(tap)' to tap")
            }
            tapCount = tapValue.count / batchSize
        } else {
            tapCount = 0
        }
        sharedThreads = pool
        if let pool {
            threadpool = pool.pool
        } else if threads > 1 {
            threadpool = pthreadpool_create(threads)
            if threadpool == nil { throw InferenceError.backend(call: "pthreadpool_create(\(threads))", status: -1) }
        }

        // Group consecutive XNNPACK ops into one subgraph each; a value crossing a step boundary gets a buffer.
        var stepOf: [Int] = []
        var step = -1
        for (index, op) in graph.ops.enumerated() {
            if index == 0 || !op.isXNN || !graph.ops[index - 1].isXNN { step += 1 }
            stepOf.append(step)
        }
        var producer: [String: Int] = [graph.input: -1]
        for (index, op) in graph.ops.enumerated() { for output in op.outputs { producer[output] = stepOf[index] } }
        var boundary: Set<String> = [graph.input, graph.output]
        // A tapped value leaves its XNNPACK subgraph and keeps its buffer to the end of the run.
        if let tap { boundary.insert(tap) }
        // Outputs of steps outside XNNPACK always get a buffer, even when nothing reads them.
        for op in graph.ops where !op.isXNN { boundary.formUnion(op.outputs) }
        for (index, op) in graph.ops.enumerated() {
            for input in op.inputs where graph.values[input]?.constant == nil && producer[input] != stepOf[index] {
                boundary.insert(input)
            }
        }
        // Boundary tensors share a few buffers (see BufferPlan): live from their producing step to their last reader.
        var lastReader: [String: Int] = [graph.output: Int.max]
        if let tap { lastReader[tap] = Int.max }
        for (index, op) in graph.ops.enumerated() {
            for input in op.inputs where boundary.contains(input) { lastReader[input] = max(lastReader[input] ?? -1, stepOf[index]) }
        }
        let plan = BufferPlan(
            boundary.compactMap { name -> BufferPlan.Tensor? in
                guard let value = graph.values[name], value.constant == nil, let first = producer[name] else { return nil }
                return BufferPlan.Tensor(name: name, count: value.bufferFloats, first: first, last: lastReader[name] ?? first)
            })
        let owned = plan.capacities.map { capacity -> UnsafeMutablePointer<Float> in
            // XNNPACK reads up to XNN_EXTRA_BYTES past tensors (16 floats cover it); 64-byte alignment keeps the
            // CKernels' vector loads within cache lines.
            let bytes = (capacity + 16) * MemoryLayout<Float>.stride
            let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            return raw.bindMemory(to: Float.self, capacity: capacity + 16)
        }
        var pointer: [String: UnsafeMutablePointer<Float>] = [:]
        for (name, index) in plan.assignment { pointer[name] = owned[index] }
        buffers = owned
        guard let input = pointer[graph.input], let output = pointer[graph.output] else {
            throw InferenceError.invalidModel(detail: "no buffer for the graph input or output")
        }
        inputBuffer = input
        outputBuffer = output
        tapBuffer = tap.flatMap { pointer[$0] }

        var start = 0
        while start < graph.ops.count {
            var end = start
            while end < graph.ops.count && stepOf[end] == stepOf[start] { end += 1 }
            let slice = Array(graph.ops[start..<end])
            let op = slice[0]
            stepNames.append(slice.map(\.origin).joined(separator: " + "))
            func buffers() throws -> (inputs: [UnsafePointer<Float>], outputs: [UnsafeMutablePointer<Float>]) {
                let inputs = try op.inputs.map { name -> UnsafePointer<Float> in
                    if let constant = graph.values[name]?.constant { return UnsafePointer(constant) }
                    guard let found = pointer[name] else { throw InferenceError.invalidModel(detail: "no buffer for '\(name)' in \(op.origin)") }
                    return UnsafePointer(found)
                }
                let outputs = try op.outputs.map { name -> UnsafeMutablePointer<Float> in
                    guard let found = pointer[name] else { throw InferenceError.invalidModel(detail: "no buffer for '\(name)' in \(op.origin)") }
                    return found
                }
                return (inputs, outputs)
            }
            if case .host(let kernel) = op.kind {
                let (inputs, outputs) = try buffers()
                steps.append(.host(kernel, inputs: inputs, outputs: outputs))
            } else if case .kernel(let kernel) = op.kind {
                let (inputs, outputs) = try buffers()
                guard inputs.count == 1 || (inputs.count == 2 && kernel.fusesResidual), outputs.count == 1 else {
                    throw InferenceError.invalidModel(detail: "convolution \(op.origin) needs one input (and a residual) and one output")
                }
                steps.append(
                    .kernel(kernel, input: inputs[0], residual: inputs.count == 2 ? inputs[1] : nil, output: outputs[0], last: end == graph.ops.count)
                )
            } else {
                let runtime = try Self.buildRuntime(
                    slice, graph: graph, boundary: boundary, pointer: pointer, threadpool: threadpool,
                    yieldWorkers: end == graph.ops.count)
                runtimes.append(runtime)
                steps.append(.xnn(runtime))
            }
            start = end
        }
        logger.debug(
            "compiled ONNX model for XNNPACK",
            metadata: [
                "model.source": "\(model.source)", "inference.batch": "\(batchSize)", "inference.threads": "\(threads)",
                "inference.xnn_nodes": "\(graph.ops.filter(\.isXNN).count)",
                "inference.host_kernels": "\(graph.ops.filter { !$0.isXNN && !$0.isCKernel }.count)",
                "inference.pointwise_kernels": "\(graph.ops.filter(\.isPointwise).count)",
                "inference.depthwise_kernels": "\(graph.ops.filter(\.isDepthwise).count)",
                "inference.dense_kernels": "\(graph.ops.filter(\.isDense).count)",
                "inference.int8_kernels": "\(graph.ops.filter(\.isQuantized).count)", "inference.steps": "\(steps.count)",
            ])
    }

    private static func buildRuntime(
        _ ops: [LoweredOp], graph: LoweredGraph, boundary: Set<String>,
        pointer: [String: UnsafeMutablePointer<Float>], threadpool: pthreadpool_t?,
        yieldWorkers: Bool
    ) throws -> xnn_runtime_t {
        let produced = Set(ops.flatMap(\.outputs))
        var order: [String] = []
        var seen = Set<String>()
        for op in ops { for name in op.inputs + op.outputs where seen.insert(name).inserted { order.append(name) } }
        let external = order.filter { boundary.contains($0) }

        var subgraphOut: xnn_subgraph_t?
        var status = xnn_create_subgraph(UInt32(external.count), 0, &subgraphOut)
        guard status == xnn_status_success, let subgraph = subgraphOut else {
            throw InferenceError.backend(call: "xnn_create_subgraph", status: Int(status.rawValue))
        }
        defer { xnn_delete_subgraph(subgraph) }

        var ids: [String: UInt32] = [:]
        var externals: [xnn_external_value] = []
        for name in order {
            guard let value = graph.values[name] else { throw InferenceError.invalidModel(detail: "value '\(name)' has no shape") }
            guard value.quantization == nil else {
                throw InferenceError.invalidModel(detail: "uint8 value '\(name)' reached an XNNPACK node (only the INT8 kernels read them)")
            }
            let dims = value.physical
            var id: UInt32 = 0
            var externalID = UInt32(XNN_INVALID_VALUE_ID)
            var flags: UInt32 = 0
            if let index = external.firstIndex(of: name), value.constant == nil {
                externalID = UInt32(index)
                flags = produced.contains(name) ? UInt32(XNN_VALUE_FLAG_EXTERNAL_OUTPUT) : UInt32(XNN_VALUE_FLAG_EXTERNAL_INPUT)
                if let buffer = pointer[name] { externals.append(xnn_external_value(id: externalID, data: buffer)) }
            }
            status = dims.withUnsafeBufferPointer { dimsPointer in
                xnn_define_tensor_value(
                    subgraph, xnn_datatype_fp32, dims.count, dimsPointer.baseAddress,
                    value.constant.map { UnsafeRawPointer($0) }, externalID, flags, &id)
            }
            guard status == xnn_status_success else {
                throw InferenceError.backend(call: "xnn_define_tensor_value(\(name), dims \(dims))", status: Int(status.rawValue))
            }
            ids[name] = id
        }
        for op in ops {
            guard case .xnn(let define) = op.kind else { continue }
            let inputs = op.inputs.compactMap { ids[$0] }
            let outputs = op.outputs.compactMap { ids[$0] }
            status = define(subgraph, inputs, outputs)
            guard status == xnn_status_success else {
                let shapes = (op.inputs + op.outputs).map { "\($0)\(graph.values[$0]?.physical ?? [])" }.joined(separator: ", ")
                throw InferenceError.backend(call: "defining XNNPACK node for '\(op.origin)' (\(shapes))", status: Int(status.rawValue))
            }
        }
        var runtimeOut: xnn_runtime_t?
        // Yielding workers after the last step keeps idle pool threads from spinning on a shared CPU between images;
        // after earlier steps they should spin, as the next step follows at once (waking sleepers costs a futex each).
        let flags = threadpool != nil && yieldWorkers ? UInt32(XNN_FLAG_YIELD_WORKERS) : 0
        status = xnn_create_runtime_v2(subgraph, threadpool, flags, &runtimeOut)
        guard status == xnn_status_success, let runtime = runtimeOut else {
            throw InferenceError.backend(call: "xnn_create_runtime_v2", status: Int(status.rawValue))
        }
        status = externals.withUnsafeBufferPointer { xnn_setup_runtime(runtime, $0.count, $0.baseAddress) }
        guard status == xnn_status_success else {
            xnn_delete_runtime(runtime)
            throw InferenceError.backend(call: "xnn_setup_runtime", status: Int(status.rawValue))
        }
        return runtime
    }

    deinit {
        for runtime in runtimes { xnn_delete_runtime(runtime) }
        if let threadpool, sharedThreads == nil { pthreadpool_destroy(threadpool) }
        for buffer in buffers { UnsafeMutableRawPointer(buffer).deallocate() }
    }

    /// The ops whose results reach `needed` (the graph output, the tap), in order. A model's
    /// other outputs are computed only when tapped: XNNPACK allocates no memory for a value
    /// nothing reads, and its copy operators assert when asked to write one.
    static func liveOps(_ ops: [LoweredOp], needed: [String]) -> [LoweredOp] {
        var wanted = Set(needed)
        var live = [Bool](repeating: false, count: ops.count)
        for index in ops.indices.reversed() where ops[index].outputs.contains(where: wanted.contains) {
            live[index] = true
            wanted.formUnion(ops[index].inputs)
        }
        return ops.indices.filter { live[$0] }.map { ops[$0] }
    }

    /// Runs a batch given in NHWC order (height, width, channels per image) — what image decoders produce.
    /// Returns `batchSize * outputCount` floats.
    public func run(nhwc input: UnsafeBufferPointer<Float>) throws -> [Float] {
        guard input.count == inputCount, let base = input.baseAddress else {
            throw InferenceError.inputSizeMismatch(expected: inputCount, got: input.count)
        }
        lock.lock()
        defer { lock.unlock() }
        inputBuffer.update(from: base, count: inputCount)
        return try execute()
    }

    /// Runs a batch (as `run(nhwc:)`) and returns the output and the tapped value, batch item after batch item.
    public func runReadingTap(nhwc input: UnsafeBufferPointer<Float>) throws -> (output: [Float], tap: [Float]) {
        guard input.count == inputCount, let base = input.baseAddress else {
            throw InferenceError.inputSizeMismatch(expected: inputCount, got: input.count)
        }
        return try runReadingTap { $0.baseAddress?.update(from: base, count: $0.count) }
    }

    /// Runs a batch that `fill` writes straight into the session's input buffer (the whole batch, NHWC, as
    /// `run(nhwc:)` takes it) and returns the output and the tapped value: no input array to allocate and copy
    /// (at 224x224, 600 KB per image that the classifier used to zero, fill and copy).
    public func runReadingTap(filling fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) throws -> (output: [Float], tap: [Float]) {
        lock.lock()
        defer { lock.unlock() }
        try fill(UnsafeMutableBufferPointer(start: inputBuffer, count: inputCount))
        let output = try execute()
        let tap = tapBuffer.map { Array(UnsafeBufferPointer(start: $0, count: tapCount * batchSize)) } ?? []
        return (output, tap)
    }

    /// Runs a batch given in the model's own ONNX order (NCHW for images).
    public func run(nchw input: [Float]) throws -> [Float] {
        guard input.count == inputCount else {
            throw InferenceError.inputSizeMismatch(expected: inputCount, got: input.count)
        }
        lock.lock()
        defer { lock.unlock() }
        input.withUnsafeBufferPointer { source in
            guard let base = source.baseAddress else { return }
            if inputIsNHWC {
                transposeNCHWToNHWC(base, inputBuffer, shape: inputShape)
            } else {
                inputBuffer.update(from: base, count: inputCount)
            }
        }
        return try execute()
    }

    /// Starts (clearing earlier samples) or stops timing each step of every run; see `stepProfile()`.
    public func setProfiling(_ enabled: Bool) {
        lock.withLock {
            profiling = enabled
            stepSamples = Array(repeating: [], count: steps.count)
        }
    }

    /// Median time of each step (in execution order) over the runs since `setProfiling(true)`: where an
    /// inference spends its time, for `recognize bench --profile`.
    public func stepProfile() -> [StepTiming] {
        lock.withLock {
            zip(stepNames, stepSamples).map { name, samples in
                let sorted = samples.sorted()
                let median = sorted.isEmpty ? 0 : Double(sorted[sorted.count / 2]) / 1000
                return StepTiming(nodes: name, medianMicroseconds: median, runs: samples.count)
            }
        }
    }

    private func execute() throws -> [Float] {
        for (index, step) in steps.enumerated() {
            let start = profiling ? DispatchTime.now().uptimeNanoseconds : 0
            defer { if profiling { stepSamples[index].append(DispatchTime.now().uptimeNanoseconds - start) } }
            switch step {
            case .xnn(let runtime):
                let status = xnn_invoke_runtime(runtime)
                guard status == xnn_status_success else { throw InferenceError.backend(call: "xnn_invoke_runtime", status: Int(status.rawValue)) }
            case .host(let kernel, let inputs, let outputs):
                kernel(inputs, outputs)
            case .kernel(let kernel, let input, let residual, let output, let last):
                kernel.run(input: input, residual: residual, output: output, threadpool: threadpool, yieldWorkers: last)
            }
        }
        return Array(UnsafeBufferPointer(start: outputBuffer, count: outputTotal))
    }
}

/// The median time of one step of an inference (an XNNPACK runtime, a CKernels convolution or a host kernel).
public struct StepTiming: Sendable {
    /// The ONNX nodes the step runs, joined by " + ".
    public let nodes: String
    public let medianMicroseconds: Double
    /// Runs measured.
    public let runs: Int
}
