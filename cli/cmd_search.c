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

/* A syntax error with the query and a caret under the column. */
void search_show_syntax_error(const char *query, const kz_syntax_error *err)
{
    fprintf(stderr, "kzsearch: query syntax error at column %u: %s\n  ", err->column, err->message);
    for (const char *p = query; *p; p++)
        fputc(*p == '\n' || *p == '\t' ? ' ' : *p, stderr);
    fputs("\n  ", stderr);
    for (uint32_t i = 1; i < err->column; i++)
        fputc(' ', stderr);
    fputs("^\n", stderr);
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
        { "no-collapse", no_argument, 0, 'N' }, { "remote", required_argument, 0, 'r' },
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
    const char *remotes[REMOTE_MAX];
    size_t n_remotes = 0;
    text_view v;
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
        case 'r':
            if (n_remotes == REMOTE_MAX)
                die_usage("at most %d --remote", REMOTE_MAX);
            remotes[n_remotes++] = optarg;
            break;
        case 'k':
        case 'b': bm25_option(so, c, optarg); break;
        case 'c':
            if (strcmp(optarg, "auto") && strcmp(optarg, "always") && strcmp(optarg, "never"))
                die_usage("bad --color '%s' (auto, always or never)", optarg);
            color = optarg;
            break;
        case 's': sp->snippet_chars = (size_t)int_option("--snippet-chars", optarg, 20, 100000); break;
        case 'f': sp->fragments = (size_t)int_option("--fragments", optarg, 0, 16); break;
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
    int use_color = !json && (strcmp(color, "always") == 0 ||
                              (strcmp(color, "auto") == 0 && isatty(1) && !getenv("NO_COLOR")));
    text_view_init(&v, sp, use_color);
    if (n_remotes) {
        if (indexes.n || synonyms)
            die_usage("--remote searches the machines' indexes: no --index or --synonyms beside it");
        remote_output out = { json, count_only, ids_only, use_color, stdout, stderr };
        remote_error err;
        uint64_t total = 0;
        int status = EXIT_ERROR;
        if (remote_search(sp, remotes, n_remotes, &out, &err, &total) == KZ_OK)
            status = total > 0 ? 0 : 1;
        else if (strcmp(err.kind, "syntax") == 0) {
            kz_syntax_error se = { .column = err.column };
            const char *colon = strstr(err.message, ": ");
            snprintf(se.message, sizeof se.message, "%.199s", colon ? colon + 2 : err.message);
            search_show_syntax_error(query, &se);
        } else {
            fprintf(stderr, "kzsearch: %s\n", err.message);
        }
        free(query);
        free(sp);
        return status;
    }

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
        search_show_syntax_error(query, &res.err);
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
    search_summary sum;
    if ((rc = search_summary_of(&sum, sp, &res))) {
        fail(rc);
        goto done;
    }
    for (size_t i = 0; !json && i < kz_query_note_count(q) && (count_only || ids_only); i++)
        fprintf(stderr, "kzsearch: note: %s\n", kz_query_note(q, i));
    if (count_only && !json) {
        printf("%" PRIu64 "\n", total);
    } else if (ids_only && !json) {
        for (size_t i = 0; i < n && rc == KZ_OK; i++) {
            kz_doc d;
            if ((rc = kz_index_doc(ix, &d, kz_results_hit(r, i)->docid, NULL, 0)))
                break;
            fwrite(d.id, 1, d.id_len, stdout);
            putchar('\n');
        }
    } else if (json) {
        rc = search_json_write(stdout, ix, sp, &res);
    } else {
        for (size_t i = 0; i < kz_query_note_count(q); i++)
            fprintf(stderr, "kzsearch: note: %s\n", kz_query_note(q, i));
        search_text_head(stdout, sp, &sum, &v, sample);
        for (size_t i = 0; i < n && rc == KZ_OK; i++) {
            size_t rank = (size_t)so->offset + i + 1;
            search_text_separator(stdout, &sum, rank, &v);
            if ((rc = search_text_hit(stdout, ix, r, i, rank, &v)))
                break;
            size_t n_similar = kz_results_similar_count(r, i);
            char labels[5][128];
            const char *shown[5];
            for (size_t j = 0; j < n_similar && j < 5 && rc == KZ_OK; j++) {
                rc = search_similar_label(ix, kz_results_similar(r, i, j)->docid, labels[j], sizeof labels[j]);
                shown[j] = labels[j];
            }
            if (rc == KZ_OK)
                search_text_similar(stdout, n_similar, shown);
        }
    }
    if (rc == KZ_OK && !json)
        search_text_facets(stdout, sp, &sum, !count_only && !ids_only);
    search_summary_free(&sum);
    if (rc) {
        fail(rc);
        goto done;
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
