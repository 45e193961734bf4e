/*
 * test_segments.c: an index of segments answers as a fresh index of its
 * live documents.
 *
 * A property test: random sequences of adds (new documents and new
 * versions of old ones), deletes, merges (by the tiered policy, and all
 * into one) and rebuilds on a seeded corpus. A model
 * keeps the live documents in the order a fresh build would number them
 * (a new version goes to the end, as its segment does). After each step,
 * every query of a fixed set (terms, AND, OR, phrases, prefixes, NOT, in
 * every mode, top 10 with pruning and every hit) must give the same
 * documents in the same order, bit-identical scores and the same totals as
 * a fresh build of the model's documents; the index's N, tokens and avgdl
 * must be the fresh index's.
 *
 * Also: manifests read back what was written, and damaged or truncated
 * ones are refused with a message.
 */
#include "kzint.h"
#include "format.h"
#include "test.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <xxhash.h>

static const char *vocab[] = { "russia", "kazakhstan", "border", "steppe", "oil", "grain", "astana", "tokayev",
                               "treaty", "language", "minority", "pipeline", "election", "uranium", "railway",
                               "news", "report", "history", "market", "river" };
#define N_VOCAB (sizeof vocab / sizeof *vocab)

typedef struct mdoc {
    char id[24];
    char *title, *text;
} mdoc;

typedef struct model {
    mdoc *d;
    size_t n, cap;
} model;

static uint64_t rng;

static char *random_text(size_t words) { return kz_test_random_words(&rng, vocab, N_VOCAB, words); }

static void model_remove(model *m, const char *id)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->d[i].id, id) == 0) {
            free(m->d[i].title);
            free(m->d[i].text);
            memmove(&m->d[i], &m->d[i + 1], (m->n - i - 1) * sizeof *m->d);
            m->n--;
            return;
        }
    }
}

static void model_append(model *m, const char *id, char *title, char *text)
{
    model_remove(m, id); /* a new version goes to the end */
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->d = realloc(m->d, m->cap * sizeof *m->d);
    }
    mdoc *d = &m->d[m->n++];
    size_t id_len = strlen(id);
    if (id_len >= sizeof d->id) { /* the tests' ids are short: a longer one is the test's own fault */
        fprintf(stderr, "test_segments: id \"%s\" too long for the model\n", id);
        abort();
    }
    memcpy(d->id, id, id_len + 1);
    d->title = title;
    d->text = text;
}

static void model_free(model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->d[i].title);
        free(m->d[i].text);
    }
    free(m->d);
    memset(m, 0, sizeof *m);
}

/* Builds docs [0, n) into dir: replacing or added. */
static int build(const char *dir, const mdoc *docs, size_t n, kz_build_mode mode)
{
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.threads = 1 + (unsigned)(kz_test_rand(&rng) % 2);
    o.mode = mode;
    o.flags = KZ_BUILD_EMPTY_OK;
    kz_builder *b;
    int rc = kz_builder_new(&b, dir, &o);
    for (size_t i = 0; rc == KZ_OK && i < n; i++)
        rc = kz_builder_add_document(b, docs[i].id, strlen(docs[i].id), docs[i].title, strlen(docs[i].title),
                                     docs[i].text, strlen(docs[i].text), NULL, 0);
    if (rc == KZ_OK)
        rc = kz_builder_commit(b, NULL);
    if (rc)
        fprintf(stderr, "build: %s\n", kz_last_error());
    kz_builder_free(b);
    return rc;
}

static const char *queries[] = {
    "russia", "kazakhstan border", "oil OR grain", "\"russia kazakhstan\"", "ka* news", "russia -border",
    "(oil grain) OR \"border steppe\"", "+astana tokayev", "NOT russia", "uranium railway news history",
    "r*", "river -(oil OR grain)", "zzzunknown", "\"news report history\"", "market",
};
#define N_QUERIES (sizeof queries / sizeof *queries)

/* The id of hit h of r in ix. */
static void hit_id(kz_index *ix, const kz_results *r, size_t h, char *out, size_t size)
{
    kz_doc d;
    out[0] = 0;
    if (kz_index_doc(ix, &d, kz_results_hit(r, h)->docid, NULL, 0) == KZ_OK)
        snprintf(out, size, "%.*s", (int)d.id_len, d.id);
}

