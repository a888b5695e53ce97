import Foundation
import PipelineModel
import PostgresClient
import PostgresNIO

extension PostgresLabelStore {
    public func saveRecognition(image: ImageStored, labels: [DetectedLabel], model: ModelInfo, recognizedAt: Date) throws {
        try saveRecognitions([RecognitionRecord(image: image, labels: labels, model: model, recognizedAt: recognizedAt)])
    }

    /// Saves many recognitions in one transaction; a redelivered recognition leaves the same rows.
    public func saveRecognitions(_ items: [RecognitionRecord]) throws {
        guard !items.isEmpty else { return }
        for item in items { try LabelDatabase.validate(item) }
        // Images in id order, counts in term order: concurrent writers take row locks in one order.
        let ordered = items.sorted { $0.image.imageID < $1.image.imageID }
        try wrap("save \(items.count) recognition(s)") {
            try session.transaction { connection in
                var deltas: [String: (display: String, change: Int)] = [:]
                for item in ordered { try save(item, on: connection, counts: &deltas) }
                try applyCounts(deltas, on: connection)
            }
        }
        logger.debug("saved recognitions", metadata: ["db.images": "\(items.count)", "db.schema": "\(schema)"])
    }

    public func markNotified(imageID: String, at date: Date) throws {
        try markNotified([(imageID, date)])
    }

    /// Sets `notified_at` of many images in one statement; unknown images are skipped.
    public func markNotified(_ marks: [(imageID: String, at: Date)]) throws {
        guard !marks.isEmpty else { return }
        let ids = marks.map { $0.imageID.lowercased() }
        let times = marks.map(\.at.timeIntervalSince1970)
        try wrap("mark \(marks.count) image(s) notified") {
            try session.withConnection { connection in
                _ = try session.run(
                    connection,
                    """
                    UPDATE images SET notified_at = v.at FROM unnest(\(ids)::text[], \(times)::float8[]) AS v(id, at)
                    WHERE images.id = v.id
                    """)
            }
        }
    }

