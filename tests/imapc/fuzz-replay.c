/* SPDX-License-Identifier: MIT */
/*
 * fuzz-replay.c - runs the libFuzzer entry of fuzz-imap-parser.c over every
 * file of tests/imapc/fuzz-corpus/fuzz-imap-parser/ (or the directories
 * given as arguments), every prefix of each (a response arriving in
 * pieces) and deterministic mutations (bit flips, byte changes), so the
 * parser's robustness is checked in every build.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long runs;

static void run(const uint8_t *data, size_t size)
{
	(void)LLVMFuzzerTestOneInput(data, size);
	runs++;
}

static void mutate(const uint8_t *data, size_t size)
{
	uint8_t *copy = mf_malloc(size + 1);
	uint32_t seed = 4242;
	static const uint8_t specials[] = {'(',  ')',  '{', '}', '"', '\\',
	                                   '\r', '\n', ' ', '[', ']', '~',
	                                   '&',  '-',  '0', '9', 0,   0xff};

	run(data, size);
	for (size_t cut = 0; cut < size; cut++)
		run(data, cut);
	for (int i = 0; i < 2000 && size > 0; i++) {
		size_t pos;
		seed = seed * 1103515245u + 12345u;
		pos = (seed >> 8) % size;
		memcpy(copy, data, size);
		if ((seed >> 4) % 2 == 0)
			copy[pos] ^= (uint8_t)(1u << ((seed >> 16) % 8));
		else
			copy[pos] = specials[(seed >> 16) % sizeof(specials)];
		run(copy, size);
	}
	free(copy);
}

static int replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int files = 0;

	if (d == NULL) {
		fprintf(stderr, "fuzz-replay: opendir(%s) failed: %s\n", dir,
		        strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct mf_buf buf = MF_BUF_INIT;
		char *path, *error;
		if (de->d_name[0] == '.')
			continue;
		path = mf_strdup_printf("%s/%s", dir, de->d_name);
		if (mf_file_read_all(path, &buf, &error) < 0) {
			fprintf(stderr, "fuzz-replay: %s\n", error);
			free(error);
			free(path);
			closedir(d);
			return -1;
		}
		mutate((const uint8_t *)(buf.data == NULL ? "" : buf.data),
		       buf.len);
		mf_buf_free(&buf);
		free(path);
		files++;
	}
	closedir(d);
	return files;
}

int main(int argc, char **argv)
{
	const char *top = getenv("MF_TOP_SRCDIR");
	char *def =
	    mf_strdup_printf("%s/tests/imapc/fuzz-corpus/fuzz-imap-parser",
	                     top != NULL ? top : ".");
	int files = 0;

	for (int i = 1; i < argc || (argc == 1 && i == 1); i++) {
		int n = replay_dir(argc > 1 ? argv[i] : def);
		if (n < 0)
			return 1;
		files += n;
	}
	free(def);
	if (files == 0) {
		fprintf(stderr, "fuzz-replay: no corpus files found\n");
		return 1;
	}
	printf("fuzz-replay: %d files, %lu runs\n", files, runs);
	return 0;
}
