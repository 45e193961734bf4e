/*
 * segment.c: an open segment, one index file: its documents, term
 * dictionary and postings, by the segment's own docids and ordinals.
 * index.c puts segments together into an index.
 *
 * Every accessor verifies the byte range it is about to read (file.c keeps
 * the verdict per 8 KiB chunk), then bounds-checks what it decodes, so a
 * damaged file gives KZ_ECORRUPT rather than a crash or a wrong answer.
 */
#include "kzint.h"

#include <pthread.h>
#include <stdatomic.h>
#include "format.h"

#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_createDDict_byReference */
#include <zstd.h>

struct kz_segment {
    kz_file *f;
    char language[33];
    uint32_t analyzer_version;
    uint64_t docs, terms, tokens, text_bytes, store_blocks;
    double avgdl;
    double bound_k1, bound_b;
    uint32_t term_blocks; /* entries of the terms index */
    /* The store's zstd dictionary, made on the first read of the store
     * (a query without snippets never needs it), by reference to the
     * verified STOREDICT bytes of the mapping; NULL until then or when the
     * store has no dictionary. A decompression context kept for the next
     * block read (NULL while a reader holds it). Both under store_lock. */
    pthread_mutex_t store_lock;
    ZSTD_DDict *store_dict;
    int store_dict_made;
    ZSTD_DCtx *store_dctx;
    const uint8_t *sec[KZ_SEC_MAX];
    uint64_t len[KZ_SEC_MAX];
    /* Every dl, 4 bytes a document, built by kz_segment_warm(): scoring reads
     * one dl per candidate, and 28-byte DOCS records cost a cache line
     * each. NULL until then. */
    _Atomic(uint32_t *) lengths;
    /* Position starts of frequent terms (kz_segment_position_starts). */
    pthread_mutex_t starts_lock;
    struct starts_entry {
        uint32_t ordinal;
        uint32_t *starts;
    } *starts;
    size_t n_starts;
    uint64_t starts_bytes;
    /* By term: its list's docids were checked against the last docid
     * (kz_plist_open reads the last container whole for that, up to
     * 8 KiB, so it is done on a term's first use only). */
    _Atomic uint8_t *docids_checked;
    /* The heads of the blocks the dictionary's binary search compares
     * with, by the step's node in the implicit tree (1 the root, 2n and
     * 2n+1 its children), for its first head_levels steps (every step but
     * in the largest dictionaries). Every search takes the same first
     * steps, so each head is read (and verified) once. */
    struct head_entry {
        /* (offset in TERMSTR + 1) << 16 | length; 0 until read. Stored
         * last, with release: key is set when it is. */
        _Atomic uint64_t at;
        /* The head's first 8 bytes, big-endian, zero-padded: most steps
         * compare these alone, without reading the head. */
        _Atomic uint64_t key;
    } *head_cache;
    unsigned head_levels;
    /* Sort key columns (kz_segment_sort_keys), by field and kind; under
     * starts_lock. */
    struct key_column {
        char field[KZ_FIELD_NAME_MAX + 1];
        char kind;
        uint64_t *keys;
    } *dates;
    size_t n_dates;
};

/* At most 2^16 cached heads (1 MiB): dictionaries of up to 2^20 terms
 * are cached whole. */
#define HEAD_CACHE_MAX_LEVELS 16

static int corrupt(const char *what)
{
    return kz_error_set(KZ_ECORRUPT, "index is corrupt: %s (run 'kzsearch check')", what);
}

int kz_segment_open(kz_segment **out, const char *path)
{
    int rc;
    *out = NULL;
    kz_segment *sg = calloc(1, sizeof *sg);
    if (!sg)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    pthread_mutex_init(&sg->starts_lock, NULL);
    pthread_mutex_init(&sg->store_lock, NULL);
    if ((rc = kz_file_open(&sg->f, path)))
        goto done;
    for (uint32_t id = 1; id < KZ_SEC_MAX; id++)
        sg->sec[id] = kz_file_section(sg->f, id, &sg->len[id]);
    if (sg->len[KZ_SEC_META] != KZ_META_SIZE) {
        rc = corrupt("META section has the wrong size");
        goto done;
    }
    if ((rc = kz_file_verify(sg->f, KZ_SEC_META, 0, KZ_META_SIZE)))
        goto done;
    const uint8_t *m = sg->sec[KZ_SEC_META];
    sg->analyzer_version = kz_load_u32(m + KZ_META_ANALYZER_VERSION);
    sg->docs = kz_load_u64(m + KZ_META_DOCS);
    sg->terms = kz_load_u64(m + KZ_META_TERMS);
    sg->tokens = kz_load_u64(m + KZ_META_TOKENS);
    sg->text_bytes = kz_load_u64(m + KZ_META_TEXT_BYTES);
    sg->store_blocks = kz_load_u64(m + KZ_META_STORE_BLOCKS);
    sg->bound_k1 = kz_load_f64(m + KZ_META_BOUND_K1);
    sg->bound_b = kz_load_f64(m + KZ_META_BOUND_B);
    memcpy(sg->language, m + KZ_META_LANGUAGE, 32);
    sg->language[32] = 0;
    if (sg->analyzer_version != KZ_ANALYZER_VERSION) {
        rc = kz_error_set(KZ_EVERSION, "%s: analyzer version %u, this kzsearch analyses with version %u: rebuild the index",
                          path, sg->analyzer_version, KZ_ANALYZER_VERSION);
        goto done;
    }
    if (kz_load_u32(m + KZ_META_POSTING_BLOCK) != KZ_POSTING_BLOCK || sg->docs > UINT32_MAX ||
        sg->terms > UINT32_MAX || sg->len[KZ_SEC_DOCS] != sg->docs * KZ_DOC_SIZE ||
        sg->len[KZ_SEC_TERMS] % KZ_TIDX_SIZE != 0 ||
        sg->len[KZ_SEC_TERMS] / KZ_TIDX_SIZE < (sg->terms + KZ_TERMS_PER_BLOCK - 1) / KZ_TERMS_PER_BLOCK ||
        sg->len[KZ_SEC_TERMS] / KZ_TIDX_SIZE > sg->terms ||
        sg->len[KZ_SEC_STOREIDX] != sg->store_blocks * KZ_STOREIDX_SIZE ||
        sg->len[KZ_SEC_IDS] != sg->docs * KZ_IDS_SIZE || sg->len[KZ_SEC_DOCHASH] != sg->docs * KZ_DOCHASH_SIZE ||
        sg->len[KZ_SEC_SIMHASH] != sg->docs * KZ_SIMHASH_SIZE ||
        sg->language[0] == 0) {
        rc = corrupt("section sizes disagree with the META counts");
        goto done;
    }
    /* The name every query is analysed with: NUL-padded, and one the
     * analyzer knows, or no search could run. */
    size_t name_len = strlen(sg->language);
    for (size_t i = name_len; i < 32; i++) {
        if (m[KZ_META_LANGUAGE + i] != 0) {
            rc = corrupt("the language name in META is not NUL-padded");
            goto done;
        }
    }
    if (!kz_analyzer_language_known(sg->language)) {
        int printable = 1;
        for (size_t i = 0; i < name_len; i++)
            printable &= sg->language[i] > 0x20 && sg->language[i] < 0x7f;
        rc = kz_error_set(KZ_ECORRUPT, "index %s is corrupt: META names the language \"%s\", which no analyzer knows",
                          path, printable ? sg->language : "(unprintable bytes)");
        goto done;
    }
    sg->avgdl = sg->docs ? (double)sg->tokens / (double)sg->docs : 0.0;
    sg->term_blocks = (uint32_t)(sg->len[KZ_SEC_TERMS] / KZ_TIDX_SIZE);
    sg->docids_checked = calloc(sg->terms ? sg->terms : 1, 1);
    while (sg->head_levels < HEAD_CACHE_MAX_LEVELS && ((uint64_t)1 << sg->head_levels) <= sg->term_blocks)
        sg->head_levels++;
    sg->head_cache = calloc((size_t)1 << sg->head_levels, sizeof *sg->head_cache);
    if (!sg->docids_checked || !sg->head_cache) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory opening %s", path);
        goto done;
    }
