/*
 * bench_segments.c: a living index of segments: adding, updating and
 * deleting documents, searching many segments, and merging, each against
 * a full rebuild of the same documents in the same run.
 *
 * The corpus is split into passages of about 100 words (--passage-words,
 * as for scaling/: 666,157 for wikipedia-en); N is their number. Every
 * build, add, delete and merge is `kzsearch` as a child process, 2
 * threads, its wall time and its own peak memory; every index is checked
 * through the library afterwards.
 *
 * segments/release-index: with --baseline-bin BIN (the last release's
 * kzsearch, which reads only the single-file index.kz of before segments),
 * BIN index of all N passages into an index of its own. Seconds, peak RSS.
 *
 * segments/rebuild: `kzsearch index` of all N passages, one segment (the
 * baseline of the adds, and against the release's build when there is
 * one). Seconds, peak RSS. Check: N documents, one segment.
 *
 * segments/add-1000: the index of all passages but the last 1,000, built
 * untimed, then `kzsearch add --no-merge` of the last 1,000 (a file of
 * their own). Seconds against segments/rebuild (the goal: at most 0.05),
 * peak RSS. Checks: N documents in 2 segments, and every query's top 10 in
 * AND and OR mode the same as the rebuild's: docids, ids, totals and
 * scores to the bit.
 *
 * segments/update-1000: `kzsearch add --no-merge` of new versions of
 * 1,000 passages spread over the index (the same ids, a marker word
 * added). Seconds against segments/rebuild. Checks: the CLI reports 1,000
 * replaced, the index still holds N documents, in 3 segments, and the
 * marker finds exactly those 1,000 ids.
 *
 * segments/add-1: the whole process of `kzsearch add` (merging by the
 * tiered policy, as a user runs it) of one new document, 7 times, each a
 * new id, into that index. Median and max in ms (the goal: under 50 ms).
 * Checks: each adds one document, which its own word finds, alone.
 *
 * segments/delete-10000: `kzsearch delete --ids-from FILE` of 10,000 ids
 * spread over that index. Seconds (the goal: under 1 s). Checks: exit
 * status 0 (every id was found), exactly 10,000 fewer live documents, and
 * no query's top 100 in AND or OR mode holds a deleted id.
 *
 * segments/build-10: the same N passages as 10 segments: `kzsearch index`
 * of the first tenth, then `add --no-merge` of each next one. Seconds of
 * the 10 processes (informative). Checks: 10 segments of a tenth each,
 * none deleted, and every query's top 10 in AND and OR mode the same as
 * the rebuild's (docids, ids, totals, scores to the bit).
 *
 * segments/1seg-<mode>-top10, segments/10seg-<mode>-top10: latency of the
 * run's queries (kzb_kz_latency: single thread, warm, parse and run), AND
 * and OR, top 10, on the rebuild and on the 10 segments, alternately 5
 * times; the median of each percentile. p50, p99 in us, 10 segments
 * against 1 (the goal: at most 1.2).
 *
 * segments/add-merge-m64M: `kzsearch add --memory 64M` (merging) of the
 * 1,000 new versions into the 10 segments, so that the tiered policy
 * merges a run of 8 of them. Seconds; the process's peak RSS over its
 * whole life (the merge after the summary line included, and the mapped
 * index pages it touched), in MB and against the budget (64 MiB), with
 * the most of its private memory (anon) and of its mapped file pages
 * (file) sampled every 5 ms (kzb_child_memory); build_peak_rss, the
 * figure the add prints before it merges. Checks: 1,000 replaced, N
 * documents, the marker finds exactly the 1,000, and the peak is under
 * twice the budget.
 *
 * segments/optimize-m64M: `kzsearch optimize --memory 64M` of that index.
 * Seconds against segments/rebuild; memory as for add-merge. Checks: one
 * segment, N documents, every query's top 10 (ids, totals, scores to the
 * bit) the same as before it, and the peak under twice the budget.
 *
 * segments/release-<engine>-<mode>-top10: with --baseline-bin,
 * `BIN run` and `kzsearch run --mode and|or -k 10 --latency FILE` of the
 * run's queries, each binary on its own one-segment index of the same
 * passages (segments/release-index and segments/rebuild: the release
 * cannot read the new format), alternately 5 times; p50, p99 from the
 * latency files (the median of each over the 5), this build against the
 * release (the goal: nothing slower). Check: both give the same TREC run,
 * ids and scores (%.17g) alike.
 *
 * --quick: the same cases on the bundled articles' passages, with a tenth
 * of them added, updated and deleted, 2 single adds and one round of
 * latency: a smoke test of the checks, not of the speed.
 */
#include "bench.h"
#include "kzsearch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BUDGET "64M"
#define BUDGET_BYTES (64.0 * 1048576.0)
#define MAX_ROUNDS 5

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }


/* Runs kzsearch (bin NULL) or bin with args, its standard error to log;
 * fails case_name unless it exits 0. mem as for kzb_spawn_ex. */
