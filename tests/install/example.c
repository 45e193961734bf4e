/*
 * example.c: a program built against an installed libkzsearch (with
 * pkg-config --cflags --libs kzsearch), by tests/test_install.sh.
 *
 *   example INDEX_DIR SOURCE QUERY   index SOURCE into INDEX_DIR, search
 *                                    QUERY, print the total and the ids
 */
#include <kzsearch.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: example INDEX_DIR SOURCE QUERY\n");
        return 2;
    }
    kz_build_options bo = KZ_BUILD_OPTIONS_INIT;
    kz_builder *b = NULL;
    kz_index *ix = NULL;
    kz_results *r = NULL;
    kz_search_options so = KZ_SEARCH_OPTIONS_INIT;
    int rc = kz_builder_new(&b, argv[1], &bo);
    if (rc == KZ_OK)
        rc = kz_builder_add_source(b, argv[2]);
    if (rc == KZ_OK)
        rc = kz_builder_commit(b, NULL);
    if (rc == KZ_OK)
        rc = kz_index_open(&ix, argv[1]);
    if (rc == KZ_OK)
        rc = kz_search(&r, ix, argv[3], strlen(argv[3]), &so);
    if (rc != KZ_OK)
        goto done;
    printf("kzsearch %s: %llu hits\n", KZ_VERSION_STRING, (unsigned long long)kz_results_total(r));
    for (size_t i = 0; i < kz_results_count(r); i++) {
        kz_doc d;
        if ((rc = kz_index_doc(ix, &d, kz_results_hit(r, i)->docid, NULL, 0)))
            goto done;
        printf("%.*s\n", (int)d.id_len, d.id);
    }
done:
    if (rc != KZ_OK)
        fprintf(stderr, "example: %s\n", kz_last_error());
    kz_results_free(r);
    kz_index_free(ix);
    kz_builder_free(b);
    return rc == KZ_OK ? 0 : 1;
}