done:
    if (rc) {
        kz_segment_free(sg);
        return rc;
    }
    *out = sg;
    return KZ_OK;
}

void kz_segment_free(kz_segment *sg)
{
    if (!sg)
        return;
    ZSTD_freeDCtx(sg->store_dctx);
    ZSTD_freeDDict(sg->store_dict);
    pthread_mutex_destroy(&sg->store_lock);
    kz_file_close(sg->f);
    free(atomic_load(&sg->lengths));
    free((void *)sg->docids_checked);
    free((void *)sg->head_cache);
    for (size_t i = 0; i < sg->n_dates; i++)
        free(sg->dates[i].keys);
    free(sg->dates);
    for (size_t i = 0; i < sg->n_starts; i++)
        free(sg->starts[i].starts);
    free(sg->starts);
    pthread_mutex_destroy(&sg->starts_lock);
    free(sg);
}

const uint32_t *kz_segment_position_starts(kz_segment *sg, const kz_plist *pl, uint32_t ordinal)
{
    const uint32_t *found = NULL;
    pthread_mutex_lock(&sg->starts_lock);
    for (size_t i = 0; i < sg->n_starts && !found; i++)
        if (sg->starts[i].ordinal == ordinal)
            found = sg->starts[i].starts;
    pthread_mutex_unlock(&sg->starts_lock);
    if (found || pl->df < 2)
        return found;
    uint64_t bytes = (uint64_t)pl->df * sizeof(uint32_t);
    if (sg->starts_bytes + bytes > KZ_POS_STARTS_BUDGET)
        return NULL;
    /* Computed outside the lock; a thread that loses the race frees its. */
    uint32_t *starts = malloc(bytes);
    if (!starts || kz_plist_position_starts(pl, starts) != KZ_OK) {
        free(starts);
        return NULL;
    }
    pthread_mutex_lock(&sg->starts_lock);
    for (size_t i = 0; i < sg->n_starts && !found; i++)
        if (sg->starts[i].ordinal == ordinal)
            found = sg->starts[i].starts;
    if (!found && sg->starts_bytes + bytes <= KZ_POS_STARTS_BUDGET) {
        struct starts_entry *e = realloc(sg->starts, (sg->n_starts + 1) * sizeof *e);
        if (e) {
            sg->starts = e;
            sg->starts[sg->n_starts++] = (struct starts_entry){ ordinal, starts };
            sg->starts_bytes += bytes;
            found = starts;
            starts = NULL;
        }
    }
    pthread_mutex_unlock(&sg->starts_lock);
    free(starts);
    return found;
}

kz_file *kz_segment_file(const kz_segment *sg) { return sg->f; }

void kz_segment_release(kz_segment *sg) { kz_file_release(sg->f); }

int kz_segment_verify_sums(kz_segment *sg)
{
    unsigned faults = 0;
    int rc = kz_file_verify_all(sg->f, NULL, NULL, &faults);
    return rc ? kz_error_set(KZ_ECORRUPT, "index is corrupt: %u checksum mismatch%s", faults,
                             faults == 1 ? "" : "es")
              : KZ_OK;
}

int kz_segment_warm(kz_segment *sg)
{
    static const uint32_t query_sections[] = { KZ_SEC_DOCS, KZ_SEC_TERMS, KZ_SEC_TERMSTR, KZ_SEC_POSTINGS,
                                               KZ_SEC_SIMHASH };
    for (size_t i = 0; i < sizeof query_sections / sizeof query_sections[0]; i++) {
        uint64_t len;
        kz_file_section(sg->f, query_sections[i], &len);
        int rc = kz_file_verify(sg->f, query_sections[i], 0, len);
        if (rc)
            return rc;
    }
    if (atomic_load(&sg->lengths) == NULL && sg->docs) {
        uint32_t *lengths = malloc(sg->docs * sizeof *lengths);
        if (!lengths)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        for (uint64_t d = 0; d < sg->docs; d++)
            lengths[d] = kz_load_u32(sg->sec[KZ_SEC_DOCS] + d * KZ_DOC_SIZE + KZ_DOC_LENGTH);
        uint32_t *expected = NULL;
        if (!atomic_compare_exchange_strong(&sg->lengths, &expected, lengths))
            free(lengths); /* another thread was first */
    }
    return KZ_OK;
}

void kz_segment_get_info(const kz_segment *sg, kz_index_info *out)
{
    memset(out, 0, sizeof *out);
    out->format_version = kz_file_version(sg->f);
    out->analyzer_version = sg->analyzer_version;
    out->language = sg->language;
    out->docs = sg->docs;
    out->terms = sg->terms;
    out->tokens = sg->tokens;
    out->avgdl = sg->avgdl;
    out->file_bytes = kz_file_size(sg->f);
    out->text_bytes = sg->text_bytes;
    out->created_unix = kz_file_created(sg->f);
}

unsigned kz_segment_section_count(const kz_segment *sg)
{
    KZ_UNUSED(sg);
    return KZ_SEC_MAX - 1;
}

void kz_segment_section(const kz_segment *sg, unsigned i, const char **name, uint64_t *bytes)
{
    uint32_t id = i + 1;
    *name = kz_section_name(id);
    *bytes = id < KZ_SEC_MAX ? sg->len[id] : 0;
}

/* ---------------------------------------------------------------- documents */

static int doc_record(kz_segment *sg, uint32_t docid, const uint8_t **rec)
{
    if (docid >= sg->docs)
        return kz_error_set(KZ_EINVAL, "document %u out of range (index has %llu)", docid,
                            (unsigned long long)sg->docs);
    int rc = kz_file_verify(sg->f, KZ_SEC_DOCS, (uint64_t)docid * KZ_DOC_SIZE, KZ_DOC_SIZE);
    if (rc)
        return rc;
    *rec = sg->sec[KZ_SEC_DOCS] + (uint64_t)docid * KZ_DOC_SIZE;
    return KZ_OK;
}

uint32_t kz_segment_doc_length(const kz_segment *sg, uint32_t docid)
{
    const uint32_t *lengths = atomic_load_explicit(&sg->lengths, memory_order_acquire);
    if (lengths)
        return lengths[docid];
    return kz_load_u32(sg->sec[KZ_SEC_DOCS] + (uint64_t)docid * KZ_DOC_SIZE + KZ_DOC_LENGTH);
}

const uint32_t *kz_segment_doc_lengths(const kz_segment *sg)
{
    return atomic_load_explicit(&sg->lengths, memory_order_acquire);
}

uint32_t kz_segment_doc_title_tokens(const kz_segment *sg, uint32_t docid)
{
    return kz_load_u32(sg->sec[KZ_SEC_DOCS] + (uint64_t)docid * KZ_DOC_SIZE + KZ_DOC_TITLE_TOKENS);
}

static int read_str(const uint8_t **p, const uint8_t *end, const char **s, size_t *len)
{
    uint64_t n;
    if (kz_varint_get(p, end, &n) || n > (uint64_t)(end - *p))
        return -1;
    *s = (const char *)*p;
    *len = (size_t)n;
    *p += n;
    return 0;
}

