/* SPDX-License-Identifier: MIT */
/*
 * imapc-dropproxy.c - a TCP proxy on 127.0.0.1 that breaks the first
 * connection at a chosen point, for the reconnect tests:
 *
 *   imapc-dropproxy PORTFILE TARGET_PORT MODE N
 *
 * MODE "append": once the client has sent its Nth APPEND command (and the
 *   literal), the proxy waits half a second (the server stores the
 *   message) and closes both sides without passing the server's reply on:
 *   the client cannot know whether the message was stored.
 * MODE "bytes": the connection is cut after N bytes from the server.
 * MODE "idle": the connection is cut when no byte went either way for N
 *   milliseconds, as a NAT box or firewall forgets an idle flow.
 * Later connections are forwarded untouched. The chosen listening port is
 * written to PORTFILE. Runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mf-common.h"

static int connect_target(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("imapc-dropproxy: connect()");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Count "APPEND " in the client's stream; carry holds the last bytes of
 * the previous read so a word split across reads is still seen once. */
static size_t count_appends(const char *buf, size_t len, char *carry,
                            size_t *carry_len)
{
	static char tmp[8 + 65536];
	size_t n = 0, tlen = *carry_len + len;

	memcpy(tmp, carry, *carry_len);
	memcpy(tmp + *carry_len, buf, len);
	for (size_t i = 0; i + 7 <= tlen; i++) {
		if (memcmp(tmp + i, "APPEND ", 7) == 0)
			n++;
	}
	*carry_len = tlen < 6 ? tlen : 6;
	memcpy(carry, tmp + tlen - *carry_len, *carry_len);
	return n;
}

static int mf_write_full_(int fd, const void *data, size_t len);

static void serve(int client, int target_port, const char *mode, long n,
                  bool drop)
{
	int server = connect_target(target_port);
	char buf[65536], carry[8];
	size_t carry_len = 0, appends = 0;
	uint64_t server_bytes = 0;
	bool cut_pending = false;

	if (server < 0) {
		close(client);
		return;
	}
	for (;;) {
		struct pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
		bool idle_mode = drop && strcmp(mode, "idle") == 0;
		int ret = poll(p, 2,
		               cut_pending ? 500
		               : idle_mode ? (int)n
		                           : -1);
		if (ret == 0 && cut_pending)
			break; /* the server has had its time: cut */
		if (ret == 0 && idle_mode) {
			fprintf(stderr,
			        "imapc-dropproxy: idle for %ld ms, "
			        "cutting the connection\n",
			        n);
			break;
		}
		if (ret < 0 && errno != EINTR)
			break;
		if (p[0].revents != 0) {
			ssize_t r = read(client, buf, sizeof(buf));
			if (r <= 0 ||
			    mf_write_full_(server, buf, (size_t)r) < 0)
				break;
			if (drop && strcmp(mode, "append") == 0) {
				appends += count_appends(buf, (size_t)r, carry,
				                         &carry_len);
				if ((long)appends >= n)
					cut_pending = true;
			}
		}
		if (p[1].revents != 0) {
			ssize_t r = read(server, buf, sizeof(buf));
			if (r <= 0)
				break;
			if (cut_pending)
				continue; /* swallow the reply */
			size_t len = (size_t)r;
			if (drop && strcmp(mode, "bytes") == 0 &&
			    server_bytes + len >= (uint64_t)n) {
				len = (size_t)((uint64_t)n - server_bytes);
				(void)mf_write_full_(client, buf, len);
				break;
			}
			server_bytes += len;
			if (mf_write_full_(client, buf, len) < 0)
				break;
		}
	}
	close(client);
	close(server);
}

static int mf_write_full_(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t r = write(fd, p, len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t salen = sizeof(sa);
	int lfd, one = 1;
	bool dropped = false;

	if (argc != 5) {
		fprintf(stderr, "usage: imapc-dropproxy PORTFILE TARGET_PORT "
		                "append|bytes|idle N\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 8) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0) {
		perror("imapc-dropproxy: listen");
		return 1;
	}
	FILE *f = fopen(argv[1], "w");
	if (f == NULL) {
		perror(argv[1]);
		return 1;
	}
	fprintf(f, "%u\n", ntohs(sa.sin_port));
	fclose(f);
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		if (c < 0)
			continue;
		/* one connection at a time is all the tests need */
		serve(c, atoi(argv[2]), argv[3], atol(argv[4]), !dropped);
		dropped = true;
	}
}
