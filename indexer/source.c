/*
 * source.c: turns what the user names on the command line into documents.
 *
 *  - a folder: every .txt and .md file under it, recursively, in sorted
 *    path order (byte order of the path relative to the folder); hidden
 *    entries (".git") are not entered; links to folders are followed,
 *    each folder read once; other files are counted;
 *  - a text file: title = its first non-blank line, text = the rest,
 *    id = the path relative to the folder given (or as given);
 *  - a JSON Lines file (.jsonl, .ndjson, optionally .gz) or "-" for stdin:
 *    one document per line (jsonl.c); blank lines are ignored; a record
 *    with "html" instead of "text" is a web page, extracted (html.c);
 *  - a web page (.html, .htm, .xhtml, optionally .gz): its article's text,
 *    title and metadata (html.c); id = the path as for a text file;
 *  - a WARC file (.warc, .warc.gz): each response record of HTML is a
 *    page (warc.c), id = its WARC-Target-URI. Folders hold these too.
 *
 * Pages are queued (page_queue.c), extracted on the build's threads
 * together and added in order; a document of another kind flushes the
 * queue before it is added.
 *
 * Nothing here aborts the build for one bad item: it is reported through
 * kz_builder_problem() and skipped.
 */
#include "kzint.h"
#include "html.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <isa-l/igzip_lib.h>

#define READ_CHUNK (1u << 20)

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int is_jsonl_name(const char *path)
{
    return has_suffix(path, ".jsonl") || has_suffix(path, ".ndjson") ||
           has_suffix(path, ".jsonl.gz") || has_suffix(path, ".ndjson.gz");
}

static int is_text_name(const char *path)
{
    return has_suffix(path, ".txt") || has_suffix(path, ".md");
}

/* The files a folder walk takes. */
static int is_source_name(const char *path)
{
    return is_text_name(path) || kz_html_is_page_name(path) || kz_warc_is_name(path);
}

/* ---------------------------------------------------------------- text files */

/* A file's modification time as the date of the document it gives
 * (README "Fields"): "YYYY-MM-DDTHH:MM:SSZ", UTC, in out (at least 32
 * bytes); "" for a time out of years 1 to 9999. */
static void mtime_date(char *out, size_t size, time_t t)
{
    struct tm tm;
    out[0] = 0;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999 ||
        strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        out[0] = 0;
}

/* Reads all of the file path into out (emptied first), at most max bytes.
 * 0 when read; 1 when it was not (reported when report is set: cannot be
 * opened or read, too large, binary); or a KZ error. *read_bytes counts
 * the bytes read, for progress; date (NULL: not wanted; 32 bytes) gets the
 * file's modification time (mtime_date). */
static int load_text_file(kz_builder *b, const char *path, kz_buf *out, int report, uint64_t *read_bytes,
                          char *date)
{
    int rc = 1;
    out->len = 0;
    *read_bytes = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (report)
            kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, path, "cannot open: %s", strerror(errno));
        return 1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        if (report)
            kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, path, "cannot stat: %s", strerror(errno));
        goto done;
    }
    if (date)
        mtime_date(date, 32, st.st_mtime);
    if ((uint64_t)st.st_size > kz_builder_max_doc(b)) {
        if (report)
            kz_builder_problem(b, KZ_PROBLEM_TOO_LARGE, path, "%llu bytes, over the document limit of %llu: skipped",
                               (unsigned long long)st.st_size, (unsigned long long)kz_builder_max_doc(b));
        *read_bytes = (uint64_t)st.st_size;
        goto done;
    }
    size_t size = (size_t)st.st_size, got = 0;
    if (kz_buf_reserve(out, size + 1)) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory reading %s (%zu bytes)", path, size);
        goto done;
    }
    while (got < size) {
        ssize_t n = read(fd, out->data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            if (report)
                kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, path, "cannot read: %s", strerror(errno));
            *read_bytes = got;
            goto done;
        }
        if (n == 0)
            break; /* shrank while we read: take what is there */
        got += (size_t)n;
    }
    *read_bytes = got;
    out->len = got;
    if (memchr(out->data, 0, got)) {
        if (report)
            kz_builder_problem(b, KZ_PROBLEM_BINARY, path, "holds NUL bytes (a binary file?): skipped");
        goto done;
    }
    rc = 0;
