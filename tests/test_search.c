/*
 * test_search.c: ranking against a brute-force BM25, and snippets.
 *
 * The scorer here is written from the README's formula alone: it counts
 * tf and dl itself from the analysed text (kz_analyze), computes df, N and
 * avgdl, and sums w over the distinct query terms in query order. Every
 * hit of every random query must come back in its order, with its score
 * to 1e-9 relative, in AND, OR and AUTO modes, with offsets and limits.
 */
#include "kzint.h"
#include "test.h"

#include <math.h>

#define N_DOCS 400
#define VOCAB 40
#define MAX_STEMS 64

static const char *words[VOCAB] = {
    "russia", "russians", "kazakhstan", "border", "ethnic", "steppe", "oil", "grain", "moscow", "astana",
    "tokayev", "putin", "treaty", "language", "minority", "war", "peace", "trade", "pipeline", "election",
    "protest", "army", "church", "school", "river", "city", "village", "market", "price", "bank",
    "energy", "uranium", "railway", "port", "ship", "news", "report", "history", "empire", "union"
};

typedef struct mdoc {
    char id[16];
    char *text;
    uint32_t dl;
    uint32_t tf[MAX_STEMS]; /* by stem index */
} mdoc;

static char stems[MAX_STEMS][32];
static int n_stems;

static int stem_index(const char *s, size_t len)
{
    for (int i = 0; i < n_stems; i++)
        if (strlen(stems[i]) == len && memcmp(stems[i], s, len) == 0)
            return i;
    if (n_stems == MAX_STEMS || len >= sizeof stems[0])
        return -1;
    memcpy(stems[n_stems], s, len);
    stems[n_stems][len] = 0;
    return n_stems++;
}

static void count_token(void *ctx, const char *stem, size_t len, size_t start, size_t end)
{
    mdoc *d = ctx;
    KZ_UNUSED(start);
    KZ_UNUSED(end);
    int i = stem_index(stem, len);
    if (i >= 0)
        d->tf[i]++;
    d->dl++;
}

typedef struct qstems {
    int v[8];
    int n;
} qstems;

static void query_token(void *ctx, const char *stem, size_t len, size_t start, size_t end)
{
    qstems *q = ctx;
    KZ_UNUSED(start);
    KZ_UNUSED(end);
    int i = stem_index(stem, len);
    for (int k = 0; k < q->n; k++)
        if (q->v[k] == i)
            return; /* distinct terms, first occurrence */
    if (q->n < 8)
        q->v[q->n++] = i;
}

typedef struct ref_hit {
    uint32_t docid;
    double score;
} ref_hit;

static int cmp_ref(const void *x, const void *y)
{
    const ref_hit *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->docid < b->docid ? -1 : a->docid > b->docid;
}

/* The reference: the README's BM25, written out plainly. */
static size_t reference(const mdoc *docs, const qstems *q, int all, double k1, double b, ref_hit *out)
{
    double n = N_DOCS, total = 0;
    for (int d = 0; d < N_DOCS; d++)
        total += docs[d].dl;
    double avgdl = total / n;
    size_t hits = 0;
    for (int d = 0; d < N_DOCS; d++) {
        int has = 0, missing = 0;
        double score = 0;
        for (int k = 0; k < q->n; k++) {
            int t = q->v[k];
            uint32_t tf = t >= 0 ? docs[d].tf[t] : 0;
            if (!tf) {
                missing = 1;
                continue;
            }
            double df = 0;
            for (int e = 0; e < N_DOCS; e++)
                df += docs[e].tf[t] > 0;
            double idf = log(1 + (n - df + 0.5) / (df + 0.5));
            score += idf * tf / (tf + k1 * ((1 - b) + b * docs[d].dl / avgdl));
            has = 1;
        }
        if (has && !(all && missing))
            out[hits++] = (ref_hit){ (uint32_t)d, score };
    }
    qsort(out, hits, sizeof *out, cmp_ref);
    return hits;
}

static void compare(kz_index *ix, const mdoc *docs, const char *query, kz_mode mode, double k1, double b,
                    uint32_t offset, uint32_t limit)
{
    qstems q = { { 0 }, 0 };
    kz_analyze(NULL, query, strlen(query), query_token, &q);
    static ref_hit ref[N_DOCS];
    size_t n_ref = reference(docs, &q, mode != KZ_MODE_ANY, k1, b, ref);
    size_t n_all_words = mode == KZ_MODE_ANY ? 0 : n_ref;
    kz_mode used = mode == KZ_MODE_ANY ? KZ_MODE_ANY : KZ_MODE_ALL;
    if (mode == KZ_MODE_AUTO && q.n > 1) {
        /* The AND ranking, then the rest of the OR ranking. */
        static ref_hit any[N_DOCS];
        size_t n_any = reference(docs, &q, 0, k1, b, any);
        for (size_t i = 0; i < n_any; i++) {
            int in_all = 0;
            for (size_t j = 0; j < n_all_words && !in_all; j++)
                in_all = ref[j].docid == any[i].docid;
            if (!in_all)
                ref[n_ref++] = any[i];
        }
        if (n_ref > n_all_words)
            used = KZ_MODE_ANY;
    }
    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
    o.flags = KZ_SEARCH_NO_COLLAPSE; /* exact ranking: compared with brute force */
    o.mode = mode;
    o.k1 = k1;
    o.b = b;
    o.offset = offset;
    o.limit = limit;
    kz_results *r;
    CHECK_OK(kz_search(&r, ix, query, strlen(query), &o));
    if (!r)
        return;
    CHECK_MSG(kz_results_total(r) == n_ref, "\"%s\" mode %d: %llu hits, reference %zu", query, mode,
              (unsigned long long)kz_results_total(r), n_ref);
    if (n_ref)
        CHECK_MSG(kz_results_mode(r) == used, "\"%s\": mode %d used, reference %d", query,
                  kz_results_mode(r), used);
    CHECK_MSG(kz_results_total_all_words(r) == n_all_words, "\"%s\" mode %d: %llu with every word, reference %zu",
              query, mode, (unsigned long long)kz_results_total_all_words(r), n_all_words);
    size_t want = offset < n_ref ? KZ_MIN((size_t)limit, n_ref - offset) : 0;
    CHECK_INT(kz_results_count(r), want);
    for (size_t i = 0; i < kz_results_count(r) && i < want; i++) {
        const kz_hit *h = kz_results_hit(r, i);
        const ref_hit *e = &ref[offset + i];
        double rel = fabs(h->score - e->score) / (fabs(e->score) > 0 ? fabs(e->score) : 1);
        CHECK_MSG(h->docid == e->docid && rel <= 1e-9,
                  "\"%s\" mode %d hit %zu: doc %u score %.17g, reference doc %u score %.17g", query, mode,
                  offset + i, h->docid, h->score, e->docid, e->score);
    }
    kz_results_free(r);
    /* Counting alone gives the same total and no hits. */
    o.flags = KZ_SEARCH_COUNT_ONLY;
    CHECK_OK(kz_search(&r, ix, query, strlen(query), &o));
    if (!r)
        return;
    CHECK_MSG(kz_results_total(r) == n_ref, "\"%s\" mode %d count only: %llu hits, reference %zu", query, mode,
              (unsigned long long)kz_results_total(r), n_ref);
    CHECK_INT(kz_results_count(r), 0);
    kz_results_free(r);
}

