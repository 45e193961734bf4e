/*
 * test_stats.c: global statistics (query/stats.c), with which indexes on
 * several machines rank as one: the two steps of README "Shards across
 * machines" done in process, as cli/remote.c does them over HTTP.
 *
 * One seeded corpus of English words, Russian words and their Latin
 * spellings (Токаев, Tokayev, Tokaev; Казахстан, Kazakhstan), hundreds of
 * words starting with r (r* keeps only the KZ_PREFIX_MAX_TERMS most
 * frequent), exact duplicate texts and a word of one shard, is built as 3
 * shards (the third without any Cyrillic term; the first of two segments,
 * one document replaced; the second with deletions). For every query of a
 * fixed list, in every mode, two pages, a facet of every value, and sorted
 * by date: every shard gathers its statistics, they travel as text, are
 * summed in shard order and travel back; every shard parses the query
 * against the sum and runs it without collapsing; the hits are ranked as
 * one with kz_ranked_cmp. Totals, facet counts summed and cut, the mode,
 * the page's docids and scores (bit for bit) and the query's notes must be
 * those of kz_index_open_many of the same shards in the same order. AUTO
 * queries that fall back only when AND finds nothing ("-(oil wheat)") are
 * run again in AND mode on the shards that fell back alone, as
 * cli/remote.c does. Collapsing is redone as kz_query_run does it (fetch
 * four times more while the page is short) and must give the same leaders
 * and members; explanations of a page's hits (kz_query_results_of) the
 * same idfs and scores; "did you mean" the same suggestion.
 *
 * Also: malformed statistics (every prefix of a real encoding, bad hex,
 * overflowing numbers, docs > docids, no end, bytes after it, random
 * damage) are refused with KZ_ESYNTAX; statistics that decode but claim a
 * date field of years up to 99999999 cost no more than true ones; indexes
 * of two languages do not sum, and the sum stays as it was; statistics
 * gathered for another query are refused where the query needs a field's
 * extent or a sort field's.
 */
#include "kzint.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define N_DOCS 1500
#define N_FIRST 1400 /* shard 0 is built from these, then the rest added as a second segment */
#define N_SHARDS 3
#define N_RWORDS 320 /* words starting with r: more than KZ_PREFIX_MAX_TERMS */
#define FACET_CUT 10

static const char *vocab[] = { "russia",  "kazakhstan", "border",   "steppe",   "oil",      "grain",
                               "astana",  "tokayev",    "treaty",   "language", "minority", "pipeline",
                               "election", "uranium",   "railway",  "news",     "report",   "history",
                               "market",  "river",      "sanctions", "wheat",   "tokaev",   "kazan",
                               "karaganda", "kamchatka", "moscow",  "caspian" };
#define N_VOCAB (sizeof vocab / sizeof *vocab)
/* Russian words (and forms) with Latin spellings among vocab. */
static const char *cyrillic[] = { "Токаев", "Токаева", "Казахстан", "Казахстана", "россия",
                                  "России", "нефть",  "Астана",    "Москва",     "граница" };
#define N_CYRILLIC (sizeof cyrillic / sizeof *cyrillic)
static const char *sources[] = { "tass.ru",       "interfax.ru",   "reuters.com",  "kazinform.kz", "ria.ru",
                                 "bbc.co.uk",     "apnews.com",    "lenta.ru",     "kommersant.ru",
                                 "tengrinews.kz", "astanatimes.com", "rferl.org",  "bloomberg.com", "ft.com" };
#define N_SOURCES (sizeof sources / sizeof *sources)

typedef struct doc {
    char id[24], date[16]; /* date "" for none */
    char *title, *text;
    const char *source;
} doc;

static doc docs[N_DOCS];
static doc replacement; /* a new version of a document of shard 0, added with the second segment */
static char rwords[N_RWORDS][8];
static uint64_t rng;

static char *random_words(size_t words) { return kz_test_random_words(&rng, vocab, N_VOCAB, words); }

static void append(char **s, const char *more)
{
    size_t a = strlen(*s), b = strlen(more);
    char *g = realloc(*s, a + b + 2);
    if (!g)
        abort();
    g[a] = ' ';
    memcpy(g + a + 1, more, b + 1);
    *s = g;
}

static void make_corpus(void)
{
    for (size_t i = 0; i < N_RWORDS; i++) /* "rbaq", "rcbw", ...: distinct, stemmed as written */
        snprintf(rwords[i], sizeof rwords[i], "r%c%c%cq", 'a' + (int)(i % 26), 'a' + (int)(i / 26 % 26),
                 'a' + (int)(i * 7 % 26));
    char *group_text[6];
    for (size_t g = 0; g < 6; g++) {
        group_text[g] = random_words(30 + kz_test_rand(&rng) % 30);
        append(&group_text[g], "syndicated");
    }
    int zephyrine = 0, plain[N_SHARDS] = { 0 };
    for (size_t i = 0; i < N_DOCS; i++) {
        doc *d = &docs[i];
        snprintf(d->id, sizeof d->id, "doc-%zu", i);
        uint32_t shard = kz_shard_of(d->id, strlen(d->id), N_SHARDS);
        if (kz_test_rand(&rng) % 20)
            snprintf(d->date, sizeof d->date, "%d-%02d-%02d", 2019 + (int)(kz_test_rand(&rng) % 5),
                     1 + (int)(kz_test_rand(&rng) % 12), 1 + (int)(kz_test_rand(&rng) % 28));
        d->title = random_words(1 + kz_test_rand(&rng) % 4);
        uint64_t r = kz_test_rand(&rng) % (N_SOURCES * N_SOURCES), w = 0; /* skewed: the first most */
        while ((w + 1) * (w + 1) <= r)
            w++;
        d->source = sources[N_SOURCES - 1 - w];
        if (i % 50 == 7) { /* one story sent 30 times: short, so it ranks first for its words */
            d->text = strdup("syndicated wire story about russia and oil");
            continue;
        }
        if (i % 50 == 23) { /* six stories sent 5 times each */
            d->text = strdup(group_text[i / 50 % 6]);
            continue;
        }
        if (shard == 0 && zephyrine < 3 && i > 100) { /* a word of one shard, without oil or wheat */
            static const char *const ends[] = { "report", "history", "market" };
            if (asprintf(&d->text, "zephyrine russia steppe news %s", ends[zephyrine++]) < 0)
                abort();
            continue;
        }
        if (shard != 0 && plain[shard] < 2 && i > 200) { /* russia without oil or wheat in shards 1 and 2 */
            plain[shard]++;
            d->text = strdup("russia steppe news history");
            continue;
        }
        d->text = random_words(5 + kz_test_rand(&rng) % 80);
        if (shard != 2 && kz_test_rand(&rng) % 3 == 0) /* shard 2 has no Cyrillic term */
            for (uint64_t k = 1 + kz_test_rand(&rng) % 3; k; k--)
                append(&d->text, cyrillic[kz_test_rand(&rng) % N_CYRILLIC]);
        if (kz_test_rand(&rng) % 3 == 0)
            for (uint64_t k = 1 + kz_test_rand(&rng) % 2; k; k--)
                append(&d->text, rwords[kz_test_rand(&rng) % N_RWORDS]);
    }
    for (size_t g = 0; g < 6; g++)
        free(group_text[g]);
    for (size_t i = 0; i < N_FIRST; i++) /* a document of shard 0's first segment, replaced */
        if (kz_shard_of(docs[i].id, strlen(docs[i].id), N_SHARDS) == 0 && i % 50 != 7 && i % 50 != 23) {
            replacement = docs[i];
            replacement.title = strdup("replaced");
            replacement.text = strdup("replaced text about russia grain and the caspian steppe");
            break;
        }
}

