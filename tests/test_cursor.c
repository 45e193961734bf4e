/*
 * test_cursor.c: the posting cursor against plain arrays.
 *
 * Random posting lists over several 2^16 containers, each sparse (array
 * containers), dense (bitsets) or in long runs (run containers), are
 * encoded as the builder encodes them and read back with kz_cursor: a walk
 * with next, random forward seeks, the ordinals, the tf at each ordinal,
 * and the block that kz_cursor_block_of names for a docid must all agree
 * with a lower bound over the sorted docids.
 */
#include "kzint.h"
#include "format.h"
#include "test.h"

typedef struct list {
    uint32_t *docids, *tfs;
    uint64_t *pos_off;
    uint8_t *pos;
    uint32_t df;
} list;

/* Posting i's positions: its own first position, and its own gaps. */
static uint32_t first_position(uint32_t i) { return (i * 7919u) % 100000u; }
static uint32_t gap_less_one(uint32_t i, uint32_t j) { return (i + j) % 13u; }

#define MAX_TF 60

static uint32_t position(uint32_t i, uint32_t j)
{
    uint32_t p = first_position(i);
    for (uint32_t k = 1; k <= j; k++)
        p += 1 + gap_less_one(i, k);
    return p;
}

/* Docids in [0, n_keys * 65536): each key sparse, dense, runs or empty. */
static void make_list(list *l, uint64_t *rng, uint32_t n_keys)
{
    size_t cap = 1024;
    l->docids = malloc(cap * sizeof *l->docids);
    l->df = 0;
    for (uint32_t key = 0; key < n_keys; key++) {
        unsigned kind = (unsigned)(kz_test_rand(rng) % 4);
        for (uint32_t v = 0; v < 65536; v++) {
            int take;
            switch (kind) {
            case 0: take = kz_test_rand(rng) % 500 == 0; break;     /* sparse: arrays */
            case 1: take = kz_test_rand(rng) % 3 == 0; break;       /* dense: bitsets */
            case 2: take = (v / 3000) % 2 == 0 && v % 3000 < 2500; break; /* runs */
            default: take = 0; break;
            }
            if (!take)
                continue;
            if (l->df == cap) {
                cap *= 2;
                l->docids = realloc(l->docids, cap * sizeof *l->docids);
            }
            l->docids[l->df++] = key * 65536 + v;
        }
    }
    l->tfs = malloc((l->df + 1) * sizeof *l->tfs);
    l->pos_off = malloc((l->df + 1) * sizeof *l->pos_off);
    kz_buf pos = { 0 };
    for (uint32_t i = 0; i < l->df; i++) {
        /* Mostly a few, now and then many (decoded in several pieces). */
        l->tfs[i] = 1 + (uint32_t)(kz_test_rand(rng) % (kz_test_rand(rng) % 16 ? 5 : MAX_TF));
        l->pos_off[i] = pos.len;
        for (uint32_t j = 0; j < l->tfs[i]; j++)
            kz_buf_append_varint(&pos, j == 0 ? first_position(i) : gap_less_one(i, j));
    }
    l->pos_off[l->df] = pos.len;
    l->pos = pos.data;
}

static void free_list(list *l)
{
    free(l->docids);
    free(l->tfs);
    free(l->pos_off);
    free(l->pos);
}

