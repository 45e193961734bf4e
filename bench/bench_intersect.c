/*
 * bench_intersect.c: the hot path, intersecting posting lists.
 *
 * Lists: synthetic (|A| from 1e3 to 1e7 in full runs, |B|/|A| from 1 to
 * 1e4, uniform sparse, uniform dense and clustered), and real ones: the
 * terms of each query of the run, from the index the index cases built.
 *
 * Methods, each checked against the others (same count, same sum of
 * docids, and for the ranked-query method the same sum of tf):
 *   roaring-and-card  CRoaring roaring_bitmap_and_cardinality (Debian's
 *                     build: baseline x86-64) — the baseline of every ratio
 *   roaring-and       roaring_bitmap_and, then its cardinality
 *   merge             a plain merge of sorted uint32 arrays
 *   gallop            exponential search of the larger array for each
 *                     element of the smaller
 *   cursor-tf         kzsearch's posting cursors over the index's own
 *                     blobs (leapfrog seeks), with the tf lookup of both
 *                     postings that a ranked query needs
 *   kz-count          kzsearch's container kernels (query/intersect.c),
 *                     AVX2 where the machine has it: the count
 *   kz-count-scalar   the same kernels forced onto their portable path:
 *                     what AVX2 is worth against the same code without it
 *   kz-and-tf         the kernels' docids with their ordinals in every
 *                     list, then the tf lookups
 * Figures: the median over repetitions in microseconds, the spread
 * (fastest and slowest), elements per nanosecond ((|A| + |B|) / ns) and
 * nanoseconds per result.
 */
#include "bench.h"
#include "kzint.h"
#include "format.h"

#include <math.h>
#include <roaring/roaring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct side {
    uint32_t *ids;
    uint32_t n;
    roaring_bitmap_t *rb;
    kz_buf blob;
    kz_plist pl;
    int open;
} side;

typedef struct job {
    side *s;      /* the lists */
    size_t n;     /* how many */
    uint64_t count, sum, tf_sum; /* the result of the last call */
    uint32_t *scratch;
    uint32_t *ords; /* n per result of kz_plist_and */
} job;

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/* n distinct sorted ids in [0, universe): uniform, or in clusters of 64. */
static uint32_t *make_ids(uint32_t n, uint32_t universe, int clustered, uint64_t *rng)
{
    uint32_t *v = malloc(((size_t)n + 64) * sizeof *v), got = 0;
    uint8_t *seen = calloc(universe / 8 + 1, 1);
    while (got < n) {
        uint32_t x = (uint32_t)(rng_next(rng) % universe);
        for (uint32_t j = 0; j < (clustered ? 64u : 1u) && got < n; j++, x++) {
            if (x >= universe || (seen[x / 8] >> (x % 8)) & 1)
                continue;
            seen[x / 8] |= (uint8_t)(1u << (x % 8));
            v[got++] = x;
        }
    }
    free(seen);
    qsort(v, n, sizeof *v, cmp_u32);
    return v;
}

static int side_build(side *s, uint32_t *ids, uint32_t n, uint64_t *rng)
{
    memset(s, 0, sizeof *s);
    s->ids = ids;
    s->n = n;
    s->rb = roaring_bitmap_of_ptr(n, ids);
    roaring_bitmap_run_optimize(s->rb);
    /* A posting blob as the indexer writes it: tf 1..4, one position each
     * tf, constant document lengths. */
    uint32_t *tfs = malloc(((size_t)n + 1) * sizeof *tfs);
    uint64_t *pos_off = malloc(((size_t)n + 1) * sizeof *pos_off);
    uint8_t *pos = malloc((size_t)n * 4 + 1);
    uint64_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        tfs[i] = 1 + (uint32_t)(rng_next(rng) % 4);
        pos_off[i] = at;
        for (uint32_t j = 0; j < tfs[i]; j++)
            pos[at++] = 0;
    }
    pos_off[n] = at;
    uint32_t max_doc = n ? ids[n - 1] : 0;
    uint32_t *dl = malloc(((size_t)max_doc + 1) * sizeof *dl);
    for (uint32_t d = 0; d <= max_doc; d++)
        dl[d] = 100;
    kz_posting_input in = { ids, tfs, pos, pos_off, n, dl, 100.0 };
    int rc = kz_postings_encode(&s->blob, &in);
    if (rc == KZ_OK && (rc = kz_plist_open(&s->pl, s->blob.data, s->blob.len, n, max_doc)) == KZ_OK)
        s->open = 1;
    free(tfs);
    free(pos_off);
    free(pos);
    free(dl);
    return rc;
}

