/* SPDX-License-Identifier: MIT */
/*
 * test-imapc-client.c - the client's command pipelining against scripted
 * servers (imapc_command runs a shell script on the connection): several
 * commands in flight before any reply, replies matched by tag in any
 * order, untagged data and [ALERT] between them, LITERAL+ sent without a
 * round trip, a synchronizing literal waiting for "+", and a connection
 * that drops with commands in flight.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mailferry/driver.h>

#include "mf-alloc.h"
#include "imapc-client.h"

static char script_path[] = "/tmp/imapc-test-XXXXXX";
static struct mf_buf logged = MF_BUF_INIT;
static unsigned int exists_seen;

static void test_log(void *context, int level, const char *msg)
{
	(void)context;
	mf_buf_printf(&logged, "%d:%s\n", level, msg);
}

static void handler(struct imapc_client *client,
                    const struct imapc_response *resp, void *context)
{
	(void)client;
	(void)context;
	if (resp->count >= 2 && imapc_arg_atom_eq(&resp->args[1], "EXISTS"))
		exists_seen++;
}

static struct imapc_client *client_for(const char *script)
{
	struct imapc_client_settings set;
	int fd = mkstemp(script_path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, script, strlen(script)),
	                 (ssize_t)strlen(script));
	close(fd);
	memset(&set, 0, sizeof(set));
	set.conn.command = mf_strdup_printf("/bin/bash %s", script_path);
	set.conn.read_timeout_secs = 10;
	set.log = test_log;
	struct imapc_client *client = imapc_client_new(&set);
	free((char *)set.conn.command);
	imapc_client_set_handler(client, handler, NULL);
	return client;
}

static void client_done(struct imapc_client **client)
{
	imapc_client_free(client);
	unlink(script_path);
	mf_buf_free(&logged);
}

/* The server reads all three commands before answering anything: this
 * only completes if the client sent them without waiting. */
START_TEST(test_pipelined_out_of_order)
{
	struct imapc_client *client = client_for(
	    "printf '* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+] hi\\r\\n'\n"
	    "read -r a x; read -r b x; read -r c x\n"
	    "printf '%s OK third\\r\\n* 3 EXISTS\\r\\n' \"$c\"\n"
	    "printf '* NO [ALERT] disk almost full\\r\\n'\n"
	    "printf '%s NO [LIMIT] too big\\r\\n%s OK first\\r\\n' \"$b\" "
	    "\"$a\"\n"
	    "read -r l x; printf '* BYE bye\\r\\n%s OK bye\\r\\n' \"$l\"\n");
	struct imapc_cmd *c1, *c2, *c3;

	ck_assert_int_eq(imapc_client_connect(client), 0);
	c1 = imapc_cmd_send(client, "NOOP", NULL);
	c2 = imapc_cmd_send(client, "APPEND x", NULL);
	c3 = imapc_cmd_send(client, "CHECK", NULL);
	ck_assert_uint_eq(imapc_client_pending(client), 3);
	ck_assert_int_eq(imapc_cmd_wait(client, c1), 0);
	ck_assert(c2->done && c3->done);
	ck_assert_uint_eq(imapc_client_pending(client), 0);
	ck_assert_int_eq(c3->status, IMAPC_STATUS_OK);
	ck_assert_str_eq(c3->text, "third");
	ck_assert_int_eq(imapc_cmd_wait(client, c2), -1);
	ck_assert_str_eq(c2->code, "LIMIT");
	ck_assert_int_eq(imapc_cmd_error_code(c2), MAILFERRY_E_LIMIT);
	ck_assert_uint_eq(exists_seen, 1);
	ck_assert_uint_eq(imapc_client_selected(client)->exists, 3);
	ck_assert_msg(strstr(mf_buf_str(&logged), "alert: disk almost full") !=
	                  NULL,
	              "%s", mf_buf_str(&logged));
	imapc_cmd_free(client, &c1);
	imapc_cmd_free(client, &c2);
	imapc_cmd_free(client, &c3);
	client_done(&client);
}
END_TEST

/* With LITERAL+ the literal follows at once; the server answers only after
 * having read it. */
START_TEST(test_literal_plus)
{
	struct imapc_client *client = client_for(
	    "printf '* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+] hi\\r\\n'\n"
	    "read -r tag cmd box lit\n"
	    "[ \"${lit%$'\\r'}\" = '{5+}' ] || exit 1\n"
	    "read -r body; [ \"${body%$'\\r'}\" = hello ] || exit 1\n"
	    "printf '%s OK [APPENDUID 7 42] done\\r\\n' \"$tag\"\n"
	    "sleep 1\n");
	struct imapc_cmd_part parts[] = {
	    {"APPEND x ", 9, false, false, false, -1},
	    {"hello", 5, true, false, false, -1},
	};

	ck_assert_int_eq(imapc_client_connect(client), 0);
	struct imapc_cmd *cmd = imapc_cmd_send_parts(client, parts, 2);
	ck_assert_int_eq(imapc_cmd_wait(client, cmd), 0);
	ck_assert_uint_eq(cmd->append_uidvalidity, 7);
	ck_assert_uint_eq(cmd->append_uid, 42);
	imapc_cmd_free(client, &cmd);
	client_done(&client);
}
END_TEST

