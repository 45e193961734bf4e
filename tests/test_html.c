/*
 * test_html.c: web pages and WARC files, from pages the test writes.
 *
 * kz_html_extract on its own: charsets (windows-1251 and koi8-r bytes
 * written here, a UTF-16 byte-order mark, an unknown label, the HTTP
 * header's charset), character references, scripts and boilerplate left
 * out, metadata and titles, malformed and deeply nested markup, binary
 * data. Then through a build: a folder of pages (one gzipped, one binary,
 * one empty), JSON Lines records of html, and WARC files gzipped record by
 * record, whole and cut short.
 */
#include "html.h"
#include "test.h"

#include <brotli/encode.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

static kz_html_page page;

static int extract(const char *html, const char *http_charset)
{
    kz_html_options o = { http_charset, NULL, 0 };
    return kz_html_extract(&page, html, strlen(html), &o);
}

static const char *text(void) { return page.text.len ? (const char *)page.text.data : ""; }
static const char *title(void) { return page.title.len ? (const char *)page.title.data : ""; }
static const char *field(int f) { return page.field[f].len ? (const char *)page.field[f].data : ""; }

#define CHECK_HAS(hay, needle) CHECK_MSG(strstr((hay), (needle)) != NULL, "\"%s\" lacks \"%s\"", (hay), (needle))
#define CHECK_LACKS(hay, needle) CHECK_MSG(strstr((hay), (needle)) == NULL, "\"%s\" has \"%s\"", (hay), (needle))

/* An article page around body (paragraphs), with navigation, a share
 * bar, related links, a cookie banner, a script and a footer. */
static char *article_page(const char *head, const char *body)
{
    char *s = NULL;
    if (asprintf(&s,
                 "<!DOCTYPE html><html lang=\"en-GB\"><head>%s</head><body>"
                 "<nav><ul><li><a href=/>Home</a></li><li><a href=/w>World</a></li></ul></nav>"
                 "<div class=\"cookie-banner\">We use cookies. Accept all cookies to continue.</div>"
                 "<script>var tracker = 'analyticsword'; document.write(tracker);</script>"
                 "<style>.x { color: red }</style>"
                 "<div id=main><article><h1>The headline</h1>"
                 "<div class=share-bar><a href=#>Facebook</a> <a href=#>Twitter</a></div>"
                 "%s"
                 "<ul class=x><li><a href=/a>Related one story link</a></li><li><a href=/b>Related two story "
                 "link</a></li></ul>"
                 "</article><div class=comments><p>Post a Comment: this comment box is not the article, "
                 "really not, and should be dropped.</p></div></div>"
                 "<footer><p>Copyright 2022 Example News. All rights reserved, and so on.</p></footer>"
                 "</body></html>",
                 head, body) < 0)
        abort();
    return s;
}

static const char *const paragraphs =
    "<p>The first paragraph of the story says what happened, where, and when, in a sentence long enough.</p>"
    "<p>A second paragraph adds detail, quotes a witness, and gives the numbers that matter to readers.</p>"
    "<h2>A subheading</h2>"
    "<p>The third paragraph, after the subheading, closes the story with what comes next, and why.</p>";

static void test_extract_article(void)
{
    char *html = article_page(
        "<title>The headline, longer one | Example News</title>"
        "<meta property=\"og:site_name\" content=\"Example News\">"
        "<meta property=\"article:published_time\" content=\"2022-03-01T14:05:09+03:00\">"
        "<meta name=author content=\"Jane Doe\">"
        "<link rel=canonical href=\"https://example.com/story\">",
        paragraphs);
    CHECK_OK(extract(html, NULL));
    CHECK_HAS(text(), "The first paragraph of the story");
    CHECK_HAS(text(), "A subheading");
    CHECK_HAS(text(), "closes the story with what comes next");
    /* Paragraphs in order, separated by blank lines. */
    const char *a = strstr(text(), "first paragraph"), *b = strstr(text(), "second paragraph"),
               *c = strstr(text(), "A subheading");
    CHECK(a && b && c && a < b && b < c);
    CHECK_HAS(text(), "matter to readers.\n\nA subheading\n\nThe third");
    CHECK_LACKS(text(), "analyticsword");
    CHECK_LACKS(text(), "color");
    CHECK_LACKS(text(), "cookies");
    CHECK_LACKS(text(), "Facebook");
    CHECK_LACKS(text(), "Related one");
    CHECK_LACKS(text(), "Post a Comment");
    CHECK_LACKS(text(), "Copyright");
    CHECK_LACKS(text(), "Home");
    CHECK_LACKS(text(), "The headline");
    CHECK_STR(title(), "The headline, longer one");
    CHECK_STR(field(KZ_HTML_DATE), "2022-03-01T14:05:09+03:00");
    CHECK_STR(field(KZ_HTML_URL), "https://example.com/story");
    CHECK_STR(field(KZ_HTML_SITE), "Example News");
    CHECK_STR(field(KZ_HTML_AUTHOR), "Jane Doe");
    CHECK_STR(field(KZ_HTML_LANG), "en-GB");
    CHECK_INT(page.n_meta, 5);
    CHECK_STR(page.meta[0].key, "date");
    free(html);
}

