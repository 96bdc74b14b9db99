/// What fetching one resource gave: the closed set a fetcher answers and the worker switches
/// over exhaustively.
///
/// Reasons are short English sentences a user can act on; they never contain a token or a
/// secret.
package enum FetchOutcome: Sendable, Equatable, CustomStringConvertible {
    /// The record, byte for byte as Xero returned it (one element of the answer's array, or the
    /// whole body for APIs that answer with a bare object).
    case found([UInt8])
    /// Xero does not have it: absent from a batch answer, or 404 on a single GET.
    case notFound
    /// Something failed (5xx, no answer, an answer that cannot be read): try again later;
    /// `retryAfter` is Xero's wait when it sent one. Counts an attempt.
    case retryable(String, retryAfter: Duration?)
    /// Nothing failed, the call has to wait: a 429, the rate limiter's deferral (a used-up day,
    /// a parked tenant) or a token endpoint that does not answer. Tried again after
    /// `retryAfter` without counting an attempt; only the worker's `maxAge` ends an event that
    /// keeps waiting.
    case waiting(String, retryAfter: Duration?)
    /// Retrying will not help (no billing credentials configured, a bad request, a redirect):
    /// the events go to the dead-letter store.
    case permanent(String)
    /// Not attempted for safety, e.g. a `resourceUrl` outside the configured API origin; ends
    /// like `permanent`, its reason marked as a refusal.
    case refused(String)
    /// No usable credentials until the operator acts (expired static token, `invalid_grant`,
    /// a billing token without `marketplace.billing`): resources needing the same credential
    /// pause, others go on. Counts no attempt.
    case paused(String)
    /// Xero refused this tenant (403): it is not connected to the app (any more). Its resources
    /// pause until the tenant is listed again. Counts no attempt.
    case disconnected(String)
    /// Nothing was fetched, on purpose (the worker's `events` mode): the record carries the
    /// events.
    case eventsOnly

    package var description: String {
        switch self {
        case let .found(bytes): "found (\(bytes.count) bytes)"
        case .notFound: "not found"
        case let .retryable(reason, retryAfter):
            retryAfter.map { "retryable after \($0): \(reason)" } ?? "retryable: \(reason)"
        case let .waiting(reason, retryAfter):
            retryAfter.map { "waiting \($0): \(reason)" } ?? "waiting: \(reason)"
        case let .permanent(reason): "permanent: \(reason)"
        case let .refused(reason): "refused: \(reason)"
        case let .paused(reason): "paused: \(reason)"
        case let .disconnected(reason): "disconnected: \(reason)"
        case .eventsOnly: "events only"
        }
    }

    /// A stable label for counters (`found`, `notFound`, `retryable`, …).
    package var label: String {
        switch self {
        case .found: "found"
        case .notFound: "notFound"
        case .retryable: "retryable"
        case .waiting: "waiting"
        case .permanent: "permanent"
        case .refused: "refused"
        case .paused: "paused"
        case .disconnected: "disconnected"
        case .eventsOnly: "eventsOnly"
        }
    }
}
