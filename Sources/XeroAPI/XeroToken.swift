import Foundation

/// An access token with what is known about it. Printing it never shows the token itself.
package struct XeroToken: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The bearer token. Send it only to the configured API origin; never log it.
    package var accessToken: String
    /// When it stops working, if known (unknown for a bare token without an expiry).
    package var expiresAt: Date?
    /// Granted scopes, as the token response listed them.
    package var scopes: [String]
    /// Tenants the token reaches, when known (from `/connections`).
    package var tenantIds: [String]?

    package init(accessToken: String, expiresAt: Date?, scopes: [String] = [], tenantIds: [String]? = nil) {
        self.accessToken = accessToken
        self.expiresAt = expiresAt
        self.scopes = scopes
        self.tenantIds = tenantIds
    }

    /// Whether the token is still usable at `now`, keeping `margin` in hand.
    package func isValid(at now: Date, margin: Duration = .zero) -> Bool {
        guard let expiresAt else { return true }
        return now.addingTimeInterval(margin.seconds) < expiresAt
    }

    package var description: String {
        "XeroToken(expires: \(expiresAt.map(Timestamps.iso8601) ?? "unknown"), scopes: \(scopes.joined(separator: " ")))"
    }

    package var debugDescription: String { description }
}

/// What a token provider can offer right now.
package enum TokenAvailability: Sendable, Equatable {
    /// A token to use.
    case ready(XeroToken)
    /// Nothing works until the operator acts; the reason says what to do.
    case paused(String)
    /// A passing problem (identity server down, lost answer, token command failed); try later.
    case unavailable(String, retryAfter: Duration?)
}

/// A provider's state for `token status`, `/healthz` and logs. Never holds a secret.
package struct TokenStatus: Sendable, Equatable {
    package enum State: Sendable, Equatable {
        /// A valid token is held.
        case ready
        /// No token obtained yet (it is fetched on first use).
        case notObtained
        /// The token held has expired; the provider renews it on next use.
        case expired
        /// Needs the operator; the reason says what to do.
        case paused(String)
        /// The last attempt to get a token failed for a passing reason.
        case failing(String)
    }

    /// `accessToken`, `refreshToken`, `clientCredentials` or `command`.
    package var mode: String
    /// Where the credentials come from, e.g. `file /var/lib/xero-webhookd/xero-token.json`.
    package var source: String
    package var state: State
    package var expiresAt: Date?
    package var scopes: [String]
    package var tenantIds: [String]?
    /// Tokens obtained from Xero or the command by this provider (refreshes, grants, runs).
    package var renewals: Int

    package init(mode: String, source: String, state: State, expiresAt: Date? = nil, scopes: [String] = [],
                tenantIds: [String]? = nil, renewals: Int = 0) {
        self.mode = mode
        self.source = source
        self.state = state
        self.expiresAt = expiresAt
        self.scopes = scopes
        self.tenantIds = tenantIds
        self.renewals = renewals
    }
}

/// Supplies access tokens to `XeroClient`.
///
/// Implementations are safe to call concurrently; a provider that renews tokens does so
/// single-flight (concurrent callers share one renewal).
package protocol TokenProvider: Sendable {
    /// A token valid for at least the provider's margin, renewing it first if needed.
    func token() async -> TokenAvailability
    /// Xero answered 401 to `token`: renew once (unless already renewed since) and return the
    /// result. Concurrent calls for the same rejected token share one renewal.
    func tokenRejected(_ token: XeroToken) async -> TokenAvailability
    /// Re-reads credentials from their source (the daemon calls it on SIGHUP).
    func reload() async
    /// The current state, without contacting Xero.
    func status() async -> TokenStatus
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}

/// Timestamp formatting shared by status output and the token file.
package enum Timestamps {
    /// `2026-01-02T03:04:05Z`.
    package static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// `interval` rounded down to whole seconds and clamped to what an `Int64` holds, so an
    /// expiry of `Int64.max` seconds (a hostile `exp` or `expires_in`) cannot trap a conversion.
    package static func wholeSeconds(_ interval: TimeInterval) -> Int64 {
        guard !interval.isNaN else { return 0 }
        // 2^63 is the first Double above Int64.max; every Double below it converts.
        let limit = 9_223_372_036_854_775_808.0
        if interval >= limit { return .max }
        if interval < -limit { return .min }
        return Int64(interval.rounded(.down))
    }
}