int kz_segment_doc(kz_segment *sg, kz_doc *out, uint32_t docid, kz_doc_field *meta, size_t max_meta)
{
    const uint8_t *rec = NULL;
    int rc = doc_record(sg, docid, &rec);
    if (rc)
        return rc;
    uint64_t off = kz_load_u64(rec + KZ_DOC_INFO_OFF);
    uint64_t end = sg->len[KZ_SEC_DOCINFO];
    if (docid + 1 < sg->docs) {
        const uint8_t *next;
        if ((rc = doc_record(sg, docid + 1, &next)))
            return rc;
        end = kz_load_u64(next + KZ_DOC_INFO_OFF);
    }
    if (off > end || end > sg->len[KZ_SEC_DOCINFO])
        return corrupt("document record points outside DOCINFO");
    if ((rc = kz_file_verify(sg->f, KZ_SEC_DOCINFO, off, end - off)))
        return rc;
    const uint8_t *p = sg->sec[KZ_SEC_DOCINFO] + off, *e = sg->sec[KZ_SEC_DOCINFO] + end;
    memset(out, 0, sizeof *out);
    uint64_t n_meta;
    if (read_str(&p, e, &out->id, &out->id_len) || read_str(&p, e, &out->title, &out->title_len) ||
        kz_varint_get(&p, e, &n_meta))
        return corrupt("document info truncated");
    out->n_meta = (size_t)n_meta;
    for (uint64_t i = 0; i < n_meta; i++) {
        kz_doc_field f;
        if (read_str(&p, e, &f.key, &f.key_len) || read_str(&p, e, &f.value, &f.value_len))
            return corrupt("document metadata truncated");
        if (meta && i < max_meta)
            meta[i] = f;
    }
    if (p != e)
        return corrupt("document info has trailing bytes");
    out->length = kz_load_u32(rec + KZ_DOC_LENGTH);
    out->title_tokens = kz_load_u32(rec + KZ_DOC_TITLE_TOKENS);
    out->text_bytes = kz_load_u32(rec + KZ_DOC_TEXT_LEN);
    if (out->title_tokens > out->length)
        return corrupt("document has more title tokens than tokens");
    return KZ_OK;
}

/* ---------------------------------------------------------------- ids */

int kz_segment_ids(kz_segment *sg, const uint8_t **records, uint64_t *n)
{
    int rc = kz_file_verify(sg->f, KZ_SEC_IDS, 0, sg->len[KZ_SEC_IDS]);
    if (rc)
        return rc;
    *records = sg->sec[KZ_SEC_IDS];
    *n = sg->docs;
    return KZ_OK;
}

