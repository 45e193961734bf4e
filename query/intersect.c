/*
 * intersect.c: intersection and union of posting lists, container by
 * container, over the roaring bitmaps read in place (kz_plist_open).
 *
 * Debian's CRoaring is built for baseline x86-64, so its intersections run
 * without SSE4.2 or AVX2. These kernels have an AVX2 path, chosen at run
 * time (only the functions marked KZ_AVX2 are compiled for it; the rest
 * of the build stays baseline), and a portable scalar path with the same
 * results.
 *
 * array ∩ array  Sizes within 32x of each other: a block merge. Eight
 *                values of a and eight of b are compared all against all
 *                with four 256-bit compares (b rotated by 0..7 lanes, two
 *                rotations per register); the block whose last value is
 *                smaller moves on (both if equal). The lanes of a that
 *                matched are packed with a shuffle from a 256-entry table
 *                and stored; for the indices in b the same is done the
 *                other way round (the k-th match of a is the k-th of b,
 *                both being ascending). The last, partial block of either
 *                array is copied to eight lanes padded with its last value
 *                and the padding masked off, so nothing past the array is
 *                read. The block that moves on is chosen by a branch:
 *                waiting on the loads of the blocks' last values costs
 *                more than the mispredictions. More than 32x apart:
 *                galloping through the longer for each value of the
 *                shorter; with AVX2 over blocks of 16 values (block by
 *                block when the expected gap is under 16 blocks, else
 *                exponential then binary search), ending with one 16-lane
 *                compare. The scalar path merges without branches and
 *                gallops value by value.
 * array ∩ bitset Probe the bit of each value; its rank is the popcount of
 *                the words below (kept as a running sum, values ascending)
 *                plus the bits below it in its word.
 * bitset ∩ bitset AND the words and popcount (AVX2: nibble lookup with
 *                pshufb, summed with psadbw), or decode the set bits with
 *                their ranks in both.
 * runs           Walk the runs alongside the values, or the two lists of
 *                runs, or popcount the bitset over each run.
 * lists          Keys in step (exponential search over each list's
 *                containers, from the list of fewest containers); per key
 *                start from the smallest container and intersect the
 *                survivors with each next one, carrying their rank in
 *                every container for the ordinals. Unions count per key:
 *                a lone container's cardinality, two by inclusion and
 *                exclusion, more by ORing into an 8 KiB bitset.
 */
#include "kzint.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define KZ_HAVE_AVX2 1
#include <cpuid.h>
#include <immintrin.h>
#define KZ_AVX2 __attribute__((target("avx2,bmi2,popcnt")))
#else
#define KZ_HAVE_AVX2 0
#endif

/* Generic kernels are written once and inlined into both a scalar and an
 * AVX2 function, where they compile to popcnt and friends. */
#define KZ_INLINE static inline __attribute__((always_inline))

#define BITSET_WORDS 1024
#define BITSET_BYTES 8192
#define GALLOP_RATIO 32

/* ------------------------------------------------------------ selection */

static int simd_available;
static int scalar_forced;
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

#if KZ_HAVE_AVX2
/* compress[m]: the pshufb control that packs the u16 lanes set in mask m
 * to the front, in order. */
static uint8_t compress[256][16] __attribute__((aligned(16)));
#endif

#if KZ_HAVE_AVX2
/* Whether the CPU has AVX2, BMI2 and POPCNT and the OS saves the YMM
 * registers, asked with CPUID when an intersection first needs it. Not
 * __builtin_cpu_supports: linking it brings libgcc's constructor, which
 * asks CPUID about every feature in every process at start, and in a
 * virtual machine each CPUID is a trap to the host (about 0.1 ms of a
 * `kzsearch --version` here, 6% of it). */
static int cpu_has_avx2(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    const unsigned popcnt = 1u << 23, osxsave = 1u << 27, avx = 1u << 28;
    if ((c & (popcnt | osxsave | avx)) != (popcnt | osxsave | avx))
        return 0;
    unsigned xcr0_lo, xcr0_hi;
    __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 6) != 6) /* XMM and YMM state */
        return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    const unsigned avx2 = 1u << 5, bmi2 = 1u << 8;
    return (b & (avx2 | bmi2)) == (avx2 | bmi2);
}
#endif

static void detect(void)
{
#if KZ_HAVE_AVX2
    if (!cpu_has_avx2())
        return;
    for (unsigned m = 0; m < 256; m++) {
        unsigned k = 0;
        memset(compress[m], 0x80, 16);
        for (unsigned lane = 0; lane < 8; lane++) {
            if (m >> lane & 1) {
                compress[m][2 * k] = (uint8_t)(2 * lane);
                compress[m][2 * k + 1] = (uint8_t)(2 * lane + 1);
                k++;
            }
        }
    }
    simd_available = 1;
#endif
}

static inline int use_simd(void)
{
    pthread_once(&detect_once, detect);
    return simd_available && !scalar_forced;
}

void kz_intersect_force_scalar(int on) { scalar_forced = on != 0; }

int kz_intersect_simd(void) { return use_simd(); }

static inline uint16_t u16_at(const uint8_t *p, size_t i) { return kz_load_u16(p + 2 * i); }
static inline uint64_t word_at(const uint8_t *p, size_t w) { return kz_load_u64(p + 8 * w); }

/* ------------------------------------------------- array ∩ array, scalar */

/* Merge without branches: both cursors move by the comparison. Entries are
 * written at n on every step and kept when the values match; n <= min(i,
 * j) throughout, so n < min(na, nb) inside the loop whatever the data. */
KZ_INLINE size_t merge_u16(uint16_t *out, uint16_t *ia, uint16_t *ib, const uint8_t *a, size_t na,
                           const uint8_t *b, size_t nb)
{
    size_t i = 0, j = 0, n = 0;
    while (i < na && j < nb) {
        uint16_t x = u16_at(a, i), y = u16_at(b, j);
        if (out)
            out[n] = x;
        if (ia)
            ia[n] = (uint16_t)i;
        if (ib)
            ib[n] = (uint16_t)j;
        n += x == y;
        i += x <= y;
        j += y <= x;
    }
    return n;
}

