/*
 * bench_index.c: indexing throughput, and how cost grows with the
 * collection.
 *
 * index/<engine>-...: the run's corpus indexed by `kzsearch index` as a
 * child process (so its wall time and peak RSS are its own), with 2 and 1
 * threads and a small memory budget, and by SQLite FTS5 and (when built
 * in) Xapian in this process, each with one thread (Xapian's terms are
 * kzsearch's analysis: bench_xapian.h).
 * Figures: seconds, MB/s of title and text, documents/s, peak RSS, index
 * size / text size. kzsearch is reported against FTS5, 1 thread against 2;
 * seconds_xapian is the same seconds against Xapian's.
 * Checks: the build succeeds and the index holds the corpus's documents
 * (FTS5, Xapian: a count).
 *
 * scaling/<n>: the corpus split into passages of about 100 words
 * (--passage-words); the first n (1e3, 1e4, 1e5, 1e6, and all of them)
 * indexed, then the run's queries
 * in AND and OR mode, top 10; FTS5 beside it up to 1e5. Not in --quick.
 */
#include "bench.h"
#include "bench_fts5.h"
#include "bench_xapian.h"
#include "kzsearch.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Builds dir from source with kzsearch index (in language lang, NULL: the
 * default); records the figures. */
static int kz_build(kzb *b, const char *name, const char *source, const char *dir, const char *threads,
                    const char *memory, const char *lang, uint64_t docs, uint64_t bytes, const char *base)
{
    const char *args[] = { "kzsearch", "index", "-o", dir, "--threads", threads, "--memory", memory,
                           "--lang", lang ? lang : "auto", source, NULL };
    double secs;
    uint64_t rss;
    char log[4200];
    snprintf(log, sizeof log, "%s.log", dir);
    kzb_remove_tree(dir); /* an index an earlier run left, perhaps of another corpus */
    int st = kzb_spawn(args, &secs, &rss, log);
    if (st != 0 && st != 1) {
        kzb_fail(b, name, "kzsearch index exited %d", st);
        return -1;
    }
    kz_index *ix;
    if (kz_index_open(&ix, dir) != KZ_OK) {
        kzb_fail(b, name, "cannot open the index: %s", kz_last_error());
        return -1;
    }
    kz_index_info info;
    kz_index_get_info(ix, &info);
    kz_index_free(ix);
    if (info.docs > docs || (double)info.docs < 0.99 * (double)docs)
        kzb_fail(b, name, "the index holds %llu documents of %llu", (unsigned long long)info.docs,
                 (unsigned long long)docs);
    kzb_metric(b, name, "seconds", secs, "s", base, base ? "seconds" : NULL);
    kzb_metric(b, name, "MB/s", (double)bytes / 1e6 / secs, "MB/s", base, base ? "MB/s" : NULL);
    kzb_metric(b, name, "docs/s", (double)docs / secs, "1/s", NULL, NULL);
    if (rss == 0)
        kzb_fail(b, name, "no peak memory in %s", log);
    kzb_metric(b, name, "peak_rss", (double)rss / 1e6, "MB", NULL, NULL);
    kzb_metric(b, name, "size/text", (double)info.file_bytes / (double)bytes, "x", base, base ? "size/text" : NULL);
    return 0;
}

/* The figures of a peer engine's build of c (seconds, its size on disk),
 * which must hold c's documents (docs, as the engine counts them). */
static void peer_figures(kzb *b, const char *name, const kzb_corpus *c, double secs, uint64_t docs, uint64_t size)
{
    if (docs != c->n)
        kzb_fail(b, name, "it holds %llu documents of %zu", (unsigned long long)docs, c->n);
    kzb_metric(b, name, "seconds", secs, "s", NULL, NULL);
    kzb_metric(b, name, "MB/s", (double)c->bytes / 1e6 / secs, "MB/s", NULL, NULL);
    kzb_metric(b, name, "docs/s", (double)c->n / secs, "1/s", NULL, NULL);
    kzb_metric(b, name, "size/text", (double)size / (double)c->bytes, "x", NULL, NULL);
}

