/*
 * analyzer.c: the analysis that documents and queries share.
 *
 * One pass over the input turns text into tokens:
 *
 *   fold      Each input character is folded on its own: NFKD, full case
 *             folding, NFKD again. Combining marks (M*) are kept, so that
 *             a stemmer can see the letters its language writes with them
 *             (Russian й); they are removed after stemming. Folding
 *             character by character equals folding the whole text: each
 *             step maps single code points, but for one: NFKD orders each
 *             run of combining marks by combining class, and U+0345 (class
 *             240, the highest) goes after the marks that follow it, before
 *             case folding makes it the letter ι. kz_analyzer_run holds
 *             back the ι of a U+0345 while non-starters follow it.
 *   tokenise  Maximal runs of folded L* and N* code points, with the marks
 *             that follow them. An apostrophe (U+0027 or U+2019) with such
 *             a code point on both sides joins the two runs and is stored
 *             as U+0027.
 *   script    A token's letters decide its stemmer (README "Analysis"):
 *             Latin words English, Russian words Russian, other words none,
 *             unless the analyzer has one language for every word. A token
 *             that mixes Latin and Cyrillic letters has the look-alike
 *             letters of its minority script read as its majority's.
 *   stem      Snowball on the token's NFC (marks composed); Russian is
 *             stemmed again until the stem no longer changes, so that every
 *             case of a name meets (Токаев, Токаева, Токаеву).
 *   strip     The stem's NFKD without marks, Hangul jamo composed: the term.
 *             Once marks are gone, the only canonical compositions left are
 *             those of Hangul jamo (tests/test_analyzer.c checks this over
 *             all of Unicode), so they are done here by the arithmetic of
 *             Unicode section 3.12.
 *   drop      Tokens longer than KZ_MAX_TOKEN_CODEPOINTS without their marks.
 *   intern    Each distinct term becomes a dense id.
 *
 * Where utf8proc 2.8 does not do what the steps above say, this file does
 * the steps itself:
 *   - utf8proc_decompose_char() with CASEFOLD|STRIPMARK removes a mark
 *     before case folding it, so U+0345 (a mark whose case folding is the
 *     letter U+03B9) would vanish instead of becoming iota. fold_char()
 *     therefore runs the steps as separate calls.
 *   - utf8proc's composition merges an LV syllable with U+11A7, which is not
 *     a trailing consonant, and loses it; compose_hangul() does not. Tokens
 *     holding Hangul are never stemmed, so utf8proc never composes them.
 *
 * Spans: every folded code point remembers the input character it came
 * from; a token's span runs from its first character's first byte to its
 * last character's last byte, marks after its last character included, so
 * that a highlight never separates a letter from its accents.
 *
 * Speed: ASCII bytes skip utf8proc (folding is lower-casing, token
 * characters are [A-Za-z0-9]). The fold of other code points is computed
 * once per analyzer and kept in a table. A hash table maps the folded bytes
 * of each distinct token (marks included: the term is a function of them)
 * to its term id, so a token is stemmed only the first time it is seen; a
 * second table interns the terms. Both tables use XXH3 and open addressing
 * with linear probing.
 */
#include "kzint.h"

#include <libstemmer.h>
#include <stdlib.h>
#include <utf8proc.h>
/* Inlined: the hash of every token is on the hot path. */
#define XXH_INLINE_ALL
#include <xxhash.h>

/* A token is buffered, before composition, up to this many code points
 * other than marks. Composition shortens by a factor of 3 at most (L V T
 * jamo become one syllable), so a token longer than this is certainly
 * dropped. Up to MAX_MARKS marks are kept besides; later ones are not
 * buffered (they are removed from the term anyway, and only a stemmer would
 * have seen them). */
#define PRE_MAX_CP (3 * KZ_MAX_TOKEN_CODEPOINTS)
#define MAX_MARKS 1024
#define TOK_MAX_CP (PRE_MAX_CP + MAX_MARKS)
#define TOK_MAX_BYTES (4 * TOK_MAX_CP)

/* Room for the fold of one code point; the longest in Unicode 15 is 18
 * (U+FDFA), each step's intermediate result is shorter than this. */
#define FOLD_MAX 64

/* Folded code points are stored with their class in bits 24..25. */
enum { CLS_OTHER = 0, CLS_WORD = 1, CLS_APOS = 2, CLS_MARK = 3 };
#define FOLD_CP(e) ((e) & 0x1FFFFFu)
#define FOLD_CLS(e) ((e) >> 24)

#define NO_TERM UINT32_MAX
#define INITIAL_SLOTS 1024
#define FIRST_BLOCK 4096
#define MAX_BLOCK (1u << 20)

/* Hangul constants, Unicode section 3.12. */
#define H_SBASE 0xAC00u
#define H_LBASE 0x1100u
#define H_VBASE 0x1161u
#define H_TBASE 0x11A7u
#define H_LCOUNT 19u
#define H_VCOUNT 21u
#define H_TCOUNT 28u
#define H_SCOUNT 11172u

/* ASCII folding: the lower-case form of [A-Za-z0-9], 0 for any other byte
 * (including every byte >= 0x80, so that the ASCII loop stops there). */
