/*
 * test_page_queue.c: pages extracted on several threads give the build
 * that one thread gives.
 *
 * The same sources, built with 1, 2 and 4 threads and a budget small
 * enough that the queue is cut many times: a JSON Lines file whose html
 * records (some without text, one binary, one over the document limit)
 * are mixed with text records, a WARC file of the same pages, and a
 * folder of .html and .txt files. Each build must hold the documents the
 * sources name, in the sources' order, and report the same problems in
 * the same order. And a page whose parse needs more than a parse's share
 * when four run at once, but less than the share one parse had alone, is
 * indexed whatever the threads; a page as large as the queue, extracted
 * at once from the reader's bytes, keeps its place.
 */
#include "html.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define PAGES 150
#define MAX_DOC (200u << 10)

static char *tmp;
static uint64_t max_doc = MAX_DOC; /* of the builds */

typedef struct report {
    char lines[512][160]; /* "kind where", in order */
    size_t n;
} report;

static void on_problem(void *ctx, kz_problem kind, const char *where, const char *message)
{
    if (getenv("KZ_TEST_VERBOSE"))
        fprintf(stderr, "  problem %s %s: %s\n", kz_problem_name(kind), where, message);
    report *r = ctx;
    const char *rel = strstr(where, "/src");
    if (r->n < 512)
        snprintf(r->lines[r->n++], sizeof r->lines[0], "%s %s", kz_problem_name(kind), rel ? rel : where);
}

/* The ids of the index at dir, in docid order, one a line. */
static char *ids_of(const char *dir)
{
    kz_index *ix = NULL;
    CHECK_OK(kz_index_open(&ix, dir));
    if (!ix)
        return strdup("");
    kz_index_info info;
    kz_index_get_info(ix, &info);
    kz_buf out = { 0 };
    for (uint32_t i = 0; i < info.docs; i++) {
        kz_doc d;
        CHECK_OK(kz_index_doc(ix, &d, i, NULL, 0));
        kz_buf_append(&out, d.id, d.id_len);
        kz_buf_append(&out, "\n", 1);
    }
    kz_buf_append(&out, "", 1);
    kz_index_free(ix);
    return (char *)out.data;
}

/* Builds source with threads; *ids gets the ids in docid order. */
static void build(const char *source, unsigned threads, uint64_t memory, report *r, char **ids, kz_build_stats *st)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/ix%u", tmp, threads);
    kz_test_remove_tree(dir);
    memset(r, 0, sizeof *r);
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.on_problem = on_problem;
    o.ctx = r;
    o.threads = threads;
    o.memory_budget = memory;
    o.max_doc_bytes = max_doc;
    kz_builder *b = NULL;
    *ids = NULL;
    CHECK_OK(kz_builder_new(&b, dir, &o));
    if (!b)
        return;
    CHECK_OK(kz_builder_add_source(b, source));
    CHECK_OK(kz_builder_commit(b, st));
    kz_builder_free(b);
    *ids = ids_of(dir);
    kz_test_remove_tree(dir);
}

/* Page i: an article of about 20 KB, or (every 17th) one without text. */
static char *page(size_t i)
{
    kz_buf b = { 0 };
    char head[200];
    snprintf(head, sizeof head, "<html><head><title>Story %zu | Site</title></head><body><article><h1>Story %zu</h1>",
             i, i);
    kz_buf_append(&b, head, strlen(head));
    for (size_t p = 0; i % 17 != 5 && p < 100 + i % 60; p++) {
        char para[300];
        snprintf(para, sizeof para,
                 "<p>Paragraph %zu of story %zu tells what the reporter saw in the town, who spoke, and what "
                 "the council decided about the bridge and the school budget.</p>",
                 p, i);
        kz_buf_append(&b, para, strlen(para));
    }
    kz_buf_append(&b, "</article></body></html>", 24);
    kz_buf_append(&b, "", 1); /* NUL-terminated */
    return (char *)b.data;
}

/* JSON string contents for s (no quotes): only " and \ need escaping here. */
static void json_escaped(kz_buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            kz_buf_append(out, "\\", 1);
        kz_buf_append(out, s, 1);
    }
}

static void expect_same(const char *what, const report *r1, const char *ids1, const report *r, const char *ids,
                        unsigned threads)
{
    CHECK_MSG(ids && ids1 && strcmp(ids, ids1) == 0, "%s: the documents with %u threads differ from one thread's",
              what, threads);
    CHECK_MSG(r->n == r1->n, "%s: %zu problems with %u threads, %zu with one", what, r->n, threads, r1->n);
    for (size_t i = 0; i < r->n && i < r1->n; i++)
        CHECK_MSG(strcmp(r->lines[i], r1->lines[i]) == 0, "%s: problem %zu is \"%s\" with %u threads, \"%s\" with one",
                  what, i, r->lines[i], threads, r1->lines[i]);
}

