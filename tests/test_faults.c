/*
 * test_faults.c: failing system calls and allocations, at every point of
 * a change (README "Reliability", issue 15 "Hostile input").
 *
 * The C library calls the library makes (open, fopen, mkstemp, opendir,
 * readdir, write, pwrite, fwrite, fflush, fsync, rename, mkdir, close,
 * fclose, read, pread, fread, getc, fstat, stat, lstat, mmap, flock, lseek,
 * fseek, unlink, rmdir, malloc, calloc, realloc, strdup, strndup, asprintf,
 * realpath) are wrapped at link time (GNU ld --wrap, CMakeLists.txt: this
 * executable only, linked with the static library). A wrapper passes the
 * call on unless a fault is armed: then the Nth call of that function made
 * while the change under test runs fails once (-1 with EIO, ENOSPC for
 * writes; NULL with ENOMEM for allocations; close and fclose close and
 * then say EIO). The harness's own calls, made while nothing is armed,
 * never fail.
 *
 * Five changes, each from the generation the one before left: `index`
 * (a rebuild of a 200-document corpus with metadata, JSON Lines and a
 * folder, over an older index; two threads), `add` (50 documents, 15 of
 * them new versions of ones the index has), `delete` (20 ids, one
 * unknown), `update` (after the sources changed: files and lines changed,
 * added and removed) and `optimize` (KZ_MERGE_ALL). For each, a run
 * without faults counts the calls of each function; then the Nth call is
 * failed, for every N when there are few, else the first and last few, a
 * stride, and those next to every fsync and rename. Each case runs in a
 * worker process (so a crash is a reported case, not the end of the test;
 * a crash, a memory leak or a leaked descriptor ends the worker and the
 * next case starts another). After each:
 *   (a) the change returns an error (or succeeds, when the call was one it
 *       may do without: never a write, fsync or rename), and nothing
 *       crashes or aborts; no descriptor is left open, and (under ASan)
 *       no memory, by a failure path;
 *   (b) an error comes with a message (kz_last_error);
 *   (c) the index opens and answers a fixed set of queries (ids and
 *       scores, bit for bit), stored fields, fingerprints and counts
 *       exactly as the generation before the change, or, if the change
 *       succeeded, as the one after it (an error after the manifest's
 *       rename, from the folder's fsync, may leave the one after);
 *   (d) kz_index_check passes;
 *   (e) the same change run again without faults succeeds, leaves no
 *       file the manifest does not name, and answers as the generation
 *       after it, whose answers are those of a fresh build of its
 *       documents.
 *
 * A disk that fills up: each change in a child process with a file size
 * limit (RLIMIT_FSIZE, SIGXFSZ ignored, so writes fail with EFBIG) from 0
 * to past its largest file, then (c), (d), (e); and, when this process may
 * mount (root, a mount namespace of its own), on a tmpfs from the size of
 * the old index up (ENOSPC); skipped otherwise.
 *
 * What the library does wrong today is listed in known_bugs[]: such cases
 * are counted and printed, not failed, until they are fixed. Anything
 * else that goes wrong fails the test, with the call, N, what it was
 * given and a backtrace.
 *
 * Under ASan the cases are sparser (forks and leak checks cost more).
 * KZ_FAULTS_ALL=1 tries every N of every function (minutes);
 * KZ_FAULTS_DENSE=1 samples under ASan as without; KZ_FAULTS_OP=name runs
 * one change; KZ_FAULTS_VERBOSE=1 prints every case.
 */
#include "kzint.h"
#include "format.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* Under AddressSanitizer: its own crash reports, and LeakSanitizer's
 * check of each change's failure path. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define KZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define KZ_ASAN 1
#endif
#endif

#ifdef KZ_ASAN
/* A smaller quarantine than ASan's 256 MB: each case forks, and a fork
 * copies what the quarantine holds. ASAN_OPTIONS overrides it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "quarantine_size_mb=16"; }
#endif

/* ================================================================ faults */

#define FAULT_FNS(X)                                                                                    \
    X(open) X(fopen) X(mkstemp) X(opendir) X(readdir) X(write) X(pwrite) X(fwrite) X(fflush) X(fsync)    \
    X(rename) X(mkdir) X(close) X(fclose) X(read) X(pread) X(fread) X(getc) X(fstat) X(stat) X(lstat)    \
    X(mmap) X(flock) X(lseek) X(fseek) X(unlink) X(rmdir) X(malloc) X(calloc) X(realloc) X(strdup)      \
    X(strndup) X(asprintf) X(realpath)

enum {
#define X(f) F_##f,
    FAULT_FNS(X)
#undef X
    N_FNS
};

static const char *const fn_names[N_FNS] = {
#define X(f) #f,
    FAULT_FNS(X)
#undef X
};

static _Atomic int g_armed;             /* count (and maybe fail) calls */
static _Atomic long g_calls[N_FNS];     /* calls made while armed */
static int g_fail_fn = -1;              /* the function to fail ... */
static long g_fail_n;                   /* ... at its Nth call */
static _Atomic int g_fired;             /* the fault happened */
static char g_detail[600];              /* what the failed call was given */
static void *g_stack[24];
static int g_stack_depth;
/* The order of the calls of a counting run, for the calls next to each
 * fsync and rename. */
#define LOG_MAX (1u << 22)
static uint8_t g_log[LOG_MAX];
static _Atomic size_t g_log_len;
static int g_logging;
/* Bytes the counting run wrote. */
static _Atomic uint64_t g_bytes_written;

static void fd_path(int fd, char *out, size_t size)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, size - 1);
    out[n > 0 ? (size_t)n : 0] = 0;
}

/* Whether this call is the one to fail. */
static int fault(int fn)
{
    if (!atomic_load(&g_armed))
        return 0;
    long n = atomic_fetch_add(&g_calls[fn], 1) + 1;
    if (g_logging) {
        size_t i = atomic_fetch_add(&g_log_len, 1);
        if (i < LOG_MAX)
            g_log[i] = (uint8_t)fn;
    }
    if (fn != g_fail_fn || n != g_fail_n)
        return 0;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&g_fired, &expected, 1))
        return 0;
    g_stack_depth = backtrace(g_stack, 24);
    g_detail[0] = 0;
    return 1;
}

#define DETAIL(...) snprintf(g_detail, sizeof g_detail, __VA_ARGS__)

int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...)
{
    int mode = 0;
    if (flags & (O_CREAT | __O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, int);
        va_end(ap);
    }
    if (fault(F_open)) {
        DETAIL("open(\"%s\", %s)", path, (flags & O_ACCMODE) == O_RDONLY ? "read" : "write");
        errno = (flags & O_CREAT) ? ENOSPC : EIO;
        return -1;
    }
    return __real_open(path, flags, mode);
}

FILE *__real_fopen(const char *path, const char *how);
FILE *__wrap_fopen(const char *path, const char *how)
{
    if (fault(F_fopen)) {
        DETAIL("fopen(\"%s\", \"%s\")", path, how);
        errno = ENOSPC;
        return NULL;
    }
    return __real_fopen(path, how);
}

int __real_mkstemp(char *tmpl);
int __wrap_mkstemp(char *tmpl)
{
    if (fault(F_mkstemp)) {
        DETAIL("mkstemp(\"%s\")", tmpl);
        errno = ENOSPC;
        return -1;
    }
    return __real_mkstemp(tmpl);
}

DIR *__real_opendir(const char *path);
DIR *__wrap_opendir(const char *path)
{
    if (fault(F_opendir)) {
        DETAIL("opendir(\"%s\")", path);
        errno = EIO;
        return NULL;
    }
    return __real_opendir(path);
}

struct dirent *__real_readdir(DIR *d);
struct dirent *__wrap_readdir(DIR *d)
{
    if (fault(F_readdir)) {
        char p[512];
        fd_path(dirfd(d), p, sizeof p);
        DETAIL("readdir(%s)", p);
        errno = EIO;
        return NULL;
    }
    return __real_readdir(d);
}

ssize_t __real_write(int fd, const void *buf, size_t len);
ssize_t __wrap_write(int fd, const void *buf, size_t len)
{
    if (fault(F_write)) {
        char p[512];
        fd_path(fd, p, sizeof p);
        DETAIL("write(%s, %zu bytes)", p, len);
        errno = ENOSPC;
        return -1;
    }
    ssize_t n = __real_write(fd, buf, len);
    if (n > 0 && atomic_load(&g_armed))
        atomic_fetch_add(&g_bytes_written, (uint64_t)n);
    return n;
}

ssize_t __real_pwrite(int fd, const void *buf, size_t len, off_t at);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t len, off_t at)
{
    if (fault(F_pwrite)) {
        char p[512];
        fd_path(fd, p, sizeof p);
        DETAIL("pwrite(%s, %zu bytes at %lld)", p, len, (long long)at);
        errno = ENOSPC;
        return -1;
    }
    return __real_pwrite(fd, buf, len, at);
}

static void file_failed(FILE *f) { f->_flags |= _IO_ERR_SEEN; } /* as glibc marks a failed stream */

size_t __real_fwrite(const void *p, size_t size, size_t n, FILE *f);
size_t __wrap_fwrite(const void *p, size_t size, size_t n, FILE *f)
{
    if (fault(F_fwrite)) {
        char path[512];
        fd_path(fileno(f), path, sizeof path);
        DETAIL("fwrite(%s, %zu bytes)", path, size * n);
        file_failed(f);
        errno = ENOSPC;
        return 0;
    }
    if (atomic_load(&g_armed))
        atomic_fetch_add(&g_bytes_written, (uint64_t)(size * n));
    return __real_fwrite(p, size, n, f);
}

int __real_fflush(FILE *f);
int __wrap_fflush(FILE *f)
{
    if (fault(F_fflush)) {
        char path[512];
        fd_path(f ? fileno(f) : -1, path, sizeof path);
        DETAIL("fflush(%s)", path);
        if (f)
            file_failed(f);
        errno = ENOSPC;
        return EOF;
    }
    return __real_fflush(f);
}

int __real_fsync(int fd);
int __wrap_fsync(int fd)
{
    if (fault(F_fsync)) {
        char p[512];
        fd_path(fd, p, sizeof p);
        DETAIL("fsync(%s)", p);
        errno = EIO;
        return -1;
    }
    return __real_fsync(fd);
}

int __real_rename(const char *from, const char *to);
int __wrap_rename(const char *from, const char *to)
{
    if (fault(F_rename)) {
        DETAIL("rename(\"%s\", \"%s\")", from, to);
        errno = EIO;
        return -1;
    }
    return __real_rename(from, to);
}

int __real_mkdir(const char *path, mode_t mode);
int __wrap_mkdir(const char *path, mode_t mode)
{
    if (fault(F_mkdir)) {
        DETAIL("mkdir(\"%s\")", path);
        errno = ENOSPC;
        return -1;
    }
    return __real_mkdir(path, mode);
}

