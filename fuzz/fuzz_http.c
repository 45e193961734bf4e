/*
 * fuzz_http.c: kzsearch serve's HTTP handling end to end, in process: the
 * input is the bytes a client sends on one connection, read by
 * libmicrohttpd's own parser and answered by cli/cmd_serve.c's handler
 * (its routes, parameters, searches, documents, statistics and the
 * /api/shard/ steps with their request bodies) on the sample index
 * (fuzz.h).
 *
 * The daemons are started once, as kzsearch serve starts them
 * (serve_start_daemon), but with no listening socket: each input is one
 * end of a socketpair handed to one with MHD_add_connection, the input is
 * written to the other end, which is then shut for writing, and the
 * answer is read until the daemon closes the connection. Each input waits
 * until the daemon has let its connection go, so that what an input
 * allocates is freed before the next (the leak check) and none overlaps.
 *
 * An input holding "Host: coordinator" goes to a coordinator (serve
 * --remote) whose two machines are the sample index served over loopback
 * TCP by a third daemon: its routes, and the requests it makes of the
 * machines from a hostile one (remote.c, http.c). Any other goes to the
 * sample index's own daemon.
 *
 * Checks, besides ASan and UBSan in the handler: whatever comes back
 * starts with "HTTP/1.x NNN ", and NNN is a status the handler or
 * libmicrohttpd (0.9.75) can send: 100 (a POST's Expect: 100-continue),
 * 200, 400, 404, 405, 409 (a shard step on a changed index), 413, 414 and
 * 431 (libmicrohttpd's limits), 417, 500 (the handler's "internal", or
 * libmicrohttpd's when a handler gives up), 501 and 505 (libmicrohttpd:
 * a transfer coding or an HTTP version it does not know), 503 (past the
 * time limit) and, from the coordinator, 502 (a machine's answer it could
 * not use). The connection must be closed within 20 s (the run's
 * -timeout=10 sees a slower input first; its stack trace is this thread's,
 * waiting for the reply: the handler's is in the daemon's thread, which
 * gdb or perf on the artifact shows).
 *
 * KZ_FUZZ_HTTP_ECHO=1 in the environment copies every reply to stderr:
 * to see what an input (an artifact, a seed) was answered.
 */
#include "cli.h"
#include "fuzz.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#define DEADLINE 20.0 /* seconds an input's connection may stay open */

const char *cli_command = "serve"; /* main.c's, which is not linked */

static serve_server node, coordinator;
static struct MHD_Daemon *node_daemon, *tcp_daemon, *coordinator_daemon;
static char node_url[64];
static int echo;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct MHD_Daemon *start(serve_server *srv, const struct sockaddr *addr, unsigned flags)
{
    struct MHD_Daemon *d = serve_start_daemon(srv, addr, 1, flags);
    if (!d) {
        fprintf(stderr, "fuzz_http: serve_start_daemon: %s\n", strerror(errno));
        abort();
    }
    return d;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* A reply written to a connection the client closed must not end the
     * process (kzsearch serve ignores SIGPIPE too). */
    signal(SIGPIPE, SIG_IGN);
    echo = getenv("KZ_FUZZ_HTTP_ECHO") && strcmp(getenv("KZ_FUZZ_HTTP_ECHO"), "1") == 0;
    kz_index_free(kz_fuzz_sample_index("articles"));
    char dir[600];
    snprintf(dir, sizeof dir, "%s/articles", kz_fuzz_dir());
    node.dir = strdup(dir);
    node.timeout = 1.0; /* seconds a search may run: a 503 past it */
    if (!node.dir || live_index_open(&node.li, node.dir, 0.0, NULL) != KZ_OK) {
        fprintf(stderr, "fuzz_http: live_index_open: %s\n", kz_last_error());
        abort();
    }
    node_daemon = start(&node, NULL, MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC);
    /* The same index on a loopback port, for the coordinator's machines. */
    struct sockaddr_in loopback = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    tcp_daemon = start(&node, (const struct sockaddr *)&loopback, 0);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(tcp_daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || !info->port)
        abort();
    snprintf(node_url, sizeof node_url, "http://127.0.0.1:%u", (unsigned)info->port);
    coordinator.remotes[0] = coordinator.remotes[1] = node_url;
    coordinator.n_remotes = 2;
    coordinator.dir = strdup("");
    coordinator.timeout = 5.0;
    coordinator_daemon = start(&coordinator, NULL, MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC);
    return 0;
}

