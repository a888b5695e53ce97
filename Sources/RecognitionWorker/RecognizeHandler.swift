import Bus
import Dispatch
import Foundation
import ImageStore
import Imaging
import LabelStore
import Logging
import PipelineModel
import Recognition
import WorkerRuntime

/// The recognizer's per-batch work: `image.stored` in; each image read once and run through
/// every configured analyzer; labels into SQLite and `image.labeled` (one section per analyzer)
/// out. Idempotent: a redelivered message rewrites the same rows and republishes under the same
/// message id, so the notifier's gateway de-duplicates it.
public struct RecognizeHandler: MessageHandler {
    private let analyzers: [any ImageAnalyzer]
    private let store: any LabelStoring
    private let bus: any MessageBus
    private let limits: ImageLimits
    private let images: (any ImageStoring)?
    /// Heavy, blocking work (libvips, inference) runs here, off Swift's cooperative threads.
    private let workQueue = DispatchQueue(label: "recognize.work", attributes: .concurrent)

    /// A handler running `analyzers` in order on every image (`limits`: the largest file read);
    /// `images` resolves stored paths to local files (nil: they are files, the file store's).
    public init(
        analyzers: [any ImageAnalyzer], store: any LabelStoring, bus: any MessageBus, limits: ImageLimits = .default,
        images: (any ImageStoring)? = nil
    ) {
        self.images = images
        self.analyzers = analyzers
        self.store = store
        self.bus = bus
        self.limits = limits
    }

    public func handle(_ batch: [ReceivedMessage], logger: Logger) async -> [MessageOutcome] {
        let received = Date()
        var outcomes = [MessageOutcome?](repeating: nil, count: batch.count)
        var work: [(index: Int, image: ImageStored, path: String)] = []
        for (index, message) in batch.enumerated() {
            do {
                let image = try message.decodeBody(ImageStored.self)
                var path = image.storedPath
                if let images {
                    do {
                        path = try images.localFile(forStoredPath: image.storedPath).path
                    } catch .database(_, let detail, true) {
                        outcomes[index] = .retry(delay: 5, reason: "image store: \(detail)")
                        continue
                    } catch {
                        outcomes[index] = .deadLetter(reason: "\(error)")
                        continue
                    }
                } else if !FileManager.default.fileExists(atPath: image.storedPath) {
                    outcomes[index] = .deadLetter(reason: "stored image is missing at \(image.storedPath); refetch it with fetch-image --force")
                    continue
                }
                work.append((index, image, path))
            } catch {
                outcomes[index] = .deadLetter(reason: "\(error)")
            }
        }

        let paths = work.map(\.path)
        let analyzers = self.analyzers
        let limits = self.limits
        let results = await withCheckedContinuation { continuation in
            workQueue.async { continuation.resume(returning: ImageAnalysis.run(paths, with: analyzers, limits: limits)) }
        }

        var labeled: [(index: Int, stored: ImageStored, event: ImageLabeled)] = []
        let recognizedAt = Date()
        for (position, item) in work.enumerated() {
            let message = batch[item.index]
            switch results[position] {
            case .failure(let error):
                // A file that does not decode will not decode next time either.
                outcomes[item.index] = .deadLetter(reason: "cannot classify \(item.image.storedPath): \(error)")
            case .success(let analysis):
                let queueWait = max(0, received.timeIntervalSince(message.message.publishedAt) * 1000)
                let event = ImageLabeled(
                    imageID: item.image.imageID, name: item.image.name, sourceURL: item.image.sourceURL,
                    byteSize: item.image.byteSize, analyses: analysis.sections, recognizedAt: recognizedAt,
                    timing: RecognitionTiming(
                        decodeMs: analysis.decodeMs, inferenceMs: analysis.inferenceMs,
                        databaseMs: 0, queueWaitMs: queueWait),
                    fetchTiming: item.image.timing)
                labeled.append((item.index, item.image, event))
            }
        }

        if !labeled.isEmpty {
            let start = DispatchTime.now()
            do {
                try store.saveRecognitions(
                    labeled.map { item in
                        RecognitionRecord(
                            image: item.stored, labels: item.event.labels, model: item.event.model,
                            recognizedAt: recognizedAt, categories: item.event.analyses.labels?.categories ?? [],
                            properties: item.event.analyses.properties, similarity: item.event.analyses.similarity,
                            faces: item.event.analyses.faces, moderation: item.event.analyses.moderation,
                            text: item.event.analyses.text)
                    })
            } catch {
                for item in labeled { outcomes[item.index] = .retry(delay: 5, reason: "label database: \(error)") }
                labeled.removeAll()
            }
            let databaseMs = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000
            // One batch publish: the queues' directories are synced once for all of them.
            let encoder = MessageCoding.encoder()
            var outgoing: [(index: Int, event: ImageLabeled, message: OutgoingMessage)] = []
            for item in labeled {
                var event = item.event
                event.timing.databaseMs = databaseMs
                do {
                    outgoing.append(
                        (
                            item.index, event,
                            OutgoingMessage(
                                topic: Topology.imageLabeledTopic, body: try encoder.encode(event),
                                attributes: [
                                    MessageAttribute.type: Topology.imageLabeledTopic,
                                    MessageAttribute.schemaVersion: "\(ImageLabeled.currentSchemaVersion)",
                                    MessageAttribute.imageID: event.imageID,
                                ], id: Self.labeledMessageID(for: batch[item.index].message.id))
                        ))
                } catch {
                    outcomes[item.index] = .retry(delay: 2, reason: "encode image.labeled: \(error)")
                }
            }
            do {
                try bus.publish(outgoing.map(\.message))
                for item in outgoing {
                    outcomes[item.index] = .completed
                    var metadata = batch[item.index].logMetadata
                    metadata["labels"] = "\(item.event.labels.map { "\($0.name) \(Int($0.confidence.rounded()))%" }.joined(separator: ", "))"
                    metadata["decode.ms"] = "\(Self.rounded(item.event.timing.decodeMs))"
                    metadata["inference.ms"] = "\(Self.rounded(item.event.timing.inferenceMs))"
                    metadata["batch"] = "\(batch.count)"
                    logger.info("image labeled", metadata: metadata)
                }
            } catch {
                // Ids are deterministic: a retry republishes the same messages, never doubles.
                for item in outgoing { outcomes[item.index] = .retry(delay: 2, reason: "publish image.labeled: \(error)") }
            }
        }
        return outcomes.map { $0 ?? .retry(delay: 0, reason: "not processed") }
    }

    /// The `image.labeled` id for a given `image.stored` message: deterministic, so handling a
    /// redelivered message twice publishes the same notification id.
    public static func labeledMessageID(for storedMessageID: String) -> String { "labeled-\(storedMessageID)" }

    private static func rounded(_ value: Double) -> Double { (value * 10).rounded() / 10 }
}
