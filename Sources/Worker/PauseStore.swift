import Foundation

/// The durable set of pauses, `<state>/worker/pauses.json`. Confined to the worker's actor;
/// `read` is for other processes (`queue status`).
struct PauseStore {
    let path: String
    private(set) var pauses: [PauseScope: Pause] = [:]
    private var dirty = false

    init(directory: String) {
        path = directory + "/pauses.json"
        for pause in Self.read(path: path) { pauses[pause.scope] = pause }
    }

    /// The pauses stored in a state directory, oldest first; empty when there are none (or the
    /// file is damaged: a pause is found again at the next fetch).
    static func read(stateDirectory: String) -> [Pause] { read(path: stateDirectory + "/worker/pauses.json") }

    private static func read(path: String) -> [Pause] {
        guard let data = FileManager.default.contents(atPath: path),
              let decoded = try? JSONDecoder().decode([Pause].self, from: data) else { return [] }
        return decoded
    }

    subscript(scope: PauseScope) -> Pause? {
        get { pauses[scope] }
        set {
            guard pauses[scope] != newValue else { return }
            pauses[scope] = newValue
            dirty = true
        }
    }

    /// The file's new content if anything changed since the last call (then clean again).
    /// After a write of what `takeChanges` returned failed: the next call returns the state again.
    mutating func writeFailed() { dirty = true }

    mutating func takeChanges() -> [UInt8]? {
        guard dirty else { return nil }
        dirty = false
        let list = pauses.values.sorted { ($0.since, $0.scope.description) < ($1.since, $1.scope.description) }
        // Encoding plain values cannot fail.
        return (try? JSONEncoder().encode(list)).map(Array.init) ?? Array("[]".utf8)
    }
}
