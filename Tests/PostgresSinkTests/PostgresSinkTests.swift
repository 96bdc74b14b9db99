import ByteJSON
import DaemonConfig
import Foundation
import PostgresNIO
import PostgresSink
import PostgresTestSupport
import TestSupport
import Testing
import Worker
#if canImport(Glibc)
import Glibc
#endif

/// The postgres sink against a real PostgreSQL server (a throwaway cluster, see `TestPostgres`).
@Suite(.enabled(if: TestPostgres.runs, "needs a PostgreSQL server; the reason none could be started is printed above"))
struct PostgresSinkTests {
    struct Row: Equatable {
        var resource: JSONValue?
        var notFound: Bool
        var eventIDs: [String]
        var sequence: Int64
        var eventType: String
        var fetchedAt: Date
        var updatedDateUTC: Date?
        var eventDateUTC: Date?
    }

    private func rows(_ table: String, _ client: PostgresClient) async throws -> [String: Row] {
        var out: [String: Row] = [:]
        let result = try await client.query(PostgresQuery(unsafeSQL: """
            SELECT resource_id, resource::text, not_found, event_ids, sequence, event_type, fetched_at, updated_date_utc, event_date_utc FROM \(table)
            """))
        for try await (id, resource, notFound, ids, sequence, type, fetched, updated, eventDate)
            in result.decode((String, String?, Bool, [String], Int64, String, Date, Date?, Date?).self) {
            out[id] = Row(resource: try resource.map { try JSONParser.parse(Array($0.utf8)) }, notFound: notFound, eventIDs: ids, sequence: sequence,
                          eventType: type, fetchedAt: fetched, updatedDateUTC: updated, eventDateUTC: eventDate)
        }
        return out
    }

