import CCurl
import Foundation

/// One transfer run by a `CurlMultiDriver`. Both calls come on the driver's thread, the only
/// thread that touches the job's easy handle while the driver has it.
protocol CurlJob: AnyObject {
    /// Returns the configured easy handle to run, or nil when it could not be made (the job has
    /// then reported its own failure).
    func makeHandle() -> UnsafeMutableRawPointer?

    /// The transfer ended; `easy` is off the multi handle and belongs to the job again (to clean
    /// up or reuse).
    func finish(easy: UnsafeMutableRawPointer, ending: CurlEnding)

    /// The driver stopped before the job started (`makeHandle` was never called).
    func cancel()
}

/// How a transfer ended.
enum CurlEnding {
    /// libcurl completed it with this code (`CURLE_OK` or the error).
    case completed(CURLcode)
    /// `curl_multi_add_handle` refused it.
    case notStarted(CURLMcode)
    /// The driver shut down while it was running.
    case abandoned
}

/// Runs many libcurl transfers at once on one multi handle, driven by one dedicated thread.
///
/// libcurl handles are not thread-safe, so every curl call on the multi handle and on running
/// easy handles happens on the driver thread; other threads only append to the lock-protected
/// `submitted` list and wake the thread with `curl_multi_wakeup` (documented as safe from any
/// thread). Every transfer of the process shares the multi handle's connection cache.
final class CurlMultiDriver: @unchecked Sendable {
    private let multi: UnsafeMutableRawPointer
    private let lock = NSLock()
    private var submitted: [any CurlJob] = []
    private var stopping = false
    private var finishRunning = true
    private let stopped = DispatchSemaphore(value: 0)

    /// Creates the multi handle, lets `configure` set its options (`CURLMOPT_*`), and starts the
    /// thread named `threadName`.
    init(threadName: String, configure: (UnsafeMutableRawPointer) -> Void) throws(CurlSetupError) {
        guard CurlGlobal.initialized else { throw CurlSetupError(call: "curl_global_init") }
        guard let multi = curl_multi_init() else { throw CurlSetupError(call: "curl_multi_init") }
        self.multi = multi
        configure(multi)
        let thread = Thread { [self] in loop() }
        thread.name = threadName
        thread.start()
    }

    deinit {
        curl_multi_cleanup(multi)
    }

    /// Hands `job` to the driver thread; false (and nothing called on the job) once shutting down.
    func submit(_ job: any CurlJob) -> Bool {
        let accepted: Bool = lock.withLock {
            guard !stopping else { return false }
            submitted.append(job)
            return true
        }
        if accepted { curl_multi_wakeup(multi) }
        return accepted
    }

    /// Stops the thread and waits for it. `finishRunning` lets submitted and running transfers
    /// complete first; otherwise running ones are abandoned and submitted ones cancelled.
    /// Later calls do nothing.
    func shutdown(finishRunning: Bool) {
        let first: Bool = lock.withLock {
            defer { stopping = true }
            if !stopping { self.finishRunning = finishRunning }
            return !stopping
        }
        guard first else { return }
        curl_multi_wakeup(multi)
        stopped.wait()
    }

    private func loop() {
        var active: [UnsafeMutableRawPointer: any CurlJob] = [:]
        while true {
            let (incoming, stop, graceful) = lock.withLock {
                defer { submitted.removeAll() }
                return (submitted, stopping, finishRunning)
            }
            if stop && !graceful {
                for job in incoming { job.cancel() }
                for (easy, job) in active {
                    curl_multi_remove_handle(multi, easy)
                    job.finish(easy: easy, ending: .abandoned)
                }
                break
            }
            for job in incoming {
                guard let easy = job.makeHandle() else { continue }
                let code = curl_multi_add_handle(multi, easy)
                if code == CURLM_OK {
                    active[easy] = job
                } else {
                    job.finish(easy: easy, ending: .notStarted(code))
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
                active.removeValue(forKey: easy)?.finish(easy: easy, ending: .completed(code))
            }
            // Sleeps until a socket is ready, a timer is due, or `submit`/`shutdown` wakes it.
            _ = curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        stopped.signal()
    }
}

/// A libcurl call that failed while setting up a driver.
struct CurlSetupError: Error, CustomStringConvertible, Sendable {
    var call: String
    var description: String { "\(call) failed" }
}

/// `curl_global_init` must run once per process before any other curl call.
enum CurlGlobal {
    /// Whether the one `curl_global_init` succeeded.
    static let initialized: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
}
