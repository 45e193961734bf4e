/*
 * test_chrome.c: the site's chrome in scraped plain text (indexer/chrome.c):
 * lines repeated across a folder, stock template lines, trailing sections,
 * breadcrumbs and decorated titles; and what must not be dropped (a folder
 * of pages from many sites, syndicated copies, a marker early in a text).
 */
#include "html.h"
#include "test.h"

/* Cleans doc with the counts of c (NULL: none) for folder "f". */
static void clean(kz_chrome_doc *d, const kz_chrome *c, const char *doc)
{
    CHECK_OK(kz_chrome_clean(d, c, "f", 1, doc, strlen(doc)));
}

static int text_has(const kz_chrome_doc *d, const char *s)
{
    return memmem(d->text, d->text_len, s, strlen(s)) != NULL;
}

static int title_is(const kz_chrome_doc *d, const char *s)
{
    return d->title_len == strlen(s) && memcmp(d->title, s, d->title_len) == 0;
}

/* A word for n: numbers normalize alike ("Comments: 3", "Comments: 12"),
 * so lines that must differ differ in words. */
static const char *word(int n)
{
    static char w[8][16];
    static int k;
    static const char *const syl[] = { "ka", "zu", "mo", "ri", "te", "la", "no", "vi", "sa", "pe" };
    char *o = w[k++ & 7];
    snprintf(o, 16, "%s%s%s", syl[n % 10], syl[(n / 10) % 10], syl[(n / 100) % 10]);
    return o;
}

/* A paragraph of body text, different for each n. */
static void paragraph(char *out, size_t size, int n)
{
    snprintf(out, size,
             "Story %s reports that the council met on %s and voted on plan %s, after a long debate "
             "about budgets, roads, schools and the harbour, which went on until late in the evening.",
             word(n), word(n + 1), word(n + 2));
}

/* Ten pages of one site: its chrome (repeated in each, numbers varying)
 * goes, the stories stay. */
static void test_one_site(void)
{
    kz_chrome *c = NULL;
    CHECK_OK(kz_chrome_new(&c));
    char docs[10][2048];
    for (int i = 0; i < 10; i++) {
        char p1[400], p2[400];
        paragraph(p1, sizeof p1, i);
        paragraph(p2, sizeof p2, 100 + i);
        snprintf(docs[i], sizeof docs[i],
                 "Daily Bugle Menu\nHeadline %s about the council\n\n%s\n\nVisitors today: %d\n%s\n"
                 "Get the Daily Bugle app now\n",
                 word(i), p1, 1000 + i, p2);
        CHECK_OK(kz_chrome_learn(c, "f", 1, docs[i], strlen(docs[i])));
    }
    kz_chrome_doc d = { 0 };
    for (int i = 0; i < 10; i++) {
        clean(&d, c, docs[i]);
        char want[100];
        snprintf(want, sizeof want, "Headline %s about the council", word(i));
        CHECK_MSG(title_is(&d, want), "title %.*s", (int)d.title_len, d.title);
        CHECK(!text_has(&d, "Daily Bugle"));
        CHECK(!text_has(&d, "Visitors today"));
        CHECK(text_has(&d, "Story"));
        CHECK_INT(d.dropped, 3);
    }
    /* The same pages in another folder were never counted: nothing drops
     * there but what one page shows by itself. */
    CHECK_OK(kz_chrome_clean(&d, c, "g", 1, docs[0], strlen(docs[0])));
    CHECK(text_has(&d, "Visitors today"));
    kz_chrome_doc_free(&d);
    kz_chrome_free(c);
}

/* Five pages of five sites: nothing repeats, only the lines each page shows
 * to be chrome by itself go. A line two of them share is kept. */
static void test_many_sites(void)
{
    kz_chrome *c = NULL;
    CHECK_OK(kz_chrome_new(&c));
    char docs[5][4096];
    for (int i = 0; i < 5; i++) {
        char p[6][400];
        for (int j = 0; j < 6; j++)
            paragraph(p[j], sizeof p[j], i * 10 + j);
        snprintf(docs[i], sizeof docs[i], "Site %s headline here\n\n%s\n\n%s\n\n%s\n\n%s\n\n%s\n\n%s\n%s\n", word(i),
                 p[0], p[1], p[2], p[3], p[4], p[5],
                 i < 2 ? "The mayor declined to comment." : "An ordinary closing line.");
        CHECK_OK(kz_chrome_learn(c, "f", 1, docs[i], strlen(docs[i])));
    }
    kz_chrome_doc d = { 0 };
    clean(&d, c, docs[0]);
    CHECK(title_is(&d, "Site kakaka headline here"));
    CHECK(text_has(&d, "declined to comment"));
    CHECK_INT(d.dropped, 0);
    /* Nothing dropped: the text is the page's own bytes after the title. */
    CHECK(d.text == docs[0] + strlen("Site kakaka headline here\n"));
    kz_chrome_doc_free(&d);
    kz_chrome_free(c);
}