done:
    close(fd);
    return rc;
}

/* The folder part of a relative path: its length ("" for the root's own
 * files). */
static size_t folder_len_of(const char *rel)
{
    const char *slash = strrchr(rel, '/');
    return slash ? (size_t)(slash - rel) : 0;
}

/* A text file as one document. A .txt file is scraped text: its site's
 * chrome is dropped (chrome.c, with the folder counts in c when it is in
 * a folder, else NULL) and its title is the first line that is not
 * chrome. A .md file's title is its first non-blank line, the text the
 * rest. data and cd are scratch the caller reuses. */
static int read_text_file(kz_builder *b, kz_page_queue *pages, const char *path, const char *id, const kz_chrome *c,
                          kz_buf *data, kz_chrome_doc *cd)
{
    uint64_t read_bytes;
    char date[32] = "";
    int rc = kz_page_queue_flush(pages); /* the pages before it come first */
    if (rc)
        return rc;
    rc = load_text_file(b, path, data, 1, &read_bytes, date);
    kz_builder_input_read(b, read_bytes);
    if (rc)
        return rc > 0 ? KZ_OK : rc;
    const char *text = (const char *)data->data;
    size_t got = data->len;
    kz_jsonl_doc doc = { 0 };
    doc.id = id;
    doc.id_len = strlen(id);
    kz_meta when = { "date", 4, date, strlen(date) };
    doc.meta = &when;
    doc.n_meta = date[0] != 0;
    if (has_suffix(path, ".txt")) {
        if ((rc = kz_chrome_clean(cd, c, id, folder_len_of(id), text, got)))
            return rc;
        doc.title = cd->title;
        doc.title_len = cd->title_len;
        doc.text = cd->text;
        doc.text_len = cd->text_len;
        return kz_builder_add(b, &doc, path);
    }
    /* Title: the first line with something other than white space. */
    size_t at = 0, title_start = 0, title_end = 0;
    while (at < got) {
        const char *nl = memchr(text + at, '\n', got - at);
        size_t end = nl ? (size_t)(nl - text) : got;
        size_t s = at, e = end;
        while (s < e && (text[s] == ' ' || text[s] == '\t' || text[s] == '\r' || text[s] == '\f'))
            s++;
        while (e > s && (text[e - 1] == ' ' || text[e - 1] == '\t' || text[e - 1] == '\r'))
            e--;
        at = nl ? end + 1 : got;
        if (e > s) {
            title_start = s;
            title_end = e;
            break;
        }
    }
    doc.title = text + title_start;
    doc.title_len = title_end - title_start;
    doc.text = text + at;
    doc.text_len = got - at;
    return kz_builder_add(b, &doc, path);
}

static int read_page_file(kz_builder *b, kz_page_queue *pages, const char *path, const char *id);
static int read_warc(kz_builder *b, kz_page_queue *pages, const char *path);

/* ---------------------------------------------------------------- folders */

typedef struct path_list {
    char **v;
    size_t n, cap;
} path_list;

static int path_list_add(path_list *l, const char *rel)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **p = realloc(l->v, cap * sizeof *p);
        if (!p)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n] = strdup(rel);
    if (!l->v[l->n])
        return kz_error_set(KZ_ENOMEM, "out of memory");
    l->n++;
    return KZ_OK;
}

static int cmp_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A folder walk: the folders entered so far (by device and inode, so
 * that a folder reached twice, through a link or a loop, is read once)
 * and the links to folders met, followed after the real folders. */
typedef struct folder_id {
    dev_t dev;
    ino_t ino;
} folder_id;