/* Index of the first docid >= target, df if none. */
static uint32_t lower_bound(const list *l, uint32_t target)
{
    uint32_t lo = 0, hi = l->df;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (l->docids[mid] < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void check_at(const kz_cursor *c, const list *l, uint32_t want, const char *how)
{
    if (want == l->df) {
        CHECK_MSG(c->doc == KZ_DOC_END, "%s: doc %u, expected the end", how, c->doc);
        return;
    }
    CHECK_MSG(c->doc == l->docids[want] && c->ord == want && c->blk == want / KZ_POSTING_BLOCK,
              "%s: doc %u ord %u blk %u, expected doc %u ord %u", how, c->doc, c->ord, c->blk, l->docids[want],
              want);
    if (c->doc != KZ_DOC_END && c->ord < l->df)
        CHECK_INT(kz_plist_tf(c->pl, c->ord), l->tfs[want]);
}

static void test_cursor_against_arrays(void)
{
    uint64_t rng = kz_test_seed();
    for (int round = 0; round < 12; round++) {
        list l;
        make_list(&l, &rng, 1 + (uint32_t)(kz_test_rand(&rng) % 5));
        if (l.df == 0) {
            free_list(&l);
            continue;
        }
        uint32_t max_doc = l.docids[l.df - 1];
        uint32_t *dl = malloc(((size_t)max_doc + 1) * sizeof *dl);
        for (uint32_t d = 0; d <= max_doc; d++)
            dl[d] = MAX_TF + d % 7;
        kz_posting_input in = { l.docids, l.tfs, l.pos, l.pos_off, l.df, dl, 12.0 };
        kz_buf blob = { 0 };
        CHECK_OK(kz_postings_encode(&blob, &in));
        kz_plist pl;
        CHECK_OK(kz_plist_open(&pl, blob.data, blob.len, l.df, max_doc));

        /* A walk with next. */
        kz_cursor c;
        kz_cursor_init(&c, &pl);
        for (uint32_t i = 0; i <= l.df; i++) {
            check_at(&c, &l, i, "next");
            kz_cursor_next(&c);
        }
        CHECK(c.doc == KZ_DOC_END);

        /* Forward seeks of every stride, and block_of. */
        for (int walk = 0; walk < 20; walk++) {
            kz_cursor_init(&c, &pl);
            uint32_t target = 0, stride = 1u << (kz_test_rand(&rng) % 18);
            while (target <= max_doc + 1) {
                if (pl.n_blocks && c.doc != KZ_DOC_END) {
                    uint32_t b = kz_cursor_block_of(&c, target), want = l.df, k;
                    for (k = 0; k < pl.n_blocks; k++)
                        if (l.docids[KZ_MIN((k + 1) * KZ_POSTING_BLOCK, l.df) - 1] >= target)
                            break;
                    want = k;
                    CHECK_MSG(b == want, "block_of(%u) = %u, expected %u", target, b, want);
                }
                kz_cursor_seek(&c, target);
                check_at(&c, &l, lower_bound(&l, target), "seek");
                /* Some steps with next between seeks. */
                if (kz_test_rand(&rng) % 4 == 0 && c.doc != KZ_DOC_END) {
                    uint32_t at = c.ord;
                    kz_cursor_next(&c);
                    check_at(&c, &l, at + 1, "next after seek");
                    target = c.doc == KZ_DOC_END ? max_doc + 2 : c.doc;
                }
                target += 1 + (uint32_t)(kz_test_rand(&rng) % stride);
            }
        }
        /* Positions by ordinal agree with what was encoded, read from the
         * block start, and read straight from the position starts. */
        uint32_t buf[MAX_TF];
        for (uint32_t i = 0; i < l.df; i += 1 + l.df / 50) {
            CHECK_OK(kz_plist_positions(&pl, i, l.tfs[i], buf));
            for (uint32_t j = 0; j < l.tfs[i]; j++)
                CHECK_INT(buf[j], position(i, j));
        }
        if (l.df > 1) {
            uint32_t *starts = malloc((size_t)l.df * sizeof *starts);
            CHECK_OK(kz_plist_position_starts(&pl, starts));
            pl.pos_starts = starts;
            kz_pos_cursor pc = { 0 };
            for (uint32_t i = 0; i < l.df; i += 1 + (uint32_t)(kz_test_rand(&rng) % 40)) {
                for (uint32_t j = 0; j < MAX_TF; j++)
                    buf[j] = 0;
                CHECK_OK(kz_plist_positions_seq(&pl, &pc, i, l.tfs[i], buf));
                for (uint32_t j = 0; j < l.tfs[i]; j++)
                    CHECK_INT(buf[j], position(i, j));
            }
            /* Up to a limit: a prefix holding every position up to it,
             * and one past it when there is one. */
            for (uint32_t i = 0; i < l.df; i += 1 + (uint32_t)(kz_test_rand(&rng) % 40)) {
                uint32_t tf = l.tfs[i], got = 0;
                uint32_t limit = position(i, (uint32_t)(kz_test_rand(&rng) % tf)) + (uint32_t)(kz_test_rand(&rng) % 2);
                CHECK_OK(kz_plist_positions_until(&pl, &pc, i, tf, limit, buf, &got));
                CHECK(got >= 1 && got <= tf);
                for (uint32_t j = 0; j < got; j++)
                    CHECK_INT(buf[j], position(i, j));
                CHECK_MSG(got == tf || buf[got - 1] > limit, "posting %u: %u of %u positions, the last %u, limit %u",
                          i, got, tf, buf[got - 1], limit);
            }
            pl.pos_starts = NULL;
            free(starts);
        }
        kz_plist_close(&pl);
        kz_buf_free(&blob);
        free(dl);
        free_list(&l);
    }
}

int main(void)
{
    KZ_RUN(test_cursor_against_arrays);
    return kz_test_finish();
}