static void test_bm25_against_reference(void)
{
    uint64_t rng = kz_test_seed();
    static mdoc docs[N_DOCS];
    char *dir = kz_test_temp_dir();
    kz_builder *b;
    CHECK_OK(kz_builder_new(&b, dir, NULL));
    for (int d = 0; d < N_DOCS; d++) {
        kz_buf text = { 0 };
        size_t n = 1 + kz_test_rand(&rng) % 60;
        for (size_t i = 0; i < n; i++) {
            /* Skewed: low word numbers are common. */
            uint64_t r = kz_test_rand(&rng) % (VOCAB * VOCAB);
            const char *w = words[(size_t)sqrt((double)r)];
            kz_buf_printf(&text, "%s%s", i ? " " : "", w);
        }
        kz_buf_terminate(&text);
        mdoc *m = &docs[d];
        memset(m, 0, sizeof *m);
        snprintf(m->id, sizeof m->id, "d%d", d);
        m->text = (char *)text.data;
        kz_analyze(NULL, m->text, text.len, count_token, m);
        CHECK_OK(kz_builder_add_document(b, m->id, strlen(m->id), "", 0, m->text, text.len, NULL, 0));
    }
    CHECK_OK(kz_builder_commit(b, NULL));
    kz_builder_free(b);
    kz_index *ix;
    CHECK_OK(kz_index_open(&ix, dir));
    if (ix) {
        for (int k = 0; k < 150; k++) {
            char query[256] = "";
            int nw = 1 + (int)(kz_test_rand(&rng) % 4);
            for (int i = 0; i < nw; i++) {
                strcat(query, i ? " " : "");
                strcat(query, words[kz_test_rand(&rng) % VOCAB]);
            }
            if (k % 10 == 0)
                strcat(query, " zzzunknown"); /* a term no document has */
            compare(ix, docs, query, KZ_MODE_ALL, 1.2, 0.75, 0, N_DOCS);
            compare(ix, docs, query, KZ_MODE_ANY, 1.2, 0.75, 0, N_DOCS);
            compare(ix, docs, query, KZ_MODE_AUTO, 1.2, 0.75, 0, N_DOCS);
            compare(ix, docs, query, KZ_MODE_ANY, 0.9, 0.4, (uint32_t)(k % 7), 10);
            compare(ix, docs, query, KZ_MODE_ANY, 2.0, 0.0, 0, 5);
        }
        kz_index_free(ix);
    }
    for (int d = 0; d < N_DOCS; d++)
        free(docs[d].text);
    kz_test_remove_tree(dir);
    free(dir);
}

/* --sort by a date field, against the unsorted hits reordered here: by
 * the document's latest date (as y*10000 + m*100 + d from the values
 * written), undated last, then score, then docid. */
typedef struct sorted_ref {
    int key; /* -1: no date */
    double score;
    uint32_t docid;
} sorted_ref;

static int sort_desc_ref;

static int cmp_sorted_ref(const void *x, const void *y)
{
    const sorted_ref *a = x, *b = y;
    if (a->key != b->key) {
        if (a->key < 0 || b->key < 0)
            return a->key < 0 ? 1 : -1;
        return (sort_desc_ref ? a->key < b->key : a->key > b->key) ? 1 : -1;
    }
    if (a->score != b->score)
        return a->score < b->score ? 1 : -1;
    return a->docid < b->docid ? -1 : a->docid > b->docid;
}