typedef struct walk_state {
    path_list files;   /* .txt/.md files, relative to the root */
    path_list links;   /* links to folders, relative to the root, not yet followed */
    folder_id *seen;
    size_t n_seen, seen_cap;
} walk_state;

/* Records folder st as entered; 0 if it was already. */
static int enter_folder(walk_state *w, const struct stat *st, int *first)
{
    *first = 0;
    for (size_t i = 0; i < w->n_seen; i++)
        if (w->seen[i].dev == st->st_dev && w->seen[i].ino == st->st_ino)
            return KZ_OK;
    if (w->n_seen == w->seen_cap) {
        size_t cap = w->seen_cap ? w->seen_cap * 2 : 64;
        folder_id *p = realloc(w->seen, cap * sizeof *p);
        if (!p)
            return kz_error_set(KZ_ENOMEM, "out of memory");
        w->seen = p;
        w->seen_cap = cap;
    }
    w->seen[w->n_seen++] = (folder_id){ st->st_dev, st->st_ino };
    *first = 1;
    return KZ_OK;
}

/* Collects the .txt/.md files under root/rel, a folder already entered
 * (enter_folder). Links to folders are put aside in w->links. depth
 * bounds the recursion against absurd trees. */
static int walk(kz_builder *b, const char *root, const char *rel, walk_state *w, int depth)
{
    char dir[8192];
    snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    if (depth > 256) {
        kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, dir, "folder nested too deep: skipped");
        return KZ_OK;
    }
    DIR *d = opendir(dir);
    if (!d) {
        kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, dir, "cannot open folder: %s", strerror(errno));
        return KZ_OK;
    }
    int rc = KZ_OK;
    struct dirent *e;
    /* readdir says an error only through errno: set before each call. */
    while ((errno = 0, e = readdir(d)) && rc == KZ_OK) {
        if (e->d_name[0] == '.')
            continue;
        char sub[8192], full[16400];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        if (lstat(full, &st) != 0) {
            kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, full, "cannot stat: %s", strerror(errno));
            continue;
        }
        if (S_ISLNK(st.st_mode)) {
            if (stat(full, &st) != 0) {
                if (is_source_name(e->d_name))
                    kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, full, "cannot follow link: %s",
                                       strerror(errno));
                continue;
            }
            if (S_ISDIR(st.st_mode)) {
                rc = path_list_add(&w->links, sub);
                continue;
            }
        }
        if (S_ISDIR(st.st_mode)) {
            int first;
            if ((rc = enter_folder(w, &st, &first)) == KZ_OK && first)
                rc = walk(b, root, sub, w, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            if (is_source_name(e->d_name)) {
                rc = path_list_add(&w->files, sub);
                kz_builder_input_total(b, (uint64_t)st.st_size);
            } else {
                kz_builder_problem(b, KZ_PROBLEM_OTHER_FILE, full,
                                   "not a .txt, .md, .html, .htm, .xhtml or .warc file: skipped");
            }
        } else if (is_source_name(e->d_name)) {
            /* A FIFO would block the build, a device never end. */
            kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, full, "not a regular file (a %s): skipped",
                               S_ISFIFO(st.st_mode) ? "FIFO" : S_ISSOCK(st.st_mode) ? "socket" : "device");
        } else {
            kz_builder_problem(b, KZ_PROBLEM_OTHER_FILE, full, "not a regular file: skipped");
        }
    }
    if (!e && errno && rc == KZ_OK)
        kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, dir, "cannot read folder: %s (the rest of it is skipped)",
                           strerror(errno));
    closedir(d);
    return rc;
}

