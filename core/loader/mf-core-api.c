/* SPDX-License-Identifier: MIT */
/*
 * The table of core services handed to drivers (struct mailferry_core_api).
 * A driver's struct mailferry_ctx is the core's struct mf_storage: the core
 * casts in both directions and drivers never look inside.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/rand.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-driver.h"
#include "mf-log.h"
#include "mf-settings.h"

static const struct mf_settings *global_settings;
static volatile sig_atomic_t stop_requested;

void mf_core_set_settings(const struct mf_settings *set)
{
	global_settings = set;
}

static void stop_handler(int signo)
{
	(void)signo;
	stop_requested = 1;
}

void mf_core_install_signal_handlers(void)
{
	struct sigaction sa;

	mf_zero(&sa);
	sa.sa_handler = stop_handler;
	sigemptyset(&sa.sa_mask);
	/* the first signal asks politely; a second one kills as usual */
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

bool mf_core_should_stop(void)
{
	return stop_requested != 0;
}

static struct mf_storage *storage_of(struct mailferry_ctx *ctx)
{
	return (struct mf_storage *)(void *)ctx;
}

static int api_set_error(struct mailferry_ctx *ctx, int code, const char *fmt,
                         ...) MF_PRINTF(3, 4);
static int api_set_error(struct mailferry_ctx *ctx, int code, const char *fmt,
                         ...)
{
	struct mf_storage *storage = storage_of(ctx);
	struct mf_buf text = MF_BUF_INIT;
	va_list args;

	va_start(args, fmt);
	mf_buf_vprintf(&text, fmt, args);
	va_end(args);
	if (storage == NULL) {
		mf_error("%s", mf_buf_str(&text));
		mf_buf_free(&text);
		return code;
	}
	free(storage->last_error_text);
	storage->last_error_text = mf_buf_detach(&text);
	storage->last_error = code;
	return code;
}

static void api_log(struct mailferry_ctx *ctx, enum mailferry_log_level level,
                    const char *fmt, ...) MF_PRINTF(3, 4);
static void api_log(struct mailferry_ctx *ctx, enum mailferry_log_level level,
                    const char *fmt, ...)
{
	struct mf_storage *storage = storage_of(ctx);
	struct mf_buf text = MF_BUF_INIT;
	enum mf_log_level lvl;
	va_list args;

	switch (level) {
	case MAILFERRY_LOG_DEBUG:
		lvl = MF_LOG_DEBUG;
		break;
	case MAILFERRY_LOG_INFO:
		lvl = MF_LOG_INFO;
		break;
	case MAILFERRY_LOG_WARNING:
		lvl = MF_LOG_WARNING;
		break;
	default:
		lvl = MF_LOG_ERROR;
		break;
	}
	if (lvl < mf_log_get_level())
		return;
	if (storage != NULL && storage->location != NULL)
		mf_buf_printf(&text, "%s: ", storage->location);
	va_start(args, fmt);
	mf_buf_vprintf(&text, fmt, args);
	va_end(args);
	mf_log(lvl, "%s", mf_buf_str(&text));
	mf_buf_free(&text);
}

static const char *api_setting(struct mailferry_ctx *ctx, const char *key)
{
	struct mf_storage *storage = storage_of(ctx);
	const struct mf_settings *set = global_settings;

	if (storage != NULL && storage->set != NULL)
		set = storage->set;
	return key == NULL ? NULL : mf_settings_get(set, key);
}

static void *api_alloc(size_t size)
{
	return malloc(size == 0 ? 1 : size);
}

static void *api_realloc(void *ptr, size_t size)
{
	return realloc(ptr, size == 0 ? 1 : size);
}

static void api_free(void *ptr)
{
	free(ptr);
}

static int api_random(void *buf, size_t size)
{
	unsigned char *p = buf;

	while (size > 0) {
		int chunk = size > 65536 ? 65536 : (int)size;

		if (RAND_bytes(p, chunk) != 1)
			return MAILFERRY_E_TEMP;
		p += chunk;
		size -= (size_t)chunk;
	}
	return 0;
}

static int api_should_stop(struct mailferry_ctx *ctx)
{
	(void)ctx;
	return stop_requested != 0;
}

static const struct mailferry_core_api core_api = {
    .abi_major = MAILFERRY_ABI_MAJOR,
    .abi_minor = MAILFERRY_ABI_MINOR,
    .struct_size = sizeof(struct mailferry_core_api),
    .set_error = api_set_error,
    .log = api_log,
    .setting = api_setting,
    .alloc = api_alloc,
    .realloc = api_realloc,
    .free = api_free,
    .random = api_random,
    .should_stop = api_should_stop,
};

const struct mailferry_core_api *mf_core_api(void)
{
	return &core_api;
}