/* Syndicated copies share their paragraphs: their shared short lines
 * (headline, subheadings) are theirs, not chrome. Three copies in a folder
 * of seven. */
static void test_copies_kept(void)
{
    kz_chrome *c = NULL;
    CHECK_OK(kz_chrome_new(&c));
    char p1[400], p2[400], p3[400], docs[7][2048];
    for (int i = 0; i < 7; i++) {
        paragraph(p1, sizeof p1, i < 3 ? 1 : 10 * i);
        paragraph(p2, sizeof p2, i < 3 ? 2 : 10 * i + 1);
        paragraph(p3, sizeof p3, i < 3 ? 3 : 10 * i + 2);
        snprintf(docs[i], sizeof docs[i], "The shared headline of story %s\n%s %s\nWhat happens next\n%s\nOutlet %s\n",
                 word(i < 3 ? 0 : i), p1, p2, p3, word(i));
        CHECK_OK(kz_chrome_learn(c, "f", 1, docs[i], strlen(docs[i])));
    }
    kz_chrome_doc d = { 0 };
    clean(&d, c, docs[1]);
    CHECK(title_is(&d, "The shared headline of story kakaka"));
    CHECK(text_has(&d, "What happens next"));
    CHECK_INT(d.dropped, 0);
    kz_chrome_doc_free(&d);
    kz_chrome_free(c);
}

/* Rules inside one page: breadcrumbs, a decorated page title, a kicker,
 * stock lines, the trailing sections and calls to action. */
