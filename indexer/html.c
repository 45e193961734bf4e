/*
 * html.c: one web page in, its article's own text and its metadata out.
 *
 * 1. Charset. The page's bytes are turned into UTF-8 with iconv. The
 *    charset is the first of: a byte-order mark; a <meta charset> or
 *    <meta http-equiv=content-type> (or an <?xml encoding>) in the first
 *    4096 bytes; the HTTP header's (kz_html_options.http_charset); UTF-8.
 *    Web labels are mapped as browsers map them (latin1 and us-ascii are
 *    windows-1252, gb2312 is GB18030). Bytes invalid in the charset become
 *    U+FFFD; a charset iconv does not know is read as UTF-8. Both are
 *    flagged (kz_html_page.flags) for the caller to report.
 * 2. Parse. libgumbo, an HTML5 parser, builds the tree and decodes every
 *    character reference (the whole HTML5 table, numeric ones included).
 *    Its allocations go to an arena of our own with a budget (max_memory):
 *    past it, the parse is abandoned with a longjmp and the arena freed, so
 *    a hostile page costs at most the budget. The arena is freed at once
 *    at the end, so gumbo's own recursive tree destructor never runs.
 * 3. One walk over the tree, iterative (an explicit stack), lays the
 *    elements that may hold content out in a flat array in document order
 *    (a subtree is a contiguous range), and takes the metadata as it goes.
 *    Scripts, styles, forms' controls, navigation, asides, footers,
 *    hidden elements and elements whose class or id says boilerplate
 *    (share, comment, related, cookie, ...) are not entered. Every later
 *    step is a loop over that array.
 * 4. Main content. Each block that holds text itself scores as a paragraph
 *    (1 + its commas + its length in hundreds of characters, at most 3).
 *    The score goes to the enclosing blocks, less the further up, and each
 *    candidate's total is scaled by 1 - its link density, plus hints: the
 *    page's itemprop="articleBody" and <article>. The best candidate and
 *    those of its siblings that score near it or read as prose are the
 *    article; inside them, blocks that are mostly links (related stories,
 *    tag lists) and <h1> (the title) are left out. Blocks are written in
 *    page order, separated by blank lines. When that gives little text
 *    and the page's JSON-LD has an articleBody, that is the text.
 */
#include "html.h"

#include <errno.h>
#include <gumbo.h>
#include <iconv.h>
#include <setjmp.h>
#include <stdlib.h>

#define SNIFF_BYTES 4096
#define BINARY_SNIFF 8192
#define ARENA_CHUNK (1u << 20)
#define JSON_MAX_DEPTH 64
#define RETRY_BELOW 500 /* bytes of text under which the extraction is tried again */

static const char *const field_names[KZ_HTML_N_FIELDS] = { "date", "url", "site", "author", "lang" };

const char *kz_html_field_name(int field)
{
    return field >= 0 && field < KZ_HTML_N_FIELDS ? field_names[field] : "?";
}

static int has_suffix_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

int kz_html_is_page_name(const char *path)
{
    static const char *const ext[] = { ".html", ".htm", ".xhtml", ".html.gz", ".htm.gz", ".xhtml.gz" };
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
        if (has_suffix_ci(path, ext[i]))
            return 1;
    return 0;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

/* Case-insensitive search of needle (lower case) in [s, s+n). */
static const char *find_ci(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++) {
        size_t k = 0;
        while (k < m && lower((unsigned char)s[i + k]) == needle[k])
            k++;
        if (k == m)
            return s + i;
    }
    return NULL;
}

/* ---------------------------------------------------------------- arena */

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    max_align_t data[];
} chunk;

typedef struct arena {
    chunk *head;
    uint64_t total, limit;
    jmp_buf fail;
} arena;

static void *arena_alloc(void *ud, size_t size)
{
    arena *a = ud;
    size = (size + 15) & ~(size_t)15;
    chunk *c = a->head;
    if (c && c->size - c->used >= size) {
        void *p = (char *)c->data + c->used;
        c->used += size;
        return p;
    }
    size_t cs = size > ARENA_CHUNK / 4 ? size : ARENA_CHUNK;
    if (a->total + cs + sizeof *c > a->limit)
        longjmp(a->fail, KZ_ELIMIT);
    chunk *n = malloc(sizeof *n + cs);
    if (!n)
        longjmp(a->fail, KZ_ENOMEM);
    a->total += cs + sizeof *n;
    n->size = cs;
    n->used = size;
    if (c && cs != ARENA_CHUNK) { /* a big one of its own: keep filling the current chunk */
        n->next = c->next;
        c->next = n;
    } else {
        n->next = c;
        a->head = n;
    }
    return n->data;
}

static void arena_dealloc(void *ud, void *p)
{
    KZ_UNUSED(ud);
    KZ_UNUSED(p); /* freed with the arena */
}

static void arena_free(arena *a)
{
    for (chunk *c = a->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    a->head = NULL;
    a->total = 0;
}

/* ---------------------------------------------------------------- charset */

void kz_html_content_type_charset(char *out, size_t size, const char *ct)
{
    out[0] = 0;
    const char *p = find_ci(ct, strlen(ct), "charset");
    if (!p || size == 0)
        return;
    p += 7;
    while (is_space((unsigned char)*p))
        p++;
    if (*p != '=')
        return;
    p++;
    while (is_space((unsigned char)*p) || *p == '"' || *p == '\'')
        p++;
    size_t n = 0;
    while (p[n] && p[n] != ';' && p[n] != '"' && p[n] != '\'' && !is_space((unsigned char)p[n]) && n + 1 < size) {
        out[n] = p[n];
        n++;
    }
    out[n] = 0;
}

int kz_html_content_type_is_html(const char *ct)
{
    while (is_space((unsigned char)*ct))
        ct++;
    return strncasecmp(ct, "text/html", 9) == 0 || strncasecmp(ct, "application/xhtml+xml", 21) == 0;
}

/* The iconv name of a web charset label, or NULL for UTF-8. out receives
 * the label as given (trimmed, lower case). */
static const char *iconv_name(const char *label, char *norm, size_t size)
{
    size_t n = 0;
    while (is_space((unsigned char)*label) || *label == '"' || *label == '\'')
        label++;
    while (label[n] && n + 1 < size && !is_space((unsigned char)label[n]) && label[n] != '"' && label[n] != '\'') {
        norm[n] = (char)lower((unsigned char)label[n]);
        n++;
    }
    norm[n] = 0;
    static const struct {
        const char *label, *name;
    } map[] = {
        { "utf-8", NULL },          { "utf8", NULL },           { "unicode-1-1-utf-8", NULL },
        { "utf-16", NULL },         { "utf-16le", NULL },       { "utf-16be", NULL }, /* in a meta: UTF-8 */
        { "iso-8859-1", "WINDOWS-1252" }, { "iso8859-1", "WINDOWS-1252" }, { "latin1", "WINDOWS-1252" },
        { "l1", "WINDOWS-1252" },   { "ascii", "WINDOWS-1252" }, { "us-ascii", "WINDOWS-1252" },
        { "iso-8859-9", "WINDOWS-1254" }, { "latin5", "WINDOWS-1254" }, { "tis-620", "WINDOWS-874" },
        { "iso-8859-11", "WINDOWS-874" }, { "gb2312", "GB18030" }, { "gbk", "GB18030" }, { "x-gbk", "GB18030" },
        { "csgb2312", "GB18030" },  { "chinese", "GB18030" },   { "ks_c_5601-1987", "CP949" },
        { "euc-kr", "CP949" },      { "x-sjis", "SHIFT_JIS" },  { "shift-jis", "SHIFT_JIS" },
        { "x-mac-cyrillic", "MACCYRILLIC" }, { "x-cp1251", "WINDOWS-1251" }, { "x-cp1252", "WINDOWS-1252" },
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(norm, map[i].label) == 0)
            return map[i].name;
    return norm;
}

/* Reads a tag's attributes from s (just past its name) to its end, the
 * first '>' outside a quoted value, or e; *end (when not NULL) gets one
 * past that '>' (e when there is none). The value of the first attribute
 * called name (ASCII case ignored) is [*v, *v + *vlen) ("" for an
 * attribute without one): 1, else 0. The tokenizer of the HTML5 encoding
 * prescan, which reads a name's first character into it, '=' too. */
static int tag_attr(const char *s, const char *e, const char *name, const char **v, size_t *vlen, const char **end)
{
    size_t nl = strlen(name);
    int found = 0;
    while (s < e) {
        while (s < e && (is_space((unsigned char)*s) || *s == '/'))
            s++;
        if (s >= e || *s == '>')
            break;
        const char *an = s++;
        while (s < e && !is_space((unsigned char)*s) && *s != '/' && *s != '>' && *s != '=')
            s++;
        int wanted = !found && (size_t)(s - an) == nl && strncasecmp(an, name, nl) == 0;
        while (s < e && is_space((unsigned char)*s))
            s++;
        const char *vs = s, *ve = s;
        if (s < e && *s == '=') {
            s++;
            while (s < e && is_space((unsigned char)*s))
                s++;
            if (s < e && (*s == '"' || *s == '\'')) {
                const char *q = memchr(s + 1, *s, (size_t)(e - s - 1));
                vs = s + 1;
                ve = q ? q : e;
                s = q ? q + 1 : e;
            } else {
                vs = s;
                while (s < e && !is_space((unsigned char)*s) && *s != '>')
                    s++;
                ve = s;
            }
        }
        if (wanted) {
            *v = vs;
            *vlen = (size_t)(ve - vs);
            found = 1;
            if (!end)
                return 1;
        }
    }
    if (end)
        *end = s < e ? s + 1 : e;
    return found;
}

/* The value of attribute name in a tag's attribute text [s, e), copied
 * to out (size bytes, cut if longer); 0 when absent. */
static int sniff_attr(const char *s, const char *e, const char *name, char *out, size_t size)
{
    const char *v;
    size_t n;
    if (!tag_attr(s, e, name, &v, &n, NULL))
        return 0;
    n = KZ_MIN(n, size - 1);
    memcpy(out, v, n);
    out[n] = 0;
    return 1;
}

/* The charset a <meta> (or an XML declaration) in [s, s+n) names: 1 and
 * out, or 0. */
static int sniff_meta(const char *s, size_t n, char *out, size_t size)
{
    const char *e = s + n;
    if (n > 5 && memcmp(s, "<?xml", 5) == 0) {
        const char *q = memchr(s, '>', n);
        if (q && sniff_attr(s + 5, q, "encoding", out, size) && out[0])
            return 1;
    }
    for (const char *p = s; p < e; p++) {
        if (*p != '<')
            continue;
        if (e - p >= 4 && memcmp(p, "<!--", 4) == 0) {
            const char *c = find_ci(p + 4, (size_t)(e - p - 4), "-->");
            if (!c)
                return 0;
            p = c + 2;
            continue;
        }
        if (e - p < 6 || strncasecmp(p + 1, "meta", 4) != 0 || !(is_space((unsigned char)p[5]) || p[5] == '/'))
            continue;
        const char *q = memchr(p, '>', (size_t)(e - p));
        if (!q)
            return 0;
        char v[256];
        if (sniff_attr(p + 5, q, "charset", out, size) && out[0])
            return 1;
        if (sniff_attr(p + 5, q, "http-equiv", v, sizeof v) && strcasecmp(v, "content-type") == 0 &&
            sniff_attr(p + 5, q, "content", v, sizeof v)) {
            kz_html_content_type_charset(out, size, v);
            if (out[0])
                return 1;
        }
        p = q;
    }
    return 0;
}

/* Whether the page's first bytes look like binary data: a NUL, or more
 * than one byte in twenty a control character no text has. */
static int looks_binary(const uint8_t *s, size_t n)
{
    n = KZ_MIN(n, (size_t)BINARY_SNIFF);
    size_t controls = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 0)
            return 1;
        if (s[i] < 0x20 && !is_space(s[i]) && s[i] != 0x1b)
            controls++;
    }
    return controls * 20 > n;
}

