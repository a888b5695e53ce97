import Foundation
import PipelineModel
import Synchronization

/// A 64-bit perceptual hash (DCT of the luminance at 32x32), made insensitive to mirroring: the
/// image is averaged with its left-right mirror first, so only the even horizontal frequencies
/// carry information, and the hash keeps the 8x8 lowest of those (vertical 0-7 by horizontal
/// 0, 2, ..., 14). Each bit says whether a coefficient is above the median of the 63 non-DC ones.
///
/// Resizing and re-encoding barely move the low frequencies; a light crop moves them a little
/// (a few bits); different photos differ in about half the bits.
public enum PerceptualHash {
    static let side = 32

    /// The hash of an RGB image (`width` x `height` x 3 bytes, row-major).
    public static func hash(rgb pixels: [UInt8], width: Int, height: Int) -> UInt64 {
        precondition(pixels.count == width * height * 3 && width > 0 && height > 0)
        // Area-average the luminance into 32x32 cells.
        var grid = [Double](repeating: 0, count: side * side)
        for cellY in 0..<side {
            let y0 = cellY * height / side
            let y1 = max(y0 + 1, (cellY + 1) * height / side)
            for cellX in 0..<side {
                let x0 = cellX * width / side
                let x1 = max(x0 + 1, (cellX + 1) * width / side)
                var sum = 0.0
                for y in y0..<y1 {
                    var offset = (y * width + x0) * 3
                    for _ in x0..<x1 {
                        sum += 0.299 * Double(pixels[offset]) + 0.587 * Double(pixels[offset + 1]) + 0.114 * Double(pixels[offset + 2])
                        offset += 3
                    }
                }
                grid[cellY * side + cellX] = sum / Double((y1 - y0) * (x1 - x0))
            }
        }
        // Mirror-average: a flipped copy gives the same grid.
        for y in 0..<side {
            for x in 0..<(side / 2) {
                let mean = (grid[y * side + x] + grid[y * side + side - 1 - x]) / 2
                grid[y * side + x] = mean
                grid[y * side + side - 1 - x] = mean
            }
        }
        let horizontal = (0..<8).map { $0 * 2 }
        let vertical = Array(0..<8)
        // Separable DCT-II, only the coefficients kept.
        var rows = [Double](repeating: 0, count: side * horizontal.count)  // per grid row, per kept u
        for y in 0..<side {
            for (k, u) in horizontal.enumerated() {
                var sum = 0.0
                for x in 0..<side { sum += grid[y * side + x] * cosine[u * side + x] }
                rows[y * horizontal.count + k] = sum
            }
        }
        var coefficients: [Double] = []
        for v in vertical {
            for k in horizontal.indices {
                var sum = 0.0
                for y in 0..<side { sum += rows[y * horizontal.count + k] * cosine[v * side + y] }
                coefficients.append(sum)
            }
        }
        let median = coefficients.dropFirst().sorted()[31]
        var hash: UInt64 = 0
        for (bit, value) in coefficients.enumerated() where value > median { hash |= 1 << UInt64(bit) }
        return hash
    }

    /// Bits that differ.
    public static func distance(_ a: UInt64, _ b: UInt64) -> Int { (a ^ b).nonzeroBitCount }

    /// The hash as 16 lowercase hex digits, and back (the message's form, `SimilaritySection`).
    public static func hex(_ hash: UInt64) -> String { SimilaritySection.hashText(hash) }

    public static func parse(_ text: String) -> UInt64? {
        SimilaritySection.hashBits(text)
    }

    /// cos(pi * (2x + 1) * u / 64) for u, x in 0..<32.
    private static let cosine: [Double] = (0..<(32 * 32)).map { index in
        let (u, x) = (index / 32, index % 32)
        return cos(Double.pi * Double(2 * x + 1) * Double(u) / Double(2 * 32))
    }
}

/// A classifier's pooled features made small enough to scan: a fixed sparse random projection
/// (entries +1 or -1 with probability 1/6 each, else 0; a Johnson-Lindenstrauss projection that
/// keeps cosine similarities within a few percent) to 256 dimensions, quantized to int8 with a
/// per-vector scale (cosine similarity does not depend on the scale). 256 bytes per image.
public enum FeatureEmbedding {
    public static let dimensions = 256
    /// Names the projection; vectors are only compared with vectors of the same version.
    public static let version = "sparse-projection-256-int8-v1"

    /// The embedding of one feature vector.
    public static func embed(_ features: [Float]) -> [Int8] {
        let plan = projection(inputs: features.count)
        var projected = [Float](repeating: 0, count: dimensions)
        for output in 0..<dimensions {
            var sum: Float = 0
            for index in plan.plus[output] { sum += features[index] }
            for index in plan.minus[output] { sum -= features[index] }
            projected[output] = sum
        }
        let largest = projected.map(abs).max() ?? 0
        guard largest > 0 else { return [Int8](repeating: 0, count: dimensions) }
        return projected.map { Int8(($0 / largest * 127).rounded()) }
    }

    /// Cosine similarity of two embeddings, -1 to 1 (0 when either is all zeros).
    public static func cosine(_ a: [Int8], _ b: [Int8]) -> Double {
        guard a.count == b.count else { return 0 }
        var (dot, normA, normB) = (0, 0, 0)
        for index in a.indices {
            let (x, y) = (Int(a[index]), Int(b[index]))
            dot += x * y
            normA += x * x
            normB += y * y
        }
        return normA == 0 || normB == 0 ? 0 : Double(dot) / (Double(normA).squareRoot() * Double(normB).squareRoot())
    }

    /// Which inputs add to and which subtract from each output, from a fixed hash of (output, input):
    /// the same on every machine and in every release of this version.
    static func projection(inputs: Int) -> (plus: [[Int]], minus: [[Int]]) {
        if let cached = cache.withLock({ $0[inputs] }) { return cached }
        var plus = Array(repeating: [Int](), count: dimensions)
        var minus = Array(repeating: [Int](), count: dimensions)
        for output in 0..<dimensions {
            for input in 0..<inputs {
                switch mix(UInt64(output) << 32 | UInt64(input)) % 6 {
                case 0: plus[output].append(input)
                case 1: minus[output].append(input)
                default: break
                }
            }
        }
        cache.withLock { $0[inputs] = (plus, minus) }
        return (plus, minus)
    }

    /// SplitMix64's finaliser: a well-mixed 64-bit hash of a 64-bit key.
    static func mix(_ key: UInt64) -> UInt64 {
        var z = key &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private static let cache = Mutex<[Int: (plus: [[Int]], minus: [[Int]])]>([:])
}
