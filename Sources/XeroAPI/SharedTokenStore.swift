/// Where several daemons keep one Xero connection's token set (cluster mode). Xero rotates the
/// refresh token on every refresh and wants it stored in a single place: a renewal runs while
/// holding the store's lock, which every daemon waits for, and the rotated set is stored in the
/// same step that lets the lock go. So across all daemons one refresh is in flight at a time,
/// and no daemon uses an access token whose refresh token is not stored.
package protocol SharedTokenStore: Sendable {
    /// Where it is, for status lines (never with a password).
    var location: String { get }
    /// What is stored now.
    func load() async throws -> SharedTokenState
    /// Stores `set` (and forgets a refusal) when nothing is stored yet or the stored set is
    /// older (`updatedAt`): how a set from `xero-webhookd authorize` on one daemon reaches the
    /// others. True when stored.
    func offer(_ set: StoredTokenSet) async throws -> Bool
    /// Takes the lock (waiting while another daemon renews), runs `body` with what is stored
    /// now, applies the change it returns and lets the lock go. When this returns, the change is
    /// durable; when it throws, it was not made.
    func renew<Result: Sendable>(_ body: @escaping @Sendable (SharedTokenState) async -> (change: SharedTokenChange, result: Result)) async throws -> Result
}

/// A shared store's content: the set, and why Xero refused its refresh token if it did (then no
/// daemon sends that token again).
package struct SharedTokenState: Sendable, Equatable {
    package var set: StoredTokenSet?
    package var refusal: String?

    package init(set: StoredTokenSet?, refusal: String? = nil) {
        self.set = set
        self.refusal = refusal
    }
}

/// What a renewal does to the shared store.
package enum SharedTokenChange: Sendable, Equatable {
    case keep
    /// Xero rotated the pair: the new set replaces the old.
    case replace(StoredTokenSet)
    /// Xero refused the stored refresh token for good: the reason is stored beside it.
    case refuse(String)
}
