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
/// Dead letters there are named by their number in `xero_webhookd_dead_events`.
enum SharedQueueAdmin {
    /// How long one command may wait for the database before it gives up with the reason.
    static let limit = Duration.seconds(30)

    #if PostgreSQL
    /// Runs `body` against the config's postgres queue; a database that refuses or does not
    /// answer ends the command with one line naming it and why.
    static func with<T: Sendable>(_ command: String, _ settings: DaemonConfig, environment: [String: String] = ProcessInfo.processInfo.environment,
                                  _ body: @escaping @Sendable (PostgresEventQueue) async throws -> T) throws -> T {
        guard let cluster = settings.cluster else {
            throw configFailure(ConfigError("queue.backend", "postgres needs a cluster section (cluster.postgresURL)"))
        }
        let endpoint = try readingConfig { () throws(ConfigError) in try cluster.endpoint(environment: environment).endpoint }
        let queue = PostgresEventQueue(endpoint: endpoint, schema: cluster.schema, sessionName: "xero-webhookd \(command)")
        let result: Result<T, any Error> = runBlocking {
            let outcome: Result<T, any Error>
            do {
                // One connection first: a refusal is reported with its reason at once, where the
                // pool's queries would wait out the limit while it tries again.
                try await endpoint.probe(name: "xero-webhookd \(command)")
                outcome = .success(try await Deadline.run(within: limit) { try await body(queue) })
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
    #endif

    /// Ends a command on a build without the PostgreSQL trait.
    static func unsupported(_ command: String) -> Error {
        failure("\(command): queue.backend is postgres, but this build of xero-webhookd has no PostgreSQL support (built without the PostgreSQL trait)")
    }

    #if PostgreSQL
    static func statusLines(_ status: PostgresEventQueue.Status, location: String) -> [String] {
        var lines = ["queue: postgres (\(location))", "pending: \(status.pending)"]
        if let received = status.oldestPendingReceivedAt {
            let age = secondsSince(receivedAt: received).map { String(format: "%.0f s ago", $0) } ?? "age unknown"
            lines.append("oldest pending received: \(received) (\(age))")
        } else {
            lines.append("oldest pending received: -")
        }
        for tenant in status.backlogByTenant.keys.sorted() {
            lines.append("tenant \(tenant): \(status.backlogByTenant[tenant]!)")
        }
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
        let tenants = status.backlogByTenant.keys.sorted().map { "\(q($0)):\(status.backlogByTenant[$0]!)" }.joined(separator: ",")
        let lanes = status.lanes.map {
            #"{"tenant":\#(q($0.tenant)),"owner":\#($0.owner.map(q) ?? "null"),"leaseUntilMs":\#(n($0.leaseUntil)),"waitsUntilMs":\#(n($0.waitsUntil)),"reason":\#($0.reason.map(q) ?? "null")}"#
        }.joined(separator: ",")
        let oldest = status.oldestPendingReceivedAt.map(q) ?? "null"
        return Array(#"{"backend":"postgres","pending":\#(status.pending),"oldestPendingReceivedAt":\#(oldest),"backlogByTenant":{\#(tenants)},"deadLetters":\#(status.deadLetters),"lanes":[\#(lanes)]}"#.utf8)
    }

    /// `dead show`: the disk store's letter shape, with the tenant and the table's numbers.
    static func deadJSON(_ letter: PostgresEventQueue.DeadEvent) -> [UInt8] {
        let item = letter.item
        var out = Array(#"{"id":"#.utf8) + JSONText.quoted(String(letter.id))
        out += Array(#","sequence":\#(letter.id),"eventId":"#.utf8) + JSONText.quoted(item?.eventID ?? "")
        out += Array(#","tenant":"#.utf8) + JSONText.quoted(letter.tenant)
        out += Array(#","receivedAt":"#.utf8) + JSONText.quoted(item?.receivedAt ?? "")
        out += Array(#","attempts":\#(letter.attempts),"deadAt":\#(letter.diedAt),"lastError":"#.utf8) + JSONText.quoted(letter.reason)
        if let item {
            out += Array(#","event":"#.utf8)
            JSONText.appendCompacted(item.event, to: &out)
        } else {
            out += Array(#","undecodable":true,"base64":"#.utf8) + JSONText.quoted(Data(letter.record).base64EncodedString())
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    static func deadListJSON(_ letter: PostgresEventQueue.DeadEvent) -> String {
        func q(_ text: String) -> String { String(decoding: JSONText.quoted(text), as: UTF8.self) }
        return #"{"id":\#(q(String(letter.id))),"sequence":\#(letter.id),"eventId":\#(q(letter.item?.eventID ?? "")),"tenant":\#(q(letter.tenant)),"attempts":\#(letter.attempts),"deadAtMs":\#(letter.diedAt),"lastError":\#(q(letter.reason))}"#
    }
    #endif
}
