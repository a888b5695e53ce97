import CCurl
import Foundation

/// One exchange's state, owned by the driver thread from `makeHandle` to `finish`.
///
/// libcurl's C callbacks get an unretained pointer to this object; the driver's table of
/// running jobs keeps it alive while its easy handle exists.
final class CurlTransfer: CurlJob, @unchecked Sendable {
    private let request: HTTPRequest
    private let pool: EasyHandlePool
    private var continuation: CheckedContinuation<Result<HTTPReply, HTTPClientError>, Never>?
    private var body = Data()
    private var reason = ""
    private var headers: [String: String] = [:]
    private var exceededLimit = false
    private var refused: HTTPClientError?
    private var easy: UnsafeMutableRawPointer?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)

    init(
        request: HTTPRequest, pool: EasyHandlePool,
        continuation: CheckedContinuation<Result<HTTPReply, HTTPClientError>, Never>
    ) {
        self.request = request
        self.pool = pool
        self.continuation = continuation
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    /// A pooled handle with every option set (nil, with the failure reported, when libcurl refuses).
    func makeHandle() -> UnsafeMutableRawPointer? {
        guard let easy = pool.take() else {
            complete(.failure(.setup("curl_easy_init failed")))
            return nil
        }
        self.easy = easy
        if let failure = configure(easy) {
            self.easy = nil
            pool.give(easy)
            complete(.failure(.setup(failure)))
            return nil
        }
        return easy
    }

    /// The driver is done with the handle: report the outcome, pool the handle (freed instead
    /// when the transfer was abandoned mid-way).
    func finish(easy: UnsafeMutableRawPointer, ending: CurlEnding) {
        switch ending {
        case .completed(let code):
            complete(outcome(easy: easy, code: code))
            pool.give(easy)
        case .notStarted(let code):
            complete(.failure(.setup("curl_multi_add_handle: \(String(cString: curl_multi_strerror(code)))")))
            pool.give(easy)
        case .abandoned:
            complete(.failure(.stopped))
            curl_easy_cleanup(easy)
        }
        self.easy = nil
    }

    func cancel() { complete(.failure(.stopped)) }

    /// Sets every option on `easy`; returns what libcurl refused, if anything.
    private func configure(_ easy: UnsafeMutableRawPointer) -> String? {
        let limits = request.limits
        let context = Unmanaged.passUnretained(self).toOpaque()
        var failure: String?
        func set(_ name: String, _ code: CURLcode) {
            if code != CURLE_OK && failure == nil { failure = "setting CURLOPT_\(name): \(CurlCode(code))" }
        }
        set("URL", ccurl_easy_setopt_string(easy, CURLOPT_URL, request.url))
        set("PROTOCOLS_STR", ccurl_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, limits.protocols.joined(separator: ",")))
        // A redirect may never lead to file:// or any other scheme, whatever the first URL was.
        set("REDIR_PROTOCOLS_STR", ccurl_easy_setopt_string(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"))
        if limits.followRedirects {
            set("FOLLOWLOCATION", ccurl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 1))
            set("MAXREDIRS", ccurl_easy_setopt_long(easy, CURLOPT_MAXREDIRS, limits.maxRedirects))
        }
        set("CONNECTTIMEOUT_MS", ccurl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(limits.connectTimeout * 1000)))
        set("TIMEOUT_MS", ccurl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(limits.totalTimeout * 1000)))
        if limits.lowSpeedLimit > 0 && limits.lowSpeedTime > 0 {
            set("LOW_SPEED_LIMIT", ccurl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, limits.lowSpeedLimit))
            set("LOW_SPEED_TIME", ccurl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, limits.lowSpeedTime))
        }
        if request.overflow == .fail {
            // Refused up front when the server announces a larger Content-Length.
            set("MAXFILESIZE_LARGE", ccurl_easy_setopt_off_t(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(limits.maxBodyBytes)))
            // Encodings this libcurl decodes; the size limit applies to the decoded bytes, so a
            // compressed bomb is stopped too.
            set("ACCEPT_ENCODING", ccurl_easy_setopt_string(easy, CURLOPT_ACCEPT_ENCODING, "gzip, deflate"))
        }
        set("USERAGENT", ccurl_easy_setopt_string(easy, CURLOPT_USERAGENT, limits.userAgent))
        // No proxy from the environment: the address guard must see the real destination.
        set("PROXY", ccurl_easy_setopt_string(easy, CURLOPT_PROXY, ""))
        set("NOSIGNAL", ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1))
        set("ERRORBUFFER", ccurl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer))
        if request.method == .post {
            set("POST", ccurl_easy_setopt_long(easy, CURLOPT_POST, 1))
            set("POSTFIELDSIZE_LARGE", ccurl_easy_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)))
            set(
                "COPYPOSTFIELDS",
                request.body.withUnsafeBytes { raw in
                    ccurl_easy_setopt_pointer(
                        easy, CURLOPT_COPYPOSTFIELDS,
                        UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(("" as StaticString).utf8Start)))
                })
        }
        for line in request.headers + (request.method == .post ? ["Expect:"] : []) {  // no 100-continue round trip
            headerList = curl_slist_append(headerList, line)
        }
        if headerList != nil { set("HTTPHEADER", ccurl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, headerList)) }
        set(
            "WRITEFUNCTION",
            ccurl_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION) { data, size, count, context in
                guard let context, let data else { return 0 }
                let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
                return transfer.receive(UnsafeRawBufferPointer(start: data, count: size * count))
            })
        set("WRITEDATA", ccurl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, context))
        set(
            "HEADERFUNCTION",
            ccurl_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION) { data, size, count, context in
                guard let context, let data else { return 0 }
                let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
                transfer.header(UnsafeRawBufferPointer(start: data, count: size * count))
                return size * count
            })
        set("HEADERDATA", ccurl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, context))
        if request.addressGuard != nil {
            set(
                "OPENSOCKETFUNCTION",
                ccurl_easy_setopt_opensocket_callback(easy) { context, purpose, address in
                    guard let context, let address else { return CURL_SOCKET_BAD }
                    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
                    return transfer.openSocket(purpose: purpose, address: address)
                })
            set("OPENSOCKETDATA", ccurl_easy_setopt_pointer(easy, CURLOPT_OPENSOCKETDATA, context))
        }
        return failure
    }

    /// Write callback: appends body bytes; past the limit it aborts (`.fail`) or drops them (`.truncate`).
    private func receive(_ bytes: UnsafeRawBufferPointer) -> Int {
        let limit = request.limits.maxBodyBytes
        if body.count + bytes.count > limit {
            guard request.overflow == .truncate else {
                exceededLimit = true
                return 0  // Anything but bytes.count makes libcurl abort with CURLE_WRITE_ERROR.
            }
            body.append(contentsOf: bytes.prefix(max(0, limit - body.count)))
            return bytes.count
        }
        body.append(contentsOf: bytes)
        return bytes.count
    }

    /// Header callback: a status line starts a new response (after a redirect or a 1xx), so the
    /// earlier one's headers and body are forgotten; other lines are `name: value` headers.
    private func header(_ bytes: UnsafeRawBufferPointer) {
        let line = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if line.hasPrefix("HTTP/") {
            // "HTTP/1.1 404 Not Found" -> "Not Found"
            let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
            reason = parts.count == 3 ? String(parts[2].prefix(200)) : ""
            headers = [:]
            body.removeAll(keepingCapacity: true)
        } else if let colon = line.firstIndex(of: ":") {
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
    }

    /// Open-socket callback: the one place that sees the resolved address actually connected
    /// to, for the first request and every redirect, so DNS tricks cannot dodge the guard.
    private func openSocket(purpose: curlsocktype, address: UnsafeMutablePointer<curl_sockaddr>) -> curl_socket_t {
        let family = address.pointee.family
        // `addr` is declared as a plain sockaddr but holds a sockaddr_in6 for IPv6: read it
        // through a raw pointer into the struct, never through the (too small) Swift copy.
        let raw = UnsafeMutableRawPointer(address) + Self.addressOffset
        let ip: IPAddress?
        switch family {
        case AF_INET:
            var sin = sockaddr_in()
            memcpy(&sin, raw, min(MemoryLayout<sockaddr_in>.size, Int(address.pointee.addrlen)))
            ip = IPAddress(v4: withUnsafeBytes(of: sin.sin_addr) { Array($0) })
        case AF_INET6:
            var sin6 = sockaddr_in6()
            memcpy(&sin6, raw, min(MemoryLayout<sockaddr_in6>.size, Int(address.pointee.addrlen)))
            ip = IPAddress(v6: withUnsafeBytes(of: sin6.sin6_addr) { Array($0) })
        default:
            ip = nil
        }
        let host = currentHost()
        guard let ip else {
            refused = .refusedAddress(address: "address family \(family)", category: .reserved, host: host)
            return CURL_SOCKET_BAD
        }
        if let category = request.addressGuard?.refusal(of: ip, host: host) {
            refused = .refusedAddress(address: ip.description, category: category, host: host)
            return CURL_SOCKET_BAD
        }
        return socket(family, address.pointee.socktype, address.pointee.protocol)
    }

    /// The host of the URL being connected to right now (it changes with each redirect).
    private func currentHost() -> String {
        guard let easy else { return "" }
        var pointer: UnsafeMutablePointer<CChar>?
        guard ccurl_easy_getinfo_string(easy, CURLINFO_EFFECTIVE_URL, &pointer) == CURLE_OK, let pointer else { return "" }
        return URLComponents(string: String(cString: pointer))?.host?.lowercased() ?? ""
    }

    /// Turns libcurl's result into the reply or the reason there is none.
    private func outcome(easy: UnsafeMutableRawPointer, code: CURLcode) -> Result<HTTPReply, HTTPClientError> {
        if let refused { return .failure(refused) }
        let curlCode = CurlCode(code)
        if exceededLimit || curlCode == .fileSizeExceeded { return .failure(.tooLarge(limit: request.limits.maxBodyBytes)) }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            return .failure(.transport(code: curlCode, message: detail.isEmpty ? curlCode.description : detail))
        }
        var status = 0
        _ = ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        var redirects = 0
        _ = ccurl_easy_getinfo_long(easy, CURLINFO_REDIRECT_COUNT, &redirects)
        var connects = 0
        _ = ccurl_easy_getinfo_long(easy, CURLINFO_NUM_CONNECTS, &connects)
        var urlPointer: UnsafeMutablePointer<CChar>?
        _ = ccurl_easy_getinfo_string(easy, CURLINFO_EFFECTIVE_URL, &urlPointer)
        var typePointer: UnsafeMutablePointer<CChar>?
        _ = ccurl_easy_getinfo_string(easy, CURLINFO_CONTENT_TYPE, &typePointer)
        var headers = self.headers
        if let typePointer { headers["content-type"] = String(cString: typePointer) }
        return .success(
            HTTPReply(
                status: status, reason: reason, headers: headers,
                effectiveURL: urlPointer.map { String(cString: $0) } ?? request.url,
                redirects: redirects, body: body, newConnections: connects))
    }

    /// Resumes the waiting task exactly once.
    private func complete(_ outcome: Result<HTTPReply, HTTPClientError>) {
        guard let continuation else { return }
        self.continuation = nil
        body = Data()
        continuation.resume(returning: outcome)
    }

    /// Offset of `addr` inside `struct curl_sockaddr` (four 32-bit fields precede it).
    private static let addressOffset = MemoryLayout<curl_sockaddr>.offset(of: \curl_sockaddr.addr) ?? 16
}