/* Converts [s, s+n) from charset name to UTF-8 in out, invalid bytes
 * becoming U+FFFD (counted in *invalid). KZ_EINVAL when iconv does not
 * know the charset. */
static int iconv_to_utf8(kz_buf *out, const char *name, const char *s, size_t n, size_t *invalid)
{
    iconv_t cd = iconv_open("UTF-8", name);
    if (cd == (iconv_t)-1)
        return KZ_EINVAL;
    int rc = KZ_OK;
    out->len = 0;
    char *in = (char *)s;
    size_t left = n;
    while (left > 0) {
        if ((rc = kz_buf_reserve(out, left * 2 + 64)))
            break;
        char *o = (char *)out->data + out->len;
        size_t room = out->cap - out->len;
        size_t r = iconv(cd, &in, &left, &o, &room);
        out->len = (size_t)((uint8_t *)o - out->data);
        if (r != (size_t)-1 || errno == E2BIG)
            continue;
        /* EILSEQ, or EINVAL (a sequence cut at the end): one byte becomes U+FFFD. */
        if ((rc = kz_buf_append(out, "\xEF\xBF\xBD", 3)))
            break;
        (*invalid)++;
        in++;
        left--;
    }
    iconv_close(cd);
    if (rc == KZ_OK)
        rc = kz_buf_terminate(out);
    return rc;
}

/* Puts the page in UTF-8: *text, *len point into data or page->utf8. */
static int decode_page(kz_html_page *pg, const char *data, size_t len, const char *http_charset,
                       const char **text, size_t *tlen)
{
    const uint8_t *u = (const uint8_t *)data;
    char label[64] = "";
    const char *name = NULL;
    int utf16 = 0;
    if (len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) {
        data += 3;
        len -= 3;
        snprintf(label, sizeof label, "utf-8");
    } else if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
        name = u[0] == 0xFF ? "UTF-16LE" : "UTF-16BE";
        snprintf(label, sizeof label, "%s", u[0] == 0xFF ? "utf-16le" : "utf-16be");
        data += 2;
        len -= 2;
        utf16 = 1;
    } else {
        char found[64];
        if (sniff_meta(data, KZ_MIN(len, (size_t)SNIFF_BYTES), found, sizeof found) ||
            (http_charset && http_charset[0] && snprintf(found, sizeof found, "%s", http_charset) > 0))
            name = iconv_name(found, label, sizeof label);
        else
            snprintf(label, sizeof label, "utf-8");
    }
    if (!utf16 && looks_binary((const uint8_t *)data, len))
        return kz_error_set(KZ_ESYNTAX, "binary data (NUL or control bytes), not a web page");
    size_t invalid = 0;
    if (name) {
        int rc = iconv_to_utf8(&pg->utf8, name, data, len, &invalid);
        if (rc == KZ_OK) {
            snprintf(pg->charset, sizeof pg->charset, "%s", label);
            if (invalid)
                pg->flags |= KZ_HTML_INVALID_BYTES;
            *text = (const char *)pg->utf8.data;
            *tlen = pg->utf8.len;
            return KZ_OK;
        }
        if (rc != KZ_EINVAL)
            return rc;
        pg->flags |= KZ_HTML_UNKNOWN_CHARSET;
    }
    snprintf(pg->charset, sizeof pg->charset, "%s", (pg->flags & KZ_HTML_UNKNOWN_CHARSET) ? label : "utf-8");
    if (kz_utf8_count_invalid(data, len) == 0) {
        *text = data;
        *tlen = len;
        return KZ_OK;
    }
    if (kz_utf8_sanitize(&pg->utf8, data, len) == (size_t)-1)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    pg->flags |= KZ_HTML_INVALID_BYTES;
    *text = (const char *)pg->utf8.data;
    *tlen = pg->utf8.len;
    return KZ_OK;
}

/* ---------------------------------------------------------------- the flat tree */

/* An element or text node that may hold content, in document order. */
typedef struct hnode {
    const GumboNode *node;
    uint32_t parent;      /* UINT32_MAX for the root */
    uint32_t end;         /* one past its last descendant */
    uint32_t blk;         /* nearest block ancestor (UINT32_MAX: none) */
    uint32_t text, link;  /* characters of text in the subtree, and of them inside <a> */
    uint32_t own, own_link, commas; /* blocks: text whose nearest block it is */
    float score;
    float base;           /* the tag's and class's weight */
    uint16_t tag;
    uint8_t is_text;
    uint8_t flags;
} hnode;

#define F_LINK 1u  /* inside an <a> */
#define F_BLOCK 2u /* a block element */
#define F_CAND 4u  /* has a content score */
#define F_HINT 8u  /* itemprop=articleBody */
#define F_PRE 16u  /* inside a <pre> */
#define F_ARTICLE 32u
#define F_POSCLS 64u /* class or id says content */
#define F_NEGCLS 128u /* class or id says boilerplate (kept on the second try) */

typedef struct walk_item {
    const GumboNode *node;
    uint32_t parent;
} walk_item;

/* What the walk found besides content. */
typedef struct meta_state {
    int prio[KZ_HTML_N_FIELDS];
    int title_prio;
    const GumboNode *h1;
    kz_buf ld_body; /* the longest JSON-LD articleBody */
    kz_buf tmp;     /* a field's value being checked */
} meta_state;

static int is_block_tag(GumboTag t)
{
    switch (t) {
    case GUMBO_TAG_ADDRESS: case GUMBO_TAG_ARTICLE: case GUMBO_TAG_BLOCKQUOTE: case GUMBO_TAG_BODY:
    case GUMBO_TAG_DD: case GUMBO_TAG_DETAILS: case GUMBO_TAG_DIV: case GUMBO_TAG_DL: case GUMBO_TAG_DT:
    case GUMBO_TAG_FIELDSET: case GUMBO_TAG_FIGCAPTION: case GUMBO_TAG_FIGURE: case GUMBO_TAG_FORM:
    case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3: case GUMBO_TAG_H4: case GUMBO_TAG_H5:
    case GUMBO_TAG_H6: case GUMBO_TAG_HGROUP: case GUMBO_TAG_HR: case GUMBO_TAG_LI: case GUMBO_TAG_MAIN:
    case GUMBO_TAG_OL: case GUMBO_TAG_P: case GUMBO_TAG_PRE: case GUMBO_TAG_SECTION: case GUMBO_TAG_TABLE:
    case GUMBO_TAG_TBODY: case GUMBO_TAG_THEAD: case GUMBO_TAG_TFOOT: case GUMBO_TAG_TR: case GUMBO_TAG_TD:
    case GUMBO_TAG_TH: case GUMBO_TAG_UL: case GUMBO_TAG_CAPTION: case GUMBO_TAG_SUMMARY:
    case GUMBO_TAG_CENTER: case GUMBO_TAG_HTML: case GUMBO_TAG_UNKNOWN: case GUMBO_TAG_HEADER:
        return 1;
    default:
        return 0;
    }
}