/* For each value of the short array s, an exponential then binary search
 * of the long array l from where the previous one stopped. is and il get
 * the indices in s and l. At most ns results. */
KZ_INLINE size_t gallop_u16(uint16_t *out, uint16_t *is, uint16_t *il, const uint8_t *s, size_t ns,
                            const uint8_t *l, size_t nl)
{
    size_t at = 0, n = 0;
    for (size_t k = 0; k < ns && at < nl; k++) {
        uint16_t v = u16_at(s, k);
        if (u16_at(l, at) < v) {
            /* l[lo] < v; find the first index after lo holding >= v. */
            size_t lo = at, step = 1, hi = at + 1;
            while (hi < nl && u16_at(l, hi) < v) {
                lo = hi;
                step *= 2;
                hi = lo + step;
            }
            if (hi > nl)
                hi = nl;
            while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;
                if (u16_at(l, mid) < v)
                    lo = mid;
                else
                    hi = mid;
            }
            at = hi;
            if (at == nl)
                break;
        }
        if (u16_at(l, at) == v) {
            if (out)
                out[n] = v;
            if (is)
                is[n] = (uint16_t)k;
            if (il)
                il[n] = (uint16_t)at;
            n++;
            at++;
        }
    }
    return n;
}

KZ_INLINE size_t isect_scalar(uint16_t *out, uint16_t *ia, uint16_t *ib, const uint8_t *a, size_t na,
                              const uint8_t *b, size_t nb)
{
    if (na == 0 || nb == 0)
        return 0;
    if (na * GALLOP_RATIO < nb)
        return gallop_u16(out, ia, ib, a, na, b, nb);
    if (nb * GALLOP_RATIO < na)
        return gallop_u16(out, ib, ia, b, nb, a, na);
    return merge_u16(out, ia, ib, a, na, b, nb);
}

static size_t isect_scalar_count(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    return isect_scalar(NULL, NULL, NULL, a, na, b, nb);
}

static size_t isect_scalar_values(uint16_t *out, const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    return isect_scalar(out, NULL, NULL, a, na, b, nb);
}

static size_t isect_scalar_idx(uint16_t *out, uint16_t *ia, uint16_t *ib, const uint8_t *a, size_t na,
                               const uint8_t *b, size_t nb)
{
    return isect_scalar(out, ia, ib, a, na, b, nb);
}

/* --------------------------------------------------- array ∩ array, AVX2 */

#if KZ_HAVE_AVX2
#define KZ_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,bmi2,popcnt")))

/* Eight u16 lanes from p, of which the first n (1..8) are the array's; the
 * others repeat the last of them. Never reads past p + 2n. */
KZ_AVX2_INLINE __m128i load8(const uint8_t *p, size_t n)
{
    if (n >= 8)
        return _mm_loadu_si128((const __m128i_u *)(const void *)p);
    uint16_t t[8];
    memcpy(t, p, 2 * n);
    for (size_t k = n; k < 8; k++)
        t[k] = t[n - 1];
    return _mm_loadu_si128((const __m128i_u *)(const void *)t);
}

/* Bit k set iff lane k of x equals some lane of y. y is rotated by 0 and
 * 1 lanes into the two halves of a 256-bit register, then that register
 * by 2, 4 and 6 more lanes within each half: 8 rotations, 4 compares. */
KZ_AVX2_INLINE unsigned match8(__m128i x, __m128i y)
{
    __m256i xx = _mm256_broadcastsi128_si256(x);
    __m256i yy = _mm256_inserti128_si256(_mm256_castsi128_si256(y), _mm_alignr_epi8(y, y, 2), 1);
    __m256i c = _mm256_cmpeq_epi16(xx, yy);
    c = _mm256_or_si256(c, _mm256_cmpeq_epi16(xx, _mm256_alignr_epi8(yy, yy, 4)));
    c = _mm256_or_si256(c, _mm256_cmpeq_epi16(xx, _mm256_alignr_epi8(yy, yy, 8)));
    c = _mm256_or_si256(c, _mm256_cmpeq_epi16(xx, _mm256_alignr_epi8(yy, yy, 12)));
    __m128i f = _mm_or_si128(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
    return (unsigned)_mm_movemask_epi8(_mm_packs_epi16(f, _mm_setzero_si128()));
}

/* Stores the first k lanes of v at dst, which has room for room >= k
 * lanes: a whole 16-byte store when there is room for it. */
KZ_AVX2_INLINE void store_lanes(uint16_t *dst, size_t room, __m128i v, size_t k)
{
    if (room >= 8) {
        _mm_storeu_si128((__m128i_u *)(void *)dst, v);
    } else {
        uint16_t t[8];
        _mm_storeu_si128((__m128i_u *)(void *)t, v);
        memcpy(dst, t, 2 * k);
    }
}

/* Writes the matches of one pair of blocks: the lanes ma of va, their
 * indices from i, and (ib) the lanes of vb (valid lanes mask_b) that
 * matched, their indices from j. Returns the new count, at most cap. */
KZ_AVX2_INLINE size_t emit(uint16_t *out, uint16_t *ia, uint16_t *ib, size_t n, size_t cap, __m128i va,
                           __m128i vb, unsigned ma, unsigned mask_b, size_t i, size_t j)
{
    const __m128i iota = _mm_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7);
    size_t k = (size_t)_mm_popcnt_u32(ma), room = cap - n;
    if (k > room)
        k = room; /* only if a or b is not ascending */
    __m128i sel = _mm_load_si128((const __m128i *)(const void *)compress[ma]);
    if (out)
        store_lanes(out + n, room, _mm_shuffle_epi8(va, sel), k);
    if (ia)
        store_lanes(ia + n, room, _mm_shuffle_epi8(_mm_add_epi16(_mm_set1_epi16((short)i), iota), sel), k);
    if (ib) {
        unsigned mb = match8(vb, va) & mask_b;
        __m128i selb = _mm_load_si128((const __m128i *)(const void *)compress[mb]);
        store_lanes(ib + n, room, _mm_shuffle_epi8(_mm_add_epi16(_mm_set1_epi16((short)j), iota), selb), k);
    }
    return n + k;
}

