/// Why a call outside `fetch` (e.g. `/connections`) failed.
package enum XeroAPIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The configuration cannot work (e.g. `apiBaseURL` is not an http(s) URL).
    case invalidConfiguration(String)
    /// No usable credentials until the operator acts.
    case paused(String)
    /// Credentials are temporarily unavailable.
    case unavailable(String)
    /// Xero answered with this status.
    case http(status: Int, detail: String?)
    /// No answer.
    case transport(TransportFailure)
    /// An answer that is not what the API documents.
    case unexpectedAnswer(String)

    package var description: String {
        switch self {
        case let .invalidConfiguration(reason): "invalid Xero configuration: \(reason)"
        case let .paused(reason): "paused: \(reason)"
        case let .unavailable(reason): "credentials unavailable: \(reason)"
        case let .http(status, detail): "Xero answered \(status)" + (detail.map { ": \($0)" } ?? "")
        case let .transport(failure): failure.description
        case let .unexpectedAnswer(reason): "unexpected answer: \(reason)"
        }
    }
}
