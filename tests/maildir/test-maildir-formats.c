/* SPDX-License-Identifier: MIT */
/* Unit tests of the maildir driver's file formats: modified UTF-7 names,
 * the file name grammar, dovecot-keywords, dovecot-uidlist, layouts and the
 * dotlock. Expected values are the ones Dovecot 2.3.19 wrote (samples in
 * dovecot-formats.md §2-§3). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mailferry/driver.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-file.h"
#include "maildir-dotlock.h"
#include "maildir-filename.h"
#include "maildir-keywords.h"
#include "maildir-layout.h"
#include "maildir-uidlist.h"
#include "mf-utf7.h"

/* ---- warnings collected by the parsers ---- */
static struct mf_buf warnings;

static void collect(void *context, const char *text)
{
	(void)context;
	mf_buf_append_str(&warnings, text);
	mf_buf_append_c(&warnings, '\n');
}

static const struct maildir_warn warn = {collect, NULL};

static void reset_warnings(void)
{
	mf_buf_truncate(&warnings, 0);
}

/* ---- mUTF-7 ---- */

static const char *to7(const char *utf8)
{
	static struct mf_buf buf;

	mf_buf_truncate(&buf, 0);
	ck_assert_int_eq(mf_utf8_to_mutf7(utf8, &buf), 0);
	return mf_buf_str(&buf);
}

static const char *to8(const char *utf7)
{
	static struct mf_buf buf;

	mf_buf_truncate(&buf, 0);
	if (mf_mutf7_to_utf8(utf7, &buf) < 0)
		return NULL;
	return mf_buf_str(&buf);
}

START_TEST(test_utf7_dovecot_samples)
{
	/* what Dovecot wrote on disk */
	ck_assert_str_eq(to7("Entwürfe"), "Entw&APw-rfe");
	ck_assert_str_eq(to7("Wörk"), "W&APY-rk");
	ck_assert_str_eq(to7("A&B"), "A&-B");
	ck_assert_str_eq(to7("x~y"), "x~y");
	ck_assert_str_eq(to7("日本語"), "&ZeVnLIqe-");
	ck_assert_str_eq(to7("😀"), "&2D3eAA-");
	ck_assert_str_eq(to8("Entw&APw-rfe"), "Entwürfe");
	ck_assert_str_eq(to8("A&-B"), "A&B");
	ck_assert_str_eq(to8("&ZeVnLIqe-"), "日本語");
	ck_assert_str_eq(to8("&2D3eAA-"), "😀");
	ck_assert_str_eq(to8("plain"), "plain");
}
END_TEST

START_TEST(test_utf7_invalid)
{
	struct mf_buf buf = MF_BUF_INIT;

	ck_assert_ptr_null(to8("&APw"));     /* unterminated */
	ck_assert_ptr_null(to8("&AGE-"));    /* shifted plain 'a' */
	ck_assert_ptr_null(to8("&-&Zz-"));   /* bad padding bits */
	ck_assert_ptr_null(to8("&2D0-"));    /* lone high surrogate */
	ck_assert_ptr_null(to8("\xc3\xa4")); /* raw 8-bit */
	ck_assert_int_eq(mf_utf8_to_mutf7("\xff", &buf), -1);
	ck_assert_int_eq(mf_utf8_to_mutf7("\xc0\x80", &buf), -1);
	mf_buf_free(&buf);
}
END_TEST

START_TEST(test_utf7_roundtrip)
{
	static const char *names[] = {
	    "a",           "ä",        "äöü",
	    "a&b&&c",      "Ελληνικά", "中文 mixed ASCII",
	    "emoji 🎉 end", "~tilde",   " "};

	for (size_t i = 0; i < MF_N_ELEMENTS(names); i++) {
		char *enc = mf_strdup(to7(names[i]));

		ck_assert_str_eq(to8(enc), names[i]);
		free(enc);
	}
}
END_TEST

/* ---- file names ---- */

