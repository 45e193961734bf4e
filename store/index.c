/*
 * index.c: an open index, its segments put together.
 *
 * An index folder holds a manifest (manifest.c) naming its segment files
 * in order, with the documents deleted from each; an index written before
 * manifests is the one file index.kz, read as an index of one segment.
 * Several indexes open as one (kz_index_open_many, or a shard set's folder,
 * shards.c): each is a part, its segments following the last part's.
 *
 * Docids: segment i's documents are base[i] .. base[i] + docs[i] - 1, the
 * bases following the manifest's order, so docids follow the order the
 * documents were added in, as a fresh build of the same documents would
 * number them (less the gaps the deleted ones leave).
 *
 * Statistics are those of the live documents: N, the sum of their
 * lengths, avgdl, and each term's df (kz_index_live_df) count no deleted
 * document, so that BM25 gives the scores a fresh index of the live
 * documents would.
 */
#include "kzint.h"
#include "format.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <utf8proc.h>
#include <stdio.h>
#include <stdlib.h>

/* Reading a manifest and then its segments races with a writer that
 * replaces the manifest and removes the segments it no longer names: a
 * segment gone missing sends the reader back to the manifest. */
#define OPEN_TRIES 8

typedef struct segment_slot {
    kz_segment *sg;
    const char *name;                /* its file, in its part's folder (not owned) */
    uint32_t base;
    uint32_t docs;
    const roaring_bitmap_t *deleted; /* owned by the manifest; NULL when none */
    uint64_t deleted_tokens;         /* sum of the deleted documents' dl */
} segment_slot;

/* One index folder of those opened together. */
typedef struct index_part {
    char *dir;
    kz_manifest manifest; /* empty for an index of one file without one */
} index_part;

struct kz_index {
    char *dir;            /* a shard set's folder, to reopen it as a set; else NULL (the parts' folders) */
    index_part *parts;
    size_t n_parts;
    segment_slot *seg;
    size_t n_seg;
    uint64_t docids;               /* docids run 0 .. docids-1 */
    uint64_t live_docs, live_tokens;
    double avgdl;
    kz_index_info info;            /* of the index as a whole (kz_index_get_info) */
    char language[33];
    /* Analyzers that queries have used, kept for the next ones: [0]
     * stemming, [1] folding only. */
    pthread_mutex_t pool_lock;
    kz_analyzer *pool[2][KZ_ANALYZER_POOL];
    unsigned pool_n[2];
    int cyrillic_known, cyrillic; /* kz_index_has_cyrillic, under pool_lock */
    /* kz_index_may_have_cyrillic: the first two letters of its Cyrillic
     * terms, one bit a pair of U+0400 .. U+052F; NULL for "any" (too many
     * terms to list, or not made yet: pairs_known). Under pool_lock. */
    uint8_t *cyrillic_pairs;
    int pairs_known;
    kz_synonym_table *synonyms;   /* kz_index_set_synonyms; owned */
    /* kz_index_prefix_extent's answers for field prefixes, kept: the
     * segments never change. At most EXTENT_CACHE, under pool_lock. */
    struct prefix_extent *extents;
    size_t n_extents;
};

#define EXTENT_CACHE 64

typedef struct prefix_extent {
    char prefix[KZ_FIELD_PREFIX_MAX];
    size_t len;
    uint64_t count;
    kz_term lo, hi; /* when count > 0 */
} prefix_extent;

static void free_segments(kz_index *ix)
{
    for (size_t i = 0; i < ix->n_seg; i++)
        kz_segment_free(ix->seg[i].sg);
    free(ix->seg);
    ix->seg = NULL;
    ix->n_seg = 0;
    for (size_t p = 0; p < ix->n_parts; p++)
        kz_manifest_free(&ix->parts[p].manifest);
}

/* The sum of the dl of segment slot s's deleted documents. */
static int deleted_tokens(segment_slot *s)
{
    s->deleted_tokens = 0;
    if (!s->deleted)
        return KZ_OK;
    int rc = kz_file_verify(kz_segment_file(s->sg), KZ_SEC_DOCS, 0, (uint64_t)s->docs * KZ_DOC_SIZE);
    if (rc)
        return rc;
    roaring_uint32_iterator_t *it = roaring_create_iterator(s->deleted);
    if (!it)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    for (; it->has_value; roaring_advance_uint32_iterator(it))
        s->deleted_tokens += kz_segment_doc_length(s->sg, it->current_value);
    roaring_free_uint32_iterator(it);
    return KZ_OK;
}

/* Opens the segments part p's manifest names (or index.kz alone) after
 * those of the parts before it; KZ_ECORRUPT with *gone set when a segment
 * the manifest names is missing. */
