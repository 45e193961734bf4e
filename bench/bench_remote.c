/*
 * bench_remote.c: the remote coordinator over loopback, against one
 * server searching the same shards as one index in its process (issue
 * 18: "the remote coordinator over loopback adds at most 1 ms at p50").
 *
 * The corpus is split into passages as for shards/ (--passage-words,
 * default 100: 666,157 for wikipedia-en), written to one JSON Lines file
 * and indexed by the CLI as 4 shards (`kzsearch index --shard I/4`, 2
 * threads, --memory 1G, one after another), recorded as a set (`kzsearch
 * shards create`). When shards/ built its set in this run, that set is
 * used instead. Six servers are started as child processes (KZ_CLI_PATH,
 * `serve --listen 127.0.0.1:0 --threads 1`, the port read from the line
 * each prints, /healthz answered first): the baseline, `serve --index
 * SET` (the 4 shards as one index, kz_index_open of the set); the 4
 * machines, `serve --index SHARD_I`; and the coordinator, `serve --remote
 * URL_0 ... --remote URL_3` in shard order, so that docids are numbered as
 * the set numbers them. One thread a server: each has one client
 * connection (the coordinator keeps one to each machine), so a pool would
 * only add idle threads on 2 cores.
 *
 * remote/set4-top10 (the baseline) and remote/coord4-top10: `GET
 * /api/search?q=QUERY&n=10` for every query of the run (as serve/), over
 * one kept-alive connection to each (the client of bench_serve.c), the
 * time from the request's first byte sent to the reply's last byte read.
 * The two alternate query by query, each first every other time; one
 * untimed pass warms both, then 5 timed rounds (1 in --quick). p50 and
 * p99 in us are the medians over the rounds of each round's
 * percentiles, the coordinator's against the baseline's; "added-p50" is
 * the coordinator's p50 minus the baseline's (the target: at most 1000
 * us), "added-per-query" the median over the queries of the
 * coordinator's fastest time minus the baseline's fastest. "cpu" is the
 * CPU time (user and system, /proc/PID/stat, over the timed rounds) a
 * search took: the baseline server's, and the coordinator's and the 4
 * machines' together against it; "cpu-coordinator" the coordinator's
 * alone (not in --quick: the kernel counts CPU time in clock ticks). On
 * 2 cores, what the servers spend together bounds the wall time from
 * below.
 * remote/set4-top10-fragments0 and remote/coord4-top10-fragments0: the
 * same with `&fragments=0` (no passages, no stored text read): what the
 * three steps cost without the snippets that dominate a reply (README
 * "Serving", "Measured").
 *
 * Checks, on every reply of every pass: both are 200s; the coordinator's
 * JSON is the baseline's byte for byte once "took_ms" is taken out of
 * both and the coordinator's trailing `, "machines": {...}` is taken off
 * (tests/test_remote.sh, normalize), and that object says "partial":
 * false; every server stops cleanly on SIGTERM. --quick: the bundled
 * articles' passages and the built-in queries. Skipped (said on stderr)
 * where libmicrohttpd or libcurl is not installed.
 */
#include "bench.h"
#include "kzsearch.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define SHARDS 4
#define ROUNDS 5
#define LIMIT 10
#define START_SECONDS 300 /* for a server to open and warm its index */
#define REPORTED 5        /* mismatches reported one by one; the rest counted */


/* ---------------------------------------------------------------- servers */

/* Its CPU time so far (user and system, /proc/PID/stat), in us; 0 if it
 * cannot be read. */
static double server_cpu_us(const kzb_server *s)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)s->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* After the command's name in parentheses: state is field 3, utime
     * and stime fields 14 and 15. */
    const char *p = strrchr(buf, ')');
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return 0;
    return (double)(utime + stime) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

/* ---------------------------------------------------------------- the client */

/* /api/search?q=text&n=10 with text percent-encoded, then extra. */
static void search_path(char *out, size_t size, const char *text, const char *extra)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t at = (size_t)snprintf(out, size, "/api/search?q=");
    for (const unsigned char *p = (const unsigned char *)text; *p && at + 4 < size; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
            out[at++] = (char)*p;
        } else {
            out[at++] = '%';
            out[at++] = hex[*p >> 4];
            out[at++] = hex[*p & 15];
        }
    }
    snprintf(out + at, size - at, "&n=%d%s", LIMIT, extra);
}

/* ---------------------------------------------------------------- comparing */