static int same_results(kz_index *a, kz_index *b, const char *q, kz_mode mode, uint32_t limit, int step)
{
    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
    o.mode = mode;
    o.limit = limit;
    kz_results *ra = NULL, *rb = NULL;
    int ca = kz_search(&ra, a, q, strlen(q), &o), cb = kz_search(&rb, b, q, strlen(q), &o), ok = 1;
    if (ca != cb) {
        fprintf(stderr, "step %d \"%s\": %d against %d (%s)\n", step, q, ca, cb, kz_last_error());
        ok = 0;
    } else if (ca == KZ_OK) {
        if (kz_results_total(ra) != kz_results_total(rb) || kz_results_count(ra) != kz_results_count(rb) ||
            kz_results_mode(ra) != kz_results_mode(rb)) {
            fprintf(stderr, "step %d \"%s\" mode %d limit %u: %llu/%zu hits against %llu/%zu\n", step, q, mode,
                    limit, (unsigned long long)kz_results_total(ra), kz_results_count(ra),
                    (unsigned long long)kz_results_total(rb), kz_results_count(rb));
            ok = 0;
        }
        for (size_t h = 0; ok && h < kz_results_count(ra); h++) {
            char ia[32], ib[32];
            hit_id(a, ra, h, ia, sizeof ia);
            hit_id(b, rb, h, ib, sizeof ib);
            double sa = kz_results_hit(ra, h)->score, sb = kz_results_hit(rb, h)->score;
            if (strcmp(ia, ib) != 0 || memcmp(&sa, &sb, sizeof sa) != 0) {
                fprintf(stderr, "step %d \"%s\" mode %d limit %u hit %zu: %s %.17g against %s %.17g\n", step, q,
                        mode, limit, h, ia, sa, ib, sb);
                ok = 0;
            }
        }
    }
    kz_results_free(ra);
    kz_results_free(rb);
    return ok;
}

/* Ids <prefix>0 .. <prefix><next_id-1>: each found in a (by its id lookup) exactly when
 * the model holds it, as that document, with the fingerprint the fresh
 * index b gives it. */
static int same_ids(kz_index *a, kz_index *b, const model *m, char prefix, unsigned next_id, int step)
{
    for (unsigned k = 0; k < next_id; k++) {
        char id[32];
        snprintf(id, sizeof id, "%c%u", prefix, k);
        int live = 0;
        for (size_t i = 0; i < m->n && !live; i++)
            live = strcmp(m->d[i].id, id) == 0;
        uint32_t da, db;
        int ra = kz_index_find(a, &da, id, strlen(id)), rb = kz_index_find(b, &db, id, strlen(id));
        if (ra != (live ? KZ_OK : KZ_ENOTFOUND) || rb != ra) {
            fprintf(stderr, "step %d: id %s (%s): lookup %d, fresh %d (%s)\n", step, id, live ? "live" : "gone", ra,
                    rb, kz_last_error());
            return 0;
        }
        if (!live)
            continue;
        kz_doc doc;
        uint64_t fa = 0, fb = 1;
        if (kz_index_doc(a, &doc, da, NULL, 0) != KZ_OK || doc.id_len != strlen(id) ||
            memcmp(doc.id, id, doc.id_len) != 0 || kz_index_doc_fingerprint(a, da, &fa) != KZ_OK ||
            kz_index_doc_fingerprint(b, db, &fb) != KZ_OK || fa != fb) {
            fprintf(stderr, "step %d: id %s: docid %u is another document or fingerprint\n", step, id, da);
            return 0;
        }
    }
    return 1;
}

static int compare_with_fresh(const char *dir, const char *fresh_dir, const model *m, char prefix, unsigned next_id,
                              int step)
{
    if (build(fresh_dir, m->d, m->n, KZ_BUILD_REPLACE))
        return 0;
    kz_index *a = NULL, *b = NULL;
    int ok = kz_index_open(&a, dir) == KZ_OK && kz_index_open(&b, fresh_dir) == KZ_OK;
    if (!ok) {
        fprintf(stderr, "step %d: open: %s\n", step, kz_last_error());
    } else {
        kz_index_info ia, ib;
        kz_index_get_info(a, &ia);
        kz_index_get_info(b, &ib);
        if (ia.docs != ib.docs || ia.tokens != ib.tokens || memcmp(&ia.avgdl, &ib.avgdl, sizeof ia.avgdl) != 0) {
            fprintf(stderr, "step %d: N %llu tokens %llu, fresh %llu %llu\n", step, (unsigned long long)ia.docs,
                    (unsigned long long)ia.tokens, (unsigned long long)ib.docs, (unsigned long long)ib.tokens);
            ok = 0;
        }
        for (size_t q = 0; ok && q < N_QUERIES; q++)
            for (int mode = 0; ok && mode < 3; mode++)
                ok = same_results(a, b, queries[q], (kz_mode)mode, 10, step) &&
                     same_results(a, b, queries[q], (kz_mode)mode, 1000, step);
        ok = ok && same_ids(a, b, m, prefix, next_id, step);
        ok = ok && kz_index_check(a, NULL, NULL) == KZ_OK;
    }
    kz_index_free(a);
    kz_index_free(b);
    return ok;
}