/* Without LITERAL+ the client waits for "+" before the literal; a server
 * refusing the literal ends the command without sending it. */
START_TEST(test_sync_literal)
{
	struct imapc_client *client = client_for(
	    "printf '* PREAUTH [CAPABILITY IMAP4rev1] hi\\r\\n'\n"
	    "read -r tag cmd box lit\n"
	    "[ \"${lit%$'\\r'}\" = '{5}' ] || exit 1\n"
	    "printf '+ go ahead\\r\\n'\n"
	    "read -r body; [ \"${body%$'\\r'}\" = hello ] || exit 1\n"
	    "printf '%s OK done\\r\\n' \"$tag\"\n"
	    "read -r tag cmd box lit\n"
	    "printf '%s NO [TOOBIG] no thanks\\r\\n' \"$tag\"\n"
	    "read -r tag rest; printf '%s OK noop\\r\\n' \"$tag\"\n"
	    "sleep 1\n");
	struct imapc_cmd_part parts[] = {
	    {"APPEND x ", 9, false, false, false, -1},
	    {"hello", 5, true, false, false, -1},
	};

	ck_assert_int_eq(imapc_client_connect(client), 0);
	struct imapc_cmd *cmd = imapc_cmd_send_parts(client, parts, 2);
	ck_assert_int_eq(imapc_cmd_wait(client, cmd), 0);
	imapc_cmd_free(client, &cmd);
	cmd = imapc_cmd_send_parts(client, parts, 2);
	ck_assert(cmd->done);
	ck_assert_int_eq(cmd->status, IMAPC_STATUS_NO);
	imapc_cmd_free(client, &cmd);
	/* the stream is still in sync: the next command works */
	ck_assert_int_eq(imapc_client_run(client, "NOOP", "NOOP"), 0);
	client_done(&client);
}
END_TEST

/* The connection drops with two commands in flight: both finish as
 * disconnected, the error is a temporary one naming the peer. */
START_TEST(test_disconnect)
{
	struct imapc_client *client =
	    client_for("printf '* PREAUTH [CAPABILITY IMAP4rev1] hi\\r\\n'\n"
	               "read -r a x; read -r b x\n"
	               "printf '%s OK one\\r\\n* 2 FETCH (UID' \"$a\"\n");
	struct imapc_cmd *c1, *c2;

	ck_assert_int_eq(imapc_client_connect(client), 0);
	c1 = imapc_cmd_send(client, "NOOP", NULL);
	c2 = imapc_cmd_send(client, "NOOP", NULL);
	ck_assert_int_eq(imapc_cmd_wait(client, c1), 0);
	ck_assert_int_eq(imapc_cmd_wait(client, c2), -1);
	ck_assert(c2->disconnected);
	ck_assert(!imapc_client_is_connected(client));
	ck_assert_int_eq(imapc_client_error_code(client), MAILFERRY_E_TEMP);
	ck_assert_msg(strstr(imapc_client_error(client), "closed the "
	                                                 "connection") != NULL,
	              "%s", imapc_client_error(client));
	imapc_cmd_free(client, &c1);
	imapc_cmd_free(client, &c2);
	client_done(&client);
}
END_TEST

/* Garbage in the middle of the stream: a clear error, not a crash. */
START_TEST(test_garbage_reply)
{
	struct imapc_client *client =
	    client_for("printf '* PREAUTH [CAPABILITY IMAP4rev1] hi\\r\\n'\n"
	               "read -r a x\n"
	               "printf '%s MAYBE fine\\r\\n' \"$a\"\nsleep 1\n");

	ck_assert_int_eq(imapc_client_connect(client), 0);
	ck_assert_int_eq(imapc_client_run(client, "NOOP", "NOOP"), -1);
	ck_assert_int_eq(imapc_client_error_code(client),
	                 MAILFERRY_E_INVALIDDATA);
	ck_assert_msg(strstr(imapc_client_error(client),
	                     "tagged response is not OK, NO or BAD") != NULL,
	              "%s", imapc_client_error(client));
	client_done(&client);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("imapc-client");
	TCase *tc = tcase_create("pipelining");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_pipelined_out_of_order);
	tcase_add_test(tc, test_literal_plus);
	tcase_add_test(tc, test_sync_literal);
	tcase_add_test(tc, test_disconnect);
	tcase_add_test(tc, test_garbage_reply);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
