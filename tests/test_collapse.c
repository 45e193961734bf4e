/*
 * test_collapse.c: near-duplicates (README "Near-duplicates"): the SimHash
 * fingerprint of a text, and searches that collapse syndicated copies of
 * a story into one hit while keeping different stories apart.
 */
#include "kzint.h"
#include "format.h"
#include "test.h"

#include <xxhash.h>
#include <zlib.h>

static const char *story =
    "The central bank raised its key interest rate by half a point on Thursday, the third increase this year, "
    "saying that inflation had proved more stubborn than it expected in the spring. The governor told reporters "
    "that wages in the service sector were still rising quickly and that the housing market showed few signs "
    "of cooling. Economists had been divided before the meeting: some argued that the bank should pause to "
    "see how earlier increases worked through the economy, while others warned that waiting would only make "
    "a sharper rise necessary later. Shares of the largest lenders fell after the announcement, and the "
    "currency climbed to its highest level against the dollar in seven months. The bank said it would "
    "publish new forecasts in June and that further moves would depend on the data. Mortgage holders on "
    "variable rates will see their monthly payments rise from next month, a change that consumer groups "
    "said would hurt families already struggling with the cost of food and energy. Retailers reported that "
    "shoppers had already cut back on furniture, cars and holidays abroad, and several builders said buyers "
    "were cancelling reservations for new homes. The finance minister welcomed the decision, saying that "
    "price stability was the foundation of lasting growth, but opposition parties accused the government of "
    "leaving the bank to do all the work while public spending kept rising. Analysts at two of the biggest "
    "investment houses now expect at least one more increase before the end of the summer, and markets "
    "priced in a small chance of a move as large as today's at the next meeting. Savers, at least, had "
    "something to cheer: deposit rates at the high street banks are expected to follow within days, after "
    "years in which they earned almost nothing on their money.";

static const char *other_story =
    "Heavy rain flooded the lower town overnight, closing the river bridge and two schools. Volunteers filled "
    "sandbags until dawn while the fire brigade pumped water out of cellars along the market street. The "
    "mayor said the new flood wall had held at the northern end but that the older embankment near the mill "
    "had been overtopped for the second time in a decade, and asked the regional government for money to "
    "rebuild it. Forecasters expect the river to crest on Saturday afternoon before falling slowly next week.";

static kz_index *build(char *dir, const char *const *texts, const char *const *sites, size_t n)
{
    kz_builder *b;
    CHECK_OK(kz_builder_new(&b, dir, NULL));
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "d%zu", i);
        kz_doc_field meta[1] = { { "site", 4, sites[i], strlen(sites[i]) } };
        const char *title = *texts[i] ? "" : "Bank news without text";
        CHECK_OK(kz_builder_add_document(b, id, strlen(id), title, strlen(title), texts[i], strlen(texts[i]), meta, 1));
    }
    CHECK_OK(kz_builder_commit(b, NULL));
    kz_builder_free(b);
    kz_index *ix = NULL;
    CHECK_OK(kz_index_open(&ix, dir));
    return ix;
}

static uint64_t simhash_of(kz_index *ix, uint32_t docid)
{
    size_t seg;
    uint32_t local;
    uint64_t fp = 0;
    CHECK_OK(kz_index_locate(ix, docid, &seg, &local));
    CHECK_OK(kz_segment_doc_simhash(kz_index_segment(ix, seg), local, &fp));
    return fp;
}

/* FORMAT.md "SIMHASH" as it reads, one bit at a time: bit b is set when
 * more than half of the shingles' hashes have it. */
static uint64_t simhash_by_definition(const uint64_t *terms, size_t n)
{
    if (n == 0)
        return KZ_SIMHASH_NONE;
    size_t w = KZ_MIN(n, (size_t)KZ_SIMHASH_SHINGLE), shingles = n - w + 1;
    uint64_t fp = 0;
    for (unsigned b = 0; b < 64; b++) {
        size_t set = 0;
        for (size_t i = 0; i < shingles; i++) {
            uint8_t buf[8 * KZ_SIMHASH_SHINGLE];
            for (size_t j = 0; j < w; j++)
                for (int k = 0; k < 8; k++)
                    buf[8 * j + (size_t)k] = (uint8_t)(terms[i + j] >> (8 * k)); /* a u64, little-endian */
            set += XXH3_64bits(buf, 8 * w) >> b & 1;
        }
        if (2 * set > shingles)
            fp |= 1ull << b;
    }
    return fp == KZ_SIMHASH_NONE ? 1 : fp;
}

