/*
 * check.c: kzsearch check, the offline verifier (like redis-check-rdb).
 *
 * Beyond the checksums, it re-derives what the index claims and compares:
 * the dictionary is sorted and unique; every bitmap parses (ours and
 * CRoaring's own safe deserializer agree), its cardinality is df, its
 * docids are in range; tf >= 1, cf = the sum of tf, max_tf and the block
 * table match; every position is ascending and below its document's
 * length; for every document, the sum of its tf over all terms is its
 * length, and the lengths add up to the token count; document info parses;
 * every store block decompresses to its recorded size and every text lies
 * inside its block; the id lookup lists every document once under its
 * id's hash, and each fingerprint is that of the document's stored fields;
 * each SimHash is that of the document's stored text, analysed again.
 * Positions are checked as a whole: within each
 * document, every position 0 .. dl-1 belongs to exactly one term.
 */
#include "kzint.h"
#include "format.h"

#include <math.h>
#include <roaring/roaring.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#define MAX_FAULTS 100

/* The smallest float not below v: how bounds are stored. */
static float round_up(double v)
{
    float f = (float)v;
    if ((double)f < v)
        f = nextafterf(f, INFINITY);
    return f;
}

typedef struct checker {
    kz_segment *sg;
    kz_check_fn fn;
    void *ctx;
    unsigned faults;
} checker;

static void fault(checker *c, const char *fmt, ...) KZ_PRINTF(2, 3);

static void fault(checker *c, const char *fmt, ...)
{
    c->faults++;
    if (c->faults > MAX_FAULTS || !c->fn)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->fn(c->ctx, msg);
}

static void check_docs(checker *c, const kz_index_info *info, uint64_t *tokens)
{
    kz_segment *sg = c->sg;
    uint64_t len;
    const uint8_t *sidx = kz_file_section(kz_segment_file(sg), KZ_SEC_STOREIDX, &len);
    uint64_t n_blocks = len / KZ_STOREIDX_SIZE;
    uint64_t store_len;
    kz_file_section(kz_segment_file(sg), KZ_SEC_STORE, &store_len);
    uint64_t expect_off = 0;
    uint8_t *raw = NULL;
    size_t raw_cap = 0;
    for (uint64_t b = 0; b < n_blocks; b++) {
        const uint8_t *e = sidx + b * KZ_STOREIDX_SIZE;
        uint64_t off = kz_load_u64(e + KZ_STOREIDX_OFF);
        uint32_t clen = kz_load_u32(e + KZ_STOREIDX_CLEN), rlen;
        if (off != expect_off || off > store_len || clen > store_len - off)
            fault(c, "store block %llu: offset %llu length %u out of place", (unsigned long long)b,
                  (unsigned long long)off, clen);
        else if (kz_segment_store_block(sg, (uint32_t)b, &raw, &raw_cap, &rlen) != KZ_OK)
            fault(c, "store block %llu: %s", (unsigned long long)b, kz_last_error());
        expect_off = off + clen;
    }
    free(raw);
    if (expect_off != store_len)
        fault(c, "store blocks cover %llu of %llu bytes", (unsigned long long)expect_off,
              (unsigned long long)store_len);

    uint64_t sum = 0;
    for (uint64_t d = 0; d < info->docs; d++) {
        kz_doc doc;
        if (kz_segment_doc(sg, &doc, (uint32_t)d, NULL, 0) != KZ_OK) {
            fault(c, "document %llu: %s", (unsigned long long)d, kz_last_error());
            continue;
        }
        sum += doc.length;
        tokens[d] = 0;
        const uint8_t *docs = kz_file_section(kz_segment_file(sg), KZ_SEC_DOCS, &len);
        const uint8_t *rec = docs + d * KZ_DOC_SIZE;
        uint32_t block = kz_load_u32(rec + KZ_DOC_BLOCK);
        uint64_t end = (uint64_t)kz_load_u32(rec + KZ_DOC_BLOCK_OFF) + kz_load_u32(rec + KZ_DOC_TEXT_LEN);
        if (block >= n_blocks || end > kz_load_u32(sidx + (uint64_t)block * KZ_STOREIDX_SIZE + KZ_STOREIDX_RLEN))
            fault(c, "document %llu: text outside its store block", (unsigned long long)d);
    }
    if (sum != info->tokens)
        fault(c, "document lengths add up to %llu, META says %llu tokens", (unsigned long long)sum,
              (unsigned long long)info->tokens);
}