static int cli(kzb *b, const char *case_name, const char *bin, const char *const *args, const char *log,
               double *secs, uint64_t *rss, kzb_child_memory *mem)
{
    double s = 0;
    uint64_t r = 0;
    int st = kzb_spawn_ex(bin, args, &s, &r, mem, log);
    if (secs)
        *secs = s;
    if (rss)
        *rss = r;
    if (st != 0) {
        kzb_fail(b, case_name, "%s %s exited %d (see %s)", bin ? bin : "kzsearch", args[1], st, log);
        return -1;
    }
    return 0;
}

/* Checks N documents in the given number of segments (0: any). */
static void expect_counts(kzb *b, const char *case_name, const char *dir, uint64_t docs, uint64_t segments)
{
    uint64_t d, s;
    if (kzb_index_counts(b, case_name, dir, &d, &s) != 0)
        return;
    if (d != docs)
        kzb_fail(b, case_name, "%s holds %llu live documents, not %llu", dir, (unsigned long long)d,
                 (unsigned long long)docs);
    if (segments && s != segments)
        kzb_fail(b, case_name, "%s has %llu segments, not %llu", dir, (unsigned long long)s,
                 (unsigned long long)segments);
}

/* A number the CLI printed after prefix in log, or -1. */
static long long log_number(const char *log, const char *prefix)
{
    FILE *f = fopen(log, "r");
    char line[4096];
    long long v = -1;
    while (f && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, prefix);
        if (p && sscanf(p + strlen(prefix), "%lld", &v) == 1)
            break;
        v = -1;
    }
    if (f)
        fclose(f);
    return v;
}

/* Every query's answers in AND and OR mode, top k, as text: per query
 * "qid mode total", then a line per hit: its id, its score in hex (to the
 * bit) and, if docids, its docid. Parsed as `kzsearch run --mode` parses
 * (plain words). NULL after a kzb_fail. */
static char *answers(kzb *b, const char *case_name, const char *dir, const kzb_queries *q, int k, int docids)
{
    static const kz_mode modes[] = { KZ_MODE_ALL, KZ_MODE_ANY };
    kz_index *ix = NULL;
    char *text = NULL;
    size_t len = 0;
    int ok = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f || kz_index_open(&ix, dir) != KZ_OK) {
        kzb_fail(b, case_name, "cannot open %s: %s", dir, kz_last_error());
        goto done;
    }
    for (size_t m = 0; m < 2; m++) {
        kz_search_options so = KZ_SEARCH_OPTIONS_INIT;
        so.mode = modes[m];
        so.limit = (uint32_t)k;
        for (size_t i = 0; i < q->n; i++) {
            kz_query *query = NULL;
            kz_results *r = NULL;
            int rc = kz_query_parse(&query, ix, q->text[i], strlen(q->text[i]), KZ_QUERY_PLAIN, NULL);
            if (rc == KZ_OK)
                rc = kz_query_run(&r, query, &so);
            if (rc != KZ_OK) {
                kzb_fail(b, case_name, "%s: query %s: %s", dir, q->qid[i], kz_last_error());
                kz_query_free(query);
                goto done;
            }
            fprintf(f, "%s %s %llu\n", q->qid[i], m ? "or" : "and", (unsigned long long)kz_results_total(r));
            for (size_t h = 0; h < kz_results_count(r); h++) {
                const kz_hit *hit = kz_results_hit(r, h);
                kz_doc d;
                if (kz_index_doc(ix, &d, hit->docid, NULL, 0) != KZ_OK) {
                    kzb_fail(b, case_name, "%s: document %u: %s", dir, hit->docid, kz_last_error());
                    kz_results_free(r);
                    kz_query_free(query);
                    goto done;
                }
                fprintf(f, "  %.*s %a", (int)d.id_len, d.id, hit->score);
                if (docids)
                    fprintf(f, " %u", hit->docid);
                fputc('\n', f);
            }
            kz_results_free(r);
            kz_query_free(query);
        }
    }
    ok = 1;
done:
    kz_index_free(ix);
    if (f)
        fclose(f);
    if (!ok) {
        free(text);
        return NULL;
    }
    return text;
}

/* Fails case_name where two answers (of answers(), or two files' text)
 * differ, naming the first line that does. */
static void same_answers(kzb *b, const char *case_name, const char *what, const char *x, const char *y)
{
    if (!x || !y || strcmp(x, y) == 0)
        return;
    size_t line = 1;
    const char *lx = x, *ly = y;
    while (*x && *x == *y) {
        if (*x == '\n') {
            line++;
            lx = x + 1;
            ly = y + 1;
        }
        x++;
        y++;
    }
    int nx = (int)strcspn(lx, "\n"), ny = (int)strcspn(ly, "\n");
    kzb_fail(b, case_name, "%s: line %zu differs: \"%.*s\" against \"%.*s\"", what, line, nx > 200 ? 200 : nx, lx,
             ny > 200 ? 200 : ny, ly);
}

/* The documents that match the words text (AND, all of them) are exactly
 * the n ids of want (sorted). */
