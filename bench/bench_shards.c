/*
 * bench_shards.c: a local shard set searched as one index, against one
 * index of the same documents (issue 18: "a local shard set of 4 shards
 * over the 666k passages gives top-10 p50 and p99 at most 1.3x one index").
 *
 * The corpus is split into passages of about 100 words (--passage-words,
 * as for scaling/ and segments/: 666,157 for wikipedia-en), written to one
 * JSON Lines file, and indexed by the CLI as child processes (--memory
 * 1G): shards/build-one is `kzsearch index` of all of them with 2 threads
 * (seconds, peak RSS; checks: N documents, one segment); shards/build-4 is
 * `kzsearch index --shard I/4` with 1 thread, for I = 0..3 one after
 * another, each reading the whole file and keeping its quarter: the sum of
 * the four wall times against build-one (informative; a Slurm array runs
 * the four two at a time on 2 cores, and a cluster of 4 nodes takes the
 * slowest shard's time, "slowest"); checks: the shards hold N documents
 * together, one segment each. shards/create is `kzsearch shards create`
 * of the four into a set (seconds). The single index and the set (its
 * folder, kz_index_open) are opened in this process and warmed
 * (kz_index_warm); N, tokens and avgdl must be equal (avgdl to the bit).
 * shards/one-<mode>-top10 and shards/set4-<mode>-top10, for AND, OR and
 * AUTO: every query of the run (KZ_QUERY_PLAIN, default options, so
 * near-duplicates collapse, top 10), parse and run timed, single thread,
 * the single index and the set alternately query by query (each first
 * every other time); one untimed pass that checks, then 5 timed rounds (1
 * in --quick). p50 and p99 in us are the medians over the rounds of each
 * round's percentiles, the set's against the single index's (the target:
 * at most 1.3); "per-query" is the median over the queries of the set's
 * fastest time over its fastest on the single index. Checks, on every
 * query and mode in the first pass: the same total, number with every
 * word and hits; the same score at every rank, to the bit; the same ids,
 * where ties between equal scores may be ordered otherwise (docids follow
 * the shards' order, README "Several indexes, and shards"): each run of
 * hits of one score holds the same documents, with those collapsed into
 * them, and where that run is cut by the 10th hit, each document one side
 * has and the other does not is a match of the query with that very score
 * in the other ranking (read deep enough, without collapsing).
 * "tie-order" counts the queries whose top 10 differs only so; the
 * timed rounds check totals again. --quick: the bundled articles'
 * passages and the built-in queries, a smoke test of the checks.
 */
#include "bench.h"
#include "kzsearch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SHARDS 4
#define ROUNDS 5
#define LIMIT 10


static int run(kz_index *ix, const char *text, kz_mode mode, unsigned flags, uint32_t limit, kz_results **out,
               double *us)
{
    kz_search_options so = KZ_SEARCH_OPTIONS_INIT;
    so.mode = mode;
    so.limit = limit;
    so.flags = flags;
    kz_query *q = NULL;
    *out = NULL;
    uint64_t t0 = kzb_now_ns();
    int rc = kz_query_parse(&q, ix, text, strlen(text), KZ_QUERY_PLAIN, NULL);
    if (rc == KZ_OK)
        rc = kz_query_run(out, q, &so);
    if (us)
        *us = (double)(kzb_now_ns() - t0) / 1000.0;
    kz_query_free(q);
    return rc;
}

/* ---------------------------------------------------------- comparing */

/* A document of a page: a hit, or one collapsed into hit `lead`. */
typedef struct entry {
    char *id;
    double score;
    size_t lead;
} entry;

typedef struct page {
    size_t n;       /* hits */
    entry *hit;     /* n of them */
    entry *similar; /* n_similar, each naming its hit */
    size_t n_similar;
} page;

static void page_free(page *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->hit[i].id);
    for (size_t i = 0; i < p->n_similar; i++)
        free(p->similar[i].id);
    free(p->hit);
    free(p->similar);
    memset(p, 0, sizeof *p);
}

static char *doc_id(kz_index *ix, uint32_t docid)
{
    kz_doc d;
    return kz_index_doc(ix, &d, docid, NULL, 0) == KZ_OK ? strndup(d.id, d.id_len) : NULL;
}

