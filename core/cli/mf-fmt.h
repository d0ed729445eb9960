/* SPDX-License-Identifier: MIT */
/*
 * mf-fmt.h - output formatters, modeled on doveadm's -f option:
 *   flow   key=value pairs, one row per line (titles of HIDE_TITLE columns
 *          are left out: "INBOX messages=3 uidnext=4")
 *   pager  "key: value" lines, rows separated by a form feed line; values
 *          that are streamed print as "key:\n<bytes>"
 *   tab    a title line, then tab-separated rows
 *   table  aligned columns (widths from the first 100 rows)
 *   json   an array of objects with string values
 * A command declares its columns once, then emits values row by row, left
 * to right; a value may be streamed in chunks (message text) so nothing
 * has to be held in memory (except by table, which must measure).
 */
#ifndef MF_FMT_H
#define MF_FMT_H

#include <stdio.h>

#include "mf-common.h"

enum mf_fmt_kind {
	MF_FMT_FLOW,
	MF_FMT_PAGER,
	MF_FMT_TAB,
	MF_FMT_TABLE,
	MF_FMT_JSON,
};

enum mf_fmt_header_flags {
	/* flow and pager print the value without "title=" / "title: " */
	MF_FMT_HIDE_TITLE = 1u << 0,
};

struct mf_fmt;

/* "flow", "pager", "tab", "table", "json". Returns 0 or -1. */
int mf_fmt_kind_parse(const char *name, enum mf_fmt_kind *kind_r);

/* out is borrowed and must outlive the formatter. */
struct mf_fmt *mf_fmt_new(enum mf_fmt_kind kind, FILE *out);
/* Declare a column, before the first value. title is what is printed. */
void mf_fmt_header(struct mf_fmt *fmt, const char *title, uint32_t flags);
/* The next value of the current row. */
void mf_fmt_value(struct mf_fmt *fmt, const char *value);
/* Part of the next value; call with size 0 to end it. */
void mf_fmt_stream(struct mf_fmt *fmt, const void *data, size_t size);
/* Flush and free. Returns 0, or -1 when writing to out failed. */
int mf_fmt_finish(struct mf_fmt **fmt);

#endif
