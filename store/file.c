/*
 * file.c: the index file as a container of checksummed sections.
 *
 * Writing: sections are appended one after the other, each 64-byte
 * aligned; while a section streams through, its XXH3 and the XXH3 of each
 * of its 8 KiB chunks are computed. kz_fwriter_finish() appends the
 * CHUNKSUMS section, the section table and the trailer, patches the header,
 * and fsyncs.
 *
 * Reading: kz_file_open() maps the file and trusts nothing before checking
 * the header (magic, byte order, version, checksum, file size), the trailer
 * and section table (checksum, bounds, alignment, overlaps) and the
 * CHUNKSUMS section. Other bytes are verified chunk by chunk the first time
 * a caller asks for them (kz_file_verify), so opening is cheap and no
 * query ever reads an unverified byte.
 *
 * Reading from disk: a query reads a few MB scattered over the file, and
 * the kernel's read-ahead around each page fault (up to megabytes) would
 * read ten times that from a cold cache. The mapping is MADV_RANDOM, and
 * each range is asked for (MADV_WILLNEED) as a whole when it is verified
 * for the first time: exactly the pages used come in, in one request a
 * range. Every read goes through kz_file_verify first, so it is the place
 * that knows what a reader is about to touch.
 */
#include "kzint.h"
#include "format.h"
#include <stdio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define KZ_FWRITER_BUFFER (1u << 20)

struct kz_fwriter {
    int fd;
    char *path;
    uint64_t pos; /* bytes written or buffered so far */
    kz_buf out;   /* write buffer */
    kz_section_entry entries[KZ_SEC_MAX];
    unsigned n_entries;
    int in_section;
    XXH3_state_t *section_hash;
    XXH3_state_t *chunk_hash;
    uint64_t chunk_fill;
    kz_buf chunksums; /* u64 per chunk, all sections in order */
};

static int fwriter_flush(kz_fwriter *w)
{
    int rc = kz_write_all(w->fd, w->out.data, w->out.len, w->path);
    w->out.len = 0;
    return rc;
}

static int fwriter_put(kz_fwriter *w, const void *data, size_t len)
{
    if (w->out.len + len > KZ_FWRITER_BUFFER) {
        int rc = fwriter_flush(w);
        if (rc)
            return rc;
        if (len >= KZ_FWRITER_BUFFER) {
            rc = kz_write_all(w->fd, data, len, w->path);
            if (rc == KZ_OK)
                w->pos += len;
            return rc;
        }
    }
    int rc = kz_buf_append(&w->out, data, len);
    if (rc == KZ_OK)
        w->pos += len;
    return rc;
}

int kz_fwriter_open(kz_fwriter **out, const char *path)
{
    int rc = KZ_OK;
    kz_fwriter *w = calloc(1, sizeof *w);
    if (!w)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    w->fd = -1;
    w->path = strdup(path);
    w->section_hash = XXH3_createState();
    w->chunk_hash = XXH3_createState();
    if (!w->path || !w->section_hash || !w->chunk_hash) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot create %s", path);
        goto done;
    }
    uint8_t header[KZ_HEADER_SIZE] = { 0 }; /* patched by finish */
    rc = fwriter_put(w, header, sizeof header);
done:
    if (rc) {
        kz_fwriter_abort(w);
        return rc;
    }
    *out = w;
    return KZ_OK;
}

int kz_fwriter_begin(kz_fwriter *w, uint32_t id)
{
    if (w->in_section || w->n_entries >= KZ_SEC_MAX)
        return kz_error_set(KZ_EINVAL, "section %u begun out of order", id);
    uint64_t pad = (KZ_SECTION_ALIGN - w->pos % KZ_SECTION_ALIGN) % KZ_SECTION_ALIGN;
    static const uint8_t zeros[KZ_SECTION_ALIGN];
    int rc = fwriter_put(w, zeros, (size_t)pad);
    if (rc)
        return rc;
    kz_section_entry *e = &w->entries[w->n_entries];
    memset(e, 0, sizeof *e);
    e->id = id;
    e->offset = w->pos;
    e->chunk_first = w->chunksums.len / 8;
    XXH3_64bits_reset(w->section_hash);
    XXH3_64bits_reset(w->chunk_hash);
    w->chunk_fill = 0;
    w->in_section = 1;
    return KZ_OK;
}

