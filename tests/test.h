/*
 * test.h: the small harness every test program uses.
 *
 * A test file defines functions `static void test_xxx(void)` and lists them
 * in main() with KZ_RUN(test_xxx). CHECK* record a failure with file:line and
 * go on; the program exits non-zero if anything failed and prints
 * "N passed, N failed" as its last line. Randomised tests take their seed from
 * $KZ_TEST_SEED (printed, so a failure can be replayed) or the clock.
 */
#ifndef KZ_TEST_H
#define KZ_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KZ_TEST_UNUSED __attribute__((unused))
static KZ_TEST_UNUSED int kz_test_failures;
static KZ_TEST_UNUSED int kz_test_checks;
static KZ_TEST_UNUSED int kz_test_passed_tests;
static KZ_TEST_UNUSED int kz_test_failed_tests;

#define CHECK(cond)                                                             \
    do {                                                                        \
        kz_test_checks++;                                                       \
        if (!(cond)) {                                                          \
            kz_test_failures++;                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                       \
    } while (0)

#define CHECK_MSG(cond, ...)                                                    \
    do {                                                                        \
        kz_test_checks++;                                                       \
        if (!(cond)) {                                                          \
            kz_test_failures++;                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

#define CHECK_INT(a, b)                                                         \
    do {                                                                        \
        long long kz_a_ = (long long)(a), kz_b_ = (long long)(b);               \
        kz_test_checks++;                                                       \
        if (kz_a_ != kz_b_) {                                                   \
            kz_test_failures++;                                                 \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__,  \
                    __LINE__, #a, #b, kz_a_, kz_b_);                            \
        }                                                                       \
    } while (0)

#define CHECK_STR(a, b)                                                         \
    do {                                                                        \
        const char *kz_a_ = (a), *kz_b_ = (b);                                  \
        kz_test_checks++;                                                       \
        if (!kz_a_ || !kz_b_ || strcmp(kz_a_, kz_b_) != 0) {                    \
            kz_test_failures++;                                                 \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n",        \
                    __FILE__, __LINE__, #a, #b, kz_a_ ? kz_a_ : "(null)",        \
                    kz_b_ ? kz_b_ : "(null)");                                  \
        }                                                                       \
    } while (0)

/* Checks rc == KZ_OK and prints kz_last_error() otherwise. */
#define CHECK_OK(expr)                                                          \
    do {                                                                        \
        int kz_rc_ = (expr);                                                    \
        kz_test_checks++;                                                       \
        if (kz_rc_ != 0) {                                                      \
            kz_test_failures++;                                                 \
            fprintf(stderr, "%s:%d: %s returned %d: %s\n", __FILE__, __LINE__,   \
                    #expr, kz_rc_, kz_last_error());                            \
        }                                                                       \
    } while (0)

#define KZ_RUN(fn)                                                              \
    do {                                                                        \
        int kz_before_ = kz_test_failures;                                      \
        fn();                                                                   \
        if (kz_test_failures == kz_before_) {                                   \
            kz_test_passed_tests++;                                             \
            fprintf(stderr, "ok   %s\n", #fn);                                  \
        } else {                                                                \
            kz_test_failed_tests++;                                             \
            fprintf(stderr, "FAIL %s\n", #fn);                                  \
        }                                                                       \
    } while (0)

static inline int kz_test_finish(void)
{
    printf("%d checks; %d passed, %d failed\n", kz_test_checks, kz_test_passed_tests,
           kz_test_failed_tests);
    return kz_test_failed_tests ? 1 : 0;
}

/* Seed for randomised tests: $KZ_TEST_SEED, else time. Printed. */
static inline uint64_t kz_test_seed(void)
{
    const char *s = getenv("KZ_TEST_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);
    fprintf(stderr, "seed %" PRIu64 " (set KZ_TEST_SEED to replay)\n", seed);
    return seed;
}

/* xorshift64*: small, fast, reproducible. */
static inline uint64_t kz_test_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* words words of vocab[0..n) joined by spaces, skewed so that low
 * indexes are common (the w-th drawn with probability (2w + 1)/n^2), so
 * that their posting lists span blocks; malloc'd, exits on failure. */
static KZ_TEST_UNUSED char *kz_test_random_words(uint64_t *rng, const char *const *vocab, size_t n, size_t words)
{
    size_t cap = 1, len = 0;
    for (size_t w = 0; w < n; w++)
        cap += strlen(vocab[w]) + 1;
    cap *= words + 1;
    char *out = malloc(cap);
    if (!out)
        abort();
    out[0] = 0;
    for (size_t i = 0; i < words; i++) {
        uint64_t r = kz_test_rand(rng) % (n * n);
        size_t w = 0;
        while ((w + 1) * (w + 1) <= r)
            w++;
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? " " : "", vocab[w % n]);
    }
    return out;
}

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

/* A new empty folder under $TMPDIR (or /tmp); malloc'd, exits on failure. */
static KZ_TEST_UNUSED char *kz_test_temp_dir(void)
{
    const char *base = getenv("TMPDIR");
    size_t n = strlen(base && *base ? base : "/tmp") + 32;
    char *t = malloc(n);
    snprintf(t, n, "%s/kztest-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(t)) {
        perror("mkdtemp");
        exit(2);
    }
    return t;
}

static KZ_TEST_UNUSED int kz_test_remove_entry(const char *path, const struct stat *st, int flag,
                                               struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes a file or a folder and all it holds. Links are removed, never
 * followed (FTW_PHYS), so a link to a folder outside cannot empty it. */
static KZ_TEST_UNUSED void kz_test_remove_tree(const char *path)
{
    nftw(path, kz_test_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#include <errno.h>
#include <fcntl.h>

/* The whole file, malloc'd (the caller frees it), or NULL. */
static KZ_TEST_UNUSED uint8_t *kz_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    if (!p || n < 0 || fread(p, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(p);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* Writes (replaces) a file; exits on failure. */
static KZ_TEST_UNUSED void kz_test_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) || close(fd) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
}

/* The stems kz_analyze gives a text, in order: the first 16 of those
 * under 64 bytes (kz_analyze(language, text, len, kz_test_add_stem, &s)). */
typedef struct kz_test_stems {
    char v[16][64];
    size_t n;
} kz_test_stems;

static KZ_TEST_UNUSED void kz_test_add_stem(void *ctx, const char *stem, size_t len, size_t start, size_t end)
{
    kz_test_stems *s = ctx;
    (void)start;
    (void)end;
    if (s->n < 16 && len < sizeof s->v[0]) {
        memcpy(s->v[s->n], stem, len);
        s->v[s->n++][len] = 0;
    }
}

#endif