static void test_sort_by_date(void)
{
    uint64_t rng = kz_test_seed() + 7;
    enum { N = 300 };
    static int key[N];
    char first_day[16] = "9999", last_day[16] = "";
    char *dir = kz_test_temp_dir();
    kz_builder *b;
    CHECK_OK(kz_builder_new(&b, dir, NULL));
    for (int d = 0; d < N; d++) {
        char text[512] = "", id[16], dates[2][16];
        int n = 1 + (int)(kz_test_rand(&rng) % 12);
        for (int i = 0; i < n; i++) {
            strcat(text, i ? " " : "");
            strcat(text, words[(size_t)sqrt((double)(kz_test_rand(&rng) % (VOCAB * VOCAB)))]);
        }
        snprintf(id, sizeof id, "s%d", d);
        int n_dates = kz_test_rand(&rng) % 6 == 0 ? 0 : kz_test_rand(&rng) % 5 == 0 ? 2 : 1;
        kz_doc_field meta[2];
        key[d] = -1;
        for (int k = 0; k < n_dates; k++) {
            int y = 2020 + (int)(kz_test_rand(&rng) % 3), m = 1 + (int)(kz_test_rand(&rng) % 12);
            int dd = 1 + (int)(kz_test_rand(&rng) % 28);
            snprintf(dates[k], sizeof dates[k], "%04d-%02d-%02d", y, m, dd);
            meta[k] = (kz_doc_field){ "date", 4, dates[k], strlen(dates[k]) };
            if (y * 10000 + m * 100 + dd > key[d])
                key[d] = y * 10000 + m * 100 + dd;
            if (strcmp(dates[k], first_day) < 0)
                memcpy(first_day, dates[k], sizeof first_day);
            if (strcmp(dates[k], last_day) > 0)
                memcpy(last_day, dates[k], sizeof last_day);
        }
        CHECK_OK(kz_builder_add_document(b, id, strlen(id), "", 0, text, strlen(text), meta, (size_t)n_dates));
    }
    CHECK_OK(kz_builder_commit(b, NULL));
    kz_builder_free(b);
    kz_index *ix;
    CHECK_OK(kz_index_open(&ix, dir));
    kz_field_info *fields = NULL;
    size_t n_fields = 0;
    CHECK_OK(ix ? kz_index_fields(ix, &fields, &n_fields) : KZ_OK);
    CHECK_INT(n_fields, 1);
    if (n_fields == 1) { /* the first and last day of the field */
        CHECK_STR(fields[0].name, "date");
        CHECK(fields[0].has_dates && !fields[0].has_numbers && fields[0].keywords == 0);
        CHECK_STR(fields[0].first_day, first_day);
        CHECK_STR(fields[0].last_day, last_day);
    }
    kz_field_infos_free(fields, n_fields);
    static sorted_ref ref[N];
    for (int k = 0; ix && k < 60; k++) {
        char query[128] = "";
        int nw = 1 + (int)(kz_test_rand(&rng) % 3);
        for (int i = 0; i < nw; i++) {
            strcat(query, i ? " " : "");
            strcat(query, words[kz_test_rand(&rng) % VOCAB]);
        }
        kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
        o.flags = KZ_SEARCH_NO_COLLAPSE; /* exact ranking: compared with brute force */
        o.mode = KZ_MODE_ANY;
        o.limit = N;
        kz_results *all;
        CHECK_OK(kz_search(&all, ix, query, strlen(query), &o));
        if (!all)
            continue;
        size_t n = kz_results_count(all);
        for (size_t i = 0; i < n; i++) {
            const kz_hit *h = kz_results_hit(all, i);
            ref[i] = (sorted_ref){ key[h->docid], h->score, h->docid };
        }
        kz_results_free(all);
        sort_desc_ref = k % 2;
        qsort(ref, n, sizeof *ref, cmp_sorted_ref);
        o.sort_field = "date";
        o.sort_descending = sort_desc_ref;
        o.offset = (uint32_t)(kz_test_rand(&rng) % 4);
        o.limit = 1 + (uint32_t)(kz_test_rand(&rng) % 12);
        kz_results *r;
        CHECK_OK(kz_search(&r, ix, query, strlen(query), &o));
        if (!r)
            continue;
        CHECK_INT(kz_results_total(r), n);
        size_t want = o.offset < n ? KZ_MIN((size_t)o.limit, n - o.offset) : 0;
        CHECK_INT(kz_results_count(r), want);
        for (size_t i = 0; i < kz_results_count(r) && i < want; i++) {
            const kz_hit *h = kz_results_hit(r, i);
            const sorted_ref *e = &ref[o.offset + i];
            CHECK_MSG(h->docid == e->docid && h->score == e->score,
                      "\"%s\" sorted %s, hit %zu: docid %u score %.17g, expected %u %.17g", query,
                      sort_desc_ref ? "newest first" : "oldest first", i, h->docid, h->score, e->docid, e->score);
        }
        kz_results_free(r);
    }
    kz_index_free(ix);
    kz_test_remove_tree(dir);
    free(dir);
}

/* A number value as a user might write it: an integer, a decimal, an
 * exponent, a sign; *v is the number it is (as strtod reads the text). */
static void number_text(uint64_t *rng, char *out, size_t size, double *v)
{
    static const char *const fixed[] = { "0", "-0", "+7", "1e3", "1000", "-1.5e-3", "123456789012", "0.1", "-250" };
    unsigned r = (unsigned)(kz_test_rand(rng) % 10);
    if (r == 0)
        snprintf(out, size, "%s", fixed[kz_test_rand(rng) % (sizeof fixed / sizeof *fixed)]);
    else if (r < 5)
        snprintf(out, size, "%d", (int)(kz_test_rand(rng) % 101) - 50);
    else if (r < 8)
        snprintf(out, size, "%.2f", ((double)(kz_test_rand(rng) % 20001) - 10000) / 100.0);
    else
        snprintf(out, size, "%.3e", ((double)(kz_test_rand(rng) % 2001) - 1000) * pow(10, (int)(kz_test_rand(rng) % 13) - 6));
    *v = strtod(out, NULL);
}

