/*
 * cmd_search.c: kzsearch [search] QUERY: a search, its hits as text (with
 * highlighted passages) or JSON, its notes, facets and explanations.
 */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- search */

typedef struct style {
    const char *on, *off;
} style;

static void put_clean(const char *s, size_t n)
{
    /* Passage text on one line: newlines and tabs become spaces. */
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        putchar(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
    }
}

static void put_marked(const char *text, size_t start, size_t end, const kz_span *marks, size_t n,
                       const style *st)
{
    size_t at = start;
    for (size_t i = 0; i < n; i++) {
        if (marks[i].start < at || marks[i].end > end)
            continue;
        put_clean(text + at, marks[i].start - at);
        fputs(st->on, stdout);
        put_clean(text + marks[i].start, marks[i].end - marks[i].start);
        fputs(st->off, stdout);
        at = marks[i].end;
    }
    put_clean(text + at, end - at);
}

/* A syntax error with the query and a caret under the column. */
static void show_syntax_error(const char *query, const kz_syntax_error *err)
{
    fprintf(stderr, "kzsearch: query syntax error at column %u: %s\n  ", err->column, err->message);
    for (const char *p = query; *p; p++)
        fputc(*p == '\n' || *p == '\t' ? ' ' : *p, stderr);
    fputs("\n  ", stderr);
    for (uint32_t i = 1; i < err->column; i++)
        fputc(' ', stderr);
    fputs("^\n", stderr);
}

static const char *mode_name(kz_mode m) { return m == KZ_MODE_ANY ? "any" : "all"; }

/* A unit as the user would write it: stem or "phrase of stems". */
static void unit_text(char *buf, size_t size, const kz_unit *u)
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

typedef struct search_view {
    int json, explain;
    size_t fragments, snippet_chars;
    style hl, bold;
} search_view;

#define MAX_META 32

/* Everything shown of one hit: its document, the title's marks, the text
 * and its passages. */
typedef struct hit_view {
    const kz_hit *h;
    kz_doc d;
    kz_doc_field meta[MAX_META];
    kz_span *tmarks;
    size_t n_tmarks;
    char *text;
    size_t len;
    kz_snippet frag[16];
    size_t n_frag;
} hit_view;

static void hit_view_free(hit_view *hv)
{
    for (size_t f = 0; f < hv->n_frag; f++)
        kz_snippet_free(&hv->frag[f]);
    free(hv->tmarks);
    free(hv->text);
}

/* Fills hv for hit i; hit_view_free() whatever the result. */
static int hit_view_load(hit_view *hv, kz_index *ix, const kz_results *r, size_t i, const search_view *v)
{
    memset(hv, 0, sizeof *hv);
    hv->h = kz_results_hit(r, i);
    int rc = kz_index_doc(ix, &hv->d, hv->h->docid, hv->meta, MAX_META);
    if (rc == 0)
        rc = kz_highlight(&hv->tmarks, &hv->n_tmarks, ix, r, hv->d.title, hv->d.title_len);
    /* Passages come from the first KZ_SNIPPET_SCAN_BYTES: read no more
     * than those and a passage's length (4 bytes a character at most). */
    if (rc == 0)
        rc = kz_index_doc_text_prefix(ix, &hv->text, &hv->len, hv->h->docid,
                                      KZ_SNIPPET_SCAN_BYTES + 4 * v->snippet_chars + 64);
    if (rc == 0)
        rc = kz_snippets_make(hv->frag, &hv->n_frag, v->fragments, ix, r, hv->text, hv->len, v->snippet_chars);
    /* A passage that runs to the end of what was read goes on in the text. */
    for (size_t f = 0; rc == 0 && f < hv->n_frag; f++)
        if (hv->frag[f].end == hv->len && hv->len < hv->d.text_bytes)
            hv->frag[f].cut_after = 1;
    return rc;
}

