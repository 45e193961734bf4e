/*
 * page_queue.c: web pages extracted on the build's threads, added in order.
 *
 * Extracting a page's article (html.c) costs far more than indexing the
 * text it gives: a reading thread that extracted each page itself kept a
 * build of WARC files at one thread's speed whatever --threads said. The
 * reading thread queues the pages instead, each a copy (its bytes, id,
 * title, fields, where); when the queue holds QUEUE_PAGES pages or an
 * eighth of the build's memory budget (at most QUEUE_MAX_BYTES) of
 * HTML, the build's threads extract them together, the reading thread
 * among them, and the reading thread then adds them to the build in the
 * queue's order, with their problems. The queue is cut at the same pages
 * whatever the threads, so the documents, their docids and the reports
 * are too. A source that adds a document of another kind flushes the
 * queue first (kz_page_queue_flush), so that the documents keep the
 * sources' order.
 *
 * Memory: the queued pages and their extractions, and the parses: each of
 * T parses at once may take a fifth of the budget over T (at least
 * PARSE_MIN_MEMORY), which a single parse had alone before; a page that
 * needs more is extracted again alone with the whole fifth, so that
 * whether a page fits does not depend on the threads either. A page as
 * large as the queue is not copied: it is extracted alone at once.
 */
#include "html.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_PAGES 256
#define QUEUE_MAX_BYTES (8u << 20)
#define PARSE_MIN_MEMORY (4u << 20) /* a parse's budget, whatever the build's */

typedef struct queued_page {
    char *data; /* NULL for a page over the document limit, reported when added */
    size_t len;
    int borrowed; /* data is the caller's (a page as large as the queue, extracted at once) */
    char *id, *title, *where, *charset, *url; /* NUL-terminated copies; title, charset, url may be NULL */
    size_t id_len, title_len;
    kz_meta *extra; /* n_extra fields first, then the fallback when there is one; one allocation */
    size_t n_extra;
    int has_fallback;
    kz_html_page result; /* the extraction: title, text, fields */
    int rc;              /* of kz_html_extract */
    char error[256];     /* its message */
} queued_page;

struct kz_page_queue {
    kz_builder *b;
    queued_page *pages;
    size_t n, cap;
    uint64_t bytes, max_bytes;
    unsigned threads;
    /* While extracting: the next page to take, and each parse's budget. */
    atomic_size_t next;
    uint64_t parse_memory;
};

static int oom(void) { return kz_error_set(KZ_ENOMEM, "out of memory"); }

static char *copy_text(const char *s, size_t len)
{
    char *c = malloc(len + 1);
    if (c) {
        memcpy(c, s, len);
        c[len] = 0;
    }
    return c;
}

/* The fields m[0..n) and fallback (NULL: none) in one allocation. */
static kz_meta *copy_fields(const kz_meta *m, size_t n, const kz_meta *fallback)
{
    size_t count = n + (fallback != NULL), bytes = count * sizeof(kz_meta);
    for (size_t i = 0; i < count; i++) {
        const kz_meta *f = i < n ? &m[i] : fallback;
        bytes += f->key_len + f->value_len + 2;
    }
    kz_meta *out = malloc(bytes ? bytes : 1);
    if (!out)
        return NULL;
    char *p = (char *)(out + count);
    for (size_t i = 0; i < count; i++) {
        const kz_meta *f = i < n ? &m[i] : fallback;
        out[i] = (kz_meta){ p, f->key_len, p + f->key_len + 1, f->value_len };
        memcpy(p, f->key, f->key_len);
        p[f->key_len] = 0;
        p += f->key_len + 1;
        memcpy(p, f->value, f->value_len);
        p[f->value_len] = 0;
        p += f->value_len + 1;
    }
    return out;
}

static void page_free(queued_page *p)
{
    if (!p->borrowed)
        free(p->data);
    free(p->id);
    free(p->title);
    free(p->where);
    free(p->charset);
    free(p->url);
    free(p->extra);
    kz_html_page_free(&p->result);
    memset(p, 0, sizeof *p);
}

