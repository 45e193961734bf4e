/*
 * fuzz_text.c: the folder and text reader. The input describes a small
 * tree of files, each record a name and its bytes:
 *   u8 name length, name, u16 content length (little-endian), content
 * A name's '/' makes folders; a NUL, a ".." or a leading '/' is
 * replaced with '_'. The tree is written to a fresh folder and added as a source to a builder kept across inputs
 * (fuzz.h): every .txt and .md file is read, split into title and text,
 * and analysed, and every other entry counted. Nothing is an error of the
 * build.
 */
#include "fuzz.h"

#include <errno.h>

static unsigned tree_no;

/* Makes the folders of path (relative to root) below root. */
static void make_parents(char *path)
{
    for (char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
        *p = 0;
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            *p = '/';
            return;
        }
        *p = '/';
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kz_builder *b = kz_fuzz_builder();
    /* The files go in root/<n>/, so that their ids ("<n>/name") differ
     * from input to input and none is dropped as a duplicate. */
    char root[600], top[700];
    snprintf(root, sizeof root, "%s/tree", kz_fuzz_dir());
    snprintf(top, sizeof top, "%s/%u", root, tree_no++);
    if ((mkdir(root, 0755) != 0 && errno != EEXIST) || mkdir(top, 0755) != 0)
        abort();
    size_t at = 0;
    for (int files = 0; files < 16 && at < size; files++) {
        size_t name_len = data[at++];
        if (name_len == 0 || name_len > size - at)
            break;
        char name[256];
        memcpy(name, data + at, name_len);
        name[name_len] = 0;
        at += name_len;
        for (size_t i = 0; i < name_len; i++)
            if (name[i] == 0 || (name[i] == '.' && i + 1 < name_len && name[i + 1] == '.'))
                name[i] = '_';
        if (name[0] == '/')
            name[0] = '_';
        size_t content_len = 0;
        if (size - at >= 2) {
            content_len = (size_t)data[at] | (size_t)data[at + 1] << 8;
            at += 2;
        }
        if (content_len > size - at)
            content_len = size - at;
        char path[1000];
        snprintf(path, sizeof path, "%s/%s", top, name);
        make_parents(path);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            if (write(fd, data + at, content_len) != (ssize_t)content_len)
                abort();
            close(fd);
        }
        at += content_len;
    }
    kz_fuzz_expect(kz_builder_add_source(b, root), 0, "kz_builder_add_source");
    kz_fuzz_rm_tree(top);
    return 0;
}
