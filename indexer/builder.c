/*
 * builder.c: a batch rebuild, from documents to a complete index file.
 *
 * The pipeline:
 *  1. The calling thread reads sources (source.c) and hands documents to
 *     kz_builder_add(): it drops what must be dropped (duplicate ids, empty
 *     or oversized documents), counts invalid UTF-8, assigns docids in input
 *     order and packs documents into batches of about 1 MiB.
 *  2. Worker threads take batches in order. Each analyses its documents,
 *     adds their postings to its own in-memory inverter, and compresses their
 *     text into document-store blocks. When an inverter outgrows its share
 *     of the memory budget it is written out as a sorted run (run.c).
 *  3. Finished batches are committed strictly in docid order, by whichever
 *     worker completes the next one: store blocks go straight into the
 *     output file's STORE section, document records to temporary files.
 *  4. kz_builder_commit() flushes the inverters, merges all runs term by
 *     term into the POSTINGS section, copies the other sections in, writes
 *     the footer, fsyncs, checks the new file, and renames it over the old
 *     index. A reader that has the old file open keeps reading it.
 *
 * Temporary files live in <dir>/.build-<pid>/ and <dir>/index.kz.tmp-<pid>;
 * a build holds an flock on <dir>/lock, so it can remove what a killed
 * build left behind.
 */
#include "kzint.h"
#include "format.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>
#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>
#include <utf8proc.h>

/* Batches, and so store blocks, are cut the same way whatever the threads
 * and budget: an index does not depend on how it was built. */
#define BATCH_TEXT_BYTES (1u << 20)
#define BATCH_MAX_DOCS 4096u
/* A snippet decompresses its document's whole block (a zstd block is
 * decoded whole): on 666k passages of 100 words, 8 KiB blocks read a
 * passage's text in 20 us against 160 us with 64 KiB, for an index 2.6%
 * larger (0.6% on wikipedia-en's articles, most of which fill a block). */
#define STORE_BLOCK_BYTES (8u << 10)
/* The store's zstd dictionary: trained on the first DICT_SAMPLE_BYTES of
 * text, cut into DICT_SAMPLE_PIECE pieces; none below DICT_MIN_SAMPLE. It
 * is stored in the index, so its best size grows with the corpus (on
 * wikipedia-en and scifact text, store plus dictionary is smallest near a
 * 64th of the text): batches are held until they take DICT_HOLD_BYTES
 * (their records and tables count, not only their text, so that a million
 * short documents are not all held; the workers' share of the budget is
 * not in use yet, and the same documents give the same dictionary under
 * any budget) or the input ends, and a corpus that ends sooner gets a
 * dictionary of a 64th of its text, between DICT_MIN_BYTES and
 * DICT_MAX_BYTES. */
#define DICT_SAMPLE_BYTES (2u << 20)
#define DICT_SAMPLE_PIECE 8192u
#define DICT_MIN_SAMPLE (256u << 10)
#define DICT_HOLD_BYTES (16u << 20)
#define DICT_MIN_BYTES (16u << 10)
#define DICT_MAX_BYTES (256u << 10)
#define DEFAULT_BUDGET (1ull << 30)
#define DEFAULT_MAX_DOC (1ull << 30)
#define DEFAULT_STORE_LEVEL 3
#define MIN_INVERTER_SHARE (256ull << 10)
#define FIXED_OVERHEAD (40ull << 20)
/* Tokens ahead whose accumulators the inverter prefetches. */
#define PREFETCH_AHEAD 8

/* ---------------------------------------------------------------- batches */

typedef struct batch_doc {
    size_t title_off, title_len, text_off, text_len; /* in batch->arena */
    int other_cyrillic; /* its lang is Kazakh, Ukrainian, ...: Russian words not stemmed */
} batch_doc;

typedef struct batch {
    uint64_t seq;
    uint32_t first_docid;
    uint32_t n_docs;
    batch_doc *docs;
    size_t docs_cap;
    kz_buf arena;   /* titles and texts, valid UTF-8 */
    kz_buf docinfo; /* DOCINFO records, offsets relative to the batch */
    kz_buf info_off;/* u64 per doc: its record's offset in docinfo */
    /* Filled by the worker. */
    kz_buf store;    /* compressed blocks, back to back */
    kz_buf storeidx; /* per block: u64 offset in store, u32 clen, u32 rlen */
    kz_buf docs_out; /* DOCS records; block numbers and info offsets relative */
    uint64_t tokens;
    uint32_t *dl;
    uint64_t *simhash; /* by document: its SIMHASH fingerprint */
    struct batch *next;
} batch;

static void batch_free(batch *bt)
{
    if (!bt)
        return;
    free(bt->docs);
    kz_buf_free(&bt->arena);
    kz_buf_free(&bt->docinfo);
    kz_buf_free(&bt->info_off);
    kz_buf_free(&bt->store);
    kz_buf_free(&bt->storeidx);
    kz_buf_free(&bt->docs_out);
    free(bt->dl);
    free(bt->simhash);
    free(bt);
}

/* --------------------------------------------------------------- inverter */

typedef struct acc {
    uint8_t *data; /* postings as in a run file */
    uint32_t len, cap;
    uint32_t df;
    uint32_t last_doc;
    uint32_t cur_doc; /* docid+1 of the document being added, 0 none */
    uint32_t tf;
    uint32_t last_pos;
} acc;

typedef struct worker {
    struct kz_builder *b;
    pthread_t thread;
    int started;
    kz_analyzer *an;
    kz_tokvec tv;
    kz_tokvec fields; /* the field terms of the document being inverted */
    kz_tokvec words;  /* a text field value's words */
    kz_buf marks;     /* the text marks of the document being stored */
    acc *accs;
    size_t n_accs;
    uint32_t *touched;
    size_t touched_cap;
    uint64_t mem; /* bytes held by postings */
    ZSTD_CCtx *zc;
    kz_buf raw; /* a store block being filled */
    /* SimHash: the kz_simhash_term of the analyzer's terms 0 ..
     * n_term_hashes - 1 (forgotten when it is reset), and a document's. */
    uint64_t *term_hashes, *doc_hashes;
    size_t n_term_hashes, term_hashes_cap, doc_hashes_cap;
} worker;

struct kz_builder {
    char *dir, *final_path, *tmp_path, *work_dir;
    char segment_name[KZ_MANIFEST_NAME_MAX + 1];
    int lock_fd;
    int index_exists;  /* before this build */
    uint64_t index_docs; /* ... with this many documents, deleted ones included */
    size_t index_segments; /* ... in this many segments */
    char **sources;    /* as recorded in the manifest: absolute paths, or "-" */
    size_t n_sources;
    /* The field types the index declares (the manifest's when adding to
     * it, and the options'), in name order. */
    kz_manifest_field *field_types;
    size_t n_field_types;
    /* A merge (kz_builder_merge_range): the new segment takes the place of
     * the manifest's segments [merge_first, merge_first + merge_count). */
    int merging;
    size_t merge_first, merge_count;
    kz_doc_filter_fn filter; /* kz_builder_set_filter */
    kz_delete_list *also_delete; /* kz_builder_also_delete; not owned */
    void *filter_ctx;
    kz_build_options opts;
    char language[32];
    kz_analyzer *check_an; /* has_token's, made on first use */
    kz_tokvec check_tv;
    uint64_t budget, max_doc;
    kz_fwriter *fw;
    FILE *docs_f, *docinfo_f, *storeidx_f, *dochash_f, *simhash_f;
    char *docs_path, *docinfo_path, *storeidx_path, *dochash_path, *simhash_path;

    /* Documents, assigned in input order. */
    uint64_t *id_hashes; /* open addressing; 0 = empty */
    size_t id_cap, n_ids;
    uint64_t *id_hash_of; /* by docid: XXH3 of its id, for the IDS section */
    size_t ids_cap;
    /* Bytes of the three tables above, a few tens a document: the
     * inverters' share of the budget is what they leave. */
    _Atomic uint64_t doc_table_bytes;
    XXH3_state_t *fingerprint; /* of the document being added */
    uint32_t *doc_lengths;
    size_t dl_cap;
    uint64_t n_docs, tokens, text_bytes, docinfo_bytes, store_bytes, store_blocks;
    kz_buf scratch; /* sanitised copies */
    batch *cur;
    /* Until the store's dictionary is trained, full batches wait here. */
    int dict_done;
    batch *held, *held_tail;
    uint64_t held_bytes;
    kz_buf dict;
    ZSTD_CDict *cdict; /* NULL: blocks are compressed without a dictionary */
    uint64_t next_batch_seq;

    /* Workers. */
    worker *workers;
    unsigned n_workers;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_space;
    int mu_ready;
    batch *q_head, *q_tail;
    unsigned q_len, q_max;
    batch *done; /* finished, not yet committed, any order */
    uint64_t next_commit;
    int closing;
    int failed; /* first worker error code, sticky */
    char failed_msg[512];

    /* Runs, and for each the term at half its postings bytes: the
     * median of those splits the final merge between two threads. */
    char **runs;
    kz_buf *run_middles;
    size_t n_runs, runs_cap;

    /* Input accounting and progress. */
    uint64_t bytes_read, bytes_total;
    double started, last_progress;
    kz_build_stats stats;
    int finished;
};

static const char *problem_names[KZ_PROBLEM_COUNT] = {
    "unreadable", "binary", "invalid-utf8", "malformed-json", "bad-field",
    "dropped-field", "duplicate-id", "empty", "too-large", "other-file", "repeated-key",
    "field-type"
};

const char *kz_problem_name(kz_problem kind)
{
    return (unsigned)kind < KZ_PROBLEM_COUNT ? problem_names[kind] : "?";
}

/* Problems that cost a document (or a file of them). A file of a kind a
 * folder walk does not read is input skipped too (issue 12: a folder of
 * unread files said "0 skipped"). */
static int problem_skips(kz_problem kind)
{
    return kind != KZ_PROBLEM_INVALID_UTF8 && kind != KZ_PROBLEM_DROPPED_FIELD && kind != KZ_PROBLEM_REPEATED_KEY &&
           kind != KZ_PROBLEM_FIELD_TYPE;
}

void kz_builder_problem(kz_builder *b, kz_problem kind, const char *where, const char *fmt, ...)
{
    b->stats.problems[kind]++;
    if (problem_skips(kind))
        b->stats.skipped++;
    if (!b->opts.on_problem)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    b->opts.on_problem(b->opts.ctx, kind, where, msg);
}

