import Foundation
import NotificationTestSupport
import NotificationXML
import TestSupport
import Testing

/// The generic JSON <-> XML mapping: round trips and edge cases.
struct JSONXMLMappingTests {
    private func roundTrip(_ value: JSONNode, root: String = "doc") throws -> (xml: String, back: JSONNode) {
        let xml = try JSONXMLMapping.xml(from: value, rootName: root)
        let (rootName, back) = try JSONXMLMapping.json(fromXML: Data(xml.utf8))
        #expect(rootName == root)
        return (xml, back)
    }

    @Test func nestedObjectsArraysAndScalarsRoundTrip() throws {
        let value: JSONNode = .object([
            "name": .string("tabby"),
            "count": .integer(3),
            "big": .integer(9_007_199_254_740_993),
            "ratio": .number(0.125),
            "whole": .number(93.0),
            "tiny": .number(1e-7),
            "on": .bool(true),
            "off": .bool(false),
            "nothing": .null,
            "nested": .object(["deeper": .object(["deepest": .string("x")])]),
            "list": .array([.string("a"), .integer(1), .null, .object(["k": .string("v")]), .object([:])]),
            "single": .array([.string("only")]),
            "empty": .array([]),
            "emptyObject": .object([:]),
            "emptyString": .string(""),
        ])
        let (_, back) = try roundTrip(value)
        #expect(back == value)
    }

    @Test func arraysBecomeRepeatedElements() throws {
        let xml = try JSONXMLMapping.xml(from: .object(["to": .array([.string("a@x"), .string("b@y")])]), rootName: "doc")
        #expect(xml.contains("<to array=\"true\">a@x</to>"))
        #expect(xml.contains("<to array=\"true\">b@y</to>"))
        let empty = try JSONXMLMapping.xml(from: .object(["to": .array([])]), rootName: "doc")
        #expect(empty.contains("<to array=\"empty\"/>"))
    }

    @Test func nestedArraysAndNonObjectRootsRoundTrip() throws {
        let values: [JSONNode] = [
            .array([.array([.integer(1), .integer(2)]), .array([]), .array([.array([.string("deep")])])]),
            .object(["matrix": .array([.array([.number(1.5)]), .array([.integer(2), .integer(3)])])]),
            .string("just a string"),
            .integer(42),
            .null,
            .array([]),
        ]
        for value in values {
            let (_, back) = try roundTrip(value)
            #expect(back == value)
        }
    }

    @Test func unicodeAndWhitespaceSurviveUnchanged() throws {
        let texts = [
            "Zürich ☕️ 猫 🐈‍⬛", "e\u{301} combining", "  leading and trailing  ", "\t\n", "line1\nline2\r\nline3\rend",
            "<tag> & \"quotes\" 'apos' ]]>", "_x0041_ looks like an escape", "_x", "a_xy_", "right-to-left \u{202E}",
        ]
        for text in texts {
            let (xml, back) = try roundTrip(.object(["t": .string(text)]))
            #expect(back == .object(["t": .string(text)]), "text \(text.debugDescription) came back as \(back) from \(xml)")
            #expect(!xml.contains("escaped="), "no escaping needed for \(text.debugDescription)")
        }
    }

