import CVips
import Foundation

/// Small JPEG previews of stored images, for the HTTP API and the gallery.
public enum Thumbnail {
    /// `data` decoded upright (EXIF rotation applied), alpha flattened onto white, fitted inside
    /// `maxSide` x `maxSide` (never enlarged) and encoded as a JPEG of `quality` without metadata.
    /// The pixel limit is checked on the header before anything is decoded; JPEGs shrink on load.
    public static func jpeg(_ data: Data, maxSide: Int, quality: Int = 80, limits: ImageLimits = .default) throws(ImagingError) -> Data {
        guard maxSide > 0, (1...100).contains(quality) else {
            throw .invalidSpec("a thumbnail needs a positive size and a quality of 1-100, got \(maxSide) and \(quality)")
        }
        return try ImageInspector.withHeader(of: data, limits: limits) { header, bytes throws(ImagingError) in
            guard let base = bytes.baseAddress else { throw .empty }
            do throws(ImagingError) {
                let image = try Preprocessor.rgb8(Preprocessor.thumbnailFittingDown(base, count: bytes.count, maxSide: maxSide))
                var buffer: UnsafeMutableRawPointer?
                var size = 0
                guard shim_vips_write_to_buffer(image.pointer, ".jpg[Q=\(quality),strip]", &buffer, &size) == 0, let buffer else {
                    throw .processingFailed(operation: "jpegsave", detail: Vips.takeError())
                }
                defer { shim_g_free(buffer) }
                return Data(bytes: buffer, count: size)
            } catch {
                throw Preprocessor.classifyDecodeFailure(error, format: header.format, bytes: bytes)
            }
        }
    }
}
