/*
 * shard_api.c: one machine's side of a remote search (remote.c is the
 * coordinator's; FORMAT.md "Remote search" is the protocol).
 *
 *   stats   step 1: what the query asks of this index (kz_stats_gather)
 *   search  step 2: the query read against the global statistics, its
 *           totals, facet counts (every value) and best k hits, each with
 *           what the coordinator ranks it by (kz_ranked)
 *   hits    the hits the coordinator shows: each written as one index
 *           would write it (JSON, text or its id), read against the same
 *           statistics, so that passages and explanations are the whole's
 */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SHARD_MAGIC "kzsearch shard 2\n"
#define SHARD_MAX_ITEMS 100000 /* hits of one "hits" request */

/* The message of an error of this file's own (kz_last_error() holds the
 * library's): per thread, as serve's requests run on several. */
static _Thread_local char why[200];

static int refuse(int code, const char *message)
{
    snprintf(why, sizeof why, "%s", message);
    return code;
}

const char *shard_error(void) { return why[0] ? why : kz_last_error(); }

static void put_hex(FILE *f, const char *s, size_t n)
{
    if (n == 0)
        fputc('-', f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", (unsigned char)s[i]);
}

/* The statistics at the start of body, up to and with its "end" line; the
 * rest after it in *rest. */
static int body_stats(kz_stats **out, const char *body, size_t len, const char **rest)
{
    const char *end = NULL;
    for (const char *p = body; p && p < body + len; p = memchr(p, '\n', (size_t)(body + len - p)), p = p ? p + 1 : p) {
        if ((size_t)(body + len - p) >= 4 && memcmp(p, "end\n", 4) == 0) {
            end = p + 4;
            break;
        }
    }
    if (!end)
        return refuse(KZ_ESYNTAX, "the request has no global statistics");
    *rest = end;
    return kz_stats_decode(out, body, (size_t)(end - body));
}

static int step_search(FILE *f, search_result *res, kz_index *ix, search_spec *sp, const shard_request *req)
{
    kz_index_info info;
    kz_index_get_info(ix, &info);
    sp->so.flags |= KZ_SEARCH_NO_COLLAPSE;
    sp->so.offset = 0;
    sp->so.limit = req->k;
    if (req->k == 0)
        sp->so.flags |= KZ_SEARCH_COUNT_ONLY;
    for (size_t i = 0; i < sp->n_facets; i++)
        sp->facets[i].limit = UINT32_MAX; /* the coordinator adds every machine's up, then cuts */
    int rc = search_run(res, ix, sp);
    if (rc)
        return rc;
    const kz_results *r = res->r;
    int unit_absent = 0; /* the same on every machine: the global idf */
    for (size_t i = 0; i < kz_results_unit_count(r); i++)
        unit_absent |= kz_results_unit(r, i)->idf == 0;
    int and_first = sp->so.mode == KZ_MODE_AUTO && !sp->so.sort_field && kz_query_and_first(res->q);
    fprintf(f, SHARD_MAGIC "total %" PRIu64 "\ntotal_all_words %" PRIu64 "\nmode %s\nfell_back %d\nand_first %d\n"
            "unit_absent %d\n",
            kz_results_total(r), kz_results_total_all_words(r), search_mode_name(kz_results_mode(r)),
            search_fell_back(sp, res), and_first, unit_absent);
    for (size_t i = 0; i < kz_query_note_count(res->q); i++) {
        const char *note = kz_query_note(res->q, i);
        fputs("note ", f);
        put_hex(f, note, strlen(note));
        fputc('\n', f);
    }
    if (res->suggestion) {
        fputs("suggestion ", f);
        put_hex(f, res->suggestion, strlen(res->suggestion));
        fputc('\n', f);
    }
    for (size_t k = 0; k < sp->n_facets; k++)
        for (size_t i = 0; i < kz_results_facet_count(r, k); i++) {
            size_t len;
            uint64_t docs;
            const char *value = kz_results_facet_value(r, k, i, &len, &docs);
            fprintf(f, "facet %zu %" PRIu64 " ", k, docs);
            put_hex(f, value, len);
            fputc('\n', f);
        }
    for (size_t i = 0; i < kz_results_count(r); i++) {
        kz_ranked h;
        if ((rc = kz_results_ranked(&h, ix, r, i, 0)))
            return rc;
        fprintf(f, "hit %a %" PRIu64 " %" PRIx64 " %d %" PRIx64 "\n", h.score, h.docid, h.sort_key, h.all_words,
                h.fingerprint);
    }
    fputs("end\n", f);
    return KZ_OK;
}

/* One item of a "hits" request: "h DOCID SCORE RANK ALL_WORDS SHOWN" (a
 * hit) or "s DOCID SCORE SHOWN" (a near-duplicate under one). */
typedef struct shard_item {
    char kind;
    uint32_t docid;
    double score;
    uint64_t rank, shown;
    int all_words;
    size_t hit; /* kind 'h': its place among the hits */
} shard_item;

static int read_items(shard_item **out, size_t *n_out, const char *p, const char *end, uint64_t docids)
{
    shard_item *v = NULL;
    size_t n = 0;
    *out = NULL;
    *n_out = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || n == SHARD_MAX_ITEMS)
            goto bad;
        char line[200];
        size_t len = (size_t)(nl - p);
        if (len >= sizeof line)
            goto bad;
        memcpy(line, p, len);
        line[len] = 0;
        p = nl + 1;
        shard_item it = { 0 };
        unsigned long long docid, rank = 0, shown;
        int used = 0, all = 0;
        if (line[0] == 'h' && sscanf(line, "h %llu %la %llu %d %llu%n", &docid, &it.score, &rank, &all, &shown, &used) == 5) {
            it.kind = 'h';
        } else if (line[0] == 's' && sscanf(line, "s %llu %la %llu%n", &docid, &it.score, &shown, &used) == 3) {
            it.kind = 's';
        } else {
            goto bad;
        }
        if ((size_t)used != len || docid >= docids)
            goto bad;
        it.docid = (uint32_t)docid;
        it.rank = rank;
        it.shown = shown;
        it.all_words = all != 0;
        shard_item *g = realloc(v, (n + 1) * sizeof *g);
        if (!g) {
            free(v);
            return KZ_ENOMEM;
        }
        v = g;
        v[n++] = it;
    }
    *out = v;
    *n_out = n;
    return KZ_OK;
