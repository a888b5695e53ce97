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

    /// Reads a document written by `xml(from:rootName:)` back into its root name and value.
    public static func json(fromXML data: Data) throws -> (rootName: String, value: JSONNode) {
        let document = try XMLDocument(parsing: data)
        guard let root = document.root else { throw NotificationError.xmlParseFailed(detail: "no root element") }
        return (XMLNameCoding.decode(elementName(root)), try readValue(root))
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

    // MARK: Reading

    private static func readValue(_ element: xmlNodePtr) throws -> JSONNode {
        let name = elementName(element)
        let type = attribute(element, typeAttribute)
        switch type {
        case "null":
            return .null
        case "boolean":
            switch text(of: element) {
            case "true": return .bool(true)
            case "false": return .bool(false)
            case let other: throw NotificationError.notMappedXML(element: name, detail: "boolean text \"\(other)\"")
            }
        case "number":
            let literal = text(of: element).trimmingCharacters(in: .whitespaces)
            if !literal.contains(where: { ".eEnN".contains($0) }), let integer = Int64(literal) { return .integer(integer) }
            guard let number = Double(literal) else {
                throw NotificationError.notMappedXML(element: name, detail: "number text \"\(literal)\"")
            }
            return .number(number)
        case "object":
            return .object(try readObject(element))
        case "array":
            let object = try readObject(element)
            guard object.keys.allSatisfy({ $0 == nestedItemName }), case .array(let items)? = object[nestedItemName] ?? .array([]) else {
                throw NotificationError.notMappedXML(element: name, detail: "an array element must hold only <\(nestedItemName) array=...> children")
            }
            return .array(items)
        case nil:
            if hasElementChildren(element) { return .object(try readObject(element)) }
            let raw = text(of: element)
            return .string(attribute(element, escapedAttribute) == "true" ? XMLNameCoding.unescapeText(raw) : raw)
        case let other?:
            throw NotificationError.notMappedXML(element: name, detail: "unknown type \"\(other)\"")
        }
    }

    private static func readObject(_ element: xmlNodePtr) throws -> JSONObject {
        var object = JSONObject()
        var child = element.pointee.children
        while let node = child {
            defer { child = node.pointee.next }
            switch node.pointee.type {
            case XML_ELEMENT_NODE:
                let key = XMLNameCoding.decode(elementName(node))
                switch attribute(node, arrayAttribute) {
                case "empty":
                    guard object[key] == nil else { throw duplicate(key, in: element) }
                    object[key] = .array([])
                case "true":
                    var items: [JSONNode] = []
                    if let existing = object[key] {
                        guard case .array(let earlier) = existing, !earlier.isEmpty else { throw duplicate(key, in: element) }
                        items = earlier
                    }
                    items.append(try readValue(node))
                    object[key] = .array(items)
                case nil:
                    guard object[key] == nil else { throw duplicate(key, in: element) }
                    object[key] = try readValue(node)
                case let other?:
                    throw NotificationError.notMappedXML(element: elementName(node), detail: "array=\"\(other)\"")
                }
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                // Indentation between members is fine; real text next to members is not JSON.
                let content = LibXML.string(node.pointee.content) ?? ""
                if !content.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
                    throw NotificationError.notMappedXML(element: elementName(element), detail: "text mixed with child elements")
                }
            default:
                break  // comments and processing instructions carry no JSON
            }
        }
        return object
    }

    private static func duplicate(_ key: String, in element: xmlNodePtr) -> NotificationError {
        .notMappedXML(element: elementName(element), detail: "member \"\(key)\" appears more than once without array=\"true\"")
    }

    private static func elementName(_ node: xmlNodePtr) -> String {
        LibXML.string(node.pointee.name) ?? ""
    }

    private static func hasElementChildren(_ element: xmlNodePtr) -> Bool {
        var child = element.pointee.children
        while let node = child {
            if node.pointee.type == XML_ELEMENT_NODE { return true }
            child = node.pointee.next
        }
        return false
    }

    /// The concatenated text and CDATA content directly inside `element`.
    private static func text(of element: xmlNodePtr) -> String {
        var out = ""
        var child = element.pointee.children
        while let node = child {
            if node.pointee.type == XML_TEXT_NODE || node.pointee.type == XML_CDATA_SECTION_NODE {
                out += LibXML.string(node.pointee.content) ?? ""
            }
            child = node.pointee.next
        }
        return out
    }

    /// The value of a namespace-less attribute, or nil.
    static func attribute(_ element: xmlNodePtr, _ name: String) -> String? {
        var property = element.pointee.properties
        while let attr = property {
            if LibXML.string(attr.pointee.name) == name {
                var value = ""
                var child = attr.pointee.children
                while let node = child {
                    value += LibXML.string(node.pointee.content) ?? ""
                    child = node.pointee.next
                }
                return value
            }
            property = attr.pointee.next
        }
        return nil
    }
}