/* Whether status is one the handler or libmicrohttpd may send. */
static int known_status(int status, int from_coordinator)
{
    static const int known[] = { 100, 200, 400, 404, 405, 409, 413, 414, 417, 431, 500, 501, 503, 505 };
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (status == known[i])
            return 1;
    return from_coordinator && status == 502;
}

/* The start of what came back: "HTTP/1.x NNN " with a known NNN. */
static void check_reply(const char *head, size_t len, size_t size, int from_coordinator)
{
    int ok = len >= 13 && memcmp(head, "HTTP/1.", 7) == 0 && (head[7] == '0' || head[7] == '1') && head[8] == ' ' &&
             head[9] >= '1' && head[9] <= '5' && head[10] >= '0' && head[10] <= '9' && head[11] >= '0' &&
             head[11] <= '9' && head[12] == ' ';
    if (ok && known_status((head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0'), from_coordinator))
        return;
    fprintf(stderr, "fuzz_http: a reply of %zu bytes to a request of %zu starts with '%.*s'\n", len, size,
            (int)KZ_CLI_MIN(len, 40), head);
    abort();
}

/* Waits until d has closed and freed every connection. */
static void wait_idle(struct MHD_Daemon *d, double deadline)
{
    for (;;) {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (!info || info->num_connections == 0)
            return;
        if (now() > deadline) {
            fprintf(stderr, "fuzz_http: a daemon still holds %u connections\n", info->num_connections);
            abort();
        }
        usleep(20);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2] = { -1, -1 };
    char head[16];
    size_t head_len = 0, sent = 0;
    double deadline = now() + DEADLINE;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        perror("fuzz_http: socketpair");
        abort();
    }
    /* The daemon's end: it owns and closes it from here on, even if it
     * refuses it. */
    struct sockaddr_un peer = { .sun_family = AF_UNIX };
    int to_coordinator = memmem(data, size, "Host: coordinator", 17) != NULL;
    struct MHD_Daemon *d = to_coordinator ? coordinator_daemon : node_daemon;
    if (MHD_add_connection(d, sv[0], (const struct sockaddr *)&peer, sizeof peer) != MHD_YES) {
        perror("fuzz_http: MHD_add_connection");
        abort();
    }
    /* Writes and reads interleaved, without blocking, so that a reply
     * larger than the socket's buffer cannot stall a large request. */
    if (fcntl(sv[1], F_SETFL, O_NONBLOCK) != 0)
        abort();
    int shut = 0;
    for (;;) {
        /* The end of the input is told by shutting the socket for writing,
         * but only once the daemon has read all of it: libmicrohttpd
         * (epoll, edge-triggered) that reads the data and the end in one
         * wake-up would miss the end, and hold an unfinished request
         * until its 15 s idle timeout. */
        int unread = 0;
        if (sent == size && !shut && ioctl(sv[1], SIOCOUTQ, &unread) == 0 && unread == 0) {
            shutdown(sv[1], SHUT_WR);
            shut = 1;
        }
        struct pollfd p = { sv[1], (short)(POLLIN | (sent < size ? POLLOUT : 0)), 0 };
        if (poll(&p, 1, sent == size && !shut ? 1 : 100) < 0 && errno != EINTR)
            abort();
        if (sent < size && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = send(sv[1], data + sent, size - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN && errno != EINTR)
                sent = size; /* the daemon closed the connection: the rest is not read */
        }
        if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
            char buf[65536];
            ssize_t n = recv(sv[1], buf, sizeof buf, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                break; /* closed (or reset) by the daemon */
            if (n > 0 && echo)
                fwrite(buf, 1, (size_t)n, stderr);
            if (n > 0 && head_len < sizeof head) {
                size_t take = KZ_CLI_MIN(sizeof head - head_len, (size_t)n);
                memcpy(head + head_len, buf, take);
                head_len += take;
            }
        }
        if (now() > deadline) {
            fprintf(stderr, "fuzz_http: the connection is still open after %.0f s\n", DEADLINE);
            abort();
        }
    }
    close(sv[1]);
    if (head_len)
        check_reply(head, head_len, size, to_coordinator);
    /* (The coordinator keeps its connections to the machines open, as
     * serve --remote does: the loopback daemon is not waited for.) */
    wait_idle(d, deadline);
    return 0;
}
