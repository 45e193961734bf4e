/*
 * snippet.c: the passages that show why a document matched, and the
 * highlights in them.
 *
 * The text is analysed as the index analyses it. A match is an occurrence
 * of a scoring unit: a token whose stem is a query term ("Russians",
 * "Russia's" for russian), or a run of consecutive tokens that spell a
 * query phrase (one match spanning the phrase). Excluded terms are never
 * matches. Among windows of at most max_chars characters that start and
 * end on a match, the best has
 *   1. the largest sum of idf over the distinct units it holds (a phrase's
 *      idf is the sum of its terms', so a phrase match weighs more),
 *   2. then the most matches that directly follow the match of the unit
 *      before them in the query (the words of a plain query as typed),
 *   3. then the most matches (density),
 *   4. then, of windows of several matches, the shortest span,
 *   5. then the earliest start.
 * (Idf sums are compared in fixed point, 2^-32, so that the same units
 * always sum to the same value, in whatever order they were added.)
 * Further fragments are the best windows among the matches left outside
 * the ones chosen. Each passage is then widened to max_chars: it starts
 * at the beginning of the sentence when that is close enough, else a
 * little before the first match on a word boundary, and ends on a word
 * boundary.
 *
 * With the text's marks and the places of the query's terms (the index's
 * positions), only the text around some places is analysed, each time
 * from the mark before the first. A window starts at a place where a
 * unit's first term stands (a candidate) and its matches lie within
 * max_chars tokens after it, as a token is a character at least. What a
 * candidate's places allow (the units whose terms stand there, the places
 * side by side, their number and distance) bounds its windows in the
 * order above; candidates are analysed best bound first while their bound
 * could beat the best window found, and that window's own range is
 * analysed before it is taken. The passages are those of the whole text.
 */
#include "kzint.h"
#include "format.h"

#include <math.h>
#include <stdlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

typedef struct match {
    size_t start, end;   /* bytes */
    size_t cstart, cend; /* characters */
    size_t unit;
    int used;            /* inside a chosen fragment */
    size_t first, last;  /* its tokens (text tokens, counted from 0) */
} match;

/* Passages come from the first KZ_SNIPPET_SCAN_BYTES (kzsearch.h) of a
 * text, cut on a character boundary, so that a huge document answers as
 * fast as any. */

