/* SPDX-License-Identifier: MIT */
/*
 * fuzz-imap-parser.c - libFuzzer entry for the IMAP response parser and
 * modified UTF-7: the input is a server's byte stream, parsed response by
 * response as the connection does (including with a small literal limit);
 * every string found is run through mUTF-7 decoding, and what decodes must
 * encode back to the same bytes. Built as a fuzzer with --enable-fuzz, and
 * replayed over tests/imapc/fuzz-corpus/ in every build (fuzz-replay.c).
 */
#include <stdlib.h>

#include "mf-buf.h"
#include "imapc-parser.h"
#include "mf-utf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_utf7(const struct imapc_arg *arg)
{
	struct mf_buf utf8 = MF_BUF_INIT, back = MF_BUF_INIT;

	if (arg->len != strlen(arg->str))
		return; /* holds a NUL: not a mailbox name */
	if (mf_mutf7_to_utf8(arg->str, &utf8) == 0) {
		struct mf_buf again = MF_BUF_INIT;

		/* A server may send a valid but non-canonical name (two
		 * adjacent base64 runs, "&mAo-&mAo-"), which encodes back
		 * canonically ("&mAqYCg-"); what must hold is that the
		 * encoding decodes to the same name. */
		if (mf_utf8_to_mutf7(mf_buf_str(&utf8), &back) != 0 ||
		    mf_mutf7_to_utf8(mf_buf_str(&back), &again) != 0 ||
		    strcmp(mf_buf_str(&again), mf_buf_str(&utf8)) != 0)
			abort();
		mf_buf_free(&again);
	}
	mf_buf_free(&utf8);
	mf_buf_free(&back);
}

static void walk(const struct imapc_arg *args, size_t count, unsigned depth)
{
	uint64_t n;

	if (depth > 100)
		abort(); /* the parser must have refused this nesting */
	for (size_t i = 0; i < count; i++) {
		const struct imapc_arg *a = &args[i];
		switch (a->type) {
		case IMAPC_ARG_LIST:
			walk(a->list, a->count, depth + 1);
			break;
		case IMAPC_ARG_NIL:
			if (imapc_arg_str(a) != NULL)
				abort();
			break;
		default:
			if (a->str == NULL || a->str[a->len] != '\0')
				abort();
			(void)imapc_arg_uint64(a, &n);
			check_utf7(a);
			break;
		}
	}
}

static void parse_stream(const char *data, size_t size, size_t max_literal)
{
	size_t pos = 0;

	while (pos < size) {
		struct imapc_response *resp = NULL;
		size_t consumed = 0, need = 0;
		char *error = NULL;
		int ret = imapc_parse_response_need(data + pos, size - pos,
		                                    max_literal, &resp,
		                                    &consumed, &need, &error);
		if (ret < 0) {
			if (error == NULL || strstr(error, "malformed") == NULL)
				abort();
			free(error);
			return;
		}
		if (ret == 0) {
			if (need <= size - pos)
				abort(); /* must ask for more than it has */
			return;
		}
		if (consumed == 0 || consumed > size - pos || resp == NULL ||
		    resp->tag == NULL)
			abort();
		walk(resp->args, resp->count, 0);
		if (resp->code != NULL)
			walk(resp->code_args, resp->code_count, 0);
		imapc_response_free(&resp);
		pos += consumed;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_stream((const char *)data, size, 0);
	parse_stream((const char *)data, size, 64);
	return 0;
}
