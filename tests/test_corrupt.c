/*
 * test_corrupt.c: damaged index files fail cleanly.
 *
 * A small index is built with the public API, read completely as a
 * reference, and then damaged in every way a disk, a copy or a careless
 * user can damage it:
 *  - truncated to every length (and, harder, truncated with a header that
 *    agrees with the new length);
 *  - one bit flipped at a dense sample of offsets covering every byte of the
 *    header, META, the chunk checksums, the section table, the trailer and
 *    the alignment padding, and several offsets in every 4 KiB chunk of the
 *    other sections: opening must fail, or kz_index_check must find the
 *    damage and every reader must return either the reference answer or
 *    KZ_ECORRUPT, never a different answer with KZ_OK and never a crash;
 *  - a header of another format version; files that are no index at all.
 * Every failure must leave a message in kz_last_error().
 */
#include "kzint.h"
#include "format.h"
#include "reseal.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define N_DOCS 200
#define MAX_META 4

static char tmp_root[4096];
static char ref_dir[4200];   /* the reference index */
static char work_dir[4200];  /* damaged copies go here as index.kz */
static char work_file[4300];
static uint8_t *orig;        /* the reference file's bytes */
static size_t orig_size;
static uint64_t rng_state;

/* ---------------------------------------------------------------- helpers */

/* Opens the index in dir after clearing the last error, so that a message
 * seen afterwards was set by this call. */
static int open_fresh(kz_index **ix, const char *dir)
{
    kz_error_clear();
    *ix = NULL;
    return kz_index_open(ix, dir);
}

/* ---------------------------------------------------------------- corpus */

static const char *syllables[] = { "ka", "zu", "mi", "ro", "te", "la", "shi", "no", "pa", "ve",
                                   "dor", "qin", "bel", "str", "ux", "ham" };
static const char *unicode_words[] = { "Қазақстан", "Россия", "straße", "Žomart", "naïve",
                                       "café", "Putin’s", "ﬁsh" };

static void rand_word(kz_buf *b)
{
    uint64_t r = kz_test_rand(&rng_state);
    if (r % 40 == 0) {
        const char *w = unicode_words[(r >> 8) % (sizeof unicode_words / sizeof *unicode_words)];
        kz_buf_append(b, w, strlen(w));
        return;
    }
    unsigned n = 1 + (unsigned)((r >> 16) % 2);
    for (unsigned i = 0; i < n; i++) {
        const char *s = syllables[(r >> (24 + 4 * i)) % (sizeof syllables / sizeof *syllables)];
        kz_buf_append(b, s, strlen(s));
    }
}

/* Builds the reference index in ref_dir: N_DOCS documents of varied size
 * with metadata; "common" is in every document (more than one posting
 * block), "banana" occurs 300 times in one (a tf wider than 8 bits), and one large
 * document gets a store block of its own. */
static int build_reference(void)
{
    uint64_t saved = rng_state;
    rng_state = 12345; /* the corpus is fixed; the seed picks the flips */
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.threads = 2;
    kz_builder *b;
    int rc = kz_builder_new(&b, ref_dir, &o);
    if (rc) {
        fprintf(stderr, "kz_builder_new: %s\n", kz_last_error());
        return rc;
    }
    for (int i = 0; i < N_DOCS && rc == KZ_OK; i++) {
        char id[32], title[128], url[64], date[32], num[32];
        snprintf(id, sizeof id, "doc-%03d", i);
        kz_buf tb = { 0 }, text = { 0 };
        kz_buf_printf(&tb, "Title %s ", i % 2 ? "odd" : "even");
        rand_word(&tb);
        kz_buf_printf(&tb, " %d", i % 10);
        snprintf(title, sizeof title, "%.*s", (int)tb.len, (const char *)tb.data);
        size_t words = 5 + (size_t)(kz_test_rand(&rng_state) % 60);
        if (i % 50 == 17)
            words = 800;
        for (size_t w = 0; w < words; w++) {
            if (w)
                kz_buf_append(&text, w % 11 == 10 ? ".\n" : " ", w % 11 == 10 ? 2 : 1);
            if (w == words / 2)
                kz_buf_append(&text, "common", 6);
            else
                rand_word(&text);
        }
        if (i == 7)
            for (int k = 0; k < 300; k++)
                kz_buf_append(&text, " banana", 7);
        if (i == 123) /* 66 KB: a store block of its own */
            for (int k = 0; k < 9000; k++)
                kz_buf_append(&text, k % 3 ? " filler" : " padding", k % 3 ? 7 : 8);
        snprintf(url, sizeof url, "https://example.org/articles/%d", i);
        snprintf(date, sizeof date, "2024-%02d-%02d", 1 + i % 12, 1 + i % 28);
        snprintf(num, sizeof num, "%d", i * 37);
        kz_doc_field meta[3] = { { "url", 3, url, strlen(url) },
                                 { "date", 4, date, strlen(date) },
                                 { "n", 1, num, strlen(num) } };
        size_t n_meta = (size_t)(i % 4) == 3 ? 0 : (size_t)(i % 4) + 1;
        rc = kz_builder_add_document(b, id, strlen(id), title, strlen(title),
                                     (const char *)text.data, text.len, meta, n_meta);
        kz_buf_free(&tb);
        kz_buf_free(&text);
    }
    kz_build_stats st;
    if (rc == KZ_OK)
        rc = kz_builder_commit(b, &st);
    if (rc)
        fprintf(stderr, "building the reference: %s\n", kz_last_error());
    kz_builder_free(b);
    rng_state = saved;
    return rc;
}

/* ---------------------------------------------------------------- reference */

typedef struct ref_doc {
    kz_doc d; /* pointers into the reference index, kept open */
    kz_doc_field meta[MAX_META];
    char *text;
    size_t text_len;
} ref_doc;

typedef struct ref_term {
    kz_term t;
    uint32_t *docids, *tfs, *pos;
} ref_term;

static kz_index *ref_ix;
static kz_index_info ref_info;
static ref_doc *ref_docs;
static ref_term *ref_terms;
static uint64_t ref_section_bytes[KZ_SEC_MAX];

