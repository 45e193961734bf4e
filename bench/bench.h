/*
 * bench.h: the harness the kzbench cases share.
 *
 * A case is a named function that sets up outside the timed region, times
 * its work with kzb_time() (or its own per-item clock), checks the result,
 * and records metrics with kzb_metric(). A metric may name a baseline: a
 * metric of the same run it is divided by, so that every figure can be
 * read as a ratio measured on the same machine at the same time.
 */
#ifndef KZ_BENCH_H
#define KZ_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct kzb kzb;

/* What the run was asked for. Strings are owned by main's argv. */
typedef struct kzb_options {
    int quick;            /* every case briefly, bundled data only */
    const char *filter;   /* run the cases whose name contains it */
    const char *corpus;   /* JSON Lines (optionally .gz) */
    const char *queries;  /* qid<TAB>query */
    const char *out_dir;  /* results.json, results.csv, NAME.dat, NAME.png */
    const char *json;     /* the JSON results (default OUT/results.json) */
    const char *csv;      /* the CSV results (default OUT/results.csv) */
    const char *articles; /* the bundled articles folder */
    const char *work_dir; /* scratch indexes */
    uint64_t max_docs;    /* cap on the corpus (0 = all) */
    size_t passage_words; /* scaling: words per passage (default 100) */
    int fts5;             /* run the SQLite FTS5 side */
    int xapian;           /* run the Xapian side (only when built in: KZB_HAVE_XAPIAN) */
    const char *baseline_bin; /* segments/release: the last release's kzsearch */
} kzb_options;

const kzb_options *kzb_opts(const kzb *b);

/* Records one figure of case_name. baseline, if not NULL, is the metric
 * (of any case, recorded earlier in this run) this one is reported against:
 * the table shows value / baseline. unit: "ms", "us", "MB/s", "x", ... */
void kzb_metric(kzb *b, const char *case_name, const char *metric, double value, const char *unit,
                const char *baseline_case, const char *baseline_metric);

/* The value of a metric recorded earlier in this run, or NAN. */
double kzb_value(const kzb *b, const char *case_name, const char *metric);

