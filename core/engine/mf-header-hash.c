/* SPDX-License-Identifier: MIT */
#include "mf-header-hash.h"

#include <openssl/evp.h>
#include <strings.h>

#include "mf-alloc.h"
#include "mf-digest.h"
#include "mf-hex.h"

/* Header lines longer than this are hashed only up to here; such lines do
 * not occur in Date or Message-ID of real mail, and it bounds memory. */
#define MAX_LINE (64 * 1024)

struct mf_header_hash {
	char **names;
	unsigned int version;
	struct mf_buf line;     /* current physical line, without LF */
	struct mf_buf selected; /* selected fields, LF endings */
	bool in_selected;       /* current field is one we hash */
	bool done;
};

static const char *const default_names[] = {"Date", "Message-ID", NULL};

struct mf_header_hash *mf_header_hash_new(const char *const *names,
                                          unsigned int version)
{
	struct mf_header_hash *hh = mf_calloc(1, sizeof(*hh));
	size_t n = 0;

	if (names == NULL)
		names = default_names;
	while (names[n] != NULL)
		n++;
	hh->names = mf_calloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		hh->names[i] = mf_strdup(names[i]);
	hh->version = version;
	return hh;
}

static bool name_selected(const struct mf_header_hash *hh, const char *line,
                          size_t len)
{
	const char *colon = memchr(line, ':', len);
	size_t nlen;

	if (colon == NULL)
		return false;
	nlen = (size_t)(colon - line);
	/* "Name :" is accepted as Name by mail parsers */
	while (nlen > 0 && (line[nlen - 1] == ' ' || line[nlen - 1] == '\t'))
		nlen--;
	for (size_t i = 0; hh->names[i] != NULL; i++) {
		if (strlen(hh->names[i]) == nlen &&
		    strncasecmp(hh->names[i], line, nlen) == 0)
			return true;
	}
	return false;
}

/* One complete physical header line (CR already removed). */
static void header_line(struct mf_header_hash *hh)
{
	const char *line = hh->line.data == NULL ? "" : hh->line.data;
	size_t len = hh->line.len;

	if (len == 0) {
		hh->done = true;
		return;
	}
	if (line[0] == ' ' || line[0] == '\t') {
		/* continuation of the previous field */
	} else {
		hh->in_selected = name_selected(hh, line, len);
	}
	if (hh->in_selected) {
		mf_buf_append(&hh->selected, line, len);
		mf_buf_append_c(&hh->selected, '\n');
	}
}

bool mf_header_hash_feed(struct mf_header_hash *hh, const void *data,
                         size_t size)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < size && !hh->done; i++) {
		if (p[i] == '\n') {
			if (hh->line.len > 0 &&
			    hh->line.data[hh->line.len - 1] == '\r')
				mf_buf_truncate(&hh->line, hh->line.len - 1);
			header_line(hh);
			mf_buf_truncate(&hh->line, 0);
		} else if (hh->line.len < MAX_LINE) {
			mf_buf_append_c(&hh->line, (char)p[i]);
		}
	}
	return hh->done;
}

void mf_header_hash_normalize(unsigned int version, const uint8_t *data,
                              size_t size, bool *prev_q, struct mf_buf *out)
{
	if (version <= 1) {
		mf_buf_append(out, data, size);
		return;
	}
	for (size_t i = 0; i < size; i++) {
		uint8_t c = data[i];
		bool is_q = false;

		if (c == ' ' && version >= 3) {
			/* dropped */
		} else if (c == '\t' && version >= 4) {
			/* dropped */
		} else if (c == '\n' || c == ' ' || c == '\t') {
			mf_buf_append_c(out, (char)c);
		} else if (c < 0x20 || c >= 0x7f || c == '?') {
			if (!*prev_q)
				mf_buf_append_c(out, '?');
			is_q = true;
		} else {
			mf_buf_append_c(out, (char)c);
		}
		*prev_q = is_q;
	}
}

void mf_header_hash_finish(struct mf_header_hash *hh, char hex_r[33],
                           uint8_t raw_r[16])
{
	struct mf_buf norm = MF_BUF_INIT;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	bool prev_q = false;

	if (!hh->done && hh->line.len > 0) {
		/* message ended inside the header without a final LF */
		if (hh->line.data[hh->line.len - 1] == '\r')
			mf_buf_truncate(&hh->line, hh->line.len - 1);
		header_line(hh);
	}
	hh->done = true;
	mf_buf_append_c(&hh->selected, '\n');
	mf_header_hash_normalize(hh->version,
	                         (const uint8_t *)hh->selected.data,
	                         hh->selected.len, &prev_q, &norm);
	mdlen = mf_digest(MF_DIGEST_MD5, norm.data, norm.len, md);
	if (mdlen < 16)
		memset(md, 0, 16); /* (OpenSSL without MD5) */
	mf_hex_encode(md, 16, hex_r);
	if (raw_r != NULL)
		memcpy(raw_r, md, 16);
	mf_buf_free(&norm);
}

void mf_header_hash_free(struct mf_header_hash **hhp)
{
	struct mf_header_hash *hh = *hhp;

	if (hh == NULL)
		return;
	for (size_t i = 0; hh->names[i] != NULL; i++)
		free(hh->names[i]);
	free(hh->names);
	mf_buf_free(&hh->line);
	mf_buf_free(&hh->selected);
	free(hh);
	*hhp = NULL;
}
