/*
 * stats.c: global statistics, so that indexes on several machines rank as
 * one index of all their documents (README "Shards across machines").
 *
 * BM25 needs N, avgdl and each term's df over the whole collection, and a
 * query's reading needs the whole dictionary: which terms a prefix, a
 * word~ or a spelling variant expands to, whether a word is there at all,
 * the years a date field spans. A search over many machines therefore
 * runs in two steps, as Elasticsearch's DFS query-then-fetch does:
 *
 *  1. Each machine parses the query against its own index and records
 *     every answer its dictionary gave (kz_stats_gather): each term looked
 *     up or listed, with its live df; each prefix extent asked (how many
 *     terms, the least and the greatest). The coordinator sums the
 *     records (kz_stats_merge): dfs and counts add up, extents widen.
 *  2. Each machine parses the query again against the sum
 *     (kz_query_parse_global): every dictionary question is answered from
 *     it, so that every machine reads the query as one index would, and
 *     kz_query_run scores with its N, avgdl and dfs.
 *
 * Why the sum answers every question of step 2 exactly: a question on the
 * whole index's path (a word's df, a prefix's terms, a field's extent) is
 * one that the query's text asks, whatever the dictionary says, so every
 * machine asked it in step 1 and recorded its part of the answer. The two
 * exceptions are made so: a spelling variant's first-letters filter is
 * off while gathering (every variant is looked up), and "did you mean"
 * candidates are gathered for every word a machine lacks (the whole index
 * lacks a word only where every machine does). A term recorded by some
 * machines only, from a question the whole index does not ask, is never
 * read in step 2.
 *
 * A kz_stats is settled (terms and extents sorted and distinct) before it
 * is read; the record of one parse may list a term twice, with one df.
 */
#include "kzint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define STATS_MAGIC "kzsearch stats 1"
#define STATS_MAX_ENTRIES (1u << 22)

typedef struct stat_term {
    char *text;
    size_t len;
    uint64_t df;
} stat_term;

typedef struct stat_extent {
    char *prefix;
    size_t len;
    uint64_t count; /* dictionary terms under it with a live document, summed over segments */
    kz_term lo, hi; /* when count > 0 */
} stat_extent;

struct kz_stats {
    uint64_t docs, tokens, docids;
    int cyrillic;
    int parts; /* indexes summed; 0 for a fresh kz_stats_new */
    char language[33];
    uint32_t analyzer_version;
    stat_term *terms;
    size_t n_terms, cap_terms;
    stat_extent *ext;
    size_t n_ext, cap_ext;
    int settled;
};

static int oom(void) { return kz_error_set(KZ_ENOMEM, "out of memory"); }

int kz_stats_new(kz_stats **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return oom();
    (*out)->settled = 1;
    return KZ_OK;
}

void kz_stats_free(kz_stats *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_terms; i++)
        free(s->terms[i].text);
    for (size_t i = 0; i < s->n_ext; i++)
        free(s->ext[i].prefix);
    free(s->terms);
    free(s->ext);
    free(s);
}

uint64_t kz_stats_docs(const kz_stats *s) { return s->docs; }
uint64_t kz_stats_docids(const kz_stats *s) { return s->docids; }
uint64_t kz_stats_tokens(const kz_stats *s) { return s->tokens; }
int kz_stats_has_cyrillic(const kz_stats *s) { return s->cyrillic; }

/* ------------------------------------------------------------ recording */

