/*
 * cmd_stats.c: kzsearch stats: what an index holds, as text or JSON.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

/* The same facts as one JSON document. */
static void print_stats_json(kz_index *ix, const char *dir, const kz_index_info *info, const char *when)
{
    printf("{\"index\": ");
    json_cstr(stdout, dir);
    printf(", \"format_version\": %u, \"analyzer_version\": %u, \"language\": ", info->format_version,
           info->analyzer_version);
    json_cstr(stdout, info->language);
    printf(", \"built\": ");
    json_cstr(stdout, when);
    printf(", \"documents\": %" PRIu64 ", \"terms\": %" PRIu64 ", \"tokens\": %" PRIu64
           ", \"avgdl\": %.17g, \"text_bytes\": %" PRIu64 ", \"file_bytes\": %" PRIu64
           ", \"generation\": %" PRIu64 ", \"segments\": [",
           info->docs, info->terms, info->tokens, info->avgdl, info->text_bytes, info->file_bytes,
           info->generation);
    for (size_t i = 0; i < info->segments; i++) {
        const char *name;
        uint64_t docs, deleted;
        kz_index_segment_info(ix, i, &name, &docs, &deleted);
        printf("%s{\"name\": ", i ? ", " : "");
        json_cstr(stdout, name);
        printf(", \"documents\": %" PRIu64 ", \"deleted\": %" PRIu64 "}", docs, deleted);
    }
    printf("], \"sources\": [");
    for (size_t i = 0; i < kz_index_source_count(ix); i++) {
        printf("%s", i ? ", " : "");
        json_cstr(stdout, kz_index_source(ix, i));
    }
    printf("], \"sections\": {");
    for (unsigned i = 0; i < kz_index_section_count(ix); i++) {
        const char *name;
        uint64_t bytes;
        kz_index_section(ix, i, &name, &bytes);
        printf("%s", i ? ", " : "");
        json_cstr(stdout, name);
        printf(": %" PRIu64, bytes);
    }
    printf("}}\n");
}

int cmd_stats(int argc, char **argv)
{
    int first, json;
    char *dir = index_dir_option(argc, argv, &first, &json);
    kz_index *ix;
    if (!dir)
        return fail(KZ_ENOMEM);
    int rc = kz_index_open(&ix, dir);
    if (rc) {
        int status = fail(rc);
        free(dir);
        return status;
    }
    kz_index_info info;
    kz_index_get_info(ix, &info);
    time_t created = (time_t)info.created_unix;
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&created));
    if (json) {
        print_stats_json(ix, dir, &info, when);
        kz_index_free(ix);
        free(dir);
        return 0;
    }
    printf("index       %s\n", dir);
    printf("format      version %u, analyzer version %u, language %s\n", info.format_version,
           info.analyzer_version, info.language);
    printf("built       %s\n", when);
    printf("documents   %" PRIu64 "\n", info.docs);
    printf("terms       %" PRIu64 "\n", info.terms);
    printf("tokens      %" PRIu64 "\n", info.tokens);
    printf("avgdl       %.4f\n", info.avgdl);
    printf("text        %" PRIu64 " bytes\n", info.text_bytes);
    printf("file        %" PRIu64 " bytes (%.3fx the text)\n", info.file_bytes,
           info.text_bytes ? (double)info.file_bytes / (double)info.text_bytes : 0.0);
    printf("generation  %" PRIu64 "\n", info.generation);
    printf("segments    %" PRIu64 "\n", info.segments);
    for (size_t i = 0; i < info.segments; i++) {
        const char *name;
        uint64_t docs, deleted;
        kz_index_segment_info(ix, i, &name, &docs, &deleted);
        printf("  %-16s %12" PRIu64 " documents, %" PRIu64 " deleted\n", name, docs, deleted);
    }
    printf("sources     %zu%s\n", kz_index_source_count(ix), kz_index_source_count(ix) ? "" : " recorded");
    for (size_t i = 0; i < kz_index_source_count(ix); i++)
        printf("  %s\n", kz_index_source(ix, i));
    printf("sections:\n");
    for (unsigned i = 0; i < kz_index_section_count(ix); i++) {
        const char *name;
        uint64_t bytes;
        kz_index_section(ix, i, &name, &bytes);
        printf("  %-10s %14" PRIu64 " bytes  %5.1f%%\n", name, bytes,
               info.file_bytes ? 100.0 * (double)bytes / (double)info.file_bytes : 0.0);
    }
    kz_index_free(ix);
    free(dir);
    return 0;
}

