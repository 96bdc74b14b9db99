import ArgumentParser
import ByteJSON
import DaemonConfig
import DaemonRuntime
import EventRecord
import Foundation
#if PostgreSQL
import PostgresQueue
import PostgresSupport
#endif
import SystemSupport

/// `queue status`, `queue dump` and `dead …` with `queue.backend: postgres`: the same commands,
/// the same output, read from and applied to the shared queue's tables (safe while daemons run).
/// Dead letters there are named by their number in `xero_webhookd_dead_events`. The commands
/// hand their request here; a build without the PostgreSQL trait refuses it with the reason.
enum SharedQueueAdmin {
    enum Request {
        case status(json: Bool)
        case dump
        case deadList(json: Bool)
        case deadShow(String)
        /// `dead replay` (`replay`) or `dead purge`, of the ids given (each once) or of every letter.
        case deadAct(replay: Bool, all: Bool, ids: [String])

        var command: String {
            switch self {
            case .status: "queue status"
            case .dump: "queue dump"
            case .deadList: "dead list"
            case .deadShow: "dead show"
            case let .deadAct(replay, _, _): replay ? "dead replay" : "dead purge"
            }
        }
    }

    /// How long one step of a command (a query, a page, a transaction) may wait for the
    /// database before the command gives up with the reason.
    static let limit = Duration.seconds(30)

    /// Carries out `request` and writes its output; exits 1 with one line when the database
    /// refuses or does not answer, or (dead letters) when an id was not found.
    static func perform(_ request: Request, _ settings: DaemonConfig, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        #if PostgreSQL
        switch request {
        case let .status(json):
            let (status, location) = try with(request.command, settings, environment: environment) { queue in
                (try await bounded { try await queue.status() }, queue.location)
            }
            writeOut(json ? statusJSON(status) + [UInt8(ascii: "\n")] : Array((statusLines(status, location: location).joined(separator: "\n") + "\n").utf8))
        case .dump:
            // Page by page, each page bounded on its own: a reader that takes its time (a pager)
            // or a long queue does not cut the dump short.
            try with(request.command, settings, environment: environment) { queue in
                try await eachPage({ try await queue.eventsPage(after: $0) }, key: { $0.0 }) { page in
                    var out: [UInt8] = []
                    for (id, record) in page {
                        out.append(contentsOf: QueuedEvent.dumpLine(sequence: id, record: record))
                        out.append(UInt8(ascii: "\n"))
                    }
                    writeOut(out)
                }
            }
        case let .deadList(json):
            let count = try with(request.command, settings, environment: environment) { queue in
                var count = 0
                try await eachPage({ try await queue.deadEventsPage(before: $0) }, key: \.id) { page in
                    var out = ""
                    for letter in page {
                        out += json ? deadListJSON(letter) + "\n" : "\(letter.id)\tattempts=\(letter.attempts)\ttenant=\(letter.tenant)\t\(letter.reason)\n"
                    }
                    writeOut(Array(out.utf8))
                    count += page.count
                }
                return count
            }
            if !json { writeOut(Array("\(count) dead letter\(count == 1 ? "" : "s")\n".utf8)) }
        case let .deadShow(id):
            guard let number = letterNumber(id) else { throw failure("dead: no dead letter \(id)") }
            let letters = try with(request.command, settings, environment: environment) { queue in try await bounded { try await queue.deadEvents(ids: [number]) } }
            guard let letter = letters.first else { throw failure("dead: no dead letter \(id)") }
            writeOut(deadJSON(letter) + [UInt8(ascii: "\n")])
        case let .deadAct(replay, all, ids):
            // With --all, a page at a time, lowest id first (replayed letters keep the order they
            // came in), each its own transaction (a replay is safe to stop between two); the ids
            // given, in one.
            let act: @Sendable (PostgresEventQueue, [Int64]) async throws -> [Int64] = { queue, numbers in
                try await bounded { replay ? try await queue.replay(numbers) : try await queue.purge(numbers) }
            }
            let handled = try with(request.command, settings, environment: environment) { queue in
                guard all else { return try await act(queue, ids.compactMap(letterNumber)) }
                // The letters there now, listed first: a replayed letter that fails again comes
                // back under a new id, which this run must not take again.
                var letters: [Int64] = []
                try await eachPage({ try await queue.deadIDsPage(after: $0) }, key: { $0 }) { letters += $0 }
                var handled: [Int64] = []
                for start in stride(from: 0, to: letters.count, by: 1000) {
                    handled += try await act(queue, Array(letters[start..<min(start + 1000, letters.count)]))
                }
                return handled
            }
            // With --all, a letter a daemon replayed or purged meanwhile is no longer there: not missing.
            let missing = all ? [] : ids.filter { letterNumber($0).map { !handled.contains($0) } ?? true }
            for id in missing { printError("dead: no dead letter \(id)") }
            writeOut(DeadCommand.Selection.done(handled.count, replay: replay))
            if !missing.isEmpty { throw ExitCode.failure }
        }
        #else
        throw failure("\(request.command): queue.backend is postgres, but this build of xero-webhookd has no PostgreSQL support (built without the PostgreSQL trait)")
        #endif
    }