/* The block merge: whole blocks of both arrays, then the partial last
 * blocks. Outputs are bounded by cap = min(na, nb) even when the arrays
 * are not ascending. */
KZ_AVX2_INLINE size_t block_u16(uint16_t *out, uint16_t *ia, uint16_t *ib, const uint8_t *a, size_t na,
                                const uint8_t *b, size_t nb)
{
    const int count_only = !out && !ia && !ib;
    const size_t cap = KZ_MIN(na, nb);
    size_t i = 0, j = 0, n = 0;
    while (i + 8 <= na && j + 8 <= nb) {
        __m128i va = _mm_loadu_si128((const __m128i_u *)(const void *)(a + 2 * i));
        __m128i vb = _mm_loadu_si128((const __m128i_u *)(const void *)(b + 2 * j));
        uint16_t amax = u16_at(a, i + 7), bmax = u16_at(b, j + 7);
        unsigned ma = match8(va, vb);
        if (count_only) {
            n += (size_t)_mm_popcnt_u32(ma);
        } else if (!ib && cap - n >= 8) {
            /* Whole stores fit: store whether or not anything matched
             * rather than branch on it (not worth a second match8 for
             * ib when matches are rare). */
            n = emit(out, ia, ib, n, cap, va, vb, ma, 0xFF, i, j);
        } else if (ma) {
            n = emit(out, ia, ib, n, cap, va, vb, ma, 0xFF, i, j);
            if (n == cap)
                return n;
        }
        /* A branch rather than arithmetic: mispredicting costs less than
         * waiting on the loads of amax and bmax for the next block. */
        if (amax < bmax)
            i += 8;
        else if (amax > bmax)
            j += 8;
        else
            i += 8, j += 8;
    }
    while (i < na && j < nb) {
        size_t la = KZ_MIN(na - i, 8), lb = KZ_MIN(nb - j, 8);
        __m128i va = load8(a + 2 * i, la), vb = load8(b + 2 * j, lb);
        uint16_t amax = u16_at(a, i + la - 1), bmax = u16_at(b, j + lb - 1);
        unsigned ma = match8(va, vb) & ((1u << la) - 1);
        if (count_only) {
            n += (size_t)_mm_popcnt_u32(ma);
        } else if (ma) {
            n = emit(out, ia, ib, n, cap, va, vb, ma, (1u << lb) - 1, i, j);
            if (n == cap)
                return n;
        }
        i += amax <= bmax ? 8 : 0;
        j += bmax <= amax ? 8 : 0;
    }
    return n;
}

/* The first index p >= at of l (nl values) with l[p] >= v, or nl; every
 * value before at is < v. Down to one block of 16 values, block by block
 * (linear) or by exponential then binary search, then one 16-lane compare
 * counts the values below v. */
KZ_AVX2_INLINE size_t lower_bound_avx2(const uint8_t *l, size_t at, size_t nl, uint16_t v, int linear)
{
    size_t lo = at, hi; /* values before lo are < v; the answer is in [lo, hi] */
    if (linear) {
        /* Expected gaps of a few blocks: step block by block; the loads
         * do not depend on each other, only the exit does. */
        while (lo + 16 <= nl && u16_at(l, lo + 15) < v)
            lo += 16;
        hi = KZ_MIN(lo + 16, nl);
    } else {
        size_t step = 16;
        hi = at + 16;
        while (hi <= nl && u16_at(l, hi - 1) < v) {
            lo = hi;
            step *= 2;
            hi = lo + step;
        }
        if (hi > nl)
            hi = nl;
        while (hi - lo > 16) {
            size_t mid = lo + (hi - lo) / 2;
            if (u16_at(l, mid - 1) < v)
                lo = mid;
            else
                hi = mid;
        }
    }
    if (hi - lo < 16) {
        while (lo < hi && u16_at(l, lo) < v)
            lo++;
        return lo;
    }
    __m256i x = _mm256_loadu_si256((const __m256i_u *)(const void *)(l + 2 * lo));
    __m256i ge = _mm256_cmpeq_epi16(_mm256_max_epu16(x, _mm256_set1_epi16((short)v)), x);
    return lo + 16 - (size_t)_mm_popcnt_u32((unsigned)_mm256_movemask_epi8(ge)) / 2;
}

/* gallop_u16 with lower_bound_avx2. */
KZ_AVX2_INLINE size_t gallop_avx2(uint16_t *out, uint16_t *is, uint16_t *il, const uint8_t *s, size_t ns,
                                  const uint8_t *l, size_t nl)
{
    size_t at = 0, n = 0;
    const int linear = nl < ns * 16 * 16; /* gaps under 16 blocks */
    for (size_t k = 0; k < ns; k++) {
        uint16_t v = u16_at(s, k);
        at = lower_bound_avx2(l, at, nl, v, linear);
        if (at == nl)
            break;
        if (u16_at(l, at) == v) {
            if (out)
                out[n] = v;
            if (is)
                is[n] = (uint16_t)k;
            if (il)
                il[n] = (uint16_t)at;
            n++;
            at++;
        }
    }
    return n;
}

KZ_AVX2_INLINE size_t isect_avx2(uint16_t *out, uint16_t *ia, uint16_t *ib, const uint8_t *a, size_t na,
                                 const uint8_t *b, size_t nb)
{
    if (na == 0 || nb == 0)
        return 0;
    if (na * GALLOP_RATIO < nb)
        return gallop_avx2(out, ia, ib, a, na, b, nb);
    if (nb * GALLOP_RATIO < na)
        return gallop_avx2(out, ib, ia, b, nb, a, na);
    return block_u16(out, ia, ib, a, na, b, nb);
}