static void add_doc(kz_builder *b, const doc *d)
{
    kz_doc_field f[2] = { { "source", 6, d->source, strlen(d->source) }, { "date", 4, d->date, strlen(d->date) } };
    CHECK_OK(kz_builder_add_document(b, d->id, strlen(d->id), d->title, strlen(d->title), d->text, strlen(d->text),
                                     f, d->date[0] ? 2 : 1));
}

/* Builds docs [from, to) (and more, if not NULL) into dir: shard of
 * shards of them, in mode. */
static void build(const char *dir, uint32_t shard, uint32_t shards, const char *language, kz_build_mode mode,
                  size_t from, size_t to, const doc *more)
{
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.threads = 2;
    o.shard = shard;
    o.shards = shards;
    o.language = language;
    o.mode = mode;
    kz_builder *b = NULL;
    CHECK_OK(kz_builder_new(&b, dir, &o));
    if (!b)
        return;
    for (size_t i = from; i < to; i++)
        add_doc(b, &docs[i]);
    if (more)
        add_doc(b, more);
    CHECK_OK(kz_builder_commit(b, NULL));
    kz_builder_free(b);
}

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        abort();
    return p;
}

/* ------------------------------------------------------------ the shards */

static char *root;
static char *shard_dir[N_SHARDS];
static kz_index *shard_ix[N_SHARDS];
static uint64_t docid_base[N_SHARDS];
static kz_index *whole; /* kz_index_open_many of the shards, in order */

static void make_shards(void)
{
    root = kz_test_temp_dir();
    for (uint32_t s = 0; s < N_SHARDS; s++) {
        char name[16];
        snprintf(name, sizeof name, "shard%u", s);
        shard_dir[s] = path_in(root, name);
        build(shard_dir[s], s, N_SHARDS, "auto", KZ_BUILD_REPLACE, 0, s == 0 ? N_FIRST : N_DOCS, NULL);
    }
    /* Shard 0: a second segment, with a new version of one of its documents. */
    build(shard_dir[0], 0, N_SHARDS, "auto", KZ_BUILD_ADD, N_FIRST, N_DOCS, &replacement);
    /* Shard 1: a few documents deleted, one of the story sent 30 times among them. */
    const char *gone[8];
    size_t n_gone = 0;
    for (size_t i = 0; i < N_DOCS && n_gone < 8; i++)
        if (kz_shard_of(docs[i].id, strlen(docs[i].id), N_SHARDS) == 1 && (i % 97 == 5 || i % 50 == 7) &&
            (i % 50 != 7 || n_gone == 0))
            gone[n_gone++] = docs[i].id;
    uint8_t found[8];
    uint64_t deleted = 0;
    CHECK_OK(kz_index_delete(shard_dir[1], gone, n_gone, found, &deleted));
    CHECK_INT(deleted, n_gone);

    uint64_t base = 0, live = 0;
    for (uint32_t s = 0; s < N_SHARDS; s++) {
        CHECK_OK(kz_index_open(&shard_ix[s], shard_dir[s]));
        if (!shard_ix[s])
            exit(1);
        kz_index_info info;
        kz_index_get_info(shard_ix[s], &info);
        docid_base[s] = base;
        base += info.docids;
        live += info.docs;
        int cyr = -1;
        CHECK_OK(kz_index_has_cyrillic(shard_ix[s], &cyr));
        CHECK_INT(cyr, s != 2);
    }
    CHECK_INT(live, N_DOCS - n_gone);
    CHECK(base > live); /* deleted docids among them */
    CHECK_OK(kz_index_open_many(&whole, (const char *const *)shard_dir, N_SHARDS));
    if (!whole)
        exit(1);
}

static void free_shards(void)
{
    kz_index_free(whole);
    for (uint32_t s = 0; s < N_SHARDS; s++) {
        kz_index_free(shard_ix[s]);
        free(shard_dir[s]);
    }
    kz_test_remove_tree(root);
    free(root);
}

/* ------------------------------------------------------------- step 1 */

/* A stats through its text form and back; NULL (with a failed check) if
 * that fails. The text of the copy must be the text of the original. */
static kz_stats *wire(const kz_stats *s, const char *what)
{
    char *text = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    kz_stats *copy = NULL;
    CHECK_OK(kz_stats_encode(s, &text, &len));
    if (!text)
        return NULL;
    CHECK(strlen(text) == len);
    int rc = kz_stats_decode(&copy, text, len);
    CHECK_MSG(rc == KZ_OK, "%s: decode: %s", what, kz_last_error());
    if (copy) {
        CHECK_OK(kz_stats_encode(copy, &again, &len2));
        CHECK_MSG(again && len2 == len && memcmp(again, text, len) == 0, "%s: the text changes on a round trip",
                  what);
        CHECK(kz_stats_docs(copy) == kz_stats_docs(s) && kz_stats_docids(copy) == kz_stats_docids(s) &&
              kz_stats_tokens(copy) == kz_stats_tokens(s));
    }
    free(text);
    free(again);
    return copy;
}

/* Step 1 for text: every shard's statistics, over the wire, summed in
 * shard order, and the sum over the wire. NULL on failure. */
static kz_stats *gather_sum(const char *text, const char *sort_field)
{
    kz_stats *sum = NULL;
    CHECK_OK(kz_stats_new(&sum));
    if (!sum)
        return NULL;
    uint64_t n_docs = 0, docids = 0, tokens = 0;
    for (uint32_t s = 0; s < N_SHARDS; s++) {
        kz_stats *part = NULL;
        kz_syntax_error err;
        int rc = kz_stats_gather(&part, shard_ix[s], text, strlen(text), 0, sort_field, &err);
        CHECK_MSG(rc == KZ_OK, "gather \"%s\" on shard %u: %s", text, s, kz_last_error());
        if (!part) {
            kz_stats_free(sum);
            return NULL;
        }
        kz_index_info info;
        kz_index_get_info(shard_ix[s], &info);
        CHECK(kz_stats_docs(part) == info.docs && kz_stats_docids(part) == info.docids &&
              kz_stats_tokens(part) == info.tokens);
        n_docs += info.docs;
        docids += info.docids;
        tokens += info.tokens;
        kz_stats *sent = wire(part, text);
        kz_stats_free(part);
        if (sent)
            CHECK_OK(kz_stats_merge(sum, sent));
        kz_stats_free(sent);
    }
    CHECK(kz_stats_docs(sum) == n_docs && kz_stats_docids(sum) == docids && kz_stats_tokens(sum) == tokens);
    kz_stats *back = wire(sum, text);
    kz_stats_free(sum);
    return back;
}

/* ------------------------------------------------------------- step 2 */

typedef struct fvalue {
    const char *value;
    size_t len;
    uint64_t docs;
} fvalue;

static int cmp_fvalue_bytes(const void *x, const void *y)
{
    const fvalue *a = x, *b = y;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->value, b->value, n);
    return c ? c : a->len < b->len ? -1 : a->len > b->len;
}