START_TEST(test_fname_parse)
{
	struct maildir_fname_info info;
	uint64_t size;

	ck_assert_int_eq(
	    maildir_fname_parse_info(
	        "1795399982.M729395P20206.vm,S=148,W=156:2,Sa", &info),
	    0);
	ck_assert(info.has_info);
	ck_assert_uint_eq(info.flags, MAILFERRY_FLAG_SEEN);
	ck_assert_uint_eq(info.keywords, 1u);
	ck_assert_str_eq(info.unknown, "");
	ck_assert_int_eq(
	    maildir_fname_get_size(
	        "1795399982.M729395P20206.vm,S=148,W=156:2,Sa", 'S', &size),
	    0);
	ck_assert_uint_eq(size, 148);
	ck_assert_int_eq(
	    maildir_fname_get_size("x,S=148,W=156:2,Sa", 'W', &size), 0);
	ck_assert_uint_eq(size, 156);
	ck_assert_int_eq(maildir_fname_get_size("x,S=12x:2,", 'S', &size), -1);
	ck_assert_int_eq(maildir_fname_get_size("x:2,S=5", 'S', &size), -1);
	ck_assert_int_eq(maildir_fname_get_size("x,S=:2,", 'S', &size), -1);
	ck_assert_uint_eq(maildir_fname_base_len("abc,S=1:2,S"), 7);
	ck_assert_uint_eq(maildir_fname_base_len("abc"), 3);

	ck_assert_int_eq(maildir_fname_parse_info("x:2,DFRSTPaz,extra", &info),
	                 0);
	ck_assert_uint_eq(info.flags,
	                  MAILFERRY_FLAG_DRAFT | MAILFERRY_FLAG_FLAGGED |
	                      MAILFERRY_FLAG_ANSWERED | MAILFERRY_FLAG_SEEN |
	                      MAILFERRY_FLAG_DELETED);
	ck_assert_uint_eq(info.keywords, 1u | (1u << 25));
	ck_assert_str_eq(info.unknown, "P,extra");

	ck_assert_int_eq(maildir_fname_parse_info("x", &info), 0);
	ck_assert(!info.has_info);
	ck_assert_int_eq(maildir_fname_parse_info("x:1,foo", &info), 0);
	ck_assert(info.foreign_info);
}
END_TEST

START_TEST(test_fname_build)
{
	struct maildir_fname_info info;
	struct mf_buf buf = MF_BUF_INIT;

	/* sorted by ASCII, unknown letters and extra text kept */
	ck_assert_int_eq(maildir_fname_parse_info("b,S=1:2,PS,extra", &info),
	                 0);
	info.flags |= MAILFERRY_FLAG_DRAFT | MAILFERRY_FLAG_ANSWERED;
	info.keywords |= (1u << 1) | 1u;
	maildir_fname_build("b,S=1:2,PS,extra", &info, &buf);
	ck_assert_str_eq(mf_buf_str(&buf), "b,S=1:2,DPRSab,extra");

	mf_buf_truncate(&buf, 0);
	mf_zero(&info);
	maildir_fname_build("plain", &info, &buf);
	ck_assert_str_eq(mf_buf_str(&buf), "plain:2,");
	mf_buf_free(&buf);
}
END_TEST

START_TEST(test_fname_generate)
{
	struct mf_buf a = MF_BUF_INIT, b = MF_BUF_INIT;

	maildir_fname_generate(&a);
	maildir_fname_generate(&b);
	ck_assert_str_ne(mf_buf_str(&a), mf_buf_str(&b));
	ck_assert(strchr(mf_buf_str(&a), '/') == NULL);
	ck_assert(strchr(mf_buf_str(&a), ':') == NULL);
	ck_assert(strstr(mf_buf_str(&a), ".M") != NULL);
	ck_assert_int_lt(maildir_fname_cmp(mf_buf_str(&a), mf_buf_str(&b)), 0);
	/* numeric, not lexical order of the time */
	ck_assert_int_lt(maildir_fname_cmp("99.M5P1.h", "100.M1P1.h"), 0);
	ck_assert_int_lt(maildir_fname_cmp("100.M9P1.h", "100.M10P1.h"), 0);
	ck_assert(!maildir_fname_is_valid(".hidden"));
	ck_assert(!maildir_fname_is_valid("a\nb"));
	ck_assert(maildir_fname_is_valid("123.abc:2,S"));
	mf_buf_free(&a);
	mf_buf_free(&b);
}
END_TEST

/* Bare LFs counted per byte, the reference for maildir_count_bare_lf(). */
static uint64_t bare_lf_ref(const char *s, size_t len)
{
	uint64_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n' && (i == 0 || s[i - 1] != '\r');
	return n;
}

