import CCurl
import CurlDriver
import Foundation

/// One download's state, owned by the driver thread from `makeHandle` to `finish`.
///
/// libcurl's C callbacks get an unretained pointer to this object; the driver's table of
/// running jobs keeps it alive while its easy handle exists.
final class CurlTransfer: CurlJob, @unchecked Sendable {
    let request: TransferRequest
    private let continuation: CheckedContinuation<TransferOutcome, Never>
    private var body = Data()
    private var reason = ""
    private var exceededLimit = false
    private var blocked: TransferFailure?
    private var easy: UnsafeMutableRawPointer?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    private var completed = false

    init(request: TransferRequest, continuation: CheckedContinuation<TransferOutcome, Never>) {
        self.request = request
        self.continuation = continuation
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        errorBuffer.deallocate()
    }

    /// Creates and configures the easy handle (nil, with the failure reported, when libcurl refuses).
    func makeHandle() -> UnsafeMutableRawPointer? {
        guard let easy = curl_easy_init() else {
            complete(.failure(.curl(code: -1, message: "curl_easy_init failed")))
            return nil
        }
        self.easy = easy
        let limits = request.limits
        let context = Unmanaged.passUnretained(self).toOpaque()
        let protocols = limits.allowFile ? "http,https,file" : "http,https"
        var failed: CURLcode = CURLE_OK
        func check(_ code: CURLcode) { if code != CURLE_OK && failed == CURLE_OK { failed = code } }

        check(ccurl_easy_setopt_string(easy, CURLOPT_URL, request.url))
        check(ccurl_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, protocols))
        // A redirect may never lead to file:// or any other scheme, whatever the first URL was.
        check(ccurl_easy_setopt_string(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"))
        check(ccurl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 1))
        check(ccurl_easy_setopt_long(easy, CURLOPT_MAXREDIRS, limits.maxRedirects))
        check(ccurl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(limits.connectTimeout * 1000)))
        check(ccurl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(limits.totalTimeout * 1000)))
        check(ccurl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, limits.lowSpeedLimit))
        check(ccurl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, limits.lowSpeedTime))
        check(ccurl_easy_setopt_off_t(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(limits.maxBytes)))
        // Empty string: every encoding this libcurl decodes (gzip, deflate, ...); the size
        // limit applies to the decoded bytes, so a compressed bomb is stopped too.
        check(ccurl_easy_setopt_string(easy, CURLOPT_ACCEPT_ENCODING, "gzip, deflate"))
        check(ccurl_easy_setopt_string(easy, CURLOPT_USERAGENT, limits.userAgent))
        // No proxy from the environment: the address policy must see the real destination.
        check(ccurl_easy_setopt_string(easy, CURLOPT_PROXY, ""))
        check(ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1))
        check(ccurl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer))
        check(ccurl_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION, { data, size, count, context in
            guard let context, let data else { return 0 }
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
            return transfer.receive(UnsafeRawBufferPointer(start: data, count: size * count))
        }))
        check(ccurl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, context))
        check(ccurl_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION, { data, size, count, context in
            guard let context, let data else { return 0 }
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
            transfer.header(UnsafeRawBufferPointer(start: data, count: size * count))
            return size * count
        }))
        check(ccurl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, context))
        check(ccurl_easy_setopt_opensocket_callback(easy, { context, purpose, address in
            guard let context, let address else { return CURL_SOCKET_BAD }
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
            return transfer.openSocket(purpose: purpose, address: address)
        }))
        check(ccurl_easy_setopt_pointer(easy, CURLOPT_OPENSOCKETDATA, context))
        if failed != CURLE_OK {
            curl_easy_cleanup(easy)
            self.easy = nil
            complete(.failure(.curl(code: Int(failed.rawValue), message: "cannot configure transfer: \(CurlGlobal.text(of: failed))")))
            return nil
        }
        return easy
    }

    /// The driver is done with the handle: report the outcome and free it.
    func finish(easy: UnsafeMutableRawPointer, ending: CurlEnding) {
        switch ending {
        case .completed(let code):
            report(easy: easy, code: code)
        case .notStarted(let code):
            complete(.failure(.curl(code: -Int(code.rawValue), message: "curl_multi_add_handle failed")))
        case .abandoned:
            complete(.failure(.engineStopped))
        }
        self.easy = nil
        curl_easy_cleanup(easy)
    }

    func cancel() {
        complete(.failure(.engineStopped))
    }

    /// Write callback: appends body bytes, aborting as soon as the limit is passed.
    private func receive(_ bytes: UnsafeRawBufferPointer) -> Int {
        if body.count + bytes.count > request.limits.maxBytes {
            exceededLimit = true
            return 0  // Anything but bytes.count makes libcurl abort with CURLE_WRITE_ERROR.
        }
        body.append(contentsOf: bytes)
        return bytes.count
    }

    /// Header callback: remembers the reason phrase of the latest status line (after redirects).
    private func header(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 5, bytes.starts(with: Array("HTTP/".utf8)) else { return }
        let line = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        // "HTTP/1.1 404 Not Found" -> "Not Found"
        let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        reason = parts.count == 3 ? String(parts[2].prefix(200)) : ""
        body.removeAll(keepingCapacity: true)
    }

    /// Open-socket callback: the one place that sees the resolved address actually connected
    /// to, for the first request and every redirect, so DNS tricks cannot dodge the policy.
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
            blocked = .blockedAddress(address: "address family \(family)", category: .reserved, host: host)
            return CURL_SOCKET_BAD
        }
        if case .refuse(let category) = request.policy.decide(ip, host: host) {
            blocked = .blockedAddress(address: ip.description, category: category, host: host)
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

    /// Turns libcurl's result into the outcome.
    private func report(easy: UnsafeMutableRawPointer, code: CURLcode) {
        if let blocked {
            complete(.failure(blocked))
            return
        }
        if exceededLimit || code == CURLE_FILESIZE_EXCEEDED {
            complete(.failure(.tooLarge(limit: request.limits.maxBytes)))
            return
        }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            complete(.failure(.curl(code: Int(code.rawValue), message: detail.isEmpty ? CurlGlobal.text(of: code) : detail)))
            return
        }
        var status = 0
        _ = ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        var redirects = 0
        _ = ccurl_easy_getinfo_long(easy, CURLINFO_REDIRECT_COUNT, &redirects)
        var typePointer: UnsafeMutablePointer<CChar>?
        _ = ccurl_easy_getinfo_string(easy, CURLINFO_CONTENT_TYPE, &typePointer)
        var urlPointer: UnsafeMutablePointer<CChar>?
        _ = ccurl_easy_getinfo_string(easy, CURLINFO_EFFECTIVE_URL, &urlPointer)
        complete(.success(HTTPReply(
            status: status, reason: reason, contentType: typePointer.map { String(cString: $0) },
            effectiveURL: urlPointer.map { String(cString: $0) } ?? request.url,
            redirects: redirects, body: body)))
    }

    /// Resumes the waiting task exactly once.
    private func complete(_ outcome: TransferOutcome) {
        guard !completed else { return }
        completed = true
        body = Data()
        continuation.resume(returning: outcome)
    }

    /// Offset of `addr` inside `struct curl_sockaddr` (four 32-bit fields precede it).
    private static let addressOffset = MemoryLayout<curl_sockaddr>.offset(of: \curl_sockaddr.addr) ?? 16
}
