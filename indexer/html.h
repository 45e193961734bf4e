/*
 * html.h: the private interface of the web page readers, in the way of a
 * section of kzint.h (kept apart so that only the files that read pages
 * see it):
 *
 *   indexer/html.c   one HTML page: charset to UTF-8, parse (libgumbo),
 *                    metadata, and the article's own text;
 *   indexer/warc.c   a WARC file, record by record;
 *   indexer/chrome.c the site's chrome in scraped plain text.
 */
#ifndef KZ_HTML_H
#define KZ_HTML_H

#include "kzint.h"

#include <sys/types.h>

/**************************************************************************
** Interface to code in indexer/html.c
**
** kz_html_extract() reads one page. A kz_html_page holds the result; it is
** zero-initialised empty and valid, is reused from page to page (keeping
** its buffers' capacity), and is freed with kz_html_page_free().
*/

/* Metadata fields a page gives, in this order, by these field names. */
enum { KZ_HTML_DATE, KZ_HTML_URL, KZ_HTML_SITE, KZ_HTML_AUTHOR, KZ_HTML_LANG, KZ_HTML_N_FIELDS };

/* kz_html_page.flags: what the reader had to repair (the page is kept). */
#define KZ_HTML_UNKNOWN_CHARSET 1u /* the charset named is not one iconv knows: read as UTF-8 */
#define KZ_HTML_INVALID_BYTES 2u   /* bytes invalid in the charset, replaced by U+FFFD */

/* The memory the parse of one page may take (libgumbo's tree, in an arena
 * the reader owns), unless kz_html_options.max_memory says otherwise: for
 * callers outside a build (kzsearch extract). A build gives each page a
 * fifth of its memory budget (source.c). */
#define KZ_HTML_DEFAULT_MEMORY (768ull << 20)

typedef struct kz_html_options {
    const char *http_charset; /* the charset of an HTTP Content-Type (WARC), or NULL */
    const char *url;          /* the page's address (WARC-Target-URI), or NULL: the url default */
    uint64_t max_memory;      /* bytes; 0 = KZ_HTML_DEFAULT_MEMORY */
} kz_html_options;

typedef struct kz_html_page {
    /* The result of the last kz_html_extract(): NUL-terminated UTF-8,
     * whitespace collapsed. text holds the article's blocks (paragraphs,
     * headings, list items) in page order, separated by blank lines. */
    kz_buf title;
    kz_buf text;
    kz_buf field[KZ_HTML_N_FIELDS]; /* empty when the page does not say */
    kz_meta meta[KZ_HTML_N_FIELDS]; /* the non-empty fields, pointing into field[] */
    size_t n_meta;
    char charset[64]; /* the charset the page was read in ("UTF-8", "windows-1251") */
    unsigned flags;   /* KZ_HTML_UNKNOWN_CHARSET, KZ_HTML_INVALID_BYTES */
    /* Scratch the reader keeps between pages; not for callers. */
    kz_buf utf8, scratch, nodes, stack, saved, markup;
} kz_html_page;

/* The field name of a KZ_HTML_* index ("date", "url", "site", "author", "lang"). */
const char *kz_html_field_name(int field);

/* Reads the page [data, data+len) into *page (opts may be NULL). Returns
 *   KZ_OK      the page was read (its text may be empty);
 *   KZ_ESYNTAX the bytes are not a page (binary data: NUL or control bytes);
 *   KZ_ELIMIT  the parse would take more than max_memory;
 *   KZ_ENOMEM;
 * each with a message. Nothing of data is kept. Memory is bounded by
 * max_memory plus a few times len; no walk of the tree recurses. */
int kz_html_extract(kz_html_page *page, const char *data, size_t len, const kz_html_options *opts);

void kz_html_page_free(kz_html_page *page);

/* Moves from's result (title, text, fields, charset, flags) into to,
 * whose result was freed; from keeps its scratch for the next page. */
void kz_html_page_move_result(kz_html_page *to, kz_html_page *from);

/* Fills doc's title, text and meta from page (pointers into page, valid
 * until its next use); id is left to the caller. */
void kz_html_page_doc(const kz_html_page *page, kz_jsonl_doc *doc);

/* Whether path names a page: .html, .htm, .xhtml, optionally .gz. */
int kz_html_is_page_name(const char *path);

/* The charset= parameter of a Content-Type value, copied to out (size
 * bytes, NUL-terminated); "" when it has none. */
void kz_html_content_type_charset(char *out, size_t size, const char *content_type);
/* Whether a Content-Type value is HTML (text/html, application/xhtml+xml). */
int kz_html_content_type_is_html(const char *content_type);

/**************************************************************************
** Interface to code in indexer/page_queue.c
**
** Web pages queued by the reading thread, extracted on the build's
** threads together, and added to the build in the queue's order.
*/
typedef struct kz_page_queue kz_page_queue;

/* A queue for b; *out is the caller's (kz_page_queue_free, after a last
 * kz_page_queue_flush). */
int kz_page_queue_new(kz_page_queue **out, kz_builder *b);
/* Queues the page [data, data+len) (opts may be NULL), to be added as the
 * document id: its fields are extra's (n_extra of them), then the page's
 * own of other names, then fallback (NULL: none) when neither has a
 * field of its name; title, when not empty, replaces the page's. where
 * names it in reports. Everything is copied, but for a page as large as
 * the queue: the pages before it and then it are extracted and added
 * before the call returns. A full queue is flushed: the return is
 * kz_page_queue_flush's then. */
int kz_page_queue_add(kz_page_queue *q, const char *data, size_t len, const kz_html_options *opts, const char *id,
                      size_t id_len, const char *title, size_t title_len, const kz_meta *extra, size_t n_extra,
                      const kz_meta *fallback, const char *where);
