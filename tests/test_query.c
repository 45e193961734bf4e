/*
 * test_query.c: the query language and its ranking, against an independent
 * brute-force evaluator.
 *
 * Written from the specification alone (the header comments of
 * query/parse.c and query/search.c, include/kzsearch.h, README "Analysis",
 * "Query language" and "Ranking"), not from the engine's code:
 *
 *  - every syntax error is KZ_ESYNTAX at the right column (characters, from
 *    1, after multi-byte text too), and odd queries that are not errors
 *    mean what the specification says (lower-case operators, a lone dash,
 *    c++, punctuation alone, empty and curly quotes, invalid UTF-8,
 *    KZ_QUERY_PLAIN);
 *  - hostile queries (100,000 random bytes, 10,000 words, long runs of one
 *    operator, the size limits) neither crash nor hang; each runs in a
 *    child process, so that a crash is one failure, not the end;
 *  - the test builds random query TREES itself, renders them to strings,
 *    and evaluates the trees directly over the documents' analysed tokens
 *    (kz_analyze: title tokens first, then text): MUST/SHOULD/NOT/DEFAULT
 *    groups, phrases of 2-3 words (repeats too; overlapping occurrences,
 *    never across the title/text boundary), prefixes, AND, OR, NOT, the
 *    AUTO fallback, BM25 summed over the distinct non-excluded units in
 *    query order from 0, ties to the lower docid. Hits, scores (1e-9
 *    relative, and then the same bits, as the README fixes the order of
 *    evaluation), totals, units and the mode must agree, in every mode,
 *    with two settings of k1 and b besides the defaults, with offsets,
 *    limits and KZ_SEARCH_COUNT_ONLY. A disagreeing query is shrunk to the
 *    smallest that still disagrees, and printed;
 *  - prefixes expand to the dictionary's stems that start with the folded,
 *    unstemmed prefix, capped at KZ_PREFIX_MAX_TERMS with a note;
 *  - kz_results_explain: the weights summed in unit order are the score,
 *    bit for bit, and tf, idf and w are the brute force's.
 *
 * Hand-written queries are read into trees by a second, small reading of
 * the grammar (ref_parse); KZ_QPROBE="query" prints the engine's and the
 * reference's view of one query. Where the specification is open, the
 * engine's reading is printed as a NOTE and not failed (test_ambiguous).
 * KZ_TEST_SLOW=1 adds two queries inside the limits that take some 30 s
 * while parsing is quadratic.
 *
 * Corpora: 10,000 short documents with a skewed vocabulary (terms with df
 * above 128, so posting blocks and block-max skipping; terms in about half
 * the documents, so dense bitset containers; "the" in nearly all, a run; a
 * term in one document), some long documents, titles on a third of them;
 * 1,500 documents of varied length, most with titles, a title-only one and
 * one whose text is punctuation only (dl 0); and 400 documents with 300
 * terms of one prefix. KZ_TEST_SEED replays a run.
 */
#include "kzint.h"
#include "test.h"

#include <math.h>
#include <sys/wait.h>
#include <time.h>

static uint64_t g_seed;  /* kz_test_seed(), for the messages */
static uint64_t g_rng;

static uint64_t rnd(uint64_t n) { return n ? kz_test_rand(&g_rng) % n : 0; }
static double rnd01(void) { return (double)(kz_test_rand(&g_rng) >> 11) / 9007199254740992.0; }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#if defined(__SANITIZE_ADDRESS__)
#define SLOW_FACTOR 6.0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLOW_FACTOR 6.0
#endif
#endif
#ifndef SLOW_FACTOR
#define SLOW_FACTOR 1.0
#endif

/* Failures of the random comparisons are counted in full but printed only
 * up to a point, so that one bug does not bury the rest. */
static int g_printed;
static int g_quiet, g_quiet_failed, g_quiet_print; /* while shrinking: failures only noted */
#define MAX_PRINTED 60
#define QCHECK(cond, ...)                                                        \
    do {                                                                         \
        if (g_quiet) {                                                           \
            if (!(cond)) {                                                       \
                if (!g_quiet_failed && g_quiet_print) {                          \
                    fprintf(stderr, "    first difference: ");                   \
                    fprintf(stderr, __VA_ARGS__);                                \
                    fputc('\n', stderr);                                         \
                }                                                                \
                g_quiet_failed = 1;                                              \
            }                                                                    \
            break;                                                               \
        }                                                                        \
        kz_test_checks++;                                                        \
        if (!(cond)) {                                                           \
            kz_test_failures++;                                                  \
            if (g_printed++ < MAX_PRINTED) {                                     \
                fprintf(stderr, "%s:%d: [seed %llu] ", __FILE__, __LINE__,        \
                        (unsigned long long)g_seed);                             \
                fprintf(stderr, __VA_ARGS__);                                    \
                fputc('\n', stderr);                                             \
            }                                                                    \
        }                                                                        \
    } while (0)

/* ================================================================ stems */

#define MAX_STEMS 4096

static char *stem_txt[MAX_STEMS];
static size_t stem_len[MAX_STEMS];
static int n_stems;

static int stem_id(const char *s, size_t len)
{
    for (int i = 0; i < n_stems; i++)
        if (stem_len[i] == len && memcmp(stem_txt[i], s, len) == 0)
            return i;
    if (n_stems == MAX_STEMS) {
        fprintf(stderr, "too many stems\n");
        exit(2);
    }
    stem_txt[n_stems] = malloc(len + 1);
    memcpy(stem_txt[n_stems], s, len);
    stem_txt[n_stems][len] = 0;
    stem_len[n_stems] = len;
    return n_stems++;
}

typedef struct tokv {
    uint16_t *v;
    size_t n, cap;
} tokv;

static void tok_cb(void *ctx, const char *stem, size_t len, size_t start, size_t end)
{
    tokv *t = ctx;
    KZ_UNUSED(start);
    KZ_UNUSED(end);
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->v = realloc(t->v, t->cap * sizeof *t->v);
    }
    t->v[t->n++] = (uint16_t)stem_id(stem, len);
}

/* The stems of text, as the index analyses it. */
static size_t analyse(const char *text, size_t len, tokv *out)
{
    size_t before = out->n;
    int rc = kz_analyze("english", text, len, tok_cb, out);
    if (rc) {
        fprintf(stderr, "kz_analyze failed: %s\n", kz_last_error());
        exit(2);
    }
    return out->n - before;
}

/* The one stem of a word; exits if the word is not exactly one token. */
static int word_stem(const char *w)
{
    tokv t = { 0 };
    size_t n = analyse(w, strlen(w), &t);
    int s = n == 1 ? t.v[0] : -1;
    free(t.v);
    if (s < 0) {
        fprintf(stderr, "vocabulary word \"%s\" is %zu tokens\n", w, n);
        exit(2);
    }
    return s;
}

/* ================================================================ corpora */

typedef struct rdoc {
    uint16_t *tok; /* stems: title tokens, then text tokens */
    uint32_t len;  /* dl */
    uint32_t title;
} rdoc;

typedef struct corpus {
    const char *name;
    uint32_t n;
    rdoc *docs;
    uint64_t tokens;
    double avgdl;
    int ns;        /* stems known when the corpus was finished */
    uint16_t *tf;  /* n × ns */
    uint32_t *df;  /* ns */
    char *dir;
    kz_index *ix;
    kz_builder *b;
    size_t cap;
} corpus;

static void corpus_begin(corpus *c, const char *name)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    c->dir = kz_test_temp_dir();
    CHECK_OK(kz_builder_new(&c->b, c->dir, NULL));
}

static void corpus_add(corpus *c, const char *title, const char *text)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->docs = realloc(c->docs, c->cap * sizeof *c->docs);
    }
    rdoc *d = &c->docs[c->n];
    tokv t = { 0 };
    d->title = (uint32_t)analyse(title, strlen(title), &t);
    analyse(text, strlen(text), &t);
    d->tok = t.v;
    d->len = (uint32_t)t.n;
    char id[32];
    snprintf(id, sizeof id, "%s-%u", c->name, c->n);
    CHECK_OK(kz_builder_add_document(c->b, id, strlen(id), title, strlen(title), text, strlen(text), NULL, 0));
    c->n++;
}

static void corpus_finish(corpus *c)
{
    CHECK_OK(kz_builder_commit(c->b, NULL));
    kz_builder_free(c->b);
    c->b = NULL;
    c->ns = n_stems;
    c->tf = calloc((size_t)c->n * c->ns, sizeof *c->tf);
    c->df = calloc(c->ns, sizeof *c->df);
    for (uint32_t d = 0; d < c->n; d++) {
        c->tokens += c->docs[d].len;
        for (uint32_t i = 0; i < c->docs[d].len; i++) {
            uint16_t *p = &c->tf[(size_t)d * c->ns + c->docs[d].tok[i]];
            c->df[c->docs[d].tok[i]] += *p == 0;
            (*p)++;
        }
    }
    c->avgdl = (double)c->tokens / (double)c->n;
    CHECK_OK(kz_index_open(&c->ix, c->dir));
    if (!c->ix) {
        fprintf(stderr, "cannot open the %s corpus\n", c->name);
        exit(1);
    }
    /* The analysis this test counts with is the index's. */
    kz_index_info info;
    kz_index_get_info(c->ix, &info);
    CHECK_INT(info.docs, c->n);
    CHECK_INT(info.tokens, c->tokens);
    for (int s = 0; s < c->ns; s++) {
        if (!c->df[s])
            continue;
        kz_term t;
        int rc = kz_index_term(c->ix, &t, stem_txt[s], stem_len[s]);
        CHECK_MSG(rc == KZ_OK && t.df == c->df[s], "%s: term %s df %u, reference %u", c->name, stem_txt[s],
                  rc == KZ_OK ? t.df : 0, c->df[s]);
    }
}

static void corpus_free(corpus *c)
{
    kz_index_free(c->ix);
    for (uint32_t d = 0; d < c->n; d++)
        free(c->docs[d].tok);
    free(c->docs);
    free(c->tf);
    free(c->df);
    kz_test_remove_tree(c->dir);
    free(c->dir);
}

static uint32_t tf_of(const corpus *c, uint32_t d, int s)
{
    return s >= 0 && s < c->ns ? c->tf[(size_t)d * c->ns + s] : 0;
}

static uint32_t df_of(const corpus *c, int s) { return s >= 0 && s < c->ns ? c->df[s] : 0; }

/* Occurrences of the phrase t[0..n) in d: overlapping ones count, none may
 * straddle the title/text boundary. */
static uint32_t phrase_tf(const corpus *c, uint32_t d, const int *t, int n)
{
    for (int i = 0; i < n; i++)
        if (!tf_of(c, d, t[i]))
            return 0;
    const rdoc *r = &c->docs[d];
    uint32_t tf = 0;
    for (uint32_t p = 0; p + (uint32_t)n <= r->len; p++) {
        if ((p < r->title) != (p + (uint32_t)n - 1 < r->title))
            continue;
        int i = 0;
        while (i < n && r->tok[p + i] == t[i])
            i++;
        tf += i == n;
    }
    return tf;
}

/* ================================================================ vocabulary */

typedef struct vword {
    const char *w;
    double weight;
    int stem;
} vword;

/* Weights per token; "the" ends up in nearly every document, war/peace/and
 * in about half (dense bitsets at 10,000 documents), treaty and the like in
 * 100-300 (posting blocks), tokayev and uranium in a handful. */
static vword vocab[] = {
    { "the", 60, 0 },     { "war", 14, 0 },       { "peace", 9, 0 },      { "and", 9, 0 },
    { "russia", 8, 0 },   { "russian", 6, 0 },    { "russians", 3, 0 },   { "oil", 6, 0 },
    { "gas", 5, 0 },      { "or", 3, 0 },         { "not", 3, 0 },        { "price", 3, 0 },
    { "market", 3, 0 },   { "wars", 1.5, 0 },     { "border", 2.5, 0 },   { "trade", 2.5, 0 },
    { "steppe", 1.5, 0 }, { "mark", 1.2, 0 },     { "kazakh", 1, 0 },     { "prices", 1, 0 },
    { "train", 1, 0 },    { "treaty", 0.5, 0 },   { "kazakhstan", 0.6, 0 }, { "prize", 0.6, 0 },
    { "trader", 0.6, 0 }, { "kazan", 0.3, 0 },    { "pricing", 0.3, 0 },  { "print", 0.3, 0 },
    { "traders", 0.3, 0 }, { "astana", 0.2, 0 },  { "marker", 0.15, 0 },  { "river", 0.15, 0 },
    { "c", 0.15, 0 },     { "kasym", 0.1, 0 },    { "port", 0.08, 0 },    { "2024", 0.08, 0 },
    { "uranium", 0.02, 0 }, { "tokayev", 0.01, 0 },
};
#define N_VOCAB ((int)(sizeof vocab / sizeof vocab[0]))
#define N_COMMON 12 /* the first N_COMMON words are the common ones */

