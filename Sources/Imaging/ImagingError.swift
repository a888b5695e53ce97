import Foundation

/// Why an image could not be inspected, decoded or preprocessed; the text says what to do.
public enum ImagingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input has no bytes at all.
    case empty
    /// The bytes are not an image; `detected` names what they look like ("an HTML page").
    case notAnImage(detected: String?)
    /// An image, but in a format this pipeline does not decode (BMP, SVG, JPEG XL, ...).
    case unsupportedFormat(String)
    /// The header announces more pixels than the limit allows (a likely decompression bomb).
    case tooManyPixels(width: Int, height: Int, limit: Int)
    /// The image data ends early (an interrupted download or a cut file).
    case truncated(format: ImageFormat, detail: String)
    /// The image data is damaged or not valid for its format.
    case corrupt(format: ImageFormat, detail: String)
    /// The file could not be read; `errno` is the POSIX error.
    case unreadableFile(path: String, errno: Int32)
    /// The file is larger than `ImageLimits.maxFileBytes`.
    case fileTooLarge(path: String, bytes: Int, limit: Int)
    /// A libvips step after decoding failed (colour conversion, crop, ...).
    case processingFailed(operation: String, detail: String)
    /// libvips could not start (broken installation).
    case libraryUnavailable(detail: String)
    /// The preprocessing specification cannot be satisfied (crop larger than the resize, ...).
    case invalidSpec(String)

    public var description: String {
        switch self {
        case .empty:
            return "the image is empty (0 bytes); check that the download or file write completed"
        case .notAnImage(let detected):
            let what = detected ?? "unrecognized data"
            return "not an image: the bytes look like \(what); check the URL or file points at a JPEG, PNG, WebP, GIF, TIFF, HEIF or AVIF image"
        case .unsupportedFormat(let format):
            return "unsupported image format \(format); convert it to JPEG, PNG, WebP, GIF, TIFF, HEIF or AVIF"
        case .tooManyPixels(let width, let height, let limit):
            return
                "image is \(width)x\(height) = \(width.multipliedReportingOverflow(by: height).partialValue) pixels, above the limit of \(limit) (possible decompression bomb); refused without decoding. Raise ImageLimits.maxPixels only for trusted inputs"
        case .truncated(let format, let detail):
            return "truncated \(format.rawValue.uppercased()) image (\(detail)); the file ends early, fetch it again"
        case .corrupt(let format, let detail):
            return "corrupt \(format.rawValue.uppercased()) image (\(detail)); the data is damaged, fetch it again or discard it"
        case .unreadableFile(let path, let code):
            return "cannot read image file \(path): \(String(cString: strerror(code))) (errno \(code)); check the path and permissions"
        case .fileTooLarge(let path, let bytes, let limit):
            return "image file \(path) has \(bytes) bytes, above the limit of \(limit); refused"
        case .processingFailed(let operation, let detail):
            return "libvips \(operation) failed: \(detail)"
        case .libraryUnavailable(let detail):
            return "libvips could not start: \(detail); check the libvips installation (apt install libvips-dev)"
        case .invalidSpec(let detail):
            return "invalid preprocessing specification: \(detail)"
        }
    }
}