static void test_random_changes(void)
{
    char *dir = kz_test_temp_dir(), *fresh = kz_test_temp_dir();
    model m = { 0 };
    unsigned next_id = 0, steps = 0, adds = 0, updates = 0, deletes = 0, rebuilds = 0, max_segments = 0;
    unsigned merges = 0, optimizes = 0;
    int ok = 1;
    for (int step = 0; step < 60 && ok; step++) {
        unsigned op = step == 0 ? 0 : (unsigned)(kz_test_rand(&rng) % 10);
        if (op < 6) {
            /* Add a batch: new documents, and new versions of old ones. */
            size_t n = 1 + kz_test_rand(&rng) % 40;
            mdoc *batch = calloc(n, sizeof *batch);
            for (size_t i = 0; i < n; i++) {
                if (m.n > 0 && kz_test_rand(&rng) % 4 == 0) {
                    snprintf(batch[i].id, sizeof batch[i].id, "%s", m.d[kz_test_rand(&rng) % m.n].id);
                    updates++;
                } else {
                    snprintf(batch[i].id, sizeof batch[i].id, "d%u", next_id++);
                }
                /* An id twice in one batch: the builder keeps the first. */
                int twice = 0;
                for (size_t j = 0; j < i; j++)
                    twice |= strcmp(batch[j].id, batch[i].id) == 0;
                if (twice)
                    snprintf(batch[i].id, sizeof batch[i].id, "d%u", next_id++);
                batch[i].title = random_text(kz_test_rand(&rng) % 4);
                batch[i].text = random_text(1 + kz_test_rand(&rng) % (kz_test_rand(&rng) % 8 ? 30 : 400));
            }
            ok = build(dir, batch, n, KZ_BUILD_ADD) == KZ_OK;
            for (size_t i = 0; i < n; i++)
                model_append(&m, batch[i].id, batch[i].title, batch[i].text);
            free(batch);
            adds++;
        } else if (op < 9) {
            /* Delete some ids, an unknown one among them. */
            size_t n = 1 + kz_test_rand(&rng) % 10;
            const char **ids = calloc(n + 1, sizeof *ids);
            char **owned = calloc(n + 1, sizeof *owned);
            for (size_t i = 0; i < n && m.n; i++)
                owned[i] = strdup(m.d[kz_test_rand(&rng) % m.n].id);
            owned[n] = strdup("no-such-id");
            for (size_t i = 0; i <= n; i++)
                ids[i] = owned[i] ? owned[i] : "no-such-id";
            uint8_t *found = calloc(n + 1, 1);
            uint64_t deleted = 0;
            ok = kz_index_delete(dir, ids, n + 1, found, &deleted) == KZ_OK;
            CHECK(!found[n]);
            for (size_t i = 0; i < n; i++)
                if (owned[i])
                    model_remove(&m, owned[i]);
            for (size_t i = 0; i <= n; i++)
                free(owned[i]);
            free(owned);
            free(ids);
            free(found);
            deletes++;
        } else if (op == 9 && kz_test_rand(&rng) % 3 == 0) {
            /* A rebuild of the live documents: one segment again. */
            ok = build(dir, m.d, m.n, KZ_BUILD_REPLACE) == KZ_OK;
            rebuilds++;
        } else {
            /* Merges: by the policy, or every segment into one. */
            unsigned done = 0, all = kz_test_rand(&rng) % 2;
            kz_build_options o = KZ_BUILD_OPTIONS_INIT;
            o.threads = 1;
            o.memory_budget = 64u << 20;
            ok = kz_index_merge(dir, &o, all ? KZ_MERGE_ALL : 0, &done) == KZ_OK;
            if (!ok)
                fprintf(stderr, "merge: %s\n", kz_last_error());
            merges += done;
            optimizes += all;
        }
        kz_index *ix;
        if (ok && kz_index_open(&ix, dir) == KZ_OK) {
            kz_index_info info;
            kz_index_get_info(ix, &info);
            if (info.segments > max_segments)
                max_segments = (unsigned)info.segments;
            CHECK_INT(info.docs, m.n);
            kz_index_free(ix);
        }
        ok = ok && compare_with_fresh(dir, fresh, &m, 'd', next_id, step);
        steps++;
    }
    CHECK_MSG(ok, "the index of segments and the fresh index disagree (seed above)");
    fprintf(stderr,
            "  %u steps: %u adds (%u updates), %u deletes, %u rebuilds, %u merges (%u optimize calls); up to %u "
            "segments, %zu live documents\n",
            steps, adds, updates, deletes, rebuilds, merges, optimizes, max_segments, m.n);
    CHECK(max_segments >= 3);
    model_free(&m);
    kz_test_remove_tree(dir);
    kz_test_remove_tree(fresh);
    free(dir);
    free(fresh);
}