static void side_free(side *s)
{
    if (s->open)
        kz_plist_close(&s->pl);
    kz_buf_free(&s->blob);
    roaring_bitmap_free(s->rb);
    free(s->ids);
}

/* ------------------------------------------------------------- methods */

static void run_roaring_card(void *ctx)
{
    job *j = ctx;
    if (j->n == 2) {
        j->count = roaring_bitmap_and_cardinality(j->s[0].rb, j->s[1].rb);
        return;
    }
    roaring_bitmap_t *acc = roaring_bitmap_and(j->s[0].rb, j->s[1].rb);
    for (size_t i = 2; i + 1 < j->n; i++)
        roaring_bitmap_and_inplace(acc, j->s[i].rb);
    j->count = roaring_bitmap_and_cardinality(acc, j->s[j->n - 1].rb);
    roaring_bitmap_free(acc);
}

static void run_roaring_and(void *ctx)
{
    job *j = ctx;
    roaring_bitmap_t *acc = roaring_bitmap_and(j->s[0].rb, j->s[1].rb);
    for (size_t i = 2; i < j->n; i++)
        roaring_bitmap_and_inplace(acc, j->s[i].rb);
    j->count = roaring_bitmap_get_cardinality(acc);
    roaring_uint32_iterator_t *it = roaring_create_iterator(acc);
    uint64_t sum = 0;
    while (it->has_value) {
        sum += it->current_value;
        roaring_advance_uint32_iterator(it);
    }
    roaring_free_uint32_iterator(it);
    j->sum = sum;
    roaring_bitmap_free(acc);
}

/* a ∩ b into out (may alias a); returns the count. */
static uint32_t merge2(uint32_t *out, const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb)
{
    uint32_t i = 0, k = 0, n = 0;
    while (i < na && k < nb) {
        if (a[i] < b[k])
            i++;
        else if (a[i] > b[k])
            k++;
        else {
            out[n++] = a[i];
            i++;
            k++;
        }
    }
    return n;
}

static uint32_t gallop2(uint32_t *out, const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb)
{
    uint32_t lo = 0, n = 0;
    for (uint32_t i = 0; i < na && lo < nb; i++) {
        uint32_t v = a[i], step = 1, hi = lo;
        while (hi < nb && b[hi] < v) {
            lo = hi + 1;
            hi += step;
            step *= 2;
        }
        if (hi > nb)
            hi = nb;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (b[mid] < v)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < nb && b[lo] == v)
            out[n++] = v;
    }
    return n;
}

static void chain(job *j, uint32_t (*f)(uint32_t *, const uint32_t *, uint32_t, const uint32_t *, uint32_t))
{
    /* Smallest first, as any engine would. */
    size_t order[16] = { 0, 1 }, n = j->n < 16 ? j->n : 16;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && j->s[order[k]].n < j->s[order[k - 1]].n; k--) {
            size_t t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
    uint32_t m = f(j->scratch, j->s[order[0]].ids, j->s[order[0]].n, j->s[order[1]].ids, j->s[order[1]].n);
    for (size_t i = 2; i < n; i++)
        m = f(j->scratch, j->scratch, m, j->s[order[i]].ids, j->s[order[i]].n);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < m; i++)
        sum += j->scratch[i];
    j->count = m;
    j->sum = sum;
}

static void run_merge(void *ctx) { chain(ctx, merge2); }
static void run_gallop(void *ctx) { chain(ctx, gallop2); }

static void run_cursor_tf(void *ctx)
{
    job *j = ctx;
    kz_cursor c[16];
    size_t n = j->n < 16 ? j->n : 16, lead = 0;
    for (size_t i = 0; i < n; i++) {
        kz_cursor_init(&c[i], &j->s[i].pl);
        if (j->s[i].n < j->s[lead].n)
            lead = i;
    }
    uint64_t count = 0, sum = 0, tf_sum = 0;
    uint32_t x = c[lead].doc;
    while (x != KZ_DOC_END) {
        size_t agree = 1, i = (lead + 1) % n;
        while (agree < n) {
            uint32_t y = kz_cursor_seek(&c[i], x);
            if (y == KZ_DOC_END)
                goto done;
            if (y == x) {
                agree++;
            } else {
                x = y;
                agree = 1;
            }
            i = (i + 1) % n;
        }
        if (kz_cursor_seek(&c[lead], x) != x) {
            x = c[lead].doc;
            continue;
        }
        count++;
        sum += x;
        for (size_t k = 0; k < n; k++)
            tf_sum += kz_plist_tf(c[k].pl, c[k].ord);
        x = kz_cursor_next(&c[lead]);
    }
done:
    j->count = count;
    j->sum = sum;
    j->tf_sum = tf_sum;
}

