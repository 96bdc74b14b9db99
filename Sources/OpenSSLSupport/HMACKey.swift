internal import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// One webhook key, ready to MAC: owns an OpenSSL HMAC-SHA256 context initialised with the key,
/// which each message copies (so concurrent use is safe: the template is only read). The
/// context is freed in `deinit`; it never leaves this type.
package final class HMACKey: @unchecked Sendable {
    // @unchecked: `template` is written once in init and afterwards only passed to
    // EVP_MAC_CTX_dup, which reads it; OpenSSL documents that as safe from several threads.
    private let template: OpaquePointer?

    package init(_ key: [UInt8]) {
        ERR_clear_error()
        template = key.withUnsafeBufferPointer { xwh_hmac_sha256_new($0.baseAddress, $0.count) }
    }

    deinit {
        EVP_MAC_CTX_free(template)
    }

    /// HMAC-SHA256 of `body`, or nil if OpenSSL fails (then verification fails closed).
    package func mac(_ body: [UInt8]) -> [UInt8]? {
        guard let template, let ctx = EVP_MAC_CTX_dup(template) else { return nil }
        defer { EVP_MAC_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: 32)
        var length = 0
        let ok = body.withUnsafeBufferPointer { b in
            out.withUnsafeMutableBufferPointer { o in
                EVP_MAC_update(ctx, b.baseAddress, b.count) == 1
                    && EVP_MAC_final(ctx, o.baseAddress, &length, o.count) == 1
            }
        }
        guard ok, length == 32 else {
            ERR_clear_error()
            return nil
        }
        return out
    }
}

/// SHA-256 and the small pieces of OpenSSL the webhook path uses besides HMAC.
package enum Crypto {
    /// SHA-256 of `bytes`; nil only if OpenSSL cannot digest (out of memory).
    package static func sha256(_ bytes: [UInt8]) -> [UInt8]? {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBufferPointer { b in
            digest.withUnsafeMutableBufferPointer { d in
                EVP_Digest(b.baseAddress, b.count, d.baseAddress, &length, EVP_sha256(), nil) == 1
            }
        }
        return ok && length == 32 ? digest : nil
    }

    /// Standard base64 with padding.
    package static func base64(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: (bytes.count + 2) / 3 * 4 + 1)  // EVP_EncodeBlock adds a NUL
        let written = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { b in EVP_EncodeBlock(o.baseAddress, b.baseAddress, Int32(b.count)) }
        }
        return Array(out.prefix(Int(written)))
    }

    /// Whether `a` and `b` (of equal length) are equal, in time that depends on the length only
    /// (OpenSSL's `CRYPTO_memcmp`). Different lengths are unequal at once.
    package static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
    }
}
