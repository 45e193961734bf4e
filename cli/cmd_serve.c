/*
 * cmd_serve.c: kzsearch serve: the JSON API and the search page over HTTP,
 * through libmicrohttpd (its parser, its thread pool, its limits).
 *
 *   GET /api/search?q=&n=&offset=&sort=&since=&until=&facet=&strict=&mode=
 *                      the document of `kzsearch --json` (search_json.c)
 *   GET /api/doc/ID?q= a document's stored text and fields, q's matches
 *   GET /api/stats     the document of `kzsearch stats --json`
 *   GET /healthz       {"status": "ok", ...}
 *   GET /, /app.js, /app.css   the search page (web/, built in)
 *   GET /api/shard/stats, POST /api/shard/search, /api/shard/hits
 *                      this machine's side of a remote search (shard_api.c)
 *
 * Read-only: nothing from a request reaches the filesystem; a document is
 * found by its id in the index. Errors are JSON, {"error": KIND,
 * "message": ..., "status": N}: 400 bad parameters or query syntax (with
 * "column"), 404, 405 a method other than GET or HEAD (or POST to
 * /api/shard/), 413 a query or a request body too long, 503 past the time
 * limit.
 */
#include "cli.h"
#include "mhd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_QUERY_BYTES 4096     /* q, since, until: 413 past it */
#define MAX_PARAMS 64            /* parameters of one request */
#define MAX_PARAM_BYTES 8192     /* any other parameter's value */
#define MAX_HITS 100             /* n */
#define MAX_DEPTH 10000          /* offset + n */
#define DOC_TEXT_MAX (4u << 20)  /* bytes of a document's text in /api/doc */
#define REQUEST_MEMORY (64 << 10) /* a request's line and headers, per connection */
#define SERVE_TIMEOUT 5.0        /* seconds a search may run by default */
#define LIVE_INTERVAL 0.0        /* seconds between looks for a new generation */
#define SHARD_BODY_MAX (64u << 20) /* bytes of a POST to /api/shard/: global statistics and hits */

typedef serve_server server; /* cli.h */

/* ---------------------------------------------------------------- replies */

/* Sends body (len bytes; owned: freed by libmicrohttpd when must_free). */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, char *body, size_t len,
                             int must_free, int is_page)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        if (must_free)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    if (is_page) {
        /* No inline script, nothing from elsewhere: a document's text can
         * never run, even if escaping failed. */
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                                "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    } else {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    }
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* An error as JSON: {"error": kind, "message": ..., "status": N}, with the
 * column of a syntax error when column > 0. */
static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *kind, const char *message,
                                   uint32_t column)
{
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    if (!f)
        return MHD_NO;
    fprintf(f, "{\"error\": ");
    json_cstr(f, kind);
    fprintf(f, ", \"message\": ");
    json_cstr(f, message);
    if (column)
        fprintf(f, ", \"column\": %u", column);
    fprintf(f, ", \"status\": %u}\n", status);
    if (fclose(f) != 0) {
        free(body);
        return MHD_NO;
    }
    return reply(c, status, "application/json; charset=utf-8", body, len, 1, 0);
}

/* The reply for the library's error rc (not a syntax error). */
static enum MHD_Result reply_kz_error(struct MHD_Connection *c, int rc)
{
    const char *msg = *kz_last_error() ? kz_last_error() : kz_strerror(rc);
    switch (rc) {
    case KZ_ETIMEOUT: return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "timeout", msg, 0);
    case KZ_ENOTFOUND: return reply_error(c, MHD_HTTP_NOT_FOUND, "not_found", msg, 0);
    case KZ_EINVAL:
    case KZ_ESYNTAX:
    case KZ_ELIMIT: return reply_error(c, MHD_HTTP_BAD_REQUEST, "bad_request", msg, 0);
    default: return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", msg, 0);
    }
}

/* A finished memstream as a JSON reply, or a 500 if writing it failed. */
static enum MHD_Result reply_json_stream(struct MHD_Connection *c, FILE *f, char **body, size_t *len, int rc)
{
    if (fclose(f) != 0 && rc == KZ_OK)
        rc = KZ_ENOMEM;
    /* *body and *len are set by fclose (open_memstream). */
    if (rc) {
        free(*body);
        return reply_kz_error(c, rc);
    }
    return reply(c, MHD_HTTP_OK, "application/json; charset=utf-8", *body, *len, 1, 0);
}

/* ---------------------------------------------------------------- parameters */

/* A request's query-string parameters, checked. */
typedef struct params {
    const char *q, *n, *offset, *sort, *since, *until, *strict, *mode, *date_field, *id, *collapse, *fragments;
    const char *explain, *chars, *k, *format, *color, *at; /* explain and chars also for search; the rest /api/shard/ */
    const char *facets[SEARCH_MAX_FACETS];
    size_t n_facets, count;
    unsigned status;  /* != 0: what is wrong, in error */
    char error[200];
} params;

