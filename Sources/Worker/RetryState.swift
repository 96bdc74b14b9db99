import Foundation

/// How often an event was tried and when it may be tried next. Kept durably in
/// `<state>/worker/retries.json` so attempt counts and next-try times survive a restart.
public struct RetryState: Sendable, Equatable, Codable {
    public var attempts: Int
    /// Milliseconds since the epoch.
    public var firstAttempt: Int64
    public var nextTry: Int64
    public var lastError: String
    /// Waits (rate limits, credential outages) so far: they set `nextTry` but are not attempts.
    public var waits: Int?
}

/// The durable map from queue sequence to `RetryState`. Confined to the worker's actor.
struct RetryStore {
    let path: String
    private(set) var states: [UInt64: RetryState] = [:]
    private var dirty = false

    init(directory: String) {
        path = directory + "/retries.json"
        if let data = FileManager.default.contents(atPath: path),
           let decoded = try? JSONDecoder().decode([String: RetryState].self, from: data) {
            // A damaged file only loses attempt counts: the events are still in the queue.
            for (key, value) in decoded { if let sequence = UInt64(key) { states[sequence] = value } }
        }
    }

    subscript(sequence: UInt64) -> RetryState? {
        get { states[sequence] }
        set {
            guard states[sequence] != newValue else { return }
            states[sequence] = newValue
            dirty = true
        }
    }

    /// Forgets everything below `position` (acknowledged in the queue).
    mutating func drop(below position: UInt64) {
        for key in states.keys where key < position {
            states[key] = nil
            dirty = true
        }
    }

    /// The file's new content if anything changed since the last call (then clean again).
    mutating func takeChanges() -> [UInt8]? {
        guard dirty else { return nil }
        dirty = false
        let encoded = Dictionary(uniqueKeysWithValues: states.map { (String($0.key), $0.value) })
        // Encoding a dictionary of plain values cannot fail.
        return (try? JSONEncoder().encode(encoded)).map(Array.init) ?? Array("{}".utf8)
    }
}
