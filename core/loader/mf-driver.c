/* SPDX-License-Identifier: MIT */
/*
 * Finding and loading driver shared objects. Every check that can refuse a
 * file produces one line naming the file and the reason, because a user
 * staring at "driver not found" needs to know which .so was skipped and why.
 * Loaded objects stay resident for the life of the process (no dlclose):
 * drivers may have registered atexit handlers or handed out static data,
 * and sanitizers need the code mapped to symbolize leaks.
 */
#include <dirent.h>
#include <sys/stat.h>
#include <ltdl.h>
#include <stdio.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-array.h"
#include "mf-buf.h"
#include "mf-driver.h"
#include "mf-log.h"

static MF_ARRAY(struct mf_driver *) drivers;
static MF_ARRAY(struct mf_driver_refusal) refusals;
static MF_ARRAY(char *) search_dirs;
static bool drivers_loaded, search_dirs_ready, ltdl_ready, log_refusals = true;

void mf_drivers_set_log_refusals(bool log_them)
{
	log_refusals = log_them;
}

size_t mf_driver_count(void)
{
	return drivers.count;
}

const struct mf_driver *mf_driver_at(size_t idx)
{
	return idx < drivers.count ? drivers.items[idx] : NULL;
}

const struct mf_driver *mf_driver_find(const char *name)
{
	for (size_t i = 0; i < drivers.count; i++) {
		if (strcmp(drivers.items[i]->desc->name, name) == 0)
			return drivers.items[i];
	}
	return NULL;
}

size_t mf_driver_refused_count(void)
{
	return refusals.count;
}

const struct mf_driver_refusal *mf_driver_refused_at(size_t idx)
{
	return idx < refusals.count ? &refusals.items[idx] : NULL;
}

size_t mf_driver_dir_count(void)
{
	return search_dirs.count;
}

const char *mf_driver_dir_at(size_t idx)
{
	return idx < search_dirs.count ? search_dirs.items[idx] : NULL;
}

static int refuse(char **error_r, const char *path, const char *fmt, ...)
    MF_PRINTF(3, 4);
static int refuse(char **error_r, const char *path, const char *fmt, ...)
{
	struct mf_buf buf = MF_BUF_INIT;
	va_list args;

	mf_buf_printf(&buf, "driver %s refused: ", path);
	va_start(args, fmt);
	mf_buf_vprintf(&buf, fmt, args);
	va_end(args);
	*error_r = mf_buf_detach(&buf);
	return -1;
}

/* The driver name a file must carry: its base name without ".so". NULL
 * when the file name is not <name>.so with a valid name. */
