/*
 * test_analyzer.c: tests of indexer/analyzer.c.
 *
 * Most cases compare the stems an analyzer produces, joined by spaces, with
 * the expected string. The randomized and exhaustive cases compare against
 * ref_analyze(), an independent and deliberately slow implementation of the
 * specification that works on the whole text with utf8proc's string calls.
 */
#include "kzint.h"
#include "test.h"

#include <libstemmer.h>
#include <utf8proc.h>

/* ------------------------------------------------------------- helpers */

static size_t put_utf8(char *p, uint32_t c)
{
    return (size_t)utf8proc_encode_char((utf8proc_int32_t)c, (utf8proc_uint8_t *)p);
}

/* Appends the stems of tv to b, separated by spaces, and NUL-terminates. */
static void join_stems(kz_buf *b, const kz_analyzer *a, const kz_tokvec *tv)
{
    b->len = 0;
    for (size_t i = 0; i < tv->len; i++) {
        size_t n;
        const char *s = kz_analyzer_term(a, tv->v[i].term, &n);
        if (i)
            kz_buf_append_u8(b, ' ');
        kz_buf_append(b, s, n);
    }
    kz_buf_terminate(b);
}

/* Analyzes text with language and returns the stems joined by spaces, in a
 * static buffer valid until the next call. Spans go to *tv if not NULL (the
 * caller frees it). */
static const char *stems_tv(const char *language, const char *text, size_t len, kz_tokvec *tv)
{
    static kz_buf out;
    kz_analyzer *a = NULL;
    kz_tokvec local = { 0 };
    kz_tokvec *v = tv ? tv : &local;
    v->len = 0;
    out.len = 0;
    kz_buf_terminate(&out);
    CHECK_OK(kz_analyzer_new(&a, language));
    if (a) {
        CHECK_OK(kz_analyzer_run(a, text, len, v));
        join_stems(&out, a, v);
    }
    kz_analyzer_free(a);
    kz_tokvec_free(&local);
    return (const char *)out.data;
}

static const char *stems(const char *text) { return stems_tv("english", text, strlen(text), NULL); }

static const char *stems_lang(const char *language, const char *text)
{
    return stems_tv(language, text, strlen(text), NULL);
}

#define CHECK_SPAN(tv, i, s, e)                                                 \
    do {                                                                        \
        CHECK((tv).len > (size_t)(i));                                          \
        if ((tv).len > (size_t)(i)) {                                           \
            CHECK_INT((tv).v[i].start, s);                                      \
            CHECK_INT((tv).v[i].end, e);                                        \
        }                                                                       \
    } while (0)

/* ------------------------------------------------------------- reference */