KZ_AVX2 static size_t isect_avx2_count(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    return isect_avx2(NULL, NULL, NULL, a, na, b, nb);
}

KZ_AVX2 static size_t isect_avx2_values(uint16_t *out, const uint8_t *a, size_t na, const uint8_t *b,
                                        size_t nb)
{
    return isect_avx2(out, NULL, NULL, a, na, b, nb);
}

KZ_AVX2 static size_t isect_avx2_idx(uint16_t *out, uint16_t *ia, uint16_t *ib, const uint8_t *a, size_t na,
                                     const uint8_t *b, size_t nb)
{
    return isect_avx2(out, ia, ib, a, na, b, nb);
}
#endif

size_t kz_isect_u16(uint16_t *out, const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
#if KZ_HAVE_AVX2
    if (use_simd())
        return out ? isect_avx2_values(out, a, na, b, nb) : isect_avx2_count(a, na, b, nb);
#endif
    return out ? isect_scalar_values(out, a, na, b, nb) : isect_scalar_count(a, na, b, nb);
}

size_t kz_isect_u16_idx(uint16_t *out, uint16_t *ia, uint16_t *ib, const uint8_t *a, size_t na,
                        const uint8_t *b, size_t nb)
{
    if (!ia && !ib)
        return kz_isect_u16(out, a, na, b, nb);
#if KZ_HAVE_AVX2
    if (use_simd())
        return isect_avx2_idx(out, ia, ib, a, na, b, nb);
#endif
    return isect_scalar_idx(out, ia, ib, a, na, b, nb);
}

/* -------------------------------------------------------- array ∩ bitset */

/* Every value's entries are written at n and kept if its bit is set:
 * n <= k < na. The rank's running popcount restarts if the values go
 * back (a malformed array). */
KZ_INLINE size_t probe_bitset(uint16_t *out, uint16_t *ia, uint16_t *rb, const uint8_t *a, size_t na,
                              const uint8_t *bits)
{
    size_t n = 0;
    uint32_t pw = 0, pc = 0; /* pc: set bits in words [0, pw) */
    for (size_t k = 0; k < na; k++) {
        uint16_t v = u16_at(a, k);
        uint32_t w = v >> 6, bit = v & 63;
        uint64_t word = word_at(bits, w);
        if (out)
            out[n] = v;
        if (ia)
            ia[n] = (uint16_t)k;
        if (rb) {
            if (w < pw)
                pw = pc = 0;
            while (pw < w)
                pc += (uint32_t)__builtin_popcountll(word_at(bits, pw++));
            rb[n] = (uint16_t)(pc + (uint32_t)__builtin_popcountll(word & ((1ull << bit) - 1)));
        }
        n += (size_t)(word >> bit & 1);
    }
    return n;
}

static size_t probe_bitset_scalar(uint16_t *out, uint16_t *ia, uint16_t *rb, const uint8_t *a, size_t na,
                                  const uint8_t *bits)
{
    return probe_bitset(out, ia, rb, a, na, bits);
}

#if KZ_HAVE_AVX2
KZ_AVX2 static size_t probe_bitset_avx2(uint16_t *out, uint16_t *ia, uint16_t *rb, const uint8_t *a,
                                        size_t na, const uint8_t *bits)
{
    return probe_bitset(out, ia, rb, a, na, bits);
}
#endif

size_t kz_isect_u16_bitset(uint16_t *out, uint16_t *ia, uint16_t *rb, const uint8_t *a, size_t na,
                           const uint8_t *bits)
{
#if KZ_HAVE_AVX2
    if (use_simd())
        return probe_bitset_avx2(out, ia, rb, a, na, bits);
#endif
    return probe_bitset_scalar(out, ia, rb, a, na, bits);
}

/* ------------------------------------------------------- bitset ∩ bitset */

/* Popcount of a AND b over n 64-bit words (b may be NULL: a alone). */
KZ_INLINE uint64_t popcount_words(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint64_t c0 = 0, c1 = 0;
    size_t w = 0;
    for (; w + 2 <= n; w += 2) {
        uint64_t x0 = word_at(a, w), x1 = word_at(a, w + 1);
        if (b) {
            x0 &= word_at(b, w);
            x1 &= word_at(b, w + 1);
        }
        c0 += (uint64_t)__builtin_popcountll(x0);
        c1 += (uint64_t)__builtin_popcountll(x1);
    }
    for (; w < n; w++)
        c0 += (uint64_t)__builtin_popcountll(b ? word_at(a, w) & word_at(b, w) : word_at(a, w));
    return c0 + c1;
}

#if KZ_HAVE_AVX2
/* Popcount of 32 bytes per step: each nibble looked up with pshufb, the
 * byte counts summed with psadbw. n is a multiple of 32 bytes. */
KZ_AVX2_INLINE uint64_t popcount_bytes_avx2(const uint8_t *a, const uint8_t *b, size_t bytes)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1,
                                         2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256i acc = _mm256_setzero_si256();
    for (size_t k = 0; k < bytes; k += 128) {
        __m256i sum8 = _mm256_setzero_si256(); /* at most 4 × 8 per byte */
        for (size_t u = 0; u < 128; u += 32) {
            __m256i v = _mm256_loadu_si256((const __m256i_u *)(const void *)(a + k + u));
            if (b)
                v = _mm256_and_si256(v, _mm256_loadu_si256((const __m256i_u *)(const void *)(b + k + u)));
            __m256i lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(v, low));
            __m256i hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
            sum8 = _mm256_add_epi8(sum8, _mm256_add_epi8(lo, hi));
        }
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(sum8, _mm256_setzero_si256()));
    }
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    return (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
}

KZ_AVX2 static uint32_t bitset_and_count_avx2(const uint8_t *a, const uint8_t *b)
{
    return (uint32_t)popcount_bytes_avx2(a, b, BITSET_BYTES);
}
#endif

uint32_t kz_bitset_and_count(const uint8_t *a, const uint8_t *b)
{
#if KZ_HAVE_AVX2
    if (use_simd())
        return bitset_and_count_avx2(a, b);
#endif
    return (uint32_t)popcount_words(a, b, BITSET_WORDS);
}

