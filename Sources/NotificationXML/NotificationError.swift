import Foundation

/// What can go wrong while building, validating or delivering a notification.
public enum NotificationError: Error, CustomStringConvertible, Sendable {
    /// Text that is not JSON.
    case invalidJSON(detail: String)
    /// libxml2 failed while writing a document (out of memory, in practice).
    case xmlWriteFailed(operation: String)
    /// Text that is not well-formed XML.
    case xmlParseFailed(detail: String)
    /// Well-formed XML that is not a document the JSON mapping writes.
    case notMappedXML(element: String, detail: String)
    /// The XSD itself does not compile.
    case schemaInvalid(detail: String)
    /// A document that does not satisfy the notification schema.
    case schemaViolation(errors: [String])
    /// A bad setting (recipient, subject template, gateway URL).
    case invalidSettings(detail: String)
    /// An `image.labeled` body of a schema version newer than this notifier understands.
    case unsupportedSchemaVersion(messageID: String, version: Int, supported: Int)
    /// libcurl could not be set up (handle creation, an option it refused).
    case curlSetupFailed(operation: String, code: Int32)

    public var description: String {
        switch self {
        case .invalidJSON(let detail):
            return "not valid JSON: \(detail)"
        case .xmlWriteFailed(let operation):
            return "libxml2 xmlTextWriter failed in \(operation); this means memory ran out or the input held bytes libxml2 rejects"
        case .xmlParseFailed(let detail):
            return "not well-formed XML: \(detail)"
        case .notMappedXML(let element, let detail):
            return "element <\(element)> does not follow the JSON-to-XML mapping: \(detail) (see docs/NOTIFY-XML.md)"
        case .schemaInvalid(let detail):
            return "the notification XSD does not compile: \(detail); fix docs/schema/notification.xsd (embedded at build time)"
        case .schemaViolation(let errors):
            return "document does not satisfy notification.xsd: \(errors.joined(separator: "; "))"
        case .invalidSettings(let detail):
            return "invalid notifier settings: \(detail)"
        case .unsupportedSchemaVersion(let messageID, let version, let supported):
            return
                "message \(messageID) has image.labeled schema version \(version), newer than the \(supported) this notify-xml understands; upgrade notify-xml, then redrive the dead letters"
        case .curlSetupFailed(let operation, let code):
            return "libcurl setup failed in \(operation) (code \(code)); check that libcurl4 is installed and the gateway URL is valid"
        }
    }
}
