/*
 * kzsearch.c: the command. It uses only the public header.
 *
 *   kzsearch index [-o DIR] [options] SOURCE...   batch rebuild
 *   kzsearch add [-o DIR] [options] SOURCE...     a new segment
 *   kzsearch delete [--index DIR] ID...           delete by id
 *   kzsearch optimize [--index DIR]               every segment into one
 *   kzsearch update [--index DIR]                 apply what changed in the sources
 *   kzsearch check [--index DIR]                  verify everything
 *   kzsearch stats [--index DIR]                  counts and section sizes
 *   kzsearch analyze [--lang L] TEXT...           show the analysis
 *
 *   kzsearch [search] [options] QUERY...          search
 *   kzsearch run --queries FILE.tsv [options]     a TREC run of many queries
 *
 * Exit status: 0 success (search: hits); 1 the index was built but some
 * input was skipped (check: the index is damaged; search: no hits);
 * 2 an error.
 */
#include "kzsearch.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define EXIT_SKIPPED 1
#define EXIT_ERROR 2
#define PROBLEMS_SHOWN_PER_KIND 20

static void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kzsearch: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'kzsearch --help'.\n");
    va_end(ap);
    exit(EXIT_ERROR);
}

static int fail(int rc)
{
    const char *msg = kz_last_error();
    fprintf(stderr, "kzsearch: %s\n", *msg ? msg : kz_strerror(rc));
    return EXIT_ERROR;
}

static const char usage[] =
    "Usage: kzsearch [search] [OPTIONS] QUERY...\n"
    "       kzsearch COMMAND [OPTIONS] ...\n"
    "\n"
    "Search (the words of QUERY are joined into one query):\n"
    "  ethnic Russians       documents with all the words, ranked by BM25; if none\n"
    "                        has them all, documents with any of them, with a note\n"
    "  \"ethnic Russians\"     a phrase: the words in this order, next to each other\n"
    "  russia OR kazakhstan  either; OR binds looser than juxtaposition\n"
    "  oil AND gas           both (juxtaposed words are already AND, but not in --any)\n"
    "  NOT war, -war         exclude; -\"cold war\" excludes a phrase\n"
    "  +putin kremlin        require putin even with --any\n"
    "  (a OR b) c            group; nests up to 100 deep\n"
    "  source:interfax.ru    a field's value (JSON Lines keys); -source:x excludes\n"
    "  date:2022-03, date:2022-01..2022-06, date>=2022-03-01   dates and ranges\n"
    "  kaz*                  every dictionary term starting with kaz (the 256 most\n"
    "                        frequent if there are more, with a note)\n"
    "  Operators are upper case; words are analysed like the text (case, accents,\n"
    "  stems). A query starting with - needs '--' first: kzsearch -- -war peace.\n"
    "\n"
    "      --index DIR           the index to search (default below; if there is\n"
    "                            none, the bundled sample articles)\n"
    "  -n, --limit N             hits to show (default 10; 0: the count alone)\n"
    "      --count               the number of hits alone\n"
    "  -l, --ids                 the ids of the hits alone, one a line (-n 10 unless\n"
    "                            given)\n"
    "      --since DATE, --until DATE   documents of the field 'date' (or\n"
    "                            --date-field NAME) from/until DATE, inclusive\n"
    "      --sort ORDER          score (the default), date or -date (newest first),\n"
    "                            or FIELD / -FIELD for another date field\n"
    "      --facet FIELD[:year|:month|:day][:N]   the N (10) commonest values of a\n"
    "                            field among all matches, with their counts\n"
    "      --offset N            hits to skip first\n"
    "      --any                 juxtaposed words are alternatives (OR)\n"
    "      --all                 never fall back from AND to OR\n"
    "      --k1 X, --b X         BM25 parameters (default 1.2 and 0.75)\n"
    "      --snippet-chars N     passage length (default 200)\n"
    "      --fragments N         passages per hit (default 1, at most 16)\n"
    "      --explain             the score of each hit, term by term\n"
    "      --json                one JSON document: hits, scores, snippets, offsets\n"
    "      --color WHEN          highlight matches: auto, always, never (NO_COLOR\n"
    "                            is honoured)\n"
    "      --timeout SECONDS     stop a query that runs longer (default 10; 0: no\n"
    "                            limit)\n"
    "\n"
"Commands:\n"
    "  search QUERY...           the long form, for a query that starts with a\n"
    "                            command's name\n"
    "  index [-o DIR] SOURCE...  Rebuild an index from folders of .txt/.md files,\n"
    "                            text files, JSON Lines files (.jsonl, .ndjson,\n"
    "                            optionally .gz) or - (JSON Lines on stdin).\n"
    "      -o, --output DIR      where to write it (default: the default index)\n"
    "      --lang LANG           Snowball stemmer language (default english)\n"
    "      --memory SIZE         memory budget, e.g. 512M, 2G (default 1G)\n"
    "      --threads N           worker threads (default: all cores)\n"
    "      --max-doc SIZE        skip documents larger than this (default 1G)\n"
    "      --store-level N       zstd level of the document store (default 3)\n"
    "      -q, --quiet           no progress bar, summary or problem list\n"
    "      --replace             replace an index built from other sources (or\n"
    "                            empty it when the sources have no documents)\n"
    "  add [-o DIR] SOURCE...    add documents to an index as a new segment; a\n"
    "                            document whose id it has replaces the old one\n"
    "                            (the options of index, but --replace)\n"
    "      --no-merge            leave the segments unmerged (optimize merges)\n"
    "  delete [--index DIR] ID...  delete documents by id; --ids-from FILE takes\n"
    "                            an id per line (- for standard input)\n"
    "  optimize [--index DIR]    merge every segment into one (--memory, --threads)\n"
    "  update [--index DIR]      read the recorded sources again and apply what\n"
    "                            changed: new, changed and removed documents\n"
    "  run --queries FILE.tsv    run qid<TAB>query lines; write a TREC run\n"
    "      --mode and|or         plain words, all or any (no operators, no fallback)\n"
    "      -k N                  hits per query (default 1000)\n"
    "      --output RUN          the run file (default: standard output)\n"
    "      --latency FILE        qid<TAB>microseconds per query, timed in-process\n"
    "      --tag TAG, --index DIR, --k1 X, --b X\n"
    "      --cold                do not read the index into memory first\n"
    "      --sort ORDER, --since DATE, --until DATE, --date-field NAME   as for a\n"
    "                            search (--since and --until without --mode)\n"
    "  check [--index DIR]       verify every checksum and structure of an index\n"
    "  stats [--index DIR]       documents, terms, tokens, avgdl and section sizes\n"
    "  analyze [--lang LANG] TEXT...  show tokens and stems as the index sees them\n"
    "\n"
    "The default index is $KZSEARCH_INDEX, else $XDG_DATA_HOME/kzsearch/index,\n"
    "else ~/.local/share/kzsearch/index.\n"
    "\n"
    "Exit status: 0 success (search: hits found); 1 no hits (search), some input\n"
    "skipped (index) or damage found (check); 2 error.\n";