/* The first record in [lo, n) whose hash is not below h. */
uint64_t kz_ids_lower_bound(const uint8_t *rec, uint64_t lo, uint64_t n, uint64_t h)
{
    /* Gallop from lo: the queries are sorted, so the next one is often
     * near the last. */
    uint64_t step = 1, hi = lo;
    while (hi < n && kz_load_u64(rec + KZ_IDS_HASH + KZ_IDS_SIZE * hi) < h) {
        lo = hi + 1;
        hi = step < n - hi ? hi + step : n;
        step *= 2;
    }
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (kz_load_u64(rec + KZ_IDS_HASH + KZ_IDS_SIZE * mid) < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int kz_segment_find_id(kz_segment *sg, const char *id, size_t len, uint32_t *docid)
{
    const uint8_t *rec;
    uint64_t n;
    int rc = kz_segment_ids(sg, &rec, &n);
    if (rc)
        return rc;
    uint64_t h = XXH3_64bits(id, len), lo = kz_ids_lower_bound(rec, 0, n, h);
    /* Hashes collide: compare the ids of every record of this hash. */
    for (; lo < n && kz_load_u64(rec + lo * KZ_IDS_SIZE + KZ_IDS_HASH) == h; lo++) {
        uint32_t d = kz_load_u32(rec + lo * KZ_IDS_SIZE + KZ_IDS_DOCID);
        if (d >= sg->docs)
            return corrupt("an IDS record names a document past the last");
        kz_doc doc;
        if ((rc = kz_segment_doc(sg, &doc, d, NULL, 0)))
            return rc;
        if (doc.id_len == len && memcmp(doc.id, id, len) == 0) {
            *docid = d;
            return 1;
        }
    }
    return 0;
}

/* Document docid's 8 bytes in the per-document section sec (DOCHASH,
 * SIMHASH), verified. */
static int doc_u64(kz_segment *sg, unsigned sec, uint32_t docid, uint64_t *out)
{
    if (docid >= sg->docs)
        return kz_error_set(KZ_EINVAL, "document %u out of range (index has %llu)", docid,
                            (unsigned long long)sg->docs);
    uint64_t off = (uint64_t)docid * 8;
    int rc = kz_file_verify(sg->f, sec, off, 8);
    if (rc == KZ_OK)
        *out = kz_load_u64(sg->sec[sec] + off);
    return rc;
}

int kz_segment_doc_fingerprint(kz_segment *sg, uint32_t docid, uint64_t *out)
{
    _Static_assert(KZ_DOCHASH_SIZE == 8, "a fingerprint is a u64");
    return doc_u64(sg, KZ_SEC_DOCHASH, docid, out);
}

int kz_segment_doc_simhash(kz_segment *sg, uint32_t docid, uint64_t *out)
{
    _Static_assert(KZ_SIMHASH_SIZE == 8, "a SimHash is a u64");
    return doc_u64(sg, KZ_SEC_SIMHASH, docid, out);
}

void kz_segment_doc_simhash_prefetch(const kz_segment *sg, uint32_t docid)
{
    uint64_t off = (uint64_t)docid * KZ_SIMHASH_SIZE;
    if (off < sg->len[KZ_SEC_SIMHASH])
        __builtin_prefetch(sg->sec[KZ_SEC_SIMHASH] + off);
}

void kz_fingerprint_field(void *st, const void *bytes, size_t len)
{
    uint8_t n[8];
    kz_store_u64(n, (uint64_t)len);
    XXH3_64bits_update(st, n, sizeof n);
    if (len)
        XXH3_64bits_update(st, bytes, len);
}

/* A decompression context for a store block, with the store's dictionary
 * (verified and made on first use) referenced: the segment's kept one if
 * no other reader holds it, else a new one. Given back with store_dctx_give. */
static int store_dctx_take(kz_segment *sg, ZSTD_DCtx **out)
{
    int rc = KZ_OK;
    *out = NULL;
    pthread_mutex_lock(&sg->store_lock);
    if (!sg->store_dict_made && sg->len[KZ_SEC_STOREDICT] > 0) {
        if ((rc = kz_file_verify(sg->f, KZ_SEC_STOREDICT, 0, sg->len[KZ_SEC_STOREDICT])) == KZ_OK) {
            /* By reference: the mapping outlives the dictionary, and the
             * verified bytes need no copy. */
            sg->store_dict = ZSTD_createDDict_byReference(sg->sec[KZ_SEC_STOREDICT],
                                                          (size_t)sg->len[KZ_SEC_STOREDICT]);
            if (!sg->store_dict)
                rc = corrupt("the document store's dictionary does not load");
        }
    }
    if (rc == KZ_OK) {
        sg->store_dict_made = 1;
        *out = sg->store_dctx;
        sg->store_dctx = NULL;
    }
    pthread_mutex_unlock(&sg->store_lock);
    if (rc)
        return rc;
    if (!*out && !(*out = ZSTD_createDCtx()))
        return kz_error_set(KZ_ENOMEM, "out of memory");
    /* A kept context may stop mid-frame (a prefix read): start afresh. */
    if (ZSTD_isError(ZSTD_DCtx_reset(*out, ZSTD_reset_session_only)) ||
        (sg->store_dict && ZSTD_isError(ZSTD_DCtx_refDDict(*out, sg->store_dict)))) {
        ZSTD_freeDCtx(*out);
        *out = NULL;
        return corrupt("the document store's dictionary does not load");
    }
    return KZ_OK;
}

static void store_dctx_give(kz_segment *sg, ZSTD_DCtx *dc)
{
    pthread_mutex_lock(&sg->store_lock);
    if (!sg->store_dctx) {
        sg->store_dctx = dc;
        dc = NULL;
    }
    pthread_mutex_unlock(&sg->store_lock);
    ZSTD_freeDCtx(dc);
}

/* A store block of up to this size is decompressed whole, in one call:
 * zstd then writes straight into the buffer. Its frame holds one zstd
 * block (of up to 128 KiB) or a few, each decoded whole anyway, so that
 * stopping at a document's end would save only zstd copying what it
 * decoded through its own window. */
#define ONE_SHOT_MAX (1u << 20)

/* Decompresses the frame src[0..clen) (verified here) of exactly rlen
 * bytes into *buf (grown to rlen + 1 bytes as needed, *cap its size). */
static int decompress_whole(kz_segment *sg, ZSTD_DCtx *dc, const uint8_t *src, uint32_t clen, uint32_t rlen,
                            uint8_t **buf, size_t *cap)
{
    int rc = kz_file_verify(sg->f, KZ_SEC_STORE, (uint64_t)(src - sg->sec[KZ_SEC_STORE]), clen);
    if (rc)
        return rc;
    /* One frame, the whole block, of the index's size. */
    if (ZSTD_findFrameCompressedSize(src, clen) != clen || ZSTD_getFrameContentSize(src, clen) != rlen)
        return corrupt("a document store block does not decompress to its size");
    if (*cap < (size_t)rlen + 1) {
        uint8_t *p = realloc(*buf, (size_t)rlen + 1);
        if (!p)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        *buf = p;
        *cap = (size_t)rlen + 1;
    }
    size_t n = ZSTD_decompressDCtx(dc, *buf, rlen, src, clen);
    if (ZSTD_isError(n) || n != rlen)
        return corrupt("a document store block does not decompress to its size");
    return KZ_OK;
}

/* Decompresses store block b into *buf (grown as needed, *cap its size,
 * a byte past the output always there for a NUL) as a stream: fed 64 KiB
 * of the compressed block at a time, each piece verified before it is
 * read, the buffer growing with what comes out, so that a damaged length
 * costs no more memory than the block's real content. With limit below
 * the block's size it stops after limit bytes; else the whole block must
 * come out, exactly rlen bytes, and its frame end with the block. *got is
 * what came out, *rlen the block's size. A block of up to ONE_SHOT_MAX
 * comes out whole whatever the limit (decompress_whole). */
static int decompress_block(kz_segment *sg, uint32_t block, size_t limit, uint8_t **buf, size_t *cap, size_t *got,
                            uint32_t *rlen)
{
    *got = 0;
    if (block >= sg->store_blocks)
        return corrupt("a store block that does not exist");
    int rc = kz_file_verify(sg->f, KZ_SEC_STOREIDX, (uint64_t)block * KZ_STOREIDX_SIZE, KZ_STOREIDX_SIZE);
    if (rc)
        return rc;
    const uint8_t *e = sg->sec[KZ_SEC_STOREIDX] + (uint64_t)block * KZ_STOREIDX_SIZE;
    uint64_t coff = kz_load_u64(e + KZ_STOREIDX_OFF);
    uint32_t clen = kz_load_u32(e + KZ_STOREIDX_CLEN);
    *rlen = kz_load_u32(e + KZ_STOREIDX_RLEN);
    if (coff > sg->len[KZ_SEC_STORE] || clen > sg->len[KZ_SEC_STORE] - coff)
        return corrupt("a store block lies outside the store");
    ZSTD_DCtx *dc;
    if ((rc = store_dctx_take(sg, &dc)))
        return rc;
    if (*rlen <= ONE_SHOT_MAX) {
        rc = decompress_whole(sg, dc, sg->sec[KZ_SEC_STORE] + coff, clen, *rlen, buf, cap);
        store_dctx_give(sg, dc);
        *got = rc == KZ_OK ? *rlen : 0;
        return rc;
    }
    int whole = limit >= *rlen;
    size_t want = whole ? *rlen : limit, pos = 0, z = 1;
    const size_t piece = 64u << 10;
    uint64_t fed = 0;
    ZSTD_inBuffer ib = { NULL, 0, 0 };
    while (whole ? z != 0 : pos < want) {
        if (ib.pos == ib.size) { /* the next piece of the compressed block */
            if (fed == clen) {
                rc = corrupt("a document store block ends early");
                break;
            }
            size_t n = (size_t)KZ_MIN((uint64_t)piece, clen - fed);
            if ((rc = kz_file_verify(sg->f, KZ_SEC_STORE, coff + fed, n)))
                break;
            ib = (ZSTD_inBuffer){ sg->sec[KZ_SEC_STORE] + coff + fed, n, 0 };
            /* The frame's own size must be the index's: a reader that stops
             * at its document's end would not see them differ. */
            unsigned long long fcs = fed == 0 ? ZSTD_getFrameContentSize(ib.src, n) : ZSTD_CONTENTSIZE_UNKNOWN;
            if (fcs == ZSTD_CONTENTSIZE_ERROR || (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != *rlen)) {
                rc = corrupt("a document store block does not decompress to its size");
                break;
            }
            fed += n;
        }
        size_t room = *cap > 0 ? *cap - 1 : 0;
        if (pos == room && pos < want) {
            size_t grown = KZ_MIN(KZ_MAX(KZ_MIN(want, (size_t)1 << 20), 2 * room), want) + 1;
            uint8_t *p = realloc(*buf, grown);
            if (!p) {
                rc = kz_error_set(KZ_ENOMEM, "out of memory");
                break;
            }
            *buf = p;
            *cap = grown;
            room = grown - 1;
        }
        size_t in_before = ib.pos;
        ZSTD_outBuffer ob = { *buf, KZ_MIN(room, want), pos };
        z = ZSTD_decompressStream(dc, &ob, &ib);
        /* An error; a frame that ends short of what its index says; or no
         * progress with input left, when the frame wants more than rlen. */
        if (ZSTD_isError(z) || (z == 0 && ob.pos < want) ||
            (z != 0 && ob.pos == pos && ib.pos == in_before && ib.pos < ib.size)) {
            rc = corrupt("a document store block does not decompress to its size");
            break;
        }
        pos = ob.pos;
    }
    store_dctx_give(sg, dc);
    if (rc == KZ_OK && whole && (fed != clen || ib.pos != ib.size))
        rc = corrupt("a document store block has bytes after its frame");
    if (rc == KZ_OK && *cap == 0) { /* an empty block: room for the NUL */
        uint8_t *p = realloc(*buf, 1);
        if (!p)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        *buf = p;
        *cap = 1;
    }
    *got = pos;
    return rc;
}

int kz_segment_store_block(kz_segment *sg, uint32_t block, uint8_t **buf, size_t *cap, uint32_t *rlen)
{
    size_t got;
    return decompress_block(sg, block, SIZE_MAX, buf, cap, &got, rlen);
}

/* Where docid's text lies: its store block, offset in it and length. */
static int text_place(kz_segment *sg, uint32_t docid, uint32_t *block, uint32_t *boff, uint64_t *tlen)
{
    const uint8_t *rec = NULL;
    int rc = doc_record(sg, docid, &rec);
    if (rc)
        return rc;
    *block = kz_load_u32(rec + KZ_DOC_BLOCK);
    *boff = kz_load_u32(rec + KZ_DOC_BLOCK_OFF);
    *tlen = kz_load_u32(rec + KZ_DOC_TEXT_LEN);
    return KZ_OK;
}

int kz_segment_doc_text_prefix(kz_segment *sg, char **out, size_t *len, uint32_t docid, size_t max_bytes)
{
    uint32_t block, boff;
    uint64_t tlen;
    *out = NULL;
    *len = 0;
    int rc = text_place(sg, docid, &block, &boff, &tlen);
    if (rc)
        return rc;
    if (tlen <= max_bytes)
        return kz_segment_doc_text(sg, out, len, docid);
    /* One byte past the cut tells whether it splits a character. */
    uint8_t *raw = NULL;
    size_t cap = 0, got;
    uint32_t rlen;
    if ((rc = decompress_block(sg, block, (size_t)boff + max_bytes + 1, &raw, &cap, &got, &rlen)) ||
        (got < (size_t)boff + max_bytes + 1 && (rc = corrupt("document text lies outside its store block")))) {
        free(raw);
        return rc;
    }
    size_t n = max_bytes;
    while (n > 0 && (raw[boff + n] & 0xC0) == 0x80)
        n--;
    if (boff > 0)
        memmove(raw, raw + boff, n);
    raw[n] = 0;
    *out = (char *)raw;
    *len = n;
    return KZ_OK;
}

/* The text at [boff, boff + tlen) of store block `block`, into *out
 * (malloc'd, NUL-terminated), and, when n_marks, the marks that follow it
 * into *marks. Only as far as they end is decompressed: the rest of the
 * block is other documents' (what is read is verified all the same). */
static int read_text(kz_segment *sg, uint32_t block, uint32_t boff, uint64_t tlen, uint64_t n_marks, char **out,
                     size_t *len, kz_text_marks *marks)
{
    uint8_t *raw = NULL;
    size_t cap = 0, got, used;
    uint32_t rlen;
    uint64_t want = (uint64_t)boff + tlen + 10 * n_marks; /* a varint is 10 bytes at most */
    int rc = decompress_block(sg, block, (size_t)KZ_MIN(want, (uint64_t)SIZE_MAX), &raw, &cap, &got, &rlen);
    if (rc)
        goto fail;
    if ((uint64_t)boff + tlen > rlen || (uint64_t)boff + tlen > got) {
        rc = corrupt("document text lies outside its store block");
        goto fail;
    }
    if (n_marks && (rc = kz_text_marks_parse(marks, raw + boff + tlen, got - boff - (size_t)tlen, n_marks, tlen,
                                             &used)))
        goto fail;
    if (boff > 0)
        memmove(raw, raw + boff, (size_t)tlen);
    raw[tlen] = 0;
    *out = (char *)raw;
    *len = (size_t)tlen;
    return KZ_OK;
fail:
    free(raw);
    return rc;
}

int kz_segment_doc_text(kz_segment *sg, char **out, size_t *len, uint32_t docid)
{
    uint32_t block, boff;
    uint64_t tlen;
    *out = NULL;
    int rc = text_place(sg, docid, &block, &boff, &tlen);
    return rc ? rc : read_text(sg, block, boff, tlen, 0, out, len, NULL);
}

int kz_text_marks_parse(kz_text_marks *m, const uint8_t *p, size_t avail, uint64_t n, uint64_t text_len,
                        size_t *used)
{
    memset(m, 0, sizeof *m);
    if (n == 0) {
        *used = 0;
        return KZ_OK;
    }
    if (n > avail || !(m->at = malloc(n * sizeof *m->at)))
        return n > avail ? corrupt("text marks lie outside their store block")
                         : kz_error_set(KZ_ENOMEM, "out of memory");
    const uint8_t *q = p, *end = p + avail;
    uint64_t at = 0;
    for (uint64_t k = 0; k < n; k++) {
        uint64_t delta;
        if (kz_varint_get(&q, end, &delta) || delta == 0 || delta >= text_len - at) {
            kz_text_marks_free(m);
            return corrupt("a document's text marks are not in its text, in order");
        }
        at += delta;
        m->at[k] = (uint32_t)at;
    }
    m->n = (size_t)n;
    *used = (size_t)(q - p);
    return KZ_OK;
}

void kz_text_marks_free(kz_text_marks *m)
{
    free(m->at);
    m->at = NULL;
    m->n = 0;
}

uint64_t kz_segment_doc_mark_count(const kz_segment *sg, uint32_t docid)
{
    if (kz_file_version(sg->f) < KZ_FORMAT_TEXT_MARKS || docid >= sg->docs)
        return 0;
    uint32_t dl = kz_segment_doc_length(sg, docid), title = kz_segment_doc_title_tokens(sg, docid);
    uint32_t text_tokens = dl > title ? dl - title : 0;
    return text_tokens ? (text_tokens - 1) / KZ_TEXT_MARK_EVERY : 0;
}

int kz_segment_doc_text_marked(kz_segment *sg, char **out, size_t *len, kz_text_marks *marks, uint32_t docid,
                               size_t max_bytes)
{
    uint32_t block, boff;
    uint64_t tlen;
    *out = NULL;
    *len = 0;
    memset(marks, 0, sizeof *marks);
    int rc = text_place(sg, docid, &block, &boff, &tlen);
    if (rc)
        return rc;
    uint64_t n = kz_segment_doc_mark_count(sg, docid);
    /* The marks follow the text: a text cut short is read without them,
     * as far as the cut. */
    if (n == 0 || tlen > max_bytes)
        return kz_segment_doc_text_prefix(sg, out, len, docid, max_bytes);
    return read_text(sg, block, boff, tlen, n, out, len, marks);
}

/* ---------------------------------------------------------------- terms */

/* ---------------------------------------------------------------- terms
 *
 * The dictionary is front-coded in blocks of at most 16 terms (TERMSTR),
 * with one TERMS entry per block: a lookup binary-searches the blocks by
 * their first term, then reads at most 16 terms of one block.
 */

typedef kz_term_cursor term_scan; /* a scan inside one block */

static int tidx(kz_segment *sg, uint32_t bi, uint32_t *first, uint32_t *str_off, uint64_t *blob_off)
{
    int rc = kz_file_verify(sg->f, KZ_SEC_TERMS, (uint64_t)bi * KZ_TIDX_SIZE, KZ_TIDX_SIZE);
    if (rc)
        return rc;
    const uint8_t *e = sg->sec[KZ_SEC_TERMS] + (uint64_t)bi * KZ_TIDX_SIZE;
    *first = kz_load_u32(e + KZ_TIDX_FIRST);
    *str_off = kz_load_u32(e + KZ_TIDX_STR_OFF);
    if (blob_off)
        *blob_off = kz_load_u64(e + KZ_TIDX_BLOB_OFF);
    return KZ_OK;
}

/* Starts reading block bi. */
static int scan_open(kz_segment *sg, uint32_t bi, term_scan *sc)
{
    uint32_t first, str_off, next_first = (uint32_t)sg->terms, next_str = 0;
    uint64_t str_end = sg->len[KZ_SEC_TERMSTR];
    int rc = tidx(sg, bi, &first, &str_off, &sc->blob_off);
    if (rc)
        return rc;
    if (bi + 1 < sg->term_blocks) {
        if ((rc = tidx(sg, bi + 1, &next_first, &next_str, NULL)))
            return rc;
        str_end = next_str;
    }
    if (first >= next_first || next_first - first > KZ_TERMS_PER_BLOCK || next_first > sg->terms ||
        (bi == 0 && first != 0) || str_off >= str_end || str_end > sg->len[KZ_SEC_TERMSTR])
        return corrupt("terms index entry out of order or out of range");
    if ((rc = kz_file_verify(sg->f, KZ_SEC_TERMSTR, str_off, str_end - str_off)))
        return rc;
    sc->p = sg->sec[KZ_SEC_TERMSTR] + str_off;
    sc->end = sg->sec[KZ_SEC_TERMSTR] + str_end;
    sc->next = first;
    sc->last = next_first;
    sc->block = bi;
    sc->ready = 0;
    sc->t.len = 0;
    return KZ_OK;
}

/* Reads the block's next term into sc->t: 1, or 0 past the block's end. */
static int scan_next(kz_segment *sg, term_scan *sc)
{
    if (sc->next >= sc->last)
        return 0;
    uint64_t prefix, suffix, df, blob_len;
    if (kz_varint_get(&sc->p, sc->end, &prefix) || kz_varint_get(&sc->p, sc->end, &suffix) ||
        prefix > sc->t.len || suffix > (uint64_t)(sc->end - sc->p) ||
        prefix + suffix == 0 || prefix + suffix >= KZ_TERM_MAX_BYTES)
        return corrupt("term string malformed");
    memcpy(sc->t.text + prefix, sc->p, (size_t)suffix);
    sc->p += suffix;
    sc->t.len = (size_t)(prefix + suffix);
    sc->t.text[sc->t.len] = 0;
    if (kz_varint_get(&sc->p, sc->end, &df) || kz_varint_get(&sc->p, sc->end, &blob_len) || df == 0 ||
        df > UINT32_MAX || sc->blob_off > sg->len[KZ_SEC_POSTINGS] ||
        blob_len > sg->len[KZ_SEC_POSTINGS] - sc->blob_off)
        return corrupt("term entry malformed");
    sc->t.ordinal = sc->next++;
    sc->t.df = (uint32_t)df;
    sc->t.cf = 0;
    sc->loc = (kz_term_loc){ sc->t.ordinal, sc->t.df, sc->blob_off, blob_len };
    sc->blob_off += blob_len;
    return 1;
}

/* The block holding ordinal. */
static int block_of(kz_segment *sg, uint32_t ordinal, uint32_t *bi)
{
    uint32_t lo = 0, hi = sg->term_blocks;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2, first, str_off;
        int rc = tidx(sg, mid, &first, &str_off, NULL);
        if (rc)
            return rc;
        if (first <= ordinal)
            lo = mid;
        else
            hi = mid;
    }
    *bi = lo;
    return KZ_OK;
}

/* Reads term ordinal (< terms) into sc->t. */
static int term_entry(kz_segment *sg, uint32_t ordinal, term_scan *sc)
{
    uint32_t bi;
    int rc = block_of(sg, ordinal, &bi);
    if (rc || (rc = scan_open(sg, bi, sc)))
        return rc;
    for (;;) {
        rc = scan_next(sg, sc);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return corrupt("terms index does not reach a term");
        if (sc->t.ordinal == ordinal)
            return KZ_OK;
    }
}

static int find_block(kz_segment *sg, const char *key, size_t len, uint32_t *out);

/* Ordinal of the first term >= key (terms if none). */
static int lower_bound(kz_segment *sg, const char *key, size_t len, uint32_t *out)
{
    term_scan sc;
    int rc;
    if (sg->terms == 0) {
        *out = 0;
        return KZ_OK;
    }
    uint32_t lo;
    if ((rc = find_block(sg, key, len, &lo)) || (rc = scan_open(sg, lo, &sc)))
        return rc;
    while ((rc = scan_next(sg, &sc)) > 0)
        if (kz_bytes_cmp(sc.t.text, sc.t.len, key, len) >= 0) {
            *out = sc.t.ordinal;
            return KZ_OK;
        }
    if (rc < 0)
        return rc;
    *out = sc.last; /* the next block's first term, or the end */
    return KZ_OK;
}

static int fill_cf(kz_segment *sg, kz_term *t)
{
    kz_plist pl;
    int rc = kz_segment_plist(sg, &pl, t->ordinal);
    if (rc)
        return rc;
    t->cf = pl.cf;
    kz_plist_close(&pl);
    return KZ_OK;
}

int kz_segment_term_at(kz_segment *sg, kz_term *out, uint32_t ordinal)
{
    int rc = kz_segment_entry(sg, out, ordinal);
    return rc ? rc : fill_cf(sg, out);
}

int kz_segment_term(kz_segment *sg, kz_term *out, const char *term, size_t len)
{
    uint32_t at;
    int rc = lower_bound(sg, term, len, &at);
    if (rc)
        return rc;
    if (at < sg->terms) {
        term_scan sc;
        if ((rc = term_entry(sg, at, &sc)))
            return rc;
        if (kz_bytes_cmp(sc.t.text, sc.t.len, term, len) == 0) {
            *out = sc.t;
            return fill_cf(sg, out);
        }
    }
    return kz_error_set(KZ_ENOTFOUND, "term \"%.*s\" not in the index", (int)KZ_MIN(len, 200), term);
}

/* The first term of block bi, read in place: a block's first term has no
 * prefix, so its bytes are whole in TERMSTR, at *off, *len of them. Only
 * the entry and the head's bytes are read (and verified): the block that
 * a search ends on is opened whole, with every check of scan_open. */
static int block_head(kz_segment *sg, uint32_t bi, uint64_t *off, size_t *len)
{
    uint32_t first, str_off;
    int rc = tidx(sg, bi, &first, &str_off, NULL);
    if (rc)
        return rc;
    uint64_t n = sg->len[KZ_SEC_TERMSTR];
    if (str_off >= n)
        return corrupt("terms index entry out of order or out of range");
    uint64_t head_max = KZ_MIN(n - str_off, (uint64_t)(2 * 10 + KZ_TERM_MAX_BYTES));
    if ((rc = kz_file_verify(sg->f, KZ_SEC_TERMSTR, str_off, head_max)))
        return rc;
    const uint8_t *start = sg->sec[KZ_SEC_TERMSTR] + str_off, *p = start, *end = p + head_max;
    uint64_t prefix, suffix;
    if (kz_varint_get(&p, end, &prefix) || kz_varint_get(&p, end, &suffix) || prefix != 0 || suffix == 0 ||
        suffix > (uint64_t)(end - p) || suffix >= KZ_TERM_MAX_BYTES)
        return corrupt("term string malformed");
    *off = str_off + (uint64_t)(p - start);
    *len = (size_t)suffix;
    return KZ_OK;
}

/* The first 8 bytes of s[0..len), big-endian, zero-padded. When two
 * strings' keys differ, they compare as the strings do. */
static uint64_t key8(const void *s, size_t len)
{
    uint8_t b[8] = { 0 };
    memcpy(b, s, KZ_MIN(len, 8));
    uint64_t k = 0;
    for (int i = 0; i < 8; i++)
        k = k << 8 | b[i];
    return k;
}

/* The last block whose first term is <= key (block 0 if none is): one
 * binary search over the block heads, its first head_levels steps from
 * head_cache. */
static int find_block(kz_segment *sg, const char *key, size_t len, uint32_t *out)
{
    uint32_t lo = 0, hi = sg->term_blocks, node = 1;
    uint64_t want = key8(key, len);
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        struct head_entry *h = node < ((uint32_t)1 << sg->head_levels) ? &sg->head_cache[node] : NULL;
        uint64_t off = 0, at = h ? atomic_load_explicit(&h->at, memory_order_acquire) : 0, head_key;
        size_t head_len = 0;
        if (at) {
            off = (at >> 16) - 1;
            head_len = (size_t)(at & 0xFFFF);
            head_key = atomic_load_explicit(&h->key, memory_order_relaxed);
        } else {
            int rc = block_head(sg, mid, &off, &head_len);
            if (rc)
                return rc;
            head_key = key8(sg->sec[KZ_SEC_TERMSTR] + off, head_len);
            if (h) {
                atomic_store_explicit(&h->key, head_key, memory_order_relaxed);
                atomic_store_explicit(&h->at, (off + 1) << 16 | head_len, memory_order_release);
            }
        }
        int le = head_key != want ? head_key < want
                                  : kz_bytes_cmp((const char *)sg->sec[KZ_SEC_TERMSTR] + off, head_len, key, len) <= 0;
        if (le) {
            lo = mid;
            node = 2 * node + 1;
        } else {
            hi = mid;
            node = 2 * node;
        }
    }
    *out = lo;
    return KZ_OK;
}