static int open_part(kz_index *ix, size_t p, int *gone)
{
    char path[4300];
    index_part *part = &ix->parts[p];
    const char *dir = part->dir;
    *gone = 0;
    int rc = kz_manifest_read(&part->manifest, dir);
    size_t n = part->manifest.n_segments;
    int legacy = rc == KZ_ENOTFOUND;
    if (rc && !legacy)
        return rc;
    if (legacy)
        n = 1;
    segment_slot *grown = realloc(ix->seg, (ix->n_seg + n) * sizeof *grown);
    if (!grown)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    ix->seg = grown;
    memset(ix->seg + ix->n_seg, 0, n * sizeof *ix->seg);
    uint64_t base = ix->docids;
    for (size_t i = 0; i < n; i++) {
        segment_slot *s = &ix->seg[ix->n_seg];
        s->name = legacy ? KZ_INDEX_FILE : part->manifest.segments[i].name;
        snprintf(path, sizeof path, "%s/%s", dir, s->name);
        if ((rc = kz_segment_open(&s->sg, path))) {
            if (rc == KZ_ENOTFOUND && !legacy) {
                *gone = 1;
                rc = kz_error_set(KZ_ECORRUPT, "index %s is corrupt: its manifest names %s, which is missing", dir,
                                  s->name);
            }
            return rc;
        }
        ix->n_seg++;
        kz_index_info si;
        kz_segment_get_info(s->sg, &si);
        if (!legacy && si.docs != part->manifest.segments[i].docs)
            return kz_error_set(KZ_ECORRUPT, "index %s is corrupt: its manifest says %s has %llu documents, it has %llu",
                                dir, s->name, (unsigned long long)part->manifest.segments[i].docs,
                                (unsigned long long)si.docs);
        if (ix->n_seg == 1)
            snprintf(ix->language, sizeof ix->language, "%s", si.language);
        else if (strcmp(ix->language, si.language) != 0)
            return kz_error_set(p ? KZ_EINVAL : KZ_ECORRUPT, p ? "%s is in the language %s, the indexes before it in %s: "
                                "they cannot be searched as one" : "index %s is corrupt: its segments are of two "
                                "languages (%s, %s)", dir, p ? si.language : ix->language,
                                p ? ix->language : si.language);
        if (base + si.docs > UINT32_MAX - 1)
            return kz_error_set(p ? KZ_ELIMIT : KZ_ECORRUPT, "%s%s: the segments hold more than 2^32-2 documents",
                                p ? "" : "index is corrupt: ", dir);
        s->base = (uint32_t)base;
        s->docs = (uint32_t)si.docs;
        s->deleted = legacy ? NULL : part->manifest.segments[i].deleted;
        if ((rc = deleted_tokens(s)))
            return rc;
        if (s->deleted_tokens > si.tokens)
            return kz_error_set(KZ_ECORRUPT, "index %s is corrupt: deleted documents longer than their segment", dir);
        base += si.docs;
        uint64_t n_deleted = s->deleted ? roaring_bitmap_get_cardinality(s->deleted) : 0;
        ix->live_docs += si.docs - n_deleted;
        ix->live_tokens += si.tokens - s->deleted_tokens;
        kz_index_info *t = &ix->info;
        if (ix->n_seg == 1) {
            t->format_version = si.format_version;
            t->analyzer_version = si.analyzer_version;
        }
        uint64_t created = legacy ? si.created_unix : part->manifest.created;
        t->created_unix = KZ_MAX(t->created_unix, created);
        t->terms += si.terms;
        t->file_bytes += si.file_bytes;
        t->text_bytes += si.text_bytes;
    }
    ix->docids = base;
    ix->info.generation += part->manifest.generation;
    return KZ_OK;
}

/* Opens every part, then sums up. */
static int open_parts(kz_index *ix, int *gone)
{
    int rc = KZ_OK;
    for (size_t p = 0; p < ix->n_parts && rc == KZ_OK; p++)
        rc = open_part(ix, p, gone);
    if (rc)
        return rc;
    ix->avgdl = ix->live_docs ? (double)ix->live_tokens / (double)ix->live_docs : 0.0;
    ix->info.language = ix->language;
    ix->info.docs = ix->live_docs;
    ix->info.tokens = ix->live_tokens;
    ix->info.avgdl = ix->avgdl;
    ix->info.docids = ix->docids;
    ix->info.segments = ix->n_seg;
    return KZ_OK;
}

/* Opens the parts of ix (dirs set), again from the start while a writer
 * removes a segment under it. */
static int open_retrying(kz_index *ix)
{
    int rc = KZ_OK, gone = 0;
    for (int tries = 0; tries < OPEN_TRIES; tries++) {
        if ((rc = open_parts(ix, &gone)) == KZ_OK || !gone)
            break;
        free_segments(ix);
        memset(&ix->info, 0, sizeof ix->info);
        ix->live_docs = ix->live_tokens = 0;
        ix->docids = 0;
    }
    return rc;
}

static int index_new(kz_index **out, size_t n_parts)
{
    kz_index *ix = calloc(1, sizeof *ix);
    if (!ix)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    pthread_mutex_init(&ix->pool_lock, NULL);
    *out = ix;
    if (!(ix->parts = calloc(n_parts ? n_parts : 1, sizeof *ix->parts)))
        return kz_error_set(KZ_ENOMEM, "out of memory");
    return KZ_OK;
}

int kz_index_open(kz_index **out, const char *index_dir)
{
    *out = NULL;
    char **shards = NULL;
    size_t n_shards = 0;
    int rc = kz_shard_set_read(index_dir, &shards, &n_shards);
    if (rc == KZ_OK) { /* a shard set: its shards as one index */
        kz_index *ix = NULL;
        rc = kz_index_open_many(&ix, (const char *const *)shards, n_shards);
        if (rc == KZ_OK && (rc = kz_shard_set_verify(index_dir, ix)) == KZ_OK && !(ix->dir = strdup(index_dir)))
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
        for (size_t i = 0; i < n_shards; i++)
            free(shards[i]);
        free(shards);
        if (rc) {
            kz_index_free(ix);
            return rc;
        }
        *out = ix;
        return KZ_OK;
    }
    if (rc != KZ_ENOTFOUND)
        return rc;
    return kz_index_open_many(out, &index_dir, 1); /* an index of its own: one part */
}

