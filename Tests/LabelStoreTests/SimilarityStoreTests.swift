import Foundation
import PipelineModel
import Testing

@testable import LabelStore

/// `duplicates` and `similar` on stored fingerprints, and the searches they use.
@Suite("Near-duplicates and similar images in the store")
struct SimilarityStoreTests {
    /// A deterministic pseudo-random generator for test data.
    struct Numbers {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func vector(_ count: Int) -> [Float] { (0..<count).map { _ in Float(Int(next() % 2001) - 1000) / 1000 } }
    }

    @Test("hash pairs are exactly the pairs within the distance (checked against every pair)")
    func hashPairsAreExact() {
        var numbers = Numbers(state: 7)
        var hashes = (0..<300).map { _ in numbers.next() }
        // Plant near copies: flip a few bits of some hashes.
        for index in 0..<60 { hashes.append(hashes[index] ^ (1 << (numbers.next() % 64)) ^ (1 << (numbers.next() % 64))) }
        for distance in [0, 2, 8, 12] {
            var expected: Set<[Int]> = []
            for a in hashes.indices {
                for b in (a + 1)..<hashes.count where (hashes[a] ^ hashes[b]).nonzeroBitCount <= distance { expected.insert([a, b]) }
            }
            let found = SimilaritySearch.hashPairs(hashes, maxDistance: distance).map { [$0.0, $0.1] }
            #expect(Set(found) == expected, "distance \(distance)")
            #expect(found.count == Set(found).count, "each pair once")
        }
    }

    @Test("embedding pairs: close vectors are found, unrelated ones are not; groups join transitively")
    func embeddingPairsAndGroups() {
        var numbers = Numbers(state: 11)
        var rows: [[Float]] = []
        for _ in 0..<200 {
            let base = numbers.vector(256)
            rows.append(base)
        }
        // Near copies of the first 40: small noise (cosine about 0.97).
        for index in 0..<40 { rows.append(zip(rows[index], numbers.vector(256)).map { $0 + 0.25 * $1 }) }
        // As stored: int8 with a per-row scale; then centred and unit length, as the store searches them.
        let stored = rows.flatMap { row -> [Int8] in
            let largest = row.map(abs).max() ?? 1
            return row.map { Int8(($0 / largest * 127).rounded()) }
        }
        let unit = SimilaritySearch.centred(stored, width: 256)
        #expect(unit.withUnsafeBufferPointer { abs(SimilaritySearch.cosine($0, width: 256, 3, 3) - 1) < 1e-4 })
        let pairs = SimilaritySearch.embeddingPairs(unit, width: 256, minimum: 0.8)
        let found = Set(pairs.map { [$0.0, $0.1] })
        let planted = Set((0..<40).map { [$0, 200 + $0] })
        #expect(planted.subtracting(found).count <= 4, "missed \(planted.subtracting(found))")
        #expect(found.subtracting(planted).isEmpty, "unrelated pairs \(found.subtracting(planted))")
        let groups = SimilaritySearch.groups(count: 5, pairs: [(0, 1), (1, 2), (3, 4)])
        #expect(groups == [[0, 1, 2], [3, 4]])
    }

    @Test("centred cosines split over the processors equal the dot products of the centred rows")
    func centredCosinesMatchTheCentredRows() {
        var numbers = Numbers(state: 5)
        // Enough rows (and an odd width) for several parts and the tail of each row.
        let (count, width) = (10_007, 40)
        let flat = (0..<(count * width)).map { _ in Int8(truncatingIfNeeded: Int(numbers.next() % 255) - 127) }
        #expect(SimilaritySearch.rowRanges(count: count).count == min(2, ProcessInfo.processInfo.activeProcessorCount))
        let unit = SimilaritySearch.centred(flat, width: width)
        for query in [0, 4_999, count - 1] {
            let scores = SimilaritySearch.centredCosines(flat, width: width, to: query)
            #expect(scores.count == count)
            let worst = unit.withUnsafeBufferPointer { unit in
                (0..<count).map { abs(Double(scores[$0]) - Double(SimilaritySearch.cosine(unit, width: width, query, $0))) }.max() ?? 1
            }
            #expect(worst < 1e-4, "query \(query): largest difference \(worst)")
            #expect(abs(scores[query] - 1) < 1e-4)
        }
    }

