/* SPDX-License-Identifier: MIT */
/* The mailferry program; everything else is in libmfcli so tests link it. */
#include "mf-cli.h"

int main(int argc, char **argv)
{
	return mf_cli_main(argc, argv);
}
