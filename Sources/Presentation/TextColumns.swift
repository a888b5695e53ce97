/// Fixed-width text cells for tables on a terminal.
public enum TextColumns {
    /// `text` padded with spaces on the right to `width` (longer text is left as it is).
    public static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    /// `text` padded with spaces on the left to `width` (numbers).
    public static func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    /// `text` cut to `width` characters, ending in "…" when cut.
    public static func truncate(_ text: String, to width: Int) -> String {
        text.count <= width ? text : String(text.prefix(max(0, width - 1))) + "…"
    }

    /// Joins items with ", " keeping whole items only, ending in ", …" when some did not fit.
    public static func joinFitting(_ items: [String], width: Int) -> String {
        let all = items.joined(separator: ", ")
        if all.count <= width { return all }
        var result = ""
        for item in items {
            let next = result.isEmpty ? item : result + ", " + item
            if next.count + 3 > width { break }
            result = next
        }
        return result.isEmpty ? truncate(items.first ?? "", to: width) : result + ", …"
    }

    /// A duration in seconds as a short age: `45s`, `12m`, `5h`, `3d`.
    public static func age(_ seconds: Double) -> String {
        switch seconds {
        case ..<120: return "\(Int(seconds))s"
        case ..<7200: return "\(Int(seconds / 60))m"
        case ..<172_800: return "\(Int(seconds / 3600))h"
        default: return "\(Int(seconds / 86400))d"
        }
    }
}
