/* SPDX-License-Identifier: MIT */
/*
 * Synchronising the in-memory view of a mailbox with the disk: scan cur/
 * and new/, match files to dovecot-uidlist records by base name, give new
 * files UIDs and forget vanished ones under the uidlist lock, then let the
 * index record the differences (maildir-index.c).
 *
 * Concurrency: files may be renamed (flag changes, new/ -> cur/) by others
 * while we scan, so readdir() can miss a file. A record whose file was not
 * seen is only treated as expunged after a second scan confirms it, and
 * UIDs are only ever assigned with the lock held after re-reading the
 * uidlist, exactly like Dovecot, so a UID is never given twice.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "mf-alloc.h"
#include "mf-hex.h"
#include "mf-index.h"
#include "mf-uidvalidity.h"
#include "maildir-journal.h"
#include "maildir-storage.h"

struct scan_file {
	/* in scan.names; the base name is its first base_len bytes (no
	 * copy of its own: a scan of a big mailbox is one per message) */
	const char *fname;
	size_t base_len;
	bool in_new;
	bool matched;
	uint32_t uid; /* assigned UID when new */
	/* while assign_uids() runs: the save journal's record of a new
	 * file, NULL when it has none */
	const struct maildir_uidlist_rec *jrec;
};

struct scan {
	MF_ARRAY(struct scan_file) files; /* sorted by base */
	/* the files' names, which build_msgs() hands on to box->msgs */
	struct maildir_strpool *names;
	/* for every uidlist record (same order): index into files or -1 */
	MF_ARRAY(long) rec_file;
	size_t missing_count, new_count;
};

static void scan_free(struct scan *s)
{
	mf_array_free(&s->files);
	maildir_strpool_unref(&s->names);
	mf_array_free(&s->rec_file);
	mf_zero(s);
}

void maildir_guid128(const char *guid, uint8_t out[16])
{
	unsigned char sha[SHA_DIGEST_LENGTH];

	if (mf_guid128_from_hex(guid, out) == 0)
		return;
	SHA1((const unsigned char *)guid, strlen(guid), sha);
	memcpy(out, sha + SHA_DIGEST_LENGTH - 16, 16);
}

static int scan_dir(struct mailferry_mailbox *box, const char *sub, bool in_new,
                    struct scan *s)
{
	struct mailferry_storage *storage = box->storage;
	char *path = mf_strdup_printf("%s/%s", box->path, sub);
	DIR *dir = opendir(path);
	struct dirent *d;

	if (dir == NULL) {
		int err = errno;

		box->dirs_valid = false;
		if (err == ENOENT) {
			/* Dovecot recreates missing cur/new/tmp */
			maildir_log_warning(storage, "%s: missing, %s", path,
			                    storage->readonly
			                        ? "treating it as empty"
			                        : "creating it");
			if (!storage->readonly &&
			    mf_perm_mkdir(&box->perm, path) < 0 &&
			    errno != EEXIST)
				maildir_log_warning(storage,
				                    "mkdir(%s) failed: %s",
				                    path, strerror(errno));
			free(path);
			return 0;
		}
		free(path);
		return maildir_error(storage, maildir_errno_code(err),
		                     "opendir(%s/%s) failed: %s", box->path,
		                     sub, strerror(err));
	}
	{
		/* the directory as it was before reading it: a change
		 * during the scan changes its mtime again */
		struct stat st;
		uint32_t *hdr = in_new ? &box->dirs.new_check_time
		                       : &box->dirs.cur_check_time;

		if (fstat(dirfd(dir), &st) == 0) {
			hdr[0] = (uint32_t)time(NULL);
			hdr[1] = (uint32_t)st.st_mtime;
			hdr[2] = (uint32_t)st.st_mtim.tv_nsec;
		} else {
			box->dirs_valid = false;
		}
	}
	while ((d = readdir(dir)) != NULL) {
		struct scan_file *f;

		if (d->d_name[0] == '.')
			continue;
		if (d->d_type == DT_DIR)
			continue;
		if (!maildir_fname_is_valid(d->d_name)) {
			maildir_log_warning(storage,
			                    "%s/%s: file name cannot be a "
			                    "message, ignoring it",
			                    path, d->d_name);
			continue;
		}
		if (s->names == NULL)
			s->names = maildir_strpool_new();
		f = mf_array_append_zero(&s->files);
		f->fname = maildir_strpool_strdup(s->names, d->d_name);
		f->base_len = maildir_fname_base_len(d->d_name);
		f->in_new = in_new;
	}
	closedir(dir);
	free(path);
	return 0;
}

/* strcmp() order of two base names given with their lengths */
static int cmp_base(const char *a, size_t alen, const char *b, size_t blen)
{
	int ret = memcmp(a, b, alen < blen ? alen : blen);

	if (ret != 0)
		return ret;
	return alen < blen ? -1 : alen > blen;
}

static bool same_base(const struct scan_file *a, const struct scan_file *b)
{
	return cmp_base(a->fname, a->base_len, b->fname, b->base_len) == 0;
}

static int cmp_file(const void *a, const void *b)
{
	const struct scan_file *fa = a, *fb = b;
	int ret = cmp_base(fa->fname, fa->base_len, fb->fname, fb->base_len);

	if (ret != 0)
		return ret;
	/* cur/ before new/ so that the cur/ copy wins on duplicates */
	return (int)fa->in_new - (int)fb->in_new;
}

