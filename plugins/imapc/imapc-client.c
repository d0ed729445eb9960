/* SPDX-License-Identifier: MIT */
/*
 * imapc-client.c - IMAP session: commands, dispatch, selection, reconnect
 * (see imapc-client.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <mailferry/driver.h>

#include "mf-alloc.h"
#include "imapc-client.h"

struct imapc_cmd_priv {
	struct imapc_cmd pub;
	bool orphan; /* its owner let go; free when the reply comes */
};

struct imapc_client {
	struct imapc_client_settings set;
	struct imapc_conn *conn;
	bool logged_in;
	uint32_t caps;
	unsigned int caps_gen; /* bumped whenever caps are replaced */
	unsigned int tag_counter;
	MF_ARRAY(struct imapc_cmd_priv *) pending;
	imapc_untagged_handler *handler;
	void *handler_context;
	struct imapc_selected sel;
	bool qresync_enabled;
	bool utf8_enabled;
	bool preauth;
	int64_t last_send_msecs;
	/* the ID reply named Dovecot: FETCH/STATUS X-GUID work */
	bool server_is_dovecot;
	char *bye_text;
	/* a "+" continuation that arrived and was not consumed yet */
	bool cont_received;
	char *cont_text;
	char *error;
	int error_code;
};

static const struct {
	const char *word;
	uint32_t cap;
} cap_words[] = {
    {"LITERAL+", IMAPC_CAP_LITERALPLUS},
    {"LITERAL-", IMAPC_CAP_LITERALMINUS},
    {"UIDPLUS", IMAPC_CAP_UIDPLUS},
    {"MULTIAPPEND", IMAPC_CAP_MULTIAPPEND},
    {"CONDSTORE", IMAPC_CAP_CONDSTORE},
    {"QRESYNC", IMAPC_CAP_QRESYNC},
    {"ENABLE", IMAPC_CAP_ENABLE},
    {"LIST-EXTENDED", IMAPC_CAP_LIST_EXTENDED},
    {"LIST-STATUS", IMAPC_CAP_LIST_STATUS},
    {"SPECIAL-USE", IMAPC_CAP_SPECIAL_USE},
    {"NAMESPACE", IMAPC_CAP_NAMESPACE},
    {"ID", IMAPC_CAP_ID},
    {"XDOVECOT", 0},
    {"X-GUID", IMAPC_CAP_X_GUID},
    {"OBJECTID", IMAPC_CAP_OBJECTID},
    {"MOVE", IMAPC_CAP_MOVE},
    {"UTF8=ACCEPT", IMAPC_CAP_UTF8_ACCEPT},
    {"STARTTLS", IMAPC_CAP_STARTTLS},
    {"LOGINDISABLED", IMAPC_CAP_LOGINDISABLED},
    {"SASL-IR", IMAPC_CAP_SASL_IR},
    {"AUTH=PLAIN", IMAPC_CAP_AUTH_PLAIN},
    {"AUTH=XOAUTH2", IMAPC_CAP_AUTH_XOAUTH2},
    {"AUTH=OAUTHBEARER", IMAPC_CAP_AUTH_OAUTHBEARER},
    {"IMAP4REV1", IMAPC_CAP_IMAP4REV1},
    {"BINARY", IMAPC_CAP_BINARY},
    {"ESEARCH", IMAPC_CAP_ESEARCH},
    {"SAVEDATE", IMAPC_CAP_SAVEDATE},
    {"UNSELECT", IMAPC_CAP_UNSELECT},
    {"CREATE-SPECIAL-USE", IMAPC_CAP_CREATE_SPECIAL_USE},
    {"IDLE", IMAPC_CAP_IDLE},
};

uint32_t imapc_capability_from_word(const char *word)
{
	for (size_t i = 0; i < MF_N_ELEMENTS(cap_words); i++) {
		if (strcasecmp(word, cap_words[i].word) == 0)
			return cap_words[i].cap;
	}
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s == NULL ? NULL : mf_strdup(s);
}

int64_t imapc_now_msecs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cmd_strings_free(struct imapc_cmd *cmd)
{
	free(cmd->code);
	free(cmd->text);
	free(cmd->append_uidset);
	free(cmd->copy_src_uidset);
	cmd->code = cmd->text = cmd->append_uidset = NULL;
	cmd->copy_src_uidset = NULL;
}

