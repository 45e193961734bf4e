/*
 * test_fuzzy.c: words near others (query/fuzzy.c), and the queries that
 * use them: word~ and "did you mean" (KZ_QUERY_SUGGEST).
 *
 * The bounded edit distance is checked against a plain Levenshtein table
 * on random words of a small alphabet, Cyrillic included; the queries on
 * an index of misspelled and correct names.
 */
#include "kzint.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

/* The whole table, no bound. */
static unsigned ref_distance(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    unsigned d[40][40];
    for (size_t i = 0; i <= na; i++)
        d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            unsigned v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < v)
                v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            d[i][j] = v;
        }
    return d[na][nb];
}

static void test_distance_against_reference(void)
{
    uint64_t seed = kz_test_seed(), rng = seed;
    static const uint32_t alphabet[] = { 'a', 'b', 'c', 0x442, 0x43E, 0x49B };
    int bad = 0;
    for (int it = 0; it < 200000 && bad < 5; it++) {
        uint32_t a[30], b[30];
        size_t na = kz_test_rand(&rng) % 12, nb = kz_test_rand(&rng) % 12;
        for (size_t i = 0; i < na; i++)
            a[i] = alphabet[kz_test_rand(&rng) % 6];
        for (size_t i = 0; i < nb; i++)
            b[i] = kz_test_rand(&rng) % 3 ? (i < na ? a[i] : alphabet[0]) : alphabet[kz_test_rand(&rng) % 6];
        unsigned max = (unsigned)(kz_test_rand(&rng) % 4);
        unsigned want = ref_distance(a, na, b, nb), got = kz_edit_distance(a, na, b, nb, max);
        unsigned expect = want <= max ? want : max + 1;
        if (got != expect) {
            fprintf(stderr, "distance %u with bound %u: got %u (seed %llu, iteration %d)\n", want, max, got,
                    (unsigned long long)seed, it);
            bad++;
        }
    }
    CHECK_INT(bad, 0);
    CHECK_INT(kz_fuzzy_edits(2), 0);
    CHECK_INT(kz_fuzzy_edits(3), 1);
    CHECK_INT(kz_fuzzy_edits(5), 1);
    CHECK_INT(kz_fuzzy_edits(6), 2);
    uint32_t cp[4];
    CHECK_INT(kz_utf8_decode_all("тоқ", strlen("тоқ"), cp, 4), 3);
    CHECK(kz_utf8_decode_all("\xff", 1, cp, 4) == SIZE_MAX);
    CHECK(kz_utf8_decode_all("abcde", 5, cp, 4) == SIZE_MAX);
}

static const char *const texts[] = {
    "Tokayev spoke in Astana about grain exports.",
    "Tokayev and the parliament of Kazakhstan.",
    "A profile of Tokayev, the president.",
    "Tokaev, as the visa list spells it.",
    "Nazarbayev founded Astana.",
    "Медведев выступил в Москве.",
    "Медведева нет в списке.",
};

static char *build(void)
{
    char *dir = kz_test_temp_dir();
    kz_builder *b = NULL;
    CHECK_OK(kz_builder_new(&b, dir, NULL));
    for (size_t i = 0; b && i < sizeof texts / sizeof *texts; i++) {
        char id[16];
        snprintf(id, sizeof id, "d%zu", i);
        CHECK_OK(kz_builder_add_document(b, id, strlen(id), "", 0, texts[i], strlen(texts[i]), NULL, 0));
    }
    CHECK_OK(kz_builder_commit(b, NULL));
    kz_builder_free(b);
    return dir;
}

