import Foundation

/// The tenants the organisation token may act for, as a `/connections` listing said, for
/// `TenantScope.listed`. Lists again when asked about a tenant it has not seen, at most once per
/// `relistInterval`, so a newly connected organisation is picked up without a call per event.
/// An actor: one listing at a time.
actor TenantDirectory {
    private let url: String
    private let relistInterval: Duration
    private var tenants: Set<String>?
    private var listedAt: ContinuousClock.Instant?

    init(url: String, relistInterval: Duration) {
        self.url = url
        self.relistInterval = relistInterval
    }

    /// Those of `wanted` (lower-cased tenant ids) the token may not act for; nil when no listing
    /// could be had (then nothing is refused: Xero's 403 still decides).
    func check(_ wanted: Set<String>,
               list: @Sendable (String) async -> Result<[XeroConnection], XeroAPIError>) async -> Set<String>? {
        let stale = listedAt.map { ContinuousClock.now - $0 >= relistInterval } ?? true
        if stale && !wanted.isSubset(of: tenants ?? []) {
            listedAt = ContinuousClock.now
            switch await list(url) {
            case let .success(connections):
                tenants = Set(connections.map { $0.tenantId.lowercased() })
            case .failure:
                break  // keep the last listing, if any; the next stale check lists again
            }
        }
        return tenants.map { wanted.subtracting($0) }
    }

    /// The tenants last listed, or nil.
    var listed: Set<String>? { tenants }
}
