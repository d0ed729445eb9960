/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

#include <mailferry/driver.h>

#include "mf-alloc.h"
#include "maildir-filename.h"

size_t maildir_fname_base_len(const char *fname)
{
	const char *p = strchr(fname, ':');

	return p == NULL ? strlen(fname) : (size_t)(p - fname);
}

static int flag_of_letter(char c, uint32_t *flag_r)
{
	switch (c) {
	case 'D':
		*flag_r = MAILFERRY_FLAG_DRAFT;
		return 0;
	case 'F':
		*flag_r = MAILFERRY_FLAG_FLAGGED;
		return 0;
	case 'R':
		*flag_r = MAILFERRY_FLAG_ANSWERED;
		return 0;
	case 'S':
		*flag_r = MAILFERRY_FLAG_SEEN;
		return 0;
	case 'T':
		*flag_r = MAILFERRY_FLAG_DELETED;
		return 0;
	default:
		return -1;
	}
}

int maildir_fname_parse_info(const char *fname,
                             struct maildir_fname_info *info_r)
{
	const char *info = strrchr(fname, ':');
	size_t n = 0;

	mf_zero(info_r);
	if (info == NULL)
		return 0;
	if (info[1] != '2' || info[2] != ',') {
		/* e.g. ":1,..." (experimental semantics): keep it whole */
		info_r->foreign_info = true;
		return 0;
	}
	info_r->has_info = true;
	for (const char *p = info + 3; *p != '\0'; p++) {
		uint32_t flag;

		if (*p == ',') {
			/* the rest is kept verbatim */
			size_t len = strlen(p);

			if (n + len >= sizeof(info_r->unknown))
				return -1;
			memcpy(info_r->unknown + n, p, len);
			n += len;
			break;
		}
		if (flag_of_letter(*p, &flag) == 0) {
			info_r->flags |= flag;
		} else if (*p >= 'a' && *p <= 'z') {
			info_r->keywords |= 1u << (*p - 'a');
		} else {
			if (n + 1 >= sizeof(info_r->unknown))
				return -1;
			info_r->unknown[n++] = *p;
		}
	}
	info_r->unknown[n] = '\0';
	return 0;
}

int maildir_fname_get_size(const char *fname, char type, uint64_t *size_r)
{
	const char *p = fname;
	uint64_t size = 0;
	int digits = 0;

	for (;; p++) {
		if (*p == '\0' || *p == ':')
			return -1;
		if (p[0] == ',' && p[1] == type && p[2] == '=')
			break;
	}
	for (p += 3; *p >= '0' && *p <= '9'; p++) {
		if (size > (UINT64_MAX - 9) / 10)
			return -1;
		size = size * 10 + (uint64_t)(*p - '0');
		digits++;
	}
	if (digits == 0 || (*p != '\0' && *p != ':' && *p != ','))
		return -1;
	*size_r = size;
	return 0;
}

void maildir_fname_build(const char *fname,
                         const struct maildir_fname_info *info,
                         struct mf_buf *dest)
{
	static const struct {
		char letter;
		uint32_t flag;
	} sysflags[] = {
	    {'D', MAILFERRY_FLAG_DRAFT},    {'F', MAILFERRY_FLAG_FLAGGED},
	    {'R', MAILFERRY_FLAG_ANSWERED}, {'S', MAILFERRY_FLAG_SEEN},
	    {'T', MAILFERRY_FLAG_DELETED},
	};
	bool present[256] = {false};
	const char *rest = strchr(info->unknown, ',');
	size_t unknown_len = rest == NULL ? strlen(info->unknown)
	                                  : (size_t)(rest - info->unknown);

	mf_buf_append(dest, fname, maildir_fname_base_len(fname));
	mf_buf_append_str(dest, ":2,");
	for (size_t i = 0; i < MF_N_ELEMENTS(sysflags); i++) {
		if ((info->flags & sysflags[i].flag) != 0)
			present[(unsigned char)sysflags[i].letter] = true;
	}
	for (int i = 0; i < MAILDIR_MAX_KEYWORDS; i++) {
		if ((info->keywords & (1u << i)) != 0)
			present['a' + i] = true;
	}
	for (size_t i = 0; i < unknown_len; i++)
		present[(unsigned char)info->unknown[i]] = true;
	for (int c = 1; c < 256; c++) {
		if (present[c])
			mf_buf_append_c(dest, (char)c);
	}
	if (rest != NULL)
		mf_buf_append_str(dest, rest);
}

static void append_escaped_host(struct mf_buf *dest)
{
	char host[256];

	if (gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	if (host[0] == '\0')
		mf_strlcpy(host, "localhost", sizeof(host));
	for (const char *p = host; *p != '\0'; p++) {
		if (*p == '/')
			mf_buf_append_str(dest, "\\057");
		else if (*p == ':')
			mf_buf_append_str(dest, "\\072");
		else
			mf_buf_append_c(dest, *p);
	}
}

void maildir_fname_suffix(struct mf_buf *dest)
{
	mf_buf_printf(dest, "P%ld.", (long)getpid());
	append_escaped_host(dest);
}

void maildir_fname_generate(struct mf_buf *dest)
{
	struct mf_buf suffix = MF_BUF_INIT;

	maildir_fname_suffix(&suffix);
	maildir_fname_generate_with(dest, mf_buf_str(&suffix));
	mf_buf_free(&suffix);
}

void maildir_fname_generate_with(struct mf_buf *dest, const char *suffix)
{
	static struct timeval last;
	struct timeval tv;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec < last.tv_sec ||
	    (tv.tv_sec == last.tv_sec && tv.tv_usec <= last.tv_usec)) {
		tv = last;
		if (++tv.tv_usec == 1000000) {
			tv.tv_sec++;
			tv.tv_usec = 0;
		}
	}
	last = tv;
	mf_buf_printf(dest, "%lld.M%ld%s", (long long)tv.tv_sec,
	              (long)tv.tv_usec, suffix);
}

uint64_t maildir_count_bare_lf(const void *data, size_t size, bool *last_cr)
{
	const char *p = data, *end = p + size, *nl;
	bool cr_before = *last_cr;
	uint64_t n = 0;

	if (size == 0)
		return 0;
	/* memchr() is vectorised: mail has few LFs per byte */
	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (!(nl > p ? nl[-1] == '\r' : cr_before))
			n++;
		p = nl + 1;
		cr_before = false; /* the byte before p is this LF */
	}
	*last_cr = end[-1] == '\r';
	return n;
}

/* Parse "<secs>.M<usecs>" at the start of name. */
static bool parse_time(const char *name, uint64_t *secs_r, uint64_t *usecs_r)
{
	char *end;

	if (*name < '0' || *name > '9')
		return false;
	*secs_r = strtoull(name, &end, 10);
	if (end[0] != '.' || end[1] != 'M' || end[2] < '0' || end[2] > '9') {
		*usecs_r = 0;
		return *end == '.';
	}
	*usecs_r = strtoull(end + 2, NULL, 10);
	return true;
}

int maildir_fname_cmp(const char *a, const char *b)
{
	uint64_t sa, ua, sb, ub;

	if (parse_time(a, &sa, &ua) && parse_time(b, &sb, &ub)) {
		if (sa != sb)
			return sa < sb ? -1 : 1;
		if (ua != ub)
			return ua < ub ? -1 : 1;
	}
	return strcmp(a, b);
}

bool maildir_fname_is_valid(const char *name)
{
	if (name[0] == '\0' || name[0] == '.')
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p == '/' || *p < 0x20)
			return false;
	}
	return true;
}