static const uint8_t ascii_fold[256] = {
    ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',
    ['5'] = '5', ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9',
    ['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd', ['E'] = 'e', ['F'] = 'f',
    ['G'] = 'g', ['H'] = 'h', ['I'] = 'i', ['J'] = 'j', ['K'] = 'k', ['L'] = 'l',
    ['M'] = 'm', ['N'] = 'n', ['O'] = 'o', ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r',
    ['S'] = 's', ['T'] = 't', ['U'] = 'u', ['V'] = 'v', ['W'] = 'w', ['X'] = 'x',
    ['Y'] = 'y', ['Z'] = 'z',
    ['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e', ['f'] = 'f',
    ['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j', ['k'] = 'k', ['l'] = 'l',
    ['m'] = 'm', ['n'] = 'n', ['o'] = 'o', ['p'] = 'p', ['q'] = 'q', ['r'] = 'r',
    ['s'] = 's', ['t'] = 't', ['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x',
    ['y'] = 'y', ['z'] = 'z',
};

/* Token cache slot: folded token bytes -> term, 32 bytes. Keys of up to
 * INLINE_KEY bytes (nearly all words) are kept in the slot, zero-padded, so
 * that a lookup touches one cache line; a longer key is kept in cache_keys
 * and key holds its offset there as a u32. len == 0 marks an empty slot;
 * its top bit (NO_RUSSIAN_TAG) marks a term made without Russian stemming
 * (kz_analyzer_set_russian), whose key is the same bytes. hash is the low
 * 32 bits of XXH3. */
#define NO_RUSSIAN_TAG 0x8000u
_Static_assert(TOK_MAX_BYTES < NO_RUSSIAN_TAG, "the tag bit is free in a key's length");
#define INLINE_KEY 22
typedef struct cache_slot {
    uint32_t hash;
    uint32_t term;
    uint16_t len;
    uint8_t key[INLINE_KEY];
} cache_slot;
_Static_assert(sizeof(cache_slot) == 32, "a cache slot is half a cache line");

/* The token cache of a large corpus outgrows the CPU caches, and looking
 * a token up as soon as it ends waits on memory every time. So a token
 * with an inline key only records where it goes in the output, with its
 * key and hash, and prefetches its cache slot; the pending tokens are
 * looked up PENDING at a time, when their slots have arrived. Such a
 * token always has a term (it is far shorter than the longest kept), so
 * its output entry is only filled in, never removed. */
#define PENDING 16
typedef struct pending_token {
    size_t at; /* index in the output kz_tokvec */
    uint32_t hash;
    uint16_t len;
    uint8_t nonascii;
    uint8_t key[INLINE_KEY]; /* zero-padded */
} pending_token;

/* Intern slot: id + 1 (0 marks an empty slot). */
typedef struct intern_slot {
    uint32_t hash;
    uint32_t idp1;
} intern_slot;

/* The token being built while scanning. Its bytes are in kz_analyzer.tok. */
typedef struct scan {
    int active;    /* inside a token */
    int apos;      /* an apostrophe followed the token's last code point */
    int overlong;  /* more than PRE_MAX_CP code points: will be dropped */
    int nonascii;  /* tok holds a byte >= 0x80 */
    uint32_t start, end;
    size_t len;    /* bytes in tok */
    unsigned ncp;  /* code points in tok, marks not counted */
    unsigned nmarks; /* marks in tok */
} scan;

struct kz_analyzer {
    /* One stemmer for every word (the_stemmer), or the stemmers of the
     * scripts (latin_stemmer, russian_stemmer) when the_stemmer is NULL. */
    struct sb_stemmer *the_stemmer, *latin_stemmer, *russian_stemmer;
    int no_russian; /* kz_analyzer_set_russian(a, 0): Russian words are not stemmed */
    int fold_only; /* tokens are folded but not stemmed (query prefixes) */

    /* Token cache: folded token bytes -> term. */
    cache_slot *cache;
    size_t cache_cap; /* a power of two, or 0 before first use */
    size_t cache_count;
    kz_buf cache_keys;

    /* Interned stems. terms[id] points at the stem bytes, which are followed
     * by a NUL and preceded by their length as a u32. The bytes live in
     * blocks that never move, so kz_analyzer_term() pointers stay valid. */
    intern_slot *intern;
    size_t intern_cap;
    const uint8_t **terms;
    size_t terms_cap;
    uint32_t term_count;
    uint8_t **blocks;
    size_t n_blocks, blocks_cap;
    size_t block_size, block_used, block_bytes;

    /* Folds of non-ASCII code points, filled on first use.
     * fold_page[c >> 8][c & 0xFF] is 0 until computed, then an index i into
     * pool where pool[i] is the count n and pool[i+1 .. i+n] the folded code
     * points with their classes. pool[0] is unused. */
    uint32_t *fold_page[0x110000 >> 8];
    size_t n_fold_pages;
    uint32_t *pool;
    size_t pool_len, pool_cap;

    pending_token pending[PENDING];
    size_t n_pending;

    /* Scratch for the current token, with room for zero padding. */
    uint8_t tok[TOK_MAX_BYTES + INLINE_KEY];
    uint32_t cps[TOK_MAX_CP];     /* the token's code points, marks included */
    uint32_t bare[TOK_MAX_CP];    /* and without its marks */
    uint8_t composed[4 * KZ_MAX_TOKEN_CODEPOINTS];
    kz_buf scratch;               /* a stem being stemmed again, or folded */

    /* kz_analyzer_run_some: the indexes (ascending) of the run's tokens to
     * stem, the next of them not yet passed, and out->len when the run
     * began; stem_at is NULL in kz_analyzer_run. */
    const uint32_t *stem_at;
    size_t n_stem_at, stem_next, run_base;
};

/* ------------------------------------------------------------------ fold */

static int is_mark(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC ||
           k == UTF8PROC_CATEGORY_ME;
}

static unsigned fold_class(int32_t c)
{
    if (c == 0x27 || c == 0x2019)
        return CLS_APOS;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
        return CLS_MARK;
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return CLS_WORD;
    default:
        return CLS_OTHER;
    }
}

/* One utf8proc step on one code point, writing at most room code points to
 * dst; returns how many were written. */
static size_t map_char(int32_t c, int32_t *dst, size_t room, utf8proc_option_t options)
{
    int boundclass = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char(c, dst, (utf8proc_ssize_t)room, options,
                                                 &boundclass);
    if (n < 0) { /* only for c outside Unicode, which the decoder never gives */
        if (room == 0)
            return 0;
        dst[0] = c;
        return 1;
    }
    return KZ_MIN((size_t)n, room);
}

/* Folds one code point (NFKD, case fold, NFKD) into out, which has room
 * for FOLD_MAX; returns the number of code points. */
static size_t fold_char(int32_t c, int32_t *out)
{
    const utf8proc_option_t nfkd = UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
    int32_t decomposed[FOLD_MAX], folded[FOLD_MAX], again[FOLD_MAX];
    size_t n1 = map_char(c, decomposed, FOLD_MAX, nfkd);
    size_t n2 = 0;
    for (size_t i = 0; i < n1; i++)
        n2 += map_char(decomposed[i], folded + n2, FOLD_MAX - n2, UTF8PROC_CASEFOLD);
    size_t n = 0;
    for (size_t i = 0; i < n2; i++) {
        size_t n3 = map_char(folded[i], again, FOLD_MAX, nfkd);
        for (size_t j = 0; j < n3 && n < FOLD_MAX; j++)
            out[n++] = again[j];
    }
    return n;
}

/* How many U+0345 end the NFKD of c: their folds (ι) end c's fold. */
static size_t trailing_ypogegrammeni(int32_t c)
{
    if (c != 0x345 && c != 0x37A && (c < 0x1F80 || c > 0x1FFC))
        return 0;
    int32_t d[FOLD_MAX];
    size_t n = map_char(c, d, FOLD_MAX, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT), k = 0;
    while (k < n && d[n - 1 - k] == 0x345)
        k++;
    return k;
}

/* Whether every code point of the NFKD of c is a non-starter (combining
 * class > 0), which NFKD's ordering would move a U+0345 behind. */
static int all_nonstarters(int32_t c)
{
    if (c < 0x300)
        return 0;
    int32_t d[FOLD_MAX];
    size_t n = map_char(c, d, FOLD_MAX, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
    for (size_t i = 0; i < n; i++)
        if (utf8proc_get_property(d[i])->combining_class == 0)
            return 0;
    return n > 0;
}

/* Sets *f and *n to the fold of c (c >= 0x80), computing it on first use. */
static int fold_lookup(kz_analyzer *a, int32_t c, const uint32_t **f, size_t *n)
{
    uint32_t **page = &a->fold_page[(uint32_t)c >> 8];
    if (!*page) {
        *page = calloc(256, sizeof **page);
        if (!*page)
            return kz_error_set(KZ_ENOMEM, "out of memory for the fold table");
        a->n_fold_pages++;
    }
    uint32_t idx = (*page)[c & 0xFF];
    if (!idx) {
        int32_t tmp[FOLD_MAX];
        size_t k = fold_char(c, tmp);
        if (a->pool_len + k + 1 > a->pool_cap) {
            size_t cap = a->pool_cap ? a->pool_cap * 2 : 4096;
            uint32_t *p = realloc(a->pool, cap * sizeof *p);
            if (!p)
                return kz_error_set(KZ_ENOMEM, "out of memory for the fold table");
            a->pool = p;
            a->pool_cap = cap;
        }
        idx = (uint32_t)a->pool_len;
        a->pool[idx] = (uint32_t)k;
        for (size_t j = 0; j < k; j++)
            a->pool[idx + 1 + j] = (uint32_t)tmp[j] | fold_class(tmp[j]) << 24;
        a->pool_len += k + 1;
        (*page)[c & 0xFF] = idx;
    }
    *n = a->pool[idx];
    *f = a->pool + idx + 1;
    return KZ_OK;
}

/* ------------------------------------------------------------ compose */

/* Canonical composition of Hangul jamo in place; returns the new length. */
static size_t compose_hangul(uint32_t *c, size_t n)
{
    size_t w = 0;
    for (size_t r = 0; r < n; r++) {
        uint32_t x = c[r];
        if (w > 0) {
            uint32_t last = c[w - 1];
            if (last - H_LBASE < H_LCOUNT && x - H_VBASE < H_VCOUNT) {
                c[w - 1] = H_SBASE + ((last - H_LBASE) * H_VCOUNT + (x - H_VBASE)) * H_TCOUNT;
                continue;
            }
            /* T must be strictly above H_TBASE: U+11A7 is a vowel. */
            if (last - H_SBASE < H_SCOUNT && (last - H_SBASE) % H_TCOUNT == 0 &&
                x - H_TBASE - 1 < H_TCOUNT - 1) {
                c[w - 1] = last + (x - H_TBASE);
                continue;
            }
        }
        c[w++] = x;
    }
    return w;
}

static size_t encode_utf8(uint32_t c, uint8_t *p)
{
    if (c < 0x80) {
        p[0] = (uint8_t)c;
        return 1;
    }
    if (c < 0x800) {
        p[0] = (uint8_t)(0xC0 | c >> 6);
        p[1] = (uint8_t)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        p[0] = (uint8_t)(0xE0 | c >> 12);
        p[1] = (uint8_t)(0x80 | (c >> 6 & 0x3F));
        p[2] = (uint8_t)(0x80 | (c & 0x3F));
        return 3;
    }
    p[0] = (uint8_t)(0xF0 | c >> 18);
    p[1] = (uint8_t)(0x80 | (c >> 12 & 0x3F));
    p[2] = (uint8_t)(0x80 | (c >> 6 & 0x3F));
    p[3] = (uint8_t)(0x80 | (c & 0x3F));
    return 4;
}

static size_t encode_all(const uint32_t *c, size_t n, uint8_t *out)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        w += encode_utf8(c[i], out + w);
    return w;
}

/* ------------------------------------------------------------ scripts */

typedef enum script {
    SCRIPT_NONE,     /* no Latin or Cyrillic letter: digits, Greek, Han, ... */
    SCRIPT_LATIN,
    SCRIPT_RUSSIAN,  /* Cyrillic letters, all of the Russian alphabet */
    SCRIPT_CYRILLIC, /* Cyrillic letters, some outside it (Kazakh, Ukrainian) */
    SCRIPT_MIXED,    /* Latin and Cyrillic letters that do not look alike */
    SCRIPT_HANGUL,   /* never stemmed; see the head of this file */
} script;

/* Code points are folded (lower case, no marks). */
static int is_latin(uint32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 0xC0 && c <= 0x2AF) || (c >= 0x1E00 && c <= 0x1EFF) ||
           (c >= 0x2C60 && c <= 0x2C7F) || (c >= 0xA720 && c <= 0xA7FF) || (c >= 0xAB30 && c <= 0xAB6F);
}

static int is_cyrillic(uint32_t c)
{
    return (c >= 0x400 && c <= 0x52F) || (c >= 0x1C80 && c <= 0x1C8F) || (c >= 0xA640 && c <= 0xA69F);
}

static int is_hangul(uint32_t c)
{
    return (c >= 0x1100 && c <= 0x11FF) || (c >= 0x3130 && c <= 0x318F) || (c >= 0xA960 && c <= 0xA97F) ||
           (c >= 0xAC00 && c <= 0xD7FF);
}

/* Latin and Cyrillic letters that look alike, in lower case: a spam trick
 * writes "Kазахстан" with a Latin K. */
static const uint32_t look_alike[][2] = {
    { 'a', 0x430 }, { 'b', 0x432 }, { 'c', 0x441 }, { 'e', 0x435 }, { 'h', 0x43D }, { 'i', 0x456 },
    { 'k', 0x43A }, { 'm', 0x43C }, { 'o', 0x43E }, { 'p', 0x440 }, { 't', 0x442 }, { 'x', 0x445 },
    { 'y', 0x443 },
};

/* c's look-alike in the other script (to = 1: Cyrillic, 0: Latin), or c. */
static uint32_t look_alike_of(uint32_t c, int to)
{
    for (size_t i = 0; i < sizeof look_alike / sizeof look_alike[0]; i++)
        if (look_alike[i][!to] == c)
            return look_alike[i][to];
    return c;
}

/* The script of the token whose code points without marks are bare[0..n)
 * (and with marks cps[0..ncps)). A token of Latin and Cyrillic letters
 * first has the look-alikes of its minority script (Latin on a tie)
 * replaced, in both arrays. A token with Hangul is SCRIPT_HANGUL whatever
 * else it holds. */
static script token_script(uint32_t *bare, size_t n, uint32_t *cps, size_t ncps)
{
    size_t latin = 0, cyrillic = 0, hangul = 0;
    for (size_t i = 0; i < n; i++) {
        hangul += is_hangul(bare[i]);
        latin += is_latin(bare[i]);
        cyrillic += is_cyrillic(bare[i]);
    }
    if (latin && cyrillic) {
        int to_cyrillic = cyrillic >= latin;
        latin = cyrillic = 0;
        for (size_t i = 0; i < n; i++) {
            if (is_latin(bare[i]) == to_cyrillic)
                bare[i] = look_alike_of(bare[i], to_cyrillic);
            latin += is_latin(bare[i]);
            cyrillic += is_cyrillic(bare[i]);
        }
        for (size_t i = 0; i < ncps; i++)
            if (is_latin(cps[i]) == to_cyrillic)
                cps[i] = look_alike_of(cps[i], to_cyrillic);
        if (latin && cyrillic)
            return hangul ? SCRIPT_HANGUL : SCRIPT_MIXED;
    }
    if (hangul)
        return SCRIPT_HANGUL;
    if (cyrillic) {
        for (size_t i = 0; i < n; i++)
            if (is_cyrillic(bare[i]) && !(bare[i] >= 0x430 && bare[i] <= 0x44F))
                return SCRIPT_CYRILLIC;
        return SCRIPT_RUSSIAN;
    }
    return latin ? SCRIPT_LATIN : SCRIPT_NONE;
}

/* The stemmer for a token of script sc, or NULL for none. */
static struct sb_stemmer *stemmer_for(const kz_analyzer *a, script sc)
{
    if (a->fold_only || sc == SCRIPT_HANGUL)
        return NULL;
    if (a->the_stemmer)
        return a->the_stemmer;
    if (sc == SCRIPT_LATIN)
        return a->latin_stemmer;
    if (sc == SCRIPT_RUSSIAN && !a->no_russian)
        return a->russian_stemmer;
    return NULL;
}

/* ------------------------------------------------------------- intern */

static int arena_alloc(kz_analyzer *a, size_t n, uint8_t **out)
{
    if (a->n_blocks == 0 || a->block_size - a->block_used < n) {
        size_t size = a->block_size ? KZ_MIN(a->block_size * 2, MAX_BLOCK) : FIRST_BLOCK;
        size = KZ_MAX(size, n);
        if (a->n_blocks == a->blocks_cap) {
            size_t cap = a->blocks_cap ? a->blocks_cap * 2 : 16;
            uint8_t **p = realloc(a->blocks, cap * sizeof *p);
            if (!p)
                return kz_error_set(KZ_ENOMEM, "out of memory interning terms");
            a->blocks = p;
            a->blocks_cap = cap;
        }
        uint8_t *block = malloc(size);
        if (!block)
            return kz_error_set(KZ_ENOMEM, "out of memory interning terms");
        a->blocks[a->n_blocks++] = block;
        a->block_size = size;
        a->block_used = 0;
        a->block_bytes += size;
    }
    *out = a->blocks[a->n_blocks - 1] + a->block_used;
    a->block_used += n;
    return KZ_OK;
}

static uint32_t term_len(const uint8_t *t) { return kz_load_u32(t - 4); }

static int intern_grow(kz_analyzer *a)
{
    size_t cap = a->intern_cap ? a->intern_cap * 2 : INITIAL_SLOTS;
    intern_slot *t = calloc(cap, sizeof *t);
    if (!t)
        return kz_error_set(KZ_ENOMEM, "out of memory growing the term table");
    for (size_t i = 0; i < a->intern_cap; i++) {
        intern_slot e = a->intern[i];
        if (!e.idp1)
            continue;
        size_t j = e.hash & (cap - 1);
        while (t[j].idp1)
            j = (j + 1) & (cap - 1);
        t[j] = e;
    }
    free(a->intern);
    a->intern = t;
    a->intern_cap = cap;
    return KZ_OK;
}

/* Sets *term to the id of stem s, adding it if new. s may point into the
 * stemmer's buffer: nothing here calls the stemmer. */
static int intern(kz_analyzer *a, const uint8_t *s, size_t len, uint32_t *term)
{
    int rc;
    if (((size_t)a->term_count + 1) * 10 > a->intern_cap * 7 && (rc = intern_grow(a)) != KZ_OK)
        return rc;
    uint32_t h = (uint32_t)XXH3_64bits(s, len);
    size_t mask = a->intern_cap - 1, i = h & mask;
    for (; a->intern[i].idp1; i = (i + 1) & mask) {
        if (a->intern[i].hash != h)
            continue;
        const uint8_t *t = a->terms[a->intern[i].idp1 - 1];
        if (term_len(t) == len && memcmp(t, s, len) == 0) {
            *term = a->intern[i].idp1 - 1;
            return KZ_OK;
        }
    }
    if (a->term_count >= UINT32_MAX - 1 || len > UINT32_MAX)
        return kz_error_set(KZ_ENOMEM, "too many distinct terms for one analyzer");
    if (a->term_count == a->terms_cap) {
        size_t cap = a->terms_cap ? a->terms_cap * 2 : INITIAL_SLOTS;
        const uint8_t **p = realloc(a->terms, cap * sizeof *p);
        if (!p)
            return kz_error_set(KZ_ENOMEM, "out of memory interning terms");
        a->terms = p;
        a->terms_cap = cap;
    }
    uint8_t *p = NULL;
    if ((rc = arena_alloc(a, 4 + len + 1, &p)) != KZ_OK)
        return rc;
    kz_store_u32(p, (uint32_t)len);
    memcpy(p + 4, s, len);
    p[4 + len] = 0;
    uint32_t id = a->term_count++;
    a->terms[id] = p + 4;
    a->intern[i].hash = h;
    a->intern[i].idp1 = id + 1;
    *term = id;
    return KZ_OK;
}

/* ------------------------------------------------------------- cache */

static void cache_clear(kz_analyzer *a)
{
    if (a->cache)
        memset(a->cache, 0, a->cache_cap * sizeof *a->cache);
    a->cache_count = 0;
    a->cache_keys.len = 0;
}

static int cache_grow(kz_analyzer *a)
{
    size_t cap = a->cache_cap ? a->cache_cap * 2 : INITIAL_SLOTS;
    cache_slot *t = calloc(cap, sizeof *t);
    if (!t)
        return kz_error_set(KZ_ENOMEM, "out of memory growing the token cache");
    for (size_t i = 0; i < a->cache_cap; i++) {
        cache_slot e = a->cache[i];
        if (!e.len)
            continue;
        size_t j = e.hash & (cap - 1);
        while (t[j].len)
            j = (j + 1) & (cap - 1);
        t[j] = e;
    }
    free(a->cache);
    a->cache = t;
    a->cache_cap = cap;
    return KZ_OK;
}

static int cache_insert(kz_analyzer *a, uint32_t h, const uint8_t *key, size_t len, uint32_t term)
{
    int rc;
    /* Offsets are 32-bit; the cache is only a cache, so start it afresh. */
    if (a->cache_keys.len + len > UINT32_MAX)
        cache_clear(a);
    if ((a->cache_count + 1) * 10 > a->cache_cap * 7 && (rc = cache_grow(a)) != KZ_OK)
        return rc;
    cache_slot e = { h, term, (uint16_t)(len | (a->no_russian ? NO_RUSSIAN_TAG : 0)), { 0 } };
    if (len <= INLINE_KEY) {
        memcpy(e.key, key, len);
    } else {
        kz_store_u32(e.key, (uint32_t)a->cache_keys.len);
        if ((rc = kz_buf_append(&a->cache_keys, key, len)) != KZ_OK)
            return rc;
    }
    size_t mask = a->cache_cap - 1, i = h & mask;
    while (a->cache[i].len)
        i = (i + 1) & mask;
    a->cache[i] = e;
    a->cache_count++;
    return KZ_OK;
}

/* Stems word[0..len) with st into *out (*out_len bytes, valid until the
 * stemmer's next call). Russian is stemmed again until it holds: Snowball
 * takes -ев from Токаев but -а from Токаева, and the second pass takes
 * -ев from what is left. Each pass shortens the word or only replaces ё,
 * so the loop ends; MAX_PASSES is a guard. */
#define MAX_PASSES 16
static int stem_word(kz_analyzer *a, struct sb_stemmer *st, const uint8_t *word, size_t len,
                     const uint8_t **out, size_t *out_len)
{
    int rc;
    const sb_symbol *stem = sb_stemmer_stem(st, word, (int)len);
    if (!stem)
        return kz_error_set(KZ_ENOMEM, "out of memory stemming a token");
    size_t n = (size_t)sb_stemmer_length(st);
    for (int pass = 1; st == a->russian_stemmer && pass < MAX_PASSES; pass++) {
        if (n == len && memcmp(stem, word, len) == 0)
            break;
        a->scratch.len = 0;
        if ((rc = kz_buf_append(&a->scratch, stem, n)) != KZ_OK)
            return rc;
        word = a->scratch.data;
        len = n;
        if (!(stem = sb_stemmer_stem(st, word, (int)len)))
            return kz_error_set(KZ_ENOMEM, "out of memory stemming a token");
        n = (size_t)sb_stemmer_length(st);
    }
    *out = stem;
    *out_len = n;
    return KZ_OK;
}

/* Interns the fold of the stem s[0..len) (NFKD, marks removed; it holds no
 * Hangul) as *term. */
static int intern_folded(kz_analyzer *a, const uint8_t *s, size_t len, uint32_t *term)
{
    int rc;
    kz_buf *b = &a->scratch;
    b->len = 0;
    for (size_t i = 0; i < len;) {
        int32_t c, d[FOLD_MAX];
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0) { /* cannot happen: Snowball keeps UTF-8 valid */
            i++;
            continue;
        }
        i += (size_t)k;
        size_t nd = map_char(c, d, FOLD_MAX, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
        for (size_t j = 0; j < nd; j++) {
            if (is_mark(d[j]))
                continue;
            uint8_t u[4];
            if ((rc = kz_buf_append(b, u, encode_utf8((uint32_t)d[j], u))) != KZ_OK)
                return rc;
        }
    }
    return intern(a, b->data, b->len, term);
}

/* Stems a token that missed the cache: its folded bytes are tok[0..len).
 * *term is NO_TERM when the token is too long to keep. */
static int stem_token(kz_analyzer *a, size_t len, int nonascii, uint32_t *term)
{
    int rc = KZ_OK;
    const uint8_t *stem;
    size_t stem_len;
    *term = NO_TERM;
    if (!nonascii) {
        if (len > KZ_MAX_TOKEN_CODEPOINTS)
            return KZ_OK;
        struct sb_stemmer *st = stemmer_for(a, SCRIPT_LATIN);
        if (!st)
            return intern(a, a->tok, len, term);
        if ((rc = stem_word(a, st, a->tok, len, &stem, &stem_len)) != KZ_OK)
            return rc;
        return intern(a, stem, stem_len, term);
    }

    size_t n = 0, n_bare = 0, marks = 0;
    for (size_t i = 0; i < len && n < TOK_MAX_CP;) {
        int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(a->tok + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0) /* cannot happen: tok holds what encode_utf8 wrote */
            break;
        i += (size_t)k;
        a->cps[n++] = (uint32_t)c;
        if (is_mark(c))
            marks++;
        else
            a->bare[n_bare++] = (uint32_t)c;
    }
    n_bare = compose_hangul(a->bare, n_bare);
    if (n_bare > KZ_MAX_TOKEN_CODEPOINTS)
        return KZ_OK;
    struct sb_stemmer *st = stemmer_for(a, token_script(a->bare, n_bare, a->cps, n));
    if (!st)
        return intern(a, a->composed, encode_all(a->bare, n_bare, a->composed), term);
    if (!marks) { /* without marks or Hangul, NFC changes nothing */
        size_t w = encode_all(a->cps, n, a->composed);
        if ((rc = stem_word(a, st, a->composed, w, &stem, &stem_len)) != KZ_OK)
            return rc;
        return intern_folded(a, stem, stem_len, term);
    }
    uint8_t *nfc = NULL;
    a->scratch.len = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t u[4];
        if ((rc = kz_buf_append(&a->scratch, u, encode_utf8(a->cps[i], u))) != KZ_OK)
            return rc;
    }
    utf8proc_ssize_t nfc_len = utf8proc_map(a->scratch.data, (utf8proc_ssize_t)a->scratch.len, &nfc,
                                            UTF8PROC_COMPOSE | UTF8PROC_STABLE);
    if (nfc_len < 0) {
        rc = nfc_len == UTF8PROC_ERROR_NOMEM ? kz_error_set(KZ_ENOMEM, "out of memory composing a token")
                                             : kz_error_set(KZ_EINVAL, "cannot compose a token: %s",
                                                            utf8proc_errmsg(nfc_len));
        goto done;
    }
    if ((rc = stem_word(a, st, nfc, (size_t)nfc_len, &stem, &stem_len)) != KZ_OK)
        goto done;
    rc = intern_folded(a, stem, stem_len, term);
done:
    free(nfc);
    return rc;
}

/* Sets *term to the stem id of the folded token key[0..len), whose hash
 * is h, or NO_TERM. A key of up to INLINE_KEY bytes is zero-padded to
 * INLINE_KEY, so that it compares with a slot's in fixed size; a longer
 * one is tok. A miss is stemmed from tok. */
static int token_term(kz_analyzer *a, const uint8_t *key, size_t len, int nonascii, uint32_t h, uint32_t *term)
{
    if (a->cache_cap) {
        size_t mask = a->cache_cap - 1;
        size_t tagged = len | (a->no_russian ? NO_RUSSIAN_TAG : 0);
        if (len <= INLINE_KEY) {
            for (size_t i = h & mask; a->cache[i].len; i = (i + 1) & mask) {
                const cache_slot *e = &a->cache[i];
                if (e->hash == h && e->len == tagged && memcmp(e->key, key, INLINE_KEY) == 0) {
                    *term = e->term;
                    return KZ_OK;
                }
            }
        } else {
            for (size_t i = h & mask; a->cache[i].len; i = (i + 1) & mask) {
                const cache_slot *e = &a->cache[i];
                if (e->hash == h && e->len == tagged &&
                    memcmp(a->cache_keys.data + kz_load_u32(e->key), key, len) == 0) {
                    *term = e->term;
                    return KZ_OK;
                }
            }
        }
    }
    if (key != a->tok)
        memcpy(a->tok, key, len);
    int rc = stem_token(a, len, nonascii, term);
    if (rc != KZ_OK || *term == NO_TERM)
        return rc;
    return cache_insert(a, h, key, len, *term);
}

/* ------------------------------------------------------------- scanning */

static int tokvec_push(kz_tokvec *tv, uint32_t term, uint32_t start, uint32_t end)
{
    if (KZ_UNLIKELY(tv->len == tv->cap)) {
        size_t cap = tv->cap ? tv->cap * 2 : 256;
        if (cap > SIZE_MAX / sizeof *tv->v)
            return kz_error_set(KZ_ENOMEM, "too many tokens");
        kz_token *v = realloc(tv->v, cap * sizeof *v);
        if (!v)
            return kz_error_set(KZ_ENOMEM, "out of memory for %zu tokens", cap);
        tv->v = v;
        tv->cap = cap;
    }
    tv->v[tv->len++] = (kz_token){ term, start, end };
    return KZ_OK;
}

/* Looks the pending tokens up and fills in their terms. Uses tok for
 * those that miss the cache. */
static int resolve_pending(kz_analyzer *a, kz_tokvec *out)
{
    int rc = KZ_OK;
    for (size_t i = 0; i < a->n_pending && rc == KZ_OK; i++) {
        const pending_token *p = &a->pending[i];
        rc = token_term(a, p->key, p->len, p->nonascii, p->hash, &out->v[p->at].term);
    }
    a->n_pending = 0;
    return rc;
}

static int finish_token(kz_analyzer *a, scan *s, kz_tokvec *out)
{
    s->active = 0;
    s->apos = 0;
    if (s->overlong)
        return KZ_OK;
    size_t len = s->len;
    if (a->stem_at) {
        /* kz_analyzer_run_some: a token not asked for keeps its place
         * unstemmed. (A longer one is stemmed, as it may be dropped.) */
        size_t at = out->len - a->run_base;
        while (a->stem_next < a->n_stem_at && a->stem_at[a->stem_next] < at)
            a->stem_next++;
        int asked = a->stem_next < a->n_stem_at && a->stem_at[a->stem_next] == at;
        if (len <= INLINE_KEY) { /* kept: it takes place at */
            if (!asked)
                return tokvec_push(out, KZ_TERM_UNSTEMMED, s->start, s->end);
            a->stem_next++;
        }
    }
    uint32_t h = (uint32_t)XXH3_64bits(a->tok, len);
    int rc;
    if (len > INLINE_KEY) {
        /* Rare, and it may be dropped: looked up at once. */
        uint32_t term = NO_TERM;
        if ((rc = token_term(a, a->tok, len, s->nonascii, h, &term)) != KZ_OK || term == NO_TERM)
            return rc;
        return tokvec_push(out, term, s->start, s->end);
    }
    if ((rc = tokvec_push(out, NO_TERM, s->start, s->end)) != KZ_OK)
        return rc;
    pending_token *p = &a->pending[a->n_pending++];
    p->at = out->len - 1;
    p->hash = h;
    p->len = (uint16_t)len;
    p->nonascii = (uint8_t)s->nonascii;
    memset(p->key, 0, INLINE_KEY);
    memcpy(p->key, a->tok, len);
    if (a->cache_cap)
        __builtin_prefetch(&a->cache[h & (a->cache_cap - 1)]);
    return a->n_pending == PENDING ? resolve_pending(a, out) : KZ_OK;
}

/* A word code point begins at input offset start: opens a token or, after
 * an apostrophe, joins it to the current one. */
static inline void word_begin(kz_analyzer *a, scan *s, uint32_t start)
{
    if (!s->active) {
        s->active = 1;
        s->apos = 0;
        s->overlong = 0;
        s->nonascii = 0;
        s->start = start;
        s->len = 0;
        s->ncp = 0;
        s->nmarks = 0;
    } else if (s->apos) {
        s->apos = 0;
        if (s->ncp < PRE_MAX_CP) {
            a->tok[s->len++] = '\'';
            s->ncp++;
        } else {
            s->overlong = 1;
        }
    }
}

/* Feeds one folded code point (with class) that came from the input
 * character [start, end). */
static int feed(kz_analyzer *a, scan *s, uint32_t e, uint32_t start, uint32_t end,
                kz_tokvec *out)
{
    switch (FOLD_CLS(e)) {
    case CLS_WORD:
        word_begin(a, s, start);
        if (s->ncp < PRE_MAX_CP) {
            uint32_t c = FOLD_CP(e);
            s->len += encode_utf8(c, a->tok + s->len);
            s->ncp++;
            s->nonascii |= c >= 0x80;
        } else {
            s->overlong = 1;
        }
        s->end = end;
        return KZ_OK;
    case CLS_MARK:
        /* A mark belongs to the token before it; elsewhere (at the start,
         * after an apostrophe) it is dropped, as the term drops it. */
        if (s->active && !s->apos) {
            if (s->nmarks < MAX_MARKS) {
                s->len += encode_utf8(FOLD_CP(e), a->tok + s->len);
                s->nmarks++;
                s->nonascii = 1;
            }
            s->end = end;
        }
        return KZ_OK;
    case CLS_APOS:
        if (!s->active)
            return KZ_OK;
        if (!s->apos) {
            s->apos = 1;
            return KZ_OK;
        }
        return finish_token(a, s, out); /* two apostrophes: no join */
    default:
        return s->active ? finish_token(a, s, out) : KZ_OK;
    }
}

/* Besides what kzint.h says: invalid UTF-8 is read safely, each invalid
 * byte being a non-token character; len > UINT32_MAX gives KZ_EINVAL; after
 * KZ_ENOMEM, out may hold the tokens found before the failure. */
static int analyse(kz_analyzer *a, const char *text, size_t len, kz_tokvec *out);

int kz_analyzer_run(kz_analyzer *a, const char *text, size_t len, kz_tokvec *out)
{
    a->stem_at = NULL;
    return analyse(a, text, len, out);
}

int kz_analyzer_run_some(kz_analyzer *a, const char *text, size_t len, const uint32_t *stem_at, size_t n_stem_at,
                         kz_tokvec *out)
{
    static const uint32_t none[1] = { 0 };
    a->stem_at = stem_at ? stem_at : none;
    a->n_stem_at = stem_at ? n_stem_at : 0;
    a->stem_next = 0;
    a->run_base = out->len;
    int rc = analyse(a, text, len, out);
    a->stem_at = NULL;
    return rc;
}

static int analyse(kz_analyzer *a, const char *text, size_t len, kz_tokvec *out)
{
    if (len > UINT32_MAX)
        return kz_error_set(KZ_EINVAL, "text of %zu bytes is too long to analyze", len);
    const uint8_t *s = (const uint8_t *)text;
    scan st = { 0 };
    size_t i = 0;
    int rc = KZ_OK;
    /* The ι of U+0345s held back while non-starters follow them (see the
     * head of this file): how many, and where the first came from. */
    size_t iotas = 0;
    uint32_t iota_start = 0;
    const uint32_t iota = 0x3B9 | (uint32_t)CLS_WORD << 24;
    while (i < len) {
        /* kz_analyzer_run_some: past the last token asked for, the rest
         * is not wanted. */
        if (KZ_UNLIKELY(a->stem_at && a->stem_next == a->n_stem_at && !st.active && !iotas))
            break;
        uint8_t b = s[i];
        if (KZ_UNLIKELY(iotas)) {
            int32_t c = -1;
            if (b >= 0x80 && utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c) <= 0)
                c = -1;
            if (c < 0 || !all_nonstarters(c)) {
                for (; iotas && rc == KZ_OK; iotas--)
                    rc = feed(a, &st, iota, iota_start, (uint32_t)i, out);
                if (rc != KZ_OK)
                    goto done;
            }
        }
        if (KZ_LIKELY(b < 0x80)) {
            if (ascii_fold[b]) {
                /* A run of ASCII letters and digits: fold it in one loop. */
                word_begin(a, &st, (uint32_t)i);
                uint8_t *tok = a->tok;
                size_t tl = st.len;
                unsigned ncp = st.ncp;
                do {
                    if (KZ_LIKELY(ncp < PRE_MAX_CP)) {
                        tok[tl++] = ascii_fold[s[i]];
                        ncp++;
                    } else {
                        st.overlong = 1;
                    }
                } while (++i < len && ascii_fold[s[i]]);
                st.len = tl;
                st.ncp = ncp;
                st.end = (uint32_t)i;
                continue;
            }
            if (b == '\'')
                rc = feed(a, &st, (uint32_t)CLS_APOS << 24 | b, (uint32_t)i, (uint32_t)i + 1, out);
            else if (st.active)
                rc = finish_token(a, &st, out);
            if (rc != KZ_OK)
                goto done;
            i++;
            continue;
        }

        int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);
        if (n <= 0) {
            /* Invalid UTF-8 (callers should have sanitized it): one byte of
             * a non-token character. */
            if (st.active && (rc = finish_token(a, &st, out)) != KZ_OK)
                goto done;
            i++;
            continue;
        }
        const uint32_t *f = NULL;
        size_t nf = 0;
        if ((rc = fold_lookup(a, c, &f, &nf)) != KZ_OK)
            goto done;
        uint32_t start = (uint32_t)i, end = (uint32_t)(i + (size_t)n);
        size_t held = trailing_ypogegrammeni(c);
        for (size_t k = 0; k < nf - held; k++)
            if ((rc = feed(a, &st, f[k], start, end, out)) != KZ_OK)
                goto done;
        if (held && !iotas)
            iota_start = start;
        iotas += held;
        i = end;
    }
    for (; iotas && rc == KZ_OK; iotas--)
        rc = feed(a, &st, iota, iota_start, (uint32_t)len, out);
    if (rc == KZ_OK && st.active)
        rc = finish_token(a, &st, out);
