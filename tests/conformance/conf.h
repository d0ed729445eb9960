/* SPDX-License-Identifier: MIT */
/*
 * conf.h - the driver conformance suite: one Check suite run against every
 * driver the loader finds. Each test gets a fresh location from the
 * factory for the driver's kind (conf-env.c), optionally filled with the
 * fixture (conf-fixture.c), and talks to the driver only through the ABI
 * (struct mf_storage and its ops), as the engine does.
 */
#ifndef CONF_H
#define CONF_H

#include <check.h>
#include <mailferry/driver.h>
#include "mf-array.h"
#include "mf-driver.h"

/* ---- the fixture: what a populated location must contain ---- */

struct conf_msg {
	char *data;
	size_t size;
	char *origin; /* file or description, for failure messages */
};

struct conf_box {
	char *name; /* '/'-separated; converted to the storage's separator */
	MF_ARRAY(struct conf_msg) msgs;
};

struct conf_fixture {
	MF_ARRAY(struct conf_box) boxes;
};

/* The sample tree (tests/data/sample-eml) plus generated edge cases (CRLF,
 * no final newline, 8-bit, a long line) in mailbox "Edge". Loaded once. */
const struct conf_fixture *conf_fixture(void);
const struct conf_box *conf_fixture_box(const char *name);

/* The large message: CONF_BIG_SIZE bytes generated on the fly, so neither
 * side of the test ever holds it in memory. */
#define CONF_BIG_SIZE ((uint64_t)64 * 1024 * 1024)
#define CONF_BIG_BOX "Big"
struct conf_big_gen {
	uint64_t pos;
	int crlf;       /* produce it with CRLF line endings */
	int pending_lf; /* the '\n' after an emitted '\r' */
};
/* Its size with CRLF line endings. */
uint64_t conf_big_crlf_size(void);
/* Next up to len bytes of the big message into buf; returns the count
 * (0 at the end). */
size_t conf_big_read(struct conf_big_gen *gen, void *buf, size_t len);
/* Write the whole big message to path. */
void conf_big_write_file(const char *path);

/* ---- per-test environment ---- */

enum conf_setup {
	CONF_EMPTY = 0,        /* a fresh, empty store */
	CONF_FIXTURE = 1 << 0, /* ... filled with the fixture */
	CONF_BIG = 1 << 1,     /* ... plus the big message in CONF_BIG_BOX */
};

struct conf_env {
	const struct mf_driver *drv;
	const char *name; /* driver name */
	char *tmp;        /* this test's private directory */
	char *location;
	uint32_t open_flags;
	struct mf_storage *storage;
	uint32_t caps; /* the storage's run-time caps */
	char sep;
	int readonly;
	/* A protocol that cannot keep line endings (IMAP sends CRLF only):
	 * conf_same_body() then compares bodies with CR-LF taken as LF, and
	 * a few store-side freedoms of IMAP servers are allowed. */
	int remote;
};

/* MF_CONFORMANCE_DRIVERS="a,b": only these drivers (default: all). */
int conf_driver_selected(const char *name);
/* True when got is want byte for byte, or (env->remote) equal once every
 * CR-LF pair of both is taken as LF. */
int conf_same_body(const struct conf_env *env, const char *got, size_t got_size,
                   const char *want, size_t want_size);

/* Prepare env for driver number idx. Returns 0, or -1 when the test does
 * not apply to that driver (a line saying why was printed). */
int conf_begin(struct conf_env *env, int idx, unsigned setup);
void conf_end(struct conf_env *env);
/* Close and reopen the storage (to prove state is on disk). */
void conf_reopen(struct conf_env *env);
/* True (and prints a line) when the storage lacks caps. */
int conf_skip_without(struct conf_env *env, uint32_t caps, const char *what);

/* The directory every test's temp dir lives in (set up by main). */
extern const char *conf_tmp_root;
/* The source tree, for the fixture files. */
extern const char *conf_srcdir;

/* ---- helpers around the ABI; all fail the test on error ---- */

#define CONF_OPS(env) ((env)->storage->ops)
#define CONF_ST(env) ((env)->storage->st)
#define CONF_ERR(env) mf_storage_error((env)->storage)

