import Foundation
import Imaging
import ImagingTestSupport
import Testing

/// The whole-image preparation for detectors: JPEGs scaled in the decoder, other formats fitted,
/// and the letterboxed regions cut from it.
@Suite("Fitted images and letterboxes")
struct FittedImageTests {
    @Test("a JPEG comes scaled by the largest DCT factor keeping its longer side at least half the box; a PNG fitted inside it")
    func sizes() throws {
        let raster = Raster.gradient(width: 2000, height: 1500)
        let jpeg = try FittedImage.decode(try ImageEncoder.encode(raster, as: .jpeg), maxSide: 1536, limits: .default)
        #expect(jpeg.width == 1000 && jpeg.height == 750)
        let small = try FittedImage.decode(
            try ImageEncoder.encode(Raster.gradient(width: 300, height: 200), as: .jpeg), maxSide: 1536, limits: .default)
        #expect(small.width == 300 && small.height == 200, "never enlarged")
        let png = try FittedImage.decode(try ImageEncoder.encode(raster, as: .png), maxSide: 1536, limits: .default)
        #expect(max(png.width, png.height) == 1536 && abs(png.width * 3 - png.height * 4) <= 4)
        #expect(throws: ImagingError.self) { try FittedImage.decode(Data("<html>".utf8), maxSide: 1536, limits: .default) }
    }

    @Test("a letterbox scales the region's longer side to the square, keeps colours, and pads with black")
    func letterbox() throws {
        // Left half red, right half blue, 400 x 200.
        var samples: [UInt8] = []
        for _ in 0..<200 {
            for x in 0..<400 { samples += x < 200 ? [200, 10, 10] : [10, 10, 200] }
        }
        let image = try FittedImage(width: 400, height: 200, pixels: samples)
        let (pixels, scale) = try image.letterbox(PixelRegion(x: 0, y: 0, width: 400, height: 200), size: 100)
        #expect(scale == 0.25)
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(pixels[((y * 100 + x) * 3)..<((y * 100 + x) * 3 + 3)]) }
        #expect(pixel(10, 10) == [200, 10, 10])
        #expect(pixel(90, 40) == [10, 10, 200])
        #expect(pixel(50, 80) == [0, 0, 0], "below the 100 x 50 image: black")
        // A small region is enlarged (bilinear): the blue quarter fills the square.
        let (zoomed, factor) = try image.letterbox(PixelRegion(x: 300, y: 0, width: 50, height: 50), size: 100)
        #expect(factor == 2 && zoomed.allSatisfy { $0 == 10 || $0 == 200 })
        #expect(throws: ImagingError.self) { try image.letterbox(PixelRegion(x: 350, y: 0, width: 100, height: 10), size: 100) }
    }
}