    private func utc(_ text: String) throws -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return try #require(formatter.date(from: text))
    }

    @Test func upsertsOneRowPerResourceWithTheResourceAsJSONB() async throws {
        let table = TestPostgres.uniqueTable("upsert")
        let sink = try Fixtures.sink(table: table)
        let first = try Fixtures.record(id: "inv-1", resource: Fixtures.invoice("inv-1", status: "AUTHORISED"), fetchedAt: "2026-11-29T01:00:02.000Z", sequences: [3, 4])
        let other = try Fixtures.record(id: "inv-2", resource: Fixtures.invoice("inv-2", status: "DRAFT"), fetchedAt: "2026-11-29T01:00:02.000Z", sequences: [5])
        #expect(await sink.deliver([first, other]).allSatisfy { (try? $0.get()) != nil })
        let later = try Fixtures.record(id: "inv-1", resource: Fixtures.invoice("inv-1", status: "PAID", updated: 1_573_755_099_000),
                                        fetchedAt: "2026-11-29T01:05:00.000Z", sequences: [9])
        #expect(await sink.deliver([later]).allSatisfy { (try? $0.get()) != nil })
        await sink.stop()
        let found = try await Fixtures.withClient { try await rows(table, $0) }
        #expect(found.count == 2)
        let row = try #require(found["inv-1"])
        // The second fetch replaced the first: its status, its events, its sequence.
        #expect(row.resource?["Status"]?.stringValue == "PAID")
        #expect(row.resource?["Contact"]?["Name"]?.stringValue == "Ridgeway")
        #expect(row.eventIDs == later.items.map(\.eventID))
        #expect(row.sequence == 9)
        #expect(row.notFound == false)
        #expect(row.eventType == "UPDATE")
        #expect(abs(row.fetchedAt.timeIntervalSince(try utc("2026-11-29T01:05:00.000Z"))) < 0.001)
        #expect(row.updatedDateUTC == Date(timeIntervalSince1970: 1_573_755_099))  // from "\/Date(1573755099000+0000)\/"
        // The newest event's eventDateUtc, which has no zone: UTC.
        #expect(abs((row.eventDateUTC ?? .distantPast).timeIntervalSince(try utc("2026-11-29T01:15:19.902Z"))) < 0.001)
        #expect(found["inv-2"]?.eventIDs == other.items.map(\.eventID))
        #expect(found["inv-2"]?.sequence == 5)
    }

    /// Xero's and the daemon's times reach the columns to the microsecond: `…39.902` is stored
    /// as `.902000`, not `.901999` (a Date's floating point loses it on the way), so a user's
    /// query comparing `event_date_utc` with Xero's value finds its row.
    @Test func timestampsAreStoredExactly() async throws {
        let table = TestPostgres.uniqueTable("exact")
        let sink = try Fixtures.sink(table: table)
        let record = try Fixtures.record(id: "inv-x", resource: Fixtures.invoice("inv-x", status: "PAID", updated: 1_573_755_038_314),
                                         fetchedAt: "2026-11-29T01:05:00.123Z", sequences: [3])
        #expect(await sink.deliver([record]).allSatisfy { (try? $0.get()) != nil })
        await sink.stop()
        let text = try await Fixtures.withClient { client in
            var out: [String] = []
            let format = #"'YYYY-MM-DD"T"HH24:MI:SS.US'"#
            for try await (event, fetched, updated) in try await client.query(PostgresQuery(unsafeSQL: """
                SELECT to_char(event_date_utc AT TIME ZONE 'UTC', \(format)), to_char(fetched_at AT TIME ZONE 'UTC', \(format)),
                       to_char(updated_date_utc AT TIME ZONE 'UTC', \(format)) FROM \(table)
                """)).decode((String, String, String).self) {
                out = [event, fetched, updated]
            }
            return out
        }
        #expect(text == ["2026-11-29T01:15:13.902000", "2026-11-29T01:05:00.123000", "2019-11-14T18:10:38.314000"])
    }

    @Test func anOlderFetchNeverOverwritesANewerOne() async throws {
        let table = TestPostgres.uniqueTable("older")
        let sink = try Fixtures.sink(table: table)
        let newer = try Fixtures.record(id: "inv-1", resource: Fixtures.invoice("inv-1", status: "PAID", updated: 1_573_755_099_000),
                                        fetchedAt: "2026-11-29T01:05:00.000Z", sequences: [9])
        let older = try Fixtures.record(id: "inv-1", resource: Fixtures.invoice("inv-1", status: "AUTHORISED"), fetchedAt: "2026-11-29T01:00:00.000Z", sequences: [3])
        // Fetched later but holding an older UpdatedDateUTC (a stale read): does not win either.
        let staleRead = try Fixtures.record(id: "inv-1", resource: Fixtures.invoice("inv-1", status: "DRAFT", updated: 1_573_755_000_000),
                                            fetchedAt: "2026-11-29T01:09:00.000Z", sequences: [11])
        for record in [newer, older, staleRead] {
            // Each is accepted (its events are done: a newer state is already stored).
            #expect(await sink.deliver([record]).allSatisfy { (try? $0.get()) != nil })
        }
        // Not found, fetched later still: no UpdatedDateUTC to compare, so fetched_at decides.
        let gone = try Fixtures.record(id: "inv-1", resource: nil, fetchedAt: "2026-11-29T01:10:00.000Z", sequences: [12], type: "UPDATE")
        let staleAgain = try Fixtures.record(id: "inv-1", resource: Fixtures.invoice("inv-1", status: "PAID", updated: 1_573_755_099_000),
                                             fetchedAt: "2026-11-29T01:06:00.000Z", sequences: [10])
        await sink.stop()
        let afterStale = try await Fixtures.withClient { try await rows(table, $0) }
        #expect(afterStale["inv-1"]?.resource?["Status"]?.stringValue == "PAID")
        #expect(afterStale["inv-1"]?.sequence == 9)

        let again = try Fixtures.sink(table: table)
        #expect(await again.deliver([gone]).allSatisfy { (try? $0.get()) != nil })
        #expect(await again.deliver([staleAgain]).allSatisfy { (try? $0.get()) != nil })
        await again.stop()
        let final = try await Fixtures.withClient { try await rows(table, $0) }
        #expect(final["inv-1"]?.notFound == true)
        #expect(final["inv-1"]?.sequence == 12)
    }

    @Test func aResourceXeroNoLongerHasIsARowWithNullResourceAndNotFound() async throws {
        let table = TestPostgres.uniqueTable("notfound")
        let sink = try Fixtures.sink(table: table)
        let gone = try Fixtures.record(id: "c-9", resource: nil, fetchedAt: "2026-11-29T01:00:02.000Z", sequences: [4], category: "CONTACT")
        #expect(await sink.deliver([gone]).allSatisfy { (try? $0.get()) != nil })
        await sink.stop()
        let found = try await Fixtures.withClient { client in
            let result = try await client.query(PostgresQuery(unsafeSQL: "SELECT category, resource IS NULL, not_found, updated_date_utc IS NULL FROM \(table) WHERE resource_id = 'c-9'"))
            var out: [(String, Bool, Bool, Bool)] = []
            for try await row in result.decode((String, Bool, Bool, Bool).self) { out.append(row) }
            return out
        }
        #expect(found.count == 1)
        #expect(found.first?.0 == "CONTACT")
        #expect(found.first?.1 == true && found.first?.2 == true && found.first?.3 == true)
    }

    @Test func eachUpsertNotifiesListenersAfterCommit() async throws {
        let table = TestPostgres.uniqueTable("notify")
        let sink = try Fixtures.sink(table: table)
        try await sink.migrateIfNeeded()
        let record = try Fixtures.record(id: "inv-7", resource: Fixtures.invoice("inv-7", status: "PAID"), fetchedAt: "2026-11-29T01:00:02.000Z")
        let payload = try await Fixtures.withClient { client in
            try await client.withConnection { connection in
                try await connection.listen(on: table) { notifications in
                    // LISTEN is in effect once listen(on:) has called this closure.
                    let results = await sink.deliver([record])
                    #expect(results.allSatisfy { (try? $0.get()) != nil })
                    var iterator = notifications.makeAsyncIterator()
                    return try await iterator.next()?.payload
                }
            }
        }
        await sink.stop()
        #expect(payload == "\(Fixtures.tenant)/INVOICE/inv-7")
    }

    @Test func aRowTheServerRefusesFailsAloneAndTheOthersCommit() async throws {
        let table = TestPostgres.uniqueTable("refused")
        let sink = try Fixtures.sink(table: table)
        // jsonb cannot hold \u0000: valid JSON that PostgreSQL refuses.
        let refused = try Fixtures.record(id: "inv-bad", resource: #"{"InvoiceID":"inv-bad","Reference":"a\u0000b"}"#, fetchedAt: "2026-11-29T01:00:02.000Z")
        let fine = try Fixtures.record(id: "inv-ok", resource: Fixtures.invoice("inv-ok", status: "PAID"), fetchedAt: "2026-11-29T01:00:02.000Z")
        let results = await sink.deliver([refused, fine])
        await sink.stop()
        guard case let .failure(error) = results[0] else {
            Issue.record("the refused row was reported accepted")
            return
        }
        #expect(error.reason.contains("SQLSTATE"))
        #expect((try? results[1].get()) != nil)
        let found = try await Fixtures.withClient { try await rows(table, $0) }
        #expect(Set(found.keys) == ["inv-ok"])
    }

    @Test func aServerThatDoesNotAnswerFailsTheDeliveryWithinTheTimeout() async throws {
        // A port nothing listens on: the delivery fails (and is retried by the worker), it does not hang.
        let (fd, port) = loopbackListener()
        close(fd)
        let endpoint = try PostgresEndpoint.parse("postgres://nobody@127.0.0.1:\(port)/none?sslmode=disable")
        let sink = PostgresSink(endpoint: endpoint, table: ResourceTable("xero_resources")!, timeout: .seconds(3))
        sink.start()
        let started = ContinuousClock.now
        let results = await sink.deliver([try Fixtures.record(id: "inv-1", resource: "{}", fetchedAt: "2026-11-29T01:00:02.000Z")])
        await sink.stop()
        // Bounded (3 s, plus what a loaded concurrency pool adds in the full parallel run), not hung.
        #expect(ContinuousClock.now - started < .seconds(120))
        guard case let .failure(error) = results[0] else {
            Issue.record("delivered to a server that does not exist")
            return
        }
        #expect(error.reason.hasPrefix("postgres: "))
    }
}

