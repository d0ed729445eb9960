/* SPDX-License-Identifier: MIT */
/* mf-subscriptions.c - Dovecot's subscriptions file (§12). */
#include <errno.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-array.h"
#include "mf-file.h"
#include "mf-subscriptions.h"

static const char v2_header[] = "V\t2\n\n";

/* Decode one v2 line: TAB separates hierarchy levels, \001 escapes. */
static char *unescape_line(const char *line, size_t len, char sep)
{
	struct mf_buf b = MF_BUF_INIT;

	for (size_t i = 0; i < len; i++) {
		char c = line[i];

		if (c == '\t') {
			mf_buf_append_c(&b, sep);
		} else if (c == '\001' && i + 1 < len) {
			char e = line[++i];

			mf_buf_append_c(&b, e == '1'   ? '\001'
			                    : e == 't' ? '\t'
			                    : e == 'r' ? '\r'
			                    : e == 'n' ? '\n'
			                               : e);
		} else {
			mf_buf_append_c(&b, c);
		}
	}
	return mf_buf_detach(&b);
}

int mf_subscriptions_read(const char *path, char sep, char ***names_r,
                          uint32_t *count_r, char **error_r)
{
	struct mf_buf buf = MF_BUF_INIT;
	MF_ARRAY(char *) names = MF_ARRAY_INIT;
	char *err = NULL;
	const char *p, *end;
	bool v2;

	if (mf_file_read_all(path, &buf, &err) < 0) {
		if (errno != ENOENT) {
			*error_r = err;
			return -1;
		}
		free(err);
	}
	p = buf.data != NULL ? buf.data : "";
	end = p + buf.len;
	v2 = buf.len >= strlen(v2_header) &&
	     memcmp(p, v2_header, strlen(v2_header)) == 0;
	if (v2)
		p += strlen(v2_header);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (nl == NULL)
			break; /* unfinished last line: not yet written */
		if (len > 0)
			mf_array_push(&names, v2 ? unescape_line(p, len, sep)
			                         : mf_strndup(p, len));
		p = nl + 1;
	}
	mf_buf_free(&buf);
	mf_array_push(&names, NULL);
	*names_r = names.items;
	*count_r = (uint32_t)names.count - 1;
	return 0;
}

int mf_subscriptions_write(const char *path, char sep, const char *const *names,
                           uint32_t count, unsigned int mode, char **error_r)
{
	struct mf_perm perm;

	mf_perm_init_default(&perm);
	perm.file_mode = (mode_t)mode;
	return mf_subscriptions_write_perm(path, sep, names, count, &perm,
	                                   error_r);
}

int mf_subscriptions_write_perm(const char *path, char sep,
                                const char *const *names, uint32_t count,
                                const struct mf_perm *perm, char **error_r)
{
	struct mf_buf b = MF_BUF_INIT;
	int ret;

	mf_buf_append_str(&b, v2_header);
	for (uint32_t i = 0; i < count; i++) {
		for (const char *c = names[i]; *c != '\0'; c++) {
			if (*c == sep)
				mf_buf_append_c(&b, '\t');
			else if (*c == '\001')
				mf_buf_append(&b, "\0011", 2);
			else if (*c == '\t')
				mf_buf_append(&b, "\001t", 2);
			else if (*c == '\r')
				mf_buf_append(&b, "\001r", 2);
			else if (*c == '\n')
				mf_buf_append(&b, "\001n", 2);
			else
				mf_buf_append_c(&b, *c);
		}
		mf_buf_append_c(&b, '\n');
	}
	ret = mf_perm_write_atomic(perm, path, b.data, b.len, false, error_r);
	mf_buf_free(&b);
	return ret;
}

void mf_subscriptions_free(char ***names)
{
	if (*names == NULL)
		return;
	for (char **p = *names; *p != NULL; p++)
		free(*p);
	free(*names);
	*names = NULL;
}
