/* test_jsonl.c: tests of indexer/jsonl.c (the JSON Lines record parser). */
#include "kzint.h"
#include "test.h"

static kz_jsonl_parser *parser;

/* Parses the first len bytes of line from a heap copy of exactly len bytes,
 * so that AddressSanitizer catches any read past the end. */
static int parse_n(const char *line, size_t len, kz_jsonl_doc *d)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, line, len);
    int rc = kz_jsonl_parse(parser, copy, len, d);
    free(copy);
    return rc;
}

static int parse(const char *line, kz_jsonl_doc *d) { return parse_n(line, strlen(line), d); }

/* Checks that the bytes [p, p+len) equal the C string want (lengths too). */
static int same(const char *p, size_t len, const char *want)
{
    return p && len == strlen(want) && memcmp(p, want, len) == 0;
}

#define CHECK_SPAN(p, len, want)                                                 \
    CHECK_MSG(same(p, len, want), "got \"%.*s\" (%zu bytes), want \"%s\"",        \
              (int)KZ_MIN(len, 200), p ? p : "", (size_t)(len), want)

/* Expects line to fail with code; when column > 0 the message must start
 * with "column <column>: ". */
static void expect_fail(const char *line, int code, int column, int src_line)
{
    kz_jsonl_doc d;
    int rc = parse(line, &d);
    CHECK_MSG(rc == code, "line %d: %s: rc %d, want %d (%s)", src_line, line, rc, code,
              kz_last_error());
    CHECK_MSG(d.id == NULL && d.text == NULL, "line %d: out not cleared on failure", src_line);
    if (code == KZ_ESYNTAX && rc == code) {
        char prefix[32];
        if (column > 0)
            snprintf(prefix, sizeof prefix, "column %d: ", column);
        else
            snprintf(prefix, sizeof prefix, "column ");
        CHECK_MSG(strncmp(kz_last_error(), prefix, strlen(prefix)) == 0,
                  "line %d: %s: message \"%s\", want \"%s...\"", src_line, line, kz_last_error(),
                  prefix);
    }
}

#define SYNTAX(line, column) expect_fail(line, KZ_ESYNTAX, column, __LINE__)
#define FIELD(line) expect_fail(line, KZ_EFIELD, 0, __LINE__)

static void test_happy_path(void)
{
    kz_jsonl_doc d;
    CHECK_OK(parse("{\"id\": \"doc-1\", \"title\": \"Caf\\u00e9\", \"lang\": \"en\","
                   " \"text\": \"Hello\\nworld \\\"q\\\" \\\\ \\/ \\b\\f\\r\\t end\","
                   " \"year\": 2021, \"score\": -1.5e3, \"draft\": false, \"ok\": true,"
                   " \"tags\": [\"a\", \"b\", 3, true, -0.5], \"empty\": \"\"}",
                   &d));
    CHECK_SPAN(d.id, d.id_len, "doc-1");
    CHECK_SPAN(d.title, d.title_len, "Caf\xC3\xA9");
    CHECK_SPAN(d.text, d.text_len, "Hello\nworld \"q\" \\ / \b\f\r\t end");
    CHECK_INT(d.n_dropped_fields, 0);
    CHECK_INT(d.n_meta, 11);
    static const char *const keys[] = {"lang", "year", "score", "draft", "ok", "tags", "tags", "tags", "tags",
                                       "tags", "empty"};
    static const char *const values[] = {"en", "2021", "-1.5e3", "false", "true", "a", "b", "3", "true",
                                         "-0.5", ""};
    for (size_t i = 0; i < 11 && i < d.n_meta; i++) {
        CHECK_SPAN(d.meta[i].key, d.meta[i].key_len, keys[i]);
        CHECK_SPAN(d.meta[i].value, d.meta[i].value_len, values[i]);
        /* Every decoded string is followed by a NUL. */
        CHECK_STR(d.meta[i].key, keys[i]);
        CHECK_STR(d.meta[i].value, values[i]);
    }
    CHECK_STR(d.id, "doc-1");
    CHECK_STR(d.text, "Hello\nworld \"q\" \\ / \b\f\r\t end");

    /* No whitespace at all, fields in another order, no title. */
    CHECK_OK(parse("{\"text\":\"t\",\"id\":\"i\"}", &d));
    CHECK_SPAN(d.id, d.id_len, "i");
    CHECK_SPAN(d.text, d.text_len, "t");
    CHECK(d.title != NULL && d.title_len == 0);
    CHECK_INT(d.n_meta, 0);

    /* Whitespace of every kind around everything. */
    CHECK_OK(parse(" \t{ \"id\" \t:\n\"i\" , \"title\" : null ,\r\n\"text\" : \"\" } \t ", &d));
    CHECK_SPAN(d.id, d.id_len, "i");
    CHECK(d.title_len == 0 && d.text_len == 0);

    /* Strings may hold raw UTF-8 and even invalid bytes; DEL is no control
     * character in JSON. */
    CHECK_OK(parse("{\"id\":\"\xC3\xA9\",\"text\":\"\xFF\xFE\x80 \x7F \xF0\x9F\x98\x80\"}", &d));
    CHECK_SPAN(d.id, d.id_len, "\xC3\xA9");
    CHECK_SPAN(d.text, d.text_len, "\xFF\xFE\x80 \x7F \xF0\x9F\x98\x80");

    /* A key with escapes is decoded before it is matched. */
    CHECK_OK(parse("{\"\\u0069d\":\"x\",\"te\\u0078t\":\"y\",\"k\\\"ey\":\"v\"}", &d));
    CHECK_SPAN(d.id, d.id_len, "x");
    CHECK_SPAN(d.text, d.text_len, "y");
    CHECK_INT(d.n_meta, 1);
    if (d.n_meta == 1)
        CHECK_SPAN(d.meta[0].key, d.meta[0].key_len, "k\"ey");
}