/* Set bits of a AND b (b NULL: of a), with their ranks in a and b. */
KZ_INLINE size_t bitset_decode(uint16_t *out, uint16_t *ra, uint16_t *rb, size_t cap, const uint8_t *a,
                               const uint8_t *b)
{
    size_t n = 0;
    uint32_t ca = 0, cb = 0; /* set bits of a and b in the words before */
    for (uint32_t w = 0; w < BITSET_WORDS; w++) {
        uint64_t x = word_at(a, w), y = b ? word_at(b, w) : x, z = x & y;
        if (n + (size_t)__builtin_popcountll(z) > cap) {
            /* cap reached: only count from here on */
            while (z && n < cap) {
                uint64_t below = (z & -z) - 1;
                if (out)
                    out[n] = (uint16_t)(w * 64 + (uint32_t)__builtin_ctzll(z));
                if (ra)
                    ra[n] = (uint16_t)(ca + (uint32_t)__builtin_popcountll(x & below));
                if (rb)
                    rb[n] = (uint16_t)(cb + (uint32_t)__builtin_popcountll(y & below));
                n++;
                z &= z - 1;
            }
            return n + (size_t)__builtin_popcountll(z) +
                   (size_t)(w + 1 < BITSET_WORDS
                                ? popcount_words(a + 8 * (w + 1), b ? b + 8 * (w + 1) : NULL, BITSET_WORDS - w - 1)
                                : 0);
        }
        /* Four bits per turn whatever the word holds, so that the loop
         * exit is mispredicted less often; the entries written past the
         * word's last bit are overwritten by the next word's or lie in
         * the room left (cap - n >= popcount + 3 here). */
        size_t cnt = (size_t)__builtin_popcountll(z);
        if (cnt + 3 <= cap - n) {
            for (size_t k = 0; k < cnt; k += 4) {
                for (int u = 0; u < 4; u++) {
                    uint64_t below = (z & -z) - 1;
                    if (out)
                        out[n + k + (size_t)u] =
                            (uint16_t)(w * 64 + (uint32_t)__builtin_ctzll(z | 1ull << 63));
                    if (ra)
                        ra[n + k + (size_t)u] = (uint16_t)(ca + (uint32_t)__builtin_popcountll(x & below));
                    if (rb)
                        rb[n + k + (size_t)u] = (uint16_t)(cb + (uint32_t)__builtin_popcountll(y & below));
                    z &= z - 1;
                }
            }
            n += cnt;
        } else {
            while (z) {
                uint64_t below = (z & -z) - 1;
                if (out)
                    out[n] = (uint16_t)(w * 64 + (uint32_t)__builtin_ctzll(z));
                if (ra)
                    ra[n] = (uint16_t)(ca + (uint32_t)__builtin_popcountll(x & below));
                if (rb)
                    rb[n] = (uint16_t)(cb + (uint32_t)__builtin_popcountll(y & below));
                n++;
                z &= z - 1;
            }
        }
        if (ra)
            ca += (uint32_t)__builtin_popcountll(x);
        if (rb)
            cb += (uint32_t)__builtin_popcountll(y);
    }
    return n;
}

static size_t bitset_decode_scalar(uint16_t *out, uint16_t *ra, uint16_t *rb, size_t cap, const uint8_t *a,
                                   const uint8_t *b)
{
    return bitset_decode(out, ra, rb, cap, a, b);
}

#if KZ_HAVE_AVX2
KZ_AVX2 static size_t bitset_decode_avx2(uint16_t *out, uint16_t *ra, uint16_t *rb, size_t cap,
                                         const uint8_t *a, const uint8_t *b)
{
    return bitset_decode(out, ra, rb, cap, a, b);
}
#endif

size_t kz_bitset_and_decode(uint16_t *out, uint16_t *ra, uint16_t *rb, size_t cap, const uint8_t *a,
                            const uint8_t *b)
{
#if KZ_HAVE_AVX2
    if (use_simd())
        return bitset_decode_avx2(out, ra, rb, cap, a, b);
#endif
    return bitset_decode_scalar(out, ra, rb, cap, a, b);
}

size_t kz_bitset_decode(uint16_t *out, size_t cap, const uint8_t *bits)
{
#if KZ_HAVE_AVX2
    if (use_simd())
        return bitset_decode_avx2(out, NULL, NULL, cap, bits, NULL);
#endif
    return bitset_decode_scalar(out, NULL, NULL, cap, bits, NULL);
}

/* ------------------------------------------------------------------ runs */

static inline uint32_t run_count(const uint8_t *run) { return kz_load_u16(run); }
static inline uint32_t run_start(const uint8_t *run, uint32_t r) { return kz_load_u16(run + 2 + 4 * (size_t)r); }
/* Last value of run r (may exceed 65535 in a malformed container). */
static inline uint32_t run_end(const uint8_t *run, uint32_t r)
{
    return run_start(run, r) + kz_load_u16(run + 4 + 4 * (size_t)r);
}

size_t kz_run_decode(uint16_t *out, size_t cap, const uint8_t *run)
{
    uint32_t nr = run_count(run);
    size_t n = 0;
    int64_t prev_end = -1;
    for (uint32_t r = 0; r < nr; r++) {
        uint32_t s = run_start(run, r), e = run_end(run, r);
        if ((int64_t)s <= prev_end || e > 0xFFFF)
            return SIZE_MAX;
        size_t len = (size_t)(e - s) + 1, put = n < cap ? KZ_MIN(len, cap - n) : 0;
        for (size_t k = 0; k < put; k++)
            out[n + k] = (uint16_t)(s + k);
        n += len;
        prev_end = e;
    }
    return n;
}

/* Each value is written at n and kept when it lies in a run: n <= k < na.
 * Runs are walked forward only; the rank is the values of the runs before
 * plus the offset in its run, clamped to u16. */
