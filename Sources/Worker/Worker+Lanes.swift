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

    /// Fetch and deliver for one tenant. Runs outside the actor except for the final hand-back.
    nonisolated func runLane(tenant: String, work all: [(key: ResourceKey, items: [QueuedItem])]) async {
        let now = self.now
        let pass = await LanePass.run(all, fetcher: fetcher, sink: sink, fetchedAt: { UTCTimestamp.format(millisecondsSinceEpoch: now()) })!
        await complete(tenant: tenant, work: pass.work, refused: pass.refused, outcomes: pass.outcomes)
    }

    private func complete(tenant: String, work: [(key: ResourceKey, items: [QueuedItem])],
                          refused: [(key: ResourceKey, item: QueuedItem, reason: String)],
                          outcomes: [ResourceKey: LanePass.Outcome]) async {
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
