/* SPDX-License-Identifier: MIT */
/*
 * Per-bit flag merge (dsync reference §3.7). Explicit changes recorded since
 * the last sync win over unexplained differences; when both sides changed
 * the same bit in opposite ways, or a difference has no recorded cause, the
 * preferred side (higher modseq, master on a tie) decides.
 */
#include "mf-sync-private.h"

uint32_t mf_sync_merge_flags(const struct mf_flag_merge_in *in)
{
	uint32_t conflict = (in->local_add & in->remote_remove) |
	                    (in->local_remove & in->remote_add);
	uint32_t ladd = in->local_add, lrm = in->local_remove;
	uint32_t radd = in->remote_add, rrm = in->remote_remove;
	uint32_t add, rm, want_l, want_r, agree, result;

	if (in->prefer_local) {
		radd &= ~conflict;
		rrm &= ~conflict;
	} else {
		ladd &= ~conflict;
		lrm &= ~conflict;
	}
	add = ladd | radd;
	rm = lrm | rrm;
	/* a bit both added and removed by the same side after cancelling
	 * cannot happen from one log; the removal then wins */
	add &= ~rm;

	want_l = (in->local_final | add) & ~rm;
	want_r = (in->remote_final | add) & ~rm;
	agree = ~(in->local_final ^ in->remote_final);

	result = want_l & want_r;
	/* bits still disputed: the preferred side's final value */
	uint32_t disputed = want_l ^ want_r;
	result |=
	    disputed & (in->prefer_local ? in->local_final : in->remote_final);
	/* finals that already agree stay as they are */
	result = (result & ~agree) | (in->local_final & agree);
	return result;
}
