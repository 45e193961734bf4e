/*
 * test_shards.c: indexes searched as one (store/shards.c, and the parts of
 * store/index.c) answer as one index of all their documents.
 *
 * One seeded corpus is built as one index, and as 3 and 7 shards
 * (kz_build_options.shards: every shard reads every document and keeps its
 * own). The shards are searched as a shard set and as kz_index_open_many.
 * For every query of a fixed set, in every mode, the totals, the number
 * with every word, the facet counts and every hit's document and score
 * must be the single index's, the scores bit for bit. Ties between equal
 * scores are ordered by docid, and docids follow the shards' order, so
 * hits are compared as lists sorted by score and then by the document's
 * id. N, tokens, avgdl and each term's df must be equal too.
 *
 * Also: shards never overlap and together hold every document; a shard
 * that changes makes the set stale (KZ_ESTALE) until it is made again; a
 * damaged set file, a missing shard, a folder named twice and indexes of
 * two languages are refused with a message.
 */
#include "kzint.h"
#include "format.h"
#include "reseal.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_DOCS 2500

static const char *vocab[] = { "russia", "kazakhstan", "border", "steppe", "oil", "grain", "astana", "tokayev",
                               "treaty", "language", "minority", "pipeline", "election", "uranium", "railway",
                               "news", "report", "history", "market", "river", "sanctions", "wheat" };
#define N_VOCAB (sizeof vocab / sizeof *vocab)
static const char *sources[] = { "interfax.ru", "tass.ru", "reuters.com", "kazinform.kz" };

typedef struct doc {
    char id[24], date[16];
    char *title, *text;
    const char *source;
} doc;

static doc docs[N_DOCS];
static uint64_t rng;

static char *random_words(size_t words) { return kz_test_random_words(&rng, vocab, N_VOCAB, words); }

static void make_corpus(void)
{
    for (size_t i = 0; i < N_DOCS; i++) {
        doc *d = &docs[i];
        snprintf(d->id, sizeof d->id, "doc-%zu", i);
        snprintf(d->date, sizeof d->date, "%d-%02d-%02d", 2019 + (int)(kz_test_rand(&rng) % 5),
                 1 + (int)(kz_test_rand(&rng) % 12), 1 + (int)(kz_test_rand(&rng) % 28));
        d->title = random_words(1 + kz_test_rand(&rng) % 4);
        d->text = random_words(5 + kz_test_rand(&rng) % 120);
        d->source = sources[kz_test_rand(&rng) % 4];
    }
}

/* Builds every document into dir, or only shard of shards. */
static void build(const char *dir, uint32_t shard, uint32_t shards, const char *language, uint64_t *kept)
{
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.threads = 2;
    o.shard = shard;
    o.shards = shards;
    o.language = language;
    kz_builder *b = NULL;
    CHECK_OK(kz_builder_new(&b, dir, &o));
    if (!b)
        return;
    for (size_t i = 0; i < N_DOCS; i++) {
        const doc *d = &docs[i];
        kz_doc_field f[2] = { { "source", 6, d->source, strlen(d->source) }, { "date", 4, d->date, strlen(d->date) } };
        CHECK_OK(kz_builder_add_document(b, d->id, strlen(d->id), d->title, strlen(d->title), d->text, strlen(d->text),
                                         f, 2));
    }
    kz_build_stats st;
    CHECK_OK(kz_builder_commit(b, &st));
    CHECK_INT(st.docs + st.other_shards, N_DOCS);
    if (kept)
        *kept = st.docs;
    kz_builder_free(b);
}

typedef struct hit {
    char id[24];
    double score;
    int all_words;
} hit;

static int cmp_hit(const void *x, const void *y)
{
    const hit *a = x, *b = y;
    if (a->all_words != b->all_words) /* AUTO: the AND part first */
        return a->all_words ? -1 : 1;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return strcmp(a->id, b->id);
}

typedef struct answer {
    uint64_t total, all_words;
    hit *hits;
    size_t n;
    uint64_t facet[8];
    char facet_value[8][32];
    size_t n_facet;
} answer;

static void answer_free(answer *a)
{
    free(a->hits);
    memset(a, 0, sizeof *a);
}

