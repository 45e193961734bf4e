/*
 * update.c: an index brought up to date with the sources it records.
 *
 * Every recorded source is read again. A document is looked up by id
 * among the live documents (each segment's IDS section): a new id, or the
 * same id with another fingerprint (title, text and metadata after the
 * same UTF-8 repair the build makes; DOCHASH), goes into one new segment,
 * where it replaces the old version; an unchanged one is passed over. Then
 * the live documents that no source gave any more are deleted. For a
 * folder that is the files added, changed and removed; for JSON Lines,
 * the documents by id.
 *
 * An update reads the sources and, of the index, ids and fingerprints
 * only: no stored text. It holds a bitmap of the documents seen, an
 * eighth of a byte each at most.
 */
#include "kzint.h"

#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

typedef struct known {
    kz_index *ix;
    roaring_bitmap_t *seen; /* docids in ix of the live documents a source gave */
    XXH3_state_t *fingerprint;
    kz_buf clean;
    uint64_t unchanged, changed;
} known;

/* s as the build stores it: *out points at s itself when it is valid
 * UTF-8, else at k->clean. */
static int repaired(known *k, const char *s, size_t n, const char **out, size_t *out_len)
{
    if (kz_utf8_count_invalid(s, n) == 0) {
        *out = s;
        *out_len = n;
        return KZ_OK;
    }
    if (kz_utf8_sanitize(&k->clean, s, n) == (size_t)-1)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    *out = (const char *)k->clean.data;
    *out_len = k->clean.len;
    return KZ_OK;
}

/* The document's fingerprint, as the build computes it (FORMAT.md
 * "DOCHASH"). */
static int fingerprint(known *k, const kz_jsonl_doc *doc, uint64_t *out)
{
    XXH3_64bits_reset(k->fingerprint);
    for (size_t i = 0; i < 2 + 2 * doc->n_meta; i++) {
        const char *p;
        size_t n;
        if (i == 0)
            p = doc->title, n = doc->title_len;
        else if (i == 1)
            p = doc->text, n = doc->text_len;
        else if (i % 2 == 0)
            p = doc->meta[(i - 2) / 2].key, n = doc->meta[(i - 2) / 2].key_len;
        else
            p = doc->meta[(i - 2) / 2].value, n = doc->meta[(i - 2) / 2].value_len;
        int rc = repaired(k, p, n, &p, &n);
        if (rc)
            return rc;
        kz_fingerprint_field(k->fingerprint, p, n);
    }
    *out = XXH3_64bits_digest(k->fingerprint);
    return KZ_OK;
}

/* The build's filter: an unchanged document is passed over. */
static int take_if_changed(void *ctx, const kz_jsonl_doc *doc)
{
    known *k = ctx;
    const char *id = NULL;
    size_t id_len = 0;
    uint32_t docid;
    uint64_t old, now;
    int rc = repaired(k, doc->id, doc->id_len, &id, &id_len);
    if (rc)
        return rc;
    rc = kz_index_find(k->ix, &docid, id, id_len);
    if (rc == KZ_ENOTFOUND) {
        k->changed++;
        return 1;
    }
    if (rc || (rc = kz_index_doc_fingerprint(k->ix, docid, &old)) || (rc = fingerprint(k, doc, &now)))
        return rc;
    roaring_bitmap_add(k->seen, docid);
    if (now == old) {
        k->unchanged++;
        return 0;
    }
    k->changed++;
    return 1;
}

/* The ids of ix's live documents that no source gave (*gone, n_gone of
 * them, malloc'd). */
static int unseen_ids(known *k, char ***gone, size_t *n_gone)
{
    kz_index_info info;
    kz_index_get_info(k->ix, &info);
    uint64_t n = info.docs > roaring_bitmap_get_cardinality(k->seen)
                     ? info.docs - roaring_bitmap_get_cardinality(k->seen) : 0;
    *n_gone = 0;
    if (!(*gone = calloc(n ? n : 1, sizeof **gone)))
        return kz_error_set(KZ_ENOMEM, "out of memory");
    for (uint64_t d = 0; d < info.docids; d++) {
        if (roaring_bitmap_contains(k->seen, (uint32_t)d))
            continue;
        kz_doc doc;
        int rc = kz_index_doc(k->ix, &doc, (uint32_t)d, NULL, 0);
        if (rc == KZ_ENOTFOUND)
            continue; /* deleted */
        if (rc)
            return rc;
        if (*n_gone == n)
            return kz_error_set(KZ_ECORRUPT, "index is corrupt: more live documents than it counts");
        if (!((*gone)[*n_gone] = strndup(doc.id, doc.id_len)))
            return kz_error_set(KZ_ENOMEM, "out of memory");
        (*n_gone)++;
    }
    return KZ_OK;
}

