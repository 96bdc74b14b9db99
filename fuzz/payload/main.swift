// libFuzzer entry for `WebhookPayload.parse` and the `ByteJSON` parser under it. ByteJSON is
// built as its own module and this file is compiled with WebhookPayload.swift and
// QueuedEvent.swift (see fuzz/run.sh).
//
// The receive path stores each event's bytes exactly as sent, so what matters most is that
// every byte range the parser reports is itself a valid JSON document meaning the same thing.

import ByteJSON

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let body = Array(UnsafeRawBufferPointer(start: start, count: count))
    let document: JSONValue?
    do {
        document = try JSONParser.parse(body)
    } catch {
        check(error.offset >= 0 && error.offset <= body.count, "failure offset \(error.offset) of \(body.count)")
        document = nil
    }
    if let document {
        check(document.range.lowerBound >= 0 && document.range.upperBound <= body.count,
              "document range \(document.range) of \(body.count) bytes")
        checkRangesReparse(document, in: body)
    }
    checkPayload(body, document: document)
    return 0
}

/// `WebhookPayload.parse` accepts exactly the JSON objects with an `events` array of objects,
/// and each event is the input's own bytes, reparsing to an object with the same fields.
func checkPayload(_ body: [UInt8], document: JSONValue?) {
    let payload: WebhookPayload
    do {
        payload = try WebhookPayload.parse(body)
    } catch {
        switch error {
        case .invalidJSON: check(document == nil, "payload says invalid JSON, ByteJSON parsed it")
        default: check(document != nil, "payload failed with \(error) on invalid JSON")
        }
        return
    }
    guard let document, let items = document["events"]?.arrayValue else {
        check(false, "payload accepted a body without an events array")
        return
    }
    check(payload.events.count == items.count, "\(payload.events.count) events of \(items.count)")
    for (index, event) in payload.events.enumerated() {
        check(event.raw.startIndex >= 0 && event.raw.endIndex <= body.count
              && event.raw.indices == items[index].range,
              "event \(index) raw \(event.raw.indices), item at \(items[index].range)")
        let raw = Array(event.raw)
        check(raw == Array(body[event.raw.indices]), "event \(index) bytes differ from the input")
        let reparsed: JSONValue
        do {
            reparsed = try JSONParser.parse(raw)
        } catch {
            check(false, "event \(index) bytes do not reparse: \(error)")
            return
        }
        check(reparsed.isObject && reparsed.range == 0..<raw.count, "event \(index) reparsed as \(reparsed.kind)")
        check(reparsed["resourceUrl"]?.stringValue == event.resourceURL
              && reparsed["resourceId"]?.stringValue == event.resourceID
              && reparsed["tenantId"]?.stringValue == event.tenantID
              && reparsed["tenantType"]?.stringValue == event.tenantType
              && reparsed["eventCategory"]?.stringValue == event.category
              && reparsed["eventType"]?.stringValue == event.type
              && reparsed["eventDateUtc"]?.stringValue == event.eventDateUTC,
              "event \(index) fields differ after reparsing")
        checkQueuedRoundTrip(raw, sequence: payload.firstEventSequence.map { $0 &+ Int64(index) })
    }
}

/// The queue record wrapping an event decodes back to the same event bytes.
func checkQueuedRoundTrip(_ event: [UInt8], sequence: Int64?) {
    let queued = QueuedEvent(receivedAt: "2026-11-29T05:00:00.000Z", eventSequence: sequence, event: event)
    do {
        let decoded = try QueuedEvent.decode(queued.encoded())
        check(decoded == queued, "queued record decoded as \(decoded)")
    } catch {
        check(false, "queued record does not decode: \(error)")
    }
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("payload invariant: \(message())") }
}
