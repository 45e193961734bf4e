/*
 * fuzz_query.c: the query parser and the evaluators, on an index of the
 * bundled sample articles (their first 3,000 bytes, so that a snippet's
 * analysis of a hit's text does not dominate) built once per process. The input is the query,
 * read both with the query language and as plain words. Nothing may fail
 * but with KZ_ESYNTAX (a malformed query) or KZ_ELIMIT (one too long).
 */
#include "fuzz.h"

#include <dirent.h>

static kz_index *ix;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/articles", kz_fuzz_dir());
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.threads = 1;
    o.on_problem = kz_fuzz_quiet_problem;
    kz_builder *b;
    if (kz_builder_new(&b, dir, &o) != KZ_OK)
        goto fail;
    DIR *d = opendir(KZ_SOURCE_DIR "/data/articles");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[1200], text[3000];
        snprintf(path, sizeof path, "%s/%s", KZ_SOURCE_DIR "/data/articles", e->d_name);
        FILE *f = e->d_name[0] != '.' ? fopen(path, "rb") : NULL;
        if (!f)
            continue;
        size_t n = fread(text, 1, sizeof text, f);
        fclose(f);
        if (n < 80 || kz_builder_add_document(b, e->d_name, strlen(e->d_name), text, 80, text + 80, n - 80, NULL, 0))
            goto fail;
    }
    if (d)
        closedir(d);
    if (kz_builder_commit(b, NULL) != KZ_OK)
        goto fail;
    kz_builder_free(b);
    if (kz_index_open(&ix, dir) != KZ_OK)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "building the sample index: %s\n", kz_last_error());
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int allowed = KZ_FUZZ_ALLOW(KZ_ELIMIT);
    kz_fuzz_search(ix, (const char *)data, size, 0, allowed);
    kz_fuzz_search(ix, (const char *)data, size, KZ_QUERY_PLAIN, allowed);
    return 0;
}
