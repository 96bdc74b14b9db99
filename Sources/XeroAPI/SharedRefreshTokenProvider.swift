import Foundation

/// The `refreshToken` mode of several daemons sharing one token set (cluster mode): the set lives
/// in a `SharedTokenStore`, and every renewal happens under the store's lock.
///
/// Guarantees, across all daemons together (xero-facts §7.2):
/// - **One refresh in flight.** A daemon whose token is about to expire takes the lock; if
///   another daemon renewed meanwhile, it takes that set without calling Xero.
/// - **Stored before use.** The rotated set is stored before the lock is let go and before its
///   access token is handed out; when storing fails, the token is not used, and the next renewal
///   sends the old refresh token again, which Xero accepts for 30 minutes.
/// - **invalid_grant** is stored beside the refused token: every daemon pauses, and none sends
///   that refresh token again; a new set in the store (`xero-webhookd authorize` on any daemon,
///   then its start or reload) lifts it for all.
///
/// The set `authorize` wrote to the local token file (`seed`) is offered to the store at start
/// and on reload, and taken when the store has none or an older one.
package actor SharedRefreshTokenProvider: TokenProvider {
    private let client: ClientCredentials
    private let store: any SharedTokenStore
    private let seed: (any TokenStore)?
    private let identity: IdentityClient
    private let now: @Sendable () -> Date
    private let margin: Duration
    private let lostAnswerRetries: Int
    /// How often a paused daemon looks in the store for a set another daemon stored.
    private let pausedRecheck: TimeInterval

    private var current: StoredTokenSet?
    private var loadedAt: Date?
    /// The refresh token Xero refused, and the reason.
    private var refused: (refreshToken: String, reason: String)?
    private var lastFailure: String?
    /// The local file's stamp when it was last offered: a file is offered once, and again only
    /// when `authorize` has replaced it.
    private var offeredStamp: FileStamp?
    /// Xero refused this daemon's client id or secret: this daemon pauses until `reload()`; the
    /// shared refresh token is not blamed (other daemons may hold the right secret).
    private var clientRejected: String?
    private let renewal = SingleFlight<TokenAvailability>()
    private var renewals = 0

    package init(client: ClientCredentials, store: any SharedTokenStore, seed: (any TokenStore)?, identity: IdentityClient,
                 now: @escaping @Sendable () -> Date = Date.init, lostAnswerRetries: Int = 2, pausedRecheck: TimeInterval = 30) {
        self.client = client
        self.store = store
        self.seed = seed
        self.identity = identity
        self.now = now
        self.margin = identity.configuration.refreshMargin
        self.lostAnswerRetries = lostAnswerRetries
        self.pausedRecheck = pausedRecheck
    }

    package func token() async -> TokenAvailability {
        await loadIfDue()
        if let clientRejected { return .paused(clientRejected) }
        if let refused, current?.refreshToken == refused.refreshToken { return .paused(refused.reason) }
        if let token = current?.token, token.isValid(at: now(), margin: margin) { return .ready(token) }
        return await renewal.run { await self.performRenewal(rejected: nil) }
    }

    package func tokenRejected(_ rejected: XeroToken) async -> TokenAvailability {
        await loadIfDue()
        if let clientRejected { return .paused(clientRejected) }
        if let refused, current?.refreshToken == refused.refreshToken { return .paused(refused.reason) }
        if let token = current?.token, token.accessToken != rejected.accessToken, token.isValid(at: now(), margin: margin) {
            return .ready(token)
        }
        return await renewal.run { await self.performRenewal(rejected: rejected.accessToken) }
    }

    package func reload() async {
        loadedAt = nil
        clientRejected = nil
        await loadIfDue()
    }

    package func status() async -> TokenStatus {
        await loadIfDue()
        let state: TokenStatus.State
        if let clientRejected {
            state = .paused(clientRejected)
        } else if let refused, current?.refreshToken == refused.refreshToken {
            state = .paused(refused.reason)
        } else if let token = current?.token {
            state = token.isValid(at: now(), margin: margin) ? .ready : lastFailure.map { .failing($0) } ?? .expired
        } else if current == nil {
            state = lastFailure.map { .failing($0) } ?? .paused(Self.noToken(store.location))
        } else {
            state = lastFailure.map { .failing($0) } ?? .notObtained
        }
        return TokenStatus(mode: "refreshToken", source: "shared store \(store.location)", state: state,
                           expiresAt: current?.expiresAt, scopes: current?.scopes ?? [], renewals: renewals)
    }

    private static func noToken(_ location: String) -> String {
        "no refresh token in \(location): run `xero-webhookd authorize` on one daemon, then start or reload it"
    }

    // MARK: Renewal

    private enum Step: Sendable {
        /// Another daemon renewed: its set is valid.
        case adopt(StoredTokenSet)
        case rotated(StoredTokenSet)
        case refused(refreshToken: String, reason: String)
        case clientRejected(String)
        case failed(String, retryAfter: Duration?)
        case none
    }

    private func performRenewal(rejected: String?) async -> TokenAvailability {
        let (client, identity, retries, now, margin) = (self.client, self.identity, lostAnswerRetries, self.now, self.margin)
        let step: Step
        do {
            step = try await store.renew { stored -> (change: SharedTokenChange, result: Step) in
                guard let set = stored.set else { return (.keep, .none) }
                if let refusal = stored.refusal { return (.keep, .refused(refreshToken: set.refreshToken, reason: refusal)) }
                if let token = set.token, token.accessToken != rejected, token.isValid(at: now(), margin: margin) {
                    return (.keep, .adopt(set))
                }
                switch await RefreshAttempt.run(set.refreshToken, client: client, identity: identity, lostAnswerRetries: retries, now: now) {
                case let .rotated(rotated): return (.replace(rotated), .rotated(rotated))
                case let .refused(reason): return (.refuse(reason), .refused(refreshToken: set.refreshToken, reason: reason))
                case let .clientRejected(reason): return (.keep, .clientRejected(reason))
                case let .failed(reason, retryAfter): return (.keep, .failed(reason, retryAfter: retryAfter))
                }
            }
        } catch {
            return failing("the shared token store \(store.location) failed (\(error)); a refresh it did not store is sent "
                + "again with the old refresh token, which Xero accepts for 30 minutes", retryAfter: nil)
        }
        switch step {
        case let .adopt(set), let .rotated(set):
            if case .rotated = step { renewals += 1 }
            current = set
            self.refused = nil
            lastFailure = nil
            return set.token.map { .ready($0) } ?? failing("the stored set has no access token", retryAfter: nil)
        case let .refused(refreshToken, reason):
            current?.refreshToken = refreshToken
            self.refused = (refreshToken, reason)
            return .paused(reason)
        case let .clientRejected(reason):
            clientRejected = reason
            return .paused(reason)
        case let .failed(reason, retryAfter):
            return failing(reason, retryAfter: retryAfter)
        case .none:
            current = nil
            return .paused(Self.noToken(store.location))
        }
    }

    private func failing(_ reason: String, retryAfter: Duration?) -> TokenAvailability {
        lastFailure = reason
        return .unavailable(reason, retryAfter: retryAfter)
    }

    /// Reads the store at the first call, after `reload()`, and every `pausedRecheck` seconds
    /// while paused; first offers the local file's set if the file is new since its last offer.
    private func loadIfDue() async {
        if let loadedAt {
            let paused = refused != nil && current?.refreshToken == refused?.refreshToken
            guard paused, now().timeIntervalSince(loadedAt) >= pausedRecheck else { return }
        }
        if let seed, let stamp = seed.stamp(), stamp != offeredStamp {
            do {
                if let set = try seed.load() { _ = try await store.offer(set) }
                offeredStamp = stamp
            } catch {
                lastFailure = "cannot offer the local token file to \(store.location): \(error)"
            }
        }
        do {
            let state = try await store.load()
            current = state.set
            refused = state.set.flatMap { set in state.refusal.map { (set.refreshToken, $0) } }
            loadedAt = now()
        } catch {
            lastFailure = "cannot read the shared token store \(store.location): \(error)"
        }
    }
}
