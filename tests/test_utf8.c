/* test_utf8.c: tests of indexer/utf8.c (counting and repairing UTF-8). */
#include "kzint.h"
#include "test.h"

#define FFFD "\xEF\xBF\xBD"

/* A reference built differently from utf8.c: decode the bits generically and
 * ask whether the code points a prefix could still complete to include a
 * scalar value of the right length. Returns 1 if s[0..m) is a prefix of some
 * well-formed sequence (or is one). */
static int ref_prefix_ok(const uint8_t *s, size_t m)
{
    uint8_t c = s[0];
    unsigned n;
    uint32_t cp, minv, maxv;

    if (c < 0x80)
        return m == 1;
    if ((c & 0xE0) == 0xC0) {
        n = 2, cp = c & 0x1F, minv = 0x80, maxv = 0x7FF;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, cp = c & 0x0F, minv = 0x800, maxv = 0xFFFF;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, cp = c & 0x07, minv = 0x10000, maxv = 0x10FFFF;
    } else {
        return 0;
    }
    if (m > n)
        return 0;
    for (size_t k = 1; k < m; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3F);
    }
    unsigned rest = 6 * (n - (unsigned)m);
    uint32_t lo = cp << rest, hi = lo | ((1u << rest) - 1);
    lo = KZ_MAX(lo, minv);
    hi = KZ_MIN(hi, maxv);
    if (lo > hi)
        return 0;
    if (lo >= 0xD800 && hi <= 0xDFFF)
        return 0; /* only surrogates */
    return 1;
}

