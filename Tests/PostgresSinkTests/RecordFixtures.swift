import ByteJSON
import DaemonConfig
import DiskQueue
import EventRecord
import Foundation
import PostgresNIO
import PostgresQueue
import PostgresSink
import PostgresTestSupport
import Worker

/// Delivery records as the worker makes them, and a client for looking into the database.
enum Fixtures {
    static let tenant = "6a0d3a0c-8f52-4d44-9d38-0f3b2e4d1c01"

    static func event(tenant: String = tenant, category: String = "INVOICE", id: String, type: String = "UPDATE",
                      date: String = "2026-11-29T01:15:39.902") -> [UInt8] {
        Array(#"{"resourceUrl":"https://api.xero.com/api.xro/2.0/Invoices/\#(id)","resourceId":"\#(id)","eventDateUtc":"\#(date)","eventType":"\#(type)","eventCategory":"\#(category)","tenantId":"\#(tenant)","tenantType":"ORGANISATION"}"#.utf8)
    }

    /// A record of `id` covering events with `sequences`, fetched at `fetchedAt`; `resource` nil: not found.
    static func record(id: String, resource: String?, fetchedAt: String, sequences: [UInt64] = [7], category: String = "INVOICE",
                       type: String = "UPDATE") throws -> DeliveryRecord {
        let items = try sequences.map { sequence in
            let queued = QueuedEvent(receivedAt: "2026-11-29T01:00:01.000Z", eventSequence: nil,
                                     event: event(category: category, id: id, type: type, date: "2026-11-29T01:15:\(10 + sequence % 40).902")).encoded()
            return try QueuedItem.decode(QueueRecord(sequence: sequence, payload: queued))
        }
        return DeliveryRecord(items: items, resource: resource.map { Array($0.utf8) }, fetchedAt: fetchedAt)!
    }

    /// Xero's indented answer for an invoice, CRLF line breaks and escaped slashes included.
    static func invoice(_ id: String, status: String, updated: Int64 = 1_573_755_038_314) -> String {
        "{\r\n  \"InvoiceID\": \"\(id)\",\r\n  \"Type\": \"ACCREC\",\r\n  \"Status\": \"\(status)\",\r\n  \"Contact\": {\"ContactID\": \"c-1\", \"Name\": \"Ridgeway\"},\r\n  \"AmountDue\": 50000.00,\r\n  \"UpdatedDateUTC\": \"\\/Date(\(updated)+0000)\\/\"\r\n}"
    }

    /// A sink on the shared test server writing to `table`, started; stop it when done.
    /// The timeout is long: in the full parallel run, tests that block the two threads of the
    /// concurrency pool delay the client's continuations by tens of seconds, and a delivery
    /// that times out there would fail these tests for a reason they do not test.
    static func sink(table: String, timeout: Duration = .seconds(600)) throws -> PostgresSink {
        let endpoint = try PostgresEndpoint.parse(try TestPostgres.server().url())
        let sink = PostgresSink(endpoint: endpoint, table: ResourceTable(table)!, timeout: timeout)
        sink.start()
        return sink
    }

    /// Runs `body` with a client of its own on the shared test server.
    static func withClient<T: Sendable>(_ body: (PostgresClient) async throws -> T) async throws -> T {
        let endpoint = try PostgresEndpoint.parse(try TestPostgres.server().url())
        let client = PostgresClient(configuration: endpoint.clientConfiguration())
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        return try await body(client)
    }
}

extension PostgresEventQueue {
    /// An append as the receiver makes it: each record's `tenantId`, as the receiver parsed it
    /// from the delivery, goes with it ("" when it has none).
    func append(_ payloads: [[UInt8]], completion: @escaping @Sendable (Result<Range<UInt64>, DiskQueueError>) -> Void) {
        let tenants = payloads.map { payload in
            (try? QueuedEvent.decode(payload)).flatMap { try? JSONParser.parse($0.event)["tenantId"]?.stringValue } ?? ""
        }
        append(payloads, tenants: tenants, completion: completion)
    }
}
