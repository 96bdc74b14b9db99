import Foundation

/// A fresh directory under the system temp dir, removed by `remove()`.
package struct TemporaryDirectory: Sendable {
    package let path: String

    package init(_ prefix: String = "xero-webhookd-test") throws {
        let base = FileManager.default.temporaryDirectory.path
        path = base + "/\(prefix)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    package func file(_ name: String) -> String { path + "/" + name }

    package func remove() {
        try? FileManager.default.removeItem(atPath: path)  // best effort: a leftover temp dir harms nothing
    }
}

/// Writes `text` to `path`, replacing it; fails the caller loudly if it cannot.
package func writeFile(_ path: String, _ text: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}
