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
 *   4. then the shortest span, then the earliest start.
 * Further fragments are the best windows among the matches left outside
 * the ones chosen. Each passage is then widened to max_chars: it starts
 * at the beginning of the sentence when that is close enough, else a
 * little before the first match on a word boundary, and ends on a word
 * boundary.
 */
#include "kzint.h"
#include "format.h"

#include <stdlib.h>

typedef struct match {
    size_t start, end;   /* bytes */
    size_t cstart, cend; /* characters */
    size_t unit;
    int used;            /* inside a chosen fragment */
    size_t first, last;  /* its tokens */
} match;

/* The analysed text: its tokens, with their interned stem ids. */
typedef struct scan {
    kz_tokvec tv;
} scan;

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

/* Every match of r's units in the analysed tokens, in text order: at each
 * token, the first unit in query order that starts there. ids holds each
 * unit's term ids from index at[u]. */
static int find_matches(const kz_results *r, const kz_token *t, size_t n, const uint32_t *ids, const size_t *at,
                        match **out, size_t *n_out)
{
    size_t cap = 64, count = 0, nu = kz_results_unit_count(r);
    match *m = malloc(cap * sizeof *m);
    by_first *ix = malloc((nu ? nu : 1) * sizeof *ix);
    if (!m || !ix) {
        free(m);
        free(ix);
        return kz_error_set(KZ_ENOMEM, "out of memory");
    }
    /* A quick no for most tokens: one bit per first-term id mod 64. */
    uint64_t firsts = 0;
    for (size_t u = 0; u < nu; u++) {
        ix[u] = (by_first){ ids[at[u]], u };
        firsts |= (uint64_t)1 << (ids[at[u]] & 63);
    }
    qsort(ix, nu, sizeof *ix, cmp_first);
    for (size_t i = 0; i < n; i++) {
        uint32_t id = t[i].term;
        if (!(firsts >> (id & 63) & 1))
            continue;
        size_t lo = 0, hi = nu;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (ix[mid].first < id)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < nu && ix[lo].first == id; lo++) {
            size_t u = ix[lo].unit;
            const kz_unit *ku = kz_results_unit(r, u);
            if (ku->n_terms > n - i)
                continue;
            size_t j = 1;
            while (j < ku->n_terms && t[i + j].term == ids[at[u] + j])
                j++;
            if (j < ku->n_terms)
                continue;
            if (count == cap) {
                cap *= 2;
                match *p = realloc(m, cap * sizeof *p);
                if (!p) {
                    free(m);
                    free(ix);
                    return kz_error_set(KZ_ENOMEM, "out of memory");
                }
                m = p;
            }
            m[count++] = (match){ t[i].start, t[i + ku->n_terms - 1].end, 0, 0, u, 0, i, i + ku->n_terms - 1 };
            break;
        }
    }
    free(ix);
    *out = m;
    *n_out = count;
    return KZ_OK;
}

/* A query of more distinct terms than this (a prefix's many) has its
 * snippets' text stemmed whole rather than its terms' places read. */
#define PLACES_MAX_TERMS 64

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/* The places of r's terms among the tokens of document docid's title
 * (title set) or text, as the index has them: ascending, each once, *out
 * malloc'd. *out is NULL (and 0 returned) when the query has too many
 * terms to be worth it. */
static int term_places(kz_index *ix, const kz_results *r, uint32_t docid, int title, uint32_t **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    size_t n_terms = kz_results_term_count(r), seg, n = 0, cap = 0;
    uint32_t local, *v = NULL;
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
                uint32_t *p = realloc(v, ncap * sizeof *p);
                if (!p)
                    rc = kz_error_set(KZ_ENOMEM, "out of memory");
                else
                    v = p, cap = ncap;
            }
            if (rc == KZ_OK && (rc = kz_plist_positions(&pl, c.ord, tf, v + n)) == KZ_OK) {
                /* Positions count the title's tokens, then the text's. */
                uint32_t kept = 0;
                for (uint32_t k = 0; k < tf; k++) {
                    uint32_t p = v[n + k];
                    if (title ? p < title_tokens : p >= title_tokens)
                        v[n + kept++] = title ? p : p - title_tokens;
                }
                n += kept;
            }
        }
        kz_plist_close(&pl);
    }
    if (rc) {
        free(v);
        return rc;
    }
    if (n)
        qsort(v, n, sizeof *v, cmp_u32);
    size_t w = 0;
    for (size_t k = 0; k < n; k++)
        if (!w || v[w - 1] != v[k])
            v[w++] = v[k];
    *out = v ? v : malloc(sizeof *v);
    *n_out = w;
    return *out ? KZ_OK : kz_error_set(KZ_ENOMEM, "out of memory");
}

/* Analyses text with the index's language into s (its tokens, which the
 * caller frees with kz_tokvec_free(&s->tv), also on failure) and finds the
 * query's matches among them: *m (malloc'd, n of them). With places (not
 * NULL), only the tokens there are stemmed: a token elsewhere cannot have
 * a query term's stem. */
