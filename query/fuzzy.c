/*
 * fuzzy.c: how far two words are apart (README "Spelling variants"):
 * word~ and "did you mean" count insertions, deletions and substitutions
 * of code points (Levenshtein), within a bound that grows with the word.
 */
#include "kzint.h"

#include <utf8proc.h>

unsigned kz_fuzzy_edits(size_t codepoints)
{
    return codepoints <= 2 ? 0 : codepoints <= 5 ? 1 : 2;
}

size_t kz_utf8_decode_all(const char *s, size_t len, uint32_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0 || n == max)
            return SIZE_MAX;
        out[n++] = (uint32_t)c;
        i += (size_t)k;
    }
    return n;
}

/* One row of the Levenshtein table at a time; stops as soon as every cell
 * of a row is over max (the distance can only grow). */
unsigned kz_edit_distance(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, unsigned max)
{
    if ((na > nb ? na - nb : nb - na) > max)
        return max + 1;
    unsigned row[KZ_MAX_TOKEN_CODEPOINTS + 1];
    if (nb > KZ_MAX_TOKEN_CODEPOINTS)
        return max + 1;
    for (size_t j = 0; j <= nb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= na; i++) {
        unsigned diag = row[0], least;
        row[0] = (unsigned)i;
        least = row[0];
        for (size_t j = 1; j <= nb; j++) {
            unsigned up = row[j];
            unsigned v = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < v)
                v = up + 1;
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
            if (v < least)
                least = v;
        }
        if (least > max)
            return max + 1;
    }
    return row[nb] <= max ? row[nb] : max + 1;
}