/* A failed check: reported, counted, and the run exits non-zero. */
void kzb_fail(kzb *b, const char *case_name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Times fn(ctx) reps times (after one untimed warm-up call); *median and
 * *lo, *hi (the fastest and slowest) in nanoseconds. */
void kzb_time(double *median, double *lo, double *hi, int reps, void (*fn)(void *ctx), void *ctx);

/* Monotonic clock in nanoseconds. */
uint64_t kzb_now_ns(void);

/* Percentile p (0..1) of n sorted values. */
double kzb_percentile(const double *sorted, size_t n, double p);
/* qsort's order of doubles; v's median (v is sorted); rm -rf path, so that a
 * build starts from nothing whatever an earlier run left. */
int kzb_cmp_double(const void *x, const void *y);
/* The live documents and segments of the index in dir; -1 after a
 * kzb_fail of case_name. */
int kzb_index_counts(kzb *b, const char *case_name, const char *dir, uint64_t *docs, uint64_t *segments);
double kzb_median(double *v, size_t n);
void kzb_remove_tree(const char *path);

/* Appends a line to a data file in out_dir (for the plots); creates it
 * with the header line on first use in this run. */
void kzb_data(kzb *b, const char *file, const char *header, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The case groups, one file each. */
void kzb_intersect_cases(kzb *b);
void kzb_query_cases(kzb *b);
void kzb_index_cases(kzb *b);
void kzb_segments_cases(kzb *b);
void kzb_fields_cases(kzb *b);
void kzb_html_cases(kzb *b);
void kzb_variants_cases(kzb *b);
void kzb_collapse_cases(kzb *b);
void kzb_serve_cases(kzb *b);
void kzb_shards_cases(kzb *b);
void kzb_remote_cases(kzb *b);

/* bench_http.c: one kept-alive HTTP connection to 127.0.0.1:port, and what
 * it has read past the last reply. */
typedef struct kzb_conn {
    int fd;
    unsigned port;
    int must_close; /* the last reply said "Connection: close" */
    uint64_t reopened; /* connections opened again after one */
    char *buf;
    size_t cap, have;
    size_t used; /* bytes of the last reply, dropped at the next request */
} kzb_conn;

/* 0, or -1 when it cannot connect. */
int kzb_conn_open(kzb_conn *c, unsigned port);
void kzb_conn_close(kzb_conn *c);
/* GET path over c: *status and the body (*body, *len: in c's buffer, NUL
 * terminated, valid until the next request). 0, or -1 if the exchange
 * failed (a reply without Content-Length is a failure). A connection the
 * server closed is opened again (c->reopened counts them). */
int kzb_http_get(kzb_conn *c, const char *path, int *status, const char **body, size_t *len);
/* A `kzsearch serve` (the CLI, KZ_CLI_PATH) as a child process. */
typedef struct kzb_server {
    pid_t pid;      /* 0 when not running */
    int out;        /* the read end of its standard output; -1 when not running */
    unsigned port;
    char url[64];   /* http://127.0.0.1:PORT */
    char log[4200]; /* its standard error: the caller names it before the start */
} kzb_server;
/* Starts `kzsearch serve ARGS... --listen 127.0.0.1:0` (at most 32 args)
 * and reads its port from the first line it prints ("... at
 * http://127.0.0.1:PORT/"), waiting at most seconds: 0; -1 on failure; 1
 * when libmicrohttpd is missing (its log says so). */
int kzb_server_start(kzb_server *s, const char *const *args, size_t n_args, unsigned seconds);
/* Stops it with SIGTERM: its exit status, -1 if it did not exit, 0 if it
 * was not running. */
int kzb_server_stop(kzb_server *s);
/* Whether its log holds text (of its first 4 KiB). */
int kzb_server_log_says(const kzb_server *s, const char *text);

/* Whether case name is selected by --filter. */
int kzb_selected(const kzb *b, const char *name);
/* Whether --filter may select cases of group ("query/"): the filter names
 * the group, or a case in it. */
int kzb_selects_group(const kzb *b, const char *group);

/* A corpus read from JSON Lines: the documents in memory. */
typedef struct kzb_doc {
    char *id, *title, *text;
    size_t text_len;
} kzb_doc;

typedef struct kzb_corpus {
    kzb_doc *docs;
    size_t n;
    uint64_t bytes; /* title and text */
} kzb_corpus;

/* Reads up to max_docs documents (0 = all) of a JSON Lines file, or the
 * .txt/.md files of a folder (title = first line). */
int kzb_corpus_read(kzb_corpus *out, const char *path, uint64_t max_docs);
/* Splits every document into passages of about words words (cut after the
 * words-th word; the id gets "#n"); deterministic. */
int kzb_corpus_passages(kzb_corpus *out, const kzb_corpus *in, size_t words);
void kzb_corpus_free(kzb_corpus *c);
/* Writes it as JSON Lines. */
int kzb_corpus_write(const kzb_corpus *c, const char *path);

/* Queries: qid and text. */
typedef struct kzb_queries {
    char **qid, **text;
    size_t n;
} kzb_queries;

int kzb_queries_read(kzb_queries *out, const char *path);
void kzb_queries_free(kzb_queries *q);

/* The corpus of this run (--corpus, else the bundled articles), read on
 * first use; NULL if it cannot be read (reported). */
const kzb_corpus *kzb_main_corpus(kzb *b);
/* The corpus as a path kzsearch index can read. */
const char *kzb_main_corpus_path(const kzb *b);
/* The queries of this run (--queries, else a built-in set). */
const kzb_queries *kzb_main_queries(kzb *b);

/* Where the index cases leave what the query cases search:
 * WORK/kz (kzsearch, 2 threads) and WORK/fts5.db. */
void kzb_work_path(char *out, size_t size, const kzb *b, const char *name);

/* Latency of every query in one mode ("and", "or", "phrase"), single
 * thread, after a warm-up pass: percentiles in microseconds and queries
 * per second. totals (n entries, may be NULL) receives each query's hit
 * count. Checks each result (ranked, at most k, totals the same as
 * counting alone); failures go to kzb_fail under case_name. */
typedef struct kzb_latency {
    double p50, p90, p99, max, qps;
} kzb_latency;

int kzb_kz_latency(kzb *b, const char *case_name, const char *index_dir, const kzb_queries *q, const char *mode,
                   int k, kzb_latency *out, uint64_t *totals);

/* Runs kzsearch (the CLI) with args as a child process, standard output
 * discarded and standard error to log (or discarded if NULL); *seconds of
 * wall time, and *peak_rss the child's peak memory as its summary line in
 * log reports it (0 if none). Returns its exit status, or -1. */
int kzb_spawn(const char *const *args, double *seconds, uint64_t *peak_rss, const char *log);
/* kzb_spawn, failing case_name ("kzsearch ARG exited N (see LOG)") unless
 * the child exits 0: 0, or -1 after that kzb_fail. */
int kzb_cli(kzb *b, const char *case_name, const char *const *args, const char *log, double *seconds,
            uint64_t *peak_rss);

/* What a child process held at most (kzb_spawn_ex). peak is exact: the
 * kernel's high-water mark of its resident set over its whole life
 * (wait4's ru_maxrss), mapped index pages it touched included. anon (heap
 * and other private memory) and file (pages of mapped files) are the
 * most of RssAnon and RssFile seen, sampled every 5 ms: they may miss a
 * short spike, and their peaks need not coincide. Bytes. */
typedef struct kzb_child_memory {
    uint64_t peak, anon, file;
} kzb_child_memory;

/* kzb_spawn with more: bin is the program to run (NULL: this build's
 * kzsearch), and *mem, if mem is not NULL, receives what the child held at
 * most, which covers what it did after printing its summary line (a
 * merge after an add; optimize prints none). For that the child is
 * started through a small intermediate process (kzbench --spawn-child),
 * so that the figure is not this large process's resident set, which a
 * child inherits at exec; the wall time then includes that process's
 * start, about a millisecond. log must not be NULL then (the figures pass
 * through LOG.memory). */
int kzb_spawn_ex(const char *bin, const char *const *args, double *seconds, uint64_t *peak_rss,
                 kzb_child_memory *mem, const char *log);

/* Peak resident set of this process so far, in bytes. */
uint64_t kzb_peak_rss(void);

#endif