/* Number fields (FORMAT.md "Field terms", kind n): n:X, n:A..B, n>=X, n>X,
 * n<=X, n<X and their negations, over two segments, against every
 * document's values compared as doubles here. Values are written as
 * integers, decimals and exponents, 0 to 2 a document, beside keywords that
 * are no numbers; the bounds of the queries are the documents' own values
 * (written another way), numbers between and beyond them, and open ends. */
static void test_number_ranges(void)
{
    uint64_t rng = kz_test_seed() + 11;
    enum { N = 400, MAX_VALUES = 2 };
    static double value[N][MAX_VALUES];
    static int n_values[N];
    char *dir = kz_test_temp_dir();
    for (int part = 0; part < 2; part++) {
        kz_build_options bo = KZ_BUILD_OPTIONS_INIT;
        bo.mode = part ? KZ_BUILD_ADD : KZ_BUILD_REPLACE;
        kz_builder *b;
        CHECK_OK(kz_builder_new(&b, dir, &bo));
        for (int d = part * N / 2; d < (part + 1) * N / 2; d++) {
            char text[256], id[16], vals[MAX_VALUES + 1][40];
            snprintf(text, sizeof text, "common %s %s", words[kz_test_rand(&rng) % VOCAB],
                     words[kz_test_rand(&rng) % VOCAB]);
            snprintf(id, sizeof id, "d%d", d);
            kz_doc_field meta[MAX_VALUES + 1];
            size_t n_meta = 0;
            n_values[d] = (int)(kz_test_rand(&rng) % (MAX_VALUES + 1));
            for (int k = 0; k < n_values[d]; k++) {
                number_text(&rng, vals[k], sizeof vals[k], &value[d][k]);
                meta[n_meta++] = (kz_doc_field){ "n", 1, vals[k], strlen(vals[k]) };
            }
            if (kz_test_rand(&rng) % 8 == 0) /* a keyword of the field, no number */
                meta[n_meta++] = (kz_doc_field){ "n", 1, "n/a", 3 };
            CHECK_OK(kz_builder_add_document(b, id, strlen(id), "", 0, text, strlen(text), meta, n_meta));
        }
        CHECK_OK(kz_builder_commit(b, NULL));
        kz_builder_free(b);
    }
    kz_index *ix;
    CHECK_OK(kz_index_open(&ix, dir));
    static const char *const ops[] = { ":", ">=", ">", "<=", "<", ":..", ":A..", ":..B" };
    for (int k = 0; ix && k < 400; k++) {
        /* Two bounds: a document's value, one between or beyond, written anew. */
        double bound[2];
        char text[2][48];
        for (int j = 0; j < 2; j++) {
            int d = (int)(kz_test_rand(&rng) % N);
            unsigned how = (unsigned)(kz_test_rand(&rng) % 4);
            if (how < 2 && n_values[d]) {
                double v = value[d][kz_test_rand(&rng) % (size_t)n_values[d]];
                snprintf(text[j], sizeof text[j], how ? "%.17g" : "%.17e", v);
            } else {
                number_text(&rng, text[j], sizeof text[j], &bound[j]);
                if (how == 3)
                    snprintf(text[j], sizeof text[j], "%.17g", nextafter(bound[j], kz_test_rand(&rng) % 2 ? 1e300 : -1e300));
            }
            bound[j] = strtod(text[j], NULL);
        }
        const char *op = ops[kz_test_rand(&rng) % (sizeof ops / sizeof *ops)];
        int negate = kz_test_rand(&rng) % 4 == 0;
        char query[160];
        const char *word = kz_test_rand(&rng) % 2 ? "common" : words[kz_test_rand(&rng) % VOCAB];
        if (strcmp(op, ":..") == 0)
            snprintf(query, sizeof query, "%s %sn:%s..%s", word, negate ? "-" : "", text[0], text[1]);
        else if (strcmp(op, ":A..") == 0)
            snprintf(query, sizeof query, "%s %sn:%s..", word, negate ? "-" : "", text[0]);
        else if (strcmp(op, ":..B") == 0)
            snprintf(query, sizeof query, "%s %sn:..%s", word, negate ? "-" : "", text[1]);
        else
            snprintf(query, sizeof query, "%s %sn%s%s", word, negate ? "-" : "", op, text[0]);
        /* The model: some value of the document in the range. */
        static uint8_t want[N];
        size_t n_want = 0;
        for (int d = 0; d < N; d++) {
            int in = 0;
            for (int j = 0; j < n_values[d] && !in; j++) {
                double v = value[d][j];
                if (strcmp(op, ":") == 0)
                    in = v == bound[0];
                else if (strcmp(op, ">=") == 0)
                    in = v >= bound[0];
                else if (strcmp(op, ">") == 0)
                    in = v > bound[0];
                else if (strcmp(op, "<=") == 0)
                    in = v <= bound[0];
                else if (strcmp(op, "<") == 0)
                    in = v < bound[0];
                else if (strcmp(op, ":..") == 0)
                    in = v >= bound[0] && v <= bound[1];
                else if (strcmp(op, ":A..") == 0)
                    in = v >= bound[0];
                else
                    in = v <= bound[1];
            }
            want[d] = in != negate;
        }
        kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
        o.flags = KZ_SEARCH_NO_COLLAPSE;
        o.mode = KZ_MODE_ALL;
        o.limit = N;
        kz_results *r = NULL;
        int rc = kz_search(&r, ix, query, strlen(query), &o);
        CHECK_MSG(rc == KZ_OK, "\"%s\": %s", query, kz_last_error());
        if (rc != KZ_OK)
            continue;
        /* The documents of the word that pass, by the model. */
        kz_results *plain = NULL;
        CHECK_OK(kz_search(&plain, ix, word, strlen(word), &o));
        size_t h = 0, bad = 0;
        for (size_t i = 0; plain && i < kz_results_count(plain); i++) {
            const kz_hit *x = kz_results_hit(plain, i);
            kz_doc doc;
            CHECK_OK(kz_index_doc(ix, &doc, x->docid, NULL, 0));
            int d = 0;
            for (size_t c = 1; c < doc.id_len && doc.id[c] >= '0' && doc.id[c] <= '9'; c++)
                d = d * 10 + (doc.id[c] - '0');
            if (d < 0 || d >= N || !want[d])
                continue;
            n_want++;
            const kz_hit *y = h < kz_results_count(r) ? kz_results_hit(r, h) : NULL;
            bad += !y || y->docid != x->docid || y->score != x->score;
            h++;
        }
        CHECK_MSG(bad == 0 && n_want == kz_results_total(r), "\"%s\": %llu hits, %zu expected, %zu differ", query,
                  (unsigned long long)kz_results_total(r), n_want, bad);
        kz_results_free(plain);
        kz_results_free(r);
    }
    /* The field as kz_index_fields lists it: its least and greatest numbers
     * over both segments, and its keywords. */
    double lo = INFINITY, hi = -INFINITY;
    for (int d = 0; d < N; d++)
        for (int j = 0; j < n_values[d]; j++) {
            lo = fmin(lo, value[d][j]);
            hi = fmax(hi, value[d][j]);
        }
    kz_field_info *fields = NULL;
    size_t n_fields = 0;
    CHECK_OK(kz_index_fields(ix, &fields, &n_fields));
    CHECK_INT(n_fields, 1);
    if (n_fields == 1) {
        CHECK_STR(fields[0].name, "n");
        CHECK(fields[0].has_numbers && !fields[0].has_dates && fields[0].keywords > 0);
        CHECK_MSG(fields[0].min == (lo == 0 ? 0 : lo) && fields[0].max == (hi == 0 ? 0 : hi),
                  "numbers %.17g .. %.17g, expected %.17g .. %.17g", fields[0].min, fields[0].max, lo, hi);
    }
    kz_field_infos_free(fields, n_fields);
    /* Sorted by n: by each document's greatest number, either way, those
     * without one last; ties by score, then docid. Against the model. */
    for (int desc = 0; ix && desc < 2; desc++) {
        kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
        o.flags = KZ_SEARCH_NO_COLLAPSE;
        o.mode = KZ_MODE_ALL;
        o.limit = N;
        kz_results *plain = NULL, *sorted = NULL;
        CHECK_OK(kz_search(&plain, ix, "common", 6, &o));
        o.sort_field = "n";
        o.sort_descending = desc;
        CHECK_OK(kz_search(&sorted, ix, "common", 6, &o));
        if (!plain || !sorted)
            break;
        size_t n = kz_results_count(plain);
        CHECK_INT(kz_results_count(sorted), n);
        struct num_hit {
            int has;
            double v, score;
            uint32_t docid;
        } *want = calloc(n, sizeof *want);
        for (size_t i = 0; i < n; i++) {
            const kz_hit *x = kz_results_hit(plain, i);
            kz_doc doc;
            CHECK_OK(kz_index_doc(ix, &doc, x->docid, NULL, 0));
            int d = atoi(doc.id + 1);
            want[i] = (struct num_hit){ 0, -INFINITY, x->score, x->docid };
            for (int j = 0; d >= 0 && d < N && j < n_values[d]; j++)
                if (!want[i].has || value[d][j] > want[i].v)
                    want[i].has = 1, want[i].v = value[d][j];
        }
        /* Insertion sort by the model's order (n is a few hundred). */
        for (size_t i = 1; i < n; i++) {
            struct num_hit x = want[i];
            size_t j = i;
            for (; j > 0; j--) {
                const struct num_hit *y = &want[j - 1];
                int x_first = x.has != y->has ? x.has
                              : x.has && x.v != y->v ? (desc ? x.v > y->v : x.v < y->v)
                              : x.score != y->score ? x.score > y->score
                                                    : x.docid < y->docid;
                if (!x_first)
                    break;
                want[j] = want[j - 1];
            }
            want[j] = x;
        }
        size_t bad = 0;
        for (size_t i = 0; i < n && i < kz_results_count(sorted); i++)
            bad += kz_results_hit(sorted, i)->docid != want[i].docid;
        CHECK_MSG(bad == 0, "--sort %sn: %zu of %zu hits out of the model's order", desc ? "-" : "", bad, n);
        free(want);
        kz_results_free(plain);
        kz_results_free(sorted);
    }
    /* Not numbers: a syntax error with its column, and the keyword still found. */
    kz_results *r = NULL;
    CHECK_INT(kz_search(&r, ix, "common n>=abc", 13, NULL), KZ_ESYNTAX);
    kz_results_free(r);
    r = NULL;
    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
    o.flags = KZ_SEARCH_NO_COLLAPSE;
    CHECK_OK(kz_search(&r, ix, "common n:n/a", 12, &o));
    CHECK(r && kz_results_total(r) > 0);
    kz_results_free(r);
    kz_index_free(ix);
    kz_test_remove_tree(dir);
    free(dir);
}

