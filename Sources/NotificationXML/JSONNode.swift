import Foundation

/// A JSON value with objects that keep their key order, so documents built in code are written
/// in a readable order while documents parsed from text get a deterministic (sorted) one.
public enum JSONNode: Sendable, Hashable {
    case null
    case bool(Bool)
    /// A whole number that fits in 64 bits (kept exact, unlike `number`).
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONNode])
    case object(JSONObject)

    /// Parses JSON text; object keys come out sorted.
    public static func parse(_ data: Data) throws -> JSONNode {
        do {
            return try JSONDecoder().decode(JSONNode.self, from: data)
        } catch {
            throw NotificationError.invalidJSON(detail: "\(error)")
        }
    }

    /// Serialises as compact JSON text (object keys in their stored order).
    public func jsonText() -> String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .integer(let value): out += String(value)
        case .number(let value): out += JSONNode.format(value)
        case .string(let value): JSONNode.writeString(value, to: &out)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let object):
            out += "{"
            for (index, (key, value)) in object.pairs.enumerated() {
                if index > 0 { out += "," }
                JSONNode.writeString(key, to: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    /// The shortest text that reads back as the same double; always has a "." or an exponent,
    /// so that it never reads back as an integer ("93.0", "1e-07").
    static func format(_ value: Double) -> String { "\(value)" }

    private static func writeString(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

/// A JSON object: unique keys in insertion order; equality ignores the order.
public struct JSONObject: Sendable, Hashable, ExpressibleByDictionaryLiteral {
    /// The members in order.
    public private(set) var pairs: [(key: String, value: JSONNode)] = []

    /// An empty object.
    public init() {}

    /// An object with these members, in this order.
    public init(dictionaryLiteral elements: (String, JSONNode)...) {
        for (key, value) in elements { self[key] = value }
    }

    /// The keys in order.
    public var keys: [String] { pairs.map(\.key) }

    /// Gets a member, or sets one (a new key goes last; `nil` removes it).
    public subscript(key: String) -> JSONNode? {
        get { pairs.first { $0.key == key }?.value }
        set {
            if let index = pairs.firstIndex(where: { $0.key == key }) {
                if let newValue { pairs[index].value = newValue } else { pairs.remove(at: index) }
            } else if let newValue {
                pairs.append((key, newValue))
            }
        }
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.pairs.count == rhs.pairs.count && lhs.pairs.allSatisfy { rhs[$0.key] == $0.value }
    }

    public func hash(into hasher: inout Hasher) {
        for key in keys.sorted() {
            hasher.combine(key)
            hasher.combine(self[key])
        }
    }
}

extension JSONNode: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // The order matters: a JSON number must not be read as a Bool, nor 1.5 as an integer.
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONNode].self) {
            self = .array(value)
        } else {
            let dictionary = try container.decode([String: JSONNode].self)
            var object = JSONObject()
            for key in dictionary.keys.sorted() { object[key] = dictionary[key] }
            self = .object(object)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let object):
            try container.encode(Dictionary(uniqueKeysWithValues: object.pairs.map { ($0.key, $0.value) }))
        }
    }
}
