/*
 * fuzz_index.c: an index file from hostile bytes. Every checksum is
 * recomputed after the fuzzer's change (tests/reseal.h), so that changes
 * reach the structure behind them, as a crafted file's would. The file is
 * opened, checked, read and searched: each step must succeed or say the
 * index is corrupt (or of another version), and never crash.
 */
#include "fuzz.h"
#include "reseal.h"

static const char *const queries[] = { "kazakhstan", "russia putin", "\"ethnic russians\"", "kaz* -putin",
                                       "war OR invasion", "the",
                                       /* filters joined to the words, read lazily, and as bitmaps */
                                       "the tags:kazakhstan date:2024-03", "russia date:2024-03-01..2024-03-05 -tags:x",
                                       "kazakhstan OR russia date>=2024-03-02" };

static void quiet_fault(void *ctx, const char *message) { (void)ctx, (void)message; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int allowed = KZ_FUZZ_ALLOW(KZ_ECORRUPT);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    kz_test_reseal(copy, size);
    char path[600];
    snprintf(path, sizeof path, "%s/index.kz", kz_fuzz_dir());
    kz_fuzz_write(path, copy, size);
    free(copy);

    kz_index *ix = NULL;
    int rc = kz_index_open(&ix, kz_fuzz_dir());
    kz_fuzz_expect(rc, allowed | KZ_FUZZ_ALLOW(KZ_EVERSION), "kz_index_open");
    if (rc)
        return 0;
    kz_fuzz_expect(kz_index_check(ix, quiet_fault, NULL), allowed, "kz_index_check");
    kz_index_info info;
    kz_index_get_info(ix, &info);
    for (uint32_t d = 0; d < info.docs && d < 8; d++) {
        kz_doc doc;
        kz_doc_field meta[4];
        kz_fuzz_expect(kz_index_doc(ix, &doc, d, meta, 4), allowed, "kz_index_doc");
    }
    for (uint32_t t = 0; t < info.terms && t < 64; t++) {
        kz_term term;
        rc = kz_index_term_at(ix, &term, t);
        kz_fuzz_expect(rc, allowed, "kz_index_term_at");
        if (rc)
            continue;
        uint32_t *docids = NULL, *tfs = NULL, *pos = NULL;
        kz_fuzz_expect(kz_index_postings(ix, &term, &docids, &tfs, &pos), allowed, "kz_index_postings");
        free(docids);
        free(tfs);
        free(pos);
    }
    for (size_t i = 0; i < sizeof queries / sizeof *queries; i++)
        kz_fuzz_search(ix, queries[i], strlen(queries[i]), 0, allowed | KZ_FUZZ_ALLOW(KZ_ENOTFOUND));
    kz_index_free(ix);
    return 0;
}
