import CCurl
import CurlDriver
import Foundation

/// One HTTP response as libcurl received it.
public struct HTTPReply: Sendable {
    /// The status code of the final response.
    public var status: Int
    /// Response headers of the final response, names lower-cased.
    public var headers: [String: String]
    /// The start of the body (at most `CurlMultiClient.bodyLimit` bytes).
    public var body: Data
    /// Connections libcurl had to open for this exchange (0 when a kept-alive one was reused).
    public var newConnections: Int
}

/// A transfer that produced no HTTP response: connection refused or reset, timeout, ...
public struct CurlTransferError: Error, CustomStringConvertible, Sendable {
    /// The URL of the failed transfer.
    public var url: String
    /// The CURLcode.
    public var code: Int32
    /// libcurl's message for it, with the error buffer's detail.
    public var message: String
    public var description: String { "POST \(url) failed: \(message) (CURLcode \(code))" }
    /// Whether the gateway did not answer in time.
    public var isTimeout: Bool { code == Int32(CURLE_OPERATION_TIMEDOUT.rawValue) }
}

/// What one POST sends.
public struct HTTPPost: Sendable {
    /// The endpoint.
    public var url: String
    /// The request body.
    public var body: Data
    /// Header lines, `Name: value`.
    public var headers: [String]
    /// Seconds to open the connection.
    public var connectTimeout: TimeInterval
    /// Seconds for the whole exchange.
    public var timeout: TimeInterval

    /// A POST of `body` to `url` with `headers`.
    public init(url: String, body: Data, headers: [String], connectTimeout: TimeInterval, timeout: TimeInterval) {
        self.url = url
        self.body = body
        self.headers = headers
        self.connectTimeout = connectTimeout
        self.timeout = timeout
    }
}

/// HTTP POSTs through one `CurlMultiDriver` (one thread, one multi handle).
///
/// Every transfer of the process shares the multi handle's connection cache, so connections
/// to the gateway are reused across messages and worker lanes, and blocking network I/O never
/// occupies Swift's cooperative threads. Easy handles are pooled and reused.
public final class CurlMultiClient: @unchecked Sendable {
    /// How much of a response body is kept (enough for an error snippet).
    public static let bodyLimit = 64 * 1024

    private let driver: CurlMultiDriver
    private let pool = EasyHandlePool()

    /// Creates the multi handle and starts its thread; `maxConnections` caps connections per host.
    public init(maxConnections: Int) throws {
        do {
            driver = try CurlMultiDriver(threadName: "curl-multi") { multi in
                _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, max(1, maxConnections))
                _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, max(4, maxConnections))
            }
        } catch {
            throw NotificationError.curlSetupFailed(operation: error.call, code: -1)
        }
    }

    /// Stops the thread, failing transfers still running, and frees libcurl's handles.
    public func shutdown() {
        driver.shutdown(finishRunning: false)
        pool.drain()
    }

    /// Sends one POST and waits for the reply (any status) or a transport error.
    public func post(_ request: HTTPPost) async -> Result<HTTPReply, CurlTransferError> {
        await withCheckedContinuation { (continuation: CheckedContinuation<Result<HTTPReply, CurlTransferError>, Never>) in
            let transfer = CurlTransfer(request: request, pool: pool, continuation: continuation)
            if !driver.submit(transfer) {
                transfer.finish(.failure(CurlTransferError(url: request.url, code: -1, message: "the HTTP client is shut down")))
            }
        }
    }
}

/// Easy handles kept for reuse (a reset handle keeps its connection and DNS caches warm).
final class EasyHandlePool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [UnsafeMutableRawPointer] = []

    /// A reset handle from the pool, or a new one (nil if libcurl cannot make one).
    func take() -> UnsafeMutableRawPointer? {
        lock.withLock { idle.popLast() } ?? curl_easy_init()
    }

    /// Resets `easy` and keeps it for the next transfer.
    func give(_ easy: UnsafeMutableRawPointer) {
        curl_easy_reset(easy)
        lock.withLock { idle.append(easy) }
    }

    /// Frees every pooled handle.
    func drain() {
        for easy in lock.withLock({ defer { idle.removeAll() }; return idle }) { curl_easy_cleanup(easy) }
    }
}

/// The state of one POST while libcurl runs it; the callbacks reach it through a pointer.
final class CurlTransfer: CurlJob {
    private let pool: EasyHandlePool
    let request: HTTPPost
    private var continuation: CheckedContinuation<Result<HTTPReply, CurlTransferError>, Never>?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var errorBufferPointer: UnsafeMutablePointer<CChar>
    var responseBody = Data()
    var responseHeaders: [String: String] = [:]

    init(request: HTTPPost, pool: EasyHandlePool,
         continuation: CheckedContinuation<Result<HTTPReply, CurlTransferError>, Never>) {
        self.pool = pool
        self.request = request
        self.continuation = continuation
        errorBufferPointer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBufferPointer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        curl_slist_free_all(headerList)
        errorBufferPointer.deallocate()
    }

    /// A pooled handle with every option set (nil, with the failure reported, when libcurl refuses).
    func makeHandle() -> UnsafeMutableRawPointer? {
        guard let easy = pool.take() else {
            finish(.failure(CurlTransferError(url: request.url, code: -1, message: "curl_easy_init failed")))
            return nil
        }
        if let failure = configure(easy) {
            pool.give(easy)
            finish(.failure(failure))
            return nil
        }
        return easy
    }