int kz_stats_record_term(kz_stats *s, const char *text, size_t len, uint64_t df)
{
    if (s->n_terms == s->cap_terms) {
        size_t cap = s->cap_terms ? 2 * s->cap_terms : 64;
        stat_term *g = realloc(s->terms, cap * sizeof *g);
        if (!g)
            return oom();
        s->terms = g;
        s->cap_terms = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return oom();
    memcpy(copy, text, len);
    copy[len] = 0;
    s->terms[s->n_terms++] = (stat_term){ copy, len, df };
    s->settled = 0;
    return KZ_OK;
}

static int push_extent(kz_stats *s, const char *prefix, size_t len, uint64_t count, const kz_term *lo,
                       const kz_term *hi)
{
    if (s->n_ext == s->cap_ext) {
        size_t cap = s->cap_ext ? 2 * s->cap_ext : 8;
        stat_extent *g = realloc(s->ext, cap * sizeof *g);
        if (!g)
            return oom();
        s->ext = g;
        s->cap_ext = cap;
    }
    stat_extent *e = &s->ext[s->n_ext];
    memset(e, 0, sizeof *e);
    if (!(e->prefix = malloc(len + 1)))
        return oom();
    memcpy(e->prefix, prefix, len);
    e->prefix[len] = 0;
    e->len = len;
    e->count = count;
    if (count) {
        e->lo = *lo;
        e->hi = *hi;
    }
    s->n_ext++;
    s->settled = 0;
    return KZ_OK;
}

static int cmp_terms(const void *x, const void *y)
{
    const stat_term *a = x, *b = y;
    return kz_bytes_cmp(a->text, a->len, b->text, b->len);
}

static int cmp_extents(const void *x, const void *y)
{
    const stat_extent *a = x, *b = y;
    return kz_bytes_cmp(a->prefix, a->len, b->prefix, b->len);
}

/* Sorts the terms and extents and keeps one of each: the record of one
 * index may hold a term or an extent twice, with one answer. */
void kz_stats_settle(kz_stats *s)
{
    if (s->settled)
        return;
    if (s->n_terms)
        qsort(s->terms, s->n_terms, sizeof *s->terms, cmp_terms);
    size_t w = 0;
    for (size_t i = 0; i < s->n_terms; i++) {
        if (w && cmp_terms(&s->terms[w - 1], &s->terms[i]) == 0) {
            free(s->terms[i].text);
            continue;
        }
        s->terms[w++] = s->terms[i];
    }
    s->n_terms = w;
    if (s->n_ext)
        qsort(s->ext, s->n_ext, sizeof *s->ext, cmp_extents);
    w = 0;
    for (size_t i = 0; i < s->n_ext; i++) {
        if (w && cmp_extents(&s->ext[w - 1], &s->ext[i]) == 0) {
            free(s->ext[i].prefix);
            continue;
        }
        s->ext[w++] = s->ext[i];
    }
    s->n_ext = w;
    s->settled = 1;
}

/* --------------------------------------------------------------- reading */

/* The first term >= text. */
static size_t lower_bound(const kz_stats *s, const char *text, size_t len)
{
    size_t lo = 0, hi = s->n_terms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kz_bytes_cmp(s->terms[mid].text, s->terms[mid].len, text, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t kz_stats_df(const kz_stats *s, const char *text, size_t len)
{
    size_t i = lower_bound(s, text, len);
    return i < s->n_terms && s->terms[i].len == len && memcmp(s->terms[i].text, text, len) == 0 ? s->terms[i].df : 0;
}

size_t kz_stats_prefix_range(const kz_stats *s, const char *prefix, size_t len, size_t *first)
{
    size_t i = lower_bound(s, prefix, len), n = 0;
    *first = i;
    while (i + n < s->n_terms && s->terms[i + n].len >= len && memcmp(s->terms[i + n].text, prefix, len) == 0)
        n++;
    return n;
}

const char *kz_stats_term_at(const kz_stats *s, size_t i, size_t *len, uint64_t *df)
{
    *len = s->terms[i].len;
    *df = s->terms[i].df;
    return s->terms[i].text;
}

int kz_stats_extent(kz_index *ix, const kz_stats *global, kz_stats *record, const char *prefix, size_t len,
                    uint64_t *count, kz_term *lo, kz_term *hi)
{
    *count = 0;
    if (global) {
        size_t a = 0, b = global->n_ext;
        while (a < b) {
            size_t mid = a + (b - a) / 2;
            int c = kz_bytes_cmp(global->ext[mid].prefix, global->ext[mid].len, prefix, len);
            if (c == 0) {
                *count = global->ext[mid].count;
                if (*count && lo)
                    *lo = global->ext[mid].lo;
                if (*count && hi)
                    *hi = global->ext[mid].hi;
                return KZ_OK;
            }
            if (c < 0)
                a = mid + 1;
            else
                b = mid;
        }
        /* Not gathered: no machine was asked, which step 1 rules out. */
        return kz_error_set(KZ_EINVAL, "the global statistics lack a field's extent: gathered for another query?");
    }
    kz_term *l = lo, *h = hi, *tmp = NULL;
    if (record && (!lo || !hi)) {
        if (!(tmp = malloc(2 * sizeof *tmp)))
            return oom();
        l = lo ? lo : &tmp[0];
        h = hi ? hi : &tmp[1];
    }
    int rc = kz_index_prefix_extent(ix, prefix, len, count, l, h);
    if (rc == KZ_OK && record)
        rc = push_extent(record, prefix, len, *count, l, h);
    free(tmp);
    return rc;
}

/* -------------------------------------------------------------- summing */

static int same_analysis(const kz_stats *sum, const kz_stats *part)
{
    if (strcmp(sum->language, part->language) != 0 || sum->analyzer_version != part->analyzer_version)
        return kz_error_set(KZ_EINVAL, "indexes analysed differently cannot be searched as one: %s (analyzer %u) "
                            "and %s (analyzer %u)", sum->language, sum->analyzer_version, part->language,
                            part->analyzer_version);
    return KZ_OK;
}

int kz_stats_merge(kz_stats *sum, const kz_stats *part_in)
{
    kz_stats *part = (kz_stats *)part_in; /* settling changes no answer */
    kz_stats_settle(sum);
    kz_stats_settle(part);
    int rc;
    if (sum->parts && (rc = same_analysis(sum, part)))
        return rc;
    if (!sum->parts) {
        memcpy(sum->language, part->language, sizeof sum->language);
        sum->analyzer_version = part->analyzer_version;
    }
    size_t nt = sum->n_terms + part->n_terms, ne = sum->n_ext + part->n_ext;
    stat_term *t = malloc((nt ? nt : 1) * sizeof *t);
    stat_extent *x = malloc((ne ? ne : 1) * sizeof *x);
    if (!t || !x) {
        free(t);
        free(x);
        return oom();
    }
    /* Terms: a merge of two sorted lists, dfs added. Copies of part's
     * strings are made first, so that a failure leaves sum as it was. */
    size_t i = 0, j = 0, n = 0;
    rc = KZ_OK;
    while (i < sum->n_terms || j < part->n_terms) {
        int c = i == sum->n_terms ? 1 : j == part->n_terms ? -1 : cmp_terms(&sum->terms[i], &part->terms[j]);
        if (c < 0) {
            t[n++] = sum->terms[i++];
        } else if (c == 0) {
            t[n] = sum->terms[i++];
            t[n++].df += part->terms[j++].df;
        } else {
            const stat_term *p = &part->terms[j++];
            char *copy = malloc(p->len + 1);
            if (!copy) {
                rc = oom();
                break;
            }
            memcpy(copy, p->text, p->len + 1);
            t[n++] = (stat_term){ copy, p->len, p->df };
        }
    }
    size_t m = 0;
    i = j = 0;
    while (rc == KZ_OK && (i < sum->n_ext || j < part->n_ext)) {
        int c = i == sum->n_ext ? 1 : j == part->n_ext ? -1 : cmp_extents(&sum->ext[i], &part->ext[j]);
        if (c <= 0) {
            x[m] = sum->ext[i++];
            if (c == 0) {
                const stat_extent *p = &part->ext[j++];
                stat_extent *e = &x[m];
                if (p->count && (!e->count || kz_bytes_cmp(p->lo.text, p->lo.len, e->lo.text, e->lo.len) < 0))
                    e->lo = p->lo;
                if (p->count && (!e->count || kz_bytes_cmp(p->hi.text, p->hi.len, e->hi.text, e->hi.len) > 0))
                    e->hi = p->hi;
                e->count += p->count;
            }
            m++;
        } else {
            const stat_extent *p = &part->ext[j++];
            x[m] = *p;
            if (!(x[m].prefix = malloc(p->len + 1))) {
                rc = oom();
                break;
            }
            memcpy(x[m].prefix, p->prefix, p->len + 1);
            m++;
        }
    }
    if (rc) {
        /* Free only the copies of part's strings: sum's stay in sum. */
        for (size_t k = 0; k < n; k++) {
            int own = 0;
            for (size_t s = 0; s < sum->n_terms && !own; s++)
                own = t[k].text == sum->terms[s].text;
            if (!own)
                free(t[k].text);
        }
        for (size_t k = 0; k < m; k++) {
            int own = 0;
            for (size_t s = 0; s < sum->n_ext && !own; s++)
                own = x[k].prefix == sum->ext[s].prefix;
            if (!own)
                free(x[k].prefix);
        }
        free(t);
        free(x);
        return rc;
    }
    free(sum->terms);
    free(sum->ext);
    sum->terms = t;
    sum->n_terms = sum->cap_terms = n;
    sum->ext = x;
    sum->n_ext = sum->cap_ext = m;
    sum->docs += part->docs;
    sum->tokens += part->tokens;
    sum->docids += part->docids;
    sum->cyrillic |= part->cyrillic;
    sum->parts += part->parts ? part->parts : 1;
    return KZ_OK;
}

/* ------------------------------------------------------------- gathering */

int kz_stats_begin(kz_stats **out, kz_index *ix)
{
    int rc = kz_stats_new(out);
    if (rc)
        return rc;
    kz_stats *s = *out;
    kz_index_info info;
    kz_index_get_info(ix, &info);
    s->docs = info.docs;
    s->tokens = info.tokens;
    s->docids = info.docids;
    s->parts = 1;
    s->analyzer_version = info.analyzer_version;
    snprintf(s->language, sizeof s->language, "%s", info.language ? info.language : "");
    if ((rc = kz_index_has_cyrillic(ix, &s->cyrillic))) {
        kz_stats_free(s);
        *out = NULL;
    }
    return rc;
}

/* --------------------------------------------------------- the wire form */

/* A line of text: lowercase hex of the bytes, or "-" for none. */
static int put_hex(kz_buf *b, const char *s, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    if (n == 0)
        return kz_buf_append(b, "-", 1);
    for (size_t i = 0; i < n; i++) {
        char two[2] = { digits[(unsigned char)s[i] >> 4], digits[(unsigned char)s[i] & 15] };
        if (kz_buf_append(b, two, 2))
            return KZ_ENOMEM;
    }
    return KZ_OK;
}

static int put_line(kz_buf *b, const char *fmt, ...) KZ_PRINTF(2, 3);
static int put_line(kz_buf *b, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= sizeof line ? KZ_EINVAL : kz_buf_append(b, line, (size_t)n);
}

int kz_stats_encode(const kz_stats *s_in, char **out, size_t *len)
{
    kz_stats *s = (kz_stats *)s_in; /* settling changes no answer */
    kz_stats_settle(s);
    kz_buf b = { 0 };
    *out = NULL;
    *len = 0;
    int rc = put_line(&b, STATS_MAGIC "\ndocs %" PRIu64 "\ntokens %" PRIu64 "\ndocids %" PRIu64 "\ncyrillic %d\n"
                          "parts %d\nanalyzer %" PRIu32 "\nlanguage %s\n",
                      s->docs, s->tokens, s->docids, s->cyrillic, s->parts, s->analyzer_version, s->language);
    for (size_t i = 0; i < s->n_terms && rc == KZ_OK; i++) {
        rc = put_line(&b, "t %" PRIu64 " ", s->terms[i].df);
        rc = rc ? rc : put_hex(&b, s->terms[i].text, s->terms[i].len);
        rc = rc ? rc : kz_buf_append(&b, "\n", 1);
    }
    for (size_t i = 0; i < s->n_ext && rc == KZ_OK; i++) {
        const stat_extent *e = &s->ext[i];
        rc = put_line(&b, "x %" PRIu64 " ", e->count);
        rc = rc ? rc : put_hex(&b, e->prefix, e->len);
        rc = rc ? rc : kz_buf_append(&b, " ", 1);
        rc = rc ? rc : put_hex(&b, e->count ? e->lo.text : "", e->count ? e->lo.len : 0);
        rc = rc ? rc : kz_buf_append(&b, " ", 1);
        rc = rc ? rc : put_hex(&b, e->count ? e->hi.text : "", e->count ? e->hi.len : 0);
        rc = rc ? rc : kz_buf_append(&b, "\n", 1);
    }
    rc = rc ? rc : kz_buf_append(&b, "end\n", 4);
    rc = rc ? rc : kz_buf_terminate(&b);
    if (rc) {
        kz_buf_free(&b);
        return oom();
    }
    *out = (char *)b.data;
    *len = b.len;
    return KZ_OK;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reads the hex field [s, e) into out (at most cap bytes); no term holds a
 * NUL byte. */
static int get_hex(const char *s, const char *e, char *out, size_t cap, size_t *len)
{
    *len = 0;
    if (e - s == 1 && *s == '-')
        return KZ_OK;
    if ((e - s) % 2 || (size_t)(e - s) / 2 > cap || s == e)
        return KZ_ESYNTAX;
    for (const char *p = s; p < e; p += 2) {
        int hi = hex_value(p[0]), lo = hex_value(p[1]);
        if (hi < 0 || lo < 0 || (hi | lo) == 0)
            return KZ_ESYNTAX;
        out[(*len)++] = (char)(hi << 4 | lo);
    }
    return KZ_OK;
}

static int get_u64(const char **p, const char *e, uint64_t *v)
{
    const char *s = *p;
    *v = 0;
    if (s == e || *s < '0' || *s > '9')
        return KZ_ESYNTAX;
    for (; s < e && *s >= '0' && *s <= '9'; s++) {
        if (*v > (UINT64_MAX - 9) / 10)
            return KZ_ESYNTAX;
        *v = *v * 10 + (uint64_t)(*s - '0');
    }
    *p = s;
    return KZ_OK;
}

/* The next space-separated field of [*p, e). */
static int field(const char **p, const char *e, const char **fs, const char **fe)
{
    if (*p < e && **p == ' ')
        (*p)++;
    *fs = *p;
    while (*p < e && **p != ' ')
        (*p)++;
    *fe = *p;
    return *fs < *fe ? KZ_OK : KZ_ESYNTAX;
}

static int decode_line(kz_stats *s, const char *p, const char *e, int *ended)
{
    char key[16];
    size_t kn = 0;
    while (p < e && *p != ' ' && kn < sizeof key - 1)
        key[kn++] = *p++;
    key[kn] = 0;
    if (p < e && *p != ' ')
        return KZ_ESYNTAX;
    if (strcmp(key, "end") == 0) {
        *ended = 1;
        return p == e ? KZ_OK : KZ_ESYNTAX;
    }
    if (p < e)
        p++;
    uint64_t v = 0;
    if (strcmp(key, "language") == 0) {
        if ((size_t)(e - p) >= sizeof s->language)
            return KZ_ESYNTAX;
        memcpy(s->language, p, (size_t)(e - p));
        s->language[e - p] = 0;
        return KZ_OK;
    }
    if (strcmp(key, "t") == 0) {
        char term[KZ_TERM_MAX_BYTES];
        size_t len;
        const char *fs, *fe;
        if (get_u64(&p, e, &v) || field(&p, e, &fs, &fe) || p != e ||
            get_hex(fs, fe, term, sizeof term, &len) || len == 0)
            return KZ_ESYNTAX;
        if (s->n_terms == STATS_MAX_ENTRIES)
            return KZ_ELIMIT;
        /* In byte order and distinct, as kz_stats_encode writes them. */
        if (s->n_terms && kz_bytes_cmp(s->terms[s->n_terms - 1].text, s->terms[s->n_terms - 1].len, term, len) >= 0)
            return KZ_ESYNTAX;
        return kz_stats_record_term(s, term, len, v);
    }
    if (strcmp(key, "x") == 0) {
        char prefix[KZ_TERM_MAX_BYTES];
        size_t len;
        kz_term lo, hi;
        const char *fs, *fe;
        if (get_u64(&p, e, &v) || field(&p, e, &fs, &fe) || get_hex(fs, fe, prefix, sizeof prefix, &len) ||
            field(&p, e, &fs, &fe) || get_hex(fs, fe, lo.text, sizeof lo.text - 1, &lo.len) ||
            field(&p, e, &fs, &fe) || get_hex(fs, fe, hi.text, sizeof hi.text - 1, &hi.len) || p != e ||
            (v > 0) != (lo.len > 0) || (v > 0) != (hi.len > 0))
            return KZ_ESYNTAX;
        lo.text[lo.len] = hi.text[hi.len] = 0;
        /* Both ends under the prefix, in order: a reader reads past it. */
        if (v > 0 && (lo.len < len || hi.len < len || memcmp(lo.text, prefix, len) != 0 ||
                      memcmp(hi.text, prefix, len) != 0 || kz_bytes_cmp(lo.text, lo.len, hi.text, hi.len) > 0))
            return KZ_ESYNTAX;
        if (s->n_ext == STATS_MAX_ENTRIES)
            return KZ_ELIMIT;
        if (s->n_ext && kz_bytes_cmp(s->ext[s->n_ext - 1].prefix, s->ext[s->n_ext - 1].len, prefix, len) >= 0)
            return KZ_ESYNTAX;
        return push_extent(s, prefix, len, v, &lo, &hi);
    }
    if (get_u64(&p, e, &v) || p != e)
        return KZ_ESYNTAX;
    if (strcmp(key, "docs") == 0)
        s->docs = v;
    else if (strcmp(key, "tokens") == 0)
        s->tokens = v;
    else if (strcmp(key, "docids") == 0)
        s->docids = v;
    else if (strcmp(key, "cyrillic") == 0 && v <= 1)
        s->cyrillic = (int)v;
    else if (strcmp(key, "parts") == 0 && v <= INT32_MAX)
        s->parts = (int)v;
    else if (strcmp(key, "analyzer") == 0 && v <= UINT32_MAX)
        s->analyzer_version = (uint32_t)v;
    else
        return KZ_ESYNTAX;
    return KZ_OK;
}

int kz_stats_decode(kz_stats **out, const char *text, size_t len)
{
    *out = NULL;
    kz_stats *s;
    int rc = kz_stats_new(&s);
    if (rc)
        return rc;
    const char *p = text, *end = text + len;
    size_t magic = strlen(STATS_MAGIC);
    int ended = 0;
    unsigned line = 1;
    if (len <= magic || memcmp(text, STATS_MAGIC, magic) != 0 || text[magic] != '\n') {
        rc = KZ_ESYNTAX;
        goto done;
    }
    p += magic + 1;
    while (p < end && !ended) {
        line++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            rc = KZ_ESYNTAX;
            goto done;
        }
        if ((rc = decode_line(s, p, nl, &ended)))
            goto done;
        p = nl + 1;
    }
    if (!ended || p != end || s->docs > s->docids) {
        rc = KZ_ESYNTAX;
        goto done;
    }
    /* No term in more documents than there are: its idf would be no
     * number. */
    for (size_t i = 0; i < s->n_terms; i++)
        if (s->terms[i].df > s->docs) {
            rc = KZ_ESYNTAX;
            goto done;
        }
    kz_stats_settle(s);
done:
    if (rc == KZ_ENOMEM) {
        rc = oom();
    } else if (rc == KZ_ELIMIT) {
        rc = kz_error_set(KZ_ELIMIT, "global statistics of more than %u entries", STATS_MAX_ENTRIES);
    } else if (rc) {
        rc = kz_error_set(KZ_ESYNTAX, "global statistics are malformed at line %u", line);
    }
    if (rc) {
        kz_stats_free(s);
        return rc;
    }
    *out = s;
    return KZ_OK;
}
