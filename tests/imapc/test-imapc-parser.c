/* SPDX-License-Identifier: MIT */
/*
 * test-imapc-parser.c - the IMAP response parser: every token kind,
 * incomplete input (byte by byte), and malformed input giving a clear
 * error that quotes the line.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "imapc-parser.h"

static struct imapc_response *parse_ok(const char *data, size_t len)
{
	struct imapc_response *resp = NULL;
	size_t consumed = 0;
	char *error = NULL;
	int ret = imapc_parse_response(data, len, 0, &resp, &consumed, &error);

	ck_assert_msg(ret == 1, "parse failed: %s",
	              error != NULL ? error : "incomplete");
	ck_assert_uint_eq(consumed, len);
	return resp;
}

static char *parse_error(const char *data)
{
	struct imapc_response *resp = NULL;
	size_t consumed = 0;
	char *error = NULL;
	int ret = imapc_parse_response(data, strlen(data), 0, &resp, &consumed,
	                               &error);

	ck_assert_int_eq(ret, -1);
	ck_assert_ptr_null(resp);
	ck_assert_ptr_nonnull(error);
	return error;
}

START_TEST(test_tagged)
{
	const char *s = "a1 OK [READ-WRITE] SELECT completed\r\n";
	struct imapc_response *r = parse_ok(s, strlen(s));

	ck_assert_int_eq(r->kind, IMAPC_RESP_TAGGED);
	ck_assert_str_eq(r->tag, "a1");
	ck_assert_int_eq(r->status, IMAPC_STATUS_OK);
	ck_assert_str_eq(r->code, "READ-WRITE");
	ck_assert_uint_eq(r->code_count, 0);
	ck_assert_str_eq(r->text, "SELECT completed");
	imapc_response_free(&r);
	ck_assert_ptr_null(r);
}
END_TEST

START_TEST(test_codes)
{
	const char *s = "m4 OK [APPENDUID 38505 3955] APPEND completed\r\n";
	struct imapc_response *r = parse_ok(s, strlen(s));
	uint32_t n;

	ck_assert_str_eq(r->code, "APPENDUID");
	ck_assert_uint_eq(r->code_count, 2);
	ck_assert_int_eq(imapc_arg_uint32(&r->code_args[0], &n), 0);
	ck_assert_uint_eq(n, 38505);
	ck_assert_int_eq(imapc_arg_uint32(&r->code_args[1], &n), 0);
	ck_assert_uint_eq(n, 3955);
	imapc_response_free(&r);

	s = "* OK [PERMANENTFLAGS (\\Answered \\Deleted \\*)] Flags\r\n";
	r = parse_ok(s, strlen(s));
	ck_assert_int_eq(r->kind, IMAPC_RESP_UNTAGGED);
	ck_assert_str_eq(r->code, "PERMANENTFLAGS");
	ck_assert_uint_eq(r->code_count, 1);
	ck_assert_int_eq(r->code_args[0].type, IMAPC_ARG_LIST);
	ck_assert_uint_eq(r->code_args[0].count, 3);
	ck_assert_str_eq(r->code_args[0].list[2].str, "\\*");
	imapc_response_free(&r);

	/* codes of interest for errors; lower case is upper-cased */
	s = "a NO [limit] Message too large\r\n";
	r = parse_ok(s, strlen(s));
	ck_assert_int_eq(r->status, IMAPC_STATUS_NO);
	ck_assert_str_eq(r->code, "LIMIT");
	imapc_response_free(&r);
	s = "* NO [ALERT] Over quota soon\r\n";
	r = parse_ok(s, strlen(s));
	ck_assert_str_eq(r->code, "ALERT");
	ck_assert_str_eq(r->text, "Over quota soon");
	imapc_response_free(&r);
	s = "a NO [OVERQUOTA] Quota exceeded\r\n";
	r = parse_ok(s, strlen(s));
	ck_assert_str_eq(r->code, "OVERQUOTA");
	imapc_response_free(&r);
	/* text may hold anything, even unbalanced brackets and quotes */
	s = "a BAD Error in IMAP command: (\"unbalanced [\r\n";
	r = parse_ok(s, strlen(s));
	ck_assert_int_eq(r->status, IMAPC_STATUS_BAD);
	ck_assert_str_eq(r->text, "Error in IMAP command: (\"unbalanced [");
	imapc_response_free(&r);
}
END_TEST