/* A reader keeps the generation it opened while writers change the index. */
static void test_reader_keeps_its_generation(void)
{
    char *dir = kz_test_temp_dir();
    mdoc docs[3] = { { "a", "", "russia border" }, { "b", "", "russia oil" }, { "c", "", "grain" } };
    CHECK_OK(build(dir, docs, 2, KZ_BUILD_REPLACE));
    kz_index *old;
    CHECK_OK(kz_index_open(&old, dir));
    CHECK_OK(build(dir, docs + 2, 1, KZ_BUILD_ADD));
    const char *ids[] = { "a" };
    uint8_t found;
    uint64_t deleted;
    CHECK_OK(kz_index_delete(dir, ids, 1, &found, &deleted));
    CHECK_INT(deleted, 1);
    /* A rebuild removes the old segments' files: the reader has them open. */
    CHECK_OK(build(dir, docs + 1, 2, KZ_BUILD_REPLACE));
    kz_results *r = NULL;
    if (old) {
        CHECK_OK(kz_search(&r, old, "russia", 6, NULL));
        if (r)
            CHECK_INT(kz_results_total(r), 2);
        kz_results_free(r);
        kz_index_info info;
        kz_index_get_info(old, &info);
        CHECK_INT(info.docs, 2);
        kz_index_free(old);
    }
    kz_index *now;
    CHECK_OK(kz_index_open(&now, dir));
    if (now) {
        kz_index_info info;
        kz_index_get_info(now, &info);
        CHECK_INT(info.docs, 2);
        CHECK_INT(info.segments, 1);
        CHECK_OK(kz_search(&r, now, "russia", 6, NULL));
        if (r)
            CHECK_INT(kz_results_total(r), 1);
        kz_results_free(r);
        kz_index_free(now);
    }
    kz_test_remove_tree(dir);
    free(dir);
}

/* Searches in another thread while this one adds, deletes, merges and
 * rebuilds: every search succeeds, on the generation its reader opened,
 * and a reader that reopens sees the changes. */
typedef struct searcher {
    const char *dir;
    _Atomic int stop;
    unsigned searches, reopens, failures;
    char first_failure[300];
} searcher;

static void *search_loop(void *arg)
{
    searcher *s = arg;
    kz_index *ix = NULL;
    if (kz_index_open(&ix, s->dir) != KZ_OK) {
        s->failures++;
        snprintf(s->first_failure, sizeof s->first_failure, "open: %s", kz_last_error());
        return NULL;
    }
    while (!s->stop) {
        for (size_t q = 0; q < N_QUERIES; q++) {
            kz_results *r = NULL;
            int rc = kz_search(&r, ix, queries[q], strlen(queries[q]), NULL);
            if (rc) {
                if (!s->failures++)
                    snprintf(s->first_failure, sizeof s->first_failure, "\"%s\": %s", queries[q], kz_last_error());
            } else if (kz_results_count(r) > 0) {
                /* The hits' documents read back. */
                char *text = NULL;
                size_t len;
                if (kz_index_doc_text(ix, &text, &len, kz_results_hit(r, 0)->docid) != KZ_OK && !s->failures++)
                    snprintf(s->first_failure, sizeof s->first_failure, "text: %s", kz_last_error());
                free(text);
            }
            kz_results_free(r);
            s->searches++;
        }
        kz_index *now = NULL;
        if (kz_index_reopen(ix, &now) != KZ_OK) {
            if (!s->failures++)
                snprintf(s->first_failure, sizeof s->first_failure, "reopen: %s", kz_last_error());
        } else if (now) {
            kz_index_free(ix);
            ix = now;
            s->reopens++;
        }
    }
    kz_index_free(ix);
    return NULL;
}