/* Every hit of q in mode, sorted for comparison. */
static int ask(kz_index *ix, const char *q, kz_mode mode, uint32_t limit, answer *out)
{
    memset(out, 0, sizeof *out);
    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
    kz_facet_spec facet = { "source", KZ_FACET_VALUES, 8 };
    o.mode = mode;
    o.limit = limit;
    o.facets = &facet;
    o.n_facets = 1;
    kz_results *r = NULL;
    int rc = kz_search(&r, ix, q, strlen(q), &o);
    if (rc)
        return rc;
    out->total = kz_results_total(r);
    out->all_words = kz_results_total_all_words(r);
    out->n = kz_results_count(r);
    out->hits = calloc(out->n + 1, sizeof *out->hits);
    for (size_t i = 0; i < out->n; i++) {
        const kz_hit *h = kz_results_hit(r, i);
        kz_doc d;
        rc = kz_index_doc(ix, &d, h->docid, NULL, 0);
        if (rc)
            break;
        snprintf(out->hits[i].id, sizeof out->hits[i].id, "%.*s", (int)d.id_len, d.id);
        out->hits[i].score = h->score;
        out->hits[i].all_words = mode == KZ_MODE_AUTO && i < out->all_words;
    }
    out->n_facet = kz_results_facet_count(r, 0);
    for (size_t i = 0; i < out->n_facet && i < 8; i++) {
        size_t len;
        const char *v = kz_results_facet_value(r, 0, i, &len, &out->facet[i]);
        snprintf(out->facet_value[i], sizeof out->facet_value[i], "%.*s", (int)len, v);
    }
    kz_results_free(r);
    qsort(out->hits, out->n, sizeof *out->hits, cmp_hit);
    return rc;
}

static const char *const queries[] = {
    "russia", "kazakhstan border", "oil OR grain", "\"kazakhstan border\"", "tokayev -russia", "astana +steppe",
    "kaz*", "ri*", "uranium railway election", "(oil OR wheat) sanctions", "source:tass.ru grain",
    "date:2021 russia", "date>=2022-06 market", "-source:reuters.com river news", "\"news report\" history",
    "zzznothing", "russia zzznothing", "treaty language minority pipeline", "title:russia oil",
    "title:\"kazakhstan border\" OR -title:russia steppe",
};

/* Every query, in every mode, all hits and the top 10, on ix and on the
 * single index one. */
static void compare(kz_index *one, kz_index *ix, const char *what)
{
    kz_index_info a, b;
    kz_index_get_info(one, &a);
    kz_index_get_info(ix, &b);
    CHECK_MSG(a.docs == b.docs && a.tokens == b.tokens && a.avgdl == b.avgdl,
              "%s: N %llu tokens %llu avgdl %.17g, one index %llu %llu %.17g", what, (unsigned long long)b.docs,
              (unsigned long long)b.tokens, b.avgdl, (unsigned long long)a.docs, (unsigned long long)a.tokens,
              a.avgdl);
    for (size_t w = 0; w < N_VOCAB; w++) {
        uint64_t df1 = 0, df2 = 0;
        CHECK_OK(kz_index_live_df(one, vocab[w], strlen(vocab[w]), &df1, NULL));
        CHECK_OK(kz_index_live_df(ix, vocab[w], strlen(vocab[w]), &df2, NULL));
        CHECK_MSG(df1 == df2, "%s: df(%s) %llu, one index %llu", what, vocab[w], (unsigned long long)df2,
                  (unsigned long long)df1);
    }
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
        for (int mode = 0; mode < 3; mode++) {
            for (int all = 0; all < 2; all++) {
                answer x, y;
                uint32_t limit = all ? N_DOCS : 10;
                CHECK_OK(ask(one, queries[q], (kz_mode)mode, limit, &x));
                CHECK_OK(ask(ix, queries[q], (kz_mode)mode, limit, &y));
                int same = x.total == y.total && x.all_words == y.all_words && x.n == y.n && x.n_facet == y.n_facet;
                for (size_t i = 0; same && i < x.n; i++)
                    same = strcmp(x.hits[i].id, y.hits[i].id) == 0 && x.hits[i].score == y.hits[i].score;
                for (size_t i = 0; same && i < x.n_facet && i < 8; i++)
                    same = x.facet[i] == y.facet[i] && strcmp(x.facet_value[i], y.facet_value[i]) == 0;
                /* The top 10 may differ only among hits tied with the 10th. */
                if (!same && !all && x.n == y.n && x.total == y.total && x.n) {
                    same = 1;
                    for (size_t i = 0; same && i < x.n; i++)
                        same = x.hits[i].score == y.hits[i].score;
                }
                CHECK_MSG(same, "%s: \"%s\" mode %d %s: %llu hits (%llu with every word), one index %llu (%llu)",
                          what, queries[q], mode, all ? "all" : "top 10", (unsigned long long)y.total,
                          (unsigned long long)y.all_words, (unsigned long long)x.total,
                          (unsigned long long)x.all_words);
                answer_free(&x);
                answer_free(&y);
            }
        }
    }
}

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        abort();
    return p;
}

