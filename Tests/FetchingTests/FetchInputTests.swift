import Fetching
import Testing

struct FetchInputTests {
    @Test func parsesURLsNamesCommentsAndBlanks() {
        #expect(FetchInput.parse(line: "http://a.example/cat.jpg") == .request(url: "http://a.example/cat.jpg", name: nil))
        #expect(FetchInput.parse(line: "http://a.example/cat.jpg\tMy Cat\r\n") == .request(url: "http://a.example/cat.jpg", name: "My Cat"))
        #expect(FetchInput.parse(line: "  http://a.example/x.png  ") == .request(url: "http://a.example/x.png", name: nil))
        #expect(FetchInput.parse(line: "http://a.example/x.png\t") == .request(url: "http://a.example/x.png", name: nil))
        #expect(FetchInput.parse(line: "") == nil)
        #expect(FetchInput.parse(line: "   ") == nil)
        #expect(FetchInput.parse(line: "# a comment") == nil)
        #expect(FetchInput.parse(line: "  # indented comment") == nil)
    }

    @Test func reportsBadLines() {
        guard case .invalid(_, let reason) = FetchInput.parse(line: "http://a.example/a b.jpg") else {
            Issue.record("a URL with a space must be invalid")
            return
        }
        #expect(reason.contains("spaces"))
        guard case .invalid = FetchInput.parse(line: "\tjust a name") else {
            Issue.record("a name without URL must be invalid")
            return
        }
    }

    @Test func sanitizesNames() {
        #expect(NameSanitizer.sanitize("../../etc/passwd") == "_._etc_passwd")
        #expect(NameSanitizer.sanitize("cat\u{0}\u{7}\u{1B}[31m.jpg") == "cat[31m.jpg")
        #expect(NameSanitizer.sanitize("..") == nil)
        #expect(NameSanitizer.sanitize("  \u{202E}gpj.exe ") == "gpj.exe")
        #expect(NameSanitizer.sanitize(String(repeating: "x", count: 1000))?.count == NameSanitizer.maxLength)
        #expect(NameSanitizer.sanitize("a\\b/c") == "a_b_c")
    }

    @Test func defaultsNameToLastPathComponent() {
        #expect(NameSanitizer.name(given: nil, url: "http://a.example/photos/cat%20one.jpg?size=2") == "cat one.jpg")
        #expect(NameSanitizer.name(given: "  ", url: "http://a.example/dog.png") == "dog.png")
        #expect(NameSanitizer.name(given: "Rex", url: "http://a.example/dog.png") == "Rex")
        #expect(NameSanitizer.name(given: nil, url: "http://a.example/") == "a.example")
        #expect(NameSanitizer.name(given: nil, url: "http://a.example/..%2F..%2Fx") == "_._x")
    }
}
