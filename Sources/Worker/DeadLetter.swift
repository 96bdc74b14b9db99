import ByteJSON
import SystemSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One event the worker gave up on, with why. Stored as `<state>/dead/<id>.json`, where the id
/// is `<queue sequence>-<event id>`:
/// `{"id":…,"sequence":…,"eventId":…,"receivedAt":…,"attempts":…,"firstAttempt":ms,"deadAt":ms,
///   "lastError":…,"event":{…as received…}}`.
package struct DeadLetter: Sendable, Equatable {
    package let id: String
    package let sequence: UInt64
    package let eventID: String
    package let receivedAt: String
    package let attempts: Int
    package let firstAttempt: Int64
    package let deadAt: Int64
    package let lastError: String
    package let event: [UInt8]

    package init(item: QueuedItem, attempts: Int, firstAttempt: Int64, deadAt: Int64, lastError: String) {
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
    package init(sequence: UInt64, eventID: String, receivedAt: String, event: [UInt8], deadAt: Int64, reason: String) {
        self.init(id: "\(sequence)-\(eventID)", sequence: sequence, eventID: eventID, receivedAt: receivedAt,
                  attempts: 0, firstAttempt: deadAt, deadAt: deadAt, lastError: reason, event: event)
    }

    package func json() -> [UInt8] {
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

    package static func decode(_ bytes: [UInt8]) -> DeadLetter? {
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
///
/// Copies share one `DeadLetterCount`: the daemon hands its store to the worker, so the count
/// `/metrics` reads sees the worker's letters as they are stored.
package struct DeadLetterStore: Sendable {
    package let directory: String
    package var replayDirectory: String { directory + "/replay" }
    private let counter: DeadLetterCount

    package init(stateDirectory: String) {
        directory = stateDirectory + "/dead"
        counter = DeadLetterCount(directory: directory)
    }

    /// How many letters the store holds, without reading them (see `DeadLetterCount`): the
    /// directory is listed at the first call and after it changed, not at every call.
    package var count: Int { counter.value }

    /// Stores `letter` durably.
    package func add(_ letter: DeadLetter) throws(DurableFile.Failure) {
        try DurableFile.makeDirectory(directory)
        let path = directory + "/\(letter.id).json"
        let replaces = access(path, F_OK) == 0  // the same letter again (after a crash): no new one
        try DurableFile.write(letter.json(), to: path)
        if !replaces { counter.adjust(by: 1) }
    }

    /// Every stored letter, oldest sequence first.
    package func list() -> [DeadLetter] {
        Self.letters(in: directory)
    }

    package func get(_ id: String) -> DeadLetter? {
        guard let data = FileManager.default.contents(atPath: directory + "/\(id).json") else { return nil }
        return DeadLetter.decode(Array(data))
    }

    /// Marks letters for replay. Returns the ids that were found. Run as another user than the
    /// store's owner (root, typically), the `replay/` directory it creates is given to the owner,
    /// so the daemon can take the files out again; any other user is refused. A rename that
    /// fails for another reason than a missing letter stops the replay with its error.
    package func replay(_ ids: [String]) throws(DurableFile.Failure) -> [String] {
        try checkOwner()
        try DurableFile.makeDirectory(replayDirectory)
        try giveToOwner(replayDirectory)
        var moved: [String] = []
        defer { counter.adjust(by: -moved.count) }
        for id in ids {
            guard rename(directory + "/\(id).json", replayDirectory + "/\(id).json") == 0 else {
                let error = SystemCallError.last("rename", path: directory + "/\(id).json")
                if error.errno == ENOENT { continue }
                throw DurableFile.Failure(error)
            }
            moved.append(id)
        }
        try DurableFile.syncDirectory(directory)
        try DurableFile.syncDirectory(replayDirectory)
        return moved
    }

    /// Deletes letters. Returns the ids that were found; an unlink that fails for another reason
    /// than a missing letter stops with its error.
    package func purge(_ ids: [String]) throws(DurableFile.Failure) -> [String] {
        var removed: [String] = []
        defer { counter.adjust(by: -removed.count) }
        for id in ids {
            guard unlink(directory + "/\(id).json") == 0 else {
                let error = SystemCallError.last("unlink", path: directory + "/\(id).json")
                if error.errno == ENOENT { continue }
                throw DurableFile.Failure(error)
            }
            removed.append(id)
        }
        if !removed.isEmpty { try DurableFile.syncDirectory(directory) }
        return removed
    }

    /// The store's owner must run replays, or root (who hands what it creates to the owner).
    private func checkOwner() throws(DurableFile.Failure) {
        var info = stat()
        guard stat(directory, &info) == 0 else { return }  // no store yet: nothing to replay
        let me = geteuid()
        guard me == 0 || me == info.st_uid else {
            throw DurableFile.Failure(description: "\(directory) belongs to uid \(info.st_uid), this is uid \(me): run this command as that user (or as root)")
        }
    }

    /// Hands `path` to the owner of the store's directory when root created it.
    private func giveToOwner(_ path: String) throws(DurableFile.Failure) {
        var owner = stat(), current = stat()
        guard geteuid() == 0, stat(directory, &owner) == 0, stat(path, &current) == 0,
              current.st_uid != owner.st_uid || current.st_gid != owner.st_gid else { return }
        guard chown(path, owner.st_uid, owner.st_gid) == 0 else { throw DurableFile.Failure(SystemCallError.last("chown", path: path)) }
        _ = chmod(path, 0o750)
    }

    /// Letters waiting in `replay/`: asked for (`<id>.json`), or taken by a worker that stopped
    /// before it removed them (`<id>.taken`; queued again: at least once).
    package func pendingReplays() -> [DeadLetter] {
        Self.letters(in: replayDirectory, suffixes: [".json", ".taken"])
    }

    /// Takes a letter out of the replay requests before it is queued, so it is queued once even
    /// if it cannot be removed afterwards. False when it is gone; throws when it cannot be
    /// renamed (then it must not be queued: it would be queued again at every pass).
    func takeReplay(_ letter: DeadLetter) throws(DurableFile.Failure) -> Bool {
        let request = replayDirectory + "/\(letter.id).json", taken = replayDirectory + "/\(letter.id).taken"
        if access(taken, F_OK) == 0 { return true }  // taken before a restart
        guard rename(request, taken) == 0 else {
            let error = SystemCallError.last("rename", path: request)
            if error.errno == ENOENT { return false }
            throw DurableFile.Failure(error)
        }
        return true
    }

    /// Removes a letter once queued again.
    func finishReplay(_ letter: DeadLetter) throws(DurableFile.Failure) {
        let taken = replayDirectory + "/\(letter.id).taken"
        guard unlink(taken) == 0 else {
            let error = SystemCallError.last("unlink", path: taken)
            if error.errno == ENOENT { return }
            throw DurableFile.Failure(error)
        }
    }

    private static func letters(in directory: String, suffixes: [String] = [".json"]) -> [DeadLetter] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { name in suffixes.contains { name.hasSuffix($0) } }
            .compactMap { FileManager.default.contents(atPath: directory + "/" + $0).flatMap { DeadLetter.decode(Array($0)) } }
            .sorted { $0.sequence < $1.sequence }
    }
}