/* Elements never entered for content. */
static int is_dropped_tag(GumboTag t)
{
    switch (t) {
    case GUMBO_TAG_HEAD: case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_IFRAME: case GUMBO_TAG_SVG: case GUMBO_TAG_MATH:
    case GUMBO_TAG_CANVAS: case GUMBO_TAG_OBJECT: case GUMBO_TAG_EMBED: case GUMBO_TAG_VIDEO:
    case GUMBO_TAG_AUDIO: case GUMBO_TAG_NAV: case GUMBO_TAG_ASIDE: case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_BUTTON: case GUMBO_TAG_SELECT: case GUMBO_TAG_TEXTAREA: case GUMBO_TAG_INPUT:
    case GUMBO_TAG_OPTION: case GUMBO_TAG_LABEL: case GUMBO_TAG_MAP:
    case GUMBO_TAG_MENU: case GUMBO_TAG_META: case GUMBO_TAG_LINK: case GUMBO_TAG_TITLE:
    case GUMBO_TAG_BASE: case GUMBO_TAG_FRAMESET: case GUMBO_TAG_APPLET:
        return 1;
    default:
        return 0;
    }
}

static const char *attr(const GumboNode *n, const char *name)
{
    const GumboAttribute *a = gumbo_get_attribute(&n->v.element.attributes, name);
    return a ? a->value : NULL;
}

/* Class and id words that mark boilerplate (a word starting so), and
 * those that mark content. */
static const char *const negative_words[] = {
    "comment", "share", "sharing", "social", "related", "recommend", "footer", "cookie", "consent",
    "banner", "advert", "promo", "sidebar", "newsletter", "subscri", "signup", "breadcrumb", "menu",
    "popup", "modal", "sponsor", "outbrain", "taboola", "disqus", "pagination", "pager", "masthead",
    "navbar", "navigation", "widget", "toolbar", "print", "login", "byline", "trending", "popular",
    "reply", "overlay", "teaser", "readmore", "follow", "jump", "dateline", "rating", "skip", "author",
    "tags", "tagline", "gdpr", "paywall-promo", "more-stories", "also", "topics", "caption", "credit",
};
static const char *const negative_exact[] = { "ad", "ads", "nav", "tag", "meta", "header", "cta", "foot",
                                              "hidden", "hide", "share", "email", "rss", "aside", "most" };
static const char *const positive_words[] = { "article", "content", "entry", "main", "story", "body", "text",
                                              "post" };

/* +1 when the class/id words mark content, -1 boilerplate, 0 neither
 * (both: content). */
static int class_weight(const char *cls, const char *id)
{
    int neg = 0, pos = 0;
    for (int k = 0; k < 2; k++) {
        const char *s = k ? id : cls;
        if (!s)
            continue;
        while (*s) {
            while (*s && !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
                s++;
            char w[48];
            size_t n = 0;
            while (*s && ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))) {
                if (n + 1 < sizeof w)
                    w[n++] = (char)lower((unsigned char)*s);
                s++;
            }
            w[n] = 0;
            if (!n)
                continue;
            for (size_t i = 0; i < sizeof negative_exact / sizeof *negative_exact; i++)
                if (strcmp(w, negative_exact[i]) == 0)
                    neg = 1;
            for (size_t i = 0; i < sizeof negative_words / sizeof *negative_words; i++)
                if (strncmp(w, negative_words[i], strlen(negative_words[i])) == 0)
                    neg = 1;
            for (size_t i = 0; i < sizeof positive_words / sizeof *positive_words; i++)
                if (strncmp(w, positive_words[i], strlen(positive_words[i])) == 0)
                    pos = 1;
        }
    }
    return pos ? 1 : neg ? -1 : 0;
}

static int is_hidden(const GumboNode *n)
{
    if (gumbo_get_attribute(&n->v.element.attributes, "hidden"))
        return 1;
    const char *a = attr(n, "aria-hidden");
    if (a && strcasecmp(a, "true") == 0)
        return 1;
    const char *st = attr(n, "style");
    if (st) {
        size_t sl = strlen(st);
        char compact[128];
        size_t k = 0;
        for (size_t i = 0; i < sl && k + 1 < sizeof compact; i++)
            if (!is_space((unsigned char)st[i]))
                compact[k++] = (char)lower((unsigned char)st[i]);
        compact[k] = 0;
        if (strstr(compact, "display:none") || strstr(compact, "visibility:hidden"))
            return 1;
    }
    const char *role = attr(n, "role");
    if (role && (strcasecmp(role, "navigation") == 0 || strcasecmp(role, "banner") == 0 ||
                 strcasecmp(role, "contentinfo") == 0 || strcasecmp(role, "complementary") == 0 ||
                 strcasecmp(role, "dialog") == 0 || strcasecmp(role, "alertdialog") == 0))
        return 1;
    return 0;
}

/* ---------------------------------------------------------------- text helpers */

/* Appends s collapsing white space (ASCII and U+00A0) to single spaces,
 * none at the start of buf. */
static int append_collapsed(kz_buf *b, const char *s, size_t n)
{
    int rc = kz_buf_reserve(b, n + 1);
    if (rc)
        return rc;
    uint8_t *o = b->data + b->len;
    int space = b->len == 0 || b->data[b->len - 1] == ' ' || b->data[b->len - 1] == '\n';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_space(c) || c == '\v' || (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0xA0)) {
            if (c == 0xC2)
                i++;
            if (!space)
                *o++ = ' ';
            space = 1;
        } else {
            *o++ = c;
            space = 0;
        }
    }
    b->len = (size_t)(o - b->data);
    return KZ_OK;
}

static void trim_end(kz_buf *b)
{
    while (b->len && (b->data[b->len - 1] == ' ' || b->data[b->len - 1] == '\n'))
        b->len--;
}

/* The text of a subtree, collapsed, into out (reset first): an iterative
 * walk with its own stack. */
static int node_text(kz_buf *out, kz_buf *stack, const GumboNode *root)
{
    int rc = KZ_OK;
    out->len = 0;
    stack->len = 0;
    if ((rc = kz_buf_append(stack, &root, sizeof root)))
        return rc;
    while (stack->len) {
        const GumboNode *n;
        stack->len -= sizeof n;
        memcpy(&n, stack->data + stack->len, sizeof n);
        if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_WHITESPACE || n->type == GUMBO_NODE_CDATA) {
            if ((rc = append_collapsed(out, n->v.text.text, strlen(n->v.text.text))))
                return rc;
        } else if (n->type == GUMBO_NODE_ELEMENT) {
            if (n->v.element.tag == GUMBO_TAG_SCRIPT || n->v.element.tag == GUMBO_TAG_STYLE)
                continue;
            const GumboVector *ch = &n->v.element.children;
            for (unsigned i = ch->length; i-- > 0;)
                if ((rc = kz_buf_append(stack, &ch->data[i], sizeof(void *))))
                    return rc;
        }
    }
    trim_end(out);
    return kz_buf_terminate(out);
}

/* Decodes the character references a JSON-LD string may still hold
 * (numeric ones and the few named ones sites double-encode), in place. */
