import Foundation
import Imaging
import ImagingTestSupport
import Testing

@Suite("Preprocessor")
struct PreprocessorTests {
    let preprocessor = Preprocessor()

    @Test("every format preprocesses to 224x224x3", arguments: ImageFormat.allCases)
    func eachFormat(format: ImageFormat) throws {
        let data = try ImageEncoder.encode(TestImages.landmarks(), as: format)
        let (header, pixels) = try preprocessor.preprocess(data)
        #expect(header.format == format)
        #expect(pixels.count == 224 * 224 * 3)
        // Centre of the crop sits on the red/blue border; a bit left is red, a bit right blue.
        #expect(near(rgb(pixels, width: 224, x: 60, y: 112), [255, 0, 0], tolerance: 60))
        #expect(near(rgb(pixels, width: 224, x: 170, y: 112), [0, 0, 255], tolerance: 60))
    }

    @Test("file and buffer give the same bytes")
    func fileMatchesBuffer() throws {
        let directory = try TestImages.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try ImageEncoder.encode(.gradient(width: 500, height: 375), as: .jpeg)
        // A '[' in the path would be taken for load options by libvips' filename parser.
        let url = directory.appendingPathComponent("photo [1].jpg")
        try data.write(to: url)
        #expect(try preprocessor.pixels(fromFile: url.path) == preprocessor.pixels(from: data))
    }

    @Test("the crop is the centre of a shorter-side-256 resize")
    func cropGeometry() throws {
        // 512x256 gradient: already 256 high, so thumbnail keeps the scale and cuts the centre
        // 256 columns (x 128..<384); the 224 crop then starts 16 px further: x 144...367, y 16.
        let source = Raster.gradient(width: 512, height: 256)
        let pixels = try preprocessor.pixels(from: ImageEncoder.encode(source, as: .png))
        #expect(abs(rgb(pixels, width: 224, x: 0, y: 0)[0] - 144 * 255 / 511) <= 1)
        #expect(abs(rgb(pixels, width: 224, x: 223, y: 0)[0] - 367 * 255 / 511) <= 1)
        #expect(abs(rgb(pixels, width: 224, x: 0, y: 0)[1] - 16) <= 1)
        #expect(abs(rgb(pixels, width: 224, x: 0, y: 223)[1] - 239) <= 1)
    }

    @Test("EXIF orientation 6 is applied: the image is rotated 90° clockwise")
    func exifRotation() throws {
        let raster = TestImages.landmarks()  // landscape: red left, blue right, green top-left
        let upright = try preprocessor.pixels(from: ImageEncoder.encode(raster, as: .jpeg))
        let rotated = try preprocessor.pixels(from: ImageEncoder.encode(raster, as: .jpeg, orientation: 6))
        #expect(near(rgb(upright, width: 224, x: 60, y: 112), [255, 0, 0]))
        #expect(near(rgb(upright, width: 224, x: 170, y: 112), [0, 0, 255]))
        // Orientation 6 means "rotate 90° clockwise to display": the left (red) half goes to
        // the top, the right (blue) half to the bottom, the green top-left corner to top-right.
        #expect(near(rgb(rotated, width: 224, x: 112, y: 60), [255, 0, 0]))
        #expect(near(rgb(rotated, width: 224, x: 112, y: 170), [0, 0, 255]))
        #expect(near(rgb(rotated, width: 224, x: 60, y: 170), [0, 0, 255]))
        #expect(near(rgb(rotated, width: 224, x: 210, y: 5), [0, 255, 0]))
        #expect(near(rgb(rotated, width: 224, x: 14, y: 5), [255, 0, 0]))
    }

    @Test(
        "JPEGs shrunk on load (factor 2, 4, 8) show the same picture as a PNG of it",
        arguments: [(600, 520), (1600, 1200), (1200, 1600), (2100, 2050)])
    func jpegShrinkOnLoad(size: (width: Int, height: Int)) throws {
        // The PNG goes through libvips' own thumbnail; the JPEG is decoded at 1/2, 1/4 or 1/8
        // scale first. A smooth gradient leaves only JPEG and resampling noise between them.
        let raster = Raster.gradient(width: size.width, height: size.height)
        let fromJPEG = try preprocessor.pixels(from: ImageEncoder.encode(raster, as: .jpeg, quality: 95))
        let fromPNG = try preprocessor.pixels(from: ImageEncoder.encode(raster, as: .png))
        try #require(fromJPEG.count == fromPNG.count)
        let worst = zip(fromJPEG, fromPNG).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(worst <= 8, "\(size): max |JPEG - PNG| = \(worst)")
    }

