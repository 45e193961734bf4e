/*
 * cmd_check.c: kzsearch check: verify every checksum and structure of an
 * index; its verdict as text or, with --json, one JSON document.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>

typedef struct check_view {
    int json;
    size_t faults;
} check_view;

static void print_fault(void *ctx, const char *message)
{
    check_view *v = ctx;
    if (v->json) {
        printf("%s", v->faults ? ", " : "");
        json_cstr(stdout, message);
    } else {
        printf("fault: %s\n", message);
    }
    v->faults++;
}

/* The verdict: ok, or damaged with the library's message. */
static void print_verdict(const check_view *v, const char *dir, int ok, const kz_index_info *info)
{
    if (!v->json) {
        if (ok)
            printf("ok: %s: %" PRIu64 " documents, %" PRIu64 " terms, %" PRIu64 " bytes verified\n", dir,
                   info->docs, info->terms, info->file_bytes);
        else
            printf("damaged: %s: %s\n", dir, kz_last_error());
        return;
    }
    printf("], \"ok\": %s, \"index\": ", ok ? "true" : "false");
    json_cstr(stdout, dir);
    if (ok)
        printf(", \"documents\": %" PRIu64 ", \"terms\": %" PRIu64 ", \"bytes\": %" PRIu64, info->docs,
               info->terms, info->file_bytes);
    else {
        printf(", \"error\": ");
        json_cstr(stdout, kz_last_error());
    }
    printf("}\n");
}

int cmd_check(int argc, char **argv)
{
    int first;
    check_view v = { 0 };
    char *dir = index_dir_option(argc, argv, &first, &v.json, NULL);
    kz_index *ix = NULL;
    kz_index_info info = { 0 };
    int status = EXIT_ERROR;
    if (!dir)
        return fail(KZ_ENOMEM);
    int rc = kz_index_open(&ix, dir);
    if (rc && rc != KZ_ECORRUPT && rc != KZ_EVERSION) {
        status = fail(rc);
        goto done;
    }
    if (v.json)
        printf("{\"faults\": [");
    if (rc) {
        print_verdict(&v, dir, 0, &info);
        status = 1;
        goto done;
    }
    rc = kz_index_check(ix, print_fault, &v);
    kz_index_get_info(ix, &info);
    print_verdict(&v, dir, rc == 0, &info);
    status = rc == 0 ? 0 : rc == KZ_ECORRUPT ? 1 : EXIT_ERROR;
done:
    kz_index_free(ix);
    free(dir);
    return status;
}