static size_t decode_refs(char *s, size_t n)
{
    static const struct {
        const char *name;
        const char *utf8;
    } named[] = { { "amp", "&" },  { "lt", "<" },  { "gt", ">" },  { "quot", "\"" }, { "apos", "'" },
                  { "nbsp", " " }, { "rsquo", "\xE2\x80\x99" }, { "lsquo", "\xE2\x80\x98" },
                  { "rdquo", "\xE2\x80\x9D" }, { "ldquo", "\xE2\x80\x9C" }, { "mdash", "\xE2\x80\x94" },
                  { "ndash", "\xE2\x80\x93" }, { "hellip", "\xE2\x80\xA6" } };
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '&') {
            s[o++] = s[i++];
            continue;
        }
        size_t j = i + 1;
        while (j < n && j - i < 12 && s[j] != ';')
            j++;
        if (j >= n || s[j] != ';') {
            s[o++] = s[i++];
            continue;
        }
        const char *ent = s + i + 1;
        size_t el = j - i - 1;
        char rep[8];
        size_t rl = 0;
        if (el >= 2 && ent[0] == '#') {
            unsigned long cp = ent[1] == 'x' || ent[1] == 'X' ? strtoul(ent + 2, NULL, 16) : strtoul(ent + 1, NULL, 10);
            if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                cp = 0xFFFD;
            if (cp < 0x80) {
                rep[rl++] = (char)cp;
            } else if (cp < 0x800) {
                rep[rl++] = (char)(0xC0 | (cp >> 6));
                rep[rl++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                rep[rl++] = (char)(0xE0 | (cp >> 12));
                rep[rl++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                rep[rl++] = (char)(0x80 | (cp & 0x3F));
            } else {
                rep[rl++] = (char)(0xF0 | (cp >> 18));
                rep[rl++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                rep[rl++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                rep[rl++] = (char)(0x80 | (cp & 0x3F));
            }
        } else {
            for (size_t k = 0; k < sizeof named / sizeof *named; k++)
                if (strlen(named[k].name) == el && memcmp(ent, named[k].name, el) == 0) {
                    rl = strlen(named[k].utf8);
                    memcpy(rep, named[k].utf8, rl);
                }
        }
        if (rl == 0 || rl > j + 1 - i) {
            s[o++] = s[i++];
            continue;
        }
        memcpy(s + o, rep, rl);
        o += rl;
        i = j + 1;
    }
    return o;
}

/* ---------------------------------------------------------------- metadata */

/* Sets field f to [v, v+n) (collapsed) if prio beats what it has. */
static int set_field(kz_html_page *pg, meta_state *ms, int f, int prio, const char *v, size_t n)
{
    if (prio <= ms->prio[f])
        return KZ_OK;
    kz_buf *b = &ms->tmp;
    b->len = 0;
    int rc = append_collapsed(b, v, n);
    if (rc)
        return rc;
    trim_end(b);
    if (b->len == 0 || b->len > 2048)
        return KZ_OK; /* nothing, or not a value of this kind: keep what there was */
    kz_date d;
    if (f == KZ_HTML_DATE && kz_date_parse((const char *)b->data, b->len, &d) != 0)
        return KZ_OK;
    ms->prio[f] = prio;
    pg->field[f].len = 0;
    if ((rc = kz_buf_append(&pg->field[f], b->data, b->len)))
        return rc;
    return kz_buf_terminate(&pg->field[f]);
}

static int set_title(kz_html_page *pg, meta_state *ms, int prio, const char *v, size_t n)
{
    if (prio <= ms->title_prio)
        return KZ_OK;
    kz_buf *b = &pg->title;
    b->len = 0;
    int rc = append_collapsed(b, v, n);
    if (rc)
        return rc;
    trim_end(b);
    if (b->len)
        ms->title_prio = prio;
    return kz_buf_terminate(b);
}

/* A JSON-LD block: a tolerant scanner (no tree) that takes datePublished,
 * articleBody, headline, author's name, publisher's name and inLanguage
 * wherever they are. Nesting past JSON_MAX_DEPTH is skipped over. */
static int scan_json_ld(kz_html_page *pg, meta_state *ms, const char *s, size_t n)
{
    struct level {
        const char *via; /* the key this container is the value of ("" none) */
        size_t via_len;
        int is_obj;
    } st[JSON_MAX_DEPTH];
    int depth = 0, skip = 0, rc = KZ_OK;
    const char *key = "";
    size_t key_len = 0;
    int expect_key = 0;
    kz_buf *tmp = &pg->scratch;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '{' || c == '[') {
            if (skip || depth == JSON_MAX_DEPTH) {
                skip++;
                continue;
            }
            const char *via = key;
            size_t via_len = key_len;
            if (depth > 0 && !st[depth - 1].is_obj) { /* an array's items inherit its key */
                via = st[depth - 1].via;
                via_len = st[depth - 1].via_len;
            }
            st[depth].via = via;
            st[depth].via_len = via_len;
            st[depth].is_obj = c == '{';
            depth++;
            expect_key = c == '{';
            key = "";
            key_len = 0;
        } else if (c == '}' || c == ']') {
            if (skip) {
                skip--;
                continue;
            }
            if (depth > 0)
                depth--;
            expect_key = 0;
        } else if (c == ',') {
            expect_key = depth > 0 && st[depth - 1].is_obj;
        } else if (c == ':') {
            expect_key = 0;
        } else if (c == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != '"')
                j += s[j] == '\\' ? 2 : 1;
            if (j > n)
                j = n;
            const char *str = s + i + 1;
            size_t len = j - i - 1;
            i = j;
            if (skip || depth == 0)
                continue;
            if (expect_key) {
                key = str;
                key_len = len;
                continue;
            }
            const char *parent = st[depth - 1].via;
            size_t parent_len = st[depth - 1].via_len;
#define KEY_IS(k, l, lit) ((l) == sizeof(lit) - 1 && memcmp((k), lit, sizeof(lit) - 1) == 0)
            int f = -1, prio = 0, title = 0, body = 0;
            if (KEY_IS(key, key_len, "datePublished"))
                f = KZ_HTML_DATE, prio = 4;
            else if (KEY_IS(key, key_len, "articleBody"))
                body = 1;
            else if (KEY_IS(key, key_len, "headline"))
                title = 1;
            else if (KEY_IS(key, key_len, "author") || (KEY_IS(key, key_len, "name") && KEY_IS(parent, parent_len, "author")))
                f = KZ_HTML_AUTHOR, prio = 3;
            else if (KEY_IS(key, key_len, "name") && KEY_IS(parent, parent_len, "publisher"))
                f = KZ_HTML_SITE, prio = 2;
            else if (KEY_IS(key, key_len, "inLanguage"))
                f = KZ_HTML_LANG, prio = 1;
#undef KEY_IS
            if (f < 0 && !title && !body)
                continue;
            if (f >= 0 && prio <= ms->prio[f])
                continue;
            /* Decode the string's escapes. */
            tmp->len = 0;
            if ((rc = kz_buf_reserve(tmp, len + 8)))
                return rc;
            for (size_t k = 0; k < len; k++) {
                char ch = str[k];
                if (ch != '\\' || k + 1 >= len) {
                    tmp->data[tmp->len++] = (uint8_t)ch;
                    continue;
                }
                ch = str[++k];
                if (ch == 'u' && k + 4 < len) {
                    char hex[5] = { str[k + 1], str[k + 2], str[k + 3], str[k + 4], 0 };
                    unsigned long cp = strtoul(hex, NULL, 16);
                    k += 4;
                    if (cp >= 0xD800 && cp < 0xDC00 && k + 6 < len && str[k + 1] == '\\' && str[k + 2] == 'u') {
                        char lo[5] = { str[k + 3], str[k + 4], str[k + 5], str[k + 6], 0 };
                        unsigned long l = strtoul(lo, NULL, 16);
                        if (l >= 0xDC00 && l < 0xE000) {
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (l - 0xDC00);
                            k += 6;
                        }
                    }
                    if (cp >= 0xD800 && cp < 0xE000)
                        cp = 0xFFFD;
                    char u[8];
                    size_t ul = 0;
                    if (cp < 0x80) {
                        u[ul++] = (char)cp;
                    } else if (cp < 0x800) {
                        u[ul++] = (char)(0xC0 | (cp >> 6));
                        u[ul++] = (char)(0x80 | (cp & 0x3F));
                    } else if (cp < 0x10000) {
                        u[ul++] = (char)(0xE0 | (cp >> 12));
                        u[ul++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                        u[ul++] = (char)(0x80 | (cp & 0x3F));
                    } else {
                        u[ul++] = (char)(0xF0 | (cp >> 18));
                        u[ul++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                        u[ul++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                        u[ul++] = (char)(0x80 | (cp & 0x3F));
                    }
                    if (cp == 0)
                        u[0] = ' ';
                    if ((rc = kz_buf_append(tmp, u, ul)))
                        return rc;
                    continue;
                }
                char e = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch == 'r' ? '\r' : ch == 'b' || ch == 'f' ? ' ' : ch;
                if ((rc = kz_buf_append_u8(tmp, (uint8_t)e)))
                    return rc;
            }
            tmp->len = decode_refs((char *)tmp->data, tmp->len);
            if (body) {
                if (tmp->len > ms->ld_body.len) {
                    ms->ld_body.len = 0;
                    if ((rc = kz_buf_append(&ms->ld_body, tmp->data, tmp->len)))
                        return rc;
                }
            } else if (title) {
                if ((rc = set_title(pg, ms, 2, (const char *)tmp->data, tmp->len)))
                    return rc;
            } else if (!(f == KZ_HTML_AUTHOR && tmp->len > 7 && memcmp(tmp->data, "http", 4) == 0)) {
                if ((rc = set_field(pg, ms, f, prio, (const char *)tmp->data, tmp->len)))
                    return rc;
            }
        }
    }
    return rc;
}

/* The metadata an element gives. */
static int element_meta(kz_html_page *pg, meta_state *ms, const GumboNode *n)
{
    const char *v;
    int rc = KZ_OK;
    switch (n->v.element.tag) {
    case GUMBO_TAG_HTML:
        if ((v = attr(n, "lang")) || (v = attr(n, "xml:lang")))
            rc = set_field(pg, ms, KZ_HTML_LANG, 3, v, strlen(v));
        break;
    case GUMBO_TAG_TITLE:
        if (ms->title_prio < 1 && n->v.element.children.length > 0 && n->parent &&
            n->parent->type == GUMBO_NODE_ELEMENT && n->parent->v.element.tag == GUMBO_TAG_HEAD) {
            const GumboNode *t = n->v.element.children.data[0];
            if (t->type == GUMBO_NODE_TEXT)
                rc = set_title(pg, ms, 1, t->v.text.text, strlen(t->v.text.text));
        }
        break;
    case GUMBO_TAG_META: {
        const char *key = attr(n, "property");
        if (!key)
            key = attr(n, "name");
        if (!key)
            key = attr(n, "itemprop");
        const char *content = attr(n, "content");
        if (!key || !content)
            break;
        size_t cl = strlen(content);
        if (strcasecmp(key, "og:title") == 0)
            rc = set_title(pg, ms, 4, content, cl);
        else if (strcasecmp(key, "twitter:title") == 0)
            rc = set_title(pg, ms, 3, content, cl);
        else if (strcasecmp(key, "article:published_time") == 0)
            rc = set_field(pg, ms, KZ_HTML_DATE, 5, content, cl);
        else if (strcasecmp(key, "datePublished") == 0)
            rc = set_field(pg, ms, KZ_HTML_DATE, 3, content, cl);
        else if (strcasecmp(key, "date") == 0 || strcasecmp(key, "pubdate") == 0 ||
                 strcasecmp(key, "publishdate") == 0 || strcasecmp(key, "publish-date") == 0 ||
                 strcasecmp(key, "dc.date.issued") == 0 || strcasecmp(key, "dc.date") == 0 ||
                 strcasecmp(key, "parsely-pub-date") == 0 || strcasecmp(key, "sailthru.date") == 0 ||
                 strcasecmp(key, "og:published_time") == 0 || strcasecmp(key, "article.published") == 0)
            rc = set_field(pg, ms, KZ_HTML_DATE, 2, content, cl);
        else if (strcasecmp(key, "og:url") == 0)
            rc = set_field(pg, ms, KZ_HTML_URL, 2, content, cl);
        else if (strcasecmp(key, "og:site_name") == 0)
            rc = set_field(pg, ms, KZ_HTML_SITE, 3, content, cl);
        else if (strcasecmp(key, "application-name") == 0)
            rc = set_field(pg, ms, KZ_HTML_SITE, 1, content, cl);
        else if (strcasecmp(key, "author") == 0 || strcasecmp(key, "parsely-author") == 0 ||
                 strcasecmp(key, "dc.creator") == 0 || strcasecmp(key, "sailthru.author") == 0)
            rc = set_field(pg, ms, KZ_HTML_AUTHOR, 2, content, cl);
        else if (strcasecmp(key, "article:author") == 0 && strncmp(content, "http", 4) != 0)
            rc = set_field(pg, ms, KZ_HTML_AUTHOR, 1, content, cl);
        else if (strcasecmp(key, "og:locale") == 0 || strcasecmp(key, "language") == 0 ||
                 strcasecmp(key, "content-language") == 0)
            rc = set_field(pg, ms, KZ_HTML_LANG, 1, content, cl);
        if (!rc && (v = attr(n, "http-equiv")) && strcasecmp(v, "content-language") == 0)
            rc = set_field(pg, ms, KZ_HTML_LANG, 2, content, cl);
        break;
    }
    case GUMBO_TAG_LINK:
        if ((v = attr(n, "rel")) && find_ci(v, strlen(v), "canonical") && (v = attr(n, "href")))
            rc = set_field(pg, ms, KZ_HTML_URL, 3, v, strlen(v));
        break;
    case GUMBO_TAG_SCRIPT:
        if ((v = attr(n, "type")) && find_ci(v, strlen(v), "ld+json") && n->v.element.children.length > 0) {
            const GumboNode *t = n->v.element.children.data[0];
            if (t->type == GUMBO_NODE_TEXT || t->type == GUMBO_NODE_WHITESPACE)
                rc = scan_json_ld(pg, ms, t->v.text.text, strlen(t->v.text.text));
        }
        break;
    case GUMBO_TAG_TIME:
        if ((v = attr(n, "datetime"))) {
            const char *ip = attr(n, "itemprop");
            rc = set_field(pg, ms, KZ_HTML_DATE, ip && strcasecmp(ip, "datePublished") == 0 ? 3 : 1, v, strlen(v));
        }
        break;
    case GUMBO_TAG_H1:
        if (!ms->h1)
            ms->h1 = n;
        break;
    default:
        break;
    }
    if (rc == KZ_OK && n->v.element.tag != GUMBO_TAG_META && (v = attr(n, "itemprop")) &&
        strcasecmp(v, "datePublished") == 0 && ((v = attr(n, "datetime")) || (v = attr(n, "content"))))
        rc = set_field(pg, ms, KZ_HTML_DATE, 3, v, strlen(v));
    return rc;
}

/* ---------------------------------------------------------------- the walk */

static float tag_base(GumboTag t)
{
    switch (t) {
    case GUMBO_TAG_DIV: case GUMBO_TAG_ARTICLE: case GUMBO_TAG_MAIN: case GUMBO_TAG_SECTION: return 5;
    case GUMBO_TAG_PRE: case GUMBO_TAG_TD: case GUMBO_TAG_BLOCKQUOTE: return 3;
    case GUMBO_TAG_ADDRESS: case GUMBO_TAG_OL: case GUMBO_TAG_UL: case GUMBO_TAG_DL: case GUMBO_TAG_DD:
    case GUMBO_TAG_DT: case GUMBO_TAG_LI: case GUMBO_TAG_FORM: return -3;
    case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3: case GUMBO_TAG_H4: case GUMBO_TAG_H5:
    case GUMBO_TAG_H6: case GUMBO_TAG_TH: return -5;
    default: return 0;
    }
}

/* Counts the characters (code points other than white space) and commas
 * of a text node. */
static void count_text(const char *s, uint32_t *chars, uint32_t *commas)
{
    uint32_t c = 0, k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) != 0x80 && !is_space(*p))
            c++;
        if (*p == ',')
            k++;
    }
    *chars = c;
    *commas = k;
}

