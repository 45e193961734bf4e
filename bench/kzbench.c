/*
 * kzbench.c: the benchmark suite's harness and command.
 *
 *   kzbench [--quick] [--filter TEXT] [--corpus FILE] [--queries FILE]
 *           [--out DIR] [--max-docs N] [--no-fts5] [--no-xapian] [--cpu N]
 *           [--baseline-bin BIN]
 *           [--list]
 *   kzbench split --words N IN OUT.jsonl      passages of about N words
 *
 * Cases are grouped by what they measure (bench_intersect.c,
 * bench_query.c, bench_index.c, bench_segments.c). Each checks its
 * result; a failed check makes kzbench exit 1. Results go to stdout as a
 * table, and to OUT/results.json and OUT/results.csv; the data behind the
 * plots go to OUT/NAME.dat and, when gnuplot is installed, OUT/NAME.png.
 */
#include "bench.h"
#include "kzsearch.h"
#include "kzint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <sched.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

extern char **environ;

typedef struct metric {
    char *case_name, *name, *unit;
    double value;
    char *base_case, *base_metric;
} metric;

struct kzb {
    kzb_options o;
    kzb_corpus corpus;
    int corpus_state; /* 0 unread, 1 read, -1 failed */
    kzb_queries queries;
    int queries_state;
    metric *m;
    size_t n, cap;
    int failures;
    char **data_files; /* data files started in this run */
    size_t n_data;
};

const kzb_options *kzb_opts(const kzb *b) { return &b->o; }

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

void kzb_metric(kzb *b, const char *case_name, const char *name, double value, const char *unit,
                const char *baseline_case, const char *baseline_metric)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->m = realloc(b->m, b->cap * sizeof *b->m);
        if (!b->m) {
            fprintf(stderr, "kzbench: out of memory\n");
            exit(2);
        }
    }
    metric *m = &b->m[b->n++];
    m->case_name = strdup(case_name);
    m->name = strdup(name);
    m->unit = strdup(unit ? unit : "");
    m->value = value;
    m->base_case = dup_or_null(baseline_case);
    m->base_metric = dup_or_null(baseline_metric);
    /* Progress as it comes: the full table is printed at the end. */
    fprintf(stderr, "  %-34s %-22s %14.6g %s\n", case_name, name, value, m->unit);
}

double kzb_value(const kzb *b, const char *case_name, const char *name)
{
    for (size_t i = b->n; i-- > 0;)
        if (strcmp(b->m[i].case_name, case_name) == 0 && strcmp(b->m[i].name, name) == 0)
            return b->m[i].value;
    return NAN;
}

void kzb_fail(kzb *b, const char *case_name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kzbench: CHECK FAILED in %s: ", case_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    b->failures++;
}

uint64_t kzb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

int kzb_index_counts(kzb *b, const char *case_name, const char *dir, uint64_t *docs, uint64_t *segments)
{
    kz_index *ix;
    if (kz_index_open(&ix, dir) != KZ_OK) {
        kzb_fail(b, case_name, "cannot open %s: %s", dir, kz_last_error());
        return -1;
    }
    kz_index_info info;
    kz_index_get_info(ix, &info);
    kz_index_free(ix);
    *docs = info.docs;
    *segments = info.segments;
    return 0;
}

int kzb_cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

double kzb_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, kzb_cmp_double);
    return kzb_percentile(v, n, 0.5);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void kzb_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

double kzb_percentile(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return NAN;
    double at = p * (double)(n - 1);
    size_t i = (size_t)at;
    if (i + 1 >= n)
        return sorted[n - 1];
    double f = at - (double)i;
    return sorted[i] * (1 - f) + sorted[i + 1] * f;
}

void kzb_time(double *median, double *lo, double *hi, int reps, void (*fn)(void *ctx), void *ctx)
{
    if (reps < 1)
        reps = 1;
    double *t = malloc((size_t)reps * sizeof *t);
    fn(ctx); /* warm-up, untimed */
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = kzb_now_ns();
        fn(ctx);
        t[r] = (double)(kzb_now_ns() - t0);
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    *median = kzb_percentile(t, (size_t)reps, 0.5);
    *lo = t[0];
    *hi = t[reps - 1];
    free(t);
}

