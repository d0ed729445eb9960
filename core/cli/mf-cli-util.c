/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <stdlib.h>
#include <strings.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-cli-util.h"

static bool match_at(const char *mask, const char *name, char sep)
{
	for (; *mask != '\0'; mask++, name++) {
		if (*mask == '*' || *mask == '%') {
			bool any = *mask == '*';

			mask++;
			/* try every split point, shortest first */
			for (;; name++) {
				if (match_at(mask, name, sep))
					return true;
				if (*name == '\0' || (!any && *name == sep))
					return false;
			}
		}
		if (*name != *mask)
			return false;
	}
	return *name == '\0';
}

/* Upper-case a leading INBOX level so "inbox/x" matches "INBOX/x". */
static char *inbox_upper(const char *str, char sep)
{
	char *copy = mf_strdup(str);

	if (strncasecmp(copy, "INBOX", 5) == 0 &&
	    (copy[5] == '\0' || copy[5] == sep)) {
		for (int i = 0; i < 5; i++)
			copy[i] = (char)toupper((unsigned char)copy[i]);
	}
	return copy;
}

bool mf_mask_match(const char *mask, const char *name, char sep)
{
	char *m = inbox_upper(mask, sep), *n = inbox_upper(name, sep);
	bool ret = match_at(m, n, sep);

	free(m);
	free(n);
	return ret;
}

static int parse_uid(const char *str, const char **end_r, uint32_t *uid_r)
{
	char *end;
	unsigned long n;

	if (*str == '*') {
		*uid_r = UINT32_MAX;
		*end_r = str + 1;
		return 0;
	}
	if (!isdigit((unsigned char)*str))
		return -1;
	n = strtoul(str, &end, 10);
	if (n == 0 || n > UINT32_MAX)
		return -1;
	*uid_r = (uint32_t)n;
	*end_r = end;
	return 0;
}

int mf_uidset_parse(const char *str, struct mf_uidset *set, char **error_r)
{
	const char *p = str;

	if (strcasecmp(str, "all") == 0 || strcmp(str, "1:*") == 0) {
		struct mailferry_uid_range r = {1, UINT32_MAX};

		mf_array_push(&set->ranges, r);
		return 0;
	}
	for (;;) {
		struct mailferry_uid_range r;

		if (parse_uid(p, &p, &r.first) < 0)
			goto bad;
		r.last = r.first;
		if (*p == ':' && parse_uid(p + 1, &p, &r.last) < 0)
			goto bad;
		if (r.first > r.last) {
			uint32_t t = r.first;

			r.first = r.last;
			r.last = t;
		}
		mf_array_push(&set->ranges, r);
		if (*p == '\0')
			return 0;
		if (*p != ',')
			goto bad;
		p++;
	}
bad:
	*error_r = mf_strdup_printf("invalid UID set '%s' (expected e.g. 1,3:5,"
	                            "10:* or all)",
	                            str);
	mf_uidset_free(set);
	return -1;
}

bool mf_uidset_contains(const struct mf_uidset *set, uint32_t uid)
{
	for (size_t i = 0; i < set->ranges.count; i++) {
		if (uid >= set->ranges.items[i].first &&
		    uid <= set->ranges.items[i].last)
			return true;
	}
	return false;
}

void mf_uidset_bounds(const struct mf_uidset *set, uint32_t *first_r,
                      uint32_t *last_r)
{
	*first_r = UINT32_MAX;
	*last_r = 0;
	for (size_t i = 0; i < set->ranges.count; i++) {
		if (set->ranges.items[i].first < *first_r)
			*first_r = set->ranges.items[i].first;
		if (set->ranges.items[i].last > *last_r)
			*last_r = set->ranges.items[i].last;
	}
}

void mf_uidset_free(struct mf_uidset *set)
{
	mf_array_free(&set->ranges);
}

void mf_format_date(int64_t t, char out[MF_DATE_STR_SIZE])
{
	time_t tt = (time_t)t;
	struct tm tm;

	out[0] = '\0';
	if (t == 0 || localtime_r(&tt, &tm) == NULL)
		return;
	strftime(out, MF_DATE_STR_SIZE, "%Y-%m-%d %H:%M:%S", &tm);
}

void mf_flags_append(struct mf_buf *buf, uint32_t flags,
                     const char *const *keywords)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
	    {MAILFERRY_FLAG_ANSWERED, "\\Answered"},
	    {MAILFERRY_FLAG_FLAGGED, "\\Flagged"},
	    {MAILFERRY_FLAG_DELETED, "\\Deleted"},
	    {MAILFERRY_FLAG_SEEN, "\\Seen"},
	    {MAILFERRY_FLAG_DRAFT, "\\Draft"},
	    {MAILFERRY_FLAG_RECENT, "\\Recent"},
	};
	size_t start = buf->len;

	for (size_t i = 0; i < MF_N_ELEMENTS(names); i++) {
		if ((flags & names[i].bit) != 0)
			mf_buf_printf(buf, "%s%s", buf->len > start ? " " : "",
			              names[i].name);
	}
	for (; keywords != NULL && *keywords != NULL; keywords++)
		mf_buf_printf(buf, "%s%s", buf->len > start ? " " : "",
		              *keywords);
}