static int fts5_build(kzb *b, const char *name, const kzb_corpus *c, const char *path)
{
    double secs;
    if (kzb_fts5_build(path, c, &secs) != 0) {
        kzb_fail(b, name, "build failed");
        return -1;
    }
    kzb_fts5 *f;
    uint64_t n = 0;
    if (kzb_fts5_open(&f, path) == 0) {
        kzb_fts5_rows(f, &n);
        kzb_fts5_close(f);
    }
    peer_figures(b, name, c, secs, n, file_size(path));
    return 0;
}

#ifdef KZB_HAVE_XAPIAN
/* The bytes of the files in dir (a Xapian database is one folder of them). */
static uint64_t folder_size(const char *dir)
{
    uint64_t sum = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4400];
    while (d && (e = readdir(d))) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (e->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            sum += (uint64_t)st.st_size;
    }
    if (d)
        closedir(d);
    return sum;
}

static int xapian_build(kzb *b, const char *name, const kzb_corpus *c, const char *path)
{
    kzb_remove_tree(path); /* whatever an earlier run left there */
    uint64_t t0 = kzb_now_ns();
    int rc = kzb_xapian_build(path, c);
    double secs = (double)(kzb_now_ns() - t0) * 1e-9;
    if (rc != 0) {
        kzb_fail(b, name, "build failed");
        return -1;
    }
    kzb_xapian *x;
    uint64_t n = 0;
    if (kzb_xapian_open(&x, path) == 0) {
        n = kzb_xapian_docs(x);
        kzb_xapian_close(x);
    }
    peer_figures(b, name, c, secs, n, folder_size(path));
    return 0;
}
#endif

static void scaling(kzb *b, const kzb_corpus *c)
{
    const kzb_queries *q = kzb_main_queries(b);
    if (!q || kzb_opts(b)->quick || !kzb_selects_group(b, "scaling/"))
        return;
    kzb_corpus passages;
    size_t words = kzb_opts(b)->passage_words ? kzb_opts(b)->passage_words : 100;
    if (kzb_corpus_passages(&passages, c, words) != KZ_OK) {
        kzb_fail(b, "scaling", "cannot split the corpus");
        return;
    }
    fprintf(stderr, "kzbench: %zu passages of about %zu words\n", passages.n, words);
    size_t sizes[] = { 1000, 10000, 100000, 1000000, passages.n };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s] < passages.n ? sizes[s] : passages.n;
        if (s > 0 && n <= sizes[s - 1])
            break;
        kzb_corpus part = passages;
        part.n = n;
        part.bytes = 0;
        for (size_t i = 0; i < n; i++)
            part.bytes += strlen(part.docs[i].title) + part.docs[i].text_len;
        char name[64], fname[64], file[4096], dir[4096], db[4096], leaf[64];
        snprintf(name, sizeof name, "scaling/kz-%zu", n);
        snprintf(fname, sizeof fname, "scaling/fts5-%zu", n);
        snprintf(leaf, sizeof leaf, "passages-%zu.jsonl", n);
        kzb_work_path(file, sizeof file, b, leaf);
        snprintf(leaf, sizeof leaf, "kz-passages-%zu", n);
        kzb_work_path(dir, sizeof dir, b, leaf);
        snprintf(leaf, sizeof leaf, "fts5-passages-%zu.db", n);
        kzb_work_path(db, sizeof db, b, leaf);
        if (kzb_corpus_write(&part, file) != KZ_OK) {
            kzb_fail(b, name, "cannot write %s", file);
            break;
        }
        int with_fts5 = kzb_opts(b)->fts5 && n <= 100000;
        if (with_fts5)
            fts5_build(b, fname, &part, db);
        if (kz_build(b, name, file, dir, "2", "1G", NULL, n, part.bytes, with_fts5 ? fname : NULL) != 0)
            break;
        kzb_latency and_l, or_l;
        char lname[80];
        snprintf(lname, sizeof lname, "%s-and-top10", name);
        int ok = kzb_kz_latency(b, lname, dir, q, "and", 10, &and_l, NULL) == 0;
        if (ok) {
            kzb_metric(b, lname, "p50", and_l.p50, "us", NULL, NULL);
            kzb_metric(b, lname, "p99", and_l.p99, "us", NULL, NULL);
        }
        snprintf(lname, sizeof lname, "%s-or-top10", name);
        ok &= kzb_kz_latency(b, lname, dir, q, "or", 10, &or_l, NULL) == 0;
        if (ok) {
            kzb_metric(b, lname, "p50", or_l.p50, "us", NULL, NULL);
            kzb_metric(b, lname, "p99", or_l.p99, "us", NULL, NULL);
            kzb_data(b, "scaling.dat", "docs and_p50_us or_p50_us index_seconds and_p99_us or_p99_us", "%zu %.3f %.3f %.4f %.3f %.3f",
                     n, and_l.p50, or_l.p50, kzb_value(b, name, "seconds"), and_l.p99, or_l.p99);
        }
        remove(file);
    }
    /* The passages share the strings of c's documents' titles only by copy:
     * free them whole. */
    kzb_corpus_free(&passages);
}

