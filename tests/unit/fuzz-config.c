/* SPDX-License-Identifier: MIT */
/*
 * fuzz-config.c - libFuzzer entry for the command-line side parsers: the
 * dovecot.conf subset (mf-settings), locations (mf-location) and the
 * sync/backup options (mf-sync-opts). The first byte picks the parser; the
 * rest is its input (for the options, one argument per line).
 * Config inputs that would touch the file system (!include, <file) are
 * skipped: the parser would read real files, e.g. /dev/zero forever.
 */
#include <ctype.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-location.h"
#include "mf-settings.h"
#include "mf-sync-opts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 64

static void fuzz_settings(const char *text)
{
	struct mf_settings *set;
	char *error = NULL;
	const char *key, *value;
	size_t pos = 0;

	if (strstr(text, "!include") != NULL || strchr(text, '<') != NULL)
		return;
	set = mf_settings_new();
	if (mf_settings_load_string(set, "fuzz", text, &error) < 0) {
		/* every error names the input and a line */
		if (!mf_str_begins(error, "fuzz:"))
			abort();
		free(error);
	}
	while (mf_settings_iter(set, &pos, &key, &value)) {
		if (mf_settings_get(set, key) == NULL)
			abort();
	}
	mf_settings_free(&set);
}

/* The "password@" of a scheme://user:password@ URL, or NULL. Only long
 * ones count: a short one may well appear in the user or host name too. */
static char *url_password(const char *text)
{
	const char *p = strstr(text, "://"), *at, *colon;

	if (p == NULL)
		return NULL;
	p += 3;
	at = strchr(p, '@');
	if (at == NULL)
		return NULL;
	colon = memchr(p, ':', (size_t)(at - p));
	if (colon == NULL || at - colon - 1 < 4)
		return NULL;
	/* only plain passwords: one made of ':' and '*' could look like the
	 * redaction itself */
	for (const char *c = colon + 1; c < at; c++) {
		if (!isalnum((unsigned char)*c))
			return NULL;
	}
	return mf_strndup(colon + 1, (size_t)(at - colon));
}

/* Non-overlapping occurrences of needle in str. */
static size_t count(const char *str, const char *needle)
{
	size_t n = 0, len = strlen(needle);

	while ((str = strstr(str, needle)) != NULL) {
		n++;
		str += len;
	}
	return n;
}

/* When "password@" occurs once in the input (in the userinfo), no output
 * may contain it. (A repetitive input may hold the same bytes elsewhere,
 * as a host or port, where they are not a password.) */
static bool leaks(const char *text, const char *out, const char *password)
{
	size_t len;
	char *bare;
	bool ambiguous;

	if (password == NULL)
		return false;
	/* A user name ending in the password's characters legitimately
	 * shows as "<same characters>@" in the display (found by fuzzing:
	 * "imap://WWWWWWWWWW:WWWWWWWW@h"): such inputs prove nothing. */
	len = strlen(password);
	bare = mf_strndup(password, len - 1);
	ambiguous = false;
	for (const char *p = text; (p = strstr(p, bare)) != NULL; p++) {
		if (p != strstr(text, bare)) {
			ambiguous = true;
			break;
		}
	}
	free(bare);
	return !ambiguous && count(text, password) == 1 &&
	       count(out, password) > 0;
}

static void fuzz_location(const char *text)
{
	static const struct mf_location_vars vars = {"user@example.org",
	                                             "/home/user"};
	struct mf_location *loc = NULL;
	char *error = NULL, *password = url_password(text);
	const char *opt;

	if (mf_location_parse(text, &vars, &loc, &error) < 0) {
		if (loc != NULL || error == NULL)
			abort();
		/* a password never shows in an error */
		if (leaks(text, error, password))
			abort();
		free(error);
		free(password);
		return;
	}
	if (loc->driver == NULL || loc->path == NULL || loc->display == NULL)
		abort();
	opt = mf_location_option(loc, "imapc_password");
	if (strcmp(loc->driver, "imapc") == 0 && opt != NULL &&
	    leaks(text, loc->display, password))
		abort();
	mf_location_free(&loc);
	free(password);
}

static void fuzz_sync_opts(char *text)
{
	struct mf_sync_opts opts;
	char *argv[MAX_ARGS];
	char *error = NULL, *p = text;
	int argc = 0;

	while (argc < MAX_ARGS) {
		char *nl = strchr(p, '\n');

		argv[argc++] = p;
		if (nl == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	if (mf_sync_opts_parse(&opts, text[0] == 'b', (time_t)1700000000, argc,
	                       argv, &error) < 0) {
		if (error == NULL)
			abort();
		free(error);
	} else if (opts.dest == NULL && !opts.default_dest) {
		abort();
	}
	mf_sync_opts_clear(&opts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size == 0)
		return 0;
	text = mf_strndup((const char *)data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		fuzz_settings(text);
		break;
	case 1:
		fuzz_location(text);
		break;
	default:
		fuzz_sync_opts(text);
		break;
	}
	free(text);
	return 0;
}