/* Fingerprints: equal texts are equal, a few edits move a few bits,
 * unrelated texts are far apart, a text without terms has none; and each
 * is the definition's, for texts of 0 to 70,000 terms (past the counters'
 * refresh at 65,535 shingles), some of few distinct terms. */
static void test_fingerprint(void)
{
    uint64_t rng = kz_test_seed();
    size_t sizes[] = { 0, 1, 2, 3, 4, 5, 17, 200, 1000, 65536, 65537, 70000 };
    uint64_t *many = malloc(70000 * sizeof *many);
    for (size_t s = 0; many && s < sizeof sizes / sizeof *sizes; s++) {
        uint64_t distinct = 1 + kz_test_rand(&rng) % (s % 2 ? 5 : 100000);
        for (size_t i = 0; i < sizes[s]; i++)
            many[i] = kz_simhash_term(NULL, 0) ^ (kz_test_rand(&rng) % distinct) * 0x9E3779B97F4A7C15ull;
        CHECK_MSG(kz_simhash(many, sizes[s]) == simhash_by_definition(many, sizes[s]), "%zu terms", sizes[s]);
    }
    free(many);
    uint64_t h[200];
    for (size_t i = 0; i < 200; i++)
        h[i] = kz_simhash_term((const char *)&i, sizeof i);
    uint64_t a = kz_simhash(h, 200);
    CHECK(a != KZ_SIMHASH_NONE);
    CHECK(kz_simhash(h, 200) == a);
    CHECK(kz_simhash(h, 0) == KZ_SIMHASH_NONE);
    CHECK(kz_simhash(h, 1) != KZ_SIMHASH_NONE);
    uint64_t h2[200];
    memcpy(h2, h, sizeof h);
    h2[100] = kz_simhash_term("changed", 7);
    CHECK_MSG(kz_simhash_similar(a, kz_simhash(h2, 200)), "one word of 200: %d bits apart",
              __builtin_popcountll(a ^ kz_simhash(h2, 200)));
    for (size_t i = 0; i < 200; i++)
        h2[i] = kz_simhash_term((const char *)&i, sizeof i - 1) ^ 0x5555;
    CHECK(!kz_simhash_similar(a, kz_simhash(h2, 200)));
    CHECK(!kz_simhash_similar(KZ_SIMHASH_NONE, KZ_SIMHASH_NONE));
}

/* One story syndicated by four sites (boilerplate around it, a changed
 * word), a different story on the same subject words, and an empty text:
 * the copies collapse into the best-scoring one; --no-collapse gives the
 * plain ranking back; totals count every match. */