    @Test("EXIF orientation is applied to a JPEG shrunk on load", arguments: [3, 6])
    func exifRotationShrunk(orientation: Int) throws {
        let raster = TestImages.landmarks(width: 1600, height: 1200)
        let pixels = try preprocessor.pixels(from: ImageEncoder.encode(raster, as: .jpeg, orientation: orientation))
        if orientation == 6 {
            // 90° clockwise: red (left) on top, blue (right) below, green corner top-right.
            #expect(near(rgb(pixels, width: 224, x: 112, y: 60), [255, 0, 0]))
            #expect(near(rgb(pixels, width: 224, x: 112, y: 170), [0, 0, 255]))
            #expect(near(rgb(pixels, width: 224, x: 210, y: 5), [0, 255, 0]))
        } else {
            // 180°: blue left, red right, green corner bottom-right.
            #expect(near(rgb(pixels, width: 224, x: 60, y: 112), [0, 0, 255]))
            #expect(near(rgb(pixels, width: 224, x: 170, y: 112), [255, 0, 0]))
            #expect(near(rgb(pixels, width: 224, x: 218, y: 218), [0, 255, 0]))
        }
    }

    @Test("grey images become 3 equal bands")
    func grey() throws {
        var samples = [UInt8](repeating: 0, count: 300 * 300)
        for index in samples.indices { samples[index] = UInt8((index % 300) * 255 / 299) }
        let raster = Raster(width: 300, height: 300, bands: 1, samples: samples)
        for format in [ImageFormat.png, .jpeg, .tiff] {
            let data = try ImageEncoder.encode(raster, as: format)
            #expect(try ImageInspector.inspect(data).bands == 1)
            let pixels = try preprocessor.pixels(from: data)
            #expect(pixels.count == 224 * 224 * 3)
            let pixel = rgb(pixels, width: 224, x: 100, y: 100)
            #expect(pixel[0] == pixel[1] && pixel[1] == pixel[2], "\(format): \(pixel)")
        }
    }

    @Test("alpha is flattened onto white: a fully transparent pixel becomes white")
    func alphaOnWhite() throws {
        // Left half opaque red, right half fully transparent black.
        var samples = [UInt8]()
        for _ in 0..<256 {
            for x in 0..<256 { samples += x < 128 ? [255, 0, 0, 255] : [0, 0, 0, 0] }
        }
        let raster = Raster(width: 256, height: 256, bands: 4, samples: samples)
        for format in [ImageFormat.png, .webp, .tiff] {
            let data = try ImageEncoder.encode(raster, as: format)
            #expect(try ImageInspector.inspect(data).bands == 4)
            let pixels = try preprocessor.pixels(from: data)
            #expect(pixels.count == 224 * 224 * 3)
            #expect(rgb(pixels, width: 224, x: 200, y: 100) == [255, 255, 255], "\(format)")
            #expect(near(rgb(pixels, width: 224, x: 20, y: 100), [255, 0, 0], tolerance: 8), "\(format)")
        }
        // Grey + alpha too.
        let greyAlpha = Raster(width: 2, height: 1, bands: 2, samples: [0, 255, 0, 0])
        let pixels = try preprocessor.pixels(from: ImageEncoder.encode(greyAlpha, as: .png))
        #expect(pixels.count == 224 * 224 * 3)
    }

    @Test("16-bit PNG and TIFF become 8-bit sRGB")
    func sixteenBit() throws {
        var samples = [UInt16]()
        for _ in 0..<64 {
            for _ in 0..<64 { samples += [65535, 32768, 0] }
        }
        let raster = Raster(width: 64, height: 64, bands: 3, samples16: samples)
        for format in [ImageFormat.png, .tiff] {
            let pixels = try preprocessor.pixels(from: ImageEncoder.encode(raster, as: format))
            #expect(pixels.count == 224 * 224 * 3)
            #expect(near(rgb(pixels, width: 224, x: 112, y: 112), [255, 128, 0], tolerance: 2), "\(format)")
        }
        let grey16 = Raster(width: 64, height: 64, bands: 1, samples16: [UInt16](repeating: 65535, count: 64 * 64))
        let pixels = try preprocessor.pixels(from: ImageEncoder.encode(grey16, as: .png))
        #expect(rgb(pixels, width: 224, x: 5, y: 5) == [255, 255, 255])
    }

    @Test("CMYK JPEG becomes 3-band sRGB")
    func cmyk() throws {
        // C=0 M=200 Y=200 K=0: a strong red.
        let raster = Raster.filled(width: 80, height: 60, colour: [0, 200, 200, 0], interpretation: .cmyk)
        let data = try ImageEncoder.encode(raster, as: .jpeg)
        #expect(try ImageInspector.inspect(data).bands == 4)
        let pixels = try preprocessor.pixels(from: data)
        #expect(pixels.count == 224 * 224 * 3)
        let pixel = rgb(pixels, width: 224, x: 112, y: 112)
        #expect(pixel[0] > 180 && pixel[1] < 140 && pixel[2] < 140, "\(pixel)")
    }

    @Test("tiny and huge-aspect images still give the full crop")
    func oddSizes() throws {
        for (width, height) in [(1, 1), (3, 500), (1000, 2)] {
            let pixels = try preprocessor.pixels(from: ImageEncoder.encode(.gradient(width: width, height: height), as: .png))
            #expect(pixels.count == 224 * 224 * 3, "\(width)x\(height)")
        }
    }

