/*
 * cursor.c: a forward-only reader of one term's postings, for the query
 * engine.
 *
 * A cursor decodes the docids of one 128-posting block at a time (the
 * blocks of FORMAT.md "Block table", so that block k holds ordinals
 * [128k, 128k + 128)) straight from the roaring containers in the mmap'd
 * file. Moving forward to a docid skips whole blocks with the block
 * table's last_doc, without decoding them; inside the containers the
 * decoder only ever moves forward, so reading a list from start to end
 * costs one pass over it, however it is skipped.
 *
 * The decoder trusts nothing: it never yields more postings from a
 * container than the container's cardinality, so ordinals stay below df
 * and the tf and position lookups that take them stay in bounds even on a
 * damaged list (which the checksums report anyway).
 */
#include "kzint.h"
#include "format.h"

/* Positions the decoder at the start of container ci. */
static void container_enter(kz_cursor *c, uint32_t ci)
{
    c->ci = ci;
    c->cpos = 0;
    c->cval = 0;
    c->word = 0;
    if (ci < c->pl->n_containers) {
        const kz_container *k = &c->pl->containers[ci];
        c->next_ord = k->ord_base;
        if (k->type == KZ_CONTAINER_BITSET)
            c->word = kz_load_u64(k->data);
    }
}

/* Decodes up to n docids of container ci from the decoder's place into
 * out; returns how many. Fewer than n only at the container's end. */
static uint32_t container_decode(kz_cursor *c, uint32_t *out, uint32_t n)
{
    const kz_container *k = &c->pl->containers[c->ci];
    uint32_t left = k->ord_base + k->card - c->next_ord, got = 0;
    if (n > left)
        n = left;
    if (k->type == KZ_CONTAINER_ARRAY) {
        for (; got < n; got++)
            out[got] = k->base | kz_load_u16(k->data + 2 * (c->cpos + got));
        c->cpos += got;
    } else if (k->type == KZ_CONTAINER_BITSET) {
        uint64_t word = c->word;
        uint32_t w = c->cpos;
        while (got < n) {
            while (word == 0) {
                if (++w == 1024)
                    goto out_of_bits;
                word = kz_load_u64(k->data + 8 * w);
            }
            out[got++] = k->base | (w * 64 + (uint32_t)__builtin_ctzll(word));
            word &= word - 1;
        }
    out_of_bits:
        c->word = word;
        c->cpos = w;
    } else {
        uint32_t runs = kz_load_u16(k->data);
        while (got < n && c->cpos < runs) {
            uint32_t start = kz_load_u16(k->data + 2 + 4 * c->cpos);
            uint32_t last = start + kz_load_u16(k->data + 4 + 4 * c->cpos);
            if (last > 0xFFFF)
                last = 0xFFFF;
            while (got < n && start + c->cval <= last)
                out[got++] = k->base | (start + c->cval++);
            if (start + c->cval > last) {
                c->cpos++;
                c->cval = 0;
            }
        }
    }
    c->next_ord += got;
    return got;
}

/* Skips the decoder forward to ordinal ord (>= next_ord). */
static void decoder_skip(kz_cursor *c, uint32_t ord)
{
    const kz_plist *pl = c->pl;
    if (c->ci < pl->n_containers) {
        const kz_container *k = &pl->containers[c->ci];
        if (ord >= k->ord_base + k->card) {
            uint32_t ci = c->ci + 1;
            while (ci < pl->n_containers && ord >= pl->containers[ci].ord_base + pl->containers[ci].card)
                ci++;
            container_enter(c, ci);
        }
    }
    if (c->ci >= pl->n_containers || ord <= c->next_ord)
        return;
    const kz_container *k = &pl->containers[c->ci];
    uint32_t skip = ord - c->next_ord;
    if (k->type == KZ_CONTAINER_ARRAY) {
        c->cpos += skip;
        c->next_ord = ord;
    } else if (k->type == KZ_CONTAINER_BITSET) {
        /* Whole words by popcount, then bits of the last one. */
        uint64_t word = c->word;
        uint32_t w = c->cpos;
        for (;;) {
            uint32_t bits = (uint32_t)__builtin_popcountll(word);
            if (bits > skip)
                break;
            skip -= bits;
            c->next_ord += bits;
            if (++w == 1024) {
                word = 0;
                break;
            }
            word = kz_load_u64(k->data + 8 * w);
        }
        if (w < 1024) {
            for (; skip > 0; skip--) {
                word &= word - 1;
                c->next_ord++;
            }
        }
        c->word = word;
        c->cpos = w;
    } else {
        uint32_t runs = kz_load_u16(k->data);
        while (skip > 0 && c->cpos < runs) {
            uint32_t length = (uint32_t)kz_load_u16(k->data + 4 + 4 * c->cpos) + 1;
            uint32_t rest = length - c->cval;
            if (rest > skip) {
                c->cval += skip;
                c->next_ord += skip;
                skip = 0;
            } else {
                skip -= rest;
                c->next_ord += rest;
                c->cpos++;
                c->cval = 0;
            }
        }
    }
}

