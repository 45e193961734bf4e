/*
 * bench_html.c: html/extract, the web page reader's speed.
 *
 * The article-extraction benchmark's pages (../shared/data/article-
 * extraction/html, or $KZ_BENCH_HTML) are read and gunzipped before the
 * clock starts; the timed work is kz_html_extract of every page, in one
 * thread: charset, parse, metadata, main content. Reported in MB of HTML
 * a second (the target is 20 MB/s a thread) and pages a second. The check:
 * every page gives a title and some text, and the text totals the same on
 * every repetition. Skipped, with a note, when the pages are not there.
 */
#include "bench.h"
#include "html.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

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

void kzb_html_cases(kzb *b)
{
    const char *name = "html/extract";
    if (!kzb_selected(b, name))
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
    double median, lo, hi;
    kzb_time(&median, &lo, &hi, kzb_opts(b)->quick ? 3 : 9, extract_all, &c);
    size_t text_bytes = c.text_bytes;
    extract_all(&c); /* once more: the same text */
    if (c.failed || c.empty || c.untitled || c.text_bytes != text_bytes)
        kzb_fail(b, name, "%zu pages failed, %zu without text, %zu without a title; text %zu then %zu bytes", c.failed,
                 c.empty, c.untitled, text_bytes, c.text_bytes);
    kzb_metric(b, name, "MB/s", (double)c.bytes / 1e6 / (median * 1e-9), "MB/s", NULL, NULL);
    kzb_metric(b, name, "pages/s", (double)c.n / (median * 1e-9), "pages/s", NULL, NULL);
    kzb_metric(b, name, "pages", (double)c.n, "", NULL, NULL);
    for (size_t i = 0; i < c.n; i++)
        free(c.data[i]);
    free(c.data);
    free(c.len);
    kz_html_page_free(&c.page);
}