static void test_unicode_escapes(void)
{
    kz_jsonl_doc d;
    struct {
        const char *json; /* the body of "text" */
        const char *want;
        size_t want_len;
        unsigned lone; /* lone surrogates, counted */
    } cases[] = {
        {"\\u0041", "A", 1, 0},
        {"\\u00e9\\u00C9", "\xC3\xA9\xC3\x89", 4, 0},
        {"\\u07FF", "\xDF\xBF", 2, 0},
        {"\\u20ac", "\xE2\x82\xAC", 3, 0},
        {"\\uFFFF", "\xEF\xBF\xBF", 3, 0},
        {"\\u0000x", "\0x", 2, 0},
        /* U+1F600 as a surrogate pair, in both cases of hex. */
        {"\\ud83d\\ude00", "\xF0\x9F\x98\x80", 4, 0},
        {"\\uD83D\\uDE00!", "\xF0\x9F\x98\x80!", 5, 0},
        /* U+10000 and U+10FFFF, the ends of the pairs' range. */
        {"\\ud800\\udc00", "\xF0\x90\x80\x80", 4, 0},
        {"\\udbff\\udfff", "\xF4\x8F\xBF\xBF", 4, 0},
        /* Lone surrogates become U+FFFD; what follows is read on its own. */
        {"\\ud800", "\xEF\xBF\xBD", 3, 1},
        {"\\ud800x", "\xEF\xBF\xBDx", 4, 1},
        {"\\udc00", "\xEF\xBF\xBD", 3, 1},
        {"\\ude00\\ud83d", "\xEF\xBF\xBD\xEF\xBF\xBD", 6, 2},
        {"\\ud83d\\ud83d\\ude00", "\xEF\xBF\xBD\xF0\x9F\x98\x80", 7, 1},
        {"\\ud83d\\n", "\xEF\xBF\xBD\n", 4, 1},
        {"\\ud83d\\u0041", "\xEF\xBF\xBD" "A", 4, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[200];
        snprintf(line, sizeof line, "{\"id\":\"1\",\"text\":\"%s\"}", cases[i].json);
        int rc = parse(line, &d);
        CHECK_MSG(rc == KZ_OK, "%s: %s", line, kz_last_error());
        CHECK_MSG(rc == KZ_OK && d.text_len == cases[i].want_len &&
                      memcmp(d.text, cases[i].want, cases[i].want_len) == 0,
                  "%s: decoded wrongly (%zu bytes)", line, d.text_len);
        CHECK_MSG(rc == KZ_OK && d.n_lone_surrogates == cases[i].lone, "%s: %u lone surrogates counted, want %u",
                  line, d.n_lone_surrogates, cases[i].lone);
    }
    /* In a key and a metadata value too. */
    CHECK_OK(parse("{\"id\":\"1\",\"text\":\"t\",\"k\\udfff\":\"\\ud800 \\udbff\"}", &d));
    CHECK_INT(d.n_lone_surrogates, 3);
}

static void test_integer_id(void)
{
    kz_jsonl_doc d;
    CHECK_OK(parse("{\"id\": 42, \"text\": \"x\"}", &d));
    CHECK_SPAN(d.id, d.id_len, "42");
    CHECK_OK(parse("{\"id\":0,\"text\":\"x\"}", &d));
    CHECK_SPAN(d.id, d.id_len, "0");
    CHECK_OK(parse("{\"id\":-7,\"text\":\"x\"}", &d));
    CHECK_SPAN(d.id, d.id_len, "-7");
    /* Beyond 64 bits: kept as text, never converted. */
    CHECK_OK(parse("{\"id\":123456789012345678901234567890,\"text\":\"x\"}", &d));
    CHECK_SPAN(d.id, d.id_len, "123456789012345678901234567890");
}

static void test_field_errors(void)
{
    FIELD("{\"text\": \"x\"}");
    CHECK_STR(kz_last_error(), "missing \"id\"");
    FIELD("{\"id\": \"1\"}");
    CHECK_STR(kz_last_error(), "missing \"text\"");
    FIELD("{}");
    FIELD("{\"id\": \"1\", \"Text\": \"x\"}"); /* keys are case-sensitive */
    FIELD("{\"id\": 1.5, \"text\": \"x\"}");
    CHECK(strstr(kz_last_error(), "\"id\" is not a string") != NULL);
    FIELD("{\"id\": 1e3, \"text\": \"x\"}");
    FIELD("{\"id\": 1.0, \"text\": \"x\"}");
    FIELD("{\"id\": true, \"text\": \"x\"}");
    CHECK(strstr(kz_last_error(), "\"id\"") != NULL && strstr(kz_last_error(), "true") != NULL);
    FIELD("{\"id\": false, \"text\": \"x\"}");
    FIELD("{\"id\": null, \"text\": \"x\"}");
    FIELD("{\"id\": [\"1\"], \"text\": \"x\"}");
    FIELD("{\"id\": {\"a\": \"1\"}, \"text\": \"x\"}");
    FIELD("{\"id\": \"1\", \"text\": 5}");
    CHECK(strstr(kz_last_error(), "\"text\" is not a string") != NULL);
    FIELD("{\"id\": \"1\", \"text\": null}");
    FIELD("{\"id\": \"1\", \"text\": [\"a\", \"b\"]}");
    FIELD("{\"id\": \"1\", \"title\": 5, \"text\": \"x\"}");
    CHECK(strstr(kz_last_error(), "\"title\" is not a string") != NULL);
    FIELD("{\"id\": \"1\", \"title\": [\"t\"], \"text\": \"x\"}");
    FIELD("{\"id\": \"1\", \"title\": false, \"text\": \"x\"}");
    /* A syntax error wins over a field error anywhere on the line. */
    SYNTAX("{\"id\": true, \"text\": \"x\",}", 26);
    SYNTAX("{\"text\": \"x\"} x", 15);
}

static void test_syntax_errors(void)
{
    /* Columns checked: 1-based bytes. */
    SYNTAX("", 1);
    CHECK_STR(kz_last_error(), "column 1: expected '{', found the end of the line");
    SYNTAX("   ", 4);
    SYNTAX("\r", 2);
    SYNTAX("{\"id\": \"1\" \"text\": \"x\"}", 12);
    CHECK_STR(kz_last_error(), "column 12: expected ',' or '}', found '\"'");
    SYNTAX("{\"id\": \"1\", \"text\": \"x\"", 24);
    CHECK_STR(kz_last_error(), "column 24: expected ',' or '}', found the end of the line");
    SYNTAX("{\"id\":\"1\",\"text\":\"x\",}", 22);
    SYNTAX("{'id': '1'}", 2);
    SYNTAX("{\"id\": '1'}", 8);
    SYNTAX("{id: \"1\"}", 2);
    SYNTAX("{\"id\" \"1\"}", 7);
    SYNTAX("{\"id\":}", 7);
    SYNTAX("{,}", 2);
    SYNTAX("{\"a\":1,,\"b\":2}", 8);
    SYNTAX("{\"id\":\"1\",\"text\":\"x\"} x", 23);
    CHECK_STR(kz_last_error(),
              "column 23: expected the end of the line after the record, found 'x'");
    SYNTAX("{\"id\":\"1\",\"text\":\"x\"}{}", 22);
    SYNTAX("{\"id\":\"1\",\"text\":\"x\"},", 22);
    SYNTAX("{\"id\":\"1\",\"text\":\"x\"}\n{}", 23);
    SYNTAX("[1, 2]", 1);
    SYNTAX("\"text\"", 1);
    SYNTAX("42", 1);
    SYNTAX("null", 1);
    SYNTAX("\xEF\xBB\xBF{\"id\":\"1\",\"text\":\"x\"}", 1); /* a BOM is not JSON */
    SYNTAX("// comment", 1);
    SYNTAX("{\"id\":\"1\",\"text\":\"x\" /* c */}", 22);
    SYNTAX("{", 2);
    SYNTAX("{\"id", 5);
    SYNTAX("{\"id\"", 6);
    SYNTAX("{\"id\":", 7);
    SYNTAX("{\"id\":\"1", 9);
    CHECK_STR(kz_last_error(), "column 9: expected '\"' to end the string, found the end of the line");

    /* Strings: raw control characters, bad escapes. */
    SYNTAX("{\"id\":\"1\",\"text\":\"a\tb\"}", 20);
    CHECK_STR(kz_last_error(),
              "column 20: control characters in strings must be escaped, found byte 0x09");
    SYNTAX("{\"id\":\"1\",\"text\":\"a\nb\"}", 20);
    SYNTAX("{\"id\":\"1\",\"text\":\"a\x01\"}", 20);
    SYNTAX("{\"id\":\"1\",\"text\":\"\x1F\"}", 19);
    {
        static const char with_nul[] = "{\"id\":\"1\",\"text\":\"a\0b\"}";
        kz_jsonl_doc d;
        CHECK_INT(parse_n(with_nul, sizeof with_nul - 1, &d), KZ_ESYNTAX);
    }
    SYNTAX("{\"id\":\"1\",\"text\":\"\\q\"}", 20);
    SYNTAX("{\"id\":\"1\",\"text\":\"\\x41\"}", 20);
    SYNTAX("{\"id\":\"1\",\"text\":\"\\'\"}", 20);
    SYNTAX("{\"id\":\"1\",\"text\":\"\\U0041\"}", 20);
    SYNTAX("{\"id\":\"1\",\"text\":\"\\u12\"}", 23);
    SYNTAX("{\"id\":\"1\",\"text\":\"\\u12G4\"}", 23);
    SYNTAX("{\"id\":\"1\",\"text\":\"\\u\"}", 21);
    SYNTAX("{\"id\":\"1\",\"text\":\"\\ud83d\\u12\"}", 29);
    SYNTAX("{\"id\":\"1\",\"text\":\"abc\\", 23);
    SYNTAX("{\"id\":\"1\",\"text\":\"abc\\u00", 26);

    /* Numbers. */
    SYNTAX("{\"id\":01,\"text\":\"x\"}", 8);
    CHECK(strstr(kz_last_error(), "leading zeros") != NULL);
    SYNTAX("{\"id\":-01,\"text\":\"x\"}", 9);
    SYNTAX("{\"id\":\"1\",\"n\":1.,\"text\":\"x\"}", 17);
    SYNTAX("{\"id\":\"1\",\"n\":.5,\"text\":\"x\"}", 15);
    SYNTAX("{\"id\":\"1\",\"n\":-,\"text\":\"x\"}", 16);
    SYNTAX("{\"id\":\"1\",\"n\":- 1,\"text\":\"x\"}", 16);
    SYNTAX("{\"id\":\"1\",\"n\":+1,\"text\":\"x\"}", 15);
    SYNTAX("{\"id\":\"1\",\"n\":1e,\"text\":\"x\"}", 17);
    SYNTAX("{\"id\":\"1\",\"n\":1.5e+,\"text\":\"x\"}", 20);
    SYNTAX("{\"id\":\"1\",\"n\":0x10,\"text\":\"x\"}", 16);
    SYNTAX("{\"id\":\"1\",\"n\":NaN,\"text\":\"x\"}", 15);
    SYNTAX("{\"id\":\"1\",\"n\":Infinity,\"text\":\"x\"}", 15);
    SYNTAX("{\"id\":\"1\",\"n\":-Infinity,\"text\":\"x\"}", 16);
    SYNTAX("{\"id\":\"1\",\"n\":1_000,\"text\":\"x\"}", 16);

    /* Literals. */
    SYNTAX("{\"id\":\"1\",\"b\":tru,\"text\":\"x\"}", 15);
    SYNTAX("{\"id\":\"1\",\"b\":True,\"text\":\"x\"}", 15);
    SYNTAX("{\"id\":\"1\",\"b\":nul", 15);
    SYNTAX("{\"id\":\"1\",\"b\":undefined,\"text\":\"x\"}", 15);
    SYNTAX("{\"id\":\"1\",\"b\":truex,\"text\":\"x\"}", 19);

    /* Arrays and objects in metadata. */
    SYNTAX("{\"id\":\"1\",\"t\":[\"a\",],\"text\":\"x\"}", 20);
    SYNTAX("{\"id\":\"1\",\"t\":[,],\"text\":\"x\"}", 16);
    SYNTAX("{\"id\":\"1\",\"t\":[\"a\" \"b\"],\"text\":\"x\"}", 20);
    CHECK_STR(kz_last_error(), "column 20: expected ',' or ']', found '\"'");
    SYNTAX("{\"id\":\"1\",\"t\":[\"a\"", 19);
    SYNTAX("{\"id\":\"1\",\"t\":[[1,],\"text\":\"x\"}", 19);
    SYNTAX("{\"id\":\"1\",\"m\":{\"a\":1,},\"text\":\"x\"}", 22);
    SYNTAX("{\"id\":\"1\",\"m\":{\"a\" 1},\"text\":\"x\"}", 20);
    SYNTAX("{\"id\":\"1\",\"m\":{\"a\":1 \"b\":2},\"text\":\"x\"}", 22);
    SYNTAX("{\"id\":\"1\",\"m\":{\"a\":[1}},\"text\":\"x\"}", 22);
    SYNTAX("{\"id\":\"1\",\"m\":{\"a\":\"\t\"},\"text\":\"x\"}", 21);
    SYNTAX("{\"id\":\"1\",\"m\":{1:2},\"text\":\"x\"}", 16);
    SYNTAX("{\"id\":\"1\",\"m\":[{\"a\":}],\"text\":\"x\"}", 21);
    SYNTAX("{\"id\":\"1\",\"text\":\"x\",\"m\":{\"a\":1}", 33);
}

static void test_dropped_fields(void)
{
    kz_jsonl_doc d;
    CHECK_OK(parse("{\"id\":\"1\",\"text\":\"x\",\"a\":null,\"b\":{\"x\":[1,{\"y\":null}],\"z\":\"s\"},"
                   "\"c\":[1,null],\"d\":[[1]],\"e\":[{}],\"f\":\"kept\",\"g\":[],\"h\":{}}",
                   &d));
    CHECK_INT(d.n_dropped_fields, 6);
    /* An empty array is a field of no values: no entry, nothing dropped. */
    CHECK_INT(d.n_meta, 1);
    if (d.n_meta == 1) {
        CHECK_SPAN(d.meta[0].key, d.meta[0].key_len, "f");
        CHECK_SPAN(d.meta[0].value, d.meta[0].value_len, "kept");
    }
    /* Strings decoded inside a dropped value leave nothing behind. */
    CHECK_OK(parse("{\"id\":\"1\",\"o\":{\"long key\":\"long value \\u00e9\"},\"text\":\"t\"}", &d));
    CHECK_SPAN(d.text, d.text_len, "t");
    CHECK_INT(d.n_dropped_fields, 1);
    CHECK_INT(d.n_meta, 0);
}

/* An array is a field of several values: an entry of its key for each
 * item, in order; an item may hold ", " or a NUL. */
static void test_arrays_of_values(void)
{
    kz_jsonl_doc d;
    CHECK_OK(parse("{\"id\":\"1\",\"text\":\"x\",\"authors\":[\"Ada\", \"Lovelace, Ada\" ,\"Gr\\u0000ace\"],"
                   "\"one\":[\"only\"],\"mixed\":[1,2.5,false,\"s\\n\"],\"sp\":[ ]}",
                   &d));
    static const char *const keys[] = { "authors", "authors", "authors", "one", "mixed", "mixed", "mixed", "mixed" };
    static const char *const values[] = { "Ada", "Lovelace, Ada", "Gr\0ace", "only", "1", "2.5", "false", "s\n" };
    static const size_t lens[] = { 3, 13, 6, 4, 1, 3, 5, 2 };
    CHECK_INT(d.n_meta, 8);
    CHECK_INT(d.n_dropped_fields, 0);
    for (size_t i = 0; i < 8 && i < d.n_meta; i++) {
        CHECK_SPAN(d.meta[i].key, d.meta[i].key_len, keys[i]);
        CHECK(d.meta[i].value_len == lens[i] && memcmp(d.meta[i].value, values[i], lens[i]) == 0);
        CHECK(d.meta[i].value[d.meta[i].value_len] == 0);
    }
}

static void test_duplicate_keys(void)
{
    kz_jsonl_doc d;
    /* The last id and text win; the last "k" is null, so "k" is dropped. */
    CHECK_OK(parse("{\"id\":\"1\",\"text\":\"a\",\"k\":\"1\",\"id\":\"2\",\"m\":\"x\",\"text\":\"b\","
                   "\"k\":null}",
                   &d));
    CHECK_SPAN(d.id, d.id_len, "2");
    CHECK_SPAN(d.text, d.text_len, "b");
    CHECK_INT(d.n_dropped_fields, 1);
    /* Each repeat is counted, and the first named ("id" is first seen
     * again before "k"). */
    CHECK_INT(d.n_repeated_keys, 3);
    CHECK(d.repeated_key && same(d.repeated_key, d.repeated_key_len, "id"));
    CHECK_INT(d.n_meta, 1);
    if (d.n_meta == 1)
        CHECK_SPAN(d.meta[0].key, d.meta[0].key_len, "m");
    /* A field keeps its first position and takes its last value. */
    CHECK_OK(parse("{\"id\":\"1\",\"text\":\"a\",\"k\":\"1\",\"m\":\"x\",\"k\":null,\"k\":[\"2\",\"3\"]}",
                   &d));
    CHECK_INT(d.n_dropped_fields, 0);
    CHECK_INT(d.n_repeated_keys, 2);
    CHECK(d.repeated_key && same(d.repeated_key, d.repeated_key_len, "k"));
    CHECK_INT(d.n_meta, 3);
    if (d.n_meta == 3) {
        CHECK_SPAN(d.meta[0].key, d.meta[0].key_len, "k");
        CHECK_SPAN(d.meta[0].value, d.meta[0].value_len, "2");
        CHECK_SPAN(d.meta[1].key, d.meta[1].key_len, "k");
        CHECK_SPAN(d.meta[1].value, d.meta[1].value_len, "3");
        CHECK_SPAN(d.meta[2].key, d.meta[2].key_len, "m");
    }
    /* A later null title makes it "" again; a later good id repairs a bad one. */
    CHECK_OK(parse("{\"id\":true,\"title\":\"T\",\"text\":\"a\",\"title\":null,\"id\":3}", &d));
    CHECK_SPAN(d.id, d.id_len, "3");
    CHECK_INT(d.title_len, 0);
    /* ...and a later bad one spoils a good one. */
    FIELD("{\"id\":\"1\",\"text\":\"a\",\"id\":1.5}");

    /* Many fields take the sorting path: 200 keys, each written three times
     * in a scattered order, last value "v<key>-2". */
    kz_buf line = {0};
    CHECK_OK(kz_buf_printf(&line, "{\"id\":\"1\",\"text\":\"t\""));
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 200; k++) {
            int key = (k * 37 + round * 11) % 200;
            CHECK_OK(kz_buf_printf(&line, ",\"k%03d\":\"v%d-%d\"", key, key, round));
        }
    CHECK_OK(kz_buf_printf(&line, ",\"k007\":{\"dropped\":1}}"));
    CHECK_OK(parse_n((char *)line.data, line.len, &d));
    CHECK_INT(d.n_meta, 199);
    CHECK_INT(d.n_dropped_fields, 1);
    CHECK_INT(d.n_repeated_keys, 401);
    int order_ok = 1;
    for (size_t i = 0; i < d.n_meta; i++) {
        /* First positions come from round 0: key = (i * 37) % 200, skipping 7. */
        int key = atoi(d.meta[i].key + 1);
        char want[32];
        snprintf(want, sizeof want, "v%d-2", key);
        if (!same(d.meta[i].value, d.meta[i].value_len, want) || key == 7)
            order_ok = 0;
        if (i > 0) {
            int prev = atoi(d.meta[i - 1].key + 1);
            int pi = 0, ki = 0;
            for (int k = 0; k < 200; k++) {
                if ((k * 37) % 200 == prev)
                    pi = k;
                if ((k * 37) % 200 == key)
                    ki = k;
            }
            if (pi >= ki)
                order_ok = 0;
        }
    }
    CHECK(order_ok);
    kz_buf_free(&line);
    /* No repeats, nothing counted. */
    CHECK_OK(parse("{\"id\":\"1\",\"text\":\"a\",\"k\":\"1\",\"K\":\"2\"}", &d));
    CHECK_INT(d.n_repeated_keys, 0);
    CHECK(d.repeated_key == NULL);
}

