import Bus
import CurlHTTP
import Fetching
import Foundation
import Hummingbird
import ImageStore
import LabelStore
import Logging
import PipelineAPI
import PipelineModel
import TestSupport

/// A real server on a loopback port over a temporary home: real SQLite rows, real image files,
/// a real file bus, requests over libcurl.
final class APIFixture: @unchecked Sendable {
    static let samples = BuiltExecutable.projectRoot().appendingPathComponent("Models/samples")
    static let fixtures = BuiltExecutable.projectRoot().appendingPathComponent("Tests/Fixtures")

    let temp: TemporaryDirectory
    let home: PipelineHome
    let bus: FileBus
    let services: APIServices
    private(set) var port = 0
    private var task: Task<Void, any Error>?
    let client: CurlHTTP.HTTPClient
    /// Ids of the sample images stored by `addSamples`, by name.
    private(set) var sampleIDs: [String: String] = [:]

    init(keys: [APIKey] = [], allowPrivate: Bool = true, limits: APILimits = APILimits()) async throws {
        temp = try TemporaryDirectory("api")
        home = PipelineHome(root: temp.url.appendingPathComponent("home"))
        try home.createDirectories()
        let logger = Logger(label: "api-test")
        bus = try FileBus(root: home.busDirectory, logger: logger)
        try Topology.ensure(on: bus)
        var fetch = FetchConfiguration()
        fetch.addressPolicy = AddressPolicy(allowPrivate: allowPrivate)
        fetch.retries = 0
        fetch.totalTimeout = 10
        let fetcher = try Fetcher(configuration: fetch, store: ImageStore(home: home), bus: bus, logger: logger)
        services = APIServices(home: home, bus: bus, fetcher: fetcher, keyring: APIKeyring(keys: keys), limits: limits, logger: logger)
        client = try CurlHTTP.HTTPClient(name: "api-test-client", maxHostConnections: 4)
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let app = try APIServer.application(services: services, address: ListenAddress(host: "127.0.0.1", port: 0)) { port in
            continuation.yield(port)
        }
        task = Task { try await app.run() }
        for await bound in stream {
            port = bound
            break
        }
    }

