/* SPDX-License-Identifier: MIT */
/*
 * imapc-fetch.c - message bodies: chunked UID FETCH BODY.PEEK[]<off.len>,
 * pipelined over a window of messages.
 *
 * Bodies are asked for in chunks of IMAPC_BODY_CHUNK bytes, so no single
 * response is larger than a chunk and a 100 MB message streams through a
 * few chunks of memory. When the core opens messages in the order the
 * last message iteration returned them, the next ones are requested ahead
 * (up to the window's bytes and IMAPC_MAX_PREFETCH_MSGS messages), so a
 * run costs no round trip per message.
 *
 * IMAP sends CRLF line endings; the stream gives LF, like the local stores
 * (a lone CR is kept).
 */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "mf-alloc.h"
#include "imapc-private.h"

struct mailferry_stream {
	struct imapc_mailbox *box;
	struct imapc_body *body;
};

static void body_free(struct imapc_mailbox *box, struct imapc_body *body)
{
	struct imapc_client *client = box->storage->client;

	for (size_t i = 0; i < body->chunks.count; i++)
		imapc_cmd_free(client, &body->chunks.items[i].cmd);
	mf_array_free(&body->chunks);
	mf_buf_free(&body->data);
	free(body->error_text);
	free(body);
}

static void body_remove(struct imapc_mailbox *box, struct imapc_body *body)
{
	for (size_t i = 0; i < box->bodies.count; i++) {
		if (box->bodies.items[i] == body) {
			memmove(&box->bodies.items[i],
			        &box->bodies.items[i + 1],
			        (box->bodies.count - i - 1) *
			            sizeof(box->bodies.items[0]));
			box->bodies.count--;
			break;
		}
	}
	body_free(box, body);
}

void imapc_bodies_clear(struct imapc_mailbox *box)
{
	for (size_t i = 0; i < box->bodies.count; i++) {
		struct imapc_body *body = box->bodies.items[i];
		if (body->in_use) {
			/* an open stream: it fails on its next read */
			for (size_t j = 0; j < body->chunks.count; j++)
				imapc_cmd_free(box->storage->client,
				               &body->chunks.items[j].cmd);
			body->chunks.count = 0;
			body->requested_end = body->received;
			continue;
		}
		body_free(box, body);
		box->bodies.items[i] = NULL;
	}
	size_t w = 0;
	for (size_t i = 0; i < box->bodies.count; i++) {
		if (box->bodies.items[i] != NULL)
			box->bodies.items[w++] = box->bodies.items[i];
	}
	box->bodies.count = w;
}

static struct imapc_body *body_find(struct imapc_mailbox *box, uint32_t uid)
{
	for (size_t i = 0; i < box->bodies.count; i++) {
		if (box->bodies.items[i]->uid == uid)
			return box->bodies.items[i];
	}
	return NULL;
}

/* Ask for the next chunk of body. 0, or -1 with the client error set. */
static int body_request(struct imapc_mailbox *box, struct imapc_body *body)
{
	struct imapc_client *client = box->storage->client;
	char line[128];

	if (body->header_only)
		snprintf(line, sizeof(line),
		         "UID FETCH %u (UID BODY.PEEK[HEADER])", body->uid);
	else
		snprintf(line, sizeof(line),
		         "UID FETCH %u (UID BODY.PEEK[]<%llu.%u>)", body->uid,
		         (unsigned long long)body->requested_end,
		         IMAPC_BODY_CHUNK);
	struct imapc_cmd *cmd = imapc_cmd_send(client, line, NULL);
	if (cmd == NULL)
		return -1;
	struct imapc_chunk *chunk = mf_array_append_zero(&body->chunks);
	chunk->cmd = cmd;
	chunk->offset = body->requested_end;
	body->requested_end +=
	    body->header_only ? UINT32_MAX : IMAPC_BODY_CHUNK;
	return cmd->disconnected ? -1 : 0;
}

/* Parse the "<n>" origin of "BODY[]<n>"; 0 when absent. */
static uint64_t section_origin(const char *section)
{
	const char *lt = strrchr(section, '<');

	return lt == NULL ? 0 : strtoull(lt + 1, NULL, 10);
}

void imapc_fetch_body_data(struct imapc_mailbox *box, uint32_t uid,
                           const char *section, const struct imapc_arg *value)
{
	struct imapc_body *body = body_find(box, uid);

	if (body == NULL || body->error != 0 || body->eof)
		return; /* dropped from the window meanwhile */
	bool is_header = strncasecmp(section, "BODY[HEADER]", 12) == 0;
	if (is_header != body->header_only)
		return;
	uint64_t origin = section_origin(section);
	size_t len = value->type == IMAPC_ARG_NIL ? 0 : value->len;
	const char *data = value->type == IMAPC_ARG_NIL ? "" : value->str;

	body->got_data = true;
	if (origin > body->received) {
		body->error = MAILFERRY_E_INVALIDDATA;
		body->error_text = mf_strdup_printf(
		    "message UID %u: server sent bytes from offset %llu "
		    "while %llu were expected",
		    uid, (unsigned long long)origin,
		    (unsigned long long)body->received);
		return;
	}
	/* a resent chunk (after a reconnect) may overlap */
	uint64_t skip = body->received - origin;
	if (skip < len) {
		mf_buf_append(&body->data, data + skip, len - (size_t)skip);
		body->received += len - skip;
	}
	if (body->header_only || len < IMAPC_BODY_CHUNK)
		body->eof = true;
}

