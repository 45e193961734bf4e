/*
 * search.c: one search as the command and the server make it: the user's
 * query with the clauses of --since and --until beside it, parsed (lenient
 * unless strict), run, and its errors told apart so that each front end can
 * show them its own way (a caret on the terminal, a 400 over HTTP).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

void search_spec_init(search_spec *s)
{
    memset(s, 0, sizeof *s);
    kz_search_options so = KZ_SEARCH_OPTIONS_INIT;
    s->so = so;
    s->so.timeout = DEFAULT_TIMEOUT;
    s->query = "";
    s->date_field = "date";
    s->fragments = 1;
    s->snippet_chars = 200;
}

const char *search_facet_add(search_spec *s, const char *text)
{
    if (s->n_facets == SEARCH_MAX_FACETS)
        return "too many facets (at most 16)";
    size_t len = strlen(text);
    if (len == 0 || len >= sizeof s->facet_text[0])
        return "bad facet (FIELD[:year|:month|:day][:N])";
    char *spec = s->facet_text[s->n_facets];
    memcpy(spec, text, len + 1);
    kz_facet_spec *f = &s->facets[s->n_facets];
    memset(f, 0, sizeof *f);
    char *part, *save = NULL;
    f->field = strtok_r(spec, ":", &save);
    if (!f->field)
        return "bad facet (FIELD[:year|:month|:day][:N])";
    while ((part = strtok_r(NULL, ":", &save))) {
        if (strcmp(part, "year") == 0) {
            f->kind = KZ_FACET_YEAR;
        } else if (strcmp(part, "month") == 0) {
            f->kind = KZ_FACET_MONTH;
        } else if (strcmp(part, "day") == 0) {
            f->kind = KZ_FACET_DAY;
        } else {
            char *end;
            long n = strtol(part, &end, 10);
            if (*end || end == part || n < 1 || n > 100000)
                return "bad facet count (1 to 100000)";
            f->limit = (uint32_t)n;
        }
    }
    s->n_facets++;
    return NULL;
}

const char *search_facet_name(const search_spec *s, size_t i, char *buf, size_t size)
{
    static const char *const kinds[] = { "", ":year", ":month", ":day" };
    snprintf(buf, size, "%s%s", s->facets[i].field, kinds[s->facets[i].kind]);
    return buf;
}

const char *search_sort_set(search_spec *s, const char *arg)
{
    if (strcmp(arg, "score") == 0) {
        s->so.sort_field = NULL;
        s->so.sort_descending = 0;
        return NULL;
    }
    s->so.sort_descending = arg[0] == '-';
    s->so.sort_field = arg + (arg[0] == '-' || arg[0] == '+');
    if (!*s->so.sort_field) {
        s->so.sort_field = NULL;
        return "bad sort (score, date, -date, FIELD or -FIELD)";
    }
    return NULL;
}

void search_result_free(search_result *res)
{
    if (!res)
        return;
    kz_results_free(res->r);
    kz_query_free(res->q);
    free(res->suggestion);
    res->r = NULL;
    res->q = NULL;
    res->suggestion = NULL;
}

/* Whether the results lack a word: a scoring unit the index does not have
 * (idf 0), or no match at all. */
static int lacks_a_word(const kz_results *r)
{
    if (kz_results_total(r) == 0)
        return 1;
    for (size_t i = 0; i < kz_results_unit_count(r); i++)
        if (kz_results_unit(r, i)->idf == 0)
            return 1;
    return 0;
}

int search_text(const search_spec *s, const char **text, char **owned, unsigned *flags)
{
    const char *query = s->query;
    const char *since = s->since && *s->since ? s->since : NULL;
    const char *until = s->until && *s->until ? s->until : NULL;
    *owned = NULL;
    /* since and until are field clauses beside the query, which goes in
     * parentheses first: columns past it are theirs. */
    if ((since || until) &&
        asprintf(owned, "%s%s%s %s%s%s %s%s%s", *query ? "(" : "", query, *query ? ")" : "",
                 since ? s->date_field : "", since ? ">=" : "", since ? since : "",
                 until ? s->date_field : "", until ? "<=" : "", until ? until : "") < 0) {
        *owned = NULL;
        return KZ_ENOMEM;
    }
    /* A syntax error is an error when strict, and beside since or until
     * (whose clauses a plain reading would turn into words). */
    *flags = s->strict || *owned ? 0 : KZ_QUERY_LENIENT;
    *text = *owned ? *owned : query;
    return KZ_OK;
}

/* Tells a syntax error of the user's query from one of since or until. */
static void syntax_error_of(search_result *res, const search_spec *s, int composed)
{
    size_t user_len = strlen(s->query);
    if (composed && res->err.column > user_len + 2) {
        res->error = SEARCH_BAD_DATES;
    } else {
        res->error = SEARCH_BAD_QUERY;
        if (composed && *s->query && res->err.column > 1)
            res->err.column--;
    }
}

static int parse(kz_query **q, kz_index *ix, const search_spec *s, const char *text, unsigned flags,
                 kz_syntax_error *err)
{
    return s->global ? kz_query_parse_global(q, ix, text, strlen(text), flags, s->global, err)
                     : kz_query_parse(q, ix, text, strlen(text), flags, err);
}

int search_gather(kz_stats **out, search_result *res, kz_index *ix, const search_spec *s)
{
    memset(res, 0, sizeof *res);
    const char *text;
    char *owned;
    unsigned flags;
    int rc = search_text(s, &text, &owned, &flags);
    if (rc)
        return rc;
    rc = kz_stats_gather(out, ix, text, strlen(text), flags, s->so.sort_field, &res->err);
    if (rc == KZ_ESYNTAX)
        syntax_error_of(res, s, owned != NULL);
    free(owned);
    return rc;
}

int search_run(search_result *res, kz_index *ix, const search_spec *s)
{
    memset(res, 0, sizeof *res);
    double t0 = s->started ? s->started : now_seconds();
    const char *query = s->query;
    const char *text;
    char *parsed = NULL;
    unsigned flags;
    int rc = search_text(s, &text, &parsed, &flags);
    if (rc)
        goto done;
    rc = parse(&res->q, ix, s, text, flags, &res->err);
    if (rc == KZ_ESYNTAX) {
        syntax_error_of(res, s, parsed != NULL);
        goto done;
    }
    if (rc)
        goto done;
    if (parsed && kz_query_note_count(res->q) && strstr(kz_query_note(res->q, 0), s->date_field) &&
        strstr(kz_query_note(res->q, 0), "is not a field")) {
        res->error = SEARCH_NO_DATE_FIELD;
        rc = KZ_ESYNTAX;
        goto done;
    }
    kz_search_options so = s->so;
    so.facets = s->facets;
    so.n_facets = s->n_facets;
    rc = kz_query_run(&res->r, res->q, &so);
    res->took_ms = (now_seconds() - t0) * 1000.0;
    if (rc == KZ_OK && *query && lacks_a_word(res->r)) {
        /* "Did you mean": parsed again, only now, so that a query whose
         * words the index has costs nothing more. */
        kz_query *again = NULL;
        kz_syntax_error err;
        if (parse(&again, ix, s, query, (s->strict ? 0 : KZ_QUERY_LENIENT) | KZ_QUERY_SUGGEST, &err) == KZ_OK &&
            kz_query_suggestion(again) && !(res->suggestion = strdup(kz_query_suggestion(again))))
            rc = KZ_ENOMEM;
        kz_query_free(again);
    }
done:
    free(parsed);
    return rc;
}
