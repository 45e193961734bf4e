/*
 * search_json.c: the JSON document of a search, written to a FILE*: what
 * `kzsearch --json` prints and what the server's /api/search answers (one
 * writer for both; the server writes it to an open_memstream).
 */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

const char *search_mode_name(kz_mode m) { return m == KZ_MODE_ANY ? "any" : "all"; }

void search_unit_text(char *buf, size_t size, const kz_unit *u)
{
    size_t at = 0;
    buf[0] = 0;
    if (u->n_terms > 1)
        at += (size_t)snprintf(buf + at, size - at, "\"");
    for (size_t i = 0; i < u->n_terms && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%s", i ? " " : "", u->terms[i]);
    if (u->n_terms > 1 && at < size)
        snprintf(buf + at, size - at, "\"");
}

int search_fell_back(const search_spec *s, const search_result *res)
{
    uint64_t total = kz_results_total(res->r);
    return s->so.mode == KZ_MODE_AUTO && kz_results_mode(res->r) == KZ_MODE_ANY && total > 0 &&
           kz_results_total_all_words(res->r) == 0;
}

void json_metadata(FILE *f, const kz_doc_field *meta, size_t n_meta)
{
    /* A key of several values (a JSON array when indexed) gives an array,
     * at the place of its first value. */
    size_t shown = 0;
    fputc('{', f);
    for (size_t m = 0; m < n_meta; m++) {
        const kz_doc_field *fd = &meta[m];
        size_t n_values = 0, earlier = 0;
        for (size_t j = 0; j < n_meta; j++) {
            int same = meta[j].key_len == fd->key_len && memcmp(meta[j].key, fd->key, fd->key_len) == 0;
            n_values += same;
            earlier |= same && j < m;
        }
        if (earlier)
            continue;
        fprintf(f, "%s", shown++ ? ", " : "");
        json_string(f, fd->key, fd->key_len);
        fprintf(f, n_values > 1 ? ": [" : ": ");
        for (size_t j = m, k = 0; j < n_meta; j++) {
            if (meta[j].key_len != fd->key_len || memcmp(meta[j].key, fd->key, fd->key_len) != 0)
                continue;
            fprintf(f, "%s", k++ ? ", " : "");
            json_string(f, meta[j].value, meta[j].value_len);
        }
        fprintf(f, n_values > 1 ? "]" : "");
    }
    fputc('}', f);
}

int search_similar_label(kz_index *ix, uint32_t docid, char *buf, size_t size)
{
    kz_doc_field meta[HIT_VIEW_MAX_META];
    kz_doc d;
    int rc = kz_index_doc(ix, &d, docid, meta, HIT_VIEW_MAX_META);
    if (rc)
        return rc;
    static const char *const keys[3] = { "site", "source", "url" };
    const char *v = d.id;
    size_t len = d.id_len;
    int found = 0;
    for (int k = 0; k < 3 && !found; k++) {
        for (size_t m = 0; m < KZ_CLI_MIN(d.n_meta, HIT_VIEW_MAX_META) && !found; m++) {
            if (meta[m].key_len != strlen(keys[k]) || memcmp(meta[m].key, keys[k], meta[m].key_len) != 0 ||
                meta[m].value_len == 0)
                continue;
            v = meta[m].value;
            len = meta[m].value_len;
            found = 1;
            if (k == 2) { /* the host: after "//", up to the next '/' */
                const char *p = memchr(v, '/', len);
                if (p && (size_t)(p - v) + 1 < len && p[1] == '/') {
                    len -= (size_t)(p + 2 - v);
                    v = p + 2;
                    const char *e = memchr(v, '/', len);
                    if (e)
                        len = (size_t)(e - v);
                }
            }
        }
    }
    snprintf(buf, size, "%.*s", (int)KZ_CLI_MIN(len, size - 1), v);
    return KZ_OK;
}

int search_json_hit_body(FILE *f, kz_index *ix, const kz_results *r, size_t i, size_t rank, int all_words,
                         uint64_t docid_shown, const search_spec *s)
{
    hit_view hv;
    int rc = hit_view_load(&hv, ix, r, i, s->fragments, s->snippet_chars);
    if (rc)
        goto done;
    fprintf(f, "{\"rank\": %zu, \"all_words\": %s, \"docid\": %" PRIu64 ", \"id\": ", rank,
            all_words ? "true" : "false", docid_shown);
    json_string(f, hv.d.id, hv.d.id_len);
    fprintf(f, ", \"title\": ");
    json_string(f, hv.d.title, hv.d.title_len);
    fprintf(f, ", \"score\": %.17g, \"metadata\": ", hv.h->score);
    json_metadata(f, hv.meta, KZ_CLI_MIN(hv.d.n_meta, HIT_VIEW_MAX_META));
    fprintf(f, ", \"title_highlights\": [");
    for (size_t m = 0; m < hv.n_tmarks; m++)
        fprintf(f, "%s[%zu, %zu]", m ? ", " : "", hv.tmarks[m].start, hv.tmarks[m].end);
    fprintf(f, "]");
    for (size_t k = 0; k < hv.n_frag; k++) {
        const kz_snippet *sn = &hv.frag[k];
        if (k == 0)
            fprintf(f, ", \"snippet\": ");
        else if (k == 1)
            fprintf(f, ", \"more_snippets\": [");
        else
            fprintf(f, ", ");
        if (k > 0)
            fprintf(f, "{\"snippet\": ");
        json_string(f, hv.text + sn->start, sn->end - sn->start);
        const char *pre = k == 0 ? "snippet_" : "";
        fprintf(f, ", \"%sstart\": %zu, \"%send\": %zu, \"cut_before\": %s, \"cut_after\": %s, \"highlights\": [",
                pre, sn->start, pre, sn->end, sn->cut_before ? "true" : "false", sn->cut_after ? "true" : "false");
        for (size_t m = 0; m < sn->n_marks; m++)
            fprintf(f, "%s{\"snippet\": [%zu, %zu], \"text\": [%zu, %zu]}", m ? ", " : "",
                    sn->marks[m].start - sn->start, sn->marks[m].end - sn->start, sn->marks[m].start,
                    sn->marks[m].end);
        fprintf(f, "]%s", k > 0 ? "}" : "");
    }
    if (hv.n_frag > 1)
        fprintf(f, "]");
    if (s->explain) {
        kz_explanation x;
        if ((rc = kz_results_explain(&x, ix, r, i)))
            goto done;
        fprintf(f, ", \"explain\": {\"score\": %.17g, \"dl\": %u, \"avgdl\": %.17g, \"k1\": %.17g, \"b\": %.17g, "
                   "\"units\": [",
                x.score, x.dl, x.avgdl, x.k1, x.b);
        for (size_t u = 0; u < x.n_units; u++) {
            char name[512];
            search_unit_text(name, sizeof name, kz_results_unit(r, u));
            fprintf(f, "%s{\"unit\": ", u ? ", " : "");
            json_cstr(f, name);
            fprintf(f, ", \"idf\": %.17g, \"tf\": %u, \"weight\": %.17g}", x.units[u].idf, x.units[u].tf,
                    x.units[u].weight);
        }
        fprintf(f, "]}");
        kz_explanation_free(&x);
    }
done:
    hit_view_free(&hv);
    return rc;
}

int search_json_similar(FILE *f, kz_index *ix, uint32_t docid, uint64_t docid_shown, double score)
{
    kz_doc d;
    char label[256];
    int rc = kz_index_doc(ix, &d, docid, NULL, 0);
    if (rc || (rc = search_similar_label(ix, docid, label, sizeof label)))
        return rc;
    fprintf(f, "{\"docid\": %" PRIu64 ", \"id\": ", docid_shown);
    json_string(f, d.id, d.id_len);
    fprintf(f, ", \"title\": ");
    json_string(f, d.title, d.title_len);
    fprintf(f, ", \"label\": ");
    json_cstr(f, label);
    fprintf(f, ", \"score\": %.17g}", score);
    return KZ_OK;
}

int search_summary_of(search_summary *sum, const search_spec *s, const search_result *res)
{
    const kz_results *r = res->r;
    memset(sum, 0, sizeof *sum);
    sum->mode = kz_results_mode(r);
    sum->fell_back = search_fell_back(s, res);
    sum->total = kz_results_total(r);
    sum->total_all_words = kz_results_total_all_words(r);
    sum->all_words_hits = kz_results_all_words_hits(r);
    sum->collapsed = kz_results_collapsed(r);
    sum->took_ms = res->took_ms;
    sum->suggestion = res->suggestion;
    sum->n_notes = kz_query_note_count(res->q);
    if (!(sum->notes = calloc(sum->n_notes ? sum->n_notes : 1, sizeof *sum->notes)))
        return KZ_ENOMEM;
    for (size_t i = 0; i < sum->n_notes; i++)
        sum->notes[i] = kz_query_note(res->q, i);
    for (size_t k = 0; k < s->n_facets; k++) {
        size_t n = kz_results_facet_count(r, k);
        if (!(sum->values[k] = calloc(n ? n : 1, sizeof *sum->values[k]))) {
            search_summary_free(sum);
            return KZ_ENOMEM;
        }
        sum->n_values[k] = n;
        for (size_t i = 0; i < n; i++)
            sum->values[k][i].value = kz_results_facet_value(r, k, i, &sum->values[k][i].len, &sum->values[k][i].docs);
    }
    return KZ_OK;
}

void search_summary_free(search_summary *sum)
{
    free((void *)sum->notes);
    for (size_t k = 0; k < SEARCH_MAX_FACETS; k++)
        free(sum->values[k]);
    memset(sum, 0, sizeof *sum);
}

void search_json_head(FILE *f, const search_spec *s, const search_summary *sum)
{
    fprintf(f, "{\"query\": ");
    json_cstr(f, s->query);
    fprintf(f, ", \"mode\": \"%s\", \"fallback\": %s, \"total\": %" PRIu64 ", \"total_all_words\": %" PRIu64
               ", \"all_words_hits\": %" PRIu64 ", \"collapsed\": %" PRIu64 ", \"took_ms\": %.3f, \"offset\": %u, \"notes\": [",
            search_mode_name(sum->mode), sum->fell_back ? "true" : "false", sum->total, sum->total_all_words,
            sum->all_words_hits, sum->collapsed, sum->took_ms, s->so.offset);
    for (size_t i = 0; i < sum->n_notes; i++) {
        fprintf(f, "%s", i ? ", " : "");
        json_cstr(f, sum->notes[i]);
    }
    fprintf(f, "], \"suggestion\": ");
    if (sum->suggestion)
        json_cstr(f, sum->suggestion);
    else
        fprintf(f, "null");
    fprintf(f, ", \"hits\": [");
}

void search_json_hit_separator(FILE *f, size_t i) { fputs(i ? ",\n    " : "\n    ", f); }

void search_json_tail(FILE *f, const search_spec *s, const search_summary *sum, size_t n_hits, const char *extra)
{
    fprintf(f, "%s]", n_hits ? "\n  " : "");
    if (s->n_facets) {
        fprintf(f, ", \"facets\": {");
        for (size_t k = 0; k < s->n_facets; k++) {
            char name[300];
            fprintf(f, "%s", k ? ", " : "");
            json_cstr(f, search_facet_name(s, k, name, sizeof name));
            fprintf(f, ": [");
            for (size_t i = 0; i < sum->n_values[k]; i++) {
                fprintf(f, "%s{\"value\": ", i ? ", " : "");
                json_string(f, sum->values[k][i].value, sum->values[k][i].len);
                fprintf(f, ", \"docs\": %" PRIu64 "}", sum->values[k][i].docs);
            }
            fprintf(f, "]");
        }
        fprintf(f, "}");
    }
    fprintf(f, "%s}\n", extra ? extra : "");
}

int search_json_write(FILE *f, kz_index *ix, const search_spec *s, const search_result *res)
{
    const kz_results *r = res->r;
    size_t n = kz_results_count(r);
    search_summary sum;
    int rc = search_summary_of(&sum, s, res);
    if (rc)
        return rc;
    search_json_head(f, s, &sum);
    for (size_t i = 0; i < n && rc == KZ_OK; i++) {
        size_t rank = (size_t)s->so.offset + i + 1;
        search_json_hit_separator(f, i);
        if ((rc = search_json_hit_body(f, ix, r, i, rank, rank <= sum.all_words_hits, kz_results_hit(r, i)->docid, s)))
            break;
        size_t n_similar = kz_results_similar_count(r, i);
        if (n_similar)
            fprintf(f, ", \"similar\": [");
        for (size_t j = 0; j < n_similar && rc == KZ_OK; j++) {
            const kz_hit *sh = kz_results_similar(r, i, j);
            fprintf(f, "%s", j ? ", " : "");
            rc = search_json_similar(f, ix, sh->docid, sh->docid, sh->score);
        }
        fprintf(f, "%s}", n_similar ? "]" : "");
    }
    if (rc == KZ_OK)
        search_json_tail(f, s, &sum, n, NULL);
    search_summary_free(&sum);
    return rc;
}
