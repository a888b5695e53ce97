import Bus
import Foundation
import ImagingTestSupport
import InMemoryLogging
import LabelStore
import Logging
import PipelineModel
import Recognition
import RecognitionWorker
import TestSupport
import Testing
import WorkerRuntime

/// recognize's handler on the in-memory bus, with the real classifier and a real SQLite store:
/// what it stores, what it publishes, and which inputs it dead-letters.
@Suite("recognize handler")
struct RecognizeHandlerTests {
    static let root = BuiltExecutable.projectRoot()
    static let samples = root.appendingPathComponent("Models/samples")
    static let shared = Result { try Classifier(descriptorURL: root.appendingPathComponent("Models/efficientnet-lite0.json"), threads: 2) }

    /// A handler writing into a fresh database, publishing on a fresh in-memory bus.
    struct Fixture {
        let directory: TemporaryDirectory
        let bus = InMemoryBus()
        let store: LabelDatabase
        let handler: RecognizeHandler
        let logs = InMemoryLogHandler()

        init(properties: Bool = false, facesAndModeration: Bool = false, text: Bool = false) throws {
            directory = try TemporaryDirectory("recognize-handler")
            store = try LabelDatabase(
                path: directory.url.appendingPathComponent("labels.sqlite"),
                logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
            try Topology.ensure(on: bus)
            let classifier = try RecognizeHandlerTests.shared.get()
            var analyzers: [any ImageAnalyzer] = [LabelAnalyzer(classifier: classifier, options: LabelOptions(maxLabels: 5, minConfidence: 1))]
            if properties { analyzers.append(ImagePropertiesAnalyzer(preprocessor: classifier.preprocessor)) }
            if facesAndModeration {
                analyzers.append(FaceAnalyzer(detector: try FaceDetector(threads: 2)))
                analyzers.append(ModerationAnalyzer(network: try ModerationModel(threads: 2), classifier: classifier))
            }
            if text { analyzers.append(TextAnalyzer(reader: try TextReader(threads: 2))) }
            handler = RecognizeHandler(analyzers: analyzers, store: store, bus: bus, limits: classifier.preprocessor.limits)
        }

        var logger: Logger { Logger(label: "test") { [logs] _ in logs } }

        func stored(_ file: URL, name: String) throws -> ReceivedMessage {
            let data = try Data(contentsOf: file)
            let event = ImageStored(
                imageID: String(repeating: "ab", count: 32), name: name, sourceURL: "https://example.org/\(name)",
                storedPath: file.path, byteSize: data.count, contentType: "image/jpeg",
                width: 1, height: 1, fetchedAt: Date())
            return LocalEvent.message(
                body: try MessageCoding.encoder().encode(event), topic: Topology.imageStoredTopic,
                queue: Topology.recognizeQueue)
        }
    }

    @Test("a photo is labelled, stored and published as image.labeled schema 2 with a labels section")
    func labelsStoresAndPublishes() async throws {
        let f = try Fixture()
        defer { f.directory.remove() }
        let message = try f.stored(Self.samples.appendingPathComponent("cat.jpg"), name: "cat.jpg")
        #expect(await f.handler.handle([message], logger: f.logger) == [.completed])

        let published = try await f.bus.receive(from: Topology.notifyQueue, maxMessages: 10, visibilityTimeout: nil, wait: 0)
        #expect(published.count == 1)
        let out = try #require(published.first)
        #expect(out.message.id == RecognizeHandler.labeledMessageID(for: message.message.id))
        #expect(out.message.attributes[MessageAttribute.schemaVersion] == "2")
        let labeled = try out.decodeBody(ImageLabeled.self)
        #expect(labeled.schemaVersion == 2)
        let section = try #require(labeled.analyses.labels)
        #expect(section.labels == labeled.labels, "schema 1's labels repeat the labels section")
        #expect(section.model.name == labeled.model.name)
        #expect(section.labels.contains { $0.name == "cat" }, "\(section.labels)")
        #expect(labeled.timing.decodeMs > 0 && labeled.timing.inferenceMs > 0)

        let saved = try #require(try f.store.image(idOrPrefix: labeled.imageID))
        #expect(saved.labels.map(\.name) == section.labels.map(\.name))
        #expect(f.logs.entries.contains { $0.message.description == "image labeled" })
    }

    @Test("a broken image, a missing file and a malformed body are dead-lettered; the good image of the batch is not")
    func badInputsAreDeadLettered() async throws {
        let f = try Fixture()
        defer { f.directory.remove() }
        let fixtures = Self.root.appendingPathComponent("Tests/Fixtures/bad")
        let good = try f.stored(Self.samples.appendingPathComponent("coffee.jpg"), name: "coffee.jpg")
        let truncated = try f.stored(fixtures.appendingPathComponent("truncated.jpg"), name: "truncated.jpg")
        let html = try f.stored(fixtures.appendingPathComponent("page.html"), name: "page.html")
        var missing = try f.stored(Self.samples.appendingPathComponent("coffee.jpg"), name: "gone.jpg")
        missing.message.body = Data(
            String(decoding: missing.message.body, as: UTF8.self)
                .replacingOccurrences(of: "coffee.jpg\"", with: "no-such-file.jpg\"").utf8)
        let malformed = LocalEvent.message(body: Data("{not json".utf8), topic: Topology.imageStoredTopic, queue: Topology.recognizeQueue)

        let outcomes = await f.handler.handle([good, truncated, html, missing, malformed], logger: f.logger)
        #expect(outcomes.first == .completed)
        for (outcome, what) in zip(outcomes.dropFirst(), ["truncated", "html", "missing", "malformed"]) {
            guard case .deadLetter(let reason) = outcome else {
                Issue.record("\(what): expected a dead letter, got \(outcome)")
                continue
            }
            #expect(!reason.isEmpty)
        }
        let published = try await f.bus.receive(from: Topology.notifyQueue, maxMessages: 10, visibilityTimeout: nil, wait: 0)
        #expect(published.map(\.message.id) == [RecognizeHandler.labeledMessageID(for: good.message.id)])
    }