void kzb_index_cases(kzb *b)
{
    const kzb_corpus *c = kzb_main_corpus(b);
    if (!c)
        return;
    const char *source = kzb_main_corpus_path(b);
    char dir[4096], db[4096];
    kzb_work_path(db, sizeof db, b, "fts5.db");
    int have_fts5 = 0;
    if (kzb_opts(b)->fts5 && (kzb_selected(b, "index/fts5") || kzb_selects_group(b, "query/")))
        have_fts5 = fts5_build(b, "index/fts5", c, db) == 0;
    const char *base = have_fts5 ? "index/fts5" : NULL;
    int have_xapian = 0;
#ifdef KZB_HAVE_XAPIAN
    /* Xapian's database, for the query cases too (README "Benchmarks"). */
    kzb_work_path(db, sizeof db, b, "xapian");
    if (kzb_opts(b)->xapian && (kzb_selected(b, "index/xapian") || kzb_selects_group(b, "query/")))
        have_xapian = xapian_build(b, "index/xapian", c, db) == 0;
#endif
    /* The 2-thread index is the one the query cases search. */
    kzb_work_path(dir, sizeof dir, b, "kz");
    if ((kzb_selected(b, "index/kz-t2") || kzb_selects_group(b, "query/") || kzb_selects_group(b, "intersect/real")) &&
        kz_build(b, "index/kz-t2", source, dir, "2", "1G", NULL, c->n, c->bytes, base) == 0 && have_xapian)
        kzb_metric(b, "index/kz-t2", "seconds_xapian", kzb_value(b, "index/kz-t2", "seconds"), "s", "index/xapian",
                   "seconds");
    if (kzb_selected(b, "index/kz-t1")) {
        kzb_work_path(dir, sizeof dir, b, "kz-t1");
        if (kz_build(b, "index/kz-t1", source, dir, "1", "1G", NULL, c->n, c->bytes, "index/kz-t2") == 0 &&
            have_xapian)
            kzb_metric(b, "index/kz-t1", "seconds_xapian", kzb_value(b, "index/kz-t1", "seconds"), "s",
                       "index/xapian", "seconds");
    }
    /* The default analysis chooses a stemmer per word by its script; English
     * for every word is what it did before (README "Analysis"). */
    if (kzb_selected(b, "index/kz-t2-english")) {
        kzb_work_path(dir, sizeof dir, b, "kz-english");
        kz_build(b, "index/kz-t2-english", source, dir, "2", "1G", "english", c->n, c->bytes, "index/kz-t2");
    }
    if (kzb_selected(b, "index/kz-t2-m64M")) {
        kzb_work_path(dir, sizeof dir, b, "kz-m64");
        kz_build(b, "index/kz-t2-m64M", source, dir, "2", "64M", NULL, c->n, c->bytes, "index/kz-t2");
    }
    scaling(b, c);
}