START_TEST(test_fetch_literal)
{
	const char s[] = "* 12 FETCH (UID 7 FLAGS (\\Seen $Junk) "
	                 "BODY[]<0> {10}\r\nab\r\n\0def\r\n MODSEQ (9))\r\n";
	struct imapc_response *r = parse_ok(s, sizeof(s) - 1);
	uint64_t n64;

	ck_assert_uint_eq(r->count, 3);
	ck_assert_str_eq(r->args[0].str, "12");
	ck_assert(imapc_arg_atom_eq(&r->args[1], "fetch"));
	const struct imapc_arg *l = &r->args[2];
	ck_assert_int_eq(l->type, IMAPC_ARG_LIST);
	ck_assert_uint_eq(l->count, 8);
	ck_assert_str_eq(l->list[3].list[1].str, "$Junk");
	ck_assert_str_eq(l->list[4].str, "BODY[]<0>");
	ck_assert_int_eq(l->list[5].type, IMAPC_ARG_LITERAL);
	ck_assert_uint_eq(l->list[5].len, 10);
	ck_assert_mem_eq(l->list[5].str, "ab\r\n\0def\r\n", 11);
	ck_assert_int_eq(imapc_arg_uint64(&l->list[7].list[0], &n64), 0);
	ck_assert_uint_eq(n64, 9);
	imapc_response_free(&r);
}
END_TEST

START_TEST(test_literal8_and_plus)
{
	const char *s = "* 1 FETCH (BINARY[] ~{3}\r\nx\x01y UID 1)\r\n";
	struct imapc_response *r = parse_ok(s, strlen(s));

	ck_assert_int_eq(r->args[2].list[1].type, IMAPC_ARG_LITERAL);
	ck_assert(r->args[2].list[1].literal8);
	ck_assert_mem_eq(r->args[2].list[1].str, "x\x01y", 3);
	imapc_response_free(&r);
	/* a server has no reason to send {n+}, but it is tolerated */
	s = "* LIST () \"/\" {3+}\r\nabc\r\n";
	r = parse_ok(s, strlen(s));
	ck_assert_str_eq(r->args[3].str, "abc");
	imapc_response_free(&r);
}
END_TEST

START_TEST(test_quoted_nil_nested)
{
	const char *s =
	    "* LIST (\\HasNoChildren) \"/\" \"a \\\"q\\\" \\\\b\"\r\n";
	struct imapc_response *r = parse_ok(s, strlen(s));

	ck_assert_int_eq(r->args[3].type, IMAPC_ARG_STRING);
	ck_assert_str_eq(r->args[3].str, "a \"q\" \\b");
	imapc_response_free(&r);

	s = "* NAMESPACE ((\"\" \"/\")) NIL ((\"Shared/\" \"/\" \"X\" "
	    "(\"a\" (nil \"b\"))))\r\n";
	r = parse_ok(s, strlen(s));
	ck_assert_uint_eq(r->count, 4);
	ck_assert_int_eq(r->args[2].type, IMAPC_ARG_NIL);
	ck_assert_ptr_null(imapc_arg_str(&r->args[2]));
	const struct imapc_arg *deep = &r->args[3].list[0].list[3].list[1];
	ck_assert_int_eq(deep->type, IMAPC_ARG_LIST);
	ck_assert_int_eq(deep->list[0].type, IMAPC_ARG_NIL);
	ck_assert_str_eq(deep->list[1].str, "b");
	imapc_response_free(&r);

	s = "* STATUS \"\" (MESSAGES 0)\r\n";
	r = parse_ok(s, strlen(s));
	ck_assert_str_eq(r->args[1].str, "");
	imapc_response_free(&r);
}
END_TEST

START_TEST(test_body_section_atom)
{
	const char *s = "* 3 FETCH (BODY[HEADER.FIELDS (DATE FROM)] {2}\r\n"
	                "\r\n UID 3)\r\n";
	struct imapc_response *r = parse_ok(s, strlen(s));

	ck_assert_str_eq(r->args[2].list[0].str,
	                 "BODY[HEADER.FIELDS (DATE FROM)]");
	ck_assert_uint_eq(r->args[2].list[1].len, 2);
	imapc_response_free(&r);
}
END_TEST

START_TEST(test_continuation_and_lf)
{
	const char *s = "+ Ready\r\n";
	struct imapc_response *r = parse_ok(s, strlen(s));

	ck_assert_int_eq(r->kind, IMAPC_RESP_CONTINUE);
	ck_assert_str_eq(r->text, "Ready");
	imapc_response_free(&r);
	s = "+\r\n";
	r = parse_ok(s, strlen(s));
	ck_assert_str_eq(r->text, "");
	imapc_response_free(&r);
	/* bare LF line ends are tolerated */
	s = "* 5 EXISTS\n";
	r = parse_ok(s, strlen(s));
	ck_assert_str_eq(r->args[1].str, "EXISTS");
	imapc_response_free(&r);
}
END_TEST