/* ---------------------------------------------------------------- index */

/* "512M", "2G", "64k", "1048576" (bytes) into *out; -1 if not a size > 0. */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    double v = strtod(s, &end), mult = 1;
    if (end == s || !(v > 0))
        return -1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1048576.0; end++; break;
    case 'g': case 'G': mult = 1073741824.0; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v * mult >= 18446744073709551615.0)
        return -1;
    *out = (uint64_t)(v * mult);
    return 0;
}

typedef struct index_ui {
    int quiet;
    int tty;
    uint64_t shown[KZ_PROBLEM_COUNT];
    int bar_drawn;
} index_ui;

static void clear_bar(index_ui *ui)
{
    if (ui->bar_drawn) {
        fprintf(stderr, "\r\033[K");
        ui->bar_drawn = 0;
    }
}

static void on_problem(void *ctx, kz_problem kind, const char *where, const char *message)
{
    index_ui *ui = ctx;
    if (ui->quiet || kind == KZ_PROBLEM_OTHER_FILE)
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

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

/* Whether dir holds an index: a manifest, or the one file of an index
 * written before manifests. */
static int index_exists(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest", dir);
    if (file_exists(path))
        return 1;
    snprintf(path, sizeof path, "%s/index.kz", dir);
    return file_exists(path);
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

/* kzsearch index (mode KZ_BUILD_REPLACE) and kzsearch add (KZ_BUILD_ADD). */
/* This process's peak resident memory so far. */
static double peak_memory_mb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss * 1024 / 1e6 : 0;
}

static int cmd_build(int argc, char **argv, kz_build_mode mode)
{
    static const struct option opts[] = {
        { "replace", no_argument, 0, 'R' }, { "no-merge", no_argument, 0, 'N' },
        { "index", required_argument, 0, 'o' },
        { "output", required_argument, 0, 'o' }, { "lang", required_argument, 0, 'l' },
        { "memory", required_argument, 0, 'm' }, { "threads", required_argument, 0, 't' },
        { "max-doc", required_argument, 0, 'x' }, { "store-level", required_argument, 0, 's' },
        { "quiet", no_argument, 0, 'q' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    kz_build_options bo = KZ_BUILD_OPTIONS_INIT;
    bo.mode = mode;
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
        case 'h': fputs(usage, stdout); return 0;
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

static char *resolve_index(const char *given, int *sample);


/* The index a change is made to (--index, else the default one), or NULL
 * after saying there is none: never the bundled sample. */
static char *changed_index_dir(const char *index_opt, const char *what)
{
    int sample;
    char *dir = resolve_index(index_opt, &sample);
    if (!dir || sample) {
        fprintf(stderr, "kzsearch: no index to %s (give --index DIR)\n", what);
        free(dir);
        return NULL;
    }
    return dir;
}

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
        case 'h': fputs(usage, stdout); exit(0);
        default: die_usage("bad option");
        }
    }
}

/* kzsearch update [--index DIR] [--memory SIZE] [--threads N] [-q]: the
 * recorded sources read again, only what changed applied. */
static int cmd_update(int argc, char **argv)
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
static int cmd_optimize(int argc, char **argv)
{
    kz_build_options bo = KZ_BUILD_OPTIONS_INIT;
    bo.on_problem = on_problem;
    const char *index_opt = NULL;
    index_ui ui = { 0 };
    maintenance_options(argc, argv, &bo, &index_opt, &ui.quiet);
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

/* ---------------------------------------------------------------- check, stats */

static char *index_dir_option(int argc, char **argv, int *first_arg)
{
    static const struct option opts[] = { { "index", required_argument, 0, 'i' },
                                           { "help", no_argument, 0, 'h' },
                                           { 0, 0, 0, 0 } };
    char *dir = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'i')
            dir = strdup(optarg);
        else if (c == 'h') {
            fputs(usage, stdout);
            exit(0);
        } else
            die_usage("bad option");
    }
    *first_arg = optind;
    return dir ? dir : kz_default_index_dir();
}

static void print_fault(void *ctx, const char *message)
{
    (void)ctx;
    printf("fault: %s\n", message);
}

static int cmd_check(int argc, char **argv)
{
    int first;
    char *dir = index_dir_option(argc, argv, &first);
    kz_index *ix;
    int rc = kz_index_open(&ix, dir);
    if (rc) {
        if (rc == KZ_ECORRUPT || rc == KZ_EVERSION) {
            printf("damaged: %s: %s\n", dir, kz_last_error());
            free(dir);
            return 1;
        }
        int status = fail(rc);
        free(dir);
        return status;
    }
    rc = kz_index_check(ix, print_fault, NULL);
    kz_index_info info;
    kz_index_get_info(ix, &info);
    if (rc == 0)
        printf("ok: %s: %" PRIu64 " documents, %" PRIu64 " terms, %" PRIu64 " bytes verified\n", dir,
               info.docs, info.terms, info.file_bytes);
    else
        printf("damaged: %s: %s\n", dir, kz_last_error());
    kz_index_free(ix);
    free(dir);
    return rc == 0 ? 0 : rc == KZ_ECORRUPT ? 1 : EXIT_ERROR;
}

/* kzsearch delete [--index DIR] [--ids-from FILE] ID...: a document per
 * id (an id per line in FILE). An id the index does not have is reported;
 * the others are deleted all the same, and the status is then 1. */
static int cmd_delete(int argc, char **argv)
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
        case 'h': fputs(usage, stdout); return 0;
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