/* A driver name: a-z 0-9 _ - */
static bool name_is_valid(const char *name, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

static char *name_from_path(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t len;

	base = base == NULL ? path : base + 1;
	if (!mf_str_ends(base, ".so"))
		return NULL;
	len = strlen(base) - 3;
	if (len == 0)
		return NULL;
	if (!name_is_valid(base, len))
		return NULL;
	return mf_strndup(base, len);
}

#define OPS_HAS(ops, slot)                                                     \
	((ops)->struct_size >=                                                 \
	 offsetof(struct mailferry_driver_ops, slot) + sizeof((ops)->slot))

/* Name of the first required slot that is missing, or NULL. */
static const char *missing_required_slot(const struct mailferry_driver *desc)
{
	const struct mailferry_driver_ops *ops = desc->ops;
	bool rw = (desc->caps & MAILFERRY_CAP_READONLY) == 0;

#define REQ(slot)                                                              \
	do {                                                                   \
		if (!OPS_HAS(ops, slot) || ops->slot == NULL)                  \
			return #slot;                                          \
	} while (0)
#define REQ_RW(slot)                                                           \
	do {                                                                   \
		if (rw)                                                        \
			REQ(slot);                                             \
	} while (0)
	REQ(storage_open);
	REQ(storage_close);
	REQ(storage_info);
	REQ(mailbox_list_begin);
	REQ(mailbox_list_next);
	REQ(mailbox_list_end);
	REQ_RW(mailbox_create);
	REQ_RW(mailbox_delete);
	REQ_RW(mailbox_rename);
	REQ_RW(mailbox_update);
	REQ(mailbox_open);
	REQ(mailbox_close);
	REQ(mailbox_status);
	REQ(msg_iter_begin);
	REQ(msg_iter_next);
	REQ(msg_iter_end);
	REQ(msg_open);
	REQ(stream_read);
	REQ(stream_close);
	REQ_RW(trans_begin);
	REQ_RW(save_begin);
	REQ_RW(save_write);
	REQ_RW(save_finish);
	REQ_RW(save_cancel);
	REQ_RW(update_flags);
	REQ_RW(expunge);
	REQ_RW(trans_commit);
	REQ_RW(trans_rollback);
#undef REQ
#undef REQ_RW
	return NULL;
}

/* Optional slots that come in groups must be all there or all absent. */
static const char *incomplete_slot_group(const struct mailferry_driver *desc)
{
	const struct mailferry_driver_ops *ops = desc->ops;

#define GROUP3(a, b, c)                                                        \
	do {                                                                   \
		int n =                                                        \
		    (ops->a != NULL) + (ops->b != NULL) + (ops->c != NULL);    \
		if (n != 0 && n != 3)                                          \
			return #a "/" #b "/" #c;                               \
	} while (0)
	GROUP3(mailbox_log_begin, mailbox_log_next, mailbox_log_end);
	GROUP3(subscriptions_begin, subscriptions_next, subscriptions_end);
	GROUP3(expunge_iter_begin, expunge_iter_next, expunge_iter_end);
#undef GROUP3
	return NULL;
}

static int check_descriptor(const char *path, const char *name,
                            const struct mailferry_driver *desc, char **error_r)
{
	const size_t min_desc =
	    offsetof(struct mailferry_driver, ops) + sizeof(desc->ops);
	const size_t min_ops =
	    offsetof(struct mailferry_driver_ops, ctl) + sizeof(desc->ops->ctl);
	const char *slot;

	/* Only the three leading fields are readable before the versions
	 * are known to match. */
	if (!MAILFERRY_ABI_COMPATIBLE(MAILFERRY_ABI_MAJOR, MAILFERRY_ABI_MINOR,
	                              desc->abi_major, desc->abi_minor)) {
		return refuse(error_r, path,
		              "built for driver ABI %u.%u, this core has ABI "
		              "%u.%u (needs the same major and a minor <= %u)",
		              desc->abi_major, desc->abi_minor,
		              MAILFERRY_ABI_MAJOR, MAILFERRY_ABI_MINOR,
		              MAILFERRY_ABI_MINOR);
	}
	if (desc->struct_size < min_desc) {
		return refuse(error_r, path,
		              "descriptor struct_size %u is smaller than the "
		              "ABI 1.0 minimum %zu",
		              desc->struct_size, min_desc);
	}
	if (desc->name == NULL || strcmp(desc->name, name) != 0) {
		return refuse(error_r, path,
		              "describes itself as driver '%s', but the file "
		              "name says '%s' (<name>.so must serve <name>:)",
		              desc->name == NULL ? "(null)" : desc->name, name);
	}
	if (desc->ops == NULL)
		return refuse(error_r, path, "descriptor has no ops table");
	if (desc->ops->struct_size < min_ops) {
		return refuse(error_r, path,
		              "ops struct_size %u is smaller than the ABI 1.0 "
		              "minimum %zu",
		              desc->ops->struct_size, min_ops);
	}
	slot = missing_required_slot(desc);
	if (slot != NULL) {
		return refuse(error_r, path, "required slot %s is NULL%s", slot,
		              (desc->caps & MAILFERRY_CAP_READONLY) == 0
		                  ? " (and the driver is not read-only)"
		                  : "");
	}
	slot = incomplete_slot_group(desc);
	if (slot != NULL) {
		return refuse(error_r, path,
		              "optional slots %s must all be set or all NULL",
		              slot);
	}
	return 0;
}

static int ltdl_init(char **error_r)
{
	if (ltdl_ready)
		return 0;
	if (lt_dlinit() != 0) {
		*error_r =
		    mf_strdup_printf("lt_dlinit() failed: %s", lt_dlerror());
		return -1;
	}
	ltdl_ready = true;
	return 0;
}

int mf_driver_load_file(const char *path, const struct mf_driver **drv_r,
                        char **error_r)
{
	const struct mf_driver *dup;
	const struct mailferry_driver *desc;
	mailferry_driver_entry_fn *entry;
	struct mf_driver *drv;
	lt_dladvise advise;
	lt_dlhandle handle;
	char *name;
	int ret;

	name = name_from_path(path);
	if (name == NULL) {
		return refuse(error_r, path,
		              "file name is not <name>.so with a name of "
		              "a-z 0-9 _ -");
	}
	dup = mf_driver_find(name);
	if (dup != NULL) {
		ret = refuse(error_r, path,
		             "duplicate driver name '%s' (already loaded from "
		             "%s; the first one found wins)",
		             name, dup->path);
		free(name);
		return ret;
	}
	if (ltdl_init(error_r) < 0) {
		free(name);
		return -1;
	}
	if (lt_dladvise_init(&advise) != 0 || lt_dladvise_ext(&advise) != 0 ||
	    lt_dladvise_local(&advise) != 0) {
		free(name);
		return refuse(error_r, path, "lt_dladvise failed: %s",
		              lt_dlerror());
	}
	handle = lt_dlopenadvise(path, advise);
	lt_dladvise_destroy(&advise);
	if (handle == NULL) {
		free(name);
		return refuse(error_r, path,
		              "dlopen failed: %s (run 'ldd %s' to see missing "
		              "libraries or symbols)",
		              lt_dlerror(), path);
	}
	/* From here on the object stays mapped even when refused. */
	entry = (mailferry_driver_entry_fn *)(uintptr_t)lt_dlsym(
	    handle, MAILFERRY_DRIVER_ENTRY_SYMBOL);
	if (entry == NULL) {
		free(name);
		return refuse(error_r, path,
		              "no %s symbol (not a mailferry driver, or "
		              "built without exporting it)",
		              MAILFERRY_DRIVER_ENTRY_SYMBOL);
	}
	desc = entry(mf_core_api(), MAILFERRY_ABI_MAJOR, MAILFERRY_ABI_MINOR);
	if (desc == NULL) {
		free(name);
		return refuse(error_r, path,
		              "%s() returned NULL (the driver refused this "
		              "core of ABI %u.%u; see its message above)",
		              MAILFERRY_DRIVER_ENTRY_SYMBOL,
		              MAILFERRY_ABI_MAJOR, MAILFERRY_ABI_MINOR);
	}
	if (check_descriptor(path, name, desc, error_r) < 0) {
		free(name);
		return -1;
	}
	free(name);
	drv = mf_calloc(1, sizeof(*drv));
	drv->desc = desc;
	drv->path = mf_strdup(path);
	mf_array_push(&drivers, drv);
	if (drv_r != NULL)
		*drv_r = drv;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_refusal(const char *path, char *reason)
{
	struct mf_driver_refusal *r = mf_array_append_zero(&refusals);

	r->path = mf_strdup(path);
	r->reason = reason;
	if (log_refusals)
		mf_warning("%s", reason);
}

static bool already_tried(const char *path)
{
	for (size_t i = 0; i < drivers.count; i++) {
		if (strcmp(drivers.items[i]->path, path) == 0)
			return true;
	}
	for (size_t i = 0; i < refusals.count; i++) {
		if (strcmp(refusals.items[i].path, path) == 0)
			return true;
	}
	return false;
}

/* Load every <name>.so in dir, in name order so the result does not
 * depend on readdir() order. */
static void load_dir(const char *dir)
{
	MF_ARRAY(char *) names = MF_ARRAY_INIT;
	struct dirent *d;
	DIR *dirp;

	dirp = opendir(dir);
	if (dirp == NULL) {
		/* a missing directory in the path is not an error */
		return;
	}
	while ((d = readdir(dirp)) != NULL) {
		if (mf_str_ends(d->d_name, ".so"))
			mf_array_push(&names, mf_strdup(d->d_name));
	}
	closedir(dirp);
	if (names.count > 0)
		mf_qsort(names.items, names.count, sizeof(char *), cmp_str);
	for (size_t i = 0; i < names.count; i++) {
		char *path = mf_strdup_printf("%s/%s", dir, names.items[i]);
		char *error;

		/* (mf_driver_need() may have loaded or refused it) */
		if (!already_tried(path) &&
		    mf_driver_load_file(path, NULL, &error) < 0)
			add_refusal(path, error);
		free(path);
		free(names.items[i]);
	}
	mf_array_free(&names);
}

/* MAILFERRY_DRIVER_PATH's directories, then the default one (once). */
static void search_dirs_init(void)
{
	const char *env = getenv("MAILFERRY_DRIVER_PATH");

	if (search_dirs_ready)
		return;
	search_dirs_ready = true;
	if (env != NULL) {
		const char *p = env;

		while (*p != '\0') {
			size_t len = strcspn(p, ":");

			if (len > 0)
				mf_array_push(&search_dirs, mf_strndup(p, len));
			p += len;
			if (*p == ':')
				p++;
		}
	}
	if (getenv("MAILFERRY_SKIP_DEFAULT_DIR") == NULL)
		mf_array_push(&search_dirs, mf_strdup(MF_DRIVER_DIR));
}

int mf_drivers_load(void)
{
	if (drivers_loaded)
		return (int)refusals.count;
	drivers_loaded = true;
	search_dirs_init();
	for (size_t i = 0; i < search_dirs.count; i++)
		load_dir(search_dirs.items[i]);
	return (int)refusals.count;
}

const struct mf_driver *mf_driver_need(const char *name)
{
	const struct mf_driver *drv = mf_driver_find(name);
	struct stat st;

	if (drv != NULL || drivers_loaded)
		return drv;
	if (!name_is_valid(name, strlen(name)))
		return NULL; /* no file can serve it */
	search_dirs_init();
	/* the same file mf_drivers_load() would pick: the first <name>.so
	 * on the path that loads */
	for (size_t i = 0; i < search_dirs.count && drv == NULL; i++) {
		char *path =
		    mf_strdup_printf("%s/%s.so", search_dirs.items[i], name);
		char *error;

		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    mf_driver_load_file(path, &drv, &error) < 0) {
			add_refusal(path, error);
			drv = NULL;
		}
		free(path);
	}
	return drv;
}
