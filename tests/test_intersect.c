/*
 * test_intersect.c: the intersection and union kernels of query/intersect.c
 * against CRoaring and a plain merge, on both the AVX2 and scalar paths.
 *
 * Container kernels run on random u16 sets copied to buffers that end
 * exactly where the allocation ends, one byte off alignment, with output
 * buffers of exactly the documented size: under AddressSanitizer a read
 * past an array's end or a write past a buffer fails the test. List
 * functions run on posting blobs wrapping CRoaring's own portable
 * serialization of random lists (uniform, clustered, dense, runs, mixed
 * containers, very unequal sizes, empty, one posting, full keys), and a
 * few through kz_postings_encode, and are checked against
 * roaring_bitmap_and_cardinality, roaring_bitmap_and, roaring_bitmap_or_*
 * and against a merge of the docid arrays, ordinals included. Damaged
 * containers must give KZ_OK or KZ_ECORRUPT and in-range ordinals.
 */
#include "kzint.h"
#include "format.h"
#include "test.h"

#include <roaring/roaring.h>

static uint64_t rng;

static uint32_t rnd(uint32_t n) { return n ? (uint32_t)(kz_test_rand(&rng) % n) : 0; }
static double rnd_unit(void) { return (double)(kz_test_rand(&rng) >> 11) / 9007199254740992.0; }

/* A loop running its body on each path, AVX2 (when the machine has it)
 * then scalar, and leaving the AVX2 path selected. */
#define FOR_BOTH_PATHS(path) for (int path = 0; kz_intersect_force_scalar(path == 1), path < 2; path++)

/* ------------------------------------------------------------ u16 sets */

/* A copy of n u16 values as little-endian bytes at an odd address, ending
 * exactly where its allocation ends. */
typedef struct bytes {
    uint8_t *mem;
    uint8_t *p;
} bytes;

static bytes exact_copy(const void *data, size_t len)
{
    bytes b;
    b.mem = malloc(len + 1);
    b.p = b.mem + 1;
    if (len)
        memcpy(b.p, data, len);
    return b;
}

/* A buffer of exactly n u16 (at least one byte allocated). */
static uint16_t *exact_u16(size_t n) { return malloc(n ? n * sizeof(uint16_t) : 1); }

/* n distinct u16 values in [lo, lo + width), ascending, into v (room 65536);
 * in clusters when clustered. Returns how many (fewer if width is short). */
static size_t gen_u16(uint16_t *v, size_t n, uint32_t lo, uint32_t width, int clustered)
{
    static uint8_t seen[65536];
    memset(seen, 0, sizeof seen);
    if (lo + width > 65536)
        width = 65536 - lo;
    if (n > width)
        n = width;
    size_t got = 0;
    if (n * 2 > width) {
        /* dense: drop values from the full range */
        for (uint32_t x = lo; x < lo + width; x++)
            seen[x] = 1;
        for (size_t drop = width - n; drop > 0;) {
            uint32_t x = lo + rnd(width);
            if (seen[x]) {
                seen[x] = 0;
                drop--;
            }
        }
    } else {
        while (got < n) {
            uint32_t x = lo + rnd(width), len = clustered ? 1 + rnd(64) : 1;
            for (uint32_t k = 0; k < len && got < n && x + k < lo + width; k++)
                if (!seen[x + k]) {
                    seen[x + k] = 1;
                    got++;
                }
        }
    }
    got = 0;
    for (uint32_t x = 0; x < 65536; x++)
        if (seen[x])
            v[got++] = (uint16_t)x;
    return got;
}

/* A random size: mostly small (the tails), up to a whole key. */
static size_t rnd_size(void)
{
    switch (rnd(5)) {
    case 0: return rnd(24);
    case 1: return rnd(300);
    case 2: return rnd(4097);
    case 3: return rnd(20000);
    default: return rnd(65537);
    }
}

/* The merge every kernel is compared with. */
static size_t ref_isect(uint16_t *out, uint16_t *ia, uint16_t *ib, const uint16_t *a, size_t na, const uint16_t *b,
                        size_t nb)
{
    size_t i = 0, j = 0, n = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j]) {
            i++;
        } else if (a[i] > b[j]) {
            j++;
        } else {
            out[n] = a[i];
            ia[n] = (uint16_t)i;
            ib[n] = (uint16_t)j;
            n++;
            i++;
            j++;
        }
    }
    return n;
}

static int same_u16(const uint16_t *x, const uint16_t *y, size_t n)
{
    return n == 0 || memcmp(x, y, n * sizeof *x) == 0;
}

