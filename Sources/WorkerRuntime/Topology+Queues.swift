import Bus
import PipelineModel

extension Topology {
    /// Queue settings of the recognizer: a labelling attempt rarely takes more than a second,
    /// so a message whose worker died is retried after 60 s; five failures mean a poison image.
    public static let recognizeConfiguration = QueueConfiguration(
        visibilityTimeout: 60, maxReceiveCount: 5, deadLetterQueue: recognizeDeadLetters)
    /// Queue settings of the notifier: the gateway may be down for a while, so allow more tries.
    public static let notifyConfiguration = QueueConfiguration(
        visibilityTimeout: 60, maxReceiveCount: 10, deadLetterQueue: notifyDeadLetters)
    /// Dead letters and archives are kept until an operator acts (no retention limit).
    public static let keepConfiguration = QueueConfiguration(
        visibilityTimeout: 60, maxReceiveCount: Int.max, deadLetterQueue: nil, retention: nil)

    /// Creates the pipeline's queues and subscriptions if they are missing (idempotent; every
    /// worker calls it on start so any of them can be started first). An existing queue keeps
    /// its configuration: an operator's (or a test's) tuning is never overwritten.
    public static func ensure(on bus: any MessageBus) throws {
        func create(_ queue: String, _ configuration: QueueConfiguration) throws {
            if (try? bus.stats(of: queue)) == nil { try bus.createQueue(queue, configuration: configuration) }
        }
        for queue in [
            recognizeDeadLetters, notifyDeadLetters,
            archiveQueue(of: imageStoredTopic), archiveQueue(of: imageLabeledTopic),
        ] {
            try create(queue, keepConfiguration)
        }
        try create(recognizeQueue, recognizeConfiguration)
        try create(notifyQueue, notifyConfiguration)
        try bus.subscribe(queue: recognizeQueue, to: imageStoredTopic, filter: AttributeFilter())
        try bus.subscribe(queue: notifyQueue, to: imageLabeledTopic, filter: AttributeFilter())
        try bus.subscribe(queue: archiveQueue(of: imageStoredTopic), to: imageStoredTopic, filter: AttributeFilter())
        try bus.subscribe(queue: archiveQueue(of: imageLabeledTopic), to: imageLabeledTopic, filter: AttributeFilter())
    }
}
