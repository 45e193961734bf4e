/*
 * jsonl.c: the parser of JSON Lines records.
 *
 * A record is one line holding one JSON object (RFC 8259, strictly: no
 * trailing commas, no single quotes, no comments, no NaN). Its fields:
 *
 *   "id"     required: a string, or an integer number kept as its text;
 *   "title"  optional string; missing or null gives "";
 *   "text"   required string, unless the record has
 *   "html"   a web page, whose text the caller extracts (html.c): text is
 *            then NULL; with both, text is the text and html is not used;
 *   others   metadata: strings as they are, numbers and true/false as their
 *            JSON text; an array of such scalars gives one entry of its key
 *            for each, in order (a field of several values; none for []).
 *            A null, an object, or an array holding null, an object or an
 *            array is dropped and counted in n_dropped_fields.
 *
 * When a key occurs twice in one record the last value wins, as in
 * JavaScript and Python: a metadata field keeps the position of its first
 * occurrence and takes the value of its last; a later null drops an earlier
 * string; a later "title": null makes the title "" again. The repeats are
 * counted (n_repeated_keys), so that the builder reports them.
 *
 * The parser is a hand-written loop over the bytes of the line. The record
 * and its fields are parsed by straight-line code; anything nested deeper
 * (objects and arrays that are dropped) is skipped by skip_value(), which
 * keeps its own stack of at most MAX_DEPTH levels, so hostile input cannot
 * exhaust the C stack. String bodies are scanned eight bytes at a time for
 * '"', '\\' and control characters, and each run between escapes is copied
 * with one memcpy.
 *
 * Everything decoded goes to the end of the parser's scratch buffer, each
 * string followed by a NUL (not counted in its length) so that callers and
 * tests may use it as a C string when it holds no NUL of its own. The
 * buffer may move when it grows, so the parse records offsets and turns
 * them into pointers only once the line is done.
 */
#include "kzint.h"

#include <stdlib.h>

#define MAX_DEPTH 64 /* the record object is level 1 */

/* Bytes [off, off+len) of the scratch buffer. */
typedef struct span {
    size_t off;
    size_t len;
} span;

/* A metadata field while the line is parsed. */
typedef struct field {
    span key;
    span value;            /* a scalar's bytes, or an array's items (items_of()) */
    uint32_t n_items;      /* 1 for a scalar, the items of an array */
    unsigned char is_array;
    unsigned char dropped; /* value of an unusable type */
    unsigned char dead;    /* superseded by a later field of the same key */
} field;

/* Used to find duplicate keys among many fields; see dedupe_fields(). */
typedef struct key_ref {
    const uint8_t *key;
    size_t len;
    size_t index;
} key_ref;

/* Everything the parser allocates is its own and is reused from line to line,
 * so the scratch keeps the capacity of the longest line seen until the
 * parser is freed. */
struct kz_jsonl_parser {
    kz_buf scratch; /* decoded strings of the last line */
    field *fields;
    size_t n_fields;
    size_t fields_cap;
    kz_meta *meta; /* the last document's metadata */
    size_t meta_cap;
    key_ref *refs;
    size_t refs_cap;
    const char *repeated_key; /* the first required key seen twice, or NULL */
};

/* The line being parsed. */
typedef struct cursor {
    const uint8_t *s;
    size_t len;
    size_t pos;
    kz_buf *out; /* the parser's scratch */
    unsigned lone_surrogates; /* \u escapes of half a pair, decoded as U+FFFD */
} cursor;

/* What a value turned out to be. */
enum value_kind {
    V_STRING,
    V_INTEGER, /* a number without fraction or exponent */
    V_NUMBER,  /* any other number */
    V_TRUE,
    V_FALSE,
    V_NULL,
    V_ARRAY,
    V_OBJECT
};

static const char *kind_name(int kind)
{
    switch (kind) {
    case V_STRING: return "a string";
    case V_INTEGER: return "an integer";
    case V_NUMBER: return "a number with a fraction or exponent";
    case V_TRUE: return "true";
    case V_FALSE: return "false";
    case V_NULL: return "null";
    case V_ARRAY: return "an array";
    default: return "an object";
    }
}

/* The fields the indexer reads itself: id, title, and text or, for a
 * web page, html (extracted by the caller, html.c). */
enum { F_ID, F_TITLE, F_TEXT, F_HTML, F_COUNT };
static const char *const field_names[F_COUNT] = {"id", "title", "text", "html"};

