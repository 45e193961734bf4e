/*
 * warc.c: the records of a WARC file (ISO 28500, WARC/1.0 and 1.1).
 *
 * A record is a version line ("WARC/1.0"), named fields up to a blank
 * line, a block of exactly Content-Length bytes, and two CRLFs. wget
 * --warc-file and Heritrix compress each record as a gzip member of its
 * own; the zreader (source.c) reads any number of members, or a plain
 * file, as one stream.
 *
 * A response record of Content-Type application/http holds the HTTP
 * response as received: a status line, headers, a blank line, the body.
 * A body sent with Transfer-Encoding: chunked is de-chunked here. A body
 * with Content-Encoding gzip (x-gzip) or deflate (zlib-wrapped or raw),
 * br (Brotli, libbrotlidec) or zstd is decompressed here, at most
 * max_block bytes of it; other encodings (compress) are not decoded and
 * the record says so (kz_warc_record.decode).
 *
 * The reader holds one record's block at a time (at most max_block
 * bytes; a larger block is read past in pieces, not held). A file cut
 * short, or damaged gzip, ends the reading with KZ_ECORRUPT after the
 * records before it.
 */
#include "html.h"

#include <brotli/decode.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define WARC_CHUNK (256u << 10)
#define MAX_HEADER (64u << 10) /* bytes of a record's (or HTTP) header */

struct kz_warc_reader {
    int fd;
    kz_zreader *z;
    char *name;
    uint64_t max_block;
    kz_buf buf;         /* bytes read and not yet used: [at, len) */
    size_t at;
    int eof, damaged;
    uint64_t number;
    kz_buf header;      /* the record's fields, NUL-separated copies */
    kz_buf block;       /* the record's block */
    kz_buf body;        /* a de-chunked HTTP body */
    kz_buf decoded;     /* a decompressed HTTP body */
    char decode_error[160];
    char type[64];
    char *target_uri, *content_type, *http_content_type;
};

int kz_warc_is_name(const char *path)
{
    size_t n = strlen(path);
    return (n >= 5 && strcasecmp(path + n - 5, ".warc") == 0) || (n >= 8 && strcasecmp(path + n - 8, ".warc.gz") == 0);
}

int kz_warc_open(kz_warc_reader **out, int fd, const char *name, uint64_t max_block)
{
    int rc = KZ_OK;
    kz_warc_reader *r = calloc(1, sizeof *r);
    *out = NULL;
    if (!r || !(r->name = strdup(name))) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    r->fd = fd;
    r->max_block = max_block;
    if ((rc = kz_zreader_open(&r->z, fd)))
        goto done;
    *out = r;
    return KZ_OK;
done:
    if (r)
        free(r->name);
    free(r);
    close(fd);
    return rc;
}

void kz_warc_close(kz_warc_reader *r)
{
    if (!r)
        return;
    kz_zreader_free(r->z);
    close(r->fd);
    kz_buf_free(&r->buf);
    kz_buf_free(&r->header);
    kz_buf_free(&r->block);
    kz_buf_free(&r->body);
    kz_buf_free(&r->decoded);
    free(r->name);
    free(r);
}

uint64_t kz_warc_consumed(const kz_warc_reader *r) { return kz_zreader_consumed(r->z); }

/* Makes at least want bytes available at r->at (fewer at the end): 0, or
 * 1 when the stream is damaged (r->damaged), or a (negative) KZ error. */
static int fill(kz_warc_reader *r, size_t want)
{
    while (r->buf.len - r->at < want && !r->eof) {
        if (r->at > 0) {
            memmove(r->buf.data, r->buf.data + r->at, r->buf.len - r->at);
            r->buf.len -= r->at;
            r->at = 0;
        }
        int rc = kz_buf_reserve(&r->buf, WARC_CHUNK);
        if (rc)
            return rc;
        ssize_t n = kz_zreader_read(r->z, r->buf.data + r->buf.len, WARC_CHUNK);
        if (n < 0) {
            r->damaged = 1;
            r->eof = 1;
            return 1;
        }
        if (n == 0)
            r->eof = 1;
        r->buf.len += (size_t)n;
    }
    return 0;
}

