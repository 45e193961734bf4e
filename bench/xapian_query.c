/*
 * xapian_query.c: the one-query Xapian program that query/cold-start runs
 * beside `kzsearch QUERY` (issue 16's peer): it opens the database kzbench
 * built (bench_xapian.h), analyses the query's words as kzsearch does,
 * ranks the OR of their distinct terms by BM25 and prints the top 10, a
 * line each: rank, id, title, weight.
 *
 *   kzb-xapian-query DB QUERY...
 */
#include "bench_xapian.h"
#include "kzsearch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct words {
    kzb_xapian_term *v;
    char **owned;
    size_t n, cap;
} words;

static void add_word(void *ctx, const char *stem, size_t len, size_t start, size_t end)
{
    (void)start, (void)end;
    words *w = ctx;
    for (size_t i = 0; i < w->n; i++)
        if (w->v[i].len == len && memcmp(w->v[i].s, stem, len) == 0)
            return;
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 16;
        w->v = realloc(w->v, w->cap * sizeof *w->v);
        w->owned = realloc(w->owned, w->cap * sizeof *w->owned);
        if (!w->v || !w->owned) {
            fprintf(stderr, "kzb-xapian-query: out of memory\n");
            exit(2);
        }
    }
    char *copy = strndup(stem, len);
    if (!copy) {
        fprintf(stderr, "kzb-xapian-query: out of memory\n");
        exit(2);
    }
    w->owned[w->n] = copy;
    w->v[w->n].s = copy;
    w->v[w->n++].len = len;
}

static int rank;

static void print_hit(void *ctx, const char *data, size_t len, double weight)
{
    (void)ctx;
    const char *tab = memchr(data, '\t', len);
    size_t id_len = tab ? (size_t)(tab - data) : len;
    printf("%d\t%.*s\t%.*s\t%.4f\n", ++rank, (int)id_len, data, tab ? (int)(len - id_len - 1) : 0,
           tab ? tab + 1 : "", weight);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: kzb-xapian-query DB QUERY...\n");
        return 2;
    }
    kzb_xapian *x = NULL;
    words w = { 0 };
    int status = 2;
    if (kzb_xapian_open(&x, argv[1]) != 0) {
        fprintf(stderr, "kzb-xapian-query: %s\n", kzb_xapian_error());
        goto done;
    }
    for (int i = 2; i < argc; i++)
        if (kz_analyze("auto", argv[i], strlen(argv[i]), add_word, &w) != KZ_OK) {
            fprintf(stderr, "kzb-xapian-query: %s\n", kz_last_error());
            goto done;
        }
    uint64_t rows, total;
    if (kzb_xapian_search(x, KZB_XAPIAN_OR, w.v, w.n, 10, &rows, &total, print_hit, NULL) != 0) {
        fprintf(stderr, "kzb-xapian-query: %s\n", kzb_xapian_error());
        goto done;
    }
    status = rows ? 0 : 1;
done:
    kzb_xapian_close(x);
    for (size_t i = 0; i < w.n; i++)
        free(w.owned[i]);
    free(w.v);
    free(w.owned);
    return status;
}
