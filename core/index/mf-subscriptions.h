/* SPDX-License-Identifier: MIT */
/*
 * mf-subscriptions.h - Dovecot's "subscriptions" file (dovecot-formats.md
 * §12). Names are storage names (mUTF-7) whose hierarchy levels are joined
 * with sep (the caller's separator, e.g. '/'); in the version 2 file the
 * levels are separated by TAB and 0x01/TAB/CR/LF are escaped.
 */
#ifndef MF_SUBSCRIPTIONS_H
#define MF_SUBSCRIPTIONS_H

#include <stdint.h>
#include "mf-perm.h"

/* Read path. A missing file gives 0 names. Version 1 files (no "V\t2"
 * header) have one name per line already using the real separator.
 * *names_r is a NULL-terminated allocated array of allocated strings (free
 * with mf_subscriptions_free()). Returns 0 or -1 with *error_r. */
int mf_subscriptions_read(const char *path, char sep, char ***names_r,
                          uint32_t *count_r, char **error_r);
/* Replace path atomically (tmp + rename) with a version 2 file listing
 * names in the given order. Returns 0 or -1 with *error_r. */
int mf_subscriptions_write(const char *path, char sep, const char *const *names,
                           uint32_t count, unsigned int mode, char **error_r);
/* The same, creating the file with perm's mode and owner (mf-perm.h). */
int mf_subscriptions_write_perm(const char *path, char sep,
                                const char *const *names, uint32_t count,
                                const struct mf_perm *perm, char **error_r);
void mf_subscriptions_free(char ***names);

#endif