static void exactly(kzb *b, const char *case_name, const char *dir, const char *text, char **want, size_t n)
{
    kz_index *ix = NULL;
    kz_results *r = NULL;
    char **got = NULL;
    size_t n_got = 0;
    if (kz_index_open(&ix, dir) != KZ_OK) {
        kzb_fail(b, case_name, "cannot open %s: %s", dir, kz_last_error());
        goto done;
    }
    kz_search_options so = KZ_SEARCH_OPTIONS_INIT;
    so.mode = KZ_MODE_ALL;
    so.limit = (uint32_t)n + 1;
    if (kz_search(&r, ix, text, strlen(text), &so) != KZ_OK) {
        kzb_fail(b, case_name, "%s: query \"%s\": %s", dir, text, kz_last_error());
        goto done;
    }
    if (kz_results_total(r) != n) {
        kzb_fail(b, case_name, "%s: \"%s\" finds %llu documents, not %zu", dir, text,
                 (unsigned long long)kz_results_total(r), n);
        goto done;
    }
    got = calloc(n ? n : 1, sizeof *got);
    for (size_t h = 0; got && h < kz_results_count(r) && h < n; h++) {
        kz_doc d;
        if (kz_index_doc(ix, &d, kz_results_hit(r, h)->docid, NULL, 0) == KZ_OK)
            got[n_got++] = strndup(d.id, d.id_len);
    }
    if (n_got != n) {
        kzb_fail(b, case_name, "%s: \"%s\": %zu hits read of %zu", dir, text, n_got, n);
        goto done;
    }
    qsort(got, n_got, sizeof *got, cmp_str);
    for (size_t i = 0; i < n; i++)
        if (!got[i] || strcmp(got[i], want[i]) != 0) {
            kzb_fail(b, case_name, "%s: \"%s\" finds id %s where %s was expected", dir, text, got[i] ? got[i] : "?",
                     want[i]);
            break;
        }
done:
    for (size_t i = 0; i < n_got; i++)
        free(got[i]);
    free(got);
    kz_results_free(r);
    kz_index_free(ix);
}

/* No query's top k, AND or OR, holds one of the n ids of gone (sorted). */
static void none_of(kzb *b, const char *case_name, const char *dir, const kzb_queries *q, int k, char **gone,
                    size_t n)
{
    static const kz_mode modes[] = { KZ_MODE_ALL, KZ_MODE_ANY };
    kz_index *ix;
    if (kz_index_open(&ix, dir) != KZ_OK) {
        kzb_fail(b, case_name, "cannot open %s: %s", dir, kz_last_error());
        return;
    }
    size_t seen = 0, bad = 0;
    for (size_t m = 0; m < 2; m++) {
        kz_search_options so = KZ_SEARCH_OPTIONS_INIT;
        so.mode = modes[m];
        so.limit = (uint32_t)k;
        for (size_t i = 0; i < q->n; i++) {
            kz_query *query = NULL;
            kz_results *r = NULL;
            int rc = kz_query_parse(&query, ix, q->text[i], strlen(q->text[i]), KZ_QUERY_PLAIN, NULL);
            if (rc == KZ_OK)
                rc = kz_query_run(&r, query, &so);
            for (size_t h = 0; rc == KZ_OK && h < kz_results_count(r); h++) {
                kz_doc d;
                char id[1024];
                if ((rc = kz_index_doc(ix, &d, kz_results_hit(r, h)->docid, NULL, 0)) != KZ_OK)
                    break;
                snprintf(id, sizeof id, "%.*s", (int)d.id_len, d.id);
                const char *key = id;
                seen++;
                if (bsearch(&key, gone, n, sizeof *gone, cmp_str) && !bad++)
                    kzb_fail(b, case_name, "%s: query %s (%s) finds deleted id %s", dir, q->qid[i],
                             m ? "or" : "and", id);
            }
            if (rc != KZ_OK && !bad++)
                kzb_fail(b, case_name, "%s: query %s: %s", dir, q->qid[i], kz_last_error());
            kz_results_free(r);
            kz_query_free(query);
        }
    }
    kz_index_free(ix);
    if (bad > 1)
        kzb_fail(b, case_name, "%zu hits of %zu were deleted documents or failed", bad, seen);
}

/* Writes the n documents of docs as JSON Lines to path. */
static int write_docs(kzb *b, const char *case_name, const kzb_doc *docs, size_t n, const char *path)
{
    kzb_corpus part = { (kzb_doc *)docs, n, 0 };
    if (kzb_corpus_write(&part, path) != KZ_OK) {
        kzb_fail(b, case_name, "cannot write %s", path);
        return -1;
    }
    return 0;
}

typedef struct seg_run {
    kzb *b;
    const kzb_queries *q;
    const kzb_corpus *p;     /* the passages */
    size_t n_add, n_del, reps, rounds;
    char all[4096];          /* the passages' file */
    char update[4096];       /* new versions of n_add of them */
    char **update_ids;       /* their ids, sorted */
    char rebuild[4096];      /* the one-segment index */
    char *rebuild_answers;   /* its top 10s (answers(), docids) */
    char name_add[64], name_update[64], name_delete[64];
} seg_run;

