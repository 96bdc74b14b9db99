import Foundation

/// The tenants the organisation token may act for, as a `/connections` listing said, for
/// `TenantScope.listed`. Lists again when asked about a tenant it has not seen, at most once per
/// `relistInterval`, so a newly connected organisation is picked up without a call per event.
/// An actor: one listing at a time.
actor TenantDirectory {
    private let url: String
    private let relistInterval: Duration
    private var tenants: Set<String>?
    private var lastFailure: XeroAPIError?
    private var listedAt: ContinuousClock.Instant?

    init(url: String, relistInterval: Duration) {
        self.url = url
        self.relistInterval = relistInterval
    }

    /// Those of `wanted` (lower-cased tenant ids) the token may not act for, or, while no
    /// listing has ever succeeded, why not: then nothing may be fetched, since the restriction
    /// is unknown (the next stale check lists again).
    func check(_ wanted: Set<String>,
               list: @Sendable (String) async -> Result<[XeroConnection], XeroAPIError>) async -> Result<Set<String>, XeroAPIError> {
        let stale = listedAt.map { ContinuousClock.now - $0 >= relistInterval } ?? true
        if stale && !wanted.isSubset(of: tenants ?? []) {
            listedAt = ContinuousClock.now
            switch await list(url) {
            case let .success(connections):
                tenants = Set(connections.map { $0.tenantId.lowercased() })
                lastFailure = nil
            case let .failure(failure):
                lastFailure = failure  // keep the last listing, if any
            }
        }
        if let tenants { return .success(wanted.subtracting(tenants)) }
        return .failure(lastFailure ?? .unexpectedAnswer("no listing yet"))
    }

    /// The tenants last listed, or nil.
    var listed: Set<String>? { tenants }
}
