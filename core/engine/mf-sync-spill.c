/* SPDX-License-Identifier: MIT */
/*
 * New mail on both sides above the last common UID, by-identity two-way
 * syncs and by-identity backups, merged through temporary files so that
 * memory follows the window, not the mailbox (dsync reference §3.5).
 *
 * dsync pairs the instances of one GUID (or header hash) across the two
 * sides and numbers the pairs and unpaired messages that cannot keep a UID
 * in its processing order: both UID-ordered lists merged by (GUID string,
 * UID). Pairing needs every instance of an id, wherever its UID, so it
 * cannot be decided inside a window; the rest can:
 *
 *   1. spill: both sides above the last common UID are walked once, merged
 *      by UID (a filter candidate is known there: the other side has no
 *      message at its UID), each message written as a fixed-size record to
 *      its side's file (GUID strings to a third), and its (id, side, UID)
 *      key to sorted runs of at most run_max keys;
 *   2. pair: the runs are merged (a heap); each id group is paired as
 *      mf_sync_assign_uids() does (same UID first, then in UID order) and
 *      the links are written into the records; filter candidates whose id
 *      the other side does not have are marked dropped;
 *   3. kept UIDs: both record files walked by UID; a message that keeps its
 *      UID (the other side never issued it, or both sides have it there)
 *      is saved or moved to that UID on the other side; these UIDs are all
 *      below both UIDNEXTs' maximum, so saves stay in ascending UID order;
 *   4. new UIDs: the files walked in dsync's processing order (by GUID
 *      string, then UID); a pair or message that keeps no UID gets the
 *      next one above both UIDNEXTs, unless its partner came first.
 *
 * Memory: a window of records per side (plus at most a window of partner
 * records fetched for pairs), one run of keys, a small buffer per run, and
 * the largest group of one id (normally 1 or 2; all messages without the
 * hashed headers share one id). The files hold ~100 bytes per message.
 *
 * By identity, the state may vouch only for UIDs holding the same message
 * on both sides after the run: the saves' reported UIDs are logged to a
 * file per side and compared with the spilled records afterwards
 * (mf_box_spill_verified_lcu).
 *
 * A backup by identity (mf_box_spill_backup) spills and pairs the same
 * way, but pairs as mf_box_merge_backup_ids() does (k-th source instance
 * with k-th destination one, in UID order) and then needs only two
 * passes: the source's records in UID order (unpaired: saved, in the
 * order the in-memory match saves them), then the destination's (paired:
 * the source's flags; unpaired: expunged, after the saves).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-driver.h"
#include "mf-file.h"
#include "mf-hex.h"
#include "mf-log.h"
#include "mf-sync-box.h"

/* One message of one side above the last common UID. */
struct spill_rec {
	struct mf_box_msg m; /* m.guid_str: offset + 1 in the strings file */
	uint32_t guid_len;
	uint32_t link;     /* partner's record index + 1 on the other side */
	uint32_t link_uid; /* partner's UID */
	uint8_t cand;      /* a filter skips it unless the other side has it */
	uint8_t dropped;   /* skipped by a filter */
};

struct spill_key {
	uint8_t id[16];
	uint32_t uid, idx;
	uint8_t side, cand;
};

/* A save made on a side: where it landed (0: the store did not say). */
struct spill_saved {
	uint32_t uid;
	uint8_t id[16];
};

struct spill_side {
	int fd, saved_fd;
	uint32_t count;
	uint64_t saved_count;
	MF_ARRAY(struct spill_rec) wbuf;
	/* reading in a pass: msgs[0..win) are records base.. of the file,
	 * msgs[win..] partners fetched for pairs */
	uint32_t next, base;
	size_t win, win_pool, pos;
	MF_ARRAY(struct spill_rec) meta; /* the window's records */
};

struct mf_spill {
	struct spill_side s[2];
	int str_fd, key_fd;
	uint64_t str_len, key_count;
	struct mf_buf str_buf;
	MF_ARRAY(struct spill_key) run;
	MF_ARRAY(uint64_t) runs; /* first key of each run */
	size_t run_max;
	/* a backup by identity (mf_box_spill_backup): no filter candidates,
	 * ids paired in UID order */
	bool backup;
};

#define WBUF_RECS 256
#define RUN_BUF 32

/* ------------------------------------------------------------- files */

static int tmp_fd(void)
{
	return mf_tmpfile_anon("mailferry-merge", NULL);
}

