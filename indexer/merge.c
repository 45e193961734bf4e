/*
 * merge.c: the final merge of sorted runs into posting blobs.
 *
 * Like the merge phase of an external sort: every run is read term by
 * term; the runs holding the smallest term give up their postings, merged
 * by docid (runs from different workers interleave), and the term's blob
 * is encoded (postings.c). A merge covers a range of terms [lo, hi), so
 * that two threads can each take half of the dictionary: the builder
 * appends the second half's postings behind the first's and shifts their
 * offsets. Each part lists its terms (term, df, blob length) in a file
 * of its own; the dictionary is front-coded from those lists afterwards.
 */
#include "kzint.h"
#include "format.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct merge_src {
    kz_run_reader *r;
    const uint8_t *p, *end; /* the current term's postings */
    uint32_t left;          /* postings not yet taken */
    uint32_t docid;         /* next posting's docid */
    int has_term;
} merge_src;

/* One term's merged postings, in the form kz_postings_encode() takes. */
typedef struct merge_out {
    uint32_t *docids, *tfs;
    uint64_t *pos_off; /* n+1 entries */
    size_t cap;        /* postings the arrays hold */
    uint8_t *pos;
    size_t pos_len, pos_cap;
    uint32_t n;
} merge_out;

/* Makes room for a term of at most postings postings whose run bytes
 * (which include its positions) total at most bytes. */
static int merge_reset(merge_out *o, size_t postings, size_t bytes)
{
    if (postings + 1 > o->cap) {
        size_t cap = KZ_MAX(postings + 1, o->cap * 2);
        uint32_t *d = realloc(o->docids, cap * sizeof *d);
        if (d)
            o->docids = d;
        uint32_t *t = realloc(o->tfs, cap * sizeof *t);
        if (t)
            o->tfs = t;
        uint64_t *p = realloc(o->pos_off, cap * sizeof *p);
        if (p)
            o->pos_off = p;
        if (!d || !t || !p)
            return kz_error_set(KZ_ENOMEM, "out of memory merging postings");
        o->cap = cap;
    }
    if (bytes > o->pos_cap) {
        size_t cap = KZ_MAX(bytes, o->pos_cap * 2);
        uint8_t *p = realloc(o->pos, cap);
        if (!p)
            return kz_error_set(KZ_ENOMEM, "out of memory merging postings");
        o->pos = p;
        o->pos_cap = cap;
    }
    o->n = 0;
    o->pos_len = 0;
    o->pos_off[0] = 0;
    return KZ_OK;
}

static void merge_free(merge_out *o)
{
    free(o->docids);
    free(o->tfs);
    free(o->pos_off);
    free(o->pos);
}

static int term_cmp(kz_run_reader *a, kz_run_reader *b)
{
    size_t la, lb;
    const uint8_t *ta = kz_run_current_term(a, &la), *tb = kz_run_current_term(b, &lb);
    int c = memcmp(ta, tb, KZ_MIN(la, lb));
    if (c)
        return c;
    return la < lb ? -1 : la > lb;
}

static int bad_run(void) { return kz_error_set(KZ_EIO, "a run file is damaged"); }

/* Reads the docid of src's next posting, if any. */
static inline int src_peek(merge_src *s, uint32_t prev_docid, int first)
{
    if (s->left == 0)
        return KZ_OK;
    uint32_t v;
    if (kz_varint_get32(&s->p, s->end, &v))
        return bad_run();
    s->docid = first ? v : prev_docid + v;
    return KZ_OK;
}

/* Moves src's posting (its docid already read) to out, whose room
 * merge_reset() made. */
static inline int src_take(merge_src *s, merge_out *o)
{
    uint32_t tf;
    if (kz_varint_get32(&s->p, s->end, &tf) || tf == 0)
        return bad_run();
    const uint8_t *start = s->p;
    for (uint32_t k = tf; k > 0; s->p++) {
        if (s->p >= s->end)
            return bad_run();
        k -= !(*s->p & 0x80);
    }
    size_t len = (size_t)(s->p - start);
    uint32_t i = o->n++;
    o->docids[i] = s->docid;
    o->tfs[i] = tf;
    memcpy(o->pos + o->pos_len, start, len);
    o->pos_len += len;
    o->pos_off[i + 1] = o->pos_len;
    s->left--;
    return src_peek(s, s->docid, 0);
}

static void heap_sift(merge_src **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && term_cmp(h[l]->r, h[m]->r) < 0)
            m = l;
        if (l + 1 < n && term_cmp(h[l + 1]->r, h[m]->r) < 0)
            m = l + 1;
        if (m == i)
            return;
        merge_src *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static int in_range(const kz_merge_part *m, const uint8_t *t, size_t len, int upper)
{
    const char *bound = upper ? m->hi : m->lo;
    size_t blen = upper ? m->hi_len : m->lo_len;
    if (!bound)
        return 1;
    int c = memcmp(t, bound, KZ_MIN(len, blen));
    if (c == 0)
        c = len < blen ? -1 : len > blen;
    return upper ? c < 0 : c >= 0;
}