static int cmp_fvalue(const void *x, const void *y)
{
    const fvalue *a = x, *b = y;
    if (a->docs != b->docs)
        return a->docs > b->docs ? -1 : 1;
    return cmp_fvalue_bytes(x, y);
}

static int cmp_ranked(const void *x, const void *y, void *o) { return kz_ranked_cmp(x, y, o); }

#define N_FACETS 2

/* What the coordinator makes of every shard's answer. */
typedef struct merged {
    kz_query *q[N_SHARDS];   /* parsed against the sum */
    kz_results *r[N_SHARDS]; /* run without collapsing */
    uint64_t total, all_words;
    int any; /* some shard's mode is ANY */
    kz_ranked *top;
    uint32_t *shard_of; /* top[i] came from this shard */
    size_t n_top;
    fvalue *facet[N_FACETS]; /* summed, sorted, cut */
    size_t n_facet[N_FACETS];
} merged;

static void merged_free(merged *m)
{
    for (uint32_t s = 0; s < N_SHARDS; s++) {
        kz_results_free(m->r[s]);
        kz_query_free(m->q[s]);
    }
    free(m->top);
    free(m->shard_of);
    for (size_t k = 0; k < N_FACETS; k++)
        free(m->facet[k]);
    memset(m, 0, sizeof *m);
}

static const kz_facet_spec facet_specs[N_FACETS] = { { "source", KZ_FACET_VALUES, FACET_CUT },
                                                     { "date", KZ_FACET_YEAR, FACET_CUT } };

static size_t reruns; /* of the shards that fell back on their own */

/* Whether r fell back to OR on its own in AUTO mode (cli/search_json.c). */
static int fell_back(const kz_search_options *o, const kz_results *r)
{
    return o->mode == KZ_MODE_AUTO && kz_results_mode(r) == KZ_MODE_ANY && kz_results_total(r) > 0 &&
           kz_results_total_all_words(r) == 0;
}

/* Step 2 for text with the options o (mode and sort; offset and limit are
 * ignored): every shard's best k, ranked as one, the top k kept. 0, or -1
 * when something failed (checked). */
static int run_merged(merged *m, const char *text, const kz_stats *sum, const kz_search_options *o, uint64_t k)
{
    memset(m, 0, sizeof *m);
    kz_facet_spec every[N_FACETS];
    memcpy(every, facet_specs, sizeof every);
    for (size_t f = 0; f < N_FACETS; f++)
        every[f].limit = UINT32_MAX; /* every value: the coordinator sums, then cuts */
    kz_search_options so = *o;
    so.flags |= KZ_SEARCH_NO_COLLAPSE;
    so.offset = 0;
    so.limit = (uint32_t)k;
    so.facets = every;
    so.n_facets = N_FACETS;
    int and_first = 0, some_all = 0, some_fell = 0;
    for (uint32_t s = 0; s < N_SHARDS; s++) {
        kz_syntax_error err;
        int rc = kz_query_parse_global(&m->q[s], shard_ix[s], text, strlen(text), 0, sum, &err);
        CHECK_MSG(rc == KZ_OK, "parse \"%s\" on shard %u: %s", text, s, kz_last_error());
        if (rc)
            return -1;
        rc = kz_query_run(&m->r[s], m->q[s], &so);
        CHECK_MSG(rc == KZ_OK, "run \"%s\" on shard %u: %s", text, s, kz_last_error());
        if (rc)
            return -1;
        int af = so.mode == KZ_MODE_AUTO && !so.sort_field && kz_query_and_first(m->q[s]);
        if (s)
            CHECK_MSG(af == and_first, "\"%s\": shards read AND-first differently", text);
        and_first = af;
        some_all |= !af && !fell_back(&so, m->r[s]) && kz_results_total_all_words(m->r[s]) > 0;
        some_fell |= !af && fell_back(&so, m->r[s]);
    }
    /* AUTO that falls back only when AND finds nothing: a shard without AND
     * matches fell back on its own; where another has some, the whole did
     * not (cli/remote.c): those shards again, in AND mode. */
    if (so.mode == KZ_MODE_AUTO && some_all && some_fell) {
        reruns++;
        for (uint32_t s = 0; s < N_SHARDS; s++) {
            if (!fell_back(&so, m->r[s]))
                continue;
            kz_search_options all = so;
            all.mode = KZ_MODE_ALL;
            kz_results_free(m->r[s]);
            m->r[s] = NULL;
            int rc = kz_query_run(&m->r[s], m->q[s], &all);
            CHECK_MSG(rc == KZ_OK, "run \"%s\" on shard %u in AND mode: %s", text, s, kz_last_error());
            if (rc)
                return -1;
        }
    }
    size_t n_all = 0, n_values[N_FACETS] = { 0 };
    for (uint32_t s = 0; s < N_SHARDS; s++) {
        n_all += kz_results_count(m->r[s]);
        CHECK(kz_results_count(m->r[s]) <= k);
        m->total += kz_results_total(m->r[s]);
        m->all_words += kz_results_total_all_words(m->r[s]);
        for (size_t f = 0; f < N_FACETS; f++)
            n_values[f] += kz_results_facet_count(m->r[s], f);
    }
    /* The whole's mode, as the coordinator reads it (cli/remote.c): AUTO
     * AND-then-OR is ANY when some match lacks a word; AUTO that falls
     * back is ANY when no match anywhere has every word, and every shard
     * then says alike. */
    if (so.mode != KZ_MODE_AUTO)
        m->any = so.mode == KZ_MODE_ANY;
    else if (and_first)
        m->any = m->total > m->all_words;
    else
        m->any = m->all_words == 0 && kz_results_mode(m->r[0]) == KZ_MODE_ANY;
    m->top = malloc((n_all ? n_all : 1) * sizeof *m->top);
    m->shard_of = malloc((n_all ? n_all : 1) * sizeof *m->shard_of);
    if (!m->top || !m->shard_of)
        abort();
    for (uint32_t s = 0; s < N_SHARDS; s++)
        for (size_t i = 0; i < kz_results_count(m->r[s]); i++) {
            CHECK_OK(kz_results_ranked(&m->top[m->n_top], shard_ix[s], m->r[s], i, docid_base[s]));
            m->shard_of[m->n_top++] = s;
        }
    /* Sorted as one ranking; shard_of follows by a sort of indexes. */
    typedef struct pair {
        kz_ranked r;
        uint32_t s;
    } pair;
    pair *p = malloc((n_all ? n_all : 1) * sizeof *p);
    if (!p)
        abort();
    for (size_t i = 0; i < n_all; i++)
        p[i] = (pair){ m->top[i], m->shard_of[i] };
    if (n_all)
        qsort_r(p, n_all, sizeof *p, cmp_ranked, &so); /* r is the first member */
    m->n_top = KZ_MIN(n_all, (size_t)k);
    for (size_t i = 0; i < m->n_top; i++) {
        m->top[i] = p[i].r;
        m->shard_of[i] = p[i].s;
    }
    free(p);
    for (size_t f = 0; f < N_FACETS; f++) {
        fvalue *v = malloc((n_values[f] ? n_values[f] : 1) * sizeof *v);
        size_t n = 0;
        if (!v)
            abort();
        for (uint32_t s = 0; s < N_SHARDS; s++)
            for (size_t i = 0; i < kz_results_facet_count(m->r[s], f); i++) {
                v[n].value = kz_results_facet_value(m->r[s], f, i, &v[n].len, &v[n].docs);
                n++;
            }
        if (n)
            qsort(v, n, sizeof *v, cmp_fvalue_bytes);
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
            if (w && cmp_fvalue_bytes(&v[w - 1], &v[i]) == 0)
                v[w - 1].docs += v[i].docs;
            else
                v[w++] = v[i];
        }
        if (w)
            qsort(v, w, sizeof *v, cmp_fvalue);
        m->facet[f] = v;
        m->n_facet[f] = KZ_MIN(w, (size_t)FACET_CUT);
    }
    return 0;
}

