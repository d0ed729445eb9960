/* SPDX-License-Identifier: MIT */
/*
 * imapc-fetch.c - message bodies: UID FETCH BODY.PEEK[] pipelined over a
 * window of messages.
 *
 * When the core opens messages in the order the last message iteration
 * returned them, the next ones are requested ahead, up to the window's
 * bytes and IMAPC_MAX_PREFETCH_MSGS messages, so a run costs no round trip
 * per message. Bodies whose size (RFC822.SIZE of the listing) is at most
 * IMAPC_BODY_CHUNK are asked for whole, many in one command
 * ("UID FETCH 5:40,42 (UID BODY.PEEK[])"): one command per batch instead of
 * one per message is what keeps the server's work per message low (no
 * partial-fetch offset computation, one command to parse). The window is
 * refilled only when half of it has been read, so the batches stay large.
 * Bigger or unknown bodies are asked for in chunks of IMAPC_BODY_CHUNK
 * bytes (BODY.PEEK[]<off.len>), so no single response is larger than a
 * chunk and a 100 MB message streams through a few chunks of memory.
 *
 * Header-only opens in iteration order (the engine hashing headers when a
 * side has no message GUIDs) are prefetched the same way, many
 * BODY.PEEK[HEADER] per command.
 *
 * IMAP sends CRLF line endings; the stream gives LF, like the local stores
 * (a lone CR is kept). A body's bytes are taken over from the parsed
 * response without copying and turned into LF while they are copied out
 * to the reader.
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

static void fetch_cmd_unref(struct imapc_client *client,
                            struct imapc_fetch_cmd **_fc)
{
	struct imapc_fetch_cmd *fc = *_fc;

	if (fc == NULL)
		return;
	*_fc = NULL;
	if (--fc->refs > 0)
		return;
	/* a command still in flight is orphaned: its reply is consumed and
	 * dropped when it comes */
	imapc_cmd_free(client, &fc->cmd);
	free(fc);
}

static void body_free(struct imapc_mailbox *box, struct imapc_body *body)
{
	struct imapc_client *client = box->storage->client;

	for (size_t i = 0; i < body->chunks.count; i++)
		fetch_cmd_unref(client, &body->chunks.items[i].fc);
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
				fetch_cmd_unref(box->storage->client,
				                &body->chunks.items[j].fc);
			body->chunks.count = 0;
			body->requested_end = body->received;
			continue;
		}
		body_free(box, body);
		box->bodies.items[i] = NULL;
	}
	box->prefetch_next = 0; /* prefetch() asks for the rest again */
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

/* body_find() for the bodies of FETCH responses: they come back in the
 * order they were asked for, which is the window's order, so the search
 * starts after the last body found (a scan of the whole window per
 * response otherwise). */
static struct imapc_body *body_find_next(struct imapc_mailbox *box,
                                         uint32_t uid)
{
	size_t count = box->bodies.count;
	size_t start = box->body_hint < count ? box->body_hint : 0;

	for (size_t k = 0; k < count; k++) {
		size_t i = start + k < count ? start + k : start + k - count;
		if (box->bodies.items[i]->uid == uid) {
			box->body_hint = i + 1;
			return box->bodies.items[i];
		}
	}
	return NULL;
}

static void body_add_chunk(struct imapc_body *body, struct imapc_fetch_cmd *fc,
                           uint64_t offset)
{
	struct imapc_chunk *chunk = mf_array_append_zero(&body->chunks);

	chunk->fc = fc;
	chunk->offset = offset;
	fc->refs++;
}

/* Ask for the next part of one body: its header, all of it, or the next
 * chunk. 0, or -1 with the client error set. */
static int body_request(struct imapc_mailbox *box, struct imapc_body *body)
{
	struct imapc_client *client = box->storage->client;
	char line[128];

	if (body->header_only)
		snprintf(line, sizeof(line),
		         "UID FETCH %u (UID BODY.PEEK[HEADER])", body->uid);
	else if (body->whole)
		snprintf(line, sizeof(line), "UID FETCH %u (UID BODY.PEEK[])",
		         body->uid);
	else
		snprintf(line, sizeof(line),
		         "UID FETCH %u (UID BODY.PEEK[]<%llu.%u>)", body->uid,
		         (unsigned long long)body->requested_end,
		         IMAPC_BODY_CHUNK);
	struct imapc_cmd *cmd = imapc_cmd_send(client, line, NULL);
	if (cmd == NULL)
		return -1;
	struct imapc_fetch_cmd *fc = mf_calloc(1, sizeof(*fc));
	fc->cmd = cmd;
	fc->refs = 1; /* ours until the bodies have theirs */
	body_add_chunk(body, fc, body->requested_end);
	body->requested_end +=
	    body->header_only || body->whole ? UINT32_MAX : IMAPC_BODY_CHUNK;
	bool broken = cmd->disconnected;
	fetch_cmd_unref(client, &fc);
	return broken ? -1 : 0;
}

/* Ask for several whole bodies or headers (ascending UIDs, all of one
 * kind) in one command. */