int kz_segment_lookup(kz_segment *sg, const char *term, size_t len, kz_term_loc *out)
{
    if (len == 0 || len >= KZ_TERM_MAX_BYTES || sg->terms == 0)
        return 0;
    /* The last block whose first term is <= term, then a scan of it that
     * copies no term: match is how many bytes the term read last shares
     * with the one sought (which it is below). A term sharing fewer with
     * the one before is past the one sought; sharing more, it is below it
     * still; only one sharing as many is compared, from there on. */
    uint32_t lo;
    int rc;
    if ((rc = find_block(sg, term, len, &lo)))
        return rc;
    term_scan sc;
    if ((rc = scan_open(sg, lo, &sc)))
        return rc;
    const uint8_t *key = (const uint8_t *)term;
    size_t match = 0, prev_len = 0;
    while (sc.next < sc.last) {
        uint64_t prefix, suffix, df, blob_len;
        if (kz_varint_get(&sc.p, sc.end, &prefix) || kz_varint_get(&sc.p, sc.end, &suffix) || prefix > prev_len ||
            suffix > (uint64_t)(sc.end - sc.p) || prefix + suffix == 0 || prefix + suffix >= KZ_TERM_MAX_BYTES)
            return corrupt("term string malformed");
        const uint8_t *tail = sc.p;
        sc.p += suffix;
        if (kz_varint_get(&sc.p, sc.end, &df) || kz_varint_get(&sc.p, sc.end, &blob_len) || df == 0 ||
            df > UINT32_MAX || sc.blob_off > sg->len[KZ_SEC_POSTINGS] ||
            blob_len > sg->len[KZ_SEC_POSTINGS] - sc.blob_off)
            return corrupt("term entry malformed");
        uint64_t blob_off = sc.blob_off;
        sc.blob_off += blob_len;
        uint32_t ordinal = sc.next++;
        prev_len = (size_t)(prefix + suffix);
        if (prefix < match)
            return 0;
        if (prefix > match)
            continue;
        size_t n = KZ_MIN((size_t)suffix, len - match), same = 0;
        while (same < n && tail[same] == key[match + same])
            same++;
        if (same == suffix && match + same == len) {
            out->ordinal = ordinal;
            out->df = (uint32_t)df;
            out->blob_off = blob_off;
            out->blob_len = blob_len;
            return 1;
        }
        if (same < n && tail[same] > key[match + same])
            return 0;
        if (same == n && same < suffix) /* the one sought is a prefix of this term */
            return 0;
        match += same;
    }
    return 0;
}

