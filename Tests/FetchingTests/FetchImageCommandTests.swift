import Bus
import Fetching
import Foundation
import ImageStore
import Imaging
import ImagingTestSupport
import PipelineModel
import TestSupport
import Testing
import WorkerRuntime

/// Runs the real `fetch-image` binary against the loopback server: result lines, summary,
/// exit codes, the store and the bus.
struct FetchImageCommandTests {
    @Test func endToEnd() async throws {
        let executable = try BuiltExecutable.url("fetch-image")
        let jpeg = try #require(Fixtures.image(.jpeg))
        let png = try #require(Fixtures.image(.png))
        let server = try await TestHTTPServer.started { server in
            await server.route("GET /a.jpg") { _ in TestResponses.ok(jpeg, contentType: "image/jpeg") }
            await server.route("GET /b.png") { _ in TestResponses.ok(png, contentType: "image/png") }
            await server.route("GET /missing.jpg") { _ in TestResponses.status(404, "Not Found") }
        }
        let dir = try TemporaryDirectory("fetch-image-e2e")
        defer { dir.remove() }
        let home = dir.url.appendingPathComponent("home").path
        let common = ["--home", home, "--retries", "0", "--log-level", "warning"]

        // 1. stdin with names, comments, a 404 and a bad line: partial failure, exit 2.
        let stdin = """
            # images for the test
            \(server.url("/a.jpg"))\tMy Cat

            \(server.url("/b.png"))
            \(server.url("/missing.jpg"))
            not-a-url with spaces
            """
        let first = try await ProcessRunner.run(executable, common + ["--allow-private"], stdin: Data(stdin.utf8), timeout: 120)
        #expect(first.status == 2, "stderr: \(first.stderr)")
        let lines = first.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(lines)")
        let jpegID = SHA256Hex.of(jpeg)
        let pngID = SHA256Hex.of(png)
        #expect(lines.contains("ok  \(jpegID.prefix(12))  My Cat  64x48  \(server.url("/a.jpg"))"), "\(lines)")
        #expect(lines.contains("ok  \(pngID.prefix(12))  b.png  64x48  \(server.url("/b.png"))"), "\(lines)")
        #expect(lines.contains("FAIL  \(server.url("/missing.jpg"))  404 Not Found"), "\(lines)")
        #expect(lines.contains { $0.hasPrefix("FAIL  not-a-url with spaces  invalid input") }, "\(lines)")
        #expect(first.stderr.contains("2 ok, 0 duplicates, 2 failed in "), "\(first.stderr)")

        // A fetcher killed mid-write an hour ago left a temporary file: the next run removes it.
        let stale = ImageStore(root: URL(fileURLWithPath: home).appendingPathComponent("images"))
            .temporaryDirectory.appendingPathComponent("\(jpegID).42.tmp")
        try Data(jpeg.prefix(100)).write(to: stale)
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-3600)], ofItemAtPath: stale.path)

        // 2. Same images as arguments: duplicates, success, nothing new published.
        let second = try await ProcessRunner.run(
            executable,
            common + [
                "--allow-private", "--format", "json",
                server.url("/a.jpg"), server.url("/b.png"),
            ], timeout: 120)
        #expect(second.status == 0, "stderr: \(second.stderr)")
        let results = try second.stdout.split(separator: "\n").map { try JSONDecoder().decode(FetchResult.self, from: Data($0.utf8)) }
        #expect(results.map(\.status) == [.duplicate, .duplicate])
        #expect(Set(results.compactMap(\.imageID)) == [jpegID, pngID])
        #expect(second.stderr.contains("0 ok, 2 duplicates, 0 failed"))
        #expect(!FileManager.default.fileExists(atPath: stale.path), "the stale temporary file should be gone")

        // 3. Without --allow-private the loopback server is refused.
        let third = try await ProcessRunner.run(executable, common + [server.url("/a.jpg")], timeout: 120)
        #expect(third.status == 2)
        #expect(third.stdout.contains("FAIL  \(server.url("/a.jpg"))  refused loopback address 127.0.0.1"), "\(third.stdout)")

        // 4. Usage errors exit 64.
        let usage = try await ProcessRunner.run(executable, common + ["--parallel", "0", server.url("/a.jpg")], timeout: 120)
        #expect(usage.status == 64, "\(usage.stderr)")

        // The store holds exactly the two images; the bus got one event per new image.
        let images = Fixtures.files(under: URL(fileURLWithPath: home).appendingPathComponent("images"))
        #expect(images.count == 2, "\(images)")
        #expect(images.allSatisfy { !$0.hasSuffix(".tmp") })
        let bus = try FileBus(root: URL(fileURLWithPath: home).appendingPathComponent("bus"))
        let messages = try await bus.receive(from: Topology.recognizeQueue, maxMessages: 10, visibilityTimeout: 60, wait: 1)
        let events = try messages.map { try $0.decodeBody(ImageStored.self) }
        #expect(Set(events.map(\.imageID)) == [jpegID, pngID])
        #expect(events.first { $0.imageID == jpegID }?.name == "My Cat")
        #expect(events.allSatisfy { FileManager.default.fileExists(atPath: $0.storedPath) })
        await server.stop()
    }
}