/* ----------------------------------------------------- the comparisons */

static const char *mode_name(kz_mode m) { return m == KZ_MODE_ALL ? "ALL" : m == KZ_MODE_ANY ? "ANY" : "AUTO"; }

/* The reference: the same search of the whole. */
static kz_results *reference(const char *text, const kz_search_options *o)
{
    kz_search_options so = *o;
    so.facets = facet_specs;
    so.n_facets = N_FACETS;
    kz_results *r = NULL;
    int rc = kz_search(&r, whole, text, strlen(text), &so);
    CHECK_MSG(rc == KZ_OK, "reference \"%s\": %s", text, kz_last_error());
    return r;
}

/* The notes of every shard's reading are the whole's. */
static void compare_notes(const char *text, const merged *m)
{
    kz_query *q = NULL;
    CHECK_OK(kz_query_parse(&q, whole, text, strlen(text), 0, NULL));
    if (!q)
        return;
    for (uint32_t s = 0; s < N_SHARDS; s++) {
        int same = kz_query_note_count(q) == kz_query_note_count(m->q[s]);
        for (size_t i = 0; same && i < kz_query_note_count(q); i++)
            same = strcmp(kz_query_note(q, i), kz_query_note(m->q[s], i)) == 0;
        CHECK_MSG(same, "\"%s\": shard %u's notes (%zu, first \"%s\") are not the whole's (%zu, first \"%s\")", text,
                  s, kz_query_note_count(m->q[s]),
                  kz_query_note_count(m->q[s]) ? kz_query_note(m->q[s], 0) : "",
                  kz_query_note_count(q), kz_query_note_count(q) ? kz_query_note(q, 0) : "");
    }
    kz_query_free(q);
}

/* Totals, mode and facets of m are ref's. */
static void compare_summary(const char *what, const merged *m, const kz_results *ref)
{
    CHECK_MSG(m->total == kz_results_total(ref) && m->all_words == kz_results_total_all_words(ref),
              "%s: total %llu (%llu with every word), the whole %llu (%llu)", what, (unsigned long long)m->total,
              (unsigned long long)m->all_words, (unsigned long long)kz_results_total(ref),
              (unsigned long long)kz_results_total_all_words(ref));
    char shards[200];
    size_t used = 0;
    for (uint32_t s = 0; s < N_SHARDS && used < sizeof shards; s++)
        used += (size_t)snprintf(shards + used, sizeof shards - used, "%s %s total %llu (%llu)", s ? ";" : "",
                                 mode_name(kz_results_mode(m->r[s])), (unsigned long long)kz_results_total(m->r[s]),
                                 (unsigned long long)kz_results_total_all_words(m->r[s]));
    CHECK_MSG(m->any == (kz_results_mode(ref) == KZ_MODE_ANY), "%s: the whole's mode %s, the shards':%s", what,
              mode_name(kz_results_mode(ref)), shards);
    for (size_t f = 0; f < N_FACETS; f++) {
        int same = m->n_facet[f] == kz_results_facet_count(ref, f);
        size_t i = 0;
        for (; same && i < m->n_facet[f]; i++) {
            size_t len;
            uint64_t count;
            const char *v = kz_results_facet_value(ref, f, i, &len, &count);
            same = len == m->facet[f][i].len && memcmp(v, m->facet[f][i].value, len) == 0 &&
                   count == m->facet[f][i].docs;
        }
        CHECK_MSG(same, "%s: facet %s: %zu values, the whole %zu; they differ at %zu", what, facet_specs[f].field,
                  m->n_facet[f], kz_results_facet_count(ref, f), i ? i - 1 : 0);
    }
}

/* kz_query_results_of on the shards, for the page's hits of ref: the same
 * units' idfs and the same explanations as the whole's. */
static void compare_explain(const char *what, const merged *m, const kz_results *ref, const kz_search_options *o)
{
    size_t n = kz_results_count(ref);
    for (uint32_t s = 0; s < N_SHARDS; s++) {
        kz_hit *hits = malloc((n ? n : 1) * sizeof *hits);
        size_t *at = malloc((n ? n : 1) * sizeof *at), mine = 0;
        if (!hits || !at)
            abort();
        kz_index_info info;
        kz_index_get_info(shard_ix[s], &info);
        for (size_t i = 0; i < n; i++) {
            const kz_hit *h = kz_results_hit(ref, i);
            if (h->docid >= docid_base[s] && h->docid < docid_base[s] + info.docids) {
                hits[mine] = (kz_hit){ (uint32_t)(h->docid - docid_base[s]), h->score };
                at[mine++] = i;
            }
        }
        kz_results *r = NULL;
        CHECK_OK(kz_query_results_of(&r, m->q[s], o, hits, mine));
        if (r) {
            int same = kz_results_unit_count(r) == kz_results_unit_count(ref);
            for (size_t u = 0; same && u < kz_results_unit_count(r); u++)
                same = kz_results_unit(r, u)->idf == kz_results_unit(ref, u)->idf &&
                       kz_results_unit(r, u)->n_terms == kz_results_unit(ref, u)->n_terms;
            CHECK_MSG(same, "%s: shard %u: the units' idfs are not the whole's", what, s);
            CHECK_INT(kz_results_count(r), mine);
            for (size_t j = 0; j < mine && j < kz_results_count(r); j++) {
                kz_explanation x, y;
                memset(&x, 0, sizeof x);
                memset(&y, 0, sizeof y);
                CHECK_OK(kz_results_explain(&x, shard_ix[s], r, j));
                CHECK_OK(kz_results_explain(&y, whole, ref, at[j]));
                int eq = x.n_units == y.n_units && x.score == y.score && x.dl == y.dl && x.avgdl == y.avgdl;
                for (size_t u = 0; eq && u < x.n_units; u++)
                    eq = x.units[u].idf == y.units[u].idf && x.units[u].tf == y.units[u].tf &&
                         x.units[u].weight == y.units[u].weight;
                CHECK_MSG(eq, "%s: shard %u: hit %zu explained %.17g (%zu units), the whole %.17g (%zu units)",
                          what, s, at[j], x.score, x.n_units, y.score, y.n_units);
                kz_explanation_free(&x);
                kz_explanation_free(&y);
            }
        }
        kz_results_free(r);
        free(hits);
        free(at);
    }
}

/* Every query of the list: shards with global statistics, merged, equal
 * the whole. */
