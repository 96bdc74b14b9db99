#ifndef XERO_WEBHOOKD_COPENSSL_SHIM_H
#define XERO_WEBHOOKD_COPENSSL_SHIM_H

#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <time.h>

/// A keyed HMAC-SHA256 context to copy per message (EVP_MAC_CTX_dup), so the MAC algorithm is
/// fetched and the key schedule computed once per key instead of once per request. The
/// OSSL_PARAM is built from C string literals here, never from Swift strings. NULL on failure.
static inline EVP_MAC_CTX *xwh_hmac_sha256_new(const unsigned char *key, size_t key_length) {
    EVP_MAC *mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    if (mac == NULL) return NULL;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    if (ctx == NULL) return NULL;
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    /* An empty key still needs a non-NULL pointer for EVP_MAC_init to set it. */
    static const unsigned char empty = 0;
    if (EVP_MAC_init(ctx, key_length ? key : &empty, key_length, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* TLS. The OpenSSL calls below are macros (SSL_CTX_ctrl and friends), which Swift cannot call. */

/// Server settings: TLS 1.2 and 1.3 only; no renegotiation, no compression; idle connections
/// give their read/write buffers back (many keep-alive or hostile connections stay cheap).
static inline int xwh_ssl_ctx_configure_server(SSL_CTX *ctx) {
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) return 0;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* No server-side session cache: every replaced context would keep up to 20480 sessions
       alive; TLS 1.3 tickets (stateless) still let clients resume. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return 1;
}

/// Client-side version bounds for tests that try old or new protocol versions (0 = no bound).
static inline int xwh_ssl_ctx_set_versions(SSL_CTX *ctx, int min_version, int max_version) {
    return SSL_CTX_set_min_proto_version(ctx, min_version) == 1
        && SSL_CTX_set_max_proto_version(ctx, max_version) == 1;
}

/// A peer's close without close_notify reads as the end of the stream, not an error.
static inline void xwh_ssl_ctx_ignore_unexpected_eof(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
}

static inline int xwh_ssl_set_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/// A memory BIO that reports "retry" (not end of file) when empty, for a non-blocking feed.
static inline BIO *xwh_bio_new_retrying_mem(void) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio != NULL) BIO_set_mem_eof_return(bio, -1);
    return bio;
}

/// The unread bytes of a memory BIO, in place (no copy); `BIO_reset` then empties it.
static inline long xwh_bio_pending_data(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}

static inline int xwh_bio_reset(BIO *bio) {
    return (int)BIO_reset(bio);
}

/// How many bytes a memory BIO has allocated (it never shrinks on its own).
static inline size_t xwh_bio_mem_capacity(BIO *bio) {
    BUF_MEM *memory = NULL;
    BIO_get_mem_ptr(bio, &memory);
    return memory == NULL ? 0 : memory->max;
}

/// A passphrase callback that gives none: an encrypted key fails to load instead of prompting
/// on a terminal.
static int xwh_no_passphrase(char *buf, int size, int rwflag, void *userdata) {
    (void)buf; (void)size; (void)rwflag; (void)userdata;
    return 0;
}

static inline void xwh_ssl_ctx_refuse_passphrases(SSL_CTX *ctx) {
    SSL_CTX_set_default_passwd_cb(ctx, xwh_no_passphrase);
}

/// ALPN: the server speaks HTTP/1.1 only. A client offering it gets it; one offering only
/// other protocols (h2) gets no ALPN answer and may fall back or give up.
static int xwh_alpn_select_http11(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                  const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl; (void)arg;
    static const unsigned char http11[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };
    unsigned char *selected = NULL;
    if (SSL_select_next_proto(&selected, outlen, http11, sizeof http11, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static inline void xwh_ssl_ctx_select_http11(SSL_CTX *ctx) {
    SSL_CTX_set_alpn_select_cb(ctx, xwh_alpn_select_http11, NULL);
}

/// A distinguished name in RFC 2253 form (e.g. `CN=hooks.example.com,O=Example`).
static inline int xwh_x509_name_print(BIO *bio, const X509_NAME *name) {
    return X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
}

/// The certificate's notAfter as seconds since the epoch (UTC); 0 if it cannot be read.
static inline long long xwh_x509_not_after(const X509 *certificate) {
    struct tm when;
    memset(&when, 0, sizeof when);
    const ASN1_TIME *time = X509_get0_notAfter(certificate);
    if (time == NULL || ASN1_TIME_to_tm(time, &when) != 1) return 0;
    return (long long)timegm(&when);
}

#endif