static size_t analysed_length(const char *text, size_t len)
{
    if (len <= KZ_SNIPPET_SCAN_BYTES)
        return len;
    size_t n = KZ_SNIPPET_SCAN_BYTES;
    while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* The units ordered by the id of their first term (then by query order),
 * so that a token finds the units it may start by bisection. A token
 * matches a unit's term when their ids are equal: the analyzer interns
 * equal stems as one id, the units' terms included. */
typedef struct by_first {
    uint32_t first;
    size_t unit;
} by_first;

static int cmp_first(const void *x, const void *y)
{
    const by_first *a = x, *b = y;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    return a->unit < b->unit ? -1 : a->unit > b->unit;
}

/* What finding r's matches in analysed text needs: an analyzer of the
 * index's pool (held from matcher_open to matcher_close), each unit's
 * term ids as that analyzer interns them (unit u's from ids[at[u]]), the
 * units by first id, and each unit's idf in fixed point. */
typedef struct matcher {
    kz_index *ix;
    const kz_results *r;
    kz_analyzer *a;
    uint32_t *ids;
    size_t *at;
    by_first *by;
    uint64_t firsts; /* a quick no for most tokens: a bit per first id mod 64 */
    int64_t *idf;
    size_t *in_window; /* best_window's count of each unit's matches, all 0 between calls */
} matcher;

/* A unit's idf in fixed point (2^-32): sums of the same units are equal
 * whatever their order. */
static int64_t fixed_idf(double idf)
{
    if (!(idf > 0))
        return 0;
    return idf < 1e6 ? (int64_t)llround(idf * 4294967296.0) : (int64_t)1e6 << 32;
}

static void matcher_close(matcher *mt)
{
    if (mt->a)
        kz_index_analyzer_give(mt->ix, 0, mt->a);
    free(mt->ids);
    free(mt->at);
    free(mt->by);
    free(mt->idf);
    free(mt->in_window);
    memset(mt, 0, sizeof *mt);
}

static int matcher_open(matcher *mt, kz_index *ix, const kz_results *r)
{
    memset(mt, 0, sizeof *mt);
    mt->ix = ix;
    mt->r = r;
    size_t nu = kz_results_unit_count(r), n_ids = 0;
    for (size_t u = 0; u < nu; u++)
        n_ids += kz_results_unit(r, u)->n_terms;
    mt->ids = malloc((n_ids ? n_ids : 1) * sizeof *mt->ids);
    mt->at = malloc((nu ? nu : 1) * sizeof *mt->at);
    mt->by = malloc((nu ? nu : 1) * sizeof *mt->by);
    mt->idf = malloc((nu ? nu : 1) * sizeof *mt->idf);
    mt->in_window = calloc(nu ? nu : 1, sizeof *mt->in_window);
    if (!mt->ids || !mt->at || !mt->by || !mt->idf || !mt->in_window) {
        matcher_close(mt);
        return kz_error_set(KZ_ENOMEM, "out of memory");
    }
    /* An analyzer from the index's pool: a new one costs more than
     * analysing a short text. */
    int rc = kz_index_analyzer_take(ix, 0, &mt->a);
    if (rc) {
        mt->a = NULL;
        matcher_close(mt);
        return rc;
    }
    /* The units' stems as the analyzer's ids, valid while it is held. */
    n_ids = 0;
    for (size_t u = 0; u < nu && rc == KZ_OK; u++) {
        const kz_unit *ku = kz_results_unit(r, u);
        mt->at[u] = n_ids;
        mt->idf[u] = fixed_idf(ku->idf);
        for (size_t j = 0; j < ku->n_terms && rc == KZ_OK; j++)
            rc = kz_analyzer_intern(mt->a, ku->terms[j], strlen(ku->terms[j]), &mt->ids[n_ids++]);
    }
    if (rc) {
        matcher_close(mt);
        return rc;
    }
    for (size_t u = 0; u < nu; u++) {
        mt->by[u] = (by_first){ mt->ids[mt->at[u]], u };
        mt->firsts |= (uint64_t)1 << (mt->ids[mt->at[u]] & 63);
    }
    qsort(mt->by, nu, sizeof *mt->by, cmp_first);
    return KZ_OK;
}

/* Appends every match of the units in the analysed tokens t[0..n) to
 * *m (*n_m of them, room for *cap), in text order: at each token, the
 * first unit in query order that starts there. */
static int find_matches(const matcher *mt, const kz_token *t, size_t n, match **m, size_t *n_m, size_t *cap)
{
    size_t nu = kz_results_unit_count(mt->r);
    for (size_t i = 0; i < n; i++) {
        uint32_t id = t[i].term;
        if (!(mt->firsts >> (id & 63) & 1))
            continue;
        size_t lo = 0, hi = nu;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (mt->by[mid].first < id)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < nu && mt->by[lo].first == id; lo++) {
            size_t u = mt->by[lo].unit;
            const kz_unit *ku = kz_results_unit(mt->r, u);
            if (ku->n_terms > n - i)
                continue;
            size_t j = 1;
            while (j < ku->n_terms && t[i + j].term == mt->ids[mt->at[u] + j])
                j++;
            if (j < ku->n_terms)
                continue;
            if (*n_m == *cap) {
                size_t ncap = *cap ? *cap * 2 : 64;
                match *p = realloc(*m, ncap * sizeof *p);
                if (!p)
                    return kz_error_set(KZ_ENOMEM, "out of memory");
                *m = p;
                *cap = ncap;
            }
            (*m)[(*n_m)++] = (match){ t[i].start, t[i + ku->n_terms - 1].end, 0, 0, u, 0, i, i + ku->n_terms - 1 };
            break;
        }
    }
    return KZ_OK;
}

/* A query of more distinct terms than this (a prefix's many) has its
 * snippets' text stemmed whole rather than its terms' places read. */
#define PLACES_MAX_TERMS 64

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* The places of r's terms among the tokens of document docid's title
 * (title set) or text, as the index has them: ascending, each once, *out
 * malloc'd; with terms not NULL, *terms (malloc'd, as many) says which of
 * r's terms stand at each (bit i of term i). *out is NULL (and 0
 * returned) when the query has too many terms to be worth it. */