int kz_page_queue_new(kz_page_queue **out, kz_builder *b)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return oom();
    (*out)->b = b;
    (*out)->threads = kz_builder_threads(b);
    (*out)->max_bytes = KZ_MIN((uint64_t)QUEUE_MAX_BYTES, kz_builder_memory_budget(b) / 8);
    return KZ_OK;
}

void kz_page_queue_free(kz_page_queue *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n; i++)
        page_free(&q->pages[i]);
    free(q->pages);
    free(q);
}

int kz_page_queue_add(kz_page_queue *q, const char *data, size_t len, const kz_html_options *opts, const char *id,
                      size_t id_len, const char *title, size_t title_len, const kz_meta *extra, size_t n_extra,
                      const kz_meta *fallback, const char *where)
{
    /* A page as large as the queue is extracted alone, after the pages
     * before it, from the caller's bytes: a copy would double a large
     * page's memory. */
    int too_large = (uint64_t)len > kz_builder_max_doc(q->b), alone = !too_large && (uint64_t)len >= q->max_bytes;
    int rc;
    if (alone && (rc = kz_page_queue_flush(q)))
        return rc;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        queued_page *p = realloc(q->pages, cap * sizeof *p);
        if (!p)
            return oom();
        q->pages = p;
        q->cap = cap;
    }
    queued_page *p = &q->pages[q->n];
    memset(p, 0, sizeof *p);
    p->len = len;
    p->id_len = id_len;
    p->title_len = title_len;
    p->n_extra = n_extra;
    p->has_fallback = fallback != NULL;
    p->borrowed = alone;
    if (alone)
        p->data = (char *)data;
    else if (!too_large && !(p->data = copy_text(data, len)))
        return oom();
    if (!(p->id = copy_text(id, id_len)) ||
        (title && !(p->title = copy_text(title, title_len))) || !(p->where = copy_text(where, strlen(where))) ||
        (opts && opts->http_charset && !(p->charset = copy_text(opts->http_charset, strlen(opts->http_charset)))) ||
        (opts && opts->url && !(p->url = copy_text(opts->url, strlen(opts->url)))) ||
        ((n_extra || fallback) && !(p->extra = copy_fields(extra, n_extra, fallback)))) {
        page_free(p);
        return oom();
    }
    q->n++;
    q->bytes += too_large ? 0 : len;
    if (q->n >= QUEUE_PAGES || q->bytes >= q->max_bytes)
        return kz_page_queue_flush(q);
    return KZ_OK;
}

/* Extracts p with a parse budget of memory into p->result, using page
 * (the thread's, for its scratch) on the way. */
static void extract(queued_page *p, kz_html_page *page, uint64_t memory)
{
    kz_html_options o = { p->charset, p->url, memory };
    p->rc = kz_html_extract(page, p->data, p->len, &o);
    if (p->rc != KZ_OK)
        snprintf(p->error, sizeof p->error, "%s", kz_last_error());
    else
        kz_html_page_move_result(&p->result, page);
}

/* A thread's share: pages taken one at a time, until none is left. */
static void *extract_some(void *arg)
{
    kz_page_queue *q = arg;
    kz_html_page page = { 0 };
    for (;;) {
        size_t i = atomic_fetch_add(&q->next, 1);
        if (i >= q->n)
            break;
        if (q->pages[i].data)
            extract(&q->pages[i], &page, q->parse_memory);
    }
    kz_html_page_free(&page);
    return NULL;
}

/* Adds the extracted page p as a document: its fields are p's extra, then
 * the page's own of other names, then the fallback when neither has a
 * field of its name; p's title, when not empty, replaces the page's. */
