import Foundation
import NotificationTestSupport
import NotificationXML
import PipelineModel
import TestSupport
import Testing

/// The notification document and its XSD.
struct NotificationSchemaTests {
    @Test func shippedXSDIsTheEmbeddedOne() throws {
        let url = BuiltExecutable.projectRoot().appendingPathComponent("docs/schema/notification.xsd")
        let file = try String(contentsOf: url, encoding: .utf8)
        #expect(file == NotificationSchema.xsd)
    }

    @Test func generatedDocumentsValidate() throws {
        let validator = try SchemaValidator.notification.get()
        let cases: [ImageLabeled] = [
            Fixtures.labeled(),
            Fixtures.labeled(labels: []),
            Fixtures.labeled(
                name: "Zürich \u{1}\u{1B}[0m <b>&amp;</b> 🐈",
                labels: [
                    DetectedLabel(name: "cat \u{7}", confidence: 100, parents: ["ani\u{0}mal"]),
                    DetectedLabel(name: "dog", confidence: 0, parents: []),
                ]),
        ]
        for labeled in cases {
            let xml = try NotificationDocument.xml(for: labeled, messageID: "labeled-0001", settings: try Fixtures.settings())
            try validator.validate(xml)
        }
    }

    @Test("aliases, categories and image properties are in the document, validate and read back")
    func analysesAreInTheDocument() throws {
        let labels = [
            DetectedLabel(name: "taxi", confidence: 80, parents: ["car", "vehicle"], aliases: ["cab", "taxicab"], categories: ["vehicles"])
        ]
        let analyses = ImageAnalyses(
            labels: LabelsSection(
                model: ModelInfo(name: "efficientnet-lite0", version: "1"), labels: labels,
                categories: [LabelCategory(id: "vehicles", name: "Vehicles", confidence: 82.5)]),
            properties: ImageProperties(
                brightness: 40, contrast: 25.5, sharpness: 61,
                colors: [DominantColor(hex: "#ffcc00", cssName: "gold", simpleName: "yellow", share: 70)]))
        let labeled = ImageLabeled(
            imageID: String(repeating: "cd", count: 32), name: "taxi.jpg", sourceURL: "http://127.0.0.1/taxi.jpg", byteSize: 10,
            analyses: analyses, recognizedAt: Date(timeIntervalSince1970: 1_795_000_000),
            timing: RecognitionTiming(decodeMs: 1, inferenceMs: 1, databaseMs: 1, queueWaitMs: 1))
        let xml = try NotificationDocument.xml(for: labeled, messageID: "labeled-7", settings: try Fixtures.settings())
        try SchemaValidator.notification.get().validate(xml)
        let (_, back) = try JSONXMLMapping.json(fromXML: Data(xml.utf8))
        guard case .object(let document) = back, case .array(let categories)? = document["category"],
            case .object(let properties)? = document["properties"], case .array(let label)? = document["label"],
            case .object(let taxi)? = label.first
        else {
            Issue.record("unexpected shape: \(back)")
            return
        }
        #expect(document["schemaVersion"] == .integer(Int64(NotificationDocument.schemaVersion)))
        #expect(taxi["alias"] == .array([.string("cab"), .string("taxicab")]))
        #expect(categories == [.object(["id": .string("vehicles"), "name": .string("Vehicles"), "confidence": .number(82.5)])])
        #expect(properties["sharpness"] == .integer(61) || properties["sharpness"] == .number(61))
        #expect(xml.contains("<hex>#ffcc00</hex>"))
        // A colour that is no #rrggbb is refused by the schema.
        let broken = xml.replacingOccurrences(of: "<hex>#ffcc00</hex>", with: "<hex>yellow</hex>")
        #expect(throws: (any Error).self) { try SchemaValidator.notification.get().validate(broken) }
        // Without the optional sections the document is what schema 1 described.
        let plain = try NotificationDocument.xml(for: Fixtures.labeled(), messageID: "labeled-8", settings: try Fixtures.settings())
        #expect(!plain.contains("<category") && !plain.contains("<properties") && !plain.contains("<alias"))
    }