int kz_index_open_many(kz_index **out, const char *const *dirs, size_t n)
{
    *out = NULL;
    if (n == 0)
        return kz_error_set(KZ_EINVAL, "kz_index_open_many: no index");
    kz_index *ix = NULL;
    int rc = index_new(&ix, n);
    for (size_t i = 0; rc == KZ_OK && i < n; i++) {
        for (size_t j = 0; j < i && rc == KZ_OK; j++)
            if (strcmp(dirs[i], dirs[j]) == 0)
                rc = kz_error_set(KZ_EINVAL, "%s is named twice: its documents would count twice", dirs[i]);
        if (rc == KZ_OK && !(ix->parts[i].dir = strdup(dirs[i])))
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
        if (rc == KZ_OK)
            ix->n_parts++;
    }
    if (rc == KZ_OK)
        rc = open_retrying(ix);
    if (rc) {
        kz_index_free(ix);
        return rc;
    }
    *out = ix;
    return KZ_OK;
}

void kz_index_free(kz_index *ix)
{
    if (!ix)
        return;
    free_segments(ix);
    for (size_t p = 0; p < ix->n_parts; p++)
        free(ix->parts[p].dir);
    free(ix->parts);
    for (int k = 0; k < 2; k++)
        for (unsigned i = 0; i < ix->pool_n[k]; i++)
            kz_analyzer_free(ix->pool[k][i]);
    pthread_mutex_destroy(&ix->pool_lock);
    kz_synonym_table_free(ix->synonyms);
    free(ix->cyrillic_pairs);
    free(ix->extents);
    free(ix->dir);
    free(ix);
}

/* Whether part p's manifest is still the one ix read. */
static int part_unchanged(const kz_index *ix, size_t p, int *same)
{
    const index_part *part = &ix->parts[p];
    kz_manifest m;
    int rc = kz_manifest_read(&m, part->dir);
    *same = 0;
    if (rc == KZ_ENOTFOUND && part->manifest.n_segments == 0)
        *same = 1; /* an index of one file without a manifest, still */
    else if (rc == KZ_OK)
        *same = m.generation == part->manifest.generation && part->manifest.n_segments > 0;
    kz_manifest_free(&m);
    return rc == KZ_ENOTFOUND ? KZ_OK : rc;
}

int kz_index_reopen(kz_index *ix, kz_index **out)
{
    *out = NULL;
    int same = 1, rc = KZ_OK;
    for (size_t p = 0; p < ix->n_parts && same && rc == KZ_OK; p++)
        rc = part_unchanged(ix, p, &same);
    if (rc || same)
        return rc;
    if (ix->dir)
        return kz_index_open(out, ix->dir);
    const char **dirs = malloc(ix->n_parts * sizeof *dirs);
    if (!dirs)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    for (size_t p = 0; p < ix->n_parts; p++)
        dirs[p] = ix->parts[p].dir;
    rc = kz_index_open_many(out, dirs, ix->n_parts);
    free(dirs);
    return rc;
}

void kz_index_get_info(const kz_index *ix, kz_index_info *out) { *out = ix->info; }

size_t kz_index_segment_count(const kz_index *ix) { return ix->n_seg; }
kz_segment *kz_index_segment(const kz_index *ix, size_t i) { return ix->seg[i].sg; }
uint32_t kz_index_segment_base(const kz_index *ix, size_t i) { return ix->seg[i].base; }
const roaring_bitmap_t *kz_index_segment_deleted(const kz_index *ix, size_t i) { return ix->seg[i].deleted; }

void kz_index_segment_info(const kz_index *ix, size_t i, const char **name, uint64_t *docs, uint64_t *deleted)
{
    const segment_slot *s = &ix->seg[i];
    *name = s->name;
    *docs = s->docs;
    *deleted = s->deleted ? roaring_bitmap_get_cardinality(s->deleted) : 0;
}

size_t kz_index_source_count(const kz_index *ix)
{
    size_t n = 0;
    for (size_t p = 0; p < ix->n_parts; p++)
        n += ix->parts[p].manifest.n_sources;
    return n;
}

const char *kz_index_source(const kz_index *ix, size_t i)
{
    for (size_t p = 0; p < ix->n_parts; p++) {
        const kz_manifest *m = &ix->parts[p].manifest;
        if (i < m->n_sources)
            return m->sources[i];
        i -= m->n_sources;
    }
    return NULL;
}

int kz_index_has_cyrillic(kz_index *ix, int *has)
{
    pthread_mutex_lock(&ix->pool_lock);
    int known = ix->cyrillic_known;
    *has = ix->cyrillic;
    pthread_mutex_unlock(&ix->pool_lock);
    if (known)
        return KZ_OK;
    /* U+0400 .. U+053F: UTF-8 lead bytes D0 to D4. */
    int found = 0;
    for (char lead = (char)0xD0; !found && (unsigned char)lead <= 0xD4; lead++) {
        uint64_t count = 0;
        int rc = kz_index_prefix_extent(ix, &lead, 1, &count, NULL, NULL);
        if (rc)
            return rc;
        found = count > 0;
    }
    pthread_mutex_lock(&ix->pool_lock);
    ix->cyrillic_known = 1;
    ix->cyrillic = *has = found;
    pthread_mutex_unlock(&ix->pool_lock);
    return KZ_OK;
}

#define CYR_FIRST 0x400u
#define CYR_SPAN 0x130u /* U+0400 .. U+052F */
#define PAIRS_MAX_TERMS 200000 /* more Cyrillic terms than this: not listed */

/* The bit of the pair of code points a, b, or SIZE_MAX when not both are in
 * the span. */
