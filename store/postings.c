/*
 * postings.c: a term's posting blob, written and read in place.
 *
 * Layout (FORMAT.md "Posting blob"), for a term in df > 1 documents:
 *   varint cf, max_tf
 *   f32    bound (rounded up)
 *   bitmap       CRoaring portable serialization of the docids
 *   block table  ceil(df/128) entries of 28 bytes, only when df > 128
 *   tf           per block of 128 postings, tf-1 bit-packed at the width
 *                of the block's max_tf-1 (no bytes when every tf is 1)
 *   positions    per 128-posting block, a byte (k1 | k2 << 4) then Rice
 *                codes in posting order: the first position (k1), then
 *                tf-1 gaps minus one (k2); padded to a byte
 * and for a term in one document (most of the dictionary): varint tf,
 * bitmap, positions as tf varints (the first position, then each gap
 * minus one); its bound follows from tf and dl. The bitmap's length
 * follows from its header.
 *
 * The bitmap is read with our own parser of the portable format (the
 * RoaringFormatSpec), so that a query walks the containers in the mapped
 * file without copying them: see kz_plist_open().
 */
#include "kzint.h"
#include "format.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <roaring/roaring.h>
#include <stdlib.h>
#include <unistd.h>

/* Constants of the portable format. */
#define SERIAL_COOKIE_NO_RUNCONTAINER 12346
#define SERIAL_COOKIE 12347
#define NO_OFFSET_THRESHOLD 4
#define BITSET_BYTES 8192
#define ARRAY_MAX 4096

static double saturation(uint32_t tf, uint32_t dl, double avgdl)
{
    /* The BM25 tf part, in the order the README specifies for w(t,d). */
    double t = (double)tf;
    return t / (t + KZ_BM25_K1 * ((1.0 - KZ_BM25_B) + KZ_BM25_B * (double)dl / avgdl));
}

static float round_up_float(double v)
{
    float f = (float)v;
    if ((double)f < v)
        f = nextafterf(f, INFINITY);
    return f;
}

/* CRoaring writes a bitmap without run containers with cookie 12346, a
 * container count and an offset header (4 bytes per container). The
 * format's other header, cookie 12347 with a run flag per container, has
 * no offset header below 4 containers: for the one-container bitmaps of
 * nearly every term it is 7 bytes shorter. Rewrites [buf, buf+len) in
 * place to that header when it is, and returns the new length. Both are
 * the portable format; CRoaring reads either. */
static size_t compact_portable_header(uint8_t *buf, size_t len)
{
    if (len < 8 || kz_load_u32(buf) != SERIAL_COOKIE_NO_RUNCONTAINER)
        return len;
    uint32_t n = kz_load_u32(buf + 4);
    if (n == 0 || n >= NO_OFFSET_THRESHOLD)
        return len;
    size_t flags = (n + 7) / 8;
    size_t old_head = 8 + 8 * (size_t)n, new_head = 4 + flags + 4 * (size_t)n;
    uint8_t head[4 + 1 + 4 * 3];
    kz_store_u32(head, SERIAL_COOKIE | (n - 1) << 16);
    memset(head + 4, 0, flags); /* no run containers */
    memcpy(head + 4 + flags, buf + 8, 4 * (size_t)n); /* keys and cardinalities */
    memmove(buf + new_head, buf + old_head, len - old_head);
    memcpy(buf, head, new_head);
    return len - (old_head - new_head);
}

/* Bits needed for v (0 for 0). */
static uint32_t bit_width(uint32_t v) { return v ? 32u - (uint32_t)__builtin_clz(v) : 0; }

/* Appends n values < 2^width, little-endian bit order, padded to a byte. */
static int pack_bits(kz_buf *out, const uint32_t *tfs, uint32_t n, uint32_t width)
{
    if (width == 0)
        return KZ_OK;
    size_t bytes = ((size_t)n * width + 7) / 8;
    int rc = kz_buf_reserve(out, bytes + 8);
    if (rc)
        return rc;
    uint8_t *p = out->data + out->len;
    memset(p, 0, bytes + 8);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t bit = (uint64_t)i * width;
        uint64_t word = kz_load_u64(p + bit / 8);
        word |= (uint64_t)(tfs[i] - 1) << (bit % 8);
        kz_store_u64(p + bit / 8, word);
    }
    out->len += bytes;
    return KZ_OK;
}

/* ---------------------------------------------------------- Rice codes */

/* Positions are Rice codes, LSB first: a value v with parameter k is
 * v >> k one-bits, a zero bit, then the k low bits of v. The writer fills
 * a buffer sized exactly beforehand. */
typedef struct bit_writer {
    uint8_t *p;   /* the next byte to write */
    uint64_t acc; /* bits not yet written, the oldest lowest */
    unsigned n;   /* bits in acc, < 32 between calls */
} bit_writer;

/* Keeps the bits in a register and stores 32 at a time: writing through
 * memory for each code stalls on store forwarding. */
static inline void bw_put(bit_writer *w, uint64_t v, unsigned bits) /* bits <= 32 */
{
    w->acc |= v << w->n;
    w->n += bits;
    if (w->n >= 32) {
        kz_store_u32(w->p, (uint32_t)w->acc);
        w->p += 4;
        w->acc >>= 32;
        w->n -= 32;
    }
}

static inline void bw_rice(bit_writer *w, uint32_t v, unsigned k)
{
    uint32_t q = v >> k;
    while (q >= 32) {
        bw_put(w, 0xFFFFFFFFu, 32);
        q -= 32;
    }
    bw_put(w, (1ull << q) - 1, q + 1); /* q ones, then the zero */
    if (k)
        bw_put(w, v & ((1u << k) - 1), k);
}