/* Handle finished chunk commands of body. */
static void body_reap(struct imapc_mailbox *box, struct imapc_body *body)
{
	struct imapc_client *client = box->storage->client;
	size_t w = 0;

	for (size_t i = 0; i < body->chunks.count; i++) {
		struct imapc_chunk *c = &body->chunks.items[i];
		if (!c->cmd->done) {
			body->chunks.items[w++] = *c;
			continue;
		}
		if (c->cmd->disconnected) {
			/* asked again after the reconnect */
			if (body->requested_end > c->offset)
				body->requested_end = c->offset;
		} else if (c->cmd->status != IMAPC_STATUS_OK &&
		           body->error == 0) {
			int code = imapc_cmd_error_code(c->cmd);
			body->error = code == MAILFERRY_E_NOTFOUND
			                  ? MAILFERRY_E_EXPUNGED
			                  : code;
			body->error_text = mf_strdup_printf(
			    "fetching message UID %u failed: %s", body->uid,
			    c->cmd->text);
		} else if (c->offset == 0 && !body->got_data &&
		           body->error == 0) {
			body->error = MAILFERRY_E_EXPUNGED;
			body->error_text = mf_strdup_printf(
			    "message UID %u was expunged", body->uid);
		} else if (!body->eof && body->received == c->offset &&
		           c->offset > 0) {
			/* nothing past the end: the last chunk was full */
			body->eof = true;
		}
		imapc_cmd_free(client, &c->cmd);
	}
	body->chunks.count = w;
	if (body->requested_end < body->received)
		body->requested_end = body->received;
}

static uint64_t window_bytes(struct imapc_mailbox *box)
{
	uint64_t total = 0;

	for (size_t i = 0; i < box->bodies.count; i++) {
		struct imapc_body *b = box->bodies.items[i];
		total += b->data.len - b->read_pos;
		if (!b->eof)
			total += b->size_hint != UINT64_MAX
			             ? MF_MIN(b->size_hint, IMAPC_BODY_CHUNK)
			             : IMAPC_BODY_CHUNK;
	}
	return total;
}

static struct imapc_body *body_new(struct imapc_mailbox *box, uint32_t uid,
                                   bool header_only, uint64_t size_hint)
{
	struct imapc_body *body = mf_calloc(1, sizeof(*body));

	body->uid = uid;
	body->header_only = header_only;
	body->size_hint = size_hint;
	mf_array_push(&box->bodies, body);
	return body;
}

