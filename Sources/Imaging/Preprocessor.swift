import CVips
import Foundation

/// Turns untrusted encoded images into classifier input: HWC RGB uint8, then normalised floats.
///
/// The steps are fixed because golden tensors made with pyvips replay them call for call on the
/// same libvips (Scripts/vips_preprocess.py): a thumbnail (shrink-on-load, EXIF auto-rotate,
/// centre crop to resize x resize; for JPEG spelled out step by step, see `jpegThumbnail`),
/// colourspace sRGB unless already sRGB, flatten alpha onto white, cast uchar, force 3 bands,
/// extract the centre width x height, write to memory.
public struct Preprocessor: Sendable {
    /// The network input shape and normalisation.
    public let spec: PreprocessSpec
    /// Limits checked from the header before decoding.
    public let limits: ImageLimits

    /// Loader options for every decode: a cut file must be an error, not a grey-padded image.
    static let loaderOptions = "fail_on=truncated"

    /// Creates a preprocessor; `spec` is checked on first use (see `PreprocessSpec.validate`).
    public init(spec: PreprocessSpec = .efficientNetLite0, limits: ImageLimits = .default) {
        self.spec = spec
        self.limits = limits
    }

    /// Reads, decodes and crops an image file; returns width x height x 3 RGB bytes.
    public func pixels(fromFile path: String) throws(ImagingError) -> [UInt8] {
        // The whole file goes through the buffer path: one code path, errno-carrying read errors,
        // and no libvips filename parsing (it treats "[...]" in a path as load options).
        try pixels(from: ImageFile.read(path, limit: limits.maxFileBytes))
    }

    /// Decodes and crops an in-memory image; returns width x height x 3 RGB bytes.
    public func pixels(from data: Data) throws(ImagingError) -> [UInt8] {
        try preprocess(data).pixels
    }

    /// Like `pixels(from:)`, also returning the header read before decoding.
    public func preprocess(_ data: Data) throws(ImagingError) -> (header: ImageHeader, pixels: [UInt8]) {
        try spec.validate()
        let spec = spec
        return try ImageInspector.withHeader(of: data, limits: limits) { header, bytes throws(ImagingError) in
            guard let base = bytes.baseAddress else { throw .empty }
            var image: VipsImageRef
            do throws(ImagingError) {
                image =
                    header.format == .jpeg
                    ? try Self.jpegThumbnail(base, count: bytes.count, header: header, size: spec.resize)
                    : try Self.thumbnail(base, count: bytes.count, size: spec.resize)
            } catch {
                throw Self.classifyDecodeFailure(error, format: header.format, bytes: bytes)
            }
            image = try Self.rgb8(image)
            // crop=centre makes the thumbnail exactly resize x resize; checked so the crop can
            // never leave the image whatever libvips does.
            guard image.width >= spec.width, image.height >= spec.height else {
                throw .processingFailed(
                    operation: "thumbnail",
                    detail: "got \(image.width)x\(image.height), need at least \(spec.width)x\(spec.height)")
            }
            let left = (image.width - spec.width) / 2
            let top = (image.height - spec.height) / 2
            image = try image.apply("extract_area") {
                shim_vips_extract_area($0, $1, Int32(left), Int32(top), Int32(spec.width), Int32(spec.height))
            }
            // Decoding is lazy: loader errors (a truncated file) surface here (or in the JPEG
            // path's copy to memory before rotating).
            let pixels: [UInt8]
            do throws(ImagingError) {
                pixels = try image.writeToMemory()
            } catch {
                throw Self.classifyDecodeFailure(error, format: header.format, bytes: bytes)
            }
            guard pixels.count == spec.byteCount else {
                throw .processingFailed(
                    operation: "write_to_memory",
                    detail: "got \(pixels.count) bytes, expected \(spec.byteCount)")
            }
            return (header, pixels)
        }
    }

