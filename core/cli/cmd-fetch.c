/* SPDX-License-Identifier: MIT */
/*
 * mailferry fetch LOCATION FIELDS [mailbox NAME|MASK] [uid SET|all]
 *
 * Streams: message bodies are read in fixed-size chunks through
 * stream_read(); body.sha256 hashes them on the fly and text prints them as
 * they arrive, so memory does not grow with message size. Only hdr.<name>
 * keeps the header block (bounded by MAX_HEADER_SIZE).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <openssl/evp.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-cli-store.h"
#include "mf-cli-util.h"
#include "mf-hex.h"

#define READ_CHUNK (64 * 1024)
#define MAX_HEADER_SIZE (8 * 1024 * 1024)

enum fetch_kind {
	K_MAILBOX,
	K_MAILBOX_GUID,
	K_SEQ,
	K_UID,
	K_GUID,
	K_FLAGS,
	K_KEYWORDS,
	K_MODSEQ,
	K_DATE_RECEIVED,
	K_DATE_SAVED,
	K_DATE_RECEIVED_UNIX,
	K_DATE_SAVED_UNIX,
	K_SIZE_PHYSICAL,
	K_SIZE_VIRTUAL,
	K_POP3_UIDL,
	K_POP3_ORDER,
	K_HDR,
	K_BODY_SHA256,
	K_TEXT,
	K_HDR_ALL,
	K_BODY,
};

static const struct {
	const char *name;
	enum fetch_kind kind;
	uint32_t query_fields;
} known_fields[] = {
    {"mailbox", K_MAILBOX, 0},
    {"mailbox-guid", K_MAILBOX_GUID, 0},
    {"seq", K_SEQ, 0},
    {"uid", K_UID, 0},
    {"guid", K_GUID, MAILFERRY_FIELD_GUID},
    {"flags", K_FLAGS, MAILFERRY_FIELD_FLAGS},
    {"keywords", K_KEYWORDS, MAILFERRY_FIELD_FLAGS},
    {"modseq", K_MODSEQ, MAILFERRY_FIELD_MODSEQ},
    {"date.received", K_DATE_RECEIVED, MAILFERRY_FIELD_RECEIVED},
    {"date.saved", K_DATE_SAVED, MAILFERRY_FIELD_SAVED},
    {"date.received.unixtime", K_DATE_RECEIVED_UNIX, MAILFERRY_FIELD_RECEIVED},
    {"date.saved.unixtime", K_DATE_SAVED_UNIX, MAILFERRY_FIELD_SAVED},
    {"size.physical", K_SIZE_PHYSICAL, MAILFERRY_FIELD_PHYSICAL_SIZE},
    {"size.virtual", K_SIZE_VIRTUAL, MAILFERRY_FIELD_VIRTUAL_SIZE},
    {"pop3.uidl", K_POP3_UIDL, MAILFERRY_FIELD_POP3},
    {"pop3.order", K_POP3_ORDER, MAILFERRY_FIELD_POP3},
    {"body.sha256", K_BODY_SHA256, 0},
    {"text", K_TEXT, 0},
    {"hdr", K_HDR_ALL, 0},
    {"body", K_BODY, 0},
};

struct fetch_field {
	enum fetch_kind kind;
	const char *title; /* points into the FIELDS argument copy */
	const char *hdr;   /* K_HDR: the header name */
};

struct fetch_ctx {
	struct mf_cli *cli;
	struct mf_storage *storage;
	char *fields_copy;
	MF_ARRAY(struct fetch_field) fields;
	uint32_t query_fields;
	struct mf_uidset uids;
	bool have_uids;
	MF_ARRAY(char *) masks;
	struct mf_fmt *fmt;
	unsigned char *chunk;
};

