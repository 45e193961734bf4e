/*
 * bench_html.c: html/extract, the web page reader's speed, and
 * html/warc-t1, html/warc-t2: how a build of web pages scales with threads.
 *
 * The article-extraction benchmark's pages (../shared/data/article-
 * extraction/html, or $KZ_BENCH_HTML) are read and gunzipped before the
 * clock starts; the timed work is kz_html_extract of every page, in one
 * thread: charset, parse, metadata, main content. Reported in MB of HTML
 * a second (the target is 20 MB/s a thread) and pages a second. The check:
 * every page gives a title and some text, and the text totals the same on
 * every repetition. Skipped, with a note, when the pages are not there.
 *
 * html/warc-t1, html/warc-t2: `kzsearch index --threads 1` and `2` of a
 * WARC file (gzipped a record a member, as wget writes them) of the same
 * pages, copied COPIES times under other addresses (once in --quick),
 * against html/text-t1, html/text-t2: the same documents as JSON Lines of
 * the text the pages give (so the figures differ by the extraction
 * alone). The four run in turn, ROUNDS times; the median seconds of each.
 * html/warc-t2's "speedup" is t1's seconds over its own, as is
 * html/text-t2's: the target is that the first is the second's, that
 * pages scale with threads as JSON Lines do. Checks: each build holds
 * every page (pages times copies).
 */
#include "bench.h"
#include "html.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#define COPIES 8
#define ROUNDS 3

typedef struct html_corpus {
    char **data;
    size_t *len;
    size_t n, bytes;
    kz_html_page page;
    size_t empty, untitled, text_bytes, failed;
} html_corpus;

static void extract_all(void *ctx)
{
    html_corpus *c = ctx;
    c->empty = c->untitled = c->text_bytes = c->failed = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (kz_html_extract(&c->page, c->data[i], c->len[i], NULL) != KZ_OK) {
            c->failed++;
            continue;
        }
        c->empty += c->page.text.len == 0;
        c->untitled += c->page.title.len == 0;
        c->text_bytes += c->page.text.len;
    }
}

static int load(html_corpus *c, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    size_t cap = 0;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl < 8 || strcmp(e->d_name + nl - 8, ".html.gz") != 0)
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        gzFile g = gzopen(path, "rb");
        if (!g)
            continue;
        kz_buf b = { 0 };
        for (;;) {
            if (kz_buf_reserve(&b, 1 << 16))
                break;
            int n = gzread(g, b.data + b.len, 1 << 16);
            if (n <= 0)
                break;
            b.len += (size_t)n;
        }
        gzclose(g);
        if (c->n == cap) {
            cap = cap ? cap * 2 : 128;
            c->data = realloc(c->data, cap * sizeof *c->data);
            c->len = realloc(c->len, cap * sizeof *c->len);
            if (!c->data || !c->len)
                abort();
        }
        c->data[c->n] = (char *)b.data;
        c->len[c->n++] = b.len;
        c->bytes += b.len;
    }
    closedir(d);
    return c->n ? 0 : -1;
}

/* The WARC file and the JSON Lines of their texts, copies times each. */
static int write_sources(const html_corpus *c, size_t copies, const char *warc, const char *jsonl)
{
    gzFile w = gzopen(warc, "wb");
    kzb_corpus texts = { 0 };
    kz_buf rec = { 0 };
    kz_html_page pg = { 0 };
    int rc = w && (texts.docs = calloc(c->n * copies + 1, sizeof *texts.docs)) ? 0 : -1;
    for (size_t k = 0; k < copies && rc == 0; k++) {
        for (size_t i = 0; i < c->n && rc == 0; i++) {
            char uri[128], http[160], head[512];
            snprintf(uri, sizeof uri, "https://pages.example/%zu/%zu", k, i);
            snprintf(http, sizeof http, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %zu\r\n\r\n",
                     c->len[i]);
            snprintf(head, sizeof head,
                     "WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: %s\r\n"
                     "Content-Type: application/http; msgtype=response\r\nContent-Length: %zu\r\n\r\n",
                     uri, strlen(http) + c->len[i]);
            rec.len = 0;
            kz_buf_append(&rec, head, strlen(head));
            kz_buf_append(&rec, http, strlen(http));
            kz_buf_append(&rec, c->data[i], c->len[i]);
            kz_buf_append(&rec, "\r\n\r\n", 4);
            /* One gzip member a record. */
            if (gzwrite(w, rec.data, (unsigned)rec.len) != (int)rec.len || gzflush(w, Z_FINISH) != Z_OK ||
                kz_html_extract(&pg, c->data[i], c->len[i], NULL) != KZ_OK) {
                rc = -1;
                break;
            }
            kzb_doc *d = &texts.docs[texts.n++];
            d->id = strdup(uri);
            d->title = strndup(pg.title.len ? (const char *)pg.title.data : "", pg.title.len);
            d->text = strndup(pg.text.len ? (const char *)pg.text.data : "", pg.text.len);
            d->text_len = pg.text.len;
            if (!d->id || !d->title || !d->text)
                rc = -1;
        }
    }
    if (w && gzclose(w) != Z_OK)
        rc = -1;
    if (rc == 0 && kzb_corpus_write(&texts, jsonl) != KZ_OK)
        rc = -1;
    kzb_corpus_free(&texts);
    kz_buf_free(&rec);
    kz_html_page_free(&pg);
    return rc;
}