done:
    if (rc == KZ_OK)
        return resolve_pending(a, out);
    if (a->n_pending) /* drop the tokens without a term */
        out->len = a->pending[0].at;
    a->n_pending = 0;
    return rc;
}

/* ------------------------------------------------------------- lifecycle */

static int unknown_language(const char *language)
{
    kz_buf list = { 0 };
    int rc = kz_buf_printf(&list, "auto");
    for (const char **l = sb_stemmer_list(); *l && rc == KZ_OK; l++)
        rc = kz_buf_printf(&list, ", %s", *l);
    rc = kz_error_set(KZ_EINVAL, "unknown language \"%s\"; available: %s", language,
                      rc == KZ_OK ? (const char *)list.data : "(out of memory listing them)");
    kz_buf_free(&list);
    return rc;
}

int kz_analyzer_language_known(const char *language)
{
    if (strcmp(language, "auto") == 0)
        return 1;
    struct sb_stemmer *s = sb_stemmer_new(language, "UTF_8");
    sb_stemmer_delete(s);
    return s != NULL;
}

/* language NULL means "auto", as in kz_build_options. Snowball's aliases
 * ("en", "ru") are accepted; names are case-sensitive. */
int kz_analyzer_new(kz_analyzer **out, const char *language)
{
    int rc = KZ_OK;
    *out = NULL;
    if (!language)
        language = "auto";
    kz_analyzer *a = calloc(1, sizeof *a);
    if (!a)
        return kz_error_set(KZ_ENOMEM, "out of memory creating an analyzer");
    if (strcmp(language, "auto") == 0) {
        a->latin_stemmer = sb_stemmer_new("english", "UTF_8");
        a->russian_stemmer = sb_stemmer_new("russian", "UTF_8");
        if (!a->latin_stemmer || !a->russian_stemmer) {
            rc = kz_error_set(KZ_ENOMEM, "cannot create the English and Russian stemmers");
            goto done;
        }
    } else {
        a->the_stemmer = sb_stemmer_new(language, "UTF_8");
        if (!a->the_stemmer) {
            rc = unknown_language(language);
            goto done;
        }
        /* Snowball's names and aliases of Russian. */
        if (strcmp(language, "russian") == 0 || strcmp(language, "ru") == 0 || strcmp(language, "rus") == 0)
            a->russian_stemmer = a->the_stemmer;
    }
    a->pool_len = 1; /* index 0 means "not computed" */
    *out = a;
    a = NULL;
done:
    kz_analyzer_free(a);
    return rc;
}

