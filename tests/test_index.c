/*
 * test_index.c: round trip of the whole indexer and store against a model.
 *
 * Random documents are indexed; a brute-force model built here from the
 * same analysis (the analyzer's, tested on its own in test_analyzer.c,
 * told the document's Cyrillic language as the README says) says
 * what every posting, tf, position, document length and stored text must
 * be; everything is read back and compared. The same corpus is built with
 * 1 and 2 threads and with memory budgets that force many sorted runs:
 * every section must come out byte-identical.
 */
#include "kzint.h"
#include "format.h"
#include "test.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

/* ---------------------------------------------------------------- corpus */

typedef struct tdoc {
    char id[32];
    char *title, *text;
    size_t title_len, text_len;
    kz_doc_field meta[2];
    size_t n_meta;
} tdoc;

static const char *unicode_words[] = { "Қазақстан", "Россия", "straße", "Žomart", "naïve", "ЁЛКА",
                                       "café", "Putin’s", "6,846", "ﬁsh" };

static char *random_text(uint64_t *rng, char **vocab, size_t n_vocab, size_t words, size_t *len)
{
    kz_buf b = { 0 };
    for (size_t i = 0; i < words; i++) {
        uint64_t r = kz_test_rand(rng);
        const char *w;
        if (r % 50 == 0)
            w = unicode_words[(r >> 8) % (sizeof unicode_words / sizeof *unicode_words)];
        else {
            /* Zipf-like: squaring a uniform favours small indexes. */
            double u = (double)(kz_test_rand(rng) % 1000000) / 1e6;
            w = vocab[(size_t)(u * u * u * (double)n_vocab)];
        }
        if (i)
            kz_buf_append(&b, (r >> 20) % 13 == 0 ? ". " : (r >> 20) % 17 == 0 ? "\n" : " ", 1 + ((r >> 20) % 13 == 0));
        kz_buf_append(&b, w, strlen(w));
    }
    kz_buf_terminate(&b);
    *len = b.len;
    return b.data ? (char *)b.data : strdup("");
}

static tdoc *make_corpus(uint64_t seed, size_t n, char ***vocab_out, size_t *n_vocab_out)
{
    uint64_t rng = seed;
    size_t n_vocab = 800;
    char **vocab = malloc(n_vocab * sizeof *vocab);
    for (size_t i = 0; i < n_vocab; i++) {
        size_t len = 2 + kz_test_rand(&rng) % 9;
        vocab[i] = malloc(len + 1);
        for (size_t j = 0; j < len; j++)
            vocab[i][j] = (char)('a' + kz_test_rand(&rng) % 26);
        vocab[i][len] = 0;
        if (i % 7 == 0)
            vocab[i][0] = (char)(vocab[i][0] - 'a' + 'A');
    }
    /* A word in most documents, so its postings span several blocks. */
    vocab[0][0] = 't', vocab[0][1] = 'h';
    tdoc *docs = calloc(n, sizeof *docs);
    for (size_t i = 0; i < n; i++) {
        tdoc *d = &docs[i];
        snprintf(d->id, sizeof d->id, "doc-%zu", i);
        size_t tw = kz_test_rand(&rng) % 8;
        size_t xw = kz_test_rand(&rng) % 5 == 0 ? 0 : kz_test_rand(&rng) % 400;
        if (tw == 0 && xw == 0)
            xw = 3;
        if (i % 97 == 5)
            xw = 3000; /* a few long documents: tf above the 255 escape */
        d->title = random_text(&rng, vocab, n_vocab, tw, &d->title_len);
        d->text = random_text(&rng, vocab, i % 97 == 5 ? 3 : n_vocab, xw, &d->text_len);
        if (i % 3 == 0) {
            d->meta[0] = (kz_doc_field){ "url", 3, "https://example.org/x", 21 };
            d->meta[1] = (kz_doc_field){ "date", 4, "2024-01-02", 10 };
            d->n_meta = 2;
        }
    }
    *vocab_out = vocab;
    *n_vocab_out = n_vocab;
    return docs;
}

static void free_corpus(tdoc *docs, size_t n, char **vocab, size_t n_vocab)
{
    for (size_t i = 0; i < n; i++) {
        free(docs[i].title);
        free(docs[i].text);
    }
    free(docs);
    for (size_t i = 0; i < n_vocab; i++)
        free(vocab[i]);
    free(vocab);
}

/* ---------------------------------------------------------------- model */

typedef struct mposting {
    uint32_t docid;
    uint32_t tf;
    uint32_t *pos;
} mposting;

typedef struct mterm {
    char *text;
    size_t len;
    mposting *p;
    size_t n, cap;
} mterm;

typedef struct model {
    mterm *terms;
    size_t n, cap;
    uint32_t *dl, *title_tokens;
    uint64_t tokens;
    /* while analysing one document */
    uint32_t cur_doc, cur_pos;
} model;