/* Decodes block b into buf (b >= the current block). */
static void block_load(kz_cursor *c, uint32_t b)
{
    const kz_plist *pl = c->pl;
    uint32_t first = b * KZ_POSTING_BLOCK;
    uint32_t want = KZ_MIN(KZ_POSTING_BLOCK, pl->df - first);
    if (c->next_ord < first)
        decoder_skip(c, first);
    uint32_t n = 0;
    while (n < want && c->ci < pl->n_containers) {
        n += container_decode(c, c->buf + n, want - n);
        if (n < want)
            container_enter(c, c->ci + 1);
    }
    c->blk = b;
    c->n = n;
    c->at = 0;
    if (n == 0) {
        c->doc = KZ_DOC_END;
        c->ord = pl->df;
    } else {
        c->doc = c->buf[0];
        c->ord = first;
    }
}

void kz_cursor_init(kz_cursor *c, const kz_plist *pl)
{
    c->pl = pl;
    c->blk = 0;
    c->n = 0;
    c->at = 0;
    container_enter(c, 0);
    c->next_ord = 0;
    if (pl->df == 0 || pl->n_containers == 0) {
        c->doc = KZ_DOC_END;
        c->ord = pl->df;
        return;
    }
    block_load(c, 0);
}

uint32_t kz_cursor_next(kz_cursor *c)
{
    if (c->doc == KZ_DOC_END)
        return KZ_DOC_END;
    if (++c->at < c->n) {
        c->doc = c->buf[c->at];
        c->ord++;
        return c->doc;
    }
    if (c->n < KZ_POSTING_BLOCK || (c->blk + 1) * KZ_POSTING_BLOCK >= c->pl->df) {
        c->doc = KZ_DOC_END;
        c->ord = c->pl->df;
        return KZ_DOC_END;
    }
    block_load(c, c->blk + 1);
    return c->doc;
}

uint32_t kz_cursor_block_last(const kz_cursor *c, uint32_t b)
{
    return kz_load_u32(c->pl->blocks + (size_t)b * KZ_BLOCK_SIZE + KZ_BLOCK_LAST_DOC);
}

/* The first block at or after the current one whose last docid is >=
 * target, or n_blocks. Gallops, then bisects. */
static uint32_t block_find(const kz_cursor *c, uint32_t target)
{
    uint32_t nb = c->pl->n_blocks, lo = c->blk, step = 1, hi = lo;
    while (hi < nb && kz_cursor_block_last(c, hi) < target) {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    if (hi > nb)
        hi = nb;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (kz_cursor_block_last(c, mid) < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t kz_cursor_seek(kz_cursor *c, uint32_t target)
{
    if (c->doc >= target)
        return c->doc;
    if (c->buf[c->n - 1] < target) {
        if (c->pl->n_blocks == 0) {
            c->doc = KZ_DOC_END;
            c->ord = c->pl->df;
            return KZ_DOC_END;
        }
        uint32_t b = block_find(c, target);
        if (b >= c->pl->n_blocks) {
            c->doc = KZ_DOC_END;
            c->ord = c->pl->df;
            return KZ_DOC_END;
        }
        block_load(c, b);
        if (c->doc >= target || c->n == 0)
            return c->doc;
        if (c->buf[c->n - 1] < target) { /* a damaged block table */
            c->doc = KZ_DOC_END;
            c->ord = c->pl->df;
            return KZ_DOC_END;
        }
    }
    /* target lies in this block: bisect buf[at+1, n). */
    uint32_t lo = c->at + 1, hi = c->n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->buf[mid] < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    c->ord += lo - c->at;
    c->at = lo;
    c->doc = c->buf[lo];
    return c->doc;
}

uint32_t kz_cursor_block_of(const kz_cursor *c, uint32_t target)
{
    if (c->pl->n_blocks == 0)
        return 0;
    if (c->doc != KZ_DOC_END && target <= c->buf[c->n - 1])
        return c->blk;
    return block_find(c, target);
}
