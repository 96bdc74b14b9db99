/// Pauses: a credential that cannot be used holds back the resources that need it, a tenant
/// Xero refused (403) holds back its own; everything else goes on. A credential pause lets
/// fetches through again every `pauseRecheck` (a fetch that works ends it); a tenant pause asks
/// `connectedTenants()` as often and ends when the tenant is listed again. `recheckPauses()`
/// (SIGHUP) checks them all at once. No pause counts attempts; `maxAge` still ends an event.
extension Worker {
    /// Checks every pause at the next pass (after the operator fixed something: SIGHUP).
    public func recheckPauses() {
        let current = now()
        for (scope, var pause) in pauses.pauses where pause.recheckAt > current {
            pause.recheckAt = current
            pauses[scope] = pause
        }
        nextConnectionsCheck = 0
    }

    /// Whether a pause holds this resource back now.
    func isHeld(_ key: ResourceKey, resourceURL: String, now current: Int64) -> Bool {
        guard !pauses.pauses.isEmpty else { return false }
        if let pause = pauses[.tenant(id: key.tenantID)], pause.recheckAt > current { return true }
        let credential = fetcher.credential(for: FetchRequest(key: key, resourceURL: resourceURL))
        if let pause = pauses[.credential(name: credential)], pause.recheckAt > current { return true }
        return false
    }

    /// Starts or renews a pause (logged when it starts or its reason changes).
    func pause(_ scope: PauseScope, reason: String, now current: Int64) {
        let recheck = current + configuration.pauseRecheck.milliseconds
        if var existing = pauses[scope] {
            let changed = existing.reason != reason
            existing.reason = reason
            existing.recheckAt = recheck
            pauses[scope] = existing
            if changed { onEvent(.paused(scope, reason: reason)) }
        } else {
            pauses[scope] = Pause(scope: scope, reason: reason, since: current, recheckAt: recheck)
            onEvent(.paused(scope, reason: reason))
        }
    }

    /// Ends a pause, if there is one (and it began before `provenAt`, when given).
    func resume(_ scope: PauseScope, provenAt: Int64? = nil) {
        guard let pause = pauses[scope] else { return }
        if let provenAt, provenAt <= pause.since { return }
        pauses[scope] = nil
        onEvent(.resumed(scope))
    }

    /// Keeps paused events: no attempt counted, the first time held starts the `maxAge` clock.
    func hold(_ group: [QueuedItem], reason: String, now current: Int64) async throws {
        for item in group {
            var state = retries[item.sequence] ?? RetryState(attempts: 0, firstAttempt: current, nextTry: 0, lastError: "")
            state.lastError = reason
            if Duration.milliseconds(current - state.firstAttempt) >= configuration.maxAge {
                try await bury(DeadLetter(item: item, attempts: state.attempts, firstAttempt: state.firstAttempt,
                                          deadAt: current, lastError: reason), sequence: item.sequence)
                continue
            }
            retries[item.sequence] = state
        }
    }

    /// Looks up paused tenants that are due in `connectedTenants()`: listed ones resume, the
    /// others stay paused until the next check (their events age towards `maxAge`). When the
    /// fetcher cannot tell, the pause stays due and the next fetch for the tenant decides.
    func checkPauses() async throws {
        let current = now()
        let due = pauses.pauses.values.filter { pause in
            if case .tenant = pause.scope { return pause.recheckAt <= current }
            return false
        }
        guard !due.isEmpty, current >= nextConnectionsCheck else { return }
        nextConnectionsCheck = current + configuration.pauseRecheck.milliseconds
        guard let connected = await fetcher.connectedTenants() else { return }
        let checked = now()
        for pause in due {
            guard case let .tenant(id) = pause.scope, var still = pauses[pause.scope] else { continue }
            if connected.contains(id) {
                resume(pause.scope)
                continue
            }
            still.recheckAt = checked + configuration.pauseRecheck.milliseconds
            pauses[pause.scope] = still
            let held = items.values.filter { $0.key.tenantID == id && !resourcesInFlight.contains($0.key) }
            try await hold(held.sorted { $0.sequence < $1.sequence }, reason: still.reason, now: checked)
        }
    }
}
