/*
 * test_rebuild.c: a batch rebuild is atomic.
 *
 *  - a build, an add or a delete killed (SIGKILL) at any moment leaves the
 *    old index intact and usable (or the new one whole), and the next
 *    change clears what the killed one left;
 *  - a reader that opened the old index keeps reading it, unchanged, while
 *    a new one is renamed into place; a new open sees the new one;
 *  - a second builder of the same index is refused (KZ_ELOCKED);
 *  - a build given up (error, or freed without commit) changes nothing.
 */
#include "kzint.h"
#include "format.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Builds an index of n documents whose text names the generation. */
static int build_generation(const char *dir, int generation, int n)
{
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.threads = 2;
    kz_builder *b;
    int rc = kz_builder_new(&b, dir, &o);
    for (int i = 0; rc == KZ_OK && i < n; i++) {
        char id[32], text[128];
        snprintf(id, sizeof id, "g%d-%d", generation, i);
        int len = snprintf(text, sizeof text, "generation%d document %d shared words here", generation, i);
        rc = kz_builder_add_document(b, id, strlen(id), "title", 5, text, (size_t)len, NULL, 0);
    }
    if (rc == KZ_OK)
        rc = kz_builder_commit(b, NULL);
    kz_builder_free(b);
    return rc;
}

/* Checks that dir holds a sound index of generation g with n documents. */
static void expect_generation(const char *dir, int generation, int n)
{
    kz_index *ix;
    CHECK_OK(kz_index_open(&ix, dir));
    if (!ix)
        return;
    kz_index_info info;
    kz_index_get_info(ix, &info);
    CHECK_INT(info.docs, n);
    char term[32];
    snprintf(term, sizeof term, "generation%d", generation);
    kz_term t;
    CHECK_OK(kz_index_term(ix, &t, term, strlen(term)));
    CHECK_INT(t.df, n);
    CHECK_OK(kz_index_check(ix, NULL, NULL));
    kz_index_free(ix);
}

static int count_leftovers(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-") || strncmp(e->d_name, ".build-", 7) == 0)
            n++;
    closedir(d);
    return n;
}

/* A child builds from a pipe; we feed it and kill it at a chosen moment. */
static void kill_build(const char *dir, int docs_before_kill, int close_input, int delay_ms)
{
    int fds[2];
    if (pipe(fds) != 0) {
        CHECK(0);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[1]);
        dup2(fds[0], 0);
        kz_builder *b;
        if (kz_builder_new(&b, dir, NULL) != KZ_OK)
            _exit(3);
        kz_builder_add_source(b, "-");
        kz_builder_commit(b, NULL);
        _exit(0);
    }
    close(fds[0]);
    FILE *f = fdopen(fds[1], "w");
    for (int i = 0; i < docs_before_kill; i++)
        fprintf(f, "{\"id\":\"k%d\",\"title\":\"killed\",\"text\":\"generation9 text of document %d\"}\n", i, i);
    fflush(f);
    if (close_input)
        fclose(f);
    usleep((useconds_t)delay_ms * 1000);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    if (!close_input)
        fclose(f);
}

static void test_killed_build_keeps_old_index(void)
{
    char *dir = kz_test_temp_dir();
    CHECK_OK(build_generation(dir, 1, 300));
    /* Killed while reading input, and (input closed) at various points of
     * merging and writing: the index is the old one or, if the child got to
     * rename, the complete new one; never anything else. */
    int delays[] = { 0, 1, 3, 10, 30, 100 };
    for (size_t i = 0; i < sizeof delays / sizeof *delays; i++) {
        kill_build(dir, 20000, 0, delays[i]);
        expect_generation(dir, 1, 300);
    }
    for (size_t i = 0; i < sizeof delays / sizeof *delays; i++) {
        kill_build(dir, 20000, 1, delays[i]);
        kz_index *ix;
        CHECK_OK(kz_index_open(&ix, dir));
        if (ix) {
            kz_index_info info;
            kz_index_get_info(ix, &info);
            CHECK_MSG(info.docs == 300 || info.docs == 20000, "index has %llu documents",
                      (unsigned long long)info.docs);
            CHECK_OK(kz_index_check(ix, NULL, NULL));
            kz_index_free(ix);
        }
    }
    /* The next build removes what the killed ones left. */
    CHECK_OK(build_generation(dir, 2, 50));
    CHECK_INT(count_leftovers(dir), 0);
    expect_generation(dir, 2, 50);
    kz_test_remove_tree(dir);
    free(dir);
}

/* An add or a delete killed at any moment: the index is the old
 * generation or the new one, whole, and the next change clears what the
 * killed one left. */
static uint64_t live_docs(const char *dir)
{
    kz_index *ix;
    kz_index_info info = { 0 };
    CHECK_OK(kz_index_open(&ix, dir));
    if (ix) {
        kz_index_get_info(ix, &info);
        CHECK_OK(kz_index_check(ix, NULL, NULL));
        kz_index_free(ix);
    }
    return info.docs;
}

static void kill_add(const char *dir, int delay_us)
{
    int fds[2];
    if (pipe(fds) != 0) {
        CHECK(0);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[1]);
        dup2(fds[0], 0);
        kz_build_options o = KZ_BUILD_OPTIONS_INIT;
        o.mode = KZ_BUILD_ADD;
        kz_builder *b;
        if (kz_builder_new(&b, dir, &o) != KZ_OK)
            _exit(3);
        kz_builder_add_source(b, "-");
        kz_builder_commit(b, NULL);
        _exit(0);
    }
    close(fds[0]);
    FILE *f = fdopen(fds[1], "w");
    /* 2,000 new documents and new versions of 50 old ones. */
    for (int i = 0; i < 2000; i++)
        fprintf(f, "{\"id\":\"a%d\",\"text\":\"added text %d\"}\n", i, i);
    for (int i = 0; i < 50; i++)
        fprintf(f, "{\"id\":\"g1-%d\",\"text\":\"generation1 a new version %d\"}\n", i, i);
    fclose(f);
    usleep((useconds_t)delay_us);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
}