/* close and fclose close the file and then report EIO, as Linux does
 * for a write-back error (NFS, a full disk). */
static int g_closed_writable;
int __real_close(int fd);
int __wrap_close(int fd)
{
    if (fault(F_close)) {
        char p[512];
        fd_path(fd, p, sizeof p);
        int fl = fcntl(fd, F_GETFL);
        g_closed_writable = fl >= 0 && (fl & O_ACCMODE) != O_RDONLY;
        DETAIL("close(%s, %s)", p, g_closed_writable ? "writable" : "read-only");
        __real_close(fd);
        errno = EIO;
        return -1;
    }
    return __real_close(fd);
}

int __real_fclose(FILE *f);
int __wrap_fclose(FILE *f)
{
    if (fault(F_fclose)) {
        char p[512];
        fd_path(fileno(f), p, sizeof p);
        DETAIL("fclose(%s)", p);
        __real_fclose(f);
        errno = EIO;
        return EOF;
    }
    return __real_fclose(f);
}

ssize_t __real_read(int fd, void *buf, size_t len);
ssize_t __wrap_read(int fd, void *buf, size_t len)
{
    if (fault(F_read)) {
        char p[512];
        fd_path(fd, p, sizeof p);
        DETAIL("read(%s)", p);
        errno = EIO;
        return -1;
    }
    return __real_read(fd, buf, len);
}

ssize_t __real_pread(int fd, void *buf, size_t len, off_t at);
ssize_t __wrap_pread(int fd, void *buf, size_t len, off_t at)
{
    if (fault(F_pread)) {
        char p[512];
        fd_path(fd, p, sizeof p);
        DETAIL("pread(%s)", p);
        errno = EIO;
        return -1;
    }
    return __real_pread(fd, buf, len, at);
}

size_t __real_fread(void *p, size_t size, size_t n, FILE *f);
size_t __wrap_fread(void *p, size_t size, size_t n, FILE *f)
{
    if (fault(F_fread)) {
        char path[512];
        fd_path(fileno(f), path, sizeof path);
        DETAIL("fread(%s)", path);
        file_failed(f);
        errno = EIO;
        return 0;
    }
    return __real_fread(p, size, n, f);
}

int __real_getc(FILE *f);
int __wrap_getc(FILE *f)
{
    if (fault(F_getc)) {
        char path[512];
        fd_path(fileno(f), path, sizeof path);
        DETAIL("getc(%s)", path);
        file_failed(f);
        errno = EIO;
        return EOF;
    }
    return __real_getc(f);
}

int __real_fstat(int fd, struct stat *st);
int __wrap_fstat(int fd, struct stat *st)
{
    if (fault(F_fstat)) {
        char p[512];
        fd_path(fd, p, sizeof p);
        DETAIL("fstat(%s)", p);
        errno = EIO;
        return -1;
    }
    return __real_fstat(fd, st);
}

int __real_stat(const char *path, struct stat *st);
int __wrap_stat(const char *path, struct stat *st)
{
    if (fault(F_stat)) {
        DETAIL("stat(\"%s\")", path);
        errno = EIO;
        return -1;
    }
    return __real_stat(path, st);
}

int __real_lstat(const char *path, struct stat *st);
int __wrap_lstat(const char *path, struct stat *st)
{
    if (fault(F_lstat)) {
        DETAIL("lstat(\"%s\")", path);
        errno = EIO;
        return -1;
    }
    return __real_lstat(path, st);
}

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (fault(F_mmap)) {
        char p[512];
        fd_path(fd, p, sizeof p);
        DETAIL("mmap(%s, %zu bytes)", p, len);
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return __real_mmap(addr, len, prot, flags, fd, off);
}

int __real_flock(int fd, int op);
int __wrap_flock(int fd, int op)
{
    if (fault(F_flock)) {
        char p[512];
        fd_path(fd, p, sizeof p);
        DETAIL("flock(%s)", p);
        errno = ENOLCK;
        return -1;
    }
    return __real_flock(fd, op);
}

off_t __real_lseek(int fd, off_t off, int whence);
off_t __wrap_lseek(int fd, off_t off, int whence)
{
    if (fault(F_lseek)) {
        char p[512];
        fd_path(fd, p, sizeof p);
        DETAIL("lseek(%s)", p);
        errno = EIO;
        return -1;
    }
    return __real_lseek(fd, off, whence);
}

int __real_fseek(FILE *f, long off, int whence);
int __wrap_fseek(FILE *f, long off, int whence)
{
    if (fault(F_fseek)) {
        char p[512];
        fd_path(fileno(f), p, sizeof p);
        DETAIL("fseek(%s)", p);
        errno = EIO;
        return -1;
    }
    return __real_fseek(f, off, whence);
}

int __real_unlink(const char *path);
int __wrap_unlink(const char *path)
{
    if (fault(F_unlink)) {
        DETAIL("unlink(\"%s\")", path);
        errno = EIO;
        return -1;
    }
    return __real_unlink(path);
}

int __real_rmdir(const char *path);
int __wrap_rmdir(const char *path)
{
    if (fault(F_rmdir)) {
        DETAIL("rmdir(\"%s\")", path);
        errno = EIO;
        return -1;
    }
    return __real_rmdir(path);
}

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n)
{
    if (fault(F_malloc)) {
        DETAIL("malloc(%zu)", n);
        errno = ENOMEM;
        return NULL;
    }
    return __real_malloc(n);
}

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size)
{
    if (fault(F_calloc)) {
        DETAIL("calloc(%zu, %zu)", n, size);
        errno = ENOMEM;
        return NULL;
    }
    return __real_calloc(n, size);
}

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n)
{
    if (n && fault(F_realloc)) {
        DETAIL("realloc(%zu)", n);
        errno = ENOMEM;
        return NULL;
    }
    return __real_realloc(p, n);
}

char *__real_strdup(const char *s);
char *__wrap_strdup(const char *s)
{
    if (fault(F_strdup)) {
        DETAIL("strdup(\"%.200s\")", s);
        errno = ENOMEM;
        return NULL;
    }
    return __real_strdup(s);
}

char *__real_strndup(const char *s, size_t n);
char *__wrap_strndup(const char *s, size_t n)
{
    if (fault(F_strndup)) {
        DETAIL("strndup(\"%.*s\")", (int)KZ_MIN(n, (size_t)200), s);
        errno = ENOMEM;
        return NULL;
    }
    return __real_strndup(s, n);
}

int __wrap_asprintf(char **out, const char *fmt, ...)
{
    if (fault(F_asprintf)) {
        DETAIL("asprintf(\"%s\")", fmt);
        errno = ENOMEM;
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(out, fmt, ap);
    va_end(ap);
    return n;
}

char *__real_realpath(const char *path, char *out);
char *__wrap_realpath(const char *path, char *out)
{
    if (fault(F_realpath)) {
        DETAIL("realpath(\"%s\")", path);
        errno = ENOMEM;
        return NULL;
    }
    return __real_realpath(path, out);
}

static void faults_reset(int fn, long n)
{
    for (int i = 0; i < N_FNS; i++)
        atomic_store(&g_calls[i], 0);
    g_fail_fn = fn;
    g_fail_n = n;
    atomic_store(&g_fired, 0);
    g_detail[0] = 0;
    g_stack_depth = 0;
    g_closed_writable = 0;
    atomic_store(&g_bytes_written, 0);
}

/* ================================================================ corpus */

static const char *const vocab[] = {
    "russia", "kazakhstan", "border", "steppe", "oil",      "grain",    "astana",  "tokayev", "treaty",  "language",
    "minority", "pipeline", "election", "uranium", "railway", "news",   "report",  "history", "market",  "river",
    "mountain", "winter",   "trade",  "bank",    "school",   "festival", "music",   "horse",   "nomad",   "city",
    "village",  "road",     "wheat",  "coal",    "gas",      "price",    "court",   "law",     "army",    "port",
};
#define N_VOCAB (sizeof vocab / sizeof *vocab)

static const char *const queries[] = {
    "russia", "kazakhstan border", "oil OR grain", "\"russia kazakhstan\"", "ka* news", "russia -border",
    "(oil grain) OR \"border steppe\"", "+astana tokayev", "NOT russia", "uranium railway news history", "r*",
    "river -(oil OR grain)", "zzzunknown", "\"news report\"", "market", "horse nomad village", "version",
    "updated steppe", "festival OR music OR horse",
};
#define N_QUERIES (sizeof queries / sizeof *queries)

static uint64_t rng = 20240615;

static char *random_words(size_t n, const char *extra)
{
    kz_buf b = { 0 };
    for (size_t i = 0; i < n; i++) {
        uint64_t r = kz_test_rand(&rng) % (N_VOCAB * N_VOCAB);
        size_t w = 0;
        while ((w + 1) * (w + 1) <= r)
            w++;
        kz_buf_printf(&b, "%s%s", i ? " " : "", vocab[w % N_VOCAB]);
        if (extra && i == n / 2)
            kz_buf_printf(&b, " %s", extra);
    }
    kz_buf_terminate(&b);
    return (char *)b.data;
}

/* A document: from JSON Lines (with metadata) or from a text file of a
 * folder (id = its name, title = its first line, text = the rest). */
typedef struct tdoc {
    char id[40];
    char *title, *text;
    int n_meta;
    char *meta_key[3], *meta_val[3];
    time_t mtime; /* a note's file: its modification time, which is its date (0: a JSON record) */
} tdoc;

typedef struct docs {
    tdoc *d;
    size_t n, cap;
} docs;

static void tdoc_free(tdoc *d)
{
    free(d->title);
    free(d->text);
    for (int i = 0; i < d->n_meta; i++) {
        free(d->meta_key[i]);
        free(d->meta_val[i]);
    }
    memset(d, 0, sizeof *d);
}

static tdoc tdoc_copy(const tdoc *s)
{
    tdoc d = *s;
    d.title = strdup(s->title);
    d.text = strdup(s->text);
    for (int i = 0; i < s->n_meta; i++) {
        d.meta_key[i] = strdup(s->meta_key[i]);
        d.meta_val[i] = strdup(s->meta_val[i]);
    }
    return d;
}

static int tdoc_same(const tdoc *a, const tdoc *b)
{
    if (strcmp(a->title, b->title) || strcmp(a->text, b->text) || a->n_meta != b->n_meta)
        return 0;
    for (int i = 0; i < a->n_meta; i++)
        if (strcmp(a->meta_key[i], b->meta_key[i]) || strcmp(a->meta_val[i], b->meta_val[i]))
            return 0;
    return 1;
}

static void docs_push(docs *s, const tdoc *d)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->d = realloc(s->d, s->cap * sizeof *s->d);
    }
    s->d[s->n++] = tdoc_copy(d);
}

static ssize_t docs_find(const docs *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->d[i].id, id) == 0)
            return (ssize_t)i;
    return -1;
}

