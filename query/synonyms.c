/*
 * synonyms.c: a file of equivalent words and names that queries expand
 * (README "Spelling variants", --synonyms FILE).
 *
 * The file is UTF-8 text: a line is a group of entries separated by
 * commas, each a word or a name of several words ("Kasym-Jomart Tokayev,
 * Токаев, Тоқаев"); blank lines and lines starting with # are skipped.
 * kz_synonyms_parse checks it and keeps its entries as written;
 * kz_index_set_synonyms analyses every entry as the index analyses text
 * and builds a table from each one-term entry's term to its group. A query
 * word whose term is such an entry's also searches every other entry of
 * its groups: a term, or a phrase for an entry of several words.
 */
#include "kzint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#define MAX_FILE_BYTES (64u << 20)
#define MAX_LINE_BYTES 65536
#define MAX_ENTRIES (1u << 20)

typedef struct raw_entry {
    char *text;      /* trimmed, NUL-terminated */
    uint32_t group;
    uint32_t line;
} raw_entry;

struct kz_synonyms {
    raw_entry *e;
    size_t n, cap;
    uint32_t n_groups;
    char *name; /* for messages: the file's path */
};

void kz_synonyms_free(kz_synonyms *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->e[i].text);
    free(s->e);
    free(s->name);
    free(s);
}

static int bad_line(const kz_synonyms *s, uint32_t line, const char *why)
{
    return kz_error_set(KZ_ESYNTAX, "%s:%u: %s", s->name, line, why);
}

static int add_entry(kz_synonyms *s, const char *p, size_t n, uint32_t group, uint32_t line)
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
        n--;
    if (n == 0)
        return bad_line(s, line, "an empty entry (two commas in a row, or one at an end)");
    if (s->n == MAX_ENTRIES)
        return bad_line(s, line, "more than 1,048,576 entries in the file");
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        raw_entry *e = realloc(s->e, cap * sizeof *e);
        if (!e)
            return kz_error_set(KZ_ENOMEM, "out of memory reading %s", s->name);
        s->e = e;
        s->cap = cap;
    }
    if (!(s->e[s->n].text = strndup(p, n)))
        return kz_error_set(KZ_ENOMEM, "out of memory reading %s", s->name);
    s->e[s->n].group = group;
    s->e[s->n].line = line;
    s->n++;
    return KZ_OK;
}

int kz_synonyms_parse(kz_synonyms **out, const char *text, size_t len, const char *name)
{
    *out = NULL;
    kz_synonyms *s = calloc(1, sizeof *s);
    if (!s || !(s->name = strdup(name ? name : "synonyms"))) {
        kz_synonyms_free(s);
        return kz_error_set(KZ_ENOMEM, "out of memory");
    }
    int rc = KZ_OK;
    uint32_t line = 0;
    for (size_t at = 0; at < len && rc == KZ_OK;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *l = text + at;
        size_t n = end - at;
        at = nl ? end + 1 : len;
        line++;
        if (n > MAX_LINE_BYTES) {
            rc = bad_line(s, line, "a line longer than 64 KiB");
            break;
        }
        if (kz_utf8_count_invalid(l, n)) {
            rc = bad_line(s, line, "not UTF-8");
            break;
        }
        size_t k = 0;
        while (k < n && (l[k] == ' ' || l[k] == '\t' || l[k] == '\r'))
            k++;
        if (k == n || l[k] == '#')
            continue;
        if (memchr(l, 0, n)) {
            rc = bad_line(s, line, "a NUL byte");
            break;
        }
        size_t first = s->n;
        for (size_t from = 0; rc == KZ_OK;) {
            const char *comma = memchr(l + from, ',', n - from);
            size_t to = comma ? (size_t)(comma - l) : n;
            rc = add_entry(s, l + from, to - from, s->n_groups, line);
            if (!comma)
                break;
            from = to + 1;
        }
        if (rc == KZ_OK && s->n - first < 2)
            rc = bad_line(s, line, "a group needs two or more entries, separated by commas");
        s->n_groups++;
    }
    if (rc) {
        kz_synonyms_free(s);
        return rc;
    }
    *out = s;
    return KZ_OK;
}

int kz_synonyms_load(kz_synonyms **out, const char *path)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return kz_error_errno(errno == ENOENT ? KZ_ENOTFOUND : KZ_EIO, errno, "cannot open %s", path);
    kz_buf b = { 0 };
    char chunk[65536];
    size_t got;
    int rc = KZ_OK;
    while (rc == KZ_OK && (got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + got > MAX_FILE_BYTES)
            rc = kz_error_set(KZ_ELIMIT, "%s is larger than 64 MiB", path);
        else
            rc = kz_buf_append(&b, chunk, got);
    }
    if (rc == KZ_OK && ferror(f))
        rc = kz_error_errno(KZ_EIO, errno, "cannot read %s", path);
    fclose(f);
    if (rc == KZ_OK)
        rc = kz_synonyms_parse(out, (const char *)b.data, b.len, path);
    kz_buf_free(&b);
    return rc;
}

