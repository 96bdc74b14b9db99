import EventRecord
import ResourceFetch

/// Lanes: one fetch-and-deliver in flight per tenant, handed back to the actor when done.
extension Worker {
    // MARK: Scheduling

    /// Starts one fetch-and-deliver per tenant that has ready resources and none in flight;
    /// `launch` runs each lane (in the loop's task group; tests driving `pass()` give each its
    /// own task).
    func launchLanes(_ launch: (_ tenant: String, _ work: [(key: ResourceKey, items: [QueuedItem])]) -> Void) {
        let current = now()
        var groups: [ResourceKey: [QueuedItem]] = [:]
        for item in items.values { groups[item.key, default: []].append(item) }
        var ready: [String: [(key: ResourceKey, items: [QueuedItem])]] = [:]
        for (key, group) in groups where !resourcesInFlight.contains(key) && !tenantsInFlight.contains(key.tenantID) {
            // Any event of the resource still backing off holds the whole resource back.
            guard group.allSatisfy({ (retries[$0.sequence]?.nextTry ?? 0) <= current }) else { continue }
            guard !isHeld(key, resourceURL: group.last!.resourceURL, now: current) else { continue }
            ready[key.tenantID, default: []].append((key, group.sorted { $0.sequence < $1.sequence }))
        }
        for (tenant, resources) in ready {
            let batch = resources.sorted { $0.items[0].sequence < $1.items[0].sequence }.prefix(configuration.maxResourcesPerFetch)
            tenantsInFlight.insert(tenant)
            launches += 1
            laneLaunch[tenant] = launches
            for resource in batch { resourcesInFlight.insert(resource.key) }
            launch(tenant, Array(batch))
        }
    }

    /// What the lane does with one resource, decided after the sink answered. Not a
    /// `FetchOutcome` again: a fetched record is `delivered` only once the sink took it (a sink
    /// failure is a retry), and a pause names what it holds back (the credential the request
    /// needs, or the tenant), which only the worker knows.
    private enum LaneOutcome: Sendable {
        case delivered(notFound: Bool)
        case retry(String, after: Duration?)
        case wait(String, after: Duration?)
        case dead(String)
        case paused(PauseScope, String)
    }

    /// Fetch and deliver for one tenant. Runs outside the actor except for the final hand-back.
    nonisolated func runLane(tenant: String, work all: [(key: ResourceKey, items: [QueuedItem])]) async {
        // Every event's resourceUrl is checked, not only the one the fetch uses: an event whose
        // URL is refused is dead-lettered on its own, its siblings are fetched with a good URL.
        var work: [(key: ResourceKey, items: [QueuedItem])] = []
        var refused: [(key: ResourceKey, item: QueuedItem, reason: String)] = []
        for resource in all {
            var checked: [String: String?] = [:]
            var good: [QueuedItem] = []
            for item in resource.items {
                let request = FetchRequest(key: resource.key, resourceURL: item.resourceURL)
                let reason = checked[item.resourceURL] ?? fetcher.refusal(for: request)
                checked[item.resourceURL] = reason
                if let reason { refused.append((resource.key, item, reason)) } else { good.append(item) }
            }
            if !good.isEmpty { work.append((resource.key, good)) }
        }
        let requests = work.map { FetchRequest(key: $0.key, resourceURL: $0.items.last!.resourceURL) }
        let results = await fetcher.fetch(requests)
        let fetchedAt = UTCTimestamp.format(millisecondsSinceEpoch: now())
        var outcomes: [ResourceKey: LaneOutcome] = [:]
        var records: [DeliveryRecord] = []
        for resource in work {
            switch results[resource.key] ?? .retryable("no answer for this resource", retryAfter: nil) {
            // `work` holds only resources with events, so a record is always made.
            case let .found(bytes):
                if let record = DeliveryRecord(items: resource.items, resource: bytes, fetchedAt: fetchedAt) { records.append(record) }
            case .notFound:
                if let record = DeliveryRecord(items: resource.items, resource: nil, fetchedAt: fetchedAt) { records.append(record) }
            case .eventsOnly:
                if let record = DeliveryRecord(eventsOf: resource.items) { records.append(record) }
            case let .retryable(reason, after): outcomes[resource.key] = .retry(reason, after: after)
            case let .waiting(reason, after): outcomes[resource.key] = .wait(reason, after: after)
            case let .permanent(reason): outcomes[resource.key] = .dead(reason)
            case let .refused(reason): outcomes[resource.key] = .dead("refused: \(reason)")
            case let .paused(reason):
                let request = FetchRequest(key: resource.key, resourceURL: resource.items.last!.resourceURL)
                outcomes[resource.key] = .paused(.credential(name: fetcher.credential(for: request)), reason)
            case let .disconnected(reason): outcomes[resource.key] = .paused(.tenant(id: resource.key.tenantID), reason)
            }
        }
        if !records.isEmpty {
            let delivered = await sink.deliver(records)
            for (record, result) in zip(records, delivered) {
                switch result {
                case .success: outcomes[record.key] = .delivered(notFound: record.resource == nil)
                case let .failure(error): outcomes[record.key] = .retry("sink: \(error.reason)", after: nil)
                }
            }
        }
        await complete(tenant: tenant, work: work, refused: refused, outcomes: outcomes)
    }

