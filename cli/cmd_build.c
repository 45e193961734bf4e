/*
 * cmd_build.c: kzsearch index and kzsearch add: a build from sources, its
 * progress bar, its problems and its summary.
 */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void clear_bar(index_ui *ui)
{
    if (ui->bar_drawn) {
        fprintf(stderr, "\r\033[K");
        ui->bar_drawn = 0;
    }
}

void on_problem(void *ctx, kz_problem kind, const char *where, const char *message)
{
    index_ui *ui = ctx;
    if (ui->quiet)
        return;
    if (ui->shown[kind]++ >= PROBLEMS_SHOWN_PER_KIND)
        return;
    clear_bar(ui);
    fprintf(stderr, "kzsearch: %s: %s%s\n", where, message,
            ui->shown[kind] == PROBLEMS_SHOWN_PER_KIND ? " (further problems of this kind not shown)" : "");
}

static void on_progress(void *ctx, const kz_build_progress *p)
{
    index_ui *ui = ctx;
    if (ui->quiet || !ui->tty)
        return;
    double mb = (double)p->text_bytes / 1e6;
    double rate = p->seconds > 0 ? mb / p->seconds : 0;
    char eta[32] = "";
    if (p->bytes_total && p->bytes_read && p->seconds > 0 && strcmp(p->phase, "reading") == 0) {
        double input_rate = (double)p->bytes_read / p->seconds;
        double left = ((double)p->bytes_total - (double)p->bytes_read) / input_rate;
        if (left < 0)
            left = 0;
        snprintf(eta, sizeof eta, "  ETA %d:%02d", (int)left / 60, (int)left % 60);
    }
    char bar[32] = "";
    if (p->bytes_total) {
        int width = 20, done = (int)(width * (double)p->bytes_read / (double)p->bytes_total);
        if (done > width)
            done = width;
        bar[0] = '[';
        for (int i = 0; i < width; i++)
            bar[1 + i] = i < done ? '#' : '-';
        bar[width + 1] = ']';
        bar[width + 2] = ' ';
        bar[width + 3] = 0;
    }
    fprintf(stderr, "\r\033[K%s%s: %" PRIu64 " docs  %.1f MB of text  %.1f MB/s%s", bar, p->phase,
            p->docs, mb, rate, eta);
    ui->bar_drawn = 1;
}

/* Whether the sources named on the command line are those the index in
 * dir records (as sets of absolute paths): 1 or 0, or -1 when one of them
 * does not exist (the build then says so). */
static int same_sources(kz_index *ix, int argc, char **argv, int first)
{
    size_t n = kz_index_source_count(ix), given = 0;
    for (int i = first; i < argc; i++) {
        char *abs = strcmp(argv[i], "-") == 0 ? strdup("-") : realpath(argv[i], NULL);
        if (!abs)
            return -1;
        int known = 0;
        for (size_t k = 0; abs && k < n && !known; k++)
            known = strcmp(kz_index_source(ix, k), abs) == 0;
        free(abs);
        if (!known)
            return 0;
        given++;
    }
    /* Every recorded source named again (repeats aside). */
    for (size_t k = 0; k < n; k++) {
        int named = 0;
        for (int i = first; i < argc && !named; i++) {
            char *abs = strcmp(argv[i], "-") == 0 ? strdup("-") : realpath(argv[i], NULL);
            named = abs && strcmp(kz_index_source(ix, k), abs) == 0;
            free(abs);
        }
        if (!named)
            return 0;
    }
    return given > 0;
}

