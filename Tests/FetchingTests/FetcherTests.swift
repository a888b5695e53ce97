import Bus
import Fetching
import Foundation
import ImageStore
import Imaging
import PipelineModel
import TestSupport
import Testing

/// The fetcher against a real loopback HTTP server, end to end down to the store and the bus.
@Suite(.serialized)
struct FetcherTests {
    /// One test's world: a server with routes, a store in a fresh directory, a recording bus.
    struct World {
        let server: TestHTTPServer
        let dir: TemporaryDirectory
        let store: ImageStore
        let bus = RecordingBus()

        init(routes: (TestHTTPServer) async -> Void) async throws {
            server = try await TestHTTPServer.started(configure: routes)
            dir = try TemporaryDirectory("fetcher")
            store = ImageStore(root: dir.url.appendingPathComponent("images"))
        }

        func fetch(_ inputs: [FetchInput], _ adjust: (inout FetchConfiguration) -> Void = { _ in }) async throws -> [FetchResult] {
            let fetcher = try Fetcher(configuration: Fixtures.configuration(adjust), store: store, bus: bus, logger: Fixtures.quietLogger)
            let collected = Collected()
            _ = await fetcher.run(inputs, report: { collected.add($0) })
            return collected.results
        }

        func fetch(_ path: String, _ adjust: (inout FetchConfiguration) -> Void = { _ in }) async throws -> FetchResult {
            let results = try await fetch([.request(url: server.url(path), name: nil)], adjust)
            return try #require(results.first)
        }

        /// Stops the server and checks the store holds no temporary file.
        func finish() async {
            await server.stop()
            #expect(Fixtures.temporaryFiles(under: dir.url).isEmpty)
            dir.remove()
        }

        var storedFiles: [String] { Fixtures.files(under: store.root) }
    }

