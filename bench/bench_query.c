/*
 * bench_query.c: query latency, kzsearch and SQLite FTS5 side by side.
 *
 * Cases query/<engine>-<mode>-<k>: every query of the run in AND, OR or
 * phrase mode, for the top 10, the top 100, or the count alone, single
 * thread, on a warm index (one untimed pass first). Per query the clock
 * covers parsing and evaluation, not printing. Figures: p50, p90, p99, max
 * in microseconds and queries per second; kzsearch's are reported against
 * FTS5's of the same mode and k.
 *
 * Checks: kzsearch's hits are at most k, in score order, and its totals are
 * the same whether it ranks the top 10, the top 100 or only counts; FTS5
 * returns at most k rows.
 *
 * query/cold-start: a whole process (start, open, one query with its
 * snippets) on the index, against query/process-start (kzsearch --version).
 */
#include "bench.h"
#include "bench_fts5.h"
#include "kzsearch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static void summarize(double *us, size_t n, kzb_latency *out)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += us[i];
    qsort(us, n, sizeof *us, cmp_double);
    out->p50 = kzb_percentile(us, n, 0.5);
    out->p90 = kzb_percentile(us, n, 0.9);
    out->p99 = kzb_percentile(us, n, 0.99);
    out->max = n ? us[n - 1] : NAN;
    out->qps = sum > 0 ? (double)n * 1e6 / sum : NAN;
}

/* The query text for a mode: phrase mode quotes the words. */
static void mode_text(char *out, size_t size, const char *text, const char *mode)
{
    if (strcmp(mode, "phrase") != 0) {
        snprintf(out, size, "%s", text);
        return;
    }
    size_t at = 0;
    out[at++] = '"';
    for (const char *p = text; *p && at + 2 < size; p++)
        if (*p != '"')
            out[at++] = *p;
    out[at++] = '"';
    out[at] = 0;
}

int kzb_kz_latency(kzb *b, const char *case_name, const char *index_dir, const kzb_queries *q, const char *mode,
                   int k, kzb_latency *out, uint64_t *totals)
{
    kz_index *ix;
    if (kz_index_open(&ix, index_dir) != KZ_OK || kz_index_warm(ix) != KZ_OK) {
        kzb_fail(b, case_name, "cannot open %s: %s", index_dir, kz_last_error());
        return -1;
    }
    kz_search_options so = KZ_SEARCH_OPTIONS_INIT;
    unsigned flags = KZ_QUERY_PLAIN;
    so.mode = strcmp(mode, "or") == 0 ? KZ_MODE_ANY : KZ_MODE_ALL;
    if (strcmp(mode, "phrase") == 0)
        flags = 0;
    if (k > 0)
        so.limit = (uint32_t)k;
    else
        so.flags = KZ_SEARCH_COUNT_ONLY;
    double *us = calloc(q->n ? q->n : 1, sizeof *us);
    char text[8192];
    int bad = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < q->n; i++) {
            mode_text(text, sizeof text, q->text[i], mode);
            kz_query *query = NULL;
            kz_results *r = NULL;
            uint64_t t0 = kzb_now_ns();
            int rc = kz_query_parse(&query, ix, text, strlen(text), flags, NULL);
            if (rc == KZ_OK)
                rc = kz_query_run(&r, query, &so);
            uint64_t t1 = kzb_now_ns();
            if (rc != KZ_OK) {
                if (!bad++)
                    kzb_fail(b, case_name, "query %s (%s): %s", q->qid[i], text, kz_last_error());
                kz_query_free(query);
                continue;
            }
            us[i] = (double)(t1 - t0) / 1000.0;
            size_t n = kz_results_count(r);
            if (pass == 1) {
                if ((k > 0 && n > (size_t)k) || (k == 0 && n != 0))
                    kzb_fail(b, case_name, "query %s: %zu hits for k = %d", q->qid[i], n, k);
                for (size_t h = 1; h < n; h++) {
                    const kz_hit *x = kz_results_hit(r, h - 1), *y = kz_results_hit(r, h);
                    if (x->score < y->score || (x->score == y->score && x->docid > y->docid)) {
                        kzb_fail(b, case_name, "query %s: hits %zu and %zu out of order", q->qid[i], h - 1, h);
                        break;
                    }
                }
                if (totals)
                    totals[i] = kz_results_total(r);
            }
            kz_results_free(r);
            kz_query_free(query);
        }
    }
    summarize(us, q->n, out);
    free(us);
    kz_index_free(ix);
    return bad ? -1 : 0;
}

static int fts5_latency(kzb *b, const char *case_name, kzb_fts5 *f, const kzb_queries *q, kzb_fts5_mode mode, int k,
                        kzb_latency *out)
{
    double *us = calloc(q->n ? q->n : 1, sizeof *us);
    int bad = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < q->n; i++) {
            uint64_t rows, t0 = kzb_now_ns();
            int rc = kzb_fts5_query(f, q->text[i], mode, k, &rows);
            us[i] = (double)(kzb_now_ns() - t0) / 1000.0;
            if (rc) {
                if (!bad++)
                    kzb_fail(b, case_name, "query %s failed", q->qid[i]);
                continue;
            }
            if (pass == 1 && k > 0 && rows > (uint64_t)k)
                kzb_fail(b, case_name, "query %s: %llu rows for k = %d", q->qid[i], (unsigned long long)rows, k);
        }
    }
    summarize(us, q->n, out);
    free(us);
    return bad ? -1 : 0;
}