static void docs_remove(docs *s, const char *id)
{
    ssize_t i = docs_find(s, id);
    if (i < 0)
        return;
    tdoc_free(&s->d[i]);
    memmove(&s->d[i], &s->d[i + 1], (s->n - (size_t)i - 1) * sizeof *s->d);
    s->n--;
}

static void docs_clear(docs *s)
{
    for (size_t i = 0; i < s->n; i++)
        tdoc_free(&s->d[i]);
    free(s->d);
    memset(s, 0, sizeof *s);
}

static void docs_copy(docs *dst, const docs *src)
{
    docs_clear(dst);
    for (size_t i = 0; i < src->n; i++)
        docs_push(dst, &src->d[i]);
}

static tdoc make_jdoc(const char *id, const char *extra, size_t words)
{
    static const char *const authors[] = { "Aigerim", "Boris", "Dana", "Yerlan", "Olga" };
    static const char *const sections[] = { "politics", "economy", "culture" };
    tdoc d;
    memset(&d, 0, sizeof d);
    snprintf(d.id, sizeof d.id, "%s", id);
    d.title = random_words(1 + kz_test_rand(&rng) % 5, NULL);
    d.text = random_words(words, extra);
    char date[32];
    snprintf(date, sizeof date, "2024-%02d-%02d", 1 + (int)(kz_test_rand(&rng) % 12), 1 + (int)(kz_test_rand(&rng) % 28));
    d.n_meta = 3;
    d.meta_key[0] = strdup("date");
    d.meta_val[0] = strdup(date);
    d.meta_key[1] = strdup("author");
    d.meta_val[1] = strdup(authors[kz_test_rand(&rng) % 5]);
    d.meta_key[2] = strdup("section");
    d.meta_val[2] = strdup(sections[kz_test_rand(&rng) % 3]);
    return d;
}

/* Notes' modification times, an hour apart from 2023-11-14 22:13:20 UTC. */
static time_t note_clock = 1700000000;

static tdoc make_note(const char *name, const char *extra, size_t words)
{
    tdoc d;
    memset(&d, 0, sizeof d);
    snprintf(d.id, sizeof d.id, "%s", name);
    /* A file in a folder has its modification time as its date (README
     * "Fields"), written as the build writes it. */
    d.mtime = note_clock;
    note_clock += 3600;
    struct tm tm;
    char date[32];
    gmtime_r(&d.mtime, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    d.n_meta = 1;
    d.meta_key[0] = strdup("date");
    d.meta_val[0] = strdup(date);
    d.title = random_words(1 + kz_test_rand(&rng) % 4, NULL);
    char *body = random_words(words, extra);
    kz_buf t = { 0 };
    kz_buf_printf(&t, "%s\n", body);
    kz_buf_terminate(&t);
    free(body);
    d.text = (char *)t.data;
    return d;
}

static size_t doc_words(void)
{
    return kz_test_rand(&rng) % 10 == 0 ? 300 + kz_test_rand(&rng) % 400 : 10 + kz_test_rand(&rng) % 120;
}

static void write_jsonl(const char *path, const docs *s)
{
    kz_buf b = { 0 };
    for (size_t i = 0; i < s->n; i++) {
        const tdoc *d = &s->d[i];
        kz_buf_printf(&b, "{\"id\":\"%s\",\"title\":\"%s\",\"text\":\"%s\"", d->id, d->title, d->text);
        for (int m = 0; m < d->n_meta; m++)
            kz_buf_printf(&b, ",\"%s\":\"%s\"", d->meta_key[m], d->meta_val[m]);
        kz_buf_printf(&b, "}\n");
    }
    kz_test_write_file(path, b.data, b.len);
    kz_buf_free(&b);
}

static void write_note(const char *folder, const tdoc *d)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", folder, d->id);
    kz_buf b = { 0 };
    kz_buf_printf(&b, "%s\n%s", d->title, d->text);
    kz_test_write_file(path, b.data, b.len);
    kz_buf_free(&b);
    struct timespec when[2] = { { d->mtime, 0 }, { d->mtime, 0 } };
    if (utimensat(AT_FDCWD, path, when, 0) != 0) {
        fprintf(stderr, "cannot set the time of %s: %s\n", path, strerror(errno));
        exit(2);
    }
}

static int note_cmp(const void *x, const void *y) { return strcmp(((const tdoc *)x)->id, ((const tdoc *)y)->id); }

/* ================================================================ the world */

static char *root;
static char src_feed[4300], src_notes[4300], src_add[4300], src_old[4300];
static char work[4300], fresh_dir[4300];
static char src_dir[4300], src_snap[2][4300]; /* the sources before and after they change for update */
static docs feed, notes, added, old_docs; /* the sources' documents, in source order */
static docs model;                        /* the live documents, in docid order */
static const char *delete_ids[20];
static char delete_names[20][40];

/* Problems reported by a change. */
typedef struct run_info {
    unsigned problems[KZ_PROBLEM_COUNT];
} run_info;

static void on_problem(void *ctx, kz_problem kind, const char *where, const char *message)
{
    (void)where, (void)message;
    run_info *ri = ctx;
    if (ri && kind < KZ_PROBLEM_COUNT)
        ri->problems[kind]++;
}

static kz_build_options options(run_info *ri, unsigned threads)
{
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.threads = threads;
    o.on_problem = on_problem;
    o.ctx = ri;
    return o;
}

/* A build from sources (REPLACE or ADD). */
static int build_sources(const char *dir, const char *const *srcs, size_t n, kz_build_mode mode, unsigned threads,
                         run_info *ri)
{
    kz_build_options o = options(ri, threads);
    o.mode = mode;
    kz_builder *b = NULL;
    int rc = kz_builder_new(&b, dir, &o);
    for (size_t i = 0; rc == KZ_OK && i < n; i++)
        rc = kz_builder_add_source(b, srcs[i]);
    if (rc == KZ_OK)
        rc = kz_builder_commit(b, NULL);
    kz_builder_free(b);
    return rc;
}

/* A fresh index of s's documents, in order, through kz_builder_add_document. */
static int build_fresh(const char *dir, const docs *s)
{
    kz_test_remove_tree(dir);
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.threads = 1;
    kz_builder *b = NULL;
    int rc = kz_builder_new(&b, dir, &o);
    for (size_t i = 0; rc == KZ_OK && i < s->n; i++) {
        const tdoc *d = &s->d[i];
        kz_doc_field meta[3];
        for (int m = 0; m < d->n_meta; m++)
            meta[m] = (kz_doc_field){ d->meta_key[m], strlen(d->meta_key[m]), d->meta_val[m], strlen(d->meta_val[m]) };
        rc = kz_builder_add_document(b, d->id, strlen(d->id), d->title, strlen(d->title), d->text, strlen(d->text),
                                     meta, (size_t)d->n_meta);
    }
    if (rc == KZ_OK)
        rc = kz_builder_commit(b, NULL);
    kz_builder_free(b);
    return rc;
}

/* ---------------------------------------------------------------- the changes */

enum { OP_INDEX, OP_ADD, OP_DELETE, OP_UPDATE, OP_OPTIMIZE, N_OPS };
static const char *const op_names[N_OPS] = { "index", "add", "delete", "update", "optimize" };

static int run_op(int op, const char *dir, run_info *ri)
{
    memset(ri, 0, sizeof *ri);
    switch (op) {
    case OP_INDEX: {
        /* Two threads: the dictionary's halves merge in two threads. */
        const char *srcs[] = { src_feed, src_notes };
        return build_sources(dir, srcs, 2, KZ_BUILD_REPLACE, 2, ri);
    }
    case OP_ADD: {
        const char *srcs[] = { src_add };
        return build_sources(dir, srcs, 1, KZ_BUILD_ADD, 1, ri);
    }
    case OP_DELETE: {
        uint8_t found[20];
        uint64_t deleted = 0;
        return kz_index_delete(dir, delete_ids, 20, found, &deleted);
    }
    case OP_UPDATE: {
        kz_build_options o = options(ri, 1);
        kz_update_stats us;
        return kz_index_update(dir, &o, &us);
    }
    case OP_OPTIMIZE: {
        kz_build_options o = options(ri, 1);
        unsigned merges = 0;
        return kz_index_merge(dir, &o, KZ_MERGE_ALL, &merges);
    }
    }
    return KZ_EINVAL;
}

/* ---------------------------------------------------------------- answers */

/* What an index answers: counts, every query's hits (ids and scores, bit
 * for bit) and totals in three ways, every live document's stored fields
 * in docid order; and (after "sources:") the sources it records. */
typedef struct state {
    int open_rc, check_rc;
    char open_msg[300], check_msg[300];
    kz_buf sig; /* NUL-terminated */
    size_t answers_len; /* the part before the sources */
    uint64_t generation;
} state;

static void check_note(void *ctx, const char *message)
{
    state *st = ctx;
    if (!st->check_msg[0])
        snprintf(st->check_msg, sizeof st->check_msg, "%s", message);
}

static void state_free(state *st) { kz_buf_free(&st->sig); }

static void read_state(const char *dir, state *st)
{
    memset(st, 0, sizeof *st);
    kz_index *ix = NULL;
    st->open_rc = kz_index_open(&ix, dir);
    if (st->open_rc) {
        snprintf(st->open_msg, sizeof st->open_msg, "%s", kz_last_error());
        kz_buf_printf(&st->sig, "no index: %d", st->open_rc == KZ_ENOTFOUND ? KZ_ENOTFOUND : st->open_rc);
        kz_buf_terminate(&st->sig);
        st->answers_len = st->sig.len;
        return;
    }
    st->check_rc = kz_index_check(ix, check_note, st);
    kz_index_info info;
    kz_index_get_info(ix, &info);
    st->generation = info.generation;
    uint64_t avg;
    memcpy(&avg, &info.avgdl, 8);
    kz_buf *b = &st->sig;
    kz_buf_printf(b, "docs %llu tokens %llu avgdl %016llx\n", (unsigned long long)info.docs,
                  (unsigned long long)info.tokens, (unsigned long long)avg);
    for (size_t q = 0; q < N_QUERIES; q++) {
        for (int way = 0; way < 2; way++) {
            kz_search_options o = KZ_SEARCH_OPTIONS_INIT;
            o.mode = way == 0 ? KZ_MODE_ANY : KZ_MODE_AUTO; /* every hit; the top 10 (pruned) */
            o.limit = way == 0 ? 100000 : 10;
            kz_results *r = NULL;
            int rc = kz_search(&r, ix, queries[q], strlen(queries[q]), &o);
            kz_buf_printf(b, "q%zu/%d rc %d", q, way, rc);
            if (rc == KZ_OK) {
                kz_buf_printf(b, " total %llu mode %d:", (unsigned long long)kz_results_total(r), kz_results_mode(r));
                for (size_t h = 0; h < kz_results_count(r); h++) {
                    const kz_hit *hit = kz_results_hit(r, h);
                    kz_doc d;
                    if (kz_index_doc(ix, &d, hit->docid, NULL, 0) == KZ_OK)
                        kz_buf_printf(b, " %.*s", (int)d.id_len, d.id);
                    else
                        kz_buf_printf(b, " ?");
                    uint64_t bits;
                    memcpy(&bits, &hit->score, 8);
                    kz_buf_printf(b, "=%llx", (unsigned long long)bits);
                }
            }
            kz_buf_printf(b, "\n");
            kz_results_free(r);
        }
    }
    for (uint64_t d = 0; d < info.docids; d++) {
        kz_doc doc;
        kz_doc_field meta[8];
        int rc = kz_index_doc(ix, &doc, (uint32_t)d, meta, 8);
        if (rc == KZ_ENOTFOUND)
            continue; /* deleted */
        if (rc) {
            kz_buf_printf(b, "doc rc %d\n", rc);
            continue;
        }
        /* The text by its fingerprint (title, text and metadata; DOCHASH):
         * kz_index_check verifies the store's bytes. */
        uint64_t fp = 0;
        rc = kz_index_doc_fingerprint(ix, (uint32_t)d, &fp);
        kz_buf_printf(b, "%.*s|%.*s|%u|%llu|%d:%llx", (int)doc.id_len, doc.id, (int)doc.title_len, doc.title,
                      doc.length, (unsigned long long)doc.text_bytes, rc, (unsigned long long)fp);
        for (size_t m = 0; m < doc.n_meta && m < 8; m++)
            kz_buf_printf(b, "|%.*s=%.*s", (int)meta[m].key_len, meta[m].key, (int)meta[m].value_len, meta[m].value);
        kz_buf_printf(b, "\n");
    }
    st->answers_len = b->len;
    kz_buf_printf(b, "sources:");
    for (size_t i = 0; i < kz_index_source_count(ix); i++)
        kz_buf_printf(b, " %s", kz_index_source(ix, i));
    kz_buf_terminate(b);
    kz_index_free(ix);
}

