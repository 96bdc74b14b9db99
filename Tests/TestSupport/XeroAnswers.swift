import Foundation

/// The captured Xero answer shapes in `Tests/Fixtures/xero-answers/` (raw HTTP responses; their
/// sources are in `SOURCES.md` there).
package enum XeroAnswers {
    package static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/xero-answers")

    /// The raw bytes of `<name>.http`.
    package static func raw(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name + ".http")))
    }

    /// Every fixture's name (without `.http`), sorted.
    package static func names() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".http") }.map { String($0.dropLast(5)) }.sorted()
    }
}
