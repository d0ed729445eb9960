/* SPDX-License-Identifier: MIT */
/*
 * Per-mailbox message sync (dsync reference §3): messages are matched by
 * UID + GUID (or header hash), the last common UID is found by walking both
 * sides from UID 1 (or taken from the state), flags and keywords are merged
 * per bit by modseq, expunges go both ways, and new messages get their UIDs
 * by mf_sync_assign_uids(). Bodies are streamed in chunks (or copied inside
 * one store when it already has the same message), saves are committed every
 * commit_interval messages in ascending UID order.
 *
 * Memory: one compact record per message and side (UID, flags, keyword-set
 * index, modseq, 16-byte id), never a body.
 */
#include <stdlib.h>

#include <openssl/evp.h>

#include "mf-alloc.h"
#include "mf-driver.h"
#include "mf-header-hash.h"
#include "mf-hex.h"
#include "mf-log.h"
#include "mf-sync-private.h"

#define CHUNK_SIZE (64 * 1024)

struct smsg {
	uint32_t uid;
	uint32_t flags, flags_add, flags_rm;
	uint32_t kw, kw_add, kw_rm; /* keyword-set indexes, 0 = none */
	uint32_t guid_str;          /* pool offset + 1, 0 = 128-bit hex */
	uint32_t size;              /* physical size for -v (clamped), 0 */
	uint64_t modseq;
	int64_t received;
	uint8_t id[16];
};

/* Interned keyword sets: set i is sets.items[i], a sorted NULL-terminated
 * array; set 0 is the empty set. */
struct kwsets {
	MF_ARRAY(char **) sets;
	MF_ARRAY(uint32_t) hash; /* open addressing: set index + 1, 0 = free */
};

struct sexp {
	uint32_t uid;
	uint32_t seq; /* read order: later records win */
	bool have_guid;
	uint8_t guid[16];
};

struct bside {
	struct mf_sync_side *s;
	struct mf_tnode *node;
	struct mailferry_mailbox *box; /* NULL when planned (dry run) */
	struct mailferry_mailbox_status st;
	MF_ARRAY(struct smsg) msgs;
	MF_ARRAY(struct sexp) exps;
	MF_ARRAY(uint32_t) by_id; /* msgs indexes sorted by id */
	bool have_exps;
	struct mf_buf pool;
	/* changes to make */
	MF_ARRAY(struct save_op) saves;
	MF_ARRAY(struct flag_op) flag_ops;
	MF_ARRAY(uint32_t) expunges;
	uint32_t saved_count;
	uint64_t start_modseq;     /* HIGHESTMODSEQ when the sync began */
	uint32_t applied_expunges; /* expunges this run made here */
};

struct save_op {
	uint32_t uid;      /* wanted UID */
	uint8_t from_side; /* where the body is */
	uint32_t from_uid;
	uint32_t from_idx; /* index into that side's msgs */
	uint32_t flags;
	uint32_t kw;
	uint64_t min_modseq;
};

struct flag_op {
	uint32_t uid;
	uint32_t flags;
	uint32_t kw;
	uint64_t min_modseq;
};

struct box_sync {
	struct mf_sync_ctx *ctx;
	struct bside b[2];
	struct kwsets kw;
	bool stateful;
	uint32_t lcu; /* last common UID */
	uint64_t start_modseq;
	uint32_t next_uid;
	bool anomaly;  /* stateful data did not add up: redo in full */
	bool recreate; /* backup: the destination must be rebuilt */
	/* a save batch was not committed: moves are incomplete, so no
	 * expunges (they could remove a move's only copy) */
	bool saves_aborted;
};

/* ------------------------------------------------------- keyword sets */

static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static uint32_t set_hash(char **set)
{
	uint32_t h = 7;
	for (size_t i = 0; set[i] != NULL; i++)
		h = h * 31 + str_hash(set[i]);
	return h;
}

