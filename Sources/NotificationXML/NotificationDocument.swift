import Foundation
import PipelineModel

/// Who receives notifications and what their subject says (from the command line).
public struct NotificationSettings: Sendable, Equatable {
    /// Default sender address.
    public static let defaultSender = "image-pipeline@localhost"
    /// Default subject template.
    public static let defaultSubject = "Labels for {name}: {labels}"

    /// The `--to` addresses.
    public var recipients: [String]
    /// The `--from` address.
    public var sender: String
    /// The parsed `--subject` template.
    public var subject: SubjectTemplate

    /// Checks the addresses (at least one recipient; `local@domain` without spaces or brackets,
    /// since the gateway copies them into mail headers).
    public init(recipients: [String], sender: String = defaultSender, subject: String = defaultSubject) throws {
        guard !recipients.isEmpty else {
            throw NotificationError.invalidSettings(detail: "no recipient; give at least one --to ADDRESS")
        }
        for address in recipients + [sender] where !Self.isPlausibleAddress(address) {
            throw NotificationError.invalidSettings(
                detail: "\"\(address)\" is not an e-mail address of the form local@domain (no spaces, <, >, commas or quotes)")
        }
        self.recipients = recipients
        self.sender = sender
        self.subject = try SubjectTemplate(subject)
    }

    /// The same rule as the XSD's AddressString pattern.
    static func isPlausibleAddress(_ address: String) -> Bool {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        let forbidden: Set<Character> = ["<", ">", ",", ";", "\"", "@"]
        return parts.count == 2 && address.count <= 254
            && parts.allSatisfy { !$0.isEmpty && !$0.contains(where: { $0.isWhitespace || forbidden.contains($0) }) }
    }
}

/// Builds the notification document (docs/NOTIFY-XML.md) from an `image.labeled` body.
public enum NotificationDocument {
    /// Root element name.
    public static let rootName = "notification"
    /// Version written into `schemaVersion`: 2 adds the optional `alias`, `category` and
    /// `properties` elements, 3 the optional `faces` and `moderation`, 4 the optional `text`
    /// (docs/NOTIFY-XML.md).
    public static let schemaVersion = 4

    /// The notification as a JSON object, in document order.
    public static func json(
        for labeled: ImageLabeled, messageID: String, settings: NotificationSettings,
        notifiedAt: Date
    ) -> JSONNode {
        var image = JSONObject()
        image["id"] = .string(labeled.imageID)
        image["name"] = .string(labeled.name)
        image["sourceURL"] = .string(labeled.sourceURL)
        image["byteSize"] = .integer(Int64(labeled.byteSize))

        let labels: [JSONNode] = labeled.labels.map { label in
            var object = JSONObject()
            object["name"] = .string(label.name)
            object["confidence"] = .number(label.confidence)
            object["parent"] = .array(label.parents.map(JSONNode.string))
            if let aliases = label.aliases, !aliases.isEmpty { object["alias"] = .array(aliases.map(JSONNode.string)) }
            return .object(object)
        }
        let categories: [JSONNode] = (labeled.analyses.labels?.categories ?? []).map { category in
            var object = JSONObject()
            object["id"] = .string(category.id)
            object["name"] = .string(category.name)
            object["confidence"] = .number(category.confidence)
            return .object(object)
        }

        var model = JSONObject()
        model["name"] = .string(labeled.model.name)
        model["version"] = .string(labeled.model.version)

        var document = JSONObject()
        document["schemaVersion"] = .integer(Int64(schemaVersion))
        document["id"] = .string(messageID)
        document["from"] = .string(settings.sender)
        document["to"] = .array(settings.recipients.map(JSONNode.string))
        document["subject"] = .string(settings.subject.render(labeled))
        document["image"] = .object(image)
        document["label"] = .array(labels)
        // Optional sections are left out rather than written empty: a reader of schema 1 documents
        // sees the same elements it knows.
        if !categories.isEmpty { document["category"] = .array(categories) }
        if let properties = labeled.analyses.properties { document["properties"] = .object(Self.properties(properties)) }
        if let faces = labeled.analyses.faces { document["faces"] = .object(Self.faces(faces)) }
        if let moderation = labeled.analyses.moderation { document["moderation"] = .object(Self.moderation(moderation)) }
        if let text = labeled.analyses.text { document["text"] = .object(Self.text(text)) }
        document["model"] = .object(model)
        document["recognizedAt"] = .string(timestamp(labeled.recognizedAt))
        document["notifiedAt"] = .string(timestamp(notifiedAt))
        return .object(document)
    }

