import Testing

@testable import Recognition

/// Batches run in power-of-two chunks no larger than `Classifier.largestChunk` (so only a few sessions exist).
@Suite("Inference chunk sizes")
struct ChunkSizeTests {
    @Test(arguments: [(1, [1]), (3, [2, 1]), (4, [4]), (7, [4, 2, 1]), (8, [4, 4]), (11, [4, 4, 2, 1]), (0, [])])
    func chunks(_ count: Int, _ expected: [Int]) {
        let sizes = Classifier.chunkSizes(count)
        #expect(sizes == expected)
        #expect(sizes.reduce(0, +) == count)
        #expect(sizes.allSatisfy { $0 <= Classifier.largestChunk && $0 & ($0 - 1) == 0 })
    }
}