static int corrupt(kz_warc_reader *r, const char *what)
{
    if (r->damaged)
        return kz_error_set(KZ_ECORRUPT, "record %llu: %s", (unsigned long long)r->number, kz_zreader_error(r->z));
    return kz_error_set(KZ_ECORRUPT, "record %llu: %s", (unsigned long long)r->number, what);
}

/* The end of a header (the blank line) in [s, s+n): the offset just past
 * it, or 0. */
static size_t header_end(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '\n')
            continue;
        if (s[i + 1] == '\n')
            return i + 2;
        if (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* The value of field name in a header [s, s+n) ("Name: value" lines),
 * trimmed, copied into r->header (NUL-terminated); "" when absent. */
static int header_field(kz_warc_reader *r, const uint8_t *s, size_t n, const char *name, char **out)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < n;) {
        const uint8_t *eol = memchr(s + i, '\n', n - i);
        size_t e = eol ? (size_t)(eol - s) : n;
        if (e - i > nl && s[i + nl] == ':' && strncasecmp((const char *)s + i, name, nl) == 0) {
            size_t v = i + nl + 1, ve = e;
            while (v < ve && (s[v] == ' ' || s[v] == '\t'))
                v++;
            while (ve > v && (s[ve - 1] == '\r' || s[ve - 1] == ' ' || s[ve - 1] == '\t'))
                ve--;
            size_t off = r->header.len;
            int rc;
            if ((rc = kz_buf_append(&r->header, s + v, ve - v)) || (rc = kz_buf_append_u8(&r->header, 0)))
                return rc;
            *out = (char *)(uintptr_t)off; /* an offset until the header is complete */
            return KZ_OK;
        }
        i = e + 1;
    }
    *out = (char *)(uintptr_t)SIZE_MAX;
    return KZ_OK;
}

static char *header_ptr(kz_warc_reader *r, char *off)
{
    size_t o = (size_t)(uintptr_t)off;
    return o == SIZE_MAX ? (char *)"" : (char *)r->header.data + o;
}

/* De-chunks an HTTP body [s, s+n) into r->body; 0, or -1 when it is not
 * well-formed chunked data (then the body is taken as it is). */
static int dechunk(kz_warc_reader *r, const uint8_t *s, size_t n)
{
    r->body.len = 0;
    size_t i = 0;
    while (i < n) {
        size_t size = 0;
        int digits = 0;
        while (i < n) {
            uint8_t c = s[i];
            int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (v < 0)
                break;
            if (size > (SIZE_MAX >> 4))
                return -1;
            size = size * 16 + (size_t)v;
            digits++;
            i++;
        }
        if (!digits)
            return -1;
        const uint8_t *eol = memchr(s + i, '\n', n - i);
        if (!eol)
            return -1;
        i = (size_t)(eol - s) + 1;
        if (size == 0)
            return 0;
        if (size > n - i)
            size = n - i; /* a cut last chunk: what there is */
        if (kz_buf_append(&r->body, s + i, size))
            return -1;
        i += size;
        while (i < n && (s[i] == '\r' || s[i] == '\n'))
            i++;
    }
    return 0;
}

/* One step of a streaming decoder (st): decodes from *in (*n_in bytes,
 * both advanced) into out (room bytes; *wrote of them written). 1 at the
 * stream's end, 0 to go on, DAMAGED_STEP (err says why), or a negative KZ
 * error. */
#define DAMAGED_STEP 2
typedef int (*decode_step)(void *st, const uint8_t **in, size_t *n_in, uint8_t *out, size_t room, size_t *wrote,
                           char *err, size_t err_size);

/* Decodes [s, s+n) into r->decoded with step, at most max bytes:
 * KZ_WARC_DECODED, KZ_WARC_DAMAGED or KZ_WARC_TOO_LARGE (r->decode_error
 * says), or a negative KZ error. Input that runs out before the stream's
 * end is a body cut short. */