static void report_progress(kz_builder *b, const char *phase, int force)
{
    if (!b->opts.on_progress)
        return;
    double now = kz_now();
    if (!force && now - b->last_progress < 0.2)
        return;
    b->last_progress = now;
    kz_build_progress p = { b->n_docs, b->text_bytes, b->bytes_read, b->bytes_total, now - b->started, phase };
    b->opts.on_progress(b->opts.ctx, &p);
}

void kz_builder_input_read(kz_builder *b, uint64_t bytes)
{
    b->bytes_read += bytes;
    b->stats.bytes_in += bytes;
    report_progress(b, "reading", 0);
}

void kz_builder_input_total(kz_builder *b, uint64_t bytes) { b->bytes_total += bytes; }

uint64_t kz_builder_max_doc(const kz_builder *b) { return b->max_doc; }
uint64_t kz_builder_memory_budget(const kz_builder *b) { return b->budget; }
unsigned kz_builder_threads(const kz_builder *b) { return b->n_workers; }

/* Records a worker's failure; the first one wins. Called with b->mu held. */
static void fail_locked(kz_builder *b, int rc)
{
    if (!b->failed) {
        b->failed = rc;
        snprintf(b->failed_msg, sizeof b->failed_msg, "%s", kz_last_error());
    }
    pthread_cond_broadcast(&b->cv_space);
    pthread_cond_broadcast(&b->cv_work);
}

/* ---------------------------------------------------------------- inverter */

static int acc_reserve(worker *w, acc *a, size_t extra)
{
    if (a->cap - a->len >= extra)
        return KZ_OK;
    uint64_t want = (uint64_t)a->len + extra;
    if (want > UINT32_MAX)
        return kz_error_set(KZ_ELIMIT, "postings of one term exceed 4 GiB in one run");
    uint64_t cap = a->cap ? a->cap : 16;
    while (cap < want)
        cap *= 2;
    if (cap > UINT32_MAX)
        cap = UINT32_MAX;
    uint8_t *p = realloc(a->data, (size_t)cap);
    if (!p)
        return kz_error_set(KZ_ENOMEM, "out of memory in the inverter");
    w->mem += cap - a->cap;
    a->data = p;
    a->cap = (uint32_t)cap;
    return KZ_OK;
}

static inline int acc_put(worker *w, acc *a, uint32_t v)
{
    if (KZ_UNLIKELY(a->cap - a->len < 5)) {
        int rc = acc_reserve(w, a, 5);
        if (rc)
            return rc;
    }
    a->len += (uint32_t)kz_varint_put(a->data + a->len, v);
    return KZ_OK;
}

static int inverter_add(worker *w, uint32_t docid, const kz_token *toks, size_t n)
{
    uint32_t n_terms = kz_analyzer_term_count(w->an);
    if (n_terms > w->n_accs) {
        size_t cap = KZ_MAX((size_t)n_terms, w->n_accs * 2);
        acc *p = realloc(w->accs, cap * sizeof *p);
        if (!p)
            return kz_error_set(KZ_ENOMEM, "out of memory in the inverter");
        memset(p + w->n_accs, 0, (cap - w->n_accs) * sizeof *p);
        w->mem += (cap - w->n_accs) * sizeof *p;
        w->accs = p;
        w->n_accs = cap;
    }
    if (n > w->touched_cap) {
        uint32_t *t = realloc(w->touched, n * sizeof *t);
        if (!t)
            return kz_error_set(KZ_ENOMEM, "out of memory in the inverter");
        w->touched = t;
        w->touched_cap = n;
    }
    /* A large vocabulary's accumulators lie far apart in memory: each
     * loop fetches those of the tokens a little ahead (and, for the
     * positions, where they will write) while it works on this one. */
    size_t n_touched = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n)
            __builtin_prefetch(&w->accs[toks[i + PREFETCH_AHEAD].term]);
        acc *a = &w->accs[toks[i].term];
        if (a->cur_doc != docid + 1) {
            a->cur_doc = docid + 1;
            a->tf = 0;
            w->touched[n_touched++] = toks[i].term;
        }
        a->tf++;
    }
    int rc;
    for (size_t i = 0; i < n_touched; i++) {
        if (i + PREFETCH_AHEAD < n_touched) {
            const acc *ahead = &w->accs[w->touched[i + PREFETCH_AHEAD]];
            if (ahead->data) /* NULL + 0 is undefined */
                __builtin_prefetch(ahead->data + ahead->len, 1);
        }
        acc *a = &w->accs[w->touched[i]];
        if ((rc = acc_put(w, a, a->df ? docid - a->last_doc : docid)) || (rc = acc_put(w, a, a->tf)))
            return rc;
        a->last_doc = docid;
        a->df++;
        a->last_pos = UINT32_MAX;
    }
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n) {
            const acc *ahead = &w->accs[toks[i + PREFETCH_AHEAD].term];
            if (ahead->data)
                __builtin_prefetch(ahead->data + ahead->len, 1);
        }
        acc *a = &w->accs[toks[i].term];
        uint32_t gap = a->last_pos == UINT32_MAX ? (uint32_t)i : (uint32_t)i - a->last_pos - 1;
        if ((rc = acc_put(w, a, gap)))
            return rc;
        a->last_pos = (uint32_t)i;
    }
    return KZ_OK;
}

static int run_term_cmp(const void *x, const void *y)
{
    const kz_run_term *a = x, *b = y;
    return kz_bytes_cmp(a->text, a->len, b->text, b->len);
}

/* Writes the worker's postings as a run and empties the inverter. */
static int inverter_flush(worker *w)
{
    kz_builder *b = w->b;
    uint32_t n_terms = KZ_MIN((uint32_t)w->n_accs, kz_analyzer_term_count(w->an));
    size_t n = 0;
    int rc = KZ_OK;
    kz_run_term *terms = malloc((n_terms ? n_terms : 1) * sizeof *terms);
    char *path = NULL;
    if (!terms)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    for (uint32_t t = 0; t < n_terms; t++) {
        acc *a = &w->accs[t];
        if (!a->df)
            continue;
        kz_run_term *rt = &terms[n++];
        rt->text = kz_analyzer_term(w->an, t, &rt->len);
        rt->df = a->df;
        rt->bytes = a->data;
        rt->n_bytes = a->len;
    }
    if (n > 0) {
        qsort(terms, n, sizeof *terms, run_term_cmp);
        uint64_t total = 0, half = 0;
        size_t middle = 0;
        for (size_t i = 0; i < n; i++)
            total += terms[i].n_bytes;
        while (middle + 1 < n && (half += terms[middle].n_bytes) < total / 2)
            middle++;
        pthread_mutex_lock(&b->mu);
        size_t id = b->n_runs;
        if (b->n_runs == b->runs_cap) {
            size_t cap = b->runs_cap ? b->runs_cap * 2 : 16;
            char **p = realloc(b->runs, cap * sizeof *p);
            if (p)
                b->runs = p;
            kz_buf *m = realloc(b->run_middles, cap * sizeof *m);
            if (m)
                b->run_middles = m;
            if (p && m)
                b->runs_cap = cap;
        }
        if (b->n_runs < b->runs_cap && asprintf(&path, "%s/run-%06zu", b->work_dir, id) >= 0) {
            kz_buf *mid = &b->run_middles[b->n_runs];
            memset(mid, 0, sizeof *mid);
            rc = kz_buf_append(mid, terms[middle].text, terms[middle].len);
            b->runs[b->n_runs++] = path;
        } else {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
        }
        pthread_mutex_unlock(&b->mu);
        if (rc == KZ_OK)
            rc = kz_run_write(path, terms, n);
    }
    free(terms);
    for (size_t t = 0; t < w->n_accs; t++)
        free(w->accs[t].data);
    free(w->accs);
    w->accs = NULL;
    w->n_accs = 0;
    w->mem = 0;
    kz_analyzer_reset(w->an);
    w->n_term_hashes = 0;
    return rc;
}

/* ----------------------------------------------------------------- workers */

/* Compresses the block being filled, empty or not: documents with empty
 * text still name a block, and it must exist. */
static int store_flush_block(worker *w, batch *bt)
{
    size_t bound = ZSTD_compressBound(w->raw.len);
    int rc = kz_buf_reserve(&bt->store, bound);
    if (rc)
        return rc;
    size_t clen = w->b->cdict ? ZSTD_compress_usingCDict(w->zc, bt->store.data + bt->store.len, bound,
                                                         w->raw.data, w->raw.len, w->b->cdict)
                              : ZSTD_compressCCtx(w->zc, bt->store.data + bt->store.len, bound, w->raw.data,
                                                  w->raw.len, w->b->opts.store_level);
    if (ZSTD_isError(clen))
        return kz_error_set(KZ_ENOMEM, "zstd: %s", ZSTD_getErrorName(clen));
    if ((rc = kz_buf_append_u64(&bt->storeidx, bt->store.len)) ||
        (rc = kz_buf_append_u32(&bt->storeidx, (uint32_t)clen)) ||
        (rc = kz_buf_append_u32(&bt->storeidx, (uint32_t)w->raw.len)))
        return rc;
    bt->store.len += clen;
    w->raw.len = 0;
    return KZ_OK;
}

static int field_term(void *ctx, const char *term, size_t len)
{
    worker *w = ctx;
    kz_tokvec *tv = &w->fields;
    if (tv->len == tv->cap) {
        size_t cap = tv->cap ? tv->cap * 2 : 16;
        kz_token *p = realloc(tv->v, cap * sizeof *p);
        if (!p)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        tv->v = p;
        tv->cap = cap;
    }
    kz_token *t = &tv->v[tv->len];
    t->start = t->end = 0;
    int rc = kz_analyzer_intern(w->an, term, len, &t->term);
    if (rc == KZ_OK)
        tv->len++;
    return rc;
}

/* The stems of toks[0 .. n) as the field's word terms, one after another
 * so that a phrase of them is found (a stem too long for a term is left
 * out). */