static void test_syndicated(void)
{
    char *texts[8];
    const char *sites[8] = { "reuters.com", "msn.com", "yahoo.com", "aol.com", "local.example",
                             "weather.example", "blank.example", "rate.example" };
    kz_buf t[8];
    memset(t, 0, sizeof t);
    kz_buf_printf(&t[0], "%s", story);
    kz_buf_printf(&t[1], "Advertisement. %s Read more on MSN News.", story);
    kz_buf_printf(&t[2], "By Reuters staff. %s Follow us.", story);
    /* A word changed in the middle, as an editor would. */
    const char *mid = strstr(story, "stubborn");
    kz_buf_printf(&t[3], "%.*spersistent%s Copyright 2024.", (int)(mid - story), story, mid + strlen("stubborn"));
    kz_buf_printf(&t[4], "%s", other_story);
    kz_buf_printf(&t[5], "Rain and interest: the bank and the river. %s", other_story);
    kz_buf_printf(&t[6], "%s", ""); /* indexed by its title */
    kz_buf_printf(&t[7], "%s", "The bank raised its interest rate again, and the governor spoke about inflation and wages.");
    for (int i = 0; i < 8; i++) {
        kz_buf_terminate(&t[i]);
        texts[i] = (char *)t[i].data;
    }
    char *dir = kz_test_temp_dir();
    kz_index *ix = build(dir, (const char *const *)texts, sites, 8);
    if (!ix)
        goto done;
    for (uint32_t i = 1; i < 4; i++)
        CHECK_MSG(kz_simhash_similar(simhash_of(ix, 0), simhash_of(ix, i)), "copy %u: %d bits apart", i,
                  __builtin_popcountll(simhash_of(ix, 0) ^ simhash_of(ix, i)));
    CHECK(!kz_simhash_similar(simhash_of(ix, 0), simhash_of(ix, 4)));
    CHECK(!kz_simhash_similar(simhash_of(ix, 0), simhash_of(ix, 7)));
    CHECK(simhash_of(ix, 6) == KZ_SIMHASH_NONE);

    kz_results *plain, *r;
    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
    o.flags = KZ_SEARCH_NO_COLLAPSE;
    o.mode = KZ_MODE_ANY;
    const char *q = "bank interest rate";
    CHECK_OK(kz_search(&plain, ix, q, strlen(q), &o));
    o.flags = 0;
    CHECK_OK(kz_search(&r, ix, q, strlen(q), &o));
    if (plain && r) {
        CHECK_INT(kz_results_count(plain), 7);
        CHECK_INT(kz_results_total(r), kz_results_total(plain));
        CHECK_INT(kz_results_count(r), 4); /* the story, the note, the river story, the title */
        CHECK_INT(kz_results_collapsed(r), 3);
        CHECK_INT(kz_results_collapsed(plain), 0);
        /* Hits are the plain ranking less the copies after the first, with
         * their own scores. */
        size_t j = 0, best = SIZE_MAX;
        uint32_t leader = UINT32_MAX;
        for (size_t i = 0; i < kz_results_count(plain) && j < kz_results_count(r); i++) {
            uint32_t d = kz_results_hit(plain, i)->docid;
            if (d <= 3 && leader == UINT32_MAX) {
                leader = d;
                best = j;
            } else if (d <= 3) {
                continue;
            }
            CHECK_INT(kz_results_hit(r, j)->docid, d);
            CHECK(kz_results_hit(r, j)->score == kz_results_hit(plain, i)->score);
            CHECK_INT(kz_results_similar_count(r, j), d == leader ? 3 : 0);
            j++;
        }
        CHECK_INT(j, kz_results_count(r));
        if (best == SIZE_MAX)
            best = 0;
        uint32_t seen = 1u << kz_results_hit(r, best)->docid;
        for (size_t k = 0; k < kz_results_similar_count(r, best); k++) {
            const kz_hit *s = kz_results_similar(r, best, k);
            CHECK(s->docid <= 3);
            seen |= 1u << s->docid;
            CHECK(s->score <= kz_results_hit(r, best)->score);
            if (k > 0)
                CHECK(kz_results_similar(r, best, k - 1)->score >= s->score);
        }
        CHECK_INT(seen, 0xf);
        CHECK(kz_results_similar(r, best, 3) == NULL);
        CHECK_INT(kz_results_similar_count(r, 99), 0);
    }
    kz_results_free(plain);
    kz_results_free(r);

    /* Paging: each page is the matching slice of the collapsed ranking.
     * The copies match every word, and AND matches are walked a margin
     * past the page's end: a page of one lists them as a page of ten
     * does. Matches of some words only (ANY mode) are walked as far as
     * the page's end (KZ_COLLAPSE_MARGIN): the same hits, and of their
     * similar documents those ranked before the page's end. */
    static const kz_mode paging[] = { KZ_MODE_AUTO, KZ_MODE_ALL, KZ_MODE_ANY };
    for (size_t m = 0; m < sizeof paging / sizeof *paging; m++) {
        o.mode = paging[m];
        for (uint32_t off = 0; off < 4; off++) {
            kz_results *all, *page;
            o.offset = 0;
            o.limit = 10;
            CHECK_OK(kz_search(&all, ix, q, strlen(q), &o));
            o.offset = off;
            o.limit = 1;
            CHECK_OK(kz_search(&page, ix, q, strlen(q), &o));
            if (all && page) {
                CHECK_INT(kz_results_count(page), off < kz_results_count(all) ? 1 : 0);
                if (kz_results_count(page)) {
                    CHECK_INT(kz_results_hit(page, 0)->docid, kz_results_hit(all, off)->docid);
                    size_t got = kz_results_similar_count(page, 0), whole = kz_results_similar_count(all, off);
                    if (paging[m] != KZ_MODE_ANY)
                        CHECK_INT(got, whole);
                    else
                        CHECK_MSG(got <= whole, "ANY, offset %u: %zu similar, the page of ten %zu", off, got, whole);
                    for (size_t k = 0; k < got && k < whole; k++)
                        CHECK_INT(kz_results_similar(page, 0, k)->docid, kz_results_similar(all, off, k)->docid);
                }
            }
            kz_results_free(all);
            kz_results_free(page);
        }
    }
    /* The AND boundary moves up with the collapsed copies. */
    o.offset = 0;
    o.limit = 10;
    o.mode = KZ_MODE_AUTO;
    const char *q2 = "governor inflation";
    CHECK_OK(kz_search(&r, ix, q2, strlen(q2), &o));
    if (r) {
        CHECK_INT(kz_results_total_all_words(r), 5);
        CHECK_INT(kz_results_all_words_hits(r), 2);
        CHECK_INT(kz_results_count(r), 2);
    }
    kz_results_free(r);
    kz_index_free(ix);
done:
    for (int i = 0; i < 8; i++)
        kz_buf_free(&t[i]);
    kz_test_remove_tree(dir);
    free(dir);
}