static const char *const queries[] = {
    "title:russia oil",
    "title:ka* -title:kazakhstan kazakhstan",
    "russia",
    "kazakhstan border",
    "oil OR grain",
    "oil AND grain -wheat",
    "\"kazakhstan border\"",
    "\"news report\" history",
    "tokayev -russia",
    "astana +steppe",
    "(oil OR wheat) sanctions",
    "ka*",
    "kaz* steppe",
    "r*",
    "r* russia",
    "tokaev~",
    "tokayef~ news",
    "Токаев",
    "tokayev",
    "Tokaev",
    "Казахстан",
    "kazakhstan",
    "россия",
    "россия нефть",
    "Москва OR moscow",
    "source:tass.ru",
    "source:tass.ru grain",
    "-source:reuters.com river news",
    "source:kaz* oil",
    "date>=2022-06",
    "date>=2022-06 market",
    "date:2021 russia",
    "date:2020..2021 oil OR grain",
    "zzznothing",
    "russia zzznothing",
    "zephyrine",
    "zephyrine russia -(oil wheat)",
    "zephyrine -(oil wheat)", /* shards 1 and 2 match nothing, in either mode */
    "russia -(oil wheat)",
    "syndicated",
    "syndicated russia oil",
    "replaced caspian",
};
#define N_QUERIES (sizeof queries / sizeof *queries)

static const struct page {
    uint32_t offset, limit;
} pages[] = { { 0, 10 }, { 7, 5 } };

static void compare_page(const char *what, const merged *m, const kz_results *ref, uint32_t offset)
{
    size_t n = m->n_top > offset ? m->n_top - offset : 0;
    int same = n == kz_results_count(ref);
    size_t i = 0;
    for (; same && i < n; i++) {
        const kz_hit *h = kz_results_hit(ref, i);
        same = h->docid == m->top[offset + i].docid && h->score == m->top[offset + i].score;
    }
    CHECK_MSG(same, "%s: %zu hits, the whole %zu; they differ at %zu (docid %llu score %.17g, the whole %llu %.17g)",
              what, n, kz_results_count(ref), i ? i - 1 : 0,
              i && i - 1 < n ? (unsigned long long)m->top[offset + i - 1].docid : 0ull,
              i && i - 1 < n ? m->top[offset + i - 1].score : 0.0,
              i && i - 1 < kz_results_count(ref) ? (unsigned long long)kz_results_hit(ref, i - 1)->docid : 0ull,
              i && i - 1 < kz_results_count(ref) ? kz_results_hit(ref, i - 1)->score : 0.0);
}

static void test_global_statistics(void)
{
    size_t combos = 0, with_hits = 0;
    for (size_t qi = 0; qi < N_QUERIES; qi++) {
        const char *text = queries[qi];
        for (int sorted = 0; sorted < 2; sorted++) {
            kz_stats *sum = gather_sum(text, sorted ? "date" : NULL);
            if (!sum)
                continue;
            static const kz_mode modes[] = { KZ_MODE_ALL, KZ_MODE_ANY, KZ_MODE_AUTO };
            for (size_t mi = 0; mi < (sorted ? 2u : 3u); mi++) {
                for (size_t pi = 0; pi < sizeof pages / sizeof *pages; pi++) {
                    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
                    o.mode = modes[mi];
                    o.offset = pages[pi].offset;
                    o.limit = pages[pi].limit;
                    o.flags = KZ_SEARCH_NO_COLLAPSE;
                    if (sorted) {
                        o.sort_field = "date";
                        o.sort_descending = 1;
                    }
                    char what[160];
                    snprintf(what, sizeof what, "\"%s\" %s%s offset %u limit %u", text, mode_name(o.mode),
                             sorted ? " sorted by date" : "", o.offset, o.limit);
                    merged m;
                    kz_results *ref = reference(text, &o);
                    if (run_merged(&m, text, sum, &o, (uint64_t)o.offset + o.limit) == 0 && ref) {
                        compare_summary(what, &m, ref);
                        compare_page(what, &m, ref, o.offset);
                        compare_explain(what, &m, ref, &o);
                        if (mi == 0 && pi == 0 && !sorted)
                            compare_notes(text, &m);
                        combos++;
                        with_hits += kz_results_count(ref) > 0;
                    }
                    merged_free(&m);
                    kz_results_free(ref);
                }
            }
            kz_stats_free(sum);
        }
    }
    fprintf(stderr, "     %zu searches compared, %zu with hits; %zu in AND mode again\n", combos, with_hits, reruns);
    CHECK(reruns > 0); /* "zephyrine russia -(oil wheat)": only shard 0 has AND matches, the others OR ones */
    CHECK(with_hits * 4 > combos * 3); /* the list finds something */
}

/* The prefix of many terms keeps the same KZ_PREFIX_MAX_TERMS on every
 * shard as on the whole, with the whole's count in its note. */
static void test_prefix_note(void)
{
    kz_stats *sum = gather_sum("r*", NULL);
    kz_query *q = NULL;
    CHECK_OK(kz_query_parse(&q, whole, "r*", 2, 0, NULL));
    if (!sum || !q) {
        kz_stats_free(sum);
        kz_query_free(q);
        return;
    }
    char want[64];
    int found = 0;
    for (size_t i = 0; i < kz_query_note_count(q); i++)
        found |= sscanf(kz_query_note(q, i), "r* matches %63[0-9] terms", want) == 1;
    CHECK_MSG(found, "no note that r* was cut (%zu notes)", kz_query_note_count(q));
    CHECK(found && strtoul(want, NULL, 10) > KZ_PREFIX_MAX_TERMS);
    for (uint32_t s = 0; s < N_SHARDS; s++) {
        kz_query *g = NULL;
        CHECK_OK(kz_query_parse_global(&g, shard_ix[s], "r*", 2, 0, sum, NULL));
        if (!g)
            continue;
        int has = 0;
        for (size_t i = 0; i < kz_query_note_count(g); i++) {
            char got[64];
            has |= sscanf(kz_query_note(g, i), "r* matches %63[0-9] terms", got) == 1 && strcmp(got, want) == 0;
        }
        CHECK_MSG(has, "shard %u does not say r* matches %s terms", s, want);
        kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
        o.flags = KZ_SEARCH_NO_COLLAPSE;
        kz_results *r = NULL;
        CHECK_OK(kz_query_run(&r, g, &o));
        if (r)
            CHECK_INT(kz_results_term_count(r), KZ_PREFIX_MAX_TERMS);
        kz_results_free(r);
        kz_query_free(g);
    }
    kz_query_free(q);
    kz_stats_free(sum);
}

/* "Did you mean": every shard suggests, against the sum, what the whole
 * suggests. */
static void test_suggestions(void)
{
    static const char *const texts[] = { "tokayef news",  "zephyrinx",  "russsia kazakhstan", "zzznothing",
                                         "Токаеф",        "pipelne oil", "zephyrine",          "rbaqq" };
    for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
        const char *text = texts[t];
        kz_stats *sum = gather_sum(text, NULL);
        kz_query *q = NULL;
        CHECK_OK(kz_query_parse(&q, whole, text, strlen(text), KZ_QUERY_SUGGEST, NULL));
        if (sum && q) {
            const char *want = kz_query_suggestion(q);
            for (uint32_t s = 0; s < N_SHARDS; s++) {
                kz_query *g = NULL;
                CHECK_OK(kz_query_parse_global(&g, shard_ix[s], text, strlen(text), KZ_QUERY_SUGGEST, sum, NULL));
                if (!g)
                    continue;
                const char *got = kz_query_suggestion(g);
                CHECK_MSG((!want && !got) || (want && got && strcmp(want, got) == 0),
                          "\"%s\": shard %u suggests \"%s\", the whole \"%s\"", text, s, got ? got : "(none)",
                          want ? want : "(none)");
                kz_query_free(g);
            }
        }
        kz_query_free(q);
        kz_stats_free(sum);
    }
}

