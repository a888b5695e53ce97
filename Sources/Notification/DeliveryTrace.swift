import Foundation
import PipelineModel

/// The life of one image through the pipeline, as known when its notification was accepted:
/// what `notify-xml --trace` writes, one JSON line per delivered notification, for benchmarks
/// and for an operator asking where the time went.
public struct DeliveryTrace: Codable, Sendable, Equatable {
    public var imageID: String
    /// The `image.labeled` message id (the Idempotency-Key).
    public var messageID: String
    /// Fetching (absent for images published before fetch timing was recorded).
    public var fetch: FetchTiming?
    /// Queue wait, decoding, inference and database time in the recognizer.
    public var recognition: RecognitionTiming
    /// When the recognizer stored the labels.
    public var recognizedAt: Date
    /// How long `image.labeled` waited in the notify queue.
    public var notifyQueueWaitMs: Double
    /// Building and validating the XML.
    public var renderMs: Double
    /// The successful POST, waiting for a free connection included, until the reply arrived.
    public var postMs: Double
    /// POSTs it took (1 unless the gateway failed).
    public var attempts: Int
    /// When the gateway accepted the notification: the end of the end-to-end latency.
    public var deliveredAt: Date
}
