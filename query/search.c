/*
 * search.c: evaluates a parsed query and ranks its matches by BM25,
 * exactly.
 *
 * Scoring follows the README to the letter, so that anyone can recompute
 * it: idf(t) = ln(1 + (N - df + 0.5)/(df + 0.5)) and
 * w(t,d) = idf * tf / (tf + k1*((1 - b) + b*dl/avgdl)), evaluated in that
 * order in double precision. The scoring units are the query's distinct
 * terms and phrases that are not excluded; a phrase is one unit whose tf
 * is its number of occurrences and whose idf is the sum of its terms'
 * idfs. A document's score is 0 plus w of each unit it holds, added in
 * query order; ties go to the lower docid (the document indexed first).
 *
 * Matching. Juxtaposed clauses (occur DEFAULT) are required in AND mode
 * and optional in OR mode; + and AND make a clause required, - and NOT
 * exclude it, and OR's alternatives are optional. A group with required
 * clauses matches the documents that have all of them (its optional
 * clauses then only add to the score); a group with none matches the
 * documents that have any optional clause; a group of exclusions alone
 * matches every document without them. In AUTO mode the documents that
 * match in AND mode come first, then those that match only in OR mode,
 * each part ranked by score (and_then_or); sorted by a field, AUTO is AND,
 * run again in OR mode when nothing matches.
 *
 * Three evaluators give the same hits, scores and totals:
 *  - and_terms: a conjunction of terms. The container kernels
 *    (intersect.c) give every match with its ordinal in each list, and the
 *    total; a match is scored only when its blocks' bounds, and then the
 *    blocks' max_tf at its own length, can beat the k-th best score.
 *  - or_terms: a disjunction of terms, by MaxScore (Turtle and Flood,
 *    1995) with block-max and length-aware bounds: the lists whose bounds
 *    together cannot beat the k-th score only confirm candidates from the
 *    others. A head start fills the top k with documents that have the two
 *    strongest terms, so the k-th score starts high. The total is the
 *    kernels' union count.
 *  - general: document at a time over the query tree (phrases, NOT,
 *    nesting), every match counted and scored.
 * Pruning compares bounds that are rounded up (FORMAT.md "Block table")
 * and widened by a relative 1e-9, so it never drops a document that would
 * have entered the top k; the scores of those that do are computed from
 * scratch in query order, so they are the same bits as the general path's.
 */
#include "kzint.h"
#include "format.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <xxhash.h>

#define NONE UINT32_MAX
#define BOUND_SLACK (1.0 + 1e-9)

/* ------------------------------------------------------------- state */

/* Reads one leaf (a term, or a phrase of n terms) at increasing docids. */
typedef struct leaf_reader {
    uint32_t n;
    int missing;      /* a term is not in the index: matches nothing */
    kz_cursor *cur;   /* n cursors */
    kz_pos_cursor *pc;
    uint32_t **pos;   /* positions of each term at the current document */
    uint32_t *pos_cap;
    uint32_t *tf;     /* tf of each term at the current document */
    uint32_t *order;  /* phrase_tf's: the terms by tf, */
    uint32_t *starts; /* and where the phrase may still start (starts_cap of them) */
    uint32_t starts_cap;
    uint32_t known_doc, known_tf; /* the leaf's tf in known_doc, once found */
    uint32_t known_title;         /* how many of those stand in its title */
    int in_title;     /* matches only where the leaf stands in the title (title:) */
    int in_field;     /* a filter's phrase: its positions are a text field's, not the title's and text's */
    /* in_title, when the leaf has title twins (kz_qnode.title_twin): a
     * reader of them as the title field's words (owned), used in a
     * segment that has title terms (eval.title_terms). */
    struct leaf_reader *title;
} leaf_reader;

typedef struct eval {
    kz_index *ix;
    kz_query *q;
    double k1, b, avgdl, n_docs; /* avgdl and N of the live documents of every segment */
    double norm0, norm1; /* k1 (1 - b) and k1 b / avgdl, for bounds */
    int default_k1_b;     /* k1, b are those the stored bounds assume */
    /* The segment's stored bounds (computed with its own avgdl A) hold at
     * the index's avgdl A' once multiplied by this: max(1, A'/A). Per
     * posting, tf/(tf + c0 + c1' dl) <= tf/(tf + c0 + c1 dl) * c1/c1'
     * with c1 = k1 b / A, when c1' < c1; and no more than before when
     * c1' >= c1. 0 when they do not hold (other k1 or b). */
    double bound_scale;
    kz_occur default_occur;
    /* The segment being evaluated: docids below are the segment's, and a
     * hit's docid in the index is base + docid. */
    kz_segment *sg;
    uint32_t base, seg_docs;
    /* By chunk of the segment's DOCS section: 1 once this query verified
     * it (doc_ok); NULL when the whole section is verified already. */
    uint8_t *doc_chunks;
    const uint32_t *lengths; /* every dl, when the segment is warm (kz_segment_doc_lengths) */
    int title_terms; /* the segment's titles are title field words too (format 6) */
    const roaring_bitmap_t *deleted; /* the segment's, NULL when none */
    /* The documents the query's top-level filters let through (fast
     * paths only, by try_fast), a flat bitset of allowed_words words
     * (KZ_DOC_BITS_WORDS); owned, NULL when they are not used. */
    uint64_t *allowed;
    size_t allowed_words;
    /* Or the filters read as the documents come, in docid order (the AND
     * paths, when that reads less than allowed would): the top-level
     * filter nodes (required or excluded; owned), with a cursor by query
     * term over each filter term's list. */
    uint32_t *lazy;
    size_t n_lazy;
    kz_cursor *fcur;
    /* With facets or a sort: the segment's live matches; the counts. */
    roaring_bitmap_t *matched;
    /* A sort by a date field: the best sort_k hits so far, the worst at
     * the root (e->k is 0 while segments are evaluated: they only count
     * and gather e->matched). */
    const char *sort_field;
    int sort_desc;
    char sort_kind; /* KZ_FIELD_DATE or KZ_FIELD_NUMBER: what sort_field is sorted by */
    struct sort_item *sheap;
    size_t n_sheap, sort_k;
    struct facet_acc *facets;
    size_t n_facets;
    kz_plist *pl;         /* by query term; opened if the segment has it */
    uint32_t *ordinal;    /* by query term: its ordinal in the segment */
    uint8_t *opened;      /* by query term: the segment has it; pl[i] needs kz_plist_close */
    double *idf;          /* by query term */
    leaf_reader *match;   /* by node, for leaves: matching */
    leaf_reader *score;   /* by unit: scoring */
    double *unit_idf;
    uint32_t *cache_from, *cache_doc; /* by node: node_next(from) = doc */
    int rc;
    /* Top k: a heap with the worst hit at the root. */
    kz_hit *heap;
    size_t n_heap, k;
    uint64_t total;
    /* Budgets (kz_search_options): candidates left, the deadline on the
     * monotonic clock, and candidates until the clock is read again. */
    uint64_t work_left;
    double deadline;
    uint32_t until_clock;
    double timeout, max_work; /* as asked, for the message */
} eval;

static double bm25_idf(double n_docs, double df)
{
    return log(1.0 + (n_docs - df + 0.5) / (df + 0.5));
}

static double bm25_w(double idf, double tf, double dl, double avgdl, double k1, double b)
{
    return idf * tf / (tf + k1 * ((1.0 - b) + b * dl / avgdl));
}

static int oom(void) { return kz_error_set(KZ_ENOMEM, "out of memory"); }

/* Whether document d's record (its dl and title length) may be read. The
 * DOCS section is verified a chunk at a time as the query meets its
 * documents, rather than whole when a segment opens: 18.6 MB on the 666k
 * passages, where hashing it was a third of a one-query process. On a
 * damaged chunk, e->rc is set (the evaluation then stops) and 0 returned. */
static int doc_verify(eval *e, uint32_t d)
{
    uint64_t off = (uint64_t)d * KZ_DOC_SIZE;
    int rc = kz_file_verify(kz_segment_file(e->sg), KZ_SEC_DOCS, off, KZ_DOC_SIZE);
    if (rc) {
        if (e->rc == KZ_OK)
            e->rc = rc;
        return 0;
    }
    e->doc_chunks[off >> KZ_CHUNK_SHIFT] = e->doc_chunks[(off + KZ_DOC_SIZE - 1) >> KZ_CHUNK_SHIFT] = 1;
    return 1;
}

static inline int doc_ok(eval *e, uint32_t d)
{
    if (!e->doc_chunks)
        return 1;
    uint64_t off = (uint64_t)d * KZ_DOC_SIZE;
    if (KZ_LIKELY(e->doc_chunks[off >> KZ_CHUNK_SHIFT] & e->doc_chunks[(off + KZ_DOC_SIZE - 1) >> KZ_CHUNK_SHIFT]))
        return 1;
    return doc_verify(e, d);
}

/* Read for every document scored: the warm segment's table inline, or
 * the record. */
static inline double doc_length(eval *e, uint32_t d)
{
    if (e->lengths)
        return (double)e->lengths[d];
    return doc_ok(e, d) ? (double)kz_segment_doc_length(e->sg, d) : 0;
}

static uint32_t doc_title_tokens(eval *e, uint32_t d)
{
    return doc_ok(e, d) ? kz_segment_doc_title_tokens(e->sg, d) : 0;
}

#define CLOCK_EVERY 1024u /* candidates between readings of the clock */

/* Counts one candidate document against the budgets: 1 (and e->rc set to
 * KZ_ETIMEOUT) when the query must stop. */
/* The budget's slow path: the clock, or the end of the work. */
static int __attribute__((noinline)) budget_check(eval *e)
{
    if (e->work_left == 0) {
        e->rc = kz_error_set(KZ_ETIMEOUT, "query stopped after looking at %.0f candidate documents, its work budget",
                             e->max_work);
        return 1;
    }
    e->work_left--;
    e->until_clock = CLOCK_EVERY;
    if (kz_now() > e->deadline) {
        e->rc = kz_error_set(KZ_ETIMEOUT, "query stopped after %.3g s, its time budget", e->timeout);
        return 1;
    }
    return 0;
}

/* Counts one candidate against the query's budgets: 1 when one is spent
 * (e->rc is then KZ_ETIMEOUT). Called for every candidate, so inline. */
static inline int over_budget(eval *e)
{
    if (KZ_LIKELY(e->work_left > 0 && --e->until_clock > 0)) {
        e->work_left--;
        return 0;
    }
    return budget_check(e);
}

/* ------------------------------------------------------------- top k */

static int worse(const kz_hit *a, const kz_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->docid > b->docid);
}

/* The score a new document (docid above every one seen) must beat. */
static double threshold(const eval *e)
{
    return e->n_heap < e->k ? -INFINITY : e->heap[0].score;
}

static kz_occur occur_of(const eval *e, const kz_qnode *n)
{
    return n->occur == KZ_OCCUR_DEFAULT ? e->default_occur : n->occur;
}

static uint32_t leaf_next(eval *e, leaf_reader *lr, uint32_t d);

int kz_title_terms_off;

/* Whether document d matches filter node `node` as filter_bits would have
 * it, reading the filter terms' cursors forward: d must not decrease from
 * one call to the next in a segment. */
static int filter_has(eval *e, uint32_t node, uint32_t d)
{
    const kz_query *q = e->q;
    const kz_qnode *n = &q->nodes[node];
    if (n->kind == KZ_QNODE_LEAF && n->count > 1) /* a phrase: its reader, used by nothing else here */
        return leaf_next(e, &e->match[node], d) == d;
    if (n->kind == KZ_QNODE_LEAF)
        return n->count == 1 && e->opened[q->leaf_terms[n->first]] &&
               kz_cursor_seek(&e->fcur[q->leaf_terms[n->first]], d) == d;
    int must = 0, should = 0, any = 0;
    for (uint32_t i = 0; i < n->count; i++) {
        uint32_t kid = q->kids[n->first + i];
        kz_occur o = occur_of(e, &q->nodes[kid]);
        if (o == KZ_OCCUR_MUST) {
            if (!filter_has(e, kid, d))
                return 0;
            must = 1;
        } else if (o == KZ_OCCUR_NOT) {
            if (filter_has(e, kid, d))
                return 0;
        } else {
            should = 1;
            any = any || filter_has(e, kid, d);
        }
    }
    return must || !should || any;
}

/* Whether the segment's document d was deleted, or is kept out by the
 * filters a fast path applies (d not decreasing when they are lazy). */
static inline int is_deleted(eval *e, uint32_t d)
{
    if ((e->deleted && roaring_bitmap_contains(e->deleted, d)) ||
        (e->allowed && !(e->allowed[d >> 6] >> (d & 63) & 1)))
        return 1;
    for (size_t i = 0; i < e->n_lazy; i++) {
        uint32_t node = e->lazy[i];
        if (filter_has(e, node, d) != (occur_of(e, &e->q->nodes[node]) == KZ_OCCUR_MUST))
            return 1;
    }
    return 0;
}

