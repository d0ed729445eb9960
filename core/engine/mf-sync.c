/* SPDX-License-Identifier: MIT */
/*
 * mf_sync_run(): one sync session. Order (dsync reference §1.2): per-user
 * lock, state import, tree sync, then every selected mailbox known on both
 * sides, state export, purge, summary.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "mf-alloc.h"
#include "mf-driver.h"
#include "mf-hex.h"
#include "mf-log.h"
#include "mf-sync-private.h"

#define DEFAULT_COMMIT_INTERVAL 100
#define ALT_CHAR '_'

void mf_sync_changed(struct mf_sync_ctx *ctx, const char *fmt, ...)
{
	va_list args;
	char *text;
	struct mf_buf buf = MF_BUF_INIT;

	va_start(args, fmt);
	mf_buf_vprintf(&buf, fmt, args);
	va_end(args);
	text = mf_buf_detach(&buf);
	mf_debug("change during sync: %s", text);
	ctx->res->changes_during_sync = true;
	if (ctx->res->reason == NULL)
		ctx->res->reason = text;
	else
		free(text);
}

int mf_sync_fail(struct mf_sync_ctx *ctx, int code, const char *fmt, ...)
{
	va_list args;
	struct mf_buf buf = MF_BUF_INIT;

	va_start(args, fmt);
	mf_buf_vprintf(&buf, fmt, args);
	va_end(args);
	if (ctx->res->error == NULL)
		ctx->res->error = mf_buf_detach(&buf);
	else
		mf_buf_free(&buf);
	ctx->failed = true;
	return code < 0 ? code : MAILFERRY_E_TEMP;
}

void mf_sync_note(struct mf_sync_ctx *ctx, const struct mf_sync_side *s,
                  const char *fmt, ...)
{
	va_list args;
	struct mf_buf buf = MF_BUF_INIT;

	if (!ctx->p->dry_run && mf_log_get_level() > MF_LOG_DEBUG)
		return;
	va_start(args, fmt);
	mf_buf_vprintf(&buf, fmt, args);
	va_end(args);
	if (ctx->p->dry_run)
		fprintf(ctx->out, "dry-run: %s: %s\n", s->label,
		        mf_buf_str(&buf));
	else
		mf_debug("%s: %s", s->label, mf_buf_str(&buf));
	mf_buf_free(&buf);
}

const char *mf_sync_side_error(const struct mf_sync_side *s)
{
	const char *text = s->st->last_error_text;

	return text != NULL && text[0] != '\0' ? text : "unknown error";
}

static bool is_sep_char(const struct mf_sync_ctx *ctx, char c)
{
	return c == '/' || c == ctx->side[0].sep || c == ctx->side[1].sep;
}

char *mf_sync_canon_name(const struct mf_sync_ctx *ctx, char sep,
                         const char *real)
{
	char *out = mf_strdup(real);

	for (char *p = out; *p != '\0'; p++) {
		if (*p == sep)
			*p = '/';
		else if (is_sep_char(ctx, *p) || (unsigned char)*p < 0x20 ||
		         *p == 0x7f)
			*p = ALT_CHAR; /* separators and control characters */
	}
	if (strncasecmp(out, "INBOX", 5) == 0 &&
	    (out[5] == '\0' || out[5] == '/'))
		memcpy(out, "INBOX", 5);
	return out;
}

char *mf_sync_side_name(const struct mf_sync_side *s, const char *canon)
{
	char *out = mf_strdup(canon);

	for (char *p = out; *p != '\0'; p++) {
		if (*p == '/')
			*p = s->sep;
	}
	return out;
}

void mf_sync_name_hash(const char *name, uint8_t id_r[16])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	EVP_Digest(name, strlen(name), md, &len, EVP_sha1(), NULL);
	memcpy(id_r, md, 16);
}

/* ----------------------------------------------------------- user lock */

