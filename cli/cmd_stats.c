/*
 * cmd_stats.c: kzsearch stats: what an index holds, as text or JSON.
 */
#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

static void built_when(char *when, size_t size, const kz_index_info *info)
{
    time_t created = (time_t)info->created_unix;
    struct tm tm;
    strftime(when, size, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&created, &tm)); /* the server's threads */
}

/* The same facts as one JSON document (also the server's /api/stats). */
/* A number in JSON: null when it is none (NaN from a damaged index). */
static void json_number(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fprintf(f, "null");
}

void stats_json_write(FILE *f, kz_index *ix, const char *dir)
{
    kz_index_info info_;
    const kz_index_info *info = &info_;
    char when[64];
    kz_index_get_info(ix, &info_);
    built_when(when, sizeof when, info);
    fprintf(f, "{\"index\": ");
    json_cstr(f, dir);
    fprintf(f, ", \"format_version\": %u, \"analyzer_version\": %u, \"language\": ", info->format_version,
           info->analyzer_version);
    json_cstr(f, info->language);
    fprintf(f, ", \"built\": ");
    json_cstr(f, when);
    fprintf(f, ", \"documents\": %" PRIu64 ", \"terms\": %" PRIu64 ", \"tokens\": %" PRIu64
           ", \"avgdl\": %.17g, \"text_bytes\": %" PRIu64 ", \"file_bytes\": %" PRIu64
           ", \"generation\": %" PRIu64 ", \"segments\": [",
           info->docs, info->terms, info->tokens, info->avgdl, info->text_bytes, info->file_bytes,
           info->generation);
    for (size_t i = 0; i < info->segments; i++) {
        const char *name;
        uint64_t docs, deleted;
        kz_index_segment_info(ix, i, &name, &docs, &deleted);
        fprintf(f, "%s{\"name\": ", i ? ", " : "");
        json_cstr(f, name);
        fprintf(f, ", \"documents\": %" PRIu64 ", \"deleted\": %" PRIu64 "}", docs, deleted);
    }
    fprintf(f, "], \"sources\": [");
    for (size_t i = 0; i < kz_index_source_count(ix); i++) {
        fprintf(f, "%s", i ? ", " : "");
        json_cstr(f, kz_index_source(ix, i));
    }
    fprintf(f, "]");
    kz_field_info *fields;
    size_t n_fields;
    if (kz_index_fields(ix, &fields, &n_fields) == KZ_OK) {
        fprintf(f, ", \"fields\": [");
        for (size_t i = 0; i < n_fields; i++) {
            const kz_field_info *x = &fields[i];
            fprintf(f, "%s{\"name\": ", i ? ", " : "");
            json_cstr(f, x->name);
            fprintf(f, ", \"type\": \"%s\", \"keywords\": %" PRIu64, kz_field_type_name(x->type), x->keywords);
            if (x->type == KZ_FIELD_TYPE_TEXT || x->words)
                fprintf(f, ", \"words\": %" PRIu64, x->words);
            if (x->has_dates) {
                fprintf(f, ", \"dates\": [");
                json_cstr(f, x->first_day);
                fprintf(f, ", ");
                json_cstr(f, x->last_day);
                fprintf(f, "]");
            }
            if (x->has_numbers) {
                fprintf(f, ", \"numbers\": [");
                json_number(f, x->min);
                fprintf(f, ", ");
                json_number(f, x->max);
                fprintf(f, "]");
            }
            fprintf(f, "}");
        }
        fprintf(f, "]");
        kz_field_infos_free(fields, n_fields);
    }
    fprintf(f, ", \"sections\": {");
    for (unsigned i = 0; i < kz_index_section_count(ix); i++) {
        const char *name;
        uint64_t bytes;
        kz_index_section(ix, i, &name, &bytes);
        fprintf(f, "%s", i ? ", " : "");
        json_cstr(f, name);
        fprintf(f, ": %" PRIu64, bytes);
    }
    fprintf(f, "}}\n");
}

/* --fields: a line a field of the index, for scripts and the shell
 * completions: its name, a tab, and what its values hold (date, number,
 * keyword, text: those that apply, comma-separated). Frees ix and dir. */
static int field_names_print(kz_index *ix, char *dir)
{
    kz_field_info *fields;
    size_t n_fields;
    int rc = kz_index_fields(ix, &fields, &n_fields);
    if (rc == KZ_OK) {
        for (size_t i = 0; i < n_fields; i++) {
            const kz_field_info *x = &fields[i];
            const char *kinds[4], *sep = "\t";
            size_t n = 0;
            if (x->has_dates)
                kinds[n++] = "date";
            if (x->has_numbers)
                kinds[n++] = "number";
            if (x->keywords)
                kinds[n++] = "keyword";
            if (x->words || x->type == KZ_FIELD_TYPE_TEXT)
                kinds[n++] = "text";
            printf("%s", x->name);
            for (size_t k = 0; k < n; k++, sep = ",")
                printf("%s%s", sep, kinds[k]);
            printf("\n");
        }
        kz_field_infos_free(fields, n_fields);
    }
    kz_index_free(ix);
    free(dir);
    return rc ? fail(rc) : 0;
}

int cmd_stats(int argc, char **argv)
{
    int first, json, names;
    char *dir = index_dir_option(argc, argv, &first, &json, &names);
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
    char when[64];
    built_when(when, sizeof when, &info);
    if (names)
        return field_names_print(ix, dir);
    if (json) {
        stats_json_write(stdout, ix, dir);
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
    kz_field_info *fields;
    size_t n_fields;
    if ((rc = kz_index_fields(ix, &fields, &n_fields)) == KZ_OK) {
        printf("fields      %zu\n", n_fields);
        for (size_t i = 0; i < n_fields; i++) {
            const kz_field_info *x = &fields[i];
            printf("  %-16s", x->name);
            const char *sep = " ";
            if (x->type != KZ_FIELD_TYPE_AUTO) {
                printf("%s%s", sep, kz_field_type_name(x->type));
                sep = "; ";
            }
            if (x->words) {
                printf("%s%s%" PRIu64 " word%s", sep, info.segments > 1 ? "at most " : "", x->words,
                       x->words == 1 ? "" : "s");
                sep = "; ";
            }
            if (x->has_dates) {
                printf("%sdates %s .. %s", sep, x->first_day, x->last_day);
                sep = "; ";
            }
            if (x->has_numbers) {
                printf("%snumbers %.17g .. %.17g", sep, x->min, x->max);
                sep = "; ";
            }
            if (x->keywords)
                printf("%s%s%" PRIu64 " keyword value%s", sep, info.segments > 1 ? "at most " : "", x->keywords,
                       x->keywords == 1 ? "" : "s");
            printf("\n");
        }
        kz_field_infos_free(fields, n_fields);
    } else {
        printf("fields      (cannot be listed: %s)\n", kz_last_error());
    }
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