static int bodies_request(struct imapc_mailbox *box,
                          struct imapc_body *const *bodies, size_t count)
{
	struct imapc_client *client = box->storage->client;
	struct mf_buf line = MF_BUF_INIT;

	if (count == 1)
		return body_request(box, bodies[0]);
	mf_buf_append_str(&line, "UID FETCH ");
	for (size_t i = 0; i < count;) {
		size_t j = i;
		while (j + 1 < count &&
		       bodies[j + 1]->uid == bodies[j]->uid + 1)
			j++;
		mf_buf_printf(&line, "%s%u", i > 0 ? "," : "", bodies[i]->uid);
		if (j > i)
			mf_buf_printf(&line, ":%u", bodies[j]->uid);
		i = j + 1;
	}
	mf_buf_append_str(&line, bodies[0]->header_only
	                             ? " (UID BODY.PEEK[HEADER])"
	                             : " (UID BODY.PEEK[])");
	struct imapc_cmd *cmd = imapc_cmd_send(client, line.data, NULL);
	mf_buf_free(&line);
	if (cmd == NULL)
		return -1;
	struct imapc_fetch_cmd *fc = mf_calloc(1, sizeof(*fc));
	fc->cmd = cmd;
	fc->refs = 1; /* ours until the bodies have theirs */
	for (size_t i = 0; i < count; i++) {
		body_add_chunk(bodies[i], fc, 0);
		bodies[i]->requested_end = UINT32_MAX;
	}
	bool broken = cmd->disconnected;
	fetch_cmd_unref(client, &fc);
	return broken ? -1 : 0;
}

/* Parse the "<n>" origin of "BODY[]<n>"; 0 when absent. */
static uint64_t section_origin(const char *section)
{
	const char *lt = strrchr(section, '<');

	return lt == NULL ? 0 : strtoull(lt + 1, NULL, 10);
}

void imapc_fetch_body_data(struct imapc_mailbox *box, uint32_t uid,
                           const char *section, struct imapc_response *resp,
                           const struct imapc_arg *value)
{
	struct imapc_body *body = body_find_next(box, uid);

	if (body == NULL || body->error != 0 || body->eof)
		return; /* dropped from the window meanwhile */
	bool is_header = strncasecmp(section, "BODY[HEADER]", 12) == 0;
	if (is_header != body->header_only)
		return;
	uint64_t origin = section_origin(section);
	size_t len = value->type == IMAPC_ARG_NIL ? 0 : value->len;

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
		char *owned = NULL;
		if (skip == 0 && body->read_pos == body->data.len)
			owned = imapc_response_steal(resp, value);
		if (owned != NULL) {
			/* all read before: the literal becomes the buffer */
			mf_buf_free(&body->data);
			body->data.data = owned;
			body->data.len = len;
			body->data.cap = len + 1;
			body->read_pos = 0;
		} else {
			mf_buf_append(&body->data, value->str + skip,
			              len - (size_t)skip);
		}
		body->received += len - skip;
	}
	if (body->header_only || body->whole || len < IMAPC_BODY_CHUNK)
		body->eof = true;
}