START_TEST(test_count_bare_lf)
{
	static const char *const samples[] = {
	    "",   "\n",        "\r\n",       "a\nb\r\nc\n\n\r\r\n",
	    "\r", "x\r\n\n\r", "no newline", "\n\n\n\r\n\r\n",
	};

	for (size_t k = 0; k < sizeof(samples) / sizeof(samples[0]); k++) {
		const char *s = samples[k];
		size_t len = strlen(s);

		/* whole, and split at every position (a CR ending one
		 * write and its LF starting the next) */
		for (size_t cut = 0; cut <= len; cut++) {
			bool last_cr = false;
			uint64_t n = maildir_count_bare_lf(s, cut, &last_cr);

			n +=
			    maildir_count_bare_lf(s + cut, len - cut, &last_cr);
			ck_assert_uint_eq(n, bare_lf_ref(s, len));
			ck_assert(last_cr == (len > 0 && s[len - 1] == '\r'));
		}
	}
}
END_TEST

/* ---- dovecot-keywords ---- */

START_TEST(test_keywords)
{
	struct maildir_keywords kw;
	static const char data[] =
	    "0 $Label1\n1 Junk\nbroken\n30 TooHigh\n2 junk\n3 \n5 Five\n";
	bool added;

	mf_zero(&kw);
	reset_warnings();
	maildir_keywords_parse(&kw, "dovecot-keywords", data, strlen(data),
	                       &warn);
	ck_assert_str_eq(kw.names[0], "$Label1");
	ck_assert_str_eq(kw.names[1], "Junk");
	ck_assert_ptr_null(kw.names[2]); /* duplicate (case-insensitive) */
	ck_assert_str_eq(kw.names[5], "Five");
	ck_assert_int_eq(maildir_keywords_lookup(&kw, "junk"), 1);
	ck_assert_int_eq(maildir_keywords_lookup(&kw, "nope"), -1);
	ck_assert_ptr_nonnull(strstr(mf_buf_str(&warnings), "line 3"));
	ck_assert_ptr_nonnull(strstr(mf_buf_str(&warnings), "line 4"));
	ck_assert_ptr_nonnull(strstr(mf_buf_str(&warnings), "duplicate"));
	ck_assert_int_eq(maildir_keywords_assign(&kw, "New", &added), 2);
	ck_assert(added);
	ck_assert_int_eq(maildir_keywords_assign(&kw, "new", &added), 2);
	ck_assert(!added);
	for (int i = 0; i < 30; i++) {
		char name[16];

		snprintf(name, sizeof(name), "k%d", i);
		(void)maildir_keywords_assign(&kw, name, &added);
	}
	ck_assert_int_eq(maildir_keywords_assign(&kw, "onemore", &added), -1);
	ck_assert(maildir_keyword_is_valid("$Label1"));
	ck_assert(!maildir_keyword_is_valid("a b"));
	ck_assert(!maildir_keyword_is_valid("\\Seen"));
	maildir_keywords_clear(&kw);
}
END_TEST

START_TEST(test_keywords_write_read)
{
	char dir[] = "/tmp/mf-kw.XXXXXX", *path, *error = NULL;
	struct maildir_keywords kw, kw2;
	struct mf_buf buf = MF_BUF_INIT;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	path = mf_strdup_printf("%s/dovecot-keywords", dir);
	mf_zero(&kw);
	mf_zero(&kw2);
	kw.names[0] = mf_strdup("$Label1");
	kw.names[1] = mf_strdup("Junk");
	ck_assert_int_eq(maildir_keywords_write(&kw, path, NULL, false, &error),
	                 0);
	ck_assert_int_eq(mf_file_read_all(path, &buf, &error), 0);
	ck_assert_str_eq(mf_buf_str(&buf), "0 $Label1\n1 Junk\n");
	ck_assert_int_eq(maildir_keywords_read(&kw2, path, NULL, &error), 0);
	ck_assert_str_eq(kw2.names[1], "Junk");
	maildir_keywords_clear(&kw);
	maildir_keywords_clear(&kw2);
	unlink(path);
	rmdir(dir);
	free(path);
	mf_buf_free(&buf);
}
END_TEST

/* ---- dovecot-uidlist ---- */

static void parse(struct maildir_uidlist *ul, const char *data)
{
	mf_zero(ul);
	reset_warnings();
	maildir_uidlist_parse(ul, "dovecot-uidlist", data, strlen(data), &warn);
}

