/*
 * cmd_extract.c: kzsearch extract FILE...: what indexing a web page (or
 * each HTML response of a WARC file) would take from it: title, fields
 * and the article's text, so that a user can see why a page indexes the
 * way it does. --json writes one JSON object a page, in the JSON Lines
 * form kzsearch index reads ("id", "title", "text", the fields).
 */
#include "cli.h"
#include "html.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void show(const kz_html_page *pg, const char *id, int json)
{
    const char *title = pg->title.len ? (const char *)pg->title.data : "";
    const char *text = pg->text.len ? (const char *)pg->text.data : "";
    if (json) {
        fputs("{\"id\": ", stdout);
        json_cstr(stdout, id);
        fputs(", \"title\": ", stdout);
        json_string(stdout, title, pg->title.len);
        for (size_t i = 0; i < pg->n_meta; i++) {
            fputs(", ", stdout);
            json_string(stdout, pg->meta[i].key, pg->meta[i].key_len);
            fputs(": ", stdout);
            json_string(stdout, pg->meta[i].value, pg->meta[i].value_len);
        }
        fputs(", \"text\": ", stdout);
        json_string(stdout, text, pg->text.len);
        fputs("}\n", stdout);
        return;
    }
    printf("== %s\ntitle: %s\n", id, title);
    for (size_t i = 0; i < pg->n_meta; i++)
        printf("%.*s: %.*s\n", (int)pg->meta[i].key_len, pg->meta[i].key, (int)pg->meta[i].value_len,
               pg->meta[i].value);
    printf("charset: %s%s\n\n%s\n\n", pg->charset,
           pg->flags & KZ_HTML_UNKNOWN_CHARSET ? " (unknown: read as UTF-8)"
           : pg->flags & KZ_HTML_INVALID_BYTES ? " (invalid bytes replaced)" : "",
           text);
}

/* Extracts one page; 1 when it is skipped (as indexing would). */
static int extract_one(kz_html_page *pg, const char *data, size_t len, const kz_html_options *o, const char *id,
                       int json, int *rc)
{
    *rc = kz_html_extract(pg, data, len, o);
    if (*rc == KZ_ESYNTAX || *rc == KZ_ELIMIT) {
        fprintf(stderr, "kzsearch: %s: %s: skipped\n", id, kz_last_error());
        *rc = KZ_OK;
        return 1;
    }
    if (*rc)
        return 1;
    show(pg, id, json);
    if (!pg->text.len) {
        fprintf(stderr, "kzsearch: %s: a page with no text: skipped\n", id);
        return 1;
    }
    return 0;
}

int cmd_extract(int argc, char **argv)
{
    static const struct option opts[] = { { "json", no_argument, 0, 'j' },
                                           { "index", required_argument, 0, 'i' },
                                           { "help", no_argument, 0, 'h' },
                                           { 0, 0, 0, 0 } };
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j')
            json = 1;
        else if (c == 'h')
            cli_help_exit();
        else if (c != 'i')
            die_usage("bad option");
    }
    if (optind >= argc)
        die_usage("extract needs a FILE (.html, .htm, .xhtml, .warc, optionally .gz)");
    kz_html_page pg = { 0 };
    kz_buf data = { 0 };
    int rc = KZ_OK, skipped = 0;
    for (int i = optind; i < argc && rc == KZ_OK; i++) {
        const char *path = argv[i];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "kzsearch: %s: %s\n", path, strerror(errno));
            skipped++;
            continue;
        }
        if (kz_warc_is_name(path)) {
            kz_warc_reader *w = NULL;
            if ((rc = kz_warc_open(&w, fd, path, 1ull << 30)))
                break;
            for (;;) {
                kz_warc_record rec;
                int r = kz_warc_next(w, &rec);
                if (r == KZ_ENOTFOUND)
                    break;
                if (r) {
                    fprintf(stderr, "kzsearch: %s: %s\n", path, kz_last_error());
                    if (r != KZ_ECORRUPT)
                        rc = r;
                    skipped++;
                    break;
                }
                if (rec.too_large || strcmp(rec.type, "response") != 0 ||
                    !kz_html_content_type_is_html(rec.http_content_type))
                    continue;
                char charset[64];
                kz_html_content_type_charset(charset, sizeof charset, rec.http_content_type);
                kz_html_options o = { charset[0] ? charset : NULL, rec.target_uri, 0 };
                skipped += extract_one(&pg, rec.body, rec.body_len, &o, rec.target_uri, json, &rc);
                if (rc)
                    break;
            }
            kz_warc_close(w);
            continue;
        }
        kz_zreader *z = NULL;
        if ((rc = kz_zreader_open(&z, fd))) {
            close(fd);
            break;
        }
        data.len = 0;
        ssize_t n;
        while ((rc = kz_buf_reserve(&data, 1 << 20)) == KZ_OK && (n = kz_zreader_read(z, data.data + data.len, 1 << 20)) > 0)
            data.len += (size_t)n;
        int damaged = rc == KZ_OK && n < 0;
        if (damaged)
            fprintf(stderr, "kzsearch: %s: %s: skipped\n", path, kz_zreader_error(z));
        kz_zreader_free(z);
        close(fd);
        if (rc)
            break;
        if (damaged) {
            skipped++;
            continue;
        }
        skipped += extract_one(&pg, (const char *)data.data, data.len, NULL, path, json, &rc);
    }
    kz_html_page_free(&pg);
    kz_buf_free(&data);
    if (rc)
        return fail(rc);
    return skipped ? EXIT_SKIPPED : 0;
}
