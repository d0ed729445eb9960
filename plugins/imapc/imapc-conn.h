/* SPDX-License-Identifier: MIT */
/*
 * imapc-conn.h - one IMAP connection: TCP (or a spawned command's stdio),
 * optional TLS (imaps or STARTTLS) with certificate and host name
 * verification, timeouts, an optional rate limit and the raw log. It moves
 * bytes and hands out parsed responses; it knows nothing about commands.
 */
#ifndef IMAPC_CONN_H
#define IMAPC_CONN_H

#include "mf-common.h"
#include "imapc-parser.h"

enum imapc_ssl_mode {
	IMAPC_SSL_NONE = 0,
	IMAPC_SSL_IMAPS,    /* TLS from the first byte */
	IMAPC_SSL_STARTTLS, /* plain, then STARTTLS (done by the client) */
};

struct imapc_conn_settings {
	const char *host; /* name or address; used for SNI and verification */
	unsigned int port;
	enum imapc_ssl_mode ssl;
	bool ssl_verify;     /* verify certificate chain and host name */
	const char *ca_file; /* NULL: the system's CA store */
	/* Instead of TCP, run this shell command and talk to its stdio (a
	 * test hook: "doveadm exec imap" gives a PREAUTH session). */
	const char *command;
	unsigned int connect_timeout_secs;
	unsigned int read_timeout_secs; /* no byte for this long: failure */
	uint64_t rate_limit;            /* bytes per second read, 0 = none */
	const char *rawlog_path;        /* NULL: no raw log */
};

struct imapc_conn;

/* Connect (and for IMAPS, do the TLS handshake). Strings in set are copied.
 * Returns 0, or -1 with *error_r allocated. */
int imapc_conn_open(const struct imapc_conn_settings *set,
                    struct imapc_conn **conn_r, char **error_r);
/* Start TLS on an open plain connection (after the server's OK to
 * STARTTLS). Any bytes already buffered from the server are a protocol
 * violation (possible injection) and fail the call. */
int imapc_conn_start_tls(struct imapc_conn *conn, char **error_r);
/* Send all of data. While waiting for the socket to take it, incoming
 * bytes are buffered so a pipelining server cannot deadlock us. log_text,
 * when not NULL, replaces data in the raw log (credentials masking). */
int imapc_conn_send(struct imapc_conn *conn, const void *data, size_t len,
                    const char *log_text, char **error_r);
/* Wait for and parse the next server response. The response belongs to
 * the caller (imapc_response_free). -1 with *error_r on disconnect, timeout
 * or malformed input (after which the connection is unusable). */
int imapc_conn_read_response(struct imapc_conn *conn,
                             struct imapc_response **resp_r, char **error_r);
/* True when the last failure left the connection unusable. */
bool imapc_conn_is_broken(const struct imapc_conn *conn);
/* Write a free-form note into the raw log (if any). */
void imapc_conn_rawlog_note(struct imapc_conn *conn, const char *note);
/* Describe the peer for messages: "host:port" or "command 'x'". */
const char *imapc_conn_peer(const struct imapc_conn *conn);
void imapc_conn_close(struct imapc_conn **conn);

#endif