/* IDS: every document once, under the XXH3 of its id, in order, no id
 * twice. DOCHASH: each document's fingerprint recomputed from its stored
 * fields. SIMHASH: each document's, from its stored text, analysed. */
static void check_ids(checker *c, const kz_index_info *info)
{
    kz_segment *sg = c->sg;
    const uint8_t *rec;
    uint64_t n;
    uint8_t *listed = calloc(info->docs ? info->docs : 1, 1);
    uint8_t *raw = NULL;
    size_t raw_cap = 0;
    kz_doc_field *meta = NULL;
    size_t meta_cap = 0;
    XXH3_state_t *st = XXH3_createState();
    kz_analyzer *an = NULL;
    kz_tokvec tv = { 0 };
    uint64_t *term_hashes = NULL;
    size_t term_hashes_cap = 0;
    if (!listed || !st || kz_analyzer_new(&an, info->language) != KZ_OK) {
        fault(c, "out of memory checking the ids");
        goto done;
    }
    if (kz_segment_ids(sg, &rec, &n) != KZ_OK) {
        fault(c, "IDS: %s", kz_last_error());
        goto done;
    }
    for (uint64_t r = 0; r < n && c->faults <= MAX_FAULTS; r++) {
        uint64_t h = kz_load_u64(rec + r * KZ_IDS_SIZE + KZ_IDS_HASH);
        uint32_t d = kz_load_u32(rec + r * KZ_IDS_SIZE + KZ_IDS_DOCID);
        kz_doc doc;
        if (d >= info->docs || listed[d]) {
            fault(c, "IDS record %llu: document %u is past the last or listed twice", (unsigned long long)r, d);
            continue;
        }
        listed[d] = 1;
        if (r > 0) {
            uint64_t ph = kz_load_u64(rec + (r - 1) * KZ_IDS_SIZE + KZ_IDS_HASH);
            uint32_t pd = kz_load_u32(rec + (r - 1) * KZ_IDS_SIZE + KZ_IDS_DOCID);
            if (ph > h || (ph == h && pd >= d))
                fault(c, "IDS record %llu is out of order", (unsigned long long)r);
        }
        if (kz_segment_doc(sg, &doc, d, NULL, 0) != KZ_OK)
            continue; /* check_docs reported it */
        if (XXH3_64bits(doc.id, doc.id_len) != h) {
            fault(c, "IDS record %llu: the hash is not that of document %u's id", (unsigned long long)r, d);
            continue;
        }
        /* Ids are unique in a segment: a record of the same hash before
         * this one has another id. */
        for (uint64_t q = r; q-- > 0 && kz_load_u64(rec + q * KZ_IDS_SIZE + KZ_IDS_HASH) == h;) {
            kz_doc other;
            uint32_t od = kz_load_u32(rec + q * KZ_IDS_SIZE + KZ_IDS_DOCID);
            if (od < info->docs && kz_segment_doc(sg, &other, od, NULL, 0) == KZ_OK &&
                other.id_len == doc.id_len && memcmp(other.id, doc.id, doc.id_len) == 0)
                fault(c, "documents %u and %u have the same id", od, d);
        }
    }
    uint64_t docs_len;
    const uint8_t *docs = kz_file_section(kz_segment_file(sg), KZ_SEC_DOCS, &docs_len);
    uint32_t have_block = UINT32_MAX, rlen = 0;
    for (uint64_t d = 0; d < info->docs && c->faults <= MAX_FAULTS; d++) {
        kz_doc doc;
        uint64_t stored;
        if (kz_segment_doc(sg, &doc, (uint32_t)d, NULL, 0) != KZ_OK ||
            kz_segment_doc_fingerprint(sg, (uint32_t)d, &stored) != KZ_OK)
            continue; /* reported already */
        if (doc.n_meta > meta_cap) {
            free(meta);
            meta_cap = doc.n_meta;
            if (!(meta = malloc(meta_cap * sizeof *meta))) {
                fault(c, "out of memory checking the fingerprints");
                goto done;
            }
        }
        kz_segment_doc(sg, &doc, (uint32_t)d, meta, meta_cap);
        const uint8_t *r = docs + d * KZ_DOC_SIZE;
        uint32_t block = kz_load_u32(r + KZ_DOC_BLOCK), off = kz_load_u32(r + KZ_DOC_BLOCK_OFF);
        uint32_t len = kz_load_u32(r + KZ_DOC_TEXT_LEN);
        if (block != have_block) {
            have_block = UINT32_MAX;
            if (kz_segment_store_block(sg, block, &raw, &raw_cap, &rlen) != KZ_OK)
                continue; /* check_docs reported it */
            have_block = block;
        }
        if ((uint64_t)off + len > rlen)
            continue;
        XXH3_64bits_reset(st);
        kz_fingerprint_field(st, doc.title, doc.title_len);
        kz_fingerprint_field(st, raw + off, len);
        for (size_t i = 0; i < doc.n_meta; i++) {
            kz_fingerprint_field(st, meta[i].key, meta[i].key_len);
            kz_fingerprint_field(st, meta[i].value, meta[i].value_len);
        }
        if (XXH3_64bits_digest(st) != stored)
            fault(c, "document %llu: its fingerprint (DOCHASH) is not that of its fields", (unsigned long long)d);
        uint64_t simhash;
        if (kz_segment_doc_simhash(sg, (uint32_t)d, &simhash) != KZ_OK)
            continue;
        tv.len = 0;
        kz_analyzer_set_russian(an, !kz_doc_other_cyrillic(meta, doc.n_meta, doc.title, doc.title_len,
                                                           (const char *)raw + off, len));
        if (kz_analyzer_run(an, (const char *)raw + off, len, &tv) != KZ_OK) {
            fault(c, "out of memory checking the SimHash fingerprints");
            goto done;
        }
        if (tv.len > term_hashes_cap) {
            free(term_hashes);
            term_hashes_cap = tv.len;
            if (!(term_hashes = malloc(term_hashes_cap * sizeof *term_hashes))) {
                fault(c, "out of memory checking the SimHash fingerprints");
                goto done;
            }
        }
        for (size_t i = 0; i < tv.len; i++) {
            size_t tlen;
            const char *term = kz_analyzer_term(an, tv.v[i].term, &tlen);
            term_hashes[i] = kz_simhash_term(term, tlen);
        }
        if (kz_simhash(term_hashes, tv.len) != simhash)
            fault(c, "document %llu: its SimHash (SIMHASH) is not that of its text", (unsigned long long)d);
        /* Its text marks (format 7): where its every 64th token starts. */
        uint64_t n_marks = kz_segment_doc_mark_count(sg, (uint32_t)d);
        kz_text_marks marks;
        size_t used;
        if (n_marks && kz_text_marks_parse(&marks, raw + off + len, rlen - off - len, n_marks, len, &used) != KZ_OK) {
            fault(c, "document %llu: %s", (unsigned long long)d, kz_last_error());
        } else if (n_marks) {
            size_t k = 0;
            while (k < marks.n && (k + 1) * KZ_TEXT_MARK_EVERY < tv.len &&
                   marks.at[k] == tv.v[(k + 1) * KZ_TEXT_MARK_EVERY].start)
                k++;
            if (k < marks.n)
                fault(c, "document %llu: its text mark %zu (STORE) is not where its token %zu starts",
                      (unsigned long long)d, k, (k + 1) * KZ_TEXT_MARK_EVERY);
            kz_text_marks_free(&marks);
        }
        if (kz_analyzer_memory(an) > (64u << 20))
            kz_analyzer_reset(an);
    }
done:
    kz_analyzer_free(an);
    kz_tokvec_free(&tv);
    free(term_hashes);
    free(listed);
    free(raw);
    free(meta);
    XXH3_freeState(st);
}