/* Offers the segment's document docid with its score. */
static void topk_add(eval *e, uint32_t docid, double score)
{
    kz_hit h = { e->base + docid, score };
    size_t i;
    if (e->n_heap < e->k) {
        i = e->n_heap++;
        while (i > 0 && worse(&h, &e->heap[(i - 1) / 2])) {
            e->heap[i] = e->heap[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        e->heap[i] = h;
        return;
    }
    if (e->k == 0 || !worse(&e->heap[0], &h))
        return;
    i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= e->n_heap)
            break;
        if (c + 1 < e->n_heap && worse(&e->heap[c + 1], &e->heap[c]))
            c++;
        if (!worse(&e->heap[c], &h))
            break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    e->heap[i] = h;
}

static int cmp_hits(const void *x, const void *y)
{
    const kz_hit *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->docid < b->docid ? -1 : a->docid > b->docid;
}

static int cmp_hit_docids(const void *x, const void *y)
{
    const kz_hit *a = x, *b = y;
    return a->docid < b->docid ? -1 : a->docid > b->docid;
}

/* ------------------------------------------------------------- leaves */

/* The leaf of an in_title leaf's title twins (kz_qnode.title_twin): a
 * phrase of them, where the leaf is a phrase, in the title field. */
static kz_qnode title_twin_of(const kz_qnode *leaf)
{
    kz_qnode twin = *leaf;
    twin.first = leaf->title_first;
    twin.in_title = 0;
    twin.title_twin = 0;
    twin.filter = 1;
    return twin;
}

static void leaf_free(leaf_reader *lr)
{
    if (lr->title) {
        leaf_free(lr->title);
        free(lr->title);
    }
    for (uint32_t i = 0; lr->pos && i < lr->n; i++)
        free(lr->pos[i]);
    free(lr->pos);
    free(lr->pos_cap);
    free(lr->tf);
    free(lr->order);
    free(lr->starts);
    free(lr->cur);
    free(lr->pc);
    memset(lr, 0, sizeof *lr);
}

/* Readies lr for the leaf in the segment being evaluated: its arrays are
 * made on the first segment and kept for the next ones (leaf_free frees
 * them when the query is done). */
static int leaf_open(eval *e, leaf_reader *lr, const kz_qnode *leaf)
{
    lr->n = leaf->count;
    lr->known_doc = KZ_DOC_END;
    lr->missing = 0;
    if (leaf->count == 0) {
        lr->missing = 1; /* a prefix that matched no term */
        return KZ_OK;
    }
    if (lr->cur) {
        for (uint32_t i = 0; i < leaf->count; i++)
            if (!e->opened[e->q->leaf_terms[leaf->first + i]])
                lr->missing = 1;
        return KZ_OK;
    }
    lr->cur = calloc(leaf->count, sizeof *lr->cur);
    lr->pc = calloc(leaf->count, sizeof *lr->pc);
    lr->pos = calloc(leaf->count, sizeof *lr->pos);
    lr->pos_cap = calloc(leaf->count, sizeof *lr->pos_cap);
    lr->tf = calloc(leaf->count, sizeof *lr->tf);
    lr->order = calloc(leaf->count, sizeof *lr->order);
    lr->known_doc = KZ_DOC_END;
    if (!lr->cur || !lr->pc || !lr->pos || !lr->pos_cap || !lr->tf || !lr->order)
        return oom();
    for (uint32_t i = 0; i < leaf->count; i++)
        if (!e->opened[e->q->leaf_terms[leaf->first + i]])
            lr->missing = 1;
    return KZ_OK;
}

static void leaf_start(eval *e, leaf_reader *lr, const kz_qnode *leaf)
{
    lr->known_doc = KZ_DOC_END;
    if (lr->missing)
        return;
    for (uint32_t i = 0; i < lr->n; i++) {
        kz_cursor_init(&lr->cur[i], &e->pl[e->q->leaf_terms[leaf->first + i]]);
        memset(&lr->pc[i], 0, sizeof lr->pc[i]);
    }
}

/* Reads the positions (lr->pos[i]) of the leaf's term i where its cursor
 * stands, whose tf the caller has put in lr->tf[i]: up to the first past
 * limit (kz_plist_positions_until), *got of them. 0, or -1 with e->rc
 * set. */
static int term_positions(eval *e, leaf_reader *lr, uint32_t i, uint32_t limit, uint32_t *got)
{
    kz_cursor *c = &lr->cur[i];
    uint32_t tf = lr->tf[i];
    if (tf > lr->pos_cap[i]) {
        uint32_t *p = realloc(lr->pos[i], (size_t)tf * sizeof *p);
        if (!p) {
            e->rc = oom();
            return -1;
        }
        lr->pos[i] = p;
        lr->pos_cap[i] = tf;
    }
    int rc = kz_plist_positions_until(c->pl, &lr->pc[i], c->ord, tf, limit, lr->pos[i], got);
    if (rc) {
        e->rc = rc;
        return -1;
    }
    return 0;
}

/* Occurrences of the phrase in document d, where every cursor stands. An
 * occurrence lies wholly in the title or wholly in the text. The terms'
 * tfs come first: positions are decoded rarest term first, each term's
 * only while the phrase may still start somewhere, so that a phrase of
 * common words seldom decodes theirs. */
static uint32_t phrase_tf(eval *e, leaf_reader *lr, uint32_t d)
{
    uint32_t n = lr->n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t tf = kz_plist_tf(lr->cur[i].pl, lr->cur[i].ord), k = i;
        for (; k > 0 && lr->tf[lr->order[k - 1]] > tf; k--)
            lr->order[k] = lr->order[k - 1];
        lr->tf[i] = tf;
        lr->order[k] = i;
    }
    /* Each position of the rarest term names where the phrase would start. */
    uint32_t a = lr->order[0], got;
    if (term_positions(e, lr, a, UINT32_MAX, &got))
        return 0;
    if (lr->tf[a] > lr->starts_cap) {
        uint32_t *p = realloc(lr->starts, (size_t)lr->tf[a] * sizeof *p);
        if (!p) {
            e->rc = oom();
            return 0;
        }
        lr->starts = p;
        lr->starts_cap = lr->tf[a];
    }
    uint32_t last = n - 1, count = 0, in_title = 0;
    for (uint32_t k = 0; k < lr->tf[a]; k++)
        if (lr->pos[a][k] >= a)
            lr->starts[count++] = lr->pos[a][k] - a;
    /* The others keep the starts where they stand at their place; a
     * term with a table of where each posting's codes start is decoded
     * only up to the last start's place. */
    for (uint32_t r = 1; r < n && count; r++) {
        uint32_t i = lr->order[r], tf;
        if (term_positions(e, lr, i, lr->starts[count - 1] + i, &tf))
            return 0;
        const uint32_t *pos = lr->pos[i];
        uint32_t j = 0, kept = 0;
        for (uint32_t k = 0; k < count; k++) {
            uint32_t want = lr->starts[k] + i;
            while (j < tf && pos[j] < want)
                j++;
            if (j == tf)
                break;
            if (pos[j] == want)
                lr->starts[kept++] = lr->starts[k];
        }
        count = kept;
    }
    /* The title's length (a record read, a cache miss) only for a
     * document that has the phrase: none across the title's end. */
    uint32_t title = count ? doc_title_tokens(e, d) : 0, kept = 0;
    for (uint32_t k = 0; k < count; k++) {
        uint32_t p = lr->starts[k];
        if (p < title && p + last >= title && !lr->in_field)
            continue; /* across the title's end */
        lr->starts[kept++] = p;
        in_title += p + last < title;
    }
    count = kept;
    lr->known_doc = d;
    lr->known_tf = count;
    lr->known_title = in_title;
    return count;
}

/* Whether the term of lr (a leaf of one) stands in document d's title,
 * where its cursor stands: its first position comes before the text's. */
static int term_in_title(eval *e, leaf_reader *lr, uint32_t d)
{
    uint32_t got;
    lr->tf[0] = kz_plist_tf(lr->cur[0].pl, lr->cur[0].ord);
    return term_positions(e, lr, 0, 0, &got) == 0 && lr->pos[0][0] < doc_title_tokens(e, d);
}

/* The first docid >= d that has the leaf, or KZ_DOC_END. */
static uint32_t leaf_next(eval *e, leaf_reader *lr, uint32_t d)
{
    if (lr->missing)
        return KZ_DOC_END;
    if (lr->in_title && lr->title && e->title_terms) {
        /* The titles that hold it, by the title field's lists; the
         * text's cursors follow, as scoring and the other paths read
         * them. A title word is a word of the document: a document the
         * text's lists lack is a damaged index's, and passed over. */
        for (;;) {
            uint32_t x = leaf_next(e, lr->title, d), i = 0;
            if (x == KZ_DOC_END || e->rc)
                return KZ_DOC_END;
            while (i < lr->n && kz_cursor_seek(&lr->cur[i], x) == x)
                i++;
            if (i == lr->n)
                return x;
            d = x + 1;
        }
    }
    if (lr->n == 1 && !lr->in_title)
        return kz_cursor_seek(&lr->cur[0], d);
    while (lr->n == 1) {
        uint32_t x = kz_cursor_seek(&lr->cur[0], d);
        if (x == KZ_DOC_END || term_in_title(e, lr, x) || e->rc)
            return e->rc ? KZ_DOC_END : x;
        d = x + 1;
    }
    for (;;) {
        uint32_t x = kz_cursor_seek(&lr->cur[0], d), agree = 1, i = 1;
        if (x == KZ_DOC_END)
            return x;
        while (agree < lr->n) {
            uint32_t y = kz_cursor_seek(&lr->cur[i], x);
            if (y == KZ_DOC_END)
                return y;
            if (y == x) {
                agree++;
            } else {
                x = y;
                agree = 1;
            }
            i = (i + 1) % lr->n;
        }
        uint32_t tf = phrase_tf(e, lr, x);
        if ((lr->in_title ? lr->known_title : tf) > 0 || e->rc)
            return e->rc ? KZ_DOC_END : x;
        d = x + 1;
    }
}

/* tf of the leaf in document d (0 if it does not have it). */
static uint32_t leaf_tf(eval *e, leaf_reader *lr, uint32_t d)
{
    if (lr->missing)
        return 0;
    for (uint32_t i = 0; i < lr->n; i++)
        if (kz_cursor_seek(&lr->cur[i], d) != d)
            return 0;
    if (lr->n == 1)
        return kz_plist_tf(lr->cur[0].pl, lr->cur[0].ord);
    return phrase_tf(e, lr, d);
}

/* ------------------------------------------------------------- scoring */

/* The document's score, from scratch, in query order. */
static double score_doc(eval *e, uint32_t d)
{
    double dl = doc_length(e, d), score = 0;
    for (size_t u = 0; u < e->q->n_units; u++) {
        /* A phrase the matching already counted in d is not counted again. */
        const leaf_reader *m = &e->match[e->q->units[u]];
        uint32_t tf = m->known_doc == d && m->n > 1 ? m->known_tf : leaf_tf(e, &e->score[u], d);
        if (tf)
            score += bm25_w(e->unit_idf[u], (double)tf, dl, e->avgdl, e->k1, e->b);
    }
    return score;
}

/* Upper bound of tf/(tf + k1((1-b) + b dl/avgdl)) over block blk of pl
 * (or the whole list when it has no block table) at the run's k1 and b. */
static double part_bound_derived(const eval *e, uint32_t max_tf, uint32_t min_dl)
{
    /* The same value as in bm25_w to a few ulps (BOUND_SLACK covers them),
     * with one division fewer. */
    double tf = max_tf;
    return tf / (tf + e->norm0 + e->norm1 * (double)min_dl);
}

static double block_bound(const eval *e, const kz_plist *pl, uint32_t blk)
{
    const uint8_t *entry = pl->blocks + (size_t)blk * KZ_BLOCK_SIZE;
    if (e->bound_scale > 0) {
        float f;
        memcpy(&f, entry + KZ_BLOCK_BOUND, 4);
        return KZ_MIN((double)f * e->bound_scale, 1.0);
    }
    return part_bound_derived(e, kz_load_u32(entry + KZ_BLOCK_MAX_TF), kz_load_u32(entry + KZ_BLOCK_MIN_DL));
}

static double list_bound(eval *e, const kz_plist *pl)
{
    if (pl->df == 1) {
        kz_cursor c;
        kz_cursor_init(&c, pl);
        if (c.doc == KZ_DOC_END)
            return 0;
        return part_bound_derived(e, (uint32_t)pl->cf, (uint32_t)doc_length(e, c.doc));
    }
    if (e->bound_scale > 0 && isfinite(pl->bound))
        return KZ_MIN(pl->bound * e->bound_scale, 1.0);
    double best = 0;
    for (uint32_t k = 0; k < pl->n_blocks; k++) {
        double v = block_bound(e, pl, k);
        if (v > best)
            best = v;
    }
    if (pl->n_blocks == 0)
        best = part_bound_derived(e, pl->max_tf, 0);
    return best;
}

/* The largest tf in the cursor's current block. */
static uint32_t cursor_max_tf(const kz_cursor *c)
{
    const kz_plist *pl = c->pl;
    if (pl->n_blocks)
        return kz_load_u32(pl->blocks + (size_t)c->blk * KZ_BLOCK_SIZE + KZ_BLOCK_MAX_TF);
    return pl->df == 1 ? (uint32_t)pl->cf : pl->max_tf;
}

/* The bound of the cursor's current block. */
static double cursor_bound(const eval *e, const kz_cursor *c, double whole)
{
    return c->pl->n_blocks ? block_bound(e, c->pl, c->blk) : whole;
}

/* ------------------------------------------------------------- the tree */

static uint32_t node_next(eval *e, uint32_t node, uint32_t d);

static int excluded(eval *e, const kz_qnode *n, uint32_t d)
{
    for (uint32_t i = 0; i < n->count; i++) {
        uint32_t kid = e->q->kids[n->first + i];
        if (occur_of(e, &e->q->nodes[kid]) == KZ_OCCUR_NOT && node_next(e, kid, d) == d)
            return 1;
    }
    return 0;
}

static uint32_t bool_next(eval *e, const kz_qnode *n, uint32_t d)
{
    const kz_query *q = e->q;
    /* A required filter narrows the group's matches and does not make its
     * optional clauses optional, as a required word does: "soviet
     * places:ussr" in OR mode finds the documents with soviet from ussr. */
    int has_must = 0, has_word_must = 0, has_should = 0;
    for (uint32_t i = 0; i < n->count; i++) {
        const kz_qnode *k = &q->nodes[q->kids[n->first + i]];
        kz_occur o = occur_of(e, k);
        has_must |= o == KZ_OCCUR_MUST;
        has_word_must |= o == KZ_OCCUR_MUST && !k->filter;
        has_should |= o == KZ_OCCUR_SHOULD;
    }
    int need_should = has_should && !has_word_must;
    while (d != KZ_DOC_END && !e->rc && !over_budget(e)) {
        uint32_t x = d;
        if (has_must) {
            /* Leapfrog over the required clauses until they agree. */
            uint32_t agreed = 0;
            for (uint32_t i = 0; agreed < n->count && x != KZ_DOC_END; i = (i + 1) % n->count) {
                uint32_t kid = q->kids[n->first + i];
                if (occur_of(e, &q->nodes[kid]) != KZ_OCCUR_MUST) {
                    agreed++;
                    continue;
                }
                uint32_t y = node_next(e, kid, x);
                if (y == x) {
                    agreed++;
                } else {
                    x = y;
                    agreed = 1;
                }
            }
        }
        if (need_should && x != KZ_DOC_END) {
            uint32_t from = x;
            x = KZ_DOC_END;
            for (uint32_t i = 0; i < n->count; i++) {
                uint32_t kid = q->kids[n->first + i];
                if (occur_of(e, &q->nodes[kid]) == KZ_OCCUR_SHOULD) {
                    uint32_t y = node_next(e, kid, from);
                    if (y < x)
                        x = y;
                }
            }
            if (has_must && x != from && x != KZ_DOC_END) {
                d = x; /* the required clauses again, from there */
                continue;
            }
        } else if (!has_must && !has_should && x >= e->seg_docs) {
            x = KZ_DOC_END;
        }
        if (x == KZ_DOC_END || !excluded(e, n, x))
            return x;
        d = x + 1;
    }
    return KZ_DOC_END;
}