static void test_deep_nesting(void)
{
    kz_jsonl_doc d;
    kz_buf line = {0};
    const char *head = "{\"id\":\"1\",\"text\":\"x\",\"m\":";
    size_t head_len = strlen(head);

    /* 10000 '[' after a key: fails cleanly at the 65th level. */
    CHECK_OK(kz_buf_append(&line, head, head_len));
    for (int i = 0; i < 10000; i++)
        CHECK_OK(kz_buf_append_u8(&line, '['));
    CHECK_INT(parse_n((char *)line.data, line.len, &d), KZ_ESYNTAX);
    CHECK(strstr(kz_last_error(), "deeper than 64") != NULL);
    /* The record is level 1, "m" opens level 2, so the 64th '[' is level 65
     * and the error names its column. */
    char want[64];
    snprintf(want, sizeof want, "column %zu: ", head_len + 64);
    CHECK_MSG(strncmp(kz_last_error(), want, strlen(want)) == 0, "%s", kz_last_error());

    /* 10000 '[' or '{' as the whole line. */
    line.len = 0;
    for (int i = 0; i < 10000; i++)
        CHECK_OK(kz_buf_append_u8(&line, '['));
    CHECK_INT(parse_n((char *)line.data, line.len, &d), KZ_ESYNTAX);
    line.len = 0;
    for (int i = 0; i < 10000; i++)
        CHECK_OK(kz_buf_append_u8(&line, '{'));
    CHECK_INT(parse_n((char *)line.data, line.len, &d), KZ_ESYNTAX);
    /* Deep objects in an object value. */
    line.len = 0;
    CHECK_OK(kz_buf_append(&line, head, head_len));
    for (int i = 0; i < 10000; i++)
        CHECK_OK(kz_buf_printf(&line, "{\"a\":"));
    CHECK_INT(parse_n((char *)line.data, line.len, &d), KZ_ESYNTAX);
    CHECK(strstr(kz_last_error(), "deeper than 64") != NULL);
    /* Deep nesting inside an array element. */
    line.len = 0;
    CHECK_OK(kz_buf_append(&line, head, head_len));
    CHECK_OK(kz_buf_printf(&line, "[1, "));
    for (int i = 0; i < 10000; i++)
        CHECK_OK(kz_buf_printf(&line, "[{\"a\":"));
    CHECK_INT(parse_n((char *)line.data, line.len, &d), KZ_ESYNTAX);
    CHECK(strstr(kz_last_error(), "deeper than 64") != NULL);

    /* Exactly 64 levels is allowed (the value is dropped as nested). */
    for (int levels = 63; levels <= 64; levels++) {
        line.len = 0;
        CHECK_OK(kz_buf_append(&line, head, head_len));
        for (int i = 0; i < levels; i++)
            CHECK_OK(kz_buf_append_u8(&line, '['));
        for (int i = 0; i < levels; i++)
            CHECK_OK(kz_buf_append_u8(&line, ']'));
        CHECK_OK(kz_buf_append_u8(&line, '}'));
        int rc = parse_n((char *)line.data, line.len, &d);
        /* levels '[' after the record's '{': the deepest is level levels + 1. */
        CHECK_INT(rc, levels + 1 <= 64 ? KZ_OK : KZ_ESYNTAX);
        if (rc == KZ_OK)
            CHECK_INT(d.n_dropped_fields, 1);
    }
    kz_buf_free(&line);
}