/* html/warc-t1, -t2 and html/text-t1, -t2 (the comment at the top). */
static void threads_cases(kzb *b, const html_corpus *c)
{
    static const char *const names[4] = { "html/warc-t1", "html/warc-t2", "html/text-t1", "html/text-t2" };
    int any = 0;
    for (int k = 0; k < 4; k++)
        any |= kzb_selected(b, names[k]);
    if (!any)
        return;
    size_t copies = kzb_opts(b)->quick ? 1 : COPIES, rounds = kzb_opts(b)->quick ? 1 : ROUNDS;
    char warc[4096], jsonl[4096], ix[4096], log[4200];
    kzb_work_path(warc, sizeof warc, b, "pages.warc.gz");
    kzb_work_path(jsonl, sizeof jsonl, b, "pages-text.jsonl");
    kzb_work_path(ix, sizeof ix, b, "kz-pages");
    snprintf(log, sizeof log, "%s.log", ix);
    if (write_sources(c, copies, warc, jsonl) != 0) {
        kzb_fail(b, names[0], "cannot write %s and %s", warc, jsonl);
        return;
    }
    double secs[4][ROUNDS];
    int ok = 1;
    for (size_t r = 0; r < rounds && ok; r++) {
        for (int k = 0; k < 4 && ok; k++) {
            const char *args[] = { "kzsearch", "index", "-q", "--replace", "-o", ix, "--threads", k % 2 ? "2" : "1",
                                   "--memory", "1G", k < 2 ? warc : jsonl, NULL };
            uint64_t rss, docs, segments;
            ok = kzb_cli(b, names[k], args, log, &secs[k][r], &rss) == 0 &&
                 kzb_index_counts(b, names[k], ix, &docs, &segments) == 0;
            if (ok && docs != c->n * copies) {
                kzb_fail(b, names[k], "%llu documents, not the %zu pages", (unsigned long long)docs, c->n * copies);
                ok = 0;
            }
        }
    }
    kzb_remove_tree(ix);
    remove(warc);
    remove(jsonl);
    if (!ok)
        return;
    double median[4];
    for (int k = 0; k < 4; k++)
        median[k] = kzb_median(secs[k], rounds);
    for (int k = 0; k < 4; k++) {
        kzb_metric(b, names[k], "seconds", median[k], "s", k % 2 ? names[k - 1] : NULL, k % 2 ? "seconds" : NULL);
        if (k < 2)
            kzb_metric(b, names[k], "MB/s", (double)c->bytes * (double)copies / 1e6 / median[k], "MB/s", NULL, NULL);
    }
    kzb_metric(b, names[1], "speedup", median[0] / median[1], "x", NULL, NULL);
    kzb_metric(b, names[3], "speedup", median[2] / median[3], "x", NULL, NULL);
}

void kzb_html_cases(kzb *b)
{
    const char *name = "html/extract";
    if (!kzb_selects_group(b, "html/"))
        return;
    char dir[4096];
    const char *env = getenv("KZ_BENCH_HTML");
    if (env && *env)
        snprintf(dir, sizeof dir, "%s", env);
    else
        snprintf(dir, sizeof dir, "%s/../../../shared/data/article-extraction/html", kzb_opts(b)->articles);
    html_corpus c = { 0 };
    if (load(&c, dir) != 0) {
        fprintf(stderr, "kzbench: %s skipped: no pages in %s (set KZ_BENCH_HTML)\n", name, dir);
        return;
    }
    if (kzb_selected(b, name)) {
        double median, lo, hi;
        kzb_time(&median, &lo, &hi, kzb_opts(b)->quick ? 3 : 9, extract_all, &c);
        size_t text_bytes = c.text_bytes;
        extract_all(&c); /* once more: the same text */
        if (c.failed || c.empty || c.untitled || c.text_bytes != text_bytes)
            kzb_fail(b, name, "%zu pages failed, %zu without text, %zu without a title; text %zu then %zu bytes",
                     c.failed, c.empty, c.untitled, text_bytes, c.text_bytes);
        kzb_metric(b, name, "MB/s", (double)c.bytes / 1e6 / (median * 1e-9), "MB/s", NULL, NULL);
        kzb_metric(b, name, "pages/s", (double)c.n / (median * 1e-9), "pages/s", NULL, NULL);
        kzb_metric(b, name, "pages", (double)c.n, "", NULL, NULL);
    }
    threads_cases(b, &c);
    for (size_t i = 0; i < c.n; i++)
        free(c.data[i]);
    free(c.data);
    free(c.len);
    kz_html_page_free(&c.page);
}