    #if PostgreSQL
    /// Runs `body` against the config's postgres queue; a database that refuses or does not
    /// answer ends the command with one line naming it and why. `body` bounds each of its steps
    /// at the database with `bounded`, not its own output.
    private static func with<T: Sendable>(_ command: String, _ settings: DaemonConfig, environment: [String: String],
                                          _ body: @escaping @Sendable (PostgresEventQueue) async throws -> T) throws -> T {
        guard let cluster = settings.cluster else {
            throw configFailure(ConfigError("queue.backend", "postgres needs a cluster section (cluster.postgresURL)"))
        }
        let endpoint = try readingConfig { () throws(ConfigError) in try cluster.endpoint(environment: environment).endpoint }
        let queue = PostgresEventQueue(endpoint: endpoint, schema: cluster.schema, sessionName: "xero-webhookd \(command)", createsTables: false)
        let result: Result<T, any Error> = runBlocking {
            let outcome: Result<T, any Error>
            do {
                // One connection first: a refusal is reported with its reason at once, where the
                // pool's queries would wait out the limit while it tries again.
                try await endpoint.probe(name: "xero-webhookd \(command)")
                outcome = .success(try await body(queue))
            } catch {
                outcome = .failure(error)
            }
            await queue.close()
            return outcome
        }
        switch result {
        case let .success(value): return value
        case let .failure(error):
            let reason = (error as? Deadline.TimedOut)?.description ?? PostgresErrorText.describe(error)
            throw failure("\(command): the postgres queue at \(queue.location): \(reason)")
        }
    }

    /// Hands `body` each page `page(cursor)` gives, the cursor being the last row's `key` (nil
    /// for the first page), until one is empty; each page is fetched within `limit`, and what
    /// `body` does with it (writing to a slow reader) does not count.
    private static func eachPage<Row: Sendable>(_ page: @escaping @Sendable (Int64?) async throws -> [Row], key: (Row) -> Int64,
                                                _ body: ([Row]) async throws -> Void) async throws {
        var cursor: Int64?
        while true {
            let rows = try await bounded { [cursor] in try await page(cursor) }
            guard let last = rows.last else { return }
            try await body(rows)
            cursor = key(last)
        }
    }

    /// One step at the database, given up after `limit`.
    private static func bounded<T: Sendable>(_ step: @escaping @Sendable () async throws -> T) async throws -> T {
        try await Deadline.run(within: limit, step)
    }

    /// A dead letter's number as `dead list` prints it (not `03` or `+3`).
    static func letterNumber(_ id: String) -> Int64? {
        Int64(id).flatMap { String($0) == id ? $0 : nil }
    }

