/*
 * kzsearch.h: the public interface of libkzsearch.
 *
 * Conventions (as in libgit2):
 *  - functions return KZ_OK (0) or a negative kz_error; kz_last_error() then
 *    gives a message for a human, kept per thread until the next failure;
 *  - an object returned through an out-parameter (always the first
 *    parameter) is the caller's, freed with the matching kz_*_free(), and
 *    kz_*_free(NULL) does nothing;
 *  - a pointer returned directly, or through a struct, belongs to the object
 *    it came from and stays valid as long as that object, unless its doc
 *    comment says otherwise.
 */
#ifndef KZSEARCH_H
#define KZSEARCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KZ_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------- errors */

typedef enum kz_error {
    KZ_OK = 0,
    KZ_ENOMEM = -1,   /* out of memory */
    KZ_EIO = -2,      /* a read, write, fsync or rename failed */
    KZ_ECORRUPT = -3, /* an index file is damaged or truncated */
    KZ_EVERSION = -4, /* an index written by an unsupported format version */
    KZ_ESYNTAX = -5,  /* malformed input: a JSON line, a query */
    KZ_EINVAL = -6,   /* an invalid argument or option */
    KZ_ENOTFOUND = -7,/* no such index, file or term */
    KZ_EFIELD = -8,   /* a record lacks a required field or has a wrong type */
    KZ_ELIMIT = -9,   /* a size limit was exceeded */
    KZ_ELOCKED = -10, /* another process is writing this index */
    KZ_ETIMEOUT = -11,/* a query ran past its time or work budget (kz_search_options) */
    KZ_ESTALE = -12   /* a shard set's shard changed since the set was made */
} kz_error;

/* A fixed description of an error code ("index is corrupt"). Never NULL. */
const char *kz_strerror(int code);

/* The message recorded by the last failing call in this thread, or "" if
 * none. Valid until the next failing call in this thread. */
const char *kz_last_error(void);

/* ------------------------------------------------------------- building */

typedef struct kz_builder kz_builder;

/* What went wrong with one input item; passed to kz_build_options.on_problem. */
typedef enum kz_problem {
    KZ_PROBLEM_UNREADABLE = 0, /* a file or folder could not be opened or read */
    KZ_PROBLEM_BINARY,         /* a text file holds NUL bytes: skipped */
    KZ_PROBLEM_INVALID_UTF8,   /* invalid sequences (or lone \ud800 escapes) replaced by U+FFFD: kept */
    KZ_PROBLEM_MALFORMED_JSON, /* a JSON line that does not parse: skipped */
    KZ_PROBLEM_BAD_FIELD,      /* id/text missing or not a string: skipped */
    KZ_PROBLEM_DROPPED_FIELD,  /* a metadata field of unusable type: dropped, doc kept */
    KZ_PROBLEM_DUPLICATE_ID,   /* an id seen before: the later record is skipped */
    KZ_PROBLEM_EMPTY,          /* no title and no text: skipped */
    KZ_PROBLEM_TOO_LARGE,      /* a document over the size limit: skipped */
    KZ_PROBLEM_OTHER_FILE,     /* a file in a folder that is not .txt/.md: skipped */
    KZ_PROBLEM_REPEATED_KEY,   /* a key twice in one JSON record: the last value kept */
    KZ_PROBLEM_FIELD_TYPE,     /* a value that is not of its field's declared type: kept as a keyword */
    KZ_PROBLEM_COUNT
} kz_problem;

/* Short name of a problem kind ("binary", "invalid-utf8", ...). */
const char *kz_problem_name(kz_problem kind);

/* Called for each problem. where is "path" or "path:line"; message says
 * what happened. Both strings are valid only during the call. */
typedef void (*kz_problem_fn)(void *ctx, kz_problem kind, const char *where,
                              const char *message);

typedef struct kz_build_progress {
    uint64_t docs;
    uint64_t text_bytes;  /* bytes of title and text taken in so far */
    uint64_t bytes_read;  /* input bytes consumed so far (compressed, for .gz) */
    uint64_t bytes_total; /* total input size when known, else 0 */
    double seconds;
    const char *phase; /* "reading", "merging", "writing" */
} kz_build_progress;

typedef void (*kz_progress_fn)(void *ctx, const kz_build_progress *p);

#define KZ_BUILD_OPTIONS_VERSION 4 /* 1: without mode and flags; 2: without shard; 3: without field types */

/* How a metadata field's values are indexed (README "Fields"). */
typedef enum kz_field_type {
    KZ_FIELD_TYPE_AUTO = 0, /* by each value: a date gives date terms; any other value a keyword,
                               and a number its number terms too */
    KZ_FIELD_TYPE_KEYWORD,  /* the value as one keyword, even if it reads as a date or a number */
    KZ_FIELD_TYPE_DATE,     /* a date; a value that is none is reported and kept as a keyword */
    KZ_FIELD_TYPE_NUMBER,   /* a number (and its keyword); a value that is none is reported and kept
                               as a keyword */
    KZ_FIELD_TYPE_TEXT      /* words, analysed as the text is: name:word finds a document whose
                               value holds the word, name:"a phrase" the phrase */
} kz_field_type;

/* One declared field type (kz_build_options.field_types). */
typedef struct kz_field_type_spec {
    const char *name; /* NUL-terminated; read during kz_builder_new only */
    kz_field_type type;
} kz_field_type_spec;

/* The name of a field type ("auto", "keyword", "date", "number", "text"),
 * and back: KZ_EINVAL for a name that is none. */
