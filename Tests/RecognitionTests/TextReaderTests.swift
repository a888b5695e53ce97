import Foundation
import Imaging
import ImagingTestSupport
import PipelineModel
import Testing

@testable import Recognition

/// Text in images read by PP-OCRv5 on our engine, through the analyzer as the recognizer runs it:
/// a sign on a photo, photos without text, and lines rendered with libvips in several fonts, sizes
/// and colours on photo backgrounds, turned by up to 10 degrees (character error rate).
@Suite("Text in images", .serialized)
struct TextReaderTests {
    static let samples = ClassifierTests.samples
    static let shared = Result { try TextReader(threads: 2) }
    static func reader() throws -> TextReader { try shared.get() }

    static func read(_ image: AnalysisImage, maxWords: Int? = nil) throws -> TextSection {
        let analyzer = TextAnalyzer(reader: try reader(), maxWords: maxWords)
        let output = try #require(analyzer.analyze([image]).first).get()
        guard case .text(let section) = output.section else {
            Issue.record("not a text section")
            return TextSection(model: ModelInfo(name: "", version: ""), detections: [])
        }
        return section
    }

    /// The photo with a sign the detector goldens use (Scripts/convert_ocr.py), 320 x 256, as a PNG.
    static func signPhoto() throws -> Data {
        let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/golden/ppocrv5/sign.rgb")
        let rgb = [UInt8](try Data(contentsOf: golden))
        return try ImageEncoder.encode(Raster(width: 320, height: 256, bands: 3, samples: rgb), as: .png)
    }

    @Test("a sign on a photo: two lines, each word linked to its line, boxes inside the image")
    func sign() throws {
        let section = try Self.read(AnalysisImage(data: Self.signPhoto(), path: "sign.png"))
        #expect(section.lines.map(\.text) == ["EXIT", "Main Street 12"])
        #expect(section.words.map(\.text) == ["EXIT", "Main", "Street", "12"])
        let lines = section.lines
        for word in section.words {
            let line = try #require(lines.first { $0.id == word.parentId })
            // A word's box lies within its line's (a little slack for rounding).
            #expect(word.box.left >= line.box.left - 0.01 && word.box.left + word.box.width <= line.box.left + line.box.width + 0.01)
            #expect(word.confidence > 80)
        }
        for detection in section.detections {
            #expect(detection.polygon.count == 4)
            #expect(detection.polygon.allSatisfy { (0...1).contains($0.x) && (0...1).contains($0.y) })
        }
        // The panel is at x 40-240, y 60-150 of 320 x 256: the lines are on it, EXIT above the street.
        #expect(lines[0].box.top < lines[1].box.top)
        #expect(lines.allSatisfy { $0.box.left > 0.1 && $0.box.top > 0.2 && $0.box.top + $0.box.height < 0.62 })
        #expect(section.fullText == "EXIT\nMain Street 12")
    }

    @Test("a photographed book page (grey, small print, slightly curved): every line read, its words found")
    func bookPage() throws {
        let data = try Data(contentsOf: Self.samples.appendingPathComponent("page.png"))
        let section = try Self.read(AnalysisImage(data: data, path: "page.png"))
        let lines = section.lines.map(\.text)
        #expect(lines.first == "Region-based segmentation", "\(lines)")
        // The heading, five lines of the paragraph and the code line at least.
        #expect(lines.count >= 7, "\(lines)")
        let words = Set(section.words.map { $0.text.lowercased().trimmingCharacters(in: .punctuationCharacters) })
        for word in ["segmentation", "markers", "coins", "background", "pixels", "unambiguously", "histogram", "grey", "values"] {
            #expect(words.contains(word), "\(word) not in \(lines)")
        }
        // Lines in reading order: top to bottom.
        let tops = section.lines.map(\.box.top)
        #expect(tops == tops.sorted())
    }

    @Test("--max-words keeps whole lines up to the cap and says the rest was left out")
    func maxWords() throws {
        let section = try Self.read(AnalysisImage(data: Self.signPhoto(), path: "sign.png"), maxWords: 2)
        #expect(section.lines.map(\.text) == ["EXIT"])
        #expect(section.truncated)
    }

    @Test("photos without text give none", arguments: ["cat.jpg", "grace-hopper.jpg"])
    func noText(_ name: String) throws {
        let data = try Data(contentsOf: Self.samples.appendingPathComponent(name))
        let section = try Self.read(AnalysisImage(data: data, path: name))
        #expect(section.detections.isEmpty, "read \(section.lines.map(\.text))")
    }