static void test_metadata_sources(void)
{
    /* og:title wins over <title>; JSON-LD gives date and author. */
    char *html = article_page(
        "<title>Site title - Example</title><meta property=og:title content=\"OG &amp; title\">"
        "<meta property=og:url content=\"https://example.com/og\">"
        "<script type=\"application/ld+json\">{\"@type\":\"NewsArticle\",\"datePublished\":\"2021-12-24\","
        "\"author\":[{\"@type\":\"Person\",\"name\":\"Ivan \\u041f\\u0435\\u0442\\u0440\\u043e\\u0432\"}],"
        "\"publisher\":{\"name\":\"LD Publisher\"}}</script>",
        paragraphs);
    CHECK_OK(extract(html, NULL));
    CHECK_STR(title(), "OG & title");
    CHECK_STR(field(KZ_HTML_DATE), "2021-12-24");
    CHECK_STR(field(KZ_HTML_AUTHOR), "Ivan Петров");
    CHECK_STR(field(KZ_HTML_SITE), "LD Publisher");
    CHECK_STR(field(KZ_HTML_URL), "https://example.com/og");
    free(html);

    /* No title at all: the first h1; <time datetime> for the date; a
     * date that does not parse is not taken. */
    CHECK_OK(extract("<html><body><meta name=date content=\"not a date\"><h1>Only &quot;h1&quot;</h1>"
                     "<p>Posted <time datetime=\"2020-05-06\">May 6</time>: a paragraph of text that is "
                     "long enough to be the article, with a comma, or two.</p></body></html>",
                     NULL));
    CHECK_STR(title(), "Only \"h1\"");
    CHECK_STR(field(KZ_HTML_DATE), "2020-05-06");
    CHECK_INT(page.n_meta, 1);

    /* <title> whose suffix names the site; JSON-LD articleBody when the
     * page's markup has no paragraphs. */
    CHECK_OK(extract("<html><head><title>Markets rally on hopes of a deal | Daily Planet</title>"
                     "<meta property=og:site_name content=\"Daily Planet\">"
                     "<script type=application/ld+json>{\"articleBody\":\"Stocks rose on Monday, as hopes of a "
                     "trade deal grew.\\nAnalysts said the rally could last, or not, depending on the talks "
                     "in Geneva next week &amp; beyond. More words to make it long enough for the check, "
                     "and more again.\"}</script></head><body><div id=app></div></body></html>",
                     NULL));
    CHECK_STR(title(), "Markets rally on hopes of a deal");
    CHECK_HAS(text(), "Stocks rose on Monday");
    CHECK_HAS(text(), "grew.\n\nAnalysts");
    CHECK_HAS(text(), "next week & beyond");
    /* The WARC address is the url default. */
    kz_html_options o = { NULL, "http://warc.example/page", 0 };
    const char *p = "<p>Some text of a page without a canonical link, long enough to count as text.</p>";
    CHECK_OK(kz_html_extract(&page, p, strlen(p), &o));
    CHECK_STR(field(KZ_HTML_URL), "http://warc.example/page");
}

static void test_entities(void)
{
    CHECK_OK(extract("<p>Fish &amp; chips &lt;b&gt; caf&eacute; &#x41;&#66; &hellip; &notin; &nbsp;x "
                     "&amp;amp; AT&T &copy; &#128512; &rsquo;</p>",
                     NULL));
    CHECK_STR(text(), "Fish & chips <b> café AB … ∉ x &amp; AT&T © 😀 ’");
    CHECK_LACKS(text(), "&amp; chips");
}

/* UTF-8 text, encoded by a one-byte table for the Cyrillic letters. */
static char *encode_cyrillic(const char *utf8, const unsigned char *table)
{
    /* table[i]: the byte of U+0410 + i (А..я). */
    char *out = malloc(strlen(utf8) + 1), *o = out;
    for (const unsigned char *s = (const unsigned char *)utf8; *s;) {
        if ((s[0] == 0xD0 || s[0] == 0xD1) && s[1]) {
            unsigned cp = ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu);
            *o++ = cp >= 0x410 && cp <= 0x44F ? (char)table[cp - 0x410] : '?';
            s += 2;
        } else {
            *o++ = (char)*s++;
        }
    }
    *o = 0;
    return out;
}