const char *kz_field_type_name(kz_field_type type);
int kz_field_type_parse(kz_field_type *out, const char *name);

/* What a build does to the index it writes into (kz_build_options.mode). */
typedef enum kz_build_mode {
    KZ_BUILD_REPLACE = 0, /* the index becomes the new documents alone */
    KZ_BUILD_ADD = 1      /* a new segment after the others; a document whose id the index has replaces it */
} kz_build_mode;

/* kz_build_options.flags: replace an index even with no documents. */
#define KZ_BUILD_EMPTY_OK 1u

typedef struct kz_build_options {
    unsigned version;        /* KZ_BUILD_OPTIONS_VERSION */
    const char *language;    /* "auto" (NULL): stemmer by script; or one Snowball language */
    uint64_t memory_budget;  /* bytes; 0 = default (1 GiB) */
    unsigned threads;        /* 0 = all cores */
    uint64_t max_doc_bytes;  /* 0 = default (1 GiB); larger documents are skipped */
    int store_level;         /* zstd level of the document store; 0 = default */
    kz_problem_fn on_problem;
    kz_progress_fn on_progress;
    void *ctx;               /* passed to both callbacks */
    kz_build_mode mode;
    /* KZ_BUILD_EMPTY_OK; without it, replacing an index that has documents
     * with one of none fails with KZ_EINVAL, and the old index stays. */
    unsigned flags;
    /* Shard shard of shards (shards 0: all): only the documents whose id's
     * XXH3 is shard modulo shards, so that shards built from the same
     * sources never overlap (README "Shards"). */
    uint32_t shard, shards;
    /* Declared types of fields (others are KZ_FIELD_TYPE_AUTO). The index
     * keeps them in its manifest, and every later build types its
     * documents the same way: one that adds to it (KZ_BUILD_ADD,
     * kz_index_update, kz_index_merge) may declare new fields, and
     * declaring one the index types otherwise is KZ_EINVAL; a replacing
     * build may type a field anew (KZ_FIELD_TYPE_AUTO: undeclared). */
    const kz_field_type_spec *field_types;
    size_t n_field_types;
} kz_build_options;

#define KZ_BUILD_OPTIONS_INIT \
    { KZ_BUILD_OPTIONS_VERSION, NULL, 0, 0, 0, 0, NULL, NULL, NULL, KZ_BUILD_REPLACE, 0, 0, 0, NULL, 0 }

typedef struct kz_build_stats {
    uint64_t docs;         /* documents indexed */
    uint64_t terms;        /* distinct terms */
    uint64_t tokens;       /* total tokens (sum of document lengths) */
    uint64_t bytes_in;     /* bytes of input read */
    uint64_t text_bytes;   /* bytes of title and text indexed */
    uint64_t index_bytes;  /* size of the index file */
    uint64_t runs;         /* sorted runs spilled to disk */
    uint64_t peak_rss;     /* bytes, 0 if unknown */
    double seconds;
    uint64_t problems[KZ_PROBLEM_COUNT];
    uint64_t skipped;      /* items skipped (the problems that lose a document) */
    uint64_t replaced;     /* KZ_BUILD_ADD: older documents replaced by one of the same id */
    uint64_t segments;     /* segments of the index after the build */
    uint64_t other_shards; /* documents left to the other shards (kz_build_options.shards) */
} kz_build_stats;

/* Starts a build into the index in index_dir (created if missing): a new
 * segment that replaces the index or is added to it (opts->mode).
 * Nothing is visible to readers until kz_builder_commit() succeeds; the old
 * index keeps serving meanwhile. opts may be NULL for defaults.
 * KZ_ELOCKED if another process is writing the same index. */
int kz_builder_new(kz_builder **out, const char *index_dir, const kz_build_options *opts);

/* Adds a source: a folder (recursively, .txt and .md files in sorted path
 * order), a text file, a JSON Lines file (.jsonl/.ndjson, optionally .gz),
 * or "-" for JSON Lines on standard input. Problems with single items are
 * reported through on_problem and counted, not returned; an error is
 * returned only when the build itself cannot go on (KZ_EIO writing, KZ_ENOMEM)
 * or when the source does not exist (KZ_ENOTFOUND). */
int kz_builder_add_source(kz_builder *b, const char *path);

/* Adds one document. id must be unique; strings need not be NUL-terminated
 * and may hold invalid UTF-8 (replaced and counted). meta may be NULL. */
typedef struct kz_doc_field {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} kz_doc_field;

int kz_builder_add_document(kz_builder *b,
                            const char *id, size_t id_len,
                            const char *title, size_t title_len,
                            const char *text, size_t text_len,
                            const kz_doc_field *meta, size_t n_meta);

/* Finishes the index: merges, writes, checks, fsyncs, and renames it into
 * place. stats may be NULL. After it returns, whatever the result, only
 * kz_builder_free() may be called. */
int kz_builder_commit(kz_builder *b, kz_build_stats *stats);

/* Frees the builder. If it was not committed, removes its temporary files
 * and leaves the old index as it was. */
void kz_builder_free(kz_builder *b);

/* Merges segments of the index in index_dir: adjacent ones, their live
 * documents into one new segment that takes their place (deleted ones are
 * dropped), each merge one new generation. By a tiered policy (runs of 8
 * segments of one size tier, and segments more than half deleted), again
 * until none qualifies; with KZ_MERGE_ALL, every segment into one. opts
 * (NULL for defaults) gives the memory budget and threads; *merges counts
 * the merges made. Readers are not blocked; searches answer the same
 * before and after. KZ_ELOCKED while another process writes the index. */
