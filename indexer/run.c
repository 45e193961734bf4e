/*
 * run.c: sorted runs, the files that bound the indexer's memory.
 *
 * When an inverter's postings reach its share of the memory budget, it
 * writes them out as a run: terms in byte order, each with its postings in
 * docid order, and starts afresh. The final merge reads all runs at once,
 * term by term, like the merge phase of an external sort.
 *
 * A run file is private to one build and deleted after it, so its format is
 * not in FORMAT.md:
 *   "KZRUN001"
 *   per term: varint term_len, term bytes, varint df, varint n_bytes, n_bytes
 *             of postings: per posting varint docid (the first absolute, then
 *             the gap to the previous), varint tf, tf position varints
 *             (first absolute, then gap-1)
 *   varint 0 (an empty term ends the run)
 */
#include "kzint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define RUN_MAGIC "KZRUN001"
#define RUN_READ_BUFFER (256u << 10)

/* ------------------------------------------------------------------ writer */

int kz_run_write(const char *path, kz_run_term *terms, size_t n_terms)
{
    int rc = KZ_OK;
    kz_buf out = { 0 };
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return kz_error_errno(KZ_EIO, errno, "cannot create %s", path);
    if ((rc = kz_buf_append(&out, RUN_MAGIC, 8)))
        goto done;
    for (size_t i = 0; i < n_terms; i++) {
        const kz_run_term *t = &terms[i];
        if ((rc = kz_buf_append_varint(&out, t->len)) || (rc = kz_buf_append(&out, t->text, t->len)) ||
            (rc = kz_buf_append_varint(&out, t->df)) || (rc = kz_buf_append_varint(&out, t->n_bytes)))
            goto done;
        if (out.len + t->n_bytes > RUN_READ_BUFFER) {
            if ((rc = kz_write_all(fd, out.data, out.len, path)))
                goto done;
            out.len = 0;
        }
        if (t->n_bytes >= RUN_READ_BUFFER) {
            if ((rc = kz_write_all(fd, t->bytes, t->n_bytes, path)))
                goto done;
        } else if ((rc = kz_buf_append(&out, t->bytes, t->n_bytes))) {
            goto done;
        }
    }
    if ((rc = kz_buf_append_varint(&out, 0)) || (rc = kz_write_all(fd, out.data, out.len, path)))
        goto done;
done:
    kz_buf_free(&out);
    if (close(fd) != 0 && rc == KZ_OK)
        rc = kz_error_errno(KZ_EIO, errno, "cannot close %s", path);
    return rc;
}

/* ------------------------------------------------------------------ reader */

struct kz_run_reader {
    int fd;
    char *path;
    kz_buf buf;   /* buffered file bytes */
    size_t at;    /* read position in buf */
    int eof;
    size_t read_size; /* bytes read ahead at a time */
    /* The current term, after kz_run_next() returned 1, and what is left
     * of its postings. */
    kz_buf term;
    uint32_t df;
    uint32_t postings_left;
    uint64_t bytes_left;
    uint32_t last_docid;
    uint32_t *values; /* the last posting's positions, decoded */
    size_t values_cap;
};

static int reader_fill(kz_run_reader *r, size_t want)
{
    if (r->buf.len - r->at >= want || r->eof)
        return KZ_OK;
    if (r->at > 0) {
        memmove(r->buf.data, r->buf.data + r->at, r->buf.len - r->at);
        r->buf.len -= r->at;
        r->at = 0;
    }
    size_t need = KZ_MAX(want, r->read_size);
    int rc = kz_buf_reserve(&r->buf, need);
    if (rc)
        return rc;
    while (r->buf.len < want || r->buf.len < r->read_size) {
        ssize_t n = read(r->fd, r->buf.data + r->buf.len, r->buf.cap - r->buf.len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return kz_error_errno(KZ_EIO, errno, "cannot read %s", r->path);
        }
        if (n == 0) {
            r->eof = 1;
            break;
        }
        r->buf.len += (size_t)n;
    }
    return KZ_OK;
}

static int reader_varint(kz_run_reader *r, uint64_t *v)
{
    int rc = reader_fill(r, 10);
    if (rc)
        return rc;
    const uint8_t *p = r->buf.data + r->at;
    if (kz_varint_get(&p, r->buf.data + r->buf.len, v))
        return kz_error_set(KZ_EIO, "%s: run file truncated", r->path);
    r->at = (size_t)(p - r->buf.data);
    return KZ_OK;
}

static int reader_bytes(kz_run_reader *r, kz_buf *out, size_t n)
{
    out->len = 0;
    int rc = reader_fill(r, n);
    if (rc)
        return rc;
    if (r->buf.len - r->at < n)
        return kz_error_set(KZ_EIO, "%s: run file truncated", r->path);
    rc = kz_buf_append(out, r->buf.data + r->at, n);
    r->at += n;
    return rc;
}