static uint64_t total_of(kz_index *ix, const char *q, unsigned flags, char *note, size_t note_size)
{
    kz_query *pq = NULL;
    kz_results *r = NULL;
    kz_syntax_error err;
    uint64_t total = UINT64_MAX;
    note[0] = 0;
    CHECK_OK(kz_query_parse(&pq, ix, q, strlen(q), flags | KZ_QUERY_NO_VARIANTS, &err));
    if (!pq)
        return total;
    if (kz_query_note_count(pq))
        snprintf(note, note_size, "%s", kz_query_note(pq, 0));
    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
    o.mode = KZ_MODE_ANY;
    CHECK_OK(kz_query_run(&r, pq, &o));
    if (r)
        total = kz_results_total(r);
    kz_results_free(r);
    kz_query_free(pq);
    return total;
}

static void test_word_tilde(void)
{
    char *dir = build();
    kz_index *ix = NULL;
    CHECK_OK(kz_index_open(&ix, dir));
    if (!ix)
        return;
    char note[400];
    /* tokayev~: tokayev (3 documents) and tokaev (one edit away). */
    CHECK_INT(total_of(ix, "tokayev~", 0, note, sizeof note), 4);
    CHECK(strstr(note, "tokayev~ matches 2 terms: tokayev, tokaev") != NULL);
    /* A misspelling finds the name. */
    CHECK_INT(total_of(ix, "tokayef~", 0, note, sizeof note), 4);
    CHECK_INT(total_of(ix, "tokayef", 0, note, sizeof note), 0);
    /* Short words allow one edit; two letters none. */
    CHECK_INT(total_of(ix, "grian~", 0, note, sizeof note), 0); /* a transposition is two edits; 5 letters allow one */
    CHECK_INT(total_of(ix, "grein~", 0, note, sizeof note), 1);
    /* Cyrillic: a misspelled Медведев finds both of its forms (one stem). */
    CHECK_INT(total_of(ix, "Медвидев", 0, note, sizeof note), 0);
    CHECK_INT(total_of(ix, "Медвидев~", 0, note, sizeof note), 2);
    /* Nothing near: no match, no error. */
    CHECK_INT(total_of(ix, "zzzzzzz~", 0, note, sizeof note), 0);
    /* A tilde alone is punctuation. */
    CHECK_INT(total_of(ix, "astana ~", 0, note, sizeof note), 2);
    kz_index_free(ix);
    free(dir);
}

static void test_suggestions(void)
{
    char *dir = build();
    kz_index *ix = NULL;
    CHECK_OK(kz_index_open(&ix, dir));
    if (!ix)
        return;
    static const struct {
        const char *query, *want; /* want NULL: no suggestion */
    } cases[] = {
        { "Tokayv", "tokayev" },
        { "Tokayv astana", "tokayev astana" },
        { "grain exprts", "grain export" },
        { "Tokayev", NULL },         /* every word is known */
        { "qqqqqqq", NULL },         /* nothing near */
        { "\"Tokayv\" astana", NULL }, /* words in phrases are not replaced */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kz_query *q = NULL;
        kz_syntax_error err;
        CHECK_OK(kz_query_parse(&q, ix, cases[i].query, strlen(cases[i].query), KZ_QUERY_SUGGEST, &err));
        if (!q)
            continue;
        const char *s = kz_query_suggestion(q);
        if (cases[i].want)
            CHECK_MSG(s && strcmp(s, cases[i].want) == 0, "%s: suggestion %s, want %s", cases[i].query,
                      s ? s : "(none)", cases[i].want);
        else
            CHECK_MSG(!s, "%s: suggestion %s, want none", cases[i].query, s);
        kz_query_free(q);
        /* Without the flag, none. */
        CHECK_OK(kz_query_parse(&q, ix, cases[i].query, strlen(cases[i].query), 0, &err));
        if (q)
            CHECK(kz_query_suggestion(q) == NULL);
        kz_query_free(q);
    }
    kz_index_free(ix);
    free(dir);
}

int main(void)
{
    KZ_RUN(test_distance_against_reference);
    KZ_RUN(test_word_tilde);
    KZ_RUN(test_suggestions);
    return kz_test_finish();
}
