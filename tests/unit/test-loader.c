/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for driver loading and the core API (core/loader). The test
 * drivers are built from tests/unit/drivers/testdrv.c, each broken in one
 * way; every one must be loaded or refused with a message naming the file
 * and the reason.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mf-alloc.h"
#include "mf-driver.h"
#include "mf-log.h"
#include "mf-settings.h"

static char *drv_dir, *dup_dir;

static char *drv_path(const char *name)
{
	return mf_strdup_printf("%s/%s.so", drv_dir, name);
}

static void expect_refused(const char *name, const char *want)
{
	const struct mf_driver *drv = NULL;
	char *path = drv_path(name), *error = NULL, *prefix;

	ck_assert_msg(mf_driver_load_file(path, &drv, &error) == -1,
	              "%s was loaded", path);
	ck_assert_ptr_null(drv);
	prefix = mf_strdup_printf("driver %s refused: ", path);
	ck_assert_msg(mf_str_begins(error, prefix), "'%s' lacks '%s'", error,
	              prefix);
	ck_assert_msg(strstr(error, want) != NULL, "'%s' lacks '%s'", error,
	              want);
	ck_assert_msg(strchr(error, '\n') == NULL, "not one line: %s", error);
	free(prefix);
	free(error);
	free(path);
}

START_TEST(test_good)
{
	const struct mf_driver *drv = NULL;
	char *path = drv_path("tgood"), *error = NULL;

	ck_assert_msg(mf_driver_load_file(path, &drv, &error) == 0, "%s",
	              error);
	ck_assert_str_eq(drv->desc->name, "tgood");
	ck_assert_str_eq(drv->desc->version, "9.9-test");
	ck_assert_str_eq(drv->path, path);
	ck_assert_ptr_eq(mf_driver_find("tgood"), drv);
	ck_assert_ptr_null(mf_driver_find("tgoo"));
	ck_assert_uint_eq(mf_driver_count(), 1);
	ck_assert_ptr_eq(mf_driver_at(0), drv);
	ck_assert_ptr_null(mf_driver_at(1));
	free(path);
}
END_TEST

START_TEST(test_wrong_major)
{
	char *want = mf_strdup_printf("built for driver ABI %d.0, this core "
	                              "has ABI %d.%d",
	                              MAILFERRY_ABI_MAJOR + 1,
	                              MAILFERRY_ABI_MAJOR, MAILFERRY_ABI_MINOR);

	expect_refused("tmajor", want);
	free(want);
}
END_TEST

START_TEST(test_newer_minor)
{
	char *want =
	    mf_strdup_printf("built for driver ABI %d.%d, this core "
	                     "has ABI %d.%d",
	                     MAILFERRY_ABI_MAJOR, MAILFERRY_ABI_MINOR + 1,
	                     MAILFERRY_ABI_MAJOR, MAILFERRY_ABI_MINOR);

	expect_refused("tminor", want);
	free(want);
}
END_TEST

START_TEST(test_missing_entry)
{
	expect_refused("tnoentry", "no mailferry_driver_entry symbol");
}
END_TEST

START_TEST(test_entry_null)
{
	expect_refused("tnull", "mailferry_driver_entry() returned NULL");
}
END_TEST

START_TEST(test_name_mismatch)
{
	expect_refused("tname", "describes itself as driver 'other', but the "
	                        "file name says 'tname'");
}
END_TEST

START_TEST(test_small_structs)
{
	expect_refused("tsmalldesc", "descriptor struct_size 12 is smaller");
	expect_refused("tsmallops", "ops struct_size 16 is smaller");
}
END_TEST

START_TEST(test_null_slot)
{
	expect_refused("tnullslot", "required slot msg_open is NULL");
}
END_TEST