/* body without the figure of its "took_ms" and, for the coordinator's
 * (machines), its trailing `, "machines": {...}` (which must be the end
 * of its line and say "partial": false): malloc'd, NULL with *why when
 * the reply lacks what it should have. As tests/test_remote.sh's
 * normalize: keys are found as text, since inside a JSON string a quote
 * is escaped. */
static char *normalized(const char *body, size_t len, int machines, const char **why)
{
    char *out = malloc(len + 2);
    if (!out) {
        *why = "out of memory";
        return NULL;
    }
    const char *t = strstr(body, "\"took_ms\": ");
    if (!t) {
        free(out);
        *why = "no \"took_ms\"";
        return NULL;
    }
    t += strlen("\"took_ms\": ");
    size_t n = (size_t)(t - body);
    memcpy(out, body, n);
    const char *p = t;
    while ((*p >= '0' && *p <= '9') || *p == '.')
        p++;
    const char *rest_end = body + len;
    if (machines) {
        const char *m = strstr(p, ", \"machines\": {");
        const char *eol = m ? memchr(m, '\n', (size_t)(body + len - m)) : NULL;
        if (!eol)
            eol = body + len;
        if (!m || eol - m < 2 || memcmp(eol - 2, "}}", 2) != 0) {
            free(out);
            *why = "no trailing \"machines\" object";
            return NULL;
        }
        if (!memmem(m, (size_t)(eol - m), "\"partial\": false", 16)) {
            free(out);
            *why = "a partial result";
            return NULL;
        }
        memcpy(out + n, p, (size_t)(m - p));
        n += (size_t)(m - p);
        out[n++] = '}';
        p = eol;
    }
    memcpy(out + n, p, (size_t)(rest_end - p));
    n += (size_t)(rest_end - p);
    out[n] = 0;
    return out;
}

/* Whether the coordinator's reply is the baseline's: 0, or -1 with what
 * differs in why. */
static int replies_differ(const char *base, size_t base_len, const char *coord, size_t coord_len, char *why,
                          size_t size)
{
    const char *w = NULL;
    char *x = normalized(base, base_len, 0, &w);
    if (!x) {
        snprintf(why, size, "the baseline's reply: %s", w);
        return -1;
    }
    char *y = normalized(coord, coord_len, 1, &w);
    if (!y) {
        snprintf(why, size, "the coordinator's reply: %s: %.300s", w, coord);
        free(x);
        return -1;
    }
    int res = 0;
    if (strcmp(x, y) != 0) {
        size_t at = 0;
        while (x[at] && x[at] == y[at])
            at++;
        size_t from = at > 60 ? at - 60 : 0;
        snprintf(why, size, "differs at byte %zu: coordinator \"%.120s\", baseline \"%.120s\"", at, y + from, x + from);
        res = -1;
    }
    free(x);
    free(y);
    return res;
}

/* ---------------------------------------------------------------- the run */

typedef struct remote_run {
    kzb *b;
    const kzb_queries *q;
    size_t rounds;
    char all[4096]; /* the passages */
    char shard[SHARDS][4096];
    char set[4096];
    kzb_server base, machine[SHARDS], coord;
    kzb_conn to_base, to_coord;
} remote_run;

/* The CPU time so far of the baseline (cpu[0]), the coordinator (cpu[1])
 * and the machines together (cpu[2]), in us. */
static void cpu_now(const remote_run *r, double cpu[3])
{
    cpu[0] = server_cpu_us(&r->base);
    cpu[1] = server_cpu_us(&r->coord);
    cpu[2] = 0;
    for (int i = 0; i < SHARDS; i++)
        cpu[2] += server_cpu_us(&r->machine[i]);
}

/* The set and its shards: shards/'s if it built them in this run, else
 * built here from the corpus's passages. 0, or -1 after a kzb_fail. */
