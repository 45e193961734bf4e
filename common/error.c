/* error.c: error codes, their descriptions, and the per-thread message. */
#include "kzint.h"

#include <stdio.h>

static _Thread_local char kz_error_message[1024];

const char *kz_strerror(int code)
{
    switch (code) {
    case KZ_OK: return "success";
    case KZ_ENOMEM: return "out of memory";
    case KZ_EIO: return "input/output error";
    case KZ_ECORRUPT: return "index is corrupt";
    case KZ_EVERSION: return "unsupported index format version";
    case KZ_ESYNTAX: return "syntax error";
    case KZ_EINVAL: return "invalid argument";
    case KZ_ENOTFOUND: return "not found";
    case KZ_EFIELD: return "missing or invalid field";
    case KZ_ELIMIT: return "limit exceeded";
    case KZ_ELOCKED: return "index is locked by another process";
    case KZ_ETIMEOUT: return "query ran past its time or work budget";
    case KZ_ESTALE: return "a shard changed since its shard set was made";
    }
    return "unknown error";
}

const char *kz_last_error(void) { return kz_error_message; }

void kz_error_clear(void) { kz_error_message[0] = 0; }

int kz_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kz_error_message, sizeof kz_error_message, fmt, ap);
    va_end(ap);
    return code;
}

int kz_error_errno(int code, int errno_value, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(kz_error_message, sizeof kz_error_message, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof kz_error_message)
        snprintf(kz_error_message + n, sizeof kz_error_message - (size_t)n, ": %s",
                 strerror(errno_value));
    return code;
}
