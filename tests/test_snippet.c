/*
 * test_snippet.c: passages and highlights on the bundled articles.
 *
 * For the article that uses "ethnic Russians" most, a phrase query marks
 * the whole phrase as one span. For random queries of words from the
 * articles, every passage of every hit (one to four fragments) starts and
 * ends on a word boundary, stays within its length, is cut with the flags
 * set right, and every mark is a run of text that analyses to the stems of
 * one of the query's units; fragments come in text order without
 * overlapping; titles are highlighted the same way. The passages and
 * marks made from the index's places of the query's terms equal those of
 * the whole text stemmed.
 */
#include "kzint.h"
#include "test.h"

#include <strings.h>

static const char *words[] = {
    "russia", "kazakhstan", "ethnic", "russians", "putin", "border", "oil", "moscow", "war", "language",
    "president", "security", "soviet", "people", "target", "imperial", "north", "nuclear", "protests", "union",
};

/* The text of a mark analyses to exactly the stems of some unit. */
static int mark_is_unit(const kz_results *r, const char *text, kz_span m)
{
    kz_test_stems s = { .n = 0 };
    kz_analyze(NULL, text + m.start, m.end - m.start, kz_test_add_stem, &s);
    for (size_t u = 0; u < kz_results_unit_count(r); u++) {
        const kz_unit *ku = kz_results_unit(r, u);
        /* A mark may join overlapping occurrences: it starts with the unit. */
        if (s.n < ku->n_terms)
            continue;
        size_t i = 0;
        while (i < ku->n_terms && strcmp(s.v[i], ku->terms[i]) == 0)
            i++;
        if (i == ku->n_terms)
            return 1;
    }
    return 0;
}

static int is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