static double vocab_total;
static int succ[N_VOCAB]; /* a fixed successor: frequent bigrams for phrases */

static void vocab_init(void)
{
    vocab_total = 0;
    for (int i = 0; i < N_VOCAB; i++) {
        vocab[i].stem = word_stem(vocab[i].w);
        vocab_total += vocab[i].weight;
    }
    for (int i = 0; i < N_VOCAB; i++)
        succ[i] = (int)rnd(N_COMMON + 6);
    word_stem("zomart"); /* the stems of the planted words, known early */
    word_stem("zhanaozen");
}

static int pick_word(void)
{
    double x = rnd01() * vocab_total;
    for (int i = 0; i < N_VOCAB; i++) {
        x -= vocab[i].weight;
        if (x < 0)
            return i;
    }
    return 0;
}

/* Appends n tokens of a Markov-ish chain to buf, with case and punctuation
 * noise; *prev carries the chain across title and text. */
static void gen_words(kz_buf *buf, size_t n, int *prev)
{
    for (size_t i = 0; i < n; i++) {
        int w;
        double x = rnd01();
        if (*prev >= 0 && x < 0.25)
            w = succ[*prev];
        else if (*prev >= 0 && x < 0.30)
            w = *prev; /* repeated words: "war war war" */
        else
            w = pick_word();
        *prev = w;
        const char *sep = i == 0 ? "" : (rnd(12) == 0 ? ", " : rnd(20) == 0 ? ". " : " ");
        kz_buf_printf(buf, "%s", sep);
        const char *s = vocab[w].w;
        int style = (int)rnd(10);
        if (style == 0 && s[0] >= 'a' && s[0] <= 'z')
            kz_buf_printf(buf, "%c%s", s[0] - 32, s + 1);
        else if (style == 1) {
            for (const char *p = s; *p; p++)
                kz_buf_append_u8(buf, (uint8_t)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p));
        } else
            kz_buf_printf(buf, "%s", s);
        if (rnd(400) == 0)
            kz_buf_printf(buf, " Kasym-Žomart"); /* two tokens, kasym and zomart */
    }
}

/* n documents; lengths from short_min..short_max, a few long ones; titles on
 * a fraction of them. */
static void gen_corpus(corpus *c, const char *name, uint32_t n, uint32_t short_min, uint32_t short_max,
                       double long_p, double title_p, int odd_docs)
{
    corpus_begin(c, name);
    uint32_t planted = (uint32_t)rnd(n);
    for (uint32_t d = 0; d < n; d++) {
        kz_buf title = { 0 }, text = { 0 };
        int prev = -1;
        if (rnd01() < title_p)
            gen_words(&title, 1 + rnd(4), &prev);
        size_t len = short_min + rnd(short_max - short_min + 1);
        if (rnd01() < long_p)
            len = 200 + rnd(2800);
        if (odd_docs && d == 7) {
            /* A title and no text. */
            kz_buf_free(&title);
            kz_buf_printf(&title, "Russia and the steppe");
            len = 0;
        }
        gen_words(&text, len, &prev);
        if (d == planted)
            kz_buf_printf(&text, " zhanaozen"); /* a term in exactly one document */
        if (odd_docs && d == 11) {
            /* Text that analyses to nothing: dl 0. */
            kz_buf_free(&title);
            kz_buf_free(&text);
            kz_buf_printf(&text, "... — !!");
        }
        kz_buf_terminate(&title);
        kz_buf_terminate(&text);
        corpus_add(c, title.data ? (char *)title.data : "", text.data ? (char *)text.data : "");
        kz_buf_free(&title);
        kz_buf_free(&text);
    }
    corpus_finish(c);
}

/* ================================================================ query trees */

typedef enum nkind { N_TERM, N_PHRASE, N_PREFIX, N_SEQ, N_OR, N_NONE } nkind;
typedef enum occur { O_DEFAULT, O_MUST, O_SHOULD, O_NOT } occur;

#define MAX_EXP 512

typedef struct qn {
    nkind kind;
    occur occ;       /* how the parent takes it */
    int neg_word;    /* O_NOT rendered as "NOT x" rather than "-x" */
    int plus;        /* rendered with "+" */
    int and_before;  /* in a sequence: " AND " before it */
    int multi;       /* test parser: a bare word's several clauses, to splice */
    char text[160];  /* a word, a prefix (without "*"), or a quote's inside */
    int t[3], n_t;   /* stems of a term or phrase */
    int *exp, n_exp; /* a prefix's expansion: stems in dictionary order */
    struct qn **kids;
    int n_kids;
} qn;

#define POOL 4096
static qn pool[POOL];
static int n_pool;
static qn *kid_pool[POOL];
static int n_kid_pool;
static int exp_pool[POOL * 4];
static int n_exp_pool;

static void pool_reset(void)
{
    n_pool = 0;
    n_kid_pool = 0;
    n_exp_pool = 0;
}

static qn *new_node(nkind k)
{
    if (n_pool == POOL) {
        fprintf(stderr, "query pool exhausted\n");
        exit(2);
    }
    qn *n = &pool[n_pool++];
    memset(n, 0, sizeof *n);
    n->kind = k;
    return n;
}

static int cmp_stem_bytes(const void *x, const void *y)
{
    int a = *(const int *)x, b = *(const int *)y;
    size_t n = KZ_MIN(stem_len[a], stem_len[b]);
    int r = memcmp(stem_txt[a], stem_txt[b], n);
    if (r)
        return r;
    return stem_len[a] < stem_len[b] ? -1 : stem_len[a] > stem_len[b];
}

/* The dictionary's stems (df > 0 in c) that start with the folded prefix p,
 * in dictionary (byte) order. */
static int expand_prefix(const corpus *c, const char *p, int *out, int max)
{
    size_t pl = strlen(p);
    int n = 0;
    for (int s = 0; s < c->ns; s++)
        if (c->df[s] && stem_len[s] >= pl && memcmp(stem_txt[s], p, pl) == 0 && n < max)
            out[n++] = s;
    qsort(out, n, sizeof *out, cmp_stem_bytes);
    return n;
}

static qn *mk_term(const char *surface)
{
    qn *n = new_node(N_TERM);
    snprintf(n->text, sizeof n->text, "%s", surface);
    tokv t = { 0 };
    size_t k = analyse(surface, strlen(surface), &t);
    if (k != 1) {
        fprintf(stderr, "mk_term(%s): %zu tokens\n", surface, k);
        exit(2);
    }
    n->t[0] = t.v[0];
    n->n_t = 1;
    free(t.v);
    return n;
}

/* A case variant of a vocabulary word as a query word: never the upper-case
 * operators. */
static void query_surface(char *out, size_t cap, const char *w)
{
    int style = (int)rnd(8);
    int is_op = strcmp(w, "and") == 0 || strcmp(w, "or") == 0 || strcmp(w, "not") == 0;
    size_t i = 0;
    for (; w[i] && i + 1 < cap; i++) {
        char ch = w[i];
        if (ch >= 'a' && ch <= 'z' && ((style == 0 && i == 0) || (style == 1 && (!is_op || i == 0))))
            ch = (char)(ch - 32);
        out[i] = ch;
    }
    out[i] = 0;
}

static qn *gen_word(void)
{
    char s[64];
    if (rnd(25) == 0)
        snprintf(s, sizeof s, "zzzunknown");
    else
        query_surface(s, sizeof s, vocab[rnd(3) == 0 ? rnd(N_COMMON) : rnd(N_VOCAB)].w);
    return mk_term(s);
}

static qn *gen_phrase(void)
{
    qn *n = new_node(N_PHRASE);
    n->n_t = 2 + (int)rnd(2);
    int w = (int)rnd(N_COMMON + 4);
    char *p = n->text;
    size_t left = sizeof n->text;
    for (int i = 0; i < n->n_t; i++) {
        if (i) {
            double x = rnd01();
            w = x < 0.5 ? succ[w] : x < 0.65 ? w : (int)rnd(N_COMMON + 6);
        }
        n->t[i] = vocab[w].stem;
        char s[64];
        /* Inside quotes operators are words: "war OR peace" is a phrase. */
        int upper = rnd(6) == 0;
        size_t k = 0;
        for (const char *q = vocab[w].w; *q && k < sizeof s - 1; q++)
            s[k++] = upper && *q >= 'a' && *q <= 'z' ? (char)(*q - 32) : *q;
        s[k] = 0;
        const char *sep = i == 0 ? "" : rnd(8) == 0 ? ", " : rnd(8) == 0 ? " - " : " ";
        int m = snprintf(p, left, "%s%s", sep, s);
        p += m;
        left -= (size_t)m;
    }
    return n;
}

/* A prefix of a vocabulary word that expands to at least one term (an
 * empty expansion is tested on its own: test_prefixes). */
static qn *gen_prefix(const corpus *c)
{
    qn *n = new_node(N_PREFIX);
    size_t pl;
    do {
        const char *w;
        do
            w = vocab[rnd(N_VOCAB)].w;
        while (!(w[0] >= 'a' && w[0] <= 'z'));
        size_t wl = strlen(w);
        pl = 1 + rnd(wl);
        if (pl < 2 && wl >= 2 && rnd(3))
            pl = 2;
        memcpy(n->text, w, pl);
        n->text[pl] = 0;
        n->exp = &exp_pool[n_exp_pool];
        n->n_exp = expand_prefix(c, n->text, n->exp, MAX_EXP);
    } while (n->n_exp == 0);
    n_exp_pool += n->n_exp;
    if (rnd(4) == 0) /* folded: upper case gives the same prefix */
        for (size_t i = 0; i < pl; i++)
            if (n->text[i] >= 'a' && n->text[i] <= 'z')
                n->text[i] = (char)(n->text[i] - 32);
    return n;
}

static qn *gen_group(const corpus *c, int depth);

static void add_kid(qn *g, qn *k)
{
    if (g->n_kids == 8) {
        fprintf(stderr, "more than 8 clauses in a group\n");
        exit(2);
    }
    if (!g->kids) {
        g->kids = &kid_pool[n_kid_pool];
        n_kid_pool += 8;
        if (n_kid_pool > POOL) {
            fprintf(stderr, "kid pool exhausted\n");
            exit(2);
        }
    }
    g->kids[g->n_kids++] = k;
}

/* A sequence of 1..4 clauses, each plain, +, - or NOT, some joined by AND. */
static qn *gen_seq(const corpus *c, int depth)
{
    qn *g = new_node(N_SEQ);
    int n = 1 + (int)rnd(depth == 0 ? 4 : 3);
    for (int i = 0; i < n; i++) {
        qn *k;
        uint64_t x = rnd(100);
        if (x < 55)
            k = gen_word();
        else if (x < 75)
            k = gen_phrase();
        else if (x < 85)
            k = gen_prefix(c);
        else
            k = depth < 3 ? gen_group(c, depth + 1) : gen_word();
        uint64_t m = rnd(100);
        if (m < 60)
            k->occ = O_DEFAULT;
        else if (m < 75) {
            k->occ = O_MUST;
            k->plus = 1;
        } else {
            k->occ = O_NOT;
            k->neg_word = m >= 88;
        }
        if (i > 0 && k->occ != O_NOT && g->kids[i - 1]->occ != O_NOT && rnd(5) == 0) {
            k->and_before = 1;
            k->occ = O_MUST;
            g->kids[i - 1]->occ = O_MUST;
        }
        add_kid(g, k);
    }
    return g;
}

/* A group of one clause with its own +, - or NOT, "(+x)", "(NOT x)",
 * "-(NOT x)": the engine folds the clause into the parent with the
 * clause's occur instead of the group's (test_group_of_one; fixed in
 * 4faa90b). 0 leaves them out of the random queries, should that come
 * back and hide other disagreements. */
#define RANDOM_GROUPS_OF_ONE_MODIFIED 1

static qn *gen_group(const corpus *c, int depth)
{
    if (rnd(10) < 3) {
        qn *g = new_node(N_OR);
        int n = 2 + (int)rnd(2);
        for (int i = 0; i < n; i++) {
            qn *s = gen_seq(c, depth);
            s->occ = O_SHOULD;
            add_kid(g, s);
        }
        return g;
    }
    qn *g = gen_seq(c, depth);
    if (!RANDOM_GROUPS_OF_ONE_MODIFIED && g->n_kids == 1) {
        g->kids[0]->occ = O_DEFAULT;
        g->kids[0]->plus = 0;
        g->kids[0]->neg_word = 0;
    }
    return g;
}

static void render_inner(kz_buf *b, const qn *g);