/* Checks kz_isect_u16 and kz_isect_u16_idx on a and b, both paths. */
static void check_u16_pair(const uint16_t *a, size_t na, const uint16_t *b, size_t nb)
{
    size_t cap = KZ_MIN(na, nb);
    uint16_t *rv = exact_u16(cap), *ra = exact_u16(cap), *rb = exact_u16(cap);
    size_t want = ref_isect(rv, ra, rb, a, na, b, nb);
    bytes A = exact_copy(a, 2 * na), B = exact_copy(b, 2 * nb);
    FOR_BOTH_PATHS(path) {
        uint16_t *out = exact_u16(cap), *ia = exact_u16(cap), *ib = exact_u16(cap);
        size_t n = kz_isect_u16(NULL, A.p, na, B.p, nb);
        CHECK_MSG(n == want, "count %zu != %zu (na %zu nb %zu, scalar %d)", n, want, na, nb, path);
        n = kz_isect_u16(out, A.p, na, B.p, nb);
        CHECK_MSG(n == want && same_u16(out, rv, n), "values (na %zu nb %zu, scalar %d)", na, nb, path);
        memset(out, 0, cap * 2);
        n = kz_isect_u16_idx(out, ia, ib, A.p, na, B.p, nb);
        CHECK_MSG(n == want && same_u16(out, rv, n) && same_u16(ia, ra, n) && same_u16(ib, rb, n),
                  "indices (na %zu nb %zu, scalar %d)", na, nb, path);
        /* Reversed operands swap the indices. */
        n = kz_isect_u16_idx(NULL, ib, ia, B.p, nb, A.p, na);
        CHECK_MSG(n == want && same_u16(ia, ra, n) && same_u16(ib, rb, n), "reversed (na %zu nb %zu, scalar %d)",
                  na, nb, path);
        n = kz_isect_u16_idx(NULL, NULL, ib, A.p, na, B.p, nb);
        CHECK_MSG(n == want && same_u16(ib, rb, n), "ib only (na %zu nb %zu, scalar %d)", na, nb, path);
        free(out);
        free(ia);
        free(ib);
    }
    free(A.mem);
    free(B.mem);
    free(rv);
    free(ra);
    free(rb);
}

static void test_u16_small_exhaustive(void)
{
    /* Every pair of sizes up to 40, in ranges narrow enough to overlap:
     * every way a partial block can end. */
    uint16_t *a = malloc(65536 * 2), *b = malloc(65536 * 2);
    for (size_t na = 0; na <= 40; na++) {
        for (size_t nb = 0; nb <= 40; nb++) {
            uint32_t lo = rnd(60000), width = 1 + rnd(120);
            size_t ga = gen_u16(a, na, lo, width, 0), gb = gen_u16(b, nb, lo + rnd(8), width, 0);
            check_u16_pair(a, ga, b, gb);
        }
    }
    free(a);
    free(b);
}

static void test_u16_random(void)
{
    uint16_t *a = malloc(65536 * 2), *b = malloc(65536 * 2);
    for (int round = 0; round < 400; round++) {
        size_t na = rnd_size(), nb = rnd_size();
        if (round % 5 == 0) /* very unequal, and around the gallop ratio */
            nb = KZ_MIN((size_t)65536, na * (size_t)(28 + rnd(8)) + rnd(3));
        uint32_t width = 1 + rnd(65536), lo = rnd(65536 - width + 1);
        if (width < KZ_MAX(na, nb))
            width = (uint32_t)KZ_MAX(na, nb), lo = 0;
        int clustered = rnd(2);
        size_t ga = gen_u16(a, na, lo, width, clustered), gb;
        if (round % 7 == 3) {
            /* b: a subset of a, plus a few others: many matches */
            gb = 0;
            for (size_t k = 0; k < ga; k++)
                if (rnd(4))
                    b[gb++] = a[k];
        } else if (round % 7 == 5) {
            memcpy(b, a, ga * 2);
            gb = ga;
        } else {
            gb = gen_u16(b, nb, lo, width, clustered);
        }
        check_u16_pair(a, ga, b, gb);
    }
    free(a);
    free(b);
}

/* --------------------------------------------------------------- bitsets */

static uint8_t *bitset_of(bytes *keep, const uint16_t *v, size_t n)
{
    uint64_t w[1024] = { 0 };
    for (size_t k = 0; k < n; k++)
        w[v[k] >> 6] |= 1ull << (v[k] & 63);
    *keep = exact_copy(w, sizeof w);
    return keep->p;
}

/* Run container bytes of the ascending values v. */
static uint8_t *runs_of(bytes *keep, const uint16_t *v, size_t n)
{
    uint8_t *buf = malloc(2 + 4 * n + 4);
    size_t nr = 0;
    for (size_t k = 0; k < n;) {
        size_t e = k;
        while (e + 1 < n && v[e + 1] == v[e] + 1)
            e++;
        kz_store_u16(buf + 2 + 4 * nr, v[k]);
        kz_store_u16(buf + 4 + 4 * nr, (uint16_t)(e - k));
        nr++;
        k = e + 1;
    }
    kz_store_u16(buf, (uint16_t)nr);
    *keep = exact_copy(buf, 2 + 4 * nr);
    free(buf);
    return keep->p;
}