static int same_span(const char *a, size_t al, const char *b, size_t bl)
{
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

static int same_u32(const uint32_t *a, const uint32_t *b, size_t n)
{
    return n == 0 || memcmp(a, b, n * sizeof *a) == 0;
}

static void test_reference(void)
{
    CHECK_OK(open_fresh(&ref_ix, ref_dir));
    if (!ref_ix)
        return;
    kz_index_get_info(ref_ix, &ref_info);
    /* The damaged copies are read as the one file of an index without a
     * manifest: their time is the segment's own, which the build wrote
     * before the manifest (a second earlier when the build crossed one). */
    kz_index *one = NULL;
    kz_test_write_file(work_file, orig, orig_size);
    CHECK_OK(open_fresh(&one, work_dir));
    if (one) {
        kz_index_info oi;
        kz_index_get_info(one, &oi);
        ref_info.created_unix = oi.created_unix;
        kz_index_free(one);
    }
    CHECK_INT(ref_info.docs, N_DOCS);
    fprintf(stderr, "  %llu documents, %llu terms, %llu tokens\n", (unsigned long long)ref_info.docs,
            (unsigned long long)ref_info.terms, (unsigned long long)ref_info.tokens);
    CHECK_STR(ref_info.language, "auto");
    CHECK_INT(ref_info.file_bytes, orig_size);
    CHECK_INT(kz_index_section_count(ref_ix), KZ_SEC_MAX - 1);
    for (unsigned i = 0; i < kz_index_section_count(ref_ix); i++) {
        const char *name;
        kz_index_section(ref_ix, i, &name, &ref_section_bytes[i]);
        CHECK(name && *name);
        fprintf(stderr, "  %-10s %8llu bytes\n", name, (unsigned long long)ref_section_bytes[i]);
    }
    ref_docs = calloc(ref_info.docs, sizeof *ref_docs);
    ref_terms = calloc(ref_info.terms, sizeof *ref_terms);
    for (uint32_t i = 0; i < ref_info.docs; i++) {
        ref_doc *r = &ref_docs[i];
        CHECK_OK(kz_index_doc(ref_ix, &r->d, i, r->meta, MAX_META));
        CHECK_OK(kz_index_doc_text(ref_ix, &r->text, &r->text_len, i));
        char want[32];
        snprintf(want, sizeof want, "doc-%03u", i);
        CHECK(same_span(r->d.id, r->d.id_len, want, strlen(want)));
        CHECK_INT(r->d.n_meta, i % 4 == 3 ? 0 : i % 4 + 1);
        CHECK(r->d.length > r->d.title_tokens);
        CHECK_INT(r->d.text_bytes, r->text_len);
    }
    int saw_blocks = 0, saw_wide_tf = 0;
    for (uint32_t o = 0; o < ref_info.terms; o++) {
        ref_term *r = &ref_terms[o];
        CHECK_OK(kz_index_term_at(ref_ix, &r->t, o));
        CHECK_OK(kz_index_postings(ref_ix, &r->t, &r->docids, &r->tfs, &r->pos));
        if (r->t.df > KZ_POSTING_BLOCK)
            saw_blocks = 1;
        for (uint32_t k = 0; r->tfs && k < r->t.df; k++)
            if (r->tfs[k] > 256) /* tf-1 needs more than 8 bits */
                saw_wide_tf = 1;
    }
    CHECK_MSG(saw_blocks, "no term has more than %u postings", KZ_POSTING_BLOCK);
    CHECK_MSG(saw_wide_tf, "no tf over 256 in the corpus");
    kz_term t;
    CHECK_OK(kz_index_term(ref_ix, &t, "common", 6));
    CHECK_INT(t.df, N_DOCS);
    CHECK_OK(kz_index_check(ref_ix, NULL, NULL));
}

/* ---------------------------------------------------------------- read all */

typedef struct read_result {
    unsigned wrong;   /* calls that returned KZ_OK with a different answer */
    unsigned bad_rc;  /* calls that returned neither KZ_OK nor KZ_ECORRUPT */
    unsigned corrupt; /* calls that returned KZ_ECORRUPT */
    unsigned silent;  /* failures without a message */
    char first[300];  /* what went wrong first */
    char first_fault[300]; /* the first unexpected code or silent failure */
} read_result;

static void note(read_result *rr, unsigned *counter, const char *fmt, ...) KZ_PRINTF(3, 4);

static void note(read_result *rr, unsigned *counter, const char *fmt, ...)
{
    (*counter)++;
    int fault = counter == &rr->bad_rc || counter == &rr->silent;
    if (rr->first[0] && (!fault || rr->first_fault[0]))
        return;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!rr->first[0])
        memcpy(rr->first, msg, sizeof msg);
    if (fault && !rr->first_fault[0])
        memcpy(rr->first_fault, msg, sizeof msg);
}

/* Classifies rc from a call that may only succeed or say KZ_ECORRUPT.
 * Returns 1 when the caller should compare the answer. */
static int judge(read_result *rr, int rc, const char *what, uint32_t n)
{
    if (rc == KZ_OK)
        return 1;
    if (rc == KZ_ENOTFOUND) { /* an answer, "no such term": not the reference's */
        note(rr, &rr->wrong, "%s %u: KZ_ENOTFOUND (%s)", what, n, kz_last_error());
        return 0;
    }
    if (rc == KZ_ECORRUPT) {
        rr->corrupt++;
        if (!*kz_last_error())
            note(rr, &rr->silent, "%s %u: KZ_ECORRUPT without a message", what, n);
    } else {
        note(rr, &rr->bad_rc, "%s %u: returned %d (%s)", what, n, rc, kz_last_error());
    }
    return 0;
}

/* Reads every document, text, term and posting of ix and compares each
 * answer given with KZ_OK with the reference. */
static void read_all(kz_index *ix, read_result *rr)
{
    kz_index_info info;
    kz_index_get_info(ix, &info);
    if (info.docs != ref_info.docs || info.terms != ref_info.terms ||
        info.tokens != ref_info.tokens || info.text_bytes != ref_info.text_bytes ||
        info.file_bytes != ref_info.file_bytes || info.created_unix != ref_info.created_unix ||
        info.format_version != ref_info.format_version ||
        strcmp(info.language, ref_info.language) != 0) {
        note(rr, &rr->wrong, "kz_index_get_info differs");
        return; /* the counts below would run off */
    }
    for (unsigned i = 0; i < kz_index_section_count(ix); i++) {
        const char *name;
        uint64_t bytes;
        kz_index_section(ix, i, &name, &bytes);
        if (bytes != ref_section_bytes[i])
            note(rr, &rr->wrong, "section %s is %llu bytes, was %llu", name,
                 (unsigned long long)bytes, (unsigned long long)ref_section_bytes[i]);
    }
    for (uint32_t i = 0; i < info.docs; i++) {
        const ref_doc *r = &ref_docs[i];
        kz_doc d;
        kz_doc_field meta[MAX_META];
        kz_error_clear();
        int rc = kz_index_doc(ix, &d, i, meta, MAX_META);
        if (judge(rr, rc, "kz_index_doc", i)) {
            int same = same_span(d.id, d.id_len, r->d.id, r->d.id_len) &&
                       same_span(d.title, d.title_len, r->d.title, r->d.title_len) &&
                       d.length == r->d.length && d.title_tokens == r->d.title_tokens &&
                       d.n_meta == r->d.n_meta && d.text_bytes == r->d.text_bytes;
            for (size_t m = 0; same && m < d.n_meta && m < MAX_META; m++)
                same = same_span(meta[m].key, meta[m].key_len, r->meta[m].key, r->meta[m].key_len) &&
                       same_span(meta[m].value, meta[m].value_len, r->meta[m].value,
                                 r->meta[m].value_len);
            if (!same)
                note(rr, &rr->wrong, "kz_index_doc %u: a different document with KZ_OK", i);
        }
        char *text = NULL;
        size_t len = 0;
        kz_error_clear();
        rc = kz_index_doc_text(ix, &text, &len, i);
        if (judge(rr, rc, "kz_index_doc_text", i) &&
            (!text || !same_span(text, len, r->text, r->text_len) || text[len] != 0))
            note(rr, &rr->wrong, "kz_index_doc_text %u: a different text with KZ_OK", i);
        free(text);
        /* A prefix (the large document has a block of its own). */
        text = NULL;
        kz_error_clear();
        rc = kz_index_doc_text_prefix(ix, &text, &len, i, 1000);
        if (judge(rr, rc, "kz_index_doc_text_prefix", i) &&
            (!text || len > r->text_len || len > 1000 || (len < 1000 && len != r->text_len && len + 4 < 1000) ||
             !same_span(text, len, r->text, len) || text[len] != 0))
            note(rr, &rr->wrong, "kz_index_doc_text_prefix %u: a different text with KZ_OK", i);
        free(text);
    }
    kz_doc d;
    int rc = kz_index_doc(ix, &d, (uint32_t)info.docs, NULL, 0);
    if (rc != KZ_EINVAL)
        note(rr, &rr->bad_rc, "kz_index_doc past the end: %d, want KZ_EINVAL", rc);

    for (uint32_t o = 0; o < info.terms; o++) {
        const ref_term *r = &ref_terms[o];
        kz_term t;
        kz_error_clear();
        rc = kz_index_term_at(ix, &t, o);
        int term_rc = rc;
        if (judge(rr, rc, "kz_index_term_at", o) &&
            (t.ordinal != o || t.df != r->t.df || t.cf != r->t.cf ||
             !same_span(t.text, t.len, r->t.text, r->t.len)))
            note(rr, &rr->wrong, "kz_index_term_at %u: a different term with KZ_OK", o);
        /* kz_index_postings reads only the ordinal. The lists it returns
         * are as long as this index says (df and cf of kz_index_term_at),
         * which a resealed index may say differently. */
        int sizes_known = term_rc == KZ_OK, same_sizes = sizes_known && t.df == r->t.df && t.cf == r->t.cf;
        kz_term by_ordinal = r->t;
        uint32_t *docids = NULL, *tfs = NULL, *pos = NULL;
        kz_error_clear();
        rc = kz_index_postings(ix, &by_ordinal, &docids, &tfs, &pos);
        if (judge(rr, rc, "kz_index_postings", o) && sizes_known &&
            (!same_sizes || !same_u32(docids, r->docids, r->t.df) || !same_u32(tfs, r->tfs, r->t.df) ||
             !same_u32(pos, r->pos, r->t.cf)))
            note(rr, &rr->wrong, "kz_index_postings %u: different postings with KZ_OK", o);
        free(docids);
        free(tfs);
        free(pos);
        kz_error_clear();
        rc = kz_index_term(ix, &t, r->t.text, r->t.len);
        if (judge(rr, rc, "kz_index_term", o) &&
            (t.ordinal != o || t.df != r->t.df || t.cf != r->t.cf))
            note(rr, &rr->wrong, "kz_index_term \"%.*s\": a different term with KZ_OK",
                 (int)r->t.len, r->t.text);
    }
    /* Prefix ranges, against the reference's answers. */
    for (char c = 'a'; c <= 'z'; c++) {
        uint32_t first = 0, count = 0, rfirst = 0, rcount = 0;
        kz_error_clear();
        rc = kz_index_term_prefix(ix, &first, &count, &c, 1);
        if (judge(rr, rc, "kz_index_term_prefix", (uint32_t)c)) {
            kz_index_term_prefix(ref_ix, &rfirst, &rcount, &c, 1);
            if (first != rfirst || count != rcount)
                note(rr, &rr->wrong, "kz_index_term_prefix '%c': a different range with KZ_OK", c);
        }
    }
}