static bool same_file(const char *a, const char *b, bool *a_gone_r,
                      bool *b_gone_r)
{
	struct stat sa, sb;

	*a_gone_r = stat(a, &sa) < 0 && errno == ENOENT;
	*b_gone_r = stat(b, &sb) < 0 && errno == ENOENT;
	return !*a_gone_r && !*b_gone_r && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* Two files share a base name. Either a rename raced with our scan (one of
 * them is gone or both are the same inode: keep one), or there really are
 * two messages: give the second a new base name so it gets its own UID,
 * as Dovecot does. */
static void resolve_duplicate(struct mailferry_mailbox *box, struct scan *s,
                              struct scan_file *keep, struct scan_file *dup,
                              bool *drop_keep_r, bool *drop_dup_r)
{
	struct mailferry_storage *storage = box->storage;
	char *pk = mf_strdup_printf("%s/%s/%s", box->path,
	                            keep->in_new ? "new" : "cur", keep->fname);
	char *pd = mf_strdup_printf("%s/%s/%s", box->path,
	                            dup->in_new ? "new" : "cur", dup->fname);
	bool k_gone, d_gone;

	*drop_keep_r = *drop_dup_r = false;
	if (same_file(pk, pd, &k_gone, &d_gone) || d_gone) {
		*drop_dup_r = true;
	} else if (k_gone) {
		*drop_keep_r = true;
	} else if (storage->readonly) {
		maildir_log_warning(storage,
		                    "%s and %s have the same base name; "
		                    "the second one is not visible until "
		                    "the store is writable",
		                    pk, pd);
		*drop_dup_r = true;
	} else {
		struct mf_buf nb = MF_BUF_INIT, nf = MF_BUF_INIT;
		const char *colon = dup->fname + dup->base_len;
		char *np;

		maildir_fname_generate(&nb);
		mf_buf_append_str(&nf, mf_buf_str(&nb));
		mf_buf_append_str(&nf, colon);
		np = mf_strdup_printf("%s/%s/%s", box->path,
		                      dup->in_new ? "new" : "cur",
		                      mf_buf_str(&nf));
		if (rename(pd, np) == 0) {
			maildir_log_warning(storage,
			                    "%s: duplicate base name of %s, "
			                    "renamed to %s",
			                    pd, pk, np);
			dup->fname =
			    maildir_strpool_strdup(s->names, mf_buf_str(&nf));
			dup->base_len = nb.len;
		} else {
			maildir_log_warning(storage,
			                    "%s: duplicate base name of %s, "
			                    "rename(%s) failed: %s",
			                    pd, pk, np, strerror(errno));
			*drop_dup_r = true;
		}
		free(np);
		mf_buf_free(&nb);
		mf_buf_free(&nf);
	}
	free(pk);
	free(pd);
}

static int do_scan(struct mailferry_mailbox *box, struct scan *s)
{
	int ret;
	size_t kept = 0;
	bool renamed = false;

	scan_free(s);
	box->dirs_valid = true; /* unless scan_dir() says otherwise */
	/* new/ first: a message moving new/ -> cur/ meanwhile is then seen
	 * at least once */
	if ((ret = scan_dir(box, "new", true, s)) < 0 ||
	    (ret = scan_dir(box, "cur", false, s)) < 0)
		return ret;
	if (s->files.count > 1)
		qsort(s->files.items, s->files.count, sizeof(struct scan_file),
		      cmp_file);
	for (size_t i = 0; i < s->files.count; i++) {
		struct scan_file *f = &s->files.items[i];

		if (kept > 0 && same_base(&s->files.items[kept - 1], f)) {
			struct scan_file *k = &s->files.items[kept - 1];
			bool drop_k, drop_f;

			resolve_duplicate(box, s, k, f, &drop_k, &drop_f);
			if (drop_k) {
				*k = *f;
				continue;
			}
			if (drop_f)
				continue;
			/* f was renamed to a new unique base: keep both;
			 * order is restored by the re-sort below */
			renamed = true;
		}
		s->files.items[kept++] = *f;
	}
	s->files.count = kept;
	if (renamed)
		qsort(s->files.items, s->files.count, sizeof(struct scan_file),
		      cmp_file);
	return 0;
}

static long find_file(struct scan *s, const char *base)
{
	size_t lo = 0, hi = s->files.count, len = strlen(base);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct scan_file *f = &s->files.items[mid];
		int c = cmp_base(f->fname, f->base_len, base, len);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void match(struct mailferry_mailbox *box, struct scan *s)
{
	struct maildir_uidlist *ul = &box->uidlist;

	s->rec_file.count = 0;
	s->missing_count = 0;
	for (size_t i = 0; i < s->files.count; i++)
		s->files.items[i].matched = false;
	for (size_t i = 0; i < ul->recs.count; i++) {
		long fi = find_file(s, ul->recs.items[i].base);

		mf_array_push(&s->rec_file, fi);
		if (fi < 0)
			s->missing_count++;
		else
			s->files.items[fi].matched = true;
	}
	s->new_count = 0;
	for (size_t i = 0; i < s->files.count; i++) {
		if (!s->files.items[i].matched)
			s->new_count++;
	}
}

/* Records the second scan missed but the first one saw: their files keep
 * the first scan's names. Returns how many were carried. */
static size_t carry_over(struct mailferry_mailbox *box, struct scan *s,
                         const struct scan *prev)
{
	const struct maildir_uidlist *ul = &box->uidlist;
	size_t carried = 0;

	for (size_t i = 0; i < ul->recs.count; i++) {
		const struct scan_file *pf;
		struct scan_file *f;

		if (s->rec_file.items[i] >= 0 || prev->rec_file.items[i] < 0)
			continue;
		pf = &prev->files.items[prev->rec_file.items[i]];
		if (s->names == NULL)
			s->names = maildir_strpool_new();
		f = mf_array_append_zero(&s->files);
		f->fname = maildir_strpool_strdup(s->names, pf->fname);
		f->base_len = pf->base_len;
		f->in_new = pf->in_new;
		carried++;
	}
	return carried;
}

/* Scan; if records lack their file, scan again before believing it. A
 * rename racing a readdir() hides that file from that one scan only, and
 * a mail client renaming files all the time may hide a different file
 * from each scan: a record counts as expunged only when both scans miss
 * it. One the second scan alone missed keeps the name the first scan saw
 * (if it was renamed meanwhile, its flags are a scan old and a read of it
 * looks it up again; if it was expunged meanwhile, the next sync sees
 * that twice). */
static int scan_and_match(struct mailferry_mailbox *box, struct scan *s)
{
	struct scan prev;
	int ret;

	if ((ret = do_scan(box, s)) < 0)
		return ret;
	match(box, s);
	if (s->missing_count == 0)
		return 0;
	prev = *s;
	mf_zero(s);
	maildir_race_point("rescan");
	if ((ret = do_scan(box, s)) < 0) {
		scan_free(&prev);
		return ret;
	}
	maildir_race_point("rescanned");
	match(box, s);
	if (s->missing_count > 0 && carry_over(box, s, &prev) > 0) {
		qsort(s->files.items, s->files.count, sizeof(struct scan_file),
		      cmp_file);
		match(box, s);
	}
	scan_free(&prev);
	return 0;
}

int maildir_uidlist_lock(struct mailferry_mailbox *box,
                         struct maildir_dotlock **lock_r)
{
	struct mailferry_storage *storage = box->storage;
	char *path =
	    mf_strdup_printf("%s/" MAILDIR_UIDLIST_NAME, box->control_dir);
	char *error = NULL;
	int ret = maildir_dotlock_take(
	    path, &box->perm, storage->lock_timeout_secs,
	    MAILDIR_UIDLIST_LOCK_STALE_SECS, lock_r, &error);

	free(path);
	if (ret > 0)
		return 0;
	ret = maildir_error(
	    storage, ret == 0 ? MAILFERRY_E_INUSE : maildir_errno_code(errno),
	    "mailbox %s: %s", box->vname, error);
	free(error);
	return ret;
}

static bool file_id_get(const char *path, struct maildir_file_id *id)
{
	struct stat st;

	mf_zero(id);
	if (stat(path, &st) < 0)
		return false;
	id->valid = true;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = st.st_size;
	id->mtime = st.st_mtim;
	return true;
}

static bool file_id_equal(const struct maildir_file_id *a,
                          const struct maildir_file_id *b)
{
	return a->valid && b->valid && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

void maildir_uidlist_remember(struct mailferry_mailbox *box)
{
	char *path =
	    mf_strdup_printf("%s/" MAILDIR_UIDLIST_NAME, box->control_dir);

	(void)file_id_get(path, &box->uidlist_id);
	free(path);
}

static int read_uidlist(struct mailferry_mailbox *box)
{
	char *path =
	    mf_strdup_printf("%s/" MAILDIR_UIDLIST_NAME, box->control_dir);
	struct maildir_file_id before, after;
	char *error = NULL;
	int ret = 0;

	(void)file_id_get(path, &before);
	if (maildir_uidlist_read(&box->uidlist, path, &box->storage->warn,
	                         &error) < 0) {
		ret = maildir_error(box->storage, maildir_errno_code(errno),
		                    "%s", error);
		free(error);
	}
	/* only trust the identity when the file did not change while we
	 * read it */
	(void)file_id_get(path, &after);
	box->uidlist_id = after;
	if (ret < 0 || !file_id_equal(&before, &after))
		box->uidlist_id.valid = false;
	free(path);
	return ret;
}

static int read_keywords(struct mailferry_mailbox *box)
{
	char *path =
	    mf_strdup_printf("%s/" MAILDIR_KEYWORDS_NAME, box->control_dir);
	char *error = NULL;
	int ret = 0;

	if (maildir_keywords_read(&box->keywords, path, &box->storage->warn,
	                          &error) < 0) {
		ret = maildir_error(box->storage, maildir_errno_code(errno),
		                    "%s", error);
		free(error);
	}
	free(path);
	return ret;
}

/* The files a killed commit renamed (named in the save journal) first,
 * in the order of their planned UIDs, then the others in delivery
 * order. */
static int cmp_new_file(const void *a, const void *b)
{
	const struct scan_file *fa = *(struct scan_file *const *)a;
	const struct scan_file *fb = *(struct scan_file *const *)b;

	if ((fa->jrec != NULL) != (fb->jrec != NULL))
		return fa->jrec != NULL ? -1 : 1;
	if (fa->jrec != NULL && fa->jrec->uid != fb->jrec->uid)
		return fa->jrec->uid < fb->jrec->uid ? -1 : 1;
	return maildir_fname_cmp(fa->fname, fb->fname);
}

/* Records that Dovecot listed after a killed commit without the GUID or
 * POP3 fields the save journal j has for them get those. Returns whether
 * anything changed. */
static bool journal_fill_recs(struct maildir_uidlist *ul,
                              const struct maildir_uidlist *j)
{
	bool changed = false;

	for (size_t i = 0; i < ul->recs.count && j->recs.count > 0; i++) {
		struct maildir_uidlist_rec *rec = &ul->recs.items[i];
		const struct maildir_uidlist_rec *jr;

		if (rec->guid != NULL ||
		    (jr = maildir_journal_find(j, rec->base)) == NULL)
			continue;
		if (jr->guid != NULL) {
			rec->guid = maildir_uidlist_strdup(ul, jr->guid);
			changed = true;
		}
		if (rec->ext == NULL && jr->ext != NULL) {
			rec->ext = maildir_uidlist_strdup(ul, jr->ext);
			changed = true;
		}
	}
	return changed;
}

/* Give every unmatched file a UID, in delivery order. A file the save
 * journal j (may be NULL) names gets its GUID and extensions from there,
 * and the UID its commit meant for it when that is still free. */
static void assign_uids(struct mailferry_mailbox *box, struct scan *s,
                        const struct maildir_uidlist *j)
{
	struct maildir_uidlist *ul = &box->uidlist;
	bool same_uv = j != NULL && j->uidvalidity == ul->uidvalidity;
	struct scan_file **newf;
	struct mf_buf base = MF_BUF_INIT;
	size_t n = 0;

	if (s->new_count == 0)
		return;
	newf = mf_calloc(s->new_count, sizeof(*newf));
	for (size_t i = 0; i < s->files.count; i++) {
		struct scan_file *f = &s->files.items[i];

		if (f->matched)
			continue;
		mf_buf_truncate(&base, 0);
		mf_buf_append(&base, f->fname, f->base_len);
		f->jrec = maildir_journal_find(j, mf_buf_str(&base));
		newf[n++] = f;
	}
	if (n > 1)
		qsort(newf, n, sizeof(*newf), cmp_new_file);
	for (size_t i = 0; i < n; i++) {
		const struct maildir_uidlist_rec *jr = newf[i]->jrec;

		if (ul->next_uid == UINT32_MAX) {
			maildir_log_warning(box->storage,
			                    "mailbox %s: UIDs exhausted, %s "
			                    "gets no UID",
			                    box->vname, newf[i]->fname);
			continue;
		}
		newf[i]->uid = ul->next_uid;
		if (jr != NULL && same_uv && jr->uid > ul->next_uid)
			newf[i]->uid = jr->uid;
		mf_buf_truncate(&base, 0);
		mf_buf_append(&base, newf[i]->fname, newf[i]->base_len);
		maildir_uidlist_add(ul, newf[i]->uid, mf_buf_str(&base),
		                    jr != NULL ? jr->guid : NULL,
		                    jr != NULL ? jr->ext : NULL);
		mf_array_push(&s->rec_file, (long)(newf[i] - s->files.items));
		newf[i]->matched = true;
	}
	mf_buf_free(&base);
	free(newf);
}

static int init_header(struct mailferry_mailbox *box)
{
	struct maildir_uidlist *ul = &box->uidlist;
	char *error = NULL;
	uint32_t uv = 0;

	if (ul->uidvalidity == 0) {
		if (mf_uidvalidity_next_perm(maildir_control_root(box->storage),
		                             &box->storage->perm, &uv,
		                             &error) < 0) {
			maildir_log_warning(box->storage,
			                    "%s, using the time as "
			                    "UIDVALIDITY",
			                    error);
			free(error);
			uv = (uint32_t)time(NULL);
		}
		ul->uidvalidity = uv;
	}
	if (ul->next_uid == 0)
		ul->next_uid = 1;
	if (!ul->have_guid) {
		if (maildir_api->random(ul->guid, sizeof(ul->guid)) < 0)
			return maildir_error(box->storage, MAILFERRY_E_TEMP,
			                     "no random bytes for a GUID");
		ul->have_guid = true;
	}
	ul->version = 3;
	return 0;
}

static void msg_free_owned(struct maildir_msg *msg)
{
	if (msg->fname_owned)
		free((char *)msg->fname);
	if (msg->guid_owned)
		free((char *)msg->guid);
}

void maildir_msgs_clear(struct mailferry_mailbox *box)
{
	for (size_t i = 0; i < box->msgs.count; i++)
		msg_free_owned(&box->msgs.items[i]);
	box->msgs.count = 0;
	maildir_strpool_unref(&box->msg_names);
	maildir_strpool_unref(&box->msg_ul_pool);
}

const char *maildir_msgs_strdup(struct mailferry_mailbox *box, const char *str,
                                size_t len)
{
	if (box->msg_names == NULL)
		box->msg_names = maildir_strpool_new();
	return maildir_strpool_strndup(box->msg_names, str, len);
}

static void build_msgs(struct mailferry_mailbox *box, struct scan *s)
{
	struct maildir_uidlist *ul = &box->uidlist;
	struct mf_buf tmp = MF_BUF_INIT;

	maildir_msgs_clear(box);
	/* the names are the scan's, the GUIDs the records' strings */
	box->msg_names = maildir_strpool_ref(s->names);
	box->msg_ul_pool = maildir_strpool_ref(ul->pool);
	/* exactly what is needed: no doubling slack per message */
	if (box->msgs.cap < ul->recs.count) {
		box->msgs.items = mf_reallocarray(
		    box->msgs.items, ul->recs.count, sizeof(*box->msgs.items));
		box->msgs.cap = ul->recs.count;
	}
	for (size_t i = 0; i < ul->recs.count; i++) {
		const struct maildir_uidlist_rec *rec = &ul->recs.items[i];
		long fi = i < s->rec_file.count ? s->rec_file.items[i] : -1;
		struct maildir_msg *msg;
		const char *v;

		if (fi < 0)
			continue;
		const struct scan_file *f = &s->files.items[fi];

		msg = mf_array_append_zero(&box->msgs);
		msg->uid = rec->uid;
		msg->fname = f->fname; /* box->msg_names is s->names */
		msg->in_new = f->in_new;
		if (maildir_msg_info_parse(f->fname, &msg->info) < 0)
			maildir_log_warning(box->storage,
			                    "%s: too many unknown flag letters "
			                    "in file name; its flags are read "
			                    "but never rewritten",
			                    f->fname);
		msg->guid = rec->guid != NULL ? rec->guid : rec->base;
		msg->psize = msg->vsize = UINT64_MAX;
		if (maildir_fname_get_size(f->fname, 'S', &msg->psize) < 0 &&
		    (v = maildir_uidlist_rec_ext(rec, 'S', &tmp)) != NULL)
			msg->psize = strtoull(v, NULL, 10);
		if (maildir_fname_get_size(f->fname, 'W', &msg->vsize) < 0 &&
		    (v = maildir_uidlist_rec_ext(rec, 'W', &tmp)) != NULL)
			msg->vsize = strtoull(v, NULL, 10);
	}
	mf_buf_free(&tmp);
}

/* Keyword letters used in file names that dovecot-keywords does not map
 * (their names were lost) are named "unknown-<n>" and written to the file,
 * as Dovecot does (maildir_keywords_char_idx()): the messages report that
 * keyword, and the letter stays taken, so that a new keyword never lands
 * on files that had another one. held: the uidlist lock when the caller
 * has it. Returns 0 or an error code. */
static int name_unknown_letters(struct mailferry_mailbox *box,
                                struct maildir_dotlock *held)
{
	struct mailferry_storage *storage = box->storage;
	struct maildir_dotlock *lock = held;
	uint32_t used = 0, missing = 0;
	char *path, *error = NULL;
	int ret = 0;

	for (size_t i = 0; i < box->msgs.count; i++)
		used |= box->msgs.items[i].info.keywords;
	for (int k = 0; k < MAILDIR_MAX_KEYWORDS; k++) {
		if ((used & (1u << k)) != 0 && box->keywords.names[k] == NULL)
			missing |= 1u << k;
	}
	if (missing == 0)
		return 0;
	if (!storage->readonly && lock == NULL) {
		if (maildir_uidlist_lock(box, &lock) < 0)
			lock = NULL; /* named in memory only, as a reader */
		else if ((ret = read_keywords(box)) < 0)
			goto out; /* someone may have named them meanwhile */
	}
	for (int k = 0; k < MAILDIR_MAX_KEYWORDS; k++) {
		struct mf_buf name = MF_BUF_INIT;

		if ((missing & (1u << k)) == 0 ||
		    box->keywords.names[k] != NULL)
			continue;
		mf_buf_printf(&name, "unknown-%d", k);
		while (maildir_keywords_lookup(&box->keywords,
		                               mf_buf_str(&name)) >= 0)
			mf_buf_append_c(&name, '?');
		box->keywords.names[k] = mf_buf_detach(&name);
	}
	if (lock == NULL)
		goto out;
	path = mf_strdup_printf("%s/" MAILDIR_KEYWORDS_NAME, box->control_dir);
	if (maildir_keywords_write(&box->keywords, path, &box->perm,
	                           maildir_fsync_commit(storage), &error) < 0) {
		maildir_log_warning(storage, "%s", error);
		free(error);
	}
	free(path);
out:
	if (lock != held)
		maildir_dotlock_release(&lock);
	return ret;
}

static int cmp_rec_uid(const void *a, const void *b)
{
	const struct maildir_uidlist_rec *ra = a, *rb = b;

	return ra->uid < rb->uid ? -1 : ra->uid > rb->uid;
}

/* The in-memory uidlist is the file's content (plus, for a store we may
 * not write, our own numbering of new files) as long as the file keeps
 * its identity: appends change its size, rewrites its inode. */
static int read_uidlist_if_changed(struct mailferry_mailbox *box)
{
	char *path =
	    mf_strdup_printf("%s/" MAILDIR_UIDLIST_NAME, box->control_dir);
	struct maildir_file_id now;
	bool same;

	(void)file_id_get(path, &now);
	free(path);
	same = file_id_equal(&box->uidlist_id, &now);
	return same ? 0 : read_uidlist(box);
}

int maildir_sync(struct mailferry_mailbox *box, struct maildir_dotlock *held)
{
	return maildir_sync_ext(box, held, NULL, 0, false);
}

int maildir_sync_ext(struct mailferry_mailbox *box,
                     struct maildir_dotlock *held,
                     const struct maildir_expunged *extra, size_t extra_count,
                     bool sync_flag)
{
	struct mailferry_storage *storage = box->storage;
	struct maildir_uidlist *ul = &box->uidlist;
	struct maildir_dotlock *lock = held;
	struct maildir_expunged_list expunged = MF_ARRAY_INIT;
	struct maildir_uidlist journal;
	bool need_write, have_journal = false;
	struct scan s;
	int ret;

	mf_zero(&s);
	mf_zero(&journal);
	if ((ret = read_uidlist_if_changed(box)) < 0 ||
	    (ret = read_keywords(box)) < 0 ||
	    (ret = scan_and_match(box, &s)) < 0)
		goto out;
	/* a save journal left by a killed commit: its records go into
	 * the uidlist (and it away) under the lock */
	need_write = s.new_count > 0 || s.missing_count > 0 ||
	             ul->version != 3 || ul->needs_rewrite ||
	             box->keywords.broken ||
	             maildir_journal_exists(box->control_dir);
	if (need_write && !storage->readonly) {
		if (lock == NULL &&
		    (ret = maildir_uidlist_lock(box, &lock)) < 0) {
			if (ret != MAILFERRY_E_PERM)
				goto out;
			/* not ours to write: numbering stays in memory, so
			 * the index must not claim it matches the files */
			box->dirs_valid = false;
			maildir_log_warning(
			    storage,
			    "mailbox %s: cannot lock the uidlist "
			    "(read-only files?): new messages "
			    "get temporary UIDs",
			    box->vname);
			lock = NULL;
		} else if (held == NULL) {
			/* re-read what others may have written meanwhile */
			if ((ret = read_uidlist_if_changed(box)) < 0 ||
			    (ret = read_keywords(box)) < 0 ||
			    (ret = scan_and_match(box, &s)) < 0)
				goto out;
		}
	}
	if (need_write) {
		/* read now, under the lock (or as a reader of a store we
		 * cannot write, for our view only) */
		if ((ret = maildir_journal_read(box, &journal)) < 0)
			goto out;
		have_journal = ret > 0;
		ret = 0;
		if (ul->version != 3 || ul->uidvalidity == 0 ||
		    !ul->have_guid) {
			if ((ret = init_header(box)) < 0)
				goto out;
		}
		/* forget records whose file is gone (twice confirmed) */
		size_t kept = 0;

		for (size_t i = 0; i < ul->recs.count; i++) {
			struct maildir_uidlist_rec *rec = &ul->recs.items[i];

			if (s.rec_file.items[i] < 0) {
				struct maildir_expunged *e =
				    mf_array_append_zero(&expunged);

				e->uid = rec->uid;
				e->guid = mf_strdup(
				    rec->guid != NULL ? rec->guid : rec->base);
				continue;
			}
			s.rec_file.items[kept] = s.rec_file.items[i];
			ul->recs.items[kept++] = *rec;
		}
		ul->recs.count = kept;
		s.rec_file.count = kept;
		if (have_journal)
			(void)journal_fill_recs(ul, &journal);
		assign_uids(box, &s, have_journal ? &journal : NULL);
		if (ul->recs.count > 1)
			qsort(ul->recs.items, ul->recs.count,
			      sizeof(ul->recs.items[0]), cmp_rec_uid);
		/* rec_file is in record order: rebuild it after the sort */
		match(box, &s);
		if (lock != NULL) {
			char *path = mf_strdup_printf(
			    "%s/" MAILDIR_UIDLIST_NAME, box->control_dir);
			char *error = NULL;

			if (maildir_uidlist_write(ul, path, &box->perm,
			                          maildir_fsync_commit(storage),
			                          &error) < 0) {
				ret = maildir_error(storage,
				                    maildir_errno_code(errno),
				                    "%s", error);
				free(error);
				free(path);
				goto out;
			}
			free(path);
			ul->needs_rewrite = false;
			maildir_uidlist_remember(box);
			if (have_journal)
				maildir_journal_remove(box);
			if (box->keywords.broken) {
				char *kpath = mf_strdup_printf(
				    "%s/" MAILDIR_KEYWORDS_NAME,
				    box->control_dir);

				if (maildir_keywords_write(
				        &box->keywords, kpath, &box->perm,
				        maildir_fsync_commit(storage),
				        &error) < 0) {
					maildir_log_warning(storage, "%s",
					                    error);
					free(error);
				} else {
					box->keywords.broken = false;
				}
				free(kpath);
			}
		}
	}
	build_msgs(box, &s);
	box->names_known = true;
	box->lazy = false;
	if ((ret = name_unknown_letters(box, lock)) < 0)
		goto out;
	for (size_t i = 0; i < extra_count; i++) {
		struct maildir_expunged *e = mf_array_append_zero(&expunged);

		e->uid = extra[i].uid;
		e->guid =
		    extra[i].guid == NULL ? NULL : mf_strdup(extra[i].guid);
	}
	if (box->index != NULL) {
		maildir_race_point("index-sync");
		ret = maildir_index_sync(box, expunged.items, expunged.count,
		                         sync_flag);
	}
out:
	if (ret < 0) {
		box->uidlist_id.valid = false;
		box->dirs_valid = false;
	}
	if (lock != held)
		maildir_dotlock_release(&lock);
	for (size_t i = 0; i < expunged.count; i++)
		free(expunged.items[i].guid);
	mf_array_free(&expunged);
	maildir_uidlist_clear(&journal);
	scan_free(&s);
	return ret;
}

/* Whether a directory (as st now) is as a scan at check_time found it
 * (mtime, nsecs), and that scan came late enough to have seen every
 * change of that mtime (Dovecot's DIR_DELAYED_REFRESH rule). */
bool maildir_dir_unchanged(uint32_t check_time, uint32_t mtime, uint32_t nsecs,
                           const struct stat *st)
{
	return check_time > mtime + MAILDIR_SYNC_SECS &&
	       (uint32_t)st->st_mtime == mtime &&
	       (uint32_t)st->st_mtim.tv_nsec == nsecs;
}

static uint32_t abi_flags_of(uint8_t f)
{
	uint32_t out = 0;

	if (f & MF_INDEX_FLAG_ANSWERED)
		out |= MAILFERRY_FLAG_ANSWERED;
	if (f & MF_INDEX_FLAG_FLAGGED)
		out |= MAILFERRY_FLAG_FLAGGED;
	if (f & MF_INDEX_FLAG_DELETED)
		out |= MAILFERRY_FLAG_DELETED;
	if (f & MF_INDEX_FLAG_SEEN)
		out |= MAILFERRY_FLAG_SEEN;
	if (f & MF_INDEX_FLAG_DRAFT)
		out |= MAILFERRY_FLAG_DRAFT;
	return out;
}

/* box->msgs from the uidlist (read already) and the index, which the
 * caller found to describe the mailbox: flags and keyword letters from
 * the index records, file names only for new/ (read, it is small and
 * says what is \Recent). Returns 1 when done, 0 when something does not
 * add up (the caller scans), or an error code. */
static int quick_build(struct mailferry_mailbox *box)
{
	struct maildir_uidlist *ul = &box->uidlist;
	struct mf_index *idx = box->index;
	const struct mf_index_header *ihdr = mf_index_get_header(idx);
	MF_ARRAY(struct maildir_msg) msgs = MF_ARRAY_INIT;
	struct mf_buf tmp = MF_BUF_INIT;
	uint32_t kw_count = 0;
	const char *const *kws = mf_index_keywords(idx, &kw_count);
	const struct mf_index_ext *kwext = mf_index_ext_find(idx, "keywords");
	int letter_of[64];
	bool names_known = true;
	struct scan s;
	int ret = 1;

	if (ul->version != 3 || ul->needs_rewrite || !ul->have_guid ||
	    ul->uidvalidity != ihdr->uid_validity || box->keywords.broken ||
	    mf_index_count(idx) != ul->recs.count || kw_count > 64)
		return 0;
	for (uint32_t k = 0; k < kw_count; k++)
		letter_of[k] = maildir_keywords_lookup(&box->keywords, kws[k]);
	mf_zero(&s);
	if ((ret = scan_dir(box, "new", true, &s)) < 0) {
		scan_free(&s);
		return ret;
	}
	/* exactly what is needed: no doubling slack per message */
	if (ul->recs.count > 0) {
		msgs.items =
		    mf_reallocarray(NULL, ul->recs.count, sizeof(*msgs.items));
		msgs.cap = ul->recs.count;
	}
	ret = 1;
	if (s.files.count > 1)
		qsort(s.files.items, s.files.count, sizeof(struct scan_file),
		      cmp_file);
	for (size_t i = 0; i < ul->recs.count && ret == 1; i++) {
		const struct maildir_uidlist_rec *rec = &ul->recs.items[i];
		const struct mf_index_rec *irec = mf_index_rec_at(idx, i + 1);
		struct maildir_msg *msg;
		long fi = find_file(&s, rec->base);
		const char *v;

		if (irec == NULL || irec->uid != rec->uid ||
		    (irec->flags & MF_INDEX_FLAG_DIRTY) != 0) {
			ret = 0; /* not what the index should say */
			break;
		}
		msg = mf_array_append_zero(&msgs);
		msg->uid = rec->uid;
		if (fi >= 0) {
			struct scan_file *f = &s.files.items[fi];

			f->matched = true;
			msg->fname = f->fname; /* in names */
			msg->in_new = true;
			(void)maildir_msg_info_parse(f->fname, &msg->info);
		} else {
			names_known = false;
			msg->info.has_info = true;
		}
		msg->info.flags = abi_flags_of(irec->flags);
		/* the keyword bits straight from the record: this runs
		 * for every message */
		const uint8_t *kb =
		    kwext == NULL
		        ? NULL
		        : mf_index_rec_ext(idx, (uint32_t)i + 1, kwext);

		for (uint32_t k = 0;
		     kb != NULL && k < kw_count && k / 8 < kwext->record_size;
		     k++) {
			if (letter_of[k] >= 0 && (kb[k / 8] >> (k % 8)) & 1)
				msg->info.keywords |= 1u << letter_of[k];
		}
		/* borrowed: box->msg_ul_pool keeps them */
		msg->guid = rec->guid != NULL ? rec->guid : rec->base;
		msg->psize = msg->vsize = UINT64_MAX;
		if (maildir_fname_get_size(rec->base, 'S', &msg->psize) < 0 &&
		    (v = maildir_uidlist_rec_ext(rec, 'S', &tmp)) != NULL)
			msg->psize = strtoull(v, NULL, 10);
		if (maildir_fname_get_size(rec->base, 'W', &msg->vsize) < 0 &&
		    (v = maildir_uidlist_rec_ext(rec, 'W', &tmp)) != NULL)
			msg->vsize = strtoull(v, NULL, 10);
	}
	/* a file in new/ the uidlist does not list is new mail */
	for (size_t i = 0; i < s.files.count && ret == 1; i++) {
		if (!s.files.items[i].matched)
			ret = 0;
	}
	if (ret == 1) {
		maildir_msgs_clear(box);
		mf_array_free(&box->msgs);
		box->msgs.items = msgs.items;
		box->msgs.count = msgs.count;
		box->msgs.cap = msgs.cap;
		box->msg_names = maildir_strpool_ref(s.names);
		box->msg_ul_pool = maildir_strpool_ref(ul->pool);
		box->names_known = names_known;
	} else {
		/* (nothing in msgs is owned) */
		mf_array_free(&msgs);
	}
	mf_buf_free(&tmp);
	scan_free(&s);
	return ret;
}

/* Whether new/, cur/ and the uidlist (ulid) are as the index's "maildir"
 * header says (into *hdr_r): then the index describes the mailbox. */
static bool index_describes(struct mailferry_mailbox *box,
                            struct maildir_index_hdr *hdr_r,
                            struct maildir_file_id *ulid_r)
{
	struct stat new_st, cur_st;
	char *path;
	bool ok;

	path = mf_strdup_printf("%s/new", box->path);
	ok = stat(path, &new_st) == 0;
	free(path);
	path = mf_strdup_printf("%s/cur", box->path);
	ok = ok && stat(path, &cur_st) == 0;
	free(path);
	path = mf_strdup_printf("%s/" MAILDIR_UIDLIST_NAME, box->control_dir);
	ok = ok && file_id_get(path, ulid_r);
	free(path);
	if (!ok)
		return false;
	/* this handle's own view (when it has one) is still the mailbox */
	if (!box->lazy && box->dirs_valid &&
	    file_id_equal(&box->uidlist_id, ulid_r) &&
	    maildir_dir_unchanged(box->dirs.new_check_time, box->dirs.new_mtime,
	                          box->dirs.new_mtime_nsecs, &new_st) &&
	    maildir_dir_unchanged(box->dirs.cur_check_time, box->dirs.cur_mtime,
	                          box->dirs.cur_mtime_nsecs, &cur_st)) {
		*hdr_r = box->dirs;
		ulid_r->valid = false; /* (says: the in-memory view holds) */
		return mf_index_refresh(box->index) == 0;
	}
	ulid_r->valid = true;
	return mf_index_refresh(box->index) == 0 &&
	       maildir_index_get_dirs_hdr(box, hdr_r) &&
	       maildir_dir_unchanged(hdr_r->new_check_time, hdr_r->new_mtime,
	                             hdr_r->new_mtime_nsecs, &new_st) &&
	       maildir_dir_unchanged(hdr_r->cur_check_time, hdr_r->cur_mtime,
	                             hdr_r->cur_mtime_nsecs, &cur_st) &&
	       hdr_r->uidlist_size == (uint32_t)ulid_r->size &&
	       hdr_r->uidlist_mtime == (uint32_t)ulid_r->mtime.tv_sec &&
	       hdr_r->uidlist_mtime_nsecs == (uint32_t)ulid_r->mtime.tv_nsec;
}

int maildir_sync_try_quick(struct mailferry_mailbox *box)
{
	struct maildir_index_hdr hdr;
	struct maildir_file_id ulid;
	int ret;

	/* a killed commit's journal: only a full sync applies it */
	if (box->index == NULL || maildir_journal_exists(box->control_dir) ||
	    !index_describes(box, &hdr, &ulid))
		return 0;
	if (!ulid.valid) {
		/* box->msgs is still the mailbox */
		maildir_index_fill_modseqs(box);
		return 1;
	}
	if ((ret = read_uidlist_if_changed(box)) < 0 ||
	    (ret = read_keywords(box)) < 0)
		return ret;
	/* the uidlist read must be the one the index describes */
	if (!file_id_equal(&box->uidlist_id, &ulid))
		return 0;
	if ((ret = quick_build(box)) <= 0)
		return ret;
	box->lazy = false;
	box->dirs = hdr;
	box->dirs_valid = true;
	maildir_index_fill_modseqs(box);
	return 1;
}

int maildir_uidlist_read_header(const char *path, struct maildir_uidlist *ul)
{
	char buf[4096];
	const char *nl;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	do {
		n = pread(fd, buf, sizeof(buf), 0);
	} while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0 || (nl = memchr(buf, '\n', (size_t)n)) == NULL)
		return -1;
	maildir_uidlist_parse(ul, path, buf, (size_t)(nl - buf + 1), NULL);
	return ul->version == 3 && ul->have_guid ? 0 : -1;
}

/* Whether the directory at path holds no entries but . and .. */
bool maildir_dir_is_empty(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *d;
	bool empty = dir != NULL;

	while (empty && (d = readdir(dir)) != NULL)
		empty =
		    strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0;
	if (dir != NULL)
		closedir(dir);
	return empty;
}

bool maildir_status_without_new(struct mf_index *index, const char *new_dir)
{
	const struct mf_index_header *ihdr = mf_index_get_header(index);
	const struct mf_index_rec *first = mf_index_rec_at(index, 1);
	uint32_t fr = ihdr->first_recent_uid;

	/* files in new/ are \Recent, so the first of them may be the first
	 * recent UID; not when the index says that is at or below every
	 * UID anyway */
	return (fr != 0 && (first == NULL || fr <= first->uid)) ||
	       maildir_dir_is_empty(new_dir);
}

int maildir_sync_try_lazy(struct mailferry_mailbox *box)
{
	struct maildir_index_hdr hdr;
	struct maildir_file_id ulid;
	struct maildir_uidlist ul;
	const struct mf_index_header *ihdr;
	char *path;
	bool ok;

	if (!box->lazy && box->msgs.count > 0)
		return maildir_sync_try_quick(box);
	if (box->index == NULL || maildir_journal_exists(box->control_dir) ||
	    !index_describes(box, &hdr, &ulid) || !ulid.valid)
		return maildir_sync_try_quick(box);
	path = mf_strdup_printf("%s/new", box->path);
	ok = maildir_status_without_new(box->index, path);
	free(path);
	mf_zero(&ul);
	path = mf_strdup_printf("%s/" MAILDIR_UIDLIST_NAME, box->control_dir);
	ok = ok && maildir_uidlist_read_header(path, &ul) == 0;
	free(path);
	ihdr = mf_index_get_header(box->index);
	ok = ok && ihdr->uid_validity != 0 &&
	     ihdr->uid_validity == ul.uidvalidity &&
	     ihdr->next_uid >= ul.next_uid;
	if (ok)
		memcpy(box->lazy_guid, ul.guid, 16);
	maildir_uidlist_clear(&ul);
	if (!ok)
		return maildir_sync_try_quick(box);
	box->lazy = true;
	box->dirs = hdr;
	box->dirs_valid = true;
	return 1;
}

int maildir_msgs_ensure(struct mailferry_mailbox *box)
{
	if (!box->lazy)
		return 0;
	box->lazy = false;
	return maildir_sync_quick(box);
}

int maildir_sync_quick(struct mailferry_mailbox *box)
{
	int ret = maildir_sync_try_quick(box);

	return ret != 0 ? (ret < 0 ? ret : 0) : maildir_sync(box, NULL);
}

int maildir_names_ensure(struct mailferry_mailbox *box)
{
	return box->names_known ? 0 : maildir_sync(box, NULL);
}

int maildir_sync_refresh_uidlist(struct mailferry_mailbox *box)
{
	char *path =
	    mf_strdup_printf("%s/" MAILDIR_UIDLIST_NAME, box->control_dir);
	struct maildir_file_id now;
	int ret = 0;

	(void)file_id_get(path, &now);
	free(path);
	if (!file_id_equal(&box->uidlist_id, &now))
		ret = read_uidlist(box);
	if (ret == 0)
		ret = read_keywords(box);
	return ret;
}

struct maildir_msg *maildir_msg_find(struct mailferry_mailbox *box,
                                     uint32_t uid)
{
	size_t lo = 0, hi = box->msgs.count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t u = box->msgs.items[mid].uid;

		if (u == uid)
			return &box->msgs.items[mid];
		if (u < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int maildir_msg_info_parse(const char *fname, struct maildir_msg_info *info)
{
	struct maildir_fname_info fi;
	int ret = maildir_fname_parse_info(fname, &fi);

	info->flags = fi.flags;
	info->keywords = fi.keywords;
	info->has_info = fi.has_info;
	info->foreign_info = fi.foreign_info || ret < 0;
	return ret < 0 ? -1 : 0;
}

void maildir_msg_path(struct mailferry_mailbox *box,
                      const struct maildir_msg *msg, struct mf_buf *buf)
{
	mf_buf_truncate(buf, 0);
	mf_buf_printf(buf, "%s/%s/%s", box->path, msg->in_new ? "new" : "cur",
	              msg->fname);
}

const char **maildir_msg_keywords(struct mailferry_mailbox *box,
                                  const struct maildir_msg *msg)
{
	uint32_t kw_count = 0, seq = 0;
	const char *const *kws = NULL;
	const char **names;
	size_t n = 0;

	if (box->index != NULL) {
		kws = mf_index_keywords(box->index, &kw_count);
		seq = mf_index_lookup_uid(box->index, msg->uid);
	}
	names = mf_calloc(MAILDIR_MAX_KEYWORDS + kw_count + 1, sizeof(char *));
	for (int i = 0; i < MAILDIR_MAX_KEYWORDS; i++) {
		if ((msg->info.keywords & (1u << i)) != 0 &&
		    box->keywords.names[i] != NULL)
			names[n++] = box->keywords.names[i];
	}
	/* the keywords Dovecot could not give a letter live only in the
	 * index (maildir-keywords.c: no letter left) */
	for (uint32_t k = 0; seq != 0 && k < kw_count; k++) {
		if (mf_index_rec_has_keyword(box->index, seq, k) &&
		    maildir_keywords_lookup(&box->keywords, kws[k]) < 0)
			names[n++] = kws[k];
	}
	return names;
}