static int page_read(page *out, kz_index *ix, const kz_results *r)
{
    memset(out, 0, sizeof *out);
    out->n = kz_results_count(r);
    size_t n_sim = (size_t)kz_results_collapsed(r);
    out->hit = calloc(out->n ? out->n : 1, sizeof *out->hit);
    out->similar = calloc(n_sim ? n_sim : 1, sizeof *out->similar);
    if (!out->hit || !out->similar)
        return -1;
    for (size_t i = 0; i < out->n; i++) {
        const kz_hit *h = kz_results_hit(r, i);
        out->hit[i] = (entry){ doc_id(ix, h->docid), h->score, i };
        if (!out->hit[i].id)
            return -1;
        for (size_t j = 0; j < kz_results_similar_count(r, i) && out->n_similar < n_sim; j++) {
            const kz_hit *s = kz_results_similar(r, i, j);
            entry *e = &out->similar[out->n_similar++];
            *e = (entry){ doc_id(ix, s->docid), s->score, i };
            if (!e->id)
                return -1;
        }
    }
    return 0;
}

static int same_bits(double x, double y) { return memcmp(&x, &y, sizeof x) == 0; }

static int cmp_entry(const void *x, const void *y)
{
    const entry *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return strcmp(a->id, b->id);
}

/* The hits [from, to) of p and the documents collapsed into them, sorted
 * by score, then id: *n of them (pointers into p). */
static entry *run_entries(const page *p, size_t from, size_t to, size_t *n)
{
    entry *v = malloc((to - from + p->n_similar + 1) * sizeof *v);
    *n = 0;
    if (!v)
        return NULL;
    for (size_t i = from; i < to; i++)
        v[(*n)++] = p->hit[i];
    for (size_t i = 0; i < p->n_similar; i++)
        if (p->similar[i].lead >= from && p->similar[i].lead < to)
            v[(*n)++] = p->similar[i];
    qsort(v, *n, sizeof *v, cmp_entry);
    return v;
}

/* Whether id is a match of text in ix, mode, with exactly score s: the
 * ranking without collapsing, read until its scores fall below s. 1 yes,
 * 0 no, -1 on an error. */
static int match_with_score(kz_index *ix, const char *text, kz_mode mode, const char *id, double s)
{
    for (uint32_t limit = 1024;; limit *= 4) {
        kz_results *r;
        if (run(ix, text, mode, KZ_SEARCH_NO_COLLAPSE, limit, &r, NULL) != KZ_OK)
            return -1;
        size_t n = kz_results_count(r);
        int found = 0, below = 0;
        for (size_t i = 0; i < n && !found && !below; i++) {
            const kz_hit *h = kz_results_hit(r, i);
            if (h->score < s)
                below = 1;
            else if (same_bits(h->score, s)) {
                char *got = doc_id(ix, h->docid);
                found = got && strcmp(got, id) == 0;
                free(got);
            }
        }
        kz_results_free(r);
        if (found || below || n < limit || limit > (1u << 24))
            return found;
    }
}

/* Compares the set's answer t to the single index's r, one query in one
 * mode: 0 the same, 1 the same but for the order of tied hits, -1 not
 * the same (reported). */
