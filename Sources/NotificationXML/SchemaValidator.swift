import CLibXML2
import Foundation

/// An XSD compiled once with libxml2 and used to validate documents (xmlSchemaValidateDoc).
public final class SchemaValidator: @unchecked Sendable {
    private let schema: xmlSchemaPtr
    // libxml2 does not promise that one compiled schema may validate on several threads at
    // once; validation takes microseconds, so a lock costs nothing worth having.
    private let lock = NSLock()

    /// The validator of the notification document.
    public static let notification: Result<SchemaValidator, NotificationError> = Result {
        try SchemaValidator(xsd: NotificationSchema.xsd)
    }.mapError { $0 as? NotificationError ?? .schemaInvalid(detail: "\($0)") }

    /// Compiles an XSD given as text.
    public init(xsd: String) throws {
        LibXML.prepare()
        let collector = XMLErrorCollector()
        let bytes = Array(xsd.utf8)
        let compiled: xmlSchemaPtr? = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars -> xmlSchemaPtr? in
                guard let parser = xmlSchemaNewMemParserCtxt(chars.baseAddress, Int32(chars.count)) else { return nil }
                defer { xmlSchemaFreeParserCtxt(parser) }
                xmlSchemaSetParserStructuredErrors(parser, XMLErrorCollector.callback, collector.context)
                return xmlSchemaParse(parser)
            }
        }
        guard let compiled else {
            throw NotificationError.schemaInvalid(detail: collector.messages.joined(separator: "; "))
        }
        schema = compiled
    }

    deinit { xmlSchemaFree(schema) }

    /// Parses and validates a document; throws `NotificationError.schemaViolation` with every
    /// error libxml2 reported (or `.xmlParseFailed` for text that is not XML).
    public func validate(_ data: Data) throws {
        let document = try XMLDocument(parsing: data)
        let errors: [String] = lock.withLock {
            LibXML.prepare()
            let collector = XMLErrorCollector()
            guard let context = xmlSchemaNewValidCtxt(schema) else { return ["out of memory creating a validation context"] }
            defer { xmlSchemaFreeValidCtxt(context) }
            xmlSchemaSetValidStructuredErrors(context, XMLErrorCollector.callback, collector.context)
            let result = withExtendedLifetime(collector) { xmlSchemaValidateDoc(context, document.pointer) }
            if result == 0 { return [] }
            return collector.messages.isEmpty ? ["libxml2 validation failed with code \(result)"] : collector.messages
        }
        if !errors.isEmpty { throw NotificationError.schemaViolation(errors: errors) }
    }

    /// Validates a document given as text.
    public func validate(_ text: String) throws { try validate(Data(text.utf8)) }
}