static int cmd_stats(int argc, char **argv)
{
    int first;
    char *dir = index_dir_option(argc, argv, &first);
    kz_index *ix;
    int rc = kz_index_open(&ix, dir);
    if (rc) {
        int status = fail(rc);
        free(dir);
        return status;
    }
    kz_index_info info;
    kz_index_get_info(ix, &info);
    time_t created = (time_t)info.created_unix;
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&created));
    printf("index       %s\n", dir);
    printf("format      version %u, analyzer version %u, language %s\n", info.format_version,
           info.analyzer_version, info.language);
    printf("built       %s\n", when);
    printf("documents   %" PRIu64 "\n", info.docs);
    printf("terms       %" PRIu64 "\n", info.terms);
    printf("tokens      %" PRIu64 "\n", info.tokens);
    printf("avgdl       %.4f\n", info.avgdl);
    printf("text        %" PRIu64 " bytes\n", info.text_bytes);
    printf("file        %" PRIu64 " bytes (%.3fx the text)\n", info.file_bytes,
           info.text_bytes ? (double)info.file_bytes / (double)info.text_bytes : 0.0);
    printf("generation  %" PRIu64 "\n", info.generation);
    printf("segments    %" PRIu64 "\n", info.segments);
    for (size_t i = 0; i < info.segments; i++) {
        const char *name;
        uint64_t docs, deleted;
        kz_index_segment_info(ix, i, &name, &docs, &deleted);
        printf("  %-16s %12" PRIu64 " documents, %" PRIu64 " deleted\n", name, docs, deleted);
    }
    printf("sources     %zu%s\n", kz_index_source_count(ix), kz_index_source_count(ix) ? "" : " recorded");
    for (size_t i = 0; i < kz_index_source_count(ix); i++)
        printf("  %s\n", kz_index_source(ix, i));
    printf("sections:\n");
    for (unsigned i = 0; i < kz_index_section_count(ix); i++) {
        const char *name;
        uint64_t bytes;
        kz_index_section(ix, i, &name, &bytes);
        printf("  %-10s %14" PRIu64 " bytes  %5.1f%%\n", name, bytes,
               info.file_bytes ? 100.0 * (double)bytes / (double)info.file_bytes : 0.0);
    }
    kz_index_free(ix);
    free(dir);
    return 0;
}

/* ---------------------------------------------------------------- search */

typedef struct style {
    const char *on, *off;
} style;

static void put_clean(const char *s, size_t n)
{
    /* Passage text on one line: newlines and tabs become spaces. */
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        putchar(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
    }
}

static void put_marked(const char *text, size_t start, size_t end, const kz_span *marks, size_t n,
                       const style *st)
{
    size_t at = start;
    for (size_t i = 0; i < n; i++) {
        if (marks[i].start < at || marks[i].end > end)
            continue;
        put_clean(text + at, marks[i].start - at);
        fputs(st->on, stdout);
        put_clean(text + marks[i].start, marks[i].end - marks[i].start);
        fputs(st->off, stdout);
        at = marks[i].end;
    }
    put_clean(text + at, end - at);
}

static int build_sample(const char *sample_dir)
{
    kz_build_options bo = KZ_BUILD_OPTIONS_INIT;
    kz_builder *b;
    kz_build_stats st;
    int rc = kz_builder_new(&b, sample_dir, &bo);
    if (rc == 0)
        rc = kz_builder_add_source(b, KZ_BUNDLED_ARTICLES);
    if (rc == 0)
        rc = kz_builder_commit(b, &st);
    kz_builder_free(b);
    return rc;
}

/* The index to search: --index, else $KZSEARCH_INDEX or the default
 * folder; if there is none, the bundled sample articles, indexed on first
 * use into the user's cache folder (and again when this kzsearch cannot
 * read the copy there: it is ours to rebuild). */
static char *resolve_index(const char *given, int *sample)
{
    *sample = 0;
    if (given)
        return strdup(given);
    char *dir = kz_default_index_dir();
    if (!dir)
        return NULL;
    if (index_exists(dir) || getenv("KZSEARCH_INDEX"))
        return dir;
    free(dir);
    const char *cache = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char sample_dir[2048];
    if (cache && *cache)
        snprintf(sample_dir, sizeof sample_dir, "%s/kzsearch/sample", cache);
    else
        snprintf(sample_dir, sizeof sample_dir, "%s/.cache/kzsearch/sample", home && *home ? home : ".");
    *sample = 1;
    if (index_exists(sample_dir)) {
        kz_index *ix;
        int rc = kz_index_open(&ix, sample_dir);
        kz_index_free(ix);
        if (rc != KZ_EVERSION && rc != KZ_ECORRUPT)
            return strdup(sample_dir);
        fprintf(stderr, "kzsearch: re-indexing the bundled sample articles into %s (%s)\n", sample_dir,
                kz_strerror(rc));
    } else {
        fprintf(stderr, "kzsearch: no index yet; indexing the bundled sample articles into %s\n", sample_dir);
    }
    int rc = build_sample(sample_dir);
    if (rc) {
        fail(rc);
        return NULL;
    }
    return strdup(sample_dir);
}

/* A syntax error with the query and a caret under the column. */
static void show_syntax_error(const char *query, const kz_syntax_error *err)
{
    fprintf(stderr, "kzsearch: query syntax error at column %u: %s\n  ", err->column, err->message);
    for (const char *p = query; *p; p++)
        fputc(*p == '\n' || *p == '\t' ? ' ' : *p, stderr);
    fputs("\n  ", stderr);
    for (uint32_t i = 1; i < err->column; i++)
        fputc(' ', stderr);
    fputs("^\n", stderr);
}

/* The length of the valid UTF-8 sequence at s (n bytes left), or 0 if
 * the bytes there are no valid sequence (a stray continuation byte, a cut
 * sequence, an overlong form, a surrogate, past U+10FFFF). */
static size_t utf8_valid_length(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t k = 1; k < len; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return len;
}

/* A JSON string of [s, s+n): what the user typed may hold invalid UTF-8,
 * which no JSON parser accepts, so each byte that starts no valid
 * sequence is written as U+FFFD. */
static void json_string(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t len = utf8_valid_length((const unsigned char *)s + i, n - i);
            if (len == 0) {
                fputs("\\ufffd", f);
            } else {
                fwrite(s + i, 1, len, f);
                i += len - 1;
            }
        } else if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c < 0x20 || c == 0x7F)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_cstr(FILE *f, const char *s) { json_string(f, s, strlen(s)); }

static const char *mode_name(kz_mode m) { return m == KZ_MODE_ANY ? "any" : "all"; }

