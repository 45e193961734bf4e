/*
 * main.c: kzsearch's entry point. It reads the global options that stand
 * before the command (--index DIR, --json, --help, --version), picks the
 * command, and hands it its arguments with the global options put first,
 * so that "kzsearch --index IX stats" and "kzsearch stats --index IX" are
 * one command. Anything that is no command is a query.
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

const char *cli_command = "";

static int cmd_index(int argc, char **argv) { return cmd_build(argc, argv, KZ_BUILD_REPLACE); }
static int cmd_add(int argc, char **argv) { return cmd_build(argc, argv, KZ_BUILD_ADD); }

static int cmd_help(int argc, char **argv)
{
    const char *topic = argc > 1 ? argv[argc - 1] : "";
    if (strcmp(topic, "--help") == 0 || strcmp(topic, "-h") == 0)
        cli_help_exit(); /* kzsearch help --help */
    const char *text = cli_help_text(topic);
    if (!text)
        die_usage("no command '%s'", topic);
    fputs(text, stdout);
    return 0;
}

/* The commands; takes_json: --json means something to it. */
static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    int takes_json;
} commands[] = {
    { "search", cmd_search, 1 }, { "index", cmd_index, 0 },   { "add", cmd_add, 0 },
    { "update", cmd_update, 0 }, { "delete", cmd_delete, 0 }, { "optimize", cmd_optimize, 0 },
    { "stats", cmd_stats, 1 },   { "check", cmd_check, 1 },   { "analyze", cmd_analyze, 0 },
    { "run", cmd_run, 0 },       { "help", cmd_help, 0 },     { "extract", cmd_extract, 1 },
    { "serve", cmd_serve, 0 },
    { "shards", cmd_shards, 0 },
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(cli_help_text(NULL), stderr);
        return EXIT_ERROR;
    }
    /* The global options before the command, kept to be passed on. */
    char *globals[2 * 64 + 1]; /* up to 64 --index, and --json */
    int n_globals = 0, json = 0, i = 1;
    while (i < argc) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(cli_help_text(NULL), stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("kzsearch %s\n", KZ_VERSION_STRING);
            return 0;
        }
        if (strcmp(a, "--index") == 0) {
            if (i + 1 >= argc)
                die_usage("option '--index' requires an argument");
            if (n_globals + 2 > (int)(sizeof globals / sizeof globals[0]))
                die_usage("too many global options");
            globals[n_globals++] = argv[i++];
            globals[n_globals++] = argv[i++];
            continue;
        }
        if (strncmp(a, "--index=", 8) == 0 || strcmp(a, "--json") == 0) {
            if (n_globals + 1 > (int)(sizeof globals / sizeof globals[0]))
                die_usage("too many global options");
            json |= strcmp(a, "--json") == 0;
            globals[n_globals++] = argv[i++];
            continue;
        }
        break;
    }
    /* A command, or else a query (kzsearch "ethnic Russians", kzsearch -n 5
     * Tokayev, kzsearch -- -war peace). */
    const struct command *cmd = i < argc ? find_command(argv[i]) : NULL;
    int first = cmd ? i + 1 : i;
    if (!cmd)
        cmd = find_command("search");
    cli_command = cmd->name;
    if (json && !cmd->takes_json)
        die_usage("--json goes with search, stats and check, not %s", cmd->name);

    /* argv for the command: its name, the global options, the rest. */
    int sub_argc = 1 + n_globals + (argc - first);
    char **sub_argv = calloc((size_t)sub_argc + 1, sizeof *sub_argv);
    if (!sub_argv)
        return fail(KZ_ENOMEM);
    sub_argv[0] = argv[0];
    memcpy(sub_argv + 1, globals, (size_t)n_globals * sizeof *sub_argv);
    memcpy(sub_argv + 1 + n_globals, argv + first, (size_t)(argc - first) * sizeof *sub_argv);
    optind = 1;
    int status = cmd->run(sub_argc, sub_argv);
    free(sub_argv);
    return status;
}