static void params_fail(params *p, unsigned status, const char *fmt, const char *key)
{
    if (p->status)
        return;
    p->status = status;
    /* The key is the client's: cut it and keep it printable. */
    char k[40];
    size_t i = 0;
    for (; key[i] && i < sizeof k - 1; i++)
        k[i] = key[i] >= 0x20 && key[i] < 0x7f ? key[i] : '?';
    k[i] = 0;
    snprintf(p->error, sizeof p->error, fmt, k);
}

static enum MHD_Result on_param(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                const char *value, size_t value_size)
{
    params *p = cls;
    (void)kind;
    if (++p->count > MAX_PARAMS) {
        params_fail(p, MHD_HTTP_BAD_REQUEST, "too many parameters (at most 64)%s", "");
        return MHD_NO;
    }
    if (!value)
        value = "";
    if (strlen(key) != key_size || strlen(value) != value_size) {
        params_fail(p, MHD_HTTP_BAD_REQUEST, "parameter '%s' holds a NUL byte", key);
        return MHD_NO;
    }
    static const struct {
        const char *name;
        size_t offset;
    } known[] = {
        { "q", offsetof(params, q) },         { "n", offsetof(params, n) },
        { "offset", offsetof(params, offset) }, { "sort", offsetof(params, sort) },
        { "since", offsetof(params, since) }, { "until", offsetof(params, until) },
        { "strict", offsetof(params, strict) }, { "mode", offsetof(params, mode) },
        { "date_field", offsetof(params, date_field) }, { "collapse", offsetof(params, collapse) },
        { "fragments", offsetof(params, fragments) }, { "explain", offsetof(params, explain) },
        { "chars", offsetof(params, chars) },  { "k", offsetof(params, k) },
        { "format", offsetof(params, format) }, { "color", offsetof(params, color) },
        { "at", offsetof(params, at) },
    };
    int is_query = strcmp(key, "q") == 0 || strcmp(key, "since") == 0 || strcmp(key, "until") == 0;
    if (value_size > (is_query ? MAX_QUERY_BYTES : MAX_PARAM_BYTES)) {
        params_fail(p, MHD_HTTP_CONTENT_TOO_LARGE, is_query ? "'%s' is too long (at most 4096 bytes)"
                                                             : "'%s' is too long (at most 8192 bytes)", key);
        return MHD_NO;
    }
    if (strcmp(key, "facet") == 0) {
        if (p->n_facets == SEARCH_MAX_FACETS) {
            params_fail(p, MHD_HTTP_BAD_REQUEST, "too many facets (at most 16)%s", "");
            return MHD_NO;
        }
        p->facets[p->n_facets++] = value;
        return MHD_YES;
    }
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(key, known[i].name) != 0)
            continue;
        const char **slot = (const char **)((char *)p + known[i].offset);
        if (*slot) {
            params_fail(p, MHD_HTTP_BAD_REQUEST, "parameter '%s' given twice", key);
            return MHD_NO;
        }
        *slot = value;
        return MHD_YES;
    }
    params_fail(p, MHD_HTTP_BAD_REQUEST,
                "unknown parameter '%s' (q, n, offset, sort, since, until, facet, strict, mode, date_field, "
                "collapse, fragments, explain, chars)", key);
    return MHD_NO;
}

/* The parameters of /api/shard/ alone are unknown to the others. */
static void refuse_shard_params(params *p)
{
    const char *name = p->k ? "k" : p->format ? "format" : p->color ? "color" : p->at ? "at" : NULL;
    if (name)
        params_fail(p, MHD_HTTP_BAD_REQUEST,
                    "unknown parameter '%s' (q, n, offset, sort, since, until, facet, strict, mode, date_field, "
                    "collapse, fragments, explain, chars)", name);
}

/* An integer parameter in [lo, hi], or def when absent. */
static long int_param(params *p, const char *name, const char *value, long def, long lo, long hi)
{
    if (!value || !*value)
        return def;
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (*end || errno || v < lo || v > hi) {
        char msg[120];
        snprintf(msg, sizeof msg, "'%%s' must be an integer from %ld to %ld", lo, hi);
        params_fail(p, MHD_HTTP_BAD_REQUEST, msg, name);
        return def;
    }
    return v;
}

/* ---------------------------------------------------------------- endpoints */

