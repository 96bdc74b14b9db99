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
/// go when it is empty, after each pass while other lanes wait for room (so a busy tenant does
/// not starve a quiet one), and when one of its resources must wait (a retry's backoff, a
/// rate-limit wait, a paused credential or tenant): the whole lane waits, so a tenant's events,
/// and with them each resource's, are delivered in the order they were received. A daemon that
/// dies stops renewing; its lanes are taken by the others once their leases end. The lease is
/// renewed right before each delivery, and a pass whose lease was lost (a renewal refused or
/// failed) delivers nothing: two daemons never deliver one tenant's records at once. Delivery is
/// at least once: a pass whose lease was lost after it delivered and before it settled is done
/// again by the lane's new holder.
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
        /// The database failed since the last successful claim (reported once per outage).
        var unavailable = false
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

    /// Takes no new lanes and cuts short the waits of the passes in progress (a rate-limit
    /// wait, a backoff inside a fetch); returns when they have settled.
    package func stop() async {
        let loop = state.withLock { state in
            state.stopping = true
            return state.loop
        }
        loop?.cancel()
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
                        state.withLock { state in
                            state.unavailable = false
                            state.status.sharedUnavailable = nil
                        }
                    } catch {
                        report("the postgres queue at \(queue.location) cannot be read: \(PostgresErrorText.describe(error))")
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
                if claimed.isEmpty { try? await Task.sleep(for: state.withLock { $0.unavailable } ? .seconds(1) : .milliseconds(100)) }
            }
        }
    }

    /// Whether this daemon still holds a lane: false from the first renewal that was refused or
    /// failed (the lease may have ended meanwhile).
    private final class Hold: Sendable {
        let lost = Mutex(false)
    }

    /// Renews the lease; false (and the hold marked lost) when it was not renewed within a third
    /// of the lease.
    private func renew(_ tenant: String, _ hold: Hold) async -> Bool {
        if hold.lost.withLock({ $0 }) { return false }
        let (queue, owner, lease) = (self.queue, self.owner, self.lease)
        // A task of its own: a stopping worker (cancelled) still renews before it delivers.
        let renewed = await Task {
            (try? await Deadline.run(within: lease / 3) { try await queue.renew(tenant: tenant, owner: owner, lease: lease) }) ?? false
        }.value
        if !renewed { hold.lost.withLock { $0 = true } }
        return renewed
    }

    /// Passes over one lane until it is empty, must wait, is lost, must make room, or the worker stops.
    private func work(_ tenant: String) async {
        let (queue, owner, lease) = (self.queue, self.owner, self.lease)
        let hold = Hold()
        let renewer = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: lease / 3)
                guard !Task.isCancelled, await self.renew(tenant, hold) else { return }
            }
        }
        defer { renewer.cancel() }
        while true {
            do {
                let stored = try await Deadline.run(within: queue.statementLimit) {
                    try await queue.batch(tenant: tenant, limit: self.configuration.maxResourcesPerFetch * 4)
                }
                let settlement: PostgresEventQueue.Settlement
                if stored.isEmpty {
                    settlement = PostgresEventQueue.Settlement()
                } else {
                    guard let done = await pass(stored, stillHeld: { await self.renew(tenant, hold) }) else { return }
                    settlement = done
                }
                // Let go when empty, when stopping, and while other lanes wait for room.
                let release = stored.isEmpty || stopping || state.withLock { $0.lanes.count >= maxLanes }
                // Settled even when the worker is stopping (cancelled): a task of its own.
                let limit = queue.statementLimit
                let settled = try await Task {
                    try await Deadline.run(within: limit) {
                        try await queue.settle(tenant: tenant, owner: owner, settlement, release: release, lease: lease)
                    }
                }.value
                guard settled, !release, settlement.laneWait == nil else { return }
            } catch {
                // The lane's lease ends by itself; its events are taken again then.
                report("the postgres queue at \(queue.location) failed for a lane: \(PostgresErrorText.describe(error))")
                return
            }
        }
    }

    /// Fetches and delivers the lane's oldest resources (the batch's first
    /// `maxResourcesPerFetch`), and says what becomes of each of their events; nil when the lane
    /// was lost before the delivery (nothing was delivered, nothing is to be settled).
    private func pass(_ stored: [PostgresEventQueue.Stored], stillHeld: () async -> Bool) async -> PostgresEventQueue.Settlement? {
        var settlement = PostgresEventQueue.Settlement()
        var byID: [Int64: PostgresEventQueue.Stored] = [:]
        var order: [ResourceKey] = []
        var groups: [ResourceKey: [QueuedItem]] = [:]
        for event in stored {
            byID[event.id] = event
            let item: QueuedItem
            guard event.id > 0 else {  // a row an operator inserted by hand: the queue numbers its rows from 1
                bury(event.id, "id \(event.id) is not one the queue gives", into: &settlement)
                continue
            }
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
        let work = order.map { (key: $0, items: groups[$0] ?? []) }
        guard !work.isEmpty else { return settlement }
        let fetchedAt: @Sendable () -> String = { UTCTimestamp.format(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)) }
        guard let pass = await LanePass.run(work, fetcher: fetcher, sink: sink, fetchedAt: fetchedAt, mayDeliver: stillHeld) else { return nil }
        for (_, item, reason) in pass.refused { bury(item.sequence, "refused: \(reason)", into: &settlement) }
        var failures: [ResourceKey: (reason: String, after: Duration?, attempt: Bool)] = [:]
        for resource in pass.work {
            switch pass.outcomes[resource.key] ?? .retry("not delivered", after: nil) {
            case let .delivered(notFound):
                let request = FetchRequest(key: resource.key, resourceURL: resource.items.last!.resourceURL)
                resume(.credential(name: fetcher.credential(for: request)))
                resume(.tenant(id: resource.key.tenantID))
                settlement.delivered += resource.items.map { Int64($0.sequence) }
                onEvent(.delivered(key: resource.key, events: resource.items.count, notFound: notFound))
            case let .retry(reason, after): failures[resource.key] = (reason, after, true)
            case let .wait(reason, after):
                // Without Xero's Retry-After: the first backoff step, as the disk queue's first wait.
                let delay = after ?? min(configuration.backoff.delay(afterAttempt: 1, unit: Double.random(in: 0..<1)), configuration.waitCap)
                failures[resource.key] = (reason, delay, false)
                onEvent(.waiting(key: resource.key, after: delay, reason: reason))
            case let .dead(reason): for item in resource.items { bury(item.sequence, reason, into: &settlement) }
            case let .paused(scope, reason):
                pause(scope, reason)
                failures[resource.key] = ("paused: \(reason)", configuration.pauseRecheck, false)
            }
        }
        state.withLock { $0.status.delivered += settlement.delivered.isEmpty ? 0 : 1 }
        for resource in pass.work {
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

    /// Holds a pause in the status (for `/readyz` and `/metrics`) and reports it when new.
    private func pause(_ scope: PauseScope, _ reason: String) {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let recheck = now + Int64(configuration.pauseRecheck.components.seconds) * 1000
        let new = state.withLock { state -> Bool in
            if let index = state.status.pauses.firstIndex(where: { $0.scope == scope }) {
                state.status.pauses[index].reason = reason
                state.status.pauses[index].recheckAt = recheck
                return false
            }
            state.status.pauses.append(Pause(scope: scope, reason: reason, since: now, recheckAt: recheck))
            return true
        }
        if new { onEvent(.paused(scope, reason: reason)) }
    }

    /// Ends a pause a delivery proved over.
    private func resume(_ scope: PauseScope) {
        let ended = state.withLock { state -> Bool in
            guard let index = state.status.pauses.firstIndex(where: { $0.scope == scope }) else { return false }
            state.status.pauses.remove(at: index)
            return true
        }
        if ended { onEvent(.resumed(scope)) }
    }

    /// Lanes waiting out a pause are tried again now (SIGHUP).
    package func recheckPauses() async {
        _ = try? await Deadline.run(within: queue.statementLimit) { try await self.queue.duePausedLanes() }
    }

    /// Reports the database failing, once until a claim succeeds again.
    private func report(_ reason: String) {
        let first = state.withLock { state in
            defer {
                state.unavailable = true
                state.status.sharedUnavailable = reason
            }
            return !state.unavailable
        }
        if first { onEvent(.queueUnavailable(reason: reason)) }
    }

    private func bury(_ id: some BinaryInteger, _ reason: String, into settlement: inout PostgresEventQueue.Settlement) {
        settlement.dead.append((Int64(id), reason))
        state.withLock { $0.status.deadLettered += 1 }
        onEvent(.deadLettered(id: "\(id)", reason: reason))
    }
}
