import Foundation

/// Sequences finished (delivered or dead-lettered) above the consumer position, kept in
/// `<state>/worker/finished.json` so a restart does not fetch and deliver them again while an
/// older event still holds the position back. Confined to the worker's actor.
struct FinishedStore {
    let path: String
    /// What the file says (or will say after the next `takeChanges`).
    private(set) var saved: Set<UInt64> = []

    init(directory: String) {
        path = directory + "/finished.json"
        if let data = FileManager.default.contents(atPath: path),
           let decoded = try? JSONDecoder().decode([UInt64].self, from: data) {
            // A damaged file only means some finished events are delivered again (at least once).
            saved = Set(decoded)
        }
    }

    /// The file's new content when `current` differs from what was saved.
    mutating func takeChanges(_ current: Set<UInt64>) -> [UInt8]? {
        guard current != saved else { return nil }
        saved = current
        return (try? JSONEncoder().encode(current.sorted())).map(Array.init) ?? Array("[]".utf8)
    }
}
