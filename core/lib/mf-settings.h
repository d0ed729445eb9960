/* SPDX-License-Identifier: MIT */
/*
 * mf-settings.h - settings in dovecot.conf syntax (a documented subset, see
 * doc/config.md): `key = value`, `section [name] { ... }`, `!include FILE`,
 * `!include_try FILE`, `# comments`, `key = <FILE` (value read from a file),
 * `$key` references to earlier values. Keys inside sections are stored as
 * "section/key" (e.g. "plugin/zlib_save"); a few well-known sections whose
 * keys Dovecot treats as global ("plugin") are also reachable by the bare
 * key. Unknown keys are kept: drivers and the engine look up what they need
 * and ignore the rest.
 *
 * Named sections ("namespace inbox { separator = / }") store their keys as
 * "namespace/inbox/separator", like doveconf prints them. Lines are limited
 * to MF_SETTINGS_MAX_LINE bytes and includes nest at most
 * MF_SETTINGS_MAX_INCLUDE_DEPTH deep; an include loop is an error.
 */
#ifndef MF_SETTINGS_H
#define MF_SETTINGS_H

#include "mf-common.h"

struct mf_settings;

#define MF_SETTINGS_MAX_LINE (64 * 1024)
#define MF_SETTINGS_MAX_INCLUDE_DEPTH 16
/* A value grown past this by $key expansion is an error (a few lines of
 * "a = $a$a" would otherwise exhaust memory). */
#define MF_SETTINGS_MAX_EXPANDED (1024 * 1024)

struct mf_settings *mf_settings_new(void);
void mf_settings_free(struct mf_settings **set);

/* Parse path and merge its keys in (later keys override earlier ones).
 * Errors name the file and line: "/etc/x.conf:12: unterminated section".
 * Returns 0 or -1 with *error_r allocated. */
int mf_settings_load_file(struct mf_settings *set, const char *path,
                          char **error_r);
/* Parse a whole config from memory; name is used in error messages. */
int mf_settings_load_string(struct mf_settings *set, const char *name,
                            const char *text, char **error_r);
/* "-o key=value": set one key. Returns -1 with *error_r if no '='. */
int mf_settings_set_override(struct mf_settings *set, const char *key_value,
                             char **error_r);
void mf_settings_set(struct mf_settings *set, const char *key,
                     const char *value);

/* The value, or NULL when unset. Borrowed until the set is freed or the
 * key is set again. */
const char *mf_settings_get(const struct mf_settings *set, const char *key);
/* Parsed forms. Each returns 0, or -1 with *error_r naming the key and the
 * bad value; an unset key gives def. */
int mf_settings_get_bool(const struct mf_settings *set, const char *key,
                         bool def, bool *value_r, char **error_r);
int mf_settings_get_uint(const struct mf_settings *set, const char *key,
                         uint64_t def, uint64_t *value_r, char **error_r);
/* Sizes with k/M/G suffixes, times with s/min/h/d suffixes. */
int mf_settings_get_size(const struct mf_settings *set, const char *key,
                         uint64_t def, uint64_t *value_r, char **error_r);
int mf_settings_get_time(const struct mf_settings *set, const char *key,
                         uint64_t def_secs, uint64_t *secs_r, char **error_r);

/* The value parsers behind the getters, for command-line arguments. Each
 * returns 0, or -1 with *error_r allocated naming str.
 * size: a number with an optional B/k/M/G/T suffix (powers of 1024,
 * "k", "kB", "KiB" all accepted); time: a number with an optional
 * s/secs/seconds, m/mins/minutes, h/hours, d/days, w/weeks suffix (a bare
 * number is seconds); bool: yes/no, true/false, on/off, 1/0. */
int mf_settings_parse_size(const char *str, uint64_t *bytes_r, char **error_r);
int mf_settings_parse_time(const char *str, uint64_t *secs_r, char **error_r);
int mf_settings_parse_bool(const char *str, bool *value_r, char **error_r);

/* Iterate all keys in insertion order; returns false at the end. */
bool mf_settings_iter(const struct mf_settings *set, size_t *pos,
                      const char **key_r, const char **value_r);

#endif