START_TEST(test_dlopen_errors)
{
	char dir[] = "/tmp/mf-test-loader.XXXXXX";
	char *path, *error = NULL;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	path = mf_strdup_printf("%s/junk.so", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("not an ELF file\n", f);
	fclose(f);
	ck_assert_int_eq(mf_driver_load_file(path, NULL, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "dlopen failed"));
	ck_assert_ptr_nonnull(strstr(error, "run 'ldd"));
	ck_assert_ptr_nonnull(strstr(error, path));
	free(error);
	unlink(path);
	free(path);

	path = mf_strdup_printf("%s/absent.so", dir);
	ck_assert_int_eq(mf_driver_load_file(path, NULL, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "dlopen failed"));
	free(error);
	free(path);

	path = mf_strdup_printf("%s/Bad.so", dir);
	ck_assert_int_eq(mf_driver_load_file(path, NULL, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "file name is not <name>.so"));
	free(error);
	free(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_duplicate)
{
	char *first = drv_path("tgood");
	char *second = mf_strdup_printf("%s/tgood.so", dup_dir);
	char *error = NULL;

	ck_assert_int_eq(mf_driver_load_file(first, NULL, &error), 0);
	ck_assert_int_eq(mf_driver_load_file(second, NULL, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "duplicate driver name 'tgood'"));
	ck_assert_ptr_nonnull(strstr(error, first));
	ck_assert_str_eq(mf_driver_find("tgood")->path, first);
	free(error);
	free(first);
	free(second);
}
END_TEST

/* The search path: every file of both directories is either loaded or
 * listed as refused, the first tgood wins. */
START_TEST(test_search_path)
{
	char *env = mf_strdup_printf("%s:/nonexistent:%s", drv_dir, dup_dir);
	static const char *const refused[] = {
	    "tmajor", "tminor",    "tname",      "tnoentry",
	    "tnull",  "tnullslot", "tsmalldesc", "tsmallops",
	};
	size_t found = 0;

	setenv("MAILFERRY_DRIVER_PATH", env, 1);
	setenv("MAILFERRY_SKIP_DEFAULT_DIR", "1", 1);
	mf_drivers_set_log_refusals(false);
	ck_assert_int_eq(mf_drivers_load(), (int)MF_N_ELEMENTS(refused) + 1);
	/* a second call does nothing */
	ck_assert_int_eq(mf_drivers_load(), (int)MF_N_ELEMENTS(refused) + 1);
	ck_assert_uint_eq(mf_driver_count(), 1);
	ck_assert_str_eq(mf_driver_at(0)->desc->name, "tgood");
	ck_assert_ptr_nonnull(strstr(mf_driver_at(0)->path, drv_dir));
	ck_assert_uint_eq(mf_driver_dir_count(), 3);
	ck_assert_str_eq(mf_driver_dir_at(1), "/nonexistent");
	for (size_t i = 0; i < mf_driver_refused_count(); i++) {
		const struct mf_driver_refusal *r = mf_driver_refused_at(i);

		for (size_t j = 0; j < MF_N_ELEMENTS(refused); j++) {
			char *p = drv_path(refused[j]);

			if (strcmp(r->path, p) == 0)
				found++;
			free(p);
		}
		if (strstr(r->path, dup_dir) != NULL)
			ck_assert_ptr_nonnull(strstr(r->reason, "duplicate"));
	}
	ck_assert_uint_eq(found, MF_N_ELEMENTS(refused));
	free(env);
}
END_TEST

/* Opening a store loads its driver only, the one the full load would
 * pick; a full load afterwards neither loads nor refuses it again. */
START_TEST(test_need_one)
{
	char *env = mf_strdup_printf("%s:%s", dup_dir, drv_dir);
	const struct mf_driver *drv;

	setenv("MAILFERRY_DRIVER_PATH", env, 1);
	setenv("MAILFERRY_SKIP_DEFAULT_DIR", "1", 1);
	mf_drivers_set_log_refusals(false);
	/* a refused file on the way is recorded, the next one serves */
	drv = mf_driver_need("tname");
	ck_assert_ptr_null(drv);
	ck_assert_uint_eq(mf_driver_refused_count(), 1);
	drv = mf_driver_need("tgood");
	ck_assert_ptr_nonnull(drv);
	ck_assert_ptr_nonnull(strstr(drv->path, dup_dir));
	ck_assert_uint_eq(mf_driver_count(), 1);
	ck_assert_ptr_eq(mf_driver_need("tgood"), drv);
	ck_assert_ptr_null(mf_driver_need("../tgood"));
	ck_assert_ptr_null(mf_driver_need("nosuch"));
	ck_assert_uint_eq(mf_driver_count(), 1);
	/* the full load: the rest (7 more refused, the second tgood a
	 * duplicate), neither the loaded tgood nor tname tried again */
	ck_assert_int_eq(mf_drivers_load(), 9);
	ck_assert_uint_eq(mf_driver_count(), 1);
	for (size_t i = 0; i < mf_driver_refused_count(); i++) {
		const struct mf_driver_refusal *r = mf_driver_refused_at(i);

		ck_assert_str_ne(r->path, drv->path);
		if (strstr(r->reason, "duplicate") != NULL)
			ck_assert_ptr_nonnull(strstr(r->path, drv_dir));
	}
	free(env);
}
END_TEST

START_TEST(test_search_default_dir)
{
	unsetenv("MAILFERRY_DRIVER_PATH");
	unsetenv("MAILFERRY_SKIP_DEFAULT_DIR");
	mf_drivers_load();
	ck_assert_uint_eq(mf_driver_dir_count(), 1);
	ck_assert_str_eq(mf_driver_dir_at(0), MF_DRIVER_DIR);
}
END_TEST

static void use_test_drivers(void)
{
	setenv("MAILFERRY_DRIVER_PATH", drv_dir, 1);
	setenv("MAILFERRY_SKIP_DEFAULT_DIR", "1", 1);
	mf_drivers_set_log_refusals(false);
}

START_TEST(test_storage_open)
{
	struct mf_settings *set = mf_settings_new();
	struct mf_storage *storage = NULL;
	char *error = NULL;

	use_test_drivers();
	ck_assert_msg(mf_storage_open("tgood:/x/%n:K=V", set, "u@d", "/h", 0,
	                              &storage, &error) == 0,
	              "%s", error);
	ck_assert_str_eq(storage->driver->desc->name, "tgood");
	ck_assert_str_eq(storage->info->display, "test store");
	ck_assert_int_eq(storage->info->hier_sep, '/');
	ck_assert_str_eq(storage->location, "tgood:/x/%n:K=V");
	ck_assert_str_eq(mf_storage_error(storage), "");
	ck_assert(MF_HAS_OP(storage, msg_open));
	ck_assert(!MF_HAS_OP(storage, copy));
	mf_storage_close(&storage);
	ck_assert_ptr_null(storage);
	mf_storage_close(&storage);
	mf_settings_free(&set);
}
END_TEST

START_TEST(test_storage_open_errors)
{
	struct mf_settings *set = mf_settings_new();
	struct mf_storage *storage = NULL;
	char *error = NULL;

	use_test_drivers();
	ck_assert_int_eq(mf_storage_open("tgood:missing", NULL, NULL, NULL, 0,
	                                 &storage, &error),
	                 MAILFERRY_E_NOTFOUND);
	ck_assert_str_eq(error,
	                 "tgood:missing: open failed: no store at missing");
	free(error);
	ck_assert_ptr_null(storage);

	ck_assert_int_eq(mf_storage_open("tgood:/x:BAD=1", NULL, NULL, NULL, 0,
	                                 &storage, &error),
	                 MAILFERRY_E_INVALID);
	ck_assert_str_eq(error,
	                 "tgood:/x:BAD=1: open failed: unknown option BAD=1");
	free(error);

	ck_assert_int_eq(
	    mf_storage_open("nosuch:/x", NULL, NULL, NULL, 0, &storage, &error),
	    MAILFERRY_E_NOTFOUND);
	ck_assert_msg(mf_str_begins(error, "nosuch:/x: no driver 'nosuch' "
	                                   "found (searched "),
	              "%s", error);
	ck_assert_ptr_nonnull(strstr(error, drv_dir));
	free(error);

	ck_assert_int_eq(
	    mf_storage_open("nodriver", NULL, NULL, NULL, 0, &storage, &error),
	    MAILFERRY_E_INVALID);
	ck_assert_ptr_nonnull(strstr(error, "expected driver:path"));
	free(error);

	/* settings reach the driver through api->setting() */
	mf_settings_set(set, "tgood_stop", "asked to");
	ck_assert_int_eq(
	    mf_storage_open("tgood:/x", set, NULL, NULL, 0, &storage, &error),
	    MAILFERRY_E_PERM);
	ck_assert_str_eq(error, "tgood:/x: open failed: stopped: asked to");
	free(error);
	/* ... and the global settings when the storage has none */
	mf_core_set_settings(set);
	ck_assert_int_eq(
	    mf_storage_open("tgood:/x", NULL, NULL, NULL, 0, &storage, &error),
	    MAILFERRY_E_PERM);
	free(error);
	mf_core_set_settings(NULL);
	mf_settings_free(&set);
}
END_TEST

START_TEST(test_core_api)
{
	const struct mailferry_core_api *api = mf_core_api();
	struct mf_settings *set = mf_settings_new();
	struct mf_storage *storage = NULL;
	struct mailferry_ctx *ctx;
	unsigned char a[32], b[32];
	char *error = NULL, *p;
	FILE *log;
	char line[256];

	ck_assert_uint_eq(api->abi_major, MAILFERRY_ABI_MAJOR);
	ck_assert_uint_eq(api->abi_minor, MAILFERRY_ABI_MINOR);
	ck_assert_uint_eq(api->struct_size, sizeof(*api));

	use_test_drivers();
	mf_settings_set(set, "mail_fsync", "never");
	ck_assert_int_eq(
	    mf_storage_open("tgood:/y", set, NULL, NULL, 0, &storage, &error),
	    0);
	ctx = (struct mailferry_ctx *)storage;
	ck_assert_int_eq(api->set_error(ctx, MAILFERRY_E_EXISTS, "box %s", "A"),
	                 MAILFERRY_E_EXISTS);
	ck_assert_str_eq(mf_storage_error(storage), "box A");
	ck_assert_int_eq(storage->last_error, MAILFERRY_E_EXISTS);
	ck_assert_int_eq(api->set_error(ctx, MAILFERRY_E_TEMP, "second"),
	                 MAILFERRY_E_TEMP);
	ck_assert_str_eq(mf_storage_error(storage), "second");
	ck_assert_str_eq(api->setting(ctx, "mail_fsync"), "never");
	ck_assert_ptr_null(api->setting(ctx, "unset_key"));
	ck_assert_ptr_null(api->setting(NULL, "mail_fsync"));

	/* log lines carry the location; debug only with -D */
	log = tmpfile();
	ck_assert_ptr_nonnull(log);
	ck_assert_int_ne(dup2(fileno(log), STDERR_FILENO), -1);
	mf_log_set_level(MF_LOG_INFO);
	api->log(ctx, MAILFERRY_LOG_DEBUG, "hidden %d", 1);
	api->log(ctx, MAILFERRY_LOG_WARNING, "shown %d", 2);
	mf_log_set_level(MF_LOG_DEBUG);
	api->log(ctx, MAILFERRY_LOG_DEBUG, "debug %d", 3);
	api->set_error(NULL, MAILFERRY_E_TEMP, "no ctx");
	fflush(stderr);
	rewind(log);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), log));
	ck_assert_str_eq(line, "mailferry: warning: tgood:/y: shown 2\n");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), log));
	ck_assert_str_eq(line, "mailferry: debug: tgood:/y: debug 3\n");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), log));
	ck_assert_str_eq(line, "mailferry: error: no ctx\n");
	fclose(log);

	ck_assert_int_eq(api->random(a, sizeof(a)), 0);
	ck_assert_int_eq(api->random(b, sizeof(b)), 0);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	p = api->alloc(10);
	ck_assert_ptr_nonnull(p);
	p = api->realloc(p, 100);
	ck_assert_ptr_nonnull(p);
	api->free(p);
	api->free(NULL);

	ck_assert_int_eq(api->should_stop(ctx), 0);
	mf_core_install_signal_handlers();
	ck_assert_int_eq(raise(SIGTERM), 0);
	ck_assert_int_ne(api->should_stop(ctx), 0);
	ck_assert(mf_core_should_stop());
	mf_storage_close(&storage);
	mf_settings_free(&set);
}
END_TEST

