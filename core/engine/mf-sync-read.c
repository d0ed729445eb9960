/* SPDX-License-Identifier: MIT */
/*
 * Reading one side of a mailbox: the messages of a query (a window of UIDs
 * for mf-sync-stream.c's cursors, or a whole list), what changed since the
 * state's modseq (stateful syncs), the expunge history, and message
 * identities (GUID, or header hash when GUIDs cannot be used).
 */
#include <stdlib.h>

#include <openssl/evp.h>

#include "mf-alloc.h"
#include "mf-driver.h"
#include "mf-digest.h"
#include "mf-header-hash.h"
#include "mf-hex.h"
#include "mf-log.h"
#include "mf-sync-box.h"

/* ------------------------------------------------------------ reading */

static void id_from_guid(const char *guid, uint8_t id[16])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int len;

	if (mf_guid128_from_hex(guid, id) == 0)
		return;
	/* other GUID strings: last 16 bytes of their SHA-1, as dsync does
	 * when one side keeps only 128-bit GUIDs */
	len = mf_digest(MF_DIGEST_SHA1, guid, strlen(guid), md);
	if (len < 16)
		memset(md, 0, len = 16); /* (OpenSSL without SHA-1) */
	memcpy(id, md + len - 16, 16);
}

const char *mf_box_guid_str(const struct mf_box_side *b,
                            const struct mf_box_msg *m,
                            char buf[MF_GUID128_HEX_LEN])
{
	if (m->guid_str != 0)
		return b->pool.data + m->guid_str - 1;
	mf_hex_encode(m->id, 16, buf);
	return buf;
}

static int header_hash(struct mf_box_sync *bs, struct mf_box_side *b,
                       uint32_t uid, uint8_t id[16])
{
	struct mf_storage *st = b->s->st;
	struct mailferry_stream *stream;
	struct mf_header_hash *hh;
	char buf[4096], hex[33];
	size_t n;
	int ret;

	ret =
	    st->ops->msg_open(b->box, uid, MAILFERRY_OPEN_HEADER_ONLY, &stream);
	if (ret < 0)
		return ret;
	hh = mf_header_hash_new(bs->ctx->p->hashed_headers, 3);
	while ((ret = st->ops->stream_read(stream, buf, sizeof(buf), &n)) ==
	           0 &&
	       n > 0) {
		if (mf_header_hash_feed(hh, buf, n))
			break;
	}
	st->ops->stream_close(&stream);
	mf_header_hash_finish(hh, hex, id);
	mf_header_hash_free(&hh);
	if (ret >= 0 && bs->ctx->p->empty_header_workaround &&
	    strcmp(hex, MF_HEADER_HASH_EMPTY) == 0)
		memset(id, 0, 16);
	return ret < 0 ? ret : 0;
}

