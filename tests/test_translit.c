/*
 * test_translit.c: spellings in the other script (query/translit.c), and
 * the queries that use them (query/parse.c, word_variants).
 *
 * The names are real ones of the news, with the spellings the press uses;
 * each must find the others in a mixed index, and nothing must change in
 * an index without Cyrillic terms.
 */
#include "kzint.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct spellings {
    char v[KZ_TRANSLIT_MAX][300];
    size_t n;
} spellings;

static int collect(void *ctx, const char *s, size_t len)
{
    spellings *sp = ctx;
    if (sp->n < KZ_TRANSLIT_MAX && len < sizeof sp->v[0]) {
        memcpy(sp->v[sp->n], s, len);
        sp->v[sp->n++][len] = 0;
    }
    return KZ_OK;
}

static int has(const spellings *sp, const char *s)
{
    for (size_t i = 0; i < sp->n; i++)
        if (strcmp(sp->v[i], s) == 0)
            return 1;
    return 0;
}

static spellings spell(const char *w)
{
    spellings sp = { { { 0 } }, 0 };
    CHECK_OK(kz_translit(w, strlen(w), collect, &sp));
    return sp;
}

#define CHECK_SPELLS(word, want)                                                        \
    do {                                                                                \
        spellings sp_ = spell(word);                                                    \
        CHECK_MSG(has(&sp_, want), "%s: no spelling %s among %zu", word, want, sp_.n); \
    } while (0)

static void test_cyrillic_to_latin(void)
{
    CHECK_SPELLS("токаев", "tokayev"); /* BGN/PCGN: е after a vowel is ye */
    CHECK_SPELLS("токаев", "tokaev");  /* the passport scheme */
    CHECK_SPELLS("назарбаев", "nazarbayev");
    CHECK_SPELLS("назарбаев", "nazarbaev");
    CHECK_SPELLS("шойгу", "shoygu");
    CHECK_SPELLS("медведев", "medvedev");
    CHECK_SPELLS("лавров", "lavrov");
    CHECK_SPELLS("сергей", "sergey");
    CHECK_SPELLS("сергей", "sergei");
    CHECK_SPELLS("хабаровск", "khabarovsk");
    CHECK_SPELLS("щукин", "shchukin");
    CHECK_SPELLS("юрий", "yuriy");
    CHECK_SPELLS("юрий", "iurii");
    /* Kazakh letters: the Kazakh Latin alphabet too. */
    CHECK_SPELLS("тоқаев", "toqaev");
    CHECK_SPELLS("қазақстан", "qazaqstan");
    CHECK_SPELLS("қазақстан", "kazakstan");
    /* Not a word of one script: nothing. */
    CHECK_INT(spell("tокаев").n, 0); /* a Latin t among Cyrillic letters */
    CHECK_INT(spell("東京").n, 0);
    CHECK_INT(spell("я").n, 0);   /* one letter */
    CHECK_INT(spell("ток").n, 0); /* under four */
    CHECK_INT(spell("in").n, 0);
}

static void test_latin_to_cyrillic(void)
{
    CHECK_SPELLS("tokayev", "токаев");
    CHECK_SPELLS("tokaev", "токаев");
    CHECK_SPELLS("nazarbayev", "назарбаев");
    CHECK_SPELLS("zelensky", "зеленскы"); /* y after a consonant is ы; its stem is зеленский's */
    CHECK_SPELLS("shoigu", "шойгу");
    CHECK_SPELLS("khabarovsk", "хабаровск");
    CHECK_SPELLS("vasilyev", "васильев"); /* ye after a consonant: ье */
    CHECK_SPELLS("yel'tsin", "ельцин"); /* an apostrophe is a soft sign; without one it is lost */
    CHECK_SPELLS("sergei", "сергей");
    CHECK_SPELLS("qazaqstan", "қазақстан"); /* q: the Kazakh Latin alphabet */
    CHECK_SPELLS("astana", "астана");
    /* Never more than KZ_TRANSLIT_MAX, and letters no scheme writes give
     * nothing. */
    CHECK(spell("yeyeyeyeyeyeyeyeyeyeye").n <= KZ_TRANSLIT_MAX);
    CHECK_INT(spell("café").n, 0);
    CHECK_INT(spell("a1b2").n, 0);
    char longword[200];
    memset(longword, 'a', 150);
    longword[150] = 0;
    CHECK_INT(spell(longword).n, 0); /* over KZ_TRANSLIT_WORD_MAX */
    /* A word that cannot be read to its end (a digit last) after 63 e's,
     * each е or э: its readings fail once a place, not 2^63 times (this
     * hung before; fuzz_http found it in a query). And one that can. */
    memset(longword, 'e', 63);
    longword[63] = '0';
    longword[64] = 0;
    CHECK_INT(spell(longword).n, 0);
    longword[63] = 0;
    CHECK(spell(longword).n >= 1 && spell(longword).n <= KZ_TRANSLIT_MAX);
}

