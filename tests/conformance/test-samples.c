/* SPDX-License-Identifier: MIT */
/*
 * test-samples.c - the two bundled samples hold the same mail: every
 * message of tests/data/sample-eml is in tests/data/sample-maildir, in the
 * same mailbox, byte for byte, with the flags its file name carries. Read
 * through the maildir driver (on a copy: reading creates index files).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "conf-tests.h"

/* Flags each sample-maildir message must have, by mailbox and position in
 * the sample-eml mailbox (the file names' ":2," suffixes; new/ = none). */
struct sample_flags {
	const char *box;
	uint32_t flags[8];
};
#define S MAILFERRY_FLAG_SEEN
#define R MAILFERRY_FLAG_ANSWERED
#define F MAILFERRY_FLAG_FLAGGED
#define D MAILFERRY_FLAG_DRAFT
static const struct sample_flags sample_flags[] = {
    {"INBOX", {S, R | S, F | S, S, 0, S, 0, 0}},
    {"Archiv", {S, R | S, 0}},
    {"Archiv/\xc3\x9c"
     "ber",
     {S, F | R | S, S, D | S, 0}},
    {"Lists", {F | S, S, 0, 0}},
};
#undef S
#undef R
#undef F
#undef D

START_TEST(test_sample_maildir)
{
	const struct mf_driver *drv = mf_driver_find("maildir");
	struct conf_env env;
	size_t checked = 0;
	char *cmd;

	if (drv == NULL) {
		printf("sample-maildir check skipped: no maildir driver\n");
		return;
	}
	memset(&env, 0, sizeof(env));
	env.name = "maildir";
	env.tmp = mf_strdup_printf("%s/sample-XXXXXX", conf_tmp_root);
	ck_assert_ptr_nonnull(mkdtemp(env.tmp));
	cmd = mf_strdup_printf("cp -R '%s/tests/data/sample-maildir' '%s/md'",
	                       conf_srcdir, env.tmp);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	env.location = mf_strdup_printf("maildir:%s/md", env.tmp);
	conf_reopen(&env);

	for (size_t b = 0; b < MF_N_ELEMENTS(sample_flags); b++) {
		const struct conf_box *fbox =
		    conf_fixture_box(sample_flags[b].box);
		struct mailferry_mailbox *box;
		conf_recs_t recs;

		ck_assert_ptr_nonnull(fbox);
		box = conf_box_open(&env, fbox->name);
		conf_msgs(&env, box, 1, UINT32_MAX, MAILFERRY_FIELD_FLAGS,
		          &recs);
		ck_assert_msg(recs.count == fbox->msgs.count,
		              "sample-maildir '%s' has %zu messages, "
		              "sample-eml %zu",
		              fbox->name, recs.count, fbox->msgs.count);
		for (size_t m = 0; m < fbox->msgs.count; m++) {
			const struct conf_msg *want = &fbox->msgs.items[m];
			int found = 0;

			for (size_t r = 0; r < recs.count; r++) {
				size_t size;
				char *data = conf_read_msg(
				    &env, box, recs.items[r].uid, 65536, &size);
				if (size == want->size &&
				    memcmp(data, want->data, size) == 0) {
					ck_assert_uint_eq(
					    recs.items[r].flags &
					        MAILFERRY_FLAGS_MASK,
					    sample_flags[b].flags[m]);
					found++;
				}
				free(data);
			}
			ck_assert_msg(found == 1,
			              "%s is %d times in sample-maildir '%s'",
			              want->origin, found, fbox->name);
			checked++;
		}
		conf_recs_free(&recs);
		CONF_OPS(&env)->mailbox_close(&box);
	}
	ck_assert_uint_eq(checked, 20);
	conf_end(&env);
}
END_TEST

void conf_add_sample_tests(Suite *s)
{
	TCase *tc = tcase_create("samples");

	tcase_add_test(tc, test_sample_maildir);
	suite_add_tcase(s, tc);
}