static void kill_delete(const char *dir, int delay_us)
{
    pid_t pid = fork();
    if (pid == 0) {
        const char *ids[100];
        char names[100][32];
        for (int i = 0; i < 100; i++) {
            snprintf(names[i], sizeof names[i], "g1-%d", 100 + i);
            ids[i] = names[i];
        }
        uint8_t found[100];
        uint64_t deleted;
        _exit(kz_index_delete(dir, ids, 100, found, &deleted) == KZ_OK ? 0 : 3);
    }
    usleep((useconds_t)delay_us);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
}

static void test_killed_add_and_delete(void)
{
    char *dir = kz_test_temp_dir();
    CHECK_OK(build_generation(dir, 1, 300));
    int delays[] = { 0, 200, 1000, 3000, 10000, 30000, 100000, 300000 };
    unsigned old = 0, changed = 0;
    for (size_t i = 0; i < sizeof delays / sizeof *delays; i++) {
        uint64_t before = live_docs(dir);
        kill_add(dir, delays[i]);
        uint64_t after = live_docs(dir);
        CHECK_MSG(after == before || after == before + 2000, "add killed after %d us: %llu documents, was %llu",
                  delays[i], (unsigned long long)after, (unsigned long long)before);
        old += after == before;
        changed += after != before;
        before = after;
        kill_delete(dir, delays[i] / 10);
        after = live_docs(dir);
        CHECK_MSG(after == before || after + 100 == before, "delete killed after %d us: %llu documents, was %llu",
                  delays[i] / 10, (unsigned long long)after, (unsigned long long)before);
        old += after == before;
        changed += after != before;
    }
    fprintf(stderr, "  %u kills left the old generation, %u the new one\n", old, changed);
    /* The next change removes what the killed ones left: no file but the
     * segments the manifest names, the manifest and the lock. */
    CHECK_OK(build_generation(dir, 2, 50));
    CHECK_INT(count_leftovers(dir), 0);
    expect_generation(dir, 2, 50);
    DIR *d = opendir(dir);
    int files = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        files += e->d_name[0] != '.';
    if (d)
        closedir(d);
    CHECK_INT(files, 3); /* lock, manifest, one segment */
    kz_test_remove_tree(dir);
    free(dir);
}

static void test_reader_keeps_old_index(void)
{
    char *dir = kz_test_temp_dir();
    CHECK_OK(build_generation(dir, 1, 200));
    kz_index *old;
    CHECK_OK(kz_index_open(&old, dir));
    CHECK_OK(build_generation(dir, 2, 70));
    if (old) {
        /* Still the first index, whole and consistent. */
        kz_index_info info;
        kz_index_get_info(old, &info);
        CHECK_INT(info.docs, 200);
        kz_term t;
        CHECK_OK(kz_index_term(old, &t, "generation1", 11));
        CHECK_INT(kz_index_term(old, &t, "generation2", 11), KZ_ENOTFOUND);
        char *text;
        size_t len;
        CHECK_OK(kz_index_doc_text(old, &text, &len, 199));
        if (text)
            CHECK_STR(text, "generation1 document 199 shared words here");
        free(text);
        CHECK_OK(kz_index_check(old, NULL, NULL));
        kz_index_free(old);
    }
    expect_generation(dir, 2, 70);
    kz_test_remove_tree(dir);
    free(dir);
}

static void test_second_builder_is_refused(void)
{
    char *dir = kz_test_temp_dir();
    kz_builder *a, *b = NULL;
    CHECK_OK(kz_builder_new(&a, dir, NULL));
    CHECK_INT(kz_builder_new(&b, dir, NULL), KZ_ELOCKED);
    CHECK(b == NULL);
    CHECK(strstr(kz_last_error(), "another") != NULL);
    kz_builder_free(a);
    /* Released: a new builder may start. */
    CHECK_OK(build_generation(dir, 3, 10));
    expect_generation(dir, 3, 10);
    kz_test_remove_tree(dir);
    free(dir);
}

static void test_abandoned_build_changes_nothing(void)
{
    char *dir = kz_test_temp_dir();
    CHECK_OK(build_generation(dir, 1, 40));
    kz_builder *b;
    CHECK_OK(kz_builder_new(&b, dir, NULL));
    CHECK_OK(kz_builder_add_document(b, "x", 1, "t", 1, "generation5 text", 16, NULL, 0));
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/no-such-folder", dir);
    CHECK_INT(kz_builder_add_source(b, missing), KZ_ENOTFOUND);
    kz_builder_free(b); /* given up without commit */
    expect_generation(dir, 1, 40);
    CHECK_INT(count_leftovers(dir), 0);
    kz_test_remove_tree(dir);
    free(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    KZ_RUN(test_killed_build_keeps_old_index);
    KZ_RUN(test_killed_add_and_delete);
    KZ_RUN(test_reader_keeps_old_index);
    KZ_RUN(test_second_builder_is_refused);
    KZ_RUN(test_abandoned_build_changes_nothing);
    return kz_test_finish();
}
