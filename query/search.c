/*
 * search.c: plain-word queries ranked by BM25, exactly.
 *
 * Scoring follows the README to the letter, so that anyone can recompute
 * it: idf(t) = ln(1 + (N - df + 0.5)/(df + 0.5)) and
 * w(t,d) = idf * tf / (tf + k1*((1 - b) + b*dl/avgdl)), evaluated in that
 * order in double precision; a document's score is 0 plus w of each
 * distinct query term it holds, added in query-term order; ties go to the
 * lower docid (the document indexed first).
 *
 * Evaluation here is the straightforward one: decode each term's docids,
 * intersect (AND) or accumulate term by term in query order (OR), then
 * sort. It is exact; the pruned evaluation of the query engine must give
 * the same results, and is tested against it.
 */
#include "kzint.h"
#include "format.h"

#include <math.h>
#include <stdlib.h>

#define MAX_QUERY_TERMS 1024

typedef struct qterm {
    char *text;
    size_t len;
    int found;
    double idf;
    kz_plist pl;
    uint32_t *docids;
} qterm;

struct kz_results {
    kz_mode mode;
    uint64_t total;
    kz_hit *hits;
    size_t n_hits;
    char **terms;
    double *idf; /* 0 for a term not in the index */
    size_t n_terms;
};

typedef struct collect {
    qterm *t;
    size_t n;
    int rc;
} collect;

static void collect_term(void *ctx, const char *stem, size_t len, size_t start, size_t end)
{
    collect *c = ctx;
    KZ_UNUSED(start);
    KZ_UNUSED(end);
    if (c->rc)
        return;
    for (size_t i = 0; i < c->n; i++)
        if (c->t[i].len == len && memcmp(c->t[i].text, stem, len) == 0)
            return; /* distinct terms, first occurrence decides the order */
    if (c->n == MAX_QUERY_TERMS) {
        c->rc = kz_error_set(KZ_ELIMIT, "query has more than %d distinct terms", MAX_QUERY_TERMS);
        return;
    }
    qterm *q = &c->t[c->n];
    memset(q, 0, sizeof *q);
    q->text = malloc(len + 1);
    if (!q->text) {
        c->rc = kz_error_set(KZ_ENOMEM, "out of memory");
        return;
    }
    memcpy(q->text, stem, len);
    q->text[len] = 0;
    q->len = len;
    c->n++;
}

static double bm25_idf(double n_docs, double df)
{
    return log(1.0 + (n_docs - df + 0.5) / (df + 0.5));
}

static double bm25_w(double idf, double tf, double dl, double avgdl, double k1, double b)
{
    return idf * tf / (tf + k1 * ((1.0 - b) + b * dl / avgdl));
}

static int cmp_hits(const void *x, const void *y)
{
    const kz_hit *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->docid < b->docid ? -1 : a->docid > b->docid;
}

/* First index i >= lo with a[i] >= v (galloping then binary search). */
static uint32_t gallop(const uint32_t *a, uint32_t n, uint32_t lo, uint32_t v)
{
    uint32_t step = 1, hi = lo;
    while (hi < n && a[hi] < v) {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    if (hi > n)
        hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int dl_of(kz_index *ix, uint32_t docid, double *dl)
{
    int rc = kz_file_verify(kz_index_file(ix), KZ_SEC_DOCS, (uint64_t)docid * KZ_DOC_SIZE, KZ_DOC_SIZE);
    if (rc)
        return rc;
    *dl = (double)kz_index_doc_length(ix, docid);
    return KZ_OK;
}

static int add_hit(kz_hit **hits, size_t *n, size_t *cap, uint32_t docid, double score)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        kz_hit *p = realloc(*hits, c * sizeof *p);
        if (!p)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        *hits = p;
        *cap = c;
    }
    (*hits)[(*n)++] = (kz_hit){ docid, score };
    return KZ_OK;
}

