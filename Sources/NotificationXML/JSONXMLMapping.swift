import CLibXML2
import Foundation

/// The documented, reversible mapping between JSON values and XML (docs/NOTIFY-XML.md).
///
/// - an object becomes an element with one child element per member, in member order;
/// - an array under key `k` becomes repeated `<k array="true">` elements; an empty array is a
///   single `<k array="empty"/>`; an array inside an array is `<k type="array">` holding the
///   inner items as `<item array="true">`;
/// - a string is the element's text (escaped by xmlTextWriter); a string holding characters
///   XML 1.0 cannot carry is escaped with `_xHHHH_` and marked `escaped="true"`;
/// - numbers, booleans and null carry `type="number"`, `type="boolean"`, `type="null"`; an
///   empty object is `type="object"`; strings and non-empty objects carry no type;
/// - keys become element names through `XMLNameCoding`.
public enum JSONXMLMapping {
    /// Attribute naming the JSON type of an element (absent for strings and non-empty objects).
    public static let typeAttribute = "type"
    /// Attribute marking array items (`true`) and empty arrays (`empty`).
    public static let arrayAttribute = "array"
    /// Attribute marking text escaped with the `_xHHHH_` scheme.
    public static let escapedAttribute = "escaped"
    /// Element name of the items of an array nested directly in an array.
    public static let nestedItemName = "item"

    /// Writes `value` as an XML document whose root element is named `rootName`.
    public static func xml(from value: JSONNode, rootName: String, indent: Bool = true) throws -> String {
        let writer = try XMLWriter(indent: indent)
        try writer.startDocument()
        try writeValue(value, name: XMLNameCoding.encode(rootName), arrayItem: false, to: writer)
        return try writer.finish()
    }

    // MARK: Writing

    private static func writeMember(key: String, value: JSONNode, to writer: XMLWriter) throws {
        let name = XMLNameCoding.encode(key)
        guard case .array(let items) = value else {
            try writeValue(value, name: name, arrayItem: false, to: writer)
            return
        }
        if items.isEmpty {
            try writer.startElement(name)
            try writer.attribute(arrayAttribute, "empty")
            try writer.endElement()
        }
        for item in items { try writeValue(item, name: name, arrayItem: true, to: writer) }
    }

    private static func writeValue(_ value: JSONNode, name: String, arrayItem: Bool, to writer: XMLWriter) throws {
        try writer.startElement(name)
        if arrayItem { try writer.attribute(arrayAttribute, "true") }
        switch value {
        case .null:
            try writer.attribute(typeAttribute, "null")
        case .bool(let flag):
            try writer.attribute(typeAttribute, "boolean")
            try writer.text(flag ? "true" : "false")
        case .integer(let number):
            try writer.attribute(typeAttribute, "number")
            try writer.text(String(number))
        case .number(let number):
            try writer.attribute(typeAttribute, "number")
            try writer.text(JSONNode.format(number))
        case .string(let text):
            if XMLNameCoding.needsTextEscaping(text) {
                try writer.attribute(escapedAttribute, "true")
                try writer.text(XMLNameCoding.escapeText(text))
            } else {
                try writer.text(text)
            }
        case .object(let object):
            if object.pairs.isEmpty { try writer.attribute(typeAttribute, "object") }
            for (key, member) in object.pairs { try writeMember(key: key, value: member, to: writer) }
        case .array(let items):
            try writer.attribute(typeAttribute, "array")
            try writeMember(key: nestedItemName, value: .array(items), to: writer)
        }
        try writer.endElement()
    }
}