/* Whether doc's stems hold phrase's one after another; with a prefix,
 * whether one begins with it or is phrase's one stem (README "Query
 * language": immune* finds immun). */
static int seq_has(const kz_test_stems *doc, const kz_test_stems *phrase, const char *prefix)
{
    for (size_t i = 0; i + phrase->n <= doc->n; i++) {
        if (prefix && strncmp(doc->v[i], prefix, strlen(prefix)) == 0)
            return 1;
        size_t j = 0;
        while (j < phrase->n && strcmp(doc->v[i + j], phrase->v[j]) == 0)
            j++;
        if (j == phrase->n && phrase->n > 0)
            return 1;
    }
    return 0;
}

/* Declared field types (kz_build_options.field_types): a text field
 * found by its words, phrases and prefixes; a keyword field whose values
 * read as dates, found whole; a date field whose other values are
 * reported and kept as keywords. Each against a model of the values,
 * over two segments, the second added without declaring the types again
 * (the manifest keeps them), and then merged into one: the hits are the
 * plain query's that pass, with their scores. */
static void test_field_types(void)
{
    uint64_t rng = kz_test_seed() + 13;
    enum { N = 300 };
    static kz_test_stems summary[N];
    static char zip[N][16];
    static int dated[N];
    char *dir = kz_test_temp_dir();
    static const kz_field_type_spec types[] = {
        { "summary", KZ_FIELD_TYPE_TEXT }, { "zip", KZ_FIELD_TYPE_KEYWORD }, { "when", KZ_FIELD_TYPE_DATE }
    };
    uint64_t reported = 0, expect_reported = 0;
    for (int part = 0; part < 2; part++) {
        kz_build_options bo = KZ_BUILD_OPTIONS_INIT;
        bo.mode = part ? KZ_BUILD_ADD : KZ_BUILD_REPLACE;
        if (!part) {
            bo.field_types = types;
            bo.n_field_types = sizeof types / sizeof *types;
        }
        kz_builder *b;
        CHECK_OK(kz_builder_new(&b, dir, &bo));
        for (int d = part * N / 2; d < (part + 1) * N / 2; d++) {
            char text[256], id[16], sum[256] = "", when[32];
            snprintf(text, sizeof text, "common %s %s", words[kz_test_rand(&rng) % VOCAB],
                     words[kz_test_rand(&rng) % VOCAB]);
            snprintf(id, sizeof id, "d%d", d);
            int n_words = 1 + (int)(kz_test_rand(&rng) % 6);
            for (int k = 0; k < n_words; k++) {
                /* A few words, often the same ones, so that phrases repeat. */
                const char *w = words[kz_test_rand(&rng) % (k % 2 ? 12 : VOCAB)];
                snprintf(sum + strlen(sum), sizeof sum - strlen(sum), "%s%s", k ? (k % 3 ? " " : ", ") : "", w);
            }
            summary[d].n = 0;
            CHECK_OK(kz_analyze("auto", sum, strlen(sum), kz_test_add_stem, &summary[d]));
            snprintf(zip[d], sizeof zip[d], "20%02d-0%d", (int)(kz_test_rand(&rng) % 3), 1 + (int)(kz_test_rand(&rng) % 3));
            dated[d] = kz_test_rand(&rng) % 5 != 0;
            snprintf(when, sizeof when, dated[d] ? "2021-0%d-15" : "about %d", 1 + (int)(kz_test_rand(&rng) % 9));
            expect_reported += !dated[d];
            kz_doc_field meta[3] = { { "summary", 7, sum, strlen(sum) },
                                     { "zip", 3, zip[d], strlen(zip[d]) },
                                     { "when", 4, when, strlen(when) } };
            /* A title of two words: a field's phrase is no title's to cut at its end. */
            CHECK_OK(kz_builder_add_document(b, id, strlen(id), "daily report", 12, text, strlen(text), meta, 3));
        }
        kz_build_stats st;
        CHECK_OK(kz_builder_commit(b, &st));
        reported += st.problems[KZ_PROBLEM_FIELD_TYPE];
        CHECK_INT(st.skipped, 0);
        kz_builder_free(b);
    }
    CHECK_INT(reported, expect_reported);
    /* Retyping a field the index has typed is refused; the index stays. */
    {
        kz_build_options bo = KZ_BUILD_OPTIONS_INIT;
        kz_field_type_spec retype = { "zip", KZ_FIELD_TYPE_DATE };
        bo.mode = KZ_BUILD_ADD;
        bo.field_types = &retype;
        bo.n_field_types = 1;
        kz_builder *b = NULL;
        CHECK_INT(kz_builder_new(&b, dir, &bo), KZ_EINVAL);
        kz_builder_free(b);
    }
    for (int merged = 0; merged < 2; merged++) {
        if (merged) {
            unsigned merges = 0;
            CHECK_OK(kz_index_merge(dir, NULL, KZ_MERGE_ALL, &merges));
            CHECK_INT(merges, 1);
        }
        kz_index *ix;
        CHECK_OK(kz_index_open(&ix, dir));
        if (!ix)
            break;
        CHECK_INT(kz_index_segment_count(ix), merged ? 1 : 2);
        for (int k = 0; k < 150; k++) {
            /* A word, a prefix of one, or two to four words from a document's summary. */
            int from = (int)(kz_test_rand(&rng) % N), how = (int)(kz_test_rand(&rng) % 6), prefix = 0, negate = 0;
            char value[160] = "", query[256];
            kz_test_stems want_seq = { .n = 0 };
            if (how == 0) {
                const char *w = words[kz_test_rand(&rng) % VOCAB];
                snprintf(value, sizeof value, "%.*s", 2 + (int)(kz_test_rand(&rng) % 4), w);
                prefix = 1;
            } else if (how <= 2 || summary[from].n < 2) {
                snprintf(value, sizeof value, "%s", words[kz_test_rand(&rng) % VOCAB]);
                negate = how == 2;
            } else {
                size_t len = 2 + kz_test_rand(&rng) % 3, at = kz_test_rand(&rng) % summary[from].n;
                snprintf(value, sizeof value, "\"");
                for (size_t j = 0; j < len && at + j < summary[from].n; j++)
                    snprintf(value + strlen(value), sizeof value - strlen(value), "%s%s", j ? " " : "",
                             summary[from].v[at + j]);
                if (how == 5) /* the words turned round: a phrase of no document, mostly */
                    snprintf(value + 1, sizeof value - 1, "%s %s", summary[from].v[summary[from].n - 1],
                             summary[from].v[0]);
                strcat(value, "\"");
            }
            snprintf(query, sizeof query, "common %ssummary:%s%s", negate ? "-" : "", value, prefix ? "*" : "");
            const char *v = value[0] == '"' ? value + 1 : value;
            size_t vlen = strlen(v) - (value[0] == '"');
            CHECK_OK(kz_analyze("auto", v, vlen, kz_test_add_stem, &want_seq));
            static uint8_t want[N];
            for (int d = 0; d < N; d++)
                want[d] = seq_has(&summary[d], &want_seq, prefix ? value : NULL) != negate;
            kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
            o.flags = KZ_SEARCH_NO_COLLAPSE;
            o.mode = KZ_MODE_ALL;
            o.limit = N;
            kz_results *r = NULL, *plain = NULL;
            int rc = kz_search(&r, ix, query, strlen(query), &o);
            CHECK_MSG(rc == KZ_OK, "\"%s\": %s", query, kz_last_error());
            CHECK_OK(kz_search(&plain, ix, "common", 6, &o));
            size_t h = 0, bad = 0, n_want = 0;
            for (size_t i = 0; r && plain && i < kz_results_count(plain); i++) {
                const kz_hit *x = kz_results_hit(plain, i);
                kz_doc doc;
                CHECK_OK(kz_index_doc(ix, &doc, x->docid, NULL, 0));
                int d = atoi(doc.id + 1);
                if (d < 0 || d >= N || !want[d])
                    continue;
                n_want++;
                const kz_hit *y = h < kz_results_count(r) ? kz_results_hit(r, h) : NULL;
                bad += !y || y->docid != x->docid || y->score != x->score;
                h++;
            }
            CHECK_MSG(r && bad == 0 && n_want == kz_results_total(r), "\"%s\" (%s): %llu hits, %zu expected, %zu differ",
                      query, merged ? "merged" : "two segments", r ? (unsigned long long)kz_results_total(r) : 0ull,
                      n_want, bad);
            kz_results_free(plain);
            kz_results_free(r);
        }
        /* zip is a keyword: 2021-02 finds its documents whole, 2021 none. */
        size_t zips = 0;
        for (int d = 0; d < N; d++)
            zips += strcmp(zip[d], "2021-02") == 0;
        kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
        o.flags = KZ_SEARCH_NO_COLLAPSE;
        kz_results *r = NULL;
        CHECK_OK(kz_search(&r, ix, "zip:2021-02", 11, &o));
        CHECK_INT(r ? kz_results_total(r) : 0, zips);
        kz_results_free(r);
        r = NULL;
        CHECK_OK(kz_search(&r, ix, "zip:2021", 8, &o));
        CHECK_INT(r ? kz_results_total(r) : 1, 0);
        kz_results_free(r);
        /* when is a date: a range finds the dated ones; the others are keywords. */
        size_t n_dated = 0;
        for (int d = 0; d < N; d++)
            n_dated += dated[d];
        r = NULL;
        CHECK_OK(kz_search(&r, ix, "when:2021", 9, &o));
        CHECK_INT(r ? kz_results_total(r) : 0, n_dated);
        kz_results_free(r);
        /* A text field takes no ranges. */
        r = NULL;
        CHECK_INT(kz_search(&r, ix, "common summary>=3", 17, &o), KZ_ESYNTAX);
        kz_results_free(r);
        kz_field_info *fields = NULL;
        size_t n_fields = 0;
        CHECK_OK(kz_index_fields(ix, &fields, &n_fields));
        CHECK_INT(n_fields, 3);
        for (size_t i = 0; i < n_fields; i++) {
            if (strcmp(fields[i].name, "summary") == 0)
                CHECK(fields[i].type == KZ_FIELD_TYPE_TEXT && fields[i].words > 0 && fields[i].keywords == 0);
            else if (strcmp(fields[i].name, "zip") == 0)
                CHECK(fields[i].type == KZ_FIELD_TYPE_KEYWORD && !fields[i].has_dates && !fields[i].has_numbers);
            else
                CHECK(fields[i].type == KZ_FIELD_TYPE_DATE && fields[i].has_dates &&
                      fields[i].keywords == (n_dated < N ? fields[i].keywords : 0));
        }
        kz_field_infos_free(fields, n_fields);
        kz_index_free(ix);
    }
    kz_test_remove_tree(dir);
    free(dir);
}