KZ_INLINE size_t probe_run(uint16_t *out, uint16_t *ia, uint16_t *rr, const uint8_t *a, size_t na,
                           const uint8_t *run)
{
    uint32_t nr = run_count(run), r = 0, acc = 0; /* acc: values of runs [0, r) */
    if (nr == 0)
        return 0;
    uint32_t s = run_start(run, 0), e = run_end(run, 0);
    size_t n = 0;
    for (size_t k = 0; k < na; k++) {
        uint32_t v = u16_at(a, k);
        while (e < v) {
            acc += e - s + 1;
            if (++r == nr)
                return n;
            s = run_start(run, r);
            e = run_end(run, r);
        }
        if (out)
            out[n] = (uint16_t)v;
        if (ia)
            ia[n] = (uint16_t)k;
        if (rr) {
            uint32_t rank = acc + (v - s);
            rr[n] = (uint16_t)(rank > 0xFFFF ? 0xFFFF : rank);
        }
        n += v >= s;
    }
    return n;
}

static size_t probe_run_scalar(uint16_t *out, uint16_t *ia, uint16_t *rr, const uint8_t *a, size_t na,
                               const uint8_t *run)
{
    return probe_run(out, ia, rr, a, na, run);
}

size_t kz_isect_u16_run(uint16_t *out, uint16_t *ia, uint16_t *rr, const uint8_t *a, size_t na,
                        const uint8_t *run)
{
    return probe_run_scalar(out, ia, rr, a, na, run);
}

uint32_t kz_run_and_count(const uint8_t *a, const uint8_t *b)
{
    uint32_t na = run_count(a), nb = run_count(b), i = 0, j = 0, n = 0;
    while (i < na && j < nb) {
        uint32_t sa = run_start(a, i), ea = run_end(a, i), sb = run_start(b, j), eb = run_end(b, j);
        uint32_t lo = KZ_MAX(sa, sb), hi = KZ_MIN(ea, eb);
        if (lo <= hi)
            n += hi - lo + 1;
        i += ea <= eb;
        j += eb <= ea;
    }
    return n;
}

/* Set bits of word w from bit lo to bit hi, inclusive (lo <= hi < 64). */
static inline uint64_t bits_between(unsigned lo, unsigned hi) { return (~0ull << lo) & (~0ull >> (63 - hi)); }

KZ_INLINE uint32_t run_bitset_count(const uint8_t *run, const uint8_t *bits)
{
    uint32_t nr = run_count(run), n = 0;
    for (uint32_t r = 0; r < nr; r++) {
        uint32_t s = run_start(run, r), e = KZ_MIN(run_end(run, r), 0xFFFFu);
        uint32_t ws = s >> 6, we = e >> 6;
        if (ws == we) {
            n += (uint32_t)__builtin_popcountll(word_at(bits, ws) & bits_between(s & 63, e & 63));
        } else {
            n += (uint32_t)__builtin_popcountll(word_at(bits, ws) & bits_between(s & 63, 63));
            n += (uint32_t)popcount_words(bits + 8 * (ws + 1), NULL, we - ws - 1);
            n += (uint32_t)__builtin_popcountll(word_at(bits, we) & bits_between(0, e & 63));
        }
    }
    return n;
}

static uint32_t run_bitset_count_scalar(const uint8_t *run, const uint8_t *bits)
{
    return run_bitset_count(run, bits);
}

#if KZ_HAVE_AVX2
KZ_AVX2 static uint32_t run_bitset_count_avx2(const uint8_t *run, const uint8_t *bits)
{
    return run_bitset_count(run, bits);
}
#endif

uint32_t kz_run_bitset_and_count(const uint8_t *run, const uint8_t *bits)
{
#if KZ_HAVE_AVX2
    if (use_simd())
        return run_bitset_count_avx2(run, bits);
#endif
    return run_bitset_count_scalar(run, bits);
}

/* ------------------------------------------------------------ containers */

uint32_t kz_container_and_count(const kz_container *a, const kz_container *b)
{
    if (a->type > b->type) {
        const kz_container *t = a;
        a = b;
        b = t;
    }
    switch (a->type * 4 + b->type) {
    case KZ_CONTAINER_ARRAY * 4 + KZ_CONTAINER_ARRAY:
        return (uint32_t)kz_isect_u16(NULL, a->data, a->card, b->data, b->card);
    case KZ_CONTAINER_ARRAY * 4 + KZ_CONTAINER_BITSET:
        return (uint32_t)kz_isect_u16_bitset(NULL, NULL, NULL, a->data, a->card, b->data);
    case KZ_CONTAINER_ARRAY * 4 + KZ_CONTAINER_RUN:
        return (uint32_t)kz_isect_u16_run(NULL, NULL, NULL, a->data, a->card, b->data);
    case KZ_CONTAINER_BITSET * 4 + KZ_CONTAINER_BITSET:
        return kz_bitset_and_count(a->data, b->data);
    case KZ_CONTAINER_BITSET * 4 + KZ_CONTAINER_RUN:
        return kz_run_bitset_and_count(b->data, a->data);
    case KZ_CONTAINER_RUN * 4 + KZ_CONTAINER_RUN:
        return kz_run_and_count(a->data, b->data);
    default:
        return 0;
    }
}

/* ----------------------------------------------------------------- lists */

static int corrupt(const char *what)
{
    return kz_error_set(KZ_ECORRUPT, "index is corrupt: posting list %s", what);
}

uint64_t kz_plist_and_count(const kz_plist *a, const kz_plist *b)
{
    if (a->n_containers > b->n_containers) {
        const kz_plist *t = a;
        a = b;
        b = t;
    }
    uint64_t n = 0;
    uint32_t j = 0;
    for (uint32_t i = 0; i < a->n_containers; i++) {
        const kz_container *ca = &a->containers[i];
        j = kz_plist_seek_container(b, j, ca->base);
        if (j == b->n_containers)
            break;
        if (b->containers[j].base == ca->base)
            n += kz_container_and_count(ca, &b->containers[j++]);
    }
    return n;
}

