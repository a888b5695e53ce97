import CVips
import Foundation

/// Probes untrusted bytes: what format, how big, from the header alone (no pixel decoding).
public enum ImageInspector {
    /// Reads the header of an in-memory image; refuses non-images, unsupported formats and
    /// images with more than `limits.maxPixels` pixels.
    public static func inspect(_ data: Data, limits: ImageLimits = .default) throws(ImagingError) -> ImageHeader {
        try withHeader(of: data, limits: limits) { header, _ in header }
    }

    /// Refuses bytes whose format's end marker is missing (a cut file that a header read alone
    /// would accept, e.g. a server sending a truncated file with a matching Content-Length).
    public static func requireComplete(_ data: Data, format: ImageFormat) throws(ImagingError) {
        let endsEarly = data.withUnsafeBytes { DecodeFailure.endsEarly(format: format, bytes: $0) }
        if endsEarly == true {
            throw .truncated(format: format, detail: "the file ends before the \(format.rawValue) end marker")
        }
    }

    /// Reads the header of an image file; see `inspect(_:limits:)`.
    public static func inspect(fileAt path: String, limits: ImageLimits = .default) throws(ImagingError) -> ImageHeader {
        try inspect(ImageFile.read(path, limit: limits.maxFileBytes), limits: limits)
    }

    /// Validates `data` and hands its header plus the raw bytes (valid only inside `body`,
    /// which libvips may read lazily) to `body`.
    static func withHeader<T>(
        of data: Data,
        limits: ImageLimits,
        _ body: (ImageHeader, UnsafeRawBufferPointer) throws(ImagingError) -> T
    ) throws(ImagingError) -> T {
        guard !data.isEmpty else { throw .empty }
        guard let sniffed = ImageFormat.sniff(data) else {
            throw ContentSniffer.rejection(for: data)
        }
        try Vips.ensureStarted()
        let result: Result<T, ImagingError> = data.withUnsafeBytes { bytes in
            Result { () throws(ImagingError) -> T in
                let header = try readHeader(bytes, sniffed: sniffed)
                let (product, overflow) = header.width.multipliedReportingOverflow(by: header.height)
                guard !overflow, product <= limits.maxPixels else {
                    throw .tooManyPixels(width: header.width, height: header.height, limit: limits.maxPixels)
                }
                return try body(header, bytes)
            }
        }
        return try result.get()
    }

    private static func readHeader(_ bytes: UnsafeRawBufferPointer, sniffed: ImageFormat) throws(ImagingError) -> ImageHeader {
        guard let base = bytes.baseAddress, let raw = shim_vips_header_from_buffer(base, bytes.count) else {
            throw DecodeFailure.classify(Vips.takeError(), format: sniffed, bytes: bytes)
        }
        let image = VipsImageRef(raw)
        // The loader libvips picked must agree with the magic bytes, or a crafted file could
        // reach a loader the sniffing meant to keep it from.
        guard let loader = image.loader, let loaded = ImageFormat.fromLoader(loader) else {
            throw .unsupportedFormat(image.loader ?? "unknown")
        }
        let format: ImageFormat
        switch (sniffed, loaded) {
        case (.avif, .heif), (.heif, .heif): format = sniffed
        case _ where sniffed == loaded: format = sniffed
        default: throw .corrupt(format: sniffed, detail: "libvips reads it as \(loaded.rawValue)")
        }
        return ImageHeader(
            format: format,
            width: image.width,
            height: image.height,
            bands: image.bands,
            orientation: Int(shim_vips_orientation(raw))
        )
    }
}

/// Tells a truncated image from a corrupt one when libvips refuses it.
enum DecodeFailure {
    static func classify(_ message: String, format: ImageFormat, bytes: UnsafeRawBufferPointer) -> ImagingError {
        // When the format's own loader rejects the bytes, libvips falls through to a blocked
        // untrusted loader (ImageMagick) whose message would only confuse.
        let detail =
            message.contains("is blocked")
            ? "the \(format.rawValue) loader does not recognise the data" : message
        // Where the format has a structural end check, it alone decides: libvips' error text is
        // process-global, so under parallel decoding the text may be another image's.
        if let cut = endsEarly(format: format, bytes: bytes) {
            return cut ? .truncated(format: format, detail: detail) : .corrupt(format: format, detail: detail)
        }
        let text = detail.lowercased()
        let saysTruncated = ["premature end", "truncated", "unexpected end", "end of file", "end of data", "not enough data", "eof"]
            .contains { text.contains($0) }
        return saysTruncated ? .truncated(format: format, detail: detail) : .corrupt(format: format, detail: detail)
    }

    /// Structural check for formats whose loaders report a cut file only as a generic error
    /// (libpng says "read error" for both a cut and a damaged PNG): whether the file ends before
    /// its format's end, or nil for formats without such a check (HEIF, AVIF).
    static func endsEarly(format: ImageFormat, bytes: UnsafeRawBufferPointer) -> Bool? {
        switch format {
        case .png:
            // Every complete PNG ends with the IEND chunk: type plus its fixed CRC.
            let tail: [UInt8] = [0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]
            return !Array(bytes.suffix(64)).containsSubsequence(tail)
        case .webp:
            // RIFF size counts the bytes after the first eight.
            guard bytes.count >= 8 else { return true }
            let declared = (0..<4).reduce(0) { $0 | Int(bytes[4 + $1]) << (8 * $1) }
            return bytes.count < declared + 8
        case .gif:
            return bytes.last != 0x3B
        case .tiff:
            // libtiff writes the first directory after the pixel data, so a cut file loses it.
            guard bytes.count >= 8 else { return true }
            let littleEndian = bytes[0] == 0x49
            let isBig = bytes[2] == 0x2B || bytes[3] == 0x2B
            let start = isBig ? 8 : 4
            let width = isBig ? 8 : 4
            guard bytes.count >= start + width else { return true }
            let offset = (0..<width).reduce(UInt64(0)) { value, index in
                let byte = UInt64(bytes[start + (littleEndian ? width - 1 - index : index)])
                return value << 8 | byte
            }
            return offset >= UInt64(bytes.count)
        case .jpeg:
            return !Array(bytes.suffix(4096)).containsSubsequence([0xFF, 0xD9])
        default:
            return nil
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate func containsSubsequence(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { self[$0..<$0 + needle.count].elementsEqual(needle) }
    }
}
