import EventRecord
import FakeXero
import Foundation
import PostgresNIO
import PostgresTestSupport
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The built binary with `sink.type: postgres`: signed deliveries in, records fetched from the
/// fake Xero, rows in PostgreSQL; the daemon stops cleanly.
@Suite(.enabled(if: TestPostgres.runs, "needs a PostgreSQL server; the reason none could be started is printed above"))
struct PostgresEndToEndTests {
    static let key = "postgres-e2e-key-0123456789"

    /// Polls `condition` until it holds or `seconds` pass; returns whether it held.
    private func eventually(seconds: Double = 30, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    @Test func theDaemonDeliversFetchedRecordsIntoPostgres() async throws {
        let server = try TestPostgres.server()
        let table = TestPostgres.uniqueTable("e2e")
        let dir = try TemporaryDirectory("xero-webhookd-postgres-e2e")
        defer { dir.remove() }
        let fake = FakeXero()
        defer { fake.shutdown() }
        let baseURL = try fake.start()
        let tenants = ["7c1e0000-0000-0000-0000-00000000000a", "7c1e0000-0000-0000-0000-00000000000b"]
        var events: [String] = []
        var expected: Set<String> = []
        for tenant in tenants {
            fake.addTenant(tenant, name: "Org \(tenant.suffix(1))")
            for n in 0..<12 {
                let id = String(format: "00000000-0000-0000-0000-%012d", n % 8)  // repeated ids coalesce
                fake.addRecord(tenant: tenant, collection: "Invoices", id: id)
                events.append(#"{"resourceUrl":"\#(baseURL)/api.xro/2.0/Invoices/\#(id)","resourceId":"\#(id)","eventDateUtc":"2026-11-29T01:15:39.902","eventType":"UPDATE","eventCategory":"INVOICE","tenantId":"\#(tenant)","tenantType":"ORGANISATION"}"#)
                expected.insert("\(tenant)/\(id)")
            }
        }
        // One invoice the fake does not have: a not-found row.
        let missing = "00000000-0000-0000-0000-0000000000ff"
        events.append(#"{"resourceUrl":"\#(baseURL)/api.xro/2.0/Invoices/\#(missing)","resourceId":"\#(missing)","eventDateUtc":"2026-11-29T01:15:39.902","eventType":"UPDATE","eventCategory":"INVOICE","tenantId":"\#(tenants[0])","tenantType":"ORGANISATION"}"#)
        expected.insert("\(tenants[0])/\(missing)")
        let token = fake.issueAccessToken(tenants: tenants, lifetime: 3600)
        try writeFile(dir.file("token.json"), #"{"access_token":"\#(token)","expires_in":3600}"#)
        let config = dir.file("config.json")
        try writeFile(config, #"""
        {"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0},
         "xero": {"apiBaseURL": "\#(baseURL)", "identityBaseURL": "\#(baseURL)",
                  "auth": {"mode": "accessToken", "accessTokenFile": "\#(dir.file("token.json"))"}},
         "worker": {"backoffBaseMilliseconds": 20, "backoffCapMilliseconds": 200, "maxAttempts": 5},
         "sink": {"type": "postgres", "postgresURL": "\#(server.url())", "table": "\#(table)"}}
        """#)
        let environment = ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key]

        let checked = try Binary.run(["check-config", "--config", config], environment: environment)
        #expect(checked.status == 0, "\(checked.stderr)")
        #expect(checked.stdout.contains("sink.postgresURL: postgres://\(ThrowawayPostgres.user)@127.0.0.1:\(server.port)/postgres (sslmode disable) (from sink.postgresURL)"))
        #expect(checked.stdout.contains("sink.table: \(table)  [config file]"))

        let daemon = try DaemonProcess(["serve", "--config", config], environment: environment)
        // The table exists once the sink has run its migrations at start.
        #expect(waitUntil(seconds: 30) { daemon.stderr.contains("postgres sink ready") }, "\(daemon.stderr.suffix(2000))")
        let client = try RawHTTPClient(port: daemon.port)
        for chunk in stride(from: 0, to: events.count, by: 10) {
            let body = Array(#"{"events":[\#(events[chunk..<min(chunk + 10, events.count)].joined(separator: ","))],"firstEventSequence":1,"lastEventSequence":1,"entropy":"PG"}"#.utf8)
            let signature = WebhookSignature(current: Self.key).signature(for: body)
            #expect(try client.exchange(RawHTTPClient.post("/webhooks/xero", body: body, headers: [("x-xero-signature", signature)])).status == 200)
        }
        try await Fixtures.withClient { postgres in
            func stored() async throws -> [String: (found: String?, notFound: Bool, events: Int)] {
                let rows = try await postgres.query(PostgresQuery(unsafeSQL: """
                    SELECT tenant_id || '/' || resource_id, resource->>'InvoiceID', not_found, cardinality(event_ids) FROM \(table)
                    """))
                var out: [String: (found: String?, notFound: Bool, events: Int)] = [:]
                for try await (key, invoiceID, notFound, count) in rows.decode((String, String?, Bool, Int32).self) {
                    out[key] = (invoiceID, notFound, Int(count))
                }
                return out
            }
            let arrived = try await eventually { Set(try await stored().keys) == expected }
            let rows = try await stored()
            #expect(arrived, "stored \(rows.count) of \(expected.count); stderr:\n\(daemon.stderr.suffix(2000))")
            for (key, row) in rows where !key.hasSuffix(missing) {
                #expect(row.found.map { key.hasSuffix($0) } == true, "\(key) holds \(row.found ?? "nil")")
                #expect(row.notFound == false)
            }
            #expect(rows["\(tenants[0])/\(missing)"]?.notFound == true)
            #expect(rows["\(tenants[0])/\(missing)"]?.found == nil)
            #expect(rows.values.allSatisfy { $0.events >= 1 })
        }
        // The queue drains to zero: every event was acknowledged after its row committed.
        #expect(waitUntil(seconds: 20) {
            ((try? Binary.run(["queue", "status", "--config", config]).stdout) ?? "").contains("pending: 0")
        })
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(!daemon.stderr.contains(token))
    }
}