static mterm *model_term(model *m, const char *s, size_t len)
{
    for (size_t i = 0; i < m->n; i++) /* brute force on purpose */
        if (m->terms[i].len == len && memcmp(m->terms[i].text, s, len) == 0)
            return &m->terms[i];
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        m->terms = realloc(m->terms, m->cap * sizeof *m->terms);
    }
    mterm *t = &m->terms[m->n++];
    memset(t, 0, sizeof *t);
    t->text = malloc(len);
    memcpy(t->text, s, len);
    t->len = len;
    return t;
}

static void model_token(void *ctx, const char *stem, size_t len, size_t start, size_t end)
{
    model *m = ctx;
    KZ_UNUSED(start);
    KZ_UNUSED(end);
    mterm *t = model_term(m, stem, len);
    if (t->n == 0 || t->p[t->n - 1].docid != m->cur_doc) {
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 4;
            t->p = realloc(t->p, t->cap * sizeof *t->p);
        }
        t->p[t->n++] = (mposting){ m->cur_doc, 0, NULL };
    }
    mposting *p = &t->p[t->n - 1];
    p->pos = realloc(p->pos, (p->tf + 1) * sizeof *p->pos);
    p->pos[p->tf++] = m->cur_pos++;
}

/* A title word, as the title field's word term (format 6). */
static void model_title_token(void *ctx, const char *stem, size_t len, size_t start, size_t end)
{
    char term[300];
    int w = snprintf(term, sizeof term, "\x01title\x1fw%.*s", (int)len, stem);
    model_token(ctx, term, (size_t)w, start, end);
}

/* README "Analysis", step 4, written again here: a document without a
 * lang field is of a Cyrillic language other than Russian when one in ten
 * of the Cyrillic words of its title and text (or more, at least one)
 * holds a letter outside the Russian alphabet. */
static int reads_other_cyrillic(const tdoc *d)
{
    size_t words = 0, other = 0;
    const char *parts[2] = { d->title, d->text };
    size_t lens[2] = { d->title_len, d->text_len };
    for (int k = 0; k < 2; k++) {
        int in_word = 0, counted = 0;
        utf8proc_ssize_t at = 0, n = (utf8proc_ssize_t)lens[k];
        while (at < n) {
            utf8proc_int32_t c;
            utf8proc_ssize_t w = utf8proc_iterate((const utf8proc_uint8_t *)parts[k] + at, n - at, &c);
            if (w <= 0) {
                c = -1;
                w = 1;
            }
            at += w;
            if (c >= 0x400 && c <= 0x52F) {
                words += !in_word;
                if (!in_word)
                    counted = 0;
                in_word = 1;
                int russian = (c >= 0x410 && c <= 0x44F) || c == 0x401 || c == 0x451;
                if (!russian && !counted)
                    other++, counted = 1;
            } else if (!(in_word && c >= 0x300 && c <= 0x36F)) {
                in_word = 0;
            }
        }
    }
    return other > 0 && other * 10 >= words;
}

/* The analyzer's tokens of s, Russian words stemmed unless other, to fn. */
static void analyze_doc(const char *s, size_t n, int other, kz_token_fn fn, void *ctx)
{
    kz_analyzer *a = NULL;
    kz_tokvec tv = { 0 };
    CHECK_OK(kz_analyzer_new(&a, NULL));
    if (!a)
        return;
    kz_analyzer_set_russian(a, !other);
    CHECK_OK(kz_analyzer_run(a, s, n, &tv));
    for (size_t i = 0; i < tv.len; i++) {
        size_t len;
        const char *stem = kz_analyzer_term(a, tv.v[i].term, &len);
        fn(ctx, stem, len, tv.v[i].start, tv.v[i].end);
    }
    kz_tokvec_free(&tv);
    kz_analyzer_free(a);
}

static int cmp_mterm(const void *a, const void *b)
{
    const mterm *x = a, *y = b;
    int c = memcmp(x->text, y->text, KZ_MIN(x->len, y->len));
    return c ? c : (x->len < y->len ? -1 : x->len > y->len);
}

