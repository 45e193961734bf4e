/*
 * bench_fts5.c: SQLite FTS5, the baseline engine of the query and
 * indexing cases.
 */
#include "bench_fts5.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KZB_FTS5_STATEMENTS 8

struct kzb_fts5 {
    sqlite3 *db;
    sqlite3_stmt *top, *count;
    /* kzb_fts5_select's statements, prepared once, by their SQL text. */
    const char *sql[KZB_FTS5_STATEMENTS];
    sqlite3_stmt *prepared[KZB_FTS5_STATEMENTS];
};

static int sql_fail(sqlite3 *db, const char *what)
{
    fprintf(stderr, "kzbench: sqlite %s: %s\n", what, db ? sqlite3_errmsg(db) : "no database");
    return -1;
}

/* The table of kzb_fts5_build, with the columns date, source and views
 * (UNINDEXED) when meta is given. */
static int build(const char *path, const kzb_corpus *c, kzb_fts5_meta_fn meta, void *ctx, double *seconds)
{
    unlink(path);
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    int rc = -1;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        goto done;
    uint64_t t0 = kzb_now_ns();
    if (sqlite3_exec(db,
                     meta ? "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                            "CREATE VIRTUAL TABLE docs USING fts5(title, text, date UNINDEXED, source UNINDEXED, views UNINDEXED, "
                            "tokenize='porter unicode61 remove_diacritics 2');"
                            "BEGIN;"
                          : "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                            "CREATE VIRTUAL TABLE docs USING fts5(title, text, "
                            "tokenize='porter unicode61 remove_diacritics 2');"
                            "BEGIN;",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           meta ? "INSERT INTO docs(rowid, title, text, date, source, views) VALUES (?, ?, ?, ?, ?, ?)"
                                : "INSERT INTO docs(rowid, title, text) VALUES (?, ?, ?)",
                           -1, &ins, NULL) != SQLITE_OK) {
        sql_fail(db, "create");
        goto done;
    }
    for (size_t i = 0; i < c->n; i++) {
        char date[64], source[64];
        sqlite3_bind_int64(ins, 1, (sqlite3_int64)i + 1);
        sqlite3_bind_text(ins, 2, c->docs[i].title, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, c->docs[i].text, (int)c->docs[i].text_len, SQLITE_STATIC);
        if (meta) {
            int64_t number;
            meta(ctx, i, date, sizeof date, source, sizeof source, &number);
            sqlite3_bind_text(ins, 4, date, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins, 5, source, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(ins, 6, number);
        }
        if (sqlite3_step(ins) != SQLITE_DONE) {
            sql_fail(db, "insert");
            goto done;
        }
        sqlite3_reset(ins);
    }
    if (sqlite3_exec(db, "COMMIT; INSERT INTO docs(docs) VALUES('optimize');", NULL, NULL, NULL) != SQLITE_OK) {
        sql_fail(db, "optimize");
        goto done;
    }
    *seconds = (double)(kzb_now_ns() - t0) * 1e-9;
    rc = 0;
done:
    sqlite3_finalize(ins);
    if (db && sqlite3_close(db) != SQLITE_OK)
        rc = sql_fail(db, "close");
    return rc;
}

int kzb_fts5_build(const char *path, const kzb_corpus *c, double *seconds)
{
    return build(path, c, NULL, NULL, seconds);
}

int kzb_fts5_build_meta(const char *path, const kzb_corpus *c, kzb_fts5_meta_fn meta, void *ctx, double *seconds)
{
    return build(path, c, meta, ctx, seconds);
}

int kzb_fts5_open(kzb_fts5 **out, const char *path)
{
    kzb_fts5 *f = calloc(1, sizeof *f);
    *out = NULL;
    if (!f)
        return -1;
    if (sqlite3_open_v2(path, &f->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(f->db, "SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY rank LIMIT ?", -1, &f->top,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(f->db, "SELECT count(*) FROM docs WHERE docs MATCH ?", -1, &f->count, NULL) != SQLITE_OK) {
        sql_fail(f->db, "open");
        kzb_fts5_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

void kzb_fts5_close(kzb_fts5 *f)
{
    if (!f)
        return;
    sqlite3_finalize(f->top);
    sqlite3_finalize(f->count);
    for (size_t i = 0; i < KZB_FTS5_STATEMENTS; i++)
        sqlite3_finalize(f->prepared[i]);
    sqlite3_close(f->db);
    free(f);
}

/* The query's words (runs of letters, digits and non-ASCII bytes), each a
 * quoted FTS5 string, joined for the mode. */
static void fts5_expr(char *out, size_t size, const char *q, kzb_fts5_mode mode)
{
    size_t at = 0;
    const char *join = mode == KZB_FTS5_AND ? " AND " : mode == KZB_FTS5_OR ? " OR " : " ";
    int words = 0;
    if (mode == KZB_FTS5_PHRASE && at + 1 < size)
        out[at++] = '"';
    for (const unsigned char *p = (const unsigned char *)q; *p;) {
        while (*p && !(*p >= 0x80 || (*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')))
            p++;
        if (!*p)
            break;
        const unsigned char *w = p;
        while (*p >= 0x80 || (*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'))
            p++;
        int n = snprintf(out + at, size - at, "%s%s%.*s%s", words ? join : "", mode == KZB_FTS5_PHRASE ? "" : "\"",
                         (int)(p - w), (const char *)w, mode == KZB_FTS5_PHRASE ? "" : "\"");
        if (n < 0 || (size_t)n >= size - at)
            break;
        at += (size_t)n;
        words++;
    }
    if (mode == KZB_FTS5_PHRASE && at + 2 < size)
        out[at++] = '"';
    out[at < size ? at : size - 1] = 0;
    if (words == 0)
        snprintf(out, size, "\"\"");
}

int kzb_fts5_query(kzb_fts5 *f, const char *query, kzb_fts5_mode mode, int k, uint64_t *rows)
{
    char expr[8192];
    fts5_expr(expr, sizeof expr, query, mode);
    sqlite3_stmt *st = k > 0 ? f->top : f->count;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, expr, -1, SQLITE_TRANSIENT);
    if (k > 0)
        sqlite3_bind_int(st, 2, k);
    *rows = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        *rows = k > 0 ? *rows + 1 : (uint64_t)sqlite3_column_int64(st, 0);
    if (r != SQLITE_DONE)
        return sql_fail(f->db, expr);
    return 0;
}

int kzb_fts5_select(kzb_fts5 *f, const char *sql, const char *query, kzb_fts5_mode mode, uint64_t *rows)
{
    size_t i = 0;
    while (i < KZB_FTS5_STATEMENTS && f->sql[i] && f->sql[i] != sql)
        i++;
    if (i == KZB_FTS5_STATEMENTS) {
        fprintf(stderr, "kzbench: more than %d SQL statements\n", KZB_FTS5_STATEMENTS);
        return -1;
    }
    if (!f->sql[i]) {
        if (sqlite3_prepare_v2(f->db, sql, -1, &f->prepared[i], NULL) != SQLITE_OK)
            return sql_fail(f->db, sql);
        f->sql[i] = sql;
    }
    char expr[8192];
    fts5_expr(expr, sizeof expr, query, mode);
    sqlite3_stmt *st = f->prepared[i];
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, expr, -1, SQLITE_TRANSIENT);
    *rows = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        (*rows)++;
    if (r != SQLITE_DONE)
        return sql_fail(f->db, expr);
    return 0;
}

int kzb_fts5_rows(kzb_fts5 *f, uint64_t *rows)
{
    sqlite3_stmt *st;
    *rows = 0;
    if (sqlite3_prepare_v2(f->db, "SELECT count(*) FROM docs", -1, &st, NULL) != SQLITE_OK)
        return sql_fail(f->db, "count");
    if (sqlite3_step(st) == SQLITE_ROW)
        *rows = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}
