/* SPDX-License-Identifier: MIT */
/*
 * mf-driver.h - the core side of the driver ABI: finding and loading driver
 * shared objects, and opening storages through them.
 *
 * Drivers are searched in $MAILFERRY_DRIVER_PATH (colon-separated) and then
 * in MF_DRIVER_DIR (unless $MAILFERRY_SKIP_DEFAULT_DIR is set, as in the
 * test suite). "<name>.so" must describe itself as driver <name>.
 * Refusals are logged as one warning each, naming the file and why.
 */
#ifndef MF_DRIVER_H
#define MF_DRIVER_H

#include <mailferry/driver.h>
#include "mf-common.h"

struct mf_settings;
struct mf_location;

struct mf_driver {
	const struct mailferry_driver *desc;
	char *path; /* the file it was loaded from */
};

/* Load every driver found (once; later calls return at once). Returns the
 * number of refused files (0 = all fine). */
int mf_drivers_load(void);
size_t mf_driver_count(void);
const struct mf_driver *mf_driver_at(size_t idx);
/* NULL when no driver of that name was loaded. */
const struct mf_driver *mf_driver_find(const char *name);
/* The driver serving name: loaded now if it was not, from the first
 * <name>.so on the search path that loads (the one mf_drivers_load()
 * would pick), without loading the others: a run pays the start-up cost
 * (libraries, relocations) of the drivers it uses only. NULL when none
 * loads; files refused on the way join the refusal list. */
const struct mf_driver *mf_driver_need(const char *name);
/* Try to load one file as a driver (used by tests and `drivers`).
 * Returns 0, or -1 with *error_r saying why it was refused, as one line
 * naming the file ("driver /x/foo.so refused: ..."). A refused file is not
 * added to the refusal list below; mf_drivers_load() does that. */
int mf_driver_load_file(const char *path, const struct mf_driver **drv_r,
                        char **error_r);

/* Files mf_drivers_load() refused, in the order met. */
struct mf_driver_refusal {
	char *path;
	char *reason; /* the whole line, naming the file */
};
size_t mf_driver_refused_count(void);
const struct mf_driver_refusal *mf_driver_refused_at(size_t idx);
/* Whether mf_drivers_load() logs each refusal as a warning (default yes;
 * `mailferry drivers` lists them itself). */
void mf_drivers_set_log_refusals(bool log_them);
/* The directories searched, in order (for messages); borrowed. */
size_t mf_driver_dir_count(void);
const char *mf_driver_dir_at(size_t idx);

/* Settings the API's setting() slot answers from when a storage has none
 * of its own (and for ctx == NULL). Borrowed: must outlive every storage. */
void mf_core_set_settings(const struct mf_settings *set);
/* Make SIGINT and SIGTERM set the flag api->should_stop() reports (a
 * second signal then kills as usual). */
void mf_core_install_signal_handlers(void);
bool mf_core_should_stop(void);
/* The API table handed to drivers (settings/log hooks point into the core). */
const struct mailferry_core_api *mf_core_api(void);

/* The core's per-storage context (struct mailferry_ctx for drivers). */
struct mf_storage {
	const struct mf_driver *driver;
	const struct mailferry_driver_ops *ops;
	struct mailferry_storage *st; /* the driver's handle */
	const struct mailferry_storage_info *info;
	const struct mf_settings *set;
	char *location; /* for messages */
	int last_error; /* last code passed to api->set_error() */
	char *last_error_text;
};

/* True when the driver's ops table has the slot and it is not NULL. */
#define MF_HAS_OP(storage, slot)                                               \
	((storage)->ops->struct_size >=                                        \
	     offsetof(struct mailferry_driver_ops, slot) +                     \
	         sizeof((storage)->ops->slot) &&                               \
	 (storage)->ops->slot != NULL)

/* Parse location, find its driver, open it. set may be NULL. flags: enum
 * mailferry_storage_open_flags. Returns 0, or a negative mailferry error
 * with *error_r allocated ("maildir:/x: open: ...: No such file"). */
int mf_storage_open(const char *location, const struct mf_settings *set,
                    const char *user, const char *home, uint32_t flags,
                    struct mf_storage **storage_r, char **error_r);
void mf_storage_close(struct mf_storage **storage);
/* The detail of the last failed call ("" if none); borrowed. */
const char *mf_storage_error(const struct mf_storage *storage);
/* Map a mailferry error to a short category word ("not found"). */
const char *mf_error_name(int code);

#endif
