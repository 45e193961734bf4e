/*
 * remote.c: `kzsearch --remote URL... QUERY`, the coordinator of a search
 * over indexes that `kzsearch serve` serves on other machines, as one
 * index of all their documents (README "Shards across machines"; the
 * machines' side is shard_api.c, the protocol FORMAT.md "Remote search").
 *
 *   1. GET  /api/shard/stats   of every machine; their sum is the global
 *                              statistics (kz_stats_merge, in URL order).
 *   2. POST /api/shard/search  with the sum: every machine's totals, facet
 *                              counts and best hits, scored as the whole
 *                              would score them; merged as kz_query_run
 *                              ranks (kz_ranked_cmp), near-duplicates
 *                              collapsed (kz_ranked_collapse), again with
 *                              more hits while the page is short.
 *   3. POST /api/shard/hits    to the machines that hold a shown hit: its
 *                              title, passages and explanation, written as
 *                              one index would write them.
 *
 * Docids are numbered machine after machine, as kz_index_open_many of the
 * same indexes in the same order numbers them, so that the output equals
 * that search's (but for took_ms and the "machines" it adds). A machine
 * that does not answer in time, or fails, leaves a partial result, said
 * in the text and in the JSON ("machines": asked, answered, partial).
 */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define REMOTE_ATTEMPTS 3 /* searches started again when an index changes under one */

typedef struct facet_acc_value {
    char *value;
    size_t len;
    uint64_t docs;
} facet_acc_value;

/* A hit of step 2, with where it comes from. */
typedef struct merged_hit {
    kz_ranked r;
    size_t machine;
    uint32_t local; /* its docid on its machine */
} merged_hit;

typedef struct machine {
    char *base;      /* the URL without a trailing '/' */
    int answered;    /* every step so far */
    char why[240];   /* when not: what went wrong */
    kz_stats *stats;
    char at[200];    /* the index the statistics came from (step 1): later steps name it */
    int changed;     /* a later step found another index there (HTTP 409) */
    int refused;     /* it answered a 4xx but 409: the request was at fault, not the machine */
    uint64_t docid_base;
    /* step 2 */
    uint64_t total, total_all_words;
    int mode_any, fell_back, and_first, unit_absent;
    char **notes;
    size_t n_notes;
    char *suggestion;
    facet_acc_value *facets[SEARCH_MAX_FACETS];
    size_t n_facets[SEARCH_MAX_FACETS];
    merged_hit *hits;
    size_t n_hits;
} machine;

static void machine_clear_step2(machine *m)
{
    for (size_t i = 0; i < m->n_notes; i++)
        free(m->notes[i]);
    free(m->notes);
    free(m->suggestion);
    for (size_t k = 0; k < SEARCH_MAX_FACETS; k++) {
        for (size_t i = 0; i < m->n_facets[k]; i++)
            free(m->facets[k][i].value);
        free(m->facets[k]);
        m->facets[k] = NULL;
        m->n_facets[k] = 0;
    }
    free(m->hits);
    m->notes = NULL;
    m->n_notes = 0;
    m->suggestion = NULL;
    m->hits = NULL;
    m->n_hits = 0;
}

static void machine_lost(machine *m, const char *fmt, const char *detail)
{
    m->answered = 0;
    snprintf(m->why, sizeof m->why, fmt, detail);
}

/* ------------------------------------------------------------ wire text */