static int field_word_terms(worker *w, const char *field, size_t flen, const kz_token *toks, size_t n)
{
    int rc = KZ_OK;
    for (size_t i = 0; rc == KZ_OK && i < n; i++) {
        size_t slen, len;
        const char *stem = kz_analyzer_term(w->an, toks[i].term, &slen);
        char term[KZ_TERM_MAX_BYTES];
        if (kz_field_word_term(term, &len, field, flen, stem, slen) == 0)
            rc = field_term(w, term, len);
    }
    return rc;
}

/* The words of a text field's value, as the field's word terms. */
static int field_words(worker *w, const char *field, size_t flen, const char *value, size_t vlen)
{
    w->words.len = 0;
    int rc = kz_analyzer_run(w->an, value, vlen, &w->words);
    return rc ? rc : field_word_terms(w, field, flen, w->words.v, w->words.len);
}

/* Inverts document i's field terms (FORMAT.md "Field terms"): its
 * title's words (title[0 .. n_title), the stems of the text's first
 * tokens) as the title field's, then its metadata's, read from its
 * DOCINFO record. They count in no document length. */
static int invert_fields(worker *w, batch *bt, uint32_t i, const kz_token *title, size_t n_title)
{
    uint64_t off = kz_load_u64(bt->info_off.data + 8 * (size_t)i);
    uint64_t end = i + 1 < bt->n_docs ? kz_load_u64(bt->info_off.data + 8 * (size_t)(i + 1)) : bt->docinfo.len;
    const uint8_t *p = bt->docinfo.data + off, *e = bt->docinfo.data + end;
    uint64_t n, n_meta;
    /* id and title, then the pairs: written by kz_builder_add just before. */
    for (int k = 0; k < 2; k++) {
        if (kz_varint_get(&p, e, &n) || n > (uint64_t)(e - p))
            return kz_error_set(KZ_EIO, "internal error: a DOCINFO record does not parse");
        p += n;
    }
    if (kz_varint_get(&p, e, &n_meta))
        return kz_error_set(KZ_EIO, "internal error: a DOCINFO record does not parse");
    w->fields.len = 0;
    int rc = field_word_terms(w, KZ_TITLE_FIELD, strlen(KZ_TITLE_FIELD), title, n_title);
    if (rc)
        return rc;
    for (uint64_t m = 0; m < n_meta; m++) {
        uint64_t klen, vlen;
        const uint8_t *key, *value;
        if (kz_varint_get(&p, e, &klen) || klen > (uint64_t)(e - p))
            return kz_error_set(KZ_EIO, "internal error: a DOCINFO record does not parse");
        key = p;
        p += klen;
        if (kz_varint_get(&p, e, &vlen) || vlen > (uint64_t)(e - p))
            return kz_error_set(KZ_EIO, "internal error: a DOCINFO record does not parse");
        value = p;
        p += vlen;
        if (klen == strlen(KZ_TITLE_FIELD) && memcmp(key, KZ_TITLE_FIELD, klen) == 0)
            continue; /* the title's terms are its words */
        kz_field_type type = kz_field_type_of(w->b->field_types, w->b->n_field_types, (const char *)key, (size_t)klen);
        rc = type == KZ_FIELD_TYPE_TEXT
                 ? field_words(w, (const char *)key, (size_t)klen, (const char *)value, (size_t)vlen)
                 : kz_field_terms((const char *)key, (size_t)klen, type, (const char *)value, (size_t)vlen,
                                  field_term, w);
        if (rc)
            return rc;
    }
    return w->fields.len ? inverter_add(w, bt->first_docid + i, w->fields.v, w->fields.len) : KZ_OK;
}

/* The SIMHASH fingerprint of the text's tokens toks[0 .. n). Each term's
 * hash is computed once while the analyzer keeps its id. */
static int text_simhash(worker *w, const kz_token *toks, size_t n, uint64_t *out)
{
    uint32_t n_terms = kz_analyzer_term_count(w->an);
    if (n_terms > w->term_hashes_cap) {
        size_t cap = KZ_MAX((size_t)n_terms, 2 * w->term_hashes_cap);
        uint64_t *t = realloc(w->term_hashes, cap * sizeof *t);
        if (!t)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        w->term_hashes = t;
        w->term_hashes_cap = cap;
    }
    for (; w->n_term_hashes < n_terms; w->n_term_hashes++) {
        size_t len;
        const char *term = kz_analyzer_term(w->an, (uint32_t)w->n_term_hashes, &len);
        w->term_hashes[w->n_term_hashes] = kz_simhash_term(term, len);
    }
    if (n > w->doc_hashes_cap) {
        size_t cap = KZ_MAX(n, 2 * w->doc_hashes_cap);
        uint64_t *d = realloc(w->doc_hashes, cap * sizeof *d);
        if (!d)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        w->doc_hashes = d;
        w->doc_hashes_cap = cap;
    }
    for (size_t i = 0; i < n; i++)
        w->doc_hashes[i] = w->term_hashes[toks[i].term];
    *out = kz_simhash(w->doc_hashes, n);
    return KZ_OK;
}

static int process_batch(worker *w, batch *bt)
{
    int rc = KZ_OK;
    bt->dl = malloc((bt->n_docs ? bt->n_docs : 1) * sizeof *bt->dl);
    bt->simhash = malloc((bt->n_docs ? bt->n_docs : 1) * sizeof *bt->simhash);
    if (!bt->dl || !bt->simhash)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    w->raw.len = 0;
    int block_named = 0; /* a document names the block being filled */
    for (uint32_t i = 0; i < bt->n_docs; i++) {
        const batch_doc *d = &bt->docs[i];
        const char *title = (const char *)bt->arena.data + d->title_off;
        const char *text = (const char *)bt->arena.data + d->text_off;
        kz_analyzer_set_russian(w->an, !d->other_cyrillic);
        w->tv.len = 0;
        if ((rc = kz_analyzer_run(w->an, title, d->title_len, &w->tv)))
            return rc;
        size_t title_tokens = w->tv.len;
        if ((rc = kz_analyzer_run(w->an, text, d->text_len, &w->tv)))
            return rc;
        if (w->tv.len > UINT32_MAX)
            return kz_error_set(KZ_ELIMIT, "document has more than 2^32 tokens");
        if ((rc = text_simhash(w, w->tv.v + title_tokens, w->tv.len - title_tokens, &bt->simhash[i])))
            return rc;
        if ((rc = inverter_add(w, bt->first_docid + i, w->tv.v, w->tv.len)) ||
            (rc = invert_fields(w, bt, i, w->tv.v, title_tokens)))
            return rc;
        bt->dl[i] = (uint32_t)w->tv.len;
        bt->tokens += w->tv.len;

        /* Its text marks (FORMAT.md "STORE"): where every
         * KZ_TEXT_MARK_EVERY-th token of the text starts, from the first
         * mark, as deltas, so that passages are found by analysing only
         * the text around the query's places. */
        w->marks.len = 0;
        size_t text_tokens = w->tv.len - title_tokens;
        for (size_t j = KZ_TEXT_MARK_EVERY, prev = 0; j < text_tokens; j += KZ_TEXT_MARK_EVERY) {
            size_t at = w->tv.v[title_tokens + j].start;
            if ((rc = kz_buf_append_varint(&w->marks, at - prev)))
                return rc;
            prev = at;
        }
        /* A document's text and marks go whole into one block. */
        if (w->raw.len > 0 && w->raw.len + d->text_len + w->marks.len > STORE_BLOCK_BYTES) {
            if ((rc = store_flush_block(w, bt)))
                return rc;
            block_named = 0;
        }
        uint8_t rec[KZ_DOC_SIZE];
        kz_store_u64(rec + KZ_DOC_INFO_OFF, kz_load_u64(bt->info_off.data + 8 * (size_t)i));
        kz_store_u32(rec + KZ_DOC_LENGTH, (uint32_t)w->tv.len);
        kz_store_u32(rec + KZ_DOC_TITLE_TOKENS, (uint32_t)title_tokens);
        kz_store_u32(rec + KZ_DOC_BLOCK, (uint32_t)(bt->storeidx.len / KZ_STOREIDX_SIZE));
        kz_store_u32(rec + KZ_DOC_BLOCK_OFF, (uint32_t)w->raw.len);
        kz_store_u32(rec + KZ_DOC_TEXT_LEN, (uint32_t)d->text_len);
        if ((rc = kz_buf_append(&bt->docs_out, rec, sizeof rec)) ||
            (rc = kz_buf_append(&w->raw, text, d->text_len)) ||
            (rc = kz_buf_append(&w->raw, w->marks.data, w->marks.len)))
            return rc;
        block_named = 1;
        if (w->raw.len >= STORE_BLOCK_BYTES) {
            if ((rc = store_flush_block(w, bt)))
                return rc;
            block_named = 0;
        }
    }
    if (block_named && (rc = store_flush_block(w, bt)))
        return rc;
    /* The text is in the store now; free it before the batch waits. */
    kz_buf_free(&bt->arena);
    return KZ_OK;
}

/* Appends a finished batch to the output, in docid order. b->mu held. */
static int commit_batch(kz_builder *b, batch *bt)
{
    int rc;
    /* Rebase block numbers and info offsets. */
    for (uint32_t i = 0; i < bt->n_docs; i++) {
        uint8_t *rec = bt->docs_out.data + (size_t)i * KZ_DOC_SIZE;
        uint64_t block = kz_load_u32(rec + KZ_DOC_BLOCK) + b->store_blocks;
        if (block > UINT32_MAX)
            return kz_error_set(KZ_ELIMIT, "more than 2^32 store blocks");
        kz_store_u32(rec + KZ_DOC_BLOCK, (uint32_t)block);
        kz_store_u64(rec + KZ_DOC_INFO_OFF, kz_load_u64(rec + KZ_DOC_INFO_OFF) + b->docinfo_bytes);
        b->doc_lengths[bt->first_docid + i] = bt->dl[i];
        kz_store_u64((uint8_t *)&bt->simhash[i], bt->simhash[i]); /* little-endian, as written */
    }
    size_t n_blocks = bt->storeidx.len / KZ_STOREIDX_SIZE;
    for (size_t i = 0; i < n_blocks; i++) {
        uint8_t *e = bt->storeidx.data + i * KZ_STOREIDX_SIZE;
        kz_store_u64(e, kz_load_u64(e) + b->store_bytes);
    }
    if ((rc = kz_fwriter_write(b->fw, bt->store.data, bt->store.len)) ||
        (rc = kz_fwrite_all(b->storeidx_f, bt->storeidx.data, bt->storeidx.len, b->storeidx_path)) ||
        (rc = kz_fwrite_all(b->docs_f, bt->docs_out.data, bt->docs_out.len, b->docs_path)) ||
        (rc = kz_fwrite_all(b->docinfo_f, bt->docinfo.data, bt->docinfo.len, b->docinfo_path)) ||
        (rc = kz_fwrite_all(b->simhash_f, bt->simhash, (size_t)bt->n_docs * KZ_SIMHASH_SIZE, b->simhash_path)))
        return rc;
    b->store_bytes += bt->store.len;
    b->store_blocks += n_blocks;
    b->docinfo_bytes += bt->docinfo.len;
    b->tokens += bt->tokens;
    return KZ_OK;
}

