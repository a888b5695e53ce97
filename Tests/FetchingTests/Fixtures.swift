import Bus
import Fetching
import Foundation
import Imaging
import ImagingTestSupport
import Logging
import TestSupport

/// Images and payloads the loopback server hands out, generated with libvips at test time.
enum Fixtures {
    /// A small gradient image in `format`, or nil when this libvips cannot write the format.
    static func image(_ format: ImageFormat, width: Int = 64, height: Int = 48) -> Data? {
        try? ImageEncoder.encode(.gradient(width: width, height: height), as: format)
    }

    /// A distinct JPEG per `seed` (same size), for tests needing many different images.
    static func jpeg(seed: Int, width: Int = 32, height: Int = 24) throws -> Data {
        let colour = [UInt8(seed % 251), UInt8((seed / 251) % 251), UInt8(seed * 7 % 251)]
        return try ImageEncoder.encode(.filled(width: width, height: height, colour: colour), as: .jpeg)
    }

    /// An HTML error page (served as image/jpeg by a misconfigured server).
    static let htmlPage = Data("<!DOCTYPE html>\n<html><head><title>Oops</title></head><body><h1>Not found</h1></body></html>\n".utf8)

    /// A structurally valid PNG whose header claims `width` x `height` pixels while carrying
    /// almost no data: a decompression bomb as far as a header reader can tell.
    static func pngBomb(width: UInt32 = 50_000, height: UInt32 = 50_000) -> Data {
        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var ihdr = Data()
        ihdr.append(contentsOf: bigEndian(width))
        ihdr.append(contentsOf: bigEndian(height))
        ihdr.append(contentsOf: [8, 2, 0, 0, 0])  // 8-bit RGB, deflate, no filter, no interlace
        png.append(chunk("IHDR", ihdr))
        // A zlib stream of a few zero bytes: far too little for the claimed size.
        png.append(chunk("IDAT", Data([0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01])))
        png.append(chunk("IEND", Data()))
        return png
    }

    private static func chunk(_ type: String, _ payload: Data) -> Data {
        var data = Data(bigEndian(UInt32(payload.count)))
        let typed = Data(type.utf8) + payload
        data.append(typed)
        data.append(contentsOf: bigEndian(crc32(typed)))
        return data
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    private static func crc32(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// A logger that drops everything (the library logs; tests assert on results).
    static let quietLogger = Logger(label: "fetching-tests") { _ in SwiftLogNoOpLogHandler() }

    /// Limits suited to a loaded CI machine but quick to fail where a test expects failure.
    static func configuration(_ adjust: (inout FetchConfiguration) -> Void = { _ in }) -> FetchConfiguration {
        var configuration = FetchConfiguration()
        configuration.addressPolicy = AddressPolicy(allowPrivate: true)
        configuration.retryBaseDelay = 0.01
        configuration.connectTimeout = 30
        configuration.totalTimeout = 60
        configuration.lowSpeedTime = 30
        adjust(&configuration)
        return configuration
    }

    /// Every regular file under `root`, relative paths (hidden temporary files included).
    static func files(under root: URL) -> [String] { FileTree.files(under: root) }

    /// Temporary files (`.*.tmp`) left anywhere under `root`.
    static func temporaryFiles(under root: URL) -> [String] {
        files(under: root).filter { $0.split(separator: "/").last?.hasPrefix(".") == true || $0.hasSuffix(".tmp") }
    }
}

/// A bus that records what is published; queues are not needed by the fetcher.
final class RecordingBus: MessageBus, @unchecked Sendable {
    private let lock = NSLock()
    private var _published: [BusMessage] = []
    /// When set, `publish` throws this.
    var failure: (any Error)?

    var published: [BusMessage] { lock.withLock { _published } }

    func createQueue(_ name: String, configuration: QueueConfiguration) throws {}
    func subscribe(queue: String, to topic: String, filter: AttributeFilter) throws {}

    func publish(topic: String, body: Data, attributes: [String: String], id: String?) throws -> BusMessage {
        try lock.withLock {
            if let failure { throw failure }
            let message = BusMessage(id: id ?? UUID().uuidString, topic: topic, attributes: attributes, body: body, publishedAt: Date())
            _published.append(message)
            return message
        }
    }

    func send(_ message: BusMessage, to queue: String, delay: TimeInterval) throws {}
    func receive(from queue: String, maxMessages: Int, visibilityTimeout: TimeInterval?, wait: TimeInterval) async throws -> [ReceivedMessage] { [] }
    func delete(_ message: ReceivedMessage) throws {}
    func release(_ message: ReceivedMessage, delay: TimeInterval) throws {}
    func deadLetter(_ message: ReceivedMessage, reason: String) throws {}
    func stats(of queue: String) throws -> QueueStats { QueueStats(queue: queue, visible: 0, inFlight: 0, delayed: 0) }
}

struct InjectedFailure: Error, CustomStringConvertible {
    var description: String { "injected bus failure" }
}
