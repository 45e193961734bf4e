/*
 * utf8.c: validation and repair of UTF-8.
 *
 * Both functions walk the input in the same way: a fast path skips ASCII
 * 16 bytes at a time, a small decoder checks each multi-byte sequence
 * against the table of well-formed sequences (Unicode 15, Table 3-7):
 *
 *   U+0000..U+007F     00..7F
 *   U+0080..U+07FF     C2..DF  80..BF
 *   U+0800..U+0FFF     E0      A0..BF  80..BF
 *   U+1000..U+CFFF     E1..EC  80..BF  80..BF
 *   U+D000..U+D7FF     ED      80..9F  80..BF
 *   U+E000..U+FFFF     EE..EF  80..BF  80..BF
 *   U+10000..U+3FFFF   F0      90..BF  80..BF  80..BF
 *   U+40000..U+FFFFF   F1..F3  80..BF  80..BF  80..BF
 *   U+100000..U+10FFFF F4      80..8F  80..BF  80..BF
 *
 * An ill-formed sequence is cut into "maximal subparts" (Unicode 15, section
 * 3.9, "U+FFFD Substitution of Maximal Subparts", the practice the W3C
 * encoding standard and Python's decoder follow): starting at a byte, the
 * longest run of bytes that is a prefix of some well-formed sequence, or the
 * single byte when it starts none. Each subpart counts as one invalid
 * sequence and becomes one U+FFFD. So overlongs (C0 AF: two), surrogates
 * (ED A0 80: three), code points above U+10FFFF (F4 90 80 80: four) and
 * stray continuation bytes are one error per byte, while a truncated
 * sequence (E2 82 followed by ASCII or by the end) is a single error.
 */
#include "kzint.h"

#define ASCII_MASK 0x8080808080808080ull

/* Returns the offset in [0, len] of the first byte at or after i that is not
 * ASCII. Reads 16 bytes at a time while it can. */
static size_t skip_ascii(const uint8_t *s, size_t i, size_t len)
{
    while (len - i >= 16) {
        uint64_t a = kz_load_u64(s + i);
        uint64_t b = kz_load_u64(s + i + 8);
        if ((a | b) & ASCII_MASK) {
            if (!(a & ASCII_MASK))
                i += 8;
            break;
        }
        i += 16;
    }
    if (len - i >= 8) {
        uint64_t a = kz_load_u64(s + i) & ASCII_MASK;
        if (!a)
            i += 8;
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        else
            return i + (size_t)(__builtin_ctzll(a) >> 3);
#endif
    }
    while (i < len && s[i] < 0x80)
        i++;
    return i;
}

/* Looks at the sequence starting at s[0] (a byte >= 0x80), with avail >= 1
 * bytes available. Returns the number of bytes it spans and sets *ok to 1 if
 * they form a well-formed sequence, to 0 if they are one maximal invalid
 * subpart. */
static size_t decode_seq(const uint8_t *s, size_t avail, int *ok)
{
    uint8_t c = s[0];
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    size_t need;                  /* continuation bytes after the lead */

    *ok = 0;
    if (c < 0xC2)
        return 1; /* continuation byte, or C0/C1 (always overlong) */
    if (c < 0xE0) {
        need = 1;
    } else if (c < 0xF0) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0; /* below is overlong */
        else if (c == 0xED)
            hi = 0x9F; /* above is a surrogate */
    } else if (c < 0xF5) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90; /* below is overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above is beyond U+10FFFF */
    } else {
        return 1; /* F5..FF never occur */
    }

    if (avail < 2 || s[1] < lo || s[1] > hi)
        return 1;
    for (size_t k = 2; k <= need; k++) {
        if (k >= avail || (s[k] & 0xC0) != 0x80)
            return k; /* a truncated sequence: one subpart */
    }
    *ok = 1;
    return need + 1;
}

/* Returns the offset of the first invalid sequence at or after i, or len. */
static size_t valid_prefix(const uint8_t *s, size_t i, size_t len)
{
    for (;;) {
        i = skip_ascii(s, i, len);
        if (i == len)
            return len;
        /* Multi-byte text (Cyrillic, CJK) stays in this inner loop rather
         * than retrying the ASCII path after each character. */
        while (i < len && s[i] >= 0x80) {
            int ok;
            size_t n = decode_seq(s + i, len - i, &ok);
            if (!ok)
                return i;
            i += n;
        }
    }
}

size_t kz_utf8_count_invalid(const char *str, size_t len)
{
    const uint8_t *s = (const uint8_t *)str;
    size_t count = 0;
    size_t i = 0;

    for (;;) {
        i = valid_prefix(s, i, len);
        if (i == len)
            return count;
        int ok;
        i += decode_seq(s + i, len - i, &ok);
        count++;
    }
}

/* out is the caller's buffer; it is not NUL-terminated, and after an
 * ENOMEM its contents are unspecified. */
size_t kz_utf8_sanitize(kz_buf *out, const char *str, size_t len)
{
    static const uint8_t replacement[3] = {0xEF, 0xBF, 0xBD};
    const uint8_t *s = (const uint8_t *)str;
    size_t count = 0;
    size_t i = 0;

    out->len = 0;
    /* Usually the output is the input: one allocation, one copy. */
    if (kz_buf_reserve(out, len) != KZ_OK)
        return (size_t)-1;
    for (;;) {
        size_t bad = valid_prefix(s, i, len);
        if (kz_buf_append(out, s + i, bad - i) != KZ_OK)
            return (size_t)-1;
        if (bad == len)
            return count;
        int ok;
        i = bad + decode_seq(s + bad, len - bad, &ok);
        if (kz_buf_append(out, replacement, sizeof replacement) != KZ_OK)
            return (size_t)-1;
        count++;
    }
}
