/*
 * bench_fts5.h: SQLite FTS5 as the baseline engine, driven the way its
 * documentation shows: the porter tokenizer over unicode61 (diacritics
 * removed), bm25() ranking through "ORDER BY rank LIMIT k".
 */
#ifndef KZ_BENCH_FTS5_H
#define KZ_BENCH_FTS5_H

#include "bench.h"

typedef struct kzb_fts5 kzb_fts5;

/* Builds path (replacing it) from the corpus: one transaction of inserts,
 * then the 'optimize' merge. *seconds is the wall time of both. */
int kzb_fts5_build(const char *path, const kzb_corpus *c, double *seconds);
/* Document i's date and source (NUL-terminated, within the sizes given)
 * and a number. */
typedef void (*kzb_fts5_meta_fn)(void *ctx, size_t i, char *date, size_t date_size, char *source,
                                 size_t source_size, int64_t *number);
/* As kzb_fts5_build, with three more columns, date, source and views (an
 * integer), UNINDEXED: compared by SQL, as a user of FTS5 would filter;
 * filled by meta. */
int kzb_fts5_build_meta(const char *path, const kzb_corpus *c, kzb_fts5_meta_fn meta, void *ctx, double *seconds);
int kzb_fts5_open(kzb_fts5 **out, const char *path);
void kzb_fts5_close(kzb_fts5 *f);

typedef enum kzb_fts5_mode { KZB_FTS5_AND, KZB_FTS5_OR, KZB_FTS5_PHRASE } kzb_fts5_mode;

/* Runs the words of query in mode: k > 0 reads the top k rowids (ranked),
 * k == 0 counts the matches. *rows is what came back (rows or the count).
 * Returns 0, or -1 on an SQLite error (printed). */
int kzb_fts5_query(kzb_fts5 *f, const char *query, kzb_fts5_mode mode, int k, uint64_t *rows);

/* Runs sql, a SELECT whose one parameter ?1 is the FTS5 expression of the
 * words of query in mode (prepared on first use and kept, by the address
 * of sql: a string that lives as long as f). *rows: the rows it gave. */
int kzb_fts5_select(kzb_fts5 *f, const char *sql, const char *query, kzb_fts5_mode mode, uint64_t *rows);

/* Rows in the table. */
int kzb_fts5_rows(kzb_fts5 *f, uint64_t *rows);

#endif
