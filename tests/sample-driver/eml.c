/* SPDX-License-Identifier: MIT */
/*
 * eml.c - the eml sample driver: its entry point, descriptor and storage.
 *
 * This driver is the worked example of doc/driver-guide.md. It is built
 * out of tree against the installed SDK only (see Makefile), and in tree
 * for the conformance suite (tests/conformance/local.mk).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "eml-private.h"

#define EML_VERSION "1.0"

const struct mailferry_core_api *eml_api;

char *eml_strdup_printf(const char *fmt, ...)
{
	va_list args;
	char *str;
	int len;

	va_start(args, fmt);
	len = vsnprintf(NULL, 0, fmt, args);
	va_end(args);
	if (len < 0)
		return NULL;
	str = malloc((size_t)len + 1);
	if (str == NULL)
		return NULL;
	va_start(args, fmt);
	vsnprintf(str, (size_t)len + 1, fmt, args);
	va_end(args);
	return str;
}

int eml_sys_error(struct mailferry_ctx *ctx, const char *call, const char *path,
                  int err)
{
	int code;

	switch (err) {
	case ENOENT:
	case ENOTDIR:
		code = MAILFERRY_E_NOTFOUND;
		break;
	case EACCES:
	case EPERM:
		code = MAILFERRY_E_PERM;
		break;
	case ENOMEM:
		code = MAILFERRY_E_NOMEM;
		break;
	case EISDIR:
	case ELOOP:
		code = MAILFERRY_E_INVALIDDATA;
		break;
	default:
		code = MAILFERRY_E_TEMP;
		break;
	}
	return eml_api->set_error(ctx, code, "eml: %s(%s) failed: %s", call,
	                          path, strerror(err));
}

int eml_nomem(struct mailferry_ctx *ctx)
{
	return eml_api->set_error(ctx, MAILFERRY_E_NOMEM, "eml: out of memory");
}

void eml_mailbox_guid(const char *name, uint8_t guid_r[16])
{
	uint8_t digest[EML_SHA1_LEN];

	eml_sha1(name, strlen(name), digest);
	memcpy(guid_r, digest, 16);
}

uint32_t eml_mailbox_uidvalidity(const uint8_t guid[16])
{
	uint32_t v = (uint32_t)guid[0] << 24 | (uint32_t)guid[1] << 16 |
	             (uint32_t)guid[2] << 8 | guid[3];

	/* UIDVALIDITY 0 is invalid in IMAP; keep it positive as a signed
	 * 32-bit value too, which some clients assume. */
	v &= 0x7fffffff;
	return v == 0 ? 1 : v;
}

static int eml_storage_open(struct mailferry_ctx *ctx,
                            const struct mailferry_open_params *params,
                            struct mailferry_storage **storage_r)
{
	struct mailferry_storage *storage;
	struct stat st;
	char *root;

	if (params->option_count > 0) {
		return eml_api->set_error(
		    ctx, MAILFERRY_E_INVALID,
		    "eml: unknown location option '%s' (eml takes none)",
		    params->option_keys[0]);
	}
	if (params->path == NULL || params->path[0] == '\0') {
		return eml_api->set_error(
		    ctx, MAILFERRY_E_INVALID,
		    "eml: the location needs a directory: eml:DIR");
	}
	root = realpath(params->path, NULL);
	if (root == NULL) {
		if (errno == ENOENT &&
		    (params->flags & MAILFERRY_STORAGE_CREATE) != 0) {
			return eml_api->set_error(
			    ctx, MAILFERRY_E_NOTFOUND,
			    "eml: %s does not exist, and eml is read-only: "
			    "it cannot create a store",
			    params->path);
		}
		return eml_sys_error(ctx, "realpath", params->path, errno);
	}
	if (stat(root, &st) < 0) {
		int ret = eml_sys_error(ctx, "stat", root, errno);
		free(root);
		return ret;
	}
	if (!S_ISDIR(st.st_mode)) {
		free(root);
		return eml_api->set_error(ctx, MAILFERRY_E_INVALID,
		                          "eml: %s is not a directory",
		                          params->path);
	}

