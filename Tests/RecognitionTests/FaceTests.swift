import Foundation
import Imaging
import ImagingTestSupport
import PipelineModel
import Testing

@testable import Recognition

/// Faces on real photos: BlazeFace (full range) on our engine, through the analyzer as the
/// recognizer runs it.
@Suite("Face detection")
struct FaceTests {
    static let samples = ClassifierTests.samples
    static let shared = Result { try FaceDetector(threads: 2) }
    static func detector() throws -> FaceDetector { try shared.get() }

    static func faces(in data: Data, detector: FaceDetector? = nil) throws -> [DetectedFace] {
        let analyzer = FaceAnalyzer(detector: try detector ?? Self.detector())
        let output = try #require(analyzer.analyze([AnalysisImage(data: data, path: "test")]).first).get()
        guard case .faces(let section) = output.section else {
            Issue.record("not a faces section")
            return []
        }
        return section.faces
    }

    static func sample(_ name: String) throws -> Data { try Data(contentsOf: samples.appendingPathComponent(name)) }

    @Test("anchors: 48x48 for the full-range model, 16x16x2 + 8x8x6 for the short-range one")
    func anchorLayouts() {
        #expect(FaceDecoding.anchors(inputSize: 192, strides: [4], interpolatedScaleAspectRatio: 0).count == 2304)
        let short = FaceDecoding.anchors(inputSize: 128, strides: [8, 16, 16, 16], interpolatedScaleAspectRatio: 1)
        #expect(short.count == 896)
        #expect(short[0].x == 1.0 / 32 && short[1].x == 1.0 / 32 && short[2].x == 3.0 / 32)
        #expect(short[512].x == 1.0 / 16 && short[517].x == 1.0 / 16 && short[518].x == 3.0 / 16)
    }

    @Test("weighted suppression averages one face's boxes by score and keeps separate faces apart")
    func weightedSuppression() {
        func box(_ x: Double, _ score: Double) -> FaceCandidate {
            FaceCandidate(xMin: x, yMin: 0.1, xMax: x + 0.2, yMax: 0.3, keypoints: [(x + 0.1, 0.2)], score: score)
        }
        let merged = FaceDecoding.weightedSuppression([box(0.10, 0.9), box(0.12, 0.6), box(0.6, 0.7), box(0.11, 0.3)])
        #expect(merged.count == 2)
        #expect(merged[0].score == 0.9 && merged[1].score == 0.7)
        // (0.10 * 0.9 + 0.12 * 0.6 + 0.11 * 0.3) / 1.8
        #expect(abs(merged[0].xMin - 0.1083333) < 1e-6)
        #expect(abs(merged[0].keypoints[0].x - 0.2083333) < 1e-6)
        #expect(merged[1].xMin == 0.6)
    }

    @Test("tiles: none for a small image; overlapping squares covering a large one")
    func tileRegions() throws {
        let detector = try Self.detector()
        #expect(detector.regions(width: 512, height: 384).count == 1)
        let regions = detector.regions(width: 1536, height: 1152)
        #expect(regions.count == 5, "\(regions)")
        let tiles = regions.dropFirst()
        #expect(tiles.allSatisfy { $0.width == 922 && $0.height == 922 })
        #expect(tiles.map { $0.x + $0.width }.max() == 1536 && tiles.map { $0.y + $0.height }.max() == 1152)
        #expect(Set(tiles.map(\.x)) == [0, 614] && Set(tiles.map(\.y)) == [0, 230])
        let wide = detector.regions(width: 1536, height: 512).dropFirst()
        #expect(wide.count == 4 && wide.allSatisfy { $0.height == 512 })
    }

    @Test("a portrait gives one face with its keypoints inside the box", arguments: ["astronaut.jpg", "grace-hopper.jpg", "camera.jpg"])
    func portraitHasOneFace(_ photo: String) throws {
        let faces = try Self.faces(in: Self.sample(photo))
        try #require(faces.count == 1, "\(photo): \(faces)")
        let face = faces[0]
        #expect(face.confidence >= 50)
        #expect(face.keypoints.count == 6)
        let box = face.box
        // Eyes, nose and mouth inside the box (the ear points sit on its sides).
        for point in face.keypoints.prefix(4) {
            #expect(point.x >= box.left && point.x <= box.left + box.width && point.y >= box.top && point.y <= box.top + box.height, "\(point)")
        }
        // The face is a sizeable part of a portrait, and the eyes are above the mouth.
        #expect(box.width > 0.1 && box.width < 0.6)
        #expect(face.keypoints[0].y < face.keypoints[3].y && face.keypoints[1].y < face.keypoints[3].y)
    }