static uint32_t node_next(eval *e, uint32_t node, uint32_t d)
{
    if (e->cache_from[node] <= d && d <= e->cache_doc[node])
        return e->cache_doc[node];
    const kz_qnode *n = &e->q->nodes[node];
    uint32_t x = n->kind == KZ_QNODE_LEAF ? leaf_next(e, &e->match[node], d) : bool_next(e, n, d);
    e->cache_from[node] = d;
    e->cache_doc[node] = x;
    return x;
}

/* ------------------------------------------------------------- facets */

typedef struct facet_value {
    char *value; /* owned */
    size_t len;
    uint64_t docs;
} facet_value;

/* One facet's counts over the segments so far, by value. */
typedef struct facet_acc {
    char prefix[KZ_FIELD_PREFIX_MAX]; /* of its field terms */
    size_t prefix_len;
    uint32_t limit;
    facet_value *v;
    size_t n, cap;
    uint32_t *slots; /* index + 1 into v, by hash of the value; 0 free */
    size_t n_slots;
} facet_acc;

static void facet_free(facet_acc *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].value);
    free(f->v);
    free(f->slots);
    memset(f, 0, sizeof *f);
}

static int facet_add(facet_acc *f, const char *value, size_t len, uint64_t docs)
{
    if ((f->n + 1) * 2 > f->n_slots) {
        size_t n = f->n_slots ? f->n_slots * 2 : 64;
        uint32_t *slots = calloc(n, sizeof *slots);
        if (!slots)
            return oom();
        for (size_t i = 0; i < f->n; i++) {
            size_t j = (size_t)XXH3_64bits(f->v[i].value, f->v[i].len) & (n - 1);
            while (slots[j])
                j = (j + 1) & (n - 1);
            slots[j] = (uint32_t)i + 1;
        }
        free(f->slots);
        f->slots = slots;
        f->n_slots = n;
    }
    size_t j = (size_t)XXH3_64bits(value, len) & (f->n_slots - 1);
    for (; f->slots[j]; j = (j + 1) & (f->n_slots - 1)) {
        facet_value *v = &f->v[f->slots[j] - 1];
        if (v->len == len && memcmp(v->value, value, len) == 0) {
            v->docs += docs;
            return KZ_OK;
        }
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 32;
        facet_value *v = realloc(f->v, cap * sizeof *v);
        if (!v)
            return oom();
        f->v = v;
        f->cap = cap;
    }
    facet_value *v = &f->v[f->n];
    if (!(v->value = malloc(len ? len : 1)))
        return oom();
    memcpy(v->value, value, len);
    v->len = len;
    v->docs = docs;
    f->slots[j] = (uint32_t)++f->n;
    return KZ_OK;
}

/* Counts the segment's matches (e->matched) under every value of every
 * facet: the values are the field's terms of the facet's kind, each
 * intersected with the matches by CRoaring. */
static int facets_count_segment(eval *e)
{
    for (size_t i = 0; i < e->n_facets; i++) {
        facet_acc *f = &e->facets[i];
        uint32_t first, count;
        int rc = kz_segment_term_prefix(e->sg, &first, &count, f->prefix, f->prefix_len);
        if (rc)
            return rc;
        kz_term_cursor cur;
        if (count && (rc = kz_segment_cursor_at(e->sg, &cur, first)))
            return rc;
        for (uint32_t o = first; o < first + count; o++) {
            const kz_term *t = &cur.t;
            kz_plist pl;
            if ((rc = kz_segment_cursor_next(e->sg, &cur)) || (rc = kz_segment_plist_at(e->sg, &pl, &cur.loc)))
                return rc;
            roaring_bitmap_t *docs = kz_plist_bitmap(&pl);
            kz_plist_close(&pl);
            if (!docs)
                return oom();
            uint64_t n = roaring_bitmap_and_cardinality(docs, e->matched);
            roaring_bitmap_free(docs);
            if (n && (rc = facet_add(f, t->text + f->prefix_len, t->len - f->prefix_len, n)))
                return rc;
        }
    }
    return KZ_OK;
}

static int cmp_facet_value(const void *x, const void *y)
{
    const facet_value *a = x, *b = y;
    if (a->docs != b->docs)
        return a->docs > b->docs ? -1 : 1;
    return kz_bytes_cmp(a->value, a->len, b->value, b->len);
}

/* ------------------------------------------------------------- sorting */

typedef struct sort_item {
    uint64_t key; /* kz_segment_sort_keys; KZ_NO_SORT_KEY: none, after every key */
    double score;
    uint32_t docid; /* in the index */
} sort_item;

/* Whether the sort key a comes after b (0: neither): by key, the greatest
 * first when descending, none last. */
static int key_after(uint64_t a, uint64_t b, int descending)
{
    if (a == b)
        return 0;
    if (a == KZ_NO_SORT_KEY || b == KZ_NO_SORT_KEY)
        return a == KZ_NO_SORT_KEY ? 1 : -1;
    return (descending ? a < b : a > b) ? 1 : -1;
}

/* Whether a comes after b: by key (newest first when descending, none
 * last), then score, then docid. */
static int sort_after(const eval *e, const sort_item *a, const sort_item *b)
{
    int k = key_after(a->key, b->key, e->sort_desc);
    if (k)
        return k > 0;
    if (a->score != b->score)
        return a->score < b->score;
    return a->docid > b->docid;
}

static void sort_push(eval *e, sort_item it)
{
    sort_item *h = e->sheap;
    size_t i;
    if (e->n_sheap < e->sort_k) {
        i = e->n_sheap++;
        while (i > 0 && sort_after(e, &it, &h[(i - 1) / 2])) {
            h[i] = h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        h[i] = it;
        return;
    }
    if (!sort_after(e, &h[0], &it))
        return;
    i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= e->n_sheap)
            break;
        if (c + 1 < e->n_sheap && sort_after(e, &h[c + 1], &h[c]))
            c++;
        if (!sort_after(e, &h[c], &it))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = it;
}

/* The segment's matches into the sorted top: a document is scored only
 * when its key could place it. */
static int sort_segment(eval *e)
{
    const uint64_t *keys;
    int rc = kz_segment_sort_keys(e->sg, e->sort_field, strlen(e->sort_field), e->sort_kind, &keys);
    if (rc)
        return rc;
    roaring_uint32_iterator_t *it = roaring_create_iterator(e->matched);
    if (!it)
        return oom();
    for (; it->has_value && !over_budget(e); roaring_advance_uint32_iterator(it)) {
        uint32_t d = it->current_value;
        sort_item x = { keys[d], INFINITY, e->base + d };
        if (e->n_sheap == e->sort_k) { /* full: the key alone may rule it out */
            sort_item probe = x;
            probe.score = INFINITY;
            probe.docid = 0;
            if (e->sort_k == 0 || !sort_after(e, &e->sheap[0], &probe))
                continue;
        }
        x.score = score_doc(e, d);
        sort_push(e, x);
    }
    roaring_free_uint32_iterator(it);
    return e->rc;
}

static int cmp_sort_items(const void *x, const void *y, void *ctx)
{
    const eval *e = ctx;
    const sort_item *a = x, *b = y;
    return sort_after(e, a, b) ? 1 : sort_after(e, b, a) ? -1 : 0;
}

static void note_match(eval *e, uint32_t d)
{
    if (e->matched)
        roaring_bitmap_add(e->matched, d);
}

static void eval_general(eval *e)
{
    uint32_t d = 0;
    while (!e->rc && (d = node_next(e, e->q->root, d)) != KZ_DOC_END && !over_budget(e)) {
        if (is_deleted(e, d)) {
            if (d == KZ_DOC_END - 1)
                break;
            d++;
            continue;
        }
        e->total++;
        note_match(e, d);
        if (e->k) {
            double s = score_doc(e, d);
            if (s >= threshold(e) || e->n_heap < e->k)
                topk_add(e, d, s);
        }
        if (d == KZ_DOC_END - 1)
            break;
        d++;
    }
}

/* ------------------------------------------------------------- fast paths */

typedef struct term_list {
    kz_cursor *c;
    double idf, whole; /* whole: the list's bound of the tf part */
    double ub;         /* idf * whole, widened */
    uint32_t unit;
} term_list;

/* A conjunction of terms t[0 .. n) and of the lists also[0 .. n_also)
 * (required filters of one term: intersected, not scored): the container
 * kernels give every document with its ordinal in each list; those that are
 * deleted or that the other filters keep out are dropped (the total is the
 * number left); then, once the top k is full, a document whose blocks' bounds together, or whose
 * blocks' max_tf at its own length, cannot beat the k-th score is passed
 * over without a tf lookup. The others are scored from their ordinals, w
 * added in query order: the same double as score_doc. */
static void eval_and_terms(eval *e, term_list *t, size_t n, const kz_plist *const *also, size_t n_also)
{
    size_t n_lists = n + n_also;
    const kz_plist *lists[64] = { 0 };
    const kz_plist **pl = n_lists <= 64 ? lists : malloc(n_lists * sizeof *pl);
    size_t cap = (size_t)t[0].c->pl->df + 1; /* t[0] is the rarest */
    uint32_t *docids = malloc(cap * sizeof *docids), *ords = malloc(cap * n_lists * sizeof *ords);
    uint32_t *prev_blk = malloc(n * sizeof *prev_blk);
    double *w = calloc(e->q->n_units ? e->q->n_units : 1, sizeof *w);
    size_t got = 0;
    if (!pl || !docids || !ords || !prev_blk || !w) {
        e->rc = oom();
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        pl[i] = t[i].c->pl;
        prev_blk[i] = UINT32_MAX;
    }
    for (size_t i = 0; i < n_also; i++)
        pl[n + i] = also[i];
    if ((e->rc = kz_plist_and(docids, ords, &got, pl, n_lists)))
        goto done;
    if (e->deleted || e->allowed || e->n_lazy) {
        /* Keep the live documents that pass, with their text ordinals. */
        size_t kept = 0;
        for (size_t r = 0; r < got; r++) {
            if (is_deleted(e, docids[r]))
                continue;
            docids[kept] = docids[r];
            memmove(ords + kept * n, ords + r * n_lists, n * sizeof *ords);
            kept++;
        }
        got = kept;
    } else if (n_also) {
        for (size_t r = 1; r < got; r++)
            memmove(ords + r * n, ords + r * n_lists, n * sizeof *ords);
    }
    e->total += got;
    for (size_t r = 0; e->matched && r < got; r++)
        roaring_bitmap_add(e->matched, docids[r]);
    double block_ub = 0;
    for (size_t r = 0; r < got && e->k && !over_budget(e); r++) {
        const uint32_t *o = ords + r * n;
        uint32_t d = docids[r];
        double theta = threshold(e);
        int full = e->n_heap == e->k;
        if (full) {
            int same = 1;
            for (size_t i = 0; i < n; i++)
                same &= o[i] / KZ_POSTING_BLOCK == prev_blk[i];
            if (!same) {
                block_ub = 0;
                for (size_t i = 0; i < n; i++) {
                    prev_blk[i] = o[i] / KZ_POSTING_BLOCK;
                    double part = pl[i]->n_blocks ? block_bound(e, pl[i], prev_blk[i]) : t[i].whole;
                    block_ub += t[i].idf * part * BOUND_SLACK;
                }
            }
            if (block_ub <= theta)
                continue;
        }
        double dl = doc_length(e, d);
        if (full) {
            double ub = 0;
            for (size_t i = 0; i < n; i++) {
                uint32_t max_tf = pl[i]->n_blocks
                                      ? kz_load_u32(pl[i]->blocks + (size_t)(o[i] / KZ_POSTING_BLOCK) * KZ_BLOCK_SIZE +
                                                    KZ_BLOCK_MAX_TF)
                                      : pl[i]->df == 1 ? (uint32_t)pl[i]->cf : pl[i]->max_tf;
                ub += t[i].idf * part_bound_derived(e, max_tf, (uint32_t)dl) * BOUND_SLACK;
            }
            if (ub <= theta)
                continue;
        }
        for (size_t i = 0; i < n; i++)
            w[t[i].unit] = bm25_w(t[i].idf, (double)kz_plist_tf(pl[i], o[i]), dl, e->avgdl, e->k1, e->b);
        double score = 0;
        for (size_t u = 0; u < e->q->n_units; u++)
            score += w[u];
        if (score >= theta || e->n_heap < e->k)
            topk_add(e, d, score);
    }
done:
    if (pl != lists)
        free(pl);
    free(docids);
    free(ords);
    free(prev_blk);
    free(w);
}

/* A clause of a conjunction with groups: a term (unit) or a group of
 * optional terms (node). */
typedef struct and_clause {
    const kz_qnode *group; /* NULL: a term */
    uint32_t unit;
    uint64_t df;           /* its documents at most: a group's terms' dfs added */
} and_clause;

/* The first docid >= d that clause c has, or KZ_DOC_END. */
static uint32_t clause_next(eval *e, const and_clause *c, uint32_t d)
{
    if (!c->group)
        return leaf_next(e, &e->score[c->unit], d);
    const kz_query *q = e->q;
    uint32_t best = KZ_DOC_END;
    for (uint32_t m = 0; m < c->group->count; m++) {
        uint32_t x = leaf_next(e, &e->score[q->nodes[q->kids[c->group->first + m]].unit], d);
        best = KZ_MIN(best, x);
    }
    return best;
}

/* The bound of w for the clause's terms that document d has (each cursor
 * stands on d or past it): the blocks' they stand in. */
static double clause_bound(eval *e, const and_clause *c, uint32_t d)
{
    const kz_query *q = e->q;
    uint32_t n = c->group ? c->group->count : 1;
    double bound = 0;
    for (uint32_t m = 0; m < n; m++) {
        uint32_t u = c->group ? q->nodes[q->kids[c->group->first + m]].unit : c->unit;
        const leaf_reader *lr = &e->score[u];
        if (lr->missing || lr->cur[0].doc != d)
            continue;
        const kz_plist *pl = lr->cur[0].pl;
        double part = pl->n_blocks ? block_bound(e, pl, lr->cur[0].ord / KZ_POSTING_BLOCK) : list_bound(e, pl);
        bound += e->unit_idf[u] * part * BOUND_SLACK;
    }
    return bound;
}

/* A conjunction of terms and of groups of optional terms (a word and its
 * spellings, a prefix's terms), c[0 .. n) with the rarest clause first:
 * the rarest leads, every other is sought to its document in turn
 * (leapfrog), and a document all have is scored as score_doc scores it (w
 * in query order). Once the top k is full, a document whose bound (the
 * blocks' of the terms it has, a group's several added) cannot beat the
 * k-th score is passed over without a tf lookup. */