START_TEST(test_error_names)
{
	ck_assert_str_eq(mf_error_name(MAILFERRY_E_NOTFOUND), "not found");
	ck_assert_str_eq(mf_error_name(MAILFERRY_E_INVALID),
	                 "invalid argument");
	ck_assert_str_eq(mf_error_name(-999), "unknown error");
}
END_TEST

int main(void)
{
	const char *top = getenv("MF_TOP_BUILDDIR");
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("drivers");
	SRunner *sr;
	int failed;

	if (top == NULL)
		top = ".";
	drv_dir = mf_strdup_printf("%s/tests/unit/drivers/.libs", top);
	dup_dir = mf_strdup_printf("%s/tests/unit/drivers/dup/.libs", top);
	tcase_add_test(tc, test_good);
	tcase_add_test(tc, test_wrong_major);
	tcase_add_test(tc, test_newer_minor);
	tcase_add_test(tc, test_missing_entry);
	tcase_add_test(tc, test_entry_null);
	tcase_add_test(tc, test_name_mismatch);
	tcase_add_test(tc, test_small_structs);
	tcase_add_test(tc, test_null_slot);
	tcase_add_test(tc, test_dlopen_errors);
	tcase_add_test(tc, test_duplicate);
	tcase_add_test(tc, test_search_path);
	tcase_add_test(tc, test_need_one);
	tcase_add_test(tc, test_search_default_dir);
	tcase_add_test(tc, test_storage_open);
	tcase_add_test(tc, test_storage_open_errors);
	tcase_add_test(tc, test_core_api);
	tcase_add_test(tc, test_error_names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	/* every test starts from an empty loader */
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free(drv_dir);
	free(dup_dir);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
