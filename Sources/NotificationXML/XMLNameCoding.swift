/// The reversible escape scheme that makes any JSON key a valid XML element name and any
/// string valid XML 1.0 character data (docs/NOTIFY-XML.md, "Names and text").
///
/// A character that may not appear is written as `_xHHHH_` (four upper-case hex digits of its
/// code point) or `_xHHHHHHHH_` above U+FFFF. An underscore that is followed by `x` in the
/// original is itself written `_x005F_`, so every `_x` in an encoded name starts an escape and
/// decoding is unambiguous. The empty key is written `_x_`.
public enum XMLNameCoding {
    /// The element name standing for the empty key.
    static let emptyName = "_x_"

    /// Encodes a JSON key as a valid XML 1.0 (fifth edition) element name without colons.
    public static func encode(_ key: String) -> String {
        if key.isEmpty { return emptyName }
        let scalars = Array(key.unicodeScalars)
        // Names beginning with "xml" (any case) are reserved by the XML specification.
        let reservedPrefix = key.lowercased().hasPrefix("xml")
        var out = String.UnicodeScalarView()
        for (index, scalar) in scalars.enumerated() {
            let next = index + 1 < scalars.count ? scalars[index + 1] : nil
            let valid = index == 0 ? isNameStartChar(scalar) : isNameChar(scalar)
            if scalar == "_" && next == "x" {
                appendEscape(scalar, to: &out)
            } else if !valid || scalar == ":" || (index == 0 && reservedPrefix) {
                appendEscape(scalar, to: &out)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// Decodes a name written by `encode` back to the key (other names pass through unchanged).
    public static func decode(_ name: String) -> String {
        if name == emptyName { return "" }
        return unescape(name)
    }

    /// Whether a string holds characters XML 1.0 cannot carry, even as character references.
    public static func needsTextEscaping(_ text: String) -> Bool {
        text.unicodeScalars.contains { !isXMLChar($0) }
    }

    /// Escapes characters XML 1.0 forbids (and `_x`, so the result decodes unambiguously).
    public static func escapeText(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        for (index, scalar) in scalars.enumerated() {
            let next = index + 1 < scalars.count ? scalars[index + 1] : nil
            if !isXMLChar(scalar) || (scalar == "_" && next == "x") {
                appendEscape(scalar, to: &out)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// Reverses `escapeText`.
    public static func unescapeText(_ text: String) -> String { unescape(text) }

    private static func appendEscape(_ scalar: Unicode.Scalar, to out: inout String.UnicodeScalarView) {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let width = scalar.value > 0xFFFF ? 8 : 4
        out.append(contentsOf: "_x\(String(repeating: "0", count: width - hex.count))\(hex)_".unicodeScalars)
    }

    private static func unescape(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            if scalars[index] == "_", index + 1 < scalars.count, scalars[index + 1] == "x" {
                if let (scalar, length) = escape(in: scalars, at: index + 2, digits: 4)
                    ?? escape(in: scalars, at: index + 2, digits: 8)
                {
                    out.append(scalar)
                    index += 2 + length
                    continue
                }
            }
            out.append(scalars[index])
            index += 1
        }
        return String(out)
    }

    /// Reads `digits` hex digits and a closing underscore at `start`; returns the scalar and how
    /// many scalars were consumed.
    private static func escape(in scalars: [Unicode.Scalar], at start: Int, digits: Int) -> (Unicode.Scalar, Int)? {
        guard start + digits < scalars.count, scalars[start + digits] == "_" else { return nil }
        var value: UInt32 = 0
        for scalar in scalars[start..<(start + digits)] {
            guard scalar.isASCII, let digit = UInt32(String(scalar), radix: 16) else { return nil }
            value = value * 16 + digit
        }
        guard let scalar = Unicode.Scalar(value) else { return nil }
        return (scalar, digits + 1)
    }

    /// XML 1.0 `Char`: what a document may contain at all.
    static func isXMLChar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: return true
        default: return false
        }
    }

    /// XML 1.0 fifth edition `NameStartChar` (colon included; callers exclude it).
    static func isNameStartChar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x3A, 0x41...0x5A, 0x5F, 0x61...0x7A, 0xC0...0xD6, 0xD8...0xF6, 0xF8...0x2FF,
            0x370...0x37D, 0x37F...0x1FFF, 0x200C...0x200D, 0x2070...0x218F, 0x2C00...0x2FEF,
            0x3001...0xD7FF, 0xF900...0xFDCF, 0xFDF0...0xFFFD, 0x10000...0xEFFFF:
            return true
        default:
            return false
        }
    }

    /// XML 1.0 fifth edition `NameChar`.
    static func isNameChar(_ scalar: Unicode.Scalar) -> Bool {
        if isNameStartChar(scalar) { return true }
        switch scalar.value {
        case 0x2D, 0x2E, 0x30...0x39, 0xB7, 0x300...0x36F, 0x203F...0x2040: return true
        default: return false
        }
    }
}
