import ByteJSON
import EventRecord
import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Drives signed deliveries with unique event ids at a daemon from several connections and
/// remembers which ids were acknowledged with 200: after any crash, every one of them must be
/// in the queue.
final class CrashOracle: @unchecked Sendable {
    static let key = "oracle-key-0123456789"
    private let lock = NSLock()
    private var acknowledged: [String] = []
    private var nextID = 0
    private let signer = WebhookSignature(current: CrashOracle.key)

    var acknowledgedIDs: [String] { lock.lock(); defer { lock.unlock() }; return acknowledged }
    var acknowledgedCount: Int { acknowledgedIDs.count }

    private func takeIDs(_ count: Int) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        let ids = (nextID..<nextID + count).map { "evt-\($0)" }
        nextID += count
        return ids
    }

    private func record(_ ids: [String]) {
        lock.lock()
        acknowledged += ids
        lock.unlock()
    }

    static func event(_ id: String) -> String {
        #"{"resourceUrl":"https://api.xero.com/api.xro/2.0/Invoices/\#(id)","resourceId":"\#(id)","eventDateUtc":"2026-11-29T01:15:39.902","eventType":"UPDATE","eventCategory":"INVOICE","tenantId":"tenant-a","tenantType":"ORGANISATION"}"#
    }

    /// Runs `clients` threads that post until the connection fails (the daemon died) or
    /// `maxRequests` each; returns when all have stopped.
    func hammer(port: UInt16, clients: Int, maxRequests: Int) {
        DispatchQueue.concurrentPerform(iterations: clients) { c in
            guard let client = try? RawHTTPClient(port: port, timeout: 5) else { return }
            for r in 0..<maxRequests {
                let ids = takeIDs(1 + (c + r) % 3)
                let events = ids.map(Self.event).joined(separator: ",")
                let body = Array(#"{"events":[\#(events)],"firstEventSequence":1,"lastEventSequence":\#(ids.count),"entropy":"ORACLE"}"#.utf8)
                let request = RawHTTPClient.post("/webhooks/xero", body: body,
                                                 headers: [("x-xero-signature", signer.signature(for: body))])
                guard let response = try? client.exchange(request) else { return }
                if response.status == 200 { record(ids) }
            }
        }
    }

    /// Every event id in the queue, read through `queue dump` (which fails on corruption).
    static func dumpedIDs(config: String) throws -> (ids: [String], sequences: [Int64], status: Int32, stderr: String) {
        let dump = try Binary.run(["queue", "dump", "--config", config])
        var ids: [String] = []
        var sequences: [Int64] = []
        for line in dump.stdout.split(separator: "\n") {
            let record = try JSONParser.parse(Array(line.utf8))
            if let id = record["event"]?["resourceId"]?.stringValue { ids.append(id) }
            if let s = record["sequence"]?.int64Value { sequences.append(s) }
        }
        return (ids, sequences, dump.status, dump.stderr)
    }
}
