/*
 * field.c: the terms that index a document's metadata fields (FORMAT.md
 * "Field terms").
 *
 * A field's values are terms of the segment's dictionary, in a namespace
 * no analysed word can enter: byte 0x01, the field's name, byte 0x1F, a
 * kind byte, then the value:
 *
 *   k<value>      a keyword: the value as given, trimmed and case-folded
 *   dY2022        a date value's year, month and day (UTC), so that a
 *   dM2022-03     range of days is the union of a few whole years, months
 *   dD2022-03-01  and days, and the facets by year and month are terms
 *
 * A value that parses as a date (common/date.c) gives date terms and no
 * keyword; any other gives a keyword. So field filters, merges, deletes
 * and the memory bound of a build are those of the postings, with no
 * structure of their own.
 */
#include "kzint.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

int kz_field_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > KZ_FIELD_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return 0;
    return 1;
}

size_t kz_field_prefix(char *out, const char *field, size_t flen, const char *kind)
{
    size_t n = 0, k = strlen(kind);
    out[n++] = KZ_FIELD_MARK;
    memcpy(out + n, field, flen);
    n += flen;
    out[n++] = KZ_FIELD_SEP;
    memcpy(out + n, kind, k);
    return n + k;
}

/* The namespace head of field name: 0x01 name 0x1F kind. */
static size_t head(char *out, const char *field, size_t flen, char kind)
{
    char k[2] = { kind, 0 };
    return kz_field_prefix(out, field, flen, k);
}

int kz_field_keyword_term(char *out, size_t *out_len, const char *field, size_t flen, const char *value, size_t vlen)
{
    if (!kz_field_name_ok(field, flen))
        return -1;
    while (vlen && (*value == ' ' || *value == '\t' || *value == '\n' || *value == '\r')) {
        value++;
        vlen--;
    }
    while (vlen && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t' || value[vlen - 1] == '\n' ||
                    value[vlen - 1] == '\r'))
        vlen--;
    if (vlen == 0)
        return -1;
    size_t n = head(out, field, flen, KZ_FIELD_KEYWORD);
    int ascii = 1;
    for (size_t i = 0; i < vlen && ascii; i++)
        ascii = (unsigned char)value[i] < 0x80;
    if (ascii) {
        if (n + vlen >= KZ_TERM_MAX_BYTES)
            return -1;
        for (size_t i = 0; i < vlen; i++)
            out[n + i] = (char)(value[i] >= 'A' && value[i] <= 'Z' ? value[i] + 32 : value[i]);
        *out_len = n + vlen;
        return 0;
    }
    utf8proc_uint8_t *folded = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)value, (utf8proc_ssize_t)vlen, &folded,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD);
    int rc = -1;
    if (m > 0 && n + (size_t)m < KZ_TERM_MAX_BYTES) {
        memcpy(out + n, folded, (size_t)m);
        *out_len = n + (size_t)m;
        rc = 0;
    }
    free(folded);
    return rc;
}

int kz_field_date_term(char *out, size_t *out_len, const char *field, size_t flen, char level, int year,
                       unsigned month, unsigned day)
{
    if (!kz_field_name_ok(field, flen) || year < 1 || year > 9999)
        return -1;
    size_t n = head(out, field, flen, KZ_FIELD_DATE);
    out[n++] = level;
    int w;
    if (level == KZ_DATE_TERM_YEAR)
        w = snprintf(out + n, 8, "%04d", year);
    else if (level == KZ_DATE_TERM_MONTH)
        w = snprintf(out + n, 12, "%04d-%02u", year, month % 100);
    else
        w = snprintf(out + n, 16, "%04d-%02u-%02u", year, month % 100, day % 100);
    *out_len = n + (size_t)w;
    return 0;
}

int kz_field_terms(const char *field, size_t flen, const char *value, size_t vlen, kz_field_term_fn emit, void *ctx)
{
    char term[KZ_TERM_MAX_BYTES];
    size_t len;
    if (!kz_field_name_ok(field, flen))
        return KZ_OK;
    kz_date d;
    if (kz_date_parse(value, vlen, &d) == 0) {
        static const char levels[3] = { KZ_DATE_TERM_YEAR, KZ_DATE_TERM_MONTH, KZ_DATE_TERM_DAY };
        int n_levels = d.precision == KZ_DATE_MONTH ? 2 : 3;
        for (int i = 0; i < n_levels; i++) {
            if (kz_field_date_term(term, &len, field, flen, levels[i], d.year, d.month, d.day) == 0) {
                int rc = emit(ctx, term, len);
                if (rc)
                    return rc;
            }
        }
        return KZ_OK;
    }
    if (kz_field_keyword_term(term, &len, field, flen, value, vlen) == 0)
        return emit(ctx, term, len);
    return KZ_OK;
}
