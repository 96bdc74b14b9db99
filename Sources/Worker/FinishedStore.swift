import DiskQueue
import EventRecord
import Foundation

/// Sequences finished (delivered or dead-lettered) above the consumer position, kept in
/// `<state>/worker/finished.json` so a restart does not fetch and deliver them again while an
/// older event still holds the position back.
///
/// The file holds ranges and, for each, the event id of its first record:
/// `{"ranges":[[2,3]],"firstEventIDs":["…"]}`. What is read back is only trusted where it can
/// be true: ranges inside [consumer position, the queue's next sequence at open), at most
/// `maxRanges`, and each range only once the queue's record at its first sequence has the
/// event id the range names (checked when the worker reads that record). Anything else is
/// ignored and reported: a damaged, old or foreign file (a recreated queue) can only cause
/// redelivery, never skip an event. Ranges are never expanded. Confined to the worker's actor.
struct FinishedStore {
    /// Ranges written (and read back) at most; finished events above them are delivered again
    /// after a restart.
    static let maxRanges = 10_000
    /// A file larger than this is not read (the ranges above fit in far less).
    static let maxFileBytes = 2 << 20

    struct File: Codable, Equatable {
        var ranges: [[UInt64]]
        var firstEventIDs: [String]
    }

    /// What `load` found: ranges still to be checked against the queue, and why anything was ignored.
    struct Loaded {
        var runs: [FinishedRanges.Run] = []
        var ignored: String?
    }

    let path: String
    /// What the file says (or will say after the next `takeChanges`).
    private var saved: [FinishedRanges.Run]?

    init(directory: String) {
        path = directory + "/finished.json"
    }

    /// Reads the file and keeps the ranges a queue at `position` whose next sequence is `next`
    /// can have (cut to what lies in [position, next)).
    static func load(path: String, position: UInt64, next: UInt64) -> Loaded {
        guard FileManager.default.fileExists(atPath: path) else { return Loaded() }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard size <= maxFileBytes else { return Loaded(ignored: "finished.json is \(size) bytes, more than \(maxFileBytes)") }
        guard let data = FileManager.default.contents(atPath: path),
              let file = try? JSONDecoder().decode(File.self, from: data) else {
            return Loaded(ignored: "finished.json cannot be read (damaged, or written by an older version)")
        }
        guard file.ranges.count == file.firstEventIDs.count, file.ranges.count <= maxRanges else {
            return Loaded(ignored: "finished.json has \(file.ranges.count) ranges for \(file.firstEventIDs.count) event ids")
        }
        var loaded = Loaded()
        var previousLast: UInt64?
        for (range, id) in zip(file.ranges, file.firstEventIDs) {
            guard range.count == 2, range[0] <= range[1], previousLast.map({ $0 < range[0] }) ?? true else {
                return Loaded(ignored: "finished.json has a range that is not ascending: \(range)")
            }
            previousLast = range[1]
            if range[1] < position { continue }  // below the position: already acknowledged
            guard range[0] >= position, range[0] < next else {
                loaded.ignored = "finished.json names sequences this queue does not have (position \(position), next \(next))"
                continue
            }
            loaded.runs.append(.init(first: range[0], last: min(range[1], next - 1), firstEventID: id))
        }
        return loaded
    }

    /// The file's new content when `current` differs from what was saved (the lowest
    /// `maxRanges` ranges).
    /// After a write of what `takeChanges` returned failed: the next call returns the ranges again.
    mutating func writeFailed() { saved = nil }

    mutating func takeChanges(_ current: FinishedRanges) -> [UInt8]? {
        let runs = Array(current.runs.prefix(Self.maxRanges))
        guard runs != saved else { return nil }
        saved = runs
        let file = File(ranges: runs.map { [$0.first, $0.last] }, firstEventIDs: runs.map(\.firstEventID))
        // Encoding plain values cannot fail.
        return (try? JSONEncoder().encode(file)).map(Array.init) ?? Array(#"{"ranges":[],"firstEventIDs":[]}"#.utf8)
    }

    /// The id a range's first record is checked against: the event's id, or for a record that
    /// is not a queued event (dead-lettered as undecodable), the digest of its bytes.
    static func eventID(of record: QueueRecord) -> String {
        (try? QueuedItem.decode(record))?.eventID ?? EventID.of(record.payload) ?? "unknown"
    }

    /// The finished sequences stored in a state directory that `records` (the queue from
    /// `position` on) confirm, for `queue status`.
    static func read(stateDirectory: String, position: UInt64, records: [QueueRecord]) -> FinishedRanges {
        let next = (records.last?.sequence).map { $0 + 1 } ?? position
        let loaded = load(path: stateDirectory + "/worker/finished.json", position: position, next: next)
        var bySequence: [UInt64: QueueRecord] = [:]
        let firsts = Set(loaded.runs.map(\.first))
        for record in records where firsts.contains(record.sequence) { bySequence[record.sequence] = record }
        var confirmed = FinishedRanges()
        for run in loaded.runs {
            if let record = bySequence[run.first], eventID(of: record) == run.firstEventID { confirmed.insert(run) }
        }
        return confirmed
    }
}