static int push_item(kz_buf *stack, const GumboNode *n, uint32_t parent)
{
    walk_item it = { n, parent };
    return kz_buf_append(stack, &it, sizeof it);
}

/* Lays the content-bearing nodes under root out in pg->nodes, and takes
 * the metadata of every element met (also of those not entered). */
static int walk_tree(kz_html_page *pg, meta_state *ms, const GumboNode *root, int use_classes, size_t *count)
{
    int rc = KZ_OK;
    kz_buf *nodes = &pg->nodes, *stack = &pg->stack;
    nodes->len = 0;
    stack->len = 0;
    size_t n = 0;
    if ((rc = push_item(stack, root, UINT32_MAX)))
        return rc;
    while (stack->len) {
        walk_item it;
        stack->len -= sizeof it;
        memcpy(&it, stack->data + stack->len, sizeof it);
        const GumboNode *g = it.node;
        hnode *par = it.parent == UINT32_MAX ? NULL : (hnode *)nodes->data + it.parent;
        if (g->type == GUMBO_NODE_TEXT || g->type == GUMBO_NODE_WHITESPACE || g->type == GUMBO_NODE_CDATA) {
            if (!par)
                continue;
            if (n >= UINT32_MAX - 1)
                return kz_error_set(KZ_ELIMIT, "a page of more than 2^32 nodes");
            if ((rc = kz_buf_reserve(nodes, sizeof(hnode))))
                return rc;
            par = (hnode *)nodes->data + it.parent;
            hnode *h = (hnode *)nodes->data + n;
            memset(h, 0, sizeof *h);
            h->node = g;
            h->parent = it.parent;
            h->is_text = 1;
            h->flags = par->flags & (F_LINK | F_PRE);
            h->blk = (par->flags & F_BLOCK) ? it.parent : par->blk;
            uint32_t chars = 0, commas = 0;
            if (g->type != GUMBO_NODE_WHITESPACE)
                count_text(g->v.text.text, &chars, &commas);
            h->text = chars;
            h->link = (h->flags & F_LINK) ? chars : 0;
            if (h->blk != UINT32_MAX) {
                hnode *b = (hnode *)nodes->data + h->blk;
                b->own += chars;
                b->own_link += h->link;
                b->commas += commas;
            }
            n++;
            nodes->len = n * sizeof(hnode);
            continue;
        }
        if (g->type != GUMBO_NODE_ELEMENT && g->type != GUMBO_NODE_TEMPLATE)
            continue;
        if ((rc = element_meta(pg, ms, g)))
            return rc;
        GumboTag tag = g->v.element.tag;
        if (g->type == GUMBO_NODE_TEMPLATE || g->v.element.tag_namespace != GUMBO_NAMESPACE_HTML)
            continue;
        if (tag == GUMBO_TAG_HEAD) { /* its elements for the metadata only */
            const GumboVector *ch = &g->v.element.children;
            for (unsigned i = 0; i < ch->length; i++) {
                const GumboNode *c = ch->data[i];
                if (c->type == GUMBO_NODE_ELEMENT && (rc = element_meta(pg, ms, c)))
                    return rc;
            }
            continue;
        }
        const char *cls = attr(g, "class"), *id = attr(g, "id");
        int weight = class_weight(cls, id);
        int keep_anyway = tag == GUMBO_TAG_BODY || tag == GUMBO_TAG_HTML || tag == GUMBO_TAG_MAIN ||
                          tag == GUMBO_TAG_ARTICLE;
        const char *ip = attr(g, "itemprop");
        int hint = ip && find_ci(ip, strlen(ip), "articlebody");
        if (!hint && (is_dropped_tag(tag) || is_hidden(g) || (use_classes && weight < 0 && !keep_anyway)))
            continue;
        if (n >= UINT32_MAX - 1)
            return kz_error_set(KZ_ELIMIT, "a page of more than 2^32 nodes");
        if ((rc = kz_buf_reserve(nodes, sizeof(hnode))))
            return rc;
        par = it.parent == UINT32_MAX ? NULL : (hnode *)nodes->data + it.parent;
        hnode *h = (hnode *)nodes->data + n;
        memset(h, 0, sizeof *h);
        h->node = g;
        h->parent = it.parent;
        h->tag = (uint16_t)tag;
        h->flags = par ? par->flags & (F_LINK | F_PRE) : 0;
        h->blk = !par ? UINT32_MAX : (par->flags & F_BLOCK) ? it.parent : par->blk;
        if (tag == GUMBO_TAG_A)
            h->flags |= F_LINK;
        if (tag == GUMBO_TAG_PRE)
            h->flags |= F_PRE;
        if (is_block_tag(tag))
            h->flags |= F_BLOCK;
        if (hint)
            h->flags |= F_HINT;
        if (tag == GUMBO_TAG_ARTICLE)
            h->flags |= F_ARTICLE;
        h->base = tag_base(tag);
        if (weight > 0)
            h->flags |= F_POSCLS;
        if (weight < 0)
            h->flags |= F_NEGCLS;
        uint32_t self = (uint32_t)n++;
        nodes->len = n * sizeof(hnode);
        const GumboVector *ch = &g->v.element.children;
        for (unsigned i = ch->length; i-- > 0;) {
            const GumboNode *c = ch->data[i];
            if (c->type == GUMBO_NODE_COMMENT)
                continue;
            if ((rc = push_item(stack, c, self)))
                return rc;
        }
    }
    *count = n;
    return KZ_OK;
}

