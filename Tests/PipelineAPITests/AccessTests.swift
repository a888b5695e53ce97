import Foundation
import PipelineAPI
import TestSupport
import Testing

@Suite("API: keys, scopes, rate limits, listening", .serialized)
struct AccessTests {
    static let readKey = "read-key-0123456789abcdef"
    static let submitKey = "submit-key-0123456789abcdef"
    static let slowKey = "slow-key-0123456789abcdef"
    static let keys = [
        APIKey(name: "reader", scope: .read, hash: APIKeyring.hash(of: readKey)),
        APIKey(name: "submitter", scope: .submit, hash: APIKeyring.hash(of: submitKey)),
        APIKey(name: "slow", scope: .read, hash: APIKeyring.hash(of: slowKey), rate: 0.5, burst: 2),
    ]

    @Test("no key 401 with WWW-Authenticate; unknown key 401; read key cannot submit (403); open routes stay open")
    func keysAndScopes() async throws {
        let api = try await APIFixture(keys: Self.keys)
        try api.addSamples()
        let anonymous = try await api.get("/v1/images")
        #expect(anonymous.status == 401 && anonymous.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
        #expect(try await api.get("/v1/images", headers: ["Authorization: Bearer wrong"]).status == 401)
        #expect(try await api.get("/metrics").status == 401)
        #expect(try await api.get("/v1/images", headers: ["Authorization: Bearer \(Self.readKey)"]).status == 200)
        let denied = try await api.postJSON("/v1/images", #"{"url": "http://example.org/a.jpg"}"#, headers: ["Authorization: Bearer \(Self.readKey)"])
        #expect(denied.status == 403 && String(decoding: denied.body, as: UTF8.self).contains("insufficient_scope"))
        let allowed = try await api.postJSON("/v1/images", "{}", headers: ["Authorization: Bearer \(Self.submitKey)"])
        #expect(allowed.status == 400, "the submit key gets past the check to the body's validation")
        #expect(try await api.get("/v1/images", headers: ["Authorization: Bearer \(Self.submitKey)"]).status == 200, "submit includes read")
        for open in ["/healthz", "/readyz", "/openapi.yaml", "/gallery.css", "/login"] {
            #expect(try await api.get(open).status == 200, "\(open)")
        }
        // The gallery sends a browser to the login form; the form sets a cookie that then works.
        let page = try await api.get("/")
        #expect(page.status == 303 && page.headers["location"] == "/login")
        let login = try await api.request(
            .post, "/login", body: Data("key=\(Self.readKey)".utf8), headers: ["Content-Type: application/x-www-form-urlencoded"])
        #expect(login.status == 303)
        let cookie = try #require(login.headers["set-cookie"])
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
        let withCookie = try await api.get("/", headers: ["Cookie: pipeline_key=\(Self.readKey)"])
        #expect(withCookie.status == 200 && String(decoding: withCookie.body, as: UTF8.self).contains("grace-hopper"))
        await api.stop()
    }

    @Test("a key past its rate gets 429 with Retry-After; other keys are not slowed")
    func rateLimits() async throws {
        let api = try await APIFixture(keys: Self.keys)
        let slow = ["Authorization: Bearer \(Self.slowKey)"]
        #expect(try await api.get("/healthz", headers: slow).status == 200, "open routes do not spend tokens")
        #expect(try await api.get("/v1/queues", headers: slow).status == 200)
        #expect(try await api.get("/v1/queues", headers: slow).status == 200)
        let limited = try await api.get("/v1/queues", headers: slow)
        #expect(limited.status == 429)
        #expect(Int(limited.headers["retry-after"] ?? "") ?? 0 >= 1)
        #expect(String(decoding: limited.body, as: UTF8.self).contains("rate_limited"))
        #expect(try await api.get("/v1/queues", headers: ["Authorization: Bearer \(Self.readKey)"]).status == 200)
        await api.stop()
    }

    @Test("the key file: written hashed, read back, mistakes named by line")
    func keyFile() throws {
        let key = APIKeyring.generateKey()
        #expect(key.hasPrefix("ipk_") && key.count >= 40)
        let entry = APIKey(name: "ops", scope: .submit, hash: APIKeyring.hash(of: key), rate: 5, burst: 10)
        #expect(!entry.line.contains(key))
        let ring = try APIKeyring.parse("# comment\n\n" + entry.line + "\n")
        #expect(ring.key(for: key) == entry)
        #expect(ring.key(for: key + "x") == nil)
        for (text, fragment) in [
            ("ops admin sha256:\(entry.hash)", "scope"), ("ops read \(key)", "sha256"), ("ops read sha256:\(entry.hash) rate=0", "rate"),
            ("a read sha256:\(entry.hash)\na read sha256:\(entry.hash)", "twice"), ("ops", "expected"),
        ] {
            #expect(throws: APIKeyring.FileError.self) { try APIKeyring.parse(text) }
            do { _ = try APIKeyring.parse(text) } catch { #expect("\(error)".contains(fragment), "\(text): \(error)") }
        }
    }

    @Test("an open server listens on loopback only")
    func listeningRule() throws {
        let open = APIKeyring(keys: [])
        for host in ["127.0.0.1", "localhost", "::1"] { try ListenAddress(host: host, port: 8080).check(keyring: open) }
        for host in ["0.0.0.0", "192.168.1.10", "::"] {
            #expect(throws: APIServer.ConfigurationError.self) { try ListenAddress(host: host, port: 8080).check(keyring: open) }
        }
        try ListenAddress(host: "0.0.0.0", port: 8080).check(keyring: APIKeyring(keys: Self.keys))
    }
}