static int same_answers(const state *a, const state *b)
{
    return a->answers_len == b->answers_len && memcmp(a->sig.data, b->sig.data, a->answers_len) == 0;
}

static int same_state(const state *a, const state *b)
{
    return a->sig.len == b->sig.len && memcmp(a->sig.data, b->sig.data, a->sig.len) == 0;
}

/* The first line where two states differ, for a message. */
static void first_difference(const state *a, const state *b, char *out, size_t size)
{
    const char *x = a->sig.data ? (const char *)a->sig.data : "", *y = b->sig.data ? (const char *)b->sig.data : "";
    size_t i = 0;
    while (x[i] && x[i] == y[i])
        i++;
    size_t s = i;
    while (s > 0 && x[s - 1] != '\n')
        s--;
    snprintf(out, size, "\"%.120s\" against \"%.120s\"", x + s, y + s);
    for (char *p = out; *p; p++)
        if (*p == '\n')
            *p = '/';
}

/* Files in dir that no generation of it should keep: anything but the
 * lock, the manifest and the segments the manifest names. */
static int leftovers(const char *dir, char *first, size_t size)
{
    kz_index *ix = NULL;
    first[0] = 0;
    if (kz_index_open(&ix, dir) != KZ_OK)
        return -1;
    kz_index_info info;
    kz_index_get_info(ix, &info);
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, KZ_LOCK_FILE) ||
            !strcmp(e->d_name, KZ_MANIFEST_FILE))
            continue;
        int named = 0;
        for (size_t i = 0; i < info.segments && !named; i++) {
            const char *name;
            uint64_t docs_, deleted;
            kz_index_segment_info(ix, i, &name, &docs_, &deleted);
            named = strcmp(name, e->d_name) == 0;
        }
        if (!named) {
            if (!n++)
                snprintf(first, size, "%s", e->d_name);
        }
    }
    if (d)
        closedir(d);
    kz_index_free(ix);
    return n;
}

/* ---------------------------------------------------------------- snapshots */

/* Copies the folder from (its files, and the files of its folders one
 * level down) to to, which is emptied first. Returns 0, or -1 if a write
 * failed (only on a full tmpfs). */
static int copy_tree(const char *from, const char *to, int depth)
{
    if (depth == 0)
        kz_test_remove_tree(to);
    if (mkdir(to, 0755) != 0 && errno != EEXIST)
        return -1;
    DIR *d = opendir(from);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) && rc == 0) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char a[4600], b[4600];
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        struct stat st;
        if (lstat(a, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < 2)
                rc = copy_tree(a, b, depth + 1);
            continue;
        }
        size_t len;
        uint8_t *data = kz_test_read_file(a, &len);
        if (!data)
            continue;
        int fd = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        size_t done = 0;
        while (fd >= 0 && done < len) {
            ssize_t n = write(fd, data + done, len - done);
            if (n <= 0)
                break;
            done += (size_t)n;
        }
        if (fd < 0 || done < len)
            rc = -1;
        /* A copy keeps its modification time: a note's date. */
        struct timespec when[2] = { st.st_atim, st.st_mtim };
        if (fd >= 0 && futimens(fd, when) != 0)
            rc = -1;
        if (fd >= 0)
            close(fd);
        free(data);
    }
    closedir(d);
    return rc;
}

/* Pages the files of dir take (on a tmpfs). */
static uint64_t tree_pages(const char *dir)
{
    uint64_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[4600];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' && lstat(p, &st) == 0 && S_ISREG(st.st_mode))
            n += ((uint64_t)st.st_size + 4095) / 4096;
    }
    if (d)
        closedir(d);
    return n;
}

static uint64_t largest_file(const char *dir)
{
    uint64_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[4600];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' && lstat(p, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > n)
            n = (uint64_t)st.st_size;
    }
    if (d)
        closedir(d);
    return n;
}

/* ================================================================ known bugs */

/* Outcomes of a case, besides the right ones. */
#define OUT_CRASH "crash"
#define OUT_NO_MESSAGE "error without a message"
#define OUT_ERROR_WRONG_STATE "error, and the index is neither the old generation nor the new one"
#define OUT_ERROR_CHANGED "error, but the change was made"
#define OUT_SUCCESS_WRONG_STATE "success, but the index is not the new generation"
#define OUT_SUCCESS_ON_FAILED_CALL "success reported although a write, fsync or rename failed"
#define OUT_BROKEN "the index does not open or check"
#define OUT_NEXT_WRITER "the next run without faults fails or answers wrongly"
#define OUT_LEFTOVER "the next run without faults leaves files behind"
#define OUT_UNFAULTED "failed although the fault was not reached"
#define OUT_LEAK "memory leaked (LeakSanitizer)"
#define OUT_FD_LEAK "a file descriptor leaked"
#define OUT_ERROR_INTERMEDIATE "error, and the index is the update's first generation: its new segment is in, the documents gone from its sources are not deleted"
#define OUT_SUCCESS_SKIPPED "success, but a source item that could not be read was skipped (a problem) and its documents deleted"

typedef struct known_bug {
    const char *op;      /* or "*" */
    const char *fn;      /* or "*" */
    const char *outcome;
    const char *what;
    unsigned seen;
} known_bug;

/* Cases the library gets wrong today, reported to be fixed: each is
 * counted and printed, not failed. Remove an entry when its bug is fixed
 * (the test then says so if it no longer happens). */
static known_bug known_bugs[] = {
    /* Empty: what the first runs found (a double free when a merge left no
     * segment, an update in two generations, an update deleting what it
     * could not read, a failed readdir ending a folder, a failed realpath
     * leaving a source unrecorded) is fixed, and each is a failure again. */
    { NULL, NULL, NULL, NULL, 0 },
};

static known_bug *find_known(const char *op, const char *fn, const char *outcome)
{
    for (known_bug *k = known_bugs; k->op; k++)
        if ((!strcmp(k->op, "*") || !strcmp(k->op, op)) && (!strcmp(k->fn, "*") || !strcmp(k->fn, fn)) &&
            !strcmp(k->outcome, outcome))
            return k;
    return NULL;
}

/* ================================================================ the cases */

typedef struct op_ref {
    int op;
    char before_snap[4300];  /* a copy of the index before the change */
    state before, after;     /* answers before and after */
    state intermediate;      /* update: its first generation (new segment, nothing deleted yet) */
    int has_intermediate;
    uint64_t largest;        /* bytes of the largest file after the change */
} op_ref;

typedef struct tally {
    unsigned tried, fired, failed_old, failed_after_commit, failed_intermediate, succeeded, problems, known, bugs;
    unsigned tried_fn[N_FNS];
    long count_fn[N_FNS];
    double seconds, in_child, in_checks; /* time in the children, in judge() */
} tally;

static int verbose;

static void print_stack(void)
{
    if (g_stack_depth > 0) {
        char **syms = backtrace_symbols(g_stack, g_stack_depth);
        for (int i = 1; syms && i < g_stack_depth && i < 14; i++)
            fprintf(stderr, "      %s\n", syms[i]);
        free(syms);
    }
}

/* Records what went wrong in a case: a known bug is counted; anything else
 * fails the test, with the call that failed. */
static void bad_case(tally *t, const op_ref *r, const char *fn, long n, const char *outcome, int rc, const char *msg,
                     const char *more)
{
    known_bug *k = find_known(op_names[r->op], fn, outcome);
    if (k) {
        if (!k->seen++ || verbose)
            fprintf(stderr, "  known bug (%s %s #%ld: %s): %s [%s]\n", op_names[r->op], fn, n, g_detail, outcome,
                    more ? more : "");
        t->known++;
        return;
    }
    t->bugs++;
    kz_test_checks++;
    kz_test_failures++;
    fprintf(stderr, "  BUG: %s, %s call %ld failed (%s): %s; rc %d \"%s\"%s%s\n", op_names[r->op], fn, n, g_detail,
            outcome, rc, msg ? msg : "", more ? "; " : "", more ? more : "");
    print_stack();
}

/* Whether a failed call of fn may go unreported: a write, fsync or rename
 * that fails must fail the change, and so must a close of a file it keeps
 * (not of a scratch file in .build-, nor of the lock). */
static int must_fail(int fn)
{
    return fn == F_write || fn == F_pwrite || fn == F_fwrite || fn == F_fflush || fn == F_fsync || fn == F_rename ||
           (fn == F_close && g_closed_writable && !strstr(g_detail, "/" KZ_LOCK_FILE) &&
            !strstr(g_detail, "/.build-"));
}

/* Whether the folders a and b hold the same files (one level of folders
 * down), byte for byte. */
