/*
 * chrome.c: the site around an article in scraped plain text.
 *
 * A .txt file scraped from a web page still carries its site's chrome:
 * "Post a Comment", "Adblock Detected", breadcrumbs ("Home » world »
 * Headline"), related headlines and adverts after the article. Two
 * signals find it, one across the documents of a folder and one inside
 * each document:
 *
 *  1. Repetition. A folder's .txt files are read twice. The first pass
 *     (kz_chrome_learn) counts, for each normalized line, the documents of
 *     the folder that hold it. A line is chrome when it is at most
 *     CHROME_MAX_LINE bytes and is held by at least
 *         max(REPEAT_MIN_DOCS, REPEAT_PERCENT % of the folder's documents)
 *     documents, in a folder of at least REPEAT_MIN_FOLDER documents. A
 *     site's template repeats in every page; a folder of pages from many
 *     sites repeats almost nothing, and nothing is dropped from it. Long
 *     lines (paragraphs) are never chrome: a document that shares a
 *     paragraph with another, held by fewer than half of the folder's
 *     documents (a template's long line is in most), is a copy (a
 *     syndicated story), whose repeated short lines (headline,
 *     subheadings) are its own, so the repetition rule is not applied to
 *     it. (A folder of nothing but copies of one story loses their shared
 *     short lines: collapsing copies is the search's work.)
 *
 *  2. The page's own shape, for a folder too small or too mixed for
 *     repetition: lines that are the stock strings of publishing
 *     templates (WordPress, Blogger, ad-block walls: "Leave a Reply",
 *     "Advertisement", "Share this:"; and Russian and Kazakh sites' own,
 *     "Реклама", "Читайте также", "Жарнама") are dropped anywhere; one that opens
 *     a page's trailing sections ("Post a Comment", "You may also like",
 *     "Related posts", "Source link", "Comments: 3") cuts the text there
 *     when it comes in the document's last quarter (so that a marker
 *     early in a text never costs it much); short calls to action in the
 *     second half ("... in the comments below!") are dropped.
 *
 * The title is the first line that is neither chrome nor a breadcrumb
 * without a headline; a breadcrumb's last element, when it reads as a
 * headline, is one. A title followed at once by a line it contains (a
 * page title "Site: Headline" and then the headline) gives way to that
 * line; an all-capitals section kicker before a headline
 * ("WORLD-POLITICS Headline ...") is cut off.
 *
 * Memory: the line table holds CHROME_SLOTS entries of 16 bytes (4 MiB);
 * when it is half full, the lines held by the fewest documents are
 * forgotten (a site's chrome is held by many, and stays).
 */
#include "html.h"

#include <ctype.h>
#include <stdlib.h>
#include <utf8proc.h>
#include <xxhash.h>

#define CHROME_MAX_LINE 200    /* bytes: longer lines are text */
#define REPEAT_MIN_FOLDER 4    /* documents a folder needs for the repetition rule */
#define REPEAT_MIN_DOCS 3      /* documents that must hold a line */
#define REPEAT_PERCENT 1       /* ... or this share of the folder's */
#define CHROME_SLOTS (1u << 18)
#define TITLE_LOOKAHEAD 20     /* lines searched for a title past chrome */

typedef struct line_entry {
    uint64_t key;  /* 0: empty */
    uint32_t docs; /* documents holding the line */
    uint32_t last; /* the serial of the last document counted */
} line_entry;

typedef struct folder_entry {
    uint64_t key; /* 0: empty */
    uint64_t docs;
} folder_entry;

struct kz_chrome {
    line_entry *lines;
    size_t n_lines;
    folder_entry *folders;
    size_t n_folders, folder_cap;
    uint32_t serial;
};

/* ---------------------------------------------------------------- lines */

/* A line normalized for comparison into out (CHROME_MAX_LINE + 1 bytes):
 * ASCII lower case, runs of white space and ASCII punctuation (but ' and
 * &) as one space, a run of digits as "0", a trailing "…" dropped. The length, or SIZE_MAX when
 * the line is longer than CHROME_MAX_LINE. */