static int build(remote_run *r)
{
    kzb *b = r->b;
    if (!isnan(kzb_value(b, "shards/create", "seconds"))) {
        kzb_work_path(r->set, sizeof r->set, b, "shards-set");
        for (int i = 0; i < SHARDS; i++) {
            char leaf[32];
            snprintf(leaf, sizeof leaf, "shards-%d-of-%d", i, SHARDS);
            kzb_work_path(r->shard[i], sizeof r->shard[i], b, leaf);
        }
        fprintf(stderr, "kzbench: remote: the shards shards/ built (%s)\n", r->set);
        return 0;
    }
    kzb_work_path(r->all, sizeof r->all, b, "remote-all.jsonl");
    kzb_work_path(r->set, sizeof r->set, b, "remote-set");
    for (int i = 0; i < SHARDS; i++) {
        char leaf[32];
        snprintf(leaf, sizeof leaf, "remote-%d-of-%d", i, SHARDS);
        kzb_work_path(r->shard[i], sizeof r->shard[i], b, leaf);
    }
    const kzb_corpus *c = kzb_main_corpus(b);
    if (!c)
        return -1;
    size_t words = kzb_opts(b)->passage_words ? kzb_opts(b)->passage_words : 100;
    kzb_corpus passages = { 0 };
    if (kzb_corpus_passages(&passages, c, words) != KZ_OK) {
        kzb_fail(b, "remote/build", "cannot split the corpus");
        return -1;
    }
    size_t n = passages.n;
    fprintf(stderr, "kzbench: remote: %zu passages of about %zu words, %d shards\n", n, words, SHARDS);
    int rc = kzb_corpus_write(&passages, r->all);
    kzb_corpus_free(&passages);
    if (rc != KZ_OK) {
        kzb_fail(b, "remote/build", "cannot write %s", r->all);
        return -1;
    }
    char log[4200];
    for (int i = 0; i < SHARDS && rc == 0; i++) {
        char which[16];
        snprintf(which, sizeof which, "%d/%d", i, SHARDS);
        kzb_remove_tree(r->shard[i]);
        snprintf(log, sizeof log, "%s.log", r->shard[i]);
        const char *args[] = { "kzsearch", "index", "--shard", which, "-o", r->shard[i], "--threads", "2",
                               "--memory", "1G", r->all, NULL };
        double secs;
        uint64_t rss;
        rc = kzb_cli(b, "remote/build", args, log, &secs, &rss);
    }
    remove(r->all);
    if (rc != 0)
        return -1;
    kzb_remove_tree(r->set);
    snprintf(log, sizeof log, "%s.log", r->set);
    const char *create[] = { "kzsearch", "shards", "create", r->set, r->shard[0], r->shard[1], r->shard[2],
                             r->shard[3], NULL };
    double secs;
    uint64_t rss;
    if (kzb_cli(b, "remote/build", create, log, &secs, &rss) != 0)
        return -1;
    kz_index *ix;
    if (kz_index_open(&ix, r->set) != KZ_OK) {
        kzb_fail(b, "remote/build", "cannot open the set %s: %s", r->set, kz_last_error());
        return -1;
    }
    kz_index_info info;
    kz_index_get_info(ix, &info);
    kz_index_free(ix);
    if (info.docs != n) {
        kzb_fail(b, "remote/build", "the set holds %llu documents, not %zu", (unsigned long long)info.docs, n);
        return -1;
    }
    return 0;
}

/* The six servers and a connection to the baseline and the coordinator.
 * 0, 1 when skipped (said), -1 after a kzb_fail. */
static int start(remote_run *r)
{
    kzb *b = r->b;
    const char *name = "remote/coord4-top10";
    char leaf[32];
    kzb_work_path(r->base.log, sizeof r->base.log, b, "remote-set.serve.log");
    /* One thread each: the 6 servers and the client share the machine. */
    const char *base_args[] = { "--index", r->set, "--threads", "1" };
    int st = kzb_server_start(&r->base, base_args, 4, START_SECONDS);
    if (st == 1) {
        fprintf(stderr, "kzbench: remote/ skipped: libmicrohttpd is not installed\n");
        return 1;
    }
    if (st != 0) {
        kzb_fail(b, name, "kzsearch serve --index %s did not start (%s)", r->set, r->base.log);
        return -1;
    }
    const char *coord_args[2 * SHARDS + 2] = { "--threads", "1" };
    for (int i = 0; i < SHARDS; i++) {
        snprintf(leaf, sizeof leaf, "remote-%d.serve.log", i);
        kzb_work_path(r->machine[i].log, sizeof r->machine[i].log, b, leaf);
        const char *args[] = { "--index", r->shard[i], "--threads", "1" };
        if (kzb_server_start(&r->machine[i], args, 4, START_SECONDS) != 0) {
            kzb_fail(b, name, "kzsearch serve --index %s did not start (%s)", r->shard[i], r->machine[i].log);
            return -1;
        }
        coord_args[2 + 2 * i] = "--remote";
        coord_args[2 + 2 * i + 1] = r->machine[i].url;
    }
    kzb_work_path(r->coord.log, sizeof r->coord.log, b, "remote-coord.serve.log");
    if (kzb_server_start(&r->coord, coord_args, 2 * SHARDS + 2, START_SECONDS) != 0) {
        kzb_fail(b, name, "kzsearch serve --remote ... did not start (%s)", r->coord.log);
        return -1;
    }
    kzb_server *all[] = { &r->base, &r->machine[0], &r->machine[1], &r->machine[2], &r->machine[3], &r->coord };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        kzb_conn c = { .fd = -1 };
        int status = 0;
        const char *body;
        size_t len;
        int ok = kzb_conn_open(&c, all[i]->port) == 0 && kzb_http_get(&c, "/healthz", &status, &body, &len) == 0 &&
                 status == 200 && strstr(body, "\"status\": \"ok\"");
        kzb_conn_close(&c);
        if (!ok) {
            kzb_fail(b, name, "/healthz of %s: status %d (%s)", all[i]->url, status, all[i]->log);
            return -1;
        }
    }
    if (kzb_conn_open(&r->to_base, r->base.port) != 0 || kzb_conn_open(&r->to_coord, r->coord.port) != 0) {
        kzb_fail(b, name, "cannot connect to the baseline or the coordinator");
        return -1;
    }
    return 0;
}

