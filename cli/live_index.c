/*
 * live_index.c: the index a server serves, kept current. Each request takes
 * the index as it is (a counted reference) and gives it back when done;
 * when `kzsearch add`, `update`, `delete` or `optimize` wrote a new
 * generation, the next request to look opens it (kz_index_reopen), warms it
 * and puts it in place, and the old one is freed when its last request
 * ends. Requests never wait for a reopen: one thread looks at a time, the
 * others take the index in place.
 *
 * One kz_index is searched from several threads at once: the library
 * allows it (kzsearch.h, kz_index_open; its analyzers are pooled under a
 * mutex, lazily verified data is published atomically).
 */
#include "cli.h"

#include <pthread.h>
#include <stdlib.h>

struct served_index {
    kz_index *ix;
    long refs; /* under live_index.lock: the live index's own, and one a request */
};

struct live_index {
    pthread_mutex_t lock;   /* cur and every refs */
    pthread_mutex_t reopen; /* one looker at a time (trylock) */
    served_index *cur;
    double interval, last_check; /* last_check under reopen */
    uint64_t reloads;
    const kz_synonyms *synonyms; /* set on each generation; the caller's, NULL for none */
};

static served_index *served_new(kz_index *ix)
{
    served_index *s = calloc(1, sizeof *s);
    if (s) {
        s->ix = ix;
        s->refs = 1;
    }
    return s;
}

int live_index_open(live_index **out, const char *dir, double interval, const kz_synonyms *synonyms)
{
    *out = NULL;
    kz_index *ix = NULL;
    live_index *li = NULL;
    int rc = kz_index_open(&ix, dir);
    if (rc == KZ_OK)
        rc = kz_index_warm(ix);
    if (rc == KZ_OK && synonyms)
        rc = kz_index_set_synonyms(ix, synonyms);
    if (rc)
        goto done;
    if (!(li = calloc(1, sizeof *li)) || !(li->cur = served_new(ix))) {
        rc = KZ_ENOMEM;
        goto done;
    }
    ix = NULL;
    pthread_mutex_init(&li->lock, NULL);
    pthread_mutex_init(&li->reopen, NULL);
    li->interval = interval;
    li->synonyms = synonyms;
    li->last_check = now_seconds();
    *out = li;
    li = NULL;
done:
    if (li)
        free(li->cur);
    free(li);
    kz_index_free(ix);
    return rc;
}

void live_index_give(live_index *li, served_index *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&li->lock);
    long left = --s->refs;
    pthread_mutex_unlock(&li->lock);
    if (left == 0) {
        kz_index_free(s->ix);
        free(s);
    }
}

static served_index *take_current(live_index *li)
{
    pthread_mutex_lock(&li->lock);
    served_index *s = li->cur;
    s->refs++;
    pthread_mutex_unlock(&li->lock);
    return s;
}

/* Opens the new generation if there is one and puts it in place. A
 * failure (a writer between two renames, a damaged segment) leaves the
 * index in place, said once on stderr, and is tried again later. */
static void look_for_changes(live_index *li)
{
    served_index *s = take_current(li), *fresh = NULL;
    kz_index *nix = NULL;
    int rc = kz_index_reopen(s->ix, &nix);
    if (rc == KZ_OK && nix)
        rc = kz_index_warm(nix);
    if (rc == KZ_OK && nix && li->synonyms) /* a new kz_index starts without them */
        rc = kz_index_set_synonyms(nix, li->synonyms);
    if (rc == KZ_OK && nix && !(fresh = served_new(nix)))
        rc = KZ_ENOMEM;
    if (rc) {
        fprintf(stderr, "kzsearch: serve: keeping generation in place, the new one did not open: %s\n",
                *kz_last_error() ? kz_last_error() : kz_strerror(rc));
        kz_index_free(nix);
    } else if (fresh) {
        pthread_mutex_lock(&li->lock);
        served_index *old = li->cur;
        li->cur = fresh;
        li->reloads++;
        pthread_mutex_unlock(&li->lock);
        live_index_give(li, old); /* the live index's own reference */
    }
    live_index_give(li, s);
}

served_index *live_index_take(live_index *li)
{
    double now = now_seconds();
    if (pthread_mutex_trylock(&li->reopen) == 0) {
        if (now - li->last_check >= li->interval) {
            li->last_check = now;
            look_for_changes(li);
        }
        pthread_mutex_unlock(&li->reopen);
    }
    return take_current(li);
}

served_index *live_index_current(live_index *li) { return take_current(li); }

kz_index *served_index_get(const served_index *s) { return s->ix; }

uint64_t live_index_reloads(live_index *li)
{
    pthread_mutex_lock(&li->lock);
    uint64_t n = li->reloads;
    pthread_mutex_unlock(&li->lock);
    return n;
}

void live_index_free(live_index *li)
{
    if (!li)
        return;
    live_index_give(li, li->cur);
    pthread_mutex_destroy(&li->lock);
    pthread_mutex_destroy(&li->reopen);
    free(li);
}
