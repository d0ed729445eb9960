/* SPDX-License-Identifier: MIT */
/*
 * imapc-conn.c - sockets, TLS and the raw log (see imapc-conn.h).
 *
 * The socket is non-blocking; every wait goes through poll() with the
 * configured timeout, so a dead server can never hang the run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "imapc-conn.h"

#define IMAPC_READ_CHUNK (256 * 1024)

struct imapc_conn {
	char *host;
	unsigned int port;
	bool ssl_verify;
	char *ca_file;
	char *peer;
	unsigned int read_timeout_secs;
	uint64_t rate_limit;
	size_t read_chunk; /* bytes asked for per read() */

	int fd;
	pid_t child; /* command mode */
	SSL_CTX *ssl_ctx;
	SSL *ssl;

	struct mf_buf in; /* received, not yet parsed: in.data[in_pos..] */
	size_t in_pos;
	size_t in_need; /* don't parse again before this many bytes */
	bool broken;

	/* rate limit bookkeeping */
	struct timespec rate_start;
	uint64_t rate_bytes;

	FILE *rawlog;
};

static char *errno_error(const char *what, const struct imapc_conn *conn)
{
	return mf_strdup_printf("%s %s failed: %s", what, conn->peer,
	                        strerror(errno));
}

static void ssl_error_text(struct mf_buf *out)
{
	unsigned long e;
	char buf[256];
	bool first = true;

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		mf_buf_printf(out, "%s%s", first ? "" : ", ", buf);
		first = false;
	}
	if (first)
		mf_buf_append_str(out, "unknown TLS error");
}

static int64_t now_msecs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rawlog_write(struct imapc_conn *conn, const char *dir,
                         const char *data, size_t len)
{
	if (conn->rawlog == NULL)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	/* one record per chunk; lines of a chunk stay together */
	fprintf(conn->rawlog, "%lld.%06ld %s ", (long long)ts.tv_sec,
	        ts.tv_nsec / 1000, dir);
	fwrite(data, 1, len, conn->rawlog);
	if (len == 0 || data[len - 1] != '\n')
		fputc('\n', conn->rawlog);
	fflush(conn->rawlog);
}

void imapc_conn_rawlog_note(struct imapc_conn *conn, const char *note)
{
	rawlog_write(conn, "*", note, strlen(note));
}

const char *imapc_conn_peer(const struct imapc_conn *conn)
{
	return conn->peer;
}

bool imapc_conn_is_broken(const struct imapc_conn *conn)
{
	return conn->broken;
}

/* Wait for events on the socket; -1 with errno = ETIMEDOUT on timeout. */
static int wait_fd(struct imapc_conn *conn, short events, int timeout_ms,
                   short *revents_r)
{
	struct pollfd pfd = {.fd = conn->fd, .events = events};
	int64_t deadline = now_msecs() + timeout_ms;

	for (;;) {
		int left = (int)(deadline - now_msecs());
		if (left < 0)
			left = 0;
		int ret = poll(&pfd, 1, timeout_ms < 0 ? -1 : left);
		if (ret > 0) {
			*revents_r = pfd.revents;
			return 0;
		}
		if (ret == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

static int connect_tcp(struct imapc_conn *conn, unsigned int timeout_secs,
                       char **error_r)
{
	struct addrinfo hints, *ai_list, *ai;
	char port[16];
	int ret, last_errno = ECONNREFUSED;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", conn->port);
	ret = getaddrinfo(conn->host, port, &hints, &ai_list);
	if (ret != 0) {
		*error_r = mf_strdup_printf("resolving %s failed: %s",
		                            conn->host, gai_strerror(ret));
		return -1;
	}
	for (ai = ai_list; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family,
		                ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		                ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
		    errno != EINPROGRESS) {
			last_errno = errno;
			close(fd);
			continue;
		}
		conn->fd = fd;
		short rev;
		if (wait_fd(conn, POLLOUT, (int)timeout_secs * 1000, &rev) <
		    0) {
			last_errno = errno;
			close(fd);
			conn->fd = -1;
			continue;
		}
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr != 0) {
			last_errno = soerr;
			close(fd);
			conn->fd = -1;
			continue;
		}
		freeaddrinfo(ai_list);
		return 0;
	}
	freeaddrinfo(ai_list);
	errno = last_errno;
	*error_r = errno_error("connect() to", conn);
	return -1;
}

static int spawn_command(struct imapc_conn *conn, const char *command,
                         char **error_r)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		*error_r = errno_error("socketpair() for", conn);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		*error_r = errno_error("fork() for", conn);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		if (dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	conn->child = pid;
	conn->fd = sv[0];
	if (fcntl(conn->fd, F_SETFL, O_NONBLOCK) < 0) {
		*error_r = errno_error("fcntl(O_NONBLOCK) for", conn);
		return -1;
	}
	return 0;
}

static bool host_is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	       inet_pton(AF_INET6, host, buf) == 1;
}

