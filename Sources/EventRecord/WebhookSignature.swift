import OpenSSLSupport

/// Computes and checks Xero's `x-xero-signature`: standard base64 of HMAC-SHA256 over the raw
/// request body, keyed with the UTF-8 bytes of the webhook key exactly as Xero's portal shows it
/// (the key looks like base64 but must not be decoded; xero-facts.md §1, §9).
///
/// Holds one or more keys so that a rotated key and its predecessor both verify during a
/// changeover. Immutable, so it is `Sendable` and may be shared by every connection queue.
package struct WebhookSignature: Sendable {
    /// Length of a base64-encoded SHA-256 MAC: 32 bytes → 44 characters with one `=`.
    package static let encodedLength = 44

    private let keys: [HMACKey]

    /// A verifier for `current` (the key new signatures are made with) and `previous` keys still
    /// accepted during a changeover; each key is used as its UTF-8 bytes.
    package init(current: String, previous: [String] = []) {
        keys = ([current] + previous).map { HMACKey(Array($0.utf8)) }
    }

    /// The first of `keys` is the current one; nil when there is none.
    package init?(keys: [String]) {
        guard let current = keys.first else { return nil }
        self.init(current: current, previous: Array(keys.dropFirst()))
    }

    /// The header value Xero would send for `body` signed with the first (current) key.
    package func signature(for body: [UInt8]) -> String {
        String(decoding: Self.encodedMAC(key: keys[0], body: body), as: UTF8.self)
    }

    /// True when `header` is the signature of `body` under any configured key.
    ///
    /// The comparison runs in constant time for a given length (OpenSSL's `CRYPTO_memcmp`), and
    /// every key is tried even after a match so that timing does not reveal which key matched.
    package func isValid(header: String?, body: [UInt8]) -> Bool {
        guard let header else { return false }
        let presented = Array(header.utf8)
        guard presented.count == Self.encodedLength else { return false }
        var matched = false
        for key in keys {
            let equal = Crypto.constantTimeEqual(Self.encodedMAC(key: key, body: body), presented)
            matched = matched || equal
        }
        return matched
    }

    /// base64(HMAC-SHA256(key, body)) as 44 ASCII bytes.
    static func encodedMAC(key: HMACKey, body: [UInt8]) -> [UInt8] {
        // An all-zero MAC can never match a real signature: if OpenSSL fails, verification
        // fails closed.
        Crypto.base64(key.mac(body) ?? [UInt8](repeating: 0, count: 32))
    }
}