static void build_model(model *m, const tdoc *docs, size_t n)
{
    memset(m, 0, sizeof *m);
    m->dl = calloc(n, sizeof *m->dl);
    m->title_tokens = calloc(n, sizeof *m->title_tokens);
    for (size_t i = 0; i < n; i++) {
        m->cur_doc = (uint32_t)i;
        m->cur_pos = 0;
        int other = reads_other_cyrillic(&docs[i]);
        analyze_doc(docs[i].title, docs[i].title_len, other, model_token, m);
        m->title_tokens[i] = m->cur_pos;
        analyze_doc(docs[i].text, docs[i].text_len, other, model_token, m);
        m->dl[i] = m->cur_pos;
        m->tokens += m->cur_pos;
        /* Field terms, as FORMAT.md "Field terms" says: the title's words,
         * then the two kinds of value the documents have (an ISO day, an
         * ASCII keyword); their positions count the document's field terms
         * from 0. */
        m->cur_pos = 0;
        analyze_doc(docs[i].title, docs[i].title_len, other, model_title_token, m);
        for (size_t k = 0; k < docs[i].n_meta; k++) {
            const kz_doc_field *f = &docs[i].meta[k];
            char term[256];
            int y, mo, d;
            char end;
            if (f->value_len == 10 && sscanf(f->value, "%4d-%2d-%2d%c", &y, &mo, &d, &end) == 3) {
                int w = snprintf(term, sizeof term, "\x01%.*s\x1f" "dY%04d", (int)f->key_len, f->key, y);
                model_token(m, term, (size_t)w, 0, 0);
                w = snprintf(term, sizeof term, "\x01%.*s\x1f" "dM%04d-%02d", (int)f->key_len, f->key, y, mo);
                model_token(m, term, (size_t)w, 0, 0);
                w = snprintf(term, sizeof term, "\x01%.*s\x1f" "dD%04d-%02d-%02d", (int)f->key_len, f->key, y, mo, d);
                model_token(m, term, (size_t)w, 0, 0);
            } else {
                int w = snprintf(term, sizeof term, "\x01%.*s\x1f" "k", (int)f->key_len, f->key);
                for (size_t j = 0; j < f->value_len; j++)
                    term[w++] = (char)(f->value[j] >= 'A' && f->value[j] <= 'Z' ? f->value[j] + 32 : f->value[j]);
                model_token(m, term, (size_t)w, 0, 0);
            }
        }
    }
    qsort(m->terms, m->n, sizeof *m->terms, cmp_mterm);
}

static void free_model(model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        for (size_t j = 0; j < m->terms[i].n; j++)
            free(m->terms[i].p[j].pos);
        free(m->terms[i].p);
        free(m->terms[i].text);
    }
    free(m->terms);
    free(m->dl);
    free(m->title_tokens);
}

/* ---------------------------------------------------------------- helpers */

static int build(const char *dir, const tdoc *docs, size_t n, unsigned threads, uint64_t budget,
                 kz_build_stats *st)
{
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.threads = threads;
    o.memory_budget = budget;
    kz_builder *b;
    int rc = kz_builder_new(&b, dir, &o);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && rc == KZ_OK; i++)
        rc = kz_builder_add_document(b, docs[i].id, strlen(docs[i].id), docs[i].title, docs[i].title_len,
                                     docs[i].text, docs[i].text_len, docs[i].meta, docs[i].n_meta);
    if (rc == KZ_OK)
        rc = kz_builder_commit(b, st);
    kz_builder_free(b);
    return rc;
}

/* ---------------------------------------------------------------- checks */