static int compare(kzb *b, const char *name, const char *qid, const char *text, kz_mode mode, kz_index *one,
                   const kz_results *r, kz_index *set, const kz_results *t)
{
    page x = { 0 }, y = { 0 };
    int res = 0;
    if (kz_results_total(r) != kz_results_total(t) ||
        kz_results_total_all_words(r) != kz_results_total_all_words(t) ||
        kz_results_all_words_hits(r) != kz_results_all_words_hits(t) || kz_results_count(r) != kz_results_count(t)) {
        kzb_fail(b, name, "query %s: %zu hits of %llu (%llu with every word), one index %zu of %llu (%llu)", qid,
                 kz_results_count(t), (unsigned long long)kz_results_total(t),
                 (unsigned long long)kz_results_total_all_words(t), kz_results_count(r),
                 (unsigned long long)kz_results_total(r), (unsigned long long)kz_results_total_all_words(r));
        return -1;
    }
    if (page_read(&x, one, r) || page_read(&y, set, t)) {
        kzb_fail(b, name, "query %s: cannot read its hits: %s", qid, kz_last_error());
        res = -1;
        goto done;
    }
    size_t n = x.n;
    for (size_t i = 0; i < n; i++)
        if (!same_bits(x.hit[i].score, y.hit[i].score)) {
            kzb_fail(b, name, "query %s: hit %zu scores %a, one index %a", qid, i, y.hit[i].score, x.hit[i].score);
            res = -1;
            goto done;
        }
    int exact = x.n_similar == y.n_similar;
    for (size_t i = 0; exact && i < n; i++)
        exact = strcmp(x.hit[i].id, y.hit[i].id) == 0;
    for (size_t i = 0; exact && i < x.n_similar; i++)
        exact = strcmp(x.similar[i].id, y.similar[i].id) == 0 && same_bits(x.similar[i].score, y.similar[i].score) &&
                x.similar[i].lead == y.similar[i].lead;
    if (exact)
        goto done;
    /* Runs of one score (and, in AUTO mode, one side of the line between
     * matches with every word and the rest). */
    uint64_t line = kz_results_all_words_hits(r);
    for (size_t from = 0, to; from < n && res == 0; from = to) {
        int every = mode == KZ_MODE_AUTO && from < line;
        for (to = from + 1; to < n && same_bits(x.hit[to].score, x.hit[from].score) &&
                            (mode != KZ_MODE_AUTO || (to < line) == every);
             to++)
            ;
        if (to == n && n == LIMIT) {
            /* Cut by the page: the documents one side shows and the other
             * does not must be matches of that score on the other. */
            kz_mode deep = mode == KZ_MODE_AUTO ? (every ? KZ_MODE_ALL : KZ_MODE_ANY) : mode;
            for (int side = 0; side < 2 && res == 0; side++) {
                const page *p = side ? &y : &x, *o = side ? &x : &y;
                for (size_t i = from; i < to && res == 0; i++) {
                    int shown = 0;
                    for (size_t j = from; j < to && !shown; j++)
                        shown = strcmp(p->hit[i].id, o->hit[j].id) == 0;
                    if (shown)
                        continue;
                    int m = match_with_score(side ? one : set, text, deep, p->hit[i].id, p->hit[i].score);
                    if (m != 1) {
                        kzb_fail(b, name, "query %s: hit %zu, %s (%a), of the %s is %s on the %s", qid, i,
                                 p->hit[i].id, p->hit[i].score, side ? "set" : "one index",
                                 m < 0 ? "unreadable" : "no match of that score", side ? "one index" : "set");
                        res = -1;
                    }
                }
            }
            break;
        }
        size_t nx, ny;
        entry *ex = run_entries(&x, from, to, &nx), *ey = run_entries(&y, from, to, &ny);
        int same = ex && ey && nx == ny;
        for (size_t i = 0; same && i < nx; i++)
            same = strcmp(ex[i].id, ey[i].id) == 0 && same_bits(ex[i].score, ey[i].score);
        if (!same) {
            kzb_fail(b, name, "query %s: hits %zu to %zu (score %a) are not the same documents as the one index's "
                     "(%s against %s first)", qid, from, to - 1, x.hit[from].score, ey && ny ? ey[0].id : "?",
                     ex && nx ? ex[0].id : "?");
            res = -1;
        }
        free(ex);
        free(ey);
    }
    if (res == 0)
        res = 1;
done:
    page_free(&x);
    page_free(&y);
    return res;
}

/* ---------------------------------------------------------- the cases */

typedef struct shard_run {
    kzb *b;
    const kzb_queries *q;
    size_t n;                /* passages */
    char all[4096];          /* their file */
    char one[4096];          /* the single index */
    char shard[SHARDS][4096];
    char set[4096];
} shard_run;

/* shards/build-one, shards/build-4, shards/create. */
static int build(shard_run *s)
{
    kzb *b = s->b;
    char log[4200];
    double secs, sum = 0, slowest = 0;
    uint64_t rss, docs, segs, kept = 0;

    const char *name = "shards/build-one";
    kzb_remove_tree(s->one);
    snprintf(log, sizeof log, "%s.log", s->one);
    const char *one[] = { "kzsearch", "index", "-o", s->one, "--threads", "2", "--memory", "1G", s->all, NULL };
    if (kzb_cli(b, name, one, log, &secs, &rss) != 0)
        return -1;
    kzb_metric(b, name, "seconds", secs, "s", NULL, NULL);
    kzb_metric(b, name, "peak_rss", (double)rss / 1e6, "MB", NULL, NULL);
    kzb_metric(b, name, "docs", (double)s->n, "", NULL, NULL);
    if (kzb_index_counts(b, name, s->one, &docs, &segs) != 0)
        return -1;
    if (docs != s->n || segs != 1) {
        kzb_fail(b, name, "%s: %llu documents in %llu segments, not %zu in 1", s->one, (unsigned long long)docs,
                 (unsigned long long)segs, s->n);
        return -1;
    }

    name = "shards/build-4";
    for (int i = 0; i < SHARDS; i++) {
        char which[16];
        snprintf(which, sizeof which, "%d/%d", i, SHARDS);
        kzb_remove_tree(s->shard[i]);
        snprintf(log, sizeof log, "%s.log", s->shard[i]);
        const char *args[] = { "kzsearch", "index", "--shard", which, "-o", s->shard[i], "--threads", "1",
                               "--memory", "1G", s->all, NULL };
        if (kzb_cli(b, name, args, log, &secs, &rss) != 0)
            return -1;
        sum += secs;
        slowest = secs > slowest ? secs : slowest;
        if (kzb_index_counts(b, name, s->shard[i], &docs, &segs) != 0)
            return -1;
        if (segs != 1)
            kzb_fail(b, name, "%s: %llu segments, not 1", s->shard[i], (unsigned long long)segs);
        kept += docs;
    }
    kzb_metric(b, name, "seconds", sum, "s", "shards/build-one", "seconds");
    kzb_metric(b, name, "slowest", slowest, "s", "shards/build-one", "seconds");
    if (kept != s->n) {
        kzb_fail(b, name, "the shards hold %llu documents together, not %zu", (unsigned long long)kept, s->n);
        return -1;
    }

    name = "shards/create";
    kzb_remove_tree(s->set);
    snprintf(log, sizeof log, "%s.log", s->set);
    const char *create[] = { "kzsearch", "shards", "create", s->set, s->shard[0], s->shard[1], s->shard[2],
                             s->shard[3], NULL };
    if (kzb_cli(b, name, create, log, &secs, &rss) != 0)
        return -1;
    kzb_metric(b, name, "seconds", secs, "s", NULL, NULL);
    return 0;
}

