import Foundation
import Imaging
import ImagingTestSupport
import PipelineModel
import Recognition
import TestSupport
import Testing

/// The similarity analyzer on real photos and edited copies of them (made here with libvips):
/// copies keep the perceptual hash within a few bits and the embedding close; different photos do not.
@Suite("Perceptual hash and embeddings")
struct SimilarityTests {
    static let root = BuiltExecutable.projectRoot()
    static let samples = root.appendingPathComponent("Models/samples")

    /// A photo as a 300x300 RGB raster (centre crop), to edit.
    static func raster(_ photo: String) throws -> Raster {
        let preprocessor = Preprocessor(spec: PreprocessSpec(width: 300, height: 300, resize: 300, mean: [0, 0, 0], std: [1, 1, 1]))
        let pixels = try preprocessor.pixels(fromFile: samples.appendingPathComponent(photo).path)
        return Raster(width: 300, height: 300, bands: 3, samples: pixels)
    }

    static func mirrored(_ r: Raster) -> Raster {
        var out = r.samples
        for y in 0..<r.height {
            for x in 0..<r.width {
                for c in 0..<3 { out[(y * r.width + x) * 3 + c] = r.samples[(y * r.width + r.width - 1 - x) * 3 + c] }
            }
        }
        return Raster(width: r.width, height: r.height, bands: 3, samples: out)
    }

    static func cropped(_ r: Raster, margin: Int) -> Raster {
        let (w, h) = (r.width - 2 * margin, r.height - 2 * margin)
        var out: [UInt8] = []
        for y in margin..<(margin + h) { out += r.samples[((y * r.width + margin) * 3)..<((y * r.width + margin + w) * 3)] }
        return Raster(width: w, height: h, bands: 3, samples: out)
    }

    static func halved(_ r: Raster) -> Raster {
        let (w, h) = (r.width / 2, r.height / 2)
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                for c in 0..<3 {
                    let sum = [(0, 0), (0, 1), (1, 0), (1, 1)].reduce(0) { $0 + Int(r.samples[((2 * y + $1.0) * r.width + 2 * x + $1.1) * 3 + c]) }
                    out[(y * w + x) * 3 + c] = UInt8(sum / 4)
                }
            }
        }
        return Raster(width: w, height: h, bands: 3, samples: out)
    }

    @Test("resized, re-encoded, cropped and mirrored copies group with their photo; the other photos do not")
    func copiesAreNearDuplicates() throws {
        let classifier = try ClassifierTests.loadClassifier()
        let directory = try TemporaryDirectory("similarity")
        defer { directory.remove() }
        var files: [(photo: String, edit: String, path: String)] = []
        for photo in ["cat.jpg", "coffee.jpg", "rocket.jpg"] {
            let original = try Self.raster(photo)
            let edits: [(String, Data)] = [
                ("original", try ImageEncoder.encode(original, as: .png)),
                ("resized", try ImageEncoder.encode(Self.halved(original), as: .jpeg, quality: 85)),
                ("recompressed", try ImageEncoder.encode(original, as: .jpeg, quality: 30)),
                ("cropped", try ImageEncoder.encode(Self.cropped(original, margin: 12), as: .jpeg, quality: 90)),
                ("mirrored", try ImageEncoder.encode(Self.mirrored(original), as: .jpeg, quality: 90)),
            ]
            for (edit, data) in edits {
                let path = directory.url.appendingPathComponent("\(photo)-\(edit)").path
                try data.write(to: URL(fileURLWithPath: path))
                files.append((photo, edit, path))
            }
        }
        let analyzers: [any ImageAnalyzer] = [
            LabelAnalyzer(classifier: classifier, options: LabelOptions()), SimilarityAnalyzer(classifier: classifier),
        ]
        let sections = try ImageAnalysis.run(files.map(\.path), with: analyzers, limits: .default).map {
            try #require(try $0.get().sections.similarity)
        }
        let hashes = try sections.map { try #require(PerceptualHash.parse($0.perceptualHash)) }
        let embeddings = try sections.map { section in
            try #require(Data(base64Encoded: section.embedding)).map { Float(Int8(bitPattern: $0)) }
        }
        #expect(embeddings.allSatisfy { $0.count == FeatureEmbedding.dimensions })
        #expect(Set(sections.map(\.embeddingModel)).count == 1 && !sections[0].embeddingModel.isEmpty)
        // Centre on the set's mean, as the store does.
        let mean = (0..<FeatureEmbedding.dimensions).map { index in embeddings.map { $0[index] }.reduce(0, +) / Float(embeddings.count) }
        func cosine(_ a: Int, _ b: Int) -> Float {
            let (x, y) = (zip(embeddings[a], mean).map(-), zip(embeddings[b], mean).map(-))
            let dot = zip(x, y).map(*).reduce(0, +)
            return dot / ((x.map { $0 * $0 }.reduce(0, +)).squareRoot() * (y.map { $0 * $0 }.reduce(0, +)).squareRoot())
        }
        for (index, file) in files.enumerated() where file.edit != "original" {
            let original = try #require(files.firstIndex { $0.photo == file.photo && $0.edit == "original" })
            let distance = PerceptualHash.distance(hashes[index], hashes[original])
            if file.edit != "cropped" { #expect(distance <= 8, "\(file.photo) \(file.edit): \(distance) bits") }
            #expect(cosine(index, original) >= 0.8 || distance <= 8, "\(file.photo) \(file.edit): cosine \(cosine(index, original))")
        }
        for a in files.indices {
            for b in files.indices where files[a].photo != files[b].photo {
                #expect(PerceptualHash.distance(hashes[a], hashes[b]) > 8, "\(files[a].path) vs \(files[b].path)")
                #expect(cosine(a, b) < 0.8)
            }
        }
    }

    @Test("the hash is the same for an image and its mirror, and hex round-trips")
    func mirrorInvariantHash() throws {
        let cat = try Self.raster("cat.jpg")
        let hash = PerceptualHash.hash(rgb: cat.samples, width: cat.width, height: cat.height)
        let mirror = Self.mirrored(cat)
        #expect(PerceptualHash.hash(rgb: mirror.samples, width: mirror.width, height: mirror.height) == hash)
        #expect(PerceptualHash.parse(PerceptualHash.hex(hash)) == hash)
        #expect(PerceptualHash.hex(0x00ff).count == 16)
        // About half the bits are set (a median split), so hashes spread.
        #expect((24...40).contains(hash.nonzeroBitCount))
    }

    @Test("embeddings are deterministic, scale-free and 256 int8 values")
    func embeddingBasics() {
        let features = (0..<1280).map { Float(($0 * 37) % 101) / 17 }
        let a = FeatureEmbedding.embed(features)
        #expect(a == FeatureEmbedding.embed(features))
        #expect(a == FeatureEmbedding.embed(features.map { $0 * 3 }))
        #expect(a.count == 256 && (a.contains(127) || a.contains(-127)))
        #expect(abs(FeatureEmbedding.cosine(a, a) - 1) < 1e-9)
    }
}