int kz_fwriter_write(kz_fwriter *w, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        size_t take = KZ_MIN(left, (size_t)(KZ_CHUNK_SIZE - w->chunk_fill));
        XXH3_64bits_update(w->chunk_hash, p, take);
        w->chunk_fill += take;
        if (w->chunk_fill == KZ_CHUNK_SIZE) {
            int rc = kz_buf_append_u64(&w->chunksums, XXH3_64bits_digest(w->chunk_hash));
            if (rc)
                return rc;
            XXH3_64bits_reset(w->chunk_hash);
            w->chunk_fill = 0;
        }
        p += take;
        left -= take;
    }
    XXH3_64bits_update(w->section_hash, data, len);
    return fwriter_put(w, data, len);
}

uint64_t kz_fwriter_section_size(const kz_fwriter *w)
{
    return w->in_section ? w->pos - w->entries[w->n_entries].offset : 0;
}

int kz_fwriter_end(kz_fwriter *w)
{
    if (!w->in_section)
        return kz_error_set(KZ_EINVAL, "no section to end");
    kz_section_entry *e = &w->entries[w->n_entries];
    if (w->chunk_fill > 0) {
        int rc = kz_buf_append_u64(&w->chunksums, XXH3_64bits_digest(w->chunk_hash));
        if (rc)
            return rc;
    }
    e->length = w->pos - e->offset;
    e->checksum = XXH3_64bits_digest(w->section_hash);
    w->n_entries++;
    w->in_section = 0;
    return KZ_OK;
}

int kz_fwriter_finish(kz_fwriter *w, uint64_t *file_size)
{
    int rc;
    /* CHUNKSUMS is covered by its whole-section checksum, not by chunks. */
    kz_buf sums = w->chunksums;
    memset(&w->chunksums, 0, sizeof w->chunksums);
    if ((rc = kz_fwriter_begin(w, KZ_SEC_CHUNKSUMS)) ||
        (rc = kz_fwriter_write(w, sums.data, sums.len)))
        goto done;
    kz_fwriter_end(w);
    w->entries[w->n_entries - 1].chunk_first = 0;

    /* Section table and trailer. */
    kz_buf table = { 0 };
    uint64_t table_off = w->pos;
    for (unsigned i = 0; i < w->n_entries; i++) {
        const kz_section_entry *e = &w->entries[i];
        if ((rc = kz_buf_append_u32(&table, e->id)) || (rc = kz_buf_append_u32(&table, 0)) ||
            (rc = kz_buf_append_u64(&table, e->offset)) ||
            (rc = kz_buf_append_u64(&table, e->length)) ||
            (rc = kz_buf_append_u64(&table, e->chunk_first)) ||
            (rc = kz_buf_append_u64(&table, e->checksum)) ||
            (rc = kz_buf_append_u64(&table, 0)))
            goto table_done;
    }
    if ((rc = kz_buf_append_u32(&table, w->n_entries)) ||
        (rc = kz_buf_append_u32(&table, KZ_SECTION_ENTRY_SIZE)) ||
        (rc = kz_buf_append_u64(&table, table_off)))
        goto table_done;
    if ((rc = kz_buf_append_u64(&table, XXH3_64bits(table.data, table.len))) ||
        (rc = kz_buf_append(&table, KZ_END_MAGIC, 8)))
        goto table_done;
    rc = fwriter_put(w, table.data, table.len);
table_done:
    kz_buf_free(&table);
    if (rc || (rc = fwriter_flush(w)))
        goto done;

    uint8_t header[KZ_HEADER_SIZE] = { 0 };
    memcpy(header + KZ_HDR_MAGIC, KZ_MAGIC, 8);
    kz_store_u32(header + KZ_HDR_VERSION, KZ_FORMAT_VERSION);
    kz_store_u32(header + KZ_HDR_SIZE, KZ_HEADER_SIZE);
    kz_store_u64(header + KZ_HDR_BOM, KZ_BYTE_ORDER_MARK);
    kz_store_u64(header + KZ_HDR_FILE_SIZE, w->pos);
    kz_store_u64(header + KZ_HDR_CREATED, (uint64_t)time(NULL));
    kz_store_u64(header + KZ_HDR_CHECKSUM, XXH3_64bits(header, KZ_HDR_CHECKSUM));
    if (pwrite(w->fd, header, sizeof header, 0) != (ssize_t)sizeof header) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot write %s", w->path);
        goto done;
    }
    if (fsync(w->fd) != 0) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot fsync %s", w->path);
        goto done;
    }
    if (file_size)
        *file_size = w->pos;