/* Commits every finished batch that is next in line. b->mu held. */
static int commit_ready(kz_builder *b)
{
    for (;;) {
        batch **pp = &b->done;
        while (*pp && (*pp)->seq != b->next_commit)
            pp = &(*pp)->next;
        if (!*pp)
            return KZ_OK;
        batch *bt = *pp;
        *pp = bt->next;
        int rc = commit_batch(b, bt);
        batch_free(bt);
        b->next_commit++;
        if (rc)
            return rc;
    }
}

/* An inverter's share of the budget: the inverters get 70% of it less
 * what the rest needs whatever the budget (batches in flight, compression
 * contexts, and at the end the merge's read-ahead and a term's unspilled
 * positions) and less the tables of the documents so far; never less than
 * MIN_INVERTER_SHARE. */
static uint64_t inverter_share(kz_builder *b)
{
    uint64_t fixed = KZ_MIN(FIXED_OVERHEAD, b->budget / 2) + atomic_load(&b->doc_table_bytes);
    uint64_t floor = MIN_INVERTER_SHARE * b->n_workers;
    uint64_t for_inverters = b->budget * 7 / 10 > fixed + floor ? b->budget * 7 / 10 - fixed : floor;
    return for_inverters / b->n_workers;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    kz_builder *b = w->b;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        while (!b->q_head && !b->closing && !b->failed)
            pthread_cond_wait(&b->cv_work, &b->mu);
        if (b->failed || (!b->q_head && b->closing)) {
            pthread_mutex_unlock(&b->mu);
            break;
        }
        batch *bt = b->q_head;
        b->q_head = bt->next;
        if (!b->q_head)
            b->q_tail = NULL;
        b->q_len--;
        pthread_cond_signal(&b->cv_space);
        pthread_mutex_unlock(&b->mu);

        int rc = process_batch(w, bt);
        if (rc == KZ_OK && w->mem + kz_analyzer_memory(w->an) > inverter_share(b))
            rc = inverter_flush(w);

        pthread_mutex_lock(&b->mu);
        if (rc == KZ_OK) {
            bt->next = b->done;
            b->done = bt;
            rc = commit_ready(b);
        } else {
            batch_free(bt);
        }
        if (rc)
            fail_locked(b, rc);
        pthread_cond_broadcast(&b->cv_space);
        pthread_mutex_unlock(&b->mu);
    }
    /* The rest of this worker's postings become its last run. */
    pthread_mutex_lock(&b->mu);
    int failed = b->failed;
    pthread_mutex_unlock(&b->mu);
    if (!failed) {
        int rc = inverter_flush(w);
        if (rc) {
            pthread_mutex_lock(&b->mu);
            fail_locked(b, rc);
            pthread_mutex_unlock(&b->mu);
        }
    }
    return NULL;
}

static int builder_failure(kz_builder *b)
{
    pthread_mutex_lock(&b->mu);
    int rc = b->failed;
    if (rc)
        kz_error_set(rc, "%s", b->failed_msg);
    pthread_mutex_unlock(&b->mu);
    return rc;
}

/* Trains the store's dictionary on the held batches' text. Too little
 * text, or a failed training, means no dictionary: not an error. */
static int train_dict(kz_builder *b, int input_ended)
{
    kz_buf samples = { 0 };
    size_t *sizes = NULL, n = 0, cap = 0;
    int rc = KZ_OK;
    uint64_t held_text = 0;
    b->dict_done = 1;
    for (batch *bt = b->held; bt; bt = bt->next) {
        for (uint32_t i = 0; i < bt->n_docs; i++) {
            const batch_doc *d = &bt->docs[i];
            held_text += d->text_len;
            for (size_t off = 0; off < d->text_len && samples.len < DICT_SAMPLE_BYTES; off += DICT_SAMPLE_PIECE) {
                size_t piece = KZ_MIN((size_t)DICT_SAMPLE_PIECE, d->text_len - off);
                if (n == cap) {
                    cap = cap ? cap * 2 : 1024;
                    size_t *p = realloc(sizes, cap * sizeof *p);
                    if (!p) {
                        rc = kz_error_set(KZ_ENOMEM, "out of memory");
                        goto done;
                    }
                    sizes = p;
                }
                sizes[n++] = piece;
                if ((rc = kz_buf_append(&samples, bt->arena.data + d->text_off + off, piece)))
                    goto done;
            }
        }
    }
    if (samples.len < DICT_MIN_SAMPLE || n > UINT32_MAX)
        goto done;
    size_t dict_bytes = DICT_MAX_BYTES;
    if (input_ended && held_text / 64 < DICT_MAX_BYTES)
        dict_bytes = KZ_MAX((size_t)(held_text / 64), (size_t)DICT_MIN_BYTES);
    if ((rc = kz_buf_reserve(&b->dict, dict_bytes)))
        goto done;
    ZDICT_fastCover_params_t p;
    memset(&p, 0, sizeof p);
    p.k = 1024;
    p.d = 8;
    p.f = 20;
    p.accel = 1;
    p.splitPoint = 1.0;
    p.zParams.compressionLevel = b->opts.store_level;
    size_t got = ZDICT_trainFromBuffer_fastCover(b->dict.data, dict_bytes, samples.data, sizes, (unsigned)n, p);
    if (ZDICT_isError(got))
        goto done;
    b->dict.len = got;
    b->cdict = ZSTD_createCDict(b->dict.data, b->dict.len, b->opts.store_level);
    if (!b->cdict)
        b->dict.len = 0;
done:
    kz_buf_free(&samples);
    free(sizes);
    return rc;
}

static int queue_batch(kz_builder *b, batch *bt);

/* The memory a batch being held takes. */
static uint64_t batch_bytes(const batch *bt)
{
    return bt->arena.cap + bt->docinfo.cap + bt->info_off.cap + bt->docs_cap * sizeof *bt->docs + sizeof *bt;
}

/* Hands the current batch to the workers; until the dictionary exists,
 * holds it, and trains once enough is held or the input ends. */
static int submit_batch(kz_builder *b, int input_ended)
{
    batch *bt = b->cur;
    b->cur = NULL;
    if (b->dict_done)
        return bt ? queue_batch(b, bt) : KZ_OK;
    if (bt) {
        bt->next = NULL;
        if (b->held_tail)
            b->held_tail->next = bt;
        else
            b->held = bt;
        b->held_tail = bt;
        b->held_bytes += batch_bytes(bt);
    }
    if (b->held_bytes < DICT_HOLD_BYTES && !input_ended)
        return KZ_OK;
    int rc = train_dict(b, input_ended);
    while (b->held) {
        batch *h = b->held;
        b->held = h->next;
        if (rc == KZ_OK)
            rc = queue_batch(b, h);
        else
            batch_free(h);
    }
    b->held_tail = NULL;
    return rc;
}

/* Puts bt on the workers' queue, waiting while the queue is full. */
static int queue_batch(kz_builder *b, batch *bt)
{
    bt->next = NULL;
    pthread_mutex_lock(&b->mu);
    while (b->q_len >= b->q_max && !b->failed)
        pthread_cond_wait(&b->cv_space, &b->mu);
    if (b->failed) {
        pthread_mutex_unlock(&b->mu);
        batch_free(bt);
        return builder_failure(b);
    }
    if (b->q_tail)
        b->q_tail->next = bt;
    else
        b->q_head = bt;
    b->q_tail = bt;
    b->q_len++;
    pthread_cond_signal(&b->cv_work);
    pthread_mutex_unlock(&b->mu);
    return KZ_OK;
}

/* ---------------------------------------------------------------- adding */

static void doc_tables_changed(kz_builder *b)
{
    atomic_store(&b->doc_table_bytes, (uint64_t)b->id_cap * sizeof *b->id_hashes +
                                          (uint64_t)b->ids_cap * sizeof *b->id_hash_of +
                                          (uint64_t)b->dl_cap * sizeof *b->doc_lengths);
}

static int id_seen(kz_builder *b, const char *id, size_t len, int *seen)
{
    uint64_t h = XXH3_64bits(id, len) | 1;
    if ((b->n_ids + 1) * 2 > b->id_cap) {
        size_t cap = b->id_cap ? b->id_cap * 2 : 1024;
        uint64_t *t = calloc(cap, sizeof *t);
        if (!t)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        for (size_t i = 0; i < b->id_cap; i++) {
            uint64_t v = b->id_hashes[i];
            if (!v)
                continue;
            size_t j = (size_t)(v >> 7) & (cap - 1);
            while (t[j])
                j = (j + 1) & (cap - 1);
            t[j] = v;
        }
        free(b->id_hashes);
        b->id_hashes = t;
        b->id_cap = cap;
        doc_tables_changed(b);
    }
    size_t j = (size_t)(h >> 7) & (b->id_cap - 1);
    while (b->id_hashes[j]) {
        if (b->id_hashes[j] == h) {
            *seen = 1;
            return KZ_OK;
        }
        j = (j + 1) & (b->id_cap - 1);
    }
    b->id_hashes[j] = h;
    b->n_ids++;
    *seen = 0;
    return KZ_OK;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v')
            return 0;
    }
    return 1;
}

static int is_mark_category(utf8proc_category_t c)
{
    return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ME;
}