static void eval_and_groups(eval *e, and_clause *c, size_t n)
{
    uint32_t d = 0;
    while (!e->rc && (d = clause_next(e, &c[0], d)) != KZ_DOC_END && !over_budget(e)) {
        /* Leapfrog: every clause to d, or past it to where the lead goes. */
        uint32_t to = d;
        for (size_t i = 1; i < n && to == d; i++)
            to = clause_next(e, &c[i], d);
        if (to != d) {
            d = to;
            continue;
        }
        if (!is_deleted(e, d)) {
            e->total++;
            note_match(e, d);
            double theta = threshold(e), bound = 0;
            if (e->k && e->n_heap == e->k)
                for (size_t i = 0; i < n; i++)
                    bound += clause_bound(e, &c[i], d);
            if (e->k && (e->n_heap < e->k || bound > theta)) {
                double score = score_doc(e, d);
                if (score >= theta || e->n_heap < e->k)
                    topk_add(e, d, score);
            }
        }
        if (d == KZ_DOC_END - 1)
            break;
        d++;
    }
}

static int cmp_clause_df(const void *x, const void *y)
{
    const and_clause *a = x, *b = y;
    return a->df < b->df ? -1 : a->df > b->df;
}

/* The terms t[0 .. n) and the groups as clauses, the rarest first, for
 * eval_and_groups. A group none of whose terms this segment has matches
 * nothing. */
static void eval_and_clauses(eval *e, const term_list *t, size_t n, const kz_qnode *const *groups, size_t n_groups)
{
    const kz_query *q = e->q;
    and_clause *c = malloc((n + n_groups) * sizeof *c);
    if (!c) {
        e->rc = oom();
        return;
    }
    size_t nc = 0;
    for (size_t i = 0; i < n; i++)
        c[nc++] = (and_clause){ NULL, t[i].unit, t[i].c->pl->df };
    for (size_t g = 0; g < n_groups; g++) {
        uint64_t df = 0;
        for (uint32_t m = 0; m < groups[g]->count; m++) {
            const leaf_reader *lr = &e->score[q->nodes[q->kids[groups[g]->first + m]].unit];
            df += lr->missing ? 0 : lr->cur[0].pl->df;
        }
        if (df == 0) {
            free(c);
            return;
        }
        c[nc++] = (and_clause){ groups[g], 0, df };
    }
    qsort(c, nc, sizeof *c, cmp_clause_df);
    eval_and_groups(e, c, nc);
    free(c);
}

static int cmp_ub(const void *x, const void *y)
{
    const term_list *a = x, *b = y;
    if (a->ub != b->ub)
        return a->ub < b->ub ? -1 : 1;
    return a->unit < b->unit ? -1 : a->unit > b->unit;
}

/* A head start for MaxScore: the top k is filled with documents that have
 * both of the two strongest terms (an even sample of up to 4k of them,
 * found by the container kernels), scored exactly. Any k real documents'
 * scores bound the k-th best from below, so the pruning starts high.
 * *seen receives their docids, ascending, for MaxScore to pass over. */
static void or_head_start(eval *e, term_list *t, size_t n, uint32_t **seen, size_t *n_seen)
{
    *seen = NULL;
    *n_seen = 0;
    if (n < 2 || e->k == 0 || e->k > 128)
        return;
    const kz_plist *two[2] = { t[n - 1].c->pl, t[n - 2].c->pl };
    size_t cap = (size_t)KZ_MIN(two[0]->df, two[1]->df) + 1, got = 0;
    uint32_t *docids = malloc(cap * sizeof *docids);
    kz_cursor *tc = calloc(e->q->n_units ? e->q->n_units : 1, sizeof *tc);
    if (!docids || !tc) {
        e->rc = oom();
        goto done;
    }
    if ((e->rc = kz_plist_and(docids, NULL, &got, two, 2)) || got == 0)
        goto done;
    size_t want = KZ_MIN(got, 4 * e->k);
    for (size_t u = 0; u < e->q->n_units; u++)
        if (!e->score[u].missing)
            kz_cursor_init(&tc[u], e->score[u].cur[0].pl);
    for (size_t j = 0; j < want; j++) {
        uint32_t d = docids[j * got / want];
        if (is_deleted(e, d))
            continue;
        double dl = doc_length(e, d), score = 0;
        for (size_t u = 0; u < e->q->n_units; u++)
            if (!e->score[u].missing && kz_cursor_seek(&tc[u], d) == d)
                score += bm25_w(e->unit_idf[u], (double)kz_plist_tf(tc[u].pl, tc[u].ord), dl, e->avgdl, e->k1, e->b);
        topk_add(e, d, score);
        docids[(*n_seen)++] = d; /* ascending, in place */
    }
    *seen = docids;
    docids = NULL;
done:
    free(docids);
    free(tc);
}

/* A disjunction of terms, by MaxScore over t sorted by ub ascending. */
static void eval_or_terms(eval *e, term_list *t, size_t n, const uint32_t *seen, size_t n_seen)
{
    size_t seen_at = 0;
    double *prefix = malloc((n + 1) * sizeof *prefix); /* prefix[i] = ub of t[0..i) */
    double *w = calloc(e->q->n_units ? e->q->n_units : 1, sizeof *w);
    if (!prefix || !w) {
        e->rc = oom();
        goto done;
    }
    prefix[0] = 0;
    for (size_t i = 0; i < n; i++)
        prefix[i + 1] = prefix[i] + t[i].ub;
    size_t ne = 0; /* t[0..ne) are non-essential */
    while (!over_budget(e)) {
        double theta = threshold(e);
        while (ne < n && e->n_heap == e->k && prefix[ne + 1] <= theta)
            ne++;
        if (ne == n)
            break;
        uint32_t d = KZ_DOC_END;
        for (size_t i = ne; i < n; i++)
            if (t[i].c->doc < d)
                d = t[i].c->doc;
        if (d == KZ_DOC_END)
            break;
        if (e->n_heap == e->k) {
            /* Block-max: the blocks at d, with the non-essential lists'
             * whole bounds, must be able to beat theta. */
            double ub = prefix[ne];
            uint32_t last = KZ_DOC_END;
            for (size_t i = ne; i < n; i++) {
                if (t[i].c->doc == d) {
                    ub += t[i].idf * cursor_bound(e, t[i].c, t[i].whole) * BOUND_SLACK;
                    uint32_t l = t[i].c->pl->n_blocks ? kz_cursor_block_last(t[i].c, t[i].c->blk) : KZ_DOC_END;
                    if (l < last)
                        last = l;
                } else if (t[i].c->doc - 1 < last) {
                    last = t[i].c->doc - 1;
                }
            }
            if (ub <= theta) {
                /* Nothing up to last can make it: skip there. */
                if (last == KZ_DOC_END)
                    break;
                for (size_t i = ne; i < n; i++)
                    if (t[i].c->doc <= last)
                        kz_cursor_seek(t[i].c, last + 1);
                continue;
            }
        }
        double dl = doc_length(e, d), s = 0;
        if (e->n_heap == e->k) {
            /* The same with the document's length and the blocks' max_tf. */
            double ub = prefix[ne];
            for (size_t i = ne; i < n; i++)
                if (t[i].c->doc == d)
                    ub += t[i].idf * part_bound_derived(e, cursor_max_tf(t[i].c), (uint32_t)dl) * BOUND_SLACK;
            if (ub <= theta) {
                for (size_t i = ne; i < n; i++)
                    if (t[i].c->doc == d)
                        kz_cursor_next(t[i].c);
                continue;
            }
        }
        for (size_t i = 0; i < e->q->n_units; i++)
            w[i] = 0;
        for (size_t i = ne; i < n; i++) {
            if (t[i].c->doc != d)
                continue;
            double wi = bm25_w(t[i].idf, (double)kz_plist_tf(t[i].c->pl, t[i].c->ord), dl, e->avgdl, e->k1, e->b);
            w[t[i].unit] = wi;
            s += wi;
            kz_cursor_next(t[i].c);
        }
        int alive = 1;
        for (size_t i = ne; i-- > 0;) {
            if (e->n_heap == e->k && s + prefix[i + 1] <= theta) {
                alive = 0;
                break;
            }
            if (kz_cursor_seek(t[i].c, d) == d) {
                double wi = bm25_w(t[i].idf, (double)kz_plist_tf(t[i].c->pl, t[i].c->ord), dl, e->avgdl, e->k1, e->b);
                w[t[i].unit] = wi;
                s += wi;
            }
        }
        if (!alive)
            continue;
        double exact = 0;
        for (size_t u = 0; u < e->q->n_units; u++)
            if (w[u] != 0)
                exact += w[u];
        while (seen_at < n_seen && seen[seen_at] < d)
            seen_at++;
        if (seen_at < n_seen && seen[seen_at] == d)
            continue; /* already in the top k from the head start */
        if (is_deleted(e, d))
            continue;
        if (exact >= theta || e->n_heap < e->k)
            topk_add(e, d, exact);
    }
done:
    free(prefix);
    free(w);
}

/* Removes from b the documents e->allowed does not let through. */
static int keep_allowed(const eval *e, roaring_bitmap_t *b)
{
    roaring_bitmap_t *out = roaring_bitmap_create();
    roaring_uint32_iterator_t *it = out ? roaring_create_iterator(b) : NULL;
    uint32_t batch[256];
    size_t n = 0;
    for (; it && it->has_value; roaring_advance_uint32_iterator(it)) {
        uint32_t d = it->current_value;
        if ((size_t)(d >> 6) < e->allowed_words && (e->allowed[d >> 6] >> (d & 63) & 1))
            batch[n++] = d;
        if (n == 256) {
            roaring_bitmap_add_many(out, n, batch);
            n = 0;
        }
    }
    if (n && out)
        roaring_bitmap_add_many(out, n, batch);
    int ok = out && it;
    if (it)
        roaring_free_uint32_iterator(it);
    if (ok)
        roaring_bitmap_and_inplace(b, out);
    if (out)
        roaring_bitmap_free(out);
    return ok ? KZ_OK : oom();
}

/* |union of the lists| among the documents the filters let through. */
static int union_count_allowed(eval *e, term_list *t, size_t n, uint64_t *out)
{
    kz_cursor *c = calloc(n, sizeof *c);
    *out = 0;
    if (!c)
        return oom();
    for (size_t i = 0; i < n; i++)
        kz_cursor_init(&c[i], t[i].c->pl);
    for (size_t w = 0; w < e->allowed_words; w++) {
        for (uint64_t bits = e->allowed[w]; bits; bits &= bits - 1) {
            uint32_t d = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(bits));
            if (e->deleted && roaring_bitmap_contains(e->deleted, d))
                continue;
            int has = 0;
            for (size_t i = 0; i < n && !has; i++)
                has = kz_cursor_seek(&c[i], d) == d;
            *out += has;
        }
    }
    free(c);
    return KZ_OK;
}