    struct Rendering: CustomTestStringConvertible, Sendable {
        var text: String
        var font: String
        var degrees: Double
        var ink: (UInt8, UInt8, UInt8)
        var panel: (UInt8, UInt8, UInt8)
        var background: String
        var testDescription: String { "\"\(text)\" in \(font), \(degrees) degrees on \(background)" }
    }

    /// Lines of signs, labels and posters in the DejaVu families at 20-40 pixels, dark on light and light
    /// on dark, turned -10 to 10 degrees.
    static let renderings: [Rendering] = [
        Rendering(
            text: "Opening hours 9:00-17:30", font: "DejaVu Sans 26", degrees: 0, ink: (20, 20, 30), panel: (240, 240, 230), background: "coffee.jpg"),
        Rendering(
            text: "Platform 4 trains to Oxford", font: "DejaVu Serif 28", degrees: 3, ink: (250, 250, 250), panel: (20, 60, 140),
            background: "rocket.jpg"),
        Rendering(
            text: "Fresh bread daily", font: "DejaVu Sans Bold 34", degrees: -6, ink: (120, 20, 20), panel: (250, 235, 200), background: "cat.jpg"),
        Rendering(text: "Mind the step", font: "DejaVu Sans Mono 24", degrees: 10, ink: (0, 0, 0), panel: (255, 210, 0), background: "astronaut.jpg"),
        Rendering(
            text: "Exit 12 Main Street", font: "DejaVu Serif Bold 22", degrees: -10, ink: (255, 255, 255), panel: (0, 110, 50),
            background: "coffee.jpg"),
        Rendering(
            text: "Café open until 22:00", font: "DejaVu Sans 30", degrees: 5, ink: (30, 30, 30), panel: (220, 230, 240), background: "camera.jpg"),
        Rendering(
            text: "No parking", font: "DejaVu Sans Condensed Bold 40", degrees: -3, ink: (200, 0, 0), panel: (255, 255, 255), background: "rocket.jpg"
        ),
        Rendering(
            text: "Recognition works offline", font: "DejaVu Serif Italic 24", degrees: 8, ink: (10, 10, 60), panel: (235, 235, 235),
            background: "cat.jpg"),
    ]

    /// Levenshtein distance between two strings' characters.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let (x, y) = (Array(a), Array(b))
        var previous = Array(0...y.count)
        for i in 1...max(1, x.count) where !x.isEmpty {
            var current = [i] + [Int](repeating: 0, count: y.count)
            for j in 1...max(1, y.count) where !y.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return x.isEmpty ? y.count : previous[y.count]
    }

    static func render(_ r: Rendering) throws -> Data {
        let photo = try FittedImage.decode(Data(contentsOf: samples.appendingPathComponent(r.background)), maxSide: 800, limits: .default)
        var pixels = photo.pixels
        let (text, panel) = try TextRenderer.masks(r.text, font: r.font, degrees: r.degrees)
        let x = max(0, (photo.width - panel.width) / 2)
        let y = max(0, photo.height / 3 - panel.height / 2)
        TextRenderer.paint(panel, color: r.panel, opacity: 0.85, on: &pixels, width: photo.width, height: photo.height, x: x, y: y)
        TextRenderer.paint(text, color: r.ink, on: &pixels, width: photo.width, height: photo.height, x: x, y: y)
        return try ImageEncoder.encode(Raster(width: photo.width, height: photo.height, bands: 3, samples: pixels), as: .jpeg, quality: 92)
    }

    @Test("rendered lines in 8 fonts, sizes and colours on photos, turned up to 10 degrees: character error rate at most 2%")
    func renderedText() throws {
        var (errors, characters) = (0, 0)
        var misreads: [String] = []
        for rendering in Self.renderings {
            let section = try Self.read(AnalysisImage(data: Self.render(rendering), path: rendering.testDescription))
            let read = section.lines.map(\.text).joined(separator: " ")
            let distance = Self.editDistance(read, rendering.text)
            errors += distance
            characters += rendering.text.count
            if distance > 0 { misreads.append("\(rendering.testDescription): read \"\(read)\"") }
        }
        let rate = Double(errors) / Double(characters)
        #expect(rate <= 0.02, "character error rate \(rate): \(misreads)")
    }
}
