/*
 * cmd_maintain.c: the changes to an index that take no sources: update
 * (read the recorded sources again), optimize (every segment into one)
 * and delete (by id).
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The options of update and optimize: --index DIR, --memory SIZE,
 * --threads N, and -q. */
static void maintenance_options(int argc, char **argv, kz_build_options *bo, const char **index_opt, int *quiet)
{
    static const struct option opts[] = { { "index", required_argument, 0, 'i' },
                                           { "memory", required_argument, 0, 'm' },
                                           { "threads", required_argument, 0, 't' },
                                           { "quiet", no_argument, 0, 'q' },
                                           { "help", no_argument, 0, 'h' },
                                           { 0, 0, 0, 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'i': *index_opt = optarg; break;
        case 'm':
            if (parse_size(optarg, &bo->memory_budget) || bo->memory_budget < (64u << 20))
                die_usage("bad --memory '%s' (at least 64M)", optarg);
            break;
        case 't': {
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 64)
                die_usage("bad --threads '%s' (1 to 64)", optarg);
            bo->threads = (unsigned)n;
            break;
        }
        case 'q': *quiet = 1; break;
        case 'h': cli_help_exit();
        default: die_usage("bad option");
        }
    }
}

/* kzsearch update [--index DIR] [--memory SIZE] [--threads N] [-q]: the
 * recorded sources read again, only what changed applied. */
int cmd_update(int argc, char **argv)
{
    kz_build_options bo = KZ_BUILD_OPTIONS_INIT;
    index_ui ui = { 0 };
    const char *index_opt = NULL;
    maintenance_options(argc, argv, &bo, &index_opt, &ui.quiet);
    if (optind < argc)
        die_usage("update takes no sources: it reads again those the index records");
    char *dir = changed_index_dir(index_opt, "update");
    if (!dir)
        return EXIT_ERROR;
    bo.on_problem = on_problem;
    bo.ctx = &ui;
    kz_update_stats us;
    double t0 = now_seconds();
    int rc = kz_index_update(dir, &bo, &us);
    unsigned merges = 0;
    if (rc == KZ_OK)
        rc = kz_index_merge(dir, &bo, 0, &merges);
    if (rc) {
        int status = fail(rc);
        fprintf(stderr, "kzsearch: the index in %s was not changed\n", dir);
        free(dir);
        return status;
    }
    if (!ui.quiet)
        fprintf(stderr, "updated %s in %.2f s: %" PRIu64 " new or changed, %" PRIu64 " unchanged, %" PRIu64
                        " deleted, %" PRIu64 " skipped\n",
                dir, now_seconds() - t0, us.changed, us.unchanged, us.deleted, us.skipped);
    free(dir);
    return us.skipped ? EXIT_SKIPPED : 0;
}

/* kzsearch optimize [--index DIR] [--memory SIZE] [--threads N]: every
 * segment into one, the deleted documents dropped. */
int cmd_optimize(int argc, char **argv)
{
    kz_build_options bo = KZ_BUILD_OPTIONS_INIT;
    bo.on_problem = on_problem;
    const char *index_opt = NULL;
    index_ui ui = { 0 };
    maintenance_options(argc, argv, &bo, &index_opt, &ui.quiet);
    if (optind < argc)
        die_usage("optimize takes no argument '%s' (the index is --index DIR)", argv[optind]);
    char *dir = changed_index_dir(index_opt, "optimize");
    if (!dir)
        return EXIT_ERROR;
    bo.ctx = &ui;
    unsigned merges = 0;
    double t0 = now_seconds();
    int rc = kz_index_merge(dir, &bo, KZ_MERGE_ALL, &merges);
    if (rc) {
        int status = fail(rc);
        fprintf(stderr, "kzsearch: the index in %s was not changed\n", dir);
        free(dir);
        return status;
    }
    if (!ui.quiet)
        fprintf(stderr, "%s in %.2f s (peak memory %.1f MB): %s\n",
                merges ? "merged every segment into one" : "already one segment", now_seconds() - t0,
                peak_memory_mb(), dir);
    free(dir);
    return 0;
}

/* kzsearch delete [--index DIR] [--ids-from FILE] ID...: a document per
 * id (an id per line in FILE). An id the index does not have is reported;
 * the others are deleted all the same, and the status is then 1. */
int cmd_delete(int argc, char **argv)
{
    static const struct option opts[] = { { "index", required_argument, 0, 'i' },
                                           { "ids-from", required_argument, 0, 'f' },
                                           { "help", no_argument, 0, 'h' },
                                           { 0, 0, 0, 0 } };
    const char *index_opt = NULL, *from = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': index_opt = optarg; break;
        case 'f': from = optarg; break;
        case 'h': cli_help_exit();
        default: die_usage("bad option");
        }
    }
    if (optind >= argc && !from)
        die_usage("delete needs an ID, or --ids-from FILE");
    char **ids = NULL, *line = NULL;
    size_t n = 0, cap = 0, line_cap = 0;
    int status = EXIT_ERROR, rc = KZ_OK;
    for (int i = optind; i < argc; i++) {
        if (n == cap && !(ids = realloc(ids, (cap = cap ? 2 * cap : 64) * sizeof *ids)))
            return fail(KZ_ENOMEM);
        if (!(ids[n++] = strdup(argv[i])))
            return fail(KZ_ENOMEM);
    }
    if (from) {
        FILE *f = strcmp(from, "-") == 0 ? stdin : fopen(from, "r");
        if (!f) {
            fprintf(stderr, "kzsearch: cannot read %s: %s\n", from, strerror(errno));
            goto done;
        }
        ssize_t len;
        while ((len = getline(&line, &line_cap, f)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = 0;
            if (len == 0)
                continue;
            if (n == cap && !(ids = realloc(ids, (cap = cap ? 2 * cap : 64) * sizeof *ids))) {
                rc = KZ_ENOMEM;
                break;
            }
            if (!(ids[n++] = strdup(line))) {
                rc = KZ_ENOMEM;
                break;
            }
        }
        if (f != stdin)
            fclose(f);
        if (rc) {
            fail(rc);
            goto done;
        }
    }
    char *dir = changed_index_dir(index_opt, "delete from");
    if (!dir)
        goto done;
    uint8_t *found = calloc(n ? n : 1, 1);
    uint64_t deleted = 0;
    rc = found ? kz_index_delete(dir, (const char *const *)ids, n, found, &deleted) : KZ_ENOMEM;
    if (rc) {
        fail(rc);
        fprintf(stderr, "kzsearch: the index in %s was not changed\n", dir);
    } else {
        size_t unknown = 0;
        for (size_t k = 0; k < n; k++) {
            if (!found[k]) {
                fprintf(stderr, "kzsearch: no document with id \"%s\"\n", ids[k]);
                unknown++;
            }
        }
        fprintf(stderr, "deleted %" PRIu64 " document%s from %s\n", deleted, deleted == 1 ? "" : "s", dir);
        status = unknown ? 1 : 0;
    }
    free(found);
    free(dir);
done:
    for (size_t k = 0; k < n; k++)
        free(ids[k]);
    free(ids);
    free(line);
    return status;
}

