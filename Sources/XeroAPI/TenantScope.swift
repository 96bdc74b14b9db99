/// Which tenants the client fetches for. Set from `PAN_SEC_XERO_TENANT_URL` (see README).
package enum TenantScope: Sendable, Equatable, CustomStringConvertible {
    /// Every tenant an event names (Xero answers 403 for one the token does not reach).
    case all
    /// Only this tenant; events of any other tenant are refused without a request.
    /// `origin` names where the restriction came from, for the refusal's reason.
    case only(tenantId: String, origin: String)
    /// The tenants a GET of `url` (a `/connections` listing on the API origin) returns for the
    /// organisation token; events of a tenant not listed, even after listing again, are refused.
    /// While no listing has succeeded, nothing is fetched (the events are retried).
    case listed(url: String, origin: String)
    /// No tenant: a restriction was asked for but cannot be read (`reason` says why, without
    /// the value's secrets). Every organisation event is refused with `reason`.
    case noTenant(reason: String)

    package var description: String {
        switch self {
        case .all: "all tenants"
        case let .only(tenantId, origin): "only tenant \(tenantId) (from \(origin))"
        case let .listed(url, origin): "the tenants listed by \(url) (from \(origin))"
        case let .noTenant(reason): "no tenant: \(reason)"
        }
    }
}