static void kz_count(job *j)
{
    if (j->n == 2) {
        j->count = kz_plist_and_count(&j->s[0].pl, &j->s[1].pl);
        return;
    }
    const kz_plist *pl[16];
    size_t n = j->n < 16 ? j->n : 16, got = 0;
    for (size_t i = 0; i < n; i++)
        pl[i] = &j->s[i].pl;
    kz_plist_and(j->scratch, NULL, &got, pl, n);
    j->count = got;
}

static void run_kz_count(void *ctx) { kz_count(ctx); }

static void run_kz_count_scalar(void *ctx)
{
    kz_intersect_force_scalar(1);
    kz_count(ctx);
    kz_intersect_force_scalar(0);
}

/* The docids with their ordinals in every list, and the tf lookups a
 * ranked query makes with them. */
static void run_kz_and_tf(void *ctx)
{
    job *j = ctx;
    const kz_plist *pl[16];
    size_t n = j->n < 16 ? j->n : 16, got = 0;
    for (size_t i = 0; i < n; i++)
        pl[i] = &j->s[i].pl;
    if (kz_plist_and(j->scratch, j->ords, &got, pl, n) != KZ_OK)
        got = 0;
    uint64_t sum = 0, tf_sum = 0;
    for (size_t r = 0; r < got; r++) {
        sum += j->scratch[r];
        for (size_t i = 0; i < n; i++)
            tf_sum += kz_plist_tf(pl[i], j->ords[r * n + i]);
    }
    j->count = got;
    j->sum = sum;
    j->tf_sum = tf_sum;
}

typedef struct method {
    const char *name;
    void (*run)(void *ctx);
    int sums; /* computes sum of docids: 2 also the tf sum */
} method;

static const method methods[] = {
    { "roaring-and-card", run_roaring_card, 0 },
    { "roaring-and", run_roaring_and, 1 },
    { "merge", run_merge, 1 },
    { "gallop", run_gallop, 1 },
    { "cursor-tf", run_cursor_tf, 2 },
    { "kz-count", run_kz_count, 0 },
    { "kz-count-scalar", run_kz_count_scalar, 0 },
    { "kz-and-tf", run_kz_and_tf, 2 },
};

/* The expected tf sum of the intersection, from the blobs' tf by ordinal. */
static uint64_t expected_tf(job *j)
{
    uint64_t total = 0;
    for (size_t i = 0; i < j->n; i++) {
        /* Each list's tf at the common docids: walk its ids with the result. */
        uint32_t p = 0;
        for (uint32_t r = 0; r < (uint32_t)j->count; r++) {
            while (j->s[i].ids[p] < j->scratch[r])
                p++;
            total += kz_plist_tf(&j->s[i].pl, p);
        }
    }
    return total;
}

