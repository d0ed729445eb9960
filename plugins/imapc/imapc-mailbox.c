/* SPDX-License-Identifier: MIT */
/*
 * imapc-mailbox.c - an opened mailbox: SELECT, STATUS, message listing by
 * one UID FETCH per range (CHANGEDSINCE with CONDSTORE), expunges from
 * QRESYNC's VANISHED (EARLIER), and the untagged FETCH dispatcher.
 */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "mf-alloc.h"
#include "imapc-private.h"

/* ---- flags and dates ------------------------------------------------- */

void imapc_free_strv(char ***_strv)
{
	char **strv = *_strv;

	if (strv == NULL)
		return;
	*_strv = NULL;
	for (size_t i = 0; strv[i] != NULL; i++)
		free(strv[i]);
	free(strv);
}

void imapc_parse_flags(const struct imapc_arg *list, uint32_t *flags_r,
                       char ***keywords_r)
{
	static const struct {
		const char *name;
		uint32_t flag;
	} sysflags[] = {
	    {"\\Answered", MAILFERRY_FLAG_ANSWERED},
	    {"\\Flagged", MAILFERRY_FLAG_FLAGGED},
	    {"\\Deleted", MAILFERRY_FLAG_DELETED},
	    {"\\Seen", MAILFERRY_FLAG_SEEN},
	    {"\\Draft", MAILFERRY_FLAG_DRAFT},
	    {"\\Recent", MAILFERRY_FLAG_RECENT},
	};
	MF_ARRAY(char *) kw = MF_ARRAY_INIT;
	uint32_t flags = 0;

	for (size_t i = 0; list->type == IMAPC_ARG_LIST && i < list->count;
	     i++) {
		const char *f = imapc_arg_str(&list->list[i]);
		bool sys = false;
		if (f == NULL || *f == '\0')
			continue;
		for (size_t j = 0; j < MF_N_ELEMENTS(sysflags); j++) {
			if (strcasecmp(f, sysflags[j].name) == 0) {
				flags |= sysflags[j].flag;
				sys = true;
			}
		}
		if (!sys && f[0] != '\\')
			mf_array_push(&kw, mf_strdup(f));
	}
	*flags_r = flags;
	if (kw.count == 0) {
		*keywords_r = NULL;
		mf_array_free(&kw);
		return;
	}
	mf_array_push(&kw, NULL);
	*keywords_r = kw.items;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Up to max digits at *p (at least one) into *n. */
static bool take_num(const char **p, int max, int *n)
{
	int v = 0, i = 0;

	for (; i < max && **p >= '0' && **p <= '9'; i++, (*p)++)
		v = v * 10 + (**p - '0');
	*n = v;
	return i > 0;
}

/* "23-Nov-2026 15:24:13 +0000" (day may be " 1") -> unix time; 0 when not
 * parseable. By hand rather than sscanf() + timegm(): a listing has two
 * dates per message. */
static int64_t parse_internaldate(const char *str)
{
	static const char months[][4] = {"Jan", "Feb", "Mar", "Apr",
	                                 "May", "Jun", "Jul", "Aug",
	                                 "Sep", "Oct", "Nov", "Dec"};
	const char *p = str;
	int day, mon = -1, year, hh, mm, ss, zone;

	if (p == NULL)
		return 0;
	while (*p == ' ')
		p++;
	if (!take_num(&p, 2, &day) || *p++ != '-')
		return 0;
	for (int i = 0; i < 12 && mon < 0; i++) {
		if (strncasecmp(p, months[i], 3) == 0)
			mon = i;
	}
	if (mon < 0 || p[3] != '-')
		return 0;
	p += 4;
	if (!take_num(&p, 4, &year) || *p++ != ' ' || !take_num(&p, 2, &hh) ||
	    *p++ != ':' || !take_num(&p, 2, &mm) || *p++ != ':' ||
	    !take_num(&p, 2, &ss) || *p++ != ' ')
		return 0;
	char sign = *p++;
	if ((sign != '+' && sign != '-') || !take_num(&p, 4, &zone))
		return 0;
	int64_t t = days_from_civil(year, mon + 1, day) * 86400 + hh * 3600 +
	            mm * 60 + ss;
	int64_t off = (zone / 100) * 3600 + (zone % 100) * 60;
	return sign == '+' ? t - off : t + off;
}

/* ---- untagged data --------------------------------------------------- */

static void rec_free(struct imapc_msg_rec *rec)
{
	free(rec->guid);
	imapc_free_strv(&rec->keywords);
}

static char **strv_copy(char **strv)
{
	size_t n = 0;

	if (strv == NULL)
		return NULL;
	while (strv[n] != NULL)
		n++;
	char **out = mf_calloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i] = mf_strdup(strv[i]);
	return out;
}

