/* util.c: clocks, memory figures, whole writes, folders. */
#include "kzint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double kz_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t kz_peak_rss(void)
{
    /* VmHWM is this address space's own high-water mark; ru_maxrss also
     * counts what the parent had mapped before exec, which misleads when
     * a large program (a benchmark) starts us. */
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        unsigned long long kib = 0;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmHWM: %llu kB", &kib) == 1)
                break;
        fclose(f);
        if (kib)
            return (uint64_t)kib * 1024;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024; /* Linux reports KiB */
}

int kz_write_all(int fd, const void *buf, size_t len, const char *path)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return kz_error_errno(KZ_EIO, errno, "cannot write %s", path);
        }
        p += n;
        len -= (size_t)n;
    }
    return KZ_OK;
}

int kz_fwrite_all(FILE *f, const void *data, size_t len, const char *path)
{
    if (len && fwrite(data, 1, len, f) != len)
        return kz_error_errno(KZ_EIO, errno, "cannot write %s", path);
    return KZ_OK;
}

int kz_mkdir_p(const char *dir)
{
    size_t n = strlen(dir);
    char *p = malloc(n + 1);
    if (!p)
        return kz_error_set(KZ_ENOMEM, "out of memory");
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] == '/' || p[i] == 0) {
            char c = p[i];
            p[i] = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                int e = errno;
                int rc = kz_error_errno(KZ_EIO, e, "cannot create folder %s", p);
                free(p);
                return rc;
            }
            p[i] = c;
        }
    }
    free(p);
    return KZ_OK;
}

int kz_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return kz_error_errno(KZ_EIO, errno, "cannot open %s", dir);
    int rc = fsync(fd) == 0 ? KZ_OK : kz_error_errno(KZ_EIO, errno, "cannot fsync %s", dir);
    close(fd);
    return rc;
}
