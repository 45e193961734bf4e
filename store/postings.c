/*
 * postings.c: a term's posting blob, written and read in place.
 *
 * Layout (FORMAT.md "Posting blob"):
 *   varint cf, max_tf, bitmap_len, n_exceptions, positions_len
 *   f64    bound
 *   bitmap       CRoaring portable serialization of the docids
 *   block table  ceil(df/128) entries of 24 bytes, only when df > 128
 *   tf           df bytes; 255 means "look in the exceptions"
 *   exceptions   (u32 ordinal, u32 tf) ascending by ordinal
 *   positions    per posting, tf varints: first position, then gap-1
 *
 * The bitmap is read with our own parser of the portable format (the
 * RoaringFormatSpec), so that a query walks the containers in the mapped
 * file without copying them: see kz_plist_open().
 */
#include "kzint.h"
#include "format.h"

#include <math.h>
#include <roaring/roaring.h>
#include <stdlib.h>

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

int kz_postings_encode(kz_buf *out, const kz_posting_input *in)
{
    int rc = KZ_OK;
    roaring_bitmap_t *bm = NULL;
    uint32_t df = in->df;
    uint64_t cf = 0;
    uint32_t max_tf = 0, n_exc = 0;
    double bound = 0;
    for (uint32_t i = 0; i < df; i++) {
        uint32_t tf = in->tfs[i];
        cf += tf;
        if (tf > max_tf)
            max_tf = tf;
        if (tf >= KZ_TF_ESCAPE)
            n_exc++;
        double s = saturation(tf, in->doc_lengths[in->docids[i]], in->avgdl);
        if (s > bound)
            bound = s;
    }
    bm = roaring_bitmap_of_ptr(df, in->docids);
    if (!bm)
        return kz_error_set(KZ_ENOMEM, "out of memory building a bitmap");
    roaring_bitmap_run_optimize(bm);
    size_t bm_len = roaring_bitmap_portable_size_in_bytes(bm);
    uint64_t pos_len = in->pos_off[df] - in->pos_off[0];
    uint32_t n_blocks = df > KZ_POSTING_BLOCK ? (df + KZ_POSTING_BLOCK - 1) / KZ_POSTING_BLOCK : 0;

    if ((rc = kz_buf_append_varint(out, cf)) || (rc = kz_buf_append_varint(out, max_tf)) ||
        (rc = kz_buf_append_varint(out, bm_len)) || (rc = kz_buf_append_varint(out, n_exc)) ||
        (rc = kz_buf_append_varint(out, pos_len)))
        goto done;
    uint8_t f64[8];
    kz_store_f64(f64, bound);
    if ((rc = kz_buf_append(out, f64, 8)) || (rc = kz_buf_reserve(out, bm_len)))
        goto done;
    roaring_bitmap_portable_serialize(bm, (char *)out->data + out->len);
    out->len += bm_len;

    for (uint32_t b = 0; b < n_blocks; b++) {
        uint32_t lo = b * KZ_POSTING_BLOCK, hi = KZ_MIN(df, lo + KZ_POSTING_BLOCK);
        uint32_t bmax_tf = 0, bmin_dl = UINT32_MAX;
        double bbound = 0;
        for (uint32_t i = lo; i < hi; i++) {
            uint32_t dl = in->doc_lengths[in->docids[i]];
            bmax_tf = KZ_MAX(bmax_tf, in->tfs[i]);
            bmin_dl = KZ_MIN(bmin_dl, dl);
            double s = saturation(in->tfs[i], dl, in->avgdl);
            if (s > bbound)
                bbound = s;
        }
        uint8_t e[KZ_BLOCK_SIZE];
        float fb = round_up_float(bbound);
        kz_store_u64(e + KZ_BLOCK_POS_OFF, in->pos_off[lo] - in->pos_off[0]);
        kz_store_u32(e + KZ_BLOCK_LAST_DOC, in->docids[hi - 1]);
        kz_store_u32(e + KZ_BLOCK_MAX_TF, bmax_tf);
        kz_store_u32(e + KZ_BLOCK_MIN_DL, bmin_dl);
        memcpy(e + KZ_BLOCK_BOUND, &fb, 4);
        if ((rc = kz_buf_append(out, e, sizeof e)))
            goto done;
    }
    if ((rc = kz_buf_reserve(out, df)))
        goto done;
    for (uint32_t i = 0; i < df; i++)
        out->data[out->len++] = (uint8_t)(in->tfs[i] >= KZ_TF_ESCAPE ? KZ_TF_ESCAPE : in->tfs[i]);
    for (uint32_t i = 0; i < df && n_exc; i++) {
        if (in->tfs[i] >= KZ_TF_ESCAPE &&
            ((rc = kz_buf_append_u32(out, i)) || (rc = kz_buf_append_u32(out, in->tfs[i]))))
            goto done;
    }
    rc = kz_buf_append(out, in->pos + in->pos_off[0], (size_t)pos_len);
done:
    roaring_bitmap_free(bm);
    return rc;
}

/* ------------------------------------------------------------------ reading */

static int bad(const char *what)
{
    return kz_error_set(KZ_ECORRUPT, "index is corrupt: posting list %s", what);
}

/* Parses the portable bitmap header into pl->containers, checking bounds. */
static int parse_bitmap(kz_plist *pl)
{
    const uint8_t *p = pl->bitmap, *end = p + pl->bitmap_len;
    if (pl->bitmap_len < 4)
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
    return KZ_OK;
}

