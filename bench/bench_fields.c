/*
 * bench_fields.c: field filters, facets and sorting by date, against the
 * same queries unfiltered in the same run.
 *
 * The corpus is split into passages (--passage-words, 100 by default:
 * 666,157 for wikipedia-en) and each gets a generated date (one day in
 * 2020-2022, spread evenly), source (one of 20, the first twenty times as
 * common as the last) and views (a number, 0 .. 99,999, spread evenly), and
 * is indexed in this process (2 threads, 1G).
 * The queries run in AND mode, top 10, single thread, warm, each case over
 * every query:
 *
 * fields/plain-and-top10: the query alone (the baseline).
 * fields/filter10-and-top10: with a date range and a source that together
 *   keep about 10% of the documents (date:2021-01..2022-06 source:s00).
 * fields/filter1-and-top10: with filters that keep under 1%
 *   (date:2021-03 source:s03).
 * fields/number10-and-top10: with a number range that keeps 10%
 *   (views>=90000; every passage has views 0 .. 99,999).
 * fields/facets-and: the query, counting only, with the facets source and
 *   date:month over every match.
 * fields/sort-date-and-top10: the query sorted by -date.
 * fields/title-and-top10: the query with its first word in the title
 *   (title:griffith observatory): the passages of articles so titled.
 *
 * p50 and p99 in us, each against the plain query. Checks: every filtered
 * hit is an unfiltered match that passes the filter (its own date and
 * source read back), with the same score, near-duplicates collapsed in
 * neither; the filtered total equals the unfiltered matches that pass,
 * counted here; the source facet's counts add up to the total (one source
 * a document); sorted hits come newest first.
 *
 * fields/fts5-*: each case in SQLite FTS5 (unless --no-fts5), on a table
 * of the same passages with date and source columns, each figure against
 * the kzsearch case's (fts5_cases). Not in --quick.
 */
#include "bench.h"
#include "bench_fts5.h"
#include "kzsearch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_SOURCES 20

/* Passage i's date (days into 2020-01-01 .. 2022-12-31) and source. */
static int gen_day(size_t i) { return (int)((i * 7919u) % 1096u); }
/* Passage i's views: 0 .. 99,999, spread evenly. */
static int64_t gen_views(size_t i) { return (int64_t)((((uint64_t)i * 2246822519u) >> 7) % 100000u); }
static int gen_source(size_t i)
{
    /* Weights 100, 95, ... 5 (1,050 in all): s00 twenty times as common as s19. */
    unsigned r = (unsigned)(((uint64_t)i * 2654435761u) >> 7) % 1050u, acc = 0;
    for (int s = 0; s < N_SOURCES; s++) {
        acc += 100u - 5u * (unsigned)s;
        if (r < acc)
            return s;
    }
    return N_SOURCES - 1;
}

static void day_text(int day, char *out, size_t size)
{
    static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y = 2020;
    for (;;) {
        int len = y % 4 == 0 ? 366 : 365;
        if (day < len)
            break;
        day -= len;
        y++;
    }
    int m = 0;
    for (;; m++) {
        int len = mdays[m] + (m == 1 && y % 4 == 0);
        if (day < len)
            break;
        day -= len;
    }
    snprintf(out, size, "%04d-%02d-%02d", y, m + 1, day + 1);
}

static double now_us(void) { return (double)kzb_now_ns() / 1000.0; }

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

typedef struct fcase {
    const char *name, *suffix;
    int facets, sort;
    int check;                           /* the bit of passes() checked, or -1 */
    const char *fts5_name, *fts5_sql[2]; /* the same in SQLite FTS5: one or two SELECTs; NULL: none */
    int title;                           /* the query's first word written title:word */
} fcase;

/* kzb_fts5_meta_fn: passage i's generated date, source and views, as
 * indexed. */