/* Extracts the queued pages and adds them to the build, in order, each
 * reported as a page read alone would be. An error other than a page's
 * (out of memory, the build's own) stops the adding; the queue is empty
 * after, whatever the return. */
int kz_page_queue_flush(kz_page_queue *q);
/* Frees q and the pages in it, not added. */
void kz_page_queue_free(kz_page_queue *q);

/**************************************************************************
** Interface to code in indexer/source.c (for warc.c)
**
** The reader of a byte stream that is gzip (any number of members) or
** plain, told apart by its first bytes.
*/
typedef struct kz_zreader kz_zreader;

/* A reader of fd, which stays the caller's to close. *out is the caller's
 * to free with kz_zreader_free(). */
int kz_zreader_open(kz_zreader **out, int fd);
/* Up to cap bytes: the count, 0 at a clean end, -1 on damage or a read
 * error (kz_zreader_error() says which). */
ssize_t kz_zreader_read(kz_zreader *r, uint8_t *out, size_t cap);
const char *kz_zreader_error(const kz_zreader *r);
/* Input bytes read from fd so far. */
uint64_t kz_zreader_consumed(const kz_zreader *r);
void kz_zreader_free(kz_zreader *r);

/**************************************************************************
** Interface to code in indexer/warc.c
**
** A WARC file (ISO 28500; WARC/1.0 and 1.1), plain or gzipped (one gzip
** member a record, or the whole file in one), read record by record.
*/
typedef struct kz_warc_reader kz_warc_reader;

typedef struct kz_warc_record {
    uint64_t number;          /* 1 for the file's first record */
    const char *type;         /* WARC-Type ("response", "request", ...), "" if absent */
    const char *target_uri;   /* WARC-Target-URI, "" if absent */
    const char *content_type; /* the record's Content-Type, "" if absent */
    /* For a response record whose block is an HTTP response: */
    int http_status;          /* 0 if the block is not one */
    const char *http_content_type; /* the HTTP Content-Type header, "" if absent */
    const char *body;         /* the HTTP body (or the whole block when not HTTP) */
    size_t body_len;
    uint64_t block_len;       /* Content-Length of the record */
    int too_large;            /* the block is over max_block: body is NULL */
    int decode;               /* the HTTP Content-Encoding: KZ_WARC_* below */
    const char *decode_error; /* what went wrong when decode is not 0 or DECODED */
} kz_warc_record;

/* kz_warc_record.decode: a body without Content-Encoding is 0. */
enum {
    KZ_WARC_DECODED = 1,     /* gzip, deflate, br or zstd, decompressed: body is the result */
    KZ_WARC_UNSUPPORTED = 2, /* an encoding not decoded (compress): body is as sent */
    KZ_WARC_DAMAGED = 3,     /* the compressed data is damaged or cut short */
    KZ_WARC_TOO_LARGE = 4    /* decompressed, it is over max_block bytes */
};

/* Reads from fd (which the reader owns from now and closes); name is used
 * in messages. Blocks over max_block bytes are skipped, not held. */
int kz_warc_open(kz_warc_reader **out, int fd, const char *name, uint64_t max_block);
/* The next record: KZ_OK and *rec (valid until the next call), KZ_ENOTFOUND
 * at the end, KZ_ECORRUPT when the file is damaged or cut (the message
 * says where; the records before were delivered), KZ_ENOMEM. */
int kz_warc_next(kz_warc_reader *r, kz_warc_record *rec);
/* Input bytes consumed so far (compressed, for .gz). */
uint64_t kz_warc_consumed(const kz_warc_reader *r);
void kz_warc_close(kz_warc_reader *r);

/* Whether path names a WARC file: .warc, .warc.gz. */
int kz_warc_is_name(const char *path);


/**************************************************************************
** Interface to code in indexer/chrome.c
**
** The site's chrome in a folder of scraped .txt files: lines repeated
** across the folder's documents, stock template lines, trailing sections,
** breadcrumbs (the rules are in chrome.c's opening comment). A folder is
** read twice: kz_chrome_learn() for each of its .txt files, then
** kz_chrome_clean() for each.
*/
typedef struct kz_chrome kz_chrome;

/* A table of line counts (4 MiB, bounded whatever the folders' size);
 * *out is the caller's to free with kz_chrome_free() (NULL is a no-op). */
int kz_chrome_new(kz_chrome **out);
void kz_chrome_free(kz_chrome *c);

/* Counts the lines of one document of folder (a name, folder_len bytes:
 * documents of the same folder name share counts). KZ_OK or KZ_ENOMEM. */
int kz_chrome_learn(kz_chrome *c, const char *folder, size_t folder_len, const char *text, size_t len);

/* One document without its chrome. Zero-initialised is valid; reused from
 * document to document; freed with kz_chrome_doc_free(). */
typedef struct kz_chrome_doc {
    const char *title; /* into the data given to kz_chrome_clean(); title_len 0 if none */
    size_t title_len;
    const char *text;  /* the lines kept after the title, as they were: into */
    size_t text_len;   /* that data when nothing is dropped, else into buf */
    size_t dropped;    /* non-blank lines dropped as chrome */
    kz_buf buf;        /* scratch */
} kz_chrome_doc;

/* Fills *out from the document [data, data+len) of folder. c may be NULL
 * (no folder counts: only the rules inside one document apply). out's
 * title points into data, which must outlive its use. KZ_OK or KZ_ENOMEM. */
int kz_chrome_clean(kz_chrome_doc *out, const kz_chrome *c, const char *folder, size_t folder_len, const char *data,
                    size_t len);
void kz_chrome_doc_free(kz_chrome_doc *d);

#endif
