/* SPDX-License-Identifier: MIT */
/* Global options, configuration and command dispatch. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-array.h"
#include "mf-buf.h"
#include "mf-cli.h"
#include "mf-driver.h"
#include "mf-log.h"
#include "mf-settings.h"
#include <mailferry/version.h>

#define GLOBAL_USAGE                                                           \
	"mailferry [-Dv] [-c FILE] [-o KEY=VALUE]... [-f FORMAT] COMMAND "     \
	"[ARGS]"

int mf_cli_fail(int code, const char *fmt, ...)
{
	struct mf_buf buf = MF_BUF_INIT;
	va_list args;

	va_start(args, fmt);
	mf_buf_vprintf(&buf, fmt, args);
	va_end(args);
	fprintf(stderr, "mailferry: %s\n", mf_buf_str(&buf));
	mf_buf_free(&buf);
	return code;
}

void mf_cli_print_usage(FILE *out, const struct mf_cli_cmd *cmd)
{
	fprintf(out, "usage: mailferry %s%s%s\n", cmd->name,
	        *cmd->usage == '\0' ? "" : " ", cmd->usage);
}

int mf_cli_usage_error(const struct mf_cli *cli, const char *fmt, ...)
{
	struct mf_buf buf = MF_BUF_INIT;
	va_list args;

	va_start(args, fmt);
	mf_buf_vprintf(&buf, fmt, args);
	va_end(args);
	if (cli != NULL && cli->cmd != NULL) {
		fprintf(stderr, "mailferry %s: %s\n", cli->cmd->name,
		        mf_buf_str(&buf));
		mf_cli_print_usage(stderr, cli->cmd);
	} else {
		fprintf(stderr, "mailferry: %s\nusage: %s\n", mf_buf_str(&buf),
		        GLOBAL_USAGE);
	}
	mf_buf_free(&buf);
	return MF_EX_USAGE;
}

int mf_cli_reject_options(const struct mf_cli *cli, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1] != '\0')
			return mf_cli_usage_error(
			    cli,
			    "unknown option '%s' (global options such as "
			    "-f go before the command)",
			    argv[i]);
	}
	return MF_EX_OK;
}

int mf_cli_exit_code(int error)
{
	switch (error) {
	case MAILFERRY_OK:
		return MF_EX_OK;
	case MAILFERRY_E_NOTFOUND:
		return MF_EX_NOTFOUND;
	case MAILFERRY_E_EXISTS:
	case MAILFERRY_E_EXPUNGED:
	case MAILFERRY_E_INVALIDDATA:
	case MAILFERRY_E_NOTSUPP:
	case MAILFERRY_E_LIMIT:
		return MF_EX_NOTPOSSIBLE;
	case MAILFERRY_E_PERM:
		return MF_EX_NOPERM;
	case MAILFERRY_E_NOSPACE:
		return MF_EX_CANTCREAT;
	case MAILFERRY_E_INVALID:
		return MF_EX_USAGE;
	default:
		/* TEMP, INUSE, NOMEM, CANCELED, NOHISTORY and anything
		 * unknown: worth trying again */
		return MF_EX_TEMPFAIL;
	}
}

enum mf_fmt_kind mf_cli_fmt(const struct mf_cli *cli, enum mf_fmt_kind def)
{
	return cli->fmt_given ? cli->fmt : def;
}

const struct mf_cli_cmd *mf_cli_find(int argc, char **argv, int *words_r)
{
	const struct mf_cli_cmd *best = NULL;
	int best_words = 0;

	/* the longest name whose words all match wins ("mailbox list") */
	for (const struct mf_cli_cmd *cmd = mf_cli_commands; cmd->name != NULL;
	     cmd++) {
		const char *p = cmd->name;
		int words = 0;
		bool match = true;

		while (*p != '\0') {
			size_t len = strcspn(p, " ");

			if (words >= argc || strlen(argv[words]) != len ||
			    strncmp(argv[words], p, len) != 0) {
				match = false;
				break;
			}
			words++;
			p += len;
			if (*p == ' ')
				p++;
		}
		if (match && words > best_words) {
			best = cmd;
			best_words = words;
		}
	}
	*words_r = best_words;
	return best;
}

static void print_version(void)
{
	printf("mailferry %s (driver ABI %d.%d)\n", MAILFERRY_VERSION_STRING,
	       MAILFERRY_ABI_MAJOR, MAILFERRY_ABI_MINOR);
}

static int load_config(struct mf_cli *cli, const char *path, bool explicit)
{
	char *error;

	if (!explicit && access(path, F_OK) != 0) {
		mf_debug("config: %s not found, using defaults", path);
		return 0;
	}
	if (mf_settings_load_file(cli->set, path, &error) < 0) {
		int ret = mf_cli_fail(MF_EX_CONFIG, "config: %s", error);

		free(error);
		return ret;
	}
	cli->config_path = path;
	if (mf_log_get_level() <= MF_LOG_DEBUG) {
		const char *key, *value;
		size_t pos = 0, n = 0;

		while (mf_settings_iter(cli->set, &pos, &key, &value))
			n++;
		mf_debug("config: %zu settings read from %s", n, path);
	}
	return 0;
}

