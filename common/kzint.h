/*
 * kzint.h: the private interface between kzsearch's source files.
 *
 * One section per file, headed "Interface to code in <file>", in the way of
 * SQLite's fts5Int.h. Code in one file reaches another only through these
 * sections; everything else is static. The public API is include/kzsearch.h.
 */
#ifndef KZINT_H
#define KZINT_H

#include "kzsearch.h"

#include <roaring/roaring.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define KZ_UNUSED(x) ((void)(x))
#define KZ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KZ_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Byte order of two strings, a shorter one before its extensions: the
 * order of the dictionary, of run files and of the merge. */
static inline int kz_bytes_cmp(const void *a, size_t la, const void *b, size_t lb)
{
    size_t n = la < lb ? la : lb;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return la < lb ? -1 : la > lb;
}

#if defined(__GNUC__)
#define KZ_LIKELY(x) __builtin_expect(!!(x), 1)
#define KZ_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define KZ_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define KZ_LIKELY(x) (x)
#define KZ_UNLIKELY(x) (x)
#define KZ_PRINTF(f, a)
#endif

/**************************************************************************
** Interface to code in common/error.c
*/

/* Records a message for kz_last_error() in this thread and returns code. */
int kz_error_set(int code, const char *fmt, ...) KZ_PRINTF(2, 3);
/* Same, appending ": strerror(errno_value)". */
int kz_error_errno(int code, int errno_value, const char *fmt, ...) KZ_PRINTF(3, 4);
void kz_error_clear(void);

/**************************************************************************
** Interface to code in common/date.c
*/

typedef enum kz_date_precision {
    KZ_DATE_MONTH = 1, /* 2022-03 */
    KZ_DATE_DAY,       /* 2022-03-01 */
    KZ_DATE_SECOND     /* with a time of day */
} kz_date_precision;

typedef struct kz_date {
    int64_t seconds; /* since 1970-01-01T00:00:00Z (the month's first day at month precision) */
    int year;        /* the UTC date of seconds */
    unsigned month, day;
    kz_date_precision precision;
} kz_date;

/* Parses a date of news metadata or of a query (the forms date.c lists):
 * 0, or -1 when text is not one. */
int kz_date_parse(const char *text, size_t len, kz_date *out);
/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t kz_days_from_civil(int y, unsigned m, unsigned d);
void kz_civil_from_days(int64_t days, int *y, unsigned *m, unsigned *d);

/**************************************************************************
** Interface to code in common/buf.c
**
** kz_buf is a growable byte buffer. Zero-initialised is empty and valid.
** Functions that grow it return KZ_OK or KZ_ENOMEM (with a message set).
*/
typedef struct kz_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} kz_buf;

int kz_buf_reserve(kz_buf *b, size_t extra);
int kz_buf_append(kz_buf *b, const void *data, size_t len);
int kz_buf_append_u8(kz_buf *b, uint8_t v);
int kz_buf_append_u32(kz_buf *b, uint32_t v); /* little-endian */
int kz_buf_append_u64(kz_buf *b, uint64_t v); /* little-endian */
int kz_buf_append_varint(kz_buf *b, uint64_t v);
int kz_buf_printf(kz_buf *b, const char *fmt, ...) KZ_PRINTF(2, 3);
/* Appends a NUL without counting it in len, so data is a C string. */
int kz_buf_terminate(kz_buf *b);
void kz_buf_free(kz_buf *b);

/* Loads and stores at any alignment, in the host's byte order, which must
 * be the file's: little-endian. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "kzsearch's index format is little-endian; big-endian hosts are not supported"
#endif
/* Set bits of v. Baseline x86-64 has no popcnt instruction, and
 * __builtin_popcountll then calls libgcc; this inlines the same SWAR sum. */
static inline unsigned kz_popcount64(uint64_t v)
{
#ifdef __POPCNT__
    return (unsigned)__builtin_popcountll(v);
#else
    v = v - ((v >> 1) & 0x5555555555555555ull);
    v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
    v = (v + (v >> 4)) & 0x0F0F0F0F0F0F0F0Full;
    return (unsigned)((v * 0x0101010101010101ull) >> 56);
#endif
}