static size_t pair_bit(uint32_t a, uint32_t b)
{
    if (a - CYR_FIRST >= CYR_SPAN || b - CYR_FIRST >= CYR_SPAN)
        return SIZE_MAX;
    return (size_t)(a - CYR_FIRST) * CYR_SPAN + (b - CYR_FIRST);
}

/* Lists the first two letters of every Cyrillic term of every segment,
 * unless there are more than PAIRS_MAX_TERMS (then *out stays NULL). */
static int list_cyrillic_pairs(kz_index *ix, uint8_t **out)
{
    *out = NULL;
    uint64_t total = 0;
    for (size_t s = 0; s < ix->n_seg; s++)
        for (unsigned lead = 0xD0; lead <= 0xD4; lead++) {
            char c = (char)lead;
            uint32_t first, count;
            int rc = kz_segment_term_prefix(ix->seg[s].sg, &first, &count, &c, 1);
            if (rc)
                return rc;
            total += count;
        }
    if (total > PAIRS_MAX_TERMS)
        return KZ_OK;
    uint8_t *bits = calloc(CYR_SPAN * CYR_SPAN / 8 + 1, 1);
    if (!bits)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    for (size_t s = 0; s < ix->n_seg; s++)
        for (unsigned lead = 0xD0; lead <= 0xD4; lead++) {
            char c = (char)lead;
            uint32_t first, count;
            kz_term_cursor cur;
            int rc = kz_segment_term_prefix(ix->seg[s].sg, &first, &count, &c, 1);
            if (rc == KZ_OK && count)
                rc = kz_segment_cursor_at(ix->seg[s].sg, &cur, first);
            for (uint32_t o = first; rc == KZ_OK && o < first + count; o++) {
                uint32_t cp[2];
                if ((rc = kz_segment_cursor_next(ix->seg[s].sg, &cur)))
                    break;
                const kz_term *t = &cur.t;
                size_t n = 0;
                for (size_t i = 0; i < t->len && n < 2;) { /* the first two code points */
                    int32_t u;
                    utf8proc_ssize_t k = utf8proc_iterate((const uint8_t *)t->text + i, (utf8proc_ssize_t)(t->len - i), &u);
                    if (k <= 0)
                        break;
                    cp[n++] = (uint32_t)u;
                    i += (size_t)k;
                }
                size_t bit = n == 2 ? pair_bit(cp[0], cp[1]) : SIZE_MAX;
                if (bit != SIZE_MAX)
                    bits[bit / 8] |= (uint8_t)(1u << (bit % 8));
            }
            if (rc) {
                free(bits);
                return rc;
            }
        }
    *out = bits;
    return KZ_OK;
}

int kz_index_may_have_cyrillic(kz_index *ix, const char *term, size_t len, int *may)
{
    *may = 1;
    int32_t a, b;
    utf8proc_ssize_t k = utf8proc_iterate((const uint8_t *)term, (utf8proc_ssize_t)len, &a);
    if (k <= 0 || (size_t)k >= len || utf8proc_iterate((const uint8_t *)term + k, (utf8proc_ssize_t)(len - (size_t)k), &b) <= 0)
        return KZ_OK;
    /* A word as written: й and ё as the terms have them (folded). */
    a = a == 0x439 ? 0x438 : a == 0x451 ? 0x435 : a;
    b = b == 0x439 ? 0x438 : b == 0x451 ? 0x435 : b;
    size_t bit = pair_bit((uint32_t)a, (uint32_t)b);
    if (bit == SIZE_MAX)
        return KZ_OK;
    pthread_mutex_lock(&ix->pool_lock);
    int known = ix->pairs_known;
    pthread_mutex_unlock(&ix->pool_lock);
    if (!known) {
        uint8_t *bits = NULL;
        int rc = list_cyrillic_pairs(ix, &bits);
        if (rc)
            return rc;
        pthread_mutex_lock(&ix->pool_lock);
        if (!ix->pairs_known) {
            ix->cyrillic_pairs = bits;
            ix->pairs_known = 1;
            bits = NULL;
        }
        pthread_mutex_unlock(&ix->pool_lock);
        free(bits);
    }
    /* Set once and never changed after: read without the lock. */
    if (ix->cyrillic_pairs)
        *may = (ix->cyrillic_pairs[bit / 8] >> (bit % 8)) & 1;
    return KZ_OK;
}

int kz_index_set_synonyms(kz_index *ix, const kz_synonyms *s)
{
    kz_synonym_table *t = NULL;
    kz_analyzer *a = NULL;
    int rc = KZ_OK;
    if (s) {
        if ((rc = kz_analyzer_new(&a, ix->language)))
            return rc;
        rc = kz_synonym_table_new(&t, s, a);
        kz_analyzer_free(a);
        if (rc)
            return rc;
    }
    kz_synonym_table_free(ix->synonyms);
    ix->synonyms = t;
    return KZ_OK;
}

const kz_synonym_table *kz_index_synonyms(const kz_index *ix) { return ix->synonyms; }

size_t kz_index_part_count(const kz_index *ix) { return ix->n_parts; }

const kz_manifest *kz_index_part_manifest(const kz_index *ix, size_t i) { return &ix->parts[i].manifest; }

const char *kz_index_part_dir(const kz_index *ix, size_t i, uint64_t *generation)
{
    if (i >= ix->n_parts)
        return NULL;
    if (generation)
        *generation = ix->parts[i].manifest.generation;
    return ix->parts[i].dir;
}