/* Queries every flip is searched with: terms, AND, OR, a phrase, a
 * prefix, exclusion, in both modes, with the snippet of the first hit. */
static const char *const sweep_queries[] = { "common",          "banana",         "common banana",
                                             "\"title odd\"",   "ka* common",     "title -even",
                                             "padding filler",  "Қазақстан OR Россия" };
#define N_SWEEP (sizeof sweep_queries / sizeof *sweep_queries)

typedef struct ref_answer {
    size_t n;
    uint64_t total;
    kz_hit hits[10];
    size_t snip_start, snip_end;
} ref_answer;

static ref_answer ref_answers[N_SWEEP][2];

/* Runs query i in mode m (0 ANY, 1 ALL) with the snippet of its first hit.
 * Returns the first error code; *a is filled on KZ_OK. */
static int run_sweep_query(kz_index *ix, size_t i, int m, ref_answer *a)
{
    memset(a, 0, sizeof *a);
    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
    o.mode = m ? KZ_MODE_ALL : KZ_MODE_ANY;
    kz_results *r = NULL;
    int rc = kz_search(&r, ix, sweep_queries[i], strlen(sweep_queries[i]), &o);
    if (rc)
        return rc;
    a->n = kz_results_count(r);
    a->total = kz_results_total(r);
    for (size_t h = 0; h < a->n && h < 10; h++)
        a->hits[h] = *kz_results_hit(r, h);
    if (a->n > 0) {
        char *text = NULL;
        size_t len = 0;
        rc = kz_index_doc_text(ix, &text, &len, a->hits[0].docid);
        kz_snippet sn;
        if (rc == KZ_OK && (rc = kz_snippet_make(&sn, ix, r, text, len, 200)) == KZ_OK) {
            a->snip_start = sn.start;
            a->snip_end = sn.end;
            kz_snippet_free(&sn);
        }
        free(text);
    }
    kz_results_free(r);
    return rc;
}

static void reference_answers(void)
{
    for (size_t i = 0; i < N_SWEEP; i++)
        for (int m = 0; m < 2; m++)
            CHECK_OK(run_sweep_query(ref_ix, i, m, &ref_answers[i][m]));
    CHECK(ref_answers[0][0].n == 10 && ref_answers[3][1].n > 0 && ref_answers[4][0].n > 0);
}

static int same_answer_as(const ref_answer *a, const ref_answer *b)
{
    if (a->n != b->n || a->total != b->total || a->snip_start != b->snip_start || a->snip_end != b->snip_end)
        return 0;
    for (size_t h = 0; h < a->n && h < 10; h++)
        if (a->hits[h].docid != b->hits[h].docid || a->hits[h].score != b->hits[h].score)
            return 0;
    return 1;
}

/* Every sweep query: an error must be KZ_ECORRUPT with a message; an
 * answer with KZ_OK must be the reference's when same_answer is set. */
static void search_all(kz_index *ix, read_result *rr, int same_answer)
{
    for (size_t i = 0; i < N_SWEEP; i++) {
        for (int m = 0; m < 2; m++) {
            ref_answer a;
            kz_error_clear();
            int rc = run_sweep_query(ix, i, m, &a);
            if (judge(rr, rc, sweep_queries[i], (uint32_t)m) && same_answer && !same_answer_as(&a, &ref_answers[i][m]))
                note(rr, &rr->wrong, "search %s (mode %d): a different answer with KZ_OK (%zu hits of %llu, first %u %.17g, snippet %zu-%zu; reference %zu of %llu, %u %.17g, %zu-%zu)",
                     sweep_queries[i], m, a.n, (unsigned long long)a.total, a.hits[0].docid, a.hits[0].score,
                     a.snip_start, a.snip_end, ref_answers[i][m].n, (unsigned long long)ref_answers[i][m].total,
                     ref_answers[i][m].hits[0].docid, ref_answers[i][m].hits[0].score, ref_answers[i][m].snip_start,
                     ref_answers[i][m].snip_end);
        }
    }
}

static void test_reference_reads_itself(void)
{
    kz_index *ix;
    CHECK_OK(open_fresh(&ix, ref_dir));
    if (!ix)
        return;
    read_result rr = { 0 };
    read_all(ix, &rr);
    search_all(ix, &rr, 1);
    CHECK_MSG(rr.wrong == 0 && rr.bad_rc == 0 && rr.corrupt == 0, "%s", rr.first);
    kz_index_free(ix);
}

/* ---------------------------------------------------------------- not an index */

static void expect_open_fails(const char *dir, int want, const char *what)
{
    kz_index *ix;
    int rc = open_fresh(&ix, dir);
    CHECK_MSG(rc == want, "%s: kz_index_open returned %d, want %d (%s)", what, rc, want,
              kz_last_error());
    CHECK_MSG(*kz_last_error() != 0, "%s: no message", what);
    CHECK_MSG(ix == NULL, "%s: *out set on failure", what);
    if (rc == KZ_OK)
        kz_index_free(ix);
}

