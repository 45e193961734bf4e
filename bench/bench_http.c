/*
 * bench_http.c: the bench's HTTP client for `kzsearch serve` on loopback
 * (serve/, remote/): one kept-alive connection, GET, replies read by their
 * Content-Length. Written here rather than with a library so that what is
 * timed is the server, with no client library in between.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int kzb_conn_open(kzb_conn *c, unsigned port)
{
    uint64_t reopened = c->reopened;
    memset(c, 0, sizeof *c);
    c->port = port;
    c->reopened = reopened;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = { .tv_sec = 30 };
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

void kzb_conn_close(kzb_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

/* Reads more into c's buffer; -1 on an error or the end. */
static int conn_fill(kzb_conn *c)
{
    if (c->cap - c->have < 16384) {
        size_t cap = c->cap ? c->cap * 2 : 65536;
        char *nb = realloc(c->buf, cap);
        if (!nb)
            return -1;
        c->buf = nb;
        c->cap = cap;
    }
    ssize_t n;
    do
        n = recv(c->fd, c->buf + c->have, c->cap - c->have - 1, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return -1;
    c->have += (size_t)n;
    c->buf[c->have] = 0;
    return 0;
}

int kzb_http_get(kzb_conn *c, const char *path, int *status, const char **body, size_t *len)
{
    if (c->must_close) {
        /* The server closed it: a new one, as any client would. */
        uint64_t reopened = c->reopened + 1;
        unsigned port = c->port;
        kzb_conn_close(c);
        c->reopened = reopened;
        if (kzb_conn_open(c, port) != 0)
            return -1;
    }
    if (c->used) {
        memmove(c->buf, c->buf + c->used, c->have - c->used);
        c->have -= c->used;
        c->used = 0;
    }
    char req[16384];
    int rl = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (rl < 0 || (size_t)rl >= sizeof req)
        return -1;
    for (size_t sent = 0; sent < (size_t)rl;) {
        ssize_t n = send(c->fd, req + sent, (size_t)rl - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        sent += (size_t)n;
    }
    char *end;
    while (!c->buf || !(end = memmem(c->buf, c->have, "\r\n\r\n", 4)))
        if (conn_fill(c) != 0)
            return -1;
    size_t head = (size_t)(end - c->buf) + 4;
    if (sscanf(c->buf, "HTTP/1.%*d %d", status) != 1)
        return -1;
    size_t length = 0;
    int have_length = 0;
    for (char *line = strstr(c->buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0) {
            length = strtoul(line + 17, NULL, 10);
            have_length = 1;
        } else if (strncasecmp(line + 2, "Connection: close\r\n", 19) == 0) {
            c->must_close = 1;
        }
    if (!have_length)
        return -1;
    while (c->have < head + length)
        if (conn_fill(c) != 0)
            return -1;
    /* No pipelining: nothing follows a reply, and the byte after it (kept
     * free by conn_fill) ends the body as a string. */
    if (c->have != head + length)
        return -1;
    c->buf[c->have] = 0;
    *body = c->buf + head;
    *len = length;
    c->used = head + length;
    return 0;
}

/* The port of the server whose standard output is fd, read from the
 * first line it prints; 0 when none came within seconds or it exited. */
static unsigned serve_port(int fd, unsigned seconds)
{
    char line[8192];
    size_t have = 0;
    line[0] = 0;
    uint64_t deadline = kzb_now_ns() + (uint64_t)seconds * 1000000000u;
    while (!strchr(line, '\n') && have < sizeof line - 1 && kzb_now_ns() < deadline) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int ready = poll(&p, 1, 1000);
        if (ready < 0 && errno != EINTR)
            break;
        if (ready <= 0)
            continue;
        ssize_t got = read(fd, line + have, sizeof line - 1 - have);
        if (got <= 0)
            break; /* it exited */
        have += (size_t)got;
        line[have] = 0;
    }
    line[have] = 0;
    const char *at = strstr(line, "http://127.0.0.1:");
    return at ? (unsigned)strtoul(at + strlen("http://127.0.0.1:"), NULL, 10) : 0;
}

int kzb_server_start(kzb_server *s, const char *const *args, size_t n_args, unsigned seconds)
{
    const char *argv[2 + 32 + 3];
    size_t n = 0;
    s->pid = 0;
    s->port = 0;
    s->out = -1;
    if (n_args > 32)
        return -1;
    argv[n++] = "kzsearch";
    argv[n++] = "serve";
    for (size_t i = 0; i < n_args; i++)
        argv[n++] = args[i];
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n] = NULL;
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    posix_spawn_file_actions_addopen(&fa, 2, s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, KZ_CLI_PATH, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    s->pid = pid;
    s->out = fds[0];
    s->port = serve_port(s->out, seconds);
    if (s->port) {
        snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u", s->port);
        return 0;
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    s->pid = 0;
    close(s->out);
    s->out = -1;
    return kzb_server_log_says(s, "needs libmicrohttpd") ? 1 : -1;
}

int kzb_server_stop(kzb_server *s)
{
    if (!s->pid)
        return 0;
    kill(s->pid, SIGTERM);
    int status;
    pid_t w = waitpid(s->pid, &status, 0);
    close(s->out);
    int res = w == s->pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    s->pid = 0;
    s->out = -1;
    return res;
}

int kzb_server_log_says(const kzb_server *s, const char *text)
{
    char msg[4096] = "";
    FILE *f = fopen(s->log, "r");
    if (!f)
        return 0;
    size_t got = fread(msg, 1, sizeof msg - 1, f);
    msg[got] = 0;
    fclose(f);
    return strstr(msg, text) != NULL;
}