/* Handle finished requests of body. */
static void body_reap(struct imapc_mailbox *box, struct imapc_body *body)
{
	struct imapc_client *client = box->storage->client;
	size_t w = 0;

	for (size_t i = 0; i < body->chunks.count; i++) {
		struct imapc_chunk *c = &body->chunks.items[i];
		const struct imapc_cmd *cmd = c->fc->cmd;
		if (!cmd->done) {
			body->chunks.items[w++] = *c;
			continue;
		}
		if (cmd->disconnected) {
			/* asked again after the reconnect */
			if (body->requested_end > c->offset)
				body->requested_end = c->offset;
		} else if (body->eof && body->received > 0) {
			/* complete: a NO about other messages of the same
			 * batch (e.g. expunged meanwhile) is not about it */
		} else if (cmd->status != IMAPC_STATUS_OK && body->error == 0) {
			int code = imapc_cmd_error_code(cmd);
			body->error = code == MAILFERRY_E_NOTFOUND
			                  ? MAILFERRY_E_EXPUNGED
			                  : code;
			body->error_text = mf_strdup_printf(
			    "fetching message UID %u failed: %s", body->uid,
			    cmd->text);
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
		fetch_cmd_unref(client, &c->fc);
	}
	body->chunks.count = w;
	if (body->requested_end < body->received)
		body->requested_end = body->received;
}

/* Bytes the window holds or expects for body. */
static uint64_t body_window_bytes(const struct imapc_body *b)
{
	uint64_t total = b->data.len - b->read_pos;
	/* a header is a small part of its message */
	uint64_t max = b->header_only ? 16384 : IMAPC_BODY_CHUNK;

	if (!b->eof)
		total += b->size_hint != UINT64_MAX ? MF_MIN(b->size_hint, max)
		                                    : max;
	return total;
}

static struct imapc_body *body_new(struct imapc_mailbox *box, uint32_t uid,
                                   bool header_only, uint64_t size_hint)
{
	struct imapc_body *body = mf_calloc(1, sizeof(*body));

	body->uid = uid;
	body->header_only = header_only;
	body->size_hint = size_hint;
	/* a known small size: the whole body in one response */
	body->whole = !header_only && size_hint <= IMAPC_BODY_CHUNK;
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

/* Prefetch the messages after idx in the iteration order: when less than
 * half the window is ahead of the reader, fill it up again with batches
 * of whole small bodies (and single chunked requests for big ones), or of
 * headers. */
static void prefetch(struct imapc_mailbox *box, size_t idx)
{
	bool headers = box->prefetch_headers;
	uint64_t window = box->storage->window, bytes = 0;
	size_t ahead = 0;
	MF_ARRAY(struct imapc_body *) batch = MF_ARRAY_INIT;
	uint64_t batch_bytes = 0;

	/* the caller opens in order: every message between idx and
	 * prefetch_next has its body in the window (imapc_bodies_clear()
	 * starts over), so at least that many are ahead, and counting the
	 * window at every open is not needed */
	if (box->prefetch_next > idx + IMAPC_MAX_PREFETCH_MSGS / 2)
		return;
	uint32_t max_uid = 0;
	for (size_t i = 0; i < box->bodies.count; i++) {
		const struct imapc_body *b = box->bodies.items[i];
		bytes += body_window_bytes(b);
		if (!b->in_use)
			ahead++;
		max_uid = MF_MAX(max_uid, b->uid);
	}
	if (ahead >= IMAPC_MAX_PREFETCH_MSGS / 2 || bytes >= window / 2)
		return;
	if (box->prefetch_next < idx + 1)
		box->prefetch_next = idx + 1;
	/* whole batches: a refill at 127 ahead adds 2 x 64, not 2 x 64 and
	 * a command for one message */
	size_t limit = IMAPC_MAX_PREFETCH_MSGS;
	if (limit - ahead >= IMAPC_FETCH_BATCH_MSGS)
		limit = ahead + (limit - ahead) / IMAPC_FETCH_BATCH_MSGS *
		                    IMAPC_FETCH_BATCH_MSGS;
	while (box->prefetch_next < box->iter_uids.count && ahead < limit &&
	       bytes < window) {
		size_t i = box->prefetch_next++;
		uint32_t uid = box->iter_uids.items[i];
		/* the window's UIDs ascend: above every body there is
		 * none to look for */
		if (uid <= max_uid && body_find(box, uid) != NULL)
			continue;
		struct imapc_body *b =
		    body_new(box, uid, headers, box->iter_sizes.items[i]);
		ahead++;
		bytes += body_window_bytes(b);
		if (!headers && !b->whole) {
			if (body_request(box, b) < 0)
				break;
			continue;
		}
		mf_array_push(&batch, b);
		batch_bytes += b->size_hint;
		if (batch.count >= IMAPC_FETCH_BATCH_MSGS ||
		    batch_bytes >= window / 4) {
			int ret = bodies_request(box, batch.items, batch.count);
			batch.count = 0;
			batch_bytes = 0;
			if (ret < 0)
				break;
		}
	}
	if (batch.count > 0)
		(void)bodies_request(box, batch.items, batch.count);
	mf_array_free(&batch);
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
	body->in_use = true;
	if (idx != SIZE_MAX) {
		if (box->prefetch_headers != header_only) {
			/* from hashing headers to reading messages (or
			 * back): prefetch the other kind from here on */
			for (size_t i = 0; i < box->bodies.count;) {
				struct imapc_body *b = box->bodies.items[i];
				if (!b->in_use &&
				    b->header_only != header_only) {
					body_remove(box, b);
					continue;
				}
				i++;
			}
			box->prefetch_headers = header_only;
			box->prefetch_next = idx + 1;
			box->last_open_idx = idx;
		}
		if (box->last_open_idx == idx)
			prefetch(box, idx);
		box->last_open_idx = idx + 1;
	}
	struct mailferry_stream *stream = mf_calloc(1, sizeof(*stream));
	stream->box = box;
	stream->body = body;
	*stream_r = stream;
	return 0;
}

/* Copy from the buffer with CRLF -> LF. Returns bytes written to out. */
static size_t body_copy(struct imapc_body *body, char *out, size_t size)
{
	size_t pos = body->read_pos;
	size_t n = imapc_crlf_to_lf(body->data.data, &pos, body->data.len, out,
	                            size, body->eof);

	body->read_pos = pos;
	if (body->read_pos == body->data.len) {
		body->read_pos = 0;
		mf_buf_truncate(&body->data, 0);
	} else if (!body->eof && body->read_pos > 65536 &&
	           body->read_pos * 2 > body->data.len) {
		/* room for the chunks still to come; a complete body (all
		 * of a message up to IMAPC_BODY_CHUNK, the last chunk) is
		 * only read to its end: moving its rest was a second copy of
		 * most big messages */
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
		/* one chunk of a body in flight at a time: a server may run
		 * pipelined commands in parallel (Dovecot does for some), so
		 * two chunks of one message could come back in either order;
		 * other messages' bodies are what is pipelined */
		if (!body->eof && body->chunks.count == 0 &&
		    (body->header_only || body->whole ||
		     body->data.len - body->read_pos < IMAPC_BODY_CHUNK) &&
		    body_request(box, body) < 0) {
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