static void test_not_an_index(void)
{
    char dir[4300], path[4400];
    snprintf(dir, sizeof dir, "%s/none", tmp_root);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/index.kz", dir);

    expect_open_fails(dir, KZ_ENOTFOUND, "a folder without index.kz");
    snprintf(path, sizeof path, "%s/no/such/folder", tmp_root);
    expect_open_fails(path, KZ_ENOTFOUND, "a missing folder");
    snprintf(path, sizeof path, "%s/index.kz", dir);

    kz_test_write_file(path, "", 0);
    expect_open_fails(dir, KZ_ECORRUPT, "an empty file");

    const char *short_text = "hello, world\n";
    kz_test_write_file(path, short_text, strlen(short_text));
    expect_open_fails(dir, KZ_ECORRUPT, "a short text file");

    kz_buf text = { 0 };
    for (int i = 0; i < 300; i++)
        kz_buf_printf(&text, "line %d of a text file that is not an index\n", i);
    kz_test_write_file(path, text.data, text.len);
    expect_open_fails(dir, KZ_ECORRUPT, "a text file");
    kz_buf_free(&text);

    static uint8_t zeros[16384];
    kz_test_write_file(path, zeros, sizeof zeros);
    expect_open_fails(dir, KZ_ECORRUPT, "a file of zeros");
    kz_test_write_file(path, zeros, 96);
    expect_open_fails(dir, KZ_ECORRUPT, "96 zero bytes");

    /* The right magic and nothing else. */
    uint8_t magic_only[200] = { 0 };
    memcpy(magic_only, KZ_MAGIC, 8);
    kz_test_write_file(path, magic_only, sizeof magic_only);
    expect_open_fails(dir, KZ_ECORRUPT, "a magic number followed by zeros");

    /* A valid header (checksum and size right) and zeros after it. */
    kz_store_u32(magic_only + KZ_HDR_VERSION, KZ_FORMAT_VERSION);
    kz_store_u32(magic_only + KZ_HDR_SIZE, KZ_HEADER_SIZE);
    kz_store_u64(magic_only + KZ_HDR_BOM, KZ_BYTE_ORDER_MARK);
    kz_store_u64(magic_only + KZ_HDR_FILE_SIZE, sizeof magic_only);
    kz_store_u64(magic_only + KZ_HDR_CHECKSUM, XXH3_64bits(magic_only, KZ_HDR_CHECKSUM));
    kz_test_write_file(path, magic_only, sizeof magic_only);
    expect_open_fails(dir, KZ_ECORRUPT, "a valid header followed by zeros");

    /* The reference file with bytes appended. */
    kz_buf longer = { 0 };
    kz_buf_append(&longer, orig, orig_size);
    kz_buf_append(&longer, "\n", 1);
    kz_test_write_file(path, longer.data, longer.len);
    expect_open_fails(dir, KZ_ECORRUPT, "an index with a byte appended");
    kz_buf_free(&longer);

    /* index.kz as a folder: an error, not a crash (EIO or ECORRUPT). */
    unlink(path);
    mkdir(path, 0755);
    kz_index *ix;
    int rc = open_fresh(&ix, dir);
    CHECK_MSG(rc == KZ_EIO || rc == KZ_ECORRUPT, "index.kz a folder: %d (%s)", rc, kz_last_error());
    CHECK(*kz_last_error() != 0);
    if (rc == KZ_OK)
        kz_index_free(ix);
    rmdir(path);
    kz_test_remove_tree(dir);
}

/* ---------------------------------------------------------------- version */

static void test_version(void)
{
    uint8_t *copy = malloc(orig_size);
    memcpy(copy, orig, orig_size);
    kz_store_u32(copy + KZ_HDR_VERSION, KZ_FORMAT_VERSION + 1);
    kz_store_u64(copy + KZ_HDR_CHECKSUM, XXH3_64bits(copy, KZ_HDR_CHECKSUM));
    kz_test_write_file(work_file, copy, orig_size);
    kz_index *ix;
    int rc = open_fresh(&ix, work_dir);
    CHECK_MSG(rc == KZ_EVERSION, "version %u: %d (%s)", KZ_FORMAT_VERSION + 1, rc, kz_last_error());
    CHECK(strstr(kz_last_error(), "version") != NULL);
    if (rc == KZ_OK)
        kz_index_free(ix);

    /* A file of a format older than the reader reads (4, without number
     * terms): a clear "rebuild". */
    memcpy(copy, orig, orig_size);
    kz_store_u32(copy + KZ_HDR_VERSION, KZ_FORMAT_VERSION_MIN - 1);
    kz_store_u64(copy + KZ_HDR_CHECKSUM, XXH3_64bits(copy, KZ_HDR_CHECKSUM));
    kz_test_write_file(work_file, copy, orig_size);
    rc = open_fresh(&ix, work_dir);
    CHECK_MSG(rc == KZ_EVERSION, "version %u: %d (%s)", KZ_FORMAT_VERSION_MIN - 1, rc, kz_last_error());
    CHECK_MSG(strstr(kz_last_error(), "rebuild") != NULL, "%s", kz_last_error());
    if (rc == KZ_OK)
        kz_index_free(ix);

    /* Without the checksum fixed, the header is simply damaged. */
    memcpy(copy, orig, orig_size);
    kz_store_u32(copy + KZ_HDR_VERSION, KZ_FORMAT_VERSION + 1);
    kz_test_write_file(work_file, copy, orig_size);
    rc = open_fresh(&ix, work_dir);
    CHECK_MSG(rc == KZ_ECORRUPT, "version %u, old checksum: %d (%s)", KZ_FORMAT_VERSION + 1, rc, kz_last_error());
    CHECK(*kz_last_error() != 0);
    if (rc == KZ_OK)
        kz_index_free(ix);

    /* A version from the future that also changed the file's size. */
    memcpy(copy, orig, orig_size);
    kz_store_u32(copy + KZ_HDR_VERSION, 7);
    kz_store_u64(copy + KZ_HDR_CHECKSUM, XXH3_64bits(copy, KZ_HDR_CHECKSUM));
    kz_test_write_file(work_file, copy, orig_size / 2);
    rc = open_fresh(&ix, work_dir);
    CHECK_MSG(rc == KZ_EVERSION || rc == KZ_ECORRUPT, "version 7, half the file: %d (%s)", rc,
              kz_last_error());
    CHECK(*kz_last_error() != 0);
    if (rc == KZ_OK)
        kz_index_free(ix);
    free(copy);
}

/* ---------------------------------------------------------------- truncation */

/* Lengths from orig_size-1 down to 0 (all of them near either end, every
 * 7th in between): the copy is written once and shortened step by step,
 * which is what a fresh truncated copy would be. */
static void test_truncation(int consistent_header)
{
    kz_test_write_file(work_file, orig, orig_size);
    int fd = open(work_file, O_RDWR);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    unsigned wrong = 0, silent = 0;
    size_t first_wrong = 0;
    for (size_t len = orig_size; len-- > 0;) {
        /* Every length within 8 KiB of either end, every 7th between. */
        if (len >= 8192 && len + 8192 < orig_size && len % 7 != 0)
            continue;
        if (ftruncate(fd, (off_t)len) != 0) {
            CHECK_MSG(0, "ftruncate: %s", strerror(errno));
            break;
        }
        if (consistent_header && len >= KZ_HEADER_SIZE) {
            /* The header agrees with the new length and its checksum is
             * right: only the rest of the file can tell. */
            uint8_t h[KZ_HEADER_SIZE];
            memcpy(h, orig, sizeof h);
            kz_store_u64(h + KZ_HDR_FILE_SIZE, len);
            kz_store_u64(h + KZ_HDR_CHECKSUM, XXH3_64bits(h, KZ_HDR_CHECKSUM));
            if (pwrite(fd, h, sizeof h, 0) != (ssize_t)sizeof h) {
                CHECK_MSG(0, "pwrite: %s", strerror(errno));
                break;
            }
        }
        kz_index *ix;
        int rc = open_fresh(&ix, work_dir);
        if (rc != KZ_ECORRUPT) {
            if (!wrong++)
                first_wrong = len;
            if (wrong <= 5)
                fprintf(stderr, "truncated to %zu bytes%s: kz_index_open returned %d (%s)\n", len,
                        consistent_header ? " (header patched)" : "", rc, kz_last_error());
        } else if (!*kz_last_error()) {
            silent++;
        }
        if (rc == KZ_OK)
            kz_index_free(ix);
    }
    close(fd);
    CHECK_MSG(wrong == 0, "%u truncated lengths not rejected with KZ_ECORRUPT (first %zu)", wrong,
              first_wrong);
    CHECK_MSG(silent == 0, "%u truncations rejected without a message", silent);
}