static void compare_with_model(kz_index *ix, const model *m, const tdoc *docs, size_t n)
{
    kz_index_info info;
    kz_index_get_info(ix, &info);
    CHECK_INT(info.docs, n);
    CHECK_INT(info.tokens, m->tokens);
    CHECK_INT(info.terms, m->n);
    CHECK(info.avgdl == (double)m->tokens / (double)n);
    CHECK_STR(info.language, "auto");

    for (size_t i = 0; i < n; i++) {
        kz_doc d;
        kz_doc_field meta[4];
        CHECK_OK(kz_index_doc(ix, &d, (uint32_t)i, meta, 4));
        CHECK(d.id_len == strlen(docs[i].id) && memcmp(d.id, docs[i].id, d.id_len) == 0);
        CHECK(d.title_len == docs[i].title_len && memcmp(d.title, docs[i].title, d.title_len) == 0);
        CHECK_INT(d.length, m->dl[i]);
        CHECK_INT(d.title_tokens, m->title_tokens[i]);
        CHECK_INT(d.n_meta, docs[i].n_meta);
        for (size_t k = 0; k < d.n_meta && k < docs[i].n_meta; k++)
            CHECK(meta[k].value_len == docs[i].meta[k].value_len &&
                  memcmp(meta[k].value, docs[i].meta[k].value, meta[k].value_len) == 0 &&
                  memcmp(meta[k].key, docs[i].meta[k].key, meta[k].key_len) == 0);
        char *text;
        size_t len;
        CHECK_OK(kz_index_doc_text(ix, &text, &len, (uint32_t)i));
        CHECK(len == docs[i].text_len && memcmp(text, docs[i].text, len) == 0);
        free(text);
    }
    kz_doc d;
    CHECK_INT(kz_index_doc(ix, &d, (uint32_t)n, NULL, 0), KZ_EINVAL);

    for (size_t i = 0; i < m->n; i++) {
        const mterm *mt = &m->terms[i];
        kz_term t;
        CHECK_OK(kz_index_term_at(ix, &t, (uint32_t)i));
        CHECK(t.len == mt->len && memcmp(t.text, mt->text, t.len) == 0);
        kz_term u;
        CHECK_OK(kz_index_term(ix, &u, mt->text, mt->len));
        CHECK_INT(u.ordinal, i);
        CHECK_INT(t.df, mt->n);
        uint64_t cf = 0;
        for (size_t j = 0; j < mt->n; j++)
            cf += mt->p[j].tf;
        CHECK_INT(t.cf, cf);
        uint32_t *docids, *tfs, *pos;
        CHECK_OK(kz_index_postings(ix, &t, &docids, &tfs, &pos));
        size_t at = 0;
        int same = 1;
        for (size_t j = 0; j < mt->n && same; j++) {
            same = docids[j] == mt->p[j].docid && tfs[j] == mt->p[j].tf &&
                   memcmp(pos + at, mt->p[j].pos, mt->p[j].tf * sizeof *pos) == 0;
            if (!same)
                fprintf(stderr, "posting %zu: docid %u/%u tf %u/%u pos %u/%u\n", j, docids[j],
                        mt->p[j].docid, tfs[j], mt->p[j].tf, pos[at], mt->p[j].pos[0]);
            at += mt->p[j].tf;
        }
        CHECK_MSG(same, "postings of \"%.*s\" differ from the model (posting %zu: docid %u/%u tf %u/%u)",
                  (int)mt->len, mt->text, at, docids[0], mt->p[0].docid, tfs[0], mt->p[0].tf);
        free(docids);
        free(tfs);
        free(pos);
    }
    kz_term t;
    CHECK_INT(kz_index_term(ix, &t, "zzzzzzzzzzzz", 12), KZ_ENOTFOUND);

    /* Prefix ranges against a scan of the model. */
    const char *prefixes[] = { "a", "th", "q", "zz", "", "\xd0", "ca" };
    for (size_t k = 0; k < sizeof prefixes / sizeof *prefixes; k++) {
        size_t pl = strlen(prefixes[k]);
        uint32_t first = 0, count = 0, want_first = UINT32_MAX, want = 0;
        for (size_t i = 0; i < m->n; i++)
            if (m->terms[i].len >= pl && memcmp(m->terms[i].text, prefixes[k], pl) == 0) {
                if (want_first == UINT32_MAX)
                    want_first = (uint32_t)i;
                want++;
            }
        CHECK_OK(kz_index_term_prefix(ix, &first, &count, prefixes[k], pl));
        CHECK_INT(count, want);
        if (want)
            CHECK_INT(first, want_first);
    }
}

static void section_sums(const char *dir, uint64_t sums[KZ_SEC_MAX])
{
    kz_index *ix;
    memset(sums, 0, KZ_SEC_MAX * sizeof *sums);
    if (kz_index_open(&ix, dir) != KZ_OK)
        return;
    for (uint32_t id = 1; id < KZ_SEC_MAX; id++)
        sums[id] = kz_file_entry(kz_segment_file(kz_index_segment(ix, 0)), id)->checksum;
    kz_index_free(ix);
}

/* ---------------------------------------------------------------- tests */

static uint64_t seed;

static void test_round_trip(void)
{
    size_t n = 1500, n_vocab;
    char **vocab;
    tdoc *docs = make_corpus(seed, n, &vocab, &n_vocab);
    model m;
    build_model(&m, docs, n);
    char *dir = kz_test_temp_dir();
    kz_build_stats st;
    CHECK_OK(build(dir, docs, n, 2, 0, &st));
    CHECK_INT(st.docs, n);
    CHECK_INT(st.skipped, 0);
    CHECK_INT(st.tokens, m.tokens);
    kz_index *ix;
    CHECK_OK(kz_index_open(&ix, dir));
    if (ix) {
        compare_with_model(ix, &m, docs, n);
        CHECK_OK(kz_index_check(ix, NULL, NULL));
        kz_index_free(ix);
    }
    /* The same documents with 1 thread, and with budgets that force many
     * runs, give the same bytes in every section. */
    uint64_t want[KZ_SEC_MAX], got[KZ_SEC_MAX];
    section_sums(dir, want);
    struct { unsigned threads; uint64_t budget; } variants[] = { { 1, 0 }, { 1, 1 }, { 2, 1 }, { 3, 600000 } };
    for (size_t v = 0; v < sizeof variants / sizeof *variants; v++) {
        char *d2 = kz_test_temp_dir();
        kz_build_stats st2;
        CHECK_OK(build(d2, docs, n, variants[v].threads, variants[v].budget, &st2));
        if (variants[v].budget)
            CHECK_MSG(st2.runs >= 2, "budget %llu gave only %llu runs", (unsigned long long)variants[v].budget,
                      (unsigned long long)st2.runs);
        section_sums(d2, got);
        for (uint32_t id = 1; id < KZ_SEC_MAX; id++)
            CHECK_MSG(got[id] == want[id], "section %s differs with %u threads, budget %llu",
                      kz_section_name(id), variants[v].threads, (unsigned long long)variants[v].budget);
        kz_index *ix2;
        CHECK_OK(kz_index_open(&ix2, d2));
        if (ix2) {
            CHECK_OK(kz_index_check(ix2, NULL, NULL));
            kz_index_free(ix2);
        }
        kz_test_remove_tree(d2);
        free(d2);
    }
    kz_test_remove_tree(dir);
    free(dir);
    free_model(&m);
    free_corpus(docs, n, vocab, n_vocab);
}