int kz_run_open(kz_run_reader **out, const char *path, size_t read_size)
{
    int rc = KZ_OK;
    kz_run_reader *r = calloc(1, sizeof *r);
    if (!r)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    r->read_size = read_size ? read_size : RUN_READ_BUFFER;
    r->path = strdup(path);
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (!r->path) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    if (r->fd < 0) {
        rc = kz_error_errno(KZ_EIO, errno, "cannot open %s", path);
        goto done;
    }
    if ((rc = reader_fill(r, 8)))
        goto done;
    if (r->buf.len < 8 || memcmp(r->buf.data, RUN_MAGIC, 8) != 0) {
        rc = kz_error_set(KZ_EIO, "%s: not a run file", path);
        goto done;
    }
    r->at = 8;
done:
    if (rc) {
        kz_run_close(r);
        return rc;
    }
    *out = r;
    return KZ_OK;
}

/* Passes over n bytes of the file: those buffered, then a seek. */
static int reader_skip(kz_run_reader *r, uint64_t n)
{
    size_t in_buf = (size_t)KZ_MIN(n, (uint64_t)(r->buf.len - r->at));
    r->at += in_buf;
    n -= in_buf;
    if (n == 0)
        return KZ_OK;
    if (r->eof || lseek(r->fd, (off_t)n, SEEK_CUR) < 0)
        return kz_error_set(KZ_EIO, "%s: run file truncated", r->path);
    return KZ_OK;
}

static int truncated(const kz_run_reader *r) { return kz_error_set(KZ_EIO, "%s: run file damaged", r->path); }

int kz_run_next(kz_run_reader *r)
{
    uint64_t len, df, n;
    int rc = reader_skip(r, r->bytes_left);
    if (rc || (rc = reader_varint(r, &len)))
        return rc;
    if (len == 0)
        return 0;
    if ((rc = reader_bytes(r, &r->term, (size_t)len)) || (rc = reader_varint(r, &df)) ||
        (rc = reader_varint(r, &n)))
        return rc;
    if (df == 0 || df > UINT32_MAX || n < 3 * df)
        return truncated(r);
    r->df = r->postings_left = (uint32_t)df;
    r->bytes_left = n;
    return 1;
}

const uint8_t *kz_run_current_term(const kz_run_reader *r, size_t *len)
{
    *len = r->term.len;
    return r->term.data;
}

uint32_t kz_run_current_df(const kz_run_reader *r) { return r->df; }

int kz_run_posting_next(kz_run_reader *r, kz_run_posting *out)
{
    if (r->postings_left == 0)
        return r->bytes_left == 0 ? 0 : truncated(r);
    /* docid and tf, then tf position varints of at most 5 bytes each */
    int rc = reader_fill(r, (size_t)KZ_MIN(r->bytes_left, 10));
    if (rc)
        return rc;
    const uint8_t *start = r->buf.data + r->at, *p = start;
    const uint8_t *end = start + KZ_MIN(r->bytes_left, (uint64_t)(r->buf.len - r->at));
    uint32_t gap, tf;
    if (kz_varint_get32(&p, end, &gap) || kz_varint_get32(&p, end, &tf) || tf == 0)
        return truncated(r);
    int first = r->postings_left == r->df;
    if (!first && (gap == 0 || gap > UINT32_MAX - r->last_docid))
        return truncated(r);
    uint32_t docid = first ? gap : r->last_docid + gap;
    size_t head = (size_t)(p - start);
    uint64_t most = KZ_MIN(r->bytes_left - head, 5 * (uint64_t)tf);
    if (most > SIZE_MAX / 2)
        return truncated(r);
    if ((rc = reader_fill(r, head + (size_t)most)))
        return rc;
    start = r->buf.data + r->at; /* the fill may have moved the buffer */
    p = start + head;
    end = start + KZ_MIN(r->bytes_left, (uint64_t)(r->buf.len - r->at));
    if (tf > r->values_cap) {
        size_t cap = KZ_MAX((size_t)tf, 2 * r->values_cap);
        uint32_t *v = realloc(r->values, cap * sizeof *v);
        if (!v)
            return kz_error_set(KZ_ENOMEM, "out of memory reading a run");
        r->values = v;
        r->values_cap = cap;
    }
    for (uint32_t k = 0; k < tf; k++)
        if (kz_varint_get32(&p, end, &r->values[k]))
            return truncated(r);
    out->docid = docid;
    out->tf = tf;
    out->pos = r->values;
    r->at += (size_t)(p - start);
    r->bytes_left -= (uint64_t)(p - start);
    r->postings_left--;
    r->last_docid = docid;
    return 1;
}

void kz_run_close(kz_run_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    free(r->path);
    kz_buf_free(&r->buf);
    kz_buf_free(&r->term);
    free(r->values);
    free(r);
}
