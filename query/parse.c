/*
 * parse.c: the query language, parsed against an index.
 *
 *   query    := or_expr
 *   or_expr  := sequence ( "OR" sequence )*
 *   sequence := ( clause | "AND" )*        adjacent clauses; AND makes both
 *                                          of its neighbours required
 *   clause   := "NOT" clause | "+" primary | "-" primary | primary
 *   primary  := "(" or_expr ")" | '"' words '"' | word | word"*"
 *
 * OR, AND and NOT are operators only in upper case and as whole words. A
 * "+" or "-" is an operator at the start of a word, quote or parenthesis;
 * anywhere else it is punctuation. A word, a quoted phrase and a prefix
 * are analysed as the index analyses text: a word may give several terms
 * ("Kasym-Žomart" gives kasym and zomart, each a clause of its own), a
 * quote of two or more terms is a phrase, and a word ending in "*" is
 * folded but not stemmed and expands to the dictionary's terms that start
 * with it (the most frequent KZ_PREFIX_MAX_TERMS of them, with a note).
 * What analyses to nothing (punctuation, an empty quote) drops out.
 *
 * The result is a tree of boolean nodes whose children are required
 * (MUST), optional (SHOULD), excluded (NOT), or DEFAULT: the plain
 * juxtaposition, required in AND mode and optional in OR mode (see
 * search.c). Its leaves are terms and phrases; the scoring units are the
 * distinct leaves that are not under a NOT, in query order. A group in
 * parentheses is one clause of the query around it, whatever its inside
 * says: "(+a) b" in OR mode finds the documents with a or b. Negations in
 * a row cancel in pairs for matching ("NOT NOT x" finds the documents with
 * x) but x stays under a NOT and does not score. A prefix that matches no
 * term is a leaf of no terms: it matches nothing and scores nothing.
 *
 * Parsing is linear in the query: terms and units are found by hashing,
 * columns are counted on from the last, and prefix operators are read in
 * a loop, so that the hostile queries the limits allow (1 MiB, 65,536
 * terms and groups besides the whole query, 100 levels of parentheses, any
 * number of NOTs) cost milliseconds.
 */
#include "kzint.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <utf8proc.h>
#include <xxhash.h>

#define NONE UINT32_MAX
#define MAX_DEPTH 100
#define MAX_QUERY_BYTES (1u << 20)

typedef enum tok_kind {
    TOK_END,
    TOK_LPAREN,
    TOK_RPAREN,
    TOK_QUOTE, /* [start, end) is the text between the quotes */
    TOK_WORD,  /* [start, end) is the word, without a trailing "*" */
    TOK_AND,
    TOK_OR,
    TOK_NOT,
    TOK_PLUS,
    TOK_MINUS
} tok_kind;

typedef struct tok {
    tok_kind kind;
    size_t at;          /* byte offset of the token in the query */
    size_t start, end;  /* its content */
    int prefix;         /* TOK_WORD ended in "*" */
    int fuzzy;          /* TOK_WORD ended in "~" */
} tok;

typedef struct parser {
    kz_query *q;
    const char *s; /* the query, valid UTF-8 */
    size_t len, pos;
    tok cur;
    int have_cur;
    kz_analyzer *stem, *fold;
    kz_tokvec tv;
    kz_tokvec tv_variant; /* a spelling's analysis (word_variants) */
    int variants;         /* -1: none (KZ_QUERY_NO_VARIANTS); 1: the index has Cyrillic; 0: not yet known */
    int suggest;          /* KZ_QUERY_SUGGEST */
    kz_buf suggestion;    /* the query so far with unknown words replaced */
    size_t suggested_to; /* bytes of the query copied into suggestion */
    int suggested;        /* a word was replaced */
    kz_syntax_error *err;
    int rc;
    int field_error; /* the syntax error is a field clause's: no plain reading */
    /* The column of byte col_at, so that columns are counted on from the
     * last one asked for: nodes are made in query order. */
    size_t col_at;
    uint32_t col;
    /* Query terms by hash of their text: indices + 1 into q->terms, 0 free. */
    uint32_t *term_slots;
    size_t term_slots_cap;
    /* Scoring units by hash of their leaf's terms: unit + 1, 0 free. */
    uint32_t *unit_slots;
    size_t unit_slots_cap;
    /* stats.c: the dictionary's answers come from global (not owned) when
     * set; each answer the index gives is added to record when set. */
    const kz_stats *global;
    kz_stats *record;
} parser;

/* ------------------------------------------------------------- errors */

/* The column (from 1, in characters) of byte at of the query, counted on
 * from the last one asked for when it can. */
static uint32_t node_column(parser *p, size_t at)
{
    if (at < p->col_at || p->col == 0) {
        p->col_at = 0;
        p->col = 1;
    }
    for (size_t i = p->col_at; i < at; i++)
        p->col += ((unsigned char)p->s[i] & 0xC0) != 0x80;
    p->col_at = at;
    return p->col;
}

static int syntax_error(parser *p, size_t at, const char *fmt, ...) KZ_PRINTF(3, 4);

static int syntax_error(parser *p, size_t at, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    uint32_t col = node_column(p, at);
    if (p->err) {
        p->err->column = col;
        p->err->byte = at;
        snprintf(p->err->message, sizeof p->err->message, "%s", msg);
    }
    p->rc = kz_error_set(KZ_ESYNTAX, "query syntax error at column %u: %s", col, msg);
    return p->rc;
}

/* A field clause's value is wrong (date:1987-13): written on purpose, so
 * KZ_QUERY_LENIENT does not read it as words. */
#define field_syntax_error(p, ...) ((p)->field_error = 1, syntax_error((p), __VA_ARGS__))

static int oom(parser *p)
{
    p->rc = kz_error_set(KZ_ENOMEM, "out of memory parsing a query");
    return p->rc;
}

/* ------------------------------------------------------------- lexing */

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Bytes of a quote character at s[i] (", U+201C, U+201D, U+201E), or 0. */
static size_t quote_len(const char *s, size_t len, size_t i)
{
    if (s[i] == '"')
        return 1;
    if (i + 2 < len && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
        ((unsigned char)s[i + 2] == 0x9C || (unsigned char)s[i + 2] == 0x9D ||
         (unsigned char)s[i + 2] == 0x9E))
        return 3;
    return 0;
}

static int ends_word(const char *s, size_t len, size_t i)
{
    return is_space((unsigned char)s[i]) || s[i] == '(' || s[i] == ')' || quote_len(s, len, i);
}

static int lex(parser *p, tok *t)
{
    const char *s = p->s;
    size_t len = p->len, i = p->pos;
    while (i < len && is_space((unsigned char)s[i]))
        i++;
    memset(t, 0, sizeof *t);
    t->at = i;
    if (i == len) {
        t->kind = TOK_END;
        p->pos = i;
        return KZ_OK;
    }
    size_t ql;
    if (s[i] == '(' || s[i] == ')') {
        t->kind = s[i] == '(' ? TOK_LPAREN : TOK_RPAREN;
        p->pos = i + 1;
        return KZ_OK;
    }
    if ((ql = quote_len(s, len, i))) {
        size_t j = i + ql, cl = 0;
        while (j < len && !(cl = quote_len(s, len, j)))
            j++;
        if (j == len)
            return syntax_error(p, i, "this quote is never closed");
        t->kind = TOK_QUOTE;
        t->start = i + ql;
        t->end = j;
        p->pos = j + cl;
        return KZ_OK;
    }
    if ((s[i] == '+' || s[i] == '-') && i + 1 < len && !is_space((unsigned char)s[i + 1]) &&
        s[i + 1] != ')' && s[i + 1] != '+' && s[i + 1] != '-') {
        t->kind = s[i] == '+' ? TOK_PLUS : TOK_MINUS;
        p->pos = i + 1;
        return KZ_OK;
    }
    size_t j = i;
    while (j < len && !ends_word(s, len, j))
        j++;
    p->pos = j;
    size_t n = j - i;
    if (n == 3 && memcmp(s + i, "AND", 3) == 0)
        t->kind = TOK_AND;
    else if (n == 2 && memcmp(s + i, "OR", 2) == 0)
        t->kind = TOK_OR;
    else if (n == 3 && memcmp(s + i, "NOT", 3) == 0)
        t->kind = TOK_NOT;
    else {
        t->kind = TOK_WORD;
        t->start = i;
        t->end = j;
        if (j > i && s[j - 1] == '*') {
            while (t->end > i && s[t->end - 1] == '*')
                t->end--;
            t->prefix = t->end > i;
        } else if (j > i + 1 && s[j - 1] == '~') {
            t->end--;
            t->fuzzy = 1;
        }
    }
    return KZ_OK;
}

static tok *peek(parser *p)
{
    if (!p->have_cur) {
        if (lex(p, &p->cur))
            return NULL;
        p->have_cur = 1;
    }
    return &p->cur;
}

static void consume(parser *p) { p->have_cur = 0; }

static const char *tok_name(tok_kind k)
{
    switch (k) {
    case TOK_AND: return "AND";
    case TOK_OR: return "OR";
    case TOK_NOT: return "NOT";
    case TOK_PLUS: return "+";
    case TOK_MINUS: return "-";
    default: return "?";
    }
}

/* ------------------------------------------------------------- building */

typedef struct idvec {
    uint32_t *v;
    size_t n, cap;
} idvec;

static int idvec_push(idvec *iv, uint32_t id)
{
    if (iv->n == iv->cap) {
        size_t cap = iv->cap ? iv->cap * 2 : 8;
        uint32_t *v = realloc(iv->v, cap * sizeof *v);
        if (!v)
            return KZ_ENOMEM;
        iv->v = v;
        iv->cap = cap;
    }
    iv->v[iv->n++] = id;
    return KZ_OK;
}

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return KZ_OK;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *n = realloc(*v, c * size);
    if (!n)
        return KZ_ENOMEM;
    *v = n;
    *cap = c;
    return KZ_OK;
}

static uint64_t hash_bytes(const void *p, size_t len) { return XXH3_64bits(p, len); }

/* Grows an open-addressed table of (index + 1) slots to twice its size,
 * placing each entry again by rehash(entry). */
static int slots_grow(uint32_t **slots, size_t *cap, uint64_t (*rehash)(const kz_query *, uint32_t),
                      const kz_query *q)
{
    size_t ncap = *cap ? *cap * 2 : 64;
    uint32_t *n = calloc(ncap, sizeof *n);
    if (!n)
        return KZ_ENOMEM;
    for (size_t i = 0; i < *cap; i++) {
        uint32_t v = (*slots)[i];
        if (!v)
            continue;
        size_t j = (size_t)rehash(q, v - 1) & (ncap - 1);
        while (n[j])
            j = (j + 1) & (ncap - 1);
        n[j] = v;
    }
    free(*slots);
    *slots = n;
    *cap = ncap;
    return KZ_OK;
}

static uint64_t term_hash(const kz_query *q, uint32_t i) { return hash_bytes(q->terms[i].text, q->terms[i].len); }

/* A term's live df: the global statistics' when the query has them, else
 * the index's, recorded when gathering. locs (NULL: not wanted) gets where
 * the index's segments have it. */
static int term_df(parser *p, const char *text, size_t len, uint64_t *df, kz_term_loc *locs)
{
    uint64_t local = 0;
    int rc = !p->global || locs ? kz_index_live_df(p->q->ix, text, len, &local, locs) : KZ_OK;
    if (rc)
        return p->rc = rc;
    *df = p->global ? kz_stats_df(p->global, text, len) : local;
    if (p->record && local && kz_stats_record_term(p->record, text, len, local))
        return oom(p);
    return KZ_OK;
}

/* Whether the index may have a Cyrillic term starting as term does (a
 * filter): always, when gathering or with global statistics, so that
 * every machine looks every spelling up. */
static int may_have_cyrillic(parser *p, const char *term, size_t len, int *may)
{
    *may = 1;
    if (p->global || p->record)
        return KZ_OK;
    return kz_index_may_have_cyrillic(p->q->ix, term, len, may);
}

