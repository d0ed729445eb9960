/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-array.h"
#include "mf-buf.h"
#include "mf-fmt.h"

/* table measures this many rows before printing anything */
#define TABLE_BUFFER_ROWS 100

struct mf_fmt_col {
	char *title;
	uint32_t flags;
	size_t width; /* table: characters */
};

struct mf_fmt {
	enum mf_fmt_kind kind;
	FILE *out;
	MF_ARRAY(struct mf_fmt_col) cols;
	size_t col; /* index of the next value in the row */
	size_t rows;
	bool streaming;
	/* tab: title line written; table: widths fixed and titles out */
	bool started;
	/* table: values buffered until widths are known; also collects a
	 * streamed value */
	MF_ARRAY(char *) pending;
	struct mf_buf stream_buf;
};

int mf_fmt_kind_parse(const char *name, enum mf_fmt_kind *kind_r)
{
	static const struct {
		const char *name;
		enum mf_fmt_kind kind;
	} kinds[] = {
	    {"flow", MF_FMT_FLOW}, {"pager", MF_FMT_PAGER},
	    {"tab", MF_FMT_TAB},   {"table", MF_FMT_TABLE},
	    {"json", MF_FMT_JSON},
	};

	for (size_t i = 0; i < MF_N_ELEMENTS(kinds); i++) {
		if (strcmp(name, kinds[i].name) == 0) {
			*kind_r = kinds[i].kind;
			return 0;
		}
	}
	return -1;
}

struct mf_fmt *mf_fmt_new(enum mf_fmt_kind kind, FILE *out)
{
	struct mf_fmt *fmt = mf_calloc(1, sizeof(*fmt));

	fmt->kind = kind;
	fmt->out = out;
	return fmt;
}

void mf_fmt_header(struct mf_fmt *fmt, const char *title, uint32_t flags)
{
	struct mf_fmt_col *col = mf_array_append_zero(&fmt->cols);

	col->title = mf_strdup(title);
	col->flags = flags;
}

static size_t utf8_width(const char *str)
{
	size_t n = 0;

	for (; *str != '\0'; str++) {
		if (((unsigned char)*str & 0xc0) != 0x80)
			n++;
	}
	return n;
}

static void json_escape(FILE *out, const char *data, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		unsigned char c = (unsigned char)data[i];

		switch (c) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (c < 0x20)
				fprintf(out, "\\u%04x", c);
			else
				fputc(c, out);
		}
	}
}

static void pad(FILE *out, size_t n)
{
	while (n-- > 0)
		fputc(' ', out);
}

static void table_print_value(struct mf_fmt *fmt, size_t idx, const char *value)
{
	size_t w = utf8_width(value);
	bool last = idx + 1 == fmt->cols.count;

	fputs(value, fmt->out);
	if (!last)
		pad(fmt->out, fmt->cols.items[idx].width > w
		                  ? fmt->cols.items[idx].width - w + 1
		                  : 1);
	else
		fputc('\n', fmt->out);
}

/* Fix the column widths from what was buffered and print it all. */
static void table_flush(struct mf_fmt *fmt)
{
	size_t ncols = fmt->cols.count;

	if (fmt->started || ncols == 0)
		return;
	fmt->started = true;
	for (size_t c = 0; c < ncols; c++)
		fmt->cols.items[c].width = utf8_width(fmt->cols.items[c].title);
	for (size_t i = 0; i < fmt->pending.count; i++) {
		struct mf_fmt_col *col = &fmt->cols.items[i % ncols];
		size_t w = utf8_width(fmt->pending.items[i]);

		if (w > col->width)
			col->width = w;
	}
	for (size_t c = 0; c < ncols; c++)
		table_print_value(fmt, c, fmt->cols.items[c].title);
	for (size_t i = 0; i < fmt->pending.count; i++) {
		table_print_value(fmt, i % ncols, fmt->pending.items[i]);
		free(fmt->pending.items[i]);
	}
	fmt->pending.count = 0;
}

static void tab_titles(struct mf_fmt *fmt)
{
	if (fmt->started)
		return;
	fmt->started = true;
	for (size_t c = 0; c < fmt->cols.count; c++)
		fprintf(fmt->out, "%s%s", c > 0 ? "\t" : "",
		        fmt->cols.items[c].title);
	fputc('\n', fmt->out);
}

