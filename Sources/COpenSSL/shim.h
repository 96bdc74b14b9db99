#ifndef XERO_WEBHOOKD_COPENSSL_SHIM_H
#define XERO_WEBHOOKD_COPENSSL_SHIM_H

#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#endif
