import Foundation

/// What `list-images` asks for: filters, order and page.
public struct ImageQuery: Sendable, Equatable {
    /// How several `labels` combine.
    public enum LabelMatch: String, Sendable, CaseIterable {
        /// An image matches when it carries at least one of the labels.
        case any
        /// An image matches only when it carries every one of the labels.
        case all
    }

    /// Result order, newest or most confident first.
    public enum Sort: String, Sendable, CaseIterable {
        /// By recognition time, newest first.
        case time
        /// By the confidence of the best matching label (the top label without a label filter).
        case confidence
    }

    /// Label or parent terms, matched case-insensitively (ASCII).
    public var labels: [String]
    public var labelMatch: LabelMatch
    /// Lowest confidence (0-100) a matching label may have; without labels, the top label's.
    public var minConfidence: Double?
    /// Recognized at or after.
    public var since: Date?
    /// Recognized before.
    public var until: Date?
    /// Case-insensitive substring of the source URL.
    public var sourceContains: String?
    /// Case-insensitive substring of the image name.
    public var nameContains: String?
    /// A category id ("animals"); its confidence must reach `minConfidence` when that is set.
    public var category: String?
    /// A colour name, basic ("blue") or CSS ("navy"), covering at least `minColorShare` percent.
    public var color: String?
    public var minColorShare: Double
    /// Lowest sharpness (0-100); images recognized without properties never match.
    public var minSharpness: Double?
    /// At least this many faces (0 matches every image searched for faces, none included).
    public var minFaces: Int?
    /// At most this many faces; with `minFaces` an exact count ("--faces 2").
    public var maxFaces: Int?
    /// Only images labelled "person" (by a face or the classifier).
    public var person: Bool
    /// Only images the moderation analysis found safe, or unsafe.
    public var safety: Safety?
    /// Words the image's text must contain (each, in any order); a part in double quotes is a phrase.
    /// Case and accents are ignored.
    public var text: String?
    public var limit: Int
    public var offset: Int
    public var sort: Sort
    /// Continue after this image (the previous page's `ImageSummary.cursor`); it must come from a
    /// listing in the same `sort`. Combines with `offset`, which is then counted from the cursor.
    public var after: ListingCursor?

    /// The moderation verdict asked for.
    public enum Safety: String, Sendable, CaseIterable {
        case safe, unsafe
    }

    /// A query; the defaults list the 50 most recently recognized images.
    public init(
        labels: [String] = [], labelMatch: LabelMatch = .any, minConfidence: Double? = nil,
        since: Date? = nil, until: Date? = nil, sourceContains: String? = nil, nameContains: String? = nil,
        category: String? = nil, color: String? = nil, minColorShare: Double = 10, minSharpness: Double? = nil,
        minFaces: Int? = nil, maxFaces: Int? = nil, person: Bool = false, safety: Safety? = nil, text: String? = nil,
        limit: Int = 50, offset: Int = 0, sort: Sort = .time, after: ListingCursor? = nil
    ) {
        self.after = after
        self.text = text
        self.minFaces = minFaces
        self.maxFaces = maxFaces
        self.person = person
        self.safety = safety
        self.category = category
        self.color = color
        self.minColorShare = minColorShare
        self.minSharpness = minSharpness
        self.labels = labels
        self.labelMatch = labelMatch
        self.minConfidence = minConfidence
        self.since = since
        self.until = until
        self.sourceContains = sourceContains
        self.nameContains = nameContains
        self.limit = limit
        self.offset = offset
        self.sort = sort
    }
}

extension ImageQuery {
    /// A face-count filter as people write it: "2" exactly two, "2+" two or more, "0" none; nil
    /// when `text` is none of these.
    public static func faceRange(_ text: String) -> (min: Int, max: Int?)? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let atLeast = trimmed.hasSuffix("+")
        guard let count = Int(atLeast ? String(trimmed.dropLast()) : trimmed), count >= 0 else { return nil }
        return (count, atLeast ? nil : count)
    }
}

/// What `list-images labels` asks for.
public struct LabelCountQuery: Sendable, Equatable {
    /// Which terms to count.
    public enum Kind: String, Sendable, CaseIterable {
        /// Labels, their aliases and parents.
        case labels
        /// Category ids.
        case categories
        /// Dominant colour names (basic and CSS).
        case colors
    }

    /// Case-insensitive substring the term must contain.
    public var contains: String?
    /// At most this many terms; nil for all.
    public var limit: Int?
    public var kind: Kind

    /// All label terms by default.
    public init(contains: String? = nil, limit: Int? = nil, kind: Kind = .labels) {
        self.contains = contains
        self.limit = limit
        self.kind = kind
    }
}

/// A label or parent term and the number of images carrying it.
public struct LabelCount: Sendable, Equatable, Codable {
    public var term: String
    public var imageCount: Int

    /// A term and its count.
    public init(term: String, imageCount: Int) {
        self.term = term
        self.imageCount = imageCount
    }

    enum CodingKeys: String, CodingKey {
        case term
        case imageCount = "image_count"
    }
}