static void work(char *out, size_t size, const seg_run *s, const char *leaf)
{
    kzb_work_path(out, size, s->b, leaf);
}

/* segments/release-index: the release's build of the same passages. */
static int release_index(seg_run *s, const char *dir)
{
    kzb *b = s->b;
    const char *name = "segments/release-index", *bin = kzb_opts(b)->baseline_bin;
    char log[4200];
    snprintf(log, sizeof log, "%s.log", dir);
    kzb_remove_tree(dir);
    const char *args[] = { "kzsearch", "index", "-o", dir, "--threads", "2", "--memory", "1G", s->all, NULL };
    double secs;
    uint64_t rss;
    if (cli(b, name, bin, args, log, &secs, &rss, NULL) != 0)
        return -1;
    kzb_metric(b, name, "seconds", secs, "s", NULL, NULL);
    kzb_metric(b, name, "peak_rss", (double)rss / 1e6, "MB", NULL, NULL);
    return 0;
}

/* segments/rebuild: the one-segment index of every passage. */
static int rebuild(seg_run *s, int have_release)
{
    kzb *b = s->b;
    const char *name = "segments/rebuild", *base = have_release ? "segments/release-index" : NULL;
    char log[4200];
    snprintf(log, sizeof log, "%s.log", s->rebuild);
    kzb_remove_tree(s->rebuild);
    const char *args[] = { "kzsearch", "index", "-o", s->rebuild, "--threads", "2", "--memory", "1G", s->all, NULL };
    double secs;
    uint64_t rss;
    if (cli(b, name, NULL, args, log, &secs, &rss, NULL) != 0)
        return -1;
    kzb_metric(b, name, "seconds", secs, "s", base, base ? "seconds" : NULL);
    kzb_metric(b, name, "peak_rss", (double)rss / 1e6, "MB", base, base ? "peak_rss" : NULL);
    kzb_metric(b, name, "docs", (double)s->p->n, "", NULL, NULL);
    expect_counts(b, name, s->rebuild, s->p->n, 1);
    s->rebuild_answers = answers(b, name, s->rebuild, s->q, 10, 1);
    return s->rebuild_answers ? 0 : -1;
}