static void test_searches_during_changes(void)
{
    char *dir = kz_test_temp_dir();
    model m = { 0 };
    mdoc first[20];
    memset(first, 0, sizeof first);
    for (int i = 0; i < 20; i++) {
        snprintf(first[i].id, sizeof first[i].id, "s%d", i);
        first[i].title = random_text(2);
        first[i].text = random_text(20);
    }
    CHECK_OK(build(dir, first, 20, KZ_BUILD_REPLACE));
    for (int i = 0; i < 20; i++)
        model_append(&m, first[i].id, first[i].title, first[i].text);
    searcher s = { dir, 0, 0, 0, 0, "" };
    pthread_t t;
    CHECK(pthread_create(&t, NULL, search_loop, &s) == 0);
    int next = 20;
    for (int step = 0; step < 30; step++) {
        mdoc batch[10];
        memset(batch, 0, sizeof batch);
        for (int i = 0; i < 10; i++) {
            snprintf(batch[i].id, sizeof batch[i].id, "s%d", step % 3 ? next++ : (int)(kz_test_rand(&rng) % next));
            batch[i].title = random_text(2);
            batch[i].text = random_text(10 + kz_test_rand(&rng) % 30);
        }
        CHECK_OK(build(dir, batch, 10, KZ_BUILD_ADD));
        for (int i = 0; i < 10; i++)
            model_append(&m, batch[i].id, batch[i].title, batch[i].text);
        if (step % 4 == 1 && m.n) {
            const char *ids[1] = { m.d[kz_test_rand(&rng) % m.n].id };
            uint8_t found;
            uint64_t deleted;
            char id[24];
            snprintf(id, sizeof id, "%s", ids[0]);
            ids[0] = id;
            CHECK_OK(kz_index_delete(dir, ids, 1, &found, &deleted));
            model_remove(&m, id);
        }
        unsigned merges;
        CHECK_OK(kz_index_merge(dir, NULL, step % 10 == 9 ? KZ_MERGE_ALL : 0, &merges));
        if (step == 15)
            CHECK_OK(build(dir, m.d, m.n, KZ_BUILD_REPLACE));
        usleep(2000);
    }
    s.stop = 1;
    pthread_join(t, NULL);
    CHECK_MSG(s.failures == 0, "%u of %u searches failed during changes; first: %s", s.failures, s.searches,
              s.first_failure);
    CHECK(s.searches > 0 && s.reopens > 0);
    fprintf(stderr, "  %u searches and %u reopens during 30 adds, deletes and merges\n", s.searches, s.reopens);
    model_free(&m);
    kz_test_remove_tree(dir);
    free(dir);
}

/* Every hit of query q as "id score" lines, sorted: the same for two
 * indexes of the same documents in any order. */
static char *hit_set(kz_index *ix, const char *q)
{
    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
    o.mode = KZ_MODE_ANY;
    o.limit = 100000;
    kz_results *r = NULL;
    if (kz_search(&r, ix, q, strlen(q), &o) != KZ_OK)
        return strdup("(error)");
    size_t n = kz_results_count(r);
    char **lines = calloc(n ? n : 1, sizeof *lines);
    for (size_t h = 0; h < n; h++) {
        char id[64];
        hit_id(ix, r, h, id, sizeof id);
        if (asprintf(&lines[h], "%s %.17g\n", id, kz_results_hit(r, h)->score) < 0)
            lines[h] = NULL;
    }
    kz_results_free(r);
    for (size_t i = 1; i < n; i++) /* insertion sort: few hits */
        for (size_t j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
            char *t = lines[j];
            lines[j] = lines[j - 1];
            lines[j - 1] = t;
        }
    kz_buf out = { 0 };
    for (size_t h = 0; h < n; h++) {
        kz_buf_printf(&out, "%s", lines[h]);
        free(lines[h]);
    }
    free(lines);
    kz_buf_terminate(&out);
    return (char *)out.data;
}

static void put(const char *dir, const char *name, const char *text)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    kz_test_write_file(path, text, strlen(text));
}

/* kzsearch update: the recorded sources read again. Files added, changed
 * and removed in a folder, documents added, changed and dropped in JSON
 * Lines: afterwards every query's hits and scores are those of a fresh
 * index of the sources; unchanged documents are not indexed again; a
 * source gone fails the update and changes nothing. */
