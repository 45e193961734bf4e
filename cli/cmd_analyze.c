/*
 * cmd_analyze.c: kzsearch analyze: the tokens and stems of a text, as the
 * index sees them.
 */
#include "cli.h"
#include "kzint.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- analyze */

static void print_token(void *ctx, const char *stem, size_t stem_len, size_t start, size_t end)
{
    const char *text = ctx;
    printf("%zu-%zu\t%.*s\t%.*s\n", start, end, (int)(end - start), text + start, (int)stem_len, stem);
}

int cmd_analyze(int argc, char **argv)
{
    static const struct option opts[] = { { "lang", required_argument, 0, 'l' },
                                           { "index", required_argument, 0, 'i' },
                                           { "help", no_argument, 0, 'h' },
                                           { 0, 0, 0, 0 } };
    const char *lang = NULL, *index_opt = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'l')
            lang = optarg;
        else if (c == 'i')
            index_opt = optarg;
        else if (c == 'h')
            cli_help_exit();
        else
            die_usage("bad option");
    }
    if (optind >= argc)
        die_usage("analyze needs a TEXT");
    if (lang && index_opt)
        die_usage("--lang or --index, not both: an index analyses in its own language");
    /* --index DIR: the language that index was built in. */
    kz_index *ix = NULL;
    if (index_opt) {
        int rc = kz_index_open(&ix, index_opt);
        if (rc)
            return fail(rc);
        kz_index_info info;
        kz_index_get_info(ix, &info);
        lang = info.language;
    }
    /* Without --lang or --index, the default analysis ("auto"). */
    size_t total = 0;
    for (int i = optind; i < argc; i++)
        total += strlen(argv[i]) + 1;
    char *text = calloc(total + 1, 1);
    if (!text) {
        kz_index_free(ix);
        return fail(KZ_ENOMEM);
    }
    for (int i = optind; i < argc; i++) {
        if (i > optind)
            strcat(text, " ");
        strcat(text, argv[i]);
    }
    if ((!lang || strcmp(lang, "auto") == 0) && kz_text_other_cyrillic(NULL, 0, text, strlen(text)))
        fprintf(stderr, "kzsearch: note: read as a Cyrillic language other than Russian (its letters): words of "
                        "the Russian alphabet are not stemmed, as in such a document\n");
    int rc = kz_analyze(lang, text, strlen(text), print_token, text);
    free(text);
    kz_index_free(ix); /* after the analysis: lang may be the index's */
    return rc ? fail(rc) : 0;
}