int kz_index_update(const char *index_dir, const kz_build_options *opts, kz_update_stats *out)
{
    memset(out, 0, sizeof *out);
    known k = { 0 };
    kz_builder *b = NULL;
    char **sources = NULL, **gone = NULL;
    size_t n_sources = 0, n_gone = 0;
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    if (opts)
        o = *opts;
    o.version = KZ_BUILD_OPTIONS_VERSION;
    o.mode = KZ_BUILD_ADD;
    /* The builder holds the index's lock from here to the end: what is
     * read, added and deleted is one generation's. */
    int rc = kz_builder_new(&b, index_dir, &o);
    if (rc || (rc = kz_index_open(&k.ix, index_dir)))
        goto done;
    if (!(k.seen = roaring_bitmap_create()) || !(k.fingerprint = XXH3_createState())) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    n_sources = kz_index_source_count(k.ix);
    if (n_sources == 0) {
        rc = kz_error_set(KZ_EINVAL, "the index in %s records no sources (it was built before they were "
                          "recorded): rebuild it once with 'kzsearch index'", index_dir);
        goto done;
    }
    if (!(sources = calloc(n_sources, sizeof *sources))) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_sources; i++) {
        if (strcmp(kz_index_source(k.ix, i), "-") == 0) {
            rc = kz_error_set(KZ_EINVAL, "the index in %s was built from standard input, which cannot be read "
                              "again: update it with 'kzsearch add' and 'kzsearch delete'", index_dir);
            goto done;
        }
        if (!(sources[i] = strdup(kz_index_source(k.ix, i)))) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
            goto done;
        }
    }
    kz_builder_set_filter(b, take_if_changed, &k);
    /* A source that is gone is an error, not a reason to delete all it
     * held: nothing changes. */
    for (size_t i = 0; i < n_sources && rc == KZ_OK; i++)
        rc = kz_builder_add_source(b, sources[i]);
    /* Input that could not be read or parsed may hold documents the index
     * has: they would look gone, and be deleted. Nothing changes then. */
    static const kz_problem unread[] = { KZ_PROBLEM_UNREADABLE, KZ_PROBLEM_BINARY, KZ_PROBLEM_MALFORMED_JSON,
                                         KZ_PROBLEM_BAD_FIELD };
    uint64_t not_read = 0;
    for (size_t i = 0; i < sizeof unread / sizeof *unread; i++)
        not_read += kz_builder_problem_count(b, unread[i]);
    if (rc == KZ_OK && not_read)
        rc = kz_error_set(KZ_EIO, "%llu piece%s of input could not be read or parsed (reported above), and the "
                          "documents in them would have been deleted: the index is as it was",
                          (unsigned long long)not_read, not_read == 1 ? "" : "s");
    /* What no source gave any more, found before the new segment commits
     * (which deletes the old versions of what changed). */
    if (rc == KZ_OK)
        rc = unseen_ids(&k, &gone, &n_gone);
    kz_delete_list also = { (const char *const *)gone, n_gone, 0, 0 };
    /* The new segment and the deletions are one generation. */
    kz_builder_also_delete(b, &also);
    kz_build_stats st;
    if (rc == KZ_OK)
        rc = kz_builder_commit(b, &st);
    if (rc)
        goto done;
    out->changed = k.changed;
    out->unchanged = k.unchanged;
    out->skipped = st.skipped;
    out->deleted = also.deleted;
    if (also.n && !also.applied) { /* nothing new: the deletions alone */
        uint8_t *found = calloc(also.n, 1);
        rc = found ? kz_index_delete_locked(index_dir, also.ids, also.n, found, &out->deleted)
                   : kz_error_set(KZ_ENOMEM, "out of memory");
        free(found);
    }
done:
    for (size_t i = 0; sources && i < n_sources; i++)
        free(sources[i]);
    free(sources);
    for (size_t i = 0; i < n_gone; i++)
        free(gone[i]);
    free(gone);
    kz_builder_free(b);
    kz_index_free(k.ix);
    if (k.seen)
        roaring_bitmap_free(k.seen);
    XXH3_freeState(k.fingerprint);
    kz_buf_free(&k.clean);
    return rc;
}