/* Frees the cache and the interned stems (not the fold table, which does
 * not depend on the input and is bounded by the size of Unicode). */
static void free_terms(kz_analyzer *a)
{
    free(a->cache);
    a->cache = NULL;
    a->cache_cap = a->cache_count = 0;
    kz_buf_free(&a->cache_keys);
    free(a->intern);
    a->intern = NULL;
    a->intern_cap = 0;
    free(a->terms);
    a->terms = NULL;
    a->terms_cap = 0;
    a->term_count = 0;
    for (size_t i = 0; i < a->n_blocks; i++)
        free(a->blocks[i]);
    free(a->blocks);
    a->blocks = NULL;
    a->n_blocks = a->blocks_cap = 0;
    a->block_size = a->block_used = a->block_bytes = 0;
}

void kz_analyzer_set_russian(kz_analyzer *a, int stem) { a->no_russian = !stem; }

int kz_language_is_other_cyrillic(const char *lang, size_t len)
{
    /* ISO 639-1 and -2 codes and English names of the languages written in
     * Cyrillic besides Russian; a tag's first part ("kk-KZ"). */
    static const char *const codes[] = {
        "kk", "kaz", "kazakh", "uk", "ukr", "ukrainian", "be", "bel", "belarusian", "ky", "kir", "kyrgyz",
        "tg", "tgk", "tajik", "mn", "mon", "mongolian", "bg", "bul", "bulgarian", "sr", "srp", "serbian",
        "mk", "mkd", "macedonian", "tt", "tat", "tatar", "ba", "bak", "bashkir", "cv", "chv", "chuvash",
        "os", "oss", "ossetian", "ce", "che", "chechen", "sah", "yakut",
    };
    size_t n = 0;
    while (n < len && lang[n] != '-' && lang[n] != '_')
        n++;
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        if (strlen(codes[i]) == n && strncasecmp(codes[i], lang, n) == 0)
            return 1;
    return 0;
}

