/*
 * test_run.c: sorted run files (indexer/run.c).
 *
 * Terms with random postings, one of them far longer than the read-ahead,
 * are written with kz_run_write() and read back posting by posting with
 * read-ahead sizes from 1 byte to the default; some terms are read whole,
 * some in part and some not at all before moving on, and whatever was
 * read must equal what was written. A run cut short at every length, or
 * with a byte changed, gives an error or a well-formed read, never a
 * crash (ASan watches the reads).
 */
#include "kzint.h"
#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct posting {
    uint32_t docid, tf;
    uint32_t *pos; /* as written: the first position, then gap-1 */
} posting;

typedef struct tterm {
    char text[32];
    kz_buf bytes; /* as the inverter lays them out */
    posting *p;
    uint32_t df;
} tterm;

/* Term n/2 is in long_df documents, the others in at most 40. */
static void make_terms(tterm *t, size_t n, uint32_t long_df, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++) {
        memset(&t[i], 0, sizeof t[i]);
        snprintf(t[i].text, sizeof t[i].text, "term%04zu", i);
        uint32_t df = i == n / 2 ? long_df : 1 + (uint32_t)(kz_test_rand(rng) % 40);
        t[i].p = malloc(df * sizeof *t[i].p);
        t[i].df = df;
        uint32_t doc = 0;
        for (uint32_t k = 0; k < df; k++) {
            uint64_t r = kz_test_rand(rng);
            uint32_t gap = k == 0 ? (uint32_t)(r % 1000) : 1 + (uint32_t)(r % 300);
            doc += gap;
            uint32_t tf = r % 50 == 0 ? 1 + (uint32_t)(r >> 20) % 2000 : 1 + (uint32_t)(r >> 20) % 4;
            kz_buf_append_varint(&t[i].bytes, gap);
            kz_buf_append_varint(&t[i].bytes, tf);
            uint32_t *pos = malloc(tf * sizeof *pos);
            for (uint32_t j = 0; j < tf; j++) {
                /* some values of every varint length */
                uint64_t v = kz_test_rand(rng);
                pos[j] = (uint32_t)(v % 97 == 0 ? v >> 33 : v % (j ? 300 : 70000));
                kz_buf_append_varint(&t[i].bytes, pos[j]);
            }
            t[i].p[k] = (posting){ doc, tf, pos };
        }
    }
}

static void free_terms(tterm *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kz_buf_free(&t[i].bytes);
        for (uint32_t k = 0; k < t[i].df; k++)
            free(t[i].p[k].pos);
        free(t[i].p);
    }
}

static int write_run(const char *path, tterm *t, size_t n)
{
    kz_run_term *rt = malloc(n * sizeof *rt);
    for (size_t i = 0; i < n; i++)
        rt[i] = (kz_run_term){ t[i].text, strlen(t[i].text), t[i].df, t[i].bytes.data, t[i].bytes.len };
    int rc = kz_run_write(path, rt, n);
    free(rt);
    return rc;
}