static const struct {
    const char *id, *text;
} docs[] = {
    { "en-1", "President Tokayev met the delegation in Astana." },
    { "en-2", "Tokaev, the passport spelling, appears in visa lists." },
    { "ru-1", "Президент Токаев провёл встречу в Астане." },
    { "ru-2", "Встреча Токаева с делегацией прошла в Астане." },
    { "kk-1", "Тоқаев Астанада сөз сөйледі." },
    { "kk-2", "Toqaev Astanada söz söiledi." },
    { "en-3", "Nazarbayev resigned in March 2019." },
    { "ru-3", "Назарбаев ушёл в отставку." },
    { "en-4", "A report on wheat and grain prices." },
    { "ru-5", "Делегация из Києва прибыла в Москву, и переговоры о поставках зерна прошли успешно." },
};

/* Kazakh documents (lang "kk"): their words of the Russian alphabet are not
 * stemmed as Russian. */
static const struct {
    const char *id, *lang, *text;
} kazakh_docs[] = {
    { "kk-3", "kk", "Президент Астанада болды." },
    { "ru-4", "ru", "Президент был в Астане." },
};

static char *build(const char **texts_only)
{
    char *dir = kz_test_temp_dir();
    kz_builder *b = NULL;
    CHECK_OK(kz_builder_new(&b, dir, NULL));
    for (size_t i = 0; b && i < sizeof docs / sizeof *docs; i++) {
        if (texts_only && strncmp(docs[i].id, texts_only[0], 2) != 0)
            continue;
        CHECK_OK(kz_builder_add_document(b, docs[i].id, strlen(docs[i].id), "", 0, docs[i].text,
                                         strlen(docs[i].text), NULL, 0));
    }
    for (size_t i = 0; b && !texts_only && i < sizeof kazakh_docs / sizeof *kazakh_docs; i++) {
        kz_doc_field lang = { "lang", 4, kazakh_docs[i].lang, strlen(kazakh_docs[i].lang) };
        CHECK_OK(kz_builder_add_document(b, kazakh_docs[i].id, strlen(kazakh_docs[i].id), "", 0, kazakh_docs[i].text,
                                         strlen(kazakh_docs[i].text), &lang, 1));
    }
    CHECK_OK(kz_builder_commit(b, NULL));
    kz_builder_free(b);
    return dir;
}

/* The ids q finds, sorted, joined by spaces; and its notes. */
static void ids_of(kz_index *ix, const char *q, unsigned flags, char *out, size_t size, char *notes, size_t nsize)
{
    out[0] = notes[0] = 0;
    kz_query *pq = NULL;
    kz_results *r = NULL;
    kz_syntax_error err;
    CHECK_OK(kz_query_parse(&pq, ix, q, strlen(q), flags, &err));
    if (!pq)
        return;
    for (size_t i = 0; i < kz_query_note_count(pq); i++)
        snprintf(notes + strlen(notes), nsize - strlen(notes), "%s;", kz_query_note(pq, i));
    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
    o.mode = KZ_MODE_ANY;
    o.limit = 100;
    CHECK_OK(kz_query_run(&r, pq, &o));
    char ids[32][16];
    size_t n = 0;
    for (size_t i = 0; r && i < kz_results_count(r) && n < 32; i++) {
        kz_doc d;
        CHECK_OK(kz_index_doc(ix, &d, kz_results_hit(r, i)->docid, NULL, 0));
        snprintf(ids[n++], sizeof ids[0], "%.*s", (int)d.id_len, d.id);
    }
    qsort(ids, n, sizeof ids[0], (int (*)(const void *, const void *))strcmp);
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? " " : "", ids[i]);
    kz_results_free(r);
    kz_query_free(pq);
}