/* Counts the Cyrillic words of s[0..n) (runs of U+0400-U+052F, combining
 * marks inside them too) and those with a letter outside the Russian
 * alphabet (А-я, Ё, ё). */
static void count_cyrillic_words(const uint8_t *s, size_t n, size_t *words, size_t *other)
{
    int in_word = 0, word_other = 0;
    for (size_t i = 0; i < n;) {
        /* Eight ASCII bytes at a time: no Cyrillic there, and a word ends. */
        uint64_t eight;
        if (i + 8 <= n && (memcpy(&eight, s + i, 8), !(eight & 0x8080808080808080ull))) {
            in_word = 0;
            i += 8;
            continue;
        }
        uint32_t cp = 0;
        size_t w = 1;
        if (s[i] >= 0xC2 && s[i] < 0xE0 && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
            cp = (uint32_t)(s[i] & 0x1F) << 6 | (s[i + 1] & 0x3F);
            w = 2;
        }
        if (cp >= 0x400 && cp <= 0x52F) {
            if (!in_word) {
                in_word = 1;
                word_other = 0;
                (*words)++;
            }
            int russian = (cp >= 0x410 && cp <= 0x44F) || cp == 0x401 || cp == 0x451;
            if (!russian && !word_other) {
                word_other = 1;
                (*other)++;
            }
        } else if (!(in_word && cp >= 0x300 && cp <= 0x36F)) {
            in_word = 0;
        }
        i += w;
    }
}