/* Length of the full sequence announced by a lead byte (1 for ASCII). */
static size_t ref_seq_len(uint8_t c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Reference sanitize: writes to out (capacity 3*len) and returns the number
 * of replacements; *out_len gets the output length. */
static size_t ref_sanitize(const uint8_t *s, size_t len, uint8_t *out, size_t *out_len)
{
    size_t i = 0, o = 0, count = 0;
    while (i < len) {
        size_t m = 0;
        while (m < 4 && i + m < len && ref_prefix_ok(s + i, m + 1))
            m++;
        if (m > 0 && m == ref_seq_len(s[i])) {
            memcpy(out + o, s + i, m);
            o += m;
            i += m;
        } else {
            memcpy(out + o, FFFD, 3);
            o += 3;
            i += m ? m : 1;
            count++;
        }
    }
    *out_len = o;
    return count;
}

/* Checks count and sanitize of in against the expected count and output. */
static void check_case(const char *in, size_t in_len, size_t want_count, const char *want,
                       size_t want_len, int line)
{
    kz_buf out = {0};
    size_t c = kz_utf8_count_invalid(in, in_len);
    size_t r = kz_utf8_sanitize(&out, in, in_len);
    CHECK_MSG(c == want_count, "line %d: count %zu, want %zu", line, c, want_count);
    CHECK_MSG(r == want_count, "line %d: sanitize %zu, want %zu", line, r, want_count);
    CHECK_MSG(out.len == want_len && memcmp(out.data ? (char *)out.data : "", want, want_len) == 0,
              "line %d: sanitized output differs (len %zu, want %zu)", line, out.len, want_len);
    CHECK_MSG(kz_utf8_count_invalid((char *)out.data, out.len) == 0,
              "line %d: sanitized output is not valid", line);
    kz_buf_free(&out);
}

#define CASE(in, count, want) \
    check_case(in, sizeof(in) - 1, count, want, sizeof(want) - 1, __LINE__)

static void test_valid(void)
{
    CASE("", 0, "");
    CASE("a", 0, "a");
    CASE("\x7F", 0, "\x7F");
    CASE("\x00", 0, "\x00"); /* NUL is valid UTF-8 */
    /* The first and last code point of every length class. */
    CASE("\xC2\x80", 0, "\xC2\x80");                 /* U+0080 */
    CASE("\xDF\xBF", 0, "\xDF\xBF");                 /* U+07FF */
    CASE("\xE0\xA0\x80", 0, "\xE0\xA0\x80");         /* U+0800 */
    CASE("\xEF\xBF\xBF", 0, "\xEF\xBF\xBF");         /* U+FFFF */
    CASE("\xED\x9F\xBF", 0, "\xED\x9F\xBF");         /* U+D7FF, before the surrogates */
    CASE("\xEE\x80\x80", 0, "\xEE\x80\x80");         /* U+E000, after them */
    CASE("\xF0\x90\x80\x80", 0, "\xF0\x90\x80\x80"); /* U+10000 */
    CASE("\xF4\x8F\xBF\xBF", 0, "\xF4\x8F\xBF\xBF"); /* U+10FFFF */
    CASE("\xF3\xBF\xBF\xBF", 0, "\xF3\xBF\xBF\xBF"); /* U+FFFFF */
    CASE("na\xC3\xAFve caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 0,
         "na\xC3\xAFve caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
    /* Every code point, encoded by hand, is valid; each one alone too. */
    kz_buf all = {0};
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        uint8_t e[4];
        size_t n;
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        if (cp < 0x80) {
            e[0] = (uint8_t)cp, n = 1;
        } else if (cp < 0x800) {
            e[0] = (uint8_t)(0xC0 | cp >> 6), e[1] = (uint8_t)(0x80 | (cp & 0x3F)), n = 2;
        } else if (cp < 0x10000) {
            e[0] = (uint8_t)(0xE0 | cp >> 12), e[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
            e[2] = (uint8_t)(0x80 | (cp & 0x3F)), n = 3;
        } else {
            e[0] = (uint8_t)(0xF0 | cp >> 18), e[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
            e[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), e[3] = (uint8_t)(0x80 | (cp & 0x3F));
            n = 4;
        }
        if (kz_utf8_count_invalid((char *)e, n) != 0) {
            CHECK_MSG(0, "U+%04X reported invalid", (unsigned)cp);
            break;
        }
        if (kz_buf_append(&all, e, n) != KZ_OK)
            break;
    }
    CHECK_INT(all.len, 0x80 + 2 * 0x780 + 3 * (0x10000 - 0x800 - 0x800) + 4 * 0x100000);
    CHECK_INT(kz_utf8_count_invalid((char *)all.data, all.len), 0);
    kz_buf out = {0};
    CHECK_INT(kz_utf8_sanitize(&out, (char *)all.data, all.len), 0);
    CHECK(out.len == all.len && memcmp(out.data, all.data, all.len) == 0);
    kz_buf_free(&out);
    kz_buf_free(&all);
}

/* ASCII of every length around the 8- and 16-byte fast paths, with one
 * invalid byte at every position. */
static void test_fast_path_lengths(void)
{
    char s[80], want[100];
    for (size_t len = 0; len <= 70; len++) {
        memset(s, 'x', len);
        CHECK_INT(kz_utf8_count_invalid(s, len), 0);
        for (size_t pos = 0; pos < len; pos++) {
            memset(s, 'x', len);
            s[pos] = (char)0xFF;
            memset(want, 'x', pos);
            memcpy(want + pos, FFFD, 3);
            memset(want + pos + 3, 'x', len - pos - 1);
            check_case(s, len, 1, want, len + 2, __LINE__);
            /* A valid 2-byte character there instead. */
            if (pos + 1 < len) {
                s[pos] = (char)0xC3;
                s[pos + 1] = (char)0xA9;
                CHECK_INT(kz_utf8_count_invalid(s, len), 0);
            }
        }
    }
}

static void test_invalid(void)
{
    /* Stray continuation bytes: each is its own subpart. */
    CASE("\x80", 1, FFFD);
    CASE("\xBF", 1, FFFD);
    CASE("a\x80\x80z", 2, "a" FFFD FFFD "z");
    /* Bytes that start nothing: C0, C1, F5..FF. */
    CASE("\xC0", 1, FFFD);
    CASE("\xFF", 1, FFFD);
    CASE("\xF5\x80\x80\x80", 4, FFFD FFFD FFFD FFFD);
    CASE("\xFE\xFF", 2, FFFD FFFD);
    /* Overlong: C0 AF ('/' in 2 bytes). C0 starts no well-formed sequence,
     * so it is a subpart of one byte; AF is then a stray continuation. */
    CASE("\xC0\xAF", 2, FFFD FFFD);
    CASE("\xC1\xBF", 2, FFFD FFFD);
    /* E0 80 AF: E0 needs A0..BF next, so "E0" alone is the subpart, then
     * 80 and AF are strays: three. */
    CASE("\xE0\x80\xAF", 3, FFFD FFFD FFFD);
    CASE("\xE0\x9F\xBF", 3, FFFD FFFD FFFD);
    /* F0 80 80: F0 needs 90..BF next; 80 is not, so F0 alone is a subpart
     * (it could start U+10000.. but not with 80), then each 80 is a stray:
     * three replacements, not one. */
    CASE("\xF0\x80\x80", 3, FFFD FFFD FFFD);
    CASE("\xF0\x8F\xBF\xBF", 4, FFFD FFFD FFFD FFFD);
    /* Surrogates: ED A0 80 is U+D800. ED needs 80..9F next; A0 is not, so
     * ED, A0 and 80 are three subparts. */
    CASE("\xED\xA0\x80", 3, FFFD FFFD FFFD);
    CASE("\xED\xBF\xBF", 3, FFFD FFFD FFFD);
    /* A surrogate pair in CESU-8 form: six. */
    CASE("\xED\xA0\xBD\xED\xB8\x80", 6, FFFD FFFD FFFD FFFD FFFD FFFD);
    /* Above U+10FFFF: F4 90 80 80 (U+110000): F4 needs 80..8F: four. */
    CASE("\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD);
    /* Interrupted sequences: the well-formed prefix is one subpart and the
     * interrupting byte is read again on its own. */
    CASE("\xE2\x82" "A", 1, FFFD "A");
    CASE("\xC3" "A", 1, FFFD "A");
    CASE("\xF0\x9F\x98" "A", 1, FFFD "A");
    CASE("\xF0\x9F" "A", 1, FFFD "A");
    CASE("\xE2\x82\xE2\x82\xAC", 1, FFFD "\xE2\x82\xAC");
    CASE("\xC3\xC3\xA9", 1, FFFD "\xC3\xA9");
    /* A fifth continuation byte after a complete 4-byte sequence. */
    CASE("\xF0\x9F\x98\x80\x80", 1, "\xF0\x9F\x98\x80" FFFD);
    /* The worked example in Unicode 15 section 3.9 (maximal subparts):
     * 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 -> 61 FFFD FFFD FFFD 62 FFFD 63
     * FFFD FFFD 64. */
    CASE("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64", 6,
         "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d");
}

static void test_truncated_at_end(void)
{
    /* Every proper prefix of a valid sequence at the end is one subpart. */
    CASE("ab\xC3", 1, "ab" FFFD);
    CASE("ab\xE2", 1, "ab" FFFD);
    CASE("ab\xE2\x82", 1, "ab" FFFD);
    CASE("ab\xF0", 1, "ab" FFFD);
    CASE("ab\xF0\x9F", 1, "ab" FFFD);
    CASE("ab\xF0\x9F\x98", 1, "ab" FFFD);
    CASE("\xF4\x8F\xBF", 1, FFFD);
    /* ...but a truncated invalid start is still cut by the table. */
    CASE("\xF0\x80", 2, FFFD FFFD);
    CASE("\xED\xA0", 2, FFFD FFFD);
    /* Truncation after 16 bytes of ASCII (through the fast path). */
    CASE("0123456789abcdef0123456789abcdef\xE2\x82", 1,
         "0123456789abcdef0123456789abcdef" FFFD);
}

static void test_sanitize_resets_output(void)
{
    kz_buf out = {0};
    CHECK_OK(kz_buf_append(&out, "old contents", 12));
    CHECK_INT(kz_utf8_sanitize(&out, "new", 3), 0);
    CHECK(out.len == 3 && memcmp(out.data, "new", 3) == 0);
    CHECK_INT(kz_utf8_sanitize(&out, "", 0), 0);
    CHECK_INT(out.len, 0);
    kz_buf_free(&out);
}

/* Random bytes biased towards UTF-8 structure, checked against the
 * reference; sanitized output must be valid and sanitizing it again must be
 * the identity. */
static void test_fuzz(void)
{
    uint64_t seed = kz_test_seed();
    uint64_t st = seed;
    static const uint8_t interesting[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
                                          0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE,
                                          0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
    uint8_t in[200], ref[600];
    kz_buf out = {0}, again = {0};
    int failed = 0;

    for (int iter = 0; iter < 200000 && !failed; iter++) {
        size_t len = kz_test_rand(&st) % (iter < 1000 ? 8 : sizeof in);
        unsigned mode = (unsigned)(kz_test_rand(&st) % 4);
        for (size_t i = 0; i < len; i++) {
            uint64_t r = kz_test_rand(&st);
            if (mode == 0)
                in[i] = (uint8_t)r;
            else if (mode == 1)
                in[i] = interesting[(r >> 8) % sizeof interesting];
            else if (mode == 2) /* mostly ASCII with rare junk */
                in[i] = (r & 0xF) ? (uint8_t)('a' + (r >> 8) % 26) : (uint8_t)(r >> 16);
            else /* continuation-heavy */
                in[i] = (r & 1) ? (uint8_t)(0x80 | ((r >> 8) & 0x3F))
                                : interesting[(r >> 16) % sizeof interesting];
        }
        size_t ref_len;
        size_t want = ref_sanitize(in, len, ref, &ref_len);
        size_t c = kz_utf8_count_invalid((char *)in, len);
        size_t r = kz_utf8_sanitize(&out, (char *)in, len);
        int ok = c == want && r == want && out.len == ref_len &&
                 (ref_len == 0 || memcmp(out.data, ref, ref_len) == 0) &&
                 kz_utf8_count_invalid((char *)out.data, out.len) == 0 &&
                 kz_utf8_sanitize(&again, (char *)out.data, out.len) == 0 &&
                 again.len == out.len && (out.len == 0 || memcmp(again.data, out.data, out.len) == 0);
        CHECK_MSG(ok, "seed %" PRIu64 " iteration %d: count %zu sanitize %zu reference %zu",
                  seed, iter, c, r, want);
        if (!ok) {
            fprintf(stderr, "input:");
            for (size_t i = 0; i < len; i++)
                fprintf(stderr, " %02X", in[i]);
            fputc('\n', stderr);
            failed = 1;
        }
    }
    kz_buf_free(&out);
    kz_buf_free(&again);
}

int main(void)
{
    KZ_RUN(test_valid);
    KZ_RUN(test_fast_path_lengths);
    KZ_RUN(test_invalid);
    KZ_RUN(test_truncated_at_end);
    KZ_RUN(test_sanitize_resets_output);
    KZ_RUN(test_fuzz);
    return kz_test_finish();
}