    /// Three 8-bit sRGB bands: colourspace sRGB unless already sRGB, alpha flattened onto white,
    /// cast to uchar, extra bands dropped or a grey band repeated.
    static func rgb8(_ input: VipsImageRef) throws(ImagingError) -> VipsImageRef {
        var image = input
        if image.interpretation != VIPS_INTERPRETATION_sRGB {
            image = try image.apply("colourspace") { shim_vips_colourspace($0, $1, VIPS_INTERPRETATION_sRGB) }
        }
        if image.hasAlpha {
            image = try image.apply("flatten") { shim_vips_flatten($0, $1, 255, 255, 255) }
        }
        image = try image.apply("cast") { shim_vips_cast($0, $1, VIPS_FORMAT_UCHAR) }
        if image.bands > 3 {
            image = try image.apply("extract_band") { shim_vips_extract_bands($0, $1, 0, 3) }
        } else if image.bands == 1 {
            image = try image.apply("bandjoin") { shim_vips_replicate_band3($0, $1) }
        }
        guard image.bands == 3 else {
            throw .processingFailed(operation: "bands", detail: "cannot make 3 bands from \(image.bands)")
        }
        return image
    }

    /// libvips' own thumbnail: picks the loader, shrinks on load where the format allows it,
    /// auto-rotates and cuts the centre `size` x `size`.
    private static func thumbnail(_ base: UnsafeRawPointer, count: Int, size: Int) throws(ImagingError) -> VipsImageRef {
        var out: UnsafeMutablePointer<VipsImage>?
        guard
            shim_vips_thumbnail_buffer(
                base, count, &out, Int32(size), Int32(size),
                VIPS_INTERESTING_CENTRE, loaderOptions) == 0,
            let pointer = out
        else {
            throw .processingFailed(operation: "thumbnail", detail: Vips.takeError())
        }
        return VipsImageRef(pointer)
    }

    /// libvips' thumbnail without a crop, never enlarging: the whole upright image within
    /// `maxSide` x `maxSide` (the gallery's thumbnails, and fitted decodes of formats other than JPEG).
    static func thumbnailFittingDown(_ base: UnsafeRawPointer, count: Int, maxSide: Int) throws(ImagingError) -> VipsImageRef {
        var out: UnsafeMutablePointer<VipsImage>?
        guard shim_vips_thumbnail_buffer_fit_down(base, count, &out, Int32(maxSide), Int32(maxSide), loaderOptions) == 0, let pointer = out
        else { throw .processingFailed(operation: "thumbnail", detail: Vips.takeError()) }
        return VipsImageRef(pointer)
    }

    /// The JPEG shrink-on-load factor: the largest of 1, 2, 4, 8 that keeps the shorter side at
    /// least `size`, so that only the final lanczos3 step (a factor below 2) remains. libvips
    /// 8.14's thumbnail leaves a factor of 2 or more for that step (shrink 2 for a 2 MP photo),
    /// and decoding plus resampling the 4x larger image was most of the preprocessing time.
    static func jpegShrink(width: Int, height: Int, size: Int) -> Int {
        let shorter = min(width, height)
        return [8, 4, 2].first { shorter >= size * $0 } ?? 1
    }

