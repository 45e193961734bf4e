/*
 * hit_view.c: everything shown of one hit, loaded once for the text, the
 * JSON of a search and the server: its stored fields, its title's marks,
 * the start of its text and its passages.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

void hit_view_free(hit_view *hv)
{
    for (size_t f = 0; f < hv->n_frag; f++)
        kz_snippet_free(&hv->frag[f]);
    free(hv->tmarks);
    free(hv->text);
    hv->n_frag = 0;
    hv->tmarks = NULL;
    hv->text = NULL;
}

int hit_view_load(hit_view *hv, kz_index *ix, const kz_results *r, size_t i, size_t fragments,
                  size_t snippet_chars)
{
    memset(hv, 0, sizeof *hv);
    if (fragments > HIT_VIEW_MAX_FRAGMENTS)
        fragments = HIT_VIEW_MAX_FRAGMENTS;
    hv->h = kz_results_hit(r, i);
    int rc = kz_index_doc(ix, &hv->d, hv->h->docid, hv->meta, HIT_VIEW_MAX_META);
    if (rc == 0)
        rc = kz_highlight_doc(&hv->tmarks, &hv->n_tmarks, ix, r, hv->h->docid, 1, hv->d.title, hv->d.title_len);
    /* Passages come from the first KZ_SNIPPET_SCAN_BYTES: read no more
     * than those and a passage's length (4 bytes a character at most).
     * None asked for: the text is not read. */
    kz_text_marks marks = { NULL, 0 };
    if (rc == 0 && fragments)
        rc = kz_index_doc_text_marked(ix, &hv->text, &hv->len, &marks, hv->h->docid,
                                      KZ_SNIPPET_SCAN_BYTES + 4 * snippet_chars + 64);
    /* With its marks, only the text around the query's words is analysed. */
    if (rc == 0 && fragments)
        rc = kz_snippets_make_marked(hv->frag, &hv->n_frag, fragments, ix, r, hv->h->docid, hv->text, hv->len,
                                     &marks, snippet_chars);
    kz_text_marks_free(&marks);
    /* A passage that runs to the end of what was read goes on in the text. */
    for (size_t f = 0; rc == 0 && f < hv->n_frag; f++)
        if (hv->frag[f].end == hv->len && hv->len < hv->d.text_bytes)
            hv->frag[f].cut_after = 1;
    return rc;
}
