/*
 * bench_serve.c: kzsearch serve over loopback HTTP, against the same
 * searches in this process.
 *
 * The server is the CLI (KZ_CLI_PATH) as a child process, `kzsearch serve
 * --index DIR --listen 127.0.0.1:0` with its default thread pool (the
 * cores), on WORK/kz: the index the index cases built in this run, else
 * one built here with `kzsearch index` (2 threads, as index/kz-t2). The
 * port is read from the line it prints; /healthz must answer first. The
 * client is a minimal HTTP/1.1 one on plain sockets (a request out, the
 * reply read by its Content-Length), one kept-alive connection a thread.
 *
 * serve/in-process-top10 (the baseline): each query parsed leniently
 * (KZ_QUERY_LENIENT) and run with KZ_SEARCH_OPTIONS_INIT and a 5 s
 * timeout (AUTO mode, top 10, near-duplicates collapsed): what the
 * server's search_run does first. Not done here: the "did you mean"
 * parse for a query with a missing word, the hits' titles, fields and
 * snippets, the JSON, and HTTP.
 * serve/search-top10: `GET /api/search?q=QUERY&n=10`, one client thread,
 * the time from the request's first byte sent to the reply's last byte
 * read: the server's search_run (the above and the "did you mean"), a
 * look for a new index generation, the hits' views with snippets, the
 * JSON, and the loopback round trip. Both sides run every query once
 * untimed, then their timed passes alternate. p50, p90, p99 and max in us
 * against the baseline; "p50-over" is p50 minus the baseline's p50 (issue
 * 17 asks for at most 100 us).
 * serve/throughput: SERVE_REQUESTS requests (the queries in turn) from 2
 * client threads, a connection each, in requests per second against
 * serve/throughput-1thread (the same from one). Also the server's
 * resident memory before and after both (MB).
 *
 * Checks: every reply is a 200 whose JSON "total" is the in-process total
 * of its query and whose hits' "docid"s are the in-process top 10 in
 * order; the server stops cleanly on SIGTERM. --quick: the bundled
 * articles and the built-in queries, 200 requests. Skipped (said on
 * stderr) where libmicrohttpd is not installed.
 */
#include "bench.h"
#include "kzsearch.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define SERVE_K 10
#define SERVE_REQUESTS 20000 /* serve/throughput, as issue 17 */
#define SERVE_REQUESTS_QUICK 200
#define SERVE_PASSES 5 /* timed passes of serve/search-top10 and its baseline */
#define SERVE_TIMEOUT 5.0
#define START_SECONDS 300 /* for the server to open and warm the index */

/* What the in-process search gave for one query: the reference. */
typedef struct expect {
    uint64_t total;
    size_t n;
    uint32_t docid[SERVE_K];
} expect;

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* ---------------------------------------------------------------- in process */

/* One pass over the queries, the CLI's options; us[i] the time of query i
 * (parse and run), ex[i] its results when ex is not NULL. */
static int inproc_pass(kzb *b, kz_index *ix, const kzb_queries *q, double *us, expect *ex)
{
    kz_search_options so = KZ_SEARCH_OPTIONS_INIT;
    so.limit = SERVE_K;
    so.timeout = SERVE_TIMEOUT;
    for (size_t i = 0; i < q->n; i++) {
        kz_query *query = NULL;
        kz_results *r = NULL;
        uint64_t t0 = kzb_now_ns();
        int rc = kz_query_parse(&query, ix, q->text[i], strlen(q->text[i]), KZ_QUERY_LENIENT, NULL);
        if (rc == KZ_OK)
            rc = kz_query_run(&r, query, &so);
        uint64_t t1 = kzb_now_ns();
        if (rc != KZ_OK) {
            kzb_fail(b, "serve/in-process-top10", "query %s (%s): %s", q->qid[i], q->text[i], kz_last_error());
            kz_query_free(query);
            return -1;
        }
        us[i] = (double)(t1 - t0) / 1000.0;
        if (ex) {
            ex[i].total = kz_results_total(r);
            ex[i].n = kz_results_count(r);
            for (size_t h = 0; h < ex[i].n && h < SERVE_K; h++)
                ex[i].docid[h] = kz_results_hit(r, h)->docid;
        }
        kz_results_free(r);
        kz_query_free(query);
    }
    return 0;
}