int kz_index_warm(kz_index *ix)
{
    for (size_t i = 0; i < ix->n_seg; i++) {
        int rc = kz_segment_warm(ix->seg[i].sg);
        if (rc)
            return rc;
    }
    return KZ_OK;
}

unsigned kz_index_section_count(const kz_index *ix)
{
    KZ_UNUSED(ix);
    return KZ_SEC_MAX - 1;
}

void kz_index_section(const kz_index *ix, unsigned i, const char **name, uint64_t *bytes)
{
    uint64_t sum = 0, b = 0;
    *name = kz_section_name(i + 1);
    for (size_t s = 0; s < ix->n_seg; s++) {
        kz_segment_section(ix->seg[s].sg, i, name, &b);
        sum += b;
    }
    *bytes = sum;
}

/* ---------------------------------------------------------------- analyzers */

int kz_index_analyzer_take(kz_index *ix, int fold_only, kz_analyzer **out)
{
    int k = fold_only != 0;
    *out = NULL;
    pthread_mutex_lock(&ix->pool_lock);
    if (ix->pool_n[k])
        *out = ix->pool[k][--ix->pool_n[k]];
    pthread_mutex_unlock(&ix->pool_lock);
    if (*out)
        return KZ_OK;
    int rc = kz_analyzer_new(out, ix->language);
    if (rc == KZ_OK && fold_only)
        kz_analyzer_fold_only(*out);
    return rc;
}

void kz_index_analyzer_give(kz_index *ix, int fold_only, kz_analyzer *a)
{
    int k = fold_only != 0;
    if (!a)
        return;
    /* What a hostile query interned is not worth keeping. */
    if (kz_analyzer_memory(a) > KZ_ANALYZER_POOL_BYTES)
        kz_analyzer_reset(a);
    pthread_mutex_lock(&ix->pool_lock);
    if (ix->pool_n[k] < KZ_ANALYZER_POOL) {
        ix->pool[k][ix->pool_n[k]++] = a;
        a = NULL;
    }
    pthread_mutex_unlock(&ix->pool_lock);
    kz_analyzer_free(a);
}

/* ---------------------------------------------------------------- documents */

/* The slot and the segment's docid of docid: KZ_EINVAL past the last,
 * KZ_ENOTFOUND for a deleted document. */
static int locate(const kz_index *ix, uint32_t docid, segment_slot **slot, uint32_t *local)
{
    if (docid >= ix->docids)
        return kz_error_set(KZ_EINVAL, "document %u out of range (index has %llu docids)", docid,
                            (unsigned long long)ix->docids);
    size_t lo = 0, hi = ix->n_seg; /* the last slot whose base <= docid */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->seg[mid].base <= docid)
            lo = mid;
        else
            hi = mid;
    }
    *slot = &ix->seg[lo];
    *local = docid - ix->seg[lo].base;
    if ((*slot)->deleted && roaring_bitmap_contains((*slot)->deleted, *local))
        return kz_error_set(KZ_ENOTFOUND, "document %u was deleted", docid);
    return KZ_OK;
}

int kz_index_doc(kz_index *ix, kz_doc *out, uint32_t docid, kz_doc_field *meta, size_t max_meta)
{
    segment_slot *s;
    uint32_t local;
    int rc = locate(ix, docid, &s, &local);
    return rc ? rc : kz_segment_doc(s->sg, out, local, meta, max_meta);
}

int kz_index_find(kz_index *ix, uint32_t *docid, const char *id, size_t id_len)
{
    /* Newest first: a segment's older copies of an id are deleted. */
    for (size_t i = ix->n_seg; i-- > 0;) {
        segment_slot *s = &ix->seg[i];
        uint32_t local;
        int rc = kz_segment_find_id(s->sg, id, id_len, &local);
        if (rc < 0)
            return rc;
        if (rc == 1 && !(s->deleted && roaring_bitmap_contains(s->deleted, local))) {
            *docid = s->base + local;
            return KZ_OK;
        }
    }
    return kz_error_set(KZ_ENOTFOUND, "no document with id \"%.*s\"", (int)KZ_MIN(id_len, (size_t)200), id);
}

int kz_index_doc_fingerprint(kz_index *ix, uint32_t docid, uint64_t *out)
{
    segment_slot *s;
    uint32_t local;
    int rc = locate(ix, docid, &s, &local);
    return rc ? rc : kz_segment_doc_fingerprint(s->sg, local, out);
}

int kz_index_doc_text(kz_index *ix, char **out, size_t *len, uint32_t docid)
{
    segment_slot *s;
    uint32_t local;
    *out = NULL;
    int rc = locate(ix, docid, &s, &local);
    return rc ? rc : kz_segment_doc_text(s->sg, out, len, local);
}

int kz_index_doc_text_prefix(kz_index *ix, char **out, size_t *len, uint32_t docid, size_t max_bytes)
{
    segment_slot *s;
    uint32_t local;
    *out = NULL;
    int rc = locate(ix, docid, &s, &local);
    return rc ? rc : kz_segment_doc_text_prefix(s->sg, out, len, local, max_bytes);
}

int kz_index_doc_text_marked(kz_index *ix, char **out, size_t *len, kz_text_marks *marks, uint32_t docid,
                             size_t max_bytes)
{
    segment_slot *s;
    uint32_t local;
    *out = NULL;
    memset(marks, 0, sizeof *marks);
    int rc = locate(ix, docid, &s, &local);
    return rc ? rc : kz_segment_doc_text_marked(s->sg, out, len, marks, local, max_bytes);
}

