import Foundation
import GRDB
import PipelineModel

extension LabelDatabase {
    /// Upserts the image and replaces its labels in one transaction.
    public func saveRecognition(image: ImageStored, labels: [DetectedLabel], model: ModelInfo, recognizedAt: Date) throws {
        // Labels only: categories and properties come through `saveRecognitions`.
        try saveRecognitions([RecognitionRecord(image: image, labels: labels, model: model, recognizedAt: recognizedAt)])
    }

    /// Saves many recognitions in one transaction; a redelivered recognition leaves the same rows.
    public func saveRecognitions(_ items: [RecognitionRecord]) throws {
        guard !items.isEmpty else { return }
        for item in items { try Self.validate(item) }
        try Self.wrap(path, "save \(items.count) recognition(s)") {
            // IMMEDIATE: take the write lock up front. A deferred transaction that reads first
            // and writes later fails at once with SQLITE_BUSY when another process wrote in
            // between, without waiting for the busy timeout.
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    for item in items { try Self.save(item, in: db) }
                    return .commit
                }
            }
        }
        logger.debug("saved recognitions", metadata: ["db.images": "\(items.count)"])
    }

    /// Sets the image's `notified_at`; a no-op for an image the store does not know.
    public func markNotified(imageID: String, at date: Date) throws {
        try markNotified([(imageID, date)])
    }

    /// Sets `notified_at` of many images in one transaction; unknown images are skipped.
    public func markNotified(_ marks: [(imageID: String, at: Date)]) throws {
        guard !marks.isEmpty else { return }
        try Self.wrap(path, "mark \(marks.count) image(s) notified") {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    let statement = try db.cachedStatement(sql: "UPDATE images SET notified_at = ? WHERE id = ?")
                    for mark in marks {
                        try statement.execute(arguments: [mark.at.timeIntervalSince1970, mark.imageID.lowercased()])
                    }
                    return .commit
                }
            }
        }
    }

    static func validate(_ item: RecognitionRecord) throws {
        let id = item.image.imageID
        guard !id.isEmpty, id.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw LabelStoreError.invalidQuery("image id '\(id)' is not lowercase hexadecimal")
        }
        for label in item.labels where !(0...100).contains(label.confidence) {
            throw LabelStoreError.invalidQuery("label '\(label.name)' of image \(id) has confidence \(label.confidence), outside 0-100")
        }
    }

    /// Writes one recognition inside the caller's transaction.
    ///
    /// Terms that stay are updated in place rather than deleted and reinserted, so redelivery
    /// touches no counts and leaves exactly the rows the first delivery wrote.
    static func save(_ item: RecognitionRecord, in db: Database) throws {
        let image = item.image
        let recognizedAt = item.recognizedAt.timeIntervalSince1970

        let oldLabels = try LabelRecord.filter(LabelRecord.Columns.imageID == image.imageID).fetchAll(db)
        let oldRow = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT categories, colors, faces, moderation FROM images WHERE id = ?"), arguments: [image.imageID])
        let oldTerms = RecognitionColumns.terms(
            labels: oldLabels, categories: oldRow?["categories"], colors: oldRow?["colors"], faces: oldRow?["faces"],
            moderation: oldRow?["moderation"])
        let columns = try RecognitionColumns(item)
        let (newTerms, newKeys, properties) = (columns.terms, columns.termKeys, item.properties)
        let (colorsJSON, categoriesJSON, phash) = (columns.colors, columns.categories, columns.phash)
        let (facesJSON, moderationJSON, textJSON, embedding) = (columns.faces, columns.moderation, columns.text, columns.embedding)

        // notified_at is left alone: a re-recognition does not mean the notification is unsent.
        let upsert = try db.cachedStatement(
            sql: upsertImageSQL)
        let seqValue = try Int64.fetchOne(
            upsert,
            arguments: [
                image.imageID, image.name, image.sourceURL, image.storedPath, image.byteSize, image.contentType,
                image.width, image.height, image.fetchedAt.timeIntervalSince1970, recognizedAt,
                item.model.name, item.model.version, properties?.brightness, properties?.contrast, properties?.sharpness,
                colorsJSON, categoriesJSON, phash, item.faces?.faces.count, facesJSON, moderationJSON,
                item.moderation.map { $0.isUnsafe ? 1 : 0 }, textJSON,
            ])
        guard let seq = seqValue else {
            throw DatabaseError(resultCode: .SQLITE_ERROR, message: "upsert of image \(image.imageID) returned no seq")
        }

        // The searchable text: replaced as a whole (FTS5 rows are cheap; redelivery writes the same row).
        try db.cachedStatement(sql: "DELETE FROM image_text WHERE rowid = ?").execute(arguments: [seq])
        if let text = item.text?.fullText, !text.isEmpty {
            try db.cachedStatement(sql: "INSERT INTO image_text (rowid, content) VALUES (?, ?)").execute(arguments: [seq, text])
        }

        if let embedding, let model = item.similarity?.embeddingModel, !model.isEmpty {
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO image_embeddings (image_seq, model, embedding) VALUES (?, ?, ?)")
                .execute(arguments: [seq, model, embedding])
        } else {
            try db.cachedStatement(sql: "DELETE FROM image_embeddings WHERE image_seq = ?").execute(arguments: [seq])
        }

        if !oldLabels.isEmpty {
            try db.cachedStatement(sql: "DELETE FROM labels WHERE image_id = ?").execute(arguments: [image.imageID])
        }
        let insertLabel = try db.cachedStatement(
            sql: "INSERT INTO labels (image_id, rank, name, confidence, parents, aliases, categories) VALUES (?, ?, ?, ?, ?, ?, ?)")
        for (rank, label) in item.labels.enumerated() {
            try insertLabel.execute(arguments: [
                image.imageID, rank, label.name, label.confidence, Self.parentsJSON(label.parents),
                Self.parentsJSON(label.aliases ?? []), Self.parentsJSON(label.categories ?? []),
            ])
        }

        let deleteTerm = try db.cachedStatement(sql: "DELETE FROM label_terms WHERE term = ? AND image_seq = ?")
        for key in oldTerms.subtracting(newKeys) {
            try deleteTerm.execute(arguments: [key, seq])
        }
        let insertTerm = try db.cachedStatement(sql: "INSERT INTO label_terms (term, image_seq, confidence, recognized_at) VALUES (?, ?, ?, ?)")
        let updateTerm = try db.cachedStatement(sql: "UPDATE label_terms SET confidence = ?, recognized_at = ? WHERE term = ? AND image_seq = ?")
        for (term, confidence) in newTerms {
            if oldTerms.contains(LabelTermRecord.asciiFolded(term)) {
                try updateTerm.execute(arguments: [confidence, recognizedAt, term, seq])
            } else {
                try insertTerm.execute(arguments: [term, seq, confidence, recognizedAt])
            }
        }
    }

    /// The image row's upsert, for both engines (`?` placeholders; PostgreSQL numbers them),
    /// returning its seq. notified_at is left alone: a re-recognition does not mean the
    /// notification is unsent.
    static let upsertImageSQL = """
        INSERT INTO images (id, name, source_url, stored_path, byte_size, content_type, width, height,
                            fetched_at, recognized_at, model_name, model_version, notified_at,
                            brightness, contrast, sharpness, colors, categories, phash,
                            face_count, faces, moderation, unsafe, text)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(id) DO UPDATE SET
            name = excluded.name, source_url = excluded.source_url, stored_path = excluded.stored_path,
            byte_size = excluded.byte_size, content_type = excluded.content_type,
            width = excluded.width, height = excluded.height, fetched_at = excluded.fetched_at,
            recognized_at = excluded.recognized_at, model_name = excluded.model_name,
            model_version = excluded.model_version, brightness = excluded.brightness,
            contrast = excluded.contrast, sharpness = excluded.sharpness, colors = excluded.colors,
            categories = excluded.categories, phash = excluded.phash, face_count = excluded.face_count,
            faces = excluded.faces, moderation = excluded.moderation, unsafe = excluded.unsafe,
            text = excluded.text
        RETURNING seq
        """

    /// A JSON column's value decoded, nil when NULL or unreadable (a column written by a newer
    /// version is shown without it rather than failing the whole listing).
    static func decodeJSON<T: Decodable>(_ type: T.Type, _ text: String?) -> T? {
        guard let text else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
    /// Parents as the JSON array text GRDB decodes back into `[String]`; written by hand because
    /// a JSONEncoder per label is needless work in bulk saves of millions of labels.
    static func parentsJSON(_ parents: [String]) -> String {
        var json = "["
        for (index, parent) in parents.enumerated() {
            if index > 0 { json += "," }
            json += "\""
            for scalar in parent.unicodeScalars {
                switch scalar {
                case "\"": json += "\\\""
                case "\\": json += "\\\\"
                case "\n": json += "\\n"
                case "\r": json += "\\r"
                case "\t": json += "\\t"
                case _ where scalar.value < 0x20: json += String(format: "\\u%04x", scalar.value)
                default: json.unicodeScalars.append(scalar)
                }
            }
            json += "\""
        }
        return json + "]"
    }
}

