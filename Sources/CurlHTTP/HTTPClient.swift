import CCurl
import Foundation

/// HTTP over libcurl for the whole process: GETs with limits and an address guard (downloads)
/// and POSTs with headers (notifications), all through one multi handle on one thread.
///
/// Every transfer shares the multi handle's connection cache, so connections are reused across
/// requests and worker lanes, and blocking network I/O never occupies Swift's cooperative
/// threads. Easy handles are pooled and reused (a reset handle keeps its caches warm).
public final class HTTPClient: @unchecked Sendable {
    private let driver: CurlMultiDriver
    private let pool = EasyHandlePool()

    /// Starts the client's thread (named `name`). At most `maxHostConnections` connections go to
    /// one host and `maxTotalConnections` in all (nil: no limit); `maxCachedConnections` idle
    /// ones are kept open for reuse (nil: libcurl's default).
    public init(
        name: String, maxHostConnections: Int, maxTotalConnections: Int? = nil,
        maxCachedConnections: Int? = nil
    ) throws(HTTPClientError) {
        do {
            driver = try CurlMultiDriver(threadName: name) { multi in
                _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, max(1, maxHostConnections))
                if let maxTotalConnections {
                    _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max(1, maxTotalConnections))
                }
                if let maxCachedConnections {
                    _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, max(1, maxCachedConnections))
                }
            }
        } catch {
            throw .setup(error.description)
        }
    }

    /// The libcurl version string, for the logs.
    public static var libcurlVersion: String {
        _ = CurlGlobal.initialized
        return curl_version().map { String(cString: $0) } ?? "unknown"
    }

    /// Runs one exchange and waits for its reply (any status) or the reason there is none.
    public func perform(_ request: HTTPRequest) async -> Result<HTTPReply, HTTPClientError> {
        await withCheckedContinuation { (continuation: CheckedContinuation<Result<HTTPReply, HTTPClientError>, Never>) in
            let transfer = CurlTransfer(request: request, pool: pool, continuation: continuation)
            if !driver.submit(transfer) { transfer.cancel() }
        }
    }

    /// Stops the client. `finishRunning` lets submitted and running transfers complete first;
    /// otherwise they end with `.stopped`. Later calls do nothing.
    public func shutdown(finishRunning: Bool) {
        driver.shutdown(finishRunning: finishRunning)
        pool.drain()
    }
}

/// Easy handles kept for reuse.
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
        for easy in lock.withLock({
            defer { idle.removeAll() }
            return idle
        }) { curl_easy_cleanup(easy) }
    }
}