START_TEST(test_uidlist_v3)
{
	struct maildir_uidlist ul;
	struct mf_buf out = MF_BUF_INIT, tmp = MF_BUF_INIT;
	static const char data[] =
	    "3 V1795399608 N1 G3ac36704b89f036ba342000083ecc375 Pxyz\n"
	    "1 G3bc36704b89f036ba342000083ecc375 :1795399903.M68193P19535."
	    "vm,S=148,W=156\n"
	    "3 G423cbe08b89f036bac42000083ecc375 W51 :1795399903.M68195P1953"
	    "5.vm,S=47\n";

	parse(&ul, data);
	ck_assert_uint_eq(ul.version, 3);
	ck_assert_uint_eq(ul.uidvalidity, 1795399608u);
	/* N1 is stale: the effective next UID is above the last line */
	ck_assert_uint_eq(ul.next_uid, 4);
	ck_assert(ul.have_guid);
	ck_assert_uint_eq(ul.recs.count, 2);
	ck_assert_uint_eq(ul.recs.items[1].uid, 3);
	ck_assert_str_eq(ul.recs.items[1].guid,
	                 "423cbe08b89f036bac42000083ecc375");
	ck_assert_str_eq(ul.recs.items[1].base,
	                 "1795399903.M68195P19535.vm,S=47");
	ck_assert_str_eq(maildir_uidlist_rec_ext(&ul.recs.items[1], 'W', &tmp),
	                 "51");
	ck_assert_str_eq(mf_buf_str(&warnings), "");
	ck_assert(!ul.needs_rewrite);
	maildir_uidlist_format(&ul, &out);
	ck_assert_str_eq(mf_buf_str(&out),
	                 "3 V1795399608 N4 G3ac36704b89f036ba342000083ecc375 "
	                 "Pxyz\n"
	                 "1 G3bc36704b89f036ba342000083ecc375 :1795399903.M6819"
	                 "3P19535.vm,S=148,W=156\n"
	                 "3 G423cbe08b89f036bac42000083ecc375 W51 :1795399903."
	                 "M68195P19535.vm,S=47\n");
	ck_assert_ptr_nonnull(maildir_uidlist_find_uid(&ul, 3));
	ck_assert_ptr_null(maildir_uidlist_find_uid(&ul, 2));
	maildir_uidlist_clear(&ul);
	mf_buf_free(&out);
	mf_buf_free(&tmp);
}
END_TEST

START_TEST(test_uidlist_v1)
{
	struct maildir_uidlist ul;

	parse(&ul, "1 1234 10\n3 a.b.c:2,S\n5 d.e.f\n12 too.high\n");
	ck_assert_uint_eq(ul.version, 1);
	ck_assert_uint_eq(ul.uidvalidity, 1234);
	ck_assert_uint_eq(ul.next_uid, 10);
	ck_assert_uint_eq(ul.recs.count, 2);
	ck_assert_str_eq(ul.recs.items[0].base, "a.b.c");
	ck_assert(ul.needs_rewrite);
	ck_assert_ptr_nonnull(strstr(mf_buf_str(&warnings), "line 4"));
	maildir_uidlist_clear(&ul);
}
END_TEST

