/* SPDX-License-Identifier: MIT */
/*
 * imapc-auth.c - logging in: LOGIN, AUTHENTICATE PLAIN (with SASL-IR and
 * master-user authorization), XOAUTH2 and OAUTHBEARER.
 *
 * Secrets only ever reach the socket: the raw log gets "<hidden>" in their
 * place, and the buffers that held them are wiped before being freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include <openssl/evp.h>

#include <mailferry/driver.h>

#include "mf-alloc.h"
#include "imapc-client.h"

static void wipe_buf(struct mf_buf *buf)
{
	if (buf->data != NULL)
		explicit_bzero(buf->data, buf->cap);
	mf_buf_free(buf);
}

static void base64_encode(const unsigned char *data, size_t len,
                          struct mf_buf *out)
{
	size_t enc_len = 4 * ((len + 2) / 3);

	mf_buf_reserve(out, enc_len);
	EVP_EncodeBlock((unsigned char *)out->data + out->len, data, (int)len);
	out->len += enc_len;
	out->data[out->len] = '\0';
}

/* Build the SASL initial response for mech (raw, before base64). */
static void sasl_response(const struct imapc_client_settings *set,
                          enum imapc_auth_mech mech, struct mf_buf *out)
{
	const char *user = set->user != NULL ? set->user : "";
	const char *secret = set->password != NULL ? set->password : "";

	switch (mech) {
	case IMAPC_AUTH_PLAIN:
		/* authzid NUL authcid NUL password: with a master user the
		 * master logs in and acts as user */
		if (set->master_user != NULL) {
			mf_buf_append(out, user, strlen(user));
			mf_buf_append_c(out, '\0');
			mf_buf_append_str(out, set->master_user);
		} else {
			mf_buf_append_c(out, '\0');
			mf_buf_append_str(out, user);
		}
		mf_buf_append_c(out, '\0');
		mf_buf_append_str(out, secret);
		break;
	case IMAPC_AUTH_XOAUTH2:
		mf_buf_printf(out, "user=%s\001auth=Bearer %s\001\001", user,
		              secret);
		break;
	case IMAPC_AUTH_OAUTHBEARER:
		mf_buf_printf(out,
		              "n,a=%s,\001host=%s\001port=%u\001auth=Bearer "
		              "%s\001\001",
		              user,
		              set->conn.host != NULL ? set->conn.host : "",
		              set->conn.port, secret);
		break;
	default:
		break;
	}
}

static const char *mech_name(enum imapc_auth_mech mech)
{
	switch (mech) {
	case IMAPC_AUTH_PLAIN:
		return "PLAIN";
	case IMAPC_AUTH_XOAUTH2:
		return "XOAUTH2";
	case IMAPC_AUTH_OAUTHBEARER:
		return "OAUTHBEARER";
	default:
		return "LOGIN";
	}
}

static int auth_failed(struct imapc_client *client, struct imapc_cmd *cmd,
                       const char *user, const char *mech)
{
	if (!cmd->disconnected)
		imapc_client_set_error(
		    client, MAILFERRY_E_PERM,
		    "login to %s as '%s' with %s failed: %s%s%s%s",
		    imapc_client_peer(client), user, mech,
		    cmd->code != NULL ? "[" : "",
		    cmd->code != NULL ? cmd->code : "",
		    cmd->code != NULL ? "] " : "", cmd->text);
	return -1;
}

static int auth_login(struct imapc_client *client,
                      const struct imapc_client_settings *set)
{
	struct mf_buf line = MF_BUF_INIT, logline = MF_BUF_INIT;
	struct imapc_cmd *cmd;
	int ret;

	mf_buf_append_str(&line, "LOGIN ");
	if (imapc_append_astring(client, &line,
	                         set->user != NULL ? set->user : "") < 0)
		goto bad;
	mf_buf_append(&logline, line.data, line.len);
	mf_buf_append_str(&logline, " <hidden>");
	mf_buf_append_c(&line, ' ');
	if (imapc_append_astring(
	        client, &line, set->password != NULL ? set->password : "") < 0)
		goto bad;
	cmd = imapc_cmd_send(client, line.data, logline.data);
	wipe_buf(&line);
	mf_buf_free(&logline);
	if (cmd == NULL)
		return -1;
	ret = imapc_cmd_wait(client, cmd);
	if (ret < 0)
		auth_failed(client, cmd, set->user, "LOGIN");
	imapc_cmd_free(client, &cmd);
	return ret;
bad:
	wipe_buf(&line);
	mf_buf_free(&logline);
	imapc_client_set_error(client, MAILFERRY_E_INVALID,
	                       "user name or password for %s has characters "
	                       "LOGIN cannot send",
	                       imapc_client_peer(client));
	return -1;
}