void mf_box_spill_free(struct mf_spill **spp)
{
	struct mf_spill *sp = *spp;

	if (sp == NULL)
		return;
	for (int i = 0; i < 2; i++) {
		if (sp->s[i].fd >= 0)
			close(sp->s[i].fd);
		if (sp->s[i].saved_fd >= 0)
			close(sp->s[i].saved_fd);
		mf_array_free(&sp->s[i].wbuf);
		mf_array_free(&sp->s[i].meta);
	}
	if (sp->str_fd >= 0)
		close(sp->str_fd);
	if (sp->key_fd >= 0)
		close(sp->key_fd);
	mf_buf_free(&sp->str_buf);
	mf_array_free(&sp->run);
	mf_array_free(&sp->runs);
	free(sp);
	*spp = NULL;
}

static int spill_fail(struct mf_box_sync *bs, const char *what)
{
	return mf_sync_fail(bs->ctx, MAILFERRY_E_TEMP,
	                    "mailbox %s: temporary file: %s: %s",
	                    bs->b[0].node->real, what, strerror(errno));
}

static int spill_new(struct mf_box_sync *bs, struct mf_spill **sp_r)
{
	struct mf_spill *sp = mf_calloc(1, sizeof(*sp));
	uint64_t msgs = (uint64_t)bs->b[0].st.messages + bs->b[1].st.messages;

	sp->str_fd = tmp_fd();
	sp->key_fd = tmp_fd();
	for (int i = 0; i < 2; i++) {
		sp->s[i].fd = tmp_fd();
		sp->s[i].saved_fd = bs->ids ? tmp_fd() : -1;
	}
	/* a run is two windows of keys, but no more than ~512 runs for
	 * the mailbox (each run has a read buffer while merging) */
	sp->run_max = (size_t)MF_MAX(2 * (uint64_t)bs->window, msgs / 512);
	*sp_r = sp;
	if (sp->str_fd < 0 || sp->key_fd < 0 || sp->s[0].fd < 0 ||
	    sp->s[1].fd < 0 || (bs->ids && sp->s[0].saved_fd < 0) ||
	    (bs->ids && sp->s[1].saved_fd < 0))
		return spill_fail(bs, "create");
	return 0;
}

static int wbuf_flush(struct mf_box_sync *bs, struct mf_spill *sp, int i)
{
	struct spill_side *ss = &sp->s[i];

	if (ss->wbuf.count > 0 &&
	    mf_write_full(ss->fd, ss->wbuf.items,
	                  ss->wbuf.count * sizeof(struct spill_rec)) < 0)
		return spill_fail(bs, "write");
	ss->wbuf.count = 0;
	if (sp->str_buf.len > 0 &&
	    mf_write_full(sp->str_fd, sp->str_buf.data, sp->str_buf.len) < 0)
		return spill_fail(bs, "write");
	mf_buf_truncate(&sp->str_buf, 0);
	return 0;
}

static int cmp_key(const void *x, const void *y)
{
	const struct spill_key *a = x, *b = y;
	int c = memcmp(a->id, b->id, 16);

	if (c != 0)
		return c;
	if (a->side != b->side)
		return a->side < b->side ? -1 : 1;
	return a->uid < b->uid ? -1 : (a->uid > b->uid ? 1 : 0);
}

static int run_write(struct mf_box_sync *bs, struct mf_spill *sp)
{
	if (sp->run.count == 0)
		return 0;
	mf_qsort(sp->run.items, sp->run.count, sizeof(struct spill_key),
	         cmp_key);
	if (mf_write_full(sp->key_fd, sp->run.items,
	                  sp->run.count * sizeof(struct spill_key)) < 0)
		return spill_fail(bs, "write");
	mf_array_push(&sp->runs, sp->key_count);
	sp->key_count += sp->run.count;
	sp->run.count = 0;
	return 0;
}

/* ------------------------------------------------------------ 1. spill */

static int spill_add(struct mf_box_sync *bs, struct mf_spill *sp, int i,
                     const struct mf_box_msg *m, bool other_has_uid)
{
	struct spill_side *ss = &sp->s[i];
	struct spill_rec *rec = mf_array_append_zero(&ss->wbuf);
	struct spill_key *k = mf_array_append_zero(&sp->run);
	uint32_t cp;

	rec->m = *m;
	if (m->guid_str != 0) {
		const char *str = bs->b[i].pool.data + m->guid_str - 1;
		rec->guid_len = (uint32_t)strlen(str);
		rec->m.guid_str = (uint32_t)sp->str_len + 1;
		mf_buf_append(&sp->str_buf, str, rec->guid_len);
		sp->str_len += rec->guid_len;
	}
	/* -t/-e/-I/-O skip a message the other side lacks (decided with
	 * the other side's ids once they are paired); a backup asks the
	 * filters only about the source messages it saves */
	rec->cand = !sp->backup && !other_has_uid &&
	            mf_box_save_filtered(bs, m) &&
	            !mf_box_copy_source(&bs->b[1 - i], m->id, &cp);
	memcpy(k->id, m->id, 16);
	k->uid = m->uid;
	k->idx = ss->count++;
	k->side = (uint8_t)i;
	k->cand = rec->cand;
	if (ss->wbuf.count >= WBUF_RECS) {
		int ret = wbuf_flush(bs, sp, i);
		if (ret < 0)
			return ret;
	}
	return sp->run.count >= sp->run_max ? run_write(bs, sp) : 0;
}

