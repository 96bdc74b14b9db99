import DiskQueue
import EventRecord
import Foundation
import HTTPServer
import TestSupport
import XeroWebhooks

/// A live server on 127.0.0.1 port 0 with the webhook receiver at `/webhooks/xero`, writing to a
/// disk queue in a temp dir.
final class ReceiverHarness {
    static let path = "/webhooks/xero"
    let directory: TemporaryDirectory
    let queue: DiskQueue
    let server: HTTPServer
    let port: UInt16
    let key: String

    init(key: String = "ExampleSigningKey", faults: FaultInjector? = nil) throws {
        self.key = key
        directory = try TemporaryDirectory()
        queue = try DiskQueue(directory: directory.file("queue"), options: DiskQueueOptions(faults: faults))
        let receiver = WebhookReceiver(signature: WebhookSignature(current: key), queue: queue, now: { 1_795_928_461_005 })
        server = HTTPServer { request, responder in
            if request.head.path == Self.path {
                receiver.handle(request, responder)
            } else {
                responder.send(HTTPResponse(status: 404))
            }
        }
        port = try server.start(host: "127.0.0.1", port: 0).port
    }

    func records() throws -> [QueueRecord] {
        try QueueReader.records(in: directory.file("queue"))
    }

    func signed(_ body: [UInt8]) -> [UInt8] {
        RawHTTPClient.post(Self.path, body: body, headers: [("x-xero-signature", WebhookSignature(current: key).signature(for: body))])
    }

    func stop() {
        server.shutdown(grace: .seconds(5))
        queue.close()
        directory.remove()
    }
}

/// A delivery body with `count` contact events and Xero-style sequences.
func deliveryBody(events count: Int, first: Int = 1, tenant: String = "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f") -> (body: [UInt8], events: [String]) {
    let events = (0..<count).map { i in
        let id = String(format: "717f2bfc-c6d4-41fd-b238-%012d", first + i)
        return #"{"resourceUrl":"https://api.xero.com/api.xro/2.0/Contacts/\#(id)","resourceId":"\#(id)","eventDateUtc":"2024-06-21T01:15:39.902","eventType":"UPDATE","eventCategory":"CONTACT","tenantId":"\#(tenant)","tenantType":"ORGANISATION"}"#
    }
    let body = #"{"events":[\#(events.joined(separator: ","))],"firstEventSequence": \#(first),"lastEventSequence": \#(first + count - 1),"entropy":"S0m3r4Nd0mt3xt"}"#
    return (Array(body.utf8), events)
}