/* ------------------------------------------------------------- collapse */

/* kz_query_run's loop, over the shards: the top fetch of every shard,
 * ranked as one, its window (kz_collapse_window) collapsed; the next
 * round while the page is short and the window left matches out. */
static void collapse_one(const char *text, uint32_t offset, uint32_t limit, kz_mode mode)
{
    char what[160];
    snprintf(what, sizeof what, "collapse \"%s\" %s offset %u limit %u", text, mode_name(mode), offset, limit);
    kz_stats *sum = gather_sum(text, NULL);
    if (!sum)
        return;
    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
    o.mode = mode;
    o.offset = offset;
    o.limit = limit;
    uint64_t want = (uint64_t)offset + limit, fetch, fill;
    merged m;
    uint32_t *group = NULL;
    size_t n_leaders = 0;
    unsigned rounds = 0;
    for (;;) {
        kz_collapse_round(&fetch, &fill, want, rounds++);
        if (run_merged(&m, text, sum, &o, fetch) != 0) {
            merged_free(&m);
            kz_stats_free(sum);
            return;
        }
        free(group);
        group = malloc((m.n_top ? m.n_top : 1) * sizeof *group);
        if (!group)
            abort();
        uint64_t window = kz_collapse_window(fetch, fill, m.total, m.all_words);
        m.n_top = KZ_MIN(m.n_top, (size_t)window);
        CHECK_OK(kz_ranked_collapse(group, &n_leaders, m.top, m.n_top));
        if (n_leaders < want && m.n_top == window && window < m.total) {
            merged_free(&m);
            continue;
        }
        break;
    }
    kz_results *ref = reference(text, &o);
    if (ref) {
        compare_summary(what, &m, ref);
        /* The page: leaders offset .. offset + limit - 1, each with its
         * members in rank order (search.c collapse_cut). */
        size_t leader = 0, page = 0, collapsed = 0;
        uint64_t members_all_words = 0;
        int same = 1;
        for (size_t i = 0; i < m.n_top; i++) {
            if (group[i] != i) {
                members_all_words += m.top[i].all_words;
                continue;
            }
            if (leader++ < offset || page >= limit)
                continue;
            const kz_hit *h = page < kz_results_count(ref) ? kz_results_hit(ref, page) : NULL;
            if (!h || h->docid != m.top[i].docid || h->score != m.top[i].score) {
                CHECK_MSG(0, "%s: hit %zu is docid %llu (score %.17g), the whole's %lld (%.17g)", what, page,
                          (unsigned long long)m.top[i].docid, m.top[i].score, h ? (long long)h->docid : -1ll,
                          h ? h->score : 0.0);
                same = 0;
                break;
            }
            size_t j = 0;
            for (size_t k = i + 1; k < m.n_top; k++) {
                if (group[k] != i)
                    continue;
                const kz_hit *s = j < kz_results_similar_count(ref, page) ? kz_results_similar(ref, page, j) : NULL;
                if (!s || s->docid != m.top[k].docid || s->score != m.top[k].score) {
                    CHECK_MSG(0, "%s: hit %zu's similar %zu is docid %llu, the whole's %lld", what, page, j,
                              (unsigned long long)m.top[k].docid, s ? (long long)s->docid : -1ll);
                    same = 0;
                }
                j++;
            }
            CHECK_MSG(j == kz_results_similar_count(ref, page), "%s: hit %zu has %zu similar, the whole's %zu",
                      what, page, j, kz_results_similar_count(ref, page));
            collapsed += j;
            page++;
        }
        if (same) {
            CHECK_MSG(page == kz_results_count(ref), "%s: %zu hits, the whole %zu", what, page,
                      kz_results_count(ref));
            CHECK_INT(collapsed, kz_results_collapsed(ref));
            CHECK_INT(m.all_words - members_all_words, kz_results_all_words_hits(ref));
        }
        if (strcmp(text, "syndicated") == 0 && offset == 0) { /* the story sent 30 times fills the first fetch */
            CHECK_MSG(rounds > 1, "%s: collapsed in %u round", what, rounds);
            CHECK(collapsed >= 29 - 1); /* one copy of shard 1 deleted */
        }
    }
    kz_results_free(ref);
    free(group);
    merged_free(&m);
    kz_stats_free(sum);
}

static void test_collapse(void)
{
    static const char *const texts[] = { "syndicated", "syndicated russia oil", "russia", "oil OR grain",
                                         "russia -(oil wheat)", "r*", "zephyrine russia -(oil wheat)" };
    for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
        collapse_one(texts[t], 0, 10, KZ_MODE_AUTO);
        collapse_one(texts[t], 7, 5, KZ_MODE_AUTO);
    }
    collapse_one("syndicated", 0, 40, KZ_MODE_AUTO);
    collapse_one("syndicated", 3, 4, KZ_MODE_ANY);
    collapse_one("russia oil", 0, 10, KZ_MODE_ALL);
}

/* ------------------------------------------------- malformed statistics */

static int decode_copy(const char *text, size_t len)
{
    char *copy = malloc(len ? len : 1); /* exactly len bytes: a read past them shows under ASan */
    if (!copy)
        abort();
    memcpy(copy, text, len);
    kz_stats *s = NULL;
    int rc = kz_stats_decode(&s, copy, len);
    if (rc == KZ_OK)
        kz_stats_free(s);
    else
        CHECK(s == NULL);
    free(copy);
    return rc;
}

/* The real encoding with the first line that starts with key replaced
 * by line (NULL: removed), decoded. */
static int decode_edited(const char *real, const char *key, const char *line)
{
    char *anchored = NULL;
    if (asprintf(&anchored, "\n%s", key) < 0)
        abort();
    const char *at = strstr(real, anchored);
    free(anchored);
    CHECK(at != NULL);
    if (!at)
        return KZ_OK;
    at++;
    const char *nl = strchr(at, '\n');
    char *text = NULL;
    if (asprintf(&text, "%.*s%s%s", (int)(at - real), real, line ? line : "", nl + 1) < 0)
        abort();
    int rc = decode_copy(text, strlen(text));
    free(text);
    return rc;
}