/* The search spec of p's parameters; p->status set if one is wrong. */
static void spec_from_params(search_spec *sp, params *p, const server *srv)
{
    search_spec_init(sp);
    sp->so.timeout = srv->timeout;
    sp->so.max_work = srv->max_work;
    sp->query = p->q ? p->q : "";
    sp->since = p->since;
    sp->until = p->until;
    if (p->date_field && *p->date_field)
        sp->date_field = p->date_field;
    sp->strict = p->strict && (strcmp(p->strict, "1") == 0 || strcmp(p->strict, "true") == 0);
    long n = int_param(p, "n", p->n, 10, 0, MAX_HITS);
    long offset = int_param(p, "offset", p->offset, 0, 0, MAX_DEPTH);
    if (!p->status && n + offset > MAX_DEPTH)
        params_fail(p, MHD_HTTP_BAD_REQUEST, "offset + n must be at most 10000%s", "");
    sp->so.limit = (uint32_t)n;
    sp->so.offset = (uint32_t)offset;
    if (n == 0) {
        sp->so.flags |= KZ_SEARCH_COUNT_ONLY;
        sp->so.limit = 0;
    }
    if (p->mode && *p->mode) {
        if (strcmp(p->mode, "any") == 0)
            sp->so.mode = KZ_MODE_ANY;
        else if (strcmp(p->mode, "all") == 0)
            sp->so.mode = KZ_MODE_ALL;
        else if (strcmp(p->mode, "auto") != 0)
            params_fail(p, MHD_HTTP_BAD_REQUEST, "'mode' must be auto, all or any%s", "");
    }
    if (p->collapse && (strcmp(p->collapse, "0") == 0 || strcmp(p->collapse, "false") == 0))
        sp->so.flags |= KZ_SEARCH_NO_COLLAPSE;
    /* Passages a hit (0: none, and the stored text is not read). */
    sp->fragments = (size_t)int_param(p, "fragments", p->fragments, (long)sp->fragments, 0, 16);
    sp->snippet_chars = (size_t)int_param(p, "chars", p->chars, (long)sp->snippet_chars, 20, 100000);
    sp->explain = p->explain && (strcmp(p->explain, "1") == 0 || strcmp(p->explain, "true") == 0);
    const char *bad;
    if (p->sort && *p->sort && (bad = search_sort_set(sp, p->sort)))
        params_fail(p, MHD_HTTP_BAD_REQUEST, "%s", bad);
    for (size_t i = 0; i < p->n_facets; i++)
        if ((bad = search_facet_add(sp, p->facets[i])))
            params_fail(p, MHD_HTTP_BAD_REQUEST, "%s", bad);
}

/* The reply for a search that failed with rc. */
static enum MHD_Result reply_search_error(struct MHD_Connection *c, const search_spec *sp, const search_result *res,
                                          int rc)
{
    char msg[400];
    if (rc != KZ_ESYNTAX)
        return reply_kz_error(c, rc);
    switch (res->error) {
    case SEARCH_BAD_QUERY:
        snprintf(msg, sizeof msg, "query syntax error at column %u: %s", res->err.column, res->err.message);
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "syntax", msg, res->err.column);
    case SEARCH_BAD_DATES:
        snprintf(msg, sizeof msg, "bad since or until: %s", res->err.message);
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "bad_date", msg, 0);
    case SEARCH_NO_DATE_FIELD:
        snprintf(msg, sizeof msg, "since and until need a field '%.100s' of dates (date_field=NAME)", sp->date_field);
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "bad_date", msg, 0);
    default: return reply_kz_error(c, rc);
    }
}

/* The search of a request's parameters (malloc'd), or NULL once *ret
 * replied what is wrong with them. */
static search_spec *search_request(struct MHD_Connection *c, server *srv, params *p, enum MHD_Result *ret)
{
    search_spec *sp = malloc(sizeof *sp);
    if (!sp) {
        *ret = reply_kz_error(c, KZ_ENOMEM);
        return NULL;
    }
    spec_from_params(sp, p, srv);
    if (!p->status && !*sp->query && !(sp->since && *sp->since) && !(sp->until && *sp->until))
        params_fail(p, MHD_HTTP_BAD_REQUEST, "a search needs 'q' (or 'since' or 'until')%s", "");
    if (p->status) {
        *ret = reply_error(c, p->status, p->status == MHD_HTTP_BAD_REQUEST ? "bad_request" : "too_large", p->error, 0);
        free(sp);
        return NULL;
    }
    return sp;
}

static enum MHD_Result api_search(struct MHD_Connection *c, server *srv, params *p)
{
    enum MHD_Result ret;
    search_spec *sp = search_request(c, srv, p, &ret);
    if (!sp)
        return ret;
    sp->started = now_seconds();
    served_index *s = live_index_take(srv->li);
    kz_index *ix = served_index_get(s);
    search_result res;
    int rc = search_run(&res, ix, sp);
    if (rc) {
        ret = reply_search_error(c, sp, &res, rc);
    } else {
        char *body = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&body, &len);
        if (!f) {
            ret = reply_kz_error(c, KZ_ENOMEM);
        } else {
            rc = search_json_write(f, ix, sp, &res);
            ret = reply_json_stream(c, f, &body, &len, rc);
        }
    }
    search_result_free(&res);
    live_index_give(srv->li, s);
    free(sp);
    return ret;
}

static void json_spans(FILE *f, const kz_span *spans, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s[%zu, %zu]", i ? ", " : "", spans[i].start, spans[i].end);
    fputc(']', f);
}

/* /api/doc/ID: the stored document, and q's matches in its title and
 * text (byte offsets) when q is given. */