int kz_segment_entry(kz_segment *sg, kz_term *out, uint32_t ordinal)
{
    if (ordinal >= sg->terms)
        return kz_error_set(KZ_EINVAL, "term %u out of range", ordinal);
    term_scan sc;
    int rc = term_entry(sg, ordinal, &sc);
    if (rc == KZ_OK)
        *out = sc.t;
    return rc;
}

int kz_segment_cursor_at(kz_segment *sg, kz_term_cursor *c, uint32_t ordinal)
{
    if (ordinal >= sg->terms)
        return kz_error_set(KZ_EINVAL, "term %u out of range", ordinal);
    int rc = term_entry(sg, ordinal, c);
    c->ready = rc == KZ_OK;
    return rc;
}

int kz_segment_cursor_next(kz_segment *sg, kz_term_cursor *c)
{
    if (c->ready) {
        c->ready = 0;
        return KZ_OK;
    }
    int rc = scan_next(sg, c);
    if (rc != 0)
        return rc > 0 ? KZ_OK : rc;
    if (c->block + 1 >= sg->term_blocks)
        return corrupt("the dictionary ends before the terms it counts");
    if ((rc = scan_open(sg, c->block + 1, c)))
        return rc;
    rc = scan_next(sg, c);
    return rc > 0 ? KZ_OK : rc == 0 ? corrupt("an empty block of terms") : rc;
}