static void test_malformed(void)
{
    kz_stats *sum = gather_sum("r* tokayev date>=2022 source:tass.ru", "date");
    char *real = NULL;
    size_t len = 0;
    if (sum)
        CHECK_OK(kz_stats_encode(sum, &real, &len));
    kz_stats_free(sum);
    if (!real)
        return;
    CHECK(strstr(real, "\nx ") != NULL && strstr(real, "\nt ") != NULL); /* extents and terms */
    CHECK_OK(decode_copy(real, len));

    CHECK_INT(decode_copy("", 0), KZ_ESYNTAX);
    CHECK_INT(decode_copy("kzsearch stats 2\nend\n", 21), KZ_ESYNTAX);
    CHECK_INT(decode_copy("not statistics at all", 21), KZ_ESYNTAX);
    char *wrong = strdup(real);
    wrong[0] = 'K';
    CHECK_INT(decode_copy(wrong, len), KZ_ESYNTAX);
    free(wrong);
    /* Every prefix. */
    size_t bad = 0;
    for (size_t n = 0; n < len; n++)
        bad += decode_copy(real, n) == KZ_ESYNTAX;
    CHECK_INT(bad, len);
    /* Damaged lines. */
    CHECK_INT(decode_edited(real, "t ", "t 3 616\n"), KZ_ESYNTAX);      /* odd length */
    CHECK_INT(decode_edited(real, "t ", "t 3 6g61\n"), KZ_ESYNTAX);     /* not hex */
    CHECK_INT(decode_edited(real, "t ", "t 3 6A61\n"), KZ_ESYNTAX);     /* upper case */
    CHECK_INT(decode_edited(real, "t ", "t 3 -\n"), KZ_ESYNTAX);        /* no term */
    CHECK_INT(decode_edited(real, "t ", "t 3 \n"), KZ_ESYNTAX);
    CHECK_INT(decode_edited(real, "t ", "t 3\n"), KZ_ESYNTAX);
    CHECK_INT(decode_edited(real, "t ", "t  6161\n"), KZ_ESYNTAX);      /* no df */
    CHECK_INT(decode_edited(real, "t ", "t -3 6161\n"), KZ_ESYNTAX);
    CHECK_INT(decode_edited(real, "t ", "t 3 6161 6161\n"), KZ_ESYNTAX); /* a field too many */
    CHECK_INT(decode_edited(real, "t ", "t 18446744073709551616 6161\n"), KZ_ESYNTAX); /* df past uint64 */
    CHECK_INT(decode_edited(real, "t ", "t 99999999999999999999999 6161\n"), KZ_ESYNTAX);
    CHECK_INT(decode_edited(real, "t ", "t 1844674407370955161 6161\n"), KZ_ESYNTAX); /* a df above docs */
    /* Terms and extents in byte order, each once, as the encoder writes them. */
    static const char *const order[][2] = {
        { "t 1 6161\nt 2 6262\nend\n", "ok" },
        { "t 2 6262\nt 1 6161\nend\n", "out of order" },
        { "t 1 6161\nt 1 6161\nend\n", "twice" },
        { "x 1 01 0161 0162\nx 1 02 0261 0262\nend\n", "ok" },
        { "x 1 02 0261 0262\nx 1 01 0161 0162\nend\n", "out of order" },
        { "x 1 01 0161 0162\nx 1 01 0161 0162\nend\n", "twice" },
        { "x 1 01 0162 0161\nend\n", "ends reversed" },
        { "x 1 01 0261 0262\nend\n", "ends not under the prefix" },
        { "t 1 610062\nend\n", "holding a NUL byte" },
    };
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        char text[512];
        snprintf(text, sizeof text, "kzsearch stats 1\ndocs 5\ntokens 50\ndocids 5\ncyrillic 0\nparts 1\n"
                                    "analyzer 3\nlanguage auto\n%s", order[i][0]);
        kz_stats *st = NULL;
        int rc = kz_stats_decode(&st, text, strlen(text));
        int want = strcmp(order[i][1], "ok") == 0 ? KZ_OK : KZ_ESYNTAX;
        CHECK_MSG(rc == want, "statistics with terms or extents %s: %d, want %d", order[i][1], rc, want);
        kz_stats_free(st);
    }
    char *long_term = malloc(2 * KZ_TERM_MAX_BYTES + 16);
    strcpy(long_term, "t 1 ");
    for (size_t i = 0; i < KZ_TERM_MAX_BYTES + 1; i++)
        strcat(long_term, "61");
    strcat(long_term, "\n");
    CHECK_INT(decode_edited(real, "t ", long_term), KZ_ESYNTAX); /* longer than a term */
    free(long_term);
    CHECK_INT(decode_edited(real, "x ", "x 1 6161 - -\n"), KZ_ESYNTAX); /* terms under it, but none named */
    CHECK_INT(decode_edited(real, "x ", "x 0 6161 6161 6161\n"), KZ_ESYNTAX);
    CHECK_INT(decode_edited(real, "x ", "x 1 6161 6161\n"), KZ_ESYNTAX);
    CHECK_INT(decode_edited(real, "docs ", "docs 18446744073709551616\n"), KZ_ESYNTAX);
    CHECK_INT(decode_edited(real, "docs ", "docs 99999999999999\n"), KZ_ESYNTAX); /* docs > docids */
    CHECK_INT(decode_edited(real, "docs ", "docs\n"), KZ_ESYNTAX);
    CHECK_INT(decode_edited(real, "docs ", "docs 12x\n"), KZ_ESYNTAX);
    CHECK_INT(decode_edited(real, "cyrillic ", "cyrillic 2\n"), KZ_ESYNTAX);
    CHECK_INT(decode_edited(real, "parts ", "parts 4294967296\n"), KZ_ESYNTAX);
    CHECK_INT(decode_edited(real, "language ", "language aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"),
              KZ_ESYNTAX);
    CHECK_INT(decode_edited(real, "docs ", "color 3\n"), KZ_ESYNTAX);                  /* unknown key */
    CHECK_INT(decode_edited(real, "docs ", "averyveryverylongkey 3\n"), KZ_ESYNTAX);
    CHECK_INT(decode_edited(real, "docs ", "\n"), KZ_ESYNTAX);                         /* empty line */
    CHECK_INT(decode_edited(real, "end\n", NULL), KZ_ESYNTAX);                         /* no end */
    CHECK_INT(decode_edited(real, "end\n", "end \n"), KZ_ESYNTAX);
    CHECK_INT(decode_edited(real, "end\n", "end\nend\n"), KZ_ESYNTAX);                 /* bytes after it */
    char *trailing = NULL;
    if (asprintf(&trailing, "%sx", real) < 0)
        abort();
    CHECK_INT(decode_copy(trailing, len + 1), KZ_ESYNTAX);
    CHECK_INT(decode_copy(trailing, len + 1), KZ_ESYNTAX);
    trailing[len] = 0; /* a NUL after end: a byte too */
    CHECK_INT(decode_copy(trailing, len + 1), KZ_ESYNTAX);
    free(trailing);
    /* A NUL inside a line. */
    char *nul = strdup(real);
    char *t = strstr(nul, "\nt ");
    if (t) {
        t[3] = 0;
        CHECK_INT(decode_copy(nul, len), KZ_ESYNTAX);
    }
    free(nul);
    /* Random damage: never a crash; refused or read. */
    uint64_t r = rng;
    char *damaged = malloc(len);
    for (int round = 0; round < 2000; round++) {
        memcpy(damaged, real, len);
        for (int k = 0; k < 1 + round % 4; k++)
            damaged[kz_test_rand(&r) % len] = (char)(kz_test_rand(&r) & 0xff);
        int rc = decode_copy(damaged, len);
        CHECK_MSG(rc == KZ_OK || rc == KZ_ESYNTAX, "damaged statistics: %d", rc);
    }
    free(damaged);
    free(real);
}

static void put_hex(char *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", (unsigned char)s[i]);
}

/* Statistics that decode but lie: the date field's years said to run to
 * 99999999. The shard must not spend a step per year of that (a date
 * range is cut to the years the index has): refused, or read in the time
 * a true range takes. */
