/// What a pause holds back: the resources that need one credential, or one tenant's resources.
package enum PauseScope: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A credential the fetcher names (e.g. `organisation token`, `App Store billing token`).
    case credential(name: String)
    /// A tenant Xero refused (403: not connected to the app any more).
    case tenant(id: String)

    package var description: String {
        switch self {
        case let .credential(name): "credential \(name)"
        case let .tenant(id): "tenant \(id)"
        }
    }
}

/// A pause held by the worker until what it names works again. Resources that need neither
/// the paused credential nor the paused tenant are not affected.
///
/// Kept in `<state>/worker/pauses.json` so `queue status` (another process) and a restart see it.
package struct Pause: Sendable, Equatable, Codable {
    package var scope: PauseScope
    /// What went wrong and what to do, as the fetcher said it.
    package var reason: String
    /// Milliseconds since the epoch when the pause began.
    package var since: Int64
    /// Milliseconds since the epoch of the next check (a credential: one fetch goes through
    /// again; a tenant: `/connections` is asked).
    package var recheckAt: Int64

    package init(scope: PauseScope, reason: String, since: Int64, recheckAt: Int64) {
        self.scope = scope
        self.reason = reason
        self.since = since
        self.recheckAt = recheckAt
    }
}