static void test_charsets(void)
{
    unsigned char cp1251[64], koi8[64];
    for (int i = 0; i < 64; i++)
        cp1251[i] = (unsigned char)(0xC0 + i);
    /* KOI8-R: the letters in the order of the Russian Latin transliteration. */
    static const char koi8_upper[] = "\xe1\xe2\xf7\xe7\xe4\xe5\xf6\xfa\xe9\xea\xeb\xec\xed\xee\xef\xf0\xf2\xf3\xf4\xf5"
                                     "\xe6\xe8\xe3\xfe\xfb\xfd\xff\xf9\xf8\xfc\xe0\xf1";
    for (int i = 0; i < 32; i++) {
        koi8[i] = (unsigned char)koi8_upper[i];
        koi8[32 + i] = (unsigned char)(koi8_upper[i] - 0x20);
    }
    const char *russian = "<html><head>%s<title>Новости дня</title></head><body><p>Привет, мир! Это проверка "
                          "кодировки: съешь же ещё этих мягких французских булок.</p></body></html>";
    const char *want = "Привет, мир! Это проверка кодировки: съешь же ещё этих мягких французских булок.";
    char page_text[1024];

    snprintf(page_text, sizeof page_text, russian, "<meta charset=\"windows-1251\">");
    char *enc = encode_cyrillic(page_text, cp1251);
    /* ё is outside А..я: write it by hand in each charset. */
    char *q = strchr(enc, '?');
    CHECK(q != NULL);
    if (q)
        *q = (char)0xB8;
    CHECK_OK(extract(enc, NULL));
    CHECK_STR(text(), want);
    CHECK_STR(title(), "Новости дня");
    CHECK_STR(page.charset, "windows-1251");
    CHECK_INT(page.flags, 0);
    free(enc);
    /* An attribute whose name starts with '=' takes no value from what
     * follows it (the HTML5 prescan's reading): the charset after it is read. */
    snprintf(page_text, sizeof page_text, russian, "<meta = charset=windows-1251>");
    enc = encode_cyrillic(page_text, cp1251);
    if ((q = strchr(enc, '?')))
        *q = (char)0xB8;
    CHECK_OK(extract(enc, NULL));
    CHECK_STR(text(), want);
    CHECK_STR(page.charset, "windows-1251");
    free(enc);

    snprintf(page_text, sizeof page_text, russian,
             "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=KOI8-R\">");
    enc = encode_cyrillic(page_text, koi8);
    if ((q = strchr(enc, '?')))
        *q = (char)0xA3;
    CHECK_OK(extract(enc, NULL));
    CHECK_STR(text(), want);
    CHECK_STR(page.charset, "koi8-r");

    /* The HTTP header's charset, when the page names none. */
    snprintf(page_text, sizeof page_text, russian, "");
    free(enc);
    enc = encode_cyrillic(page_text, koi8);
    if ((q = strchr(enc, '?')))
        *q = (char)0xA3;
    CHECK_OK(extract(enc, "koi8-r"));
    CHECK_STR(text(), want);
    /* Without it, the bytes are not UTF-8: replaced, and flagged. */
    CHECK_OK(extract(enc, NULL));
    CHECK(page.flags & KZ_HTML_INVALID_BYTES);
    CHECK_HAS(text(), "\xEF\xBF\xBD");
    CHECK_INT(kz_utf8_count_invalid(text(), strlen(text())), 0);
    free(enc);

    /* latin1 is read as windows-1252 (0x93 0x94 are quotes there). */
    CHECK_OK(extract("<meta charset=iso-8859-1><p>\x93" "Caf\xe9" "\x94 is the word.</p>", NULL));
    CHECK_STR(text(), "\xE2\x80\x9C" "Café" "\xE2\x80\x9D is the word.");

    /* A UTF-16LE byte-order mark. */
    const char *ascii = "<p>Sixteen bits</p>";
    size_t n = strlen(ascii);
    char u16[64];
    u16[0] = (char)0xFF;
    u16[1] = (char)0xFE;
    for (size_t i = 0; i < n; i++) {
        u16[2 + 2 * i] = ascii[i];
        u16[3 + 2 * i] = 0;
    }
    CHECK_OK(kz_html_extract(&page, u16, 2 + 2 * n, NULL));
    CHECK_STR(text(), "Sixteen bits");

    /* A UTF-8 BOM, then a charset nobody knows. */
    CHECK_OK(extract("\xEF\xBB\xBF<p>BOM first</p>", NULL));
    CHECK_STR(text(), "BOM first");
    CHECK_OK(extract("<meta charset=x-no-such-charset><p>Plain words, readable.</p>", NULL));
    CHECK(page.flags & KZ_HTML_UNKNOWN_CHARSET);
    CHECK_STR(text(), "Plain words, readable.");
}

static void test_bad_input(void)
{
    /* Malformed markup: unclosed, misnested, stray ends. */
    CHECK_OK(extract("<html><body><div><p>Unclosed <b>bold <i>both</b> italic</i> text<p>Second</div></span>"
                     "</td><table><tr><td>cell text</table><<>></x><!-- unterminated",
                     NULL));
    CHECK_HAS(text(), "Unclosed bold both italic text");
    CHECK_HAS(text(), "Second");
    /* No text at all. */
    CHECK_OK(extract("<html><head><title></title></head><body><script>x()</script></body></html>", NULL));
    CHECK_STR(text(), "");
    CHECK_OK(extract("", NULL));
    CHECK_STR(text(), "");
    /* Binary data. */
    unsigned char bin[4096];
    uint64_t seed = 42;
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)kz_test_rand(&seed);
    bin[10] = 0;
    CHECK_INT(kz_html_extract(&page, (const char *)bin, sizeof bin, NULL), KZ_ESYNTAX);
    /* 100,000 nested elements: no walk may recurse. */
    size_t depth = 100000;
    kz_buf deep = { 0 };
    for (size_t i = 0; i < depth; i++)
        kz_buf_append(&deep, "<div>", 5);
    kz_buf_append(&deep, "<p>Deep down, a paragraph of text.</p>", 38);
    for (size_t i = 0; i < depth; i++)
        kz_buf_append(&deep, "</div>", 6);
    int rc = kz_html_extract(&page, (const char *)deep.data, deep.len, NULL);
    CHECK(rc == KZ_OK || rc == KZ_ELIMIT);
    if (rc == KZ_OK)
        CHECK_HAS(text(), "Deep down, a paragraph of text.");
    /* A small memory budget: refused cleanly. */
    kz_html_options o = { NULL, NULL, 1u << 20 };
    CHECK_INT(kz_html_extract(&page, (const char *)deep.data, deep.len, &o), KZ_ELIMIT);
    CHECK_STR(text(), "");
    kz_buf_free(&deep);
}

/* Scripts and style sheets are left out before the parse (html.c
 * strip_scripts): what ends them must be what ends them for an HTML5
 * tokenizer, and what only looks like them must stay. */