int kz_index_doc_length_at(kz_index *ix, uint32_t docid, uint32_t *dl)
{
    segment_slot *s;
    uint32_t local;
    int rc = locate(ix, docid, &s, &local);
    if (rc)
        return rc;
    if ((rc = kz_file_verify(kz_segment_file(s->sg), KZ_SEC_DOCS, (uint64_t)local * KZ_DOC_SIZE, KZ_DOC_SIZE)))
        return rc;
    *dl = kz_segment_doc_length(s->sg, local);
    return KZ_OK;
}

int kz_index_locate(const kz_index *ix, uint32_t docid, size_t *segment, uint32_t *local)
{
    segment_slot *s;
    int rc = locate(ix, docid, &s, local);
    if (rc == KZ_OK)
        *segment = (size_t)(s - ix->seg);
    return rc;
}

/* ---------------------------------------------------------------- terms */

/* The documents of list pl that slot s has deleted (s->deleted not NULL):
 * the two bitmaps intersected container by container, in time of their
 * containers rather than of the deleted documents (a term's live df is
 * asked for every term of every query: 20x at p50 with 10% deleted). */
static int deleted_in_list(segment_slot *s, kz_plist *pl, uint64_t *out)
{
    *out = 0;
    if (pl->df == 0)
        return KZ_OK;
    roaring_bitmap_t *docs = kz_plist_bitmap(pl);
    if (docs) {
        *out = roaring_bitmap_and_cardinality(docs, s->deleted);
        roaring_bitmap_free(docs);
        return KZ_OK;
    }
    /* Out of memory (or a bitmap CRoaring refuses): each deleted
     * document sought in the list, which needs no copy. */
    kz_cursor c;
    kz_cursor_init(&c, pl);
    roaring_uint32_iterator_t *it = roaring_create_iterator(s->deleted);
    if (!it)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    for (; it->has_value && c.doc != KZ_DOC_END; roaring_advance_uint32_iterator(it))
        *out += kz_cursor_seek(&c, it->current_value) == it->current_value;
    roaring_free_uint32_iterator(it);
    return KZ_OK;
}

/* The deleted documents of slot s that the term at loc has (0 at once
 * when the slot has none). */
static int deleted_with_term(segment_slot *s, const kz_term_loc *loc, uint64_t *out)
{
    *out = 0;
    if (!s->deleted)
        return KZ_OK;
    kz_plist pl;
    int rc = kz_segment_plist_at(s->sg, &pl, loc);
    if (rc)
        return rc;
    rc = deleted_in_list(s, &pl, out);
    kz_plist_close(&pl);
    return rc;
}

int kz_index_live_df(kz_index *ix, const char *term, size_t len, uint64_t *df, kz_term_loc *locs)
{
    *df = 0;
    for (size_t i = 0; i < ix->n_seg; i++) {
        kz_term_loc loc;
        int found = kz_segment_lookup(ix->seg[i].sg, term, len, &loc);
        if (found < 0)
            return found;
        if (!found)
            loc.ordinal = KZ_TERM_ABSENT;
        if (locs)
            locs[i] = loc;
        if (!found)
            continue;
        uint64_t gone;
        int rc = deleted_with_term(&ix->seg[i], &loc, &gone);
        if (rc)
            return rc;
        *df += loc.df - gone;
    }
    return KZ_OK;
}

/* The dictionary-level calls read one segment's dictionary: an index of
 * one segment without deletions is the index. */
static int one_segment(const kz_index *ix, const char *what)
{
    if (ix->n_seg == 1 && !ix->seg[0].deleted)
        return KZ_OK;
    return kz_error_set(KZ_EINVAL, "%s reads the dictionary of an index of one segment without deletions; this one "
                        "has %zu segments ('kzsearch optimize' makes one)", what, ix->n_seg);
}

int kz_index_term(kz_index *ix, kz_term *out, const char *term, size_t len)
{
    if (ix->n_seg == 1 && !ix->seg[0].deleted)
        return kz_segment_term(ix->seg[0].sg, out, term, len);
    /* Several segments: the live df, and cf over the live documents. */
    uint64_t df = 0, cf = 0;
    int any = 0;
    for (size_t i = 0; i < ix->n_seg; i++) {
        segment_slot *s = &ix->seg[i];
        kz_term t;
        int rc = kz_segment_term(s->sg, &t, term, len);
        if (rc == KZ_ENOTFOUND)
            continue;
        if (rc)
            return rc;
        if (!any)
            *out = t;
        any = 1;
        df += t.df;
        cf += t.cf;
        if (!s->deleted)
            continue;
        uint32_t *docids = NULL, *tfs = NULL;
        if ((rc = kz_segment_postings(s->sg, &t, &docids, &tfs, NULL)))
            return rc;
        for (uint32_t k = 0; k < t.df; k++) {
            if (roaring_bitmap_contains(s->deleted, docids[k])) {
                df--;
                cf -= tfs[k];
            }
        }
        free(docids);
        free(tfs);
    }
    if (!any || df == 0)
        return kz_error_set(KZ_ENOTFOUND, "term \"%.*s\" not in the index", (int)KZ_MIN(len, 200), term);
    out->ordinal = UINT32_MAX; /* an index of several segments has no ordinals */
    out->df = (uint32_t)df;
    out->cf = cf;
    return KZ_OK;
}

int kz_index_term_at(kz_index *ix, kz_term *out, uint32_t ordinal)
{
    int rc = one_segment(ix, "kz_index_term_at");
    return rc ? rc : kz_segment_term_at(ix->seg[0].sg, out, ordinal);
}