    /// What `vips_thumbnail` does for a JPEG, step for step, but with `jpegShrink`'s factor and
    /// without its copy to memory before cropping: load shrunk, sRGB (or B_W) processing space,
    /// resize so the shorter side is `size`, auto-rotate (the one step that needs the image in
    /// memory), and a lazy centre crop of at most `size` x `size`, so only the pixels kept are
    /// computed. Byte-identical to `vips_thumbnail` when both pick the same shrink factor.
    private static func jpegThumbnail(
        _ base: UnsafeRawPointer, count: Int, header: ImageHeader,
        size: Int
    ) throws(ImagingError) -> VipsImageRef {
        var (image, orientation) = try jpegLoad(base, count: count, shrink: jpegShrink(width: header.width, height: header.height, size: size))
        let space = image.bands < 3 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB
        image = try image.apply("colourspace") { shim_vips_colourspace($0, $1, space) }
        // Computed as vips_thumbnail does (shrink per axis, the smaller wins for a crop), so the
        // scale, and so every resampled pixel, is the one pyvips' replay gets.
        let shrinkFactor = min(Double(image.width) / Double(size), Double(image.height) / Double(size))
        image = try image.apply("resize") { shim_vips_resize($0, $1, 1 / shrinkFactor, 1 / shrinkFactor) }
        image = try image.upright(orientation: orientation)
        let cropWidth = min(size, image.width)
        let cropHeight = min(size, image.height)
        let left = (image.width - cropWidth) / 2
        let top = (image.height - cropHeight) / 2
        return try image.apply("extract_area") {
            shim_vips_extract_area($0, $1, Int32(left), Int32(top), Int32(cropWidth), Int32(cropHeight))
        }
    }

    /// A JPEG decoded scaled down by `shrink` (1, 2, 4 or 8) inside libjpeg, a cut file an error, and the
    /// EXIF orientation the loader found (the pixels are not turned yet: see `VipsImageRef.upright`).
    static func jpegLoad(_ base: UnsafeRawPointer, count: Int, shrink: Int) throws(ImagingError) -> (image: VipsImageRef, orientation: Int32) {
        var out: UnsafeMutablePointer<VipsImage>?
        guard shim_vips_jpegload_buffer(base, count, &out, Int32(shrink), VIPS_FAIL_ON_TRUNCATED) == 0, let pointer = out else {
            throw .processingFailed(operation: "jpegload", detail: Vips.takeError())
        }
        let image = VipsImageRef(pointer)
        return (image, vips_image_get_orientation(image.pointer))
    }

    /// Decoding is lazy, so a loader's complaint (a cut file) can surface in any step that
    /// computes pixels; this turns it into `.truncated` or `.corrupt`.
    static func classifyDecodeFailure(
        _ error: ImagingError, format: ImageFormat,
        bytes: UnsafeRawBufferPointer
    ) -> ImagingError {
        if case .processingFailed(_, let detail) = error {
            return DecodeFailure.classify(detail, format: format, bytes: bytes)
        }
        return error
    }

    /// Writes `(pixel - mean[c]) / std[c]` for every byte of `pixels` (HWC RGB) into `output`
    /// (NHWC float, same element count).
    public func normalize(_ pixels: [UInt8], into output: UnsafeMutableBufferPointer<Float>) {
        precondition(output.count == pixels.count, "output holds \(output.count) floats, pixels \(pixels.count)")
        precondition(pixels.count % 3 == 0, "pixels must be RGB triples")
        let mean = spec.mean
        let std = spec.std
        precondition(mean.count == 3 && std.count == 3, "mean and std need 3 values")
        // A byte has 256 values: each channel's 256 results are computed once, as the definition says, and
        // looked up, instead of a division for each of the 150K bytes of a 224x224 image.
        var table = [Float](repeating: 0, count: 3 * 256)
        for channel in 0..<3 {
            for value in 0..<256 { table[channel * 256 + value] = (Float(value) - mean[channel]) / std[channel] }
        }
        table.withUnsafeBufferPointer { lookup in
            pixels.withUnsafeBufferPointer { source in
                guard let table = lookup.baseAddress, let from = source.baseAddress, let to = output.baseAddress else { return }
                var index = 0
                while index < source.count {
                    to[index] = table[Int(from[index])]
                    to[index + 1] = table[256 + Int(from[index + 1])]
                    to[index + 2] = table[512 + Int(from[index + 2])]
                    index += 3
                }
            }
        }
    }

    /// Convenience: normalised floats in a new array.
    public func normalized(_ pixels: [UInt8]) -> [Float] {
        [Float](unsafeUninitializedCapacity: pixels.count) { buffer, count in
            normalize(pixels, into: buffer)
            count = pixels.count
        }
    }
}