typedef struct rec {
    uint64_t text, fp;
    uint32_t docid;
} rec;

static int by_text(const void *x, const void *y)
{
    const rec *a = x, *b = y;
    return a->text < b->text ? -1 : a->text > b->text;
}

/* Reuters-21578's groups of identical texts: every pair is at distance 0,
 * and of pairs of different texts few are within the threshold (README
 * "Near-duplicates" has the figures). Skipped when the corpus is absent. */
static void test_reuters_groups(void)
{
    const char *path = KZ_SOURCE_DIR "/../shared/data/reuters21578/corpus.jsonl.gz";
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        fprintf(stderr, "skip: no %s\n", path);
        return;
    }
    char *dir = kz_test_temp_dir();
    kz_builder *b;
    CHECK_OK(kz_builder_new(&b, dir, NULL));
    CHECK_OK(kz_builder_add_source(b, path));
    CHECK_OK(kz_builder_commit(b, NULL));
    kz_builder_free(b);
    gzclose(gz);
    kz_index *ix;
    CHECK_OK(kz_index_open(&ix, dir));
    if (!ix)
        goto done;
    kz_index_info info;
    kz_index_get_info(ix, &info);
    CHECK_INT(info.docs, 21577); /* one record has neither title nor text */
    /* By text hash: the groups of identical non-empty texts. */
    rec *v = calloc(info.docs, sizeof *v);
    size_t n = 0;
    for (uint32_t d = 0; d < info.docs; d++) {
        char *text = NULL;
        size_t len = 0;
        if (kz_index_doc_text(ix, &text, &len, d) != KZ_OK)
            continue;
        if (len) {
            v[n].text = XXH3_64bits(text, len);
            v[n].fp = simhash_of(ix, d);
            v[n].docid = d;
            n++;
        }
        free(text);
    }
    qsort(v, n, sizeof *v, by_text);
    uint64_t groups = 0, pairs = 0, apart = 0, false_pairs = 0, other_pairs = 0;
    for (size_t i = 0; i < n; i++) {
        groups += i + 1 < n && v[i + 1].text == v[i].text && (i == 0 || v[i - 1].text != v[i].text);
        for (size_t j = i + 1; j < n; j++) {
            if (v[i].text == v[j].text) {
                pairs++;
                apart += v[i].fp != v[j].fp;
            } else {
                other_pairs++;
                false_pairs += kz_simhash_similar(v[i].fp, v[j].fp);
            }
        }
    }
    fprintf(stderr, "reuters: %llu groups of identical texts, %llu pairs, %llu apart; %llu of %llu other pairs "
            "within %d bits\n", (unsigned long long)groups, (unsigned long long)pairs, (unsigned long long)apart,
            (unsigned long long)false_pairs, (unsigned long long)other_pairs, KZ_SIMHASH_DISTANCE);
    CHECK_INT(groups, 302);
    CHECK_INT(apart, 0);
    CHECK_MSG(false_pairs < 200, "%llu pairs of different texts collapse", (unsigned long long)false_pairs);
    free(v);
    kz_index_free(ix);
done:
    kz_test_remove_tree(dir);
    free(dir);
}

int main(void)
{
    KZ_RUN(test_fingerprint);
    KZ_RUN(test_syndicated);
    KZ_RUN(test_reuters_groups);
    return kz_test_finish();
}
