/*
 * bench_variants.c: what spellings in the other script cost a query
 * (README "Spelling variants").
 *
 * Two indexes are built in this process (2 threads): the run's corpus
 * alone (English: no Cyrillic terms), and the corpus with a Cyrillic copy
 * of every document beside it (each word of Latin letters in its first
 * Cyrillic reading, kz_translit: a mixed archive where every word has a
 * spelling in the other script). Every query runs in AND mode, top 10, single thread, warm,
 * with its variants and without (KZ_QUERY_NO_VARIANTS):
 *
 * variants/english-plain-and, variants/english-and: the English index; the
 *   second against the first (no Cyrillic terms: no variants looked for).
 * variants/mixed-plain-and, variants/mixed-and: the mixed index; the
 *   second against the first (each word also searched in Cyrillic).
 *
 * p50 and p99 in us. Checks: with variants, every total is at least the
 * plain one; on the English index, when it has no Cyrillic term at all, the
 * same (wikipedia-en has some: Russian names in articles); on the mixed
 * one, most queries find their Cyrillic copies (more matches).
 */
#include "bench.h"
#include "kzint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double now_us(void) { return (double)kzb_now_ns() / 1000.0; }

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Keeps the first spelling kz_translit gives. */
typedef struct first {
    char s[4 * KZ_TRANSLIT_WORD_MAX + 1];
    size_t len;
} first;

static int take_first(void *ctx, const char *s, size_t len)
{
    first *f = ctx;
    if (len >= sizeof f->s)
        return 1;
    memcpy(f->s, s, len);
    f->len = len;
    return 1; /* stop: one is enough */
}

/* s with each word of ASCII letters in its first Cyrillic reading (or as
 * it was, when it has none); the caller frees it. */
static char *cyrillic_copy(const char *s, size_t n)
{
    kz_buf out = { 0 };
    int rc = KZ_OK;
    for (size_t i = 0; i < n && rc == KZ_OK;) {
        size_t j = i;
        while (j < n && (((unsigned char)s[j] | 0x20) >= 'a' && ((unsigned char)s[j] | 0x20) <= 'z'))
            j++;
        if (j == i) {
            rc = kz_buf_append(&out, s + i, 1);
            i++;
            continue;
        }
        char word[KZ_TRANSLIT_WORD_MAX + 1];
        first f = { { 0 }, 0 };
        if (j - i <= KZ_TRANSLIT_WORD_MAX) {
            for (size_t k = i; k < j; k++)
                word[k - i] = (char)((unsigned char)s[k] | 0x20);
            kz_translit(word, j - i, take_first, &f);
        }
        rc = f.len ? kz_buf_append(&out, f.s, f.len) : kz_buf_append(&out, s + i, j - i);
        i = j;
    }
    if (rc == KZ_OK)
        rc = kz_buf_terminate(&out);
    if (rc) {
        kz_buf_free(&out);
        return NULL;
    }
    return (char *)out.data;
}

static int build(kzb *b, const char *dir, const kzb_corpus *c, int with_copies)
{
    kz_build_options bo = KZ_BUILD_OPTIONS_INIT;
    bo.threads = 2;
    bo.flags = KZ_BUILD_EMPTY_OK;
    kz_builder *bd = NULL;
    if (kz_builder_new(&bd, dir, &bo) != KZ_OK) {
        kzb_fail(b, "variants", "cannot start a build: %s", kz_last_error());
        return -1;
    }
    int rc = KZ_OK;
    for (size_t i = 0; i < c->n && rc == KZ_OK; i++) {
        const kzb_doc *d = &c->docs[i];
        rc = kz_builder_add_document(bd, d->id, strlen(d->id), d->title, strlen(d->title), d->text, d->text_len,
                                     NULL, 0);
        if (rc == KZ_OK && with_copies) {
            char id[600];
            snprintf(id, sizeof id, "cyrillic-%.500s", d->id);
            char *title = cyrillic_copy(d->title, strlen(d->title)), *text = cyrillic_copy(d->text, d->text_len);
            rc = title && text ? kz_builder_add_document(bd, id, strlen(id), title, strlen(title), text, strlen(text),
                                                         NULL, 0)
                               : KZ_ENOMEM;
            free(title);
            free(text);
        }
    }
    if (rc == KZ_OK)
        rc = kz_builder_commit(bd, NULL);
    kz_builder_free(bd);
    if (rc != KZ_OK)
        kzb_fail(b, "variants", "cannot build %s: %s", dir, kz_last_error());
    return rc == KZ_OK ? 0 : -1;
}

/* Runs every query (flags) twice, times the second pass into us[], and the
 * totals into totals[]. */