int kz_text_other_cyrillic(const char *title, size_t title_len, const char *text, size_t text_len)
{
    size_t words = 0, other = 0;
    count_cyrillic_words((const uint8_t *)title, KZ_MIN(title_len, (size_t)KZ_DETECT_BYTES), &words, &other);
    count_cyrillic_words((const uint8_t *)text, KZ_MIN(text_len, (size_t)KZ_DETECT_BYTES), &words, &other);
    return other > 0 && other * 10 >= words;
}

int kz_doc_other_cyrillic(const kz_doc_field *meta, size_t n_meta, const char *title, size_t title_len,
                          const char *text, size_t text_len)
{
    for (size_t i = n_meta; i-- > 0;)
        if (meta[i].key_len == 4 && memcmp(meta[i].key, "lang", 4) == 0)
            return kz_language_is_other_cyrillic(meta[i].value, meta[i].value_len);
    return kz_text_other_cyrillic(title, title_len, text, text_len);
}

void kz_analyzer_fold_only(kz_analyzer *a)
{
    kz_analyzer_reset(a);
    a->fold_only = 1;
}

void kz_analyzer_free(kz_analyzer *a)
{
    if (!a)
        return;
    free_terms(a);
    for (size_t i = 0; a->n_fold_pages && i < sizeof a->fold_page / sizeof a->fold_page[0]; i++)
        if (a->fold_page[i]) {
            free(a->fold_page[i]);
            a->n_fold_pages--;
        }
    free(a->pool);
    kz_buf_free(&a->scratch);
    if (a->russian_stemmer != a->the_stemmer)
        sb_stemmer_delete(a->russian_stemmer);
    sb_stemmer_delete(a->the_stemmer);
    sb_stemmer_delete(a->latin_stemmer);
    free(a);
}