bad:
    free(v);
    return refuse(KZ_ESYNTAX, "a malformed hit in the request");
}

static int step_hits(FILE *f, kz_index *ix, const search_spec *sp, const shard_request *req, const char *rest)
{
    kz_index_info info;
    kz_index_get_info(ix, &info);
    shard_item *items = NULL;
    size_t n = 0, n_hits = 0;
    kz_hit *hits = NULL;
    kz_query *q = NULL;
    kz_results *r = NULL;
    char *owned = NULL, *block = NULL;
    size_t block_len = 0;
    FILE *bf = NULL;
    const char *text;
    unsigned flags;
    text_view v;
    int rc = read_items(&items, &n, rest, req->body + req->body_len, info.docids);
    if (rc || (rc = search_text(sp, &text, &owned, &flags)))
        goto done;
    if (!(hits = malloc((n ? n : 1) * sizeof *hits))) {
        rc = KZ_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (items[i].kind == 'h') {
            items[i].hit = n_hits;
            hits[n_hits++] = (kz_hit){ items[i].docid, items[i].score };
        }
    kz_syntax_error err;
    if ((rc = kz_query_parse_global(&q, ix, text, strlen(text), flags, sp->global, &err)) ||
        (rc = kz_query_results_of(&r, q, &sp->so, hits, n_hits)))
        goto done;
    text_view_init(&v, sp, req->color);
    fputs(SHARD_MAGIC, f);
    for (size_t i = 0; i < n && rc == KZ_OK; i++) {
        const shard_item *it = &items[i];
        if (!(bf = open_memstream(&block, &block_len))) {
            rc = KZ_ENOMEM;
            break;
        }
        if (strcmp(req->format, "id") == 0) {
            kz_doc d;
            if ((rc = kz_index_doc(ix, &d, it->docid, NULL, 0)) == KZ_OK)
                fwrite(d.id, 1, d.id_len, bf);
        } else if (it->kind == 's' && strcmp(req->format, "json") == 0) {
            rc = search_json_similar(bf, ix, it->docid, it->shown, it->score);
        } else if (it->kind == 's') {
            char label[128];
            if ((rc = search_similar_label(ix, it->docid, label, sizeof label)) == KZ_OK)
                fputs(label, bf);
        } else if (strcmp(req->format, "json") == 0) {
            rc = search_json_hit_body(bf, ix, r, it->hit, (size_t)it->rank, it->all_words, it->shown, sp);
        } else {
            rc = search_text_hit(bf, ix, r, it->hit, (size_t)it->rank, &v);
        }
        fclose(bf);
        bf = NULL;
        if (rc == KZ_OK) {
            fprintf(f, "b %zu\n", block_len);
            fwrite(block, 1, block_len, f);
            fputc('\n', f);
        }
        free(block);
        block = NULL;
    }
    if (rc == KZ_OK)
        fputs("end\n", f);
done:
    kz_results_free(r);
    kz_query_free(q);
    free(hits);
    free(items);
    free(owned);
    return rc;
}

/* What names this generation of ix: its docids, lengths and the
 * generation of each index opened in it. */
static void index_token(char *buf, size_t size, const kz_index *ix)
{
    kz_index_info info;
    kz_index_get_info(ix, &info);
    size_t at = (size_t)snprintf(buf, size, "%" PRIu64 "-%" PRIu64, info.docids, info.tokens);
    for (size_t i = 0; i < kz_index_part_count(ix) && at < size; i++) {
        uint64_t generation = 0;
        kz_index_part_dir(ix, i, &generation);
        at += (size_t)snprintf(buf + at, size - at, "-%" PRIu64, generation);
    }
}

int shard_api(char **out, size_t *len, search_result *res, kz_index *ix, const search_spec *s_in,
              const shard_request *req)
{
    *out = NULL;
    *len = 0;
    why[0] = 0;
    memset(res, 0, sizeof *res);
    search_spec *sp = malloc(sizeof *sp);
    kz_stats *stats = NULL;
    char *body = NULL;
    size_t body_len = 0;
    FILE *f = NULL;
    int rc = KZ_OK;
    if (!sp)
        return KZ_ENOMEM;
    *sp = *s_in;
    for (size_t i = 0; i < sp->n_facets; i++) /* the copy's fields point into its own texts */
        sp->facets[i].field = sp->facet_text[i] + (s_in->facets[i].field - s_in->facet_text[i]);
    char token[1600];
    index_token(token, sizeof token, ix);
    if (strcmp(req->what, "stats") == 0) {
        char *text = NULL;
        size_t text_len = 0;
        if ((rc = search_gather(&stats, res, ix, sp)) == KZ_OK && (rc = kz_stats_encode(stats, &text, &text_len)) == KZ_OK &&
            asprintf(out, SHARD_MAGIC "index %s\n%s", token, text) < 0) {
            *out = NULL;
            rc = KZ_ENOMEM;
        }
        if (rc == KZ_OK)
            *len = strlen(*out);
        free(text);
        goto done;
    }
    if (req->at && strcmp(req->at, token) != 0) {
        rc = refuse(KZ_ESTALE, "the index changed since the search began (a new generation): ask again");
        goto done;
    }
    const char *rest = NULL;
    if (!req->body) {
        rc = refuse(KZ_EINVAL, "the request needs the global statistics as its body (POST)");
        goto done;
    }
    if ((rc = body_stats(&stats, req->body, req->body_len, &rest)))
        goto done;
    sp->global = stats;
    if (!(f = open_memstream(&body, &body_len))) {
        rc = KZ_ENOMEM;
        goto done;
    }
    if (strcmp(req->what, "search") == 0)
        rc = step_search(f, res, ix, sp, req);
    else if (strcmp(req->what, "hits") == 0)
        rc = step_hits(f, ix, sp, req, rest);
    else
        rc = refuse(KZ_ENOTFOUND, "no such step of a remote search");
    if (fclose(f) != 0 && rc == KZ_OK)
        rc = KZ_ENOMEM;
    f = NULL;
    if (rc == KZ_OK) {
        *out = body;
        *len = body_len;
        body = NULL;
    }
done:
    if (f)
        fclose(f);
    free(body);
    kz_stats_free(stats);
    free(sp);
    return rc;
}