static size_t normalize(char *out, const char *s, size_t n)
{
    if (n > CHROME_MAX_LINE)
        return SIZE_MAX;
    size_t o = 0;
    int space = 0, digit = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' ||
            (c < 0x80 && c != '\'' && c != '&' && ispunct(c))) {
            space = o > 0;
            digit = 0;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = 0;
        if (c >= '0' && c <= '9') {
            if (!digit)
                out[o++] = '0';
            digit = 1;
            continue;
        }
        digit = 0;
        if (c >= 0xD0 && c <= 0xD3 && i + 1 < n && ((unsigned char)s[i + 1] & 0xC0) == 0x80) {
            /* Cyrillic (U+0400 .. U+04FF, two bytes): lower-cased as
             * Unicode has it, when that stays in the block, so that
             * "РЕКЛАМА" is "реклама" in as many bytes. */
            uint32_t cp = (uint32_t)(c & 0x1F) << 6 | ((unsigned char)s[i + 1] & 0x3F);
            utf8proc_int32_t low = utf8proc_tolower((utf8proc_int32_t)cp);
            if (low >= 0x400 && low <= 0x4FF)
                cp = (uint32_t)low;
            out[o++] = (char)(0xC0 | cp >> 6);
            out[o++] = (char)(0x80 | (cp & 0x3F));
            i++;
            continue;
        }
        out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    for (;;) {
        if (o > 0 && out[o - 1] == ' ')
            o--;
        else if (o >= 3 && memcmp(out + o - 3, "\xe2\x80\xa6", 3) == 0) /* … */
            o -= 3;
        else
            break;
    }
    out[o] = 0;
    return o;
}

/* The stock strings of publishing templates, normalized. A line that is
 * one of them is chrome wherever it is. */
static const char *const stock_lines[] = {
    "advertisement", "advertisements", "sponsored", "sponsored content", "adblock detected",
    "ad blocker detected", "adblocker detected", "skip to content", "skip to main content", "share this",
    "share this article", "share this story", "share this post", "share on facebook", "share on twitter",
    "like this", "loading", "print", "email", "tweet", "post a comment", "leave a comment", "leave a reply",
    "cancel reply", "post navigation", "previous post", "next post", "previous post next post",
    "previous article", "next article", "you may also like", "you might also like", "recommended for you",
    "related", "related posts", "related articles", "related stories", "related news", "more stories",
    "read next", "read more", "source link", "comments", "0 comments", "comments 0",
    "no comments", "no comments yet", "follow us", "subscribe", "all rights reserved", "about the author",
    "tags", "newsletter", "sign up for our newsletter", "subscribe to our newsletter",
    /* Russian templates */
    "реклама", "поделиться", "поделитесь", "комментарии", "комментарии 0", "нет комментариев", "оставить комментарий",
    "добавить комментарий", "оставьте комментарий", "читайте также", "читать также", "похожие новости",
    "похожие статьи", "похожие материалы", "новости по теме", "материалы по теме", "другие новости", "источник",
    "подписаться", "подписывайтесь", "подпишитесь на нас", "все права защищены", "теги", "метки", "версия для печати",
    "распечатать", "предыдущая статья", "следующая статья", "предыдущая новость", "следующая новость", "наверх",
    "перейти к содержимому",
    /* Kazakh templates */
    "жарнама", "бөлісу", "пікірлер", "пікір қалдыру", "тағы оқыңыз", "ұқсас жаңалықтар", "тақырып бойынша",
    "барлық құқықтар қорғалған", "жазылу", "тегтер",
};

/* Those that open a page's trailing sections (comments, related links,
 * the scraper's "Source link"). */
