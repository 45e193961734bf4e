/*
 * cli.h: the private header of the kzsearch command, one section per file
 * of cli/. The command uses only the public header, kzsearch.h.
 *
 *   kzsearch index [-o DIR] [options] SOURCE...   batch rebuild (cmd_build.c)
 *   kzsearch add [-o DIR] [options] SOURCE...     a new segment (cmd_build.c)
 *   kzsearch delete [--index DIR] ID...           delete by id (cmd_maintain.c)
 *   kzsearch optimize [--index DIR]               every segment into one (cmd_maintain.c)
 *   kzsearch update [--index DIR]                 apply what changed in the sources (cmd_maintain.c)
 *   kzsearch check [--index DIR]                  verify everything (cmd_check.c)
 *   kzsearch stats [--index DIR]                  counts and section sizes (cmd_stats.c)
 *   kzsearch analyze [--lang L] TEXT...           show the analysis (cmd_analyze.c)
 *   kzsearch [search] [options] QUERY...          search (cmd_search.c)
 *   kzsearch run --queries FILE.tsv [options]     a TREC run of many queries (cmd_run.c)
 *
 * main.c reads the global options (--index, --json, --help, --version)
 * wherever they stand, picks the command and passes them on to it.
 *
 * Exit status: 0 success (search: hits); 1 the index was built but some
 * input was skipped (check: the index is damaged; search: no hits);
 * 2 an error.
 */
#ifndef KZ_CLI_H
#define KZ_CLI_H

#include "kzsearch.h"

#include <stdint.h>
#include <stdio.h>

#define EXIT_SKIPPED 1
#define EXIT_ERROR 2
#define PROBLEMS_SHOWN_PER_KIND 20
#define DEFAULT_TIMEOUT 10.0 /* seconds: no ordinary query comes near it */
#define KZ_CLI_MIN(a, b) ((a) < (b) ? (a) : (b))

/* ---------------------------------------------------------------- main.c */

/* The command running ("search", "index", ...), for messages and help. */
extern const char *cli_command;

/* ---------------------------------------------------------------- help.c */

/* The help text of a command ("search", "index", ...; NULL or "" for the
 * overview), or NULL if there is no such command. Static storage. */
const char *cli_help_text(const char *command);

/* Prints the help of the running command (cli_command) to stdout and
 * exits 0: what every command's -h and --help do. */
void cli_help_exit(void) __attribute__((noreturn));

/* ---------------------------------------------------------------- util.c */

double now_seconds(void);

/* This process's peak resident memory so far, in MB. */
double peak_memory_mb(void);

/* Prints "kzsearch: MESSAGE" and where to find help, exits 2. */
void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Prints the library's last error (or rc's description); returns 2. */
int fail(int rc);

/* "512M", "2G", "64k", "1048576" (bytes) into *out; -1 if not a size > 0. */
int parse_size(const char *s, uint64_t *out);

/* Joins argv[from..argc) with spaces; the caller frees it. NULL if out of
 * memory. */
char *join_args(int argc, char **argv, int from);

/* An integer option in [lo, hi]; exits with a usage message otherwise. */
long int_option(const char *name, const char *arg, long lo, long hi);

/* --k1 (c == 'k') or --b into so; exits with a usage message if bad. */
void bm25_option(kz_search_options *so, int c, const char *arg);

/* --timeout SECONDS: 0 for none; exits with a usage message if bad. */
double timeout_option(const char *arg);

/* ---------------------------------------------------------------- locate.c */

/* Whether dir holds an index. */
int index_exists(const char *dir);

/* The bundled sample articles: the folder installed beside the binary
 * (BINDIR/../share/kzsearch/articles), else the one of the build tree.
 * Static storage; NULL if neither exists. */
const char *bundled_articles(void);

/* The index to search: given (--index), else $KZSEARCH_INDEX or the
 * default folder; if there is none, the bundled sample articles indexed
 * into the user's cache folder (*sample is then 1). The caller frees it;
 * NULL after an error was printed. */
char *resolve_index(const char *given, int *sample);

/* The index a change is made to (--index, else the default one), or NULL
 * after saying there is none: never the bundled sample. Caller frees. */
char *changed_index_dir(const char *index_opt, const char *what);

/* Reads the only options of check and stats (--index DIR, --json, -h);
 * returns the index folder (the caller frees it) and sets *json. */
char *index_dir_option(int argc, char **argv, int *first_arg, int *json);

/* ---------------------------------------------------------------- json.c */

/* A JSON string of [s, s+n) to f; bytes that start no valid UTF-8
 * sequence are written as U+FFFD. */
void json_string(FILE *f, const char *s, size_t n);
void json_cstr(FILE *f, const char *s);

/* ---------------------------------------------------------------- cmd_build.c */

/* What a build shows on the terminal: problems, a progress bar. */
typedef struct index_ui {
    int quiet;
    int tty;
    uint64_t shown[KZ_PROBLEM_COUNT];
    int bar_drawn;
} index_ui;

/* A kz_problem_fn whose ctx is an index_ui. */
void on_problem(void *ctx, kz_problem kind, const char *where, const char *message);

/* kzsearch index (mode KZ_BUILD_REPLACE) and kzsearch add (KZ_BUILD_ADD). */
int cmd_build(int argc, char **argv, kz_build_mode mode);

/* ---------------------------------------------------------------- the other commands */

int cmd_update(int argc, char **argv);   /* cmd_maintain.c */
int cmd_optimize(int argc, char **argv); /* cmd_maintain.c */
int cmd_delete(int argc, char **argv);   /* cmd_maintain.c */
int cmd_check(int argc, char **argv);    /* cmd_check.c */
int cmd_stats(int argc, char **argv);    /* cmd_stats.c */
int cmd_search(int argc, char **argv);   /* cmd_search.c */
int cmd_run(int argc, char **argv);      /* cmd_run.c */
int cmd_analyze(int argc, char **argv);  /* cmd_analyze.c */
int cmd_extract(int argc, char **argv);  /* cmd_extract.c */

#endif
