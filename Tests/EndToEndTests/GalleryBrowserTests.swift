import Foundation
import TestSupport
import Testing

/// pipeline-api as a user runs it (a key file, a recognizer behind it, real photos from a loopback
/// web server), held to what a person sees in a real browser (chromium via selenium:
/// Tests/EndToEndTests/Browser/gallery_browser.py) and to its OpenAPI document (schemathesis).
/// Scripts/setup installs chromium, chromium-driver and the Python tools into .venv-web.
@Suite("Gallery and API end to end", .serialized)
struct GalleryBrowserTests {
    static let root = BuiltExecutable.projectRoot()
    static let samples = root.appendingPathComponent("Models/samples")
    static let python = root.appendingPathComponent(".venv-web/bin/python")

    /// A running pipeline: photos served on loopback, pipeline-api with a submit key, a recognizer.
    struct Stack {
        let temp: TemporaryDirectory
        let home: URL
        let server: TestHTTPServer
        let api: Process
        let recognize: Process
        let base: String
        let key: String

        func stop() async {
            for process in [api, recognize] { process.terminate() }
            for process in [api, recognize] { process.waitUntilExit() }
            await server.stop()
        }

        /// `curl` against the API with the key; the body.
        func curl(_ arguments: [String]) throws -> ProcessOutput {
            try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/curl"), ["-sS", "-H", "Authorization: Bearer \(key)"] + arguments, timeout: 120)
        }