static int term_places(kz_index *ix, const kz_results *r, uint32_t docid, int title, uint32_t **out,
                       uint64_t **terms, size_t *n_out)
{
    *out = NULL;
    if (terms)
        *terms = NULL;
    *n_out = 0;
    size_t n_terms = kz_results_term_count(r), seg, n = 0, cap = 0;
    uint32_t local;
    uint64_t *v = NULL; /* a place's position << 6 | its term */
    uint32_t *pos = NULL; /* one term's positions */
    if (n_terms > PLACES_MAX_TERMS)
        return KZ_OK;
    int rc = kz_index_locate(ix, docid, &seg, &local);
    if (rc)
        return rc;
    kz_segment *sg = kz_index_segment(ix, seg);
    if ((rc = kz_file_verify(kz_segment_file(sg), KZ_SEC_DOCS, (uint64_t)local * KZ_DOC_SIZE, KZ_DOC_SIZE)))
        return rc;
    uint32_t title_tokens = kz_segment_doc_title_tokens(sg, local), dl = kz_segment_doc_length(sg, local);
    for (size_t i = 0; i < n_terms && rc == KZ_OK; i++) {
        const char *t = kz_results_term(r, i);
        kz_term_loc loc;
        int found = kz_segment_lookup(sg, t, strlen(t), &loc);
        if (found <= 0) {
            rc = found;
            continue;
        }
        kz_plist pl;
        if ((rc = kz_segment_plist_at(sg, &pl, &loc)))
            break;
        kz_cursor c;
        kz_cursor_init(&c, &pl);
        if (kz_cursor_seek(&c, local) == local) {
            uint32_t tf = kz_plist_tf(&pl, c.ord);
            if (tf > dl)
                rc = kz_error_set(KZ_ECORRUPT, "index is corrupt: a term occurs %u times in a document of %u tokens "
                                  "(run 'kzsearch check')", tf, dl);
            if (rc == KZ_OK && n + tf > cap) {
                size_t ncap = KZ_MAX(n + tf, cap * 2);
                uint64_t *p = realloc(v, ncap * sizeof *p);
                uint32_t *p2 = p ? realloc(pos, ncap * sizeof *p2) : NULL;
                if (p)
                    v = p;
                if (p2)
                    pos = p2, cap = ncap;
                else
                    rc = kz_error_set(KZ_ENOMEM, "out of memory");
            }
            if (rc == KZ_OK && (rc = kz_plist_positions(&pl, c.ord, tf, pos)) == KZ_OK) {
                /* Positions count the title's tokens, then the text's. */
                for (uint32_t k = 0; k < tf; k++) {
                    uint32_t p = pos[k];
                    if (title ? p < title_tokens : p >= title_tokens)
                        v[n++] = (uint64_t)(title ? p : p - title_tokens) << 6 | i;
                }
            }
        }
        kz_plist_close(&pl);
    }
    free(pos);
    if (rc) {
        free(v);
        return rc;
    }
    if (n)
        qsort(v, n, sizeof *v, cmp_u64);
    uint32_t *places = malloc((n ? n : 1) * sizeof *places);
    uint64_t *which = terms ? malloc((n ? n : 1) * sizeof *which) : NULL;
    if (!places || (terms && !which)) {
        free(v);
        free(places);
        free(which);
        return kz_error_set(KZ_ENOMEM, "out of memory");
    }
    size_t w = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t p = (uint32_t)(v[k] >> 6);
        if (!w || places[w - 1] != p) {
            places[w] = p;
            if (which)
                which[w] = 0;
            w++;
        }
        if (which)
            which[w - 1] |= (uint64_t)1 << (v[k] & 63);
    }
    free(v);
    *out = places;
    if (terms)
        *terms = which;
    *n_out = w;
    return KZ_OK;
}

/* Analyses the first len bytes of text (its tokens into tv, which the
 * caller frees) and appends the units' matches to *m. With
 * places (not NULL), only the tokens there are stemmed: a token elsewhere
 * cannot have a query term's stem. */
static int text_matches(const matcher *mt, kz_tokvec *tv, const char *text, size_t len, const uint32_t *places,
                        size_t n_places, match **m, size_t *n, size_t *cap)
{
    int rc = places ? kz_analyzer_run_some(mt->a, text, len, places, n_places, tv) : kz_analyzer_run(mt->a, text, len, tv);
    return rc ? rc : find_matches(mt, tv->v, tv->len, m, n, cap);
}

static int highlight(kz_span **out, size_t *n_out, kz_index *ix, const kz_results *r, const char *text, size_t len,
                     const uint32_t *places, size_t n_places)
{
    *out = NULL;
    *n_out = 0;
    kz_tokvec tv = { 0 };
    matcher mt;
    match *m = NULL;
    size_t n = 0, cap = 0;
    int rc = matcher_open(&mt, ix, r);
    if (rc)
        return rc;
    if ((rc = text_matches(&mt, &tv, text, analysed_length(text, len), places, n_places, &m, &n, &cap)))
        goto done;
    *out = malloc((n ? n : 1) * sizeof **out);
    if (!*out) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    /* Overlapping matches (phrases sharing tokens) join into one span. */
    for (size_t i = 0; i < n; i++) {
        if (*n_out && m[i].start <= (*out)[*n_out - 1].end) {
            if (m[i].end > (*out)[*n_out - 1].end)
                (*out)[*n_out - 1].end = m[i].end;
        } else {
            (*out)[(*n_out)++] = (kz_span){ m[i].start, m[i].end };
        }
    }
done:
    matcher_close(&mt);
    kz_tokvec_free(&tv);
    free(m);
    return rc;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

/* The characters of UTF-8 text[0 .. n): its bytes but continuation bytes
 * (10xxxxxx), eight at a time. */
static size_t count_chars(const char *text, size_t n)
{
    size_t chars = n, i = 0;
#ifdef __SSE2__
    /* Continuation bytes are the signed bytes below -64. */
    const __m128i below = _mm_set1_epi8(-64);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(text + i));
        chars -= (size_t)kz_popcount64((unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(v, below)));
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, text + i, 8);
        uint64_t cont = (w & ~(w << 1) & 0x8080808080808080ull) >> 7; /* bit 7 set, bit 6 clear */
        chars -= (size_t)((cont * 0x0101010101010101ull) >> 56);
    }
    for (; i < n; i++)
        chars -= ((unsigned char)text[i] & 0xC0) == 0x80;
    return chars;
}
static int is_cont(char c) { return ((unsigned char)c & 0xC0) == 0x80; }

