/* SPDX-License-Identifier: MIT */
/*
 * test-conformance.c - runs the driver conformance suite over every driver
 * the loader finds: the in-tree drivers' build directories (from
 * MAILFERRY_DRIVER_PATH, set by make check) plus the eml sample driver
 * built in tree next to this program.
 *
 * Environment: MF_TOP_SRCDIR, MF_TOP_BUILDDIR (set by make check; the
 * configure-time paths are the fallback). MF_CONFORMANCE_<NAME> (name in
 * upper case, '-' as '_') gives the location of a disposable, empty store
 * for driver <name>, "@TMP@" standing for a fresh directory per test: the
 * only way to test imapc (e.g. an IMAP account) or a third-party driver,
 * and an override for the built-in maildir/sdbox/mdbox/eml factories.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf-driver.h"
#include "conf.h"
#include "conf-tests.h"

/* A small ASan quarantine, so the bounded-memory test measures the driver
 * and not freed blocks ASan keeps around (unused without ASan). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=4";
}

static void add_driver_dir(const char *builddir)
{
	const char *old = getenv("MAILFERRY_DRIVER_PATH");
	char *dir = mf_strdup_printf("%s/tests/conformance/.libs", builddir);
	char *path = old == NULL || old[0] == '\0'
	                 ? mf_strdup(dir)
	                 : mf_strdup_printf("%s:%s", old, dir);

	setenv("MAILFERRY_DRIVER_PATH", path, 1);
	free(path);
	free(dir);
}

int main(void)
{
	const char *builddir = getenv("MF_TOP_BUILDDIR");
	const char *tmpdir = getenv("TMPDIR");
	char *root;
	SRunner *sr;
	Suite *s;
	int failed, n;

	conf_srcdir = getenv("MF_TOP_SRCDIR");
	if (conf_srcdir == NULL)
		conf_srcdir = MF_CONF_SRCDIR;
	if (builddir == NULL)
		builddir = MF_CONF_BUILDDIR;
	add_driver_dir(builddir);
	/* never pick up drivers installed on this machine */
	setenv("MAILFERRY_SKIP_DEFAULT_DIR", "1", 0);

	if (mf_drivers_load() != 0)
		fprintf(stderr, "conformance: some driver files were refused "
		                "(see the warnings above)\n");
	n = (int)mf_driver_count();
	printf("conformance: %d driver(s):", n);
	for (int i = 0; i < n; i++)
		printf(" %s", mf_driver_at((size_t)i)->desc->name);
	printf("\n");
	if (mf_driver_find("eml") == NULL) {
		fprintf(stderr,
		        "conformance: the in-tree eml driver was not "
		        "found in %s/tests/conformance/.libs "
		        "(make check builds it)\n",
		        builddir);
		return 1;
	}

	root = mf_strdup_printf("%s/mf-conf.XXXXXX",
	                        tmpdir != NULL ? tmpdir : "/tmp");
	if (mkdtemp(root) == NULL) {
		fprintf(stderr, "conformance: mkdtemp(%s) failed: %s\n", root,
		        strerror(errno));
		return 1;
	}
	conf_tmp_root = root;
	/* load the fixture once, before forking, so every test shares it */
	(void)conf_fixture();

	s = suite_create("conformance");
	conf_add_read_tests(s, n);
	conf_add_write_tests(s, n);
	conf_add_log_tests(s, n);
	conf_add_extra_tests(s, n);
	conf_add_thread_tests(s, n);
	conf_add_eml_tests(s);
	conf_add_sample_tests(s);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);

	conf_rmtree(root);
	free(root);
	return failed == 0 ? 0 : 1;
}
