import CCurl
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

/// HTTP POSTs through one libcurl multi handle driven by one thread.
///
/// Every transfer of the process shares the multi handle's connection cache, so connections
/// to the gateway are reused across messages and worker lanes, and blocking network I/O never
/// occupies Swift's cooperative threads. Easy handles are pooled and reused.
public final class CurlMultiClient: @unchecked Sendable {
    /// How much of a response body is kept (enough for an error snippet).
    public static let bodyLimit = 64 * 1024

    private static let globalInit: Int32 = Int32(curl_global_init(3 /* CURL_GLOBAL_ALL */).rawValue)

    private let multi: UnsafeMutableRawPointer
    private let lock = NSLock()
    private var pending: [CurlTransfer] = []
    private var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
    private var idleHandles: [UnsafeMutableRawPointer] = []
    private var stopping = false
    private let stopped = DispatchSemaphore(value: 0)

    /// Creates the multi handle and starts its thread; `maxConnections` caps connections per host.
    public init(maxConnections: Int) throws {
        guard Self.globalInit == 0 else { throw NotificationError.curlSetupFailed(operation: "curl_global_init", code: Self.globalInit) }
        guard let multi = curl_multi_init() else { throw NotificationError.curlSetupFailed(operation: "curl_multi_init", code: -1) }
        self.multi = multi
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, max(1, maxConnections))
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, max(4, maxConnections))
        let thread = Thread { [self] in self.run() }
        thread.name = "curl-multi"
        thread.start()
    }

    /// Stops the thread, failing transfers still running, and frees libcurl's handles.
    public func shutdown() {
        let alreadyStopping: Bool = lock.withLock {
            defer { stopping = true }
            return stopping
        }
        guard !alreadyStopping else { return }
        curl_multi_wakeup(multi)
        stopped.wait()
        for easy in idleHandles { curl_easy_cleanup(easy) }
        idleHandles.removeAll()
        curl_multi_cleanup(multi)
    }

    /// Sends one POST and waits for the reply (any status) or a transport error.
    public func post(_ request: HTTPPost) async -> Result<HTTPReply, CurlTransferError> {
        await withCheckedContinuation { (continuation: CheckedContinuation<Result<HTTPReply, CurlTransferError>, Never>) in
            let easy: UnsafeMutableRawPointer? = lock.withLock {
                if stopping { return nil }
                return idleHandles.popLast() ?? curl_easy_init()
            }
            guard let easy else {
                continuation.resume(returning: .failure(CurlTransferError(url: request.url, code: -1, message: "the HTTP client is shut down")))
                return
            }
            let transfer = CurlTransfer(easy: easy, request: request, continuation: continuation)
            if let failure = transfer.configure() {
                recycle(easy)
                transfer.finish(.failure(failure))
                return
            }
            lock.withLock { pending.append(transfer) }
            curl_multi_wakeup(multi)
        }
    }

    private func recycle(_ easy: UnsafeMutableRawPointer) {
        curl_easy_reset(easy)
        lock.withLock { idleHandles.append(easy) }
    }

    /// The driver loop: add new transfers, let libcurl work, hand back finished ones, sleep in
    /// curl_multi_poll until a socket is ready, a second passes, or `post` wakes it.
    private func run() {
        while true {
            let (incoming, stop) = lock.withLock {
                defer { pending.removeAll() }
                return (pending, stopping)
            }
            if stop {
                let abandoned = incoming + Array(active.values)
                for transfer in active.values { curl_multi_remove_handle(multi, transfer.easy) }
                active.removeAll()
                for transfer in abandoned {
                    curl_easy_cleanup(transfer.easy)
                    transfer.finish(.failure(CurlTransferError(url: transfer.request.url, code: -1, message: "the HTTP client shut down mid-transfer")))
                }
                stopped.signal()
                return
            }
            for transfer in incoming {
                let code = curl_multi_add_handle(multi, transfer.easy)
                if code == CURLM_OK {
                    active[transfer.easy] = transfer
                } else {
                    recycle(transfer.easy)
                    transfer.finish(.failure(CurlTransferError(url: transfer.request.url, code: Int32(code.rawValue),
                                                               message: String(cString: curl_multi_strerror(code)))))
                }
            }
            var running: Int32 = 0
            _ = curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let message = curl_multi_info_read(multi, &left) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                let code = message.pointee.data.result
                curl_multi_remove_handle(multi, easy)
                guard let transfer = active.removeValue(forKey: easy) else { continue }
                let result = transfer.result(code: code)
                recycle(easy)
                transfer.finish(result)
            }
            _ = curl_multi_poll(multi, nil, 0, 1000, nil)
        }
    }
}

