/*
 * fuzz.h: what the libFuzzer targets share: a scratch folder for the
 * process, quiet build options, a builder kept across inputs, and the
 * searches every target runs on what it could open.
 *
 * Each target defines LLVMFuzzerTestOneInput and, where it needs one,
 * LLVMFuzzerInitialize. Built by -DKZ_FUZZ=ON (see fuzz/run.sh).
 */
#ifndef KZ_FUZZ_H
#define KZ_FUZZ_H

#include "kzsearch.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A folder of this process's own under /dev/shm (or $TMPDIR, or /tmp),
 * made on first use and removed at exit. */
static char kz_fuzz_root[512];

static inline int kz_fuzz_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static inline void kz_fuzz_rm_tree(const char *path) { nftw(path, kz_fuzz_rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static inline void kz_fuzz_cleanup(void) { kz_fuzz_rm_tree(kz_fuzz_root); }

static inline const char *kz_fuzz_dir(void)
{
    if (kz_fuzz_root[0])
        return kz_fuzz_root;
    const char *tmp = getenv("TMPDIR");
    struct stat st;
    if (!tmp || !*tmp)
        tmp = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(kz_fuzz_root, sizeof kz_fuzz_root, "%s/kz-fuzz-XXXXXX", tmp);
    if (!mkdtemp(kz_fuzz_root)) {
        perror(kz_fuzz_root);
        abort();
    }
    atexit(kz_fuzz_cleanup);
    return kz_fuzz_root;
}

/* Writes data to path, whole: the fuzzer's own failure, not the input's,
 * if it cannot. */
static inline void kz_fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror(path);
        abort();
    }
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n <= 0) {
            perror(path);
            abort();
        }
        data += n;
        size -= (size_t)n;
    }
    close(fd);
}

static inline void kz_fuzz_quiet_problem(void *ctx, kz_problem kind, const char *where, const char *message)
{
    (void)ctx, (void)kind, (void)where, (void)message;
}

/* A builder into <scratch>/build kept across inputs and started afresh
 * (never committed) every KZ_FUZZ_BUILDER_INPUTS inputs, so that what the
 * inputs add stays small: one thread, a small budget so that runs spill. */
#define KZ_FUZZ_BUILDER_INPUTS 2000
static kz_builder *kz_fuzz_builder_;
static unsigned kz_fuzz_builder_uses_;

static inline kz_builder *kz_fuzz_builder(void)
{
    if (kz_fuzz_builder_ && ++kz_fuzz_builder_uses_ < KZ_FUZZ_BUILDER_INPUTS)
        return kz_fuzz_builder_;
    kz_builder_free(kz_fuzz_builder_);
    kz_fuzz_builder_ = NULL;
    kz_fuzz_builder_uses_ = 0;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/build", kz_fuzz_dir());
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.threads = 1;
    o.memory_budget = 48u << 20;
    o.on_problem = kz_fuzz_quiet_problem;
    if (kz_builder_new(&kz_fuzz_builder_, dir, &o) != KZ_OK) {
        fprintf(stderr, "kz_builder_new: %s\n", kz_last_error());
        abort();
    }
    return kz_fuzz_builder_;
}

/* An error that only a fault of the input may cause: anything else (a
 * KZ_EINVAL from the library's own misuse, say) is a bug, and aborts so
 * that the fuzzer keeps the input. */
static inline void kz_fuzz_expect(int rc, int allowed_mask, const char *what)
{
    if (rc == KZ_OK)
        return;
    int bit = rc < 0 && rc > -31 ? 1 << -rc : 0;
    if (bit & allowed_mask)
        return;
    fprintf(stderr, "%s: unexpected %d (%s): %s\n", what, rc, kz_strerror(rc), kz_last_error());
    abort();
}

#define KZ_FUZZ_ALLOW(code) (1 << -(code))

/* The index of the bundled sample articles (their first 3,000 bytes, so
 * that a snippet's analysis of a hit's text does not dominate), each with
 * the fields source, date, n (a number) and tags (two values, one a
 * number), built into <scratch>/name and opened; aborts if it cannot be. */
static inline kz_index *kz_fuzz_sample_index(const char *name)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", kz_fuzz_dir(), name);
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.threads = 1;
    o.on_problem = kz_fuzz_quiet_problem;
    kz_builder *b;
    kz_index *ix = NULL;
    if (kz_builder_new(&b, dir, &o) != KZ_OK)
        goto fail;
    DIR *d = opendir(KZ_SOURCE_DIR "/data/articles");
    struct dirent *e;
    int i = 0;
    while (d && (e = readdir(d))) {
        char path[1200], text[3000];
        /* Fields of every kind, for the queries' field clauses: keywords
         * (one and an array), a date, numbers. */
        char source[16], date[16], n[16];
        snprintf(source, sizeof source, "s%d", i % 3);
        snprintf(date, sizeof date, "2024-0%d-1%d", 1 + i % 9, i % 10);
        snprintf(n, sizeof n, "%d.5", i * 7 - 10);
        kz_doc_field meta[5] = { { "source", 6, source, strlen(source) }, { "date", 4, date, strlen(date) },
                                 { "n", 1, n, strlen(n) }, { "tags", 4, "grain", 5 }, { "tags", 4, "-3e2", 4 } };
        snprintf(path, sizeof path, "%s/%s", KZ_SOURCE_DIR "/data/articles", e->d_name);
        FILE *f = e->d_name[0] != '.' ? fopen(path, "rb") : NULL;
        if (!f)
            continue;
        size_t got = fread(text, 1, sizeof text, f);
        fclose(f);
        if (got < 80 ||
            kz_builder_add_document(b, e->d_name, strlen(e->d_name), text, 80, text + 80, got - 80, meta, 5))
            goto fail;
        i++;
    }
    if (d)
        closedir(d);
    if (kz_builder_commit(b, NULL) != KZ_OK)
        goto fail;
    kz_builder_free(b);
    if (kz_index_open(&ix, dir) != KZ_OK)
        goto fail;
    return ix;
