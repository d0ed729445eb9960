/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "maildir-keywords.h"

void maildir_keywords_clear(struct maildir_keywords *kw)
{
	for (int i = 0; i < MAILDIR_MAX_KEYWORDS; i++)
		mf_free(&kw->names[i]);
	kw->broken = false;
}

bool maildir_keyword_is_valid(const char *name)
{
	if (*name == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		/* atom-specials, list-wildcards, resp-specials, '\\' */
		if (*p <= 0x20 || *p >= 0x7f || strchr("(){%*\"\\]", *p))
			return false;
	}
	return true;
}

void maildir_keywords_parse(struct maildir_keywords *kw, const char *path,
                            const char *data, size_t len,
                            const struct maildir_warn *warn)
{
	const char *end = data + len;
	unsigned int lineno = 0;

	while (data < end) {
		const char *nl = memchr(data, '\n', (size_t)(end - data));
		size_t linelen =
		    nl == NULL ? (size_t)(end - data) : (size_t)(nl - data);
		char *line = mf_strndup(data, linelen);
		char *sp = strchr(line, ' '), *numend;
		unsigned long idx;

		lineno++;
		data += linelen + (nl != NULL ? 1 : 0);
		if (linelen == 0) {
			free(line);
			continue;
		}
		idx = sp == NULL ? 0 : strtoul(line, &numend, 10);
		if (sp == NULL || numend != sp || line[0] < '0' ||
		    line[0] > '9' || idx >= MAILDIR_MAX_KEYWORDS ||
		    sp[1] == '\0') {
			kw->broken = true;
			maildir_warn(warn,
			             "%s: line %u: ignoring broken "
			             "keyword line '%s'",
			             path, lineno, line);
		} else if (maildir_keywords_lookup(kw, sp + 1) >= 0) {
			kw->broken = true;
			maildir_warn(warn,
			             "%s: line %u: ignoring duplicate "
			             "keyword '%s'",
			             path, lineno, sp + 1);
		} else {
			mf_free(&kw->names[idx]);
			kw->names[idx] = mf_strdup(sp + 1);
		}
		free(line);
	}
}

int maildir_keywords_read(struct maildir_keywords *kw, const char *path,
                          const struct maildir_warn *warn, char **error_r)
{
	struct mf_buf buf = MF_BUF_INIT;

	maildir_keywords_clear(kw);
	if (mf_file_read_all(path, &buf, error_r) < 0) {
		mf_buf_free(&buf);
		if (errno == ENOENT) {
			mf_free(error_r);
			return 0;
		}
		return -1;
	}
	maildir_keywords_parse(kw, path, buf.data == NULL ? "" : buf.data,
	                       buf.len, warn);
	mf_buf_free(&buf);
	return 0;
}

int maildir_keywords_lookup(const struct maildir_keywords *kw, const char *name)
{
	for (int i = 0; i < MAILDIR_MAX_KEYWORDS; i++) {
		if (kw->names[i] != NULL && strcasecmp(kw->names[i], name) == 0)
			return i;
	}
	return -1;
}

int maildir_keywords_assign(struct maildir_keywords *kw, const char *name,
                            bool *added_r)
{
	int idx = maildir_keywords_lookup(kw, name);

	*added_r = false;
	if (idx >= 0)
		return idx;
	for (int i = 0; i < MAILDIR_MAX_KEYWORDS; i++) {
		if (kw->names[i] == NULL) {
			kw->names[i] = mf_strdup(name);
			*added_r = true;
			return i;
		}
	}
	return -1;
}

int maildir_keywords_write(const struct maildir_keywords *kw, const char *path,
                           const struct mf_perm *perm, bool do_fsync,
                           char **error_r)
{
	struct mf_buf buf = MF_BUF_INIT;
	char *lock_path = mf_strdup_printf("%s.lock", path);
	struct mf_perm def;
	struct stat st;
	int fd, ret = -1;

	if (perm == NULL) {
		mf_perm_init_default(&def);
		perm = &def;
	}
	for (int i = 0; i < MAILDIR_MAX_KEYWORDS; i++) {
		if (kw->names[i] != NULL)
			mf_buf_printf(&buf, "%d %s\n", i, kw->names[i]);
	}
	/* A leftover lock is stale: the uidlist lock we hold protects this
	 * file, so nobody else can be writing it. */
	(void)unlink(lock_path);
	fd = mf_perm_open(perm, lock_path,
	                  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC);
	if (fd < 0) {
		*error_r = mf_strdup_printf("open(%s) failed: %s", lock_path,
		                            strerror(errno));
		goto out;
	}
	if (mf_write_full(fd, buf.data == NULL ? "" : buf.data, buf.len) < 0 ||
	    (do_fsync && fsync(fd) < 0)) {
		*error_r = mf_strdup_printf("write(%s) failed: %s", lock_path,
		                            strerror(errno));
		close(fd);
		(void)unlink(lock_path);
		goto out;
	}
	close(fd);
	/* Dovecot notices changes by mtime: make sure it grows. */
	if (stat(path, &st) == 0) {
		struct stat nst;

		if (stat(lock_path, &nst) == 0 && nst.st_mtime <= st.st_mtime) {
			struct timeval tv[2];

			tv[0].tv_sec = tv[1].tv_sec = st.st_mtime + 1;
			tv[0].tv_usec = tv[1].tv_usec = 0;
			(void)utimes(lock_path, tv);
		}
	}
	if (rename(lock_path, path) < 0) {
		*error_r = mf_strdup_printf("rename(%s, %s) failed: %s",
		                            lock_path, path, strerror(errno));
		(void)unlink(lock_path);
		goto out;
	}
	ret = 0;
out:
	free(lock_path);
	mf_buf_free(&buf);
	return ret;
}
