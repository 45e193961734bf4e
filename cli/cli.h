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
 *   kzsearch serve [--index DIR] [--listen A:P]   the HTTP API and search page (cmd_serve.c)
 *   kzsearch shards create SET SHARD...           a shard set (cmd_shards.c)
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

#include <stdatomic.h>
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

/* Whether dir holds an index, or a shard set. */
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

/* The --index options of a command that reads: several are searched as
 * one index (kz_index_open_many). */
typedef struct index_list {
    const char *dir[64];
    size_t n;
} index_list;

/* Adds one --index; exits with a usage message past 64. */
void index_list_add(index_list *l, const char *dir);

/* Opens what l names: one index or shard set, several as one, or with
 * none the default index (resolve_index: *sample 1 for the bundled
 * sample). *dir gets a folder to name in messages, the first (the caller
 * frees it; NULL only out of memory). Prints the error and returns its
 * code. */
int open_indexes(kz_index **ix, const index_list *l, int *sample, char **dir);

/* After KZ_ENOTFOUND opening dir: how to make it (or, for a shard set,
 * that one of its shards is gone), on stderr. */
void hint_missing_index(const char *dir);

/* --synonyms FILE (NULL: none): loads it and sets it on ix; prints the
 * error (with the file's line) and returns its code. */
int use_synonyms(kz_index *ix, const char *path);

/* Reads the only options of check and stats (--index DIR, --json, -h, and
 * --fields where fields is not NULL); returns the index folder (the caller
 * frees it) and sets *json and *fields. */
char *index_dir_option(int argc, char **argv, int *first_arg, int *json, int *fields);

/* ---------------------------------------------------------------- json.c */

/* A JSON string of [s, s+n) to f; bytes that start no valid UTF-8
 * sequence are written as U+FFFD. */
void json_string(FILE *f, const char *s, size_t n);
void json_cstr(FILE *f, const char *s);

/* ---------------------------------------------------------------- search.c */

#define SEARCH_MAX_FACETS 16

/* A search as asked: by the command's options or the server's parameters.
 * The strings are the caller's and must outlive the search_run and the
 * search_json_write that read them; the facets' fields point into
 * facet_text. */
typedef struct search_spec {
    const char *query;       /* the user's text; "" when only since/until */
    const char *since, *until, *date_field; /* NULL or "": none */
    int strict;              /* a syntax error is an error, never read as plain words */
    int explain;             /* JSON: each hit's "explain" */
    size_t fragments, snippet_chars;
    double started;          /* now_seconds() when the search began; 0: in search_run */
    kz_search_options so;    /* mode, limit, offset, timeout, sort; facets set by search_run */
    kz_facet_spec facets[SEARCH_MAX_FACETS];
    char facet_text[SEARCH_MAX_FACETS][256];
    size_t n_facets;
    const kz_stats *global;  /* a machine of a remote search: the query read against it (kz_query_parse_global) */
} search_spec;

/* Defaults: the command's (10 hits, one passage of 200 characters, a
 * timeout of DEFAULT_TIMEOUT, lenient parsing, dates in "date"). */
void search_spec_init(search_spec *s);

/* Adds a facet "FIELD[:year|:month|:day][:N]"; NULL, or what is wrong
 * (static storage). */
const char *search_facet_add(search_spec *s, const char *text);

/* The name facet i is shown under: "source", "date:month". Written to buf. */
const char *search_facet_name(const search_spec *s, size_t i, char *buf, size_t size);

/* "score", "date", "-date", "+FIELD": NULL, or what is wrong. The sort
 * field points into arg, which must outlive the search. */
const char *search_sort_set(search_spec *s, const char *arg);

typedef enum search_error {
    SEARCH_NO_ERROR = 0,
    SEARCH_BAD_QUERY,     /* err: the syntax error, its column in the user's query */
    SEARCH_BAD_DATES,     /* err.message: since or until is no date */
    SEARCH_NO_DATE_FIELD  /* since or until, but the index has no such field */
} search_error;

/* A search's outcome: q and r are owned (search_result_free). */
typedef struct search_result {
    kz_query *q;
    kz_results *r;
    double took_ms;
    search_error error;  /* with KZ_ESYNTAX */
    kz_syntax_error err;
    char *suggestion;    /* "did you mean": the query with words the index lacks replaced; NULL: none */
} search_result;