    @Test("faces and moderation are in the document and validate; an unsafe image is flagged; a box outside 0-1 is refused")
    func facesAndModerationAreInTheDocument() throws {
        let face = DetectedFace(
            box: BoundingBox(left: 0.25, top: 0.1, width: 0.2, height: 0.3), confidence: 93.5,
            keypoints: [FaceKeypoint(type: "left eye", x: 0.3, y: 0.2), FaceKeypoint(type: "right eye", x: 0.4, y: 0.2)])
        var analyses = ImageAnalyses(
            labels: LabelsSection(model: ModelInfo(name: "m", version: "1"), labels: [DetectedLabel(name: "person", confidence: 93.5, parents: [])]))
        analyses.faces = FacesSection(model: ModelInfo(name: "face-detection-full-range", version: "1"), faces: [face])
        analyses.moderation = ModerationSection(
            model: ModelInfo(name: "open-nsfw", version: "1"),
            labels: [ModerationLabel(name: "Explicit", parentName: "", taxonomyLevel: 1, confidence: 88)], minConfidence: 50, nsfwScore: 88)
        let labeled = ImageLabeled(
            imageID: String(repeating: "ef", count: 32), name: "p.jpg", sourceURL: "http://127.0.0.1/p.jpg", byteSize: 10,
            analyses: analyses, recognizedAt: Date(timeIntervalSince1970: 1_795_000_000),
            timing: RecognitionTiming(decodeMs: 1, inferenceMs: 1, databaseMs: 1, queueWaitMs: 1))
        let xml = try NotificationDocument.xml(for: labeled, messageID: "labeled-9", settings: try Fixtures.settings())
        try SchemaValidator.notification.get().validate(xml)
        let (_, back) = try JSONXMLMapping.json(fromXML: Data(xml.utf8))
        guard case .object(let document) = back, case .object(let faces)? = document["faces"],
            case .object(let moderation)? = document["moderation"], case .array(let items)? = faces["face"],
            case .object(let first)? = items.first
        else {
            Issue.record("unexpected shape: \(back)")
            return
        }
        #expect(faces["count"] == .integer(1))
        #expect(first["confidence"] == .number(93.5))
        #expect(moderation["unsafe"] == .bool(true))
        #expect(xml.contains("<unsafe type=\"boolean\">true</unsafe>"))
        // No faces is a count of 0 and the empty-array marker, still valid.
        analyses.faces?.faces = []
        analyses.moderation?.labels = []
        let none = ImageLabeled(
            imageID: labeled.imageID, name: "p.jpg", sourceURL: labeled.sourceURL, byteSize: 10, analyses: analyses,
            recognizedAt: labeled.recognizedAt, timing: labeled.timing)
        let empty = try NotificationDocument.xml(for: none, messageID: "labeled-10", settings: try Fixtures.settings())
        try SchemaValidator.notification.get().validate(empty)
        #expect(empty.contains("<unsafe type=\"boolean\">false</unsafe>"))
        let outside = xml.replacingOccurrences(of: "<left type=\"number\">0.25</left>", with: "<left type=\"number\">1.5</left>")
        #expect(outside != xml)
        #expect(throws: (any Error).self) { try SchemaValidator.notification.get().validate(outside) }
    }