static void test_empty_index(void)
{
    char *dir = kz_test_temp_dir();
    kz_build_stats st;
    CHECK_OK(build(dir, NULL, 0, 2, 0, &st));
    CHECK_INT(st.docs, 0);
    kz_index *ix;
    CHECK_OK(kz_index_open(&ix, dir));
    if (ix) {
        kz_index_info info;
        kz_index_get_info(ix, &info);
        CHECK_INT(info.docs, 0);
        CHECK_INT(info.terms, 0);
        kz_term t;
        CHECK_INT(kz_index_term(ix, &t, "a", 1), KZ_ENOTFOUND);
        uint32_t first, count;
        CHECK_OK(kz_index_term_prefix(ix, &first, &count, "a", 1));
        CHECK_INT(count, 0);
        CHECK_OK(kz_index_check(ix, NULL, NULL));
        kz_index_free(ix);
    }
    kz_test_remove_tree(dir);
    free(dir);
}

static void test_positions_and_title_boundary(void)
{
    char *dir = kz_test_temp_dir();
    tdoc d[2] = { 0 };
    strcpy(d[0].id, "a");
    d[0].title = "Ethnic Russians";
    d[0].title_len = strlen(d[0].title);
    d[0].text = "Russians and ethnic Russians; Putin’s Russia.";
    d[0].text_len = strlen(d[0].text);
    strcpy(d[1].id, "b");
    d[1].title = "";
    d[1].text = "russian";
    d[1].text_len = 7;
    kz_build_stats st;
    CHECK_OK(build(dir, d, 2, 1, 0, &st));
    kz_index *ix;
    CHECK_OK(kz_index_open(&ix, dir));
    if (!ix)
        goto done;
    kz_term t;
    CHECK_OK(kz_index_term(ix, &t, "russian", 7));
    CHECK_INT(t.df, 2);
    CHECK_INT(t.cf, 4);
    uint32_t *docids, *tfs, *pos;
    CHECK_OK(kz_index_postings(ix, &t, &docids, &tfs, &pos));
    /* doc a: ethnic(0) russians(1) | russians(2) and(3) ethnic(4) russians(5) putin(6) russia(7) */
    CHECK_INT(docids[0], 0);
    CHECK_INT(tfs[0], 3);
    CHECK_INT(pos[0], 1);
    CHECK_INT(pos[1], 2);
    CHECK_INT(pos[2], 5);
    CHECK_INT(docids[1], 1);
    CHECK_INT(pos[3], 0);
    free(docids);
    free(tfs);
    free(pos);
    CHECK_OK(kz_index_term(ix, &t, "putin", 5));
    kz_doc doc;
    CHECK_OK(kz_index_doc(ix, &doc, 0, NULL, 0));
    CHECK_INT(doc.title_tokens, 2);
    CHECK_INT(doc.length, 8);
    kz_index_free(ix);
done:
    kz_test_remove_tree(dir);
    free(dir);
}

/* Positions far apart (gaps and first positions above 2^16) need the
 * largest Rice parameter and long unary parts; they once overflowed the
 * block's buffer. */
