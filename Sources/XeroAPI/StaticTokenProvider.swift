import Foundation

/// The `accessToken` mode: a token obtained elsewhere (e.g. injected by Pandium as
/// `PAN_SEC_XERO_ACCESS_TOKEN`), never renewed here.
///
/// Expiry: for a token given as a value, `expires_in` counts from when the provider was created
/// (the moment the daemon read it; the true issue time is unknown, so a token that was already
/// old when read is caught by Xero's 401 instead). For a file, `expires_in` counts from the
/// file's modification time (when the token was written), and an `expires_at` (seconds since
/// 1970) is used as is. A file is re-read whenever its stamp changes or on `reload()`.
///
/// An expired or refused token pauses fetching (no request is sent with it) until a new token
/// arrives.
public actor StaticTokenProvider: TokenProvider {
    public enum Source: Sendable {
        /// A token given directly; `origin` names where it came from, for messages.
        case value(accessToken: String, expiresIn: Int?, scope: String?, origin: String)
        /// A file holding a JSON token response (`access_token`, `expires_in` or `expires_at`,
        /// optional `scope`) or just the bare token.
        case file(path: String, origin: String)
    }

    private let source: Source
    private let now: @Sendable () -> Date
    private let margin: Duration
    private var current: XeroToken?
    private var problem: String?
    private var stamp: FileStamp?
    private var refused: String?
    private var reads = 0

    /// - Parameter margin: a token this close to its expiry is treated as expired (a request
    ///   must not arrive at Xero after the token died on the way).
    public init(source: Source, now: @escaping @Sendable () -> Date = Date.init, margin: Duration = .seconds(10)) {
        self.source = source
        self.now = now
        self.margin = margin
        if case let .value(accessToken, expiresIn, scope, _) = source {
            let read = now()
            current = XeroToken(accessToken: accessToken, expiresAt: expiresIn.map { read.addingTimeInterval(Double($0)) },
                              scopes: scope.map { $0.split(separator: " ").map(String.init) } ?? [])
            reads = 1
        }
    }

    public func token() async -> TokenAvailability {
        rereadIfChanged()
        guard let token = current else { return .paused("no access token: \(problem ?? "none given"); \(remedy)") }
        if refused == token.accessToken {
            return .paused("Xero refused the access token from \(origin) (401); \(remedy)")
        }
        guard token.isValid(at: now(), margin: margin) else {
            let when = token.expiresAt.map(Timestamps.iso8601) ?? "?"
            return .paused("the access token from \(origin) expired at \(when); \(remedy)")
        }
        return .ready(token)
    }

    public func tokenRejected(_ rejected: XeroToken) async -> TokenAvailability {
        rereadIfChanged()
        if let current, current.accessToken != rejected.accessToken { return await token() }
        refused = rejected.accessToken
        return await token()
    }

    public func reload() async {
        stamp = nil
        rereadIfChanged()
    }

    public func status() async -> TokenStatus {
        rereadIfChanged()
        let state: TokenStatus.State
        switch await token() {
        case .ready: state = .ready
        case let .paused(reason): state = .paused(reason)
        case let .unavailable(reason, _): state = .failing(reason)
        }
        return TokenStatus(mode: "accessToken", source: origin, state: state, expiresAt: current?.expiresAt,
                           scopes: current?.scopes ?? [], tenantIds: current?.tenantIds, renewals: max(0, reads - 1))
    }

    private var origin: String {
        switch source {
        case let .value(_, _, _, origin), let .file(_, origin): origin
        }
    }

    private var remedy: String {
        switch source {
        case .value: "restart with a new token"
        case let .file(path, _): "write a new token to \(path) (it is re-read when it changes) or send SIGHUP"
        }
    }

    private func rereadIfChanged() {
        guard case let .file(path, _) = source else { return }
        let fresh = FileStamp.of(path)
        guard fresh != stamp || fresh == nil else { return }
        stamp = fresh
        guard let written = stamp else {
            current = nil
            problem = "\(path) does not exist"
            return
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            current = nil
            problem = "cannot read \(path)"
            return
        }
        reads += 1
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("{") {
            guard let response = TokenResponse.parse(Array(text.utf8)) else {
                current = nil
                problem = "\(path) holds JSON without an access_token"
                return
            }
            let writtenAt = Date(timeIntervalSince1970: written.modified)
            let expiry = response.expiresAt.map { Date(timeIntervalSince1970: Double($0)) }
                ?? response.expiresIn.map { writtenAt.addingTimeInterval(Double($0)) }
            current = XeroToken(accessToken: response.accessToken, expiresAt: expiry, scopes: response.scopes)
        } else if !text.isEmpty, !text.contains(where: \.isWhitespace) {
            current = XeroToken(accessToken: text, expiresAt: nil)
        } else {
            current = nil
            problem = "\(path) holds neither a token nor a JSON token response"
            return
        }
        problem = nil
    }
}