/* Brings the index in index_dir up to date with the sources it records
 * (kz_index_source): each is read again; a document of a new id, or of an
 * id whose title, text or metadata changed, goes into one new segment
 * (replacing the old version), an unchanged one is passed over, and the
 * live documents no source gives any more are deleted. A source that
 * cannot be read fails the update, and nothing changes. opts as for a
 * build (its mode is ignored). */
typedef struct kz_update_stats {
    uint64_t changed;   /* new documents and new versions, added */
    uint64_t unchanged; /* passed over */
    uint64_t deleted;   /* no source gives them any more */
    uint64_t skipped;   /* input the build skipped (problems) */
} kz_update_stats;
int kz_index_update(const char *index_dir, const kz_build_options *opts, kz_update_stats *out);

#define KZ_MERGE_ALL 1u
int kz_index_merge(const char *index_dir, const kz_build_options *opts, unsigned flags, unsigned *merges);

/* ------------------------------------------------------------- reading */

typedef struct kz_index kz_index;

/* Opens the index in index_dir, read-only, through mmap. Checks the magic,
 * the format version and the footer with its checksum: KZ_ENOTFOUND when
 * there is no index, KZ_EVERSION, KZ_ECORRUPT. Every other byte is checked
 * against its XXH3 checksum the first time it is used. The index stays
 * readable, as it was when opened, while a rebuild replaces it.
 * A kz_index may be used from several threads at once. */
int kz_index_open(kz_index **out, const char *index_dir);
/* Opens several indexes as one (index_dir of kz_index_open may also be a
 * shard set's folder, kz_shard_set_create): their segments one after
 * another, in the order given, so that docids, and ties between equal
 * scores, follow that order. Statistics (N, avgdl, df) are summed over
 * all, so scores are those of one index of all their documents. They must
 * share one language; a folder named twice is KZ_EINVAL. */
int kz_index_open_many(kz_index **out, const char *const *index_dirs, size_t n);
void kz_index_free(kz_index *ix);
/* The indexes opened together (1 for one index): folder i, and the
 * generation of its manifest when opened. NULL past the last. Owned by ix. */
size_t kz_index_part_count(const kz_index *ix);
const char *kz_index_part_dir(const kz_index *ix, size_t i, uint64_t *generation);

/* Writes set_dir (created if missing) as a shard set of the n indexes
 * shard_dirs, recorded by their paths relative to set_dir, with their
 * manifests' generations and checksums (FORMAT.md "Shard set"), written
 * beside the old set and renamed over it. kz_index_open(set_dir) then
 * opens them as one, and fails with KZ_ESTALE once one has changed.
 * KZ_EINVAL, naming the id and both shards, when two of them hold a live
 * document of one id (input not split with --shard); nothing is written. */
int kz_shard_set_create(const char *set_dir, const char *const *shard_dirs, size_t n);

/* For long-running readers: *out is the index as it is now, newly opened,
 * when a change was made since ix was opened (a new generation of its
 * manifest), else NULL. Reads the manifest, nothing more, when nothing
 * changed. ix stays open and valid; the caller frees either when done. */
int kz_index_reopen(kz_index *ix, kz_index **out);

typedef struct kz_index_info {
    uint32_t format_version;
    uint32_t analyzer_version;
    const char *language;   /* owned by the index */
    uint64_t docs;          /* N: live documents (deleted ones are not counted) */
    uint64_t terms;         /* terms of the segments' dictionaries, summed */
    uint64_t tokens;        /* sum of the live documents' lengths */
    double avgdl;           /* tokens / docs */
    uint64_t file_bytes;    /* of the segment files, summed */
    uint64_t text_bytes;    /* raw bytes of title and text indexed, deleted ones included */
    uint64_t created_unix;
    uint64_t docids;        /* docids run 0 .. docids-1; deleted ones among them */
    uint64_t segments;
    uint64_t generation;    /* of the manifest; 0 for an index of one file without one */
} kz_index_info;

void kz_index_get_info(const kz_index *ix, kz_index_info *out);

/* Reads and verifies every byte that queries use (the document table,
 * the dictionary, the postings and the fingerprints that collapse
 * near-duplicates), so that later queries pay neither page
 * faults nor first-use checksums, and keeps the document lengths in a
 * dense array (4 bytes a document) for scoring: for batch runs and
 * long-lived servers. KZ_ECORRUPT if any of it is damaged. Safe to call
 * from several threads. */
int kz_index_warm(kz_index *ix);

/* Number of sections and the name and byte length of section i. */
unsigned kz_index_section_count(const kz_index *ix);
void kz_index_section(const kz_index *ix, unsigned i, const char **name, uint64_t *bytes);

/* Segment i of the index (0 .. kz_index_info.segments - 1), in order: its
 * file's name (owned by the index), its documents and how many of them
 * were deleted. */
void kz_index_segment_info(const kz_index *ix, size_t i, const char **name, uint64_t *docs, uint64_t *deleted);
/* The sources the index was built from (absolute paths, or "-"), as
 * recorded by kzsearch index and add; none for an index written before
 * manifests. Owned by the index. */
size_t kz_index_source_count(const kz_index *ix);
const char *kz_index_source(const kz_index *ix, size_t i);

/* A metadata field of the index and what its values are (README
 * "Fields"): keywords, dates, numbers, or several of them. */