enum { S_MISSING, S_OK, S_BAD };

typedef struct required {
    int state;           /* S_MISSING, S_OK or S_BAD */
    unsigned seen;       /* times the key occurred */
    span value;          /* if S_OK */
    int kind;            /* if S_BAD: what the value was */
} required;

/* --------------------------------------------------------------- errors */

/* Records "column N: <what>, found <the byte at pos>" and returns
 * KZ_ESYNTAX. Columns count bytes from 1. */
static int syntax_error(const cursor *c, size_t pos, const char *what)
{
    if (pos >= c->len)
        return kz_error_set(KZ_ESYNTAX, "column %zu: %s, found the end of the line", pos + 1,
                            what);
    uint8_t ch = c->s[pos];
    if (ch >= 0x20 && ch < 0x7F)
        return kz_error_set(KZ_ESYNTAX, "column %zu: %s, found '%c'", pos + 1, what, ch);
    return kz_error_set(KZ_ESYNTAX, "column %zu: %s, found byte 0x%02X", pos + 1, what, ch);
}

/* -------------------------------------------------------------- scratch */

static inline int put(kz_buf *b, const void *data, size_t n)
{
    if (KZ_UNLIKELY(b->cap - b->len < n) && kz_buf_reserve(b, n) != KZ_OK)
        return KZ_ENOMEM;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return KZ_OK;
}

static inline int put_byte(kz_buf *b, uint8_t v)
{
    if (KZ_UNLIKELY(b->cap == b->len) && kz_buf_reserve(b, 1) != KZ_OK)
        return KZ_ENOMEM;
    b->data[b->len++] = v;
    return KZ_OK;
}

