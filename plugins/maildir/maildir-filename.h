/* SPDX-License-Identifier: MIT */
/*
 * maildir-filename.h - the Maildir file name grammar as Dovecot uses it:
 *   <base>[:2,<flag letters>[,<anything>]]
 * where base = <unique>[,S=<size>][,W=<vsize>][,<other>...]. System flags
 * are D F R S T, keywords the letters a-z (mapped by dovecot-keywords);
 * other letters and text after a second ',' are kept verbatim on rewrite.
 */
#ifndef MAILDIR_FILENAME_H
#define MAILDIR_FILENAME_H

#include "mf-buf.h"

#define MAILDIR_MAX_KEYWORDS 26

struct maildir_fname_info {
	uint32_t flags;    /* MAILFERRY_FLAG_* system flags */
	uint32_t keywords; /* bit i = keyword letter 'a' + i */
	/* Letters that are neither system flags nor keywords, in file order,
	 * plus anything after a second ',' (including that ','). Kept when
	 * the name is rebuilt. NUL-terminated; empty when none. */
	char unknown[64];
	/* The name had a ":2," info part. */
	bool has_info;
	/* An info part that is not ":2," (e.g. ":1,x"): kept as is. */
	bool foreign_info;
};

/* Length of the base name (up to the first ':'). */
size_t maildir_fname_base_len(const char *fname);

/* Parse the info part of fname into *info_r. Never fails: anything not
 * understood is kept in info_r->unknown (a too long unknown part makes
 * the function return -1 so the caller leaves the name untouched). */
int maildir_fname_parse_info(const char *fname,
                             struct maildir_fname_info *info_r);

/* Find ",<type>=<digits>" in the base of fname, terminated by ',' ':' or
 * the end. Returns 0 and the value, or -1 when absent or malformed. */
int maildir_fname_get_size(const char *fname, char type, uint64_t *size_r);

/* Append "<base>:2,<sorted letters>[,rest]" to dest: base is fname up to
 * the first ':', letters the system flags, the keyword letters and the
 * unknown letters of info, sorted by ASCII value as Dovecot writes them. */
void maildir_fname_build(const char *fname,
                         const struct maildir_fname_info *info,
                         struct mf_buf *dest);

/* Append a new unique base name "<secs>.M<usecs>P<pid>.<host>" to dest
 * (hostname with '/' and ':' escaped as Dovecot does). Unique within the
 * process even when called twice in the same microsecond. */
void maildir_fname_generate(struct mf_buf *dest);
/* The same with the "P<pid>.<host>" part given: suffix as
 * maildir_fname_suffix() made it in this process (saves compute it once
 * per transaction: getpid() and gethostname() are system calls). */
void maildir_fname_generate_with(struct mf_buf *dest, const char *suffix);
/* Append "P<pid>.<host>" (escaped) to dest. */
void maildir_fname_suffix(struct mf_buf *dest);

/* The number of LFs in data (size bytes) not preceded by a CR: what the
 * virtual size (CRLF line ends) adds to the size. *last_cr says whether
 * the byte before data was a CR (false at the start) and is updated to
 * the last byte of data, so a stream can be counted in pieces. */
uint64_t maildir_count_bare_lf(const void *data, size_t size, bool *last_cr);

/* Order of two file names for assigning UIDs to new files: by the seconds
 * and microseconds in the unique part when both have them, then by name. */
int maildir_fname_cmp(const char *a, const char *b);

/* True when name is acceptable as a maildir file name: not empty, no '/',
 * not starting with '.', no control characters. */
bool maildir_fname_is_valid(const char *name);

#endif
