import Foundation

/// How often an event was tried and when it may be tried next. Kept durably in
/// `<state>/worker/retries.json` so attempt counts and next-try times survive a restart.
package struct RetryState: Sendable, Equatable, Codable {
    package var attempts: Int
    /// Milliseconds since the epoch.
    package var firstAttempt: Int64
    package var nextTry: Int64
    package var lastError: String
    /// Waits (rate limits, credential outages) so far: they set `nextTry` but are not attempts.
    package var waits: Int?
    /// The event these counts belong to: a state whose event id differs from the queue's record
    /// at its sequence (a recreated queue) is forgotten when the record is read.
    package var eventID: String? = nil
}

/// The durable map from queue sequence to `RetryState`. Only states for sequences in
/// [consumer position, the queue's next sequence) are kept, and each is checked against its
/// record's event id when the worker reads it. Confined to the worker's actor.
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

    /// Forgets everything outside [position, next): acknowledged in the queue, or sequences the
    /// queue does not have. Returns how many were forgotten.
    @discardableResult
    mutating func keep(from position: UInt64, below next: UInt64) -> Int {
        let outside = states.keys.filter { $0 < position || $0 >= next }
        for key in outside { states[key] = nil }
        if !outside.isEmpty { dirty = true }
        return outside.count
    }

    /// The file's new content if anything changed since the last call (then clean again).
    /// After a write of what `takeChanges` returned failed: the next call returns the state again.
    mutating func writeFailed() { dirty = true }

    mutating func takeChanges() -> [UInt8]? {
        guard dirty else { return nil }
        dirty = false
        let encoded = Dictionary(uniqueKeysWithValues: states.map { (String($0.key), $0.value) })
        // Encoding a dictionary of plain values cannot fail.
        return (try? JSONEncoder().encode(encoded)).map(Array.init) ?? Array("{}".utf8)
    }
}