static void test_scripts_left_out(void)
{
    static const char *const para = "<p>The visible paragraph of the story, long enough to be the article's text.</p>";
    char *html = NULL;
    /* A script's text holding markup and an end tag of another element. */
    if (asprintf(&html, "<html><body><script>var s = \"</div><p>scripted words</p>\";</script>%s</body></html>", para) < 0)
        abort();
    CHECK_OK(extract(html, NULL));
    CHECK_HAS(text(), "The visible paragraph");
    CHECK_LACKS(text(), "scripted");
    free(html);
    /* Escaped script data: a nested "<script>" in "<!-- -->" makes the
     * first "</script>" not the end. */
    if (asprintf(&html,
                 "<html><body><script><!-- document.write(\"<script>inner()</script>\"); "
                 "var hidden = '<p>escaped words</p>'; --></script>%s</body></html>",
                 para) < 0)
        abort();
    CHECK_OK(extract(html, NULL));
    CHECK_HAS(text(), "The visible paragraph");
    CHECK_LACKS(text(), "escaped words");
    CHECK_LACKS(text(), "hidden");
    free(html);
    /* "<script>" in an attribute value, a comment, a title and a
     * textarea is not a script: what follows stays. */
    if (asprintf(&html,
                 "<html><head><title>A <script> in the title</title></head><body>"
                 "<div title=\"<script>\" data-x='<style>'><!-- <script> --><!--> <p>After an abrupt comment, "
                 "a paragraph with words enough to count as text.</p><textarea><script></textarea>%s"
                 "<p>A closing paragraph, after the textarea, with words enough to count too.</p></div>"
                 "</body></html>",
                 para) < 0)
        abort();
    CHECK_OK(extract(html, NULL));
    CHECK_STR(title(), "A <script> in the title");
    CHECK_HAS(text(), "After an abrupt comment");
    CHECK_HAS(text(), "The visible paragraph");
    CHECK_HAS(text(), "A closing paragraph");
    free(html);
    /* JSON-LD is kept, whatever the attribute's case and quotes; a style
     * sheet with "</p>" in it is not text. */
    CHECK_OK(extract("<html><head><SCRIPT TYPE='application/LD+JSON'>{\"@type\":\"NewsArticle\","
                     "\"datePublished\":\"2021-05-04T10:00:00Z\"}</SCRIPT><style>p::after { content: \"</p>styled "
                     "words\" }</style></head><body><p>The visible paragraph of the story, long enough to be the "
                     "article's text.</p></body></html>",
                     NULL));
    CHECK_STR(field(KZ_HTML_DATE), "2021-05-04T10:00:00Z");
    CHECK_LACKS(text(), "styled words");
    CHECK_HAS(text(), "The visible paragraph");
    /* A script never closed: the rest is script. */
    CHECK_OK(extract("<html><body><p>Before the script, the paragraph that stays in the text.</p><script>if (a "
                     "< b) { x = '<p>never</p>';",
                     NULL));
    CHECK_HAS(text(), "Before the script");
    CHECK_LACKS(text(), "never");
    /* plaintext: the rest of the page is text, "<script>" and all. */
    CHECK_OK(extract("<html><body><plaintext>Plain text to the end: <script>shown()</script> as written, "
                     "words enough to count as the article.",
                     NULL));
    CHECK_HAS(text(), "<script>shown()</script>");
}

/* ---------------------------------------------------------------- through a build */

static char *tmp;

static void put(const char *name, const void *data, size_t len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    kz_test_write_file(path, data, len);
}

/* Appends data to path as one more gzip member. */
static void put_gz_member(const char *path, const void *data, size_t len)
{
    gzFile g = gzopen(path, "ab");
    gzwrite(g, data, (unsigned)len);
    gzclose(g);
}

typedef struct seen_problem {
    kz_problem kind;
    char where[512];
} seen_problem;
static seen_problem problems[64];
static size_t n_problems;

static void on_problem(void *ctx, kz_problem kind, const char *where, const char *message)
{
    (void)ctx;
    if (getenv("KZ_TEST_VERBOSE"))
        fprintf(stderr, "  problem %s %s: %s\n", kz_problem_name(kind), where, message);
    if (n_problems < 64) {
        problems[n_problems].kind = kind;
        snprintf(problems[n_problems].where, sizeof problems[n_problems].where, "%s", where);
        n_problems++;
    }
}

static int had_problem(kz_problem kind, const char *where_suffix)
{
    for (size_t i = 0; i < n_problems; i++) {
        size_t a = strlen(problems[i].where), b = strlen(where_suffix);
        if (problems[i].kind == kind && a >= b && strcmp(problems[i].where + a - b, where_suffix) == 0)
            return 1;
    }
    return 0;
}

static kz_index *build_budget(const char *source, kz_build_stats *st, uint64_t memory);
static kz_index *build(const char *source, kz_build_stats *st) { return build_budget(source, st, 0); }

/* Builds from source with a memory budget (0: the default). */
static kz_index *build_budget(const char *source, kz_build_stats *st, uint64_t memory)
{
    char ix_dir[4200];
    snprintf(ix_dir, sizeof ix_dir, "%s/ix", tmp);
    kz_test_remove_tree(ix_dir);
    n_problems = 0;
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.on_problem = on_problem;
    o.threads = 1;
    o.memory_budget = memory;
    o.flags = KZ_BUILD_EMPTY_OK;
    kz_builder *b = NULL;
    CHECK_OK(kz_builder_new(&b, ix_dir, &o));
    if (!b)
        return NULL;
    CHECK_OK(kz_builder_add_source(b, source));
    CHECK_OK(kz_builder_commit(b, st));
    kz_builder_free(b);
    kz_index *ix = NULL;
    CHECK_OK(kz_index_open(&ix, ix_dir));
    return ix;
}