/* Drive a non-blocking SSL call until it completes or times out. */
static int ssl_wait(struct imapc_conn *conn, int ssl_ret, int64_t deadline)
{
	short rev;
	int err = SSL_get_error(conn->ssl, ssl_ret);
	short events;

	if (err == SSL_ERROR_WANT_READ)
		events = POLLIN;
	else if (err == SSL_ERROR_WANT_WRITE)
		events = POLLOUT;
	else
		return -1;
	int left = (int)(deadline - now_msecs());
	if (left <= 0 || wait_fd(conn, events, left, &rev) < 0) {
		errno = ETIMEDOUT;
		return -2;
	}
	return 0;
}

static int tls_handshake(struct imapc_conn *conn, unsigned int timeout_secs,
                         char **error_r)
{
	struct mf_buf msg = MF_BUF_INIT;

	conn->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (conn->ssl_ctx == NULL)
		goto ssl_fail;
	SSL_CTX_set_min_proto_version(conn->ssl_ctx, TLS1_2_VERSION);
	if (conn->ssl_verify) {
		SSL_CTX_set_verify(conn->ssl_ctx, SSL_VERIFY_PEER, NULL);
		if (conn->ca_file != NULL) {
			if (SSL_CTX_load_verify_locations(
			        conn->ssl_ctx, conn->ca_file, NULL) != 1) {
				mf_buf_printf(&msg,
				              "loading CA file %s failed: ",
				              conn->ca_file);
				ssl_error_text(&msg);
				*error_r = mf_buf_detach(&msg);
				return -1;
			}
		} else if (SSL_CTX_set_default_verify_paths(conn->ssl_ctx) !=
		           1) {
			goto ssl_fail;
		}
	} else {
		SSL_CTX_set_verify(conn->ssl_ctx, SSL_VERIFY_NONE, NULL);
	}
	SSL_CTX_set_mode(conn->ssl_ctx,
	                 SSL_MODE_ENABLE_PARTIAL_WRITE |
	                     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	conn->ssl = SSL_new(conn->ssl_ctx);
	if (conn->ssl == NULL || SSL_set_fd(conn->ssl, conn->fd) != 1)
		goto ssl_fail;
	if (host_is_ip(conn->host)) {
		X509_VERIFY_PARAM *param = SSL_get0_param(conn->ssl);
		if (X509_VERIFY_PARAM_set1_ip_asc(param, conn->host) != 1)
			goto ssl_fail;
	} else {
		if (SSL_set_tlsext_host_name(conn->ssl, conn->host) != 1 ||
		    SSL_set1_host(conn->ssl, conn->host) != 1)
			goto ssl_fail;
	}
	int64_t deadline = now_msecs() + (int64_t)timeout_secs * 1000;
	for (;;) {
		int ret = SSL_connect(conn->ssl);
		if (ret == 1)
			break;
		int w = ssl_wait(conn, ret, deadline);
		if (w == 0)
			continue;
		long vr = SSL_get_verify_result(conn->ssl);
		mf_buf_printf(&msg,
		              "TLS handshake with %s failed: ", conn->peer);
		if (w == -2)
			mf_buf_append_str(&msg, "timed out");
		else if (conn->ssl_verify && vr != X509_V_OK)
			mf_buf_printf(&msg, "certificate verification: %s",
			              X509_verify_cert_error_string(vr));
		else
			ssl_error_text(&msg);
		ERR_clear_error();
		*error_r = mf_buf_detach(&msg);
		return -1;
	}
	return 0;
ssl_fail:
	mf_buf_printf(&msg, "TLS setup for %s failed: ", conn->peer);
	ssl_error_text(&msg);
	*error_r = mf_buf_detach(&msg);
	return -1;
}

int imapc_conn_open(const struct imapc_conn_settings *set,
                    struct imapc_conn **conn_r, char **error_r)
{
	struct imapc_conn *conn = mf_calloc(1, sizeof(*conn));

	conn->fd = -1;
	conn->child = -1;
	conn->host = mf_strdup(set->host != NULL ? set->host : "localhost");
	conn->port = set->port;
	conn->ssl_verify = set->ssl_verify;
	conn->ca_file = set->ca_file == NULL ? NULL : mf_strdup(set->ca_file);
	conn->read_timeout_secs =
	    set->read_timeout_secs == 0 ? 60 : set->read_timeout_secs;
	conn->rate_limit = set->rate_limit;
	/* big reads for throughput; small ones when throttled, so the
	 * bytes come evenly rather than in bursts */
	conn->read_chunk = IMAPC_READ_CHUNK;
	if (set->rate_limit > 0 && set->rate_limit / 16 < IMAPC_READ_CHUNK)
		conn->read_chunk = (size_t)MF_MAX(set->rate_limit / 16, 4096);
	clock_gettime(CLOCK_MONOTONIC, &conn->rate_start);
	if (set->command != NULL)
		conn->peer = mf_strdup_printf("command '%s'", set->command);
	else
		conn->peer = mf_strdup_printf("%s:%u", conn->host, conn->port);
	if (set->rawlog_path != NULL) {
		conn->rawlog = fopen(set->rawlog_path, "ae");
		if (conn->rawlog == NULL) {
			*error_r = mf_strdup_printf(
			    "opening raw log %s failed: fopen(): %s",
			    set->rawlog_path, strerror(errno));
			imapc_conn_close(&conn);
			return -1;
		}
		imapc_conn_rawlog_note(conn, conn->peer);
	}
	unsigned int ctimeout =
	    set->connect_timeout_secs == 0 ? 30 : set->connect_timeout_secs;
	int ret = set->command != NULL
	              ? spawn_command(conn, set->command, error_r)
	              : connect_tcp(conn, ctimeout, error_r);
	if (ret == 0 && set->command == NULL && set->ssl == IMAPC_SSL_IMAPS)
		ret = tls_handshake(conn, ctimeout, error_r);
	if (ret < 0) {
		imapc_conn_close(&conn);
		return -1;
	}
	*conn_r = conn;
	return 0;
}

int imapc_conn_start_tls(struct imapc_conn *conn, char **error_r)
{
	if (conn->in.len > conn->in_pos) {
		conn->broken = true;
		*error_r = mf_strdup_printf(
		    "%s sent data after its STARTTLS reply (refusing a "
		    "possible injection)",
		    conn->peer);
		return -1;
	}
	if (tls_handshake(conn, conn->read_timeout_secs, error_r) < 0) {
		conn->broken = true;
		return -1;
	}
	imapc_conn_rawlog_note(conn, "TLS started");
	return 0;
}

/* Read what is available now into the input buffer. Returns bytes read,
 * 0 when nothing is available yet, -1 on error/EOF with *error_r. */
static ssize_t read_some(struct imapc_conn *conn, char **error_r)
{
	ssize_t n;

	mf_buf_reserve(&conn->in, conn->read_chunk);
	if (conn->ssl != NULL) {
		ERR_clear_error();
		int ret = SSL_read(conn->ssl, conn->in.data + conn->in.len,
		                   (int)conn->read_chunk);
		if (ret > 0) {
			n = ret;
		} else {
			int err = SSL_get_error(conn->ssl, ret);
			if (err == SSL_ERROR_WANT_READ ||
			    err == SSL_ERROR_WANT_WRITE)
				return 0;
			if (err == SSL_ERROR_ZERO_RETURN ||
			    (err == SSL_ERROR_SYSCALL &&
			     ERR_peek_error() == 0 && errno == 0)) {
				*error_r = mf_strdup_printf(
				    "%s closed the connection", conn->peer);
			} else {
				struct mf_buf msg = MF_BUF_INIT;
				mf_buf_printf(&msg, "TLS read from %s failed: ",
				              conn->peer);
				if (err == SSL_ERROR_SYSCALL && errno != 0)
					mf_buf_append_str(&msg,
					                  strerror(errno));
				else
					ssl_error_text(&msg);
				*error_r = mf_buf_detach(&msg);
			}
			conn->broken = true;
			return -1;
		}
	} else {
		n = read(conn->fd, conn->in.data + conn->in.len,
		         conn->read_chunk);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			*error_r = errno_error("read() from", conn);
			conn->broken = true;
			return -1;
		}
		if (n == 0) {
			*error_r = mf_strdup_printf("%s closed the connection",
			                            conn->peer);
			conn->broken = true;
			return -1;
		}
	}
	conn->in.len += (size_t)n;
	conn->in.data[conn->in.len] = '\0';
	conn->rate_bytes += (uint64_t)n;
	return n;
}