done:
    kz_buf_free(&sums);
    if (close(w->fd) != 0 && rc == KZ_OK)
        rc = kz_error_errno(KZ_EIO, errno, "cannot close %s", w->path);
    w->fd = -1;
    return rc;
}

void kz_fwriter_abort(kz_fwriter *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    free(w->path);
    kz_buf_free(&w->out);
    kz_buf_free(&w->chunksums);
    XXH3_freeState(w->section_hash);
    XXH3_freeState(w->chunk_hash);
    free(w);
}

/* ------------------------------------------------------------------ reader */

struct kz_file {
    int fd;
    const uint8_t *map;
    uint64_t size;
    uint32_t version;
    uint64_t created;
    kz_section_entry sec[KZ_SEC_MAX]; /* by id; length 0 and offset 0 if absent */
    uint8_t present[KZ_SEC_MAX];
    const uint8_t *chunksums;
    uint64_t n_chunks;
    _Atomic uint8_t *verified; /* per chunk: 0 unknown, 1 good, 2 bad */
    _Atomic uint8_t whole[KZ_SEC_MAX]; /* every chunk of the section is good */
};

static const char *section_names[KZ_SEC_MAX] = {
    "?", "meta", "docs", "docinfo", "store", "storeidx", "terms", "termstr", "postings", "chunksums",
    "storedict", "ids", "dochash", "simhash"
};

const char *kz_section_name(uint32_t id) { return id < KZ_SEC_MAX ? section_names[id] : "?"; }

/* Asks the kernel to read [p, p+n) ahead, whole pages (a hint: its
 * failure changes nothing), unless a short range is in memory already:
 * on a warm index the request costs about 5 us and saves nothing, where
 * mincore costs a tenth of that (a query's first touches are some 100
 * ranges of 2 or 3 pages, and a few of up to 1 MB). */
#define WILL_NEED_PROBE_PAGES 256

static void will_need(const uint8_t *p, uint64_t n)
{
    if (n == 0)
        return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p & ~(page - 1), e = (uintptr_t)(p + n);
    size_t pages = (e - a + page - 1) / page;
    unsigned char resident[WILL_NEED_PROBE_PAGES];
    if (pages <= WILL_NEED_PROBE_PAGES && mincore((void *)a, e - a, resident) == 0) {
        size_t i = 0;
        while (i < pages && (resident[i] & 1))
            i++;
        if (i == pages)
            return;
    }
    madvise((void *)a, e - a, MADV_WILLNEED);
}

static int corrupt(const char *path, const char *what)
{
    return kz_error_set(KZ_ECORRUPT, "index %s is corrupt: %s", path, what);
}