static void test_shards_answer_as_one(void)
{
    char *root = kz_test_temp_dir();
    char *one_dir = path_in(root, "one");
    build(one_dir, 0, 0, NULL, NULL);
    kz_index *one = NULL;
    CHECK_OK(kz_index_open(&one, one_dir));
    if (!one)
        return;
    static const uint32_t counts[] = { 1, 3, 7 };
    for (size_t c = 0; c < 3; c++) {
        uint32_t n = counts[c];
        char **dirs = calloc(n, sizeof *dirs);
        uint64_t sum = 0;
        for (uint32_t i = 0; i < n; i++) {
            char name[32];
            snprintf(name, sizeof name, "s%u-of-%u", i, n);
            dirs[i] = path_in(root, name);
            uint64_t kept = 0;
            build(dirs[i], i, n, NULL, &kept);
            sum += kept;
        }
        CHECK_INT(sum, N_DOCS); /* no overlap, nothing lost */
        char what[64];
        kz_index *many = NULL;
        CHECK_OK(kz_index_open_many(&many, (const char *const *)dirs, n));
        snprintf(what, sizeof what, "%u shards opened together", n);
        if (many)
            compare(one, many, what);
        kz_index_free(many);

        char set_name[32];
        snprintf(set_name, sizeof set_name, "set-%u", n);
        char *set = path_in(root, set_name);
        CHECK_OK(kz_shard_set_create(set, (const char *const *)dirs, n));
        kz_index *ix = NULL;
        CHECK_OK(kz_index_open(&ix, set));
        snprintf(what, sizeof what, "a set of %u shards", n);
        if (ix) {
            CHECK_INT(kz_index_part_count(ix), n);
            compare(one, ix, what);
        }
        kz_index_free(ix);
        free(set);
        for (uint32_t i = 0; i < n; i++)
            free(dirs[i]);
        free(dirs);
    }
    kz_index_free(one);
    free(one_dir);
    free(root);
}

static void put(const char *path, const char *s)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs(s, f);
        fclose(f);
    }
}

