/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <strings.h>

#include "mf-alloc.h"
#include "maildir-layout.h"
#include "mf-utf7.h"

bool maildir_name_is_inbox(const char *vname)
{
	return strcasecmp(vname, "INBOX") == 0;
}

bool maildir_is_internal_name(const char *name)
{
	return strcmp(name, "cur") == 0 || strcmp(name, "new") == 0 ||
	       strcmp(name, "tmp") == 0;
}

static int check_level(enum maildir_layout layout, const char *level,
                       size_t len, const char **why_r)
{
	if (len == 0) {
		*why_r = "empty hierarchy level";
		return -1;
	}
	if ((len == 1 && level[0] == '.') ||
	    (len == 2 && level[0] == '.' && level[1] == '.')) {
		*why_r = "'.' or '..' as a hierarchy level";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)level[i];

		if (c < 0x20 || c == 0x7f) {
			*why_r = "control character in the name";
			return -1;
		}
		if (c == '.' && layout == MAILDIR_LAYOUT_MAILDIRPP) {
			*why_r = "'.' is the Maildir++ hierarchy separator";
			return -1;
		}
	}
	if (layout == MAILDIR_LAYOUT_FS) {
		char tmp[4];

		if (len == 3) {
			memcpy(tmp, level, 3);
			tmp[3] = '\0';
			if (maildir_is_internal_name(tmp)) {
				*why_r = "'cur', 'new' and 'tmp' are reserved "
				         "with LAYOUT=fs";
				return -1;
			}
		}
		if (level[0] == '.') {
			*why_r = "a level starting with '.' would be hidden "
			         "with LAYOUT=fs";
			return -1;
		}
	}
	return 0;
}

int maildir_layout_to_dir(enum maildir_layout layout, const char *vname,
                          struct mf_buf *out, const char **why_r)
{
	const char *p = vname;

	if (maildir_name_is_inbox(vname)) {
		mf_buf_append_str(out, layout == MAILDIR_LAYOUT_FS ? "INBOX"
		                                                   : ".INBOX");
		return 0;
	}
	if (*vname == '\0') {
		*why_r = "empty name";
		return -1;
	}
	if (layout == MAILDIR_LAYOUT_MAILDIRPP)
		mf_buf_append_c(out, '.');
	for (;;) {
		const char *sep = strchr(p, '/');
		size_t len = sep == NULL ? strlen(p) : (size_t)(sep - p);
		char *level = mf_strndup(p, len);
		int ret = check_level(layout, p, len, why_r);

		if (ret == 0 && mf_utf8_to_mutf7(level, out) < 0) {
			*why_r = "invalid UTF-8";
			ret = -1;
		}
		free(level);
		if (ret < 0)
			return -1;
		if (sep == NULL)
			break;
		mf_buf_append_c(out, layout == MAILDIR_LAYOUT_FS ? '/' : '.');
		p = sep + 1;
	}
	if (out->len > 4000) {
		*why_r = "name too long";
		return -1;
	}
	return 0;
}

int maildir_layout_level_decode(const char *level, struct mf_buf *out)
{
	return mf_mutf7_to_utf8(level, out);
}

int maildir_layout_pp_decode(const char *dirname, struct mf_buf *out)
{
	const char *p = dirname;

	if (*p != '.' || p[1] == '\0' || p[1] == '.')
		return -1;
	p++;
	for (;;) {
		const char *sep = strchr(p, '.');
		size_t len = sep == NULL ? strlen(p) : (size_t)(sep - p);
		char *level = mf_strndup(p, len);
		int ret = len == 0 ? -1 : mf_mutf7_to_utf8(level, out);

		free(level);
		if (ret < 0)
			return -1;
		if (sep == NULL)
			return 0;
		mf_buf_append_c(out, '/');
		p = sep + 1;
	}
}