/* Appends code point cp (at most U+10FFFF, not a surrogate) as UTF-8. */
static int put_utf8(kz_buf *b, uint32_t cp)
{
    uint8_t e[4];
    size_t n;
    if (cp < 0x80) {
        e[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        e[0] = (uint8_t)(0xC0 | cp >> 6);
        e[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        e[0] = (uint8_t)(0xE0 | cp >> 12);
        e[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        e[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        e[0] = (uint8_t)(0xF0 | cp >> 18);
        e[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
        e[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        e[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return put(b, e, n);
}

/* ---------------------------------------------------------------- lexer */

static inline void skip_ws(cursor *c)
{
    while (c->pos < c->len) {
        uint8_t ch = c->s[c->pos];
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
            break;
        c->pos++;
    }
}

/* The byte at the cursor, or -1 at the end of the line. */
static inline int peek(const cursor *c) { return c->pos < c->len ? c->s[c->pos] : -1; }

/* Returns the offset of the first '"', '\\' or byte below 0x20 in
 * [i, len), or len. Eight bytes at a time: a byte b of v is flagged in m
 * when b == '"', b == '\\' or b < 0x20. The usual zero-byte trick can flag
 * false positives, but only above a true one, so the lowest flag is exact. */
static inline size_t find_special(const uint8_t *s, size_t i, size_t len)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (len - i >= 8) {
        uint64_t v = kz_load_u64(s + i);
        uint64_t q = v ^ (ones * '"');
        uint64_t bs = v ^ (ones * '\\');
        uint64_t m = (((q - ones) & ~q) | ((bs - ones) & ~bs) | ((v - ones * 0x20) & ~v)) & highs;
        if (m) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return i + (size_t)(__builtin_ctzll(m) >> 3);
#else
            break;
#endif
        }
        i += 8;
    }
    while (i < len && s[i] != '"' && s[i] != '\\' && s[i] >= 0x20)
        i++;
    return i;
}

static inline int hex_value(uint8_t ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch |= 0x20;
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* Reads the four hex digits of a \u escape whose 'u' is at pos. */
static int read_hex4(const cursor *c, size_t pos, uint32_t *out)
{
    uint32_t v = 0;
    for (size_t k = 1; k <= 4; k++) {
        int d = pos + k < c->len ? hex_value(c->s[pos + k]) : -1;
        if (d < 0)
            return syntax_error(c, pos + k, "expected 4 hex digits after \\u");
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return KZ_OK;
}

/* Decodes the \u escape whose 'u' is at c->pos and moves past it (and past
 * a second escape when the two form a surrogate pair). */
static int decode_u_escape(cursor *c)
{
    uint32_t cp = 0, lo = 0;
    int rc = read_hex4(c, c->pos, &cp);
    if (rc)
        return rc;
    c->pos += 5;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        /* A high surrogate: combine with a following low one. Otherwise it
         * is lone, and what follows is read on its own. */
        if (c->len - c->pos >= 6 && c->s[c->pos] == '\\' && c->s[c->pos + 1] == 'u' &&
            read_hex4(c, c->pos + 1, &lo) == KZ_OK && lo >= 0xDC00 && lo <= 0xDFFF) {
            c->pos += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else {
            cp = 0xFFFD;
            c->lone_surrogates++;
        }
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        cp = 0xFFFD; /* a lone low surrogate */
        c->lone_surrogates++;
    }
    return put_utf8(c->out, cp);
}

/* Decodes the string whose opening quote is at c->pos onto the end of the
 * scratch (no NUL added) and moves past its closing quote. Bytes >= 0x80
 * are copied as they are, valid UTF-8 or not. */
static int parse_string(cursor *c)
{
    const uint8_t *s = c->s;
    size_t len = c->len;
    size_t i = c->pos + 1;

    for (;;) {
        size_t j = find_special(s, i, len);
        if (j > i && put(c->out, s + i, j - i) != KZ_OK)
            return KZ_ENOMEM;
        if (j == len)
            return syntax_error(c, j, "expected '\"' to end the string");
        uint8_t ch = s[j];
        if (ch == '"') {
            c->pos = j + 1;
            return KZ_OK;
        }
        if (ch != '\\')
            return syntax_error(c, j, "control characters in strings must be escaped");
        uint8_t decoded;
        switch (j + 1 < len ? s[j + 1] : 0) {
        case '"': decoded = '"'; break;
        case '\\': decoded = '\\'; break;
        case '/': decoded = '/'; break;
        case 'b': decoded = '\b'; break;
        case 'f': decoded = '\f'; break;
        case 'n': decoded = '\n'; break;
        case 'r': decoded = '\r'; break;
        case 't': decoded = '\t'; break;
        case 'u': {
            c->pos = j + 1;
            int rc = decode_u_escape(c);
            if (rc)
                return rc;
            i = c->pos;
            continue;
        }
        default:
            return syntax_error(c, j + 1, "expected one of \" \\ / b f n r t u after '\\'");
        }
        if (put_byte(c->out, decoded) != KZ_OK)
            return KZ_ENOMEM;
        i = j + 2;
    }
}

static inline int is_digit(int ch) { return ch >= '0' && ch <= '9'; }

/* Checks the number at c->pos against the RFC 8259 grammar
 *   -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
 * and moves past it. *integer says whether it had neither fraction nor
 * exponent. */
static int scan_number(cursor *c, int *integer)
{
    const uint8_t *s = c->s;
    size_t len = c->len, i = c->pos;

    *integer = 1;
    if (i < len && s[i] == '-')
        i++;
    if (i >= len || !is_digit(s[i]))
        return syntax_error(c, i, "expected a digit");
    if (s[i] == '0') {
        i++;
        if (i < len && is_digit(s[i]))
            return syntax_error(c, i, "numbers may not have leading zeros");
    } else {
        while (i < len && is_digit(s[i]))
            i++;
    }
    if (i < len && s[i] == '.') {
        *integer = 0;
        i++;
        if (i >= len || !is_digit(s[i]))
            return syntax_error(c, i, "expected a digit after '.'");
        while (i < len && is_digit(s[i]))
            i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        *integer = 0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= len || !is_digit(s[i]))
            return syntax_error(c, i, "expected a digit in the exponent");
        while (i < len && is_digit(s[i]))
            i++;
    }
    c->pos = i;
    return KZ_OK;
}

/* Moves past the literal word at c->pos if it is there. */
static int match_literal(cursor *c, const char *word, size_t n)
{
    if (c->len - c->pos < n || memcmp(c->s + c->pos, word, n) != 0)
        return 0;
    c->pos += n;
    return 1;
}

/* Parses a value at c->pos. A scalar is consumed and appended to the
 * scratch: a string decoded, a number or true/false as its JSON text, null
 * as nothing. An array or object is not consumed. *kind says which it was. */
static int parse_scalar(cursor *c, int *kind)
{
    size_t start = c->pos;
    int ch = peek(c);

    switch (ch) {
    case '"':
        *kind = V_STRING;
        return parse_string(c);
    case '[':
        *kind = V_ARRAY;
        return KZ_OK;
    case '{':
        *kind = V_OBJECT;
        return KZ_OK;
    case 't':
        *kind = V_TRUE;
        if (match_literal(c, "true", 4))
            return put(c->out, "true", 4);
        break;
    case 'f':
        *kind = V_FALSE;
        if (match_literal(c, "false", 5))
            return put(c->out, "false", 5);
        break;
    case 'n':
        *kind = V_NULL;
        if (match_literal(c, "null", 4))
            return KZ_OK;
        break;
    default:
        if (ch == '-' || is_digit(ch)) {
            int integer;
            int rc = scan_number(c, &integer);
            if (rc)
                return rc;
            *kind = integer ? V_INTEGER : V_NUMBER;
            return put(c->out, c->s + start, c->pos - start);
        }
        break;
    }
    return syntax_error(c, start, "expected a value");
}

/* Expects an object key and its ':' at c->pos (the key is appended to the
 * scratch) and moves to the start of the value. */
static int parse_key(cursor *c)
{
    if (peek(c) != '"')
        return syntax_error(c, c->pos, "expected a key string");
    int rc = parse_string(c);
    if (rc)
        return rc;
    skip_ws(c);
    if (peek(c) != ':')
        return syntax_error(c, c->pos, "expected ':'");
    c->pos++;
    skip_ws(c);
    return KZ_OK;
}

/* Checks the value of any type at c->pos and moves past it, keeping nothing.
 * depth is the nesting level of the container that holds the value (the
 * record is 1). Instead of recursing it keeps a stack of the containers it
 * is in, at most MAX_DEPTH - depth of them. */
static int skip_value(cursor *c, unsigned depth)
{
    uint8_t open[MAX_DEPTH]; /* the closing bracket of each open container */
    unsigned top = 0;
    size_t mark = c->out->len; /* strings are decoded to be checked, then dropped */
    int rc = KZ_OK;

    for (;;) {
        /* A value starts at c->pos. */
        int ch = peek(c);
        if (ch == '[' || ch == '{') {
            if (depth + top + 1 > MAX_DEPTH) {
                rc = syntax_error(c, c->pos, "nesting is deeper than 64 levels");
                goto done;
            }
            open[top++] = ch == '[' ? ']' : '}';
            c->pos++;
            skip_ws(c);
            if (peek(c) == open[top - 1]) {
                c->pos++;
                top--;
            } else {
                if (ch == '{' && (rc = parse_key(c)) != KZ_OK)
                    goto done;
                continue;
            }
        } else {
            int kind;
            if ((rc = parse_scalar(c, &kind)) != KZ_OK)
                goto done;
        }
        /* A value has ended: close what ends with it, find the next one. */
        for (;;) {
            if (top == 0)
                goto done;
            skip_ws(c);
            ch = peek(c);
            if (ch == ',') {
                c->pos++;
                skip_ws(c);
                if (open[top - 1] == '}' && (rc = parse_key(c)) != KZ_OK)
                    goto done;
                break;
            }
            if (ch != open[top - 1]) {
                rc = syntax_error(c, c->pos, open[top - 1] == ']' ? "expected ',' or ']'"
                                                                  : "expected ',' or '}'");
                goto done;
            }
            c->pos++;
            top--;
        }
    }
done:
    c->out->len = mark;
    return rc;
}

/* Parses the array at c->pos, the value of a metadata field, appending its
 * scalars to the scratch, each as a u32 length (native order), its bytes
 * and a NUL; *n_items counts them. If it holds anything else the array is
 * checked but kept out of the scratch and *dropped is set. */
static int collect_array(cursor *c, span *out, uint32_t *n_items, int *dropped)
{
    kz_buf *b = c->out;
    int rc;

    *dropped = 0;
    *n_items = 0;
    out->off = b->len;
    c->pos++; /* '[' */
    skip_ws(c);
    if (peek(c) == ']') {
        c->pos++;
    } else {
        for (;;) {
            int kind;
            size_t at = b->len;
            uint32_t len = 0;
            if ((rc = put(b, &len, sizeof len)) != KZ_OK)
                return rc;
            if ((rc = parse_scalar(c, &kind)) != KZ_OK)
                return rc;
            if (b->len - at - sizeof len > UINT32_MAX)
                return syntax_error(c, c->pos, "an array item over 4 GiB");
            len = (uint32_t)(b->len - at - sizeof len);
            memcpy(b->data + at, &len, sizeof len);
            if ((rc = put_byte(b, 0)) != KZ_OK)
                return rc;
            (*n_items)++;
            if (kind == V_ARRAY || kind == V_OBJECT) {
                if ((rc = skip_value(c, 2)) != KZ_OK)
                    return rc;
                *dropped = 1;
            } else if (kind == V_NULL) {
                *dropped = 1;
            }
            skip_ws(c);
            int ch = peek(c);
            if (ch == ']') {
                c->pos++;
                break;
            }
            if (ch != ',')
                return syntax_error(c, c->pos, "expected ',' or ']'");
            c->pos++;
            skip_ws(c);
        }
    }
    if (*dropped) {
        b->len = out->off;
        out->len = 0;
        *n_items = 0;
        return KZ_OK;
    }
    out->len = b->len - out->off;
    return KZ_OK;
}

/* ---------------------------------------------------------------- fields */

static int add_field(kz_jsonl_parser *p, span key, span value, uint32_t n_items, int is_array, int dropped)
{
    if (p->n_fields == p->fields_cap) {
        size_t cap = p->fields_cap ? p->fields_cap * 2 : 16;
        field *f = realloc(p->fields, cap * sizeof *f);
        if (!f)
            return kz_error_set(KZ_ENOMEM, "out of memory for %zu metadata fields", cap);
        p->fields = f;
        p->fields_cap = cap;
    }
    field *f = &p->fields[p->n_fields++];
    f->key = key;
    f->value = value;
    f->n_items = n_items;
    f->is_array = (unsigned char)is_array;
    f->dropped = (unsigned char)dropped;
    f->dead = 0;
    return KZ_OK;
}

static int compare_refs(const void *pa, const void *pb)
{
    const key_ref *a = pa, *b = pb;
    int d = kz_bytes_cmp(a->key, a->len, b->key, b->len);
    if (d)
        return d;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Applies "the last value wins" to duplicate keys: the first field of a key
 * takes the value of the last one, the others are marked dead. Pairwise for
 * a few fields, by sorting for many. */
static int dedupe_fields(kz_jsonl_parser *p)
{
    const uint8_t *base = p->scratch.data;
    field *f = p->fields;
    size_t n = p->n_fields;

    if (n < 2)
        return KZ_OK;
    if (n <= 32) {
        for (size_t i = 0; i < n; i++) {
            if (f[i].dead)
                continue;
            for (size_t j = i + 1; j < n; j++) {
                if (!f[j].dead && f[j].key.len == f[i].key.len &&
                    memcmp(base + f[j].key.off, base + f[i].key.off, f[i].key.len) == 0) {
                    f[i].value = f[j].value;
                    f[i].n_items = f[j].n_items;
                    f[i].is_array = f[j].is_array;
                    f[i].dropped = f[j].dropped;
                    f[j].dead = 1;
                }
            }
        }
        return KZ_OK;
    }
    if (p->refs_cap < n) {
        key_ref *r = realloc(p->refs, n * sizeof *r);
        if (!r)
            return kz_error_set(KZ_ENOMEM, "out of memory for %zu metadata fields", n);
        p->refs = r;
        p->refs_cap = n;
    }
    key_ref *r = p->refs;
    for (size_t i = 0; i < n; i++) {
        r[i].key = base + f[i].key.off;
        r[i].len = f[i].key.len;
        r[i].index = i;
    }
    qsort(r, n, sizeof *r, compare_refs);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && r[j].len == r[i].len && memcmp(r[j].key, r[i].key, r[i].len) == 0)
            f[r[j++].index].dead = 1;
        if (j - i > 1) {
            field *first = &f[r[i].index], *last = &f[r[j - 1].index];
            first->value = last->value;
            first->n_items = last->n_items;
            first->is_array = last->is_array;
            first->dropped = last->dropped;
        }
        i = j;
    }
    return KZ_OK;
}

/* Checks the required fields and fills *out from the parse. */
static int finish_doc(kz_jsonl_parser *p, const required *req, unsigned lone_surrogates, kz_jsonl_doc *out)
{
    static const char empty[1] = "";
    int rc;

    for (int k = 0; k < F_COUNT; k++) {
        static const int order[F_COUNT] = {F_ID, F_TEXT, F_HTML, F_TITLE};
        const required *r = &req[order[k]];
        const char *name = field_names[order[k]];
        if (r->state == S_MISSING && order[k] == F_TEXT && req[F_HTML].state == S_MISSING)
            return kz_error_set(KZ_EFIELD, "missing \"%s\"", name);
        if (r->state == S_MISSING && order[k] == F_ID)
            return kz_error_set(KZ_EFIELD, "missing \"%s\"", name);
        if (r->state == S_BAD)
            return kz_error_set(KZ_EFIELD, "\"%s\" is not a string%s (found %s)", name,
                                order[k] == F_ID ? " or an integer" : "", kind_name(r->kind));
    }

    if ((rc = dedupe_fields(p)) != KZ_OK)
        return rc;
    size_t n_entries = 0;
    for (size_t i = 0; i < p->n_fields; i++)
        if (!p->fields[i].dead && !p->fields[i].dropped)
            n_entries += p->fields[i].n_items;
    if (p->meta_cap < n_entries) {
        kz_meta *m = realloc(p->meta, n_entries * sizeof *m);
        if (!m)
            return kz_error_set(KZ_ENOMEM, "out of memory for %zu metadata fields", n_entries);
        p->meta = m;
        p->meta_cap = n_entries;
    }

    const char *base = (const char *)p->scratch.data;
    size_t n_meta = 0;
    unsigned n_dropped = 0, n_repeated = 0;
    const char *repeated_key = p->repeated_key;
    size_t repeated_len = repeated_key ? strlen(repeated_key) : 0;
    for (int k = 0; k < F_COUNT; k++)
        n_repeated += req[k].seen > 1 ? req[k].seen - 1 : 0;
    for (size_t i = 0; i < p->n_fields; i++) {
        const field *f = &p->fields[i];
        if (f->dead) { /* a later occurrence of a key, its value moved to the first */
            if (n_repeated++ == 0) {
                repeated_key = base + f->key.off;
                repeated_len = f->key.len;
            }
            continue;
        }
        if (f->dropped) {
            n_dropped++;
            continue;
        }
        if (!f->is_array) {
            kz_meta *m = &p->meta[n_meta++];
            m->key = base + f->key.off;
            m->key_len = f->key.len;
            m->value = base + f->value.off;
            m->value_len = f->value.len;
            continue;
        }
        /* An array: an entry for each item (collect_array's layout). */
        size_t at = f->value.off;
        for (uint32_t k = 0; k < f->n_items; k++) {
            uint32_t len;
            memcpy(&len, base + at, sizeof len);
            kz_meta *m = &p->meta[n_meta++];
            m->key = base + f->key.off;
            m->key_len = f->key.len;
            m->value = base + at + sizeof len;
            m->value_len = len;
            at += sizeof len + len + 1;
        }
    }

    out->id = base + req[F_ID].value.off;
    out->id_len = req[F_ID].value.len;
    if (req[F_TITLE].state == S_OK) {
        out->title = base + req[F_TITLE].value.off;
        out->title_len = req[F_TITLE].value.len;
    } else {
        out->title = empty;
        out->title_len = 0;
    }
    if (req[F_TEXT].state == S_OK) {
        out->text = base + req[F_TEXT].value.off;
        out->text_len = req[F_TEXT].value.len;
    } else {
        out->text = NULL;
        out->text_len = 0;
    }
    out->html = req[F_HTML].state == S_OK ? base + req[F_HTML].value.off : NULL;
    out->html_len = req[F_HTML].state == S_OK ? req[F_HTML].value.len : 0;
    out->meta = n_meta ? p->meta : NULL;
    out->n_meta = n_meta;
    out->n_dropped_fields = n_dropped;
    out->n_repeated_keys = n_repeated;
    out->repeated_key = n_repeated ? repeated_key : NULL;
    out->repeated_key_len = n_repeated ? repeated_len : 0;
    out->n_lone_surrogates = lone_surrogates;
    return KZ_OK;
}

/* Which required field a decoded key names, or F_COUNT for metadata. */
static int required_index(const uint8_t *key, size_t len)
{
    switch (len) {
    case 2: return memcmp(key, "id", 2) == 0 ? F_ID : F_COUNT;
    case 4: return memcmp(key, "text", 4) == 0 ? F_TEXT : memcmp(key, "html", 4) == 0 ? F_HTML : F_COUNT;
    case 5: return memcmp(key, "title", 5) == 0 ? F_TITLE : F_COUNT;
    default: return F_COUNT;
    }
}

/* Parses the value of one member of the record, at c->pos, whose decoded
 * key is at key in the scratch. */
static int parse_member(kz_jsonl_parser *p, cursor *c, span key, required *req)
{
    kz_buf *b = &p->scratch;
    int which = required_index(b->data + key.off, key.len);
    int kind, rc;

    if (which != F_COUNT) {
        required *r = &req[which];
        if (r->seen++ == 1 && !p->repeated_key) /* its name is static */
            p->repeated_key = field_names[which];
        size_t mark = key.off; /* the key itself is not kept */
        b->len = mark;
        if ((rc = parse_scalar(c, &kind)) != KZ_OK)
            return rc;
        if (kind == V_STRING || (which == F_ID && kind == V_INTEGER)) {
            r->state = S_OK;
            r->value.off = mark;
            r->value.len = b->len - mark;
            return put_byte(b, 0);
        }
        if (kind == V_ARRAY || kind == V_OBJECT) {
            if ((rc = skip_value(c, 1)) != KZ_OK)
                return rc;
        }
        b->len = mark;
        r->state = which == F_TITLE && kind == V_NULL ? S_MISSING : S_BAD;
        r->kind = kind;
        return KZ_OK;
    }

    if ((rc = put_byte(b, 0)) != KZ_OK) /* ends the key */
        return rc;
    span value = {b->len, 0};
    int dropped = 0, is_array = 0;
    uint32_t n_items = 1;
    if ((rc = parse_scalar(c, &kind)) != KZ_OK)
        return rc;
    switch (kind) {
    case V_NULL:
        dropped = 1;
        break;
    case V_OBJECT:
        if ((rc = skip_value(c, 1)) != KZ_OK)
            return rc;
        dropped = 1;
        break;
    case V_ARRAY:
        if ((rc = collect_array(c, &value, &n_items, &dropped)) != KZ_OK)
            return rc;
        is_array = 1;
        break;
    default:
        value.len = b->len - value.off;
        if ((rc = put_byte(b, 0)) != KZ_OK)
            return rc;
        break;
    }
    return add_field(p, key, value, n_items, is_array, dropped);
}

/* ------------------------------------------------------------------ API */

int kz_jsonl_parser_new(kz_jsonl_parser **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return kz_error_set(KZ_ENOMEM, "out of memory for a JSON Lines parser");
    return KZ_OK;
}

void kz_jsonl_parser_free(kz_jsonl_parser *p)
{
    if (!p)
        return;
    kz_buf_free(&p->scratch);
    free(p->fields);
    free(p->meta);
    free(p->refs);
    free(p);
}

int kz_jsonl_parse(kz_jsonl_parser *p, const char *line, size_t len, kz_jsonl_doc *out)
{
    cursor c = {(const uint8_t *)line, len, 0, &p->scratch, 0};
    required req[F_COUNT];
    int rc;

    memset(out, 0, sizeof *out);
    memset(req, 0, sizeof req);
    p->scratch.len = 0;
    p->n_fields = 0;
    p->repeated_key = NULL;
    /* The decoded strings are never much longer than the line: one
     * allocation up front in the common case. */
    if ((rc = kz_buf_reserve(&p->scratch, len + 16)) != KZ_OK)
        return rc;

    skip_ws(&c);
    if (peek(&c) != '{')
        return syntax_error(&c, c.pos, "expected '{'");
    c.pos++;
    skip_ws(&c);
    if (peek(&c) == '}') {
        c.pos++;
    } else {
        for (;;) {
            span key;
            key.off = p->scratch.len;
            if ((rc = parse_key(&c)) != KZ_OK)
                return rc;
            /* parse_key moved past ':' and whitespace; the key ends where
             * the scratch does. */
            key.len = p->scratch.len - key.off;
            if ((rc = parse_member(p, &c, key, req)) != KZ_OK)
                return rc;
            skip_ws(&c);
            int ch = peek(&c);
            if (ch == '}') {
                c.pos++;
                break;
            }
            if (ch != ',')
                return syntax_error(&c, c.pos, "expected ',' or '}'");
            c.pos++;
            skip_ws(&c);
        }
    }
    skip_ws(&c);
    if (c.pos != len)
        return syntax_error(&c, c.pos, "expected the end of the line after the record");
    rc = finish_doc(p, req, c.lone_surrogates, out);
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}
