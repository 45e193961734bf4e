/*
 * shards.c: a shard set, several indexes searched as one (FORMAT.md "Shard
 * set").
 *
 * A shard set is a folder with one small text file, "shards", that lists
 * its shards by their paths relative to the folder (so that the set and
 * its shards can move together, onto a shared filesystem), each with the
 * generation and the XXH3 of the manifest it had when the set was made.
 * kz_index_open() of the folder opens the shards as one index
 * (kz_index_open_many) and refuses them when one of them has changed
 * since: a set whose shards are of different moments is not one index.
 * The file is written beside the old one, fsynced and renamed over it.
 *
 * A set is refused when two shards hold a live document of one id (their
 * input was not split with --shard): its hits would count it twice. The
 * shards' IDS sections, each sorted by the XXH3 of the ids, are merged,
 * and only documents of one hash in different shards have their ids
 * compared.
 */
#include "kzint.h"
#include "format.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define SET_MAGIC "kzsearch shard set 1\n"
#define SET_MAX_BYTES (16u << 20)
#define SET_MAX_SHARDS 65536

static int damaged(const char *dir, const char *what)
{
    return kz_error_set(KZ_ECORRUPT, "shard set %s is corrupt: its %s file %s (make it again with 'kzsearch "
                        "shards create')", dir, KZ_SHARDS_FILE, what);
}

/* The XXH3 of the manifest of shard part i of ix, as encoded. */
static int manifest_hash(const kz_index *ix, size_t i, uint64_t *out)
{
    kz_buf b = { 0 };
    const kz_manifest *m = kz_index_part_manifest(ix, i);
    int rc = m->n_segments ? kz_manifest_encode(&b, m) : KZ_OK;
    *out = rc ? 0 : XXH3_64bits(b.data, b.len);
    kz_buf_free(&b);
    return rc;
}

/* One line of the file: "shard GENERATION HASH PATH". */
typedef struct set_line {
    uint64_t generation, hash;
    char *path; /* relative to the set's folder */
} set_line;

static void lines_free(set_line *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].path);
    free(v);
}

/* Reads and checks set_dir's file into *out: KZ_ENOTFOUND when there is
 * none. */
static int read_set(const char *set_dir, set_line **out, size_t *n_out)
{
    char path[PATH_MAX + 16];
    *out = NULL;
    *n_out = 0;
    snprintf(path, sizeof path, "%s/%s", set_dir, KZ_SHARDS_FILE);
    kz_buf data = { 0 };
    set_line *v = NULL;
    size_t n = 0;
    int rc;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT || errno == ENOTDIR)
            return KZ_ENOTFOUND;
        return kz_error_errno(KZ_EIO, errno, "cannot open %s", path);
    }
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (data.len + got > SET_MAX_BYTES) {
            rc = damaged(set_dir, "is larger than 16 MiB");
            goto done;
        }
        if ((rc = kz_buf_append(&data, chunk, got)))
            goto done;
    }
    if (ferror(f)) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot read %s", path);
        goto done;
    }
    if ((rc = kz_buf_terminate(&data)))
        goto done;
    const char *s = (const char *)data.data, *end = s + data.len;
    if (data.len < strlen(SET_MAGIC) || memcmp(s, SET_MAGIC, strlen(SET_MAGIC)) != 0) {
        rc = damaged(set_dir, "does not start with \"kzsearch shard set 1\"");
        goto done;
    }
    if (memchr(s, 0, data.len)) {
        rc = damaged(set_dir, "holds a NUL byte");
        goto done;
    }
    /* The last line is "end HASH", the XXH3 of every byte before it. */
    const char *last = end;
    if (last > s && last[-1] == '\n')
        last--;
    while (last > s && last[-1] != '\n')
        last--;
    uint64_t want;
    int used = 0;
    if (sscanf(last, "end %16" SCNx64 "\n%n", &want, &used) != 1 || last + used != end ||
        XXH3_64bits(s, (size_t)(last - s)) != want) {
        rc = damaged(set_dir, "fails its checksum (its last line, \"end\" and the XXH3 of the lines before)");
        goto done;
    }
    for (const char *p = s + strlen(SET_MAGIC); p < last;) {
        const char *nl = memchr(p, '\n', (size_t)(last - p));
        if (!nl) {
            rc = damaged(set_dir, "has a line without its end");
            goto done;
        }
        uint64_t gen, hash;
        int at = 0;
        if (sscanf(p, "shard %" SCNu64 " %16" SCNx64 " %n", &gen, &hash, &at) != 2 || at == 0 || p + at >= nl) {
            rc = damaged(set_dir, "has a line that is not \"shard GENERATION HASH PATH\"");
            goto done;
        }
        if (n == SET_MAX_SHARDS) {
            rc = damaged(set_dir, "lists more than 65,536 shards");
            goto done;
        }
        set_line *grown = realloc(v, (n + 1) * sizeof *v);
        if (!grown) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
            goto done;
        }
        v = grown;
        v[n].generation = gen;
        v[n].hash = hash;
        if (!(v[n].path = strndup(p + at, (size_t)(nl - p - at)))) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
            goto done;
        }
        n++;
        p = nl + 1;
    }
    if (n == 0) {
        rc = damaged(set_dir, "lists no shard");
        goto done;
    }
    *out = v;
    *n_out = n;
    v = NULL;
    n = 0;
    rc = KZ_OK;