static void test_truncation_plain(void) { test_truncation(0); }
static void test_truncation_header_patched(void) { test_truncation(1); }

/* ---------------------------------------------------------------- bit flips */

/* Where each byte of the file lies. */
enum { R_HEADER, R_SECTION, R_PADDING, R_CHUNKSUMS, R_TABLE, R_TRAILER, R_COUNT };
static const char *region_names[R_COUNT] = { "header", "section", "padding between sections",
                                             "chunk checksums", "section table", "trailer" };
static uint8_t *region;    /* per byte */
static uint8_t *section_of; /* per byte: section id, 0 outside */

static void map_regions(void)
{
    region = malloc(orig_size);
    section_of = calloc(orig_size, 1);
    memset(region, R_PADDING, orig_size);
    memset(region, R_HEADER, KZ_HEADER_SIZE);
    const uint8_t *t = orig + orig_size - KZ_TRAILER_SIZE;
    uint32_t n = kz_load_u32(t);
    uint64_t table_off = kz_load_u64(t + 8);
    memset(region + orig_size - KZ_TRAILER_SIZE, R_TRAILER, KZ_TRAILER_SIZE);
    memset(region + table_off, R_TABLE, (size_t)n * KZ_SECTION_ENTRY_SIZE);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = orig + table_off + (size_t)i * KZ_SECTION_ENTRY_SIZE;
        uint32_t id = kz_load_u32(e);
        uint64_t off = kz_load_u64(e + 8), len = kz_load_u64(e + 16);
        memset(region + off, id == KZ_SEC_CHUNKSUMS ? R_CHUNKSUMS : R_SECTION, (size_t)len);
        memset(section_of + off, (int)id, (size_t)len);
    }
}

typedef struct flip_stats {
    unsigned flips, open_failed, undetected, wrong, bad_rc, silent;
    char examples[2048];
} flip_stats;

static void add_example(flip_stats *fs, const char *fmt, ...) KZ_PRINTF(2, 3);

static void add_example(flip_stats *fs, const char *fmt, ...)
{
    size_t used = strlen(fs->examples);
    if (used > sizeof fs->examples - 200)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fs->examples + used, sizeof fs->examples - used, fmt, ap);
    va_end(ap);
}

static unsigned check_faults;

static void count_fault(void *ctx, const char *message)
{
    (void)ctx;
    if (message && *message)
        check_faults++;
}

/* Flips bit `bit` of byte `off` in the copy at work_file (fd open on it),
 * runs the readers and the checker, and puts the byte back. */
static void flip_one(int fd, size_t off, unsigned bit, int check_first, flip_stats *fs)
{
    uint8_t b = orig[off] ^ (uint8_t)(1u << bit);
    if (pwrite(fd, &b, 1, (off_t)off) != 1) {
        CHECK_MSG(0, "pwrite: %s", strerror(errno));
        return;
    }
    fs->flips++;
    const char *where = region_names[region[off]];
    const char *sec = section_of[off] ? kz_section_name(section_of[off]) : "";
    kz_index *ix;
    int rc = open_fresh(&ix, work_dir);
    if (rc != KZ_OK) {
        fs->open_failed++;
        if (rc != KZ_ECORRUPT && rc != KZ_EVERSION) {
            fs->bad_rc++;
            add_example(fs, "  offset %zu bit %u (%s %s): kz_index_open returned %d (%s)\n", off,
                        bit, where, sec, rc, kz_last_error());
        } else if (!*kz_last_error()) {
            fs->silent++;
            add_example(fs, "  offset %zu bit %u (%s %s): open failed without a message\n", off,
                        bit, where, sec);
        }
    } else {
        read_result rr = { 0 };
        int crc = KZ_OK, said = 0;
        if (check_first) {
            check_faults = 0;
            kz_error_clear();
            crc = kz_index_check(ix, count_fault, NULL);
            said = *kz_last_error() != 0;
        }
        read_all(ix, &rr);
        search_all(ix, &rr, 1);
        if (!check_first) {
            check_faults = 0;
            kz_error_clear();
            crc = kz_index_check(ix, count_fault, NULL);
            said = *kz_last_error() != 0;
        }
        if (crc != KZ_ECORRUPT || check_faults == 0 || !said) {
            fs->undetected++;
            add_example(fs, "  offset %zu bit %u (%s %s): kz_index_check returned %d, %u faults\n",
                        off, bit, where, sec, crc, check_faults);
        }
        if (rr.wrong || rr.bad_rc || rr.silent) {
            fs->wrong += rr.wrong;
            fs->bad_rc += rr.bad_rc;
            fs->silent += rr.silent;
            add_example(fs, "  offset %zu bit %u (%s %s): %s\n", off, bit, where, sec, rr.first);
        }
        kz_index_free(ix);
    }
    if (pwrite(fd, orig + off, 1, (off_t)off) != 1)
        CHECK_MSG(0, "pwrite: %s", strerror(errno));
}

static void report_flips(const char *what, const flip_stats *fs)
{
    fprintf(stderr, "  %s: %u flips, %u refused by kz_index_open\n", what, fs->flips,
            fs->open_failed);
    CHECK_MSG(fs->undetected == 0 && fs->wrong == 0 && fs->bad_rc == 0 && fs->silent == 0,
              "%s: %u flips not found by kz_index_check, %u wrong answers with KZ_OK, "
              "%u unexpected codes, %u failures without a message; e.g.\n%s",
              what, fs->undetected, fs->wrong, fs->bad_rc, fs->silent, fs->examples);
}

/* Every byte of the header, META, chunk checksums, table and trailer; a
 * stride through the other sections (several hits per 4 KiB chunk) plus
 * random offsets. Padding between sections is its own test below. */
static void test_bitflips(void)
{
    kz_test_write_file(work_file, orig, orig_size);
    int fd = open(work_file, O_RDWR);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    flip_stats fs = { 0 };
    unsigned n = 0;
    const size_t stride = 251; /* about 16 hits per 4 KiB chunk */
    size_t phase = (size_t)(kz_test_rand(&rng_state) % stride);
    for (size_t off = 0; off < orig_size; off++) {
        int every = region[off] == R_HEADER || region[off] == R_CHUNKSUMS ||
                    region[off] == R_TABLE || region[off] == R_TRAILER ||
                    (region[off] == R_SECTION && section_of[off] == KZ_SEC_META);
        /* The first and last bytes of each section too. */
        int edge = region[off] == R_SECTION &&
                   (off == 0 || section_of[off - 1] != section_of[off] || off + 1 == orig_size ||
                    section_of[off + 1] != section_of[off]);
        if (region[off] == R_PADDING)
            continue;
        if (every || edge || off % stride == phase) {
            flip_one(fd, off, (unsigned)(kz_test_rand(&rng_state) % 8), (int)(n++ & 1), &fs);
        }
    }
    /* Random extra flips anywhere outside the padding. */
    for (int i = 0; i < 60; i++) {
        size_t off = (size_t)(kz_test_rand(&rng_state) % orig_size);
        if (region[off] != R_PADDING)
            flip_one(fd, off, (unsigned)(kz_test_rand(&rng_state) % 8), i & 1, &fs);
    }
    close(fd);
    report_flips("checksummed bytes", &fs);
}

/* The zero bytes that align each section to 64 bytes. A flip there changes
 * the file, so kz_index_check must say so ("every byte is covered"). */
static void test_bitflips_padding(void)
{
    kz_test_write_file(work_file, orig, orig_size);
    int fd = open(work_file, O_RDWR);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    flip_stats fs = { 0 };
    unsigned n = 0;
    for (size_t off = 0; off < orig_size; off++)
        if (region[off] == R_PADDING)
            flip_one(fd, off, (unsigned)(kz_test_rand(&rng_state) % 8), (int)(n++ & 1), &fs);
    close(fd);
    CHECK_MSG(n > 0, "the reference file has no padding (layout changed?)");
    report_flips("alignment padding", &fs);
}

