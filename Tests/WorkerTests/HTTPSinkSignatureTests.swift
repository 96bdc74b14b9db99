import ByteJSON
import DiskQueue
import EventRecord
import Foundation
import HTTPServer
import Synchronization
import Testing
@testable import Worker

/// `OneLineOutputTests.httpSinkPostsOneLineAndSignsTheBytesItSent` never reads the signature
/// header; `SinkTests` verifies it only for a compact resource. This one verifies the signature
/// over the body actually posted when Xero's record was indented.
@Suite struct HTTPSinkSignatureTests {
    @Test func signatureVerifiesOverTheCompactedBodyOfAnIndentedRecord() async throws {
        let got = Mutex<[(body: [UInt8], signature: String)]>([])
        let server = HTTPServer { request, responder in
            got.withLock { $0.append((request.body, request.head.headers[HTTPSink.signatureHeader] ?? "")) }
            responder.send(HTTPResponse(status: 204))
        }
        let port = try server.start(host: "127.0.0.1", port: 0).port
        defer { server.shutdown(grace: .seconds(1)) }
        let queued = QueuedEvent(receivedAt: "2026-11-29T01:00:01.000Z", eventSequence: 3,
                                 event: Array(OneLineOutputTests.indentedEvent.utf8)).encoded()
        let item = try QueuedItem.decode(QueueRecord(sequence: 9, payload: queued))
        let record = DeliveryRecord(items: [item], resource: Array(OneLineOutputTests.indentedInvoice.utf8), fetchedAt: "2026-11-29T01:00:02.000Z")!
        let sink = HTTPSink(url: URL(string: "http://127.0.0.1:\(port)/r")!, secret: "s", timeout: .seconds(10))
        _ = await sink.deliver([record])
        let posted = try #require(got.withLock { $0.first })
        #expect(!posted.body.contains(0x0A))
        #expect(WebhookSignature(current: "s").isValid(header: posted.signature, body: posted.body))
    }
}
