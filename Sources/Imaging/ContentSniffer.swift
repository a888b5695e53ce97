import Foundation

/// Names what non-image bytes look like, so errors can say "an HTML page" instead of "unknown".
enum ContentSniffer {
    /// The error for bytes `ImageFormat.sniff` did not recognise.
    static func rejection(for bytes: some Collection<UInt8>) -> ImagingError {
        let head = Array(bytes.prefix(1024))
        if head.isEmpty { return .empty }
        if let format = unsupportedImageFormat(head) { return .unsupportedFormat(format) }
        return .notAnImage(detected: describe(head))
    }

    /// Image formats libvips might open but the pipeline refuses (untrusted or unusual loaders).
    private static func unsupportedImageFormat(_ head: [UInt8]) -> String? {
        func at(_ offset: Int, _ magic: [UInt8]) -> Bool {
            head.count >= offset + magic.count && Array(head[offset..<offset + magic.count]) == magic
        }
        func at(_ offset: Int, _ magic: String) -> Bool { at(offset, Array(magic.utf8)) }
        if at(0, "BM") && head.count >= 26 { return "BMP" }
        if at(0, [0x00, 0x00, 0x01, 0x00]) { return "ICO" }
        if at(0, "8BPS") { return "PSD" }
        if at(0, [0xFF, 0x0A]) || at(4, "JXL ") { return "JPEG XL" }
        if at(4, "jP  ") || at(0, [0xFF, 0x4F, 0xFF, 0x51]) { return "JPEG 2000" }
        if at(0, "qoif") { return "QOI" }
        if at(0, [0x76, 0x2F, 0x31, 0x01]) { return "OpenEXR" }
        if at(0, "#?RADIANCE") || at(0, "#?RGBE") { return "Radiance HDR" }
        if at(0, "SIMPLE  =") { return "FITS" }
        if head.count >= 2, head[0] == UInt8(ascii: "P"), (UInt8(ascii: "1")...UInt8(ascii: "7")).contains(head[1]),
            head.count == 2 || [0x0A, 0x0D, 0x20, 0x09].contains(head[2])
        {
            return "PNM/PPM"
        }
        if at(4, "ftyp") { return "ISO media (\(String(decoding: head[8..<min(12, head.count)], as: UTF8.self)))" }
        let text = lowercasedText(head)
        if text.contains("<svg") { return "SVG" }
        return nil
    }

    /// A short phrase for common non-image payloads, or nil when nothing fits.
    private static func describe(_ head: [UInt8]) -> String? {
        func starts(_ magic: [UInt8]) -> Bool { head.starts(with: magic) }
        if starts(Array("%PDF".utf8)) { return "a PDF document" }
        if starts([0x50, 0x4B, 0x03, 0x04]) { return "a ZIP archive" }
        if starts([0x1F, 0x8B]) { return "gzip-compressed data" }
        if starts([0x7F, 0x45, 0x4C, 0x46]) { return "an ELF executable" }
        let text = lowercasedText(head).drop { $0.isWhitespace || $0 == "\u{FEFF}" }
        let htmlMarkers = ["<!doctype html", "<html", "<head", "<body"]
        if htmlMarkers.contains(where: text.hasPrefix)
            || text.hasPrefix("<") && htmlMarkers.contains(where: text.contains)
        {
            return "an HTML page"
        }
        if text.hasPrefix("<?xml") || text.hasPrefix("<") && isText(head) { return "an XML/HTML document" }
        if (text.hasPrefix("{") || text.hasPrefix("[")) && isText(head) { return "JSON" }
        if isText(head) { return "plain text" }
        return nil
    }

    private static func lowercasedText(_ head: [UInt8]) -> String {
        String(decoding: head, as: UTF8.self).lowercased()
    }

    /// UTF-8 without control characters other than whitespace (a cut multi-byte tail is fine).
    private static func isText(_ head: [UInt8]) -> Bool {
        let decoded = String(decoding: head, as: UTF8.self)
        let replacements = decoded.unicodeScalars.filter { $0 == "\u{FFFD}" }.count
        guard replacements <= 1 else { return false }
        return !decoded.unicodeScalars.contains {
            $0.value < 0x20 && $0 != "\n" && $0 != "\r" && $0 != "\t"
        }
    }
}
