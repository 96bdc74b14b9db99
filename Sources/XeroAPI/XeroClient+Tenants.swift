/// Keeping fetches to the tenants the configuration allows (`TenantScope`).
extension XeroClient {
    /// Splits `refs` into those to fetch and those decided for their tenant (refused, or held
    /// back while the tenant listing cannot be had). SUBSCRIPTION events are never held back:
    /// their tenant id is the app's ApplicationID, not an organisation.
    func scoped(_ refs: [ResourceRef]) async -> (inScope: [ResourceRef], refused: [ResourceRef: FetchOutcome]) {
        let organisational = refs.filter { $0.normalizedCategory != "SUBSCRIPTION" }
        let outside: Set<String>
        let outcome: (String) -> FetchOutcome
        switch tenantScope {
        case .all:
            return (refs, [:])
        case let .noTenant(reason):
            outside = Set(organisational.map { $0.tenantId.lowercased() })
            outcome = { _ in .refused(reason) }
        case let .only(tenantId, origin):
            outside = Set(organisational.map { $0.tenantId.lowercased() }).subtracting([tenantId.lowercased()])
            outcome = { .refused("\(origin) limits fetching to tenant \(tenantId); this event is for tenant \($0)") }
        case let .listed(url, origin):
            guard let directory, !organisational.isEmpty else { return (refs, [:]) }
            let wanted = Set(organisational.map { $0.tenantId.lowercased() })
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
        guard !outside.isEmpty else { return (refs, [:]) }
        var inScope: [ResourceRef] = []
        var refused: [ResourceRef: FetchOutcome] = [:]
        for ref in refs {
            if ref.normalizedCategory != "SUBSCRIPTION" && outside.contains(ref.tenantId.lowercased()) {
                refused[ref] = outcome(XeroIdentifier.isSafe(ref.tenantId) ? ref.tenantId : "(not a Xero id)")
            } else {
                inScope.append(ref)
            }
        }
        return (inScope, refused)
    }
}