static const char *const tail_markers[] = {
    "post a comment", "leave a comment", "leave a reply", "post navigation", "previous post next post",
    "you may also like", "you might also like", "recommended for you", "related", "related posts",
    "related articles", "related stories", "related news", "more stories", "read next", "source link",
    "comments", "0 comments", "comments 0", "no comments", "no comments yet",
    "about the author", "share this", "share this article", "share this story", "share this post",
    "комментарии", "комментарии 0", "нет комментариев", "оставить комментарий", "добавить комментарий",
    "оставьте комментарий", "читайте также", "похожие новости", "похожие статьи", "похожие материалы",
    "новости по теме", "материалы по теме", "другие новости", "пікірлер", "пікір қалдыру", "тағы оқыңыз",
    "ұқсас жаңалықтар", "тақырып бойынша",
};

/* Calls to action: a short line holding one, in the second half, is
 * chrome. */
static const char *const calls_to_action[] = {
    "in the comments", "comments below", "leave a comment", "subscribe to our", "sign up for our",
    "follow us on", "your adblocker", "your ad blocker", "disable your adblock", "disabling your adblock",
    "в комментариях", "подписывайтесь на", "подпишитесь на", "отключите блокировщик", "пікірлерде",
};

static int in_list(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

static int contains_any(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strstr(s, list[i]))
            return 1;
    return 0;
}

#define N_OF(a) (sizeof(a) / sizeof *(a))

/* ---------------------------------------------------------------- counts */

int kz_chrome_new(kz_chrome **out)
{
    kz_chrome *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c || !(c->lines = calloc(CHROME_SLOTS, sizeof *c->lines))) {
        free(c);
        return kz_error_set(KZ_ENOMEM, "out of memory");
    }
    *out = c;
    return KZ_OK;
}

void kz_chrome_free(kz_chrome *c)
{
    if (!c)
        return;
    free(c->lines);
    free(c->folders);
    free(c);
}

static uint64_t folder_key(const char *folder, size_t len) { return XXH3_64bits(folder, len) | 1; }

static folder_entry *folder_find(const kz_chrome *c, uint64_t key)
{
    if (!c->folder_cap)
        return NULL;
    for (size_t i = key & (c->folder_cap - 1);; i = (i + 1) & (c->folder_cap - 1)) {
        if (c->folders[i].key == key || c->folders[i].key == 0)
            return &c->folders[i];
    }
}

static int folder_count(kz_chrome *c, uint64_t key)
{
    if ((c->n_folders + 1) * 2 > c->folder_cap) {
        size_t cap = c->folder_cap ? c->folder_cap * 2 : 64;
        folder_entry *old = c->folders, *nf = calloc(cap, sizeof *nf);
        if (!nf)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        size_t old_cap = c->folder_cap;
        c->folders = nf;
        c->folder_cap = cap;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].key)
                *folder_find(c, old[i].key) = old[i];
        free(old);
    }
    folder_entry *f = folder_find(c, key);
    if (!f->key) {
        f->key = key;
        c->n_folders++;
    }
    f->docs++;
    return KZ_OK;
}

static line_entry *line_find(line_entry *t, uint64_t key)
{
    for (size_t i = key & (CHROME_SLOTS - 1);; i = (i + 1) & (CHROME_SLOTS - 1))
        if (t[i].key == key || t[i].key == 0)
            return &t[i];
}

/* Forgets the lines held by the fewest documents until the table is at
 * most a quarter full. */
static int prune(kz_chrome *c)
{
    line_entry *t = calloc(CHROME_SLOTS, sizeof *t);
    if (!t)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    for (uint32_t below = 2;; below *= 2) {
        size_t kept = 0;
        for (size_t i = 0; i < CHROME_SLOTS; i++)
            kept += c->lines[i].key && c->lines[i].docs >= below;
        if (kept <= CHROME_SLOTS / 4) {
            for (size_t i = 0; i < CHROME_SLOTS; i++)
                if (c->lines[i].key && c->lines[i].docs >= below)
                    *line_find(t, c->lines[i].key) = c->lines[i];
            free(c->lines);
            c->lines = t;
            c->n_lines = kept;
            return KZ_OK;
        }
    }
}

/* A line's key: its normalized form (or, for a long line, its bytes),
 * hashed with its folder's key. */