static void test_far_apart_positions(void)
{
    char *dir = kz_test_temp_dir();
    kz_buf a = { 0 }, b = { 0 };
    kz_buf_printf(&a, "needle");
    for (int i = 0; i < 300000; i++)
        kz_buf_printf(&a, " filler");
    kz_buf_printf(&a, " needle");
    for (int i = 0; i < 200000; i++)
        kz_buf_printf(&b, "filler ");
    kz_buf_printf(&b, "needle");
    tdoc d[2] = { 0 };
    strcpy(d[0].id, "a");
    d[0].title = "";
    d[0].text = (char *)a.data;
    d[0].text_len = a.len;
    strcpy(d[1].id, "b");
    d[1].title = "";
    d[1].text = (char *)b.data;
    d[1].text_len = b.len;
    kz_build_stats st;
    CHECK_OK(build(dir, d, 2, 1, 0, &st));
    kz_index *ix;
    CHECK_OK(kz_index_open(&ix, dir));
    if (ix) {
        kz_term t;
        uint32_t *docids, *tfs, *pos;
        CHECK_OK(kz_index_term(ix, &t, "needl", 5));
        CHECK_OK(kz_index_postings(ix, &t, &docids, &tfs, &pos));
        CHECK_INT(t.df, 2);
        CHECK_INT(tfs[0], 2);
        CHECK_INT(pos[0], 0);
        CHECK_INT(pos[1], 300001);
        CHECK_INT(pos[2], 200000);
        free(docids);
        free(tfs);
        free(pos);
        CHECK_OK(kz_index_check(ix, NULL, NULL));
        kz_index_free(ix);
    }
    kz_buf_free(&a);
    kz_buf_free(&b);
    kz_test_remove_tree(dir);
    free(dir);
}

/* kz_index_doc_text_prefix: the first bytes of a text, the same as the
 * whole text's, cut back to a character boundary; the whole text when it
 * is short enough; for small documents sharing a block and a large one
 * with a block of its own. */
static void test_text_prefix(void)
{
    char *dir = kz_test_temp_dir();
    kz_buf big = { 0 };
    uint64_t rng = kz_test_seed();
    /* About 3 MB of varied text, with two-, three- and four-byte characters. */
    static const char *words[] = { "steppe", "Қазақстан", "Россия", "naïve", "€uro", "𝔘nicode", "a" };
    while (big.len < (3u << 20))
        kz_buf_printf(&big, "%s ", words[kz_test_rand(&rng) % 7]);
    tdoc d[3] = { 0 };
    strcpy(d[0].id, "small");
    d[0].title = "";
    d[0].text = "Қазақ text of a few bytes";
    d[0].text_len = strlen(d[0].text);
    strcpy(d[1].id, "big");
    d[1].title = "";
    d[1].text = (char *)big.data;
    d[1].text_len = big.len;
    strcpy(d[2].id, "after");
    d[2].title = "";
    d[2].text = "another small one";
    d[2].text_len = strlen(d[2].text);
    kz_build_stats st;
    CHECK_OK(build(dir, d, 3, 1, 0, &st));
    kz_index *ix;
    CHECK_OK(kz_index_open(&ix, dir));
    for (uint32_t doc = 0; ix && doc < 3; doc++) {
        char *whole = NULL;
        size_t whole_len = 0;
        CHECK_OK(kz_index_doc_text(ix, &whole, &whole_len, doc));
        CHECK_INT(whole_len, d[doc].text_len);
        const size_t cuts[] = { 0, 1, 2, 3, 5, 100, 65535, 65536, 1000001, (1u << 20) + 3, whole_len - 1,
                                whole_len, whole_len + 1, SIZE_MAX / 2 };
        for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
            char *p = NULL;
            size_t n = 0;
            CHECK_OK(kz_index_doc_text_prefix(ix, &p, &n, doc, cuts[k]));
            if (!p)
                continue;
            size_t want = cuts[k] >= whole_len ? whole_len : cuts[k];
            while (want > 0 && want < whole_len && ((unsigned char)whole[want] & 0xC0) == 0x80)
                want--;
            CHECK_MSG(n == want && memcmp(p, whole, n) == 0 && p[n] == 0,
                      "doc %u cut at %zu: %zu bytes, want %zu", doc, cuts[k], n, want);
            free(p);
        }
        free(whole);
    }
    kz_index_free(ix);
    kz_buf_free(&big);
    kz_test_remove_tree(dir);
    free(dir);
}

/* Documents with empty text after the last store block of a batch, and an
 * index of nothing but such documents, still name blocks that exist. */
static void test_empty_texts_name_real_blocks(void)
{
    size_t n = 6;
    tdoc d[6];
    memset(d, 0, sizeof d);
    size_t big = 70000; /* over one store block */
    char *long_text = malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        long_text[i] = i % 6 == 5 ? ' ' : (char)('a' + i % 5);
    long_text[big] = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(d[i].id, sizeof d[i].id, "e%zu", i);
        d[i].title = "only a title";
        d[i].title_len = strlen(d[i].title);
        d[i].text = i == 1 ? long_text : "";
        d[i].text_len = i == 1 ? big : 0;
    }
    for (int variant = 0; variant < 2; variant++) {
        char *dir = kz_test_temp_dir();
        kz_build_stats st;
        /* variant 1: titles only, no text anywhere */
        if (variant == 1)
            d[1].text = "", d[1].text_len = 0;
        CHECK_OK(build(dir, d, n, 1, 0, &st));
        kz_index *ix;
        CHECK_OK(kz_index_open(&ix, dir));
        if (ix) {
            for (size_t i = 0; i < n; i++) {
                char *text;
                size_t len;
                CHECK_OK(kz_index_doc_text(ix, &text, &len, (uint32_t)i));
                CHECK_INT(len, d[i].text_len);
                free(text);
            }
            CHECK_OK(kz_index_check(ix, NULL, NULL));
            kz_index_free(ix);
        }
        kz_test_remove_tree(dir);
        free(dir);
    }
    free(long_text);
}