/* ---------------------------------------------------------------- the server */

/* Its resident set in bytes (VmRSS), or 0. */
static uint64_t server_rss(const kzb_server *s)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)s->pid);
    FILE *f = fopen(path, "r");
    unsigned long long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %llu kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return (uint64_t)kib * 1024;
}

/* ---------------------------------------------------------------- the client */

/* /api/search?q=text&n=10 with text percent-encoded. */
static void search_path(char *out, size_t size, const char *text)
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
    snprintf(out + at, size - at, "&n=%d", SERVE_K);
}

/* Whether a reply's JSON has ex's total and hit docids in order. The keys
 * are found as text: inside a JSON string a quote is escaped, so
 * `"total": ` and `{"rank": ` occur only as keys. NULL if it does, else
 * what differs. */
static const char *reply_differs(const char *body, const expect *ex, char *why, size_t size)
{
    const char *t = strstr(body, "\"total\": ");
    if (!t)
        return "no \"total\"";
    unsigned long long total = strtoull(t + 9, NULL, 10);
    if (total != ex->total) {
        snprintf(why, size, "total %llu, in process %llu", total, (unsigned long long)ex->total);
        return why;
    }
    size_t n = 0;
    for (const char *h = strstr(t, "{\"rank\": "); h; h = strstr(h + 1, "{\"rank\": "), n++) {
        const char *d = strstr(h, "\"docid\": ");
        if (!d)
            return "a hit without \"docid\"";
        unsigned long docid = strtoul(d + 9, NULL, 10);
        if (n >= ex->n || docid != ex->docid[n]) {
            snprintf(why, size, "hit %zu is docid %lu, in process %ld", n, docid, n < ex->n ? (long)ex->docid[n] : -1L);
            return why;
        }
    }
    if (n != ex->n) {
        snprintf(why, size, "%zu hits, in process %zu", n, ex->n);
        return why;
    }
    return NULL;
}

