import Foundation

/// What `list-images duplicates` asks for.
public struct DuplicateQuery: Sendable, Equatable {
    /// Images whose perceptual hashes differ in at most this many bits are duplicates (resized,
    /// re-encoded and mirrored copies differ in 0-6).
    public var maxDistance: Int
    /// Images whose embeddings' cosine similarity (centred on the store's mean) reaches this are
    /// duplicates too (cropped copies, which move the hash); nil leaves embeddings out.
    public var minSimilarity: Double?

    public init(maxDistance: Int = 8, minSimilarity: Double? = 0.8) {
        self.maxDistance = maxDistance
        self.minSimilarity = minSimilarity
    }
}

/// `list-images similar`: one image and those most like it.
public struct SimilarImages: Sendable, Equatable {
    public var image: ImageDetail
    public var matches: [Match]

    /// One image like the query image.
    public struct Match: Sendable, Equatable {
        public var image: ImageSummary
        /// Cosine similarity of the centred embeddings, -1 to 1.
        public var similarity: Double
        /// Bits in which the perceptual hashes differ; nil when either has none.
        public var hashDistance: Int?
    }
}

/// The searches over fingerprints, on plain arrays (the store loads them).
///
/// Embeddings are centred on their mean before comparing: a network's pooled features are all
/// non-negative and share a large common part, so raw cosines of unrelated photos sit high;
/// centred, unrelated photos score around 0 and copies above 0.8.
enum SimilaritySearch {
    /// Int8 embeddings (`count` rows of `width`, back to back) as Float rows, each minus the mean
    /// row and scaled to unit length, so that a dot product is the centred cosine.
    static func centred(_ flat: [Int8], width: Int) -> [Float] {
        guard width > 0, flat.count >= width else { return [] }
        let count = flat.count / width
        let mean = columnMeans(flat, width: width)
        var rows = [Float](repeating: 0, count: count * width)
        rows.withUnsafeMutableBufferPointer { out in
            flat.withUnsafeBufferPointer { values in
                for row in 0..<count {
                    var norm: Float = 0
                    for index in 0..<width {
                        let value = Float(values[row * width + index]) - mean[index]
                        out[row * width + index] = value
                        norm += value * value
                    }
                    let scale = norm > 0 ? 1 / norm.squareRoot() : 0
                    for index in 0..<width { out[row * width + index] *= scale }
                }
            }
        }
        return rows
    }

    /// The mean of each column of `count` int8 rows of `width`, each processor summing a part.
    static func columnMeans(_ flat: [Int8], width: Int) -> [Float] {
        let count = flat.count / width
        guard count > 0 else { return [Float](repeating: 0, count: width) }
        let parts = rowRanges(count: count)
        var partial = [[Int]](repeating: [], count: parts.count)
        flat.withUnsafeBufferPointer { values in
            partial.withUnsafeMutableBufferPointer { partial in
                // Each part writes its own slot only.
                nonisolated(unsafe) let (values, partial) = (values, partial)
                DispatchQueue.concurrentPerform(iterations: parts.count) { part in
                    partial[part] = columnSums(values, width: width, rows: parts[part])
                }
            }
        }
        return (0..<width).map { column in Float(partial.reduce(0) { $0 + $1[column] }) / Float(count) }
    }

    /// Column sums of some rows, 16 lanes at a time (int32 lanes hold 16M rows of int8 safely).
    private static func columnSums(_ values: UnsafeBufferPointer<Int8>, width: Int, rows: Range<Int>) -> [Int] {
        var sums = [Int](repeating: 0, count: width)
        guard let raw = values.baseAddress else { return sums }
        let chunks = width / 16
        var lanes = [SIMD16<Int32>](repeating: SIMD16<Int32>(), count: chunks)
        for row in rows {
            let rowRaw = UnsafeRawPointer(raw + row * width)
            for chunk in 0..<chunks {
                lanes[chunk] &+= SIMD16<Int32>(truncatingIfNeeded: rowRaw.loadUnaligned(fromByteOffset: chunk * 16, as: SIMD16<Int8>.self))
            }
            for index in (chunks * 16)..<width { sums[index] += Int(values[row * width + index]) }
        }
        for chunk in 0..<chunks {
            for lane in 0..<16 { sums[chunk * 16 + lane] = Int(lanes[chunk][lane]) }
        }
        return sums
    }

    /// Rows split into one contiguous range per processor (a scan of 100,000 rows takes tens of
    /// milliseconds; two cores halve it), at least 4,096 rows each.
    static func rowRanges(count: Int) -> [Range<Int>] {
        let parts = max(1, min(ProcessInfo.processInfo.activeProcessorCount, count / 4096))
        return (0..<parts).map { part in (count * part / parts)..<(count * (part + 1) / parts) }
    }