static void test_stale_and_damaged(void)
{
    char *root = kz_test_temp_dir();
    char *a = path_in(root, "a"), *b = path_in(root, "b"), *set = path_in(root, "set");
    build(a, 0, 2, NULL, NULL);
    build(b, 1, 2, NULL, NULL);
    const char *dirs[] = { a, b };
    CHECK_OK(kz_shard_set_create(set, dirs, 2));
    kz_index *ix = NULL;
    CHECK_OK(kz_index_open(&ix, set));
    kz_index_free(ix);

    /* The set records paths relative to itself: it moves with its shards. */
    char *moved = path_in(root, "moved");
    CHECK(mkdir(moved, 0755) == 0);
    char *ma = path_in(moved, "a"), *mb = path_in(moved, "b"), *mset = path_in(moved, "set");
    CHECK(rename(a, ma) == 0 && rename(b, mb) == 0 && rename(set, mset) == 0);
    ix = NULL;
    CHECK_OK(kz_index_open(&ix, mset));
    kz_index_free(ix);

    /* A shard that changes makes the set stale, until it is made again. */
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.mode = KZ_BUILD_ADD;
    kz_builder *bl = NULL;
    CHECK_OK(kz_builder_new(&bl, ma, &o));
    if (bl) {
        CHECK_OK(kz_builder_add_document(bl, "new", 3, "", 0, "russia news", 11, NULL, 0));
        CHECK_OK(kz_builder_commit(bl, NULL));
        kz_builder_free(bl);
    }
    ix = NULL;
    CHECK_INT(kz_index_open(&ix, mset), KZ_ESTALE);
    CHECK(strstr(kz_last_error(), "shards create") != NULL);
    const char *mdirs[] = { ma, mb };
    CHECK_OK(kz_shard_set_create(mset, mdirs, 2));
    CHECK_OK(kz_index_open(&ix, mset));
    kz_index_free(ix);

    /* The set is not an index to change: its shards are. */
    kz_builder *onto = NULL;
    CHECK_INT(kz_builder_new(&onto, mset, NULL), KZ_EINVAL);
    CHECK(strstr(kz_last_error(), "shard set") != NULL);
    const char *ids[] = { "doc-1" };
    uint8_t found[1];
    uint64_t deleted = 0;
    CHECK_INT(kz_index_delete(mset, ids, 1, found, &deleted), KZ_EINVAL);

    /* A damaged set file. */
    char *file = path_in(mset, KZ_SHARDS_FILE);
    FILE *f = fopen(file, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 30, SEEK_SET); /* a hex digit of the first shard's hash: made another */
        int c = fgetc(f);
        fseek(f, 30, SEEK_SET);
        fputc(c == '9' ? '8' : '9', f);
        fclose(f);
    }
    ix = NULL;
    CHECK_INT(kz_index_open(&ix, mset), KZ_ECORRUPT);
    CHECK(strstr(kz_last_error(), "checksum") != NULL);
    put(file, "kzsearch shard set 1\nend 0000000000000000\n");
    CHECK_INT(kz_index_open(&ix, mset), KZ_ECORRUPT);
    put(file, "not a set\n");
    CHECK_INT(kz_index_open(&ix, mset), KZ_ECORRUPT);

    /* A shard gone. */
    CHECK_OK(kz_shard_set_create(mset, mdirs, 2));
    char *gone = path_in(moved, "gone");
    CHECK(rename(mb, gone) == 0);
    CHECK(kz_index_open(&ix, mset) != KZ_OK);
    CHECK(ix == NULL);
    CHECK(rename(gone, mb) == 0);

    /* A folder named twice, and two languages. */
    const char *twice[] = { ma, ma };
    CHECK_INT(kz_index_open_many(&ix, twice, 2), KZ_EINVAL);
    char *en = path_in(root, "english");
    build(en, 0, 0, "english", NULL);
    const char *mixed[] = { ma, en };
    CHECK_INT(kz_index_open_many(&ix, mixed, 2), KZ_EINVAL);
    CHECK(strstr(kz_last_error(), "language") != NULL);
    CHECK_INT(kz_shard_set_create(mset, mixed, 2), KZ_EINVAL);

    /* A shard out of range. */
    kz_build_options bad = KZ_BUILD_OPTIONS_INIT;
    bad.shard = 3;
    bad.shards = 3;
    CHECK_INT(kz_builder_new(&bl, en, &bad), KZ_EINVAL);

    free(en);
    free(gone);
    free(file);
    free(ma);
    free(mb);
    free(mset);
    free(moved);
    free(a);
    free(b);
    free(set);
    free(root);
}

/* The id of a document of the corpus that belongs to shard of shards. */
static const char *id_of_shard(uint32_t shard, uint32_t shards)
{
    for (size_t i = 0; i < N_DOCS; i++)
        if (kz_shard_of(docs[i].id, strlen(docs[i].id), shards) == shard)
            return docs[i].id;
    return NULL;
}

/* Builds dir from one document: id, "russia news". */
static void build_one(const char *dir, const char *id, kz_build_mode mode)
{
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.mode = mode;
    kz_builder *b = NULL;
    CHECK_OK(kz_builder_new(&b, dir, &o));
    if (!b)
        return;
    CHECK_OK(kz_builder_add_document(b, id, strlen(id), "", 0, "russia news", 11, NULL, 0));
    CHECK_OK(kz_builder_commit(b, NULL));
    kz_builder_free(b);
}

/* Shards that hold one id twice (input not split with --shard) are
 * refused by kz_shard_set_create, with the id and both shards named and no
 * set written; a deleted document does not count; two ids of one hash are
 * two documents. */
