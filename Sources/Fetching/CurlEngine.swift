import CCurl
import Foundation

/// Runs many libcurl transfers at once on one multi handle, driven by one dedicated thread.
///
/// libcurl handles are not thread-safe, so every curl call on the multi handle and its easy
/// handles happens on the engine thread; other threads only append to the lock-protected
/// `submitted` list and wake the thread with `curl_multi_wakeup` (the one call documented as
/// safe from any thread).
final class CurlEngine: @unchecked Sendable {
    private let multi: UnsafeMutableRawPointer
    private let lock = NSLock()
    private var submitted: [CurlTransfer] = []
    private var stopping = false
    private let stopped = DispatchSemaphore(value: 0)

    /// Starts the engine thread; at most `maxHostConnections` connections go to one host.
    init(maxHostConnections: Int, maxTotalConnections: Int) throws(FetchError) {
        CurlGlobal.ensureInitialized()
        guard let multi = curl_multi_init() else { throw .engine(detail: "curl_multi_init failed") }
        self.multi = multi
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, max(1, maxHostConnections))
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max(1, maxTotalConnections))
        let thread = Thread { [self] in loop() }
        thread.name = "curl-engine"
        thread.start()
    }

    deinit {
        curl_multi_cleanup(multi)
    }

    /// Runs one transfer to completion (success, failure or timeout) and returns its outcome.
    func perform(_ request: TransferRequest) async -> TransferOutcome {
        await withCheckedContinuation { (continuation: CheckedContinuation<TransferOutcome, Never>) in
            let transfer = CurlTransfer(request: request, continuation: continuation)
            let accepted: Bool = lock.withLock {
                guard !stopping else { return false }
                submitted.append(transfer)
                return true
            }
            if accepted {
                curl_multi_wakeup(multi)
            } else {
                continuation.resume(returning: .failure(.engineStopped))
            }
        }
    }

    /// Lets running transfers finish, then stops the thread. Call once, before releasing.
    func shutdown() {
        let first: Bool = lock.withLock {
            defer { stopping = true }
            return !stopping
        }
        guard first else { return }
        curl_multi_wakeup(multi)
        stopped.wait()
    }

    private func loop() {
        var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
        while true {
            let (incoming, stop) = lock.withLock {
                defer { submitted.removeAll() }
                return (submitted, stopping)
            }
            for transfer in incoming {
                switch transfer.makeHandle() {
                case .success(let easy):
                    let code = curl_multi_add_handle(multi, easy)
                    if code == CURLM_OK {
                        active[easy] = transfer
                    } else {
                        curl_easy_cleanup(easy)
                        transfer.complete(.failure(.curl(code: -Int(code.rawValue), message: "curl_multi_add_handle failed")))
                    }
                case .failure(let failure):
                    transfer.complete(.failure(failure))
                }
            }
            if stop && active.isEmpty { break }

            var running: Int32 = 0
            _ = curl_multi_perform(multi, &running)
            var queued: Int32 = 0
            while let message = curl_multi_info_read(multi, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                let code = message.pointee.data.result
                curl_multi_remove_handle(multi, easy)
                if let transfer = active.removeValue(forKey: easy) {
                    transfer.finish(easy: easy, code: code)
                }
                curl_easy_cleanup(easy)
            }
            // Sleeps until a socket is ready, a timer is due, or `perform`/`shutdown` wakes it.
            _ = curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        stopped.signal()
    }
}

/// `curl_global_init` must run once per process before any other curl call.
enum CurlGlobal {
    private static let initialized: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
    }()

    static func ensureInitialized() {
        _ = initialized
    }

    /// The libcurl version string, for the logs.
    static var version: String {
        ensureInitialized()
        return curl_version().map { String(cString: $0) } ?? "unknown"
    }
}