static enum MHD_Result api_doc(struct MHD_Connection *c, server *srv, params *p, const char *id)
{
    search_spec *sp = malloc(sizeof *sp);
    if (!sp)
        return reply_kz_error(c, KZ_ENOMEM);
    spec_from_params(sp, p, srv);
    sp->so.flags |= KZ_SEARCH_COUNT_ONLY; /* the units to highlight, no ranking */
    sp->so.limit = 0;
    sp->n_facets = 0;
    enum MHD_Result ret;
    if (p->status) {
        ret = reply_error(c, p->status, p->status == MHD_HTTP_BAD_REQUEST ? "bad_request" : "too_large", p->error, 0);
        free(sp);
        return ret;
    }
    served_index *s = live_index_take(srv->li);
    kz_index *ix = served_index_get(s);
    search_result res = { 0 };
    kz_doc_field meta[HIT_VIEW_MAX_META];
    kz_doc d;
    kz_span *tmarks = NULL, *marks = NULL;
    size_t n_tmarks = 0, n_marks = 0, len = 0;
    char *text = NULL, *body = NULL;
    size_t body_len = 0;
    uint32_t docid;
    FILE *f = NULL;
    int rc = kz_index_find(ix, &docid, id, strlen(id));
    if (rc == KZ_ENOTFOUND) {
        char msg[300];
        snprintf(msg, sizeof msg, "no document with id '%.200s'", id);
        ret = reply_error(c, MHD_HTTP_NOT_FOUND, "not_found", msg, 0);
        goto done;
    }
    if (rc == KZ_OK)
        rc = kz_index_doc(ix, &d, docid, meta, HIT_VIEW_MAX_META);
    if (rc == KZ_OK)
        rc = kz_index_doc_text_prefix(ix, &text, &len, docid, DOC_TEXT_MAX);
    if (rc == KZ_OK && *sp->query) {
        rc = search_run(&res, ix, sp);
        if (rc) {
            ret = reply_search_error(c, sp, &res, rc);
            goto done;
        }
        rc = kz_highlight_doc(&tmarks, &n_tmarks, ix, res.r, docid, 1, d.title, d.title_len);
        if (rc == KZ_OK)
            rc = kz_highlight_doc(&marks, &n_marks, ix, res.r, docid, 0, text, len);
    }
    if (rc) {
        ret = reply_kz_error(c, rc);
        goto done;
    }
    if (!(f = open_memstream(&body, &body_len))) {
        ret = reply_kz_error(c, KZ_ENOMEM);
        goto done;
    }
    fprintf(f, "{\"id\": ");
    json_string(f, d.id, d.id_len);
    fprintf(f, ", \"docid\": %u, \"title\": ", docid);
    json_string(f, d.title, d.title_len);
    fprintf(f, ", \"metadata\": ");
    json_metadata(f, meta, KZ_CLI_MIN(d.n_meta, HIT_VIEW_MAX_META));
    fprintf(f, ", \"query\": ");
    json_cstr(f, sp->query);
    fprintf(f, ", \"notes\": [");
    for (size_t i = 0; res.q && i < kz_query_note_count(res.q); i++) {
        fprintf(f, "%s", i ? ", " : "");
        json_cstr(f, kz_query_note(res.q, i));
    }
    fprintf(f, "], \"title_highlights\": ");
    json_spans(f, tmarks, n_tmarks);
    fprintf(f, ", \"text_bytes\": %" PRIu64 ", \"truncated\": %s, \"text\": ", d.text_bytes,
            len < d.text_bytes ? "true" : "false");
    json_string(f, text, len);
    fprintf(f, ", \"highlights\": ");
    json_spans(f, marks, n_marks);
    fprintf(f, "}\n");
    ret = reply_json_stream(c, f, &body, &body_len, KZ_OK);
done:
    free(tmarks);
    free(marks);
    free(text);
    search_result_free(&res);
    live_index_give(srv->li, s);
    free(sp);
    return ret;
}

static enum MHD_Result api_stats(struct MHD_Connection *c, server *srv)
{
    served_index *s = live_index_take(srv->li);
    char *body = NULL;
    size_t len = 0;
    enum MHD_Result ret;
    FILE *f = open_memstream(&body, &len);
    if (!f) {
        ret = reply_kz_error(c, KZ_ENOMEM);
    } else {
        stats_json_write(f, served_index_get(s), srv->dir);
        ret = reply_json_stream(c, f, &body, &len, KZ_OK);
    }
    live_index_give(srv->li, s);
    return ret;
}

static enum MHD_Result healthz(struct MHD_Connection *c, server *srv)
{
    served_index *s = live_index_take(srv->li);
    kz_index_info info;
    kz_index_get_info(served_index_get(s), &info);
    live_index_give(srv->li, s);
    char *body = NULL;
    int n = asprintf(&body,
                     "{\"status\": \"ok\", \"documents\": %" PRIu64 ", \"generation\": %" PRIu64
                     ", \"reloads\": %" PRIu64 ", \"requests\": %" PRIu64 "}\n",
                     info.docs, info.generation, live_index_reloads(srv->li), (uint64_t)atomic_load(&srv->requests));
    if (n < 0)
        return reply_kz_error(c, KZ_ENOMEM);
    return reply(c, MHD_HTTP_OK, "application/json; charset=utf-8", body, (size_t)n, 1, 0);
}

