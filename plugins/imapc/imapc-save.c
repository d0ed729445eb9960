/* SPDX-License-Identifier: MIT */
/*
 * imapc-save.c - transactions: pipelined APPENDs, flag changes batched
 * into UID STORE by identical flag sets, UID EXPUNGE.
 *
 * IMAP has no multi-command transactions: an APPEND is visible once the
 * server has answered it. Saves are sent as soon as they are finished
 * (pipelined, LITERAL+ when offered) and their bytes kept until the server
 * confirms them, bounded by the window. If the connection drops before a
 * reply, trans_commit() reconnects, looks at the messages that arrived
 * since the transaction's first APPEND (UIDs >= the UIDNEXT seen then) and
 * matches them by size and header bytes, so a message the server did store
 * is not appended twice and one it did not is appended again.
 *
 * trans_commit() reports a save the server refused (NO [LIMIT],
 * [OVERQUOTA]...) as the commit's error, naming the message; the other
 * saves of the transaction stay stored and result_r lists their UIDs (0
 * for the refused ones), since IMAP cannot take them back atomically.
 *
 * copy() of a message of the same mailbox (the engine's "move to a new
 * UID", or a second instance of a message the mailbox already has) is a
 * server-side UID COPY at commit, with COPYUID naming the new UID (so it
 * needs UIDPLUS; else NOTSUPP and the core streams). When the same
 * transaction also expunges the source UID and the server has MOVE
 * (RFC 6851), the pair becomes one UID MOVE: atomic on the server, no
 * \Deleted window, no second copy of the bytes. Copied messages get the
 * save's flags and keywords with UID STORE, like any other flag change.
 * After a lost reply, a COPY is recognised on the server by the source's
 * header and size like an APPEND; a MOVE whose source is gone happened
 * (its new UID is then reported as 0).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "imapc-private.h"

/* Saves bigger than this are spooled to an unlinked temp file. */
#define IMAPC_SAVE_MEM_MAX (1024u * 1024u)
/* Most bytes of a header kept per save (see struct imapc_save.head). */
#define IMAPC_SAVE_HEAD_MAX (256u * 1024u)
/* Longest UID set put in one command line. */
#define IMAPC_MAX_SET_LEN 4000
/* Most messages put in one MULTIAPPEND. */
#define IMAPC_MULTIAPPEND_MAX 50

struct imapc_save {
	size_t index; /* position in save_begin() order */
	struct mf_buf mem;
	int fd; /* spool file, -1 while in memory */
	/* the header and the blank line after it (at most
	 * IMAPC_SAVE_HEAD_MAX bytes): names the message in errors and
	 * recognises it on the server after a lost reply */
	struct mf_buf head;
	uint64_t size;
	bool last_cr;
	uint32_t flags;
	char **keywords;
	int64_t received_date;
	struct imapc_cmd *cmd;
	uint32_t uid;
	bool confirmed;
	int error;
	char *error_text;
	/* copy(): the source UID in the same mailbox (0 for an APPEND),
	 * whether a COPY/MOVE for it went out, and whether it is a MOVE */
	uint32_t copy_src_uid;
	bool copy_sent;
	bool move;
	/* the source already has the save's flags and keywords (as of the
	 * cached listing): no UID STORE needed after the copy */
	bool copy_flags_same;
};

/* Saves sent together in one MULTIAPPEND (atomic on the server: all or
 * none are stored). */
struct imapc_batch {
	struct imapc_cmd *cmd;
	MF_ARRAY(struct imapc_save *) saves;
	uint64_t bytes;
};

struct imapc_flag_op {
	enum mailferry_modify modify;
	uint32_t flags;
	char **keywords;
	MF_ARRAY(struct mailferry_uid_range) ranges;
};

struct mailferry_trans {
	struct imapc_mailbox *box;
	MF_ARRAY(struct imapc_save *) saves;
	struct imapc_save *cur;
	uint32_t uidnext_before;
	bool have_uidnext;
	uint64_t inflight;
	MF_ARRAY(struct imapc_batch *) batches; /* sent */
	struct imapc_batch *open_batch;         /* being filled */
	MF_ARRAY(struct imapc_flag_op) flag_ops;
	MF_ARRAY(struct mailferry_uid_range) expunges;
	MF_ARRAY(uint32_t) result_uids;
	bool failed;
};

/* ---- helpers --------------------------------------------------------- */

void imapc_append_uidset(struct mf_buf *buf,
                         const struct mailferry_uid_range *ranges, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			mf_buf_append_c(buf, ',');
		if (ranges[i].first == ranges[i].last)
			mf_buf_printf(buf, "%u", ranges[i].first);
		else
			mf_buf_printf(buf, "%u:%u", ranges[i].first,
			              ranges[i].last);
	}
}

static bool keyword_valid(const char *kw)
{
	if (*kw == '\0' || *kw == '\\')
		return false;
	for (const unsigned char *p = (const unsigned char *)kw; *p != '\0';
	     p++) {
		if (*p <= 0x20 || *p >= 0x7f || strchr("(){%*\"\\]", *p))
			return false;
	}
	return true;
}

int imapc_append_flag_list(struct mf_buf *buf, uint32_t flags,
                           const char *const *keywords)
{
	static const struct {
		uint32_t flag;
		const char *name;
	} sysflags[] = {
	    {MAILFERRY_FLAG_ANSWERED, "\\Answered"},
	    {MAILFERRY_FLAG_FLAGGED, "\\Flagged"},
	    {MAILFERRY_FLAG_DELETED, "\\Deleted"},
	    {MAILFERRY_FLAG_SEEN, "\\Seen"},
	    {MAILFERRY_FLAG_DRAFT, "\\Draft"},
	};
	bool sp = false;

	mf_buf_append_c(buf, '(');
	for (size_t i = 0; i < MF_N_ELEMENTS(sysflags); i++) {
		if ((flags & sysflags[i].flag) == 0)
			continue;
		mf_buf_printf(buf, "%s%s", sp ? " " : "", sysflags[i].name);
		sp = true;
	}
	for (size_t i = 0; keywords != NULL && keywords[i] != NULL; i++) {
		if (!keyword_valid(keywords[i]))
			return -1;
		mf_buf_printf(buf, "%s%s", sp ? " " : "", keywords[i]);
		sp = true;
	}
	mf_buf_append_c(buf, ')');
	return 0;
}

static char **strv_dup(const char *const *strv)
{
	size_t n = 0;

	if (strv == NULL || strv[0] == NULL)
		return NULL;
	while (strv[n] != NULL)
		n++;
	char **out = mf_calloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i] = mf_strdup(strv[i]);
	return out;
}

static bool strv_equal(char **a, char **b)
{
	size_t i;

	if (a == NULL || b == NULL)
		return a == b;
	for (i = 0; a[i] != NULL && b[i] != NULL; i++) {
		if (strcmp(a[i], b[i]) != 0)
			return false;
	}
	return a[i] == b[i];
}