/* [APPENDUID uidvalidity uidset] / [COPYUID uidvalidity src dst] */
static void cmd_take_uid_code(struct imapc_cmd *cmd,
                              const struct imapc_response *resp)
{
	uint32_t v, u;
	const struct imapc_arg *ua = &resp->code_args[resp->code_count - 1];

	if (resp->code_count < 2 ||
	    imapc_arg_uint32(&resp->code_args[0], &v) < 0)
		return;
	cmd->append_uidvalidity = v;
	if (imapc_arg_uint32(ua, &u) == 0)
		cmd->append_uid = u;
	if (imapc_arg_str(ua) != NULL) {
		free(cmd->append_uidset);
		cmd->append_uidset = mf_strdup(ua->str);
	}
	if (strcmp(resp->code, "COPYUID") == 0 && resp->code_count >= 3 &&
	    imapc_arg_str(&resp->code_args[1]) != NULL) {
		free(cmd->copy_src_uidset);
		cmd->copy_src_uidset = mf_strdup(resp->code_args[1].str);
	}
}

struct imapc_client *imapc_client_new(const struct imapc_client_settings *set)
{
	struct imapc_client *client = mf_calloc(1, sizeof(*client));

	client->set = *set;
	client->set.conn.host = dup_or_null(set->conn.host);
	client->set.conn.ca_file = dup_or_null(set->conn.ca_file);
	client->set.conn.command = dup_or_null(set->conn.command);
	client->set.conn.rawlog_path = dup_or_null(set->conn.rawlog_path);
	client->set.user = dup_or_null(set->user);
	client->set.master_user = dup_or_null(set->master_user);
	client->set.password = dup_or_null(set->password);
	return client;
}

static void client_log(struct imapc_client *client, int level, const char *fmt,
                       ...) MF_PRINTF(3, 4);
static void client_log(struct imapc_client *client, int level, const char *fmt,
                       ...)
{
	va_list args;
	struct mf_buf buf = MF_BUF_INIT;

	va_start(args, fmt);
	mf_buf_vprintf(&buf, fmt, args);
	va_end(args);
	if (client->set.log != NULL)
		client->set.log(client->set.log_context, level,
		                mf_buf_str(&buf));
	mf_buf_free(&buf);
}

void imapc_client_set_error(struct imapc_client *client, int code,
                            const char *fmt, ...)
{
	va_list args;
	struct mf_buf buf = MF_BUF_INIT;

	va_start(args, fmt);
	mf_buf_vprintf(&buf, fmt, args);
	va_end(args);
	free(client->error);
	client->error = mf_buf_detach(&buf);
	client->error_code = code;
}

const char *imapc_client_error(const struct imapc_client *client)
{
	return client->error != NULL ? client->error : "unknown error";
}

int imapc_client_error_code(const struct imapc_client *client)
{
	return client->error_code != 0 ? client->error_code : MAILFERRY_E_TEMP;
}

const char *imapc_client_peer(const struct imapc_client *client)
{
	if (client->set.conn.command != NULL)
		return client->set.conn.command;
	return client->set.conn.host;
}

uint32_t imapc_client_caps(const struct imapc_client *client)
{
	uint32_t caps = client->caps | client->set.force_caps;

	if (client->server_is_dovecot)
		caps |= IMAPC_CAP_X_GUID;
	return caps & ~client->set.caps_disabled;
}

const struct imapc_selected *
imapc_client_selected(const struct imapc_client *client)
{
	return &client->sel;
}

bool imapc_client_is_connected(const struct imapc_client *client)
{
	return client->conn != NULL && client->logged_in &&
	       !imapc_conn_is_broken(client->conn);
}

void imapc_client_set_handler(struct imapc_client *client,
                              imapc_untagged_handler *handler, void *context)
{
	client->handler = handler;
	client->handler_context = context;
}

void imapc_client_rawlog(struct imapc_client *client, const char *note)
{
	if (client->conn != NULL)
		imapc_conn_rawlog_note(client->conn, note);
}

size_t imapc_client_pending(const struct imapc_client *client)
{
	return client->pending.count;
}

static void set_caps_from_args(struct imapc_client *client,
                               const struct imapc_arg *args, size_t count)
{
	client->caps = 0;
	client->caps_gen++;
	for (size_t i = 0; i < count; i++) {
		if (imapc_arg_is_string(&args[i]))
			client->caps |= imapc_capability_from_word(args[i].str);
	}
}