/* The docid of the document with this id, or -1. */
static long find_doc(kz_index *ix, const char *id, kz_doc *d, kz_doc_field *meta, size_t cap)
{
    kz_index_info info;
    kz_index_get_info(ix, &info);
    for (uint32_t i = 0; i < info.docs; i++) {
        if (kz_index_doc(ix, d, i, meta, cap) == KZ_OK && d->id_len == strlen(id) && memcmp(d->id, id, d->id_len) == 0)
            return (long)i;
    }
    return -1;
}

static int doc_has_field(const kz_doc *d, const kz_doc_field *meta, const char *key, const char *value)
{
    for (size_t i = 0; i < d->n_meta && i < 16; i++)
        if (meta[i].key_len == strlen(key) && memcmp(meta[i].key, key, meta[i].key_len) == 0 &&
            meta[i].value_len == strlen(value) && memcmp(meta[i].value, value, meta[i].value_len) == 0)
            return 1;
    return 0;
}

static void test_folder_of_pages(void)
{
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/pages", tmp);
    mkdir(sub, 0755);
    char *html = article_page("<title>Folder page title here | Example</title><meta property=og:site_name "
                              "content=Example><meta property=article:published_time content=2022-03-01>",
                              paragraphs);
    put("pages/a.html", html, strlen(html));
    char gzpath[4200];
    snprintf(gzpath, sizeof gzpath, "%s/pages/b.htm.gz", tmp);
    put_gz_member(gzpath, html, strlen(html));
    static const char elf[] = "\x7f" "ELF\x02\x01\x01\0\0\0binary";
    put("pages/c.xhtml", elf, sizeof elf - 1);
    put("pages/d.html", "<html><body><nav>only a menu</nav></body></html>", 48);
    put("pages/e.txt", "A text file\nstill read.\n", 24);
    free(html);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/pages", tmp);
    kz_build_stats st;
    kz_index *ix = build(dir, &st);
    if (!ix)
        return;
    CHECK_INT(st.docs, 3);
    CHECK_INT(st.skipped, 2);
    CHECK_INT(st.problems[KZ_PROBLEM_BINARY], 1);
    CHECK_INT(st.problems[KZ_PROBLEM_EMPTY], 1);
    CHECK(had_problem(KZ_PROBLEM_BINARY, "pages/c.xhtml"));
    CHECK(had_problem(KZ_PROBLEM_EMPTY, "pages/d.html"));
    kz_doc d;
    kz_doc_field meta[16];
    CHECK(find_doc(ix, "b.htm.gz", &d, meta, 16) >= 0);
    long a = find_doc(ix, "a.html", &d, meta, 16);
    CHECK(a >= 0);
    if (a >= 0) {
        CHECK_INT(d.title_len, strlen("Folder page title here"));
        CHECK(memcmp(d.title, "Folder page title here", d.title_len) == 0);
        CHECK(doc_has_field(&d, meta, "site", "Example"));
        CHECK(doc_has_field(&d, meta, "date", "2022-03-01"));
        CHECK(doc_has_field(&d, meta, "lang", "en-GB"));
        char *t = NULL;
        size_t tl = 0;
        CHECK_OK(kz_index_doc_text(ix, &t, &tl, (uint32_t)a));
        CHECK(t && tl > 100 && memmem(t, tl, "first paragraph", 15) && !memmem(t, tl, "analyticsword", 13));
        free(t);
    }
    kz_index_free(ix);
}

static void test_jsonl_html(void)
{
    const char *lines =
        "{\"id\":\"j1\",\"html\":\"<title>JSON page</title><p>A paragraph &amp; more text from a JSON "
        "record.</p>\",\"source\":\"feed\"}\n"
        "{\"id\":\"j2\",\"title\":\"Own title\",\"html\":\"<p>Second record&#39;s page text.</p>\"}\n"
        "{\"id\":\"j3\",\"text\":\"plain text\",\"html\":\"<p>not used</p>\"}\n"
        "{\"id\":\"j4\",\"html\":\"<script>only()</script>\"}\n"
        "{\"id\":\"j5\"}\n";
    put("pages.jsonl", lines, strlen(lines));
    char path[4200];
    snprintf(path, sizeof path, "%s/pages.jsonl", tmp);
    kz_build_stats st;
    kz_index *ix = build(path, &st);
    if (!ix)
        return;
    CHECK_INT(st.docs, 3);
    CHECK(had_problem(KZ_PROBLEM_EMPTY, "pages.jsonl:4"));
    CHECK(had_problem(KZ_PROBLEM_BAD_FIELD, "pages.jsonl:5"));
    kz_doc d;
    kz_doc_field meta[16];
    long j1 = find_doc(ix, "j1", &d, meta, 16);
    CHECK(j1 >= 0);
    if (j1 >= 0) {
        CHECK(d.title_len == 9 && memcmp(d.title, "JSON page", 9) == 0);
        CHECK(doc_has_field(&d, meta, "source", "feed"));
        char *t = NULL;
        size_t tl = 0;
        CHECK_OK(kz_index_doc_text(ix, &t, &tl, (uint32_t)j1));
        CHECK(t && memmem(t, tl, "A paragraph & more", 18));
        free(t);
    }
    long j2 = find_doc(ix, "j2", &d, meta, 16);
    CHECK(j2 >= 0 && d.title_len == 9 && memcmp(d.title, "Own title", 9) == 0);
    long j3 = find_doc(ix, "j3", &d, meta, 16);
    CHECK(j3 >= 0);
    if (j3 >= 0) {
        char *t = NULL;
        size_t tl = 0;
        CHECK_OK(kz_index_doc_text(ix, &t, &tl, (uint32_t)j3));
        CHECK(t && tl == 10 && memcmp(t, "plain text", 10) == 0);
        free(t);
    }
    kz_index_free(ix);
}