static void test_crlf(void)
{
    kz_jsonl_doc d;
    CHECK_OK(parse("{\"id\":\"1\",\"text\":\"line\"}\r", &d));
    CHECK_SPAN(d.text, d.text_len, "line");
    CHECK_OK(parse("{\"id\":\"1\",\"text\":\"a\\r\\nb\"} \r", &d));
    CHECK_SPAN(d.text, d.text_len, "a\r\nb");
    /* A raw CR inside a string is still a control character. */
    SYNTAX("{\"id\":\"1\",\"text\":\"a\rb\"}", 20);
    SYNTAX("{\"id\":\"1\",\"text\":\"a\"}\rx", 23);
}

static void test_huge_string(void)
{
    kz_jsonl_doc d;
    size_t n = 10u << 20;
    kz_buf line = {0}, want = {0};
    CHECK_OK(kz_buf_printf(&line, "{\"id\":\"big\",\"title\":\"T\",\"text\":\""));
    CHECK_OK(kz_buf_reserve(&line, n + n / 500 + 100));
    CHECK_OK(kz_buf_reserve(&want, n));
    /* Mostly plain text with an escape every 1000 bytes or so. */
    for (size_t i = 0; want.len < n; i++) {
        if (i % 997 == 996) {
            line.data[line.len++] = '\\';
            line.data[line.len++] = 'n';
            want.data[want.len++] = '\n';
        } else {
            uint8_t ch = (uint8_t)('a' + i % 26);
            line.data[line.len++] = ch;
            want.data[want.len++] = ch;
        }
    }
    CHECK_OK(kz_buf_printf(&line, "\",\"source\":\"wiki\"}"));
    CHECK_OK(parse_n((char *)line.data, line.len, &d));
    CHECK_SPAN(d.id, d.id_len, "big");
    CHECK_SPAN(d.title, d.title_len, "T");
    CHECK(d.text_len == want.len && memcmp(d.text, want.data, want.len) == 0);
    CHECK_INT(d.n_meta, 1);
    /* A small line after the big one still works. */
    CHECK_OK(parse("{\"id\":\"s\",\"text\":\"small\"}", &d));
    CHECK_SPAN(d.text, d.text_len, "small");
    kz_buf_free(&line);
    kz_buf_free(&want);
}