/* Byte offset max_chars characters after from (or len). */
static size_t advance_chars(const char *text, size_t len, size_t from, size_t chars)
{
    size_t i = from;
    while (i < len && chars > 0) {
        i++;
        while (i < len && is_cont(text[i]))
            i++;
        chars--;
    }
    return i;
}

static size_t back_chars(const char *text, size_t from, size_t chars)
{
    size_t i = from;
    while (i > 0 && chars > 0) {
        i--;
        while (i > 0 && is_cont(text[i]))
            i--;
        chars--;
    }
    return i;
}

typedef struct window {
    size_t i, j; /* matches [i, j) */
    int64_t idf; /* fixed point, fixed_idf */
    size_t pairs; /* matches right after the match of the previous unit */
    size_t count, span;
} window;

static int better(const window *a, const window *b)
{
    if (a->idf != b->idf)
        return a->idf > b->idf;
    if (a->pairs != b->pairs)
        return a->pairs > b->pairs;
    if (a->count != b->count)
        return a->count > b->count;
    if (a->count >= 2 && a->span != b->span)
        return a->span < b->span;
    return a->i < b->i;
}

/* b follows a word for word, and is of the next unit in query order: the
 * query's words as they were typed, "ethnic Russians" in a plain query. */
static int in_sequence(const match *a, const match *b) { return b->first == a->last + 1 && b->unit == a->unit + 1; }

/* The best window over the unused matches; count 0 if none is left. */
static int best_window(const matcher *mt, match *m, size_t n, size_t max_chars, window *best)
{
    size_t *count = mt->in_window;
    memset(best, 0, sizeof *best);
    best->idf = -1;
    size_t i = 0;
    while (i < n) {
        /* A run of unused matches [i, end). */
        while (i < n && m[i].used)
            i++;
        size_t end = i;
        while (end < n && !m[end].used)
            end++;
        int64_t idf = 0;
        size_t j = i, pairs = 0;
        for (; i < end; i++) {
            while (j < end && (j == i || m[j].cend - m[i].cstart <= max_chars)) {
                if (count[m[j].unit]++ == 0)
                    idf += mt->idf[m[j].unit];
                pairs += j > i && in_sequence(&m[j - 1], &m[j]);
                j++;
            }
            window w = { i, j, idf, pairs, j - i, m[j - 1].cend - m[i].cstart };
            if (better(&w, best))
                *best = w;
            if (--count[m[i].unit] == 0)
                idf -= mt->idf[m[i].unit];
            pairs -= i + 1 < j && in_sequence(&m[i], &m[i + 1]);
        }
    }
    if (best->idf < 0)
        best->count = 0;
    return KZ_OK;
}

/* Character offsets of matches m[0..n) (in text order) from byte from of
 * text, in one pass. */
static void char_offsets(const char *text, match *m, size_t n, size_t from)
{
    size_t byte = from, chars = 0;
    for (size_t k = 0; k < n; k++) {
        chars += count_chars(text + byte, m[k].start - byte);
        byte = m[k].start;
        m[k].cstart = chars;
        chars += count_chars(text + byte, m[k].end - byte);
        m[k].cend = chars;
        byte = m[k].start; /* phrases may overlap the next match */
        chars = m[k].cstart;
    }
}

/* A window could start at each place where a unit's first term stands: a
 * candidate, with the most its windows could reach, from the places alone
 * (a window's matches lie within max_chars characters, so within
 * max_chars tokens of its first: places [place, last]). */
typedef struct candidate {
    size_t place, last; /* indexes in places */
    int64_t idf;        /* of the units whose first term stands in its range */
    size_t pairs;       /* such places right after a place */
    size_t count;       /* such places */
    size_t span;        /* characters at least from its place to the last such */
} candidate;

/* Whether a window starting at c could be better than w, whose first
 * match is at token w_token: the bounds of c against w in the order of
 * better(). */
static int may_beat(const candidate *c, uint32_t c_token, const window *w, size_t w_token)
{
    if (w->count == 0)
        return 1;
    if (c->idf != w->idf)
        return c->idf > w->idf;
    if (c->pairs != w->pairs)
        return c->pairs > w->pairs;
    if (c->count != w->count)
        return c->count > w->count;
    /* Only a window of all its such places ties on count: its span is at
     * least c->span. */
    int earlier = c_token < w_token;
    if (w->count >= 2)
        return c->span < w->span || (c->span == w->span && earlier);
    return earlier;
}

/* The order candidates are tried in: the best bounds first. */
static int cmp_candidates(const void *x, const void *y)
{
    const candidate *a = x, *b = y;
    if (a->idf != b->idf)
        return a->idf > b->idf ? -1 : 1;
    if (a->pairs != b->pairs)
        return a->pairs > b->pairs ? -1 : 1;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return a->place < b->place ? -1 : a->place > b->place;
}

/* The passages' work: the matches found so far, in text order, with
 * character offsets and token numbers from the text's start; and, with
 * text marks, which places were analysed and the candidates. */