/* The latency of one mode on both, alternately, with the checks. */
static void latency(shard_run *s, kz_index *one, kz_index *set, kz_mode mode, const char *mode_name, size_t rounds)
{
    kzb *b = s->b;
    const kzb_queries *q = s->q;
    char name_one[64], name_set[64];
    snprintf(name_one, sizeof name_one, "shards/one-%s-top10", mode_name);
    snprintf(name_set, sizeof name_set, "shards/set%d-%s-top10", SHARDS, mode_name);
    if (!kzb_selected(b, name_one) && !kzb_selected(b, name_set))
        return;
    size_t nq = q->n ? q->n : 1;
    double *us[2], *fast[2], pct[2][2][ROUNDS]; /* [side][p50, p99][round] */
    double *tmp = malloc(nq * sizeof *tmp);
    us[0] = malloc(rounds * nq * sizeof *us[0]);
    us[1] = malloc(rounds * nq * sizeof *us[1]);
    fast[0] = malloc(nq * sizeof *fast[0]);
    fast[1] = malloc(nq * sizeof *fast[1]);
    size_t bad = 0, tie_order = 0;
    if (!tmp || !us[0] || !us[1] || !fast[0] || !fast[1]) {
        kzb_fail(b, name_set, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < q->n; i++)
        fast[0][i] = fast[1][i] = INFINITY;
    /* Pass 0 warms and checks every query; then the timed rounds. */
    for (size_t pass = 0; pass <= rounds; pass++) {
        for (size_t i = 0; i < q->n; i++) {
            kz_results *r[2] = { NULL, NULL };
            double t[2] = { 0, 0 };
            int rc = KZ_OK;
            for (size_t k = 0; k < 2 && rc == KZ_OK; k++) {
                size_t side = (pass + i + k) % 2; /* 0 the single index, 1 the set */
                rc = run(side ? set : one, q->text[i], mode, 0, LIMIT, &r[side], &t[side]);
            }
            if (rc != KZ_OK) {
                if (!bad++)
                    kzb_fail(b, name_set, "query %s: %s", q->qid[i], kz_last_error());
            } else if (pass == 0) {
                int c = compare(b, name_set, q->qid[i], q->text[i], mode, one, r[0], set, r[1]);
                bad += c < 0;
                tie_order += c == 1;
            } else {
                if (kz_results_total(r[0]) != kz_results_total(r[1]) && !bad++)
                    kzb_fail(b, name_set, "query %s: total %llu, one index %llu", q->qid[i],
                             (unsigned long long)kz_results_total(r[1]), (unsigned long long)kz_results_total(r[0]));
                for (size_t side = 0; side < 2; side++) {
                    us[side][(pass - 1) * nq + i] = t[side];
                    fast[side][i] = fmin(fast[side][i], t[side]);
                }
            }
            kz_results_free(r[0]);
            kz_results_free(r[1]);
        }
    }
    if (bad || q->n == 0)
        goto done;
    for (size_t side = 0; side < 2; side++)
        for (size_t p = 0; p < rounds; p++) {
            memcpy(tmp, us[side] + p * nq, q->n * sizeof *tmp);
            qsort(tmp, q->n, sizeof *tmp, kzb_cmp_double);
            pct[side][0][p] = kzb_percentile(tmp, q->n, 0.5);
            pct[side][1][p] = kzb_percentile(tmp, q->n, 0.99);
        }
    for (size_t i = 0; i < q->n; i++)
        tmp[i] = fast[1][i] / fast[0][i];
    kzb_metric(b, name_one, "p50", kzb_median(pct[0][0], rounds), "us", NULL, NULL);
    kzb_metric(b, name_one, "p99", kzb_median(pct[0][1], rounds), "us", NULL, NULL);
    kzb_metric(b, name_set, "p50", kzb_median(pct[1][0], rounds), "us", name_one, "p50");
    kzb_metric(b, name_set, "p99", kzb_median(pct[1][1], rounds), "us", name_one, "p99");
    kzb_metric(b, name_set, "per-query", kzb_median(tmp, q->n), "x", NULL, NULL);
    kzb_metric(b, name_set, "tie-order", (double)tie_order, "queries", NULL, NULL);
done:
    free(tmp);
    free(us[0]);
    free(us[1]);
    free(fast[0]);
    free(fast[1]);
}

void kzb_shards_cases(kzb *b)
{
    if (!kzb_selects_group(b, "shards/"))
        return;
    const kzb_corpus *c = kzb_main_corpus(b);
    const kzb_queries *q = kzb_main_queries(b);
    if (!c || !q)
        return;
    const kzb_options *o = kzb_opts(b);
    shard_run s = { .b = b, .q = q };
    kzb_corpus passages = { 0 };
    kz_index *one = NULL, *set = NULL;
    size_t words = o->passage_words ? o->passage_words : 100;
    if (kzb_corpus_passages(&passages, c, words) != KZ_OK) {
        kzb_fail(b, "shards/build-one", "cannot split the corpus");
        goto done;
    }
    s.n = passages.n;
    fprintf(stderr, "kzbench: shards: %zu passages of about %zu words, %d shards\n", s.n, words, SHARDS);
    kzb_work_path(s.all, sizeof s.all, b, "shards-all.jsonl");
    kzb_work_path(s.one, sizeof s.one, b, "shards-one");
    kzb_work_path(s.set, sizeof s.set, b, "shards-set");
    for (int i = 0; i < SHARDS; i++) {
        char leaf[32];
        snprintf(leaf, sizeof leaf, "shards-%d-of-%d", i, SHARDS);
        kzb_work_path(s.shard[i], sizeof s.shard[i], b, leaf);
    }
    if (kzb_corpus_write(&passages, s.all) != KZ_OK) {
        kzb_fail(b, "shards/build-one", "cannot write %s", s.all);
        goto done;
    }
    kzb_corpus_free(&passages); /* the file has them */
    if (build(&s) != 0)
        goto done;

    const char *name = "shards/set4-and-top10";
    if (kz_index_open(&one, s.one) != KZ_OK || kz_index_warm(one) != KZ_OK) {
        kzb_fail(b, name, "cannot open %s: %s", s.one, kz_last_error());
        goto done;
    }
    if (kz_index_open(&set, s.set) != KZ_OK || kz_index_warm(set) != KZ_OK) {
        kzb_fail(b, name, "cannot open the set %s: %s", s.set, kz_last_error());
        goto done;
    }
    kz_index_info x, y;
    kz_index_get_info(one, &x);
    kz_index_get_info(set, &y);
    if (kz_index_part_count(set) != SHARDS || y.segments != SHARDS)
        kzb_fail(b, name, "the set opens %zu parts, %llu segments, not %d", kz_index_part_count(set),
                 (unsigned long long)y.segments, SHARDS);
    if (x.docs != y.docs || x.tokens != y.tokens || !same_bits(x.avgdl, y.avgdl))
        kzb_fail(b, name, "the set has N %llu, %llu tokens, avgdl %a; one index %llu, %llu, %a",
                 (unsigned long long)y.docs, (unsigned long long)y.tokens, y.avgdl, (unsigned long long)x.docs,
                 (unsigned long long)x.tokens, x.avgdl);
    size_t rounds = o->quick ? 1 : ROUNDS;
    latency(&s, one, set, KZ_MODE_ALL, "and", rounds);
    latency(&s, one, set, KZ_MODE_ANY, "or", rounds);
    latency(&s, one, set, KZ_MODE_AUTO, "auto", rounds);
done:
    kz_index_free(one);
    kz_index_free(set);
    remove(s.all);
    kzb_corpus_free(&passages);
}