/* segments/add-N, update-N, add-1, delete-M on one index, in turn. */
static void added(seg_run *s)
{
    kzb *b = s->b;
    const kzb_corpus *p = s->p;
    size_t n = p->n, head_n = n - s->n_add;
    char dir[4096], head[4096], tail[4096], one[4096], ids[4096], log[4200];
    char **gone = NULL;
    double secs;
    uint64_t rss, docs, segs;
    work(dir, sizeof dir, s, "seg-added");
    work(head, sizeof head, s, "seg-head.jsonl");
    work(tail, sizeof tail, s, "seg-tail.jsonl");
    work(one, sizeof one, s, "seg-one.jsonl");
    work(ids, sizeof ids, s, "seg-delete.txt");
    kzb_remove_tree(dir);

    /* add-N: the last n_add passages into the index of the others. */
    const char *name = s->name_add;
    if (write_docs(b, name, p->docs, head_n, head) || write_docs(b, name, p->docs + head_n, s->n_add, tail))
        goto done;
    snprintf(log, sizeof log, "%s-head.log", dir);
    const char *build[] = { "kzsearch", "index", "-o", dir, "--threads", "2", "--memory", "1G", head, NULL };
    if (cli(b, name, NULL, build, log, NULL, NULL, NULL) != 0)
        goto done;
    snprintf(log, sizeof log, "%s-add.log", dir);
    const char *add[] = { "kzsearch", "add", "--no-merge", "--index", dir, "--threads", "2", "--memory", "1G", tail,
                          NULL };
    if (cli(b, name, NULL, add, log, &secs, &rss, NULL) != 0)
        goto done;
    kzb_metric(b, name, "seconds", secs, "s", "segments/rebuild", "seconds");
    kzb_metric(b, name, "peak_rss", (double)rss / 1e6, "MB", "segments/rebuild", "peak_rss");
    expect_counts(b, name, dir, n, 2);
    char *got = answers(b, name, dir, s->q, 10, 1);
    same_answers(b, name, "top 10 after the add against the rebuild's", got, s->rebuild_answers);
    free(got);

    /* update-N: new versions of n_add passages. */
    name = s->name_update;
    snprintf(log, sizeof log, "%s-update.log", dir);
    const char *upd[] = { "kzsearch", "add", "--no-merge", "--index", dir, "--threads", "2", "--memory", "1G",
                          s->update, NULL };
    if (cli(b, name, NULL, upd, log, &secs, &rss, NULL) != 0)
        goto done;
    kzb_metric(b, name, "seconds", secs, "s", "segments/rebuild", "seconds");
    kzb_metric(b, name, "peak_rss", (double)rss / 1e6, "MB", "segments/rebuild", "peak_rss");
    long long replaced = log_number(log, "added as a new segment: ");
    if (replaced != (long long)s->n_add)
        kzb_fail(b, name, "the add reports %lld documents replaced, not %zu", replaced, s->n_add);
    expect_counts(b, name, dir, n, 3);
    exactly(b, name, dir, "kzbenchupdated", s->update_ids, s->n_add);

    /* add-1: one new document, the whole process, reps times. */
    name = "segments/add-1";
    double ms[16];
    size_t reps = s->reps < 16 ? s->reps : 16;
    for (size_t r = 0; r < reps; r++) {
        char id[64], word[64], text[256];
        snprintf(id, sizeof id, "kzbench-one-%zu", r);
        snprintf(word, sizeof word, "kzbenchone%zu", r);
        snprintf(text, sizeof text, "%s is a passage added on its own by the benchmark", word);
        kzb_doc d = { id, "kzbench one", text, strlen(text) };
        if (write_docs(b, name, &d, 1, one) || kzb_index_counts(b, name, dir, &docs, &segs))
            goto done;
        snprintf(log, sizeof log, "%s-one.log", dir);
        const char *add1[] = { "kzsearch", "add", "--index", dir, "--threads", "2", "--memory", "1G", one, NULL };
        if (cli(b, name, NULL, add1, log, &secs, &rss, NULL) != 0)
            goto done;
        ms[r] = secs * 1e3;
        expect_counts(b, name, dir, docs + 1, 0);
        char *want = id;
        exactly(b, name, dir, word, &want, 1);
    }
    kzb_metric(b, name, "median", kzb_median(ms, reps), "ms", NULL, NULL);
    kzb_metric(b, name, "max", ms[reps - 1], "ms", NULL, NULL);

    /* delete-M: n_del ids spread over the passages. */
    name = s->name_delete;
    gone = calloc(s->n_del, sizeof *gone);
    FILE *f = fopen(ids, "w");
    if (!gone || !f) {
        kzb_fail(b, name, "cannot write %s", ids);
        if (f)
            fclose(f);
        goto done;
    }
    size_t stride = n / s->n_del;
    for (size_t i = 0; i < s->n_del; i++) {
        gone[i] = p->docs[i * stride + stride / 2].id;
        fprintf(f, "%s\n", gone[i]);
    }
    if (fclose(f) != 0) {
        kzb_fail(b, name, "cannot write %s", ids);
        goto done;
    }
    qsort(gone, s->n_del, sizeof *gone, cmp_str);
    if (kzb_index_counts(b, name, dir, &docs, &segs))
        goto done;
    snprintf(log, sizeof log, "%s-delete.log", dir);
    const char *del[] = { "kzsearch", "delete", "--index", dir, "--ids-from", ids, NULL };
    if (cli(b, name, NULL, del, log, &secs, &rss, NULL) != 0)
        goto done;
    kzb_metric(b, name, "seconds", secs, "s", NULL, NULL);
    kzb_metric(b, name, "ids/s", (double)s->n_del / secs, "1/s", NULL, NULL);
    expect_counts(b, name, dir, docs - s->n_del, 0);
    none_of(b, name, dir, s->q, 100, gone, s->n_del);
done:
    free(gone); /* the strings are the passages' */
    remove(head);
    remove(tail);
    remove(one);
    remove(ids);
}

/* A merge's memory against the budget: the whole process's peak (exact,
 * mapped index pages included), and the most of its private memory and
 * of its mapped file pages sampled. Fails past twice the budget. */
static void memory_metrics(kzb *b, const char *name, const kzb_child_memory *mem)
{
    kzb_metric(b, name, "peak_rss", (double)mem->peak / 1e6, "MB", NULL, NULL);
    kzb_metric(b, name, "peak/budget", (double)mem->peak / BUDGET_BYTES, "x", NULL, NULL);
    kzb_metric(b, name, "anon_rss", (double)mem->anon / 1e6, "MB", NULL, NULL);
    kzb_metric(b, name, "anon/budget", (double)mem->anon / BUDGET_BYTES, "x", NULL, NULL);
    kzb_metric(b, name, "file_rss", (double)mem->file / 1e6, "MB", NULL, NULL);
    if (mem->peak == 0 || (double)mem->peak > 2 * BUDGET_BYTES)
        kzb_fail(b, name, "peak memory %.1f MB (private %.1f MB, mapped files %.1f MB sampled) against a budget of %s",
                 (double)mem->peak / 1e6, (double)mem->anon / 1e6, (double)mem->file / 1e6, BUDGET);
}

/* segments/build-10, the latency of 10 segments against 1, and merges in
 * a budget: add-merge-m64M, optimize-m64M. */