/* /api/shard/WHAT: a step of a remote search (shard_api.c), its reply
 * text. */
static enum MHD_Result api_shard(struct MHD_Connection *c, server *srv, params *p, const char *what, const char *body,
                                 size_t body_len)
{
    search_spec *sp = malloc(sizeof *sp);
    if (!sp)
        return reply_kz_error(c, KZ_ENOMEM);
    spec_from_params(sp, p, srv);
    shard_request req = { what, p->at, 0, "json", 0, body, body_len };
    /* k: the coordinator asks for as many hits as a search may show, and
     * more to collapse near-duplicates. */
    req.k = (uint32_t)int_param(p, "k", p->k, 10, 0, REMOTE_MAX_K);
    if (p->format && strcmp(p->format, "json") && strcmp(p->format, "text") && strcmp(p->format, "id"))
        params_fail(p, MHD_HTTP_BAD_REQUEST, "'format' must be json, text or id%s", "");
    else if (p->format)
        req.format = p->format;
    req.color = p->color && strcmp(p->color, "1") == 0;
    enum MHD_Result ret;
    if (p->status) {
        ret = reply_error(c, p->status, p->status == MHD_HTTP_BAD_REQUEST ? "bad_request" : "too_large", p->error, 0);
        free(sp);
        return ret;
    }
    /* The statistics step may take a new generation; the later steps read
     * the one in place, and refuse it if it is not the first step's. */
    served_index *s = strcmp(what, "stats") == 0 ? live_index_take(srv->li) : live_index_current(srv->li);
    search_result res;
    char *out = NULL;
    size_t len = 0;
    int rc = shard_api(&out, &len, &res, served_index_get(s), sp, &req);
    if (rc == KZ_ESYNTAX && res.error != SEARCH_NO_ERROR)
        ret = reply_search_error(c, sp, &res, rc);
    else if (rc == KZ_ESTALE)
        ret = reply_error(c, MHD_HTTP_CONFLICT, "changed", shard_error(), 0);
    else if (rc)
        ret = reply_error(c, rc == KZ_ETIMEOUT ? MHD_HTTP_SERVICE_UNAVAILABLE : rc == KZ_ENOMEM ? 500 : 400,
                          rc == KZ_ETIMEOUT ? "timeout" : "bad_request", shard_error(), 0);
    else
        ret = reply(c, MHD_HTTP_OK, "text/plain; charset=utf-8", out, len, 1, 0);
    search_result_free(&res);
    live_index_give(srv->li, s);
    free(sp);
    return ret;
}

/* /api/search of a coordinator (--remote): the machines' indexes as one
 * (remote.c), the same document as one index's with "machines" added. */
static enum MHD_Result api_remote_search(struct MHD_Connection *c, server *srv, params *p)
{
    enum MHD_Result ret;
    search_spec *sp = search_request(c, srv, p, &ret);
    if (!sp)
        return ret;
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    if (!f) {
        free(sp);
        return reply_kz_error(c, KZ_ENOMEM);
    }
    remote_output out = { 1, (sp->so.flags & KZ_SEARCH_COUNT_ONLY) != 0, 0, 0, f, NULL };
    remote_error err;
    uint64_t total;
    int rc = remote_search(sp, srv->remotes, srv->n_remotes, &out, &err, &total);
    if (fclose(f) != 0 && rc == KZ_OK) {
        rc = KZ_ENOMEM;
        snprintf(err.message, sizeof err.message, "out of memory");
        err.status = 500;
        snprintf(err.kind, sizeof err.kind, "internal");
    }
    if (rc) {
        free(body);
        ret = reply_error(c, err.status, err.kind, err.message, err.column);
    } else {
        ret = reply(c, MHD_HTTP_OK, "application/json; charset=utf-8", body, len, 1, 0);
    }
    free(sp);
    return ret;
}

/* /api/doc/ID of a coordinator: the first machine's that has it. */
static enum MHD_Result api_remote_doc(struct MHD_Connection *c, server *srv, const char *url)
{
    const char *query = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q");
    char *id = http_escape(url + 9), *q = http_escape(query ? query : "");
    http_call calls[REMOTE_MAX];
    char *urls[REMOTE_MAX] = { 0 };
    enum MHD_Result ret;
    int ok = id && q;
    memset(calls, 0, sizeof calls);
    for (size_t i = 0; ok && i < srv->n_remotes; i++) {
        ok = asprintf(&urls[i], "%s/api/doc/%s?q=%s", srv->remotes[i], id, q) >= 0;
        calls[i].url = ok ? urls[i] : NULL;
    }
    if (!ok || http_run(calls, srv->n_remotes, srv->timeout) != 0) {
        ret = reply_kz_error(c, KZ_ENOMEM);
    } else {
        size_t found = srv->n_remotes;
        for (size_t i = 0; i < srv->n_remotes && found == srv->n_remotes; i++)
            if (calls[i].status == 200)
                found = i;
        if (found < srv->n_remotes) {
            ret = reply(c, MHD_HTTP_OK, "application/json; charset=utf-8", calls[found].reply, calls[found].reply_len,
                        1, 0);
            calls[found].reply = NULL; /* the reply owns it now */
        } else {
            ret = reply_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no machine has a document with this id", 0);
        }
    }
    for (size_t i = 0; i < srv->n_remotes; i++) {
        http_call_free(&calls[i]);
        free(urls[i]);
    }
    free(id);
    free(q);
    return ret;
}