/* The store dictionary's size follows the corpus (builder.c): none under
 * 256 KiB of text, a 64th of the text (at least 16 KiB) for a corpus under
 * 16 MiB; the texts come back whole either way. */
static void test_store_dictionary_size(void)
{
    static const size_t totals[] = { 200u << 10, 1536u << 10 };
    uint64_t rng = seed;
    for (size_t k = 0; k < 2; k++) {
        size_t n = totals[k] / 2000;
        tdoc *docs = calloc(n, sizeof *docs);
        size_t text_bytes = 0;
        for (size_t i = 0; i < n; i++) {
            snprintf(docs[i].id, sizeof docs[i].id, "d%zu", i);
            kz_buf t = { 0 };
            while (t.len < 2000)
                kz_buf_printf(&t, "w%llu ", (unsigned long long)(kz_test_rand(&rng) % 5000));
            docs[i].text = (char *)t.data;
            docs[i].text_len = t.len;
            docs[i].title = strdup("");
            text_bytes += t.len;
        }
        char *dir = kz_test_temp_dir();
        kz_build_stats st;
        CHECK_OK(build(dir, docs, n, 2, 0, &st));
        kz_index *ix;
        if (kz_index_open(&ix, dir) == KZ_OK) {
            uint64_t dict = kz_file_entry(kz_segment_file(kz_index_segment(ix, 0)), KZ_SEC_STOREDICT)->length;
            if (text_bytes < (256u << 10))
                CHECK_INT(dict, 0);
            else
                CHECK_MSG(dict > 0 && dict <= KZ_MAX(text_bytes / 64, (size_t)16 << 10),
                          "a %zu-byte corpus has a %llu-byte dictionary", text_bytes, (unsigned long long)dict);
            for (size_t i = 0; i < n; i += n / 7) {
                char *text = NULL;
                size_t len = 0;
                CHECK_OK(kz_index_doc_text(ix, &text, &len, (uint32_t)i));
                CHECK(len == docs[i].text_len && text && memcmp(text, docs[i].text, len) == 0);
                free(text);
            }
            kz_index_free(ix);
        } else {
            CHECK(0);
        }
        kz_test_remove_tree(dir);
        free(dir);
        for (size_t i = 0; i < n; i++) {
            free(docs[i].text);
            free(docs[i].title);
        }
        free(docs);
    }
}

/* kz_segment_lookup against the dictionary read term by term: words of
 * four letters share long prefixes and are prefixes of each other, so
 * every branch of the lookup's scan (which compares only terms sharing as
 * much with the word sought as the term before) is taken. Every term is
 * found at its ordinal with its df; every string between terms, before
 * the first and after the last, is not. A term cursor reads them in order. */