/* fixture name ("a/b") -> storage name with its separator; static buffer */
const char *conf_name(const struct conf_env *env, const char *name);

struct conf_listed {
	char *name;
	uint32_t flags;
	struct mailferry_mailbox_status status;
};
typedef MF_ARRAY(struct conf_listed) conf_list_t;
void conf_list(struct conf_env *env, uint32_t flags, conf_list_t *list_r);
const struct conf_listed *conf_list_find(const conf_list_t *list,
                                         const char *name);
void conf_list_free(conf_list_t *list);

struct mailferry_mailbox *conf_box_open(struct conf_env *env, const char *name);
void conf_box_status(struct conf_env *env, struct mailferry_mailbox *box,
                     struct mailferry_mailbox_status *status_r);

/* A copy of one message record from msg_iter. */
struct conf_rec {
	uint32_t uid;
	char *guid; /* NULL when none */
	uint32_t flags;
	char **keywords; /* NULL-terminated, sorted; never NULL */
	uint64_t modseq;
	int64_t received_date;
	uint64_t physical_size, virtual_size;
	int64_t save_date;
	char *pop3_uidl; /* NULL when none */
	uint32_t pop3_order;
};
typedef MF_ARRAY(struct conf_rec) conf_recs_t;
/* Iterate [first, last] with fields; checks ascending UIDs and that next
 * keeps returning 0 once exhausted. */
void conf_msgs(struct conf_env *env, struct mailferry_mailbox *box,
               uint32_t first, uint32_t last, uint32_t fields,
               conf_recs_t *recs_r);
const struct conf_rec *conf_recs_find(const conf_recs_t *recs, uint32_t uid);
void conf_recs_free(conf_recs_t *recs);

/* Read a whole message with reads of chunk bytes; checks the stream keeps
 * returning 0 bytes after the end. Returns malloc'd data. */
char *conf_read_msg(struct conf_env *env, struct mailferry_mailbox *box,
                    uint32_t uid, size_t chunk, size_t *size_r);

/* uid must not open: msg_open fails with NOTFOUND or EXPUNGED, or (a
 * pipelining driver) succeeds and the first read fails so. Never an
 * empty body. what names the case in messages. */
void conf_expect_no_msg(struct conf_env *env, struct mailferry_mailbox *box,
                        uint32_t uid, const char *what);

/* Message i of the fixture's INBOX. */
const struct conf_msg *conf_fixture_msg(size_t i);
/* Save fixture INBOX messages [0, n) plainly; returns their UIDs. */
uint32_t *conf_save_plain(struct conf_env *env, struct mailferry_mailbox *box,
                          size_t n);
/* uid must read back as want (conf_same_body). */
void conf_check_body(struct conf_env *env, struct mailferry_mailbox *box,
                     uint32_t uid, const struct conf_msg *want);

/* Save messages in one transaction. Returns the commit result's UIDs in
 * *uids_r (count n; caller frees). */
struct conf_save {
	const void *data;
	size_t size;
	uint32_t uid;
	const char *guid;
	uint32_t flags;
	const char *const *keywords;
	int64_t received_date;
	int64_t save_date;
	const char *pop3_uidl;
	uint32_t pop3_order;
};
uint32_t *conf_save_msgs(struct conf_env *env, struct mailferry_mailbox *box,
                         const struct conf_save *saves, size_t n,
                         uint32_t *uidvalidity_r);
/* Save the big message streamed from its generator; returns its UID. */
uint32_t conf_save_big(struct conf_env *env, struct mailferry_mailbox *box);
/* Check that uid holds exactly the big message, streaming. */
void conf_check_big(struct conf_env *env, struct mailferry_mailbox *box,
                    uint32_t uid);
void conf_create(struct conf_env *env, const char *name, const uint8_t *guid16,
                 uint32_t uidvalidity);

/* Size of data with every bare LF counted as CRLF. */
uint64_t conf_crlf_size(const void *data, size_t size);
/* rm -rf path */
void conf_rmtree(const char *path);
/* Peak resident set size of this process, in KiB. */
long conf_maxrss_kib(void);

#endif
