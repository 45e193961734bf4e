/*
 * mhd.c: opens libmicrohttpd for kzsearch serve (mhd.h says why).
 */
#include <microhttpd.h> /* the real declarations, before mhd.h renames them */

#include "mhd.h"

#include <dlfcn.h>
#include <stdio.h>

cli_mhd_api cli_mhd;

int cli_mhd_load(void)
{
    static void *lib;
    if (lib)
        return 0;
    /* KZ_MHD_SONAME: the name the build linked against (CMakeLists.txt). */
    void *h = dlopen(KZ_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "kzsearch: serve needs libmicrohttpd: %s (apt-get install libmicrohttpd12)\n", dlerror());
        return -1;
    }
    struct {
        void **slot;
        const char *name;
    } syms[] = {
        { (void **)&cli_mhd.start_daemon, "MHD_start_daemon" },
        { (void **)&cli_mhd.stop_daemon, "MHD_stop_daemon" },
        { (void **)&cli_mhd.get_daemon_info, "MHD_get_daemon_info" },
        { (void **)&cli_mhd.create_response_from_buffer, "MHD_create_response_from_buffer" },
        { (void **)&cli_mhd.add_response_header, "MHD_add_response_header" },
        { (void **)&cli_mhd.queue_response, "MHD_queue_response" },
        { (void **)&cli_mhd.destroy_response, "MHD_destroy_response" },
        { (void **)&cli_mhd.lookup_connection_value, "MHD_lookup_connection_value" },
        { (void **)&cli_mhd.get_connection_values_n, "MHD_get_connection_values_n" },
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        *syms[i].slot = dlsym(h, syms[i].name);
        if (!*syms[i].slot) {
            fprintf(stderr, "kzsearch: serve: %s has no %s: %s\n", KZ_MHD_SONAME, syms[i].name, dlerror());
            dlclose(h);
            return -1;
        }
    }
    lib = h;
    return 0;
}