    @Test("other specs: non-square crop")
    func otherSpec() throws {
        let custom = Preprocessor(spec: PreprocessSpec(width: 160, height: 100, resize: 200))
        let pixels = try custom.pixels(from: ImageEncoder.encode(.gradient(width: 400, height: 300), as: .jpeg))
        #expect(pixels.count == 160 * 100 * 3)
        let invalid = Preprocessor(spec: PreprocessSpec(width: 300, height: 224, resize: 256))
        #expect(throws: ImagingError.invalidSpec("crop 300x224 is larger than the 256x256 resize")) {
            try invalid.pixels(from: ImageEncoder.encode(.gradient(width: 9, height: 9), as: .png))
        }
    }

    @Test("normalize computes (x - mean) / std per channel")
    func normalize() throws {
        let spec = PreprocessSpec(width: 1, height: 2, resize: 2, mean: [10, 20, 30], std: [2, 4, 0.5])
        let pixels: [UInt8] = [10, 20, 30, 0, 255, 31]
        let values = Preprocessor(spec: spec).normalized(pixels)
        #expect(values == [0, 0, 0, -5, 58.75, 2])
        let lite0 = Preprocessor().normalized([0, 127, 255])
        #expect(lite0 == [-127.0 / 128, 0, 1])
    }
}

@Suite("Preprocessor refuses bad input")
struct PreprocessorBadInputTests {
    let preprocessor = Preprocessor()

    @Test("zero bytes, HTML, text")
    func notImages() throws {
        #expect(throws: ImagingError.empty) { try preprocessor.pixels(from: Data()) }
        #expect(throws: ImagingError.notAnImage(detected: "an HTML page")) {
            try preprocessor.pixels(from: TestImages.badFixture("page.html"))
        }
        #expect(throws: ImagingError.notAnImage(detected: "plain text")) {
            try preprocessor.pixels(from: TestImages.badFixture("notes.txt"))
        }
        #expect(throws: ImagingError.unsupportedFormat("BMP")) {
            try preprocessor.pixels(from: TestImages.badFixture("tiny.bmp"))
        }
    }

    @Test("truncated JPEG fixture is an error, not a grey-padded image")
    func truncatedJPEGFixture() throws {
        let error = try #require(throws: ImagingError.self) {
            try preprocessor.pixels(from: TestImages.badFixture("truncated.jpg"))
        }
        guard case .truncated(format: .jpeg, let detail) = error else {
            Issue.record("expected truncated JPEG, got \(error)")
            return
        }
        // libvips' error buffer is process-global and tests run in parallel, so the detail
        // text may carry another test's message too; it must not be empty.
        #expect(!detail.isEmpty)
        #expect(error.description.contains("fetch it again"))
    }

    @Test(
        "a real 2 MP JPEG cut in half is truncated, shrunk on load, with or without an EXIF rotation (rotating works in memory)",
        arguments: [nil, 6])
    func truncatedLargeJPEG(orientation: Int?) throws {
        let data = try ImageEncoder.encode(.gradient(width: 1600, height: 1200), as: .jpeg, orientation: orientation)
        #expect(try preprocessor.pixels(from: data).count == 224 * 224 * 3)
        let error = try #require(throws: ImagingError.self) {
            try preprocessor.pixels(from: data.prefix(data.count / 2))
        }
        guard case .truncated(format: .jpeg, _) = error else {
            Issue.record("expected truncated JPEG, got \(error)")
            return
        }
    }

    @Test("other formats cut in half are errors", arguments: [ImageFormat.png, .webp, .gif, .tiff])
    func truncatedOtherFormats(format: ImageFormat) throws {
        let data = try ImageEncoder.encode(TestImages.landmarks(width: 600, height: 400), as: format)
        let error = try #require(throws: ImagingError.self) {
            try preprocessor.pixels(from: data.prefix(data.count / 2))
        }
        guard case .truncated(let detected, _) = error else {
            Issue.record("expected truncated \(format), got \(error)")
            return
        }
        #expect(detected == format)
    }

    @Test("PNG with flipped IDAT bytes is corrupt")
    func corruptPNG() throws {
        let fixture = try TestImages.badFixture("corrupt.png")
        #expect(try ImageInspector.inspect(fixture).format == .png)
        let error = try #require(throws: ImagingError.self) { try preprocessor.pixels(from: fixture) }
        guard case .corrupt(format: .png, _) = error else {
            Issue.record("expected corrupt PNG, got \(error)")
            return
        }
        #expect(error.description.contains("corrupt PNG"))
    }

    @Test("decompression bomb is refused before decoding")
    func bomb() throws {
        #expect(throws: ImagingError.tooManyPixels(width: 50000, height: 50000, limit: 100_000_000)) {
            try preprocessor.pixels(from: TestImages.badFixture("bomb-50000x50000.png"))
        }
    }
}
