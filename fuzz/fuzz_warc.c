/*
 * fuzz_warc.c: the WARC reader (warc.c), plain or gzipped, and the pages
 * of its HTML responses. The input is written to a file of the process's
 * scratch folder and read record by record: each call gives a record
 * (KZ_OK), the end (KZ_ENOTFOUND) or damage (KZ_ECORRUPT), which ends
 * the file; nothing else may happen.
 */
#include "fuzz.h"
#include "html.h"

static kz_html_page page;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[600];
    snprintf(path, sizeof path, "%s/input.warc", kz_fuzz_dir());
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        abort();
    kz_warc_reader *r = NULL;
    if (kz_warc_open(&r, fd, path, 1u << 20) != KZ_OK)
        abort();
    for (int n = 0; n < 10000; n++) {
        kz_warc_record rec;
        int rc = kz_warc_next(r, &rec);
        if (rc == KZ_ENOTFOUND || rc == KZ_ECORRUPT)
            break;
        if (rc != KZ_OK) {
            fprintf(stderr, "fuzz_warc: kz_warc_next returned %d: %s\n", rc, kz_last_error());
            abort();
        }
        if (rec.too_large || !kz_html_content_type_is_html(rec.http_content_type))
            continue;
        char charset[64];
        kz_html_content_type_charset(charset, sizeof charset, rec.http_content_type);
        kz_html_options o = { charset[0] ? charset : NULL, rec.target_uri, 64u << 20 };
        rc = kz_html_extract(&page, rec.body, rec.body_len, &o);
        if (rc != KZ_OK && rc != KZ_ESYNTAX && rc != KZ_ELIMIT)
            abort();
    }
    kz_warc_close(r);
    return 0;
}