static void path_list_free(path_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Every .txt and .md file under root, in sorted path order. Links to
 * folders are followed after the real folders, in sorted order, round by
 * round, so that which path names a file read twice does not depend on
 * the order readdir gives: a folder already read through another path
 * (or a loop) is reported and not read again. */
static int read_folder(kz_builder *b, kz_page_queue *pages, const char *root)
{
    walk_state w = { 0 };
    kz_chrome *chrome = NULL;
    kz_chrome_doc cd = { 0 };
    kz_buf data = { 0 };
    struct stat st;
    int first, rc = KZ_OK;
    if (stat(root, &st) != 0) {
        kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, root, "cannot stat: %s", strerror(errno));
        return KZ_OK;
    }
    if ((rc = enter_folder(&w, &st, &first)) == KZ_OK)
        rc = walk(b, root, "", &w, 0);
    while (rc == KZ_OK && w.links.n > 0) {
        path_list links = w.links;
        memset(&w.links, 0, sizeof w.links);
        qsort(links.v, links.n, sizeof *links.v, cmp_paths);
        for (size_t i = 0; i < links.n && rc == KZ_OK; i++) {
            char full[8192];
            snprintf(full, sizeof full, "%s/%s", root, links.v[i]);
            if (stat(full, &st) != 0) {
                kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, full, "cannot follow link: %s", strerror(errno));
                continue;
            }
            if ((rc = enter_folder(&w, &st, &first)) != KZ_OK)
                break;
            if (first)
                rc = walk(b, root, links.v[i], &w, 1);
            else
                kz_builder_problem(b, KZ_PROBLEM_OTHER_FILE, full,
                                   "a link to a folder already read (or a loop): not read again");
        }
        path_list_free(&links);
    }
    if (rc == KZ_OK && w.files.n > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(w.files.v, w.files.n, sizeof *w.files.v, cmp_paths);
    /* The first pass over the .txt files: their lines' counts by folder. */
    for (size_t i = 0; i < w.files.n && rc == KZ_OK; i++) {
        if (!has_suffix(w.files.v[i], ".txt"))
            continue;
        if (!chrome && (rc = kz_chrome_new(&chrome)))
            break;
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", root, w.files.v[i]);
        uint64_t read_bytes;
        int r = load_text_file(b, full, &data, 0, &read_bytes, NULL);
        if (r < 0)
            rc = r;
        else if (r == 0)
            rc = kz_chrome_learn(chrome, w.files.v[i], folder_len_of(w.files.v[i]), (const char *)data.data,
                                 data.len);
    }
    for (size_t i = 0; i < w.files.n && rc == KZ_OK; i++) {
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", root, w.files.v[i]);
        if (kz_html_is_page_name(full))
            rc = read_page_file(b, pages, full, w.files.v[i]);
        else if (kz_warc_is_name(full))
            rc = read_warc(b, pages, full);
        else
            rc = read_text_file(b, pages, full, w.files.v[i], chrome, &data, &cd);
    }
    kz_chrome_free(chrome);
    kz_chrome_doc_free(&cd);
    kz_buf_free(&data);
    path_list_free(&w.files);
    path_list_free(&w.links);
    free(w.seen);
    return rc;
}

/* ---------------------------------------------------------------- input */

/* A byte stream that is gzip (one or more members) or plain, told apart by
 * its first two bytes. Every byte decompressed before damage is delivered;
 * the damage is then an error. Inflating is ISA-L's (igzip): on the
 * bench's 150 MB wikipedia-en.jsonl.gz it takes a third of zlib's time,
 * and a .gz is read by the one thread that feeds the workers. Each gzip
 * member's header, CRC-32 and length are checked. */
#define ZR_IN_SIZE (256u << 10)

typedef struct zreader {
    int fd;
    int kind; /* 0 undecided, 1 plain, 2 gzip */
    struct inflate_state *zs; /* gzip only */
    int member_done;          /* the current member ended, trailer checked */
    int failed;
    uint8_t *in;
    size_t in_len, in_at;
    int in_eof;
    uint64_t consumed; /* input bytes read from fd */
    char err[256];
} zreader;

static int zr_fill(zreader *z)
{
    if (z->in_at < z->in_len || z->in_eof)
        return 0;
    for (;;) {
        ssize_t n = read(z->fd, z->in, ZR_IN_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(z->err, sizeof z->err, "%s", strerror(errno));
            return -1;
        }
        z->in_len = (size_t)n;
        z->in_at = 0;
        z->in_eof = n == 0;
        z->consumed += (uint64_t)n;
        return 0;
    }
}

