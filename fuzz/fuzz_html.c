/*
 * fuzz_html.c: the web page reader (html.c): charset sniffing and iconv,
 * the HTML5 parse in its memory budget, the walk, the metadata and the
 * extraction. The first byte chooses the HTTP charset the page is read
 * with (none, or one of a few). A page is read (KZ_OK), refused as binary
 * (KZ_ESYNTAX) or as over the budget (KZ_ELIMIT): nothing else may
 * happen, and what is read must be valid UTF-8.
 */
#include "fuzz.h"
#include "html.h"

static kz_html_page page;

static void check_utf8(const kz_buf *b, const char *what)
{
    if (b->len && kz_utf8_count_invalid((const char *)b->data, b->len) != 0) {
        fprintf(stderr, "fuzz_html: the %s is not valid UTF-8\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const charsets[] = { NULL, "windows-1251", "koi8-r", "utf-8", "shift_jis", "x-unknown" };
    if (size == 0)
        return 0;
    kz_html_options o = { charsets[data[0] % 6], "http://fuzz.example/", 64u << 20 };
    int rc = kz_html_extract(&page, (const char *)data + 1, size - 1, &o);
    if (rc != KZ_OK && rc != KZ_ESYNTAX && rc != KZ_ELIMIT) {
        fprintf(stderr, "fuzz_html: kz_html_extract returned %d: %s\n", rc, kz_last_error());
        abort();
    }
    if (rc == KZ_OK) {
        check_utf8(&page.title, "title");
        check_utf8(&page.text, "text");
        for (size_t i = 0; i < page.n_meta; i++)
            if (kz_utf8_count_invalid(page.meta[i].value, page.meta[i].value_len)) {
                fprintf(stderr, "fuzz_html: field %s is not valid UTF-8\n", page.meta[i].key);
                abort();
            }
    }
    return 0;
}