/* ---------------------------------------------------------------- main content */

static float link_density(const hnode *h)
{
    return h->text ? (float)h->link / (float)h->text : 0.0f;
}

/* Sums subtrees and scores the candidates; returns the best one (or the
 * first element when none scored). */
static uint32_t score_nodes(hnode *el, size_t n)
{
    for (size_t i = 0; i < n; i++)
        el[i].end = (uint32_t)i + 1;
    for (size_t i = n; i-- > 1;) {
        hnode *h = &el[i], *p = &el[h->parent];
        p->text += h->text;
        p->link += h->link;
        if (h->end > p->end)
            p->end = h->end;
    }
    static const float level_weight[] = { 1.0f, 0.5f, 1.0f / 6, 1.0f / 9, 1.0f / 12 };
    for (size_t i = 0; i < n; i++) {
        hnode *h = &el[i];
        if (h->is_text || !(h->flags & F_BLOCK) || h->own < 25)
            continue;
        if (h->own_link * 2 > h->own)
            continue;
        float s = 1.0f + (float)h->commas + KZ_MIN((float)h->own / 100.0f, 3.0f);
        int para = h->tag == GUMBO_TAG_P || h->tag == GUMBO_TAG_PRE || h->tag == GUMBO_TAG_BLOCKQUOTE ||
                   h->tag == GUMBO_TAG_LI || (h->tag >= GUMBO_TAG_H1 && h->tag <= GUMBO_TAG_H6) ||
                   h->tag == GUMBO_TAG_DD || h->tag == GUMBO_TAG_DT || h->tag == GUMBO_TAG_FIGCAPTION;
        uint32_t at = para ? h->blk : (uint32_t)i;
        for (int lv = 0; lv < 5 && at != UINT32_MAX; lv++) {
            hnode *c = &el[at];
            if (!(c->flags & F_CAND)) {
                /* A class that says content counts for a block of some text only. */
                c->flags |= F_CAND;
                c->score = c->base + ((c->flags & F_POSCLS) && c->text >= 200 ? 25.0f : 0.0f) -
                           ((c->flags & F_NEGCLS) ? 25.0f : 0.0f);
            }
            c->score += s * level_weight[lv];
            at = c->blk;
        }
    }
    uint32_t best = 0;
    float best_score = -1e30f;
    for (size_t i = 0; i < n; i++) {
        hnode *h = &el[i];
        if (!(h->flags & F_CAND))
            continue;
        h->score *= 1.0f - link_density(h);
        if (h->flags & F_HINT && h->text >= 250)
            h->score += 20.0f + 0.5f * h->score;
        if (h->score > best_score) {
            best_score = h->score;
            best = (uint32_t)i;
        }
    }
    if (!(el[best].flags & F_CAND))
        return best;
    /* An article cut into pieces (between adverts): other candidates of
     * nearly the top's score, outside it, and an ancestor holding two or
     * more of them is the article. */
    uint32_t alt[8];
    size_t n_alt = 0;
    for (size_t i = 0; i < n && n_alt < 8; i++) {
        const hnode *h = &el[i];
        if (!(h->flags & F_CAND) || h->score < 0.75f * best_score || i == best)
            continue;
        if ((i < best && h->end > best) || (i > best && i < el[best].end))
            continue; /* an ancestor or a descendant of the top */
        if (n_alt && alt[n_alt - 1] < i && el[alt[n_alt - 1]].end > i)
            continue; /* inside the last one taken */
        alt[n_alt++] = (uint32_t)i;
    }
    uint32_t at = el[best].parent;
    for (int lv = 0; lv < 4 && at != UINT32_MAX && n_alt >= 2; lv++, at = el[at].parent) {
        if (el[at].tag == GUMBO_TAG_BODY || el[at].tag == GUMBO_TAG_HTML)
            break;
        size_t inside = 0;
        for (size_t k = 0; k < n_alt; k++)
            inside += alt[k] > at && alt[k] < el[at].end;
        if (inside >= 2)
            return at;
    }
    return best;
}

/* Whether an element inside the article is left out of it. */
static int skip_inside(const hnode *h, int top)
{
    if (top)
        return 0;
    GumboTag t = (GumboTag)h->tag;
    if (t == GUMBO_TAG_H1)
        return 1;
    if (h->text == 0)
        return 1;
    float ld = link_density(h);
    switch (t) {
    case GUMBO_TAG_P: case GUMBO_TAG_PRE: case GUMBO_TAG_BLOCKQUOTE:
        return ld > 0.8f && h->text < 300;
    case GUMBO_TAG_UL: case GUMBO_TAG_OL: case GUMBO_TAG_DL:
        return ld > 0.35f;
    case GUMBO_TAG_DIV: case GUMBO_TAG_SECTION: case GUMBO_TAG_TABLE: case GUMBO_TAG_FORM:
    case GUMBO_TAG_HEADER: case GUMBO_TAG_UNKNOWN: case GUMBO_TAG_FIGURE: case GUMBO_TAG_LI:
    case GUMBO_TAG_ARTICLE:
        return ld > 0.5f || (ld > 0.25f && h->text < 300);
    default:
        return 0;
    }
}

typedef struct emitter {
    kz_buf *out;   /* the text */
    kz_buf *block; /* the block being gathered */
} emitter;

static int flush_block(emitter *e)
{
    kz_buf *b = e->block;
    trim_end(b);
    int rc = KZ_OK;
    if (b->len) {
        if (e->out->len && (rc = kz_buf_append(e->out, "\n\n", 2)))
            return rc;
        rc = kz_buf_append(e->out, b->data, b->len);
    }
    b->len = 0;
    return rc;
}

/* Writes the blocks of el[first, end) to e. stack: scratch. */
static int emit_range(emitter *e, kz_buf *stack, const hnode *el, uint32_t first, uint32_t end)
{
    int rc = KZ_OK;
    stack->len = 0;
    for (uint32_t i = first; i < end;) {
        while (stack->len) { /* blocks that end before i */
            uint32_t top;
            memcpy(&top, stack->data + stack->len - sizeof top, sizeof top);
            if (top > i)
                break;
            stack->len -= sizeof top;
            if ((rc = flush_block(e)))
                return rc;
        }
        const hnode *h = &el[i];
        if (h->is_text) {
            const char *s = h->node->v.text.text;
            if (h->flags & F_PRE) {
                /* Keep the lines of preformatted text. */
                const char *p = s;
                while (*p) {
                    const char *nl = strchr(p, '\n');
                    size_t len = nl ? (size_t)(nl - p) : strlen(p);
                    if ((rc = append_collapsed(e->block, p, len)))
                        return rc;
                    if (!nl)
                        break;
                    trim_end(e->block);
                    if (e->block->len && (rc = kz_buf_append_u8(e->block, '\n')))
                        return rc;
                    p = nl + 1;
                }
            } else if ((rc = append_collapsed(e->block, s, strlen(s)))) {
                return rc;
            }
            i++;
            continue;
        }
        if (skip_inside(h, i == first)) {
            i = h->end;
            continue;
        }
        if (h->tag == GUMBO_TAG_BR) {
            trim_end(e->block);
            if (e->block->len && (rc = kz_buf_append_u8(e->block, '\n')))
                return rc;
        } else if (h->flags & F_BLOCK) {
            if ((rc = flush_block(e)) || (rc = kz_buf_append(stack, &h->end, sizeof h->end)))
                return rc;
        }
        i++;
    }
    stack->len = 0;
    return flush_block(e);
}

