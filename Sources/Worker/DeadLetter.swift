import ByteJSON
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One event the worker gave up on, with why. Stored as `<state>/dead/<id>.json`, where the id
/// is `<queue sequence>-<event id>`:
/// `{"id":…,"sequence":…,"eventId":…,"receivedAt":…,"attempts":…,"firstAttempt":ms,"deadAt":ms,
///   "lastError":…,"event":{…as received…}}`.
public struct DeadLetter: Sendable, Equatable {
    public let id: String
    public let sequence: UInt64
    public let eventID: String
    public let receivedAt: String
    public let attempts: Int
    public let firstAttempt: Int64
    public let deadAt: Int64
    public let lastError: String
    public let event: [UInt8]

    public init(item: QueuedItem, attempts: Int, firstAttempt: Int64, deadAt: Int64, lastError: String) {
        id = "\(item.sequence)-\(item.eventID)"
        sequence = item.sequence
        eventID = item.eventID
        receivedAt = item.receivedAt
        self.attempts = attempts
        self.firstAttempt = firstAttempt
        self.deadAt = deadAt
        self.lastError = lastError
        event = item.event
    }

    /// A record that cannot be processed at all (e.g. an event without a tenantId).
    public init(sequence: UInt64, eventID: String, receivedAt: String, event: [UInt8], deadAt: Int64, reason: String) {
        self.init(id: "\(sequence)-\(eventID)", sequence: sequence, eventID: eventID, receivedAt: receivedAt,
                  attempts: 0, firstAttempt: deadAt, deadAt: deadAt, lastError: reason, event: event)
    }

    public func json() -> [UInt8] {
        var out = Array(#"{"id":"#.utf8) + JSONText.quoted(id)
        out += Array(#","sequence":\#(sequence),"eventId":"#.utf8) + JSONText.quoted(eventID)
        out += Array(#","receivedAt":"#.utf8) + JSONText.quoted(receivedAt)
        out += Array(#","attempts":\#(attempts),"firstAttempt":\#(firstAttempt),"deadAt":\#(deadAt),"lastError":"#.utf8)
        out += JSONText.quoted(lastError)
        out += Array(#","event":"#.utf8)
        JSONText.appendCompacted(event, to: &out)  // one line, even when the delivery was indented
        out.append(UInt8(ascii: "}"))
        return out
    }

    public static func decode(_ bytes: [UInt8]) -> DeadLetter? {
        guard let root = try? JSONParser.parse(bytes),
              let id = root["id"]?.stringValue, let sequence = root["sequence"]?.int64Value,
              let eventID = root["eventId"]?.stringValue, let event = root["event"], event.isObject else { return nil }
        return DeadLetter(id: id, sequence: UInt64(sequence), eventID: eventID,
                          receivedAt: root["receivedAt"]?.stringValue ?? "",
                          attempts: Int(root["attempts"]?.int64Value ?? 0),
                          firstAttempt: root["firstAttempt"]?.int64Value ?? 0,
                          deadAt: root["deadAt"]?.int64Value ?? 0,
                          lastError: root["lastError"]?.stringValue ?? "",
                          event: Array(bytes[event.range]))
    }

    private init(id: String, sequence: UInt64, eventID: String, receivedAt: String, attempts: Int,
                 firstAttempt: Int64, deadAt: Int64, lastError: String, event: [UInt8]) {
        self.id = id
        self.sequence = sequence
        self.eventID = eventID
        self.receivedAt = receivedAt
        self.attempts = attempts
        self.firstAttempt = firstAttempt
        self.deadAt = deadAt
        self.lastError = lastError
        self.event = event
    }
}

/// The dead-letter directory. Safe to use from the CLI while the daemon runs: every change is a
/// whole-file write or an atomic rename. `replay` moves an entry into `dead/replay/`, which the
/// running worker (or the next start) turns back into a queued event.
public struct DeadLetterStore: Sendable {
    public let directory: String
    public var replayDirectory: String { directory + "/replay" }

    public init(stateDirectory: String) {
        directory = stateDirectory + "/dead"
    }

    /// Stores `letter` durably.
    public func add(_ letter: DeadLetter) throws(DurableFile.Failure) {
        try DurableFile.makeDirectory(directory)
        try DurableFile.write(letter.json(), to: directory + "/\(letter.id).json")
    }

    /// Every stored letter, oldest sequence first.
    public func list() -> [DeadLetter] {
        Self.letters(in: directory)
    }

    public func get(_ id: String) -> DeadLetter? {
        guard let data = FileManager.default.contents(atPath: directory + "/\(id).json") else { return nil }
        return DeadLetter.decode(Array(data))
    }

    /// Marks letters for replay. Returns the ids that were found.
    public func replay(_ ids: [String]) throws(DurableFile.Failure) -> [String] {
        try DurableFile.makeDirectory(replayDirectory)
        var moved: [String] = []
        for id in ids where rename(directory + "/\(id).json", replayDirectory + "/\(id).json") == 0 {
            moved.append(id)
        }
        try DurableFile.syncDirectory(directory)
        try DurableFile.syncDirectory(replayDirectory)
        return moved
    }

    /// Deletes letters. Returns the ids that were found.
    public func purge(_ ids: [String]) throws(DurableFile.Failure) -> [String] {
        var removed: [String] = []
        for id in ids where unlink(directory + "/\(id).json") == 0 { removed.append(id) }
        if !removed.isEmpty { try DurableFile.syncDirectory(directory) }
        return removed
    }

    /// Letters waiting in `replay/`.
    public func pendingReplays() -> [DeadLetter] {
        Self.letters(in: replayDirectory)
    }

    func finishReplay(_ letter: DeadLetter) {
        // Removing twice is harmless; if this is lost, the event is replayed once more (at least once).
        unlink(replayDirectory + "/\(letter.id).json")
    }

    private static func letters(in directory: String) -> [DeadLetter] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") }
            .compactMap { FileManager.default.contents(atPath: directory + "/" + $0).flatMap { DeadLetter.decode(Array($0)) } }
            .sorted { $0.sequence < $1.sequence }
    }
}