static inline uint16_t kz_load_u16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t kz_load_u32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t kz_load_u64(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline double kz_load_f64(const void *p) { double v; memcpy(&v, p, 8); return v; }
static inline void kz_store_u16(void *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void kz_store_u32(void *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void kz_store_u64(void *p, uint64_t v) { memcpy(p, &v, 8); }
static inline void kz_store_f64(void *p, double v) { memcpy(p, &v, 8); }

/* LEB128 varint. kz_varint_put writes at most 10 bytes and returns the
 * number written. kz_varint_get reads from [*p, end): on success advances *p
 * and returns 0; on a truncated or over-long varint returns -1 and leaves *p. */
static inline size_t kz_varint_put(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

static inline int kz_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    const uint8_t *q = *p;
    uint64_t v = 0;
    unsigned shift = 0;
    while (q < end) {
        uint8_t byte = *q++;
        if (shift == 63 && byte > 1)
            return -1;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *p = q;
            *out = v;
            return 0;
        }
        shift += 7;
        if (shift > 63)
            return -1;
    }
    return -1;
}

/* Fast path for the common one-byte varint; falls back to kz_varint_get. */
static inline int kz_varint_get32(const uint8_t **p, const uint8_t *end, uint32_t *out)
{
    if (KZ_LIKELY(*p < end && **p < 0x80)) {
        *out = *(*p)++;
        return 0;
    }
    uint64_t v;
    if (kz_varint_get(p, end, &v) != 0 || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/**************************************************************************
** Interface to code in common/util.c
*/

/* Monotonic clock in seconds. */
double kz_now(void);
/* Peak resident set size of this process in bytes (0 if unknown). */
uint64_t kz_peak_rss(void);
/* Writes all of buf to fd, retrying on EINTR and short writes. */
int kz_write_all(int fd, const void *buf, size_t len, const char *path);
/* fwrite of all of data, or KZ_EIO naming path. */
int kz_fwrite_all(FILE *f, const void *data, size_t len, const char *path);
/* Creates dir and its parents (mode 0755). */
int kz_mkdir_p(const char *dir);
/* fsyncs a folder, so that a rename or a new file in it lasts. */
int kz_fsync_dir(const char *dir);

/**************************************************************************
** Interface to code in indexer/utf8.c
*/

/* Returns the number of invalid UTF-8 sequences in [s, s+len), 0 if valid.
 * Overlong forms, surrogates and code points above U+10FFFF are invalid. */
size_t kz_utf8_count_invalid(const char *s, size_t len);

/* Writes to out a copy of [s, s+len) with every maximal invalid sequence
 * replaced by U+FFFD (the W3C/Unicode "maximal subpart" rule). Returns the
 * number of replacements, or (size_t)-1 on ENOMEM. out is reset first. */
size_t kz_utf8_sanitize(kz_buf *out, const char *s, size_t len);

/**************************************************************************
** Interface to code in indexer/analyzer.c
**
** The analysis that documents and queries share (README "Analysis"):
** fold (NFKD, full case folding, NFKD, strip M*, NFC), split into maximal
** runs of L* and N* joined by inner apostrophes, drop tokens longer than
** 255 code points, stem with Snowball.
**
** An analyzer interns every distinct stem it produces and gives it a dense
** id (0, 1, 2, ...) so that callers can index arrays by it. It is not
** thread-safe: use one per thread.
*/
typedef struct kz_analyzer kz_analyzer;

typedef struct kz_token {
    uint32_t term;  /* interned stem id, see kz_analyzer_term() */
    uint32_t start; /* byte offset of the token's first character in the input */
    uint32_t end;   /* byte offset just past its last character */
} kz_token;

typedef struct kz_tokvec {
    kz_token *v;
    size_t len;
    size_t cap;
} kz_tokvec;

void kz_tokvec_free(kz_tokvec *tv);

#define KZ_MAX_TOKEN_CODEPOINTS 255
#define KZ_ANALYZER_VERSION 3

/* Creates an analyzer: "auto" (or NULL) chooses each word's stemmer by its
 * script (README "Analysis"); a Snowball language ("english", "russian",
 * ...) stems every word with that one. *out is the caller's to free with
 * kz_analyzer_free(). KZ_EINVAL with a message listing the languages when
 * the language is unknown. */
int kz_analyzer_new(kz_analyzer **out, const char *language);
/* For the documents that follow: whether words of the Russian alphabet are
 * stemmed as Russian (the default), or left unstemmed because the document
 * is in another Cyrillic language (Kazakh, Ukrainian: README "Analysis").
 * Only the language "auto" stems by script; others ignore this. */
void kz_analyzer_set_russian(kz_analyzer *a, int stem);
/* Whether a document's language (a lang field's value: "kk", "uk-UA",
 * "kaz") is a Cyrillic one other than Russian. */
int kz_language_is_other_cyrillic(const char *lang, size_t len);
/* Whether a document without a lang field reads as a Cyrillic language
 * other than Russian: of the Cyrillic words of its title and the first
 * KZ_DETECT_BYTES of its text, at least one in ten holds a letter outside
 * the Russian alphabet (Kazakh ә қ ң і, Ukrainian і ї є, ...). */
#define KZ_DETECT_BYTES (64u << 10)
int kz_text_other_cyrillic(const char *title, size_t title_len, const char *text, size_t text_len);
/* Whether a document is in a Cyrillic language other than Russian, so that
 * its words of the Russian alphabet are not stemmed: by its lang field
 * when it has one (the last), else by its letters. The builder and check
 * decide it alike. */
int kz_doc_other_cyrillic(const kz_doc_field *meta, size_t n_meta, const char *title, size_t title_len,
                          const char *text, size_t text_len);
/* Whether kz_analyzer_new() accepts language ("auto", a Snowball name or
 * alias). */
int kz_analyzer_language_known(const char *language);
void kz_analyzer_free(kz_analyzer *a);
/* Makes a fold and split but not stem: a query's prefix (russ*) is
 * matched against the beginnings of stems, so it must not be stemmed
 * itself. Forgets what the analyzer interned. */
void kz_analyzer_fold_only(kz_analyzer *a);

/* Analyzes [text, text+len), which must be valid UTF-8 (see
 * kz_utf8_sanitize) and shorter than 4 GiB. Appends one kz_token per kept
 * token to out, in text order. Returns KZ_OK or KZ_ENOMEM. */
int kz_analyzer_run(kz_analyzer *a, const char *text, size_t len, kz_tokvec *out);
/* The term of a token kz_analyzer_run_some did not stem: no stem's id. */
#define KZ_TERM_UNSTEMMED (UINT32_MAX - 1)
/* kz_analyzer_run, stemming only the tokens at indexes stem_at[0..n) of
 * this run's (ascending; NULL for none): every other token is split and
 * placed as kz_analyzer_run places it, with the term KZ_TERM_UNSTEMMED.
 * (Tokens of more than 22 bytes are stemmed anyway: whether one is kept
 * depends on its stem.) Snippets stem only the tokens the index has at
 * the positions of the query's terms. The run ends after the last token
 * asked for. */
int kz_analyzer_run_some(kz_analyzer *a, const char *text, size_t len, const uint32_t *stem_at, size_t n_stem_at,
                         kz_tokvec *out);

/* The stem bytes of an interned id (not NUL-terminated). The pointer stays
 * valid until kz_analyzer_reset() or kz_analyzer_free(). */
const char *kz_analyzer_term(const kz_analyzer *a, uint32_t term, size_t *len);
/* Sets *term to the id of the bytes [s, s+len), interned as a stem is
 * (the terms of metadata fields go through the inverter so). */
int kz_analyzer_intern(kz_analyzer *a, const char *s, size_t len, uint32_t *term);
/* Number of interned stems: ids are 0 .. count-1. */
uint32_t kz_analyzer_term_count(const kz_analyzer *a);
/* Bytes of heap held by the caches and interned stems. */
size_t kz_analyzer_memory(const kz_analyzer *a);
/* Forgets every interned stem and cached fold; ids restart at 0. */
void kz_analyzer_reset(kz_analyzer *a);

/**************************************************************************
** Interface to code in indexer/simhash.c
**
** A document's near-duplicate fingerprint (FORMAT.md "SIMHASH"): the
** SimHash of the shingles of its text's terms (not the title's).
*/
#define KZ_SIMHASH_SHINGLE 3   /* terms a shingle */
#define KZ_SIMHASH_NONE 0      /* no fingerprint: a text without terms */
#define KZ_SIMHASH_DISTANCE 6  /* at most this many bits apart: near-duplicates (README "Near-duplicates") */
/* The hash of one term's stem bytes, as kz_simhash takes it. */
uint64_t kz_simhash_term(const char *term, size_t len);
/* The fingerprint of a text of n terms, given their kz_simhash_term
 * hashes in text order; KZ_SIMHASH_NONE when n is 0 (never otherwise). */
uint64_t kz_simhash(const uint64_t *terms, size_t n);
/* Whether two fingerprints mark near-duplicates: both present and at most
 * KZ_SIMHASH_DISTANCE bits apart. */
int kz_simhash_similar(uint64_t a, uint64_t b);

/**************************************************************************
** Interface to code in indexer/jsonl.c
**
** Parses one JSON Lines record into a document. Decoded strings live in the
** parser's scratch space and stay valid until the next kz_jsonl_parse() or
** kz_jsonl_parser_free().
*/
typedef struct kz_jsonl_parser kz_jsonl_parser;

typedef struct kz_meta {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} kz_meta;

typedef struct kz_jsonl_doc {
    const char *id;
    size_t id_len;
    const char *title; /* "" when the record has no title */
    size_t title_len;
    const char *text;    /* NULL when a JSON record has html instead */
    size_t text_len;
    const char *html;    /* a JSON record's "html" (a page to extract), else NULL */
    size_t html_len;
    const kz_meta *meta; /* other fields, in record order */
    size_t n_meta;
    unsigned n_dropped_fields; /* metadata fields of unusable type (null, object, nested array) */
    unsigned n_repeated_keys;  /* later occurrences of a key already in the record */
    const char *repeated_key;  /* the first key repeated (not NUL-terminated), or NULL */
    size_t repeated_key_len;
    unsigned n_lone_surrogates; /* \u escapes of half a surrogate pair, decoded as U+FFFD */
} kz_jsonl_doc;

int kz_jsonl_parser_new(kz_jsonl_parser **out);
void kz_jsonl_parser_free(kz_jsonl_parser *p);

/* Parses one line (without its newline). Returns
 *   KZ_OK        and fills *out;
 *   KZ_ESYNTAX   the line is not one JSON object (message names the column);
 *   KZ_EFIELD    id or text (or html) missing or of the wrong type (message names it);
 *   KZ_ENOMEM.
 * Strings may hold any bytes the line held, invalid UTF-8 included; \u
 * escapes are decoded, a lone surrogate becoming U+FFFD (and counted). */
int kz_jsonl_parse(kz_jsonl_parser *p, const char *line, size_t len, kz_jsonl_doc *out);

/**************************************************************************
** Interface to code in store/file.c
**
** The index file as checksummed sections (FORMAT.md). A kz_fwriter writes
** one; a kz_file maps one and verifies each 8 KiB chunk on first use.
*/
typedef struct kz_section_entry {
    uint32_t id;
    uint64_t offset;
    uint64_t length;
    uint64_t chunk_first; /* index of its first chunk checksum */
    uint64_t checksum;    /* XXH3-64 of the whole section */
} kz_section_entry;

typedef struct kz_fwriter kz_fwriter;

/* Creates (truncates) path. *out is the caller's: kz_fwriter_finish() then
 * kz_fwriter_abort() to free, or kz_fwriter_abort() alone to give up. */
int kz_fwriter_open(kz_fwriter **out, const char *path);
int kz_fwriter_begin(kz_fwriter *w, uint32_t section_id);
int kz_fwriter_write(kz_fwriter *w, const void *data, size_t len);
/* Bytes written so far to the open section. */
uint64_t kz_fwriter_section_size(const kz_fwriter *w);
int kz_fwriter_end(kz_fwriter *w);
/* Writes checksums, section table, trailer and header; fsyncs; closes. */
int kz_fwriter_finish(kz_fwriter *w, uint64_t *file_size);
/* Frees the writer (closing the file if still open); the file stays. */
void kz_fwriter_abort(kz_fwriter *w);

typedef struct kz_file kz_file;

/* Maps path and checks header, trailer, section table and chunk checksum
 * table. KZ_ENOTFOUND, KZ_EIO, KZ_ECORRUPT or KZ_EVERSION with a message. */
int kz_file_open(kz_file **out, const char *path);
void kz_file_close(kz_file *f);
/* Start and length of a section. The bytes are NOT verified: call
 * kz_file_verify() on a range before reading it. */
const uint8_t *kz_file_section(const kz_file *f, uint32_t id, uint64_t *len);
const kz_section_entry *kz_file_entry(const kz_file *f, uint32_t id);
/* Verifies the chunks covering [off, off+len) of a section (once each, cached).
 * KZ_ECORRUPT if out of bounds or a checksum does not match. Thread-safe. */
int kz_file_verify(kz_file *f, uint32_t id, uint64_t off, uint64_t len);
/* Whether every chunk of the section has been verified (by a
 * kz_file_verify of all of it): its bytes may be read without asking. */
int kz_file_verified_whole(const kz_file *f, uint32_t id);
/* Verifies every section checksum and chunk; reports each fault. */
int kz_file_verify_all(kz_file *f, kz_check_fn fn, void *ctx, unsigned *faults);
/* Lets go of the file's pages this process holds (madvise DONTNEED). */
void kz_file_release(kz_file *f);
uint64_t kz_file_size(const kz_file *f);
uint64_t kz_file_created(const kz_file *f);
uint32_t kz_file_version(const kz_file *f);
const char *kz_section_name(uint32_t id);

/**************************************************************************
** Interface to code in store/postings.c
**
** A term's posting blob (FORMAT.md "Postings"): a CRoaring portable bitmap
** of docids read in place, tf bytes, a block table with score bounds, and
** delta-coded positions.
*/
typedef struct kz_posting_input {
    const uint32_t *docids;  /* ascending */
    const uint32_t *tfs;
    const uint8_t *pos;      /* per posting, tf varints: first position, then gap-1 */
    const uint64_t *pos_off; /* start of each posting's positions in pos; df+1 entries */
    uint32_t df;
    const uint32_t *doc_lengths; /* dl by docid, for the bounds */
    double avgdl;
} kz_posting_input;

/* Appends the blob for one term to out (a kz_postings_writer fed from
 * memory). */
int kz_postings_encode(kz_buf *out, const kz_posting_input *in);

/* Takes len bytes of output; returns KZ_OK or an error with its message. */
typedef int (*kz_sink_fn)(void *ctx, const void *data, size_t len);

/* Writes blobs term by term from streamed postings, in memory a few bits a
 * posting plus at most spill_at bytes of coded positions: past that they
 * go to spill_fd (an open, writable and readable file the writer owns
 * from offset 0; -1 keeps them in memory). doc_lengths must outlive the
 * writer. */
typedef struct kz_postings_writer kz_postings_writer;
int kz_postings_writer_new(kz_postings_writer **out, const uint32_t *doc_lengths, double avgdl, int spill_fd,
                           uint64_t spill_at);
/* Adds the term's next posting: docid above the previous one, tf >= 1, and
 * its tf positions as the first, then each gap minus one (copied). */
int kz_postings_writer_add(kz_postings_writer *w, uint32_t docid, uint32_t tf, const uint32_t *pos);
/* Postings added to the current term. */
uint64_t kz_postings_writer_df(const kz_postings_writer *w);
/* Writes the term's blob to sink, sets *blob_len to its length, and makes
 * the writer ready for the next term, also on failure. */
int kz_postings_writer_finish(kz_postings_writer *w, kz_sink_fn sink, void *ctx, uint64_t *blob_len);
void kz_postings_writer_free(kz_postings_writer *w);

enum { KZ_CONTAINER_ARRAY = 1, KZ_CONTAINER_BITSET = 2, KZ_CONTAINER_RUN = 3 };

typedef struct kz_container {
    uint32_t base;     /* key << 16 */
    uint32_t card;
    uint32_t ord_base; /* ordinal of its first posting */
    uint32_t type;     /* KZ_CONTAINER_* */
    const uint8_t *data; /* array: card u16; bitset: 1024 u64; run: n u16, then pairs */
} kz_container;

typedef struct kz_plist {
    uint32_t df;
    uint64_t cf;
    uint32_t max_tf;
    /* Upper bound of tf/(tf + k1((1-b) + b dl/avgdl)) over the postings at
     * the META k1, b; NAN when df == 1 (derive it from the one posting). */
    double bound;
    const uint8_t *bitmap;
    uint32_t bitmap_len;
    uint32_t n_blocks;     /* 0 when df <= KZ_POSTING_BLOCK */
    const uint8_t *blocks;
    const uint8_t *tf;     /* tf-1 bit-packed per block; see kz_plist_tf */
    uint64_t tf_len;
    uint32_t tf_width;     /* bits per tf of the only block, when n_blocks == 0 */
    const uint8_t *pos;
    uint64_t pos_len;
    uint32_t n_containers;
    kz_container *containers; /* owned; freed by kz_plist_close */
    /* If not NULL (kz_index_position_starts), where each posting's codes
     * start in its position block, in bits: positions are then read
     * without decoding the postings before them. Not owned. */
    const uint32_t *pos_starts;
} kz_plist;

/* The first container of pl from index from on whose base is >= base (or
 * n_containers): exponential, then binary search. */
static inline uint32_t kz_plist_seek_container(const kz_plist *pl, uint32_t from, uint32_t base)
{
    uint32_t n = pl->n_containers;
    if (from >= n || pl->containers[from].base >= base)
        return from;
    uint64_t lo = from, hi = (uint64_t)from + 1, step = 1; /* base of lo < base */
    while (hi < n && pl->containers[hi].base < base) {
        lo = hi;
        step *= 2;
        hi = lo + step;
    }
    if (hi > n)
        hi = n;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (pl->containers[mid].base < base)
            lo = mid;
        else
            hi = mid;
    }
    return (uint32_t)hi;
}

/* Parses a blob of [blob, blob+len) for a term of document frequency df,
 * in a file whose last docid is max_docid. Checks every bound (never reads
 * outside the blob), that the bitmap's cardinality is df and that no docid
 * it names passes max_docid: KZ_ECORRUPT otherwise. That check reads the
 * last container whole (up to 8 KiB); max_docid UINT32_MAX skips it. */
int kz_plist_open(kz_plist *out, const uint8_t *blob, uint64_t len, uint32_t df, uint32_t max_docid);
void kz_plist_close(kz_plist *pl);
/* The list's docids as a CRoaring bitmap (the blob's bitmap is CRoaring's
 * portable format, checked when the list was opened); the caller frees it
 * (roaring_bitmap_free). NULL when out of memory. */
roaring_bitmap_t *kz_plist_bitmap(const kz_plist *pl);
/* tf of the ordinal-th posting. */
uint32_t kz_plist_tf(const kz_plist *pl, uint32_t ordinal);
/* Decodes all docids into out (df entries). KZ_ECORRUPT if a container is
 * malformed (values not ascending, out of range). */
int kz_plist_docids(const kz_plist *pl, uint32_t *out);
/* Decodes the tf positions of the ordinal-th posting. KZ_ECORRUPT if they
 * run past the data. */
int kz_plist_positions(const kz_plist *pl, uint32_t ordinal, uint32_t tf, uint32_t *out);
/* Where kz_plist_positions_seq() stopped, so that reading postings in
 * ascending order decodes each block once. Zero-initialise it. */
typedef struct kz_pos_cursor {
    int open;
    uint32_t block, next; /* the block, and the next ordinal to decode */
    const uint8_t *p;
    uint64_t at, len;
    unsigned k1, k2;
} kz_pos_cursor;

/* kz_plist_positions_seq, stopping once a position lies past limit when
 * the list has its table of posting starts (pl->pos_starts): *n_out of
 * the tf positions, a prefix that holds every one up to limit and one
 * past it if there is one (all of them without the table, so that c
 * resumes after the posting). */
int kz_plist_positions_until(const kz_plist *pl, kz_pos_cursor *c, uint32_t ordinal, uint32_t tf, uint32_t limit,
                             uint32_t *out, uint32_t *n_out);
/* kz_plist_positions, resuming from c when ordinal lies ahead in the same
 * block (c may be NULL). tf must be the posting's tf. */
int kz_plist_positions_seq(const kz_plist *pl, kz_pos_cursor *c, uint32_t ordinal, uint32_t tf,
                           uint32_t *out);
/* Where each posting's position codes start in its block, in bits from
 * the block's first code (df entries into out). Decodes every block once.
 * KZ_EINVAL for a term in one document (its positions are varints). */
int kz_plist_position_starts(const kz_plist *pl, uint32_t *out);
/* Decodes every position block whole and checks that each ends where the
 * next begins, with nothing but zero padding (for check). */
int kz_plist_check_positions(const kz_plist *pl);

/**************************************************************************
** Interface to code in indexer/run.c
*/
typedef struct kz_run_term {
    const char *text;
    size_t len;
    uint32_t df;
    const uint8_t *bytes; /* postings, see run.c */
    size_t n_bytes;
} kz_run_term;

/* Writes terms (sorted by bytes) as a run file at path. */
int kz_run_write(const char *path, kz_run_term *terms, size_t n_terms);

typedef struct kz_run_reader kz_run_reader;
/* Opens a run file; read_size is how much it reads ahead (0: 256 KiB).
 * Postings are read one at a time, so a reader holds read_size bytes and
 * at most one posting, however long the term's list. */
int kz_run_open(kz_run_reader **out, const char *path, size_t read_size);
/* Moves to the next term, past what is left of the current one's
 * postings: 1, or 0 at the end, or a negative error. */
int kz_run_next(kz_run_reader *r);
/* The current term (valid until the next kz_run_next()) and its df. */
const uint8_t *kz_run_current_term(const kz_run_reader *r, size_t *len);
uint32_t kz_run_current_df(const kz_run_reader *r);

typedef struct kz_run_posting {
    uint32_t docid, tf;
    const uint32_t *pos; /* tf values: the first position, then each gap minus one */
} kz_run_posting;
/* Reads the current term's next posting into *out: 1, or 0 after the
 * last, or a negative error. out->pos is valid until the next call on r. */
int kz_run_posting_next(kz_run_reader *r, kz_run_posting *out);
void kz_run_close(kz_run_reader *r);

/**************************************************************************
** Interface to code in store/dict.c
**
** Writes the term dictionary (FORMAT.md "TERMS" and "TERMSTR"): terms
** given in ascending order are front-coded into the open TERMSTR section,
** and the terms index is collected for the TERMS section.
*/
typedef struct kz_dict_writer {
    kz_fwriter *fw;
    kz_buf index;     /* TERMS entries */
    kz_buf rec;
    uint8_t prev[KZ_TERM_MAX_BYTES];
    size_t prev_len;
    uint64_t n_terms, str_bytes, blob_off;
} kz_dict_writer;

/* Adds the next term (greater than the last) with its df and blob length. */
int kz_dict_add(kz_dict_writer *w, const uint8_t *term, size_t len, uint32_t df, uint64_t blob_len);
/* Writes the collected TERMS section (begin, entries, end). */
int kz_dict_write_index(kz_dict_writer *w);
void kz_dict_writer_free(kz_dict_writer *w);

/**************************************************************************
** Interface to code in indexer/merge.c
*/
typedef struct kz_merge_part {
    /* What to merge. */
    char *const *runs;
    size_t n_runs;
    size_t read_size;  /* read-ahead per run (kz_run_open) */
    const char *lo, *hi; /* terms in [lo, hi); NULL = unbounded */
    size_t lo_len, hi_len;
    const uint32_t *doc_lengths;
    uint64_t n_docs;
    double avgdl;
    /* Coded positions of one term kept in memory before they go to an
     * unnamed file in spill_dir (see kz_postings_writer_new). */
    const char *spill_dir;
    uint64_t spill_at;
    /* Where: blobs to fw's open section if fw is set, else to postings_f;
     * per term a record (varint length, bytes, varint df, varint blob
     * length) to terms_f, for kz_dict_add(). */
    kz_fwriter *fw;
    FILE *postings_f, *terms_f;
    const char *postings_path, *terms_path;
    /* Results. */
    uint64_t postings_bytes, n_terms;
    int rc;
    char message[512]; /* kz_last_error() of a failure, for another thread */
} kz_merge_part;

/* Merges the part's range of terms. Safe to run parts in several threads. */
int kz_merge(kz_merge_part *part);

/**************************************************************************
** Interface to code in indexer/builder.c (for source.c)
*/

/* Adds one parsed document; where ("path:line") names it in problem reports.
 * Dropped documents are reported and counted, and return KZ_OK. */
int kz_builder_add(kz_builder *b, const kz_jsonl_doc *doc, const char *where);
void kz_builder_problem(kz_builder *b, kz_problem kind, const char *where, const char *fmt, ...)
    KZ_PRINTF(4, 5);
/* Progress accounting: bytes of input consumed, and the total when known. */
void kz_builder_input_read(kz_builder *b, uint64_t bytes);
void kz_builder_input_total(kz_builder *b, uint64_t bytes);
/* The largest document, in bytes, that the build accepts. */
uint64_t kz_builder_max_doc(const kz_builder *b);
/* The build's memory budget in bytes (kz_build_options.memory_budget or
 * its default). */
uint64_t kz_builder_memory_budget(const kz_builder *b);
/* The threads the build indexes with (kz_build_options.threads or the
 * cores). */
unsigned kz_builder_threads(const kz_builder *b);
/* Makes the build a merge: at commit its segment takes the place of the
 * manifest's segments [first, first + count) (read under the lock the
 * builder holds), and no id is matched against the others. */
void kz_builder_merge_range(kz_builder *b, size_t first, size_t count);
/* Called for each document the build would take (after the checks for
 * size, emptiness and repeated ids): 1 to take it, 0 to pass over it
 * silently, a negative error to stop the build. */
typedef int (*kz_doc_filter_fn)(void *ctx, const kz_jsonl_doc *doc);
void kz_builder_set_filter(kz_builder *b, kz_doc_filter_fn fn, void *ctx);
/* The commit also deletes list's ids from the index's other segments, in
 * the same generation (kz_delete_list); list lives until the commit. */
typedef struct kz_delete_list kz_delete_list;
void kz_builder_also_delete(kz_builder *b, kz_delete_list *list);
/* Problems of one kind reported so far. */
uint64_t kz_builder_problem_count(const kz_builder *b, kz_problem kind);

/**************************************************************************
** Interface to code in indexer/source.c
*/

/* Reads one source (folder, text file, JSON Lines file, "-") into b. */
int kz_source_add(kz_builder *b, const char *path);

/**************************************************************************
** Interface to code in store/manifest.c
**
** The list of an index's segments in one generation (FORMAT.md
** "Manifest").
*/
typedef struct kz_manifest_segment {
    char *name;                /* the segment's file in the index folder */
    uint64_t docs;             /* documents in the file, deleted ones included */
    roaring_bitmap_t *deleted; /* by the segment's docids; NULL when none */
} kz_manifest_segment;

typedef struct kz_manifest_field {
    char *name;         /* a field name (kz_field_name_ok), owned */
    kz_field_type type; /* declared: never KZ_FIELD_TYPE_AUTO */
} kz_manifest_field;

typedef struct kz_manifest {
    uint64_t generation;
    uint64_t created; /* Unix time */
    kz_manifest_segment *segments;
    size_t n_segments;
    char **sources; /* as given to kzsearch index and add */
    size_t n_sources;
    kz_manifest_field *fields; /* declared field types, by name in byte order */
    size_t n_fields;
} kz_manifest;

/* Reads dir's manifest: KZ_ENOTFOUND when there is none, KZ_ECORRUPT
 * (damaged: checksum, counts, names, bitmaps), KZ_EVERSION. *out is the
 * caller's to free (kz_manifest_free), also on failure. */
int kz_manifest_read(kz_manifest *out, const char *dir);
/* Writes m as dir's manifest: beside the old one, fsynced, renamed over
 * it, the folder fsynced. */
int kz_manifest_write(const kz_manifest *m, const char *dir);
/* The bytes of m as FORMAT.md gives them (out is reset first). */
int kz_manifest_encode(kz_buf *out, const kz_manifest *m);
void kz_manifest_free(kz_manifest *m);
/* Whether name may name a segment file: 1 to KZ_MANIFEST_NAME_MAX bytes
 * of [A-Za-z0-9._-], not starting with '.'. */
#define KZ_MANIFEST_NAME_MAX 64
int kz_manifest_name_ok(const char *name, size_t len);
/* The type fields[0 .. n) (in name order) declare for field name
 * (KZ_FIELD_TYPE_AUTO: none). */
kz_field_type kz_field_type_of(const kz_manifest_field *fields, size_t n, const char *name, size_t len);
/* Declares field name of type in *fields (n of them, kept in name order;
 * the names are copies, the array's to free). KZ_EINVAL if they declare
 * it of another type, unless redeclare, when type replaces it
 * (KZ_FIELD_TYPE_AUTO then removes it; else AUTO declares nothing). */
int kz_field_type_declare(kz_manifest_field **fields, size_t *n, const char *name, size_t len, kz_field_type type,
                          int redeclare);
void kz_field_types_free(kz_manifest_field *fields, size_t n);

/**************************************************************************
** Interface to code in store/shards.c
*/

/* The folders of set_dir's shards (joined to set_dir), in order: KZ_OK, or
 * KZ_ENOTFOUND when set_dir is no shard set, KZ_ECORRUPT. *dirs and its
 * strings are the caller's to free. */
int kz_shard_set_read(const char *set_dir, char ***dirs, size_t *n);
/* Whether the parts of ix, opened from set_dir's shards, are those the set
 * recorded: KZ_OK, KZ_ESTALE (one changed), KZ_ECORRUPT. */
int kz_shard_set_verify(const char *set_dir, const kz_index *ix);
/* The shard of shards that an id belongs to: XXH3 of its bytes modulo
 * shards. */
uint32_t kz_shard_of(const char *id, size_t len, uint32_t shards);
/* Part i's manifest, as read when ix was opened (empty for an index of one
 * file without one). */
const kz_manifest *kz_index_part_manifest(const kz_index *ix, size_t i);

/**************************************************************************
** Interface to code in store/segment.c
**
** One index file, a segment of an index: its documents by its own docids
** (0 .. docs-1) and its terms by its own ordinals. Read-only, through mmap;
** safe from several threads.
*/
typedef struct kz_segment kz_segment;

/* Opens the segment file at path (FORMAT.md "What opening checks"). */
int kz_segment_open(kz_segment **out, const char *path);
void kz_segment_free(kz_segment *sg);
/* Its counts as kz_index_info gives them for an index (language owned by
 * the segment). */
void kz_segment_get_info(const kz_segment *sg, kz_index_info *out);
/* Verifies every section checksum: the check a build runs before renaming. */
int kz_segment_verify_sums(kz_segment *sg);
/* kz_index_warm for one segment. */
int kz_segment_warm(kz_segment *sg);
void kz_segment_section(const kz_segment *sg, unsigned i, const char **name, uint64_t *bytes);
/* The starts of pl's position codes (kz_plist_position_starts) for term
 * ordinal, computed on first use and kept while the segment is open, for
 * phrases over frequent terms; NULL if they would take the cache over its
 * budget (KZ_POS_STARTS_BUDGET) or cannot be computed. Safe from several
 * threads; the array lives as long as sg. */
#define KZ_POS_STARTS_BUDGET (64u << 20)
const uint32_t *kz_segment_position_starts(kz_segment *sg, const kz_plist *pl, uint32_t ordinal);
/* The file, for the query engine and check.c. */
kz_file *kz_segment_file(const kz_segment *sg);
/* Documents by the segment's docids, as kz_index_doc and kz_index_doc_text
 * give them. */
int kz_segment_doc(kz_segment *sg, kz_doc *out, uint32_t docid, kz_doc_field *meta, size_t max_meta);
int kz_segment_doc_text(kz_segment *sg, char **out, size_t *len, uint32_t docid);
int kz_segment_doc_text_prefix(kz_segment *sg, char **out, size_t *len, uint32_t docid, size_t max_bytes);
/* How many text marks document docid has (FORMAT.md "STORE"): 0 before
 * format 7. */
uint64_t kz_segment_doc_mark_count(const kz_segment *sg, uint32_t docid);
/* kz_segment_doc_text_prefix and the text's marks (kz_index_doc_text_marked). */
int kz_segment_doc_text_marked(kz_segment *sg, char **out, size_t *len, kz_text_marks *marks, uint32_t docid,
                               size_t max_bytes);
/* Reads n text marks of a text of text_len bytes from p (avail bytes)
 * into *m (malloc'd), *used the bytes they took: KZ_ECORRUPT unless each
 * is past the one before (the first past 0) and inside the text. */
int kz_text_marks_parse(kz_text_marks *m, const uint8_t *p, size_t avail, uint64_t n, uint64_t text_len,
                        size_t *used);
/* Terms by the segment's ordinals, as kz_index_term and the others give
 * them for an index of one segment. */
int kz_segment_term(kz_segment *sg, kz_term *out, const char *term, size_t len);
int kz_segment_term_at(kz_segment *sg, kz_term *out, uint32_t ordinal);
int kz_segment_term_prefix(kz_segment *sg, uint32_t *first, uint32_t *count, const char *prefix, size_t len);
int kz_segment_postings(kz_segment *sg, const kz_term *term, uint32_t **docids, uint32_t **tfs, uint32_t **positions);
/* Where a term is in a segment: its ordinal and df, and its blob in
 * POSTINGS, so that its list opens without a second dictionary search. */
typedef struct kz_term_loc {
    uint32_t ordinal, df;
    uint64_t blob_off, blob_len;
} kz_term_loc;
#define KZ_TERM_ABSENT UINT32_MAX /* kz_term_loc.ordinal of a term a segment lacks */
/* Where term is in the segment: 1, or 0 when the segment does not have it
 * (no message), or a negative error. */
int kz_segment_lookup(kz_segment *sg, const char *term, size_t len, kz_term_loc *out);
/* kz_segment_term_at without cf (which opens the term's postings). */
int kz_segment_entry(kz_segment *sg, kz_term *out, uint32_t ordinal);
/* A reader of a segment's terms in dictionary order, a block of the
 * dictionary at a time: prefix expansion, facet values and listings read
 * each term once rather than search for each. No resources: a cursor is
 * dropped when done with. */
typedef struct kz_term_cursor {
    const uint8_t *p, *end; /* the block's TERMSTR bytes left */
    uint32_t next, last;    /* the ordinal read next; one past the block's last */
    uint32_t block;
    int ready;              /* t is the term the next call gives */
    uint64_t blob_off;      /* the blob of the next term */
    kz_term t;              /* the term read last (cf 0) */
    kz_term_loc loc;        /* where its postings are (kz_segment_plist_at) */
} kz_term_cursor;
/* Places c before term ordinal (below the segment's count). */
int kz_segment_cursor_at(kz_segment *sg, kz_term_cursor *c, uint32_t ordinal);
/* Reads the next term into c->t and c->loc. Callers read as many terms as
 * a count told them (kz_segment_term_prefix): past the last, the
 * dictionary is damaged (KZ_ECORRUPT). */
int kz_segment_cursor_next(kz_segment *sg, kz_term_cursor *c);
/* A term's posting blob, verified and parsed into *out (kz_plist_close):
 * by its ordinal, or where kz_segment_lookup found it. */
int kz_segment_plist(kz_segment *sg, kz_plist *out, uint32_t term_ordinal);
int kz_segment_plist_at(kz_segment *sg, kz_plist *out, const kz_term_loc *loc);
/* Decompresses store block b into *buf (grown as needed, *cap its size;
 * the caller frees it); *rlen is the block's size. */
int kz_segment_store_block(kz_segment *sg, uint32_t block, uint8_t **buf, size_t *cap, uint32_t *rlen);
/* Walks the whole dictionary: blocks in order and contiguous, terms
 * strictly ascending, blobs covering POSTINGS exactly (for check). */
int kz_segment_check_terms(kz_segment *sg, kz_check_fn fn, void *ctx, unsigned *faults);
/* dl of docid: no range check, and the caller must have verified the
 * DOCS bytes (kz_file_verify) or be running after a full verification. */
uint32_t kz_segment_doc_length(const kz_segment *sg, uint32_t docid);
/* The document's title_tokens, under the same conditions. */
uint32_t kz_segment_doc_title_tokens(const kz_segment *sg, uint32_t docid);
/* Every dl of the segment, by docid, once kz_segment_warm() made the
 * table (owned by the segment, valid while it is open); NULL before. */
const uint32_t *kz_segment_doc_lengths(const kz_segment *sg);
/* Lets go of the pages of the segment's file this process holds: a
 * merge reading a large segment whole must not keep it resident (they
 * come back from the page cache if read again). */
void kz_segment_release(kz_segment *sg);
/* Verifies and checks one segment (kz_index_check of an index of it). */
int kz_segment_check(kz_segment *sg, kz_check_fn fn, void *ctx);
/* The IDS section (FORMAT.md "IDS"), verified: *n records of KZ_IDS_SIZE
 * bytes, sorted by the XXH3 of the id, then docid; valid while sg is open. */
int kz_segment_ids(kz_segment *sg, const uint8_t **records, uint64_t *n);
/* The first of IDS records [lo, n) whose hash is not below h, galloping
 * from lo: a sorted run of lookups walks the section once. */
uint64_t kz_ids_lower_bound(const uint8_t *records, uint64_t lo, uint64_t n, uint64_t h);
/* The docid of the document whose id is id: 1 and *docid when the segment
 * has one (the first by docid, if a damaged segment has more), 0 when it
 * has none (no message), or a negative error. Deleted documents are the
 * caller's business. */
int kz_segment_find_id(kz_segment *sg, const char *id, size_t len, uint32_t *docid);
/* The fingerprint of docid's fields (FORMAT.md "DOCHASH"). */
int kz_segment_doc_fingerprint(kz_segment *sg, uint32_t docid, uint64_t *out);
/* The near-duplicate fingerprint of docid's text (FORMAT.md "SIMHASH"),
 * verified. */
int kz_segment_doc_simhash(kz_segment *sg, uint32_t docid, uint64_t *out);
/* Asks the CPU to start loading docid's SimHash, which a later
 * kz_segment_doc_simhash reads: fingerprints read in rank order are each
 * a cache and TLB miss, and asked for together they overlap. */
void kz_segment_doc_simhash_prefetch(const kz_segment *sg, uint32_t docid);
/* Each document's sort key in field (kz_ranked.sort_key): kind
 * KZ_FIELD_DATE, its latest date (of its D terms, else the first day of
 * its latest M term, kz_sort_key_of_day); KZ_FIELD_NUMBER, its greatest
 * number's key (kz_field_number_key); KZ_NO_SORT_KEY when none. Built
 * from the field terms on first use and kept while sg is open (8 bytes a
 * document). Safe from several threads. */
#define KZ_NO_DAY INT32_MIN
int kz_segment_sort_keys(kz_segment *sg, const char *field, size_t len, char kind, const uint64_t **out);
/* The sort key of a day (days since 1970-01-01): ordered as the days,
 * above KZ_NO_SORT_KEY. */
static inline uint64_t kz_sort_key_of_day(int32_t day) { return (uint64_t)((int64_t)day - INT32_MIN) + 1; }

/* A document's fingerprint (FORMAT.md "DOCHASH") is built field by field:
 * title, text, then each metadata key and value, each as repaired UTF-8.
 * kz_fingerprint_field adds one to st, an XXH3_state_t that was reset. */
void kz_fingerprint_field(void *st, const void *bytes, size_t len);

/**************************************************************************
** Interface to code in store/field.c
**
** The terms of metadata fields (FORMAT.md "Field terms"): 0x01, the field's
** name, 0x1F, a kind byte, the value.
*/
#define KZ_FIELD_MARK '\x01'
#define KZ_FIELD_SEP '\x1f'
#define KZ_FIELD_KEYWORD 'k'
#define KZ_FIELD_DATE 'd'
#define KZ_DATE_TERM_YEAR 'Y'
#define KZ_DATE_TERM_MONTH 'M'
#define KZ_DATE_TERM_DAY 'D'
#define KZ_FIELD_NUMBER 'n'
#define KZ_FIELD_WORD 'w' /* a word of a text field: its stem, as the text's */
/* The title's words are those of a text field of this name (format 6);
 * no metadata field of the name gives terms. */
#define KZ_TITLE_FIELD "title"
/* A number term's level: 'a' + hex digits of its key kept - 1 ('a' .. 'p'). */
#define KZ_NUMBER_LEVELS 16
/* The kind (kz_field_prefix) of a field's number terms of full precision,
 * whose keys are its numbers': KZ_FIELD_NUMBER, then level 'a' +
 * KZ_NUMBER_LEVELS - 1. */
#define KZ_NUMBER_FULL_KIND "np"
_Static_assert('a' + KZ_NUMBER_LEVELS - 1 == 'p' && KZ_FIELD_NUMBER == 'n', "KZ_NUMBER_FULL_KIND");
#define KZ_FIELD_NAME_MAX 128

/* The start of a field's terms: 0x01 field 0x1F and kind ("" for all of
 * them, "k", "d", "dY", "dM", "dD"), into out (KZ_FIELD_PREFIX_MAX); its
 * length. */
#define KZ_FIELD_PREFIX_MAX (KZ_FIELD_NAME_MAX + 8)
size_t kz_field_prefix(char *out, const char *field, size_t flen, const char *kind);
/* Whether a metadata key can be a field: 1 to 128 bytes, no control
 * characters. */
int kz_field_name_ok(const char *name, size_t len);
/* The keyword term of a value (trimmed, case-folded) into out
 * (KZ_TERM_MAX_BYTES): 0, or -1 when it has none (empty, too long, or a
 * bad field name). */
int kz_field_keyword_term(char *out, size_t *out_len, const char *field, size_t flen, const char *value, size_t vlen);
/* The date term of a year, month or day (level KZ_DATE_TERM_...): 0 or -1. */
int kz_field_date_term(char *out, size_t *out_len, const char *field, size_t flen, char level, int year,
                       unsigned month, unsigned day);
/* The key of a number value (trimmed; the JSON grammar, a leading '+'
 * allowed): its double's bits, ordered as the numbers are (-0 as 0).
 * 0, or -1 when value is no finite number. */
int kz_field_number_key(uint64_t *key, const char *value, size_t vlen);
/* The key that a full number term's 16 hex digits (len bytes) name: 0, or
 * -1 when they are not that. */
int kz_field_term_key(uint64_t *key, const char *digits, size_t len);
/* The number a key (kz_field_number_key) stands for. */
double kz_field_number_of_key(uint64_t key);
/* The number term of key at a level: its first `digits` (1 ..
 * KZ_NUMBER_LEVELS) hex digits, the others dropped: 0 or -1. */
int kz_field_number_term(char *out, size_t *out_len, const char *field, size_t flen, uint64_t key, unsigned digits);
/* Calls emit with each term of one metadata pair (none for a field name
 * that cannot be one); stops at emit's first non-zero return. */
typedef int (*kz_field_term_fn)(void *ctx, const char *term, size_t len);
/* Emits the terms of one value of a field of the given type: its keyword,
 * date or number terms (none for KZ_FIELD_TYPE_TEXT, whose words are the
 * analyser's: kz_field_word_term). A value not of a declared type gives
 * its keyword. */
int kz_field_terms(const char *field, size_t flen, kz_field_type type, const char *value, size_t vlen,
                   kz_field_term_fn emit, void *ctx);
/* Whether value is of type: 1, or 0 when it is declared a date or a
 * number and does not read as one. */
int kz_field_value_fits(kz_field_type type, const char *value, size_t vlen);
/* The term of a text field's word (a stem) into out (KZ_TERM_MAX_BYTES):
 * 0, or -1 when it would be too long. */
int kz_field_word_term(char *out, size_t *out_len, const char *field, size_t flen, const char *stem, size_t len);

/**************************************************************************
** Interface to code in store/index.c
**
** An index: its segments in order, the documents deleted from each, and
** the statistics of the live documents. A document's docid in the index
** is its segment's base plus its docid in the segment; the bases follow
** the segments' order, so docids follow the order documents were added.
*/

/* Analyzers for queries, reused across them: take one (a new one if none
 * is free), give it back after. Safe from several threads. */
#define KZ_ANALYZER_POOL 8
#define KZ_ANALYZER_POOL_BYTES (1u << 20)
int kz_index_analyzer_take(kz_index *ix, int fold_only, kz_analyzer **out);
void kz_index_analyzer_give(kz_index *ix, int fold_only, kz_analyzer *a);

size_t kz_index_segment_count(const kz_index *ix);
/* Segment i (owned by ix), the docid in the index of its first document,
 * and its deleted documents by its own docids (NULL when none; owned by
 * ix). */
kz_segment *kz_index_segment(const kz_index *ix, size_t i);
uint32_t kz_index_segment_base(const kz_index *ix, size_t i);
const roaring_bitmap_t *kz_index_segment_deleted(const kz_index *ix, size_t i);

/* The fingerprint of a live document's fields (FORMAT.md "DOCHASH"). */
int kz_index_doc_fingerprint(kz_index *ix, uint32_t docid, uint64_t *out);
/* dl of a live document by its docid in the index, verified. */
int kz_index_doc_length_at(kz_index *ix, uint32_t docid, uint32_t *dl);
/* The segment and the segment's docid of docid: KZ_EINVAL past the last,
 * KZ_ENOTFOUND for a deleted document. */
int kz_index_locate(const kz_index *ix, uint32_t docid, size_t *segment, uint32_t *local);

/* A term's document frequency among the live documents of every segment,
 * as a fresh index of them would have it: df of each segment less its
 * deleted documents that have the term. 0 when no segment has it. If
 * locs is not NULL (kz_index_segment_count entries), where the term is
 * in each segment goes there (ordinal KZ_TERM_ABSENT where it is not). */
int kz_index_live_df(kz_index *ix, const char *term, size_t len, uint64_t *df, kz_term_loc *locs);
/* The dictionary entries that start with prefix, over every segment:
 * *count is 0 when no live document has one, else the entries of the
 * segments where one has (a term in two segments counts twice); the least
 * and the greatest a live document has go to *lo and *hi (when not NULL
 * and *count > 0). Two binary searches a segment, and, in a segment with
 * deletions, a look at the postings of the terms at either end that only
 * deleted documents have. */
int kz_index_prefix_extent(kz_index *ix, const char *prefix, size_t len, uint64_t *count, kz_term *lo, kz_term *hi);

/**************************************************************************
** Interface to code in store/writer.c
**
** Changes to an index folder, each a new generation of its manifest, made
** under the folder's lock.
*/

/* Takes the folder's writer lock (creating the folder): KZ_ELOCKED when
 * another process holds it. kz_index_unlock(fd) releases it. */
int kz_index_lock(const char *dir, int *fd);
void kz_index_unlock(int fd);
/* The folder's manifest as it stands: read, or for an index of one file
 * without one a manifest of generation 0 naming it; *exists 0 (and an
 * empty manifest) when there is no index. */
int kz_manifest_current(kz_manifest *out, const char *dir, int *exists);
/* The name of the segment file a change of the given generation writes. */
int kz_segment_file_name(char *out, size_t size, uint64_t generation);
/* Makes the segment file dir/name, complete and verified, part of the
 * index: with replace, the index is it alone (and the sources are
 * replaced); else it is added after the others, and every older document
 * with an id it has is deleted (*replaced counts them). The lock must be
 * held. Files the new generation does not name are removed. */
/* Ids a change also deletes from the other segments, in the same
 * generation (an update's vanished documents): deleted counts them, and
 * applied says the change was made. */
typedef struct kz_delete_list {
    const char *const *ids;
    size_t n;
    uint64_t deleted;
    int applied;
} kz_delete_list;
/* What a change records besides its segments: the sources it adds, and
 * the field types the new generation declares (in name order; they
 * replace the old generation's). */
typedef struct kz_change_record {
    const char *const *sources;
    size_t n_sources;
    const kz_manifest_field *fields;
    size_t n_fields;
} kz_change_record;
int kz_index_commit_segment(const char *dir, const char *name, int replace, const kz_change_record *record,
                            kz_delete_list *also, uint64_t *replaced);
/* The general change: the manifest's segments [first, first + count)
 * (clamped to those there are) give way to the segment file dir/name (or
 * to nothing when name is NULL), which takes their place in the order;
 * with match_ids, documents of the other segments with an id the new one
 * has are deleted (*replaced counts them). record's sources are added to
 * the manifest's (replaced when the range is every segment). */
int kz_index_commit_range(const char *dir, const char *name, size_t first, size_t count, int match_ids,
                          const kz_change_record *record, kz_delete_list *also, uint64_t *replaced);
/* kz_index_delete with the lock held by the caller. */
int kz_index_delete_locked(const char *dir, const char *const *ids, size_t n, uint8_t *found, uint64_t *deleted);
/* Removes the segment files, temporary files and index.kz that m does
 * not name (m NULL: all of them). The lock must be held. */
void kz_index_remove_unnamed(const char *dir, const kz_manifest *m);

/**************************************************************************
** Interface to code in query/cursor.c
**
** A forward-only reader of one term's postings: docid, ordinal (for
** kz_plist_tf and the positions), skipping by the block table.
*/
#define KZ_DOC_END UINT32_MAX

typedef struct kz_cursor {
    const kz_plist *pl;  /* not owned; must outlive the cursor */
    uint32_t doc;        /* current docid, KZ_DOC_END past the last */
    uint32_t ord;        /* its ordinal (df past the last) */
    uint32_t blk;        /* its 128-posting block: ord / KZ_POSTING_BLOCK */
    uint32_t ci;         /* its container */
    /* Inside the container: array, the index; bitset, the word and the set
     * bits before it; run, the run and the ordinal of its first value. */
    uint32_t idx, rank;
} kz_cursor;

/* Starts c on pl's first posting. */
void kz_cursor_init(kz_cursor *c, const kz_plist *pl);
/* Moves to the next posting; returns its docid or KZ_DOC_END. */
uint32_t kz_cursor_next(kz_cursor *c);
/* Moves to the first posting with docid >= target (never backwards);
 * returns its docid or KZ_DOC_END. */
uint32_t kz_cursor_seek(kz_cursor *c, uint32_t target);
/* The block that holds target if the term has it (the first block from the
 * current one whose last docid is >= target; n_blocks past the end; 0 for
 * a list of one block), without decoding anything. */
uint32_t kz_cursor_block_of(const kz_cursor *c, uint32_t target);
/* Last docid of block b (b < n_blocks). */
uint32_t kz_cursor_block_last(const kz_cursor *c, uint32_t b);

/**************************************************************************
** Interface to code in query/intersect.c
**
** Intersection and union kernels over the roaring containers of posting
** lists.
**
** Containers are read in place (kz_plist_open): their bytes lie in the
** mapped index at any alignment, so every function here takes them as
** `const uint8_t *` and loads them with memcpy or unaligned vector loads,
** never past the container's last byte:
**   array   card little-endian u16 values, strictly ascending (card <= 4096
**           in an index, but the kernels take any length up to 65536);
**   bitset  1024 little-endian u64 words, 8192 bytes: value v is bit v%64
**           of word v/64;
**   run     u16 n_runs, then n_runs pairs (u16 start, u16 length - 1),
**           2 + 4 n_runs bytes.
** Results (values, indices, ranks) are written to the caller's buffers,
** which are plain native arrays (aligned uint16_t / uint32_t); a buffer
** argument that may be NULL says so. Nothing here allocates except
** kz_plist_and(), and nothing keeps a pointer after returning.
**
** Each kernel has an AVX2 version (x86-64 with AVX2, BMI2 and POPCNT,
** checked at run time) and a portable scalar one that gives the same
** results; kz_intersect_force_scalar() selects the scalar one for tests
** and benchmarks.
**
** Malformed containers (arrays not ascending, a bitset whose popcount is
** not its cardinality, overlapping runs) never make a function read or
** write outside the bytes and buffers described here. The results are
** then unspecified, except that kz_plist_and() reports what it notices as
** KZ_ECORRUPT and never returns an ordinal >= the list's df.
*/
/* ---------------------------------------------------------------- selection */

/* on != 0: every function below takes its portable scalar path, even where
 * AVX2 is available; on == 0: the AVX2 path again where available. For
 * tests and benchmarks; not thread-safe (set it before starting threads). */
void kz_intersect_force_scalar(int on);
/* 1 if the functions below currently take their AVX2 path. */
int kz_intersect_simd(void);

/* ------------------------------------------------------- array and array */

/* The values common to the ascending u16 arrays a (na values, 2·na bytes)
 * and b (nb values); returns how many. out, room for min(na, nb) values,
 * receives them ascending; it may be NULL to count only. Gallops through
 * the longer array when one is more than 32 times the other; otherwise a
 * block-wise SIMD merge. out must not overlap a or b. */
size_t kz_isect_u16(uint16_t *out, const uint8_t *a, size_t na, const uint8_t *b, size_t nb);

/* kz_isect_u16, also writing for the k-th common value its index in a to
 * ia[k] and in b to ib[k] (a[ia[k]] == b[ib[k]] == out[k]). Each of out,
 * ia, ib has room for min(na, nb) values and may be NULL; none may overlap
 * a or b or each other. na, nb <= 65536 (true of any strictly ascending
 * u16 array), so indices fit in u16. */
size_t kz_isect_u16_idx(uint16_t *out, uint16_t *ia, uint16_t *ib, const uint8_t *a, size_t na,
                        const uint8_t *b, size_t nb);

/* ------------------------------------------------------ array and bitset */

/* The values of the ascending array a (na values, na <= 65536) whose bit
 * is set in the bitset container bits (8192 bytes); returns how many.
 * For the k-th: out[k] the value, ia[k] its index in a, rb[k] its rank in
 * the bitset (the number of set bits below it). Each buffer has room for
 * na values and may be NULL. */
size_t kz_isect_u16_bitset(uint16_t *out, uint16_t *ia, uint16_t *rb, const uint8_t *a, size_t na,
                           const uint8_t *bits);

/* ----------------------------------------------------- bitset and bitset */

/* Popcount of the AND of two bitset containers (8192 bytes each). */
uint32_t kz_bitset_and_count(const uint8_t *a, const uint8_t *b);

/* The set bits of the AND of two bitset containers, ascending: for the
 * k-th, out[k] the value, ra[k] and rb[k] its ranks in a and in b. Writes
 * at most cap entries to each buffer (each may be NULL) and returns the
 * popcount of the AND, which exceeds cap if some were not written. */
size_t kz_bitset_and_decode(uint16_t *out, uint16_t *ra, uint16_t *rb, size_t cap, const uint8_t *a,
                            const uint8_t *b);

/* The set bits of one bitset container, ascending, at most cap of them to
 * out (room for cap values); returns its popcount. */
size_t kz_bitset_decode(uint16_t *out, size_t cap, const uint8_t *bits);

/* ----------------------------------------------------------------- runs */

/* The values of the run container run (2 + 4·n_runs bytes), ascending,
 * at most cap of them to out (room for cap values). Returns the number of
 * values it holds, or SIZE_MAX if the runs are not ascending and disjoint
 * or one ends past 65535 (then out holds some of them). */
size_t kz_run_decode(uint16_t *out, size_t cap, const uint8_t *run);

/* The values of the ascending array a (na values, na <= 65536) inside a
 * run of the run container run; returns how many. For the k-th: out[k]
 * the value, ia[k] its index in a, rr[k] its rank in the run container
 * (the number of its values below it). Each buffer has room for na values
 * and may be NULL. */
size_t kz_isect_u16_run(uint16_t *out, uint16_t *ia, uint16_t *rr, const uint8_t *a, size_t na,
                        const uint8_t *run);

/* Values common to two run containers. */
uint32_t kz_run_and_count(const uint8_t *a, const uint8_t *b);
/* Values common to a run container and a bitset container. */
uint32_t kz_run_bitset_and_count(const uint8_t *run, const uint8_t *bits);

/* ----------------------------------------------------------- containers */

/* Values common to two containers of any types with the same key (their
 * base is not compared). */
uint32_t kz_container_and_count(const kz_container *a, const kz_container *b);

/* ---------------------------------------------------------------- lists */

/* |a ∩ b|, the documents in both posting lists. A zero-initialised
 * kz_plist is an empty list. */
uint64_t kz_plist_and_count(const kz_plist *a, const kz_plist *b);

/* The documents in all n_lists posting lists (the lists are not owned and
 * may be zero-initialised, i.e. empty). Writes the docids ascending to
 * docids_out, room for the smallest df of the lists, and their number to
 * *n_out. If ords_out is not NULL (room for n_lists times the smallest
 * df), result r's ordinal in lists[l], its 0-based rank among that list's
 * postings (for kz_plist_tf), goes to ords_out[r·n_lists + l]. Works key
 * by key from the list of fewest containers, each key from its smallest
 * container. n_lists == 0 gives no documents. Returns KZ_OK, KZ_ENOMEM
 * (scratch of up to (n_lists + 3) · 128 KiB), or KZ_ECORRUPT when a
 * container is malformed (then *n_out and the buffers hold a prefix). */
int kz_plist_and(uint32_t *docids_out, uint32_t *ords_out, size_t *n_out, const kz_plist *const *lists,
                 size_t n_lists);

/* |lists[0] ∪ ... ∪ lists[n-1]|. Per key: a lone container's cardinality,
 * two containers' sum minus their intersection, more ORed into an 8 KiB
 * bitset and counted. */
uint64_t kz_plist_or_count(const kz_plist *const *lists, size_t n);

/* A flat bitset of a segment's docids: bit d of word d / 64. A segment of
 * n documents takes KZ_DOC_BITS_WORDS(n) words, whole containers of 65,536
 * bits, so that a container ORs in without bounds per document. */
#define KZ_DOC_BITS_WORDS(n) ((((size_t)(n) + 65535u) >> 16) * 1024u)
/* ORs pl's documents into bits (words of them): its containers, each
 * whole, by the container kernels; a container past the bitset (a
 * damaged list) is left out. */
void kz_plist_or_bits(const kz_plist *pl, uint64_t *bits, size_t words);

/**************************************************************************
** Interface to code in query/parse.c
**
** A parsed query: a tree of nodes over the query's distinct terms.
*/
/* Terms, phrases and groups a query may have, besides the group of the
 * whole query: so a query of 65,536 words is allowed. */
#define KZ_QUERY_MAX_CLAUSES 65536
#define KZ_QUERY_MAX_NODES (KZ_QUERY_MAX_CLAUSES + 1)
#define KZ_QUERY_MAX_NOTES 8

/**************************************************************************
** Interface to code in query/translit.c
*/

#define KZ_TRANSLIT_MAX 16      /* spellings of one word, at most */
#define KZ_TRANSLIT_WORD_MAX 64 /* code points of a word transliterated, at most */
#define KZ_TRANSLIT_WORD_MIN 4  /* and at least: "in" is no name, and would find "ин" */
/* Receives one spelling (UTF-8, not NUL-terminated); a non-zero return
 * stops kz_translit, which returns it. */
typedef int (*kz_translit_fn)(void *ctx, const char *s, size_t len);
/* The spellings of the word w (case-folded, NFC, marks kept) in the other
 * script: Cyrillic in BGN/PCGN, ICAO and the Kazakh Latin alphabet; Latin
 * read back by those schemes (README "Spelling variants"). Nothing for a
 * word of other letters, or of fewer than KZ_TRANSLIT_WORD_MIN or more than
 * KZ_TRANSLIT_WORD_MAX code points. */
int kz_translit(const char *w, size_t n, kz_translit_fn fn, void *ctx);
/* Whether the index has a term in Cyrillic letters; computed once. */
int kz_index_has_cyrillic(kz_index *ix, int *has);
/* Whether the index may have term, a Cyrillic one (or a Cyrillic word as written: й and ё
 * read as и and е): 0 when no term of the index starts with its first two letters. For an
 * index of up to 200,000 Cyrillic terms, their first letters are listed once, so that
 * most readings of a Latin word cost neither analysis nor dictionary search. */
int kz_index_may_have_cyrillic(kz_index *ix, const char *term, size_t len, int *may);

/**************************************************************************
** Interface to code in query/synonyms.c
*/

typedef struct kz_synonym_table kz_synonym_table;
/* The entries of s analysed by a (the index's analyzer): KZ_ESYNTAX
 * naming the line of an entry without words or of more than 3. *out is
 * the caller's (kz_synonym_table_free). */
int kz_synonym_table_new(kz_synonym_table **out, const kz_synonyms *s, kz_analyzer *a);
void kz_synonym_table_free(kz_synonym_table *t);
/* The groups (up to max, into groups) with a one-term entry of this term. */
size_t kz_synonym_groups_of(const kz_synonym_table *t, const char *term, size_t len, uint32_t *groups, size_t max);
size_t kz_synonym_group_size(const kz_synonym_table *t, uint32_t g);
/* Entry i of group g: as written (returned), and its terms (owned by t). */
const char *kz_synonym_entry(const kz_synonym_table *t, uint32_t g, size_t i, const char *const **terms,
                             size_t *n_terms);
/* The index's table (kz_index_set_synonyms), or NULL. */
const kz_synonym_table *kz_index_synonyms(const kz_index *ix);

/**************************************************************************
** Interface to code in query/fuzzy.c
*/

#define KZ_FUZZY_MAX_TERMS 64 /* terms word~ searches, the most frequent */
/* The edits word~ and suggestions allow a word of so many code points:
 * 0 up to 2, 1 up to 5, else 2. */
unsigned kz_fuzzy_edits(size_t codepoints);
/* The Levenshtein distance of a and b (code points), or max + 1 when it
 * is over max. */
unsigned kz_edit_distance(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, unsigned max);
/* Decodes UTF-8 s into out (room for max); SIZE_MAX when it is invalid or
 * longer. */
size_t kz_utf8_decode_all(const char *s, size_t len, uint32_t *out, size_t max);
#define KZ_PREFIX_MAX_TERMS 256 /* terms a prefix (russ*) expands to at most */

typedef enum kz_occur {
    KZ_OCCUR_DEFAULT = 0, /* juxtaposed: required in AND mode, optional in OR mode */
    KZ_OCCUR_MUST,        /* +x, x AND y */
    KZ_OCCUR_SHOULD,      /* an alternative of OR */
    KZ_OCCUR_NOT          /* -x, NOT x */
} kz_occur;

typedef enum kz_qnode_kind {
    KZ_QNODE_LEAF = 0, /* a term (count 1) or a phrase: leaf_terms[first .. first+count) */
    KZ_QNODE_BOOL      /* children: kids[first .. first+count) */
} kz_qnode_kind;

typedef struct kz_qnode {
    kz_qnode_kind kind;
    kz_occur occur;  /* how its parent takes it */
    uint32_t column; /* of its start in the query, from 1 */
    uint32_t first, count;
    uint32_t unit;   /* LEAF: its scoring unit, or UINT32_MAX under a NOT or for a filter */
    uint8_t filter;  /* a field clause (source:x, date:2022), or a group of them only: it
                        narrows the matches and scores nothing */
    uint8_t in_title; /* LEAF: title:word, title:"a phrase": it matches a document only where
                         its term or phrase stands in the title, and scores as the same leaf
                         without title: (its unit's) */
    uint8_t title_twin; /* LEAF in_title: leaf_terms[title_first .. + count) are its terms as
                           the title field's words (KZ_TITLE_FIELD), whose lists find the
                           titles that hold it in a segment that has them (format 6) */
    uint32_t title_first;
} kz_qnode;

/* Tests only: when set, title: leaves find titles by positions even in
 * segments with title terms, as in those without (format 5). */
extern int kz_title_terms_off;

typedef struct kz_qterm {
    char *text;       /* the stem, NUL-terminated, owned */
    size_t len;
    int found;        /* a live document has it: then df */
    uint32_t df;      /* over the live documents of every segment */
    kz_term_loc *seg_loc; /* by segment: where it is there (KZ_TERM_ABSENT); owned; NULL: look it up */
} kz_qterm;

struct kz_query {
    kz_index *ix;    /* not owned */
    const kz_stats *global; /* kz_query_parse_global: N, avgdl and dfs from it; not owned; else NULL */
    kz_qterm *terms; /* distinct terms */
    size_t n_terms, terms_cap;
    kz_qnode *nodes;
    size_t n_nodes, nodes_cap;
    uint32_t *kids;
    size_t n_kids, kids_cap;
    uint32_t *leaf_terms; /* indices into terms */
    size_t n_leaf_terms, leaf_terms_cap;
    uint32_t root;   /* UINT32_MAX when the query has no terms */
    uint32_t *units; /* the leaf node of each scoring unit, in query order */
    size_t n_units, units_cap;
    char *notes[KZ_QUERY_MAX_NOTES];
    size_t n_notes;
    /* A juxtaposed clause, in a group of several as written (repeats
     * included), lies under an exclusion: AUTO mode keeps AND then. */
    int default_under_not;
    char *suggestion; /* KZ_QUERY_SUGGEST: the query with its unknown words replaced; owned */
};

/**************************************************************************
** Interface to code in query/stats.c
*/

/* Sorts and dedupes s's record (a kz_stats is read only when settled). */
void kz_stats_settle(kz_stats *s);
/* A kz_stats of ix's N, tokens, docids, language and Cyrillic, to record a
 * parse's answers in; the caller's (kz_stats_free). */
int kz_stats_begin(kz_stats **out, kz_index *ix);
int kz_stats_record_term(kz_stats *s, const char *text, size_t len, uint64_t df);
/* Of a settled s: a term's df (0: absent); the terms that start with
 * prefix, s's [*first, *first + return); term i. */
uint64_t kz_stats_df(const kz_stats *s, const char *text, size_t len);
size_t kz_stats_prefix_range(const kz_stats *s, const char *prefix, size_t len, size_t *first);
const char *kz_stats_term_at(const kz_stats *s, size_t i, size_t *len, uint64_t *df);
int kz_stats_has_cyrillic(const kz_stats *s);
/* kz_index_prefix_extent, answered by global when not NULL, and recorded
 * in record when not NULL. */
int kz_stats_extent(kz_index *ix, const kz_stats *global, kz_stats *record, const char *prefix, size_t len,
                    uint64_t *count, kz_term *lo, kz_term *hi);

/**************************************************************************
** Interface to code in query/search.c
*/

/* idf of the i-th query term, 0 if the index does not have it. */
double kz_results_idf(const kz_results *r, size_t i);

#endif
