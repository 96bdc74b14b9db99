internal import COpenSSL
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Why a certificate chain or private key could not be used; names the file and OpenSSL's reason.
package struct TLSError: Error, Equatable, CustomStringConvertible {
    /// Which file: `certificateChain` or `privateKey` (or `context` for anything else).
    package enum Part: String, Sendable { case certificateChain, privateKey, context }
    package let part: Part
    package let reason: String

    package var description: String { reason }

    static func openSSL(_ part: Part, _ what: String) -> TLSError {
        TLSError(part: part, reason: "\(what): \(openSSLErrors())")
    }
}

/// Server-side TLS: an OpenSSL context holding the certificate chain and private key (PEM files),
/// TLS 1.2 and 1.3 only, AEAD ciphers with forward secrecy, ALPN `http/1.1`.
///
/// `reload` builds a new context from the files and swaps it in: connections accepted afterwards
/// use the new certificate, connections already open keep theirs (each session holds a
/// reference to the context it started with), so nothing is dropped.
package final class TLSContext: Sendable {
    /// What the current certificate says, for logs and metrics.
    package struct Certificate: Sendable, Equatable {
        package let subject: String
        package let issuer: String
        /// notAfter, seconds since the epoch.
        package let notAfter: Int64
    }

    private let state: Mutex<(context: SSLContextHandle, files: Files)>

    struct Files: Equatable { var certificateChain: String; var privateKey: String }

    /// TLS 1.2 suites: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 only (TLS 1.3 suites
    /// are all AEAD and stay OpenSSL's default).
    static let tls12Ciphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    package init(certificateChainFile: String, privateKeyFile: String) throws(TLSError) {
        let files = Files(certificateChain: certificateChainFile, privateKey: privateKeyFile)
        state = Mutex((try Self.load(files), files))
    }

    /// Re-reads the files (or new ones) and swaps the new context in. On error the running
    /// context stays and the error is thrown.
    package func reload(certificateChainFile: String? = nil, privateKeyFile: String? = nil) throws(TLSError) {
        var files = state.withLock { $0.files }
        files.certificateChain = certificateChainFile ?? files.certificateChain
        files.privateKey = privateKeyFile ?? files.privateKey
        let context = try Self.load(files)
        state.withLock { $0 = (context, files) }
    }

    package var certificate: Certificate { state.withLock { $0.context.certificate } }
    package var certificateChainFile: String { state.withLock { $0.files.certificateChain } }
    package var privateKeyFile: String { state.withLock { $0.files.privateKey } }

    /// A server session on the current context, nil if OpenSSL cannot allocate one.
    package func makeSession() -> TLSSession? {
        let context = state.withLock { $0.context }
        // The session takes its own reference on the context; until then this one holds it.
        return withExtendedLifetime(context) { TLSSession(context: context.pointer) }
    }

    private static func load(_ files: Files) throws(TLSError) -> SSLContextHandle {
        ERR_clear_error()
        guard let pointer = SSL_CTX_new(TLS_server_method()) else { throw .openSSL(.context, "SSL_CTX_new") }
        var loaded = false
        defer { if !loaded { SSL_CTX_free(pointer) } }
        guard xwh_ssl_ctx_configure_server(pointer) == 1,
              SSL_CTX_set_cipher_list(pointer, tls12Ciphers) == 1 else {
            throw .openSSL(.context, "cannot set protocol versions and ciphers")
        }
        xwh_ssl_ctx_select_http11(pointer)
        xwh_ssl_ctx_refuse_passphrases(pointer)
        guard SSL_CTX_use_certificate_chain_file(pointer, files.certificateChain) == 1 else {
            throw .openSSL(.certificateChain, "cannot load the certificate chain from \(files.certificateChain)")
        }
        let mismatch = "the private key in \(files.privateKey) does not match the certificate in \(files.certificateChain)"
        guard SSL_CTX_use_PrivateKey_file(pointer, files.privateKey, SSL_FILETYPE_PEM) == 1 else {
            let reasons = openSSLErrors()
            if reasons.contains("key values mismatch") { throw TLSError(part: .privateKey, reason: mismatch) }
            let hint = reasons.contains("bad decrypt") || reasons.contains("interrupted or cancelled")
                ? " (the key is encrypted; give an unencrypted key with permissions 0600)" : ""
            throw TLSError(part: .privateKey, reason: "cannot load the private key from \(files.privateKey): \(reasons)\(hint)")
        }
        guard SSL_CTX_check_private_key(pointer) == 1 else { throw .openSSL(.privateKey, mismatch) }
        ERR_clear_error()
        loaded = true
        return SSLContextHandle(pointer)
    }
}

/// Owns one SSL_CTX (sessions made from it hold their own reference).
final class SSLContextHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let certificate: TLSContext.Certificate

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
        if let leaf = SSL_CTX_get0_certificate(pointer) {
            certificate = .init(subject: Self.name(X509_get_subject_name(leaf)),
                                issuer: Self.name(X509_get_issuer_name(leaf)),
                                notAfter: Int64(xwh_x509_not_after(leaf)))
        } else {
            certificate = .init(subject: "", issuer: "", notAfter: 0)
        }
    }

    deinit { SSL_CTX_free(pointer) }

    private static func name(_ name: OpaquePointer?) -> String {
        guard let name, let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard xwh_x509_name_print(bio, name) >= 0 else { return "" }
        return drain(bio)
    }
}

/// Everything pending in a memory BIO, as a string.
func drain(_ bio: OpaquePointer) -> String {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 512)
    while true {
        let n = chunk.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32($0.count)) }
        guard n > 0 else { break }
        bytes += chunk[0..<Int(n)]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// OpenSSL's error queue of this thread as one line (and cleared).
func openSSLErrors() -> String {
    var reasons: [String] = []
    while case let code = ERR_get_error(), code != 0 {
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return reasons.isEmpty ? "unknown OpenSSL error" : reasons.joined(separator: "; ")
}
