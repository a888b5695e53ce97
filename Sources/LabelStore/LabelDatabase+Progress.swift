import Foundation
import GRDB

/// How far the pipeline has got, for metrics: image counts and each image's stage times.
public struct StoreCounts: Sendable, Equatable {
    /// Images recognized (rows in the store).
    public var recognized: Int
    /// Of those, images whose notification the gateway accepted.
    public var notified: Int

    public init(recognized: Int, notified: Int) {
        self.recognized = recognized
        self.notified = notified
    }
}

/// When one image passed each stage, in row order (`seq` grows with each new image).
public struct ImageStageTimes: Sendable, Equatable {
    public var seq: Int64
    public var fetchedAt: Date
    public var recognizedAt: Date
    public var notifiedAt: Date?

    public init(seq: Int64, fetchedAt: Date, recognizedAt: Date, notifiedAt: Date?) {
        self.seq = seq
        self.fetchedAt = fetchedAt
        self.recognizedAt = recognizedAt
        self.notifiedAt = notifiedAt
    }
}

extension LabelDatabase {
    /// Images recognized and notified so far.
    public func counts() throws -> StoreCounts {
        try Self.wrap(path, "count images") {
            try pool.read { db in
                let row = try Row.fetchOne(db, sql: "SELECT count(*) AS recognized, count(notified_at) AS notified FROM images")
                return StoreCounts(recognized: row?["recognized"] ?? 0, notified: row?["notified"] ?? 0)
            }
        }
    }

    /// Stage times of up to `limit` images after row `seq`, in row order (a primary-key range).
    public func stageTimes(afterSeq seq: Int64, limit: Int) throws -> [ImageStageTimes] {
        try Self.wrap(path, "read stage times") {
            try pool.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT seq, fetched_at, recognized_at, notified_at FROM images WHERE seq > ? ORDER BY seq LIMIT ?",
                    arguments: [seq, limit]
                ).map { row in
                    let notified: Double? = row["notified_at"]
                    return ImageStageTimes(
                        seq: row["seq"], fetchedAt: Date(timeIntervalSince1970: row["fetched_at"]),
                        recognizedAt: Date(timeIntervalSince1970: row["recognized_at"]),
                        notifiedAt: notified.map { Date(timeIntervalSince1970: $0) })
                }
            }
        }
    }
}
