/* SPDX-License-Identifier: MIT */
/* mf-cli-util.h - small parsers shared by the mailbox and fetch commands. */
#ifndef MF_CLI_UTIL_H
#define MF_CLI_UTIL_H

#include <mailferry/driver.h>
#include <time.h>

#include "mf-array.h"

/* IMAP LIST-style mask: '*' matches anything, '%' anything but sep.
 * "INBOX" (the name or the mask's first level) matches in any case. */
bool mf_mask_match(const char *mask, const char *name, char sep);

/* A UID set "1,3:5,10:*" ('*' = the highest UID) or "all". */
struct mf_uidset {
	MF_ARRAY(struct mailferry_uid_range) ranges;
};
/* Returns 0, or -1 with *error_r allocated naming str. */
int mf_uidset_parse(const char *str, struct mf_uidset *set, char **error_r);
bool mf_uidset_contains(const struct mf_uidset *set, uint32_t uid);
/* Lowest and highest UID the set can contain. */
void mf_uidset_bounds(const struct mf_uidset *set, uint32_t *first_r,
                      uint32_t *last_r);
void mf_uidset_free(struct mf_uidset *set);

/* "YYYY-MM-DD HH:MM:SS" in local time, as doveadm prints dates; "" for 0.
 * out must hold MF_DATE_STR_SIZE bytes. */
#define MF_DATE_STR_SIZE 32
void mf_format_date(int64_t t, char out[MF_DATE_STR_SIZE]);

/* Flags as IMAP writes them: "\Answered \Flagged \Deleted \Seen \Draft
 * \Recent" (those set), then the keywords; appended to buf. */
struct mf_buf;
void mf_flags_append(struct mf_buf *buf, uint32_t flags,
                     const char *const *keywords);

#endif