static void test_duplicate_ids(void)
{
    char *root = kz_test_temp_dir();
    char *all = path_in(root, "all"), *s0 = path_in(root, "s0"), *s1 = path_in(root, "s1");
    char *set = path_in(root, "set"), *forged = path_in(root, "forged");
    build(all, 0, 0, NULL, NULL);
    build(s0, 0, 2, NULL, NULL);
    build(s1, 1, 2, NULL, NULL);

    /* Every document of s1 is in all too. */
    const char *unsplit[] = { all, s1 };
    struct stat st;
    CHECK_INT(kz_shard_set_create(set, unsplit, 2), KZ_EINVAL);
    const char *msg = kz_last_error();
    CHECK_MSG(strstr(msg, "is in two shards") && strstr(msg, all) && strstr(msg, s1), "message: %s", msg);
    const char *q = strstr(msg, "\"doc-");
    char id[24] = "";
    if (q)
        sscanf(q + 1, "%23[^\"]", id);
    CHECK_MSG(id[0] && kz_shard_of(id, strlen(id), 2) == 1, "the id named is no document of s1: %s", msg);
    CHECK(stat(set, &st) != 0); /* nothing written */

    /* One document in both shards, until s1's copy is deleted. */
    const char *moved = id_of_shard(1, 2);
    build_one(s0, moved, KZ_BUILD_ADD);
    const char *pair[] = { s0, s1 };
    CHECK_INT(kz_shard_set_create(set, pair, 2), KZ_EINVAL);
    char want[64];
    snprintf(want, sizeof want, "\"%s\" is in two shards", moved);
    CHECK_MSG(strstr(kz_last_error(), want) != NULL, "message: %s", kz_last_error());
    uint8_t found = 0;
    uint64_t deleted = 0;
    CHECK_OK(kz_index_delete(s1, &moved, 1, &found, &deleted));
    CHECK_INT(deleted, 1);
    CHECK_OK(kz_shard_set_create(set, pair, 2));
    kz_index *ix = NULL;
    CHECK_OK(kz_index_open(&ix, set));
    if (ix) {
        kz_index_info info;
        kz_index_get_info(ix, &info);
        CHECK_INT(info.docs, N_DOCS);
    }
    kz_index_free(ix);

    /* A shard of one document whose IDS record carries the hash of an id
     * of s0 (forged: XXH3 collisions are not found by chance) is no
     * duplicate: the ids differ. With that id itself, it is one. */
    const char *taken = id_of_shard(0, 2);
    build_one(forged, taken, KZ_BUILD_REPLACE);
    const char *clash[] = { s0, forged };
    CHECK_INT(kz_shard_set_create(set, clash, 2), KZ_EINVAL);
    build_one(forged, "not-a-corpus-id", KZ_BUILD_REPLACE);
    kz_manifest m;
    CHECK_OK(kz_manifest_read(&m, forged));
    char *seg = m.n_segments == 1 ? path_in(forged, m.segments[0].name) : NULL;
    kz_manifest_free(&m);
    size_t size = 0;
    uint8_t *file = seg ? kz_test_read_file(seg, &size) : NULL;
    CHECK(file != NULL);
    int patched = 0;
    if (file && size > KZ_TRAILER_SIZE) {
        uint64_t table = kz_load_u64(file + size - KZ_TRAILER_SIZE + 8);
        uint32_t n_sec = kz_load_u32(file + size - KZ_TRAILER_SIZE);
        for (uint32_t i = 0; i < n_sec && table + (uint64_t)(i + 1) * KZ_SECTION_ENTRY_SIZE <= size; i++) {
            const uint8_t *e = file + table + (uint64_t)i * KZ_SECTION_ENTRY_SIZE;
            uint64_t off = kz_load_u64(e + 8), len = kz_load_u64(e + 16);
            if (kz_load_u32(e) == KZ_SEC_IDS && len == KZ_IDS_SIZE && off + len <= size) {
                kz_store_u64(file + off + KZ_IDS_HASH, XXH3_64bits(taken, strlen(taken)));
                patched = 1;
            }
        }
        kz_test_reseal(file, size);
        kz_test_write_file(seg, file, size);
    }
    CHECK(patched);
    CHECK_OK(kz_shard_set_create(set, clash, 2));
    free(file);
    free(seg);

    kz_test_remove_tree(root);
    free(forged);
    free(set);
    free(s1);
    free(s0);
    free(all);
    free(root);
}

int main(void)
{
    rng = kz_test_seed();
    make_corpus();
    KZ_RUN(test_shards_answer_as_one);
    KZ_RUN(test_stale_and_damaged);
    KZ_RUN(test_duplicate_ids);
    for (size_t i = 0; i < N_DOCS; i++) {
        free(docs[i].title);
        free(docs[i].text);
    }
    return kz_test_finish();
}