/* |union of the lists|, by the container kernels. */
static int union_count(eval *e, term_list *t, size_t n, uint64_t *out)
{
    if (e->allowed)
        return union_count_allowed(e, t, n, out);
    const kz_plist *lists[64] = { 0 };
    const kz_plist **pl = n <= 64 ? lists : malloc(n * sizeof *pl);
    kz_cursor *c = e->deleted ? calloc(n, sizeof *c) : NULL;
    roaring_uint32_iterator_t *it = e->deleted ? roaring_create_iterator(e->deleted) : NULL;
    int rc = KZ_OK;
    if (!pl || (e->deleted && (!c || !it))) {
        rc = oom();
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        pl[i] = t[i].c->pl;
    *out = kz_plist_or_count(pl, n);
    if (*out == UINT64_MAX) {
        rc = oom();
        goto done;
    }
    /* Less the deleted documents some list has. */
    for (size_t i = 0; c && i < n; i++)
        kz_cursor_init(&c[i], pl[i]);
    for (; it && it->has_value; roaring_advance_uint32_iterator(it)) {
        uint32_t d = it->current_value;
        int has = 0;
        for (size_t i = 0; i < n; i++)
            has |= kz_cursor_seek(&c[i], d) == d;
        *out -= has;
    }
done:
    if (it)
        roaring_free_uint32_iterator(it);
    free(c);
    if (pl != lists)
        free((void *)pl);
    return rc;
}

/* The segment's documents that have a filter's phrase (a text field's,
 * `leaf`), read by a reader of its own, into bits (zeroed). */
static int phrase_bits(eval *e, const kz_qnode *leaf, uint64_t *bits)
{
    leaf_reader lr = { 0 };
    int rc = leaf_open(e, &lr, leaf);
    if (rc == KZ_OK) {
        lr.in_field = 1;
        leaf_start(e, &lr, leaf);
        for (uint32_t d = leaf_next(e, &lr, 0); d < e->seg_docs && !e->rc; d = leaf_next(e, &lr, d + 1))
            bits[d >> 6] |= 1ull << (d & 63);
        rc = e->rc;
    }
    leaf_free(&lr);
    return rc;
}

/* The segment's documents filter node `node` matches (FORMAT.md "Field
 * terms"), as bool_next would find them, into the flat bitset bits of
 * e->allowed_words words (its old bits are dropped). A union of terms ORs
 * their containers in, with no bitmap of each. */
static int filter_bits(eval *e, uint32_t node, uint64_t *bits)
{
    const kz_query *q = e->q;
    const kz_qnode *n = &q->nodes[node];
    size_t words = e->allowed_words;
    memset(bits, 0, words * sizeof *bits);
    if (n->kind == KZ_QNODE_LEAF && n->count > 1)
        return phrase_bits(e, n, bits);
    if (n->kind == KZ_QNODE_LEAF) {
        if (n->count == 1 && e->opened[q->leaf_terms[n->first]])
            kz_plist_or_bits(&e->pl[q->leaf_terms[n->first]], bits, words);
        return KZ_OK;
    }
    /* The required kids, else the optional ones, else
     * every document; less the excluded. */
    int has_must = 0, has_should = 0;
    for (uint32_t i = 0; i < n->count; i++) {
        kz_occur o = occur_of(e, &q->nodes[q->kids[n->first + i]]);
        has_must |= o == KZ_OCCUR_MUST;
        has_should |= o == KZ_OCCUR_SHOULD;
    }
    uint64_t *kid = NULL;
    int rc = KZ_OK, first_must = 1;
    for (uint32_t i = 0; i < n->count && rc == KZ_OK; i++) {
        uint32_t k = q->kids[n->first + i];
        const kz_qnode *kn = &q->nodes[k];
        kz_occur o = occur_of(e, kn);
        if (o == KZ_OCCUR_SHOULD && has_must)
            continue;
        if (o == KZ_OCCUR_SHOULD && kn->kind == KZ_QNODE_LEAF && kn->count == 1) {
            if (e->opened[q->leaf_terms[kn->first]]) /* straight in */
                kz_plist_or_bits(&e->pl[q->leaf_terms[kn->first]], bits, words);
            continue;
        }
        if (o == KZ_OCCUR_MUST && first_must) {
            first_must = 0;
            rc = filter_bits(e, k, bits);
            continue;
        }
        if (o == KZ_OCCUR_NOT)
            continue; /* below, once the others are in */
        if (!kid && !(kid = malloc(words * sizeof *kid))) {
            rc = oom();
            break;
        }
        if ((rc = filter_bits(e, k, kid)))
            break;
        if (o == KZ_OCCUR_MUST)
            for (size_t w = 0; w < words; w++)
                bits[w] &= kid[w];
        else
            for (size_t w = 0; w < words; w++)
                bits[w] |= kid[w];
    }
    if (rc == KZ_OK && !has_must && !has_should) /* exclusions alone: every document */
        for (size_t w = 0; w < words; w++)
            bits[w] = ~0ull;
    for (uint32_t i = 0; i < n->count && rc == KZ_OK; i++) {
        uint32_t k = q->kids[n->first + i];
        if (occur_of(e, &q->nodes[k]) != KZ_OCCUR_NOT)
            continue;
        if (!kid && !(kid = malloc(words * sizeof *kid))) {
            rc = oom();
            break;
        }
        if ((rc = filter_bits(e, k, kid)))
            break;
        for (size_t w = 0; w < words; w++)
            bits[w] &= ~kid[w];
    }
    free(kid);
    return rc;
}

/* Whether n is a group of optional terms, each a leaf of one term: the
 * spellings of a word, its synonyms of one word, a prefix's or a word~'s
 * terms. In a disjunction its terms are terms of the disjunction (a
 * document's score is the sum over the units it holds, wherever they
 * stand), so OR mode keeps the fast path (README "Spelling variants"). */
static int terms_group(const eval *e, const kz_qnode *n)
{
    if (n->kind != KZ_QNODE_BOOL || n->filter || n->count == 0)
        return 0;
    const kz_query *q = e->q;
    for (uint32_t i = 0; i < n->count; i++) {
        const kz_qnode *k = &q->nodes[q->kids[n->first + i]];
        if (k->kind != KZ_QNODE_LEAF || k->count != 1 || k->filter || occur_of(e, k) != KZ_OCCUR_SHOULD)
            return 0;
    }
    return 1;
}

#define MAX_AND_GROUPS 64

/* Whether unit u is the term of a leaf among kids (not one of a group's). */
static int plain_kid(const kz_query *q, const uint32_t *kids, uint32_t n_kids, uint32_t u)
{
    for (uint32_t i = 0; i < n_kids; i++) {
        const kz_qnode *k = &q->nodes[kids[i]];
        if (k->kind == KZ_QNODE_LEAF && !k->filter && k->unit == u)
            return 1;
    }
    return 0;
}

#define MAX_JOINED_FILTERS 16

/* The leaves under filter node `node` and their documents added up. */
static void filter_size(const eval *e, uint32_t node, size_t *leaves, uint64_t *docs)
{
    const kz_query *q = e->q;
    const kz_qnode *n = &q->nodes[node];
    if (n->kind == KZ_QNODE_LEAF) {
        *leaves += n->count;
        for (uint32_t i = 0; i < n->count; i++)
            if (e->opened[q->leaf_terms[n->first + i]])
                *docs += e->pl[q->leaf_terms[n->first + i]].df;
        return;
    }
    for (uint32_t i = 0; i < n->count; i++)
        filter_size(e, q->kids[n->first + i], leaves, docs);
}

/* Readies the query's top-level filters (the required or excluded filter
 * kids of the root) for a fast path over the segment. In a conjunction of
 * terms (joins), a required filter of one term joins the intersection as a
 * list that is not scored (also[], at most MAX_JOINED_FILTERS). The others
 * are read as the documents come (e->lazy) when the candidates, at most
 * the rarest list's df, times the filter terms are fewer than a quarter of
 * the filter terms' postings, which the union of their bitmaps (e->allowed)
 * would read, and become e->allowed otherwise; disjunctions (and_paths 0)
 * always use e->allowed, as they count through it. *none is set when no
 * document can pass. */
static int prepare_filters(eval *e, const uint32_t *kids, uint32_t n_kids, int and_path, int joins,
                           const kz_plist **also, size_t *n_also, int *none)
{
    const kz_query *q = e->q;
    uint32_t *lazy = malloc(n_kids * sizeof *lazy);
    size_t n_lazy = 0, leaves = 0;
    uint64_t postings = 0, candidates = UINT64_MAX;
    if (!lazy)
        return oom();
    for (uint32_t i = 0; i < n_kids; i++) {
        const kz_qnode *k = &q->nodes[kids[i]];
        if (!k->filter)
            continue;
        if (joins && and_path && occur_of(e, k) == KZ_OCCUR_MUST && k->kind == KZ_QNODE_LEAF && k->count == 1 &&
            *n_also < MAX_JOINED_FILTERS) {
            uint32_t term = q->leaf_terms[k->first];
            if (!e->opened[term]) {
                *none = 1;
                free(lazy);
                return KZ_OK;
            }
            also[(*n_also)++] = &e->pl[term];
            candidates = KZ_MIN(candidates, e->pl[term].df);
            continue;
        }
        lazy[n_lazy++] = kids[i];
        filter_size(e, kids[i], &leaves, &postings);
    }
    for (size_t u = 0; u < q->n_units; u++)
        if (!e->score[u].missing)
            candidates = KZ_MIN(candidates, e->score[u].cur[0].pl->df);
    if (n_lazy == 0) {
        free(lazy);
        return KZ_OK;
    }
    if (and_path && candidates * leaves <= postings / 4) {
        e->fcur = calloc(q->n_terms, sizeof *e->fcur);
        if (!e->fcur) {
            free(lazy);
            return oom();
        }
        for (size_t t = 0; t < q->n_terms; t++)
            if (e->opened[t])
                kz_cursor_init(&e->fcur[t], &e->pl[t]);
        e->lazy = lazy;
        e->n_lazy = n_lazy;
        return KZ_OK;
    }
    /* Every document of the segment, less what the filters keep out. */
    size_t words = KZ_DOC_BITS_WORDS(e->seg_docs);
    uint64_t *allowed = malloc(words * sizeof *allowed), *b = NULL;
    int rc = allowed ? KZ_OK : oom();
    e->allowed_words = words;
    for (size_t i = 0; i < n_lazy && rc == KZ_OK; i++) {
        int must = occur_of(e, &q->nodes[lazy[i]]) == KZ_OCCUR_MUST;
        if (i == 0 && must) {
            rc = filter_bits(e, lazy[i], allowed);
            continue;
        }
        if (i == 0)
            for (size_t w = 0; w < words; w++)
                allowed[w] = ~0ull;
        if ((!b && !(b = malloc(words * sizeof *b)) && (rc = oom())) || (rc = filter_bits(e, lazy[i], b)))
            break;
        for (size_t w = 0; w < words; w++)
            allowed[w] &= must ? b[w] : ~b[w];
    }
    free(b);
    free(lazy);
    if (rc) {
        free(allowed);
        return rc;
    }
    /* No document at or past seg_docs passes. */
    size_t full = e->seg_docs >> 6;
    if (full < words) {
        allowed[full] &= (e->seg_docs & 63) ? (1ull << (e->seg_docs & 63)) - 1 : 0;
        memset(allowed + full + 1, 0, (words - full - 1) * sizeof *allowed);
    }
    uint64_t any = 0;
    for (size_t w = 0; w < words && !any; w++)
        any |= allowed[w];
    e->allowed = allowed;
    *none = !any;
    return KZ_OK;
}

/* Runs the fast path when the query is a plain conjunction or disjunction
 * of terms, with or without required or excluded filters beside them (the
 * filters become e->allowed); returns 0 if it is not. */
static int try_fast(eval *e)
{
    const kz_query *q = e->q;
    for (size_t i = 0; i < q->n_nodes; i++)
        if (q->nodes[i].in_title)
            return 0; /* title: checks positions: eval_general */
    const kz_qnode *root = &q->nodes[q->root];
    const uint32_t *kids = &q->root;
    uint32_t n_kids = 1;
    kz_occur want = e->default_occur == KZ_OCCUR_MUST ? KZ_OCCUR_MUST : KZ_OCCUR_SHOULD;
    size_t n_text = 0, n_groups = 0;
    const kz_qnode *groups[MAX_AND_GROUPS];
    if (root->kind == KZ_QNODE_BOOL) {
        kids = q->kids + root->first;
        n_kids = root->count;
        want = KZ_OCCUR_NOT; /* the text clauses' occur, from the first */
        for (uint32_t i = 0; i < n_kids; i++) {
            const kz_qnode *k = &q->nodes[kids[i]];
            if (k->filter)
                continue;
            if (want == KZ_OCCUR_NOT)
                want = occur_of(e, k);
            if (want != KZ_OCCUR_MUST && want != KZ_OCCUR_SHOULD)
                return 0;
        }
    }
    for (uint32_t i = 0; i < n_kids; i++) {
        const kz_qnode *k = &q->nodes[kids[i]];
        if (k->filter && root->kind == KZ_QNODE_BOOL && occur_of(e, k) != KZ_OCCUR_SHOULD)
            continue; /* a required or excluded filter: e->allowed */
        if (want == KZ_OCCUR_SHOULD && terms_group(e, k) &&
            (root->kind != KZ_QNODE_BOOL || occur_of(e, k) == KZ_OCCUR_SHOULD)) {
            n_text++; /* a disjunction within the disjunction: its terms join it */
            continue;
        }
        if (want == KZ_OCCUR_MUST && root->kind == KZ_QNODE_BOOL && terms_group(e, k) &&
            occur_of(e, k) == KZ_OCCUR_MUST) {
            if (n_groups == MAX_AND_GROUPS)
                return 0;
            groups[n_groups++] = k; /* a conjunction of disjunctions: eval_and_groups */
            n_text++;
            continue;
        }
        if (k->kind != KZ_QNODE_LEAF || k->count != 1 || k->filter ||
            (root->kind == KZ_QNODE_BOOL && occur_of(e, k) != want))
            return 0;
        n_text++;
    }
    if (n_text == 0)
        return 0;
    const kz_plist *also[MAX_JOINED_FILTERS];
    size_t n_also = 0;
    if (n_text < n_kids) {
        int none = 0;
        if ((e->rc = prepare_filters(e, kids, n_kids, want == KZ_OCCUR_MUST, !n_groups, also, &n_also, &none)) ||
            none)
            return 1; /* nothing in this segment passes */
    }
    /* Each leaf is a distinct term and a unit (a repeated term is one). */
    term_list *t = calloc(q->n_units, sizeof *t);
    if (!t) {
        e->rc = oom();
        return 1;
    }
    size_t n = 0;
    for (size_t u = 0; u < q->n_units; u++) {
        leaf_reader *lr = &e->score[u];
        if (n_groups && !plain_kid(q, kids, n_kids, (uint32_t)u))
            continue; /* a group's term: eval_and_groups reads it */
        if (lr->missing) {
            if (want == KZ_OCCUR_MUST)
                goto done; /* a required term no document has */
            continue;
        }
        const kz_plist *pl = lr->cur[0].pl;
        t[n].c = &lr->cur[0];
        t[n].idf = e->unit_idf[u];
        t[n].whole = list_bound(e, pl);
        t[n].ub = t[n].idf * t[n].whole * BOUND_SLACK;
        t[n].unit = (uint32_t)u;
        n++;
    }
    if (n == 0 && !n_groups)
        goto done;
    if (want == KZ_OCCUR_MUST) {
        /* Rarest first: it leads the leapfrog. */
        for (size_t i = 1; i < n; i++) {
            term_list x = t[i];
            size_t j = i;
            while (j > 0 && t[j - 1].c->pl->df > x.c->pl->df) {
                t[j] = t[j - 1];
                j--;
            }
            t[j] = x;
        }
        if (n_groups)
            eval_and_clauses(e, t, n, groups, n_groups);
        else
            eval_and_terms(e, t, n, also, n_also);
    } else {
        uint64_t total = 0;
        if ((e->rc = union_count(e, t, n, &total)))
            goto done;
        e->total += total;
        for (size_t i = 0; e->matched && i < n; i++) {
            roaring_bitmap_t *b = kz_plist_bitmap(t[i].c->pl);
            if (!b) {
                e->rc = oom();
                goto done;
            }
            if (e->allowed && (e->rc = keep_allowed(e, b))) {
                roaring_bitmap_free(b);
                goto done;
            }
            if (e->deleted)
                roaring_bitmap_andnot_inplace(b, e->deleted);
            roaring_bitmap_or_inplace(e->matched, b);
            roaring_bitmap_free(b);
        }
        if (e->k == 0)
            goto done; /* count only */
        qsort(t, n, sizeof *t, cmp_ub);
        uint32_t *seen;
        size_t n_seen;
        or_head_start(e, t, n, &seen, &n_seen);
        if (e->rc == KZ_OK)
            eval_or_terms(e, t, n, seen, n_seen);
        free(seen);
    }
done:
    free(t);
    return 1;
}

/* ------------------------------------------------------------- running */

/* Closes what segment_open opened: the lists (the leaf readers stay for
 * the next segment). */
static void segment_close(eval *e)
{
    free(e->allowed);
    e->allowed = NULL;
    free(e->lazy);
    e->lazy = NULL;
    e->n_lazy = 0;
    free(e->fcur);
    e->fcur = NULL;
    if (e->matched) {
        roaring_bitmap_free(e->matched);
        e->matched = NULL;
    }
    for (size_t i = 0; e->opened && i < e->q->n_terms; i++) {
        if (e->opened[i])
            kz_plist_close(&e->pl[i]);
        e->opened[i] = 0;
    }
    free(e->doc_chunks);
    e->doc_chunks = NULL;
    e->lengths = NULL;
    e->sg = NULL;
}

static void eval_free(eval *e)
{
    segment_close(e);
    free(e->sheap);
    for (size_t i = 0; i < e->n_facets; i++)
        facet_free(&e->facets[i]);
    free(e->facets);
    for (size_t i = 0; e->match && i < e->q->n_nodes; i++)
        leaf_free(&e->match[i]);
    for (size_t i = 0; e->score && i < e->q->n_units; i++)
        leaf_free(&e->score[i]);
    free(e->pl);
    free(e->ordinal);
    free(e->opened);
    free(e->idf);
    free(e->match);
    free(e->score);
    free(e->unit_idf);
    free(e->cache_from);
    free(e->cache_doc);
    free(e->heap);
}

/* A phrase checks positions in every candidate document. Where a term's
 * list is long and the phrase's other terms would take it to most of its
 * blocks, the segment's table of where each posting's codes start saves
 * decoding the postings in between (kept for later queries too). */
static void phrase_starts(eval *e, const kz_qnode *leaf)
{
    const kz_query *q = e->q;
    if (leaf->count < 2)
        return;
    for (uint32_t i = 0; i < leaf->count; i++) {
        uint32_t ti = q->leaf_terms[leaf->first + i];
        kz_plist *pl = &e->pl[ti];
        if (!e->opened[ti] || pl->pos_starts || pl->n_blocks < 8)
            continue;
        uint32_t other = UINT32_MAX;
        for (uint32_t j = 0; j < leaf->count; j++) {
            uint32_t tj = q->leaf_terms[leaf->first + j];
            if (tj != ti && e->opened[tj] && e->pl[tj].df < other)
                other = e->pl[tj].df;
        }
        if (other != UINT32_MAX && (uint64_t)other * 4 >= pl->n_blocks)
            pl->pos_starts = kz_segment_position_starts(e->sg, pl, e->ordinal[ti]);
    }
}

/* What a query needs whatever the segment: the arrays, and each term's
 * and unit's idf from the live df over every segment. */
static int eval_open(eval *e)
{
    kz_query *q = e->q;
    size_t nn = q->n_nodes ? q->n_nodes : 1, nu = q->n_units ? q->n_units : 1, nt = q->n_terms ? q->n_terms : 1;
    e->pl = calloc(nt, sizeof *e->pl);
    e->ordinal = calloc(nt, sizeof *e->ordinal);
    e->opened = calloc(nt, 1);
    e->idf = calloc(nt, sizeof *e->idf);
    e->match = calloc(nn, sizeof *e->match);
    e->score = calloc(nu, sizeof *e->score);
    e->unit_idf = calloc(nu, sizeof *e->unit_idf);
    e->cache_from = calloc(nn, sizeof *e->cache_from);
    e->cache_doc = calloc(nn, sizeof *e->cache_doc);
    e->heap = malloc((e->k ? e->k : 1) * sizeof *e->heap);
    if (!e->pl || !e->ordinal || !e->opened || !e->idf || !e->match || !e->score || !e->unit_idf ||
        !e->cache_from || !e->cache_doc || !e->heap)
        return oom();
    for (size_t i = 0; i < q->n_terms; i++)
        if (q->terms[i].found)
            e->idf[i] = bm25_idf(e->n_docs, (double)q->terms[i].df);
    for (size_t u = 0; u < q->n_units; u++) {
        const kz_qnode *leaf = &q->nodes[q->units[u]];
        double idf = 0;
        for (uint32_t i = 0; i < leaf->count; i++)
            idf += e->idf[q->leaf_terms[leaf->first + i]];
        e->unit_idf[u] = idf;
    }
    return KZ_OK;
}

/* Binds the query to segment s: its lists of the query's terms, the leaf
 * readers over them, its deleted documents, and how its stored bounds
 * (computed with its own avgdl) hold at the index's. */
static int segment_open(eval *e, size_t s)
{
    kz_query *q = e->q;
    e->sg = kz_index_segment(e->ix, s);
    e->base = kz_index_segment_base(e->ix, s);
    e->deleted = kz_index_segment_deleted(e->ix, s);
    kz_index_info si;
    kz_segment_get_info(e->sg, &si);
    e->seg_docs = (uint32_t)si.docs;
    e->title_terms = si.format_version >= KZ_FORMAT_TITLE_TERMS && !kz_title_terms_off;
    e->bound_scale = e->default_k1_b && si.avgdl > 0 ? KZ_MAX(1.0, e->avgdl / si.avgdl) : 0;
    /* Every dl and title length read below is checked by doc_ok. */
    int rc = KZ_OK;
    e->lengths = kz_segment_doc_lengths(e->sg);
    if (!kz_file_verified_whole(kz_segment_file(e->sg), KZ_SEC_DOCS) &&
        !(e->doc_chunks = calloc(((si.docs * KZ_DOC_SIZE) >> KZ_CHUNK_SHIFT) + 1, 1)))
        return oom();
    for (size_t i = 0; i < q->n_terms; i++) {
        if (!q->terms[i].found)
            continue;
        kz_term_loc loc;
        int found;
        if (q->terms[i].seg_loc) { /* looked up when the query was parsed */
            loc = q->terms[i].seg_loc[s];
            found = loc.ordinal != KZ_TERM_ABSENT;
        } else {
            found = kz_segment_lookup(e->sg, q->terms[i].text, q->terms[i].len, &loc);
        }
        if (found < 0)
            return found;
        if (!found)
            continue;
        e->ordinal[i] = loc.ordinal;
        if ((rc = kz_segment_plist_at(e->sg, &e->pl[i], &loc)))
            return rc;
        e->opened[i] = 1;
    }
    for (size_t i = 0; i < q->n_nodes; i++) {
        if (q->nodes[i].kind != KZ_QNODE_LEAF)
            continue;
        if ((rc = leaf_open(e, &e->match[i], &q->nodes[i])))
            return rc;
        e->match[i].in_title = q->nodes[i].in_title; /* scoring readers: never */
        e->match[i].in_field = q->nodes[i].filter;
        if (q->nodes[i].in_title && q->nodes[i].title_twin) {
            kz_qnode twin = title_twin_of(&q->nodes[i]);
            if (!e->match[i].title && !(e->match[i].title = calloc(1, sizeof *e->match[i].title)))
                return oom();
            if ((rc = leaf_open(e, e->match[i].title, &twin)))
                return rc;
            e->match[i].title->in_field = 1;
        }
        phrase_starts(e, &q->nodes[i]);
    }
    for (size_t u = 0; u < q->n_units; u++)
        if ((rc = leaf_open(e, &e->score[u], &q->nodes[q->units[u]])))
            return rc;
    return KZ_OK;
}

/* One pass over every segment, in order, with DEFAULT clauses taken as
 * occur: the top k and the total gather across them. */
static int eval_pass(eval *e, kz_occur occur)
{
    kz_query *q = e->q;
    e->default_occur = occur;
    e->n_heap = 0;
    e->total = 0;
    for (size_t i = 0; i < e->n_facets; i++) { /* a second pass starts over */
        for (size_t j = 0; j < e->facets[i].n; j++)
            free(e->facets[i].v[j].value);
        e->facets[i].n = 0;
        if (e->facets[i].slots)
            memset(e->facets[i].slots, 0, e->facets[i].n_slots * sizeof *e->facets[i].slots);
    }
    if (q->root == NONE)
        return KZ_OK;
    e->n_sheap = 0;
    for (size_t s = 0; s < kz_index_segment_count(e->ix) && e->rc == KZ_OK; s++) {
        if ((e->n_facets || e->sort_field) && !(e->matched = roaring_bitmap_create()))
            e->rc = oom();
        if (e->rc == KZ_OK && (e->rc = segment_open(e, s)) == KZ_OK) {
            for (size_t i = 0; i < q->n_nodes; i++) {
                e->cache_from[i] = 1;
                e->cache_doc[i] = 0; /* empty: from > doc */
                if (q->nodes[i].kind == KZ_QNODE_LEAF)
                    leaf_start(e, &e->match[i], &q->nodes[i]);
                if (e->match[i].title) {
                    kz_qnode twin = title_twin_of(&q->nodes[i]);
                    leaf_start(e, e->match[i].title, &twin);
                }
            }
            for (size_t u = 0; u < q->n_units; u++)
                leaf_start(e, &e->score[u], &q->nodes[q->units[u]]);
            if (!try_fast(e))
                eval_general(e);
            if (e->rc == KZ_OK && e->matched && e->n_facets)
                e->rc = facets_count_segment(e);
            if (e->rc == KZ_OK && e->sort_field && e->sort_k)
                e->rc = sort_segment(e);
        }
        segment_close(e);
    }
    return e->rc;
}

/* Whether the query has juxtaposed clauses that OR mode would loosen. */
static int has_default(const kz_query *q)
{
    for (size_t i = 0; i < q->n_nodes; i++)
        if (q->nodes[i].kind == KZ_QNODE_BOOL)
            for (uint32_t j = 0; j < q->nodes[i].count; j++)
                if (q->nodes[q->kids[q->nodes[i].first + j]].occur == KZ_OCCUR_DEFAULT)
                    return 1;
    return 0;
}

/* AUTO mode: the top e->k of the documents that match in AND mode, then,
 * to fill k_some places (at most e->k), the best of those that match only
 * in OR mode. The facets and the total are the OR pass's: every document
 * that matches. *n_all gets the AND pass's total. e->heap gets the
 * ranking, in order. */
static int and_then_or(eval *e, uint64_t *n_all, size_t k_some)
{
    int rc;
    size_t k = e->k, n_facets = e->n_facets;
    kz_hit *all = NULL, *merged = NULL;
    e->n_facets = 0; /* counted once, over the OR pass's matches */
    rc = eval_pass(e, KZ_OCCUR_MUST);
    e->n_facets = n_facets;
    if (rc)
        return rc;
    *n_all = e->total;
    size_t n = e->n_heap;
    if (!(all = malloc((n ? n : 1) * sizeof *all)))
        return oom();
    memcpy(all, e->heap, n * sizeof *all);
    qsort(all, n, sizeof *all, cmp_hits);
    /* The OR pass ranks enough documents to fill the places the AND pass
     * left, or only counts. Its top k_some holds at most the n AND hits,
     * so at least k_some - n others, and they are the best others. */
    e->k = n >= k_some ? 0 : k_some;
    rc = eval_pass(e, KZ_OCCUR_SHOULD);
    e->k = k;
    if (rc)
        goto done;
    qsort(e->heap, e->n_heap, sizeof *e->heap, cmp_hits);
    if (!(merged = malloc((k ? k : 1) * sizeof *merged))) {
        rc = oom();
        goto done;
    }
    size_t m = 0;
    for (size_t i = 0; i < n && m < k; i++)
        merged[m++] = all[i];
    /* An OR hit is an AND hit when its docid is among all's. */
    qsort(all, n, sizeof *all, cmp_hit_docids);
    for (size_t i = 0; i < e->n_heap && m < k_some; i++)
        if (!bsearch(&e->heap[i], all, n, sizeof *all, cmp_hit_docids))
            merged[m++] = e->heap[i];
    free(e->heap);
    e->heap = merged;
    e->n_heap = m;
    merged = NULL;
done:
    free(merged);
    free(all);
    return rc;
}

struct kz_results {
    kz_mode mode;
    uint64_t total;
    uint64_t total_all_words; /* the first this many of the ranking match in AND mode */
    facet_acc *facets; /* sorted and cut to their limits */
    size_t n_facets;
    kz_hit *hits;
    size_t n_hits;
    char **terms; /* distinct stems of the units, in query order */
    double *term_idf;
    size_t n_terms;
    kz_unit *units;
    size_t n_units;
    double k1, b, avgdl;
    /* Collapsed near-duplicates: hit i's are similar[similar_at[i] ..
     * similar_at[i + 1]); similar_at NULL when nothing was collapsed. */
    size_t *similar_at;
    kz_hit *similar;
    uint64_t collapsed;
    uint64_t all_words_hits; /* ranks below this have every word (collapsed) */
    uint64_t *keys;  /* sorted by a field: hit i's sort key (kz_results_ranked); else NULL */
    uint32_t offset; /* of the first hit in the ranking */
};

static int options_resolve(kz_search_options *o, const kz_search_options *opts)
{
    kz_search_options d = KZ_SEARCH_OPTIONS_INIT;
    *o = d;
    if (opts) {
        if (opts->version == 1) /* without the budgets: copy what it has */
            memcpy(o, opts, offsetof(kz_search_options, timeout));
        else if (opts->version == 2) /* without facets and sorting */
            memcpy(o, opts, offsetof(kz_search_options, facets));
        else if (opts->version != KZ_SEARCH_OPTIONS_VERSION)
            return kz_error_set(KZ_EINVAL, "kz_search_options version %u, expected %u", opts->version,
                                KZ_SEARCH_OPTIONS_VERSION);
        else
            *o = *opts;
    }
    if (!(o->timeout >= 0) || !isfinite(o->timeout))
        return kz_error_set(KZ_EINVAL, "a query's timeout must be a finite number of seconds, 0 for none");
    if (o->limit == 0)
        o->limit = 10;
    if (o->k1 <= 0)
        o->k1 = KZ_BM25_K1;
    if (o->b < 0)
        o->b = KZ_BM25_B;
    if (o->b > 1 || !isfinite(o->k1) || !isfinite(o->b))
        return kz_error_set(KZ_EINVAL, "BM25 needs k1 > 0 and 0 <= b <= 1");
    if ((uint64_t)o->offset + o->limit > 100000000u)
        return kz_error_set(KZ_ELIMIT, "offset + limit is over 100,000,000");
    if (o->sort_field && !kz_field_name_ok(o->sort_field, strlen(o->sort_field)))
        return kz_error_set(KZ_EINVAL, "sort: a field name of 1 to %d bytes is needed", KZ_FIELD_NAME_MAX);
    if (o->n_facets > 64)
        return kz_error_set(KZ_ELIMIT, "at most 64 facets");
    for (size_t i = 0; i < o->n_facets; i++) {
        const kz_facet_spec *f = &o->facets[i];
        if (!f->field || !kz_field_name_ok(f->field, strlen(f->field)) || (unsigned)f->kind > KZ_FACET_DAY)
            return kz_error_set(KZ_EINVAL, "facet %zu: a field name of 1 to %d bytes and a kind are needed", i,
                                KZ_FIELD_NAME_MAX);
    }
    return KZ_OK;
}

/* Copies the units and their stems into r. */
static int results_units(kz_results *r, const kz_query *q, const eval *e)
{
    r->units = calloc(q->n_units ? q->n_units : 1, sizeof *r->units);
    r->terms = calloc(q->n_leaf_terms ? q->n_leaf_terms : 1, sizeof *r->terms);
    r->term_idf = calloc(q->n_leaf_terms ? q->n_leaf_terms : 1, sizeof *r->term_idf);
    if (!r->units || !r->terms || !r->term_idf)
        return oom();
    r->n_units = q->n_units;
    for (size_t u = 0; u < q->n_units; u++) {
        const kz_qnode *leaf = &q->nodes[q->units[u]];
        kz_unit *ku = &r->units[u];
        const char **stems = calloc(leaf->count, sizeof *stems);
        if (!stems)
            return oom();
        ku->terms = stems;
        ku->n_terms = leaf->count;
        ku->idf = e->unit_idf[u];
        for (uint32_t i = 0; i < leaf->count; i++) {
            const kz_qterm *t = &q->terms[q->leaf_terms[leaf->first + i]];
            size_t j = 0;
            while (j < r->n_terms && strcmp(r->terms[j], t->text) != 0)
                j++;
            if (j == r->n_terms) {
                if (!(r->terms[j] = strdup(t->text)))
                    return oom();
                r->term_idf[j] = e->idf[q->leaf_terms[leaf->first + i]];
                r->n_terms++;
            }
            stems[i] = r->terms[j];
        }
    }
    return KZ_OK;
}

/* The statistics q is ranked with: its index's, or N, tokens and avgdl of
 * the global statistics it was parsed with (stats.c: as one index of every
 * machine's documents). */
static void query_info(const kz_query *q, kz_index_info *info)
{
    kz_index_get_info(q->ix, info);
    if (q->global) {
        info->docs = kz_stats_docs(q->global);
        info->tokens = kz_stats_tokens(q->global);
        info->avgdl = info->docs ? (double)info->tokens / (double)info->docs : 0.0;
    }
}

/* Ranks q's matches for the resolved options opts: hits offset ..
 * offset + limit - 1 of the ranking, nothing collapsed, of which matches
 * without every word (ANY mode; AUTO's OR matches) take at most the first
 * fill places of the ranking (UINT64_MAX: any; kz_collapse_round). */
static int run_ranked(kz_results **out, kz_query *q, const kz_search_options *opts, uint64_t fill)
{
    *out = NULL;
    kz_search_options o = *opts;
    int rc = KZ_OK;
    kz_index_info info;
    query_info(q, &info);
    eval e = { 0 };
    e.ix = q->ix;
    e.q = q;
    e.k1 = o.k1;
    e.b = o.b;
    e.avgdl = info.avgdl;
    e.n_docs = (double)info.docs;
    e.norm0 = o.k1 * (1.0 - o.b);
    e.norm1 = info.avgdl > 0 ? o.k1 * o.b / info.avgdl : 0;
    e.default_k1_b = o.k1 == KZ_BM25_K1 && o.b == KZ_BM25_B;
    e.timeout = o.timeout;
    e.max_work = (double)o.max_work;
    e.work_left = o.max_work ? o.max_work : UINT64_MAX;
    e.deadline = o.timeout > 0 ? kz_now() + o.timeout : INFINITY;
    e.until_clock = CLOCK_EVERY;
    e.k = o.flags & KZ_SEARCH_COUNT_ONLY ? 0 : (size_t)o.offset + o.limit;
    size_t k_some = (size_t)KZ_MIN((uint64_t)e.k, fill);
    if (o.mode == KZ_MODE_ANY)
        e.k = k_some;
    kz_results *r = calloc(1, sizeof *r);
    if (!r) {
        rc = oom();
        goto done;
    }
    r->k1 = o.k1;
    r->b = o.b;
    r->avgdl = info.avgdl;
    e.sort_kind = KZ_FIELD_DATE;
    if (o.sort_field && info.docs) {
        /* By dates, else by numbers. A field with neither sorts nothing:
         * say so rather than rank by nothing (a misspelled --sort). */
        char prefix[KZ_FIELD_PREFIX_MAX];
        uint64_t count = 0;
        size_t n = kz_field_prefix(prefix, o.sort_field, strlen(o.sort_field), "dY");
        if ((rc = kz_stats_extent(q->ix, q->global, NULL, prefix, n, &count, NULL, NULL)))
            goto done;
        if (count == 0) {
            e.sort_kind = KZ_FIELD_NUMBER;
            n = kz_field_prefix(prefix, o.sort_field, strlen(o.sort_field), KZ_NUMBER_FULL_KIND);
            if ((rc = kz_stats_extent(q->ix, q->global, NULL, prefix, n, &count, NULL, NULL)))
                goto done;
        }
        if (count == 0) {
            rc = kz_error_set(KZ_EINVAL, "no document has dates or numbers in the field \"%.64s\" to sort by",
                              o.sort_field);
            goto done;
        }
    }
    if (o.sort_field) { /* segments only count and gather; sort_segment ranks */
        e.sort_field = o.sort_field;
        e.sort_desc = o.sort_descending;
        e.sort_k = e.k;
        e.k = 0;
        if (!(e.sheap = malloc((e.sort_k ? e.sort_k : 1) * sizeof *e.sheap))) {
            rc = oom();
            goto done;
        }
    }
    if (o.n_facets) {
        if (!(e.facets = calloc(o.n_facets, sizeof *e.facets))) {
            rc = oom();
            goto done;
        }
        e.n_facets = o.n_facets;
        for (size_t i = 0; i < o.n_facets; i++) {
            facet_acc *f = &e.facets[i];
            const kz_facet_spec *sp = &o.facets[i];
            static const char *const kinds[] = { "k", "dY", "dM", "dD" };
            f->prefix_len = kz_field_prefix(f->prefix, sp->field, strlen(sp->field), kinds[sp->kind]);
            f->limit = sp->limit ? sp->limit : 10;
        }
    }
    if ((rc = eval_open(&e)))
        goto done;
    r->mode = o.mode == KZ_MODE_ANY ? KZ_MODE_ANY : KZ_MODE_ALL;
    int and_first = o.mode == KZ_MODE_AUTO && q->root != NONE && has_default(q) && !e.sort_field &&
                    !q->default_under_not;
    if (and_first) {
        if ((rc = and_then_or(&e, &r->total_all_words, k_some)))
            goto done;
        if (e.total > r->total_all_words)
            r->mode = KZ_MODE_ANY;
    } else {
        if ((rc = eval_pass(&e, o.mode == KZ_MODE_ANY ? KZ_OCCUR_SHOULD : KZ_OCCUR_MUST)))
            goto done;
        if (e.total == 0 && o.mode == KZ_MODE_AUTO && q->root != NONE && has_default(q)) {
            r->mode = KZ_MODE_ANY;
            if (e.sort_field)
                e.sort_k = KZ_MIN(e.sort_k, k_some);
            else
                e.k = k_some;
            if ((rc = eval_pass(&e, KZ_OCCUR_SHOULD)))
                goto done;
        }
        r->total_all_words = r->mode == KZ_MODE_ALL ? e.total : 0;
    }
    if (e.sort_field) { /* the sorted top becomes the hits, in its order */
        qsort_r(e.sheap, e.n_sheap, sizeof *e.sheap, cmp_sort_items, &e);
        free(e.heap);
        e.heap = malloc((e.n_sheap ? e.n_sheap : 1) * sizeof *e.heap);
        size_t from = KZ_MIN((size_t)o.offset, e.n_sheap);
        r->keys = malloc((e.n_sheap - from ? e.n_sheap - from : 1) * sizeof *r->keys);
        if (!e.heap || !r->keys) {
            rc = oom();
            goto done;
        }
        for (size_t i = 0; i < e.n_sheap; i++)
            e.heap[i] = (kz_hit){ e.sheap[i].docid, e.sheap[i].score };
        for (size_t i = from; i < e.n_sheap; i++)
            r->keys[i - from] = e.sheap[i].key;
        e.n_heap = e.n_sheap;
    } else if (!and_first) { /* and_then_or left the heap in its order */
        qsort(e.heap, e.n_heap, sizeof *e.heap, cmp_hits);
    }
    r->total = e.total;
    r->offset = o.offset;
    size_t from = KZ_MIN((size_t)o.offset, e.n_heap);
    r->n_hits = e.n_heap - from;
    if (!(r->hits = malloc((r->n_hits ? r->n_hits : 1) * sizeof *r->hits))) {
        rc = oom();
        goto done;
    }
    if (r->n_hits)
        memcpy(r->hits, e.heap + from, r->n_hits * sizeof *r->hits);
    rc = results_units(r, q, &e);
    /* The facets, most documents first, cut to their limits: r takes them. */
    for (size_t i = 0; i < e.n_facets; i++) {
        facet_acc *f = &e.facets[i];
        if (f->n) /* qsort must not be given NULL, even for no values */
            qsort(f->v, f->n, sizeof *f->v, cmp_facet_value);
        for (size_t j = f->limit; j < f->n; j++)
            free(f->v[j].value);
        f->n = KZ_MIN(f->n, (size_t)f->limit);
    }
    r->facets = e.facets;
    r->n_facets = e.n_facets;
    r->all_words_hits = r->total_all_words;
    e.facets = NULL;
    e.n_facets = 0;
done:
    eval_free(&e);
    if (rc) {
        kz_results_free(r);
        return rc;
    }
    *out = r;
    return KZ_OK;
}

/* ------------------------------------------------------------- collapse */

/* Near-duplicates (README "Near-duplicates"): the ranking is walked in
 * order; a hit whose SimHash is within KZ_SIMHASH_DISTANCE bits of an
 * earlier leader's joins the first such leader's group, and else leads a
 * group of its own. Leaders keep their scores and their order, so a
 * page's hits are the same whatever the limit, and paging is stable.
 * Comparing with leaders only (not every member) keeps a chain of small
 * edits from gathering unlike documents. Pigeonhole: two fingerprints at
 * most D bits apart agree exactly on one of D + 1 bands of their bits, so
 * a leader is looked up by each band of the hit's in a small hash. */
#define BANDS (KZ_SIMHASH_DISTANCE + 1)

static uint64_t band_of(uint64_t fp, unsigned band)
{
    unsigned width = 64 / BANDS, lo = band * width;
    unsigned bits = band == BANDS - 1 ? 64 - lo : width;
    return bits == 64 ? fp : (fp >> lo) & ((1ull << bits) - 1);
}

/* A window of at most this many hits (a page of 10 to 50) is collapsed
 * in arrays on the stack: a malloc would cost a short query more than
 * grouping does. */
#define SMALL_WINDOW 64

/* group[i]: the index in the ranking of the i-th ranked fingerprint's
 * leader (i itself for a leader). *n_leaders gets the number of groups. */
static int groups_of(const uint64_t *fp, size_t n, uint32_t *group, size_t *n_leaders)
{
    /* A band's value is a few bits of a hash already: its low bits pick
     * the bucket (at most 2^(64/BANDS) buckets, the values' number). */
    size_t cap = 16;
    while (cap < 2 * n && cap < ((size_t)1 << (64 / BANDS)))
        cap *= 2;
    uint32_t head_small[BANDS * 2 * SMALL_WINDOW], next_small[BANDS * SMALL_WINDOW];
    int small = n <= SMALL_WINDOW;
    uint32_t *head = small ? head_small : malloc(BANDS * cap * sizeof *head);
    uint32_t *next = small ? next_small : malloc(BANDS * (n ? n : 1) * sizeof *next);
    if (!head || !next) {
        free(head);
        free(next);
        return oom();
    }
    memset(head, 0xff, BANDS * cap * sizeof *head);
    *n_leaders = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t best = NONE;
        if (fp[i] != KZ_SIMHASH_NONE) {
            for (unsigned b = 0; b < BANDS; b++) {
                uint64_t key = band_of(fp[i], b);
                for (uint32_t l = head[b * cap + (key & (cap - 1))]; l != NONE; l = next[b * n + l])
                    if (l < best && band_of(fp[l], b) == key && kz_simhash_similar(fp[i], fp[l]))
                        best = l;
            }
        }
        if (best != NONE) {
            group[i] = best;
            continue;
        }
        group[i] = (uint32_t)i;
        (*n_leaders)++;
        if (fp[i] == KZ_SIMHASH_NONE)
            continue;
        for (unsigned b = 0; b < BANDS; b++) {
            uint64_t key = band_of(fp[i], b);
            uint32_t *h = &head[b * cap + (key & (cap - 1))];
            next[b * n + i] = *h;
            *h = (uint32_t)i;
        }
    }
    if (!small) {
        free(head);
        free(next);
    }
    return KZ_OK;
}