done:
    lines_free(v, n);
    kz_buf_free(&data);
    fclose(f);
    return rc;
}

int kz_shard_set_read(const char *set_dir, char ***dirs, size_t *n)
{
    set_line *v = NULL;
    size_t nv = 0;
    *dirs = NULL;
    *n = 0;
    int rc = read_set(set_dir, &v, &nv);
    if (rc)
        return rc;
    char **out = calloc(nv, sizeof *out);
    if (!out) {
        lines_free(v, nv);
        return kz_error_set(KZ_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nv && rc == KZ_OK; i++)
        if (asprintf(&out[i], "%s/%s", set_dir, v[i].path) < 0) {
            out[i] = NULL;
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
        }
    lines_free(v, nv);
    if (rc) {
        for (size_t i = 0; i < nv; i++)
            free(out[i]);
        free(out);
        return rc;
    }
    *dirs = out;
    *n = nv;
    return KZ_OK;
}

int kz_shard_set_verify(const char *set_dir, const kz_index *ix)
{
    set_line *v = NULL;
    size_t nv = 0;
    int rc = read_set(set_dir, &v, &nv);
    if (rc)
        return rc == KZ_ENOTFOUND ? damaged(set_dir, "is missing") : rc;
    if (nv != kz_index_part_count(ix)) {
        rc = damaged(set_dir, "changed while it was read");
        goto done;
    }
    for (size_t i = 0; i < nv; i++) {
        uint64_t gen, hash;
        const char *dir = kz_index_part_dir(ix, i, &gen);
        if ((rc = manifest_hash(ix, i, &hash)))
            goto done;
        if (gen != v[i].generation || hash != v[i].hash) {
            rc = kz_error_set(KZ_ESTALE, "shard %s changed since the shard set %s was made (generation %" PRIu64
                              ", now %" PRIu64 "): make the set again with 'kzsearch shards create'", dir, set_dir,
                              v[i].generation, gen);
            goto done;
        }
    }
done:
    lines_free(v, nv);
    return rc;
}

/* path relative to the folder base, both absolute and resolved. */
static int relative_path(char **out, const char *base, const char *path)
{
    size_t common = 0, i = 0;
    /* The longest common prefix that ends at a '/' (or is all of base). */
    for (; base[i] && path[i] && base[i] == path[i]; i++)
        if (base[i] == '/')
            common = i;
    if (!base[i] && (path[i] == '/' || !path[i]))
        common = i;
    kz_buf b = { 0 };
    int rc = KZ_OK;
    for (const char *p = base + common; *p && rc == KZ_OK; p++)
        if (*p == '/')
            rc = kz_buf_printf(&b, "../");
    if (rc == KZ_OK)
        rc = kz_buf_printf(&b, "%s", path[common] == '/' ? path + common + 1 : path + common);
    if (rc == KZ_OK && b.len == 0)
        rc = kz_buf_printf(&b, ".");
    if (rc == KZ_OK)
        rc = kz_buf_terminate(&b);
    if (rc) {
        kz_buf_free(&b);
        return rc;
    }
    *out = (char *)b.data;
    return KZ_OK;
}

/* Where the merge of the IDS sections is in one segment of ix. */
typedef struct id_cursor {
    kz_segment *sg;
    const uint8_t *rec; /* IDS records, sorted by hash */
    uint64_t n, at, docs;
    const roaring_bitmap_t *deleted;
    size_t part;
} id_cursor;

/* A live document in the group of one hash. */
typedef struct id_doc {
    const id_cursor *c;
    uint32_t docid;
} id_doc;

static uint64_t cursor_hash(const id_cursor *c) { return kz_load_u64(c->rec + c->at * KZ_IDS_SIZE + KZ_IDS_HASH); }

/* heap[0 .. n) is a min-heap of cursors by their hash, then by segment
 * order; restores it below slot i. */
static void heap_down(id_cursor **heap, size_t n, size_t i)
{
    for (;;) {
        size_t least = i, kid[2] = { 2 * i + 1, 2 * i + 2 };
        for (int k = 0; k < 2; k++) {
            if (kid[k] >= n)
                continue;
            uint64_t a = cursor_hash(heap[kid[k]]), b = cursor_hash(heap[least]);
            if (a < b || (a == b && heap[kid[k]] < heap[least]))
                least = kid[k];
        }
        if (least == i)
            return;
        id_cursor *t = heap[i];
        heap[i] = heap[least];
        heap[least] = t;
        i = least;
    }
}

/* Whether the live documents of one hash, group[0 .. n), include one id in
 * two parts: KZ_EINVAL naming it and both shards. */
static int group_unique(const kz_index *ix, const id_doc *group, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            if (group[i].c->part == group[j].c->part)
                continue; /* one shard's ids are its own business */
            kz_doc a, b;
            int rc = kz_segment_doc(group[i].c->sg, &a, group[i].docid, NULL, 0);
            if (rc == KZ_OK)
                rc = kz_segment_doc(group[j].c->sg, &b, group[j].docid, NULL, 0);
            if (rc)
                return rc;
            if (a.id_len != b.id_len || memcmp(a.id, b.id, a.id_len) != 0)
                continue; /* two ids of one hash */
            int shown = a.id_len > 200 ? 200 : (int)a.id_len;
            return kz_error_set(KZ_EINVAL, "the document \"%.*s\"%s is in two shards, %s and %s: a document "
                                "must be in one shard only (build each with 'kzsearch index --shard I/N' from "
                                "the same sources)", shown, a.id, a.id_len > 200 ? "..." : "",
                                kz_index_part_dir(ix, group[i].c->part, NULL),
                                kz_index_part_dir(ix, group[j].c->part, NULL));
        }
    return KZ_OK;
}