static void render_node(kz_buf *b, const qn *n)
{
    switch (n->kind) {
    case N_TERM:
        kz_buf_printf(b, "%s", n->text);
        break;
    case N_PHRASE:
        if (rnd(5) == 0)
            kz_buf_printf(b, "\xE2\x80\x9C%s\xE2\x80\x9D", n->text); /* “…” */
        else
            kz_buf_printf(b, "\"%s\"", n->text);
        break;
    case N_PREFIX:
        kz_buf_printf(b, "%s*", n->text);
        break;
    case N_NONE:
        break;
    case N_OR:
    case N_SEQ:
        kz_buf_printf(b, "(%s", rnd(4) == 0 ? " " : "");
        render_inner(b, n);
        kz_buf_printf(b, "%s)", rnd(4) == 0 ? " " : "");
        break;
    }
}

/* A sequence is written bare: clauses with their +, - or NOT, some joined
 * by AND; an OR's alternatives are bare sequences. */
static void render_inner(kz_buf *b, const qn *g)
{
    if (g->kind == N_OR) {
        for (int i = 0; i < g->n_kids; i++) {
            if (i)
                kz_buf_printf(b, " OR ");
            render_inner(b, g->kids[i]);
        }
        return;
    }
    for (int i = 0; i < g->n_kids; i++) {
        const qn *k = g->kids[i];
        if (i)
            kz_buf_printf(b, "%s", k->and_before ? " AND " : rnd(8) ? " " : " \t ");
        if (k->occ == O_NOT)
            kz_buf_printf(b, "%s", k->neg_word ? "NOT " : "-");
        else if (k->plus)
            kz_buf_printf(b, "+");
        render_node(b, k);
    }
}

/* ================================================================ the reference */

typedef struct runit {
    int n;   /* 1: a term; 2-3: a phrase */
    int t[3];
} runit;

#define MAX_UNITS 1024

typedef struct rquery {
    const qn *root;
    runit u[MAX_UNITS];
    int n_units;
} rquery;

static void add_unit(rquery *q, int n, const int *t)
{
    for (int i = 0; i < q->n_units; i++)
        if (q->u[i].n == n && memcmp(q->u[i].t, t, n * sizeof *t) == 0)
            return;
    if (q->n_units == MAX_UNITS) {
        fprintf(stderr, "too many units\n");
        exit(2);
    }
    q->u[q->n_units].n = n;
    memcpy(q->u[q->n_units].t, t, n * sizeof *t);
    q->n_units++;
}

/* The scoring units: distinct terms and phrases not under a NOT, in query
 * order; a prefix gives its expansion's terms. */
static void collect_units(rquery *q, const qn *n, int under_not)
{
    under_not |= n->occ == O_NOT;
    switch (n->kind) {
    case N_TERM:
    case N_PHRASE:
        if (!under_not)
            add_unit(q, n->n_t, n->t);
        break;
    case N_PREFIX:
        if (!under_not)
            for (int i = 0; i < n->n_exp; i++)
                add_unit(q, 1, &n->exp[i]);
        break;
    case N_SEQ:
    case N_OR:
        for (int i = 0; i < n->n_kids; i++)
            collect_units(q, n->kids[i], under_not);
        break;
    case N_NONE:
        break;
    }
}

static int node_match(const corpus *c, uint32_t d, const qn *n, int and_mode)
{
    switch (n->kind) {
    case N_TERM:
        return tf_of(c, d, n->t[0]) > 0;
    case N_PHRASE:
        return phrase_tf(c, d, n->t, n->n_t) > 0;
    case N_PREFIX:
        for (int i = 0; i < n->n_exp; i++)
            if (tf_of(c, d, n->exp[i]))
                return 1;
        return 0;
    case N_OR:
        for (int i = 0; i < n->n_kids; i++)
            if (node_match(c, d, n->kids[i], and_mode))
                return 1;
        return 0;
    case N_SEQ: {
        /* Required clauses: all of them; else any optional one; exclusions
         * alone: every document without them. */
        int has_req = 0, req_ok = 1, has_opt = 0, opt_ok = 0;
        for (int i = 0; i < n->n_kids; i++) {
            const qn *k = n->kids[i];
            if (k->kind == N_NONE)
                continue;
            occur o = k->occ == O_DEFAULT ? (and_mode ? O_MUST : O_SHOULD) : k->occ;
            int m = node_match(c, d, k, and_mode);
            if (o == O_NOT) {
                if (m)
                    return 0;
            } else if (o == O_MUST) {
                has_req = 1;
                req_ok &= m;
            } else {
                has_opt = 1;
                opt_ok |= m;
            }
        }
        return has_req ? req_ok : has_opt ? opt_ok : 1;
    }
    case N_NONE:
        return 0;
    }
    return 0;
}

static double ref_idf(const corpus *c, int s)
{
    double df = df_of(c, s), n = c->n;
    if (df == 0)
        return 0;
    return log(1.0 + (n - df + 0.5) / (df + 0.5));
}

static double ref_w(double idf, double tf, double dl, double avgdl, double k1, double b)
{
    return idf * tf / (tf + k1 * ((1.0 - b) + b * dl / avgdl));
}

typedef struct ref_hit {
    uint32_t docid;
    double score;
} ref_hit;

static int cmp_hit(const void *x, const void *y)
{
    const ref_hit *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->docid < b->docid ? -1 : a->docid > b->docid;
}

/* A query prepared against a corpus: its units, their tf in every
 * document, the matches in both modes, and (for one k1, b) the ranking. */
typedef struct prep {
    const corpus *c;
    const char *qs;
    rquery q;
    uint32_t *utf;   /* n_units × N */
    double *uidf;
    uint8_t *m_and, *m_or;
    double k1, b;
    ref_hit *and_hits, *or_hits;
    size_t n_and, n_or;
    int units_checked;
    int units_any_order; /* a capped prefix: its terms' order is open */
    int umap[MAX_UNITS]; /* engine unit -> reference unit */
} prep;

static void prep_init(prep *p, const corpus *c, const qn *root, const char *qs)
{
    memset(p, 0, sizeof *p);
    p->c = c;
    p->qs = qs;
    p->q.root = root;
    collect_units(&p->q, root, 0);
    uint32_t n = c->n;
    p->utf = malloc(((size_t)p->q.n_units + 1) * n * sizeof *p->utf);
    p->uidf = malloc(((size_t)p->q.n_units + 1) * sizeof *p->uidf);
    for (int u = 0; u < p->q.n_units; u++) {
        const runit *ru = &p->q.u[u];
        double idf = 0;
        for (int i = 0; i < ru->n; i++)
            idf += ref_idf(c, ru->t[i]); /* a phrase: the sum, in order */
        p->uidf[u] = idf;
        for (uint32_t d = 0; d < n; d++)
            p->utf[(size_t)u * n + d] = ru->n == 1 ? tf_of(c, d, ru->t[0]) : phrase_tf(c, d, ru->t, ru->n);
    }
    p->m_and = malloc(n);
    p->m_or = malloc(n);
    for (uint32_t d = 0; d < n; d++) {
        p->m_and[d] = (uint8_t)node_match(c, d, root, 1);
        p->m_or[d] = (uint8_t)node_match(c, d, root, 0);
    }
    for (int u = 0; u < MAX_UNITS; u++)
        p->umap[u] = u;
    p->and_hits = malloc((n + 1) * sizeof *p->and_hits);
    p->or_hits = malloc((n + 1) * sizeof *p->or_hits);
    p->k1 = -1;
}

static double ref_score(const prep *p, uint32_t d, double k1, double b)
{
    const corpus *c = p->c;
    double s = 0;
    for (int u = 0; u < p->q.n_units; u++) {
        uint32_t tf = p->utf[(size_t)u * c->n + d];
        if (tf)
            s += ref_w(p->uidf[u], tf, c->docs[d].len, c->avgdl, k1, b);
    }
    return s;
}

static void prep_params(prep *p, double k1, double b)
{
    if (p->k1 == k1 && p->b == b)
        return;
    p->k1 = k1;
    p->b = b;
    p->n_and = p->n_or = 0;
    for (uint32_t d = 0; d < p->c->n; d++) {
        if (!p->m_and[d] && !p->m_or[d])
            continue;
        double s = ref_score(p, d, k1, b);
        if (p->m_and[d])
            p->and_hits[p->n_and++] = (ref_hit){ d, s };
        if (p->m_or[d])
            p->or_hits[p->n_or++] = (ref_hit){ d, s };
    }
    qsort(p->and_hits, p->n_and, sizeof *p->and_hits, cmp_hit);
    qsort(p->or_hits, p->n_or, sizeof *p->or_hits, cmp_hit);
}

static void prep_free(prep *p)
{
    free(p->utf);
    free(p->uidf);
    free(p->m_and);
    free(p->m_or);
    free(p->and_hits);
    free(p->or_hits);
}

static const char *mode_name(kz_mode m)
{
    return m == KZ_MODE_ALL ? "ALL" : m == KZ_MODE_ANY ? "ANY" : "AUTO";
}

static int rel_close(double a, double b, double tol)
{
    double den = fabs(b) > 0 ? fabs(b) : 1;
    return fabs(a - b) / den <= tol;
}

/* The units and terms of the results are the reference's. */
static void check_units(prep *p, const kz_results *r)
{
    if (p->units_checked)
        return;
    p->units_checked = 1;
    size_t nu = kz_results_unit_count(r);
    QCHECK(nu == (size_t)p->q.n_units, "%s: \"%s\": %zu units, reference %d", p->c->name, p->qs, nu,
           p->q.n_units);
    int in_order = 1;
    for (size_t i = 0; i < nu && i < (size_t)p->q.n_units; i++) {
        const kz_unit *u = kz_results_unit(r, i);
        /* The reference unit with these terms: the same index, or with
         * units_any_order any. */
        int match = -1;
        for (int k = p->units_any_order ? 0 : (int)i; k < (p->units_any_order ? p->q.n_units : (int)i + 1); k++) {
            const runit *ru = &p->q.u[k];
            int same = u && u->n_terms == (size_t)ru->n;
            for (int j = 0; same && j < ru->n; j++)
                same = strcmp(u->terms[j], stem_txt[ru->t[j]]) == 0;
            if (same) {
                match = k;
                break;
            }
        }
        in_order &= match == (int)i;
        const runit *ru = &p->q.u[match >= 0 ? match : (int)i];
        QCHECK(match >= 0, "%s: \"%s\": unit %zu is \"%s%s\" (%zu terms), reference \"%s%s%s%s%s\"", p->c->name,
               p->qs, i, u && u->n_terms ? u->terms[0] : "?", u && u->n_terms > 1 ? " ..." : "",
               u ? u->n_terms : 0, stem_txt[ru->t[0]], ru->n > 1 ? " " : "",
               ru->n > 1 ? stem_txt[ru->t[1]] : "", ru->n > 2 ? " " : "", ru->n > 2 ? stem_txt[ru->t[2]] : "");
        if (match < 0)
            continue;
        p->umap[i] = match;
        int all_found = 1;
        for (int j = 0; j < ru->n; j++)
            all_found &= df_of(p->c, ru->t[j]) > 0;
        if (all_found)
            QCHECK(rel_close(u->idf, p->uidf[match], 1e-12), "%s: \"%s\": unit %zu idf %.17g, reference %.17g",
                   p->c->name, p->qs, i, u->idf, p->uidf[match]);
    }
    if (!in_order && p->units_any_order && !g_quiet)
        fprintf(stderr, "  NOTE: \"%s\": the capped prefix's terms are units in another order than the "
                "dictionary's (first \"%s\")\n", p->qs, kz_results_unit(r, 0)->terms[0]);
    if (p->units_any_order)
        return; /* the terms' order follows the units' */
    /* Distinct terms of the units, in query order. */
    int terms[MAX_UNITS * 3], nt = 0;
    for (int i = 0; i < p->q.n_units; i++)
        for (int j = 0; j < p->q.u[i].n; j++) {
            int s = p->q.u[i].t[j], seen = 0;
            for (int k = 0; k < nt; k++)
                seen |= terms[k] == s;
            if (!seen)
                terms[nt++] = s;
        }
    size_t rt = kz_results_term_count(r);
    QCHECK(rt == (size_t)nt, "%s: \"%s\": %zu terms, reference %d", p->c->name, p->qs, rt, nt);
    for (size_t i = 0; i < rt && i < (size_t)nt; i++)
        QCHECK(strcmp(kz_results_term(r, i), stem_txt[terms[i]]) == 0, "%s: \"%s\": term %zu \"%s\", reference \"%s\"",
               p->c->name, p->qs, i, kz_results_term(r, i), stem_txt[terms[i]]);
}

/* Explains hit i: weights in unit order sum to the score exactly; tf, idf
 * and w are the brute force's. */