/* The index of term text in q->terms, added (and looked up) if new. */
static int intern_term(parser *p, const char *text, size_t len, uint32_t *out)
{
    kz_query *q = p->q;
    if ((q->n_terms + 1) * 2 > p->term_slots_cap &&
        slots_grow(&p->term_slots, &p->term_slots_cap, term_hash, q))
        return oom(p);
    size_t mask = p->term_slots_cap - 1, j = (size_t)hash_bytes(text, len) & mask;
    for (; p->term_slots[j]; j = (j + 1) & mask) {
        const kz_qterm *t = &q->terms[p->term_slots[j] - 1];
        if (t->len == len && memcmp(t->text, text, len) == 0) {
            *out = p->term_slots[j] - 1;
            return KZ_OK;
        }
    }
    if (grow((void **)&q->terms, &q->terms_cap, q->n_terms + 1, sizeof *q->terms))
        return oom(p);
    kz_qterm *t = &q->terms[q->n_terms];
    memset(t, 0, sizeof *t);
    if (!(t->text = malloc(len + 1)))
        return oom(p);
    memcpy(t->text, text, len);
    t->text[len] = 0;
    t->len = len;
    q->n_terms++;
    p->term_slots[j] = (uint32_t)q->n_terms;
    /* Its df among the live documents of every segment: a term only
     * deleted documents had is not in the index. */
    uint64_t df = 0;
    if (!(t->seg_loc = malloc(kz_index_segment_count(q->ix) * sizeof *t->seg_loc)))
        return oom(p);
    if (term_df(p, text, len, &df, t->seg_loc))
        return p->rc;
    t->found = df > 0;
    t->df = (uint32_t)df;
    *out = (uint32_t)(q->n_terms - 1);
    return KZ_OK;
}

static int new_node(parser *p, kz_qnode_kind kind, kz_occur occur, size_t at, uint32_t *out)
{
    kz_query *q = p->q;
    if (q->n_nodes >= KZ_QUERY_MAX_NODES) {
        p->rc = kz_error_set(KZ_ELIMIT, "query is too long: more than %u terms and groups",
                             (unsigned)KZ_QUERY_MAX_CLAUSES);
        return p->rc;
    }
    if (grow((void **)&q->nodes, &q->nodes_cap, q->n_nodes + 1, sizeof *q->nodes))
        return oom(p);
    kz_qnode *n = &q->nodes[q->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->occur = occur;
    n->column = node_column(p, at);
    *out = (uint32_t)q->n_nodes++;
    return KZ_OK;
}

/* A leaf over terms[first .. first+count) of leaf_terms. */
static int new_leaf(parser *p, const uint32_t *terms, size_t count, kz_occur occur, size_t at, uint32_t *out)
{
    kz_query *q = p->q;
    if (new_node(p, KZ_QNODE_LEAF, occur, at, out))
        return p->rc;
    if (grow((void **)&q->leaf_terms, &q->leaf_terms_cap, q->n_leaf_terms + count, sizeof *q->leaf_terms))
        return oom(p);
    kz_qnode *n = &q->nodes[*out];
    n->first = (uint32_t)q->n_leaf_terms;
    n->count = (uint32_t)count;
    if (count)
        memcpy(q->leaf_terms + q->n_leaf_terms, terms, count * sizeof *terms);
    q->n_leaf_terms += count;
    return KZ_OK;
}

/* A boolean node over the children in kids (moved into q->kids). */
static int new_bool(parser *p, const idvec *kids, kz_occur occur, size_t at, uint32_t *out)
{
    kz_query *q = p->q;
    if (new_node(p, KZ_QNODE_BOOL, occur, at, out))
        return p->rc;
    if (grow((void **)&q->kids, &q->kids_cap, q->n_kids + kids->n, sizeof *q->kids))
        return oom(p);
    kz_qnode *n = &q->nodes[*out];
    n->first = (uint32_t)q->n_kids;
    n->count = (uint32_t)kids->n;
    memcpy(q->kids + q->n_kids, kids->v, kids->n * sizeof *kids->v);
    q->n_kids += kids->n;
    n->filter = kids->n > 0;
    for (size_t i = 0; i < kids->n; i++)
        n->filter &= q->nodes[kids->v[i]].filter;
    return KZ_OK;
}

static int add_note(kz_query *q, const char *fmt, ...) KZ_PRINTF(2, 3);

static int add_note(kz_query *q, const char *fmt, ...)
{
    if (q->n_notes == KZ_QUERY_MAX_NOTES)
        return KZ_OK;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!(q->notes[q->n_notes] = strdup(msg)))
        return KZ_ENOMEM;
    q->n_notes++;
    return KZ_OK;
}

/* Analyses [start, end) of the query into p->tv (stems of p->stem). */
static int analyse(parser *p, kz_analyzer *a, size_t start, size_t end)
{
    p->tv.len = 0;
    int rc = kz_analyzer_run(a, p->s + start, end - start, &p->tv);
    if (rc)
        p->rc = rc;
    return rc;
}

/* A term a prefix expands to, from every segment's dictionary. */
typedef struct candidate {
    char *text;
    size_t len;
    uint64_t df; /* live, over every segment */
    size_t order; /* dictionary order */
} candidate;

static int cmp_by_df(const void *x, const void *y)
{
    const candidate *a = x, *b = y;
    if (a->df != b->df)
        return a->df > b->df ? -1 : 1;
    return a->order < b->order ? -1 : 1;
}

static int cmp_by_order(const void *x, const void *y)
{
    const candidate *a = x, *b = y;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Every term of the index that starts with prefix, in dictionary order,
 * each once with its live df: the segments' ranges merged. A term whose
 * documents were all deleted is left out, as a fresh index would not have
 * it. */
/* Which dictionary terms prefix_candidates takes (NULL: every one). */
typedef int (*term_filter)(void *ctx, const char *term, size_t len);

/* prefix_candidates from the global statistics: the terms every machine
 * listed for this prefix. */
static int global_candidates(parser *p, const char *prefix, size_t len, term_filter keep, void *keep_ctx,
                             candidate **out, size_t *n_out)
{
    size_t first, n = 0, count = kz_stats_prefix_range(p->global, prefix, len, &first);
    candidate *c = malloc((count ? count : 1) * sizeof *c);
    if (!c)
        return p->rc = oom(p);
    for (size_t i = 0; i < count; i++) {
        size_t tl;
        uint64_t df;
        const char *text = kz_stats_term_at(p->global, first + i, &tl, &df);
        if (df == 0 || (keep && !keep(keep_ctx, text, tl)))
            continue;
        if (!(c[n].text = malloc(tl + 1))) {
            for (size_t j = 0; j < n; j++)
                free(c[j].text);
            free(c);
            return p->rc = oom(p);
        }
        memcpy(c[n].text, text, tl);
        c[n].text[tl] = 0;
        c[n].len = tl;
        c[n].df = df;
        c[n].order = n;
        n++;
    }
    if (n == 0) { /* as prefix_candidates: no array for no candidates */
        free(c);
        c = NULL;
    }
    *out = c;
    *n_out = n;
    return KZ_OK;
}

static int prefix_candidates(parser *p, const char *prefix, size_t len, term_filter keep, void *keep_ctx,
                             candidate **out, size_t *n_out)
{
    if (p->global)
        return global_candidates(p, prefix, len, keep, keep_ctx, out, n_out);
    kz_index *ix = p->q->ix;
    size_t n_seg = kz_index_segment_count(ix), n = 0, cap = 0;
    uint32_t *at = calloc(n_seg, sizeof *at), *end = calloc(n_seg, sizeof *end);
    kz_term_cursor *head = calloc(n_seg, sizeof *head); /* each segment's next term of the prefix, in head[s].t */
    candidate *c = NULL;
    int rc = KZ_OK;
    *out = NULL;
    *n_out = 0;
    if (!at || !end || !head) {
        rc = KZ_ENOMEM;
        goto done;
    }
    for (size_t s = 0; s < n_seg; s++) {
        uint32_t first, count;
        if ((rc = kz_segment_term_prefix(kz_index_segment(ix, s), &first, &count, prefix, len)))
            goto done;
        at[s] = first;
        end[s] = first + count;
        if (count && (rc = kz_segment_cursor_at(kz_index_segment(ix, s), &head[s], first)) == KZ_OK)
            rc = kz_segment_cursor_next(kz_index_segment(ix, s), &head[s]);
        if (rc)
            goto done;
    }
    for (;;) {
        /* The smallest head, and every segment that has it. */
        size_t least = n_seg;
        for (size_t s = 0; s < n_seg; s++)
            if (at[s] < end[s] && (least == n_seg || kz_bytes_cmp(head[s].t.text, head[s].t.len, head[least].t.text,
                                                                   head[least].t.len) < 0))
                least = s;
        if (least == n_seg)
            break;
        kz_term t = head[least].t;
        uint64_t df = 0;
        if ((!keep || keep(keep_ctx, t.text, t.len)) && (rc = term_df(p, t.text, t.len, &df, NULL)))
            goto done;
        if (df > 0) {
            if (n == cap) {
                size_t new_cap = cap ? 2 * cap : 64;
                candidate *g = realloc(c, new_cap * sizeof *g);
                if (!g) {
                    rc = KZ_ENOMEM;
                    goto done;
                }
                c = g;
                cap = new_cap;
            }
            if (!(c[n].text = malloc(t.len + 1))) {
                rc = KZ_ENOMEM;
                goto done;
            }
            memcpy(c[n].text, t.text, t.len);
            c[n].text[t.len] = 0;
            c[n].len = t.len;
            c[n].df = df;
            c[n].order = n;
            n++;
        }
        for (size_t s = 0; s < n_seg; s++) {
            if (at[s] < end[s] && kz_bytes_cmp(head[s].t.text, head[s].t.len, t.text, t.len) == 0 && s != least) {
                if (++at[s] < end[s] && (rc = kz_segment_cursor_next(kz_index_segment(ix, s), &head[s])))
                    goto done;
            }
        }
        if (++at[least] < end[least] && (rc = kz_segment_cursor_next(kz_index_segment(ix, least), &head[least])))
            goto done;
    }
done:
    free(at);
    free(end);
    free(head);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(c[i].text);
        free(c);
        return p->rc = rc == KZ_ENOMEM ? oom(p) : rc;
    }
    *out = c;
    *n_out = n;
    return KZ_OK;
}

/* The clause of the terms cand[0..n) (n >= 1): one term's leaf, or a group
 * of SHOULD leaves, each a term scored as such; pushed on out. */
static int candidates_clause(parser *p, const candidate *cand, size_t n, kz_occur occur, size_t at, idvec *out)
{
    idvec kids = { 0 };
    uint32_t node;
    int rc = KZ_OK;
    for (size_t i = 0; i < n && rc == KZ_OK; i++) {
        uint32_t t;
        if (intern_term(p, cand[i].text, cand[i].len, &t) ||
            new_leaf(p, &t, 1, n == 1 ? occur : KZ_OCCUR_SHOULD, at, &node) || idvec_push(&kids, node))
            rc = p->rc ? p->rc : oom(p);
    }
    if (rc == KZ_OK &&
        (n == 1 ? idvec_push(out, kids.v[0]) : (new_bool(p, &kids, occur, at, &node) || idvec_push(out, node))))
        rc = p->rc ? p->rc : oom(p);
    free(kids.v);
    return rc;
}

/* Adds the term stem[0..len) to the candidates cand[0..*count) (in
 * dictionary order, as prefix_candidates gives them) when the index has it
 * and they lack it, in its place. */
