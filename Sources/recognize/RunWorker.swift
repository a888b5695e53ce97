import ArgumentParser
import Bus
import CLISupport
import Foundation
import Imaging
import LabelStore
import PipelineModel
import Recognition
import RecognitionOptions
import RecognitionWorker
import WorkerRuntime

/// `recognize run` (the default): the long-running labelling worker.
struct RunWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Consume image.stored, label each image, store labels, publish image.labeled.",
        discussion: """
            Stops gracefully on SIGTERM or SIGINT: messages in hand are finished, or released \
            back to the queue after --drain-timeout; none is lost.
            """)

    @OptionGroup var home: HomeOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var model: ModelOptions
    @OptionGroup var filter: LabelFilterOptions
    @OptionGroup var features: FeatureOptions

    @Option(help: "Messages taken per receive and classified in one inference batch.")
    var batchSize: Int = 4

    @Option(help: "Receive-classify loops running side by side in this process.")
    var concurrency: Int = 1

    @Flag(help: "Process one batch from the queue (waiting up to --poll-wait seconds) and exit.")
    var once = false

    @Option(
        help: ArgumentHelp("Process one image.stored body from FILE (- for stdin) without the queue, print the outcome and exit.", valueName: "file"))
    var event: String?

    @Option(help: "Seconds one receive waits for a message.")
    var pollWait: Double = 2

    @Option(help: "Seconds to finish messages in hand after SIGTERM before releasing them.")
    var drainTimeout: Double = 30

    func validate() throws {
        guard batchSize >= 1, batchSize <= 64 else { throw ValidationError("--batch-size must be 1...64") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard pollWait >= 0, drainTimeout >= 0 else { throw ValidationError("--poll-wait and --drain-timeout must not be negative") }
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "recognize")
        Vips.routeWarnings(to: logger)
        let home = self.home.pipelineHome
        try home.createDirectories()
        let bus = try database.openBus(home: home, logger: logger)
        try Topology.ensure(on: bus)
        let store = try database.openLabelStore(home: home, logger: logger)
        let images = try database.openImageStore(home: home, logger: logger)
        let classifier = try model.loadClassifier(logger: logger)
        try classifier.prepare(maxBatchSize: batchSize)
        logger.info(
            "classifier loaded",
            metadata: [
                "model": "\(classifier.name)", "version": "\(classifier.version)", "threads": "\(classifier.threadCount)",
            ])
        let handler = RecognizeHandler(
            analyzers: try features.analyzers(
                classifier: classifier, labels: try filter.labelOptions(for: classifier), precision: model.precision, logger: logger),
            store: store, bus: bus,
            limits: classifier.preprocessor.limits, images: images)

        if let event {
            try await WorkerRunner.runLocalEvent(
                from: event, topic: Topology.imageStoredTopic, queue: Topology.recognizeQueue,
                handler: handler, logger: logger)
            return
        }
        try await WorkerRunner.consume(
            bus: bus, handler: handler,
            options: WorkerOptions(
                queue: Topology.recognizeQueue, batchSize: batchSize, concurrency: concurrency,
                pollWait: pollWait, drainTimeout: drainTimeout), once: once, logger: logger)
    }
}