static void test_read_back_in_whole_in_part_or_not_at_all(void)
{
    uint64_t rng = kz_test_seed();
    enum { N = 60 };
    tterm t[N];
    make_terms(t, N, 20000, &rng);
    char *dir = kz_test_temp_dir(), path[4096];
    snprintf(path, sizeof path, "%s/run", dir);
    CHECK_OK(write_run(path, t, N));
    static const size_t reads[] = { 1, 7, 100, 4096, 0 };
    for (size_t ri = 0; ri < sizeof reads / sizeof *reads; ri++) {
        kz_run_reader *r = NULL;
        CHECK_OK(kz_run_open(&r, path, reads[ri]));
        if (!r)
            continue;
        uint32_t wrong = 0;
        for (size_t i = 0; i < N; i++) {
            CHECK_INT(kz_run_next(r), 1);
            size_t len;
            const uint8_t *text = kz_run_current_term(r, &len);
            CHECK(len == strlen(t[i].text) && memcmp(text, t[i].text, len) == 0);
            CHECK_INT(kz_run_current_df(r), t[i].df);
            /* every third term whole, every third in part, the rest not read */
            uint32_t take = i % 3 == 0 ? t[i].df : i % 3 == 1 ? t[i].df / 2 : 0;
            for (uint32_t k = 0; k < take; k++) {
                kz_run_posting p;
                if (kz_run_posting_next(r, &p) != 1) {
                    wrong++;
                    break;
                }
                const posting *want = &t[i].p[k];
                wrong += p.docid != want->docid || p.tf != want->tf ||
                         memcmp(p.pos, want->pos, p.tf * sizeof *p.pos) != 0;
            }
            if (take == t[i].df) {
                kz_run_posting p;
                CHECK_INT(kz_run_posting_next(r, &p), 0);
            }
        }
        CHECK_MSG(wrong == 0, "read-ahead %zu: %u postings differ", reads[ri], wrong);
        CHECK_INT(kz_run_next(r), 0);
        kz_run_close(r);
    }
    kz_test_remove_tree(dir);
    free(dir);
    free_terms(t, N);
}

/* Reads a whole run; returns 0 if it read cleanly, the error otherwise. */
static int read_all(const char *path, size_t read_size)
{
    kz_run_reader *r;
    int rc = kz_run_open(&r, path, read_size);
    if (rc)
        return rc;
    int more;
    while ((more = kz_run_next(r)) == 1) {
        kz_run_posting p;
        int got;
        while ((got = kz_run_posting_next(r, &p)) == 1)
            if (p.tf == 0 || !p.pos)
                got = -1000;
        if (got < 0) {
            more = got;
            break;
        }
    }
    kz_run_close(r);
    return more;
}

static void test_damaged_runs_fail_cleanly(void)
{
    uint64_t rng = 7;
    enum { N = 5 };
    tterm t[N];
    make_terms(t, N, 300, &rng); /* short enough to read at every cut */
    char *dir = kz_test_temp_dir(), path[4096], cut[4096];
    snprintf(path, sizeof path, "%s/run", dir);
    snprintf(cut, sizeof cut, "%s/cut", dir);
    CHECK_OK(write_run(path, t, N));
    FILE *f = fopen(path, "rb");
    kz_buf whole = { 0 };
    uint8_t buf[4096];
    size_t n;
    while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
        kz_buf_append(&whole, buf, n);
    if (f)
        fclose(f);
    CHECK_INT(read_all(path, 16), 0);
    /* Every truncation is an error: the run's last byte marks its end. */
    uint32_t silent = 0, invalid = 0;
    for (size_t len = 0; len < whole.len; len++) {
        int fd = open(cut, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, whole.data, len) != (ssize_t)len)
            CHECK(0);
        close(fd);
        int rc = read_all(cut, len % 2 ? 16 : 0);
        silent += rc == 0;
        invalid += rc == -1000;
    }
    CHECK_MSG(silent == 0, "%u truncations read as whole runs", silent);
    CHECK_INT(invalid, 0);
    /* A changed byte never crashes and never yields a posting without
     * positions. */
    for (size_t at = 0; at < whole.len; at += 1 + at / 64) {
        uint8_t old = whole.data[at];
        whole.data[at] ^= (uint8_t)(1 + kz_test_rand(&rng) % 255);
        int fd = open(cut, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, whole.data, whole.len) != (ssize_t)whole.len)
            CHECK(0);
        close(fd);
        invalid += read_all(cut, 16) == -1000;
        whole.data[at] = old;
    }
    CHECK_INT(invalid, 0);
    kz_buf_free(&whole);
    kz_test_remove_tree(dir);
    free(dir);
    free_terms(t, N);
}

int main(void)
{
    KZ_RUN(test_read_back_in_whole_in_part_or_not_at_all);
    KZ_RUN(test_damaged_runs_fail_cleanly);
    return kz_test_finish();
}
