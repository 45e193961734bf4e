/*
 * bench_xapian.h: Xapian 1.4, the fastest peer measured here, as a second
 * baseline engine of kzbench, when libxapian-dev is installed (CMake then
 * defines KZB_HAVE_XAPIAN).
 *
 * The database holds the terms kzsearch's own analyzer gives (the stems,
 * as Xapian's STEM_ALL would store them, so both engines search the same
 * terms): a document's title tokens at positions 1..t, its text's from
 * t + 2 (a gap, so that a phrase never crosses from title to text, as in
 * kzsearch), each with wdf 1, so that Xapian's document length is
 * kzsearch's dl. Queries are ranked by Xapian's BM25Weight with k1 = 1.2,
 * b = 0.75 (kzsearch's), k2 = 0, k3 = 1, min_normlen = 0.
 *
 * bench_xapian.cc is the only C++ of the project: these calls catch every
 * Xapian exception and return -1, with the message in kzb_xapian_error().
 */
#ifndef KZ_BENCH_XAPIAN_H
#define KZ_BENCH_XAPIAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kzb_xapian kzb_xapian;

typedef enum kzb_xapian_op { KZB_XAPIAN_AND, KZB_XAPIAN_OR, KZB_XAPIAN_PHRASE } kzb_xapian_op;

/* A term of a document or a query: bytes, not NUL-terminated. */
typedef struct kzb_xapian_term {
    const char *s;
    size_t len;
} kzb_xapian_term;

/* Creates path as an empty writable database (replacing one there).
 * *out is the caller's, closed with kzb_xapian_close (which commits). */
int kzb_xapian_create(kzb_xapian **out, const char *path);
/* Adds a document: data (stored, NUL-terminated: what a search prints),
 * terms[i] at position positions[i] (from 1), each with wdf 1. */
int kzb_xapian_add(kzb_xapian *x, const char *data, const kzb_xapian_term *terms, const uint32_t *positions,
                   size_t n);
/* Commits what was added (a writable database). */
int kzb_xapian_commit(kzb_xapian *x);
/* Opens path for reading. *out is the caller's. */
int kzb_xapian_open(kzb_xapian **out, const char *path);
/* Commits (a writable database) and frees x. NULL is fine. */
void kzb_xapian_close(kzb_xapian *x);
/* Documents in the database. */
uint64_t kzb_xapian_docs(kzb_xapian *x);

/* One hit of kzb_xapian_search, in rank order: its stored data (valid
 * during the call) and its BM25 weight. */
typedef void (*kzb_xapian_hit_fn)(void *ctx, const char *data, size_t len, double weight);

/* The terms under op (a phrase: in order, adjacent; AND and OR: as
 * given), ranked by BM25: k > 0 reads the top k (*rows of them, hit called
 * for each when not NULL); k == 0 counts the matches exactly (*total; for
 * k > 0, *total is Xapian's estimate). */
int kzb_xapian_search(kzb_xapian *x, kzb_xapian_op op, const kzb_xapian_term *terms, size_t n, unsigned k,
                      uint64_t *rows, uint64_t *total, kzb_xapian_hit_fn hit, void *ctx);

/* The message of the last failure of this thread. */
const char *kzb_xapian_error(void);

/* bench_xapian_terms.c: kzsearch's analysis for the database. */

struct kzb_corpus;
/* Builds path (a database there is overwritten) from the corpus, a
 * document at a time with the terms and positions above and data
 * "ID<TAB>TITLE", then commits. The analysis is part of it, as kzsearch's
 * build analyses too. */
int kzb_xapian_build(const char *path, const struct kzb_corpus *c);

/* The terms of queries, analysed as kzsearch analyses a query's words. */
typedef struct kzb_xapian_words kzb_xapian_words;
int kzb_xapian_words_new(kzb_xapian_words **out);
void kzb_xapian_words_free(kzb_xapian_words *w);
/* The terms of text (valid UTF-8): every token's, in order (for a
 * phrase), or distinct, each the first time it comes (for AND and OR, as
 * kzsearch's scoring units are). *terms is w's, valid until its next call. */
int kzb_xapian_words_of(kzb_xapian_words *w, const char *text, size_t len, int distinct,
                        const kzb_xapian_term **terms, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
