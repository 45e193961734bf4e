/*
 * mhd.h: libmicrohttpd for kzsearch serve, loaded when serve starts.
 *
 * Linked into the command, libmicrohttpd would bring GnuTLS, p11-kit, GMP
 * and six more libraries into every process, and their start-up code runs
 * before main: about 1.5 ms of each `kzsearch QUERY` (README, "Measured").
 * So the command does not link it: serve opens it with dlopen and calls it
 * through the pointers below, which the names cmd_serve.c uses stand for.
 */
#ifndef KZ_CLI_MHD_H
#define KZ_CLI_MHD_H

#include <microhttpd.h>

typedef struct cli_mhd_api {
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_get_daemon_info) *get_daemon_info;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_destroy_response) *destroy_response;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
    __typeof__(MHD_get_connection_values_n) *get_connection_values_n;
} cli_mhd_api;

extern cli_mhd_api cli_mhd;

/* Loads libmicrohttpd and fills cli_mhd; 0, or -1 after a message on
 * stderr that names the library and the package. Once is enough. */
int cli_mhd_load(void);

#define MHD_start_daemon (cli_mhd.start_daemon)
#define MHD_stop_daemon (cli_mhd.stop_daemon)
#define MHD_get_daemon_info (cli_mhd.get_daemon_info)
#define MHD_create_response_from_buffer (cli_mhd.create_response_from_buffer)
#define MHD_add_response_header (cli_mhd.add_response_header)
#define MHD_queue_response (cli_mhd.queue_response)
#define MHD_destroy_response (cli_mhd.destroy_response)
#define MHD_lookup_connection_value (cli_mhd.lookup_connection_value)
#define MHD_get_connection_values_n (cli_mhd.get_connection_values_n)

#endif