typedef struct passages {
    matcher mt;
    const char *text;
    size_t scanned;         /* analysed_length of the text */
    const uint32_t *places; /* text token numbers, ascending */
    size_t n_places;
    const kz_text_marks *marks;
    kz_tokvec tv;
    match *m;
    size_t n, cap;
    uint8_t *done;          /* per place: its match (if any) is among m */
    candidate *c;           /* by cmp_candidates */
    size_t n_c;
    size_t max_terms;       /* of a unit */
    uint32_t *local;        /* places from an analysis's first token */
    match *found;           /* an analysis's matches */
    size_t n_found, cap_found;
    size_t ck_byte[16], ck_chars[16]; /* the characters before some bytes, counted before */
    size_t n_ck;
} passages;

/* The mark at or before token t's: its byte and its token number. */
static void mark_before(const kz_text_marks *marks, uint32_t t, size_t *byte, size_t *token)
{
    size_t k = t ? (t - 1) / KZ_TEXT_MARK_EVERY : 0; /* a place is never an analysis's first token */
    *byte = k ? marks->at[k - 1] : 0;
    *token = k * KZ_TEXT_MARK_EVERY;
}

/* Characters in text before byte b, counted from the nearest byte before
 * it that was asked for (of the last 16). */
static size_t chars_before(passages *ps, size_t b)
{
    size_t from = 0, chars = 0;
    for (size_t i = 0; i < ps->n_ck && i < 16; i++)
        if (ps->ck_byte[i] <= b && ps->ck_byte[i] >= from)
            from = ps->ck_byte[i], chars = ps->ck_chars[i];
    chars += count_chars(ps->text + from, b - from);
    ps->ck_byte[ps->n_ck % 16] = b;
    ps->ck_chars[ps->n_ck % 16] = chars;
    ps->n_ck++;
    return chars;
}

/* The candidates and their bounds: 1, or 0 when a place lies past the
 * marks (a damaged index: analyse the text at once), or an error.
 * which[k] has the terms at places[k] (term_places). */
static int make_candidates(passages *ps, const uint64_t *which, size_t max_chars)
{
    const kz_results *r = ps->mt.r;
    const uint32_t *places = ps->places;
    size_t n = ps->n_places, nu = kz_results_unit_count(r), nt = kz_results_term_count(r);
    if (n && (places[n - 1] ? (places[n - 1] - 1) / KZ_TEXT_MARK_EVERY : 0) > ps->marks->n)
        return 0;
    uint64_t *unit_bit = calloc(nu ? nu : 1, sizeof *unit_bit), firsts = 0;
    uint32_t *in_range = calloc(64, sizeof *in_range); /* places of each term in a candidate's range */
    ps->c = malloc((n ? n : 1) * sizeof *ps->c);
    ps->done = calloc(n ? n : 1, 1);
    ps->local = malloc((n ? n : 1) * sizeof *ps->local);
    if (!unit_bit || !in_range || !ps->c || !ps->done || !ps->local) {
        free(unit_bit);
        free(in_range);
        return kz_error_set(KZ_ENOMEM, "out of memory");
    }
    /* The term (of r's, as term_places numbers them) that starts each unit. */
    for (size_t u = 0; u < nu; u++) {
        const kz_unit *ku = kz_results_unit(r, u);
        ps->max_terms = KZ_MAX(ps->max_terms, ku->n_terms);
        for (size_t i = 0; i < nt && i < 64 && ku->n_terms; i++)
            if (strcmp(kz_results_term(r, i), ku->terms[0]) == 0) {
                unit_bit[u] = (uint64_t)1 << i;
                break;
            }
        firsts |= unit_bit[u];
    }
    /* Two pointers: [k, e) the places within max_chars tokens of place k
     * (a window of more would span more characters), the places of each
     * term among them, and those of first terms: their number, the ones
     * right after a place, and the last. */
    size_t e = 0, count = 0, pairs = 0, last_first = 0;
    uint64_t here = 0; /* the terms with places in the range */
    for (size_t k = 0; k < n; k++) {
        for (; e < n && places[e] - places[k] < max_chars; e++) {
            for (uint64_t b = which[e]; b; b &= b - 1)
                if (in_range[__builtin_ctzll(b)]++ == 0)
                    here |= b & -b;
            if (which[e] & firsts) {
                count++;
                pairs += e > k && places[e - 1] + 1 == places[e];
                last_first = e;
            }
        }
        if (which[k] & firsts) {
            candidate *c = &ps->c[ps->n_c++];
            *c = (candidate){ k, e - 1, 0, pairs, count, places[last_first] - places[k] + 1 };
            for (size_t u = 0; u < nu; u++)
                if (unit_bit[u] & here)
                    c->idf += ps->mt.idf[u];
        }
        for (uint64_t b = which[k]; b; b &= b - 1)
            if (--in_range[__builtin_ctzll(b)] == 0)
                here &= ~(b & -b);
        if (which[k] & firsts)
            count--;
        if (k + 1 < e && (which[k + 1] & firsts) && places[k] + 1 == places[k + 1])
            pairs--;
    }
    free(unit_bit);
    free(in_range);
    qsort(ps->c, ps->n_c, sizeof *ps->c, cmp_candidates);
    return 1;
}

