/// Assigns the tensors that cross step boundaries to shared buffers: a buffer is reused as soon as the tensor
/// in it has been read for the last time.
///
/// Why: with one buffer per tensor, an EfficientNet inference touched every activation of the network (tens
/// of MB), so every layer wrote into memory last used one inference ago (evicted from cache) and read inputs
/// from L3 at best; reusing a few buffers keeps the working set small and warm.
struct BufferPlan {
    /// A tensor to place: `count` floats, written at step `first` (-1: before the first step) and read
    /// for the last time at step `last` (`Int.max`: read after the run, e.g. the graph output).
    struct Tensor {
        var name: String
        var count: Int
        var first: Int
        var last: Int
    }

    /// Capacity in floats of each buffer to allocate.
    private(set) var capacities: [Int] = []
    /// Buffer index of each tensor.
    private(set) var assignment: [String: Int] = [:]

    /// Plans `tensors` greedily in step order: a step's outputs take the smallest free buffer that fits
    /// (else the largest free one, grown; else a new one), and buffers whose tensor was last read at that step are freed only after, so an output
    /// never shares memory with an input of the same step.
    init(_ tensors: [Tensor]) {
        let byStep = Dictionary(grouping: tensors, by: \.first)
        var free: [Int] = []
        var releaseAt: [Int: [Int]] = [:]
        for step in byStep.keys.sorted() {
            for tensor in byStep[step, default: []].sorted(by: { $0.name < $1.name }) {
                let fitting = free.indices.filter { capacities[free[$0]] >= tensor.count }
                let buffer: Int
                if let best = fitting.min(by: { capacities[free[$0]] < capacities[free[$1]] }) {
                    buffer = free.remove(at: best)
                } else if let largest = free.indices.max(by: { capacities[free[$0]] < capacities[free[$1]] }) {
                    buffer = free.remove(at: largest)
                    capacities[buffer] = tensor.count
                } else {
                    buffer = capacities.count
                    capacities.append(tensor.count)
                }
                assignment[tensor.name] = buffer
                releaseAt[max(tensor.last, step), default: []].append(buffer)
            }
            // Release everything last read at or before this step (tensors with no reader included).
            for due in releaseAt.keys.sorted() where due <= step {
                free.append(contentsOf: releaseAt.removeValue(forKey: due) ?? [])
            }
        }
    }
}