static void test_update(void)
{
    char *root = kz_test_temp_dir(), dir[4300], folder[4300], jsonl[4300], fresh[4300];
    snprintf(dir, sizeof dir, "%s/ix", root);
    snprintf(fresh, sizeof fresh, "%s/fresh", root);
    snprintf(folder, sizeof folder, "%s/articles", root);
    snprintf(jsonl, sizeof jsonl, "%s/feed.jsonl", root);
    mkdir(folder, 0755);
    for (int i = 0; i < 12; i++) {
        char name[32], *text = random_text(10 + (size_t)i);
        snprintf(name, sizeof name, "a%02d.txt", i);
        kz_buf b = { 0 };
        kz_buf_printf(&b, "Title %d\n%s\n", i, text);
        kz_buf_terminate(&b);
        put(folder, name, (char *)b.data);
        kz_buf_free(&b);
        free(text);
    }
    put(root, "feed.jsonl",
        "{\"id\":\"j1\",\"title\":\"One\",\"text\":\"russia oil\",\"date\":\"2024-01-01\"}\n"
        "{\"id\":\"j2\",\"text\":\"kazakhstan grain\"}\n{\"id\":\"j3\",\"text\":\"steppe river\"}\n");
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.on_problem = NULL;
    kz_builder *b;
    CHECK_OK(kz_builder_new(&b, dir, &o));
    if (b) {
        CHECK_OK(kz_builder_add_source(b, folder));
        CHECK_OK(kz_builder_add_source(b, jsonl));
        CHECK_OK(kz_builder_commit(b, NULL));
        kz_builder_free(b);
    }
    kz_update_stats us;
    CHECK_OK(kz_index_update(dir, NULL, &us));
    CHECK(us.changed == 0 && us.unchanged == 15 && us.deleted == 0);
    /* Changes: a file changed, one removed, one added; a JSON document
     * changed (its metadata only), one dropped, one added. */
    put(folder, "a03.txt", "Title 3\nnow about uranium and the railway\n");
    char path[4400];
    snprintf(path, sizeof path, "%s/a07.txt", folder);
    unlink(path);
    put(folder, "new.txt", "A new one\nastana tokayev election\n");
    put(root, "feed.jsonl",
        "{\"id\":\"j1\",\"title\":\"One\",\"text\":\"russia oil\",\"date\":\"2024-02-02\"}\n"
        "{\"id\":\"j3\",\"text\":\"steppe river\"}\n{\"id\":\"j4\",\"text\":\"market news\"}\n");
    CHECK_OK(kz_index_update(dir, NULL, &us));
    CHECK_INT(us.changed, 4);   /* a03, new.txt, j1, j4 */
    CHECK_INT(us.unchanged, 11); /* 10 files, j3 */
    CHECK_INT(us.deleted, 2);    /* a07, j2 */
    /* A fresh index of the sources as they are now answers the same. */
    CHECK_OK(kz_builder_new(&b, fresh, &o));
    if (b) {
        CHECK_OK(kz_builder_add_source(b, folder));
        CHECK_OK(kz_builder_add_source(b, jsonl));
        CHECK_OK(kz_builder_commit(b, NULL));
        kz_builder_free(b);
    }
    kz_index *a = NULL, *f = NULL;
    CHECK_OK(kz_index_open(&a, dir));
    CHECK_OK(kz_index_open(&f, fresh));
    for (size_t q = 0; a && f && q < N_QUERIES; q++) {
        char *x = hit_set(a, queries[q]), *y = hit_set(f, queries[q]);
        CHECK_MSG(strcmp(x, y) == 0, "\"%s\" after update:\n%s\nfresh:\n%s", queries[q], x, y);
        free(x);
        free(y);
    }
    if (a) {
        kz_index_info info;
        kz_index_get_info(a, &info);
        CHECK_INT(info.docs, 15);
    }
    kz_index_free(a);
    kz_index_free(f);
    /* A source gone: an error, and nothing changes (not everything deleted). */
    char moved[4400];
    snprintf(moved, sizeof moved, "%s/moved", root);
    CHECK(rename(folder, moved) == 0);
    kz_error_clear();
    CHECK_INT(kz_index_update(dir, NULL, &us), KZ_ENOTFOUND);
    CHECK(strstr(kz_last_error(), "articles") != NULL);
    CHECK_OK(kz_index_open(&a, dir));
    if (a) {
        kz_index_info info;
        kz_index_get_info(a, &info);
        CHECK_INT(info.docs, 15);
        kz_index_free(a);
    }
    kz_test_remove_tree(root);
    free(root);
}