/// What one recognition writes beside its labels, as both backends store it: the JSON columns,
/// the hash, the embedding and the searchable terms.
struct RecognitionColumns {
    var colors: String?
    var categories: String?
    var phash: Int64?
    var faces: String?
    var moderation: String?
    var text: String?
    var embedding: Data?
    /// Every searchable term with its confidence (`label_terms` rows).
    var terms: [(term: String, confidence: Double)]
    /// The terms' folded keys.
    var termKeys: Set<String>

    init(_ item: RecognitionRecord) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func json<T: Encodable>(_ value: T?) throws -> String? { try value.map { String(decoding: try encoder.encode($0), as: UTF8.self) } }
        colors = try json(item.properties?.colors)
        categories = item.categories.isEmpty ? nil : try json(item.categories)
        phash = item.similarity?.hashBits.map { Int64(bitPattern: $0) }
        faces = try json(item.faces)
        moderation = try json(item.moderation)
        text = try json(item.text)
        embedding = item.similarity.flatMap { $0.embedding.isEmpty ? nil : Data(base64Encoded: $0.embedding) }
        terms = LabelTermRecord.terms(
            labels: item.labels.map { ($0.name, $0.confidence, $0.parents, $0.aliases ?? []) }, categories: item.categories,
            colors: item.properties?.colors ?? [], faces: item.faces?.faces ?? [], moderation: item.moderation)
        termKeys = Set(terms.map { LabelTermRecord.asciiFolded($0.term) })
    }

    /// The folded keys of the terms an image's stored labels and JSON columns carry (what a
    /// re-recognition replaces).
    static func terms(labels: [LabelRecord], categories: String?, colors: String?, faces: String?, moderation: String?) -> Set<String> {
        Set(
            LabelTermRecord.terms(
                labels: labels.map { ($0.name, $0.confidence, $0.parents, $0.aliases) },
                categories: LabelDatabase.decodeJSON([LabelCategory].self, categories) ?? [],
                colors: LabelDatabase.decodeJSON([DominantColor].self, colors) ?? [],
                faces: LabelDatabase.decodeJSON(FacesSection.self, faces)?.faces ?? [],
                moderation: LabelDatabase.decodeJSON(ModerationSection.self, moderation)
            ).map { LabelTermRecord.asciiFolded($0.term) })
    }
}
