/* SPDX-License-Identifier: MIT */
/*
 * fuzz-config-replay.c - runs the fuzz-config.c entry over built-in seeds
 * and deterministic mutations of them (truncations, byte changes, spliced
 * special characters), so the config, location and sync-option parsers are
 * checked for crashes and leaks (under ASan) in every build, not only in
 * libFuzzer runs.
 */
#include <stdio.h>
#include <stdlib.h>

#include "mf-alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* First byte: 0 settings, 1 location, 2 sync options (one per line). */
static const char *const seeds[] = {
    "\x00mail_location = maildir:~/Maildir\nmail_fsync=never\n",
    "\x00namespace inbox {\n  separator = /\n  mailbox \"Sent Items\" {\n"
    "    special_use = \\Sent\n  }\n}\nplugin {\n zlib_save = gz\n}\n",
    "\x00a = 1\nb = $a x $ENV:HOME\nc = \"q \\\" # x\" # c\nd = 'e'\n"
    "long = a \\\n  b \\\n  c\n}\n",
    "\x00x {\ny = 1\n",
    "\x00k v\n= 1\nlocal 1.2.3.4 {\n}\n",
    "\x01maildir:~/Maildir:LAYOUT=fs:INDEX=/idx/%u:NO-NOSELECT",
    "\x01sdbox:/srv/%d/%n/%%/%{user}/%{home}::x:ALT=~/alt",
    "\x01imaps://user%40d:s3cr3t@[::1]:993/",
    "\x01imap://u:s3cr3t@host:0/x",
    "\x01imapx://u:s3cr3t@host/",
    "\x01mdbox:~bob/%q:%{",
    "\x02-1fPRU\n-l\n30\n-m\nINBOX\n-g\n0123456789abcdef0123456789abcdef\n"
    "-n\n\n-x\nTrash\n-s\n\n-T\n5\n-t\n30d\n-e\n2023-11-14\n-O\n-\\Seen\n"
    "-I\n10M\n-u\nx\nmaildir:/a\nmaildir:/b",
    "b-1\n-d\n-A\n-F\nf\n--dry-run\n--\n-x",
    "\x02-t\n14-Nov-2023\n-e\n1\n-N\nremote:h\n-S\n/s\n-r\n/r\n-a\nAll",
};

static unsigned long runs;

static void run(const uint8_t *data, size_t size)
{
	(void)LLVMFuzzerTestOneInput(data, size);
	runs++;
}

static void mutate(const uint8_t *data, size_t size)
{
	static const uint8_t specials[] = {'\n', ':',  '=', '{', '}', '%', '$',
	                                   '"',  '\\', '#', '~', '-', '@', '['};
	uint8_t *copy = mf_malloc(size + 1);
	uint32_t seed = 4242;

	run(data, size);
	for (size_t cut = 1; cut < size; cut++)
		run(data, cut);
	for (int i = 0; i < 2000 && size > 1; i++) {
		size_t pos;

		seed = seed * 1103515245u + 12345u;
		pos = 1 + (seed >> 8) % (size - 1);
		memcpy(copy, data, size);
		switch ((seed >> 4) % 3) {
		case 0:
			copy[pos] ^= (uint8_t)(1u << ((seed >> 16) % 8));
			break;
		case 1:
			copy[pos] = specials[(seed >> 16) % sizeof(specials)];
			break;
		default:
			copy[pos] = (uint8_t)(seed >> 24);
			break;
		}
		run(copy, size);
	}
	free(copy);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		/* the selector byte may be \0, so the length comes from
		 * the rest of the string */
		size_t len = 1 + strlen(seeds[i] + 1);

		mutate((const uint8_t *)seeds[i], len);
	}
	printf("fuzz-config-replay: %lu inputs\n", runs);
	return 0;
}