int kz_index_term_prefix(kz_index *ix, uint32_t *first, uint32_t *count, const char *prefix, size_t len)
{
    int rc = one_segment(ix, "kz_index_term_prefix");
    return rc ? rc : kz_segment_term_prefix(ix->seg[0].sg, first, count, prefix, len);
}

int kz_index_postings(kz_index *ix, const kz_term *term, uint32_t **docids, uint32_t **tfs, uint32_t **positions)
{
    int rc = one_segment(ix, "kz_index_postings");
    return rc ? rc : kz_segment_postings(ix->seg[0].sg, term, docids, tfs, positions);
}

/* ---------------------------------------------------------------- fields */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends a copy of name[0 .. len) to *names (n of them, room for cap). */
static int push_name(char ***names, size_t *n, size_t *cap, const char *name, size_t len)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        char **grown = realloc(*names, c * sizeof *grown);
        if (!grown)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        *names = grown;
        *cap = c;
    }
    if (!((*names)[*n] = strndup(name, len)))
        return kz_error_set(KZ_ENOMEM, "out of memory");
    (*n)++;
    return KZ_OK;
}

/* Adds the field names segment sg has terms of to *names (n, cap). */
static int segment_field_names(kz_segment *sg, char ***names, size_t *n, size_t *cap)
{
    char mark = KZ_FIELD_MARK;
    uint32_t first, count;
    int rc = kz_segment_term_prefix(sg, &first, &count, &mark, 1);
    kz_term *t = malloc(sizeof *t);
    if (!t)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    for (uint32_t o = first; rc == KZ_OK && o < first + count;) {
        if ((rc = kz_segment_term_at(sg, t, o)))
            break;
        const char *sep = memchr(t->text + 1, KZ_FIELD_SEP, t->len - 1);
        size_t len = sep ? (size_t)(sep - t->text - 1) : 0;
        if (!sep || !kz_field_name_ok(t->text + 1, len)) {
            o++; /* no field term: not ours to list */
            continue;
        }
        /* The title's words are no metadata field: passed over. */
        int title = len == strlen(KZ_TITLE_FIELD) && memcmp(t->text + 1, KZ_TITLE_FIELD, len) == 0;
        if (!title && (rc = push_name(names, n, cap, t->text + 1, len)))
            break;
        /* Past every term of this field. */
        uint32_t f_first, f_count;
        if ((rc = kz_segment_term_prefix(sg, &f_first, &f_count, t->text, len + 2)))
            break;
        o = f_count && f_first + f_count > o ? f_first + f_count : o + 1;
    }
    free(t);
    return rc;
}

/* The day a date term names (0x01 name 0x1F d D YYYY-MM-DD), prefix n
 * bytes long, into day (11 bytes). */
static void term_day(char *day, const kz_term *t, size_t n)
{
    size_t len = t->len > n ? KZ_MIN(t->len - n, (size_t)10) : 0;
    memcpy(day, t->text + n, len);
    day[len] = 0;
}

static int field_info(kz_index *ix, kz_field_info *f, kz_term *lo, kz_term *hi)
{
    char prefix[KZ_FIELD_PREFIX_MAX];
    size_t flen = strlen(f->name), n;
    uint64_t count;
    char day[3] = { KZ_FIELD_DATE, KZ_DATE_TERM_DAY, 0 }, month[3] = { KZ_FIELD_DATE, KZ_DATE_TERM_MONTH, 0 };
    char kw[2] = { KZ_FIELD_KEYWORD, 0 }, words[2] = { KZ_FIELD_WORD, 0 };
    for (size_t p = 0; p < ix->n_parts && f->type == KZ_FIELD_TYPE_AUTO; p++)
        f->type = kz_field_type_of(ix->parts[p].manifest.fields, ix->parts[p].manifest.n_fields, f->name, flen);
    int rc = kz_index_prefix_extent(ix, prefix, kz_field_prefix(prefix, f->name, flen, kw), &f->keywords, NULL, NULL);
    if (rc == KZ_OK)
        rc = kz_index_prefix_extent(ix, prefix, kz_field_prefix(prefix, f->name, flen, words), &f->words, NULL, NULL);
    /* Every date has a month term; the days, those given to the day. */
    if (rc == KZ_OK && (rc = kz_index_prefix_extent(ix, prefix, n = kz_field_prefix(prefix, f->name, flen, month),
                                                    &count, lo, hi)) == KZ_OK &&
        (f->has_dates = count > 0)) {
        term_day(f->first_day, lo, n);
        term_day(f->last_day, hi, n);
        if ((rc = kz_index_prefix_extent(ix, prefix, n = kz_field_prefix(prefix, f->name, flen, day), &count, lo,
                                         hi)) == KZ_OK &&
            count) {
            term_day(f->first_day, lo, n);
            term_day(f->last_day, hi, n);
        }
    }
    if (rc == KZ_OK && (rc = kz_index_prefix_extent(ix, prefix, n = kz_field_prefix(prefix, f->name, flen, KZ_NUMBER_FULL_KIND),
                                                    &count, lo, hi)) == KZ_OK &&
        (f->has_numbers = count > 0)) {
        uint64_t key;
        f->min = kz_field_term_key(&key, lo->text + n, lo->len - n) == 0 ? kz_field_number_of_key(key) : NAN;
        f->max = kz_field_term_key(&key, hi->text + n, hi->len - n) == 0 ? kz_field_number_of_key(key) : NAN;
    }
    return rc;
}