/* Every server stopped; a failed check for each that did not stop cleanly. */
static void stop(remote_run *r)
{
    kzb_conn_close(&r->to_base);
    kzb_conn_close(&r->to_coord);
    kzb_server *all[] = { &r->coord, &r->machine[0], &r->machine[1], &r->machine[2], &r->machine[3], &r->base };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        int was = all[i]->pid != 0;
        if (was && kzb_server_stop(all[i]) != 0)
            kzb_fail(r->b, "remote/coord4-top10", "kzsearch serve (%s) did not stop cleanly on SIGTERM (%s)",
                     all[i]->url, all[i]->log);
    }
}

/* The latency of both sides, alternately, every reply compared. extra is
 * appended to each request ("" or "&fragments=0"), suffix to the cases'
 * names. 0, 1 when the coordinator cannot reach libcurl (said), -1 on a
 * failure (reported). */
static int latency(remote_run *r, const char *extra, const char *suffix)
{
    kzb *b = r->b;
    const kzb_queries *q = r->q;
    char name_base[64], name_coord[64];
    snprintf(name_base, sizeof name_base, "remote/set%d-top10%s", SHARDS, suffix);
    snprintf(name_coord, sizeof name_coord, "remote/coord%d-top10%s", SHARDS, suffix);
    if (!kzb_selected(b, name_base) && !kzb_selected(b, name_coord))
        return 0;
    size_t nq = q->n, rounds = r->rounds;
    double *us[2], *fast[2], pct[2][2][ROUNDS]; /* [side][p50, p99][round] */
    double *tmp = malloc((nq ? nq : 1) * sizeof *tmp);
    us[0] = malloc((rounds * nq + 1) * sizeof *us[0]);
    us[1] = malloc((rounds * nq + 1) * sizeof *us[1]);
    fast[0] = malloc((nq ? nq : 1) * sizeof *fast[0]);
    fast[1] = malloc((nq ? nq : 1) * sizeof *fast[1]);
    size_t bad = 0;
    int res = -1;
    char path[12288], why[1024];
    if (!tmp || !us[0] || !us[1] || !fast[0] || !fast[1]) {
        kzb_fail(b, name_coord, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nq; i++)
        fast[0][i] = fast[1][i] = INFINITY;
    kzb_conn *to[2] = { &r->to_base, &r->to_coord };
    double cpu0[3] = { 0, 0, 0 }, cpu1[3];
    /* Pass 0 warms both; then the timed rounds. Every reply is checked. */
    for (size_t pass = 0; pass <= rounds && bad <= REPORTED; pass++) {
        if (pass == 1)
            cpu_now(r, cpu0);
        for (size_t i = 0; i < nq && bad <= REPORTED; i++) {
            search_path(path, sizeof path, q->text[i], extra);
            int status[2] = { 0, 0 };
            const char *body[2] = { NULL, NULL };
            size_t len[2] = { 0, 0 };
            double t[2] = { 0, 0 };
            int failed = 0;
            for (size_t k = 0; k < 2 && !failed; k++) {
                size_t side = (pass + i + k) % 2; /* 0 the baseline, 1 the coordinator */
                uint64_t t0 = kzb_now_ns();
                failed = kzb_http_get(to[side], path, &status[side], &body[side], &len[side]) != 0;
                t[side] = (double)(kzb_now_ns() - t0) / 1000.0;
                if (failed)
                    snprintf(why, sizeof why, "query %s: no reply from the %s, or a malformed one", q->qid[i],
                             side ? "coordinator" : "baseline");
            }
            int broken = failed; /* no reply: the connection is no longer usable */
            if (!failed && (status[0] != 200 || status[1] != 200)) {
                if (status[1] != 200 && kzb_server_log_says(&r->coord, "needs libcurl")) {
                    fprintf(stderr, "kzbench: remote/ skipped: libcurl is not installed\n");
                    res = 1;
                    goto done;
                }
                snprintf(why, sizeof why, "query %s: status %d from the baseline (%.200s), %d from the coordinator "
                         "(%.200s)", q->qid[i], status[0], body[0], status[1], body[1]);
                failed = 1;
            }
            if (!failed) {
                char what[800];
                if (replies_differ(body[0], len[0], body[1], len[1], what, sizeof what) != 0) {
                    snprintf(why, sizeof why, "query %s (%s): %s", q->qid[i], q->text[i], what);
                    failed = 1;
                }
            }
            if (failed) {
                if (++bad <= REPORTED)
                    kzb_fail(b, name_coord, "%s", why);
                if (broken)
                    goto done;
                continue;
            }
            if (pass > 0)
                for (size_t side = 0; side < 2; side++) {
                    us[side][(pass - 1) * nq + i] = t[side];
                    fast[side][i] = fmin(fast[side][i], t[side]);
                }
        }
    }
    cpu_now(r, cpu1);
    if (bad > REPORTED)
        kzb_fail(b, name_coord, "more than %d replies failed their checks; stopped", REPORTED);
    if (bad || nq == 0)
        goto done;
    for (size_t side = 0; side < 2; side++)
        for (size_t p = 0; p < rounds; p++) {
            memcpy(tmp, us[side] + p * nq, nq * sizeof *tmp);
            qsort(tmp, nq, sizeof *tmp, kzb_cmp_double);
            pct[side][0][p] = kzb_percentile(tmp, nq, 0.5);
            pct[side][1][p] = kzb_percentile(tmp, nq, 0.99);
        }
    for (size_t i = 0; i < nq; i++)
        tmp[i] = fast[1][i] - fast[0][i];
    kzb_metric(b, name_base, "p50", kzb_median(pct[0][0], rounds), "us", NULL, NULL);
    kzb_metric(b, name_base, "p99", kzb_median(pct[0][1], rounds), "us", NULL, NULL);
    kzb_metric(b, name_coord, "p50", kzb_median(pct[1][0], rounds), "us", name_base, "p50");
    kzb_metric(b, name_coord, "p99", kzb_median(pct[1][1], rounds), "us", name_base, "p99");
    kzb_metric(b, name_coord, "added-p50", kzb_value(b, name_coord, "p50") - kzb_value(b, name_base, "p50"), "us",
               NULL, NULL);
    kzb_metric(b, name_coord, "added-per-query", kzb_median(tmp, nq), "us", NULL, NULL);
    if (!kzb_opts(b)->quick) { /* CPU time is counted in clock ticks: too coarse for a few searches */
        double searches = (double)(rounds * nq);
        kzb_metric(b, name_base, "cpu", (cpu1[0] - cpu0[0]) / searches, "us", NULL, NULL);
        kzb_metric(b, name_coord, "cpu", (cpu1[1] - cpu0[1] + cpu1[2] - cpu0[2]) / searches, "us", name_base,
                   "cpu");
        kzb_metric(b, name_coord, "cpu-coordinator", (cpu1[1] - cpu0[1]) / searches, "us", NULL, NULL);
    }
    kzb_metric(b, name_coord, "reconnects", (double)(r->to_base.reopened + r->to_coord.reopened), "n", NULL, NULL);
    res = 0;
done:
    free(tmp);
    free(us[0]);
    free(us[1]);
    free(fast[0]);
    free(fast[1]);
    return res;
}

void kzb_remote_cases(kzb *b)
{
    if (!kzb_selects_group(b, "remote/"))
        return;
    const kzb_queries *q = kzb_main_queries(b);
    if (!q || !q->n)
        return;
    remote_run r = { .b = b, .q = q, .rounds = kzb_opts(b)->quick ? 1 : ROUNDS };
    r.to_base.fd = r.to_coord.fd = -1;
    if (build(&r) != 0)
        return;
    if (start(&r) == 0 && latency(&r, "", "") == 0)
        latency(&r, "&fragments=0", "-fragments0");
    stop(&r);
}