int kz_file_open(kz_file **out, const char *path)
{
    int rc = KZ_OK;
    kz_file *f = calloc(1, sizeof *f);
    if (!f)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        int e = errno;
        rc = kz_error_errno(e == ENOENT ? KZ_ENOTFOUND : KZ_EIO, e, "cannot open index %s", path);
        goto done;
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot stat %s", path);
        goto done;
    }
    f->size = (uint64_t)st.st_size;
    if (f->size < KZ_HEADER_SIZE + KZ_TRAILER_SIZE) {
        rc = corrupt(path, "file too short to be an index (truncated?)");
        goto done;
    }
    void *m = mmap(NULL, (size_t)f->size, PROT_READ, MAP_SHARED, f->fd, 0);
    if (m == MAP_FAILED) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot map %s", path);
        goto done;
    }
    f->map = m;
    madvise(m, (size_t)f->size, MADV_RANDOM);

    const uint8_t *h = f->map;
    if (memcmp(h + KZ_HDR_MAGIC, KZ_MAGIC, 8) != 0) {
        rc = corrupt(path, "not a kzsearch index (bad magic)");
        goto done;
    }
    if (kz_load_u64(h + KZ_HDR_BOM) != KZ_BYTE_ORDER_MARK) {
        rc = corrupt(path, "byte order mark mismatch (written on a machine of other endianness?)");
        goto done;
    }
    if (XXH3_64bits(h, KZ_HDR_CHECKSUM) != kz_load_u64(h + KZ_HDR_CHECKSUM)) {
        rc = corrupt(path, "header checksum mismatch");
        goto done;
    }
    f->version = kz_load_u32(h + KZ_HDR_VERSION);
    if (f->version < KZ_FORMAT_VERSION_MIN || f->version > KZ_FORMAT_VERSION) {
        rc = kz_error_set(KZ_EVERSION,
                          "%s: index format version %u, this kzsearch reads versions %u to %u: rebuild the index with "
                          "'kzsearch index'",
                          path, f->version, KZ_FORMAT_VERSION_MIN, KZ_FORMAT_VERSION);
        goto done;
    }
    if (kz_load_u32(h + KZ_HDR_SIZE) != KZ_HEADER_SIZE) {
        rc = corrupt(path, "bad header size");
        goto done;
    }
    uint64_t want_size = kz_load_u64(h + KZ_HDR_FILE_SIZE);
    if (want_size != f->size) {
        rc = kz_error_set(KZ_ECORRUPT, "index %s is corrupt: the file is %llu bytes, its header says %llu (truncated or extended)",
                          path, (unsigned long long)f->size, (unsigned long long)want_size);
        goto done;
    }
    f->created = kz_load_u64(h + KZ_HDR_CREATED);

    const uint8_t *t = f->map + f->size - KZ_TRAILER_SIZE;
    if (memcmp(t + 24, KZ_END_MAGIC, 8) != 0) {
        rc = corrupt(path, "bad trailer magic");
        goto done;
    }
    uint32_t n = kz_load_u32(t);
    uint32_t entry_size = kz_load_u32(t + 4);
    uint64_t table_off = kz_load_u64(t + 8);
    /* The table ends where the trailer starts; table_off is checked
     * against the file before any arithmetic on it can wrap. */
    if (entry_size != KZ_SECTION_ENTRY_SIZE || n == 0 || n >= KZ_SEC_MAX ||
        table_off < KZ_HEADER_SIZE || table_off > f->size - KZ_TRAILER_SIZE ||
        f->size - KZ_TRAILER_SIZE - table_off != (uint64_t)n * KZ_SECTION_ENTRY_SIZE) {
        rc = corrupt(path, "bad section table");
        goto done;
    }
    if (XXH3_64bits(f->map + table_off, (size_t)(f->size - table_off - 16)) != kz_load_u64(t + 16)) {
        rc = corrupt(path, "section table checksum mismatch");
        goto done;
    }
    uint64_t prev_end = KZ_HEADER_SIZE;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = f->map + table_off + (uint64_t)i * KZ_SECTION_ENTRY_SIZE;
        kz_section_entry s = { 0 };
        s.id = kz_load_u32(e);
        s.offset = kz_load_u64(e + 8);
        s.length = kz_load_u64(e + 16);
        s.chunk_first = kz_load_u64(e + 24);
        s.checksum = kz_load_u64(e + 32);
        if (s.id == 0 || s.id >= KZ_SEC_MAX || f->present[s.id] || s.offset < prev_end ||
            s.offset % KZ_SECTION_ALIGN != 0 || s.offset > table_off || s.length > table_off - s.offset) {
            rc = corrupt(path, "section table entry out of bounds, misaligned or repeated");
            goto done;
        }
        prev_end = s.offset + s.length;
        f->sec[s.id] = s;
        f->present[s.id] = 1;
    }
    for (uint32_t id = 1; id < KZ_SEC_MAX; id++) {
        if (!f->present[id]) {
            rc = kz_error_set(KZ_ECORRUPT, "index %s is corrupt: section %s missing", path, section_names[id]);
            goto done;
        }
    }
    const kz_section_entry *cs = &f->sec[KZ_SEC_CHUNKSUMS];
    will_need(f->map + cs->offset, cs->length);
    if (cs->length % 8 != 0 ||
        XXH3_64bits(f->map + cs->offset, (size_t)cs->length) != cs->checksum) {
        rc = corrupt(path, "chunk checksum table damaged");
        goto done;
    }
    f->chunksums = f->map + cs->offset;
    f->n_chunks = cs->length / 8;
    /* Every other section's chunks must lie inside the table, in order. */
    uint64_t next_chunk = 0;
    for (uint32_t id = 1; id < KZ_SEC_MAX; id++) {
        if (id == KZ_SEC_CHUNKSUMS)
            continue;
        const kz_section_entry *s = &f->sec[id];
        uint64_t chunks = (s->length + KZ_CHUNK_SIZE - 1) >> KZ_CHUNK_SHIFT;
        if (s->chunk_first > f->n_chunks || chunks > f->n_chunks - s->chunk_first) {
            rc = corrupt(path, "section checksums out of range");
            goto done;
        }
        next_chunk += chunks;
    }
    if (next_chunk != f->n_chunks) {
        rc = corrupt(path, "chunk checksum count mismatch");
        goto done;
    }
    f->verified = calloc(f->n_chunks ? f->n_chunks : 1, 1);
    if (!f->verified) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