/* Parses and runs s on ix. KZ_ESYNTAX with res->error saying which input
 * is wrong; KZ_ETIMEOUT past s->so.timeout; the library's other errors.
 * search_result_free(res) whatever the result. */
int search_run(search_result *res, kz_index *ix, const search_spec *s);
void search_result_free(search_result *res);

/* Step 1 of a remote search on one machine (kz_stats_gather) of the text
 * search_run would parse: *out the caller's; KZ_ESYNTAX as search_run,
 * with res->error and res->err (res holds nothing else to free). */
int search_gather(kz_stats **out, search_result *res, kz_index *ix, const search_spec *s);

/* The query text search_run parses (the user's with the clauses of since
 * and until), *owned NULL or that text to free(), and its parse flags. */
int search_text(const search_spec *s, const char **text, char **owned, unsigned *flags);

/* A syntax error on stderr: the query, and a caret under the column. */
void search_show_syntax_error(const char *query, const kz_syntax_error *err);

/* ---------------------------------------------------------------- hit_view.c */

#define HIT_VIEW_MAX_META 32
#define HIT_VIEW_MAX_FRAGMENTS 16

/* Everything shown of one hit: its document (strings owned by the index),
 * the title's marks, the start of its text and its passages (owned). */
typedef struct hit_view {
    const kz_hit *h;
    kz_doc d;
    kz_doc_field meta[HIT_VIEW_MAX_META];
    kz_span *tmarks;
    size_t n_tmarks;
    char *text;
    size_t len;
    kz_snippet frag[HIT_VIEW_MAX_FRAGMENTS];
    size_t n_frag;
} hit_view;

/* Fills hv for hit i of r; hit_view_free() whatever the result. */
int hit_view_load(hit_view *hv, kz_index *ix, const kz_results *r, size_t i, size_t fragments,
                  size_t snippet_chars);
void hit_view_free(hit_view *hv);

/* ---------------------------------------------------------------- search_json.c */

/* The JSON document of a search that succeeded (README "JSON output"),
 * one line per hit, a newline at the end. An error of the library's from
 * loading a hit leaves the document cut. */
int search_json_write(FILE *f, kz_index *ix, const search_spec *s, const search_result *res);

/* What a search's output says besides its hits, whether one index ran it
 * or several machines (remote.c): the strings and arrays are borrowed,
 * from a search_result (search_summary_of, then search_summary_free) or
 * from the coordinator. */
typedef struct search_facet_value {
    const char *value; /* len bytes */
    size_t len;
    uint64_t docs;
} search_facet_value;

typedef struct search_summary {
    kz_mode mode;
    int fell_back;
    uint64_t total, total_all_words, all_words_hits, collapsed;
    double took_ms;
    const char **notes;
    size_t n_notes;
    const char *suggestion;                        /* NULL: none */
    search_facet_value *values[SEARCH_MAX_FACETS]; /* facet k's, most documents first */
    size_t n_values[SEARCH_MAX_FACETS];
} search_summary;

/* sum of res (the notes and facet arrays allocated, the strings res's). */
int search_summary_of(search_summary *sum, const search_spec *s, const search_result *res);
void search_summary_free(search_summary *sum);

/* The document in pieces: its head up to "hits": [, then for each hit its
 * separator, its body, its "similar" list if any and "}", then the tail
 * (extra, when not NULL, goes in before the closing brace: ", \"key\": ..."). */
void search_json_head(FILE *f, const search_spec *s, const search_summary *sum);
void search_json_hit_separator(FILE *f, size_t i);
void search_json_tail(FILE *f, const search_spec *s, const search_summary *sum, size_t n_hits, const char *extra);
/* Hit i of r, an object without its similar list and closing brace, shown
 * at rank with docid docid_shown. */
int search_json_hit_body(FILE *f, kz_index *ix, const kz_results *r, size_t i, size_t rank, int all_words,
                         uint64_t docid_shown, const search_spec *s);
/* A collapsed near-duplicate, ix's docid, shown as docid_shown. */
int search_json_similar(FILE *f, kz_index *ix, uint32_t docid, uint64_t docid_shown, double score);

