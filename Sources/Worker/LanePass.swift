import EventRecord
import ResourceFetch

/// One pass over a tenant's lane, the part both queues' workers share: every event's URL
/// checked, the resources fetched in one call, the records handed to the sink, and for each
/// resource what became of it. What follows (retry state, dead letters, pauses, settling) is
/// each queue's own.
package enum LanePass {
    /// What the lane does with one resource, decided after the sink answered. Not a
    /// `FetchOutcome` again: a fetched record is `delivered` only once the sink took it (a sink
    /// failure is a retry), and a pause names what it holds back (the credential the request
    /// needs, or the tenant), which only the worker knows.
    package enum Outcome: Sendable, Equatable {
        case delivered(notFound: Bool)
        case retry(String, after: Duration?)
        case wait(String, after: Duration?)
        case dead(String)
        case paused(PauseScope, String)
    }

    package struct Result: Sendable {
        /// The resources fetched, each with the events whose URL passed the check.
        package var work: [(key: ResourceKey, items: [QueuedItem])] = []
        /// Events whose `resourceUrl` was refused: dead-lettered on their own, their siblings
        /// fetched with a good URL.
        package var refused: [(key: ResourceKey, item: QueuedItem, reason: String)] = []
        /// For each resource in `work`.
        package var outcomes: [ResourceKey: Outcome] = [:]
    }

    /// Runs the pass. `mayDeliver` is asked once, after the fetch and before the sink (the
    /// postgres queue checks there that it still holds the lane); when it says no, nothing is
    /// delivered and nil is returned.
    package static func run(_ all: [(key: ResourceKey, items: [QueuedItem])], fetcher: any ResourceFetcher, sink: any Sink,
                            fetchedAt: @Sendable () -> String, mayDeliver: () async -> Bool = { true }) async -> Result? {
        var pass = Result()
        for resource in all {
            var checked: [String: String?] = [:]
            var good: [QueuedItem] = []
            for item in resource.items {
                let request = FetchRequest(key: resource.key, resourceURL: item.resourceURL)
                let reason = checked[item.resourceURL] ?? fetcher.refusal(for: request)
                checked[item.resourceURL] = reason
                if let reason { pass.refused.append((resource.key, item, reason)) } else { good.append(item) }
            }
            if !good.isEmpty { pass.work.append((resource.key, good)) }
        }
        guard !pass.work.isEmpty else { return pass }
        let results = await fetcher.fetch(pass.work.map { FetchRequest(key: $0.key, resourceURL: $0.items.last!.resourceURL) })
        let fetchedAt = fetchedAt()
        var records: [DeliveryRecord] = []
        for resource in pass.work {
            switch results[resource.key] ?? .retryable("no answer for this resource", retryAfter: nil) {
            // `work` holds only resources with events, so a record is always made.
            case let .found(bytes):
                if let record = DeliveryRecord(items: resource.items, resource: bytes, fetchedAt: fetchedAt) { records.append(record) }
            case .notFound:
                if let record = DeliveryRecord(items: resource.items, resource: nil, fetchedAt: fetchedAt) { records.append(record) }
            case .eventsOnly:
                if let record = DeliveryRecord(eventsOf: resource.items) { records.append(record) }
            case let .retryable(reason, after): pass.outcomes[resource.key] = .retry(reason, after: after)
            case let .waiting(reason, after): pass.outcomes[resource.key] = .wait(reason, after: after)
            case let .permanent(reason): pass.outcomes[resource.key] = .dead(reason)
            case let .refused(reason): pass.outcomes[resource.key] = .dead("refused: \(reason)")
            case let .paused(reason):
                let request = FetchRequest(key: resource.key, resourceURL: resource.items.last!.resourceURL)
                pass.outcomes[resource.key] = .paused(.credential(name: fetcher.credential(for: request)), reason)
            case let .disconnected(reason): pass.outcomes[resource.key] = .paused(.tenant(id: resource.key.tenantID), reason)
            }
        }
        if !records.isEmpty {
            guard await mayDeliver() else { return nil }
            let delivered = await sink.deliver(records)
            for (record, result) in zip(records, delivered) {
                switch result {
                case .success: pass.outcomes[record.key] = .delivered(notFound: record.resource == nil)
                case let .failure(error): pass.outcomes[record.key] = .retry("sink: \(error.reason)", after: nil)
                }
            }
        }
        return pass
    }
}