/* Random set for the container tests: sparse, dense, clustered or runs. */
static size_t gen_set(uint16_t *v)
{
    switch (rnd(5)) {
    case 0: return gen_u16(v, rnd_size(), 0, 65536, 0);
    case 1: return gen_u16(v, rnd_size(), 0, 65536, 1);
    case 2: return gen_u16(v, 40000 + rnd(25537), 0, 65536, 0);
    case 3: {
        /* a few long runs */
        size_t n = 0;
        uint32_t x = rnd(100);
        while (x < 65536 && n < 65536) {
            uint32_t len = 1 + rnd(rnd(2) ? 10 : 3000);
            for (uint32_t k = 0; k < len && x < 65536; k++)
                v[n++] = (uint16_t)x++;
            x += 1 + rnd(2000);
        }
        return n;
    }
    default: {
        uint32_t lo = rnd(65000);
        return gen_u16(v, rnd(2000), lo, 1 + rnd(65536 - lo), rnd(2));
    }
    }
}

static void test_bitset_and_runs(void)
{
    uint16_t *a = malloc(65536 * 2), *b = malloc(65536 * 2);
    uint16_t *rv = malloc(65536 * 2), *ra = malloc(65536 * 2), *rb = malloc(65536 * 2);
    uint32_t *rank_a = malloc(65537 * 4), *rank_b = malloc(65537 * 4);
    for (int round = 0; round < 120; round++) {
        size_t na = gen_set(a), nb = gen_set(b);
        if (round == 0)
            na = 0;
        if (round == 1) { /* a whole key */
            for (uint32_t x = 0; x < 65536; x++)
                a[x] = (uint16_t)x;
            na = 65536;
        }
        size_t want = ref_isect(rv, ra, rb, a, na, b, nb);
        /* Rank of each value in each set (set bits below it). */
        memset(rank_a, 0, 65537 * 4);
        memset(rank_b, 0, 65537 * 4);
        for (size_t k = 0; k < na; k++)
            rank_a[a[k] + 1]++;
        for (size_t k = 0; k < nb; k++)
            rank_b[b[k] + 1]++;
        for (uint32_t x = 1; x <= 65536; x++) {
            rank_a[x] += rank_a[x - 1];
            rank_b[x] += rank_b[x - 1];
        }
        bytes A = exact_copy(a, 2 * na), B = exact_copy(b, 2 * nb), AB, BB, AR, BR;
        const uint8_t *abits = bitset_of(&AB, a, na), *bbits = bitset_of(&BB, b, nb);
        const uint8_t *aruns = runs_of(&AR, a, na), *bruns = runs_of(&BR, b, nb);
        FOR_BOTH_PATHS(path) {
            uint16_t *out = exact_u16(na), *ia = exact_u16(na), *rk = exact_u16(na);
            size_t n = kz_isect_u16_bitset(NULL, NULL, NULL, A.p, na, bbits);
            CHECK_MSG(n == want, "array&bitset count %zu != %zu (scalar %d)", n, want, path);
            n = kz_isect_u16_bitset(out, ia, rk, A.p, na, bbits);
            int ok = n == want && same_u16(out, rv, n) && same_u16(ia, ra, n);
            for (size_t k = 0; ok && k < n; k++)
                ok = rk[k] == rank_b[out[k]];
            CHECK_MSG(ok, "array&bitset (na %zu nb %zu, scalar %d)", na, nb, path);

            n = kz_isect_u16_run(NULL, NULL, NULL, A.p, na, bruns);
            CHECK_MSG(n == want, "array&run count %zu != %zu (scalar %d)", n, want, path);
            memset(out, 0, na * 2);
            n = kz_isect_u16_run(out, ia, rk, A.p, na, bruns);
            ok = n == want && same_u16(out, rv, n) && same_u16(ia, ra, n);
            for (size_t k = 0; ok && k < n; k++)
                ok = rk[k] == rank_b[out[k]];
            CHECK_MSG(ok, "array&run (na %zu nb %zu, scalar %d)", na, nb, path);
            free(out);
            free(ia);
            free(rk);

            CHECK_INT(kz_bitset_and_count(abits, bbits), want);
            CHECK_INT(kz_run_and_count(aruns, bruns), want);
            CHECK_INT(kz_run_bitset_and_count(aruns, bbits), want);
            CHECK_INT(kz_run_bitset_and_count(bruns, abits), want);

            /* Decoders: whole, then cut short at a random cap. */
            size_t caps[2] = { want, rnd((uint32_t)want + 1) };
            for (int t = 0; t < 2; t++) {
                size_t c = caps[t];
                uint16_t *o = exact_u16(c), *r1 = exact_u16(c), *r2 = exact_u16(c);
                n = kz_bitset_and_decode(o, r1, r2, c, abits, bbits);
                ok = n == want && same_u16(o, rv, c);
                for (size_t k = 0; ok && k < c; k++)
                    ok = r1[k] == rank_a[o[k]] && r2[k] == rank_b[o[k]];
                CHECK_MSG(ok, "bitset&bitset decode (cap %zu of %zu, scalar %d)", c, want, path);
                free(o);
                free(r1);
                free(r2);
            }
            size_t c = rnd(2) ? na : rnd((uint32_t)na + 1);
            uint16_t *o = exact_u16(c);
            CHECK_INT(kz_bitset_decode(o, c, abits), na);
            CHECK(same_u16(o, a, c));
            memset(o, 0, c * 2);
            CHECK_INT(kz_run_decode(o, c, aruns), na);
            CHECK(same_u16(o, a, c));
            free(o);

            /* Every pair of container types. */
            kz_container ca[3] = { { 0, (uint32_t)na, 0, KZ_CONTAINER_ARRAY, A.p },
                                   { 0, (uint32_t)na, 0, KZ_CONTAINER_BITSET, abits },
                                   { 0, (uint32_t)na, 0, KZ_CONTAINER_RUN, aruns } };
            kz_container cb[3] = { { 0, (uint32_t)nb, 0, KZ_CONTAINER_ARRAY, B.p },
                                   { 0, (uint32_t)nb, 0, KZ_CONTAINER_BITSET, bbits },
                                   { 0, (uint32_t)nb, 0, KZ_CONTAINER_RUN, bruns } };
            for (int x = 0; x < 3; x++)
                for (int y = 0; y < 3; y++)
                    CHECK_MSG(kz_container_and_count(&ca[x], &cb[y]) == want, "types %d,%d (scalar %d)", x + 1,
                              y + 1, path);
        }
        free(A.mem);
        free(B.mem);
        free(AB.mem);
        free(BB.mem);
        free(AR.mem);
        free(BR.mem);
    }
    /* Malformed runs: overlapping, or past 65535. */
    uint8_t bad[10];
    uint16_t o[8];
    kz_store_u16(bad, 2);
    kz_store_u16(bad + 2, 10);
    kz_store_u16(bad + 4, 5);
    kz_store_u16(bad + 6, 12);
    kz_store_u16(bad + 8, 0);
    CHECK(kz_run_decode(o, 8, bad) == SIZE_MAX);
    kz_store_u16(bad, 1);
    kz_store_u16(bad + 2, 65530);
    kz_store_u16(bad + 4, 10);
    CHECK(kz_run_decode(o, 8, bad) == SIZE_MAX);
    free(a);
    free(b);
    free(rv);
    free(ra);
    free(rb);
    free(rank_a);
    free(rank_b);
}