/* The connection broke: every command in flight is finished as failed. */
static void client_disconnected(struct imapc_client *client)
{
	for (size_t i = 0; i < client->pending.count; i++) {
		struct imapc_cmd_priv *cmd = client->pending.items[i];
		cmd->pub.done = true;
		cmd->pub.disconnected = true;
		cmd->pub.status = IMAPC_STATUS_NONE;
		if (cmd->orphan) {
			cmd_strings_free(&cmd->pub);
			free(cmd);
		}
	}
	client->pending.count = 0;
	imapc_conn_close(&client->conn);
	client->logged_in = false;
	client->cont_received = false;
	mf_free(&client->cont_text);
}

static void handle_code(struct imapc_client *client,
                        const struct imapc_response *resp)
{
	struct imapc_selected *sel = &client->sel;
	uint64_t n64;
	uint32_t n;
	const char *code = resp->code;

	if (code == NULL)
		return;
	if (strcmp(code, "CAPABILITY") == 0) {
		set_caps_from_args(client, resp->code_args, resp->code_count);
	} else if (strcmp(code, "ALERT") == 0) {
		client_log(client, MAILFERRY_LOG_WARNING,
		           "imapc: server %s alert: %s",
		           imapc_client_peer(client), resp->text);
	} else if (strcmp(code, "UIDVALIDITY") == 0 && resp->code_count > 0 &&
	           imapc_arg_uint32(&resp->code_args[0], &n) == 0) {
		sel->uidvalidity = n;
	} else if (strcmp(code, "UIDNEXT") == 0 && resp->code_count > 0 &&
	           imapc_arg_uint32(&resp->code_args[0], &n) == 0) {
		sel->uidnext = n;
	} else if (strcmp(code, "HIGHESTMODSEQ") == 0 && resp->code_count > 0 &&
	           imapc_arg_uint64(&resp->code_args[0], &n64) == 0) {
		sel->highestmodseq = n64;
	} else if (strcmp(code, "NOMODSEQ") == 0) {
		sel->nomodseq = true;
	} else if (strcmp(code, "READ-ONLY") == 0) {
		sel->readonly = true;
	}
}

static void dispatch_tagged(struct imapc_client *client,
                            const struct imapc_response *resp)
{
	for (size_t i = 0; i < client->pending.count; i++) {
		struct imapc_cmd_priv *cmd = client->pending.items[i];
		if (strcmp(cmd->pub.tag, resp->tag) != 0)
			continue;
		memmove(&client->pending.items[i],
		        &client->pending.items[i + 1],
		        (client->pending.count - i - 1) *
		            sizeof(client->pending.items[0]));
		client->pending.count--;
		if (cmd->orphan) {
			free(cmd);
			return;
		}
		cmd->pub.done = true;
		cmd->pub.status = resp->status;
		cmd->pub.code = dup_or_null(resp->code);
		cmd->pub.text = mf_strdup(resp->text != NULL ? resp->text : "");
		if (resp->code != NULL &&
		    (strcmp(resp->code, "APPENDUID") == 0 ||
		     strcmp(resp->code, "COPYUID") == 0) &&
		    resp->code_count >= 2)
			cmd_take_uid_code(&cmd->pub, resp);
		return;
	}
	client_log(client, MAILFERRY_LOG_WARNING,
	           "imapc: %s sent a reply for unknown tag '%s' (ignored)",
	           imapc_client_peer(client), resp->tag);
}

