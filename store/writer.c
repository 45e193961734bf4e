/*
 * writer.c: changes to an index folder, each a new generation of its
 * manifest, made under the folder's lock.
 *
 * A change writes what is new first (a segment file, fsynced and renamed
 * into place by the builder), then the new manifest (manifest.c: beside
 * the old one, fsynced, renamed over it, the folder fsynced), and only then
 * removes the files the new generation no longer names. A process killed
 * at any moment leaves the old generation whole: the next writer removes
 * the files no manifest names. A reader that opened an old generation
 * keeps its files open, and so readable, after they are removed.
 */
#include "kzint.h"
#include "format.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

int kz_index_lock(const char *dir, int *fd_out)
{
    char path[4200];
    struct stat st;
    *fd_out = -1;
    snprintf(path, sizeof path, "%s/%s", dir, KZ_SHARDS_FILE);
    if (stat(path, &st) == 0)
        return kz_error_set(KZ_EINVAL, "%s is a shard set, which is not changed itself: change its shards, then "
                            "make the set again with 'kzsearch shards create'", dir);
    int rc = kz_mkdir_p(dir);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/%s", dir, KZ_LOCK_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return kz_error_errno(KZ_EIO, errno, "cannot open the lock file in %s", dir);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        return e == EWOULDBLOCK ? kz_error_set(KZ_ELOCKED, "another kzsearch is writing the index in %s", dir)
                                : kz_error_errno(KZ_EIO, e, "cannot lock %s", dir);
    }
    *fd_out = fd;
    return KZ_OK;
}

void kz_index_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

int kz_manifest_current(kz_manifest *out, const char *dir, int *exists)
{
    *exists = 0;
    int rc = kz_manifest_read(out, dir);
    if (rc == KZ_OK) {
        *exists = 1;
        return KZ_OK;
    }
    if (rc != KZ_ENOTFOUND)
        return rc;
    /* No manifest: index.kz alone is generation 0, one segment. */
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, KZ_INDEX_FILE);
    kz_segment *sg;
    rc = kz_segment_open(&sg, path);
    if (rc == KZ_ENOTFOUND)
        return KZ_OK; /* no index at all */
    if (rc)
        return rc;
    kz_index_info si;
    kz_segment_get_info(sg, &si);
    kz_segment_free(sg);
    out->segments = calloc(1, sizeof *out->segments);
    if (!out->segments || !(out->segments[0].name = strdup(KZ_INDEX_FILE))) {
        kz_manifest_free(out);
        return kz_error_set(KZ_ENOMEM, "out of memory");
    }
    out->n_segments = 1;
    out->segments[0].docs = si.docs;
    *exists = 1;
    return KZ_OK;
}

int kz_segment_file_name(char *out, size_t size, uint64_t generation)
{
    return snprintf(out, size, "seg-%06llu.kz", (unsigned long long)generation) >= (int)size
               ? kz_error_set(KZ_EINVAL, "segment name too long")
               : KZ_OK;
}

/* Whether name is a file a writer makes: a segment, a manifest, the one
 * file of an index without a manifest, or a temporary one of these. */
static int is_index_file(const char *name)
{
    return strncmp(name, "seg-", 4) == 0 || strncmp(name, KZ_MANIFEST_FILE ".tmp-", 13) == 0 ||
           strcmp(name, KZ_INDEX_FILE) == 0 || strncmp(name, KZ_INDEX_FILE ".tmp-", 13) == 0;
}

void kz_index_remove_unnamed(const char *dir, const kz_manifest *m)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_index_file(e->d_name))
            continue;
        int named = 0;
        for (size_t i = 0; m && i < m->n_segments && !named; i++)
            named = strcmp(m->segments[i].name, e->d_name) == 0;
        if (named)
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

/* ---------------------------------------------------------------- ids */

/* The ids an added segment or a delete names, sorted by their hash: the
 * order of the IDS section, so that each segment is searched in one pass
 * forward. which is the caller's number of the id (id_at gives its bytes,
 * to compare: hashes collide). */