static int hex_digit(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

/* The hex text [s, e) as bytes (malloc'd, NUL-terminated); "-" is empty. */
static char *unhex(const char *s, const char *e, size_t *len)
{
    size_t n = e - s == 1 && *s == '-' ? 0 : (size_t)(e - s);
    if (n % 2)
        return NULL;
    char *out = malloc(n / 2 + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (char)(hi << 4 | lo);
    }
    out[n / 2] = 0;
    *len = n / 2;
    return out;
}

/* A string of a JSON error reply ("message"), unescaped well enough to
 * show: \" \\ \n and \/; other escapes as written. */
static void json_field(const char *json, const char *key, char *out, size_t size)
{
    char pat[40];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    out[0] = 0;
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p)
        return;
    p += strlen(pat);
    size_t n = 0;
    for (; *p && *p != '"' && n + 1 < size; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            out[n++] = *p == 'n' ? ' ' : *p;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = 0;
}

/* ------------------------------------------------------------ requests */

typedef struct kz_buf_lite {
    char *s;
    size_t len, cap;
    int failed;
} kz_buf_lite;

static void lite_append(kz_buf_lite *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *g = realloc(b->s, cap);
        if (!g) {
            b->failed = 1;
            return;
        }
        b->s = g;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static int add_param(kz_buf_lite *q, const char *key, const char *value)
{
    char *e = http_escape(value);
    if (!e)
        return q->failed = 1;
    lite_append(q, q->len ? "&" : "", q->len ? 1 : 0);
    lite_append(q, key, strlen(key));
    lite_append(q, "=", 1);
    lite_append(q, e, strlen(e));
    free(e);
    return q->failed;
}

/* The query string of s's search, for every step. */
static char *search_params(const search_spec *s, const char *mode, const remote_output *out)
{
    kz_buf_lite q = { 0 };
    char num[32];
    add_param(&q, "q", s->query);
    if (s->since && *s->since)
        add_param(&q, "since", s->since);
    if (s->until && *s->until)
        add_param(&q, "until", s->until);
    add_param(&q, "date_field", s->date_field);
    if (s->strict)
        add_param(&q, "strict", "1");
    add_param(&q, "mode", mode ? mode : s->so.mode == KZ_MODE_ANY ? "any" : s->so.mode == KZ_MODE_ALL ? "all" : "auto");
    if (s->so.sort_field) {
        char sort[300];
        snprintf(sort, sizeof sort, "%s%s", s->so.sort_descending ? "-" : "+", s->so.sort_field);
        add_param(&q, "sort", sort);
    }
    for (size_t k = 0; k < s->n_facets; k++) {
        char name[300];
        add_param(&q, "facet", search_facet_name(s, k, name, sizeof name));
    }
    snprintf(num, sizeof num, "%zu", s->fragments);
    add_param(&q, "fragments", num);
    snprintf(num, sizeof num, "%zu", s->snippet_chars);
    add_param(&q, "chars", num);
    if (s->explain)
        add_param(&q, "explain", "1");
    if (out->color)
        add_param(&q, "color", "1");
    if (q.failed) {
        free(q.s);
        return NULL;
    }
    return q.s;
}

/* Runs one step on the machines that still answer (and, when only is not
 * NULL, those with only[i] set): base path?params extra &at=..., with body
 * (NULL: a GET) for all, or bodies[i] (NUL-terminated) for machine i when
 * bodies is not NULL. The replies are in calls[i]. */
static int run_step(machine *m, size_t n, const char *path, const char *params, const char *extra,
                    const char *body, size_t body_len, char *const *bodies, double timeout, http_call *calls,
                    const size_t *only)
{
    char **urls = calloc(n, sizeof *urls);
    if (!urls)
        return KZ_ENOMEM;
    int rc = KZ_OK;
    for (size_t i = 0; i < n; i++) {
        memset(&calls[i], 0, sizeof calls[i]);
        if (!m[i].answered || (only && !only[i]))
            continue;
        if (asprintf(&urls[i], "%s%s?%s%s%s%s", m[i].base, path, params, extra ? extra : "", m[i].at[0] ? "&at=" : "",
                     m[i].at) < 0) {
            urls[i] = NULL;
            rc = KZ_ENOMEM;
            break;
        }
        calls[i].url = urls[i];
        calls[i].body = bodies ? bodies[i] : body;
        calls[i].body_len = bodies ? strlen(bodies[i]) : body_len;
    }
    /* Only the calls with a URL run: pack them. */
    size_t live = 0;
    size_t *at = malloc((n ? n : 1) * sizeof *at);
    http_call *packed = malloc((n ? n : 1) * sizeof *packed);
    if (rc == KZ_OK && (!at || !packed))
        rc = KZ_ENOMEM;
    for (size_t i = 0; rc == KZ_OK && i < n; i++)
        if (calls[i].url) {
            at[live] = i;
            packed[live++] = calls[i];
        }
    if (rc == KZ_OK && http_run(packed, live, timeout) != 0)
        rc = KZ_EIO;
    for (size_t j = 0; rc == KZ_OK && j < live; j++)
        calls[at[j]] = packed[j];
    for (size_t i = 0; i < n; i++) {
        calls[i].url = NULL;
        free(urls[i]);
    }
    free(urls);
    free(at);
    free(packed);
    return rc;
}

/* The user's error a machine answered with (a query's syntax, a bad date):
 * every machine would say the same. 1 when it was one, in err. */
static int user_error(const http_call *c, remote_error *err)
{
    if (c->status != 400 || !c->reply)
        return 0;
    char kind[40];
    json_field(c->reply, "error", kind, sizeof kind);
    if (strcmp(kind, "syntax") != 0 && strcmp(kind, "bad_date") != 0)
        return 0;
    err->status = 400;
    snprintf(err->kind, sizeof err->kind, "%.23s", kind);
    json_field(c->reply, "message", err->message, sizeof err->message);
    const char *col = strstr(c->reply, "\"column\": ");
    err->column = col ? (uint32_t)strtoul(col + 10, NULL, 10) : 0;
    return 1;
}

/* A machine's failed call: lost, with why. */
static void call_failed(machine *m, const http_call *c)
{
    char message[200];
    m->changed |= c->status == 409;
    m->refused = c->status >= 400 && c->status < 500 && c->status != 409;
    if (c->status == 0) {
        machine_lost(m, "no answer: %s", c->error[0] ? c->error : "the deadline passed");
    } else {
        json_field(c->reply, "message", message, sizeof message);
        char status[200];
        snprintf(status, sizeof status, "HTTP %ld%s%.150s", c->status, message[0] ? ": " : "", message);
        machine_lost(m, "%s", status);
    }
}

/* ------------------------------------------------------------ step 2 */

static int cmp_facet_acc(const void *x, const void *y)
{
    const facet_acc_value *a = x, *b = y;
    if (a->docs != b->docs)
        return a->docs > b->docs ? -1 : 1;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->value, b->value, n);
    return c ? c : a->len < b->len ? -1 : a->len > b->len;
}

static int cmp_facet_by_value(const void *x, const void *y)
{
    const facet_acc_value *a = x, *b = y;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->value, b->value, n);
    return c ? c : a->len < b->len ? -1 : a->len > b->len;
}