static int doc_fingerprint(kz_index *ix, uint32_t docid, uint64_t *fp)
{
    size_t seg;
    uint32_t local;
    int rc = kz_index_locate(ix, docid, &seg, &local);
    return rc ? rc : kz_segment_doc_simhash(kz_index_segment(ix, seg), local, fp);
}

/* group[i]: the index in r->hits of hit i's leader (i itself for a leader).
 * *n_leaders gets the number of groups. */
static int collapse_groups(kz_index *ix, const kz_results *r, uint32_t *group, size_t *n_leaders)
{
    size_t n = r->n_hits;
    uint64_t fp_small[SMALL_WINDOW];
    uint64_t *fp = n <= SMALL_WINDOW ? fp_small : malloc(n * sizeof *fp);
    if (!fp)
        return oom();
    /* Each hit located once, its fingerprint asked for at once (fp[i]
     * holds where it is, segment << 32 | docid there), then read. */
    int rc = KZ_OK;
    size_t located = 0;
    for (; located < n; located++) {
        size_t seg;
        uint32_t local;
        if ((rc = kz_index_locate(ix, r->hits[located].docid, &seg, &local)))
            break;
        kz_segment_doc_simhash_prefetch(kz_index_segment(ix, seg), local);
        fp[located] = (uint64_t)seg << 32 | local;
    }
    for (size_t i = 0; i < located; i++) {
        int read = kz_segment_doc_simhash(kz_index_segment(ix, (size_t)(fp[i] >> 32)), (uint32_t)fp[i], &fp[i]);
        if (read) { /* the first failure in rank order, as before */
            rc = read;
            break;
        }
    }
    if (rc == KZ_OK)
        rc = groups_of(fp, n, group, n_leaders);
    if (fp != fp_small)
        free(fp);
    return rc;
}