typedef struct id_query {
    uint64_t hash;
    uint32_t which;
} id_query;

typedef int (*id_at_fn)(void *ctx, uint32_t which, const char **id, size_t *len);

static int id_query_cmp(const void *x, const void *y)
{
    const id_query *a = x, *b = y;
    if (a->hash != b->hash)
        return a->hash < b->hash ? -1 : 1;
    return a->which < b->which ? -1 : a->which > b->which;
}

static uint64_t ids_hash_at(const uint8_t *rec, uint64_t i) { return kz_load_u64(rec + i * KZ_IDS_SIZE + KZ_IDS_HASH); }

/* Marks deleted, in m's segments [0, n_old), every live document whose id
 * is one of q's: *deleted counts them, and found[which] is set for each id
 * found (if found is not NULL). Each segment's id lookup (IDS) is searched
 * once for every query, in hash order. */
static int delete_matching(const char *dir, kz_manifest *m, size_t n_old, const id_query *q, size_t nq,
                           id_at_fn id_at, void *ctx, uint64_t *deleted, uint8_t *found)
{
    char path[4400];
    int rc = KZ_OK;
    *deleted = 0;
    for (size_t i = 0; i < n_old && rc == KZ_OK; i++) {
        kz_manifest_segment *ms = &m->segments[i];
        kz_segment *sg;
        snprintf(path, sizeof path, "%s/%s", dir, ms->name);
        if ((rc = kz_segment_open(&sg, path)))
            break;
        const uint8_t *rec;
        uint64_t n, at = 0;
        roaring_bitmap_t *fresh = roaring_bitmap_create(); /* deleted by this change */
        if (!fresh) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
            goto next;
        }
        if ((rc = kz_segment_ids(sg, &rec, &n)))
            goto next;
        for (size_t j = 0; j < nq && rc == KZ_OK; j++) {
            at = kz_ids_lower_bound(rec, at, n, q[j].hash);
            for (uint64_t r = at; r < n && ids_hash_at(rec, r) == q[j].hash; r++) {
                uint32_t d = kz_load_u32(rec + r * KZ_IDS_SIZE + KZ_IDS_DOCID);
                if (d >= ms->docs) {
                    rc = kz_error_set(KZ_ECORRUPT, "index is corrupt: an IDS record of %s names a document past "
                                      "the last (run 'kzsearch check')", ms->name);
                    break;
                }
                /* Deleted before this change (not by an id named twice). */
                if (ms->deleted && roaring_bitmap_contains(ms->deleted, d) && !roaring_bitmap_contains(fresh, d))
                    continue;
                kz_doc doc;
                const char *id;
                size_t len;
                if ((rc = kz_segment_doc(sg, &doc, d, NULL, 0)) || (rc = id_at(ctx, q[j].which, &id, &len)))
                    break;
                if (len != doc.id_len || memcmp(id, doc.id, len) != 0)
                    continue;
                if (found)
                    found[q[j].which] = 1;
                if (!ms->deleted && !(ms->deleted = roaring_bitmap_create())) {
                    rc = kz_error_set(KZ_ENOMEM, "out of memory");
                    break;
                }
                roaring_bitmap_add(fresh, d);
                if (roaring_bitmap_add_checked(ms->deleted, d))
                    (*deleted)++;
            }
        }
    next:
        if (fresh)
            roaring_bitmap_free(fresh);
        kz_segment_free(sg);
    }
    for (size_t i = 0; i < n_old; i++)
        if (m->segments[i].deleted)
            roaring_bitmap_run_optimize(m->segments[i].deleted);
    return rc;
}

/* ---------------------------------------------------------------- commit */

static int segment_id_at(void *ctx, uint32_t k, const char **id, size_t *len)
{
    kz_doc doc;
    int rc = kz_segment_doc(ctx, &doc, k, NULL, 0);
    if (rc == KZ_OK) {
        *id = doc.id;
        *len = doc.id_len;
    }
    return rc;
}