int cmd_build(int argc, char **argv, kz_build_mode mode)
{
    static const struct option opts[] = {
        { "replace", no_argument, 0, 'R' }, { "no-merge", no_argument, 0, 'N' },
        { "index", required_argument, 0, 'o' },
        { "output", required_argument, 0, 'o' }, { "lang", required_argument, 0, 'l' },
        { "memory", required_argument, 0, 'm' }, { "threads", required_argument, 0, 't' },
        { "max-doc", required_argument, 0, 'x' }, { "store-level", required_argument, 0, 's' },
        { "shard", required_argument, 0, 'S' }, { "field", required_argument, 0, 'F' },
        { "quiet", no_argument, 0, 'q' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    kz_build_options bo = KZ_BUILD_OPTIONS_INIT;
    bo.mode = mode;
    kz_field_type_spec types[64];
    bo.field_types = types;
    index_ui ui = { 0 };
    char *out_dir = NULL;
    int c, replace = 0, merge = 1;
    const char *cmd = mode == KZ_BUILD_ADD ? "add" : "index";
    while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'o': out_dir = optarg; break;
        case 'N':
            if (mode != KZ_BUILD_ADD)
                die_usage("--no-merge goes with add");
            merge = 0;
            break;
        case 'R':
            if (mode == KZ_BUILD_ADD)
                die_usage("--replace goes with index, not add");
            replace = 1;
            bo.flags |= KZ_BUILD_EMPTY_OK;
            break;
        case 'l': bo.language = optarg; break;
        case 'S': {
            unsigned long shard, shards;
            int used = 0;
            if (sscanf(optarg, "%lu/%lu%n", &shard, &shards, &used) != 2 || optarg[used] || shards == 0 ||
                shards > 65536 || shard >= shards)
                die_usage("bad --shard '%s' (I/N: shard I of N, 0 <= I < N <= 65536)", optarg);
            bo.shard = (uint32_t)shard;
            bo.shards = (uint32_t)shards;
            break;
        }
        case 'F': {
            char *colon = strrchr(optarg, ':');
            if (!colon || colon == optarg)
                die_usage("bad --field '%s' (NAME:TYPE, the type one of auto, keyword, date, number, text)", optarg);
            *colon = 0;
            kz_field_type type;
            if (kz_field_type_parse(&type, colon + 1))
                die_usage("bad --field '%s:%s': %s", optarg, colon + 1, kz_last_error());
            for (size_t i = 0; i < bo.n_field_types; i++)
                if (strcmp(types[i].name, optarg) == 0)
                    die_usage("--field %s is given twice", optarg);
            if (bo.n_field_types == sizeof types / sizeof *types)
                die_usage("more than %zu --field options", sizeof types / sizeof *types);
            types[bo.n_field_types].name = optarg;
            types[bo.n_field_types++].type = type;
            break;
        }
        case 'm':
            if (parse_size(optarg, &bo.memory_budget))
                die_usage("bad --memory '%s' (try 512M or 2G)", optarg);
            if (bo.memory_budget < (64u << 20))
                die_usage("--memory %s is too small: at least 64M", optarg);
            break;
        case 'x':
            if (parse_size(optarg, &bo.max_doc_bytes))
                die_usage("bad --max-doc '%s' (try 100M)", optarg);
            break;
        case 't': {
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 64)
                die_usage("bad --threads '%s' (1 to 64)", optarg);
            bo.threads = (unsigned)n;
            break;
        }
        case 's': {
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 22)
                die_usage("bad --store-level '%s' (1 to 22)", optarg);
            bo.store_level = (int)n;
            break;
        }
        case 'q': ui.quiet = 1; break;
        case 'h': cli_help_exit();
        default: die_usage("bad option");
        }
    }
    if (optind >= argc)
        die_usage("%s needs at least one SOURCE (a folder, a file, or -)", cmd);
    char *default_dir = NULL;
    if (!out_dir) {
        default_dir = kz_default_index_dir();
        if (!default_dir)
            return fail(KZ_ENOMEM);
        out_dir = default_dir;
    }
    /* A rebuild from other sources than the index's would throw its
     * documents away: only when asked. */
    if (mode == KZ_BUILD_REPLACE && !replace && index_exists(out_dir)) {
        kz_index *old = NULL;
        int orc = kz_index_open(&old, out_dir);
        int differ = orc == KZ_OK && same_sources(old, argc, argv, optind) == 0;
        kz_index_info oi = { 0 };
        if (old)
            kz_index_get_info(old, &oi);
        kz_index_free(old);
        if (differ && oi.docs > 0) {
            fprintf(stderr,
                    "kzsearch: %s already holds an index of %" PRIu64 " documents built from %s sources; "
                    "rebuilding it from these would replace them.\n"
                    "kzsearch: 'kzsearch add' adds documents, 'kzsearch index --replace' replaces the index; "
                    "nothing was changed\n",
                    out_dir, oi.docs, oi.generation ? "other" : "unrecorded");
            free(default_dir);
            return EXIT_ERROR;
        }
    }
    ui.tty = isatty(2);
    bo.on_problem = on_problem;
    bo.on_progress = on_progress;
    bo.ctx = &ui;

    kz_builder *b = NULL;
    kz_build_stats st;
    int rc = kz_builder_new(&b, out_dir, &bo);
    for (int i = optind; rc == 0 && i < argc; i++)
        rc = kz_builder_add_source(b, argv[i]);
    if (rc == 0)
        rc = kz_builder_commit(b, &st);
    clear_bar(&ui);
    if (rc) {
        int status = fail(rc);
        fprintf(stderr, "kzsearch: the index in %s was not changed%s\n", out_dir,
                rc == KZ_EINVAL && mode == KZ_BUILD_REPLACE ? " ('kzsearch index --replace' empties it)" : "");
        kz_builder_free(b);
        free(default_dir);
        return status;
    }
    kz_builder_free(b);
    if (!ui.quiet) {
        double mb = (double)st.text_bytes / 1e6;
        fprintf(stderr,
                "indexed %" PRIu64 " documents, %" PRIu64 " terms, %" PRIu64 " tokens, %.1f MB of text in %.2f s "
                "(%.1f MB/s); index %.1f MB (%.2fx the text); peak memory %.1f MB (%" PRIu64 " sorted run%s); %" PRIu64
                " skipped -> %s\n",
                st.docs, st.terms, st.tokens, mb, st.seconds, st.seconds > 0 ? mb / st.seconds : 0,
                (double)st.index_bytes / 1e6, st.text_bytes ? (double)st.index_bytes / (double)st.text_bytes : 0,
                (double)st.peak_rss / 1e6, st.runs, st.runs == 1 ? "" : "s", st.skipped, out_dir);
        if (mode == KZ_BUILD_ADD)
            fprintf(stderr, "added as a new segment: %" PRIu64 " older document%s replaced\n", st.replaced,
                    st.replaced == 1 ? "" : "s");
        if (bo.shards)
            fprintf(stderr, "shard %u of %u (0-based): %" PRIu64 " document%s of the other shards left out\n",
                    bo.shard, bo.shards, st.other_shards, st.other_shards == 1 ? "" : "s");
        int any = 0;
        for (int k = 0; k < KZ_PROBLEM_COUNT; k++) {
            if (!st.problems[k])
                continue;
            fprintf(stderr, "%s%s %" PRIu64, any ? ", " : "problems: ", kz_problem_name((kz_problem)k),
                    st.problems[k]);
            any = 1;
        }
        if (any)
            fputc('\n', stderr);
    }
    /* Segments of one size merge as they gather (kz_index_merge). */
    if (mode == KZ_BUILD_ADD && merge) {
        unsigned merges = 0;
        bo.on_progress = NULL;
        rc = kz_index_merge(out_dir, &bo, 0, &merges);
        if (rc) {
            int status = fail(rc);
            fprintf(stderr, "kzsearch: the documents were added, but merging segments failed\n");
            free(default_dir);
            return status;
        }
        if (!ui.quiet && merges)
            fprintf(stderr, "merged segments %u time%s; peak memory %.1f MB\n", merges, merges == 1 ? "" : "s",
                    peak_memory_mb());
    }
    free(default_dir);
    return st.skipped ? EXIT_SKIPPED : 0;
}

