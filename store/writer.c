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
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

int kz_index_lock(const char *dir, int *fd_out)
{
    char path[4200];
    *fd_out = -1;
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

/* A set of document ids, by hash: what an added segment or a delete names. */
typedef struct id_set {
    uint64_t *hash; /* 0: free */
    uint32_t *which; /* index into the caller's list, for a name and a flag */
    size_t cap, n;
} id_set;

static uint64_t id_hash(const char *id, size_t len)
{
    uint64_t h = XXH3_64bits(id, len);
    return h ? h : 1;
}

static int id_set_init(id_set *s, size_t n)
{
    s->cap = 16;
    while (s->cap < 2 * n + 2)
        s->cap *= 2;
    s->hash = calloc(s->cap, sizeof *s->hash);
    s->which = calloc(s->cap, sizeof *s->which);
    s->n = 0;
    return s->hash && s->which ? KZ_OK : kz_error_set(KZ_ENOMEM, "out of memory");
}

static void id_set_free(id_set *s)
{
    free(s->hash);
    free(s->which);
}

static void id_set_add(id_set *s, uint64_t h, uint32_t which)
{
    size_t j = h & (s->cap - 1);
    while (s->hash[j])
        j = (j + 1) & (s->cap - 1);
    s->hash[j] = h;
    s->which[j] = which;
    s->n++;
}

/* Each entry j of s with hash h (the caller compares the ids: hashes
 * collide). */
#define ID_SET_EACH(s, h, j)                                                            \
    for (size_t j = (h) & ((s)->cap - 1); (s)->hash[j]; j = (j + 1) & ((s)->cap - 1))  \
        if ((s)->hash[j] == (h))

/* Marks deleted, in m's segments [0, n_old), every live document whose id
 * is in ids (id_at gives the k-th id, to compare): *deleted counts them,
 * and found[k] is set for each id found (if found is not NULL). */
typedef int (*id_at_fn)(void *ctx, uint32_t k, const char **id, size_t *len);

static int delete_matching(const char *dir, kz_manifest *m, size_t n_old, const id_set *ids, id_at_fn id_at,
                           void *ctx, uint64_t *deleted, uint8_t *found)
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
        for (uint32_t d = 0; d < ms->docs && rc == KZ_OK; d++) {
            if (ms->deleted && roaring_bitmap_contains(ms->deleted, d))
                continue;
            kz_doc doc;
            if ((rc = kz_segment_doc(sg, &doc, d, NULL, 0)))
                break;
            uint64_t h = id_hash(doc.id, doc.id_len);
            int hit = 0;
            ID_SET_EACH(ids, h, j) {
                const char *id;
                size_t len;
                if ((rc = id_at(ctx, ids->which[j], &id, &len)))
                    break;
                if (len != doc.id_len || memcmp(id, doc.id, len) != 0)
                    continue;
                if (found) /* an id named twice is found twice */
                    found[ids->which[j]] = 1;
                if (hit++)
                    continue;
                if (!ms->deleted && !(ms->deleted = roaring_bitmap_create())) {
                    rc = kz_error_set(KZ_ENOMEM, "out of memory");
                    break;
                }
                roaring_bitmap_add(ms->deleted, d);
                (*deleted)++;
            }
        }
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

int kz_index_commit_segment(const char *dir, const char *name, int replace, const char *const *sources,
                            size_t n_sources, uint64_t *replaced)
{
    return kz_index_commit_range(dir, name, replace ? 0 : SIZE_MAX, replace ? SIZE_MAX : 0, !replace, sources,
                                 n_sources, replaced);
}

int kz_index_commit_range(const char *dir, const char *name, size_t first, size_t count, int match_ids,
                          const char *const *sources, size_t n_sources, uint64_t *replaced)
{
    int replace = first == 0 && count == SIZE_MAX;
    kz_manifest m;
    int exists, rc;
    char path[4400];
    kz_segment *sg = NULL;
    id_set ids = { 0 };
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
        if ((rc = id_set_init(&ids, si.docs)))
            goto done;
        for (uint32_t d = 0; d < si.docs; d++) {
            kz_doc doc;
            if ((rc = kz_segment_doc(sg, &doc, d, NULL, 0)))
                goto done;
            id_set_add(&ids, id_hash(doc.id, doc.id_len), d);
        }
        if ((rc = delete_matching(dir, &m, n_old, &ids, segment_id_at, sg, replaced, NULL)))
            goto done;
    }
    /* Segments [first, first + count) give way to the new one (if any). */
    for (size_t i = first; i < first + count; i++) {
        free(m.segments[i].name);
        if (m.segments[i].deleted)
            roaring_bitmap_free(m.segments[i].deleted);
    }
    size_t added = name ? 1 : 0, n_new = n_old - count + added;
    if (n_new == 0) {
        rc = kz_error_set(KZ_EINVAL, "an index of no segments");
        goto done;
    }
    kz_manifest_segment *segs = malloc(n_new * sizeof *segs);
    if (!segs) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
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
    if ((rc = add_sources(&m, sources, n_sources)))
        goto done;
    m.generation = generation + 1;
    m.created = (uint64_t)time(NULL);
    if ((rc = kz_manifest_write(&m, dir)))
        goto done;
    kz_index_remove_unnamed(dir, &m);
done:
    id_set_free(&ids);
    kz_segment_free(sg);
    kz_manifest_free(&m);
    return rc;
}

/* ---------------------------------------------------------------- delete */

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
    id_set set = { 0 };
    *deleted = 0;
    if ((rc = kz_manifest_current(&m, dir, &exists)))
        goto done;
    if (!exists) {
        rc = kz_error_set(KZ_ENOTFOUND, "no index in %s", dir);
        goto done;
    }
    if (n > UINT32_MAX) {
        rc = kz_error_set(KZ_ELIMIT, "too many ids at once");
        goto done;
    }
    if ((rc = id_set_init(&set, n)))
        goto done;
    memset(found, 0, n);
    for (size_t k = 0; k < n; k++)
        id_set_add(&set, id_hash(ids[k], strlen(ids[k])), (uint32_t)k);
    id_list list = { ids };
    if ((rc = delete_matching(dir, &m, m.n_segments, &set, list_id_at, &list, deleted, found)))
        goto done;
    if (*deleted == 0)
        goto done; /* nothing changes: no new generation */
    m.generation++;
    m.created = (uint64_t)time(NULL);
    if ((rc = kz_manifest_write(&m, dir)))
        goto done;
    kz_index_remove_unnamed(dir, &m);
done:
    id_set_free(&set);
    kz_manifest_free(&m);
    return rc;
}
