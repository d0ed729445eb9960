/* SPDX-License-Identifier: MIT */
/*
 * -v progress: on a terminal one live line ("mailbox 3/12 INBOX: 120/400
 * messages, 4.1 MB, 2.0 MB/s, ETA 0:05"), otherwise a log line every few
 * seconds so logs stay readable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-sync-private.h"

#define LOG_INTERVAL 5.0
#define TTY_INTERVAL 0.2

struct mf_progress {
	bool tty;
	unsigned int boxes_total, box_idx;
	char *box_name;
	uint64_t msgs_total, msgs_done;
	uint64_t bytes_total, bytes_done;
	double start, last_print;
};

static double now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

struct mf_progress *mf_progress_new(bool enabled, unsigned int boxes_total)
{
	struct mf_progress *pr;

	if (!enabled)
		return NULL;
	pr = mf_calloc(1, sizeof(*pr));
	pr->tty = isatty(STDERR_FILENO) != 0;
	pr->boxes_total = boxes_total;
	pr->start = now();
	return pr;
}

static void print(struct mf_progress *pr, bool force)
{
	double t = now(), el = t - pr->start;
	double rate = el > 0 ? (double)pr->bytes_done / el : 0;
	double mrate = el > 0 ? (double)pr->msgs_done / el : 0;
	uint64_t left =
	    pr->msgs_total > pr->msgs_done ? pr->msgs_total - pr->msgs_done : 0;
	uint64_t bleft = pr->bytes_total > pr->bytes_done
	                     ? pr->bytes_total - pr->bytes_done
	                     : 0;
	/* the longer of the estimates by bytes and by messages: the byte
	 * total grows window by window, the message total starts from an
	 * estimate */
	unsigned int eta_b =
	    rate > 0 ? (unsigned int)((double)bleft / rate) : 0;
	unsigned int eta_m =
	    mrate > 0 ? (unsigned int)((double)left / mrate) : 0;
	unsigned int eta = MF_MAX(eta_b, eta_m);

	if (!force &&
	    t - pr->last_print < (pr->tty ? TTY_INTERVAL : LOG_INTERVAL))
		return;
	pr->last_print = t;
	fprintf(stderr,
	        "%smailbox %u/%u %s: %llu/%llu messages, %.1f/%.1f MB, "
	        "%.1f MB/s, ETA %u:%02u%s",
	        pr->tty ? "\r\033[K" : "mailferry: progress: ", pr->box_idx,
	        pr->boxes_total, pr->box_name != NULL ? pr->box_name : "",
	        (unsigned long long)pr->msgs_done,
	        (unsigned long long)pr->msgs_total,
	        (double)pr->bytes_done / 1e6, (double)pr->bytes_total / 1e6,
	        rate / 1e6, eta / 60, eta % 60, pr->tty ? "" : "\n");
	fflush(stderr);
}

void mf_progress_box(struct mf_progress *pr, unsigned int idx, const char *name,
                     uint64_t msgs_total, uint64_t bytes_total)
{
	if (pr == NULL)
		return;
	pr->bytes_total += bytes_total;
	pr->box_idx = idx;
	free(pr->box_name);
	pr->box_name = mf_strdup(name);
	pr->msgs_total += msgs_total;
	print(pr, pr->tty);
}

void mf_progress_add(struct mf_progress *pr, int64_t msgs, uint64_t bytes)
{
	if (pr == NULL)
		return;
	if (msgs < 0 && (uint64_t)-msgs > pr->msgs_total)
		pr->msgs_total = 0;
	else
		pr->msgs_total = (uint64_t)((int64_t)pr->msgs_total + msgs);
	pr->bytes_total += bytes;
}

void mf_progress_msg(struct mf_progress *pr, uint64_t bytes)
{
	if (pr == NULL)
		return;
	pr->bytes_done += bytes;
	print(pr, false);
}

void mf_progress_msg_done(struct mf_progress *pr)
{
	if (pr == NULL)
		return;
	pr->msgs_done++;
	print(pr, false);
}

void mf_progress_free(struct mf_progress **prp)
{
	struct mf_progress *pr = *prp;

	if (pr == NULL)
		return;
	print(pr, true);
	if (pr->tty)
		fputc('\n', stderr);
	free(pr->box_name);
	free(pr);
	*prp = NULL;
}