static int eval_and(kz_index *ix, qterm *t, size_t n, const kz_search_options *o, double avgdl,
                    kz_hit **hits, size_t *n_hits)
{
    size_t cap = 0;
    *n_hits = 0;
    if (n == 0)
        return KZ_OK;
    for (size_t i = 0; i < n; i++)
        if (!t[i].found)
            return KZ_OK;
    size_t shortest = 0;
    for (size_t i = 1; i < n; i++)
        if (t[i].pl.df < t[shortest].pl.df)
            shortest = i;
    uint32_t *at = calloc(n, sizeof *at);
    if (!at)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    int rc = KZ_OK;
    for (uint32_t k = 0; k < t[shortest].pl.df && rc == KZ_OK; k++) {
        uint32_t d = t[shortest].docids[k];
        int all = 1;
        for (size_t i = 0; i < n && all; i++) {
            if (i == shortest) {
                at[i] = k;
                continue;
            }
            at[i] = gallop(t[i].docids, t[i].pl.df, at[i], d);
            all = at[i] < t[i].pl.df && t[i].docids[at[i]] == d;
        }
        if (!all)
            continue;
        double dl, score = 0;
        if ((rc = dl_of(ix, d, &dl)))
            break;
        for (size_t i = 0; i < n; i++)
            score += bm25_w(t[i].idf, (double)kz_plist_tf(&t[i].pl, at[i]), dl, avgdl, o->k1, o->b);
        rc = add_hit(hits, n_hits, &cap, d, score);
    }
    free(at);
    return rc;
}

static int eval_or(kz_index *ix, qterm *t, size_t n, const kz_search_options *o, double avgdl,
                   uint64_t n_docs, kz_hit **hits, size_t *n_hits)
{
    size_t cap = 0;
    *n_hits = 0;
    double *acc = calloc(n_docs ? n_docs : 1, sizeof *acc);
    uint8_t *seen = calloc(n_docs ? n_docs : 1, 1);
    int rc = KZ_OK;
    if (!acc || !seen) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    /* Term at a time, in query order: each document's sum is built in the
     * order the specification gives. */
    for (size_t i = 0; i < n && rc == KZ_OK; i++) {
        if (!t[i].found)
            continue;
        for (uint32_t k = 0; k < t[i].pl.df; k++) {
            uint32_t d = t[i].docids[k];
            double dl;
            if ((rc = dl_of(ix, d, &dl)))
                break;
            acc[d] += bm25_w(t[i].idf, (double)kz_plist_tf(&t[i].pl, k), dl, avgdl, o->k1, o->b);
            seen[d] = 1;
        }
    }
    for (uint64_t d = 0; d < n_docs && rc == KZ_OK; d++)
        if (seen[d])
            rc = add_hit(hits, n_hits, &cap, (uint32_t)d, acc[d]);
done:
    free(acc);
    free(seen);
    return rc;
}