static int add_stem_candidate(parser *p, const char *stem, size_t len, candidate **cand, size_t *count)
{
    uint64_t df = 0;
    int rc = term_df(p, stem, len, &df, NULL);
    if (rc || df == 0)
        return rc;
    size_t at = 0;
    while (at < *count && kz_bytes_cmp((*cand)[at].text, (*cand)[at].len, stem, len) < 0)
        at++;
    if (at < *count && kz_bytes_cmp((*cand)[at].text, (*cand)[at].len, stem, len) == 0)
        return KZ_OK;
    candidate *c = realloc(*cand, (*count + 1) * sizeof *c);
    if (!c)
        return oom(p);
    *cand = c;
    memmove(c + at + 1, c + at, (*count - at) * sizeof *c);
    if (!(c[at].text = strndup(stem, len))) {
        memmove(c + at, c + at + 1, (*count - at) * sizeof *c);
        return oom(p);
    }
    c[at].len = len;
    c[at].df = df;
    (*count)++;
    for (size_t i = 0; i < *count; i++)
        c[i].order = i;
    return KZ_OK;
}

/* The prefix's expansion: a node of SHOULD terms (or one term): the terms
 * that start with the folded prefix, and the stem of the word as typed
 * (README "Query language": immune* finds immunity through immun). stem
 * may be NULL. */
static int expand_prefix(parser *p, const char *prefix, size_t len, const char *stem, size_t stem_len,
                         kz_occur occur, size_t at, idvec *out)
{
    kz_query *q = p->q;
    candidate *cand = NULL;
    size_t count = 0;
    uint32_t node;
    if (prefix_candidates(p, prefix, len, NULL, NULL, &cand, &count))
        return p->rc;
    if (stem && add_stem_candidate(p, stem, stem_len, &cand, &count))
        goto fail;
    if (count == 0) {
        /* Nothing starts with it: a leaf of no terms, which matches
         * nothing and scores nothing. */
        if (new_leaf(p, NULL, 0, occur, at, &node) || idvec_push(out, node))
            goto fail;
        return KZ_OK;
    }
    size_t keep = KZ_MIN(count, (size_t)KZ_PREFIX_MAX_TERMS);
    if (count > keep) {
        /* The most frequent, then back to dictionary order. */
        qsort(cand, count, sizeof *cand, cmp_by_df);
        qsort(cand, keep, sizeof *cand, cmp_by_order);
        if (add_note(q, "%.*s* matches %zu terms; searching the %zu most frequent", (int)len, prefix, count, keep))
            goto fail;
    }
    int rc = candidates_clause(p, cand, keep, occur, at, out);
    for (size_t i = 0; i < count; i++)
        free(cand[i].text);
    free(cand);
    return rc;
fail:
    for (size_t i = 0; i < count; i++)
        free(cand[i].text);
    free(cand);
    return p->rc ? p->rc : oom(p);
}

/* The spellings of a word in the other script that the index has, as
 * terms other than the word's own (kz_translit). */
#define MAX_VARIANTS 32
#define MAX_TRIED 128
typedef struct variants {
    parser *p;
    const char *own;
    size_t own_len;
    char *term[MAX_VARIANTS], *spelled[MAX_VARIANTS];
    size_t n;
    /* Gathering (stats.c): every spelling looked up, found here or not,
     * since the whole index may have one this index lacks and then go on
     * to its spellings. */
    char *tried[MAX_TRIED];
    size_t n_tried;
} variants;

/* Adds term (spelled s) to v when the index has it and v lacks it. */
static int add_variant(variants *v, const char *term, size_t tl, const char *s, size_t len)
{
    parser *p = v->p;
    int rc = KZ_OK;
    if (tl == v->own_len && memcmp(term, v->own, tl) == 0)
        return KZ_OK;
    for (size_t i = 0; i < v->n; i++)
        if (strlen(v->term[i]) == tl && memcmp(v->term[i], term, tl) == 0)
            return KZ_OK;
    uint64_t df = 0;
    int may = 1;
    if (v->n == MAX_VARIANTS || (rc = may_have_cyrillic(p, term, tl, &may)) || !may ||
        (rc = term_df(p, term, tl, &df, NULL)) || df == 0)
        return rc;
    if (!(v->term[v->n] = strndup(term, tl)) || !(v->spelled[v->n] = strndup(s, len))) {
        free(v->term[v->n]);
        return KZ_ENOMEM;
    }
    v->n++;
    return KZ_OK;
}

static int take_variant(void *ctx, const char *s, size_t len)
{
    variants *v = ctx;
    parser *p = v->p;
    int may = 1;
    if (p->record && v->n_tried < MAX_TRIED && !(v->tried[v->n_tried] = strndup(s, len)))
        return KZ_ENOMEM;
    if (p->record && v->n_tried < MAX_TRIED)
        v->n_tried++;
    /* A Cyrillic spelling whose first two letters no term starts with is
     * not analysed: its stem would start with them too. */
    int rc = may_have_cyrillic(p, s, len, &may);
    if (rc || !may)
        return rc;
    p->tv_variant.len = 0;
    rc = kz_analyzer_run(p->stem, s, len, &p->tv_variant);
    if (rc || p->tv_variant.len != 1)
        return rc;
    size_t tl;
    const char *term = kz_analyzer_term(p->stem, p->tv_variant.v[0].term, &tl);
    return add_variant(v, term, tl, s, len);
}

/* The terms within a few edits of a word (word~, README "Spelling
 * variants"): those of the same first letter, at most kz_fuzzy_edits
 * insertions, deletions or substitutions of code points away. */
typedef struct near_word {
    uint32_t cp[KZ_MAX_TOKEN_CODEPOINTS];
    size_t n;
    unsigned edits;
} near_word;

/* Reads stem into *w with the edits its length allows; returns the bytes
 * of its first letter (the prefix its near terms share), 0 when it cannot
 * be read. */
static size_t near_word_of(near_word *w, const char *stem, size_t len)
{
    w->n = kz_utf8_decode_all(stem, len, w->cp, KZ_MAX_TOKEN_CODEPOINTS);
    if (w->n == SIZE_MAX || w->n == 0)
        return 0;
    w->edits = kz_fuzzy_edits(w->n);
    size_t first = 1;
    while (first < len && ((unsigned char)stem[first] & 0xC0) == 0x80)
        first++;
    return first;
}

static int is_near(void *ctx, const char *term, size_t len)
{
    const near_word *w = ctx;
    uint32_t cp[KZ_MAX_TOKEN_CODEPOINTS];
    size_t n = kz_utf8_decode_all(term, len, cp, KZ_MAX_TOKEN_CODEPOINTS);
    return n != SIZE_MAX && kz_edit_distance(w->cp, w->n, cp, n, w->edits) <= w->edits;
}

/* KZ_QUERY_SUGGEST: when the index lacks stem, the word [start, end) of
 * the query is replaced in p->suggestion by the nearest term it has (the
 * fewest edits, then the most documents). */
static int suggest_word(parser *p, size_t start, size_t end, const char *stem, size_t len)
{
    uint64_t df = 0;
    int rc = term_df(p, stem, len, &df, NULL);
    if (rc || df > 0)
        return rc;
    near_word w;
    size_t first = near_word_of(&w, stem, len);
    if (!first || w.n < 3)
        return KZ_OK;
    candidate *cand = NULL;
    size_t count = 0, best = SIZE_MAX;
    unsigned best_d = w.edits + 1;
    if (prefix_candidates(p, stem, first, is_near, &w, &cand, &count))
        return p->rc;
    for (size_t i = 0; i < count; i++) {
        if (!cand[i].df)
            continue;
        uint32_t cp[KZ_MAX_TOKEN_CODEPOINTS];
        size_t n = kz_utf8_decode_all(cand[i].text, cand[i].len, cp, KZ_MAX_TOKEN_CODEPOINTS);
        unsigned d = kz_edit_distance(w.cp, w.n, cp, n, w.edits);
        if (d < best_d || (d == best_d && best != SIZE_MAX && cand[i].df > cand[best].df)) {
            best_d = d;
            best = i;
        }
    }
    if (best != SIZE_MAX && start >= p->suggested_to) {
        rc = kz_buf_append(&p->suggestion, p->s + p->suggested_to, start - p->suggested_to);
        if (rc == KZ_OK)
            rc = kz_buf_append(&p->suggestion, cand[best].text, cand[best].len);
        p->suggested_to = end;
        p->suggested = 1;
    }
    for (size_t i = 0; i < count; i++)
        free(cand[i].text);
    free(cand);
    return rc ? (p->rc = oom(p)) : KZ_OK;
}

/* The entries of the synonym groups of a word's term (kz_index_set_synonyms). */
#define MAX_SYNONYMS 32
typedef struct synonyms_of {
    const char *const *terms[MAX_SYNONYMS];
    size_t n_terms[MAX_SYNONYMS];
    const char *text[MAX_SYNONYMS];
    size_t n;
} synonyms_of;

static void find_synonyms(const kz_synonym_table *t, const char *stem, size_t len, synonyms_of *out)
{
    uint32_t groups[8];
    size_t ng = kz_synonym_groups_of(t, stem, len, groups, 8);
    out->n = 0;
    for (size_t g = 0; g < ng; g++)
        for (size_t i = 0; i < kz_synonym_group_size(t, groups[g]) && out->n < MAX_SYNONYMS; i++) {
            const char *const *terms;
            size_t n_terms;
            const char *text = kz_synonym_entry(t, groups[g], i, &terms, &n_terms);
            if (n_terms == 1 && strlen(terms[0]) == len && memcmp(terms[0], stem, len) == 0)
                continue; /* the word itself */
            out->terms[out->n] = terms;
            out->n_terms[out->n] = n_terms;
            out->text[out->n++] = text;
        }
}

/* The clause of the word [start, end) of the query, whose term is
 * stem[0..len): its leaf, or, when the index has its spellings in the
 * other script or it has synonyms, a group of its leaf and theirs, each
 * scored as a term (a phrase for a synonym of several words). */