static int parse_fields(struct fetch_ctx *ctx, const char *arg)
{
	char *p;

	ctx->fields_copy = mf_strdup(arg);
	p = ctx->fields_copy;
	while (*p != '\0') {
		size_t len = strcspn(p, " \t");
		struct fetch_field *f;
		bool found = false;

		if (len == 0) {
			p++;
			continue;
		}
		if (p[len] != '\0')
			p[len++] = '\0';
		f = mf_array_append_zero(&ctx->fields);
		f->title = p;
		if (strncasecmp(p, "hdr.", 4) == 0 && p[4] != '\0') {
			f->kind = K_HDR;
			f->hdr = p + 4;
			found = true;
		}
		for (size_t i = 0; i < MF_N_ELEMENTS(known_fields) && !found;
		     i++) {
			if (strcmp(p, known_fields[i].name) == 0) {
				f->kind = known_fields[i].kind;
				ctx->query_fields |=
				    known_fields[i].query_fields;
				found = true;
			}
		}
		if (!found)
			return mf_cli_usage_error(
			    ctx->cli,
			    "unknown fetch field '%s' (known: mailbox "
			    "mailbox-guid seq uid guid flags keywords "
			    "modseq date.received date.saved "
			    "date.received.unixtime date.saved.unixtime "
			    "size.physical size.virtual pop3.uidl "
			    "pop3.order hdr hdr.<name> body body.sha256 "
			    "text)",
			    p);
		p += len;
	}
	if (ctx->fields.count == 0)
		return mf_cli_usage_error(ctx->cli, "no fetch fields given");
	return MF_EX_OK;
}

static int parse_query(struct fetch_ctx *ctx, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		char *error;

		if (strcasecmp(argv[i], "all") == 0)
			continue;
		if (strcasecmp(argv[i], "mailbox") == 0) {
			if (i + 1 >= argc)
				return mf_cli_usage_error(
				    ctx->cli,
				    "search key 'mailbox' needs a name "
				    "or mask");
			mf_array_push(&ctx->masks, argv[++i]);
			continue;
		}
		if (strcasecmp(argv[i], "uid") == 0) {
			if (i + 1 >= argc)
				return mf_cli_usage_error(
				    ctx->cli,
				    "search key 'uid' needs a UID set");
			if (ctx->have_uids)
				return mf_cli_usage_error(
				    ctx->cli, "search key 'uid' given "
				              "twice");
			if (mf_uidset_parse(argv[++i], &ctx->uids, &error) <
			    0) {
				int ret =
				    mf_cli_usage_error(ctx->cli, "%s", error);

				free(error);
				return ret;
			}
			ctx->have_uids = true;
			continue;
		}
		return mf_cli_usage_error(ctx->cli,
		                          "unsupported search key '%s' "
		                          "(supported: mailbox NAME|MASK, "
		                          "uid SET, all)",
		                          argv[i]);
	}
	return MF_EX_OK;
}

enum msg_part {
	PART_ALL,
	PART_HEADER, /* up to and including the blank line */
	PART_BODY,   /* after the blank line */
};

/* Where the header of a message ends, found across chunk boundaries: the
 * header ends after a line that is empty ("\n" or "\r\n"). The state
 * starts as if after a line end, so a message starting with an empty line
 * has the header "\n". */
struct header_end {
	bool done;
	char prev, prev2;
};

/* The length of the header part at the start of data[0..size) (size when
 * the header goes on past it); sets he->done when the end was found. */
static size_t header_scan(struct header_end *he, const char *data, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		char c = data[i];

		if (c == '\n' && (he->prev == '\n' ||
		                  (he->prev == '\r' && he->prev2 == '\n'))) {
			he->done = true;
			return i + 1;
		}
		he->prev2 = he->prev;
		he->prev = c;
	}
	return size;
}

/* Stream a part of the message to the formatter and/or a digest, in
 * READ_CHUNK pieces. */
static int read_message(struct fetch_ctx *ctx, struct mailferry_mailbox *box,
                        uint32_t uid, enum msg_part part, EVP_MD_CTX *md,
                        bool print)
{
	const struct mailferry_driver_ops *ops = ctx->storage->ops;
	struct header_end he = {false, '\n', '\n'};
	struct mailferry_stream *stream;
	size_t n;
	int ret;

	ret = ops->msg_open(
	    box, uid, part == PART_HEADER ? MAILFERRY_OPEN_HEADER_ONLY : 0,
	    &stream);
	if (ret < 0)
		return ret;
	while ((ret = ops->stream_read(stream, ctx->chunk, READ_CHUNK, &n)) ==
	           0 &&
	       n > 0) {
		const char *data = (const char *)ctx->chunk;

		if (part != PART_ALL && !he.done) {
			size_t hlen = header_scan(&he, data, n);

			if (part == PART_HEADER) {
				n = hlen;
			} else {
				data += hlen;
				n -= hlen;
			}
		} else if (part == PART_HEADER) {
			break;
		}
		if (md != NULL)
			EVP_DigestUpdate(md, data, n);
		if (print && n > 0)
			mf_fmt_stream(ctx->fmt, data, n);
		if (part == PART_HEADER && he.done)
			break;
	}
	ops->stream_close(&stream);
	return ret;
}

