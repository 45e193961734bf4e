/*
 * dict.c: writing the term dictionary.
 *
 * Terms are front-coded in blocks of KZ_TERMS_PER_BLOCK: a block starts
 * with a whole term, each further term stores how many bytes it shares
 * with the one before and the rest. Per term also its df and the length
 * of its posting blob (blobs follow one another in POSTINGS, so offsets
 * are sums). TERMS holds one entry per block: the block's first ordinal,
 * where the block starts in TERMSTR, and its first blob's offset. Blocks
 * fall at every 16th ordinal, so the dictionary does not depend on how
 * the merge was split between threads. The reader is in index.c.
 */
#include "kzint.h"
#include "format.h"

int kz_dict_add(kz_dict_writer *w, const uint8_t *term, size_t len, uint32_t df, uint64_t blob_len)
{
    int rc;
    if (len == 0 || len >= KZ_TERM_MAX_BYTES)
        return kz_error_set(KZ_EIO, "internal error: a term of %zu bytes", len);
    size_t prefix = 0;
    if (w->n_terms % KZ_TERMS_PER_BLOCK == 0) {
        if (w->n_terms > UINT32_MAX || w->str_bytes > UINT32_MAX)
            return kz_error_set(KZ_ELIMIT, "the dictionary exceeds 2^32 terms or 4 GiB");
        uint8_t e[KZ_TIDX_SIZE];
        kz_store_u32(e + KZ_TIDX_FIRST, (uint32_t)w->n_terms);
        kz_store_u32(e + KZ_TIDX_STR_OFF, (uint32_t)w->str_bytes);
        kz_store_u64(e + KZ_TIDX_BLOB_OFF, w->blob_off);
        if ((rc = kz_buf_append(&w->index, e, sizeof e)))
            return rc;
    } else {
        while (prefix < len && prefix < w->prev_len && w->prev[prefix] == term[prefix])
            prefix++;
    }
    w->rec.len = 0;
    if ((rc = kz_buf_append_varint(&w->rec, prefix)) || (rc = kz_buf_append_varint(&w->rec, len - prefix)) ||
        (rc = kz_buf_append(&w->rec, term + prefix, len - prefix)) ||
        (rc = kz_buf_append_varint(&w->rec, df)) || (rc = kz_buf_append_varint(&w->rec, blob_len)) ||
        (rc = kz_fwriter_write(w->fw, w->rec.data, w->rec.len)))
        return rc;
    memcpy(w->prev, term, len);
    w->prev_len = len;
    w->str_bytes += w->rec.len;
    w->blob_off += blob_len;
    w->n_terms++;
    return KZ_OK;
}

int kz_dict_write_index(kz_dict_writer *w)
{
    int rc;
    if ((rc = kz_fwriter_begin(w->fw, KZ_SEC_TERMS)) ||
        (rc = kz_fwriter_write(w->fw, w->index.data, w->index.len)))
        return rc;
    return kz_fwriter_end(w->fw);
}

void kz_dict_writer_free(kz_dict_writer *w)
{
    kz_buf_free(&w->index);
    kz_buf_free(&w->rec);
}
