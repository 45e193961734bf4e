/*
 * json.c: JSON strings for the command's --json output.
 */
#include "cli.h"

#include <string.h>

/* The length of the valid UTF-8 sequence at s (n bytes left), or 0 if
 * the bytes there are no valid sequence (a stray continuation byte, a cut
 * sequence, an overlong form, a surrogate, past U+10FFFF). */
static size_t utf8_valid_length(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t k = 1; k < len; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return len;
}

/* A JSON string of [s, s+n): what the user typed may hold invalid UTF-8,
 * which no JSON parser accepts, so each byte that starts no valid
 * sequence is written as U+FFFD. */
void json_string(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t len = utf8_valid_length((const unsigned char *)s + i, n - i);
            if (len == 0) {
                fputs("\\ufffd", f);
            } else {
                fwrite(s + i, 1, len, f);
                i += len - 1;
            }
        } else if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c < 0x20 || c == 0x7F)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void json_cstr(FILE *f, const char *s) { json_string(f, s, strlen(s)); }

