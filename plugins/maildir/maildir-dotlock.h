/* SPDX-License-Identifier: MIT */
/*
 * maildir-dotlock.h - Dovecot-compatible dot-locks ("<file>.lock").
 * The lock file is created with O_EXCL and holds "<pid>:<hostname>", so
 * Dovecot (and we) can tell a stale lock of a dead local process. A lock
 * whose file has not changed for stale_secs is also taken over, as Dovecot
 * does for dovecot-uidlist.lock (120 s).
 */
#ifndef MAILDIR_DOTLOCK_H
#define MAILDIR_DOTLOCK_H

#include <sys/types.h>
#include "mf-common.h"
#include "mf-perm.h"

struct maildir_dotlock;

/* Take the lock for path (the lock file is path + ".lock", made with
 * perm's owner; NULL: ours), waiting up to timeout_secs. Returns 1 and
 * *lock_r, 0 on timeout, or -1 with *error_r (allocated) on another error
 * (errno kept, e.g. EACCES, ENOENT). */
int maildir_dotlock_take(const char *path, const struct mf_perm *perm,
                         unsigned int timeout_secs, unsigned int stale_secs,
                         struct maildir_dotlock **lock_r, char **error_r);

/* Refresh the lock file's mtime so others do not think it stale. */
void maildir_dotlock_touch(struct maildir_dotlock *lock);

/* True when the lock file is still ours (nobody overrode it). */
bool maildir_dotlock_is_ours(const struct maildir_dotlock *lock);

/* Remove the lock (only if it is still ours) and free it; NULLs *lock. */
void maildir_dotlock_release(struct maildir_dotlock **lock);

#endif