done:
    if (rc) {
        kz_file_close(f);
        return rc;
    }
    *out = f;
    return KZ_OK;
}

void kz_file_close(kz_file *f)
{
    if (!f)
        return;
    if (f->map)
        munmap((void *)f->map, (size_t)f->size);
    if (f->fd >= 0)
        close(f->fd);
    free((void *)f->verified);
    free(f);
}

const uint8_t *kz_file_section(const kz_file *f, uint32_t id, uint64_t *len)
{
    *len = f->sec[id].length;
    return f->map + f->sec[id].offset;
}

const kz_section_entry *kz_file_entry(const kz_file *f, uint32_t id) { return &f->sec[id]; }
uint64_t kz_file_size(const kz_file *f) { return f->size; }
uint64_t kz_file_created(const kz_file *f) { return f->created; }
uint32_t kz_file_version(const kz_file *f) { return f->version; }

static int verify_chunk(kz_file *f, const kz_section_entry *s, uint64_t chunk)
{
    uint64_t g = s->chunk_first + chunk;
    uint8_t state = atomic_load_explicit(&f->verified[g], memory_order_acquire);
    if (KZ_LIKELY(state == 1))
        return KZ_OK;
    if (state == 0) {
        uint64_t off = chunk << KZ_CHUNK_SHIFT;
        size_t len = (size_t)KZ_MIN((uint64_t)KZ_CHUNK_SIZE, s->length - off);
        uint64_t want = kz_load_u64(f->chunksums + g * 8);
        state = XXH3_64bits(f->map + s->offset + off, len) == want ? 1 : 2;
        atomic_store_explicit(&f->verified[g], state, memory_order_release);
    }
    if (state == 1)
        return KZ_OK;
    return kz_error_set(KZ_ECORRUPT, "index is corrupt: checksum mismatch in section %s, bytes %llu-%llu (run 'kzsearch check')",
                        section_names[s->id], (unsigned long long)(chunk << KZ_CHUNK_SHIFT),
                        (unsigned long long)(((chunk + 1) << KZ_CHUNK_SHIFT) - 1));
}

int kz_file_verify(kz_file *f, uint32_t id, uint64_t off, uint64_t len)
{
    const kz_section_entry *s = &f->sec[id];
    if (off > s->length || len > s->length - off)
        return kz_error_set(KZ_ECORRUPT, "index is corrupt: range %llu+%llu outside section %s",
                            (unsigned long long)off, (unsigned long long)len, section_names[id]);
    if (len == 0 || atomic_load_explicit(&f->whole[id], memory_order_acquire))
        return KZ_OK;
    uint64_t first = off >> KZ_CHUNK_SHIFT, last = (off + len - 1) >> KZ_CHUNK_SHIFT;
    /* The range's first use (its last chunk unknown): read its chunks in
     * one request rather than a fault a page (the mapping is MADV_RANDOM). */
    if (atomic_load_explicit(&f->verified[s->chunk_first + last], memory_order_relaxed) == 0) {
        uint64_t a = first << KZ_CHUNK_SHIFT, e = KZ_MIN(s->length, (last + 1) << KZ_CHUNK_SHIFT);
        will_need(f->map + s->offset + a, e - a);
    }
    for (uint64_t c = first; c <= last; c++) {
        int rc = verify_chunk(f, s, c);
        if (rc)
            return rc;
    }
    if (off == 0 && len == s->length)
        atomic_store_explicit(&f->whole[id], 1, memory_order_release);
    return KZ_OK;
}