static int word_variants(parser *p, size_t start, size_t end, const char *stem, size_t len, kz_occur occur,
                         uint32_t *node)
{
    int rc = KZ_OK;
    uint32_t term;
    variants v = { p, stem, len, { 0 }, { 0 }, 0, { 0 }, 0 };
    synonyms_of syn = { { 0 }, { 0 }, { 0 }, 0 };
    idvec kids = { 0 };
    uint8_t *word = NULL;
    if (p->suggest && (rc = suggest_word(p, start, end, stem, len)))
        return rc;
    if (kz_index_synonyms(p->q->ix))
        find_synonyms(kz_index_synonyms(p->q->ix), stem, len, &syn);
    if (p->variants == 0) {
        int has = 1; /* gathering: every machine looks the spellings up */
        if (p->global)
            has = kz_stats_has_cyrillic(p->global);
        else if (!p->record && (rc = kz_index_has_cyrillic(p->q->ix, &has)))
            return p->rc = rc;
        p->variants = has ? 1 : -1;
    }
    if (p->variants > 0) {
        /* As written, case-folded: the schemes need й and ä. */
        utf8proc_ssize_t n = utf8proc_map((const uint8_t *)p->s + start, (utf8proc_ssize_t)(end - start), &word,
                                          UTF8PROC_CASEFOLD | UTF8PROC_COMPOSE | UTF8PROC_STABLE);
        if (n < 0) {
            word = NULL;
            rc = n == UTF8PROC_ERROR_NOMEM ? KZ_ENOMEM : KZ_OK;
        } else {
            rc = kz_translit((const char *)word, (size_t)n, take_variant, &v);
        }
        /* A word of the Russian alphabet as a Kazakh or Ukrainian document
         * has it: unstemmed (README "Analysis"). */
        if (rc == KZ_OK && (unsigned char)p->s[start] >= 0xD0 && (unsigned char)p->s[start] <= 0xD4) {
            p->tv_variant.len = 0;
            if ((rc = kz_analyzer_run(p->fold, p->s + start, end - start, &p->tv_variant)) == KZ_OK &&
                p->tv_variant.len == 1) {
                size_t fl;
                const char *folded = kz_analyzer_term(p->fold, p->tv_variant.v[0].term, &fl);
                rc = add_variant(&v, folded, fl, folded, fl);
                if (rc == KZ_OK && p->record && v.n_tried < MAX_TRIED && !(v.tried[v.n_tried++] = strndup(folded, fl)))
                    rc = KZ_ENOMEM;
            }
        }
        /* The spellings found give theirs: Tokayev finds Токаев, which
         * finds Tokaev. Gathering, every spelling tried gives its own: the
         * whole index may have Токаев where this one does not. */
        for (size_t i = 0, found = v.n; rc == KZ_OK && i < found && !p->record; i++)
            rc = kz_translit(v.spelled[i], strlen(v.spelled[i]), take_variant, &v);
        for (size_t i = 0, tried = v.n_tried; rc == KZ_OK && i < tried && p->record; i++)
            rc = kz_translit(v.tried[i], strlen(v.tried[i]), take_variant, &v);
        if (rc) {
            p->rc = rc == KZ_ENOMEM ? kz_error_set(KZ_ENOMEM, "out of memory parsing a query") : rc;
            goto done;
        }
    }
    if (v.n == 0 && syn.n == 0) {
        if (intern_term(p, stem, len, &term) || new_leaf(p, &term, 1, occur, start, node))
            rc = p->rc ? p->rc : oom(p);
        goto done;
    }
    kz_buf also = { 0 };
    for (size_t i = 0; i < syn.n && rc == KZ_OK; i++) {
        uint32_t terms[3], leaf;
        for (size_t j = 0; j < syn.n_terms[i] && rc == KZ_OK; j++)
            if (intern_term(p, syn.terms[i][j], strlen(syn.terms[i][j]), &terms[j]))
                rc = p->rc ? p->rc : oom(p);
        if (rc == KZ_OK && (new_leaf(p, terms, syn.n_terms[i], KZ_OCCUR_SHOULD, start, &leaf) ||
                            idvec_push(&kids, leaf)))
            rc = p->rc ? p->rc : oom(p);
        if (rc == KZ_OK)
            rc = kz_buf_printf(&also, "%s%s", i ? ", " : "", syn.text[i]);
    }
    for (size_t i = 0; i <= v.n && rc == KZ_OK; i++) {
        const char *t = i ? v.term[i - 1] : stem;
        uint32_t leaf;
        if (intern_term(p, t, i ? strlen(t) : len, &term) || new_leaf(p, &term, 1, KZ_OCCUR_SHOULD, start, &leaf) ||
            idvec_push(&kids, leaf))
            rc = p->rc ? p->rc : oom(p);
        if (i && rc == KZ_OK)
            rc = kz_buf_printf(&also, "%s%s", i > 1 || syn.n ? ", " : "", v.spelled[i - 1]);
    }
    if (rc == KZ_OK && (new_bool(p, &kids, occur, start, node) ||
                        add_note(p->q, "also searched: %.*s (%.*s)", (int)KZ_MIN(end - start, (size_t)64),
                                 p->s + start, (int)KZ_MIN(also.len, (size_t)200), (const char *)also.data)))
        rc = p->rc ? p->rc : oom(p);
    kz_buf_free(&also);
done:
    for (size_t i = 0; i < v.n; i++) {
        free(v.term[i]);
        free(v.spelled[i]);
    }
    for (size_t i = 0; i < v.n_tried; i++)
        free(v.tried[i]);
    free(kids.v);
    free(word);
    return rc;
}

static int expand_fuzzy(parser *p, const char *stem, size_t len, kz_occur occur, size_t at, idvec *out)
{
    kz_query *q = p->q;
    candidate *cand = NULL;
    size_t count = 0;
    uint32_t node;
    near_word w;
    size_t first = near_word_of(&w, stem, len);
    if (!first)
        return p->rc = kz_error_set(KZ_EINVAL, "cannot read a query word");
    if (prefix_candidates(p, stem, first, is_near, &w, &cand, &count))
        return p->rc;
    size_t n = 0;
    for (size_t i = 0; i < count; i++) /* those the filter kept */
        if (cand[i].df > 0)
            cand[n++] = cand[i];
        else
            free(cand[i].text);
    size_t keep = KZ_MIN(n, (size_t)KZ_FUZZY_MAX_TERMS);
    kz_buf also = { 0 };
    if (n == 0) {
        /* Nothing near: the word itself (which matches nothing). */
        uint32_t t;
        if (intern_term(p, stem, len, &t) || new_leaf(p, &t, 1, occur, at, &node) || idvec_push(out, node))
            goto fail;
        goto done;
    }
    qsort(cand, n, sizeof *cand, cmp_by_df);
    for (size_t i = 0; i < keep && i < 8; i++)
        if (kz_buf_printf(&also, "%s%s", i ? ", " : "", cand[i].text))
            goto fail;
    if (candidates_clause(p, cand, keep, occur, at, out))
        goto fail;
    if (add_note(q, "%.*s~ matches %zu term%s%s: %.*s%s", (int)KZ_MIN(len, (size_t)64), stem, n, n == 1 ? "" : "s",
                 n > keep ? " (the most frequent searched)" : "", (int)KZ_MIN(also.len, (size_t)200),
                 (const char *)also.data, n > 8 ? ", ..." : ""))
        goto fail;
done:
    for (size_t i = 0; i < n; i++)
        free(cand[i].text);
    free(cand);
    kz_buf_free(&also);
    return KZ_OK;
fail:
    for (size_t i = 0; i < n; i++)
        free(cand[i].text);
    free(cand);
    kz_buf_free(&also);
    return p->rc ? p->rc : oom(p);
}

/* A word: one clause per term; the last one a prefix if the word ends in *,
 * or near words if it ends in ~. */
static int word_clauses(parser *p, const tok *t, kz_occur occur, idvec *out)
{
    if (analyse(p, p->stem, t->start, t->end))
        return p->rc;
    size_t n = p->tv.len;
    if (n == 0)
        return KZ_OK;
    /* Copy the spans: a prefix re-analyses into p->tv. */
    size_t last_start = t->start + p->tv.v[n - 1].start, last_end = t->start + p->tv.v[n - 1].end;
    size_t plain = t->prefix || t->fuzzy ? n - 1 : n;
    for (size_t i = 0; i < plain; i++) {
        size_t len;
        const char *stem = kz_analyzer_term(p->stem, p->tv.v[i].term, &len);
        uint32_t node;
        if (word_variants(p, t->start + p->tv.v[i].start, t->start + p->tv.v[i].end, stem, len, occur, &node) ||
            idvec_push(out, node))
            return p->rc ? p->rc : oom(p);
    }
    if (t->fuzzy) {
        size_t len;
        const char *stem = kz_analyzer_term(p->stem, p->tv.v[n - 1].term, &len);
        return expand_fuzzy(p, stem, len, occur, last_start, out);
    }
    if (!t->prefix)
        return KZ_OK;
    size_t stem_len;
    const char *stem = kz_analyzer_term(p->stem, p->tv.v[n - 1].term, &stem_len);
    if (analyse(p, p->fold, last_start, last_end))
        return p->rc;
    if (p->tv.len == 0)
        return KZ_OK;
    size_t len;
    const char *folded = kz_analyzer_term(p->fold, p->tv.v[0].term, &len);
    return expand_prefix(p, folded, len, stem, stem_len, occur, last_start, out);
}

/* A quote: a phrase of its terms, a term if it has one, nothing if none. */
static int quote_clause(parser *p, const tok *t, kz_occur occur, idvec *out)
{
    if (analyse(p, p->stem, t->start, t->end))
        return p->rc;
    size_t n = p->tv.len;
    if (n == 0)
        return KZ_OK;
    if (n > KZ_QUERY_MAX_CLAUSES)
        return p->rc = kz_error_set(KZ_ELIMIT, "phrase is too long: more than %u terms",
                                    (unsigned)KZ_QUERY_MAX_CLAUSES);
    uint32_t *terms = malloc(n * sizeof *terms), node;
    if (!terms)
        return oom(p);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *stem = kz_analyzer_term(p->stem, p->tv.v[i].term, &len);
        if (intern_term(p, stem, len, &terms[i])) {
            free(terms);
            return p->rc ? p->rc : oom(p);
        }
    }
    int rc = new_leaf(p, terms, n, occur, t->at, &node);
    free(terms);
    if (rc || idvec_push(out, node))
        return p->rc ? p->rc : oom(p);
    return KZ_OK;
}

/* ------------------------------------------------------------- fields */

/* A filter leaf of the given terms (none: it matches nothing). */
static int filter_leaf(parser *p, const uint32_t *terms, size_t count, kz_occur occur, size_t at, idvec *out)
{
    uint32_t node;
    if (new_leaf(p, terms, count, occur, at, &node) || idvec_push(out, node))
        return p->rc ? p->rc : oom(p);
    p->q->nodes[node].filter = 1;
    return KZ_OK;
}

/* The year of a year term whose prefix is n bytes long, in 1 .. 9999 (a
 * crafted index or global statistics may hold anything there). */
static int term_year(const kz_term *t, size_t n)
{
    int year = 0;
    for (size_t i = n; i < t->len && i < n + 5 && t->text[i] >= '0' && t->text[i] <= '9'; i++)
        year = year * 10 + (t->text[i] - '0');
    return KZ_MIN(KZ_MAX(year, 1), 9999);
}

/* Whether the index has a term that starts with 0x01 name 0x1F kind (kind
 * 0: any), and, for dates, the years it spans. */
static int field_has(parser *p, const char *name, size_t len, char kind, int *lo_year, int *hi_year, int *has)
{
    char prefix[KZ_FIELD_PREFIX_MAX];
    char k[3] = { kind, kind == KZ_FIELD_DATE ? KZ_DATE_TERM_YEAR : 0, 0 };
    size_t n = kz_field_prefix(prefix, name, len, k);
    uint64_t count;
    kz_term *lo = NULL, *hi = NULL;
    if (lo_year && (!(lo = malloc(sizeof *lo)) || !(hi = malloc(sizeof *hi)))) {
        free(lo);
        return oom(p);
    }
    int rc = kz_stats_extent(p->q->ix, p->global, p->record, prefix, n, &count, lo, hi);
    if (rc == KZ_OK && lo_year && count) {
        *lo_year = term_year(lo, n);
        *hi_year = term_year(hi, n);
    }
    free(lo);
    free(hi);
    if (rc)
        return p->rc = rc;
    *has = count > 0;
    return KZ_OK;
}

/* A filter that matches the documents having any of terms: a leaf of the
 * one term (or of none), or a group of a leaf a term. */
static int filter_any(parser *p, const idvec *terms, kz_occur occur, size_t at, idvec *out)
{
    if (terms->n <= 1)
        return filter_leaf(p, terms->v, terms->n, occur, at, out);
    idvec alts = { 0 };
    int rc = KZ_OK;
    for (size_t i = 0; i < terms->n && rc == KZ_OK; i++)
        rc = filter_leaf(p, &terms->v[i], 1, KZ_OCCUR_SHOULD, at, &alts);
    uint32_t node;
    if (rc == KZ_OK && !(rc = new_bool(p, &alts, occur, at, &node)) && idvec_push(out, node))
        rc = oom(p);
    free(alts.v);
    return rc;
}

/* One end of a date range in a query: YYYY, YYYY-MM, YYYY-MM-DD (or any
 * date date.c reads, taken as its day): the first and the last day it
 * covers, as days since 1970-01-01. */
static int query_date(const char *s, size_t len, int64_t *first, int64_t *last)
{
    if (len == 4 && s[0] >= '0' && s[0] <= '9') {
        int y = 0;
        for (size_t i = 0; i < 4; i++) {
            if (s[i] < '0' || s[i] > '9')
                return -1;
            y = y * 10 + (s[i] - '0');
        }
        if (y < 1)
            return -1;
        *first = kz_days_from_civil(y, 1, 1);
        *last = kz_days_from_civil(y, 12, 31);
        return 0;
    }
    kz_date d;
    if (kz_date_parse(s, len, &d) != 0)
        return -1;
    int64_t day = kz_days_from_civil(d.year, d.month, d.precision == KZ_DATE_MONTH ? 1 : d.day);
    *first = day;
    if (d.precision == KZ_DATE_MONTH) {
        unsigned m = d.month % 12 + 1;
        *last = kz_days_from_civil(d.month == 12 ? d.year + 1 : d.year, m, 1) - 1;
    } else {
        *last = day;
    }
    return 0;
}