static const char *isal_error(int r)
{
    switch (r) {
    case ISAL_INVALID_WRAPPER: return "not a gzip member where one should start";
    case ISAL_UNSUPPORTED_METHOD: return "a gzip member not compressed with deflate";
    case ISAL_INCORRECT_CHECKSUM: return "CRC-32 or length mismatch";
    case ISAL_NEED_DICT: return "a preset dictionary is needed";
    default: return "invalid deflate data";
    }
}

static void zr_start_member(zreader *z)
{
    isal_inflate_init(z->zs);
    z->zs->crc_flag = ISAL_GZIP;
    z->member_done = 0;
}

/* Reads up to cap bytes: the count, 0 at a clean end, -1 on damage or a
 * read error (z->err says which). */
static ssize_t zr_read(zreader *z, uint8_t *out, size_t cap)
{
    if (z->failed)
        return -1;
    if (z->kind == 0) {
        /* Two bytes decide; a pipe may give them one at a time. */
        while (z->in_len < 2 && !z->in_eof) {
            ssize_t n = read(z->fd, z->in + z->in_len, ZR_IN_SIZE - z->in_len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                snprintf(z->err, sizeof z->err, "%s", strerror(errno));
                z->failed = 1;
                return -1;
            }
            z->in_eof = n == 0;
            z->in_len += (size_t)n;
            z->consumed += (uint64_t)n;
        }
        z->kind = z->in_len >= 2 && z->in[0] == 0x1f && z->in[1] == 0x8b ? 2 : 1;
        if (z->kind == 2) {
            if (!(z->zs = malloc(sizeof *z->zs))) {
                snprintf(z->err, sizeof z->err, "out of memory");
                z->failed = 1;
                return -1;
            }
            zr_start_member(z);
        }
    }
    if (zr_fill(z)) {
        z->failed = 1;
        return -1;
    }
    if (z->kind == 1) {
        size_t n = KZ_MIN(cap, z->in_len - z->in_at);
        memcpy(out, z->in + z->in_at, n);
        z->in_at += n;
        return (ssize_t)n;
    }
    struct inflate_state *zs = z->zs;
    zs->next_out = out;
    zs->avail_out = (uint32_t)KZ_MIN(cap, (size_t)UINT32_MAX);
    uint32_t want = zs->avail_out;
    while (zs->avail_out == want) {
        if (z->member_done) {
            /* The end, or a further member (an empty one gives nothing:
             * go on to the next). */
            if (zr_fill(z)) {
                z->failed = 1;
                break;
            }
            if (z->in_at == z->in_len && z->in_eof)
                break;
            zr_start_member(z);
            zs->next_out = out;
            zs->avail_out = want;
        }
        if (z->in_at == z->in_len) {
            if (zr_fill(z)) {
                z->failed = 1;
                break;
            }
            if (z->in_eof) {
                snprintf(z->err, sizeof z->err, "unexpected end of the gzip stream (truncated?)");
                z->failed = 1;
                break;
            }
        }
        zs->next_in = z->in + z->in_at;
        zs->avail_in = (uint32_t)KZ_MIN(z->in_len - z->in_at, (size_t)UINT32_MAX);
        int r = isal_inflate(zs);
        z->in_at = (size_t)(zs->next_in - z->in);
        if (r < 0 || r == ISAL_NEED_DICT) {
            snprintf(z->err, sizeof z->err, "gzip data damaged: %s", isal_error(r));
            z->failed = 1;
            break;
        }
        if (zs->block_state == ISAL_BLOCK_FINISH)
            z->member_done = 1;
    }
    size_t produced = want - zs->avail_out;
    return produced > 0 ? (ssize_t)produced : (z->failed ? -1 : 0);
}

/* The gzip-or-plain reader for warc.c (html.h). */
struct kz_zreader {
    zreader z;
};