static int decode_stream(kz_warc_reader *r, decode_step step, void *st, const uint8_t *s, size_t n, uint64_t max)
{
    r->decoded.len = 0;
    for (;;) {
        if (r->decoded.len > max) {
            snprintf(r->decode_error, sizeof r->decode_error,
                     "the decompressed body is over the document limit of %llu bytes", (unsigned long long)max);
            return KZ_WARC_TOO_LARGE;
        }
        int rc = kz_buf_reserve(&r->decoded, 64u << 10);
        if (rc)
            return rc;
        size_t room = KZ_MIN(r->decoded.cap - r->decoded.len, (size_t)(max - r->decoded.len) + 1), wrote = 0,
               n_before = n;
        rc = step(st, &s, &n, r->decoded.data + r->decoded.len, room, &wrote, r->decode_error,
                  sizeof r->decode_error);
        r->decoded.len += wrote;
        if (rc < 0)
            return rc;
        if (rc == DAMAGED_STEP)
            return KZ_WARC_DAMAGED;
        if (rc == 1)
            break;
        if (wrote == 0 && n == n_before) {
            snprintf(r->decode_error, sizeof r->decode_error, "the compressed body is cut short");
            return KZ_WARC_DAMAGED;
        }
    }
    if (r->decoded.len > max) {
        snprintf(r->decode_error, sizeof r->decode_error,
                 "the decompressed body is over the document limit of %llu bytes", (unsigned long long)max);
        return KZ_WARC_TOO_LARGE;
    }
    return KZ_WARC_DECODED;
}

static int inflate_step(void *st, const uint8_t **in, size_t *n_in, uint8_t *out, size_t room, size_t *wrote,
                        char *err, size_t err_size)
{
    z_stream *zs = st;
    zs->next_in = (Bytef *)(uintptr_t)*in;
    zs->avail_in = (uInt)KZ_MIN(*n_in, (size_t)UINT32_MAX);
    zs->next_out = out;
    zs->avail_out = (uInt)KZ_MIN(room, (size_t)UINT32_MAX);
    uInt in_before = zs->avail_in, out_before = zs->avail_out;
    int zr = inflate(zs, Z_NO_FLUSH);
    *in += in_before - zs->avail_in;
    *n_in -= in_before - zs->avail_in;
    *wrote = out_before - zs->avail_out;
    if (zr == Z_MEM_ERROR)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    if (zr == Z_NEED_DICT || zr == Z_DATA_ERROR || (zr == Z_BUF_ERROR && *n_in == 0)) {
        snprintf(err, err_size, "the compressed body is damaged or cut short%s%s", zs->msg ? ": " : "",
                 zs->msg ? zs->msg : "");
        return DAMAGED_STEP;
    }
    return zr == Z_STREAM_END;
}

/* Inflates a body with zlib window bits wbits (31 gzip, 15 zlib, -15 raw
 * deflate): as decode_stream. */
static int inflate_body(kz_warc_reader *r, const uint8_t *s, size_t n, int wbits, uint64_t max)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, wbits) != Z_OK)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    int rc = decode_stream(r, inflate_step, &zs, s, n, max);
    inflateEnd(&zs);
    return rc;
}

static int brotli_step(void *st, const uint8_t **in, size_t *n_in, uint8_t *out, size_t room, size_t *wrote,
                       char *err, size_t err_size)
{
    size_t avail_out = room;
    BrotliDecoderResult br = BrotliDecoderDecompressStream(st, n_in, in, &avail_out, &out, NULL);
    *wrote = room - avail_out;
    if (br == BROTLI_DECODER_RESULT_ERROR) {
        snprintf(err, err_size, "the Brotli body is damaged: %s",
                 BrotliDecoderErrorString(BrotliDecoderGetErrorCode(st)));
        return DAMAGED_STEP;
    }
    return br == BROTLI_DECODER_RESULT_SUCCESS;
}

/* A body in Content-Encoding br (RFC 7932): as decode_stream. */
static int brotli_body(kz_warc_reader *r, const uint8_t *s, size_t n, uint64_t max)
{
    BrotliDecoderState *st = BrotliDecoderCreateInstance(NULL, NULL, NULL);
    if (!st)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    int rc = decode_stream(r, brotli_step, st, s, n, max);
    BrotliDecoderDestroyInstance(st);
    return rc;
}