/* What kz_plist_and works with. Buffers hold cap values, cap being the
 * largest cardinality the smallest container of a key can have. */
typedef struct and_state {
    size_t n_lists;
    size_t cap;
    uint16_t *vals, *vals2; /* the values surviving so far, and the next */
    uint16_t *idx;          /* which of vals survived the last step */
    uint16_t *ranks;        /* n_lists × cap, or NULL: ranks by list */
    const kz_container **c; /* the key's container in each list */
    size_t *order;          /* lists by the cardinality of c */
} and_state;

static inline uint16_t *ranks_of(const and_state *s, size_t list)
{
    return s->ranks ? s->ranks + list * s->cap : NULL;
}

/* The values of the array a (na values) in container c: index in a to ia
 * and rank in c to rk (both NULL or both not). */
static size_t array_and_container(uint16_t *out, uint16_t *ia, uint16_t *rk, const uint8_t *a, size_t na,
                                  const kz_container *c)
{
    if (c->type == KZ_CONTAINER_ARRAY)
        return kz_isect_u16_idx(out, ia, rk, a, na, c->data, c->card);
    if (c->type == KZ_CONTAINER_BITSET)
        return kz_isect_u16_bitset(out, ia, rk, a, na, c->data);
    return kz_isect_u16_run(out, ia, rk, a, na, c->data);
}

/* Intersects the containers s->c of one key, all lists having it, and
 * appends the results at *n_out. */
static int and_key(and_state *s, uint32_t *docids, uint32_t *ords, size_t *n_out)
{
    size_t n = s->n_lists;
    for (size_t l = 0; l < n; l++) {
        size_t k = l;
        while (k > 0 && s->c[s->order[k - 1]]->card > s->c[l]->card) {
            s->order[k] = s->order[k - 1];
            k--;
        }
        s->order[k] = l;
    }
    const kz_container *d0 = s->c[s->order[0]], *d1 = s->c[s->order[1]];
    uint16_t *r0 = ranks_of(s, s->order[0]), *r1 = ranks_of(s, s->order[1]);
    uint16_t *vals = s->vals, *vals2 = s->vals2;
    size_t m;
    if (d0->card > s->cap)
        return corrupt("container cardinality exceeds the list's");
    if (d0->type == KZ_CONTAINER_ARRAY) {
        m = array_and_container(vals, r0, r1, d0->data, d0->card, d1);
    } else if (d0->type == KZ_CONTAINER_BITSET && d1->type == KZ_CONTAINER_BITSET) {
        m = kz_bitset_and_decode(vals, r0, r1, s->cap, d0->data, d1->data);
    } else {
        /* The smallest is a bitset or runs: its values, whose indices are
         * its ranks, against the next. */
        size_t got = d0->type == KZ_CONTAINER_BITSET ? kz_bitset_decode(vals2, s->cap, d0->data)
                                                     : kz_run_decode(vals2, s->cap, d0->data);
        if (got != d0->card)
            return corrupt("container cardinality differs from its contents");
        m = array_and_container(vals, r0, r1, (const uint8_t *)vals2, got, d1);
    }
    for (size_t p = 2; p < n && m > 0 && m <= d0->card; p++) {
        size_t list = s->order[p];
        size_t m2 = array_and_container(vals2, s->ranks ? s->idx : NULL, ranks_of(s, list), (const uint8_t *)vals,
                                        m, s->c[list]);
        if (s->ranks) {
            for (size_t q = 0; q < p; q++) {
                uint16_t *rk = ranks_of(s, s->order[q]);
                for (size_t k = 0; k < m2; k++)
                    rk[k] = rk[s->idx[k]];
            }
        }
        uint16_t *t = vals;
        vals = vals2;
        vals2 = t;
        m = m2;
    }
    if (m > d0->card)
        return corrupt("container cardinality differs from its contents");
    uint32_t base = d0->base;
    uint32_t *dst = docids + *n_out;
    for (size_t k = 0; k < m; k++)
        dst[k] = base | vals[k];
    if (ords) {
        for (size_t l = 0; l < n; l++) {
            const uint16_t *rk = ranks_of(s, l);
            uint32_t card = s->c[l]->card, ord_base = s->c[l]->ord_base;
            uint32_t *o = ords + *n_out * n + l;
            for (size_t k = 0; k < m; k++, o += n) {
                if (rk[k] >= card)
                    return corrupt("container cardinality differs from its contents");
                *o = ord_base + rk[k];
            }
        }
    }
    *n_out += m;
    return KZ_OK;
}

int kz_plist_and(uint32_t *docids_out, uint32_t *ords_out, size_t *n_out, const kz_plist *const *lists,
                 size_t n_lists)
{
    int rc = KZ_OK;
    and_state s = { 0 };
    uint32_t *pos = NULL;
    size_t *by_keys = NULL;
    *n_out = 0;
    if (n_lists == 0)
        return KZ_OK;
    uint32_t min_df = UINT32_MAX;
    for (size_t l = 0; l < n_lists; l++) {
        if (lists[l]->n_containers == 0)
            return KZ_OK;
        min_df = KZ_MIN(min_df, lists[l]->df);
    }
    if (n_lists == 1) {
        const kz_plist *pl = lists[0];
        if ((rc = kz_plist_docids(pl, docids_out)))
            return rc;
        if (ords_out)
            for (uint32_t i = 0; i < pl->df; i++)
                ords_out[i] = i;
        *n_out = pl->df;
        return KZ_OK;
    }
    s.n_lists = n_lists;
    s.cap = KZ_MIN((size_t)min_df, (size_t)65536);
    s.vals = malloc(s.cap * sizeof *s.vals);
    s.vals2 = malloc(s.cap * sizeof *s.vals2);
    s.idx = malloc(s.cap * sizeof *s.idx);
    s.ranks = ords_out ? malloc(n_lists * s.cap * sizeof *s.ranks) : NULL;
    s.c = malloc(n_lists * sizeof *s.c);
    s.order = malloc(n_lists * sizeof *s.order);
    pos = calloc(n_lists, sizeof *pos);
    by_keys = malloc(n_lists * sizeof *by_keys);
    if (!s.vals || !s.vals2 || !s.idx || (ords_out && !s.ranks) || !s.c || !s.order || !pos || !by_keys) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory intersecting %zu posting lists", n_lists);
        goto done;
    }
    /* Keys are matched from the list of fewest containers. */
    for (size_t l = 0; l < n_lists; l++) {
        size_t k = l;
        while (k > 0 && lists[by_keys[k - 1]]->n_containers > lists[l]->n_containers) {
            by_keys[k] = by_keys[k - 1];
            k--;
        }
        by_keys[k] = l;
    }
    uint32_t target = 0;
    for (;;) {
        size_t q;
        for (q = 0; q < n_lists; q++) {
            size_t l = by_keys[q];
            const kz_plist *pl = lists[l];
            pos[l] = kz_plist_seek_container(pl, pos[l], target);
            if (pos[l] == pl->n_containers)
                goto done;
            if (pl->containers[pos[l]].base != target) {
                target = pl->containers[pos[l]].base;
                break;
            }
        }
        if (q < n_lists)
            continue;
        for (size_t l = 0; l < n_lists; l++)
            s.c[l] = &lists[l]->containers[pos[l]++];
        if ((rc = and_key(&s, docids_out, ords_out, n_out)))
            goto done;
        if (target == 0xFFFF0000u)
            break;
        target += 0x10000;
    }
