import Bus
import Foundation
import LabelStore
import Logging
import PipelineModel
import Prometheus
import Synchronization

/// `/metrics` in Prometheus' text format: what this server did (requests, submissions) and,
/// read at each scrape, how far the pipeline has got (images recognized and notified, queue
/// depths, dead letters) and how long each stage took per image (from the store's times, read
/// incrementally by row so a scrape never rereads old images).
public final class PipelineMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let stageBuckets: [Double] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800]
    private let recognizeLatency: ValueHistogram
    private let notifyLatency: ValueHistogram
    /// Rows already observed: all up to `recognized` for the recognize stage; up to `notified` for
    /// the notify stage, which waits on a row not yet notified unless it is older than `notifyPatience`.
    private let watermarks = Mutex<(recognized: Int64, notified: Int64)>((0, 0))
    private let scrapeLock = Mutex<Void>(())
    private let notifyPatience: TimeInterval = 600
    private let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
        // Prometheus wants one help text per metric name, so both label sets pass the same.
        let help = "Seconds from an image's fetch to its labels being stored (recognize), and from there to the gateway's acceptance (notify)."
        recognizeLatency = registry.makeValueHistogram(
            name: "pipeline_stage_latency_seconds", labels: [("stage", "recognize")], buckets: stageBuckets, help: help)
        notifyLatency = registry.makeValueHistogram(
            name: "pipeline_stage_latency_seconds", labels: [("stage", "notify")], buckets: stageBuckets, help: help)
    }

    /// Counts one API request and its duration under its route pattern.
    public func request(method: String, route: String, status: Int, duration: Duration) {
        registry.makeCounter(
            name: "pipeline_api_requests_total", labels: [("method", method), ("route", route), ("status", "\(status)")],
            help: "HTTP requests answered, by route pattern and status."
        ).increment()
        registry.makeDurationHistogram(
            name: "pipeline_api_request_duration_seconds", labels: [("route", route)],
            buckets: [.milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(2), .seconds(10)],
            help: "Time to answer an HTTP request, by route pattern."
        ).record(duration)
    }

    /// Counts submissions through the API by outcome (ok, duplicate, failed).
    public func submitted(status: String, count: Int = 1) {
        registry.makeCounter(
            name: "pipeline_api_images_submitted_total", labels: [("status", status)],
            help: "Images submitted through POST /v1/images, by outcome (ok: new, duplicate: already stored, failed)."
        ).increment(by: Int64(count))
    }

    /// Reads the pipeline's state into the gauges and histograms, then renders every metric.
    public func scrape(store: (any LabelStoring)?, bus: (any BusAdministration)?) -> String {
        scrapeLock.withLock { _ in
            var waiting = 0
            if let bus {
                for queue in (try? bus.queues()) ?? [] {
                    guard let status = try? bus.status(of: queue) else { continue }
                    let stats = status.stats
                    for (state, value) in [("visible", stats.visible), ("in_flight", stats.inFlight), ("delayed", stats.delayed)] {
                        registry.makeGauge(
                            name: "pipeline_queue_messages", labels: [("queue", queue), ("state", state)],
                            help: "Messages in each queue of the bus, by state."
                        ).set(Double(value))
                    }
                    if queue == Topology.recognizeQueue { waiting += stats.visible + stats.inFlight + stats.delayed }
                    if let dead = status.deadLetters {
                        registry.makeGauge(
                            name: "pipeline_dead_letters", labels: [("queue", queue)],
                            help: "Messages that failed for good, waiting in each queue's dead-letter queue (bus-admin redrive)."
                        ).set(Double(dead))
                        if queue == Topology.recognizeQueue { waiting += dead }
                    }
                }
            }
            if let store {
                do {
                    let counts = try store.counts()
                    registry.makeGauge(name: "pipeline_images_recognized", help: "Images with labels in the store.").set(Double(counts.recognized))
                    registry.makeGauge(name: "pipeline_images_notified", help: "Images whose notification the gateway accepted.")
                        .set(Double(counts.notified))
                    registry.makeGauge(
                        name: "pipeline_images_fetched",
                        help: "Images fetched and accounted for: recognized, or waiting, in flight or dead-lettered in the recognize queue."
                    ).set(Double(counts.recognized + waiting))
                    try observeStages(store)
                } catch {
                    logger.warning("metrics could not read the label store", metadata: ["error": "\(error)"])
                }
            }
            return registry.emitToString()
        }
    }

    /// Observes the stage times of images added since the last scrape (at most 50,000 a scrape).
    private func observeStages(_ store: any LabelStoring) throws {
        let (recognized, notified) = watermarks.withLock { $0 }
        var newRecognized = recognized
        for row in try store.stageTimes(afterSeq: recognized, limit: 50_000) {
            recognizeLatency.record(max(0, row.recognizedAt.timeIntervalSince(row.fetchedAt)))
            newRecognized = row.seq
        }
        var newNotified = notified
        let now = Date()
        scan: for row in try store.stageTimes(afterSeq: notified, limit: 50_000) {
            if let at = row.notifiedAt {
                notifyLatency.record(max(0, at.timeIntervalSince(row.recognizedAt)))
            } else if now.timeIntervalSince(row.recognizedAt) < notifyPatience {
                break scan  // not notified yet: look again next scrape
            }
            newNotified = row.seq
        }
        watermarks.withLock { $0 = (newRecognized, newNotified) }
    }
}
