/*
 * help.c: the help texts: an overview (kzsearch --help) and one short
 * text per command (kzsearch COMMAND --help, kzsearch help COMMAND), each
 * with examples. The man page (man/kzsearch.1) says the same at length;
 * change both together.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char overview[] =
    "Usage: kzsearch [OPTIONS] QUERY...              search (the default command)\n"
    "       kzsearch COMMAND [OPTIONS] [ARGUMENTS]\n"
    "\n"
    "Commands:\n"
    "  search QUERY...      search an index: the default, and the long form for a\n"
    "                       query that starts with a command's name\n"
    "  index SOURCE...      rebuild an index from folders of .txt/.md files, text\n"
    "                       files and JSON Lines files (.jsonl[.gz], - for stdin)\n"
    "  add SOURCE...        add documents to an index as a new segment\n"
    "  update               read the recorded sources again, apply what changed\n"
    "  delete ID...         delete documents by id\n"
    "  optimize             merge every segment into one\n"
    "  stats                documents, terms, segments, sources, section sizes\n"
    "  check                verify every checksum and structure of an index\n"
    "  analyze TEXT...      the tokens and stems the index sees in a text\n"
    "  extract FILE...      what indexing a web page or WARC file takes from it\n"
    "  run --queries FILE   a TREC run of many queries, with their latencies\n"
    "  serve                the HTTP API and a search page (127.0.0.1:8080)\n"
    "  shards create SET SHARD...   several indexes searched as one\n"
    "  help [COMMAND]       this overview, or a command's help\n"
    "\n"
    "Global options, before or after the command:\n"
    "  --index DIR          the index to use (default below)\n"
    "  --json               JSON output (search, stats, check)\n"
    "  -h, --help           help; 'kzsearch COMMAND --help' for a command's own\n"
    "  -V, --version        the version\n"
    "\n"
    "Queries ('kzsearch search --help' for all the options, 'man kzsearch' for\n"
    "the whole language):\n"
    "  ethnic Russians      the documents with all the words, ranked by BM25, then\n"
    "                       those with only some\n"
    "  \"ethnic Russians\"    a phrase          russia OR kazakhstan   either\n"
    "  -war, NOT war        exclude           (a OR b) c             a group\n"
    "  kaz*                 a prefix          source:interfax.ru     a field's value\n"
    "  date:2022-03, date:2022-01..2022-06, date>=2022-03-01         dates\n"
    "\n"
    "Examples:\n"
    "  kzsearch \"ethnic Russians\"                 search (the sample articles at first)\n"
    "  kzsearch index ~/articles                  build the default index from a folder\n"
    "  kzsearch --index ~/ix -n 20 Tokayev         another index, 20 hits\n"
    "  kzsearch --index ~/ix stats                 what that index holds\n"
    "\n"
    "The default index is $KZSEARCH_INDEX, else $XDG_DATA_HOME/kzsearch/index,\n"
    "else ~/.local/share/kzsearch/index. If there is none, a search indexes the\n"
    "bundled sample articles into ~/.cache/kzsearch/sample and searches them.\n"
    "\n"
    "Exit status: 0 success (search: hits found); 1 no hits (search), some input\n"
    "skipped (index, add, update), an unknown id (delete) or damage found (check);\n"
    "2 an error.\n";

static const char search_help[] =
    "Usage: kzsearch [search] [OPTIONS] QUERY...\n"
    "\n"
    "Search an index; the words of QUERY are joined into one query. 'search' may\n"
    "be left out unless the query starts with a command's name.\n"
    "\n"
    "  ethnic Russians       the documents with all the words, ranked by BM25, then\n"
    "                        those with only some, after a line that says so\n"
    "  \"ethnic Russians\"     a phrase: the words in this order, next to each other\n"
    "  russia OR kazakhstan  either; OR binds looser than juxtaposition\n"
    "  oil AND gas           both (juxtaposed words are already AND, but not in --any)\n"
    "  NOT war, -war         exclude; -\"cold war\" excludes a phrase\n"
    "  +putin kremlin        require putin even with --any\n"
    "  (a OR b) c            group; nests up to 100 deep\n"
    "  source:interfax.ru    a field's value (JSON Lines keys); -source:x excludes\n"
    "  date:2022-03, date:2022-01..2022-06, date>=2022-03-01   dates and ranges\n"
    "  tokayef~              the terms within one or two edits of the word's\n"
    "  kaz*                  every dictionary term starting with kaz (the 256 most\n"
    "                        frequent if there are more, with a note)\n"
    "  Operators are upper case; words are analysed like the text (case, accents,\n"
    "  stems). A query starting with - needs '--' first: kzsearch -- -war peace.\n"
    "  A query that breaks these rules (an unclosed quote or parenthesis, a\n"
    "  dangling OR) is searched as plain words, with a note; --strict refuses it.\n"
    "\n"
    "Options:\n"
    "      --index DIR           the index to search (default: see kzsearch --help;\n"
    "                            if there is none, the bundled sample articles)\n"
    "  -n, --limit N             hits to show (default 10; 0: the count alone)\n"
    "      --count               the number of hits alone\n"
    "  -l, --ids                 the ids of the hits alone, one a line\n"
    "      --since DATE, --until DATE   documents of the field 'date' (or\n"
    "                            --date-field NAME) from/until DATE, inclusive\n"
    "      --sort ORDER          score (the default), date or -date (newest first),\n"
    "                            or FIELD / -FIELD for another date field\n"
    "      --facet FIELD[:year|:month|:day][:N]   the N (10) commonest values of a\n"
    "                            field among all matches, with their counts\n"
    "      --offset N            hits to skip first\n"
    "      --any                 juxtaposed words are alternatives (OR), one ranking\n"
    "      --all                 only the documents with all the words (AND)\n"
    "      --strict              a syntax error is an error, not plain words (always\n"
    "                            so beside --since and --until)\n"
    "      --synonyms FILE       lines of equivalent words or names, separated by\n"
    "                            commas (Astana, Nur-Sultan, Akmola); a word also\n"
    "                            searches the others of its lines\n"
    "      --k1 X, --b X         BM25 parameters (default 1.2 and 0.75)\n"
    "      --snippet-chars N     passage length (default 200)\n"
    "      --fragments N         passages per hit (default 1, at most 16)\n"
    "      --explain             the score of each hit, term by term\n"
    "      --json                one JSON document: hits, scores, snippets, offsets\n"
    "      --color WHEN          highlight matches: auto, always, never (NO_COLOR\n"
    "                            is honoured)\n"
    "      --timeout SECONDS     stop a query that runs longer (default 10; 0: no\n"
    "                            limit); with --remote, each step's deadline\n"
    "      --remote URL          search the index that 'kzsearch serve' serves at\n"
    "                            URL; repeated, the indexes of several machines as\n"
    "                            one: the same hits, scores, totals and facets as\n"
    "                            one index of all their documents (global\n"
    "                            statistics first, then the search). A machine\n"
    "                            that does not answer makes the result partial,\n"
    "                            said in the text and in the JSON (\"machines\")\n"
    "\n"
    "Examples:\n"
    "  kzsearch \"ethnic Russians\"\n"
    "  kzsearch '\"ethnic Russians\" -Medvedev'\n"
    "  kzsearch --json --explain -n 3 'kaz* OR Tokayev'\n"
    "  kzsearch 'grain source:interfax.ru' --since 2022-06\n"
    "  kzsearch --facet source --facet date:month -n 0 wheat\n"
    "  kzsearch search index          a query that is a command's name\n"
    "  kzsearch --remote http://node1:8080 --remote http://node2:8080 Tokayev\n"
    "\n"
    "Exit status: 0 hits found, 1 none, 2 an error.\n";

static const char index_help[] =
    "Usage: kzsearch index [-o DIR] [OPTIONS] SOURCE...\n"
    "\n"
    "Rebuild an index from its sources: folders (every .txt and .md file under\n"
    "them), text files, JSON Lines files (.jsonl, .ndjson, optionally .gz) or -\n"
    "(JSON Lines on standard input). Over an index built from other sources it\n"
    "refuses unless --replace is given ('kzsearch add' adds instead).\n"
    "\n"
    "Options:\n"
    "  -o, --output DIR, --index DIR   where to write (default: the default index)\n"
    "      --lang LANG           auto (default): English for Latin words, Russian for\n"
    "                            Russian ones; or one Snowball language for all\n"
    "      --memory SIZE         memory budget, e.g. 512M, 2G (default 1G)\n"
    "      --threads N           worker threads (default: all cores)\n"
    "      --max-doc SIZE        skip documents larger than this (default 1G)\n"
    "      --store-level N       zstd level of the document store (default 3)\n"
    "  -q, --quiet               no progress bar, summary or problem list\n"
    "      --replace             replace an index built from other sources (or\n"
    "                            empty it when the sources have no documents)\n"
    "      --shard I/N           only shard I of N (0 <= I < N): the documents whose\n"
    "                            id hashes to I; see 'kzsearch shards --help'\n"
    "\n"
    "Examples:\n"
    "  kzsearch index ~/articles\n"
    "  kzsearch index -o ~/ix corpus.jsonl.gz more/\n"
    "  zcat dump.jsonl.gz | kzsearch index -o ~/ix -\n"
    "  kzsearch index --lang russian -o ~/ru ~/statji\n"
    "\n"
    "Exit status: 0 all indexed, 1 built but some input skipped (each case is\n"
    "reported), 2 failed (the old index is then untouched).\n";

static const char add_help[] =
    "Usage: kzsearch add [-o DIR] [OPTIONS] SOURCE...\n"
    "\n"
    "Add the documents of SOURCE (as for 'kzsearch index') to an index as a new\n"
    "segment. A document whose id the index already has is a new version: the\n"
    "old one is deleted. Segments of one size merge as they gather.\n"
    "\n"
    "Options: those of 'kzsearch index' (-o, --index, --lang, --memory, --threads,\n"
    "--max-doc, --store-level, -q) but --replace, and\n"
    "      --no-merge            leave the segments unmerged (optimize merges)\n"
    "\n"
    "Examples:\n"
    "  kzsearch add ~/articles/today/\n"
    "  kzsearch add -o ~/ix new.jsonl\n"
    "\n"
    "Exit status: 0 all added, 1 added but some input skipped, 2 failed.\n";

static const char update_help[] =
    "Usage: kzsearch update [--index DIR] [OPTIONS]\n"
    "\n"
    "Read the sources the index records again (see 'kzsearch stats') and apply\n"
    "what changed: new and changed documents go into one new segment, documents\n"
    "no source gives any more are deleted. A source that cannot be read fails\n"
    "the update, and nothing changes.\n"
    "\n"
    "Options:\n"
    "      --index DIR           the index (default: the default index)\n"
    "      --memory SIZE         memory budget (default 1G)\n"
    "      --threads N           worker threads (default: all cores)\n"
    "  -q, --quiet               no summary or problem list\n"
    "\n"
    "Examples:\n"
    "  kzsearch update\n"
    "  kzsearch --index ~/ix update -q\n";

static const char delete_help[] =
    "Usage: kzsearch delete [--index DIR] [--ids-from FILE] ID...\n"
    "\n"
    "Delete documents by id. An id the index does not have is reported; the\n"
    "others are deleted all the same, and the exit status is then 1.\n"
    "\n"
    "Options:\n"
    "      --index DIR           the index (default: the default index)\n"
    "      --ids-from FILE       an id per line (- for standard input)\n"
    "\n"
    "Examples:\n"
    "  kzsearch delete kazakhs-fear-new-imperial-target.txt\n"
    "  kzsearch -l --index ~/ix 'source:rt.com' -n 1000 | kzsearch delete --index ~/ix --ids-from -\n";

static const char optimize_help[] =
    "Usage: kzsearch optimize [--index DIR] [OPTIONS]\n"
    "\n"
    "Merge every segment of an index into one, dropping the deleted documents.\n"
    "Searches answer the same before and after.\n"
    "\n"
    "Options:\n"
    "      --index DIR           the index (default: the default index)\n"
    "      --memory SIZE         memory budget (default 1G)\n"
    "      --threads N           worker threads (default: all cores)\n"
    "  -q, --quiet               no summary\n"
    "\n"
    "Examples:\n"
    "  kzsearch optimize\n"
    "  kzsearch optimize --index ~/ix --memory 256M\n";

static const char stats_help[] =
    "Usage: kzsearch stats [--index DIR] [--json]\n"
    "\n"
    "What an index holds: format, language, documents, terms, tokens, avgdl,\n"
    "its segments and their deleted documents, the sources it was built from,\n"
    "and the size of each section.\n"
    "\n"
    "Options:\n"
    "      --index DIR           the index (default: the default index)\n"
    "      --json                one JSON document\n"
    "\n"
    "Examples:\n"
    "  kzsearch stats\n"
    "  kzsearch --index ~/ix --json stats\n";

static const char check_help[] =
    "Usage: kzsearch check [--index DIR] [--json]\n"
    "\n"
    "Verify every checksum and structure of an index: 'ok: ...', or 'fault: ...'\n"
    "lines and 'damaged: ...'.\n"
    "\n"
    "Options:\n"
    "      --index DIR           the index (default: the default index)\n"
    "      --json                one JSON document: faults, ok, counts\n"
    "\n"
    "Examples:\n"
    "  kzsearch check\n"
    "  kzsearch check --index ~/ix\n"
    "\n"
    "Exit status: 0 intact, 1 damage found, 2 an error.\n";

static const char extract_help[] =
    "Usage: kzsearch extract [--json] FILE...\n"
    "\n"
    "Shows what indexing takes from web pages (.html, .htm, .xhtml, optionally\n"
    ".gz) and from the HTML responses of WARC files (.warc, .warc.gz): the\n"
    "title, the fields (date, url, site, author, lang), the charset read, and\n"
    "the article's text without the site around it.\n"
    "\n"
    "  --json   one JSON object a page, as kzsearch index reads JSON Lines\n"
    "\n"
    "Exit status 1 when a page was skipped (binary, no text, damaged).\n";

static const char serve_help[] =
    "Usage: kzsearch serve [--index DIR] [--listen ADDR:PORT] [OPTIONS]\n"
    "\n"
    "Serve an index over HTTP: a JSON API and a search page, read-only. A new\n"
    "generation of the index (kzsearch add, update, delete, optimize) is served\n"
    "without a restart; requests in flight finish on the one they started on.\n"
    "\n"
    "  GET /                    the search page (built in; no external files)\n"
    "  GET /api/search?q=       the JSON of kzsearch --json; also n (0-100),\n"
    "                           offset, sort, since, until, date_field, mode\n"
    "                           (auto, all, any), facet (repeatable), strict=1\n"
    "  GET /api/doc/ID?q=       a document's text and fields, q's matches in it\n"
    "  GET /api/stats           the JSON of kzsearch stats --json\n"
    "  GET /healthz             {\"status\": \"ok\", ...}\n"
    "  /api/shard/stats, /api/shard/search, /api/shard/hits   the steps of a\n"
    "                           search over several machines (--remote)\n"
    "\n"
    "Errors are JSON with a status: 400 (a query's syntax with strict=1, with\n"
    "its column; bad parameters), 404, 405 (not GET or HEAD), 413 (a query\n"
    "over 4096 bytes, a body), 503 (past --timeout).\n"
    "\n"
    "Options:\n"
    "      --listen ADDR:PORT   where to listen (default 127.0.0.1:8080; port 0:\n"
    "                           any free one; [::1]:PORT for IPv6). Only what you\n"
    "                           name: 0.0.0.0:8080 opens it to the network\n"
    "      --threads N          threads answering requests (default: the cores)\n"
    "      --timeout SECONDS    a search's time limit (default 5; 0: none)\n"
    "      --max-work N         a search's work limit in candidate documents\n"
    "      --access-log         one line a request on stderr (method, path, ms)\n"
    "      --synonyms FILE      lines of equivalent words (see 'search --help'), for\n"
    "                           every generation served\n"
    "      --remote URL         a coordinator instead: /api/search and /api/doc over\n"
    "                           the machines serving at each URL, as one index\n"
    "                           (see 'search --help'); no index of its own\n"
    "\n"
    "Examples:\n"
    "  kzsearch serve                                 # the default index, :8080\n"
    "  kzsearch serve --remote http://node1:8080 --remote http://node2:8080\n"
    "  kzsearch serve --index ~/ix --listen 127.0.0.1:9000\n"
    "  curl 'http://127.0.0.1:8080/api/search?q=grain+source:reuters&facet=date:year'\n"
    "  curl 'http://127.0.0.1:8080/api/doc/ID?q=grain'\n";

static const char analyze_help[] =
    "Usage: kzsearch analyze [--lang LANG | --index DIR] TEXT...\n"
    "\n"
    "Show the tokens and stems of TEXT as an index sees them, one a line:\n"
    "byte range, the text, the stem. Queries are analysed the same way.\n"
    "\n"
    "Options:\n"
    "      --lang LANG           auto (default) or one Snowball language for all words\n"
    "      --index DIR           the language of that index\n"
    "\n"
    "Examples:\n"
    "  kzsearch analyze \"Kasym-Žomart Tokayev’s\"\n"
    "  kzsearch analyze --lang russian 'Ёлки и палки'\n";

static const char run_help[] =
    "Usage: kzsearch run --queries FILE.tsv [OPTIONS]\n"
    "\n"
    "Run every qid<TAB>query line of FILE and write a TREC run (qid Q0 docid rank\n"
    "score tag). Without --mode each line is a query in the query language\n"
    "(AND, falling back to OR); a summary gives latency percentiles.\n"
    "\n"
    "Options:\n"
    "      --index DIR           the index (default: the default index)\n"
    "      --mode and|or         plain words, all or any (no operators, no fallback)\n"
    "  -k N                      hits per query (default 1000)\n"
    "  -o, --output RUN          the run file (default: standard output)\n"
    "      --latency FILE        qid<TAB>microseconds per query, timed in-process\n"
    "      --tag TAG             the run's tag (default kzsearch)\n"
    "      --k1 X, --b X         BM25 parameters\n"
    "      --cold                do not read the index into memory first\n"
    "      --sort ORDER, --since DATE, --until DATE, --date-field NAME   as for a\n"
    "                            search (--since and --until without --mode)\n"
    "\n"
    "Examples:\n"
    "  kzsearch run --index ~/ixsf --queries queries.tsv --mode or -k 1000 -o sf.run\n"
    "  kzsearch run --queries q.tsv -k 10 --latency lat.tsv -o /dev/null\n";

static const char shards_help[] =
    "Usage: kzsearch shards create SET_DIR SHARD_DIR...\n"
    "\n"
    "Record a shard set: SET_DIR (created if missing) lists the indexes SHARD_DIR\n"
    "by their paths relative to it, with their generations and checksums.\n"
    "'--index SET_DIR' then searches them as one index: N, avgdl and df are\n"
    "summed, so scores are those of one index of all their documents. Once a\n"
    "shard changes (add, update, delete, optimize), searches of the set fail\n"
    "until it is created again. Build the shards with 'kzsearch index --shard\n"
    "I/N' from the same sources: every document goes to exactly one shard;\n"
    "shards that hold one document id twice are refused, naming it. Several\n"
    "--index DIR options search several indexes as one the same way, without\n"
    "a set; --remote URL searches shards that other machines serve. On a Slurm\n"
    "cluster, contrib/slurm/submit.sh builds the shards as a job array and\n"
    "then the set (see its README).\n"
    "\n"
    "Examples:\n"
    "  for i in 0 1 2; do kzsearch index --shard $i/3 -o ix.$i corpus.jsonl.gz; done\n"
    "  kzsearch shards create ix.all ix.0 ix.1 ix.2\n"
    "  kzsearch --index ix.all Tokayev\n"
    "  contrib/slurm/submit.sh -n 16 -w /shared/ix/news /shared/news/\n"
    "\n"
    "Exit status: 0 the set was written, 2 an error (the old set is untouched).\n";

static const char help_help[] =
    "Usage: kzsearch help [COMMAND]\n"
    "\n"
    "The overview of kzsearch, or the help of COMMAND (the same as\n"
    "'kzsearch COMMAND --help').\n"
    "\n"
    "Examples:\n"
    "  kzsearch help\n"
    "  kzsearch help search\n";

static const struct {
    const char *command;
    const char *text;
} helps[] = {
    { "search", search_help },     { "index", index_help },   { "add", add_help },
    { "update", update_help },     { "delete", delete_help }, { "optimize", optimize_help },
    { "stats", stats_help },       { "check", check_help },   { "analyze", analyze_help }, { "extract", extract_help },
    { "serve", serve_help },
    { "run", run_help },           { "help", help_help },     { "shards", shards_help },
};

const char *cli_help_text(const char *command)
{
    if (!command || !*command)
        return overview;
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++)
        if (strcmp(helps[i].command, command) == 0)
            return helps[i].text;
    return NULL;
}

void cli_help_exit(void)
{
    const char *text = cli_help_text(cli_command);
    fputs(text ? text : overview, stdout);
    exit(0);
}