/* ---------------------------------------------------------------- table */

typedef struct bound_entry {
    char **terms; /* stems, NUL-terminated */
    size_t n_terms;
    uint32_t group;
    const char *text; /* as written, in the table's own copy */
} bound_entry;

struct kz_synonym_table {
    bound_entry *e;
    size_t n;
    uint32_t *group_first; /* entries of group g: [group_first[g], group_first[g + 1]) */
    uint32_t n_groups;
    /* one-term entries by their term: open addressing, entry index + 1 */
    uint32_t *slot;
    size_t n_slots;
    char **texts;
};

void kz_synonym_table_free(kz_synonym_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        for (size_t j = 0; j < t->e[i].n_terms; j++)
            free(t->e[i].terms[j]);
        free(t->e[i].terms);
        free(t->texts[i]);
    }
    free(t->texts);
    free(t->e);
    free(t->group_first);
    free(t->slot);
    free(t);
}

int kz_synonym_table_new(kz_synonym_table **out, const kz_synonyms *s, kz_analyzer *a)
{
    *out = NULL;
    int rc = KZ_OK;
    kz_tokvec tv = { 0 };
    kz_synonym_table *t = calloc(1, sizeof *t);
    if (!t || !(t->e = calloc(s->n + 1, sizeof *t->e)) || !(t->texts = calloc(s->n + 1, sizeof *t->texts)) ||
        !(t->group_first = calloc((size_t)s->n_groups + 1, sizeof *t->group_first))) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    t->n = s->n;
    t->n_groups = s->n_groups;
    for (size_t i = 0; i < s->n && rc == KZ_OK; i++) {
        bound_entry *e = &t->e[i];
        e->group = s->e[i].group;
        if (!(t->texts[i] = strdup(s->e[i].text))) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
            break;
        }
        e->text = t->texts[i];
        tv.len = 0;
        if ((rc = kz_analyzer_run(a, e->text, strlen(e->text), &tv)))
            break;
        if (tv.len == 0) {
            rc = kz_error_set(KZ_ESYNTAX, "%s:%u: \"%s\" has no words", s->name, s->e[i].line, e->text);
            break;
        }
        if (tv.len > 3) {
            rc = kz_error_set(KZ_ESYNTAX, "%s:%u: \"%s\" has more than 3 words", s->name, s->e[i].line, e->text);
            break;
        }
        if (!(e->terms = calloc(tv.len, sizeof *e->terms))) {
            rc = kz_error_set(KZ_ENOMEM, "out of memory");
            break;
        }
        for (size_t j = 0; j < tv.len; j++) {
            size_t len;
            const char *term = kz_analyzer_term(a, tv.v[j].term, &len);
            if (!(e->terms[j] = strndup(term, len))) {
                rc = kz_error_set(KZ_ENOMEM, "out of memory");
                break;
            }
            e->n_terms++;
        }
    }
    if (rc)
        goto done;
    /* Entries come in group order: the first of each group. */
    for (size_t i = t->n; i-- > 0;)
        t->group_first[t->e[i].group] = (uint32_t)i;
    t->group_first[t->n_groups] = (uint32_t)t->n;
    t->n_slots = 16;
    while (t->n_slots < 2 * t->n + 2)
        t->n_slots *= 2;
    if (!(t->slot = calloc(t->n_slots, sizeof *t->slot))) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (t->e[i].n_terms != 1)
            continue;
        size_t k = XXH3_64bits(t->e[i].terms[0], strlen(t->e[i].terms[0])) & (t->n_slots - 1);
        while (t->slot[k])
            k = (k + 1) & (t->n_slots - 1);
        t->slot[k] = (uint32_t)i + 1;
    }
    *out = t;
    t = NULL;
done:
    kz_tokvec_free(&tv);
    kz_synonym_table_free(t);
    return rc;
}

size_t kz_synonym_groups_of(const kz_synonym_table *t, const char *term, size_t len, uint32_t *groups, size_t max)
{
    size_t n = 0;
    if (!t)
        return 0;
    size_t k = XXH3_64bits(term, len) & (t->n_slots - 1);
    for (; t->slot[k]; k = (k + 1) & (t->n_slots - 1)) {
        const bound_entry *e = &t->e[t->slot[k] - 1];
        if (strlen(e->terms[0]) != len || memcmp(e->terms[0], term, len) != 0)
            continue;
        int seen = 0;
        for (size_t i = 0; i < n; i++)
            seen |= groups[i] == e->group;
        if (!seen && n < max)
            groups[n++] = e->group;
    }
    return n;
}

size_t kz_synonym_group_size(const kz_synonym_table *t, uint32_t g)
{
    return t->group_first[g + 1] - t->group_first[g];
}

const char *kz_synonym_entry(const kz_synonym_table *t, uint32_t g, size_t i, const char *const **terms,
                             size_t *n_terms)
{
    const bound_entry *e = &t->e[t->group_first[g] + i];
    *terms = (const char *const *)e->terms;
    *n_terms = e->n_terms;
    return e->text;
}