static size_t iter_index(struct imapc_mailbox *box, uint32_t uid)
{
	size_t lo = 0, hi = box->iter_uids.count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (box->iter_uids.items[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < box->iter_uids.count && box->iter_uids.items[lo] == uid
	           ? lo
	           : SIZE_MAX;
}

/* Prefetch the messages after idx in the iteration order. */
static void prefetch(struct imapc_mailbox *box, size_t idx)
{
	size_t n = 0;

	for (size_t i = idx + 1;
	     i < box->iter_uids.count && n < IMAPC_MAX_PREFETCH_MSGS; i++) {
		if (window_bytes(box) >= box->storage->window)
			break;
		uint32_t uid = box->iter_uids.items[i];
		n++;
		if (body_find(box, uid) != NULL)
			continue;
		struct imapc_body *b =
		    body_new(box, uid, false, box->iter_sizes.items[i]);
		if (body_request(box, b) < 0)
			break;
	}
}

int imapc_msg_open(struct mailferry_mailbox *_box, uint32_t uid, uint32_t flags,
                   struct mailferry_stream **stream_r)
{
	struct imapc_mailbox *box = (struct imapc_mailbox *)_box;
	struct imapc_storage *storage = box->storage;
	bool header_only = (flags & MAILFERRY_OPEN_HEADER_ONLY) != 0;
	int ret;

	if ((ret = imapc_box_select(box)) < 0)
		return ret;
	/* bodies the core skipped are dropped so the window keeps moving */
	for (size_t i = 0; i < box->bodies.count;) {
		struct imapc_body *b = box->bodies.items[i];
		if (!b->in_use &&
		    (b->uid < uid ||
		     (b->uid == uid && b->header_only != header_only))) {
			body_remove(box, b);
			continue;
		}
		i++;
	}
	struct imapc_body *body = body_find(box, uid);
	if (body != NULL && body->in_use)
		return imapc_api->set_error(storage->ctx, MAILFERRY_E_INUSE,
		                            "message UID %u is already open",
		                            uid);
	size_t idx = iter_index(box, uid);
	if (body == NULL) {
		body = body_new(box, uid, header_only,
		                idx == SIZE_MAX ? UINT64_MAX
		                                : box->iter_sizes.items[idx]);
		if (body_request(box, body) < 0) {
			body_remove(box, body);
			unsigned int attempt = 0;
			if (!imapc_storage_retry(storage, &attempt))
				return imapc_storage_fail(storage);
			if ((ret = imapc_box_select(box)) < 0)
				return ret;
			body = body_new(box, uid, header_only, UINT64_MAX);
			if (body_request(box, body) < 0) {
				body_remove(box, body);
				return imapc_storage_fail(storage);
			}
		}
	}
	if (idx != SIZE_MAX && !header_only) {
		if (box->last_open_idx == idx)
			prefetch(box, idx);
		box->last_open_idx = idx + 1;
	}
	body->in_use = true;
	struct mailferry_stream *stream = mf_calloc(1, sizeof(*stream));
	stream->box = box;
	stream->body = body;
	*stream_r = stream;
	return 0;
}

/* Copy from the buffer with CRLF -> LF. Returns bytes written to out. */
static size_t body_copy(struct imapc_body *body, char *out, size_t size)
{
	const char *src = body->data.data;
	size_t end = body->data.len, pos = body->read_pos, n = 0;

	while (pos < end && n < size) {
		char c = src[pos];
		if (c == '\r') {
			if (pos + 1 < end) {
				if (src[pos + 1] == '\n') {
					pos++;
					continue;
				}
			} else if (!body->eof) {
				break; /* decide when the next byte arrives */
			}
		}
		out[n++] = c;
		pos++;
	}
	body->read_pos = pos;
	if (body->read_pos == body->data.len) {
		body->read_pos = 0;
		mf_buf_truncate(&body->data, 0);
	} else if (body->read_pos > 65536 &&
	           body->read_pos * 2 > body->data.len) {
		memmove(body->data.data, body->data.data + body->read_pos,
		        body->data.len - body->read_pos);
		mf_buf_truncate(&body->data, body->data.len - body->read_pos);
		body->read_pos = 0;
	}
	return n;
}

int imapc_stream_read(struct mailferry_stream *stream, void *buf, size_t size,
                      size_t *size_r)
{
	struct imapc_mailbox *box = stream->box;
	struct imapc_storage *storage = box->storage;
	struct imapc_client *client = storage->client;
	struct imapc_body *body = stream->body;
	unsigned int attempt = 0;

	*size_r = 0;
	for (;;) {
		if (imapc_api->should_stop(storage->ctx))
			return imapc_api->set_error(
			    storage->ctx, MAILFERRY_E_CANCELED, "canceled");
		body_reap(box, body);
		if (body->error != 0)
			return imapc_api->set_error(
			    storage->ctx, body->error, "mailbox '%s': %s",
			    box->name, body->error_text);
		size_t n = body_copy(body, buf, size);
		if (n > 0 || size == 0) {
			*size_r = n;
			return 0;
		}
		if (body->eof && body->data.len == body->read_pos)
			return 0;
		/* keep up to two chunks of this body in flight */
		/* one chunk of a body in flight at a time: a server may run
		 * pipelined commands in parallel (Dovecot does for some), so
		 * two chunks of one message could come back in either order;
		 * other messages' bodies are what is pipelined */
		while (!body->eof && !body->header_only &&
		       body->chunks.count == 0 &&
		       body->data.len - body->read_pos < IMAPC_BODY_CHUNK) {
			if (body_request(box, body) < 0)
				break;
		}
		if (body->header_only && body->chunks.count == 0 &&
		    !body->eof && body_request(box, body) < 0) {
			/* falls through to the reconnect below */
		}
		if (imapc_client_is_connected(client) &&
		    imapc_client_read_one(client) == 0)
			continue;
		/* the connection broke: reconnect, select, ask again */
		body_reap(box, body);
		if (!imapc_storage_retry(storage, &attempt))
			return imapc_storage_fail(storage);
		storage->selected = NULL;
		int ret = imapc_box_select(box);
		if (ret < 0)
			return ret;
		body->requested_end = body->received;
	}
}

struct imapc_storage *imapc_stream_storage(struct mailferry_stream *stream)
{
	return stream->box->storage;
}

void imapc_stream_close(struct mailferry_stream **_stream)
{
	struct mailferry_stream *stream = *_stream;

	if (stream == NULL)
		return;
	*_stream = NULL;
	body_remove(stream->box, stream->body);
	free(stream);
}
