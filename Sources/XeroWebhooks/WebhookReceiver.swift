import DiskQueue
import EventRecord
import HTTPServer
import Synchronization

/// The Delivery URL endpoint: verifies `x-xero-signature` over the exact body bytes, then
/// appends each event to the queue (the disk queue, or cluster mode's postgres queue) and
/// answers 200 only once they are durable.
///
/// Xero's contract (xero-facts.md §1–2): 200 for a correctly signed payload, 401 for a missing
/// or wrong signature, empty body, no cookies, well under 5 s. A body that is signed but not a
/// Xero payload gets 400; a queue that cannot persist gets 503 (never 200, never 401, so Xero
/// retries). Intent-to-receive deliveries are ordinary signed payloads with no events: 200,
/// nothing queued. Keys may be swapped at run time (`updateKeys`); everything else is immutable.
package final class WebhookReceiver: Sendable {
    /// What happened to one request, for logs and metrics.
    package enum Outcome: Sendable, Equatable {
        case accepted(events: Int, sequences: Range<UInt64>)
        /// Correctly signed, no events (intent to receive, or an empty delivery).
        case acknowledgedEmpty
        case missingSignature
        case badSignature
        case notAPayload(String)
        case persistFailed(DiskQueueError)
        case methodNotAllowed(String)
    }

    package static let signatureHeader = "x-xero-signature"

    private let signature: Mutex<WebhookSignature>
    private let queue: any EventStore
    private let now: @Sendable () -> Int64
    private let onOutcome: @Sendable (Outcome, SocketAddress?) -> Void

    /// - Parameters:
    ///   - now: milliseconds since the epoch, stamped on each record as its receive time.
    ///   - onOutcome: called once per request, before or after the answer is sent.
    package init(signature: WebhookSignature, queue: any EventStore,
                now: @escaping @Sendable () -> Int64,
                onOutcome: @escaping @Sendable (Outcome, SocketAddress?) -> Void = { _, _ in }) {
        self.signature = Mutex(signature)
        self.queue = queue
        self.now = now
        self.onOutcome = onOutcome
    }

    /// Replaces the keys used for verification (e.g. after a key rotation and reload).
    package func updateKeys(_ newSignature: WebhookSignature) {
        signature.withLock { $0 = newSignature }
    }

    /// Handles one request addressed to the webhook path.
    package func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let peer = responder.peer
        guard request.head.method == "POST" else {
            onOutcome(.methodNotAllowed(request.head.method), peer)
            responder.send(HTTPResponse(status: 405, headers: [("Allow", "POST")]))
            return
        }
        let header: String
        switch request.head.headers.occurrence(Self.signatureHeader) {
        case let .one(value):
            header = value
        case .absent:
            onOutcome(.missingSignature, peer)
            responder.send(HTTPResponse(status: 401))
            return
        case .several:
            // Two signature fields are ambiguous (a proxy may pass on either): never accepted.
            onOutcome(.badSignature, peer)
            responder.send(HTTPResponse(status: 401))
            return
        }
        let verifier = signature.withLock { $0 }
        guard verifier.isValid(header: header, body: request.body) else {
            onOutcome(.badSignature, peer)
            responder.send(HTTPResponse(status: 401))
            return
        }
        let payload: WebhookPayload
        do {
            payload = try WebhookPayload.parse(request.body)
        } catch {
            onOutcome(.notAPayload(error.description), peer)
            responder.send(HTTPResponse(status: 400))
            return
        }
        guard !payload.events.isEmpty else {
            onOutcome(.acknowledgedEmpty, peer)
            responder.send(HTTPResponse(status: 200))
            return
        }
        let receivedAt = UTCTimestamp.format(millisecondsSinceEpoch: now())
        let records = payload.events.enumerated().map { index, event in
            QueuedEvent(
                receivedAt: receivedAt,
                // A first sequence near Int64.max must not trap: past the end there is no sequence.
                eventSequence: payload.firstEventSequence.flatMap { first in
                    let (sequence, overflow) = first.addingReportingOverflow(Int64(index))
                    return overflow ? nil : sequence
                },
                event: Array(event.raw)
            ).encoded()
        }
        let count = records.count
        let onOutcome = self.onOutcome
        queue.append(records, tenants: payload.events.map { $0.tenantID ?? "" }) { result in
            switch result {
            case let .success(sequences):
                onOutcome(.accepted(events: count, sequences: sequences), peer)
                // On the queue's writer thread: written from here when the socket takes it.
                responder.sendNow(HTTPResponse(status: 200))
            case let .failure(error):
                onOutcome(.persistFailed(error), peer)
                responder.send(HTTPResponse(status: 503, headers: [("Retry-After", "60")]))
            }
        }
    }
}

/// Where the receiver stores a delivery's events before it answers 200: the completion reports
/// the sequences given to them once they are durable, or why they were not stored.
/// `tenants` holds each event's `tenantId` as the receiver parsed it ("" when it has none): a
/// store that keeps events per tenant need not parse them again.
package protocol EventStore: Sendable {
    func append(_ payloads: [[UInt8]], tenants: [String], completion: @escaping @Sendable (Result<Range<UInt64>, DiskQueueError>) -> Void)
}

extension DiskQueue: EventStore {
    package func append(_ payloads: [[UInt8]], tenants: [String], completion: @escaping @Sendable (Result<Range<UInt64>, DiskQueueError>) -> Void) {
        append(payloads, completion: completion)
    }
}