static int run(kzb *b, const char *name, kz_index *ix, const kzb_queries *q, unsigned flags, double *us,
               uint64_t *totals)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < q->n; i++) {
            kz_search_options so = KZ_SEARCH_OPTIONS_INIT;
            so.mode = KZ_MODE_ALL;
            kz_query *qq = NULL;
            kz_results *r = NULL;
            double t0 = now_us();
            int rc = kz_query_parse(&qq, ix, q->text[i], strlen(q->text[i]), flags, NULL);
            if (rc == KZ_OK)
                rc = kz_query_run(&r, qq, &so);
            us[i] = now_us() - t0;
            if (rc != KZ_OK) {
                kzb_fail(b, name, "query %s: %s", q->qid[i], kz_last_error());
                kz_query_free(qq);
                return -1;
            }
            totals[i] = kz_results_total(r);
            kz_results_free(r);
            kz_query_free(qq);
        }
    }
    qsort(us, q->n, sizeof *us, cmp_d);
    return 0;
}

void kzb_variants_cases(kzb *b)
{
    const kzb_corpus *c = kzb_main_corpus(b);
    const kzb_queries *q = kzb_main_queries(b);
    if (!c || !q || !q->n || !kzb_selects_group(b, "variants/"))
        return;
    char en_dir[4096], mixed_dir[4096];
    kzb_work_path(en_dir, sizeof en_dir, b, "kz-variants-en");
    kzb_work_path(mixed_dir, sizeof mixed_dir, b, "kz-variants-mixed");
    kz_index *en = NULL, *mixed = NULL;
    double *us = calloc(q->n, sizeof *us);
    uint64_t *plain = calloc(q->n, sizeof *plain), *with = calloc(q->n, sizeof *with);
    if (!us || !plain || !with) {
        kzb_fail(b, "variants", "out of memory");
        goto done;
    }
    if (build(b, en_dir, c, 0) || build(b, mixed_dir, c, 1))
        goto done;
    if (kz_index_open(&en, en_dir) != KZ_OK || kz_index_warm(en) != KZ_OK || kz_index_open(&mixed, mixed_dir) != KZ_OK ||
        kz_index_warm(mixed) != KZ_OK) {
        kzb_fail(b, "variants", "cannot open the indexes: %s", kz_last_error());
        goto done;
    }
    static const struct {
        const char *name, *base;
        int mixed;
        unsigned flags;
    } cases[] = {
        { "variants/english-plain-and", NULL, 0, KZ_QUERY_NO_VARIANTS },
        { "variants/english-and", "variants/english-plain-and", 0, 0 },
        { "variants/mixed-plain-and", NULL, 1, KZ_QUERY_NO_VARIANTS },
        { "variants/mixed-and", "variants/mixed-plain-and", 1, 0 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        uint64_t *totals = cases[k].base ? with : plain;
        if (run(b, cases[k].name, cases[k].mixed ? mixed : en, q, cases[k].flags, us, totals))
            continue;
        const char *base = cases[k].base;
        kzb_metric(b, cases[k].name, "p50", kzb_percentile(us, q->n, 0.5), "us", base, base ? "p50" : NULL);
        kzb_metric(b, cases[k].name, "p99", kzb_percentile(us, q->n, 0.99), "us", base, base ? "p99" : NULL);
        if (!base)
            continue;
        size_t more = 0;
        int cyrillic = 1;
        kz_index_has_cyrillic(cases[k].mixed ? mixed : en, &cyrillic);
        for (size_t i = 0; i < q->n; i++) {
            if (!cases[k].mixed && !cyrillic && with[i] != plain[i]) {
                kzb_fail(b, cases[k].name, "query %s: %llu matches, %llu without variants: an index without "
                         "Cyrillic terms must not change", q->qid[i], (unsigned long long)with[i],
                         (unsigned long long)plain[i]);
                break;
            }
            if (with[i] < plain[i]) {
                kzb_fail(b, cases[k].name, "query %s: %llu matches with variants, fewer than %llu without",
                         q->qid[i], (unsigned long long)with[i], (unsigned long long)plain[i]);
                break;
            }
            more += with[i] > plain[i];
        }
        kzb_metric(b, cases[k].name, "queries finding more", (double)more, "", NULL, NULL);
        if (cases[k].mixed) {
            if (2 * more < q->n)
                kzb_fail(b, cases[k].name, "only %zu of %zu queries found their Cyrillic copies", more, q->n);
        }
    }
done:
    kz_index_free(en);
    kz_index_free(mixed);
    free(us);
    free(plain);
    free(with);
}