static int same_tree(const char *a, const char *b, int depth)
{
    DIR *d = opendir(a);
    if (!d)
        return 0;
    struct dirent *e;
    int same = 1;
    size_t n = 0;
    while (same && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char pa[4600], pb[4600];
        if ((size_t)snprintf(pa, sizeof pa, "%s/%s", a, e->d_name) >= sizeof pa ||
            (size_t)snprintf(pb, sizeof pb, "%s/%s", b, e->d_name) >= sizeof pb) {
            same = 0; /* a path this long is none of the test's */
            break;
        }
        struct stat sa, sb;
        n++;
        if (lstat(pa, &sa) != 0 || lstat(pb, &sb) != 0 || S_ISDIR(sa.st_mode) != S_ISDIR(sb.st_mode)) {
            same = 0;
        } else if (S_ISDIR(sa.st_mode)) {
            same = depth < 2 && same_tree(pa, pb, depth + 1);
        } else if (sa.st_size != sb.st_size) {
            same = 0;
        } else {
            size_t la, lb;
            uint8_t *x = kz_test_read_file(pa, &la), *y = kz_test_read_file(pb, &lb);
            same = x && y && la == lb && memcmp(x, y, la) == 0;
            free(x);
            free(y);
        }
    }
    closedir(d);
    if (same) { /* and b has nothing more */
        size_t m = 0;
        d = opendir(b);
        while (d && (e = readdir(d)))
            m += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
        if (d)
            closedir(d);
        same = m == n;
    }
    return same;
}

/* The failure paths seen: a change, the function that failed and the
 * error message without its digits (pids, numbers). The parent records
 * each; a child, forked with the set, knows whether its path is new. */
#define MAX_PATHS 4096
static uint64_t g_paths[MAX_PATHS];
static size_t g_n_paths;

static uint64_t path_hash(int op, int fn, const char *msg)
{
    char key[700];
    size_t n = (size_t)snprintf(key, sizeof key, "%d %d ", op, fn);
    for (const char *p = msg; *p && n + 1 < sizeof key; p++)
        if (*p < '0' || *p > '9')
            key[n++] = *p;
    return XXH3_64bits(key, n);
}

static KZ_TEST_UNUSED int path_seen(int op, int fn, const char *msg)
{
    uint64_t h = path_hash(op, fn, msg);
    for (size_t i = 0; i < g_n_paths; i++)
        if (g_paths[i] == h)
            return 1;
    return 0;
}

static void path_record(int op, int fn, const char *msg)
{
    if (!path_seen(op, fn, msg) && g_n_paths < MAX_PATHS)
        g_paths[g_n_paths++] = path_hash(op, fn, msg);
}

/* What a change run in a child process did. */
typedef struct case_result {
    int rc, fired, closed_writable, stack_depth, skipped, leaked, fds_leaked;
    void *stack[24];
    char detail[600], msg[600];
    run_info ri;
} case_result;

static char child_err[4400]; /* the child's standard error */

/* What the parent is doing, for a crash report. */
static char g_running[1000];

static KZ_TEST_UNUSED void crash_in_parent(int sig)
{
    static const char head[] = "test_faults crashed during ";
    if (write(2, head, sizeof head - 1) < 0 || write(2, g_running, strlen(g_running)) < 0 || write(2, "\n", 1) < 0)
        _exit(6);
    void *st[40];
    int n = backtrace(st, 40);
    backtrace_symbols_fd(st, n, 2);
    signal(sig, SIG_DFL);
    raise(sig);
}

static KZ_TEST_UNUSED void crash_handler(int sig)
{
    struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY }; /* a disk-full child's */
    setrlimit(RLIMIT_FSIZE, &rl);
    static const char head[] = "fault injected: ";
    if (write(2, head, sizeof head - 1) < 0 || write(2, g_detail, strlen(g_detail)) < 0 || write(2, "\n", 1) < 0)
        _exit(6);
    void *st[40];
    int n = backtrace(st, 40);
    backtrace_symbols_fd(st, n, 2);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Runs change r->op in a child process on work: with the nth call of fn
 * failing (fn >= 0), or files limited to fsize_limit bytes, or on a tmpfs
 * of tmpfs_bytes (mounted on mnt; the index is copied there from the
 * snapshot and back to work afterwards). Returns 1 when the child
 * finished (*res says how), 0 when it crashed (*why says how), -1 when no
 * tmpfs can be mounted here. */
static int run_in_child(const op_ref *r, int fn, long n, uint64_t fsize_limit, uint64_t tmpfs_bytes, const char *mnt,
                        case_result *res, char *why, size_t why_size)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(2);
    }
    memset(res, 0, sizeof *res);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        int efd = open(child_err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (efd >= 0) {
            dup2(efd, 2);
            close(efd);
        }
#ifndef KZ_ASAN
        signal(SIGSEGV, crash_handler);
        signal(SIGABRT, crash_handler);
        signal(SIGBUS, crash_handler);
        signal(SIGFPE, crash_handler);
#endif
        case_result out;
        memset(&out, 0, sizeof out);
        const char *dir = work;
        char inner[4400];
        if (tmpfs_bytes) {
            char opt[64];
            snprintf(opt, sizeof opt, "size=%llu", (unsigned long long)tmpfs_bytes);
            if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
                mount("kzfaults", mnt, "tmpfs", 0, opt) != 0) {
                out.skipped = 2;
                snprintf(out.msg, sizeof out.msg, "%s", strerror(errno));
            } else {
                snprintf(inner, sizeof inner, "%s/ix", mnt);
                out.skipped = copy_tree(r->before_snap, inner, 0) != 0;
                dir = inner;
            }
        }
        if (!out.skipped) {
            if (fsize_limit != UINT64_MAX) {
                /* The soft limit only, lifted again for the reports. */
                signal(SIGXFSZ, SIG_IGN);
                struct rlimit rl = { (rlim_t)fsize_limit, RLIM_INFINITY };
                if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
                    _exit(4);
            }
            faults_reset(fn, n);
            kz_error_clear();
            atomic_store(&g_armed, fn >= 0);
            out.rc = run_op(r->op, dir, &out.ri);
            atomic_store(&g_armed, 0);
            snprintf(out.msg, sizeof out.msg, "%s", out.rc ? kz_last_error() : "");
            out.fired = atomic_load(&g_fired);
            out.closed_writable = g_closed_writable;
            out.stack_depth = g_stack_depth;
            memcpy(out.stack, g_stack, sizeof out.stack);
            snprintf(out.detail, sizeof out.detail, "%s", g_detail);
            struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
            setrlimit(RLIMIT_FSIZE, &rl);
            if (tmpfs_bytes)
                copy_tree(inner, work, 0);
        }
        const char *p = (const char *)&out;
        size_t left = sizeof out;
        while (left > 0) {
            ssize_t k = write(fds[1], p, left);
            if (k <= 0)
                _exit(3);
            p += k;
            left -= (size_t)k;
        }
#ifdef KZ_ASAN
        /* Leaks of the change's failure paths (LeakSanitizer; those of
         * its success are the parent's, checked at its exit), each path
         * once: a check takes a tenth of a second. */
        if (out.rc != KZ_OK && !path_seen(r->op, fn, out.msg) && __lsan_do_recoverable_leak_check())
            _exit(5);