    static func statusLines(_ status: PostgresEventQueue.Status, location: String) -> [String] {
        var lines = ["queue: postgres (\(location))", "pending: \(status.pending)"]
        lines += QueueCommand.Status.backlogLines(oldest: status.oldestPendingReceivedAt, byTenant: status.backlogByTenant)
        lines.append("dead letters: \(status.deadLetters)")
        for lane in status.lanes {
            if let owner = lane.owner, let until = lane.leaseUntil {
                lines.append("lane \(lane.tenant): held by \(owner) until \(UTCTimestamp.format(millisecondsSinceEpoch: until))")
            }
            if let waits = lane.waitsUntil {
                lines.append("lane \(lane.tenant): waits until \(UTCTimestamp.format(millisecondsSinceEpoch: waits)): \(lane.reason ?? "-")")
            }
        }
        return lines
    }

    static func statusJSON(_ status: PostgresEventQueue.Status) -> [UInt8] {
        func q(_ text: String) -> String { String(decoding: JSONText.quoted(text), as: UTF8.self) }
        func n(_ value: Int64?) -> String { value.map { "\($0)" } ?? "null" }
        let lanes = status.lanes.map {
            #"{"tenant":\#(q($0.tenant)),"owner":\#($0.owner.map(q) ?? "null"),"leaseUntilMs":\#(n($0.leaseUntil)),"waitsUntilMs":\#(n($0.waitsUntil)),"reason":\#($0.reason.map(q) ?? "null")}"#
        }.joined(separator: ",")
        let oldest = status.oldestPendingReceivedAt.map(q) ?? "null"
        let tenants = QueueCommand.Status.tenantsJSON(status.backlogByTenant)
        return Array(#"{"backend":"postgres","pending":\#(status.pending),"oldestPendingReceivedAt":\#(oldest),"backlogByTenant":\#(tenants),"deadLetters":\#(status.deadLetters),"lanes":[\#(lanes)]}"#.utf8)
    }

    /// `dead show`: the disk store's letter shape, with the tenant and the table's numbers.
    static func deadJSON(_ letter: PostgresEventQueue.DeadEvent) -> [UInt8] {
        let queued = letter.queued
        var out = Array(#"{"id":"#.utf8) + JSONText.quoted(String(letter.id))
        out += Array(#","sequence":\#(letter.id),"eventId":"#.utf8) + JSONText.quoted(eventID(queued))
        out += Array(#","tenant":"#.utf8) + JSONText.quoted(letter.tenant)
        out += Array(#","receivedAt":"#.utf8) + JSONText.quoted(queued?.receivedAt ?? "")
        out += Array(#","attempts":\#(letter.attempts),"deadAt":\#(letter.diedAt),"lastError":"#.utf8) + JSONText.quoted(letter.reason)
        if let queued {
            out += Array(#","event":"#.utf8)
            JSONText.appendCompacted(queued.event, to: &out)
        } else {
            out += Array(#","undecodable":true,"base64":"#.utf8) + JSONText.quoted(Data(letter.record).base64EncodedString())
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// One line of `dead list --json`.
    static func deadListJSON(_ letter: PostgresEventQueue.DeadEvent) -> String {
        func q(_ text: String) -> String { String(decoding: JSONText.quoted(text), as: UTF8.self) }
        return #"{"id":\#(q(String(letter.id))),"sequence":\#(letter.id),"eventId":\#(q(eventID(letter.queued))),"tenant":\#(q(letter.tenant)),"attempts":\#(letter.attempts),"deadAtMs":\#(letter.diedAt),"lastError":\#(q(letter.reason))}"#
    }

    /// The event's id as the worker gives it ("" when the record does not decode).
    private static func eventID(_ queued: QueuedEvent?) -> String {
        guard let queued else { return "" }
        return queued.eventID ?? EventID.of(queued.event) ?? ""
    }
    #endif
}