/* ---------------------------------------------------------------- http.c */

/* One request of http_run: a GET of url, or a POST of body when not NULL
 * (both the caller's). The reply (NUL-terminated, reply_len bytes) is
 * the call's (http_call_free); status 0 with error set when none came. */
typedef struct http_call {
    const char *url;
    const char *body;
    size_t body_len;
    long status;
    char *reply;
    size_t reply_len, reply_cap;
    char error[200];
} http_call;

/* Runs the calls at once and waits for all, each for at most timeout
 * seconds (0: no limit). 0, or -1 when libcurl could not be opened (said
 * on stderr) or failed as a whole. */
int http_run(http_call *calls, size_t n, double timeout);
void http_call_free(http_call *c);
/* s escaped for a URL's query string (malloc'd); NULL when out of memory
 * or libcurl could not be opened. */
char *http_escape(const char *s);

/* ---------------------------------------------------------------- remote.c */

#define REMOTE_MAX 64
#define REMOTE_MAX_K 1000000 /* hits a machine ranks for one step of a remote search */

typedef struct remote_output {
    int json, count_only, ids_only, color;
    FILE *out; /* the search, as a search over one index writes it */
    FILE *log; /* notes and the machines that did not answer (stderr); NULL: none */
} remote_output;

typedef struct remote_error {
    unsigned status;  /* its HTTP status: 400 the user's, 502 or 503 the machines' */
    char kind[24];    /* "syntax", "bad_date", "mismatch", "unavailable", "internal" */
    char message[300];
    uint32_t column;  /* "syntax": in the user's query */
} remote_error;

/* `kzsearch --remote URL... QUERY`: s over the indexes that `kzsearch
 * serve` serves at urls, as one index of all their documents (README
 * "Shards across machines"), written to out->out as a search over one
 * index is, with the matches in *total. Else an error, described in err
 * (and nothing written). */
int remote_search(const search_spec *s, const char *const *urls, size_t n, const remote_output *out,
                  remote_error *err, uint64_t *total);

/* ---------------------------------------------------------------- shard_api.c */

/* The machine's side of a remote search, for serve: /api/shard/stats
 * (step 1), /api/shard/search (step 2) and /api/shard/hits (the hits
 * shown), each with the parameters of /api/search in s, the global
 * statistics and hits in body (POST). A reply is text (FORMAT.md "Remote
 * search"): *out (malloc'd, *len bytes) on KZ_OK; else the error, with
 * res->error for a query's syntax. */
typedef struct shard_request {
    const char *what;     /* "stats", "search" or "hits" */
    const char *at;       /* search, hits: the index token the stats step gave; NULL: any */
    uint32_t k;           /* search: hits wanted */
    const char *format;   /* hits: "json", "text" or "id" */
    int color;            /* hits as text: highlighted */
    const char *body;     /* NUL-terminated; NULL for stats */
    size_t body_len;
} shard_request;

int shard_api(char **out, size_t *len, search_result *res, kz_index *ix, const search_spec *s,
              const shard_request *req);
/* The message of shard_api's last error on this thread. KZ_ESTALE: the
 * index is not the one of the request's "at" (a new generation came in
 * between the steps): the coordinator starts again. */
const char *shard_error(void);

/* ---------------------------------------------------------------- search_text.c */

typedef struct text_style {
    const char *on, *off; /* "" for plain text */
} text_style;

/* How hits are shown on a terminal. */
typedef struct text_view {
    int explain;
    size_t fragments, snippet_chars;
    text_style hl, bold;
} text_view;

/* The view of s's options, colored or not. */
void text_view_init(text_view *v, const search_spec *s, int color);
/* Hit i of r at rank, without its similar line. */
int search_text_hit(FILE *f, kz_index *ix, const kz_results *r, size_t i, size_t rank, const text_view *v);
/* "   +N similar: a, b, c, d, e, ..." of the first labels (at most 5 read). */
void search_text_similar(FILE *f, size_t n_similar, const char *const *labels);
/* Before the hits: "Did you mean", the fallback, "N hits for ..." */
void search_text_head(FILE *f, const search_spec *s, const search_summary *sum, const text_view *v, int sample);
/* Before the hit at rank: the line that ends the hits with every word. */
void search_text_separator(FILE *f, const search_summary *sum, size_t rank, const text_view *v);
/* After the hits: each facet's values; a blank line before when first_gap. */
void search_text_facets(FILE *f, const search_spec *s, const search_summary *sum, int first_gap);