static int take_lock(struct mf_sync_ctx *ctx, int *fd_r)
{
	const struct mf_sync_params *p = ctx->p;
	struct flock fl;
	time_t end = time(NULL) + p->lock_secs;
	int fd;

	*fd_r = -1;
	if (p->lock_secs == 0 || p->lock_path == NULL)
		return 0;
	fd = open(p->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return mf_sync_fail(ctx, MAILFERRY_E_TEMP,
		                    "open(%s) failed: %s", p->lock_path,
		                    strerror(errno));
	mf_zero(&fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	while (fcntl(fd, F_SETLK, &fl) < 0) {
		if (errno != EAGAIN && errno != EACCES && errno != EINTR) {
			int err = errno;
			close(fd);
			return mf_sync_fail(ctx, MAILFERRY_E_TEMP,
			                    "fcntl(%s, F_SETLK) failed: %s",
			                    p->lock_path, strerror(err));
		}
		if (time(NULL) >= end) {
			close(fd);
			return mf_sync_fail(ctx, MAILFERRY_E_INUSE,
			                    "user is locked by another sync: "
			                    "timed out after %u s waiting for "
			                    "%s",
			                    p->lock_secs, p->lock_path);
		}
		usleep(100 * 1000);
	}
	*fd_r = fd;
	return 0;
}

/* --------------------------------------------------------------- run */

static void side_free(struct mf_sync_side *s)
{
	for (size_t i = 0; i < s->nodes.count; i++) {
		free(s->nodes.items[i].name);
		free(s->nodes.items[i].real);
		free(s->nodes.items[i].want);
	}
	mf_array_free(&s->nodes);
	for (size_t i = 0; i < s->subs.count; i++)
		free(s->subs.items[i].name);
	mf_array_free(&s->subs);
	mf_array_free(&s->log);
}

static int cmp_node_ptr(const void *x, const void *y)
{
	const struct mf_tnode *const *a = x, *const *b = y;
	return strcmp((*a)->name, (*b)->name);
}

static int sync_mailboxes(struct mf_sync_ctx *ctx)
{
	struct mf_sync_side *L = &ctx->side[0], *R = &ctx->side[1];
	MF_ARRAY(struct mf_tnode *) boxes = MF_ARRAY_INIT;
	int ret = 0;

	if ((ctx->p->mailbox != NULL && ctx->p->mailbox[0] == '\0') ||
	    (ctx->p->mailbox_guid != NULL && ctx->p->mailbox_guid[0] == '\0'))
		return 0; /* tree only */
	for (size_t i = 0; i < L->nodes.count; i++) {
		struct mf_tnode *n = &L->nodes.items[i];
		if (n->exists && n->is_box)
			mf_array_push(&boxes, n);
	}
	/* the master's order: by name */
	mf_qsort(boxes.items, boxes.count, sizeof(boxes.items[0]),
	         cmp_node_ptr);
	ctx->progress = mf_progress_new(ctx->p->verbose, (unsigned)boxes.count);
	for (size_t i = 0; i < boxes.count && ret >= 0; i++) {
		struct mf_tnode *n0 = boxes.items[i], *n1 = NULL;

		for (size_t k = 0; k < R->nodes.count; k++) {
			struct mf_tnode *c = &R->nodes.items[k];
			if (c->exists && c->is_box &&
			    memcmp(c->guid, n0->guid, 16) == 0) {
				n1 = c;
				break;
			}
		}
		if (n1 == NULL)
			continue; /* not on the other side: -1 "ignore" */
		if (n0->planned && n1->planned)
			continue;
		if (mf_sync_skip_by_listing(ctx, n0, n1))
			continue;
		ret = mf_sync_mailbox(ctx, n0, n1);
	}
	mf_progress_free(&ctx->progress);
	mf_array_free(&boxes);
	return ret;
}

static int import_state(struct mf_sync_ctx *ctx)
{
	const char *error;
	int ret;

	if (ctx->p->state == NULL || ctx->p->state[0] == '\0' || ctx->p->full)
		return 0;
	ret = mf_sync_state_parse(ctx->p->state, &ctx->old_state, &error);
	if (ret == MF_SYNC_STATE_INVALID) {
		mf_warning("saved sync state is invalid (%s), falling back to "
		           "full sync",
		           error);
		mf_sync_state_free(&ctx->old_state);
		ctx->force_full = true;
		return 0;
	}
	ctx->state_mode = true;
	return 0;
}

static int export_state(struct mf_sync_ctx *ctx)
{
	if (ctx->p->state == NULL)
		return 0;
	if (ctx->p->dry_run) {
		/* nothing changed: the old state is still the right one */
		ctx->res->state = mf_strdup(ctx->p->state);
		return 0;
	}
	if (ctx->require_full_resync || ctx->failed) {
		ctx->res->state = mf_strdup("");
		return 0;
	}
	/* start from the imported state, overwrite with this run's results,
	 * drop mailboxes that are gone */
	struct mf_sync_state out = {MF_ARRAY_INIT};
	for (size_t i = 0; i < ctx->new_state.boxes.count; i++)
		mf_array_push(&out.boxes, ctx->new_state.boxes.items[i]);
	for (size_t i = 0; i < ctx->old_state.boxes.count; i++) {
		const struct mf_sync_box_state *b =
		    &ctx->old_state.boxes.items[i];
		bool still = false;

		if (mf_sync_state_find(&out, b->guid) != NULL)
			continue;
		for (size_t k = 0; k < ctx->side[0].nodes.count && !still;
		     k++) {
			const struct mf_tnode *n = &ctx->side[0].nodes.items[k];
			still = n->exists && n->is_box &&
			        memcmp(n->guid, b->guid, 16) == 0;
		}
		if (still)
			mf_array_push(&out.boxes, *b);
	}
	ctx->res->state = mf_sync_state_format(&out);
	mf_sync_state_free(&out);
	return 0;
}

static void init_side(struct mf_sync_ctx *ctx, int i, struct mf_storage *st)
{
	struct mf_sync_side *s = &ctx->side[i];
	const struct mailferry_storage_info *info = st->info;

	s->st = st;
	if (info == NULL)
		st->ops->storage_info(st->st, &info);
	s->sep = info != NULL && info->hier_sep != '\0' ? info->hier_sep : '/';
	s->caps = info != NULL ? info->caps : st->driver->desc->caps;
	if (ctx->source < 0) {
		s->label = i == 0 ? "local" : "remote";
		s->writable = true;
	} else {
		s->label = i == ctx->source ? "source" : "destination";
		s->writable = i != ctx->source;
	}
	if ((s->caps & MAILFERRY_CAP_READONLY) != 0)
		s->writable = false;
	s->keeps_uids = (s->caps & MAILFERRY_CAP_SAVE_UID) != 0;
}

/* What the receiving sides can keep decides how things are matched: a
 * store that cannot take a mailbox GUID (IMAP) gets mailboxes matched by
 * name, one that cannot take a wanted UID gets messages matched by
 * identity only (dsync reference §3.4). A side that only gives (backup
 * source) imposes nothing. */
static void decide_matching(struct mf_sync_ctx *ctx)
{
	for (int i = 0; i < 2; i++) {
		const struct mf_sync_side *s = &ctx->side[i];

		if (!s->writable)
			continue;
		if ((s->caps & MAILFERRY_CAP_MAILBOX_GUIDS) == 0)
			ctx->by_name = true;
		if (!s->keeps_uids)
			ctx->id_mode = true;
	}
	if (ctx->by_name)
		mf_debug("mailbox GUIDs cannot be kept: matching mailboxes by "
		         "name");
	if (ctx->id_mode)
		mf_debug("UIDs cannot be kept: matching messages by %s only",
		         ctx->use_guids ? "GUID" : "header hash");
}

static bool decide_guids(const struct mf_sync_ctx *ctx)
{
	uint32_t c0 = ctx->side[0].caps, c1 = ctx->side[1].caps;
	const uint32_t need = MAILFERRY_CAP_MSG_GUIDS;

	if ((c0 & need) == 0 || (c1 & need) == 0)
		return false;
	/* every side that receives messages must keep the GUIDs */
	for (int i = 0; i < 2; i++) {
		if (ctx->side[i].writable &&
		    (ctx->side[i].caps & MAILFERRY_CAP_SAVE_GUID) == 0)
			return false;
	}
	return true;
}

static double now_secs(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int mf_sync_run(const struct mf_sync_params *params, struct mf_storage *local,
                struct mf_storage *remote, struct mf_sync_result *result_r)
{
	struct mf_sync_ctx ctx;
	double start = now_secs();
	int lock_fd = -1, ret;

	mf_zero(result_r);
	mf_zero(&ctx);
	ctx.p = params;
	ctx.res = result_r;
	ctx.out = params->out != NULL ? params->out : stdout;
	ctx.commit_interval = params->commit_interval != 0
	                          ? params->commit_interval
	                          : DEFAULT_COMMIT_INTERVAL;
	ctx.source = params->mode == MF_ENGINE_TWOWAY ? -1
	             : params->reverse                ? 1
	                                              : 0;
	init_side(&ctx, 0, local);
	init_side(&ctx, 1, remote);
	if (params->mode != MF_ENGINE_TWOWAY &&
	    !ctx.side[1 - ctx.source].writable) {
		ret =
		    mf_sync_fail(&ctx, MAILFERRY_E_PERM,
		                 "%s is read-only and cannot be a destination",
		                 ctx.side[1 - ctx.source].st->location);
		goto out;
	}
	if (params->mode == MF_ENGINE_TWOWAY &&
	    (!ctx.side[0].writable || !ctx.side[1].writable)) {
		ret = mf_sync_fail(&ctx, MAILFERRY_E_PERM,
		                   "two-way sync needs both stores writable; "
		                   "use backup for a read-only source");
		goto out;
	}
	ctx.use_guids = decide_guids(&ctx);
	if (!ctx.use_guids)
		mf_debug("message GUIDs not usable on both sides: matching "
		         "messages by header hash");
	decide_matching(&ctx);
	ret = take_lock(&ctx, &lock_fd);
	if (ret < 0)
		goto out;
	ret = import_state(&ctx);
	if (ret == 0)
		ret = mf_sync_tree(&ctx);
	if (ret == 0)
		ret = sync_mailboxes(&ctx);
	if (ret == 0)
		export_state(&ctx);
	else if (params->state != NULL)
		result_r->state = mf_strdup("");
	if (ret == 0 && params->purge && !params->dry_run) {
		struct mf_storage *dst =
		    ctx.source >= 0 ? ctx.side[1 - ctx.source].st : remote;
		if (MF_HAS_OP(dst, purge)) {
			ret = dst->ops->purge(dst->st);
			if (ret < 0)
				ret =
				    mf_sync_fail(&ctx, ret, "purge failed: %s",
				                 dst->last_error_text != NULL
				                     ? dst->last_error_text
				                     : "");
		}
	}
out:
	if (lock_fd >= 0)
		close(lock_fd);
	side_free(&ctx.side[0]);
	side_free(&ctx.side[1]);
	mf_sync_state_free(&ctx.old_state);
	mf_sync_state_free(&ctx.new_state);
	result_r->seconds = now_secs() - start;
	if (ret < 0 && result_r->error == NULL)
		result_r->error = mf_strdup("sync failed");
	return ret;
}

void mf_sync_result_free(struct mf_sync_result *result)
{
	mf_free(&result->reason);
	mf_free(&result->error);
	mf_free(&result->state);
}

int mf_sync_exit_code(int ret, const struct mf_sync_result *result)
{
	switch (ret) {
	case 0:
		return result->changes_during_sync ? 2 : 0;
	case MAILFERRY_E_PERM:
		return 77; /* EX_NOPERM */
	case MAILFERRY_E_NOSPACE:
		return 73; /* EX_CANTCREAT, dsync's quota code */
	case MAILFERRY_E_NOTFOUND:
		return 68; /* EX_NOHOST: dsync's "not found" */
	case MAILFERRY_E_INVALID:
		return 64; /* EX_USAGE */
	case MAILFERRY_E_NOTSUPP:
	case MAILFERRY_E_INVALIDDATA:
		return 65; /* EX_DATAERR: not possible */
	default:
		return 75; /* EX_TEMPFAIL */
	}
}

char *mf_sync_summary(const struct mf_sync_result *r)
{
	return mf_strdup_printf(
	    "%u mailboxes created, %u deleted, %u renamed; %llu messages "
	    "saved, %llu expunged, %llu flag changes, %llu moved to new "
	    "UIDs; %llu bytes; %.1f s",
	    r->boxes_created, r->boxes_deleted, r->boxes_renamed,
	    (unsigned long long)r->msgs_saved,
	    (unsigned long long)r->msgs_expunged,
	    (unsigned long long)r->msgs_flag_changed,
	    (unsigned long long)r->msgs_moved, (unsigned long long)r->bytes,
	    r->seconds);
}
