import ResourceFetch

/// Keeping fetches to the tenants the configuration allows (`TenantScope`).
extension XeroClient {
    /// Splits `requests` into those to fetch and those decided for their tenant (refused, or
    /// held back while the tenant listing cannot be had). SUBSCRIPTION events are never held
    /// back: their tenant id is the app's ApplicationID, not an organisation.
    func scoped(_ requests: [FetchRequest]) async -> (inScope: [FetchRequest], refused: [ResourceKey: FetchOutcome]) {
        let organisational = requests.map(\.key).filter { $0.category != "SUBSCRIPTION" }
        let outside: Set<String>
        let outcome: (String) -> FetchOutcome
        switch tenantScope {
        case .all:
            return (requests, [:])
        case let .noTenant(reason):
            outside = Set(organisational.map(\.tenantID))
            outcome = { _ in .refused(reason) }
        case let .only(tenantId, origin):
            outside = Set(organisational.map(\.tenantID)).subtracting([tenantId.lowercased()])
            outcome = { .refused("\(origin) limits fetching to tenant \(tenantId); this event is for tenant \($0)") }
        case let .listed(url, origin):
            guard let directory, !organisational.isEmpty else { return (requests, [:]) }
            let wanted = Set(organisational.map(\.tenantID))
            switch await directory.check(wanted, list: { url in await self.connections(url: url) }) {
            case let .success(unlisted):
                outside = unlisted
                outcome = { .refused("tenant \($0) is not among the tenants the access token may act for (as listed by \(url), "
                    + "from \(origin))") }
            case let .failure(failure):
                // Which tenants may be fetched is unknown: fetch for none rather than for every
                // one, and keep the events, so they are fetched once a listing succeeds.
                outside = wanted
                let reason = "the tenant listing \(url) (from \(origin)) failed (\(failure)); nothing is fetched until "
                    + "it lists, and it is listed again on the next attempt"
                let held: FetchOutcome = switch failure {
                case let .paused(why): .paused(why)
                case let .unavailable(why): .waiting(why, retryAfter: nil)
                default: .retryable(reason, retryAfter: nil)
                }
                outcome = { _ in held }
            }
        }
        guard !outside.isEmpty else { return (requests, [:]) }
        var inScope: [FetchRequest] = []
        var refused: [ResourceKey: FetchOutcome] = [:]
        for request in requests {
            let key = request.key
            if key.category != "SUBSCRIPTION" && outside.contains(key.tenantID) {
                refused[key] = outcome(XeroIdentifier.isSafe(key.tenantID) ? key.tenantID : "(not a Xero id)")
            } else {
                inScope.append(request)
            }
        }
        return (inScope, refused)
    }
}