static int show_hit_json(kz_index *ix, const kz_results *r, size_t i, size_t rank, const search_view *v)
{
    hit_view hv;
    int rc = hit_view_load(&hv, ix, r, i, v);
    if (rc)
        goto done;
    printf("%s{\"rank\": %zu, \"all_words\": %s, \"docid\": %u, \"id\": ", i ? ",\n    " : "\n    ", rank,
           rank <= kz_results_total_all_words(r) ? "true" : "false", hv.h->docid);
    json_string(stdout, hv.d.id, hv.d.id_len);
    printf(", \"title\": ");
    json_string(stdout, hv.d.title, hv.d.title_len);
    printf(", \"score\": %.17g, \"metadata\": {", hv.h->score);
    /* A key of several values (a JSON array when indexed) gives an array,
     * at the place of its first value. */
    size_t n_meta = hv.d.n_meta < MAX_META ? hv.d.n_meta : MAX_META, shown = 0;
    for (size_t m = 0; m < n_meta; m++) {
        const kz_doc_field *f = &hv.meta[m];
        size_t n_values = 0, earlier = 0;
        for (size_t j = 0; j < n_meta; j++) {
            int same = hv.meta[j].key_len == f->key_len && memcmp(hv.meta[j].key, f->key, f->key_len) == 0;
            n_values += same;
            earlier |= same && j < m;
        }
        if (earlier)
            continue;
        printf("%s", shown++ ? ", " : "");
        json_string(stdout, f->key, f->key_len);
        printf(n_values > 1 ? ": [" : ": ");
        for (size_t j = m, k = 0; j < n_meta; j++) {
            if (hv.meta[j].key_len != f->key_len || memcmp(hv.meta[j].key, f->key, f->key_len) != 0)
                continue;
            printf("%s", k++ ? ", " : "");
            json_string(stdout, hv.meta[j].value, hv.meta[j].value_len);
        }
        printf(n_values > 1 ? "]" : "");
    }
    printf("}, \"title_highlights\": [");
    for (size_t m = 0; m < hv.n_tmarks; m++)
        printf("%s[%zu, %zu]", m ? ", " : "", hv.tmarks[m].start, hv.tmarks[m].end);
    printf("]");
    for (size_t f = 0; f < hv.n_frag; f++) {
        const kz_snippet *sn = &hv.frag[f];
        if (f == 0)
            printf(", \"snippet\": ");
        else if (f == 1)
            printf(", \"more_snippets\": [");
        else
            printf(", ");
        if (f > 0)
            printf("{\"snippet\": ");
        json_string(stdout, hv.text + sn->start, sn->end - sn->start);
        const char *pre = f == 0 ? "snippet_" : "";
        printf(", \"%sstart\": %zu, \"%send\": %zu, \"cut_before\": %s, \"cut_after\": %s, \"highlights\": [",
               pre, sn->start, pre, sn->end, sn->cut_before ? "true" : "false", sn->cut_after ? "true" : "false");
        for (size_t m = 0; m < sn->n_marks; m++)
            printf("%s{\"snippet\": [%zu, %zu], \"text\": [%zu, %zu]}", m ? ", " : "",
                   sn->marks[m].start - sn->start, sn->marks[m].end - sn->start, sn->marks[m].start,
                   sn->marks[m].end);
        printf("]%s", f > 0 ? "}" : "");
    }
    if (hv.n_frag > 1)
        printf("]");
    if (v->explain) {
        kz_explanation x;
        if ((rc = kz_results_explain(&x, ix, r, i)))
            goto done;
        printf(", \"explain\": {\"score\": %.17g, \"dl\": %u, \"avgdl\": %.17g, \"k1\": %.17g, \"b\": %.17g, "
               "\"units\": [",
               x.score, x.dl, x.avgdl, x.k1, x.b);
        for (size_t u = 0; u < x.n_units; u++) {
            char name[512];
            unit_text(name, sizeof name, kz_results_unit(r, u));
            printf("%s{\"unit\": ", u ? ", " : "");
            json_cstr(stdout, name);
            printf(", \"idf\": %.17g, \"tf\": %u, \"weight\": %.17g}", x.units[u].idf, x.units[u].tf,
                   x.units[u].weight);
        }
        printf("]}");
        kz_explanation_free(&x);
    }
    printf("}");
done:
    hit_view_free(&hv);
    return rc;
}