/* Both cursors from where they are to their ends, merged by UID. */
static int spill_walk(struct mf_box_sync *bs, struct mf_spill *sp)
{
	struct mf_box_msg *l, *r;
	int ret;

	for (;;) {
		ret = mf_box_cur_peek(bs, 0, &l);
		if (ret == 0)
			ret = mf_box_cur_peek(bs, 1, &r);
		if (ret < 0 || (l == NULL && r == NULL))
			break;
		bool same = l != NULL && r != NULL && l->uid == r->uid;
		if (l != NULL && (r == NULL || l->uid <= r->uid)) {
			ret = spill_add(bs, sp, 0, l, same);
			bs->b[0].cur_pos++;
		}
		if (ret == 0 && r != NULL && (l == NULL || r->uid <= l->uid)) {
			ret = spill_add(bs, sp, 1, r, same);
			bs->b[1].cur_pos++;
		}
		if (ret < 0)
			break;
	}
	for (int i = 0; i < 2 && ret == 0; i++)
		ret = wbuf_flush(bs, sp, i);
	if (ret == 0)
		ret = run_write(bs, sp);
	return ret;
}

/* ------------------------------------------------------------- 2. pair */

struct run_rd {
	uint64_t pos, end; /* keys of the run still in the file */
	struct spill_key buf[RUN_BUF];
	size_t n, i;
};

static int rd_fill(struct mf_box_sync *bs, struct mf_spill *sp,
                   struct run_rd *rd)
{
	size_t n = (size_t)MF_MIN(rd->end - rd->pos, RUN_BUF);

	rd->n = n;
	rd->i = 0;
	if (n > 0 &&
	    mf_pread_full(sp->key_fd, rd->buf, n * sizeof(struct spill_key),
	                  (off_t)(rd->pos * sizeof(struct spill_key))) < 0)
		return spill_fail(bs, "read");
	rd->pos += n;
	return 0;
}

static const struct spill_key *rd_head(const struct run_rd *rd)
{
	return rd->i < rd->n ? &rd->buf[rd->i] : NULL;
}

/* a binary min-heap of run indexes by their heads */
static bool heap_less(struct run_rd *rds, uint32_t a, uint32_t b)
{
	return cmp_key(rd_head(&rds[a]), rd_head(&rds[b])) < 0;
}

