/*
 * manifest.c: the list of an index's segments (FORMAT.md "Manifest").
 *
 * The manifest names the segment files of one generation of the index, in
 * order, with the documents deleted from each (a CRoaring bitmap of the
 * segment's docids) and the sources the index was built from. A writer
 * makes a new generation beside the old one (manifest.tmp-PID), fsyncs
 * it, renames it over "manifest" and fsyncs the folder: a reader opens
 * either the old generation or the new one, never half of one.
 *
 * Reading trusts nothing before the checksum over the whole file, and then
 * checks every count and length against the bytes that are left.
 */
#include "kzint.h"
#include "format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define MANIFEST_MAX_BYTES (1ull << 32)

static int damaged(const char *dir, const char *what)
{
    return kz_error_set(KZ_ECORRUPT, "index %s is corrupt: its manifest %s (rebuild it with 'kzsearch index')",
                        dir, what);
}

void kz_manifest_free(kz_manifest *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_segments; i++) {
        free(m->segments[i].name);
        if (m->segments[i].deleted)
            roaring_bitmap_free(m->segments[i].deleted);
    }
    for (size_t i = 0; i < m->n_sources; i++)
        free(m->sources[i]);
    kz_field_types_free(m->fields, m->n_fields);
    free(m->segments);
    free(m->sources);
    memset(m, 0, sizeof *m);
}

void kz_field_types_free(kz_manifest_field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(fields[i].name);
    free(fields);
}

/* Where field name is in m's fields, or would go: the first whose name is
 * not below it. */
static size_t field_at(const kz_manifest_field *fields, size_t n, const char *name, size_t len, int *found)
{
    size_t lo = 0, hi = n;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = kz_bytes_cmp(fields[mid].name, strlen(fields[mid].name), name, len);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

kz_field_type kz_field_type_of(const kz_manifest_field *fields, size_t n, const char *name, size_t len)
{
    int found;
    size_t i = field_at(fields, n, name, len, &found);
    return found ? fields[i].type : KZ_FIELD_TYPE_AUTO;
}

int kz_field_type_declare(kz_manifest_field **fields, size_t *n, const char *name, size_t len, kz_field_type type,
                          int redeclare)
{
    if (!kz_field_name_ok(name, len) || memchr(name, 0, len))
        return kz_error_set(KZ_EINVAL, "\"%.*s\" cannot name a field", (int)KZ_MIN(len, (size_t)200), name);
    if ((unsigned)type > KZ_FIELD_TYPE_TEXT)
        return kz_error_set(KZ_EINVAL, "field type %u is none", (unsigned)type);
    if (len == strlen(KZ_TITLE_FIELD) && memcmp(name, KZ_TITLE_FIELD, len) == 0)
        return kz_error_set(KZ_EINVAL, "title is the document's title, searched with title:, and takes no type");
    int found;
    size_t i = field_at(*fields, *n, name, len, &found);
    if (found && redeclare && type == KZ_FIELD_TYPE_AUTO) {
        free((*fields)[i].name);
        memmove(*fields + i, *fields + i + 1, (*n - i - 1) * sizeof **fields);
        (*n)--;
        return KZ_OK;
    }
    if (found) {
        if ((*fields)[i].type == type || type == KZ_FIELD_TYPE_AUTO || redeclare) {
            if (type != KZ_FIELD_TYPE_AUTO)
                (*fields)[i].type = type;
            return KZ_OK;
        }
        return kz_error_set(KZ_EINVAL, "field %.*s is typed %s in this index, not %s: rebuild it to change the type",
                            (int)len, name, kz_field_type_name((*fields)[i].type), kz_field_type_name(type));
    }
    if (type == KZ_FIELD_TYPE_AUTO)
        return KZ_OK;
    kz_manifest_field *p = realloc(*fields, (*n + 1) * sizeof *p);
    if (!p)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    *fields = p;
    char *copy = strndup(name, len);
    if (!copy)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    memmove(p + i + 1, p + i, (*n - i) * sizeof *p);
    p[i].name = copy;
    p[i].type = type;
    (*n)++;
    return KZ_OK;
}

int kz_manifest_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > KZ_MANIFEST_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_'))
            return 0;
    }
    return 1;
}

