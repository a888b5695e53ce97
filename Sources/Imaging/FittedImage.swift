import CVips
import Foundation

/// A rectangle of pixels.
public struct PixelRegion: Sendable, Hashable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }
}

/// The whole image as the user sees it (EXIF orientation applied), 8-bit RGB, scaled down to fit
/// a box and never enlarged: what analyzers that look at all of an image (faces, text) read.
/// `AnalysisImage.fitted(maxSide:limits:)` makes it once per image and size.
public struct FittedImage: Sendable {
    public let width: Int
    public let height: Int
    /// width x height x 3 bytes, row by row.
    public let pixels: [UInt8]

    /// An image from RGB bytes already in memory (`pixels.count` must be width x height x 3).
    public init(width: Int, height: Int, pixels: [UInt8]) throws(ImagingError) {
        guard width > 0, height > 0, pixels.count == width * height * 3 else {
            throw .processingFailed(operation: "fitted image", detail: "\(pixels.count) bytes for \(width)x\(height) RGB")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Decodes `data` fitted inside `maxSide` x `maxSide` (shrink-on-load where the format allows),
    /// upright, as RGB; limits are checked from the header first.
    public static func decode(_ data: Data, maxSide: Int, limits: ImageLimits) throws(ImagingError) -> FittedImage {
        guard maxSide > 0 else { throw .invalidSpec("the fitted size must be positive, got \(maxSide)") }
        return try ImageInspector.withHeader(of: data, limits: limits) { header, bytes throws(ImagingError) in
            guard let base = bytes.baseAddress else { throw .empty }
            do throws(ImagingError) {
                var out: UnsafeMutablePointer<VipsImage>?
                guard
                    shim_vips_thumbnail_buffer_fit_down(
                        base, bytes.count, &out, Int32(maxSide), Int32(maxSide), Preprocessor.loaderOptions) == 0,
                    let pointer = out
                else { throw .processingFailed(operation: "thumbnail", detail: Vips.takeError()) }
                let image = try Preprocessor.rgb8(VipsImageRef(pointer))
                // Decoding is lazy: a cut file's error surfaces here.
                let pixels = try image.writeToMemory()
                return try FittedImage(width: image.width, height: image.height, pixels: pixels)
            } catch {
                throw Preprocessor.classifyDecodeFailure(error, format: header.format, bytes: bytes)
            }
        }
    }

    /// A `size` x `size` network input: `region` scaled (lanczos3, aspect kept) so its longer side
    /// fills the square, placed at the top-left corner, the rest black. Returns the bytes and the
    /// scale from this image's pixels to the square's.
    public func letterbox(_ region: PixelRegion, size: Int) throws(ImagingError) -> (pixels: [UInt8], scale: Double) {
        guard size > 0, region.width > 0, region.height > 0, region.x >= 0, region.y >= 0,
            region.x + region.width <= width, region.y + region.height <= height
        else {
            throw .processingFailed(operation: "letterbox", detail: "region \(region) is not inside \(width)x\(height)")
        }
        let scale = Double(size) / Double(max(region.width, region.height))
        let (width, height) = (self.width, self.height)
        let result: Result<[UInt8], ImagingError> = pixels.withUnsafeBytes { bytes in
            Result { () throws(ImagingError) -> [UInt8] in
                guard let memory = vips_image_new_from_memory(bytes.baseAddress, bytes.count, Int32(width), Int32(height), 3, VIPS_FORMAT_UCHAR)
                else { throw .processingFailed(operation: "new_from_memory", detail: Vips.takeError()) }
                var image = VipsImageRef(memory)
                image = try image.apply("extract_area") {
                    shim_vips_extract_area($0, $1, Int32(region.x), Int32(region.y), Int32(region.width), Int32(region.height))
                }
                if scale != 1 {
                    image = try image.apply("resize") { shim_vips_resize($0, $1, scale, scale) }
                }
                // Rounding can leave the scaled region a pixel over the square: embed crops it.
                image = try image.apply("embed") { shim_vips_embed_black($0, $1, 0, 0, Int32(size), Int32(size)) }
                return try image.writeToMemory()
            }
        }
        let pixels = try result.get()
        guard pixels.count == size * size * 3 else {
            throw .processingFailed(operation: "letterbox", detail: "got \(pixels.count) bytes for \(size)x\(size) RGB")
        }
        return (pixels, scale)
    }
}