static void test_dictionary_lookup(void)
{
    uint64_t rng = seed ^ 0x5eed;
    size_t n = 300;
    tdoc *docs = calloc(n, sizeof *docs);
    for (size_t i = 0; i < n; i++) {
        kz_buf b = { 0 };
        for (size_t w = 0, words = 5 + kz_test_rand(&rng) % 40; w < words; w++) {
            char word[12];
            size_t len = 1 + kz_test_rand(&rng) % 8;
            for (size_t j = 0; j < len; j++)
                word[j] = "bcdk"[kz_test_rand(&rng) % 4];
            if (w)
                kz_buf_append(&b, " ", 1);
            kz_buf_append(&b, word, len);
        }
        kz_buf_terminate(&b);
        snprintf(docs[i].id, sizeof docs[i].id, "d%zu", i);
        docs[i].title = strdup("");
        docs[i].text = (char *)b.data;
        docs[i].text_len = b.len;
    }
    char *dir = kz_test_temp_dir();
    kz_build_stats st;
    CHECK_OK(build(dir, docs, n, 1, 0, &st));
    kz_index *ix = NULL;
    CHECK_OK(kz_index_open(&ix, dir));
    kz_segment *sg = ix ? kz_index_segment(ix, 0) : NULL;
    kz_index_info info = { 0 };
    if (ix)
        kz_index_get_info(ix, &info);
    CHECK(info.terms > 2000);
    kz_term *terms = calloc(info.terms ? info.terms : 1, sizeof *terms);
    for (uint32_t o = 0; sg && o < info.terms; o++) {
        CHECK_OK(kz_segment_entry(sg, &terms[o], o));
        if (o)
            CHECK(kz_bytes_cmp(terms[o - 1].text, terms[o - 1].len, terms[o].text, terms[o].len) < 0);
    }
    size_t probes = 0, found = 0;
    for (uint32_t o = 0; sg && o < info.terms; o++) {
        kz_term_loc loc;
        CHECK_INT(kz_segment_lookup(sg, terms[o].text, terms[o].len, &loc), 1);
        CHECK_INT(loc.ordinal, o);
        CHECK_INT(loc.df, terms[o].df);
        /* Strings near the term: shorter, longer, one byte up or down. */
        char near[KZ_TERM_MAX_BYTES + 2];
        size_t len = terms[o].len;
        memcpy(near, terms[o].text, len);
        const struct { size_t len; int last; } edits[] = { { len - 1, 0 }, { len + 1, 'a' }, { len + 1, 'c' },
                                                           { len + 1, 'z' }, { len, +1 }, { len, -1 } };
        for (size_t e = 0; e < sizeof edits / sizeof *edits; e++) {
            memcpy(near, terms[o].text, len);
            size_t nl = edits[e].len;
            if (nl == 0)
                continue;
            if (nl > len)
                near[len] = (char)edits[e].last;
            else if (nl == len)
                near[len - 1] = (char)(near[len - 1] + edits[e].last);
            /* The reference: a binary search of the terms read above. */
            size_t lo = 0, hi = info.terms;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (kz_bytes_cmp(terms[mid].text, terms[mid].len, near, nl) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            int want = lo < info.terms && kz_bytes_cmp(terms[lo].text, terms[lo].len, near, nl) == 0;
            int got = kz_segment_lookup(sg, near, nl, &loc);
            CHECK_MSG(got == want, "\"%.*s\": lookup %d, the dictionary %d", (int)nl, near, got, want);
            if (got == 1 && want)
                CHECK_INT(loc.ordinal, lo);
            probes++;
            found += want;
        }
    }
    CHECK(probes > found && found > 0); /* both answers were asked for */
    /* A cursor from any ordinal (first, last, around block edges) reads the
     * terms that follow in order, each where its lookup finds it; past the
     * last, the dictionary has fewer terms than counted: damage. */
    uint32_t starts[] = { 0, 15, 16, 17, 31, 32, (uint32_t)(info.terms / 2), (uint32_t)(info.terms - 1),
                          (uint32_t)(kz_test_rand(&rng) % (info.terms ? info.terms : 1)) };
    for (size_t i = 0; sg && i < sizeof starts / sizeof *starts; i++) {
        if (starts[i] >= info.terms)
            continue;
        kz_term_cursor cur;
        CHECK_OK(kz_segment_cursor_at(sg, &cur, starts[i]));
        uint32_t o = starts[i];
        for (; o < info.terms; o++) {
            CHECK_OK(kz_segment_cursor_next(sg, &cur));
            CHECK_INT(cur.t.ordinal, o);
            CHECK(cur.t.len == terms[o].len && memcmp(cur.t.text, terms[o].text, cur.t.len) == 0);
            kz_term_loc want;
            CHECK_INT(kz_segment_lookup(sg, terms[o].text, terms[o].len, &want), 1);
            CHECK(cur.loc.ordinal == o && cur.loc.df == terms[o].df && cur.loc.blob_off == want.blob_off &&
                  cur.loc.blob_len == want.blob_len);
        }
        CHECK_INT(kz_segment_cursor_next(sg, &cur), KZ_ECORRUPT); /* past the last term */
    }
    kz_term_cursor past;
    CHECK(sg && kz_segment_cursor_at(sg, &past, (uint32_t)info.terms) == KZ_EINVAL);
    kz_term_loc loc;
    CHECK_INT(sg ? kz_segment_lookup(sg, "0", 1, &loc) : -1, 0);    /* before the first */
    CHECK_INT(sg ? kz_segment_lookup(sg, "\xff", 1, &loc) : -1, 0); /* after the last */
    free(terms);
    kz_index_free(ix);
    kz_test_remove_tree(dir);
    free(dir);
    for (size_t i = 0; i < n; i++) {
        free(docs[i].title);
        free(docs[i].text);
    }
    free(docs);
}

int main(void)
{
    seed = kz_test_seed();
    KZ_RUN(test_round_trip);
    KZ_RUN(test_empty_index);
    KZ_RUN(test_positions_and_title_boundary);
    KZ_RUN(test_empty_texts_name_real_blocks);
    KZ_RUN(test_far_apart_positions);
    KZ_RUN(test_store_dictionary_size);
    KZ_RUN(test_text_prefix);
    KZ_RUN(test_dictionary_lookup);
    return kz_test_finish();
}