/* Commands that start with a word shared by sub-commands ("mailbox")
 * but name no known one get a usage error listing the candidates. */
static int unknown_command(int argc, char **argv)
{
	struct mf_buf buf = MF_BUF_INIT;
	size_t len = strlen(argv[0]);

	for (const struct mf_cli_cmd *cmd = mf_cli_commands; cmd->name != NULL;
	     cmd++) {
		if (strncmp(cmd->name, argv[0], len) == 0 &&
		    cmd->name[len] == ' ')
			mf_buf_printf(&buf, "%s'%s'", buf.len > 0 ? ", " : "",
			              cmd->name);
	}
	if (buf.len > 0) {
		fprintf(stderr,
		        "mailferry: '%s%s%s' is not a command (did you mean "
		        "%s?)\n",
		        argv[0], argc > 1 ? " " : "", argc > 1 ? argv[1] : "",
		        mf_buf_str(&buf));
	} else {
		fprintf(stderr,
		        "mailferry: unknown command '%s' (see 'mailferry "
		        "help')\n",
		        argv[0]);
	}
	fprintf(stderr, "usage: %s\n", GLOBAL_USAGE);
	mf_buf_free(&buf);
	return MF_EX_USAGE;
}

static int run(struct mf_cli *cli, int argc, char **argv)
{
	MF_ARRAY(const char *) overrides = MF_ARRAY_INIT;
	const char *config = NULL;
	const struct mf_cli_cmd *cmd;
	int i, words, ret;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (arg[0] != '-' || arg[1] == '\0')
			break;
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(arg, "--version") == 0) {
			print_version();
			mf_array_free(&overrides);
			return MF_EX_OK;
		}
		if (strcmp(arg, "--help") == 0) {
			mf_array_free(&overrides);
			return mf_cmd_help(cli, 0, NULL);
		}
		for (const char *p = arg + 1; *p != '\0'; p++) {
			const char *value = NULL;

			if (*p == 'c' || *p == 'o' || *p == 'f') {
				if (p[1] != '\0')
					value = p + 1;
				else if (i + 1 < argc)
					value = argv[++i];
				else {
					mf_array_free(&overrides);
					return mf_cli_usage_error(
					    NULL, "option -%c needs a value",
					    *p);
				}
			}
			switch (*p) {
			case 'D':
				cli->debug = true;
				break;
			case 'v':
				cli->verbose = true;
				break;
			case 'h':
				mf_array_free(&overrides);
				return mf_cmd_help(cli, 0, NULL);
			case 'c':
				config = value;
				break;
			case 'o':
				mf_array_push(&overrides, value);
				break;
			case 'f':
				if (mf_fmt_kind_parse(value, &cli->fmt) < 0) {
					mf_array_free(&overrides);
					return mf_cli_usage_error(
					    NULL,
					    "unknown formatter '%s' for -f "
					    "(use flow, pager, tab, table "
					    "or json)",
					    value);
				}
				cli->fmt_given = true;
				break;
			default:
				mf_array_free(&overrides);
				return mf_cli_usage_error(
				    NULL, "unknown option '-%c'", *p);
			}
			if (value != NULL)
				break;
		}
	}
	if (i >= argc) {
		mf_array_free(&overrides);
		return mf_cli_usage_error(NULL, "missing command");
	}

	mf_log_set_level(cli->debug     ? MF_LOG_DEBUG
	                 : cli->verbose ? MF_LOG_INFO
	                                : MF_LOG_WARNING);
	ret = config != NULL
	          ? load_config(cli, config, true)
	          : load_config(cli, MF_SYSCONFDIR "/mailferry/mailferry.conf",
	                        false);
	for (size_t o = 0; ret == 0 && o < overrides.count; o++) {
		char *error;

		if (mf_settings_set_override(cli->set, overrides.items[o],
		                             &error) < 0) {
			ret = mf_cli_usage_error(NULL, "%s", error);
			free(error);
		}
	}
	mf_array_free(&overrides);
	if (ret != 0)
		return ret;
	mf_core_set_settings(cli->set);
	mf_core_install_signal_handlers();

	cmd = mf_cli_find(argc - i, argv + i, &words);
	if (cmd == NULL)
		return unknown_command(argc - i, argv + i);
	cli->cmd = cmd;
	return cmd->run(cli, argc - i - words, argv + i + words);
}

int mf_cli_main(int argc, char **argv)
{
	struct mf_cli cli;
	int ret;

	mf_zero(&cli);
	cli.set = mf_settings_new();
	ret = run(&cli, argc, argv);
	mf_settings_free(&cli.set);
	if (fflush(stdout) != 0 && ret == MF_EX_OK)
		ret = mf_cli_fail(MF_EX_TEMPFAIL, "writing to stdout failed");
	return ret;
}
