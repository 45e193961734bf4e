/*
 * kzsearch.c: the command. It uses only the public header.
 *
 *   kzsearch index [-o DIR] [options] SOURCE...   batch rebuild
 *   kzsearch check [--index DIR]                  verify everything
 *   kzsearch stats [--index DIR]                  counts and section sizes
 *   kzsearch analyze [--lang L] TEXT...           show the analysis
 *
 * Exit status: 0 success; 1 the index was built but some input was
 * skipped (check: the index is damaged); 2 an error.
 */
#include "kzsearch.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    "Usage: kzsearch COMMAND [OPTIONS] ...\n"
    "\n"
    "Commands:\n"
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
    "  check [--index DIR]       verify every checksum and structure of an index\n"
    "  stats [--index DIR]       documents, terms, tokens, avgdl and section sizes\n"
    "  analyze [--lang LANG] TEXT...  show tokens and stems as the index sees them\n"
    "\n"
    "The default index is $KZSEARCH_INDEX, else $XDG_DATA_HOME/kzsearch/index,\n"
    "else ~/.local/share/kzsearch/index.\n"
    "\n"
    "Exit status: 0 success; 1 some input skipped (index) or damage found\n"
    "(check); 2 error.\n";

/* ---------------------------------------------------------------- index */

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
    double mb = (double)p->bytes_read / 1e6;
    double rate = p->seconds > 0 ? mb / p->seconds : 0;
    char eta[32] = "";
    if (p->bytes_total && p->bytes_read && rate > 0 && strcmp(p->phase, "reading") == 0) {
        double left = ((double)p->bytes_total - (double)p->bytes_read) / 1e6 / rate;
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
    fprintf(stderr, "\r\033[K%s%s: %" PRIu64 " docs  %.1f MB  %.1f MB/s%s", bar, p->phase, p->docs, mb,
            rate, eta);
    ui->bar_drawn = 1;
}

static int cmd_index(int argc, char **argv)
{
    static const struct option opts[] = {
        { "output", required_argument, 0, 'o' }, { "lang", required_argument, 0, 'l' },
        { "memory", required_argument, 0, 'm' }, { "threads", required_argument, 0, 't' },
        { "max-doc", required_argument, 0, 'x' }, { "store-level", required_argument, 0, 's' },
        { "quiet", no_argument, 0, 'q' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    kz_build_options bo = KZ_BUILD_OPTIONS_INIT;
    index_ui ui = { 0 };
    char *out_dir = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'o': out_dir = optarg; break;
        case 'l': bo.language = optarg; break;
        case 'm': {
            double v = strtod(optarg, &end);
            double mult = 1;
            if (*end == 'k' || *end == 'K') mult = 1024.0, end++;
            else if (*end == 'm' || *end == 'M') mult = 1048576.0, end++;
            else if (*end == 'g' || *end == 'G') mult = 1073741824.0, end++;
            if (*end == 'B') end++;
            if (end == optarg || *end || v <= 0)
                die_usage("bad --memory '%s' (try 512M or 2G)", optarg);
            bo.memory_budget = (uint64_t)(v * mult);
            break;
        }
        case 'x': {
            double v = strtod(optarg, &end);
            double mult = 1;
            if (*end == 'k' || *end == 'K') mult = 1024.0, end++;
            else if (*end == 'm' || *end == 'M') mult = 1048576.0, end++;
            else if (*end == 'g' || *end == 'G') mult = 1073741824.0, end++;
            if (*end == 'B') end++;
            if (end == optarg || *end || v <= 0)
                die_usage("bad --max-doc '%s'", optarg);
            bo.max_doc_bytes = (uint64_t)(v * mult);
            break;
        }
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
        die_usage("index needs at least one SOURCE (a folder, a file, or -)");
    char *default_dir = NULL;
    if (!out_dir) {
        default_dir = kz_default_index_dir();
        if (!default_dir)
            return fail(KZ_ENOMEM);
        out_dir = default_dir;
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
        fprintf(stderr, "kzsearch: the index in %s was not changed\n", out_dir);
        kz_builder_free(b);
        free(default_dir);
        return status;
    }
    kz_builder_free(b);
    if (!ui.quiet) {
        double mb = (double)st.text_bytes / 1e6;
        fprintf(stderr,
                "indexed %" PRIu64 " documents, %" PRIu64 " terms, %" PRIu64 " tokens, %.1f MB of text in %.2f s "
                "(%.1f MB/s); index %.1f MB (%.2fx the text); peak memory %.0f MB; %" PRIu64 " skipped -> %s\n",
                st.docs, st.terms, st.tokens, mb, st.seconds, st.seconds > 0 ? mb / st.seconds : 0,
                (double)st.index_bytes / 1e6, st.text_bytes ? (double)st.index_bytes / (double)st.text_bytes : 0,
                (double)st.peak_rss / 1e6, st.skipped, out_dir);
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
    free(default_dir);
    return st.skipped ? EXIT_SKIPPED : 0;
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
        return cmd_index(argc, argv);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc, argv);
    if (strcmp(cmd, "stats") == 0)
        return cmd_stats(argc, argv);
    if (strcmp(cmd, "analyze") == 0)
        return cmd_analyze(argc, argv);
    die_usage("unknown command '%s'", cmd);
    return EXIT_ERROR;
}
