/*
 * util.c: small helpers the commands share: the clock, memory, usage
 * errors and the parsing of numeric options.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kzsearch: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cli_command && *cli_command)
        fprintf(stderr, "\nTry 'kzsearch %s --help'.\n", cli_command);
    else
        fprintf(stderr, "\nTry 'kzsearch --help'.\n");
    exit(EXIT_ERROR);
}

int fail(int rc)
{
    const char *msg = kz_last_error();
    fprintf(stderr, "kzsearch: %s\n", *msg ? msg : kz_strerror(rc));
    return EXIT_ERROR;
}

int parse_size(const char *s, uint64_t *out)
{
    char *end;
    double v = strtod(s, &end), mult = 1;
    if (end == s || !(v > 0))
        return -1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1048576.0; end++; break;
    case 'g': case 'G': mult = 1073741824.0; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v * mult >= 18446744073709551615.0)
        return -1;
    *out = (uint64_t)(v * mult);
    return 0;
}

/* This process's peak resident memory so far. */
double peak_memory_mb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss * 1024 / 1e6 : 0;
}

/* Joins argv[from..argc) with spaces; malloc'd. */
char *join_args(int argc, char **argv, int from)
{
    size_t len = 1;
    for (int i = from; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *s = calloc(len, 1);
    if (!s)
        return NULL;
    for (int i = from; i < argc; i++) {
        if (i > from)
            strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

long int_option(const char *name, const char *arg, long lo, long hi)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (end == arg || *end || v < lo || v > hi)
        die_usage("bad %s '%s' (%ld to %ld)", name, arg, lo, hi);
    return v;
}

void bm25_option(kz_search_options *so, int c, const char *arg)
{
    char *end;
    if (c == 'k') {
        so->k1 = strtod(arg, &end);
        if (end == arg || *end || !(so->k1 > 0) || so->k1 > 1e6)
            die_usage("bad --k1 '%s' (must be > 0)", arg);
    } else {
        so->b = strtod(arg, &end);
        if (end == arg || *end || !(so->b >= 0 && so->b <= 1))
            die_usage("bad --b '%s' (0 to 1)", arg);
    }
}

/* --timeout SECONDS: 0 for none. */
double timeout_option(const char *arg)
{
    char *end;
    double t = strtod(arg, &end);
    if (end == arg || *end || !(t >= 0) || t > 1e9)
        die_usage("bad --timeout '%s' (seconds, 0 for none)", arg);
    return t;
}