int kz_plist_open(kz_plist *pl, const uint8_t *blob, uint64_t len, uint32_t df)
{
    memset(pl, 0, sizeof *pl);
    const uint8_t *p = blob, *end = blob + len;
    uint64_t cf, max_tf, bm_len, n_exc, pos_len;
    if (kz_varint_get(&p, end, &cf) || kz_varint_get(&p, end, &max_tf) ||
        kz_varint_get(&p, end, &bm_len) || kz_varint_get(&p, end, &n_exc) ||
        kz_varint_get(&p, end, &pos_len) || end - p < 8)
        return bad("header truncated");
    pl->df = df;
    pl->cf = cf;
    pl->max_tf = (uint32_t)max_tf;
    pl->bound = kz_load_f64(p);
    p += 8;
    uint64_t n_blocks = df > KZ_POSTING_BLOCK ? (df + KZ_POSTING_BLOCK - 1) / KZ_POSTING_BLOCK : 0;
    uint64_t left = (uint64_t)(end - p);
    if (df == 0 || max_tf == 0 || max_tf > UINT32_MAX || cf < df || n_exc > df ||
        bm_len > left || n_blocks * KZ_BLOCK_SIZE > left - bm_len ||
        df > left - bm_len - n_blocks * KZ_BLOCK_SIZE ||
        n_exc * KZ_TF_EXC_SIZE > left - bm_len - n_blocks * KZ_BLOCK_SIZE - df ||
        pos_len != left - bm_len - n_blocks * KZ_BLOCK_SIZE - df - n_exc * KZ_TF_EXC_SIZE)
        return bad("sizes inconsistent");
    pl->bitmap = p;
    pl->bitmap_len = (uint32_t)bm_len;
    p += bm_len;
    pl->n_blocks = (uint32_t)n_blocks;
    pl->blocks = p;
    p += n_blocks * KZ_BLOCK_SIZE;
    pl->tf = p;
    p += df;
    pl->n_exceptions = (uint32_t)n_exc;
    pl->exceptions = p;
    p += n_exc * KZ_TF_EXC_SIZE;
    pl->pos = p;
    pl->pos_len = pos_len;
    int rc = parse_bitmap(pl);
    if (rc)
        kz_plist_close(pl);
    return rc;
}

void kz_plist_close(kz_plist *pl)
{
    free(pl->containers);
    pl->containers = NULL;
    pl->n_containers = 0;
}

uint32_t kz_plist_tf(const kz_plist *pl, uint32_t ordinal)
{
    uint32_t tf = pl->tf[ordinal];
    if (KZ_LIKELY(tf != KZ_TF_ESCAPE))
        return tf;
    uint32_t lo = 0, hi = pl->n_exceptions;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t o = kz_load_u32(pl->exceptions + (size_t)mid * KZ_TF_EXC_SIZE);
        if (o < ordinal)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < pl->n_exceptions &&
        kz_load_u32(pl->exceptions + (size_t)lo * KZ_TF_EXC_SIZE) == ordinal)
        return kz_load_u32(pl->exceptions + (size_t)lo * KZ_TF_EXC_SIZE + 4);
    return KZ_TF_ESCAPE; /* a damaged exception table; check reports it */
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

/* Advances p past count varints, not beyond end. */
static const uint8_t *skip_varints(const uint8_t *p, const uint8_t *end, uint64_t count)
{
    while (count > 0 && end - p >= 8) {
        uint64_t word = kz_load_u64(p);
        uint64_t stops = ~word & 0x8080808080808080ull; /* bytes that end a varint */
        uint64_t n = (uint64_t)__builtin_popcountll(stops);
        /* Take the whole word only if a varint we must keep cannot start
         * inside it: strictly fewer ends than we skip. */
        if (n < count) {
            count -= n;
            p += 8;
            continue;
        }
        break;
    }
    while (count > 0 && p < end) {
        if (!(*p++ & 0x80))
            count--;
    }
    return count ? NULL : p;
}

int kz_plist_positions(const kz_plist *pl, uint32_t ordinal, uint32_t tf, uint32_t *out)
{
    const uint8_t *p = pl->pos, *end = pl->pos + pl->pos_len;
    uint32_t first = 0;
    if (pl->n_blocks) {
        uint32_t b = ordinal / KZ_POSTING_BLOCK;
        uint64_t off = kz_load_u64(pl->blocks + (size_t)b * KZ_BLOCK_SIZE + KZ_BLOCK_POS_OFF);
        if (off > pl->pos_len)
            return bad("block position offset out of range");
        p += off;
        first = b * KZ_POSTING_BLOCK;
    }
    uint64_t skip = 0;
    for (uint32_t i = first; i < ordinal; i++)
        skip += kz_plist_tf(pl, i);
    p = skip_varints(p, end, skip);
    if (!p)
        return bad("positions truncated");
    uint64_t prev = 0;
    for (uint32_t i = 0; i < tf; i++) {
        uint32_t gap;
        if (kz_varint_get32(&p, end, &gap))
            return bad("positions truncated");
        uint64_t pos = i == 0 ? gap : prev + 1 + gap;
        if (pos > UINT32_MAX)
            return bad("position out of range");
        out[i] = (uint32_t)pos;
        prev = pos;
    }
    return KZ_OK;
}
