import Foundation
import Imaging
import ImagingTestSupport
import Testing

@Suite("ImageInspector")
struct ImageInspectorTests {
    @Test("reads format, size and bands from the header", arguments: ImageFormat.allCases)
    func probesEachFormat(format: ImageFormat) throws {
        let data = try ImageEncoder.encode(.gradient(width: 40, height: 30), as: format)
        let header = try ImageInspector.inspect(data)
        #expect(header.format == format)
        #expect(header.width == 40)
        #expect(header.height == 30)
        #expect(header.bands == 3)
        #expect(header.mimeType == format.mimeType)
    }

    @Test("reports EXIF orientation and the upright size")
    func orientation() throws {
        let data = try ImageEncoder.encode(.gradient(width: 60, height: 20), as: .jpeg, orientation: 6)
        let header = try ImageInspector.inspect(data)
        #expect(header.orientation == 6)
        #expect(header.width == 60 && header.height == 20)
        #expect(header.uprightSize == (20, 60))
    }

    @Test("reads files too, with errno on failure")
    func files() throws {
        let directory = try TestImages.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("g.png").path
        try ImageEncoder.encode(.gradient(width: 7, height: 5), as: .png).write(to: URL(fileURLWithPath: path))
        #expect(try ImageInspector.inspect(fileAt: path) == ImageHeader(format: .png, width: 7, height: 5, bands: 3))

        let missing = directory.appendingPathComponent("missing.png").path
        #expect(throws: ImagingError.unreadableFile(path: missing, errno: ENOENT)) {
            try ImageInspector.inspect(fileAt: missing)
        }
        #expect(throws: ImagingError.unreadableFile(path: directory.path, errno: EISDIR)) {
            try ImageInspector.inspect(fileAt: directory.path)
        }
        #expect(throws: ImagingError.fileTooLarge(path: path, bytes: try Data(contentsOf: URL(fileURLWithPath: path)).count, limit: 10)) {
            try ImageInspector.inspect(fileAt: path, limits: ImageLimits(maxFileBytes: 10))
        }
    }

    @Test("refuses a 50000x50000 PNG header without decoding it")
    func decompressionBomb() throws {
        let bomb = try TestImages.badFixture("bomb-50000x50000.png")
        #expect(bomb.count < 100)
        #expect(throws: ImagingError.tooManyPixels(width: 50000, height: 50000, limit: 100_000_000)) {
            try ImageInspector.inspect(bomb)
        }
        // The same check guards decoding; a pixel allocation this size would take seconds and
        // 7.5 GB, so finishing at all shows the refusal came from the header.
        #expect(throws: ImagingError.tooManyPixels(width: 50000, height: 50000, limit: 100_000_000)) {
            try Preprocessor().pixels(from: bomb)
        }
        let error = try #require(throws: ImagingError.self) { try ImageInspector.inspect(bomb) }
        #expect(error.description.contains("50000x50000"))
        #expect(error.description.contains("decompression bomb"))
    }

    @Test("the pixel limit is configurable")
    func customLimit() throws {
        let data = try ImageEncoder.encode(.gradient(width: 100, height: 100), as: .png)
        #expect(throws: ImagingError.tooManyPixels(width: 100, height: 100, limit: 9_999)) {
            try ImageInspector.inspect(data, limits: ImageLimits(maxPixels: 9_999))
        }
        #expect(try ImageInspector.inspect(data, limits: ImageLimits(maxPixels: 10_000)).width == 100)
    }

    @Test("zero bytes is .empty")
    func empty() throws {
        #expect(throws: ImagingError.empty) { try ImageInspector.inspect(Data()) }
        #expect(throws: ImagingError.empty) { try ImageInspector.inspect(TestImages.badFixture("empty.jpg")) }
    }

    @Test("an HTML page is not an image, and the error says it is HTML")
    func htmlPage() throws {
        let page = try TestImages.badFixture("page.html")
        #expect(throws: ImagingError.notAnImage(detected: "an HTML page")) { try ImageInspector.inspect(page) }
        let error = try #require(throws: ImagingError.self) { try ImageInspector.inspect(page) }
        #expect(error.description.contains("HTML"))
        #expect(throws: ImagingError.notAnImage(detected: "an HTML page")) {
            try ImageInspector.inspect(Data("  \n<HTML><body>moved</body></HTML>".utf8))
        }
        #expect(throws: ImagingError.notAnImage(detected: "an HTML page")) {
            try ImageInspector.inspect(Data("\u{FEFF}<!-- login wall -->\n<html lang=en>".utf8))
        }
    }

    @Test("plain text, JSON and binary junk are not images")
    func otherNonImages() throws {
        #expect(throws: ImagingError.notAnImage(detected: "plain text")) {
            try ImageInspector.inspect(TestImages.badFixture("notes.txt"))
        }
        #expect(throws: ImagingError.notAnImage(detected: "JSON")) {
            try ImageInspector.inspect(Data(#"{"error": "rate limited"}"#.utf8))
        }
        #expect(throws: ImagingError.notAnImage(detected: "a PDF document")) {
            try ImageInspector.inspect(Data("%PDF-1.7\n%\u{e2}\u{e3}".utf8))
        }
        #expect(throws: ImagingError.notAnImage(detected: nil)) {
            try ImageInspector.inspect(Data([0x00, 0x01, 0x02, 0x03, 0xFE, 0xFD, 0x00, 0x00]))
        }
    }

    @Test("images in formats the pipeline does not decode are unsupported")
    func unsupportedFormats() throws {
        // libvips could open this BMP (through ImageMagick), but that loader is not trusted.
        #expect(throws: ImagingError.unsupportedFormat("BMP")) {
            try ImageInspector.inspect(TestImages.badFixture("tiny.bmp"))
        }
        #expect(throws: ImagingError.unsupportedFormat("SVG")) {
            try ImageInspector.inspect(Data(#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>"#.utf8))
        }
        let error = ImagingError.unsupportedFormat("BMP")
        #expect(error.description.contains("convert it to JPEG"))
    }

    @Test("a JPEG cut in half passes the header check but is refused when decoded")
    func truncatedJPEGHeader() throws {
        let cut = try TestImages.badFixture("truncated.jpg")
        #expect(try ImageInspector.inspect(cut).format == .jpeg)
        let error = try #require(throws: ImagingError.self) { try Preprocessor().pixels(from: cut) }
        guard case .truncated(format: .jpeg, _) = error else {
            Issue.record("expected truncated JPEG, got \(error)")
            return
        }
    }

    @Test("a cut header is truncated, damaged magic is corrupt")
    func brokenHeaders() throws {
        let png = try ImageEncoder.encode(.gradient(width: 40, height: 30), as: .png)
        let error = try #require(throws: ImagingError.self) { try ImageInspector.inspect(png.prefix(20)) }
        guard case .truncated(format: .png, _) = error else {
            Issue.record("expected truncated PNG, got \(error)")
            return
        }
    }
}
