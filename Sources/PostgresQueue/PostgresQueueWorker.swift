import DiskQueue
import EventRecord
import Foundation
import PostgresSupport
import ResourceFetch
import Synchronization
import Worker

/// The worker of cluster mode's postgres queue: claims free tenant lanes, and for each, fetches
/// and delivers its events oldest first, as the disk queue's worker does (the same fetcher, sink,
/// backoff, attempts and age limits; dead letters go to `xero_webhookd_dead_events`).
///
/// A lane is held by one daemon at a time under a lease it renews while it works; the lane is let
/// go when it is empty, and when one of its resources must wait (a retry's backoff, a rate-limit
/// wait, a paused credential or tenant): the whole lane waits, so a tenant's events, and with
/// them each resource's, are delivered in the order they were received. A daemon that dies stops
/// renewing; its lanes are taken by the others once their leases end. Delivery is at least once:
/// a pass whose lease was lost before it settled is done again by the lane's new holder.
package final class PostgresQueueWorker: SharedQueueWorker {
    private let queue: PostgresEventQueue
    private let fetcher: any ResourceFetcher
    private let sink: any Sink
    private let configuration: WorkerConfiguration
    private let lease: Duration
    private let maxLanes: Int
    /// This worker in `xero_webhookd_lanes.owner`: the daemon's pid and a random id.
    private let owner = "\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
    private let onEvent: @Sendable (WorkerEvent) -> Void
    private let state = Mutex(State())

    private struct State {
        var lanes: Set<String> = []
        var status = WorkerStatus()
        var stopping = false
        var loop: Task<Void, Never>?
    }

    /// - Parameters:
    ///   - lease: how long a lane is held without renewal (`queue.laneLeaseMilliseconds`).
    ///   - maxLanes: tenants worked on at once by this daemon.
    package init(queue: PostgresEventQueue, fetcher: any ResourceFetcher, sink: any Sink, configuration: WorkerConfiguration,
                 lease: Duration, maxLanes: Int = 32, onEvent: @escaping @Sendable (WorkerEvent) -> Void = { _ in }) {
        self.queue = queue
        self.fetcher = fetcher
        self.sink = sink
        self.configuration = configuration
        self.lease = lease
        self.maxLanes = maxLanes
        self.onEvent = onEvent
    }

    package var statusSnapshot: WorkerStatus {
        state.withLock { state in
            var status = state.status
            status.tenantsInFlight = state.lanes.count
            return status
        }
    }

    package func start() {
        state.withLock { state in
            guard state.loop == nil else { return }
            state.loop = Task { await self.run() }
        }
    }

    /// Takes no new lanes; returns when the passes in progress have settled.
    package func stop() async {
        let loop = state.withLock { state in
            state.stopping = true
            return state.loop
        }
        await loop?.value
    }

    private var stopping: Bool { state.withLock { $0.stopping } }

    private func run() async {
        await withDiscardingTaskGroup { group in
            while !stopping {
                let room = maxLanes - state.withLock { $0.lanes.count }
                var claimed: [String] = []
                if room > 0 {
                    do {
                        claimed = try await Deadline.run(within: queue.statementLimit) {
                            try await self.queue.claim(owner: self.owner, room: room, lease: self.lease)
                        }
                    } catch {
                        onEvent(.shortage(reason: "the postgres queue at \(queue.location) cannot be read: \(PostgresErrorText.describe(error))"))
                    }
                }
                state.withLock { state in
                    state.lanes.formUnion(claimed)
                    state.status.lastPass = Int64(Date().timeIntervalSince1970 * 1000)
                }
                for tenant in claimed {
                    group.addTask {
                        await self.work(tenant)
                        _ = self.state.withLock { $0.lanes.remove(tenant) }
                    }
                }
                if claimed.isEmpty { try? await Task.sleep(for: .milliseconds(100)) }
            }
        }
    }

    /// Passes over one lane until it is empty, must wait, is lost, or the worker stops.
    private func work(_ tenant: String) async {
        let (queue, owner, lease) = (self.queue, self.owner, self.lease)
        let renewer = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: lease / 3)
                guard !Task.isCancelled else { return }
                _ = try? await Deadline.run(within: queue.statementLimit) { try await queue.renew(tenant: tenant, owner: owner, lease: lease) }
            }
        }
        defer { renewer.cancel() }
        while true {
            do {
                let stored = try await Deadline.run(within: queue.statementLimit) {
                    try await queue.batch(tenant: tenant, limit: self.configuration.maxResourcesPerFetch * 4)
                }
                let settlement = stored.isEmpty ? PostgresEventQueue.Settlement() : await pass(stored)
                let release = stored.isEmpty || stopping
                let settled = try await Deadline.run(within: queue.statementLimit) {
                    try await queue.settle(tenant: tenant, owner: owner, settlement, release: release, lease: lease)
                }
                guard settled, !release, settlement.laneWait == nil else { return }
            } catch {
                // The lane's lease ends by itself; its events are taken again then.
                onEvent(.shortage(reason: "the postgres queue at \(queue.location) failed for a lane: \(PostgresErrorText.describe(error))"))
                return
            }
        }
    }

    /// Fetches and delivers the lane's oldest resources (the batch's first
    /// `maxResourcesPerFetch`), and says what becomes of each of their events.
    private func pass(_ stored: [PostgresEventQueue.Stored]) async -> PostgresEventQueue.Settlement {
        var settlement = PostgresEventQueue.Settlement()
        var byID: [Int64: PostgresEventQueue.Stored] = [:]
        var order: [ResourceKey] = []
        var groups: [ResourceKey: [QueuedItem]] = [:]
        for event in stored {
            byID[event.id] = event
            let item: QueuedItem
            do {
                item = try QueuedItem.decode(QueueRecord(sequence: UInt64(event.id), payload: event.record))
            } catch {
                bury(event.id, "\(error)", into: &settlement)
                continue
            }
            if groups[item.key] == nil {
                guard order.count < configuration.maxResourcesPerFetch else { continue }
                order.append(item.key)
            }
            groups[item.key, default: []].append(item)
        }
        var work: [(key: ResourceKey, items: [QueuedItem])] = []
        for key in order {
            var good: [QueuedItem] = []
            for item in groups[key] ?? [] {
                if let reason = fetcher.refusal(for: FetchRequest(key: key, resourceURL: item.resourceURL)) {
                    bury(item.sequence, "refused: \(reason)", into: &settlement)
                } else {
                    good.append(item)
                }
            }
            if !good.isEmpty { work.append((key, good)) }
        }
        guard !work.isEmpty else { return settlement }
        let results = await fetcher.fetch(work.map { FetchRequest(key: $0.key, resourceURL: $0.items.last!.resourceURL) })
        let fetchedAt = UTCTimestamp.format(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
        var records: [DeliveryRecord] = []
        var failures: [ResourceKey: (reason: String, after: Duration?, attempt: Bool)] = [:]
        for resource in work {
            switch results[resource.key] ?? .retryable("no answer for this resource", retryAfter: nil) {
            case let .found(bytes):
                if let record = DeliveryRecord(items: resource.items, resource: bytes, fetchedAt: fetchedAt) { records.append(record) }
            case .notFound:
                if let record = DeliveryRecord(items: resource.items, resource: nil, fetchedAt: fetchedAt) { records.append(record) }
            case .eventsOnly:
                if let record = DeliveryRecord(eventsOf: resource.items) { records.append(record) }
            case let .retryable(reason, after): failures[resource.key] = (reason, after, true)
            case let .waiting(reason, after): failures[resource.key] = (reason, after ?? configuration.waitCap, false)
            case let .paused(reason), let .disconnected(reason):
                onEvent(.waiting(key: resource.key, after: configuration.pauseRecheck, reason: reason))
                failures[resource.key] = (reason, configuration.pauseRecheck, false)
            case let .permanent(reason): for item in resource.items { bury(item.sequence, reason, into: &settlement) }
            case let .refused(reason): for item in resource.items { bury(item.sequence, "refused: \(reason)", into: &settlement) }
            }
        }
        if !records.isEmpty {
            for (record, result) in zip(records, await sink.deliver(records)) {
                switch result {
                case .success:
                    let items = work.first { $0.key == record.key }?.items ?? []
                    settlement.delivered += items.map { Int64($0.sequence) }
                    onEvent(.delivered(key: record.key, events: items.count, notFound: record.resource == nil))
                case let .failure(error):
                    failures[record.key] = ("sink: \(error.reason)", nil, true)
                }
            }
        }
        state.withLock { $0.status.delivered += settlement.delivered.isEmpty ? 0 : 1 }
        for resource in work {
            guard let failure = failures[resource.key] else { continue }
            var after = failure.after ?? .zero
            for item in resource.items {
                guard let event = byID[Int64(item.sequence)] else { continue }
                if failure.attempt {
                    let attempts = event.attempts + 1
                    if attempts >= configuration.maxAttempts || (event.failingFor ?? 0) >= Double(configuration.maxAge.components.seconds) {
                        bury(event.id, failure.reason, into: &settlement)
                        continue
                    }
                    settlement.retried.append((event.id, failure.reason))
                    after = max(after, failure.after ?? configuration.backoff.delay(afterAttempt: attempts, unit: Double.random(in: 0..<1)))
                    onEvent(.retrying(key: resource.key, attempt: attempts, after: after, reason: failure.reason))
                } else if (event.failingFor ?? 0) >= Double(configuration.maxAge.components.seconds) {
                    bury(event.id, failure.reason, into: &settlement)
                }
            }
            if settlement.laneWait.map({ $0.after < after }) ?? true { settlement.laneWait = (after, failure.reason) }
        }
        return settlement
    }

    private func bury(_ id: some BinaryInteger, _ reason: String, into settlement: inout PostgresEventQueue.Settlement) {
        settlement.dead.append((Int64(id), reason))
        state.withLock { $0.status.deadLettered += 1 }
        onEvent(.deadLettered(id: "\(id)", reason: reason))
    }
}