/* Whether sibling s of the top candidate t is part of the article. */
static int sibling_belongs(const hnode *el, uint32_t s, uint32_t t)
{
    const hnode *h = &el[s], *top = &el[t];
    if (s == t)
        return 1;
    if (h->is_text)
        return h->text >= 80;
    float threshold = KZ_MAX(10.0f, top->score * 0.2f);
    if ((h->flags & F_CAND) && h->score >= threshold)
        return 1;
    if (h->tag == GUMBO_TAG_P) {
        float ld = link_density(h);
        if (h->text >= 80 && ld < 0.25f)
            return 1;
        if (h->text > 0 && h->text < 80 && ld == 0.0f) {
            const char *last = NULL;
            for (uint32_t i = s + 1; i < h->end; i++)
                if (el[i].is_text && el[i].text)
                    last = el[i].node->v.text.text;
            if (last) {
                size_t l = strlen(last);
                while (l && is_space((unsigned char)last[l - 1]))
                    l--;
                if (l && (last[l - 1] == '.' || last[l - 1] == '!' || last[l - 1] == '?'))
                    return 1;
            }
        }
    }
    return 0;
}

static int extract_text(kz_html_page *pg, hnode *el, size_t n, uint32_t top)
{
    int rc = KZ_OK;
    kz_buf stack = { 0 };
    emitter e = { &pg->text, &pg->scratch };
    pg->scratch.len = 0;
    uint32_t parent = el[top].parent;
    if (parent == UINT32_MAX || el[top].tag == GUMBO_TAG_BODY) {
        rc = emit_range(&e, &stack, el, top, el[top].end);
        goto done;
    }
    for (uint32_t c = parent + 1; c < el[parent].end && rc == KZ_OK; c = el[c].end) {
        if (!sibling_belongs(el, c, top))
            continue;
        if (el[c].is_text) {
            if ((rc = append_collapsed(e.block, el[c].node->v.text.text, strlen(el[c].node->v.text.text))) ||
                (rc = flush_block(&e)))
                goto done;
            continue;
        }
        rc = emit_range(&e, &stack, el, c, el[c].end);
    }
    KZ_UNUSED(n);
done:
    kz_buf_free(&stack);
    return rc;
}

/* ---------------------------------------------------------------- title */

/* Drops a " | Site" (" - Site", " — Site", ...) suffix from the title:
 * when it names the site, or (from <title> only, strict 0) when it is
 * short and the rest is not. */
static void clean_title(kz_buf *t, const kz_buf *site, int strict)
{
    static const char *const seps[] = { " | ", " - ", " \xE2\x80\x93 ", " \xE2\x80\x94 ", " :: ", " \xC2\xB7 ",
                                        " \xC2\xBB ", " // " };
    for (int round = 0; round < 2; round++) {
        const char *s = (const char *)t->data;
        size_t best = 0, best_len = 0;
        for (size_t k = 0; k < sizeof seps / sizeof *seps; k++) {
            size_t sl = strlen(seps[k]);
            for (size_t i = 0; i + sl <= t->len; i++)
                if (memcmp(s + i, seps[k], sl) == 0 && i > best) {
                    best = i;
                    best_len = sl;
                }
        }
        if (!best)
            return;
        const char *tail = s + best + best_len;
        size_t tail_len = t->len - best - best_len;
        int drop = 0;
        if (site->len) {
            /* The tail names the site (either contains the other). */
            char a[256], b[256];
            size_t al = KZ_MIN(tail_len, sizeof a - 1), bl = KZ_MIN(site->len, sizeof b - 1);
            for (size_t i = 0; i < al; i++)
                a[i] = (char)lower((unsigned char)tail[i]);
            for (size_t i = 0; i < bl; i++)
                b[i] = (char)lower(site->data[i]);
            a[al] = b[bl] = 0;
            if (al && bl && (strstr(a, b) || strstr(b, a)))
                drop = 1;
        }
        if (!drop && !strict) {
            unsigned tail_words = 1, head_words = 1;
            for (size_t i = 0; i < tail_len; i++)
                tail_words += tail[i] == ' ';
            for (size_t i = 0; i < best; i++)
                head_words += s[i] == ' ';
            drop = tail_words <= 4 && head_words >= 3 && head_words > tail_words;
        }
        if (!drop)
            return;
        t->len = best;
        t->data[t->len] = 0;
    }
}

/* ---------------------------------------------------------------- entry */

void kz_html_page_free(kz_html_page *pg)
{
    if (!pg)
        return;
    kz_buf_free(&pg->title);
    kz_buf_free(&pg->text);
    for (int f = 0; f < KZ_HTML_N_FIELDS; f++)
        kz_buf_free(&pg->field[f]);
    kz_buf_free(&pg->utf8);
    kz_buf_free(&pg->scratch);
    kz_buf_free(&pg->nodes);
    kz_buf_free(&pg->stack);
    kz_buf_free(&pg->saved);
    kz_buf_free(&pg->markup);
    memset(pg, 0, sizeof *pg);
}

void kz_html_page_move_result(kz_html_page *to, kz_html_page *from)
{
    kz_buf_free(&to->title);
    kz_buf_free(&to->text);
    to->title = from->title;
    to->text = from->text;
    from->title = from->text = (kz_buf){ 0 };
    for (int f = 0; f < KZ_HTML_N_FIELDS; f++) {
        kz_buf_free(&to->field[f]);
        to->field[f] = from->field[f];
        from->field[f] = (kz_buf){ 0 };
    }
    /* The fields' values point into the buffers moved, not into from. */
    memcpy(to->meta, from->meta, sizeof to->meta);
    to->n_meta = from->n_meta;
    from->n_meta = 0;
    memcpy(to->charset, from->charset, sizeof to->charset);
    to->flags = from->flags;
}

void kz_html_page_doc(const kz_html_page *pg, kz_jsonl_doc *doc)
{
    doc->title = pg->title.len ? (const char *)pg->title.data : "";
    doc->title_len = pg->title.len;
    doc->text = pg->text.len ? (const char *)pg->text.data : "";
    doc->text_len = pg->text.len;
    doc->meta = pg->n_meta ? pg->meta : NULL;
    doc->n_meta = pg->n_meta;
}

/* ---------------------------------------------------------------- scripts out
 *
 * Scripts (but JSON-LD ones) and style sheets are about half of a news
 * page's bytes (30% and 26% of the article-extraction pages'), which
 * libgumbo tokenizes a character at a time into text nodes that nothing
 * here reads. strip_scripts copies the page without their contents, their
 * tags kept, so that the tree is the same but for those elements' text.
 * It follows the HTML5 tokenizer as far as finding them needs: comments,
 * bogus comments and doctypes, tags with their quoted attribute values,
 * and the elements whose content is not markup (RCDATA: title, textarea;
 * RAWTEXT: style, xmp, iframe, noembed, noframes; script data with its
 * escaped states; plaintext), which only their end tag ends. (Inside
 * <svg> and <math> the tokenizer reads a script or style element's content
 * as markup; those subtrees are never read for text.)
 */

/* Whether s[i..n) starts with the ASCII word w, case-insensitively. */
static int starts_ci(const char *s, size_t n, size_t i, const char *w)
{
    size_t k = 0;
    for (; w[k]; k++)
        if (i + k >= n || lower((unsigned char)s[i + k]) != w[k])
            return 0;
    return 1;
}

/* Whether s[i..n) starts with the end tag "</name" of an element whose
 * content is raw: followed by white space, '/' or '>' (or the end). */
static int is_end_tag(const char *s, size_t n, size_t i, const char *name)
{
    if (i + 2 > n || s[i] != '<' || s[i + 1] != '/' || !starts_ci(s, n, i + 2, name))
        return 0;
    size_t j = i + 2 + strlen(name);
    return j >= n || is_space((unsigned char)s[j]) || s[j] == '/' || s[j] == '>';
}

/* The first "</name" end tag from i (n if none). Script data enters its
 * escaped states at "<!--", in which a "<script" opens a nested
 * one whose "</script" does not end the element, until "-->". */
static size_t raw_end(const char *s, size_t n, size_t i, const char *name, int script)
{
    enum { DATA, ESCAPED, DOUBLE } st = DATA;
    for (; i < n; i++) {
        if (s[i] == '-' && st != DATA && i + 2 < n && s[i + 1] == '-' && s[i + 2] == '>') {
            st = DATA;
            i += 2;
        } else if (s[i] != '<') {
            continue;
        } else if (st != DOUBLE && is_end_tag(s, n, i, name)) {
            return i;
        } else if (!script) {
            continue;
        } else if (st == DATA && i + 3 < n && s[i + 1] == '!' && s[i + 2] == '-' && s[i + 3] == '-') {
            st = ESCAPED;
            i += 1; /* "<!-->" ends at once: its "-->" is read next */
        } else if (st == ESCAPED && starts_ci(s, n, i + 1, "script") &&
                   (i + 7 >= n || is_space((unsigned char)s[i + 7]) || s[i + 7] == '/' || s[i + 7] == '>')) {
            st = DOUBLE;
        } else if (st == DOUBLE && is_end_tag(s, n, i, "script")) {
            st = ESCAPED;
        }
    }
    return n;
}