/* Keeps the leaders offset .. offset + limit - 1 of r's ranking as its
 * hits, each with the other documents of its group, in rank order. */
static int collapse_cut(kz_results *r, const uint32_t *group, size_t groups, uint32_t offset, uint32_t limit)
{
    size_t n = r->n_hits, n_leaders = 0, n_similar = 0;
    if (groups == n) { /* every hit leads: the page is a slice, in place */
        size_t from = KZ_MIN((size_t)offset, n), keep = KZ_MIN(n - from, (size_t)limit);
        memmove(r->hits, r->hits + from, keep * sizeof *r->hits);
        if (r->keys)
            memmove(r->keys, r->keys + from, keep * sizeof *r->keys);
        r->offset = offset;
        r->n_hits = keep;
        r->all_words_hits = r->total_all_words;
        return KZ_OK;
    }
    uint64_t members_all_words = 0;
    /* slot[i]: for a leader, its place among the kept hits (SIZE_MAX when
     * not kept); a member goes where its leader does. */
    size_t *slot = malloc((n ? n : 1) * sizeof *slot);
    if (!slot)
        return oom();
    for (size_t i = 0; i < n; i++) {
        if (group[i] == i) {
            slot[i] = n_leaders >= offset && n_leaders - offset < limit ? n_leaders - offset : SIZE_MAX;
            n_leaders++;
        } else {
            slot[i] = slot[group[i]];
            n_similar += slot[i] != SIZE_MAX;
            members_all_words += i < r->total_all_words;
        }
    }
    size_t keep = n_leaders > offset ? KZ_MIN(n_leaders - offset, (size_t)limit) : 0;
    kz_hit *hits = malloc((keep ? keep : 1) * sizeof *hits);
    size_t *at = calloc(keep + 1, sizeof *at);
    kz_hit *similar = malloc((n_similar ? n_similar : 1) * sizeof *similar);
    size_t *cur = malloc((keep ? keep : 1) * sizeof *cur);
    if (!hits || !at || !similar || !cur) {
        free(slot);
        free(hits);
        free(at);
        free(similar);
        free(cur);
        return oom();
    }
    for (size_t i = 0; i < n; i++)
        if (group[i] != i && slot[i] != SIZE_MAX)
            at[slot[i] + 1]++;
    for (size_t j = 0; j < keep; j++)
        at[j + 1] += at[j];
    memcpy(cur, at, keep * sizeof *cur);
    for (size_t i = 0; i < n; i++) {
        if (slot[i] == SIZE_MAX)
            continue;
        if (group[i] == i) {
            hits[slot[i]] = r->hits[i];
            if (r->keys) /* slot[i] <= i: in place */
                r->keys[slot[i]] = r->keys[i];
        } else {
            similar[cur[slot[i]]++] = r->hits[i];
        }
    }
    free(cur);
    free(slot);
    free(r->hits);
    r->offset = offset;
    r->hits = hits;
    r->n_hits = keep;
    r->similar = similar;
    r->similar_at = at;
    r->collapsed = n_similar;
    r->all_words_hits = r->total_all_words - members_all_words;
    return KZ_OK;
}