static void passage_meta(void *ctx, size_t i, char *date, size_t date_size, char *source, size_t source_size,
                         int64_t *number)
{
    (void)ctx;
    day_text(gen_day(i), date, date_size);
    snprintf(source, source_size, "s%02d", gen_source(i));
    *number = gen_views(i);
}

/* The FTS5 side of each case: the same passages, dates and sources (as
 * UNINDEXED columns compared in SQL, the way FTS5's documentation filters),
 * the query's words ANDed, timed as the kzsearch cases are. Each FTS5
 * figure's ratio is to the kzsearch case's. Checks that a top-10 gives at
 * most 10 rows and the facets at most a row a source and a month. */
static void fts5_cases(kzb *b, const kzb_corpus *passages, const kzb_queries *q, const struct fcase *cases,
                       size_t n_cases, double *us)
{
    char path[4096];
    kzb_work_path(path, sizeof path, b, "fts5-fields.db");
    double secs;
    kzb_fts5 *f = NULL;
    if (kzb_fts5_build_meta(path, passages, passage_meta, NULL, &secs) != 0 || kzb_fts5_open(&f, path) != 0) {
        kzb_fail(b, "fields/fts5", "cannot build or open %s", path);
        goto done;
    }
    for (size_t k = 0; k < n_cases; k++) {
        const fcase *fc = &cases[k];
        int bad = 0;
        if (!fc->fts5_name)
            continue;
        for (int pass = 0; pass < 2 && !bad; pass++) {
            for (size_t i = 0; i < q->n && !bad; i++) {
                uint64_t rows = 0, all = 0;
                double t0 = now_us();
                for (size_t s = 0; s < 2 && fc->fts5_sql[s] && !bad; s++) {
                    bad = kzb_fts5_select(f, fc->fts5_sql[s], q->text[i], KZB_FTS5_AND, &rows) != 0;
                    all += rows;
                }
                us[i] = now_us() - t0;
                if (bad)
                    kzb_fail(b, fc->fts5_name, "query %s: SQLite error", q->qid[i]);
                else if (all > (fc->facets ? N_SOURCES + 36u : 10u) && !bad++)
                    kzb_fail(b, fc->fts5_name, "query %s: %llu rows", q->qid[i], (unsigned long long)all);
            }
        }
        if (bad)
            continue;
        qsort(us, q->n, sizeof *us, cmp_d);
        kzb_metric(b, fc->fts5_name, "p50", kzb_percentile(us, q->n, 0.5), "us", fc->name, "p50");
        kzb_metric(b, fc->fts5_name, "p99", kzb_percentile(us, q->n, 0.99), "us", fc->name, "p99");
    }
done:
    kzb_fts5_close(f);
    unlink(path);
}

/* Which filters document docid passes, by its metadata read back: bit 0
 * the 10% filter's, bit 1 the 1% filter's, bit 2 views>=90000's. */
static unsigned passes(kz_index *ix, uint32_t docid)
{
    kz_doc d;
    kz_doc_field meta[4];
    if (kz_index_doc(ix, &d, docid, meta, 4) != KZ_OK)
        return 0;
    char date[16] = "", source[8] = "", views[16] = "";
    for (size_t i = 0; i < d.n_meta && i < 4; i++) {
        char *into = meta[i].key_len == 4 && memcmp(meta[i].key, "date", 4) == 0     ? date
                     : meta[i].key_len == 5 && memcmp(meta[i].key, "views", 5) == 0 ? views
                                                                                     : source;
        snprintf(into, into == source ? sizeof source : sizeof date, "%.*s", (int)meta[i].value_len, meta[i].value);
    }
    unsigned ten = strcmp(date, "2021-01-01") >= 0 && strcmp(date, "2022-06-30") <= 0 && strcmp(source, "s00") == 0;
    unsigned one = strncmp(date, "2021-03", 7) == 0 && strcmp(source, "s03") == 0;
    unsigned popular = views[0] && atol(views) >= 90000;
    return ten | one << 1 | popular << 2;
}

