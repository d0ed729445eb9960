/* SPDX-License-Identifier: MIT */
/*
 * imapc-client.h - an IMAP client session on top of imapc-conn: tags,
 * pipelined commands, capabilities, untagged-response bookkeeping, the
 * selected mailbox's state, login and reconnection.
 *
 * Commands are pipelined: imapc_cmd_send() returns at once with a command
 * handle, many may be in flight, and imapc_cmd_wait() reads responses until
 * that command's tagged reply has arrived (replies of other commands are
 * recorded on their handles as they pass by). Untagged responses update the
 * client's state and then go to the handler set with
 * imapc_client_set_handler().
 */
#ifndef IMAPC_CLIENT_H
#define IMAPC_CLIENT_H

#include "mf-array.h"
#include "mf-buf.h"
#include "imapc-conn.h"
#include "imapc-parser.h"

enum imapc_capability {
	IMAPC_CAP_LITERALPLUS = 1u << 0,
	IMAPC_CAP_LITERALMINUS = 1u << 1,
	IMAPC_CAP_UIDPLUS = 1u << 2,
	IMAPC_CAP_MULTIAPPEND = 1u << 3,
	IMAPC_CAP_CONDSTORE = 1u << 4,
	IMAPC_CAP_QRESYNC = 1u << 5,
	IMAPC_CAP_ENABLE = 1u << 6,
	IMAPC_CAP_LIST_EXTENDED = 1u << 7,
	IMAPC_CAP_LIST_STATUS = 1u << 8,
	IMAPC_CAP_SPECIAL_USE = 1u << 9,
	IMAPC_CAP_NAMESPACE = 1u << 10,
	IMAPC_CAP_ID = 1u << 11,
	IMAPC_CAP_X_GUID = 1u << 12, /* Dovecot's FETCH X-GUID */
	IMAPC_CAP_OBJECTID = 1u << 13,
	IMAPC_CAP_MOVE = 1u << 14,
	IMAPC_CAP_UTF8_ACCEPT = 1u << 15,
	IMAPC_CAP_STARTTLS = 1u << 16,
	IMAPC_CAP_LOGINDISABLED = 1u << 17,
	IMAPC_CAP_SASL_IR = 1u << 18,
	IMAPC_CAP_AUTH_PLAIN = 1u << 19,
	IMAPC_CAP_AUTH_XOAUTH2 = 1u << 20,
	IMAPC_CAP_AUTH_OAUTHBEARER = 1u << 21,
	IMAPC_CAP_IMAP4REV1 = 1u << 22,
	IMAPC_CAP_BINARY = 1u << 23,
	IMAPC_CAP_ESEARCH = 1u << 24,
	IMAPC_CAP_SAVEDATE = 1u << 25,
	IMAPC_CAP_UNSELECT = 1u << 26,
	IMAPC_CAP_CREATE_SPECIAL_USE = 1u << 27, /* RFC 6154 CREATE (USE) */
	IMAPC_CAP_IDLE = 1u << 28,
};

/* Parse one capability word; 0 when not one we use. */
uint32_t imapc_capability_from_word(const char *word);

enum imapc_auth_mech {
	IMAPC_AUTH_AUTO = 0, /* PLAIN when offered, else LOGIN */
	IMAPC_AUTH_LOGIN,
	IMAPC_AUTH_PLAIN,
	IMAPC_AUTH_XOAUTH2,
	IMAPC_AUTH_OAUTHBEARER,
};

struct imapc_client_settings {
	struct imapc_conn_settings conn;
	const char *user;
	const char *master_user;
	const char *password; /* or the OAuth2 token for XOAUTH2/... */
	enum imapc_auth_mech mech;
	/* Capabilities to ignore even when the server offers them (the
	 * imapc_features "no-..." words, for tests and broken servers). */
	uint32_t caps_disabled;
	/* Capabilities to assume (imapc_features = x-guid). */
	uint32_t force_caps;
	unsigned int retry_count;          /* reconnect attempts */
	unsigned int retry_interval_msecs; /* first back-off, doubles */
	/* Log hook (the driver forwards to api->log); level as
	 * mailferry_log_level. */
	void (*log)(void *context, int level, const char *msg);
	void *log_context;
};

struct imapc_cmd {
	char tag[16];
	bool done;
	enum imapc_status status;
	char *code; /* response code word of the tagged reply, or NULL */
	char *text;
	/* [APPENDUID uidvalidity uid] / [COPYUID ...] of the reply */
	uint32_t append_uidvalidity;
	uint32_t append_uid;
	/* the UID set of APPENDUID as sent ("7:9" for a MULTIAPPEND), or
	 * the destination set of COPYUID */
	char *append_uidset;
	/* the source UID set of COPYUID (UID COPY, UID MOVE) */
	char *copy_src_uidset;
	/* set by the sender right after sending a UID MOVE: the untagged
	 * "OK [COPYUID ...]" that RFC 6851 sends before the expunges is
	 * recorded on the oldest pending command with this set */
	bool wants_copyuid;
	/* set when the connection broke before the reply came */
	bool disconnected;
};

/* State of the selected mailbox, kept up to date from untagged data. */
struct imapc_selected {
	char *name; /* remote (mUTF-7) name, NULL when nothing selected */
	bool readonly;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t exists;
	uint64_t highestmodseq;
	bool nomodseq;
};

struct imapc_client;

typedef void imapc_untagged_handler(struct imapc_client *client,
                                    const struct imapc_response *resp,
                                    void *context);

struct imapc_client *imapc_client_new(const struct imapc_client_settings *set);
void imapc_client_free(struct imapc_client **client);