int kz_query_run(kz_results **out, kz_query *q, const kz_search_options *opts)
{
    *out = NULL;
    kz_search_options o;
    int rc = options_resolve(&o, opts);
    if (rc)
        return rc;
    if (o.flags & (KZ_SEARCH_COUNT_ONLY | KZ_SEARCH_NO_COLLAPSE))
        return run_ranked(out, q, &o, UINT64_MAX);
    uint64_t want = (uint64_t)o.offset + o.limit;
    for (unsigned round = 0;; round++) {
        uint64_t fetch, fill;
        kz_collapse_round(&fetch, &fill, want, round);
        kz_search_options f = o;
        f.offset = 0;
        f.limit = (uint32_t)KZ_MIN(fetch, (uint64_t)UINT32_MAX);
        kz_results *r;
        if ((rc = run_ranked(&r, q, &f, fill)))
            return rc;
        /* run_ranked ranks just the window; a ranking that stopped short
         * (a time budget) walks what it has. */
        uint64_t window = kz_collapse_window(f.limit, fill, r->total, r->total_all_words);
        r->n_hits = (size_t)KZ_MIN((uint64_t)r->n_hits, window);
        uint32_t group_small[SMALL_WINDOW];
        uint32_t *group = r->n_hits <= SMALL_WINDOW ? group_small : malloc(r->n_hits * sizeof *group);
        size_t n_leaders = 0;
        if (!group)
            rc = oom();
        else
            rc = collapse_groups(q->ix, r, group, &n_leaders);
        if (rc == KZ_OK && n_leaders < want && r->n_hits == window && window < r->total && f.limit < UINT32_MAX) {
            if (group != group_small)
                free(group);
            kz_results_free(r);
            continue;
        }
        if (rc == KZ_OK)
            rc = collapse_cut(r, group, n_leaders, o.offset, o.limit);
        if (group != group_small)
            free(group);
        if (rc) {
            kz_results_free(r);
            return rc;
        }
        *out = r;
        return KZ_OK;
    }
}

void kz_collapse_round(uint64_t *fetch, uint64_t *fill, uint64_t want, unsigned round)
{
    uint64_t f = want + KZ_MAX(want / 4, (uint64_t)KZ_COLLAPSE_MARGIN);
    for (unsigned i = 0; i < round && f < UINT32_MAX; i++)
        f *= 4;
    *fetch = KZ_MIN(f, (uint64_t)UINT32_MAX);
    /* A small page's five more matches without every word would cost a
     * fifth more time (their threshold prunes less) and seldom hold a
     * near-duplicate (one top 10 of 362 on wikipedia-en's passages); a
     * page of hundreds often does (54 top 1000s of 362), and its quarter
     * more costs less. */
    *fill = round == 0 && want / 4 <= KZ_COLLAPSE_MARGIN ? want : *fetch;
}

uint64_t kz_collapse_window(uint64_t fetch, uint64_t fill, uint64_t total, uint64_t total_all_words)
{
    return KZ_MIN(total, KZ_MAX(fill, KZ_MIN(total_all_words, fetch)));
}

int kz_search(kz_results **out, kz_index *ix, const char *query, size_t len, const kz_search_options *opts)
{
    kz_query *q;
    *out = NULL;
    int rc = kz_query_parse(&q, ix, query, len, 0, NULL);
    if (rc)
        return rc;
    rc = kz_query_run(out, q, opts);
    kz_query_free(q);
    return rc;
}

/* ------------------------------------------------- several machines' hits */

int kz_results_ranked(kz_ranked *out, kz_index *ix, const kz_results *r, size_t i, uint64_t docid_base)
{
    memset(out, 0, sizeof *out);
    if (i >= r->n_hits)
        return kz_error_set(KZ_EINVAL, "kz_results_ranked: no hit %zu", i);
    out->score = r->hits[i].score;
    out->docid = docid_base + r->hits[i].docid;
    out->sort_key = r->keys ? r->keys[i] : KZ_NO_SORT_KEY;
    out->all_words = (uint64_t)r->offset + i < r->total_all_words;
    return doc_fingerprint(ix, r->hits[i].docid, &out->fingerprint);
}

/* The order of kz_query_run: AND matches first (AUTO), then by key when
 * sorted (sort_after), then by score, then by docid. */
int kz_ranked_cmp(const kz_ranked *a, const kz_ranked *b, const kz_search_options *o)
{
    if (a->all_words != b->all_words)
        return a->all_words ? -1 : 1;
    int k = o->sort_field ? key_after(a->sort_key, b->sort_key, o->sort_descending) : 0;
    if (k)
        return k;
    if (a->score != b->score)
        return a->score < b->score ? 1 : -1;
    return a->docid < b->docid ? -1 : a->docid > b->docid;
}

int kz_query_and_first(const kz_query *q) { return q->root != NONE && has_default(q) && !q->default_under_not; }

int kz_ranked_collapse(uint32_t *group, size_t *n_leaders, const kz_ranked *v, size_t n)
{
    uint64_t *fp = malloc((n ? n : 1) * sizeof *fp);
    if (!fp)
        return oom();
    for (size_t i = 0; i < n; i++)
        fp[i] = v[i].fingerprint;
    int rc = groups_of(fp, n, group, n_leaders);
    free(fp);
    return rc;
}

int kz_query_results_of(kz_results **out, kz_query *q, const kz_search_options *opts, const kz_hit *hits, size_t n)
{
    *out = NULL;
    kz_search_options o;
    int rc = options_resolve(&o, opts);
    if (rc)
        return rc;
    kz_index_info info;
    query_info(q, &info);
    eval e = { 0 };
    e.ix = q->ix;
    e.q = q;
    e.n_docs = (double)info.docs;
    kz_results *r = calloc(1, sizeof *r);
    if (!r || !(r->hits = malloc((n ? n : 1) * sizeof *r->hits))) {
        rc = oom();
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (hits[i].docid >= info.docids) {
            rc = kz_error_set(KZ_EINVAL, "no document %u in the index", hits[i].docid);
            goto done;
        }
        r->hits[i] = hits[i];
    }
    r->n_hits = n;
    r->k1 = o.k1;
    r->b = o.b;
    r->avgdl = info.avgdl;
    r->mode = o.mode == KZ_MODE_ANY ? KZ_MODE_ANY : KZ_MODE_ALL;
    if ((rc = eval_open(&e)) == KZ_OK)
        rc = results_units(r, q, &e);
done:
    eval_free(&e);
    if (rc) {
        kz_results_free(r);
        return rc;
    }
    *out = r;
    return KZ_OK;
}

void kz_results_free(kz_results *r)
{
    if (!r)
        return;
    free(r->keys);
    for (size_t i = 0; r->terms && i < r->n_terms; i++)
        free(r->terms[i]);
    for (size_t u = 0; r->units && u < r->n_units; u++)
        free((void *)r->units[u].terms);
    free(r->units);
    free(r->terms);
    free(r->term_idf);
    free(r->hits);
    free(r->similar_at);
    free(r->similar);
    for (size_t i = 0; i < r->n_facets; i++)
        facet_free(&r->facets[i]);
    free(r->facets);
    free(r);
}

size_t kz_results_count(const kz_results *r) { return r->n_hits; }
uint64_t kz_results_total(const kz_results *r) { return r->total; }

size_t kz_results_facet_count(const kz_results *r, size_t facet)
{
    return facet < r->n_facets ? r->facets[facet].n : 0;
}

const char *kz_results_facet_value(const kz_results *r, size_t facet, size_t i, size_t *len, uint64_t *docs)
{
    if (facet >= r->n_facets || i >= r->facets[facet].n)
        return NULL;
    const facet_value *v = &r->facets[facet].v[i];
    *len = v->len;
    *docs = v->docs;
    return v->value;
}
const kz_hit *kz_results_hit(const kz_results *r, size_t i) { return i < r->n_hits ? &r->hits[i] : NULL; }
size_t kz_results_similar_count(const kz_results *r, size_t i)
{
    return r->similar_at && i < r->n_hits ? r->similar_at[i + 1] - r->similar_at[i] : 0;
}
const kz_hit *kz_results_similar(const kz_results *r, size_t i, size_t j)
{
    return j < kz_results_similar_count(r, i) ? &r->similar[r->similar_at[i] + j] : NULL;
}
uint64_t kz_results_collapsed(const kz_results *r) { return r->collapsed; }
uint64_t kz_results_all_words_hits(const kz_results *r) { return r->all_words_hits; }
kz_mode kz_results_mode(const kz_results *r) { return r->mode; }

uint64_t kz_results_total_all_words(const kz_results *r) { return r->total_all_words; }
size_t kz_results_term_count(const kz_results *r) { return r->n_terms; }
const char *kz_results_term(const kz_results *r, size_t i) { return i < r->n_terms ? r->terms[i] : NULL; }
double kz_results_idf(const kz_results *r, size_t i) { return i < r->n_terms ? r->term_idf[i] : 0.0; }
size_t kz_results_unit_count(const kz_results *r) { return r->n_units; }
const kz_unit *kz_results_unit(const kz_results *r, size_t i) { return i < r->n_units ? &r->units[i] : NULL; }

/* ------------------------------------------------------------- explain */

int kz_results_explain(kz_explanation *out, kz_index *ix, const kz_results *r, size_t hit)
{
    memset(out, 0, sizeof *out);
    if (hit >= r->n_hits)
        return kz_error_set(KZ_EINVAL, "hit %zu out of range", hit);
    uint32_t d = r->hits[hit].docid, local;
    size_t seg;
    int rc = kz_index_locate(ix, d, &seg, &local);
    if (rc)
        return rc;
    out->docid = d;
    out->k1 = r->k1;
    out->b = r->b;
    out->avgdl = r->avgdl;
    if ((rc = kz_index_doc_length_at(ix, d, &out->dl)))
        return rc;
    out->n_units = r->n_units;
    if (!(out->units = calloc(r->n_units ? r->n_units : 1, sizeof *out->units)))
        return oom();
    for (size_t u = 0; u < r->n_units && rc == KZ_OK; u++) {
        const kz_unit *ku = &r->units[u];
        kz_explain_unit *xu = &out->units[u];
        xu->idf = ku->idf;
        /* The unit's tf at d, from its postings in d's segment: a query of
         * one leaf. */
        kz_qterm *terms = calloc(ku->n_terms, sizeof *terms);
        uint32_t *leaf_terms = calloc(ku->n_terms, sizeof *leaf_terms), unit_leaf = 0;
        kz_qnode leaf = { KZ_QNODE_LEAF, KZ_OCCUR_DEFAULT, 1, 0, (uint32_t)ku->n_terms, 0, 0, 0, 0, 0 };
        if (!terms || !leaf_terms)
            rc = oom();
        for (size_t i = 0; rc == KZ_OK && i < ku->n_terms; i++) {
            leaf_terms[i] = (uint32_t)i;
            terms[i].text = (char *)ku->terms[i];
            terms[i].len = strlen(ku->terms[i]);
            terms[i].found = 1; /* looked up in the segment by segment_open */
        }
        if (rc == KZ_OK) {
            kz_query one = { 0 };
            one.ix = ix;
            one.terms = terms;
            one.n_terms = ku->n_terms;
            one.nodes = &leaf;
            one.n_nodes = 1;
            one.leaf_terms = leaf_terms;
            one.n_leaf_terms = ku->n_terms;
            one.units = &unit_leaf;
            one.n_units = 1;
            one.root = 0;
            eval e = { 0 };
            e.ix = ix;
            e.q = &one;
            e.k = 1;
            if ((rc = eval_open(&e)) == KZ_OK && (rc = segment_open(&e, seg)) == KZ_OK) {
                leaf_start(&e, &e.score[0], &leaf);
                xu->tf = leaf_tf(&e, &e.score[0], local);
                rc = e.rc;
            }
            eval_free(&e);
        }
        if (rc == KZ_OK && xu->tf)
            xu->weight = bm25_w(xu->idf, (double)xu->tf, (double)out->dl, r->avgdl, r->k1, r->b);
        if (rc == KZ_OK && xu->tf)
            out->score += xu->weight;
        free(terms);
        free(leaf_terms);
    }
    if (rc)
        kz_explanation_free(out);
    return rc;
}

void kz_explanation_free(kz_explanation *x)
{
    free(x->units);
    memset(x, 0, sizeof *x);
}
