/*
 * fuzz_manifest.c: an index folder's manifest from hostile bytes.
 *
 * At start-up the target builds an index of three segments from the
 * sample articles, as fuzz/make_seeds.py builds the seeds' (kzsearch
 * index, then add twice, then delete one document): seg-000001.kz (two
 * articles, one deleted), seg-000002.kz (two), seg-000003.kz (one). Each
 * input becomes the folder's manifest; for inputs of even length its
 * trailing XXH3 checksum is recomputed first (FORMAT.md "Manifest"), so
 * that changes reach the fields behind it, as a crafted manifest's would;
 * inputs of odd length are taken as they are. The index is then opened;
 * if it opens, its counts, segments and sources are read, documents
 * fetched and looked up by id, queries run, and the whole checked. Each
 * step must succeed or say the index is corrupt (or of another version,
 * or a segment is missing), and never crash.
 */
#include "fuzz.h"

#include <dirent.h>
#include <xxhash.h>

static char ix_dir[700];
static char ids[8][256];
static size_t n_ids;

static const char *const queries[] = { "kazakhstan", "russia putin", "\"ethnic russians\"", "kaz* -putin",
                                       "war OR invasion" };

static void quiet_fault(void *ctx, const char *message) { (void)ctx, (void)message; }

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Copies articles [first, first + n) (in name order) into folder. */
static void copy_articles(char **names, size_t first, size_t n, const char *folder)
{
    mkdir(folder, 0755);
    for (size_t i = first; i < first + n; i++) {
        char from[1200], to[1200];
        snprintf(from, sizeof from, "%s/data/articles/%s", KZ_SOURCE_DIR, names[i]);
        snprintf(to, sizeof to, "%s/%s", folder, names[i]);
        FILE *f = fopen(from, "rb");
        if (!f) {
            perror(from);
            abort();
        }
        static uint8_t buf[1 << 20];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        kz_fuzz_write(to, buf, len);
    }
}

static void build(const char *folder, kz_build_mode mode)
{
    kz_build_options o = KZ_BUILD_OPTIONS_INIT;
    o.threads = 1;
    o.mode = mode;
    o.on_problem = kz_fuzz_quiet_problem;
    kz_builder *b = NULL;
    if (kz_builder_new(&b, ix_dir, &o) != KZ_OK || kz_builder_add_source(b, folder) != KZ_OK ||
        kz_builder_commit(b, NULL) != KZ_OK) {
        fprintf(stderr, "fuzz_manifest: cannot build the index: %s\n", kz_last_error());
        abort();
    }
    kz_builder_free(b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *root = kz_fuzz_dir();
    char articles[1100];
    snprintf(articles, sizeof articles, "%s/data/articles", KZ_SOURCE_DIR);
    DIR *d = opendir(articles);
    if (!d) {
        perror(articles);
        abort();
    }
    char *names[64];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, name_cmp);
    if (n < 5) {
        fprintf(stderr, "fuzz_manifest: %s has %zu articles, 5 needed\n", articles, n);
        abort();
    }
    snprintf(ix_dir, sizeof ix_dir, "%s/ix", root);
    char a[800], b[800], c[800];
    snprintf(a, sizeof a, "%s/a", root);
    snprintf(b, sizeof b, "%s/b", root);
    snprintf(c, sizeof c, "%s/c", root);
    copy_articles(names, 0, 2, a);
    copy_articles(names, 2, 2, b);
    copy_articles(names, 4, 1, c);
    build(a, KZ_BUILD_REPLACE);
    build(b, KZ_BUILD_ADD);
    build(c, KZ_BUILD_ADD);
    const char *del[1] = { names[0] };
    uint8_t found;
    uint64_t deleted;
    if (kz_index_delete(ix_dir, del, 1, &found, &deleted) != KZ_OK || deleted != 1) {
        fprintf(stderr, "fuzz_manifest: cannot delete: %s\n", kz_last_error());
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        if (n_ids < 8)
            snprintf(ids[n_ids++], sizeof ids[0], "%s", names[i]);
        free(names[i]);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int allowed = KZ_FUZZ_ALLOW(KZ_ECORRUPT);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    if (size >= 8 && size % 2 == 0) {
        uint64_t sum = XXH3_64bits(copy, size - 8);
        memcpy(copy + size - 8, &sum, 8); /* little-endian, as the format */
    }
    char path[800];
    snprintf(path, sizeof path, "%s/manifest", ix_dir);
    kz_fuzz_write(path, copy, size);
    free(copy);

    kz_index *ix = NULL;
    int rc = kz_index_open(&ix, ix_dir);
    /* ENOTFOUND: a segment the manifest names is not there. */
    kz_fuzz_expect(rc, allowed | KZ_FUZZ_ALLOW(KZ_EVERSION) | KZ_FUZZ_ALLOW(KZ_ENOTFOUND), "kz_index_open");
    if (rc)
        return 0;
    kz_index_info info;
    kz_index_get_info(ix, &info);
    uint64_t live = 0;
    for (size_t i = 0; i < info.segments; i++) {
        const char *name;
        uint64_t docs, deleted;
        kz_index_segment_info(ix, i, &name, &docs, &deleted);
        if (!name || deleted > docs)
            abort();
        live += docs - deleted;
    }
    if (live != info.docs)
        abort();
    for (size_t i = 0; i < kz_index_source_count(ix); i++)
        if (!kz_index_source(ix, i))
            abort();
    for (uint32_t d = 0; d < info.docids && d < 8; d++) {
        kz_doc doc;
        kz_doc_field meta[4];
        kz_fuzz_expect(kz_index_doc(ix, &doc, d, meta, 4), allowed | KZ_FUZZ_ALLOW(KZ_ENOTFOUND), "kz_index_doc");
    }
    for (size_t i = 0; i < n_ids; i++) {
        uint32_t docid;
        rc = kz_index_find(ix, &docid, ids[i], strlen(ids[i]));
        kz_fuzz_expect(rc, allowed | KZ_FUZZ_ALLOW(KZ_ENOTFOUND), "kz_index_find");
        if (rc == KZ_OK) {
            kz_doc doc;
            kz_fuzz_expect(kz_index_doc(ix, &doc, docid, NULL, 0), allowed, "kz_index_doc (found)");
        }
    }
    for (size_t i = 0; i < sizeof queries / sizeof *queries; i++)
        kz_fuzz_search(ix, queries[i], strlen(queries[i]), 0, allowed | KZ_FUZZ_ALLOW(KZ_ENOTFOUND));
    kz_fuzz_expect(kz_index_check(ix, quiet_fault, NULL), allowed, "kz_index_check");
    kz_index *now = NULL;
    kz_fuzz_expect(kz_index_reopen(ix, &now), allowed | KZ_FUZZ_ALLOW(KZ_EVERSION) | KZ_FUZZ_ALLOW(KZ_ENOTFOUND),
                   "kz_index_reopen");
    kz_index_free(now);
    kz_index_free(ix);
    return 0;
}
