/*
 * simhash.c: a document's near-duplicate fingerprint (FORMAT.md "SIMHASH"),
 * a 64-bit SimHash of the shingles of its text's terms.
 *
 * Each shingle (KZ_SIMHASH_SHINGLE consecutive terms) is hashed; bit b of
 * the fingerprint is set when more than half of the shingles have bit b
 * set. Two texts that share most of their shingles get fingerprints a few
 * bits apart (Charikar 2002; Manku et al. 2007 used it for the web crawl's
 * near-duplicates), and unrelated texts fingerprints about 32 bits apart.
 */
#include "kzint.h"

#include <xxhash.h>

uint64_t kz_simhash_term(const char *term, size_t len) { return XXH3_64bits(term, len); }

uint64_t kz_simhash(const uint64_t *terms, size_t n)
{
    if (n == 0)
        return KZ_SIMHASH_NONE;
    size_t w = n < KZ_SIMHASH_SHINGLE ? n : KZ_SIMHASH_SHINGLE;
    size_t shingles = n - w + 1;
    /* The 64 bits' counts, bit-sliced: plane[k] holds bit k of each bit's
     * count, and a shingle's hash is added to all 64 at once with a ripple
     * carry (two steps on average, not 64 additions). Sixteen planes count
     * to 65,535; they are moved into count[] before they would overflow. */
    uint64_t count[64] = { 0 }, plane[16] = { 0 };
    size_t in_planes = 0;
    for (size_t i = 0; i < shingles; i++) {
        uint8_t buf[8 * KZ_SIMHASH_SHINGLE];
        for (size_t j = 0; j < w; j++)
            kz_store_u64(buf + 8 * j, terms[i + j]);
        uint64_t carry = XXH3_64bits(buf, 8 * w);
        for (unsigned k = 0; carry; k++) {
            uint64_t next = plane[k] & carry;
            plane[k] ^= carry;
            carry = next;
        }
        if (++in_planes == 65535 || i + 1 == shingles) {
            for (unsigned k = 0; k < 16; k++) {
                for (unsigned b = 0; b < 64; b++)
                    count[b] += (plane[k] >> b & 1) << k;
                plane[k] = 0;
            }
            in_planes = 0;
        }
    }
    uint64_t fp = 0;
    for (unsigned b = 0; b < 64; b++)
        if (2 * count[b] > shingles)
            fp |= 1ull << b;
    return fp == KZ_SIMHASH_NONE ? 1 : fp;
}

int kz_simhash_similar(uint64_t a, uint64_t b)
{
    return a != KZ_SIMHASH_NONE && b != KZ_SIMHASH_NONE && kz_popcount64(a ^ b) <= KZ_SIMHASH_DISTANCE;
}