int kz_file_verified_whole(const kz_file *f, uint32_t id)
{
    return id < KZ_SEC_MAX && atomic_load_explicit(&f->whole[id], memory_order_acquire);
}

/* The bytes between the header, the sections and the section table are
 * alignment padding, covered by no checksum: they must be zero. */
static int check_padding(const kz_file *f, kz_check_fn fn, void *ctx, unsigned *faults)
{
    uint64_t table = f->size - KZ_TRAILER_SIZE - (uint64_t)(KZ_SEC_MAX - 1) * KZ_SECTION_ENTRY_SIZE;
    /* Sections in file order (empty ones may share an offset). */
    const kz_section_entry *order[KZ_SEC_MAX];
    unsigned n = 0;
    for (uint32_t id = 1; id < KZ_SEC_MAX; id++) {
        unsigned i = n++;
        while (i > 0 && order[i - 1]->offset > f->sec[id].offset) {
            order[i] = order[i - 1];
            i--;
        }
        order[i] = &f->sec[id];
    }
    uint64_t at = KZ_HEADER_SIZE;
    for (unsigned k = 0; k <= n; k++) {
        uint64_t next = k < n ? order[k]->offset : table;
        for (uint64_t i = at; i < next; i++) {
            if (f->map[i] != 0) {
                char msg[160];
                snprintf(msg, sizeof msg, "padding byte at offset %llu is not zero", (unsigned long long)i);
                if (fn)
                    fn(ctx, msg);
                (*faults)++;
                return KZ_ECORRUPT;
            }
        }
        if (k < n && order[k]->offset + order[k]->length > at)
            at = order[k]->offset + order[k]->length;
    }
    return KZ_OK;
}

/* Lets go of the whole pages of [p, p+n): verifying a large index must
 * not hold all of it resident (a build's peak memory would count every
 * page). They come back from the page cache if read again. */
static void release_pages(const uint8_t *p, size_t n)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1), e = ((uintptr_t)(p + n)) & ~(page - 1);
    if (e > a)
        madvise((void *)a, e - a, MADV_DONTNEED);
}

void kz_file_release(kz_file *f) { release_pages(f->map, (size_t)f->size); }

#define VERIFY_PIECE ((uint64_t)16 << 20) /* a multiple of KZ_CHUNK_SIZE */

int kz_file_verify_all(kz_file *f, kz_check_fn fn, void *ctx, unsigned *faults)
{
    int rc = check_padding(f, fn, ctx, faults);
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    for (uint32_t id = 1; id < KZ_SEC_MAX; id++) {
        const kz_section_entry *s = &f->sec[id];
        /* One pass in pieces: the section's hash and its chunks' sums. */
        XXH3_64bits_reset(st);
        for (uint64_t at = 0; at < s->length; at += VERIFY_PIECE) {
            uint64_t n = KZ_MIN(s->length - at, VERIFY_PIECE);
            will_need(f->map + s->offset + at, n); /* the mapping is MADV_RANDOM */
            XXH3_64bits_update(st, f->map + s->offset + at, (size_t)n);
            if (id != KZ_SEC_CHUNKSUMS) {
                for (uint64_t c = at >> KZ_CHUNK_SHIFT; c < (at + n + KZ_CHUNK_SIZE - 1) >> KZ_CHUNK_SHIFT; c++) {
                    if (verify_chunk(f, s, c) != KZ_OK) {
                        if (fn)
                            fn(ctx, kz_last_error());
                        (*faults)++;
                        rc = KZ_ECORRUPT;
                    }
                }
            }
            release_pages(f->map + s->offset + at, (size_t)n);
        }
        if (XXH3_64bits_digest(st) != s->checksum) {
            char msg[160];
            snprintf(msg, sizeof msg, "section %s: checksum mismatch", section_names[id]);
            if (fn)
                fn(ctx, msg);
            (*faults)++;
            rc = KZ_ECORRUPT;
        }
    }
    XXH3_freeState(st);
    return rc;
}