/* A document's fields as a JSON object; a key of several values gives an
 * array. */
void json_metadata(FILE *f, const kz_doc_field *meta, size_t n_meta);

/* "all" or "any". */
const char *search_mode_name(kz_mode m);

/* How a collapsed near-duplicate is named to the user: its "site" field,
 * else "source", else the host of its "url", else its id; into buf (NUL-
 * terminated, cut to size). */
int search_similar_label(kz_index *ix, uint32_t docid, char *buf, size_t size);

/* Whether AUTO fell back to any word: no document has them all. */
int search_fell_back(const search_spec *s, const search_result *res);

/* A scoring unit as a user would write it: stem or "phrase of stems". */
void search_unit_text(char *buf, size_t size, const kz_unit *u);

/* ---------------------------------------------------------------- live_index.c */

/* The index a server serves, reopened when a new generation appears. */
typedef struct live_index live_index;
/* One generation of it, counted: valid from live_index_take until the
 * matching live_index_give, even after a newer one took its place. */
typedef struct served_index served_index;

/* Opens and warms the index in dir, with synonyms (NULL: none; the
 * caller's, to outlive li) set on it and on each new generation; a new
 * generation is looked for at most every interval seconds (0: at each
 * take). *out is the caller's (live_index_free, after the last give). */
int live_index_open(live_index **out, const char *dir, double interval, const kz_synonyms *synonyms);
/* The current generation, after looking for a newer one if it is time.
 * Never NULL. */
served_index *live_index_take(live_index *li);
/* The generation in place, without looking for a newer one: for the later
 * steps of a remote search, which must read the generation its first step
 * read. */
served_index *live_index_current(live_index *li);
void live_index_give(live_index *li, served_index *s);
kz_index *served_index_get(const served_index *s);
/* How many new generations were put in place since the open. */
uint64_t live_index_reloads(live_index *li);
void live_index_free(live_index *li);

/* ---------------------------------------------------------------- cmd_serve.c */

struct MHD_Daemon;
struct sockaddr;

/* What kzsearch serve answers from: one live index, or (a coordinator)
 * the machines of --remote; and its counters. */
typedef struct serve_server {
    live_index *li;                   /* NULL for a coordinator */
    const char *remotes[REMOTE_MAX];  /* --remote: the machines a coordinator searches */
    size_t n_remotes;
    char *dir;
    double timeout;
    uint64_t max_work;
    int access_log;
    atomic_uint_fast64_t requests, errors;
} serve_server;

/* Loads libmicrohttpd and starts its daemon on srv's routes (srv must
 * outlive it; stop it with MHD_stop_daemon): an internal epoll thread, a
 * pool of n_threads, serve's limits, listening on addr. flags adds
 * MHD_FLAGs: MHD_USE_IPv6, or MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC for a
 * daemon that is handed its connections by MHD_add_connection (addr NULL;
 * the fuzz target fuzz/fuzz_http.c). NULL if libmicrohttpd could not be
 * loaded (said on stderr) or the daemon not started (errno may say why). */
struct MHD_Daemon *serve_start_daemon(serve_server *srv, const struct sockaddr *addr, unsigned n_threads,
                                      unsigned flags);

/* ---------------------------------------------------------------- web_assets.c */

/* The search page's files, from web/, built into the binary
 * (web/embed.cmake writes web_assets.c at build time). */
typedef struct web_asset {
    const char *path; /* "/", "/app.js" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
} web_asset;
extern const web_asset web_assets[];
extern const size_t web_asset_count;

/* ---------------------------------------------------------------- cmd_stats.c */

/* The JSON document of `kzsearch stats --json` for ix (opened from dir). */
void stats_json_write(FILE *f, kz_index *ix, const char *dir);

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
int cmd_shards(int argc, char **argv);   /* cmd_shards.c */
int cmd_serve(int argc, char **argv);    /* cmd_serve.c */

#endif