typedef struct kz_field_info {
    char *name;             /* NUL-terminated; owned by the array */
    uint64_t keywords;      /* distinct keyword values: exact in an index of one
                               segment, else at most this */
    int has_dates;
    char first_day[11], last_day[11]; /* when has_dates: the first and last
                                 day, YYYY-MM-DD, UTC (months, YYYY-MM, when
                                 no value gives a day) */
    int has_numbers;
    double min, max;        /* when has_numbers (NaN if a damaged term hides one) */
    uint64_t words;         /* a text field's distinct words (stems), as keywords counts */
    kz_field_type type;     /* as the index declares it (KZ_FIELD_TYPE_AUTO: by each value) */
} kz_field_info;

/* The fields of the index's documents, by name in byte order, into *out
 * (n_out of them; free with kz_field_infos_free). A value only deleted
 * documents had may still count. */
int kz_index_fields(kz_index *ix, kz_field_info **out, size_t *n_out);
void kz_field_infos_free(kz_field_info *f, size_t n);

/* Deletes the live documents with the given ids (NUL-terminated strings)
 * from the index in index_dir: one new generation of its manifest, none
 * when no id matched. found[k] (n bytes, the caller's) says whether ids[k]
 * named a document; *deleted counts the documents deleted. A reader that
 * has the index open goes on seeing it as it was. KZ_ELOCKED while
 * another process writes the index. */
int kz_index_delete(const char *index_dir, const char *const *ids, size_t n, uint8_t *found, uint64_t *deleted);

/* Called by kz_index_check() for each fault found. */
typedef void (*kz_check_fn)(void *ctx, const char *message);

/* Verifies everything: every checksum, every bitmap, every posting, tf and
 * position, the dictionary order, the document table and the document
 * store. Returns KZ_OK, or KZ_ECORRUPT after reporting each fault (up to
 * a limit) through fn. */
int kz_index_check(kz_index *ix, kz_check_fn fn, void *ctx);

/* One document's stored fields; strings point into the index (not
 * NUL-terminated) and stay valid as long as it is open. */
typedef struct kz_doc {
    const char *id;
    size_t id_len;
    const char *title;
    size_t title_len;
    uint32_t length;       /* dl: tokens in title and text */
    uint32_t title_tokens; /* the first title_tokens positions are the title */
    size_t n_meta;
    uint64_t text_bytes;
} kz_doc;

/* Reads document docid (0 .. docs-1). meta, if not NULL, receives up to
 * max_meta fields. KZ_EINVAL if docid is out of range. */
int kz_index_doc(kz_index *ix, kz_doc *out, uint32_t docid,
                 kz_doc_field *meta, size_t max_meta);

/* The document's text, decompressed into *out (malloc'd, NUL-terminated,
 * the caller frees it). */
int kz_index_doc_text(kz_index *ix, char **out, size_t *len, uint32_t docid);

/* The docid of the live document whose id is id (its bytes, id_len of
 * them): KZ_OK, or KZ_ENOTFOUND when the index has none. Ids are unique
 * among live documents. Looked up in each segment's id section: about
 * log2(documents) probes a segment. */
int kz_index_find(kz_index *ix, uint32_t *docid, const char *id, size_t id_len);

/* Where a document's text tokens start, every KZ_TEXT_MARK_EVERY-th of
 * them: at[k] is the byte offset in the text of its token
 * (k + 1) * KZ_TEXT_MARK_EVERY (counting from 0), ascending. They let
 * passages be found by analysing the text around the query's words only
 * (kz_snippets_make_marked). An index of format 6 or older has none. */
#define KZ_TEXT_MARK_EVERY 64
typedef struct kz_text_marks {
    uint32_t *at; /* malloc'd (NULL when n is 0); kz_text_marks_free */
    size_t n;
} kz_text_marks;
void kz_text_marks_free(kz_text_marks *m);

/* kz_index_doc_text_prefix, and the text's marks in *marks (none, n 0,
 * when the index has none or the text is longer than max_bytes). */
int kz_index_doc_text_marked(kz_index *ix, char **out, size_t *len, kz_text_marks *marks, uint32_t docid,
                             size_t max_bytes);

/* The first max_bytes bytes of the text at most, cut back to a character
 * boundary, as kz_index_doc_text gives them; only what they need is read
 * and decompressed, so that a 200 MB document costs what its first
 * max_bytes cost. *len < kz_doc.text_bytes says the text was cut. */
int kz_index_doc_text_prefix(kz_index *ix, char **out, size_t *len, uint32_t docid, size_t max_bytes);

/* Term lookup. A kz_term holds a copy of a dictionary entry. */
#define KZ_TERM_MAX_BYTES 1024 /* 255 code points of UTF-8 and then some */

typedef struct kz_term {
    uint32_t ordinal;   /* position in the sorted dictionary */
    uint32_t df;
    uint64_t cf;
    size_t len;
    char text[KZ_TERM_MAX_BYTES]; /* len bytes, then a NUL */
} kz_term;

/* Exact lookup of an analysed term (a stem). KZ_ENOTFOUND if absent. */
int kz_index_term(kz_index *ix, kz_term *out, const char *term, size_t len);

/* Terms in [*first, *first + *count) of the dictionary start with prefix. */
int kz_index_term_prefix(kz_index *ix, uint32_t *first, uint32_t *count,
                         const char *prefix, size_t len);

/* The ordinal-th term of the dictionary. */
int kz_index_term_at(kz_index *ix, kz_term *out, uint32_t ordinal);

/* Reads a term's postings: docids ascending with their tf; positions
 * (ascending, per document, tf of them) if positions is not NULL.
 * Arrays are malloc'd, the caller's to free. For tests and tools; the query
 * engine reads postings in place. */