typedef struct reader {
    const uint8_t *p, *end;
} reader;

static int take(reader *r, size_t n, const uint8_t **out)
{
    if ((size_t)(r->end - r->p) < n)
        return -1;
    *out = r->p;
    r->p += n;
    return 0;
}

static int parse(kz_manifest *m, const uint8_t *data, size_t size, const char *dir)
{
    if (size < KZ_MANIFEST_HEADER + 8 || memcmp(data, KZ_MANIFEST_MAGIC, 8) != 0)
        return damaged(dir, "is not a kzsearch manifest (bad magic or too short)");
    if (XXH3_64bits(data, size - 8) != kz_load_u64(data + size - 8))
        return damaged(dir, "checksum does not match (truncated or damaged)");
    uint32_t version = kz_load_u32(data + 8);
    if (version != KZ_MANIFEST_VERSION && version != KZ_MANIFEST_VERSION_UNTYPED)
        return kz_error_set(KZ_EVERSION,
                            "%s: manifest version %u, this kzsearch reads versions %u and %u: rebuild the index", dir,
                            version, KZ_MANIFEST_VERSION_UNTYPED, KZ_MANIFEST_VERSION);
    m->generation = kz_load_u64(data + 16);
    m->created = kz_load_u64(data + 24);
    uint32_t n_seg = kz_load_u32(data + 32), n_src = kz_load_u32(data + 36);
    reader r = { data + KZ_MANIFEST_HEADER, data + size - 8 };
    /* Each segment takes at least 22 bytes, each source 4: counts past
     * what the bytes can hold are damage, not a reason to allocate. */
    if (n_seg == 0 || n_seg > (size_t)(r.end - r.p) / 22 || n_src > (size_t)(r.end - r.p) / 4)
        return damaged(dir, "counts more segments or sources than it holds");
    m->segments = calloc(n_seg, sizeof *m->segments);
    m->sources = calloc(n_src ? n_src : 1, sizeof *m->sources);
    if (!m->segments || !m->sources)
        return kz_error_set(KZ_ENOMEM, "out of memory reading a manifest");
    const uint8_t *b;
    for (uint32_t i = 0; i < n_seg; i++) {
        kz_manifest_segment *s = &m->segments[i];
        m->n_segments++;
        if (take(&r, 2, &b))
            return damaged(dir, "is truncated");
        uint32_t name_len = kz_load_u16(b);
        if (take(&r, name_len, &b) || !kz_manifest_name_ok((const char *)b, name_len))
            return damaged(dir, "names a segment file badly");
        if (!(s->name = strndup((const char *)b, name_len)))
            return kz_error_set(KZ_ENOMEM, "out of memory reading a manifest");
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(m->segments[j].name, s->name) == 0)
                return damaged(dir, "names a segment file twice");
        if (take(&r, 20, &b))
            return damaged(dir, "is truncated");
        s->docs = kz_load_u64(b);
        uint64_t n_deleted = kz_load_u64(b + 8);
        uint32_t bitmap_len = kz_load_u32(b + 16);
        if (s->docs > UINT32_MAX || n_deleted > s->docs)
            return damaged(dir, "counts more deleted documents than a segment has");
        if (take(&r, bitmap_len, &b))
            return damaged(dir, "is truncated");
        if (n_deleted == 0) {
            if (bitmap_len != 0)
                return damaged(dir, "has a deletion bitmap where nothing was deleted");
            continue;
        }
        s->deleted = roaring_bitmap_portable_deserialize_safe((const char *)b, bitmap_len);
        if (!s->deleted || roaring_bitmap_portable_size_in_bytes(s->deleted) != bitmap_len ||
            roaring_bitmap_get_cardinality(s->deleted) != n_deleted ||
            roaring_bitmap_maximum(s->deleted) >= s->docs)
            return damaged(dir, "has a deletion bitmap that does not fit its segment");
    }
    for (uint32_t i = 0; i < n_src; i++) {
        if (take(&r, 4, &b))
            return damaged(dir, "is truncated");
        uint32_t len = kz_load_u32(b);
        if (take(&r, len, &b) || memchr(b, 0, len))
            return damaged(dir, "has a damaged source name");
        if (!(m->sources[i] = strndup((const char *)b, len)))
            return kz_error_set(KZ_ENOMEM, "out of memory reading a manifest");
        m->n_sources++;
    }
    if (version == KZ_MANIFEST_VERSION_UNTYPED) {
        if (r.p != r.end)
            return damaged(dir, "has bytes after its last source");
        return KZ_OK;
    }
    if (take(&r, 4, &b))
        return damaged(dir, "is truncated");
    uint32_t n_fields = kz_load_u32(b);
    /* Each field takes at least 4 bytes. */
    if (n_fields == 0 || n_fields > (size_t)(r.end - r.p) / 4)
        return damaged(dir, "counts more field types than it holds");
    if (!(m->fields = calloc(n_fields, sizeof *m->fields)))
        return kz_error_set(KZ_ENOMEM, "out of memory reading a manifest");
    for (uint32_t i = 0; i < n_fields; i++) {
        if (take(&r, 2, &b))
            return damaged(dir, "is truncated");
        uint32_t len = kz_load_u16(b);
        const uint8_t *name, *type;
        if (take(&r, len, &name) || take(&r, 1, &type))
            return damaged(dir, "is truncated");
        if (!kz_field_name_ok((const char *)name, len) || memchr(name, 0, len))
            return damaged(dir, "names a field badly");
        if (*type == KZ_FIELD_TYPE_AUTO || *type > KZ_FIELD_TYPE_TEXT)
            return damaged(dir, "gives a field a type that is none");
        if (i > 0 && kz_bytes_cmp(m->fields[i - 1].name, strlen(m->fields[i - 1].name), name, len) >= 0)
            return damaged(dir, "lists its field types out of order");
        if (!(m->fields[i].name = strndup((const char *)name, len)))
            return kz_error_set(KZ_ENOMEM, "out of memory reading a manifest");
        m->fields[i].type = (kz_field_type)*type;
        m->n_fields++;
    }
    if (r.p != r.end)
        return damaged(dir, "has bytes after its last field type");
    return KZ_OK;
}