/* Print what goes before a value of the current column. */
static void value_begin(struct mf_fmt *fmt, bool streamed)
{
	const struct mf_fmt_col *col = &fmt->cols.items[fmt->col];
	bool hide = (col->flags & MF_FMT_HIDE_TITLE) != 0;

	switch (fmt->kind) {
	case MF_FMT_FLOW:
		if (!hide)
			fprintf(fmt->out, "%s=", col->title);
		break;
	case MF_FMT_PAGER:
		if (fmt->col == 0 && fmt->rows > 0)
			fputs("\f\n", fmt->out);
		if (!hide)
			fprintf(fmt->out,
			        streamed ? "%s:\n" : "%s: ", col->title);
		break;
	case MF_FMT_TAB:
		tab_titles(fmt);
		if (fmt->col > 0)
			fputc('\t', fmt->out);
		break;
	case MF_FMT_JSON:
		if (fmt->col == 0)
			fputs(fmt->rows == 0 ? "[{" : ",{", fmt->out);
		else
			fputc(',', fmt->out);
		fputc('"', fmt->out);
		json_escape(fmt->out, col->title, strlen(col->title));
		fputs("\":\"", fmt->out);
		break;
	case MF_FMT_TABLE:
		break;
	}
}

/* Print what follows a value and move to the next column. */
static void value_end(struct mf_fmt *fmt)
{
	bool last = fmt->col + 1 == fmt->cols.count;

	switch (fmt->kind) {
	case MF_FMT_FLOW:
		fputc(last ? '\n' : ' ', fmt->out);
		break;
	case MF_FMT_PAGER:
	case MF_FMT_TAB:
		if (fmt->kind == MF_FMT_PAGER || last)
			fputc('\n', fmt->out);
		break;
	case MF_FMT_JSON:
		fputc('"', fmt->out);
		if (last)
			fputc('}', fmt->out);
		break;
	case MF_FMT_TABLE:
		break;
	}
	if (last) {
		fmt->col = 0;
		fmt->rows++;
	} else {
		fmt->col++;
	}
}

void mf_fmt_value(struct mf_fmt *fmt, const char *value)
{
	if (value == NULL)
		value = "";
	if (fmt->kind == MF_FMT_TABLE) {
		if (!fmt->started) {
			mf_array_push(&fmt->pending, mf_strdup(value));
			if (fmt->col + 1 == fmt->cols.count &&
			    fmt->rows + 1 >= TABLE_BUFFER_ROWS)
				table_flush(fmt);
		} else {
			table_print_value(fmt, fmt->col, value);
		}
		value_end(fmt);
		return;
	}
	value_begin(fmt, false);
	if (fmt->kind == MF_FMT_JSON)
		json_escape(fmt->out, value, strlen(value));
	else
		fputs(value, fmt->out);
	value_end(fmt);
}

void mf_fmt_stream(struct mf_fmt *fmt, const void *data, size_t size)
{
	if (fmt->kind == MF_FMT_TABLE) {
		/* table has to measure the value: collect it */
		if (size > 0) {
			mf_buf_append(&fmt->stream_buf, data, size);
			return;
		}
		mf_fmt_value(fmt, mf_buf_str(&fmt->stream_buf));
		mf_buf_truncate(&fmt->stream_buf, 0);
		return;
	}
	if (!fmt->streaming) {
		fmt->streaming = true;
		value_begin(fmt, true);
	}
	if (size > 0) {
		if (fmt->kind == MF_FMT_JSON)
			json_escape(fmt->out, data, size);
		else
			fwrite(data, 1, size, fmt->out);
		return;
	}
	fmt->streaming = false;
	if (fmt->kind == MF_FMT_PAGER) {
		/* the streamed bytes brought their own line ends */
		if (fmt->col + 1 == fmt->cols.count) {
			fmt->col = 0;
			fmt->rows++;
		} else {
			fmt->col++;
		}
		return;
	}
	value_end(fmt);
}

int mf_fmt_finish(struct mf_fmt **_fmt)
{
	struct mf_fmt *fmt = *_fmt;
	int ret;

	if (fmt == NULL)
		return 0;
	if (fmt->kind == MF_FMT_TABLE)
		table_flush(fmt);
	else if (fmt->kind == MF_FMT_TAB)
		tab_titles(fmt);
	if (fmt->col != 0 && fmt->kind != MF_FMT_JSON)
		fputc('\n', fmt->out); /* an unfinished row */
	if (fmt->kind == MF_FMT_JSON)
		fputs(fmt->rows == 0 ? "[]\n" : "]\n", fmt->out);
	ret = fflush(fmt->out) != 0 || ferror(fmt->out) ? -1 : 0;
	for (size_t i = 0; i < fmt->cols.count; i++)
		free(fmt->cols.items[i].title);
	mf_array_free(&fmt->cols);
	for (size_t i = 0; i < fmt->pending.count; i++)
		free(fmt->pending.items[i]);
	mf_array_free(&fmt->pending);
	mf_buf_free(&fmt->stream_buf);
	free(fmt);
	*_fmt = NULL;
	return ret;
}