/* The values of header field hdr as stored, read from the start of the
 * message only. As doveadm prints them: folded lines are kept (with LF line
 * ends) and several occurrences are separated by a newline. */
static int read_header(struct fetch_ctx *ctx, struct mailferry_mailbox *box,
                       uint32_t uid, const char *hdr, struct mf_buf *value)
{
	const struct mailferry_driver_ops *ops = ctx->storage->ops;
	struct mailferry_stream *stream;
	struct mf_buf head = MF_BUF_INIT;
	size_t n, hlen = strlen(hdr);
	const char *p, *end;
	int ret;

	ret = ops->msg_open(box, uid, MAILFERRY_OPEN_HEADER_ONLY, &stream);
	if (ret < 0)
		return ret;
	while ((ret = ops->stream_read(stream, ctx->chunk, READ_CHUNK, &n)) ==
	           0 &&
	       n > 0) {
		mf_buf_append(&head, ctx->chunk, n);
		if (strstr(head.data, "\n\n") != NULL ||
		    strstr(head.data, "\n\r\n") != NULL)
			break;
		if (head.len > MAX_HEADER_SIZE)
			break;
	}
	ops->stream_close(&stream);
	if (ret < 0) {
		mf_buf_free(&head);
		return ret;
	}
	p = mf_buf_str(&head);
	end = p + head.len;
	while (p < end && *p != '\n' && !(*p == '\r' && p[1] == '\n')) {
		const char *line_end = memchr(p, '\n', (size_t)(end - p));
		bool match = strncasecmp(p, hdr, hlen) == 0 && p[hlen] == ':';

		if (line_end == NULL)
			line_end = end;
		if (match) {
			const char *v = p + hlen + 1;

			if (value->len > 0)
				mf_buf_append_c(value, '\n');
			while (*v == ' ' || *v == '\t')
				v++;
			for (;;) {
				const char *e = line_end;

				if (e > v && e[-1] == '\r')
					e--;
				mf_buf_append(value, v, (size_t)(e - v));
				if (line_end >= end ||
				    (line_end[1] != ' ' && line_end[1] != '\t'))
					break;
				/* folded continuation line, kept */
				mf_buf_append_c(value, '\n');
				v = line_end + 1;
				line_end = memchr(v, '\n', (size_t)(end - v));
				if (line_end == NULL)
					line_end = end;
			}
		} else {
			while (line_end < end &&
			       (line_end[1] == ' ' || line_end[1] == '\t')) {
				line_end = memchr(line_end + 1, '\n',
				                  (size_t)(end - line_end - 1));
				if (line_end == NULL)
					line_end = end;
			}
		}
		p = line_end + 1;
	}
	mf_buf_free(&head);
	return 0;
}

