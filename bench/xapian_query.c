/*
 * xapian_query.c: the one-query Xapian program that query/cold-start runs
 * beside `kzsearch QUERY` (issue 16's peer): it opens the database kzbench
 * built (bench_xapian.h), analyses the query's words as the in-process
 * cases do (kzb_xapian_words_of, kzsearch's query analysis), ranks the OR
 * of their distinct terms by BM25 and prints the top 10, a line each:
 * rank, id, title, weight.
 *
 *   kzb-xapian-query DB QUERY...
 */
#include "bench_xapian.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    kzb_xapian_words *w = NULL;
    char *text = NULL;
    int status = 2;
    size_t total = 0;
    for (int i = 2; i < argc; i++)
        total += strlen(argv[i]) + 1;
    if (!(text = calloc(total + 1, 1)) || kzb_xapian_words_new(&w) != 0) {
        fprintf(stderr, "kzb-xapian-query: out of memory\n");
        goto done;
    }
    for (int i = 2; i < argc; i++) {
        if (i > 2)
            strcat(text, " ");
        strcat(text, argv[i]);
    }
    if (kzb_xapian_open(&x, argv[1]) != 0) {
        fprintf(stderr, "kzb-xapian-query: %s\n", kzb_xapian_error());
        goto done;
    }
    const kzb_xapian_term *terms;
    size_t n;
    if (kzb_xapian_words_of(w, text, strlen(text), 1, &terms, &n) != 0) {
        fprintf(stderr, "kzb-xapian-query: cannot analyse the query\n");
        goto done;
    }
    uint64_t rows, hits;
    if (kzb_xapian_search(x, KZB_XAPIAN_OR, terms, n, 10, &rows, &hits, print_hit, NULL) != 0) {
        fprintf(stderr, "kzb-xapian-query: %s\n", kzb_xapian_error());
        goto done;
    }
    status = rows ? 0 : 1;
done:
    kzb_xapian_close(x);
    kzb_xapian_words_free(w);
    free(text);
    return status;
}
