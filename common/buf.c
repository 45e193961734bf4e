/* buf.c: the growable byte buffer. */
#include "kzint.h"

#include <stdio.h>
#include <stdlib.h>

int kz_buf_reserve(kz_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return KZ_OK;
    if (extra > SIZE_MAX / 2 - b->len)
        return kz_error_set(KZ_ENOMEM, "buffer of %zu bytes too large", b->len + extra);
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return kz_error_set(KZ_ENOMEM, "out of memory growing a buffer to %zu bytes", cap);
    b->data = p;
    b->cap = cap;
    return KZ_OK;
}

int kz_buf_append(kz_buf *b, const void *data, size_t len)
{
    if (len == 0)
        return KZ_OK;
    int rc = kz_buf_reserve(b, len);
    if (rc)
        return rc;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return KZ_OK;
}

int kz_buf_append_u8(kz_buf *b, uint8_t v) { return kz_buf_append(b, &v, 1); }

int kz_buf_append_u32(kz_buf *b, uint32_t v)
{
    uint8_t t[4];
    kz_store_u32(t, v);
    return kz_buf_append(b, t, 4);
}

int kz_buf_append_u64(kz_buf *b, uint64_t v)
{
    uint8_t t[8];
    kz_store_u64(t, v);
    return kz_buf_append(b, t, 8);
}

int kz_buf_append_varint(kz_buf *b, uint64_t v)
{
    int rc = kz_buf_reserve(b, 10);
    if (rc)
        return rc;
    b->len += kz_varint_put(b->data + b->len, v);
    return KZ_OK;
}

int kz_buf_printf(kz_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return kz_error_set(KZ_EINVAL, "bad format string");
    int rc = kz_buf_reserve(b, (size_t)n + 1);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return KZ_OK;
}

int kz_buf_terminate(kz_buf *b)
{
    int rc = kz_buf_reserve(b, 1);
    if (rc)
        return rc;
    b->data[b->len] = 0;
    return KZ_OK;
}

void kz_buf_free(kz_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