static void ten(seg_run *s)
{
    static const char *modes[] = { "and", "or" };
    kzb *b = s->b;
    const kzb_corpus *p = s->p;
    size_t n = p->n;
    char dir[4096], part[4096], log[4200];
    char *got = NULL, *before = NULL;
    double secs, total = 0;
    uint64_t rss;
    kzb_child_memory mem;
    work(dir, sizeof dir, s, "seg-ten");
    work(part, sizeof part, s, "seg-part.jsonl");
    kzb_remove_tree(dir);

    /* build-10: a tenth of the passages a segment, in order. */
    const char *name = "segments/build-10";
    for (size_t t = 0; t < 10; t++) {
        size_t from = n * t / 10, to = n * (t + 1) / 10;
        if (write_docs(b, name, p->docs + from, to - from, part))
            goto done;
        snprintf(log, sizeof log, "%s-%zu.log", dir, t);
        const char *build[] = { "kzsearch", "index", "-o", dir, "--threads", "2", "--memory", "1G", part, NULL };
        const char *add[] = { "kzsearch", "add", "--no-merge", "--index", dir, "--threads", "2", "--memory", "1G",
                              part, NULL };
        if (cli(b, name, NULL, t ? add : build, log, &secs, &rss, NULL) != 0)
            goto done;
        total += secs;
    }
    kzb_metric(b, name, "seconds", total, "s", "segments/rebuild", "seconds");
    expect_counts(b, name, dir, n, 10);
    kz_index *ix;
    if (kz_index_open(&ix, dir) == KZ_OK) {
        kz_index_info info;
        kz_index_get_info(ix, &info);
        for (size_t i = 0; i < info.segments && i < 10; i++) {
            const char *seg;
            uint64_t docs, deleted;
            kz_index_segment_info(ix, i, &seg, &docs, &deleted);
            uint64_t want = n * (i + 1) / 10 - n * i / 10;
            if (docs != want || deleted != 0)
                kzb_fail(b, name, "segment %zu (%s): %llu documents, %llu deleted; %llu expected, none deleted", i,
                         seg, (unsigned long long)docs, (unsigned long long)deleted, (unsigned long long)want);
        }
        kz_index_free(ix);
    }
    got = answers(b, name, dir, s->q, 10, 1);
    same_answers(b, name, "top 10 of 10 segments against the rebuild's", got, s->rebuild_answers);

    /* 10 segments against 1: the same queries, alternately. */
    for (size_t m = 0; m < 2; m++) {
        char one[64], many[64];
        double v[4][MAX_ROUNDS];
        int ok = 1;
        snprintf(one, sizeof one, "segments/1seg-%s-top10", modes[m]);
        snprintf(many, sizeof many, "segments/10seg-%s-top10", modes[m]);
        for (size_t r = 0; r < s->rounds; r++) {
            kzb_latency l1, l10;
            ok &= kzb_kz_latency(b, one, s->rebuild, s->q, modes[m], 10, &l1, NULL) == 0;
            ok &= kzb_kz_latency(b, many, dir, s->q, modes[m], 10, &l10, NULL) == 0;
            v[0][r] = l1.p50;
            v[1][r] = l1.p99;
            v[2][r] = l10.p50;
            v[3][r] = l10.p99;
        }
        if (!ok)
            continue;
        kzb_metric(b, one, "p50", kzb_median(v[0], s->rounds), "us", NULL, NULL);
        kzb_metric(b, one, "p99", kzb_median(v[1], s->rounds), "us", NULL, NULL);
        kzb_metric(b, many, "p50", kzb_median(v[2], s->rounds), "us", one, "p50");
        kzb_metric(b, many, "p99", kzb_median(v[3], s->rounds), "us", one, "p99");
    }

    /* add-merge: the new versions, merging by the tiered policy, in 64M. */
    name = "segments/add-merge-m" BUDGET;
    snprintf(log, sizeof log, "%s-add-merge.log", dir);
    const char *addm[] = { "kzsearch", "add", "--index", dir, "--threads", "2", "--memory", BUDGET, s->update, NULL };
    if (cli(b, name, NULL, addm, log, &secs, &rss, &mem) != 0)
        goto done;
    uint64_t docs, segs;
    long long merges = log_number(log, "merged segments ");
    kzb_metric(b, name, "seconds", secs, "s", NULL, NULL);
    memory_metrics(b, name, &mem);
    kzb_metric(b, name, "build_peak_rss", (double)rss / 1e6, "MB", NULL, NULL);
    kzb_metric(b, name, "merges", merges > 0 ? (double)merges : 0, "", NULL, NULL);
    if (kzb_index_counts(b, name, dir, &docs, &segs) == 0)
        kzb_metric(b, name, "segments", (double)segs, "", NULL, NULL);
    long long replaced = log_number(log, "added as a new segment: ");
    if (replaced != (long long)s->n_add)
        kzb_fail(b, name, "the add reports %lld documents replaced, not %zu", replaced, s->n_add);
    expect_counts(b, name, dir, n, 0);
    exactly(b, name, dir, "kzbenchupdated", s->update_ids, s->n_add);

    /* optimize: every segment into one, in 64M; the same answers. */
    name = "segments/optimize-m" BUDGET;
    before = answers(b, name, dir, s->q, 10, 0);
    snprintf(log, sizeof log, "%s-optimize.log", dir);
    const char *opt[] = { "kzsearch", "optimize", "--index", dir, "--threads", "2", "--memory", BUDGET, NULL };
    if (cli(b, name, NULL, opt, log, &secs, &rss, &mem) != 0)
        goto done;
    kzb_metric(b, name, "seconds", secs, "s", "segments/rebuild", "seconds");
    memory_metrics(b, name, &mem);
    expect_counts(b, name, dir, n, 1);
    free(got);
    got = answers(b, name, dir, s->q, 10, 0);
    same_answers(b, name, "top 10 after optimize against before", got, before);
done:
    free(got);
    free(before);
    remove(part);
}