/* The scratch is sized from the line length, but a joined array of numbers
 * is longer than its JSON ("1,1" becomes "1, 1"), so this record makes the
 * scratch grow after id, title and text were decoded into it. Their
 * pointers must still be right. */
static void test_pointers_after_growth(void)
{
    kz_jsonl_doc d;
    kz_buf line = {0};
    CHECK_OK(parse("{\"id\":\"warm\",\"text\":\"up\"}", &d)); /* a small scratch first */
    CHECK_OK(kz_buf_printf(&line, "{\"id\":\"ID-1\",\"title\":\"Title \\u00e9\",\"text\":\"Body\","
                                  "\"first\":\"meta before\",\"nums\":["));
    for (int i = 0; i < 100000; i++)
        CHECK_OK(kz_buf_printf(&line, i ? ",1" : "1"));
    CHECK_OK(kz_buf_printf(&line, "],\"last\":\"meta after\"}"));
    CHECK_OK(parse_n((char *)line.data, line.len, &d));
    CHECK_SPAN(d.id, d.id_len, "ID-1");
    CHECK_SPAN(d.title, d.title_len, "Title \xC3\xA9");
    CHECK_SPAN(d.text, d.text_len, "Body");
    CHECK_INT(d.n_meta, 100002);
    if (d.n_meta == 100002) {
        CHECK_SPAN(d.meta[0].key, d.meta[0].key_len, "first");
        CHECK_SPAN(d.meta[0].value, d.meta[0].value_len, "meta before");
        for (size_t i = 1; i <= 100000; i++) {
            if (!same(d.meta[i].key, d.meta[i].key_len, "nums") || !same(d.meta[i].value, d.meta[i].value_len, "1")) {
                CHECK_MSG(0, "item %zu of nums", i);
                break;
            }
        }
        CHECK_SPAN(d.meta[100001].key, d.meta[100001].key_len, "last");
        CHECK_SPAN(d.meta[100001].value, d.meta[100001].value_len, "meta after");
    }
    kz_buf_free(&line);
}