/* A coordinator's routes: the page, search, documents and health; no
 * index of its own. */
static enum MHD_Result route_coordinator(struct MHD_Connection *c, server *srv, const char *url)
{
    if (strcmp(url, "/healthz") == 0) {
        char *body = NULL;
        int n = asprintf(&body, "{\"status\": \"ok\", \"machines\": %zu, \"requests\": %" PRIu64 "}\n",
                         srv->n_remotes, (uint64_t)atomic_load(&srv->requests));
        return n < 0 ? reply_kz_error(c, KZ_ENOMEM)
                     : reply(c, MHD_HTTP_OK, "application/json; charset=utf-8", body, (size_t)n, 1, 0);
    }
    if (strncmp(url, "/api/doc/", 9) == 0 && url[9])
        return api_remote_doc(c, srv, url);
    if (strcmp(url, "/api/search") != 0)
        return reply_error(c, MHD_HTTP_NOT_FOUND, "not_found",
                           "no such page on a coordinator (/, /api/search, /api/doc/ID, /healthz)", 0);
    params p = { 0 };
    MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, on_param, &p);
    refuse_shard_params(&p);
    if (p.status)
        return reply_error(c, p.status, p.status == MHD_HTTP_BAD_REQUEST ? "bad_request" : "too_large", p.error, 0);
    return api_remote_search(c, srv, &p);
}

/* ---------------------------------------------------------------- routing */

/* A POST's body to /api/shard/, gathered over the calls of on_request. */
typedef struct upload {
    char *data;
    size_t len, cap;
    int too_large, replied;
} upload;

static int is_shard_post(const char *url) { return strcmp(url, "/api/shard/search") == 0 || strcmp(url, "/api/shard/hits") == 0; }

static enum MHD_Result route(struct MHD_Connection *c, server *srv, const char *url, const char *method,
                             const upload *up)
{
    if (up && strcmp(method, MHD_HTTP_METHOD_POST) == 0 && is_shard_post(url) && !srv->n_remotes) {
        if (up->too_large)
            return reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "a request body of more than 64 MiB", 0);
        params p = { 0 };
        MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, on_param, &p);
        if (p.status)
            return reply_error(c, p.status, p.status == MHD_HTTP_BAD_REQUEST ? "bad_request" : "too_large", p.error, 0);
        return api_shard(c, srv, &p, url + 11, up->data ? up->data : "", up->len);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                           "only GET and HEAD (and POST to /api/shard/): the server is read-only", 0);
    /* A GET has no body: one is refused before it is read. */
    const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *chunked = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if ((length && strcmp(length, "0") != 0) || chunked)
        return reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "a GET request takes no body", 0);
    for (size_t i = 0; i < web_asset_count; i++)
        if (strcmp(url, web_assets[i].path) == 0)
            return reply(c, MHD_HTTP_OK, web_assets[i].type, (char *)web_assets[i].data, web_assets[i].len, 0, 1);
    if (srv->n_remotes)
        return route_coordinator(c, srv, url);
    if (strcmp(url, "/healthz") == 0)
        return healthz(c, srv);
    if (strcmp(url, "/api/stats") == 0)
        return api_stats(c, srv);
    int is_search = strcmp(url, "/api/search") == 0;
    int is_doc = strncmp(url, "/api/doc/", 9) == 0 && url[9];
    int is_shard = strcmp(url, "/api/shard/stats") == 0;
    if (!is_search && !is_doc && !is_shard)
        return reply_error(c, MHD_HTTP_NOT_FOUND, "not_found",
                           "no such page (/, /api/search, /api/doc/ID, /api/stats, /healthz)", 0);
    params p = { 0 };
    MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, on_param, &p);
    if (!is_shard)
        refuse_shard_params(&p);
    if (p.status)
        return reply_error(c, p.status, p.status == MHD_HTTP_BAD_REQUEST ? "bad_request" : "too_large", p.error, 0);
    if (is_shard)
        return api_shard(c, srv, &p, "stats", NULL, 0);
    return is_search ? api_search(c, srv, &p) : api_doc(c, srv, &p, url + 9);
}