    @Test("with the properties analyzer, image.labeled carries a properties section beside the labels")
    func propertiesSection() async throws {
        let f = try Fixture(properties: true)
        defer { f.directory.remove() }
        let message = try f.stored(Self.samples.appendingPathComponent("coffee.jpg"), name: "coffee.jpg")
        #expect(await f.handler.handle([message], logger: f.logger) == [.completed])
        let out = try #require(try await f.bus.receive(from: Topology.notifyQueue, maxMessages: 1, visibilityTimeout: nil, wait: 0).first)
        let labeled = try out.decodeBody(ImageLabeled.self)
        let properties = try #require(labeled.analyses.properties)
        #expect((0...100).contains(properties.brightness) && (0...100).contains(properties.sharpness))
        #expect(!properties.colors.isEmpty)
        #expect(labeled.analyses.features == [.labels, .properties])
        // The store has what the message has, and finds the photo by category and colour.
        let categories = try #require(labeled.analyses.labels?.categories)
        #expect(categories.first?.id == "food-and-drink")
        let saved = try #require(try f.store.image(idOrPrefix: labeled.imageID))
        #expect(saved.properties == properties)
        #expect(saved.categories == categories)
        #expect(try f.store.images(matching: ImageQuery(category: "food-and-drink")).map(\.id) == [labeled.imageID])
        let color = try #require(properties.colors.first)
        #expect(try f.store.images(matching: ImageQuery(color: color.simpleName, minColorShare: 0)).map(\.id) == [labeled.imageID])
        #expect(try f.store.images(matching: ImageQuery(category: "vehicles")).isEmpty)
    }

    @Test("with faces and moderation, a portrait is published and stored with its face, a person label and a safe verdict")
    func facesAndModerationSections() async throws {
        let f = try Fixture(facesAndModeration: true)
        defer { f.directory.remove() }
        let message = try f.stored(Self.samples.appendingPathComponent("astronaut.jpg"), name: "astronaut.jpg")
        #expect(await f.handler.handle([message], logger: f.logger) == [.completed])
        let out = try #require(try await f.bus.receive(from: Topology.notifyQueue, maxMessages: 1, visibilityTimeout: nil, wait: 0).first)
        let labeled = try out.decodeBody(ImageLabeled.self)
        #expect(labeled.analyses.features == [.labels, .faces, .moderation])
        #expect(labeled.analyses.faces?.faces.count == 1)
        #expect(labeled.analyses.moderation?.isUnsafe == false)
        #expect(labeled.labels.first?.name == "person", "\(labeled.labels.map(\.name))")
        let saved = try #require(try f.store.image(idOrPrefix: labeled.imageID))
        #expect(saved.faces == labeled.analyses.faces?.faces)
        #expect(saved.moderation == labeled.analyses.moderation)
        #expect(try f.store.images(matching: ImageQuery(minFaces: 1, maxFaces: 1, person: true, safety: .safe)).map(\.id) == [labeled.imageID])
    }

    @Test("with text, a photo of a sign is published and stored with its lines, and found by its words")
    func textSection() async throws {
        let f = try Fixture(text: true)
        defer { f.directory.remove() }
        let sign = f.directory.url.appendingPathComponent("sign.png")
        let rgb = [UInt8](
            try Data(
                contentsOf: Self.samples.deletingLastPathComponent().deletingLastPathComponent()
                    .appendingPathComponent("Tests/Fixtures/golden/ppocrv5/sign.rgb")))
        try ImageEncoder.encode(Raster(width: 320, height: 256, bands: 3, samples: rgb), as: .png).write(to: sign)
        let message = try f.stored(sign, name: "sign.png")
        #expect(await f.handler.handle([message], logger: f.logger) == [.completed])
        let out = try #require(try await f.bus.receive(from: Topology.notifyQueue, maxMessages: 1, visibilityTimeout: nil, wait: 0).first)
        let labeled = try out.decodeBody(ImageLabeled.self)
        #expect(labeled.analyses.features == [.labels, .text])
        #expect(labeled.analyses.text?.lines.map(\.text) == ["EXIT", "Main Street 12"])
        let saved = try #require(try f.store.image(idOrPrefix: labeled.imageID))
        #expect(saved.text == labeled.analyses.text)
        #expect(try f.store.images(matching: ImageQuery(text: "street exit")).map(\.id) == [labeled.imageID])
    }

    @Test("a redelivered message republishes the same id and leaves the same rows")
    func redeliveryIsIdempotent() async throws {
        let f = try Fixture()
        defer { f.directory.remove() }
        let message = try f.stored(Self.samples.appendingPathComponent("rocket.jpg"), name: "rocket.jpg")
        #expect(await f.handler.handle([message], logger: f.logger) == [.completed])
        let first = try #require(try f.store.image(idOrPrefix: String(repeating: "ab", count: 32)))
        #expect(await f.handler.handle([message], logger: f.logger) == [.completed])
        let second = try #require(try f.store.image(idOrPrefix: String(repeating: "ab", count: 32)))
        #expect(first.labels == second.labels)
        let published = try await f.bus.receive(from: Topology.notifyQueue, maxMessages: 10, visibilityTimeout: nil, wait: 0)
        #expect(Set(published.map(\.message.id)).count == 1)
    }
}