static uint64_t line_key(uint64_t folder, const char *s, size_t n)
{
    char norm[CHROME_MAX_LINE + 1];
    size_t len = normalize(norm, s, n);
    uint64_t h = len == SIZE_MAX ? XXH3_64bits_withSeed(s, n, folder) : XXH3_64bits_withSeed(norm, len, folder);
    return h ? h : 1;
}

/* The line [s, e) of text at *at, trimmed; advances *at past it. */
static void next_line(const char *text, size_t len, size_t *at, size_t *s, size_t *e)
{
    const char *nl = memchr(text + *at, '\n', len - *at);
    size_t end = nl ? (size_t)(nl - text) : len;
    size_t a = *at, z = end;
    while (a < z && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r' || text[a] == '\f'))
        a++;
    while (z > a && (text[z - 1] == ' ' || text[z - 1] == '\t' || text[z - 1] == '\r' || text[z - 1] == '\f'))
        z--;
    *s = a;
    *e = z;
    *at = nl ? end + 1 : len;
}

int kz_chrome_learn(kz_chrome *c, const char *folder, size_t folder_len, const char *text, size_t len)
{
    int rc;
    uint64_t fk = folder_key(folder, folder_len);
    if ((rc = folder_count(c, fk)))
        return rc;
    uint32_t serial = ++c->serial;
    for (size_t at = 0; at < len;) {
        size_t s, e;
        next_line(text, len, &at, &s, &e);
        if (e == s)
            continue;
        if (c->n_lines >= CHROME_SLOTS / 2 && (rc = prune(c)))
            return rc;
        line_entry *le = line_find(c->lines, line_key(fk, text + s, e - s));
        if (!le->key) {
            le->key = line_key(fk, text + s, e - s);
            c->n_lines++;
        } else if (le->last == serial) {
            continue; /* twice in one document: counted once */
        }
        le->docs++;
        le->last = serial;
    }
    return KZ_OK;
}

/* Documents of the folder holding the line [s, s+n). */
static uint32_t line_docs(const kz_chrome *c, uint64_t fk, const char *s, size_t n)
{
    const line_entry *le = line_find(c->lines, line_key(fk, s, n));
    return le->key ? le->docs : 0;
}

/* ---------------------------------------------------------------- one document */

static size_t count_words(const char *s, size_t n)
{
    size_t words = 0;
    int in = 0;
    for (size_t i = 0; i < n; i++) {
        int sp = s[i] == ' ' || s[i] == '\t';
        words += !sp && !in;
        in = !sp;
    }
    return words;
}

/* Finds the next breadcrumb separator ("»", "›", "→", " > ") in [s, s+n):
 * its offset and *sep_len, or SIZE_MAX. */
static size_t find_separator(const char *s, size_t n, size_t *sep_len)
{
    for (size_t i = 0; i < n; i++) {
        if (i + 2 <= n && (memcmp(s + i, "\xc2\xbb", 2) == 0)) { /* » */
            *sep_len = 2;
            return i;
        }
        if (i + 3 <= n && (memcmp(s + i, "\xe2\x80\xba", 3) == 0 || memcmp(s + i, "\xe2\x86\x92", 3) == 0)) {
            *sep_len = 3; /* › → */
            return i;
        }
        if (i + 3 <= n && memcmp(s + i, " > ", 3) == 0) {
            *sep_len = 3;
            return i;
        }
    }
    return SIZE_MAX;
}

/* Whether [s, s+n) is a breadcrumb trail: elements joined by separators,
 * all but the last short (at most 3 words, 40 bytes). *last and *last_len
 * give the last element, trimmed (possibly empty: "Home » world »"). */
static int is_breadcrumb(const char *s, size_t n, const char **last, size_t *last_len)
{
    size_t at = 0, sep_len, elements = 0;
    for (;;) {
        size_t i = find_separator(s + at, n - at, &sep_len);
        if (i == SIZE_MAX)
            break;
        if (i > 40 || count_words(s + at, i) > 3)
            return 0;
        elements++;
        at += i + sep_len;
    }
    if (!elements)
        return 0;
    while (at < n && (s[at] == ' ' || s[at] == '\t'))
        at++;
    *last = s + at;
    *last_len = n - at;
    return 1;
}

/* The headline after an all-capitals section kicker ("WORLD-POLITICS
 * Headline"): the kicker is one token of capitals joined by '-' or '/'
 * (no digits), followed by a capitalized word that has lower case. */
static void cut_kicker(const char **title, size_t *len)
{
    const char *s = *title;
    size_t n = *len, i = 0, letters = 0, joins = 0;
    for (; i < n && s[i] != ' '; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            letters++;
        else if ((c == '-' || c == '/') && i > 0 && i + 1 < n && s[i + 1] >= 'A' && s[i + 1] <= 'Z')
            joins++;
        else
            return;
    }
    if (!joins || letters < 4 || i + 1 >= n)
        return;
    const char *rest = s + i + 1;
    size_t rest_len = n - i - 1;
    if (!(rest[0] >= 'A' && rest[0] <= 'Z') || rest_len < 2 || !(rest[1] >= 'a' && rest[1] <= 'z') ||
        count_words(rest, rest_len) < 3)
        return;
    *title = rest;
    *len = rest_len;
}

/* What a line is, by the rules that need no position. */
enum { LINE_TEXT, LINE_STOCK, LINE_REPEATED };

typedef struct line_kind {
    int kind;   /* LINE_* */
    int marker; /* opens the trailing sections */
    int cta;    /* a call to action */
    int copied; /* a long line held by another document of the folder too */
} line_kind;

static line_kind classify(const kz_chrome *c, uint64_t fk, uint64_t threshold, uint64_t folder_docs, const char *s,
                          size_t n)
{
    line_kind k = { 0 };
    char norm[CHROME_MAX_LINE + 1];
    size_t nl = normalize(norm, s, n);
    if (nl == SIZE_MAX) {
        /* A paragraph in a few of the folder's documents (a template's
         * long line, a cookie notice, is in most). */
        uint32_t docs = threshold != UINT64_MAX ? line_docs(c, fk, s, n) : 0;
        k.copied = docs >= 2 && docs < (folder_docs + 1) / 2;
        return k;
    }
    k.marker = in_list(tail_markers, N_OF(tail_markers), norm);
    k.cta = contains_any(calls_to_action, N_OF(calls_to_action), norm);
    if (in_list(stock_lines, N_OF(stock_lines), norm))
        k.kind = LINE_STOCK;
    else if (threshold != UINT64_MAX && line_docs(c, fk, s, n) >= threshold)
        k.kind = LINE_REPEATED;
    return k;
}

int kz_chrome_clean(kz_chrome_doc *out, const kz_chrome *c, const char *folder, size_t folder_len, const char *data,
                    size_t len)
{
    int rc;
    out->buf.len = 0;
    out->title = data;
    out->title_len = 0;
    out->text = data;
    out->text_len = 0;
    out->dropped = 0;
    uint64_t fk = folder_key(folder ? folder : "", folder ? folder_len : 0);
    uint64_t threshold = UINT64_MAX, folder_docs = 0;
    if (c) {
        const folder_entry *f = folder_find(c, fk);
        folder_docs = f && f->key ? f->docs : 0;
        if (folder_docs >= REPEAT_MIN_FOLDER)
            threshold = KZ_MAX((uint64_t)REPEAT_MIN_DOCS, (folder_docs * REPEAT_PERCENT + 99) / 100);
    }
    /* First scan: whether the document is a copy, where its trailing
     * sections start (cut), and whether anything is dropped at all. */
    int copy = 0;
    size_t cut = len, stock = 0, repeated = 0;
    for (size_t at = 0; at < len;) {
        size_t start = at, s, e;
        next_line(data, len, &at, &s, &e);
        if (e == s)
            continue;
        line_kind k = classify(c, fk, threshold, folder_docs, data + s, e - s);
        copy |= k.copied;
        if (k.marker && start >= len - len / 4 && cut == len)
            cut = start;
        if (start < cut) {
            stock += k.kind == LINE_STOCK || (k.cta && start >= len / 2);
            repeated += k.kind == LINE_REPEATED;
        }
    }
    int use_repeated = !copy;
    /* The title: the first line that is not chrome, or a breadcrumb's
     * headline, within the first TITLE_LOOKAHEAD lines. body: where the
     * text starts; skip: a line after the title that is dropped too. */
    size_t body = 0, skip_s = SIZE_MAX, first_s = SIZE_MAX, first_e = 0, first_next = 0;
    int found = 0;
    for (size_t at = 0, seen = 0; at < cut && seen < TITLE_LOOKAHEAD;) {
        size_t s, e;
        next_line(data, len, &at, &s, &e);
        if (e == s)
            continue;
        seen++;
        if (first_s == SIZE_MAX) {
            first_s = s;
            first_e = e;
            first_next = at;
        }
        line_kind k = classify(c, fk, threshold, folder_docs, data + s, e - s);
        if (k.kind == LINE_STOCK || (k.kind == LINE_REPEATED && use_repeated))
            continue;
        const char *last;
        size_t last_len;
        if (is_breadcrumb(data + s, e - s, &last, &last_len)) {
            if (count_words(last, last_len) < 3)
                continue;
            out->title = last;
            out->title_len = last_len;
        } else {
            out->title = data + s;
            out->title_len = e - s;
        }
        body = at;
        found = 1;
        break;
    }
    if (!found && first_s != SIZE_MAX) {
        out->title = data + first_s; /* all chrome: the first line, as for any text */
        out->title_len = first_e - first_s;
        body = first_next;
    }
    if (out->title_len) {
        /* The next line: the headline again, or the headline of a
         * decorated page title ("Site: Headline Headline"). */
        for (size_t at = body; at < cut;) {
            size_t s, e;
            next_line(data, len, &at, &s, &e);
            if (e == s)
                continue;
            line_kind k = classify(c, fk, threshold, folder_docs, data + s, e - s);
            if (k.kind == LINE_STOCK || (k.kind == LINE_REPEATED && use_repeated))
                continue;
            const char *next = data + s;
            size_t next_len = e - s;
            if (next_len == out->title_len && memcmp(next, out->title, next_len) == 0) {
                skip_s = s;
            } else if (next_len < out->title_len && count_words(next, next_len) >= 3 &&
                       memmem(out->title, out->title_len, next, next_len)) {
                out->title = next;
                out->title_len = next_len;
                skip_s = s;
            }
            break;
        }
        cut_kicker(&out->title, &out->title_len);
    }
    /* Lines before body count as dropped when not blank (the title's own
     * line aside). */
    for (size_t at = 0, n = 0; at < body;) {
        size_t s, e;
        next_line(data, len, &at, &s, &e);
        out->dropped += e > s && n++ > 0;
    }
    if (cut == len && skip_s == SIZE_MAX && stock == 0 && (repeated == 0 || !use_repeated)) {
        out->text = data + body; /* nothing to drop: the text as it is */
        out->text_len = len - body;
        return KZ_OK;
    }
    /* The text: the lines kept, as they were (white space, line ends). */
    for (size_t at = body; at < cut;) {
        size_t start = at, s, e;
        next_line(data, len, &at, &s, &e);
        if (e > s) {
            line_kind k = classify(c, fk, threshold, folder_docs, data + s, e - s);
            int drop = s == skip_s || k.kind == LINE_STOCK || (k.kind == LINE_REPEATED && use_repeated) ||
                       (k.cta && start >= len / 2);
            if (drop) {
                out->dropped++;
                continue;
            }
        }
        if ((rc = kz_buf_append(&out->buf, data + start, at - start)))
            return rc;
    }
    for (size_t at = cut; at < len;) {
        size_t s, e;
        next_line(data, len, &at, &s, &e);
        out->dropped += e > s;
    }
    out->text = out->buf.len ? (const char *)out->buf.data : "";
    out->text_len = out->buf.len;
    return KZ_OK;
}

void kz_chrome_doc_free(kz_chrome_doc *d)
{
    kz_buf_free(&d->buf);
    memset(d, 0, sizeof *d);
}