/* Every prefix of a valid response is "incomplete", never an error. */
START_TEST(test_incremental)
{
	const char s[] = "* 1 FETCH (UID 1 BODY[] {5}\r\nhello X-GUID "
	                 "\"ab\\\"c\")\r\na OK done\r\n";
	size_t first_len = strlen("* 1 FETCH (UID 1 BODY[] {5}\r\nhello "
	                          "X-GUID \"ab\\\"c\")\r\n");

	for (size_t len = 0; len < first_len; len++) {
		struct imapc_response *r = NULL;
		size_t consumed = 0, need = 0;
		char *error = NULL;
		int ret = imapc_parse_response_need(s, len, 0, &r, &consumed,
		                                    &need, &error);
		ck_assert_msg(ret == 0, "prefix %zu: ret %d (%s)", len, ret,
		              error != NULL ? error : "");
		ck_assert_uint_gt(need, len);
		ck_assert_uint_le(need, first_len);
	}
	struct imapc_response *r = NULL;
	size_t consumed = 0;
	char *error = NULL;
	ck_assert_int_eq(
	    imapc_parse_response(s, sizeof(s) - 1, 0, &r, &consumed, &error),
	    1);
	ck_assert_uint_eq(consumed, first_len);
	ck_assert_str_eq(r->args[2].list[5].str, "ab\"c");
	imapc_response_free(&r);
}
END_TEST

/* A literal size tells how far to read before trying again. */
START_TEST(test_need_literal)
{
	const char *s = "* 1 FETCH (BODY[] {100000}\r\nabc";
	struct imapc_response *r = NULL;
	size_t consumed = 0, need = 0;
	char *error = NULL;

	ck_assert_int_eq(imapc_parse_response_need(s, strlen(s), 0, &r,
	                                           &consumed, &need, &error),
	                 0);
	ck_assert_uint_eq(need, strlen(s) - 3 + 100000);
}
END_TEST

START_TEST(test_garbage)
{
	char *e;

	e = parse_error("* 1 FETCH (UID 1\r\n");
	ck_assert_msg(strstr(e, "list not closed") != NULL, "%s", e);
	ck_assert_msg(strstr(e, "'* 1 FETCH (UID 1'") != NULL, "%s", e);
	free(e);
	e = parse_error("* 1 FETCH (UID 1))\r\n");
	ck_assert_msg(strstr(e, "unexpected ')'") != NULL, "%s", e);
	free(e);
	e = parse_error("a1 MAYBE done\r\n");
	ck_assert_msg(strstr(e, "not OK, NO or BAD") != NULL, "%s", e);
	free(e);
	e = parse_error("* LIST () \"/\" \"unterminated\r\n");
	ck_assert_msg(strstr(e, "unterminated quoted") != NULL, "%s", e);
	free(e);
	e = parse_error("* 1 FETCH (BODY[] {abc}\r\n");
	ck_assert_msg(strstr(e, "literal without a size") != NULL, "%s", e);
	free(e);
	e = parse_error("* 1 FETCH (BODY[] {99999999999999}\r\n");
	ck_assert_msg(strstr(e, "literal size too long") != NULL, "%s", e);
	free(e);
	e = parse_error("* 1 FETCH (BODY[] {5}xx\r\n");
	ck_assert_msg(strstr(e, "CRLF") != NULL, "%s", e);
	free(e);
	e = parse_error("* OK\rX\r\n");
	ck_assert_msg(strstr(e, "CR not followed by LF") != NULL, "%s", e);
	free(e);
	e = parse_error("*\r\n");
	ck_assert_msg(strstr(e, "nothing after the tag") != NULL, "%s", e);
	free(e);
	e = parse_error("* FLAGS (a\x01)\r\n");
	ck_assert_msg(strstr(e, "control character") != NULL, "%s", e);
	ck_assert_msg(strstr(e, "\\x01") != NULL, "%s", e);
	free(e);
	e = parse_error("HTTP/1.1 400 Bad Request\r\n");
	ck_assert_msg(strstr(e, "HTTP/1.1 400") != NULL, "%s", e);
	free(e);
}
END_TEST

START_TEST(test_garbage_long_line_truncated)
{
	struct mf_buf buf = MF_BUF_INIT;

	mf_buf_append_str(&buf, "* 1 FETCH (");
	for (int i = 0; i < 500; i++)
		mf_buf_append_str(&buf, "x ");
	mf_buf_append_str(&buf, "\r\n");
	char *e = parse_error(buf.data);
	ck_assert_msg(strstr(e, "...'") != NULL, "%s", e);
	ck_assert_uint_lt(strlen(e), 300);
	free(e);
	mf_buf_free(&buf);
}
END_TEST