int kz_index_postings(kz_index *ix, const kz_term *term,
                      uint32_t **docids, uint32_t **tfs, uint32_t **positions);

/* ------------------------------------------------------------- searching */

typedef enum kz_mode {
    KZ_MODE_AUTO = 0, /* the documents with all words (AND) first, then those with any (OR) */
    KZ_MODE_ALL = 1,  /* AND, no fallback */
    KZ_MODE_ANY = 2   /* OR */
} kz_mode;

#define KZ_SEARCH_OPTIONS_VERSION 3 /* 1: without timeout and max_work; 2: without facets and sorting */

/* A facet: the values of a field among all of a search's matches, each
 * with the number of matching documents that have it (kz_results_facet). */
typedef enum kz_facet_kind {
    KZ_FACET_VALUES = 0, /* the field's keyword values (case-folded) */
    KZ_FACET_YEAR,       /* its dates by year: "2022" */
    KZ_FACET_MONTH,      /* by month: "2022-03" */
    KZ_FACET_DAY         /* by day: "2022-03-01" */
} kz_facet_kind;

typedef struct kz_facet_spec {
    const char *field; /* NUL-terminated; read during kz_query_run only */
    kz_facet_kind kind;
    uint32_t limit;    /* values kept, the most frequent first; 0 = 10 */
} kz_facet_spec;

typedef struct kz_search_options {
    unsigned version;  /* KZ_SEARCH_OPTIONS_VERSION */
    kz_mode mode;
    uint32_t limit;    /* hits wanted; 0 = 10 */
    uint32_t offset;   /* hits skipped before the first returned */
    double k1;         /* BM25 k1; 0 = 1.2 */
    double b;          /* BM25 b; negative = 0.75 (0 is a valid b) */
    unsigned flags;    /* KZ_SEARCH_COUNT_ONLY, KZ_SEARCH_NO_COLLAPSE */
    /* Budgets: a query that would pass either stops with KZ_ETIMEOUT and
     * no results. timeout is in seconds of wall-clock time from the start
     * of kz_query_run, max_work the candidate documents it may look at
     * (each a document some clause matched); 0 means no limit. */
    double timeout;
    uint64_t max_work;
    /* Facets to count over every match (not only the hits shown): n_facets
     * of them, read during kz_query_run only. */
    const kz_facet_spec *facets;
    size_t n_facets;
    /* Hits ordered by a date field (its latest date in a document, by
     * day), or by a number field when the index has no dates in it (its
     * greatest number in a document); documents without one last; then
     * by score, then by docid. NULL: by score. Read during kz_query_run
     * only. */
    const char *sort_field;
    int sort_descending; /* newest first */
} kz_search_options;

/* Count the matches (kz_results_total) and rank nothing: no hits. */
#define KZ_SEARCH_COUNT_ONLY 1u
/* Do not collapse near-duplicates. By default a hit whose text is a
 * near-duplicate of a better hit's (README "Near-duplicates": SimHash
 * fingerprints at most 6 of 64 bits apart) is not a hit of its own but is
 * listed under that hit (kz_results_similar); the hits after it move up. */
#define KZ_SEARCH_NO_COLLAPSE 2u
/* Collapsing walks the start of the ranking in rounds (kz_collapse_round):
 * the first ranks matches as far as the page's end plus max(a quarter of
 * it, this), but for a page of at most four times this, ranks matches
 * without every word only as far as the page's end. */
#define KZ_COLLAPSE_MARGIN 5u

#define KZ_SEARCH_OPTIONS_INIT { KZ_SEARCH_OPTIONS_VERSION, KZ_MODE_AUTO, 10, 0, 1.2, 0.75, 0, 0, 0, NULL, 0, NULL, 0 }

typedef struct kz_hit {
    uint32_t docid;
    double score;
} kz_hit;

typedef struct kz_results kz_results;
typedef struct kz_query kz_query;

/* Where a query's syntax is wrong: column counts characters from 1 (an
 * invalid UTF-8 byte counts as one character, U+FFFD); byte is the offset
 * in the query after such bytes were replaced by U+FFFD (the caller's
 * offset when the query is valid UTF-8). */
typedef struct kz_syntax_error {
    uint32_t column;
    size_t byte;
    char message[200];
} kz_syntax_error;

#define KZ_QUERY_PLAIN 1u   /* no operators: every word is a plain term */
#define KZ_QUERY_LENIENT 2u /* a syntax error outside a field clause: read as KZ_QUERY_PLAIN, with a note */
#define KZ_QUERY_NO_VARIANTS 4u /* a word is not also searched in its other script's spellings */
#define KZ_QUERY_SUGGEST 8u     /* words the index lacks get the nearest it has (kz_query_suggestion) */

/* Parses a query against an index (README "Query language"): words,
 * "quoted phrases", OR, AND, NOT, parentheses, +word, -word, prefix*.
 * Words are analysed as the index analyses text; a prefix expands to the
 * dictionary's terms that start with it. On KZ_ESYNTAX, err (if not NULL)
 * says where. With KZ_QUERY_LENIENT, a query whose error is not in a field
 * clause's value (an unclosed quote or parenthesis, a dangling OR) is read
 * as plain words instead, and a note (kz_query_note) says why. In an index
 * with Cyrillic terms, a word also finds its spellings in the other script
 * that the index has (Tokayev, Tokaev, Токаев; README "Spelling
 * variants"), with a note "also searched: ...", unless KZ_QUERY_NO_VARIANTS. *out is the caller's (kz_query_free) and must not outlive
 * ix. text may hold invalid UTF-8. */