/* Two flips in different chunks of the postings, and a whole chunk zeroed:
 * more than one fault at once. */
static void test_multiple_damage(void)
{
    uint8_t *copy = malloc(orig_size);
    memcpy(copy, orig, orig_size);
    size_t first = 0, last = 0;
    for (size_t off = 0; off < orig_size; off++) {
        if (section_of[off] == KZ_SEC_POSTINGS) {
            if (!first)
                first = off;
            last = off;
        }
    }
    CHECK(last > first + 3 * KZ_CHUNK_SIZE);
    copy[first + 100] ^= 0x10;
    copy[last - 100] ^= 0x01;
    memset(copy + first + KZ_CHUNK_SIZE, 0, KZ_CHUNK_SIZE);
    kz_test_write_file(work_file, copy, orig_size);
    kz_index *ix;
    CHECK_OK(open_fresh(&ix, work_dir));
    if (ix) {
        read_result rr = { 0 };
        read_all(ix, &rr);
        CHECK_MSG(rr.wrong == 0 && rr.bad_rc == 0 && rr.silent == 0, "%s", rr.first);
        CHECK(rr.corrupt > 0);
        check_faults = 0;
        CHECK_INT(kz_index_check(ix, count_fault, NULL), KZ_ECORRUPT);
        CHECK_MSG(check_faults >= 3, "%u faults reported for 3 damaged chunks", check_faults);
        kz_index_free(ix);
    }
    free(copy);
}

/* ---------------------------------------------------------------- crafted */
/* Hostile files: a change behind checksums that were recomputed after it
 * (reseal.h), so that only the structure checks stand between the change
 * and a read. */

/* Resealing the intact file changes nothing: the resealer computes what
 * the writer computed, so the crafted files below differ from the
 * reference only where a test changed them. */
static void test_reseal_is_identity(void)
{
    uint8_t *copy = malloc(orig_size);
    memcpy(copy, orig, orig_size);
    memset(copy + KZ_HDR_CHECKSUM, 0, 8);
    uint8_t *t = copy + orig_size - KZ_TRAILER_SIZE;
    memset(t + 16, 0, 8);
    uint64_t table_off = kz_load_u64(t + 8);
    for (uint32_t i = 0; i < kz_load_u32(t); i++)
        memset(copy + table_off + (uint64_t)i * KZ_SECTION_ENTRY_SIZE + 32, 0, 8);
    kz_test_reseal(copy, orig_size);
    CHECK_MSG(memcmp(copy, orig, orig_size) == 0, "resealing the reference changed it");
    free(copy);
}

/* Writes copy to the work file, opens it and expects the open to fail
 * with KZ_ECORRUPT and a message. */
static void expect_crafted_refused(const uint8_t *copy, size_t size, const char *what)
{
    kz_test_write_file(work_file, copy, size);
    expect_open_fails(work_dir, KZ_ECORRUPT, what);
}

/* A section table entry whose offset lies past the table (the check
 * `length > table_off - offset` once wrapped around and let a wild read
 * through), and trailer table offsets past the file, with the table's and
 * the header's checksums recomputed. */
static void test_crafted_section_table(void)
{
    uint8_t *copy = malloc(orig_size);
    const uint8_t *t = orig + orig_size - KZ_TRAILER_SIZE;
    uint32_t n = kz_load_u32(t);
    uint64_t table_off = kz_load_u64(t + 8);
    const uint64_t align = KZ_SECTION_ALIGN;
    const uint64_t offsets[] = { (table_off + align) & ~(align - 1), (orig_size + align) & ~(align - 1),
                                 1ull << 40, 1ull << 63, UINT64_MAX & ~(align - 1) };
    unsigned cases = 0;
    for (uint32_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof offsets / sizeof *offsets; k++) {
            for (int keep_length = 0; keep_length < 2; keep_length++) {
                memcpy(copy, orig, orig_size);
                uint8_t *e = copy + table_off + (uint64_t)i * KZ_SECTION_ENTRY_SIZE;
                kz_store_u64(e + 8, offsets[k]);
                if (!keep_length)
                    kz_store_u64(e + 16, 0);
                kz_test_reseal_table(copy, orig_size);
                char what[120];
                snprintf(what, sizeof what, "section %u offset %llu%s", kz_load_u32(e),
                         (unsigned long long)offsets[k], keep_length ? "" : ", length 0");
                expect_crafted_refused(copy, orig_size, what);
                cases++;
            }
        }
    }
    /* The trailer's own table offset, anywhere but where the table is. */
    const uint64_t table_offsets[] = { 0, KZ_HEADER_SIZE, table_off - KZ_SECTION_ENTRY_SIZE,
                                       table_off + KZ_SECTION_ENTRY_SIZE, orig_size - KZ_TRAILER_SIZE + 1,
                                       orig_size, 1ull << 63, UINT64_MAX - 100 };
    for (size_t k = 0; k < sizeof table_offsets / sizeof *table_offsets; k++) {
        memcpy(copy, orig, orig_size);
        kz_store_u64(copy + orig_size - KZ_TRAILER_SIZE + 8, table_offsets[k]);
        kz_test_reseal_table(copy, orig_size);
        char what[80];
        snprintf(what, sizeof what, "table offset %llu", (unsigned long long)table_offsets[k]);
        expect_crafted_refused(copy, orig_size, what);
        cases++;
    }
    fprintf(stderr, "  %u crafted section tables refused\n", cases);
    free(copy);
}

/* Where the last container of a term's bitmap lies in the file. */
static int last_container_at(kz_index *ix, const char *term, size_t *at, kz_container *out)
{
    kz_term t;
    kz_plist pl;
    int rc = kz_index_term(ix, &t, term, strlen(term));
    if (rc || (rc = kz_segment_plist(kz_index_segment(ix, 0), &pl, t.ordinal)))
        return rc;
    uint64_t len;
    const uint8_t *base = kz_file_section(kz_segment_file(kz_index_segment(ix, 0)), KZ_SEC_POSTINGS, &len);
    *out = pl.containers[pl.n_containers - 1];
    *at = (size_t)(kz_file_entry(kz_segment_file(kz_index_segment(ix, 0)), KZ_SEC_POSTINGS)->offset +
                   (uint64_t)(out->data - base));
    kz_plist_close(&pl);
    return KZ_OK;
}

/* A posting list that names a document past the last, every checksum
 * recomputed: once this read a document length out of bounds in every
 * search for the term. Now opening the list says the index is corrupt,
 * check says so too, and searches fail cleanly. */