/* The markers of a request's state in *req besides an upload. */
static char wait, replied;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req)
{
    /* *req: NULL at a request's first call (its headers), then &wait
     * (the reply is for the last call, which has no upload data), an
     * upload (a POST to /api/shard/, whose body the calls between bring)
     * or &replied. A reply queued at the first call makes libmicrohttpd
     * (0.9.75) close the connection after it: no keep-alive. So a GET or
     * HEAD without a body, and a POST to /api/shard/, are answered at the
     * last call, and anything else at once (it is refused, and its body
     * never read). */
    server *srv = cls;
    upload *up = *req && *req != &wait && *req != &replied ? *req : NULL;
    (void)version;
    if (up && !up->replied && *upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (up->too_large || up->len + n > SHARD_BODY_MAX) {
            up->too_large = 1;
            return MHD_YES;
        }
        if (up->len + n + 1 > up->cap) {
            size_t cap = up->cap ? up->cap : 65536;
            while (cap < up->len + n + 1)
                cap *= 2;
            char *g = realloc(up->data, cap);
            if (!g)
                return MHD_NO;
            up->data = g;
            up->cap = cap;
        }
        memcpy(up->data + up->len, upload_data, n);
        up->len += n;
        up->data[up->len] = 0;
        return MHD_YES;
    }
    if (*req == &replied || (up && up->replied) || (*req == &wait && *upload_data_size)) {
        /* A body after a reply was queued (or a GET's that was not
         * announced): dropped. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!*req) {
        const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        const char *chunked = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
        int plain = (strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0) &&
                    (!length || strcmp(length, "0") == 0) && !chunked;
        if (plain) {
            *req = &wait;
            return MHD_YES;
        }
        if (strcmp(method, MHD_HTTP_METHOD_POST) == 0 && is_shard_post(url) &&
            !(length && strtoull(length, NULL, 10) > SHARD_BODY_MAX)) {
            if (!(up = calloc(1, sizeof *up)))
                return MHD_NO;
            *req = up;
            return MHD_YES;
        }
    }
    if (up)
        up->replied = 1;
    else
        *req = &replied;
    atomic_fetch_add(&srv->requests, 1);
    double t0 = srv->access_log ? now_seconds() : 0;
    enum MHD_Result ret = route(c, srv, url, method, up);
    if (srv->access_log) {
        /* The path only (the client's bytes made printable), not the
         * parameters: a query may be private. */
        char path[120];
        size_t i = 0;
        for (; url[i] && i < sizeof path - 1; i++)
            path[i] = url[i] >= 0x20 && url[i] < 0x7f ? url[i] : '?';
        path[i] = 0;
        fprintf(stderr, "kzsearch: serve: %s %s %.2f ms\n", method, path, (now_seconds() - t0) * 1000.0);
    }
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req, enum MHD_RequestTerminationCode toe)
{
    server *srv = cls;
    (void)c;
    if (*req && *req != &wait && *req != &replied) {
        upload *up = *req;
        free(up->data);
        free(up);
        *req = NULL;
    }
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && toe != MHD_REQUEST_TERMINATED_CLIENT_ABORT)
        atomic_fetch_add(&srv->errors, 1);
}

/* libmicrohttpd's messages (a client that went away, a malformed
 * request): with --access-log only, so that clients cannot flood the log. */
static void on_log(void *cls, const char *fmt, va_list ap)
{
    const server *srv = cls;
    if (!srv->access_log)
        return;
    fprintf(stderr, "kzsearch: serve: ");
    vfprintf(stderr, fmt, ap);
}

/* ---------------------------------------------------------------- the daemon */

struct MHD_Daemon *serve_start_daemon(serve_server *srv, const struct sockaddr *addr, unsigned n_threads,
                                      unsigned flags)
{
    if (cli_mhd_load() != 0)
        return NULL;
    flags |= MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
                            MHD_OPTION_EXTERNAL_LOGGER, on_log, srv,
                            MHD_OPTION_SOCK_ADDR, addr,
                            MHD_OPTION_THREAD_POOL_SIZE, n_threads,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)15,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)REQUEST_MEMORY,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                            MHD_OPTION_END);
}

/* ---------------------------------------------------------------- the command */

