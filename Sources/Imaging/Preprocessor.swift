import CVips
import Foundation

/// Turns untrusted encoded images into classifier input: HWC RGB uint8, then normalised floats.
///
/// The steps are fixed because golden tensors made with pyvips replay them call for call on the
/// same libvips: thumbnail (shrink-on-load, EXIF auto-rotate, centre crop to resize x resize),
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
            var out: UnsafeMutablePointer<VipsImage>?
            guard shim_vips_thumbnail_buffer(base, bytes.count, &out, Int32(spec.resize), Int32(spec.resize),
                                             VIPS_INTERESTING_CENTRE, Self.loaderOptions) == 0,
                  let thumbnailPointer = out
            else {
                throw DecodeFailure.classify(Vips.takeError(), format: header.format, bytes: bytes)
            }
            var image = VipsImageRef(thumbnailPointer)
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
            // crop=centre makes the thumbnail exactly resize x resize; checked so the crop can
            // never leave the image whatever libvips does.
            guard image.width >= spec.width, image.height >= spec.height else {
                throw .processingFailed(operation: "thumbnail",
                                        detail: "got \(image.width)x\(image.height), need at least \(spec.width)x\(spec.height)")
            }
            let left = (image.width - spec.width) / 2
            let top = (image.height - spec.height) / 2
            image = try image.apply("extract_area") {
                shim_vips_extract_area($0, $1, Int32(left), Int32(top), Int32(spec.width), Int32(spec.height))
            }
            // Decoding is lazy: loader errors (a truncated file) surface only here.
            let pixels: [UInt8]
            do throws(ImagingError) {
                pixels = try image.writeToMemory()
            } catch {
                if case .processingFailed(_, let detail) = error {
                    throw DecodeFailure.classify(detail, format: header.format, bytes: bytes)
                }
                throw error
            }
            guard pixels.count == spec.byteCount else {
                throw .processingFailed(operation: "write_to_memory",
                                        detail: "got \(pixels.count) bytes, expected \(spec.byteCount)")
            }
            return (header, pixels)
        }
    }

    /// Writes `(pixel - mean[c]) / std[c]` for every byte of `pixels` (HWC RGB) into `output`
    /// (NHWC float, same element count).
    public func normalize(_ pixels: [UInt8], into output: UnsafeMutableBufferPointer<Float>) {
        precondition(output.count == pixels.count, "output holds \(output.count) floats, pixels \(pixels.count)")
        precondition(pixels.count % 3 == 0, "pixels must be RGB triples")
        let mean = spec.mean, std = spec.std
        precondition(mean.count == 3 && std.count == 3, "mean and std need 3 values")
        let (m0, m1, m2) = (mean[0], mean[1], mean[2])
        let (s0, s1, s2) = (std[0], std[1], std[2])
        pixels.withUnsafeBufferPointer { source in
            var index = 0
            while index < source.count {
                output[index] = (Float(source[index]) - m0) / s0
                output[index + 1] = (Float(source[index + 1]) - m1) / s1
                output[index + 2] = (Float(source[index + 2]) - m2) / s2
                index += 3
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