/* The ids a JSON Lines file of the pages and text records must give. */
static void test_jsonl_mixed(void)
{
    char src[4200];
    snprintf(src, sizeof src, "%s/src.jsonl", tmp);
    kz_buf in = { 0 }, want = { 0 };
    for (size_t i = 0; i < PAGES; i++) {
        char id[64];
        if (i % 7 == 3) { /* a text record between pages */
            snprintf(id, sizeof id, "text-%zu", i);
            char line[200];
            snprintf(line, sizeof line, "{\"id\":\"%s\",\"text\":\"A plain text record about the bridge, %zu.\"}\n",
                     id, i);
            kz_buf_append(&in, line, strlen(line));
            kz_buf_append(&want, id, strlen(id));
            kz_buf_append(&want, "\n", 1);
        }
        snprintf(id, sizeof id, "page-%zu", i);
        kz_buf_append(&in, "{\"id\":\"", 7);
        kz_buf_append(&in, id, strlen(id));
        kz_buf_append(&in, "\",\"html\":\"", 10);
        char *html = page(i);
        if (i == 40) /* binary: control bytes */
            for (int k = 0; k < 4000; k++)
                kz_buf_append(&in, "\\u0001", 6);
        json_escaped(&in, html);
        if (i == 60) /* over the document limit */
            for (size_t k = 0; k < MAX_DOC / 8 + 1; k++)
                kz_buf_append(&in, "<i>x</i>", 8);
        kz_buf_append(&in, "\"}\n", 3);
        free(html);
        if (i % 17 != 5 && i != 40 && i != 60) {
            kz_buf_append(&want, id, strlen(id));
            kz_buf_append(&want, "\n", 1);
        }
    }
    kz_buf_append(&want, "", 1);
    kz_test_write_file(src, in.data, in.len);
    static report r1, r;
    char *ids1 = NULL;
    kz_build_stats st;
    build(src, 1, 8u << 20, &r1, &ids1, &st); /* the queue cut at 1 MB: several times */
    CHECK_MSG(ids1 && strcmp(ids1, (const char *)want.data) == 0, "one thread: the ids are\n%s\nnot\n%s",
              ids1 ? ids1 : "", (const char *)want.data);
    CHECK_INT(r1.n, PAGES / 17 + 1 + 2); /* the empty pages, the binary one, the one too large */
    for (unsigned threads = 2; threads <= 4; threads += 2) {
        char *ids = NULL;
        build(src, threads, 8u << 20, &r, &ids, &st);
        expect_same("JSON Lines", &r1, ids1, &r, ids, threads);
        free(ids);
    }
    free(ids1);
    kz_buf_free(&in);
    kz_buf_free(&want);
}

static void warc_record(kz_buf *out, const char *uri, const char *html)
{
    char http[256], head[512];
    snprintf(http, sizeof http, "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %zu\r\n\r\n",
             strlen(html));
    snprintf(head, sizeof head,
             "WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: %s\r\nContent-Type: application/http; "
             "msgtype=response\r\nContent-Length: %zu\r\n\r\n",
             uri, strlen(http) + strlen(html));
    kz_buf_append(out, head, strlen(head));
    kz_buf_append(out, http, strlen(http));
    kz_buf_append(out, html, strlen(html));
    kz_buf_append(out, "\r\n\r\n", 4);
}

/* A WARC file, and a folder of .html and .txt files among them. */
static void test_warc_and_folder(void)
{
    char warc[4200], folder[4200];
    snprintf(warc, sizeof warc, "%s/src.warc", tmp);
    snprintf(folder, sizeof folder, "%s/src", tmp);
    mkdir(folder, 0755);
    kz_buf w = { 0 };
    for (size_t i = 0; i < PAGES; i++) {
        char uri[64], path[4300];
        snprintf(uri, sizeof uri, "https://example.com/%zu", i);
        char *html = page(i);
        warc_record(&w, uri, html);
        if (i % 5 == 2) {
            snprintf(path, sizeof path, "%s/%03zu.txt", folder, i);
            char text[200];
            snprintf(text, sizeof text, "Note %zu\n\nA text file about the council and the bridge.\n", i);
            kz_test_write_file(path, text, strlen(text));
        }
        snprintf(path, sizeof path, "%s/%03zu.html", folder, i);
        kz_test_write_file(path, html, strlen(html));
        free(html);
    }
    kz_test_write_file(warc, w.data, w.len);
    const char *sources[] = { warc, folder };
    for (size_t s = 0; s < 2; s++) {
        static report r1, r;
        char *ids1 = NULL;
        kz_build_stats st;
        build(sources[s], 1, 8u << 20, &r1, &ids1, &st);
        CHECK_INT(st.docs, PAGES - (PAGES / 17 + 1) + (s == 1 ? PAGES / 5 : 0));
        for (unsigned threads = 2; threads <= 4; threads += 2) {
            char *ids = NULL;
            build(sources[s], threads, 8u << 20, &r, &ids, &st);
            expect_same(s ? "a folder" : "WARC", &r1, ids1, &r, ids, threads);
            free(ids);
        }
        free(ids1);
    }
    kz_buf_free(&w);
}

