import GRDB

extension LabelDatabase {
    /// The schema's history. Released migrations are never edited: a change is a new migration.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-images-labels-terms-counts") { db in
            // Images get a small integer key besides their SHA-256 id: the derived label_terms
            // rows (about ten per image, each in three b-trees) carry 1-4 bytes of seq instead of
            // 64 of hex, which keeps a million-image database at a few hundred bytes per image.
            try db.execute(
                sql: """
                    CREATE TABLE images (
                        seq INTEGER PRIMARY KEY,
                        id TEXT NOT NULL UNIQUE,
                        name TEXT NOT NULL,
                        source_url TEXT NOT NULL,
                        stored_path TEXT NOT NULL,
                        byte_size INTEGER NOT NULL,
                        content_type TEXT NOT NULL,
                        width INTEGER NOT NULL,
                        height INTEGER NOT NULL,
                        fetched_at REAL NOT NULL,
                        recognized_at REAL NOT NULL,
                        model_name TEXT NOT NULL,
                        model_version TEXT NOT NULL,
                        notified_at REAL
                    );
                    CREATE INDEX images_by_recognized_at ON images(recognized_at);
                    CREATE INDEX images_by_fetched_at ON images(fetched_at);

                    CREATE TABLE labels (
                        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
                        rank INTEGER NOT NULL,
                        name TEXT NOT NULL,
                        confidence REAL NOT NULL CHECK (confidence >= 0 AND confidence <= 100),
                        parents TEXT NOT NULL DEFAULT '[]',
                        PRIMARY KEY (image_id, rank)
                    ) WITHOUT ROWID;

                    -- Derived from labels (each label and each parent, with the label's confidence);
                    -- rewritten with the labels in the same transaction. No foreign key: images are
                    -- never deleted, and a cascade would need a third index on image_seq.
                    CREATE TABLE label_terms (
                        term TEXT NOT NULL COLLATE NOCASE,
                        image_seq INTEGER NOT NULL,
                        confidence REAL NOT NULL,
                        recognized_at REAL NOT NULL,
                        PRIMARY KEY (term, image_seq)
                    ) WITHOUT ROWID;
                    -- One index per sort order, each covering the filters, so a page of a popular
                    -- term is read in order and the scan stops at LIMIT.
                    CREATE INDEX label_terms_by_time ON label_terms(term, recognized_at, image_seq, confidence);
                    CREATE INDEX label_terms_by_confidence ON label_terms(term, confidence, recognized_at);

                    CREATE TABLE label_counts (
                        term TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
                        image_count INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TRIGGER label_terms_counted AFTER INSERT ON label_terms BEGIN
                        INSERT INTO label_counts(term, image_count) VALUES (NEW.term, 1)
                            ON CONFLICT(term) DO UPDATE SET image_count = image_count + 1;
                    END;
                    CREATE TRIGGER label_terms_uncounted AFTER DELETE ON label_terms BEGIN
                        UPDATE label_counts SET image_count = image_count - 1 WHERE term = OLD.term;
                        DELETE FROM label_counts WHERE term = OLD.term AND image_count <= 0;
                    END;
                    """)
        }
        migrator.registerMigration("v2-properties-categories-aliases") { db in
            // Image properties and categories (issue 14). Older rows keep NULLs: they were
            // recognized without them and gain them when recognized again.
            try db.execute(
                sql: """
                    ALTER TABLE images ADD COLUMN brightness REAL;
                    ALTER TABLE images ADD COLUMN contrast REAL;
                    ALTER TABLE images ADD COLUMN sharpness REAL;
                    -- JSON arrays, as image.labeled carries them: dominant colours, categories.
                    ALTER TABLE images ADD COLUMN colors TEXT;
                    ALTER TABLE images ADD COLUMN categories TEXT;
                    ALTER TABLE labels ADD COLUMN aliases TEXT NOT NULL DEFAULT '[]';
                    ALTER TABLE labels ADD COLUMN categories TEXT NOT NULL DEFAULT '[]';
                    """)
            // Categories and colours are searched like labels: as "category:<id>" and
            // "color:<name>" rows of label_terms, so `--category` and `--color` use its indexes.
        }
        migrator.registerMigration("v3-fingerprints") { db in
            // Fingerprints for `list-images duplicates` and `similar`: the perceptual hash (its 64
            // bits as a signed integer) beside the image, and the int8 embedding with the model that
            // made it (only embeddings of one model compare) in a narrow table of its own, so that
            // `similar` scans 256-byte rows rather than the wide images rows.
            try db.execute(
                sql: """
                    ALTER TABLE images ADD COLUMN phash INTEGER;
                    CREATE TABLE image_embeddings (
                        image_seq INTEGER PRIMARY KEY,
                        model TEXT NOT NULL,
                        embedding BLOB NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v4-faces-moderation") { db in
            // Faces and moderation as JSON beside the image (what `show` prints), the face count
            // and the safety verdict as columns; searching goes through label_terms rows
            // ("faces:<n>" for each n up to the count, "moderation:safe|unsafe" and
            // "moderation:<label>"), so `--faces 2+`, `--safe` and `--unsafe` use its indexes.
            try db.execute(
                sql: """
                    ALTER TABLE images ADD COLUMN face_count INTEGER;
                    ALTER TABLE images ADD COLUMN faces TEXT;
                    ALTER TABLE images ADD COLUMN moderation TEXT;
                    ALTER TABLE images ADD COLUMN unsafe INTEGER;
                    """)
        }
        migrator.registerMigration("v5-text") { db in
            // The text section as JSON beside the image (lines and words with boxes, for `show`), and
            // the lines' text in an FTS5 index keyed by the image's seq: `--text` matches words and
            // phrases, case-insensitively and ignoring accents (unicode61 with remove_diacritics 2).
            try db.execute(
                sql: """
                    ALTER TABLE images ADD COLUMN text TEXT;
                    CREATE VIRTUAL TABLE image_text USING fts5(content, tokenize = 'unicode61 remove_diacritics 2');
                    """)
        }
        return migrator
    }
}
