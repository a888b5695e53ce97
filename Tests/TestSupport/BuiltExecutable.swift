import Foundation

/// Finds the executables built alongside the test bundle (`swift build --build-tests` builds
/// them into the same directory), so end-to-end tests run the real binaries.
public enum BuiltExecutable {
    /// The build products directory holding the test bundle.
    public static var directory: URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // On Linux the runner is `<bin>/<Package>PackageTests.xctest`; step out of any bundle folder.
        while dir.pathExtension == "xctest" || dir.lastPathComponent == "MacOS" || dir.lastPathComponent == "Contents" {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }

    /// The path of executable `name`, or an error telling how to build it.
    public static func url(_ name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw MissingExecutable(name: name, directory: directory.path)
        }
        return url
    }

    /// The project's root directory (for Models/ and fixtures).
    public static func projectRoot(file: StaticString = #filePath) -> URL {
        URL(fileURLWithPath: "\(file)").deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}

/// An executable the test needs was not built.
public struct MissingExecutable: Error, CustomStringConvertible {
    public var name: String
    public var directory: String
    public var description: String {
        "executable \(name) not found in \(directory); build everything first: `swift build --build-tests` (Scripts/test does)"
    }
}
