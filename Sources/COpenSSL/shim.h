#ifndef XERO_WEBHOOKD_COPENSSL_SHIM_H
#define XERO_WEBHOOKD_COPENSSL_SHIM_H

#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

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

#endif
