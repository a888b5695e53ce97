import CLibXML2
import Foundation
@_spi(XMLReading) import NotificationXML

/// The reading half of the JSON-to-XML mapping: what the tests use to show the mapping is
/// reversible. Product code only writes (notify-xml) and validates (mail-sink).
extension JSONXMLMapping {
    /// Reads a document written by `xml(from:rootName:)` back into its root name and value.
    public static func json(fromXML data: Data) throws -> (rootName: String, value: JSONNode) {
        let document = try XMLDocument(parsing: data)
        guard let root = document.root else { throw NotificationError.xmlParseFailed(detail: "no root element") }
        return (XMLNameCoding.decode(elementName(root)), try readValue(root))
    }

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
    private static func attribute(_ element: xmlNodePtr, _ name: String) -> String? {
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