static void check_explain(prep *p, const kz_results *r, size_t i, double k1, double b)
{
    const corpus *c = p->c;
    const kz_hit *h = kz_results_hit(r, i);
    kz_explanation x;
    memset(&x, 0, sizeof x);
    int rc = kz_results_explain(&x, c->ix, r, i);
    QCHECK(rc == KZ_OK, "%s: \"%s\": explain hit %zu: %d %s", c->name, p->qs, i, rc, kz_last_error());
    if (rc)
        return;
    QCHECK(x.docid == h->docid, "%s: \"%s\": explain docid %u, hit %u", c->name, p->qs, x.docid, h->docid);
    QCHECK(x.score == h->score, "%s: \"%s\": explain score %.17g, hit %.17g", c->name, p->qs, x.score, h->score);
    QCHECK(x.dl == c->docs[h->docid].len, "%s: \"%s\": explain dl %u, reference %u", c->name, p->qs, x.dl,
           c->docs[h->docid].len);
    QCHECK(x.avgdl == c->avgdl && x.k1 == k1 && x.b == b, "%s: \"%s\": explain avgdl %.17g k1 %g b %g", c->name,
           p->qs, x.avgdl, x.k1, x.b);
    QCHECK(x.n_units == (size_t)p->q.n_units, "%s: \"%s\": explain %zu units, reference %d", c->name, p->qs,
           x.n_units, p->q.n_units);
    double sum = 0;
    for (size_t u = 0; u < x.n_units; u++)
        sum += x.units[u].weight;
    QCHECK(sum == h->score, "%s: \"%s\": doc %u: weights sum to %.17g, score %.17g", c->name, p->qs, h->docid,
           sum, h->score);
    for (size_t ui = 0; ui < x.n_units && ui < (size_t)p->q.n_units; ui++) {
        size_t u = (size_t)p->umap[ui];
        uint32_t tf = p->utf[u * c->n + h->docid];
        QCHECK(x.units[ui].tf == tf, "%s: \"%s\": doc %u unit %zu tf %u, reference %u", c->name, p->qs, h->docid,
               ui, x.units[ui].tf, tf);
        if (tf) {
            double w = ref_w(p->uidf[u], tf, c->docs[h->docid].len, c->avgdl, k1, b);
            QCHECK(rel_close(x.units[ui].idf, p->uidf[u], 1e-12),
                   "%s: \"%s\": doc %u unit %zu idf %.17g, reference %.17g", c->name, p->qs, h->docid, ui,
                   x.units[ui].idf, p->uidf[u]);
            QCHECK(rel_close(x.units[ui].weight, w, 1e-9), "%s: \"%s\": doc %u unit %zu w %.17g, reference %.17g",
                   c->name, p->qs, h->docid, ui, x.units[ui].weight, w);
            QCHECK(x.units[ui].weight == w && x.units[ui].idf == p->uidf[u],
                   "%s: \"%s\": doc %u unit %zu: w %.17g idf %.17g, reference %.17g %.17g: not the same bits", c->name,
                   p->qs, h->docid, ui, x.units[ui].weight, x.units[ui].idf, w, p->uidf[u]);
        } else {
            QCHECK(x.units[ui].weight == 0, "%s: \"%s\": doc %u unit %zu absent but w %.17g", c->name, p->qs,
                   h->docid, ui, x.units[ui].weight);
        }
    }
    kz_explanation_free(&x);
}

enum { VIA_SEARCH, VIA_PARSE, VIA_COUNT };

/* Runs the query in one mode with one k1, b, offset and limit, and compares
 * with the reference. k1 == 0 and b < 0 ask for the defaults. Returns 0 on
 * a mismatch. */
static int compare(prep *p, kz_mode mode, double k1, double b, uint32_t offset, uint32_t limit, int via,
                   int n_explain)
{
    const corpus *c = p->c;
    double ek1 = k1 == 0 ? 1.2 : k1, eb = b < 0 ? 0.75 : b;
    prep_params(p, ek1, eb);
    const ref_hit *exp;
    size_t n_exp;
    kz_mode used;
    if (mode == KZ_MODE_ALL || (mode == KZ_MODE_AUTO && p->n_and > 0)) {
        exp = p->and_hits, n_exp = p->n_and, used = KZ_MODE_ALL;
    } else {
        exp = p->or_hits, n_exp = p->n_or, used = KZ_MODE_ANY;
    }
    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
    o.mode = mode;
    o.k1 = k1;
    o.b = b;
    o.offset = offset;
    o.limit = limit;
    o.flags = via == VIA_COUNT ? KZ_SEARCH_COUNT_ONLY : 0;
    kz_results *r = NULL;
    int rc;
    if (via == VIA_PARSE) {
        kz_query *q = NULL;
        kz_syntax_error err;
        rc = kz_query_parse(&q, c->ix, p->qs, strlen(p->qs), 0, &err);
        if (rc == KZ_OK)
            rc = kz_query_run(&r, q, &o);
        kz_query_free(q);
    } else {
        rc = kz_search(&r, c->ix, p->qs, strlen(p->qs), &o);
    }
    QCHECK(rc == KZ_OK, "%s: \"%s\" %s: returned %d: %s", c->name, p->qs, mode_name(mode), rc, kz_last_error());
    if (rc)
        return 0;
    int ok = 1;
    uint64_t total = kz_results_total(r);
    ok &= total == n_exp;
    QCHECK(total == n_exp, "%s: \"%s\" %s: %llu matches, reference %zu", c->name, p->qs, mode_name(mode),
           (unsigned long long)total, n_exp);
    if (n_exp) {
        ok &= kz_results_mode(r) == used;
        QCHECK(kz_results_mode(r) == used, "%s: \"%s\" %s: mode %s used, reference %s", c->name, p->qs,
               mode_name(mode), mode_name(kz_results_mode(r)), mode_name(used));
    }
    uint32_t lim = limit ? limit : 10;
    size_t want = via == VIA_COUNT ? 0 : offset < n_exp ? KZ_MIN((size_t)lim, n_exp - offset) : 0;
    size_t got = kz_results_count(r);
    ok &= got == want;
    QCHECK(got == want, "%s: \"%s\" %s offset %u limit %u: %zu hits, reference %zu", c->name, p->qs, mode_name(mode),
           offset, lim, got, want);
    for (size_t i = 0; i < got && i < want; i++) {
        const kz_hit *h = kz_results_hit(r, i);
        const ref_hit *e = &exp[offset + i];
        int same = h->docid == e->docid && rel_close(h->score, e->score, 1e-9);
        if (!same) {
            ok = 0;
            /* Say whether this is a near tie ordered otherwise. */
            double other = NAN;
            for (size_t j = 0; j < n_exp; j++)
                if (exp[j].docid == h->docid)
                    other = exp[j].score;
            QCHECK(same, "%s: \"%s\" %s k1 %g b %g: hit %zu: doc %u score %.17g; reference doc %u score %.17g "
                   "(reference score of doc %u: %.17g)",
                   c->name, p->qs, mode_name(mode), ek1, eb, offset + i, h->docid, h->score, e->docid, e->score,
                   h->docid, other);
            break;
        }
        /* The README fixes the evaluation order (w as written, units added
         * in query order from 0): the very same double, where the units'
         * order is defined. */
        if (!p->units_any_order && h->score != e->score) {
            ok = 0;
            QCHECK(h->score == e->score, "%s: \"%s\" %s k1 %g b %g: hit %zu (doc %u): score %.17g, reference %.17g: "
                   "not the same bits", c->name, p->qs, mode_name(mode), ek1, eb, offset + i, h->docid, h->score,
                   e->score);
            break;
        }
    }
    if (via != VIA_COUNT && got)
        check_units(p, r);
    for (int k = 0; k < n_explain && got; k++)
        check_explain(p, r, (size_t)rnd(got), ek1, eb);
    kz_results_free(r);
    return ok;
}

/* Every comparison of one query. */
static int compare_all(prep *p, int k, int heavy)
{
    uint32_t n = p->c->n;
    int ok = 1;
    ok &= compare(p, KZ_MODE_ALL, 1.2, 0.75, 0, heavy ? n : 10, VIA_SEARCH, 2);
    ok &= compare(p, KZ_MODE_ANY, 1.2, 0.75, 0, heavy ? n : 10, VIA_SEARCH, 2);
    ok &= compare(p, KZ_MODE_AUTO, 1.2, 0.75, 0, heavy ? n : 10, VIA_SEARCH, 1);
    /* Small limits: where the pruning works. */
    ok &= compare(p, KZ_MODE_ALL, 1.2, 0.75, 0, 1 + (uint32_t)rnd(10), VIA_SEARCH, 0);
    ok &= compare(p, KZ_MODE_ANY, 0, -1, (uint32_t)rnd(5), 0, VIA_PARSE, 1);
    ok &= compare(p, KZ_MODE_AUTO, 1.2, 0.75, (uint32_t)rnd(30), 1 + (uint32_t)rnd(20), VIA_SEARCH, 0);
    /* Other k1 and b. */
    double k1 = k % 2 ? 0.9 : 2.0, b = k % 2 ? 0.4 : 0.0;
    kz_mode m = (kz_mode)rnd(3);
    ok &= compare(p, m, k1, b, (uint32_t)rnd(12), 1 + (uint32_t)rnd(25), VIA_PARSE, 2);
    ok &= compare(p, (kz_mode)((m + 1) % 3), k1, b, 0, heavy ? n : 20, VIA_SEARCH, 1);
    ok &= compare(p, (kz_mode)rnd(3), 1.2, 0.75, 0, 10, VIA_COUNT, 0);
    return ok;
}

/* Renders the tree and says whether the engine disagrees with the reference
 * on it (quietly), in any mode with the default k1, b or with k1, b. */
static int tree_fails(const corpus *c, qn *root, double k1, double b, kz_buf *qs)
{
    qs->len = 0;
    render_inner(qs, root);
    kz_buf_terminate(qs);
    prep p;
    prep_init(&p, c, root, (char *)qs->data);
    g_quiet = 1;
    g_quiet_failed = 0;
    p.units_checked = 1; /* the units are compared at the end */
    for (int m = 0; m < 3 && !g_quiet_failed; m++) {
        compare(&p, (kz_mode)m, 1.2, 0.75, 0, c->n, VIA_SEARCH, 0);
        compare(&p, (kz_mode)m, k1, b, 0, c->n, VIA_SEARCH, 0);
        compare(&p, (kz_mode)m, 1.2, 0.75, 0, 10, VIA_SEARCH, 0);
    }
    g_quiet = 0;
    prep_free(&p);
    return g_quiet_failed;
}

/* After removing clauses: a MUST clause that no AND touches any more is
 * written with "+", and no sequence starts with AND. */
static void normalise(qn *g)
{
    if (g->kind != N_SEQ && g->kind != N_OR)
        return;
    for (int i = 0; i < g->n_kids; i++) {
        qn *k = g->kids[i];
        if (i == 0)
            k->and_before = 0;
        normalise(k);
    }
    if (g->kind != N_SEQ)
        return;
    for (int i = 0; i < g->n_kids; i++) {
        qn *k = g->kids[i];
        int touched = k->and_before || (i + 1 < g->n_kids && g->kids[i + 1]->and_before);
        if (k->occ == O_MUST && !touched)
            k->plus = 1;
    }
}

/* Removes clauses, and replaces groups by their clauses, while the engine
 * still disagrees: the smallest failing query, for the report. */
static void shrink(const corpus *c, qn *root, double k1, double b)
{
    uint64_t saved_rng = g_rng; /* the queries after this one do not depend on it */
    kz_buf qs = { 0 };
    int changed = 1, rounds = 0;
    while (changed && rounds++ < 50) {
        changed = 0;
        for (int ni = 0; ni < n_pool && !changed; ni++) {
            qn *g = &pool[ni];
            if (g->kind != N_SEQ && g->kind != N_OR)
                continue;
            for (int i = 0; i < g->n_kids && !changed; i++) {
                if (g->n_kids > 1) {
                    qn *saved[64];
                    memcpy(saved, g->kids, g->n_kids * sizeof *saved);
                    int n = g->n_kids;
                    memmove(g->kids + i, g->kids + i + 1, (n - i - 1) * sizeof *g->kids);
                    g->n_kids--;
                    qn copy[64];
                    for (int j = 0; j < n; j++)
                        copy[j] = *saved[j];
                    normalise(root);
                    if (tree_fails(c, root, k1, b, &qs)) {
                        changed = 1;
                        break;
                    }
                    for (int j = 0; j < n; j++)
                        *saved[j] = copy[j];
                    memcpy(g->kids, saved, n * sizeof *saved);
                    g->n_kids = n;
                }
                /* A group clause in a sequence: try its first alternative
                 * or clause in its place. */
                qn *k = g->kids[i];
                if (g->kind == N_SEQ && (k->kind == N_SEQ || k->kind == N_OR) && k->n_kids >= 1) {
                    qn saved_k = *k, inner = *k->kids[0];
                    qn *first = k->kids[0];
                    if (first->kind == N_SEQ || first->kind == N_OR || first->occ == O_NOT)
                        continue;
                    *k = inner;
                    k->occ = saved_k.occ;
                    k->plus = saved_k.plus;
                    k->neg_word = saved_k.neg_word;
                    k->and_before = saved_k.and_before;
                    normalise(root);
                    if (tree_fails(c, root, k1, b, &qs)) {
                        changed = 1;
                        break;
                    }
                    *k = saved_k;
                    *first = inner;
                }
            }
        }
    }
    qs.len = 0;
    render_inner(&qs, root);
    kz_buf_terminate(&qs);
    fprintf(stderr, "  [seed %llu] %s: smallest disagreeing query: %s\n", (unsigned long long)g_seed, c->name,
            (char *)qs.data);
    g_quiet_print = 1;
    tree_fails(c, root, k1, b, &qs);
    g_quiet_print = 0;
    kz_buf_free(&qs);
    g_rng = saved_rng;
}

