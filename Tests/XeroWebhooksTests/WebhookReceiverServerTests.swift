import DiskQueue
import EventRecord
import HTTPServer
import TestSupport
import Testing
@testable import XeroWebhooks

/// The receiver behind the real HTTP server on 127.0.0.1 port 0.
@Suite struct WebhookReceiverServerTests {
    @Test(arguments: SignatureVector.all())
    func signatureVectorThroughTheServer(_ vector: SignatureVector) throws {
        let harness = try ReceiverHarness(key: vector.key)
        defer { harness.stop() }
        let client = try RawHTTPClient(port: harness.port)
        let response = try client.exchange(RawHTTPClient.post(ReceiverHarness.path, body: vector.body,
                                                             headers: [("x-xero-signature", vector.signature)]))
        #expect(response.status == vector.expect)
        #expect(response.body.isEmpty)
        #expect(response.header("Content-Length") == "0")
        #expect(response.header("Set-Cookie") == nil)
        let payload = try WebhookPayload.parse(vector.body)
        let stored = try harness.records()
        #expect(stored.count == (vector.expect == 200 ? payload.events.count : 0))
    }

    @Test func signedBatchIsDurableBeforeTheAnswerAndByteExact() throws {
        let harness = try ReceiverHarness()
        defer { harness.stop() }
        let (body, events) = deliveryBody(events: 5, first: 10)
        let client = try RawHTTPClient(port: harness.port)
        let response = try client.exchange(harness.signed(body))
        #expect(response.status == 200)
        // The 200 has been read, so the records must already be readable from disk.
        let records = try harness.records()
        #expect(records.count == 5)
        for (index, record) in records.enumerated() {
            let queued = try QueuedEvent.decode(record.payload)
            #expect(queued.event == Array(events[index].utf8))
            #expect(queued.eventSequence == Int64(10 + index))
            #expect(queued.receivedAt == "2026-11-29T05:01:01.005Z")
        }
        #expect(harness.queue.stats.syncs >= 1)
    }

    @Test func hugeFirstSequenceDoesNotCrashTheReceiver() throws {
        let harness = try ReceiverHarness()
        defer { harness.stop() }
        let event = #"{"resourceId":"a","eventCategory":"INVOICE","tenantId":"t"}"#
        let body = Array(#"{"events":[\#(event),\#(event)],"firstEventSequence":9223372036854775807,"lastEventSequence":1,"entropy":"E"}"#.utf8)
        let client = try RawHTTPClient(port: harness.port)
        #expect(try client.exchange(harness.signed(body)).status == 200)
        let records = try harness.records().map { try QueuedEvent.decode($0.payload) }
        #expect(records.map(\.eventSequence) == [Int64.max, nil])
    }

    @Test func headerNameIsCaseInsensitive() throws {
        let harness = try ReceiverHarness()
        defer { harness.stop() }
        let (body, _) = deliveryBody(events: 1)
        let signature = WebhookSignature(current: harness.key).signature(for: body)
        let client = try RawHTTPClient(port: harness.port)
        let response = try client.exchange(RawHTTPClient.post(ReceiverHarness.path, body: body, headers: [("X-Xero-Signature", signature)]))
        #expect(response.status == 200)
        #expect(try harness.records().count == 1)
    }

    /// Two signature fields, one of them right: which one a proxy passes on is ambiguous, so
    /// neither order is accepted.
    @Test func twoSignatureFieldsAre401AndNothingQueued() throws {
        let harness = try ReceiverHarness()
        defer { harness.stop() }
        let (body, _) = deliveryBody(events: 1)
        let good = WebhookSignature(current: harness.key).signature(for: body)
        let wrong = WebhookSignature(current: harness.key + "x").signature(for: body)
        for fields in [[good, wrong], [wrong, good], [good, good]] {
            let client = try RawHTTPClient(port: harness.port)
            let response = try client.exchange(RawHTTPClient.post(ReceiverHarness.path, body: body,
                                                                  headers: fields.map { ("x-xero-signature", $0) }))
            #expect(response.status == 401, "\(fields)")
        }
        #expect(try harness.records().isEmpty)
    }

    @Test func missingSignatureIs401AndNothingQueued() throws {
        let harness = try ReceiverHarness()
        defer { harness.stop() }
        let client = try RawHTTPClient(port: harness.port)
        let response = try client.exchange(RawHTTPClient.post(ReceiverHarness.path, body: deliveryBody(events: 2).body))
        #expect(response.status == 401)
        #expect(response.body.isEmpty)
        #expect(try harness.records().isEmpty)
    }

    @Test(arguments: [#"{"hello":"world"}"#, "not json", #"{"events":{}}"#, ""])
    func signedNonPayloadIs400AndNothingQueued(_ body: String) throws {
        let harness = try ReceiverHarness()
        defer { harness.stop() }
        let client = try RawHTTPClient(port: harness.port)
        let response = try client.exchange(harness.signed(Array(body.utf8)))
        #expect(response.status == 400)
        #expect(response.body.isEmpty)
        #expect(try harness.records().isEmpty)
    }

    @Test func wrongMethodIs405WithAllow() throws {
        let harness = try ReceiverHarness()
        defer { harness.stop() }
        let client = try RawHTTPClient(port: harness.port)
        let response = try client.exchange(Array("GET /webhooks/xero HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(response.status == 405)
        #expect(response.header("Allow") == "POST")
        let other = try client.exchange(Array("GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(other.status == 404)
    }

    @Test(arguments: FaultPoint.allCases.filter { ![.createSegment, .writeConsumerPosition, .removeSegmentLeftover].contains($0) })
    func diskFailureIs503NeverAFalse200(_ point: FaultPoint) throws {
        struct InjectedIOError: Error {}
        let harness = try ReceiverHarness(faults: FaultInjector { p in if p == point { throw InjectedIOError() } })
        defer { harness.stop() }
        let client = try RawHTTPClient(port: harness.port)
        for _ in 0..<3 {
            let response = try client.exchange(harness.signed(deliveryBody(events: 3).body))
            #expect(response.status == 503)
            #expect(response.body.isEmpty)
        }
        #expect(harness.queue.isFailed)
        // Intent-to-receive needs no disk: still 200 while the queue is failed.
        let itr = Array(#"{"events":[],"firstEventSequence": 0,"lastEventSequence": 0, "entropy": "ABCDEFGHIJKLMNOPQRST"}"#.utf8)
        #expect(try client.exchange(harness.signed(itr)).status == 200)
    }

    @Test func manyBatchesOverKeepAliveConnections() throws {
        let harness = try ReceiverHarness()
        defer { harness.stop() }
        let clients = try (0..<4).map { _ in try RawHTTPClient(port: harness.port) }
        var expected: [[UInt8]] = []
        for round in 0..<10 {
            for (c, client) in clients.enumerated() {
                let (body, events) = deliveryBody(events: 2, first: (round * 4 + c) * 2 + 1)
                #expect(try client.exchange(harness.signed(body)).status == 200)
                expected += events.map { Array($0.utf8) }
            }
        }
        let stored = try harness.records().map { try QueuedEvent.decode($0.payload).event }
        #expect(stored == expected)
    }
}
