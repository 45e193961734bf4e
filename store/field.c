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
 *   nac .. npc059000000000000  (100)
 *                a number's key (its double's bits, in the numbers'
 *                order) by its first 1 to 16 hex digits, so that a range
 *                is the union of at most 15 terms a level at each end
 *   w<stem>      a word of a field declared text (the builder analyses it)
 *
 * A value that parses as a date (common/date.c) gives date terms and no
 * keyword; any other gives a keyword, and a number also its 16 number
 * terms; a declared type (kz_field_type) narrows that. So field filters, merges, deletes and the memory bound of a
 * build are those of the postings, with no structure of their own.
 */
#include "kzint.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static const char *const type_names[] = { "auto", "keyword", "date", "number", "text" };

const char *kz_field_type_name(kz_field_type type)
{
    return (unsigned)type <= KZ_FIELD_TYPE_TEXT ? type_names[type] : "?";
}

int kz_field_type_parse(kz_field_type *out, const char *name)
{
    for (unsigned i = 0; i <= KZ_FIELD_TYPE_TEXT; i++)
        if (strcmp(name, type_names[i]) == 0) {
            *out = (kz_field_type)i;
            return KZ_OK;
        }
    return kz_error_set(KZ_EINVAL, "\"%s\" is no field type: auto, keyword, date, number or text", name);
}

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

static int blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Drops the blanks (space, tab, CR, LF) at both ends of a value. */
static void trim(const char **value, size_t *vlen)
{
    while (*vlen && blank(**value)) {
        (*value)++;
        (*vlen)--;
    }
    while (*vlen && blank((*value)[*vlen - 1]))
        (*vlen)--;
}

int kz_field_keyword_term(char *out, size_t *out_len, const char *field, size_t flen, const char *value, size_t vlen)
{
    if (!kz_field_name_ok(field, flen))
        return -1;
    trim(&value, &vlen);
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

/* Numbers are read with a '.', whatever locale the program set. */
static locale_t c_numeric;
static pthread_once_t c_numeric_once = PTHREAD_ONCE_INIT;
static void c_numeric_make(void) { c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0); }

int kz_field_number_key(uint64_t *key, const char *value, size_t vlen)
{
    trim(&value, &vlen);
    /* -?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?, a '+' in front allowed. */
    char buf[64];
    size_t i = 0, digits = 0;
    if (vlen == 0 || vlen >= sizeof buf)
        return -1;
    if (value[i] == '-' || value[i] == '+')
        i++;
    for (; i < vlen && value[i] >= '0' && value[i] <= '9'; i++)
        digits++;
    if (digits == 0)
        return -1;
    if (i < vlen && value[i] == '.') {
        size_t frac = 0;
        for (i++; i < vlen && value[i] >= '0' && value[i] <= '9'; i++)
            frac++;
        if (frac == 0)
            return -1;
    }
    if (i < vlen && (value[i] == 'e' || value[i] == 'E')) {
        size_t exp = 0;
        i++;
        if (i < vlen && (value[i] == '+' || value[i] == '-'))
            i++;
        for (; i < vlen && value[i] >= '0' && value[i] <= '9'; i++)
            exp++;
        if (exp == 0)
            return -1;
    }
    if (i != vlen)
        return -1;
    memcpy(buf, value, vlen);
    buf[vlen] = 0;
    pthread_once(&c_numeric_once, c_numeric_make);
    double v = c_numeric ? strtod_l(buf, NULL, c_numeric) : strtod(buf, NULL);
    if (!isfinite(v))
        return -1;
    if (v == 0)
        v = 0; /* -0 */
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    *key = bits >> 63 ? ~bits : bits | (1ull << 63);
    return 0;
}

int kz_field_term_key(uint64_t *key, const char *digits, size_t len)
{
    *key = 0;
    if (len != KZ_NUMBER_LEVELS)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = digits[i];
        unsigned v = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16;
        if (v == 16)
            return -1;
        *key = *key << 4 | v;
    }
    return 0;
}

double kz_field_number_of_key(uint64_t key)
{
    uint64_t bits = key >> 63 ? key & ~(1ull << 63) : ~key;
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

int kz_field_number_term(char *out, size_t *out_len, const char *field, size_t flen, uint64_t key, unsigned digits)
{
    static const char hex[] = "0123456789abcdef";
    if (!kz_field_name_ok(field, flen) || digits < 1 || digits > KZ_NUMBER_LEVELS)
        return -1;
    size_t n = head(out, field, flen, KZ_FIELD_NUMBER);
    out[n++] = (char)('a' + digits - 1);
    for (unsigned i = 0; i < digits; i++)
        out[n++] = hex[(key >> (60 - 4 * i)) & 15];
    *out_len = n;
    return 0;
}

int kz_field_value_fits(kz_field_type type, const char *value, size_t vlen)
{
    kz_date d;
    uint64_t key;
    if (type == KZ_FIELD_TYPE_DATE)
        return kz_date_parse(value, vlen, &d) == 0;
    if (type == KZ_FIELD_TYPE_NUMBER)
        return kz_field_number_key(&key, value, vlen) == 0;
    return 1;
}

int kz_field_word_term(char *out, size_t *out_len, const char *field, size_t flen, const char *stem, size_t len)
{
    if (!kz_field_name_ok(field, flen) || len == 0 || flen + len + 3 >= KZ_TERM_MAX_BYTES)
        return -1;
    size_t n = head(out, field, flen, KZ_FIELD_WORD);
    memcpy(out + n, stem, len);
    *out_len = n + len;
    return 0;
}

int kz_field_terms(const char *field, size_t flen, kz_field_type type, const char *value, size_t vlen,
                   kz_field_term_fn emit, void *ctx)
{
    char term[KZ_TERM_MAX_BYTES];
    size_t len;
    if (!kz_field_name_ok(field, flen) || type == KZ_FIELD_TYPE_TEXT)
        return KZ_OK;
    kz_date d;
    if ((type == KZ_FIELD_TYPE_AUTO || type == KZ_FIELD_TYPE_DATE) && kz_date_parse(value, vlen, &d) == 0) {
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
    if (kz_field_keyword_term(term, &len, field, flen, value, vlen) == 0) {
        int rc = emit(ctx, term, len);
        if (rc)
            return rc;
    }
    uint64_t key;
    if ((type == KZ_FIELD_TYPE_AUTO || type == KZ_FIELD_TYPE_NUMBER) && kz_field_number_key(&key, value, vlen) == 0) {
        for (unsigned digits = 1; digits <= KZ_NUMBER_LEVELS; digits++) {
            if (kz_field_number_term(term, &len, field, flen, key, digits) == 0) {
                int rc = emit(ctx, term, len);
                if (rc)
                    return rc;
            }
        }
    }
    return KZ_OK;
}