static void dispatch_untagged(struct imapc_client *client,
                              const struct imapc_response *resp)
{
	struct imapc_selected *sel = &client->sel;

	if (resp->status != IMAPC_STATUS_NONE) {
		handle_code(client, resp);
		if (resp->status == IMAPC_STATUS_BYE) {
			free(client->bye_text);
			client->bye_text = mf_strdup(resp->text);
		}
		if (resp->status == IMAPC_STATUS_PREAUTH)
			client->preauth = true;
		if (resp->status == IMAPC_STATUS_OK && resp->code != NULL &&
		    strcmp(resp->code, "COPYUID") == 0 &&
		    resp->code_count >= 3) {
			/* UID MOVE's result comes untagged, before the
			 * tagged OK */
			for (size_t i = 0; i < client->pending.count; i++) {
				struct imapc_cmd *c =
				    &client->pending.items[i]->pub;
				if (c->wants_copyuid &&
				    c->copy_src_uidset == NULL) {
					cmd_take_uid_code(c, resp);
					break;
				}
			}
		}
		if (resp->status == IMAPC_STATUS_NO ||
		    resp->status == IMAPC_STATUS_BAD)
			client_log(client, MAILFERRY_LOG_DEBUG,
			           "imapc: %s: untagged %s: %s",
			           imapc_client_peer(client),
			           resp->status == IMAPC_STATUS_NO ? "NO"
			                                           : "BAD",
			           resp->text);
	} else if (imapc_arg_atom_eq(&resp->args[0], "CAPABILITY")) {
		set_caps_from_args(client, resp->args + 1, resp->count - 1);
	} else if (imapc_arg_atom_eq(&resp->args[0], "ID")) {
		const struct imapc_arg *l =
		    resp->count > 1 ? &resp->args[1] : NULL;
		for (size_t i = 0;
		     l != NULL && l->type == IMAPC_ARG_LIST && i + 1 < l->count;
		     i += 2) {
			const char *k = imapc_arg_str(&l->list[i]);
			const char *v = imapc_arg_str(&l->list[i + 1]);
			if (k != NULL && v != NULL &&
			    strcasecmp(k, "name") == 0 &&
			    strcasecmp(v, "Dovecot") == 0)
				client->server_is_dovecot = true;
		}
	} else if (imapc_arg_atom_eq(&resp->args[0], "ENABLED")) {
		for (size_t i = 1; i < resp->count; i++) {
			if (imapc_arg_atom_eq(&resp->args[i], "QRESYNC"))
				client->qresync_enabled = true;
			else if (imapc_arg_atom_eq(&resp->args[i],
			                           "UTF8=ACCEPT"))
				client->utf8_enabled = true;
		}
	} else if (resp->count >= 2 && resp->args[0].type == IMAPC_ARG_ATOM) {
		uint32_t n;
		if (imapc_arg_uint32(&resp->args[0], &n) == 0) {
			if (imapc_arg_atom_eq(&resp->args[1], "EXISTS"))
				sel->exists = n;
			else if (imapc_arg_atom_eq(&resp->args[1], "EXPUNGE") &&
			         sel->exists > 0)
				sel->exists--;
		}
	}
	if (client->handler != NULL && resp->status == IMAPC_STATUS_NONE)
		client->handler(client, resp, client->handler_context);
}

int imapc_client_read_one(struct imapc_client *client)
{
	struct imapc_response *resp;
	char *error;

	if (client->conn == NULL) {
		imapc_client_set_error(client, MAILFERRY_E_TEMP,
		                       "not connected to %s",
		                       imapc_client_peer(client));
		return -1;
	}
	if (imapc_conn_read_response(client->conn, &resp, &error) < 0) {
		int code = MAILFERRY_E_TEMP;
		if (strstr(error, "malformed IMAP response") != NULL)
			code = MAILFERRY_E_INVALIDDATA;
		if (client->bye_text != NULL)
			imapc_client_set_error(client, code, "%s (BYE: %s)",
			                       error, client->bye_text);
		else
			imapc_client_set_error(client, code, "%s", error);
		free(error);
		client_disconnected(client);
		return -1;
	}
	switch (resp->kind) {
	case IMAPC_RESP_CONTINUE:
		client->cont_received = true;
		free(client->cont_text);
		client->cont_text = mf_strdup(resp->text);
		break;
	case IMAPC_RESP_TAGGED:
		handle_code(client, resp);
		dispatch_tagged(client, resp);
		break;
	case IMAPC_RESP_UNTAGGED:
		dispatch_untagged(client, resp);
		break;
	}
	imapc_response_free(&resp);
	return 0;
}

int imapc_client_send_raw(struct imapc_client *client, const char *data,
                          size_t len, const char *log_text)
{
	char *error;

	if (client->conn == NULL) {
		imapc_client_set_error(client, MAILFERRY_E_TEMP,
		                       "not connected to %s",
		                       imapc_client_peer(client));
		return -1;
	}
	client->last_send_msecs = imapc_now_msecs();
	if (imapc_conn_send(client->conn, data, len, log_text, &error) < 0) {
		imapc_client_set_error(client, MAILFERRY_E_TEMP, "%s", error);
		free(error);
		client_disconnected(client);
		return -1;
	}
	return 0;
}

static struct imapc_cmd_priv *cmd_new(struct imapc_client *client)
{
	struct imapc_cmd_priv *cmd = mf_calloc(1, sizeof(*cmd));

	snprintf(cmd->pub.tag, sizeof(cmd->pub.tag), "m%u",
	         ++client->tag_counter);
	mf_array_push(&client->pending, cmd);
	return cmd;
}

