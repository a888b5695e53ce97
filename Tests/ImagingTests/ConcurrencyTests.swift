import Dispatch
import Foundation
import Imaging
import ImagingTestSupport
import Testing

/// The recognizer preprocesses a batch on several threads at once.
@Suite("Preprocessor under concurrency")
struct ConcurrencyTests {
    @Test("parallel calls give the same bytes and the same error kinds as serial ones")
    func parallelMatchesSerial() throws {
        let preprocessor = Preprocessor()
        let good = try ImageFormat.allCases.map { try ImageEncoder.encode(TestImages.landmarks(), as: $0) }
        let bad = [
            try TestImages.badFixture("truncated.jpg"),
            try TestImages.badFixture("corrupt.png"),
            try TestImages.badFixture("bomb-50000x50000.png"),
            try TestImages.badFixture("page.html"),
        ]
        let inputs = Array(repeating: good + bad, count: 4).flatMap { $0 }
        let serial = inputs.map { data in Result { () throws(ImagingError) in try preprocessor.pixels(from: data) } }

        let results = Results(count: inputs.count)
        DispatchQueue.concurrentPerform(iterations: inputs.count) { index in
            results.set(index, Result { () throws(ImagingError) in try preprocessor.pixels(from: inputs[index]) })
        }
        for (index, (expected, actual)) in zip(serial, results.values).enumerated() {
            switch (expected, actual) {
            case (.success(let a), .success(let b)):
                #expect(a == b, "input \(index)")
            case (.failure(let a), .failure(let b)):
                #expect(kind(a) == kind(b), "input \(index): \(a) vs \(b)")
            default:
                Issue.record("input \(index): serial \(expected), parallel \(actual)")
            }
        }
    }

    /// The case without its free-text detail (libvips' error text is process-global).
    private func kind(_ error: ImagingError) -> String {
        switch error {
        case .truncated(let format, _): "truncated \(format)"
        case .corrupt(let format, _): "corrupt \(format)"
        case .processingFailed(let operation, _): "processing \(operation)"
        default: error.description
        }
    }
}

/// Results written from concurrent iterations, each index once.
private final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Result<[UInt8], ImagingError>?]

    init(count: Int) { storage = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: Result<[UInt8], ImagingError>) {
        lock.withLock { storage[index] = value }
    }

    var values: [Result<[UInt8], ImagingError>?] { lock.withLock { storage } }
}