static int is_word_category(utf8proc_category_t c)
{
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
           (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

/* Whether s certainly holds a token, found without analysis: a run of 1 to
 * 14 letters and digits whose NFKD starts with one (marks inside the run
 * allowed) between ASCII characters that are neither letters, digits nor
 * apostrophes, or the ends of s. Folding makes at most 18 code points of
 * one character and keeps a letter or digit in the fold of each such
 * (tests/test_analyzer.c checks both), so the run is a token of at most
 * 252. 0 means "not certain". */
static int surely_has_token(const char *s, size_t n)
{
    int sure = 1;       /* what came before is a boundary for certain */
    int in_run = 0, run_sure = 0;
    size_t run = 0;     /* letters and digits in the run */
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        int32_t cp = c;
        utf8proc_ssize_t k = 1;
        if (c >= 0x80 && (k = utf8proc_iterate((const uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp)) <= 0) {
            in_run = sure = 0; /* invalid UTF-8 */
            i++;
            continue;
        }
        i += (size_t)k;
        int mark = is_mark_category(utf8proc_category(cp));
        int word = is_word_category(utf8proc_category(cp));
        if (word && c >= 0x80) { /* and still one after NFKD (not U+FE70, a space and a mark) */
            int32_t d[32];
            int bound = 0;
            utf8proc_ssize_t nd = utf8proc_decompose_char(cp, d, 32, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &bound);
            word = nd > 0 && is_word_category(utf8proc_category(d[0]));
        }
        if (word) {
            if (!in_run) {
                in_run = 1;
                run_sure = sure;
                run = 0;
            }
            run++;
        } else if (mark) {
            if (!in_run)
                sure = 0;
        } else {
            if (in_run && run_sure && run <= 14 && c < 0x80 && c != '\'')
                return 1;
            in_run = 0;
            sure = c < 0x80 && c != '\'';
        }
    }
    return in_run && run_sure && run <= 14;
}

/* Whether the document has a token (README "Analysis"): without one it is
 * skipped, and not counted in N. Nearly every document shows one to
 * surely_has_token; the rest are analysed here. */
static int has_token(kz_builder *b, const kz_jsonl_doc *doc, int *found)
{
    int rc;
    *found = surely_has_token(doc->title, doc->title_len) || surely_has_token(doc->text, doc->text_len);
    if (*found)
        return KZ_OK;
    if (!b->check_an && (rc = kz_analyzer_new(&b->check_an, b->language)))
        return rc;
    b->check_tv.len = 0;
    if ((rc = kz_analyzer_run(b->check_an, doc->title, doc->title_len, &b->check_tv)) ||
        (!b->check_tv.len && (rc = kz_analyzer_run(b->check_an, doc->text, doc->text_len, &b->check_tv))))
        return rc;
    *found = b->check_tv.len > 0;
    /* Its terms are of no use later: keep the analyzer small. */
    if (kz_analyzer_memory(b->check_an) > (16u << 20))
        kz_analyzer_reset(b->check_an);
    return KZ_OK;
}

/* Appends s as valid UTF-8 to dst, counting replacements in *invalid. */
static int append_clean(kz_builder *b, kz_buf *dst, const char *s, size_t n, size_t *invalid)
{
    size_t bad = kz_utf8_count_invalid(s, n);
    if (bad == 0)
        return kz_buf_append(dst, s, n);
    if (kz_utf8_sanitize(&b->scratch, s, n) == (size_t)-1)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    *invalid += bad;
    return kz_buf_append(dst, b->scratch.data, b->scratch.len);
}

/* Appends s to dst as a str of valid UTF-8, and adds what it appended to
 * the document's fingerprint (if fingerprint) or gives its XXH3 (if
 * hash). */
static int append_clean_varstr(kz_builder *b, kz_buf *dst, const char *s, size_t n, size_t *invalid,
                               XXH3_state_t *fingerprint, uint64_t *hash)
{
    size_t bad = kz_utf8_count_invalid(s, n);
    if (bad) {
        if (kz_utf8_sanitize(&b->scratch, s, n) == (size_t)-1)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        *invalid += bad;
        s = (const char *)b->scratch.data;
        n = b->scratch.len;
    }
    if (fingerprint)
        kz_fingerprint_field(fingerprint, s, n);
    if (hash)
        *hash = XXH3_64bits(s, n);
    int rc = kz_buf_append_varint(dst, n);
    return rc ? rc : kz_buf_append(dst, s, n);
}

int kz_builder_add(kz_builder *b, const kz_jsonl_doc *doc, const char *where)
{
    int rc = builder_failure(b);
    if (rc)
        return rc;
    if (b->finished)
        return kz_error_set(KZ_EINVAL, "builder already committed");
    uint64_t size = (uint64_t)doc->title_len + doc->text_len;
    if (size > b->max_doc || doc->text_len > UINT32_MAX) {
        kz_builder_problem(b, KZ_PROBLEM_TOO_LARGE, where,
                           "document \"%.*s\" is %llu bytes, over the limit of %llu: skipped",
                           (int)KZ_MIN(doc->id_len, 200), doc->id, (unsigned long long)size,
                           (unsigned long long)KZ_MIN(b->max_doc, (uint64_t)UINT32_MAX));
        return KZ_OK;
    }
    /* Another shard's document: not this build's, not a problem. */
    if (b->opts.shards && !b->merging && kz_shard_of(doc->id, doc->id_len, b->opts.shards) != b->opts.shard) {
        b->stats.other_shards++;
        return KZ_OK;
    }
    if (is_blank(doc->title, doc->title_len) && is_blank(doc->text, doc->text_len)) {
        kz_builder_problem(b, KZ_PROBLEM_EMPTY, where, "document \"%.*s\" is empty: skipped",
                           (int)KZ_MIN(doc->id_len, 200), doc->id);
        return KZ_OK;
    }
    /* A merge's documents were checked when they were added. */
    int found = 1;
    if (!b->merging && (rc = has_token(b, doc, &found)))
        return rc;
    if (!found) {
        kz_builder_problem(b, KZ_PROBLEM_EMPTY, where, "document \"%.*s\" has no words: skipped",
                           (int)KZ_MIN(doc->id_len, 200), doc->id);
        return KZ_OK;
    }
    /* A merge's documents are live ones, whose ids are unique: it needs
     * no table of the ids seen. */
    int seen = 0;
    if (!b->merging && (rc = id_seen(b, doc->id, doc->id_len, &seen)))
        return rc;
    if (seen) {
        kz_builder_problem(b, KZ_PROBLEM_DUPLICATE_ID, where,
                           "duplicate id \"%.*s\": the first one is kept, this one skipped",
                           (int)KZ_MIN(doc->id_len, 200), doc->id);
        return KZ_OK;
    }
    if (b->filter) {
        int keep = b->filter(b->filter_ctx, doc);
        if (keep < 0)
            return keep;
        if (!keep)
            return KZ_OK;
    }
    if (b->n_docs >= UINT32_MAX - 1)
        return kz_error_set(KZ_ELIMIT, "an index holds at most 2^32-2 documents");

    if (!b->cur) {
        b->cur = calloc(1, sizeof *b->cur);
        if (!b->cur)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        b->cur->seq = b->next_batch_seq++;
        b->cur->first_docid = (uint32_t)b->n_docs;
    }
    batch *bt = b->cur;
    if (bt->n_docs == bt->docs_cap) {
        size_t cap = bt->docs_cap ? bt->docs_cap * 2 : 64;
        batch_doc *p = realloc(bt->docs, cap * sizeof *p);
        if (!p)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        bt->docs = p;
        bt->docs_cap = cap;
    }
    if (b->n_docs >= b->ids_cap) {
        size_t cap = b->ids_cap ? b->ids_cap * 2 : 4096;
        uint64_t *p = realloc(b->id_hash_of, cap * sizeof *p);
        if (!p)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        b->id_hash_of = p;
        b->ids_cap = cap;
        doc_tables_changed(b);
    }
    if (b->n_docs >= b->dl_cap) {
        /* Committing workers write into doc_lengths under b->mu. */
        size_t cap = b->dl_cap ? b->dl_cap * 2 : 4096;
        pthread_mutex_lock(&b->mu);
        uint32_t *p = realloc(b->doc_lengths, cap * sizeof *p);
        if (p) {
            b->doc_lengths = p;
            b->dl_cap = cap;
            doc_tables_changed(b);
        }
        pthread_mutex_unlock(&b->mu);
        if (!p)
            return kz_error_set(KZ_ENOMEM, "out of memory");
    }
    size_t invalid = 0;
    batch_doc *d = &bt->docs[bt->n_docs];
    d->other_cyrillic = kz_doc_other_cyrillic((const kz_doc_field *)doc->meta, /* same layout, by design */
                                              doc->n_meta, doc->title, doc->title_len, doc->text, doc->text_len);
    d->title_off = bt->arena.len;
    if ((rc = append_clean(b, &bt->arena, doc->title, doc->title_len, &invalid)))
        return rc;
    d->title_len = bt->arena.len - d->title_off;
    d->text_off = bt->arena.len;
    if ((rc = append_clean(b, &bt->arena, doc->text, doc->text_len, &invalid)))
        return rc;
    d->text_len = bt->arena.len - d->text_off;

    XXH3_64bits_reset(b->fingerprint);
    kz_fingerprint_field(b->fingerprint, bt->arena.data + d->title_off, d->title_len);
    kz_fingerprint_field(b->fingerprint, bt->arena.data + d->text_off, d->text_len);

    /* The title was cleaned (and its repairs counted) into the arena. */
    uint64_t *id_hash = &b->id_hash_of[b->n_docs];
    if ((rc = kz_buf_append_u64(&bt->info_off, bt->docinfo.len)) ||
        (rc = append_clean_varstr(b, &bt->docinfo, doc->id, doc->id_len, &invalid, NULL, id_hash)) ||
        (rc = kz_buf_append_varint(&bt->docinfo, d->title_len)) ||
        (rc = kz_buf_append(&bt->docinfo, bt->arena.data + d->title_off, d->title_len)) ||
        (rc = kz_buf_append_varint(&bt->docinfo, doc->n_meta)))
        return rc;
    for (size_t i = 0; i < doc->n_meta; i++) {
        const kz_meta *m = &doc->meta[i];
        if ((rc = append_clean_varstr(b, &bt->docinfo, m->key, m->key_len, &invalid, b->fingerprint, NULL)) ||
            (rc = append_clean_varstr(b, &bt->docinfo, m->value, m->value_len, &invalid, b->fingerprint, NULL)))
            return rc;
        kz_field_type type = kz_field_type_of(b->field_types, b->n_field_types, m->key, m->key_len);
        if (!b->merging && !kz_field_value_fits(type, m->value, m->value_len)) /* merged: told when added */
            kz_builder_problem(b, KZ_PROBLEM_FIELD_TYPE, where, "field %.*s: \"%.*s\" is no %s: kept as a keyword",
                               (int)KZ_MIN(m->key_len, (size_t)128), m->key, (int)KZ_MIN(m->value_len, (size_t)80),
                               m->value, kz_field_type_name(type));
    }
    uint8_t fingerprint[KZ_DOCHASH_SIZE];
    kz_store_u64(fingerprint, XXH3_64bits_digest(b->fingerprint));
    if ((rc = kz_fwrite_all(b->dochash_f, fingerprint, sizeof fingerprint, b->dochash_path)))
        return rc;
    if (invalid)
        kz_builder_problem(b, KZ_PROBLEM_INVALID_UTF8, where,
                           "%zu invalid UTF-8 sequence%s replaced by U+FFFD", invalid,
                           invalid == 1 ? "" : "s");
    if (doc->n_lone_surrogates)
        kz_builder_problem(b, KZ_PROBLEM_INVALID_UTF8, where,
                           "%u \\u escape%s of half a surrogate pair replaced by U+FFFD", doc->n_lone_surrogates,
                           doc->n_lone_surrogates == 1 ? "" : "s");
    if (doc->n_repeated_keys == 1)
        kz_builder_problem(b, KZ_PROBLEM_REPEATED_KEY, where,
                           "key \"%.*s\" repeated in one record: the last value is kept",
                           (int)KZ_MIN(doc->repeated_key_len, 200), doc->repeated_key);
    else if (doc->n_repeated_keys > 1)
        kz_builder_problem(b, KZ_PROBLEM_REPEATED_KEY, where,
                           "%u repeated keys in one record (\"%.*s\" first): the last values are kept",
                           doc->n_repeated_keys, (int)KZ_MIN(doc->repeated_key_len, 200), doc->repeated_key);
    if (doc->n_dropped_fields)
        for (unsigned i = 0; i < doc->n_dropped_fields; i++)
            kz_builder_problem(b, KZ_PROBLEM_DROPPED_FIELD, where,
                               "a metadata field that is null, an object or a nested array was dropped");
    bt->n_docs++;
    b->n_docs++;
    b->text_bytes += d->title_len + d->text_len;
    if (bt->arena.len >= BATCH_TEXT_BYTES || bt->n_docs >= BATCH_MAX_DOCS)
        rc = submit_batch(b, 0);
    report_progress(b, "reading", 0);
    return rc;
}

int kz_builder_add_document(kz_builder *b, const char *id, size_t id_len, const char *title,
                            size_t title_len, const char *text, size_t text_len,
                            const kz_doc_field *meta, size_t n_meta)
{
    kz_jsonl_doc d = { 0 };
    d.id = id;
    d.id_len = id_len;
    d.title = title ? title : "";
    d.title_len = title ? title_len : 0;
    d.text = text ? text : "";
    d.text_len = text ? text_len : 0;
    d.meta = (const kz_meta *)meta; /* same layout, by design */
    d.n_meta = meta ? n_meta : 0;
    return kz_builder_add(b, &d, "(document)");
}

/* ---------------------------------------------------------------- set-up */

/* Removes what a killed build left in dir. We hold the lock, so any
 * temporary file or folder there is stale. */
static void remove_stale(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[4096];
        if (strncmp(e->d_name, KZ_INDEX_FILE ".tmp-", strlen(KZ_INDEX_FILE ".tmp-")) == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        } else if (strncmp(e->d_name, ".build-", 7) == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            DIR *sub = opendir(path);
            if (sub) {
                struct dirent *f;
                while ((f = readdir(sub))) {
                    if (f->d_name[0] == '.')
                        continue;
                    char fp[4096 + 256];
                    snprintf(fp, sizeof fp, "%s/%s", path, f->d_name);
                    unlink(fp);
                }
                closedir(sub);
            }
            rmdir(path);
        }
    }
    closedir(d);
}

static int open_temp(FILE **f, char **path, const char *dir, const char *name)
{
    if (asprintf(path, "%s/%s", dir, name) < 0) {
        *path = NULL;
        return kz_error_set(KZ_ENOMEM, "out of memory");
    }
    *f = fopen(*path, "w+b");
    if (!*f)
        return kz_error_errno(KZ_EIO, errno, "cannot create %s", *path);
    setvbuf(*f, NULL, _IOFBF, 1 << 20);
    return KZ_OK;
}

int kz_builder_new(kz_builder **out, const char *index_dir, const kz_build_options *opts)
{
    int rc = KZ_OK;
    *out = NULL;
    kz_builder *b = calloc(1, sizeof *b);
    if (!b)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    b->lock_fd = -1;
    kz_build_options defaults = KZ_BUILD_OPTIONS_INIT;
    b->opts = defaults;
    if (opts && opts->version == 1) /* without mode and flags */
        memcpy(&b->opts, opts, offsetof(kz_build_options, mode));
    else if (opts && opts->version == 2) /* without shard */
        memcpy(&b->opts, opts, offsetof(kz_build_options, shard));
    else if (opts && opts->version == 3) /* without field types */
        memcpy(&b->opts, opts, offsetof(kz_build_options, field_types));
    else if (opts)
        b->opts = *opts;
    if (opts && opts->version >= 1 && opts->version <= 3)
        b->opts.version = KZ_BUILD_OPTIONS_VERSION; /* the rest are the defaults */
    if (b->opts.version != KZ_BUILD_OPTIONS_VERSION) {
        unsigned version = b->opts.version;
        free(b);
        return kz_error_set(KZ_EINVAL, "kz_build_options version %u, expected %u", version,
                            KZ_BUILD_OPTIONS_VERSION);
    }
    if (b->opts.shards && b->opts.shard >= b->opts.shards) {
        uint32_t shard = b->opts.shard, shards = b->opts.shards;
        free(b);
        return kz_error_set(KZ_EINVAL, "shard %u of %u: shards are numbered 0 to %u", shard, shards, shards - 1);
    }
    const char *lang = b->opts.language ? b->opts.language : "auto";
    if (strlen(lang) >= sizeof b->language) {
        free(b);
        return kz_error_set(KZ_EINVAL, "language name too long: %s", lang);
    }
    strcpy(b->language, lang);
    b->opts.language = b->language;
    b->budget = b->opts.memory_budget ? b->opts.memory_budget : DEFAULT_BUDGET;
    b->max_doc = b->opts.max_doc_bytes ? b->opts.max_doc_bytes : DEFAULT_MAX_DOC;
    if (b->opts.store_level == 0)
        b->opts.store_level = DEFAULT_STORE_LEVEL;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    b->n_workers = b->opts.threads ? b->opts.threads : (unsigned)(cores > 0 ? cores : 1);
    if (b->n_workers > 64)
        b->n_workers = 64;
    b->q_max = b->n_workers + 1;
    b->started = kz_now();

    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv_work, NULL);
    pthread_cond_init(&b->cv_space, NULL);
    b->mu_ready = 1;

    b->dir = strdup(index_dir);
    if (!b->dir) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = kz_index_lock(index_dir, &b->lock_fd)))
        goto done;
    /* What a killed writer left: files the manifest does not name, and
     * build folders. The new segment is named by the next generation. */
    kz_manifest current;
    rc = kz_manifest_current(&current, index_dir, &b->index_exists);
    if ((rc == KZ_ECORRUPT || rc == KZ_EVERSION) && b->opts.mode == KZ_BUILD_REPLACE) {
        /* An index no reader can open is replaced whole: its files go. */
        kz_index_remove_unnamed(index_dir, NULL);
        b->index_exists = 1;
        rc = KZ_OK;
    }
    if (rc)
        goto done;
    /* Documents are typed as the index's were: added ones always, those
     * of a rebuild unless the options type a field anew. */
    for (size_t i = 0; i < current.n_fields && rc == KZ_OK; i++)
        rc = kz_field_type_declare(&b->field_types, &b->n_field_types, current.fields[i].name,
                                   strlen(current.fields[i].name), current.fields[i].type, 0);
    for (size_t i = 0; i < b->opts.n_field_types && rc == KZ_OK; i++) {
        const char *name = b->opts.field_types[i].name;
        rc = !name ? kz_error_set(KZ_EINVAL, "a field type without a name")
                   : kz_field_type_declare(&b->field_types, &b->n_field_types, name, strlen(name),
                                           b->opts.field_types[i].type, b->opts.mode == KZ_BUILD_REPLACE);
    }
    b->opts.field_types = NULL; /* the caller's: read now only */
    b->opts.n_field_types = 0;
    if (rc) {
        kz_manifest_free(&current);
        goto done;
    }
    for (size_t i = 0; i < current.n_segments; i++)
        b->index_docs += current.segments[i].docs;
    b->index_segments = current.n_segments;
    uint64_t next_generation = current.generation + 1;
    if (b->index_exists && current.n_segments)
        kz_index_remove_unnamed(index_dir, &current);
    kz_manifest_free(&current);
    remove_stale(index_dir);
    if ((rc = kz_segment_file_name(b->segment_name, sizeof b->segment_name, next_generation)))
        goto done;
    if (asprintf(&b->final_path, "%s/%s", index_dir, b->segment_name) < 0 ||
        asprintf(&b->tmp_path, "%s.tmp-%ld", b->final_path, (long)getpid()) < 0 ||
        asprintf(&b->work_dir, "%s/.build-%ld", index_dir, (long)getpid()) < 0) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    if (mkdir(b->work_dir, 0700) != 0) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot create %s", b->work_dir);
        goto done;
    }
    if ((rc = open_temp(&b->docs_f, &b->docs_path, b->work_dir, "docs")) ||
        (rc = open_temp(&b->docinfo_f, &b->docinfo_path, b->work_dir, "docinfo")) ||
        (rc = open_temp(&b->storeidx_f, &b->storeidx_path, b->work_dir, "storeidx")) ||
        (rc = open_temp(&b->dochash_f, &b->dochash_path, b->work_dir, "dochash")) ||
        (rc = open_temp(&b->simhash_f, &b->simhash_path, b->work_dir, "simhash")))
        goto done;
    if (!(b->fingerprint = XXH3_createState())) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = kz_fwriter_open(&b->fw, b->tmp_path)) || (rc = kz_fwriter_begin(b->fw, KZ_SEC_STORE)))
        goto done;

    b->workers = calloc(b->n_workers, sizeof *b->workers);
    if (!b->workers) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    for (unsigned i = 0; i < b->n_workers; i++) {
        worker *w = &b->workers[i];
        w->b = b;
        if ((rc = kz_analyzer_new(&w->an, b->language)))
            goto done;
        w->zc = ZSTD_createCCtx();
        if (!w->zc) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
            goto done;
        }
    }
    for (unsigned i = 0; i < b->n_workers; i++) {
        if (pthread_create(&b->workers[i].thread, NULL, worker_main, &b->workers[i]) != 0) {
            rc = kz_error_set(KZ_ENOMEM, "cannot start a worker thread");
            goto done;
        }
        b->workers[i].started = 1;
    }