    @Test func forbiddenCharactersAreEscapedReversibly() throws {
        let texts = [
            "nul\u{0}byte", "bell\u{7}", "\u{1}\u{2}\u{8}\u{B}\u{C}\u{E}\u{1F}", "noncharacter \u{FFFE}\u{FFFF}",
            "mixed \u{1B}[31m red _x0041_ and _x",
        ]
        for text in texts {
            let (xml, back) = try roundTrip(.object(["t": .string(text)]))
            #expect(back == .object(["t": .string(text)]))
            #expect(xml.contains("escaped=\"true\""))
            #expect(
                xml.unicodeScalars.allSatisfy { scalar in
                    scalar.value == 0x9 || scalar.value == 0xA || scalar.value == 0xD
                        || (scalar.value >= 0x20 && scalar.value != 0xFFFE && scalar.value != 0xFFFF)
                })
        }
    }

    @Test func keysThatAreNotXMLNamesAreEncodedReversibly() throws {
        let expectations: [(String, String)] = [
            ("1abc", "_x0031_abc"),
            ("with space", "with_x0020_space"),
            ("ns:local", "ns_x003A_local"),
            ("-dash", "_x002D_dash"),
            ("a.b-c_d", "a.b-c_d"),
            ("_x41", "_x005F_x41"),
            ("xmlThing", "_x0078_mlThing"),
            ("", "_x_"),
            ("😀", "😀"),
            ("\u{F0000}", "_x000F0000_"),
            ("a\u{E000}", "a_xE000_"),
            ("größe", "größe"),
        ]
        for (key, name) in expectations {
            #expect(XMLNameCoding.encode(key) == name, "encode \(key.debugDescription)")
            #expect(XMLNameCoding.decode(name) == key, "decode \(name)")
        }
        var object = JSONObject()
        for (index, key) in [
            "1abc", "with space", "ns:local", "a/b", "x y:z", "", "_x_", "_x0031_", "123", "@attr", "#text",
            "tab\there", "new\nline", "nul\u{0}", "emoji 🐈", "XML", "xmlns", "a=b&c<d>",
        ].enumerated() {
            object[key] = .integer(Int64(index))
        }
        let (_, back) = try roundTrip(.object(object))
        #expect(back == .object(object))
    }

    @Test func randomKeysAndTextsRoundTrip() throws {
        // A fixed-seed generator: the same varied inputs on every run.
        var generator = SplitMix64(seed: 0x5EED)
        let alphabet: [Unicode.Scalar] = [
            "a", "Z", "0", "9", "_", "x", "X", "-", ".", ":", " ", "\u{0}", "\u{1}", "\t", "\n", "\r",
            "<", "&", "é", "\u{301}", "猫", "\u{FFFE}", "\u{1F600}", "\u{10FFFD}", "\u{B7}", "\u{2040}",
        ]
        for _ in 0..<200 {
            let length = Int(generator.next() % 8)
            var key = String.UnicodeScalarView()
            var text = String.UnicodeScalarView()
            for _ in 0..<length {
                key.append(alphabet[Int(generator.next() % UInt64(alphabet.count))])
                text.append(alphabet[Int(generator.next() % UInt64(alphabet.count))])
            }
            let value: JSONNode = .object([String(key): .string(String(text))])
            let (_, back) = try roundTrip(value)
            #expect(back == value, "key \(String(key).debugDescription) text \(String(text).debugDescription)")
        }
    }

    @Test func jsonTextParsesAndRoundTripsThroughXML() throws {
        let text = #"{"b":[1,2.5,true,null,"s",{"c":[]}],"a":{"x y":"\u0001"},"n":-7,"e":1e300,"z":false}"#
        let value = try JSONNode.parse(Data(text.utf8))
        #expect(
            value
                == .object([
                    "a": .object(["x y": .string("\u{1}")]),
                    "b": .array([.integer(1), .number(2.5), .bool(true), .null, .string("s"), .object(["c": .array([])])]),
                    "e": .number(1e300), "n": .integer(-7), "z": .bool(false),
                ]))
        let (_, back) = try roundTrip(value)
        #expect(back == value)
        #expect(try JSONNode.parse(Data(back.jsonText().utf8)) == value)
    }

    @Test func xmlThatDoesNotFollowTheMappingIsRefused() throws {
        let bad = [
            "<doc><a>1</a><a>2</a></doc>",  // repeated without array="true"
            "<doc>text<a>1</a></doc>",  // mixed content
            "<doc><a type=\"number\">ten</a></doc>",
            "<doc><a type=\"boolean\">yes</a></doc>",
            "<doc><a type=\"date\">x</a></doc>",
            "<doc><a array=\"maybe\">x</a></doc>",
        ]
        for text in bad {
            #expect(throws: NotificationError.self, "\(text)") { try JSONXMLMapping.json(fromXML: Data(text.utf8)) }
        }
        #expect(throws: NotificationError.self) { try JSONXMLMapping.json(fromXML: Data("<doc><unclosed></doc>".utf8)) }
        #expect(throws: NotificationError.self) { try JSONXMLMapping.json(fromXML: Data()) }
    }

    @Test func externalEntitiesAreNotExpanded() throws {
        let dir = try TemporaryDirectory("notify-xxe")
        defer { dir.remove() }
        let secret = dir.url.appendingPathComponent("secret.txt")
        try Data("TOP SECRET".utf8).write(to: secret)
        let xml = "<?xml version=\"1.0\"?><!DOCTYPE doc [<!ENTITY s SYSTEM \"file://\(secret.path)\">]><doc><a>&s;</a></doc>"
        let parsed = try? JSONXMLMapping.json(fromXML: Data(xml.utf8))
        #expect(parsed.map { "\($0.value)".contains("TOP SECRET") } != true)
    }
}

/// A tiny seeded generator (SplitMix64) for reproducible varied inputs.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