/* Analyses the text around places [a, b] that are not done yet and puts
 * their matches among ps->m, in text order; then they are done. A
 * phrase's later terms may stand past b: the places up to max_terms - 1
 * tokens after b are analysed too (their own matches wait for theirs). */
static int analyse_places(passages *ps, size_t a, size_t b)
{
    const uint32_t *places = ps->places;
    while (a <= b && ps->done[a])
        a++;
    while (b > a && ps->done[b])
        b--;
    if (a > b || ps->done[a])
        return KZ_OK;
    size_t b2 = b;
    while (b2 + 1 < ps->n_places && places[b2 + 1] - places[b] < ps->max_terms)
        b2++;
    size_t from, first_token;
    mark_before(ps->marks, places[a], &from, &first_token);
    ps->n_found = 0;
    int rc = KZ_OK;
    if (from < ps->scanned) {
        for (size_t k = a; k <= b2; k++)
            ps->local[k - a] = places[k] - (uint32_t)first_token;
        ps->tv.len = 0;
        rc = kz_analyzer_run_some(ps->mt.a, ps->text + from, ps->scanned - from, ps->local, b2 - a + 1, &ps->tv);
        if (rc == KZ_OK)
            rc = find_matches(&ps->mt, ps->tv.v, ps->tv.len, &ps->found, &ps->n_found, &ps->cap_found);
        if (rc)
            return rc;
    }
    /* Keep the matches at places [a, b] not done, from the text's start. */
    size_t kept = 0, k = a;
    for (size_t i = 0; i < ps->n_found; i++) {
        match f = ps->found[i];
        f.first += first_token;
        f.last += first_token;
        while (k <= b && places[k] < f.first)
            k++;
        if (k > b)
            break;
        if (places[k] != f.first || ps->done[k])
            continue;
        f.start += from;
        f.end += from;
        ps->found[kept++] = f;
    }
    for (k = a; k <= b; k++)
        ps->done[k] = 1;
    if (!kept)
        return KZ_OK;
    char_offsets(ps->text, ps->found, kept, ps->found[0].start);
    size_t base = chars_before(ps, ps->found[0].start);
    for (size_t i = 0; i < kept; i++) {
        ps->found[i].cstart += base;
        ps->found[i].cend += base;
    }
    /* Merge: no two matches start at one byte. */
    if (ps->n + kept > ps->cap) {
        size_t ncap = KZ_MAX(ps->n + kept, ps->cap * 2);
        match *p = realloc(ps->m, ncap * sizeof *p);
        if (!p)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        ps->m = p;
        ps->cap = ncap;
    }
    size_t i = ps->n, j = kept, w = ps->n + kept;
    while (j > 0) {
        if (i > 0 && ps->m[i - 1].start > ps->found[j - 1].start)
            ps->m[--w] = ps->m[--i];
        else
            ps->m[--w] = ps->found[--j];
    }
    ps->n += kept;
    return KZ_OK;
}