static void rate_limit_wait(struct imapc_conn *conn)
{
	if (conn->rate_limit == 0)
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double elapsed = (double)(now.tv_sec - conn->rate_start.tv_sec) +
	                 (double)(now.tv_nsec - conn->rate_start.tv_nsec) / 1e9;
	double wanted = (double)conn->rate_bytes / (double)conn->rate_limit;
	if (wanted > elapsed) {
		double d = wanted - elapsed;
		struct timespec ts = {
		    .tv_sec = (time_t)d,
		    .tv_nsec = (long)((d - (double)(time_t)d) * 1e9)};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

static int wait_readable(struct imapc_conn *conn, char **error_r)
{
	short rev;

	if (conn->ssl != NULL && SSL_pending(conn->ssl) > 0)
		return 0;
	if (wait_fd(conn, POLLIN, (int)conn->read_timeout_secs * 1000, &rev) <
	    0) {
		conn->broken = true;
		if (errno == ETIMEDOUT)
			*error_r = mf_strdup_printf(
			    "%s did not answer for %u seconds "
			    "(imapc_cmd_timeout)",
			    conn->peer, conn->read_timeout_secs);
		else
			*error_r = errno_error("poll() on", conn);
		return -1;
	}
	return 0;
}

int imapc_conn_read_response(struct imapc_conn *conn,
                             struct imapc_response **resp_r, char **error_r)
{
	if (conn->broken) {
		*error_r =
		    mf_strdup_printf("connection to %s is closed", conn->peer);
		return -1;
	}
	for (;;) {
		size_t avail = conn->in.len - conn->in_pos;
		if (avail > 0 && avail >= conn->in_need) {
			size_t consumed = 0, need = 0;
			char *perr = NULL;
			const char *start = conn->in.data + conn->in_pos;
			int ret = imapc_parse_response_need(
			    start, avail, 0, resp_r, &consumed, &need, &perr);
			if (ret < 0) {
				conn->broken = true;
				rawlog_write(conn, "S:", start,
				             MF_MIN(avail, 4096));
				*error_r = mf_strdup_printf("%s: %s",
				                            conn->peer, perr);
				free(perr);
				return -1;
			}
			if (ret > 0) {
				rawlog_write(conn, "S:", start, consumed);
				conn->in_pos += consumed;
				conn->in_need = 0;
				if (conn->in_pos == conn->in.len) {
					conn->in_pos = 0;
					mf_buf_truncate(&conn->in, 0);
				}
				return 0;
			}
			conn->in_need = need;
		}
		/* compact before growing */
		if (conn->in_pos > 0 && conn->in_pos * 2 >= conn->in.len) {
			memmove(conn->in.data, conn->in.data + conn->in_pos,
			        conn->in.len - conn->in_pos);
			conn->in.len -= conn->in_pos;
			conn->in_pos = 0;
			conn->in.data[conn->in.len] = '\0';
		}
		/* read first, poll only when nothing is there yet: while a
		 * server streams bodies the data is usually waiting */
		ssize_t n = read_some(conn, error_r);
		if (n < 0)
			return -1;
		if (n == 0) {
			if (wait_readable(conn, error_r) < 0)
				return -1;
			continue;
		}
		rate_limit_wait(conn);
	}
}

int imapc_conn_send(struct imapc_conn *conn, const void *data, size_t len,
                    const char *log_text, char **error_r)
{
	const char *p = data;
	size_t left = len;

	if (conn->broken) {
		*error_r =
		    mf_strdup_printf("connection to %s is closed", conn->peer);
		return -1;
	}
	if (log_text != NULL) {
		if (*log_text != '\0') /* "" : already noted */
			rawlog_write(conn, "C:", log_text, strlen(log_text));
	} else
		rawlog_write(conn, "C:", data, len);
	while (left > 0) {
		ssize_t n;
		short events = POLLOUT;

		if (conn->ssl != NULL) {
			ERR_clear_error();
			int ret =
			    SSL_write(conn->ssl, p,
			              left > INT32_MAX ? INT32_MAX : (int)left);
			if (ret > 0) {
				n = ret;
			} else {
				int err = SSL_get_error(conn->ssl, ret);
				if (err == SSL_ERROR_WANT_READ)
					events = POLLIN;
				else if (err != SSL_ERROR_WANT_WRITE) {
					struct mf_buf msg = MF_BUF_INIT;
					mf_buf_printf(
					    &msg, "TLS write to %s failed: ",
					    conn->peer);
					ssl_error_text(&msg);
					*error_r = mf_buf_detach(&msg);
					conn->broken = true;
					return -1;
				}
				n = 0;
			}
		} else {
			n = send(conn->fd, p, left, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno != EAGAIN && errno != EINTR) {
					*error_r =
					    errno_error("send() to", conn);
					conn->broken = true;
					return -1;
				}
				n = 0;
			}
		}
		p += n;
		left -= (size_t)n;
		if (left == 0)
			break;
		if (n > 0)
			continue;
		/* blocked: take in what the server sends meanwhile */
		short rev;
		if (wait_fd(conn, events | POLLIN,
		            (int)conn->read_timeout_secs * 1000, &rev) < 0) {
			conn->broken = true;
			*error_r = mf_strdup_printf(
			    "%s did not take data for %u seconds", conn->peer,
			    conn->read_timeout_secs);
			return -1;
		}
		if ((rev & POLLIN) != 0 && events != POLLIN &&
		    read_some(conn, error_r) < 0)
			return -1;
	}
	return 0;
}

void imapc_conn_close(struct imapc_conn **_conn)
{
	struct imapc_conn *conn = *_conn;

	if (conn == NULL)
		return;
	*_conn = NULL;
	if (conn->ssl != NULL) {
		SSL_shutdown(conn->ssl);
		SSL_free(conn->ssl);
	}
	if (conn->ssl_ctx != NULL)
		SSL_CTX_free(conn->ssl_ctx);
	if (conn->fd >= 0)
		close(conn->fd);
	if (conn->child > 0) {
		int status;
		/* give it a moment to leave on its own after EOF */
		for (int i = 0; i < 50; i++) {
			if (waitpid(conn->child, &status, WNOHANG) != 0)
				goto reaped;
			struct timespec ts = {0, 20 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		kill(conn->child, SIGTERM);
		waitpid(conn->child, &status, 0);
	}
reaped:
	if (conn->rawlog != NULL)
		fclose(conn->rawlog);
	mf_buf_free(&conn->in);
	free(conn->host);
	free(conn->ca_file);
	free(conn->peer);
	free(conn);
}