    private func complete(tenant: String, work: [(key: ResourceKey, items: [QueuedItem])],
                          refused: [(key: ResourceKey, item: QueuedItem, reason: String)],
                          outcomes: [ResourceKey: LaneOutcome]) async {
        defer {
            tenantsInFlight.remove(tenant)
            wake.signal()
        }
        let current = now()
        let launch = laneLaunch.removeValue(forKey: tenant) ?? 0
        do {
            for (key, item, reason) in refused {
                resourcesInFlight.remove(key)
                let state = retries[item.sequence]
                try await bury(DeadLetter(item: item, attempts: (state?.attempts ?? 0) + 1, firstAttempt: state?.firstAttempt ?? current,
                                          deadAt: current, lastError: "refused: \(reason)"), sequence: item.sequence)
            }
            for resource in work {
                resourcesInFlight.remove(resource.key)
                switch outcomes[resource.key] ?? .retry("not delivered", after: nil) {
                case let .delivered(notFound):
                    for item in resource.items { finish(item.sequence, eventID: item.eventID) }
                    status.delivered += 1
                    onEvent(.delivered(key: resource.key, events: resource.items.count, notFound: notFound))
                    let request = FetchRequest(key: resource.key, resourceURL: resource.items.last!.resourceURL)
                    // Only a fetch that started after a pause began proves it over (one already in
                    // flight when it began says nothing about it).
                    resume(.credential(name: fetcher.credential(for: request)), provenBy: launch)
                    resume(.tenant(id: resource.key.tenantID), provenBy: launch)
                case let .retry(reason, after):
                    try await scheduleRetry(resource.items, reason: reason, after: after, now: current)
                case let .wait(reason, after):
                    try await scheduleWait(resource.items, reason: reason, after: after, now: current)
                case let .dead(reason):
                    for item in resource.items {
                        let state = retries[item.sequence]
                        try await bury(DeadLetter(item: item, attempts: (state?.attempts ?? 0) + 1,
                                                  firstAttempt: state?.firstAttempt ?? current, deadAt: current,
                                                  lastError: reason), sequence: item.sequence)
                    }
                case let .paused(.tenant(id), reason) where await isListed(id, askedAfter: launch):
                    // Not a disconnection: the tenant is connected and Xero still refuses it this
                    // resource (typically a scope the grant does not cover). Pausing would only flap.
                    try await refuse(resource.items, reason: reason, now: current)
                case let .paused(scope, reason):
                    pause(scope, reason: reason, now: current)
                    try await hold(resource.items, reason: reason, now: current)
                }
            }
        } catch where Self.isShortage(error) {
            // Out of descriptors or memory: what was not recorded stays among the items and is
            // launched again (delivered again if it was delivered: at least once).
            for resource in work { resourcesInFlight.remove(resource.key) }
            for (key, _, _) in refused { resourcesInFlight.remove(key) }
            onEvent(.shortage(reason: "\(error)"))
        } catch {
            status.failed = "\(error)"
            onEvent(.failed(reason: "\(error)"))
        }
    }
}