/* Connect, read the greeting, STARTTLS, log in, ENABLE what we use.
 * Returns 0 or -1 (imapc_client_error()). */
int imapc_client_connect(struct imapc_client *client);
/* True when connected and logged in. */
bool imapc_client_is_connected(const struct imapc_client *client);
/* Drop the connection and connect again with back-off, up to
 * retry_count times; the selected mailbox is selected again (failing with
 * a UIDVALIDITY change as an error). */
int imapc_client_reconnect(struct imapc_client *client);
/* True when ENABLE QRESYNC succeeded on this connection. */
bool imapc_client_qresync(const struct imapc_client *client);
/* True when ENABLE UTF8=ACCEPT succeeded: mailbox names are UTF-8 on the
 * wire (RFC 6855), not modified UTF-7, and quoted strings may hold
 * UTF-8. */
bool imapc_client_utf8(const struct imapc_client *client);
/* Monotonic milliseconds of the last command sent (0 before any): the
 * keepalive decides from it whether the connection sits idle. */
int64_t imapc_client_last_send_msecs(const struct imapc_client *client);
/* Monotonic clock in milliseconds. */
int64_t imapc_now_msecs(void);
/* Capabilities in effect (server's minus disabled). */
uint32_t imapc_client_caps(const struct imapc_client *client);
const char *imapc_client_error(const struct imapc_client *client);
/* The mailferry error code matching the last failure (TEMP for I/O). */
int imapc_client_error_code(const struct imapc_client *client);
void imapc_client_set_error(struct imapc_client *client, int code,
                            const char *fmt, ...) MF_PRINTF(3, 4);
const char *imapc_client_peer(const struct imapc_client *client);
const struct imapc_selected *
imapc_client_selected(const struct imapc_client *client);

void imapc_client_set_handler(struct imapc_client *client,
                              imapc_untagged_handler *handler, void *context);

/* Append an IMAP string for str to cmd: an atom-safe quoted string, or a
 * literal (LITERAL+ form when offered) if it holds CR, LF or 8-bit bytes
 * (8-bit bytes stay in a quoted string after ENABLE UTF8=ACCEPT, which
 * allows UTF-8 there). Synchronizing literals are not used here: without
 * LITERAL+ such strings are refused (-1). */
int imapc_append_astring(struct imapc_client *client, struct mf_buf *cmd,
                         const char *str);

/* Start a command: its tag is chosen and "tag " + line + CRLF is sent.
 * log_line, if not NULL, is what the raw log shows instead of line.
 * Returns NULL with the client's error set on failure. */
struct imapc_cmd *imapc_cmd_send(struct imapc_client *client, const char *line,
                                 const char *log_line);
/* The same for a command with literals: parts[0] + {len(parts[1])} +
 * parts[1] + parts[2] + ... alternate text and literal data; n parts.
 * Uses LITERAL+ when offered, else waits for each continuation. When
 * nonsync_ok is false, LITERAL+ is not used even if offered. */
struct imapc_cmd_part {
	const char *data;
	size_t len;
	bool literal;
	bool literal8;
	/* literal only: read the len bytes from fd (from offset 0) instead
	 * of data, in small pieces, so a spooled message is never held in
	 * memory whole */
	bool from_fd;
	int fd;
};
struct imapc_cmd *imapc_cmd_send_parts(struct imapc_client *client,
                                       const struct imapc_cmd_part *parts,
                                       size_t n);
/* Read until cmd has its tagged reply. Returns 0 for OK, -1 for NO/BAD or
 * a connection failure (client error set; cmd->disconnected tells). */
int imapc_cmd_wait(struct imapc_client *client, struct imapc_cmd *cmd);
/* Read and dispatch one response. 0 or -1. */
int imapc_client_read_one(struct imapc_client *client);
/* Number of commands sent and not answered yet. */
size_t imapc_client_pending(const struct imapc_client *client);

/* Release a (finished or abandoned) command. An abandoned command's reply
 * is still consumed later. */
void imapc_cmd_free(struct imapc_client *client, struct imapc_cmd **cmd);
/* Send line and wait: 0, or -1 with the client error naming what failed
 * ("what" describes the command for the message). */
int imapc_client_run(struct imapc_client *client, const char *line,
                     const char *what);
/* Map a failed command's reply to a mailferry error code. */
int imapc_cmd_error_code(const struct imapc_cmd *cmd);

/* SELECT (or EXAMINE) the mailbox whose remote name is name, with
 * CONDSTORE/QRESYNC when available. 0 or -1. */
int imapc_client_select(struct imapc_client *client, const char *name,
                        bool readonly);
/* Forget the selection (UNSELECT/CLOSE not needed: next select replaces
 * it). */
void imapc_client_unselect(struct imapc_client *client);

/* Wait until the server sends a continuation request ("+ ...") or cmd gets
 * its tagged reply. Returns 1 for a continuation (its text in *text_r,
 * allocated), 0 when cmd finished, -1 on connection failure. */
int imapc_cmd_wait_continue(struct imapc_client *client, struct imapc_cmd *cmd,
                            char **text_r);
/* Send raw bytes (a SASL response line); log_text masks them in the raw
 * log. 0 or -1. */
int imapc_client_send_raw(struct imapc_client *client, const char *data,
                          size_t len, const char *log_text);

/* Log in with the configured mechanism (imapc-auth.c). 0 or -1. */
int imapc_auth_login(struct imapc_client *client,
                     const struct imapc_client_settings *set);

/* Send a free-form note to the raw log. */
void imapc_client_rawlog(struct imapc_client *client, const char *note);

#endif