static int zstd_step(void *st, const uint8_t **in, size_t *n_in, uint8_t *out, size_t room, size_t *wrote,
                     char *err, size_t err_size)
{
    ZSTD_inBuffer ib = { *in, *n_in, 0 };
    ZSTD_outBuffer ob = { out, room, 0 };
    size_t left = ZSTD_decompressStream(st, &ob, &ib);
    *in += ib.pos;
    *n_in -= ib.pos;
    *wrote = ob.pos;
    if (ZSTD_isError(left)) {
        if (ZSTD_getErrorCode(left) == ZSTD_error_memory_allocation)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        snprintf(err, err_size, "the zstd body is damaged: %s", ZSTD_getErrorName(left));
        return DAMAGED_STEP;
    }
    /* A frame ended where the body does: done (frames may follow one another). */
    return left == 0 && *n_in == 0;
}

/* A body in Content-Encoding zstd (RFC 8878), whose window HTTP bounds to
 * 8 MiB (RFC 9659): as decode_stream. */
static int zstd_body(kz_warc_reader *r, const uint8_t *s, size_t n, uint64_t max)
{
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    if (!dc)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    int rc = KZ_WARC_DAMAGED;
    if (ZSTD_isError(ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, 23)))
        snprintf(r->decode_error, sizeof r->decode_error, "the zstd library refuses an 8 MiB window");
    else
        rc = decode_stream(r, zstd_step, dc, s, n, max);
    ZSTD_freeDCtx(dc);
    return rc;
}

/* Decodes rec's body by its HTTP Content-Encoding enc (rec->decode). */
static int decode_body(kz_warc_reader *r, kz_warc_record *rec, const char *enc)
{
    r->decode_error[0] = 0;
    rec->decode_error = r->decode_error;
    while (*enc == ' ')
        enc++;
    if (!*enc || strcasecmp(enc, "identity") == 0)
        return KZ_OK;
    const uint8_t *s = (const uint8_t *)rec->body;
    size_t n = rec->body_len;
    int rc;
    if (strcasecmp(enc, "gzip") == 0 || strcasecmp(enc, "x-gzip") == 0) {
        rc = inflate_body(r, s, n, 31, r->max_block);
    } else if (strcasecmp(enc, "deflate") == 0) {
        /* Meant to be zlib-wrapped; some servers send it raw. */
        rc = inflate_body(r, s, n, 15, r->max_block);
        if (rc == KZ_WARC_DAMAGED)
            rc = inflate_body(r, s, n, -15, r->max_block);
    } else if (strcasecmp(enc, "br") == 0) {
        rc = brotli_body(r, s, n, r->max_block);
    } else if (strcasecmp(enc, "zstd") == 0) {
        rc = zstd_body(r, s, n, r->max_block);
    } else {
        snprintf(r->decode_error, sizeof r->decode_error, "a body in Content-Encoding \"%.40s\", which is not decoded",
                 enc);
        rec->decode = KZ_WARC_UNSUPPORTED;
        return KZ_OK;
    }
    if (rc < 0)
        return rc;
    rec->decode = rc;
    if (rc == KZ_WARC_DECODED) {
        rec->body = r->decoded.len ? (const char *)r->decoded.data : "";
        rec->body_len = r->decoded.len;
    }
    return KZ_OK;
}