/* The tokens of text around places (ascending text positions, n_places
 * of them) into tv, with the text's marks: places closer than
 * max_chars + 2 KZ_TEXT_MARK_EVERY tokens make one group, analysed from
 * the mark before its first place to its last (only the places stemmed),
 * the groups' tokens one after another, at their offsets in text. A
 * passage's matches lie within max_chars characters, so within a group,
 * and a group begins with a token no query term stands at. 1 when done,
 * 0 when a place lies past the marks (a damaged index: analyse it all),
 * or an error. */
static int analyse_around(kz_analyzer *a, const char *text, size_t len, const uint32_t *places, size_t n_places,
                          const kz_text_marks *marks, size_t max_chars, kz_tokvec *tv)
{
    size_t gap = max_chars + 2 * KZ_TEXT_MARK_EVERY;
    uint32_t *local = malloc((n_places ? n_places : 1) * sizeof *local);
    if (!local)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    int rc = 1;
    for (size_t i = 0, j; i < n_places && rc == 1; i = j + 1) {
        for (j = i; j + 1 < n_places && places[j + 1] - places[j] <= gap;)
            j++;
        size_t mark = places[i] ? (places[i] - 1) / KZ_TEXT_MARK_EVERY : 0;
        if (mark > marks->n) {
            rc = 0;
            break;
        }
        size_t from = mark ? marks->at[mark - 1] : 0, first_token = mark * KZ_TEXT_MARK_EVERY;
        if (from >= len)
            break; /* past what is scanned */
        for (size_t k = i; k <= j; k++)
            local[k - i] = places[k] - (uint32_t)first_token;
        size_t base = tv->len;
        int r2 = kz_analyzer_run_some(a, text + from, len - from, local, j - i + 1, tv);
        if (r2) {
            rc = r2;
            break;
        }
        for (size_t t = base; t < tv->len; t++) {
            tv->v[t].start += (uint32_t)from;
            tv->v[t].end += (uint32_t)from;
        }
    }
    free(local);
    return rc;
}

static int text_matches(scan *s, match **m, size_t *n, kz_index *ix, const kz_results *r, const char *text,
                        size_t len, const uint32_t *places, size_t n_places, const kz_text_marks *marks,
                        size_t max_chars)
{
    /* An analyzer from the index's pool: a new one costs more than
     * analysing a short text. */
    kz_analyzer *a;
    size_t nu = kz_results_unit_count(r), n_ids = 0;
    for (size_t u = 0; u < nu; u++)
        n_ids += kz_results_unit(r, u)->n_terms;
    uint32_t *ids = malloc((n_ids ? n_ids : 1) * sizeof *ids);
    size_t *at = malloc((nu ? nu : 1) * sizeof *at);
    if (!ids || !at) {
        free(ids);
        free(at);
        return kz_error_set(KZ_ENOMEM, "out of memory");
    }
    int rc = kz_index_analyzer_take(ix, 0, &a);
    if (rc)
        goto done;
    /* The units' stems as the analyzer's ids, valid while it is held. */
    n_ids = 0;
    for (size_t u = 0; u < nu && rc == KZ_OK; u++) {
        const kz_unit *ku = kz_results_unit(r, u);
        at[u] = n_ids;
        for (size_t j = 0; j < ku->n_terms && rc == KZ_OK; j++)
            rc = kz_analyzer_intern(a, ku->terms[j], strlen(ku->terms[j]), &ids[n_ids++]);
    }
    int around = 0;
    if (rc == KZ_OK && places && marks && marks->n) {
        around = analyse_around(a, text, analysed_length(text, len), places, n_places, marks, max_chars, &s->tv);
        rc = around < 0 ? around : KZ_OK;
        if (around == 0)
            s->tv.len = 0; /* from the start, then */
    }
    if (rc == KZ_OK && !around)
        rc = places ? kz_analyzer_run_some(a, text, analysed_length(text, len), places, n_places, &s->tv)
                    : kz_analyzer_run(a, text, analysed_length(text, len), &s->tv);
    if (rc == KZ_OK)
        rc = find_matches(r, s->tv.v, s->tv.len, ids, at, m, n);
    kz_index_analyzer_give(ix, 0, a);
done:
    free(ids);
    free(at);
    return rc;
}