void kzb_data(kzb *b, const char *file, const char *header, const char *fmt, ...)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", b->o.out_dir, file);
    int started = 0;
    for (size_t i = 0; i < b->n_data; i++)
        started |= strcmp(b->data_files[i], file) == 0;
    FILE *f = fopen(path, started ? "a" : "w");
    if (!f) {
        fprintf(stderr, "kzbench: %s: %s\n", path, strerror(errno));
        return;
    }
    if (!started) {
        fprintf(f, "# %s\n", header);
        b->data_files = realloc(b->data_files, (b->n_data + 1) * sizeof *b->data_files);
        b->data_files[b->n_data++] = strdup(file);
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

int kzb_selected(const kzb *b, const char *name) { return !b->o.filter || strstr(name, b->o.filter) != NULL; }

int kzb_selects_group(const kzb *b, const char *group)
{
    const char *f = b->o.filter;
    return !f || strstr(group, f) != NULL || strncmp(f, group, strlen(group)) == 0;
}

uint64_t kzb_peak_rss(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_maxrss * 1024;
}

/* ------------------------------------------------------------- corpora */

static int corpus_add(kzb_corpus *c, size_t *cap, const char *id, size_t id_len, const char *title,
                      size_t title_len, const char *text, size_t text_len)
{
    if (c->n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        kzb_doc *d = realloc(c->docs, *cap * sizeof *d);
        if (!d)
            return KZ_ENOMEM;
        c->docs = d;
    }
    kzb_doc *d = &c->docs[c->n];
    d->id = strndup(id, id_len);
    d->title = strndup(title, title_len);
    d->text = malloc(text_len + 1);
    if (!d->id || !d->title || !d->text)
        return KZ_ENOMEM;
    memcpy(d->text, text, text_len);
    d->text[text_len] = 0;
    d->text_len = text_len;
    c->bytes += title_len + text_len;
    c->n++;
    return KZ_OK;
}

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

static int read_folder(kzb_corpus *out, const char *path, size_t *cap)
{
    DIR *d = opendir(path);
    if (!d)
        return KZ_ENOTFOUND;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if ((l > 4 && strcmp(e->d_name + l - 4, ".txt") == 0) || (l > 3 && strcmp(e->d_name + l - 3, ".md") == 0)) {
            names = realloc(names, (n + 1) * sizeof *names);
            names[n++] = strdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int rc = KZ_OK;
    for (size_t i = 0; i < n && rc == KZ_OK; i++) {
        char file[4096];
        snprintf(file, sizeof file, "%s/%s", path, names[i]);
        FILE *f = fopen(file, "rb");
        if (!f)
            continue;
        kz_buf all = { 0 };
        char chunk[65536];
        size_t got;
        while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
            kz_buf_append(&all, chunk, got);
        fclose(f);
        kz_buf_terminate(&all);
        const char *s = (const char *)all.data;
        while (*s == '\n' || *s == '\r' || *s == ' ')
            s++;
        const char *nl = strchr(s, '\n');
        size_t tl = nl ? (size_t)(nl - s) : strlen(s);
        const char *text = nl ? nl + 1 : s + tl;
        rc = corpus_add(out, cap, names[i], strlen(names[i]), s, tl, text, strlen(text));
        kz_buf_free(&all);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int kzb_corpus_read(kzb_corpus *out, const char *path, uint64_t max_docs)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return read_folder(out, path, &cap);
    gzFile f = gzopen(path, "rb");
    if (!f)
        return KZ_ENOTFOUND;
    gzbuffer(f, 1 << 20);
    kz_jsonl_parser *p;
    if (kz_jsonl_parser_new(&p)) {
        gzclose(f);
        return KZ_ENOMEM;
    }
    kz_buf line = { 0 };
    char chunk[1 << 16];
    int rc = KZ_OK;
    for (;;) {
        line.len = 0;
        int eof = 1;
        while (gzgets(f, chunk, sizeof chunk)) {
            eof = 0;
            size_t l = strlen(chunk);
            kz_buf_append(&line, chunk, l);
            if (l && chunk[l - 1] == '\n')
                break;
        }
        if (eof)
            break;
        while (line.len && (line.data[line.len - 1] == '\n' || line.data[line.len - 1] == '\r'))
            line.len--;
        kz_jsonl_doc d;
        if (line.len == 0 || kz_jsonl_parse(p, (const char *)line.data, line.len, &d) != KZ_OK)
            continue;
        if ((rc = corpus_add(out, &cap, d.id, d.id_len, d.title, d.title_len, d.text, d.text_len)))
            break;
        if (max_docs && out->n >= max_docs)
            break;
    }
    kz_buf_free(&line);
    kz_jsonl_parser_free(p);
    gzclose(f);
    return rc;
}

static int is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

int kzb_corpus_passages(kzb_corpus *out, const kzb_corpus *in, size_t words)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    for (size_t i = 0; i < in->n; i++) {
        const kzb_doc *d = &in->docs[i];
        const char *s = d->text, *end = d->text + d->text_len;
        size_t part = 0;
        while (s < end) {
            while (s < end && is_space(*s))
                s++;
            if (s == end)
                break;
            const char *from = s;
            size_t w = 0;
            while (s < end && w < words) {
                while (s < end && !is_space(*s))
                    s++;
                w++;
                while (s < end && is_space(*s) && w < words)
                    s++;
            }
            char id[1024];
            int il = snprintf(id, sizeof id, "%s#%zu", d->id, part++);
            int rc = corpus_add(out, &cap, id, (size_t)il, d->title, strlen(d->title), from, (size_t)(s - from));
            if (rc)
                return rc;
        }
    }
    return KZ_OK;
}

void kzb_corpus_free(kzb_corpus *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->docs[i].id);
        free(c->docs[i].title);
        free(c->docs[i].text);
    }
    free(c->docs);
    memset(c, 0, sizeof *c);
}