/* The stems of a text, as the index's analyser gives them (up to 64). */
typedef struct stems {
    char v[64][64];
    size_t n;
} stems;

static void add_stem(void *ctx, const char *stem, size_t len, size_t start, size_t end)
{
    stems *s = ctx;
    (void)start, (void)end;
    if (s->n < 64 && len < sizeof s->v[0]) {
        memcpy(s->v[s->n], stem, len);
        s->v[s->n++][len] = 0;
    }
}

/* Whether every hit of r has query's first word (its stem) in its title. */
static int title_hits_ok(kz_index *ix, const char *query, const kz_results *r)
{
    stems want = { .n = 0 };
    size_t first_len = strcspn(query, " ");
    if (kz_analyze("auto", query, first_len, add_stem, &want) != KZ_OK || want.n == 0)
        return kz_results_count(r) == 0;
    for (size_t h = 0; h < kz_results_count(r); h++) {
        kz_doc d;
        stems title = { .n = 0 };
        if (kz_index_doc(ix, &d, kz_results_hit(r, h)->docid, NULL, 0) != KZ_OK ||
            kz_analyze("auto", d.title, d.title_len, add_stem, &title) != KZ_OK)
            return 0;
        int found = 0;
        for (size_t i = 0; i < title.n && !found; i++)
            found = strcmp(title.v[i], want.v[0]) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

void kzb_fields_cases(kzb *b)
{
    const kzb_corpus *c = kzb_main_corpus(b);
    const kzb_queries *q = kzb_main_queries(b);
    if (!c || !q || kzb_opts(b)->quick || !kzb_selects_group(b, "fields/"))
        return;
    kzb_corpus passages;
    size_t words = kzb_opts(b)->passage_words ? kzb_opts(b)->passage_words : 100;
    if (kzb_corpus_passages(&passages, c, words) != KZ_OK) {
        kzb_fail(b, "fields", "cannot split the corpus");
        return;
    }
    char dir[4096];
    kzb_work_path(dir, sizeof dir, b, "kz-fields");
    kz_build_options bo = KZ_BUILD_OPTIONS_INIT;
    bo.threads = 2;
    bo.flags = KZ_BUILD_EMPTY_OK;
    bo.mode = KZ_BUILD_REPLACE;
    kz_builder *bd = NULL;
    kz_index *ix = NULL;
    kz_index_info info = { 0 };
    uint8_t *pass_of = NULL; /* by docid: passes() */
    double *us = calloc(q->n ? q->n : 1, sizeof *us);
    if (!us || kz_builder_new(&bd, dir, &bo) != KZ_OK) {
        kzb_fail(b, "fields", "cannot start a build: %s", us ? kz_last_error() : "out of memory");
        goto done;
    }
    for (size_t i = 0; i < passages.n; i++) {
        const kzb_doc *d = &passages.docs[i];
        char date[48], source[16], views[24];
        day_text(gen_day(i), date, sizeof date);
        snprintf(source, sizeof source, "s%02d", gen_source(i));
        snprintf(views, sizeof views, "%lld", (long long)gen_views(i));
        kz_doc_field meta[3] = { { "date", 4, date, strlen(date) },
                                 { "source", 6, source, strlen(source) },
                                 { "views", 5, views, strlen(views) } };
        if (kz_builder_add_document(bd, d->id, strlen(d->id), d->title, strlen(d->title), d->text, d->text_len,
                                    meta, 3) != KZ_OK) {
            kzb_fail(b, "fields", "cannot add a passage: %s", kz_last_error());
            goto done;
        }
    }
    if (kz_builder_commit(bd, NULL) != KZ_OK || kz_index_open(&ix, dir) != KZ_OK || kz_index_warm(ix) != KZ_OK) {
        kzb_fail(b, "fields", "cannot build or open the index: %s", kz_last_error());
        goto done;
    }
    kz_index_get_info(ix, &info);
#define FTS5_TOP "SELECT rowid FROM docs WHERE docs MATCH ?1 "
    static const fcase cases[] = {
        { "fields/plain-and-top10", "", 0, 0, -1, "fields/fts5-plain-and-top10", { FTS5_TOP "ORDER BY rank LIMIT 10" }, 0 },
        { "fields/filter10-and-top10", " date:2021-01..2022-06 source:s00", 0, 0, 0, "fields/fts5-filter10-and-top10",
          { FTS5_TOP "AND date BETWEEN '2021-01-01' AND '2022-06-30' AND source = 's00' ORDER BY rank LIMIT 10" }, 0 },
        { "fields/filter1-and-top10", " date:2021-03 source:s03", 0, 0, 1, "fields/fts5-filter1-and-top10",
          { FTS5_TOP "AND date BETWEEN '2021-03-01' AND '2021-03-31' AND source = 's03' ORDER BY rank LIMIT 10" }, 0 },
        { "fields/number10-and-top10", " views>=90000", 0, 0, 2, "fields/fts5-number10-and-top10",
          { FTS5_TOP "AND views >= 90000 ORDER BY rank LIMIT 10" }, 0 },
        { "fields/facets-and", "", 1, 0, -1, "fields/fts5-facets-and",
          { "SELECT source, count(*) FROM docs WHERE docs MATCH ?1 GROUP BY source",
            "SELECT substr(date, 1, 7), count(*) FROM docs WHERE docs MATCH ?1 GROUP BY 1" }, 0 },
        { "fields/sort-date-and-top10", "", 0, 1, -1, "fields/fts5-sort-date-and-top10",
          { FTS5_TOP "ORDER BY date DESC, rank LIMIT 10" }, 0 },
        { "fields/title-and-top10", "", 0, 0, -1, NULL, { NULL }, 1 },
    };
    kz_facet_spec facets[2] = { { "source", KZ_FACET_VALUES, 20 }, { "date", KZ_FACET_MONTH, 36 } };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const fcase *fc = &cases[k];
        int bad = 0;
        for (int pass = 0; pass < 2; pass++) {
            for (size_t i = 0; i < q->n; i++) {
                char text[8192];
                snprintf(text, sizeof text, "%s%s%s", fc->title ? "title:" : "", q->text[i], fc->suffix);
                kz_search_options so = KZ_SEARCH_OPTIONS_INIT;
                so.mode = KZ_MODE_ALL;
                if (fc->facets) {
                    so.flags = KZ_SEARCH_COUNT_ONLY;
                    so.facets = facets;
                    so.n_facets = 2;
                }
                if (fc->sort) {
                    so.sort_field = "date";
                    so.sort_descending = 1;
                }
                kz_query *qq = NULL;
                kz_results *r = NULL;
                double t0 = now_us();
                int rc = kz_query_parse(&qq, ix, text, strlen(text), 0, NULL);
                if (rc == KZ_OK)
                    rc = kz_query_run(&r, qq, &so);
                us[i] = now_us() - t0;
                if (rc != KZ_OK) {
                    if (!bad++)
                        kzb_fail(b, fc->name, "query %s: %s", q->qid[i], kz_last_error());
                    kz_query_free(qq);
                    continue;
                }
                if (pass == 1 && !bad && fc->check >= 0 && i % 17 == 0) {
                    /* The filtered answer is the unfiltered matches that
                     * pass, near-duplicates not collapsed in either (a
                     * filtered-out leader would let its copy lead). */
                    kz_results *all = NULL, *some = NULL;
                    kz_search_options ao = KZ_SEARCH_OPTIONS_INIT;
                    ao.mode = KZ_MODE_ALL;
                    ao.limit = 1000000;
                    ao.flags = KZ_SEARCH_NO_COLLAPSE;
                    so.flags |= KZ_SEARCH_NO_COLLAPSE;
                    if (!pass_of && (pass_of = calloc(info.docids ? info.docids : 1, 1)) != NULL)
                        for (uint32_t d = 0; d < info.docids; d++)
                            pass_of[d] = (uint8_t)passes(ix, d);
                    if (pass_of && kz_search(&all, ix, q->text[i], strlen(q->text[i]), &ao) == KZ_OK &&
                        kz_query_run(&some, qq, &so) == KZ_OK) {
                        uint64_t pass_n = 0;
                        size_t h = 0, n_all = kz_results_count(all);
                        for (size_t j = 0; j < n_all; j++) {
                            const kz_hit *x = kz_results_hit(all, j);
                            if (x->docid >= info.docids || !(pass_of[x->docid] >> fc->check & 1))
                                continue;
                            if (h < kz_results_count(some)) {
                                const kz_hit *y = kz_results_hit(some, h);
                                if (y->docid != x->docid || y->score != x->score) {
                                    kzb_fail(b, fc->name, "query %s: filtered hit %zu is not the unfiltered one",
                                             q->qid[i], h);
                                    bad++;
                                }
                                h++;
                            }
                            pass_n++;
                        }
                        if (pass_n != kz_results_total(r) && !bad++)
                            kzb_fail(b, fc->name, "query %s: %llu filtered matches, %llu pass here", q->qid[i],
                                     (unsigned long long)kz_results_total(r), (unsigned long long)pass_n);
                    } else if (!bad++) {
                        kzb_fail(b, fc->name, "query %s: cannot check: %s", q->qid[i], kz_last_error());
                    }
                    kz_results_free(all);
                    kz_results_free(some);
                }
                if (pass == 1 && fc->facets && !bad) {
                    uint64_t sum = 0, docs;
                    size_t len;
                    for (size_t v = 0; v < kz_results_facet_count(r, 0); v++)
                        if (kz_results_facet_value(r, 0, v, &len, &docs))
                            sum += docs;
                    if (sum != kz_results_total(r) && !bad++)
                        kzb_fail(b, fc->name, "query %s: source counts add to %llu of %llu", q->qid[i],
                                 (unsigned long long)sum, (unsigned long long)kz_results_total(r));
                }
                if (pass == 1 && fc->title && !bad && !title_hits_ok(ix, q->text[i], r)) {
                    kzb_fail(b, fc->name, "query %s: a hit's title lacks the query's first word", q->qid[i]);
                    bad++;
                }
                if (pass == 1 && fc->sort && !bad) {
                    char prev[16] = "9999";
                    for (size_t h = 0; h < kz_results_count(r); h++) {
                        kz_doc d;
                        kz_doc_field meta[2];
                        if (kz_index_doc(ix, &d, kz_results_hit(r, h)->docid, meta, 2) != KZ_OK || d.n_meta < 1)
                            continue;
                        char date[16];
                        snprintf(date, sizeof date, "%.*s", (int)meta[0].value_len, meta[0].value);
                        if (strcmp(date, prev) > 0 && !bad++)
                            kzb_fail(b, fc->name, "query %s: hit %zu (%s) after %s", q->qid[i], h, date, prev);
                        memcpy(prev, date, sizeof prev);
                    }
                }
                kz_results_free(r);
                kz_query_free(qq);
            }
        }
        qsort(us, q->n, sizeof *us, cmp_d);
        const char *base = k ? "fields/plain-and-top10" : NULL;
        kzb_metric(b, fc->name, "p50", kzb_percentile(us, q->n, 0.5), "us", base, base ? "p50" : NULL);
        kzb_metric(b, fc->name, "p99", kzb_percentile(us, q->n, 0.99), "us", base, base ? "p99" : NULL);
    }
    if (kzb_opts(b)->fts5)
        fts5_cases(b, &passages, q, cases, sizeof cases / sizeof *cases, us);
done:
    kz_index_free(ix);
    kz_builder_free(bd);
    free(us);
    free(pass_of);
    kzb_corpus_free(&passages);
}