	storage = calloc(1, sizeof(*storage));
	if (storage == NULL) {
		free(root);
		return eml_nomem(ctx);
	}
	storage->ctx = ctx;
	storage->root = root;
	storage->display = eml_strdup_printf("eml:%s", root);
	if (storage->display == NULL) {
		free(root);
		free(storage);
		return eml_nomem(ctx);
	}
	storage->info.struct_size = sizeof(storage->info);
	storage->info.caps = MAILFERRY_CAP_MSG_GUIDS |
	                     MAILFERRY_CAP_MAILBOX_GUIDS |
	                     MAILFERRY_CAP_READONLY;
	storage->info.hier_sep = '/';
	storage->info.display = storage->display;
	*storage_r = storage;
	return 0;
}

static void eml_storage_close(struct mailferry_storage **storagep)
{
	struct mailferry_storage *storage = *storagep;

	if (storage == NULL)
		return;
	*storagep = NULL;
	free(storage->root);
	free(storage->display);
	free(storage);
}

static int eml_storage_info(struct mailferry_storage *storage,
                            const struct mailferry_storage_info **info_r)
{
	*info_r = &storage->info;
	return 0;
}

/* Only the read half of the ABI: every slot "required unless read-only"
 * and every optional slot stays NULL. */
static const struct mailferry_driver_ops eml_ops = {
    .struct_size = sizeof(struct mailferry_driver_ops),
    .storage_open = eml_storage_open,
    .storage_close = eml_storage_close,
    .storage_info = eml_storage_info,
    .mailbox_list_begin = eml_mailbox_list_begin,
    .mailbox_list_next = eml_mailbox_list_next,
    .mailbox_list_end = eml_mailbox_list_end,
    .mailbox_open = eml_mailbox_open,
    .mailbox_close = eml_mailbox_close,
    .mailbox_status = eml_mailbox_status,
    .msg_iter_begin = eml_msg_iter_begin,
    .msg_iter_next = eml_msg_iter_next,
    .msg_iter_end = eml_msg_iter_end,
    .msg_open = eml_msg_open,
    .stream_read = eml_stream_read,
    .stream_close = eml_stream_close,
};

static const struct mailferry_driver eml_driver = {
    .abi_major = MAILFERRY_ABI_MAJOR,
    .abi_minor = MAILFERRY_ABI_MINOR,
    .struct_size = sizeof(struct mailferry_driver),
    .name = "eml",
    .version = EML_VERSION,
    .description = "read-only tree of .eml files (sample driver)",
    .caps = MAILFERRY_CAP_MSG_GUIDS | MAILFERRY_CAP_MAILBOX_GUIDS |
            MAILFERRY_CAP_READONLY,
    .ops = &eml_ops,
};

MAILFERRY_EXPORT const struct mailferry_driver *
mailferry_driver_entry(const struct mailferry_core_api *api,
                       uint32_t core_abi_major, uint32_t core_abi_minor)
{
	/* The core refuses a driver newer than itself; a different major
	 * means the table below would be misread, so refuse it here too. */
	if (core_abi_major != MAILFERRY_ABI_MAJOR) {
		api->log(NULL, MAILFERRY_LOG_ERROR,
		         "eml: built for driver ABI %u.%u, the core has %u.%u",
		         (unsigned)MAILFERRY_ABI_MAJOR,
		         (unsigned)MAILFERRY_ABI_MINOR,
		         (unsigned)core_abi_major, (unsigned)core_abi_minor);
		return NULL;
	}
	/* Every upcall used here exists since 1.0; a smaller table would be
	 * a broken core. */
	if (api->struct_size <
	    offsetof(struct mailferry_core_api, should_stop) +
	        sizeof(api->should_stop)) {
		api->log(NULL, MAILFERRY_LOG_ERROR,
		         "eml: the core's API table is too small (%u bytes)",
		         (unsigned)api->struct_size);
		return NULL;
	}
	eml_api = api;
	return &eml_driver;
}