done:
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", kz_last_error());
        kz_builder_free(b);
        return kz_error_set(rc, "%s", msg);
    }
    *out = b;
    return KZ_OK;
}

/* ---------------------------------------------------------------- merge */

/* A varint from f: 1, or 0 at a clean end of file, or -1. */
static int read_varint(FILE *f, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift <= 63; shift += 7) {
        int c = getc(f);
        if (c == EOF)
            return shift == 0 && !ferror(f) ? 0 : -1;
        v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return -1;
}

/* Front-codes a part's term list (see kz_merge_part) into the dictionary. */
static int add_term_list(kz_dict_writer *dw, FILE *f, const char *path)
{
    if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0)
        return kz_error_errno(KZ_EIO, errno, "cannot read back %s", path);
    uint8_t term[KZ_TERM_MAX_BYTES];
    uint64_t len, df, blob_len;
    int more;
    while ((more = read_varint(f, &len)) == 1) {
        if (len == 0 || len >= sizeof term || fread(term, 1, (size_t)len, f) != len ||
            read_varint(f, &df) != 1 || read_varint(f, &blob_len) != 1 || df > UINT32_MAX)
            return kz_error_set(KZ_EIO, "%s: term list damaged", path);
        int rc = kz_dict_add(dw, term, (size_t)len, (uint32_t)df, blob_len);
        if (rc)
            return rc;
    }
    return more == 0 ? KZ_OK : kz_error_set(KZ_EIO, "%s: term list damaged", path);
}