/* "Mon, 02 Jan 2006" style INTERNALDATE for APPEND. */
static void append_date(struct mf_buf *buf, int64_t t)
{
	static const char months[][4] = {"Jan", "Feb", "Mar", "Apr",
	                                 "May", "Jun", "Jul", "Aug",
	                                 "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL)
		return;
	mf_buf_printf(buf, " \"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday,
	              months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
	              tm.tm_min, tm.tm_sec);
}

static void save_release_data(struct imapc_save *save)
{
	if (save->fd >= 0)
		close(save->fd);
	save->fd = -1;
	mf_buf_free(&save->mem);
}

/* The literal part of an APPEND for save: memory or the spool file. */
static struct imapc_cmd_part save_part(const struct imapc_save *save)
{
	struct imapc_cmd_part part = {
	    save->mem.data, (size_t)save->size, true, false, false, -1};

	if (save->fd >= 0) {
		part.data = NULL;
		part.from_fd = true;
		part.fd = save->fd;
	}
	return part;
}

static void save_free(struct imapc_client *client, struct imapc_save *save)
{
	save_release_data(save);
	mf_buf_free(&save->head);
	imapc_cmd_free(client, &save->cmd);
	imapc_free_strv(&save->keywords);
	free(save->error_text);
	free(save);
}

/* A short name for a save in messages: its Message-ID when it has one. */
static char *save_describe(const struct imapc_save *save)
{
	const char *data = save->head.data;
	size_t len = save->head.len;
	const char *hdr_end = NULL;

	for (size_t i = 0; i + 3 < len; i++) {
		if (memcmp(data + i, "\r\n\r\n", 4) == 0) {
			hdr_end = data + i;
			break;
		}
	}
	if (hdr_end == NULL)
		hdr_end = data + len;
	for (const char *p = data; p != NULL && p < hdr_end;) {
		if ((p == data || p[-1] == '\n') && hdr_end - p > 11 &&
		    strncasecmp(p, "Message-ID:", 11) == 0) {
			const char *e = p + 11;
			while (e < hdr_end && *e != '\r')
				e++;
			const char *s = p + 11;
			while (s < e && *s == ' ')
				s++;
			return mf_strdup_printf(
			    "message #%zu (%llu bytes, Message-ID %.*s)",
			    save->index + 1, (unsigned long long)save->size,
			    (int)MF_MIN(e - s, 200), s);
		}
		p = memchr(p, '\n', (size_t)(hdr_end - p));
		if (p != NULL)
			p++;
	}
	return mf_strdup_printf("message #%zu (%llu bytes, no Message-ID)",
	                        save->index + 1,
	                        (unsigned long long)save->size);
}

/* ---- transaction ----------------------------------------------------- */

struct imapc_storage *imapc_trans_storage(struct mailferry_trans *trans)
{
	return trans->box->storage;
}

int imapc_trans_begin(struct mailferry_mailbox *_box, uint32_t flags,
                      struct mailferry_trans **trans_r)
{
	struct imapc_mailbox *box = (struct imapc_mailbox *)_box;

	(void)flags; /* IMAP has no notion of sync-made changes */
	if (box->readonly)
		return imapc_api->set_error(box->storage->ctx, MAILFERRY_E_PERM,
		                            "mailbox '%s' is open read-only",
		                            box->name);
	struct mailferry_trans *trans = mf_calloc(1, sizeof(*trans));
	trans->box = box;
	*trans_r = trans;
	return 0;
}

/* A pending save or copy of trans with params' flags, keywords and date;
 * INVALID when a keyword cannot be stored over IMAP. */
static int save_new(struct mailferry_trans *trans,
                    const struct mailferry_save *params,
                    struct imapc_save **save_r)
{
	struct imapc_storage *storage = trans->box->storage;
	struct imapc_save *save;

	for (size_t i = 0;
	     params->keywords != NULL && params->keywords[i] != NULL; i++) {
		if (!keyword_valid(params->keywords[i]))
			return imapc_api->set_error(
			    storage->ctx, MAILFERRY_E_INVALID,
			    "keyword '%s' cannot be stored over IMAP",
			    params->keywords[i]);
	}
	save = mf_calloc(1, sizeof(*save));
	save->index = trans->saves.count;
	save->fd = -1;
	save->flags = params->flags & MAILFERRY_FLAGS_MASK;
	save->keywords = strv_dup(params->keywords);
	save->received_date = params->received_date;
	*save_r = save;
	return 0;
}

int imapc_save_begin(struct mailferry_trans *trans,
                     const struct mailferry_save *params)
{
	struct imapc_storage *storage = trans->box->storage;

	if (trans->cur != NULL)
		return imapc_api->set_error(storage->ctx, MAILFERRY_E_INVALID,
		                            "save_begin() while another save "
		                            "is running");
	struct imapc_save *save;
	int ret = save_new(trans, params, &save);
	if (ret < 0)
		return ret;
	trans->cur = save;
	return 0;
}

static int spool_write(struct imapc_storage *storage, struct imapc_save *save,
                       const char *data, size_t len)
{
	if (save->fd < 0 && save->mem.len + len <= IMAPC_SAVE_MEM_MAX) {
		mf_buf_append(&save->mem, data, len);
		return 0;
	}
	if (save->fd < 0) {
		char *error = NULL;

		save->fd = mf_tmpfile_anon("mailferry-imapc", &error);
		if (save->fd < 0) {
			int ret = imapc_api->set_error(
			    storage->ctx, MAILFERRY_E_TEMP,
			    "spooling a message: %s", error);
			free(error);
			return ret;
		}
		if (mf_write_full(save->fd, save->mem.data, save->mem.len) < 0)
			goto fail;
		mf_buf_free(&save->mem);
	}
	if (mf_write_full(save->fd, data, len) < 0)
		goto fail;
	return 0;
fail:
	return imapc_api->set_error(
	    storage->ctx,
	    errno == ENOSPC ? MAILFERRY_E_NOSPACE : MAILFERRY_E_TEMP,
	    "spooling a message: write(): %s", strerror(errno));
}

int imapc_save_write(struct mailferry_trans *trans, const void *data,
                     size_t size)
{
	struct imapc_save *save = trans->cur;
	const char *p = data, *end = p + size, *start = p;
	int ret;

	if (save == NULL)
		return imapc_api->set_error(
		    trans->box->storage->ctx, MAILFERRY_E_INVALID,
		    "save_write() without save_begin()");
	/* IMAP wants CRLF: bare LFs become CRLF */
	for (; p < end; p++) {
		if (*p == '\n' &&
		    !(p > start ? p[-1] == '\r' : save->last_cr)) {
			if (p > start &&
			    (ret = spool_write(trans->box->storage, save, start,
			                       (size_t)(p - start))) < 0)
				return ret;
			if ((ret = spool_write(trans->box->storage, save, "\r",
			                       1)) < 0)
				return ret;
			start = p;
		}
	}
	if (end > start && (ret = spool_write(trans->box->storage, save, start,
	                                      (size_t)(end - start))) < 0)
		return ret;
	if (size > 0)
		save->last_cr = end[-1] == '\r';
	save->size += size;
	return 0;
}

static int save_size_finalize(struct imapc_storage *storage,
                              struct imapc_save *save)
{
	if (save->fd < 0) {
		save->size = save->mem.len;
		return 0;
	}
	off_t len = lseek(save->fd, 0, SEEK_END);
	if (len < 0)
		return imapc_api->set_error(storage->ctx, MAILFERRY_E_TEMP,
		                            "spool file: lseek(): %s",
		                            strerror(errno));
	save->size = (uint64_t)len;
	return 0;
}

/* Keep the header (up to and including the blank line) of save. */
static int save_capture_head(struct imapc_storage *storage,
                             struct imapc_save *save)
{
	size_t want = (size_t)MF_MIN(save->size, IMAPC_SAVE_HEAD_MAX);

	if (save->fd < 0) {
		mf_buf_append(&save->head, save->mem.data, want);
	} else {
		mf_buf_reserve(&save->head, want);
		if (want > 0 &&
		    mf_pread_full(save->fd, save->head.data, want, 0) < 0)
			return imapc_api->set_error(
			    storage->ctx, MAILFERRY_E_TEMP,
			    "spool file: pread(): %s", strerror(errno));
		save->head.len = want;
		save->head.data[want] = '\0';
	}
	for (size_t i = 0; i + 3 < save->head.len; i++) {
		if (memcmp(save->head.data + i, "\r\n\r\n", 4) == 0) {
			mf_buf_truncate(&save->head, i + 4);
			break;
		}
	}
	return 0;
}

/* Send the APPEND of save (pipelined). 0 or -1 (connection problem: the
 * save stays unconfirmed and is resolved at commit). */
static int append_send(struct mailferry_trans *trans, struct imapc_save *save)
{
	struct imapc_storage *storage = trans->box->storage;
	struct imapc_client *client = storage->client;
	struct mf_buf head = MF_BUF_INIT;
	struct imapc_cmd_part parts[3];

	mf_buf_append_str(&head, "APPEND ");
	(void)imapc_append_astring(client, &head, trans->box->remote);
	mf_buf_append_c(&head, ' ');
	(void)imapc_append_flag_list(&head, save->flags,
	                             (const char *const *)save->keywords);
	if (save->received_date > 0)
		append_date(&head, save->received_date);
	mf_buf_append_c(&head, ' ');
	parts[0] = (struct imapc_cmd_part){head.data, head.len, false,
	                                   false,     false,    -1};
	parts[1] = save_part(save);
	imapc_cmd_free(client, &save->cmd);
	save->cmd = imapc_cmd_send_parts(client, parts, 2);
	mf_buf_free(&head);
	if (save->cmd == NULL || (save->cmd->done && save->cmd->disconnected))
		return -1;
	trans->inflight += save->size;
	return 0;
}

/* Look at a finished APPEND. */
static void append_reap(struct mailferry_trans *trans, struct imapc_save *save)
{
	struct imapc_client *client = trans->box->storage->client;
	struct imapc_cmd *cmd = save->cmd;

	if (cmd == NULL || !cmd->done)
		return;
	trans->inflight -= MF_MIN(trans->inflight, save->size);
	if (cmd->disconnected) {
		imapc_cmd_free(client, &save->cmd);
		return; /* unknown: resolved after reconnecting */
	}
	if (cmd->status == IMAPC_STATUS_OK) {
		save->confirmed = true;
		/* APPENDUID; 0 without UIDPLUS */
		save->uid = cmd->append_uid;
		save_release_data(save);
	} else {
		char *what = save_describe(save);
		save->error = imapc_cmd_error_code(cmd);
		if (save->error == MAILFERRY_E_TEMP &&
		    cmd->status == IMAPC_STATUS_NO)
			save->error = MAILFERRY_E_LIMIT;
		save->error_text = mf_strdup_printf(
		    "%s refused by %s: %s%s%s%s", what,
		    imapc_client_peer(client), cmd->code != NULL ? "[" : "",
		    cmd->code != NULL ? cmd->code : "",
		    cmd->code != NULL ? "] " : "", cmd->text);
		free(what);
		save->confirmed = true; /* final: not retried */
		save_release_data(save);
	}
	imapc_cmd_free(client, &save->cmd);
}

static void batch_free(struct imapc_client *client, struct imapc_batch *b)
{
	imapc_cmd_free(client, &b->cmd);
	mf_array_free(&b->saves);
	free(b);
}

/* Send the batch being filled: one APPEND with every message of it
 * (MULTIAPPEND), or a plain APPEND for a single one. */
static void batch_send(struct mailferry_trans *trans)
{
	struct imapc_batch *b = trans->open_batch;
	struct imapc_client *client = trans->box->storage->client;
	struct mf_buf *heads;
	struct imapc_cmd_part *parts;

	trans->open_batch = NULL;
	if (b == NULL)
		return;
	if (b->saves.count == 1) {
		(void)append_send(trans, b->saves.items[0]);
		batch_free(client, b);
		return;
	}
	heads = mf_calloc(b->saves.count, sizeof(*heads));
	parts = mf_calloc(b->saves.count * 2, sizeof(*parts));
	for (size_t i = 0; i < b->saves.count; i++) {
		struct imapc_save *save = b->saves.items[i];
		if (i == 0) {
			mf_buf_append_str(&heads[i], "APPEND ");
			(void)imapc_append_astring(client, &heads[i],
			                           trans->box->remote);
		}
		mf_buf_append_c(&heads[i], ' ');
		(void)imapc_append_flag_list(
		    &heads[i], save->flags,
		    (const char *const *)save->keywords);
		if (save->received_date > 0)
			append_date(&heads[i], save->received_date);
		mf_buf_append_c(&heads[i], ' ');
		parts[2 * i] = (struct imapc_cmd_part){
		    heads[i].data, heads[i].len, false, false, false, -1};
		parts[2 * i + 1] = save_part(save);
	}
	b->cmd = imapc_cmd_send_parts(client, parts, b->saves.count * 2);
	for (size_t i = 0; i < b->saves.count; i++)
		mf_buf_free(&heads[i]);
	free(heads);
	free(parts);
	if (b->cmd == NULL) {
		batch_free(client, b); /* its saves are resolved at commit */
		return;
	}
	trans->inflight += b->bytes;
	mf_array_push(&trans->batches, b);
}

/* Expand an APPENDUID set ("5:7,9") into at most max UIDs. */
static size_t uidset_expand(const char *set, uint32_t *out, size_t max)
{
	size_t n = 0;

	while (set != NULL && *set != '\0' && n < max) {
		char *end;
		unsigned long a = strtoul(set, &end, 10), b = a;
		if (end == set)
			return 0;
		if (*end == ':') {
			set = end + 1;
			b = strtoul(set, &end, 10);
			if (end == set)
				return 0;
		}
		for (unsigned long u = MF_MIN(a, b);
		     u <= MF_MAX(a, b) && n < max; u++)
			out[n++] = (uint32_t)u;
		set = *end == ',' ? end + 1 : end;
		if (*end != ',' && *end != '\0')
			return 0;
	}
	return n;
}

/* Look at a finished MULTIAPPEND. */
static void batch_reap(struct mailferry_trans *trans, struct imapc_batch *b)
{
	struct imapc_client *client = trans->box->storage->client;
	struct imapc_cmd *cmd = b->cmd;

	if (cmd == NULL || !cmd->done)
		return;
	trans->inflight -= MF_MIN(trans->inflight, b->bytes);
	if (cmd->disconnected) {
		imapc_cmd_free(client, &b->cmd);
		return; /* unknown: resolved after reconnecting */
	}
	if (cmd->status == IMAPC_STATUS_OK) {
		uint32_t *uids = mf_calloc(b->saves.count, sizeof(*uids));
		size_t n =
		    uidset_expand(cmd->append_uidset, uids, b->saves.count);
		for (size_t i = 0; i < b->saves.count; i++) {
			struct imapc_save *save = b->saves.items[i];
			save->confirmed = true;
			save->uid = n == b->saves.count ? uids[i] : 0;
			save_release_data(save);
		}
		free(uids);
	} else {
		/* nothing of it was stored: send them one by one so a
		 * refusal names the message it is about */
		for (size_t i = 0; i < b->saves.count; i++)
			(void)append_send(trans, b->saves.items[i]);
	}
	imapc_cmd_free(client, &b->cmd);
}

static void batches_wait(struct mailferry_trans *trans)
{
	struct imapc_client *client = trans->box->storage->client;

	for (size_t i = 0; i < trans->batches.count; i++) {
		struct imapc_batch *b = trans->batches.items[i];
		if (b->cmd != NULL) {
			(void)imapc_cmd_wait(client, b->cmd);
			batch_reap(trans, b);
		}
		batch_free(client, b);
	}
	trans->batches.count = 0;
}

static int uidnext_now(struct mailferry_trans *trans, uint32_t *uidnext_r)
{
	struct mailferry_mailbox_status st;
	int ret =
	    imapc_mailbox_status((struct mailferry_mailbox *)trans->box, &st);

	if (ret == 0)
		*uidnext_r = st.uidnext;
	return ret;
}

int imapc_save_finish(struct mailferry_trans *trans)
{
	struct imapc_save *save = trans->cur;
	struct imapc_storage *storage = trans->box->storage;
	struct imapc_client *client = storage->client;
	int ret;

	if (save == NULL)
		return imapc_api->set_error(storage->ctx, MAILFERRY_E_INVALID,
		                            "save_finish() without "
		                            "save_begin()");
	trans->cur = NULL;
	if ((ret = save_size_finalize(storage, save)) < 0 ||
	    (ret = save_capture_head(storage, save)) < 0) {
		save_free(client, save);
		return ret;
	}
	if (!trans->have_uidnext) {
		if ((ret = uidnext_now(trans, &trans->uidnext_before)) < 0) {
			save_free(client, save);
			return ret;
		}
		trans->have_uidnext = true;
	}
	mf_array_push(&trans->saves, save);
	if ((ret = imapc_box_select(trans->box)) < 0)
		return 0; /* resolved at commit */
	/* bound the bytes in flight: wait for the oldest APPENDs */
	for (size_t i = 0; i < trans->saves.count && trans->inflight > 0 &&
	                   trans->inflight + save->size > storage->window;
	     i++) {
		struct imapc_save *old = trans->saves.items[i];
		if (old->cmd == NULL)
			continue;
		(void)imapc_cmd_wait(client, old->cmd);
		append_reap(trans, old);
	}
	for (size_t i = 0; i < trans->batches.count && trans->inflight > 0 &&
	                   trans->inflight + save->size > storage->window;
	     i++) {
		struct imapc_batch *b = trans->batches.items[i];
		if (b->cmd != NULL) {
			(void)imapc_cmd_wait(client, b->cmd);
			batch_reap(trans, b);
		}
	}
	if (!imapc_client_is_connected(client))
		return 0; /* resolved at commit */
	if ((imapc_client_caps(client) & IMAPC_CAP_MULTIAPPEND) == 0) {
		(void)append_send(trans, save);
		return 0;
	}
	if (trans->open_batch == NULL)
		trans->open_batch = mf_calloc(1, sizeof(*trans->open_batch));
	mf_array_push(&trans->open_batch->saves, save);
	trans->open_batch->bytes += save->size;
	if (trans->open_batch->saves.count >= IMAPC_MULTIAPPEND_MAX ||
	    trans->open_batch->bytes >= storage->window / 4)
		batch_send(trans);
	return 0;
}

void imapc_save_cancel(struct mailferry_trans *trans)
{
	if (trans->cur != NULL)
		save_free(trans->box->storage->client, trans->cur);
	trans->cur = NULL;
}

/* ---- flags and expunges ---------------------------------------------- */

static void add_ranges(void *arr_, const struct mailferry_uidset *uids)
{
	MF_ARRAY(struct mailferry_uid_range) *arr = arr_;

	for (size_t i = 0; i < uids->count; i++)
		mf_array_push(arr, uids->ranges[i]);
}

int imapc_update_flags(struct mailferry_trans *trans,
                       const struct mailferry_uidset *uids,
                       enum mailferry_modify modify, uint32_t flags,
                       const char *const *keywords)
{
	struct mf_buf check = MF_BUF_INIT;

	if (imapc_append_flag_list(&check, flags & MAILFERRY_FLAGS_MASK,
	                           keywords) < 0) {
		mf_buf_free(&check);
		return imapc_api->set_error(trans->box->storage->ctx,
		                            MAILFERRY_E_INVALID,
		                            "a keyword cannot be stored over "
		                            "IMAP (not an atom)");
	}
	mf_buf_free(&check);
	if (uids->count == 0)
		return 0;
	struct imapc_flag_op *op = mf_array_append_zero(&trans->flag_ops);
	op->modify = modify;
	op->flags = flags & MAILFERRY_FLAGS_MASK;
	op->keywords = strv_dup(keywords);
	add_ranges(&op->ranges, uids);
	return 0;
}

int imapc_expunge(struct mailferry_trans *trans,
                  const struct mailferry_uidset *uids)
{
	add_ranges(&trans->expunges, uids);
	return 0;
}

static bool ranges_overlap(const struct imapc_flag_op *a,
                           const struct imapc_flag_op *b)
{
	for (size_t i = 0; i < a->ranges.count; i++) {
		for (size_t j = 0; j < b->ranges.count; j++) {
			if (a->ranges.items[i].first <=
			        b->ranges.items[j].last &&
			    b->ranges.items[j].first <= a->ranges.items[i].last)
				return true;
		}
	}
	return false;
}

static int range_cmp(const void *a, const void *b)
{
	const struct mailferry_uid_range *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* Sort and merge a range list in place. */
static void normalize_ranges(struct mailferry_uid_range *r, size_t *count)
{
	size_t w = 0;

	if (*count > 1)
		mf_qsort(r, *count, sizeof(*r), range_cmp);
	for (size_t i = 0; i < *count; i++) {
		if (w > 0 && (uint64_t)r[w - 1].last + 1 >= r[i].first) {
			if (r[i].last > r[w - 1].last)
				r[w - 1].last = r[i].last;
			continue;
		}
		r[w++] = r[i];
	}
	*count = w;
}

/* Merge flag operations with the same (mode, flags, keywords) into one
 * UID STORE, unless an operation between them touches the same UIDs (then
 * the order matters and they stay apart). */
static void group_flag_ops(struct mailferry_trans *trans)
{
	size_t w = 0;

	for (size_t i = 0; i < trans->flag_ops.count; i++) {
		struct imapc_flag_op *op = &trans->flag_ops.items[i];
		ssize_t target = -1;
		for (size_t g = w; g > 0; g--) {
			struct imapc_flag_op *grp =
			    &trans->flag_ops.items[g - 1];
			if (grp->modify == op->modify &&
			    grp->flags == op->flags &&
			    strv_equal(grp->keywords, op->keywords)) {
				target = (ssize_t)(g - 1);
				break;
			}
			if (ranges_overlap(grp, op))
				break;
		}
		if (target >= 0) {
			struct imapc_flag_op *grp =
			    &trans->flag_ops.items[target];
			for (size_t r = 0; r < op->ranges.count; r++)
				mf_array_push(&grp->ranges,
				              op->ranges.items[r]);
			mf_array_free(&op->ranges);
			imapc_free_strv(&op->keywords);
			continue;
		}
		trans->flag_ops.items[w++] = *op;
	}
	trans->flag_ops.count = w;
	for (size_t i = 0; i < w; i++) {
		struct imapc_flag_op *op = &trans->flag_ops.items[i];
		normalize_ranges(op->ranges.items, &op->ranges.count);
	}
}

/* Send "prefix <set> suffix" commands, splitting long sets, and wait for
 * all of them. 0 or -1 (client error set). */
static int run_set_cmds(struct imapc_client *client, const char *prefix,
                        const struct mailferry_uid_range *ranges, size_t count,
                        const char *suffix, const char *what)
{
	MF_ARRAY(struct imapc_cmd *) cmds = MF_ARRAY_INIT;
	int ret = 0;

	for (size_t i = 0; i < count;) {
		struct mf_buf line = MF_BUF_INIT;
		mf_buf_append_str(&line, prefix);
		size_t start = line.len, n = 0;
		while (i < count &&
		       (n == 0 || line.len - start < IMAPC_MAX_SET_LEN)) {
			imapc_append_uidset(&line, &ranges[i], 1);
			mf_buf_append_c(&line, ',');
			i++;
			n++;
		}
		mf_buf_truncate(&line, line.len - 1);
		mf_buf_append_str(&line, suffix);
		struct imapc_cmd *cmd = imapc_cmd_send(client, line.data, NULL);
		mf_buf_free(&line);
		if (cmd == NULL) {
			ret = -1;
			break;
		}
		mf_array_push(&cmds, cmd);
	}
	for (size_t i = 0; i < cmds.count; i++) {
		struct imapc_cmd *cmd = cmds.items[i];
		if (imapc_cmd_wait(client, cmd) < 0 && ret == 0) {
			ret = -1;
			if (!cmd->disconnected)
				imapc_client_set_error(
				    client, imapc_cmd_error_code(cmd),
				    "%s on %s failed: %s", what,
				    imapc_client_peer(client), cmd->text);
		}
		imapc_cmd_free(client, &cmds.items[i]);
	}
	mf_array_free(&cmds);
	return ret;
}

static int flags_apply(struct mailferry_trans *trans)
{
	struct imapc_client *client = trans->box->storage->client;

	for (size_t i = 0; i < trans->flag_ops.count; i++) {
		struct imapc_flag_op *op = &trans->flag_ops.items[i];
		struct mf_buf suffix = MF_BUF_INIT;
		const char *mode = op->modify == MAILFERRY_MODIFY_ADD      ? "+"
		                   : op->modify == MAILFERRY_MODIFY_REMOVE ? "-"
		                                                           : "";
		if (op->modify != MAILFERRY_MODIFY_REPLACE && op->flags == 0 &&
		    op->keywords == NULL)
			continue;
		mf_buf_printf(&suffix, " %sFLAGS.SILENT ", mode);
		(void)imapc_append_flag_list(&suffix, op->flags,
		                             (const char *const *)op->keywords);
		int ret =
		    run_set_cmds(client, "UID STORE ", op->ranges.items,
		                 op->ranges.count, suffix.data, "UID STORE");
		mf_buf_free(&suffix);
		if (ret < 0)
			return -1;
	}
	return 0;
}

static void search_handler(struct imapc_client *client,
                           const struct imapc_response *resp, void *context)
{
	struct imapc_uid_array *uids = context;

	(void)client;
	if (resp->count >= 1 && imapc_arg_atom_eq(&resp->args[0], "SEARCH")) {
		for (size_t i = 1; i < resp->count; i++) {
			uint32_t u;
			if (imapc_arg_uint32(&resp->args[i], &u) == 0)
				mf_array_push(uids, u);
		}
	}
}

static bool in_ranges(const struct mailferry_uid_range *r, size_t count,
                      uint32_t uid)
{
	for (size_t i = 0; i < count; i++) {
		if (uid >= r[i].first && uid <= r[i].last)
			return true;
	}
	return false;
}

static int expunge_apply(struct mailferry_trans *trans)
{
	struct imapc_mailbox *box = trans->box;
	struct imapc_storage *storage = box->storage;
	struct imapc_client *client = storage->client;
	struct mailferry_uid_range *r = trans->expunges.items;
	size_t count = trans->expunges.count;

	if (count == 0)
		return 0;
	normalize_ranges(r, &count);
	trans->expunges.count = count;
	if ((imapc_client_caps(client) & IMAPC_CAP_UIDPLUS) != 0) {
		/* UID EXPUNGE removes only the \Deleted ones of the set */
		if (run_set_cmds(client, "UID STORE ", r, count,
		                 " +FLAGS.SILENT (\\Deleted)", "UID STORE") < 0)
			return -1;
		return run_set_cmds(client, "UID EXPUNGE ", r, count, "",
		                    "UID EXPUNGE");
	}
	/* Without UIDPLUS, EXPUNGE removes every \Deleted message: only do
	 * it when no message we were not asked about carries \Deleted. */
	struct imapc_uid_array deleted = {NULL, 0, 0};
	imapc_client_set_handler(client, search_handler, &deleted);
	int ret = imapc_client_run(client, "UID SEARCH DELETED", "UID SEARCH");
	imapc_client_set_handler(client, imapc_mailbox_untagged, box);
	if (ret < 0) {
		mf_array_free(&deleted);
		return -1;
	}
	for (size_t i = 0; i < deleted.count; i++) {
		if (!in_ranges(r, count, deleted.items[i])) {
			imapc_client_set_error(
			    client, MAILFERRY_E_NOTSUPP,
			    "mailbox '%s': the server has no UIDPLUS and "
			    "message UID %u (not one to expunge) is marked "
			    "\\Deleted; not expunging, so it is not lost",
			    box->name, deleted.items[i]);
			mf_array_free(&deleted);
			return -1;
		}
	}
	mf_array_free(&deleted);
	if (run_set_cmds(client, "UID STORE ", r, count,
	                 " +FLAGS.SILENT (\\Deleted)", "UID STORE") < 0)
		return -1;
	return imapc_client_run(client, "EXPUNGE", "EXPUNGE");
}

/* ---- resolving APPENDs after a reconnect ----------------------------- */

struct found_msg {
	uint32_t uid;
	uint64_t size;
	char *header;
	size_t header_len;
	bool claimed;
};

struct resolve_ctx {
	MF_ARRAY(struct found_msg) found;
};

static void resolve_handler(struct imapc_client *client,
                            const struct imapc_response *resp, void *context)
{
	struct resolve_ctx *ctx = context;

	(void)client;
	if (resp->count < 3 || !imapc_arg_atom_eq(&resp->args[1], "FETCH") ||
	    resp->args[2].type != IMAPC_ARG_LIST)
		return;
	const struct imapc_arg *l = &resp->args[2];
	struct found_msg f = {0, UINT64_MAX, NULL, 0, false};
	for (size_t i = 0; i + 1 < l->count; i += 2) {
		const struct imapc_arg *k = &l->list[i], *v = &l->list[i + 1];
		if (imapc_arg_atom_eq(k, "UID"))
			(void)imapc_arg_uint32(v, &f.uid);
		else if (imapc_arg_atom_eq(k, "RFC822.SIZE"))
			(void)imapc_arg_uint64(v, &f.size);
		else if (k->type == IMAPC_ARG_ATOM &&
		         strncasecmp(k->str, "BODY[HEADER]", 12) == 0 &&
		         imapc_arg_is_string(v)) {
			free(f.header);
			f.header = mf_strndup(v->str, v->len);
			f.header_len = v->len;
		}
	}
	if (f.uid != 0)
		mf_array_push(&ctx->found, f);
	else
		free(f.header);
}

static void found_free(struct resolve_ctx *ctx)
{
	for (size_t i = 0; i < ctx->found.count; i++)
		free(ctx->found.items[i].header);
	mf_array_free(&ctx->found);
}

/* Append "5:7,9" for ascending uids. */
static void append_uid_list(struct mf_buf *buf, const uint32_t *uids,
                            size_t count)
{
	for (size_t i = 0; i < count;) {
		size_t j = i;
		while (j + 1 < count && uids[j + 1] == uids[j] + 1)
			j++;
		mf_buf_printf(buf, "%s%u", i > 0 ? "," : "", uids[i]);
		if (j > i)
			mf_buf_printf(buf, ":%u", uids[j]);
		i = j + 1;
	}
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Copies whose COPY/MOVE went out but whose reply was lost: give them
 * the source's header and size, so they are matched like APPENDs; a MOVE
 * whose source is gone happened. 0 or -1. */
static int resolve_copies_prepare(struct mailferry_trans *trans)
{
	struct imapc_mailbox *box = trans->box;
	struct imapc_client *client = box->storage->client;
	struct resolve_ctx src;
	MF_ARRAY(uint32_t) uids = MF_ARRAY_INIT;
	struct mf_buf line = MF_BUF_INIT;
	int ret;

	memset(&src, 0, sizeof(src));
	for (size_t j = 0; j < trans->saves.count; j++) {
		struct imapc_save *save = trans->saves.items[j];
		if (save->copy_src_uid != 0 && save->copy_sent &&
		    !save->confirmed)
			mf_array_push(&uids, save->copy_src_uid);
	}
	if (uids.count == 0)
		return 0;
	mf_qsort(uids.items, uids.count, sizeof(uint32_t), u32_cmp);
	mf_buf_append_str(&line, "UID FETCH ");
	append_uid_list(&line, uids.items, uids.count);
	mf_buf_append_str(&line, " (UID RFC822.SIZE BODY.PEEK[HEADER])");
	imapc_client_set_handler(client, resolve_handler, &src);
	ret = imapc_client_run(client, line.data, "UID FETCH");
	imapc_client_set_handler(client, imapc_mailbox_untagged, box);
	mf_buf_free(&line);
	mf_array_free(&uids);
	for (size_t j = 0; ret == 0 && j < trans->saves.count; j++) {
		struct imapc_save *save = trans->saves.items[j];
		const struct found_msg *f = NULL;
		if (save->copy_src_uid == 0 || !save->copy_sent ||
		    save->confirmed)
			continue;
		for (size_t i = 0; i < src.found.count; i++) {
			if (src.found.items[i].uid == save->copy_src_uid)
				f = &src.found.items[i];
		}
		if (f == NULL) {
			/* the source is gone: moved (a MOVE is atomic),
			 * or expunged by someone else meanwhile */
			save->confirmed = true;
			save->uid = 0;
			imapc_api->log(box->storage->ctx, MAILFERRY_LOG_INFO,
			               "imapc: mailbox '%s': UID %u is gone "
			               "after the connection dropped; its %s "
			               "is taken as done (new UID unknown)",
			               box->name, save->copy_src_uid,
			               save->move ? "MOVE" : "COPY");
			continue;
		}
		if (save->move) {
			/* still there: the MOVE did not happen */
			save->copy_sent = false;
			continue;
		}
		mf_buf_truncate(&save->head, 0);
		if (f->header != NULL)
			mf_buf_append(&save->head, f->header, f->header_len);
		save->size = f->size;
	}
	found_free(&src);
	return ret;
}

/* Find which unconfirmed saves the server stored before the connection
 * dropped; append the others again (copies are sent again by
 * copies_apply()). */
static int resolve_unconfirmed(struct mailferry_trans *trans)
{
	struct imapc_mailbox *box = trans->box;
	struct imapc_client *client = box->storage->client;
	struct resolve_ctx ctx;
	char line[128];
	int ret;

	if (resolve_copies_prepare(trans) < 0)
		return -1;
	memset(&ctx, 0, sizeof(ctx));
	snprintf(line, sizeof(line),
	         "UID FETCH %u:* (UID RFC822.SIZE BODY.PEEK[HEADER])",
	         trans->uidnext_before == 0 ? 1 : trans->uidnext_before);
	imapc_client_set_handler(client, resolve_handler, &ctx);
	ret = imapc_client_run(client, line, "UID FETCH");
	imapc_client_set_handler(client, imapc_mailbox_untagged, box);
	if (ret < 0)
		goto out;
	/* UIDs already confirmed are not candidates */
	for (size_t i = 0; i < ctx.found.count; i++) {
		struct found_msg *f = &ctx.found.items[i];
		if (f->uid < trans->uidnext_before)
			f->claimed = true;
		for (size_t j = 0; j < trans->saves.count; j++) {
			if (trans->saves.items[j]->uid == f->uid)
				f->claimed = true;
		}
	}
	for (size_t j = 0; j < trans->saves.count; j++) {
		struct imapc_save *save = trans->saves.items[j];
		if (save->confirmed || save->cmd != NULL ||
		    (save->copy_src_uid != 0 && !save->copy_sent))
			continue;
		const char *data =
		    save->head.data == NULL ? "" : save->head.data;
		size_t hlen = save->head.len;
		for (size_t i = 0; i < ctx.found.count; i++) {
			struct found_msg *f = &ctx.found.items[i];
			if (f->claimed || f->size != save->size ||
			    f->header_len != hlen ||
			    memcmp(f->header, data, hlen) != 0)
				continue;
			f->claimed = true;
			save->confirmed = true;
			save->uid = f->uid;
			save_release_data(save);
			imapc_api->log(box->storage->ctx, MAILFERRY_LOG_INFO,
			               "imapc: mailbox '%s': message #%zu was "
			               "stored (UID %u) before the connection "
			               "dropped; not %s it again",
			               box->name, save->index + 1, f->uid,
			               save->copy_src_uid != 0 ? "copying"
			                                       : "appending");
			break;
		}
		if (save->confirmed)
			continue;
		if (save->copy_src_uid != 0) {
			save->copy_sent = false; /* copies_apply() resends */
			continue;
		}
		if (append_send(trans, save) < 0) {
			ret = -1;
			break;
		}
	}
out:
	found_free(&ctx);
	return ret;
}

/* ---- server-side copies and moves ------------------------------------ */

/* Remove uid from the (normalized) range list. */
static void ranges_remove_uid(void *arr_, uint32_t uid)
{
	MF_ARRAY(struct mailferry_uid_range) *arr = arr_;

	for (size_t i = 0; i < arr->count; i++) {
		struct mailferry_uid_range *r = &arr->items[i];
		if (uid < r->first || uid > r->last)
			continue;
		if (r->first == r->last) {
			memmove(r, r + 1, (arr->count - i - 1) * sizeof(*r));
			arr->count--;
		} else if (uid == r->first) {
			r->first++;
		} else if (uid == r->last) {
			r->last--;
		} else {
			struct mailferry_uid_range tail = {uid + 1, r->last};
			r->last = uid - 1;
			mf_array_push(arr, tail);
		}
		return;
	}
}

/* Send one UID COPY or UID MOVE for saves (distinct source UIDs) and
 * take the new UIDs from COPYUID. 0, or -1 when the connection broke
 * (the saves stay unconfirmed, resolved after reconnecting). */
static int copy_batch(struct mailferry_trans *trans, struct imapc_save **saves,
                      size_t count, bool move)
{
	struct imapc_mailbox *box = trans->box;
	struct imapc_client *client = box->storage->client;
	struct mf_buf line = MF_BUF_INIT;
	uint32_t *uids = mf_calloc(count, sizeof(*uids));
	int ret = 0;

	for (size_t i = 0; i < count; i++)
		uids[i] = saves[i]->copy_src_uid;
	mf_qsort(uids, count, sizeof(uint32_t), u32_cmp);
	mf_buf_append_str(&line, move ? "UID MOVE " : "UID COPY ");
	append_uid_list(&line, uids, count);
	mf_buf_append_c(&line, ' ');
	(void)imapc_append_astring(client, &line, box->remote);
	struct imapc_cmd *cmd = imapc_cmd_send(client, line.data, NULL);
	mf_buf_free(&line);
	if (cmd == NULL) {
		free(uids);
		return -1;
	}
	cmd->wants_copyuid = move;
	for (size_t i = 0; i < count; i++)
		saves[i]->copy_sent = true;
	if (imapc_cmd_wait(client, cmd) < 0 && cmd->disconnected) {
		ret = -1;
	} else if (cmd->status != IMAPC_STATUS_OK) {
		for (size_t i = 0; i < count; i++) {
			struct imapc_save *save = saves[i];
			save->confirmed = true; /* final: not retried */
			save->error = imapc_cmd_error_code(cmd);
			save->error_text = mf_strdup_printf(
			    "%s of UID %u in mailbox '%s' refused by %s: "
			    "%s%s%s%s",
			    move ? "MOVE" : "COPY", save->copy_src_uid,
			    box->name, imapc_client_peer(client),
			    cmd->code != NULL ? "[" : "",
			    cmd->code != NULL ? cmd->code : "",
			    cmd->code != NULL ? "] " : "", cmd->text);
		}
	} else {
		/* COPYUID pairs the source set with the new UIDs in order;
		 * sources that no longer existed are not in it (UID 0) */
		size_t n = 0;
		uint32_t *src = mf_calloc(count, sizeof(*src));
		uint32_t *dst = mf_calloc(count, sizeof(*dst));
		if (cmd->copy_src_uidset != NULL &&
		    cmd->append_uidset != NULL) {
			n = uidset_expand(cmd->copy_src_uidset, src, count);
			if (uidset_expand(cmd->append_uidset, dst, count) != n)
				n = 0;
		}
		for (size_t i = 0; i < count; i++) {
			struct imapc_save *save = saves[i];
			save->confirmed = true;
			save->uid = 0;
			for (size_t k = 0; k < n; k++) {
				if (src[k] == save->copy_src_uid)
					save->uid = dst[k];
			}
		}
		free(src);
		free(dst);
	}
	if (move && ret == 0) {
		/* the server expunged the sources itself */
		for (size_t i = 0; i < count; i++)
			ranges_remove_uid(&trans->expunges,
			                  saves[i]->copy_src_uid);
	}
	imapc_cmd_free(client, &cmd);
	free(uids);
	return ret;
}

/* Carry out the transaction's copies: UID COPY, and UID MOVE for a
 * source the transaction also expunges (the last copy of it), so the
 * copy and the expunge happen at once on the server. Then the copies get
 * the flags and keywords asked for. 0 or -1. */
static int copies_apply(struct mailferry_trans *trans)
{
	struct imapc_client *client = trans->box->storage->client;
	bool can_move = (imapc_client_caps(client) & IMAPC_CAP_MOVE) != 0;
	MF_ARRAY(struct imapc_save *) batch = MF_ARRAY_INIT;
	bool any = false;
	int ret = 0;

	normalize_ranges(trans->expunges.items, &trans->expunges.count);
	for (size_t i = 0; i < trans->saves.count; i++) {
		struct imapc_save *save = trans->saves.items[i];
		if (save->copy_src_uid == 0 || save->confirmed)
			continue;
		any = true;
		save->move = false;
		if (!can_move ||
		    !in_ranges(trans->expunges.items, trans->expunges.count,
		               save->copy_src_uid))
			continue;
		/* only the last copy of a source can take it away */
		bool last = true;
		for (size_t j = i + 1; j < trans->saves.count; j++) {
			const struct imapc_save *o = trans->saves.items[j];
			if (o->copy_src_uid == save->copy_src_uid &&
			    !o->confirmed)
				last = false;
		}
		save->move = last;
	}
	if (!any)
		return 0;
	/* copies first (a source copied twice needs two commands), then
	 * the moves, which take the sources away */
	for (int pass = 0; pass < 2 && ret == 0; pass++) {
		for (;;) {
			batch.count = 0;
			for (size_t i = 0; i < trans->saves.count; i++) {
				struct imapc_save *save = trans->saves.items[i];
				bool dup = false;
				if (save->copy_src_uid == 0 ||
				    save->confirmed || save->copy_sent ||
				    save->move != (pass == 1))
					continue;
				for (size_t k = 0; k < batch.count; k++) {
					if (batch.items[k]->copy_src_uid ==
					    save->copy_src_uid)
						dup = true;
				}
				if (!dup && batch.count < 1000)
					mf_array_push(&batch, save);
			}
			if (batch.count == 0)
				break;
			if ((ret = copy_batch(trans, batch.items, batch.count,
			                      pass == 1)) < 0)
				break;
		}
	}
	mf_array_free(&batch);
	if (ret < 0)
		return -1;
	/* the flags and keywords the saves asked for (a copy carries the
	 * source's) */
	for (size_t i = 0; i < trans->saves.count; i++) {
		struct imapc_save *save = trans->saves.items[i];
		if (save->copy_src_uid == 0 || save->uid == 0 ||
		    save->error != 0 || save->copy_flags_same)
			continue;
		struct imapc_flag_op *op =
		    mf_array_append_zero(&trans->flag_ops);
		op->modify = MAILFERRY_MODIFY_REPLACE;
		op->flags = save->flags;
		op->keywords = strv_dup((const char *const *)save->keywords);
		struct mailferry_uid_range r = {save->uid, save->uid};
		mf_array_push(&op->ranges, r);
	}
	group_flag_ops(trans);
	return 0;
}

int imapc_copy(struct mailferry_trans *trans, struct mailferry_mailbox *_src,
               uint32_t src_uid, const struct mailferry_save *params)
{
	struct imapc_mailbox *src = (struct imapc_mailbox *)_src;
	struct imapc_storage *storage = trans->box->storage;
	int ret;

	/* only inside one mailbox: UID COPY needs the source selected, and
	 * only COPYUID (UIDPLUS) tells the new UID */
	if (src->storage != storage ||
	    strcmp(src->remote, trans->box->remote) != 0 ||
	    (imapc_client_caps(storage->client) & IMAPC_CAP_UIDPLUS) == 0)
		return imapc_api->set_error(storage->ctx, MAILFERRY_E_NOTSUPP,
		                            "server-side copy only within "
		                            "one mailbox, with UIDPLUS");
	if (trans->cur != NULL)
		return imapc_api->set_error(storage->ctx, MAILFERRY_E_INVALID,
		                            "copy() while a save is running");
	struct imapc_save *save;
	ret = save_new(trans, params, &save);
	if (ret < 0)
		return ret;
	save->copy_src_uid = src_uid;
	/* the listing the core just read tells the source's flags */
	const struct imapc_msg_rec *r = imapc_mailbox_cache_find(src, src_uid);
	if (r != NULL)
		save->copy_flags_same =
		    (r->msg.flags & MAILFERRY_FLAGS_MASK) == save->flags &&
		    strv_equal(r->keywords, save->keywords);
	/* (after looking at the cache: this refresh clears it) */
	if (!trans->have_uidnext) {
		if ((ret = uidnext_now(trans, &trans->uidnext_before)) < 0) {
			save_free(storage->client, save);
			return ret;
		}
		trans->have_uidnext = true;
	}
	mf_array_push(&trans->saves, save);
	return 0;
}

/* ---- commit / rollback ----------------------------------------------- */

static void trans_free(struct mailferry_trans *trans)
{
	struct imapc_client *client = trans->box->storage->client;

	if (trans->cur != NULL)
		save_free(client, trans->cur);
	for (size_t i = 0; i < trans->batches.count; i++)
		batch_free(client, trans->batches.items[i]);
	mf_array_free(&trans->batches);
	if (trans->open_batch != NULL)
		batch_free(client, trans->open_batch);
	for (size_t i = 0; i < trans->saves.count; i++)
		save_free(client, trans->saves.items[i]);
	mf_array_free(&trans->saves);
	for (size_t i = 0; i < trans->flag_ops.count; i++) {
		mf_array_free(&trans->flag_ops.items[i].ranges);
		imapc_free_strv(&trans->flag_ops.items[i].keywords);
	}
	mf_array_free(&trans->flag_ops);
	mf_array_free(&trans->expunges);
	mf_array_free(&trans->result_uids);
	free(trans);
}

static bool appends_pending(struct mailferry_trans *trans)
{
	for (size_t i = 0; i < trans->saves.count; i++) {
		const struct imapc_save *save = trans->saves.items[i];
		if (!save->confirmed &&
		    (save->copy_src_uid == 0 || save->copy_sent))
			return true;
	}
	return false;
}

static int commit_run(struct mailferry_trans *trans)
{
	struct imapc_client *client = trans->box->storage->client;

	if (imapc_box_select(trans->box) < 0)
		return -2; /* error already on the ctx */
	if (imapc_client_is_connected(client))
		batch_send(trans);
	batches_wait(trans);
	for (size_t i = 0; i < trans->saves.count; i++) {
		struct imapc_save *save = trans->saves.items[i];
		if (save->cmd != NULL) {
			(void)imapc_cmd_wait(client, save->cmd);
			append_reap(trans, save);
		}
	}
	if (appends_pending(trans)) {
		if (!imapc_client_is_connected(client))
			return -1;
		if (resolve_unconfirmed(trans) < 0)
			return -1;
		for (size_t i = 0; i < trans->saves.count; i++) {
			struct imapc_save *save = trans->saves.items[i];
			if (save->cmd != NULL) {
				(void)imapc_cmd_wait(client, save->cmd);
				append_reap(trans, save);
			}
		}
		if (appends_pending(trans))
			return -1;
	}
	if (copies_apply(trans) < 0)
		return -1;
	if (flags_apply(trans) < 0)
		return -1;
	if (expunge_apply(trans) < 0)
		return -1;
	return 0;
}

int imapc_trans_commit(struct mailferry_trans **_trans,
                       struct mailferry_commit_result *result_r)
{
	struct mailferry_trans *trans = *_trans;
	struct imapc_mailbox *box = trans->box;
	struct imapc_storage *storage = box->storage;
	unsigned int attempt = 0;
	int ret;

	*_trans = NULL;
	imapc_mailbox_cache_clear(box);
	if (trans->cur != NULL)
		imapc_save_cancel(trans);
	group_flag_ops(trans);
	for (;;) {
		ret = commit_run(trans);
		if (ret == 0 || ret == -2)
			break;
		if (!imapc_storage_retry(storage, &attempt))
			break;
		storage->selected = NULL;
	}
	if (ret == -1)
		ret = imapc_storage_fail(storage);
	else if (ret == -2)
		ret = MAILFERRY_E_TEMP;

	/* per-message refusals: the first one is the commit's error */
	struct mf_buf refused = MF_BUF_INIT;
	int refused_code = 0;
	size_t nrefused = 0;
	for (size_t i = 0; i < trans->saves.count; i++) {
		struct imapc_save *save = trans->saves.items[i];
		if (save->error == 0)
			continue;
		if (nrefused++ == 0) {
			refused_code = save->error;
			mf_buf_append_str(&refused, save->error_text);
		}
	}
	if (ret == 0 && nrefused > 0) {
		if (nrefused > 1)
			mf_buf_printf(&refused, " (and %zu more refused)",
			              nrefused - 1);
		ret = imapc_api->set_error(storage->ctx, refused_code, "%s",
		                           mf_buf_str(&refused));
	}
	mf_buf_free(&refused);

	if (result_r != NULL) {
		box->commit_uids.count = 0;
		for (size_t i = 0; i < trans->saves.count; i++)
			mf_array_push(&box->commit_uids,
			              trans->saves.items[i]->uid);
		result_r->struct_size = sizeof(*result_r);
		result_r->uidvalidity =
		    imapc_client_selected(storage->client)->uidvalidity;
		result_r->saved_uids = box->commit_uids.items;
		result_r->saved_count = box->commit_uids.count;
	}
	trans_free(trans);
	return ret;
}

void imapc_trans_rollback(struct mailferry_trans **_trans)
{
	struct mailferry_trans *trans = *_trans;
	struct imapc_storage *storage;
	struct imapc_client *client;
	MF_ARRAY(struct mailferry_uid_range) undo = MF_ARRAY_INIT;

	if (trans == NULL)
		return;
	*_trans = NULL;
	imapc_mailbox_cache_clear(trans->box);
	storage = trans->box->storage;
	client = storage->client;
	/* APPENDs already sent cannot be unsent: expunge what the server
	 * confirmed with a UID (UIDPLUS) so nothing of this transaction
	 * stays */
	if (trans->open_batch != NULL) {
		batch_free(client, trans->open_batch);
		trans->open_batch = NULL;
	}
	if (imapc_client_is_connected(client))
		batches_wait(trans);
	for (size_t i = 0; i < trans->saves.count; i++) {
		struct imapc_save *save = trans->saves.items[i];
		if (save->cmd != NULL && imapc_client_is_connected(client)) {
			(void)imapc_cmd_wait(client, save->cmd);
			append_reap(trans, save);
		}
		if (save->uid != 0) {
			struct mailferry_uid_range r = {save->uid, save->uid};
			mf_array_push(&undo, r);
		}
	}
	if (undo.count > 0 && imapc_client_is_connected(client) &&
	    (imapc_client_caps(client) & IMAPC_CAP_UIDPLUS) != 0 &&
	    storage->selected == trans->box) {
		normalize_ranges(undo.items, &undo.count);
		if (run_set_cmds(client, "UID STORE ", undo.items, undo.count,
		                 " +FLAGS.SILENT (\\Deleted)",
		                 "UID STORE") == 0 &&
		    run_set_cmds(client, "UID EXPUNGE ", undo.items, undo.count,
		                 "", "UID EXPUNGE") == 0)
			undo.count = 0;
	}
	if (undo.count > 0)
		imapc_api->log(storage->ctx, MAILFERRY_LOG_WARNING,
		               "imapc: mailbox '%s': rolled back transaction "
		               "leaves %zu appended message(s) on the server",
		               trans->box->name, undo.count);
	mf_array_free(&undo);
	trans_free(trans);
}
