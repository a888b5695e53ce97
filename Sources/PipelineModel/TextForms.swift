/// Text forms every layer must agree on.
extension String {
    /// Lowercases ASCII letters only, exactly like SQLite's NOCASE collation: the one rule by which
    /// label names, aliases and categories match, in the classifier's filters and in the database.
    public var asciiFolded: String {
        String(decoding: utf8.map { (65...90).contains($0) ? $0 + 32 : $0 }, as: UTF8.self)
    }
}

extension SimilaritySection {
    /// A perceptual hash as the message carries it: 16 lowercase hex digits.
    public static func hashText(_ hash: UInt64) -> String {
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The bits of a hash in that form; nil when `text` is not 16 hex digits.
    public static func hashBits(_ text: String) -> UInt64? {
        text.count == 16 ? UInt64(text, radix: 16) : nil
    }

    /// This section's hash bits.
    public var hashBits: UInt64? { Self.hashBits(perceptualHash) }
}
