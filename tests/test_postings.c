/*
 * test_postings.c: the posting blob writer (store/postings.c).
 *
 * Random terms, from one posting to many blocks, with docids sparse,
 * dense or in runs and tfs up to thousands, are written three ways: all
 * in memory (kz_postings_encode), through a writer that spills its coded
 * positions after every block, and through one writer reused term after
 * term with a middling spill threshold. The three blobs must be the same
 * bytes. Each blob is then read back with kz_plist_* and compared with
 * the input: docids, tfs, every position, cf, max_tf, and the bounds
 * against a BM25 saturation computed here. Misuse and a spill file that
 * cannot be written give errors, and the writer stays usable.
 */
#include "kzint.h"
#include "format.h"
#include "test.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct term {
    uint32_t *docids, *tfs;
    uint64_t *pos_off;
    kz_buf pos;      /* position varints, as kz_posting_input takes them */
    uint32_t **abs;  /* abs[i]: posting i's positions, absolute */
    uint32_t df;
} term;

#define N_DOCS 300000u

static void make_term(term *t, uint64_t *rng, uint32_t df_wanted)
{
    memset(t, 0, sizeof *t);
    t->docids = malloc((df_wanted + 1) * sizeof *t->docids);
    t->tfs = malloc((df_wanted + 1) * sizeof *t->tfs);
    t->pos_off = malloc((df_wanted + 2) * sizeof *t->pos_off);
    t->abs = calloc(df_wanted + 1, sizeof *t->abs);
    /* Docids: sparse gaps, dense stretches, or runs of consecutive ids. */
    unsigned shape = (unsigned)(kz_test_rand(rng) % 3);
    uint32_t d = (uint32_t)(kz_test_rand(rng) % 1000);
    uint32_t n = 0;
    while (n < df_wanted && d < N_DOCS) {
        t->docids[n++] = d;
        uint32_t r = (uint32_t)kz_test_rand(rng);
        d += shape == 0 ? 1 + r % 200 : shape == 1 ? 1 + r % 3 : (r % 50 ? 1 : 1 + r % 5000);
    }
    t->df = n;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t r = kz_test_rand(rng);
        /* Mostly small tfs, some in the thousands (a long document). */
        uint32_t tf = r % 97 == 0 ? 1 + (uint32_t)(r >> 8) % 3000 : 1 + (uint32_t)(r >> 8) % 6;
        t->tfs[i] = tf;
        t->pos_off[i] = t->pos.len;
        t->abs[i] = malloc(tf * sizeof **t->abs);
        uint32_t p = (uint32_t)(kz_test_rand(rng) % 100000);
        for (uint32_t j = 0; j < tf; j++) {
            uint32_t gap = (uint32_t)(kz_test_rand(rng) % (j % 2 ? 3 : 400));
            if (j == 0)
                kz_buf_append_varint(&t->pos, p);
            else
                kz_buf_append_varint(&t->pos, gap), p += gap + 1;
            t->abs[i][j] = p;
        }
    }
    t->pos_off[n] = t->pos.len;
}

static void free_term(term *t)
{
    for (uint32_t i = 0; i < t->df; i++)
        free(t->abs[i]);
    free(t->abs);
    free(t->docids);
    free(t->tfs);
    free(t->pos_off);
    kz_buf_free(&t->pos);
}

/* Adds t's postings, their positions as the writer takes them: the
 * first, then each gap minus one, computed from the absolute ones. */
static int add_all(kz_postings_writer *w, const term *t)
{
    int rc = KZ_OK;
    uint32_t *v = malloc(4000 * sizeof *v);
    for (uint32_t i = 0; i < t->df && rc == KZ_OK; i++) {
        for (uint32_t j = 0; j < t->tfs[i]; j++)
            v[j] = j == 0 ? t->abs[i][0] : t->abs[i][j] - t->abs[i][j - 1] - 1;
        rc = kz_postings_writer_add(w, t->docids[i], t->tfs[i], v);
    }
    free(v);
    return rc;
}

static int to_buf(void *ctx, const void *data, size_t len) { return kz_buf_append(ctx, data, len); }

static int spill_file(void)
{
    char path[] = "/tmp/kz-test-spill-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0)
        unlink(path);
    return fd;
}

static double saturation(uint32_t tf, uint32_t dl, double avgdl)
{
    double t = tf;
    return t / (t + KZ_BM25_K1 * ((1.0 - KZ_BM25_B) + KZ_BM25_B * dl / avgdl));
}