extension FetchImageCommandTests {
    /// Results arrive while standard input is still open: the first URL's line is printed
    /// before the second URL is even written.
    @Test func streamsWhileStandardInputIsOpen() async throws {
        let executable = try BuiltExecutable.url("fetch-image")
        let gif = try #require(Fixtures.image(.gif))
        let tiff = try #require(Fixtures.image(.tiff))
        let server = try await TestHTTPServer.started { server in
            await server.route("GET /1.gif") { _ in TestResponses.ok(gif, contentType: "image/gif") }
            await server.route("GET /2.tif") { _ in TestResponses.ok(tiff, contentType: "image/tiff") }
        }
        let dir = try TemporaryDirectory("fetch-image-stream")
        defer { dir.remove() }
        let process = Process()
        process.executableURL = executable
        process.arguments = ["--home", dir.url.path, "--allow-private", "--log-level", "error"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        input.fileHandleForWriting.write(Data("\(server.url("/1.gif"))\n".utf8))
        let firstLine = try await Self.readLine(from: output.fileHandleForReading)
        #expect(firstLine.hasPrefix("ok  ") && firstLine.hasSuffix("/1.gif"), "\(firstLine)")
        #expect(process.isRunning, "still waiting for more input")

        input.fileHandleForWriting.write(Data("\(server.url("/2.tif"))\n".utf8))
        try input.fileHandleForWriting.close()
        let secondLine = try await Self.readLine(from: output.fileHandleForReading)
        #expect(secondLine.hasPrefix("ok  ") && secondLine.hasSuffix("/2.tif"), "\(secondLine)")
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        await server.stop()
    }

    /// Reads bytes up to a newline on a background thread (generous deadline, not a timing
    /// assertion: it only keeps a broken build from hanging the suite).
    static func readLine(from handle: FileHandle) async throws -> String {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
            Thread.detachNewThread {
                var bytes = Data()
                while true {
                    let byte = handle.readData(ofLength: 1)
                    if byte.isEmpty || byte == Data([0x0A]) { break }
                    bytes.append(byte)
                }
                continuation.resume(returning: String(decoding: bytes, as: UTF8.self))
            }
        }
    }
}

/// Test-side shorthand for the store's hash.
enum SHA256Hex {
    static func of(_ data: Data) -> String { SHA256.hex(of: data) }
}

/// A real full disk: the image store on a tiny tmpfs mount (needs root to mount; CI runs as
/// root, elsewhere the injected-failure tests in FetcherTests cover the same path).
@Suite(.enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
struct FullDiskTests {
    @Test func fullImageStoreGivesAClearErrorAndLeavesNothing() async throws {
        let executable = try BuiltExecutable.url("fetch-image")
        // Noise does not compress: about 150 KB of JPEG, more than the 64 KiB mount holds.
        var generator = SystemRandomNumberGenerator()
        let noise = (0..<(300 * 300 * 3)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let big = try ImageEncoder.encode(Raster(width: 300, height: 300, bands: 3, samples: noise), as: .jpeg)
        let small = try #require(Fixtures.image(.jpeg))
        #expect(big.count > 100_000)
        let server = try await TestHTTPServer.started { server in
            await server.route("GET /big.jpg") { _ in TestResponses.ok(big, contentType: "image/jpeg") }
            await server.route("GET /small.jpg") { _ in TestResponses.ok(small, contentType: "image/jpeg") }
        }
        let dir = try TemporaryDirectory("fetch-image-full-disk")
        defer { dir.remove() }
        let home = dir.url.appendingPathComponent("home")
        let images = home.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        let mount = try await ProcessRunner.run(
            URL(fileURLWithPath: "/bin/mount"),
            ["-t", "tmpfs", "-o", "size=64k", "tmpfs", images.path], timeout: 30)
        try #require(mount.status == 0, "mount failed: \(mount.stderr)")
        defer { _ = try? ProcessRunner.run(URL(fileURLWithPath: "/bin/umount"), [images.path], timeout: 30) }

        let common = ["--home", home.path, "--retries", "0", "--log-level", "warning", "--allow-private"]
        let full = try await ProcessRunner.run(executable, common + [server.url("/big.jpg")], timeout: 120)
        #expect(full.status == 2, "stderr: \(full.stderr)")
        #expect(full.stdout.contains("FAIL  \(server.url("/big.jpg"))"), "\(full.stdout)")
        #expect(full.stdout.contains("No space left on device"), "\(full.stdout)")
        #expect(full.stdout.contains("free disk space"), "\(full.stdout)")
        #expect(Fixtures.files(under: images).isEmpty, "no partial or temporary file is left")

        // Nothing was announced, and the store still works for what fits.
        let bus = try FileBus(root: home.appendingPathComponent("bus"))
        let none = try await bus.receive(from: Topology.recognizeQueue, maxMessages: 10, visibilityTimeout: 60, wait: 0)
        #expect(none.isEmpty)
        let fits = try await ProcessRunner.run(executable, common + [server.url("/small.jpg")], timeout: 120)
        #expect(fits.status == 0, "stderr: \(fits.stderr)")
        #expect(Fixtures.files(under: images).count == 1)
        await server.stop()
    }
}