static int highlight(kz_span **out, size_t *n_out, kz_index *ix, const kz_results *r, const char *text, size_t len,
                     const uint32_t *places, size_t n_places)
{
    *out = NULL;
    *n_out = 0;
    scan s = { 0 };
    match *m = NULL;
    size_t n = 0;
    int rc = text_matches(&s, &m, &n, ix, r, text, len, places, n_places, NULL, 0);
    if (rc)
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
    kz_tokvec_free(&s.tv);
    free(m);
    return rc;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

/* The characters of UTF-8 text[0 .. n): its bytes but continuation bytes
 * (10xxxxxx), eight at a time. */
static size_t count_chars(const char *text, size_t n)
{
    size_t chars = n, i = 0;
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
    double idf;
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
    if (a->span != b->span)
        return a->span < b->span;
    return a->i < b->i;
}

/* b follows a word for word, and is of the next unit in query order: the
 * query's words as they were typed, "ethnic Russians" in a plain query. */
static int in_sequence(const match *a, const match *b) { return b->first == a->last + 1 && b->unit == a->unit + 1; }

/* The best window over the unused matches; count 0 if none is left. */
static int best_window(const kz_results *r, match *m, size_t n, size_t max_chars, window *best)
{
    size_t nu = kz_results_unit_count(r);
    size_t *count = calloc(nu ? nu : 1, sizeof *count);
    if (!count)
        return kz_error_set(KZ_ENOMEM, "out of memory");
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
        double idf = 0;
        size_t j = i, pairs = 0;
        for (; i < end; i++) {
            while (j < end && (j == i || m[j].cend - m[i].cstart <= max_chars)) {
                if (count[m[j].unit]++ == 0)
                    idf += kz_results_unit(r, m[j].unit)->idf;
                pairs += j > i && in_sequence(&m[j - 1], &m[j]);
                j++;
            }
            window w = { i, j, idf, pairs, j - i, m[j - 1].cend - m[i].cstart };
            if (better(&w, best))
                *best = w;
            if (--count[m[i].unit] == 0)
                idf -= kz_results_unit(r, m[i].unit)->idf;
            pairs -= i + 1 < j && in_sequence(&m[i], &m[i + 1]);
        }
        for (size_t k = 0; k < nu; k++)
            count[k] = 0;
    }
    free(count);
    if (best->idf < 0)
        best->count = 0;
    return KZ_OK;
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

static int snippets(kz_snippet *out, size_t *n_out, size_t max_fragments, kz_index *ix, const kz_results *r,
                    const char *text, size_t len, size_t max_chars, const uint32_t *places, size_t n_places,
                    const kz_text_marks *marks)
{
    *n_out = 0;
    if (max_fragments == 0)
        return KZ_OK;
    memset(out, 0, max_fragments * sizeof *out);
    if (max_chars < 20)
        max_chars = 20;
    scan s = { 0 };
    match *m = NULL;
    size_t n = 0, made = 0;
    int rc = text_matches(&s, &m, &n, ix, r, text, len, places, n_places, marks, max_chars);
    if (rc)
        goto done;
    /* Character offsets of the matches, in one pass. */
    size_t byte = 0, chars = 0;
    for (size_t k = 0; k < n; k++) {
        chars += count_chars(text + byte, m[k].start - byte);
        byte = m[k].start;
        m[k].cstart = chars;
        chars += count_chars(text + byte, m[k].end - byte);
        byte = m[k].end;
        m[k].cend = chars;
        byte = m[k].start; /* phrases may overlap the next match */
        chars = m[k].cstart;
    }
    while (made < max_fragments) {
        window w;
        if ((rc = best_window(r, m, n, max_chars, &w)))
            goto done;
        size_t start, end;
        if (w.count == 0) {
            if (made > 0)
                break;
            widen(text, len, 0, 0, 0, max_chars, &start, &end); /* no match: the beginning */
        } else {
            size_t last = 0;
            for (size_t k = w.i; k < w.j; k++)
                if (m[k].end > last)
                    last = m[k].end;
            widen(text, len, m[w.i].start, last, w.span, max_chars, &start, &end);
        }
        /* Every match inside the passage is used up. */
        for (size_t k = 0; k < n; k++)
            if (m[k].start >= start && m[k].end <= end)
                m[k].used = 1;
        for (size_t k = w.i; k < w.j; k++)
            m[k].used = 1;
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
        sn->cut_before = sn->start > 0;
        sn->cut_after = sn->end < len;
        size_t cnt = 0;
        for (size_t k = 0; k < n; k++)
            cnt += m[k].start >= sn->start && m[k].end <= sn->end;
        sn->marks = malloc((cnt ? cnt : 1) * sizeof *sn->marks);
        if (!sn->marks) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
            goto done;
        }
        for (size_t k = 0; k < n; k++) {
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
    kz_tokvec_free(&s.tv);
    free(m);
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
    int rc = term_places(ix, r, docid, title, &places, &n_places);
    if (rc == KZ_OK)
        rc = highlight(out, n_out, ix, r, text, len, places, n_places);
    free(places);
    return rc;
}

int kz_snippets_make(kz_snippet *out, size_t *n_out, size_t max_fragments, kz_index *ix, const kz_results *r,
                     const char *text, size_t len, size_t max_chars)
{
    return snippets(out, n_out, max_fragments, ix, r, text, len, max_chars, NULL, 0, NULL);
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
    size_t n_places;
    *n_out = 0;
    memset(out, 0, max_fragments * sizeof *out);
    int rc = term_places(ix, r, docid, 0, &places, &n_places);
    if (rc == KZ_OK)
        rc = snippets(out, n_out, max_fragments, ix, r, text, len, max_chars, places, n_places, marks);
    free(places);
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
