import Foundation
import Imaging
import PipelineModel
import Recognition
import TestSupport
import Testing

/// Brightness, contrast, sharpness and dominant colours on images whose answer is known.
@Suite("image properties")
struct ImagePropertiesTests {
    static let side = 224

    /// A side x side RGB image from a per-pixel colour.
    static func raster(_ color: (Int, Int) -> (UInt8, UInt8, UInt8)) -> [UInt8] {
        var pixels: [UInt8] = []
        pixels.reserveCapacity(side * side * 3)
        for y in 0..<side {
            for x in 0..<side {
                let (r, g, b) = color(x, y)
                pixels += [r, g, b]
            }
        }
        return pixels
    }

    /// A 5x5 box blur of `pixels`, edges clamped.
    static func blurred(_ pixels: [UInt8]) -> [UInt8] {
        var out = pixels
        for y in 0..<side {
            for x in 0..<side {
                for c in 0..<3 {
                    var sum = 0
                    for dy in -2...2 {
                        for dx in -2...2 {
                            let yy = min(side - 1, max(0, y + dy))
                            let xx = min(side - 1, max(0, x + dx))
                            sum += Int(pixels[(yy * side + xx) * 3 + c])
                        }
                    }
                    out[(y * side + x) * 3 + c] = UInt8(sum / 25)
                }
            }
        }
        return out
    }

    @Test("a flat red image: red, no contrast, no sharpness, brightness its luma")
    func flatColour() {
        let properties = ImagePropertiesMeasure.measure(Self.raster { _, _ in (255, 0, 0) }, width: Self.side, height: Self.side)
        #expect(abs(properties.brightness - 29.9) < 0.2)
        #expect(properties.contrast == 0)
        #expect(properties.sharpness == 0)
        #expect(properties.colors == [DominantColor(hex: "#ff0000", cssName: "red", simpleName: "red", share: 100)])
    }

    @Test("half black, half white: full contrast, mid brightness, two colours of half each")
    func blackAndWhite() {
        let properties = ImagePropertiesMeasure.measure(
            Self.raster { x, _ in x < Self.side / 2 ? (0, 0, 0) : (255, 255, 255) }, width: Self.side, height: Self.side)
        #expect(abs(properties.brightness - 50) < 0.2)
        #expect(properties.contrast == 100)
        #expect(Set(properties.colors.map(\.simpleName)) == ["black", "white"])
        #expect(properties.colors.allSatisfy { $0.share == 50 })
    }

    @Test("fine detail is sharp, the same detail blurred is not")
    func sharpness() {
        let texture = Self.raster { x, y in
            let v = UInt8(((x / 2 + y / 2) % 2 == 0) ? 40 : 210)
            return (v, v, v)
        }
        let sharp = ImagePropertiesMeasure.measure(texture, width: Self.side, height: Self.side).sharpness
        let soft = ImagePropertiesMeasure.measure(Self.blurred(texture), width: Self.side, height: Self.side).sharpness
        #expect(sharp > 90)
        #expect(soft < sharp / 2, "sharp \(sharp), blurred \(soft)")
    }

    @Test(
        "simple colour names",
        arguments: [
            ((30, 90, 200), "blue"), ((40, 160, 60), "green"), ((250, 220, 40), "yellow"), ((250, 140, 20), "orange"),
            ((120, 70, 30), "brown"), ((130, 40, 170), "purple"), ((250, 170, 200), "pink"), ((128, 128, 128), "gray"),
            ((10, 10, 12), "black"), ((245, 245, 240), "white"), ((200, 20, 30), "red"),
        ])
    func simpleNames(_ rgb: (Int, Int, Int), _ expected: String) {
        let color = (UInt8(rgb.0), UInt8(rgb.1), UInt8(rgb.2))
        let properties = ImagePropertiesMeasure.measure(Self.raster { _, _ in color }, width: Self.side, height: Self.side)
        #expect(properties.colors.first?.simpleName == expected, "\(rgb): \(properties.colors)")
    }

    @Test("on a real photo: a blurred copy is less sharp; colours add up to at most 100% and come largest first")
    func realPhoto() throws {
        let path = BuiltExecutable.projectRoot().appendingPathComponent("Models/samples/coffee.jpg").path
        let pixels = try Preprocessor().pixels(fromFile: path)
        let photo = ImagePropertiesMeasure.measure(pixels, width: Self.side, height: Self.side)
        let blurred = ImagePropertiesMeasure.measure(Self.blurred(pixels), width: Self.side, height: Self.side)
        #expect(blurred.sharpness < photo.sharpness)
        #expect(!photo.colors.isEmpty && photo.colors.count <= 10)
        #expect(photo.colors.map(\.share) == photo.colors.map(\.share).sorted(by: >))
        #expect(photo.colors.reduce(0) { $0 + $1.share } <= 100.5)
        #expect(photo.colors.allSatisfy { $0.hex.count == 7 && $0.hex.hasPrefix("#") })
    }

    @Test("the properties analyzer reuses the classifier's preparation of the image")
    func sharesThePreparation() throws {
        let path = BuiltExecutable.projectRoot().appendingPathComponent("Models/samples/cat.jpg").path
        let image = try AnalysisImage.open(path, limits: .default)
        let preprocessor = Preprocessor()
        let first = try image.pixels(with: preprocessor)
        let output = try ImagePropertiesAnalyzer(preprocessor: preprocessor).analyze([image])[0].get()
        guard case .properties(let properties) = output.section else {
            Issue.record("expected a properties section, got \(output.section)")
            return
        }
        #expect(properties == ImagePropertiesMeasure.measure(first, width: Self.side, height: Self.side))
        #expect(output.decodeMs == 0, "no second decode")
    }
}