static int cmp_bufs(const void *x, const void *y)
{
    const kz_buf *a = x, *b = y;
    return kz_bytes_cmp(a->data, a->len, b->data, b->len);
}

static void *merge_thread(void *arg)
{
    kz_merge(arg);
    return NULL;
}

static int copy_file_into(kz_builder *b, FILE *f, const char *path)
{
    if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0)
        return kz_error_errno(KZ_EIO, errno, "cannot read back %s", path);
    static _Thread_local uint8_t buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        int rc = kz_fwriter_write(b->fw, buf, n);
        if (rc)
            return rc;
    }
    if (ferror(f))
        return kz_error_errno(KZ_EIO, errno, "cannot read back %s", path);
    return KZ_OK;
}

/* ---------------------------------------------------------------- commit */

static int stop_workers(kz_builder *b)
{
    pthread_mutex_lock(&b->mu);
    b->closing = 1;
    pthread_cond_broadcast(&b->cv_work);
    pthread_mutex_unlock(&b->mu);
    for (unsigned i = 0; i < b->n_workers; i++) {
        if (b->workers[i].started) {
            pthread_join(b->workers[i].thread, NULL);
            b->workers[i].started = 0;
        }
    }
    return builder_failure(b);
}

static int by_id_hash(const void *x, const void *y, void *ctx)
{
    const uint64_t *hash = ctx;
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    if (hash[a] != hash[b])
        return hash[a] < hash[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* The IDS section: the docids sorted by their ids' hash, then docid (4
 * bytes a document while it is written). */
static int write_ids(kz_builder *b)
{
    uint32_t *order = malloc((b->n_docs ? b->n_docs : 1) * sizeof *order);
    if (!order)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    for (uint64_t d = 0; d < b->n_docs; d++)
        order[d] = (uint32_t)d;
    qsort_r(order, b->n_docs, sizeof *order, by_id_hash, b->id_hash_of);
    uint8_t out[256 * KZ_IDS_SIZE];
    int rc = kz_fwriter_begin(b->fw, KZ_SEC_IDS);
    for (uint64_t i = 0; i < b->n_docs && rc == KZ_OK;) {
        size_t n = 0;
        for (; n < 256 && i < b->n_docs; n++, i++) {
            kz_store_u64(out + n * KZ_IDS_SIZE + KZ_IDS_HASH, b->id_hash_of[order[i]]);
            kz_store_u32(out + n * KZ_IDS_SIZE + KZ_IDS_DOCID, order[i]);
        }
        rc = kz_fwriter_write(b->fw, out, n * KZ_IDS_SIZE);
    }
    free(order);
    return rc ? rc : kz_fwriter_end(b->fw);
}

static int write_meta(kz_builder *b, uint64_t n_terms)
{
    uint8_t m[KZ_META_SIZE] = { 0 };
    kz_store_u32(m + KZ_META_ANALYZER_VERSION, KZ_ANALYZER_VERSION);
    kz_store_u64(m + KZ_META_DOCS, b->n_docs);
    kz_store_u64(m + KZ_META_TERMS, n_terms);
    kz_store_u64(m + KZ_META_TOKENS, b->tokens);
    kz_store_u64(m + KZ_META_TEXT_BYTES, b->text_bytes);
    kz_store_u64(m + KZ_META_STORE_BLOCKS, b->store_blocks);
    kz_store_u32(m + KZ_META_POSTING_BLOCK, KZ_POSTING_BLOCK);
    kz_store_f64(m + KZ_META_BOUND_K1, KZ_BM25_K1);
    kz_store_f64(m + KZ_META_BOUND_B, KZ_BM25_B);
    memcpy(m + KZ_META_LANGUAGE, b->language, strlen(b->language));
    int rc;
    if ((rc = kz_fwriter_begin(b->fw, KZ_SEC_META)) || (rc = kz_fwriter_write(b->fw, m, sizeof m)))
        return rc;
    return kz_fwriter_end(b->fw);
}

int kz_builder_commit(kz_builder *b, kz_build_stats *stats)
{
    int rc;
    FILE *terms_f = NULL;
    char *terms_path = NULL;
    char *upper_paths[2] = { NULL, NULL };
    kz_dict_writer dw;
    memset(&dw, 0, sizeof dw);
    kz_merge_part lower, upper;
    memset(&lower, 0, sizeof lower);
    memset(&upper, 0, sizeof upper);
    uint64_t n_terms = 0, file_size = 0;
    if (b->finished)
        return kz_error_set(KZ_EINVAL, "builder already committed");
    b->finished = 1;
    if ((rc = submit_batch(b, 1)) || (rc = stop_workers(b)))
        goto done;
    pthread_mutex_lock(&b->mu);
    rc = commit_ready(b);
    int pending = b->done != NULL;
    pthread_mutex_unlock(&b->mu);
    if (rc)
        goto done;
    if (pending) {
        rc = kz_error_set(KZ_EIO, "internal error: a batch was never committed");
        goto done;
    }
    if (b->n_docs == 0 && b->opts.mode == KZ_BUILD_REPLACE && b->index_docs > 0 &&
        !(b->opts.flags & KZ_BUILD_EMPTY_OK)) {
        rc = kz_error_set(KZ_EINVAL, "the build found no documents, and would replace an index of %llu: the index "
                          "is as it was",
                          (unsigned long long)b->index_docs);
        goto done;
    }
    if (b->n_docs == 0 && b->opts.mode == KZ_BUILD_ADD && !b->merging) {
        b->stats.seconds = kz_now() - b->started;
        goto done; /* nothing to add: no new generation */
    }
    /* Every document was deleted: the segments go, unless they are all the
     * index has (an index keeps a segment: then an empty one is written). */
    if (b->n_docs == 0 && b->merging && b->merge_count < b->index_segments) {
        kz_change_record record = { NULL, 0, b->field_types, b->n_field_types };
        rc = kz_index_commit_range(b->dir, NULL, b->merge_first, b->merge_count, 0, &record, NULL,
                                   &b->stats.replaced);
        goto done;
    }
    report_progress(b, "merging", 1);
    if ((rc = kz_fwriter_end(b->fw)))
        goto done;
    if ((rc = kz_fwriter_begin(b->fw, KZ_SEC_STOREIDX)) ||
        (rc = copy_file_into(b, b->storeidx_f, b->storeidx_path)) || (rc = kz_fwriter_end(b->fw)) ||
        (rc = kz_fwriter_begin(b->fw, KZ_SEC_DOCS)) ||
        (rc = copy_file_into(b, b->docs_f, b->docs_path)) || (rc = kz_fwriter_end(b->fw)) ||
        (rc = kz_fwriter_begin(b->fw, KZ_SEC_DOCINFO)) ||
        (rc = copy_file_into(b, b->docinfo_f, b->docinfo_path)) || (rc = kz_fwriter_end(b->fw)) ||
        (rc = kz_fwriter_begin(b->fw, KZ_SEC_DOCHASH)) ||
        (rc = copy_file_into(b, b->dochash_f, b->dochash_path)) || (rc = kz_fwriter_end(b->fw)) ||
        (rc = kz_fwriter_begin(b->fw, KZ_SEC_SIMHASH)) ||
        (rc = copy_file_into(b, b->simhash_f, b->simhash_path)) || (rc = kz_fwriter_end(b->fw)) ||
        (rc = write_ids(b)))
        goto done;
    if ((rc = open_temp(&terms_f, &terms_path, b->work_dir, "terms")))
        goto done;
    /* Two threads merge the dictionary's halves, split at the median of the
     * runs' middle terms; the upper half goes to files of its own. */
    lower.runs = b->runs;
    lower.n_runs = b->n_runs;
    /* Each half reads every run: their read-ahead takes at most an eighth
     * of the budget, between 16 KiB and 256 KiB a run. */
    lower.read_size = b->n_runs ? (size_t)(b->budget / 8 / (2 * b->n_runs)) : 0;
    lower.read_size = KZ_MAX((size_t)16 << 10, KZ_MIN(lower.read_size, (size_t)256 << 10));
    /* A term's coded positions past a 32nd of the budget go to a file. */
    lower.spill_dir = b->work_dir;
    lower.spill_at = KZ_MAX(b->budget / 32, (uint64_t)4 << 10);
    lower.doc_lengths = b->doc_lengths;
    lower.n_docs = b->n_docs;
    lower.avgdl = b->n_docs ? (double)b->tokens / (double)b->n_docs : 1.0;
    lower.fw = b->fw;
    lower.terms_f = terms_f;
    lower.terms_path = terms_path;
    upper = lower;
    upper.terms_f = NULL; /* its own files, opened below */
    upper.terms_path = NULL;
    int split = b->n_workers > 1 && b->n_runs > 0;
    if (split) {
        qsort(b->run_middles, b->n_runs, sizeof *b->run_middles, cmp_bufs);
        const kz_buf *pivot = &b->run_middles[b->n_runs / 2];
        lower.hi = upper.lo = (const char *)pivot->data;
        lower.hi_len = upper.lo_len = pivot->len;
        upper.fw = NULL;
        if ((rc = open_temp(&upper.postings_f, &upper_paths[0], b->work_dir, "postings-upper")) ||
            (rc = open_temp(&upper.terms_f, &upper_paths[1], b->work_dir, "terms-upper")))
            goto done;
        upper.postings_path = upper_paths[0];
        upper.terms_path = upper_paths[1];
    }
    if ((rc = kz_fwriter_begin(b->fw, KZ_SEC_POSTINGS)))
        goto done;
    pthread_t upper_thread;
    int upper_started = split && pthread_create(&upper_thread, NULL, merge_thread, &upper) == 0;
    if (split && !upper_started)
        kz_merge(&upper); /* no thread to be had: one after the other */
    kz_merge(&lower);
    if (upper_started)
        pthread_join(upper_thread, NULL);
    if (lower.rc || (split && upper.rc)) {
        rc = lower.rc ? kz_error_set(lower.rc, "%s", lower.message) : kz_error_set(upper.rc, "%s", upper.message);
        goto done;
    }
    n_terms = lower.n_terms + (split ? upper.n_terms : 0);
    if (split && (rc = copy_file_into(b, upper.postings_f, upper.postings_path)))
        goto done;
    if ((rc = kz_fwriter_end(b->fw)))
        goto done;
    report_progress(b, "writing", 1);
    /* The dictionary, front-coded from both parts' lists in order. */
    dw.fw = b->fw;
    if ((rc = kz_fwriter_begin(b->fw, KZ_SEC_TERMSTR)) || (rc = add_term_list(&dw, terms_f, terms_path)) ||
        (split && (rc = add_term_list(&dw, upper.terms_f, upper.terms_path))) ||
        (rc = kz_fwriter_end(b->fw)) || (rc = kz_dict_write_index(&dw)) ||
        (rc = write_meta(b, n_terms)) || (rc = kz_fwriter_begin(b->fw, KZ_SEC_STOREDICT)) ||
        (rc = kz_fwriter_write(b->fw, b->dict.data, b->dict.len)) || (rc = kz_fwriter_end(b->fw)) ||
        (rc = kz_fwriter_finish(b->fw, &file_size)))
        goto done;
    kz_fwriter_abort(b->fw); /* frees it; the file is complete */
    b->fw = NULL;

    /* Check the new index before it replaces the old one. */
    kz_segment *sg;
    if ((rc = kz_segment_open(&sg, b->tmp_path)))
        goto done;
    rc = kz_segment_verify_sums(sg);
    kz_segment_free(sg);
    if (rc)
        goto done;
    if (rename(b->tmp_path, b->final_path) != 0) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot rename %s to %s", b->tmp_path, b->final_path);
        goto done;
    }
    if ((rc = kz_fsync_dir(b->dir)))
        goto done;
    /* The new generation of the manifest makes the segment part of the
     * index (writer.c). */
    kz_change_record record = { (const char *const *)b->sources, b->n_sources, b->field_types,
                                b->n_field_types };
    if (b->merging)
        rc = kz_index_commit_range(b->dir, b->segment_name, b->merge_first, b->merge_count, 0, &record, NULL,
                                   &b->stats.replaced);
    else
        rc = kz_index_commit_segment(b->dir, b->segment_name, b->opts.mode == KZ_BUILD_REPLACE, &record,
                                     b->also_delete, &b->stats.replaced);
    if (rc)
        goto done;
    {
        kz_manifest after;
        int exists;
        if (kz_manifest_current(&after, b->dir, &exists) == KZ_OK)
            b->stats.segments = after.n_segments;
        kz_manifest_free(&after);
    }

    b->stats.docs = b->n_docs;
    b->stats.terms = n_terms;
    b->stats.tokens = b->tokens;
    b->stats.text_bytes = b->text_bytes;
    b->stats.index_bytes = file_size;
    b->stats.runs = b->n_runs;
    b->stats.peak_rss = kz_peak_rss();
    b->stats.seconds = kz_now() - b->started;
done:
    kz_dict_writer_free(&dw);
    for (int i = 0; i < 2; i++) {
        FILE *f = i == 0 ? upper.postings_f : upper.terms_f;
        if (f)
            fclose(f);
        if (upper_paths[i])
            unlink(upper_paths[i]);
        free(upper_paths[i]);
    }
    if (terms_f)
        fclose(terms_f);
    if (terms_path)
        unlink(terms_path);
    free(terms_path);
    if (stats)
        *stats = b->stats;
    return rc;
}

