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

typedef struct search_view {
    int explain;
    size_t fragments, snippet_chars;
    style hl, bold;
} search_view;

static int show_hit(kz_index *ix, const kz_results *r, size_t i, size_t rank, const search_view *v)
{
    hit_view hv;
    int rc = hit_view_load(&hv, ix, r, i, v->fragments, v->snippet_chars);
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
    for (size_t m = 0; m < hv.d.n_meta && m < HIT_VIEW_MAX_META; m++)
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
            search_unit_text(name, sizeof name, kz_results_unit(r, u));
            if (x.units[u].tf)
                printf("     %-24s idf %.6f  tf %-4u w = idf*tf/(tf+k1*(1-b+b*dl/avgdl)) = %.6f\n", name,
                       x.units[u].idf, x.units[u].tf, x.units[u].weight);
            else
                printf("     %-24s idf %.6f  tf 0    (absent)\n", name, x.units[u].idf);
        }
        kz_explanation_free(&x);
    }
    /* Collapsed near-duplicates: "+3 similar: msn.com, yahoo.com, ..." */
    size_t n_similar = kz_results_similar_count(r, i);
    if (n_similar) {
        printf("   +%zu similar:", n_similar);
        for (size_t j = 0; j < n_similar && j < 5; j++) {
            char label[128];
            if ((rc = search_similar_label(ix, kz_results_similar(r, i, j)->docid, label, sizeof label)))
                goto done;
            printf("%s %s", j ? "," : "", label);
        }
        printf("%s\n", n_similar > 5 ? ", ..." : "");
    }