static void random_queries(corpus *c, int n_queries, int heavy_every)
{
    double t0 = now_s();
    int bad = 0, hits_seen = 0;
    for (int k = 0; k < n_queries; k++) {
        pool_reset();
        qn *root = gen_group(c, 0);
        root->occ = O_DEFAULT;
        kz_buf qs = { 0 };
        render_inner(&qs, root);
        kz_buf_terminate(&qs);
        prep p;
        prep_init(&p, c, root, (char *)qs.data);
        if (!compare_all(&p, k, k % heavy_every == 0)) {
            bad++;
            if (bad <= 8)
                shrink(c, root, k % 2 ? 0.9 : 2.0, k % 2 ? 0.4 : 0.0);
        }
        hits_seen += p.n_and > 0;
        prep_free(&p);
        kz_buf_free(&qs);
    }
    fprintf(stderr, "  %s: %d random queries, %d with AND matches, %d disagreeing, %.2f s\n", c->name, n_queries,
            hits_seen, bad, now_s() - t0);
}

/* ================================================================ the spec's grammar, read by the test

 * A second reading of the grammar in parse.c's header, for hand-written
 * queries (the random ones are trees first): words of one token, quotes,
 * prefixes, + - NOT AND OR and parentheses. What analyses to nothing drops
 * out, and so does a group left empty. */

typedef struct rparser {
    const corpus *c;
    const char *s;
    size_t pos, len;
} rparser;

static int r_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n'; }

static size_t r_quote(const rparser *p, size_t i)
{
    if (p->s[i] == '"')
        return 1;
    if (i + 2 < p->len && (unsigned char)p->s[i] == 0xE2 && (unsigned char)p->s[i + 1] == 0x80 &&
        ((unsigned char)p->s[i + 2] == 0x9C || (unsigned char)p->s[i + 2] == 0x9D))
        return 3;
    return 0;
}

static void r_skip(rparser *p)
{
    while (p->pos < p->len && r_space(p->s[p->pos]))
        p->pos++;
}

/* The next bare word (up to a space, a parenthesis or a quote). */
static size_t r_word_end(const rparser *p, size_t i)
{
    while (i < p->len && !r_space(p->s[i]) && p->s[i] != '(' && p->s[i] != ')' && !r_quote(p, i))
        i++;
    return i;
}

static int r_is_op(const rparser *p, const char *op)
{
    size_t n = strlen(op), e = r_word_end(p, p->pos);
    return e - p->pos == n && memcmp(p->s + p->pos, op, n) == 0;
}

static qn *r_or(rparser *p);

static qn *r_leaf(const char *text, size_t len, int prefix, int quoted, const corpus *c)
{
    tokv t = { 0 };
    size_t k = analyse(text, len, &t);
    qn *n;
    if (prefix) {
        n = new_node(N_PREFIX);
        snprintf(n->text, sizeof n->text, "%.*s", (int)len, text);
        /* folded, not stemmed: the test's prefixes are ASCII */
        for (char *q = n->text; *q; q++)
            if (*q >= 'A' && *q <= 'Z')
                *q = (char)(*q + 32);
        n->exp = &exp_pool[n_exp_pool];
        n->n_exp = expand_prefix(c, n->text, n->exp, MAX_EXP);
        n_exp_pool += n->n_exp;
    } else if (k == 0) {
        n = new_node(N_NONE);
    } else if (k > 1 && !quoted) {
        /* A bare word of several terms: each a clause of its own. */
        n = new_node(N_SEQ);
        n->multi = 1;
        for (size_t i = 0; i < k; i++) {
            qn *t1 = new_node(N_TERM);
            t1->t[0] = t.v[i];
            t1->n_t = 1;
            add_kid(n, t1);
        }
    } else {
        if (k > 3) {
            fprintf(stderr, "test parser: \"%.*s\" is more than 3 terms\n", (int)len, text);
            exit(2);
        }
        n = new_node(k == 1 ? N_TERM : N_PHRASE);
        n->n_t = (int)k;
        for (size_t i = 0; i < k; i++)
            n->t[i] = t.v[i];
        snprintf(n->text, sizeof n->text, "%.*s", (int)len, text);
    }
    free(t.v);
    return n;
}

static qn *r_primary(rparser *p)
{
    r_skip(p);
    size_t ql;
    if (p->s[p->pos] == '(') {
        p->pos++;
        qn *g = r_or(p);
        r_skip(p);
        if (p->pos >= p->len || p->s[p->pos] != ')') {
            fprintf(stderr, "test parser: ) expected in %s\n", p->s);
            exit(2);
        }
        p->pos++;
        return g;
    }
    if ((ql = r_quote(p, p->pos))) {
        size_t j = p->pos + ql, cl;
        while (j < p->len && !(cl = r_quote(p, j)))
            j++;
        qn *n = r_leaf(p->s + p->pos + ql, j - p->pos - ql, 0, 1, p->c);
        p->pos = j + cl;
        return n;
    }
    size_t e = r_word_end(p, p->pos), we = e;
    while (we > p->pos && p->s[we - 1] == '*')
        we--;
    int prefix = we < e && we > p->pos;
    qn *n = r_leaf(p->s + p->pos, (prefix ? we : e) - p->pos, prefix, 0, p->c);
    p->pos = e;
    return n;
}

static int r_at_operator_start(const rparser *p)
{
    char ch = p->s[p->pos];
    if (ch != '+' && ch != '-')
        return 0;
    if (p->pos + 1 >= p->len)
        return 0;
    char nx = p->s[p->pos + 1];
    return !r_space(nx) && nx != ')' && nx != '+' && nx != '-';
}

static qn *r_clause(rparser *p)
{
    r_skip(p);
    if (r_is_op(p, "NOT")) {
        p->pos += 3;
        qn *k = r_clause(p);
        if (k->multi) {
            for (int i = 0; i < k->n_kids; i++)
                k->kids[i]->occ = O_NOT;
            return k;
        }
        if (k->occ != O_DEFAULT) {
            /* NOT of a clause that is itself +x, -x or NOT x: the clause is a
             * group of one, which NOT excludes. */
            qn *g = new_node(N_SEQ);
            add_kid(g, k);
            k = g;
        }
        k->occ = O_NOT;
        return k;
    }
    if (r_at_operator_start(p)) {
        char ch = p->s[p->pos++];
        qn *k = r_primary(p);
        k->occ = ch == '+' ? O_MUST : O_NOT;
        if (k->multi)
            for (int i = 0; i < k->n_kids; i++)
                k->kids[i]->occ = k->occ;
        return k;
    }
    qn *k = r_primary(p);
    k->occ = O_DEFAULT;
    return k;
}

/* A group without clauses left drops out. */
static qn *r_prune(qn *g)
{
    int live = 0;
    for (int i = 0; i < g->n_kids; i++)
        live += g->kids[i]->kind != N_NONE;
    if (!live) {
        qn *n = new_node(N_NONE);
        return n;
    }
    return g;
}

static qn *r_seq(rparser *p)
{
    qn *g = new_node(N_SEQ);
    int and_pending = 0, last_from = 0;
    for (;;) {
        r_skip(p);
        if (p->pos >= p->len || p->s[p->pos] == ')' || r_is_op(p, "OR"))
            break;
        if (r_is_op(p, "AND")) {
            /* Its neighbours become required; an exclusion stays one. */
            p->pos += 3;
            for (int i = last_from; i < g->n_kids; i++)
                if (g->kids[i]->occ == O_DEFAULT)
                    g->kids[i]->occ = O_MUST;
            and_pending = 1;
            continue;
        }
        qn *k = r_clause(p);
        int from = g->n_kids;
        if (k->multi) {
            for (int i = 0; i < k->n_kids; i++)
                add_kid(g, k->kids[i]);
        } else {
            add_kid(g, k);
        }
        if (and_pending)
            for (int i = from; i < g->n_kids; i++)
                if (g->kids[i]->occ == O_DEFAULT)
                    g->kids[i]->occ = O_MUST;
        and_pending = 0;
        last_from = from;
    }
    return r_prune(g);
}

static qn *r_or(rparser *p)
{
    qn *first = r_seq(p);
    r_skip(p);
    if (!r_is_op(p, "OR"))
        return first;
    qn *g = new_node(N_OR);
    first->occ = O_SHOULD;
    add_kid(g, first);
    while (r_is_op(p, "OR")) {
        p->pos += 2;
        qn *k = r_seq(p);
        k->occ = O_SHOULD;
        add_kid(g, k);
        r_skip(p);
    }
    return r_prune(g);
}

static qn *ref_parse(const corpus *c, const char *q)
{
    rparser p = { c, q, 0, strlen(q) };
    qn *root = r_or(&p);
    root->occ = O_DEFAULT;
    return root;
}

/* A hand-written query, in every mode and setting, against the reference;
 * returns 0 on a disagreement. quiet: note it without failing. */
static int check_equiv(const corpus *c, const char *q, const char *ref_q, int quiet)
{
    pool_reset();
    qn *root = ref_parse(c, ref_q);
    prep p;
    prep_init(&p, c, root, q);
    if (quiet) {
        g_quiet = 1;
        g_quiet_failed = 0;
    }
    int ok = 1;
    for (int m = 0; m < 3; m++) {
        ok &= compare(&p, (kz_mode)m, 1.2, 0.75, 0, c->n, VIA_SEARCH, 1);
        ok &= compare(&p, (kz_mode)m, 1.2, 0.75, 0, 5, VIA_PARSE, 0);
        ok &= compare(&p, (kz_mode)m, 0.9, 0.4, 2, 7, VIA_SEARCH, 1);
        ok &= compare(&p, (kz_mode)m, 2.0, 0.0, 0, c->n, VIA_SEARCH, 1);
        ok &= compare(&p, (kz_mode)m, 2.0, 0.0, 0, 10, VIA_PARSE, 1);
        ok &= compare(&p, (kz_mode)m, 1.2, 0.75, 0, 10, VIA_SEARCH, 1);
        ok &= compare(&p, (kz_mode)m, 1.2, 0.75, 0, 1, VIA_SEARCH, 0);
        ok &= compare(&p, (kz_mode)m, 0.9, 0.4, 0, 10, VIA_SEARCH, 0);
        ok &= compare(&p, (kz_mode)m, 2.0, 0.0, 0, 3, VIA_SEARCH, 0);
    }
    if (quiet) {
        g_quiet = 0;
        ok = !g_quiet_failed;
    }
    prep_free(&p);
    return ok;
}

static int check_query(const corpus *c, const char *q, int quiet) { return check_equiv(c, q, q, quiet); }

/* For investigating: KZ_QPROBE="query" prints the engine's and the
 * reference's totals per mode on both corpora. */
static void probe(const corpus *c, const char *q)
{
    pool_reset();
    qn *root = ref_parse(c, q);
    prep p;
    prep_init(&p, c, root, q);
    prep_params(&p, 1.2, 0.75);
    fprintf(stderr, "%s: \"%s\": reference AND %zu, OR %zu, %d units\n", c->name, q, p.n_and, p.n_or, p.q.n_units);
    for (int m = 0; m < 3; m++) {
        kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
        o.mode = (kz_mode)m;
        o.limit = 3;
        kz_results *r;
        int rc = kz_search(&r, c->ix, q, strlen(q), &o);
        if (rc) {
            fprintf(stderr, "  %s: error %d %s\n", mode_name((kz_mode)m), rc, kz_last_error());
            continue;
        }
        fprintf(stderr, "  %s: total %llu, mode %s, units", mode_name((kz_mode)m),
                (unsigned long long)kz_results_total(r), mode_name(kz_results_mode(r)));
        for (size_t i = 0; i < kz_results_unit_count(r); i++) {
            const kz_unit *u = kz_results_unit(r, i);
            fprintf(stderr, " [");
            for (size_t j = 0; j < u->n_terms; j++)
                fprintf(stderr, "%s%s", j ? " " : "", u->terms[j]);
            fprintf(stderr, "]");
        }
        fprintf(stderr, "\n");
        kz_results_free(r);
    }
    int ok = check_query(c, q, 1);
    fprintf(stderr, "  full comparison: %s\n", ok ? "agrees" : "DISAGREES");
    prep_free(&p);
}