int kz_zreader_open(kz_zreader **out, int fd)
{
    kz_zreader *r = calloc(1, sizeof *r);
    if (!r || !(r->z.in = malloc(ZR_IN_SIZE))) {
        free(r);
        *out = NULL;
        return kz_error_set(KZ_ENOMEM, "out of memory");
    }
    r->z.fd = fd;
    *out = r;
    return KZ_OK;
}

ssize_t kz_zreader_read(kz_zreader *r, uint8_t *out, size_t cap) { return zr_read(&r->z, out, cap); }
const char *kz_zreader_error(const kz_zreader *r) { return r->z.err; }
uint64_t kz_zreader_consumed(const kz_zreader *r) { return r->z.consumed; }

void kz_zreader_free(kz_zreader *r)
{
    if (!r)
        return;
    free(r->z.zs);
    free(r->z.in);
    free(r);
}

/* ---------------------------------------------------------------- web pages */

/* Reads all of a (gzip or plain) file into out, at most limit bytes:
 * 1 when it has more, -1 on damage (z's err says). */
static int read_all(zreader *z, kz_buf *out, uint64_t limit, int *rc)
{
    *rc = KZ_OK;
    for (;;) {
        if ((*rc = kz_buf_reserve(out, READ_CHUNK)))
            return 0;
        ssize_t n = zr_read(z, out->data + out->len, READ_CHUNK);
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        out->len += (size_t)n;
        if (out->len > limit)
            return 1;
    }
}

static int read_page_file(kz_builder *b, kz_page_queue *pages, const char *path, const char *id)
{
    int rc = KZ_OK;
    kz_buf data = { 0 };
    zreader z;
    memset(&z, 0, sizeof z);
    z.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (z.fd < 0) {
        kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, path, "cannot open: %s", strerror(errno));
        return KZ_OK;
    }
    if (!(z.in = malloc(ZR_IN_SIZE))) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory reading %s", path);
        goto done;
    }
    int r = read_all(&z, &data, kz_builder_max_doc(b), &rc);
    kz_builder_input_read(b, z.consumed);
    if (rc)
        goto done;
    if (r < 0) {
        kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, path, "%s: skipped", z.err);
        goto done;
    }
    if (r > 0) {
        kz_builder_problem(b, KZ_PROBLEM_TOO_LARGE, path, "a page over the document limit of %llu bytes: skipped",
                           (unsigned long long)kz_builder_max_doc(b));
        goto done;
    }
    struct stat st;
    char date[32] = "";
    if (fstat(z.fd, &st) == 0)
        mtime_date(date, sizeof date, st.st_mtime);
    kz_meta when = { "date", 4, date, strlen(date) };
    rc = kz_page_queue_add(pages, (const char *)data.data, data.len, NULL, id, strlen(id), NULL, 0, NULL, 0,
                           date[0] ? &when : NULL, path);
done:
    kz_buf_free(&data);
    free(z.zs);
    free(z.in);
    close(z.fd);
    return rc;
}