    @Test("text lines are in the document and validate, escaped when they hold markup; no text is an empty list")
    func textIsInTheDocument() throws {
        let box = BoundingBox(left: 0.1, top: 0.2, width: 0.5, height: 0.08)
        let polygon = [ImagePoint(x: 0.1, y: 0.2), ImagePoint(x: 0.6, y: 0.2), ImagePoint(x: 0.6, y: 0.28), ImagePoint(x: 0.1, y: 0.28)]
        var analyses = ImageAnalyses(
            labels: LabelsSection(model: ModelInfo(name: "m", version: "1"), labels: [DetectedLabel(name: "sign", confidence: 70, parents: [])]))
        analyses.text = TextSection(
            model: ModelInfo(name: "pp-ocrv5-mobile", version: "1"),
            detections: [
                TextDetection(id: 0, type: .line, text: "Fish & <Chips>", confidence: 96.5, parentId: nil, box: box, polygon: polygon),
                TextDetection(id: 1, type: .word, text: "Fish", confidence: 96.5, parentId: 0, box: box, polygon: polygon),
                TextDetection(id: 2, type: .word, text: "&", confidence: 96.5, parentId: 0, box: box, polygon: polygon),
                TextDetection(id: 3, type: .word, text: "<Chips>", confidence: 96.5, parentId: 0, box: box, polygon: polygon),
            ])
        let labeled = ImageLabeled(
            imageID: String(repeating: "ab", count: 32), name: "s.jpg", sourceURL: "http://127.0.0.1/s.jpg", byteSize: 10,
            analyses: analyses, recognizedAt: Date(timeIntervalSince1970: 1_795_000_000),
            timing: RecognitionTiming(decodeMs: 1, inferenceMs: 1, databaseMs: 1, queueWaitMs: 1))
        let xml = try NotificationDocument.xml(for: labeled, messageID: "labeled-11", settings: try Fixtures.settings())
        try SchemaValidator.notification.get().validate(xml)
        #expect(NotificationDocument.schemaVersion == 4)
        let (_, back) = try JSONXMLMapping.json(fromXML: Data(xml.utf8))
        guard case .object(let document) = back, case .object(let text)? = document["text"], case .array(let lines)? = text["line"],
            case .object(let line)? = lines.first
        else {
            Issue.record("unexpected shape: \(back)")
            return
        }
        #expect(text["lineCount"] == .integer(1))
        #expect(text["wordCount"] == .integer(3))
        #expect(line["text"] == .string("Fish & <Chips>"))
        #expect(!xml.contains("<Chips>"), "markup in the text is escaped")
        analyses.text?.detections = []
        let none = ImageLabeled(
            imageID: labeled.imageID, name: "s.jpg", sourceURL: labeled.sourceURL, byteSize: 10, analyses: analyses,
            recognizedAt: labeled.recognizedAt, timing: labeled.timing)
        let empty = try NotificationDocument.xml(for: none, messageID: "labeled-12", settings: try Fixtures.settings())
        try SchemaValidator.notification.get().validate(empty)
        #expect(empty.contains("<lineCount type=\"number\">0</lineCount>"))
    }

    @Test func documentCarriesTheNotificationFields() throws {
        let labeled = Fixtures.labeled()
        let notifiedAt = Date(timeIntervalSince1970: 1_795_000_100)
        let json = NotificationDocument.json(for: labeled, messageID: "labeled-42", settings: try Fixtures.settings(), notifiedAt: notifiedAt)
        let xml = try NotificationDocument.xml(for: labeled, messageID: "labeled-42", settings: try Fixtures.settings(), notifiedAt: notifiedAt)
        let (root, back) = try JSONXMLMapping.json(fromXML: Data(xml.utf8))
        #expect(root == "notification")
        #expect(back == json)
        guard case .object(let document) = back, case .object(let image)? = document["image"],
            case .array(let labels)? = document["label"], case .object(let first)? = labels.first
        else {
            Issue.record("unexpected shape: \(back)")
            return
        }
        #expect(document["subject"] == .string("Labels for tabby.jpg: tabby cat, tiger cat"))
        #expect(document["to"] == .array([.string("ops@example.org"), .string("second@example.org")]))
        #expect(document["from"] == .string("pipeline@example.org"))
        #expect(document["id"] == .string("labeled-42"))
        #expect(image["sourceURL"] == .string(labeled.sourceURL))
        #expect(image["byteSize"] == .integer(123_456))
        #expect(first["confidence"] == .number(91.25))
        #expect(first["parent"] == .array([.string("cat"), .string("feline"), .string("animal")]))
        #expect(labels.count == 2)
        #expect(document["recognizedAt"] == .string("2026-11-18T11:06:40.125Z"))
        #expect(xml.contains("<sourceURL>http://127.0.0.1:8000/tabby.jpg?x=1&amp;y=2</sourceURL>"))
    }

