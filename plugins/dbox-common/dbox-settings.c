/* SPDX-License-Identifier: MIT */
/* Settings (mail_fsync, compression, mdbox_rotate_size) and location
 * options (ALT=) of a dbox storage. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-compress.h"
#include "dbox-storage.h"

#define DBOX_DEFAULT_ROTATE_SIZE (10 * 1024 * 1024)
#define DBOX_DEFAULT_LOCK_TIMEOUT 120

static int parse_uint(const char *s, uint64_t *v_r, const char **end_r)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	*v_r = v;
	*end_r = end;
	return 0;
}

static int parse_size(const char *s, uint64_t *v_r)
{
	const char *end;
	uint64_t v, mul = 1;

	if (parse_uint(s, &v, &end) < 0)
		return -1;
	while (*end == ' ')
		end++;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = 1024;
		break;
	case 'm':
	case 'M':
		mul = 1024 * 1024;
		break;
	case 'g':
	case 'G':
		mul = 1024ULL * 1024 * 1024;
		break;
	default:
		return -1;
	}
	if (*end != '\0' && end[1] != '\0' && strcasecmp(end + 1, "b") != 0)
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*v_r = v * mul;
	return 0;
}

static const char *setting(struct mailferry_storage *st, const char *key)
{
	const char *v = dbox_api->setting(st->ctx, key);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* mail_compress[_level], else Dovecot 2.3's zlib plugin settings
 * zlib_save[_level]: zstd, or gz where this build has zlib (the error
 * says so where it has not). */
static int read_compress(struct mailferry_storage *st)
{
	const char *key = "mail_compress", *level_key = "mail_compress_level";
	const char *algo = setting(st, key);
	enum mf_compress_kind kind;
	char *err = NULL;

	if (algo == NULL) {
		key = "zlib_save";
		level_key = "zlib_save_level";
		algo = setting(st, key);
	}
	if (mf_compress_parse_setting(key, algo, level_key,
	                              setting(st, level_key), &kind,
	                              &st->set.compress_level, &err) < 0)
		return dbox_error_take(st, MAILFERRY_E_INVALID, err);
	st->set.compress_kind = (int)kind;
	return 0;
}

int dbox_settings_read(struct mailferry_storage *st,
                       const struct mailferry_open_params *params)
{
	const char *v;
	uint64_t n;
	const char *end;

	st->set.fsync = DBOX_FSYNC_OPTIMIZED;
	st->set.rotate_size = DBOX_DEFAULT_ROTATE_SIZE;
	st->set.lock_timeout = DBOX_DEFAULT_LOCK_TIMEOUT;

	v = setting(st, "mail_fsync");
	if (v != NULL) {
		if (strcmp(v, "optimized") == 0)
			st->set.fsync = DBOX_FSYNC_OPTIMIZED;
		else if (strcmp(v, "always") == 0)
			st->set.fsync = DBOX_FSYNC_ALWAYS;
		else if (strcmp(v, "never") == 0)
			st->set.fsync = DBOX_FSYNC_NEVER;
		else
			return dbox_error(st, MAILFERRY_E_INVALID,
			                  "setting mail_fsync = %s: expected "
			                  "optimized, always or never",
			                  v);
	}
	v = setting(st, "mdbox_rotate_size");
	if (v != NULL) {
		if (parse_size(v, &n) < 0 || n == 0)
			return dbox_error(st, MAILFERRY_E_INVALID,
			                  "setting mdbox_rotate_size = %s: "
			                  "not a size",
			                  v);
		st->set.rotate_size = n;
	}
	v = setting(st, "mail_max_lock_timeout");
	if (v == NULL)
		v = setting(st, "mailbox_lock_timeout");
	if (v != NULL && parse_uint(v, &n, &end) == 0 && n > 0 &&
	    n < UINT32_MAX) {
		/* plain seconds, or with an "s"/"min" suffix */
		if (strncmp(end, "min", 3) == 0 || strncmp(end, " min", 4) == 0)
			n *= 60;
		st->set.lock_timeout = (uint32_t)n;
	}
	if (read_compress(st) < 0)
		return MAILFERRY_E_INVALID;

	for (size_t i = 0; i < params->option_count; i++) {
		const char *key = params->option_keys[i];
		const char *val = params->option_values[i];

		if (strcmp(key, "ALT") == 0) {
			if (val == NULL || *val == '\0')
				return dbox_error(st, MAILFERRY_E_INVALID,
				                  "location option ALT: "
				                  "empty path");
			free(st->alt_root);
			st->alt_root = mf_strdup(val);
			while (strlen(st->alt_root) > 1 &&
			       mf_str_ends(st->alt_root, "/"))
				st->alt_root[strlen(st->alt_root) - 1] = '\0';
		} else if (strcmp(key, "LAYOUT") == 0 && val != NULL &&
		           strcmp(val, "fs") == 0) {
			/* dbox's only layout */
		} else {
			return dbox_error(st, MAILFERRY_E_INVALID,
			                  "location option %s%s%s is not "
			                  "supported by the %s driver "
			                  "(supported: ALT=<path>)",
			                  key, val != NULL ? "=" : "",
			                  val != NULL ? val : "",
			                  st->fmt->name);
		}
	}
	return 0;
}

bool dbox_want_fsync(const struct mailferry_storage *st)
{
	return st->set.fsync != DBOX_FSYNC_NEVER;
}

int dbox_fsync_commit(struct mailferry_storage *st, int fd, const char *path)
{
	if (!dbox_want_fsync(st))
		return 0;
	if (fdatasync(fd) < 0) {
		return dbox_error(st, dbox_errno_code(errno),
		                  "fdatasync(%s) failed: %s", path,
		                  strerror(errno));
	}
	return 0;
}