    final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var _results: [FetchResult] = []
        func add(_ result: FetchResult) { lock.withLock { _results.append(result) } }
        var results: [FetchResult] { lock.withLock { _results } }
    }

    @Test func storesAndPublishesEverySupportedFormat() async throws {
        let images = ImageFormat.allCases.compactMap { format in Fixtures.image(format).map { (format, $0) } }
        #expect(images.count >= 5, "libvips here writes \(images.map(\.0))")
        let world = try await World { server in
            for (format, data) in images {
                await server.route("GET /img.\(format.fileExtension)") { _ in TestResponses.ok(data, contentType: "image/whatever") }
            }
        }
        for (format, data) in images {
            let result = try await world.fetch("/img.\(format.fileExtension)")
            #expect(result.status == .ok, "\(format): \(result.error ?? "")")
            #expect(result.imageID == SHA256.hex(of: data))
            #expect(result.width == 64 && result.height == 48)
            #expect(result.contentType == format.mimeType)
            #expect(result.name == "img.\(format.fileExtension)")
            let path = try #require(result.storedPath)
            #expect(path.hasPrefix("/") && path.hasSuffix(".\(format.fileExtension)"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == data)
        }
        let events = try world.bus.published.map { try MessageCoding.decoder().decode(ImageStored.self, from: $0.body) }
        #expect(events.count == images.count)
        for (message, event) in zip(world.bus.published, events) {
            #expect(message.topic == Topology.imageStoredTopic)
            #expect(message.attributes[MessageAttribute.type] == Topology.imageStoredTopic)
            #expect(message.attributes[MessageAttribute.imageID] == event.imageID)
            #expect(message.attributes[MessageAttribute.contentType] == event.contentType)
            #expect(message.attributes[MessageAttribute.schemaVersion] == "1")
            #expect(event.storedPath.hasPrefix(world.store.root.path))
            #expect(event.sourceURL.hasPrefix(world.server.baseURL))
        }
        await world.finish()
    }

    @Test func secondFetchIsDuplicateAndPublishesNothingUnlessForced() async throws {
        let jpeg = try #require(Fixtures.image(.jpeg))
        let world = try await World { server in
            await server.route("GET /a.jpg") { _ in TestResponses.ok(jpeg, contentType: "image/jpeg") }
            await server.route("GET /same-bytes-other-name.jpg") { _ in TestResponses.ok(jpeg, contentType: "image/jpeg") }
        }
        let first = try await world.fetch("/a.jpg")
        let second = try await world.fetch("/same-bytes-other-name.jpg")
        #expect(first.status == .ok && first.published)
        #expect(second.status == .duplicate && !second.published)
        #expect(second.imageID == first.imageID)
        #expect(world.bus.published.count == 1)
        let forced = try await world.fetch("/a.jpg") { $0.force = true }
        #expect(forced.status == .duplicate && forced.published)
        #expect(world.bus.published.count == 2)
        #expect(world.storedFiles.count == 1)
        await world.finish()
    }

    @Test func notFoundFailsWithoutRetry() async throws {
        let hits = Counter()
        let world = try await World { server in
            await server.route("GET /missing.jpg") { _ in
                _ = hits.next()
                return TestResponses.status(404, "Not Found")
            }
        }
        let result = try await world.fetch("/missing.jpg")
        #expect(result.status == .failed)
        #expect(result.error == "404 Not Found")
        #expect(result.httpStatus == 404)
        #expect(result.attempts == 1 && hits.count == 1)
        #expect(result.textLine == "FAIL  \(world.server.url("/missing.jpg"))  404 Not Found")
        #expect(world.storedFiles.isEmpty && world.bus.published.isEmpty)
        await world.finish()
    }

    @Test func serverErrorIsRetriedThenSucceeds() async throws {
        let png = try #require(Fixtures.image(.png))
        let hits = Counter()
        let world = try await World { server in
            await server.route("GET /flaky.png") { _ in
                hits.next() == 1 ? TestResponses.status(500, "Internal Server Error") : TestResponses.ok(png, contentType: "image/png")
            }
        }
        let result = try await world.fetch("/flaky.png")
        #expect(result.status == .ok)
        #expect(result.attempts == 2 && hits.count == 2)
        await world.finish()
    }

    @Test func persistentServerErrorGivesUpAfterRetries() async throws {
        let hits = Counter()
        let world = try await World { server in
            await server.route("GET /down.png") { _ in
                _ = hits.next()
                return TestResponses.status(503, "Service Unavailable")
            }
        }
        let result = try await world.fetch("/down.png") { $0.retries = 2 }
        #expect(result.status == .failed)
        #expect(result.error == "503 Service Unavailable")
        #expect(result.transient == true)
        #expect(result.attempts == 3 && hits.count == 3)
        await world.finish()
    }

    @Test func followsRedirectChainsAndStopsLoops() async throws {
        let gif = try #require(Fixtures.image(.gif))
        let world = try await World { server in
            await server.route("GET /hop1") { _ in TestResponses.redirect(to: "/hop2") }
            await server.route("GET /hop2") { _ in TestResponses.redirect(to: "/hop3", code: 301) }
            await server.route("GET /hop3") { _ in TestResponses.redirect(to: "/final.gif", code: 307) }
            await server.route("GET /final.gif") { _ in TestResponses.ok(gif, contentType: "image/gif") }
            await server.route("GET /loop-a") { _ in TestResponses.redirect(to: "/loop-b") }
            await server.route("GET /loop-b") { _ in TestResponses.redirect(to: "/loop-a") }
        }
        let chain = try await world.fetch("/hop1")
        #expect(chain.status == .ok, "\(chain.error ?? "")")
        #expect(chain.contentType == "image/gif")
        let tooShort = try await world.fetch("/hop1") { $0.maxRedirects = 2 }
        #expect(tooShort.status == .failed)
        #expect(tooShort.error == "more than 2 redirects")
        let loop = try await world.fetch("/loop-a")
        #expect(loop.status == .failed)
        #expect(loop.error == "more than 5 redirects")
        await world.finish()
    }

    @Test func htmlServedAsJPEGIsRefused() async throws {
        let world = try await World { server in
            await server.route("GET /photo.jpg") { _ in TestResponses.ok(Fixtures.htmlPage, contentType: "image/jpeg") }
            await server.route("GET /notes.txt") { _ in TestResponses.ok(Data("just some text\n".utf8), contentType: "image/png") }
        }
        let html = try await world.fetch("/photo.jpg")
        #expect(html.status == .failed)
        #expect(html.error?.contains("an HTML page") == true, "\(html.error ?? "")")
        let text = try await world.fetch("/notes.txt")
        #expect(text.status == .failed)
        #expect(text.error?.contains("plain text") == true, "\(text.error ?? "")")
        #expect(world.storedFiles.isEmpty && world.bus.published.isEmpty)
        await world.finish()
    }

    @Test func bodyOverTheLimitIsStoppedWithAndWithoutContentLength() async throws {
        let big = Data(repeating: 0xAB, count: 300_000)
        let world = try await World { server in
            await server.route("GET /declared") { _ in TestResponses.ok(big, contentType: "image/jpeg") }
            await server.route("GET /streamed") { _ in TestResponses.chunked(big, contentType: "image/jpeg") }
        }
        for path in ["/declared", "/streamed"] {
            let result = try await world.fetch(path) { $0.maxBytes = 100_000 }
            #expect(result.status == .failed, "\(path)")
            #expect(result.error == "body larger than 100000 bytes", "\(path): \(result.error ?? "")")
        }
        #expect(world.storedFiles.isEmpty)
        await world.finish()
    }

    @Test func tricklingServerIsDropped() async throws {
        let jpeg = try #require(Fixtures.image(.jpeg))
        let world = try await World { server in
            await server.route("GET /slow.jpg") { _ in
                TestResponses.trickle(jpeg, chunkSize: 1, interval: .milliseconds(300), contentType: "image/jpeg")
            }
        }
        let result = try await world.fetch("/slow.jpg") {
            $0.lowSpeedLimit = 1000
            $0.lowSpeedTime = 2
            $0.retries = 0
        }
        #expect(result.status == .failed)
        #expect(result.error?.contains("too slow") == true, "\(result.error ?? "")")
        #expect(result.transient == true)
        #expect(world.storedFiles.isEmpty)
        await world.finish()
    }

    @Test func hangingServerTimesOut() async throws {
        let world = try await World { server in
            await server.route("GET /hang.jpg") { _ in try await TestResponses.hang() }
        }
        let result = try await world.fetch("/hang.jpg") {
            $0.totalTimeout = 2
            $0.retries = 0
        }
        #expect(result.status == .failed)
        #expect(result.error?.lowercased().contains("timed out") == true, "\(result.error ?? "")")
        await world.finish()
    }

    @Test func connectionClosedBeforeTheDeclaredLengthIsRetriedThenFails() async throws {
        let jpeg = try #require(Fixtures.image(.jpeg))
        let hits = Counter()
        let world = try await World { server in
            await server.route("GET /short.jpg") { _ in
                _ = hits.next()
                return TestResponses.cutOff(jpeg.prefix(100), declaredLength: jpeg.count, contentType: "image/jpeg")
            }
        }
        let result = try await world.fetch("/short.jpg") {
            $0.retries = 1
            $0.totalTimeout = 20
        }
        #expect(result.status == .failed)
        #expect(result.transient == true, "\(result.error ?? "")")
        #expect(result.error?.contains("timed out") == false, "the cut is seen at once: \(result.error ?? "")")
        #expect(result.attempts == 2 && hits.count == 2)
        #expect(world.storedFiles.isEmpty)
        await world.finish()
    }

    @Test func truncatedImageIsRefused() async throws {
        let jpeg = try #require(Fixtures.image(.jpeg, width: 200, height: 150))
        let png = try #require(Fixtures.image(.png, width: 200, height: 150))
        let world = try await World { server in
            await server.route("GET /cut.jpg") { _ in TestResponses.ok(jpeg.prefix(jpeg.count / 2), contentType: "image/jpeg") }
            await server.route("GET /cut.png") { _ in TestResponses.ok(png.prefix(png.count / 2), contentType: "image/png") }
        }
        for path in ["/cut.jpg", "/cut.png"] {
            let result = try await world.fetch(path)
            #expect(result.status == .failed, "\(path)")
            #expect(result.error?.contains("truncated") == true, "\(path): \(result.error ?? "")")
        }
        #expect(world.storedFiles.isEmpty)
        await world.finish()
    }

    @Test func decompressionBombIsRefusedFromTheHeader() async throws {
        let bomb = Fixtures.pngBomb()
        let world = try await World { server in
            await server.route("GET /bomb.png") { _ in TestResponses.ok(bomb, contentType: "image/png") }
        }
        let result = try await world.fetch("/bomb.png")
        #expect(result.status == .failed)
        #expect(result.error?.contains("50000x50000") == true, "\(result.error ?? "")")
        let lowered = try await world.fetch("/bomb.png") { $0.maxPixels = 1000 }
        #expect(lowered.error?.contains("limit of 1000") == true)
        #expect(world.storedFiles.isEmpty)
        await world.finish()
    }

    @Test func loopbackIsRefusedWithoutAllowPrivate() async throws {
        let jpeg = try #require(Fixtures.image(.jpeg))
        let hits = Counter()
        let world = try await World { server in
            await server.route("GET /cat.jpg") { _ in
                _ = hits.next()
                return TestResponses.ok(jpeg, contentType: "image/jpeg")
            }
            await server.route("GET /to-loopback") { request in
                TestResponses.redirect(to: "http://127.0.0.1:\(request.headers[.host]?.split(separator: ":").last ?? "80")/cat.jpg")
            }
        }
        let refused = try await world.fetch("/cat.jpg") { $0.addressPolicy = AddressPolicy() }
        #expect(refused.status == .failed)
        #expect(refused.error == "refused loopback address 127.0.0.1")
        #expect(refused.attempts == 1)
        #expect(hits.count == 0, "no request may reach the server")

        // Allowing one host name does not open the address for a redirect to another name.
        let port = world.server.port
        let viaName = try await world.fetch([.request(url: "http://localhost:\(port)/to-loopback", name: nil)]) {
            $0.addressPolicy = AddressPolicy(allowedHosts: ["localhost"])
        }
        #expect(viaName.first?.status == .failed)
        #expect(viaName.first?.error == "refused loopback address 127.0.0.1", "\(viaName.first?.error ?? "")")
        #expect(hits.count == 0)

        let allowedHost = try await world.fetch("/cat.jpg") { $0.addressPolicy = AddressPolicy(allowedHosts: ["127.0.0.1"]) }
        #expect(allowedHost.status == .ok)
        #expect(hits.count == 1)
        await world.finish()
    }

    @Test func ipv6LoopbackIsRefusedToo() async throws {
        let png = try #require(Fixtures.image(.png))
        let server = try await TestHTTPServer.started(ipv6: true) { server in
            await server.route("GET /v6.png") { _ in TestResponses.ok(png, contentType: "image/png") }
        }
        let dir = try TemporaryDirectory("fetcher-v6")
        defer { dir.remove() }
        let store = ImageStore(root: dir.url)
        let strict = try Fetcher(
            configuration: Fixtures.configuration { $0.addressPolicy = AddressPolicy() },
            store: store, bus: RecordingBus(), logger: Fixtures.quietLogger)
        let refused = await strict.fetch(.request(url: server.url("/v6.png"), name: nil))
        #expect(refused.error == "refused loopback address ::1", "\(refused.error ?? "")")
        let open = try Fetcher(configuration: Fixtures.configuration(), store: store, bus: RecordingBus(), logger: Fixtures.quietLogger)
        let fetched = await open.fetch(.request(url: server.url("/v6.png"), name: nil))
        #expect(fetched.status == .ok, "\(fetched.error ?? "")")
        await server.stop()
    }

    @Test func refusesOtherSchemesAndFileUnlessAllowed() async throws {
        let world = try await World { server in
            await server.route("GET /to-file") { _ in TestResponses.redirect(to: "file:///etc/passwd") }
        }
        let imageFile = world.dir.url.appendingPathComponent("local.png")
        try #require(Fixtures.image(.png)).write(to: imageFile)
        let results = try await world.fetch([
            .request(url: "ftp://127.0.0.1/x.jpg", name: nil),
            .request(url: imageFile.absoluteString, name: "local"),
            .request(url: world.server.url("/to-file"), name: nil),
        ])
        let byURL = Dictionary(uniqueKeysWithValues: results.map { ($0.url, $0) })
        #expect(byURL["ftp://127.0.0.1/x.jpg"]?.error == "scheme ftp not allowed")
        #expect(byURL[imageFile.absoluteString]?.error == "scheme file not allowed")
        #expect(byURL[world.server.url("/to-file")]?.status == .failed)

        let allowed = try await world.fetch([.request(url: imageFile.absoluteString, name: "local")]) { $0.allowFile = true }
        #expect(allowed.first?.status == .ok, "\(allowed.first?.error ?? "")")
        #expect(allowed.first?.name == "local")
        let redirected = try await world.fetch([.request(url: world.server.url("/to-file"), name: nil)]) { $0.allowFile = true }
        #expect(redirected.first?.status == .failed, "a redirect may never reach file://")
        await world.finish()
    }

    @Test func badLinesAreReportedAndTheRestProcessed() async throws {
        let webp = try #require(Fixtures.image(.webp))
        let world = try await World { server in
            await server.route("GET /ok.webp") { _ in TestResponses.ok(webp, contentType: "image/webp") }
        }
        let lines = ["# list", "", "not a url at all", "\(world.server.url("/ok.webp"))\tMy picture", "\tnameless"]
        let results = try await world.fetch(lines.compactMap { FetchInput.parse(line: $0) })
        #expect(results.count == 3)
        #expect(results.filter { $0.status == .ok }.map(\.name) == ["My picture"])
        #expect(results.filter { $0.status == .failed }.count == 2)
        await world.finish()
    }

    @Test func manyDownloadsInParallelSendUserAgent() async throws {
        let images = try (0..<24).map { try Fixtures.jpeg(seed: $0) }
        let agents = AgentLog()
        let world = try await World { server in
            await server.route("GET /many/:n") { request in
                agents.add(request.headers[HTTPHeader("User-Agent")] ?? "")
                let n = Int(request.path.split(separator: "/").last ?? "") ?? 0
                return TestResponses.ok(images[n % images.count], contentType: "image/jpeg")
            }
        }
        let inputs = (0..<24).map { FetchInput.request(url: world.server.url("/many/\($0)"), name: nil) }
        let results = try await world.fetch(inputs) {
            $0.parallel = 8
            $0.maxHostConnections = 4
        }
        #expect(results.count == 24)
        #expect(results.allSatisfy { $0.status == .ok })
        #expect(Set(results.compactMap(\.imageID)).count == 24)
        #expect(world.bus.published.count == 24)
        #expect(Set(agents.values) == ["image-pipeline-fetch/\(FetchConfiguration.version)"])
        await world.finish()
    }

    @Test func acceptsGzipEncodedBodies() async throws {
        let png = try #require(Fixtures.image(.png))
        let dir = try TemporaryDirectory("gzip")
        defer { dir.remove() }
        let plain = dir.url.appendingPathComponent("x.png")
        try png.write(to: plain)
        let gzip = try await ProcessRunner.run(URL(fileURLWithPath: "/bin/gzip"), ["-k", "-9", plain.path])
        try #require(gzip.status == 0)
        let compressed = try Data(contentsOf: dir.url.appendingPathComponent("x.png.gz"))
        let encodings = AgentLog()
        let world = try await World { server in
            await server.route("GET /z.png") { request in
                encodings.add(request.headers[HTTPHeader("Accept-Encoding")] ?? "")
                return HTTPResponse(statusCode: .ok, headers: [.contentType: "image/png", .contentEncoding: "gzip"], body: compressed)
            }
        }
        let result = try await world.fetch("/z.png")
        #expect(result.status == .ok, "\(result.error ?? "")")
        #expect(result.imageID == SHA256.hex(of: png), "the decoded bytes are stored")
        #expect(encodings.values.first?.contains("gzip") == true)
        await world.finish()
    }

    @Test func storeFailureLeavesNothingAndPublishesNothing() async throws {
        let jpeg = try #require(Fixtures.image(.jpeg))
        let server = try await TestHTTPServer.started { server in
            await server.route("GET /a.jpg") { _ in TestResponses.ok(jpeg, contentType: "image/jpeg") }
        }
        let dir = try TemporaryDirectory("fetcher-full-disk")
        defer { dir.remove() }
        let io = ImageStoreIO(
            write: { _, _, _ in
                errno = ENOSPC
                return -1
            }, fsync: { Foundation.fsync($0) })
        let store = ImageStore(root: dir.url, io: io)
        let bus = RecordingBus()
        let fetcher = try Fetcher(configuration: Fixtures.configuration(), store: store, bus: bus, logger: Fixtures.quietLogger)
        let result = await fetcher.fetch(.request(url: server.url("/a.jpg"), name: nil))
        #expect(result.status == .failed)
        #expect(result.error?.contains("No space left on device") == true, "\(result.error ?? "")")
        #expect(Fixtures.files(under: dir.url).isEmpty)
        #expect(bus.published.isEmpty)
        await server.stop()
    }

    @Test func publishFailureRemovesTheNewFileSoARerunStartsOver() async throws {
        let jpeg = try #require(Fixtures.image(.jpeg))
        let world = try await World { server in
            await server.route("GET /a.jpg") { _ in TestResponses.ok(jpeg, contentType: "image/jpeg") }
        }
        world.bus.failure = InjectedFailure()
        let failed = try await world.fetch("/a.jpg")
        #expect(failed.status == .failed)
        #expect(failed.error?.contains("injected bus failure") == true)
        #expect(world.storedFiles.isEmpty)
        world.bus.failure = nil
        let rerun = try await world.fetch("/a.jpg")
        #expect(rerun.status == .ok && rerun.published)
        await world.finish()
    }
}

final class AgentLog: @unchecked Sendable {
    private let lock = NSLock()
    private var _values: [String] = []
    func add(_ value: String) { lock.withLock { _values.append(value) } }
    var values: [String] { lock.withLock { _values } }
}