    func stop() async {
        task?.cancel()
        _ = try? await task?.value
        client.shutdown(finishRunning: false)
        temp.remove()
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// One exchange; `headers` are "Name: value" lines.
    func request(
        _ method: CurlHTTP.HTTPRequest.Method, _ path: String, body: Data = Data(), headers: [String] = [], maxBody: Int = 64 << 20
    ) async throws -> HTTPReply {
        let limits = HTTPLimits(connectTimeout: 5, totalTimeout: 60, maxBodyBytes: maxBody, userAgent: "api-test")
        let request = CurlHTTP.HTTPRequest(
            method: method, url: baseURL + path, headers: headers, body: body, limits: limits, overflow: .fail, addressGuard: nil)
        return try await client.perform(request).get()
    }

    func get(_ path: String, headers: [String] = []) async throws -> HTTPReply { try await request(.get, path, headers: headers) }

    func postJSON(_ path: String, _ json: String, headers: [String] = []) async throws -> HTTPReply {
        try await request(.post, path, body: Data(json.utf8), headers: ["Content-Type: application/json"] + headers)
    }

    /// Decodes a JSON reply body.
    func json(_ reply: HTTPReply) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: reply.body) as? [String: Any] else {
            throw FixtureError("not a JSON object: \(String(decoding: reply.body, as: UTF8.self))")
        }
        return object
    }

    // MARK: Content

    /// Stores sample photos and records a recognition for each, as the recognizer would.
    func addSamples() throws {
        let store = try LabelDatabase(home: home, logger: Logger(label: "api-test"))
        let images = ImageStore(home: home)
        let model = ModelInfo(name: "efficientnet-lite0", version: "test")
        var records: [RecognitionRecord] = []
        let now = Date()
        let samples: [(file: String, labels: [DetectedLabel], faces: Int, text: [String])] = [
            ("cat.jpg", [.init(name: "animal", confidence: 93, parents: []), .init(name: "cat", confidence: 91, parents: ["animal"])], 0, []),
            ("coffee.jpg", [.init(name: "drink", confidence: 97, parents: []), .init(name: "espresso", confidence: 95, parents: ["drink"])], 0, []),
            ("grace-hopper.jpg", [.init(name: "person", confidence: 89, parents: [])], 1, []),
            ("page.png", [.init(name: "document", confidence: 40, parents: [])], 0, ["Marker based segmentation"]),
        ]
        for (index, sample) in samples.enumerated() {
            let bytes = try Data(contentsOf: Self.samples.appendingPathComponent(sample.file))
            let ext = (sample.file as NSString).pathExtension
            let stored = try images.store(bytes, fileExtension: ext)
            sampleIDs[(sample.file as NSString).deletingPathExtension] = stored.id
            let size = ext == "png" ? (640, 480) : (512, 600)
            let event = ImageStored(
                imageID: stored.id, name: (sample.file as NSString).deletingPathExtension, sourceURL: "http://example.org/\(sample.file)",
                storedPath: stored.url.path, byteSize: stored.byteSize, contentType: ext == "png" ? "image/png" : "image/jpeg",
                width: size.0, height: size.1, fetchedAt: now.addingTimeInterval(Double(index) - 10))
            let faces = FacesSection(
                model: ModelInfo(name: "blazeface", version: "test"),
                faces: (0..<sample.faces).map { _ in
                    DetectedFace(box: BoundingBox(left: 0.3, top: 0.2, width: 0.4, height: 0.35), confidence: 89, keypoints: [])
                })
            let text = TextSection(
                model: ModelInfo(name: "pp-ocrv5", version: "test"),
                detections: sample.text.enumerated().map { offset, line in
                    let box = BoundingBox(left: 0.1, top: 0.1 + 0.1 * Double(offset), width: 0.8, height: 0.08)
                    return TextDetection(
                        id: offset, type: .line, text: line, confidence: 95, parentId: nil, box: box,
                        polygon: [
                            ImagePoint(x: 0.1, y: box.top), ImagePoint(x: 0.9, y: box.top), ImagePoint(x: 0.9, y: box.top + 0.08),
                            ImagePoint(x: 0.1, y: box.top + 0.08),
                        ])
                })
            records.append(
                RecognitionRecord(
                    image: event, labels: sample.labels, model: model, recognizedAt: now.addingTimeInterval(Double(index) - 5),
                    faces: faces, text: text))
        }
        try store.saveRecognitions(records)
    }

    /// Records `count` more recognitions (no files), one a second apart, for paging.
    func addMany(_ count: Int, label: String = "filler") throws {
        let store = try LabelDatabase(home: home, logger: Logger(label: "api-test"))
        let base = Date().addingTimeInterval(-100_000)
        let records = (0..<count).map { index in
            let id = SHA256.hex(of: Array("filler-\(label)-\(index)".utf8))
            let event = ImageStored(
                imageID: id, name: "\(label)-\(index)", sourceURL: "http://example.org/\(label)/\(index).jpg", storedPath: "/nonexistent/\(id).jpg",
                byteSize: 1000, contentType: "image/jpeg", width: 100, height: 100, fetchedAt: base.addingTimeInterval(Double(index)))
            // Every third pair shares a second, so ties of time are paged by row order.
            return RecognitionRecord(
                image: event, labels: [.init(name: label, confidence: Double(10 + index % 80), parents: [])],
                model: ModelInfo(name: "m", version: "1"), recognizedAt: base.addingTimeInterval(Double(index - index % 3 / 2)))
        }
        try store.saveRecognitions(records)
    }
}

/// A test's own failure with a message.
struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