/// The state of one POST while libcurl runs it; the callbacks reach it through a pointer.
final class CurlTransfer {
    let easy: UnsafeMutableRawPointer
    let request: HTTPPost
    private var continuation: CheckedContinuation<Result<HTTPReply, CurlTransferError>, Never>?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var errorBufferPointer: UnsafeMutablePointer<CChar>
    var responseBody = Data()
    var responseHeaders: [String: String] = [:]

    init(easy: UnsafeMutableRawPointer, request: HTTPPost,
         continuation: CheckedContinuation<Result<HTTPReply, CurlTransferError>, Never>) {
        self.easy = easy
        self.request = request
        self.continuation = continuation
        errorBufferPointer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBufferPointer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        curl_slist_free_all(headerList)
        errorBufferPointer.deallocate()
    }

    /// Sets every option; returns an error if libcurl refuses one.
    func configure() -> CurlTransferError? {
        for line in request.headers + ["Expect:"] {  // no 100-continue round trip
            headerList = curl_slist_append(headerList, line)
        }
        let context = Unmanaged.passUnretained(self).toOpaque()
        let steps: [(String, () -> CURLcode)] = [
            ("URL", { ccurl_easy_setopt_string(self.easy, CURLOPT_URL, self.request.url) }),
            ("PROTOCOLS_STR", { ccurl_easy_setopt_string(self.easy, CURLOPT_PROTOCOLS_STR, "http,https") }),
            ("NOSIGNAL", { ccurl_easy_setopt_long(self.easy, CURLOPT_NOSIGNAL, 1) }),
            ("POST", { ccurl_easy_setopt_long(self.easy, CURLOPT_POST, 1) }),
            ("POSTFIELDSIZE_LARGE", { ccurl_easy_setopt_off_t(self.easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(self.request.body.count)) }),
            ("COPYPOSTFIELDS", {
                self.request.body.withUnsafeBytes { raw in
                    ccurl_easy_setopt_pointer(self.easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(("" as StaticString).utf8Start)))
                }
            }),
            ("HTTPHEADER", { ccurl_easy_setopt_slist(self.easy, CURLOPT_HTTPHEADER, self.headerList) }),
            ("CONNECTTIMEOUT_MS", { ccurl_easy_setopt_long(self.easy, CURLOPT_CONNECTTIMEOUT_MS, Int(self.request.connectTimeout * 1000)) }),
            ("TIMEOUT_MS", { ccurl_easy_setopt_long(self.easy, CURLOPT_TIMEOUT_MS, Int(self.request.timeout * 1000)) }),
            ("USERAGENT", { ccurl_easy_setopt_string(self.easy, CURLOPT_USERAGENT, "notify-xml/1 libcurl") }),
            ("ERRORBUFFER", { ccurl_easy_setopt_pointer(self.easy, CURLOPT_ERRORBUFFER, self.errorBufferPointer) }),
            ("WRITEFUNCTION", { ccurl_easy_setopt_data_callback(self.easy, CURLOPT_WRITEFUNCTION, CurlTransfer.onBody) }),
            ("WRITEDATA", { ccurl_easy_setopt_pointer(self.easy, CURLOPT_WRITEDATA, context) }),
            ("HEADERFUNCTION", { ccurl_easy_setopt_data_callback(self.easy, CURLOPT_HEADERFUNCTION, CurlTransfer.onHeader) }),
            ("HEADERDATA", { ccurl_easy_setopt_pointer(self.easy, CURLOPT_HEADERDATA, context) }),
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
    func result(code: CURLcode) -> Result<HTTPReply, CurlTransferError> {
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