static void test_queries_find_every_spelling(void)
{
    char *dir = build(NULL);
    kz_index *ix = NULL;
    CHECK_OK(kz_index_open(&ix, dir));
    if (!ix)
        return;
    /* check analyses each Kazakh document as the builder did (by its lang
     * field, kk-3, or by its letters, kk-1) when it recomputes SimHashes:
     * it took them for Russian before, and reported each a fault. */
    CHECK_OK(kz_index_check(ix, NULL, NULL));
    char got[512], notes[1024];
    /* Every spelling of the name, and every case of it, finds the
     * Russian and English ones. */
    static const char *const tokayev[] = { "Tokayev", "Tokaev", "Токаев", "Токаева", "Токаевым" };
    for (size_t i = 0; i < 5; i++) {
        ids_of(ix, tokayev[i], 0, got, sizeof got, notes, sizeof notes);
        CHECK_MSG(strstr(got, "en-1 en-2 ru-1 ru-2") != NULL, "%s finds %s", tokayev[i], got);
        CHECK_MSG(strstr(notes, "also searched") != NULL, "%s: notes %s", tokayev[i], notes);
    }
    /* The Kazakh spellings find all six. */
    ids_of(ix, "Toqaev", 0, got, sizeof got, notes, sizeof notes);
    CHECK_STR(got, "en-1 en-2 kk-1 kk-2 ru-1 ru-2");
    ids_of(ix, "Тоқаев", 0, got, sizeof got, notes, sizeof notes);
    CHECK_STR(got, "en-1 en-2 kk-1 kk-2 ru-1 ru-2");
    ids_of(ix, "Nazarbayev", 0, got, sizeof got, notes, sizeof notes);
    CHECK_STR(got, "en-3 ru-3");
    /* A Kazakh word of the Russian alphabet: found as the Kazakh document
     * has it (unstemmed), whereas Russian stemming would make it another
     * term. */
    ids_of(ix, "Астанада", 0, got, sizeof got, notes, sizeof notes);
    CHECK_STR(got, "kk-1 kk-2 kk-3");
    /* Its Russian stem alone finds nothing: kk-3 is Kazakh by its lang
     * field, kk-1 (no lang) by its letters (қ, ө, і), and in both the word
     * stays unstemmed. A Russian text that names Київ stays Russian. */
    ids_of(ix, "Астанада", KZ_QUERY_NO_VARIANTS, got, sizeof got, notes, sizeof notes);
    CHECK_STR(got, "");
    ids_of(ix, "переговоров", KZ_QUERY_NO_VARIANTS, got, sizeof got, notes, sizeof notes);
    CHECK_STR(got, "ru-5");
    ids_of(ix, "Астане", KZ_QUERY_NO_VARIANTS, got, sizeof got, notes, sizeof notes);
    CHECK(strstr(got, "ru-4") != NULL);
    /* The first two letters of the index's Cyrillic terms spare lookups. */
    int may = 0;
    CHECK_OK(kz_index_may_have_cyrillic(ix, "токаев", strlen("токаев"), &may));
    CHECK_INT(may, 1);
    CHECK_OK(kz_index_may_have_cyrillic(ix, "щюка", strlen("щюка"), &may));
    CHECK_INT(may, 0);
    CHECK_OK(kz_index_may_have_cyrillic(ix, "tokayev", 7, &may));
    CHECK_INT(may, 1); /* not Cyrillic: not for this list to say */
    /* A prefix as typed: Токаева* finds every form through their stem. */
    ids_of(ix, "Токаева*", KZ_QUERY_NO_VARIANTS, got, sizeof got, notes, sizeof notes);
    CHECK_STR(got, "ru-1 ru-2");
    /* Without variants, each spelling alone. */
    ids_of(ix, "Tokayev", KZ_QUERY_NO_VARIANTS, got, sizeof got, notes, sizeof notes);
    CHECK_STR(got, "en-1");
    CHECK_STR(notes, "");
    /* A word with no spelling in the index: no note, the query as it was. */
    ids_of(ix, "wheat", 0, got, sizeof got, notes, sizeof notes);
    CHECK_STR(got, "en-4");
    CHECK_STR(notes, "");
    /* In a phrase, words are exact. */
    ids_of(ix, "\"President Tokayev\"", 0, got, sizeof got, notes, sizeof notes);
    CHECK_STR(got, "en-1");
    kz_index_free(ix);
    free(dir);
}