static int print_message(struct fetch_ctx *ctx, struct mailferry_mailbox *box,
                         const char *name,
                         const struct mailferry_mailbox_status *st,
                         const struct mailferry_msg *msg, uint32_t seq)
{
	struct mf_buf val = MF_BUF_INIT;
	char date[MF_DATE_STR_SIZE], hex[MF_GUID128_HEX_LEN];
	int ret = 0;

	for (size_t i = 0; i < ctx->fields.count && ret == 0; i++) {
		const struct fetch_field *f = &ctx->fields.items[i];

		mf_buf_truncate(&val, 0);
		switch (f->kind) {
		case K_MAILBOX:
			mf_buf_append_str(&val, name);
			break;
		case K_MAILBOX_GUID:
			mf_guid128_to_hex(st->guid, hex);
			mf_buf_append_str(&val, hex);
			break;
		case K_SEQ:
			mf_buf_printf(&val, "%u", seq);
			break;
		case K_UID:
			mf_buf_printf(&val, "%u", msg->uid);
			break;
		case K_GUID:
			mf_buf_append_str(&val,
			                  msg->guid == NULL ? "" : msg->guid);
			break;
		case K_FLAGS:
			mf_flags_append(&val, msg->flags, msg->keywords);
			break;
		case K_KEYWORDS:
			mf_flags_append(&val, 0, msg->keywords);
			break;
		case K_MODSEQ:
			mf_buf_printf(&val, "%" PRIu64, msg->modseq);
			break;
		case K_DATE_RECEIVED:
			mf_format_date(msg->received_date, date);
			mf_buf_append_str(&val, date);
			break;
		case K_DATE_SAVED:
			mf_format_date(msg->save_date, date);
			mf_buf_append_str(&val, date);
			break;
		case K_DATE_RECEIVED_UNIX:
			mf_buf_printf(&val, "%" PRId64, msg->received_date);
			break;
		case K_DATE_SAVED_UNIX:
			mf_buf_printf(&val, "%" PRId64, msg->save_date);
			break;
		case K_SIZE_PHYSICAL:
			if (msg->physical_size != UINT64_MAX)
				mf_buf_printf(&val, "%" PRIu64,
				              msg->physical_size);
			break;
		case K_SIZE_VIRTUAL:
			if (msg->virtual_size != UINT64_MAX)
				mf_buf_printf(&val, "%" PRIu64,
				              msg->virtual_size);
			break;
		case K_POP3_UIDL:
			mf_buf_append_str(
			    &val, msg->pop3_uidl == NULL ? "" : msg->pop3_uidl);
			break;
		case K_POP3_ORDER:
			if (msg->pop3_order != 0)
				mf_buf_printf(&val, "%u", msg->pop3_order);
			break;
		case K_HDR:
			ret = read_header(ctx, box, msg->uid, f->hdr, &val);
			break;
		case K_BODY_SHA256: {
			EVP_MD_CTX *md = EVP_MD_CTX_new();
			unsigned char digest[EVP_MAX_MD_SIZE];
			unsigned int dlen = 0;

			if (md == NULL ||
			    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
				EVP_MD_CTX_free(md);
				mf_buf_free(&val);
				return MAILFERRY_E_NOMEM;
			}
			ret = read_message(ctx, box, msg->uid, PART_ALL, md,
			                   false);
			if (ret == 0)
				EVP_DigestFinal_ex(md, digest, &dlen);
			EVP_MD_CTX_free(md);
			mf_buf_append_hex(&val, digest, dlen);
			break;
		}
		case K_TEXT:
		case K_HDR_ALL:
		case K_BODY:
			ret = read_message(ctx, box, msg->uid,
			                   f->kind == K_TEXT      ? PART_ALL
			                   : f->kind == K_HDR_ALL ? PART_HEADER
			                                          : PART_BODY,
			                   NULL, true);
			/* ends the streamed value even after an error, so
			 * the output stays well-formed */
			mf_fmt_stream(ctx->fmt, NULL, 0);
			continue;
		}
		if (ret == 0)
			mf_fmt_value(ctx->fmt, mf_buf_str(&val));
		else
			mf_fmt_value(ctx->fmt, "");
	}
	mf_buf_free(&val);
	return ret;
}