static int show_hit(kz_index *ix, const kz_results *r, size_t i, size_t rank, const search_view *v)
{
    hit_view hv;
    int rc = hit_view_load(&hv, ix, r, i, v);
    if (rc)
        goto done;
    printf("\n%s%zu.%s ", v->bold.on, rank, v->bold.off);
    fputs(v->bold.on, stdout);
    if (hv.d.title_len)
        put_marked(hv.d.title, 0, hv.d.title_len, hv.tmarks, hv.n_tmarks, &v->hl);
    else
        fputs("(untitled)", stdout);
    fputs(v->bold.off, stdout);
    /* Under the title: the url (or the id), then the date and the source,
     * when the document has them. */
    const kz_doc_field *shown[3] = { NULL, NULL, NULL };
    static const char *const keys[3] = { "url", "date", "source" };
    for (size_t m = 0; m < hv.d.n_meta && m < MAX_META; m++)
        for (int k = 0; k < 3; k++)
            if (!shown[k] && hv.meta[m].key_len == strlen(keys[k]) && memcmp(hv.meta[m].key, keys[k], hv.meta[m].key_len) == 0)
                shown[k] = &hv.meta[m];
    printf("  [score %.4f]\n   ", hv.h->score);
    if (shown[0])
        printf("%.*s", (int)KZ_CLI_MIN(shown[0]->value_len, 300), shown[0]->value);
    else
        printf("%.*s", (int)hv.d.id_len, hv.d.id);
    for (int k = 1; k < 3; k++)
        if (shown[k])
            printf("  %.*s", (int)KZ_CLI_MIN(shown[k]->value_len, 100), shown[k]->value);
    putchar('\n');
    for (size_t f = 0; f < hv.n_frag; f++) {
        const kz_snippet *sn = &hv.frag[f];
        if (sn->end <= sn->start)
            continue;
        fputs("   ", stdout);
        if (sn->cut_before)
            fputs("…", stdout);
        put_marked(hv.text, sn->start, sn->end, sn->marks, sn->n_marks, &v->hl);
        if (sn->cut_after)
            fputs("…", stdout);
        putchar('\n');
    }
    if (v->explain) {
        kz_explanation x;
        if ((rc = kz_results_explain(&x, ix, r, i)))
            goto done;
        printf("   score %.17g = sum of w over %zu unit%s; dl %u, avgdl %.4f, k1 %g, b %g\n", x.score,
               x.n_units, x.n_units == 1 ? "" : "s", x.dl, x.avgdl, x.k1, x.b);
        for (size_t u = 0; u < x.n_units; u++) {
            char name[512];
            unit_text(name, sizeof name, kz_results_unit(r, u));
            if (x.units[u].tf)
                printf("     %-24s idf %.6f  tf %-4u w = idf*tf/(tf+k1*(1-b+b*dl/avgdl)) = %.6f\n", name,
                       x.units[u].idf, x.units[u].tf, x.units[u].weight);
            else
                printf("     %-24s idf %.6f  tf 0    (absent)\n", name, x.units[u].idf);
        }
        kz_explanation_free(&x);
    }
done:
    hit_view_free(&hv);
    return rc;
}

#define DEFAULT_TIMEOUT 10.0 /* seconds: no ordinary query comes near it */

/* The name a facet is shown under: its field, and the kind of a date
 * facet ("date:month"). */
static const char *optarg_facet_name(const kz_facet_spec *f, const char *field)
{
    static char name[300];
    static const char *const kinds[] = { "", ":year", ":month", ":day" };
    snprintf(name, sizeof name, "%s%s", field, kinds[f->kind]);
    return name;
}

