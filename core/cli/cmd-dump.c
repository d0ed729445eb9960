/* SPDX-License-Identifier: MIT */
/* mailferry dump FILE: the index library's decoder, printed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mf-buf.h"
#include "mf-cli.h"
#include "mf-dump.h"

int mf_cmd_dump(struct mf_cli *cli, int argc, char **argv)
{
	struct mf_buf out = MF_BUF_INIT;
	char *error;
	int ret = MF_EX_OK;

	if (mf_cli_reject_options(cli, argc, argv) != MF_EX_OK)
		return MF_EX_USAGE;
	if (argc < 1)
		return mf_cli_usage_error(cli, "missing FILE");
	if (argc > 1)
		return mf_cli_usage_error(cli, "unexpected argument '%s'",
		                          argv[1]);
	if (access(argv[0], F_OK) < 0 && errno == ENOENT)
		return mf_cli_fail(MF_EX_NOTFOUND, "dump %s: no such file",
		                   argv[0]);
	if (mf_dump_file(argv[0], &out, &error) < 0) {
		/* print what could be decoded before the error */
		fwrite(out.data == NULL ? "" : out.data, 1, out.len, stdout);
		fflush(stdout);
		ret = mf_cli_fail(MF_EX_NOTPOSSIBLE, "dump %s: %s", argv[0],
		                  error);
		free(error);
	} else {
		fwrite(out.data == NULL ? "" : out.data, 1, out.len, stdout);
	}
	mf_buf_free(&out);
	return ret;
}