/* Times every method on the lists; name is the case. */
static void bench_lists(kzb *b, const char *name, side *s, size_t n, double x_ratio, int plot)
{
    if (!kzb_selected(b, name))
        return;
    uint64_t elements = 0;
    uint32_t biggest = 0;
    for (size_t i = 0; i < n; i++) {
        elements += s[i].n;
        if (s[i].n > biggest)
            biggest = s[i].n;
    }
    uint32_t smallest = biggest;
    for (size_t i = 0; i < n; i++)
        smallest = s[i].n < smallest ? s[i].n : smallest;
    job j = { s, n, 0, 0, 0, malloc(((size_t)biggest + 1) * sizeof(uint32_t)),
              malloc(((size_t)smallest + 1) * n * sizeof(uint32_t)) };
    int reps = kzb_opts(b)->quick ? 3 : elements > 5000000 ? 7 : 15;
    /* The reference: merge. */
    run_merge(&j);
    uint64_t want_count = j.count, want_sum = j.sum, want_tf = expected_tf(&j);
    char base[160];
    snprintf(base, sizeof base, "%s/roaring-and-card", name);
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        char cname[160];
        snprintf(cname, sizeof cname, "%s/%s", name, methods[m].name);
        double med, lo, hi;
        j.sum = j.tf_sum = 0;
        kzb_time(&med, &lo, &hi, reps, methods[m].run, &j);
        if (j.count != want_count || (methods[m].sums && j.sum != want_sum) ||
            (methods[m].sums == 2 && j.tf_sum != want_tf))
            kzb_fail(b, cname, "count %llu sum %llu tf %llu, expected %llu %llu %llu", (unsigned long long)j.count,
                     (unsigned long long)j.sum, (unsigned long long)j.tf_sum, (unsigned long long)want_count,
                     (unsigned long long)want_sum, (unsigned long long)want_tf);
        int is_base = m == 0;
        kzb_metric(b, cname, "median", med / 1000.0, "us", is_base ? NULL : base, is_base ? NULL : "median");
        kzb_metric(b, cname, "spread", (hi - lo) / med * 100.0, "%", NULL, NULL);
        kzb_metric(b, cname, "elements/ns", (double)elements / med, "1/ns", NULL, NULL);
        if (want_count)
            kzb_metric(b, cname, "ns/result", med / (double)want_count, "ns", NULL, NULL);
        if (plot)
            kzb_data(b, "intersect.dat", "method ratio ns_per_element_of_A", "%s %g %.4f", methods[m].name, x_ratio,
                     med / (double)s[0].n);
    }
    free(j.scratch);
    free(j.ords);
}

static void synthetic(kzb *b)
{
    int quick = kzb_opts(b)->quick;
    uint32_t sizes_full[] = { 1000, 10000, 100000, 1000000, 10000000 };
    uint32_t sizes_quick[] = { 1000, 10000 };
    uint32_t ratios[] = { 1, 10, 100, 1000, 10000 };
    const uint32_t *sizes = quick ? sizes_quick : sizes_full;
    size_t n_sizes = quick ? 2 : 5;
    uint32_t cap = quick ? 200000u : 10000000u; /* the larger list at most */
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    static const char *kinds[] = { "sparse", "dense", "clustered" };
    for (size_t si = 0; si < n_sizes; si++)
        for (size_t ri = 0; ri < 5; ri++)
            for (int kind = 0; kind < 3; kind++) {
                uint32_t na = sizes[si];
                uint64_t nb64 = (uint64_t)na * ratios[ri];
                if (nb64 > cap)
                    continue;
                uint32_t nb = (uint32_t)nb64;
                /* sparse: 1 in 64 of the docids at most; dense: 1 in 2. */
                uint32_t universe = kind == 1 ? 2 * nb : nb * 64u > (1u << 28) ? (1u << 28) : nb * 64u;
                if (universe < 2 * nb)
                    universe = 2 * nb;
                char name[128];
                snprintf(name, sizeof name, "intersect/%s-%u-x%u", kinds[kind], na, ratios[ri]);
                if (!kzb_selected(b, name))
                    continue;
                side s[2];
                if (side_build(&s[0], make_ids(na, universe, kind == 2, &rng), na, &rng) ||
                    side_build(&s[1], make_ids(nb, universe, kind == 2, &rng), nb, &rng)) {
                    kzb_fail(b, name, "cannot build the lists: %s", kz_last_error());
                    continue;
                }
                bench_lists(b, name, s, 2, (double)ratios[ri], kind == 0 && na == (quick ? 1000u : 10000u));
                side_free(&s[0]);
                side_free(&s[1]);
            }
    /* Several lists of the same size. */
    for (size_t ways = 3; ways <= 5; ways += 2) {
        uint32_t n = quick ? 10000 : 1000000;
        char name[128];
        snprintf(name, sizeof name, "intersect/uniform-%zu-way-%u", ways, n);
        if (!kzb_selected(b, name))
            continue;
        side s[5];
        for (size_t i = 0; i < ways; i++)
            side_build(&s[i], make_ids(n, 4 * n, 0, &rng), n, &rng);
        bench_lists(b, name, s, ways, 1, 0);
        for (size_t i = 0; i < ways; i++)
            side_free(&s[i]);
    }
}

/* The query terms of the run, from the index of the index cases: every
 * query of two or more terms found in the index, all its lists at once. */