/* The date terms whose union is the days [from, to]: whole years, then
 * whole months, then days. At most 11,000 or so for the widest range. */
static int date_range_terms(parser *p, const char *name, size_t nlen, int64_t from, int64_t to, idvec *terms)
{
    char term[KZ_TERM_MAX_BYTES];
    size_t len;
    while (from <= to) {
        int y;
        unsigned m, d;
        kz_civil_from_days(from, &y, &m, &d);
        int64_t year_end = kz_days_from_civil(y, 12, 31);
        int64_t month_end = kz_days_from_civil(m == 12 ? y + 1 : y, m % 12 + 1, 1) - 1;
        char level;
        int64_t next;
        if (m == 1 && d == 1 && year_end <= to) {
            level = KZ_DATE_TERM_YEAR;
            next = year_end + 1;
        } else if (d == 1 && month_end <= to) {
            level = KZ_DATE_TERM_MONTH;
            next = month_end + 1;
        } else {
            level = KZ_DATE_TERM_DAY;
            next = from + 1;
        }
        uint32_t t;
        if (kz_field_date_term(term, &len, name, nlen, level, y, m, d) == 0) {
            if (intern_term(p, term, len, &t) || idvec_push(terms, t))
                return p->rc ? p->rc : oom(p);
        }
        from = next;
    }
    return KZ_OK;
}

/* A date clause: name OP value, OP one of ':' (a date or a range A..B,
 * either end open) '>=' '>' '<=' '<'. */
static int date_clause(parser *p, const char *name, size_t nlen, const char *op, size_t vat, size_t vend,
                       int lo_year, int hi_year, kz_occur occur, size_t at, idvec *out)
{
    const char *v = p->s + vat;
    size_t vlen = vend - vat;
    int64_t lo = kz_days_from_civil(lo_year, 1, 1), hi = kz_days_from_civil(hi_year, 12, 31), first, last;
    int64_t from = lo, to = hi;
    const char *dots = NULL;
    for (size_t i = 0; op[0] == ':' && i + 1 < vlen; i++)
        if (v[i] == '.' && v[i + 1] == '.') {
            dots = v + i;
            break;
        }
    if (dots) {
        size_t a = (size_t)(dots - v), b = vlen - a - 2;
        if (a == 0 && b == 0)
            return field_syntax_error(p, vat, "a range needs a date on at least one side of '..'");
        if (a && query_date(v, a, &first, &last) != 0)
            return field_syntax_error(p, vat, "not a date: expected YYYY, YYYY-MM or YYYY-MM-DD");
        if (a)
            from = first;
        if (b && query_date(dots + 2, b, &first, &last) != 0)
            return field_syntax_error(p, vat + a + 2, "not a date: expected YYYY, YYYY-MM or YYYY-MM-DD");
        if (b)
            to = last;
    } else {
        if (query_date(v, vlen, &first, &last) != 0)
            return field_syntax_error(p, vat, "not a date: expected YYYY, YYYY-MM or YYYY-MM-DD, or a range A..B");
        if (op[0] == ':')
            from = first, to = last;
        else if (op[0] == '>' && op[1] == '=')
            from = first;
        else if (op[0] == '>')
            from = last + 1;
        else if (op[0] == '<' && op[1] == '=')
            to = last;
        else
            to = first - 1;
    }
    /* Only the years the index has: a hostile 0001..9999 costs no more. */
    from = KZ_MAX(from, lo);
    to = KZ_MIN(to, hi);
    idvec terms = { 0 };
    int rc = date_range_terms(p, name, nlen, from, to, &terms);
    if (rc == KZ_OK)
        rc = filter_any(p, &terms, occur, at, out);
    free(terms.v);
    return rc;
}

/* Whether the index has number terms in the field, and the keys of its
 * least and greatest numbers. */
static int field_numbers(parser *p, const char *name, size_t len, uint64_t *lo_key, uint64_t *hi_key, int *has)
{
    char prefix[KZ_FIELD_PREFIX_MAX];
    size_t n = kz_field_prefix(prefix, name, len, KZ_NUMBER_FULL_KIND);
    uint64_t count;
    kz_term *lo = malloc(sizeof *lo), *hi = malloc(sizeof *hi);
    int rc = lo && hi ? kz_stats_extent(p->q->ix, p->global, p->record, prefix, n, &count, lo, hi) : oom(p);
    if (rc == KZ_OK && count) {
        /* An unreadable end bounds nothing. */
        if (kz_field_term_key(lo_key, lo->text + n, lo->len - n) != 0)
            *lo_key = 0;
        if (kz_field_term_key(hi_key, hi->text + n, hi->len - n) != 0)
            *hi_key = UINT64_MAX;
    }
    free(lo);
    free(hi);
    if (rc)
        return p->rc = rc;
    *has = count > 0;
    return KZ_OK;
}

/* Whether a field value is meant as a number: one, or a range A..B of them
 * (either end may be left out). */
static int number_like(const char *v, size_t len)
{
    uint64_t key;
    for (size_t i = 0; i + 1 < len; i++)
        if (v[i] == '.' && v[i + 1] == '.')
            return (i == 0 || kz_field_number_key(&key, v, i) == 0) &&
                   (i + 2 == len || kz_field_number_key(&key, v + i + 2, len - i - 2) == 0) && len > 2;
    return kz_field_number_key(&key, v, len) == 0;
}

/* Adds the number terms of units lo .. hi at a level (digits) to terms,
 * those the index has. */
static int number_level_terms(parser *p, const char *name, size_t nlen, unsigned digits, uint64_t lo, uint64_t hi,
                              idvec *terms)
{
    char term[KZ_TERM_MAX_BYTES];
    size_t len;
    unsigned shift = 64 - 4 * digits;
    for (uint64_t u = lo;; u++) {
        uint32_t t;
        if (kz_field_number_term(term, &len, name, nlen, shift == 64 ? 0 : u << shift, digits) == 0) {
            if (intern_term(p, term, len, &t))
                return p->rc ? p->rc : oom(p);
            if (p->q->terms[t].found && idvec_push(terms, t))
                return oom(p);
        }
        if (u == hi)
            return KZ_OK;
    }
}

/* The number terms whose union is the keys [lo, hi] (FORMAT.md "Field
 * terms"): at each level from the finest, the units at either end that do
 * not fill a unit of the level above; what is left, one level up. At most
 * 15 terms a level at each end, 16 at the last. */
static int number_range_terms(parser *p, const char *name, size_t nlen, uint64_t lo, uint64_t hi, idvec *terms)
{
    uint64_t l = lo, h = hi;
    for (unsigned digits = KZ_NUMBER_LEVELS;; digits--) {
        if (digits > 1 && (l & 15) == 0 && (h & 15) == 15) {
            l >>= 4; /* whole units of the level above */
            h >>= 4;
            continue;
        }
        if (digits == 1 || l >> 4 == h >> 4)
            return number_level_terms(p, name, nlen, digits, l, h, terms);
        /* l and h under different units of the level above. */
        if (l & 15) {
            if (number_level_terms(p, name, nlen, digits, l, l | 15, terms))
                return p->rc;
            l = (l | 15) + 1;
        }
        if ((h & 15) != 15) {
            if (number_level_terms(p, name, nlen, digits, h & ~(uint64_t)15, h, terms))
                return p->rc;
            h = (h & ~(uint64_t)15) - 1;
        }
        if (l > h)
            return KZ_OK;
        l >>= 4;
        h >>= 4;
    }
}

/* A number clause: name OP value, OP one of ':' (a number or a range A..B,
 * either end open) '>=' '>' '<=' '<'; lo_key .. hi_key the field's least
 * and greatest numbers, beyond which no term is sought. */
static int number_clause(parser *p, const char *name, size_t nlen, const char *op, size_t vat, size_t vend,
                         uint64_t lo_key, uint64_t hi_key, kz_occur occur, size_t at, idvec *out)
{
    const char *v = p->s + vat;
    size_t vlen = vend - vat;
    uint64_t from = 0, to = UINT64_MAX, key;
    const char *dots = NULL;
    for (size_t i = 0; op[0] == ':' && i + 1 < vlen; i++)
        if (v[i] == '.' && v[i + 1] == '.') {
            dots = v + i;
            break;
        }
    int empty = 0;
    if (dots) {
        size_t a = (size_t)(dots - v), b = vlen - a - 2;
        if (a == 0 && b == 0)
            return field_syntax_error(p, vat, "a range needs a number on at least one side of '..'");
        if (a && kz_field_number_key(&from, v, a) != 0)
            return field_syntax_error(p, vat, "not a number");
        if (b && kz_field_number_key(&to, dots + 2, b) != 0)
            return field_syntax_error(p, vat + a + 2, "not a number");
    } else {
        if (kz_field_number_key(&key, v, vlen) != 0)
            return field_syntax_error(p, vat, "not a number, nor a range A..B of them");
        if (op[0] == ':')
            from = to = key;
        else if (op[0] == '>' && op[1] == '=')
            from = key;
        else if (op[0] == '>')
            empty = key == UINT64_MAX, from = key + 1;
        else if (op[0] == '<' && op[1] == '=')
            to = key;
        else
            empty = key == 0, to = key - 1;
    }
    /* Only the numbers the index has: a hostile -1e308..1e308 costs no more. */
    from = KZ_MAX(from, lo_key);
    to = KZ_MIN(to, hi_key);
    idvec terms = { 0 };
    int rc = empty || from > to ? KZ_OK : number_range_terms(p, name, nlen, from, to, &terms);
    if (rc == KZ_OK)
        rc = filter_any(p, &terms, occur, at, out);
    free(terms.v);
    return rc;
}

/* name:value* : the keyword values that start with value (their terms
 * start with prefix[0..len)), or a text field's words, and the term stem
 * (a word's stem as typed; NULL for none), any of them; the most frequent
 * KZ_PREFIX_MAX_TERMS, with a note, when there are more. */
static int keyword_prefix(parser *p, const char *prefix, size_t len, const char *stem, size_t stem_len,
                          const char *name, size_t nlen, kz_occur occur, size_t at, idvec *out)
{
    candidate *cand = NULL;
    size_t count = 0;
    if (prefix_candidates(p, prefix, len, NULL, NULL, &cand, &count))
        return p->rc;
    int rc = KZ_OK;
    if (stem && add_stem_candidate(p, stem, stem_len, &cand, &count))
        rc = p->rc ? p->rc : oom(p);
    size_t keep = KZ_MIN(count, (size_t)KZ_PREFIX_MAX_TERMS);
    if (count > keep) {
        qsort(cand, count, sizeof *cand, cmp_by_df);
        qsort(cand, keep, sizeof *cand, cmp_by_order);
        if (add_note(p->q, "%.*s:...* matches %zu values; searching the %zu most frequent", (int)KZ_MIN(nlen, 64),
                     name, count, keep))
            rc = oom(p);
    }
    if (rc == KZ_OK && keep <= 1) {
        uint32_t id;
        rc = keep && intern_term(p, cand[0].text, cand[0].len, &id) ? (p->rc ? p->rc : oom(p))
                                                                     : filter_leaf(p, &id, keep, occur, at, out);
    } else if (rc == KZ_OK) {
        idvec alts = { 0 };
        for (size_t i = 0; i < keep && rc == KZ_OK; i++) {
            uint32_t id;
            rc = intern_term(p, cand[i].text, cand[i].len, &id) ? (p->rc ? p->rc : oom(p))
                                                                 : filter_leaf(p, &id, 1, KZ_OCCUR_SHOULD, at, &alts);
        }
        uint32_t node;
        if (rc == KZ_OK && (new_bool(p, &alts, occur, at, &node) || idvec_push(out, node)))
            rc = p->rc ? p->rc : oom(p);
        free(alts.v);
    }
    for (size_t i = 0; i < count; i++)
        free(cand[i].text);
    free(cand);
    return rc;
}