static void json_put(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

int kzb_corpus_write(const kzb_corpus *c, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return KZ_EIO;
    for (size_t i = 0; i < c->n; i++) {
        fputs("{\"id\": ", f);
        json_put(f, c->docs[i].id, strlen(c->docs[i].id));
        fputs(", \"title\": ", f);
        json_put(f, c->docs[i].title, strlen(c->docs[i].title));
        fputs(", \"text\": ", f);
        json_put(f, c->docs[i].text, c->docs[i].text_len);
        fputs("}\n", f);
    }
    return fclose(f) == 0 ? KZ_OK : KZ_EIO;
}

int kzb_queries_read(kzb_queries *out, const char *path)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f)
        return KZ_ENOTFOUND;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) != -1) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = 0;
        char *tab = strchr(line, '\t');
        if (!tab || !tab[1])
            continue;
        *tab = 0;
        out->qid = realloc(out->qid, (out->n + 1) * sizeof *out->qid);
        out->text = realloc(out->text, (out->n + 1) * sizeof *out->text);
        out->qid[out->n] = strdup(line);
        out->text[out->n] = strdup(tab + 1);
        out->n++;
    }
    free(line);
    fclose(f);
    return KZ_OK;
}

void kzb_queries_free(kzb_queries *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->qid[i]);
        free(q->text[i]);
    }
    free(q->qid);
    free(q->text);
    memset(q, 0, sizeof *q);
}

/* ------------------------------------------------------------- shared */

const char *kzb_main_corpus_path(const kzb *b) { return b->o.corpus ? b->o.corpus : b->o.articles; }

const kzb_corpus *kzb_main_corpus(kzb *b)
{
    if (b->corpus_state == 0) {
        const char *path = kzb_main_corpus_path(b);
        b->corpus_state = kzb_corpus_read(&b->corpus, path, b->o.max_docs) == KZ_OK && b->corpus.n ? 1 : -1;
        if (b->corpus_state < 0)
            kzb_fail(b, "corpus", "cannot read documents from %s", path);
        else
            fprintf(stderr, "kzbench: corpus %s: %zu documents, %.1f MB\n", path, b->corpus.n,
                    (double)b->corpus.bytes / 1e6);
    }
    return b->corpus_state > 0 ? &b->corpus : NULL;
}

/* Queries for the bundled articles when none are given: words, pairs and
 * phrases that occur there, and some that do not. */
static const char *builtin_queries[] = {
    "ethnic russians", "kazakhstan", "putin", "russia ukraine", "oil gas", "border", "nuclear weapons",
    "president tokayev", "moscow", "the", "imperial target", "soviet union", "language", "war",
    "kazakh people", "zzzunknown", "security alliance", "northern kazakhstan", "russian speakers", "protests",
};