/* One request for query i, checked: 0, or -1 with the reason in why. */
static int request_checked(kzb_conn *c, const kzb_queries *q, const expect *ex, size_t i, char *why, size_t size)
{
    char path[12288];
    search_path(path, sizeof path, q->text[i]);
    int status = 0;
    const char *body;
    size_t len;
    if (kzb_http_get(c, path, &status, &body, &len) != 0) {
        snprintf(why, size, "query %s: no reply or a malformed one", q->qid[i]);
        return -1;
    }
    if (status != 200) {
        snprintf(why, size, "query %s: status %d: %.200s", q->qid[i], status, body);
        return -1;
    }
    char what[200];
    const char *d = reply_differs(body, &ex[i], what, sizeof what);
    if (d) {
        snprintf(why, size, "query %s (%s): %s", q->qid[i], q->text[i], d);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- throughput */

typedef struct load {
    unsigned port;
    const kzb_queries *q;
    const expect *ex;
    size_t total;
    atomic_size_t next;
    atomic_int bad;
    atomic_uint_fast64_t reopened;
    pthread_mutex_t lock;
    char why[512]; /* the first failure */
} load;

static void load_failed(load *l, const char *why)
{
    pthread_mutex_lock(&l->lock);
    if (!atomic_fetch_add(&l->bad, 1))
        snprintf(l->why, sizeof l->why, "%s", why);
    pthread_mutex_unlock(&l->lock);
}

static void *load_thread(void *arg)
{
    load *l = arg;
    kzb_conn c;
    char why[512];
    if (kzb_conn_open(&c, l->port) != 0) {
        load_failed(l, "cannot connect");
        return NULL;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&l->next, 1);
        if (i >= l->total)
            break;
        if (request_checked(&c, l->q, l->ex, i % l->q->n, why, sizeof why) != 0) {
            load_failed(l, why);
            /* A broken connection is opened again; the count goes on. */
            kzb_conn_close(&c);
            if (kzb_conn_open(&c, l->port) != 0)
                break;
        }
    }
    atomic_fetch_add(&l->reopened, c.reopened);
    kzb_conn_close(&c);
    return NULL;
}

/* Requests per second of total requests from threads clients, or NAN. */
static double throughput(kzb *b, const char *name, unsigned port, const kzb_queries *q, const expect *ex,
                         size_t total, int threads, uint64_t *reopened)
{
    load l = { .port = port, .q = q, .ex = ex, .total = total };
    atomic_init(&l.next, 0);
    atomic_init(&l.bad, 0);
    atomic_init(&l.reopened, 0);
    pthread_mutex_init(&l.lock, NULL);
    pthread_t t[8];
    int started = 0;
    uint64_t t0 = kzb_now_ns();
    for (; started < threads; started++)
        if (pthread_create(&t[started], NULL, load_thread, &l) != 0)
            break;
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    double secs = (double)(kzb_now_ns() - t0) * 1e-9;
    pthread_mutex_destroy(&l.lock);
    *reopened = atomic_load(&l.reopened);
    if (started < threads)
        kzb_fail(b, name, "cannot start %d client threads", threads);
    int bad = atomic_load(&l.bad);
    if (bad)
        kzb_fail(b, name, "%d of %zu requests failed; the first: %s", bad, total, l.why);
    return started == threads ? (double)total / secs : NAN;
}

/* ---------------------------------------------------------------- the cases */

/* The index to serve: WORK/kz if the index cases built it in this run (or
 * it holds the corpus's documents), else built here. 0 or -1. */
static int serve_index(kzb *b, char *dir, size_t size)
{
    kzb_work_path(dir, size, b, "kz");
    const kzb_corpus *c = kzb_main_corpus(b);
    if (!c)
        return -1;
    if (!isnan(kzb_value(b, "index/kz-t2", "seconds")))
        return 0;
    kz_index *ix;
    if (kz_index_open(&ix, dir) == KZ_OK) {
        kz_index_info info;
        kz_index_get_info(ix, &info);
        kz_index_free(ix);
        if (info.docs <= c->n && (double)info.docs >= 0.99 * (double)c->n)
            return 0;
        fprintf(stderr, "kzbench: serve: %s holds %llu documents, not this corpus's %zu: built again\n", dir,
                (unsigned long long)info.docs, c->n);
    }
    fprintf(stderr, "kzbench: serve: indexing %s into %s\n", kzb_main_corpus_path(b), dir);
    const char *args[] = { "kzsearch", "index", "-o", dir, "--threads", "2", "--memory", "1G",
                           kzb_main_corpus_path(b), NULL };
    char log[4200];
    snprintf(log, sizeof log, "%s.log", dir);
    double secs;
    uint64_t rss;
    int st = kzb_spawn(args, &secs, &rss, log);
    if (st != 0 && st != 1) {
        kzb_fail(b, "serve/index", "kzsearch index exited %d (%s)", st, log);
        return -1;
    }
    return 0;
}

static void record(kzb *b, const char *name, double *us, size_t n, const char *base)
{
    qsort(us, n, sizeof *us, cmp_double);
    kzb_metric(b, name, "p50", kzb_percentile(us, n, 0.5), "us", base, base ? "p50" : NULL);
    kzb_metric(b, name, "p90", kzb_percentile(us, n, 0.9), "us", base, base ? "p90" : NULL);
    kzb_metric(b, name, "p99", kzb_percentile(us, n, 0.99), "us", base, base ? "p99" : NULL);
    kzb_metric(b, name, "max", us[n - 1], "us", base, base ? "max" : NULL);
}

void kzb_serve_cases(kzb *b)
{
    const char *top = "serve/search-top10", *base = "serve/in-process-top10";
    const char *tput = "serve/throughput", *tput1 = "serve/throughput-1thread";
    if (!kzb_selects_group(b, "serve/"))
        return;
    int want_top = kzb_selected(b, top) || kzb_selected(b, base);
    int want_tput = kzb_selected(b, tput) || kzb_selected(b, tput1);
    const kzb_queries *q = kzb_main_queries(b);
    char dir[4096];
    if (!q || !q->n || serve_index(b, dir, sizeof dir) != 0)
        return;
    int quick = kzb_opts(b)->quick, passes = quick ? 1 : SERVE_PASSES;
    size_t nq = q->n;
    kz_index *ix;
    if (kz_index_open(&ix, dir) != KZ_OK || kz_index_warm(ix) != KZ_OK) {
        kzb_fail(b, base, "cannot open %s: %s", dir, kz_last_error());
        return;
    }
    expect *ex = calloc(nq, sizeof *ex);
    double *in_us = calloc(nq * (size_t)passes, sizeof *in_us), *http_us = calloc(nq * (size_t)passes, sizeof *http_us);
    kzb_server s = { 0 };
    kzb_conn c = { .fd = -1 };
    int started = 0;
    if (!ex || !in_us || !http_us || inproc_pass(b, ix, q, in_us, ex) != 0)
        goto done;
    snprintf(s.log, sizeof s.log, "%s/serve.log", kzb_opts(b)->work_dir);
    const char *args[] = { "--index", dir };
    int st = kzb_server_start(&s, args, 2, START_SECONDS);
    if (st == 1) {
        fprintf(stderr, "kzbench: serve/ skipped: libmicrohttpd is not installed\n");
        goto done;
    }
    if (st != 0) {
        kzb_fail(b, top, "kzsearch serve did not start (%s)", s.log);
        goto done;
    }
    started = 1;
    int status = 0;
    const char *body;
    size_t len;
    if (kzb_conn_open(&c, s.port) != 0 || kzb_http_get(&c, "/healthz", &status, &body, &len) != 0 || status != 200 ||
        !strstr(body, "\"status\": \"ok\"")) {
        kzb_fail(b, top, "/healthz on port %u: status %d", s.port, status);
        goto done;
    }
    char why[512];
    int bad = 0;
    if (want_top) {
        /* Warm: every query once on the server (checked), then the timed
         * passes of both sides alternate. */
        for (int pass = -1; pass < passes && !bad; pass++) {
            if (pass >= 0 && inproc_pass(b, ix, q, in_us + (size_t)pass * nq, NULL) != 0)
                break;
            for (size_t i = 0; i < nq; i++) {
                uint64_t t0 = kzb_now_ns();
                if (request_checked(&c, q, ex, i, why, sizeof why) != 0) {
                    kzb_fail(b, top, "%s", why);
                    bad = 1;
                    break;
                }
                if (pass >= 0)
                    http_us[(size_t)pass * nq + i] = (double)(kzb_now_ns() - t0) / 1000.0;
            }
        }
        if (!bad) {
            size_t n = nq * (size_t)passes;
            record(b, base, in_us, n, NULL);
            record(b, top, http_us, n, base);
            kzb_metric(b, top, "p50-over", kzb_value(b, top, "p50") - kzb_value(b, base, "p50"), "us", NULL, NULL);
            kzb_metric(b, top, "reconnects", (double)c.reopened, "n", NULL, NULL);
        }
    }
    if (want_tput && !bad) {
        size_t total = quick ? SERVE_REQUESTS_QUICK : SERVE_REQUESTS;
        uint64_t rss0 = server_rss(&s);
        uint64_t re1, re2;
        double one = throughput(b, tput1, s.port, q, ex, total, 1, &re1);
        double two = throughput(b, tput, s.port, q, ex, total, 2, &re2);
        uint64_t rss1 = server_rss(&s);
        kzb_metric(b, tput1, "req/s", one, "1/s", NULL, NULL);
        kzb_metric(b, tput, "req/s", two, "1/s", tput1, "req/s");
        kzb_metric(b, tput1, "reconnects", (double)re1, "n", NULL, NULL);
        kzb_metric(b, tput, "reconnects", (double)re2, "n", NULL, NULL);
        kzb_metric(b, tput, "server_rss_before", (double)rss0 / 1e6, "MB", NULL, NULL);
        kzb_metric(b, tput, "server_rss_after", (double)rss1 / 1e6, "MB", NULL, NULL);
    }
done:
    kzb_conn_close(&c);
    if (started && kzb_server_stop(&s) != 0)
        kzb_fail(b, top, "kzsearch serve did not stop cleanly on SIGTERM (%s)", s.log);
    kz_index_free(ix);
    free(ex);
    free(in_us);
    free(http_us);
}