/* One bit per token of the collection, at doc_base[d] + position: every
 * position of every document must be claimed by exactly one term. */
typedef struct position_map {
    uint64_t *bits;
    uint64_t *doc_base;
} position_map;

static int claim_position(position_map *pm, uint32_t d, uint32_t pos)
{
    uint64_t i = pm->doc_base[d] + pos;
    uint64_t mask = 1ull << (i & 63);
    if (pm->bits[i >> 6] & mask)
        return 0;
    pm->bits[i >> 6] |= mask;
    return 1;
}

static void check_term(checker *c, const kz_index_info *info, uint32_t o, uint64_t *tokens,
                       position_map *pm, uint32_t **docids, uint32_t **pos, size_t *cap, size_t *pos_cap)
{
    kz_segment *sg = c->sg;
    kz_term t;
    kz_plist pl;
    if (kz_segment_term_at(sg, &t, o) != KZ_OK) {
        fault(c, "term %u: %s", o, kz_last_error());
        return;
    }
    if (kz_segment_plist(sg, &pl, o) != KZ_OK) {
        fault(c, "term \"%.*s\": %s", (int)t.len, t.text, kz_last_error());
        return;
    }
    roaring_bitmap_t *ref = roaring_bitmap_portable_deserialize_safe((const char *)pl.bitmap, pl.bitmap_len);
    if (!ref || roaring_bitmap_get_cardinality(ref) != pl.df ||
        roaring_bitmap_portable_deserialize_size((const char *)pl.bitmap, pl.bitmap_len) != pl.bitmap_len)
        fault(c, "term \"%.*s\": CRoaring does not read its bitmap as %u docids", (int)t.len, t.text, pl.df);
    if (pl.df > *cap) {
        free(*docids);
        *cap = pl.df;
        *docids = malloc(*cap * sizeof **docids);
        if (!*docids) {
            *cap = 0;
            fault(c, "out of memory");
            goto done;
        }
    }
    if (kz_plist_docids(&pl, *docids) != KZ_OK) {
        fault(c, "term \"%.*s\": %s", (int)t.len, t.text, kz_last_error());
        goto done;
    }
    kz_pos_cursor cursor = { 0 };
    uint64_t cf = 0;
    uint32_t max_tf = 0, blk_max_tf = 0, blk_min_dl = UINT32_MAX;
    double blk_bound = 0, term_bound = 0;
    /* A field term (FORMAT.md "Field terms") is not in the text: its
     * positions are places in the document's list of field terms, not
     * counted in its length. */
    int field = t.len > 0 && t.text[0] == KZ_FIELD_MARK;
    for (uint32_t i = 0; i < pl.df; i++) {
        uint32_t d = (*docids)[i];
        if (d >= info->docs || (ref && !roaring_bitmap_contains(ref, d))) {
            fault(c, "term \"%.*s\": docid %u out of range or not in CRoaring's reading", (int)t.len, t.text, d);
            goto done;
        }
        uint32_t tf = kz_plist_tf(&pl, i);
        uint32_t dl = kz_segment_doc_length(sg, d);
        if (tf == 0 || (tf > dl && !field)) {
            fault(c, "term \"%.*s\": tf %u in document %u of length %u", (int)t.len, t.text, tf, d, dl);
            goto done;
        }
        if (tf > *pos_cap) {
            free(*pos);
            *pos_cap = tf;
            *pos = malloc(*pos_cap * sizeof **pos);
            if (!*pos) {
                *pos_cap = 0;
                fault(c, "out of memory");
                goto done;
            }
        }
        if (kz_plist_positions_seq(&pl, &cursor, i, tf, *pos) != KZ_OK) {
            fault(c, "term \"%.*s\" document %u: %s", (int)t.len, t.text, d, kz_last_error());
            goto done;
        }
        for (uint32_t j = 0; j < tf; j++) {
            if (field) {
                if (j && (*pos)[j] <= (*pos)[j - 1]) {
                    fault(c, "field term \"%.*s\" document %u: position %u out of order", (int)t.len, t.text, d,
                          (*pos)[j]);
                    goto done;
                }
                continue;
            }
            if ((*pos)[j] >= dl || (j && (*pos)[j] <= (*pos)[j - 1])) {
                fault(c, "term \"%.*s\" document %u: position %u out of order or past length %u",
                      (int)t.len, t.text, d, (*pos)[j], dl);
                goto done;
            }
            if (pm->bits && !claim_position(pm, d, (*pos)[j])) {
                fault(c, "term \"%.*s\" document %u: position %u is also another term's",
                      (int)t.len, t.text, d, (*pos)[j]);
                goto done;
            }
        }
        tokens[d] += field ? 0 : tf;
        cf += tf;
        max_tf = KZ_MAX(max_tf, tf);
        /* The score bounds must hold: recompute the saturation. */
        double sat = (double)tf / ((double)tf + KZ_BM25_K1 * ((1.0 - KZ_BM25_B) + KZ_BM25_B * (double)dl / info->avgdl));
        term_bound = sat > term_bound ? sat : term_bound;
        blk_bound = sat > blk_bound ? sat : blk_bound;
        blk_max_tf = KZ_MAX(blk_max_tf, tf);
        blk_min_dl = KZ_MIN(blk_min_dl, dl);
        if (pl.n_blocks && (i % KZ_POSTING_BLOCK == KZ_POSTING_BLOCK - 1 || i + 1 == pl.df)) {
            const uint8_t *blk = pl.blocks + (size_t)(i / KZ_POSTING_BLOCK) * KZ_BLOCK_SIZE;
            float fb;
            memcpy(&fb, blk + KZ_BLOCK_BOUND, 4);
            if (kz_load_u32(blk + KZ_BLOCK_LAST_DOC) != d || kz_load_u32(blk + KZ_BLOCK_MAX_TF) != blk_max_tf ||
                kz_load_u32(blk + KZ_BLOCK_MIN_DL) != blk_min_dl || fb != round_up(blk_bound))
                fault(c, "term \"%.*s\": block %u's entry (last docid, max tf, min dl or bound) is wrong",
                      (int)t.len, t.text, i / KZ_POSTING_BLOCK);
            blk_max_tf = 0;
            blk_min_dl = UINT32_MAX;
            blk_bound = 0;
        }
    }
    /* df == 1 terms derive their bound; the others store it as f32 rounded up. */
    if (pl.df > 1 && pl.bound != (double)round_up(term_bound))
        fault(c, "term \"%.*s\": score bound %.9g recorded, %.9g found", (int)t.len, t.text, pl.bound, term_bound);
    if (pl.df == 1 && !isnan(pl.bound))
        fault(c, "term \"%.*s\": a term in one document has a stored bound", (int)t.len, t.text);
    if (cf != pl.cf || max_tf != pl.max_tf)
        fault(c, "term \"%.*s\": cf %llu max_tf %u recorded, %llu and %u found", (int)t.len, t.text,
              (unsigned long long)pl.cf, pl.max_tf, (unsigned long long)cf, max_tf);
    /* The position blocks must be used up exactly. */
    if (kz_plist_check_positions(&pl) != KZ_OK)
        fault(c, "term \"%.*s\": %s", (int)t.len, t.text, kz_last_error());
done:
    roaring_bitmap_free(ref);
    kz_plist_close(&pl);
}