const kzb_queries *kzb_main_queries(kzb *b)
{
    if (b->queries_state == 0) {
        if (b->o.queries) {
            b->queries_state = kzb_queries_read(&b->queries, b->o.queries) == KZ_OK && b->queries.n ? 1 : -1;
            if (b->queries_state < 0)
                kzb_fail(b, "queries", "cannot read queries from %s", b->o.queries);
        } else {
            size_t n = sizeof builtin_queries / sizeof builtin_queries[0];
            b->queries.qid = calloc(n, sizeof(char *));
            b->queries.text = calloc(n, sizeof(char *));
            for (size_t i = 0; i < n; i++) {
                char id[16];
                snprintf(id, sizeof id, "%zu", i + 1);
                b->queries.qid[i] = strdup(id);
                b->queries.text[i] = strdup(builtin_queries[i]);
            }
            b->queries.n = n;
            b->queries_state = 1;
        }
    }
    return b->queries_state > 0 ? &b->queries : NULL;
}

void kzb_work_path(char *out, size_t size, const kzb *b, const char *name)
{
    snprintf(out, size, "%s/%s", b->o.work_dir, name);
}

int kzb_spawn(const char *const *args, double *seconds, uint64_t *peak_rss, const char *log)
{
    return kzb_spawn_ex(NULL, args, seconds, peak_rss, NULL, log);
}

int kzb_cli(kzb *b, const char *case_name, const char *const *args, const char *log, double *seconds,
            uint64_t *peak_rss)
{
    int st = kzb_spawn(args, seconds, peak_rss, log);
    if (st != 0) {
        kzb_fail(b, case_name, "kzsearch %s exited %d (see %s)", args[1], st, log);
        return -1;
    }
    return 0;
}

int kzb_spawn_ex(const char *bin, const char *const *args, double *seconds, uint64_t *peak_rss,
                 kzb_child_memory *mem, const char *log)
{
    if (!bin)
        bin = KZ_CLI_PATH;
    /* Through kzbench --spawn-child RESULT BIN ARGS... for the kernel's
     * figure of the child alone. */
    char self[4096], result[4200];
    const char **argv = (const char **)args;
    const char *path = bin;
    if (mem) {
        ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
        if (!log || l <= 0)
            return -1;
        self[l] = 0;
        snprintf(result, sizeof result, "%s.memory", log);
        remove(result);
        size_t n = 0;
        while (args[n])
            n++;
        argv = calloc(n + 5, sizeof *argv);
        if (!argv)
            return -1;
        argv[0] = "kzbench";
        argv[1] = "--spawn-child";
        argv[2] = result;
        argv[3] = bin;
        for (size_t i = 0; i <= n; i++)
            argv[4 + i] = args[i];
        path = self;
    }
    /* posix_spawn, not fork: copying this process's page tables (it holds
     * the corpus) would be timed too. */
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, log ? log : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    uint64_t t0 = kzb_now_ns();
    pid_t pid;
    int rc = posix_spawn(&pid, path, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (argv != (const char **)args)
        free(argv);
    if (rc != 0)
        return -1;
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    *seconds = (double)(kzb_now_ns() - t0) * 1e-9;
    *peak_rss = 0;
    if (log) {
        /* The child's own figure, from its summary line. */
        FILE *f = fopen(log, "r");
        char line[4096];
        while (f && fgets(line, sizeof line, f)) {
            const char *p = strstr(line, "peak memory ");
            double mb;
            if (p && sscanf(p, "peak memory %lf MB", &mb) == 1)
                *peak_rss = (uint64_t)(mb * 1e6);
        }
        if (f)
            fclose(f);
    }
    if (mem) {
        unsigned long long kib[3] = { 0, 0, 0 };
        FILE *f = fopen(result, "r");
        if (!f || fscanf(f, "%llu %llu %llu", &kib[0], &kib[1], &kib[2]) != 3)
            kib[0] = kib[1] = kib[2] = 0;
        if (f)
            fclose(f);
        mem->peak = (uint64_t)kib[0] * 1024;
        mem->anon = (uint64_t)kib[1] * 1024;
        mem->file = (uint64_t)kib[2] * 1024;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The RssAnon and RssFile lines of /proc/PID/status, in KiB, into the
 * largest seen so far. */
static void sample_rss(const char *status_path, unsigned long long *anon, unsigned long long *file)
{
    FILE *f = fopen(status_path, "r");
    char line[256];
    unsigned long long v;
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "RssAnon: %llu", &v) == 1 && v > *anon)
            *anon = v;
        else if (sscanf(line, "RssFile: %llu", &v) == 1 && v > *file)
            *file = v;
    }
    if (f)
        fclose(f);
}

