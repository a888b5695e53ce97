import FlyingFox
import FlyingSocks
import Foundation

/// Canned responses for exercising HTTP clients: bodies, redirects, slow and hanging servers.
public enum TestResponses {
    /// 200 with `body` and a Content-Type (which may lie about the body, on purpose).
    public static func ok(_ body: Data, contentType: String = "application/octet-stream") -> HTTPResponse {
        HTTPResponse(statusCode: .ok, headers: [.contentType: contentType], body: body)
    }

    /// A status with a short text body, e.g. `status(404, "Not Found")`.
    public static func status(_ code: Int, _ phrase: String) -> HTTPResponse {
        HTTPResponse(
            statusCode: HTTPStatusCode(code, phrase: phrase), headers: [.contentType: "text/plain"],
            body: Data("\(code) \(phrase)\n".utf8))
    }

    /// A 302 redirect to `location` (absolute or relative).
    public static func redirect(to location: String, code: Int = 302) -> HTTPResponse {
        HTTPResponse(statusCode: HTTPStatusCode(code, phrase: "Found"), headers: [.location: location])
    }

    /// 200 whose body is sent `chunkSize` bytes at a time with `interval` between chunks.
    /// `declaredLength` nil sends it chunked (no Content-Length).
    public static func trickle(
        _ body: Data, chunkSize: Int = 1, interval: Duration = .milliseconds(500),
        contentType: String = "application/octet-stream", declaredLength: Int? = -1
    ) -> HTTPResponse {
        let bytes = PacedBytes(bytes: [UInt8](body), chunkSize: chunkSize, interval: interval)
        let length = declaredLength == -1 ? body.count : declaredLength
        let sequence = length.map { HTTPBodySequence(from: bytes, count: $0) } ?? HTTPBodySequence(from: bytes)
        return HTTPResponse(statusCode: .ok, headers: [.contentType: contentType], body: sequence)
    }

    /// 200 declaring `declaredLength` bytes, sending only `body`, then dropping the connection
    /// (a server crash or network cut mid-transfer).
    public static func cutOff(_ body: Data, declaredLength: Int, contentType: String = "application/octet-stream") -> HTTPResponse {
        let bytes = PacedBytes(bytes: [UInt8](body), chunkSize: body.count, interval: .zero, failAtEnd: true)
        return HTTPResponse(
            statusCode: .ok, headers: [.contentType: contentType],
            body: HTTPBodySequence(from: bytes, count: declaredLength))
    }

    /// 200 sent chunked (no Content-Length), in `chunkSize` pieces, as fast as possible.
    public static func chunked(_ body: Data, chunkSize: Int = 16 * 1024, contentType: String = "application/octet-stream") -> HTTPResponse {
        trickle(body, chunkSize: chunkSize, interval: .zero, contentType: contentType, declaredLength: nil)
    }

    /// Never answers: the connection is accepted and the request read, then nothing happens
    /// until the server stops (the waiting is cancelled then).
    public static func hang() async throws -> HTTPResponse {
        try await Task.sleep(for: .seconds(24 * 3600))
        return status(504, "Gateway Timeout")
    }
}

/// Counts how often something happened across concurrent handlers (e.g. fail the first N
/// requests, then succeed).
public final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    public init() {}
    /// Adds one and returns the new count (1 for the first call).
    public func next() -> Int {
        lock.withLock {
            value += 1
            return value
        }
    }
    /// The current count.
    public var count: Int { lock.withLock { value } }
}

/// Bytes delivered in fixed-size pieces with a pause before each one.
struct PacedBytes: AsyncBufferedSequence, Sendable {
    typealias Element = UInt8
    let bytes: [UInt8]
    let chunkSize: Int
    let interval: Duration
    /// Throw instead of ending, so the server drops the connection.
    var failAtEnd = false

    func makeAsyncIterator() -> Iterator {
        Iterator(bytes: bytes, chunkSize: Swift.max(1, chunkSize), interval: interval, failAtEnd: failAtEnd)
    }

    struct Iterator: AsyncBufferedIteratorProtocol {
        let bytes: [UInt8]
        let chunkSize: Int
        let interval: Duration
        let failAtEnd: Bool
        var offset = 0

        mutating func next() async throws -> UInt8? {
            try await nextBuffer(suggested: 1)?.first
        }

        mutating func nextBuffer(suggested count: Int) async throws -> ArraySlice<UInt8>? {
            guard offset < bytes.count else {
                if failAtEnd { throw TestServerError(detail: "connection cut on purpose") }
                return nil
            }
            if interval > .zero { try await Task.sleep(for: interval) }
            let end = Swift.min(bytes.count, offset + Swift.min(chunkSize, Swift.max(1, count)))
            defer { offset = end }
            return bytes[offset..<end]
        }
    }
}