/* Manifests: what is written reads back; damage of any kind is refused. */
static void test_manifest(void)
{
    char *dir = kz_test_temp_dir();
    kz_manifest m = { 0 };
    m.generation = 7;
    m.created = 1700000000;
    m.n_segments = 2;
    m.segments = calloc(2, sizeof *m.segments);
    m.segments[0].name = strdup("seg-000001.kz");
    m.segments[0].docs = 100;
    m.segments[0].deleted = roaring_bitmap_create();
    roaring_bitmap_add(m.segments[0].deleted, 3);
    roaring_bitmap_add(m.segments[0].deleted, 99);
    m.segments[1].name = strdup("seg-000007.kz");
    m.segments[1].docs = 5;
    m.n_sources = 1;
    m.sources = calloc(1, sizeof *m.sources);
    m.sources[0] = strdup("/data/articles");
    /* Without field types: version 1, which kzsearch before them reads. */
    kz_buf bytes = { 0 };
    CHECK_OK(kz_manifest_encode(&bytes, &m));
    CHECK_INT(kz_load_u32(bytes.data + 8), KZ_MANIFEST_VERSION_UNTYPED);
    CHECK_OK(kz_field_type_declare(&m.fields, &m.n_fields, "zip", 3, KZ_FIELD_TYPE_KEYWORD, 0));
    CHECK_OK(kz_field_type_declare(&m.fields, &m.n_fields, "summary", 7, KZ_FIELD_TYPE_TEXT, 0));
    CHECK_INT(kz_field_type_declare(&m.fields, &m.n_fields, "zip", 3, KZ_FIELD_TYPE_DATE, 0), KZ_EINVAL);
    CHECK_OK(kz_manifest_write(&m, dir));
    kz_manifest back;
    CHECK_OK(kz_manifest_read(&back, dir));
    CHECK(back.n_fields == 2 && strcmp(back.fields[0].name, "summary") == 0 &&
          back.fields[0].type == KZ_FIELD_TYPE_TEXT && back.fields[1].type == KZ_FIELD_TYPE_KEYWORD);
    CHECK_INT(kz_field_type_of(back.fields, back.n_fields, "zip", 3), KZ_FIELD_TYPE_KEYWORD);
    CHECK_INT(kz_field_type_of(back.fields, back.n_fields, "zi", 2), KZ_FIELD_TYPE_AUTO);
    CHECK_INT(back.generation, 7);
    CHECK_INT(back.n_segments, 2);
    if (back.n_segments == 2) {
        CHECK_STR(back.segments[1].name, "seg-000007.kz");
        CHECK(back.segments[0].deleted && roaring_bitmap_get_cardinality(back.segments[0].deleted) == 2 &&
              roaring_bitmap_contains(back.segments[0].deleted, 99));
        CHECK(back.segments[1].deleted == NULL);
    }
    CHECK(back.n_sources == 1 && strcmp(back.sources[0], "/data/articles") == 0);
    kz_manifest_free(&back);

    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, KZ_MANIFEST_FILE);
    size_t size;
    uint8_t *orig = kz_test_read_file(path, &size);
    /* Every truncation and every byte flipped: refused, with a message. */
    unsigned refused = 0, cases = 0;
    for (size_t len = 0; orig && len < size; len++) {
        kz_test_write_file(path, orig, len);
        kz_error_clear();
        int rc = kz_manifest_read(&back, dir);
        CHECK_MSG(rc == KZ_ECORRUPT && *kz_last_error(), "truncated to %zu: %d", len, rc);
        refused += rc == KZ_ECORRUPT;
        cases++;
    }
    for (size_t off = 0; orig && off < size; off++) {
        orig[off] ^= 0x20;
        kz_test_write_file(path, orig, size);
        int rc = kz_manifest_read(&back, dir);
        CHECK_MSG(rc == KZ_ECORRUPT || rc == KZ_EVERSION, "byte %zu flipped: %d", off, rc);
        refused += rc != KZ_OK;
        cases++;
        orig[off] ^= 0x20;
    }
    /* Resealed (the checksum recomputed): the structure is checked too. A
     * deleted docid past the segment's documents, a name with '/', and
     * field types out of order, of no type, or of a name with a control
     * character. */
    roaring_bitmap_add(m.segments[0].deleted, 100); /* docs is 100: docid 100 is past the last */
    CHECK_OK(kz_manifest_encode(&bytes, &m));
    kz_test_write_file(path, bytes.data, bytes.len);
    CHECK_INT(kz_manifest_read(&back, dir), KZ_ECORRUPT);
    roaring_bitmap_remove(m.segments[0].deleted, 100);
    CHECK_OK(kz_manifest_encode(&bytes, &m));
    size_t at = KZ_MANIFEST_HEADER + 2 + 3; /* inside the first name */
    bytes.data[at] = '/';
    kz_store_u64(bytes.data + bytes.len - 8, XXH3_64bits(bytes.data, bytes.len - 8));
    kz_test_write_file(path, bytes.data, bytes.len);
    CHECK_INT(kz_manifest_read(&back, dir), KZ_ECORRUPT);
    /* The field types are the last bytes before the checksum: "summary"
     * (7), its type, "zip", its type. */
    CHECK_OK(kz_manifest_encode(&bytes, &m));
    size_t zip_type = bytes.len - 9, summary_type = zip_type - 3 - 2 - 1, summary_name = summary_type - 7;
    static const struct {
        const char *what;
        size_t at;
        uint8_t to;
    } forged[] = { { "out of order", 0, 'z' }, { "type 0", 1, 0 }, { "type 9", 1, 9 }, { "control character", 2, 0x07 } };
    for (size_t k = 0; k < sizeof forged / sizeof *forged; k++) {
        CHECK_OK(kz_manifest_encode(&bytes, &m));
        size_t byte = forged[k].at == 0 ? summary_name : forged[k].at == 1 ? summary_type : summary_name + 3;
        bytes.data[byte] = forged[k].to;
        kz_store_u64(bytes.data + bytes.len - 8, XXH3_64bits(bytes.data, bytes.len - 8));
        kz_test_write_file(path, bytes.data, bytes.len);
        kz_error_clear();
        CHECK_MSG(kz_manifest_read(&back, dir) == KZ_ECORRUPT && strstr(kz_last_error(), "field"),
                  "field types %s: %s", forged[k].what, kz_last_error());
    }
    fprintf(stderr, "  %u damaged manifests, %u refused\n", cases, refused);
    kz_buf_free(&bytes);
    free(orig);
    kz_manifest_free(&m);
    kz_test_remove_tree(dir);
    free(dir);
}

