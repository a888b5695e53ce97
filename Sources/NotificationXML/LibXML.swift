import CLibXML2
import Foundation

/// Process-wide libxml2 set-up and small conversions between Swift and `xmlChar`.
@_spi(XMLReading) public enum LibXML {
    /// xmlInitParser must run once before threads use libxml2.
    private static let initialised: Void = { xmlInitParser() }()

    /// Initialises libxml2 (once) and stops it printing errors on the calling thread; call
    /// right before a synchronous libxml2 operation.
    static func prepare() {
        _ = initialised
        cxml_silence_errors_on_this_thread()
    }

    /// A Swift string from a libxml2 string (nil stays nil).
    @_spi(XMLReading) public static func string(_ pointer: UnsafePointer<xmlChar>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    /// Calls `body` with `text` as a NUL-terminated `xmlChar` string.
    static func withXMLChars<R>(_ text: String, _ body: (UnsafePointer<xmlChar>) throws -> R) rethrows -> R {
        try text.withCString { pointer in
            try pointer.withMemoryRebound(to: xmlChar.self, capacity: text.utf8.count + 1) { try body($0) }
        }
    }

    /// Formats one libxml2 error as `line N: message`.
    static func describe(_ error: UnsafePointer<xmlError>?) -> String {
        guard let error else { return "unknown libxml2 error" }
        let message =
            error.pointee.message.map { String(cString: $0) }?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown error"
        return error.pointee.line > 0 ? "line \(error.pointee.line): \(message)" : message
    }
}

/// Collects the messages a libxml2 structured-error callback reports.
final class XMLErrorCollector {
    var messages: [String] = []

    /// The C callback; `context` is an unretained pointer to a collector.
    static let callback: xmlStructuredErrorFunc = { context, error in
        guard let context else { return }
        let collector = Unmanaged<XMLErrorCollector>.fromOpaque(context).takeUnretainedValue()
        collector.messages.append(LibXML.describe(error.map { UnsafePointer($0) }))
    }

    /// A pointer to pass as the callback's context while `self` is alive.
    var context: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }
}

/// A parsed libxml2 document, freed when this object goes.
/// A parsed document (open to test support, which reads documents back into JSON).
@_spi(XMLReading) public final class XMLDocument {
    let pointer: xmlDocPtr

    /// Parses `data` without network access, DTD loading or entity expansion.
    @_spi(XMLReading) public init(parsing data: Data) throws {
        LibXML.prepare()
        guard let context = xmlNewParserCtxt() else { throw NotificationError.xmlParseFailed(detail: "out of memory") }
        defer { xmlFreeParserCtxt(context) }
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOWARNING.rawValue)
        let document: xmlDocPtr? = data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: CChar.self) else { return nil }
            return xmlCtxtReadMemory(context, base, Int32(raw.count), nil, nil, options)
        }
        guard let document else {
            throw NotificationError.xmlParseFailed(
                detail: data.isEmpty ? "empty document" : LibXML.describe(xmlCtxtGetLastError(context).map { UnsafePointer($0) }))
        }
        if context.pointee.wellFormed == 0 {
            let detail = LibXML.describe(xmlCtxtGetLastError(context).map { UnsafePointer($0) })
            xmlFreeDoc(document)
            throw NotificationError.xmlParseFailed(detail: detail)
        }
        pointer = document
    }

    deinit { xmlFreeDoc(pointer) }

    /// The document element.
    @_spi(XMLReading) public var root: xmlNodePtr? { xmlDocGetRootElement(pointer) }
}