/* The place (index in places) of the match that starts at token t. */
static size_t place_of(const passages *ps, uint32_t t)
{
    size_t lo = 0, hi = ps->n_places;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ps->places[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether every place a window starting at place k could hold is done. */
static int range_done(const passages *ps, size_t k, size_t last)
{
    for (; k <= last; k++)
        if (!ps->done[k])
            return 0;
    return 1;
}

/* The best window among the unused matches, as if the whole text were
 * analysed: the window found is made whole (its range analysed), and the
 * candidates whose bounds could beat it are analysed, best bound first,
 * until none can. A candidate passed over cannot beat the best, nor the
 * better ones found after it. */
static int best_of_candidates(passages *ps, size_t max_chars, window *w)
{
    int rc = best_window(&ps->mt, ps->m, ps->n, max_chars, w);
    size_t next = 0;
    while (rc == KZ_OK) {
        if (ps->n_c && w->count) {
            size_t k = place_of(ps, (uint32_t)ps->m[w->i].first), last = k;
            while (last + 1 < ps->n_places && ps->places[last + 1] - ps->places[k] < max_chars)
                last++;
            if (!range_done(ps, k, last)) {
                if ((rc = analyse_places(ps, k, last)) == KZ_OK)
                    rc = best_window(&ps->mt, ps->m, ps->n, max_chars, w);
                continue;
            }
        }
        while (next < ps->n_c) {
            const candidate *c = &ps->c[next];
            if (!range_done(ps, c->place, c->last) &&
                may_beat(c, ps->places[c->place], w, w->count ? ps->m[w->i].first : 0))
                break;
            next++;
        }
        if (next == ps->n_c)
            break;
        if ((rc = analyse_places(ps, ps->c[next].place, ps->c[next].last)) == KZ_OK)
            rc = best_window(&ps->mt, ps->m, ps->n, max_chars, w);
    }
    return rc;
}

/* Widens the matches [first, last) of a window to a passage of about
 * max_chars characters on word and sentence boundaries. */
static void widen(const char *text, size_t len, size_t first, size_t last, size_t used, size_t max_chars,
                  size_t *pstart, size_t *pend)
{
    size_t spare = max_chars > used ? max_chars - used : 0;
    size_t limit = back_chars(text, first, spare);
    size_t start = first, sentence = SIZE_MAX;
    for (size_t i = first; i > limit; i--) {
        char c = text[i - 1];
        if (c == '\n' || ((c == ' ' || c == '\t') && i >= 2 &&
                          (text[i - 2] == '.' || text[i - 2] == '!' || text[i - 2] == '?'))) {
            sentence = i;
            break;
        }
    }
    if (sentence != SIZE_MAX) {
        start = sentence;
    } else if (limit == 0) {
        start = 0; /* the whole beginning fits */
    } else {
        /* Some lead-in, from a word start. */
        start = back_chars(text, first, spare / 3);
        while (start < first && !is_space(text[start]))
            start++;
    }
    while (start < len && is_space(text[start]))
        start++;
    /* A match may begin inside a word ("quasi-imperial", "(Putin"): the
     * passage begins with the word. */
    for (size_t back = 0; start > 0 && !is_space(text[start - 1]) && back < 64; back++)
        start--;
    size_t end = advance_chars(text, len, start, max_chars);
    if (end < len && !is_space(text[end])) {
        /* Back to the last space, unless that drops a match: then on to
         * the end of the word the last match is in. */
        size_t e = end;
        while (e > start && !is_space(text[e]))
            e--;
        if (e > last) {
            end = e;
        } else {
            end = last > end ? last : end;
            while (end < len && !is_space(text[end]))
                end++;
        }
    }
    if (end < last)
        end = last;
    while (end > start && is_space(text[end - 1]))
        end--;
    *pstart = start;
    *pend = end;
}

static int cmp_snippet(const void *x, const void *y)
{
    const kz_snippet *a = x, *b = y;
    return a->start < b->start ? -1 : a->start > b->start;
}

#define LAZY_MIN_MARKS 4

static int snippets(kz_snippet *out, size_t *n_out, size_t max_fragments, kz_index *ix, const kz_results *r,
                    const char *text, size_t len, size_t max_chars, const uint32_t *places, const uint64_t *which,
                    size_t n_places, const kz_text_marks *marks)
{
    *n_out = 0;
    if (max_fragments == 0)
        return KZ_OK;
    memset(out, 0, max_fragments * sizeof *out);
    if (max_chars < 20)
        max_chars = 20;
    passages ps = { 0 };
    ps.text = text;
    ps.scanned = analysed_length(text, len);
    ps.places = places;
    ps.n_places = n_places;
    ps.marks = marks;
    size_t made = 0;
    int rc = matcher_open(&ps.mt, ix, r), lazy = 0;
    if (rc)
        return rc;
    /* A text of a few marks is analysed at once: choosing costs more. */
    if (places && which && marks && marks->n >= LAZY_MIN_MARKS) {
        lazy = make_candidates(&ps, which, max_chars); /* 0: a damaged index, analysed at once */
        if (lazy < 0) {
            rc = lazy;
            goto done;
        }
    }
    if (!lazy) {
        if ((rc = text_matches(&ps.mt, &ps.tv, text, ps.scanned, places, n_places, &ps.m, &ps.n, &ps.cap)))
            goto done;
        char_offsets(text, ps.m, ps.n, 0);
    }
    while (made < max_fragments) {
        window w;
        if ((rc = best_of_candidates(&ps, max_chars, &w)))
            goto done;
        size_t start, end;
        if (w.count == 0) {
            if (made > 0)
                break;
            widen(text, len, 0, 0, 0, max_chars, &start, &end); /* no match: the beginning */
        } else {
            size_t last = 0;
            for (size_t k = w.i; k < w.j; k++)
                if (ps.m[k].end > last)
                    last = ps.m[k].end;
            widen(text, len, ps.m[w.i].start, last, w.span, max_chars, &start, &end);
        }
        /* Every match inside the passage is used up, at places not yet
         * analysed too (those whose marks around them meet it), and the
         * window's own (which that may move: no two matches start at one
         * byte). */
        size_t w_start = w.count ? ps.m[w.i].start : 0, w_count = w.j - w.i;
        for (size_t k = 0, a = SIZE_MAX; lazy && k <= n_places && rc == KZ_OK; k++) {
            int meets = 0;
            if (k < n_places && !ps.done[k]) {
                size_t from, token, after = places[k] / KZ_TEXT_MARK_EVERY + 1; /* the mark after it */
                mark_before(marks, places[k], &from, &token);
                meets = from < end && start < (after <= marks->n ? marks->at[after - 1] : len);
            }
            if (meets && a == SIZE_MAX)
                a = k;
            if (!meets && a != SIZE_MAX) {
                rc = analyse_places(&ps, a, k - 1);
                a = SIZE_MAX;
            }
        }
        if (rc)
            goto done;
        match *m = ps.m;
        for (size_t k = 0; k < ps.n; k++) {
            if (m[k].start >= start && m[k].end <= end)
                m[k].used = 1;
            if (w.count && m[k].start == w_start)
                for (size_t c = 0; c < w_count; c++)
                    m[k + c].used = 1;
        }
        out[made].start = start;
        out[made].end = end;
        made++;
        if (w.count == 0)
            break;
    }
    qsort(out, made, sizeof *out, cmp_snippet);
    /* Passages that touch join. */
    size_t kept = 0;
    for (size_t f = 0; f < made; f++) {
        if (kept && out[f].start <= out[kept - 1].end) {
            if (out[f].end > out[kept - 1].end)
                out[kept - 1].end = out[f].end;
        } else {
            out[kept++] = out[f];
        }
    }
    made = kept;
    for (size_t f = 0; f < made; f++) {
        kz_snippet *sn = &out[f];
        const match *m = ps.m;
        sn->cut_before = sn->start > 0;
        sn->cut_after = sn->end < len;
        size_t cnt = 0;
        for (size_t k = 0; k < ps.n; k++)
            cnt += m[k].start >= sn->start && m[k].end <= sn->end;
        sn->marks = malloc((cnt ? cnt : 1) * sizeof *sn->marks);
        if (!sn->marks) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
            goto done;
        }
        for (size_t k = 0; k < ps.n; k++) {
            if (m[k].start < sn->start || m[k].end > sn->end)
                continue;
            if (sn->n_marks && m[k].start <= sn->marks[sn->n_marks - 1].end) {
                if (m[k].end > sn->marks[sn->n_marks - 1].end)
                    sn->marks[sn->n_marks - 1].end = m[k].end;
            } else {
                sn->marks[sn->n_marks++] = (kz_span){ m[k].start, m[k].end };
            }
        }
    }
    *n_out = made;
done:
    if (rc) {
        for (size_t f = 0; f < max_fragments; f++)
            kz_snippet_free(&out[f]);
        *n_out = 0;
    }
    matcher_close(&ps.mt);
    kz_tokvec_free(&ps.tv);
    free(ps.m);
    free(ps.c);
    free(ps.done);
    free(ps.found);
    free(ps.local);
    return rc;
}

int kz_highlight(kz_span **out, size_t *n_out, kz_index *ix, const kz_results *r, const char *text, size_t len)
{
    return highlight(out, n_out, ix, r, text, len, NULL, 0);
}

int kz_highlight_doc(kz_span **out, size_t *n_out, kz_index *ix, const kz_results *r, uint32_t docid, int title,
                     const char *text, size_t len)
{
    uint32_t *places;
    size_t n_places;
    *out = NULL;
    *n_out = 0;
    int rc = term_places(ix, r, docid, title, &places, NULL, &n_places);
    if (rc == KZ_OK)
        rc = highlight(out, n_out, ix, r, text, len, places, n_places);
    free(places);
    return rc;
}

int kz_snippets_make(kz_snippet *out, size_t *n_out, size_t max_fragments, kz_index *ix, const kz_results *r,
                     const char *text, size_t len, size_t max_chars)
{
    return snippets(out, n_out, max_fragments, ix, r, text, len, max_chars, NULL, NULL, 0, NULL);
}

int kz_snippets_make_doc(kz_snippet *out, size_t *n_out, size_t max_fragments, kz_index *ix, const kz_results *r,
                         uint32_t docid, const char *text, size_t len, size_t max_chars)
{
    return kz_snippets_make_marked(out, n_out, max_fragments, ix, r, docid, text, len, NULL, max_chars);
}

int kz_snippets_make_marked(kz_snippet *out, size_t *n_out, size_t max_fragments, kz_index *ix, const kz_results *r,
                            uint32_t docid, const char *text, size_t len, const kz_text_marks *marks,
                            size_t max_chars)
{
    uint32_t *places;
    uint64_t *which;
    size_t n_places;
    *n_out = 0;
    memset(out, 0, max_fragments * sizeof *out);
    int rc = term_places(ix, r, docid, 0, &places, &which, &n_places);
    if (rc == KZ_OK)
        rc = snippets(out, n_out, max_fragments, ix, r, text, len, max_chars, places, which, n_places, marks);
    free(places);
    free(which);
    return rc;
}

int kz_snippet_make(kz_snippet *out, kz_index *ix, const kz_results *r, const char *text, size_t len,
                    size_t max_chars)
{
    size_t n;
    int rc = kz_snippets_make(out, &n, 1, ix, r, text, len, max_chars);
    if (rc == KZ_OK && n == 0)
        memset(out, 0, sizeof *out);
    return rc;
}

void kz_snippet_free(kz_snippet *s)
{
    if (!s)
        return;
    free(s->marks);
    s->marks = NULL;
    s->n_marks = 0;
}
