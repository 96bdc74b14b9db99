import ResourceFetch

/// Pauses: a credential that cannot be used holds back the resources that need it, a tenant
/// Xero refused (403) holds back its own; everything else goes on. A credential pause lets
/// fetches through again every `pauseRecheck` (a fetch that works ends it); a tenant pause asks
/// `connectedTenants()` as often and ends when the tenant is listed again. `recheckPauses()`
/// (SIGHUP) checks them all at once. No pause counts attempts; `maxAge` still ends an event.
extension Worker {
    /// Checks every pause at the next pass (after the operator fixed something: SIGHUP).
    package func recheckPauses() {
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
            pauseBegan[scope] = launches
            onEvent(.paused(scope, reason: reason))
        }
    }

    /// Ends a pause, if there is one (and, when `provenBy` names a lane's launch number, only
    /// if that lane was launched after the pause began).
    func resume(_ scope: PauseScope, provenBy launch: UInt64? = nil) {
        guard pauses[scope] != nil else { return }
        if let launch, let began = pauseBegan[scope], launch <= began { return }
        pauses[scope] = nil
        pauseBegan[scope] = nil
        onEvent(.resumed(scope))
    }

    /// Whether `connectedTenants()` lists `tenant`, asked after lane `launch` was launched (an
    /// answer asked since then is reused). False when the fetcher cannot tell.
    func isListed(_ tenant: String, askedAfter launch: UInt64) async -> Bool {
        if let answer = connectionsAnswer, answer.launches >= launch { return answer.tenants?.contains(tenant) ?? false }
        let asked = launches
        let tenants = await fetcher.connectedTenants()
        connectionsAnswer = (asked, tenants)
        return tenants?.contains(tenant) ?? false
    }

    /// Xero refused a tenant `/connections` lists: retrying cannot help until the operator
    /// changes the grant, so the events go to the dead-letter store with the reason.
    func refuse(_ group: [QueuedItem], reason: String, now current: Int64) async throws {
        let why = reason + "; but /connections lists the tenant: not a disconnection, Xero refuses this resource (likely a scope the grant does not cover); fix the grant, then dead replay"
        for item in group {
            let state = retries[item.sequence]
            try await bury(DeadLetter(item: item, attempts: (state?.attempts ?? 0) + 1, firstAttempt: state?.firstAttempt ?? current,
                                      deadAt: current, lastError: why), sequence: item.sequence)
        }
    }

    /// Ends due credential pauses that hold nothing back: no event read needs the credential
    /// (they all reached `maxAge`, or the configuration no longer uses it). A later event that
    /// needs it finds the pause again at its fetch.
    func endIdleCredentialPauses(now current: Int64) {
        let due = pauses.pauses.values.filter { pause in
            if case .credential = pause.scope { return pause.recheckAt <= current }
            return false
        }
        guard !due.isEmpty else { return }
        let needed = Set(items.values.map { fetcher.credential(for: FetchRequest(key: $0.key, resourceURL: $0.resourceURL)) })
        for pause in due {
            guard case let .credential(name) = pause.scope, !needed.contains(name) else { continue }
            resume(pause.scope)
        }
    }

    /// Keeps paused events: no attempt counted, the first time held starts the `maxAge` clock.
    func hold(_ group: [QueuedItem], reason: String, now current: Int64) async throws {
        // Awaits above and below may have finished some of `group` meanwhile: only events still read are held.
        for item in group where items[item.sequence] != nil {
            var state = retries[item.sequence] ?? RetryState(attempts: 0, firstAttempt: current, nextTry: 0, lastError: "", eventID: item.eventID)
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
        endIdleCredentialPauses(now: current)
        let due = pauses.pauses.values.filter { pause in
            if case .tenant = pause.scope { return pause.recheckAt <= current }
            return false
        }
        guard !due.isEmpty, current >= nextConnectionsCheck else { return }
        nextConnectionsCheck = current + configuration.pauseRecheck.milliseconds
        guard let connected = await fetcher.connectedTenants() else { return }
        let checked = now()
        // One pass over the events, not one per paused tenant (10,000 paused tenants).
        var byTenant: [String: [QueuedItem]] = [:]
        for item in items.values where !resourcesInFlight.contains(item.key) { byTenant[item.key.tenantID, default: []].append(item) }
        for pause in due {
            guard case let .tenant(id) = pause.scope, var still = pauses[pause.scope] else { continue }
            if connected.contains(id) {
                resume(pause.scope)
                continue
            }
            still.recheckAt = checked + configuration.pauseRecheck.milliseconds
            pauses[pause.scope] = still
            let held = byTenant[id] ?? []
            try await hold(held.sorted { $0.sequence < $1.sequence }, reason: still.reason, now: checked)
        }
    }
}