/* Reads blob back and compares it with t. */
static void check_blob(const kz_buf *blob, const term *t, const uint32_t *dl, double avgdl)
{
    kz_plist pl;
    /* No docid may pass the file's last: here the list's own last. */
    uint32_t last_doc = t->docids[t->df - 1];
    if (last_doc > 0)
        CHECK_INT(kz_plist_open(&pl, blob->data, blob->len, t->df, last_doc - 1), KZ_ECORRUPT);
    int rc = kz_plist_open(&pl, blob->data, blob->len, t->df, last_doc);
    CHECK_OK(rc);
    if (rc)
        return;
    uint32_t *ids = malloc(t->df * sizeof *ids);
    CHECK_OK(kz_plist_docids(&pl, ids));
    uint64_t cf = 0;
    uint32_t max_tf = 0, bad_ids = 0, bad_tfs = 0, bad_pos = 0;
    double bound = 0;
    uint32_t *pos = malloc(4000 * sizeof *pos);
    for (uint32_t i = 0; i < t->df; i++) {
        bad_ids += ids[i] != t->docids[i];
        bad_tfs += kz_plist_tf(&pl, i) != t->tfs[i];
        cf += t->tfs[i];
        max_tf = KZ_MAX(max_tf, t->tfs[i]);
        bound = fmax(bound, saturation(t->tfs[i], dl[t->docids[i]], avgdl));
        if (kz_plist_positions(&pl, i, t->tfs[i], pos) != KZ_OK)
            bad_pos++;
        else
            bad_pos += memcmp(pos, t->abs[i], t->tfs[i] * sizeof *pos) != 0;
    }
    CHECK_MSG(bad_ids == 0, "%u docids differ (df %u)", bad_ids, t->df);
    CHECK_MSG(bad_tfs == 0, "%u tfs differ (df %u)", bad_tfs, t->df);
    CHECK_MSG(bad_pos == 0, "%u postings' positions differ (df %u)", bad_pos, t->df);
    CHECK_INT(pl.cf, cf);
    CHECK_INT(pl.max_tf, max_tf);
    if (t->df > 1)
        CHECK_MSG(pl.bound >= bound && pl.bound <= bound * (1 + 1e-6), "bound %.9g, expected %.9g", pl.bound,
                  bound);
    CHECK_INT(pl.n_blocks, t->df > KZ_POSTING_BLOCK ? (t->df + KZ_POSTING_BLOCK - 1) / KZ_POSTING_BLOCK : 0);
    free(pos);
    free(ids);
    kz_plist_close(&pl);
}

static void test_spilled_and_reused_writers_match_memory(void)
{
    uint64_t rng = kz_test_seed();
    uint32_t *dl = malloc(N_DOCS * sizeof *dl);
    for (uint32_t d = 0; d < N_DOCS; d++)
        dl[d] = 1 + (uint32_t)(kz_test_rand(&rng) % 900);
    double avgdl = 300.0;
    int fd_every = spill_file(), fd_mid = spill_file();
    CHECK(fd_every >= 0 && fd_mid >= 0);
    kz_postings_writer *every = NULL, *reused = NULL;
    CHECK_OK(kz_postings_writer_new(&every, dl, avgdl, fd_every, 1));
    CHECK_OK(kz_postings_writer_new(&reused, dl, avgdl, fd_mid, 3000));
    if (!every || !reused)
        goto done;
    static const uint32_t dfs[] = { 1, 2, 127, 128, 129, 255, 256, 257, 1000, 5000, 70000, 200000 };
    for (int round = 0; round < 3; round++) {
        for (size_t k = 0; k < sizeof dfs / sizeof *dfs; k++) {
            term t;
            make_term(&t, &rng, dfs[k]);
            kz_posting_input in = { t.docids, t.tfs, t.pos.data, t.pos_off, t.df, dl, avgdl };
            kz_buf want = { 0 }, got1 = { 0 }, got2 = { 0 };
            uint64_t len1 = 0, len2 = 0;
            CHECK_OK(kz_postings_encode(&want, &in));
            CHECK_OK(add_all(every, &t));
            CHECK_INT(kz_postings_writer_df(every), t.df);
            CHECK_OK(kz_postings_writer_finish(every, to_buf, &got1, &len1));
            CHECK_OK(add_all(reused, &t));
            CHECK_OK(kz_postings_writer_finish(reused, to_buf, &got2, &len2));
            CHECK_INT(len1, got1.len);
            CHECK_INT(len2, got2.len);
            CHECK_MSG(want.len == got1.len && memcmp(want.data, got1.data, want.len) == 0,
                      "df %u: spilling every block changed the blob (%zu vs %zu bytes)", t.df, got1.len, want.len);
            CHECK_MSG(want.len == got2.len && memcmp(want.data, got2.data, want.len) == 0,
                      "df %u: a reused writer changed the blob (%zu vs %zu bytes)", t.df, got2.len, want.len);
            check_blob(&want, &t, dl, avgdl);
            kz_buf_free(&want);
            kz_buf_free(&got1);
            kz_buf_free(&got2);
            free_term(&t);
        }
    }
done:
    kz_postings_writer_free(every);
    kz_postings_writer_free(reused);
    close(fd_every);
    close(fd_mid);
    free(dl);
}