/* An index without Cyrillic terms never looks for spellings. */
static void test_latin_index_unchanged(void)
{
    const char *en[] = { "en" };
    char *dir = build(en);
    kz_index *ix = NULL;
    CHECK_OK(kz_index_open(&ix, dir));
    if (!ix)
        return;
    int cyr = 1;
    CHECK_OK(kz_index_has_cyrillic(ix, &cyr));
    CHECK_INT(cyr, 0);
    char got[512], notes[1024];
    ids_of(ix, "Tokayev", 0, got, sizeof got, notes, sizeof notes);
    CHECK_STR(got, "en-1");
    CHECK_STR(notes, "");
    kz_index_free(ix);
    free(dir);
}

/* The same documents as one segment per document: every query, its
 * spellings in the other script searched in segments that have some and
 * not others, gives the same hits and scores as the index of one segment. */
static void test_segments_as_one(void)
{
    char *one = build(NULL), *many = kz_test_temp_dir();
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
        kz_build_options bo = KZ_BUILD_OPTIONS_INIT;
        bo.mode = KZ_BUILD_ADD;
        kz_builder *b = NULL;
        CHECK_OK(kz_builder_new(&b, many, &bo));
        if (!b)
            continue;
        CHECK_OK(kz_builder_add_document(b, docs[i].id, strlen(docs[i].id), "", 0, docs[i].text, strlen(docs[i].text),
                                         NULL, 0));
        if (i + 1 == sizeof docs / sizeof *docs)
            for (size_t k = 0; k < sizeof kazakh_docs / sizeof *kazakh_docs; k++) {
                kz_doc_field lang = { "lang", 4, kazakh_docs[k].lang, strlen(kazakh_docs[k].lang) };
                CHECK_OK(kz_builder_add_document(b, kazakh_docs[k].id, strlen(kazakh_docs[k].id), "", 0,
                                                 kazakh_docs[k].text, strlen(kazakh_docs[k].text), &lang, 1));
            }
        CHECK_OK(kz_builder_commit(b, NULL));
        kz_builder_free(b);
    }
    kz_index *a = NULL, *m = NULL;
    CHECK_OK(kz_index_open(&a, one));
    CHECK_OK(kz_index_open(&m, many));
    if (a && m) {
        CHECK_INT(kz_index_segment_count(m), sizeof docs / sizeof *docs);
        static const char *const queries[] = { "Tokayev", "Токаев", "Токаева Астане", "Astana", "Астанада",
                                               "Nazarbayev", "переговоров", "Тоқаев сөз", "Kazakhstan wheat" };
        for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
            kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
            o.mode = KZ_MODE_ANY;
            o.flags = KZ_SEARCH_NO_COLLAPSE;
            kz_results *r1 = NULL, *r2 = NULL;
            CHECK_OK(kz_search(&r1, a, queries[q], strlen(queries[q]), &o));
            CHECK_OK(kz_search(&r2, m, queries[q], strlen(queries[q]), &o));
            if (!r1 || !r2) {
                kz_results_free(r1);
                kz_results_free(r2);
                continue;
            }
            CHECK_MSG(kz_results_count(r1) == kz_results_count(r2) && kz_results_total(r1) == kz_results_total(r2),
                      "\"%s\": %zu hits of one segment, %zu of many", queries[q], kz_results_count(r1),
                      kz_results_count(r2));
            for (size_t h = 0; h < kz_results_count(r1) && h < kz_results_count(r2); h++) {
                kz_doc d1, d2;
                CHECK_OK(kz_index_doc(a, &d1, kz_results_hit(r1, h)->docid, NULL, 0));
                CHECK_OK(kz_index_doc(m, &d2, kz_results_hit(r2, h)->docid, NULL, 0));
                CHECK_MSG(d1.id_len == d2.id_len && memcmp(d1.id, d2.id, d1.id_len) == 0 &&
                              kz_results_hit(r1, h)->score == kz_results_hit(r2, h)->score,
                          "\"%s\" hit %zu differs", queries[q], h);
            }
            kz_results_free(r1);
            kz_results_free(r2);
        }
    }
    kz_index_free(a);
    kz_index_free(m);
    kz_test_remove_tree(one);
    kz_test_remove_tree(many);
    free(one);
    free(many);
}

int main(void)
{
    KZ_RUN(test_cyrillic_to_latin);
    KZ_RUN(test_latin_to_cyrillic);
    KZ_RUN(test_queries_find_every_spelling);
    KZ_RUN(test_latin_index_unchanged);
    KZ_RUN(test_segments_as_one);
    return kz_test_finish();
}
