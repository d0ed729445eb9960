/* SPDX-License-Identifier: MIT */
/* Opening a location through its driver: struct mf_storage. */
#include <stdio.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-driver.h"
#include "mf-location.h"

const char *mf_error_name(int code)
{
	switch (code) {
	case MAILFERRY_OK:
		return "ok";
	case MAILFERRY_E_TEMP:
		return "temporary failure";
	case MAILFERRY_E_NOTFOUND:
		return "not found";
	case MAILFERRY_E_EXISTS:
		return "already exists";
	case MAILFERRY_E_PERM:
		return "permission denied";
	case MAILFERRY_E_NOSPACE:
		return "out of space";
	case MAILFERRY_E_EXPUNGED:
		return "expunged";
	case MAILFERRY_E_INUSE:
		return "in use";
	case MAILFERRY_E_INVALIDDATA:
		return "invalid data";
	case MAILFERRY_E_NOTSUPP:
		return "not supported";
	case MAILFERRY_E_LIMIT:
		return "limit exceeded";
	case MAILFERRY_E_NOMEM:
		return "out of memory";
	case MAILFERRY_E_CANCELED:
		return "canceled";
	case MAILFERRY_E_NOHISTORY:
		return "history not available";
	case MAILFERRY_E_INVALID:
		return "invalid argument";
	default:
		return "unknown error";
	}
}

const char *mf_storage_error(const struct mf_storage *storage)
{
	if (storage == NULL || storage->last_error_text == NULL)
		return "";
	return storage->last_error_text;
}

/* "<what>: <detail>" for a failed driver call, detail falling back to the
 * error's category when the driver recorded no text. */
static char *call_error(const struct mf_storage *storage, const char *what,
                        int code)
{
	const char *detail = mf_storage_error(storage);

	if (*detail == '\0')
		detail = mf_error_name(code);
	return mf_strdup_printf("%s: %s: %s", storage->location, what, detail);
}

static char *no_driver_error(const struct mf_location *loc)
{
	struct mf_buf buf = MF_BUF_INIT;

	mf_buf_printf(&buf, "%s: no driver '%s' found (searched ", loc->display,
	              loc->driver);
	if (mf_driver_dir_count() == 0)
		mf_buf_append_str(&buf, "no directories");
	for (size_t i = 0; i < mf_driver_dir_count(); i++)
		mf_buf_printf(&buf, "%s%s", i > 0 ? ":" : "",
		              mf_driver_dir_at(i));
	mf_buf_append_str(&buf, "; see 'mailferry drivers')");
	return mf_buf_detach(&buf);
}

int mf_storage_open(const char *location, const struct mf_settings *set,
                    const char *user, const char *home, uint32_t flags,
                    struct mf_storage **storage_r, char **error_r)
{
	struct mf_location_vars vars = {user, home};
	struct mailferry_open_params params;
	const struct mf_driver *drv;
	struct mf_storage *storage;
	struct mf_location *loc;
	const char **keys, **values;
	int ret;

	if (mf_location_parse(location, &vars, &loc, error_r) < 0)
		return MAILFERRY_E_INVALID;
	drv = mf_driver_need(loc->driver);
	if (drv == NULL) {
		/* load them all, so the refusals are there to see */
		mf_drivers_load();
		drv = mf_driver_find(loc->driver);
	}
	if (drv == NULL) {
		*error_r = no_driver_error(loc);
		mf_location_free(&loc);
		return MAILFERRY_E_NOTFOUND;
	}

	storage = mf_calloc(1, sizeof(*storage));
	storage->driver = drv;
	storage->ops = drv->desc->ops;
	storage->set = set;
	storage->location = mf_strdup(loc->display);

	keys = mf_calloc(loc->options.count + 1, sizeof(*keys));
	values = mf_calloc(loc->options.count + 1, sizeof(*values));
	for (size_t i = 0; i < loc->options.count; i++) {
		keys[i] = loc->options.items[i].key;
		values[i] = loc->options.items[i].value;
	}
	mf_zero(&params);
	params.struct_size = sizeof(params);
	params.path = loc->path;
	params.option_keys = keys;
	params.option_values = values;
	params.option_count = loc->options.count;
	params.user = user;
	params.home = home;
	params.flags = flags;

	ret = storage->ops->storage_open((struct mailferry_ctx *)storage,
	                                 &params, &storage->st);
	free(keys);
	free(values);
	mf_location_free(&loc);
	if (ret == 0 && storage->st == NULL) {
		/* a driver bug, but never dereference it */
		ret = MAILFERRY_E_TEMP;
		free(storage->last_error_text);
		storage->last_error_text = mf_strdup(
		    "driver returned success without a storage handle");
	}
	if (ret < 0) {
		*error_r = call_error(storage, "open failed", ret);
		mf_storage_close(&storage);
		return ret;
	}
	ret = storage->ops->storage_info(storage->st, &storage->info);
	if (ret == 0 && storage->info == NULL)
		ret = MAILFERRY_E_TEMP;
	if (ret < 0) {
		*error_r = call_error(storage, "storage_info failed", ret);
		mf_storage_close(&storage);
		return ret;
	}
	*storage_r = storage;
	return 0;
}

void mf_storage_close(struct mf_storage **_storage)
{
	struct mf_storage *storage = *_storage;

	if (storage == NULL)
		return;
	if (storage->st != NULL)
		storage->ops->storage_close(&storage->st);
	free(storage->location);
	free(storage->last_error_text);
	free(storage);
	*_storage = NULL;
}