static void test_one_page(void)
{
    char body[2000] = "", p[400];
    for (int j = 0; j < 4; j++) {
        paragraph(p, sizeof p, j);
        strcat(body, p);
        strcat(body, "\n\n");
    }
    static char doc[8192];
    kz_chrome_doc d = { 0 };

    snprintf(doc, sizeof doc, "Home \xc2\xbb world \xc2\xbb Putin Next Target? Invasion Risk Rises\n\n"
                              "Putin Next Target? Invasion Risk Rises\n\n%sAdvertisement\n%s"
                              "Share your thoughts in the comments below!\n\nYou may also like\n\n"
                              "Leave a Comment\n\nAdblock Detected\n",
             body, body);
    clean(&d, NULL, doc);
    CHECK_MSG(title_is(&d, "Putin Next Target? Invasion Risk Rises"), "%.*s", (int)d.title_len, d.title);
    CHECK(!text_has(&d, "Putin Next Target"));
    CHECK(!text_has(&d, "Advertisement"));
    CHECK(!text_has(&d, "comments"));
    CHECK(!text_has(&d, "Adblock"));
    CHECK(text_has(&d, "Story rikaka"));

    /* A Russian and a Kazakh site's stock lines, in any case; the trailing
     * section after "Читайте также" goes. */
    snprintf(doc, sizeof doc, "Токаев провёл встречу в Астане\n\n%sРЕКЛАМА\n%sЖарнама\n\nПоделиться\n\n"
                              "Читайте также\n\nДругой заголовок о выборах\n\nВсе права защищены\n",
             body, body);
    clean(&d, NULL, doc);
    CHECK_MSG(title_is(&d, "Токаев провёл встречу в Астане"), "%.*s", (int)d.title_len, d.title);
    CHECK(!text_has(&d, "РЕКЛАМА"));
    CHECK(!text_has(&d, "Жарнама"));
    CHECK(!text_has(&d, "Поделиться"));
    CHECK(!text_has(&d, "Другой заголовок"));
    CHECK(!text_has(&d, "права защищены"));
    CHECK(text_has(&d, "Story rikaka"));

    /* A breadcrumb without a headline is skipped. */
    snprintf(doc, sizeof doc, "Home \xc2\xbb world \xc2\xbb\n\nThe real headline of it\n\n%s", body);
    clean(&d, NULL, doc);
    CHECK(title_is(&d, "The real headline of it"));

    /* "Site: Headline Headline" then the headline. */
    snprintf(doc, sizeof doc, "kmia: Kazakhstan waits for Russia Kazakhstan waits for Russia\n\n"
                              "Kazakhstan waits for Russia\n\n%s",
             body);
    clean(&d, NULL, doc);
    CHECK(title_is(&d, "Kazakhstan waits for Russia"));
    CHECK(!text_has(&d, "kmia"));

    /* A section kicker; an acronym or a number is not one. */
    snprintf(doc, sizeof doc, "KAZAKHSTAN-RUSSIA Kazakhs fear becoming a target\n%s", body);
    clean(&d, NULL, doc);
    CHECK(title_is(&d, "Kazakhs fear becoming a target"));
    snprintf(doc, sizeof doc, "COVID-19 Cases rise again in the city\n%s", body);
    clean(&d, NULL, doc);
    CHECK(title_is(&d, "COVID-19 Cases rise again in the city"));
    snprintf(doc, sizeof doc, "NATO Leaders meet in the capital\n%s", body);
    clean(&d, NULL, doc);
    CHECK(title_is(&d, "NATO Leaders meet in the capital"));

    /* "Source link" near the end cuts the advert after it; "Comments: 12"
     * normalizes like "Comments: 0". */
    snprintf(doc, sizeof doc, "Title line\n%sSource link\n\nWritten by Editor\n\nThe new Phone X folds\n", body);
    clean(&d, NULL, doc);
    CHECK(!text_has(&d, "Phone X"));
    CHECK(!text_has(&d, "Source link"));
    CHECK_INT(d.dropped, 3);
    snprintf(doc, sizeof doc, "Title line\n%sComments: 12\n", body);
    clean(&d, NULL, doc);
    CHECK(!text_has(&d, "Comments"));

    /* A marker early in a text does not cut it. */
    snprintf(doc, sizeof doc, "Title line\nRelated\n%s%s", body, body);
    clean(&d, NULL, doc);
    CHECK(!text_has(&d, "Related"));
    CHECK(text_has(&d, "Story rikaka"));
    CHECK_INT(d.dropped, 1);

    /* A page of chrome only: the title is its first line, as for any text. */
    clean(&d, NULL, "Advertisement\nRead more\n");
    CHECK(title_is(&d, "Advertisement"));
    CHECK_INT(d.text_len, 0);
    clean(&d, NULL, "");
    CHECK_INT(d.title_len, 0);
    CHECK_INT(d.text_len, 0);
    kz_chrome_doc_free(&d);
    kz_chrome_doc_free(&d); /* freeing twice is harmless */
}

/* Many more distinct lines than the table holds: it stays bounded, and the
 * lines every page repeats are still found. */
static void test_bounded(void)
{
    kz_chrome *c = NULL;
    CHECK_OK(kz_chrome_new(&c));
    kz_buf doc = { 0 };
    for (int i = 0; i < 3000; i++) {
        doc.len = 0;
        CHECK_OK(kz_buf_printf(&doc, "Headline %s %s\nSite chrome line\n", word(i), word(i / 1000)));
        for (int j = 0; j < 100; j++)
            CHECK_OK(kz_buf_printf(&doc, "line %s of page %s %s\n", word(j), word(i), word(i / 1000))); /* 300,000 distinct lines */
        CHECK_OK(kz_chrome_learn(c, "f", 1, (const char *)doc.data, doc.len));
    }
    kz_chrome_doc d = { 0 };
    CHECK_OK(kz_chrome_clean(&d, c, "f", 1, (const char *)doc.data, doc.len));
    CHECK(title_is(&d, "Headline pepepe mokaka")); /* word(2999), word(2) */
    CHECK(!text_has(&d, "Site chrome"));
    CHECK(text_has(&d, "line lakaka of page pepepe mokaka"));
    kz_chrome_doc_free(&d);
    kz_buf_free(&doc);
    kz_chrome_free(c);
    kz_chrome_free(NULL);
}

int main(void)
{
    KZ_RUN(test_one_site);
    KZ_RUN(test_many_sites);
    KZ_RUN(test_copies_kept);
    KZ_RUN(test_one_page);
    KZ_RUN(test_bounded);
    return kz_test_finish();
}