int kz_query_parse(kz_query **out, kz_index *ix, const char *text, size_t len, unsigned flags,
                   kz_syntax_error *err);
void kz_query_free(kz_query *q);
/* Notes for the user about how the query was read ("russ* matches 900
 * terms; searching the 256 most frequent"); owned by q. */
size_t kz_query_note_count(const kz_query *q);
const char *kz_query_note(const kz_query *q, size_t i);
/* Equivalent words and names that queries expand (README "Spelling
 * variants"): a UTF-8 text of lines, each a group of entries separated by
 * commas ("Tokayev, Токаев, Kasym-Jomart Tokayev"); # starts a comment.
 * KZ_ESYNTAX names the file and line of the first fault (an empty entry,
 * a group of one, bytes that are not UTF-8). *out is the caller's. */
typedef struct kz_synonyms kz_synonyms;
int kz_synonyms_load(kz_synonyms **out, const char *path);
int kz_synonyms_parse(kz_synonyms **out, const char *text, size_t len, const char *name);
void kz_synonyms_free(kz_synonyms *s);
/* From now on, a query word whose term is that of a one-word entry also
 * searches the other entries of its groups (a phrase for one of several
 * words, at most 3), with a note. Each entry is analysed as the index
 * analyses text: KZ_ESYNTAX naming the line of one without words. ix
 * keeps what it needs (s may be freed); call it before searching from
 * several threads. NULL removes them. */
int kz_index_set_synonyms(kz_index *ix, const kz_synonyms *s);

/* With KZ_QUERY_SUGGEST: the query with each plain word the index lacks
 * replaced by the nearest term it has (kz_fuzzy edits, the most frequent
 * first), "did you mean"; NULL when no word was replaced. Owned by q. */
const char *kz_query_suggestion(const kz_query *q);

/* Runs a parsed query and ranks its matches by BM25:
 * idf(t) = ln(1 + (N - df + 0.5)/(df + 0.5)),
 * w(t,d) = idf * tf / (tf + k1*((1 - b) + b*dl/avgdl)), a document's score
 * the sum of w over the query's scoring units (distinct terms and phrases
 * not excluded) that it holds, in query order; a phrase's tf is its number
 * of occurrences and its idf the sum of its terms'. Ties go to the lower
 * docid. *out is the caller's (kz_results_free) and does not refer to q. */
int kz_query_run(kz_results **out, kz_query *q, const kz_search_options *opts);

/* Several indexes on several machines searched as one index (README
 * "Shards across machines"), in two steps, as Elasticsearch's DFS
 * query-then-fetch does:
 *
 *  1. Every machine gathers what the query asks of its index
 *     (kz_stats_gather); the coordinator sums them, in the machines'
 *     order (kz_stats_merge), and sends the sum back (kz_stats_encode,
 *     kz_stats_decode).
 *  2. Every machine parses the query against the sum
 *     (kz_query_parse_global) and runs it with KZ_SEARCH_NO_COLLAPSE,
 *     offset 0 and limit offset + limit (or more, to collapse); the
 *     coordinator sorts the hits of every machine as one ranking
 *     (kz_results_ranked, kz_ranked_cmp) and collapses near-duplicates
 *     (kz_ranked_collapse). Totals and facet counts add up.
 *
 * The hits, scores, totals and facets are then those of one index of
 * every machine's documents, its docids numbered machine after machine
 * (kz_index_open_many of the same indexes in the same order). */
typedef struct kz_stats kz_stats;

/* Step 1 on one machine: N, the sum of lengths, the docids, the language
 * and every answer ix's dictionary gives to the query text (as
 * kz_query_parse with flags would read it; sort_field NULL or the field
 * kz_search_options will sort by). *out is the caller's (kz_stats_free);
 * KZ_ESYNTAX with err as kz_query_parse. */
int kz_stats_gather(kz_stats **out, kz_index *ix, const char *text, size_t len, unsigned flags,
                    const char *sort_field, kz_syntax_error *err);
/* An empty sum, to kz_stats_merge each machine's into in order. */
int kz_stats_new(kz_stats **out);
/* Adds part to sum: N, lengths and dfs add up, docids follow. KZ_EINVAL
 * when they were analysed differently (language or analyzer version). On
 * error sum is unchanged. */
int kz_stats_merge(kz_stats *sum, const kz_stats *part);
/* A text form (*out NUL-terminated, the caller's to free()) and back:
 * KZ_ESYNTAX when text is not one, whole. *out is the caller's. */
int kz_stats_encode(const kz_stats *s, char **out, size_t *len);
int kz_stats_decode(kz_stats **out, const char *text, size_t len);
uint64_t kz_stats_docs(const kz_stats *s);   /* N */
uint64_t kz_stats_docids(const kz_stats *s); /* docids, deleted ones among them */
uint64_t kz_stats_tokens(const kz_stats *s); /* the sum of the documents' lengths */
void kz_stats_free(kz_stats *s);

/* Step 2: kz_query_parse with every dictionary answer from global (the
 * sum of step 1 for this text and flags), and kz_query_run scoring with
 * its N, avgdl and dfs. global must outlive *out. */
int kz_query_parse_global(kz_query **out, kz_index *ix, const char *text, size_t len, unsigned flags,
                          const kz_stats *global, kz_syntax_error *err);

