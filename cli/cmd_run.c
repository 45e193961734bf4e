/*
 * cmd_run.c: kzsearch run: a TREC run of many queries, with each query's
 * latency timed in the process.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* ---------------------------------------------------------------- run */

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* One query's line of the --facets file: its id, its total, and each
 * facet's values as 'kzsearch --json' gives them. */
static void write_facets(FILE *f, const char *qid, const search_spec *facets, const kz_results *r)
{
    fprintf(f, "{\"qid\": ");
    json_cstr(f, qid);
    fprintf(f, ", \"total\": %" PRIu64 ", \"facets\": {", kz_results_total(r));
    for (size_t k = 0; k < facets->n_facets; k++) {
        char name[300];
        fprintf(f, "%s", k ? ", " : "");
        json_cstr(f, search_facet_name(facets, k, name, sizeof name));
        fprintf(f, ": [");
        for (size_t i = 0; i < kz_results_facet_count(r, k); i++) {
            size_t len;
            uint64_t docs;
            const char *value = kz_results_facet_value(r, k, i, &len, &docs);
            fprintf(f, "%s{\"value\": ", i ? ", " : "");
            json_string(f, value, len);
            fprintf(f, ", \"docs\": %" PRIu64 "}", docs);
        }
        fprintf(f, "]");
    }
    fprintf(f, "}}\n");
}

