/// Owns the memory of constant tensors handed to XNNPACK, which keeps raw pointers to them for the
/// lifetime of a runtime; freed only when the owning session goes away.
final class ConstantStorage {
    private var blocks: [UnsafeMutablePointer<Float>] = []

    /// Copies `values` into storage that stays valid until this object is deallocated.
    func store(_ values: [Float]) -> UnsafeMutablePointer<Float> {
        // XNNPACK may read a few bytes past the end of a tensor (XNN_EXTRA_BYTES), so over-allocate.
        let block = UnsafeMutablePointer<Float>.allocate(capacity: values.count + 16)
        block.initialize(repeating: 0, count: values.count + 16)
        values.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { block.update(from: base, count: values.count) }
        }
        blocks.append(block)
        return block
    }

    deinit {
        for block in blocks { block.deallocate() }
    }
}