int kz_segment_check(kz_segment *sg, kz_check_fn fn, void *ctx)
{
    checker c = { sg, fn, ctx, 0 };
    kz_index_info info;
    kz_segment_get_info(sg, &info);
    unsigned sum_faults = 0;
    kz_file_verify_all(kz_segment_file(sg), fn, ctx, &sum_faults);
    c.faults += sum_faults;
    if (sum_faults)
        goto done; /* decoding damaged bytes would only repeat the news */
    uint64_t *tokens = calloc(info.docs ? info.docs : 1, sizeof *tokens);
    if (!tokens)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    check_docs(&c, &info, tokens);
    check_ids(&c, &info);
    for (uint64_t d = 0; d < info.docs; d++)
        tokens[d] = 0;
    uint32_t *docids = NULL, *pos = NULL;
    size_t cap = 0, pos_cap = 0;
    position_map pm = { NULL, NULL };
    if (c.faults == 0) {
        /* Without it (no memory), the position check is skipped, not failed. */
        pm.doc_base = malloc((info.docs ? info.docs : 1) * sizeof *pm.doc_base);
        pm.bits = calloc(info.tokens / 64 + 1, sizeof *pm.bits);
        if (!pm.doc_base || !pm.bits) {
            free(pm.doc_base);
            free(pm.bits);
            pm.doc_base = pm.bits = NULL;
        } else {
            uint64_t base = 0;
            for (uint64_t d = 0; d < info.docs; d++) {
                pm.doc_base[d] = base;
                base += kz_segment_doc_length(sg, (uint32_t)d);
            }
        }
    }
    /* The dictionary's structure first: then every term can be read. */
    unsigned dict_faults = 0;
    kz_segment_check_terms(sg, c.fn, c.ctx, &dict_faults);
    c.faults += dict_faults;
    for (uint64_t o = 0; o < info.terms && c.faults <= MAX_FAULTS && dict_faults == 0; o++)
        check_term(&c, &info, (uint32_t)o, tokens, &pm, &docids, &pos, &cap, &pos_cap);
    free(pm.bits);
    free(pm.doc_base);
    if (c.faults == 0) {
        for (uint64_t d = 0; d < info.docs; d++) {
            if (tokens[d] != kz_segment_doc_length(sg, (uint32_t)d)) {
                fault(&c, "document %llu: its postings hold %llu tokens, its length is %u",
                      (unsigned long long)d, (unsigned long long)tokens[d],
                      kz_segment_doc_length(sg, (uint32_t)d));
                break;
            }
        }
    }
    free(docids);
    free(pos);
    free(tokens);
done:
    if (c.faults)
        return kz_error_set(KZ_ECORRUPT, "index is corrupt: %u fault%s found", c.faults,
                            c.faults == 1 ? "" : "s");
    return KZ_OK;
}