/* Refuses ix, the shards opened as one, when two of them hold a live
 * document of one id: a merge of their IDS sections by hash, then the
 * stored ids of the documents of one hash in different shards compared. */
static int ids_unique(const kz_index *ix)
{
    size_t n_seg = kz_index_segment_count(ix), n = 0, parts = kz_index_part_count(ix);
    id_cursor *cur = calloc(n_seg ? n_seg : 1, sizeof *cur);
    id_cursor **heap = calloc(n_seg ? n_seg : 1, sizeof *heap);
    id_doc *group = NULL;
    size_t group_n = 0, group_cap = 0;
    int rc = KZ_OK;
    if (!cur || !heap) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    /* Part p's segments follow part p-1's: as many as its manifest names,
     * or one file without a manifest. */
    for (size_t p = 0, s = 0; p < parts; p++) {
        size_t count = kz_index_part_manifest(ix, p)->n_segments;
        for (size_t k = 0; k < (count ? count : 1) && s < n_seg; k++)
            cur[s++].part = p;
    }
    for (size_t s = 0; s < n_seg; s++) {
        id_cursor *c = &cur[s];
        kz_index_info si;
        c->sg = kz_index_segment(ix, s);
        c->deleted = kz_index_segment_deleted(ix, s);
        kz_segment_get_info(c->sg, &si);
        c->docs = si.docs;
        if ((rc = kz_segment_ids(c->sg, &c->rec, &c->n)))
            goto done;
        if (c->n)
            heap[n++] = c;
    }
    for (size_t i = n / 2; i-- > 0;)
        heap_down(heap, n, i);
    while (n) {
        uint64_t h = cursor_hash(heap[0]);
        int mixed = 0; /* live documents of this hash in two shards */
        group_n = 0;
        while (n && cursor_hash(heap[0]) == h) {
            id_cursor *c = heap[0];
            for (; c->at < c->n && cursor_hash(c) == h; c->at++) {
                uint32_t d = kz_load_u32(c->rec + c->at * KZ_IDS_SIZE + KZ_IDS_DOCID);
                if (d >= c->docs) {
                    rc = kz_error_set(KZ_ECORRUPT, "index %s is corrupt: an IDS record names a document past the "
                                      "last", kz_index_part_dir(ix, c->part, NULL));
                    goto done;
                }
                if (c->deleted && roaring_bitmap_contains(c->deleted, d))
                    continue;
                if (group_n == group_cap) {
                    size_t cap = group_cap ? 2 * group_cap : 8;
                    id_doc *grown = realloc(group, cap * sizeof *grown);
                    if (!grown) {
                        rc = kz_error_set(KZ_ENOMEM, "out of memory");
                        goto done;
                    }
                    group = grown;
                    group_cap = cap;
                }
                group[group_n++] = (id_doc){ c, d };
                mixed |= c->part != group[0].c->part;
            }
            if (c->at == c->n)
                heap[0] = heap[--n];
            heap_down(heap, n, 0);
        }
        if (mixed && (rc = group_unique(ix, group, group_n)))
            goto done;
    }
done:
    free(group);
    free(heap);
    free(cur);
    return rc;
}