/* A page whose parse needs more than a quarter of a fifth of the budget,
 * and less than the fifth, among three others: indexed with four threads
 * as with one. */
static void test_heavy_page(void)
{
    const uint64_t budget = 100u << 20, fifth = budget / 5;
    kz_buf html = { 0 };
    kz_buf_append(&html, "<html><body><p>Start of a page of many elements.</p>", 52);
    size_t elements = 0;
    kz_html_page pg = { 0 };
    kz_html_options quarter = { NULL, NULL, fifth / 4 }, whole = { NULL, NULL, fifth };
    /* Grown until a quarter's parse fails. */
    while (elements < 2000000) {
        for (int i = 0; i < 5000; i++)
            kz_buf_append(&html, "<b>x</b>", 8);
        elements += 5000;
        if (kz_html_extract(&pg, (const char *)html.data, html.len, &quarter) == KZ_ELIMIT)
            break;
    }
    CHECK_INT(kz_html_extract(&pg, (const char *)html.data, html.len, &quarter), KZ_ELIMIT);
    CHECK_OK(kz_html_extract(&pg, (const char *)html.data, html.len, &whole));
    kz_html_page_free(&pg);
    kz_buf_append(&html, "</body></html>", 14);
    /* Beside three light pages, so that four parses run at once. */
    char path[4200], light[4300];
    snprintf(path, sizeof path, "%s/heavy", tmp);
    mkdir(path, 0755);
    for (size_t i = 0; i < 3; i++) {
        char *p = page(i);
        snprintf(light, sizeof light, "%s/light-%zu.html", path, i);
        kz_test_write_file(light, p, strlen(p));
        free(p);
    }
    snprintf(light, sizeof light, "%s/many-elements.html", path);
    kz_test_write_file(light, html.data, html.len);
    for (unsigned threads = 1; threads <= 4; threads *= 4) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/ixh", tmp);
        kz_test_remove_tree(dir);
        kz_build_options o = KZ_BUILD_OPTIONS_INIT;
        o.threads = threads;
        o.memory_budget = budget;
        kz_builder *b = NULL;
        kz_build_stats st = { 0 };
        CHECK_OK(kz_builder_new(&b, dir, &o));
        if (!b)
            continue;
        CHECK_OK(kz_builder_add_source(b, path));
        CHECK_OK(kz_builder_commit(b, &st));
        kz_builder_free(b);
        CHECK_MSG(st.docs == 4, "%u threads: %llu documents of the four pages (%zu elements)", threads,
                  (unsigned long long)st.docs, elements);
        kz_test_remove_tree(dir);
    }
    kz_buf_free(&html);
}

/* A page as large as the queue (an eighth of the budget) between two
 * small ones: extracted alone from the reader's bytes, in its place. */
static void test_large_page(void)
{
    char folder[4200], path[4300];
    snprintf(folder, sizeof folder, "%s/large", tmp);
    mkdir(folder, 0755);
    kz_buf big = { 0 };
    /* One long paragraph: little markup, so that its parse fits in the
     * budget's fifth. */
    static const char *const head = "<html><body><article><h1>The long one</h1><p>",
                             *const para = "A long report on the budget, the bridge and the school, one sentence. ",
                             *const tail = "</p></article></body></html>";
    kz_buf_append(&big, head, strlen(head));
    while (big.len < (1u << 20) + 1000)
        kz_buf_append(&big, para, strlen(para));
    kz_buf_append(&big, tail, strlen(tail));
    snprintf(path, sizeof path, "%s/b.html", folder);
    kz_test_write_file(path, big.data, big.len);
    for (size_t i = 0; i < 2; i++) {
        char *p = page(i);
        snprintf(path, sizeof path, "%s/%c.html", folder, i ? 'c' : 'a');
        kz_test_write_file(path, p, strlen(p));
        free(p);
    }
    max_doc = 0; /* the default */
    for (unsigned threads = 1; threads <= 4; threads *= 4) {
        static report r;
        char *ids = NULL;
        kz_build_stats st;
        build(folder, threads, 8u << 20, &r, &ids, &st); /* the queue: 1 MB */
        CHECK_MSG(ids && strcmp(ids, "a.html\nb.html\nc.html\n") == 0, "%u threads: the ids are\n%s", threads,
                  ids ? ids : "");
        CHECK_MSG(r.n == 0, "%u threads: %zu problems, the first %s", threads, r.n, r.n ? r.lines[0] : "");
        free(ids);
    }
    max_doc = MAX_DOC;
    kz_buf_free(&big);
}

int main(void)
{
    tmp = kz_test_temp_dir();
    KZ_RUN(test_jsonl_mixed);
    KZ_RUN(test_warc_and_folder);
    KZ_RUN(test_heavy_page);
    KZ_RUN(test_large_page);
    kz_test_remove_tree(tmp);
    free(tmp);
    return kz_test_finish();
}