/* ================================================================ corpora used by the tests */

static corpus big, varied;

static void print_df_profile(const corpus *c)
{
    int over128 = 0, over4096 = 0, dense = 0, one = 0;
    for (int s = 0; s < c->ns; s++) {
        over128 += c->df[s] > 128;
        over4096 += c->df[s] > 4096;
        dense += c->df[s] > 4096 && c->df[s] < c->n * 6 / 10;
        one += c->df[s] == 1;
    }
    fprintf(stderr, "  %s: %u docs, %llu tokens, %d stems: %d with df > 128, %d with df > 4096 (%d of them 41-60%%), %d in one doc\n",
            c->name, c->n, (unsigned long long)c->tokens, c->ns, over128, over4096, dense, one);
}

static void setup_corpora(void)
{
    double t0 = now_s();
    gen_corpus(&big, "big", 10000, 4, 30, 0.005, 0.35, 0);
    print_df_profile(&big);
    gen_corpus(&varied, "varied", 1500, 1, 120, 0.02, 0.7, 1);
    print_df_profile(&varied);
    fprintf(stderr, "  corpora built in %.2f s\n", now_s() - t0);
}

/* ================================================================ the parser */

typedef struct syn_case {
    const char *q;
    uint32_t col, alt_col; /* alt_col: another defensible column, or 0 */
} syn_case;

/* The byte offset of the col-th character of a valid UTF-8 string. */
static size_t byte_of_column(const char *s, uint32_t col)
{
    size_t i = 0;
    uint32_t c = 1;
    while (s[i] && c < col) {
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        c++;
    }
    return i;
}

static void check_syntax_error(kz_index *ix, const char *q, size_t len, uint32_t col, uint32_t alt_col)
{
    kz_query *qq = NULL;
    kz_syntax_error err;
    memset(&err, 0, sizeof err);
    int rc = kz_query_parse(&qq, ix, q, len, 0, &err);
    CHECK_MSG(rc == KZ_ESYNTAX, "\"%.60s\": returned %d, not KZ_ESYNTAX", q, rc);
    CHECK_MSG(rc != KZ_ESYNTAX || err.column == col || (alt_col && err.column == alt_col),
              "\"%.60s\": error at column %u (%s), expected %u", q, err.column, err.message, col);
    if (rc == KZ_ESYNTAX && (err.column == col || err.column == alt_col)) {
        CHECK_MSG(err.byte == byte_of_column(q, err.column), "\"%.60s\": byte %zu for column %u", q, err.byte,
                  err.column);
        CHECK_MSG(err.message[0] != 0, "\"%.60s\": no message", q);
        char want[32];
        snprintf(want, sizeof want, "column %u", err.column);
        CHECK_MSG(strstr(kz_last_error(), want) != NULL, "\"%.60s\": last error \"%s\"", q, kz_last_error());
    }
    kz_query_free(qq);
    /* Without an error record, and through kz_search. */
    qq = NULL;
    CHECK_INT(kz_query_parse(&qq, ix, q, len, 0, NULL), KZ_ESYNTAX);
    kz_query_free(qq);
    kz_results *r = NULL;
    CHECK_INT(kz_search(&r, ix, q, len, NULL), KZ_ESYNTAX);
    kz_results_free(r);
}

static void test_syntax_errors(void)
{
    static const syn_case cases[] = {
        /* unclosed quote: at the quote */
        { "\"abc", 1, 0 },
        { "war \"peace oil", 5, 0 },
        { "état \"abc", 6, 0 },
        { "Žomart ёлка “war peace", 13, 0 },
        { "\"", 1, 0 },
        /* unclosed "(": at it */
        { "(war peace", 1, 0 },
        { "naïve (war", 7, 0 },
        { "((war) peace", 1, 0 },
        { "(", 1, 0 },
        /* stray ")" */
        { "war peace)", 10, 0 },
        { "ж ж)", 4, 0 },
        { ")", 1, 0 },
        { "(war)) peace", 6, 0 },
        { "war -)", 6, 0 },
        /* OR with nothing before or after */
        { "OR war", 1, 0 },
        { "war OR", 5, 0 },
        { "ä OR", 3, 0 },
        { "(OR war)", 2, 0 },
        { "(war OR)", 6, 0 },
        { "OR", 1, 0 },
        { "war OR OR peace", 5, 9 },
        { "war OR AND peace", 5, 8 },
        /* AND with nothing before or after, AND AND */
        { "AND war", 1, 0 },
        { "war AND", 5, 0 },
        { "é AND", 3, 0 },
        { "AND", 1, 0 },
        { "(AND war)", 2, 0 },
        { "war AND AND peace", 5, 9 },
        { "ĸ AND AND peace", 3, 7 },
        { "war AND OR peace", 5, 9 },
        { "war AND) peace", 5, 8 },
        /* NOT with nothing after */
        { "NOT", 1, 0 },
        { "war NOT", 5, 0 },
        { "(war NOT)", 6, 0 },
        { "war NOT OR peace", 5, 0 },
        { "war OR NOT", 8, 0 },
        { "NOT AND war", 1, 5 },
        /* + and - followed by an operator */
        { "+AND war", 1, 2 },
        { "-OR peace", 1, 2 },
        { "war +NOT peace", 5, 6 },
        { "war -AND", 5, 6 },
        { "+OR", 1, 2 },
        { "ёж +OR war", 4, 5 },
    };
    kz_index *ix = varied.ix;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_syntax_error(ix, cases[i].q, strlen(cases[i].q), cases[i].col, cases[i].alt_col);

    /* Nesting: 100 deep is fine and means what it says; 101 is an error at
     * the 101st parenthesis. */
    char q[1024];
    for (int depth = 99; depth <= 102; depth++) {
        for (int pre = 0; pre < 2; pre++) {
            size_t n = 0;
            if (pre)
                n += (size_t)sprintf(q + n, "é ");
            for (int k = 0; k < depth; k++)
                q[n++] = '(';
            n += (size_t)sprintf(q + n, "war peace");
            for (int k = 0; k < depth; k++)
                q[n++] = ')';
            q[n] = 0;
            if (depth <= 100) {
                kz_query *qq = NULL;
                CHECK_OK(kz_query_parse(&qq, ix, q, n, 0, NULL));
                kz_query_free(qq);
                if (!pre)
                    CHECK(check_equiv(&varied, q, "war peace", 0));
            } else {
                check_syntax_error(ix, q, n, (uint32_t)(101 + 2 * pre), 0);
            }
        }
    }
}

/* Queries that are not errors, each the same as a plainer one: checked
 * against the reference through the plainer one. */
static void test_not_errors(void)
{
    static const char *same[][2] = {
        /* lower-case and/or/not and other cases are words */
        { "russia and oil", "russia and oil" },
        { "war or peace", "war or peace" },
        { "not war", "not war" },
        { "Or peace", "or peace" },
        { "war And peace Not oil", "war and peace not oil" },
        { "aND war", "and war" },
        /* a lone dash, a lone plus: punctuation */
        { "war - peace", "war peace" },
        { "war + peace", "war peace" },
        { "war -", "war" },
        { "war +", "war" },
        { "war - - peace", "war peace" },
        /* c++ is c */
        { "c++", "c" },
        { "c++ war", "c war" },
        { "war c++", "war c" },
        /* quotes: empty ones drop out, curly ones are quotes, operators and
         * parentheses inside are words or nothing */
        { "\"\" war", "war" },
        { "war \"\"", "war" },
        { "war “” peace", "war peace" },
        { "\"  ,, \" war", "war" },
        { "“war peace”", "\"war peace\"" },
        { "“war peace” oil", "\"war peace\" oil" },
        { "\"war OR peace\"", "\"war or peace\"" },
        { "\"war (peace\"", "\"war peace\"" },
        { "\"war -peace\"", "\"war peace\"" },
        { "\"WAR\"", "war" },
        { "-\"war\" peace", "-war peace" },
        /* a word of two terms: two clauses */
        { "Kasym-Žomart", "kasym zomart" },
        { "war Kasym-Žomart", "war kasym zomart" },
        /* whitespace of every kind */
        { " \t war \n\r peace \f\v ", "war peace" },
        /* empty groups drop out */
        { "war () peace", "war peace" },
        { "war OR ()", "war" },
        { "war ( ,, ) peace", "war peace" },
        { "war (\"\") peace", "war peace" },
        /* a star alone, a word of stars, stars after punctuation */
        { "war * peace", "war peace" },
        { "war *** peace", "war peace" },
        /* invalid UTF-8 is U+FFFD: not a letter, so it separates words */
        { "war\xFFpeace", "war peace" },
        { "war \xFF\xFE peace", "war peace" },
        { "\"war\xC0\xAFpeace\"", "\"war peace\"" },
        { "war \xC3", "war" },
        { "war \xE2\x80", "war" },
        { "\xED\xA0\x80 war", "war" }, /* an encoded surrogate */
        { "war \xF4\x90\x80\x80", "war" }, /* above U+10FFFF */
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        int ok = check_equiv(&varied, same[i][0], same[i][1], 0);
        ok &= check_equiv(&big, same[i][0], same[i][1], 0);
        CHECK_MSG(ok, "\"%s\" is not the same as \"%s\"", same[i][0], same[i][1]);
    }

    /* Nothing but punctuation, or nothing at all: no error, no hits. */
    static const char *nothing[] = { "", "   ", "!!! ... ,,,", "()", "(( ))", "\"\"", "“”", "- + *", "\xFF\xFE",
                                     "( \"\" ) OR ( ... )", "— … ¿¡" };
    for (size_t i = 0; i < sizeof nothing / sizeof nothing[0]; i++)
        for (int m = 0; m < 3; m++) {
            kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
            o.mode = (kz_mode)m;
            kz_results *r = NULL;
            int rc = kz_search(&r, big.ix, nothing[i], strlen(nothing[i]), &o);
            CHECK_MSG(rc == KZ_OK, "\"%s\": returned %d: %s", nothing[i], rc, kz_last_error());
            if (r) {
                CHECK_MSG(kz_results_total(r) == 0 && kz_results_count(r) == 0, "\"%s\": %llu hits", nothing[i],
                          (unsigned long long)kz_results_total(r));
                CHECK_INT(kz_results_unit_count(r), 0);
            }
            kz_results_free(r);
        }

    /* Exclusions alone: every other document, all scoring 0, by docid. */
    CHECK(check_query(&big, "-war", 0));
    CHECK(check_query(&varied, "NOT \"war peace\" -oil", 0));
    CHECK(check_query(&varied, "-zzzunknown", 0));

    /* KZ_QUERY_PLAIN: no operators, every word a plain term. */
    static const char *plain[][2] = {
        { "\"war peace\" -oil OR (russia", "war peace oil or russia" },
        { "+war AND peace NOT", "war and peace not" },
        { "war* ) (", "war" },
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        kz_query *qq = NULL;
        kz_query *qr = NULL;
        kz_syntax_error err;
        CHECK_OK(kz_query_parse(&qq, varied.ix, plain[i][0], strlen(plain[i][0]), KZ_QUERY_PLAIN, &err));
        CHECK_OK(kz_query_parse(&qr, varied.ix, plain[i][1], strlen(plain[i][1]), 0, &err));
        for (int m = 0; qq && qr && m < 3; m++) {
            kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
            o.mode = (kz_mode)m;
            o.limit = 50;
            kz_results *a = NULL, *b = NULL;
            CHECK_OK(kz_query_run(&a, qq, &o));
            CHECK_OK(kz_query_run(&b, qr, &o));
            if (a && b) {
                int same_hits = kz_results_total(a) == kz_results_total(b) && kz_results_count(a) == kz_results_count(b);
                for (size_t h = 0; same_hits && h < kz_results_count(a); h++)
                    same_hits = kz_results_hit(a, h)->docid == kz_results_hit(b, h)->docid &&
                                kz_results_hit(a, h)->score == kz_results_hit(b, h)->score;
                CHECK_MSG(same_hits, "plain \"%s\" is not \"%s\" in mode %d", plain[i][0], plain[i][1], m);
            }
            kz_results_free(a);
            kz_results_free(b);
        }
        kz_query_free(qq);
        kz_query_free(qr);
    }
    /* And in plain mode there are no syntax errors. */
    static const char *bad[] = { "(", ")", "\"", "OR", "a AND", "NOT" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kz_query *qq = NULL;
        CHECK_OK(kz_query_parse(&qq, varied.ix, bad[i], strlen(bad[i]), KZ_QUERY_PLAIN, NULL));
        kz_query_free(qq);
    }
}

