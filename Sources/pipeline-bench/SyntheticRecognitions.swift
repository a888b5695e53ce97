import Foundation
import LabelStore
import PipelineModel

/// Deterministic fake recognitions with a realistic shape for `list-images bench`: ImageNet class
/// names and WordNet parents (from Models/imagenet-taxonomy.json when present, else a synthetic
/// three-level hierarchy), a Zipf-like class popularity, and runner-ups mostly from nearby classes.
struct SyntheticRecognitions {
    let classes: [String]
    /// Every class's parents, nearest first.
    let parents: [[String]]
    /// Class indices in popularity order (a fixed shuffle, so popularity does not follow groups).
    let popularity: [Int]
    /// Cumulative Zipf weights over `popularity`.
    let cumulative: [Double]
    let start: Date
    let span: TimeInterval
    var random: SplitMix64

    /// The part of Models/imagenet-taxonomy.json the bench uses.
    struct Taxonomy: Decodable {
        struct Class: Decodable {
            var name: String
            var label: String?
            var parents: [String]
            var categories: [String]?
        }
        var classes: [Class]
    }

    /// Every class's categories (empty without a format-2 taxonomy).
    let categories: [[String]]

    init(taxonomyFile: URL?, classesFile: URL?, seed: UInt64 = 42, start: Date, span: TimeInterval) {
        var names: [String] = []
        var taxonomyParents: [[String]] = []
        var taxonomyCategories: [[String]] = []
        if let taxonomyFile, let data = try? Data(contentsOf: taxonomyFile),
            let taxonomy = try? JSONDecoder().decode(Taxonomy.self, from: data), !taxonomy.classes.isEmpty
        {
            names = taxonomy.classes.map { $0.label ?? $0.name }
            taxonomyParents = taxonomy.classes.map(\.parents)
            taxonomyCategories = taxonomy.classes.map { $0.categories ?? [] }
        } else if let classesFile, let text = try? String(contentsOf: classesFile, encoding: .utf8) {
            // "tench, Tinca tinca" -> "tench": the first synonym is the label the classifier reports.
            names = text.split(whereSeparator: \.isNewline).map {
                String($0.split(separator: ",").first ?? $0).trimmingCharacters(in: .whitespaces)
            }.filter { !$0.isEmpty }
        }
        if names.isEmpty { names = (0..<1000).map { String(format: "class %04d", $0) } }
        classes = names
        // ImageNet's class order roughly follows WordNet, so neighbours make plausible groups.
        parents =
            taxonomyParents.count == names.count
            ? taxonomyParents
            : names.indices.map { ["group \($0 / 10)", "domain \($0 / 100)", "entity"] }
        categories = taxonomyCategories.count == names.count ? taxonomyCategories : names.map { _ in [] }
        random = SplitMix64(seed: seed)
        var order = Array(names.indices)
        order.shuffle(using: &random)
        popularity = order
        var total = 0.0
        cumulative = order.indices.map { rank in
            total += 1.0 / Double(rank + 1)
            return total
        }
        self.start = start
        self.span = span
    }

    /// The class a given popularity rank maps to (rank 0 is the most common top label).
    func className(popularityRank: Int) -> String { classes[popularity[popularityRank]] }

