import Foundation
import Imaging
import ImagingTestSupport
import Testing

@Suite("ImageFormat")
struct ImageFormatTests {
    @Test("sniffs every supported format from bytes libvips wrote", arguments: ImageFormat.allCases)
    func sniffsEncodedImages(format: ImageFormat) throws {
        let data = try ImageEncoder.encode(.gradient(width: 32, height: 24), as: format)
        #expect(ImageFormat.sniff(data) == format)
        #expect(ImageFormat.sniff(Array(data)) == format)
    }

    @Test("magic bytes only: short or foreign prefixes are not images")
    func rejectsForeignPrefixes() {
        #expect(ImageFormat.sniff(Data()) == nil)
        #expect(ImageFormat.sniff([0xFF, 0xD8]) == nil)
        #expect(ImageFormat.sniff(Array("<!doctype html>".utf8)) == nil)
        #expect(ImageFormat.sniff(Array("RIFF\0\0\0\0WAVEfmt ".utf8)) == nil)
        #expect(ImageFormat.sniff(Array("BM".utf8) + [UInt8](repeating: 0, count: 30)) == nil)
        #expect(ImageFormat.sniff([0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0]) == .tiff)
        #expect(ImageFormat.sniff([0x4D, 0x4D, 0x00, 0x2B]) == .tiff)
    }

    @Test("ISO media brands tell HEIF from AVIF")
    func isoBrands() {
        func ftyp(_ major: String, _ compatible: [String]) -> [UInt8] {
            let body = Array(major.utf8) + [0, 0, 0, 0] + compatible.flatMap { Array($0.utf8) }
            let size = UInt32(8 + body.count)
            return withUnsafeBytes(of: size.bigEndian, Array.init) + Array("ftyp".utf8) + body
        }
        #expect(ImageFormat.sniff(ftyp("avif", ["mif1", "miaf"])) == .avif)
        #expect(ImageFormat.sniff(ftyp("mif1", ["avif", "miaf"])) == .avif)
        #expect(ImageFormat.sniff(ftyp("heic", ["mif1", "heic"])) == .heif)
        #expect(ImageFormat.sniff(ftyp("mif1", ["heic"])) == .heif)
        #expect(ImageFormat.sniff(ftyp("isom", ["mp41"])) == nil)
    }

    @Test("MIME types")
    func mimeTypes() {
        #expect(ImageFormat.jpeg.mimeType == "image/jpeg")
        #expect(ImageFormat.png.mimeType == "image/png")
        #expect(ImageFormat.webp.mimeType == "image/webp")
        #expect(ImageFormat.gif.mimeType == "image/gif")
        #expect(ImageFormat.tiff.mimeType == "image/tiff")
        #expect(ImageFormat.heif.mimeType == "image/heif")
        #expect(ImageFormat.avif.mimeType == "image/avif")
    }
}