static int merge_range(kz_merge_part *m)
{
    int rc = KZ_OK;
    size_t n = m->n_runs;
    merge_src *srcs = calloc(n ? n : 1, sizeof *srcs);
    merge_src **heap = calloc(n ? n : 1, sizeof *heap);
    merge_src **cur = calloc(n ? n : 1, sizeof *cur);
    merge_out o;
    memset(&o, 0, sizeof o);
    kz_buf blob = { 0 }, rec = { 0 };
    double avgdl = m->avgdl > 0 ? m->avgdl : 1.0;
    size_t hn = 0;
    if (!srcs || !heap || !cur) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if ((rc = kz_run_open(&srcs[i].r, m->runs[i], m->read_size)))
            goto done;
        /* Skip the terms below the range. */
        int more;
        for (;;) {
            more = kz_run_next(srcs[i].r);
            if (more <= 0)
                break;
            size_t len;
            const uint8_t *t = kz_run_current_term(srcs[i].r, &len);
            if (in_range(m, t, len, 0))
                break;
        }
        if (more < 0) {
            rc = more;
            goto done;
        }
        if (more)
            heap[hn++] = &srcs[i];
    }
    for (size_t i = hn; i-- > 0;)
        heap_sift(heap, hn, i);

    while (hn > 0) {
        size_t min_len;
        const uint8_t *min_term = kz_run_current_term(heap[0]->r, &min_len);
        if (!in_range(m, min_term, min_len, 1))
            break; /* the rest belongs to the next range */
        /* Gather every run whose current term is the smallest. */
        size_t nc = 0;
        cur[nc++] = heap[0];
        heap[0] = heap[--hn];
        heap_sift(heap, hn, 0);
        while (hn > 0 && term_cmp(heap[0]->r, cur[0]->r) == 0) {
            cur[nc++] = heap[0];
            heap[0] = heap[--hn];
            heap_sift(heap, hn, 0);
        }
        uint64_t df_total = 0, bytes_total = 0;
        for (size_t i = 0; i < nc; i++) {
            size_t len;
            uint32_t df;
            cur[i]->p = kz_run_current_postings(cur[i]->r, &len, &df);
            cur[i]->end = cur[i]->p + len;
            cur[i]->left = df;
            df_total += df;
            bytes_total += len;
            if ((rc = src_peek(cur[i], 0, 1)))
                goto done;
        }
        if (df_total > UINT32_MAX) {
            rc = kz_error_set(KZ_ELIMIT, "a term in more than 2^32 documents");
            goto done;
        }
        if ((rc = merge_reset(&o, (size_t)df_total, (size_t)bytes_total)))
            goto done;
        if (nc == 1) {
            while (cur[0]->left)
                if ((rc = src_take(cur[0], &o)))
                    goto done;
        } else {
            /* Merge by docid: runs from different workers interleave. */
            for (;;) {
                merge_src *best = NULL;
                for (size_t i = 0; i < nc; i++)
                    if (cur[i]->left && (!best || cur[i]->docid < best->docid))
                        best = cur[i];
                if (!best)
                    break;
                if ((rc = src_take(best, &o)))
                    goto done;
            }
        }
        uint32_t df = o.n;
        const uint32_t *docids = o.docids;
        for (uint32_t i = 0; i < df; i++) {
            if (docids[i] >= m->n_docs || (i && docids[i] <= docids[i - 1])) {
                rc = kz_error_set(KZ_EIO, "internal error: postings out of order while merging");
                goto done;
            }
        }
        kz_posting_input in = { docids, o.tfs, o.pos, o.pos_off, df, m->doc_lengths, avgdl };
        blob.len = 0;
        if ((rc = kz_postings_encode(&blob, &in)))
            goto done;
        rc = m->fw ? kz_fwriter_write(m->fw, blob.data, blob.len)
                   : kz_fwrite_all(m->postings_f, blob.data, blob.len, m->postings_path);
        if (rc)
            goto done;
        m->postings_bytes += blob.len;
        size_t tlen;
        const uint8_t *text = kz_run_current_term(cur[0]->r, &tlen);
        /* A plain record; kz_dict_add() front-codes the whole list later. */
        rec.len = 0;
        if ((rc = kz_buf_append_varint(&rec, tlen)) || (rc = kz_buf_append(&rec, text, tlen)) ||
            (rc = kz_buf_append_varint(&rec, df)) || (rc = kz_buf_append_varint(&rec, blob.len)) ||
            (rc = kz_fwrite_all(m->terms_f, rec.data, rec.len, m->terms_path)))
            goto done;
        m->n_terms++;

        for (size_t i = 0; i < nc; i++) {
            int more = kz_run_next(cur[i]->r);
            if (more < 0) {
                rc = more;
                goto done;
            }
            if (more) {
                heap[hn++] = cur[i];
                for (size_t j = hn - 1; j > 0;) {
                    size_t parent = (j - 1) / 2;
                    if (term_cmp(heap[j]->r, heap[parent]->r) >= 0)
                        break;
                    merge_src *t = heap[j];
                    heap[j] = heap[parent];
                    heap[parent] = t;
                    j = parent;
                }
            }
        }
    }
done:
    for (size_t i = 0; i < n && srcs; i++)
        kz_run_close(srcs[i].r);
    free(srcs);
    free(heap);
    free(cur);
    merge_free(&o);
    kz_buf_free(&blob);
    kz_buf_free(&rec);
    return rc;
}

int kz_merge(kz_merge_part *m)
{
    int rc = merge_range(m);
    m->rc = rc;
    if (rc)
        snprintf(m->message, sizeof m->message, "%s", kz_last_error());
    return rc;
}

