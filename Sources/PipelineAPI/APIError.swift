import Foundation
import Hummingbird
import NIOCore
import PipelineModel

/// An error answered as JSON: `{"error": {"status": 404, "code": "not_found", "message": "..."}}`,
/// with extra headers (Retry-After, WWW-Authenticate) where the status calls for them.
public struct APIError: Error, HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    /// A stable machine-readable code (documented in docs/openapi.yaml).
    public var code: String
    public var message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    public static func badRequest(_ message: String) -> APIError { APIError(.badRequest, code: "bad_request", message) }
    public static func notFound(_ message: String) -> APIError { APIError(.notFound, code: "not_found", message) }
    public static func unavailable(_ message: String) -> APIError {
        APIError(.serviceUnavailable, code: "unavailable", message, headers: [.retryAfter: "5"])
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.cacheControl] = "no-store"
        let body = JSONBody.encode(ErrorDocument(error: .init(status: Int(status.code), code: code, message: message)))
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    struct ErrorDocument: Encodable {
        struct Detail: Encodable {
            var status: Int
            var code: String
            var message: String
        }
        var error: Detail
    }
}

/// JSON responses in the messages' encoding (`MessageCoding`: sorted keys, ISO 8601 dates with fractions).
enum JSONBody {
    static func encode(_ value: some Encodable) -> [UInt8] {
        (try? Array(MessageCoding.encoder().encode(value)))
            ?? Array(#"{"error":{"status":500,"code":"encoding","message":"response encoding failed"}}"#.utf8)
    }

    /// A 200 (or `status`) JSON response of `value`.
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: encode(value))))
    }
}