/* A hit as the coordinator ranks it among every machine's. */
#define KZ_NO_SORT_KEY 0
typedef struct kz_ranked {
    double score;
    uint64_t docid;       /* in the whole: the docids of the machines before, plus its own */
    uint64_t sort_key;    /* sorted by a field: its key there, ordered as its dates or numbers
                             (KZ_NO_SORT_KEY: none, or not sorted) */
    int all_words;        /* among the AND matches that AUTO ranks first (or every match in AND mode) */
    uint64_t fingerprint; /* its text's SimHash; 0: none */
} kz_ranked;

/* Hit i of r (run with KZ_SEARCH_NO_COLLAPSE) of ix, whose docids start
 * at docid_base in the whole. */
int kz_results_ranked(kz_ranked *out, kz_index *ix, const kz_results *r, size_t i, uint64_t docid_base);
/* The order kz_query_run with o ranks in (its sort field and direction):
 * negative when a comes first. */
int kz_ranked_cmp(const kz_ranked *a, const kz_ranked *b, const kz_search_options *o);
/* Whether AUTO mode ranks q's AND matches first and then its OR matches,
 * unsorted; else AUTO gives the AND matches, or the OR matches when there
 * are none. */
int kz_query_and_first(const kz_query *q);
/* Round `round` (0, 1, ...) of collapsing for a page ending at want
 * (offset + limit): *fetch, how many hits each ranking must hold, and
 * *fill, how far matches without every word are walked (want in round 0
 * when want is at most 4 KZ_COLLAPSE_MARGIN; else, and after, *fetch,
 * which grows four times a round). A round walks the first
 * kz_collapse_window hits of the ranking. kz_query_run goes on to the next
 * round while the groups leave the page short and the window left some
 * matches out; a coordinator merging machines' rankings must do the same
 * to give the same similar documents. */
void kz_collapse_round(uint64_t *fetch, uint64_t *fill, uint64_t want, unsigned round);
/* The number of hits at the start of a ranking (AND matches first, as
 * kz_ranked_cmp orders them) that a round with fetch and fill walks, when
 * total documents match, total_all_words of them with every word:
 * min(total, max(fill, min(total_all_words, fetch))). */
uint64_t kz_collapse_window(uint64_t fetch, uint64_t fill, uint64_t total, uint64_t total_all_words);
/* Near-duplicates of the sorted v, as kz_query_run groups them: group[i]
 * (room for n) is the index of v[i]'s leader, i itself for a leader;
 * *n_leaders the number of groups. */
int kz_ranked_collapse(uint32_t *group, size_t *n_leaders, const kz_ranked *v, size_t n);
/* Results of the given hits of q (docids of ix), in that order, for
 * snippets, highlights and explanations (kz_results_explain) as a search
 * with opts would give them: no total, no facets. *out is the caller's. */
int kz_query_results_of(kz_results **out, kz_query *q, const kz_search_options *opts, const kz_hit *hits,
                        size_t n);

/* kz_query_parse then kz_query_run. */
int kz_search(kz_results **out, kz_index *ix, const char *query, size_t len,
              const kz_search_options *opts);
void kz_results_free(kz_results *r);
/* Hits returned (at most limit), and the hits there are in all. */
size_t kz_results_count(const kz_results *r);
uint64_t kz_results_total(const kz_results *r);
/* Facet f (in kz_search_options.facets order): its values, the most
 * documents first, then by value; at most the facet's limit. Counts are
 * exact over every live match. The strings are owned by r (not
 * NUL-terminated: len bytes). */
size_t kz_results_facet_count(const kz_results *r, size_t facet);
const char *kz_results_facet_value(const kz_results *r, size_t facet, size_t i, size_t *len, uint64_t *docs);
const kz_hit *kz_results_hit(const kz_results *r, size_t i);
/* The near-duplicates collapsed into hit i (0 with KZ_SEARCH_NO_COLLAPSE),
 * and the j-th of them, best first (docid and its own BM25 score; owned by
 * r). They are found among the best ranked matches, at least offset +
 * limit + 10 of them: a near-duplicate ranked far below its hit may be
 * missed. kz_results_total still counts every match, collapsed or not. */
size_t kz_results_similar_count(const kz_results *r, size_t i);
const kz_hit *kz_results_similar(const kz_results *r, size_t i, size_t j);
/* Documents collapsed into the returned hits: the sum of their
 * kz_results_similar_count. */
uint64_t kz_results_collapsed(const kz_results *r);
/* The mode that produced the hits: KZ_MODE_ALL when every match has
 * every word, KZ_MODE_ANY when some match has only some (OR mode, or AUTO
 * beyond its AND matches). */
kz_mode kz_results_mode(const kz_results *r);
/* How many matches have every word (match in AND mode). In AUTO mode they
 * rank first: hits at ranks below this number (counting kz_search_options
 * offset) have every word, the rest only some. 0 in OR mode; the total in
 * AND mode. Sorted by a field, AUTO falls back to OR only when no document
 * has every word, and this is then 0. */
uint64_t kz_results_total_all_words(const kz_results *r);
/* The rank boundary of the above once near-duplicates are collapsed: hits
 * at ranks below this number (counting offset) have every word. Equal to
 * kz_results_total_all_words with KZ_SEARCH_NO_COLLAPSE. */
uint64_t kz_results_all_words_hits(const kz_results *r);
/* Distinct analysed terms of the scoring units, in query order (stems,
 * NUL-terminated, owned by r). */
size_t kz_results_term_count(const kz_results *r);
const char *kz_results_term(const kz_results *r, size_t i);

