import Foundation

/// Sequences finished (delivered or dead-lettered) above the consumer position, kept in
/// `<state>/worker/finished.json` so a restart does not fetch and deliver them again while an
/// older event still holds the position back. Stored as `[first, last]` ranges (events finish
/// mostly in runs). Confined to the worker's actor.
struct FinishedStore {
    let path: String
    /// What the file says (or will say after the next `takeChanges`).
    private(set) var saved: Set<UInt64> = []

    init(directory: String) {
        path = directory + "/finished.json"
        if let data = FileManager.default.contents(atPath: path),
           let ranges = try? JSONDecoder().decode([[UInt64]].self, from: data) {
            // A damaged file only means some finished events are delivered again (at least once).
            for range in ranges where range.count == 2 && range[0] <= range[1] && range[1] - range[0] < 1 << 24 {
                saved.formUnion(range[0]...range[1])
            }
        }
    }

    /// The file's new content when `current` differs from what was saved.
    mutating func takeChanges(_ current: Set<UInt64>) -> [UInt8]? {
        guard current != saved else { return nil }
        saved = current
        var ranges: [[UInt64]] = []
        for sequence in current.sorted() {
            if let last = ranges.last, last[1] + 1 == sequence {
                ranges[ranges.count - 1][1] = sequence
            } else {
                ranges.append([sequence, sequence])
            }
        }
        // Encoding plain values cannot fail.
        return (try? JSONEncoder().encode(ranges)).map(Array.init) ?? Array("[]".utf8)
    }

    /// The finished sequences stored in a state directory (for `queue status`).
    static func read(stateDirectory: String) -> Set<UInt64> {
        FinishedStore(directory: stateDirectory + "/worker").saved
    }
}