int kz_warc_next(kz_warc_reader *r, kz_warc_record *rec)
{
    int rc;
    memset(rec, 0, sizeof *rec);
    /* Blank lines between records. */
    for (;;) {
        if ((rc = fill(r, 1)) < 0)
            return rc;
        if (rc > 0) {
            r->number++;
            return corrupt(r, "damaged");
        }
        if (r->at == r->buf.len)
            return KZ_ENOTFOUND;
        uint8_t c = r->buf.data[r->at];
        if (c != '\r' && c != '\n')
            break;
        r->at++;
    }
    r->number++;
    /* The header. */
    size_t hlen = 0;
    for (size_t want = 4096;; want *= 2) {
        if ((rc = fill(r, want)) < 0)
            return rc;
        hlen = header_end(r->buf.data + r->at, r->buf.len - r->at);
        if (hlen || r->eof || want > MAX_HEADER)
            break;
    }
    if (!hlen)
        return corrupt(r, r->eof ? "cut short in its header (a truncated file?)" : "a header without its end");
    const uint8_t *h = r->buf.data + r->at;
    if (hlen < 6 || memcmp(h, "WARC/", 5) != 0)
        return corrupt(r, "not a WARC record (no WARC/ version line)");
    r->header.len = 0;
    char *type, *uri, *ct, *cl;
    if ((rc = header_field(r, h, hlen, "WARC-Type", &type)) || (rc = header_field(r, h, hlen, "WARC-Target-URI", &uri)) ||
        (rc = header_field(r, h, hlen, "Content-Type", &ct)) || (rc = header_field(r, h, hlen, "Content-Length", &cl)))
        return rc;
    const char *cls = header_ptr(r, cl);
    char *endp;
    unsigned long long block_len = strtoull(cls, &endp, 10);
    if (!*cls || *endp)
        return corrupt(r, "no valid Content-Length");
    r->at += hlen;
    snprintf(r->type, sizeof r->type, "%s", header_ptr(r, type));
    rec->number = r->number;
    rec->type = r->type;
    rec->block_len = block_len;
    /* The block: held, or read past when too large. */
    r->block.len = 0;
    uint64_t left = block_len;
    int hold = block_len <= r->max_block;
    while (left > 0) {
        if ((rc = fill(r, (size_t)KZ_MIN(left, (uint64_t)WARC_CHUNK))) < 0)
            return rc;
        size_t have = KZ_MIN((uint64_t)(r->buf.len - r->at), left);
        if (have == 0)
            return corrupt(r, "cut short in its block (a truncated file?)");
        if (hold && (rc = kz_buf_append(&r->block, r->buf.data + r->at, have)))
            return rc;
        r->at += have;
        left -= have;
    }
    rec->target_uri = header_ptr(r, uri);
    rec->content_type = header_ptr(r, ct);
    rec->http_content_type = "";
    if (!hold) {
        rec->too_large = 1;
        return KZ_OK;
    }
    const uint8_t *blk = r->block.data;
    size_t blen = r->block.len;
    rec->body = blen ? (const char *)blk : "";
    rec->body_len = blen;
    if (strncasecmp(rec->content_type, "application/http", 16) == 0 && blen > 12 && memcmp(blk, "HTTP/", 5) == 0) {
        size_t he = header_end(blk, KZ_MIN(blen, (size_t)MAX_HEADER));
        const uint8_t *sp = memchr(blk, ' ', KZ_MIN(blen, (size_t)32));
        if (sp && sp + 4 <= blk + blen)
            rec->http_status = atoi((const char *)sp + 1) % 1000;
        if (he) {
            char *hct, *te, *ce;
            if ((rc = header_field(r, blk, he, "Content-Type", &hct)) ||
                (rc = header_field(r, blk, he, "Transfer-Encoding", &te)) ||
                (rc = header_field(r, blk, he, "Content-Encoding", &ce)))
                return rc;
            rec->target_uri = header_ptr(r, uri); /* header may have moved */
            rec->content_type = header_ptr(r, ct);
            rec->http_content_type = header_ptr(r, hct);
            rec->body = (const char *)blk + he;
            rec->body_len = blen - he;
            const char *tev = header_ptr(r, te);
            if (strstr(tev, "chunked") && dechunk(r, blk + he, blen - he) == 0) {
                rec->body = r->body.len ? (const char *)r->body.data : "";
                rec->body_len = r->body.len;
            }
            if ((rc = decode_body(r, rec, header_ptr(r, ce))))
                return rc;
        } else {
            rec->body = "";
            rec->body_len = 0;
        }
    }
    /* The two CRLFs after the block are skipped as blank lines by the next call. */
    return KZ_OK;
}