/* kzsearch run --queries FILE.tsv: a TREC run of every query. */
int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "index", required_argument, 0, 'i' }, { "queries", required_argument, 0, 'Q' },
        { "mode", required_argument, 0, 'm' }, { "output", required_argument, 0, 'o' },
        { "latency", required_argument, 0, 'l' }, { "tag", required_argument, 0, 't' },
        { "k1", required_argument, 0, 'K' }, { "b", required_argument, 0, 'b' },
        { "cold", no_argument, 0, 'C' }, { "sort", required_argument, 0, 'R' },
        { "synonyms", required_argument, 0, 'Y' },
        { "since", required_argument, 0, 'S' }, { "until", required_argument, 0, 'U' },
        { "date-field", required_argument, 0, 'D' }, { "facet", required_argument, 0, 'F' },
        { "facets", required_argument, 0, 'J' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    search_spec facets; /* --facet: their specs, as a search reads them */
    search_spec_init(&facets);
    const char *facets_out = NULL;
    kz_search_options so = KZ_SEARCH_OPTIONS_INIT;
    index_list indexes = { { 0 }, 0 };
    const char *synonyms = NULL;
    const char *queries = NULL, *output = NULL, *latency = NULL, *tag = "kzsearch";
    unsigned flags = 0;
    int cold = 0;
    const char *run_since = NULL, *run_until = NULL, *run_date_field = "date";
    so.limit = 1000;
    int c;
    while ((c = getopt_long(argc, argv, "k:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': index_list_add(&indexes, optarg); break;
        case 'Q': queries = optarg; break;
        case 'm':
            if (strcmp(optarg, "and") == 0)
                so.mode = KZ_MODE_ALL;
            else if (strcmp(optarg, "or") == 0)
                so.mode = KZ_MODE_ANY;
            else
                die_usage("bad --mode '%s' (and or or)", optarg);
            flags = KZ_QUERY_PLAIN;
            break;
        case 'k': so.limit = (uint32_t)int_option("-k", optarg, 0, 1000000); break;
        case 'K': bm25_option(&so, 'k', optarg); break;
        case 'b': bm25_option(&so, 'b', optarg); break;
        case 'o': output = optarg; break;
        case 'l': latency = optarg; break;
        case 't': tag = optarg; break;
        case 'C': cold = 1; break;
        case 'Y': synonyms = optarg; break;
        case 'R':
            if (strcmp(optarg, "score") != 0) {
                so.sort_descending = optarg[0] == '-';
                so.sort_field = optarg + (optarg[0] == '-' || optarg[0] == '+');
                if (!*so.sort_field)
                    die_usage("bad --sort '%s' (score, date, -date, FIELD or -FIELD)", optarg);
            }
            break;
        case 'S': run_since = optarg; break;
        case 'U': run_until = optarg; break;
        case 'D': run_date_field = optarg; break;
        case 'F': {
            const char *bad = search_facet_add(&facets, optarg);
            if (bad)
                die_usage("%s: '%s'", bad, optarg);
            break;
        }
        case 'J': facets_out = optarg; break;
        case 'h': cli_help_exit();
        default: die_usage("bad option");
        }
    }
    if ((run_since || run_until) && (flags & KZ_QUERY_PLAIN))
        die_usage("--since and --until need the query language: leave out --mode (queries are then read "
                  "with operators, and run in AND mode falling back to OR)");
    if (facets.n_facets && !facets_out)
        die_usage("--facet needs --facets FILE: a run holds hits only, the facets go to FILE as JSON Lines");
    if (facets_out && !facets.n_facets)
        die_usage("--facets FILE needs at least one --facet FIELD");
    so.facets = facets.facets;
    so.n_facets = facets.n_facets;
    if (so.limit == 0) /* -k 0: the totals and facets alone */
        so.flags |= KZ_SEARCH_COUNT_ONLY;
    if (!queries || optind != argc)
        die_usage("usage: kzsearch run --queries FILE.tsv [--mode and|or] [-k N] [--output RUN] "
                  "[--latency FILE] [--index DIR]");
    int sample, status = EXIT_ERROR, rc;
    char *dir = NULL;
    kz_index *ix = NULL;
    FILE *in = NULL, *out = stdout, *lat = NULL, *fac = NULL;
    char *line = NULL;
    size_t cap = 0, n_queries = 0, lat_cap = 0;
    uint64_t *micros = NULL;
    if ((rc = open_indexes(&ix, &indexes, &sample, &dir)) || (rc = use_synonyms(ix, synonyms)))
        goto done;
    if (!cold && (rc = kz_index_warm(ix))) {
        fail(rc);
        goto done;
    }
    if (!(in = fopen(queries, "r"))) {
        fprintf(stderr, "kzsearch: %s: %s\n", queries, strerror(errno));
        goto done;
    }
    if (output && !(out = fopen(output, "w"))) {
        fprintf(stderr, "kzsearch: %s: %s\n", output, strerror(errno));
        goto done;
    }
    if (latency && !(lat = fopen(latency, "w"))) {
        fprintf(stderr, "kzsearch: %s: %s\n", latency, strerror(errno));
        goto done;
    }
    if (facets_out && !(fac = fopen(facets_out, "w"))) {
        fprintf(stderr, "kzsearch: %s: %s\n", facets_out, strerror(errno));
        goto done;
    }
    ssize_t got;
    size_t line_no = 0, failed = 0;
    while ((got = getline(&line, &cap, in)) != -1) {
        line_no++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = 0;
        if (got == 0)
            continue;
        char *tab = strchr(line, '\t');
        if (!tab) {
            fprintf(stderr, "kzsearch: %s:%zu: no tab between the query id and the query\n", queries, line_no);
            failed++;
            continue;
        }
        *tab = 0;
        const char *qid = line, *text = tab + 1;
        kz_query *q = NULL;
        kz_results *r = NULL;
        kz_syntax_error err;
        double t0 = now_seconds();
        char *narrowed = NULL; /* the query in parentheses, then the date clauses */
        if ((run_since || run_until) &&
            asprintf(&narrowed, "(%s) %s%s%s %s%s%s", text, run_since ? run_date_field : "", run_since ? ">=" : "",
                     run_since ? run_since : "", run_until ? run_date_field : "", run_until ? "<=" : "",
                     run_until ? run_until : "") < 0) {
            rc = fail(KZ_ENOMEM);
            goto done;
        }
        /* Pasted text with a stray quote is searched as plain words, as by
         * 'kzsearch search'; beside --since/--until it stays an error. */
        rc = kz_query_parse(&q, ix, narrowed ? narrowed : text, strlen(narrowed ? narrowed : text),
                            flags | (narrowed ? 0 : KZ_QUERY_LENIENT), &err);
        free(narrowed);
        if (rc == 0)
            rc = kz_query_run(&r, q, &so);
        uint64_t us = (uint64_t)((now_seconds() - t0) * 1e6 + 0.5);
        if (rc) {
            fprintf(stderr, "kzsearch: %s:%zu: query %s: %s\n", queries, line_no, qid, kz_last_error());
            failed++;
        } else {
            for (size_t i = 0; i < kz_results_count(r); i++) {
                const kz_hit *h = kz_results_hit(r, i);
                kz_doc d;
                if ((rc = kz_index_doc(ix, &d, h->docid, NULL, 0))) {
                    fail(rc);
                    kz_results_free(r);
                    kz_query_free(q);
                    goto done;
                }
                fprintf(out, "%s Q0 %.*s %zu %.17g %s\n", qid, (int)d.id_len, d.id, i + 1, h->score, tag);
            }
            if (lat)
                fprintf(lat, "%s\t%" PRIu64 "\n", qid, us);
            if (fac)
                write_facets(fac, qid, &facets, r);
            if (n_queries == lat_cap) {
                lat_cap = lat_cap ? lat_cap * 2 : 1024;
                uint64_t *p = realloc(micros, lat_cap * sizeof *p);
                if (!p) {
                    kz_results_free(r);
                    kz_query_free(q);
                    fail(KZ_ENOMEM);
                    goto done;
                }
                micros = p;
            }
            micros[n_queries++] = us;
        }
        kz_results_free(r);
        kz_query_free(q);
    }
    if (n_queries) {
        qsort(micros, n_queries, sizeof *micros, cmp_u64);
        uint64_t sum = 0;
        for (size_t i = 0; i < n_queries; i++)
            sum += micros[i];
#define PCT(p) micros[(size_t)((double)(n_queries - 1) * (p) + 0.5)]
        fprintf(stderr,
                "kzsearch: %zu queries, top %u, latency us: p50 %" PRIu64 " p90 %" PRIu64 " p99 %" PRIu64
                " max %" PRIu64 ", %.0f queries/s\n",
                n_queries, so.limit, PCT(0.5), PCT(0.9), PCT(0.99), micros[n_queries - 1],
                sum ? (double)n_queries * 1e6 / (double)sum : 0.0);
#undef PCT
    }
    status = failed ? EXIT_SKIPPED : 0;
done:
    if (in)
        fclose(in);
    if (out && out != stdout && fclose(out) != 0) {
        fprintf(stderr, "kzsearch: %s: %s\n", output, strerror(errno));
        status = EXIT_ERROR;
    }
    if (lat && fclose(lat) != 0) {
        fprintf(stderr, "kzsearch: %s: %s\n", latency, strerror(errno));
        status = EXIT_ERROR;
    }
    if (fac && fclose(fac) != 0) {
        fprintf(stderr, "kzsearch: %s: %s\n", facets_out, strerror(errno));
        status = EXIT_ERROR;
    }
    free(line);
    free(micros);
    kz_index_free(ix);
    free(dir);
    return status;
}