done:
    hit_view_free(&hv);
    return rc;
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
        { "synonyms", required_argument, 0, 'Y' },
        { "no-collapse", no_argument, 0, 'N' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    search_spec *sp = malloc(sizeof *sp);
    if (!sp)
        return fail(KZ_ENOMEM);
    search_spec_init(sp);
    kz_search_options *so = &sp->so;
    index_list indexes = { { 0 }, 0 };
    const char *color = "auto", *bad, *synonyms = NULL;
    int count_only = 0, ids_only = 0, json = 0;
    search_view v = { 0 };
    int c;
    while ((c = getopt_long(argc, argv, "n:lh", opts, NULL)) != -1) {
        switch (c) {
        case 'i': index_list_add(&indexes, optarg); break;
        case 'T': so->timeout = timeout_option(optarg); break;
        case 'n':
            so->limit = (uint32_t)int_option("--limit", optarg, 0, 1000000);
            count_only = so->limit == 0;
            break;
        case 'C': count_only = 1; break;
        case 'l': ids_only = 1; break;
        case 'S': sp->since = optarg; break;
        case 'U': sp->until = optarg; break;
        case 'D': sp->date_field = optarg; break;
        case 'R':
            if ((bad = search_sort_set(sp, optarg)))
                die_usage("bad --sort '%s' (score, date, -date, FIELD or -FIELD)", optarg);
            break;
        case 'F':
            if ((bad = search_facet_add(sp, optarg))) {
                if (sp->n_facets == SEARCH_MAX_FACETS)
                    die_usage("at most 16 --facet");
                die_usage("bad --facet '%s': %s", optarg, bad);
            }
            break;
        case 'O': so->offset = (uint32_t)int_option("--offset", optarg, 0, 100000000); break;
        case 'A': so->mode = KZ_MODE_ANY; break;
        case 'L': so->mode = KZ_MODE_ALL; break;
        case 'X': sp->strict = 1; break;
        case 'Y': synonyms = optarg; break;
        case 'N': so->flags |= KZ_SEARCH_NO_COLLAPSE; break;
        case 'k':
        case 'b': bm25_option(so, c, optarg); break;
        case 'c':
            if (strcmp(optarg, "auto") && strcmp(optarg, "always") && strcmp(optarg, "never"))
                die_usage("bad --color '%s' (auto, always or never)", optarg);
            color = optarg;
            break;
        case 's': sp->snippet_chars = (size_t)int_option("--snippet-chars", optarg, 20, 100000); break;
        case 'f': sp->fragments = (size_t)int_option("--fragments", optarg, 1, 16); break;
        case 'j': json = 1; break;
        case 'x': sp->explain = 1; break;
        case 'h': cli_help_exit();
        default: die_usage("bad option");
        }
    }
    if (optind >= argc && !sp->since && !sp->until)
        die_usage("search needs a QUERY");
    if (count_only) {
        so->flags |= KZ_SEARCH_COUNT_ONLY;
        so->limit = 0;
    }
    char *query = optind < argc ? join_args(argc, argv, optind) : strdup("");
    if (!query) {
        free(sp);
        return fail(KZ_ENOMEM);
    }
    sp->query = query;
    v.explain = sp->explain;
    v.fragments = sp->fragments;
    v.snippet_chars = sp->snippet_chars;
    int use_color = !json && (strcmp(color, "always") == 0 ||
                              (strcmp(color, "auto") == 0 && isatty(1) && !getenv("NO_COLOR")));
    v.hl = (style){ use_color ? "\033[1;31m" : "", use_color ? "\033[0m" : "" };
    v.bold = (style){ use_color ? "\033[1m" : "", use_color ? "\033[0m" : "" };

    int sample, status = EXIT_ERROR;
    char *dir = NULL;
    kz_index *ix = NULL;
    search_result res = { 0 };
    sp->started = now_seconds();
    int rc = open_indexes(&ix, &indexes, &sample, &dir);
    if (rc || (rc = use_synonyms(ix, synonyms)))
        goto done;
    rc = search_run(&res, ix, sp);
    if (rc == KZ_ESYNTAX && res.error == SEARCH_BAD_DATES) {
        fprintf(stderr, "kzsearch: bad --since or --until: %s\n", res.err.message);
        goto done;
    }
    if (rc == KZ_ESYNTAX && res.error == SEARCH_BAD_QUERY) {
        show_syntax_error(query, &res.err);
        goto done;
    }
    if (rc == KZ_ESYNTAX && res.error == SEARCH_NO_DATE_FIELD) {
        fprintf(stderr, "kzsearch: --since and --until need a field '%s' of dates (--date-field NAME)\n",
                sp->date_field);
        goto done;
    }
    if (rc) {
        fail(rc);
        if (rc == KZ_ETIMEOUT)
            fprintf(stderr, "kzsearch: give it longer with --timeout SECONDS (0: no limit)\n");
        goto done;
    }
    kz_query *q = res.q;
    kz_results *r = res.r;
    size_t n = kz_results_count(r);
    uint64_t total = kz_results_total(r);
    uint64_t all_words = kz_results_total_all_words(r);
    uint64_t all_words_hits = kz_results_all_words_hits(r); /* the rank boundary, near-duplicates collapsed */
    /* AUTO without a document that has every word: all hits have some. */
    int fell_back = search_fell_back(sp, &res);
    for (size_t i = 0; !json && i < kz_query_note_count(q) && (count_only || ids_only); i++)
        fprintf(stderr, "kzsearch: note: %s\n", kz_query_note(q, i));
    if (count_only && !json) {
        printf("%" PRIu64 "\n", total);
    } else if (ids_only && !json) {
        for (size_t i = 0; i < n; i++) {
            kz_doc d;
            if ((rc = kz_index_doc(ix, &d, kz_results_hit(r, i)->docid, NULL, 0))) {
                fail(rc);
                goto done;
            }
            fwrite(d.id, 1, d.id_len, stdout);
            putchar('\n');
        }
    } else if (json) {
        if ((rc = search_json_write(stdout, ix, sp, &res))) {
            fail(rc);
            goto done;
        }
    } else {
        for (size_t i = 0; i < kz_query_note_count(q); i++)
            fprintf(stderr, "kzsearch: note: %s\n", kz_query_note(q, i));
        if (res.suggestion)
            printf("Did you mean: %s%s%s\n", v.bold.on, res.suggestion, v.bold.off);
        if (fell_back)
            printf("No document has all the words; showing documents with any of them.\n");
        printf("%" PRIu64 " hit%s for \"%s\"", total, total == 1 ? "" : "s", query);
        if (!fell_back && all_words < total)
            printf(", %" PRIu64 " with every word", all_words);
        printf(" (%.2f ms)%s\n", res.took_ms, sample ? " in the bundled sample articles" : "");
        for (size_t i = 0; i < n; i++) {
            size_t rank = (size_t)so->offset + i + 1;
            if (!fell_back && all_words < total && rank == all_words_hits + 1)
                printf("\n%s-- %" PRIu64 " more with only some of the words --%s\n", v.bold.on, total - all_words,
                       v.bold.off);
            if ((rc = show_hit(ix, r, i, rank, &v))) {
                fail(rc);
                goto done;
            }
        }
    }
    for (size_t f = 0; !json && f < sp->n_facets; f++) {
        char name[300];
        printf("%s%s:", f == 0 && !count_only && !ids_only ? "\n" : "", search_facet_name(sp, f, name, sizeof name));
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
    search_result_free(&res);
    kz_index_free(ix);
    free(dir);
    free(query);
    free(sp);
    return status;
}