    /// The centred cosine of every row with row `query`, straight from the int8 rows (no centred
    /// copy of the matrix): with m the mean row and q the query's centred unit vector,
    /// cos = (q.x - q.m) / |x - m| and |x - m|^2 = x.x - 2 x.m + m.m.
    static func centredCosines(_ flat: [Int8], width: Int, to query: Int) -> [Float] {
        guard width > 0 else { return [] }
        let count = flat.count / width
        let mean = columnMeans(flat, width: width)
        var q = (0..<width).map { Float(flat[query * width + $0]) - mean[$0] }
        let qNorm = q.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if qNorm > 0 { q = q.map { $0 / qNorm } }
        let qDotMean = zip(q, mean).reduce(0) { $0 + $1.0 * $1.1 }
        let meanDotMean = mean.reduce(0) { $0 + $1 * $1 }
        var result = [Float](repeating: 0, count: count)
        let parts = rowRanges(count: count)
        flat.withUnsafeBufferPointer { values in
            q.withUnsafeBufferPointer { q in
                mean.withUnsafeBufferPointer { mean in
                    result.withUnsafeMutableBufferPointer { result in
                        // The parts read shared rows and write disjoint ranges of the result.
                        nonisolated(unsafe) let (values, q, mean, result) = (values, q, mean, result)
                        DispatchQueue.concurrentPerform(iterations: parts.count) { part in
                            for row in parts[part] {
                                let (d, s, w) = dotProducts(values, row: row, width: width, q: q, mean: mean)
                                let norm = max(0, s - 2 * w + meanDotMean).squareRoot()
                                result[row] = norm > 0 ? (d - qDotMean) / norm : 0
                            }
                        }
                    }
                }
            }
        }
        return result
    }

