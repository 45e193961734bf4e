/*
 * bench_query.c: query latency, kzsearch and SQLite FTS5 side by side.
 *
 * Cases query/<engine>-<mode>-<k>: every query of the run in AND, OR or
 * phrase mode, for the top 10, 100 or 1000, or the count alone, single
 * thread, on a warm index (one untimed pass first). Per query the clock
 * covers parsing (Xapian: analysing the words) and evaluation, not
 * printing. Figures: p50, p90, p99, max in microseconds and queries per
 * second; kzsearch's are reported against FTS5's of the same mode and k,
 * and as p50_xapian and p99_xapian against Xapian's (when built in).
 *
 * Checks: kzsearch's hits are at most k, in score order, and its totals are
 * the same whether it ranks the top 10, 100 or 1000 or only counts; FTS5
 * and Xapian return at most k rows; Xapian's exact count of every query
 * equals kzsearch's with its words searched as they are
 * (KZ_QUERY_NO_VARIANTS; the same terms and positions: bench_xapian.h).
 * The timed kzsearch queries are the default ones, spelling variants
 * looked up.
 *
 * query/cold-start: whole processes (start, open, one query, its top 10
 * with snippets, printed) over the first 40 queries, warm page cache,
 * against query/process-start (kzsearch --version), with --baseline-bin
 * against BIN on its own index of the corpus (query/cold-start-baseline,
 * "ratio"), and against the one-query Xapian program
 * (query/cold-start-xapian, "xapian_ratio"): ratios are medians of
 * per-query ratios. Checks: each query's hit ids are the in-process top 10.
 */
#include "bench.h"
#include "bench_fts5.h"
#include "bench_xapian.h"
#include "kzsearch.h"

#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

extern char **environ;

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

#ifdef KZB_HAVE_XAPIAN
/* Each query's count in mode, its words searched as they are
 * (KZ_QUERY_NO_VARIANTS: Xapian does not look up a word's spellings in the
 * other script), for the comparison with Xapian's counts. */
static int kz_plain_counts(kzb *b, const char *case_name, const char *index_dir, const kzb_queries *q,
                           const char *mode, uint64_t *counts)
{
    kz_index *ix;
    if (kz_index_open(&ix, index_dir) != KZ_OK) {
        kzb_fail(b, case_name, "cannot open %s: %s", index_dir, kz_last_error());
        return -1;
    }
    kz_search_options so = KZ_SEARCH_OPTIONS_INIT;
    so.mode = strcmp(mode, "or") == 0 ? KZ_MODE_ANY : KZ_MODE_ALL;
    so.flags = KZ_SEARCH_COUNT_ONLY;
    unsigned flags = (strcmp(mode, "phrase") == 0 ? 0 : KZ_QUERY_PLAIN) | KZ_QUERY_NO_VARIANTS;
    char text[8192];
    int rc = KZ_OK;
    for (size_t i = 0; i < q->n && rc == KZ_OK; i++) {
        mode_text(text, sizeof text, q->text[i], mode);
        kz_query *query = NULL;
        kz_results *r = NULL;
        rc = kz_query_parse(&query, ix, text, strlen(text), flags, NULL);
        if (rc == KZ_OK)
            rc = kz_query_run(&r, query, &so);
        if (rc == KZ_OK)
            counts[i] = kz_results_total(r);
        else
            kzb_fail(b, case_name, "query %s (%s): %s", q->qid[i], text, kz_last_error());
        kz_results_free(r);
        kz_query_free(query);
    }
    kz_index_free(ix);
    return rc == KZ_OK ? 0 : -1;
}

/* Xapian's latency in mode (the clock covers analysing the query, as
 * kzsearch's covers parsing it); for k == 0, each query's exact count in
 * counts[]. */
static int xapian_latency(kzb *b, const char *case_name, kzb_xapian *x, kzb_xapian_words *w, const kzb_queries *q,
                          const char *mode, int k, kzb_latency *out, uint64_t *counts)
{
    kzb_xapian_op op = strcmp(mode, "or") == 0 ? KZB_XAPIAN_OR
                       : strcmp(mode, "and") == 0 ? KZB_XAPIAN_AND
                                                   : KZB_XAPIAN_PHRASE;
    double *us = calloc(q->n ? q->n : 1, sizeof *us);
    int bad = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < q->n; i++) {
            const kzb_xapian_term *terms;
            size_t n;
            uint64_t rows, total, t0 = kzb_now_ns();
            int rc = kzb_xapian_words_of(w, q->text[i], strlen(q->text[i]), op != KZB_XAPIAN_PHRASE, &terms, &n);
            if (rc == 0)
                rc = kzb_xapian_search(x, op, terms, n, (unsigned)k, &rows, &total, NULL, NULL);
            us[i] = (double)(kzb_now_ns() - t0) / 1000.0;
            if (rc) {
                if (!bad++)
                    kzb_fail(b, case_name, "query %s: %s", q->qid[i], kzb_xapian_error());
                continue;
            }
            if (pass == 1 && k > 0 && rows > (uint64_t)k)
                kzb_fail(b, case_name, "query %s: %llu rows for k = %d", q->qid[i], (unsigned long long)rows, k);
            if (pass == 1 && counts)
                counts[i] = total;
        }
    }
    summarize(us, q->n, out);
    free(us);
    return bad ? -1 : 0;
}
#endif

