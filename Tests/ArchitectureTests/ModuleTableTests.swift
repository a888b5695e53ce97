import Foundation
import Testing

/// docs/ARCHITECTURE.md's module table stays true to Package.swift.
@Suite("module table")
struct ModuleTableTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// One target of the manifest.
    struct Target: Equatable {
        var kind: String
        var name: String
        var dependencies: Set<String>
    }

    /// The targets of Package.swift, read from its text (a build holds SwiftPM's lock while tests run).
    static func targets() throws -> [Target] {
        var text = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        text = text.replacing(/\/\/[^\n]*/, with: "")
        let characters = Array(text)
        let start = /\.(systemLibrary|target|executableTarget|testTarget)\(\s*name:\s*"([^"]+)"/
        var result: [Target] = []
        for match in text.matches(of: start) {
            let open = text.distance(from: text.startIndex, to: match.range.lowerBound)
            guard let paren = characters[open...].firstIndex(of: "(") else { continue }
            let call = String(characters[paren..<closing(characters, from: paren, "(", ")")])
            var dependencies = Set<String>()
            if let list = call.firstMatch(of: /dependencies:\s*\[/) {
                let callCharacters = Array(call)
                let bracket = call.distance(from: call.startIndex, to: list.range.upperBound) - 1
                var body = String(callCharacters[bracket..<closing(callCharacters, from: bracket, "[", "]")])
                body = body.replacing(/\.product\([^)]*\)/, with: "")
                dependencies = Set(body.matches(of: /"([^"]+)"/).map { String($0.1) })
            }
            result.append(Target(kind: String(match.1), name: String(match.2), dependencies: dependencies))
        }
        return result
    }

    /// The index just past the bracket closing the one at `start` (string literals skipped).
    static func closing(_ characters: [Character], from start: Int, _ open: Character, _ close: Character) -> Int {
        var depth = 0
        var inString = false
        var index = start
        while index < characters.count {
            let character = characters[index]
            if inString {
                if character == "\\" { index += 1 } else if character == "\"" { inString = false }
            } else if character == "\"" {
                inString = true
            } else if character == open {
                depth += 1
            } else if character == close {
                depth -= 1
                if depth == 0 { return index + 1 }
            }
            index += 1
        }
        return characters.count
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
            #expect(row == library.dependencies, "\(library.name): table says \(row.sorted()), Package.swift \(library.dependencies.sorted())")
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
