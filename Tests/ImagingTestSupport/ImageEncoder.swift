import CVips
import Foundation
@_spi(ImageCodec) import Imaging

/// Raw pixels to be encoded: interleaved bands, row by row, 8 or 16 bits per sample.
public struct Raster: Sendable, Equatable {
    /// How the bands are to be read.
    public enum Interpretation: Sendable, Equatable {
        /// Red, green, blue (plus alpha when there are 4 bands).
        case srgb
        /// Luminance (plus alpha when there are 2 bands).
        case grey
        /// Cyan, magenta, yellow, black: 4 bands, saved as a CMYK JPEG or TIFF.
        case cmyk

        var vips: VipsInterpretation {
            switch self {
            case .srgb: VIPS_INTERPRETATION_sRGB
            case .grey: VIPS_INTERPRETATION_B_W
            case .cmyk: VIPS_INTERPRETATION_CMYK
            }
        }

        var vips16: VipsInterpretation {
            switch self {
            case .srgb: VIPS_INTERPRETATION_RGB16
            case .grey: VIPS_INTERPRETATION_GREY16
            case .cmyk: VIPS_INTERPRETATION_CMYK
            }
        }
    }

    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// Samples per pixel (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA or CMYK).
    public var bands: Int
    /// 8-bit samples (used when `samples16` is nil).
    public var samples: [UInt8]
    /// 16-bit samples, for 16-bit PNG/TIFF.
    public var samples16: [UInt16]?
    /// How the bands are to be read.
    public var interpretation: Interpretation

    /// Creates an 8-bit raster; `samples.count` must be width x height x bands.
    public init(width: Int, height: Int, bands: Int, samples: [UInt8], interpretation: Interpretation? = nil) {
        self.width = width
        self.height = height
        self.bands = bands
        self.samples = samples
        self.samples16 = nil
        self.interpretation = interpretation ?? (bands <= 2 ? .grey : .srgb)
    }

    /// Creates a 16-bit raster; `samples.count` must be width x height x bands.
    public init(width: Int, height: Int, bands: Int, samples16: [UInt16], interpretation: Interpretation? = nil) {
        self.init(width: width, height: height, bands: bands, samples: [], interpretation: interpretation)
        self.samples16 = samples16
    }

    /// One colour everywhere; `colour` has one value per band.
    public static func filled(width: Int, height: Int, colour: [UInt8], interpretation: Interpretation? = nil) -> Raster {
        var samples = [UInt8]()
        samples.reserveCapacity(width * height * colour.count)
        for _ in 0..<(width * height) { samples.append(contentsOf: colour) }
        return Raster(width: width, height: height, bands: colour.count, samples: samples, interpretation: interpretation)
    }

    /// A smooth RGB test picture: red rises left to right, green top to bottom, blue diagonal.
    public static func gradient(width: Int, height: Int) -> Raster {
        var samples = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let index = (y * width + x) * 3
                samples[index] = UInt8(x * 255 / max(width - 1, 1))
                samples[index + 1] = UInt8(y * 255 / max(height - 1, 1))
                samples[index + 2] = UInt8((x + y) * 255 / max(width + height - 2, 1))
            }
        }
        return Raster(width: width, height: height, bands: 3, samples: samples)
    }
}

/// Encodes rasters with libvips: test fixtures, demos and benchmarks (not the recognition path).
public enum ImageEncoder {
    /// Encodes `raster` as `format`; `quality` applies to lossy formats, `orientation` (1-8)
    /// is written as the EXIF orientation tag (JPEG, WebP, HEIF, AVIF, TIFF).
    public static func encode(_ raster: Raster, as format: ImageFormat, quality: Int = 90, orientation: Int? = nil) throws(ImagingError) -> Data {
        try Vips.ensureStarted()
        let expected = raster.width * raster.height * raster.bands
        let image: VipsImageRef
        let made: UnsafeMutablePointer<VipsImage>?
        if let wide = raster.samples16 {
            guard wide.count == expected else {
                throw .invalidSpec("raster has \(wide.count) samples, expected \(expected)")
            }
            made = wide.withUnsafeBytes {
                vips_image_new_from_memory_copy(
                    $0.baseAddress, $0.count, Int32(raster.width), Int32(raster.height),
                    Int32(raster.bands), VIPS_FORMAT_USHORT)
            }
        } else {
            guard raster.samples.count == expected else {
                throw .invalidSpec("raster has \(raster.samples.count) samples, expected \(expected)")
            }
            made = raster.samples.withUnsafeBytes {
                vips_image_new_from_memory_copy(
                    $0.baseAddress, $0.count, Int32(raster.width), Int32(raster.height),
                    Int32(raster.bands), VIPS_FORMAT_UCHAR)
            }
        }
        guard let made else {
            throw .processingFailed(operation: "new_from_memory_copy", detail: Vips.takeError())
        }
        let space = raster.samples16 == nil ? raster.interpretation.vips : raster.interpretation.vips16
        image = try VipsImageRef(made).apply("copy") { shim_vips_copy_interpretation($0, $1, space) }
        if let orientation {
            shim_vips_set_orientation(image.pointer, Int32(orientation))
        }
        let suffix =
            switch format {
            case .jpeg: ".jpg[Q=\(quality)]"
            case .png: ".png"
            case .webp: ".webp[Q=\(quality)]"
            case .gif: ".gif"
            case .tiff: ".tif"
            case .heif: ".heic[Q=\(quality),compression=hevc]"
            case .avif: ".avif[Q=\(quality),compression=av1]"
            }
        var buffer: UnsafeMutableRawPointer?
        var size = 0
        guard shim_vips_write_to_buffer(image.pointer, suffix, &buffer, &size) == 0, let buffer else {
            throw .processingFailed(operation: "save \(suffix)", detail: Vips.takeError())
        }
        defer { shim_g_free(buffer) }
        return Data(bytes: buffer, count: size)
    }
}