START_TEST(test_uidlist_broken)
{
	struct maildir_uidlist ul;

	/* broken header: whole file ignored, with a warning */
	parse(&ul, "3 V0 N5 G00112233445566778899aabbccddeeff\n1 :a\n");
	ck_assert_uint_eq(ul.version, 0);
	ck_assert_uint_eq(ul.recs.count, 0);
	ck_assert_ptr_nonnull(strstr(mf_buf_str(&warnings), "header"));
	maildir_uidlist_clear(&ul);
	parse(&ul, "2 V1 N5\n");
	ck_assert_uint_eq(ul.version, 0);
	maildir_uidlist_clear(&ul);
	parse(&ul, "");
	ck_assert_uint_eq(ul.version, 0);
	ck_assert(ul.needs_rewrite);
	maildir_uidlist_clear(&ul);

	/* bad lines skipped, duplicates and disorder reported */
	parse(&ul, "3 V7 N2 G00112233445566778899aabbccddeeff\n"
	           "1 :one\n"
	           "garbage\n"
	           "0 :zero\n"
	           "4 :four\n"
	           "4 :four-again\n"
	           "3 :three-out-of-order\n"
	           "6 noext-colon\n"
	           "7 :dir/slash\n"
	           "8 :one\n"
	           "9 bad :nine\n"
	           "10 G :ten\n");
	ck_assert_uint_eq(ul.version, 3);
	ck_assert(ul.needs_rewrite);
	/* "one" listed again with UID 8: the later UID wins */
	ck_assert_uint_eq(ul.recs.count, 4);
	ck_assert_uint_eq(ul.recs.items[0].uid, 4);
	ck_assert_uint_eq(ul.recs.items[1].uid, 8);
	ck_assert_str_eq(ul.recs.items[1].base, "one");
	ck_assert_uint_eq(ul.recs.items[2].uid, 9);
	ck_assert_str_eq(ul.recs.items[2].base, "nine");
	ck_assert_uint_eq(ul.recs.items[3].uid, 10);
	ck_assert_ptr_null(ul.recs.items[3].guid);
	ck_assert_uint_eq(ul.next_uid, 11);
	for (int line = 3; line <= 9; line++) {
		char needle[16];

		if (line == 5)
			continue; /* "4 :four" is fine */
		snprintf(needle, sizeof(needle), "line %d", line);
		ck_assert_msg(strstr(mf_buf_str(&warnings), needle) != NULL,
		              "no warning for %s in:\n%s", needle,
		              mf_buf_str(&warnings));
	}
	ck_assert_ptr_nonnull(strstr(mf_buf_str(&warnings), "listed twice"));
	maildir_uidlist_clear(&ul);
}
END_TEST

START_TEST(test_uidlist_write_read)
{
	char dir[] = "/tmp/mf-ul.XXXXXX", *path, *error = NULL;
	struct maildir_uidlist ul, ul2;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	path = mf_strdup_printf("%s/dovecot-uidlist", dir);
	mf_zero(&ul);
	mf_zero(&ul2);
	ul.version = 3;
	ul.uidvalidity = 42;
	ul.next_uid = 1;
	ul.have_guid = true;
	memset(ul.guid, 0xab, 16);
	maildir_uidlist_add(&ul, 5, "five,S=3,W=4", "myguid", NULL);
	maildir_uidlist_add(&ul, 9, "nine", NULL, "P1 O2");
	ck_assert_uint_eq(ul.next_uid, 10);
	ck_assert_int_eq(maildir_uidlist_write(&ul, path, NULL, true, &error),
	                 0);
	ck_assert_int_eq(maildir_uidlist_read(&ul2, path, &warn, &error), 0);
	ck_assert_uint_eq(ul2.recs.count, 2);
	ck_assert_str_eq(ul2.recs.items[0].guid, "myguid");
	ck_assert_str_eq(ul2.recs.items[1].ext, "P1 O2");
	ck_assert_uint_eq(ul2.next_uid, 10);
	ck_assert_int_eq(memcmp(ul2.guid, ul.guid, 16), 0);
	/* missing file: empty, no error */
	unlink(path);
	ck_assert_int_eq(maildir_uidlist_read(&ul2, path, &warn, &error), 0);
	ck_assert_uint_eq(ul2.version, 0);
	maildir_uidlist_clear(&ul);
	maildir_uidlist_clear(&ul2);
	rmdir(dir);
	free(path);
}
END_TEST

/* ---- layouts ---- */

static const char *dir_of(enum maildir_layout layout, const char *vname)
{
	static struct mf_buf buf;
	const char *why;

	mf_buf_truncate(&buf, 0);
	if (maildir_layout_to_dir(layout, vname, &buf, &why) < 0)
		return NULL;
	return mf_buf_str(&buf);
}

