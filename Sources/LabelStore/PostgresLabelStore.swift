import Foundation
import Logging
import PipelineModel
import PostgresClient
import PostgresNIO

/// The label store on PostgreSQL: the SQLite store's tables, indexes and queries in one schema of
/// a shared database, so recognizers on several machines write one store and `list-images` and
/// the API read it from anywhere.
///
/// The listing SQL is the SQLite store's (one planner, `SQLDialect.postgres`); what differs is
/// kept here: terms are stored folded (SQLite compares them with NOCASE), image text is a
/// `tsvector` of the folded lines (SQLite: FTS5), and the per-term counts are kept by the writer in
/// term order at the end of each transaction (SQLite: triggers), so concurrent writers that share
/// terms queue on the count rows without deadlocking.
public final class PostgresLabelStore: LabelStoring {
    /// The schema holding the store's tables.
    public let schema: String
    let session: PostgresSession
    let logger: Logger

    /// Connects, creates or upgrades the schema's tables, and refuses a schema a newer program made.
    public init(url: String, schema: String = "pipeline_labels", maxConnections: Int = 4, logger: Logger) throws {
        try PostgresSession.validate(schema: schema)
        self.schema = schema
        self.logger = logger
        session = try PostgresSession(url: url, maxConnections: maxConnections, logger: logger, searchPath: schema)
        try session.migrate(schema: schema, Self.migrations(schema))
    }

    deinit { session.close() }

    /// Where the store is, for messages (no password).
    public var location: String { "\(session.location)#\(schema)" }

    func table(_ name: String) -> String { "\"\(schema)\".\(name)" }

    static func migrations(_ schema: String) -> [PostgresMigration] {
        let s = "\"\(schema)\""
        return [
            PostgresMigration(
                "labels-v1-images-labels-terms-text-embeddings",
                [
                    // Ids and terms in the "C" collation: byte order, so an id prefix is an index range
                    // and term order is the same on every server, whatever its locale.
                    """
                    CREATE TABLE \(s).images (
                        seq bigserial PRIMARY KEY, id text COLLATE "C" NOT NULL UNIQUE, name text NOT NULL,
                        source_url text NOT NULL, stored_path text NOT NULL, byte_size bigint NOT NULL, content_type text NOT NULL,
                        width integer NOT NULL, height integer NOT NULL, fetched_at double precision NOT NULL,
                        recognized_at double precision NOT NULL, model_name text NOT NULL, model_version text NOT NULL,
                        notified_at double precision, brightness double precision, contrast double precision,
                        sharpness double precision, colors text, categories text, phash bigint, face_count integer,
                        faces text, moderation text, unsafe integer, text text)
                    """,
                    "CREATE INDEX images_by_recognized_at ON \(s).images (recognized_at, seq)",
                    """
                    CREATE TABLE \(s).labels (
                        image_id text COLLATE "C" NOT NULL REFERENCES \(s).images(id) ON DELETE CASCADE, rank integer NOT NULL,
                        name text NOT NULL, confidence double precision NOT NULL CHECK (confidence >= 0 AND confidence <= 100),
                        parents text NOT NULL DEFAULT '[]', aliases text NOT NULL DEFAULT '[]', categories text NOT NULL DEFAULT '[]',
                        PRIMARY KEY (image_id, rank))
                    """,
                    // `term` is the folded key; one index per sort order, each covering the filters,
                    // so a page of a popular term is an index range read in order that stops at LIMIT.
                    """
                    CREATE TABLE \(s).label_terms (
                        term text COLLATE "C" NOT NULL, image_seq bigint NOT NULL, confidence double precision NOT NULL,
                        recognized_at double precision NOT NULL, PRIMARY KEY (term, image_seq))
                    """,
                    "CREATE INDEX label_terms_by_time ON \(s).label_terms (term, recognized_at, image_seq) INCLUDE (confidence)",
                    "CREATE INDEX label_terms_by_confidence ON \(s).label_terms (term, confidence, recognized_at, image_seq)",
                    """
                    CREATE TABLE \(s).label_counts (
                        term text COLLATE "C" PRIMARY KEY, display text NOT NULL, image_count bigint NOT NULL)
                    """,
                    "CREATE TABLE \(s).image_embeddings (image_seq bigint PRIMARY KEY, model text NOT NULL, embedding bytea NOT NULL)",
                    "CREATE TABLE \(s).image_text (image_seq bigint PRIMARY KEY, content tsvector NOT NULL)",
                    "CREATE INDEX image_text_content ON \(s).image_text USING gin (content)",
                ])
        ]
    }

    /// Runs `body`, turning statement errors into `LabelStoreError.database` with the operation;
    /// an unreachable server stays `PostgresClientError.unreachable` (callers retry it).
    func wrap<T>(_ operation: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as LabelStoreError {
            throw error
        } catch let error as PostgresClientError {
            if error.isUnreachable { throw error }
            throw LabelStoreError.database(path: location, operation: operation, underlying: "\(error)")
        } catch {
            throw LabelStoreError.database(path: location, operation: operation, underlying: String(reflecting: error))
        }
    }

    /// A statement written with `?` placeholders (the listing planner's form), numbered for PostgreSQL.
    static func query(_ sql: String, _ arguments: SQLArguments) -> PostgresQuery {
        var text = ""
        var number = 0
        for character in sql {
            if character == "?" {
                number += 1
                text += "$\(number)"
            } else {
                text.append(character)
            }
        }
        var bindings = PostgresBindings(capacity: arguments.values.count)
        for value in arguments.values {
            switch value {
            case .text(let string): bindings.append(string)
            case .double(let number): bindings.append(number)
            case .integer(let number): bindings.append(number)
            }
        }
        return PostgresQuery(unsafeSQL: text, binds: bindings)
    }

    /// Text as the text search stores and searches it: lowercased, accents removed.
    static func searchFolded(_ text: String) -> String {
        text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
    }
}

extension SQLDialect {
    /// PostgreSQL: no index hints (its planner has statistics), `greatest`, ILIKE, and the text
    /// search over `image_text` (each unit a phrase query of the folded text).
    static let postgres = SQLDialect(
        indexHint: { _ in "" }, greatest: "greatest", like: "ILIKE",
        textCondition: { units, arguments in
            for unit in units { arguments.add(PostgresLabelStore.searchFolded(unit)) }
            let phrases = units.map { _ in "phraseto_tsquery('simple', ?)" }.joined(separator: " && ")
            return "images.seq IN (SELECT image_seq FROM image_text WHERE content @@ (\(phrases)))"
        })
}