    static func properties(_ properties: ImageProperties) -> JSONObject {
        var object = JSONObject()
        object["brightness"] = .number(properties.brightness)
        object["contrast"] = .number(properties.contrast)
        object["sharpness"] = .number(properties.sharpness)
        object["color"] = .array(
            properties.colors.map { color in
                var item = JSONObject()
                item["hex"] = .string(color.hex)
                item["cssName"] = .string(color.cssName)
                item["simpleName"] = .string(color.simpleName)
                item["share"] = .number(color.share)
                return .object(item)
            })
        return object
    }

    static func faces(_ section: FacesSection) -> JSONObject {
        var object = JSONObject()
        object["count"] = .integer(Int64(section.faces.count))
        object["face"] = .array(
            section.faces.map { face in
                var box = JSONObject()
                box["left"] = .number(face.box.left)
                box["top"] = .number(face.box.top)
                box["width"] = .number(face.box.width)
                box["height"] = .number(face.box.height)
                var item = JSONObject()
                item["confidence"] = .number(face.confidence)
                item["box"] = .object(box)
                item["keypoint"] = .array(
                    face.keypoints.map { point in
                        var keypoint = JSONObject()
                        keypoint["type"] = .string(point.type)
                        keypoint["x"] = .number(point.x)
                        keypoint["y"] = .number(point.y)
                        return .object(keypoint)
                    })
                return .object(item)
            })
        return object
    }

    /// The moderation verdict first (`unsafe`: the flag a reader acts on), then the score and labels.
    static func moderation(_ section: ModerationSection) -> JSONObject {
        var object = JSONObject()
        object["unsafe"] = .bool(section.isUnsafe)
        object["nsfwScore"] = .number(section.nsfwScore)
        object["minConfidence"] = .number(section.minConfidence)
        object["label"] = .array(
            section.labels.map { label in
                var item = JSONObject()
                item["name"] = .string(label.name)
                item["parentName"] = .string(label.parentName)
                item["taxonomyLevel"] = .integer(Int64(label.taxonomyLevel))
                item["confidence"] = .number(label.confidence)
                return .object(item)
            })
        return object
    }

    /// The lines read (their words are in the message and the store, not in the e-mail): counts, then
    /// each line's text, confidence and box.
    static func text(_ section: TextSection) -> JSONObject {
        var object = JSONObject()
        let lines = section.lines
        object["lineCount"] = .integer(Int64(lines.count))
        object["wordCount"] = .integer(Int64(section.words.count))
        object["truncated"] = .bool(section.truncated)
        object["line"] = .array(
            lines.map { line in
                var box = JSONObject()
                box["left"] = .number(line.box.left)
                box["top"] = .number(line.box.top)
                box["width"] = .number(line.box.width)
                box["height"] = .number(line.box.height)
                var item = JSONObject()
                item["text"] = .string(line.text)
                item["confidence"] = .number(line.confidence)
                item["box"] = .object(box)
                return .object(item)
            })
        return object
    }

    /// The notification as XML text.
    public static func xml(
        for labeled: ImageLabeled, messageID: String, settings: NotificationSettings,
        notifiedAt: Date = Date()
    ) throws -> String {
        try JSONXMLMapping.xml(
            from: json(for: labeled, messageID: messageID, settings: settings, notifiedAt: notifiedAt),
            rootName: rootName)
    }

    /// ISO-8601 UTC with milliseconds, as xs:dateTime and the message JSON write it.
    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}