static void record(kzb *b, const char *name, const kzb_latency *l, const char *base)
{
    kzb_metric(b, name, "p50", l->p50, "us", base, base ? "p50" : NULL);
    kzb_metric(b, name, "p90", l->p90, "us", base, base ? "p90" : NULL);
    kzb_metric(b, name, "p99", l->p99, "us", base, base ? "p99" : NULL);
    kzb_metric(b, name, "max", l->max, "us", base, base ? "max" : NULL);
    kzb_metric(b, name, "qps", l->qps, "1/s", base, base ? "qps" : NULL);
}

/* Runs bin (argv[0] is only its name) to the end, its standard output to
 * out (or /dev/null); wall and CPU seconds (user + system, the child's
 * own). Returns its exit status, or -1. */
static int process_run(const char *bin, const char *const *argv, const char *out, double *wall, double *cpu)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    uint64_t t0 = kzb_now_ns();
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid)
        return -1;
    *wall = (double)(kzb_now_ns() - t0) * 1e-9;
    *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec * 1e-6;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Whether `bin --index dir --ids QUERY` prints the ids of the in-process
 * top 10 (the CLI's default options), one a line. */
static int process_answers(kzb *b, const char *name, const char *bin, const char *dir, const char *text,
                           const char *qid, kz_index *ix, const char *tmp)
{
    const char *argv[] = { "kzsearch", "--index", dir, "--ids", "--", text, NULL };
    double w, c;
    int st = process_run(bin, argv, tmp, &w, &c);
    if (st != 0 && st != 1) {
        kzb_fail(b, name, "query %s: %s exited %d", qid, bin, st);
        return -1;
    }
    kz_query *query = NULL;
    kz_results *r = NULL;
    kz_search_options so = KZ_SEARCH_OPTIONS_INIT;
    int rc = kz_query_parse(&query, ix, text, strlen(text), KZ_QUERY_LENIENT, NULL);
    if (rc == KZ_OK)
        rc = kz_query_run(&r, query, &so);
    FILE *f = fopen(tmp, "r");
    char line[4096];
    size_t i = 0;
    int bad = rc != KZ_OK || !f;
    for (; !bad && fgets(line, sizeof line, f); i++) {
        line[strcspn(line, "\n")] = 0;
        kz_doc d;
        bad = i >= kz_results_count(r) || kz_index_doc(ix, &d, kz_results_hit(r, i)->docid, NULL, 0) != KZ_OK ||
              strlen(line) != d.id_len || memcmp(line, d.id, d.id_len) != 0;
    }
    if (!bad && i != kz_results_count(r))
        bad = 1;
    if (bad)
        kzb_fail(b, name, "query %s: the process's hits are not the in-process top 10 (hit %zu)", qid, i);
    if (f)
        fclose(f);
    kz_results_free(r);
    kz_query_free(query);
    return bad ? -1 : 0;
}

/* query/cold-start: whole `kzsearch QUERY` processes (start, open, parse,
 * search the top 10, snippets, print) over the first PROCESS_QUERIES
 * queries, warm page cache. Beside it, when given: BIN of --baseline-bin
 * on an index of its own build, and the one-query Xapian program
 * (kzb-xapian-query: open, analyse, OR top 10 by BM25, print) on
 * xapian_db; the engines alternate query by query, and each ratio is the
 * median of the per-query ratios. Each process's hit ids are checked
 * against the in-process top 10 once. */
#define PROCESS_QUERIES 40

enum { ENGINE_KZ, ENGINE_BASELINE, ENGINE_XAPIAN, ENGINES };

static void cold_start(kzb *b, const char *index_dir, const kzb_queries *q, const char *xapian_db)
{
    static const char *const names[ENGINES] = { "query/cold-start", "query/cold-start-baseline",
                                                "query/cold-start-xapian" };
    static const char *const ratio_names[ENGINES] = { NULL, "ratio", "xapian_ratio" };
    static const char *const cpu_ratio_names[ENGINES] = { NULL, "cpu_ratio", "xapian_cpu_ratio" };
    const char *name = names[ENGINE_KZ], *base = "query/process-start";
    if (!kzb_selected(b, name))
        return;
    const char *bin[ENGINES] = { KZ_CLI_PATH, kzb_opts(b)->baseline_bin, NULL };
#ifdef KZB_HAVE_XAPIAN
    bin[ENGINE_XAPIAN] = xapian_db ? KZB_XAPIAN_QUERY_PATH : NULL;
#endif
    int reps = kzb_opts(b)->quick ? 1 : 5;
    size_t nq = q->n < PROCESS_QUERIES ? q->n : PROCESS_QUERIES;
    char old_dir[4096], tmp[4200];
    kzb_work_path(old_dir, sizeof old_dir, b, "kz-baseline");
    snprintf(tmp, sizeof tmp, "%s.ids", index_dir);
    double secs, cpu;
    if (bin[ENGINE_BASELINE]) { /* the baseline may not read this build's format: an index of its own */
        const char *argv[] = { "kzsearch", "index", "-o", old_dir, kzb_main_corpus_path(b), NULL };
        if (process_run(bin[ENGINE_BASELINE], argv, NULL, &secs, &cpu) != 0) {
            kzb_fail(b, names[ENGINE_BASELINE], "%s index failed", bin[ENGINE_BASELINE]);
            bin[ENGINE_BASELINE] = NULL;
        }
    }
    kz_index *ix = NULL;
    if (kz_index_open(&ix, index_dir) != KZ_OK) {
        kzb_fail(b, name, "cannot open %s: %s", index_dir, kz_last_error());
        return;
    }
    double *s = calloc((size_t)reps, sizeof *s), *w = calloc((size_t)reps * ENGINES, sizeof *w);
    double *c = calloc((size_t)reps * ENGINES, sizeof *c), *qw = calloc(nq * ENGINES, sizeof *qw);
    double *qc = calloc(nq * ENGINES, sizeof *qc), *ratio = calloc(nq * ENGINES, sizeof *ratio);
    double *cpu_ratio = calloc(nq * ENGINES, sizeof *cpu_ratio);
    for (int r = 0; r < reps; r++) {
        const char *version[] = { "kzsearch", "--version", NULL };
        if (process_run(bin[ENGINE_KZ], version, NULL, &secs, &cpu) != 0)
            kzb_fail(b, base, "kzsearch --version failed");
        s[r] = secs * 1e3;
    }
    for (size_t i = 0; i < nq; i++) {
        process_answers(b, name, bin[ENGINE_KZ], index_dir, q->text[i], q->qid[i], ix, tmp);
        for (int r = 0; r < reps; r++) {
            for (int e = 0; e < ENGINES; e++) {
                if (!bin[e])
                    continue;
                const char *kz_argv[] = { "kzsearch", "--index", e == ENGINE_BASELINE ? old_dir : index_dir,
                                          "--color=never", "--", q->text[i], NULL };
                const char *x_argv[] = { "kzb-xapian-query", xapian_db, q->text[i], NULL };
                int st = process_run(bin[e], e == ENGINE_XAPIAN ? x_argv : kz_argv, NULL, &secs, &cpu);
                if (st != 0 && st != 1)
                    kzb_fail(b, names[e], "query %s: exited %d", q->qid[i], st);
                w[e * reps + r] = secs * 1e3;
                c[e * reps + r] = cpu * 1e3;
            }
        }
        for (int e = 0; e < ENGINES; e++) {
            if (!bin[e])
                continue;
            qsort(w + e * reps, (size_t)reps, sizeof *w, cmp_double);
            qsort(c + e * reps, (size_t)reps, sizeof *c, cmp_double);
            qw[e * nq + i] = kzb_percentile(w + e * reps, (size_t)reps, 0.5);
            qc[e * nq + i] = kzb_percentile(c + e * reps, (size_t)reps, 0.5);
            ratio[e * nq + i] = qw[i] / qw[e * nq + i];
            cpu_ratio[e * nq + i] = qc[i] / qc[e * nq + i];
        }
    }
    qsort(s, (size_t)reps, sizeof *s, cmp_double);
    kzb_metric(b, base, "median", kzb_percentile(s, (size_t)reps, 0.5), "ms", NULL, NULL);
    for (int e = ENGINES - 1; e >= 0; e--) {
        if (!bin[e])
            continue;
        double *v = qw + e * nq, *u = qc + e * nq;
        qsort(v, nq, sizeof *v, cmp_double);
        qsort(u, nq, sizeof *u, cmp_double);
        int kz = e == ENGINE_KZ;
        kzb_metric(b, names[e], "median", kzb_percentile(v, nq, 0.5), "ms", kz ? base : NULL, kz ? "median" : NULL);
        kzb_metric(b, names[e], "cpu", kzb_percentile(u, nq, 0.5), "ms", NULL, NULL);
        kzb_metric(b, names[e], "max", v[nq - 1], "ms", NULL, NULL);
    }
    for (int e = ENGINE_BASELINE; e < ENGINES; e++) {
        if (!bin[e])
            continue;
        qsort(ratio + e * nq, nq, sizeof *ratio, cmp_double);
        qsort(cpu_ratio + e * nq, nq, sizeof *cpu_ratio, cmp_double);
        kzb_metric(b, name, ratio_names[e], kzb_percentile(ratio + e * nq, nq, 0.5), "x", NULL, NULL);
        kzb_metric(b, name, cpu_ratio_names[e], kzb_percentile(cpu_ratio + e * nq, nq, 0.5), "x", NULL, NULL);
    }
    kz_index_free(ix);
    remove(tmp);
    free(s);
    free(w);
    free(c);
    free(qw);
    free(qc);
    free(ratio);
    free(cpu_ratio);
}

void kzb_query_cases(kzb *b)
{
    static const char *modes[] = { "and", "or", "phrase" };
    static const kzb_fts5_mode fts_modes[] = { KZB_FTS5_AND, KZB_FTS5_OR, KZB_FTS5_PHRASE };
    static const int ks[] = { 10, 100, 1000, 0 };
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
    char xapian_db[4096];
    const char *have_xapian = NULL;
#ifdef KZB_HAVE_XAPIAN
    kzb_xapian *x = NULL;
    kzb_xapian_words *words = NULL;
    uint64_t *x_counted = calloc(q->n, sizeof *x_counted), *plain_counted = calloc(q->n, sizeof *plain_counted);
    kzb_work_path(xapian_db, sizeof xapian_db, b, "xapian");
    if (kzb_opts(b)->xapian) {
        if (kzb_xapian_open(&x, xapian_db) != 0 || kzb_xapian_words_new(&words) != 0)
            kzb_fail(b, "query/xapian", "cannot open %s (run the index cases first): %s", xapian_db,
                     kzb_xapian_error());
        else
            have_xapian = xapian_db;
    }
#endif
    uint64_t *totals = calloc(q->n, sizeof *totals), *counted = calloc(q->n, sizeof *counted);
    for (size_t m = 0; m < 3; m++) {
        for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++) {
            char name[128], fname[128], xname[128], kname[16];
            snprintf(kname, sizeof kname, ks[j] ? "top%d" : "count", ks[j]);
            snprintf(name, sizeof name, "query/kz-%s-%s", modes[m], kname);
            snprintf(fname, sizeof fname, "query/fts5-%s-%s", modes[m], kname);
            snprintf(xname, sizeof xname, "query/xapian-%s-%s", modes[m], kname);
            if (!kzb_selected(b, name) && !kzb_selected(b, fname) && !kzb_selected(b, xname))
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
            int have_x = 0;
#ifdef KZB_HAVE_XAPIAN
            if (x && xapian_latency(b, xname, x, words, q, modes[m], ks[j], &l, x_counted) == 0) {
                record(b, xname, &l, NULL);
                have_x = 1;
                if (ks[j] == 10)
                    kzb_data(b, "latency.dat", "engine-mode p50 p90 p99", "xapian-%s %.3f %.3f %.3f", modes[m],
                             l.p50, l.p90, l.p99);
            }
#endif
            if (kzb_kz_latency(b, name, index_dir, q, modes[m], ks[j], &l, ks[j] ? totals : counted) == 0) {
                record(b, name, &l, have_base ? fname : NULL);
                if (have_x) {
                    kzb_metric(b, name, "p50_xapian", l.p50, "us", xname, "p50");
                    kzb_metric(b, name, "p99_xapian", l.p99, "us", xname, "p99");
                }
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
#ifdef KZB_HAVE_XAPIAN
            /* The same terms in both engines: the same matches. */
            if (ks[j] == 0 && have_x && kz_plain_counts(b, xname, index_dir, q, modes[m], plain_counted) == 0)
                for (size_t i = 0; i < q->n; i++)
                    if (x_counted[i] != plain_counted[i]) {
                        kzb_fail(b, xname, "query %s (%s): Xapian counts %llu matches, kzsearch %llu", q->qid[i],
                                 q->text[i], (unsigned long long)x_counted[i], (unsigned long long)plain_counted[i]);
                        break;
                    }
#endif
        }
    }
    free(totals);
    free(counted);
    kzb_fts5_close(f);
#ifdef KZB_HAVE_XAPIAN
    free(x_counted);
    free(plain_counted);
    kzb_xapian_words_free(words);
    kzb_xapian_close(x);
#endif
    cold_start(b, index_dir, q, have_xapian);
}