fail:
    fprintf(stderr, "building the sample index: %s\n", kz_last_error());
    abort();
}

/* Runs query (len bytes) on ix in both modes, with the snippets, title
 * highlights (from the whole text and from the index's places of the
 * terms) and explanation of the first hit of the first mode (a
 * snippet analyses the whole text: the most costly step, and the one
 * that depends least on the query). Errors allowed: those in
 * allowed_mask. */
static inline void kz_fuzz_search(kz_index *ix, const char *query, size_t len, unsigned parse_flags, int allowed_mask)
{
    for (int mode = 0; mode < 2; mode++) {
        kz_query *q = NULL;
        kz_syntax_error err;
        int rc = kz_query_parse(&q, ix, query, len, parse_flags, &err);
        kz_fuzz_expect(rc, allowed_mask | KZ_FUZZ_ALLOW(KZ_ESYNTAX), "kz_query_parse");
        if (rc)
            return;
        kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
        o.mode = mode ? KZ_MODE_ALL : KZ_MODE_ANY;
        o.limit = 3;
        kz_results *r = NULL;
        rc = kz_query_run(&r, q, &o);
        kz_fuzz_expect(rc, allowed_mask, "kz_query_run");
        for (size_t h = 0; rc == KZ_OK && mode == 0 && h < kz_results_count(r) && h < 1; h++) {
            uint32_t docid = kz_results_hit(r, h)->docid;
            char *text = NULL;
            size_t text_len = 0;
            int drc = kz_index_doc_text(ix, &text, &text_len, docid);
            kz_fuzz_expect(drc, allowed_mask, "kz_index_doc_text");
            if (drc == KZ_OK) {
                /* Stemming the whole text, then only at the places the
                 * index has the query's terms (which a hostile index may
                 * give wrong: they must still be read safely). */
                for (int from_places = 0; from_places < 2; from_places++) {
                    kz_snippet sn[2];
                    size_t n = 0;
                    int src = from_places ? kz_snippets_make_doc(sn, &n, 2, ix, r, docid, text, text_len, 160)
                                          : kz_snippets_make(sn, &n, 2, ix, r, text, text_len, 160);
                    kz_fuzz_expect(src, allowed_mask, from_places ? "kz_snippets_make_doc" : "kz_snippets_make");
                    for (size_t i = 0; src == KZ_OK && i < n; i++) {
                        if (sn[i].start > sn[i].end || sn[i].end > text_len)
                            abort();
                        kz_snippet_free(&sn[i]);
                    }
                }
            }
            free(text);
            /* By the text's marks (format 7), which a hostile index may
             * put anywhere the text is: analysed from there, safely. */
            kz_text_marks marks;
            text = NULL;
            drc = kz_index_doc_text_marked(ix, &text, &text_len, &marks, docid, 1u << 20);
            kz_fuzz_expect(drc, allowed_mask, "kz_index_doc_text_marked");
            if (drc == KZ_OK) {
                kz_snippet sn[2];
                size_t n = 0;
                int src = kz_snippets_make_marked(sn, &n, 2, ix, r, docid, text, text_len, &marks, 160);
                kz_fuzz_expect(src, allowed_mask, "kz_snippets_make_marked");
                for (size_t i = 0; src == KZ_OK && i < n; i++) {
                    if (sn[i].start > sn[i].end || sn[i].end > text_len)
                        abort();
                    kz_snippet_free(&sn[i]);
                }
                kz_text_marks_free(&marks);
            }
            free(text);
            kz_doc d;
            kz_doc_field meta[4];
            if (kz_index_doc(ix, &d, docid, meta, 4) == KZ_OK) {
                kz_span *spans = NULL;
                size_t n = 0;
                kz_fuzz_expect(kz_highlight(&spans, &n, ix, r, d.title, d.title_len), allowed_mask, "kz_highlight");
                free(spans);
                spans = NULL;
                kz_fuzz_expect(kz_highlight_doc(&spans, &n, ix, r, docid, 1, d.title, d.title_len), allowed_mask,
                               "kz_highlight_doc");
                free(spans);
            }
            kz_explanation x;
            int xrc = kz_results_explain(&x, ix, r, h);
            kz_fuzz_expect(xrc, allowed_mask, "kz_results_explain");
            if (xrc == KZ_OK)
                kz_explanation_free(&x);
        }
        kz_results_free(r);
        kz_query_free(q);
    }
}

#endif