int kz_search(kz_results **out, kz_index *ix, const char *query, size_t len, const kz_search_options *opts)
{
    int rc;
    *out = NULL;
    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
    if (opts) {
        if (opts->version != KZ_SEARCH_OPTIONS_VERSION)
            return kz_error_set(KZ_EINVAL, "kz_search_options version %u, expected %u", opts->version,
                                KZ_SEARCH_OPTIONS_VERSION);
        o = *opts;
    }
    if (o.limit == 0)
        o.limit = 10;
    if (o.k1 <= 0)
        o.k1 = KZ_BM25_K1;
    if (o.b < 0)
        o.b = KZ_BM25_B;
    if (o.b > 1 || !isfinite(o.k1) || !isfinite(o.b))
        return kz_error_set(KZ_EINVAL, "BM25 needs k1 > 0 and 0 <= b <= 1");
    kz_index_info info;
    kz_index_get_info(ix, &info);

    kz_results *r = calloc(1, sizeof *r);
    collect c = { calloc(MAX_QUERY_TERMS, sizeof(qterm)), 0, KZ_OK };
    kz_hit *hits = NULL;
    size_t n_hits = 0;
    if (!r || !c.t) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = kz_analyze(info.language, query, len, collect_term, &c)) || (rc = c.rc))
        goto done;
    for (size_t i = 0; i < c.n; i++) {
        kz_term term;
        rc = kz_index_term(ix, &term, c.t[i].text, c.t[i].len);
        if (rc == KZ_ENOTFOUND) {
            rc = KZ_OK;
            continue;
        }
        if (rc || (rc = kz_index_plist(ix, &c.t[i].pl, term.ordinal)))
            goto done;
        c.t[i].found = 1;
        c.t[i].idf = bm25_idf((double)info.docs, (double)c.t[i].pl.df);
        c.t[i].docids = malloc((size_t)c.t[i].pl.df * sizeof(uint32_t));
        if (!c.t[i].docids) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
            goto done;
        }
        if ((rc = kz_plist_docids(&c.t[i].pl, c.t[i].docids)))
            goto done;
    }
    r->mode = o.mode == KZ_MODE_ANY ? KZ_MODE_ANY : KZ_MODE_ALL;
    if (o.mode == KZ_MODE_ANY)
        rc = eval_or(ix, c.t, c.n, &o, info.avgdl, info.docs, &hits, &n_hits);
    else
        rc = eval_and(ix, c.t, c.n, &o, info.avgdl, &hits, &n_hits);
    if (rc == KZ_OK && n_hits == 0 && o.mode == KZ_MODE_AUTO && c.n > 1) {
        r->mode = KZ_MODE_ANY;
        rc = eval_or(ix, c.t, c.n, &o, info.avgdl, info.docs, &hits, &n_hits);
    }
    if (rc)
        goto done;
    if (n_hits > 1)
        qsort(hits, n_hits, sizeof *hits, cmp_hits);
    r->total = n_hits;
    size_t from = KZ_MIN((size_t)o.offset, n_hits);
    r->n_hits = KZ_MIN((size_t)o.limit, n_hits - from);
    r->hits = malloc((r->n_hits ? r->n_hits : 1) * sizeof *r->hits);
    r->terms = calloc(c.n ? c.n : 1, sizeof *r->terms);
    r->idf = calloc(c.n ? c.n : 1, sizeof *r->idf);
    if (!r->hits || !r->terms || !r->idf) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    if (r->n_hits)
        memcpy(r->hits, hits + from, r->n_hits * sizeof *r->hits);
    for (size_t i = 0; i < c.n; i++) {
        r->terms[i] = c.t[i].text;
        c.t[i].text = NULL;
        r->idf[i] = c.t[i].idf;
    }
    r->n_terms = c.n;
done:
    for (size_t i = 0; c.t && i < c.n; i++) {
        free(c.t[i].text);
        free(c.t[i].docids);
        if (c.t[i].found)
            kz_plist_close(&c.t[i].pl);
    }
    free(c.t);
    free(hits);
    if (rc) {
        kz_results_free(r);
        return rc;
    }
    *out = r;
    return KZ_OK;
}

void kz_results_free(kz_results *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->terms && i < r->n_terms; i++)
        free(r->terms[i]);
    free(r->terms);
    free(r->idf);
    free(r->hits);
    free(r);
}

size_t kz_results_count(const kz_results *r) { return r->n_hits; }
uint64_t kz_results_total(const kz_results *r) { return r->total; }
const kz_hit *kz_results_hit(const kz_results *r, size_t i) { return i < r->n_hits ? &r->hits[i] : NULL; }
kz_mode kz_results_mode(const kz_results *r) { return r->mode; }
size_t kz_results_term_count(const kz_results *r) { return r->n_terms; }
const char *kz_results_term(const kz_results *r, size_t i) { return i < r->n_terms ? r->terms[i] : NULL; }
double kz_results_idf(const kz_results *r, size_t i) { return i < r->n_terms ? r->idf[i] : 0.0; }