/* ----------------------------------------------------------------- lists */

#define MAX_LIST 200000

typedef struct vec {
    uint32_t *v;
    uint32_t n, cap;
} vec;

static void push(vec *x, uint32_t id)
{
    if (x->n == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 1024;
        x->v = realloc(x->v, (size_t)x->cap * sizeof *x->v);
    }
    x->v[x->n++] = id;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/* Sorts, removes duplicates and keeps at most max ids (a random sample). */
static void finish(vec *x, uint32_t max)
{
    if (x->n > 1)
        qsort(x->v, x->n, sizeof *x->v, cmp_u32);
    uint32_t n = 0;
    for (uint32_t i = 0; i < x->n; i++)
        if (n == 0 || x->v[i] != x->v[n - 1])
            x->v[n++] = x->v[i];
    x->n = n;
    if (n > max) {
        /* keep each with probability max/n, in order */
        uint32_t m = 0;
        for (uint32_t i = 0; i < n && m < max; i++)
            if (rnd(n) < max)
                x->v[m++] = x->v[i];
        x->n = m;
    }
}

enum { K_UNIFORM, K_CLUSTERED, K_DENSE, K_RUNS, K_MIXED, N_KINDS };

/* Random docids of a kind, at most max of them. */
static vec gen_ids(int kind, uint32_t max)
{
    vec x = { 0 };
    static const uint32_t universes[] = { 1u << 16, 1u << 20, 1u << 24, 1u << 28, 0 };
    uint32_t uni = universes[rnd(5)], lo = uni ? rnd(UINT32_MAX - uni) : 0;
    uint32_t target = rnd(2) ? rnd(2000) : rnd(max + 1);
    switch (kind) {
    case K_UNIFORM:
        for (uint32_t k = 0; k < target; k++)
            push(&x, lo + (uni ? rnd(uni) : (uint32_t)kz_test_rand(&rng)));
        break;
    case K_CLUSTERED:
        while (x.n < target) {
            uint32_t s = lo + (uni ? rnd(uni) : (uint32_t)kz_test_rand(&rng)), len = 1 + rnd(3000), gap = 1 + rnd(3);
            for (uint32_t k = 0; k < len && x.n < target && s + k * gap >= s; k++)
                push(&x, s + k * gap);
        }
        break;
    case K_DENSE: {
        double p = 0.1 + 0.85 * rnd_unit();
        uint32_t span = 65536 * (1 + rnd(3)), start = rnd(1u << 26);
        for (uint32_t k = 0; k < span; k++)
            if (rnd_unit() < p)
                push(&x, start + k);
        break;
    }
    case K_RUNS: {
        uint32_t s = rnd(1u << 24);
        while (x.n < target) {
            uint32_t len = 1 + rnd(rnd(2) ? 100 : 70000);
            for (uint32_t k = 0; k < len && x.n < target; k++)
                push(&x, s + k);
            s += len + 1 + rnd(100000);
        }
        break;
    }
    default: {
        /* a few keys, each an array, a bitset, runs or full */
        uint32_t n_keys = 1 + rnd(8), key_lo = rnd(0x10000 - 40);
        for (uint32_t i = 0; i < n_keys; i++) {
            uint32_t key = rnd(4) == 0 ? (rnd(2) ? 0 : 0xFFFF) : key_lo + rnd(40), base = key << 16;
            switch (rnd(4)) {
            case 0:
                for (uint32_t k = 0, n = 1 + rnd(4096); k < n; k++)
                    push(&x, base | rnd(65536));
                break;
            case 1: {
                double p = 0.1 + 0.85 * rnd_unit();
                for (uint32_t v = 0; v < 65536; v++)
                    if (rnd_unit() < p)
                        push(&x, base | v);
                break;
            }
            case 2:
                for (uint32_t v = rnd(100); v < 65536; v += 1 + rnd(3000))
                    for (uint32_t end = v + rnd(2000); v < 65536 && v <= end; v++)
                        push(&x, base | v);
                break;
            default:
                for (uint32_t v = 0; v < 65536; v++)
                    push(&x, base | v);
            }
        }
    }
    }
    finish(&x, max);
    return x;
}

/* A list sharing part of base: each of its ids with probability keep,
 * plus up to extra ids of its own. */
static vec derive(const vec *base, double keep, uint32_t extra)
{
    vec x = gen_ids(rnd(N_KINDS), extra);
    for (uint32_t i = 0; i < base->n; i++)
        if (rnd_unit() < keep)
            push(&x, base->v[i]);
    finish(&x, MAX_LIST);
    return x;
}

typedef struct tlist {
    vec ids;
    roaring_bitmap_t *rb;
    uint8_t *blob;
    kz_plist pl; /* zero-initialised (empty) when there are no ids */
} tlist;

/* Copies a kz_buf to an allocation of exactly its length. */
static uint8_t *exact_blob(kz_buf *b, size_t *len)
{
    uint8_t *p = malloc(b->len);
    memcpy(p, b->data, b->len);
    *len = b->len;
    kz_buf_free(b);
    return p;
}

/* The simplest blob kz_plist_open reads for docids of tf 1: cf, max_tf
 * and bound, then CRoaring's portable serialization as it writes it
 * (cookie 12346 with offsets, or 12347 with run flags), a block table
 * with max_tf 1 (so no tf bits) and one byte per position block. */
static uint8_t *wrap_bitmap(const roaring_bitmap_t *rb, uint32_t df, size_t *len)
{
    kz_buf b = { 0 };
    float bound = 0.5f;
    kz_buf_append_varint(&b, df);
    if (df > 1) {
        kz_buf_append_varint(&b, 1);
        kz_buf_append(&b, &bound, 4);
    }
    size_t bm = roaring_bitmap_portable_size_in_bytes(rb);
    kz_buf_reserve(&b, bm);
    b.len += roaring_bitmap_portable_serialize(rb, (char *)b.data + b.len);
    uint32_t n_blocks = df > KZ_POSTING_BLOCK ? (df + KZ_POSTING_BLOCK - 1) / KZ_POSTING_BLOCK : 0;
    for (uint32_t k = 0; k < n_blocks; k++) {
        uint8_t e[KZ_BLOCK_SIZE] = { 0 };
        kz_store_u32(e + KZ_BLOCK_MAX_TF, 1);
        kz_buf_append(&b, e, sizeof e);
    }
    for (uint32_t k = 0; k < (df == 1 ? 1 : (df + KZ_POSTING_BLOCK - 1) / KZ_POSTING_BLOCK); k++)
        kz_buf_append_u8(&b, 0);
    return exact_blob(&b, len);
}

/* The blob as the indexer writes it (kz_postings_encode), for docids small
 * enough for a table of document lengths. */
static uint8_t *encode_list(const vec *ids, size_t *len)
{
    uint32_t n = ids->n, max = ids->v[n - 1];
    uint32_t *tfs = malloc(n * sizeof *tfs), *dl = malloc(((size_t)max + 1) * sizeof *dl);
    uint64_t *pos_off = malloc(((size_t)n + 1) * sizeof *pos_off);
    uint8_t *pos = calloc(n, 1);
    for (uint32_t i = 0; i <= n; i++)
        pos_off[i] = i;
    for (uint32_t i = 0; i < n; i++)
        tfs[i] = 1;
    for (uint32_t d = 0; d <= max; d++)
        dl[d] = 1;
    kz_posting_input in = { ids->v, tfs, pos, pos_off, n, dl, 1.0 };
    kz_buf b = { 0 };
    CHECK_OK(kz_postings_encode(&b, &in));
    free(tfs);
    free(dl);
    free(pos_off);
    free(pos);
    return exact_blob(&b, len);
}

static void tlist_init(tlist *t, vec ids)
{
    memset(t, 0, sizeof *t);
    t->ids = ids;
    t->rb = roaring_bitmap_of_ptr(ids.n, ids.v);
    roaring_bitmap_run_optimize(t->rb);
    if (ids.n == 0)
        return;
    size_t len;
    if (ids.v[ids.n - 1] < (1u << 21) && rnd(3) == 0)
        t->blob = encode_list(&ids, &len);
    else
        t->blob = wrap_bitmap(t->rb, ids.n, &len);
    /* The file's last docid is the list's own largest, which may be
     * UINT32_MAX. */
    CHECK_OK(kz_plist_open(&t->pl, t->blob, len, ids.n, roaring_bitmap_maximum(t->rb)));
}

static void tlist_free(tlist *t)
{
    kz_plist_close(&t->pl);
    roaring_bitmap_free(t->rb);
    free(t->blob);
    free(t->ids.v);
}

/* Index of id in ids, or UINT32_MAX. */
static uint32_t find_id(const vec *ids, uint32_t id)
{
    uint32_t lo = 0, hi = ids->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ids->v[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ids->n && ids->v[lo] == id ? lo : UINT32_MAX;
}

static uint64_t merge_count(const vec *a, const vec *b)
{
    uint64_t n = 0;
    for (uint32_t i = 0, j = 0; i < a->n && j < b->n;) {
        if (a->v[i] < b->v[j])
            i++;
        else if (a->v[i] > b->v[j])
            j++;
        else
            n++, i++, j++;
    }
    return n;
}

/* Checks every list function on the k lists t[0..k). */
static void check_group(tlist *t, size_t k, const char *what)
{
    const kz_plist *pls[8];
    const roaring_bitmap_t *rbs[8];
    size_t small = 0;
    for (size_t l = 0; l < k; l++) {
        pls[l] = &t[l].pl;
        rbs[l] = t[l].rb;
        if (t[l].ids.n < t[small].ids.n)
            small = l;
    }
    /* The reference: each id of the smallest list looked up in the others. */
    uint32_t min_df = t[small].ids.n, cap = min_df ? min_df : 1;
    uint32_t *want = malloc(cap * sizeof *want), *want_ords = malloc(cap * k * sizeof *want_ords);
    size_t n_want = 0;
    for (uint32_t i = 0; i < min_df; i++) {
        uint32_t id = t[small].ids.v[i];
        size_t l;
        for (l = 0; l < k; l++)
            if ((want_ords[n_want * k + l] = find_id(&t[l].ids, id)) == UINT32_MAX)
                break;
        if (l == k)
            want[n_want++] = id;
    }
    /* CRoaring agrees with it. */
    roaring_bitmap_t *acc = roaring_bitmap_and(rbs[0], rbs[k > 1]);
    for (size_t l = 2; l < k; l++)
        roaring_bitmap_and_inplace(acc, rbs[l]);
    uint64_t rcard = roaring_bitmap_get_cardinality(acc);
    uint32_t *rids = malloc((rcard ? rcard : 1) * sizeof *rids);
    roaring_bitmap_to_uint32_array(acc, rids);
    CHECK_MSG(rcard == n_want && (n_want == 0 || memcmp(rids, want, n_want * 4) == 0), "%s: reference", what);
    roaring_bitmap_free(acc);
    free(rids);
    roaring_bitmap_t *uni = roaring_bitmap_or_many(k, rbs);
    uint64_t want_or = roaring_bitmap_get_cardinality(uni);
    roaring_bitmap_free(uni);
    uint64_t pair_and = roaring_bitmap_and_cardinality(rbs[0], rbs[k - 1]);
    CHECK_MSG(pair_and == merge_count(&t[0].ids, &t[k - 1].ids), "%s: reference pair", what);

    FOR_BOTH_PATHS(path) {
        uint64_t c = kz_plist_and_count(pls[0], pls[k - 1]);
        CHECK_MSG(c == pair_and, "%s: and_count %llu != %llu (scalar %d)", what, (unsigned long long)c,
                  (unsigned long long)pair_and, path);
        CHECK(kz_plist_and_count(pls[k - 1], pls[0]) == pair_and);
        if (k == 2)
            CHECK(kz_plist_or_count(pls, 2) == roaring_bitmap_or_cardinality(rbs[0], rbs[1]));
        uint64_t u = kz_plist_or_count(pls, k);
        CHECK_MSG(u == want_or, "%s: or_count %llu != %llu (scalar %d)", what, (unsigned long long)u,
                  (unsigned long long)want_or, path);

        uint32_t *got = malloc(cap * sizeof *got), *ords = malloc(cap * k * sizeof *ords);
        size_t n = 12345;
        CHECK_OK(kz_plist_and(got, ords, &n, pls, k));
        CHECK_MSG(n == n_want, "%s: %zu results, expected %zu (scalar %d)", what, n, n_want, path);
        if (n == n_want) {
            size_t bad_doc = SIZE_MAX, bad_ord = SIZE_MAX;
            for (size_t r = 0; r < n && bad_doc == SIZE_MAX; r++)
                if (got[r] != want[r])
                    bad_doc = r;
            for (size_t r = 0; r < n * k && bad_ord == SIZE_MAX; r++)
                if (ords[r] != want_ords[r])
                    bad_ord = r;
            CHECK_MSG(bad_doc == SIZE_MAX, "%s: result %zu is %u, expected %u (scalar %d)", what, bad_doc,
                      got[bad_doc], want[bad_doc], path);
            CHECK_MSG(bad_ord == SIZE_MAX, "%s: ordinal %zu is %u, expected %u (scalar %d)", what, bad_ord,
                      ords[bad_ord], want_ords[bad_ord], path);
        }
        memset(got, 0, cap * sizeof *got);
        CHECK_OK(kz_plist_and(got, NULL, &n, pls, k));
        CHECK_MSG(n == n_want && (n == 0 || memcmp(got, want, n * 4) == 0), "%s: without ordinals (scalar %d)",
                  what, path);
        free(got);
        free(ords);
    }
    free(want);
    free(want_ords);
}

static void test_lists_random(void)
{
    static const double keeps[] = { 1.0, 0.5, 0.1, 0.001 };
    for (int round = 0; round < 70; round++) {
        size_t k = 2 + rnd(4);
        vec base = gen_ids(rnd(N_KINDS), MAX_LIST);
        tlist t[8];
        for (size_t l = 0; l < k; l++) {
            vec ids;
            switch (rnd(6)) {
            case 0: ids = gen_ids(rnd(N_KINDS), MAX_LIST); break;
            case 1: /* very unequal: a handful of ids */
                ids = derive(&base, 0.0, 0);
                for (uint32_t m = 1 + rnd(10), i = 0; i < m && base.n; i++)
                    push(&ids, base.v[rnd(base.n)]);
                finish(&ids, MAX_LIST);
                break;
            case 2:
                ids.n = ids.cap = base.n;
                ids.v = malloc((base.n ? base.n : 1) * sizeof *ids.v);
                memcpy(ids.v, base.v, base.n * sizeof *ids.v);
                break;
            default: ids = derive(&base, keeps[rnd(4)], rnd(2) ? 1000 : MAX_LIST / 4);
            }
            if (round % 17 == 16 && l == k - 1) { /* an empty list */
                free(ids.v);
                memset(&ids, 0, sizeof ids);
            }
            tlist_init(&t[l], ids);
        }
        char what[64];
        snprintf(what, sizeof what, "round %d (%zu lists)", round, k);
        check_group(t, k, what);
        for (size_t l = 0; l < k; l++)
            tlist_free(&t[l]);
        free(base.v);
    }
}

static vec ids_of(const uint32_t *v, uint32_t n)
{
    vec x = { 0 };
    for (uint32_t i = 0; i < n; i++)
        push(&x, v[i]);
    return x;
}

static vec range_ids(uint32_t lo, uint32_t n)
{
    vec x = { 0 };
    for (uint32_t i = 0; i < n; i++)
        push(&x, lo + i);
    return x;
}

static void test_lists_edges(void)
{
    tlist t[3];
    /* One posting each; one common. */
    static const uint32_t one[] = { 77 }, some[] = { 1, 77, 1u << 20, UINT32_MAX };
    tlist_init(&t[0], ids_of(one, 1));
    tlist_init(&t[1], ids_of(some, 4));
    check_group(t, 2, "one posting");
    tlist_free(&t[0]);
    tlist_free(&t[1]);
    /* The last key: ids up to UINT32_MAX, a full last key. */
    static const uint32_t top[] = { 0, 65535, 65536, UINT32_MAX - 65536, UINT32_MAX - 1, UINT32_MAX };
    tlist_init(&t[0], ids_of(top, 6));
    tlist_init(&t[1], range_ids(UINT32_MAX - 65535, 65536));
    tlist_init(&t[2], range_ids(0, 65536 * 2 + 5));
    check_group(t, 2, "last key");
    check_group(t + 1, 2, "full keys");
    check_group(t, 3, "three");
    tlist_free(&t[0]);
    tlist_free(&t[1]);
    tlist_free(&t[2]);
    /* Disjoint keys: no key in common. */
    tlist_init(&t[0], range_ids(0, 1000));
    tlist_init(&t[1], range_ids(1u << 20, 1000));
    check_group(t, 2, "disjoint keys");
    /* One list: everything, ordinals 0..df-1. Zero lists: nothing. */
    const kz_plist *p0 = &t[0].pl;
    uint32_t *got = malloc(1000 * 4), *ords = malloc(1000 * 4);
    size_t n = 0;
    CHECK_OK(kz_plist_and(got, ords, &n, &p0, 1));
    CHECK_INT(n, 1000);
    CHECK(got[999] == 999 && ords[999] == 999 && got[0] == 0 && ords[0] == 0);
    n = 5;
    CHECK_OK(kz_plist_and(got, ords, &n, &p0, 0));
    CHECK_INT(n, 0);
    CHECK_INT(kz_plist_or_count(&p0, 1), 1000);
    CHECK_INT(kz_plist_or_count(&p0, 0), 0);
    free(got);
    free(ords);
    tlist_free(&t[0]);
    tlist_free(&t[1]);
    /* Many lists for the union (more than fit its stack arrays). */
    tlist many[70];
    const kz_plist *pm[70];
    roaring_bitmap_t *u = roaring_bitmap_create();
    for (int l = 0; l < 70; l++) {
        tlist_init(&many[l], gen_ids(rnd(N_KINDS), 5000));
        pm[l] = &many[l].pl;
        roaring_bitmap_or_inplace(u, many[l].rb);
    }
    FOR_BOTH_PATHS(path)
        CHECK(kz_plist_or_count(pm, 70) == roaring_bitmap_get_cardinality(u));
    roaring_bitmap_free(u);
    for (int l = 0; l < 70; l++)
        tlist_free(&many[l]);
}

/* Damaged containers (the bytes after kz_plist_open, which does not look
 * inside them) must not make anything read or write out of bounds, and
 * kz_plist_and must return KZ_OK or KZ_ECORRUPT with ordinals < df. */
static void test_damaged_containers(void)
{
    for (int round = 0; round < 60; round++) {
        tlist t[3];
        vec base = gen_ids(rnd(N_KINDS), 60000);
        tlist_init(&t[0], derive(&base, 0.9, 100));
        tlist_init(&t[1], derive(&base, 0.5, 100));
        tlist_init(&t[2], derive(&base, 0.7, 100));
        free(base.v);
        kz_plist *pl = &t[rnd(3)].pl;
        if (pl->n_containers == 0) {
            for (int l = 0; l < 3; l++)
                tlist_free(&t[l]);
            continue;
        }
        const kz_container *c = &pl->containers[rnd(pl->n_containers)];
        tlist *owner = &t[0];
        for (int l = 0; l < 3; l++)
            if (&t[l].pl == pl)
                owner = &t[l];
        uint8_t *d = owner->blob + (c->data - owner->blob);
        size_t len = c->type == KZ_CONTAINER_ARRAY ? 2 * (size_t)c->card
                     : c->type == KZ_CONTAINER_BITSET ? 8192
                                                       : 4 * (size_t)kz_load_u16(c->data);
        if (c->type == KZ_CONTAINER_RUN)
            d += 2; /* the pairs, not their count (checked when opened) */
        switch (rnd(3)) {
        case 0:
            for (size_t i = 0; i < len; i++)
                d[i] = (uint8_t)kz_test_rand(&rng);
            break;
        case 1:
            for (size_t i = 0; i + 1 < len; i += 2)
                kz_store_u16(d + i, (uint16_t)(len - i));
            break;
        default:
            for (size_t i = 0; i < len; i++)
                d[i] = 0xFF;
        }
        const kz_plist *pls[3] = { &t[0].pl, &t[1].pl, &t[2].pl };
        uint32_t min_df = KZ_MIN(KZ_MIN(t[0].ids.n, t[1].ids.n), t[2].ids.n);
        size_t k = 2 + rnd(2);
        if (k == 2)
            min_df = KZ_MIN(t[0].ids.n, t[1].ids.n);
        FOR_BOTH_PATHS(path) {
            uint32_t *got = malloc((min_df ? min_df : 1) * 4), *ords = malloc((min_df ? min_df : 1) * 4 * k);
            size_t n = 0;
            int rc = kz_plist_and(got, ords, &n, pls, k);
            CHECK_MSG(rc == KZ_OK || rc == KZ_ECORRUPT, "damaged: rc %d", rc);
            CHECK(n <= min_df);
            int in_range = 1;
            for (size_t r = 0; r < n; r++)
                for (size_t l = 0; l < k; l++)
                    in_range &= ords[r * k + l] < pls[l]->df;
            CHECK_MSG(in_range, "damaged: ordinal out of range (scalar %d)", path);
            rc = kz_plist_and(got, NULL, &n, pls, k);
            CHECK(rc == KZ_OK || rc == KZ_ECORRUPT);
            (void)kz_plist_and_count(pls[0], pls[1]);
            (void)kz_plist_and_count(pls[2], pls[1]);
            (void)kz_plist_or_count(pls, 3);
            free(got);
            free(ords);
        }
        for (int l = 0; l < 3; l++)
            tlist_free(&t[l]);
    }
}

int main(void)
{
    rng = kz_test_seed();
    fprintf(stderr, "AVX2 path: %s\n", kz_intersect_simd() ? "yes" : "not available (both passes are scalar)");
    KZ_RUN(test_u16_small_exhaustive);
    KZ_RUN(test_u16_random);
    KZ_RUN(test_bitset_and_runs);
    KZ_RUN(test_lists_random);
    KZ_RUN(test_lists_edges);
    KZ_RUN(test_damaged_containers);
    return kz_test_finish();
}