/* Reads machine i's step 2 reply; 0, or -1 when malformed. */
static int read_search_reply(machine *m, size_t i, const char *reply, size_t len, size_t n_facets)
{
    machine_clear_step2(m);
    const char *p = reply, *end = reply + len;
    static const char magic[] = "kzsearch shard 2\n";
    if (len < sizeof magic - 1 || memcmp(p, magic, sizeof magic - 1) != 0)
        return -1;
    p += sizeof magic - 1;
    int ended = 0;
    while (p < end && !ended) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return -1;
        size_t n = (size_t)(nl - p);
        char line[512];
        const char *sp = memchr(p, ' ', n);
        size_t klen = sp ? (size_t)(sp - p) : n;
        const char *val = sp ? sp + 1 : nl;
        if (klen == 3 && memcmp(p, "end", 3) == 0) {
            ended = 1;
        } else if ((klen == 4 && memcmp(p, "note", 4) == 0) || (klen == 10 && memcmp(p, "suggestion", 10) == 0)) {
            size_t tl;
            char *t = unhex(val, nl, &tl);
            if (!t)
                return -1;
            if (klen == 10) {
                free(m->suggestion);
                m->suggestion = t;
            } else {
                char **g = realloc(m->notes, (m->n_notes + 1) * sizeof *g);
                if (!g) {
                    free(t);
                    return -1;
                }
                m->notes = g;
                m->notes[m->n_notes++] = t;
            }
        } else if (klen == 5 && memcmp(p, "facet", 5) == 0) {
            unsigned long long k, docs;
            int used = 0;
            if (n >= sizeof line)
                return -1;
            memcpy(line, p, n);
            line[n] = 0;
            if (sscanf(line, "facet %llu %llu %n", &k, &docs, &used) != 2 || k >= n_facets || !used)
                return -1;
            size_t vl;
            char *v = unhex(p + used, nl, &vl);
            if (!v)
                return -1;
            facet_acc_value *g = realloc(m->facets[k], (m->n_facets[k] + 1) * sizeof *g);
            if (!g) {
                free(v);
                return -1;
            }
            m->facets[k] = g;
            g[m->n_facets[k]++] = (facet_acc_value){ v, vl, docs };
        } else if (klen == 3 && memcmp(p, "hit", 3) == 0) {
            if (n >= sizeof line)
                return -1;
            memcpy(line, p, n);
            line[n] = 0;
            merged_hit h = { 0 };
            unsigned long long docid, key, fp;
            int all, used = 0;
            if (sscanf(line, "hit %la %llu %llx %d %llx%n", &h.r.score, &docid, &key, &all, &fp, &used) != 5 ||
                (size_t)used != n || docid > UINT32_MAX)
                return -1;
            h.local = (uint32_t)docid;
            h.machine = i;
            h.r.docid = m->docid_base + docid;
            h.r.sort_key = key;
            h.r.all_words = all != 0;
            h.r.fingerprint = fp;
            merged_hit *g = realloc(m->hits, (m->n_hits + 1) * sizeof *g);
            if (!g)
                return -1;
            m->hits = g;
            m->hits[m->n_hits++] = h;
        } else {
            unsigned long long v;
            if (n >= sizeof line)
                return -1;
            memcpy(line, p, n);
            line[n] = 0;
            char key[32];
            if (sscanf(line, "%31s %llu", key, &v) != 2) {
                if (sscanf(line, "mode %31s", key) == 1) {
                    m->mode_any = strcmp(key, "any") == 0;
                    p = nl + 1;
                    continue;
                }
                return -1;
            }
            if (strcmp(key, "total") == 0)
                m->total = v;
            else if (strcmp(key, "total_all_words") == 0)
                m->total_all_words = v;
            else if (strcmp(key, "fell_back") == 0)
                m->fell_back = v != 0;
            else if (strcmp(key, "and_first") == 0)
                m->and_first = v != 0;
            else if (strcmp(key, "unit_absent") == 0)
                m->unit_absent = v != 0;
            /* other keys: of a later version, skipped */
        }
        p = nl + 1;
    }
    return ended && p == end ? 0 : -1;
}

/* ------------------------------------------------------------ step 3 */

/* One block of a step 3 reply: [start, start + len) of the reply. */
typedef struct block {
    const char *start;
    size_t len;
} block;