int kz_segment_term_prefix(kz_segment *sg, uint32_t *first, uint32_t *count, const char *prefix, size_t len)
{
    uint32_t lo, hi = (uint32_t)sg->terms;
    int rc = lower_bound(sg, prefix, len, &lo);
    if (rc)
        return rc;
    /* The end: the first term >= the smallest string above every string
     * with this prefix (the prefix with its last byte below 0xFF raised). */
    char succ[KZ_TERM_MAX_BYTES];
    size_t n = KZ_MIN(len, sizeof succ);
    memcpy(succ, prefix, n);
    while (n > 0 && (unsigned char)succ[n - 1] == 0xFF)
        n--;
    if (n > 0) {
        succ[n - 1] = (char)((unsigned char)succ[n - 1] + 1);
        if ((rc = lower_bound(sg, succ, n, &hi)))
            return rc;
    }
    *first = lo;
    *count = hi > lo ? hi - lo : 0;
    return KZ_OK;
}

int kz_segment_plist(kz_segment *sg, kz_plist *out, uint32_t ordinal)
{
    term_scan sc;
    int rc = term_entry(sg, ordinal, &sc);
    if (rc)
        return rc;
    kz_term_loc loc = sc.loc;
    return kz_segment_plist_at(sg, out, &loc);
}

int kz_segment_plist_at(kz_segment *sg, kz_plist *out, const kz_term_loc *loc)
{
    /* The scan that found loc checked the blob lies in POSTINGS. */
    int rc = kz_file_verify(sg->f, KZ_SEC_POSTINGS, loc->blob_off, loc->blob_len);
    if (rc)
        return rc;
    if (sg->docs == 0)
        return kz_error_set(KZ_ECORRUPT, "index is corrupt: a posting list in an index of no documents");
    if (loc->ordinal >= sg->terms)
        return corrupt("a term past the dictionary's last");
    int checked = atomic_load_explicit(&sg->docids_checked[loc->ordinal], memory_order_acquire);
    rc = kz_plist_open(out, sg->sec[KZ_SEC_POSTINGS] + loc->blob_off, loc->blob_len, loc->df,
                       checked ? UINT32_MAX : (uint32_t)(sg->docs - 1));
    if (rc == KZ_OK && !checked)
        atomic_store_explicit(&sg->docids_checked[loc->ordinal], 1, memory_order_release);
    return rc;
}

int kz_segment_check_terms(kz_segment *sg, kz_check_fn fn, void *ctx, unsigned *faults)
{
    term_scan sc;
    kz_term prev;
    uint64_t expect_str = 0, expect_blob = 0, n = 0;
    char msg[300];
    prev.len = 0;
    for (uint32_t bi = 0; bi < sg->term_blocks; bi++) {
        uint32_t first, str_off;
        uint64_t blob_off;
        int rc = tidx(sg, bi, &first, &str_off, &blob_off);
        if (rc == KZ_OK && (first != n || str_off != expect_str || blob_off != expect_blob))
            rc = corrupt("terms index entry does not follow the previous block");
        if (rc == KZ_OK)
            rc = scan_open(sg, bi, &sc);
        while (rc == KZ_OK && (rc = scan_next(sg, &sc)) > 0) {
            if (n > 0 && kz_bytes_cmp(prev.text, prev.len, sc.t.text, sc.t.len) >= 0) {
                snprintf(msg, sizeof msg, "term %u \"%.*s\" is not after \"%.*s\"", sc.t.ordinal,
                         (int)KZ_MIN(sc.t.len, 100), sc.t.text, (int)KZ_MIN(prev.len, 100), prev.text);
                if (fn)
                    fn(ctx, msg);
                (*faults)++;
                return KZ_ECORRUPT;
            }
            prev = sc.t;
            n++;
            rc = KZ_OK;
        }
        if (rc == 0 && sc.p != sc.end)
            rc = corrupt("a block of terms has bytes after its last term");
        if (rc < 0) {
            if (fn)
                fn(ctx, kz_last_error());
            (*faults)++;
            return KZ_ECORRUPT;
        }
        expect_str = (uint64_t)(sc.end - sg->sec[KZ_SEC_TERMSTR]);
        expect_blob = sc.blob_off;
    }
    if (n != sg->terms || expect_str != sg->len[KZ_SEC_TERMSTR] || expect_blob != sg->len[KZ_SEC_POSTINGS]) {
        snprintf(msg, sizeof msg, "the dictionary holds %llu terms and covers %llu of %llu postings bytes; META says %llu terms",
                 (unsigned long long)n, (unsigned long long)expect_blob,
                 (unsigned long long)sg->len[KZ_SEC_POSTINGS], (unsigned long long)sg->terms);
        if (fn)
            fn(ctx, msg);
        (*faults)++;
        return KZ_ECORRUPT;
    }
    return KZ_OK;
}