/* Each response record of a WARC file whose HTTP Content-Type is HTML. */
static int read_warc(kz_builder *b, kz_page_queue *pages, const char *path)
{
    int rc = KZ_OK;
    kz_warc_reader *wr = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, path, "cannot open: %s", strerror(errno));
        return KZ_OK;
    }
    if ((rc = kz_warc_open(&wr, fd, path, kz_builder_max_doc(b))))
        return rc;
    uint64_t reported = 0;
    for (;;) {
        kz_warc_record rec;
        rc = kz_warc_next(wr, &rec);
        uint64_t consumed = kz_warc_consumed(wr);
        kz_builder_input_read(b, consumed - reported);
        reported = consumed;
        if (rc == KZ_ENOTFOUND) {
            rc = KZ_OK;
            break;
        }
        if (rc == KZ_ECORRUPT) {
            kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, path, "%s: the rest is skipped", kz_last_error());
            rc = KZ_OK;
            break;
        }
        if (rc)
            break;
        if (strcmp(rec.type, "response") != 0 || !kz_html_content_type_is_html(rec.http_content_type))
            continue;
        char where[4200];
        snprintf(where, sizeof where, "%s:%llu", path, (unsigned long long)rec.number);
        if (rec.too_large) {
            kz_builder_problem(b, KZ_PROBLEM_TOO_LARGE, where, "a record of %llu bytes, over the document limit: skipped",
                               (unsigned long long)rec.block_len);
            continue;
        }
        if (!rec.target_uri[0]) {
            kz_builder_problem(b, KZ_PROBLEM_BAD_FIELD, where, "a response without WARC-Target-URI: skipped");
            continue;
        }
        if (rec.decode == KZ_WARC_UNSUPPORTED || rec.decode == KZ_WARC_DAMAGED) {
            kz_builder_problem(b, rec.decode == KZ_WARC_DAMAGED ? KZ_PROBLEM_UNREADABLE : KZ_PROBLEM_BINARY, where,
                               "%s: skipped", rec.decode_error);
            continue;
        }
        if (rec.decode == KZ_WARC_TOO_LARGE) {
            kz_builder_problem(b, KZ_PROBLEM_TOO_LARGE, where, "%s: skipped", rec.decode_error);
            continue;
        }
        char charset[64];
        kz_html_content_type_charset(charset, sizeof charset, rec.http_content_type);
        kz_html_options opts = { charset[0] ? charset : NULL, rec.target_uri, 0 };
        if ((rc = kz_page_queue_add(pages, rec.body, rec.body_len, &opts, rec.target_uri, strlen(rec.target_uri),
                                    NULL, 0, NULL, 0, NULL, where)))
            break;
    }
    kz_warc_close(wr);
    return rc;
}

/* ---------------------------------------------------------------- JSON Lines */

static int is_blank_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

static int read_jsonl(kz_builder *b, kz_page_queue *pages, int fd, const char *name)
{
    int rc = KZ_OK;
    kz_jsonl_parser *parser = NULL;
    kz_buf buf = { 0 };
    zreader z;
    memset(&z, 0, sizeof z);
    z.fd = fd;
    z.in = malloc(ZR_IN_SIZE);
    if (!z.in) {
        rc = kz_error_set(KZ_ENOMEM, "out of memory opening %s", name);
        goto done;
    }
    if ((rc = kz_jsonl_parser_new(&parser)))
        goto done;
    uint64_t line_no = 0, reported = 0;
    size_t start = 0; /* start of the current line in buf */
    int eof = 0, damaged = 0, discarding = 0;
    /* A line may be twice the document limit (JSON escapes) plus slack. */
    uint64_t max_line = 2ull * 1024 * 1024 * 1024 + (1u << 20);
    while (!eof) {
        if (start > 0) {
            memmove(buf.data, buf.data + start, buf.len - start);
            buf.len -= start;
            start = 0;
        }
        if ((rc = kz_buf_reserve(&buf, READ_CHUNK)))
            goto done;
        ssize_t n = zr_read(&z, buf.data + buf.len, READ_CHUNK);
        if (n < 0) {
            /* The lines before the damage are kept; a cut line is not parsed. */
            kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, name, "%s after line %llu: the rest is skipped",
                               z.err, (unsigned long long)line_no);
            damaged = 1;
            n = 0;
        }
        if (n == 0)
            eof = 1;
        size_t scan = buf.len;
        buf.len += (size_t)n;
        if (z.consumed > reported) {
            kz_builder_input_read(b, z.consumed - reported);
            reported = z.consumed;
        }
        for (;;) {
            const char *nl = memchr(buf.data + scan, '\n', buf.len - scan);
            size_t end;
            if (nl)
                end = (size_t)((const uint8_t *)nl - buf.data);
            else if (eof && !damaged && buf.len > start)
                end = buf.len;
            else
                break;
            line_no++;
            const char *line = (const char *)buf.data + start;
            size_t len = end - start;
            char where[4200];
            snprintf(where, sizeof where, "%s:%llu", name, (unsigned long long)line_no);
            if (discarding) {
                discarding = 0; /* the rest of an over-long line */
            } else if (!is_blank_line(line, len)) {
                kz_jsonl_doc doc;
                int prc = kz_jsonl_parse(parser, line, len, &doc);
                if (prc == KZ_OK && !doc.text) { /* a web page */
                    if ((rc = kz_page_queue_add(pages, doc.html, doc.html_len, NULL, doc.id, doc.id_len, doc.title,
                                                doc.title_len, doc.meta, doc.n_meta, NULL, where)))
                        goto done;
                } else if (prc == KZ_OK) { /* after the pages before it */
                    if ((rc = kz_page_queue_flush(pages)) || (rc = kz_builder_add(b, &doc, where)))
                        goto done;
                } else if (prc == KZ_ESYNTAX) {
                    kz_builder_problem(b, KZ_PROBLEM_MALFORMED_JSON, where, "%s: skipped", kz_last_error());
                } else if (prc == KZ_EFIELD) {
                    kz_builder_problem(b, KZ_PROBLEM_BAD_FIELD, where, "%s: skipped", kz_last_error());
                } else {
                    rc = prc;
                    goto done;
                }
            }
            start = end + (nl ? 1 : 0);
            scan = start;
            if (!nl)
                break;
        }
        if (!eof && buf.len - start > max_line) {
            line_no++;
            char where[4200];
            snprintf(where, sizeof where, "%s:%llu", name, (unsigned long long)line_no);
            kz_builder_problem(b, KZ_PROBLEM_TOO_LARGE, where, "line longer than %llu bytes: skipped",
                               (unsigned long long)max_line);
            line_no--; /* counted again when its end is found */
            start = buf.len;
            discarding = 1;
        }
    }