    @Test("a cat, a coffee and a rocket have no face", arguments: ["cat.jpg", "coffee.jpg", "rocket.jpg"])
    func noFaces(_ photo: String) throws {
        #expect(try Self.faces(in: Self.sample(photo)).isEmpty)
    }

    @Test("three people side by side: three faces, found in tiles, each once")
    func severalPeople() throws {
        let portraits = try ["astronaut.jpg", "grace-hopper.jpg", "camera.jpg"].map {
            try FittedImage.decode(Self.sample($0), maxSide: 1024, limits: .default)
        }
        let height = 512
        let width = portraits.map(\.width).reduce(0, +)
        var samples = [UInt8](repeating: 0, count: width * height * 3)
        var left = 0
        for portrait in portraits {
            for y in 0..<min(height, portrait.height) {
                let source = y * portrait.width * 3
                let target = (y * width + left) * 3
                samples.replaceSubrange(target..<(target + portrait.width * 3), with: portrait.pixels[source..<(source + portrait.width * 3)])
            }
            left += portrait.width
        }
        let group = try ImageEncoder.encode(Raster(width: width, height: height, bands: 3, samples: samples), as: .jpeg, quality: 92)
        let faces = try Self.faces(in: group)
        #expect(faces.count == 3, "\(faces.map(\.box))")
        // The whole image alone, 1536 pixels squeezed into 192, shows the faces at about 13 pixels.
        let wholeOnly = try Self.faces(in: group, detector: FaceDetector(threads: 2, tiles: false))
        #expect(wholeOnly.count < 3, "without tiles: \(wholeOnly.map(\.box))")
        // One face in each third, left to right.
        let centres = faces.map { $0.box.left + $0.box.width / 2 }.sorted()
        let bounds = portraits.reduce(into: [0]) { $0.append($0.last! + $1.width) }.map { Double($0) / Double(width) }
        for (index, centre) in centres.enumerated() where index < 3 {
            #expect(centre > bounds[index] && centre < bounds[index + 1], "face \(index) at \(centre)")
        }
    }

    @Test("faces are found on the upright image: an EXIF-rotated file gives the same box")
    func exifRotationIsApplied() throws {
        let upright = try FittedImage.decode(Self.sample("astronaut.jpg"), maxSide: 1024, limits: .default)
        // Store the photo turned a quarter counter-clockwise, tagged orientation 6 (turn it clockwise to view).
        let (w, h) = (upright.width, upright.height)
        var turned = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                // Upright (x, y) is stored at column y, row w - 1 - x of an h-wide image.
                let target = ((w - 1 - x) * h + y) * 3
                let source = (y * w + x) * 3
                turned[target..<(target + 3)] = upright.pixels[source..<(source + 3)]
            }
        }
        let file = try ImageEncoder.encode(Raster(width: h, height: w, bands: 3, samples: turned), as: .jpeg, quality: 95, orientation: 6)
        let rotated = try Self.faces(in: file)
        let original = try Self.faces(in: ImageEncoder.encode(Raster(width: w, height: h, bands: 3, samples: upright.pixels), as: .jpeg, quality: 95))
        try #require(rotated.count == 1 && original.count == 1, "rotated \(rotated), original \(original)")
        #expect(abs(rotated[0].box.left - original[0].box.left) < 0.02)
        #expect(abs(rotated[0].box.top - original[0].box.top) < 0.02)
        #expect(abs(rotated[0].box.width - original[0].box.width) < 0.02)
    }

    @Test("with faces, the labels gain 'person' in the people category; without, they do not")
    func personLabel() throws {
        var analyses = ImageAnalyses(
            labels: LabelsSection(
                model: ModelInfo(name: "m", version: "1"),
                labels: [
                    DetectedLabel(name: "clothing", confidence: 83, parents: []), DetectedLabel(name: "mortarboard", confidence: 25, parents: []),
                ],
                categories: [LabelCategory(id: "clothing", name: "Clothing", confidence: 83)]))
        analyses.faces = FacesSection(model: ModelInfo(name: "f", version: "1"), faces: [])
        analyses.addPersonLabel()
        #expect(analyses.labels?.labels.map(\.name) == ["clothing", "mortarboard"])
        analyses.faces?.faces = [DetectedFace(box: BoundingBox(left: 0, top: 0, width: 0.5, height: 0.5), confidence: 89.3, keypoints: [])]
        analyses.addPersonLabel()
        #expect(analyses.labels?.labels.map(\.name) == ["person", "clothing", "mortarboard"])
        #expect(analyses.labels?.labels.first?.categories == ["people"])
        #expect(analyses.labels?.categories?.first?.id == "people")
        // Twice is once.
        analyses.addPersonLabel()
        #expect(analyses.labels?.labels.filter { $0.name == "person" }.count == 1)
    }
}
