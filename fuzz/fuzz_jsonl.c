/*
 * fuzz_jsonl.c: the JSON Lines reader. The input is cut into lines as
 * source.c cuts a file, each line is parsed (kz_jsonl_parse), and the
 * documents it yields go to a builder kept across inputs (fuzz.h), whose
 * worker analyses them. (Reading the input from a file through
 * kz_builder_add_source costs a 1 MiB buffer an input, and ran at a tenth
 * of the speed under the sanitizers.) A bad line is KZ_ESYNTAX or
 * KZ_EFIELD, a document the builder cannot take a problem it reports:
 * nothing else may fail.
 */
#include "fuzz.h"
#include "kzint.h"

static kz_jsonl_parser *parser;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kz_builder *b = kz_fuzz_builder();
    if (!parser && kz_jsonl_parser_new(&parser) != KZ_OK)
        abort();
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        kz_jsonl_doc doc;
        int rc = kz_jsonl_parse(parser, p, (size_t)(line_end - p), &doc);
        kz_fuzz_expect(rc, KZ_FUZZ_ALLOW(KZ_ESYNTAX) | KZ_FUZZ_ALLOW(KZ_EFIELD), "kz_jsonl_parse");
        if (rc == KZ_OK)
            kz_fuzz_expect(kz_builder_add(b, &doc, "fuzz"), 0, "kz_builder_add");
        p = nl ? nl + 1 : end;
    }
    return 0;
}
