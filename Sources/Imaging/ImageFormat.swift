import Foundation

/// The image formats the pipeline accepts (all decoded by libvips' fuzzed, trusted loaders).
public enum ImageFormat: String, Sendable, Codable, CaseIterable {
    case jpeg, png, webp, gif, tiff, heif, avif

    /// The IANA media type, e.g. "image/jpeg".
    public var mimeType: String {
        "image/\(rawValue)"
    }

    /// The usual file name extension, without the dot.
    public var fileExtension: String {
        switch self {
        case .jpeg: "jpg"
        case .tiff: "tif"
        case .heif: "heic"
        default: rawValue
        }
    }

    /// Identifies the format from the first bytes alone (no decoding); nil for anything else.
    public static func sniff(_ bytes: some Collection<UInt8>) -> ImageFormat? {
        let head = Array(bytes.prefix(32))
        func at(_ offset: Int, _ magic: [UInt8]) -> Bool {
            head.count >= offset + magic.count && Array(head[offset..<offset + magic.count]) == magic
        }
        func at(_ offset: Int, _ magic: String) -> Bool { at(offset, Array(magic.utf8)) }

        if at(0, [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if at(0, [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if at(0, "RIFF") && at(8, "WEBP") { return .webp }
        if at(0, "GIF87a") || at(0, "GIF89a") { return .gif }
        // Classic TIFF (42) and BigTIFF (43), both byte orders.
        if at(0, [0x49, 0x49, 0x2A, 0x00]) || at(0, [0x4D, 0x4D, 0x00, 0x2A])
            || at(0, [0x49, 0x49, 0x2B, 0x00]) || at(0, [0x4D, 0x4D, 0x00, 0x2B])
        {
            return .tiff
        }
        if at(4, "ftyp") {
            return isoBrand(head)
        }
        return nil
    }

    /// HEIF and AVIF share the ISO base media container; the `ftyp` brands tell them apart.
    private static func isoBrand(_ head: [UInt8]) -> ImageFormat? {
        guard head.count >= 12 else { return nil }
        let boxSize = head[0..<4].reduce(0) { $0 << 8 | Int($1) }
        var brands = [String(decoding: head[8..<12], as: UTF8.self)]
        // Compatible brands follow major brand and minor version, up to the box end.
        var offset = 16
        while offset + 4 <= min(boxSize, head.count) {
            brands.append(String(decoding: head[offset..<offset + 4], as: UTF8.self))
            offset += 4
        }
        if brands.contains(where: { $0 == "avif" || $0 == "avis" }) { return .avif }
        let heifBrands: Set = ["heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1"]
        if brands.contains(where: heifBrands.contains) { return .heif }
        return nil
    }

    /// Maps a libvips loader name ("jpegload_buffer") to the format it decodes.
    static func fromLoader(_ loader: String) -> ImageFormat? {
        let prefixes: [(String, ImageFormat)] = [
            ("jpegload", .jpeg), ("pngload", .png), ("webpload", .webp),
            ("gifload", .gif), ("tiffload", .tiff), ("heifload", .heif),
        ]
        return prefixes.first { loader.hasPrefix($0.0) }?.1
    }
}
