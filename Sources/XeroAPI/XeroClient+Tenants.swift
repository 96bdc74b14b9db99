/// Keeping fetches to the tenants the configuration allows (`TenantScope`).
extension XeroClient {
    /// Splits `refs` into those to fetch and those refused for their tenant. SUBSCRIPTION events
    /// are never held back: their tenant id is the app's ApplicationID, not an organisation.
    func scoped(_ refs: [ResourceRef]) async -> (inScope: [ResourceRef], refused: [ResourceRef: FetchOutcome]) {
        let organisational = refs.filter { $0.normalizedCategory != "SUBSCRIPTION" }
        let outside: Set<String>
        let reason: (String) -> String
        switch tenantScope {
        case .all:
            return (refs, [:])
        case let .only(tenantId, origin):
            outside = Set(organisational.map { $0.tenantId.lowercased() }).subtracting([tenantId.lowercased()])
            reason = { "\(origin) limits fetching to tenant \(tenantId); this event is for tenant \($0)" }
        case let .listed(url, origin):
            guard let directory, !organisational.isEmpty else { return (refs, [:]) }
            let wanted = Set(organisational.map { $0.tenantId.lowercased() })
            guard let unlisted = await directory.check(wanted, list: { url in await self.connections(url: url) }) else {
                return (refs, [:])
            }
            outside = unlisted
            reason = { "tenant \($0) is not among the tenants the access token may act for (as listed by \(url), from \(origin))" }
        }
        guard !outside.isEmpty else { return (refs, [:]) }
        var inScope: [ResourceRef] = []
        var refused: [ResourceRef: FetchOutcome] = [:]
        for ref in refs {
            if ref.normalizedCategory != "SUBSCRIPTION" && outside.contains(ref.tenantId.lowercased()) {
                refused[ref] = .refused(reason(XeroIdentifier.isSafe(ref.tenantId) ? ref.tenantId : "(not a Xero id)"))
            } else {
                inScope.append(ref)
            }
        }
        return (inScope, refused)
    }
}