    /// One int8 row's dot products with q, with itself and with the mean row, 16 lanes at a
    /// time (int8 to float, three running sums), then the tail.
    @inline(__always)
    private static func dotProducts(
        _ values: UnsafeBufferPointer<Int8>, row: Int, width: Int, q: UnsafeBufferPointer<Float>, mean: UnsafeBufferPointer<Float>
    ) -> (Float, Float, Float) {
        guard let raw = values.baseAddress, let qBase = q.baseAddress, let mBase = mean.baseAddress else { return (0, 0, 0) }
        let (qRaw, mRaw) = (UnsafeRawPointer(qBase), UnsafeRawPointer(mBase))
        var (dot, square, withMean) = (SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>())
        let rowRaw = UnsafeRawPointer(raw + row * width)
        var index = 0
        while index + 16 <= width {
            let x = SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: rowRaw.loadUnaligned(fromByteOffset: index, as: SIMD16<Int8>.self)))
            let offset = index * MemoryLayout<Float>.stride
            dot += x * qRaw.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            square += x * x
            withMean += x * mRaw.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            index += 16
        }
        var (d, s, w) = (dot.sum(), square.sum(), withMean.sum())
        while index < width {
            let x = Float(values[row * width + index])
            d += q[index] * x
            s += x * x
            w += x * mean[index]
            index += 1
        }
        return (d, s, w)
    }

    /// The indices of the `count` highest scores, highest first, without sorting them all: a scan
    /// that keeps the best so far (fine for the tens a listing asks for).
    static func best(_ scores: [Float], count: Int, excluding skipped: Int) -> [Int] {
        guard count > 0 else { return [] }
        var kept: [Int] = []
        kept.reserveCapacity(count + 1)
        for (index, score) in scores.enumerated() where index != skipped {
            if kept.count == count, let last = kept.last, scores[last] >= score { continue }
            let at = kept.firstIndex { scores[$0] < score } ?? kept.count
            kept.insert(index, at: at)
            if kept.count > count { kept.removeLast() }
        }
        return kept
    }

    /// Cosine similarity of unit rows `a` and `b` (their dot product), in SIMD lanes of 16.
    static func cosine(_ rows: UnsafeBufferPointer<Float>, width: Int, _ a: Int, _ b: Int) -> Double {
        guard let base = rows.baseAddress else { return 0 }
        let (x, y) = (UnsafeRawPointer(base + a * width), UnsafeRawPointer(base + b * width))
        var lanes = SIMD16<Float>()
        var index = 0
        while index + 16 <= width {
            let offset = index * MemoryLayout<Float>.stride
            lanes +=
                x.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
                * y.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            index += 16
        }
        var dot = lanes.sum()
        while index < width {
            dot += base[a * width + index] * base[b * width + index]
            index += 1
        }
        return Double(dot)
    }

    /// Every pair of hashes within `maxDistance` bits, each once (i < j), found exactly: by the
    /// pigeonhole principle two hashes that differ in at most d bits agree on at least one of
    /// d + 1 disjoint chunks, so only images sharing a chunk value are compared.
    static func hashPairs(_ hashes: [UInt64], maxDistance: Int) -> [(Int, Int)] {
        guard hashes.count > 1, maxDistance >= 0 else { return [] }
        let chunks = min(64, maxDistance + 1)
        let bounds = (0...chunks).map { $0 * 64 / chunks }
        func chunk(_ hash: UInt64, _ number: Int) -> UInt64 {
            let (low, width) = (bounds[number], bounds[number + 1] - bounds[number])
            return width == 64 ? hash : (hash >> UInt64(low)) & ((1 << UInt64(width)) - 1)
        }
        var pairs: [(Int, Int)] = []
        for number in 0..<chunks {
            var buckets: [UInt64: [Int]] = [:]
            for (index, hash) in hashes.enumerated() { buckets[chunk(hash, number), default: []].append(index) }
            for members in buckets.values where members.count > 1 {
                for i in 0..<(members.count - 1) {
                    for j in (i + 1)..<members.count {
                        let (a, b) = (members[i], members[j])
                        guard (hashes[a] ^ hashes[b]).nonzeroBitCount <= maxDistance else { continue }
                        // Report a pair only from the first chunk the two agree on.
                        if (0..<number).contains(where: { chunk(hashes[a], $0) == chunk(hashes[b], $0) }) { continue }
                        pairs.append((a, b))
                    }
                }
            }
        }
        return pairs
    }

    /// Bands of sign bits for locality-sensitive hashing: the embedding is a random projection of
    /// the features, so the signs of its centred coordinates are random-hyperplane bits; two rows
    /// at angle t agree on a bit with probability 1 - t/pi. 21 bands of 12 bits find pairs at
    /// cosine 0.8 with probability about 0.75, at 0.85 about 0.9 and at 0.9 about 0.97, while a
    /// pair of the same kind of subject (cosine 0.5) shares a band with probability about 0.15
    /// and an unrelated pair about 0.005: 10-bit bands would find more crops but check twice
    /// as many look-alikes.
    static let bands = 21
    static let bitsPerBand = 12

    /// Pairs whose centred cosine reaches `minimum` (i < j, each once), candidates from the bands.
    static func embeddingPairs(_ rows: [Float], width: Int, minimum: Double) -> [(Int, Int)] {
        let count = width == 0 ? 0 : rows.count / width
        guard count > 1 else { return [] }
        let usable = min(bands, width / bitsPerBand)
        var keys = [UInt16](repeating: 0, count: count * usable)
        for row in 0..<count {
            for band in 0..<usable {
                var key: UInt16 = 0
                for bit in 0..<bitsPerBand where rows[row * width + band * bitsPerBand + bit] > 0 { key |= 1 << UInt16(bit) }
                keys[row * usable + band] = key
            }
        }
        var pairs: [(Int, Int)] = []
        rows.withUnsafeBufferPointer { buffer in
            for band in 0..<usable {
                var buckets: [UInt16: [Int]] = [:]
                for row in 0..<count { buckets[keys[row * usable + band], default: []].append(row) }
                for members in buckets.values where members.count > 1 {
                    for i in 0..<(members.count - 1) {
                        for j in (i + 1)..<members.count {
                            let (a, b) = (members[i], members[j])
                            if (0..<band).contains(where: { keys[a * usable + $0] == keys[b * usable + $0] }) { continue }
                            if cosine(buffer, width: width, a, b) >= minimum { pairs.append((a, b)) }
                        }
                    }
                }
            }
        }
        return pairs
    }

    /// Connected components of `pairs` over `count` items, only those with two or more members.
    static func groups(count: Int, pairs: [(Int, Int)]) -> [[Int]] {
        var parent = Array(0..<count)
        func root(_ item: Int) -> Int {
            var node = item
            while parent[node] != node {
                parent[node] = parent[parent[node]]
                node = parent[node]
            }
            return node
        }
        for (a, b) in pairs {
            let (ra, rb) = (root(a), root(b))
            if ra != rb { parent[max(ra, rb)] = min(ra, rb) }
        }
        var members: [Int: [Int]] = [:]
        for item in 0..<count { members[root(item), default: []].append(item) }
        return members.values.filter { $0.count > 1 }.sorted { $0.count != $1.count ? $0.count > $1.count : $0[0] < $1[0] }
    }
}