static void bw_flush(bit_writer *w)
{
    while (w->n > 0) {
        *w->p++ = (uint8_t)w->acc;
        w->acc >>= 8;
        w->n = w->n > 8 ? w->n - 8 : 0;
    }
}

/* The k in 0..15 that codes values in the fewest bits, and that count:
 * the estimate from their mean, and its neighbours, measured exactly. */
static unsigned best_rice_k(const uint32_t *v, size_t n, uint64_t *bits_out)
{
    *bits_out = 0;
    if (n == 0)
        return 0;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    uint64_t mean = sum / n;
    unsigned guess = mean ? 63u - (unsigned)__builtin_clzll(mean) : 0;
    /* k fits a nibble: far apart values (mean above 2^16) take k = 15
     * and long unary parts rather than no k at all. */
    unsigned best = 0, lo = guess ? guess - 1 : 0, hi = guess + 1;
    if (hi > 15)
        hi = 15;
    if (lo > hi)
        lo = hi;
    /* The unary parts of every candidate k, in one pass. */
    uint64_t unary[3] = { 0, 0, 0 };
    unsigned k2 = KZ_MIN(lo + 2, 15u);
    for (size_t i = 0; i < n; i++) {
        unary[0] += v[i] >> lo;
        unary[1] += v[i] >> (lo + 1);
        unary[2] += v[i] >> k2;
    }
    uint64_t best_bits = UINT64_MAX;
    for (unsigned k = lo; k <= hi; k++) {
        uint64_t bits = (uint64_t)n * (k + 1) + unary[k - lo];
        if (bits < best_bits) {
            best_bits = bits;
            best = k;
        }
    }
    *bits_out = best_bits;
    return best;
}

/* ------------------------------------------------------------ the writer */

/*
 * A term's blob is written from a stream of postings, 128 at a time, so
 * that a term's memory does not grow with its positions: each full block
 * is coded at once (Rice positions, bit-packed tfs, its block-table entry,
 * its docids into the bitmap), and the coded positions, which come last
 * in the blob and are most of it, go to a spill file past spill_at bytes.
 * What stays in memory for a term is its bitmap, block table and tf bits,
 * a few bits a posting. kz_postings_writer_finish() writes the blob out.
 */
struct kz_postings_writer {
    const uint32_t *doc_lengths;
    double avgdl;
    int spill_fd;      /* -1: positions stay in memory */
    uint64_t spill_at; /* bytes of coded positions kept before spilling */
    /* The block being filled: its postings, each one's first position,
     * and the other positions' gaps minus one in posting order. */
    uint32_t docids[KZ_POSTING_BLOCK], tfs[KZ_POSTING_BLOCK], firsts[KZ_POSTING_BLOCK];
    uint32_t n_block;
    uint32_t *gaps;
    size_t n_gaps, gaps_cap;
    /* The term so far. */
    uint64_t df, cf;
    uint32_t max_tf, last_docid;
    double bound;
    roaring_bitmap_t *bm;
    kz_buf table, tf_bits, pos; /* pos: coded positions not spilled */
    uint64_t spilled;           /* coded positions in the spill file */
    kz_buf head;                /* scratch for the header and bitmap */
};

int kz_postings_writer_new(kz_postings_writer **out, const uint32_t *doc_lengths, double avgdl, int spill_fd,
                           uint64_t spill_at)
{
    kz_postings_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->bm = roaring_bitmap_create())) {
        free(w);
        return kz_error_set(KZ_ENOMEM, "out of memory");
    }
    w->doc_lengths = doc_lengths;
    w->avgdl = avgdl > 0 ? avgdl : 1.0;
    w->spill_fd = spill_fd;
    w->spill_at = spill_at;
    *out = w;
    return KZ_OK;
}

void kz_postings_writer_free(kz_postings_writer *w)
{
    if (!w)
        return;
    if (w->bm)
        roaring_bitmap_free(w->bm);
    free(w->gaps);
    kz_buf_free(&w->table);
    kz_buf_free(&w->tf_bits);
    kz_buf_free(&w->pos);
    kz_buf_free(&w->head);
    free(w);
}

static void writer_reset(kz_postings_writer *w)
{
    w->n_block = 0;
    w->n_gaps = 0;
    w->df = w->cf = 0;
    w->max_tf = 0;
    w->bound = 0;
    roaring_bitmap_clear(w->bm);
    w->table.len = w->tf_bits.len = w->pos.len = 0;
    w->spilled = 0;
}

/* Codes the block's positions as one Rice block: a byte (k of first
 * positions | k of gaps << 4), then the codes in posting order. */
static int encode_position_block(kz_postings_writer *w)
{
    uint64_t bits1, bits2;
    unsigned k1 = best_rice_k(w->firsts, w->n_block, &bits1);
    unsigned k2 = best_rice_k(w->gaps, w->n_gaps, &bits2);
    size_t bytes = (size_t)((bits1 + bits2 + 7) / 8);
    kz_buf *out = &w->pos;
    int rc = kz_buf_reserve(out, 1 + bytes + 8);
    if (rc)
        return rc;
    out->data[out->len] = (uint8_t)(k1 | k2 << 4);
    bit_writer bw = { out->data + out->len + 1, 0, 0 };
    const uint32_t *g = w->gaps;
    for (uint32_t i = 0; i < w->n_block; i++) {
        bw_rice(&bw, w->firsts[i], k1);
        for (uint32_t j = 1; j < w->tfs[i]; j++)
            bw_rice(&bw, *g++, k2);
    }
    bw_flush(&bw);
    if (bw.p != out->data + out->len + 1 + bytes)
        return kz_error_set(KZ_EIO, "internal error: Rice block size miscounted");
    out->len += 1 + bytes;
    return KZ_OK;
}