static int add_sources(kz_manifest *m, const char *const *sources, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int have = 0;
        for (size_t j = 0; j < m->n_sources && !have; j++)
            have = strcmp(m->sources[j], sources[i]) == 0;
        if (have)
            continue;
        char **p = realloc(m->sources, (m->n_sources + 1) * sizeof *p);
        if (!p)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        m->sources = p;
        if (!(m->sources[m->n_sources] = strdup(sources[i])))
            return kz_error_set(KZ_ENOMEM, "out of memory");
        m->n_sources++;
    }
    return KZ_OK;
}

int kz_index_commit_segment(const char *dir, const char *name, int replace, const kz_change_record *record,
                            kz_delete_list *also, uint64_t *replaced)
{
    return kz_index_commit_range(dir, name, replace ? 0 : SIZE_MAX, replace ? SIZE_MAX : 0, !replace, record, also,
                                 replaced);
}

/* id_at for a caller's list of NUL-terminated ids. */
typedef struct id_list {
    const char *const *ids;
} id_list;

static int list_id_at(void *ctx, uint32_t k, const char **id, size_t *len)
{
    const id_list *l = ctx;
    *id = l->ids[k];
    *len = strlen(l->ids[k]);
    return KZ_OK;
}

/* delete_matching for a caller's list of ids. */
static int delete_listed(const char *dir, kz_manifest *m, size_t n_old, const char *const *ids, size_t n,
                         uint8_t *found, uint64_t *deleted)
{
    if (n > UINT32_MAX)
        return kz_error_set(KZ_ELIMIT, "too many ids at once");
    id_query *q = malloc((n ? n : 1) * sizeof *q);
    if (!q)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    for (size_t k = 0; k < n; k++) {
        q[k].hash = XXH3_64bits(ids[k], strlen(ids[k]));
        q[k].which = (uint32_t)k;
    }
    qsort(q, n, sizeof *q, id_query_cmp);
    id_list list = { ids };
    int rc = delete_matching(dir, m, n_old, q, n, list_id_at, &list, deleted, found);
    free(q);
    return rc;
}

/* m's field types become fields[0 .. n). */
static int set_field_types(kz_manifest *m, const kz_manifest_field *fields, size_t n)
{
    kz_field_types_free(m->fields, m->n_fields);
    m->fields = NULL;
    m->n_fields = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = kz_field_type_declare(&m->fields, &m->n_fields, fields[i].name, strlen(fields[i].name),
                                       fields[i].type, 0);
        if (rc)
            return rc;
    }
    return KZ_OK;
}