static void record(kzb *b, const char *name, const kzb_latency *l, const char *base)
{
    kzb_metric(b, name, "p50", l->p50, "us", base, base ? "p50" : NULL);
    kzb_metric(b, name, "p90", l->p90, "us", base, base ? "p90" : NULL);
    kzb_metric(b, name, "p99", l->p99, "us", base, base ? "p99" : NULL);
    kzb_metric(b, name, "max", l->max, "us", base, base ? "max" : NULL);
    kzb_metric(b, name, "qps", l->qps, "1/s", base, base ? "qps" : NULL);
}

static void cold_start(kzb *b, const char *index_dir, const kzb_queries *q)
{
    const char *name = "query/cold-start", *base = "query/process-start";
    if (!kzb_selected(b, name))
        return;
    int reps = kzb_opts(b)->quick ? 3 : 15;
    double *t = calloc((size_t)reps, sizeof *t), *s = calloc((size_t)reps, sizeof *s), secs;
    uint64_t rss;
    for (int r = 0; r < reps; r++) {
        const char *version[] = { "kzsearch", "--version", NULL };
        const char *search[] = { "kzsearch", "--index", index_dir, "--color=never", q->text[0], NULL };
        if (kzb_spawn(version, &secs, &rss, NULL) != 0)
            kzb_fail(b, base, "kzsearch --version failed");
        s[r] = secs * 1e3;
        int st = kzb_spawn(search, &secs, &rss, NULL);
        if (st != 0 && st != 1)
            kzb_fail(b, name, "kzsearch exited %d", st);
        t[r] = secs * 1e3;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    qsort(s, (size_t)reps, sizeof *s, cmp_double);
    kzb_metric(b, base, "median", kzb_percentile(s, (size_t)reps, 0.5), "ms", NULL, NULL);
    kzb_metric(b, name, "median", kzb_percentile(t, (size_t)reps, 0.5), "ms", base, "median");
    kzb_metric(b, name, "max", t[reps - 1], "ms", NULL, NULL);
    free(t);
    free(s);
}

void kzb_query_cases(kzb *b)
{
    static const char *modes[] = { "and", "or", "phrase" };
    static const kzb_fts5_mode fts_modes[] = { KZB_FTS5_AND, KZB_FTS5_OR, KZB_FTS5_PHRASE };
    static const int ks[] = { 10, 100, 0 };
    int any = kzb_selects_group(b, "query/");
    if (!any)
        return;
    const kzb_queries *q = kzb_main_queries(b);
    if (!q)
        return;
    char index_dir[4096], fts_path[4096];
    kzb_work_path(index_dir, sizeof index_dir, b, "kz");
    kzb_work_path(fts_path, sizeof fts_path, b, "fts5.db");
    kzb_fts5 *f = NULL;
    if (kzb_opts(b)->fts5 && kzb_fts5_open(&f, fts_path) != 0)
        kzb_fail(b, "query/fts5", "cannot open %s (run the index cases first)", fts_path);
    uint64_t *totals = calloc(q->n, sizeof *totals), *counted = calloc(q->n, sizeof *counted);
    for (size_t m = 0; m < 3; m++) {
        for (size_t j = 0; j < 3; j++) {
            char name[128], fname[128], kname[16];
            snprintf(kname, sizeof kname, ks[j] ? "top%d" : "count", ks[j]);
            snprintf(name, sizeof name, "query/kz-%s-%s", modes[m], kname);
            snprintf(fname, sizeof fname, "query/fts5-%s-%s", modes[m], kname);
            if (!kzb_selected(b, name) && !kzb_selected(b, fname))
                continue;
            kzb_latency l;
            int have_base = 0;
            if (f && fts5_latency(b, fname, f, q, fts_modes[m], ks[j], &l) == 0) {
                record(b, fname, &l, NULL);
                have_base = 1;
                if (ks[j] == 10)
                    kzb_data(b, "latency.dat", "engine-mode p50 p90 p99", "fts5-%s %.3f %.3f %.3f", modes[m], l.p50,
                             l.p90, l.p99);
            }
            if (kzb_kz_latency(b, name, index_dir, q, modes[m], ks[j], &l, ks[j] ? totals : counted) == 0) {
                record(b, name, &l, have_base ? fname : NULL);
                if (ks[j] == 10)
                    kzb_data(b, "latency.dat", "engine-mode p50 p90 p99", "kz-%s %.3f %.3f %.3f", modes[m], l.p50,
                             l.p90, l.p99);
            }
            if (ks[j] == 0)
                for (size_t i = 0; i < q->n; i++)
                    if (totals[i] != counted[i]) {
                        kzb_fail(b, name, "query %s: %llu hits ranked, %llu counted", q->qid[i],
                                 (unsigned long long)totals[i], (unsigned long long)counted[i]);
                        break;
                    }
        }
    }
    free(totals);
    free(counted);
    kzb_fts5_close(f);
    cold_start(b, index_dir, q);
}
