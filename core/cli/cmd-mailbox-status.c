/* SPDX-License-Identifier: MIT */
/* mailferry mailbox status LOCATION FIELDS [MASK]... */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-cli-store.h"
#include "mf-hex.h"

enum status_field {
	F_MESSAGES,
	F_RECENT,
	F_UIDNEXT,
	F_UIDVALIDITY,
	F_UNSEEN,
	F_HIGHESTMODSEQ,
	F_HIGHESTPVTMODSEQ,
	F_VSIZE,
	F_GUID,
	F_FIRST_RECENT_UID,
	F_FIRSTSAVED,
};

static const char *const field_names[] = {
    [F_MESSAGES] = "messages",
    [F_RECENT] = "recent",
    [F_UIDNEXT] = "uidnext",
    [F_UIDVALIDITY] = "uidvalidity",
    [F_UNSEEN] = "unseen",
    [F_HIGHESTMODSEQ] = "highestmodseq",
    [F_HIGHESTPVTMODSEQ] = "highestpvtmodseq",
    [F_VSIZE] = "vsize",
    [F_GUID] = "guid",
    [F_FIRST_RECENT_UID] = "first_recent_uid",
    [F_FIRSTSAVED] = "firstsaved",
};

/* "all": doveadm's list, in doveadm's order */
static const enum status_field all_fields[] = {
    F_MESSAGES,      F_RECENT, F_UIDNEXT, F_UIDVALIDITY, F_UNSEEN,
    F_HIGHESTMODSEQ, F_VSIZE,  F_GUID,    F_FIRSTSAVED,
};

struct status_fields {
	MF_ARRAY(enum status_field) list;
};

static int parse_fields(struct mf_cli *cli, const char *arg,
                        struct status_fields *fields)
{
	char *copy = mf_strdup(arg), *p = copy;
	int ret = MF_EX_OK;

	while (*p != '\0' && ret == MF_EX_OK) {
		size_t len = strcspn(p, " \t");
		bool found = false;

		if (len == 0) {
			p++;
			continue;
		}
		if (p[len] != '\0')
			p[len++] = '\0';
		if (strcmp(p, "all") == 0) {
			for (size_t i = 0; i < MF_N_ELEMENTS(all_fields); i++)
				mf_array_push(&fields->list, all_fields[i]);
			found = true;
		}
		for (size_t i = 0; i < MF_N_ELEMENTS(field_names) && !found;
		     i++) {
			if (strcmp(p, field_names[i]) == 0) {
				mf_array_push(&fields->list,
				              (enum status_field)i);
				found = true;
			}
		}
		if (!found)
			ret = mf_cli_usage_error(
			    cli,
			    "unknown status field '%s' (known: messages "
			    "recent uidnext uidvalidity unseen "
			    "highestmodseq highestpvtmodseq vsize guid "
			    "first_recent_uid firstsaved all)",
			    p);
		p += len;
	}
	if (ret == MF_EX_OK && fields->list.count == 0)
		ret = mf_cli_usage_error(cli, "no status fields given");
	free(copy);
	return ret;
}

struct counts {
	uint32_t recent, unseen;
	uint64_t vsize;
	int64_t first_saved; /* save date of the lowest UID; 0 = none */
	bool seen_first;
};

/* recent, unseen and vsize need a pass over the messages */
static int count_messages(struct mf_storage *storage,
                          struct mailferry_mailbox *box,
                          const struct mailferry_mailbox_status *st,
                          struct counts *counts)
{
	struct mailferry_msg_query query;
	struct mailferry_msg_iter *iter;
	const struct mailferry_msg *msg;
	int ret, ret2;

	mf_zero(&query);
	query.struct_size = sizeof(query);
	query.uid_first = 1;
	query.uid_last = UINT32_MAX;
	query.fields = MAILFERRY_FIELD_FLAGS | MAILFERRY_FIELD_VIRTUAL_SIZE |
	               MAILFERRY_FIELD_SAVED;
	ret = storage->ops->msg_iter_begin(box, &query, &iter);
	if (ret < 0)
		return ret;
	while ((ret = storage->ops->msg_iter_next(iter, &msg)) > 0) {
		if (msg->uid >= st->first_recent_uid &&
		    st->first_recent_uid != 0)
			counts->recent++;
		if ((msg->flags & MAILFERRY_FLAG_SEEN) == 0)
			counts->unseen++;
		if (msg->virtual_size != UINT64_MAX)
			counts->vsize += msg->virtual_size;
		if (!counts->seen_first) {
			counts->first_saved = msg->save_date;
			counts->seen_first = true;
		}
	}
	ret2 = storage->ops->msg_iter_end(&iter);
	return ret < 0 ? ret : ret2;
}

static int mailbox_row(struct mf_storage *storage, const char *name,
                       const struct status_fields *fields, bool need_counts,
                       struct mf_fmt *fmt)
{
	struct mailferry_mailbox_status st;
	struct mailferry_mailbox *box;
	struct counts counts;
	struct mf_buf val = MF_BUF_INIT;
	int ret;

