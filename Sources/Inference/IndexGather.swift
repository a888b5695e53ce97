/// A copy that picks each output element from the input by per-axis index maps: the element at
/// output coordinates (i0, i1, ...) is the input element at offset `strides[0] * maps[0][i0] +
/// strides[1] * maps[1][i1] + ...`, or `fill` when any map gives -1. Transpose (permuted strides),
/// Slice (strided maps), Split, and Pad in every mode (maps that reflect, clamp or fall outside) are
/// all this one loop.
struct IndexGather: Sendable {
    /// The output's memory shape.
    let shape: [Int]
    /// Per output axis, the input offset of each output coordinate; nil marks padding.
    private let offsets: [[Int?]]
    let fill: Float

    /// `strides[a]` is the input stride (in elements) that output axis `a` walks; `maps[a][i]` the
    /// input coordinate of output coordinate `i` on that axis, or -1 for padding.
    init(shape: [Int], strides: [Int], maps: [[Int]], fill: Float = 0) {
        precondition(shape.count == strides.count && shape.count == maps.count)
        self.shape = shape
        self.fill = fill
        offsets = zip(strides, maps).map { stride, map in map.map { $0 < 0 ? nil : $0 * stride } }
    }

    func run(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        let rank = shape.count
        guard rank > 0, shape.allSatisfy({ $0 > 0 }) else {
            if rank == 0 { output[0] = input[0] }
            return
        }
        let inner = offsets[rank - 1]
        var position = [Int](repeating: 0, count: rank)
        var written = 0
        while true {
            // The offset of the outer coordinates, or nil when one of them is padding.
            var base: Int? = 0
            for axis in 0..<(rank - 1) {
                guard let offset = offsets[axis][position[axis]], let sum = base else {
                    base = nil
                    break
                }
                base = sum + offset
            }
            if let base {
                for (index, offset) in inner.enumerated() { output[written + index] = offset.map { input[base + $0] } ?? fill }
            } else {
                (output + written).update(repeating: fill, count: inner.count)
            }
            written += inner.count
            // Advance the outer coordinates like an odometer.
            var axis = rank - 2
            while axis >= 0 {
                position[axis] += 1
                if position[axis] < shape[axis] { break }
                position[axis] = 0
                axis -= 1
            }
            if axis < 0 { return }
        }
    }

    /// Row-major strides of a shape.
    static func strides(of shape: [Int]) -> [Int] {
        var result = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in shape.indices.reversed() {
            result[axis] = running
            running *= shape[axis]
        }
        return result
    }
}