static void real_lists(kzb *b)
{
    const char *name = "intersect/real-queries";
    const kzb_queries *q = kzb_main_queries(b);
    if (!q || !kzb_selected(b, name))
        return;
    char dir[4096];
    kzb_work_path(dir, sizeof dir, b, "kz");
    kz_index *ix;
    if (kz_index_open(&ix, dir) != KZ_OK) {
        kzb_fail(b, name, "cannot open %s: %s", dir, kz_last_error());
        return;
    }
    kz_index_info info;
    kz_index_get_info(ix, &info);
    /* Per method, the total over the queries of the median time. */
    size_t nm = sizeof methods / sizeof methods[0];
    double *total = calloc(nm, sizeof *total);
    uint64_t elements = 0, results = 0;
    int used = 0;
    for (size_t i = 0; i < q->n; i++) {
        kz_query *query;
        if (kz_query_parse(&query, ix, q->text[i], strlen(q->text[i]), KZ_QUERY_PLAIN, NULL) != KZ_OK)
            continue;
        side s[16];
        size_t n = 0;
        int ok = query->n_terms >= 2 && query->n_terms <= 16;
        for (size_t t = 0; ok && t < query->n_terms; t++) {
            if (!query->terms[t].found) {
                ok = 0;
                break;
            }
            kz_term term;
            uint32_t *ids = NULL, *tfs = NULL;
            if (kz_index_term(ix, &term, query->terms[t].text, query->terms[t].len) != KZ_OK ||
                kz_index_postings(ix, &term, &ids, &tfs, NULL) != KZ_OK) {
                ok = 0;
                break;
            }
            free(tfs);
            memset(&s[n], 0, sizeof s[n]);
            s[n].ids = ids;
            s[n].n = term.df;
            s[n].rb = roaring_bitmap_of_ptr(term.df, ids);
            roaring_bitmap_run_optimize(s[n].rb);
            /* The index's own blob, read in place. */
            if (kz_segment_plist(kz_index_segment(ix, 0), &s[n].pl, term.ordinal) == KZ_OK)
                s[n].open = 1;
            n++;
        }
        kz_query_free(query);
        if (ok) {
            uint32_t biggest = 0;
            for (size_t k = 0; k < n; k++)
                biggest = s[k].n > biggest ? s[k].n : biggest;
            uint32_t smallest = biggest;
            for (size_t k = 0; k < n; k++)
                smallest = s[k].n < smallest ? s[k].n : smallest;
            job j = { s, n, 0, 0, 0, malloc(((size_t)biggest + 1) * sizeof(uint32_t)),
                      malloc(((size_t)smallest + 1) * n * sizeof(uint32_t)) };
            run_merge(&j);
            uint64_t want = j.count, want_sum = j.sum;
            for (size_t m = 0; m < nm; m++) {
                double med, lo, hi;
                kzb_time(&med, &lo, &hi, kzb_opts(b)->quick ? 3 : 7, methods[m].run, &j);
                if (j.count != want || (methods[m].sums && j.sum != want_sum))
                    kzb_fail(b, name, "query %s, %s: count %llu, expected %llu", q->qid[i], methods[m].name,
                             (unsigned long long)j.count, (unsigned long long)want);
                total[m] += med;
            }
            for (size_t k = 0; k < n; k++)
                elements += s[k].n;
            results += want;
            used++;
            free(j.scratch);
            free(j.ords);
        }
        for (size_t k = 0; k < n; k++) {
            if (s[k].open)
                kz_plist_close(&s[k].pl);
            roaring_bitmap_free(s[k].rb);
            free(s[k].ids);
        }
    }
    if (used) {
        char base[160];
        snprintf(base, sizeof base, "%s/roaring-and-card", name);
        for (size_t m = 0; m < nm; m++) {
            char cname[160];
            snprintf(cname, sizeof cname, "%s/%s", name, methods[m].name);
            kzb_metric(b, cname, "total", total[m] / 1000.0, "us", m ? base : NULL, m ? "total" : NULL);
            kzb_metric(b, cname, "elements/ns", (double)elements / total[m], "1/ns", NULL, NULL);
            if (results)
                kzb_metric(b, cname, "ns/result", total[m] / (double)results, "ns", NULL, NULL);
        }
        kzb_metric(b, name, "queries", used, "", NULL, NULL);
    }
    free(total);
    kz_index_free(ix);
}

void kzb_intersect_cases(kzb *b)
{
    synthetic(b);
    real_lists(b);
}