/* A whole file, NUL-terminated, or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = NULL;
    size_t len = 0, cap = 0, got;
    char chunk[65536];
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + got + 1 > cap) {
            cap = (len + got + 1) * 2;
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                return NULL;
            }
            text = t;
        }
        memcpy(text + len, chunk, got);
        len += got;
    }
    fclose(f);
    if (!text)
        text = calloc(1, 1);
    else
        text[len] = 0;
    return text;
}

/* p50 and p99 of a latency file of `kzsearch run` (qid<TAB>microseconds);
 * -1 unless it has n lines. */
static int latency_file(const char *path, size_t n, double *p50, double *p99)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    double *us = calloc(n ? n : 1, sizeof *us);
    size_t k = 0;
    char line[4096];
    while (us && fgets(line, sizeof line, f)) {
        const char *tab = strchr(line, '\t');
        if (tab && k < n)
            us[k++] = strtod(tab + 1, NULL);
        else if (tab)
            k = n + 1;
    }
    fclose(f);
    int rc = us && k == n && n > 0 ? 0 : -1;
    if (rc == 0) {
        qsort(us, n, sizeof *us, kzb_cmp_double);
        *p50 = kzb_percentile(us, n, 0.5);
        *p99 = kzb_percentile(us, n, 0.99);
    }
    free(us);
    return rc;
}

/* segments/release-*: `run` of the release on its index against this
 * build's on the rebuild, the same passages in one segment each. */
static void release(seg_run *s, const char *old_dir)
{
    static const char *modes[] = { "and", "or" };
    kzb *b = s->b;
    const char *bin = kzb_opts(b)->baseline_bin;
    char queries[4096];
    work(queries, sizeof queries, s, "seg-queries.tsv");
    FILE *f = fopen(queries, "w");
    for (size_t i = 0; f && i < s->q->n; i++)
        fprintf(f, "%s\t%s\n", s->q->qid[i], s->q->text[i]);
    if (!f || fclose(f) != 0) {
        kzb_fail(b, "segments/release-old-and-top10", "cannot write %s", queries);
        return;
    }
    for (size_t m = 0; m < 2; m++) {
        char name[2][64], trec[2][4096], lat[2][4096], log[4200], leaf[64];
        double v[2][2][MAX_ROUNDS];
        int ok = 1;
        for (int side = 0; side < 2; side++) {
            snprintf(name[side], sizeof name[side], "segments/release-%s-%s-top10", side ? "new" : "old", modes[m]);
            snprintf(leaf, sizeof leaf, "seg-release-%s-%s.trec", side ? "new" : "old", modes[m]);
            work(trec[side], sizeof trec[side], s, leaf);
            snprintf(leaf, sizeof leaf, "seg-release-%s-%s.lat", side ? "new" : "old", modes[m]);
            work(lat[side], sizeof lat[side], s, leaf);
        }
        for (size_t r = 0; r < s->rounds && ok; r++) {
            for (int side = 0; side < 2 && ok; side++) {
                const char *args[] = { "kzsearch", "run", "--index", side ? s->rebuild : old_dir, "--queries", queries,
                                       "--mode", modes[m], "-k", "10", "--output", trec[side], "--latency",
                                       lat[side], NULL };
                snprintf(log, sizeof log, "%s.log", lat[side]);
                if (cli(b, name[side], side ? NULL : bin, args, log, NULL, NULL, NULL) != 0)
                    ok = 0;
                else if (latency_file(lat[side], s->q->n, &v[side][0][r], &v[side][1][r]) != 0) {
                    kzb_fail(b, name[side], "%s: not a latency line per query", lat[side]);
                    ok = 0;
                }
            }
            if (ok && r == 0) {
                char *x = slurp(trec[1]), *y = slurp(trec[0]);
                if (!x || !y)
                    kzb_fail(b, name[1], "cannot read %s or %s", trec[1], trec[0]);
                same_answers(b, name[1], "TREC run against the release's", x, y);
                free(x);
                free(y);
            }
        }
        if (!ok)
            continue;
        kzb_metric(b, name[0], "p50", kzb_median(v[0][0], s->rounds), "us", NULL, NULL);
        kzb_metric(b, name[0], "p99", kzb_median(v[0][1], s->rounds), "us", NULL, NULL);
        kzb_metric(b, name[1], "p50", kzb_median(v[1][0], s->rounds), "us", name[0], "p50");
        kzb_metric(b, name[1], "p99", kzb_median(v[1][1], s->rounds), "us", name[0], "p99");
    }
    remove(queries);
}

