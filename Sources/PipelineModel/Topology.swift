/// Names of the topics and queues the workers use, in one place.
public enum Topology {
    /// Published by fetch-image when an image is stored.
    public static let imageStoredTopic = "image.stored"
    /// Published by recognize when an image has labels.
    public static let imageLabeledTopic = "image.labeled"

    /// recognize consumes this queue (subscribed to `image.stored`).
    public static let recognizeQueue = "recognize"
    /// notify-xml consumes this queue (subscribed to `image.labeled`).
    public static let notifyQueue = "notify"
    /// Dead letters of `recognize`.
    public static let recognizeDeadLetters = "recognize.dead"
    /// Dead letters of `notify`.
    public static let notifyDeadLetters = "notify.dead"
    /// Every dead-letter queue of the pipeline, in flow order.
    public static let deadLetterQueues = [recognizeDeadLetters, notifyDeadLetters]
    /// Archive queue keeping every message of a topic, for replay after a bug fix.
    public static func archiveQueue(of topic: String) -> String { "archive.\(topic)" }
}