/* A WARC record of the given type with an HTTP block. */
static void warc_record(kz_buf *out, const char *type, const char *uri, const char *content_type, const char *block,
                        size_t block_len)
{
    out->len = 0;
    kz_buf_printf(out,
                  "WARC/1.0\r\nWARC-Type: %s\r\nWARC-Record-ID: <urn:uuid:%zu>\r\n%s%s%sContent-Type: %s\r\n"
                  "Content-Length: %zu\r\n\r\n",
                  type, block_len, uri ? "WARC-Target-URI: " : "", uri ? uri : "", uri ? "\r\n" : "", content_type,
                  block_len);
    kz_buf_append(out, block, block_len);
    kz_buf_append(out, "\r\n\r\n", 4);
}

static void write_warc(const char *path, int gz, size_t *cut_at)
{
    kz_buf rec = { 0 }, all = { 0 }, block = { 0 };
    const char *info = "software: test_html\r\nformat: WARC File Format 1.0\r\n";
    warc_record(&rec, "warcinfo", NULL, "application/warc-fields", info, strlen(info));
    kz_buf_append(&all, rec.data, rec.len);
    const char *req = "GET /one HTTP/1.1\r\nHost: example.org\r\n\r\n";
    warc_record(&rec, "request", "http://example.org/one", "application/http;msgtype=request", req, strlen(req));
    kz_buf_append(&all, rec.data, rec.len);
    /* 2: an HTML response in windows-1251, said by the HTTP header only. */
    kz_buf_printf(&block, "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=windows-1251\r\n\r\n"
                          "<html><head><title>WARC page one</title></head><body><p>\xcf\xf0\xe8\xe2\xe5\xf2 from the "
                          "first WARC page, long enough to be its text.</p></body></html>");
    warc_record(&rec, "response", "http://example.org/one", "application/http;msgtype=response",
                (const char *)block.data, block.len);
    kz_buf_append(&all, rec.data, rec.len);
    /* 3: an image: not a page. */
    block.len = 0;
    kz_buf_printf(&block, "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n");
    warc_record(&rec, "response", "http://example.org/logo.png", "application/http;msgtype=response",
                (const char *)block.data, block.len);
    kz_buf_append(&all, rec.data, rec.len);
    /* 4: chunked, with a canonical link. */
    block.len = 0;
    const char *body = "<html><head><link rel=canonical href=\"http://example.org/canon\"></head><body>"
                       "<p>Second WARC page, sent in chunks, with its own text.</p></body></html>";
    size_t half = strlen(body) / 2;
    kz_buf_printf(&block, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "%zx\r\n%.*s\r\n%zx\r\n%s\r\n0\r\n\r\n",
                  half, (int)half, body, strlen(body) - half, body + half);
    warc_record(&rec, "response", "http://example.org/two", "application/http;msgtype=response",
                (const char *)block.data, block.len);
    size_t before_last = all.len;
    kz_buf_append(&all, rec.data, rec.len);
    /* Written record by record (one gzip member each), or plain. */
    kz_test_remove_tree(path);
    if (!gz) {
        kz_test_write_file(path, all.data, cut_at ? before_last + rec.len / 2 : all.len);
    } else {
        /* Re-cut all into its records by the "WARC/1.0\r\n" starts. */
        size_t start = 0;
        for (size_t i = 1; i + 10 <= all.len; i++) {
            if (memcmp(all.data + i, "WARC/1.0\r\n", 10) == 0 && all.data[i - 1] == '\n' && all.data[i - 2] == '\r' &&
                all.data[i - 3] == '\n') {
                put_gz_member(path, all.data + start, i - start);
                start = i;
            }
        }
        put_gz_member(path, all.data + start, all.len - start);
    }
    if (cut_at)
        *cut_at = before_last;
    kz_buf_free(&rec);
    kz_buf_free(&all);
    kz_buf_free(&block);
}

static void check_warc_docs(kz_index *ix, int with_second)
{
    kz_doc d;
    kz_doc_field meta[16];
    long one = find_doc(ix, "http://example.org/one", &d, meta, 16);
    CHECK(one >= 0);
    if (one >= 0) {
        CHECK(d.title_len == 13 && memcmp(d.title, "WARC page one", 13) == 0);
        CHECK(doc_has_field(&d, meta, "url", "http://example.org/one"));
        char *t = NULL;
        size_t tl = 0;
        CHECK_OK(kz_index_doc_text(ix, &t, &tl, (uint32_t)one));
        CHECK_MSG(t && memmem(t, tl, "Привет from the first", strlen("Привет from the first")), "%.*s", (int)tl, t);
        free(t);
    }
    CHECK(find_doc(ix, "http://example.org/logo.png", &d, meta, 16) < 0);
    long two = find_doc(ix, "http://example.org/two", &d, meta, 16);
    CHECK(with_second ? two >= 0 : two < 0);
    if (with_second && two >= 0) {
        CHECK(doc_has_field(&d, meta, "url", "http://example.org/canon"));
        char *t = NULL;
        size_t tl = 0;
        CHECK_OK(kz_index_doc_text(ix, &t, &tl, (uint32_t)two));
        CHECK_MSG(t && memmem(t, tl, "Second WARC page, sent in chunks", 32), "%.*s", (int)tl, t);
        free(t);
    }
}