static int spill(kz_postings_writer *w)
{
    size_t done = 0;
    while (done < w->pos.len) {
        ssize_t n = pwrite(w->spill_fd, w->pos.data + done, w->pos.len - done, (off_t)(w->spilled + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return kz_error_errno(KZ_EIO, n < 0 ? errno : ENOSPC, "cannot write the merge's spill file");
        done += (size_t)n;
    }
    w->spilled += w->pos.len;
    w->pos.len = 0;
    return KZ_OK;
}

/* Codes the full or last block: its entry in the block table, its tf
 * bits, its positions. */
static int flush_block(kz_postings_writer *w)
{
    uint32_t n = w->n_block, bmax_tf = 0, bmin_dl = UINT32_MAX;
    double bbound = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t dl = w->doc_lengths[w->docids[i]];
        bmax_tf = KZ_MAX(bmax_tf, w->tfs[i]);
        bmin_dl = KZ_MIN(bmin_dl, dl);
        double s = saturation(w->tfs[i], dl, w->avgdl);
        if (s > bbound)
            bbound = s;
    }
    if (bbound > w->bound)
        w->bound = bbound;
    w->max_tf = KZ_MAX(w->max_tf, bmax_tf);
    if (w->tf_bits.len > UINT32_MAX)
        return kz_error_set(KZ_ELIMIT, "a term's tf bits exceed 4 GiB");
    uint8_t e[KZ_BLOCK_SIZE];
    float fb = round_up_float(bbound);
    kz_store_u64(e + KZ_BLOCK_POS_OFF, w->spilled + w->pos.len);
    kz_store_u32(e + KZ_BLOCK_TF_OFF, (uint32_t)w->tf_bits.len);
    kz_store_u32(e + KZ_BLOCK_LAST_DOC, w->docids[n - 1]);
    kz_store_u32(e + KZ_BLOCK_MAX_TF, bmax_tf);
    kz_store_u32(e + KZ_BLOCK_MIN_DL, bmin_dl);
    memcpy(e + KZ_BLOCK_BOUND, &fb, 4);
    int rc;
    if ((rc = kz_buf_append(&w->table, e, sizeof e)) ||
        (rc = pack_bits(&w->tf_bits, w->tfs, n, bit_width(bmax_tf - 1))) || (rc = encode_position_block(w)))
        return rc;
    roaring_bitmap_add_many(w->bm, n, w->docids);
    w->n_block = 0;
    w->n_gaps = 0;
    if (w->spill_fd >= 0 && w->pos.len >= w->spill_at)
        return spill(w);
    return KZ_OK;
}

int kz_postings_writer_add(kz_postings_writer *w, uint32_t docid, uint32_t tf, const uint32_t *pos)
{
    if (tf == 0 || (w->df > 0 && docid <= w->last_docid))
        return kz_error_set(KZ_EIO, "internal error: postings out of order or without positions");
    if (w->df == UINT32_MAX)
        return kz_error_set(KZ_ELIMIT, "a term in more than 2^32 - 1 documents");
    if (w->n_gaps + tf - 1 > w->gaps_cap) {
        size_t cap = KZ_MAX(w->n_gaps + tf - 1, 2 * w->gaps_cap);
        if (cap > SIZE_MAX / sizeof *w->gaps)
            return kz_error_set(KZ_ELIMIT, "a posting block holds too many positions");
        uint32_t *g = realloc(w->gaps, cap * sizeof *g);
        if (!g)
            return kz_error_set(KZ_ENOMEM, "out of memory coding positions");
        w->gaps = g;
        w->gaps_cap = cap;
    }
    uint32_t i = w->n_block++;
    w->docids[i] = docid;
    w->tfs[i] = tf;
    w->firsts[i] = pos[0];
    if (tf > 1) {
        memcpy(w->gaps + w->n_gaps, pos + 1, (size_t)(tf - 1) * sizeof *pos);
        w->n_gaps += tf - 1;
    }
    w->last_docid = docid;
    w->df++;
    w->cf += tf;
    if (w->n_block == KZ_POSTING_BLOCK)
        return flush_block(w);
    return KZ_OK;
}

uint64_t kz_postings_writer_df(const kz_postings_writer *w) { return w->df; }

/* Passes [data, data+len) to the sink; an empty part (whose data may be
 * NULL) is not passed. */
static int emit(kz_sink_fn sink, void *ctx, const void *data, size_t len)
{
    return len ? sink(ctx, data, len) : KZ_OK;
}

/* Sends the spilled positions to the sink, a chunk at a time. */
static int copy_spill(kz_postings_writer *w, kz_sink_fn sink, void *ctx)
{
    uint8_t buf[1 << 16];
    for (uint64_t at = 0; at < w->spilled;) {
        size_t want = (size_t)KZ_MIN((uint64_t)sizeof buf, w->spilled - at);
        ssize_t n = pread(w->spill_fd, buf, want, (off_t)at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return kz_error_errno(KZ_EIO, n < 0 ? errno : EIO, "cannot read the merge's spill file back");
        int rc = sink(ctx, buf, (size_t)n);
        if (rc)
            return rc;
        at += (uint64_t)n;
    }
    return KZ_OK;
}

int kz_postings_writer_finish(kz_postings_writer *w, kz_sink_fn sink, void *ctx, uint64_t *blob_len)
{
    int rc = KZ_OK;
    uint64_t df = w->df;
    *blob_len = 0;
    if (df == 0)
        return kz_error_set(KZ_EINVAL, "internal error: a term without postings");
    /* A term in one document keeps its positions as varints: for so few
     * values a Rice block's header costs more than it saves. */
    if (df == 1) {
        uint32_t dl = w->doc_lengths[w->docids[0]];
        w->max_tf = w->tfs[0];
        w->bound = saturation(w->tfs[0], dl, w->avgdl);
        roaring_bitmap_add(w->bm, w->docids[0]);
    } else if (w->n_block > 0 && (rc = flush_block(w))) {
        goto done;
    }
    kz_buf *h = &w->head;
    h->len = 0;
    if (df == 1) {
        rc = kz_buf_append_varint(h, w->cf);
    } else {
        uint8_t f32[4];
        float fb = round_up_float(w->bound);
        memcpy(f32, &fb, 4);
        if ((rc = kz_buf_append_varint(h, w->cf)) == KZ_OK && (rc = kz_buf_append_varint(h, w->max_tf)) == KZ_OK)
            rc = kz_buf_append(h, f32, 4);
    }
    if (rc)
        goto done;
    roaring_bitmap_run_optimize(w->bm);
    size_t bm_len = roaring_bitmap_portable_size_in_bytes(w->bm);
    if ((rc = kz_buf_reserve(h, bm_len)))
        goto done;
    roaring_bitmap_portable_serialize(w->bm, (char *)h->data + h->len);
    h->len += compact_portable_header(h->data + h->len, bm_len);
    /* The block table only when there is more than one block. */
    int has_table = df > KZ_POSTING_BLOCK;
    if ((rc = emit(sink, ctx, h->data, h->len)) || (has_table && (rc = emit(sink, ctx, w->table.data, w->table.len))))
        goto done;
    uint64_t len = h->len + (has_table ? w->table.len : 0);
    if (df == 1) {
        /* The first position, then each gap minus one, as varints. */
        h->len = 0;
        if ((rc = kz_buf_append_varint(h, w->firsts[0])))
            goto done;
        for (size_t k = 0; k < w->n_gaps; k++)
            if ((rc = kz_buf_append_varint(h, w->gaps[k])))
                goto done;
        rc = emit(sink, ctx, h->data, h->len);
        len += h->len;
    } else if ((rc = emit(sink, ctx, w->tf_bits.data, w->tf_bits.len)) == KZ_OK &&
               (rc = copy_spill(w, sink, ctx)) == KZ_OK) {
        rc = emit(sink, ctx, w->pos.data, w->pos.len);
        len += w->tf_bits.len + w->spilled + w->pos.len;
    }
    if (rc == KZ_OK)
        *blob_len = len;
done:
    writer_reset(w);
    return rc;
}

static int sink_to_buf(void *ctx, const void *data, size_t len) { return kz_buf_append(ctx, data, len); }

int kz_postings_encode(kz_buf *out, const kz_posting_input *in)
{
    kz_postings_writer *w = NULL;
    uint32_t *pos = NULL;
    size_t pos_cap = 0;
    int rc = kz_postings_writer_new(&w, in->doc_lengths, in->avgdl, -1, 0);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < in->df && rc == KZ_OK; i++) {
        uint32_t tf = in->tfs[i];
        if (tf > pos_cap) {
            uint32_t *p = realloc(pos, tf * sizeof *p);
            if (!p) {
                rc = kz_error_set(KZ_ENOMEM, "out of memory");
                break;
            }
            pos = p;
            pos_cap = tf;
        }
        const uint8_t *v = in->pos + in->pos_off[i], *end = in->pos + in->pos_off[i + 1];
        for (uint32_t j = 0; j < tf && rc == KZ_OK; j++)
            if (kz_varint_get32(&v, end, &pos[j]))
                rc = kz_error_set(KZ_EINVAL, "bad position varints");
        if (rc == KZ_OK)
            rc = kz_postings_writer_add(w, in->docids[i], tf, pos);
    }
    uint64_t len;
    if (rc == KZ_OK)
        rc = kz_postings_writer_finish(w, sink_to_buf, out, &len);
    kz_postings_writer_free(w);
    free(pos);
    return rc;
}

/* ------------------------------------------------------------------ reading */

static int bad(const char *what)
{
    return kz_error_set(KZ_ECORRUPT, "index is corrupt: posting list %s", what);
}

/* Whether every docid of container c is at most max_docid, for the last
 * container of a list (the only one that can pass max_docid once its key
 * is in range): reads the whole container, at most 8 KiB. */
static int last_container_in_range(const kz_container *c, uint32_t max_docid)
{
    uint32_t top = max_docid - c->base; /* the largest value in range; c->base <= max_docid */
    if (top >= 0xFFFF)
        return 1;
    uint32_t room = top + 1; /* values below room are in range */
    if (c->type == KZ_CONTAINER_ARRAY) {
        for (uint32_t i = 0; i < c->card; i++)
            if (kz_load_u16(c->data + 2 * (size_t)i) >= room)
                return 0;
        return 1;
    }
    if (c->type == KZ_CONTAINER_BITSET) {
        uint32_t word = room / 64;
        uint64_t w = kz_load_u64(c->data + 8 * (size_t)word);
        if (w >> (room % 64))
            return 0;
        for (uint32_t i = word + 1; i < 1024; i++)
            if (kz_load_u64(c->data + 8 * (size_t)i))
                return 0;
        return 1;
    }
    uint32_t n_runs = kz_load_u16(c->data);
    for (uint32_t i = 0; i < n_runs; i++) {
        const uint8_t *r = c->data + 2 + 4 * (size_t)i;
        if ((uint32_t)kz_load_u16(r) + kz_load_u16(r + 2) >= room)
            return 0;
    }
    return 1;
}

/* Parses the portable bitmap at pl->bitmap, at most limit bytes long, and
 * sets pl->bitmap_len to the bytes it takes. Checks every bound, and that
 * no docid passes max_docid: the keys, each run's end (a run may not reach
 * past its container), and the last container's values, the only ones
 * that can pass max_docid once the keys are in range. Array and bitset
 * contents are not otherwise inspected (see kz_plist_and). */
static int parse_bitmap(kz_plist *pl, uint64_t limit, uint32_t max_docid)
{
    const uint8_t *p = pl->bitmap, *end = p + limit;
    if (limit < 4)
        return bad("bitmap truncated");
    uint32_t cookie = kz_load_u32(p);
    uint32_t n;
    const uint8_t *run_flags = NULL;
    p += 4;
    if ((cookie & 0xFFFF) == SERIAL_COOKIE) {
        n = (cookie >> 16) + 1;
        size_t flag_bytes = (n + 7) / 8;
        if ((size_t)(end - p) < flag_bytes)
            return bad("bitmap truncated");
        run_flags = p;
        p += flag_bytes;
    } else if (cookie == SERIAL_COOKIE_NO_RUNCONTAINER) {
        if (end - p < 4)
            return bad("bitmap truncated");
        n = kz_load_u32(p);
        p += 4;
        if (n > 65536)
            return bad("bitmap has too many containers");
    } else {
        return bad("bitmap has a bad cookie");
    }
    if ((size_t)(end - p) < (size_t)n * 4)
        return bad("bitmap truncated");
    const uint8_t *keys = p;
    p += (size_t)n * 4;
    int has_offsets = !run_flags || n >= NO_OFFSET_THRESHOLD;
    if (has_offsets) {
        if ((size_t)(end - p) < (size_t)n * 4)
            return bad("bitmap truncated");
        p += (size_t)n * 4; /* we walk containers in order and do not need them */
    }
    pl->containers = n ? malloc(n * sizeof *pl->containers) : NULL;
    if (n && !pl->containers)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    pl->n_containers = n;
    uint64_t ord = 0;
    int64_t prev_key = -1;
    for (uint32_t i = 0; i < n; i++) {
        kz_container *c = &pl->containers[i];
        uint32_t key = kz_load_u16(keys + 4 * i);
        uint32_t card = (uint32_t)kz_load_u16(keys + 4 * i + 2) + 1;
        if ((int64_t)key <= prev_key)
            return bad("bitmap keys not ascending");
        prev_key = key;
        c->base = key << 16;
        c->card = card;
        c->ord_base = (uint32_t)ord;
        c->data = p;
        size_t bytes;
        if (run_flags && (run_flags[i / 8] >> (i % 8)) & 1) {
            c->type = KZ_CONTAINER_RUN;
            if (end - p < 2)
                return bad("bitmap truncated");
            bytes = 2 + 4 * (size_t)kz_load_u16(p);
            if ((size_t)(end - p) < bytes)
                return bad("bitmap container truncated");
            for (size_t r = 2; r < bytes; r += 4)
                if ((uint32_t)kz_load_u16(p + r) + kz_load_u16(p + r + 2) > 0xFFFF)
                    return bad("bitmap run reaches past its container");
        } else if (card > ARRAY_MAX) {
            c->type = KZ_CONTAINER_BITSET;
            bytes = BITSET_BYTES;
        } else {
            c->type = KZ_CONTAINER_ARRAY;
            bytes = 2 * (size_t)card;
        }
        if ((size_t)(end - p) < bytes)
            return bad("bitmap container truncated");
        p += bytes;
        ord += card;
    }
    if (ord != pl->df)
        return bad("bitmap cardinality differs from df");
    if (n > 0) {
        const kz_container *last = &pl->containers[n - 1];
        if (last->base > max_docid || !last_container_in_range(last, max_docid))
            return bad("names a document past the last");
    }
    pl->bitmap_len = (uint32_t)(p - pl->bitmap);
    return KZ_OK;
}

int kz_plist_open(kz_plist *pl, const uint8_t *blob, uint64_t len, uint32_t df, uint32_t max_docid)
{
    memset(pl, 0, sizeof *pl);
    const uint8_t *p = blob, *end = blob + len;
    uint64_t cf, max_tf;
    if (df == 0 || kz_varint_get(&p, end, &cf))
        return bad("header truncated");
    if (df == 1) {
        max_tf = cf;
        pl->bound = NAN;
    } else {
        if (kz_varint_get(&p, end, &max_tf) || end - p < 4)
            return bad("header truncated");
        float fb;
        memcpy(&fb, p, 4);
        pl->bound = fb;
        p += 4;
    }
    pl->df = df;
    pl->cf = cf;
    pl->max_tf = (uint32_t)max_tf;
    if (max_tf == 0 || max_tf > UINT32_MAX || cf < df || cf > (uint64_t)df * max_tf)
        return bad("sizes inconsistent");
    pl->bitmap = p;
    int rc = parse_bitmap(pl, (uint64_t)(end - p), max_docid);
    if (rc) {
        kz_plist_close(pl);
        return rc;
    }
    p += pl->bitmap_len;
    uint64_t n_blocks = df > KZ_POSTING_BLOCK ? (df + KZ_POSTING_BLOCK - 1) / KZ_POSTING_BLOCK : 0;
    if (n_blocks * KZ_BLOCK_SIZE > (uint64_t)(end - p)) {
        kz_plist_close(pl);
        return bad("block table truncated");
    }
    pl->n_blocks = (uint32_t)n_blocks;
    pl->blocks = p;
    p += n_blocks * KZ_BLOCK_SIZE;
    /* The tf bits end where the last block's end. */
    uint64_t tf_len = 0;
    if (df > 1) {
        if (n_blocks == 0) {
            pl->tf_width = bit_width((uint32_t)max_tf - 1);
            tf_len = ((uint64_t)df * pl->tf_width + 7) / 8;
        } else {
            const uint8_t *e = pl->blocks + (n_blocks - 1) * KZ_BLOCK_SIZE;
            uint32_t last_n = df - (uint32_t)(n_blocks - 1) * KZ_POSTING_BLOCK;
            uint32_t w = bit_width(kz_load_u32(e + KZ_BLOCK_MAX_TF) - 1);
            tf_len = kz_load_u32(e + KZ_BLOCK_TF_OFF) + ((uint64_t)last_n * w + 7) / 8;
        }
    }
    if (tf_len > (uint64_t)(end - p)) {
        kz_plist_close(pl);
        return bad("tf bits truncated");
    }
    pl->tf = p;
    pl->tf_len = tf_len;
    p += tf_len;
    pl->pos = p;
    pl->pos_len = (uint64_t)(end - p);
    if (pl->pos_len < (df == 1 ? cf : (df + KZ_POSTING_BLOCK - 1) / KZ_POSTING_BLOCK)) {
        kz_plist_close(pl);
        return bad("positions truncated"); /* a header byte per block */
    }
    return KZ_OK;
}

roaring_bitmap_t *kz_plist_bitmap(const kz_plist *pl)
{
    return roaring_bitmap_portable_deserialize_safe((const char *)pl->bitmap, pl->bitmap_len);
}

void kz_plist_close(kz_plist *pl)
{
    free(pl->containers);
    pl->containers = NULL;
    pl->n_containers = 0;
}

/* The width and tf-bit offset of the block holding ordinal. */
static inline void tf_block(const kz_plist *pl, uint32_t ordinal, uint32_t *width, uint64_t *off)
{
    if (pl->n_blocks == 0) {
        *width = pl->tf_width;
        *off = 0;
        return;
    }
    const uint8_t *e = pl->blocks + (size_t)(ordinal / KZ_POSTING_BLOCK) * KZ_BLOCK_SIZE;
    *width = bit_width(kz_load_u32(e + KZ_BLOCK_MAX_TF) - 1);
    *off = kz_load_u32(e + KZ_BLOCK_TF_OFF);
}

/* The value at index j of a block packed at width bits from byte off.
 * Reads at most 8 bytes and never past tf_len (a damaged table may point
 * anywhere: then 0 is read, and check reports the table). */
static inline uint32_t tf_value(const kz_plist *pl, uint64_t off, uint32_t width, uint32_t j)
{
    uint64_t bit = (uint64_t)j * width;
    uint64_t at = off + bit / 8;
    if (at >= pl->tf_len)
        return 0;
    uint64_t word = 0;
    memcpy(&word, pl->tf + at, (size_t)KZ_MIN((uint64_t)8, pl->tf_len - at));
    return (uint32_t)((word >> (bit % 8)) & ((1ull << width) - 1));
}

uint32_t kz_plist_tf(const kz_plist *pl, uint32_t ordinal)
{
    if (pl->df == 1)
        return (uint32_t)pl->cf;
    uint32_t width;
    uint64_t off;
    tf_block(pl, ordinal, &width, &off);
    if (width == 0)
        return 1;
    return tf_value(pl, off, width, ordinal % KZ_POSTING_BLOCK) + 1;
}

int kz_plist_docids(const kz_plist *pl, uint32_t *out)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < pl->n_containers; i++) {
        const kz_container *c = &pl->containers[i];
        if (c->type == KZ_CONTAINER_ARRAY) {
            int32_t prev = -1;
            for (uint32_t j = 0; j < c->card; j++) {
                uint32_t v = kz_load_u16(c->data + 2 * j);
                if ((int32_t)v <= prev)
                    return bad("array container not ascending");
                prev = (int32_t)v;
                out[n++] = c->base | v;
            }
        } else if (c->type == KZ_CONTAINER_BITSET) {
            uint32_t got = 0;
            for (uint32_t w = 0; w < 1024; w++) {
                uint64_t word = kz_load_u64(c->data + 8 * w);
                while (word) {
                    if (got == c->card)
                        return bad("bitset container cardinality mismatch");
                    out[n++] = c->base | (w * 64 + (uint32_t)__builtin_ctzll(word));
                    got++;
                    word &= word - 1;
                }
            }
            if (got != c->card)
                return bad("bitset container cardinality mismatch");
        } else {
            uint32_t runs = kz_load_u16(c->data), got = 0;
            int32_t prev_end = -1;
            for (uint32_t r = 0; r < runs; r++) {
                uint32_t start = kz_load_u16(c->data + 2 + 4 * r);
                uint32_t length = kz_load_u16(c->data + 4 + 4 * r);
                if ((int32_t)start <= prev_end || start + length > 0xFFFF ||
                    got + length + 1 > c->card)
                    return bad("run container malformed");
                for (uint32_t v = start; v <= start + length; v++)
                    out[n++] = c->base | v;
                got += length + 1;
                prev_end = (int32_t)(start + length);
            }
            if (got != c->card)
                return bad("run container cardinality mismatch");
        }
    }
    return KZ_OK;
}