done:
    kz_jsonl_parser_free(parser);
    kz_buf_free(&buf);
    free(z.zs);
    free(z.in);
    close(fd);
    return rc;
}

/* ---------------------------------------------------------------- entry */

/* One source, its pages queued in pages. */
static int read_source(kz_builder *b, kz_page_queue *pages, const char *path)
{
    if (strcmp(path, "-") == 0) {
        int fd = dup(0);
        if (fd < 0)
            return kz_error_errno(KZ_EIO, errno, "cannot read standard input");
        return read_jsonl(b, pages, fd, "-");
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return kz_error_set(KZ_ENOTFOUND, "%s: no such file or folder", path);
        kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, path, "cannot stat: %s", strerror(errno));
        return KZ_OK;
    }
    if (S_ISDIR(st.st_mode))
        return read_folder(b, pages, path);
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode)) {
        kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, path, "not a file or folder: skipped");
        return KZ_OK;
    }
    if (is_jsonl_name(path)) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            kz_builder_problem(b, KZ_PROBLEM_UNREADABLE, path, "cannot open: %s", strerror(errno));
            return KZ_OK;
        }
        if (S_ISREG(st.st_mode))
            kz_builder_input_total(b, (uint64_t)st.st_size);
        return read_jsonl(b, pages, fd, path);
    }
    if (S_ISREG(st.st_mode))
        kz_builder_input_total(b, (uint64_t)st.st_size);
    if (kz_html_is_page_name(path))
        return read_page_file(b, pages, path, path);
    if (kz_warc_is_name(path))
        return read_warc(b, pages, path);
    kz_buf data = { 0 };
    kz_chrome_doc cd = { 0 };
    int rc = read_text_file(b, pages, path, path, NULL, &data, &cd);
    kz_chrome_doc_free(&cd);
    kz_buf_free(&data);
    return rc;
}

int kz_source_add(kz_builder *b, const char *path)
{
    kz_page_queue *pages;
    int rc = kz_page_queue_new(&pages, b);
    if (rc)
        return rc;
    rc = read_source(b, pages, path);
    if (rc == KZ_OK)
        rc = kz_page_queue_flush(pages);
    kz_page_queue_free(pages);
    return rc;
}
