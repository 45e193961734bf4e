/*
 * fuzz_query.c: the query parser and the evaluators, on an index of the
 * bundled sample articles (their first 3,000 bytes, so that a snippet's
 * analysis of a hit's text does not dominate) built once per process. The input is the query,
 * read both with the query language and as plain words. Nothing may fail
 * but with KZ_ESYNTAX (a malformed query) or KZ_ELIMIT (one too long).
 */
#include "fuzz.h"

static kz_index *ix;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    ix = kz_fuzz_sample_index("articles");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int allowed = KZ_FUZZ_ALLOW(KZ_ELIMIT);
    kz_fuzz_search(ix, (const char *)data, size, 0, allowed);
    kz_fuzz_search(ix, (const char *)data, size, KZ_QUERY_PLAIN, allowed);
    return 0;
}
