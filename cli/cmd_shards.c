/*
 * cmd_shards.c: kzsearch shards create SET_DIR SHARD_DIR...: records a
 * shard set, which --index SET_DIR then searches as one index.
 */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int cmd_shards(int argc, char **argv)
{
    static const struct option opts[] = { { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (c == 'h')
            cli_help_exit();
        die_usage("bad option");
    }
    if (optind >= argc || strcmp(argv[optind], "create") != 0)
        die_usage("shards needs 'create SET_DIR SHARD_DIR...'");
    if (argc - optind < 3)
        die_usage("shards create needs a SET_DIR and at least one SHARD_DIR");
    const char *set = argv[optind + 1];
    size_t n = (size_t)(argc - optind - 2);
    const char *const *shards = (const char *const *)argv + optind + 2;
    int rc = kz_shard_set_create(set, shards, n);
    if (rc)
        return fail(rc);
    kz_index *ix = NULL;
    if ((rc = kz_index_open(&ix, set)))
        return fail(rc);
    kz_index_info info;
    kz_index_get_info(ix, &info);
    fprintf(stderr, "shard set %s: %zu shard%s, %" PRIu64 " documents, %" PRIu64 " tokens, language %s\n", set, n,
            n == 1 ? "" : "s", info.docs, info.tokens, info.language);
    kz_index_free(ix);
    return 0;
}