static int read_blocks(const http_call *c, block *out, size_t n)
{
    static const char magic[] = "kzsearch shard 2\n";
    const char *p = c->reply, *end = c->reply + c->reply_len;
    if (!p || c->reply_len < sizeof magic - 1 || memcmp(p, magic, sizeof magic - 1) != 0)
        return -1;
    p += sizeof magic - 1;
    for (size_t i = 0; i < n; i++) {
        char *after;
        if (end - p < 3 || p[0] != 'b' || p[1] != ' ')
            return -1;
        unsigned long long len = strtoull(p + 2, &after, 10);
        if (after >= end || *after != '\n' || len > (unsigned long long)(end - after - 1))
            return -1;
        out[i].start = after + 1;
        out[i].len = (size_t)len;
        p = after + 1 + len;
        if (p >= end || *p != '\n')
            return -1;
        p++;
    }
    return end - p == 4 && memcmp(p, "end\n", 4) == 0 ? 0 : -1;
}

/* An item of step 3: a shown hit (kind 'h') or a near-duplicate under one. */
typedef struct page_item {
    char kind;
    size_t hit;       /* the merged hit */
    size_t rank;      /* kind 'h' */
    int all_words;
    block text;       /* its rendering, once read */
    int have;
} page_item;

/* ------------------------------------------------------------ the search */

typedef struct coordinator {
    const search_spec *s;
    const remote_output *out;
    machine *m;
    size_t n;
    http_call *calls;
    char *params;
    char *stats_text;
    size_t stats_len;
    double timeout;
    remote_error *err;
} coordinator;

/* Step 2 on every machine still answering (or those in only), with k hits
 * and mode (NULL: the search's). */
static int step2(coordinator *co, uint64_t k, const char *mode, const size_t *only)
{
    char *params = mode ? search_params(co->s, mode, co->out) : co->params;
    char extra[40];
    snprintf(extra, sizeof extra, "&k=%" PRIu64, k);
    int rc = params ? run_step(co->m, co->n, "/api/shard/search", params, extra, co->stats_text, co->stats_len, NULL,
                               co->timeout, co->calls, only)
                    : KZ_ENOMEM;
    if (mode)
        free(params);
    for (size_t i = 0; rc == KZ_OK && i < co->n; i++) {
        http_call *c = &co->calls[i];
        if (!co->m[i].answered || (only && !only[i]))
            continue;
        if (user_error(c, co->err)) {
            rc = KZ_ESYNTAX;
        } else if (c->status != 200) {
            call_failed(&co->m[i], c);
        } else if (read_search_reply(&co->m[i], i, c->reply, c->reply_len, co->s->n_facets)) {
            machine_lost(&co->m[i], "%s", "a malformed reply to the search");
        }
    }
    for (size_t i = 0; i < co->n; i++)
        http_call_free(&co->calls[i]);
    return rc;
}

static int cmp_merged(const void *x, const void *y, void *ctx)
{
    const merged_hit *a = x, *b = y;
    return kz_ranked_cmp(&a->r, &b->r, ctx);
}

/* ', "machines": {...}': asked, answered, partial, and why each lost one was. */
static char *machines_json(const machine *m, size_t n, size_t answered)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    fprintf(f, ", \"machines\": {\"asked\": %zu, \"answered\": %zu, \"partial\": %s, \"lost\": [", n, answered,
            answered < n ? "true" : "false");
    for (size_t i = 0, k = 0; i < n; i++) {
        if (m[i].answered)
            continue;
        fprintf(f, "%s{\"url\": ", k++ ? ", " : "");
        json_cstr(f, m[i].base);
        fprintf(f, ", \"why\": ");
        json_cstr(f, m[i].why);
        fputc('}', f);
    }
    fprintf(f, "]}");
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static void set_error(remote_error *err, unsigned status, const char *kind, const char *message)
{
    err->status = status;
    snprintf(err->kind, sizeof err->kind, "%.23s", kind);
    snprintf(err->message, sizeof err->message, "%s", message);
}

/* Whether a machine's index changed between the steps (HTTP 409). */
static int changed(const coordinator *co)
{
    for (size_t i = 0; i < co->n; i++)
        if (co->m[i].changed)
            return 1;
    return 0;
}

/* One attempt: KZ_ESTALE, with nothing written, when a machine's index
 * changed between its steps. */