/* A scoring unit: a term, or a phrase of n_terms terms. */
typedef struct kz_unit {
    size_t n_terms;
    const char *const *terms; /* stems, owned by the results */
    double idf;               /* 0 if a term is not in the index */
} kz_unit;

size_t kz_results_unit_count(const kz_results *r);
const kz_unit *kz_results_unit(const kz_results *r, size_t i);

/* Why a hit scored what it did: per unit (as kz_results_unit), tf and w. */
typedef struct kz_explain_unit {
    double idf;
    uint32_t tf;   /* occurrences in the document, 0 if absent */
    double weight; /* w(t,d), 0 if absent */
} kz_explain_unit;

typedef struct kz_explanation {
    uint32_t docid;
    uint32_t dl;
    double avgdl, k1, b;
    double score;  /* the sum of the weights in unit order: the hit's score */
    size_t n_units;
    kz_explain_unit *units; /* owned; kz_explanation_free */
} kz_explanation;

int kz_results_explain(kz_explanation *out, kz_index *ix, const kz_results *r, size_t hit);
void kz_explanation_free(kz_explanation *x);

/* A highlighted passage: [start, end) of the document's text, and the
 * spans of matched tokens inside it (offsets into the text). */
typedef struct kz_span {
    size_t start, end;
} kz_span;

typedef struct kz_snippet {
    size_t start, end;     /* the passage */
    int cut_before, cut_after; /* the passage does not start/end the text */
    kz_span *marks;        /* owned by the snippet */
    size_t n_marks;
} kz_snippet;

/* Snippets and highlights look for matches in the first
 * KZ_SNIPPET_SCAN_BYTES of a text, so that huge documents answer fast: a
 * caller may pass kz_index_doc_text_prefix() of that many bytes plus the
 * passage's length. */
#define KZ_SNIPPET_SCAN_BYTES (4u << 20)

/* Chooses the passage of about max_chars characters of text (len bytes)
 * that best shows why r matched (README "Snippets"): the window with the
 * largest sum of idf of the distinct scoring units it holds, then the most
 * matches right after the previous unit's, then the most matches, then (of
 * several) the shortest, then the earliest; widened to start on a
 * sentence or word boundary and end on a word boundary. Marks are the
 * matches inside it: query terms as written, and whole phrase occurrences.
 * Without any match it is the beginning of the text. Matches are looked
 * for in the first 4 MiB of the text, so that huge documents answer fast.
 * kz_snippet_free() frees the marks. */
int kz_snippet_make(kz_snippet *out, kz_index *ix, const kz_results *r,
                    const char *text, size_t len, size_t max_chars);
/* Up to max_fragments passages (out has room for them), chosen best first
 * among the matches the earlier ones left out, returned in text order;
 * *n_out of them are filled, each to be freed with kz_snippet_free(). */
int kz_snippets_make(kz_snippet *out, size_t *n_out, size_t max_fragments, kz_index *ix,
                     const kz_results *r, const char *text, size_t len, size_t max_chars);
/* Every match of r's scoring units in text (a title, say; its first 4 MiB)
 * as byte spans in text order. *out is malloc'd, the caller's to free. */
int kz_highlight(kz_span **out, size_t *n_out, kz_index *ix, const kz_results *r,
                 const char *text, size_t len);
/* kz_snippets_make and kz_highlight for document docid's text (or title,
 * with title set), as kz_index_doc_text (or kz_index_doc_get) gives it:
 * the same passages and marks, made faster. The index's positions of the
 * query's terms in the document say which tokens can match, and only
 * those are stemmed; the rest is only split into tokens. The text must be
 * that document's. */
int kz_snippets_make_doc(kz_snippet *out, size_t *n_out, size_t max_fragments, kz_index *ix,
                         const kz_results *r, uint32_t docid, const char *text, size_t len,
                         size_t max_chars);
/* kz_snippets_make_doc with the text's marks (kz_index_doc_text_marked;
 * NULL or none: as kz_snippets_make_doc): the same passages, with only
 * the text around the places of the query's terms analysed, and of those
 * only where a window could beat the best one found (README "Snippets"). */
int kz_snippets_make_marked(kz_snippet *out, size_t *n_out, size_t max_fragments, kz_index *ix,
                            const kz_results *r, uint32_t docid, const char *text, size_t len,
                            const kz_text_marks *marks, size_t max_chars);
int kz_highlight_doc(kz_span **out, size_t *n_out, kz_index *ix, const kz_results *r, uint32_t docid,
                     int title, const char *text, size_t len);
void kz_snippet_free(kz_snippet *s);

/* ------------------------------------------------------------- analysis */

/* Analyses text as the index does a document's and calls fn for each
 * token with the stem and the byte span in text. With language "auto" (or
 * NULL) that includes the document's language: a text whose Cyrillic
 * words hold letters outside the Russian alphabet often enough (Kazakh,
 * Ukrainian) keeps its words of the Russian alphabet unstemmed, as the
 * index keeps such a document's (README "Analysis"). For the CLI's
 * "analyze" command and for tests. */
typedef void (*kz_token_fn)(void *ctx, const char *stem, size_t stem_len,
                            size_t start, size_t end);
int kz_analyze(const char *language, const char *text, size_t len,
               kz_token_fn fn, void *ctx);

/* The default index folder: $KZSEARCH_INDEX if set, else
 * $XDG_DATA_HOME/kzsearch/index, else ~/.local/share/kzsearch/index.
 * Returns a malloc'd string, the caller's to free, or NULL. */
char *kz_default_index_dir(void);

#ifdef __cplusplus
}
#endif
#endif
