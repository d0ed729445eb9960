/* SPDX-License-Identifier: MIT */
/* Unit tests of mf-perm: the modes and group derived from a directory as
 * Dovecot derives them, the owner when running as root, and that only what
 * we create is changed. */
#include <check.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-perm.h"

static char tmpdir[] = "/tmp/mf-perm-test.XXXXXX";
static int warnings;

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_eq(chmod(tmpdir, 0755), 0);
	warnings = 0;
}

static void teardown(void)
{
	char *cmd = mf_strdup_printf("rm -rf '%s'", tmpdir);

	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	mf_strlcpy(tmpdir, "/tmp/mf-perm-test.XXXXXX", sizeof(tmpdir));
}

static void count_warning(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
	warnings++;
}

static char *path_in(const char *name)
{
	return mf_strdup_printf("%s/%s", tmpdir, name);
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	ck_assert_int_eq(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

START_TEST(test_defaults_without_root)
{
	struct mf_perm perm;
	char *root = path_in("missing/Maildir");

	mf_perm_init_store(&perm, root, NULL, NULL);
	ck_assert_uint_eq(perm.file_mode, 0600);
	ck_assert_uint_eq(perm.dir_mode, 0700);
	ck_assert_int_eq((int)perm.uid, -1);
	ck_assert_int_eq((int)perm.gid, -1);
	free(root);
}
END_TEST

START_TEST(test_modes_from_root)
{
	struct mf_perm perm;
	char *root = path_in("Maildir"), *f, *d;
	int fd;

	ck_assert_int_eq(mkdir(root, 0700), 0);
	ck_assert_int_eq(chmod(root, 0750), 0);
	mf_perm_init_store(&perm, root, count_warning, NULL);
	ck_assert_uint_eq(perm.dir_mode, 0750);
	ck_assert_uint_eq(perm.file_mode, 0640);
	/* the modes are set whatever the umask */
	umask(077);
	f = mf_strdup_printf("%s/f", root);
	fd = mf_perm_open(&perm, f, O_WRONLY | O_CREAT | O_EXCL);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_uint_eq(mode_of(f), 0640);
	d = mf_strdup_printf("%s/a/b", root);
	char *err = NULL;
	ck_assert_int_eq(mf_perm_mkdir_parents(&perm, d, &err), 0);
	ck_assert_uint_eq(mode_of(d), 0750);
	/* an existing file is never changed */
	ck_assert_int_eq(chmod(f, 0600), 0);
	fd = mf_perm_open(&perm, f, O_RDWR | O_CREAT);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_uint_eq(mode_of(f), 0600);
	ck_assert_int_eq(warnings, 0);
	umask(022);
	free(f);
	free(d);
	free(root);
}
END_TEST

/* A setgid root hands its bit down to new directories, also when the
 * mode is set explicitly; a world-readable root gives readable files. */
START_TEST(test_setgid_and_world)
{
	struct mf_perm perm;
	char *root = path_in("sg"), *d;

	ck_assert_int_eq(mkdir(root, 0700), 0);
	ck_assert_int_eq(chmod(root, 02770), 0);
	mf_perm_init_store(&perm, root, NULL, NULL);
	ck_assert_uint_eq(perm.dir_mode, 02770);
	ck_assert_uint_eq(perm.file_mode, 0660);
	d = mf_strdup_printf("%s/sub", root);
	umask(027);
	ck_assert_int_eq(mf_perm_mkdir(&perm, d), 0);
	umask(022);
	ck_assert_uint_eq(mode_of(d), 02770);
	ck_assert_int_eq(chmod(root, 0755), 0);
	mf_perm_init_store(&perm, root, NULL, NULL);
	ck_assert_uint_eq(perm.file_mode, 0644);
	/* group sees what the world sees: no chgrp */
	if (geteuid() != 0)
		ck_assert_int_eq((int)perm.gid, -1);
	/* a mailbox directory's own mode wins over the root's */
	ck_assert_int_eq(chmod(d, 0700), 0);
	struct mf_perm box;
	mf_perm_for_dir(&perm, d, &box);
	ck_assert_uint_eq(box.file_mode, 0600);
	mf_perm_for_dir(&perm, "/nonexistent/x", &box);
	ck_assert_uint_eq(box.file_mode, 0644);
	free(d);
	free(root);
}
END_TEST

/* As root, what we create belongs to the root directory's owner and
 * group; the store's own root (made by us) does not count. */
START_TEST(test_owner_as_root)
{
	struct mf_perm perm;
	struct passwd *pw = getpwnam("nobody");
	char *root = path_in("owned"), *f, *link;
	struct stat st;
	int fd;

	if (geteuid() != 0 || pw == NULL)
		return; /* the rules without root are tested above */
	ck_assert_int_eq(mkdir(root, 0750), 0);
	ck_assert_int_eq(chown(root, pw->pw_uid, pw->pw_gid), 0);
	mf_perm_init_store(&perm, root, count_warning, NULL);
	ck_assert_uint_eq(perm.uid, pw->pw_uid);
	ck_assert_uint_eq(perm.gid, pw->pw_gid);
	f = mf_strdup_printf("%s/f", root);
	fd = mf_perm_open(&perm, f, O_WRONLY | O_CREAT | O_EXCL);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(stat(f, &st), 0);
	ck_assert_uint_eq(st.st_uid, pw->pw_uid);
	ck_assert_uint_eq(st.st_gid, pw->pw_gid);
	/* a symlink gets its owner, its target keeps its mode */
	link = mf_strdup_printf("%s/l", root);
	ck_assert_int_eq(chmod(f, 0600), 0);
	ck_assert_int_eq(symlink(f, link), 0);
	ck_assert_int_eq(mf_perm_fix_path(&perm, link, false), 0);
	ck_assert_int_eq(lstat(link, &st), 0);
	ck_assert_uint_eq(st.st_uid, pw->pw_uid);
	ck_assert_uint_eq(mode_of(f), 0600);
	ck_assert_int_eq(warnings, 0);
	/* a directory name swapped for a symlink by the user: its target
	 * is not handed over */
	char *victim = path_in("victim"), *swapped = path_in("owned/sw");
	ck_assert_int_eq(mkdir(victim, 0700), 0);
	ck_assert_int_eq(symlink(victim, swapped), 0);
	ck_assert_int_eq(mf_perm_fix_path(&perm, swapped, true), -1);
	ck_assert_int_eq(stat(victim, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	ck_assert_int_eq(warnings, 1);
	free(victim);
	free(swapped);
	/* a root-owned root: nothing to hand over */
	ck_assert_int_eq(chown(root, 0, 0), 0);
	mf_perm_init_store(&perm, root, NULL, NULL);
	ck_assert_int_eq((int)perm.uid, -1);
	free(f);
	free(link);
	free(root);
}
END_TEST

/* Failing to fix a file reports through the callback. */
START_TEST(test_fix_failure_warns)
{
	struct mf_perm perm;
	char *f = path_in("gone");

	mf_perm_init_default(&perm);
	perm.warn = count_warning;
	perm.uid = getuid();
	ck_assert_int_eq(mf_perm_fix_path(&perm, f, false), -1);
	ck_assert_int_eq(warnings, 1);
	free(f);
}
END_TEST

static Suite *perm_suite(void)
{
	Suite *s = suite_create("perm");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults_without_root);
	tcase_add_test(tc, test_modes_from_root);
	tcase_add_test(tc, test_setgid_and_world);
	tcase_add_test(tc, test_owner_as_root);
	tcase_add_test(tc, test_fix_failure_warns);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(perm_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
