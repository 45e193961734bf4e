/*
 * search_text.c: a search as text on a terminal: the line of totals, each
 * hit's title, place and highlighted passages, the facets. One writer for
 * `kzsearch QUERY` over one index and over several machines (remote.c,
 * whose machines write their hits with it too).
 */
#include "cli.h"

#include <inttypes.h>
#include <string.h>

void text_view_init(text_view *v, const search_spec *s, int color)
{
    memset(v, 0, sizeof *v);
    v->explain = s->explain;
    v->fragments = s->fragments;
    v->snippet_chars = s->snippet_chars;
    v->hl = (text_style){ color ? "\033[1;31m" : "", color ? "\033[0m" : "" };
    v->bold = (text_style){ color ? "\033[1m" : "", color ? "\033[0m" : "" };
}

static void put_clean(FILE *f, const char *s, size_t n)
{
    /* Passage text on one line: newlines and tabs become spaces. */
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        fputc(c == '\n' || c == '\r' || c == '\t' ? ' ' : c, f);
    }
}

static void put_marked(FILE *f, const char *text, size_t start, size_t end, const kz_span *marks, size_t n,
                       const text_style *st)
{
    size_t at = start;
    for (size_t i = 0; i < n; i++) {
        if (marks[i].start < at || marks[i].end > end)
            continue;
        put_clean(f, text + at, marks[i].start - at);
        fputs(st->on, f);
        put_clean(f, text + marks[i].start, marks[i].end - marks[i].start);
        fputs(st->off, f);
        at = marks[i].end;
    }
    put_clean(f, text + at, end - at);
}

int search_text_hit(FILE *f, kz_index *ix, const kz_results *r, size_t i, size_t rank, const text_view *v)
{
    hit_view hv;
    int rc = hit_view_load(&hv, ix, r, i, v->fragments, v->snippet_chars);
    if (rc)
        goto done;
    fprintf(f, "\n%s%zu.%s ", v->bold.on, rank, v->bold.off);
    fputs(v->bold.on, f);
    if (hv.d.title_len)
        put_marked(f, hv.d.title, 0, hv.d.title_len, hv.tmarks, hv.n_tmarks, &v->hl);
    else
        fputs("(untitled)", f);
    fputs(v->bold.off, f);
    /* Under the title: the url (or the id), then the date and the source,
     * when the document has them. */
    const kz_doc_field *shown[3] = { NULL, NULL, NULL };
    static const char *const keys[3] = { "url", "date", "source" };
    for (size_t m = 0; m < hv.d.n_meta && m < HIT_VIEW_MAX_META; m++)
        for (int k = 0; k < 3; k++)
            if (!shown[k] && hv.meta[m].key_len == strlen(keys[k]) && memcmp(hv.meta[m].key, keys[k], hv.meta[m].key_len) == 0)
                shown[k] = &hv.meta[m];
    fprintf(f, "  [score %.4f]\n   ", hv.h->score);
    if (shown[0])
        fprintf(f, "%.*s", (int)KZ_CLI_MIN(shown[0]->value_len, 300), shown[0]->value);
    else
        fprintf(f, "%.*s", (int)hv.d.id_len, hv.d.id);
    for (int k = 1; k < 3; k++)
        if (shown[k])
            fprintf(f, "  %.*s", (int)KZ_CLI_MIN(shown[k]->value_len, 100), shown[k]->value);
    fputc('\n', f);
    for (size_t k = 0; k < hv.n_frag; k++) {
        const kz_snippet *sn = &hv.frag[k];
        if (sn->end <= sn->start)
            continue;
        fputs("   ", f);
        if (sn->cut_before)
            fputs("…", f);
        put_marked(f, hv.text, sn->start, sn->end, sn->marks, sn->n_marks, &v->hl);
        if (sn->cut_after)
            fputs("…", f);
        fputc('\n', f);
    }
    if (v->explain) {
        kz_explanation x;
        if ((rc = kz_results_explain(&x, ix, r, i)))
            goto done;
        fprintf(f, "   score %.17g = sum of w over %zu unit%s; dl %u, avgdl %.4f, k1 %g, b %g\n", x.score,
                x.n_units, x.n_units == 1 ? "" : "s", x.dl, x.avgdl, x.k1, x.b);
        for (size_t u = 0; u < x.n_units; u++) {
            char name[512];
            search_unit_text(name, sizeof name, kz_results_unit(r, u));
            if (x.units[u].tf)
                fprintf(f, "     %-24s idf %.6f  tf %-4u w = idf*tf/(tf+k1*(1-b+b*dl/avgdl)) = %.6f\n", name,
                        x.units[u].idf, x.units[u].tf, x.units[u].weight);
            else
                fprintf(f, "     %-24s idf %.6f  tf 0    (absent)\n", name, x.units[u].idf);
        }
        kz_explanation_free(&x);
    }
done:
    hit_view_free(&hv);
    return rc;
}

void search_text_similar(FILE *f, size_t n_similar, const char *const *labels)
{
    /* Collapsed near-duplicates: "+3 similar: msn.com, yahoo.com, ..." */
    if (!n_similar)
        return;
    fprintf(f, "   +%zu similar:", n_similar);
    for (size_t j = 0; j < n_similar && j < 5; j++)
        fprintf(f, "%s %s", j ? "," : "", labels[j]);
    fprintf(f, "%s\n", n_similar > 5 ? ", ..." : "");
}

void search_text_head(FILE *f, const search_spec *s, const search_summary *sum, const text_view *v, int sample)
{
    if (sum->suggestion)
        fprintf(f, "Did you mean: %s%s%s\n", v->bold.on, sum->suggestion, v->bold.off);
    if (sum->fell_back)
        fprintf(f, "No document has all the words; showing documents with any of them.\n");
    fprintf(f, "%" PRIu64 " hit%s for \"%s\"", sum->total, sum->total == 1 ? "" : "s", s->query);
    if (!sum->fell_back && sum->total_all_words < sum->total)
        fprintf(f, ", %" PRIu64 " with every word", sum->total_all_words);
    fprintf(f, " (%.2f ms)%s\n", sum->took_ms, sample ? " in the bundled sample articles" : "");
}

void search_text_separator(FILE *f, const search_summary *sum, size_t rank, const text_view *v)
{
    if (!sum->fell_back && sum->total_all_words < sum->total && rank == sum->all_words_hits + 1)
        fprintf(f, "\n%s-- %" PRIu64 " more with only some of the words --%s\n", v->bold.on,
                sum->total - sum->total_all_words, v->bold.off);
}

void search_text_facets(FILE *f, const search_spec *s, const search_summary *sum, int first_gap)
{
    for (size_t k = 0; k < s->n_facets; k++) {
        char name[300];
        fprintf(f, "%s%s:", k == 0 && first_gap ? "\n" : "", search_facet_name(s, k, name, sizeof name));
        for (size_t i = 0; i < sum->n_values[k]; i++)
            fprintf(f, "%s %.*s (%" PRIu64 ")", i ? "," : "", (int)KZ_CLI_MIN(sum->values[k][i].len, 200),
                    sum->values[k][i].value, sum->values[k][i].docs);
        fprintf(f, "%s\n", sum->n_values[k] ? "" : " (none)");
    }
}