/* kzbench --spawn-child RESULT BIN ARGV0 ARGS...: runs BIN as a child of
 * this process, freshly started and small, samples its RssAnon and
 * RssFile every 5 ms, and writes to RESULT its peak resident set (wait4's
 * ru_maxrss) and the largest samples, in KiB; exits with its status. A
 * child started by the large benchmark process directly would be charged
 * that process's resident set at exec. */
static int cmd_spawn_child(int argc, char **argv)
{
    if (argc < 5)
        return 127;
    /* SIGCHLD blocked, so that it ends the wait between samples at once. */
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    pid_t pid = fork();
    if (pid < 0)
        return 127;
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        execv(argv[3], argv + 4);
        _exit(127);
    }
    char status_path[64];
    snprintf(status_path, sizeof status_path, "/proc/%d/status", (int)pid);
    unsigned long long anon = 0, file = 0;
    int status;
    struct rusage ru;
    for (;;) {
        pid_t w = wait4(pid, &status, WNOHANG, &ru);
        if (w == pid)
            break;
        if (w < 0)
            return 127;
        sample_rss(status_path, &anon, &file);
        struct timespec ts = { 0, 5000000 };
        sigtimedwait(&chld, NULL, &ts);
    }
    FILE *f = fopen(argv[2], "w");
    if (f) {
        fprintf(f, "%ld %llu %llu\n", ru.ru_maxrss, anon, file);
        fclose(f);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 127;
}

/* ------------------------------------------------------------- output */

static const metric *find_metric(const kzb *b, const char *c, const char *m)
{
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->m[i].case_name, c) == 0 && strcmp(b->m[i].name, m) == 0)
            return &b->m[i];
    return NULL;
}

static double ratio_of(const kzb *b, const metric *m)
{
    if (!m->base_case)
        return NAN;
    const metric *base = find_metric(b, m->base_case, m->base_metric);
    return base && base->value != 0 ? m->value / base->value : NAN;
}

static void write_results(const kzb *b)
{
    printf("\n%-34s %-22s %14s %-6s %10s  %s\n", "case", "metric", "value", "unit", "ratio", "baseline");
    for (size_t i = 0; i < b->n; i++) {
        const metric *m = &b->m[i];
        double r = ratio_of(b, m);
        printf("%-34s %-22s %14.6g %-6s ", m->case_name, m->name, m->value, m->unit);
        if (isnan(r))
            printf("%10s\n", "");
        else
            printf("%10.3f  %s %s\n", r, m->base_case, m->base_metric);
    }
    char path[4096];
    if (b->o.json)
        snprintf(path, sizeof path, "%s", b->o.json);
    else
        snprintf(path, sizeof path, "%s/results.json", b->o.out_dir);
    FILE *j = fopen(path, "w");
    if (b->o.csv)
        snprintf(path, sizeof path, "%s", b->o.csv);
    else
        snprintf(path, sizeof path, "%s/results.csv", b->o.out_dir);
    FILE *c = fopen(path, "w");
    if (!j || !c) {
        fprintf(stderr, "kzbench: cannot write results in %s\n", b->o.out_dir);
        if (j)
            fclose(j);
        if (c)
            fclose(c);
        return;
    }
    fprintf(c, "case,metric,value,unit,ratio,baseline_case,baseline_metric\n");
    fprintf(j, "{\"quick\": %s, \"corpus\": ", b->o.quick ? "true" : "false");
    json_put(j, b->o.corpus ? b->o.corpus : b->o.articles, strlen(b->o.corpus ? b->o.corpus : b->o.articles));
    fprintf(j, ", \"failures\": %d, \"results\": [", b->failures);
    for (size_t i = 0; i < b->n; i++) {
        const metric *m = &b->m[i];
        double r = ratio_of(b, m);
        fprintf(j, "%s\n  {\"case\": ", i ? "," : "");
        json_put(j, m->case_name, strlen(m->case_name));
        fprintf(j, ", \"metric\": ");
        json_put(j, m->name, strlen(m->name));
        fprintf(j, ", \"value\": %.9g, \"unit\": ", isfinite(m->value) ? m->value : 0.0);
        json_put(j, m->unit, strlen(m->unit));
        if (!isnan(r)) {
            fprintf(j, ", \"ratio\": %.6g, \"baseline\": ", r);
            json_put(j, m->base_case, strlen(m->base_case));
            fprintf(j, ", \"baseline_metric\": ");
            json_put(j, m->base_metric, strlen(m->base_metric));
        }
        fprintf(j, "}");
        fprintf(c, "%s,%s,%.9g,%s,", m->case_name, m->name, m->value, m->unit);
        if (!isnan(r))
            fprintf(c, "%.6g,%s,%s\n", r, m->base_case, m->base_metric);
        else
            fprintf(c, ",,\n");
    }
    fprintf(j, "\n]}\n");
    fclose(j);
    fclose(c);
}