/* A unit as the user would write it: stem or "phrase of stems". */
static void unit_text(char *buf, size_t size, const kz_unit *u)
{
    size_t at = 0;
    buf[0] = 0;
    if (u->n_terms > 1)
        at += (size_t)snprintf(buf + at, size - at, "\"");
    for (size_t i = 0; i < u->n_terms && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%s", i ? " " : "", u->terms[i]);
    if (u->n_terms > 1 && at < size)
        snprintf(buf + at, size - at, "\"");
}

typedef struct search_view {
    int json, explain;
    size_t fragments, snippet_chars;
    style hl, bold;
} search_view;

#define MAX_META 32
#define KZ_CLI_MIN(a, b) ((a) < (b) ? (a) : (b))

/* Everything shown of one hit: its document, the title's marks, the text
 * and its passages. */
typedef struct hit_view {
    const kz_hit *h;
    kz_doc d;
    kz_doc_field meta[MAX_META];
    kz_span *tmarks;
    size_t n_tmarks;
    char *text;
    size_t len;
    kz_snippet frag[16];
    size_t n_frag;
} hit_view;

static void hit_view_free(hit_view *hv)
{
    for (size_t f = 0; f < hv->n_frag; f++)
        kz_snippet_free(&hv->frag[f]);
    free(hv->tmarks);
    free(hv->text);
}

/* Fills hv for hit i; hit_view_free() whatever the result. */
static int hit_view_load(hit_view *hv, kz_index *ix, const kz_results *r, size_t i, const search_view *v)
{
    memset(hv, 0, sizeof *hv);
    hv->h = kz_results_hit(r, i);
    int rc = kz_index_doc(ix, &hv->d, hv->h->docid, hv->meta, MAX_META);
    if (rc == 0)
        rc = kz_highlight(&hv->tmarks, &hv->n_tmarks, ix, r, hv->d.title, hv->d.title_len);
    /* Passages come from the first KZ_SNIPPET_SCAN_BYTES: read no more
     * than those and a passage's length (4 bytes a character at most). */
    if (rc == 0)
        rc = kz_index_doc_text_prefix(ix, &hv->text, &hv->len, hv->h->docid,
                                      KZ_SNIPPET_SCAN_BYTES + 4 * v->snippet_chars + 64);
    if (rc == 0)
        rc = kz_snippets_make(hv->frag, &hv->n_frag, v->fragments, ix, r, hv->text, hv->len, v->snippet_chars);
    /* A passage that runs to the end of what was read goes on in the text. */
    for (size_t f = 0; rc == 0 && f < hv->n_frag; f++)
        if (hv->frag[f].end == hv->len && hv->len < hv->d.text_bytes)
            hv->frag[f].cut_after = 1;
    return rc;
}

static int show_hit_json(kz_index *ix, const kz_results *r, size_t i, size_t rank, const search_view *v)
{
    hit_view hv;
    int rc = hit_view_load(&hv, ix, r, i, v);
    if (rc)
        goto done;
    printf("%s{\"rank\": %zu, \"docid\": %u, \"id\": ", i ? ",\n    " : "\n    ", rank, hv.h->docid);
    json_string(stdout, hv.d.id, hv.d.id_len);
    printf(", \"title\": ");
    json_string(stdout, hv.d.title, hv.d.title_len);
    printf(", \"score\": %.17g, \"metadata\": {", hv.h->score);
    /* A key of several values (a JSON array when indexed) gives an array,
     * at the place of its first value. */
    size_t n_meta = hv.d.n_meta < MAX_META ? hv.d.n_meta : MAX_META, shown = 0;
    for (size_t m = 0; m < n_meta; m++) {
        const kz_doc_field *f = &hv.meta[m];
        size_t n_values = 0, earlier = 0;
        for (size_t j = 0; j < n_meta; j++) {
            int same = hv.meta[j].key_len == f->key_len && memcmp(hv.meta[j].key, f->key, f->key_len) == 0;
            n_values += same;
            earlier |= same && j < m;
        }
        if (earlier)
            continue;
        printf("%s", shown++ ? ", " : "");
        json_string(stdout, f->key, f->key_len);
        printf(n_values > 1 ? ": [" : ": ");
        for (size_t j = m, k = 0; j < n_meta; j++) {
            if (hv.meta[j].key_len != f->key_len || memcmp(hv.meta[j].key, f->key, f->key_len) != 0)
                continue;
            printf("%s", k++ ? ", " : "");
            json_string(stdout, hv.meta[j].value, hv.meta[j].value_len);
        }
        printf(n_values > 1 ? "]" : "");
    }
    printf("}, \"title_highlights\": [");
    for (size_t m = 0; m < hv.n_tmarks; m++)
        printf("%s[%zu, %zu]", m ? ", " : "", hv.tmarks[m].start, hv.tmarks[m].end);
    printf("]");
    for (size_t f = 0; f < hv.n_frag; f++) {
        const kz_snippet *sn = &hv.frag[f];
        if (f == 0)
            printf(", \"snippet\": ");
        else if (f == 1)
            printf(", \"more_snippets\": [");
        else
            printf(", ");
        if (f > 0)
            printf("{\"snippet\": ");
        json_string(stdout, hv.text + sn->start, sn->end - sn->start);
        const char *pre = f == 0 ? "snippet_" : "";
        printf(", \"%sstart\": %zu, \"%send\": %zu, \"cut_before\": %s, \"cut_after\": %s, \"highlights\": [",
               pre, sn->start, pre, sn->end, sn->cut_before ? "true" : "false", sn->cut_after ? "true" : "false");
        for (size_t m = 0; m < sn->n_marks; m++)
            printf("%s{\"snippet\": [%zu, %zu], \"text\": [%zu, %zu]}", m ? ", " : "",
                   sn->marks[m].start - sn->start, sn->marks[m].end - sn->start, sn->marks[m].start,
                   sn->marks[m].end);
        printf("]%s", f > 0 ? "}" : "");
    }
    if (hv.n_frag > 1)
        printf("]");
    if (v->explain) {
        kz_explanation x;
        if ((rc = kz_results_explain(&x, ix, r, i)))
            goto done;
        printf(", \"explain\": {\"score\": %.17g, \"dl\": %u, \"avgdl\": %.17g, \"k1\": %.17g, \"b\": %.17g, "
               "\"units\": [",
               x.score, x.dl, x.avgdl, x.k1, x.b);
        for (size_t u = 0; u < x.n_units; u++) {
            char name[512];
            unit_text(name, sizeof name, kz_results_unit(r, u));
            printf("%s{\"unit\": ", u ? ", " : "");
            json_cstr(stdout, name);
            printf(", \"idf\": %.17g, \"tf\": %u, \"weight\": %.17g}", x.units[u].idf, x.units[u].tf,
                   x.units[u].weight);
        }
        printf("]}");
        kz_explanation_free(&x);
    }
    printf("}");
done:
    hit_view_free(&hv);
    return rc;
}

static int show_hit(kz_index *ix, const kz_results *r, size_t i, size_t rank, const search_view *v)
{
    hit_view hv;
    int rc = hit_view_load(&hv, ix, r, i, v);
    if (rc)
        goto done;
    printf("\n%s%zu.%s ", v->bold.on, rank, v->bold.off);
    fputs(v->bold.on, stdout);
    if (hv.d.title_len)
        put_marked(hv.d.title, 0, hv.d.title_len, hv.tmarks, hv.n_tmarks, &v->hl);
    else
        fputs("(untitled)", stdout);
    fputs(v->bold.off, stdout);
    /* Under the title: the url (or the id), then the date and the source,
     * when the document has them. */
    const kz_doc_field *shown[3] = { NULL, NULL, NULL };
    static const char *const keys[3] = { "url", "date", "source" };
    for (size_t m = 0; m < hv.d.n_meta && m < MAX_META; m++)
        for (int k = 0; k < 3; k++)
            if (!shown[k] && hv.meta[m].key_len == strlen(keys[k]) && memcmp(hv.meta[m].key, keys[k], hv.meta[m].key_len) == 0)
                shown[k] = &hv.meta[m];
    printf("  [score %.4f]\n   ", hv.h->score);
    if (shown[0])
        printf("%.*s", (int)KZ_CLI_MIN(shown[0]->value_len, 300), shown[0]->value);
    else
        printf("%.*s", (int)hv.d.id_len, hv.d.id);
    for (int k = 1; k < 3; k++)
        if (shown[k])
            printf("  %.*s", (int)KZ_CLI_MIN(shown[k]->value_len, 100), shown[k]->value);
    putchar('\n');
    for (size_t f = 0; f < hv.n_frag; f++) {
        const kz_snippet *sn = &hv.frag[f];
        if (sn->end <= sn->start)
            continue;
        fputs("   ", stdout);
        if (sn->cut_before)
            fputs("…", stdout);
        put_marked(hv.text, sn->start, sn->end, sn->marks, sn->n_marks, &v->hl);
        if (sn->cut_after)
            fputs("…", stdout);
        putchar('\n');
    }
    if (v->explain) {
        kz_explanation x;
        if ((rc = kz_results_explain(&x, ix, r, i)))
            goto done;
        printf("   score %.17g = sum of w over %zu unit%s; dl %u, avgdl %.4f, k1 %g, b %g\n", x.score,
               x.n_units, x.n_units == 1 ? "" : "s", x.dl, x.avgdl, x.k1, x.b);
        for (size_t u = 0; u < x.n_units; u++) {
            char name[512];
            unit_text(name, sizeof name, kz_results_unit(r, u));
            if (x.units[u].tf)
                printf("     %-24s idf %.6f  tf %-4u w = idf*tf/(tf+k1*(1-b+b*dl/avgdl)) = %.6f\n", name,
                       x.units[u].idf, x.units[u].tf, x.units[u].weight);
            else
                printf("     %-24s idf %.6f  tf 0    (absent)\n", name, x.units[u].idf);
        }
        kz_explanation_free(&x);
    }
done:
    hit_view_free(&hv);
    return rc;
}

/* Joins argv[from..argc) with spaces; malloc'd. */
static char *join_args(int argc, char **argv, int from)
{
    size_t len = 1;
    for (int i = from; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *s = calloc(len, 1);
    if (!s)
        return NULL;
    for (int i = from; i < argc; i++) {
        if (i > from)
            strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

static long int_option(const char *name, const char *arg, long lo, long hi)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (end == arg || *end || v < lo || v > hi)
        die_usage("bad %s '%s' (%ld to %ld)", name, arg, lo, hi);
    return v;
}

static void bm25_option(kz_search_options *so, int c, const char *arg)
{
    char *end;
    if (c == 'k') {
        so->k1 = strtod(arg, &end);
        if (end == arg || *end || !(so->k1 > 0) || so->k1 > 1e6)
            die_usage("bad --k1 '%s' (must be > 0)", arg);
    } else {
        so->b = strtod(arg, &end);
        if (end == arg || *end || !(so->b >= 0 && so->b <= 1))
            die_usage("bad --b '%s' (0 to 1)", arg);
    }
}

/* --timeout SECONDS: 0 for none. */
static double timeout_option(const char *arg)
{
    char *end;
    double t = strtod(arg, &end);
    if (end == arg || *end || !(t >= 0) || t > 1e9)
        die_usage("bad --timeout '%s' (seconds, 0 for none)", arg);
    return t;
}

#define DEFAULT_TIMEOUT 10.0 /* seconds: no ordinary query comes near it */

/* The name a facet is shown under: its field, and the kind of a date
 * facet ("date:month"). */
static const char *optarg_facet_name(const kz_facet_spec *f, const char *field)
{
    static char name[300];
    static const char *const kinds[] = { "", ":year", ":month", ":day" };
    snprintf(name, sizeof name, "%s%s", field, kinds[f->kind]);
    return name;
}

static int cmd_search(int argc, char **argv)
{
    static const struct option opts[] = {
        { "timeout", required_argument, 0, 'T' },
        { "index", required_argument, 0, 'i' }, { "limit", required_argument, 0, 'n' },
        { "offset", required_argument, 0, 'O' }, { "any", no_argument, 0, 'A' },
        { "all", no_argument, 0, 'L' }, { "k1", required_argument, 0, 'k' },
        { "b", required_argument, 0, 'b' }, { "color", required_argument, 0, 'c' },
        { "snippet-chars", required_argument, 0, 's' }, { "fragments", required_argument, 0, 'f' },
        { "json", no_argument, 0, 'j' }, { "explain", no_argument, 0, 'x' },
        { "count", no_argument, 0, 'C' }, { "ids", no_argument, 0, 'l' },
        { "since", required_argument, 0, 'S' }, { "until", required_argument, 0, 'U' },
        { "date-field", required_argument, 0, 'D' }, { "facet", required_argument, 0, 'F' },
        { "sort", required_argument, 0, 'R' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    kz_search_options so = KZ_SEARCH_OPTIONS_INIT;
    so.timeout = DEFAULT_TIMEOUT;
    const char *index_opt = NULL, *color = "auto", *since = NULL, *until = NULL, *date_field = "date";
    int count_only = 0, ids_only = 0;
    kz_facet_spec facets[16];
    char *facet_names[16];
    size_t n_facets = 0;
    search_view v = { 0 };
    v.fragments = 1;
    v.snippet_chars = 200;
    int c;
    while ((c = getopt_long(argc, argv, "n:lh", opts, NULL)) != -1) {
        switch (c) {
        case 'i': index_opt = optarg; break;
        case 'T': so.timeout = timeout_option(optarg); break;
        case 'n':
            so.limit = (uint32_t)int_option("--limit", optarg, 0, 1000000);
            count_only = so.limit == 0;
            break;
        case 'C': count_only = 1; break;
        case 'l': ids_only = 1; break;
        case 'S': since = optarg; break;
        case 'U': until = optarg; break;
        case 'D': date_field = optarg; break;
        case 'R':
            if (strcmp(optarg, "score") == 0) {
                so.sort_field = NULL;
            } else {
                so.sort_descending = optarg[0] == '-';
                so.sort_field = optarg + (optarg[0] == '-' || optarg[0] == '+');
                if (!*so.sort_field)
                    die_usage("bad --sort '%s' (score, date, -date, FIELD or -FIELD)", optarg);
            }
            break;
        case 'F': {
            if (n_facets == 16)
                die_usage("at most 16 --facet");
            kz_facet_spec *f = &facets[n_facets];
            memset(f, 0, sizeof *f);
            char *spec = strdup(optarg), *part, *save = NULL;
            if (!spec)
                return fail(KZ_ENOMEM);
            facet_names[n_facets++] = spec;
            f->field = strtok_r(spec, ":", &save);
            if (!f->field)
                die_usage("bad --facet '%s' (FIELD[:year|:month|:day][:N])", optarg);
            while ((part = strtok_r(NULL, ":", &save))) {
                if (strcmp(part, "year") == 0)
                    f->kind = KZ_FACET_YEAR;
                else if (strcmp(part, "month") == 0)
                    f->kind = KZ_FACET_MONTH;
                else if (strcmp(part, "day") == 0)
                    f->kind = KZ_FACET_DAY;
                else
                    f->limit = (uint32_t)int_option("--facet's count", part, 1, 100000);
            }
            break;
        }
        case 'O': so.offset = (uint32_t)int_option("--offset", optarg, 0, 100000000); break;
        case 'A': so.mode = KZ_MODE_ANY; break;
        case 'L': so.mode = KZ_MODE_ALL; break;
        case 'k':
        case 'b': bm25_option(&so, c, optarg); break;
        case 'c':
            if (strcmp(optarg, "auto") && strcmp(optarg, "always") && strcmp(optarg, "never"))
                die_usage("bad --color '%s' (auto, always or never)", optarg);
            color = optarg;
            break;
        case 's': v.snippet_chars = (size_t)int_option("--snippet-chars", optarg, 20, 100000); break;
        case 'f': v.fragments = (size_t)int_option("--fragments", optarg, 1, 16); break;
        case 'j': v.json = 1; break;
        case 'x': v.explain = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: die_usage("bad option");
        }
    }
    if (optind >= argc && !since && !until)
        die_usage("search needs a QUERY");
    if (count_only) {
        so.flags |= KZ_SEARCH_COUNT_ONLY;
        so.limit = 0;
    }
    so.facets = facets;
    so.n_facets = n_facets;
    char *query = optind < argc ? join_args(argc, argv, optind) : strdup("");
    if (!query)
        return fail(KZ_ENOMEM);
    /* --since and --until are field clauses beside the query, which goes
     * in parentheses first: columns past it are theirs. */
    char *parsed = NULL;
    size_t user_len = strlen(query);
    if ((since || until) &&
        asprintf(&parsed, "%s%s%s %s%s%s %s%s%s", *query ? "(" : "", query, *query ? ")" : "", since ? date_field : "",
                 since ? ">=" : "", since ? since : "", until ? date_field : "", until ? "<=" : "",
                 until ? until : "") < 0) {
        free(query);
        return fail(KZ_ENOMEM);
    }
    int use_color = !v.json && (strcmp(color, "always") == 0 ||
                                (strcmp(color, "auto") == 0 && isatty(1) && !getenv("NO_COLOR")));
    v.hl = (style){ use_color ? "\033[1;31m" : "", use_color ? "\033[0m" : "" };
    v.bold = (style){ use_color ? "\033[1m" : "", use_color ? "\033[0m" : "" };

    int sample, status = EXIT_ERROR;
    char *dir = resolve_index(index_opt, &sample);
    kz_index *ix = NULL;
    kz_query *q = NULL;
    kz_results *r = NULL;
    kz_syntax_error err;
    if (!dir)
        goto done;
    double t0 = now_seconds();
    int rc = kz_index_open(&ix, dir);
    if (rc) {
        fail(rc);
        if (rc == KZ_ENOTFOUND)
            fprintf(stderr, "kzsearch: build one with 'kzsearch index -o %s SOURCE...'\n", dir);
        goto done;
    }
    rc = kz_query_parse(&q, ix, parsed ? parsed : query, strlen(parsed ? parsed : query), 0, &err);
    if (rc == KZ_ESYNTAX) {
        if (parsed && err.column > user_len + 2) {
            fprintf(stderr, "kzsearch: bad --since or --until: %s\n", err.message);
        } else {
            if (parsed && *query && err.column > 1)
                err.column--;
            show_syntax_error(query, &err);
        }
        goto done;
    }
    if (parsed && kz_query_note_count(q) && strstr(kz_query_note(q, 0), date_field) &&
        strstr(kz_query_note(q, 0), "is not a field")) {
        fprintf(stderr, "kzsearch: --since and --until need a field '%s' of dates (--date-field NAME)\n",
                date_field);
        goto done;
    }
    if (rc == 0)
        rc = kz_query_run(&r, q, &so);
    double took = (now_seconds() - t0) * 1000.0;
    if (rc) {
        fail(rc);
        if (rc == KZ_ETIMEOUT)
            fprintf(stderr, "kzsearch: give it longer with --timeout SECONDS (0: no limit)\n");
        goto done;
    }
    size_t n = kz_results_count(r);
    uint64_t total = kz_results_total(r);
    int fell_back = so.mode == KZ_MODE_AUTO && kz_results_mode(r) == KZ_MODE_ANY && total > 0;
    for (size_t i = 0; !v.json && i < kz_query_note_count(q) && (count_only || ids_only); i++)
        fprintf(stderr, "kzsearch: note: %s\n", kz_query_note(q, i));
    if (count_only && !v.json) {
        printf("%" PRIu64 "\n", total);
    } else if (ids_only && !v.json) {
        for (size_t i = 0; i < n; i++) {
            kz_doc d;
            if ((rc = kz_index_doc(ix, &d, kz_results_hit(r, i)->docid, NULL, 0))) {
                fail(rc);
                goto done;
            }
            fwrite(d.id, 1, d.id_len, stdout);
            putchar('\n');
        }
    } else if (v.json) {
        printf("{\"query\": ");
        json_cstr(stdout, query);
        printf(", \"mode\": \"%s\", \"fallback\": %s, \"total\": %" PRIu64 ", \"took_ms\": %.3f, \"offset\": %u, "
               "\"notes\": [",
               mode_name(kz_results_mode(r)), fell_back ? "true" : "false", total, took, so.offset);
        for (size_t i = 0; i < kz_query_note_count(q); i++) {
            printf("%s", i ? ", " : "");
            json_cstr(stdout, kz_query_note(q, i));
        }
        printf("], \"hits\": [");
        for (size_t i = 0; i < n; i++)
            if ((rc = show_hit_json(ix, r, i, (size_t)so.offset + i + 1, &v))) {
                fail(rc);
                goto done;
            }
        printf("%s]", n ? "\n  " : "");
        if (n_facets) {
            printf(", \"facets\": {");
            for (size_t f = 0; f < n_facets; f++) {
                printf("%s", f ? ", " : "");
                json_cstr(stdout, optarg_facet_name(&facets[f], facet_names[f]));
                printf(": [");
                for (size_t i = 0; i < kz_results_facet_count(r, f); i++) {
                    size_t len;
                    uint64_t docs;
                    const char *value = kz_results_facet_value(r, f, i, &len, &docs);
                    printf("%s{\"value\": ", i ? ", " : "");
                    json_string(stdout, value, len);
                    printf(", \"docs\": %" PRIu64 "}", docs);
                }
                printf("]");
            }
            printf("}");
        }
        printf("}\n");
    } else {
        for (size_t i = 0; i < kz_query_note_count(q); i++)
            fprintf(stderr, "kzsearch: note: %s\n", kz_query_note(q, i));
        if (fell_back)
            printf("No document has all the words; showing documents with any of them.\n");
        printf("%" PRIu64 " hit%s for \"%s\" (%.2f ms)%s\n", total, total == 1 ? "" : "s", query, took,
               sample ? " in the bundled sample articles" : "");
        for (size_t i = 0; i < n; i++)
            if ((rc = show_hit(ix, r, i, (size_t)so.offset + i + 1, &v))) {
                fail(rc);
                goto done;
            }
    }
    for (size_t f = 0; !v.json && f < n_facets; f++) {
        printf("%s%s:", f == 0 && !count_only && !ids_only ? "\n" : "", optarg_facet_name(&facets[f], facet_names[f]));
        for (size_t i = 0; i < kz_results_facet_count(r, f); i++) {
            size_t len;
            uint64_t docs;
            const char *value = kz_results_facet_value(r, f, i, &len, &docs);
            printf("%s %.*s (%" PRIu64 ")", i ? "," : "", (int)KZ_CLI_MIN(len, 200), value, docs);
        }
        printf("%s\n", kz_results_facet_count(r, f) ? "" : " (none)");
    }
    status = total > 0 ? 0 : 1;
done:
    kz_results_free(r);
    kz_query_free(q);
    kz_index_free(ix);
    free(dir);
    free(query);
    free(parsed);
    for (size_t f = 0; f < n_facets; f++)
        free(facet_names[f]);
    return status;
}

/* ---------------------------------------------------------------- run */

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* kzsearch run --queries FILE.tsv: a TREC run of every query. */
static int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "index", required_argument, 0, 'i' }, { "queries", required_argument, 0, 'Q' },
        { "mode", required_argument, 0, 'm' }, { "output", required_argument, 0, 'o' },
        { "latency", required_argument, 0, 'l' }, { "tag", required_argument, 0, 't' },
        { "k1", required_argument, 0, 'K' }, { "b", required_argument, 0, 'b' },
        { "cold", no_argument, 0, 'C' }, { "sort", required_argument, 0, 'R' },
        { "since", required_argument, 0, 'S' }, { "until", required_argument, 0, 'U' },
        { "date-field", required_argument, 0, 'D' }, { 0, 0, 0, 0 }
    };
    kz_search_options so = KZ_SEARCH_OPTIONS_INIT;
    const char *index_opt = NULL, *queries = NULL, *output = NULL, *latency = NULL, *tag = "kzsearch";
    unsigned flags = 0;
    int cold = 0;
    const char *run_since = NULL, *run_until = NULL, *run_date_field = "date";
    so.limit = 1000;
    int c;
    while ((c = getopt_long(argc, argv, "k:o:", opts, NULL)) != -1) {
        switch (c) {
        case 'i': index_opt = optarg; break;
        case 'Q': queries = optarg; break;
        case 'm':
            if (strcmp(optarg, "and") == 0)
                so.mode = KZ_MODE_ALL;
            else if (strcmp(optarg, "or") == 0)
                so.mode = KZ_MODE_ANY;
            else
                die_usage("bad --mode '%s' (and or or)", optarg);
            flags = KZ_QUERY_PLAIN;
            break;
        case 'k': so.limit = (uint32_t)int_option("-k", optarg, 1, 1000000); break;
        case 'K': bm25_option(&so, 'k', optarg); break;
        case 'b': bm25_option(&so, 'b', optarg); break;
        case 'o': output = optarg; break;
        case 'l': latency = optarg; break;
        case 't': tag = optarg; break;
        case 'C': cold = 1; break;
        case 'R':
            if (strcmp(optarg, "score") != 0) {
                so.sort_descending = optarg[0] == '-';
                so.sort_field = optarg + (optarg[0] == '-' || optarg[0] == '+');
                if (!*so.sort_field)
                    die_usage("bad --sort '%s' (score, date, -date, FIELD or -FIELD)", optarg);
            }
            break;
        case 'S': run_since = optarg; break;
        case 'U': run_until = optarg; break;
        case 'D': run_date_field = optarg; break;
        default: die_usage("bad option");
        }
    }
    if ((run_since || run_until) && (flags & KZ_QUERY_PLAIN))
        die_usage("--since and --until need the query language: leave out --mode (queries are then read "
                  "with operators, and run in AND mode falling back to OR)");
    if (!queries || optind != argc)
        die_usage("usage: kzsearch run --queries FILE.tsv [--mode and|or] [-k N] [--output RUN] "
                  "[--latency FILE] [--index DIR]");
    int sample, status = EXIT_ERROR, rc;
    char *dir = resolve_index(index_opt, &sample);
    kz_index *ix = NULL;
    FILE *in = NULL, *out = stdout, *lat = NULL;
    char *line = NULL;
    size_t cap = 0, n_queries = 0, lat_cap = 0;
    uint64_t *micros = NULL;
    if (!dir)
        goto done;
    if ((rc = kz_index_open(&ix, dir)) || (!cold && (rc = kz_index_warm(ix)))) {
        fail(rc);
        goto done;
    }
    if (!(in = fopen(queries, "r"))) {
        fprintf(stderr, "kzsearch: %s: %s\n", queries, strerror(errno));
        goto done;
    }
    if (output && !(out = fopen(output, "w"))) {
        fprintf(stderr, "kzsearch: %s: %s\n", output, strerror(errno));
        goto done;
    }
    if (latency && !(lat = fopen(latency, "w"))) {
        fprintf(stderr, "kzsearch: %s: %s\n", latency, strerror(errno));
        goto done;
    }
    ssize_t got;
    size_t line_no = 0, failed = 0;
    while ((got = getline(&line, &cap, in)) != -1) {
        line_no++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = 0;
        if (got == 0)
            continue;
        char *tab = strchr(line, '\t');
        if (!tab) {
            fprintf(stderr, "kzsearch: %s:%zu: no tab between the query id and the query\n", queries, line_no);
            failed++;
            continue;
        }
        *tab = 0;
        const char *qid = line, *text = tab + 1;
        kz_query *q = NULL;
        kz_results *r = NULL;
        kz_syntax_error err;
        double t0 = now_seconds();
        char *narrowed = NULL; /* the query in parentheses, then the date clauses */
        if ((run_since || run_until) &&
            asprintf(&narrowed, "(%s) %s%s%s %s%s%s", text, run_since ? run_date_field : "", run_since ? ">=" : "",
                     run_since ? run_since : "", run_until ? run_date_field : "", run_until ? "<=" : "",
                     run_until ? run_until : "") < 0) {
            rc = fail(KZ_ENOMEM);
            goto done;
        }
        rc = kz_query_parse(&q, ix, narrowed ? narrowed : text, strlen(narrowed ? narrowed : text), flags, &err);
        free(narrowed);
        if (rc == 0)
            rc = kz_query_run(&r, q, &so);
        uint64_t us = (uint64_t)((now_seconds() - t0) * 1e6 + 0.5);
        if (rc) {
            fprintf(stderr, "kzsearch: %s:%zu: query %s: %s\n", queries, line_no, qid, kz_last_error());
            failed++;
        } else {
            for (size_t i = 0; i < kz_results_count(r); i++) {
                const kz_hit *h = kz_results_hit(r, i);
                kz_doc d;
                if ((rc = kz_index_doc(ix, &d, h->docid, NULL, 0))) {
                    fail(rc);
                    kz_results_free(r);
                    kz_query_free(q);
                    goto done;
                }
                fprintf(out, "%s Q0 %.*s %zu %.17g %s\n", qid, (int)d.id_len, d.id, i + 1, h->score, tag);
            }
            if (lat)
                fprintf(lat, "%s\t%" PRIu64 "\n", qid, us);
            if (n_queries == lat_cap) {
                lat_cap = lat_cap ? lat_cap * 2 : 1024;
                uint64_t *p = realloc(micros, lat_cap * sizeof *p);
                if (!p) {
                    kz_results_free(r);
                    kz_query_free(q);
                    fail(KZ_ENOMEM);
                    goto done;
                }
                micros = p;
            }
            micros[n_queries++] = us;
        }
        kz_results_free(r);
        kz_query_free(q);
    }
    if (n_queries) {
        qsort(micros, n_queries, sizeof *micros, cmp_u64);
        uint64_t sum = 0;
        for (size_t i = 0; i < n_queries; i++)
            sum += micros[i];
#define PCT(p) micros[(size_t)((double)(n_queries - 1) * (p) + 0.5)]
        fprintf(stderr,
                "kzsearch: %zu queries, top %u, latency us: p50 %" PRIu64 " p90 %" PRIu64 " p99 %" PRIu64
                " max %" PRIu64 ", %.0f queries/s\n",
                n_queries, so.limit, PCT(0.5), PCT(0.9), PCT(0.99), micros[n_queries - 1],
                sum ? (double)n_queries * 1e6 / (double)sum : 0.0);
#undef PCT
    }
    status = failed ? EXIT_SKIPPED : 0;
done:
    if (in)
        fclose(in);
    if (out && out != stdout && fclose(out) != 0) {
        fprintf(stderr, "kzsearch: %s: %s\n", output, strerror(errno));
        status = EXIT_ERROR;
    }
    if (lat && fclose(lat) != 0) {
        fprintf(stderr, "kzsearch: %s: %s\n", latency, strerror(errno));
        status = EXIT_ERROR;
    }
    free(line);
    free(micros);
    kz_index_free(ix);
    free(dir);
    return status;
}

/* ---------------------------------------------------------------- analyze */

static void print_token(void *ctx, const char *stem, size_t stem_len, size_t start, size_t end)
{
    const char *text = ctx;
    printf("%zu-%zu\t%.*s\t%.*s\n", start, end, (int)(end - start), text + start, (int)stem_len, stem);
}

static int cmd_analyze(int argc, char **argv)
{
    static const struct option opts[] = { { "lang", required_argument, 0, 'l' }, { 0, 0, 0, 0 } };
    const char *lang = "english";
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'l')
            lang = optarg;
        else
            die_usage("bad option");
    }
    size_t total = 0;
    for (int i = optind; i < argc; i++)
        total += strlen(argv[i]) + 1;
    char *text = calloc(total + 1, 1);
    if (!text)
        return fail(KZ_ENOMEM);
    for (int i = optind; i < argc; i++) {
        if (i > optind)
            strcat(text, " ");
        strcat(text, argv[i]);
    }
    int rc = kz_analyze(lang, text, strlen(text), print_token, text);
    free(text);
    return rc ? fail(rc) : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_ERROR;
    }
    const char *cmd = argv[1];
    if (cmd[0] == '-' && strcmp(cmd, "--help") && strcmp(cmd, "-h") && strcmp(cmd, "--version"))
        return cmd_search(argc, argv); /* kzsearch -n 5 "query" */
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("kzsearch %s\n", KZ_VERSION_STRING);
        return 0;
    }
    argc--;
    argv++;
    optind = 1;
    if (strcmp(cmd, "index") == 0)
        return cmd_build(argc, argv, KZ_BUILD_REPLACE);
    if (strcmp(cmd, "add") == 0)
        return cmd_build(argc, argv, KZ_BUILD_ADD);
    if (strcmp(cmd, "delete") == 0)
        return cmd_delete(argc, argv);
    if (strcmp(cmd, "optimize") == 0)
        return cmd_optimize(argc, argv);
    if (strcmp(cmd, "update") == 0)
        return cmd_update(argc, argv);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc, argv);
    if (strcmp(cmd, "stats") == 0)
        return cmd_stats(argc, argv);
    if (strcmp(cmd, "analyze") == 0)
        return cmd_analyze(argc, argv);
    if (strcmp(cmd, "search") == 0)
        return cmd_search(argc, argv);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc, argv);
    /* Anything else is a query: kzsearch "ethnic Russians". */
    argc++;
    argv--;
    argv[0] = "kzsearch";
    optind = 1;
    return cmd_search(argc, argv);
}