/* A query's budgets: max_work candidates and timeout seconds. Inside
 * them the answer is the one without them; past them, KZ_ETIMEOUT with a
 * message and no results, on every evaluator (a term alone, AND of
 * terms, OR of terms, and the general one for phrases and NOT). */
static void test_budgets(void)
{
    char *dir = kz_test_temp_dir();
    kz_builder *b;
    CHECK_OK(kz_builder_new(&b, dir, NULL));
    for (int d = 0; d < 3000; d++) {
        char id[16], text[128];
        snprintf(id, sizeof id, "d%d", d);
        snprintf(text, sizeof text, "war and peace %s %s", d % 2 ? "oil" : "gas", d % 3 ? "river city" : "city");
        CHECK_OK(kz_builder_add_document(b, id, strlen(id), "", 0, text, strlen(text), NULL, 0));
    }
    CHECK_OK(kz_builder_commit(b, NULL));
    kz_builder_free(b);
    kz_index *ix;
    CHECK_OK(kz_index_open(&ix, dir));
    static const char *queries[] = { "war", "war peace", "oil OR gas", "\"river city\" -oil", "war NOT gas" };
    for (size_t i = 0; ix && i < sizeof queries / sizeof *queries; i++) {
        const char *q = queries[i];
        kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
        o.flags = KZ_SEARCH_NO_COLLAPSE; /* exact ranking: compared with brute force */
        kz_results *whole = NULL, *r = NULL;
        CHECK_OK(kz_search(&whole, ix, q, strlen(q), &o));
        if (!whole)
            continue;
        /* Enough work: the same answer. */
        o.max_work = 100000;
        o.timeout = 60;
        CHECK_OK(kz_search(&r, ix, q, strlen(q), &o));
        if (r) {
            CHECK_INT(kz_results_total(r), kz_results_total(whole));
            CHECK_INT(kz_results_count(r), kz_results_count(whole));
            for (size_t h = 0; h < kz_results_count(r); h++)
                CHECK(kz_results_hit(r, h)->docid == kz_results_hit(whole, h)->docid &&
                      kz_results_hit(r, h)->score == kz_results_hit(whole, h)->score);
        }
        kz_results_free(r);
        r = NULL;
        /* Too little work. */
        o.max_work = 50;
        kz_error_clear();
        CHECK_MSG(kz_search(&r, ix, q, strlen(q), &o) == KZ_ETIMEOUT, "\"%s\" with a work budget of 50", q);
        CHECK(r == NULL && strstr(kz_last_error(), "work budget"));
        /* Too little time (a deadline already past when the clock is read). */
        o.max_work = 0;
        o.timeout = 1e-9;
        kz_error_clear();
        CHECK_MSG(kz_search(&r, ix, q, strlen(q), &o) == KZ_ETIMEOUT, "\"%s\" with a timeout of 1 ns", q);
        CHECK(r == NULL && strstr(kz_last_error(), "time budget"));
        kz_results_free(whole);
    }
    /* Bad budgets, and the options of version 1 (no budgets). */
    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
    o.flags = KZ_SEARCH_NO_COLLAPSE; /* exact ranking: compared with brute force */
    kz_results *r = NULL;
    o.timeout = -1;
    CHECK_INT(kz_search(&r, ix, "war", 3, &o), KZ_EINVAL);
    o.timeout = NAN;
    CHECK_INT(kz_search(&r, ix, "war", 3, &o), KZ_EINVAL);
    o.timeout = 1e-9;
    o.version = 1; /* timeout is not read */
    CHECK_OK(kz_search(&r, ix, "war", 3, &o));
    kz_results_free(r);
    kz_index_free(ix);
    kz_test_remove_tree(dir);
    free(dir);
}