        /// Waits until the API lists `count` images.
        func waitForImages(_ count: Int, timeout: TimeInterval = 240) async throws {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                let reply = try curl(["\(base)/v1/images?limit=200"])
                if let object = try? JSONSerialization.jsonObject(with: Data(reply.stdout.utf8)) as? [String: Any],
                    let images = object["images"] as? [Any], images.count >= count
                {
                    return
                }
                try await Task.sleep(for: .milliseconds(500))
            }
            let log = (try? String(contentsOf: temp.url.appendingPathComponent("recognize.log"), encoding: .utf8)) ?? ""
            throw PipelineEndToEndTests.Timeout(what: "\(count) recognized images\n\(log.suffix(2000))", seconds: timeout)
        }
    }

    static let photos = ["cat.jpg", "grace-hopper.jpg", "page.png", "rocket.jpg"]

    static func start() async throws -> Stack {
        let temp = try TemporaryDirectory("gallery")
        let home = temp.url.appendingPathComponent("home")
        let server = try await TestHTTPServer.started()
        for photo in photos + ["coffee.jpg"] {
            let bytes = try Data(contentsOf: samples.appendingPathComponent(photo))
            await server.route("/photos/\(photo)") { _ in TestResponses.ok(bytes, contentType: "image/jpeg") }
        }
        // The key is made by the tool itself and printed once; the file holds only its hash.
        let keyFile = temp.url.appendingPathComponent("keys")
        let made = try await ProcessRunner.run(
            try BuiltExecutable.url("pipeline-api"),
            ["keys", "add", "browser", "--scope", "submit", "--keys", keyFile.path, "--rate", "500", "--burst", "1000"])
        #expect(made.status == 0, "\(made.stderr)")
        let key = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let keyText = try String(contentsOf: keyFile, encoding: .utf8)
        #expect(!keyText.contains(key) && keyText.contains("browser submit sha256:"))

        let portFile = temp.url.appendingPathComponent("api.port")
        let api = try ProcessRunner.start(
            try BuiltExecutable.url("pipeline-api"),
            ["--home", home.path, "--port", "0", "--port-file", portFile.path, "--keys", keyFile.path, "--allow-private", "--timeout", "5"],
            logFile: temp.url.appendingPathComponent("api.log"))
        let port = try await PipelineEndToEndTests.waitForContents(of: portFile)
        let recognize = try ProcessRunner.start(
            try BuiltExecutable.url("recognize"), ["run", "--home", home.path, "--features", "all", "--threads", "2"],
            logFile: temp.url.appendingPathComponent("recognize.log"))
        return Stack(temp: temp, home: home, server: server, api: api, recognize: recognize, base: "http://127.0.0.1:\(port)", key: key)
    }

    @Test("the grid shows the images, a search narrows it, pages draw face and text boxes, the form adds an image")
    func browser() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python.path) else {
            Issue.record("no \(Self.python.path): run Scripts/setup (installs chromium, chromium-driver, selenium)")
            return
        }
        let stack = try await Self.start()
        defer { stack.temp.remove() }
        // The original app's first endpoint, as the README shows it: a URL and a name, one POST each.
        for photo in Self.photos {
            let name = (photo as NSString).deletingPathExtension
            let reply = try stack.curl([
                "-X", "POST", "\(stack.base)/v1/images", "-H", "Content-Type: application/json", "-w", "\n%{http_code}",
                "-d", #"{"url": "\#(stack.server.url("/photos/\(photo)"))", "name": "\#(name)"}"#,
            ])
            #expect(reply.stdout.hasSuffix("\n202"), "\(photo): \(reply.stdout) \(reply.stderr)")
        }
        try await stack.waitForImages(Self.photos.count)

        let screenshots = Self.root.appendingPathComponent(".build/screenshots")
        try FileManager.default.createDirectory(at: screenshots, withIntermediateDirectories: true)
        let run = try await ProcessRunner.run(
            Self.python,
            [
                Self.root.appendingPathComponent("Tests/EndToEndTests/Browser/gallery_browser.py").path, "--base", stack.base, "--key", stack.key,
                "--expect", "cat,grace-hopper,page,rocket", "--face-image", "grace-hopper", "--text-image", "page",
                "--submit-url", stack.server.url("/photos/coffee.jpg"), "--submit-name", "coffee", "--screenshots", screenshots.path,
            ], timeout: 400)
        #expect(run.status == 0, "browser checks:\n\(run.stdout)\n\(run.stderr.suffix(3000))")
        for shot in ["gallery-grid.png", "gallery-image.png", "gallery-phone.png"] {
            #expect(FileManager.default.fileExists(atPath: screenshots.appendingPathComponent(shot).path), "\(shot)")
        }
        await stack.stop()
        #expect(stack.api.terminationStatus == 0, "pipeline-api stops cleanly on SIGTERM")
    }

    @Test("pipeline-api refuses to listen off loopback without keys, and names the fix")
    func refusesOpenNetworkListening() throws {
        let temp = try TemporaryDirectory("api-bind")
        defer { temp.remove() }
        let run = try ProcessRunner.run(
            try BuiltExecutable.url("pipeline-api"), ["--home", temp.url.path, "--host", "0.0.0.0", "--port", "0"], timeout: 30)
        #expect(run.status == 64, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stderr.contains("without API keys") && run.stderr.contains("keys add"))
        let missing = try ProcessRunner.run(
            try BuiltExecutable.url("pipeline-api"), ["--home", temp.url.path, "--keys", temp.url.appendingPathComponent("none").path], timeout: 30)
        #expect(missing.status == 64 && missing.stderr.contains("cannot read the key file"), "\(missing.stderr)")
    }

    @Test("schemathesis finds no server error and no answer outside docs/openapi.yaml")
    func openAPIConformance() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python.path) else {
            Issue.record("no \(Self.python.path): run Scripts/setup (installs schemathesis)")
            return
        }
        let stack = try await Self.start()
        defer { stack.temp.remove() }
        let reply = try stack.curl([
            "-X", "POST", "\(stack.base)/v1/images", "-H", "Content-Type: application/json",
            "-d", #"[{"url": "\#(stack.server.url("/photos/cat.jpg"))", "name": "cat"}, {"url": "\#(stack.server.url("/photos/page.png"))"}]"#,
        ])
        #expect(reply.stdout.contains("\"accepted\""), "\(reply.stdout)")
        try await stack.waitForImages(2)
        let run = try await ProcessRunner.run(
            Self.python,
            [
                "-m", "schemathesis.cli", "run", "\(stack.base)/openapi.yaml", "--url", stack.base, "-H", "Authorization: Bearer \(stack.key)",
                "--checks", "all", "--exclude-checks", "positive_data_acceptance,unsupported_method", "--phases", "examples,coverage,fuzzing",
                "--max-examples", "30", "--workers", "2", "--seed", "1",
            ],
            environment: ["SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"], timeout: 900)
        #expect(run.status == 0, "schemathesis:\n\(run.stdout.suffix(6000))\n\(run.stderr.suffix(2000))")
        #expect(run.stdout.contains("SUMMARY"))
        await stack.stop()
    }
}