static void rec_copy(struct imapc_msg_rec *dst, const struct imapc_msg_rec *src)
{
	*dst = *src;
	dst->guid = src->guid == NULL ? NULL : mf_strdup(src->guid);
	dst->keywords = strv_copy(src->keywords);
	dst->msg.guid = dst->guid;
	dst->msg.keywords = (const char *const *)dst->keywords;
}

/* Index of the first cached record with a UID >= uid. */
static size_t cache_lower_bound(const struct imapc_mailbox *box, uint32_t uid)
{
	size_t lo = 0, hi = box->cache.count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (box->cache.items[mid].msg.uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct imapc_msg_rec *imapc_mailbox_cache_find(struct imapc_mailbox *box,
                                                     uint32_t uid)
{
	size_t i;

	if (!box->cache_valid)
		return NULL;
	i = cache_lower_bound(box, uid);
	return i < box->cache.count && box->cache.items[i].msg.uid == uid
	           ? &box->cache.items[i]
	           : NULL;
}

void imapc_mailbox_cache_clear(struct imapc_mailbox *box)
{
	for (size_t i = 0; i < box->cache.count; i++)
		rec_free(&box->cache.items[i]);
	box->cache.count = 0;
	box->cache_valid = false;
}

static void collect_fetch(struct imapc_mailbox *box, uint32_t uid,
                          const struct imapc_arg *list)
{
	struct imapc_msg_rec *rec = NULL;

	/* merge with an earlier response for the same UID (unsolicited
	 * flag updates may arrive next to ours) */
	for (size_t i = box->collect->count; i > 0; i--) {
		if (box->collect->items[i - 1].msg.uid == uid) {
			rec = &box->collect->items[i - 1];
			break;
		}
		if (box->collect->items[i - 1].msg.uid < uid)
			break;
	}
	if (rec == NULL) {
		rec = mf_array_append_zero(box->collect);
		rec->msg.struct_size = sizeof(rec->msg);
		rec->msg.uid = uid;
		rec->msg.physical_size = UINT64_MAX;
		rec->msg.virtual_size = UINT64_MAX;
	}
	for (size_t i = 0; i + 1 < list->count; i += 2) {
		const struct imapc_arg *k = &list->list[i];
		const struct imapc_arg *v = &list->list[i + 1];
		uint64_t n;

		if (imapc_arg_atom_eq(k, "FLAGS")) {
			imapc_free_strv(&rec->keywords);
			imapc_parse_flags(v, &rec->msg.flags, &rec->keywords);
		} else if (imapc_arg_atom_eq(k, "RFC822.SIZE") &&
		           imapc_arg_uint64(v, &n) == 0) {
			rec->msg.virtual_size = n;
		} else if (imapc_arg_atom_eq(k, "INTERNALDATE")) {
			rec->msg.received_date =
			    parse_internaldate(imapc_arg_str(v));
		} else if (imapc_arg_atom_eq(k, "SAVEDATE")) {
			rec->msg.save_date =
			    parse_internaldate(imapc_arg_str(v));
		} else if (imapc_arg_atom_eq(k, "MODSEQ") &&
		           v->type == IMAPC_ARG_LIST && v->count > 0 &&
		           imapc_arg_uint64(&v->list[0], &n) == 0) {
			rec->msg.modseq = n;
		} else if (imapc_arg_atom_eq(k, "X-GUID") ||
		           imapc_arg_atom_eq(k, "EMAILID")) {
			if (v->type == IMAPC_ARG_LIST && v->count > 0)
				v = &v->list[0];
			const char *g = imapc_arg_str(v);
			if (g != NULL && *g != '\0' &&
			    (rec->guid == NULL ||
			     imapc_arg_atom_eq(k, "X-GUID"))) {
				free(rec->guid);
				rec->guid = mf_strdup(g);
			}
		}
	}
}

static void add_uidset(struct imapc_uid_array *out, const char *set)
{
	const char *p = set;

	while (*p != '\0') {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b = a;
		if (end == p)
			return;
		p = end;
		if (*p == ':') {
			b = strtoul(p + 1, &end, 10);
			if (end == p + 1)
				return;
			p = end;
		}
		if (a > b) {
			unsigned long t = a;
			a = b;
			b = t;
		}
		/* bounded: a hostile server could send 1:4294967295 */
		for (unsigned long u = a; u <= b && out->count < 10000000; u++)
			mf_array_push(out, (uint32_t)u);
		if (*p == ',')
			p++;
		else if (*p != '\0')
			return;
	}
}

void imapc_mailbox_untagged(struct imapc_client *client,
                            const struct imapc_response *resp, void *context)
{
	struct imapc_mailbox *box = context;
	const struct imapc_arg *args = resp->args;

	(void)client;
	if (resp->count >= 2 && imapc_arg_atom_eq(&args[0], "VANISHED")) {
		if (box->collect_vanished == NULL)
			return;
		const struct imapc_arg *set = &args[1];
		if (set->type == IMAPC_ARG_LIST) {
			if (resp->count < 3)
				return;
			set = &args[2];
		}
		if (imapc_arg_str(set) != NULL)
			add_uidset(box->collect_vanished, set->str);
		return;
	}
	if (resp->count < 3 || !imapc_arg_atom_eq(&args[1], "FETCH") ||
	    args[2].type != IMAPC_ARG_LIST)
		return;
	const struct imapc_arg *list = &args[2];
	uint32_t uid = 0;
	for (size_t i = 0; i + 1 < list->count; i += 2) {
		if (imapc_arg_atom_eq(&list->list[i], "UID"))
			(void)imapc_arg_uint32(&list->list[i + 1], &uid);
	}
	if (uid == 0)
		return; /* unsolicited flag change without UID: not ours */
	bool body = false;
	for (size_t i = 0; i + 1 < list->count; i += 2) {
		const struct imapc_arg *k = &list->list[i];
		if (k->type == IMAPC_ARG_ATOM &&
		    (strncasecmp(k->str, "BODY[", 5) == 0 ||
		     strncasecmp(k->str, "BINARY[", 7) == 0)) {
			imapc_fetch_body_data(box, uid, k->str,
			                      (struct imapc_response *)resp,
			                      &list->list[i + 1]);
			body = true;
		}
	}
	if (!body && box->collect != NULL)
		collect_fetch(box, uid, list);
}

/* ---- open, close, status --------------------------------------------- */

static int status_run(struct imapc_mailbox *box,
                      struct mailferry_mailbox_status *st);

static void status_taken(struct imapc_mailbox *box,
                         const struct mailferry_mailbox_status *st)
{
	box->last_uidnext = st->uidnext;
}

/* Right after a SELECT its untagged data is the mailbox's status; only
 * the GUID may be missing: derived like status_run() does when the server
 * has no mailbox ids, else from the last LIST-STATUS. false when a STATUS
 * is needed after all. */
static bool status_from_select(struct imapc_mailbox *box,
                               struct mailferry_mailbox_status *st)
{
	struct imapc_storage *storage = box->storage;
	const struct imapc_selected *sel =
	    imapc_client_selected(storage->client);
	uint32_t caps = imapc_client_caps(storage->client);

	if (sel->name == NULL || strcmp(sel->name, box->remote) != 0 ||
	    sel->uidnext == 0 || sel->uidvalidity == 0)
		return false;
	memset(st, 0, sizeof(*st));
	st->struct_size = sizeof(*st);
	if ((caps & (IMAPC_CAP_X_GUID | IMAPC_CAP_OBJECTID)) == 0)
		imapc_mailbox_guid(storage, box->name, sel->uidvalidity, NULL,
		                   st->guid);
	else if (!imapc_storage_guid_lookup(storage, box->remote,
	                                    sel->uidvalidity, st->guid))
		return false;
	st->messages = sel->exists;
	st->uidnext = sel->uidnext;
	st->uidvalidity = sel->uidvalidity;
	st->highest_modseq =
	    (caps & IMAPC_CAP_CONDSTORE) != 0 ? sel->highestmodseq : 0;
	st->first_recent_uid = st->uidnext;
	status_taken(box, st);
	return true;
}

int imapc_mailbox_open(struct mailferry_storage *_storage, const char *name,
                       uint32_t flags, struct mailferry_mailbox **box_r)
{
	struct imapc_storage *storage = (struct imapc_storage *)_storage;
	struct imapc_mailbox *box;
	char *remote, *error;
	int ret;

	if (imapc_name_to_remote(storage, name,
	                         imapc_client_utf8(storage->client), &remote,
	                         &error) < 0) {
		ret = imapc_api->set_error(storage->ctx, MAILFERRY_E_INVALID,
		                           "%s", error);
		free(error);
		return ret;
	}
	box = mf_calloc(1, sizeof(*box));
	box->storage = storage;
	box->name = mf_strdup(name);
	box->remote = remote;
	box->readonly =
	    storage->readonly || (flags & MAILFERRY_MAILBOX_READONLY) != 0;
	if ((ret = imapc_box_select(box)) < 0) {
		if (ret == MAILFERRY_E_TEMP &&
		    imapc_client_is_connected(storage->client))
			ret = imapc_api->set_error(
			    storage->ctx, MAILFERRY_E_NOTFOUND,
			    "mailbox '%s' on %s: %s", name, storage->display,
			    imapc_client_error(storage->client));
		goto fail;
	}
	struct mailferry_mailbox_status st;
	if (!status_from_select(box, &st) && (ret = status_run(box, &st)) < 0)
		goto fail;
	memcpy(box->guid, st.guid, sizeof(box->guid));
	*box_r = (struct mailferry_mailbox *)box;
	return 0;
fail:
	if (storage->selected == box) {
		storage->selected = NULL;
		imapc_client_set_handler(storage->client, NULL, NULL);
	}
	free(box->name);
	free(box->remote);
	free(box);
	return ret;
}

void imapc_mailbox_close(struct mailferry_mailbox **_box)
{
	struct imapc_mailbox *box = (struct imapc_mailbox *)*_box;

	if (box == NULL)
		return;
	*_box = NULL;
	imapc_bodies_clear(box);
	mf_array_free(&box->bodies);
	if (box->storage->selected == box) {
		box->storage->selected = NULL;
		imapc_client_set_handler(box->storage->client, NULL, NULL);
	}
	mf_array_free(&box->iter_uids);
	mf_array_free(&box->iter_sizes);
	mf_array_free(&box->commit_uids);
	imapc_mailbox_cache_clear(box);
	mf_array_free(&box->cache);
	free(box->name);
	free(box->remote);
	free(box);
}

static void status_handler(struct imapc_client *client,
                           const struct imapc_response *resp, void *context)
{
	struct imapc_mailbox *box = context;
	struct mailferry_mailbox_status *st = box->storage->status_target;

	if (resp->count >= 3 && imapc_arg_atom_eq(&resp->args[0], "STATUS") &&
	    st != NULL) {
		const struct imapc_arg *list = &resp->args[2];
		const char *xguid = NULL;
		for (size_t i = 0;
		     list->type == IMAPC_ARG_LIST && i + 1 < list->count;
		     i += 2) {
			const struct imapc_arg *k = &list->list[i];
			const struct imapc_arg *v = &list->list[i + 1];
			uint32_t n;
			uint64_t n64;
			if (imapc_arg_atom_eq(k, "MESSAGES") &&
			    imapc_arg_uint32(v, &n) == 0)
				st->messages = n;
			else if (imapc_arg_atom_eq(k, "UIDNEXT") &&
			         imapc_arg_uint32(v, &n) == 0)
				st->uidnext = n;
			else if (imapc_arg_atom_eq(k, "UIDVALIDITY") &&
			         imapc_arg_uint32(v, &n) == 0)
				st->uidvalidity = n;
			else if (imapc_arg_atom_eq(k, "HIGHESTMODSEQ") &&
			         imapc_arg_uint64(v, &n64) == 0)
				st->highest_modseq = n64;
			else if (imapc_arg_atom_eq(k, "X-GUID") ||
			         imapc_arg_atom_eq(k, "MAILBOXID")) {
				if (v->type == IMAPC_ARG_LIST && v->count > 0)
					v = &v->list[0];
				xguid = imapc_arg_str(v);
			}
		}
		imapc_mailbox_guid(box->storage, box->name, st->uidvalidity,
		                   xguid, st->guid);
		return;
	}
	imapc_mailbox_untagged(client, resp, context);
}

static int status_run(struct imapc_mailbox *box,
                      struct mailferry_mailbox_status *st)
{
	struct imapc_storage *storage = box->storage;
	struct imapc_client *client = storage->client;
	uint32_t caps = imapc_client_caps(client);
	struct mf_buf line = MF_BUF_INIT;
	unsigned int attempt = 0;
	int ret;

	memset(st, 0, sizeof(*st));
	st->struct_size = sizeof(*st);
	mf_buf_append_str(&line, "STATUS ");
	(void)imapc_append_astring(client, &line, box->remote);
	mf_buf_append_str(&line, " (MESSAGES UIDNEXT UIDVALIDITY");
	if ((caps & IMAPC_CAP_CONDSTORE) != 0)
		mf_buf_append_str(&line, " HIGHESTMODSEQ");
	if ((caps & IMAPC_CAP_X_GUID) != 0)
		mf_buf_append_str(&line, " X-GUID");
	else if ((caps & IMAPC_CAP_OBJECTID) != 0)
		mf_buf_append_str(&line, " MAILBOXID");
	mf_buf_append_c(&line, ')');
	for (;;) {
		storage->status_target = st;
		imapc_client_set_handler(client, status_handler, box);
		/* STATUS of the selected mailbox may answer with the
		 * session's old view (Dovecot does): a NOOP first makes the
		 * session pick up changes. Not pipelined: Dovecot runs the
		 * two in parallel, STATUS would not wait for the NOOP. */
		const char *sel = imapc_client_selected(client)->name;
		ret = 0;
		if (sel != NULL && strcmp(sel, box->remote) == 0)
			ret = imapc_client_run(client, "NOOP", "NOOP");
		if (ret == 0)
			ret = imapc_client_run(client, line.data, "STATUS");
		imapc_client_set_handler(
		    client,
		    storage->selected != NULL ? imapc_mailbox_untagged : NULL,
		    storage->selected);
		storage->status_target = NULL;
		if (ret == 0 || !imapc_storage_retry(storage, &attempt))
			break;
	}
	mf_buf_free(&line);
	if (ret < 0)
		return imapc_storage_fail(storage);
	if (box->uidvalidity != 0 && st->uidvalidity != box->uidvalidity)
		return imapc_api->set_error(
		    storage->ctx, MAILFERRY_E_TEMP,
		    "UIDVALIDITY of mailbox '%s' changed from %u to %u "
		    "while it was open",
		    box->name, box->uidvalidity, st->uidvalidity);
	if ((caps & IMAPC_CAP_CONDSTORE) == 0)
		st->highest_modseq = 0;
	st->first_recent_uid = st->uidnext;
	status_taken(box, st);
	return 0;
}

int imapc_mailbox_status(struct mailferry_mailbox *_box,
                         struct mailferry_mailbox_status *status_r)
{
	struct imapc_mailbox *box = (struct imapc_mailbox *)_box;
	int ret;

	/* always a real refresh (NOOP + STATUS): another session may have
	 * changed the mailbox even when we said nothing since the last one */
	imapc_mailbox_cache_clear(box);
	if ((ret = imapc_box_select(box)) < 0)
		return ret;
	if ((ret = status_run(box, status_r)) < 0)
		return ret;
	memcpy(box->guid, status_r->guid, sizeof(box->guid));
	return 0;
}

/* ---- message iteration ----------------------------------------------- */

struct mailferry_msg_iter {
	struct imapc_mailbox *box;
	struct imapc_rec_array recs;
	size_t pos;
};

static int rec_cmp(const void *a, const void *b)
{
	const struct imapc_msg_rec *ra = a, *rb = b;

	return ra->msg.uid < rb->msg.uid ? -1 : ra->msg.uid > rb->msg.uid;
}

static void iter_clear_recs(struct mailferry_msg_iter *iter)
{
	for (size_t i = 0; i < iter->recs.count; i++)
		rec_free(&iter->recs.items[i]);
	iter->recs.count = 0;
}

int imapc_msg_iter_begin(struct mailferry_mailbox *_box,
                         const struct mailferry_msg_query *query,
                         struct mailferry_msg_iter **iter_r)
{
	struct imapc_mailbox *box = (struct imapc_mailbox *)_box;
	struct imapc_storage *storage = box->storage;
	struct imapc_client *client = storage->client;
	uint32_t caps = imapc_client_caps(client);
	uint32_t first = query->uid_first == 0 ? 1 : query->uid_first;
	uint32_t last = query->uid_last;
	struct mf_buf line = MF_BUF_INIT;
	struct mailferry_msg_iter *iter;
	unsigned int attempt = 0;
	int ret;

	if (query->changed_since > 0 && (caps & IMAPC_CAP_CONDSTORE) == 0)
		return imapc_api->set_error(
		    storage->ctx, MAILFERRY_E_NOHISTORY,
		    "mailbox '%s': the server has no CONDSTORE, so changes "
		    "since a modseq cannot be asked for",
		    box->name);
	if ((ret = imapc_box_select(box)) < 0)
		return ret;
	iter = mf_calloc(1, sizeof(*iter));
	iter->box = box;
	if (first > last)
		goto done;
	if (box->cache_valid && query->changed_since == 0 &&
	    first >= box->cache_first && last <= box->cache_last) {
		for (size_t i = cache_lower_bound(box, first);
		     i < box->cache.count &&
		     box->cache.items[i].msg.uid <= last;
		     i++)
			rec_copy(mf_array_append_zero(&iter->recs),
			         &box->cache.items[i]);
		*iter_r = iter;
		return 0;
	}

	mf_buf_printf(&line, "UID FETCH %u:", first);
	if (last == UINT32_MAX)
		mf_buf_append_c(&line, '*');
	else
		mf_buf_printf(&line, "%u", last);
	mf_buf_append_str(&line, " (UID FLAGS RFC822.SIZE INTERNALDATE");
	if ((caps & IMAPC_CAP_CONDSTORE) != 0)
		mf_buf_append_str(&line, " MODSEQ");
	if ((caps & IMAPC_CAP_SAVEDATE) != 0)
		mf_buf_append_str(&line, " SAVEDATE");
	if ((caps & IMAPC_CAP_X_GUID) != 0)
		mf_buf_append_str(&line, " X-GUID");
	else if ((caps & IMAPC_CAP_OBJECTID) != 0)
		mf_buf_append_str(&line, " EMAILID");
	mf_buf_append_c(&line, ')');
	if (query->changed_since > 0)
		mf_buf_printf(&line, " (CHANGEDSINCE %llu)",
		              (unsigned long long)query->changed_since);
	for (;;) {
		box->collect = &iter->recs;
		ret = imapc_client_run(client, line.data, "UID FETCH");
		box->collect = NULL;
		if (ret == 0)
			break;
		iter_clear_recs(iter);
		if (imapc_client_is_connected(client) &&
		    imapc_client_selected(client)->exists == 0) {
			/* some servers refuse "1:*" in an empty mailbox */
			ret = 0;
			break;
		}
		if (!imapc_storage_retry(storage, &attempt) ||
		    imapc_box_select(box) < 0) {
			ret = imapc_storage_fail(storage);
			mf_buf_free(&line);
			mf_array_free(&iter->recs);
			free(iter);
			return ret;
		}
	}
	mf_buf_free(&line);
	if (iter->recs.count > 1)
		mf_qsort(iter->recs.items, iter->recs.count,
		         sizeof(iter->recs.items[0]), rec_cmp);
	/* keep the range (N:* includes the highest UID even below N) and
	 * drop duplicates */
	size_t w = 0;
	for (size_t i = 0; i < iter->recs.count; i++) {
		struct imapc_msg_rec *r = &iter->recs.items[i];
		if (r->msg.uid < first || r->msg.uid > last ||
		    (w > 0 && iter->recs.items[w - 1].msg.uid == r->msg.uid)) {
			rec_free(r);
			continue;
		}
		iter->recs.items[w++] = *r;
	}
	iter->recs.count = w;
done:
	for (size_t i = 0; i < iter->recs.count; i++) {
		struct imapc_msg_rec *r = &iter->recs.items[i];
		r->msg.guid = r->guid;
		r->msg.keywords = (const char *const *)r->keywords;
	}
	if (query->changed_since == 0 && ret == 0 && first <= last) {
		/* everything in [first, last] (a full listing or one of the
		 * engine's read windows): cache it, and remember its order
		 * for body prefetching. The engine's windows never ask for
		 * 1:*, so a mailbox bigger than a window would otherwise get
		 * no prefetch at all (a round trip per message), and the
		 * query for the dates of the messages it is about to copy
		 * would be a round trip per flush. */
		imapc_mailbox_cache_clear(box);
		for (size_t i = 0; i < iter->recs.count; i++)
			rec_copy(mf_array_append_zero(&box->cache),
			         &iter->recs.items[i]);
		box->cache_first = first;
		box->cache_last = last;
		box->cache_valid = true;
		box->iter_uids.count = 0;
		box->iter_sizes.count = 0;
		for (size_t i = 0; i < iter->recs.count; i++) {
			mf_array_push(&box->iter_uids,
			              iter->recs.items[i].msg.uid);
			mf_array_push(&box->iter_sizes,
			              iter->recs.items[i].msg.virtual_size);
		}
		box->last_open_idx = 0;
		box->prefetch_next = 0;
	}
	*iter_r = iter;
	return 0;
}

struct imapc_storage *imapc_msg_iter_storage(struct mailferry_msg_iter *it)
{
	return it->box->storage;
}

int imapc_msg_iter_next(struct mailferry_msg_iter *iter,
                        const struct mailferry_msg **msg_r)
{
	if (iter->pos >= iter->recs.count)
		return 0;
	*msg_r = &iter->recs.items[iter->pos++].msg;
	return 1;
}

int imapc_msg_iter_end(struct mailferry_msg_iter **_iter)
{
	struct mailferry_msg_iter *iter = *_iter;

	if (iter == NULL)
		return 0;
	*_iter = NULL;
	iter_clear_recs(iter);
	mf_array_free(&iter->recs);
	free(iter);
	return 0;
}

/* ---- expunges -------------------------------------------------------- */

struct mailferry_expunge_iter {
	struct imapc_storage *storage;
	struct imapc_uid_array uids;
	size_t pos;
	uint64_t modseq;
	struct mailferry_expunge exp;
};

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The UIDs below UIDNEXT the cached full listing does not have, as a
 * UID set ("" when none). false when the set would be too long for a
 * command line. */
static bool gap_set(struct imapc_mailbox *box, struct mf_buf *out)
{
	const struct imapc_selected *sel =
	    imapc_client_selected(box->storage->client);
	uint32_t uidnext = box->last_uidnext;
	uint32_t next = 1; /* lowest UID not covered yet */

	if (sel->uidnext > uidnext)
		uidnext = sel->uidnext;
	for (size_t i = 0; i <= box->cache.count; i++) {
		uint32_t end = i < box->cache.count
		                   ? box->cache.items[i].msg.uid
		                   : (uidnext > next ? uidnext : next);
		if (end > next) {
			mf_buf_printf(out, "%s%u", out->len > 0 ? "," : "",
			              next);
			if (end - 1 > next)
				mf_buf_printf(out, ":%u", end - 1);
			if (out->len > 16000)
				return false;
		}
		if (i < box->cache.count)
			next = end + 1;
	}
	return true;
}

int imapc_expunge_iter_begin(struct mailferry_mailbox *_box, uint64_t since,
                             struct mailferry_expunge_iter **iter_r)
{
	struct imapc_mailbox *box = (struct imapc_mailbox *)_box;
	struct imapc_storage *storage = box->storage;
	struct imapc_client *client = storage->client;
	struct mailferry_expunge_iter *iter;
	struct mf_buf line = MF_BUF_INIT;
	unsigned int attempt = 0;
	int ret;

	if (!imapc_client_qresync(client))
		return imapc_api->set_error(
		    storage->ctx, MAILFERRY_E_NOTSUPP,
		    "mailbox '%s': the server has no QRESYNC, expunges "
		    "are found by comparing UIDs",
		    box->name);
	if ((ret = imapc_box_select(box)) < 0)
		return ret;
	iter = mf_calloc(1, sizeof(*iter));
	iter->storage = storage;
	/* All expunges (since 0) can only be among the UIDs the listing
	 * does not have: asking for just those gaps leaves out a FETCH
	 * reply for every message, and no gaps means no question. */
	bool gaps = since == 0 && box->cache_valid && box->cache_first <= 1 &&
	            box->cache_last == UINT32_MAX && gap_set(box, &line);
	if (gaps && line.len == 0)
		goto done;
	if (!gaps) {
		mf_buf_truncate(&line, 0);
		mf_buf_append_str(&line, "1:*");
	}
	mf_buf_printf(&line, " (UID) (CHANGEDSINCE %llu VANISHED)",
	              (unsigned long long)(since == 0 ? 1 : since));
	for (;;) {
		struct mf_buf cmd = MF_BUF_INIT;
		mf_buf_printf(&cmd, "UID FETCH %s", line.data);
		box->collect_vanished = &iter->uids;
		ret = imapc_client_run(client, cmd.data, "UID FETCH VANISHED");
		box->collect_vanished = NULL;
		mf_buf_free(&cmd);
		if (ret == 0)
			break;
		iter->uids.count = 0;
		if (!imapc_storage_retry(storage, &attempt) ||
		    imapc_box_select(box) < 0) {
			ret = imapc_storage_fail(storage);
			mf_buf_free(&line);
			mf_array_free(&iter->uids);
			free(iter);
			return ret;
		}
	}
done:
	mf_buf_free(&line);
	if (iter->uids.count > 1)
		mf_qsort(iter->uids.items, iter->uids.count, sizeof(uint32_t),
		         u32_cmp);
	/* IMAP does not tell when each expunge happened: they all get the
	 * mailbox's current HIGHESTMODSEQ */
	iter->modseq = imapc_client_selected(client)->highestmodseq;
	*iter_r = iter;
	return 0;
}

struct imapc_storage *
imapc_expunge_iter_storage(struct mailferry_expunge_iter *it)
{
	return it->storage;
}

int imapc_expunge_iter_next(struct mailferry_expunge_iter *iter,
                            const struct mailferry_expunge **exp_r)
{
	while (iter->pos < iter->uids.count) {
		uint32_t uid = iter->uids.items[iter->pos++];
		if (iter->pos > 1 && iter->uids.items[iter->pos - 2] == uid)
			continue;
		memset(&iter->exp, 0, sizeof(iter->exp));
		iter->exp.struct_size = sizeof(iter->exp);
		iter->exp.uid = uid;
		iter->exp.modseq = iter->modseq;
		*exp_r = &iter->exp;
		return 1;
	}
	return 0;
}

int imapc_expunge_iter_end(struct mailferry_expunge_iter **_iter)
{
	struct mailferry_expunge_iter *iter = *_iter;

	if (iter == NULL)
		return 0;
	*_iter = NULL;
	mf_array_free(&iter->uids);
	free(iter);
	return 0;
}
