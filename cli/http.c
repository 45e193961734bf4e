/*
 * http.c: HTTP requests to several machines at once, for the coordinator
 * of a remote search (remote.c), through libcurl's multi interface.
 *
 * Like libmicrohttpd for serve (mhd.h), libcurl is opened with dlopen when
 * a remote search starts: linked into the command it would bring its TLS
 * and a dozen more libraries into the start-up of every `kzsearch QUERY`.
 */
#define CURL_DISABLE_TYPECHECK /* its checking macros would hide the pointers below */
#include <curl/curl.h>

#include "cli.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_MAX_REPLY (256u << 20) /* bytes of one reply: more is an error */

static struct {
    __typeof__(curl_global_init) *global_init;
    __typeof__(curl_easy_init) *easy_init;
    __typeof__(curl_easy_setopt) *easy_setopt;
    __typeof__(curl_easy_getinfo) *easy_getinfo;
    __typeof__(curl_easy_cleanup) *easy_cleanup;
    __typeof__(curl_easy_strerror) *easy_strerror;
    __typeof__(curl_easy_escape) *easy_escape;
    __typeof__(curl_free) *free;
    __typeof__(curl_multi_init) *multi_init;
    __typeof__(curl_multi_add_handle) *multi_add_handle;
    __typeof__(curl_multi_remove_handle) *multi_remove_handle;
    __typeof__(curl_multi_perform) *multi_perform;
    __typeof__(curl_multi_poll) *multi_poll;
    __typeof__(curl_multi_info_read) *multi_info_read;
    __typeof__(curl_multi_cleanup) *multi_cleanup;
} cc;

static int http_load(void)
{
    static int loaded;
    if (loaded)
        return 0;
    /* KZ_CURL_SONAME: the name the build linked against (CMakeLists.txt). */
    void *h = dlopen(KZ_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "kzsearch: --remote needs libcurl: %s (apt-get install libcurl4)\n", dlerror());
        return -1;
    }
    struct {
        void **slot;
        const char *name;
    } syms[] = {
        { (void **)&cc.global_init, "curl_global_init" },
        { (void **)&cc.easy_init, "curl_easy_init" },
        { (void **)&cc.easy_setopt, "curl_easy_setopt" },
        { (void **)&cc.easy_getinfo, "curl_easy_getinfo" },
        { (void **)&cc.easy_cleanup, "curl_easy_cleanup" },
        { (void **)&cc.easy_strerror, "curl_easy_strerror" },
        { (void **)&cc.easy_escape, "curl_easy_escape" },
        { (void **)&cc.free, "curl_free" },
        { (void **)&cc.multi_init, "curl_multi_init" },
        { (void **)&cc.multi_add_handle, "curl_multi_add_handle" },
        { (void **)&cc.multi_remove_handle, "curl_multi_remove_handle" },
        { (void **)&cc.multi_perform, "curl_multi_perform" },
        { (void **)&cc.multi_poll, "curl_multi_poll" },
        { (void **)&cc.multi_info_read, "curl_multi_info_read" },
        { (void **)&cc.multi_cleanup, "curl_multi_cleanup" },
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        *syms[i].slot = dlsym(h, syms[i].name);
        if (!*syms[i].slot) {
            fprintf(stderr, "kzsearch: %s has no %s: %s\n", KZ_CURL_SONAME, syms[i].name, dlerror());
            dlclose(h);
            return -1;
        }
    }
    if (cc.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "kzsearch: libcurl failed to start\n");
        return -1;
    }
    loaded = 1;
    return 0;
}

static pthread_key_t multi_key;
static pthread_once_t multi_once = PTHREAD_ONCE_INIT;

static void multi_free(void *m) { cc.multi_cleanup(m); }
static void multi_key_make(void) { pthread_key_create(&multi_key, multi_free); }

char *http_escape(const char *s)
{
    if (http_load())
        return NULL;
    char *e = cc.easy_escape(NULL, s, (int)strlen(s));
    char *copy = e ? strdup(e) : NULL;
    if (e)
        cc.free(e);
    return copy;
}