    /// The next image with five labels.
    mutating func next(serial: Int) -> RecognitionRecord {
        let top = popularity[zipfRank()]
        var chosen = [top]
        let groupStart = top / 10 * 10
        while chosen.count < 5 {
            // Two thirds of runner-ups are siblings, as a classifier confuses similar classes.
            let candidate =
                Int.random(in: 0..<3, using: &random) < 2
                ? min(classes.count - 1, groupStart + Int.random(in: 0..<10, using: &random))
                : Int.random(in: 0..<classes.count, using: &random)
            if !chosen.contains(candidate) { chosen.append(candidate) }
        }
        var remaining = 100.0
        var confidences: [Double] = []
        for rank in chosen.indices {
            let share = rank == 0 ? Double.random(in: 0.2...0.99, using: &random) : Double.random(in: 0.3...0.7, using: &random)
            let confidence = (remaining * share * 100).rounded() / 100
            remaining -= confidence
            confidences.append(confidence)
        }
        // A classifier reports labels most confident first.
        let labels = zip(chosen, confidences.sorted(by: >)).map { index, confidence in
            DetectedLabel(name: classes[index], confidence: confidence, parents: parents[index])
        }
        let id = (0..<4).map { _ in String(format: "%016llx", random.next()) }.joined()
        let fetchedAt = start.addingTimeInterval(Double.random(in: 0..<span, using: &random))
        let image = ImageStored(
            imageID: id, name: "image-\(serial).jpg", sourceURL: "http://images.example/\(serial % 97)/image-\(serial).jpg",
            storedPath: "/var/lib/image-pipeline/images/\(id.prefix(2))/\(id).jpg", byteSize: 50_000 + serial % 100_000,
            contentType: "image/jpeg", width: 640, height: 480, fetchedAt: fetchedAt)
        // Categories summed over the five classes, as the classifier does.
        var categorySums: [String: Double] = [:]
        for (index, confidence) in zip(chosen, confidences.sorted(by: >)) {
            for category in categories[index] { categorySums[category, default: 0] += confidence }
        }
        let imageCategories = categorySums.sorted { $0.value > $1.value }.map {
            LabelCategory(id: $0.key, name: $0.key, confidence: min(100, ($0.value * 100).rounded() / 100))
        }
        return RecognitionRecord(
            image: image, labels: labels, model: ModelInfo(name: "efficientnet-lite0", version: "bench"),
            recognizedAt: fetchedAt.addingTimeInterval(Double.random(in: 0.05...2, using: &random)),
            categories: imageCategories, properties: nextProperties(), similarity: nextSimilarity(topClass: top))
    }

    /// A random hash, and an embedding near its top class's own direction (so that images of one
    /// class are alike, as real embeddings are), 256 int8 values.
    private mutating func nextSimilarity(topClass: Int) -> SimilaritySection {
        var classRandom = SplitMix64(seed: UInt64(topClass) &* 0x9E37_79B9)
        var vector: [Int8] = []
        vector.reserveCapacity(256)
        for _ in 0..<256 {
            let centre = Double(Int(classRandom.next() % 201) - 100)
            let noise = Double(Int(random.next() % 201) - 100)
            vector.append(Int8(max(-127, min(127, (0.6 * centre + 0.6 * noise).rounded()))))
        }
        let bytes = Data(vector.map { UInt8(bitPattern: $0) })
        return SimilaritySection(
            perceptualHash: SimilaritySection.hashText(random.next()), embedding: bytes.base64EncodedString(),
            embeddingModel: "efficientnet-lite0 bench sparse-projection-256-int8-v1")
    }

    /// Basic colour words with a CSS name each, for synthetic dominant colours.
    static let palette: [(simple: String, css: [String])] = [
        ("gray", ["gray", "dimgray", "darkgray"]), ("black", ["black"]), ("white", ["white", "whitesmoke"]),
        ("brown", ["saddlebrown", "sienna", "tan"]), ("blue", ["steelblue", "navy", "slategray"]),
        ("green", ["olivedrab", "darkgreen", "seagreen"]), ("red", ["firebrick", "darkred"]),
        ("orange", ["peru", "chocolate"]), ("yellow", ["khaki", "gold"]), ("pink", ["pink", "rosybrown"]),
        ("purple", ["purple", "slateblue"]),
    ]

    /// Four dominant colours with shares adding up to 100, earlier palette colours more common
    /// (as grays and browns are in photos), and a sharpness around the ordinary 50.
    private mutating func nextProperties() -> ImageProperties {
        var remaining = 100.0
        var colors: [DominantColor] = []
        for _ in 0..<4 {
            let pick = min(Self.palette.count - 1, Int(Double(Self.palette.count) * pow(Double.random(in: 0..<1, using: &random), 1.5)))
            let entry = Self.palette[pick]
            let css = entry.css[Int.random(in: 0..<entry.css.count, using: &random)]
            let share = (remaining * Double.random(in: 0.3...0.7, using: &random) * 100).rounded() / 100
            remaining -= share
            colors.append(DominantColor(hex: "#808080", cssName: css, simpleName: entry.simple, share: share))
        }
        colors.sort { $0.share > $1.share }
        return ImageProperties(
            brightness: Double.random(in: 10...90, using: &random), contrast: Double.random(in: 5...60, using: &random),
            sharpness: min(100, max(0, 50 + 15 * (Double.random(in: -1...1, using: &random) + Double.random(in: -1...1, using: &random)))),
            colors: colors)
    }

    private mutating func zipfRank() -> Int {
        let target = Double.random(in: 0..<(cumulative.last ?? 1), using: &random)
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] < target { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// A small, fast, seedable generator so every bench run fills the same database.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