static int fetch_mailbox(struct fetch_ctx *ctx, const char *name)
{
	const struct mailferry_driver_ops *ops = ctx->storage->ops;
	struct mailferry_mailbox_status st;
	struct mailferry_msg_query query;
	struct mailferry_mailbox *box;
	struct mailferry_msg_iter *iter;
	const struct mailferry_msg *msg;
	uint32_t seq = 0;
	int ret, ret2, exit_code = MF_EX_OK;

	ret = ops->mailbox_open(ctx->storage->st, name,
	                        MAILFERRY_MAILBOX_READONLY, &box);
	if (ret < 0)
		return mf_cli_storage_fail(ctx->storage, ret,
		                           "mailbox %s: open", name);
	mf_zero(&st);
	st.struct_size = sizeof(st);
	ret = ops->mailbox_status(box, &st);
	if (ret < 0) {
		ret = mf_cli_storage_fail(ctx->storage, ret,
		                          "mailbox %s: status", name);
		ops->mailbox_close(&box);
		return ret;
	}
	/* Iterate from UID 1 so that seq is the real sequence number; the
	 * UID set filters below. */
	mf_zero(&query);
	query.struct_size = sizeof(query);
	query.uid_first = 1;
	query.uid_last = UINT32_MAX;
	query.fields = ctx->query_fields;
	ret = ops->msg_iter_begin(box, &query, &iter);
	if (ret < 0) {
		ret = mf_cli_storage_fail(ctx->storage, ret,
		                          "mailbox %s: reading messages", name);
		ops->mailbox_close(&box);
		return ret;
	}
	while ((ret = ops->msg_iter_next(iter, &msg)) > 0) {
		seq++;
		if (ctx->have_uids && !mf_uidset_contains(&ctx->uids, msg->uid))
			continue;
		ret2 = print_message(ctx, box, name, &st, msg, seq);
		if (ret2 < 0) {
			/* like doveadm: report it and go on */
			exit_code = mf_cli_storage_fail(ctx->storage, ret2,
			                                "mailbox %s: uid %u",
			                                name, msg->uid);
		}
		if (mf_core_should_stop()) {
			ret = MAILFERRY_E_CANCELED;
			break;
		}
	}
	ret2 = ops->msg_iter_end(&iter);
	if (ret == 0)
		ret = ret2;
	if (ret < 0)
		exit_code = mf_cli_storage_fail(
		    ctx->storage, ret, "mailbox %s: reading messages", name);
	ops->mailbox_close(&box);
	return exit_code;
}

int mf_cmd_fetch(struct mf_cli *cli, int argc, char **argv)
{
	struct mf_cli_mailboxes boxes = {MF_ARRAY_INIT};
	struct fetch_ctx ctx;
	int ret;

	mf_zero(&ctx);
	ctx.cli = cli;
	if (mf_cli_reject_options(cli, argc, argv) != MF_EX_OK)
		return MF_EX_USAGE;
	if (argc < 1)
		return mf_cli_usage_error(cli, "missing LOCATION");
	if (argc < 2)
		return mf_cli_usage_error(cli, "missing FIELDS");
	ret = parse_fields(&ctx, argv[1]);
	if (ret == MF_EX_OK)
		ret = parse_query(&ctx, argc - 2, argv + 2);
	if (ret == MF_EX_OK)
		ret = mf_cli_open_storage(cli, argv[0], &ctx.storage);
	if (ret == MF_EX_OK)
		ret = mf_cli_list_mailboxes(ctx.storage, ctx.masks.items,
		                            (int)ctx.masks.count, &boxes);
	if (ret != MF_EX_OK)
		goto out;
	ret = mf_cli_check_names(ctx.storage, ctx.masks.items,
	                         (int)ctx.masks.count, &boxes);
	if (ret != MF_EX_OK)
		goto out;

	ctx.chunk = mf_malloc(READ_CHUNK);
	ctx.fmt = mf_fmt_new(mf_cli_fmt(cli, MF_FMT_PAGER), stdout);
	for (size_t i = 0; i < ctx.fields.count; i++)
		mf_fmt_header(ctx.fmt, ctx.fields.items[i].title, 0);
	for (size_t i = 0; i < boxes.list.count; i++) {
		int r;

		if ((boxes.list.items[i].flags & MAILFERRY_MAILBOX_NOSELECT) !=
		    0)
			continue;
		r = fetch_mailbox(&ctx, boxes.list.items[i].name);
		if (r != MF_EX_OK)
			ret = r;
		if (mf_core_should_stop())
			break;
	}
	if (mf_fmt_finish(&ctx.fmt) < 0 && ret == MF_EX_OK)
		ret = mf_cli_fail(MF_EX_TEMPFAIL, "writing the output failed");
out:
	free(ctx.chunk);
	mf_cli_mailboxes_free(&boxes);
	mf_array_free(&ctx.masks);
	mf_array_free(&ctx.fields);
	mf_uidset_free(&ctx.uids);
	free(ctx.fields_copy);
	mf_storage_close(&ctx.storage);
	return ret;
}