static int ref_is_word(int32_t c)
{
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

static int ref_is_mark(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME;
}

/* utf8proc_map, checked; the result is malloc'd. */
static uint8_t *ref_map(const uint8_t *s, size_t len, utf8proc_option_t options, size_t *out_len)
{
    uint8_t *out = NULL;
    utf8proc_ssize_t n = utf8proc_map(s, (utf8proc_ssize_t)len, &out, options);
    if (n < 0) {
        fprintf(stderr, "utf8proc_map: %s\n", utf8proc_errmsg(n));
        abort();
    }
    *out_len = (size_t)n;
    return out;
}

/* The specification applied to the whole (valid) text, one step at a time:
 * NFKD, case fold, NFKD, strip marks, NFC, tokenize, drop long tokens, stem.
 * Appends the stems joined by spaces to out. */
static void ref_analyze(struct sb_stemmer *stemmer, const char *text, size_t len, kz_buf *out)
{
    size_t n1, n2, n3, n4;
    uint8_t *nfkd = ref_map((const uint8_t *)text, len,
                            UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_STABLE, &n1);
    uint8_t *folded = ref_map(nfkd, n1, UTF8PROC_CASEFOLD, &n2);
    uint8_t *again = ref_map(folded, n2, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_STABLE, &n3);
    uint8_t *stripped = malloc(n3 + 1);
    size_t w = 0;
    for (size_t i = 0; i < n3;) {
        int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(again + i, (utf8proc_ssize_t)(n3 - i), &c);
        if (!ref_is_mark(c)) {
            memcpy(stripped + w, again + i, (size_t)k);
            w += (size_t)k;
        }
        i += (size_t)k;
    }
    uint8_t *nfc = ref_map(stripped, w, UTF8PROC_COMPOSE | UTF8PROC_STABLE, &n4);

    int32_t *cp = malloc((n4 + 1) * sizeof *cp);
    size_t n = 0;
    for (size_t i = 0; i < n4;) {
        i += (size_t)utf8proc_iterate(nfc + i, (utf8proc_ssize_t)(n4 - i), &cp[n]);
        n++;
    }
    char *tok = malloc(4 * n + 1);
    out->len = 0;
    int first = 1;
    for (size_t i = 0; i < n;) {
        if (!ref_is_word(cp[i])) {
            i++;
            continue;
        }
        size_t j = i, count = 0, tl = 0;
        for (;;) {
            while (j < n && ref_is_word(cp[j])) {
                tl += put_utf8(tok + tl, (uint32_t)cp[j++]);
                count++;
            }
            if (j + 1 < n && (cp[j] == 0x27 || cp[j] == 0x2019) && ref_is_word(cp[j + 1])) {
                tok[tl++] = '\'';
                count++;
                j++;
                continue;
            }
            break;
        }
        if (count <= KZ_MAX_TOKEN_CODEPOINTS) {
            const sb_symbol *s = sb_stemmer_stem(stemmer, (const sb_symbol *)tok, (int)tl);
            if (!first)
                kz_buf_append_u8(out, ' ');
            kz_buf_append(out, s, (size_t)sb_stemmer_length(stemmer));
            first = 0;
        }
        i = j;
    }
    kz_buf_terminate(out);
    free(tok);
    free(cp);
    free(nfc);
    free(stripped);
    free(again);
    free(folded);
    free(nfkd);
}

/* Compares the analyzer with the reference on text; prints the first
 * difference. Also checks that spans are sane. */
static int agrees_with_reference(kz_analyzer *a, struct sb_stemmer *stemmer, const char *text,
                                 size_t len)
{
    kz_buf got = { 0 }, want = { 0 };
    kz_tokvec tv = { 0 };
    int ok = kz_analyzer_run(a, text, len, &tv) == KZ_OK;
    join_stems(&got, a, &tv);
    ref_analyze(stemmer, text, len, &want);
    if (ok && strcmp((char *)got.data, (char *)want.data) != 0) {
        size_t d = 0;
        while (got.data[d] && got.data[d] == want.data[d])
            d++;
        size_t from = d > 40 ? d - 40 : 0;
        fprintf(stderr, "analyzer and reference differ at byte %zu:\n  got  ...%.80s\n"
                "  want ...%.80s\n", d, (char *)got.data + from, (char *)want.data + from);
        ok = 0;
    }
    uint32_t last_start = 0;
    for (size_t i = 0; ok && i < tv.len; i++) {
        const kz_token *t = &tv.v[i];
        /* Spans are ordered, non-empty, inside the text, on character
         * boundaries. */
        if (t->start < last_start || t->start >= t->end || t->end > len ||
            (text[t->start] & 0xC0) == 0x80 || (t->end < len && (text[t->end] & 0xC0) == 0x80)) {
            fprintf(stderr, "bad span [%u, %u) of token %zu\n", t->start, t->end, i);
            ok = 0;
        }
        last_start = t->start;
    }
    kz_buf_free(&got);
    kz_buf_free(&want);
    kz_tokvec_free(&tv);
    return ok;
}

/* ------------------------------------------------------------- cases */

static void test_fold_examples(void)
{
    CHECK_STR(stems("Kasym-Žomart"), "kasym zomart");
    CHECK_STR(stems("ЁЛКА"), "елка");
    CHECK_STR(stems("ﬁ"), "fi");
    CHECK_STR(stems("ﬁsh"), "fish");
    /* straße folds to strasse, which English stems to strass. */
    CHECK_STR(stems("straße STRASSE Strasse"), "strass strass strass");
    CHECK_STR(stems("ẞ"), "ss");
    CHECK_STR(stems("İstanbul"), "istanbul");   /* I + U+0307, mark stripped */
    CHECK_STR(stems("Ａｓｔａｎａ"), "astana");  /* fullwidth */
    CHECK_STR(stems("\xF0\x9D\x90\x80\xF0\x9D\x90\x81"), "ab"); /* math bold A B */
    CHECK_STR(stems("\xE2\x84\xAA"), "k");        /* KELVIN SIGN */
    CHECK_STR(stems("㎏"), "kg");
    CHECK_STR(stems("Ⅻ"), "xii");
    CHECK_STR(stems("ǅungla"), "dzungla");
    CHECK_STR(stems("café cafe\xCC\x81 CAFÉ"), "cafe cafe cafe");
}

static void test_kasym_zomart_tokayev(void)
{
    kz_tokvec tv = { 0 };
    const char *text = "Kasym-Žomart Tokayev";
    CHECK_STR(stems_tv("english", text, strlen(text), &tv), "kasym zomart tokayev");
    CHECK_INT(tv.len, 3);
    CHECK_SPAN(tv, 0, 0, 5);
    CHECK_SPAN(tv, 1, 6, 13); /* Ž is two bytes */
    CHECK_SPAN(tv, 2, 14, 21);
    kz_tokvec_free(&tv);
}

static void test_cyrillic_and_kazakh(void)
{
    CHECK_STR(stems("Россия"), "россия");
    CHECK_STR(stems("РОССИЯ"), "россия");
    CHECK_STR(stems("Ёлка ёлка"), "елка елка");
    /* Қ, Ә, Ү, Ұ, Ғ, Ң, Ө, І, Һ have no decomposition: only lower-cased. */
    CHECK_STR(stems("Қазақстан"), "қазақстан");
    CHECK_STR(stems("Ә"), "ә");
    CHECK_STR(stems("Ү"), "ү");
    CHECK_STR(stems("ҰҒҢӨІҺ"), "ұғңөіһ");
    /* Й is И + breve: the breve is a mark, so it goes. */
    CHECK_STR(stems("Й"), "и");
    kz_tokvec tv = { 0 };
    const char *text = "Қазақстан Республикасы";
    CHECK_STR(stems_tv("english", text, strlen(text), &tv), "қазақстан республикасы");
    CHECK_SPAN(tv, 0, 0, 18);
    CHECK_SPAN(tv, 1, 19, 43);
    kz_tokvec_free(&tv);
}

static void test_mixed_scripts(void)
{
    CHECK_STR(stems("Astana (Астана, Ақмола) 1997"), "astana астана ақмола 1997");
    /* No separator between scripts: one run of letters. */
    CHECK_STR(stems("abcабв"), "abcабв");
    CHECK_STR(stems("東京 Tokyo"), "東京 tokyo");
    CHECK_STR(stems("Ελλάδα"), "ελλαδα");
    CHECK_STR(stems("한국어"), "한국어"); /* decomposed and composed again */
}

static void test_digits(void)
{
    kz_tokvec tv = { 0 };
    CHECK_STR(stems_tv("english", "6,846", 5, &tv), "6 846");
    CHECK_SPAN(tv, 0, 0, 1);
    CHECK_SPAN(tv, 1, 2, 5);
    kz_tokvec_free(&tv);
    CHECK_STR(stems("3.14 1990s x²"), "3 14 1990s x2");
    CHECK_STR(stems("٣٤"), "٣٤"); /* Arabic-Indic digits are N* */
}

static void test_apostrophes(void)
{
    kz_tokvec tv = { 0 };
    CHECK_STR(stems_tv("english", "'quoted'", 8, &tv), "quot");
    CHECK_INT(tv.len, 1);
    CHECK_SPAN(tv, 0, 1, 7);

    CHECK_STR(stems("rock'n'roll"), "rock'n'rol");
    const char *putin = "Putin’s war";
    CHECK_STR(stems_tv("english", putin, strlen(putin), &tv), "putin war");
    CHECK_SPAN(tv, 0, 0, 9); /* covers "Putin’s": ’ is three bytes */
    CHECK_SPAN(tv, 1, 10, 13);
    CHECK_STR(stems("Putin's"), "putin");

    CHECK_STR(stems("a''b"), "a b");             /* two apostrophes do not join */
    CHECK_STR(stems("a' b a 'b ' '' ’"), "a b a b");
    CHECK_STR(stems("o’clock"), "o'clock");       /* stored as U+0027 */
    CHECK_STR(stems("o＇clock"), "o'clock");      /* fullwidth folds to U+0027 */
    CHECK_STR(stems("Dʼs"), "dʼs");               /* U+02BC is a letter (Lm) */
    CHECK_STR(stems("a\xCC\x81'\xCC\x81s"), "a"); /* marks vanish: a's */
    kz_tokvec_free(&tv);
}

static void test_long_tokens(void)
{
    char buf[4 * 800 + 16];
    kz_buf want = { 0 };
    /* 255 ASCII code points are kept, 256 are dropped. */
    memset(buf, 'a', 255);
    buf[255] = 0;
    CHECK_INT(strlen(stems(buf)), 255);
    memset(buf, 'a', 256);
    buf[256] = 0;
    CHECK_STR(stems(buf), "");
    strcpy(buf + 256, " ok");
    CHECK_STR(stems(buf), "ok");
    memset(buf, 'a', 1000); /* over the pre-composition buffer */
    strcpy(buf + 1000, " ok");
    CHECK_STR(stems(buf), "ok");

    /* The same with é, which folds to e: the limit counts folded code points. */
    size_t n = 0;
    for (int i = 0; i < 255; i++)
        n += put_utf8(buf + n, 0xE9);
    buf[n] = 0;
    CHECK_INT(strlen(stems(buf)), 255);
    n += put_utf8(buf + n, 0xE9);
    buf[n] = 0;
    CHECK_STR(stems(buf), "");

    /* Apostrophes count: 127 "a'" + "a" is 255 code points. */
    n = 0;
    for (int i = 0; i < 127; i++) {
        buf[n++] = 'a';
        buf[n++] = '\'';
    }
    buf[n++] = 'b';
    buf[n] = 0;
    CHECK_INT(strlen(stems(buf)), 255);
    memmove(buf + 1, buf, n + 1);
    buf[0] = 'c';
    CHECK_STR(stems(buf), "");

    /* ﬁ expands to two code points: 128 of them make 256. */
    n = 0;
    for (int i = 0; i < 128; i++)
        n += put_utf8(buf + n, 0xFB01);
    buf[n] = 0;
    CHECK_STR(stems(buf), "");
    n = 0;
    for (int i = 0; i < 127; i++)
        n += put_utf8(buf + n, 0xFB01);
    buf[n++] = 'x';
    buf[n] = 0;
    CHECK_INT(strlen(stems(buf)), 255);

    /* Hangul: the limit applies after composition. 255 syllables given as
     * L V T jamo (765 code points) are kept, as the syllables themselves. */
    n = 0;
    size_t m = 0;
    for (int i = 0; i < 255; i++) {
        n += put_utf8(buf + n, 0x1100);
        n += put_utf8(buf + n, 0x1161);
        n += put_utf8(buf + n, 0x11A8);
        kz_buf_reserve(&want, 4);
        want.len += put_utf8((char *)want.data + want.len, 0xAC01);
    }
    buf[n] = 0;
    kz_buf_terminate(&want);
    m = n;
    CHECK_STR(stems(buf), (char *)want.data);
    n += put_utf8(buf + n, 0x1100);
    buf[n] = 0;
    CHECK_STR(stems(buf), "");
    buf[m] = 0;
    CHECK_STR(stems_lang("russian", buf), (char *)want.data);
    kz_buf_free(&want);
}

static void test_empty_and_punctuation(void)
{
    kz_tokvec tv = { 0 };
    CHECK_STR(stems_tv("english", NULL, 0, &tv), "");
    CHECK_INT(tv.len, 0);
    CHECK_STR(stems(""), "");
    CHECK_STR(stems("!?,.;:-- ()[]{} \"'’ ... \t\n\r «»—–…"), "");
    CHECK_STR(stems("\xCC\x81\xCC\x81"), ""); /* marks alone */
    CHECK_STR(stems("😀 🇰🇿 ★"), "");
    kz_tokvec_free(&tv);
}

static void test_vulgar_fraction(void)
{
    kz_tokvec tv = { 0 };
    CHECK_STR(stems_tv("english", "½", strlen("½"), &tv), "1 2");
    CHECK_INT(tv.len, 2);
    CHECK_SPAN(tv, 0, 0, 2);
    CHECK_SPAN(tv, 1, 0, 2);
    /* Folding gives "31⁄2": a digit before ½ joins its numerator. */
    CHECK_STR(stems_tv("english", "3½ x", strlen("3½ x"), &tv), "31 2 x");
    CHECK_SPAN(tv, 0, 0, 3);
    CHECK_SPAN(tv, 1, 1, 3);
    CHECK_SPAN(tv, 2, 4, 5);
    kz_tokvec_free(&tv);
}

static void test_stemming(void)
{
    CHECK_STR(stems("Russians"), "russian");
    CHECK_STR(stems("running runs ran"), "run run ran");
    CHECK_STR(stems_lang("russian", "Россия России России"), "росс росс росс");
    CHECK_STR(stems_lang("en", "Russians"), "russian"); /* Snowball's aliases work */

    kz_analyzer *a = NULL;
    kz_tokvec tv = { 0 };
    CHECK_OK(kz_analyzer_new(&a, "russian"));
    CHECK_OK(kz_analyzer_run(a, "Россия и России", strlen("Россия и России"), &tv));
    CHECK_INT(tv.len, 3);
    if (tv.len == 3)
        CHECK_INT(tv.v[0].term, tv.v[2].term);
    kz_tokvec_free(&tv);
    kz_analyzer_free(a);
}

static void test_unknown_language(void)
{
    kz_analyzer *a = (kz_analyzer *)1;
    CHECK_INT(kz_analyzer_new(&a, "klingon"), KZ_EINVAL);
    CHECK(a == NULL);
    CHECK(strstr(kz_last_error(), "klingon") != NULL);
    CHECK(strstr(kz_last_error(), "english") != NULL);
    CHECK(strstr(kz_last_error(), "russian") != NULL);
    CHECK_INT(kz_analyzer_new(&a, "English"), KZ_EINVAL); /* names are lower case */
    CHECK_INT(kz_analyze("klingon", "x", 1, NULL, NULL), KZ_EINVAL);
    kz_analyzer_free(NULL);
}

static void test_ids(void)
{
    kz_analyzer *a = NULL;
    kz_tokvec tv = { 0 };
    size_t n;
    CHECK_OK(kz_analyzer_new(&a, "english"));
    if (!a)
        return;
    size_t mem0 = kz_analyzer_memory(a);
    CHECK(mem0 > 0);
    CHECK_INT(kz_analyzer_term_count(a), 0);
    CHECK(kz_analyzer_term(a, 0, &n) == NULL);

    const char *text = "cats Cat dog CATS bird dogs";
    CHECK_OK(kz_analyzer_run(a, text, strlen(text), &tv));
    CHECK_INT(tv.len, 6);
    if (tv.len == 6) {
        uint32_t want[6] = { 0, 0, 1, 0, 2, 1 };
        for (int i = 0; i < 6; i++)
            CHECK_INT(tv.v[i].term, want[i]);
    }
    CHECK_INT(kz_analyzer_term_count(a), 3);
    size_t cat_len;
    const char *cat = kz_analyzer_term(a, 0, &cat_len);
    CHECK(cat_len == 3 && memcmp(cat, "cat", 3) == 0);
    CHECK(kz_analyzer_term(a, 3, &n) == NULL);

    /* Appends; ids are stable across calls. */
    CHECK_OK(kz_analyzer_run(a, "bird fish", 9, &tv));
    CHECK_INT(tv.len, 8);
    if (tv.len == 8) {
        CHECK_INT(tv.v[6].term, 2);
        CHECK_INT(tv.v[7].term, 3);
    }

    /* Many distinct terms: term pointers stay valid (ASan checks). */
    kz_buf big = { 0 };
    for (int i = 0; i < 100000; i++)
        kz_buf_printf(&big, "w%d ", i);
    tv.len = 0;
    CHECK_OK(kz_analyzer_run(a, (char *)big.data, big.len, &tv));
    CHECK_INT(tv.len, 100000);
    CHECK_INT(kz_analyzer_term_count(a), 100004);
    CHECK(cat == kz_analyzer_term(a, 0, &n) && memcmp(cat, "cat", 3) == 0);
    const char *t = kz_analyzer_term(a, 100003, &n);
    CHECK(n == 6 && memcmp(t, "w99999", 6) == 0);
    for (size_t i = 0; i < tv.len; i++)
        CHECK_INT(tv.v[i].term, i + 4);
    size_t mem1 = kz_analyzer_memory(a);
    CHECK(mem1 > mem0 + 100000 * 8);

    /* Reset: memory drops, ids restart. */
    kz_analyzer_reset(a);
    CHECK_INT(kz_analyzer_term_count(a), 0);
    CHECK(kz_analyzer_memory(a) < mem1 / 4);
    tv.len = 0;
    CHECK_OK(kz_analyzer_run(a, "dog cat", 7, &tv));
    CHECK_INT(tv.len, 2);
    if (tv.len == 2) {
        CHECK_INT(tv.v[0].term, 0);
        CHECK_INT(tv.v[1].term, 1);
    }
    t = kz_analyzer_term(a, 0, &n);
    CHECK(n == 3 && memcmp(t, "dog", 3) == 0);
    kz_buf_free(&big);
    kz_tokvec_free(&tv);
    kz_analyzer_free(a);
}

/* The folds where utf8proc's one-call flags would differ from the spec. */
static void test_utf8proc_corners(void)
{
    /* U+0345 is a mark whose case folding is ι: fold before stripping. */
    CHECK_STR(stems("ᾳ"), "αι");
    CHECK_STR(stems("α\xCD\x85"), "αι");
    CHECK_STR(stems("ͺ"), "ι"); /* U+037A: space + U+0345 */
    /* An LV syllable followed by U+11A7 (a vowel) does not compose. */
    CHECK_STR(stems("가\xE1\x86\xA7"), "가\xE1\x86\xA7");
    CHECK_STR(stems("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "각");
}

static void test_spans_with_marks(void)
{
    kz_tokvec tv = { 0 };
    /* Decomposed é at the end of a word: the accent belongs to the span. */
    const char *text = "cafe\xCC\x81 bar\xCC\x81\xCC\x81, x";
    CHECK_STR(stems_tv("english", text, strlen(text), &tv), "cafe bar x");
    CHECK_SPAN(tv, 0, 0, 6);
    CHECK_SPAN(tv, 1, 7, 14);
    CHECK_SPAN(tv, 2, 16, 17);
    /* ...but not after an apostrophe that was not joined. */
    text = "ab'\xCC\x81 c";
    CHECK_STR(stems_tv("english", text, strlen(text), &tv), "ab c");
    CHECK_SPAN(tv, 0, 0, 2);
    kz_tokvec_free(&tv);
}

static void test_invalid_utf8(void)
{
    /* Invalid bytes are non-token characters, as kz_analyze promises. */
    CHECK_STR(stems_tv("english", "ab\xFF" "cd", 5, NULL), "ab cd");
    CHECK_STR(stems_tv("english", "ab\xE2\x80", 4, NULL), "ab");
    CHECK_STR(stems_tv("english", "\xC0\xAF" "x\xED\xA0\x80y\xF4\x90\x80\x80", 11, NULL), "x y");
    CHECK_STR(stems_tv("english", "\xC3", 1, NULL), "");
    CHECK_STR(stems_tv("english", "\xC3\xA9", 1, NULL), ""); /* cut mid-character */
}

struct collected {
    kz_buf text;
    size_t n;
    size_t last_end;
};

static void collect(void *ctx, const char *stem, size_t stem_len, size_t start, size_t end)
{
    struct collected *c = ctx;
    if (c->n++)
        kz_buf_append_u8(&c->text, '|');
    kz_buf_append(&c->text, stem, stem_len);
    kz_buf_printf(&c->text, "@%zu-%zu", start, end);
    c->last_end = end;
}

static void test_kz_analyze(void)
{
    struct collected c = { { 0 }, 0, 0 };
    const char *text = "Will Russia invade Kazakhstan?";
    CHECK_OK(kz_analyze("english", text, strlen(text), collect, &c));
    kz_buf_terminate(&c.text);
    CHECK_STR((char *)c.text.data, "will@0-4|russia@5-11|invad@12-18|kazakhstan@19-29");
    CHECK_INT(c.n, 4);
    kz_buf_free(&c.text);
    CHECK_OK(kz_analyze(NULL, "x", 1, NULL, NULL)); /* NULL: English */
    CHECK_INT(kz_analyze("english", NULL, 3, collect, &c), KZ_EINVAL);
}

/* The ASCII fast path against the code-point path: the same words in
 * upper/lower case, with a non-ASCII character somewhere in the text. */
static void test_fast_path_agrees(void)
{
    kz_analyzer *a = NULL;
    kz_tokvec t1 = { 0 }, t2 = { 0 };
    CHECK_OK(kz_analyzer_new(&a, "english"));
    if (!a)
        return;
    /* Each ASCII byte between two letters: */
    for (int b = 1; b < 128; b++) {
        char s[3] = { 'x', (char)b, 'y' };
        char u[16]; /* the same with a non-ASCII character after it */
        snprintf(u, sizeof u, "x%cy é", b);
        t1.len = t2.len = 0;
        CHECK_OK(kz_analyzer_run(a, s, 3, &t1));
        CHECK_OK(kz_analyzer_run(a, u, strlen(u), &t2));
        CHECK_INT(t1.len + 1, t2.len);
        for (size_t i = 0; i < t1.len && i < t2.len; i++)
            CHECK_INT(t1.v[i].term, t2.v[i].term);
    }
    kz_tokvec_free(&t1);
    kz_tokvec_free(&t2);
    kz_analyzer_free(a);
}

/* After stripping marks, NFC can only compose Hangul jamo: the analyzer
 * relies on it. Checked over all of Unicode, so that a new utf8proc with a
 * new composition would show here. */
static void test_only_hangul_composes(void)
{
    int bad = 0;
    for (int32_t c = 0; c < 0x110000; c++) {
        if (c >= 0xD800 && c < 0xE000)
            continue;
        if (c >= 0xAC00 && c < 0xAC00 + 11172)
            continue;
        int32_t d[32];
        int bc = 0;
        utf8proc_ssize_t n = utf8proc_decompose_char(c, d, 32, UTF8PROC_DECOMPOSE, &bc);
        if (n < 2)
            continue;
        int marks = 0;
        for (utf8proc_ssize_t i = 0; i < n; i++)
            marks += ref_is_mark(d[i]);
        if (!marks) {
            fprintf(stderr, "U+%04X composes without marks\n", (unsigned)c);
            bad++;
        }
    }
    CHECK_INT(bad, 0);
}

/* Every code point, alone and between two letters, against the reference. */
static void test_exhaustive(void)
{
    kz_analyzer *a = NULL;
    struct sb_stemmer *stemmer = sb_stemmer_new("english", "UTF_8");
    kz_buf text = { 0 };
    CHECK_OK(kz_analyzer_new(&a, "english"));
    for (int32_t c = 1; c < 0x110000; c++) {
        if (c >= 0xD800 && c < 0xE000)
            continue;
        char u[4];
        size_t k = put_utf8(u, (uint32_t)c);
        kz_buf_append(&text, "a", 1);
        kz_buf_append(&text, u, k);
        kz_buf_append(&text, "b ", 2);
        kz_buf_append(&text, u, k);
        kz_buf_append(&text, " ", 1);
    }
    if (a)
        CHECK(agrees_with_reference(a, stemmer, (char *)text.data, text.len));
    kz_buf_free(&text);
    kz_analyzer_free(a);
    sb_stemmer_delete(stemmer);
}

/* Pieces that random texts are made of. */
static const char *const pieces[] = {
    "a", "Z", "q", "x", "0", "7", " ", "  ", ",", "-", ".", "\n", "'", "’", "''", "'s", "’S",
    "é", "e\xCC\x81", "\xCC\x81", "\xCC\xA3", "Ž", "ß", "ẞ", "ﬁ", "ﬀ", "½", "²", "Ⅻ", "İ", "ǅ",
    "ŉ", "ſ", "µ", "K", "ª", "Ё", "й", "Й", "Қ", "Ә", "Ү", "ұ", "Россия", "России", "Қазақстан",
    "α", "Ω", "\xCD\x85", "ᾳ", "ͺ", "ς", "가", "각", "\xE1\x84\x80", "\xE1\x85\xA1",
    "\xE1\x86\xA8", "中", "文", "😀", "\xF0\x9D\x90\x80", "Ａ", "＇", "ʼ", "\xC2\xAD",
    "\xE2\x80\x8D", "ﷺ", "㎏", "لا", "क्ष", "ि", "\xE2\x83\x9D", "٣", "running", "Putin",
    "RUSSIANS", "rock'n'roll",
};

static void random_text(uint64_t *rng, kz_buf *b)
{
    b->len = 0;
    size_t parts = kz_test_rand(rng) % 40;
    for (size_t i = 0; i < parts; i++) {
        uint64_t r = kz_test_rand(rng);
        switch (r % 16) {
        case 0: { /* any scalar value but U+11A7 (utf8proc composes it away) */
            uint32_t c;
            do
                c = (uint32_t)(kz_test_rand(rng) % 0x110000);
            while (c == 0 || (c >= 0xD800 && c < 0xE000) || c == 0x11A7);
            char u[4];
            kz_buf_append(b, u, put_utf8(u, c));
            break;
        }
        case 1: { /* any BMP letter-ish range */
            uint32_t c = 0x80 + (uint32_t)(kz_test_rand(rng) % 0x3000);
            if (c == 0x11A7)
                c = 'x';
            char u[4];
            kz_buf_append(b, u, put_utf8(u, c));
            break;
        }
        case 2: { /* any ASCII character */
            char c = (char)(1 + kz_test_rand(rng) % 127);
            kz_buf_append(b, &c, 1);
            break;
        }
        case 3: /* a long run near the length limit */
            if (r % 7 == 0) {
                size_t n = 250 + kz_test_rand(rng) % 10;
                for (size_t k = 0; k < n; k++)
                    kz_buf_append(b, (r >> 8) % 2 ? "q" : "ä", (r >> 8) % 2 ? 1 : 2);
                break;
            }
            /* fall through */
        default: {
            const char *p = pieces[kz_test_rand(rng) % (sizeof pieces / sizeof pieces[0])];
            kz_buf_append(b, p, strlen(p));
        }
        }
    }
}

static void test_random_against_reference(void)
{
    uint64_t seed = kz_test_seed();
    uint64_t rng = seed;
    kz_analyzer *en = NULL, *ru = NULL;
    struct sb_stemmer *sen = sb_stemmer_new("english", "UTF_8");
    struct sb_stemmer *sru = sb_stemmer_new("russian", "UTF_8");
    kz_buf text = { 0 };
    CHECK_OK(kz_analyzer_new(&en, "english"));
    CHECK_OK(kz_analyzer_new(&ru, "russian"));
    if (!en || !ru)
        goto done;
    int failures = 0;
    for (int i = 0; i < 20000 && failures < 5; i++) {
        random_text(&rng, &text);
        kz_analyzer *a = i % 2 ? ru : en;
        if (!agrees_with_reference(a, i % 2 ? sru : sen, (char *)text.data, text.len)) {
            fprintf(stderr, "  (iteration %d of seed %" PRIu64 ")\n", i, seed);
            failures++;
        }
        if (i % 5000 == 4999)
            kz_analyzer_reset(a); /* results must not depend on the caches */
    }
    CHECK_INT(failures, 0);
done:
    kz_buf_free(&text);
    kz_analyzer_free(en);
    kz_analyzer_free(ru);
    sb_stemmer_delete(sen);
    sb_stemmer_delete(sru);
}

int main(void)
{
    KZ_RUN(test_fold_examples);
    KZ_RUN(test_kasym_zomart_tokayev);
    KZ_RUN(test_cyrillic_and_kazakh);
    KZ_RUN(test_mixed_scripts);
    KZ_RUN(test_digits);
    KZ_RUN(test_apostrophes);
    KZ_RUN(test_long_tokens);
    KZ_RUN(test_empty_and_punctuation);
    KZ_RUN(test_vulgar_fraction);
    KZ_RUN(test_stemming);
    KZ_RUN(test_unknown_language);
    KZ_RUN(test_ids);
    KZ_RUN(test_utf8proc_corners);
    KZ_RUN(test_spans_with_marks);
    KZ_RUN(test_invalid_utf8);
    KZ_RUN(test_kz_analyze);
    KZ_RUN(test_fast_path_agrees);
    KZ_RUN(test_only_hangul_composes);
    KZ_RUN(test_exhaustive);
    KZ_RUN(test_random_against_reference);
    return kz_test_finish();
}