static int add_extracted(kz_builder *b, queued_page *p)
{
    const char *where = p->where;
    if (!p->data) {
        kz_builder_problem(b, KZ_PROBLEM_TOO_LARGE, where, "a page of %zu bytes, over the document limit of %llu: skipped",
                           p->len, (unsigned long long)kz_builder_max_doc(b));
        return KZ_OK;
    }
    if (p->rc == KZ_ESYNTAX) {
        kz_builder_problem(b, KZ_PROBLEM_BINARY, where, "%s: skipped", p->error);
        return KZ_OK;
    }
    if (p->rc == KZ_ELIMIT) {
        kz_builder_problem(b, KZ_PROBLEM_TOO_LARGE, where, "%s: skipped", p->error);
        return KZ_OK;
    }
    if (p->rc)
        return kz_error_set(p->rc, "%s: %s", where, p->error);
    const kz_html_page *pg = &p->result;
    if (pg->flags & KZ_HTML_UNKNOWN_CHARSET)
        kz_builder_problem(b, KZ_PROBLEM_INVALID_UTF8, where, "unknown charset \"%s\": read as UTF-8", pg->charset);
    else if (pg->flags & KZ_HTML_INVALID_BYTES)
        kz_builder_problem(b, KZ_PROBLEM_INVALID_UTF8, where, "bytes invalid in %s replaced by U+FFFD", pg->charset);
    if (pg->text.len == 0) {
        kz_builder_problem(b, KZ_PROBLEM_EMPTY, where, "a page with no text: skipped");
        return KZ_OK;
    }
    kz_jsonl_doc doc = { 0 };
    kz_html_page_doc(pg, &doc);
    doc.id = p->id;
    doc.id_len = p->id_len;
    if (p->title_len) {
        doc.title = p->title;
        doc.title_len = p->title_len;
    }
    const kz_meta *extra = p->extra, *fallback = p->has_fallback ? &p->extra[p->n_extra] : NULL;
    size_t n_extra = p->n_extra;
    kz_meta merged[64 + KZ_HTML_N_FIELDS + 1];
    if (n_extra || fallback) {
        size_t n = 0;
        for (size_t i = 0; i < n_extra && n < 64; i++)
            merged[n++] = extra[i];
        for (size_t f = 0; f < pg->n_meta; f++) {
            int have = 0;
            for (size_t i = 0; i < n_extra && !have; i++)
                have = extra[i].key_len == pg->meta[f].key_len &&
                       memcmp(extra[i].key, pg->meta[f].key, extra[i].key_len) == 0;
            if (!have)
                merged[n++] = pg->meta[f];
        }
        int have = 0;
        for (size_t i = 0; fallback && i < n && !have; i++)
            have = merged[i].key_len == fallback->key_len && memcmp(merged[i].key, fallback->key, fallback->key_len) == 0;
        if (fallback && !have)
            merged[n++] = *fallback;
        if (n_extra > 64) { /* a record of many fields: its own, unmerged */
            doc.meta = extra;
            doc.n_meta = n_extra;
        } else {
            doc.meta = merged;
            doc.n_meta = n;
        }
    }
    return kz_builder_add(b, &doc, where);
}

int kz_page_queue_flush(kz_page_queue *q)
{
    if (q->n == 0)
        return KZ_OK;
    uint64_t whole = KZ_MAX(kz_builder_memory_budget(q->b) / 5, (uint64_t)PARSE_MIN_MEMORY);
    unsigned threads = (unsigned)KZ_MIN((size_t)KZ_MAX(q->threads, 1u), q->n);
    q->parse_memory = KZ_MAX(whole / threads, (uint64_t)PARSE_MIN_MEMORY);
    atomic_store(&q->next, 0);
    /* The reading thread takes its share too; a thread that cannot be
     * started leaves its share to the others. */
    pthread_t helper[64];
    unsigned started = 0;
    while (started + 1 < threads && started < 64 && pthread_create(&helper[started], NULL, extract_some, q) == 0)
        started++;
    extract_some(q);
    for (unsigned i = 0; i < started; i++)
        pthread_join(helper[i], NULL);
    int rc = KZ_OK;
    kz_html_page alone = { 0 };
    for (size_t i = 0; i < q->n; i++) {
        queued_page *p = &q->pages[i];
        if (rc == KZ_OK && p->data && p->rc == KZ_ELIMIT && q->parse_memory < whole)
            extract(p, &alone, whole);
        if (rc == KZ_OK)
            rc = add_extracted(q->b, p);
        page_free(p);
    }
    kz_html_page_free(&alone);
    q->n = 0;
    q->bytes = 0;
    return rc;
}
