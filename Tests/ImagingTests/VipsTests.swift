import Foundation
import Imaging
import Synchronization
import Testing

@Suite("Vips")
struct VipsTests {
    @Test("initialize is idempotent and reports the library")
    func startup() {
        Vips.initialize()
        Vips.initialize()
        #expect(Vips.version.hasPrefix("8."))
        #expect(Vips.concurrency >= 1)
    }

    @Test("libvips warnings can be routed away from stderr")
    func warnings() throws {
        let collected = Mutex<[String]>([])
        Vips.routeWarnings { message in collected.withLock { $0.append(message) } }
        // Tests run in parallel and the route is process-wide: afterwards drop warnings, which
        // also keeps the remaining test output readable.
        defer { Vips.routeWarnings(to: nil) }
        #expect(throws: ImagingError.self) { try Preprocessor().pixels(from: TestImages.badFixture("truncated.jpg")) }
        #expect(collected.withLock { !$0.isEmpty })
    }
}