struct imapc_cmd *imapc_cmd_send(struct imapc_client *client, const char *line,
                                 const char *log_line)
{
	struct mf_buf buf = MF_BUF_INIT, logbuf = MF_BUF_INIT;
	struct imapc_cmd_priv *cmd;

	if (client->conn == NULL) {
		imapc_client_set_error(client, MAILFERRY_E_TEMP,
		                       "not connected to %s",
		                       imapc_client_peer(client));
		return NULL;
	}
	cmd = cmd_new(client);
	mf_buf_printf(&buf, "%s %s\r\n", cmd->pub.tag, line);
	if (log_line != NULL)
		mf_buf_printf(&logbuf, "%s %s", cmd->pub.tag, log_line);
	int ret = imapc_client_send_raw(client, buf.data, buf.len,
	                                log_line != NULL ? logbuf.data : NULL);
	mf_buf_free(&buf);
	mf_buf_free(&logbuf);
	if (ret < 0) {
		/* client_disconnected() finished it; the caller still owns
		 * the handle */
		return &cmd->pub;
	}
	return &cmd->pub;
}

int imapc_cmd_wait_continue(struct imapc_client *client, struct imapc_cmd *cmd,
                            char **text_r)
{
	while (!client->cont_received && !cmd->done) {
		if (imapc_client_read_one(client) < 0)
			return -1;
	}
	if (client->cont_received) {
		client->cont_received = false;
		*text_r = client->cont_text;
		client->cont_text = NULL;
		return 1;
	}
	return 0;
}

