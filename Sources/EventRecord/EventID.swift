import OpenSSLSupport

/// A stable id for one event: the first 128 bits of SHA-256 over the event's JSON bytes as
/// received, in hex. The same event delivered twice by Xero or redelivered after a crash has
/// the same id, so consumers can deduplicate on it; an event replayed from the dead-letter store
/// (which keeps it compacted to one line) carries the id it had in its queue record.
package enum EventID {
    /// Nil only if OpenSSL cannot digest (out of memory); callers retry later.
    package static func of(_ event: [UInt8]) -> String? {
        guard let digest = Crypto.sha256(event) else { return nil }
        let hex = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(32)
        for byte in digest.prefix(16) {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
