import CCurl
import CurlDriver
import Foundation

/// Runs downloads on one `CurlMultiDriver` (one thread, one multi handle, shared connections).
final class CurlEngine: Sendable {
    private let driver: CurlMultiDriver

    /// Starts the driver; at most `maxHostConnections` connections go to one host.
    init(maxHostConnections: Int, maxTotalConnections: Int) throws(FetchError) {
        do {
            driver = try CurlMultiDriver(threadName: "curl-engine") { multi in
                _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, max(1, maxHostConnections))
                _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max(1, maxTotalConnections))
            }
        } catch {
            throw .engine(detail: error.description)
        }
    }

    /// Runs one transfer to completion (success, failure or timeout) and returns its outcome.
    func perform(_ request: TransferRequest) async -> TransferOutcome {
        await withCheckedContinuation { (continuation: CheckedContinuation<TransferOutcome, Never>) in
            if !driver.submit(CurlTransfer(request: request, continuation: continuation)) {
                continuation.resume(returning: .failure(.engineStopped))
            }
        }
    }

    /// Lets running transfers finish, then stops the driver. Call once, before releasing.
    func shutdown() {
        driver.shutdown(finishRunning: true)
    }
}