static bool set_equal(char **a, char **b)
{
	size_t i;
	for (i = 0; a[i] != NULL && b[i] != NULL; i++) {
		if (strcmp(a[i], b[i]) != 0)
			return false;
	}
	return a[i] == NULL && b[i] == NULL;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static void kw_rehash(struct kwsets *k, size_t size)
{
	mf_array_free(&k->hash);
	mf_array_reserve(&k->hash, size);
	memset(k->hash.items, 0, size * sizeof(uint32_t));
	k->hash.count = size;
	for (size_t i = 0; i < k->sets.count; i++) {
		size_t pos = set_hash(k->sets.items[i]) % size;
		while (k->hash.items[pos] != 0)
			pos = (pos + 1) % size;
		k->hash.items[pos] = (uint32_t)i + 1;
	}
}

static void kw_init(struct kwsets *k)
{
	char **empty = mf_calloc(1, sizeof(char *));
	mf_array_push(&k->sets, empty);
	kw_rehash(k, 64);
}

/* Intern a NULL-terminated keyword list (need not be sorted). */
static uint32_t kw_intern(struct kwsets *k, const char *const *kws)
{
	size_t n = 0, pos;
	char **set;

	if (kws == NULL || kws[0] == NULL)
		return 0;
	while (kws[n] != NULL)
		n++;
	set = mf_calloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		set[i] = (char *)kws[i];
	mf_qsort(set, n, sizeof(char *), cmp_str);
	pos = set_hash(set) % k->hash.count;
	while (k->hash.items[pos] != 0) {
		uint32_t idx = k->hash.items[pos] - 1;
		if (set_equal(k->sets.items[idx], set)) {
			free(set);
			return idx;
		}
		pos = (pos + 1) % k->hash.count;
	}
	for (size_t i = 0; i < n; i++)
		set[i] = mf_strdup(set[i]);
	mf_array_push(&k->sets, set);
	if (k->sets.count * 2 > k->hash.count)
		kw_rehash(k, k->hash.count * 4);
	else
		k->hash.items[pos] = (uint32_t)k->sets.count;
	return (uint32_t)k->sets.count - 1;
}

static void kw_free(struct kwsets *k)
{
	for (size_t i = 0; i < k->sets.count; i++) {
		for (size_t j = 0; k->sets.items[i][j] != NULL; j++)
			free(k->sets.items[i][j]);
		free(k->sets.items[i]);
	}
	mf_array_free(&k->sets);
	mf_array_free(&k->hash);
}

static bool set_has(char **set, const char *kw)
{
	for (size_t i = 0; set[i] != NULL; i++) {
		if (strcmp(set[i], kw) == 0)
			return true;
	}
	return false;
}

/* Merge keywords name by name with the flag-merge rule. */
static uint32_t kw_merge(struct kwsets *k, const struct smsg *l,
                         const struct smsg *r, bool prefer_local)
{
	MF_ARRAY(const char *) names = MF_ARRAY_INIT;
	MF_ARRAY(const char *) out = MF_ARRAY_INIT;
	uint32_t idx[6] = {l->kw, l->kw_add, l->kw_rm,
	                   r->kw, r->kw_add, r->kw_rm};
	uint32_t result;

	if (l->kw == r->kw && l->kw_add == 0 && l->kw_rm == 0 &&
	    r->kw_add == 0 && r->kw_rm == 0)
		return l->kw;
	for (int i = 0; i < 6; i++) {
		char **set = k->sets.items[idx[i]];
		for (size_t j = 0; set[j] != NULL; j++) {
			bool dup = false;
			for (size_t m = 0; m < names.count && !dup; m++)
				dup = strcmp(names.items[m], set[j]) == 0;
			if (!dup)
				mf_array_push(&names, set[j]);
		}
	}
	for (size_t m = 0; m < names.count; m++) {
		const char *n = names.items[m];
		struct mf_flag_merge_in in = {
		    .local_final = set_has(k->sets.items[l->kw], n),
		    .local_add = set_has(k->sets.items[l->kw_add], n),
		    .local_remove = set_has(k->sets.items[l->kw_rm], n),
		    .remote_final = set_has(k->sets.items[r->kw], n),
		    .remote_add = set_has(k->sets.items[r->kw_add], n),
		    .remote_remove = set_has(k->sets.items[r->kw_rm], n),
		    .prefer_local = prefer_local,
		};
		if (mf_sync_merge_flags(&in) & 1)
			mf_array_push(&out, n);
	}
	mf_array_push(&out, NULL);
	result = kw_intern(k, out.items);
	mf_array_free(&names);
	mf_array_free(&out);
	return result;
}

/* ------------------------------------------------------------ reading */

static void id_from_guid(const char *guid, uint8_t id[16])
{
	if (mf_guid128_from_hex(guid, id) == 0)
		return;
	/* other GUID strings: last 16 bytes of their SHA-1, as dsync does
	 * when one side keeps only 128-bit GUIDs */
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_Digest(guid, strlen(guid), md, &len, EVP_sha1(), NULL);
	memcpy(id, md + len - 16, 16);
}

static const char *msg_guid_str(const struct bside *b, const struct smsg *m,
                                char buf[MF_GUID128_HEX_LEN])
{
	if (m->guid_str != 0)
		return b->pool.data + m->guid_str - 1;
	mf_hex_encode(m->id, 16, buf);
	return buf;
}

static int header_hash(struct box_sync *bs, struct bside *b, uint32_t uid,
                       uint8_t id[16])
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

/* Append the messages of query q to b->msgs (kept sorted by UID and
 * unique; a later record for a UID already read is dropped). */
static int read_msgs(struct box_sync *bs, struct bside *b,
                     const struct mailferry_msg_query *q)
{
	struct mf_storage *st = b->s->st;
	struct mailferry_msg_iter *iter;
	const struct mailferry_msg *m;
	size_t first_new = b->msgs.count;
	int ret;

	ret = st->ops->msg_iter_begin(b->box, q, &iter);
	if (ret < 0)
		return ret;
	while ((ret = st->ops->msg_iter_next(iter, &m)) > 0) {
		struct smsg *x = mf_array_append_zero(&b->msgs);
		x->uid = m->uid;
		x->flags = m->flags & MAILFERRY_FLAGS_MASK;
		x->kw = kw_intern(&bs->kw, m->keywords);
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
			x->kw_add = kw_intern(&bs->kw, m->keywords_added);
			x->kw_rm = kw_intern(&bs->kw, m->keywords_removed);
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
	const struct smsg *a = x, *b = y;
	return a->uid < b->uid ? -1 : (a->uid > b->uid ? 1 : 0);
}

/* Sort by UID and drop later duplicates (the first read has the logged
 * changes). */
static void msgs_normalize(struct bside *b)
{
	size_t w = 0;

	if (b->msgs.count > 1)
		mf_qsort(b->msgs.items, b->msgs.count, sizeof(struct smsg),
		         cmp_smsg_uid);
	for (size_t i = 0; i < b->msgs.count; i++) {
		if (w > 0 && b->msgs.items[w - 1].uid == b->msgs.items[i].uid) {
			/* keep the one carrying change information */
			struct smsg *k = &b->msgs.items[w - 1];
			const struct smsg *d = &b->msgs.items[i];
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

static struct smsg *msg_find(struct bside *b, uint32_t uid)
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
static const struct sexp *exp_find(const struct bside *b, uint32_t uid)
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
	const struct sexp *a = x, *b = y;

	if (a->uid != b->uid)
		return a->uid < b->uid ? -1 : 1;
	return a->seq < b->seq ? -1 : (a->seq > b->seq ? 1 : 0);
}

static int read_expunges(struct box_sync *bs, struct bside *b, uint64_t since)
{
	struct mf_storage *st = b->s->st;
	struct mailferry_expunge_iter *iter;
	const struct mailferry_expunge *e;
	int ret;

	b->exps.count = 0;
	b->have_exps = false;
	if (b->box == NULL || !MF_HAS_OP(st, expunge_iter_begin))
		return 0;
	ret = st->ops->expunge_iter_begin(b->box, since, &iter);
	if (ret == MAILFERRY_E_NOTSUPP)
		return 0;
	if (ret < 0)
		return ret;
	while ((ret = st->ops->expunge_iter_next(iter, &e)) > 0) {
		struct sexp *x = mf_array_append_zero(&b->exps);
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
	mf_qsort(b->exps.items, b->exps.count, sizeof(struct sexp), cmp_sexp);
	b->have_exps = true;
	(void)bs;
	return 0;
}

static uint32_t query_fields(const struct box_sync *bs)
{
	uint32_t f = MAILFERRY_FIELD_FLAGS | MAILFERRY_FIELD_MODSEQ |
	             MAILFERRY_FIELD_CHANGES;

	if (bs->ctx->use_guids)
		f |= MAILFERRY_FIELD_GUID;
	if (bs->ctx->p->received_after != 0 || bs->ctx->p->received_before != 0)
		f |= MAILFERRY_FIELD_RECEIVED;
	if (bs->ctx->p->verbose)
		f |= MAILFERRY_FIELD_PHYSICAL_SIZE; /* for the progress line */
	return f;
}

static void query_init(struct mailferry_msg_query *q, uint32_t fields)
{
	mf_zero(q);
	q->struct_size = sizeof(*q);
	q->uid_first = 1;
	q->uid_last = UINT32_MAX;
	q->fields = fields;
	q->flags = MAILFERRY_QUERY_SKIP_SYNC_CHANGES;
}

static int read_full(struct box_sync *bs, struct bside *b)
{
	struct mailferry_msg_query q;
	int ret;

	b->msgs.count = 0;
	if (b->box == NULL)
		return 0;
	query_init(&q, query_fields(bs));
	ret = read_msgs(bs, b, &q);
	if (ret < 0)
		return ret;
	msgs_normalize(b);
	return read_expunges(bs, b, 0);
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return a < b ? -1 : (a > b ? 1 : 0);
}

/* Stateful read: messages changed since the state's modseq, every message
 * above the last common UID, expunges since the modseq, and then each side
 * also reads its own record of every UID the other side touched. */
static int read_incremental(struct box_sync *bs, uint64_t since)
{
	MF_ARRAY(uint32_t) touched = MF_ARRAY_INIT;
	struct mailferry_msg_query q;
	int ret = 0;

	for (int i = 0; i < 2 && ret >= 0; i++) {
		struct bside *b = &bs->b[i];

		b->msgs.count = 0;
		query_init(&q, query_fields(bs));
		q.uid_last = bs->lcu;
		q.changed_since = since;
		if (bs->lcu > 0 && since > 0)
			ret = read_msgs(bs, b, &q);
		if (ret >= 0) {
			query_init(&q, query_fields(bs));
			q.uid_first = bs->lcu + 1;
			ret = read_msgs(bs, b, &q);
		}
		if (ret >= 0)
			ret = read_expunges(bs, b, since);
		if (ret >= 0 && !b->have_exps) {
			/* without an expunge history, common expunges
			 * cannot be seen incrementally */
			bs->anomaly = true;
		}
	}
	if (ret < 0 || bs->anomaly)
		return ret;
	for (int i = 0; i < 2; i++) {
		struct bside *b = &bs->b[i];
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
		         cmp_u32);
		for (int i = 0; i < 2 && ret >= 0; i++) {
			struct bside *b = &bs->b[i];
			size_t before = b->msgs.count, w = before;

			query_init(&q,
			           query_fields(bs) & ~MAILFERRY_FIELD_CHANGES);
			q.flags = 0;
			q.uid_first = touched.items[0];
			q.uid_last = touched.items[touched.count - 1];
			ret = read_msgs(bs, b, &q);
			if (ret < 0)
				break;
			/* keep only the touched UIDs of the range */
			for (size_t k = before; k < b->msgs.count; k++) {
				uint32_t u = b->msgs.items[k].uid;
				if (mf_bsearch(&u, touched.items, touched.count,
				               sizeof(uint32_t),
				               cmp_u32) != NULL)
					b->msgs.items[w++] = b->msgs.items[k];
			}
			b->msgs.count = w;
		}
	}
	for (int i = 0; i < 2; i++)
		msgs_normalize(&bs->b[i]);
	mf_array_free(&touched);
	return ret;
}

/* ------------------------------------------------------------- merging */

static bool id_equal(const struct smsg *a, const struct smsg *b)
{
	return memcmp(a->id, b->id, 16) == 0;
}

static void add_flag_op(struct bside *b, uint32_t uid, uint32_t flags,
                        uint32_t kw, uint64_t min_modseq)
{
	struct flag_op *op = mf_array_append_zero(&b->flag_ops);
	op->uid = uid;
	op->flags = flags;
	op->kw = kw;
	op->min_modseq = min_modseq;
}

static void add_save(struct bside *b, uint32_t uid, int from_side,
                     const struct smsg *from, uint32_t from_idx, uint32_t flags,
                     uint32_t kw, uint64_t min_modseq)
{
	struct save_op *op = mf_array_append_zero(&b->saves);
	op->uid = uid;
	op->from_side = (uint8_t)from_side;
	op->from_uid = from->uid;
	op->from_idx = from_idx;
	op->flags = flags;
	op->kw = kw;
	op->min_modseq = min_modseq;
}

/* Merge a message both sides have: each side gets the merged flags. */
static void merge_common(struct box_sync *bs, const struct smsg *l,
                         const struct smsg *r, uint32_t *flags_r,
                         uint32_t *kw_r)
{
	bool prefer_local;

	if (bs->ctx->p->mode == MF_ENGINE_BACKUP) {
		const struct smsg *src = bs->ctx->source == 0 ? l : r;
		*flags_r = src->flags;
		*kw_r = src->kw;
		return;
	}
	/* higher modseq wins; a tie goes to the master (local) */
	prefer_local = l->modseq >= r->modseq;
	struct mf_flag_merge_in in = {
	    .local_final = l->flags,
	    .local_add = l->flags_add,
	    .local_remove = l->flags_rm,
	    .remote_final = r->flags,
	    .remote_add = r->flags_add,
	    .remote_remove = r->flags_rm,
	    .prefer_local = prefer_local,
	};
	*flags_r = mf_sync_merge_flags(&in);
	*kw_r = kw_merge(&bs->kw, l, r, prefer_local);
}

static void set_common_flags(struct box_sync *bs, const struct smsg *l,
                             const struct smsg *r)
{
	uint32_t flags, kw;
	uint64_t modseq = MF_MAX(l->modseq, r->modseq);

	merge_common(bs, l, r, &flags, &kw);
	if (flags != l->flags || kw != l->kw)
		add_flag_op(&bs->b[0], l->uid, flags, kw, modseq);
	if (flags != r->flags || kw != r->kw)
		add_flag_op(&bs->b[1], r->uid, flags, kw, modseq);
}

/* Walk both sides from UID 1 to the first divergence (non-stateful). A
 * UID only one side has counts as common when the other side's expunge
 * history shows the same message was expunged there. */
static void find_last_common(struct box_sync *bs)
{
	struct bside *L = &bs->b[0], *R = &bs->b[1];
	size_t i = 0, j = 0;

	bs->lcu = 0;
	while (i < L->msgs.count || j < R->msgs.count) {
		const struct smsg *l =
		    i < L->msgs.count ? &L->msgs.items[i] : NULL;
		const struct smsg *r =
		    j < R->msgs.count ? &R->msgs.items[j] : NULL;

		if (l != NULL && r != NULL && l->uid == r->uid) {
			if (!id_equal(l, r))
				return;
			bs->lcu = l->uid;
			i++;
			j++;
			continue;
		}
		/* the lower UID exists on one side only */
		struct bside *have =
		    (r == NULL || (l != NULL && l->uid < r->uid)) ? L : R;
		struct bside *other = have == L ? R : L;
		const struct smsg *m = have == L ? l : r;
		const struct sexp *e;

		if (m->uid >= other->st.uidnext)
			return;
		e = exp_find(other, m->uid);
		if (e == NULL || !e->have_guid || !bs->ctx->use_guids ||
		    memcmp(e->guid, m->id, 16) != 0)
			return; /* unknown or different: preserve it */
		bs->lcu = m->uid;
		if (have == L)
			i++;
		else
			j++;
	}
}

/* Messages at or below the last common UID. */
static void merge_common_part(struct box_sync *bs)
{
	struct bside *L = &bs->b[0], *R = &bs->b[1];
	size_t i = 0, j = 0;

	while (i < L->msgs.count || j < R->msgs.count) {
		struct smsg *l = i < L->msgs.count ? &L->msgs.items[i] : NULL;
		struct smsg *r = j < R->msgs.count ? &R->msgs.items[j] : NULL;

		if (l != NULL && l->uid > bs->lcu)
			l = NULL;
		if (r != NULL && r->uid > bs->lcu)
			r = NULL;
		if (l == NULL && r == NULL)
			break;
		if (l != NULL && r != NULL && l->uid == r->uid) {
			if (!id_equal(l, r)) {
				/* a UID believed common holds different
				 * messages: touch nothing */
				bs->anomaly = true;
				return;
			}
			set_common_flags(bs, l, r);
			i++;
			j++;
			continue;
		}
		struct bside *have, *other;
		struct smsg *m;
		if (r == NULL || (l != NULL && l->uid < r->uid)) {
			have = L, other = R, m = l;
			i++;
		} else {
			have = R, other = L, m = r;
			j++;
		}
		/* the other side expunged it: verify by GUID when it can */
		const struct sexp *e = exp_find(other, m->uid);
		if (bs->stateful && e == NULL) {
			bs->anomaly = true;
			return;
		}
		if (e != NULL && e->have_guid && bs->ctx->use_guids &&
		    memcmp(e->guid, m->id, 16) != 0) {
			bs->anomaly = true;
			return;
		}
		if (bs->ctx->p->mode == MF_ENGINE_BACKUP &&
		    have == &bs->b[bs->ctx->source]) {
			/* the destination lost a message it cannot get back
			 * at this UID */
			bs->recreate = true;
			return;
		}
		mf_array_push(&have->expunges, m->uid);
	}
}

static bool date_filtered(const struct mf_sync_params *p, const struct smsg *m)
{
	if (p->received_after != 0 && m->received < p->received_after)
		return true;
	if (p->received_before != 0 && m->received >= p->received_before)
		return true;
	return false;
}

/* A message whose id the side already has elsewhere: copy locally. */
static const struct bside *cmp_ctx;

static int cmp_by_id(const void *x, const void *y)
{
	const struct smsg *m = cmp_ctx->msgs.items;
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	int c = memcmp(m[a].id, m[b].id, 16);

	if (c != 0)
		return c;
	return a < b ? -1 : (a > b ? 1 : 0);
}

static int local_instance(struct bside *b, const uint8_t id[16])
{
	size_t lo = 0, hi;

	if (b->by_id.count != b->msgs.count) {
		/* index by id, built once the list is complete */
		b->by_id.count = 0;
		mf_array_reserve(&b->by_id, b->msgs.count);
		for (size_t i = 0; i < b->msgs.count; i++)
			b->by_id.items[b->by_id.count++] = (uint32_t)i;
		cmp_ctx = b;
		mf_qsort(b->by_id.items, b->by_id.count, sizeof(uint32_t),
		         cmp_by_id);
	}
	hi = b->by_id.count;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (memcmp(b->msgs.items[b->by_id.items[mid]].id, id, 16) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < b->by_id.count &&
	    memcmp(b->msgs.items[b->by_id.items[lo]].id, id, 16) == 0)
		return (int)b->by_id.items[lo];
	return -1;
}

static void plan_instance(struct box_sync *bs, int side, uint32_t final,
                          const struct smsg *have_here, int src_side,
                          const struct smsg *src, uint32_t flags, uint32_t kw,
                          uint64_t modseq)
{
	struct bside *b = &bs->b[side];

	if (have_here != NULL) {
		if (have_here->uid == final) {
			if (flags != have_here->flags || kw != have_here->kw)
				add_flag_op(b, final, flags, kw, modseq);
			return;
		}
		/* move to the new UID: copy inside the mailbox, expunge */
		add_save(b, final, side, have_here,
		         (uint32_t)(have_here - b->msgs.items), flags, kw,
		         modseq);
		mf_array_push(&b->expunges, have_here->uid);
		return;
	}
	int li = local_instance(b, src->id);
	if (li >= 0 && bs->ctx->use_guids) {
		add_save(b, final, side, &b->msgs.items[li], (uint32_t)li,
		         flags, kw, modseq);
		return;
	}
	add_save(b, final, src_side, src,
	         (uint32_t)(src - bs->b[src_side].msgs.items), flags, kw,
	         modseq);
}

/* Messages above the last common UID. */
static void merge_new_part(struct box_sync *bs)
{
	MF_ARRAY(struct mf_newmail) nm = MF_ARRAY_INIT;
	const struct mf_sync_params *p = bs->ctx->p;

	for (int s = 0; s < 2; s++) {
		struct bside *b = &bs->b[s];
		for (size_t i = 0; i < b->msgs.count; i++) {
			const struct smsg *m = &b->msgs.items[i];
			if (m->uid <= bs->lcu)
				continue;
			/* -t/-e: a message the other side lacks is not
			 * copied; it stays where it is */
			bool other_has =
			    msg_find(&bs->b[1 - s], m->uid) != NULL;
			if (!other_has && date_filtered(p, m) &&
			    local_instance(&bs->b[1 - s], m->id) < 0)
				continue;
			struct mf_newmail *n = mf_array_append_zero(&nm);
			memcpy(n->id, m->id, 16);
			n->uid = m->uid;
			n->side = (uint8_t)s;
			n->index = (uint32_t)i;
		}
	}
	bs->next_uid = mf_sync_assign_uids(
	    nm.items, nm.count, bs->b[0].st.uidnext, bs->b[1].st.uidnext);
	for (size_t k = 0; k < nm.count; k++) {
		struct mf_newmail *a = &nm.items[k];
		struct mf_newmail *o = a->link >= 0 ? &nm.items[a->link] : NULL;
		const struct smsg *ma = &bs->b[a->side].msgs.items[a->index];
		const struct smsg *mo =
		    o != NULL ? &bs->b[o->side].msgs.items[o->index] : NULL;
		uint32_t flags = ma->flags, kw = ma->kw;
		uint64_t modseq = ma->modseq;

		if (o != NULL && a->link < (int32_t)k)
			continue; /* handled with its pair */
		if (mo != NULL) {
			const struct smsg *l = a->side == 0 ? ma : mo;
			const struct smsg *r = a->side == 0 ? mo : ma;
			merge_common(bs, l, r, &flags, &kw);
			modseq = MF_MAX(l->modseq, r->modseq);
		} else if (p->mode == MF_ENGINE_BACKUP &&
		           a->side != bs->ctx->source) {
			/* destination-only: not in the source */
			mf_array_push(&bs->b[a->side].expunges, ma->uid);
			continue;
		}
		for (int s = 0; s < 2; s++) {
			const struct smsg *here =
			    a->side == s ? ma : (mo != NULL ? mo : NULL);
			plan_instance(bs, s, a->final_uid, here, a->side, ma,
			              flags, kw, modseq);
		}
	}
	mf_array_free(&nm);
}

/* Backup: the destination must equal the source. A destination message
 * the source lacks is expunged; a source message the destination lacks is
 * saved at its UID when that is still possible, otherwise (UID below the
 * destination's UIDNEXT, or taken by another message) the destination
 * mailbox is rebuilt. */
static void merge_backup(struct box_sync *bs)
{
	int si = bs->ctx->source, di = 1 - si;
	struct bside *S = &bs->b[si], *D = &bs->b[di];
	size_t i = 0, j = 0;

	bs->next_uid = MF_MAX(S->st.uidnext, D->st.uidnext);
	while (i < S->msgs.count || j < D->msgs.count) {
		struct smsg *s = i < S->msgs.count ? &S->msgs.items[i] : NULL;
		struct smsg *d = j < D->msgs.count ? &D->msgs.items[j] : NULL;

		if (s != NULL && d != NULL && s->uid == d->uid) {
			if (!id_equal(s, d)) {
				bs->recreate = true;
				return;
			}
			if (s->flags != d->flags || s->kw != d->kw)
				add_flag_op(D, d->uid, s->flags, s->kw,
				            s->modseq);
			i++;
			j++;
		} else if (d != NULL && (s == NULL || d->uid < s->uid)) {
			mf_array_push(&D->expunges, d->uid);
			j++;
		} else {
			i++;
			if (date_filtered(bs->ctx->p, s))
				continue;
			if (bs->stateful && s->uid <= bs->lcu) {
				/* expunged on the destination only */
				bs->recreate = true;
				return;
			}
			if (s->uid < D->st.uidnext) {
				bs->recreate = true;
				return;
			}
			int li = local_instance(D, s->id);
			if (li >= 0 && bs->ctx->use_guids)
				add_save(D, s->uid, di, &D->msgs.items[li],
				         (uint32_t)li, s->flags, s->kw,
				         s->modseq);
			else
				add_save(D, s->uid, si, s,
				         (uint32_t)(s - S->msgs.items),
				         s->flags, s->kw, s->modseq);
		}
	}
}

/* ------------------------------------------------------------ applying */

static void uidset_one(struct mailferry_uid_range *r,
                       struct mailferry_uidset *set, uint32_t uid)
{
	r->first = r->last = uid;
	set->ranges = r;
	set->count = 1;
}

static int cmp_save(const void *x, const void *y)
{
	const struct save_op *a = x, *b = y;
	return a->uid < b->uid ? -1 : (a->uid > b->uid ? 1 : 0);
}

/* Details of the source message a save needs (GUID string, dates, POP3,
 * size). Read for a window of saves at a time with one iteration per
 * source side, so a network store answers one query per window instead of
 * one per message, and memory stays bounded by the window. */
struct src_info {
	char *guid;
	int64_t received, saved;
	char *pop3_uidl;
	uint32_t pop3_order;
	uint64_t size;
	bool found;
};

static void src_infos_clear(struct src_info *infos, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(infos[i].guid);
		free(infos[i].pop3_uidl);
	}
	memset(infos, 0, n * sizeof(*infos));
}

static int prefetch_src_infos(struct box_sync *bs, const struct save_op *ops,
                              size_t n, struct src_info *infos)
{
	MF_ARRAY(uint32_t) uids = MF_ARRAY_INIT;
	int ret = 0;

	for (int side = 0; side < 2 && ret >= 0; side++) {
		struct bside *src = &bs->b[side];
		struct mf_storage *st = src->s->st;
		struct mailferry_msg_query q;
		struct mailferry_msg_iter *iter;
		const struct mailferry_msg *m;

		uids.count = 0;
		for (size_t i = 0; i < n; i++) {
			if (ops[i].from_side == side && ops[i].uid != 0)
				mf_array_push(&uids, ops[i].from_uid);
		}
		if (uids.count == 0 || src->box == NULL)
			continue;
		mf_qsort(uids.items, uids.count, sizeof(uint32_t), cmp_u32);
		query_init(&q, MAILFERRY_FIELD_GUID | MAILFERRY_FIELD_RECEIVED |
		                   MAILFERRY_FIELD_SAVED |
		                   MAILFERRY_FIELD_POP3 |
		                   MAILFERRY_FIELD_PHYSICAL_SIZE);
		q.flags = 0;
		q.uid_first = uids.items[0];
		q.uid_last = uids.items[uids.count - 1];
		ret = st->ops->msg_iter_begin(src->box, &q, &iter);
		if (ret < 0)
			break;
		while ((ret = st->ops->msg_iter_next(iter, &m)) > 0) {
			if (mf_bsearch(&m->uid, uids.items, uids.count,
			               sizeof(uint32_t), cmp_u32) == NULL)
				continue;
			for (size_t i = 0; i < n; i++) {
				struct src_info *info = &infos[i];
				if (ops[i].from_side != side ||
				    ops[i].from_uid != m->uid || info->found)
					continue;
				info->found = true;
				if (m->guid != NULL && m->guid[0] != '\0')
					info->guid = mf_strdup(m->guid);
				info->received = m->received_date;
				info->saved = m->save_date;
				if (m->pop3_uidl != NULL)
					info->pop3_uidl =
					    mf_strdup(m->pop3_uidl);
				info->pop3_order = m->pop3_order;
				info->size = m->physical_size;
			}
		}
		int ret2 = st->ops->msg_iter_end(&iter);
		if (ret == 0)
			ret = ret2;
	}
	mf_array_free(&uids);
	return ret;
}

/* Save one message into trans on side di. */
static int do_save(struct box_sync *bs, int di, struct mailferry_trans *trans,
                   const struct save_op *op, const struct src_info *info,
                   uint32_t *bytes_r)
{
	struct bside *D = &bs->b[di], *S = &bs->b[op->from_side];
	struct mf_storage *dst = D->s->st, *src = S->s->st;
	struct mailferry_save save;
	struct mailferry_stream *stream;
	char *buf;
	int ret;

	*bytes_r = 0;
	if (!info->found)
		return MAILFERRY_E_EXPUNGED;
	mf_zero(&save);
	save.struct_size = sizeof(save);
	save.uid = op->uid;
	save.guid = bs->ctx->use_guids ? info->guid : NULL;
	save.flags = op->flags;
	save.keywords = (const char *const *)bs->kw.sets.items[op->kw];
	save.received_date = info->received;
	save.save_date = info->saved;
	save.min_modseq = op->min_modseq;
	save.pop3_uidl = info->pop3_uidl;
	save.pop3_order = info->pop3_order;
	save.size_hint = info->size;

	if (op->from_side == di && MF_HAS_OP(dst, copy)) {
		ret = dst->ops->copy(trans, S->box, op->from_uid, &save);
		if (ret != MAILFERRY_E_NOTSUPP)
			return ret;
	}
	ret = src->ops->msg_open(S->box, op->from_uid, 0, &stream);
	if (ret < 0)
		return ret;
	ret = dst->ops->save_begin(trans, &save);
	if (ret < 0) {
		src->ops->stream_close(&stream);
		return ret;
	}
	buf = mf_malloc(CHUNK_SIZE);
	for (;;) {
		size_t n = 0;
		ret = src->ops->stream_read(stream, buf, CHUNK_SIZE, &n);
		if (ret < 0 || n == 0)
			break;
		ret = dst->ops->save_write(trans, buf, n);
		if (ret < 0)
			break;
		*bytes_r += (uint32_t)n;
		mf_progress_msg(bs->ctx->progress, n);
	}
	free(buf);
	src->ops->stream_close(&stream);
	if (ret < 0) {
		dst->ops->save_cancel(trans);
		return ret;
	}
	return dst->ops->save_finish(trans);
}

static const char *side_err(struct bside *b)
{
	return mf_sync_side_error(b->s);
}

static int commit_saves(struct box_sync *bs, int di,
                        struct mailferry_trans **trans, size_t first,
                        size_t count)
{
	struct bside *D = &bs->b[di];
	struct mailferry_commit_result cr;
	int ret;

	mf_zero(&cr);
	cr.struct_size = sizeof(cr);
	ret = D->s->st->ops->trans_commit(trans, &cr);
	if (ret == MAILFERRY_E_EXISTS) {
		/* a concurrent delivery took a UID we wanted: nothing of
		 * this batch was saved; the next run redoes it */
		mf_sync_changed(bs->ctx,
		                "%s: mailbox %s: UIDs changed due to UID "
		                "conflicts (%s)",
		                D->s->label, D->node->real, side_err(D));
		bs->ctx->require_full_resync = true;
		bs->saves_aborted = true;
		return 1;
	}
	if (ret < 0)
		return mf_sync_fail(bs->ctx, ret, "%s: mailbox %s: commit: %s",
		                    D->s->label, D->node->real, side_err(D));
	/* the store had to give other UIDs: a concurrent delivery took the
	 * ones we wanted */
	size_t k = 0;
	for (size_t i = first; i < first + count && k < cr.saved_count; i++) {
		if (D->saves.items[i].uid == 0)
			continue; /* skipped */
		if (cr.saved_uids[k] != 0 &&
		    cr.saved_uids[k] != D->saves.items[i].uid) {
			mf_sync_changed(bs->ctx,
			                "%s: mailbox %s: UIDs changed due to "
			                "UID conflicts",
			                D->s->label, D->node->real);
			break;
		}
		k++;
	}
	return 0;
}

/* Save D->saves (sorted by wanted UID) in transactions of
 * commit_interval messages, reading source details window by window. */
static int apply_saves_window(struct box_sync *bs, int di,
                              struct src_info *infos, size_t window)
{
	struct bside *D = &bs->b[di];
	struct mf_storage *st = D->s->st;
	struct mailferry_trans *trans = NULL;
	size_t batch_start = 0, in_batch = 0, win_start = 0;
	int ret = 0;

	for (size_t i = 0; i < D->saves.count; i++) {
		struct save_op *op = &D->saves.items[i];
		char hex[MF_GUID128_HEX_LEN];
		uint32_t bytes;

		if (!bs->ctx->p->dry_run &&
		    (i == 0 || i - win_start >= window)) {
			win_start = i;
			src_infos_clear(infos, window);
			ret = prefetch_src_infos(
			    bs, op, MF_MIN(window, D->saves.count - i), infos);
			if (ret < 0) {
				if (trans != NULL)
					st->ops->trans_rollback(&trans);
				return mf_sync_fail(
				    bs->ctx, ret,
				    "mailbox %s: reading message details: %s",
				    D->node->real, side_err(&bs->b[1 - di]));
			}
		}

		mf_sync_note(
		    bs->ctx, D->s, "save to %s UID %u (%s UID %u, %s)",
		    D->node->real, op->uid, bs->b[op->from_side].s->label,
		    op->from_uid,
		    msg_guid_str(&bs->b[op->from_side],
		                 &bs->b[op->from_side].msgs.items[op->from_idx],
		                 hex));
		if (bs->ctx->p->dry_run) {
			bs->ctx->res->msgs_saved++;
			continue;
		}
		if (trans == NULL) {
			ret = st->ops->trans_begin(D->box, MAILFERRY_TRANS_SYNC,
			                           &trans);
			if (ret < 0)
				return mf_sync_fail(
				    bs->ctx, ret,
				    "%s: mailbox %s: transaction: %s",
				    D->s->label, D->node->real, side_err(D));
			batch_start = i;
			in_batch = 0;
		}
		ret = do_save(bs, di, trans, op, &infos[i - win_start], &bytes);
		if (ret == MAILFERRY_E_EXPUNGED ||
		    ret == MAILFERRY_E_NOTFOUND) {
			/* expunged on the source meanwhile: nothing to copy */
			mf_sync_changed(bs->ctx,
			                "%s: message UID %u expunged during "
			                "the sync",
			                bs->b[op->from_side].s->label,
			                op->from_uid);
			bs->ctx->require_full_resync = true;
			op->uid = 0;
			continue;
		}
		if (ret < 0) {
			ret = mf_sync_fail(
			    bs->ctx, ret, "%s: mailbox %s: saving UID %u: %s",
			    D->s->label, D->node->real, op->uid,
			    op->from_side == di
			        ? side_err(D)
			        : mf_sync_side_error(bs->b[op->from_side].s));
			st->ops->trans_rollback(&trans);
			return ret;
		}
		bs->ctx->res->msgs_saved++;
		bs->ctx->res->bytes += bytes;
		mf_progress_msg_done(bs->ctx->progress);
		in_batch++;
		if (in_batch >= bs->ctx->commit_interval) {
			ret = commit_saves(bs, di, &trans, batch_start,
			                   i + 1 - batch_start);
			if (ret != 0)
				return ret < 0 ? ret : 0;
		}
	}
	if (trans != NULL)
		ret = commit_saves(bs, di, &trans, batch_start,
		                   D->saves.count - batch_start);
	return ret < 0 ? ret : 0;
}

static int apply_saves(struct box_sync *bs, int di)
{
	struct bside *D = &bs->b[di];
	size_t window = bs->ctx->commit_interval;
	struct src_info *infos;
	int ret;

	if (D->saves.count == 0)
		return 0;
	mf_qsort(D->saves.items, D->saves.count, sizeof(struct save_op),
	         cmp_save);
	infos = mf_calloc(window, sizeof(*infos));
	ret = apply_saves_window(bs, di, infos, window);
	src_infos_clear(infos, window);
	free(infos);
	return ret;
}

static int cmp_flag_op(const void *x, const void *y)
{
	const struct flag_op *a = x, *b = y;
	return a->uid < b->uid ? -1 : (a->uid > b->uid ? 1 : 0);
}

/* "\\Seen \\Flagged $Label1" for messages. */
static char *flags_desc(uint32_t flags, char **keywords)
{
	static const char *const names[] = {"\\Answered", "\\Flagged",
	                                    "\\Deleted", "\\Seen", "\\Draft"};
	struct mf_buf buf = MF_BUF_INIT;

	for (size_t i = 0; i < MF_N_ELEMENTS(names); i++) {
		if ((flags & (1u << i)) != 0)
			mf_buf_printf(&buf, "%s%s", buf.len > 0 ? " " : "",
			              names[i]);
	}
	for (size_t i = 0; keywords[i] != NULL; i++)
		mf_buf_printf(&buf, "%s%s", buf.len > 0 ? " " : "",
		              keywords[i]);
	return mf_buf_detach(&buf);
}

static int apply_changes(struct box_sync *bs, int di)
{
	struct bside *D = &bs->b[di];
	struct mf_storage *st = D->s->st;
	struct mailferry_trans *trans = NULL;
	unsigned int n = 0;
	int ret = 0;

	if (D->flag_ops.count == 0 && D->expunges.count == 0)
		return 0;
	mf_qsort(D->flag_ops.items, D->flag_ops.count, sizeof(struct flag_op),
	         cmp_flag_op);
	mf_qsort(D->expunges.items, D->expunges.count, sizeof(uint32_t),
	         cmp_u32);
	for (size_t i = 0; i < D->flag_ops.count + D->expunges.count; i++) {
		struct mailferry_uid_range range;
		struct mailferry_uidset set;
		bool is_exp = i >= D->flag_ops.count;

		if (is_exp) {
			uint32_t uid = D->expunges.items[i - D->flag_ops.count];
			mf_sync_note(bs->ctx, D->s, "expunge %s UID %u",
			             D->node->real, uid);
			bs->ctx->res->msgs_expunged++;
		} else {
			const struct flag_op *op = &D->flag_ops.items[i];
			char *desc =
			    flags_desc(op->flags, bs->kw.sets.items[op->kw]);
			mf_sync_note(bs->ctx, D->s,
			             "set flags of %s UID %u to (%s)",
			             D->node->real, op->uid, desc);
			free(desc);
			bs->ctx->res->msgs_flag_changed++;
		}
		if (bs->ctx->p->dry_run)
			continue;
		if (trans == NULL) {
			ret = st->ops->trans_begin(D->box, MAILFERRY_TRANS_SYNC,
			                           &trans);
			if (ret < 0)
				break;
		}
		if (is_exp) {
			uidset_one(&range, &set,
			           D->expunges.items[i - D->flag_ops.count]);
			ret = st->ops->expunge(trans, &set);
		} else {
			const struct flag_op *op = &D->flag_ops.items[i];
			uidset_one(&range, &set, op->uid);
			ret = st->ops->update_flags(
			    trans, &set, MAILFERRY_MODIFY_REPLACE, op->flags,
			    (const char *const *)bs->kw.sets.items[op->kw]);
			if (ret == 0 && op->min_modseq > 0 &&
			    MF_HAS_OP(st, update_modseq))
				ret = st->ops->update_modseq(trans, op->uid,
				                             op->min_modseq);
		}
		if (ret < 0)
			break;
		if (++n >= bs->ctx->commit_interval) {
			ret = st->ops->trans_commit(&trans, NULL);
			n = 0;
			if (ret < 0)
				break;
		}
	}
	if (ret == 0 && trans != NULL)
		ret = st->ops->trans_commit(&trans, NULL);
	if (trans != NULL)
		st->ops->trans_rollback(&trans);
	if (ret < 0)
		return mf_sync_fail(
		    bs->ctx, ret,
		    "%s: mailbox %s: changing flags/expunging: %s", D->s->label,
		    D->node->real, side_err(D));
	return 0;
}

/* ------------------------------------------------------------ mailbox */

static void bside_reset(struct bside *b)
{
	b->msgs.count = 0;
	b->exps.count = 0;
	b->by_id.count = 0;
	b->saves.count = 0;
	b->flag_ops.count = 0;
	b->expunges.count = 0;
	mf_buf_truncate(&b->pool, 0);
}

static void bside_free(struct bside *b)
{
	if (b->box != NULL)
		b->s->st->ops->mailbox_close(&b->box);
	mf_array_free(&b->msgs);
	mf_array_free(&b->exps);
	mf_array_free(&b->by_id);
	mf_array_free(&b->saves);
	mf_array_free(&b->flag_ops);
	mf_array_free(&b->expunges);
	mf_buf_free(&b->pool);
}

static int open_side(struct box_sync *bs, struct bside *b)
{
	struct mf_storage *st = b->s->st;
	uint32_t flags = MAILFERRY_MAILBOX_SYNC_LOCK;
	int ret;

	mf_zero(&b->st);
	b->st.struct_size = sizeof(b->st);
	if (b->node->planned) {
		b->st.uidnext = 1;
		b->st.uidvalidity = b->node->uidvalidity;
		return 0;
	}
	if (!b->s->writable || bs->ctx->p->dry_run)
		flags |= MAILFERRY_MAILBOX_READONLY;
	ret = st->ops->mailbox_open(st->st, b->node->real, flags, &b->box);
	if (ret == 0)
		ret = st->ops->mailbox_status(b->box, &b->st);
	if (ret < 0) {
		if (ret == MAILFERRY_E_NOTFOUND) {
			mf_sync_changed(bs->ctx, "%s: mailbox %s was lost",
			                b->s->label, b->node->real);
			return 1;
		}
		return mf_sync_fail(bs->ctx, ret, "%s: mailbox %s: open: %s",
		                    b->s->label, b->node->real, side_err(b));
	}
	return 0;
}

static int refresh_status(struct bside *b)
{
	if (b->box == NULL)
		return 0;
	mf_zero(&b->st);
	b->st.struct_size = sizeof(b->st);
	return b->s->st->ops->mailbox_status(b->box, &b->st);
}

static int update_box(struct box_sync *bs, struct bside *b,
                      const struct mailferry_mailbox_update *up)
{
	int ret;

	if (bs->ctx->p->dry_run || b->box == NULL || !b->s->writable)
		return 0;
	ret = b->s->st->ops->mailbox_update(b->s->st->st, b->node->real, up);
	if (ret == MAILFERRY_E_NOTSUPP)
		return 0;
	if (ret < 0)
		return mf_sync_fail(bs->ctx, ret, "%s: mailbox %s: update: %s",
		                    b->s->label, b->node->real, side_err(b));
	return refresh_status(b);
}

/* Different UIDVALIDITY on a mailbox known on both sides: keep the one of
 * the side with more messages (equal: the higher). */
static int resolve_uidvalidity(struct box_sync *bs)
{
	struct bside *L = &bs->b[0], *R = &bs->b[1];
	struct bside *keep, *chg;
	struct mailferry_mailbox_update up;

	if (L->st.uidvalidity == R->st.uidvalidity)
		return 0;
	if (bs->ctx->source >= 0) {
		keep = &bs->b[bs->ctx->source];
	} else if (L->st.messages != R->st.messages) {
		keep = L->st.messages > R->st.messages ? L : R;
	} else {
		keep = L->st.uidvalidity > R->st.uidvalidity ? L : R;
	}
	chg = keep == L ? R : L;
	mf_sync_note(bs->ctx, chg->s, "set UIDVALIDITY of %s to %u",
	             chg->node->real, keep->st.uidvalidity);
	mf_zero(&up);
	up.struct_size = sizeof(up);
	up.fields = MAILFERRY_UPDATE_UIDVALIDITY;
	up.uidvalidity = keep->st.uidvalidity;
	if (!chg->s->writable)
		return 0;
	if (chg->box == NULL || bs->ctx->p->dry_run) {
		chg->st.uidvalidity = keep->st.uidvalidity;
		return 0;
	}
	return update_box(bs, chg, &up);
}

static bool quick_equal(const struct box_sync *bs)
{
	const struct mailferry_mailbox_status *a = &bs->b[0].st,
	                                      *b = &bs->b[1].st;

	return a->uidvalidity == b->uidvalidity && a->uidnext == b->uidnext &&
	       a->highest_modseq == b->highest_modseq &&
	       a->messages == b->messages;
}

static int raise_counters(struct box_sync *bs)
{
	for (int i = 0; i < 2; i++) {
		struct bside *b = &bs->b[i], *o = &bs->b[1 - i];
		struct mailferry_mailbox_update up;
		int ret;

		if (!b->s->writable || b->box == NULL)
			continue;
		ret = refresh_status(b);
		if (ret < 0)
			return mf_sync_fail(
			    bs->ctx, ret, "%s: mailbox %s: status: %s",
			    b->s->label, b->node->real, side_err(b));
		refresh_status(o);
		mf_zero(&up);
		up.struct_size = sizeof(up);
		if (b->st.uidnext < bs->next_uid) {
			up.fields |= MAILFERRY_UPDATE_MIN_UIDNEXT;
			up.min_uidnext = bs->next_uid;
		}
		if (b->st.highest_modseq < o->st.highest_modseq &&
		    (b->s->caps & MAILFERRY_CAP_MODSEQ) != 0) {
			up.fields |= MAILFERRY_UPDATE_MIN_HIGHEST_MODSEQ;
			up.min_highest_modseq = o->st.highest_modseq;
		}
		if (up.fields != 0) {
			ret = update_box(bs, b, &up);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static int sync_once(struct box_sync *bs, struct mf_sync_box_state *state)
{
	struct mf_sync_ctx *ctx = bs->ctx;
	int ret;

	bs->stateful = false;
	bs->anomaly = false;
	bs->recreate = false;
	for (int i = 0; i < 2; i++)
		bside_reset(&bs->b[i]);
	bs->start_modseq =
	    MF_MIN(bs->b[0].st.highest_modseq, bs->b[1].st.highest_modseq);

	if (state != NULL && state->uidvalidity == bs->b[0].st.uidvalidity &&
	    state->uidvalidity == bs->b[1].st.uidvalidity &&
	    (state->last_common_uid > 0 || state->last_common_modseq > 0)) {
		bool sane = true;
		for (int i = 0; i < 2; i++) {
			if (bs->b[i].st.uidnext <= state->last_common_uid ||
			    bs->b[i].st.highest_modseq <
			        state->last_common_modseq)
				sane = false;
		}
		if (!sane) {
			mf_warning("mailbox %s doesn't match the saved sync "
			           "state; comparing it in full",
			           bs->b[0].node->real);
		} else {
			bs->stateful = true;
			bs->lcu = state->last_common_uid;
			ret = read_incremental(bs, state->last_common_modseq);
			if (ret == MAILFERRY_E_NOHISTORY || bs->anomaly) {
				mf_warning(
				    "mailbox %s: incremental sync not "
				    "possible (%s); comparing it in full",
				    bs->b[0].node->real,
				    ret < 0 ? "history no longer kept"
				            : "state does not match");
				bs->stateful = false;
				bs->anomaly = false;
				for (int i = 0; i < 2; i++)
					bside_reset(&bs->b[i]);
				ret = 0;
			} else if (ret < 0) {
				return mf_sync_fail(ctx, ret,
				                    "mailbox %s: reading: %s",
				                    bs->b[0].node->real,
				                    "incremental read failed");
			}
		}
	}
	if (!bs->stateful) {
		for (int i = 0; i < 2; i++) {
			ret = read_full(bs, &bs->b[i]);
			if (ret < 0)
				return mf_sync_fail(
				    ctx, ret, "%s: mailbox %s: reading: %s",
				    bs->b[i].s->label, bs->b[i].node->real,
				    side_err(&bs->b[i]));
		}
	}
	if (ctx->p->mode == MF_ENGINE_BACKUP) {
		merge_backup(bs);
		return 0;
	}
	if (!bs->stateful)
		find_last_common(bs);
	merge_common_part(bs);
	if (bs->anomaly) {
		if (bs->stateful)
			return 1; /* caller redoes it in full */
		mf_sync_changed(ctx, "mailbox %s: unexpected GUID mismatch",
		                bs->b[0].node->real);
		ctx->require_full_resync = true;
		for (int i = 0; i < 2; i++)
			bside_reset(&bs->b[i]);
		return 0;
	}
	merge_new_part(bs);
	return 0;
}

/* True when nothing but this sync changed side b since it began: no
 * change from a non-sync transaction and no expunge we did not make. Then
 * the state may record the final HIGHESTMODSEQ instead of the initial one,
 * and the next incremental run does not re-read this run's work. */
static bool side_clean(struct box_sync *bs, struct bside *b)
{
	struct mf_storage *st = b->s->st;
	struct mailferry_msg_query q;
	struct mailferry_msg_iter *iter;
	struct mailferry_expunge_iter *eiter;
	const struct mailferry_msg *m;
	const struct mailferry_expunge *e;
	uint32_t exps = 0;
	int ret, found = 0;

	if (b->box == NULL || b->start_modseq == 0 || bs->ctx->p->dry_run ||
	    !MF_HAS_OP(st, expunge_iter_begin))
		return false;
	query_init(&q, 0);
	q.changed_since = b->start_modseq;
	if (st->ops->msg_iter_begin(b->box, &q, &iter) < 0)
		return false;
	while ((ret = st->ops->msg_iter_next(iter, &m)) > 0)
		found++;
	if (st->ops->msg_iter_end(&iter) < 0 || ret < 0 || found > 0)
		return false;
	if (st->ops->expunge_iter_begin(b->box, b->start_modseq, &eiter) < 0)
		return false;
	while ((ret = st->ops->expunge_iter_next(eiter, &e)) > 0)
		exps++;
	if (st->ops->expunge_iter_end(&eiter) < 0 || ret < 0)
		return false;
	return exps == b->applied_expunges;
}

/* Backup: delete the destination mailbox and create it again empty with
 * the source's identity. */
static int recreate_dest(struct box_sync *bs)
{
	int di = 1 - bs->ctx->source;
	struct bside *D = &bs->b[di], *S = &bs->b[bs->ctx->source];
	struct mf_storage *st = D->s->st;
	struct mailferry_mailbox_create cr;
	int ret;

	mf_warning("%s: deleting mailbox %s: it cannot be made identical to "
	           "the source in place; copying it again",
	           D->s->label, D->node->real);
	mf_sync_note(bs->ctx, D->s, "delete and recreate mailbox %s",
	             D->node->real);
	if (bs->ctx->p->dry_run)
		return 0;
	if (D->box != NULL)
		st->ops->mailbox_close(&D->box);
	ret = st->ops->mailbox_delete(st->st, D->node->real, 0);
	if (ret < 0)
		return mf_sync_fail(bs->ctx, ret, "%s: deleting mailbox %s: %s",
		                    D->s->label, D->node->real, side_err(D));
	mf_zero(&cr);
	cr.struct_size = sizeof(cr);
	memcpy(cr.guid, S->node->guid, 16);
	cr.uidvalidity = S->st.uidvalidity;
	cr.special_use = S->node->special_use;
	ret = st->ops->mailbox_create(st->st, D->node->real, &cr);
	if (ret < 0)
		return mf_sync_fail(bs->ctx, ret, "%s: creating mailbox %s: %s",
		                    D->s->label, D->node->real, side_err(D));
	bs->ctx->res->boxes_deleted++;
	bs->ctx->res->boxes_created++;
	ret = open_side(bs, D);
	return ret > 0 ? MAILFERRY_E_TEMP : ret;
}

int mf_sync_mailbox(struct mf_sync_ctx *ctx, struct mf_tnode *n0,
                    struct mf_tnode *n1)
{
	struct box_sync bs;
	struct mf_sync_box_state *state = NULL, newst;
	int ret;

	mf_zero(&bs);
	bs.ctx = ctx;
	bs.b[0].s = &ctx->side[0];
	bs.b[1].s = &ctx->side[1];
	bs.b[0].node = n0;
	bs.b[1].node = n1;
	kw_init(&bs.kw);

	for (int i = 0; i < 2; i++) {
		ret = open_side(&bs, &bs.b[i]);
		if (ret != 0)
			goto out;
		bs.b[i].start_modseq = bs.b[i].st.highest_modseq;
	}
	if (ctx->state_mode)
		state = mf_sync_state_find(&ctx->old_state, n0->guid);
	if (bs.b[0].st.uidvalidity != bs.b[1].st.uidvalidity) {
		if (state != NULL) {
			mf_warning("mailbox %s: UIDVALIDITY changed since the "
			           "saved state; comparing it in full",
			           n0->real);
			state = NULL;
		}
		if (ctx->p->mode == MF_ENGINE_BACKUP) {
			bs.recreate = true;
			goto backup_recreate;
		}
		ret = resolve_uidvalidity(&bs);
		if (ret < 0)
			goto out;
	}
	if (!ctx->p->full && !ctx->state_mode && quick_equal(&bs)) {
		ctx->res->boxes_skipped++;
		ret = 0;
		goto state_out;
	}
	ret = sync_once(&bs, state);
	if (ret > 0) {
		mf_warning("mailbox %s: saved state does not match the "
		           "mailbox; comparing it in full",
		           n0->real);
		ret = sync_once(&bs, NULL);
	}
	if (ret < 0)
		goto out;
backup_recreate:
	if (bs.recreate) {
		ret = recreate_dest(&bs);
		if (ret < 0)
			goto out;
		for (int i = 0; i < 2; i++)
			bside_reset(&bs.b[i]);
		ret = sync_once(&bs, NULL);
		if (ret < 0)
			goto out;
		if (bs.recreate) {
			ret = mf_sync_fail(ctx, MAILFERRY_E_TEMP,
			                   "mailbox %s: backup could not "
			                   "rebuild the destination",
			                   n0->real);
			goto out;
		}
	}
	if (ctx->progress != NULL) {
		uint64_t total = 0, bytes = 0;
		for (int i = 0; i < 2; i++) {
			if (!bs.b[i].s->writable)
				continue;
			for (size_t k = 0; k < bs.b[i].saves.count; k++) {
				const struct save_op *op =
				    &bs.b[i].saves.items[k];
				total++;
				bytes += bs.b[op->from_side]
				             .msgs.items[op->from_idx]
				             .size;
			}
		}
		mf_progress_box(ctx->progress, ctx->res->boxes_synced + 1,
		                n0->real, total, bytes);
	}
	ctx->res->boxes_synced++;
	/* all saves first: a save may read the other side's copy of a
	 * message that side is about to move away (expunge) */
	for (int i = 0; i < 2; i++) {
		if (!bs.b[i].s->writable)
			continue;
		ret = apply_saves(&bs, i);
		if (ret < 0)
			goto out;
	}
	for (int i = 0; i < 2 && !bs.saves_aborted; i++) {
		if (!bs.b[i].s->writable)
			continue;
		ret = apply_changes(&bs, i);
		if (ret < 0)
			goto out;
		if (!ctx->p->dry_run)
			bs.b[i].applied_expunges =
			    (uint32_t)bs.b[i].expunges.count;
	}
	ret = raise_counters(&bs);
	if (ret < 0)
		goto out;
state_out:
	if (ctx->p->state != NULL) {
		struct bside *ref = &bs.b[0];
		refresh_status(&bs.b[0]);
		refresh_status(&bs.b[1]);
		mf_zero(&newst);
		memcpy(newst.guid, n0->guid, 16);
		newst.uidvalidity = ref->st.uidvalidity;
		newst.last_common_uid =
		    MF_MIN(bs.b[0].st.uidnext, bs.b[1].st.uidnext) - 1;
		if (side_clean(&bs, &bs.b[0]) && side_clean(&bs, &bs.b[1])) {
			/* nobody else changed either side meanwhile: every
			 * change up to now is synced */
			newst.last_common_modseq =
			    MF_MIN(bs.b[0].st.highest_modseq,
			           bs.b[1].st.highest_modseq);
		} else {
			newst.last_common_modseq =
			    bs.start_modseq != 0
			        ? bs.start_modseq
			        : MF_MIN(bs.b[0].st.highest_modseq,
			                 bs.b[1].st.highest_modseq);
		}
		newst.messages = ref->st.messages;
		if (ctx->p->mode != MF_ENGINE_TWOWAY &&
		    bs.b[0].st.messages != bs.b[1].st.messages) {
			/* one-way: sides may differ for good */
		}
		mf_array_push(&ctx->new_state.boxes, newst);
	}
out:
	for (int i = 0; i < 2; i++)
		bside_free(&bs.b[i]);
	kw_free(&bs.kw);
	return ret < 0 ? ret : 0;
}