/* The charts: a gnuplot script per chart next to its data (NAME.gp), run
 * when gnuplot is installed. */
static void plot(const kzb *b)
{
    static const char *charts[][2] = {
        { "latency",
          "set style data histograms\n"
          "set style histogram clustered\n"
          "set style fill solid 0.8\n"
          "set logscale y\n"
          "set ylabel 'microseconds (log scale)'\n"
          "set key top left\n"
          "set title 'Query latency, top 10, single thread'\n"
          "plot 'latency.dat' using 2:xtic(1) title 'p50', '' using 3 title 'p90', '' using 4 title 'p99'\n" },
        { "intersect",
          "set logscale xy\n"
          "set xlabel 'size ratio |B| / |A|'\n"
          "set ylabel 'ns per element of A (log scale)'\n"
          "set key top left\n"
          "set title 'Intersecting two uniform sparse lists'\n"
          "methods = 'roaring-and-card roaring-and merge gallop cursor-tf kz-count kz-count-scalar kz-and-tf'\n"
          "plot for [i=1:words(methods)] 'intersect.dat' every words(methods)::(i-1) using 2:3 with linespoints "
          "title word(methods, i)\n" },
        { "scaling",
          "set logscale xy\n"
          "set xlabel 'documents (wikipedia passages of 100 words)'\n"
          "set ylabel 'microseconds, seconds (log scale)'\n"
          "set key top left\n"
          "set title 'How cost grows with the collection'\n"
          "plot 'scaling.dat' using 1:2 with linespoints title 'AND p50 (us)', "
          "'' using 1:3 with linespoints title 'OR p50 (us)', "
          "'' using 1:5 with linespoints title 'AND p99 (us)', "
          "'' using 1:6 with linespoints title 'OR p99 (us)', "
          "'' using 1:4 with linespoints title 'indexing (s)'\n" },
    };
    int have = system("command -v gnuplot >/dev/null 2>&1") == 0;
    for (size_t i = 0; i < sizeof charts / sizeof charts[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.dat", b->o.out_dir, charts[i][0]);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s.gp", b->o.out_dir, charts[i][0]);
        FILE *f = fopen(path, "w");
        if (!f)
            continue;
        fprintf(f, "set terminal png size 960,560\nset output '%s.png'\n%s", charts[i][0], charts[i][1]);
        fclose(f);
        if (!have)
            continue;
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot '%s.gp' 2>/dev/null", b->o.out_dir, charts[i][0]);
        if (system(cmd) != 0)
            fprintf(stderr, "kzbench: gnuplot failed on %s.gp\n", charts[i][0]);
        else
            fprintf(stderr, "kzbench: wrote %s/%s.png\n", b->o.out_dir, charts[i][0]);
    }
    if (!have)
        fprintf(stderr, "kzbench: gnuplot not found: chart scripts only (%s/*.gp)\n", b->o.out_dir);
}

/* ------------------------------------------------------------- main */