static size_t chars(const char *s, size_t from, size_t to)
{
    size_t n = 0;
    for (size_t i = from; i < to; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static void check_passages(kz_index *ix, const kz_results *r, const char *query, uint32_t docid, size_t max_chars,
                           size_t fragments)
{
    char *text;
    size_t len, n;
    kz_snippet sn[4];
    CHECK_OK(kz_index_doc_text(ix, &text, &len, docid));
    if (!text)
        return;
    CHECK_OK(kz_snippets_make(sn, &n, fragments, ix, r, text, len, max_chars));
    CHECK(n >= 1 && n <= fragments);
    for (size_t f = 0; f < n; f++) {
        const kz_snippet *p = &sn[f];
        int at_mark_end = 0;
        for (size_t i = 0; i < p->n_marks; i++)
            at_mark_end |= p->marks[i].end == p->end;
        CHECK_MSG(p->start == 0 || is_space(text[p->start - 1]), "\"%s\" doc %u: passage starts inside a word",
                  query, docid);
        CHECK_MSG(p->end == len || is_space(text[p->end]) || at_mark_end, "\"%s\" doc %u: passage ends inside a word",
                  query, docid);
        CHECK(!is_space(text[p->start]) && (p->end == p->start || !is_space(text[p->end - 1])));
        /* Passages that touch are joined: up to all the fragments' length. */
        CHECK_MSG(chars(text, p->start, p->end) <= fragments * (max_chars + 30), "\"%s\": passage of %zu characters",
                  query, chars(text, p->start, p->end));
        CHECK(p->cut_before == (p->start > 0) && p->cut_after == (p->end < len));
        if (f > 0)
            CHECK(sn[f - 1].end < p->start);
        for (size_t i = 0; i < p->n_marks; i++) {
            CHECK(p->marks[i].start >= p->start && p->marks[i].end <= p->end);
            if (i > 0)
                CHECK(p->marks[i - 1].end < p->marks[i].start);
            CHECK_MSG(mark_is_unit(r, text, p->marks[i]), "\"%s\": mark \"%.*s\" is no query unit", query,
                      (int)(p->marks[i].end - p->marks[i].start), text + p->marks[i].start);
        }
    }
    for (size_t f = 0; f < n; f++)
        kz_snippet_free(&sn[f]);
    free(text);
}

static kz_index *open_articles(char **dir)
{
    *dir = kz_test_temp_dir();
    kz_builder *b;
    CHECK_OK(kz_builder_new(&b, *dir, NULL));
    CHECK_OK(kz_builder_add_source(b, KZ_SOURCE_DIR "/data/articles"));
    CHECK_OK(kz_builder_commit(b, NULL));
    kz_builder_free(b);
    kz_index *ix = NULL;
    CHECK_OK(kz_index_open(&ix, *dir));
    return ix;
}

static void test_phrase_marked_whole(void)
{
    char *dir;
    kz_index *ix = open_articles(&dir);
    if (!ix)
        goto done;
    kz_results *r;
    const char *q = "\"ethnic Russians\"";
    CHECK_OK(kz_search(&r, ix, q, strlen(q), NULL));
    if (!r || kz_results_count(r) == 0) {
        CHECK(0);
        goto done_ix;
    }
    kz_doc d;
    CHECK_OK(kz_index_doc(ix, &d, kz_results_hit(r, 0)->docid, NULL, 0));
    CHECK(d.id_len == 35 && memcmp(d.id, "kazakhstan-would-have-been-next.txt", 35) == 0);
    char *text;
    size_t len;
    CHECK_OK(kz_index_doc_text(ix, &text, &len, kz_results_hit(r, 0)->docid));
    kz_snippet sn;
    CHECK_OK(kz_snippet_make(&sn, ix, r, text, len, 200));
    CHECK(sn.n_marks >= 1);
    for (size_t i = 0; i < sn.n_marks; i++) {
        size_t n = sn.marks[i].end - sn.marks[i].start;
        CHECK_MSG(n >= 15 && strncasecmp(text + sn.marks[i].start, "ethnic russian", 14) == 0,
                  "mark \"%.*s\" is not the phrase", (int)n, text + sn.marks[i].start);
    }
    kz_snippet_free(&sn);
    free(text);
done_ix:
    kz_results_free(r);
    kz_index_free(ix);
done:
    kz_test_remove_tree(dir);
    free(dir);
}

/* A plain query's words side by side, as typed, make the passage. */
static void test_words_in_sequence(void)
{
    char *dir;
    kz_index *ix = open_articles(&dir);
    if (!ix)
        goto done;
    kz_results *r;
    const char *q = "ethnic Russians";
    CHECK_OK(kz_search(&r, ix, q, strlen(q), NULL));
    if (r && kz_results_count(r) > 0) {
        char *text;
        size_t len;
        CHECK_OK(kz_index_doc_text(ix, &text, &len, kz_results_hit(r, 0)->docid));
        kz_snippet sn;
        CHECK_OK(kz_snippet_make(&sn, ix, r, text, len, 200));
        int side_by_side = 0;
        for (size_t i = 1; i < sn.n_marks; i++)
            side_by_side |= strncasecmp(text + sn.marks[i - 1].start, "ethnic", 6) == 0 &&
                            sn.marks[i].start == sn.marks[i - 1].end + 1 &&
                            strncasecmp(text + sn.marks[i].start, "russian", 7) == 0;
        CHECK_MSG(side_by_side, "the passage \"%.*s\" has no \"ethnic Russians\"", (int)(sn.end - sn.start),
                  text + sn.start);
        kz_snippet_free(&sn);
        free(text);
    } else {
        CHECK(0);
    }
    kz_results_free(r);
    kz_index_free(ix);
done:
    kz_test_remove_tree(dir);
    free(dir);
}

static void test_random_queries(void)
{
    uint64_t rng = kz_test_seed();
    char *dir;
    kz_index *ix = open_articles(&dir);
    if (!ix)
        goto done;
    size_t nw = sizeof words / sizeof words[0];
    for (int k = 0; k < 200; k++) {
        char q[256] = "";
        int n = 1 + (int)(kz_test_rand(&rng) % 3);
        for (int i = 0; i < n; i++) {
            int phrase = kz_test_rand(&rng) % 4 == 0;
            size_t w = kz_test_rand(&rng) % nw;
            if (phrase)
                snprintf(q + strlen(q), sizeof q - strlen(q), "%s\"%s %s\"", i ? " " : "", words[w],
                         words[(w + 1) % nw]);
            else
                snprintf(q + strlen(q), sizeof q - strlen(q), "%s%s", i ? " " : "", words[w]);
        }
        kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
        o.mode = KZ_MODE_ANY;
        kz_results *r;
        CHECK_OK(kz_search(&r, ix, q, strlen(q), &o));
        if (!r)
            continue;
        size_t max_chars = 40 + kz_test_rand(&rng) % 300, fragments = 1 + kz_test_rand(&rng) % 4;
        for (size_t h = 0; h < kz_results_count(r); h++) {
            uint32_t docid = kz_results_hit(r, h)->docid;
            check_passages(ix, r, q, docid, max_chars, fragments);
            kz_doc d;
            CHECK_OK(kz_index_doc(ix, &d, docid, NULL, 0));
            kz_span *marks;
            size_t nm;
            CHECK_OK(kz_highlight(&marks, &nm, ix, r, d.title, d.title_len));
            for (size_t i = 0; i < nm; i++) {
                CHECK(marks[i].end <= d.title_len && marks[i].start < marks[i].end);
                CHECK(mark_is_unit(r, d.title, marks[i]));
            }
            free(marks);
        }
        kz_results_free(r);
    }
    kz_index_free(ix);
done:
    kz_test_remove_tree(dir);
    free(dir);
}

/* kz_snippets_make_doc and kz_highlight_doc, which stem only the tokens
 * at the places the index has the query's terms, give what stemming the
 * whole text gives: every passage and mark of every hit, titles and whole
 * texts, for words, phrases, prefixes, spellings in the other script,
 * near words and exclusions, over an index of two segments whose second
 * holds Russian text, a title, tokens past 22 bytes (stemmed anyway) and
 * past 255 code points (dropped by the stemmer, shifting what follows). */
static void test_doc_variants_agree(void)
{
    uint64_t rng = kz_test_seed();
    char *dir;
    kz_index *ix = open_articles(&dir);
    kz_index_free(ix);
    kz_build_options bo = KZ_BUILD_OPTIONS_INIT;
    bo.mode = KZ_BUILD_ADD;
    kz_builder *b;
    CHECK_OK(kz_builder_new(&b, dir, &bo));
    char longword[301]; /* 300 letters: kept by the scan, dropped by the stemmer */
    memset(longword, 'x', sizeof longword - 1);
    longword[sizeof longword - 1] = 0;
    for (int i = 0; b && i < 20; i++) {
        char id[16], text[2048];
        snprintf(id, sizeof id, "ru-%d", i);
        snprintf(text, sizeof text,
                 "Токаев встретился с Путиным в Москве. Tokayev said the border with Russia is secure; %s "
                 "Россия и Казахстан обсудили нефть. internationalisation-of-securitisations "
                 "Президент Токаева поддержал. %s Kazakhstan's oil and the Soviet union's people. %d",
                 i % 2 ? longword : "ethnic Russians", i % 3 ? "война" : "war and peace", i);
        const char *title = i % 2 ? "Токаев и Путин" : "Russia, Kazakhstan: oil";
        CHECK_OK(kz_builder_add_document(b, id, strlen(id), title, strlen(title), text, strlen(text), NULL, 0));
    }
    /* Long texts whose query words stand far apart (text marks: passages
     * from the text around them only), with a dropped 300-letter token
     * and Cyrillic between. */
    for (int i = 0; b && i < 8; i++) {
        kz_buf t = { 0 };
        for (int w = 0; w < 3000; w++) {
            const char *word = w % 397 == 11 ? words[kz_test_rand(&rng) % (sizeof words / sizeof words[0])]
                               : w == 1500 ? longword
                               : w % 101 == 7 ? "Казахстан,"
                               : (w % 7 == 3 ? "filler." : "filler");
            kz_buf_append(&t, word, strlen(word));
            kz_buf_append(&t, " ", 1);
        }
        char id[16];
        snprintf(id, sizeof id, "long-%d", i);
        CHECK_OK(kz_builder_add_document(b, id, strlen(id), "A long one", 10, (const char *)t.data, t.len, NULL, 0));
        kz_buf_free(&t);
    }
    if (b)
        CHECK_OK(kz_builder_commit(b, NULL));
    kz_builder_free(b);
    ix = NULL;
    CHECK_OK(kz_index_open(&ix, dir));
    if (!ix)
        goto done;
    CHECK_INT(kz_index_segment_count(ix), 2);
    static const char *extra[] = { "токаев", "Tokayev", "россия", "russ*", "kaz*", "moskow~", "нефть", "война",
                                   "internationalisation", "-oil", "\"border with\"" };
    size_t nw = sizeof words / sizeof words[0], ne = sizeof extra / sizeof extra[0];
    size_t compared = 0, marked_docs = 0;
    for (int k = 0; k < 150; k++) {
        char q[256] = "";
        int n = 1 + (int)(kz_test_rand(&rng) % 3);
        for (int i = 0; i < n; i++) {
            uint64_t pick = kz_test_rand(&rng) % (nw + ne);
            const char *w = pick < nw ? words[pick] : extra[pick - nw];
            if (pick < nw && kz_test_rand(&rng) % 4 == 0)
                snprintf(q + strlen(q), sizeof q - strlen(q), "%s\"%s %s\"", i ? " " : "", w, words[(pick + 1) % nw]);
            else
                snprintf(q + strlen(q), sizeof q - strlen(q), "%s%s", i ? " " : "", w);
        }
        kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
        o.mode = KZ_MODE_ANY;
        o.limit = 30;
        kz_results *r = NULL;
        int rc = kz_search(&r, ix, q, strlen(q), &o);
        if (rc == KZ_ESYNTAX)
            continue;
        CHECK_MSG(rc == KZ_OK, "\"%s\": %s", q, kz_last_error());
        size_t max_chars = 40 + kz_test_rand(&rng) % 300, fragments = 1 + kz_test_rand(&rng) % 4;
        for (size_t h = 0; r && h < kz_results_count(r); h++) {
            uint32_t docid = kz_results_hit(r, h)->docid;
            char *text;
            size_t len, n1, n2;
            CHECK_OK(kz_index_doc_text(ix, &text, &len, docid));
            kz_snippet a[4], c[4];
            CHECK_OK(kz_snippets_make(a, &n1, fragments, ix, r, text, len, max_chars));
            CHECK_OK(kz_snippets_make_doc(c, &n2, fragments, ix, r, docid, text, len, max_chars));
            CHECK_MSG(n1 == n2, "\"%s\" doc %u: %zu passages, %zu from places", q, docid, n1, n2);
            /* And from the text around the places alone, by its marks. */
            kz_snippet e[4];
            size_t n3, len2;
            char *text2;
            kz_text_marks marks;
            CHECK_OK(kz_index_doc_text_marked(ix, &text2, &len2, &marks, docid, len + 1));
            CHECK(len2 == len && memcmp(text2, text, len) == 0);
            marked_docs += marks.n > 0;
            CHECK_OK(kz_snippets_make_marked(e, &n3, fragments, ix, r, docid, text2, len2, &marks, max_chars));
            CHECK_MSG(n3 == n1, "\"%s\" doc %u: %zu passages, %zu by the text marks", q, docid, n1, n3);
            for (size_t f = 0; f < n1 && f < n3; f++) {
                CHECK(a[f].start == e[f].start && a[f].end == e[f].end && a[f].n_marks == e[f].n_marks);
                for (size_t i = 0; i < a[f].n_marks && i < e[f].n_marks; i++)
                    CHECK_MSG(a[f].marks[i].start == e[f].marks[i].start && a[f].marks[i].end == e[f].marks[i].end,
                              "\"%s\" doc %u: mark %zu differs by the text marks", q, docid, i);
            }
            for (size_t f = 0; f < n3; f++)
                kz_snippet_free(&e[f]);
            kz_text_marks_free(&marks);
            free(text2);
            for (size_t f = 0; f < n1 && f < n2; f++) {
                CHECK(a[f].start == c[f].start && a[f].end == c[f].end && a[f].n_marks == c[f].n_marks);
                for (size_t i = 0; i < a[f].n_marks && i < c[f].n_marks; i++)
                    CHECK_MSG(a[f].marks[i].start == c[f].marks[i].start && a[f].marks[i].end == c[f].marks[i].end,
                              "\"%s\" doc %u: mark %zu differs", q, docid, i);
                compared += a[f].n_marks;
            }
            for (size_t f = 0; f < n1; f++)
                kz_snippet_free(&a[f]);
            for (size_t f = 0; f < n2; f++)
                kz_snippet_free(&c[f]);
            kz_doc d;
            CHECK_OK(kz_index_doc(ix, &d, docid, NULL, 0));
            for (int title = 0; title < 2; title++) {
                const char *t = title ? d.title : text;
                size_t tl = title ? d.title_len : len;
                kz_span *m1, *m2;
                CHECK_OK(kz_highlight(&m1, &n1, ix, r, t, tl));
                CHECK_OK(kz_highlight_doc(&m2, &n2, ix, r, docid, title, t, tl));
                CHECK_MSG(n1 == n2 && (n1 == 0 || memcmp(m1, m2, n1 * sizeof *m1) == 0),
                          "\"%s\" doc %u: %s highlights differ (%zu, %zu from places)", q, docid,
                          title ? "title" : "text", n1, n2);
                compared += n1;
                free(m1);
                free(m2);
            }
            free(text);
        }
        kz_results_free(r);
    }
    CHECK(compared > 1000);
    CHECK(marked_docs > 50);
    kz_index_free(ix);
done:
    kz_test_remove_tree(dir);
    free(dir);
}

int main(void)
{
    KZ_RUN(test_phrase_marked_whole);
    KZ_RUN(test_words_in_sequence);
    KZ_RUN(test_random_queries);
    KZ_RUN(test_doc_variants_agree);
    return kz_test_finish();
}
