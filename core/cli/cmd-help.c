/* SPDX-License-Identifier: MIT */
/* mailferry help [COMMAND] */
#include <stdio.h>

#include "mf-cli.h"

int mf_cmd_help(struct mf_cli *cli, int argc, char **argv)
{
	const struct mf_cli_cmd *cmd;
	int words;

	if (argc == 0) {
		printf("usage: mailferry [-Dv] [-c FILE] [-o KEY=VALUE]... "
		       "[-f FORMAT] COMMAND [ARGS]\n"
		       "       mailferry --version\n\ncommands:\n");
		for (cmd = mf_cli_commands; cmd->name != NULL; cmd++)
			printf("  %-16s %s\n", cmd->name, cmd->help);
		printf("\nglobal options:\n"
		       "  -D            debug messages\n"
		       "  -v            verbose messages\n"
		       "  -c FILE       read settings from FILE\n"
		       "  -o KEY=VALUE  override a setting (repeatable)\n"
		       "  -f FORMAT     output as flow, pager, tab, table or "
		       "json\n"
		       "\n'mailferry help COMMAND' shows the usage of a "
		       "command; see also mailferry(1).\n");
		return MF_EX_OK;
	}
	cmd = mf_cli_find(argc, argv, &words);
	if (cmd == NULL || words != argc)
		return mf_cli_usage_error(cli, "no command '%s%s%s'", argv[0],
		                          argc > 1 ? " " : "",
		                          argc > 1 ? argv[1] : "");
	mf_cli_print_usage(stdout, cmd);
	printf("\n%s\n\n%s\n", cmd->help, cmd->long_help);
	return MF_EX_OK;
}