/* Random mutations of valid records: every result must be one of the
 * documented codes, a success must give readable fields, a syntax error a
 * message with a column. */
static void test_fuzz(void)
{
    static const char *const seeds[] = {
        ("{\"id\": \"doc-1\", \"title\": \"Caf\\u00e9\", \"text\": \"Hello\\nworld \\\"q\\\"\","
         " \"tags\": [\"a\", \"b\", 3], \"year\": 2021, \"x\": null, \"o\": {\"k\": [1, {}]}}"),
        "{\"id\":7,\"text\":\"\\ud83d\\ude00 \xC3\xA9 plain text here\",\"n\":-1.5e-3,\"b\":true}",
        "{\"text\":\"t\",\"id\":\"i\",\"title\":null,\"arr\":[[],[[\"x\"]],{\"a\":{\"b\":null}}]}\r",
        " { \"id\" : \"1\" , \"text\" : \"\" , \"f\" : false } ",
    };
    static const char specials[] = "{}[]\",:\\ \t\r\n0123456789-+.eEtrufalsn\x80\xFF\x01";
    uint64_t seed = kz_test_seed();
    uint64_t st = seed;
    char buf[512];
    int counts[3] = {0, 0, 0};
    int bad = 0;

    for (int iter = 0; iter < 300000 && bad < 5; iter++) {
        const char *src = seeds[kz_test_rand(&st) % (sizeof seeds / sizeof seeds[0])];
        size_t len = strlen(src);
        memcpy(buf, src, len);
        int edits = 1 + (int)(kz_test_rand(&st) % 4);
        for (int e = 0; e < edits; e++) {
            uint64_t r = kz_test_rand(&st);
            size_t at = len ? (size_t)(r >> 8) % len : 0;
            char ch = (r >> 40) & 1 ? specials[(r >> 48) % (sizeof specials - 1)]
                                    : (char)(r >> 48);
            switch (r % 5) {
            case 0: /* replace */
                if (len)
                    buf[at] = ch;
                break;
            case 1: /* insert */
                if (len < sizeof buf - 1) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = ch;
                    len++;
                }
                break;
            case 2: /* delete */
                if (len) {
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
                break;
            case 3: /* truncate */
                len = at;
                break;
            default: { /* duplicate a span */
                size_t n = KZ_MIN((size_t)(r >> 32) % 16, len - at);
                if (len + n < sizeof buf) {
                    memmove(buf + at + n, buf + at, len - at);
                    len += n;
                }
                break;
            }
            }
        }
        kz_jsonl_doc d;
        kz_error_clear();
        int rc = parse_n(buf, len, &d);
        int ok = 1;
        if (rc == KZ_OK) {
            counts[0]++;
            /* Touch every byte handed out (ASan checks the bounds). */
            unsigned sum = 0;
            for (size_t i = 0; i < d.id_len; i++)
                sum += (uint8_t)d.id[i];
            for (size_t i = 0; i < d.title_len; i++)
                sum += (uint8_t)d.title[i];
            for (size_t i = 0; i < d.text_len; i++)
                sum += (uint8_t)d.text[i];
            for (size_t m = 0; m < d.n_meta; m++) {
                for (size_t i = 0; i < d.meta[m].key_len; i++)
                    sum += (uint8_t)d.meta[m].key[i];
                for (size_t i = 0; i < d.meta[m].value_len; i++)
                    sum += (uint8_t)d.meta[m].value[i];
            }
            (void)sum;
            ok = d.id != NULL && d.title != NULL && d.text != NULL &&
                 d.id_len + d.title_len + d.text_len <= 3 * len;
        } else if (rc == KZ_ESYNTAX) {
            counts[1]++;
            ok = strncmp(kz_last_error(), "column ", 7) == 0;
        } else if (rc == KZ_EFIELD) {
            counts[2]++;
            ok = kz_last_error()[0] != 0;
        } else {
            ok = 0;
        }
        if (!ok) {
            bad++;
            CHECK_MSG(0, "seed %" PRIu64 " iteration %d: rc %d (%s) for: %.*s", seed, iter, rc,
                      kz_last_error(), (int)len, buf);
        }
    }
    fprintf(stderr, "  fuzz: %d ok, %d syntax errors, %d field errors\n", counts[0], counts[1],
            counts[2]);
    CHECK(counts[0] > 0 && counts[1] > 0 && counts[2] > 0);
}

static void test_free_null(void)
{
    kz_jsonl_parser_free(NULL);
}

int main(void)
{
    if (kz_jsonl_parser_new(&parser) != KZ_OK) {
        fprintf(stderr, "cannot create a parser: %s\n", kz_last_error());
        return 1;
    }
    KZ_RUN(test_happy_path);
    KZ_RUN(test_unicode_escapes);
    KZ_RUN(test_integer_id);
    KZ_RUN(test_field_errors);
    KZ_RUN(test_syntax_errors);
    KZ_RUN(test_dropped_fields);
    KZ_RUN(test_arrays_of_values);
    KZ_RUN(test_duplicate_keys);
    KZ_RUN(test_deep_nesting);
    KZ_RUN(test_crlf);
    KZ_RUN(test_huge_string);
    KZ_RUN(test_pointers_after_growth);
    KZ_RUN(test_fuzz);
    KZ_RUN(test_free_null);
    kz_jsonl_parser_free(parser);
    return kz_test_finish();
}