/* Marks the leaves under node as title: leaves. */
static void mark_title(kz_query *q, uint32_t node, unsigned depth)
{
    kz_qnode *n = &q->nodes[node];
    if (n->kind == KZ_QNODE_LEAF) {
        n->in_title = 1;
        return;
    }
    for (uint32_t i = 0; i < n->count && depth < 2 * MAX_DEPTH; i++)
        mark_title(q, q->kids[n->first + i], depth + 1);
}

/* Gives the title: leaves under node their title twins: the same terms as
 * the title field's words, so that a segment with title terms finds the
 * documents by their lists, not by the positions of every document with
 * the word (kz_qnode.title_twin). */
static int add_title_twins(parser *p, uint32_t node, unsigned depth)
{
    kz_query *q = p->q;
    if (q->nodes[node].kind != KZ_QNODE_LEAF) {
        for (uint32_t i = 0; i < q->nodes[node].count && depth < 2 * MAX_DEPTH; i++)
            if (add_title_twins(p, q->kids[q->nodes[node].first + i], depth + 1))
                return p->rc;
        return KZ_OK;
    }
    uint32_t first = q->nodes[node].first, count = q->nodes[node].count;
    if (!q->nodes[node].in_title || count == 0)
        return KZ_OK;
    if (grow((void **)&q->leaf_terms, &q->leaf_terms_cap, q->n_leaf_terms + count, sizeof *q->leaf_terms))
        return oom(p);
    size_t at = q->n_leaf_terms;
    for (uint32_t i = 0; i < count; i++) {
        const kz_qterm *t = &q->terms[q->leaf_terms[first + i]];
        char term[KZ_TERM_MAX_BYTES];
        size_t len;
        uint32_t id;
        if (kz_field_word_term(term, &len, KZ_TITLE_FIELD, strlen(KZ_TITLE_FIELD), t->text, t->len) != 0)
            return KZ_OK; /* a word no title term can hold: positions, as before format 6 */
        if (intern_term(p, term, len, &id))
            return p->rc ? p->rc : oom(p);
        q->leaf_terms[at + i] = id;
    }
    q->n_leaf_terms += count;
    q->nodes[node].title_first = (uint32_t)at;
    q->nodes[node].title_twin = 1;
    return KZ_OK;
}

/* title:word, title:word*, title:word~ and title:"a phrase" (t the word
 * up to the colon, the value from vat): the word or phrase as it would be
 * read alone, its leaves matching only where they stand in a title
 * (kz_qnode.in_title). The title is no metadata field: its words are the
 * document's first positions (README "Fields"). */
static int title_clause(parser *p, const tok *t, const char *op, size_t vat, kz_occur occur, idvec *out)
{
    if (op[0] != ':')
        return field_syntax_error(p, t->at, "title%s: the title holds words, not dates; write title:word or "
                                  "title:\"a phrase\"", op);
    size_t before = out->n;
    int rc;
    if (vat == t->end) { /* title:"a phrase" */
        tok *q = peek(p);
        if (!q)
            return p->rc;
        if (q->kind != TOK_QUOTE || q->at != t->end)
            return field_syntax_error(p, t->at, "title: needs a word or a \"phrase\"");
        tok quote = *q;
        consume(p);
        rc = quote_clause(p, &quote, occur, out);
    } else {
        tok word = *t;
        word.start = vat;
        rc = word_clauses(p, &word, occur, out);
    }
    for (size_t i = before; rc == KZ_OK && i < out->n; i++) {
        mark_title(p->q, out->v[i], 0);
        rc = add_title_twins(p, out->v[i], 0);
    }
    return rc;
}

/* name:word, name:word* and name:"a phrase" for a text field, whose terms
 * are the stems of its words (FORMAT.md "Field terms"): a filter of the
 * word, of the words that begin with word, or of the phrase (a filter
 * leaf of several terms; a word that splits, U.S., is a phrase too). The
 * value is [vat, vend). */
static int text_field_clause(parser *p, const char *name, size_t nlen, const tok *t, size_t vat, size_t vend,
                             int prefix, kz_occur occur, idvec *out)
{
    char term[KZ_TERM_MAX_BYTES];
    size_t len;
    if (prefix) {
        /* The words that begin with the word as folded, and its stem
         * (immune* finds immun), as for the text's words. */
        char stem_term[KZ_TERM_MAX_BYTES];
        size_t stem_len = 0, flen;
        if (analyse(p, p->stem, vat, vend))
            return p->rc;
        if (p->tv.len == 1) {
            const char *stem = kz_analyzer_term(p->stem, p->tv.v[0].term, &flen);
            if (kz_field_word_term(stem_term, &stem_len, name, nlen, stem, flen) != 0)
                stem_len = 0;
        }
        if (analyse(p, p->fold, vat, vend))
            return p->rc;
        if (p->tv.len != 1)
            return field_syntax_error(p, vat, "%.*s:word* takes one word before the *", (int)KZ_MIN(nlen, (size_t)64),
                                      name);
        const char *folded = kz_analyzer_term(p->fold, p->tv.v[0].term, &flen);
        if (kz_field_word_term(term, &len, name, nlen, folded, flen) != 0)
            return filter_leaf(p, NULL, 0, occur, t->at, out);
        return keyword_prefix(p, term, len, stem_len ? stem_term : NULL, stem_len, name, nlen, occur, t->at, out);
    }
    if (analyse(p, p->stem, vat, vend))
        return p->rc;
    size_t n = p->tv.len;
    if (n > KZ_QUERY_MAX_CLAUSES)
        return p->rc = kz_error_set(KZ_ELIMIT, "phrase is too long: more than %u terms", (unsigned)KZ_QUERY_MAX_CLAUSES);
    uint32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids)
        return oom(p);
    int rc = KZ_OK;
    for (size_t i = 0; i < n && rc == KZ_OK; i++) {
        size_t slen;
        const char *stem = kz_analyzer_term(p->stem, p->tv.v[i].term, &slen);
        if (kz_field_word_term(term, &len, name, nlen, stem, slen) != 0) {
            n = 0; /* a word no field term can hold: nothing matches */
            break;
        }
        if (intern_term(p, term, len, &ids[i]))
            rc = p->rc ? p->rc : oom(p);
    }
    if (rc == KZ_OK)
        rc = filter_leaf(p, ids, n, occur, t->at, out);
    free(ids);
    return rc;
}

/* A field clause, if the word is one: name:value, name:"a value",
 * name>=date and the like, for a field the index has (*handled then 1).
 * A word of the form x:y whose x is no field of the index is left to be
 * read as words, with a note. */
static int field_clause(parser *p, const tok *t, kz_occur occur, idvec *out, int *handled)
{
    *handled = 0;
    const char *s = p->s;
    size_t i = t->start;
    while (i < t->end && s[i] != ':' && s[i] != '<' && s[i] != '>')
        i++;
    if (i == t->start || i == t->end)
        return KZ_OK;
    const char *name = s + t->start;
    size_t nlen = i - t->start;
    char op[3] = { s[i], 0, 0 };
    size_t vat = i + 1;
    if (s[i] != ':' && vat < t->end && s[vat] == '=')
        op[1] = s[vat++];
    /* title: is the title's (whose words are also the title field's, format 6). */
    int title = nlen == strlen(KZ_TITLE_FIELD) && memcmp(name, KZ_TITLE_FIELD, nlen) == 0;
    int has = 0, has_date = 0, lo_year = 0, hi_year = 0;
    if (!title &&
        (!kz_field_name_ok(name, nlen) || field_has(p, name, nlen, KZ_FIELD_DATE, &lo_year, &hi_year, &has_date) ||
         (!has_date && field_has(p, name, nlen, 0, NULL, NULL, &has))))
        return p->rc;
    has |= has_date;
    if (title || (!has && nlen == 5 && strncasecmp(name, "title", 5) == 0)) {
        *handled = 1;
        return title_clause(p, t, op, vat, occur, out);
    }
    if (!has) {
        unsigned char c0 = (unsigned char)name[0];
        if ((c0 | 0x20) >= 'a' && (c0 | 0x20) <= 'z')
            return add_note(p->q, "\"%.*s%s\" is not a field of this index: read as words",
                            (int)KZ_MIN(nlen, (size_t)64), name, op) ? oom(p) : KZ_OK;
        return KZ_OK;
    }
    *handled = 1;
    size_t vend = t->end;
    /* name:"a value", name>="2022-03": the quote that follows. */
    if (vat == vend) {
        tok *q = peek(p);
        if (!q)
            return p->rc;
        if (q->kind != TOK_QUOTE || q->at != t->end)
            return field_syntax_error(p, t->at, "%.*s%s needs a value", (int)KZ_MIN(nlen, (size_t)64), name, op);
        vat = q->start;
        vend = q->end;
        consume(p);
    }
    if (vat == vend)
        return field_syntax_error(p, t->at, "%.*s%s needs a value", (int)KZ_MIN(nlen, (size_t)64), name, op);
    int has_words = 0;
    if (!has_date && field_has(p, name, nlen, KZ_FIELD_WORD, NULL, NULL, &has_words))
        return p->rc;
    if (has_words && op[0] != ':')
        return field_syntax_error(p, t->at, "%.*s holds words, not dates or numbers: write %.*s:word or %.*s:\"a phrase\"",
                                  (int)KZ_MIN(nlen, (size_t)64), name, (int)KZ_MIN(nlen, (size_t)64), name,
                                  (int)KZ_MIN(nlen, (size_t)64), name);
    if (has_words)
        return text_field_clause(p, name, nlen, t, vat, vend, t->prefix && vend == t->end, occur, out);
    int64_t first, last;
    int date_like = query_date(s + vat, vend - vat, &first, &last) == 0;
    for (size_t k = vat; !date_like && op[0] == ':' && k + 1 < vend; k++)
        date_like = s[k] == '.' && s[k + 1] == '.';
    /* Meant as a date, and not one: 2022-13, 2022-02-30. */
    int digits4 = vend - vat >= 4;
    for (size_t k = vat; k < vat + 4 && k < vend; k++)
        digits4 &= s[k] >= '0' && s[k] <= '9';
    if (has_date && !date_like && digits4)
        return field_syntax_error(p, vat, "not a date: expected YYYY, YYYY-MM or YYYY-MM-DD, or a range A..B");
    if (has_date && (date_like || op[0] != ':'))
        return date_clause(p, name, nlen, op, vat, vend, lo_year, hi_year, occur, t->at, out);
    uint64_t lo_key = 0, hi_key = 0;
    int has_number = 0;
    if (!has_date && !t->prefix && field_numbers(p, name, nlen, &lo_key, &hi_key, &has_number))
        return p->rc;
    if (has_number && (op[0] != ':' || number_like(s + vat, vend - vat)))
        return number_clause(p, name, nlen, op, vat, vend, lo_key, hi_key, occur, t->at, out);
    if (op[0] != ':')
        return field_syntax_error(p, vat, "%.*s holds no dates or numbers: %s compares them",
                                  (int)KZ_MIN(nlen, (size_t)64), name, op);
    char term[KZ_TERM_MAX_BYTES];
    size_t len;
    uint32_t id;
    if (kz_field_keyword_term(term, &len, name, nlen, s + vat, vend - vat) != 0)
        return filter_leaf(p, NULL, 0, occur, t->at, out); /* no value can match */
    if (t->prefix)
        return keyword_prefix(p, term, len, NULL, 0, name, nlen, occur, t->at, out);
    if (intern_term(p, term, len, &id))
        return p->rc ? p->rc : oom(p);
    return filter_leaf(p, &id, 1, occur, t->at, out);
}

static int parse_or(parser *p, unsigned depth, kz_occur occur, size_t at, idvec *out);

/* Replaces *node by a group holding it alone, taken with occur. */
static int wrap(parser *p, uint32_t *node, kz_occur occur)
{
    idvec one = { node, 1, 1 };
    uint32_t group;
    int rc = new_bool(p, &one, occur, 0, &group);
    if (rc == KZ_OK) {
        p->q->nodes[group].column = p->q->nodes[*node].column;
        *node = group;
    }
    return rc;
}