static void test_hostile_extent(void)
{
    char field[KZ_FIELD_PREFIX_MAX], years[KZ_FIELD_PREFIX_MAX], lo[64], hi[64];
    size_t fn = kz_field_prefix(field, "date", 4, ""), yn = kz_field_prefix(years, "date", 4, "dY");
    memcpy(lo, years, yn);
    memcpy(lo + yn, "0001", 4);
    memcpy(hi, years, yn);
    memcpy(hi + yn, "99999999", 8);
    char hf[2 * sizeof field + 1], hy[2 * sizeof years + 1], hl[129], hh[129];
    put_hex(hf, field, fn);
    put_hex(hy, years, yn);
    put_hex(hl, lo, yn + 4);
    put_hex(hh, hi, yn + 8);
    char *text = NULL;
    if (asprintf(&text, "kzsearch stats 1\ndocs 10\ntokens 100\ndocids 10\ncyrillic 0\nparts 1\nanalyzer %u\n"
                        "language auto\nx 5 %s %s %s\nx 5 %s %s %s\nend\n",
                 (unsigned)KZ_ANALYZER_VERSION, hf, hl, hh, hy, hl, hh) < 0)
        abort();
    kz_stats *s = NULL;
    int rc = kz_stats_decode(&s, text, strlen(text));
    free(text);
    CHECK(rc == KZ_OK || rc == KZ_ESYNTAX);
    if (!s)
        return;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    kz_query *q = NULL;
    rc = kz_query_parse_global(&q, shard_ix[0], "date>=2022-06", 13, 0, s, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    CHECK_MSG(took < 1.0, "\"date>=2022-06\" against years 0001..99999999: %.2f s (rc %d)", took, rc);
    kz_query_free(q);
    kz_stats_free(s);
}

/* ---------------------------------------------- two languages, another query */

static void test_two_languages(void)
{
    char *en = path_in(root, "english"), *ru = path_in(root, "russian");
    build(en, 0, 0, "english", KZ_BUILD_REPLACE, 0, 60, NULL);
    build(ru, 0, 0, "russian", KZ_BUILD_REPLACE, 60, 120, NULL);
    kz_index *a = NULL, *b = NULL;
    CHECK_OK(kz_index_open(&a, en));
    CHECK_OK(kz_index_open(&b, ru));
    kz_stats *sa = NULL, *sb = NULL, *sum = NULL;
    if (a && b) {
        CHECK_OK(kz_stats_gather(&sa, a, "russia oil", 10, 0, NULL, NULL));
        CHECK_OK(kz_stats_gather(&sb, b, "russia oil", 10, 0, NULL, NULL));
        CHECK_OK(kz_stats_new(&sum));
    }
    if (sa && sb && sum) {
        CHECK_OK(kz_stats_merge(sum, sa));
        char *before = NULL, *after = NULL;
        size_t n1 = 0, n2 = 0;
        CHECK_OK(kz_stats_encode(sum, &before, &n1));
        CHECK_INT(kz_stats_merge(sum, sb), KZ_EINVAL);
        CHECK_MSG(strstr(kz_last_error(), "english") && strstr(kz_last_error(), "russian"), "message: %s",
                  kz_last_error());
        CHECK_INT(kz_stats_docs(sum), kz_stats_docs(sa));
        CHECK_INT(kz_stats_docids(sum), kz_stats_docids(sa));
        CHECK_OK(kz_stats_encode(sum, &after, &n2));
        CHECK(before && after && n1 == n2 && memcmp(before, after, n1) == 0);
        /* Still usable: the english index reads the query against it, as alone. */
        kz_query *q = NULL;
        CHECK_OK(kz_query_parse_global(&q, a, "russia oil", 10, 0, sum, NULL));
        kz_results *r = NULL, *alone = NULL;
        kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
        o.flags = KZ_SEARCH_NO_COLLAPSE;
        if (q)
            CHECK_OK(kz_query_run(&r, q, &o));
        CHECK_OK(kz_search(&alone, a, "russia oil", 10, &o));
        if (r && alone) {
            CHECK_INT(kz_results_total(r), kz_results_total(alone));
            CHECK(kz_results_count(r) == kz_results_count(alone) &&
                  (!kz_results_count(r) || kz_results_hit(r, 0)->score == kz_results_hit(alone, 0)->score));
        }
        kz_results_free(r);
        kz_results_free(alone);
        kz_query_free(q);
        /* The other order too, through the wire. */
        kz_stats *sum2 = NULL, *wa = wire(sa, "english");
        CHECK_OK(kz_stats_new(&sum2));
        if (sum2 && wa) {
            CHECK_OK(kz_stats_merge(sum2, sb));
            CHECK_INT(kz_stats_merge(sum2, wa), KZ_EINVAL);
            CHECK_INT(kz_stats_docs(sum2), kz_stats_docs(sb));
        }
        kz_stats_free(sum2);
        kz_stats_free(wa);
        free(before);
        free(after);
    }
    kz_stats_free(sa);
    kz_stats_free(sb);
    kz_stats_free(sum);
    kz_index_free(a);
    kz_index_free(b);
    free(en);
    free(ru);
}

/* Statistics gathered for "oil" lack the date field's extent that
 * "date>=2022 oil" asks: refused, not answered as if no document had a
 * date. Sorting by a field they were not gathered for likewise. */
static void test_another_query(void)
{
    kz_stats *sum = gather_sum("oil", NULL);
    if (!sum)
        return;
    static const char *const needs_extent[] = { "date>=2022 oil", "source:tass.ru oil", "oil -date:2021" };
    for (size_t i = 0; i < sizeof needs_extent / sizeof *needs_extent; i++)
        for (uint32_t s = 0; s < N_SHARDS; s++) {
            kz_query *q = NULL;
            kz_syntax_error err;
            int rc = kz_query_parse_global(&q, shard_ix[s], needs_extent[i], strlen(needs_extent[i]), 0, sum, &err);
            CHECK_MSG(rc != KZ_OK && q == NULL, "\"%s\" with statistics of \"oil\" on shard %u: %d", needs_extent[i],
                      s, rc);
            if (rc != KZ_OK)
                CHECK_MSG(strstr(kz_last_error(), "statistics") != NULL, "message: %s", kz_last_error());
            kz_query_free(q);
        }
    for (uint32_t s = 0; s < N_SHARDS; s++) {
        kz_query *q = NULL;
        CHECK_OK(kz_query_parse_global(&q, shard_ix[s], "oil", 3, 0, sum, NULL));
        if (!q)
            continue;
        kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
        o.flags = KZ_SEARCH_NO_COLLAPSE;
        o.sort_field = "date";
        kz_results *r = NULL;
        int rc = kz_query_run(&r, q, &o);
        CHECK_MSG(rc != KZ_OK && r == NULL, "sorted by date with statistics gathered unsorted on shard %u: %d", s, rc);
        kz_results_free(r);
        kz_query_free(q);
    }
    /* No statistics at all. */
    kz_query *q = NULL;
    CHECK_INT(kz_query_parse_global(&q, shard_ix[0], "oil", 3, 0, NULL, NULL), KZ_EINVAL);
    CHECK(q == NULL);
    kz_stats_free(sum);
}

int main(void)
{
    rng = kz_test_seed();
    make_corpus();
    make_shards();
    KZ_RUN(test_global_statistics);
    KZ_RUN(test_prefix_note);
    KZ_RUN(test_suggestions);
    KZ_RUN(test_collapse);
    KZ_RUN(test_malformed);
    KZ_RUN(test_hostile_extent);
    KZ_RUN(test_two_languages);
    KZ_RUN(test_another_query);
    free_shards();
    for (size_t i = 0; i < N_DOCS; i++) {
        free(docs[i].title);
        free(docs[i].text);
    }
    free(replacement.title);
    free(replacement.text);
    return kz_test_finish();
}