static void test_crafted_docid(void)
{
    /* "banana" is in one document (an array of one), "common" in all (a
     * run [0, N_DOCS-1]). Each list's last docid becomes the first past
     * the last document, then the last a container can hold. */
    const char *terms[] = { "banana", "common" };
    const uint32_t past_last[] = { N_DOCS, 0xFFFF };
    uint8_t *copy = malloc(orig_size);
    unsigned cases = 0;
    for (size_t k = 0; k < sizeof terms / sizeof *terms; k++) {
        size_t at = 0;
        kz_container c;
        int rc = last_container_at(ref_ix, terms[k], &at, &c);
        CHECK_OK(rc);
        if (rc)
            continue;
        for (size_t p = 0; p < sizeof past_last / sizeof *past_last; p++) {
            uint32_t past = past_last[p];
            memcpy(copy, orig, orig_size);
            if (c.type == KZ_CONTAINER_ARRAY) {
                kz_store_u16(copy + at + 2 * (size_t)(c.card - 1), (uint16_t)past);
            } else if (c.type == KZ_CONTAINER_RUN) {
                uint32_t n_runs = kz_load_u16(copy + at);
                uint8_t *run = copy + at + 2 + 4 * (size_t)(n_runs - 1);
                kz_store_u16(run + 2, (uint16_t)(past - kz_load_u16(run)));
            } else {
                CHECK_MSG(0, "%s: a bitset container in a %u-document index", terms[k], N_DOCS);
                continue;
            }
            kz_test_reseal(copy, orig_size);
            kz_test_write_file(work_file, copy, orig_size);
            kz_index *ix;
            CHECK_OK(open_fresh(&ix, work_dir));
            if (!ix)
                continue;
            cases++;
            /* A term lookup reads the list for its cf. */
            kz_term t;
            kz_error_clear();
            CHECK_INT(kz_index_term(ix, &t, terms[k], strlen(terms[k])), KZ_ECORRUPT);
            CHECK(*kz_last_error() != 0);
            CHECK_OK(kz_index_term(ref_ix, &t, terms[k], strlen(terms[k])));
            uint32_t *docids = NULL, *tfs = NULL, *pos = NULL;
            CHECK_INT(kz_index_postings(ix, &t, &docids, &tfs, &pos), KZ_ECORRUPT);
            free(docids);
            free(tfs);
            free(pos);
            static const kz_mode modes[] = { KZ_MODE_ANY, KZ_MODE_ALL };
            char query[64];
            for (int m = 0; m < 2; m++) {
                for (int q = 0; q < 3; q++) {
                    snprintf(query, sizeof query, q == 0 ? "%s" : q == 1 ? "%s doc" : "\"%s\" OR title", terms[k]);
                    kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
                    o.mode = modes[m];
                    kz_results *r = NULL;
                    kz_error_clear();
                    rc = kz_search(&r, ix, query, strlen(query), &o);
                    CHECK_MSG(rc == KZ_ECORRUPT && *kz_last_error(), "%s past %u, query %s: %d (%s)", terms[k],
                              past, query, rc, kz_last_error());
                    kz_results_free(r);
                }
            }
            check_faults = 0;
            CHECK_INT(kz_index_check(ix, count_fault, NULL), KZ_ECORRUPT);
            CHECK(check_faults > 0);
            kz_index_free(ix);
        }
    }
    CHECK_INT(cases, 2 * (sizeof terms / sizeof *terms));
    free(copy);
}

/* META names a language no analyzer knows (one changed letter, every
 * checksum recomputed): once this opened, check said "ok", and every
 * search failed with "unknown language". Now the open says the index is
 * corrupt. */
static void test_crafted_language(void)
{
    const char *names[] = { "English", "englis", "", "english\x01" };
    uint8_t *copy = malloc(orig_size);
    size_t meta = (size_t)kz_file_entry(kz_segment_file(kz_index_segment(ref_ix, 0)), KZ_SEC_META)->offset;
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        memcpy(copy, orig, orig_size);
        memset(copy + meta + KZ_META_LANGUAGE, 0, 32);
        memcpy(copy + meta + KZ_META_LANGUAGE, names[k], strlen(names[k]));
        kz_test_reseal(copy, orig_size);
        expect_crafted_refused(copy, orig_size, names[k]);
    }
    /* A valid name with a byte after its NUL. */
    memcpy(copy, orig, orig_size);
    copy[meta + KZ_META_LANGUAGE + 31] = 'x';
    kz_test_reseal(copy, orig_size);
    expect_crafted_refused(copy, orig_size, "english, then a byte after the padding");
    /* Another language the analyzer knows opens. */
    memcpy(copy, orig, orig_size);
    memset(copy + meta + KZ_META_LANGUAGE, 0, 32);
    memcpy(copy + meta + KZ_META_LANGUAGE, "russian", 7);
    kz_test_reseal(copy, orig_size);
    kz_test_write_file(work_file, copy, orig_size);
    kz_index *ix;
    CHECK_OK(open_fresh(&ix, work_dir));
    kz_index_free(ix);
    free(copy);
}

/* A terms index whose next-to-last block claims ordinals past the last
 * term (the next block's first one is past it), every checksum
 * recomputed: once a dictionary lookup gave such an ordinal and a search
 * read past the per-term table (found by fuzz_index). Now the block is
 * refused as out of range: no crash, and searches and check say corrupt. */
static void test_crafted_terms_index(void)
{
    uint8_t *copy = malloc(orig_size);
    memcpy(copy, orig, orig_size);
    const kz_section_entry *te = kz_file_entry(kz_segment_file(kz_index_segment(ref_ix, 0)), KZ_SEC_TERMS);
    uint64_t n_blocks = te->length / KZ_TIDX_SIZE, terms = ref_info.terms;
    CHECK(n_blocks >= 3);
    uint8_t *second_last = copy + te->offset + (n_blocks - 2) * KZ_TIDX_SIZE;
    uint8_t *last = copy + te->offset + (n_blocks - 1) * KZ_TIDX_SIZE;
    kz_store_u32(second_last + KZ_TIDX_FIRST, (uint32_t)terms - 10);
    kz_store_u32(last + KZ_TIDX_FIRST, (uint32_t)terms + 5);
    kz_test_reseal(copy, orig_size);
    kz_test_write_file(work_file, copy, orig_size);
    kz_index *ix;
    CHECK_OK(open_fresh(&ix, work_dir));
    if (ix) {
        read_result rr = { 0 };
        read_all(ix, &rr);
        search_all(ix, &rr, 0);
        CHECK_MSG(rr.bad_rc == 0 && rr.silent == 0, "%s", rr.first_fault);
        CHECK(rr.corrupt > 0);
        CHECK_INT(kz_index_check(ix, NULL, NULL), KZ_ECORRUPT);
        kz_index_free(ix);
    }
    free(copy);
}

/* A store block whose raw length says 4 GiB, every checksum recomputed:
 * once the reader allocated that much before decompressing (fuzz_index,
 * out of memory). Now the buffer grows with what really comes out, and
 * the text is reported corrupt. */
static void test_crafted_store_length(void)
{
    uint8_t *copy = malloc(orig_size);
    memcpy(copy, orig, orig_size);
    const kz_section_entry *si = kz_file_entry(kz_segment_file(kz_index_segment(ref_ix, 0)), KZ_SEC_STOREIDX);
    kz_store_u32(copy + si->offset + KZ_STOREIDX_RLEN, 0xFFFFFFF0u); /* block 0 */
    kz_test_reseal(copy, orig_size);
    kz_test_write_file(work_file, copy, orig_size);
    kz_index *ix;
    CHECK_OK(open_fresh(&ix, work_dir));
    if (ix) {
        char *text = NULL;
        size_t len;
        uint64_t rss = kz_peak_rss();
        CHECK_INT(kz_index_doc_text(ix, &text, &len, 0), KZ_ECORRUPT);
        free(text);
        CHECK_MSG(kz_peak_rss() < rss + (256u << 20), "reading the block took %llu MB",
                  (unsigned long long)((kz_peak_rss() - rss) >> 20));
        CHECK_INT(kz_index_check(ix, NULL, NULL), KZ_ECORRUPT);
        kz_index_free(ix);
    }
    free(copy);
}

/* The id lookup and the fingerprints, every checksum recomputed: a
 * record naming a document past the last fails the lookup and a delete
 * (which then changes nothing); a wrong hash or fingerprint is found by
 * check. */