    /// The driver is done with the handle: report the reply or error, and pool the handle
    /// (freed instead when the transfer was abandoned mid-way).
    func finish(easy: UnsafeMutableRawPointer, ending: CurlEnding) {
        let outcome: Result<HTTPReply, CurlTransferError>
        switch ending {
        case .completed(let code):
            outcome = result(easy: easy, code: code)
        case .notStarted(let code):
            outcome = .failure(CurlTransferError(url: request.url, code: Int32(code.rawValue), message: String(cString: curl_multi_strerror(code))))
        case .abandoned:
            outcome = .failure(CurlTransferError(url: request.url, code: -1, message: "the HTTP client shut down mid-transfer"))
        }
        if case .abandoned = ending { curl_easy_cleanup(easy) } else { pool.give(easy) }
        finish(outcome)
    }

    func cancel() {
        finish(.failure(CurlTransferError(url: request.url, code: -1, message: "the HTTP client shut down mid-transfer")))
    }

    /// Sets every option on `easy`; returns an error if libcurl refuses one.
    private func configure(_ easy: UnsafeMutableRawPointer) -> CurlTransferError? {
        for line in request.headers + ["Expect:"] {  // no 100-continue round trip
            headerList = curl_slist_append(headerList, line)
        }
        let context = Unmanaged.passUnretained(self).toOpaque()
        let steps: [(String, () -> CURLcode)] = [
            ("URL", { ccurl_easy_setopt_string(easy, CURLOPT_URL, self.request.url) }),
            ("PROTOCOLS_STR", { ccurl_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https") }),
            ("NOSIGNAL", { ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1) }),
            ("POST", { ccurl_easy_setopt_long(easy, CURLOPT_POST, 1) }),
            ("POSTFIELDSIZE_LARGE", { ccurl_easy_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(self.request.body.count)) }),
            ("COPYPOSTFIELDS", {
                self.request.body.withUnsafeBytes { raw in
                    ccurl_easy_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(("" as StaticString).utf8Start)))
                }
            }),
            ("HTTPHEADER", { ccurl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, self.headerList) }),
            ("CONNECTTIMEOUT_MS", { ccurl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(self.request.connectTimeout * 1000)) }),
            ("TIMEOUT_MS", { ccurl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(self.request.timeout * 1000)) }),
            ("USERAGENT", { ccurl_easy_setopt_string(easy, CURLOPT_USERAGENT, "notify-xml/1 libcurl") }),
            ("ERRORBUFFER", { ccurl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, self.errorBufferPointer) }),
            ("WRITEFUNCTION", { ccurl_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION, CurlTransfer.onBody) }),
            ("WRITEDATA", { ccurl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, context) }),
            ("HEADERFUNCTION", { ccurl_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION, CurlTransfer.onHeader) }),
            ("HEADERDATA", { ccurl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, context) }),
        ]
        for (name, step) in steps {
            let code = step()
            if code != CURLE_OK {
                return CurlTransferError(url: request.url, code: Int32(code.rawValue),
                                         message: "setting CURLOPT_\(name): \(String(cString: curl_easy_strerror(code)))")
            }
        }
        return nil
    }

    /// The reply, or the transport error, once libcurl reports the transfer done.
    private func result(easy: UnsafeMutableRawPointer, code: CURLcode) -> Result<HTTPReply, CurlTransferError> {
        guard code == CURLE_OK else {
            let detail = String(cString: errorBufferPointer)
            let summary = String(cString: curl_easy_strerror(code))
            return .failure(CurlTransferError(url: request.url, code: Int32(code.rawValue),
                                              message: detail.isEmpty ? summary : "\(summary): \(detail)"))
        }
        var status = 0
        _ = ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        var connects = 0
        _ = ccurl_easy_getinfo_long(easy, CURLINFO_NUM_CONNECTS, &connects)
        return .success(HTTPReply(status: status, headers: responseHeaders, body: responseBody, newConnections: connects))
    }

    func finish(_ result: Result<HTTPReply, CurlTransferError>) {
        let continuation = self.continuation
        self.continuation = nil
        continuation?.resume(returning: result)
    }

    static let onBody: ccurl_data_callback = { data, size, count, context in
        guard let data, let context else { return 0 }
        let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
        let length = size * count
        let room = max(0, CurlMultiClient.bodyLimit - transfer.responseBody.count)
        if room > 0 {
            data.withMemoryRebound(to: UInt8.self, capacity: length) { transfer.responseBody.append($0, count: min(room, length)) }
        }
        return length  // the rest is read and dropped; only a snippet is ever reported
    }

    static let onHeader: ccurl_data_callback = { data, size, count, context in
        guard let data, let context else { return 0 }
        let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
        let length = size * count
        let line = data.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }.trimmingCharacters(in: .whitespacesAndNewlines)
        if line.hasPrefix("HTTP/") {
            transfer.responseHeaders = [:]  // a new response (after 1xx): forget the earlier one
        } else if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].lowercased()
            transfer.responseHeaders[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return length
    }
}
