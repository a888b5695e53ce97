import Foundation
import Imaging

/// Catches images whose bytes stop early although the HTTP transfer looked complete (a server
/// that serves a cut file with a matching Content-Length). libvips reads headers lazily, so a
/// header check alone would accept them; the format's end marker tells.
enum ImageCompleteness {
    /// A description of what is missing, or nil when the end looks intact.
    static func missingEnd(_ data: Data, format: ImageFormat) -> String? {
        switch format {
        case .jpeg:
            // EOI (FF D9), allowing trailing padding some encoders add.
            return data.suffix(4096).containsSequence([0xFF, 0xD9]) ? nil : "no JPEG end-of-image marker"
        case .png:
            return data.suffix(64).containsSequence([0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]) ? nil : "no PNG IEND chunk"
        case .gif:
            return data.suffix(16).contains(0x3B) ? nil : "no GIF trailer"
        case .webp:
            guard data.count >= 12 else { return "shorter than a RIFF header" }
            let start = data.startIndex
            let declared = (0..<4).reduce(0) { $0 | Int(data[start + 4 + $1]) << (8 * $1) }
            return data.count >= declared + 8 ? nil : "RIFF declares \(declared + 8) bytes, got \(data.count)"
        case .tiff, .heif, .avif:
            return nil
        }
    }
}

extension Data {
    fileprivate func containsSequence(_ needle: [UInt8]) -> Bool {
        guard count >= needle.count else { return false }
        let bytes = [UInt8](self)
        return (0...(bytes.count - needle.count)).contains { bytes[$0..<$0 + needle.count].elementsEqual(needle) }
    }
}
