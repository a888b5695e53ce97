import Foundation

/// What a directory holds, for tests that check nothing was left behind.
public enum FileTree {
    /// Every regular file under `root`, as paths relative to it starting with "/" (hidden files included).
    public static func files(under root: URL) -> [String] {
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        var found: [String] = []
        for case let url as URL in walker where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            found.append(String(url.path.dropFirst(root.path.count)))
        }
        return found.sorted()
    }
}