    @Test func brokenDocumentsAreRejected() throws {
        let validator = try SchemaValidator.notification.get()
        let good = NotificationDocument.json(for: Fixtures.labeled(), messageID: "m1", settings: try Fixtures.settings(), notifiedAt: Date())
        guard case .object(let document) = good else {
            Issue.record("not an object")
            return
        }

        var noSubject = document
        noSubject["subject"] = nil
        var badAddress = document
        badAddress["from"] = .string("not an address")
        var noRecipients = document
        noRecipients["to"] = .array([])
        var image = JSONObject()
        image["id"] = .string("x")
        var incompleteImage = document
        incompleteImage["image"] = .object(image)
        var confidenceTooHigh = document
        confidenceTooHigh["label"] = .array([.object(["name": .string("cat"), "confidence": .number(150), "parent": .array([])])])
        var stringCount = document
        stringCount["schemaVersion"] = .string("1")
        var extra = document
        extra["unexpected"] = .string("x")

        for (label, broken) in [
            ("no subject", noSubject), ("bad address", badAddress), ("no recipients", noRecipients),
            ("incomplete image", incompleteImage), ("confidence 150", confidenceTooHigh),
            ("string version", stringCount), ("extra element", extra),
        ] {
            let xml = try JSONXMLMapping.xml(from: .object(broken), rootName: "notification")
            #expect(throws: NotificationError.self, "\(label)") { try validator.validate(xml) }
        }
        #expect(throws: NotificationError.self) { try validator.validate("<notification>") }
        #expect(throws: NotificationError.self) { try validator.validate("<other/>") }
        do {
            try validator.validate(try JSONXMLMapping.xml(from: .object(noSubject), rootName: "notification"))
        } catch let error as NotificationError {
            #expect("\(error)".contains("subject"), "the error names what is wrong: \(error)")
        }
    }

    @Test func subjectTemplates() throws {
        let labeled = Fixtures.labeled()
        #expect(try SubjectTemplate("Labels for {name}: {labels}").render(labeled) == "Labels for tabby.jpg: tabby cat, tiger cat")
        #expect(
            try SubjectTemplate("{top} ({confidence}%) of {count} by {model}").render(labeled)
                == "tabby cat (91.2%) of 2 by efficientnet-lite0 int8-1")
        #expect(try SubjectTemplate("{{literal}} {id}").render(labeled) == "{literal} \(labeled.imageID)")
        #expect(try SubjectTemplate("{labels}").render(Fixtures.labeled(labels: [])) == "no labels")
        #expect(throws: NotificationError.self) { try SubjectTemplate("{nope}") }
        #expect(throws: NotificationError.self) { try SubjectTemplate("open {name") }
        #expect(throws: NotificationError.self) { try SubjectTemplate("close }") }
    }

    @Test func settingsRefuseBadAddresses() throws {
        #expect(throws: NotificationError.self) { try NotificationSettings(recipients: []) }
        #expect(throws: NotificationError.self) { try NotificationSettings(recipients: ["no-at-sign"]) }
        #expect(throws: NotificationError.self) { try NotificationSettings(recipients: ["a@b", "x y@z"]) }
        #expect(throws: NotificationError.self) { try NotificationSettings(recipients: ["a@b"], sender: "evil@x\r\nBcc: y@z") }
        #expect(throws: Never.self) { try NotificationSettings(recipients: ["a@b.example"], sender: "me@host") }
    }
}