/* Send len bytes of fd from offset 0 in pieces. */
static int send_fd(struct imapc_client *client, int fd, size_t len,
                   const char *note)
{
	char buf[65536];
	size_t off = 0;

	while (off < len) {
		size_t n = MF_MIN(sizeof(buf), len - off);
		ssize_t r = pread(fd, buf, n, (off_t)off);
		if (r <= 0) {
			imapc_client_set_error(
			    client, MAILFERRY_E_TEMP,
			    "reading a spooled message failed: pread(): %s",
			    r < 0 ? strerror(errno) : "unexpected EOF");
			/* the literal is half sent: the stream cannot be
			 * resynchronised, drop the connection */
			client_disconnected(client);
			return -1;
		}
		if (imapc_client_send_raw(client, buf, (size_t)r,
		                          off == 0 ? note : "") < 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

struct imapc_cmd *imapc_cmd_send_parts(struct imapc_client *client,
                                       const struct imapc_cmd_part *parts,
                                       size_t n)
{
	struct mf_buf buf = MF_BUF_INIT;
	struct imapc_cmd_priv *cmd;
	uint32_t caps = imapc_client_caps(client);

	if (client->conn == NULL) {
		imapc_client_set_error(client, MAILFERRY_E_TEMP,
		                       "not connected to %s",
		                       imapc_client_peer(client));
		return NULL;
	}
	cmd = cmd_new(client);
	mf_buf_printf(&buf, "%s ", cmd->pub.tag);
	for (size_t i = 0; i < n; i++) {
		if (!parts[i].literal) {
			mf_buf_append(&buf, parts[i].data, parts[i].len);
			continue;
		}
		bool nonsync = (caps & IMAPC_CAP_LITERALPLUS) != 0 ||
		               ((caps & IMAPC_CAP_LITERALMINUS) != 0 &&
		                parts[i].len <= 4096);
		mf_buf_printf(&buf, "%s{%zu%s}\r\n",
		              parts[i].literal8 ? "~" : "", parts[i].len,
		              nonsync ? "+" : "");
		if (imapc_client_send_raw(client, buf.data, buf.len, NULL) < 0)
			goto out;
		mf_buf_truncate(&buf, 0);
		if (!nonsync) {
			char *text = NULL;
			int ret =
			    imapc_cmd_wait_continue(client, &cmd->pub, &text);
			free(text);
			if (ret <= 0)
				goto out; /* refused or disconnected */
		}
		char note[64];
		snprintf(note, sizeof(note), "<literal of %zu bytes>",
		         parts[i].len);
		if (parts[i].from_fd) {
			if (send_fd(client, parts[i].fd, parts[i].len, note) <
			    0)
				goto out;
		} else if (imapc_client_send_raw(client, parts[i].data,
		                                 parts[i].len, note) < 0)
			goto out;
	}
	mf_buf_append_str(&buf, "\r\n");
	imapc_client_send_raw(client, buf.data, buf.len, NULL);
out:
	mf_buf_free(&buf);
	return &cmd->pub;
}

int imapc_cmd_wait(struct imapc_client *client, struct imapc_cmd *cmd)
{
	while (!cmd->done) {
		if (imapc_client_read_one(client) < 0)
			return -1;
	}
	if (cmd->disconnected)
		return -1;
	return cmd->status == IMAPC_STATUS_OK ? 0 : -1;
}

void imapc_cmd_free(struct imapc_client *client, struct imapc_cmd **_cmd)
{
	struct imapc_cmd *cmd = *_cmd;

	if (cmd == NULL)
		return;
	*_cmd = NULL;
	cmd_strings_free(cmd);
	if (!cmd->done) {
		/* still in flight: the reply will free it */
		((struct imapc_cmd_priv *)cmd)->orphan = true;
		return;
	}
	(void)client;
	free(cmd);
}

int imapc_cmd_error_code(const struct imapc_cmd *cmd)
{
	static const struct {
		const char *code;
		int error;
	} map[] = {
	    {"LIMIT", MAILFERRY_E_LIMIT},
	    {"OVERQUOTA", MAILFERRY_E_NOSPACE},
	    {"NONEXISTENT", MAILFERRY_E_NOTFOUND},
	    {"TRYCREATE", MAILFERRY_E_NOTFOUND},
	    {"ALREADYEXISTS", MAILFERRY_E_EXISTS},
	    {"NOPERM", MAILFERRY_E_PERM},
	    {"INUSE", MAILFERRY_E_INUSE},
	    {"EXPUNGEISSUED", MAILFERRY_E_EXPUNGED},
	    {"CANNOT", MAILFERRY_E_INVALID},
	    {"SERVERBUG", MAILFERRY_E_TEMP},
	    {"UNAVAILABLE", MAILFERRY_E_TEMP},
	    {"CONTACTADMIN", MAILFERRY_E_PERM},
	    {"AUTHENTICATIONFAILED", MAILFERRY_E_PERM},
	    {"AUTHORIZATIONFAILED", MAILFERRY_E_PERM},
	    {"USEATTR", MAILFERRY_E_NOTSUPP},
	};
	if (cmd->disconnected)
		return MAILFERRY_E_TEMP;
	if (cmd->code != NULL) {
		for (size_t i = 0; i < MF_N_ELEMENTS(map); i++) {
			if (strcmp(cmd->code, map[i].code) == 0)
				return map[i].error;
		}
	}
	if (cmd->status == IMAPC_STATUS_BAD)
		return MAILFERRY_E_INVALID;
	return MAILFERRY_E_TEMP;
}

int imapc_client_run(struct imapc_client *client, const char *line,
                     const char *what)
{
	struct imapc_cmd *cmd = imapc_cmd_send(client, line, NULL);

	if (cmd == NULL)
		return -1;
	int ret = imapc_cmd_wait(client, cmd);
	if (ret < 0 && !cmd->disconnected)
		imapc_client_set_error(
		    client, imapc_cmd_error_code(cmd),
		    "%s on %s failed: %s%s%s%s", what,
		    imapc_client_peer(client), cmd->code != NULL ? "[" : "",
		    cmd->code != NULL ? cmd->code : "",
		    cmd->code != NULL ? "] " : "", cmd->text);
	imapc_cmd_free(client, &cmd);
	return ret;
}

int imapc_append_astring(struct imapc_client *client, struct mf_buf *cmd,
                         const char *str)
{
	bool quotable = true;

	for (const unsigned char *p = (const unsigned char *)str; *p != '\0';
	     p++) {
		if (*p == '\r' || *p == '\n' ||
		    (*p >= 0x80 && !client->utf8_enabled))
			quotable = false;
	}
	if (quotable) {
		mf_buf_append_c(cmd, '"');
		for (const char *p = str; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				mf_buf_append_c(cmd, '\\');
			mf_buf_append_c(cmd, *p);
		}
		mf_buf_append_c(cmd, '"');
		return 0;
	}
	if ((imapc_client_caps(client) & IMAPC_CAP_LITERALPLUS) == 0)
		return -1;
	mf_buf_printf(cmd, "{%zu+}\r\n%s", strlen(str), str);
	return 0;
}

static int read_greeting(struct imapc_client *client)
{
	struct imapc_response *resp;
	char *error;

	if (imapc_conn_read_response(client->conn, &resp, &error) < 0) {
		imapc_client_set_error(client, MAILFERRY_E_TEMP,
		                       "reading the greeting failed: %s",
		                       error);
		free(error);
		return -1;
	}
	if (resp->kind != IMAPC_RESP_UNTAGGED ||
	    (resp->status != IMAPC_STATUS_OK &&
	     resp->status != IMAPC_STATUS_PREAUTH)) {
		imapc_client_set_error(
		    client, MAILFERRY_E_TEMP, "%s refused the connection: %s",
		    imapc_conn_peer(client->conn),
		    resp->text != NULL ? resp->text : "no greeting");
		imapc_response_free(&resp);
		return -1;
	}
	handle_code(client, resp);
	client->preauth = resp->status == IMAPC_STATUS_PREAUTH;
	imapc_response_free(&resp);
	return 0;
}

static int client_connect_once(struct imapc_client *client)
{
	char *error;

	client->caps = 0;
	client->preauth = false;
	client->qresync_enabled = false;
	client->utf8_enabled = false;
	client->server_is_dovecot = false;
	mf_free(&client->bye_text);
	if (imapc_conn_open(&client->set.conn, &client->conn, &error) < 0) {
		imapc_client_set_error(client, MAILFERRY_E_TEMP, "%s", error);
		free(error);
		return -1;
	}
	if (read_greeting(client) < 0)
		goto fail;
	if (client->caps == 0 &&
	    imapc_client_run(client, "CAPABILITY", "CAPABILITY") < 0)
		goto fail;
	if (client->set.conn.ssl == IMAPC_SSL_STARTTLS &&
	    client->set.conn.command == NULL) {
		if ((client->caps & IMAPC_CAP_STARTTLS) == 0) {
			imapc_client_set_error(
			    client, MAILFERRY_E_PERM,
			    "%s does not offer STARTTLS (imapc_ssl = "
			    "starttls)",
			    imapc_conn_peer(client->conn));
			goto fail;
		}
		if (imapc_client_run(client, "STARTTLS", "STARTTLS") < 0)
			goto fail;
		if (imapc_conn_start_tls(client->conn, &error) < 0) {
			imapc_client_set_error(client, MAILFERRY_E_PERM, "%s",
			                       error);
			free(error);
			goto fail;
		}
		/* capabilities before TLS are not to be trusted */
		client->caps = 0;
		if (imapc_client_run(client, "CAPABILITY", "CAPABILITY") < 0)
			goto fail;
	}
	if (!client->preauth) {
		/* the caps before login decide the mechanism; the server
		 * sends new ones with its OK, or we ask */
		unsigned int gen = client->caps_gen;
		if (imapc_auth_login(client, &client->set) < 0)
			goto fail;
		if (client->caps_gen == gen &&
		    imapc_client_run(client, "CAPABILITY", "CAPABILITY") < 0)
			goto fail;
	}
	uint32_t caps = imapc_client_caps(client);
	if ((caps & IMAPC_CAP_ID) != 0 &&
	    imapc_client_run(client, "ID (\"name\" \"mailferry\")", "ID") < 0)
		goto fail;
	caps = imapc_client_caps(client);
	if ((caps & IMAPC_CAP_ENABLE) != 0 &&
	    (caps & (IMAPC_CAP_QRESYNC | IMAPC_CAP_UTF8_ACCEPT)) != 0) {
		/* one ENABLE for both; the ENABLED reply says what took */
		char line[64];
		snprintf(line, sizeof(line), "ENABLE%s%s",
		         (caps & IMAPC_CAP_QRESYNC) != 0 ? " QRESYNC" : "",
		         (caps & IMAPC_CAP_UTF8_ACCEPT) != 0 ? " UTF8=ACCEPT"
		                                             : "");
		if (imapc_client_run(client, line, "ENABLE") < 0)
			goto fail;
	}
	client->logged_in = true;
	return 0;
fail:
	if (client->conn != NULL)
		client_disconnected(client);
	return -1;
}

int imapc_client_connect(struct imapc_client *client)
{
	if (imapc_client_is_connected(client))
		return 0;
	if (client->conn != NULL)
		client_disconnected(client);
	return client_connect_once(client);
}

bool imapc_client_qresync(const struct imapc_client *client)
{
	return client->qresync_enabled;
}

bool imapc_client_utf8(const struct imapc_client *client)
{
	return client->utf8_enabled;
}

int64_t imapc_client_last_send_msecs(const struct imapc_client *client)
{
	return client->last_send_msecs;
}

int imapc_client_select(struct imapc_client *client, const char *name,
                        bool readonly)
{
	struct mf_buf line = MF_BUF_INIT;
	struct imapc_selected *sel = &client->sel;
	uint32_t caps = imapc_client_caps(client);

	mf_free(&sel->name);
	memset(sel, 0, sizeof(*sel));
	mf_buf_append_str(&line, readonly ? "EXAMINE " : "SELECT ");
	if (imapc_append_astring(client, &line, name) < 0) {
		mf_buf_free(&line);
		imapc_client_set_error(client, MAILFERRY_E_INVALID,
		                       "mailbox name '%s' cannot be sent",
		                       name);
		return -1;
	}
	if ((caps & IMAPC_CAP_CONDSTORE) != 0 && !client->qresync_enabled)
		mf_buf_append_str(&line, " (CONDSTORE)");
	int ret = imapc_client_run(client, line.data,
	                           readonly ? "EXAMINE" : "SELECT");
	mf_buf_free(&line);
	if (ret < 0) {
		memset(sel, 0, sizeof(*sel));
		return -1;
	}
	sel->name = mf_strdup(name);
	if (readonly)
		sel->readonly = true;
	return 0;
}

void imapc_client_unselect(struct imapc_client *client)
{
	mf_free(&client->sel.name);
	memset(&client->sel, 0, sizeof(client->sel));
}

int imapc_client_reconnect(struct imapc_client *client)
{
	unsigned int tries = client->set.retry_count;
	unsigned int delay = client->set.retry_interval_msecs;
	char *selected = dup_or_null(client->sel.name);
	uint32_t uidvalidity = client->sel.uidvalidity;
	bool readonly = client->sel.readonly;
	int ret = -1;

	for (unsigned int i = 0; i < tries; i++) {
		if (client->conn != NULL)
			client_disconnected(client);
		client_log(
		    client, MAILFERRY_LOG_WARNING,
		    "imapc: %s; reconnecting in %u ms (attempt %u of %u)",
		    imapc_client_error(client), delay, i + 1, tries);
		struct timespec ts = {delay / 1000,
		                      (long)(delay % 1000) * 1000000};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		delay = delay * 2 > 30000 ? 30000 : delay * 2;
		if (client_connect_once(client) < 0)
			continue;
		if (selected == NULL) {
			ret = 0;
			break;
		}
		if (imapc_client_select(client, selected, readonly) < 0) {
			if (client->conn == NULL)
				continue;
			/* gone meanwhile (deleted, renamed): connected but
			 * nothing selected; what needs it fails with that */
			client_log(client, MAILFERRY_LOG_DEBUG,
			           "imapc: reselecting '%s' after reconnecting "
			           "failed: %s",
			           selected, imapc_client_error(client));
			imapc_client_unselect(client);
			ret = 0;
			break;
		}
		if (client->sel.uidvalidity != uidvalidity) {
			imapc_client_set_error(
			    client, MAILFERRY_E_TEMP,
			    "UIDVALIDITY of mailbox '%s' changed from %u "
			    "to %u while reconnecting",
			    selected, uidvalidity, client->sel.uidvalidity);
			break;
		}
		ret = 0;
		break;
	}
	free(selected);
	return ret;
}

void imapc_client_free(struct imapc_client **_client)
{
	struct imapc_client *client = *_client;

	if (client == NULL)
		return;
	*_client = NULL;
	if (client->conn != NULL && !imapc_conn_is_broken(client->conn) &&
	    client->logged_in) {
		/* polite goodbye; failures do not matter any more */
		struct imapc_cmd *cmd = imapc_cmd_send(client, "LOGOUT", NULL);
		if (cmd != NULL)
			(void)imapc_cmd_wait(client, cmd);
		imapc_cmd_free(client, &cmd);
	}
	if (client->conn != NULL)
		client_disconnected(client);
	mf_array_free(&client->pending);
	free((char *)client->set.conn.host);
	free((char *)client->set.conn.ca_file);
	free((char *)client->set.conn.command);
	free((char *)client->set.conn.rawlog_path);
	free((char *)client->set.user);
	free((char *)client->set.master_user);
	if (client->set.password != NULL) {
		/* do not leave the secret in freed memory */
		char *pw = (char *)client->set.password;
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	free(client->sel.name);
	free(client->bye_text);
	free(client->cont_text);
	free(client->error);
	free(client);
}
