/*
 * update.c: an index brought up to date with the sources it records.
 *
 * Every recorded source is read again. A document is compared, by id,
 * with the live document of that id: a new id, or the same id with another
 * title, text or metadata (after the same UTF-8 repair the build makes),
 * goes into one new segment, where it replaces the old version; an
 * unchanged one is passed over. Then the live documents whose ids no
 * source gave any more are deleted. For a folder that is the files added,
 * changed and removed; for JSON Lines, the documents by id.
 *
 * Content is compared by an XXH3 of the repaired fields, so the stored
 * text of every live document is read once: an update costs reading the
 * index's store and the sources, and indexing only what changed.
 */
#include "kzint.h"

#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

typedef struct known_doc {
    uint64_t id_hash; /* 0: a free slot */
    char *id;
    size_t id_len;
    uint64_t content;
    int seen;
} known_doc;

typedef struct known {
    known_doc *slot;
    size_t cap, n;
    kz_buf scratch;
    uint64_t unchanged, changed;
} known;

static uint64_t hash_id(const char *id, size_t len)
{
    uint64_t h = XXH3_64bits(id, len);
    return h ? h : 1;
}

/* The fields' hash, each repaired and length-prefixed. */
static int content_hash(known *k, const char *title, size_t title_len, const char *text, size_t text_len,
                        const kz_doc_field *meta, size_t n_meta, uint64_t *out)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    XXH3_64bits_reset(st);
    const char *parts[2] = { title, text };
    size_t lens[2] = { title_len, text_len };
    int rc = KZ_OK;
    for (size_t i = 0; i < 2 + 2 * n_meta && rc == KZ_OK; i++) {
        const char *p = i < 2 ? parts[i] : i % 2 == 0 ? meta[(i - 2) / 2].key : meta[(i - 2) / 2].value;
        size_t n = i < 2 ? lens[i] : i % 2 == 0 ? meta[(i - 2) / 2].key_len : meta[(i - 2) / 2].value_len;
        if (kz_utf8_sanitize(&k->scratch, p, n) == (size_t)-1) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
            break;
        }
        uint64_t len = k->scratch.len;
        XXH3_64bits_update(st, &len, sizeof len);
        XXH3_64bits_update(st, k->scratch.data ? k->scratch.data : (const uint8_t *)"", k->scratch.len);
    }
    *out = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return rc;
}

static known_doc *find(known *k, const char *id, size_t len)
{
    uint64_t h = hash_id(id, len);
    for (size_t j = h & (k->cap - 1); k->slot[j].id_hash; j = (j + 1) & (k->cap - 1))
        if (k->slot[j].id_hash == h && k->slot[j].id_len == len && memcmp(k->slot[j].id, id, len) == 0)
            return &k->slot[j];
    return NULL;
}

/* Every live document of ix: id and content hash. */
static int load_known(known *k, kz_index *ix)
{
    kz_index_info info;
    kz_index_get_info(ix, &info);
    k->cap = 16;
    while (k->cap < 2 * info.docs + 2)
        k->cap *= 2;
    if (!(k->slot = calloc(k->cap, sizeof *k->slot)))
        return kz_error_set(KZ_ENOMEM, "out of memory");
    kz_doc_field meta[256];
    for (uint64_t d = 0; d < info.docids; d++) {
        kz_doc doc;
        int rc = kz_index_doc(ix, &doc, (uint32_t)d, meta, 256);
        if (rc == KZ_ENOTFOUND)
            continue; /* deleted */
        if (rc)
            return rc;
        char *text = NULL;
        size_t len = 0;
        if ((rc = kz_index_doc_text(ix, &text, &len, (uint32_t)d)))
            return rc;
        uint64_t content;
        rc = content_hash(k, doc.title, doc.title_len, text, len, meta, KZ_MIN(doc.n_meta, (size_t)256), &content);
        free(text);
        if (rc)
            return rc;
        uint64_t h = hash_id(doc.id, doc.id_len);
        size_t j = h & (k->cap - 1);
        while (k->slot[j].id_hash)
            j = (j + 1) & (k->cap - 1);
        known_doc *s = &k->slot[j];
        if (!(s->id = malloc(doc.id_len ? doc.id_len : 1)))
            return kz_error_set(KZ_ENOMEM, "out of memory");
        memcpy(s->id, doc.id, doc.id_len);
        s->id_len = doc.id_len;
        s->id_hash = h;
        s->content = content;
        k->n++;
    }
    return KZ_OK;
}

/* The build's filter: an unchanged document is passed over. */
static int take_if_changed(void *ctx, const kz_jsonl_doc *doc)
{
    known *k = ctx;
    known_doc *s = find(k, doc->id, doc->id_len);
    if (!s) {
        k->changed++;
        return 1;
    }
    s->seen = 1;
    uint64_t content;
    int rc = content_hash(k, doc->title, doc->title_len, doc->text, doc->text_len, (const kz_doc_field *)doc->meta,
                          doc->n_meta, &content);
    if (rc)
        return rc;
    if (content == s->content) {
        k->unchanged++;
        return 0;
    }
    k->changed++;
    return 1;
}

static void known_free(known *k)
{
    for (size_t j = 0; j < k->cap; j++)
        free(k->slot[j].id);
    free(k->slot);
    kz_buf_free(&k->scratch);
}

int kz_index_update(const char *index_dir, const kz_build_options *opts, kz_update_stats *out)
{
    memset(out, 0, sizeof *out);
    known k = { 0 };
    kz_index *ix = NULL;
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
    if (rc || (rc = kz_index_open(&ix, index_dir)))
        goto done;
    n_sources = kz_index_source_count(ix);
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
        if (strcmp(kz_index_source(ix, i), "-") == 0) {
            rc = kz_error_set(KZ_EINVAL, "the index in %s was built from standard input, which cannot be read "
                              "again: update it with 'kzsearch add' and 'kzsearch delete'", index_dir);
            goto done;
        }
        if (!(sources[i] = strdup(kz_index_source(ix, i)))) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
            goto done;
        }
    }
    if ((rc = load_known(&k, ix)))
        goto done;
    kz_index_free(ix);
    ix = NULL;
    kz_builder_set_filter(b, take_if_changed, &k);
    /* A source that is gone is an error, not a reason to delete all it
     * held: nothing changes. */
    for (size_t i = 0; i < n_sources && rc == KZ_OK; i++)
        rc = kz_builder_add_source(b, sources[i]);
    kz_build_stats st;
    if (rc == KZ_OK)
        rc = kz_builder_commit(b, &st);
    if (rc)
        goto done;
    out->changed = k.changed;
    out->unchanged = k.unchanged;
    out->skipped = st.skipped;
    /* What no source gave any more. */
    if (!(gone = calloc(k.n ? k.n : 1, sizeof *gone))) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t j = 0; j < k.cap; j++) {
        known_doc *s = &k.slot[j];
        if (!s->id_hash || s->seen)
            continue;
        if (!(gone[n_gone] = strndup(s->id, s->id_len))) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
            goto done;
        }
        n_gone++;
    }
    if (n_gone) {
        uint8_t *found = calloc(n_gone, 1);
        rc = found ? kz_index_delete_locked(index_dir, (const char *const *)gone, n_gone, found, &out->deleted)
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
    kz_index_free(ix);
    known_free(&k);
    return rc;
}