/* Runs one hostile query through kz_search in the first `modes` modes (AUTO,
 * ALL, ANY), in a child process so that a crash is one failure rather than
 * the end of the suite: no crash, KZ_OK or KZ_ESYNTAX, and quickly.
 * Returns the seconds it took. */
static double hostile(kz_index *ix, const char *what, const char *q, size_t len, int modes)
{
    fflush(stdout);
    fflush(stderr);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        int bad = 0;
        for (int m = 0; m < modes; m++) {
            kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
            o.mode = (kz_mode)m;
            kz_results *r = NULL;
            int rc = kz_search(&r, ix, q, len, &o);
            if (rc != KZ_OK && rc != KZ_ESYNTAX) {
                fprintf(stderr, "%s: returned %d: %s\n", what, rc, kz_last_error());
                bad = 1;
            }
            if ((rc == KZ_OK) != (r != NULL)) {
                fprintf(stderr, "%s: rc %d and results %p\n", what, rc, (void *)r);
                bad = 1;
            }
            kz_results_free(r);
            if (rc == KZ_ESYNTAX && m == 0) {
                kz_query *qq = NULL;
                kz_syntax_error err;
                memset(&err, 0, sizeof err);
                if (kz_query_parse(&qq, ix, q, len, 0, &err) != KZ_ESYNTAX || err.column < 1 ||
                    err.column > len + 1) {
                    fprintf(stderr, "%s: parse and search disagree, or column %u\n", what, err.column);
                    bad = 1;
                }
                kz_query_free(qq);
            }
        }
        _exit(bad);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    double t = now_s() - t0;
    if (WIFSIGNALED(st))
        CHECK_MSG(0, "%s (%zu bytes): crashed with signal %d", what, len, WTERMSIG(st));
    else
        CHECK_MSG(WEXITSTATUS(st) == 0, "%s (%zu bytes): failed or crashed (exit status %d)", what, len,
                  WEXITSTATUS(st));
    /* A second or two is the bound asked for; ten is a hang. */
    double limit = 2.0 * SLOW_FACTOR * modes;
    if (t > limit)
        fprintf(stderr, "  SLOW: %s took %.2f s (bound %.1f s)\n", what, t, limit);
    CHECK_MSG(t < 10.0 * SLOW_FACTOR * modes, "%s: %.2f s", what, t);
    return t;
}

static void test_hostile(void)
{
    kz_index *ix = big.ix;
    size_t cap = 1u << 21;
    char *q = malloc(cap + 1);
    size_t n;
    /* 100,000 random bytes, several ways. */
    static const char *alphabets[] = {
        NULL, /* any byte */
        "()\"*+- \t", "ab ()\"*+-", "a ", "ab(", "ab)", "\"a",
    };
    static const char *pieces[] = { "war", "peace", "russ*", "AND", "OR", "NOT", "(", ")", "\"", "+", "-", "*",
                                    "“", "”", "é", "Ж", "\xFF", "\xE2\x80", " ", "  ", "c++", "-(", "+(" };
    char what[96];
    double worst = 0, t;
    for (int v = 0; v < 10; v++) {
        n = 100000;
        if (v < 7) {
            const char *al = alphabets[v];
            for (size_t i = 0; i < n; i++)
                q[i] = al ? al[rnd(strlen(al))] : (char)rnd(256);
        } else {
            /* Pieces of the language, so that parsing goes deep. */
            size_t i = 0;
            while (i < n) {
                const char *pc = pieces[rnd(sizeof pieces / sizeof pieces[0])];
                size_t pl = strlen(pc);
                if (i + pl + 1 > n)
                    break;
                memcpy(q + i, pc, pl);
                i += pl;
                if (rnd(3))
                    q[i++] = ' ';
            }
            n = i;
        }
        q[n] = 0;
        snprintf(what, sizeof what, "100,000 random bytes (variant %d)", v);
        t = hostile(ix, what, q, n, 1);
        worst = t > worst ? t : worst;
    }
    /* 100 KB of random short words. */
    n = 0;
    while (n < 100000 - 4) {
        size_t wl = 1 + rnd(3);
        for (size_t k = 0; k < wl; k++)
            q[n++] = (char)('a' + rnd(26));
        q[n++] = ' ';
    }
    q[n] = 0;
    t = hostile(ix, "100 KB of random short words", q, n, 1);
    fprintf(stderr, "  100 KB of random short words: %.2f s\n", t);
    /* Long runs of one operator. */
    struct {
        const char *unit, *name;
        size_t times;
    } runs[] = {
        { "NOT ", "NOT x 1,000", 1000 }, { "NOT ", "NOT x 20,000", 20000 }, { "NOT ", "NOT x 100,000", 100000 },
        { "NOT ", "NOT x 200,000", 200000 }, { "(", "( x 100,000", 100000 }, { ")", ") x 100,000", 100000 },
        { "\"", "\" x 100,001", 100001 },   { "-", "- x 100,000", 100000 }, { "+(", "+( x 50,000", 50000 },
        { "-(", "-( x 50,000", 50000 },     { "NOT (", "NOT ( x 50,000", 50000 },
        { "AND ", "AND x 100,000", 100000 }, { "OR ", "OR x 100,000", 100000 }, { "* ", "* x 100,000", 100000 },
        { "\"\" ", "\"\" x 100,000", 100000 }, { "() ", "() x 100,000", 100000 },
    };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        n = 0;
        size_t ul = strlen(runs[r].unit);
        for (size_t k = 0; k < runs[r].times && n + ul < cap - 8; k++) {
            memcpy(q + n, runs[r].unit, ul);
            n += ul;
        }
        n += (size_t)sprintf(q + n, "war");
        t = hostile(ix, runs[r].name, q, n, 3);
        worst = t > worst ? t : worst;
    }
    /* Over the limits: a clean error, not a crash. */
    memset(q, 'a', (1u << 20) + 1);
    n = (1u << 20) + 1;
    {
        kz_results *r = NULL;
        int rc = kz_search(&r, ix, q, n, NULL);
        CHECK_MSG(rc == KZ_ELIMIT, "a query of 1 MiB + 1 byte: returned %d", rc);
        kz_results_free(r);
    }
    n = 0;
    for (int k = 0; k < 70000; k++)
        n += (size_t)sprintf(q + n, "w%05d ", k);
    if (getenv("KZ_TEST_SLOW")) { /* some 30 s: parsing is quadratic (see the report) */
        kz_results *r = NULL;
        double t0 = now_s();
        int rc = kz_search(&r, ix, q, n, NULL);
        t = now_s() - t0;
        CHECK_MSG(rc == KZ_ELIMIT, "70,000 terms: returned %d", rc);
        kz_results_free(r);
    }
    fprintf(stderr, "  hostile queries: slowest %.2f s\n", worst);
    free(q);
}

/* Very long queries: 10,000 words, against the reference. */
static void test_long_queries(void)
{
    const corpus *c = &varied;
    size_t cap = 1000000;
    char *q = malloc(cap);
    for (int variant = 0; variant < 2; variant++) {
        pool_reset();
        qn *root = new_node(N_SEQ);
        root->kids = malloc(10000 * sizeof *root->kids);
        qn *leaf[N_VOCAB]; /* one leaf per word, shared by its occurrences */
        for (int w = 0; w < N_VOCAB; w++) {
            leaf[w] = new_node(N_TERM);
            leaf[w]->n_t = 1;
            leaf[w]->t[0] = vocab[w].stem;
        }
        size_t n = 0;
        for (int k = 0; k < 10000; k++) {
            int w = (int)(variant == 0 ? rnd(N_VOCAB) : N_VOCAB - 1 - rnd(8));
            root->kids[root->n_kids++] = leaf[w];
            n += (size_t)snprintf(q + n, cap - n, "%s%s", k ? " " : "", vocab[w].w);
        }
        prep p;
        prep_init(&p, c, root, q);
        double t0 = now_s();
        int ok = compare(&p, KZ_MODE_ANY, 1.2, 0.75, 0, 20, VIA_SEARCH, 2);
        ok &= compare(&p, KZ_MODE_AUTO, 1.2, 0.75, 0, c->n, VIA_PARSE, 2);
        ok &= compare(&p, KZ_MODE_ALL, 0.9, 0.4, 3, 10, VIA_SEARCH, 1);
        double t = (now_s() - t0) / 3;
        CHECK_MSG(ok, "10,000-word query %d disagrees", variant);
        if (t > 2.0 * SLOW_FACTOR)
            fprintf(stderr, "  SLOW: 10,000-word query: %.2f s\n", t);
        CHECK_MSG(t < 10.0 * SLOW_FACTOR, "10,000 words: %.2f s a search", t);
        prep_free(&p);
        free(root->kids);
    }
    /* 10,000 distinct words none of the documents has: nothing, quickly. */
    size_t n = 0;
    for (int k = 0; k < 10000; k++)
        n += (size_t)snprintf(q + n, cap - n, "%sq%05dz", k ? " " : "", k);
    double t = hostile(c->ix, "10,000 distinct unknown words", q, n, 1);
    fprintf(stderr, "  10,000 distinct words: %.2f s\n", t);
    /* 10,000 alternatives: the same as 10,000 words in OR mode. */
    n = 0;
    size_t m = 0;
    char *flat = malloc(cap);
    for (int k = 0; k < 10000; k++) {
        const char *w = vocab[rnd(N_VOCAB)].w;
        n += (size_t)snprintf(q + n, cap - n, "%s%s", k ? " OR " : "", w);
        m += (size_t)snprintf(flat + m, cap - m, "%s%s", k ? " " : "", w);
    }
    t = hostile(c->ix, "10,000 alternatives", q, n, 1);
    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
    o.mode = KZ_MODE_ALL;
    o.limit = 30;
    kz_results *a = NULL, *b = NULL;
    CHECK_OK(kz_search(&a, c->ix, q, n, &o));
    o.mode = KZ_MODE_ANY;
    CHECK_OK(kz_search(&b, c->ix, flat, m, &o));
    if (a && b) {
        int same_hits = kz_results_total(a) == kz_results_total(b) && kz_results_count(a) == kz_results_count(b);
        for (size_t h = 0; same_hits && h < kz_results_count(a); h++)
            same_hits = kz_results_hit(a, h)->docid == kz_results_hit(b, h)->docid &&
                        rel_close(kz_results_hit(a, h)->score, kz_results_hit(b, h)->score, 1e-9);
        CHECK_MSG(same_hits, "10,000 alternatives are not 10,000 words in OR mode");
    }
    kz_results_free(a);
    kz_results_free(b);
    free(flat);
    /* The limit: 65,536 words are a query, one more is not (the README
     * promised 65,536 and the parser refused them, counting the group of
     * the whole query). Parsing only. */
    for (int words = 65536; words <= 65537; words++) {
        n = 0;
        for (int k = 0; k < words; k++)
            n += (size_t)snprintf(q + n, cap - n, "%sw%d", k ? " " : "", k % 50);
        kz_query *pq = NULL;
        int rc = kz_query_parse(&pq, c->ix, q, n, 0, NULL);
        CHECK_MSG(rc == (words == 65536 ? KZ_OK : KZ_ELIMIT), "%d words: %d (%s)", words, rc, kz_last_error());
        kz_query_free(pq);
    }
    /* 60,000 distinct words: inside the limits (1 MiB, 65,536 terms). Only
     * timed, with KZ_TEST_SLOW set: some 30 s while parsing is quadratic. */
    if (!getenv("KZ_TEST_SLOW")) {
        free(q);
        return;
    }
    n = 0;
    for (int k = 0; k < 60000; k++)
        n += (size_t)snprintf(q + n, cap - n, "%sq%05dz", k ? " " : "", k);
    double t0 = now_s();
    kz_results *r = NULL;
    int rc = kz_search(&r, c->ix, q, n, NULL);
    t = now_s() - t0;
    CHECK_MSG(rc == KZ_OK, "60,000 words: returned %d: %s", rc, kz_last_error());
    kz_results_free(r);
    fprintf(stderr, "  60,000 distinct words (inside the limits): %.2f s%s\n", t, t > 2.0 * SLOW_FACTOR ? "  SLOW" : "");
    free(q);
}

/* ================================================================ prefixes */