int mf_box_read_msgs(struct mf_box_sync *bs, struct mf_box_side *b,
                     const struct mailferry_msg_query *q, size_t limit,
                     bool *full_r)
{
	struct mf_storage *st = b->s->st;
	struct mailferry_msg_iter *iter;
	const struct mailferry_msg *m;
	size_t first_new = b->msgs.count;
	size_t n = 0;
	int ret;

	if (full_r != NULL)
		*full_r = false;
	ret = st->ops->msg_iter_begin(b->box, q, &iter);
	if (ret < 0)
		return ret;
	while ((ret = st->ops->msg_iter_next(iter, &m)) > 0) {
		struct mf_box_msg *x = mf_array_append_zero(&b->msgs);
		x->uid = m->uid;
		x->flags = m->flags & MAILFERRY_FLAGS_MASK;
		x->kw = mf_kw_intern(&bs->kw, m->keywords);
		x->modseq = m->modseq;
		x->received = m->received_date;
		if (m->physical_size != UINT64_MAX)
			x->size =
			    (uint32_t)MF_MIN(m->physical_size, UINT32_MAX);
		if ((q->fields & MAILFERRY_FIELD_CHANGES) != 0 &&
		    MAILFERRY_HAS_FIELD(m, struct mailferry_msg,
		                        keywords_removed)) {
			x->flags_add = m->flags_added & MAILFERRY_FLAGS_MASK;
			x->flags_rm = m->flags_removed & MAILFERRY_FLAGS_MASK;
			x->kw_add = mf_kw_intern(&bs->kw, m->keywords_added);
			x->kw_rm = mf_kw_intern(&bs->kw, m->keywords_removed);
		}
		if (bs->ctx->use_guids) {
			if (m->guid == NULL || m->guid[0] == '\0') {
				ret = mf_sync_fail(
				    bs->ctx, MAILFERRY_E_NOTSUPP,
				    "%s: mailbox %s: message UID %u has no "
				    "GUID although the store claims GUIDs",
				    b->s->label, b->node->real, m->uid);
				break;
			}
			uint8_t tmp[16];
			if (mf_guid128_from_hex(m->guid, tmp) != 0 ||
			    strlen(m->guid) != 32) {
				x->guid_str = (uint32_t)b->pool.len + 1;
				mf_buf_append(&b->pool, m->guid,
				              strlen(m->guid) + 1);
			}
			id_from_guid(m->guid, x->id);
		}
		if (++n == limit) {
			/* the rest is read by a later query; ending an
			 * iteration early is allowed */
			if (full_r != NULL)
				*full_r = true;
			ret = 0;
			break;
		}
	}
	{
		int ret2 = st->ops->msg_iter_end(&iter);
		if (ret == 0)
			ret = ret2;
	}
	if (ret < 0)
		return ret;
	if (!bs->ctx->use_guids) {
		for (size_t i = first_new; i < b->msgs.count; i++) {
			ret = header_hash(bs, b, b->msgs.items[i].uid,
			                  b->msgs.items[i].id);
			if (ret == MAILFERRY_E_EXPUNGED ||
			    ret == MAILFERRY_E_NOTFOUND) {
				/* gone meanwhile: unique id, it will not be
				 * matched nor copied */
				memset(b->msgs.items[i].id, 0xff, 16);
				continue;
			}
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static int cmp_smsg_uid(const void *x, const void *y)
{
	const struct mf_box_msg *a = x, *b = y;
	return a->uid < b->uid ? -1 : (a->uid > b->uid ? 1 : 0);
}

/* Sort by UID and drop later duplicates (the first read has the logged
 * changes). */
void mf_box_msgs_normalize(struct mf_box_side *b)
{
	size_t w = 0;

	if (b->msgs.count > 1)
		mf_qsort(b->msgs.items, b->msgs.count,
		         sizeof(struct mf_box_msg), cmp_smsg_uid);
	for (size_t i = 0; i < b->msgs.count; i++) {
		if (w > 0 && b->msgs.items[w - 1].uid == b->msgs.items[i].uid) {
			/* keep the one carrying change information */
			struct mf_box_msg *k = &b->msgs.items[w - 1];
			const struct mf_box_msg *d = &b->msgs.items[i];
			k->flags_add |= d->flags_add;
			k->flags_rm |= d->flags_rm;
			if (k->kw_add == 0)
				k->kw_add = d->kw_add;
			if (k->kw_rm == 0)
				k->kw_rm = d->kw_rm;
			continue;
		}
		b->msgs.items[w++] = b->msgs.items[i];
	}
	b->msgs.count = w;
}

struct mf_box_msg *mf_box_msg_find(struct mf_box_side *b, uint32_t uid)
{
	size_t lo = 0, hi = b->msgs.count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint32_t u = b->msgs.items[mid].uid;
		if (u == uid)
			return &b->msgs.items[mid];
		if (u < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The latest expunge record of uid (exps sorted by UID, then seq). */
const struct mf_box_exp *mf_box_exp_find(const struct mf_box_side *b,
                                         uint32_t uid)
{
	size_t lo = 0, hi = b->exps.count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (b->exps.items[mid].uid <= uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && b->exps.items[lo - 1].uid == uid
	           ? &b->exps.items[lo - 1]
	           : NULL;
}

static int cmp_sexp(const void *x, const void *y)
{
	const struct mf_box_exp *a = x, *b = y;

	if (a->uid != b->uid)
		return a->uid < b->uid ? -1 : 1;
	return a->seq < b->seq ? -1 : (a->seq > b->seq ? 1 : 0);
}

int mf_box_read_expunges(struct mf_box_sync *bs, struct mf_box_side *b,
                         uint64_t since)
{
	struct mf_storage *st = b->s->st;
	struct mailferry_expunge_iter *iter;
	const struct mailferry_expunge *e;
	int ret;

	b->exps.count = 0;
	b->have_exps = false;
	if (b->box == NULL || b->emptied || !MF_HAS_OP(st, expunge_iter_begin))
		return 0;
	ret = st->ops->expunge_iter_begin(b->box, since, &iter);
	if (ret == MAILFERRY_E_NOTSUPP ||
	    (ret == MAILFERRY_E_NOHISTORY && since == 0)) {
		/* no expunge history at all (a full comparison does without
		 * it: unknown expunges only preserve mail) */
		return 0;
	}
	if (ret < 0)
		return ret;
	while ((ret = st->ops->expunge_iter_next(iter, &e)) > 0) {
		struct mf_box_exp *x = mf_array_append_zero(&b->exps);
		x->uid = e->uid;
		x->seq = (uint32_t)b->exps.count;
		x->have_guid = e->have_guid != 0;
		memcpy(x->guid, e->guid, 16);
	}
	{
		int ret2 = st->ops->expunge_iter_end(&iter);
		if (ret == 0)
			ret = ret2;
	}
	if (ret < 0)
		return ret;
	mf_qsort(b->exps.items, b->exps.count, sizeof(struct mf_box_exp),
	         cmp_sexp);
	b->have_exps = true;
	(void)bs;
	return 0;
}

uint32_t mf_box_query_fields(const struct mf_box_sync *bs)
{
	uint32_t f = MAILFERRY_FIELD_FLAGS | MAILFERRY_FIELD_MODSEQ |
	             MAILFERRY_FIELD_CHANGES;

	if (bs->ctx->use_guids)
		f |= MAILFERRY_FIELD_GUID;
	if (bs->ctx->p->received_after != 0 || bs->ctx->p->received_before != 0)
		f |= MAILFERRY_FIELD_RECEIVED;
	if (bs->ctx->p->verbose || bs->ctx->p->max_size != 0)
		f |= MAILFERRY_FIELD_PHYSICAL_SIZE; /* progress line, -I */
	return f;
}

void mf_box_query_init(struct mailferry_msg_query *q, uint32_t fields)
{
	mf_zero(q);
	q->struct_size = sizeof(*q);
	q->uid_first = 1;
	q->uid_last = UINT32_MAX;
	q->fields = fields;
	q->flags = MAILFERRY_QUERY_SKIP_SYNC_CHANGES;
}

int mf_box_cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return a < b ? -1 : (a > b ? 1 : 0);
}

/* Stateful read: messages changed since the state's modseq (bs->since,
 * per side), with above every message above the last common UID (else
 * the windowed walk reads those), expunges since the modseq, and then
 * each side also reads its own record of every UID at or below the last
 * common UID the other side touched. */
int mf_box_read_incremental(struct mf_box_sync *bs, bool above)
{
	MF_ARRAY(uint32_t) touched = MF_ARRAY_INIT;
	struct mailferry_msg_query q;
	int ret = 0;

	for (int i = 0; i < 2 && ret >= 0; i++) {
		struct mf_box_side *b = &bs->b[i];
		uint64_t since = bs->since[i];

		b->msgs.count = 0;
		mf_box_query_init(&q, mf_box_query_fields(bs));
		q.uid_last = bs->lcu;
		q.changed_since = since;
		if (bs->lcu > 0 && since > 0)
			ret = mf_box_read_msgs(bs, b, &q, 0, NULL);
		if (ret >= 0 && above) {
			/* every message above: their flags are merged by
			 * modseq; the whole logged history (what FIELD_CHANGES
			 * gives with changed_since 0) would bring back changes
			 * the state already covers */
			mf_box_query_init(&q, mf_box_query_fields(bs) &
			                          ~MAILFERRY_FIELD_CHANGES);
			q.uid_first = bs->lcu + 1;
			ret = mf_box_read_msgs(bs, b, &q, 0, NULL);
		}
		if (ret >= 0)
			ret = mf_box_read_expunges(bs, b, since);
		if (ret >= 0 && !b->have_exps) {
			/* without an expunge history, common expunges
			 * cannot be seen incrementally */
			bs->anomaly = true;
		}
	}
	if (ret < 0 || bs->anomaly)
		return ret;
	for (int i = 0; i < 2; i++) {
		struct mf_box_side *b = &bs->b[i];
		for (size_t k = 0; k < b->msgs.count; k++) {
			if (b->msgs.items[k].uid <= bs->lcu)
				mf_array_push(&touched, b->msgs.items[k].uid);
		}
		for (size_t k = 0; k < b->exps.count; k++) {
			if (b->exps.items[k].uid <= bs->lcu)
				mf_array_push(&touched, b->exps.items[k].uid);
		}
	}
	if (touched.count > 0) {
		mf_qsort(touched.items, touched.count, sizeof(uint32_t),
		         mf_box_cmp_u32);
		for (int i = 0; i < 2 && ret >= 0; i++) {
			struct mf_box_side *b = &bs->b[i];
			size_t before = b->msgs.count, w = before;

			mf_box_query_init(&q, mf_box_query_fields(bs) &
			                          ~MAILFERRY_FIELD_CHANGES);
			q.flags = 0;
			q.uid_first = touched.items[0];
			q.uid_last = touched.items[touched.count - 1];
			ret = mf_box_read_msgs(bs, b, &q, 0, NULL);
			if (ret < 0)
				break;
			/* keep only the touched UIDs of the range */
			for (size_t k = before; k < b->msgs.count; k++) {
				uint32_t u = b->msgs.items[k].uid;
				if (mf_bsearch(&u, touched.items, touched.count,
				               sizeof(uint32_t),
				               mf_box_cmp_u32) != NULL)
					b->msgs.items[w++] = b->msgs.items[k];
			}
			b->msgs.count = w;
		}
	}
	for (int i = 0; i < 2; i++)
		mf_box_msgs_normalize(&bs->b[i]);
	mf_array_free(&touched);
	return ret;
}