static int any_selected(const kzb *b, const char *const *names)
{
    for (; *names; names++)
        if (kzb_selected(b, *names))
            return 1;
    return 0;
}

void kzb_segments_cases(kzb *b)
{
    if (!kzb_selects_group(b, "segments/"))
        return;
    const kzb_corpus *c = kzb_main_corpus(b);
    const kzb_queries *q = kzb_main_queries(b);
    if (!c || !q)
        return;
    const kzb_options *o = kzb_opts(b);
    seg_run s = { 0 };
    kzb_corpus passages = { 0 };
    kzb_doc *upd = NULL;
    char old_dir[4096];
    s.b = b;
    s.q = q;
    s.p = &passages;
    size_t words = o->passage_words ? o->passage_words : 100;
    if (kzb_corpus_passages(&passages, c, words) != KZ_OK) {
        kzb_fail(b, "segments/rebuild", "cannot split the corpus");
        goto done;
    }
    size_t n = passages.n;
    if (n < 50) {
        kzb_fail(b, "segments/rebuild", "%zu passages: too few for 10 segments", n);
        goto done;
    }
    fprintf(stderr, "kzbench: segments: %zu passages of about %zu words\n", n, words);
    s.n_add = o->quick || n < 10000 ? n / 10 : 1000;
    s.n_del = o->quick || n < 50000 ? n / 10 : 10000;
    s.reps = o->quick ? 2 : 7;
    s.rounds = o->quick ? 1 : MAX_ROUNDS;
    snprintf(s.name_add, sizeof s.name_add, "segments/add-%zu", s.n_add);
    snprintf(s.name_update, sizeof s.name_update, "segments/update-%zu", s.n_add);
    snprintf(s.name_delete, sizeof s.name_delete, "segments/delete-%zu", s.n_del);
    const char *release_cases[] = { "segments/release-index", "segments/release-old-and-top10",
                                    "segments/release-new-and-top10", "segments/release-old-or-top10",
                                    "segments/release-new-or-top10", NULL };
    const char *added_cases[] = { s.name_add, s.name_update, "segments/add-1", s.name_delete, NULL };
    const char *ten_cases[] = { "segments/build-10", "segments/1seg-and-top10", "segments/10seg-and-top10",
                                "segments/1seg-or-top10", "segments/10seg-or-top10", "segments/add-merge-m" BUDGET,
                                "segments/optimize-m" BUDGET, NULL };
    int want_release = o->baseline_bin && any_selected(b, release_cases);
    int want_added = any_selected(b, added_cases), want_ten = any_selected(b, ten_cases);

    /* The files: every passage; new versions of n_add of those the add
     * cases leave in the first segment, spread over it, a marker word
     * added. */
    work(s.all, sizeof s.all, &s, "seg-all.jsonl");
    work(s.update, sizeof s.update, &s, "seg-update.jsonl");
    work(s.rebuild, sizeof s.rebuild, &s, "seg-rebuild");
    work(old_dir, sizeof old_dir, &s, "seg-release");
    if (write_docs(b, "segments/rebuild", passages.docs, n, s.all))
        goto done;
    upd = calloc(s.n_add, sizeof *upd);
    s.update_ids = calloc(s.n_add, sizeof *s.update_ids);
    if (!upd || !s.update_ids) {
        kzb_fail(b, "segments/rebuild", "out of memory");
        goto done;
    }
    size_t stride = (n - s.n_add) / s.n_add;
    for (size_t i = 0; i < s.n_add; i++) {
        const kzb_doc *d = &passages.docs[i * stride];
        upd[i] = *d;
        upd[i].text_len = d->text_len + strlen(" kzbenchupdated");
        if (!(upd[i].text = malloc(upd[i].text_len + 1))) {
            kzb_fail(b, "segments/rebuild", "out of memory");
            goto done;
        }
        memcpy(upd[i].text, d->text, d->text_len);
        strcpy(upd[i].text + d->text_len, " kzbenchupdated");
        s.update_ids[i] = d->id;
    }
    qsort(s.update_ids, s.n_add, sizeof *s.update_ids, cmp_str);
    if (write_docs(b, "segments/rebuild", upd, s.n_add, s.update))
        goto done;

    int have_release = want_release && release_index(&s, old_dir) == 0;
    if (rebuild(&s, have_release) != 0)
        goto done;
    if (have_release)
        release(&s, old_dir);
    if (want_added)
        added(&s);
    if (want_ten)
        ten(&s);
done:
    remove(s.all);
    remove(s.update);
    for (size_t i = 0; upd && i < s.n_add; i++)
        free(upd[i].text);
    free(upd);
    free(s.update_ids); /* the strings are the passages' */
    free(s.rebuild_answers);
    kzb_corpus_free(&passages);
}