int kz_index_fields(kz_index *ix, kz_field_info **out, size_t *n_out)
{
    char **names = NULL;
    size_t n = 0, cap = 0, kept = 0;
    kz_field_info *f = NULL;
    kz_term *lo = malloc(sizeof *lo), *hi = malloc(sizeof *hi);
    int rc = lo && hi ? KZ_OK : kz_error_set(KZ_ENOMEM, "out of memory");
    *out = NULL;
    *n_out = 0;
    for (size_t i = 0; rc == KZ_OK && i < ix->n_seg; i++)
        rc = segment_field_names(ix->seg[i].sg, &names, &n, &cap);
    if (rc == KZ_OK && n) {
        qsort(names, n, sizeof *names, cmp_names);
        if (!(f = calloc(n, sizeof *f)))
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == KZ_OK && i < n; i++) {
        if (kept && strcmp(f[kept - 1].name, names[i]) == 0)
            continue;
        f[kept].name = names[i];
        names[i] = NULL;
        rc = field_info(ix, &f[kept++], lo, hi);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(lo);
    free(hi);
    if (rc) {
        kz_field_infos_free(f, kept);
        return rc;
    }
    *out = f;
    *n_out = kept;
    return KZ_OK;
}

void kz_field_infos_free(kz_field_info *f, size_t n)
{
    for (size_t i = 0; f && i < n; i++)
        free(f[i].name);
    free(f);
}

/* ---------------------------------------------------------------- check */

int kz_index_check(kz_index *ix, kz_check_fn fn, void *ctx)
{
    int worst = KZ_OK;
    for (size_t i = 0; i < ix->n_seg; i++) {
        int rc = kz_segment_check(ix->seg[i].sg, fn, ctx);
        if (rc && (worst == KZ_OK || rc != KZ_ECORRUPT))
            worst = rc;
    }
    return worst;
}

/* Whether term ordinal o of slot s has a live document. */
static int live_term(segment_slot *s, uint32_t o, kz_term *t, int *live)
{
    int rc = kz_segment_entry(s->sg, t, o);
    if (rc)
        return rc;
    if (!s->deleted) {
        *live = 1;
        return KZ_OK;
    }
    kz_plist pl;
    uint64_t gone = 0;
    if ((rc = kz_segment_plist(s->sg, &pl, o)))
        return rc;
    rc = deleted_in_list(s, &pl, &gone);
    kz_plist_close(&pl);
    *live = gone < t->df;
    return rc;
}

static int extent_read(kz_index *ix, const char *prefix, size_t len, uint64_t *count, kz_term *lo, kz_term *hi)
{
    *count = 0;
    kz_term *t = malloc(sizeof *t);
    if (!t)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    int rc = KZ_OK;
    for (size_t i = 0; i < ix->n_seg && rc == KZ_OK; i++) {
        segment_slot *s = &ix->seg[i];
        uint32_t first, n;
        if ((rc = kz_segment_term_prefix(s->sg, &first, &n, prefix, len)) || n == 0)
            continue;
        if (!lo && !hi && !s->deleted) {
            *count += n; /* every term is some live document's */
            continue;
        }
        /* The least and the greatest of them a live document has: from
         * each end inward (at once, without deletions). */
        int live = 0;
        uint32_t a = first, b = first + n;
        for (; a < b && !live && rc == KZ_OK; a++)
            rc = live_term(s, a, t, &live);
        if (rc || !live)
            continue;
        if (lo && (*count == 0 || kz_bytes_cmp(t->text, t->len, lo->text, lo->len) < 0))
            *lo = *t;
        live = 0;
        for (; b > a - 1 && !live && rc == KZ_OK; b--)
            rc = live_term(s, b - 1, t, &live);
        if (rc)
            break;
        if (hi && (*count == 0 || kz_bytes_cmp(t->text, t->len, hi->text, hi->len) > 0))
            *hi = *t;
        *count += n;
    }
    free(t);
    return rc;
}

int kz_index_prefix_extent(kz_index *ix, const char *prefix, size_t len, uint64_t *count, kz_term *lo, kz_term *hi)
{
    if (len > KZ_FIELD_PREFIX_MAX)
        return extent_read(ix, prefix, len, count, lo, hi);
    pthread_mutex_lock(&ix->pool_lock);
    for (size_t i = 0; i < ix->n_extents; i++) {
        const prefix_extent *x = &ix->extents[i];
        if (x->len == len && memcmp(x->prefix, prefix, len) == 0) {
            *count = x->count;
            if (x->count && lo)
                *lo = x->lo;
            if (x->count && hi)
                *hi = x->hi;
            pthread_mutex_unlock(&ix->pool_lock);
            return KZ_OK;
        }
    }
    pthread_mutex_unlock(&ix->pool_lock);
    prefix_extent *x = malloc(sizeof *x);
    if (!x)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    int rc = extent_read(ix, prefix, len, &x->count, &x->lo, &x->hi);
    if (rc == KZ_OK) {
        *count = x->count;
        if (x->count && lo)
            *lo = x->lo;
        if (x->count && hi)
            *hi = x->hi;
        memcpy(x->prefix, prefix, len);
        x->len = len;
        pthread_mutex_lock(&ix->pool_lock);
        if (!ix->extents && !(ix->extents = malloc(EXTENT_CACHE * sizeof *ix->extents)))
            ix->n_extents = EXTENT_CACHE; /* no room: read every time */
        if (ix->n_extents < EXTENT_CACHE)
            ix->extents[ix->n_extents++] = *x;
        pthread_mutex_unlock(&ix->pool_lock);
    }
    free(x);
    return rc;
}