static void test_crafted_ids(void)
{
    uint8_t *copy = malloc(orig_size);
    const kz_file *f = kz_segment_file(kz_index_segment(ref_ix, 0));
    const kz_section_entry *ids = kz_file_entry(f, KZ_SEC_IDS), *dh = kz_file_entry(f, KZ_SEC_DOCHASH);
    CHECK_INT(ids->length, ref_info.docs * KZ_IDS_SIZE);
    CHECK_INT(dh->length, ref_info.docs * KZ_DOCHASH_SIZE);
    char id0[64];
    snprintf(id0, sizeof id0, "%.*s", (int)ref_docs[0].d.id_len, ref_docs[0].d.id);
    for (int variant = 0; variant < 3; variant++) {
        memcpy(copy, orig, orig_size);
        for (uint64_t r = 0; r < ref_info.docs; r++) {
            uint8_t *rec = copy + ids->offset + r * KZ_IDS_SIZE;
            if (variant == 0)
                kz_store_u32(rec + KZ_IDS_DOCID, (uint32_t)ref_info.docs + 5);
            else if (variant == 1 && kz_load_u32(rec + KZ_IDS_DOCID) == 0)
                kz_store_u64(rec + KZ_IDS_HASH, kz_load_u64(rec + KZ_IDS_HASH) ^ 1);
        }
        if (variant == 2)
            copy[dh->offset + 3 * KZ_DOCHASH_SIZE] ^= 0x40;
        kz_test_reseal(copy, orig_size);
        kz_test_write_file(work_file, copy, orig_size);
        kz_index *ix;
        CHECK_OK(open_fresh(&ix, work_dir));
        if (!ix)
            continue;
        uint32_t docid = UINT32_MAX;
        int rc = kz_index_find(ix, &docid, id0, strlen(id0));
        if (variant == 0)
            CHECK_MSG(rc == KZ_ECORRUPT && strstr(kz_last_error(), "check"), "%d %s", rc, kz_last_error());
        else if (variant == 1)
            CHECK_INT(rc, KZ_ENOTFOUND); /* silently missed: check must say so */
        else
            CHECK_MSG(rc == KZ_OK && docid == 0, "%d %u", rc, docid);
        CHECK_INT(kz_index_check(ix, NULL, NULL), KZ_ECORRUPT);
        kz_index_free(ix);
        if (variant == 0) {
            const char *list[1] = { id0 };
            uint8_t found = 0;
            uint64_t deleted = 99;
            CHECK_INT(kz_index_delete(work_dir, list, 1, &found, &deleted), KZ_ECORRUPT);
            char manifest[4400];
            snprintf(manifest, sizeof manifest, "%s/%s", work_dir, KZ_MANIFEST_FILE);
            CHECK_MSG(access(manifest, F_OK) != 0, "a failed delete wrote a manifest");
        }
    }
    free(copy);
}

/* A flip at a stride through the file (a random phase, so that runs
 * differ; KZ_CORRUPT_STRIDE sets it), with every checksum
 * recomputed after it: whatever the structure checks let through must be
 * read without a crash, and every reader and search must answer or say
 * KZ_ECORRUPT with a message. (A resealed flip can be a valid index that
 * says something else, such as a tf of 3 for 2: then neither check nor
 * the readers can know, and the answer may differ from the reference.) */
static void test_resealed_flips(void)
{
    uint8_t *copy = malloc(orig_size);
    /* KZ_CORRUPT_STRIDE=1 sweeps every byte (about 20 minutes). */
    const char *env = getenv("KZ_CORRUPT_STRIDE");
    size_t stride = env && atoi(env) > 0 ? (size_t)atoi(env) : 127;
    size_t phase = (size_t)(kz_test_rand(&rng_state) % stride);
    unsigned flips = 0, refused = 0, opened = 0, found = 0;
    read_result rr = { 0 };
    for (size_t off = phase; off < orig_size; off += stride) {
        memcpy(copy, orig, orig_size);
        copy[off] ^= (uint8_t)(1u << (kz_test_rand(&rng_state) % 8));
        kz_test_reseal(copy, orig_size);
        kz_test_write_file(work_file, copy, orig_size);
        flips++;
        kz_index *ix;
        int rc = open_fresh(&ix, work_dir);
        if (rc != KZ_OK) {
            refused++;
            if ((rc != KZ_ECORRUPT && rc != KZ_EVERSION) || !*kz_last_error())
                note(&rr, &rr.bad_rc, "offset %zu: kz_index_open returned %d (%s)", off, rc, kz_last_error());
            continue;
        }
        opened++;
        read_result one = { 0 };
        read_all(ix, &one);
        search_all(ix, &one, 0);
        if (one.bad_rc || one.silent)
            note(&rr, &rr.bad_rc, "offset %zu: %s", off, one.first_fault);
        check_faults = 0;
        kz_error_clear();
        rc = kz_index_check(ix, count_fault, NULL);
        if (rc == KZ_ECORRUPT)
            found++;
        else if (rc != KZ_OK)
            note(&rr, &rr.bad_rc, "offset %zu: kz_index_check returned %d", off, rc);
        kz_index_free(ix);
    }
    fprintf(stderr, "  %u resealed flips: %u refused by kz_index_open, %u opened, %u of those found by check\n",
            flips, refused, opened, found);
    CHECK_MSG(rr.bad_rc == 0, "%u flips read with unexpected codes or failures without a message; first: %s",
              rr.bad_rc, rr.first);
    free(copy);
}

/* ---------------------------------------------------------------- main */

#define RUN_TIMED(fn)                                                           \
    do {                                                                        \
        double t0_ = kz_now();                                                  \
        KZ_RUN(fn);                                                             \
        fprintf(stderr, "     (%.2f s)\n", kz_now() - t0_);                      \
    } while (0)

int main(void)
{
    rng_state = kz_test_seed();
    const char *tmp = getenv("TMPDIR");
    snprintf(tmp_root, sizeof tmp_root, "%s/kz-corrupt-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmp_root)) {
        fprintf(stderr, "mkdtemp %s: %s\n", tmp_root, strerror(errno));
        return 2;
    }
    snprintf(ref_dir, sizeof ref_dir, "%s/ref", tmp_root);
    snprintf(work_dir, sizeof work_dir, "%s/work", tmp_root);
    snprintf(work_file, sizeof work_file, "%s/%s", work_dir, KZ_INDEX_FILE);
    mkdir(work_dir, 0755);
    char ref_file[4300];
    /* The reference's one segment; its damaged copies are read as the one
     * file of an index without a manifest. */
    snprintf(ref_file, sizeof ref_file, "%s/seg-000001.kz", ref_dir);
    if (build_reference() != KZ_OK || !(orig = kz_test_read_file(ref_file, &orig_size))) {
        fprintf(stderr, "cannot build the reference index\n");
        kz_test_remove_tree(tmp_root);
        return 2;
    }
    fprintf(stderr, "reference index: %zu bytes\n", orig_size);
    map_regions();

    RUN_TIMED(test_reference);
    if (ref_ix) {
        RUN_TIMED(reference_answers);
        RUN_TIMED(test_reference_reads_itself);
        RUN_TIMED(test_not_an_index);
        RUN_TIMED(test_version);
        RUN_TIMED(test_truncation_plain);
        RUN_TIMED(test_truncation_header_patched);
        RUN_TIMED(test_bitflips);
        RUN_TIMED(test_bitflips_padding);
        RUN_TIMED(test_multiple_damage);
        RUN_TIMED(test_reseal_is_identity);
        RUN_TIMED(test_crafted_section_table);
        RUN_TIMED(test_crafted_docid);
        RUN_TIMED(test_crafted_language);
        RUN_TIMED(test_crafted_terms_index);
        RUN_TIMED(test_crafted_store_length);
        RUN_TIMED(test_crafted_ids);
        RUN_TIMED(test_resealed_flips);
    }

    for (uint64_t i = 0; ref_docs && i < ref_info.docs; i++)
        free(ref_docs[i].text);
    for (uint64_t i = 0; ref_terms && i < ref_info.terms; i++) {
        free(ref_terms[i].docids);
        free(ref_terms[i].tfs);
        free(ref_terms[i].pos);
    }
    free(ref_docs);
    free(ref_terms);
    kz_index_free(ref_ix);
    free(orig);
    free(region);
    free(section_of);
    kz_test_remove_tree(tmp_root);
    return kz_test_finish();
}