static void test_misuse_is_an_error_and_the_writer_recovers(void)
{
    uint32_t dl[16];
    for (int i = 0; i < 16; i++)
        dl[i] = 5;
    kz_postings_writer *w;
    CHECK_OK(kz_postings_writer_new(&w, dl, 5.0, -1, 0));
    if (!w)
        return;
    const uint32_t pos[] = { 0, 1 };
    kz_buf out = { 0 };
    uint64_t len = 1;
    /* No postings. */
    CHECK_INT(kz_postings_writer_finish(w, to_buf, &out, &len), KZ_EINVAL);
    CHECK_INT(len, 0);
    /* A docid not above the previous one, and a tf of 0. */
    CHECK_OK(kz_postings_writer_add(w, 3, 1, pos));
    CHECK_INT(kz_postings_writer_add(w, 3, 1, pos), KZ_EIO);
    CHECK_INT(kz_postings_writer_add(w, 2, 1, pos), KZ_EIO);
    CHECK_INT(kz_postings_writer_add(w, 4, 0, pos), KZ_EIO);
    /* The term goes on from its last good posting. */
    CHECK_OK(kz_postings_writer_add(w, 7, 2, pos));
    CHECK_OK(kz_postings_writer_finish(w, to_buf, &out, &len));
    CHECK_INT(len, out.len);
    kz_plist pl;
    int rc = kz_plist_open(&pl, out.data, out.len, 2, N_DOCS - 1);
    CHECK_OK(rc);
    if (rc == KZ_OK) {
        uint32_t ids[2] = { 0, 0 };
        CHECK_OK(kz_plist_docids(&pl, ids));
        CHECK(ids[0] == 3 && ids[1] == 7);
        CHECK_INT(pl.cf, 3);
        kz_plist_close(&pl);
    }
    kz_postings_writer_free(w);
    kz_buf_free(&out);
}

static int failing_sink(void *ctx, const void *data, size_t len)
{
    (void)data, (void)len;
    int *calls = ctx;
    return ++*calls == 2 ? kz_error_set(KZ_EIO, "disk full (test)") : KZ_OK;
}

static void test_write_failures_are_reported(void)
{
    uint64_t rng = 42;
    uint32_t *dl = malloc(N_DOCS * sizeof *dl);
    for (uint32_t d = 0; d < N_DOCS; d++)
        dl[d] = 100;
    term t;
    make_term(&t, &rng, 3000);
    /* A spill file open read-only cannot take the positions. */
    int fd = open("/dev/null", O_RDONLY);
    kz_postings_writer *w;
    CHECK_OK(kz_postings_writer_new(&w, dl, 100.0, fd, 1));
    int rc = add_all(w, &t);
    CHECK_INT(rc, KZ_EIO);
    CHECK(strstr(kz_last_error(), "spill") != NULL);
    /* A sink that fails on its second write fails the term, and the next
     * term is written whole. */
    kz_postings_writer_free(w);
    CHECK_OK(kz_postings_writer_new(&w, dl, 100.0, -1, 0));
    int calls = 0;
    uint64_t len;
    CHECK_OK(add_all(w, &t));
    CHECK_INT(kz_postings_writer_finish(w, failing_sink, &calls, &len), KZ_EIO);
    kz_buf out = { 0 };
    CHECK_OK(add_all(w, &t));
    CHECK_OK(kz_postings_writer_finish(w, to_buf, &out, &len));
    check_blob(&out, &t, dl, 100.0);
    kz_buf_free(&out);
    kz_postings_writer_free(w);
    close(fd);
    free_term(&t);
    free(dl);
}

int main(void)
{
    KZ_RUN(test_spilled_and_reused_writers_match_memory);
    KZ_RUN(test_misuse_is_an_error_and_the_writer_recovers);
    KZ_RUN(test_write_failures_are_reported);
    return kz_test_finish();
}
