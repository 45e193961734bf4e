/*
 * snippet.c: the passage that shows why a document matched.
 *
 * The text is analysed as the index analyses it, so a match is any token
 * whose stem is a query term ("Russians", "Russia's" for russian), with
 * its byte span in the original text. Among windows of at most max_chars
 * characters that start and end on a match, the best has
 *   1. the largest sum of idf over the distinct query terms it holds,
 *   2. then the most matches (density),
 *   3. then the earliest start.
 * The passage is then widened to max_chars: it starts at the beginning of
 * the sentence when that is close enough, else a little before the first
 * match on a word boundary, and ends on a word boundary.
 */
#include "kzint.h"

#include <stdlib.h>

typedef struct match {
    size_t start, end;   /* bytes */
    size_t cstart, cend; /* characters */
    size_t term;
} match;

typedef struct scan {
    const kz_results *r;
    match *m;
    size_t n, cap;
    int rc;
} scan;

static void on_token(void *ctx, const char *stem, size_t len, size_t start, size_t end)
{
    scan *s = ctx;
    if (s->rc)
        return;
    size_t nt = kz_results_term_count(s->r);
    for (size_t i = 0; i < nt; i++) {
        const char *t = kz_results_term(s->r, i);
        if (strlen(t) == len && memcmp(t, stem, len) == 0) {
            if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 64;
                match *p = realloc(s->m, cap * sizeof *p);
                if (!p) {
                    s->rc = kz_error_set(KZ_ENOMEM, "out of memory");
                    return;
                }
                s->m = p;
                s->cap = cap;
            }
            s->m[s->n++] = (match){ start, end, 0, 0, i };
            return;
        }
    }
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
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

int kz_snippet_make(kz_snippet *out, kz_index *ix, const kz_results *r, const char *text, size_t len,
                    size_t max_chars)
{
    memset(out, 0, sizeof *out);
    kz_index_info info;
    kz_index_get_info(ix, &info);
    if (max_chars < 20)
        max_chars = 20;
    scan s = { r, NULL, 0, 0, KZ_OK };
    int rc = kz_analyze(info.language, text, len, on_token, &s);
    if (rc || (rc = s.rc))
        goto done;
    /* Character offsets of the matches, in one pass. */
    size_t byte = 0, chars = 0;
    for (size_t k = 0; k < s.n; k++) {
        for (; byte < s.m[k].start; byte++)
            chars += !is_cont(text[byte]);
        s.m[k].cstart = chars;
        for (; byte < s.m[k].end; byte++)
            chars += !is_cont(text[byte]);
        s.m[k].cend = chars;
    }
    size_t nt = kz_results_term_count(r);
    size_t best_i = 0, best_j = 0, best_count = 0;
    double best_idf = -1;
    if (s.n > 0) {
        size_t *count = calloc(nt ? nt : 1, sizeof *count);
        if (!count) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
            goto done;
        }
        double idf = 0;
        size_t j = 0; /* window is matches [i, j) */
        for (size_t i = 0; i < s.n; i++) {
            while (j < s.n && s.m[j].cend - s.m[i].cstart <= max_chars) {
                if (count[s.m[j].term]++ == 0)
                    idf += kz_results_idf(r, s.m[j].term);
                j++;
            }
            if (j == i) { /* one match longer than the window */
                if (count[s.m[j].term]++ == 0)
                    idf += kz_results_idf(r, s.m[j].term);
                j++;
            }
            if (idf > best_idf || (idf == best_idf && j - i > best_count)) {
                best_idf = idf;
                best_count = j - i;
                best_i = i;
                best_j = j;
            }
            if (--count[s.m[i].term] == 0)
                idf -= kz_results_idf(r, s.m[i].term);
        }
        free(count);
    }
    size_t start, first = 0, last = 0;
    if (s.n > 0) {
        first = s.m[best_i].start;
        last = s.m[best_j - 1].end;
        size_t used = s.m[best_j - 1].cend - s.m[best_i].cstart;
        size_t spare = max_chars > used ? max_chars - used : 0;
        /* The sentence start, if it is within the spare characters. */
        size_t limit = back_chars(text, first, spare);
        start = first;
        size_t sentence = SIZE_MAX;
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
    } else {
        start = 0;
    }
    while (start < len && is_space(text[start]))
        start++;
    size_t end = advance_chars(text, len, start, max_chars);
    if (end < len) {
        size_t e = end;
        while (e > start && !is_space(text[e]))
            e--;
        if (e > last)
            end = e;
    }
    if (end < last)
        end = last;
    while (end > start && is_space(text[end - 1]))
        end--;
    out->start = start;
    out->end = end;
    out->cut_before = start > 0;
    out->cut_after = end < len;
    for (size_t k = 0; k < s.n; k++)
        if (s.m[k].start >= start && s.m[k].end <= end)
            out->n_marks++;
    out->marks = malloc((out->n_marks ? out->n_marks : 1) * sizeof *out->marks);
    if (!out->marks) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    out->n_marks = 0;
    for (size_t k = 0; k < s.n; k++)
        if (s.m[k].start >= start && s.m[k].end <= end)
            out->marks[out->n_marks++] = (kz_span){ s.m[k].start, s.m[k].end };
done:
    free(s.m);
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
