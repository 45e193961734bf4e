/*
 * compaction.c: merging an index's segments, by a tiered policy or all
 * into one.
 *
 * Each add makes a segment, and a query does some work once per segment,
 * so segments are merged: adjacent ones only, so that docids keep the
 * order documents were added in. A merge reads the live documents of its
 * segments, in order, from their stores and builds one segment of them
 * with the builder (analysis is deterministic: the same terms, positions
 * and lengths), in the memory budget of the build options; the new
 * segment takes the place of the merged ones in one new generation of the
 * manifest, so readers never see half a merge and never wait for one.
 * Deleted documents are dropped. (Merging the postings themselves, without
 * analysing the text again, would be faster; this way is correct by
 * construction, and the builder already bounds its memory.)
 *
 * The tiered policy: a segment's tier is 0 below KZ_TIER_BASE live
 * documents, then one more for each factor of KZ_MERGE_FACTOR. A run of
 * KZ_MERGE_FACTOR adjacent segments of one tier is merged (into the next
 * tier), and a segment more than half of whose documents were deleted is
 * rewritten; again until nothing qualifies. The number of segments stays
 * below KZ_MERGE_FACTOR per tier, logarithmic in the index's size.
 */
#include "kzint.h"
#include "format.h"

#include <stdio.h>
#include <stdlib.h>

#define KZ_MERGE_FACTOR 8
#define KZ_TIER_BASE 1000
#define MAX_META 256

static unsigned tier_of(uint64_t live)
{
    unsigned t = 0;
    for (uint64_t size = KZ_TIER_BASE; live >= size && t < 30; size *= KZ_MERGE_FACTOR)
        t++;
    return t;
}

/* The range [*first, *first + *count) to merge next, by the policy (or
 * every segment with all); 0 when there is none. */
static int choose(const kz_manifest *m, int all, size_t *first, size_t *count)
{
    size_t n = m->n_segments;
    if (all) {
        int deleted = 0;
        for (size_t i = 0; i < n; i++)
            deleted |= m->segments[i].deleted != NULL;
        *first = 0;
        *count = n;
        return n > 1 || deleted;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t docs = m->segments[i].docs;
        uint64_t gone = m->segments[i].deleted ? roaring_bitmap_get_cardinality(m->segments[i].deleted) : 0;
        if (gone > 0 && 2 * gone > docs) {
            *first = i;
            *count = 1;
            return 1;
        }
    }
    /* The newest run of KZ_MERGE_FACTOR adjacent segments of one tier. */
    for (size_t end = n; end >= KZ_MERGE_FACTOR; end--) {
        size_t start = end - KZ_MERGE_FACTOR;
        unsigned t = UINT32_MAX;
        int same = 1;
        for (size_t i = start; i < end && same; i++) {
            const kz_manifest_segment *s = &m->segments[i];
            uint64_t live = s->docs - (s->deleted ? roaring_bitmap_get_cardinality(s->deleted) : 0);
            unsigned ti = tier_of(live);
            same = t == UINT32_MAX || ti == t;
            t = ti;
        }
        if (same) {
            *first = start;
            *count = KZ_MERGE_FACTOR;
            return 1;
        }
    }
    return 0;
}

#define RELEASE_EVERY (2u << 20) /* bytes of text */

/* Feeds the live documents of segment file dir/name to b, in order. */
static int feed_segment(kz_builder *b, const char *dir, const kz_manifest_segment *ms)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, ms->name);
    kz_segment *sg;
    int rc = kz_segment_open(&sg, path);
    if (rc)
        return rc;
    kz_doc_field *meta = malloc(MAX_META * sizeof *meta);
    if (!meta) {
        kz_segment_free(sg);
        return kz_error_set(KZ_ENOMEM, "out of memory");
    }
    uint64_t read = 0;
    for (uint32_t d = 0; d < ms->docs && rc == KZ_OK; d++) {
        if (ms->deleted && roaring_bitmap_contains(ms->deleted, d))
            continue;
        kz_doc doc;
        char *text = NULL;
        size_t len = 0;
        if ((rc = kz_segment_doc(sg, &doc, d, meta, MAX_META)) ||
            (rc = kz_segment_doc_text(sg, &text, &len, d)))
            break;
        if (doc.n_meta > MAX_META) {
            free(text);
            rc = kz_error_set(KZ_ELIMIT, "document %.*s has more than %d metadata fields: cannot merge it",
                              (int)KZ_MIN(doc.id_len, 200), doc.id, MAX_META);
            break;
        }
        rc = kz_builder_add_document(b, doc.id, doc.id_len, doc.title, doc.title_len, text, len, meta, doc.n_meta);
        free(text);
        read += len;
        if (read > RELEASE_EVERY) { /* the pages read so far stay out of the merge's memory */
            kz_segment_release(sg);
            read = 0;
        }
    }
    free(meta);
    kz_segment_free(sg);
    return rc;
}

int kz_index_merge(const char *index_dir, const kz_build_options *opts, unsigned flags, unsigned *merges)
{
    *merges = 0;
    for (;;) {
        kz_build_options o = KZ_BUILD_OPTIONS_INIT;
        if (opts)
            o = *opts;
        o.version = KZ_BUILD_OPTIONS_VERSION;
        o.mode = KZ_BUILD_ADD;
        o.on_progress = NULL;
        kz_builder *b;
        int rc = kz_builder_new(&b, index_dir, &o);
        if (rc)
            return rc;
        /* The builder holds the lock: the manifest read now is the one
         * the merge replaces segments of. */
        kz_manifest m;
        int exists;
        size_t first = 0, count = 0;
        rc = kz_manifest_current(&m, index_dir, &exists);
        if (rc == KZ_OK && !exists)
            rc = kz_error_set(KZ_ENOTFOUND, "no index in %s", index_dir);
        int go = rc == KZ_OK && choose(&m, flags & KZ_MERGE_ALL, &first, &count);
        if (go) {
            kz_builder_merge_range(b, first, count);
            for (size_t i = first; rc == KZ_OK && i < first + count; i++)
                rc = feed_segment(b, index_dir, &m.segments[i]);
            if (rc == KZ_OK)
                rc = kz_builder_commit(b, NULL);
        }
        kz_manifest_free(&m);
        kz_builder_free(b);
        if (rc || !go)
            return rc;
        (*merges)++;
        if (flags & KZ_MERGE_ALL)
            return KZ_OK;
    }
}
