import CLibXML2
import Foundation

/// A thin wrapper of libxml2's xmlTextWriter writing UTF-8 into memory.
final class XMLWriter {
    private let buffer: xmlBufferPtr
    private var writer: xmlTextWriterPtr?

    init(indent: Bool) throws {
        LibXML.prepare()
        guard let buffer = xmlBufferCreate() else { throw NotificationError.xmlWriteFailed(operation: "xmlBufferCreate") }
        self.buffer = buffer
        guard let writer = xmlNewTextWriterMemory(buffer, 0) else {
            xmlBufferFree(buffer)
            throw NotificationError.xmlWriteFailed(operation: "xmlNewTextWriterMemory")
        }
        self.writer = writer
        if indent {
            xmlTextWriterSetIndent(writer, 1)
            _ = LibXML.withXMLChars("  ") { xmlTextWriterSetIndentString(writer, $0) }
        }
    }

    deinit {
        if let writer { xmlFreeTextWriter(writer) }
        xmlBufferFree(buffer)
    }

    func startDocument() throws {
        try check("xmlTextWriterStartDocument") { xmlTextWriterStartDocument($0, "1.0", "UTF-8", nil) }
    }

    func startElement(_ name: String) throws {
        try check("xmlTextWriterStartElement") { writer in LibXML.withXMLChars(name) { xmlTextWriterStartElement(writer, $0) } }
    }

    func attribute(_ name: String, _ value: String) throws {
        try check("xmlTextWriterWriteAttribute") { writer in
            LibXML.withXMLChars(name) { name in LibXML.withXMLChars(value) { xmlTextWriterWriteAttribute(writer, name, $0) } }
        }
    }

    /// Writes character data; xmlTextWriter escapes `<`, `>`, `&` and carriage returns.
    func text(_ text: String) throws {
        guard !text.isEmpty else { return }
        try check("xmlTextWriterWriteString") { writer in LibXML.withXMLChars(text) { xmlTextWriterWriteString(writer, $0) } }
    }

    func endElement() throws {
        try check("xmlTextWriterEndElement") { xmlTextWriterEndElement($0) }
    }

    /// Closes the document and returns its text.
    func finish() throws -> String {
        try check("xmlTextWriterEndDocument") { xmlTextWriterEndDocument($0) }
        if let writer { xmlFreeTextWriter(writer) }  // flushes into the buffer
        writer = nil
        guard let content = xmlBufferContent(buffer) else { return "" }
        return String(cString: content)
    }

    private func check(_ operation: String, _ call: (xmlTextWriterPtr) -> Int32) throws {
        guard let writer, call(writer) >= 0 else { throw NotificationError.xmlWriteFailed(operation: operation) }
    }
}
