import Dispatch
import Foundation
import SystemSupport

/// Applies `RateLimitPolicy` with the real clock: waits where the policy says wait, and hands
/// out permits. Shared by every call of one `XeroClient`.
///
/// With a `stateFile`, each tenant's calls of the day and its parks are written there at most a
/// second after a change (on a private serial queue) and by `flush()`, and read back at start,
/// so a restart neither forgets a used-up day nor sends into a park. A crash loses at most the
/// last second's counts; Xero's own 429 still stops an over-count.
package actor RateLimiter {
    /// The result of `acquire`.
    package enum Admission: Sendable, Equatable {
        /// Send the call now; call `release` when it ends.
        case granted
        /// Do not send it; retry after `retryAfter`.
        case deferred(retryAfter: Duration, reason: String)
    }

    private var policy: RateLimitPolicy
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private let stateFile: String?
    private let wallClock: @Sendable () -> Int64
    /// Changed since the last write; a write is scheduled.
    private var dirty = false
    private var scheduled = false
    private let disk = DispatchQueue(label: "xero-webhookd.rate-limits.disk")

    /// - Parameters:
    ///   - stateFile: where the day counts and parks are kept across restarts (nil: memory only).
    ///   - wallClock: milliseconds since the epoch (injectable for tests).
    package init(limits: RateLimits, maxWait: Duration = .seconds(65), stateFile: String? = nil,
                wallClock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) {
        var policy = RateLimitPolicy(limits: limits, maxWait: maxWait)
        if let stateFile, let data = FileManager.default.contents(atPath: stateFile),
           let saved = try? JSONDecoder().decode(RateLimitPolicy.Saved.self, from: data) {
            // A missing or damaged file starts from zero, as a first start does.
            policy.restore(saved, now: .now, wallNow: wallClock())
        }
        self.policy = policy
        self.stateFile = stateFile
        self.wallClock = wallClock
    }

    /// Waits until the policy admits a call for `tenant`, or returns `.deferred` when the wait
    /// would be longer than the policy's `maxWait` (a parked tenant, a used-up day).
    package func acquire(tenant: String) async -> Admission {
        while true {
            let now = ContinuousClock.now
            switch policy.tryAcquire(tenant: tenant, now: now) {
            case .proceed:
                return .granted
            case .waitForSlot:
                await withCheckedContinuation { waiters.append($0) }
            case let .waitUntil(instant):
                do {
                    try await Task.sleep(until: instant, clock: .continuous)
                } catch {
                    // Cancelled: give up the wait rather than spin until the instant.
                    return .deferred(retryAfter: max(instant - .now, .zero), reason: "the wait for a rate-limit slot was cancelled")
                }
            case let .deferred(until, reason):
                return .deferred(retryAfter: max(until - now, .zero), reason: reason)
            }
        }
    }

    /// Ends a granted call and wakes callers waiting for a slot.
    package func release(tenant: String, reachedXero: Bool = true, headers: RateLimitHeaders? = nil) {
        policy.release(tenant: tenant, now: .now, reachedXero: reachedXero, headers: headers)
        let woken = waiters
        waiters.removeAll()
        for waiter in woken { waiter.resume() }
        if reachedXero { save() }
    }

    /// Records a 429 and returns how long the tenant (or the app) is parked.
    package func record429(tenant: String, problem: String?, retryAfter: Duration?) -> Duration {
        let now = ContinuousClock.now
        let until = policy.record429(tenant: tenant, now: now, problem: problem, retryAfter: retryAfter)
        save()
        return until - now
    }

    /// Tenants parked now (for metrics).
    package func parkedTenants() -> Int { policy.parkedTenants(now: .now) }

    /// Returns once every change so far is on disk (at shutdown).
    package func flush() async {
        guard stateFile != nil else { return }
        write()
        await withCheckedContinuation { continuation in disk.async { continuation.resume() } }
    }

    /// Marks a change; the write follows within a second (many changes, one write).
    private func save() {
        guard stateFile != nil else { return }
        dirty = true
        guard !scheduled else { return }
        scheduled = true
        disk.asyncAfter(deadline: .now() + .seconds(1)) { Task { await self.write() } }
    }

    private func write() {
        scheduled = false
        guard let stateFile, dirty else { return }
        dirty = false
        // Encoding plain values cannot fail.
        guard let bytes = try? JSONEncoder().encode(policy.saved(now: .now, wallNow: wallClock())) else { return }
        disk.async {
            // A failed write loses only the counts since the last one (see the type's comment).
            try? AtomicFile.replace(stateFile, with: Array(bytes), mode: 0o600)
        }
    }
}
