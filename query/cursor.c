/*
 * cursor.c: a forward-only reader of one term's postings, for the query
 * engine.
 *
 * The cursor works on the roaring containers in the mmap'd file as they
 * are, decoding nothing ahead:
 *  - array: the u16 values; seeking gallops from the current index, and
 *    the ordinal is the index;
 *  - bitset: seeking tests and scans the 64-bit words; the ordinal is the
 *    rank of the bit, kept as a running popcount of the words passed, so
 *    a whole pass over a container costs one popcount per word;
 *  - run: seeking walks the runs, keeping the ordinal of the current run.
 * A seek into a later container finds it by the containers' keys. The
 * ordinal gives the posting's 128-block (for tf, positions and bounds);
 * kz_cursor_block_of() finds the block that would hold a docid from the
 * block table alone, for block-max pruning without touching the lists.
 *
 * The cursor trusts nothing: it never yields more postings from a
 * container than its cardinality says, so ordinals stay below df and the
 * tf and position lookups that take them stay in bounds even on a damaged
 * list (which the checksums report anyway).
 */
#include "kzint.h"
#include "format.h"

static void set_end(kz_cursor *c)
{
    c->doc = KZ_DOC_END;
    c->ord = c->pl->df;
    c->ci = c->pl->n_containers;
}

static void set_pos(kz_cursor *c, uint32_t value, uint32_t ord_in_container)
{
    const kz_container *k = &c->pl->containers[c->ci];
    c->doc = k->base | value;
    c->ord = k->ord_base + ord_in_container;
    c->blk = c->ord / KZ_POSTING_BLOCK;
}

/* Positions c on the first posting >= low (a value 0..65535 within
 * container ci), or returns 0 if the container has none. */
static int container_seek(kz_cursor *c, uint32_t low)
{
    const kz_container *k = &c->pl->containers[c->ci];
    if (k->type == KZ_CONTAINER_ARRAY) {
        uint32_t n = k->card, i = c->idx;
        /* Gallop from the current index, then bisect. */
        uint32_t step = 1, hi = i;
        while (hi < n && kz_load_u16(k->data + 2 * hi) < low) {
            i = hi + 1;
            hi += step;
            step *= 2;
        }
        if (hi > n)
            hi = n;
        while (i < hi) {
            uint32_t mid = i + (hi - i) / 2;
            if (kz_load_u16(k->data + 2 * mid) < low)
                i = mid + 1;
            else
                hi = mid;
        }
        c->idx = i;
        if (i >= n)
            return 0;
        set_pos(c, kz_load_u16(k->data + 2 * i), i);
        return 1;
    }
    if (k->type == KZ_CONTAINER_BITSET) {
        uint32_t w = low >> 6;
        /* The running rank: set bits in the words before c->idx. */
        while (c->idx < w) {
            c->rank += (uint32_t)kz_popcount64(kz_load_u64(k->data + 8 * (size_t)c->idx));
            c->idx++;
        }
        uint64_t word = kz_load_u64(k->data + 8 * (size_t)c->idx);
        uint64_t from = low > c->idx * 64u ? word & (~0ull << (low & 63)) : word;
        while (from == 0) {
            c->rank += (uint32_t)kz_popcount64(word);
            if (++c->idx == 1024)
                return 0;
            word = from = kz_load_u64(k->data + 8 * (size_t)c->idx);
        }
        uint32_t bit = (uint32_t)__builtin_ctzll(from);
        uint32_t r = c->rank + (uint32_t)kz_popcount64(word & ((1ull << bit) - 1));
        if (r >= k->card)
            return 0; /* more bits than the cardinality: damaged */
        set_pos(c, c->idx * 64 + bit, r);
        return 1;
    }
    /* Runs: idx is the run, rank the ordinal of its first value. */
    uint32_t runs = kz_load_u16(k->data);
    while (c->idx < runs) {
        uint32_t start = kz_load_u16(k->data + 2 + 4 * (size_t)c->idx);
        uint32_t len = (uint32_t)kz_load_u16(k->data + 4 + 4 * (size_t)c->idx) + 1;
        if (start + len > low) {
            uint32_t v = low > start ? low : start;
            uint32_t r = c->rank + (v - start);
            if (r >= k->card || v > 0xFFFF)
                return 0;
            set_pos(c, v, r);
            return 1;
        }
        c->rank += len;
        c->idx++;
    }
    return 0;
}

static void container_enter(kz_cursor *c, uint32_t ci)
{
    c->ci = ci;
    c->idx = 0;
    c->rank = 0;
}

void kz_cursor_init(kz_cursor *c, const kz_plist *pl)
{
    c->pl = pl;
    c->blk = 0;
    container_enter(c, 0);
    if (pl->df == 0 || pl->n_containers == 0) {
        set_end(c);
        return;
    }
    while (c->ci < pl->n_containers) {
        if (container_seek(c, 0))
            return;
        container_enter(c, c->ci + 1);
    }
    set_end(c);
}

uint32_t kz_cursor_seek(kz_cursor *c, uint32_t target)
{
    if (c->doc >= target)
        return c->doc;
    const kz_plist *pl = c->pl;
    uint32_t key = target >> 16;
    if ((pl->containers[c->ci].base >> 16) < key) {
        /* A later container. */
        uint32_t lo = kz_plist_seek_container(pl, c->ci + 1, key << 16);
        if (lo >= pl->n_containers) {
            set_end(c);
            return KZ_DOC_END;
        }
        container_enter(c, lo);
        if ((pl->containers[lo].base >> 16) > key)
            target = pl->containers[lo].base; /* its first value will do */
    }
    for (;;) {
        if (container_seek(c, target & 0xFFFF))
            return c->doc;
        if (c->ci + 1 >= pl->n_containers) {
            set_end(c);
            return KZ_DOC_END;
        }
        container_enter(c, c->ci + 1);
        target = pl->containers[c->ci].base;
    }
}

uint32_t kz_cursor_next(kz_cursor *c)
{
    if (c->doc == KZ_DOC_END)
        return KZ_DOC_END;
    const kz_container *k = &c->pl->containers[c->ci];
    if (k->type == KZ_CONTAINER_ARRAY) {
        /* The common case, without the gallop. */
        if (++c->idx < k->card) {
            c->doc = k->base | kz_load_u16(k->data + 2 * (size_t)c->idx);
            c->ord++;
            c->blk = c->ord / KZ_POSTING_BLOCK;
            return c->doc;
        }
    } else if ((c->doc & 0xFFFF) < 0xFFFF && container_seek(c, (c->doc & 0xFFFF) + 1)) {
        return c->doc;
    }
    while (c->ci + 1 < c->pl->n_containers) {
        container_enter(c, c->ci + 1);
        if (container_seek(c, 0))
            return c->doc;
    }
    set_end(c);
    return KZ_DOC_END;
}

uint32_t kz_cursor_block_last(const kz_cursor *c, uint32_t b)
{
    return kz_load_u32(c->pl->blocks + (size_t)b * KZ_BLOCK_SIZE + KZ_BLOCK_LAST_DOC);
}

uint32_t kz_cursor_block_of(const kz_cursor *c, uint32_t target)
{
    const kz_plist *pl = c->pl;
    if (pl->n_blocks == 0)
        return 0;
    if (c->doc == KZ_DOC_END)
        return pl->n_blocks;
    uint32_t lo = c->blk, step = 1, hi = lo, nb = pl->n_blocks;
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
