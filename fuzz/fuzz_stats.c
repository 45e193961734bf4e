/*
 * fuzz_stats.c: global statistics from hostile bytes (query/stats.c), as a
 * node of a remote search reads them from a coordinator's request body
 * (FORMAT.md "Remote search").
 *
 * Each input is decoded (kz_stats_decode): it must be refused with
 * KZ_ESYNTAX or KZ_ELIMIT, or decode to statistics whose text form decodes
 * again to the same text. Decoded statistics are added to an empty sum,
 * and a few queries (words, a prefix, a word~, a phrase, field clauses,
 * a date range, a sort by date) are read against them and run on the
 * sample index, with passages and an explanation: each may fail only
 * because the statistics lack what the query asks (KZ_EINVAL), never
 * crash, and scores must be numbers.
 */
#include "fuzz.h"

#include <math.h>

static kz_index *ix;

static const char *const queries[] = { "kazakhstan", "russia putin", "kaz*", "putni~", "\"ethnic russians\"",
                                       "source:x war", "date>=2022-01 kazakhstan", "Токаев" };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    ix = kz_fuzz_sample_index("articles");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kz_stats *s = NULL, *again = NULL, *sum = NULL;
    char *text = NULL, *text2 = NULL;
    size_t len = 0, len2 = 0;
    int rc = kz_stats_decode(&s, (const char *)data, size);
    kz_fuzz_expect(rc, KZ_FUZZ_ALLOW(KZ_ESYNTAX) | KZ_FUZZ_ALLOW(KZ_ELIMIT), "kz_stats_decode");
    if (rc)
        return 0;
    /* Its text form is a fixed point. */
    kz_fuzz_expect(kz_stats_encode(s, &text, &len), 0, "kz_stats_encode");
    kz_fuzz_expect(kz_stats_decode(&again, text, len), 0, "kz_stats_decode of an encoding");
    kz_fuzz_expect(kz_stats_encode(again, &text2, &len2), 0, "kz_stats_encode again");
    if (len != len2 || memcmp(text, text2, len) != 0)
        abort();
    kz_fuzz_expect(kz_stats_new(&sum), 0, "kz_stats_new");
    kz_fuzz_expect(kz_stats_merge(sum, s), 0, "kz_stats_merge into an empty sum");
    for (size_t i = 0; i < sizeof queries / sizeof *queries; i++) {
        for (int sorted = 0; sorted < 2; sorted++) {
            kz_query *q = NULL;
            kz_syntax_error err;
            rc = kz_query_parse_global(&q, ix, queries[i], strlen(queries[i]), 0, sum, &err);
            kz_fuzz_expect(rc, KZ_FUZZ_ALLOW(KZ_EINVAL), "kz_query_parse_global");
            if (rc)
                continue;
            kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
            o.limit = 3;
            o.flags = KZ_SEARCH_NO_COLLAPSE;
            o.sort_field = sorted ? "date" : NULL;
            kz_results *r = NULL;
            rc = kz_query_run(&r, q, &o);
            kz_fuzz_expect(rc, KZ_FUZZ_ALLOW(KZ_EINVAL), "kz_query_run");
            for (size_t h = 0; rc == KZ_OK && h < kz_results_count(r); h++) {
                if (!isfinite(kz_results_hit(r, h)->score))
                    abort();
                kz_explanation x;
                if (kz_results_explain(&x, ix, r, h) == KZ_OK)
                    kz_explanation_free(&x);
            }
            kz_results_free(r);
            kz_query_free(q);
        }
    }
    kz_stats_free(sum);
    kz_stats_free(again);
    kz_stats_free(s);
    free(text);
    free(text2);
    return 0;
}