static const char usage[] =
    "Usage: kzbench [OPTIONS]\n"
    "       kzbench split --words N IN.jsonl[.gz] OUT.jsonl\n"
    "  --quick            every case briefly on the bundled articles and synthetic\n"
    "                     data (a smoke test: checks results, not speed)\n"
    "  --filter TEXT      only the cases whose name contains TEXT\n"
    "  --corpus FILE      JSON Lines corpus (optionally .gz) for the query and\n"
    "                     indexing cases (default: the bundled articles)\n"
    "  --queries FILE     qid<TAB>query lines (default: a built-in set)\n"
    "  --max-docs N       read at most N documents of the corpus\n"
    "  --out DIR          results, chart data and charts (default bench-out)\n"
    "  --json FILE        the results as JSON (default OUT/results.json)\n"
    "  --csv FILE         the results as CSV (default OUT/results.csv)\n"
    "  --work DIR         scratch indexes (default OUT/work)\n"
    "  --passage-words N  scaling: passages of about N words (default 100)\n"
    "  --no-fts5          skip SQLite FTS5\n"
    "  --no-xapian        skip Xapian (built in when libxapian-dev is installed)\n"
    "  --cpu N            run on CPU N only, kzbench and every process it starts\n"
    "                     (the CPUs of a machine may differ in speed)\n"
    "  --baseline-bin BIN segments/release: the query latency of BIN (the last\n"
    "                     release's kzsearch) against this build's, each on the\n"
    "                     one-segment index it built of the same passages\n"
    "  --list             list the cases\n";

static int cmd_split(int argc, char **argv)
{
    size_t words = 100;
    int i = 2;
    if (i + 1 < argc && strcmp(argv[i], "--words") == 0) {
        words = (size_t)strtoul(argv[i + 1], NULL, 10);
        i += 2;
    }
    if (argc - i != 2 || words == 0) {
        fputs(usage, stderr);
        return 2;
    }
    kzb_corpus in, out;
    if (kzb_corpus_read(&in, argv[i], 0)) {
        fprintf(stderr, "kzbench: cannot read %s\n", argv[i]);
        return 2;
    }
    int rc = kzb_corpus_passages(&out, &in, words) || kzb_corpus_write(&out, argv[i + 1]);
    fprintf(stderr, "kzbench: %zu documents -> %zu passages of about %zu words\n", in.n, out.n, words);
    kzb_corpus_free(&in);
    kzb_corpus_free(&out);
    return rc ? 2 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "split") == 0)
        return cmd_split(argc, argv);
    if (argc > 1 && strcmp(argv[1], "--spawn-child") == 0)
        return cmd_spawn_child(argc, argv);
    static const struct option opts[] = {
        { "quick", no_argument, 0, 'q' },        { "filter", required_argument, 0, 'f' },
        { "corpus", required_argument, 0, 'c' }, { "queries", required_argument, 0, 'Q' },
        { "out", required_argument, 0, 'o' },    { "work", required_argument, 0, 'w' },
        { "max-docs", required_argument, 0, 'm' }, { "no-fts5", no_argument, 0, 'n' },
        { "list", no_argument, 0, 'l' },         { "help", no_argument, 0, 'h' },
        { "json", required_argument, 0, 'j' },   { "csv", required_argument, 0, 'v' },
        { "passage-words", required_argument, 0, 'p' },
        { "baseline-bin", required_argument, 0, 'B' },
        { "no-xapian", no_argument, 0, 'X' },    { "cpu", required_argument, 0, 'P' },
        { 0, 0, 0, 0 }
    };
    kzb b = { 0 };
    b.o.out_dir = "bench-out";
    b.o.articles = KZ_BUNDLED_ARTICLES;
    b.o.fts5 = 1;
#ifdef KZB_HAVE_XAPIAN
    b.o.xapian = 1;