done:
    free(s.vals);
    free(s.vals2);
    free(s.idx);
    free(s.ranks);
    free(s.c);
    free(s.order);
    free(pos);
    free(by_keys);
    return rc;
}

/* -------------------------------------------------------------- unions */

/* ORs container c into the 1024 words of bits. */
KZ_INLINE void or_into(uint64_t *bits, const kz_container *c)
{
    if (c->type == KZ_CONTAINER_ARRAY) {
        for (uint32_t k = 0; k < c->card; k++) {
            uint16_t v = u16_at(c->data, k);
            bits[v >> 6] |= 1ull << (v & 63);
        }
    } else if (c->type == KZ_CONTAINER_BITSET) {
        for (uint32_t w = 0; w < BITSET_WORDS; w++)
            bits[w] |= word_at(c->data, w);
    } else {
        uint32_t nr = run_count(c->data);
        for (uint32_t r = 0; r < nr; r++) {
            uint32_t s = run_start(c->data, r), e = KZ_MIN(run_end(c->data, r), 0xFFFFu);
            uint32_t ws = s >> 6, we = e >> 6;
            if (ws == we) {
                bits[ws] |= bits_between(s & 63, e & 63);
            } else {
                bits[ws] |= bits_between(s & 63, 63);
                for (uint32_t w = ws + 1; w < we; w++)
                    bits[w] = ~0ull;
                bits[we] |= bits_between(0, e & 63);
            }
        }
    }
}

void kz_plist_or_bits(const kz_plist *pl, uint64_t *bits, size_t words)
{
    for (uint32_t i = 0; i < pl->n_containers; i++) {
        size_t at = (size_t)(pl->containers[i].base >> 16) * BITSET_WORDS;
        if (at + BITSET_WORDS > words)
            continue;
        or_into(bits + at, &pl->containers[i]);
    }
}

/* The union's cardinality of the m (>= 3) containers c[0..m). */
KZ_INLINE uint64_t or_many(uint64_t *bits, const kz_container *const *c, size_t m)
{
    memset(bits, 0, BITSET_BYTES);
    for (size_t k = 0; k < m; k++)
        or_into(bits, c[k]);
    return popcount_words((const uint8_t *)bits, NULL, BITSET_WORDS);
}

static uint64_t or_many_scalar(uint64_t *bits, const kz_container *const *c, size_t m)
{
    return or_many(bits, c, m);
}

#if KZ_HAVE_AVX2
KZ_AVX2 static uint64_t or_many_avx2(uint64_t *bits, const kz_container *const *c, size_t m)
{
    memset(bits, 0, BITSET_BYTES);
    for (size_t k = 0; k < m; k++)
        or_into(bits, c[k]);
    return popcount_bytes_avx2((const uint8_t *)bits, NULL, BITSET_BYTES);
}
#endif

uint64_t kz_plist_or_count(const kz_plist *const *lists, size_t n)
{
    uint32_t pos_small[64], *pos = pos_small;
    const kz_container *c_small[64], **c = c_small;
    uint64_t bits[BITSET_WORDS];
    uint64_t total = 0;
    if (n > 64) {
        pos = calloc(n, sizeof *pos);
        c = malloc(n * sizeof *c);
        if (!pos || !c) {
            total = UINT64_MAX;
            kz_error_set(KZ_ENOMEM, "out of memory uniting %zu posting lists", n);
            goto done;
        }
    } else {
        memset(pos_small, 0, sizeof pos_small);
    }
    int simd = use_simd();
    for (;;) {
        uint64_t key = UINT64_MAX;
        for (size_t l = 0; l < n; l++)
            if (pos[l] < lists[l]->n_containers && lists[l]->containers[pos[l]].base < key)
                key = lists[l]->containers[pos[l]].base;
        if (key == UINT64_MAX)
            break;
        size_t m = 0;
        for (size_t l = 0; l < n; l++)
            if (pos[l] < lists[l]->n_containers && lists[l]->containers[pos[l]].base == key)
                c[m++] = &lists[l]->containers[pos[l]++];
        if (m == 1)
            total += c[0]->card;
        else if (m == 2)
            total += (uint64_t)c[0]->card + c[1]->card - kz_container_and_count(c[0], c[1]);
#if KZ_HAVE_AVX2
        else if (simd)
            total += or_many_avx2(bits, c, m);
#endif
        else
            total += or_many_scalar(bits, c, m);
    }
    (void)simd;
done:
    if (pos != pos_small)
        free(pos);
    if (c != c_small)
        free(c);
    return total;
}