static void test_prefixes(void)
{
    /* Expansion to the stems that start with the folded, unstemmed prefix,
     * each a term: units in dictionary order, hits and scores as the
     * reference's. */
    static const char *qs[] = {
        "pri*", "tra*", "RUSS*", "Russ*", "k*", "kazakh*", "mar*", "war*", "pric*", "w*", "t*", "russia*",
        "pri* war", "+kaz* -price*", "\"war peace\" pri*", "tr* OR kaz*", "-pri*", "NOT russian* peace",
        "(pri* mar*) OR tra*", "t* AND w*", "2*", "c*",
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        CHECK_MSG(check_query(&big, qs[i], 0), "%s on big", qs[i]);
        CHECK_MSG(check_query(&varied, qs[i], 0), "%s on varied", qs[i]);
    }
    /* The prefix is not stemmed: "prices*" starts no stem (price), and
     * "russians*" none (russian); "pricing*" none (price). */
    static const char *none[] = { "prices*", "russians*", "pricing*", "zzq*", "steppe*" };
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
        for (int m = 0; m < 3; m++) {
            o.mode = (kz_mode)m;
            kz_results *r = NULL;
            CHECK_OK(kz_search(&r, big.ix, none[i], strlen(none[i]), &o));
            if (r)
                CHECK_MSG(kz_results_total(r) == 0, "%s matches %llu documents", none[i],
                          (unsigned long long)kz_results_total(r));
            kz_results_free(r);
        }
        /* With another word: nothing in AND mode, the word in OR mode, and
         * AUTO falls back. Matches and scores only: the units are looked at
         * below. */
        char q[64];
        snprintf(q, sizeof q, "%s war", none[i]);
        pool_reset();
        qn *root = ref_parse(&big, q);
        prep p;
        prep_init(&p, &big, root, q);
        p.units_checked = 1;
        CHECK_MSG(p.n_and == 0, "reference");
        int ok = 1;
        for (int m = 0; m < 3; m++) {
            ok &= compare(&p, (kz_mode)m, 1.2, 0.75, 0, big.n, VIA_SEARCH, 0);
            ok &= compare(&p, (kz_mode)m, 1.2, 0.75, 0, 10, VIA_SEARCH, 0);
        }
        CHECK_MSG(ok, "\"%s\"", q);
        prep_free(&p);
    }
    /* An empty expansion gives no scoring unit (REPORTED, not failed: the
     * engine keeps the prefix itself as a term that is not in the index). */
    {
        kz_results *r = NULL;
        kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
        o.mode = KZ_MODE_ANY;
        CHECK_OK(kz_search(&r, big.ix, "zzq* war", 8, &o));
        if (r && kz_results_unit_count(r) != 1)
            fprintf(stderr, "  NOTE: \"zzq* war\" has %zu scoring units (first \"%s\"); the reference has 1 (war)\n",
                    kz_results_unit_count(r), kz_results_unit(r, 0)->terms[0]);
        kz_results_free(r);
    }
}

/* More than KZ_PREFIX_MAX_TERMS terms start with the prefix: the most
 * frequent of them, with a note. */
static void test_prefix_cap(void)
{
    corpus c;
    corpus_begin(&c, "prefix");
    /* Terms zq000 .. zq299; zqK is in K+1 documents (distinct frequencies),
     * each once; and documents of other words. */
    enum { TERMS = 300, DOCS = 400 };
    for (int d = 0; d < DOCS; d++) {
        kz_buf text = { 0 };
        kz_buf_printf(&text, "war");
        for (int k = 0; k < TERMS; k++)
            if (d <= k && (d * 7 + k) % 3 != 5)
                kz_buf_printf(&text, " zq%03d", k);
        if (d % 5 == 0)
            kz_buf_printf(&text, " peace zq%03d", d % 17 == 0 ? 1 : 0); /* a low one again here and there */
        kz_buf_terminate(&text);
        corpus_add(&c, d % 4 == 0 ? "ZQ299 title" : "", (char *)text.data);
        kz_buf_free(&text);
    }
    corpus_finish(&c);
    int all[TERMS + 8];
    int n_all = expand_prefix(&c, "zq", all, TERMS + 8);
    CHECK_INT(n_all, TERMS);
    /* The most frequent KZ_PREFIX_MAX_TERMS, in dictionary order. */
    int keep[TERMS + 8], n_keep = 0;
    for (int i = 0; i < n_all; i++) {
        int higher = 0;
        for (int j = 0; j < n_all; j++)
            higher += c.df[all[j]] > c.df[all[i]];
        if (higher < KZ_PREFIX_MAX_TERMS)
            keep[n_keep++] = all[i];
    }
    CHECK_INT(n_keep, KZ_PREFIX_MAX_TERMS); /* no ties at the cut */
    const char *queries[] = { "zq*", "ZQ*", "zq* war", "+zq* peace", "peace zq*" };
    for (size_t qi = 0; qi < sizeof queries / sizeof queries[0]; qi++) {
        const char *q = queries[qi];
        pool_reset();
        qn *root = ref_parse(&c, q);
        /* The prefix node of the reference keeps only the capped terms. */
        for (int i = 0; i < n_pool; i++)
            if (pool[i].kind == N_PREFIX) {
                pool[i].exp = keep;
                pool[i].n_exp = n_keep;
            }
        prep p;
        prep_init(&p, &c, root, q);
        p.units_any_order = 1;
        int ok = 1;
        for (int m = 0; m < 3; m++) {
            ok &= compare(&p, (kz_mode)m, 1.2, 0.75, 0, c.n, VIA_SEARCH, 3);
            ok &= compare(&p, (kz_mode)m, 0.9, 0.4, 1, 10, VIA_PARSE, 1);
        }
        CHECK_MSG(ok, "\"%s\" over %d terms", q, TERMS);
        prep_free(&p);
        /* The note. */
        kz_query *qq = NULL;
        CHECK_OK(kz_query_parse(&qq, c.ix, q, strlen(q), 0, NULL));
        if (qq) {
            int found = 0;
            for (size_t i = 0; i < kz_query_note_count(qq); i++) {
                const char *note = kz_query_note(qq, i);
                found |= note && strstr(note, "300") && strstr(note, "256") && strstr(note, "zq");
            }
            CHECK_MSG(found, "\"%s\": no note saying 300 terms, the 256 most frequent (%zu notes%s%s)", q,
                      kz_query_note_count(qq), kz_query_note_count(qq) ? ": " : "",
                      kz_query_note_count(qq) ? kz_query_note(qq, 0) : "");
        }
        kz_query_free(qq);
    }
    /* Under the cap: all of them, and no note. */
    const char *q = "zq1*";
    CHECK(check_query(&c, q, 0));
    kz_query *qq = NULL;
    CHECK_OK(kz_query_parse(&qq, c.ix, q, strlen(q), 0, NULL));
    if (qq)
        CHECK_INT(kz_query_note_count(qq), 0);
    kz_query_free(qq);
    corpus_free(&c);
}

/* ================================================================ known disagreements */

/* A group of one clause is a group: "(+x)" requires x inside it and is
 * itself a juxtaposed clause (optional in OR mode); "(NOT x)" is a group of
 * exclusions alone, matching every document without x; "-(NOT x)" excludes
 * those, leaving the documents with x. */
static void test_group_of_one(void)
{
    static const char *qs[] = {
        "peace (+war)",    "(+war) peace",   "war (NOT price)", "(-oil) and",       "-(NOT peace)",
        "NOT (NOT market)", "+war (NOT war)", "(-p*) prize",     "+war (+russia)",   "(\"war peace\" -oil) OR (-gas)",
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        int ok = check_query(&varied, qs[i], 1);
        CHECK_MSG(ok, "\"%s\" disagrees with the reference (varied corpus)", qs[i]);
    }
    /* The plainest: the documents that have peace. */
    kz_results *r = NULL;
    CHECK_OK(kz_search(&r, varied.ix, "-(NOT peace)", 12, NULL));
    int peace = word_stem("peace");
    if (r)
        CHECK_MSG(kz_results_total(r) == df_of(&varied, peace), "-(NOT peace): %llu documents, %u have peace",
                  (unsigned long long)kz_results_total(r), df_of(&varied, peace));
    kz_results_free(r);
}

/* Repeated clauses are merged before evaluation ("of the" a thousand
 * times took 30 s on wikipedia-en): the same hits and scores as the
 * reference gives the query as written and with each repeat left out,
 * and one child where there were many. */
static void test_repeated_clauses(void)
{
    static const char *qs[][2] = {
        { "\"war peace\" \"war peace\" \"war peace\"", "\"war peace\"" },
        { "(war peace) oil (war peace)", "(war peace) oil" },
        { "-oil war -oil -oil", "-oil war" },
        { "war OR war OR peace OR war", "war OR peace" },
        { "NOT NOT war NOT NOT war", "NOT NOT war" },
        { "(a* OR war) (a* OR war)", "(a* OR war)" },
        { "((war) (war)) ((war) (war))", "((war))" },
        /* Taken another way: not the same clause, both kept. */
        { "+war war +war", "+war war" },
        { "war -war war", "war -war" },
        /* Prefixes that match nothing: leaves of no terms (the fuzzer's
         * find, once NULL + 0 in the merge under clang's UBSan). */
        { "qqqzz* qqqzz* war", "qqqzz* war" },
        { "war OR 4444444444r* OR 4444444444r*", "war OR 4444444444r*" },
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        CHECK_MSG(check_query(&varied, qs[i][0], 1), "\"%s\" disagrees with the reference", qs[i][0]);
        CHECK_MSG(check_equiv(&varied, qs[i][0], qs[i][1], 1), "\"%s\" is not \"%s\"", qs[i][0], qs[i][1]);
    }
    /* A thousand repeats of a phrase are one child of the root. */
    kz_buf q = { 0 };
    for (int k = 0; k < 1000; k++)
        kz_buf_printf(&q, "\"war peace\" oil ");
    kz_query *pq = NULL;
    CHECK_OK(kz_query_parse(&pq, varied.ix, (const char *)q.data, q.len, 0, NULL));
    if (pq) {
        CHECK_INT(pq->nodes[pq->root].count, 2);
        CHECK_INT(pq->n_units, 2);
    }
    kz_query_free(pq);
    kz_buf_free(&q);
}

/* Cases the specification leaves open: reported, never failed. */
static void test_ambiguous(void)
{
    static const char *qs[][2] = {
        /* NOT NOT x: the same documents as x; is x a scoring unit? It is
         * under a NOT (parse.c) but not excluded (search.c). */
        { "NOT NOT market war", "NOT NOT market war" },
        { "NOT -market", "NOT -market" },
        /* AND next to an exclusion: the exclusion stays one. */
        { "war AND -peace", "+war -peace" },
        { "war AND NOT peace", "+war -peace" },
        /* + and - before a word of two terms: each term takes it. */
        { "+Kasym-Žomart peace", "+kasym +zomart peace" },
        { "-Kasym-Žomart war", "-kasym -zomart war" },
        /* +- and -+: punctuation, then a word. */
        { "+-war peace", "war peace" },
        { "-+war peace", "war peace" },
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        int ok = check_equiv(&varied, qs[i][0], qs[i][1], 1);
        if (!ok)
            fprintf(stderr, "  NOTE: \"%s\" is not read as \"%s\" (ambiguous in the specification)\n", qs[i][0],
                    qs[i][1]);
    }
    /* The byte of a syntax error after invalid UTF-8: an offset in the
     * caller's text? */
    kz_query *qq = NULL;
    kz_syntax_error err;
    memset(&err, 0, sizeof err);
    const char *q = "\xFF \"abc";
    int rc = kz_query_parse(&qq, varied.ix, q, strlen(q), 0, &err);
    CHECK_INT(rc, KZ_ESYNTAX);
    CHECK_INT(err.column, 3); /* U+FFFD is one character */
    if (err.byte != 2)
        fprintf(stderr, "  NOTE: \"\\xFF \\\"abc\": error byte %zu, the quote is byte 2 of the query\n", err.byte);
    kz_query_free(qq);
}

static void test_random_big(void) { random_queries(&big, 250, 4); }
static void test_random_varied(void) { random_queries(&varied, 300, 1); }

#define TIMED(fn)                                                               \
    do {                                                                        \
        double t0_ = now_s();                                                   \
        KZ_RUN(fn);                                                             \
        fprintf(stderr, "     (%.2f s)\n", now_s() - t0_);                       \
    } while (0)

int main(void)
{
    g_seed = kz_test_seed();
    g_rng = g_seed ^ 0x5DEECE66Dull;
    vocab_init();
    setup_corpora();
    if (getenv("KZ_QPROBE")) {
        probe(&big, getenv("KZ_QPROBE"));
        probe(&varied, getenv("KZ_QPROBE"));
        corpus_free(&big);
        corpus_free(&varied);
        return 0;
    }
    TIMED(test_syntax_errors);
    TIMED(test_not_errors);
    TIMED(test_hostile);
    TIMED(test_long_queries);
    TIMED(test_prefixes);
    TIMED(test_prefix_cap);
    TIMED(test_random_big);
    TIMED(test_random_varied);
    TIMED(test_group_of_one);
    TIMED(test_repeated_clauses);
    TIMED(test_ambiguous);
    corpus_free(&big);
    corpus_free(&varied);
    for (int i = 0; i < n_stems; i++)
        free(stem_txt[i]);
    return kz_test_finish();
}