int kz_index_commit_range(const char *dir, const char *name, size_t first, size_t count, int match_ids,
                          const kz_change_record *record, kz_delete_list *also, uint64_t *replaced)
{
    int replace = first == 0 && count == SIZE_MAX;
    kz_manifest m;
    int exists, rc;
    char path[4400];
    kz_segment *sg = NULL;
    id_query *q = NULL;
    *replaced = 0;
    rc = kz_manifest_current(&m, dir, &exists);
    if (rc && replace && (rc == KZ_ECORRUPT || rc == KZ_EVERSION))
        rc = KZ_OK; /* an index no reader can open is replaced whole */
    if (rc)
        return rc;
    uint64_t generation = m.generation;
    if (replace) { /* the generation goes on; the segments and sources do not */
        kz_manifest_free(&m);
        m.generation = generation;
    }
    kz_index_info si = { 0 };
    if (name) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if ((rc = kz_segment_open(&sg, path)))
            goto done;
        kz_segment_get_info(sg, &si);
    }
    size_t n_old = m.n_segments;
    if (first > n_old)
        first = n_old;
    if (count > n_old - first)
        count = n_old - first;
    /* An added document whose id the index has replaces the old one. */
    if (match_ids && n_old > 0 && si.docs > 0) {
        /* The new segment's IDS records are the queries, in their order. */
        const uint8_t *rec;
        uint64_t n;
        if ((rc = kz_segment_ids(sg, &rec, &n)))
            goto done;
        if (!(q = malloc(n * sizeof *q))) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
            goto done;
        }
        for (uint64_t r = 0; r < n; r++) {
            q[r].hash = ids_hash_at(rec, r);
            q[r].which = kz_load_u32(rec + r * KZ_IDS_SIZE + KZ_IDS_DOCID);
        }
        if ((rc = delete_matching(dir, &m, n_old, q, n, segment_id_at, sg, replaced, NULL)))
            goto done;
    }
    if (also && also->n && !replace &&
        (rc = delete_listed(dir, &m, n_old, also->ids, also->n, NULL, &also->deleted)))
        goto done;
    /* Segments [first, first + count) give way to the new one (if any);
     * they are freed only once nothing can fail before the manifest takes
     * the new list (kz_manifest_free frees what m still holds). */
    size_t added = name ? 1 : 0, n_new = n_old - count + added;
    if (n_new == 0) {
        rc = kz_error_set(KZ_EINVAL, "internal error: a change would leave an index of no segments");
        goto done;
    }
    kz_manifest_segment *segs = malloc(n_new * sizeof *segs);
    if (!segs) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = first; i < first + count; i++) {
        free(m.segments[i].name);
        if (m.segments[i].deleted)
            roaring_bitmap_free(m.segments[i].deleted);
    }
    if (first)
        memcpy(segs, m.segments, first * sizeof *segs);
    if (n_old > first + count)
        memcpy(segs + first + added, m.segments + first + count, (n_old - first - count) * sizeof *segs);
    free(m.segments);
    m.segments = segs;
    m.n_segments = n_new;
    if (name) {
        memset(&segs[first], 0, sizeof segs[first]);
        if (!(segs[first].name = strdup(name))) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
            goto done;
        }
        segs[first].docs = si.docs;
    }
    if ((rc = add_sources(&m, record->sources, record->n_sources)) ||
        (rc = set_field_types(&m, record->fields, record->n_fields)))
        goto done;
    m.generation = generation + 1;
    m.created = (uint64_t)time(NULL);
    if ((rc = kz_manifest_write(&m, dir)))
        goto done;
    if (also)
        also->applied = 1;
    kz_index_remove_unnamed(dir, &m);
done:
    free(q);
    kz_segment_free(sg);
    kz_manifest_free(&m);
    return rc;
}

/* ---------------------------------------------------------------- delete */

int kz_index_delete(const char *dir, const char *const *ids, size_t n, uint8_t *found, uint64_t *deleted)
{
    int lock_fd, rc;
    *deleted = 0;
    if ((rc = kz_index_lock(dir, &lock_fd)))
        return rc;
    rc = kz_index_delete_locked(dir, ids, n, found, deleted);
    kz_index_unlock(lock_fd);
    return rc;
}

int kz_index_delete_locked(const char *dir, const char *const *ids, size_t n, uint8_t *found, uint64_t *deleted)
{
    int exists, rc;
    kz_manifest m = { 0 };
    *deleted = 0;
    if ((rc = kz_manifest_current(&m, dir, &exists)))
        goto done;
    if (!exists) {
        rc = kz_error_set(KZ_ENOTFOUND, "no index in %s", dir);
        goto done;
    }
    memset(found, 0, n);
    if ((rc = delete_listed(dir, &m, m.n_segments, ids, n, found, deleted)))
        goto done;
    if (*deleted == 0)
        goto done; /* nothing changes: no new generation */
    m.generation++;
    m.created = (uint64_t)time(NULL);
    if ((rc = kz_manifest_write(&m, dir)))
        goto done;
    kz_index_remove_unnamed(dir, &m);
done:
    kz_manifest_free(&m);
    return rc;
}
