import Foundation

/// Where a page of an image listing ended: the last image's sort key. A query with `after` set to
/// it continues right after that image (keyset paging: each page is an index range read, however
/// deep, and images recognized meanwhile neither repeat nor shift the pages).
public struct ListingCursor: Sendable, Equatable, Hashable {
    /// The image's recognition time (Unix seconds, as stored).
    public var recognizedAt: Double
    /// The image's row number (ties of time are broken by it).
    public var seq: Int64
    /// The matching confidence, for listings sorted by confidence.
    public var confidence: Double?

    /// A cursor at one image's sort key.
    public init(recognizedAt: Double, seq: Int64, confidence: Double? = nil) {
        self.recognizedAt = recognizedAt
        self.seq = seq
        self.confidence = confidence
    }

    /// An opaque, URL-safe text form ("c1." + base64url of the fields), for APIs.
    public var token: String {
        var text = "\(recognizedAt.bitPattern):\(seq)"
        if let confidence { text += ":\(confidence.bitPattern)" }
        let base64 = Data(text.utf8).base64EncodedString()
        return "c1."
            + base64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Reads `token`; nil when it is not one `token` wrote.
    public init?(token: String) {
        guard token.hasPrefix("c1."), token.count <= 200 else { return nil }
        var base64 = String(token.dropFirst(3)).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else { return nil }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, let time = UInt64(parts[0]), let seq = Int64(parts[1]) else { return nil }
        recognizedAt = Double(bitPattern: time)
        self.seq = seq
        if parts.count == 3 {
            guard let bits = UInt64(parts[2]) else { return nil }
            confidence = Double(bitPattern: bits)
        }
        guard recognizedAt.isFinite, confidence?.isFinite ?? true else { return nil }
    }
}
