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

    /// Decodes `data` upright, as RGB, with its longer side at most `maxSide`; limits are checked
    /// from the header first. A JPEG is decoded shrunk inside libjpeg (DCT scaling by 2, 4 or 8)
    /// by the largest factor that keeps the longer side at least `maxSide / 2`, and not
    /// resampled further: a face or text detector gains nothing from the exact size, and a
    /// resample of a 2 MP photo to 1536 pixels cost 70 ms against 10 for the scaled decode.
    /// Other formats are fitted by libvips' thumbnail (never enlarged).
    public static func decode(_ data: Data, maxSide: Int, limits: ImageLimits) throws(ImagingError) -> FittedImage {
        guard maxSide > 0 else { throw .invalidSpec("the fitted size must be positive, got \(maxSide)") }
        return try ImageInspector.withHeader(of: data, limits: limits) { header, bytes throws(ImagingError) in
            guard let base = bytes.baseAddress else { throw .empty }
            do throws(ImagingError) {
                var image: VipsImageRef
                if header.format == .jpeg {
                    let longer = max(header.width, header.height)
                    let shrink = [8, 4, 2].first { longer / $0 >= maxSide / 2 } ?? 1
                    let orientation: Int32
                    (image, orientation) = try Preprocessor.jpegLoad(base, count: bytes.count, shrink: shrink)
                    image = try Preprocessor.rgb8(image)
                    if max(image.width, image.height) > maxSide {
                        // Only a photo over 8 x maxSide: the largest DCT scale is not enough.
                        let factor = Double(maxSide) / Double(max(image.width, image.height))
                        image = try image.apply("resize") { shim_vips_resize($0, $1, factor, factor) }
                    }
                    image = try image.upright(orientation: orientation)
                } else {
                    image = try Preprocessor.rgb8(Preprocessor.thumbnailFittingDown(base, count: bytes.count, maxSide: maxSide))
                }
                // Decoding is lazy: a cut file's error surfaces here.
                let pixels = try image.writeToMemory()
                return try FittedImage(width: image.width, height: image.height, pixels: pixels)
            } catch {
                throw Preprocessor.classifyDecodeFailure(error, format: header.format, bytes: bytes)
            }
        }
    }

    /// A `size` x `size` network input: `region` scaled (aspect kept) so its longer side fills the
    /// square, placed at the top-left corner, the rest black. Returns the bytes and the scale from
    /// this image's pixels to the square's.
    ///
    /// Resampled here rather than by libvips: a detector letterboxes several regions of one image,
    /// and libvips' resize of a region of an in-memory image cost about 70 ms each (its shrink
    /// reruns per output tile), against a millisecond for this separable area average (bilinear
    /// when enlarging).
    public func letterbox(_ region: PixelRegion, size: Int) throws(ImagingError) -> (pixels: [UInt8], scale: Double) {
        guard size > 0, region.width > 0, region.height > 0 else {
            throw .processingFailed(operation: "letterbox", detail: "region \(region) or size \(size) is empty")
        }
        let scale = Double(size) / Double(max(region.width, region.height))
        let outWidth = min(size, max(1, Int((Double(region.width) * scale).rounded())))
        let outHeight = min(size, max(1, Int((Double(region.height) * scale).rounded())))
        return (try scaled(region, width: outWidth, height: outHeight, canvasWidth: size, canvasHeight: size), scale)
    }

    /// `region` resampled to `outWidth` x `outHeight` (area average when shrinking, bilinear when
    /// enlarging) at the top-left of a black `canvasWidth` x `canvasHeight` RGB canvas.
    public func scaled(_ region: PixelRegion, width outWidth: Int, height outHeight: Int, canvasWidth: Int, canvasHeight: Int)
        throws(ImagingError) -> [UInt8]
    {
        guard outWidth > 0, outHeight > 0, outWidth <= canvasWidth, outHeight <= canvasHeight, region.width > 0, region.height > 0,
            region.x >= 0, region.y >= 0, region.x + region.width <= width, region.y + region.height <= height
        else {
            throw .processingFailed(
                operation: "scale",
                detail: "region \(region) of \(width)x\(height) to \(outWidth)x\(outHeight) on \(canvasWidth)x\(canvasHeight)")
        }
        let columns = Self.taps(from: region.x, count: region.width, to: outWidth)
        let rows = Self.taps(from: region.y, count: region.height, to: outHeight)
        var output = [UInt8](repeating: 0, count: canvasWidth * canvasHeight * 3)
        // Horizontal pass into floats, one source row at a time as the vertical taps need it.
        var line = [Float](repeating: 0, count: outWidth * 3)
        var accumulated = [Float](repeating: 0, count: outWidth * 3)
        pixels.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { out in
                for (y, vertical) in rows.enumerated() {
                    for index in accumulated.indices { accumulated[index] = 0 }
                    for (sourceRow, rowWeight) in vertical {
                        let rowStart = sourceRow * width * 3
                        for (x, horizontal) in columns.enumerated() {
                            var (r, g, b): (Float, Float, Float) = (0, 0, 0)
                            for (sourceColumn, weight) in horizontal {
                                let at = rowStart + sourceColumn * 3
                                r += Float(source[at]) * weight
                                g += Float(source[at + 1]) * weight
                                b += Float(source[at + 2]) * weight
                            }
                            line[x * 3] = r
                            line[x * 3 + 1] = g
                            line[x * 3 + 2] = b
                        }
                        for index in 0..<(outWidth * 3) { accumulated[index] += line[index] * rowWeight }
                    }
                    let target = y * canvasWidth * 3
                    for index in 0..<(outWidth * 3) { out[target + index] = UInt8(min(255, max(0, accumulated[index].rounded()))) }
                }
            }
        }
        return output
    }

    /// For each of `outputs` samples of the source span `start..<start + count`, the source indices
    /// and weights (summing to 1): the area each output pixel covers when shrinking, the two
    /// nearest pixels' linear weights when enlarging.
    static func taps(from start: Int, count: Int, to outputs: Int) -> [[(index: Int, weight: Float)]] {
        let ratio = Double(count) / Double(outputs)
        return (0..<outputs).map { output in
            if ratio <= 1 {
                let centre = (Double(output) + 0.5) * ratio - 0.5
                let low = Int(centre.rounded(.down))
                let fraction = Float(centre - Double(low))
                let a = min(max(low, 0), count - 1)
                let b = min(max(low + 1, 0), count - 1)
                return a == b ? [(start + a, Float(1))] : [(start + a, 1 - fraction), (start + b, fraction)]
            }
            let from = Double(output) * ratio
            let to = from + ratio
            var taps: [(index: Int, weight: Float)] = []
            var position = Int(from.rounded(.down))
            while Double(position) < to && position < count {
                let covered = min(to, Double(position + 1)) - max(from, Double(position))
                if covered > 0 { taps.append((start + position, Float(covered / ratio))) }
                position += 1
            }
            return taps
        }
    }
}