int cmd_search(int argc, char **argv)
{
    static const struct option opts[] = {
        { "timeout", required_argument, 0, 'T' },
        { "index", required_argument, 0, 'i' }, { "limit", required_argument, 0, 'n' },
        { "offset", required_argument, 0, 'O' }, { "any", no_argument, 0, 'A' },
        { "all", no_argument, 0, 'L' }, { "k1", required_argument, 0, 'k' },
        { "b", required_argument, 0, 'b' }, { "color", required_argument, 0, 'c' },
        { "snippet-chars", required_argument, 0, 's' }, { "fragments", required_argument, 0, 'f' },
        { "json", no_argument, 0, 'j' }, { "explain", no_argument, 0, 'x' },
        { "count", no_argument, 0, 'C' }, { "ids", no_argument, 0, 'l' },
        { "since", required_argument, 0, 'S' }, { "until", required_argument, 0, 'U' },
        { "date-field", required_argument, 0, 'D' }, { "facet", required_argument, 0, 'F' },
        { "sort", required_argument, 0, 'R' }, { "strict", no_argument, 0, 'X' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    kz_search_options so = KZ_SEARCH_OPTIONS_INIT;
    so.timeout = DEFAULT_TIMEOUT;
    const char *index_opt = NULL, *color = "auto", *since = NULL, *until = NULL, *date_field = "date";
    int count_only = 0, ids_only = 0, strict = 0;
    kz_facet_spec facets[16];
    char *facet_names[16];
    size_t n_facets = 0;
    search_view v = { 0 };
    v.fragments = 1;
    v.snippet_chars = 200;
    int c;
    while ((c = getopt_long(argc, argv, "n:lh", opts, NULL)) != -1) {
        switch (c) {
        case 'i': index_opt = optarg; break;
        case 'T': so.timeout = timeout_option(optarg); break;
        case 'n':
            so.limit = (uint32_t)int_option("--limit", optarg, 0, 1000000);
            count_only = so.limit == 0;
            break;
        case 'C': count_only = 1; break;
        case 'l': ids_only = 1; break;
        case 'S': since = optarg; break;
        case 'U': until = optarg; break;
        case 'D': date_field = optarg; break;
        case 'R':
            if (strcmp(optarg, "score") == 0) {
                so.sort_field = NULL;
            } else {
                so.sort_descending = optarg[0] == '-';
                so.sort_field = optarg + (optarg[0] == '-' || optarg[0] == '+');
                if (!*so.sort_field)
                    die_usage("bad --sort '%s' (score, date, -date, FIELD or -FIELD)", optarg);
            }
            break;
        case 'F': {
            if (n_facets == 16)
                die_usage("at most 16 --facet");
            kz_facet_spec *f = &facets[n_facets];
            memset(f, 0, sizeof *f);
            char *spec = strdup(optarg), *part, *save = NULL;
            if (!spec)
                return fail(KZ_ENOMEM);
            facet_names[n_facets++] = spec;
            f->field = strtok_r(spec, ":", &save);
            if (!f->field)
                die_usage("bad --facet '%s' (FIELD[:year|:month|:day][:N])", optarg);
            while ((part = strtok_r(NULL, ":", &save))) {
                if (strcmp(part, "year") == 0)
                    f->kind = KZ_FACET_YEAR;
                else if (strcmp(part, "month") == 0)
                    f->kind = KZ_FACET_MONTH;
                else if (strcmp(part, "day") == 0)
                    f->kind = KZ_FACET_DAY;
                else
                    f->limit = (uint32_t)int_option("--facet's count", part, 1, 100000);
            }
            break;
        }
        case 'O': so.offset = (uint32_t)int_option("--offset", optarg, 0, 100000000); break;
        case 'A': so.mode = KZ_MODE_ANY; break;
        case 'L': so.mode = KZ_MODE_ALL; break;
        case 'X': strict = 1; break;
        case 'k':
        case 'b': bm25_option(&so, c, optarg); break;
        case 'c':
            if (strcmp(optarg, "auto") && strcmp(optarg, "always") && strcmp(optarg, "never"))
                die_usage("bad --color '%s' (auto, always or never)", optarg);
            color = optarg;
            break;
        case 's': v.snippet_chars = (size_t)int_option("--snippet-chars", optarg, 20, 100000); break;
        case 'f': v.fragments = (size_t)int_option("--fragments", optarg, 1, 16); break;
        case 'j': v.json = 1; break;
        case 'x': v.explain = 1; break;
        case 'h': cli_help_exit();
        default: die_usage("bad option");
        }
    }
    if (optind >= argc && !since && !until)
        die_usage("search needs a QUERY");
    if (count_only) {
        so.flags |= KZ_SEARCH_COUNT_ONLY;
        so.limit = 0;
    }
    so.facets = facets;
    so.n_facets = n_facets;
    char *query = optind < argc ? join_args(argc, argv, optind) : strdup("");
    if (!query)
        return fail(KZ_ENOMEM);
    /* --since and --until are field clauses beside the query, which goes
     * in parentheses first: columns past it are theirs. */
    char *parsed = NULL;
    size_t user_len = strlen(query);
    if ((since || until) &&
        asprintf(&parsed, "%s%s%s %s%s%s %s%s%s", *query ? "(" : "", query, *query ? ")" : "", since ? date_field : "",
                 since ? ">=" : "", since ? since : "", until ? date_field : "", until ? "<=" : "",
                 until ? until : "") < 0) {
        free(query);
        return fail(KZ_ENOMEM);
    }
    int use_color = !v.json && (strcmp(color, "always") == 0 ||
                                (strcmp(color, "auto") == 0 && isatty(1) && !getenv("NO_COLOR")));
    v.hl = (style){ use_color ? "\033[1;31m" : "", use_color ? "\033[0m" : "" };
    v.bold = (style){ use_color ? "\033[1m" : "", use_color ? "\033[0m" : "" };

    int sample, status = EXIT_ERROR;
    char *dir = resolve_index(index_opt, &sample);
    kz_index *ix = NULL;
    kz_query *q = NULL;
    kz_results *r = NULL;
    kz_syntax_error err;
    if (!dir)
        goto done;
    double t0 = now_seconds();
    int rc = kz_index_open(&ix, dir);
    if (rc) {
        fail(rc);
        if (rc == KZ_ENOTFOUND)
            fprintf(stderr, "kzsearch: build one with 'kzsearch index -o %s SOURCE...'\n", dir);
        goto done;
    }
    /* A syntax error is an error with --strict, and beside --since or
     * --until (whose clauses a plain reading would turn into words). */
    unsigned flags = strict || parsed ? 0 : KZ_QUERY_LENIENT;
    rc = kz_query_parse(&q, ix, parsed ? parsed : query, strlen(parsed ? parsed : query), flags, &err);
    if (rc == KZ_ESYNTAX) {
        if (parsed && err.column > user_len + 2) {
            fprintf(stderr, "kzsearch: bad --since or --until: %s\n", err.message);
        } else {
            if (parsed && *query && err.column > 1)
                err.column--;
            show_syntax_error(query, &err);
        }
        goto done;
    }
    if (parsed && kz_query_note_count(q) && strstr(kz_query_note(q, 0), date_field) &&
        strstr(kz_query_note(q, 0), "is not a field")) {
        fprintf(stderr, "kzsearch: --since and --until need a field '%s' of dates (--date-field NAME)\n",
                date_field);
        goto done;
    }
    if (rc == 0)
        rc = kz_query_run(&r, q, &so);
    double took = (now_seconds() - t0) * 1000.0;
    if (rc) {
        fail(rc);
        if (rc == KZ_ETIMEOUT)
            fprintf(stderr, "kzsearch: give it longer with --timeout SECONDS (0: no limit)\n");
        goto done;
    }
    size_t n = kz_results_count(r);
    uint64_t total = kz_results_total(r);
    uint64_t all_words = kz_results_total_all_words(r);
    /* AUTO without a document that has every word: all hits have some. */
    int fell_back = so.mode == KZ_MODE_AUTO && kz_results_mode(r) == KZ_MODE_ANY && total > 0 && all_words == 0;
    for (size_t i = 0; !v.json && i < kz_query_note_count(q) && (count_only || ids_only); i++)
        fprintf(stderr, "kzsearch: note: %s\n", kz_query_note(q, i));
    if (count_only && !v.json) {
        printf("%" PRIu64 "\n", total);
    } else if (ids_only && !v.json) {
        for (size_t i = 0; i < n; i++) {
            kz_doc d;
            if ((rc = kz_index_doc(ix, &d, kz_results_hit(r, i)->docid, NULL, 0))) {
                fail(rc);
                goto done;
            }
            fwrite(d.id, 1, d.id_len, stdout);
            putchar('\n');
        }
    } else if (v.json) {
        printf("{\"query\": ");
        json_cstr(stdout, query);
        printf(", \"mode\": \"%s\", \"fallback\": %s, \"total\": %" PRIu64 ", \"total_all_words\": %" PRIu64
               ", \"took_ms\": %.3f, \"offset\": %u, \"notes\": [",
               mode_name(kz_results_mode(r)), fell_back ? "true" : "false", total, all_words, took, so.offset);
        for (size_t i = 0; i < kz_query_note_count(q); i++) {
            printf("%s", i ? ", " : "");
            json_cstr(stdout, kz_query_note(q, i));
        }
        printf("], \"hits\": [");
        for (size_t i = 0; i < n; i++)
            if ((rc = show_hit_json(ix, r, i, (size_t)so.offset + i + 1, &v))) {
                fail(rc);
                goto done;
            }
        printf("%s]", n ? "\n  " : "");
        if (n_facets) {
            printf(", \"facets\": {");
            for (size_t f = 0; f < n_facets; f++) {
                printf("%s", f ? ", " : "");
                json_cstr(stdout, optarg_facet_name(&facets[f], facet_names[f]));
                printf(": [");
                for (size_t i = 0; i < kz_results_facet_count(r, f); i++) {
                    size_t len;
                    uint64_t docs;
                    const char *value = kz_results_facet_value(r, f, i, &len, &docs);
                    printf("%s{\"value\": ", i ? ", " : "");
                    json_string(stdout, value, len);
                    printf(", \"docs\": %" PRIu64 "}", docs);
                }
                printf("]");
            }
            printf("}");
        }
        printf("}\n");
    } else {
        for (size_t i = 0; i < kz_query_note_count(q); i++)
            fprintf(stderr, "kzsearch: note: %s\n", kz_query_note(q, i));
        if (fell_back)
            printf("No document has all the words; showing documents with any of them.\n");
        printf("%" PRIu64 " hit%s for \"%s\"", total, total == 1 ? "" : "s", query);
        if (!fell_back && all_words < total)
            printf(", %" PRIu64 " with every word", all_words);
        printf(" (%.2f ms)%s\n", took, sample ? " in the bundled sample articles" : "");
        for (size_t i = 0; i < n; i++) {
            size_t rank = (size_t)so.offset + i + 1;
            if (!fell_back && all_words < total && rank == all_words + 1)
                printf("\n%s-- %" PRIu64 " more with only some of the words --%s\n", v.bold.on, total - all_words,
                       v.bold.off);
            if ((rc = show_hit(ix, r, i, rank, &v))) {
                fail(rc);
                goto done;
            }
        }
    }
    for (size_t f = 0; !v.json && f < n_facets; f++) {
        printf("%s%s:", f == 0 && !count_only && !ids_only ? "\n" : "", optarg_facet_name(&facets[f], facet_names[f]));
        for (size_t i = 0; i < kz_results_facet_count(r, f); i++) {
            size_t len;
            uint64_t docs;
            const char *value = kz_results_facet_value(r, f, i, &len, &docs);
            printf("%s %.*s (%" PRIu64 ")", i ? "," : "", (int)KZ_CLI_MIN(len, 200), value, docs);
        }
        printf("%s\n", kz_results_facet_count(r, f) ? "" : " (none)");
    }
    status = total > 0 ? 0 : 1;
done:
    kz_results_free(r);
    kz_query_free(q);
    kz_index_free(ix);
    free(dir);
    free(query);
    free(parsed);
    for (size_t f = 0; f < n_facets; f++)
        free(facet_names[f]);
    return status;
}