	ret = storage->ops->mailbox_open(storage->st, name,
	                                 MAILFERRY_MAILBOX_READONLY, &box);
	if (ret < 0)
		return mf_cli_storage_fail(storage, ret, "mailbox %s: open",
		                           name);
	mf_zero(&st);
	st.struct_size = sizeof(st);
	ret = storage->ops->mailbox_status(box, &st);
	if (ret < 0) {
		ret = mf_cli_storage_fail(storage, ret, "mailbox %s: status",
		                          name);
		storage->ops->mailbox_close(&box);
		return ret;
	}
	mf_zero(&counts);
	if (need_counts) {
		ret = count_messages(storage, box, &st, &counts);
		if (ret < 0) {
			ret = mf_cli_storage_fail(
			    storage, ret, "mailbox %s: reading messages", name);
			storage->ops->mailbox_close(&box);
			return ret;
		}
	}
	storage->ops->mailbox_close(&box);

	mf_fmt_value(fmt, name);
	for (size_t i = 0; i < fields->list.count; i++) {
		char hex[MF_GUID128_HEX_LEN];

		mf_buf_truncate(&val, 0);
		switch (fields->list.items[i]) {
		case F_MESSAGES:
			mf_buf_printf(&val, "%u", st.messages);
			break;
		case F_RECENT:
			mf_buf_printf(&val, "%u", counts.recent);
			break;
		case F_UIDNEXT:
			mf_buf_printf(&val, "%u", st.uidnext);
			break;
		case F_UIDVALIDITY:
			mf_buf_printf(&val, "%u", st.uidvalidity);
			break;
		case F_UNSEEN:
			mf_buf_printf(&val, "%u", counts.unseen);
			break;
		case F_HIGHESTMODSEQ:
			mf_buf_printf(&val, "%" PRIu64, st.highest_modseq);
			break;
		case F_HIGHESTPVTMODSEQ:
			mf_buf_printf(&val, "%" PRIu64, st.highest_pvt_modseq);
			break;
		case F_VSIZE:
			mf_buf_printf(&val, "%" PRIu64, counts.vsize);
			break;
		case F_GUID:
			mf_guid128_to_hex(st.guid, hex);
			mf_buf_append_str(&val, hex);
			break;
		case F_FIRST_RECENT_UID:
			mf_buf_printf(&val, "%u", st.first_recent_uid);
			break;
		case F_FIRSTSAVED:
			/* as doveadm: unix time, "never" in an empty mailbox */
			if (!counts.seen_first)
				mf_buf_append_str(&val, "never");
			else
				mf_buf_printf(&val, "%" PRId64,
				              counts.first_saved);
			break;
		}
		mf_fmt_value(fmt, mf_buf_str(&val));
	}
	mf_buf_free(&val);
	return MF_EX_OK;
}

int mf_cmd_mailbox_status(struct mf_cli *cli, int argc, char **argv)
{
	struct status_fields fields = {MF_ARRAY_INIT};
	struct mf_cli_mailboxes boxes = {MF_ARRAY_INIT};
	struct mf_storage *storage = NULL;
	bool need_counts = false;
	struct mf_fmt *fmt;
	int ret;

	if (mf_cli_reject_options(cli, argc, argv) != MF_EX_OK)
		return MF_EX_USAGE;
	if (argc < 1)
		return mf_cli_usage_error(cli, "missing LOCATION");
	if (argc < 2)
		return mf_cli_usage_error(cli, "missing FIELDS");
	ret = parse_fields(cli, argv[1], &fields);
	if (ret != MF_EX_OK)
		goto out;
	for (size_t i = 0; i < fields.list.count; i++) {
		enum status_field f = fields.list.items[i];

		if (f == F_RECENT || f == F_UNSEEN || f == F_VSIZE ||
		    f == F_FIRSTSAVED)
			need_counts = true;
	}
	ret = mf_cli_open_storage(cli, argv[0], &storage);
	if (ret != MF_EX_OK)
		goto out;
	ret = mf_cli_list_mailboxes(storage, argv + 2, argc - 2, &boxes);
	if (ret == MF_EX_OK)
		ret = mf_cli_check_names(storage, argv + 2, argc - 2, &boxes);
	if (ret != MF_EX_OK)
		goto out;

	fmt = mf_fmt_new(mf_cli_fmt(cli, MF_FMT_FLOW), stdout);
	mf_fmt_header(fmt, "mailbox", MF_FMT_HIDE_TITLE);
	for (size_t i = 0; i < fields.list.count; i++)
		mf_fmt_header(fmt, field_names[fields.list.items[i]], 0);
	for (size_t i = 0; i < boxes.list.count; i++) {
		int r;

		if ((boxes.list.items[i].flags & MAILFERRY_MAILBOX_NOSELECT) !=
		    0)
			continue;
		/* like doveadm: report the mailbox, go on with the rest */
		r = mailbox_row(storage, boxes.list.items[i].name, &fields,
		                need_counts, fmt);
		if (r != MF_EX_OK)
			ret = r;
	}
	if (mf_fmt_finish(&fmt) < 0 && ret == MF_EX_OK)
		ret = mf_cli_fail(MF_EX_TEMPFAIL, "writing the output failed");
out:
	mf_cli_mailboxes_free(&boxes);
	mf_array_free(&fields.list);
	mf_storage_close(&storage);
	return ret;
}