static int remote_attempt(const search_spec *s, const char *const *urls, size_t n, const remote_output *out,
                          remote_error *err, uint64_t *total, double t0)
{
    coordinator co = { s, out, calloc(n, sizeof(machine)), n, calloc(n, sizeof(http_call)), NULL, NULL, 0,
                       s->so.timeout, err };
    FILE *f = out->out, *log = out->log;
    memset(err, 0, sizeof *err);
    *total = 0;
    kz_stats *sum = NULL;
    merged_hit *all = NULL;
    uint32_t *group = NULL;
    page_item *items = NULL;
    size_t n_items = 0, n_all = 0;
    search_summary sum_out;
    memset(&sum_out, 0, sizeof sum_out);
    int rc = KZ_OK;
    if (!co.m || !co.calls || !(co.params = search_params(s, NULL, out))) {
        rc = KZ_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(urls[i]);
        while (len && urls[i][len - 1] == '/')
            len--;
        if (!(co.m[i].base = strndup(urls[i], len))) {
            rc = KZ_ENOMEM;
            goto done;
        }
        co.m[i].answered = 1;
    }

    /* Step 1: the statistics, summed in the machines' order. */
    if ((rc = run_step(co.m, n, "/api/shard/stats", co.params, NULL, NULL, 0, NULL, co.timeout, co.calls, NULL)))
        goto done;
    if ((rc = kz_stats_new(&sum)))
        goto done;
    uint64_t base = 0;
    for (size_t i = 0; i < n; i++) {
        http_call *c = &co.calls[i];
        if (user_error(c, err)) {
            rc = KZ_ESYNTAX;
            goto done;
        }
        if (c->status != 200) {
            call_failed(&co.m[i], c);
            continue;
        }
        const char *stats_text = c->reply;
        if (c->reply_len > 23 && memcmp(c->reply, "kzsearch shard 2\nindex ", 23) == 0 &&
            (stats_text = memchr(c->reply + 23, '\n', c->reply_len - 23))) {
            size_t tl = (size_t)(stats_text - (c->reply + 23));
            snprintf(co.m[i].at, sizeof co.m[i].at, "%.*s", (int)KZ_CLI_MIN(tl, sizeof co.m[i].at - 1), c->reply + 23);
            stats_text++;
        } else {
            stats_text = NULL;
        }
        if (!stats_text || strspn(co.m[i].at, "0123456789-") != strlen(co.m[i].at) ||
            kz_stats_decode(&co.m[i].stats, stats_text, c->reply_len - (size_t)(stats_text - c->reply))) {
            machine_lost(&co.m[i], "a malformed reply to the statistics: %s", kz_last_error());
            continue;
        }
        if ((rc = kz_stats_merge(sum, co.m[i].stats))) {
            char message[300];
            snprintf(message, sizeof message, "%.120s: %.170s", co.m[i].base, kz_last_error());
            set_error(err, 400, "mismatch", message);
            goto done;
        }
        co.m[i].docid_base = base;
        base += kz_stats_docids(co.m[i].stats);
    }
    for (size_t i = 0; i < n; i++)
        http_call_free(&co.calls[i]);
    size_t answered = 0;
    for (size_t i = 0; i < n; i++)
        answered += co.m[i].answered;
    if (!answered)
        goto lost;
    if ((rc = kz_stats_encode(sum, &co.stats_text, &co.stats_len)))
        goto done;

    /* Step 2: every machine's best, ranked as one; more while collapsing
     * leaves the page short (kz_query_run). */
    int count_only = out->count_only || (s->so.flags & KZ_SEARCH_COUNT_ONLY);
    int collapse = !count_only && !(s->so.flags & KZ_SEARCH_NO_COLLAPSE);
    uint64_t want = count_only ? 0 : (uint64_t)s->so.offset + s->so.limit;
    uint64_t fetch = want, fill = want;
    unsigned round = 0;
    if (collapse)
        kz_collapse_round(&fetch, &fill, want, round);
    size_t n_leaders = 0, n_top = 0;
    for (;;) {
        if (fetch > REMOTE_MAX_K) {
            set_error(err, 400, "too_deep", "a remote search ranks at most 1,000,000 hits a machine: ask for fewer "
                                            "(--offset, --limit) or --no-collapse");
            rc = KZ_ELIMIT;
            goto done;
        }
        if ((rc = step2(&co, fetch, NULL, NULL)))
            goto done;
        /* AUTO reading AND then OR only when AND finds nothing (sorted, or
         * a juxtaposition under NOT): a machine without AND matches fell
         * back on its own; where another has some, the whole did not. */
        if (s->so.mode == KZ_MODE_AUTO) {
            size_t *only = calloc(n, sizeof *only);
            int some_all = 0, some_fell = 0;
            if (!only) {
                rc = KZ_ENOMEM;
                goto done;
            }
            for (size_t i = 0; i < n; i++) {
                if (!co.m[i].answered || co.m[i].and_first)
                    continue;
                some_all |= !co.m[i].fell_back && co.m[i].total_all_words > 0;
                some_fell |= only[i] = co.m[i].fell_back;
            }
            if (some_all && some_fell)
                rc = step2(&co, fetch, "all", only);
            free(only);
            if (rc)
                goto done;
        }
        free(all);
        n_all = 0;
        for (size_t i = 0; i < n; i++)
            n_all += co.m[i].answered ? co.m[i].n_hits : 0;
        if (!(all = malloc((n_all ? n_all : 1) * sizeof *all))) {
            rc = KZ_ENOMEM;
            goto done;
        }
        n_all = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; co.m[i].answered && j < co.m[i].n_hits; j++)
                all[n_all++] = co.m[i].hits[j];
        if (n_all)
            qsort_r(all, n_all, sizeof *all, cmp_merged, (void *)&s->so);
        n_top = KZ_CLI_MIN((size_t)fetch, n_all);
        if (!collapse)
            break;
        uint64_t matches = 0, total_all_words = 0;
        for (size_t i = 0; i < n; i++) {
            matches += co.m[i].answered ? co.m[i].total : 0;
            total_all_words += co.m[i].answered ? co.m[i].total_all_words : 0;
        }
        uint64_t window = kz_collapse_window(fetch, fill, matches, total_all_words);
        n_top = KZ_CLI_MIN(n_top, (size_t)window);
        kz_ranked *top = malloc((n_top ? n_top : 1) * sizeof *top);
        free(group);
        group = malloc((n_top ? n_top : 1) * sizeof *group);
        if (!top || !group) {
            free(top);
            rc = KZ_ENOMEM;
            goto done;
        }
        for (size_t i = 0; i < n_top; i++)
            top[i] = all[i].r;
        rc = kz_ranked_collapse(group, &n_leaders, top, n_top);
        free(top);
        if (rc)
            goto done;
        if (n_leaders < want && n_top == window && window < matches && fetch < UINT32_MAX) {
            kz_collapse_round(&fetch, &fill, want, ++round);
            continue;
        }
        break;
    }
    if (changed(&co)) {
        rc = KZ_ESTALE;
        goto done;
    }
    answered = 0;
    for (size_t i = 0; i < n; i++)
        answered += co.m[i].answered;
    if (!answered)
        goto lost;

    /* The summary, as one index's. */
    const machine *first = NULL;
    int unit_absent = 0;
    for (size_t i = 0; i < n; i++) {
        const machine *m = &co.m[i];
        if (!m->answered)
            continue;
        first = first ? first : m;
        sum_out.total += m->total;
        sum_out.total_all_words += m->total_all_words;
        unit_absent |= m->unit_absent;
    }
    /* The mode of the whole (run_ranked): AUTO ranking AND then OR is ANY
     * when some match lacks a word; AUTO falling back is ANY when no match
     * anywhere has every word, as every machine then says alike. */
    if (s->so.mode == KZ_MODE_ANY)
        sum_out.mode = KZ_MODE_ANY;
    else if (s->so.mode == KZ_MODE_ALL)
        sum_out.mode = KZ_MODE_ALL;
    else if (first->and_first)
        sum_out.mode = sum_out.total > sum_out.total_all_words ? KZ_MODE_ANY : KZ_MODE_ALL;
    else
        sum_out.mode = sum_out.total_all_words > 0 || !first->mode_any ? KZ_MODE_ALL : KZ_MODE_ANY;
    sum_out.fell_back = s->so.mode == KZ_MODE_AUTO && sum_out.mode == KZ_MODE_ANY && sum_out.total > 0 &&
                        sum_out.total_all_words == 0;
    sum_out.all_words_hits = sum_out.total_all_words;
    sum_out.notes = (const char **)first->notes;
    sum_out.n_notes = first->n_notes;
    if (*s->query && (sum_out.total == 0 || unit_absent))
        for (size_t i = 0; i < n && !sum_out.suggestion; i++)
            if (co.m[i].answered)
                sum_out.suggestion = co.m[i].suggestion;
    for (size_t k = 0; k < s->n_facets; k++) {
        size_t total_values = 0;
        for (size_t i = 0; i < n; i++)
            total_values += co.m[i].answered ? co.m[i].n_facets[k] : 0;
        facet_acc_value *v = malloc((total_values ? total_values : 1) * sizeof *v);
        if (!v) {
            rc = KZ_ENOMEM;
            goto done;
        }
        size_t nv = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; co.m[i].answered && j < co.m[i].n_facets[k]; j++)
                v[nv++] = co.m[i].facets[k][j];
        if (nv)
            qsort(v, nv, sizeof *v, cmp_facet_by_value);
        size_t w = 0;
        for (size_t j = 0; j < nv; j++) {
            if (w && v[w - 1].len == v[j].len && memcmp(v[w - 1].value, v[j].value, v[j].len) == 0)
                v[w - 1].docs += v[j].docs;
            else
                v[w++] = v[j];
        }
        if (w)
            qsort(v, w, sizeof *v, cmp_facet_acc);
        uint32_t limit = s->facets[k].limit ? s->facets[k].limit : 10;
        sum_out.n_values[k] = KZ_CLI_MIN((size_t)limit, w);
        /* Borrowed strings: the machines' (alive until done). */
        if (!(sum_out.values[k] = calloc(sum_out.n_values[k] ? sum_out.n_values[k] : 1, sizeof *sum_out.values[k]))) {
            free(v);
            rc = KZ_ENOMEM;
            goto done;
        }
        for (size_t j = 0; j < sum_out.n_values[k]; j++)
            sum_out.values[k][j] = (search_facet_value){ v[j].value, v[j].len, v[j].docs };
        free(v);
    }

    /* The page: leaders offset .. offset + limit - 1 with their groups
     * (search.c collapse_cut), or the ranks themselves. */
    if (!(items = malloc((n_top ? n_top : 1) * sizeof *items))) {
        rc = KZ_ENOMEM;
        goto done;
    }
    if (collapse) {
        size_t *slot = malloc((n_top ? n_top : 1) * sizeof *slot);
        size_t leaders = 0, kept = 0;
        uint64_t members_all_words = 0;
        if (!slot) {
            rc = KZ_ENOMEM;
            goto done;
        }
        for (size_t i = 0; i < n_top; i++) {
            if (group[i] == i) {
                slot[i] = leaders >= s->so.offset && leaders - s->so.offset < s->so.limit ? leaders - s->so.offset
                                                                                         : SIZE_MAX;
                leaders++;
                kept += slot[i] != SIZE_MAX;
            } else {
                slot[i] = slot[group[i]];
                sum_out.collapsed += slot[i] != SIZE_MAX;
                members_all_words += i < sum_out.total_all_words;
            }
        }
        sum_out.all_words_hits = sum_out.total_all_words - members_all_words;
        /* In page order: each kept leader, then its members in rank order. */
        for (size_t j = 0; j < kept; j++)
            for (size_t i = 0; i < n_top; i++)
                if (slot[i] == j) {
                    int lead = group[i] == i;
                    items[n_items++] = (page_item){ lead ? 'h' : 's', i, s->so.offset + j + 1, 0, { 0 }, 0 };
                }
        free(slot);
    } else {
        for (size_t i = s->so.offset; i < n_top; i++)
            items[n_items++] = (page_item){ 'h', i, i + 1, 0, { 0 }, 0 };
    }
    for (size_t i = 0; i < n_items; i++)
        items[i].all_words = items[i].kind == 'h' && items[i].rank <= sum_out.all_words_hits;

    /* Step 3: the shown hits, from their machines. */
    http_call *c3 = co.calls;
    size_t *wanted = calloc(n, sizeof *wanted);
    char **bodies = calloc(n, sizeof *bodies);
    if (!wanted || !bodies) {
        free(wanted);
        free(bodies);
        rc = KZ_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n_items; i++)
        wanted[all[items[i].hit].machine]++;
    for (size_t mi = 0; mi < n && rc == KZ_OK; mi++) {
        if (!wanted[mi])
            continue;
        kz_buf_lite b = { 0 };
        lite_append(&b, co.stats_text, co.stats_len);
        for (size_t i = 0; i < n_items; i++) {
            const merged_hit *h = &all[items[i].hit];
            if (h->machine != mi)
                continue;
            char line[160];
            if (items[i].kind == 'h')
                snprintf(line, sizeof line, "h %u %a %zu %d %" PRIu64 "\n", h->local, h->r.score, items[i].rank,
                         items[i].all_words, h->r.docid);
            else
                snprintf(line, sizeof line, "s %u %a %" PRIu64 "\n", h->local, h->r.score, h->r.docid);
            lite_append(&b, line, strlen(line));
        }
        if (b.failed)
            rc = KZ_ENOMEM;
        bodies[mi] = b.s;
    }
    if (rc == KZ_OK) {
        char extra[32];
        snprintf(extra, sizeof extra, "&format=%s", out->json ? "json" : out->ids_only ? "id" : "text");
        rc = run_step(co.m, n, "/api/shard/hits", co.params, extra, NULL, 0, bodies, co.timeout, c3, wanted);
    }
    for (size_t mi = 0; rc == KZ_OK && mi < n; mi++) {
        if (!wanted[mi] || !co.m[mi].answered)
            continue;
        block *blocks = malloc(wanted[mi] * sizeof *blocks);
        if (!blocks) {
            rc = KZ_ENOMEM;
            break;
        }
        if (user_error(&c3[mi], err)) {
            rc = KZ_ESYNTAX;
        } else if (c3[mi].status != 200) {
            call_failed(&co.m[mi], &c3[mi]);
        } else if (read_blocks(&c3[mi], blocks, wanted[mi])) {
            machine_lost(&co.m[mi], "%s", "a malformed reply to the hits");
        } else {
            for (size_t i = 0, b = 0; i < n_items; i++)
                if (all[items[i].hit].machine == mi) {
                    items[i].text = blocks[b++];
                    items[i].have = 1;
                }
        }
        free(blocks);
    }
    for (size_t mi = 0; mi < n; mi++)
        free(bodies[mi]);
    free(bodies);
    free(wanted);
    if (rc == KZ_OK && changed(&co))
        rc = KZ_ESTALE;
    if (rc)
        goto done;
    answered = 0;
    for (size_t i = 0; i < n; i++)
        answered += co.m[i].answered;
    sum_out.took_ms = (now_seconds() - t0) * 1000.0;

    /* Output, as one index's. */
    for (size_t i = 0; log && i < n; i++)
        if (!co.m[i].answered)
            fprintf(log, "kzsearch: %s: %s\n", co.m[i].base, co.m[i].why);
    if (log && answered < n)
        fprintf(log, "kzsearch: a partial result: %zu of %zu machines answered\n", answered, n);
    text_view v;
    text_view_init(&v, s, out->color);
    if (log && !out->json && (count_only || out->ids_only))
        for (size_t i = 0; i < sum_out.n_notes; i++)
            fprintf(log, "kzsearch: note: %s\n", sum_out.notes[i]);
    if (out->json) {
        search_json_head(f, s, &sum_out);
        size_t shown = 0;
        for (size_t i = 0; i < n_items; i++) {
            if (items[i].kind != 'h' || !items[i].have)
                continue;
            search_json_hit_separator(f, shown++);
            fwrite(items[i].text.start, 1, items[i].text.len, f);
            size_t members = 0;
            for (size_t j = i + 1; j < n_items && items[j].kind == 's'; j++) {
                if (!items[j].have)
                    continue;
                fputs(members++ ? ", " : ", \"similar\": [", f);
                fwrite(items[j].text.start, 1, items[j].text.len, f);
            }
            fputs(members ? "]}" : "}", f);
        }
        char *extra = machines_json(co.m, n, answered);
        search_json_tail(f, s, &sum_out, shown, extra ? extra : "");
        free(extra);
    } else if (count_only) {
        fprintf(f, "%" PRIu64 "\n", sum_out.total);
    } else if (out->ids_only) {
        for (size_t i = 0; i < n_items; i++)
            if (items[i].kind == 'h' && items[i].have) {
                fwrite(items[i].text.start, 1, items[i].text.len, f);
                fputc('\n', f);
            }
    } else {
        for (size_t i = 0; log && i < sum_out.n_notes; i++)
            fprintf(log, "kzsearch: note: %s\n", sum_out.notes[i]);
        search_text_head(f, s, &sum_out, &v, 0);
        if (answered < n)
            fprintf(f, "Partial: %zu of %zu machines answered; hits and totals are theirs only.\n", answered, n);
        for (size_t i = 0; i < n_items; i++) {
            if (items[i].kind != 'h' || !items[i].have)
                continue;
            search_text_separator(f, &sum_out, items[i].rank, &v);
            fwrite(items[i].text.start, 1, items[i].text.len, f);
            char labels[5][128];
            const char *shown[5];
            size_t members = 0;
            for (size_t j = i + 1; j < n_items && items[j].kind == 's'; j++) {
                if (!items[j].have)
                    continue;
                if (members < 5) {
                    snprintf(labels[members], sizeof labels[members], "%.*s", (int)KZ_CLI_MIN(items[j].text.len, 127),
                             items[j].text.start);
                    shown[members] = labels[members];
                }
                members++;
            }
            search_text_similar(f, members, shown);
        }
    }
    if (!out->json)
        search_text_facets(f, s, &sum_out, !count_only && !out->ids_only);
    *total = sum_out.total;
    goto done;
