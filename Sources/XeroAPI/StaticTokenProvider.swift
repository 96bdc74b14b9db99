import Foundation

/// The `accessToken` mode: a token obtained elsewhere (e.g. injected by Pandium as
/// `PAN_SEC_XERO_ACCESS_TOKEN`), never renewed here.
///
/// Sources are tried in the order given (the environment, then the systemd credential, then
/// the configured file); the first whose token is present, not refused by Xero and not expired
/// is used, so a fresh token in a later source takes over from a dead one in an earlier source.
///
/// Expiry: a JWT's own `exp` claim wins (Xero's access tokens are JWTs). Otherwise, for a token
/// given as a value, `expires_in` counts from when the provider was created (the issue time is
/// unknown); for a file, an `expires_at` (seconds since 1970) is used as is and `expires_in`
/// counts from the file's modification time. A file is re-read whenever its stamp changes, on
/// `reload()`, and after Xero refuses a token (401), before the provider gives up.
///
/// An expired or refused token pauses fetching (no request is sent with it) until a new token
/// arrives.
package actor StaticTokenProvider: TokenProvider {
    package enum Source: Sendable {
        /// A token given directly; `origin` names where it came from, for messages.
        case value(accessToken: String, expiresIn: Int?, scope: String?, origin: String)
        /// A file holding a JSON token response (`access_token`, `expires_in` or `expires_at`,
        /// optional `scope`) or just the bare token.
        case file(path: String, origin: String)
    }

    private struct Slot {
        var source: Source
        var token: XeroToken?
        var problem: String?
        var stamp: FileStamp?
    }

    private var slots: [Slot]
    private let now: @Sendable () -> Date
    private let margin: Duration
    /// Access tokens Xero answered 401 to; never sent again.
    private var refused: Set<String> = []
    private var reads = 0

    /// - Parameter margin: a token this close to its expiry is treated as expired (a request
    ///   must not arrive at Xero after the token died on the way).
    package init(source: Source, now: @escaping @Sendable () -> Date = Date.init, margin: Duration = .seconds(10)) {
        self.init(sources: [source], now: now, margin: margin)
    }

    /// - Parameter sources: in order of preference; at least one.
    package init(sources: [Source], now: @escaping @Sendable () -> Date = Date.init, margin: Duration = .seconds(10)) {
        self.now = now
        self.margin = margin
        let read = now()
        slots = sources.map { source in
            guard case let .value(accessToken, expiresIn, scope, _) = source else { return Slot(source: source) }
            let expiry = AccessTokenClaims.expiry(of: accessToken) ?? expiresIn.map { read.addingTimeInterval(Double($0)) }
            return Slot(source: source, token: XeroToken(accessToken: accessToken, expiresAt: expiry,
                                                         scopes: scope.map { $0.split(separator: " ").map(String.init) } ?? []))
        }
        reads = slots.filter { $0.token != nil }.count
    }

    package func token() async -> TokenAvailability {
        rereadFiles(force: false)
        return choose()
    }

    package func tokenRejected(_ rejected: XeroToken) async -> TokenAvailability {
        refused.insert(rejected.accessToken)
        rereadFiles(force: true)
        return choose()
    }

    package func reload() async {
        rereadFiles(force: true)
    }

    package func status() async -> TokenStatus {
        rereadFiles(force: false)
        let state: TokenStatus.State
        let shown: Slot?
        switch choose() {
        case let .ready(token):
            state = .ready
            shown = slots.first { $0.token == token }
        case let .paused(reason):
            state = .paused(reason)
            shown = slots.first { $0.token != nil }
        case let .unavailable(reason, _):
            state = .failing(reason)
            shown = slots.first { $0.token != nil }
        }
        return TokenStatus(mode: "accessToken", source: (shown ?? slots.first).map { Self.origin($0.source) } ?? "none",
                           state: state, expiresAt: shown?.token?.expiresAt, scopes: shown?.token?.scopes ?? [],
                           tenantIds: shown?.token?.tenantIds, renewals: max(0, reads - 1))
    }

    private func choose() -> TokenAvailability {
        var reasons: [String] = []
        for slot in slots {
            let origin = Self.origin(slot.source)
            guard let token = slot.token else {
                reasons.append("no access token from \(origin): \(slot.problem ?? "none given")")
                continue
            }
            if refused.contains(token.accessToken) {
                reasons.append("Xero refused the access token from \(origin) (401)")
                continue
            }
            guard token.isValid(at: now(), margin: margin) else {
                let when = token.expiresAt.map(Timestamps.iso8601) ?? "?"
                reasons.append("the access token from \(origin) expired at \(when)")
                continue
            }
            return .ready(token)
        }
        if reasons.isEmpty { reasons.append("no access token source is configured") }
        return .paused(reasons.joined(separator: "; ") + "; " + slots.map { Self.remedy($0.source) }.joined(separator: ", or "))
    }

    private static func origin(_ source: Source) -> String {
        switch source {
        case let .value(_, _, _, origin), let .file(_, origin): origin
        }
    }

    private static func remedy(_ source: Source) -> String {
        switch source {
        case .value: "restart with a new token"
        case let .file(path, _): "write a new token to \(path) (it is re-read when it changes) or send SIGHUP"
        }
    }

    private func rereadFiles(force: Bool) {
        for index in slots.indices {
            guard case let .file(path, _) = slots[index].source else { continue }
            let fresh = FileStamp.of(path)
            guard force || fresh != slots[index].stamp || fresh == nil else { continue }
            slots[index].stamp = fresh
            (slots[index].token, slots[index].problem) = read(path, stamp: fresh)
        }
    }

    private func read(_ path: String, stamp: FileStamp?) -> (XeroToken?, String?) {
        guard let written = stamp else { return (nil, "\(path) does not exist") }
        guard let data = FileManager.default.contents(atPath: path) else { return (nil, "cannot read \(path)") }
        reads += 1
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("{") {
            guard let response = TokenResponse.parse(Array(text.utf8)) else {
                return (nil, "\(path) holds JSON without an access_token")
            }
            let writtenAt = Date(timeIntervalSince1970: written.modified)
            let expiry = AccessTokenClaims.expiry(of: response.accessToken)
                ?? response.expiresAt.map { Date(timeIntervalSince1970: Double($0)) }
                ?? response.expiresIn.map { writtenAt.addingTimeInterval(Double($0)) }
            return (XeroToken(accessToken: response.accessToken, expiresAt: expiry, scopes: response.scopes), nil)
        }
        if !text.isEmpty, !text.contains(where: \.isWhitespace) {
            return (XeroToken(accessToken: text, expiresAt: AccessTokenClaims.expiry(of: text)), nil)
        }
        return (nil, "\(path) holds neither a token nor a JSON token response")
    }
}