START_TEST(test_layout)
{
	struct mf_buf buf = MF_BUF_INIT;

	ck_assert_str_eq(dir_of(MAILDIR_LAYOUT_MAILDIRPP, "Wörk/Sub"),
	                 ".W&APY-rk.Sub");
	ck_assert_str_eq(dir_of(MAILDIR_LAYOUT_FS, "Wörk/Sub"), "W&APY-rk/Sub");
	ck_assert_str_eq(dir_of(MAILDIR_LAYOUT_MAILDIRPP, "inbox"), ".INBOX");
	ck_assert_str_eq(dir_of(MAILDIR_LAYOUT_FS, "INBOX"), "INBOX");
	ck_assert_ptr_null(dir_of(MAILDIR_LAYOUT_MAILDIRPP, "a.b"));
	ck_assert_ptr_nonnull(dir_of(MAILDIR_LAYOUT_FS, "a.b"));
	ck_assert_ptr_null(dir_of(MAILDIR_LAYOUT_FS, "x/cur"));
	ck_assert_ptr_null(dir_of(MAILDIR_LAYOUT_FS, "a//b"));
	ck_assert_ptr_null(dir_of(MAILDIR_LAYOUT_FS, ".."));
	ck_assert_ptr_null(dir_of(MAILDIR_LAYOUT_FS, ""));
	ck_assert_ptr_null(dir_of(MAILDIR_LAYOUT_FS, "a/"));
	ck_assert_ptr_null(dir_of(MAILDIR_LAYOUT_MAILDIRPP, "a\tb"));
	ck_assert_int_eq(maildir_layout_pp_decode(".W&APY-rk.Sub", &buf), 0);
	ck_assert_str_eq(mf_buf_str(&buf), "Wörk/Sub");
	mf_buf_truncate(&buf, 0);
	ck_assert_int_eq(maildir_layout_pp_decode(".a..b", &buf), -1);
	mf_buf_truncate(&buf, 0);
	ck_assert_int_eq(maildir_layout_pp_decode("..", &buf), -1);
	mf_buf_free(&buf);
}
END_TEST

/* ---- dotlock ---- */

START_TEST(test_dotlock)
{
	char dir[] = "/tmp/mf-lk.XXXXXX", *path, *lockpath, *error = NULL;
	struct maildir_dotlock *lock = NULL, *lock2 = NULL;
	struct mf_buf content = MF_BUF_INIT;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	path = mf_strdup_printf("%s/dovecot-uidlist", dir);
	lockpath = mf_strdup_printf("%s.lock", path);
	ck_assert_int_eq(
	    maildir_dotlock_take(path, NULL, 5, 120, &lock, &error), 1);
	ck_assert_int_eq(mf_file_read_all(lockpath, &content, &error), 0);
	ck_assert_ptr_nonnull(strchr(mf_buf_str(&content), ':'));
	/* held: a second taker times out */
	ck_assert_int_eq(
	    maildir_dotlock_take(path, NULL, 1, 120, &lock2, &error), 0);
	ck_assert_ptr_nonnull(strstr(error, "timed out"));
	mf_free(&error);
	maildir_dotlock_release(&lock);
	ck_assert_int_eq(access(lockpath, F_OK), -1);
	/* a lock of a dead process on this host is stale */
	fd = open(lockpath, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	{
		char host[256], text[300];
		pid_t child = fork();

		if (child == 0)
			_exit(0);
		waitpid(child, NULL, 0);
		gethostname(host, sizeof(host));
		snprintf(text, sizeof(text), "%d:%s", (int)child, host);
		ck_assert_int_eq(mf_write_full(fd, text, strlen(text)), 0);
		close(fd);
	}
	ck_assert_int_eq(
	    maildir_dotlock_take(path, NULL, 5, 120, &lock, &error), 1);
	maildir_dotlock_release(&lock);
	rmdir(dir);
	free(path);
	free(lockpath);
	mf_buf_free(&content);
}
END_TEST

static Suite *formats_suite(void)
{
	Suite *s = suite_create("maildir-formats");
	TCase *tc = tcase_create("all");

	tcase_add_test(tc, test_utf7_dovecot_samples);
	tcase_add_test(tc, test_utf7_invalid);
	tcase_add_test(tc, test_utf7_roundtrip);
	tcase_add_test(tc, test_fname_parse);
	tcase_add_test(tc, test_fname_build);
	tcase_add_test(tc, test_fname_generate);
	tcase_add_test(tc, test_count_bare_lf);
	tcase_add_test(tc, test_keywords);
	tcase_add_test(tc, test_keywords_write_read);
	tcase_add_test(tc, test_uidlist_v3);
	tcase_add_test(tc, test_uidlist_v1);
	tcase_add_test(tc, test_uidlist_broken);
	tcase_add_test(tc, test_uidlist_write_read);
	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_dotlock);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(formats_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	mf_buf_free(&warnings);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