    func record(_ id: String, minutes: Double, hash: UInt64, embedding: [Int8], model: String = "m 1 v1") -> RecognitionRecord {
        let bytes = Data(embedding.map { UInt8(bitPattern: $0) })
        return RecognitionRecord(
            image: StoreFixture.image(id), labels: [DetectedLabel(name: "cat", confidence: 90, parents: [])], model: StoreFixture.model,
            recognizedAt: StoreFixture.base.addingTimeInterval(minutes * 60),
            similarity: SimilaritySection(
                perceptualHash: String(format: "%016llx", hash), embedding: bytes.base64EncodedString(), embeddingModel: model))
    }

    @Test(
        "duplicates groups copies by hash or by embedding; similar ranks by embedding; images without fingerprints are left out",
        arguments: StoreKind.allCases)
    func storeSearches(kind: StoreKind) throws {
        let fixture = try StoreFixture(kind)
        var numbers = Numbers(state: 3)
        func embedding(_ base: [Float]) -> [Int8] {
            let largest = base.map(abs).max() ?? 1
            return base.map { Int8(($0 / largest * 127).rounded()) }
        }
        let photos = (0..<6).map { _ in numbers.vector(256) }
        let (a, aCopy, aCrop) = (StoreFixture.id("a"), StoreFixture.id("b"), StoreFixture.id("c"))
        var records = [
            record(a, minutes: 1, hash: 0xF0F0_F0F0_1234_5678, embedding: embedding(photos[0])),
            // A re-encoded copy: one hash bit apart, embedding nearly equal.
            record(aCopy, minutes: 2, hash: 0xF0F0_F0F0_1234_5679, embedding: embedding(zip(photos[0], numbers.vector(256)).map { $0 + 0.05 * $1 })),
            // A crop: the hash moved far, the embedding stayed close.
            record(aCrop, minutes: 3, hash: 0x0F0F_0F0F_AAAA_5555, embedding: embedding(zip(photos[0], numbers.vector(256)).map { $0 + 0.3 * $1 })),
        ]
        for index in 1..<6 {
            records.append(
                record(StoreFixture.id("d", index), minutes: Double(10 + index), hash: numbers.next(), embedding: embedding(photos[index])))
        }
        try fixture.store.saveRecognitions(records)
        try fixture.save(StoreFixture.id("e"), minutes: 30, labels: [Sample.teapot])  // no fingerprints

        let groups = try fixture.store.duplicateGroups(DuplicateQuery())
        #expect(groups.map { $0.map(\.id) } == [[aCrop, aCopy, a]])
        let hashOnly = try fixture.store.duplicateGroups(DuplicateQuery(maxDistance: 8, minSimilarity: nil))
        #expect(hashOnly.map { $0.map(\.id) } == [[aCopy, a]])
        #expect(try fixture.store.image(idOrPrefix: a)?.perceptualHash == "f0f0f0f012345678")

        let similar = try #require(try fixture.store.similarImages(to: "a", limit: 3))
        #expect(similar.image.id == a)
        #expect(similar.matches.map(\.image.id).prefix(2) == [aCopy, aCrop])
        #expect(similar.matches.first?.hashDistance == 1)
        #expect(similar.matches.map(\.similarity) == similar.matches.map(\.similarity).sorted(by: >))
        #expect(similar.matches.count == 3)
        #expect(try fixture.store.similarImages(to: "ffff", limit: 3) == nil)
        #expect(throws: LabelStoreError.self) { try fixture.store.similarImages(to: "e", limit: 3) }
        #expect(throws: LabelStoreError.self) { try fixture.store.duplicateGroups(DuplicateQuery(maxDistance: 40)) }
    }
}
