import CCurl
import CurlDriver
import Foundation
import TestSupport
import Testing

/// The driver's contract on a real loopback server: transfers complete, a graceful shutdown waits
/// for running ones, an abrupt one abandons them, and nothing is accepted afterwards.
@Suite("curl multi driver")
struct CurlMultiDriverTests {
    /// A GET whose body is discarded; records how it ended.
    final class GetJob: CurlJob, @unchecked Sendable {
        let url: String
        private let lock = NSLock()
        private var _ending: String?
        private let done = DispatchSemaphore(value: 0)
        init(url: String) { self.url = url }

        var ending: String? { lock.withLock { _ending } }

        func makeHandle() -> UnsafeMutableRawPointer? {
            guard let easy = curl_easy_init() else { return nil }
            _ = ccurl_easy_setopt_string(easy, CURLOPT_URL, url)
            _ = ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
            _ = ccurl_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION) { _, size, count, _ in size * count }
            return easy
        }

        func finish(easy: UnsafeMutableRawPointer, ending: CurlEnding) {
            let text: String
            switch ending {
            case .completed(let code):
                var status = 0
                _ = ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
                text = code == CURLE_OK ? "completed \(status)" : "failed \(code.rawValue)"
            case .notStarted: text = "not started"
            case .abandoned: text = "abandoned"
            }
            curl_easy_cleanup(easy)
            record(text)
        }

        func cancel() { record("cancelled") }

        private func record(_ text: String) {
            lock.withLock { _ending = text }
            done.signal()
        }

        /// Waits up to `seconds` for the ending (a short block of a test thread).
        func wait(seconds: Double) -> Bool { done.wait(timeout: .now() + seconds) == .success }
    }

    static func server() async throws -> TestHTTPServer {
        try await TestHTTPServer.started { server in
            await server.route("GET /fast") { _ in TestResponses.ok(Data("hello".utf8), contentType: "text/plain") }
            // 20 bytes, one every 100 ms: about 2 s in all.
            await server.route("GET /slow") { _ in
                TestResponses.trickle(Data(repeating: 65, count: 20), chunkSize: 1, interval: .milliseconds(100), contentType: "text/plain")
            }
        }
    }

    @Test func gracefulShutdownLetsRunningTransfersFinish() async throws {
        let server = try await Self.server()
        let driver = try CurlMultiDriver(threadName: "test-curl") { _ in }
        let fast = GetJob(url: server.url("/fast")), slow = GetJob(url: server.url("/slow"))
        #expect(driver.submit(fast))
        #expect(driver.submit(slow))
        #expect(fast.wait(seconds: 10))
        #expect(fast.ending == "completed 200")
        driver.shutdown(finishRunning: true)
        #expect(slow.ending == "completed 200", "shutdown returned before the running transfer ended")
        #expect(!driver.submit(GetJob(url: server.url("/fast"))), "a stopped driver must refuse new jobs")
        await server.stop()
    }

    @Test func abruptShutdownAbandonsRunningTransfers() async throws {
        let server = try await Self.server()
        let driver = try CurlMultiDriver(threadName: "test-curl") { _ in }
        let slow = GetJob(url: server.url("/slow"))
        #expect(driver.submit(slow))
        try await Task.sleep(for: .milliseconds(300))  // running, far from done
        let started = Date()
        driver.shutdown(finishRunning: false)
        #expect(slow.ending == "abandoned")
        #expect(Date().timeIntervalSince(started) < 1.5, "abandoning should not wait for the slow body")
        await server.stop()
    }
}
