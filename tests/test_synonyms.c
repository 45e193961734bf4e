/*
 * test_synonyms.c: synonym files (query/synonyms.c) and the queries they
 * expand.
 */
#include "kzint.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

static void expect_bad(const char *text, const char *want)
{
    kz_synonyms *s = NULL;
    CHECK_INT(kz_synonyms_parse(&s, text, strlen(text), "names.txt"), KZ_ESYNTAX);
    CHECK_MSG(strstr(kz_last_error(), want) != NULL, "%s: %s, want %s", text, kz_last_error(), want);
    CHECK(s == NULL);
}

static void test_file_errors(void)
{
    expect_bad("Tokayev, Токаев\nAstana\n", "names.txt:2: a group needs two or more entries");
    expect_bad("# names\n\nTokayev,, Токаев\n", "names.txt:3: an empty entry");
    expect_bad("Tokayev, Токаев,\n", "names.txt:1: an empty entry");
    expect_bad("a, b\nc, \xff\n", "names.txt:2: not UTF-8");
    kz_synonyms *s = NULL;
    const char *ok = "# comment\n  \nTokayev, Токаев, Kasym-Jomart Tokayev\r\nAstana, Nur-Sultan, Akmola\n";
    CHECK_OK(kz_synonyms_parse(&s, ok, strlen(ok), "names.txt"));
    kz_synonyms_free(s);
    CHECK_INT(kz_synonyms_load(&s, "/nonexistent/names.txt"), KZ_ENOTFOUND);
}

static const char *const texts[] = {
    "Nur-Sultan was the capital's name from 2019.", /* d0 */
    "Akmola was its name in the 1990s.",            /* d1 */
    "Astana hosted the summit.",                    /* d2 */
    "Grain exports rose.",                          /* d3 */
};

static void ids_of(kz_index *ix, const char *q, char *out, size_t size, char *note, size_t nsize)
{
    out[0] = note[0] = 0;
    kz_query *pq = NULL;
    kz_results *r = NULL;
    kz_syntax_error err;
    CHECK_OK(kz_query_parse(&pq, ix, q, strlen(q), KZ_QUERY_NO_VARIANTS, &err));
    if (!pq)
        return;
    if (kz_query_note_count(pq))
        snprintf(note, nsize, "%s", kz_query_note(pq, 0));
    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
    o.limit = 100;
    CHECK_OK(kz_query_run(&r, pq, &o));
    int seen[4] = { 0 };
    for (size_t i = 0; r && i < kz_results_count(r); i++) {
        kz_doc d;
        CHECK_OK(kz_index_doc(ix, &d, kz_results_hit(r, i)->docid, NULL, 0));
        seen[d.id[1] - '0'] = 1;
    }
    for (int i = 0; i < 4; i++)
        if (seen[i])
            snprintf(out + strlen(out), size - strlen(out), "%sd%d", *out ? " " : "", i);
    kz_results_free(r);
    kz_query_free(pq);
}

static void test_queries_expand(void)
{
    char *dir = kz_test_temp_dir();
    kz_builder *b = NULL;
    CHECK_OK(kz_builder_new(&b, dir, NULL));
    for (size_t i = 0; b && i < 4; i++) {
        char id[4] = { 'd', (char)('0' + i), 0, 0 };
        CHECK_OK(kz_builder_add_document(b, id, 2, "", 0, texts[i], strlen(texts[i]), NULL, 0));
    }
    CHECK_OK(kz_builder_commit(b, NULL));
    kz_builder_free(b);
    kz_index *ix = NULL;
    CHECK_OK(kz_index_open(&ix, dir));
    if (!ix)
        return;
    char got[64], note[300];
    ids_of(ix, "astana", got, sizeof got, note, sizeof note);
    CHECK_STR(got, "d2");
    kz_synonyms *s = NULL;
    const char *file = "Astana, Nur-Sultan, Akmola\n";
    CHECK_OK(kz_synonyms_parse(&s, file, strlen(file), "names.txt"));
    CHECK_OK(kz_index_set_synonyms(ix, s));
    kz_synonyms_free(s); /* the index keeps what it needs */
    /* Each name finds the three; Nur-Sultan is a phrase of two words. */
    ids_of(ix, "astana", got, sizeof got, note, sizeof note);
    CHECK_STR(got, "d0 d1 d2");
    CHECK(strstr(note, "also searched: astana (Nur-Sultan, Akmola)") != NULL);
    ids_of(ix, "Akmola", got, sizeof got, note, sizeof note);
    CHECK_STR(got, "d0 d1 d2");
    /* A word of a several-word entry alone does not expand. */
    ids_of(ix, "sultan", got, sizeof got, note, sizeof note);
    CHECK_STR(got, "d0");
    /* Other words are untouched. */
    ids_of(ix, "grain", got, sizeof got, note, sizeof note);
    CHECK_STR(got, "d3");
    CHECK_STR(note, "");
    /* An entry without words is refused, naming its line. */
    const char *bad = "x, y\nAstana, ---\n";
    CHECK_OK(kz_synonyms_parse(&s, bad, strlen(bad), "bad.txt"));
    CHECK_INT(kz_index_set_synonyms(ix, s), KZ_ESYNTAX);
    CHECK(strstr(kz_last_error(), "bad.txt:2") != NULL);
    kz_synonyms_free(s);
    ids_of(ix, "astana", got, sizeof got, note, sizeof note);
    CHECK_STR(got, "d0 d1 d2"); /* the failed call kept the old ones */
    CHECK_OK(kz_index_set_synonyms(ix, NULL));
    ids_of(ix, "astana", got, sizeof got, note, sizeof note);
    CHECK_STR(got, "d2");
    kz_index_free(ix);
    free(dir);
}

int main(void)
{
    KZ_RUN(test_file_errors);
    KZ_RUN(test_queries_expand);
    return kz_test_finish();
}