void kz_analyzer_reset(kz_analyzer *a) { free_terms(a); }

const char *kz_analyzer_term(const kz_analyzer *a, uint32_t term, size_t *len)
{
    if (term >= a->term_count) {
        *len = 0;
        return NULL;
    }
    const uint8_t *t = a->terms[term];
    *len = term_len(t);
    return (const char *)t;
}

uint32_t kz_analyzer_term_count(const kz_analyzer *a) { return a->term_count; }

size_t kz_analyzer_memory(const kz_analyzer *a)
{
    return sizeof *a + a->cache_cap * sizeof *a->cache + a->cache_keys.cap +
           a->intern_cap * sizeof *a->intern + a->terms_cap * sizeof *a->terms +
           a->blocks_cap * sizeof *a->blocks + a->block_bytes +
           a->n_fold_pages * 256 * sizeof(uint32_t) + a->pool_cap * sizeof *a->pool;
}

void kz_tokvec_free(kz_tokvec *tv)
{
    free(tv->v);
    tv->v = NULL;
    tv->len = tv->cap = 0;
}

/* ------------------------------------------------------------- public */

/* language NULL means "auto". Invalid UTF-8 in text is not an error:
 * each invalid byte is taken as a non-token character. Stems passed to fn
 * are NUL-terminated (a property of this implementation, not promised by
 * the API). */
int kz_analyze(const char *language, const char *text, size_t len, kz_token_fn fn, void *ctx)
{
    kz_analyzer *a = NULL;
    kz_tokvec tv = { 0 };
    int rc;
    if (!text && len)
        return kz_error_set(KZ_EINVAL, "kz_analyze: text is NULL");
    if ((rc = kz_analyzer_new(&a, language)) != KZ_OK)
        goto done;
    kz_analyzer_set_russian(a, !kz_text_other_cyrillic(NULL, 0, text, len)); /* only "auto" heeds it */
    if ((rc = kz_analyzer_run(a, text, len, &tv)) != KZ_OK)
        goto done;
    for (size_t i = 0; fn && i < tv.len; i++) {
        size_t n;
        const char *stem = kz_analyzer_term(a, tv.v[i].term, &n);
        fn(ctx, stem, n, tv.v[i].start, tv.v[i].end);
    }
done:
    kz_tokvec_free(&tv);
    kz_analyzer_free(a);
    return rc;
}

int kz_analyzer_intern(kz_analyzer *a, const char *s, size_t len, uint32_t *term)
{
    return intern(a, (const uint8_t *)s, len, term);
}