START_TEST(test_deep_nesting)
{
	struct mf_buf buf = MF_BUF_INIT;

	mf_buf_append_str(&buf, "* X ");
	for (int i = 0; i < 1000; i++)
		mf_buf_append_c(&buf, '(');
	for (int i = 0; i < 1000; i++)
		mf_buf_append_c(&buf, ')');
	mf_buf_append_str(&buf, "\r\n");
	char *e = parse_error(buf.data);
	ck_assert_msg(strstr(e, "nested too deeply") != NULL, "%s", e);
	free(e);
	mf_buf_free(&buf);
}
END_TEST

START_TEST(test_literal_limit)
{
	const char *s = "* 1 FETCH (BODY[] {2000}\r\n";
	struct imapc_response *r = NULL;
	size_t consumed;
	char *error = NULL;

	ck_assert_int_eq(
	    imapc_parse_response(s, strlen(s), 1000, &r, &consumed, &error),
	    -1);
	ck_assert_msg(strstr(error, "larger than the allowed") != NULL, "%s",
	              error);
	free(error);
}
END_TEST

/* imapc_crlf_to_lf() against a bytewise reference: random bodies (CR, LF,
 * CRLF dense or sparse, CRs at word boundaries), arriving in random pieces
 * and read into random buffer sizes, give the whole body with CRLF -> LF
 * and lone CRs kept. */
START_TEST(test_crlf_to_lf)
{
	static const char alphabet[] = "\r\n\r\nabcdefgh ";
	char src[600], want[600], got[700];
	unsigned int seed = 12345;

	for (int iter = 0; iter < 3000; iter++) {
		size_t len = (size_t)(rand_r(&seed) % 300);
		int density = rand_r(&seed) % 4;
		for (size_t i = 0; i < len; i++) {
			int r = rand_r(&seed);
			src[i] = density == 0 || r % (1 << density * 2) != 0
			             ? alphabet[4 + r % 9]
			             : alphabet[r % 4];
		}
		size_t wn = 0;
		for (size_t i = 0; i < len; i++) {
			if (src[i] == '\r' && i + 1 < len && src[i + 1] == '\n')
				continue;
			want[wn++] = src[i];
		}
		size_t pos = 0, end = 0, gn = 0;
		int stuck = 0;
		while (pos < len || end < len) {
			if (end < len && rand_r(&seed) % 2 == 0)
				end += 1 + (size_t)(rand_r(&seed) % 40);
			if (end > len)
				end = len;
			size_t room = 1 + (size_t)(rand_r(&seed) % 50);
			size_t before = pos;
			size_t n = imapc_crlf_to_lf(src, &pos, end, got + gn,
			                            room, end == len);
			ck_assert_uint_le(n, room);
			ck_assert_uint_le(pos, end);
			gn += n;
			ck_assert_uint_le(gn, wn);
			stuck = pos == before && end == len ? stuck + 1 : 0;
			ck_assert_int_lt(stuck, 2);
		}
		ck_assert_uint_eq(gn, wn);
		ck_assert_mem_eq(got, want, wn);
	}
}
END_TEST

START_TEST(test_numbers)
{
	struct imapc_arg a = {.type = IMAPC_ARG_ATOM};
	uint32_t n;
	uint64_t n64;

	a.str = "4294967295";
	a.len = strlen(a.str);
	ck_assert_int_eq(imapc_arg_uint32(&a, &n), 0);
	ck_assert_uint_eq(n, 4294967295u);
	a.str = "4294967296";
	a.len = strlen(a.str);
	ck_assert_int_eq(imapc_arg_uint32(&a, &n), -1);
	ck_assert_int_eq(imapc_arg_uint64(&a, &n64), 0);
	a.str = "18446744073709551616";
	a.len = strlen(a.str);
	ck_assert_int_eq(imapc_arg_uint64(&a, &n64), -1);
	a.str = "12a";
	a.len = 3;
	ck_assert_int_eq(imapc_arg_uint32(&a, &n), -1);
}
END_TEST

static Suite *parser_suite(void)
{
	Suite *s = suite_create("imapc-parser");
	TCase *tc = tcase_create("parser");

	tcase_add_test(tc, test_tagged);
	tcase_add_test(tc, test_codes);
	tcase_add_test(tc, test_fetch_literal);
	tcase_add_test(tc, test_literal8_and_plus);
	tcase_add_test(tc, test_quoted_nil_nested);
	tcase_add_test(tc, test_body_section_atom);
	tcase_add_test(tc, test_continuation_and_lf);
	tcase_add_test(tc, test_incremental);
	tcase_add_test(tc, test_need_literal);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_garbage_long_line_truncated);
	tcase_add_test(tc, test_deep_nesting);
	tcase_add_test(tc, test_literal_limit);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_crlf_to_lf);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(parser_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