/* ADDR:PORT, [ADDR6]:PORT or PORT into addr. 0 or -1 with a message. */
static int parse_listen(const char *arg, struct sockaddr_storage *addr, socklen_t *addr_len)
{
    char host[256];
    const char *port;
    if (arg[0] == '[') {
        const char *close = strchr(arg, ']');
        if (!close || close[1] != ':' || (size_t)(close - arg - 1) >= sizeof host)
            return -1;
        memcpy(host, arg + 1, (size_t)(close - arg - 1));
        host[close - arg - 1] = 0;
        port = close + 2;
    } else {
        const char *colon = strrchr(arg, ':');
        if (!colon) {
            snprintf(host, sizeof host, "127.0.0.1");
            port = arg;
        } else {
            if ((size_t)(colon - arg) >= sizeof host)
                return -1;
            memcpy(host, arg, (size_t)(colon - arg));
            host[colon - arg] = 0;
            port = colon + 1;
        }
    }
    char *end;
    long pn = strtol(port, &end, 10);
    if (!*port || *end || pn < 0 || pn > 65535)
        return -1;
    struct addrinfo hints = { 0 }, *ai = NULL;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
        return -1;
    memcpy(addr, ai->ai_addr, ai->ai_addrlen);
    *addr_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        { "index", required_argument, 0, 'i' },   { "listen", required_argument, 0, 'l' },
        { "threads", required_argument, 0, 't' }, { "timeout", required_argument, 0, 'T' },
        { "access-log", no_argument, 0, 'a' },    { "help", no_argument, 0, 'h' },
        { "max-work", required_argument, 0, 'w' },
        { "synonyms", required_argument, 0, 'Y' }, { "remote", required_argument, 0, 'r' },
        { 0, 0, 0, 0 }
    };
    const char *synonyms_path = NULL;
    kz_synonyms *synonyms = NULL;
    const char *index_opt = NULL, *listen = "127.0.0.1:8080";
    long n_threads = sysconf(_SC_NPROCESSORS_ONLN);
    server srv = { 0 };
    srv.timeout = SERVE_TIMEOUT;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': index_opt = optarg; break;
        case 'l': listen = optarg; break;
        case 't': n_threads = int_option("--threads", optarg, 1, 256); break;
        case 'T': srv.timeout = timeout_option(optarg); break;
        case 'a': srv.access_log = 1; break;
        case 'w': srv.max_work = (uint64_t)int_option("--max-work", optarg, 0, 1000000000000L); break;
        case 'Y': synonyms_path = optarg; break;
        case 'r':
            if (srv.n_remotes == REMOTE_MAX)
                die_usage("at most %d --remote", REMOTE_MAX);
            srv.remotes[srv.n_remotes++] = optarg;
            break;
        case 'h': cli_help_exit();
        default: die_usage("bad option");
        }
    }
    if (optind < argc)
        die_usage("serve takes no arguments ('%s')", argv[optind]);
    if (n_threads < 1)
        n_threads = 1;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    if (parse_listen(listen, &addr, &addr_len) != 0)
        die_usage("bad --listen '%s' (ADDR:PORT, [ADDR6]:PORT or PORT)", listen);

    if (srv.n_remotes && (index_opt || synonyms_path))
        die_usage("serve --remote coordinates the machines' indexes: no --index or --synonyms beside it");
    int status = EXIT_ERROR, sample = 0;
    struct MHD_Daemon *d = NULL;
    srv.dir = srv.n_remotes ? strdup("") : resolve_index(index_opt, &sample);
    if (!srv.dir)
        goto done;
    int rc = synonyms_path ? kz_synonyms_load(&synonyms, synonyms_path) : KZ_OK;
    if (rc == KZ_OK && !srv.n_remotes)
        rc = live_index_open(&srv.li, srv.dir, LIVE_INTERVAL, synonyms);
    if (rc) {
        fail(rc);
        if (rc == KZ_ENOTFOUND)
            hint_missing_index(srv.dir);
        goto done;
    }
    /* SIGINT and SIGTERM go to the main thread's sigwait: blocked here,
     * before the server's threads start and inherit the mask. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (cli_mhd_load() != 0)
        goto done;
    d = serve_start_daemon(&srv, (const struct sockaddr *)&addr, (unsigned)n_threads,
                           addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    if (!d) {
        fprintf(stderr, "kzsearch: cannot listen on %s: %s\n", listen, errno ? strerror(errno) : "failed");
        goto done;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char host[INET6_ADDRSTRLEN] = "";
    if (addr.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr)->sin6_addr, host, sizeof host);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, host, sizeof host);
    if (srv.n_remotes) {
        printf("kzsearch: coordinating %zu machines with %ld threads at http://%s%s%s:%u/\n", srv.n_remotes,
               n_threads, addr.ss_family == AF_INET6 ? "[" : "", host, addr.ss_family == AF_INET6 ? "]" : "",
               info ? (unsigned)info->port : 0);
    } else {
        served_index *s = live_index_take(srv.li);
        kz_index_info ii;
        kz_index_get_info(served_index_get(s), &ii);
        live_index_give(srv.li, s);
        printf("kzsearch: serving %s%s (%" PRIu64 " documents) with %ld threads at http://%s%s%s:%u/\n", srv.dir,
               sample ? " (the bundled sample articles)" : "", ii.docs, n_threads,
               addr.ss_family == AF_INET6 ? "[" : "", host, addr.ss_family == AF_INET6 ? "]" : "",
               info ? (unsigned)info->port : 0);
    }
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "kzsearch: serve: stopping (%s) after %" PRIu64 " requests\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", (uint64_t)atomic_load(&srv.requests));
    status = 0;
done:
    if (d)
        MHD_stop_daemon(d);
    live_index_free(srv.li);
    kz_synonyms_free(synonyms); /* after the index that used them */
    free(srv.dir);
    return status;
}