void kz_builder_free(kz_builder *b)
{
    if (!b)
        return;
    if (b->mu_ready && b->workers) {
        pthread_mutex_lock(&b->mu);
        b->closing = 1;
        if (!b->failed)
            b->failed = KZ_EIO; /* stop workers without flushing */
        pthread_cond_broadcast(&b->cv_work);
        pthread_cond_broadcast(&b->cv_space);
        pthread_mutex_unlock(&b->mu);
        for (unsigned i = 0; i < b->n_workers; i++)
            if (b->workers[i].started)
                pthread_join(b->workers[i].thread, NULL);
    }
    for (unsigned i = 0; b->workers && i < b->n_workers; i++) {
        worker *w = &b->workers[i];
        for (size_t t = 0; t < w->n_accs; t++)
            free(w->accs[t].data);
        free(w->accs);
        free(w->touched);
        kz_tokvec_free(&w->tv);
        kz_tokvec_free(&w->fields);
        kz_tokvec_free(&w->words);
        kz_buf_free(&w->marks);
        free(w->term_hashes);
        free(w->doc_hashes);
        kz_analyzer_free(w->an);
        ZSTD_freeCCtx(w->zc);
        kz_buf_free(&w->raw);
    }
    free(b->workers);
    kz_analyzer_free(b->check_an);
    kz_tokvec_free(&b->check_tv);
    batch_free(b->cur);
    for (batch *bt = b->held, *next; bt; bt = next) {
        next = bt->next;
        batch_free(bt);
    }
    ZSTD_freeCDict(b->cdict);
    kz_buf_free(&b->dict);
    for (batch *bt = b->q_head, *next; bt; bt = next) {
        next = bt->next;
        batch_free(bt);
    }
    for (batch *bt = b->done, *next; bt; bt = next) {
        next = bt->next;
        batch_free(bt);
    }
    kz_fwriter_abort(b->fw);
    FILE *files[5] = { b->docs_f, b->docinfo_f, b->storeidx_f, b->dochash_f, b->simhash_f };
    char *paths[5] = { b->docs_path, b->docinfo_path, b->storeidx_path, b->dochash_path, b->simhash_path };
    for (int i = 0; i < 5; i++) {
        if (files[i])
            fclose(files[i]);
        if (paths[i])
            unlink(paths[i]);
        free(paths[i]);
    }
    for (size_t i = 0; i < b->n_runs; i++) {
        unlink(b->runs[i]);
        free(b->runs[i]);
        kz_buf_free(&b->run_middles[i]);
    }
    free(b->runs);
    free(b->run_middles);
    if (b->work_dir) {
        rmdir(b->work_dir);
        free(b->work_dir);
    }
    if (b->tmp_path) {
        unlink(b->tmp_path); /* a no-op after a successful rename */
        free(b->tmp_path);
    }
    free(b->final_path);
    free(b->dir);
    for (size_t i = 0; i < b->n_sources; i++)
        free(b->sources[i]);
    free(b->sources);
    kz_field_types_free(b->field_types, b->n_field_types);
    free(b->id_hashes);
    free(b->id_hash_of);
    XXH3_freeState(b->fingerprint);
    free(b->doc_lengths);
    kz_buf_free(&b->scratch);
    if (b->lock_fd >= 0)
        close(b->lock_fd); /* releases the flock */
    if (b->mu_ready) {
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->cv_work);
        pthread_cond_destroy(&b->cv_space);
    }
    free(b);
}

void kz_builder_set_filter(kz_builder *b, kz_doc_filter_fn fn, void *ctx)
{
    b->filter = fn;
    b->filter_ctx = ctx;
}

void kz_builder_also_delete(kz_builder *b, kz_delete_list *list) { b->also_delete = list; }

uint64_t kz_builder_problem_count(const kz_builder *b, kz_problem kind)
{
    return (unsigned)kind < KZ_PROBLEM_COUNT ? b->stats.problems[kind] : 0;
}

void kz_builder_merge_range(kz_builder *b, size_t first, size_t count)
{
    b->merging = 1;
    b->merge_first = first;
    b->merge_count = count;
}

int kz_builder_add_source(kz_builder *b, const char *path)
{
    int rc = builder_failure(b);
    if (rc)
        return rc;
    if (b->finished)
        return kz_error_set(KZ_EINVAL, "builder already committed");
    /* Recorded in the manifest as an absolute path, so that an update
     * finds it from anywhere. */
    char *abs = strcmp(path, "-") == 0 ? strdup("-") : realpath(path, NULL);
    if (!abs && (errno == ENOMEM || strcmp(path, "-") == 0))
        return kz_error_errno(KZ_ENOMEM, errno, "cannot record the source %s", path);
    if (abs) {
        char **p = realloc(b->sources, (b->n_sources + 1) * sizeof *p);
        if (!p) {
            free(abs);
            return kz_error_set(KZ_ENOMEM, "out of memory");
        }
        b->sources = p;
        b->sources[b->n_sources++] = abs;
    }
    return kz_source_add(b, path);
}