/* Adds of a few documents at a time, merged by the policy after each: the
 * segments stay few (fewer than 8 a tier), and the answers those of a
 * fresh build. */
static void test_tiered_merges(void)
{
    char *dir = kz_test_temp_dir(), *fresh = kz_test_temp_dir();
    model m = { 0 };
    unsigned most = 0, total_merges = 0;
    int ok = 1;
    for (int step = 0; step < 70 && ok; step++) {
        mdoc batch[3];
        memset(batch, 0, sizeof batch);
        for (int i = 0; i < 3; i++) {
            snprintf(batch[i].id, sizeof batch[i].id, "t%d", step * 3 + i);
            batch[i].title = random_text(1);
            batch[i].text = random_text(5 + kz_test_rand(&rng) % 20);
        }
        ok = build(dir, batch, 3, KZ_BUILD_ADD) == KZ_OK;
        for (int i = 0; i < 3; i++)
            model_append(&m, batch[i].id, batch[i].title, batch[i].text);
        unsigned merges = 0;
        ok = ok && kz_index_merge(dir, NULL, 0, &merges) == KZ_OK;
        total_merges += merges;
        kz_index *ix;
        if (ok && kz_index_open(&ix, dir) == KZ_OK) {
            kz_index_info info;
            kz_index_get_info(ix, &info);
            most = info.segments > most ? (unsigned)info.segments : most;
            kz_index_free(ix);
        }
    }
    CHECK(ok);
    CHECK_MSG(most < 8, "%u segments at most after 70 adds", most);
    CHECK(total_merges >= 8);
    CHECK(compare_with_fresh(dir, fresh, &m, 't', 70 * 3, 999));
    fprintf(stderr, "  70 adds of 3: %u merges, at most %u segments\n", total_merges, most);
    model_free(&m);
    kz_test_remove_tree(dir);
    kz_test_remove_tree(fresh);
    free(dir);
    free(fresh);
}

int main(void)
{
    rng = kz_test_seed();
    KZ_RUN(test_manifest);
    KZ_RUN(test_reader_keeps_its_generation);
    KZ_RUN(test_random_changes);
    KZ_RUN(test_tiered_merges);
    KZ_RUN(test_searches_during_changes);
    KZ_RUN(test_update);
    return kz_test_finish();
}