static void test_warc(void)
{
    char path[4200];
    kz_build_stats st;
    for (int gz = 0; gz < 2; gz++) {
        snprintf(path, sizeof path, "%s/crawl.warc%s", tmp, gz ? ".gz" : "");
        write_warc(path, gz, NULL);
        kz_index *ix = build(path, &st);
        if (!ix)
            continue;
        CHECK_INT(st.docs, 2);
        CHECK_INT(st.skipped, 0);
        check_warc_docs(ix, 1);
        kz_index_free(ix);
        kz_test_remove_tree(path);
    }
    /* Cut in the middle of the last record: the others are indexed. */
    size_t cut;
    snprintf(path, sizeof path, "%s/cut.warc", tmp);
    write_warc(path, 0, &cut);
    kz_index *ix = build(path, &st);
    if (ix) {
        CHECK_INT(st.docs, 1);
        CHECK_INT(st.skipped, 1);
        CHECK(had_problem(KZ_PROBLEM_UNREADABLE, "cut.warc"));
        check_warc_docs(ix, 0);
        kz_index_free(ix);
    }
    /* A gzipped WARC cut short in its last member. */
    snprintf(path, sizeof path, "%s/crawl.warc.gz", tmp);
    write_warc(path, 1, NULL);
    size_t len = 0;
    uint8_t *data = kz_test_read_file(path, &len);
    CHECK(data != NULL);
    if (data) {
        snprintf(path, sizeof path, "%s/cutgz.warc.gz", tmp);
        kz_test_write_file(path, data, len - 40);
        free(data);
        ix = build(path, &st);
        if (ix) {
            CHECK_INT(st.docs, 1);
            CHECK(had_problem(KZ_PROBLEM_UNREADABLE, "cutgz.warc.gz"));
            check_warc_docs(ix, 0);
            kz_index_free(ix);
        }
    }
}

/* Content codings a test body may be in besides zlib's window bits. */
enum { CODING_BR = 100, CODING_ZSTD, CODING_GARBAGE };

/* body compressed with zlib window bits wbits (31 gzip, 15 zlib, -15 raw),
 * or Brotli, or zstd (CODING_BR, CODING_ZSTD: other encoders than the
 * reader's decoders), or bytes no decoder takes (CODING_GARBAGE). */