static int starts_clause(const tok *t)
{
    return t->kind == TOK_WORD || t->kind == TOK_QUOTE || t->kind == TOK_LPAREN || t->kind == TOK_NOT ||
           t->kind == TOK_PLUS || t->kind == TOK_MINUS;
}

/* clause: appends the nodes it gives (none, one or several) to out.
 * Prefix operators are read in a loop, not by recursion, so that 100,000
 * NOTs cost no stack: an odd number of negations (NOT, -) excludes the
 * clause; an even number, at least two, keeps the documents that have it
 * without scoring it (it stays under a NOT), like "-(-x)". */
static int parse_clause(parser *p, unsigned depth, kz_occur occur, idvec *out)
{
    tok *t = peek(p);
    if (!t)
        return p->rc;
    size_t negations = 0;
    int plus = 0;
    while (t->kind == TOK_NOT || t->kind == TOK_PLUS || t->kind == TOK_MINUS) {
        tok op = *t;
        consume(p);
        if (!(t = peek(p)))
            return p->rc;
        if (!starts_clause(t) ||
            (op.kind != TOK_NOT && (t->kind == TOK_NOT || t->kind == TOK_PLUS || t->kind == TOK_MINUS)))
            return syntax_error(p, op.at, "%s needs a word, a \"phrase\" or a (group) after it", tok_name(op.kind));
        negations += op.kind != TOK_PLUS;
        plus |= op.kind == TOK_PLUS;
    }
    if (negations)
        occur = KZ_OCCUR_NOT;
    else if (plus)
        occur = KZ_OCCUR_MUST;
    size_t before = out->n;
    tok op = *t;
    consume(p);
    int rc;
    switch (op.kind) {
    case TOK_WORD: {
        int handled;
        rc = field_clause(p, &op, occur, out, &handled);
        if (rc == KZ_OK && !handled)
            rc = word_clauses(p, &op, occur, out);
        break;
    }
    case TOK_QUOTE:
        rc = quote_clause(p, &op, occur, out);
        break;
    case TOK_LPAREN:
        if (depth >= MAX_DEPTH)
            return syntax_error(p, op.at, "parentheses nested more than %d deep", MAX_DEPTH);
        if (parse_or(p, depth + 1, occur, op.at, out))
            return p->rc;
        if (!(t = peek(p)))
            return p->rc;
        if (t->kind != TOK_RPAREN)
            return syntax_error(p, op.at, "this ( is never closed");
        consume(p);
        rc = KZ_OK;
        break;
    default:
        return syntax_error(p, op.at, "unexpected %s", tok_name(op.kind));
    }
    if (rc == KZ_OK && negations && negations % 2 == 0)
        for (size_t i = before; i < out->n && rc == KZ_OK; i++)
            rc = wrap(p, &out->v[i], KZ_OCCUR_NOT);
    return rc;
}

/* The sequence's clauses into one node (or none, or the only clause). */
static int parse_sequence(parser *p, unsigned depth, idvec *out, size_t *at)
{
    idvec kids = { 0 };
    int rc = KZ_OK;
    int need_right = 0; /* an AND was just read */
    size_t and_at = 0, left_from = 0;
    tok *t = peek(p);
    if (!t)
        return p->rc;
    *at = t->at;
    for (;;) {
        if (!(t = peek(p))) {
            rc = p->rc;
            goto done;
        }
        if (t->kind == TOK_END || t->kind == TOK_RPAREN || t->kind == TOK_OR)
            break;
        if (t->kind == TOK_AND) {
            if (need_right || (kids.n == 0 && left_from == 0 && t->at == *at)) {
                rc = syntax_error(p, t->at, "AND needs a query before it");
                goto done;
            }
            /* The clauses of the left operand become required. */
            for (size_t i = left_from; i < kids.n; i++)
                if (p->q->nodes[kids.v[i]].occur == KZ_OCCUR_DEFAULT)
                    p->q->nodes[kids.v[i]].occur = KZ_OCCUR_MUST;
            need_right = 1;
            and_at = t->at;
            consume(p);
            continue;
        }
        size_t before = kids.n;
        if ((rc = parse_clause(p, depth, KZ_OCCUR_DEFAULT, &kids)))
            goto done;
        /* A filter narrows in OR mode too: it is required. */
        for (size_t i = before; i < kids.n; i++)
            if (p->q->nodes[kids.v[i]].filter && p->q->nodes[kids.v[i]].occur == KZ_OCCUR_DEFAULT)
                p->q->nodes[kids.v[i]].occur = KZ_OCCUR_MUST;
        if (need_right)
            for (size_t i = before; i < kids.n; i++)
                if (p->q->nodes[kids.v[i]].occur == KZ_OCCUR_DEFAULT)
                    p->q->nodes[kids.v[i]].occur = KZ_OCCUR_MUST;
        need_right = 0;
        left_from = before;
    }
    if (need_right) {
        rc = syntax_error(p, and_at, "AND needs a query after it");
        goto done;
    }
    if (kids.n == 1) {
        if (idvec_push(out, kids.v[0]))
            rc = oom(p);
    } else if (kids.n > 1) {
        uint32_t node;
        if (!(rc = new_bool(p, &kids, KZ_OCCUR_DEFAULT, *at, &node)) && idvec_push(out, node))
            rc = oom(p);
    }
done:
    free(kids.v);
    return rc;
}

/* or_expr: the node (if any) goes to out, with the given occur. */
static int parse_or(parser *p, unsigned depth, kz_occur occur, size_t at, idvec *out)
{
    idvec alts = { 0 };
    int rc = KZ_OK;
    size_t seq_at;
    tok *t;
    if ((rc = parse_sequence(p, depth, &alts, &seq_at)))
        goto done;
    size_t n_or = 0;
    for (;;) {
        if (!(t = peek(p))) {
            rc = p->rc;
            goto done;
        }
        if (t->kind != TOK_OR)
            break;
        size_t or_at = t->at;
        if (n_or == 0 && or_at == seq_at) {
            rc = syntax_error(p, or_at, "OR needs a query before it");
            goto done;
        }
        consume(p);
        if (!(t = peek(p))) {
            rc = p->rc;
            goto done;
        }
        if (!starts_clause(t)) {
            rc = syntax_error(p, or_at, "OR needs a query after it");
            goto done;
        }
        n_or++;
        if ((rc = parse_sequence(p, depth, &alts, &seq_at)))
            goto done;
    }
    if (alts.n > 1) {
        /* Each alternative counts for itself: a match of any is a match.
         * An alternative with its own + or - keeps it inside a group. */
        for (size_t i = 0; i < alts.n; i++) {
            kz_qnode *n = &p->q->nodes[alts.v[i]];
            if (n->occur == KZ_OCCUR_NOT && (rc = wrap(p, &alts.v[i], KZ_OCCUR_SHOULD)))
                goto done;
            p->q->nodes[alts.v[i]].occur = KZ_OCCUR_SHOULD;
        }
        uint32_t node;
        if (!(rc = new_bool(p, &alts, occur, at, &node)) && idvec_push(out, node))
            rc = oom(p);
    } else if (alts.n == 1) {
        /* One clause. Inside parentheses, a clause with its own + or - or
         * NOT keeps it within the group: "(+a)" is a group that requires
         * a, taken by the enclosing query like any other clause, and
         * "-(-a)" excludes the documents without a. */
        kz_qnode *n = &p->q->nodes[alts.v[0]];
        if (depth > 0 && (n->occur == KZ_OCCUR_MUST || n->occur == KZ_OCCUR_NOT)) {
            if ((rc = wrap(p, &alts.v[0], occur)))
                goto done;
        } else if (occur != KZ_OCCUR_DEFAULT || n->occur == KZ_OCCUR_SHOULD) {
            n->occur = occur;
        }
        if (idvec_push(out, alts.v[0]))
            rc = oom(p);
    }
done:
    free(alts.v);
    return rc;
}

/* ------------------------------------------------------------- units */

static int same_leaf(const kz_query *q, const kz_qnode *a, const kz_qnode *b)
{
    /* A leaf of no terms (a prefix that matched none) may have no array to
     * point into. */
    return a->count == b->count &&
           (a->count == 0 ||
            memcmp(q->leaf_terms + a->first, q->leaf_terms + b->first, a->count * sizeof(uint32_t)) == 0);
}

static uint64_t leaf_hash(const kz_query *q, uint32_t unit)
{
    const kz_qnode *n = &q->nodes[q->units[unit]];
    return hash_bytes(q->leaf_terms + n->first, n->count * sizeof(uint32_t));
}

/* Walks the tree in query order: a leaf not under a NOT scores, once. A
 * leaf of no terms (a prefix that matches nothing) never scores. Iterative
 * over an explicit stack: nesting is bounded, but not by much. */
static int collect_units(parser *p, uint32_t root)
{
    kz_query *q = p->q;
    idvec stack = { 0 }, neg = { 0 };
    int rc = KZ_OK;
    if (idvec_push(&stack, root) || idvec_push(&neg, 0))
        goto fail;
    while (stack.n) {
        uint32_t node = stack.v[--stack.n], negated = neg.v[--neg.n];
        kz_qnode *n = &q->nodes[node];
        negated |= n->occur == KZ_OCCUR_NOT;
        if (n->kind == KZ_QNODE_BOOL) {
            /* Children pushed last first, so they pop in query order. */
            for (uint32_t i = n->count; i-- > 0;)
                if (idvec_push(&stack, q->kids[n->first + i]) || idvec_push(&neg, negated))
                    goto fail;
            continue;
        }
        n->unit = NONE;
        if (negated || n->count == 0 || n->filter)
            continue;
        if ((q->n_units + 1) * 2 > p->unit_slots_cap && slots_grow(&p->unit_slots, &p->unit_slots_cap, leaf_hash, q))
            goto fail;
        size_t mask = p->unit_slots_cap - 1;
        size_t j = (size_t)hash_bytes(q->leaf_terms + n->first, n->count * sizeof(uint32_t)) & mask;
        for (; p->unit_slots[j]; j = (j + 1) & mask)
            if (same_leaf(q, &q->nodes[q->units[p->unit_slots[j] - 1]], n))
                break;
        if (p->unit_slots[j]) {
            n->unit = p->unit_slots[j] - 1;
            continue;
        }
        if (grow((void **)&q->units, &q->units_cap, q->n_units + 1, sizeof *q->units))
            goto fail;
        n->unit = (uint32_t)q->n_units;
        q->units[q->n_units++] = node;
        p->unit_slots[j] = (uint32_t)q->n_units;
    }
    goto done;
fail:
    rc = KZ_ENOMEM;
done:
    free(stack.v);
    free(neg.v);
    return rc;
}

/* ------------------------------------------------------------- repeats */

/* Whether nodes a and b are the same clause: the same terms, or the same
 * children (by class) taken the same way. */
static int same_clause(const kz_query *q, const uint32_t *canon, uint32_t a, uint32_t b)
{
    const kz_qnode *x = &q->nodes[a], *y = &q->nodes[b];
    if (x->kind != y->kind || x->count != y->count)
        return 0;
    if (x->kind == KZ_QNODE_LEAF)
        return x->in_title == y->in_title && same_leaf(q, x, y);
    for (uint32_t i = 0; i < x->count; i++) {
        uint32_t kx = q->kids[x->first + i], ky = q->kids[y->first + i];
        if (canon[kx] != canon[ky] || q->nodes[kx].occur != q->nodes[ky].occur)
            return 0;
    }
    return 1;
}

/* Whether a juxtaposed clause (not a filter, which both modes require), in
 * a group of several, lies under an exclusion ("-(war peace)"): OR mode then excludes more than AND mode, so
 * that the AND matches are not all OR matches, and AUTO falls back instead
 * (search.c's and_then_or needs them to be). A group of one clause means
 * the same in both modes. Looked at before merge_repeats, so that a
 * repeated clause counts as written. Depth is bounded by the parser's
 * nesting limit. */