#endif
    b.o.passage_words = 100;
    int c, list = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'q': b.o.quick = 1; break;
        case 'f': b.o.filter = optarg; break;
        case 'c': b.o.corpus = optarg; break;
        case 'Q': b.o.queries = optarg; break;
        case 'o': b.o.out_dir = optarg; break;
        case 'w': b.o.work_dir = optarg; break;
        case 'm': b.o.max_docs = strtoull(optarg, NULL, 10); break;
        case 'n': b.o.fts5 = 0; break;
        case 'l': list = 1; break;
        case 'j': b.o.json = optarg; break;
        case 'p': b.o.passage_words = strtoul(optarg, NULL, 10); break;
        case 'v': b.o.csv = optarg; break;
        case 'B': b.o.baseline_bin = optarg; break;
        case 'X': b.o.xapian = 0; break;
        case 'P': {
            char *end;
            unsigned long cpu = strtoul(optarg, &end, 10);
            cpu_set_t set;
            CPU_ZERO(&set);
            if (*optarg < '0' || *optarg > '9' || *end || cpu >= CPU_SETSIZE) {
                fprintf(stderr, "kzbench: --cpu takes a CPU number, not '%s'\n", optarg);
                return 2;
            }
            CPU_SET(cpu, &set);
            /* Children inherit it. */
            if (sched_setaffinity(0, sizeof set, &set) != 0) {
                fprintf(stderr, "kzbench: cannot run on CPU %lu: %s\n", cpu, strerror(errno));
                return 2;
            }
            break;
        }
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (list) {
        puts("intersect/*   synthetic and real posting lists, every method");
        puts("query/*       latency of AND, OR, phrase; top 10, 100, 1000, count; cold start; FTS5 and Xapian");
        puts("index/*       indexing throughput, threads, budgets; FTS5 and Xapian");
        puts("scaling/*     the same at 1e3 .. 1e6 passages (not in --quick)");
        puts("segments/*    adding, updating, deleting; 10 segments against 1; merges in a budget;");
        puts("              the last release with --baseline-bin (--quick: a small smoke version)");
        puts("fields/*      filters keeping 10% and under 1%, facets, sorting by date, against the plain");
        puts("              query (passages with generated dates and sources; not in --quick)");
        puts("html/extract  web page extraction speed (MB/s of HTML, one thread) on the article-");
        puts("              extraction pages; checks every page gives a title and text");
        puts("html/warc-t*  kzsearch index of a WARC of those pages, 1 and 2 threads, against html/text-t*,");
        puts("              JSON Lines of their texts: pages should scale with threads as JSON Lines do");
        puts("variants/*    queries with their spellings in the other script against without, on the");
        puts("              corpus alone and with a Cyrillic copy of it");
        puts("collapse/*    top 10 collapsing near-duplicates against KZ_SEARCH_NO_COLLAPSE, AND and AUTO,");
        puts("              on passages; checks leaders, scores, totals and fingerprints");
        puts("serve/*       kzsearch serve over loopback HTTP: top 10 latency against the same searches in");
        puts("              process, requests/s from 2 clients against 1; checks totals and hit ids");
        puts("shards/*      4 shards built with --shard I/4 and searched as a set against one index of the");
        puts("              same passages: top 10 AND, OR, AUTO; checks hits, totals, scores to the bit");
        puts("remote/*      serve --remote over 4 shard servers on loopback against one server of the set:");
        puts("              /api/search top 10, with and without passages; checks the JSON byte for byte");
        return 0;
    }
    char work[4096];
    if (!b.o.work_dir) {
        snprintf(work, sizeof work, "%s/work", b.o.out_dir);
        b.o.work_dir = work;
    }
    if (kz_mkdir_p(b.o.out_dir) || kz_mkdir_p(b.o.work_dir)) {
        fprintf(stderr, "kzbench: cannot create %s\n", b.o.work_dir);
        return 2;
    }
    uint64_t t0 = kzb_now_ns();
    /* Indexing first: the query and intersection cases search its indexes. */
    kzb_index_cases(&b);
    kzb_query_cases(&b);
    kzb_intersect_cases(&b);
    kzb_segments_cases(&b);
    kzb_fields_cases(&b);
    kzb_html_cases(&b);
    kzb_variants_cases(&b);
    kzb_collapse_cases(&b);
    kzb_serve_cases(&b);
    kzb_shards_cases(&b);
    kzb_remote_cases(&b);
    write_results(&b);
    plot(&b);
    fprintf(stderr, "kzbench: %zu figures in %.1f s, %d failed check%s; results in %s/\n", b.n,
            (double)(kzb_now_ns() - t0) * 1e-9, b.failures, b.failures == 1 ? "" : "s", b.o.out_dir);
    for (size_t i = 0; i < b.n; i++) {
        free(b.m[i].case_name);
        free(b.m[i].name);
        free(b.m[i].unit);
        free(b.m[i].base_case);
        free(b.m[i].base_metric);
    }
    free(b.m);
    for (size_t i = 0; i < b.n_data; i++)
        free(b.data_files[i]);
    free(b.data_files);
    kzb_corpus_free(&b.corpus);
    kzb_queries_free(&b.queries);
    return b.failures ? 1 : 0;
}
