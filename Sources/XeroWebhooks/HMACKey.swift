internal import COpenSSL

/// One webhook key, ready to MAC: owns an OpenSSL HMAC-SHA256 context initialised with the key,
/// which each message copies (so concurrent use is safe: the template is only read). The
/// context is freed in `deinit`; it never leaves this type.
final class HMACKey: @unchecked Sendable {
    // @unchecked: `template` is written once in init and afterwards only passed to
    // EVP_MAC_CTX_dup, which reads it; OpenSSL documents that as safe from several threads.
    private let template: OpaquePointer?

    init(_ key: [UInt8]) {
        ERR_clear_error()
        template = key.withUnsafeBufferPointer { xwh_hmac_sha256_new($0.baseAddress, $0.count) }
    }

    deinit {
        EVP_MAC_CTX_free(template)
    }

    /// HMAC-SHA256 of `body`, or nil if OpenSSL fails (then verification fails closed).
    func mac(_ body: [UInt8]) -> [UInt8]? {
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