static int default_under_not(const kz_query *q, uint32_t node, int excluded)
{
    const kz_qnode *n = &q->nodes[node];
    if (n->kind != KZ_QNODE_BOOL)
        return 0;
    for (uint32_t j = 0; j < n->count; j++) {
        uint32_t kid = q->kids[n->first + j];
        kz_occur occ = q->nodes[kid].occur;
        if (excluded && occ == KZ_OCCUR_DEFAULT && !q->nodes[kid].filter && n->count > 1)
            return 1;
        if (default_under_not(q, kid, excluded || occ == KZ_OCCUR_NOT))
            return 1;
    }
    return 0;
}

/* Merges repeated clauses: a group's children that are the same clause
 * taken the same way ("of the" a thousand times, (a b) twice, -x -x) are
 * one child, which matches and scores as they did (a boolean node is
 * idempotent, and the scoring units were distinct leaves already), but is
 * evaluated once. Nodes are visited in the order they were made, children
 * before their group, so each child's class is known when its group is
 * looked at; canon[n] is the first node of n's class. Linear in the query. */
static int merge_repeats(parser *p)
{
    kz_query *q = p->q;
    size_t n = q->n_nodes, cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    int rc = KZ_OK;
    uint32_t *canon = malloc(n * sizeof *canon), *slots = calloc(cap, sizeof *slots);
    uint32_t *stamp = calloc(4 * n, sizeof *stamp); /* [class * 4 + occur]: group + 1 that has it */
    uint32_t *key = malloc((2 * n + 2) * sizeof *key);
    if (!canon || !slots || !stamp || !key) {
        rc = KZ_ENOMEM;
        goto done;
    }
    for (uint32_t i = 0; i < n; i++)
        canon[i] = i;
    for (uint32_t i = 0; i < n; i++) {
        kz_qnode *node = &q->nodes[i];
        uint64_t h;
        if (node->kind == KZ_QNODE_BOOL) {
            uint32_t kept = 0;
            for (uint32_t k = 0; k < node->count; k++) {
                uint32_t kid = q->kids[node->first + k];
                if (kid >= i) { /* not made before its group: keep it as it is */
                    q->kids[node->first + kept++] = kid;
                    continue;
                }
                uint32_t *seen = &stamp[(size_t)canon[kid] * 4 + q->nodes[kid].occur];
                if (*seen == i + 1)
                    continue;
                *seen = i + 1;
                q->kids[node->first + kept++] = kid;
            }
            node->count = kept;
            key[0] = 1;
            for (uint32_t k = 0; k < kept; k++) {
                uint32_t kid = q->kids[node->first + k];
                key[1 + 2 * k] = kid < i ? canon[kid] : kid;
                key[2 + 2 * k] = (uint32_t)q->nodes[kid].occur;
            }
            h = hash_bytes(key, (1 + 2 * (size_t)kept) * sizeof *key);
        } else {
            h = (node->count ? hash_bytes(q->leaf_terms + node->first, node->count * sizeof(uint32_t)) : 0) ^
                0x9E3779B97F4A7C15ull;
        }
        size_t j = (size_t)h & (cap - 1);
        for (; slots[j]; j = (j + 1) & (cap - 1))
            if (same_clause(q, canon, slots[j] - 1, i))
                break;
        if (!slots[j])
            slots[j] = i + 1;
        canon[i] = slots[j] - 1;
    }
done:
    free(canon);
    free(slots);
    free(stamp);
    free(key);
    return rc;
}

/* ------------------------------------------------------------- public */

static int parse_once(kz_query **out, kz_index *ix, const char *text, size_t len, unsigned flags,
                      kz_syntax_error *err, int *field_error, const kz_stats *global, kz_stats *record)
{
    *out = NULL;
    if (err)
        memset(err, 0, sizeof *err);
    if (!text && len)
        return kz_error_set(KZ_EINVAL, "kz_query_parse: text is NULL");
    if (len > MAX_QUERY_BYTES)
        return kz_error_set(KZ_ELIMIT, "query of %zu bytes is longer than the limit of %u", len,
                            MAX_QUERY_BYTES);
    kz_index_info info;
    kz_index_get_info(ix, &info);
    parser p = { 0 };
    kz_buf clean = { 0 };
    idvec top = { 0 };
    int rc;
    kz_query *q = calloc(1, sizeof *q);
    if (!q)
        return kz_error_set(KZ_ENOMEM, "out of memory parsing a query");
    q->ix = ix;
    q->root = NONE;
    q->global = global;
    p.global = global;
    p.record = record;
    kz_utf8_sanitize(&clean, text ? text : "", len);
    if ((rc = kz_buf_terminate(&clean)))
        goto done;
    p.q = q;
    p.s = (const char *)clean.data;
    p.len = clean.len;
    p.err = err;
    p.variants = flags & KZ_QUERY_NO_VARIANTS ? -1 : 0;
    p.suggest = (flags & KZ_QUERY_SUGGEST) != 0;
    if ((rc = kz_index_analyzer_take(ix, 0, &p.stem)) || (rc = kz_index_analyzer_take(ix, 1, &p.fold)))
        goto done;
    if (flags & KZ_QUERY_PLAIN) {
        /* Plain words: every term a clause, no operators. */
        tok whole = { TOK_WORD, 0, 0, p.len, 0, 0 };
        if ((rc = word_clauses(&p, &whole, KZ_OCCUR_DEFAULT, &top)))
            goto done;
        if (top.n == 1) {
            q->root = top.v[0];
        } else if (top.n > 1 && (rc = new_bool(&p, &top, KZ_OCCUR_DEFAULT, 0, &q->root))) {
            goto done;
        }
    } else {
        if ((rc = parse_or(&p, 0, KZ_OCCUR_DEFAULT, 0, &top)))
            goto done;
        tok *t = peek(&p);
        if (!t) {
            rc = p.rc;
            goto done;
        }
        if (t->kind == TOK_RPAREN) {
            rc = syntax_error(&p, t->at, "this ) has no ( before it");
            goto done;
        }
        if (top.n == 1)
            q->root = top.v[0];
    }
    if (q->root != NONE) {
        /* The root's own occur: NOT x alone is a group excluding x. */
        if (q->nodes[q->root].occur == KZ_OCCUR_NOT) {
            if ((rc = wrap(&p, &q->root, KZ_OCCUR_DEFAULT)))
                goto done;
        } else {
            q->nodes[q->root].occur = KZ_OCCUR_DEFAULT;
        }
        q->default_under_not = default_under_not(q, q->root, 0);
        if (merge_repeats(&p) || collect_units(&p, q->root)) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory parsing a query");
            goto done;
        }
    }
    if (p.suggested) {
        if (kz_buf_append(&p.suggestion, p.s + p.suggested_to, p.len - p.suggested_to) ||
            kz_buf_terminate(&p.suggestion)) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory parsing a query");
            goto done;
        }
        q->suggestion = (char *)p.suggestion.data;
        p.suggestion = (kz_buf){ 0 };
    }
    *out = q;
    q = NULL;
done:
    *field_error = p.field_error;
    if (rc == KZ_ENOMEM && !p.rc)
        rc = kz_error_set(KZ_ENOMEM, "out of memory parsing a query");
    kz_query_free(q);
    kz_index_analyzer_give(ix, 0, p.stem);
    kz_index_analyzer_give(ix, 1, p.fold);
    kz_tokvec_free(&p.tv);
    kz_tokvec_free(&p.tv_variant);
    kz_buf_free(&p.suggestion);
    kz_buf_free(&clean);
    free(p.term_slots);
    free(p.unit_slots);
    free(top.v);
    return rc;
}

/* kz_query_parse with the dictionary's answers from global (NULL: the
 * index's), each answer the index gives added to record (NULL: none). */
static int parse_with(kz_query **out, kz_index *ix, const char *text, size_t len, unsigned flags,
                      kz_syntax_error *err, const kz_stats *global, kz_stats *record)
{
    kz_syntax_error local, why;
    kz_syntax_error *e = err ? err : &local;
    int field_error = 0;
    int rc = parse_once(out, ix, text, len, flags & (KZ_QUERY_PLAIN | KZ_QUERY_NO_VARIANTS | KZ_QUERY_SUGGEST), e,
                        &field_error, global, record);
    if (rc != KZ_ESYNTAX || !(flags & KZ_QUERY_LENIENT) || (flags & KZ_QUERY_PLAIN) || field_error)
        return rc;
    /* Pasted text with an unclosed quote or parenthesis, or an operator
     * without its operand: its words are what the user wants found. */
    why = *e;
    if ((rc = parse_once(out, ix, text, len, KZ_QUERY_PLAIN | (flags & (KZ_QUERY_NO_VARIANTS | KZ_QUERY_SUGGEST)), e,
                         &field_error, global, record)))
        return rc;
    if ((rc = add_note(*out, "searched the words without operators: column %u: %s", why.column, why.message))) {
        kz_query_free(*out);
        *out = NULL;
    }
    return rc;
}

int kz_query_parse(kz_query **out, kz_index *ix, const char *text, size_t len, unsigned flags,
                   kz_syntax_error *err)
{
    return parse_with(out, ix, text, len, flags, err, NULL, NULL);
}

int kz_query_parse_global(kz_query **out, kz_index *ix, const char *text, size_t len, unsigned flags,
                          const kz_stats *global, kz_syntax_error *err)
{
    *out = NULL;
    if (!global)
        return kz_error_set(KZ_EINVAL, "kz_query_parse_global: no statistics");
    return parse_with(out, ix, text, len, flags, err, global, NULL);
}

int kz_stats_gather(kz_stats **out, kz_index *ix, const char *text, size_t len, unsigned flags,
                    const char *sort_field, kz_syntax_error *err)
{
    kz_query *q = NULL;
    *out = NULL;
    if (sort_field && !kz_field_name_ok(sort_field, strlen(sort_field)))
        return kz_error_set(KZ_EINVAL, "sort: a field name of 1 to %d bytes is needed", KZ_FIELD_NAME_MAX);
    int rc = kz_stats_begin(out, ix);
    if (rc)
        return rc;
    /* With KZ_QUERY_SUGGEST: the candidates of every word this index lacks
     * (step 2 may suggest one where every machine lacks it). */
    rc = parse_with(&q, ix, text, len, flags | KZ_QUERY_SUGGEST, err, NULL, *out);
    kz_query_free(q);
    if (rc == KZ_OK && sort_field) { /* kz_query_run's check that it has dates, else numbers */
        char prefix[KZ_FIELD_PREFIX_MAX];
        uint64_t count;
        size_t n = kz_field_prefix(prefix, sort_field, strlen(sort_field), "dY");
        rc = kz_stats_extent(ix, NULL, *out, prefix, n, &count, NULL, NULL);
        n = kz_field_prefix(prefix, sort_field, strlen(sort_field), KZ_NUMBER_FULL_KIND);
        if (rc == KZ_OK)
            rc = kz_stats_extent(ix, NULL, *out, prefix, n, &count, NULL, NULL);
    }
    if (rc == KZ_OK)
        kz_stats_settle(*out); /* so that readers may take it as const */
    if (rc) {
        kz_stats_free(*out);
        *out = NULL;
    }
    return rc;
}

void kz_query_free(kz_query *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n_terms; i++) {
        free(q->terms[i].text);
        free(q->terms[i].seg_loc);
    }
    for (size_t i = 0; i < q->n_notes; i++)
        free(q->notes[i]);
    free(q->terms);
    free(q->suggestion);
    free(q->nodes);
    free(q->kids);
    free(q->leaf_terms);
    free(q->units);
    free(q);
}

size_t kz_query_note_count(const kz_query *q) { return q->n_notes; }
const char *kz_query_suggestion(const kz_query *q) { return q->suggestion; }
const char *kz_query_note(const kz_query *q, size_t i) { return i < q->n_notes ? q->notes[i] : NULL; }
