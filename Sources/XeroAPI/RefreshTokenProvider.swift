import Foundation

/// The `refreshToken` mode: the refresh token from `xero-webhookd authorize`, kept in a
/// `TokenStore`, renewed before the access token expires.
///
/// Guarantees (xero-facts §7.2):
/// - **Single-flight.** Concurrent callers needing a renewal share one request to Xero.
/// - **Stored before use.** Xero rotates the refresh token on every refresh. The new set is
///   saved durably before its access token is handed out; if saving fails, it is kept in memory,
///   nothing is handed out, and saving is tried again first on the next call.
/// - **Lost answers.** When the refresh request gets no answer (timeout, connection lost), Xero
///   may have rotated anyway; the same old refresh token is sent again, which Xero accepts for
///   30 minutes. A crash between Xero's answer and the save leaves the old token on disk, which
///   works the same way on restart.
/// - **invalid_grant** pauses the provider with a message to run `xero-webhookd authorize`
///   again; a new token file (its stamp changes) or `reload()` resumes it.
package actor RefreshTokenProvider: TokenProvider {
    private let client: ClientCredentials
    private let store: any TokenStore
    private let identity: IdentityClient
    private let now: @Sendable () -> Date
    private let margin: Duration
    private let lostAnswerRetries: Int

    private var current: StoredTokenSet?
    /// A rotated set Xero gave us that is not yet saved.
    private var unsaved: StoredTokenSet?
    private var stamp: FileStamp?
    private var loaded = false
    private var pausedReason: String?
    private var lastFailure: String?
    private let renewal = SingleFlight<TokenAvailability>()
    private var renewals = 0

    /// - Parameters:
    ///   - lostAnswerRetries: how many times a refresh without an answer is sent again at once
    ///     with the same refresh token before the call reports `.unavailable`.
    package init(client: ClientCredentials, store: any TokenStore, identity: IdentityClient,
                now: @escaping @Sendable () -> Date = Date.init, lostAnswerRetries: Int = 2) {
        self.client = client
        self.store = store
        self.identity = identity
        self.now = now
        self.margin = identity.configuration.refreshMargin
        self.lostAnswerRetries = lostAnswerRetries
    }

    package func token() async -> TokenAvailability {
        syncWithStore()
        if let pausedReason { return .paused(pausedReason) }
        if unsaved == nil, let token = current?.token, token.isValid(at: now(), margin: margin) {
            return .ready(token)
        }
        return await renew()
    }

    package func tokenRejected(_ rejected: XeroToken) async -> TokenAvailability {
        syncWithStore()
        if let pausedReason { return .paused(pausedReason) }
        if unsaved == nil, let token = current?.token, token.accessToken != rejected.accessToken,
           token.isValid(at: now(), margin: margin) {
            return .ready(token)
        }
        return await renew()
    }

    package func reload() async {
        stamp = nil
        loaded = false
        syncWithStore()
    }

    package func status() async -> TokenStatus {
        syncWithStore()
        let state: TokenStatus.State
        if let pausedReason {
            state = .paused(pausedReason)
        } else if unsaved != nil {
            state = .failing(lastFailure ?? "a rotated refresh token is not stored yet")
        } else if let token = current?.token {
            if token.isValid(at: now(), margin: margin) {
                state = .ready
            } else {
                state = lastFailure.map { .failing($0) } ?? .expired
            }
        } else {
            state = lastFailure.map { .failing($0) } ?? .notObtained
        }
        return TokenStatus(mode: "refreshToken", source: "file \(store.location)", state: state,
                           expiresAt: current?.expiresAt, scopes: current?.scopes ?? [], renewals: renewals)
    }

    // MARK: Renewal

    private func renew() async -> TokenAvailability {
        await renewal.run { await self.performRenewal() }
    }

    private func performRenewal() async -> TokenAvailability {
        if let pending = unsaved {
            switch save(pending) {
            case let .some(failure): return failure
            case .none:
                if let token = pending.token, token.isValid(at: now(), margin: margin) { return .ready(token) }
            }
        }
        guard let refreshToken = current?.refreshToken else {
            return .paused(pausedReason ?? "no refresh token in \(store.location): run `xero-webhookd authorize` first")
        }
        switch await RefreshAttempt.run(refreshToken, client: client, identity: identity, lostAnswerRetries: lostAnswerRetries, now: now) {
        case let .rotated(set):
            unsaved = set
            if let failure = save(set) { return failure }
            renewals += 1
            lastFailure = nil
            return set.token.map { .ready($0) } ?? failing("the token endpoint answered without a token", retryAfter: nil)
        case let .refused(reason), let .clientRejected(reason):
            pausedReason = reason
            return .paused(reason)
        case let .failed(reason, retryAfter):
            return failing(reason, retryAfter: retryAfter)
        }
    }

    /// Saves `set` durably and makes it current; on failure keeps it as `unsaved`.
    private func save(_ set: StoredTokenSet) -> TokenAvailability? {
        do {
            try store.save(set)
        } catch {
            unsaved = set
            return failing("the rotated refresh token could not be stored (\(error)); it is kept in memory and "
                + "stored before its access token is used", retryAfter: nil)
        }
        unsaved = nil
        current = set
        stamp = store.stamp()
        return nil
    }

    private func failing(_ reason: String, retryAfter: Duration?) -> TokenAvailability {
        lastFailure = reason
        return .unavailable(reason, retryAfter: retryAfter)
    }

    /// Reads the store when it changed since this provider last read or wrote it (e.g. a new
    /// `authorize`). A new file replaces a set that could not be saved and lifts a pause.
    private func syncWithStore() {
        let fresh = store.stamp()
        if loaded && fresh == stamp { return }
        do {
            let set = try store.load()
            loaded = true
            stamp = fresh
            current = set
            unsaved = nil
            lastFailure = nil
            pausedReason = set == nil ? "no refresh token in \(store.location): run `xero-webhookd authorize` first" : nil
        } catch {
            loaded = true
            stamp = fresh
            pausedReason = "cannot read the token file: \(error); run `xero-webhookd authorize` again"
        }
    }
}
