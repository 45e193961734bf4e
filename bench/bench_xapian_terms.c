/*
 * bench_xapian_terms.c: kzsearch's analysis, for the Xapian database of
 * the bench (bench_xapian.h): documents analysed as the builder analyses
 * them, queries as the query parser analyses a query's words. kzbench and
 * kzb-xapian-query both link it.
 */
#include "bench.h"
#include "bench_xapian.h"
#include "kzint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kzb_xapian_words {
    kz_analyzer *a;
    kz_tokvec tv;
    kzb_xapian_term *terms;
    size_t cap;
};

/* Room for n terms in *terms (capacity *cap). */
static int reserve_terms(kzb_xapian_term **terms, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    size_t want = *cap ? *cap : 64;
    while (want < n)
        want *= 2;
    kzb_xapian_term *t = realloc(*terms, want * sizeof *t);
    if (!t)
        return -1;
    *terms = t;
    *cap = want;
    return 0;
}

int kzb_xapian_build(const char *path, const kzb_corpus *c)
{
    kzb_xapian *x = NULL;
    kz_analyzer *a = NULL;
    kz_tokvec tv = { 0 };
    kzb_xapian_term *terms = NULL;
    uint32_t *positions = NULL;
    size_t cap = 0, pos_cap = 0;
    char *data = NULL;
    size_t data_cap = 0;
    int rc = -1;
    if (kzb_xapian_create(&x, path) != 0) {
        fprintf(stderr, "kzbench: xapian: %s\n", kzb_xapian_error());
        goto done;
    }
    if (kz_analyzer_new(&a, "auto") != KZ_OK) {
        fprintf(stderr, "kzbench: %s\n", kz_last_error());
        goto done;
    }
    for (size_t i = 0; i < c->n; i++) {
        const kzb_doc *d = &c->docs[i];
        size_t title_len = strlen(d->title), id_len = strlen(d->id);
        kz_analyzer_set_russian(a, !kz_doc_other_cyrillic(NULL, 0, d->title, title_len, d->text, d->text_len));
        tv.len = 0;
        if (kz_analyzer_run(a, d->title, title_len, &tv) != KZ_OK)
            goto analysis_failed;
        size_t title_tokens = tv.len;
        if (kz_analyzer_run(a, d->text, d->text_len, &tv) != KZ_OK)
            goto analysis_failed;
        if (reserve_terms(&terms, &cap, tv.len) != 0)
            goto no_memory;
        if (tv.len > pos_cap) {
            uint32_t *p = realloc(positions, tv.len * sizeof *p);
            if (!p)
                goto no_memory;
            positions = p;
            pos_cap = tv.len;
        }
        for (size_t t = 0; t < tv.len; t++) {
            terms[t].s = kz_analyzer_term(a, tv.v[t].term, &terms[t].len);
            positions[t] = (uint32_t)(t + (t < title_tokens ? 1 : 2));
        }
        if (id_len + title_len + 2 > data_cap) {
            char *p = realloc(data, id_len + title_len + 2);
            if (!p)
                goto no_memory;
            data = p;
            data_cap = id_len + title_len + 2;
        }
        memcpy(data, d->id, id_len);
        data[id_len] = '\t';
        memcpy(data + id_len + 1, d->title, title_len + 1);
        if (kzb_xapian_add(x, data, terms, positions, tv.len) != 0) {
            fprintf(stderr, "kzbench: xapian: %s\n", kzb_xapian_error());
            goto done;
        }
    }
    if (kzb_xapian_commit(x) != 0) {
        fprintf(stderr, "kzbench: xapian: %s\n", kzb_xapian_error());
        goto done;
    }
    kzb_xapian_close(x);
    x = NULL;
    rc = 0;
    goto done;
analysis_failed:
    fprintf(stderr, "kzbench: %s\n", kz_last_error());
    goto done;
no_memory:
    fprintf(stderr, "kzbench: out of memory\n");
done:
    kzb_xapian_close(x);
    kz_analyzer_free(a);
    kz_tokvec_free(&tv);
    free(terms);
    free(positions);
    free(data);
    return rc;
}

int kzb_xapian_words_new(kzb_xapian_words **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return -1;
    if (kz_analyzer_new(&(*out)->a, "auto") != KZ_OK) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

void kzb_xapian_words_free(kzb_xapian_words *w)
{
    if (!w)
        return;
    kz_analyzer_free(w->a);
    kz_tokvec_free(&w->tv);
    free(w->terms);
    free(w);
}

int kzb_xapian_words_of(kzb_xapian_words *w, const char *text, size_t len, int distinct,
                        const kzb_xapian_term **terms, size_t *n)
{
    *n = 0;
    w->tv.len = 0;
    if (kz_analyzer_run(w->a, text, len, &w->tv) != KZ_OK || reserve_terms(&w->terms, &w->cap, w->tv.len) != 0)
        return -1;
    for (size_t t = 0; t < w->tv.len; t++) {
        int seen = 0;
        for (size_t j = 0; distinct && j < t && !seen; j++)
            seen = w->tv.v[j].term == w->tv.v[t].term;
        if (seen)
            continue;
        w->terms[*n].s = kz_analyzer_term(w->a, w->tv.v[t].term, &w->terms[*n].len);
        (*n)++;
    }
    *terms = w->terms;
    return 0;
}
