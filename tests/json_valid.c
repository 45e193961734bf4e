/*
 * json_valid.c: exits 0 if standard input is one valid JSON document
 * (RFC 8259: strict syntax, valid UTF-8 strings, no trailing data), else
 * prints where it is not and exits 1. For test_cli.sh, which has no other
 * JSON parser to rely on in CI.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char *start, *p, *end;
static int depth;

static int fail(const char *what)
{
    fprintf(stderr, "json_valid: %s at byte %ld\n", what, (long)(p - start));
    return 0;
}

static void ws(void)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
}

static int utf8_char(void)
{
    unsigned c = *p;
    int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0 || (n == 1 && c < 0xC2) || c > 0xF4)
        return fail("invalid UTF-8");
    unsigned long cp = n == 0 ? c : n == 1 ? c & 0x1F : n == 2 ? c & 0x0F : c & 0x07;
    p++;
    for (int i = 0; i < n; i++, p++) {
        if (p >= end || (*p & 0xC0) != 0x80)
            return fail("invalid UTF-8");
        cp = cp << 6 | (*p & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return fail("invalid UTF-8");
    return 1;
}

static int string(void)
{
    p++; /* the quote */
    while (p < end && *p != '"') {
        if (*p < 0x20)
            return fail("control character in a string");
        if (*p == '\\') {
            p++;
            if (p >= end)
                return fail("unfinished escape");
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (p + i >= end || !strchr("0123456789abcdefABCDEF", p[i]))
                        return fail("bad \\u escape");
                p += 5;
            } else if (strchr("\"\\/bfnrt", *p) && *p) {
                p++;
            } else {
                return fail("bad escape");
            }
        } else if (!utf8_char()) {
            return 0;
        }
    }
    if (p >= end)
        return fail("unterminated string");
    p++;
    return 1;
}

static int number(void)
{
    if (*p == '-')
        p++;
    if (p < end && *p == '0')
        p++;
    else if (p < end && *p >= '1' && *p <= '9')
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    else
        return fail("bad number");
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return fail("bad fraction");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return fail("bad exponent");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    return 1;
}

static int value(void);

static int container(unsigned char close)
{
    if (++depth > 1000)
        return fail("nested too deep");
    p++;
    ws();
    if (p < end && *p == close) {
        p++;
        depth--;
        return 1;
    }
    for (;;) {
        ws();
        if (close == '}') {
            if (p >= end || *p != '"' || !string())
                return p < end && *p != '"' ? fail("expected a key") : 0;
            ws();
            if (p >= end || *p != ':')
                return fail("expected ':'");
            p++;
        }
        if (!value())
            return 0;
        ws();
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == close) {
            p++;
            depth--;
            return 1;
        }
        return fail("expected ',' or a closing bracket");
    }
}

static int value(void)
{
    ws();
    if (p >= end)
        return fail("expected a value");
    switch (*p) {
    case '{': return container('}');
    case '[': return container(']');
    case '"': return string();
    case 't': if (end - p >= 4 && !memcmp(p, "true", 4)) { p += 4; return 1; } return fail("bad literal");
    case 'f': if (end - p >= 5 && !memcmp(p, "false", 5)) { p += 5; return 1; } return fail("bad literal");
    case 'n': if (end - p >= 4 && !memcmp(p, "null", 4)) { p += 4; return 1; } return fail("bad literal");
    default: return number();
    }
}

int main(void)
{
    size_t cap = 1 << 16, len = 0, got;
    unsigned char *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len, stdin)) > 0) {
        len += got;
        if (len == cap)
            buf = realloc(buf, cap *= 2);
    }
    if (!buf)
        return 2;
    start = p = buf;
    end = buf + len;
    int ok = value();
    ws();
    if (ok && p != end)
        ok = fail("trailing data");
    free(buf);
    return ok ? 0 : 1;
}