int kz_shard_set_create(const char *set_dir, const char *const *shard_dirs, size_t n)
{
    kz_index *ix = NULL;
    kz_buf b = { 0 };
    char base[PATH_MAX], tmp[PATH_MAX + 64], path[PATH_MAX + 16];
    int fd = -1, rc;
    tmp[0] = 0;
    if (n == 0 || n > SET_MAX_SHARDS)
        return kz_error_set(KZ_EINVAL, "a shard set holds 1 to 65,536 shards, not %zu", n);
    /* Opening them as one checks that they can be searched as one. */
    if ((rc = kz_index_open_many(&ix, shard_dirs, n)) || (rc = ids_unique(ix)))
        goto done;
    if (mkdir(set_dir, 0755) != 0 && errno != EEXIST) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot create %s", set_dir);
        goto done;
    }
    if (!realpath(set_dir, base)) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot resolve %s", set_dir);
        goto done;
    }
    if ((rc = kz_buf_printf(&b, "%s", SET_MAGIC)))
        goto done;
    for (size_t i = 0; i < n; i++) {
        char real[PATH_MAX], *rel = NULL;
        uint64_t gen, hash;
        kz_index_part_dir(ix, i, &gen);
        if (!realpath(shard_dirs[i], real)) {
            rc = kz_error_errno(KZ_EIO, errno, "cannot resolve %s", shard_dirs[i]);
            goto done;
        }
        if (strchr(real, '\n')) {
            rc = kz_error_set(KZ_EINVAL, "%s: a shard's path may not hold a newline", shard_dirs[i]);
            goto done;
        }
        if ((rc = manifest_hash(ix, i, &hash)) || (rc = relative_path(&rel, base, real)))
            goto done;
        rc = kz_buf_printf(&b, "shard %" PRIu64 " %016" PRIx64 " %s\n", gen, hash, rel);
        free(rel);
        if (rc)
            goto done;
    }
    if ((rc = kz_buf_printf(&b, "end %016" PRIx64 "\n", XXH3_64bits(b.data, b.len))))
        goto done;
    snprintf(tmp, sizeof tmp, "%s/%s.tmp-%ld", set_dir, KZ_SHARDS_FILE, (long)getpid());
    snprintf(path, sizeof path, "%s/%s", set_dir, KZ_SHARDS_FILE);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot create %s", tmp);
        tmp[0] = 0;
        goto done;
    }
    if ((rc = kz_write_all(fd, b.data, b.len, tmp)))
        goto done;
    if (fsync(fd) != 0) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot fsync %s", tmp);
        goto done;
    }
    int closed = close(fd);
    fd = -1;
    if (closed != 0) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot close %s", tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot rename %s to %s", tmp, path);
        goto done;
    }
    tmp[0] = 0;
    rc = kz_fsync_dir(set_dir);
done:
    if (fd >= 0)
        close(fd);
    if (tmp[0])
        unlink(tmp);
    kz_buf_free(&b);
    kz_index_free(ix);
    return rc;
}

uint32_t kz_shard_of(const char *id, size_t len, uint32_t shards)
{
    return shards ? (uint32_t)(XXH3_64bits(id, len) % shards) : 0;
}