static int auth_sasl(struct imapc_client *client,
                     const struct imapc_client_settings *set,
                     enum imapc_auth_mech mech)
{
	struct mf_buf raw = MF_BUF_INIT, b64 = MF_BUF_INIT;
	struct mf_buf line = MF_BUF_INIT, logline = MF_BUF_INIT;
	bool sasl_ir = (imapc_client_caps(client) & IMAPC_CAP_SASL_IR) != 0;
	struct imapc_cmd *cmd;
	int ret;

	sasl_response(set, mech, &raw);
	base64_encode((const unsigned char *)raw.data, raw.len, &b64);
	wipe_buf(&raw);
	mf_buf_printf(&line, "AUTHENTICATE %s", mech_name(mech));
	mf_buf_printf(&logline, "AUTHENTICATE %s", mech_name(mech));
	if (sasl_ir) {
		mf_buf_printf(&line, " %s", b64.data);
		mf_buf_append_str(&logline, " <hidden>");
	}
	cmd = imapc_cmd_send(client, line.data, logline.data);
	wipe_buf(&line);
	mf_buf_free(&logline);
	if (cmd == NULL) {
		wipe_buf(&b64);
		return -1;
	}
	bool sent = sasl_ir;
	for (;;) {
		char *text = NULL;
		ret = imapc_cmd_wait_continue(client, cmd, &text);
		free(text);
		if (ret <= 0)
			break;
		if (!sent) {
			mf_buf_append_str(&b64, "\r\n");
			ret = imapc_client_send_raw(client, b64.data, b64.len,
			                            "<hidden>");
			sent = true;
		} else {
			/* an error challenge (XOAUTH2 sends JSON): answer
			 * empty so the server finishes with NO */
			ret = imapc_client_send_raw(client, "\r\n", 2, NULL);
		}
		if (ret < 0)
			break;
	}
	wipe_buf(&b64);
	ret = imapc_cmd_wait(client, cmd);
	if (ret < 0)
		auth_failed(client, cmd, set->user, mech_name(mech));
	imapc_cmd_free(client, &cmd);
	return ret;
}

int imapc_auth_login(struct imapc_client *client,
                     const struct imapc_client_settings *set)
{
	uint32_t caps = imapc_client_caps(client);
	enum imapc_auth_mech mech = set->mech;

	if (set->user == NULL) {
		imapc_client_set_error(client, MAILFERRY_E_INVALID,
		                       "no user name to log in to %s with "
		                       "(imapc_user)",
		                       imapc_client_peer(client));
		return -1;
	}
	if (set->password == NULL) {
		imapc_client_set_error(
		    client, MAILFERRY_E_INVALID,
		    "no password or token to log in to %s with "
		    "(imapc_password, imapc_password_file, "
		    "MAILFERRY_IMAPC_PASSWORD or imapc_oauth2_token_*)",
		    imapc_client_peer(client));
		return -1;
	}
	if (mech == IMAPC_AUTH_AUTO) {
		if (set->master_user != NULL ||
		    (caps & IMAPC_CAP_AUTH_PLAIN) != 0)
			mech = IMAPC_AUTH_PLAIN;
		else
			mech = IMAPC_AUTH_LOGIN;
	}
	if (mech == IMAPC_AUTH_LOGIN) {
		if ((caps & IMAPC_CAP_LOGINDISABLED) != 0) {
			imapc_client_set_error(
			    client, MAILFERRY_E_PERM,
			    "%s disables LOGIN and offers no AUTH=PLAIN "
			    "(use imapc_ssl = imaps or starttls)",
			    imapc_client_peer(client));
			return -1;
		}
		return auth_login(client, set);
	}
	return auth_sasl(client, set, mech);
}