int kz_segment_postings(kz_segment *sg, const kz_term *term, uint32_t **docids, uint32_t **tfs,
                      uint32_t **positions)
{
    kz_plist pl;
    int rc = kz_segment_plist(sg, &pl, term->ordinal);
    uint32_t *d = NULL, *t = NULL, *p = NULL;
    if (rc)
        return rc;
    d = malloc((size_t)pl.df * sizeof *d);
    t = malloc((size_t)pl.df * sizeof *t);
    if (positions)
        p = malloc((size_t)(pl.cf ? pl.cf : 1) * sizeof *p);
    if (!d || !t || (positions && !p)) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = kz_plist_docids(&pl, d)))
        goto done;
    uint64_t at = 0;
    kz_pos_cursor cursor = { 0 };
    for (uint32_t i = 0; i < pl.df; i++) {
        t[i] = kz_plist_tf(&pl, i);
        if (positions) {
            if (at + t[i] > pl.cf) {
                rc = corrupt("term frequencies exceed the collection frequency");
                goto done;
            }
            if ((rc = kz_plist_positions_seq(&pl, &cursor, i, t[i], p + at)))
                goto done;
            at += t[i];
        }
    }
done:
    kz_plist_close(&pl);
    if (rc) {
        free(d);
        free(t);
        free(p);
        return rc;
    }
    *docids = d;
    *tfs = t;
    if (positions)
        *positions = p;
    return KZ_OK;
}

/* ---------------------------------------------------------------- misc */

char *kz_default_index_dir(void)
{
    const char *env = getenv("KZSEARCH_INDEX");
    char *out = NULL;
    if (env && *env)
        return strdup(env);
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg && *xdg) {
        if (asprintf(&out, "%s/kzsearch/index", xdg) < 0)
            return NULL;
        return out;
    }
    const char *home = getenv("HOME");
    if (!home || !*home)
        home = ".";
    if (asprintf(&out, "%s/.local/share/kzsearch/index", home) < 0)
        return NULL;
    return out;
}

/* Sets keys[d] to key for every document d of the term at ordinal o, the
 * greatest when only_missing is 0, else only where keys[d] is none yet. */
static int term_keys(kz_segment *sg, uint32_t o, uint64_t key, int only_missing, uint64_t *keys)
{
    kz_plist pl;
    int rc = kz_segment_plist(sg, &pl, o);
    if (rc)
        return rc;
    roaring_bitmap_t *b = kz_plist_bitmap(&pl);
    kz_plist_close(&pl);
    if (!b)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    roaring_uint32_iterator_t *it = roaring_create_iterator(b);
    if (!it) {
        roaring_bitmap_free(b);
        return kz_error_set(KZ_ENOMEM, "out of memory");
    }
    for (; it->has_value; roaring_advance_uint32_iterator(it)) {
        uint32_t d = it->current_value;
        if (d >= sg->docs)
            continue; /* checked when the list was opened: cannot be */
        if (only_missing ? keys[d] == KZ_NO_SORT_KEY : key > keys[d])
            keys[d] = key;
    }
    roaring_free_uint32_iterator(it);
    roaring_bitmap_free(b);
    return KZ_OK;
}

/* The date terms' keys: days first, then the months of documents with no
 * day. */
static int date_keys(kz_segment *sg, const char *field, size_t len, uint64_t *keys)
{
    int rc = KZ_OK;
    for (int level = 0; level < 2 && rc == KZ_OK; level++) {
        char prefix[KZ_FIELD_PREFIX_MAX];
        size_t n = kz_field_prefix(prefix, field, len, level == 0 ? "dD" : "dM");
        uint32_t first, count;
        if ((rc = kz_segment_term_prefix(sg, &first, &count, prefix, n)))
            break;
        for (uint32_t o = first; o < first + count && rc == KZ_OK; o++) {
            kz_term t;
            if ((rc = kz_segment_entry(sg, &t, o)))
                break;
            int y = 0;
            unsigned m = 0, dd = 1;
            int got = level == 0 ? sscanf(t.text + n, "%4d-%2u-%2u", &y, &m, &dd) == 3
                                 : sscanf(t.text + n, "%4d-%2u", &y, &m) == 2;
            if (!got || y < 1 || m < 1 || m > 12 || dd < 1 || dd > 31)
                continue; /* not a term this kzsearch writes: no date */
            rc = term_keys(sg, o, kz_sort_key_of_day((int32_t)kz_days_from_civil(y, m, dd)), level == 1, keys);
        }
    }
    return rc;
}

/* The number terms' keys: those of full precision. */
static int number_keys(kz_segment *sg, const char *field, size_t len, uint64_t *keys)
{
    char prefix[KZ_FIELD_PREFIX_MAX];
    size_t n = kz_field_prefix(prefix, field, len, KZ_NUMBER_FULL_KIND);
    uint32_t first, count;
    int rc = kz_segment_term_prefix(sg, &first, &count, prefix, n);
    for (uint32_t o = first; rc == KZ_OK && o < first + count; o++) {
        kz_term t;
        uint64_t key;
        if ((rc = kz_segment_entry(sg, &t, o)))
            break;
        if (kz_field_term_key(&key, t.text + n, t.len - n) != 0 || key == KZ_NO_SORT_KEY)
            continue; /* not a term this kzsearch writes: no number */
        rc = term_keys(sg, o, key, 0, keys);
    }
    return rc;
}

int kz_segment_sort_keys(kz_segment *sg, const char *field, size_t len, char kind, const uint64_t **out)
{
    if (!kz_field_name_ok(field, len))
        return kz_error_set(KZ_EINVAL, "not a field name");
    pthread_mutex_lock(&sg->starts_lock);
    for (size_t i = 0; i < sg->n_dates; i++)
        if (sg->dates[i].kind == kind && strlen(sg->dates[i].field) == len &&
            memcmp(sg->dates[i].field, field, len) == 0) {
            *out = sg->dates[i].keys;
            pthread_mutex_unlock(&sg->starts_lock);
            return KZ_OK;
        }
    int rc = KZ_OK;
    uint64_t *keys = calloc(sg->docs ? sg->docs : 1, sizeof *keys); /* KZ_NO_SORT_KEY */
    struct key_column *grown = realloc(sg->dates, (sg->n_dates + 1) * sizeof *grown);
    if (grown)
        sg->dates = grown;
    if (!keys || !grown) {
        free(keys);
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    rc = kind == KZ_FIELD_NUMBER ? number_keys(sg, field, len, keys) : date_keys(sg, field, len, keys);
    if (rc) {
        free(keys);
        goto done;
    }
    memcpy(sg->dates[sg->n_dates].field, field, len);
    sg->dates[sg->n_dates].field[len] = 0;
    sg->dates[sg->n_dates].kind = kind;
    sg->dates[sg->n_dates].keys = keys;
    sg->n_dates++;
    *out = keys;
done:
    pthread_mutex_unlock(&sg->starts_lock);
    return rc;
}
