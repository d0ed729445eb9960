/* SPDX-License-Identifier: MIT */
/*
 * fuzz-replay.c - runs the libFuzzer entry of fuzz-index.c over every file
 * of tests/index/fuzz-corpus/ (or the directories given as arguments), and
 * over deterministic mutations of each (truncations, bit flips, byte
 * stores), so the parsers' robustness is checked in every build, not only
 * in fuzzing runs.
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
	uint32_t seed = 12345;

	run(data, size);
	/* every truncation point in steps, as a torn write would leave */
	for (size_t cut = 3; cut < size; cut += 1 + size / 64)
		run(data, cut);
	/* pseudo-random single byte changes in the payload */
	for (int i = 0; i < 400 && size > 3; i++) {
		size_t pos;

		seed = seed * 1103515245u + 12345u;
		pos = 3 + (seed >> 8) % (size - 3);
		memcpy(copy, data, size);
		switch ((seed >> 4) % 4) {
		case 0:
			copy[pos] ^= (uint8_t)(1u << ((seed >> 16) % 8));
			break;
		case 1:
			copy[pos] = 0xff;
			break;
		case 2:
			copy[pos] = 0x00;
			break;
		default:
			copy[pos] = (uint8_t)(seed >> 24);
			break;
		}
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
		char *path, *error = NULL;
		struct mf_buf buf = MF_BUF_INIT;

		if (de->d_name[0] == '.' || mf_str_ends(de->d_name, ".md"))
			continue;
		path = mf_strdup_printf("%s/%s", dir, de->d_name);
		if (mf_file_read_all(path, &buf, &error) < 0) {
			fprintf(stderr, "fuzz-replay: %s\n", error);
			free(error);
			free(path);
			closedir(d);
			return -1;
		}
		mutate((const uint8_t *)buf.data, buf.len);
		mf_buf_free(&buf);
		free(path);
		files++;
	}
	closedir(d);
	return files;
}

int main(int argc, char **argv)
{
	const char *src = getenv("MF_TOP_SRCDIR");
	char *dflt = mf_strdup_printf("%s/tests/index/fuzz-corpus",
	                              src != NULL ? src : ".");
	int files = 0;

	if (argc < 2) {
		files = replay_dir(dflt);
	} else {
		for (int i = 1; i < argc; i++) {
			int n = replay_dir(argv[i]);

			if (n < 0) {
				files = -1;
				break;
			}
			files += n;
		}
	}
	free(dflt);
	if (files <= 0) {
		printf("0 passed, 1 failed\n");
		return 1;
	}
	printf("fuzz-replay: %d corpus files, %lu runs\n", files, runs);
	printf("%lu passed, 0 failed\n", runs);
	return 0;
}