/* Reads Rice codes from the bits [at, len) of a block. */
typedef struct bit_reader {
    const uint8_t *p;
    uint64_t at, len; /* in bits */
} bit_reader;

/* The 64 bits from the cursor on (zeros past the end). */
static inline uint64_t br_peek(const bit_reader *r)
{
    uint64_t byte = r->at / 8, bytes = (r->len + 7) / 8, word = 0;
    if (byte < bytes)
        memcpy(&word, r->p + byte, (size_t)KZ_MIN((uint64_t)8, bytes - byte));
    return word >> (r->at % 8);
}

static inline int br_rice(bit_reader *r, unsigned k, uint32_t *out)
{
    uint64_t q = 0;
    for (;;) {
        uint64_t w = br_peek(r);
        unsigned ones = (unsigned)__builtin_ctzll(~w | (1ull << 56)); /* 56 bits are always valid */
        q += ones;
        r->at += ones;
        if (ones < 56)
            break;
        if (r->at >= r->len || q > UINT32_MAX)
            return -1;
    }
    r->at++; /* the zero */
    uint64_t low = k ? br_peek(r) & ((1ull << k) - 1) : 0;
    r->at += k;
    uint64_t v = (q << k) | low;
    if (r->at > r->len || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* br_rice with a fast path: away from the end of the block, one unaligned
 * 64-bit load holds the whole code (k <= 15, unary part short), so it is
 * decoded without bounds checks or a second load. Codes that do not fit
 * (long unary parts, the block's last bytes) take br_rice. */
static inline int br_rice_fast(bit_reader *r, unsigned k, uint32_t *out)
{
    if (KZ_LIKELY(r->at + 64 <= r->len)) {
        uint64_t w = kz_load_u64(r->p + (r->at >> 3)) >> (r->at & 7); /* >= 57 valid bits */
        unsigned ones = (unsigned)__builtin_ctzll(~w | (1ull << 63));
        if (KZ_LIKELY(ones + 1 + k <= 57)) {
            uint64_t low = (w >> (ones + 1)) & ((1ull << k) - 1);
            r->at += ones + 1 + k;
            *out = (uint32_t)(((uint64_t)ones << k) | low);
            return 0;
        }
    }
    return br_rice(r, k, out);
}

/* Reads up to n codes of parameter k from one 64-bit load (57 valid
 * bits) while they fit, storing them to out unless it is NULL; returns how
 * many. The chain from one code to the next is then a count and a shift,
 * not a load. */
static inline uint32_t br_rice_word(bit_reader *r, unsigned k, uint32_t n, uint32_t *out)
{
    uint64_t w = kz_load_u64(r->p + (r->at >> 3)) >> (r->at & 7);
    unsigned avail = 57, used = 0;
    uint32_t got = 0;
    uint64_t mask = (1ull << k) - 1;
    while (got < n) {
        unsigned ones = (unsigned)__builtin_ctzll(~w | (1ull << 63));
        unsigned len = ones + 1 + k;
        if (len > avail - used)
            break;
        if (out)
            out[got] = (uint32_t)(((uint64_t)ones << k) | ((w >> (ones + 1)) & mask));
        w >>= len;
        used += len;
        got++;
    }
    r->at += used;
    return got;
}

/* Reads n codes of parameter k into out (NULL: skips them). */
static inline int br_rice_many(bit_reader *r, unsigned k, uint32_t n, uint32_t *out)
{
    while (n > 0) {
        uint32_t got = 0;
        if (r->at + 64 <= r->len)
            got = br_rice_word(r, k, n, out);
        if (got == 0) {
            uint32_t v;
            if (br_rice(r, k, &v))
                return -1;
            if (out)
                out[0] = v;
            got = 1;
        }
        n -= got;
        if (out)
            out += got;
    }
    return 0;
}

static inline int br_skip(bit_reader *r, unsigned k, uint32_t n) { return br_rice_many(r, k, n, NULL); }

/* The bounds of block b's position codes in pl->pos. */
static int position_block(const kz_plist *pl, uint32_t b, uint64_t *start, uint64_t *end)
{
    if (pl->n_blocks == 0) {
        *start = 0;
        *end = pl->pos_len;
    } else {
        *start = kz_load_u64(pl->blocks + (size_t)b * KZ_BLOCK_SIZE + KZ_BLOCK_POS_OFF);
        *end = b + 1 < pl->n_blocks ? kz_load_u64(pl->blocks + (size_t)(b + 1) * KZ_BLOCK_SIZE + KZ_BLOCK_POS_OFF)
                                    : pl->pos_len;
    }
    if (*start >= *end || *end > pl->pos_len)
        return bad("position block out of range");
    return KZ_OK;
}

/* Opens block b: its k values and a reader of its codes. */
static int open_position_block(const kz_plist *pl, uint32_t b, unsigned *k1, unsigned *k2, bit_reader *r)
{
    uint64_t start, end;
    int rc = position_block(pl, b, &start, &end);
    if (rc)
        return rc;
    *k1 = pl->pos[start] & 15;
    *k2 = pl->pos[start] >> 4;
    r->p = pl->pos + start + 1;
    r->at = 0;
    r->len = (end - start - 1) * 8;
    return KZ_OK;
}

/* The positions of a term in one document: tf varints, the first
 * position, then each gap minus one. If exact, they must fill the field. */
static int varint_positions(const kz_plist *pl, uint32_t tf, uint32_t *out, int exact)
{
    const uint8_t *p = pl->pos, *end = pl->pos + pl->pos_len;
    uint64_t prev = 0;
    for (uint32_t i = 0; i < tf; i++) {
        uint32_t v;
        if (kz_varint_get32(&p, end, &v))
            return bad("positions truncated");
        uint64_t pos = i == 0 ? v : prev + 1 + v;
        if (pos > UINT32_MAX)
            return bad("position out of range");
        if (out)
            out[i] = (uint32_t)pos;
        prev = pos;
    }
    if (exact && p != end)
        return bad("positions do not end with the blob");
    return KZ_OK;
}

int kz_plist_positions_until(const kz_plist *pl, kz_pos_cursor *c, uint32_t ordinal, uint32_t tf, uint32_t limit,
                             uint32_t *out, uint32_t *n_out)
{
    *n_out = 0;
    if (pl->df == 1) {
        int rc = varint_positions(pl, tf, out, 0);
        if (rc == KZ_OK)
            *n_out = tf;
        return rc;
    }
    uint32_t b = ordinal / KZ_POSTING_BLOCK;
    bit_reader r;
    unsigned k1, k2;
    uint32_t from;
    if (pl->pos_starts) {
        /* Straight to the posting's codes. */
        if (c && c->open && c->block == b) {
            r.p = c->p;
            r.len = c->len;
            k1 = c->k1;
            k2 = c->k2;
        } else {
            int rc = open_position_block(pl, b, &k1, &k2, &r);
            if (rc)
                return rc;
        }
        r.at = pl->pos_starts[ordinal];
        if (r.at > r.len)
            return bad("position start out of range");
        from = ordinal;
    } else if (c && c->open && c->block == b && c->next <= ordinal) {
        r.p = c->p;
        r.at = c->at;
        r.len = c->len;
        k1 = c->k1;
        k2 = c->k2;
        from = c->next;
        limit = UINT32_MAX; /* the next posting resumes where this one ends */
    } else {
        int rc = open_position_block(pl, b, &k1, &k2, &r);
        if (rc)
            return rc;
        from = b * KZ_POSTING_BLOCK;
        limit = UINT32_MAX;
    }
    uint32_t v;
    for (uint32_t i = from; i < ordinal; i++) {
        uint32_t n = kz_plist_tf(pl, i);
        if (br_rice_fast(&r, k1, &v) || br_skip(&r, k2, n - 1))
            return bad("positions truncated");
    }
    /* The first position, then the gaps, summed in place: all of them at
     * once, or sixteen at a time until one lies past limit. */
    if (br_rice_fast(&r, k1, &v))
        return bad("positions truncated");
    uint64_t pos = v;
    uint32_t n = 1;
    out[0] = v;
    while (n < tf && pos <= limit) {
        uint32_t chunk = limit == UINT32_MAX ? tf - n : KZ_MIN(tf - n, 16u);
        if (br_rice_many(&r, k2, chunk, out + n))
            return bad("positions truncated");
        for (uint32_t i = n; i < n + chunk; i++) {
            pos += 1 + (uint64_t)out[i];
            if (pos > UINT32_MAX)
                return bad("position out of range");
            out[i] = (uint32_t)pos;
        }
        n += chunk;
    }
    if (c) {
        /* Resumable after this posting only when all of it was read. */
        c->open = n == tf;
        c->block = b;
        c->next = ordinal + 1;
        c->p = r.p;
        c->at = r.at;
        c->len = r.len;
        c->k1 = k1;
        c->k2 = k2;
    }
    *n_out = n;
    return KZ_OK;
}

int kz_plist_positions_seq(const kz_plist *pl, kz_pos_cursor *c, uint32_t ordinal, uint32_t tf,
                           uint32_t *out)
{
    uint32_t n;
    return kz_plist_positions_until(pl, c, ordinal, tf, UINT32_MAX, out, &n);
}

int kz_plist_position_starts(const kz_plist *pl, uint32_t *out)
{
    if (pl->df == 1)
        return kz_error_set(KZ_EINVAL, "a term in one document has no position blocks");
    uint32_t n_blocks = (pl->df + KZ_POSTING_BLOCK - 1) / KZ_POSTING_BLOCK, v;
    for (uint32_t b = 0; b < n_blocks; b++) {
        bit_reader r;
        unsigned k1, k2;
        int rc = open_position_block(pl, b, &k1, &k2, &r);
        if (rc)
            return rc;
        uint32_t end = KZ_MIN(pl->df, (b + 1) * KZ_POSTING_BLOCK);
        for (uint32_t i = b * KZ_POSTING_BLOCK; i < end; i++) {
            if (r.at > UINT32_MAX)
                return bad("position block over 4 Gbit");
            out[i] = (uint32_t)r.at;
            if (br_rice_fast(&r, k1, &v) || br_skip(&r, k2, kz_plist_tf(pl, i) - 1))
                return bad("positions truncated");
        }
    }
    return KZ_OK;
}

int kz_plist_positions(const kz_plist *pl, uint32_t ordinal, uint32_t tf, uint32_t *out)
{
    return kz_plist_positions_seq(pl, NULL, ordinal, tf, out);
}

int kz_plist_check_positions(const kz_plist *pl)
{
    if (pl->df == 1)
        return varint_positions(pl, (uint32_t)pl->cf, NULL, 1);
    uint32_t n_blocks = (pl->df + KZ_POSTING_BLOCK - 1) / KZ_POSTING_BLOCK;
    for (uint32_t b = 0; b < n_blocks; b++) {
        unsigned k1, k2;
        bit_reader r;
        int rc = open_position_block(pl, b, &k1, &k2, &r);
        if (rc)
            return rc;
        if (b == 0 && r.p != pl->pos + 1)
            return bad("first position block does not start the positions");
        uint32_t v;
        for (uint32_t i = b * KZ_POSTING_BLOCK; i < KZ_MIN(pl->df, (b + 1) * KZ_POSTING_BLOCK); i++) {
            uint32_t n = kz_plist_tf(pl, i);
            for (uint32_t j = 0; j < n; j++)
                if (br_rice(&r, j ? k2 : k1, &v))
                    return bad("positions truncated");
        }
        /* Only zero padding, less than a byte, may follow the codes. */
        if (r.len - r.at >= 8 || (br_peek(&r) & ((1ull << (r.len - r.at)) - 1)) != 0)
            return bad("position block has bytes or bits after its codes");
    }
    return KZ_OK;
}