/* "ethnic Russians" on the bundled articles: the article that uses the
 * phrase five times comes first, and its snippet shows the words. */
static void test_sample_articles(void)
{
    char *dir = kz_test_temp_dir();
    kz_builder *b;
    CHECK_OK(kz_builder_new(&b, dir, NULL));
    CHECK_OK(kz_builder_add_source(b, KZ_SOURCE_DIR "/data/articles"));
    CHECK_OK(kz_builder_commit(b, NULL));
    kz_builder_free(b);
    kz_index *ix;
    CHECK_OK(kz_index_open(&ix, dir));
    if (!ix)
        goto done;
    kz_results *r;
    const char *q = "ethnic Russians";
    CHECK_OK(kz_search(&r, ix, q, strlen(q), NULL));
    if (r && kz_results_count(r) > 0) {
        kz_doc d;
        CHECK_OK(kz_index_doc(ix, &d, kz_results_hit(r, 0)->docid, NULL, 0));
        CHECK(d.id_len == strlen("kazakhstan-would-have-been-next.txt") &&
              memcmp(d.id, "kazakhstan-would-have-been-next.txt", d.id_len) == 0);
        char *text;
        size_t len;
        CHECK_OK(kz_index_doc_text(ix, &text, &len, kz_results_hit(r, 0)->docid));
        kz_snippet sn;
        CHECK_OK(kz_snippet_make(&sn, ix, r, text, len, 200));
        /* Marks lie in the passage, cover both words, and spell them. */
        int ethnic = 0, russian = 0;
        for (size_t i = 0; i < sn.n_marks; i++) {
            CHECK(sn.marks[i].start >= sn.start && sn.marks[i].end <= sn.end);
            size_t n = sn.marks[i].end - sn.marks[i].start;
            ethnic += n == 6 && strncasecmp(text + sn.marks[i].start, "ethnic", 6) == 0;
            russian += n >= 7 && strncasecmp(text + sn.marks[i].start, "russian", 7) == 0;
        }
        CHECK(ethnic >= 1 && russian >= 1);
        /* Word boundaries at both ends, about 200 characters. */
        CHECK(sn.start == 0 || text[sn.start - 1] == ' ' || text[sn.start - 1] == '\n');
        CHECK(sn.end == len || text[sn.end] == ' ' || text[sn.end] == '\n');
        CHECK(sn.end - sn.start <= 260);
        kz_snippet_free(&sn);
        free(text);
    } else {
        CHECK(0);
    }
    kz_results_free(r);
    kz_index_free(ix);
done:
    kz_test_remove_tree(dir);
    free(dir);
}

int main(void)
{
    KZ_RUN(test_bm25_against_reference);
    KZ_RUN(test_sample_articles);
    KZ_RUN(test_budgets);
    KZ_RUN(test_sort_by_date);
    KZ_RUN(test_number_ranges);
    KZ_RUN(test_field_types);
    return kz_test_finish();
}