static size_t on_data(char *data, size_t size, size_t n, void *ctx)
{
    http_call *c = ctx;
    size_t len = size * n;
    if (c->reply_len + len > HTTP_MAX_REPLY) {
        snprintf(c->error, sizeof c->error, "a reply of more than %u MiB", HTTP_MAX_REPLY >> 20);
        return 0; /* curl stops the transfer */
    }
    if (c->reply_len + len + 1 > c->reply_cap) {
        size_t cap = c->reply_cap ? c->reply_cap : 4096;
        while (cap < c->reply_len + len + 1)
            cap *= 2;
        char *g = realloc(c->reply, cap);
        if (!g) {
            snprintf(c->error, sizeof c->error, "out of memory");
            return 0;
        }
        c->reply = g;
        c->reply_cap = cap;
    }
    memcpy(c->reply + c->reply_len, data, len);
    c->reply_len += len;
    c->reply[c->reply_len] = 0;
    return len;
}

int http_run(http_call *calls, size_t n, double timeout)
{
    if (http_load())
        return -1;
    /* One multi handle a thread, kept: its connection cache keeps the
     * connections to the machines open from one step to the next (and,
     * in serve, from one search to the next). A thread that ends frees
     * its own (multi_free). */
    pthread_once(&multi_once, multi_key_make);
    CURLM *m = pthread_getspecific(multi_key);
    if (!m && (m = cc.multi_init()) && pthread_setspecific(multi_key, m) != 0) {
        cc.multi_cleanup(m);
        m = NULL;
    }
    CURL **easy = calloc(n ? n : 1, sizeof *easy);
    int rc = -1;
    if (!m || !easy)
        goto done;
    long ms = timeout > 0 ? (long)(timeout * 1000.0 + 0.5) : 0;
    for (size_t i = 0; i < n; i++) {
        http_call *c = &calls[i];
        c->status = 0;
        c->reply_len = 0;
        c->error[0] = 0;
        if (!(easy[i] = cc.easy_init()))
            goto done;
        CURL *e = easy[i];
        cc.easy_setopt(e, CURLOPT_URL, c->url);
        cc.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
        cc.easy_setopt(e, CURLOPT_WRITEDATA, c);
        cc.easy_setopt(e, CURLOPT_PRIVATE, c);
        cc.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        cc.easy_setopt(e, CURLOPT_TIMEOUT_MS, ms);
        cc.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms);
        cc.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        cc.easy_setopt(e, CURLOPT_USERAGENT, "kzsearch/" KZ_VERSION_STRING);
        if (c->body) {
            cc.easy_setopt(e, CURLOPT_POST, 1L);
            cc.easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
            cc.easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
        }
        if (cc.multi_add_handle(m, e) != CURLM_OK)
            goto done;
    }
    int running = 1;
    while (running) {
        if (cc.multi_perform(m, &running) != CURLM_OK)
            goto done;
        CURLMsg *msg;
        int left;
        while ((msg = cc.multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            http_call *c;
            cc.easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            if (msg->data.result == CURLE_OK) {
                long status = 0;
                cc.easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
                c->status = status;
            } else if (!c->error[0]) {
                snprintf(c->error, sizeof c->error, "%s", cc.easy_strerror(msg->data.result));
            }
        }
        if (running && cc.multi_poll(m, NULL, 0, 100, NULL) != CURLM_OK)
            goto done;
    }
    rc = 0;
done:
    for (size_t i = 0; easy && i < n; i++) {
        if (!easy[i])
            continue;
        cc.multi_remove_handle(m, easy[i]);
        cc.easy_cleanup(easy[i]);
    }
    free(easy);
    return rc;
}

void http_call_free(http_call *c)
{
    free(c->reply);
    c->reply = NULL;
    c->reply_len = c->reply_cap = 0;
}