static void compress_body(kz_buf *out, const char *body, int wbits)
{
    size_t n = strlen(body);
    out->len = 0;
    if (wbits == CODING_BR) {
        size_t cap = BrotliEncoderMaxCompressedSize(n);
        kz_buf_reserve(out, cap);
        CHECK(BrotliEncoderCompress(5, 22, BROTLI_MODE_TEXT, n, (const uint8_t *)body, &cap, out->data));
        out->len = cap;
        return;
    }
    if (wbits == CODING_ZSTD) {
        kz_buf_reserve(out, ZSTD_compressBound(n));
        size_t got = ZSTD_compress(out->data, out->cap, body, n, 3);
        CHECK(!ZSTD_isError(got));
        out->len = ZSTD_isError(got) ? 0 : got;
        return;
    }
    if (wbits == CODING_GARBAGE) {
        kz_buf_append(out, "\x1b\x2f\x00\xa4\x01\x02\x03garbage-br", 17);
        return;
    }
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    CHECK(deflateInit2(&zs, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    kz_buf_reserve(out, deflateBound(&zs, n));
    zs.next_in = (Bytef *)(uintptr_t)body;
    zs.avail_in = (uInt)n;
    zs.next_out = out->data;
    zs.avail_out = (uInt)out->cap;
    CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    out->len = out->cap - zs.avail_out;
    deflateEnd(&zs);
}

/* Responses with a Content-Encoding: gzip, deflate (zlib-wrapped and
 * raw), br and zstd are decompressed; damaged or cut bodies, an encoding
 * not decoded, and bodies that decompress past the document limit are
 * reported; each of those skipped. */
static void test_warc_content_encoding(void)
{
    kz_buf all = { 0 }, rec = { 0 }, block = { 0 }, z = { 0 };
    /* 0-5 decode; 6 is cut gzip, 7 damaged br, 8 cut zstd, 9 an encoding not decoded. */
    const char *names[] = { "gzip", "x-gzip", "deflate", "deflate", "br", "zstd", "gzip", "br", "zstd", "compress" };
    const int wbits[] = { 31, 31, 15, -15, CODING_BR, CODING_ZSTD, 31, CODING_GARBAGE, CODING_ZSTD, 31 };
    enum { ENCODED = 10, DECODED = 6 };
    for (int i = 0; i < ENCODED; i++) {
        char body[300];
        snprintf(body, sizeof body,
                 "<html><head><title>Encoded %d</title></head><body><p>Compressed page number %d, in %s, with "
                 "text enough to be an article.</p></body></html>",
                 i, i, names[i]);
        compress_body(&z, body, wbits[i]);
        if (i == 6 || i == 8)
            z.len /= 2; /* cut short */
        block.len = 0;
        kz_buf_printf(&block, "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Encoding: %s\r\n\r\n",
                      names[i]);
        kz_buf_append(&block, z.data, z.len);
        char uri[64];
        snprintf(uri, sizeof uri, "http://example.org/enc%d", i);
        warc_record(&rec, "response", uri, "application/http;msgtype=response", (const char *)block.data, block.len);
        kz_buf_append(&all, rec.data, rec.len);
    }
    /* Then small gzip, br and zstd bodies that decompress to 3 MB, over a
     * 2 MB document limit. */
    kz_buf big = { 0 };
    kz_buf_append(&big, "<html><body><p>", 15);
    while (big.len < (3u << 20))
        kz_buf_append(&big, "bomb bomb bomb bomb ", 20);
    kz_buf_append(&big, "</p></body></html>", 19);
    const char *bomb_names[] = { "gzip", "br", "zstd" };
    const int bomb_codings[] = { 31, CODING_BR, CODING_ZSTD };
    for (int i = 0; i < 3; i++) {
        compress_body(&z, (const char *)big.data, bomb_codings[i]);
        block.len = 0;
        kz_buf_printf(&block, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: %s\r\n\r\n",
                      bomb_names[i]);
        kz_buf_append(&block, z.data, z.len);
        char uri[64];
        snprintf(uri, sizeof uri, "http://example.org/bomb-%s", bomb_names[i]);
        warc_record(&rec, "response", uri, "application/http;msgtype=response", (const char *)block.data, block.len);
        kz_buf_append(&all, rec.data, rec.len);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/enc.warc", tmp);
    kz_test_write_file(path, all.data, all.len);

    char ix_dir[4200];
    snprintf(ix_dir, sizeof ix_dir, "%s/ix", tmp);
    kz_test_remove_tree(ix_dir);
    n_problems = 0;
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.on_problem = on_problem;
    o.threads = 1;
    o.max_doc_bytes = 2u << 20;
    kz_builder *b = NULL;
    kz_build_stats st;
    CHECK_OK(kz_builder_new(&b, ix_dir, &o));
    if (b) {
        CHECK_OK(kz_builder_add_source(b, path));
        CHECK_OK(kz_builder_commit(b, &st));
        kz_builder_free(b);
        CHECK_INT(st.docs, DECODED);
        CHECK_INT(st.skipped, ENCODED - DECODED + 3);
        CHECK(had_problem(KZ_PROBLEM_UNREADABLE, "enc.warc:7"));
        CHECK(had_problem(KZ_PROBLEM_UNREADABLE, "enc.warc:8"));
        CHECK(had_problem(KZ_PROBLEM_UNREADABLE, "enc.warc:9"));
        CHECK(had_problem(KZ_PROBLEM_BINARY, "enc.warc:10"));
        for (int i = 11; i <= 13; i++) {
            char where[32];
            snprintf(where, sizeof where, "enc.warc:%d", i);
            CHECK_MSG(had_problem(KZ_PROBLEM_TOO_LARGE, where), "%s", where);
        }
        kz_index *ix = NULL;
        CHECK_OK(kz_index_open(&ix, ix_dir));
        for (int i = 0; ix && i < DECODED; i++) {
            char uri[64], title[32];
            snprintf(uri, sizeof uri, "http://example.org/enc%d", i);
            snprintf(title, sizeof title, "Encoded %d", i);
            kz_doc d;
            kz_doc_field meta[16];
            long id = find_doc(ix, uri, &d, meta, 16);
            CHECK_MSG(id >= 0 && d.title_len == strlen(title) && memcmp(d.title, title, d.title_len) == 0,
                      "record %d", i + 1);
        }
        kz_index_free(ix);
    }
    kz_buf_free(&all);
    kz_buf_free(&rec);
    kz_buf_free(&block);
    kz_buf_free(&z);
    kz_buf_free(&big);
}

/* A page whose parse takes more than a small build's share of memory is
 * reported and skipped; with the default budget it is indexed. */
static void test_page_memory_budget(void)
{
    kz_buf html = { 0 };
    kz_buf_append(&html, "<html><body><p>Start of a page of many elements.</p>", 52);
    for (int i = 0; i < 150000; i++)
        kz_buf_append(&html, "<b>x</b>", 8);
    kz_buf_append(&html, "</body></html>", 14);
    char path[4200];
    snprintf(path, sizeof path, "%s/heavy.html", tmp);
    kz_test_write_file(path, html.data, html.len);
    kz_build_stats st;
    kz_index *ix = build_budget(path, &st, 64u << 20); /* a fifth: 12.8 MB for the parse */
    CHECK_INT(st.docs, 0);
    CHECK_INT(st.skipped, 1);
    CHECK(had_problem(KZ_PROBLEM_TOO_LARGE, "heavy.html"));
    kz_index_free(ix);
    ix = build_budget(path, &st, 0);
    CHECK_INT(st.docs, 1);
    CHECK_INT(st.skipped, 0);
    kz_index_free(ix);
    kz_buf_free(&html);
}

int main(void)
{
    tmp = kz_test_temp_dir();
    KZ_RUN(test_extract_article);
    KZ_RUN(test_metadata_sources);
    KZ_RUN(test_entities);
    KZ_RUN(test_charsets);
    KZ_RUN(test_bad_input);
    KZ_RUN(test_scripts_left_out);
    KZ_RUN(test_folder_of_pages);
    KZ_RUN(test_jsonl_html);
    KZ_RUN(test_warc);
    KZ_RUN(test_warc_content_encoding);
    KZ_RUN(test_page_memory_budget);
    kz_html_page_free(&page);
    kz_test_remove_tree(tmp);
    free(tmp);
    return kz_test_finish();
}