int kz_manifest_read(kz_manifest *out, const char *dir)
{
    memset(out, 0, sizeof *out);
    char path[4200];
    if (snprintf(path, sizeof path, "%s/%s", dir, KZ_MANIFEST_FILE) >= (int)sizeof path)
        return kz_error_set(KZ_EINVAL, "index path too long");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return kz_error_errno(e == ENOENT ? KZ_ENOTFOUND : KZ_EIO, e, "cannot open %s", path);
    }
    int rc = KZ_OK;
    uint8_t *data = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot stat %s", path);
        goto done;
    }
    if ((uint64_t)st.st_size > MANIFEST_MAX_BYTES) {
        rc = damaged(dir, "is larger than any manifest");
        goto done;
    }
    size_t size = (size_t)st.st_size;
    if (!(data = malloc(size ? size : 1))) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory reading %s", path);
        goto done;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, data + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? kz_error_errno(KZ_EIO, errno, "cannot read %s", path) : damaged(dir, "is truncated");
            goto done;
        }
        got += (size_t)n;
    }
    rc = parse(out, data, size, dir);
done:
    close(fd);
    free(data);
    if (rc)
        kz_manifest_free(out);
    return rc;
}

int kz_manifest_encode(kz_buf *out, const kz_manifest *m)
{
    int rc;
    uint8_t head[KZ_MANIFEST_HEADER] = { 0 };
    memcpy(head, KZ_MANIFEST_MAGIC, 8);
    kz_store_u32(head + 8, m->n_fields ? KZ_MANIFEST_VERSION : KZ_MANIFEST_VERSION_UNTYPED);
    kz_store_u64(head + 16, m->generation);
    kz_store_u64(head + 24, m->created);
    kz_store_u32(head + 32, (uint32_t)m->n_segments);
    kz_store_u32(head + 36, (uint32_t)m->n_sources);
    out->len = 0;
    if ((rc = kz_buf_append(out, head, sizeof head)))
        return rc;
    for (size_t i = 0; i < m->n_segments; i++) {
        const kz_manifest_segment *s = &m->segments[i];
        size_t name_len = strlen(s->name);
        uint64_t n_deleted = s->deleted ? roaring_bitmap_get_cardinality(s->deleted) : 0;
        size_t bitmap_len = n_deleted ? roaring_bitmap_portable_size_in_bytes(s->deleted) : 0;
        if (!kz_manifest_name_ok(s->name, name_len) || bitmap_len > UINT32_MAX)
            return kz_error_set(KZ_EINVAL, "segment %s cannot be written into a manifest", s->name);
        uint8_t n16[2], fixed[20];
        kz_store_u16(n16, (uint16_t)name_len);
        kz_store_u64(fixed, s->docs);
        kz_store_u64(fixed + 8, n_deleted);
        kz_store_u32(fixed + 16, (uint32_t)bitmap_len);
        if ((rc = kz_buf_append(out, n16, 2)) || (rc = kz_buf_append(out, s->name, name_len)) ||
            (rc = kz_buf_append(out, fixed, sizeof fixed)) || (rc = kz_buf_reserve(out, bitmap_len)))
            return rc;
        if (bitmap_len) {
            roaring_bitmap_portable_serialize(s->deleted, (char *)out->data + out->len);
            out->len += bitmap_len;
        }
    }
    for (size_t i = 0; i < m->n_sources; i++) {
        size_t len = strlen(m->sources[i]);
        if ((rc = kz_buf_append_u32(out, (uint32_t)len)) || (rc = kz_buf_append(out, m->sources[i], len)))
            return rc;
    }
    if (m->n_fields && (rc = kz_buf_append_u32(out, (uint32_t)m->n_fields)))
        return rc;
    for (size_t i = 0; i < m->n_fields; i++) {
        size_t len = strlen(m->fields[i].name);
        uint8_t n16[2], type = (uint8_t)m->fields[i].type;
        kz_store_u16(n16, (uint16_t)len);
        if ((rc = kz_buf_append(out, n16, 2)) || (rc = kz_buf_append(out, m->fields[i].name, len)) ||
            (rc = kz_buf_append(out, &type, 1)))
            return rc;
    }
    return kz_buf_append_u64(out, XXH3_64bits(out->data, out->len));
}

int kz_manifest_write(const kz_manifest *m, const char *dir)
{
    kz_buf buf = { 0 };
    char tmp[4200], path[4200];
    int fd = -1, rc = kz_manifest_encode(&buf, m);
    if (rc)
        goto done;
    snprintf(tmp, sizeof tmp, "%s/%s.tmp-%ld", dir, KZ_MANIFEST_FILE, (long)getpid());
    snprintf(path, sizeof path, "%s/%s", dir, KZ_MANIFEST_FILE);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot create %s", tmp);
        goto done;
    }
    if ((rc = kz_write_all(fd, buf.data, buf.len, tmp)))
        goto done;
    if (fsync(fd) != 0) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot fsync %s", tmp);
        goto done;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = kz_error_errno(KZ_EIO, errno, "cannot close %s", tmp);
        goto done;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot rename %s to %s", tmp, path);
        goto done;
    }
    rc = kz_fsync_dir(dir);
done:
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp);
    kz_buf_free(&buf);
    return rc;
}
