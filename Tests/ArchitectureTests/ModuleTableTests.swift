import Foundation
import Testing

/// docs/ARCHITECTURE.md's module table stays true to Package.swift.
@Suite("module table")
struct ModuleTableTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// One target of the manifest, as `Scripts/module-graph --json` reads it.
    struct Target: Decodable {
        var kind: String
        var name: String
        var dependencies: [String]
    }

    /// The targets of Package.swift, from the same parser that prints the module graph (it reads
    /// the manifest's text: a build holds SwiftPM's lock while tests run).
    static func targets() throws -> [Target] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", root.appendingPathComponent("Scripts/module-graph").path, "--json"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return try JSONDecoder().decode([Target].self, from: data)
    }

    /// The rows of the Modules table: module name → names in the "depends on" column.
    static func table() throws -> [String: Set<String>] {
        let text = try String(contentsOf: root.appendingPathComponent("docs/ARCHITECTURE.md"), encoding: .utf8)
        guard let section = text.range(of: "## Modules") else { return [:] }
        var rows: [String: Set<String>] = [:]
        for line in text[section.upperBound...].split(separator: "\n") {
            if line.hasPrefix("## ") { break }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4, let module = cells[1].firstMatch(of: /^`([A-Za-z]+)`$/) else { continue }
            // External packages are in parentheses; the rest are our targets.
            let ours = cells[3].replacing(/\([^)]*\)/, with: "")
            rows[String(module.1)] = Set(ours.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init))
        }
        return rows
    }

    @Test("every library target has a row whose dependencies are the manifest's")
    func tableMatchesManifest() throws {
        let targets = try Self.targets()
        let table = try Self.table()
        #expect(targets.count > 20, "Package.swift was not read: \(targets.map(\.name))")
        let libraries = targets.filter { $0.kind == "target" && !$0.name.hasSuffix("TestSupport") }
        for library in libraries {
            guard let row = table[library.name] else {
                Issue.record("docs/ARCHITECTURE.md has no row for \(library.name)")
                continue
            }
            #expect(row == Set(library.dependencies), "\(library.name): table says \(row.sorted()), Package.swift \(library.dependencies.sorted())")
        }
        let known = Set(targets.map(\.name))
        for module in table.keys where !known.contains(module) {
            Issue.record("docs/ARCHITECTURE.md lists \(module), which Package.swift does not have")
        }
    }

    @Test("only CurlHTTP imports CCurl")
    func onlyTheHTTPClientImportsCurl() throws {
        let sources = Self.root.appendingPathComponent("Sources")
        let walker = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
        var importers: Set<String> = []
        while let url = walker?.nextObject() as? URL {
            guard url.pathExtension == "swift", let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            if text.contains("import CCurl") {
                importers.insert(url.path.dropFirst(sources.path.count + 1).split(separator: "/").first.map(String.init) ?? "")
            }
        }
        #expect(importers == ["CurlHTTP"])
    }
}