    /// Writes one recognition inside the caller's transaction, adding its term count changes to `counts`.
    /// Terms that stay are updated in place, so a redelivery changes no count and leaves the same rows.
    private func save(_ item: RecognitionRecord, on connection: PostgresConnection, counts: inout [String: (display: String, change: Int)])
        throws
    {
        let image = item.image
        let recognizedAt = item.recognizedAt.timeIntervalSince1970
        // Lock the image's row (when it exists) before reading what it carries.
        let old = try session.run(
            connection, "SELECT seq, categories, colors, faces, moderation FROM images WHERE id = \(image.imageID) FOR UPDATE"
        ).first?.makeRandomAccess()
        var oldLabels: [LabelRecord] = []
        if old != nil {
            for row in try session.run(
                connection, "SELECT image_id, rank, name, confidence, parents, aliases, categories FROM labels WHERE image_id = \(image.imageID)")
            {
                oldLabels.append(try LabelRecord(postgres: row.makeRandomAccess()))
            }
        }
        let oldTerms = try RecognitionColumns.terms(
            labels: oldLabels, categories: old?["categories"].decode(String?.self), colors: old?["colors"].decode(String?.self),
            faces: old?["faces"].decode(String?.self), moderation: old?["moderation"].decode(String?.self))
        let columns = try RecognitionColumns(item)
        let properties = item.properties

        // notified_at is left alone: a re-recognition does not mean the notification is unsent.
        var bindings = PostgresBindings()
        bindings.append(image.imageID)
        bindings.append(image.name)
        bindings.append(image.sourceURL)
        bindings.append(image.storedPath)
        bindings.append(Int64(image.byteSize))
        bindings.append(image.contentType)
        bindings.append(Int32(clamping: image.width))
        bindings.append(Int32(clamping: image.height))
        bindings.append(image.fetchedAt.timeIntervalSince1970)
        bindings.append(recognizedAt)
        bindings.append(item.model.name)
        bindings.append(item.model.version)
        bindings.append(properties?.brightness)
        bindings.append(properties?.contrast)
        bindings.append(properties?.sharpness)
        bindings.append(columns.colors)
        bindings.append(columns.categories)
        bindings.append(columns.phash)
        bindings.append(item.faces.map { Int32(clamping: $0.faces.count) })
        bindings.append(columns.faces)
        bindings.append(columns.moderation)
        bindings.append(item.moderation.map { Int32($0.isUnsafe ? 1 : 0) })
        bindings.append(columns.text)
        var numbered = Self.query(LabelDatabase.upsertImageSQL, SQLArguments())
        numbered.binds = bindings
        let upsert = numbered
        guard let seq = try session.run(connection, upsert).first?.decode(Int64.self) else {
            throw LabelStoreError.database(path: location, operation: "save image \(image.imageID)", underlying: "the upsert returned no seq")
        }

        if let text = item.text?.fullText, !text.isEmpty {
            _ = try session.run(
                connection,
                """
                INSERT INTO image_text (image_seq, content) VALUES (\(seq), to_tsvector('simple', \(Self.searchFolded(text))))
                ON CONFLICT (image_seq) DO UPDATE SET content = excluded.content
                """)
        } else {
            _ = try session.run(connection, "DELETE FROM image_text WHERE image_seq = \(seq)")
        }
        if let embedding = columns.embedding, let model = item.similarity?.embeddingModel, !model.isEmpty {
            _ = try session.run(
                connection,
                """
                INSERT INTO image_embeddings (image_seq, model, embedding) VALUES (\(seq), \(model), \(ByteBuffer(bytes: embedding)))
                ON CONFLICT (image_seq) DO UPDATE SET model = excluded.model, embedding = excluded.embedding
                """)
        } else {
            _ = try session.run(connection, "DELETE FROM image_embeddings WHERE image_seq = \(seq)")
        }

        if !oldLabels.isEmpty { _ = try session.run(connection, "DELETE FROM labels WHERE image_id = \(image.imageID)") }
        if !item.labels.isEmpty {
            let ranks = item.labels.indices.map { Int64($0) }
            let names = item.labels.map(\.name)
            let confidences = item.labels.map(\.confidence)
            let parents = item.labels.map { LabelDatabase.parentsJSON($0.parents) }
            let aliases = item.labels.map { LabelDatabase.parentsJSON($0.aliases ?? []) }
            let categories = item.labels.map { LabelDatabase.parentsJSON($0.categories ?? []) }
            _ = try session.run(
                connection,
                """
                INSERT INTO labels (image_id, rank, name, confidence, parents, aliases, categories)
                SELECT \(image.imageID), * FROM unnest(\(ranks)::int8[], \(names)::text[], \(confidences)::float8[],
                                                      \(parents)::text[], \(aliases)::text[], \(categories)::text[])
                """)
        }

        let removed = oldTerms.subtracting(columns.termKeys).sorted()
        if !removed.isEmpty {
            _ = try session.run(connection, "DELETE FROM label_terms WHERE image_seq = \(seq) AND term = ANY(\(removed)::text[])")
            for key in removed { counts[key, default: (key, 0)].change -= 1 }
        }
        if !columns.terms.isEmpty {
            let keys = columns.terms.map { LabelTermRecord.asciiFolded($0.term) }
            let confidences = columns.terms.map(\.confidence)
            _ = try session.run(
                connection,
                """
                INSERT INTO label_terms (term, image_seq, confidence, recognized_at)
                SELECT key, \(seq), confidence, \(recognizedAt) FROM unnest(\(keys)::text[], \(confidences)::float8[]) AS t(key, confidence)
                ON CONFLICT (term, image_seq) DO UPDATE SET confidence = excluded.confidence, recognized_at = excluded.recognized_at
                """)
            for (term, key) in zip(columns.terms.map(\.term), keys) where !oldTerms.contains(key) {
                let display = counts[key]?.display ?? term
                counts[key] = (display, (counts[key]?.change ?? 0) + 1)
            }
        }
    }

    /// Applies the transaction's count changes in term order (the lock order every writer uses).
    private func applyCounts(_ deltas: [String: (display: String, change: Int)], on connection: PostgresConnection) throws {
        let changed = deltas.filter { $0.value.change != 0 }.sorted { $0.key < $1.key }
        guard !changed.isEmpty else { return }
        let keys = changed.map(\.key)
        let displays = changed.map(\.value.display)
        let changes = changed.map { Int64($0.value.change) }
        _ = try session.run(
            connection,
            """
            INSERT INTO label_counts (term, display, image_count)
            SELECT key, display, change FROM unnest(\(keys)::text[], \(displays)::text[], \(changes)::int8[]) AS c(key, display, change)
            ORDER BY key
            ON CONFLICT (term) DO UPDATE SET image_count = label_counts.image_count + excluded.image_count
            """)
        if changes.contains(where: { $0 < 0 }) {
            _ = try session.run(connection, "DELETE FROM label_counts WHERE term = ANY(\(keys)::text[]) AND image_count <= 0")
        }
    }
}

extension LabelRecord {
    /// A `labels` row as PostgreSQL returns it.
    init(postgres row: PostgresRandomAccessRow) throws {
        imageId = try row["image_id"].decode(String.self)
        rank = try row["rank"].decode(Int.self)
        name = try row["name"].decode(String.self)
        confidence = try row["confidence"].decode(Double.self)
        parents = try Self.strings(row["parents"].decode(String.self))
        aliases = try Self.strings(row["aliases"].decode(String.self))
        categories = try Self.strings(row["categories"].decode(String.self))
    }
}