lost:
    for (size_t i = 0; log && i < n; i++)
        fprintf(log, "kzsearch: %s: %s\n", co.m[i].base, co.m[i].why);
    size_t refused = 0;
    for (size_t i = 0; i < n; i++)
        refused += co.m[i].refused;
    if (refused == n) {
        /* Every machine refused the request (a sort by a field none has
         * dates in, say): the user's error, as one index would answer it,
         * not an outage to try again. */
        char message[300];
        snprintf(message, sizeof message, "every machine refused the search: %.250s", co.m[0].why);
        set_error(err, 400, "bad_request", message);
        rc = KZ_EINVAL;
        goto done;
    }
    set_error(err, 503, "unavailable", "no machine answered");
    rc = KZ_EIO;
done:
    if (rc && rc != KZ_ESTALE && !err->status)
        set_error(err, rc == KZ_ENOMEM ? 500 : 502, "internal", *kz_last_error() ? kz_last_error() : kz_strerror(rc));
    for (size_t i = 0; i < n && co.m; i++) {
        machine_clear_step2(&co.m[i]);
        kz_stats_free(co.m[i].stats);
        free(co.m[i].base);
    }
    for (size_t i = 0; i < n && co.calls; i++)
        http_call_free(&co.calls[i]);
    for (size_t k = 0; k < SEARCH_MAX_FACETS; k++)
        free(sum_out.values[k]);
    free(co.m);
    free(co.calls);
    free(co.params);
    free(co.stats_text);
    kz_stats_free(sum);
    free(all);
    free(group);
    free(items);
    return rc;
}

int remote_search(const search_spec *s, const char *const *urls, size_t n, const remote_output *out,
                  remote_error *err, uint64_t *total)
{
    /* A machine that takes a new generation of its index between the
     * steps (kzsearch add on it) would answer the later ones from another
     * index than the statistics: it refuses, and the search starts again. */
    double t0 = now_seconds();
    for (int attempt = 0; attempt < REMOTE_ATTEMPTS; attempt++) {
        int rc = remote_attempt(s, urls, n, out, err, total, t0);
        if (rc != KZ_ESTALE)
            return rc;
    }
    set_error(err, 503, "changed", "the machines' indexes kept changing during the search: ask again");
    return KZ_ESTALE;
}