#endif
        _exit(0);
    }
    close(fds[1]);
    size_t got = 0;
    while (got < sizeof *res) {
        ssize_t k = read(fds[0], (char *)res + got, sizeof *res - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    /* What the parent's reports say about the failed call. */
    atomic_store(&g_fired, res->fired);
    g_closed_writable = res->closed_writable;
    g_stack_depth = res->stack_depth;
    memcpy(g_stack, res->stack, sizeof g_stack);
    snprintf(g_detail, sizeof g_detail, "%s", res->detail);
    res->leaked = got == sizeof *res && WIFEXITED(status) && WEXITSTATUS(status) == 5;
    if (got != sizeof *res || !WIFEXITED(status) || (WEXITSTATUS(status) != 0 && !res->leaked)) {
        if (WIFSIGNALED(status))
            snprintf(why, why_size, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
            snprintf(why, why_size, "exit status %d", WEXITSTATUS(status));
        return 0;
    }
    return res->skipped == 2 ? -1 : 1;
}

/* ---------------------------------------------------------------- the worker */

/* The injection cases run in a worker process, forked once and fed case
 * after case through a pipe (a fork per case costs more than the case
 * under ASan): a crash, a leak or a leaked descriptor ends it, and the
 * next case starts another. */
typedef struct worker_cmd {
    int op, fn;
    long n;
} worker_cmd;

static pid_t g_worker = -1;
static int g_worker_cmd = -1, g_worker_res = -1;

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n - 1; /* the folder's own */
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t k = write(fd, p, len);
        if (k <= 0)
            return -1;
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

static int read_all(int fd, void *data, size_t len)
{
    char *p = data;
    while (len > 0) {
        ssize_t k = read(fd, p, len);
        if (k <= 0)
            return -1;
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

static void worker_main(int cmd_fd, int res_fd)
{
    int efd = open(child_err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (efd >= 0) {
        dup2(efd, 2);
        close(efd);
    }
#ifndef KZ_ASAN
    signal(SIGSEGV, crash_handler);
    signal(SIGABRT, crash_handler);
    signal(SIGBUS, crash_handler);
    signal(SIGFPE, crash_handler);
#endif
    worker_cmd c;
    while (read_all(cmd_fd, &c, sizeof c) == 0 && c.op >= 0) {
        if (ftruncate(2, 0) != 0 || lseek(2, 0, SEEK_SET) < 0)
            _exit(7);
        case_result out;
        memset(&out, 0, sizeof out);
        int fds_before = open_fds();
        faults_reset(c.fn, c.n);
        kz_error_clear();
        atomic_store(&g_armed, 1);
        out.rc = run_op(c.op, work, &out.ri);
        atomic_store(&g_armed, 0);
        snprintf(out.msg, sizeof out.msg, "%s", out.rc ? kz_last_error() : "");
        out.fired = atomic_load(&g_fired);
        out.closed_writable = g_closed_writable;
        out.stack_depth = g_stack_depth;
        memcpy(out.stack, g_stack, sizeof out.stack);
        snprintf(out.detail, sizeof out.detail, "%s", g_detail);
        out.fds_leaked = open_fds() - fds_before;
        int end = out.fds_leaked != 0;
#ifdef KZ_ASAN
        /* Leaks of the change's failure paths (LeakSanitizer; those of
         * its success are the parent's, checked at its exit), each path
         * once: a check takes a tenth of a second. A leak found ends the
         * worker, or the next check would report it again. */
        if (out.rc != KZ_OK && !path_seen(c.op, c.fn, out.msg)) {
            path_record(c.op, c.fn, out.msg);
            if (__lsan_do_recoverable_leak_check())
                out.leaked = end = 1;
        }
#endif
        if (write_all(res_fd, &out, sizeof out) != 0)
            _exit(3);
        if (end)
            _exit(0);
    }
    _exit(0);
}

static void worker_stop(void)
{
    if (g_worker < 0)
        return;
    worker_cmd c = { -1, -1, 0 };
    if (write_all(g_worker_cmd, &c, sizeof c) != 0) { /* gone already */ }
    close(g_worker_cmd);
    close(g_worker_res);
    waitpid(g_worker, NULL, 0);
    g_worker = -1;
}

/* Runs case (r->op, fn, n) in the worker: 1 when it finished (*res says
 * how), 0 when the worker died (*why says how). */
static int run_in_worker(const op_ref *r, int fn, long n, case_result *res, char *why, size_t why_size)
{
    memset(res, 0, sizeof *res);
    if (g_worker < 0) {
        int c[2], s[2];
        if (pipe(c) != 0 || pipe(s) != 0) {
            perror("pipe");
            exit(2);
        }
        fflush(stderr);
        g_worker = fork();
        if (g_worker == 0) {
            close(c[1]);
            close(s[0]);
            worker_main(c[0], s[1]);
        }
        close(c[0]);
        close(s[1]);
        g_worker_cmd = c[1];
        g_worker_res = s[0];
    }
    worker_cmd c = { r->op, fn, n };
    int ok = write_all(g_worker_cmd, &c, sizeof c) == 0 && read_all(g_worker_res, res, sizeof *res) == 0;
    atomic_store(&g_fired, res->fired);
    g_closed_writable = res->closed_writable;
    g_stack_depth = res->stack_depth;
    memcpy(g_stack, res->stack, sizeof g_stack);
    snprintf(g_detail, sizeof g_detail, "%s", res->detail);
    if (ok && !res->leaked && !res->fds_leaked)
        return 1;
    /* It ended: a crash, or a leak (reported by the caller). */
    close(g_worker_cmd);
    close(g_worker_res);
    int status = 0;
    waitpid(g_worker, &status, 0);
    g_worker = -1;
    if (ok)
        return 1;
    if (WIFSIGNALED(status))
        snprintf(why, why_size, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(why, why_size, "exit status %d", WEXITSTATUS(status));
    return 0;
}

/* Prints the child's standard error, indented (its report of a crash). */
static void print_child_err(void)
{
    size_t len;
    char *text = (char *)kz_test_read_file(child_err, &len);
    if (!text)
        return;
    size_t shown = 0;
    for (char *line = strtok(text, "\n"); line && shown < 60; line = strtok(NULL, "\n"), shown++)
        fprintf(stderr, "      | %s\n", line);
    free(text);
}

static void restore(const op_ref *r)
{
    if (copy_tree(r->before_snap, work, 0) != 0) {
        fprintf(stderr, "cannot restore %s\n", r->before_snap);
        exit(2);
    }
}

/* The index in work after a change that returned rc: checks (b) to (e). */
static void judge(tally *t, const op_ref *r, int fn_id, long n, int rc, const char *msg, const run_info *ri)
{
    const char *fn = fn_id >= 0 ? fn_names[fn_id] : "disk-full";
    if (rc != KZ_OK && (!msg || !*msg))
        bad_case(t, r, fn, n, OUT_NO_MESSAGE, rc, msg, NULL);
    if (rc != KZ_OK && same_tree(work, r->before_snap, 0)) {
        /* Not a byte changed, nothing left: the old generation, checked,
         * and the next run is the reference run. */
        t->failed_old++;
        return;
    }
    state st;
    read_state(work, &st);
    int right = 1; /* the index is one it may be */
    if (st.open_rc != KZ_OK || st.check_rc != KZ_OK) {
        char more[700];
        snprintf(more, sizeof more, "open %d (%s), check %d (%s)", st.open_rc, st.open_msg, st.check_rc, st.check_msg);
        bad_case(t, r, fn, n, OUT_BROKEN, rc, msg, more);
        right = 0;
    } else if (rc != KZ_OK) {
        if (same_state(&st, &r->before)) {
            t->failed_old++;
        } else if (same_state(&st, &r->after)) {
            /* The manifest was renamed into place, and then the folder's
             * fsync failed (or its open): the change is made but maybe
             * not lasting, and saying so is right. Nothing else may fail
             * after the rename. */
            if (fn_id == F_fsync || fn_id == F_open || fn_id < 0)
                t->failed_after_commit++;
            else
                bad_case(t, r, fn, n, OUT_ERROR_CHANGED, rc, msg, NULL);
        } else if (r->has_intermediate && same_state(&st, &r->intermediate)) {
            t->failed_intermediate++;
            bad_case(t, r, fn, n, OUT_ERROR_INTERMEDIATE, rc, msg, NULL);
        } else {
            char more[400];
            first_difference(&st, &r->before, more, sizeof more);
            bad_case(t, r, fn, n, OUT_ERROR_WRONG_STATE, rc, msg, more);
            right = 0;
        }
    } else {
        unsigned unreadable = ri ? ri->problems[KZ_PROBLEM_UNREADABLE] : 0;
        if (same_state(&st, &r->after)) {
            if (fn_id >= 0 && atomic_load(&g_fired) && must_fail(fn_id))
                bad_case(t, r, fn, n, OUT_SUCCESS_ON_FAILED_CALL, rc, msg, NULL);
            else
                t->succeeded++;
        } else if (unreadable && (r->op == OP_INDEX || r->op == OP_ADD)) {
            /* A source item that cannot be read is a problem, reported and
             * skipped, not an error (kz_builder_add_source): the index is
             * then whole, with fewer documents. */
            t->problems++;
        } else {
            char more[700];
            first_difference(&st, &r->after, more, sizeof more);
            bad_case(t, r, fn, n, unreadable ? OUT_SUCCESS_SKIPPED : OUT_SUCCESS_WRONG_STATE, rc, msg, more);
            right = 0;
        }
    }
    uint64_t generation = st.generation;
    state_free(&st);

    /* (e) The same change again, without faults (in this process: a crash
     * here is reported by crash_in_parent). */
    case_result res;
    memset(&res, 0, sizeof res);
    snprintf(g_running, sizeof g_running, "the run again without faults after %s, %s call %ld failed (%s)",
             op_names[r->op], fn, n, g_detail);
    kz_error_clear();
    res.rc = run_op(r->op, work, &res.ri);
    snprintf(res.msg, sizeof res.msg, "%s", res.rc ? kz_last_error() : "");
    g_running[0] = 0;
    state again;
    read_state(work, &again);
    /* After a wrong index, the next run mends it, but the documents'
     * order (so ties) may differ from the reference's. */
    if (res.rc != KZ_OK || again.check_rc != KZ_OK || (right && !same_state(&again, &r->after))) {
        char more[1200], diff[400];
        first_difference(&again, &r->after, diff, sizeof diff);
        snprintf(more, sizeof more, "run again: rc %d \"%.600s\", check %d; %s", res.rc, res.msg, again.check_rc, diff);
        bad_case(t, r, fn, n, OUT_NEXT_WRITER, rc, msg, more);
    } else if (r->op != OP_DELETE || again.generation != generation) {
        char first[300];
        int left = leftovers(work, first, sizeof first);
        if (left != 0) {
            char more[400];
            snprintf(more, sizeof more, "%d files left, %s first", left, first);
            bad_case(t, r, fn, n, OUT_LEFTOVER, rc, msg, more);
        }
    }
    state_free(&again);
}

/* One case: the nth call of fn fails. */
static void one_case(tally *t, const op_ref *r, int fn, long n)
{
    restore(r);
    case_result res;
    char why[200];
    t->tried++;
    t->tried_fn[fn]++;
    double t0 = kz_now();
    int ran = run_in_worker(r, fn, n, &res, why, sizeof why);
    double t1 = kz_now();
    t->in_child += t1 - t0;
    if (verbose)
        fprintf(stderr, "    %s %s #%ld (%s)%s: rc %d %s\n", op_names[r->op], fn_names[fn], n, g_detail,
                res.fired ? "" : " (not reached)", res.rc, ran ? res.msg : why);
    if (!ran) {
        int known = find_known(op_names[r->op], fn_names[fn], OUT_CRASH) != NULL;
        bad_case(t, r, fn_names[fn], n, OUT_CRASH, -1, "", why);
        if (!known)
            print_child_err();
        restore(r);
        return;
    }
    t->fired += res.fired != 0;
    if (res.rc != KZ_OK)
        path_record(r->op, fn, res.msg);
    if (res.leaked) {
        int known = find_known(op_names[r->op], fn_names[fn], OUT_LEAK) != NULL;
        bad_case(t, r, fn_names[fn], n, OUT_LEAK, res.rc, res.msg, NULL);
        if (!known)
            print_child_err();
    }
    if (res.fds_leaked) {
        char more[64];
        snprintf(more, sizeof more, "%d more open", res.fds_leaked);
        bad_case(t, r, fn_names[fn], n, OUT_FD_LEAK, res.rc, res.msg, more);
    }
    if (!res.fired && res.rc != KZ_OK) {
        /* The call was not reached this time (threads), yet it failed. */
        bad_case(t, r, fn_names[fn], n, OUT_UNFAULTED, res.rc, res.msg, NULL);
        return;
    }
    judge(t, r, fn, n, res.rc, res.msg, &res.ri);
    t->in_checks += kz_now() - t1;
}

/* The Ns to try for a function called count times: all when few (or
 * KZ_FAULTS_ALL), else the first and last 4, 8 spread between, and the
 * call before and the one after each fsync and rename. Under ASan, whose
 * forks and leak checks cost ten times more, fewer: all up to 6, else the
 * first and last 2, 3 spread, and the call after each fsync and rename
 * (KZ_FAULTS_DENSE=1: as without ASan). */
static size_t choose_points(int fn, long count, long *out, size_t cap, int all)
{
    uint8_t *pick = calloc((size_t)count + 2, 1);
    int sparse = 0;
#ifdef KZ_ASAN
    sparse = !(getenv("KZ_FAULTS_DENSE") && atoi(getenv("KZ_FAULTS_DENSE")));
#endif
    long every = sparse ? 6 : 24, ends = sparse ? 2 : 4, spread = sparse ? 3 : 8;
    if (all || count <= every) {
        for (long i = 1; i <= count; i++)
            pick[i] = 1;
    } else {
        for (long i = 1; i <= ends; i++)
            pick[i] = pick[count + 1 - i] = 1;
        for (long k = 1; k <= spread; k++)
            pick[1 + (count - 1) * k / (spread + 1)] = 1;
        long seen = 0;
        size_t len = KZ_MIN(atomic_load(&g_log_len), (size_t)LOG_MAX);
        for (size_t i = 0; i < len; i++) {
            if (g_log[i] == fn)
                seen++;
            if (g_log[i] == F_fsync || g_log[i] == F_rename) {
                if (seen >= 1 && !sparse)
                    pick[seen] = 1;
                if (seen + 1 <= count)
                    pick[seen + 1] = 1;
            }
        }
    }
    size_t n = 0;
    for (long i = 1; i <= count && n < cap; i++)
        if (pick[i])
            out[n++] = i;
    free(pick);
    return n;
}

static void injections(const op_ref *r, tally *t)
{
    double t0 = kz_now();
    /* A counting run, without faults, in this process. */
    restore(r);
    run_info ri;
    faults_reset(-1, 0);
    atomic_store(&g_log_len, 0);
    g_logging = 1;
    atomic_store(&g_armed, 1);
    int rc = run_op(r->op, work, &ri);
    atomic_store(&g_armed, 0);
    g_logging = 0;
    CHECK_OK(rc);
    state st;
    read_state(work, &st);
    CHECK_MSG(same_state(&st, &r->after), "%s: the counting run differs from the reference", op_names[r->op]);
    state_free(&st);
    long counts[N_FNS];
    for (int f = 0; f < N_FNS; f++)
        counts[f] = t->count_fn[f] = atomic_load(&g_calls[f]);
    int all = getenv("KZ_FAULTS_ALL") && atoi(getenv("KZ_FAULTS_ALL"));
    for (int f = 0; f < N_FNS; f++) {
        if (!counts[f])
            continue;
        long *points = malloc(sizeof *points * (size_t)(counts[f] + 1));
        size_t np = choose_points(f, counts[f], points, (size_t)counts[f] + 1, all);
        for (size_t i = 0; i < np; i++)
            one_case(t, r, f, points[i]);
        free(points);
    }
    worker_stop();
    t->seconds = kz_now() - t0;
}

/* ---------------------------------------------------------------- disk full */

static void disk_case(tally *t, const op_ref *r, uint64_t limit, uint64_t tmpfs_bytes, const char *mnt, int *fits,
                      int *no_tmpfs)
{
    restore(r);
    case_result res;
    char why[200];
    int ran = run_in_child(r, -1, 0, limit, tmpfs_bytes, mnt, &res, why, sizeof why);
    long n = (long)(tmpfs_bytes ? tmpfs_bytes : limit);
    if (ran < 0) {
        fprintf(stderr, "  no tmpfs: cannot mount one here (%s): skipped\n", res.msg);
        *no_tmpfs = 1;
        return;
    }
    if (ran == 0) {
        t->tried++;
        bad_case(t, r, "disk-full", n, OUT_CRASH, -1, "", why);
        print_child_err();
        restore(r);
        return;
    }
    if (res.skipped)
        return; /* a tmpfs too small for the old index */
    if (res.rc != KZ_OK)
        path_record(r->op, -1, res.msg);
    if (res.leaked) {
        bad_case(t, r, "disk-full", n, OUT_LEAK, res.rc, res.msg, NULL);
        print_child_err();
    }
    t->tried++;
    t->fired++;
    if (verbose)
        fprintf(stderr, "    %s, %s %llu bytes: rc %d %s\n", op_names[r->op], tmpfs_bytes ? "tmpfs of" : "files limited to",
                (unsigned long long)n, res.rc, res.msg);
    snprintf(g_detail, sizeof g_detail, "%s %ld bytes", tmpfs_bytes ? "a tmpfs of" : "files limited to", n);
    if (fits)
        *fits += res.rc == KZ_OK;
    judge(t, r, -1, n, res.rc, res.msg, &res.ri);
}

static void disk_full(const op_ref *r, tally *t, unsigned *limits_tried, unsigned *tmpfs_tried, int *no_tmpfs)
{
    /* File size limits from nothing to past the largest file written. */
    uint64_t limits[40];
    size_t n = 0;
    uint64_t big = r->largest ? r->largest : 4096;
    static const uint64_t fixed[] = { 0, 1, 40, 100, 512, 4096, 8192, 16384, 32768, 65536 };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (fixed[i] < big)
            limits[n++] = fixed[i];
    limits[n++] = big / 2;
    limits[n++] = big - 4097;
    limits[n++] = big - 1;
    limits[n++] = big * 4; /* enough: the change succeeds */
    for (size_t i = 0; i < n; i++) {
        unsigned before = t->tried;
        disk_case(t, r, limits[i], 0, NULL, NULL, no_tmpfs);
        *limits_tried += t->tried - before;
    }
    /* A small tmpfs: from what the old index takes, two pages more at a
     * time and then doubling, until the change fits. */
    if (*no_tmpfs)
        return;
    char mnt[4400];
    snprintf(mnt, sizeof mnt, "%s/mnt", root);
    mkdir(mnt, 0755);
    uint64_t base = tree_pages(r->before_snap) * 4096;
    int fits = 0;
    uint64_t size = 0;
    for (uint64_t extra = 0; extra <= (16u << 20) && !fits && !*no_tmpfs;
         extra = extra < 98304 ? extra + 8192 : extra * 2) {
        unsigned before = t->tried;
        size = base + extra;
        disk_case(t, r, UINT64_MAX, size, mnt, &fits, no_tmpfs);
        *tmpfs_tried += t->tried - before;
    }
    /* A page less than the first size that fitted: full at the very end. */
    if (fits && size >= base + 8192) {
        unsigned before = t->tried;
        disk_case(t, r, UINT64_MAX, size - 4096, mnt, NULL, no_tmpfs);
        *tmpfs_tried += t->tried - before;
    }
}

/* ================================================================ set-up */

static void snapshot(const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/snap-%s", root, name);
    if (copy_tree(work, out, 0) != 0) {
        fprintf(stderr, "cannot copy %s\n", work);
        exit(2);
    }
}

/* Checks that the index in work answers as a fresh build of model, and
 * records its state (with its sources) in *out. */
static void reference(state *out, const char *what)
{
    read_state(work, out);
    CHECK_MSG(out->open_rc == KZ_OK && out->check_rc == KZ_OK, "%s: open %d check %d: %s %s", what, out->open_rc,
              out->check_rc, out->open_msg, out->check_msg);
    CHECK_OK(build_fresh(fresh_dir, &model));
    state fr;
    read_state(fresh_dir, &fr);
    if (!same_answers(out, &fr)) {
        char diff[400];
        first_difference(out, &fr, diff, sizeof diff);
        CHECK_MSG(0, "%s: the index does not answer as a fresh build of its documents: %s", what, diff);
    }
    state_free(&fr);
}

static void make_sources(void)
{
    snprintf(src_dir, sizeof src_dir, "%s/src", root);
    mkdir(src_dir, 0755);
    snprintf(src_feed, sizeof src_feed, "%s/src/feed.jsonl", root);
    snprintf(src_notes, sizeof src_notes, "%s/src/notes", root);
    snprintf(src_add, sizeof src_add, "%s/src/add.jsonl", root);
    snprintf(src_old, sizeof src_old, "%s/src/old.jsonl", root);
    mkdir(src_notes, 0755);
    for (int i = 0; i < 30; i++) {
        char id[16];
        snprintf(id, sizeof id, "o%02d", i);
        tdoc d = make_jdoc(id, "oldword", doc_words());
        docs_push(&old_docs, &d);
        tdoc_free(&d);
    }
    write_jsonl(src_old, &old_docs);
    for (int i = 0; i < 150; i++) {
        char id[16];
        snprintf(id, sizeof id, "f%03d", i);
        tdoc d = make_jdoc(id, NULL, doc_words());
        docs_push(&feed, &d);
        tdoc_free(&d);
    }
    write_jsonl(src_feed, &feed);
    for (int i = 0; i < 50; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%02d.txt", i);
        tdoc d = make_note(name, NULL, doc_words());
        write_note(src_notes, &d);
        docs_push(&notes, &d);
        tdoc_free(&d);
    }
    /* 35 new documents and new versions of 15 the index has. */
    for (int i = 0; i < 50; i++) {
        char id[16];
        if (i % 10 < 3)
            snprintf(id, sizeof id, "f%03d", (i * 7) % 150);
        else
            snprintf(id, sizeof id, "a%02d", i);
        tdoc d = make_jdoc(id, "version", doc_words());
        docs_push(&added, &d);
        tdoc_free(&d);
    }
    write_jsonl(src_add, &added);
}

/* The sources change for the update: in the JSON Lines file, 8 documents
 * dropped, 10 changed in text and 3 in metadata only, 10 new ones, and the
 * documents add replaced given as added them (so they are unchanged); in
 * the folder, 4 files changed, 3 removed, 4 new ones. */
static void change_sources(void)
{
    docs nf = { 0 };
    for (size_t i = 0; i < feed.n; i++) {
        tdoc d = tdoc_copy(&feed.d[i]);
        ssize_t a = docs_find(&added, d.id);
        if (a >= 0) {
            tdoc_free(&d);
            d = tdoc_copy(&added.d[a]);
        } else if (i % 19 == 5) {
            tdoc_free(&d);
            continue; /* dropped */
        } else if (i % 15 == 2) {
            free(d.text);
            d.text = random_words(doc_words(), "updated");
        } else if (i % 50 == 9) {
            free(d.meta_val[1]);
            d.meta_val[1] = strdup("Changed Author");
        }
        docs_push(&nf, &d);
        tdoc_free(&d);
    }
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof id, "u%02d", i);
        tdoc d = make_jdoc(id, "updated", doc_words());
        docs_push(&nf, &d);
        tdoc_free(&d);
    }
    docs_copy(&feed, &nf);
    docs_clear(&nf);
    write_jsonl(src_feed, &feed);
    for (size_t i = 0; i < notes.n; i++) {
        tdoc *d = &notes.d[i];
        if (i % 13 == 4) {
            free(d->text);
            kz_buf t = { 0 };
            char *w = random_words(doc_words(), "updated");
            kz_buf_printf(&t, "%s\n", w);
            kz_buf_terminate(&t);
            free(w);
            d->text = (char *)t.data;
            write_note(src_notes, d);
        }
    }
    for (int k = 0; k < 3; k++) {
        char id[16], path[4400];
        snprintf(id, sizeof id, "n%02d.txt", 10 + 11 * k);
        snprintf(path, sizeof path, "%s/%s", src_notes, id);
        unlink(path);
        docs_remove(&notes, id);
    }
    for (int k = 0; k < 4; k++) {
        char name[16];
        snprintf(name, sizeof name, "n%02d.txt", 60 + k);
        tdoc d = make_note(name, "updated", doc_words());
        write_note(src_notes, &d);
        docs_push(&notes, &d);
        tdoc_free(&d);
    }
    qsort(notes.d, notes.n, sizeof *notes.d, note_cmp);
}

/* The model of an update: every source's documents in order, the first of
 * an id taken; new or changed ones go to the end, in that order; then the
 * live documents no source gave are deleted (*inter: before that). */
static void model_update(docs *inter)
{
    const docs *srcs[3] = { &feed, &notes, &added };
    docs changed = { 0 }, seen = { 0 };
    for (int s = 0; s < 3; s++) {
        for (size_t i = 0; i < srcs[s]->n; i++) {
            const tdoc *d = &srcs[s]->d[i];
            if (docs_find(&seen, d->id) >= 0)
                continue;
            docs_push(&seen, d);
            ssize_t m = docs_find(&model, d->id);
            if (m < 0 || !tdoc_same(&model.d[m], d))
                docs_push(&changed, d);
        }
    }
    for (size_t i = 0; i < changed.n; i++)
        docs_remove(&model, changed.d[i].id);
    for (size_t i = 0; i < changed.n; i++)
        docs_push(&model, &changed.d[i]);
    docs_copy(inter, &model);
    for (size_t i = 0; i < model.n;) {
        if (docs_find(&seen, model.d[i].id) < 0)
            docs_remove(&model, model.d[i].id);
        else
            i++;
    }
    docs_clear(&changed);
    docs_clear(&seen);
}

static op_ref refs[N_OPS];

/* Builds each generation without faults, from the one before, and keeps a
 * copy of each and its answers. */
static void set_up(void)
{
    /* A tmpfs if there is one: every change fsyncs several times. */
    struct stat shm;
    const char *tmp = getenv("TMPDIR");
    if ((!tmp || !*tmp) && stat("/dev/shm", &shm) == 0 && S_ISDIR(shm.st_mode) && access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 1);
    root = kz_test_temp_dir();
    snprintf(work, sizeof work, "%s/ix", root);
    snprintf(child_err, sizeof child_err, "%s/child-stderr", root);
    snprintf(fresh_dir, sizeof fresh_dir, "%s/fresh", root);
    make_sources();
    run_info ri;

    /* Generation 1: an older index, of other sources. */
    const char *old_srcs[] = { src_old };
    CHECK_OK(build_sources(work, old_srcs, 1, KZ_BUILD_REPLACE, 1, &ri));
    docs_copy(&model, &old_docs);
    for (int op = 0; op < N_OPS; op++) {
        op_ref *r = &refs[op];
        r->op = op;
        snapshot(op_names[op], r->before_snap, sizeof r->before_snap);
        read_state(work, &r->before);
        if (op == OP_UPDATE) {
            snprintf(src_snap[0], sizeof src_snap[0], "%s/snap-src-0", root);
            snprintf(src_snap[1], sizeof src_snap[1], "%s/snap-src-1", root);
            CHECK(copy_tree(src_dir, src_snap[0], 0) == 0);
            change_sources();
            CHECK(copy_tree(src_dir, src_snap[1], 0) == 0);
        }
        CHECK_OK(run_op(op, work, &ri));
        switch (op) {
        case OP_INDEX:
            docs_clear(&model);
            for (size_t i = 0; i < feed.n; i++)
                docs_push(&model, &feed.d[i]);
            for (size_t i = 0; i < notes.n; i++)
                docs_push(&model, &notes.d[i]);
            break;
        case OP_ADD:
            for (size_t i = 0; i < added.n; i++) {
                docs_remove(&model, added.d[i].id);
                docs_push(&model, &added.d[i]);
            }
            break;
        case OP_DELETE:
            for (int i = 0; i < 20; i++)
                docs_remove(&model, delete_ids[i]);
            break;
        case OP_UPDATE: {
            docs inter = { 0 };
            model_update(&inter);
            CHECK_OK(build_fresh(fresh_dir, &inter));
            state fr;
            read_state(fresh_dir, &fr);
            /* Its answers, and the sources of the generation before. */
            kz_buf_free(&r->intermediate.sig);
            r->intermediate = fr;
            r->intermediate.sig.len = fr.answers_len;
            kz_buf_append(&r->intermediate.sig, r->before.sig.data + r->before.answers_len,
                          r->before.sig.len - r->before.answers_len);
            kz_buf_terminate(&r->intermediate.sig);
            r->has_intermediate = 1;
            docs_clear(&inter);
            break;
        }
        case OP_OPTIMIZE:
            break;
        }
        reference(&r->after, op_names[op]);
        r->largest = largest_file(work);
        kz_index *ix;
        if (kz_index_open(&ix, work) == KZ_OK) {
            kz_index_info info;
            kz_index_get_info(ix, &info);
            fprintf(stderr, "  %s: %llu documents in %llu segments (generation %llu), largest file %llu bytes\n",
                    op_names[op], (unsigned long long)info.docs, (unsigned long long)info.segments,
                    (unsigned long long)info.generation, (unsigned long long)r->largest);
            if (op == OP_DELETE)
                CHECK(info.segments >= 2);
            kz_index_free(ix);
        }
        if (op == OP_ADD) {
            /* The delete's ids: of both segments, new versions among them,
             * and one the index does not have. */
            for (int i = 0; i < 19; i++) {
                const tdoc *d = &model.d[(size_t)(i * 37 + 3) % model.n];
                snprintf(delete_names[i], sizeof delete_names[i], "%s", d->id);
                for (int j = 0; j < i; j++)
                    if (!strcmp(delete_names[j], delete_names[i]))
                        snprintf(delete_names[i], sizeof delete_names[i], "%s", model.d[model.n - 1 - (size_t)i].id);
                delete_ids[i] = delete_names[i];
            }
            snprintf(delete_names[19], sizeof delete_names[19], "no-such-id");
            delete_ids[19] = delete_names[19];
        }
    }
}

/* ================================================================ tests */

/* Whether to test op (KZ_FAULTS_OP); if so, its sources are put back as
 * they were for it. */
static int op_selected(int op)
{
    const char *only = getenv("KZ_FAULTS_OP");
    if (only && *only && strcmp(only, op_names[op]) != 0)
        return 0;
    if (copy_tree(src_snap[op >= OP_UPDATE], src_dir, 0) != 0) {
        fprintf(stderr, "cannot restore the sources\n");
        exit(2);
    }
    return 1;
}

static void test_failing_calls(void)
{
    for (int op = 0; op < N_OPS; op++) {
        if (!op_selected(op))
            continue;
        tally t;
        memset(&t, 0, sizeof t);
        injections(&refs[op], &t);
        fprintf(stderr,
                "  %s: %u injection points (%u reached) in %.1f s (%.0f ms a case in the child, %.0f checking): %u "
                "failed leaving the old generation, %u failed after the commit point (new generation), %u "
                "intermediate, %u succeeded, %u skipped input as a problem, %u known bugs, %u new bugs\n",
                op_names[op], t.tried, t.fired, t.seconds, 1e3 * t.in_child / KZ_MAX(t.tried, 1u),
                1e3 * t.in_checks / KZ_MAX(t.tried, 1u), t.failed_old, t.failed_after_commit, t.failed_intermediate,
                t.succeeded, t.problems, t.known, t.bugs);
        char line[2000];
        size_t at = 0;
        for (int f = 0; f < N_FNS; f++)
            if (t.count_fn[f])
                at += (size_t)snprintf(line + at, sizeof line - at, " %s %u/%ld", fn_names[f], t.tried_fn[f],
                                       t.count_fn[f]);
        fprintf(stderr, "    tried/calls:%s\n", line);
    }
}

static void test_disk_full(void)
{
    int no_tmpfs = 0;
    for (int op = 0; op < N_OPS; op++) {
        if (!op_selected(op))
            continue;
        tally t;
        memset(&t, 0, sizeof t);
        unsigned limits = 0, tmpfs = 0;
        double t0 = kz_now();
        disk_full(&refs[op], &t, &limits, &tmpfs, &no_tmpfs);
        fprintf(stderr,
                "  %s: %u file size limits, %u tmpfs sizes in %.1f s: %u failed leaving the old generation, %u "
                "failed after the commit point, %u succeeded, %u known bugs, %u new bugs\n",
                op_names[op], limits, tmpfs, kz_now() - t0, t.failed_old, t.failed_after_commit, t.succeeded, t.known,
                t.bugs);
    }
}

/* Not a fault: an index whose every document was deleted, merged (in a
 * child process, as it crashes today). The merge must succeed or fail,
 * and leave an index that opens. */
static void test_merge_all_deleted(void)
{
    for (unsigned flags = 0; flags <= KZ_MERGE_ALL; flags += KZ_MERGE_ALL) {
        char dir[4400];
        snprintf(dir, sizeof dir, "%s/all-deleted-%u", root, flags);
        docs two = { 0 };
        docs_push(&two, &feed.d[0]);
        docs_push(&two, &feed.d[1]);
        CHECK_OK(build_fresh(dir, &two));
        const char *ids[2] = { two.d[0].id, two.d[1].id };
        uint8_t found[2];
        uint64_t deleted = 0;
        CHECK_OK(kz_index_delete(dir, ids, 2, found, &deleted));
        CHECK_INT(deleted, 2);
        docs_clear(&two);
        fflush(stderr);
        pid_t pid = fork();
        if (pid == 0) {
            int efd = open(child_err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (efd >= 0) {
                dup2(efd, 2);
                close(efd);
            }
            unsigned merges = 0;
            int rc = kz_index_merge(dir, NULL, flags, &merges);
            _exit(rc == KZ_OK ? 0 : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        const char *what = flags ? "KZ_MERGE_ALL" : "the tiered policy";
        if (!WIFEXITED(status)) {
            known_bug *k = find_known("optimize", "none", OUT_CRASH);
            if (k) {
                k->seen++;
                fprintf(stderr, "  known bug: a merge (%s) of an index whose every document was deleted: killed by "
                        "signal %d\n", what, WTERMSIG(status));
            } else {
                CHECK_MSG(0, "a merge (%s) of an index whose every document was deleted: killed by signal %d", what,
                          WTERMSIG(status));
                print_child_err();
            }
        }
        kz_index *ix = NULL;
        CHECK_OK(kz_index_open(&ix, dir));
        if (ix) {
            kz_index_info info;
            kz_index_get_info(ix, &info);
            CHECK_INT(info.docs, 0);
            CHECK_OK(kz_index_check(ix, NULL, NULL));
        }
        kz_index_free(ix);
    }
}

static void test_known_bugs_seen(void)
{
    const char *only = getenv("KZ_FAULTS_OP");
    for (known_bug *k = known_bugs; k->op; k++)
        fprintf(stderr, "  known bug %s %s (%s): %u cases%s\n", k->op, k->fn, k->outcome, k->seen,
                k->seen || (only && *only) ? "" : " -- not seen: fixed? remove it from known_bugs[]");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    verbose = getenv("KZ_FAULTS_VERBOSE") && atoi(getenv("KZ_FAULTS_VERBOSE"));
    void *warm[2];
    backtrace(warm, 2); /* loads the unwinder now, not inside a fault */
#ifndef KZ_ASAN
    signal(SIGSEGV, crash_in_parent);
    signal(SIGABRT, crash_in_parent);
    signal(SIGBUS, crash_in_parent);
#endif
    double t0 = kz_now();
    set_up();
    fprintf(stderr, "  set-up: %.1f s\n", kz_now() - t0);
    KZ_RUN(test_failing_calls);
    KZ_RUN(test_disk_full);
    KZ_RUN(test_merge_all_deleted);
    KZ_RUN(test_known_bugs_seen);
    fprintf(stderr, "  total %.1f s\n", kz_now() - t0);
    for (int op = 0; op < N_OPS; op++) {
        state_free(&refs[op].before);
        state_free(&refs[op].after);
        state_free(&refs[op].intermediate);
    }
    docs_clear(&feed);
    docs_clear(&notes);
    docs_clear(&added);
    docs_clear(&old_docs);
    docs_clear(&model);
    kz_test_remove_tree(root);
    free(root);
    return kz_test_finish();
}
