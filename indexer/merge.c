/*
 * merge.c: the final merge of sorted runs into posting blobs.
 *
 * Like the merge phase of an external sort: every run is read term by
 * term; the runs holding the smallest term give up their postings one at
 * a time, merged by docid (runs from different workers interleave), into
 * a kz_postings_writer (postings.c) that codes them block by block and
 * spills long position lists to a file. So the merge holds a read-ahead
 * buffer and a posting per run, not a term's whole list: its memory does
 * not grow with the corpus's most frequent word. A merge covers a range of terms [lo, hi), so
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
#include <unistd.h>

typedef struct merge_src {
    kz_run_reader *r;
    kz_run_posting p; /* the current term's next posting, while has_posting */
    int has_posting;
} merge_src;

static int term_cmp(kz_run_reader *a, kz_run_reader *b)
{
    size_t la, lb;
    const uint8_t *ta = kz_run_current_term(a, &la), *tb = kz_run_current_term(b, &lb);
    return kz_bytes_cmp(ta, la, tb, lb);
}

static int src_advance(merge_src *s)
{
    int more = kz_run_posting_next(s->r, &s->p);
    s->has_posting = more > 0;
    return more < 0 ? more : KZ_OK;
}

/* Gives src's posting to the writer and reads the next one. */
static int src_take(merge_src *s, kz_postings_writer *w, uint64_t n_docs)
{
    if (s->p.docid >= n_docs)
        return kz_error_set(KZ_EIO, "internal error: a run names a document that does not exist");
    int rc = kz_postings_writer_add(w, s->p.docid, s->p.tf, s->p.pos);
    return rc ? rc : src_advance(s);
}

static int sink_part(void *ctx, const void *data, size_t len)
{
    kz_merge_part *m = ctx;
    return m->fw ? kz_fwriter_write(m->fw, data, len) : kz_fwrite_all(m->postings_f, data, len, m->postings_path);
}

/* An unnamed file in dir for the positions of long posting lists. */
static int open_spill(int *fd, const char *dir)
{
    char *path = NULL;
    if (asprintf(&path, "%s/spill-XXXXXX", dir ? dir : ".") < 0)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    *fd = mkstemp(path);
    int rc = *fd < 0 ? kz_error_errno(KZ_EIO, errno, "cannot create %s", path) : KZ_OK;
    if (*fd >= 0)
        unlink(path);
    free(path);
    return rc;
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
    int c = kz_bytes_cmp(t, len, bound, blen);
    return upper ? c < 0 : c >= 0;
}

static int merge_range(kz_merge_part *m)
{
    int rc = KZ_OK, spill_fd = -1;
    size_t n = m->n_runs;
    merge_src *srcs = calloc(n ? n : 1, sizeof *srcs);
    merge_src **heap = calloc(n ? n : 1, sizeof *heap);
    merge_src **cur = calloc(n ? n : 1, sizeof *cur);
    kz_postings_writer *w = NULL;
    kz_buf rec = { 0 };
    size_t hn = 0;
    if (!srcs || !heap || !cur) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = open_spill(&spill_fd, m->spill_dir)) ||
        (rc = kz_postings_writer_new(&w, m->doc_lengths, m->avgdl, spill_fd, m->spill_at)))
        goto done;
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
        for (size_t i = 0; i < nc; i++)
            if ((rc = src_advance(cur[i])))
                goto done;
        if (nc == 1) {
            while (cur[0]->has_posting)
                if ((rc = src_take(cur[0], w, m->n_docs)))
                    goto done;
        } else {
            /* Merge by docid: runs from different workers interleave, a
             * batch's documents at a time. The run with the smallest docid
             * gives up postings until it passes the next run's first. */
            for (;;) {
                merge_src *best = NULL;
                uint32_t next = UINT32_MAX;
                for (size_t i = 0; i < nc; i++) {
                    if (!cur[i]->has_posting)
                        continue;
                    if (!best || cur[i]->p.docid < best->p.docid) {
                        if (best)
                            next = best->p.docid;
                        best = cur[i];
                    } else if (cur[i]->p.docid < next) {
                        next = cur[i]->p.docid;
                    }
                }
                if (!best)
                    break;
                do {
                    if ((rc = src_take(best, w, m->n_docs)))
                        goto done;
                } while (best->has_posting && best->p.docid < next);
            }
        }
        uint64_t df = kz_postings_writer_df(w), blob_len;
        if ((rc = kz_postings_writer_finish(w, sink_part, m, &blob_len)))
            goto done;
        m->postings_bytes += blob_len;
        size_t tlen;
        const uint8_t *text = kz_run_current_term(cur[0]->r, &tlen);
        /* A plain record; kz_dict_add() front-codes the whole list later. */
        rec.len = 0;
        if ((rc = kz_buf_append_varint(&rec, tlen)) || (rc = kz_buf_append(&rec, text, tlen)) ||
            (rc = kz_buf_append_varint(&rec, df)) || (rc = kz_buf_append_varint(&rec, blob_len)) ||
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
    kz_postings_writer_free(w);
    if (spill_fd >= 0)
        close(spill_fd);
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