/* The tag at s[i] ('<' then a letter, or "</" then a letter): one past
 * its '>' (n if it has none), its name in [*name, *name + *name_len), and
 * in *ld whether its "type" attribute (the first) says JSON-LD. */
static size_t tag_end(const char *s, size_t n, size_t i, size_t *name, size_t *name_len, int *ld)
{
    size_t j = i + 1 + (s[i + 1] == '/');
    *name = j;
    while (j < n && !is_space((unsigned char)s[j]) && s[j] != '/' && s[j] != '>')
        j++;
    *name_len = j - *name;
    const char *type, *end;
    size_t type_len;
    *ld = tag_attr(s + j, s + n, "type", &type, &type_len, &end) && find_ci(type, type_len, "ld+json") != NULL;
    return (size_t)(end - s);
}

/* Copies [s, s+n) to out without the contents of its script (but
 * JSON-LD) and style elements. */
static int strip_scripts(kz_buf *out, const char *s, size_t n)
{
    static const char *const raw[] = { "script", "style", "title", "textarea", "xmp", "iframe", "noembed",
                                       "noframes", "plaintext" };
    out->len = 0;
    int rc = kz_buf_reserve(out, n + 1);
    size_t copied = 0, i = 0; /* [copied, i) is still to copy */
    while (rc == KZ_OK && i < n) {
        const char *lt = memchr(s + i, '<', n - i);
        if (!lt)
            break;
        i = (size_t)(lt - s);
        if (starts_ci(s, n, i, "<!--")) { /* a comment: "<!-->", "<!--->" end at once */
            size_t j = i + 4;
            if (j < n && s[j] == '>')
                i = j + 1;
            else if (j + 1 < n && s[j] == '-' && s[j + 1] == '>')
                i = j + 2;
            else {
                for (; j < n; j++)
                    if (s[j] == '-' && j + 2 < n && s[j + 1] == '-' &&
                        (s[j + 2] == '>' || (s[j + 2] == '!' && j + 3 < n && s[j + 3] == '>')))
                        break;
                i = j >= n ? n : j + (s[j + 2] == '>' ? 3 : 4);
            }
            continue;
        }
        int end = i + 1 < n && s[i + 1] == '/';
        size_t at = i + 1 + end;
        if (at >= n || !((s[at] | 0x20) >= 'a' && (s[at] | 0x20) <= 'z')) {
            /* "<!..." and "<?...": a bogus comment or a doctype, to '>';
             * "</" and another character, the same; else a '<' of text. */
            if (i + 1 < n && (s[i + 1] == '!' || s[i + 1] == '?' || end)) {
                const char *gt = memchr(s + i + 1, '>', n - i - 1);
                i = gt ? (size_t)(gt - s) + 1 : n;
            } else {
                i++;
            }
            continue;
        }
        size_t name, name_len;
        int ld;
        i = tag_end(s, n, i, &name, &name_len, &ld);
        if (end)
            continue;
        size_t r = 0;
        while (r < sizeof raw / sizeof *raw && !(strlen(raw[r]) == name_len && starts_ci(s, n, name, raw[r])))
            r++;
        if (r == sizeof raw / sizeof *raw)
            continue;
        if (r == 8) /* plaintext: the rest is text */
            break;
        size_t close = raw_end(s, n, i, raw[r], r == 0);
        if ((r == 0 && !ld) || r == 1) { /* the content left out */
            rc = kz_buf_append(out, s + copied, i - copied);
            copied = close;
        }
        i = close;
    }
    if (rc == KZ_OK)
        rc = kz_buf_append(out, s + copied, n - copied);
    return rc;
}

/* Parses text with gumbo in a; the longjmp of an allocation past the
 * budget lands here. */
static int parse_in_arena(arena *a, const char *text, size_t len, GumboOutput **out)
{
    GumboOptions o = kGumboDefaultOptions;
    o.allocator = arena_alloc;
    o.deallocator = arena_dealloc;
    o.userdata = a;
    o.max_errors = 0;
    int jr = setjmp(a->fail);
    if (jr != 0)
        return jr;
    *out = gumbo_parse_with_options(&o, text, len);
    return KZ_OK;
}

int kz_html_extract(kz_html_page *pg, const char *data, size_t len, const kz_html_options *opts)
{
    int rc = KZ_OK;
    arena a = { 0 };
    meta_state ms = { 0 };
    pg->title.len = pg->text.len = 0;
    for (int f = 0; f < KZ_HTML_N_FIELDS; f++)
        pg->field[f].len = 0;
    pg->n_meta = 0;
    pg->flags = 0;
    pg->charset[0] = 0;
    const char *text = NULL;
    size_t tlen = 0;
    if ((rc = decode_page(pg, data, len, opts ? opts->http_charset : NULL, &text, &tlen)))
        goto done;
    if (tlen > UINT32_MAX) {
        rc = kz_error_set(KZ_ELIMIT, "a page of %zu bytes: pages are read up to 4 GiB", tlen);
        goto done;
    }
    a.limit = opts && opts->max_memory ? opts->max_memory : KZ_HTML_DEFAULT_MEMORY;
    if ((rc = strip_scripts(&pg->markup, text, tlen)))
        goto done;
    GumboOutput *out = NULL;
    rc = parse_in_arena(&a, (const char *)pg->markup.data, pg->markup.len, &out);
    if (rc == KZ_ELIMIT) {
        rc = kz_error_set(KZ_ELIMIT, "parsing the page (%zu bytes) takes more than %llu MiB", tlen,
                          (unsigned long long)(a.limit >> 20));
        goto done;
    }
    if (rc) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory parsing a page of %zu bytes", tlen);
        goto done;
    }
    /* With the elements whose class or id says boilerplate left out; when
     * that leaves little, their class may have been wrong (a blog's
     * "widget" around the post): again with them, taken when that gives
     * more than twice the text. */
    for (int use_classes = 1; use_classes >= 0; use_classes--) {
        size_t n = 0;
        if ((rc = walk_tree(pg, &ms, out->root, use_classes, &n)))
            goto done;
        if (n == 0)
            continue;
        hnode *el = (hnode *)pg->nodes.data;
        uint32_t top = score_nodes(el, n);
        if (!use_classes) {
            size_t kept = pg->text.len;
            if ((rc = kz_buf_append(&pg->saved, pg->text.data, kept)))
                goto done;
            pg->text.len = 0;
            if ((rc = extract_text(pg, el, n, top)))
                goto done;
            if (pg->text.len <= 2 * kept) { /* not much more: the first was right */
                pg->text.len = 0;
                if ((rc = kz_buf_append(&pg->text, pg->saved.data, kept)))
                    goto done;
            }
            pg->saved.len = 0;
            break;
        }
        if ((rc = extract_text(pg, el, n, top)))
            goto done;
        if (pg->text.len >= RETRY_BELOW)
            break;
    }
    if (opts && opts->url && opts->url[0] && (rc = set_field(pg, &ms, KZ_HTML_URL, 1, opts->url, strlen(opts->url))))
        goto done;
    /* Little text where the page's JSON-LD has the article's body. */
    if (ms.ld_body.len > 200 && pg->text.len * 2 < ms.ld_body.len) {
        kz_buf *t = &pg->text;
        t->len = 0;
        const char *s = (const char *)ms.ld_body.data;
        size_t m = ms.ld_body.len;
        for (size_t i = 0; i < m && rc == KZ_OK;) {
            const char *nl = memchr(s + i, '\n', m - i);
            size_t e = nl ? (size_t)(nl - s) : m;
            size_t before = t->len;
            if (before && (rc = kz_buf_append(t, "\n\n", 2)))
                break;
            size_t mark = t->len;
            rc = append_collapsed(t, s + i, e - i);
            trim_end(t);
            if (t->len == mark)
                t->len = before;
            i = e + 1;
        }
        if (rc)
            goto done;
    }
    if (ms.title_prio == 0 && ms.h1) {
        if ((rc = node_text(&pg->scratch, &pg->stack, ms.h1)) ||
            (rc = set_title(pg, &ms, 1, (const char *)pg->scratch.data, pg->scratch.len)))
            goto done;
        ms.title_prio = 9; /* a headline: no site suffix to drop */
    }
    clean_title(&pg->title, &pg->field[KZ_HTML_SITE], ms.title_prio >= 2);
    if ((rc = kz_buf_terminate(&pg->title)) || (rc = kz_buf_terminate(&pg->text)))
        goto done;
    for (int f = 0; f < KZ_HTML_N_FIELDS; f++) {
        if (!pg->field[f].len)
            continue;
        kz_meta *m = &pg->meta[pg->n_meta++];
        m->key = field_names[f];
        m->key_len = strlen(field_names[f]);
        m->value = (const char *)pg->field[f].data;
        m->value_len = pg->field[f].len;
    }
done:
    arena_free(&a);
    kz_buf_free(&ms.ld_body);
    kz_buf_free(&ms.tmp);
    if (rc) {
        pg->title.len = pg->text.len = 0;
        pg->n_meta = 0;
    }
    /* Scratch of a huge page is not kept for the next one. */
    if (pg->nodes.cap > (64u << 20))
        kz_buf_free(&pg->nodes);
    if (pg->utf8.cap > (64u << 20))
        kz_buf_free(&pg->utf8);
    return rc;
}