static void heap_down(struct run_rd *rds, uint32_t *h, size_t n, size_t i)
{
	for (;;) {
		size_t m = i, l = 2 * i + 1, r = l + 1;
		if (l < n && heap_less(rds, h[l], h[m]))
			m = l;
		if (r < n && heap_less(rds, h[r], h[m]))
			m = r;
		if (m == i)
			return;
		uint32_t t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static int rec_pwrite(struct mf_box_sync *bs, struct mf_spill *sp, int side,
                      uint32_t idx, size_t field, const void *data, size_t len)
{
	off_t off = (off_t)idx * (off_t)sizeof(struct spill_rec) + (off_t)field;

	if (pwrite(sp->s[side].fd, data, len, off) != (ssize_t)len)
		return spill_fail(bs, "write");
	return 0;
}

static int link_pair(struct mf_box_sync *bs, struct mf_spill *sp,
                     const struct spill_key *a, const struct spill_key *b)
{
	uint32_t la[2] = {b->idx + 1, b->uid}, lb[2] = {a->idx + 1, a->uid};
	int ret = rec_pwrite(bs, sp, a->side, a->idx,
	                     offsetof(struct spill_rec, link), la, sizeof(la));

	if (ret == 0)
		ret = rec_pwrite(bs, sp, b->side, b->idx,
		                 offsetof(struct spill_rec, link), lb,
		                 sizeof(lb));
	return ret;
}

/* One id's instances, sorted by side then UID: paired as
 * mf_sync_assign_uids() pairs them, or (one side only) the filter
 * candidates dropped. */
static int pair_group(struct mf_box_sync *bs, struct mf_spill *sp,
                      struct spill_key *g, size_t n)
{
	const uint8_t one = 1;
	size_t mid = 0, i, j;
	int ret = 0;

	while (mid < n && g[mid].side == 0)
		mid++;
	if (sp->backup) {
		/* the k-th instance of the source with the k-th of the
		 * destination, both in UID order (mf_box_merge_backup_ids);
		 * the rest of either side is saved or expunged */
		for (i = 0; i < mid && mid + i < n && ret == 0; i++)
			ret = link_pair(bs, sp, &g[i], &g[mid + i]);
		return ret;
	}
	if (mid == 0 || mid == n) {
		for (i = 0; i < n && ret == 0; i++) {
			if (g[i].cand)
				ret = rec_pwrite(
				    bs, sp, g[i].side, g[i].idx,
				    offsetof(struct spill_rec, dropped), &one,
				    1);
		}
		return ret;
	}
	/* the same UID on both sides first (cand marks "linked" here) */
	for (i = 0; i < n; i++)
		g[i].cand = 0;
	for (i = 0, j = mid; i < mid && j < n && ret == 0;) {
		if (g[i].uid == g[j].uid) {
			g[i].cand = g[j].cand = 1;
			ret = link_pair(bs, sp, &g[i++], &g[j++]);
		} else if (g[i].uid < g[j].uid) {
			i++;
		} else {
			j++;
		}
	}
	for (i = 0, j = mid; i < mid && ret == 0; i++) {
		if (g[i].cand)
			continue;
		while (j < n && g[j].cand)
			j++;
		if (j == n)
			break;
		g[j].cand = 1;
		ret = link_pair(bs, sp, &g[i], &g[j]);
	}
	return ret;
}

static int spill_pair(struct mf_box_sync *bs, struct mf_spill *sp)
{
	size_t nruns = sp->runs.count, hn = 0;
	struct run_rd *rds = mf_calloc(nruns + 1, sizeof(*rds));
	uint32_t *heap = mf_calloc(nruns + 1, sizeof(uint32_t));
	int ret = 0;

	sp->run.count = 0; /* the current id group */
	for (size_t r = 0; r < nruns && ret == 0; r++) {
		rds[r].pos = sp->runs.items[r];
		rds[r].end =
		    r + 1 < nruns ? sp->runs.items[r + 1] : sp->key_count;
		ret = rd_fill(bs, sp, &rds[r]);
		if (rd_head(&rds[r]) != NULL)
			heap[hn++] = (uint32_t)r;
	}
	for (size_t i = hn; i-- > 0;)
		heap_down(rds, heap, hn, i);
	while (ret == 0 && hn > 0) {
		struct run_rd *rd = &rds[heap[0]];
		const struct spill_key *k = rd_head(rd);

		if (sp->run.count > 0 &&
		    memcmp(sp->run.items[0].id, k->id, 16) != 0) {
			ret = pair_group(bs, sp, sp->run.items, sp->run.count);
			sp->run.count = 0;
		}
		mf_array_push(&sp->run, *k);
		if (++rd->i == rd->n && ret == 0)
			ret = rd_fill(bs, sp, rd);
		if (rd_head(rd) == NULL)
			heap[0] = heap[--hn];
		heap_down(rds, heap, hn, 0);
	}
	if (ret == 0 && sp->run.count > 0)
		ret = pair_group(bs, sp, sp->run.items, sp->run.count);
	sp->run.count = 0;
	free(rds);
	free(heap);
	return ret;
}

/* ----------------------------------------------------- reading passes */

static void trim_partners(struct mf_box_sync *bs, struct mf_spill *sp);
static int flush_trim(struct mf_box_sync *bs, struct mf_spill *sp);

/* Both sides back to their first record: what was planned on the
 * current windows is carried out first. */
static int rd_rewind(struct mf_box_sync *bs, struct mf_spill *sp)
{
	int ret = flush_trim(bs, sp);

	for (int i = 0; i < 2; i++) {
		struct spill_side *ss = &sp->s[i];
		ss->next = ss->base = 0;
		ss->win = ss->pos = ss->win_pool = 0;
		ss->meta.count = 0;
		bs->b[i].msgs.count = 0;
		bs->b[i].by_id_valid = false;
		mf_buf_truncate(&bs->b[i].pool, 0);
	}
	return ret;
}

/* Append record rec (read from side i's file) to b->msgs; its GUID
 * string is read by read_str(). */
static void rec_to_msgs(struct mf_box_sync *bs, int i,
                        const struct spill_rec *rec)
{
	struct mf_box_side *b = &bs->b[i];

	mf_array_push(&b->msgs, rec->m);
	b->msgs.items[b->msgs.count - 1].guid_str = 0;
	b->by_id_valid = false;
}

static int read_str(struct mf_box_sync *bs, struct mf_spill *sp, int i,
                    const struct spill_rec *rec)
{
	struct mf_box_side *b = &bs->b[i];
	struct mf_box_msg *m = &b->msgs.items[b->msgs.count - 1];
	size_t at = b->pool.len;
	char *buf;

	if (rec->m.guid_str == 0)
		return 0;
	buf = mf_malloc(rec->guid_len + 1);
	if (mf_pread_full(sp->str_fd, buf, rec->guid_len,
	                  (off_t)rec->m.guid_str - 1) < 0) {
		free(buf);
		return spill_fail(bs, "read");
	}
	buf[rec->guid_len] = '\0';
	mf_buf_append(&b->pool, buf, rec->guid_len + 1);
	free(buf);
	m->guid_str = (uint32_t)at + 1;
	return 0;
}

/* After plans were carried out: forget the partners fetched for them. */
static void trim_partners(struct mf_box_sync *bs, struct mf_spill *sp)
{
	for (int i = 0; i < 2; i++) {
		bs->b[i].msgs.count = sp->s[i].win;
		mf_buf_truncate(&bs->b[i].pool, sp->s[i].win_pool);
		bs->b[i].by_id_valid = false;
	}
}

static int flush_trim(struct mf_box_sync *bs, struct mf_spill *sp)
{
	int ret = mf_box_flush(bs, false);

	trim_partners(bs, sp);
	return ret;
}

/* Side i's next window: plans referring to the current ones are carried
 * out first. */
static int rd_load(struct mf_box_sync *bs, struct mf_spill *sp, int i)
{
	struct spill_side *ss = &sp->s[i];
	struct mf_box_side *b = &bs->b[i];
	size_t n = MF_MIN(bs->window, (size_t)(ss->count - ss->next));
	int ret = flush_trim(bs, sp);

	if (ret < 0 || bs->saves_aborted)
		return ret;
	b->msgs.count = 0;
	mf_buf_truncate(&b->pool, 0);
	ss->meta.count = 0;
	mf_array_reserve(&ss->meta, n);
	if (n > 0 && mf_pread_full(
	                 ss->fd, ss->meta.items, n * sizeof(struct spill_rec),
	                 (off_t)ss->next * (off_t)sizeof(struct spill_rec)) < 0)
		return spill_fail(bs, "read");
	ss->meta.count = n;
	/* room for the window and a window of partners: pointers into
	 * msgs stay valid while partners are added */
	mf_array_reserve(&b->msgs, 2 * bs->window + 1);
	for (size_t k = 0; k < n && ret == 0; k++) {
		rec_to_msgs(bs, i, &ss->meta.items[k]);
		ret = read_str(bs, sp, i, &ss->meta.items[k]);
	}
	ss->base = ss->next;
	ss->next += (uint32_t)n;
	ss->win = n;
	ss->win_pool = b->pool.len;
	ss->pos = 0;
	return ret;
}

/* Side i's next record in the pass (NULL at the end, or once saves were
 * given up); *meta_r its links. */
static int rd_peek(struct mf_box_sync *bs, struct mf_spill *sp, int i,
                   struct mf_box_msg **m_r, const struct spill_rec **meta_r)
{
	struct spill_side *ss = &sp->s[i];
	int ret;

	*m_r = NULL;
	*meta_r = NULL;
	while (ss->pos >= ss->win) {
		if (ss->next >= ss->count || bs->saves_aborted)
			return 0;
		ret = rd_load(bs, sp, i);
		if (ret < 0)
			return ret;
		if (bs->saves_aborted)
			return 0;
	}
	*m_r = &bs->b[i].msgs.items[ss->pos];
	*meta_r = &ss->meta.items[ss->pos];
	return 0;
}

/* Side i's record idx (a pair's partner) appended to its msgs. */
static int fetch_partner(struct mf_box_sync *bs, struct mf_spill *sp, int i,
                         uint32_t idx, struct mf_box_msg **m_r)
{
	struct spill_side *ss = &sp->s[i];
	struct mf_box_side *b = &bs->b[i];
	struct spill_rec rec;
	int ret;

	*m_r = NULL;
	if (idx >= ss->base && idx < ss->base + ss->win) {
		*m_r = &b->msgs.items[idx - ss->base];
		return 0;
	}
	if (b->msgs.count >= ss->win + bs->window) {
		ret = flush_trim(bs, sp);
		if (ret < 0 || bs->saves_aborted)
			return ret;
	}
	if (mf_pread_full(ss->fd, &rec, sizeof(rec),
	                  (off_t)idx * (off_t)sizeof(rec)) < 0)
		return spill_fail(bs, "read");
	rec_to_msgs(bs, i, &rec);
	ret = read_str(bs, sp, i, &rec);
	*m_r = &b->msgs.items[b->msgs.count - 1];
	return ret;
}

/* Whether side o's message at uid may keep it: the other side never
 * issued it. */
static bool usable(const struct mf_box_sync *bs, int o, uint32_t uid)
{
	return uid >= bs->b[1 - o].st.uidnext;
}

/* Plan x (side o) and its partner p (or NULL) at UID final on both. */
static void plan_unit(struct mf_box_sync *bs, int o, struct mf_box_msg *x,
                      struct mf_box_msg *p, uint32_t final)
{
	uint32_t flags = x->flags, kw = x->kw;
	uint64_t modseq = x->modseq;

	if (p != NULL) {
		const struct mf_box_msg *l = o == 0 ? x : p;
		const struct mf_box_msg *r = o == 0 ? p : x;
		mf_box_merge_flags(bs, l, r, &flags, &kw);
		modseq = MF_MAX(l->modseq, r->modseq);
	}
	mf_box_plan_instance(bs, o, final, x, o, x, flags, kw, modseq);
	mf_box_plan_instance(bs, 1 - o, final, p, o, x, flags, kw, modseq);
}

/* -------------------------------------------------------- 3. kept UIDs */

static int kept_one(struct mf_box_sync *bs, struct mf_spill *sp, int o,
                    struct mf_box_msg *x, const struct spill_rec *meta)
{
	struct mf_box_msg *p = NULL;
	int ret;

	if (meta->dropped || !usable(bs, o, x->uid))
		return 0;
	if (meta->link != 0) {
		if (meta->link_uid == x->uid)
			return 0; /* both have it here: see kept_pass */
		ret = fetch_partner(bs, sp, 1 - o, meta->link - 1, &p);
		if (ret < 0 || bs->saves_aborted)
			return ret;
	}
	plan_unit(bs, o, x, p, x->uid);
	return 0;
}

/* Index + 1 of side i's current record in its file. */
static uint32_t cur_idx1(const struct mf_spill *sp, int i)
{
	return sp->s[i].base + (uint32_t)sp->s[i].pos + 1;
}

static int kept_pass(struct mf_box_sync *bs, struct mf_spill *sp)
{
	struct mf_box_msg *l, *r;
	const struct spill_rec *ml, *mr;
	int ret;

	ret = rd_rewind(bs, sp);
	if (ret < 0 || bs->saves_aborted)
		return ret;
	for (;;) {
		ret = rd_peek(bs, sp, 0, &l, &ml);
		if (ret == 0)
			ret = rd_peek(bs, sp, 1, &r, &mr);
		if (ret < 0 || (l == NULL && r == NULL))
			return ret;
		if (l != NULL && r != NULL && l->uid == r->uid &&
		    ml->link == cur_idx1(sp, 1)) {
			/* the same message at the same UID on both sides */
			mf_box_set_common_flags(bs, l, r);
			sp->s[0].pos++;
			sp->s[1].pos++;
			continue;
		}
		int o = r == NULL || (l != NULL && l->uid < r->uid) ? 0 : 1;
		ret = kept_one(bs, sp, o, o == 0 ? l : r, o == 0 ? ml : mr);
		if (ret < 0)
			return ret;
		sp->s[o].pos++;
	}
}

/* --------------------------------------------------------- 4. new UIDs */

static int new_one(struct mf_box_sync *bs, struct mf_spill *sp, int o,
                   struct mf_box_msg *x, const struct spill_rec *meta)
{
	struct mf_box_msg *p = NULL;
	int ret;

	if (meta->dropped || usable(bs, o, x->uid))
		return 0;
	if (meta->link != 0) {
		/* decided in kept_pass, or with the partner that came
		 * first (the pair is one step at its earlier instance) */
		if (meta->link_uid == x->uid ||
		    usable(bs, 1 - o, meta->link_uid) ||
		    meta->link < cur_idx1(sp, 1 - o))
			return 0;
		ret = fetch_partner(bs, sp, 1 - o, meta->link - 1, &p);
		if (ret < 0 || bs->saves_aborted)
			return ret;
	}
	plan_unit(bs, o, x, p, bs->next_uid++);
	return 0;
}

/* dsync's order: GUID string (or hex id), then UID. */
static int cmp_emit(const struct mf_box_sync *bs, const struct mf_box_msg *l,
                    const struct mf_box_msg *r)
{
	char bl[MF_GUID128_HEX_LEN], br[MF_GUID128_HEX_LEN];
	int c = strcmp(mf_box_guid_str(&bs->b[0], l, bl),
	               mf_box_guid_str(&bs->b[1], r, br));

	if (c != 0)
		return c;
	return l->uid < r->uid ? -1 : (l->uid > r->uid ? 1 : 0);
}

/* The next record of side i a filter does not skip. */
static int peek_kept(struct mf_box_sync *bs, struct mf_spill *sp, int i,
                     struct mf_box_msg **m_r, const struct spill_rec **meta_r)
{
	int ret;

	while ((ret = rd_peek(bs, sp, i, m_r, meta_r)) == 0 && *m_r != NULL &&
	       (*meta_r)->dropped)
		sp->s[i].pos++;
	return ret;
}

static int new_pass(struct mf_box_sync *bs, struct mf_spill *sp)
{
	struct mf_box_msg *l, *r;
	const struct spill_rec *ml, *mr;
	int ret;

	ret = rd_rewind(bs, sp);
	if (ret < 0 || bs->saves_aborted)
		return ret;
	for (;;) {
		ret = peek_kept(bs, sp, 0, &l, &ml);
		if (ret == 0)
			ret = peek_kept(bs, sp, 1, &r, &mr);
		if (ret < 0 || (l == NULL && r == NULL))
			return ret;
		int c = l == NULL ? 1 : r == NULL ? -1 : cmp_emit(bs, l, r);
		/* consumed before deciding: a partner not consumed yet
		 * comes later */
		if (c <= 0)
			sp->s[0].pos++;
		if (c >= 0)
			sp->s[1].pos++;
		if (c <= 0)
			ret = new_one(bs, sp, 0, l, ml);
		if (ret == 0 && c >= 0)
			ret = new_one(bs, sp, 1, r, mr);
		if (ret < 0)
			return ret;
	}
}

/* ------------------------------------------------ backup by identity */

/* Backup, source side: every source message without a partner is saved
 * (unless a filter skips it), in source UID order as the in-memory
 * merge saves them, so that the destination gives the same UIDs. */
static int backup_src_pass(struct mf_box_sync *bs, struct mf_spill *sp)
{
	int si = bs->ctx->source;
	struct mf_box_msg *m;
	const struct spill_rec *meta;
	int ret;

	ret = rd_rewind(bs, sp);
	while (ret == 0 && !bs->saves_aborted) {
		ret = rd_peek(bs, sp, si, &m, &meta);
		if (ret < 0 || m == NULL)
			break;
		if (meta->link == 0)
			mf_box_backup_ids_save(bs, m);
		sp->s[si].pos++;
	}
	return ret;
}

/* Backup, destination side: a message paired with a source one takes its
 * flags and keywords (read from the partner's record: flag changes refer
 * to UIDs only, so the partner need not stay in memory), one without a
 * partner is expunged (which the state learns from the missing link). */
static int backup_dst_pass(struct mf_box_sync *bs, struct mf_spill *sp)
{
	int si = bs->ctx->source, di = 1 - si;
	struct mf_box_side *D = &bs->b[di];
	struct mf_box_msg *d;
	const struct spill_rec *meta;
	struct spill_rec src;
	int ret;

	ret = rd_rewind(bs, sp);
	while (ret == 0 && !bs->saves_aborted) {
		ret = rd_peek(bs, sp, di, &d, &meta);
		if (ret < 0 || d == NULL)
			break;
		if (meta->link != 0) {
			if (mf_pread_full(sp->s[si].fd, &src, sizeof(src),
			                  (off_t)(meta->link - 1) *
			                      (off_t)sizeof(src)) < 0)
				return spill_fail(bs, "read");
			if (src.m.flags != d->flags || src.m.kw != d->kw)
				mf_box_add_flag_op(D, d->uid, src.m.flags,
				                   src.m.kw, src.m.modseq);
		} else {
			mf_box_pend_add(D, d->uid, d->id);
		}
		sp->s[di].pos++;
	}
	return ret;
}

/* Both sides spilled and paired, then the mode's passes (saves first,
 * then flag changes and expunges, as the in-memory merges carry them
 * out); the cursors' windows go, so what was planned on them is made
 * before the files are read back. */
static int spill_run(struct mf_box_sync *bs, bool backup)
{
	struct mf_spill *sp;
	int ret;

	mf_box_spill_free(&bs->spill);
	ret = spill_new(bs, &bs->spill);
	sp = bs->spill;
	sp->backup = backup;
	if (backup) {
		bs->next_uid = 0; /* nothing to raise: UIDs are the store's */
	} else {
		bs->next_uid = MF_MAX(bs->b[0].st.uidnext, bs->b[1].st.uidnext);
		if (bs->next_uid == 0)
			bs->next_uid = 1;
	}
	if (ret == 0)
		ret = spill_walk(bs, sp);
	if (ret == 0)
		ret = mf_box_flush(bs, false);
	if (ret == 0 && !bs->saves_aborted)
		ret = spill_pair(bs, sp);
	if (ret == 0 && !bs->saves_aborted)
		ret = backup ? backup_src_pass(bs, sp) : kept_pass(bs, sp);
	if (ret == 0 && !bs->saves_aborted)
		ret = backup ? backup_dst_pass(bs, sp) : new_pass(bs, sp);
	if (ret == 0)
		ret = mf_box_flush(bs, true);
	trim_partners(bs, sp);
	for (int i = 0; i < 2; i++)
		bs->b[i].msgs.count = 0;
	return ret;
}

int mf_box_spill_backup(struct mf_box_sync *bs)
{
	return spill_run(bs, true);
}

/* --------------------------------------------------------------- main */

int mf_box_spill_merge(struct mf_box_sync *bs)
{
	return spill_run(bs, false);
}

/* ---------------------------------------------- by identity: the state */

void mf_box_spill_log_saves(struct mf_box_sync *bs)
{
	struct mf_spill *sp = bs->spill;

	if (sp == NULL || !bs->ids || bs->ctx->p->dry_run)
		return;
	for (int i = 0; i < 2; i++) {
		struct mf_box_side *b = &bs->b[i];
		struct spill_side *ss = &sp->s[i];

		for (size_t k = 0; k < b->saves.count && b->s->writable; k++) {
			const struct mf_save_op *op = &b->saves.items[k];
			struct spill_saved e;

			if (op->uid == 0)
				continue; /* not saved */
			e.uid = op->got_uid;
			memcpy(e.id,
			       bs->b[op->msg_side].msgs.items[op->msg_idx].id,
			       16);
			if (pwrite(ss->saved_fd, &e, sizeof(e),
			           (off_t)(ss->saved_count * sizeof(e))) !=
			    (ssize_t)sizeof(e)) {
				/* vouch for nothing above the last common
				 * UID then */
				ss->saved_count = UINT64_MAX;
				return;
			}
			ss->saved_count++;
		}
	}
}

/* Side i after the run, in UID order: its records, then its saves. */
struct after_rd {
	int i;
	uint64_t k; /* position over count records + saved entries */
	uint32_t last;
};

/* The next (uid, id) of side i after the run; false at the end. */
static bool after_next(struct mf_box_sync *bs, struct mf_spill *sp,
                       struct after_rd *a, uint32_t *cap, uint32_t *uid_r,
                       uint8_t id_r[16])
{
	struct spill_side *ss = &sp->s[a->i];
	struct mf_box_side *b = &bs->b[a->i];

	for (;;) {
		uint64_t k = a->k++;
		if (k < ss->count) {
			struct spill_rec rec;
			if (mf_pread_full(ss->fd, &rec, sizeof(rec),
			                  (off_t)(k * sizeof(rec))) < 0) {
				*cap = bs->lcu;
				return false;
			}
			if (sp->backup && a->i != bs->ctx->source &&
			    rec.link == 0 && b->s->writable)
				continue; /* a backup expunged it */
			*uid_r = rec.m.uid;
			memcpy(id_r, rec.m.id, 16);
		} else if (k - ss->count < ss->saved_count) {
			struct spill_saved e;
			if (mf_pread_full(
			        ss->saved_fd, &e, sizeof(e),
			        (off_t)((k - ss->count) * sizeof(e))) < 0) {
				*cap = bs->lcu;
				return false;
			}
			if (e.uid == 0 || e.uid <= a->last) {
				/* the store did not say, or not in order */
				*cap = MF_MIN(*cap, b->start_uidnext - 1);
				continue;
			}
			*uid_r = e.uid;
			memcpy(id_r, e.id, 16);
		} else {
			return false;
		}
		a->last = *uid_r;
		return true;
	}
}

uint32_t mf_box_spill_verified_lcu(struct mf_box_sync *bs)
{
	struct mf_spill *sp = bs->spill;
	struct after_rd rd[2] = {{.i = 0}, {.i = 1}};
	uint32_t cap = UINT32_MAX, u[2];
	uint8_t id[2][16];
	bool have[2];

	if (sp->s[0].saved_count == UINT64_MAX ||
	    sp->s[1].saved_count == UINT64_MAX)
		return bs->lcu;
	have[0] = after_next(bs, sp, &rd[0], &cap, &u[0], id[0]);
	have[1] = after_next(bs, sp, &rd[1], &cap, &u[1], id[1]);
	while (have[0] || have[1]) {
		if (have[0] && have[1] && u[0] == u[1] &&
		    memcmp(id[0], id[1], 16) == 0) {
			have[0] =
			    after_next(bs, sp, &rd[0], &cap, &u[0], id[0]);
			have[1] =
			    after_next(bs, sp, &rd[1], &cap, &u[1], id[1]);
			continue;
		}
		uint32_t bad = !have[0]   ? u[1]
		               : !have[1] ? u[0]
		                          : MF_MIN(u[0], u[1]);
		return MF_MIN(cap, bad - 1);
	}
	return cap;
}
