/*
 * locate.c: where things are: the index a command works on, and the
 * bundled sample articles, found relative to the binary so that an
 * installed kzsearch needs no source tree.
 */
#include "cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

/* Whether dir holds an index: a manifest, or the one file of an index
 * written before manifests. */
int index_exists(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest", dir);
    if (file_exists(path))
        return 1;
    snprintf(path, sizeof path, "%s/shards", dir); /* a shard set */
    if (file_exists(path))
        return 1;
    snprintf(path, sizeof path, "%s/index.kz", dir);
    return file_exists(path);
}

/* The index a change is made to (--index, else the default one), or NULL
 * after saying there is none: never the bundled sample. */
char *changed_index_dir(const char *index_opt, const char *what)
{
    int sample;
    char *dir = resolve_index(index_opt, &sample);
    if (!dir || sample) {
        fprintf(stderr, "kzsearch: no index to %s (give --index DIR)\n", what);
        free(dir);
        return NULL;
    }
    return dir;
}

char *index_dir_option(int argc, char **argv, int *first_arg, int *json, int *fields)
{
    static const struct option opts[] = { { "index", required_argument, 0, 'i' },
                                           { "json", no_argument, 0, 'j' },
                                           { "fields", no_argument, 0, 'f' },
                                           { "help", no_argument, 0, 'h' },
                                           { 0, 0, 0, 0 } };
    const char *dir = NULL;
    int c;
    *json = 0;
    if (fields)
        *fields = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'i')
            dir = optarg;
        else if (c == 'j')
            *json = 1;
        else if (c == 'f' && fields)
            *fields = 1;
        else if (c == 'h')
            cli_help_exit();
        else
            die_usage("bad option");
    }
    *first_arg = optind;
    if (optind < argc)
        die_usage("%s takes no argument '%s' (the index is --index DIR)", cli_command, argv[optind]);
    return dir ? strdup(dir) : kz_default_index_dir();
}

/* Whether path is a folder. */
static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *bundled_articles(void)
{
    static char found[PATH_MAX + 64];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = 0;
    /* Installed: PREFIX/bin/kzsearch and PREFIX/share/kzsearch/articles. */
    snprintf(found, sizeof found, "%s/../share/kzsearch/articles", exe);
    if (is_dir(found))
        return found;
    /* A build tree: CMake links BUILD/share/kzsearch/articles to the
     * sources' data/articles. */
    snprintf(found, sizeof found, "%s/share/kzsearch/articles", exe);
    if (is_dir(found))
        return found;
    return NULL;
}

static int build_sample(const char *sample_dir)
{
    kz_build_options bo = KZ_BUILD_OPTIONS_INIT;
    kz_builder *b;
    kz_build_stats st;
    int rc = kz_builder_new(&b, sample_dir, &bo);
    if (rc == 0)
        rc = kz_builder_add_source(b, bundled_articles());
    if (rc == 0)
        rc = kz_builder_commit(b, &st);
    kz_builder_free(b);
    return rc;
}

/* The index to search: --index, else $KZSEARCH_INDEX or the default
 * folder; if there is none, the bundled sample articles, indexed on first
 * use into the user's cache folder (and again when this kzsearch cannot
 * read the copy there: it is ours to rebuild). */
char *resolve_index(const char *given, int *sample)
{
    *sample = 0;
    if (given)
        return strdup(given);
    char *dir = kz_default_index_dir();
    if (!dir)
        return NULL;
    if (index_exists(dir) || getenv("KZSEARCH_INDEX"))
        return dir;
    free(dir);
    const char *cache = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char sample_dir[2048];
    if (cache && *cache)
        snprintf(sample_dir, sizeof sample_dir, "%s/kzsearch/sample", cache);
    else
        snprintf(sample_dir, sizeof sample_dir, "%s/.cache/kzsearch/sample", home && *home ? home : ".");
    *sample = 1;
    int rc = KZ_ENOTFOUND;
    if (index_exists(sample_dir)) {
        kz_index *ix;
        rc = kz_index_open(&ix, sample_dir);
        kz_index_free(ix);
        if (rc != KZ_EVERSION && rc != KZ_ECORRUPT)
            return strdup(sample_dir);
    }
    if (!bundled_articles()) {
        fprintf(stderr,
                "kzsearch: no index yet, and no bundled sample articles beside this kzsearch "
                "(PREFIX/share/kzsearch/articles)\n"
                "kzsearch: build one with 'kzsearch index FOLDER' (or give --index DIR)\n");
        return NULL;
    }
    if (rc == KZ_ENOTFOUND)
        fprintf(stderr, "kzsearch: no index yet; indexing the bundled sample articles into %s\n", sample_dir);
    else
        fprintf(stderr, "kzsearch: re-indexing the bundled sample articles into %s (%s)\n", sample_dir,
                kz_strerror(rc));
    rc = build_sample(sample_dir);
    if (rc) {
        fail(rc);
        return NULL;
    }
    return strdup(sample_dir);
}


void hint_missing_index(const char *dir)
{
    char set_file[4200];
    struct stat st;
    snprintf(set_file, sizeof set_file, "%s/shards", dir);
    if (stat(set_file, &st) == 0) /* a shard set: one of its shards is gone */
        fprintf(stderr, "kzsearch: a shard of the set %s is missing: build it again ('kzsearch index --shard "
                        "I/N'), or make the set of those there are ('kzsearch shards create')\n", dir);
    else
        fprintf(stderr, "kzsearch: build one with 'kzsearch index -o %s SOURCE...'\n", dir);
}

int open_indexes(kz_index **ix, const index_list *l, int *sample, char **dir)
{
    *ix = NULL;
    *sample = 0;
    *dir = l->n > 1 ? strdup(l->dir[0]) : resolve_index(l->n ? l->dir[0] : NULL, sample);
    if (!*dir)
        return KZ_ENOMEM;
    int rc = l->n > 1 ? kz_index_open_many(ix, l->dir, l->n) : kz_index_open(ix, *dir);
    if (rc) {
        fail(rc);
        if (rc == KZ_ENOTFOUND && l->n < 2)
            hint_missing_index(*dir);
    }
    return rc;
}

void index_list_add(index_list *l, const char *dir)
{
    if (l->n == sizeof l->dir / sizeof l->dir[0])
        die_usage("--index given more than %zu times", sizeof l->dir / sizeof l->dir[0]);
    l->dir[l->n++] = dir;
}

int use_synonyms(kz_index *ix, const char *path)
{
    if (!path)
        return KZ_OK;
    kz_synonyms *s = NULL;
    int rc = kz_synonyms_load(&s, path);
    if (rc == KZ_OK)
        rc = kz_index_set_synonyms(ix, s);
    kz_synonyms_free(s);
    if (rc)
        fail(rc);
    return rc;
}
