/* SPDX-License-Identifier: MIT */
/*
 * The dovecot.conf subset described in doc/config.md. The parser works a line
 * at a time over a file read whole into memory; sections are a stack of key
 * prefixes that spans includes, and every file checks at its end that it
 * closed the sections it opened, so an error always points at the file that
 * owns the problem.
 */
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "mf-alloc.h"
#include "mf-array.h"
#include "mf-buf.h"
#include "mf-file.h"
#include "mf-settings.h"

struct mf_setting {
	char *key;
	char *value;
};

struct mf_settings {
	MF_ARRAY(struct mf_setting) items;
};

struct mf_section {
	char *prefix; /* "namespace/inbox/" */
	char *title;  /* "namespace inbox", for messages */
	const char *file;
	unsigned int line;
};

struct mf_parse {
	struct mf_settings *set;
	/* realpath()s of the files being parsed, outermost first */
	MF_ARRAY(char *) chain;
	MF_ARRAY(struct mf_section) sections;
	char *error;
};

struct mf_settings *mf_settings_new(void)
{
	return mf_calloc(1, sizeof(struct mf_settings));
}

void mf_settings_free(struct mf_settings **_set)
{
	struct mf_settings *set = *_set;

	if (set == NULL)
		return;
	for (size_t i = 0; i < set->items.count; i++) {
		free(set->items.items[i].key);
		free(set->items.items[i].value);
	}
	mf_array_free(&set->items);
	free(set);
	*_set = NULL;
}

static struct mf_setting *lookup(const struct mf_settings *set, const char *key)
{
	for (size_t i = 0; i < set->items.count; i++) {
		if (strcmp(set->items.items[i].key, key) == 0)
			return &set->items.items[i];
	}
	return NULL;
}

void mf_settings_set(struct mf_settings *set, const char *key,
                     const char *value)
{
	struct mf_setting *s = lookup(set, key);

	if (s != NULL) {
		free(s->value);
		s->value = mf_strdup(value);
		return;
	}
	s = mf_array_append_zero(&set->items);
	s->key = mf_strdup(key);
	s->value = mf_strdup(value);
}

const char *mf_settings_get(const struct mf_settings *set, const char *key)
{
	const struct mf_setting *s;

	if (set == NULL)
		return NULL;
	s = lookup(set, key);
	if (s == NULL && strchr(key, '/') == NULL) {
		/* Dovecot treats plugin { } settings as global ones. */
		char *pkey = mf_strdup_printf("plugin/%s", key);

		s = lookup(set, pkey);
		free(pkey);
	}
	return s == NULL ? NULL : s->value;
}

bool mf_settings_iter(const struct mf_settings *set, size_t *pos,
                      const char **key_r, const char **value_r)
{
	if (*pos >= set->items.count)
		return false;
	*key_r = set->items.items[*pos].key;
	*value_r = set->items.items[*pos].value;
	(*pos)++;
	return true;
}

int mf_settings_set_override(struct mf_settings *set, const char *key_value,
                             char **error_r)
{
	const char *eq = strchr(key_value, '=');
	char *key;

	if (eq == NULL || eq == key_value) {
		*error_r =
		    mf_strdup_printf("-o '%s': expected key=value", key_value);
		return -1;
	}
	key = mf_strndup(key_value, (size_t)(eq - key_value));
	mf_settings_set(set, key, eq + 1);
	free(key);
	return 0;
}

/* ---- value parsers ---------------------------------------------------- */

static int parse_number(const char *str, uint64_t *num_r, const char **end_r)
{
	char *end;
	unsigned long long n;

	if (!isdigit((unsigned char)str[0]))
		return -1;
	errno = 0;
	n = strtoull(str, &end, 10);
	if (errno != 0)
		return -1;
	*num_r = n;
	*end_r = end;
	return 0;
}

/* True when word is a non-empty prefix of one of the NULL-terminated
 * names (so "s", "sec", "secs" all match "secs"). */
static bool unit_matches(const char *word, const char *const *names)
{
	size_t len = strlen(word);

	for (; *names != NULL; names++) {
		if (len > 0 && strncasecmp(word, *names, len) == 0 &&
		    len <= strlen(*names))
			return true;
	}
	return false;
}

int mf_settings_parse_time(const char *str, uint64_t *secs_r, char **error_r)
{
	static const char *const secs[] = {"secs", "seconds", NULL};
	static const char *const mins[] = {"mins", "minutes", NULL};
	static const char *const hours[] = {"hours", NULL};
	static const char *const days[] = {"days", NULL};
	static const char *const weeks[] = {"weeks", NULL};
	uint64_t num, mul;
	const char *p;

	if (parse_number(str, &num, &p) < 0)
		goto bad;
	while (*p == ' ')
		p++;
	if (*p == '\0')
		mul = 1;
	else if (unit_matches(p, secs))
		mul = 1;
	else if (unit_matches(p, mins))
		mul = 60;
	else if (unit_matches(p, hours))
		mul = 3600;
	else if (unit_matches(p, days))
		mul = 86400;
	else if (unit_matches(p, weeks))
		mul = 7 * 86400;
	else
		goto bad;
	if (num > UINT64_MAX / mul) {
		*error_r =
		    mf_strdup_printf("time interval '%s' is too large", str);
		return -1;
	}
	*secs_r = num * mul;
	return 0;
bad:
	*error_r = mf_strdup_printf("invalid time interval '%s' (expected e.g. "
	                            "30s, 10 mins, 2h, 7d, 1w)",
	                            str);
	return -1;
}

int mf_settings_parse_size(const char *str, uint64_t *bytes_r, char **error_r)
{
	uint64_t num, mul = 1;
	const char *p;

	if (parse_number(str, &num, &p) < 0)
		goto bad;
	while (*p == ' ')
		p++;
	switch (toupper((unsigned char)*p)) {
	case 'B':
		p++;
		break;
	case 'K':
		mul = 1024;
		break;
	case 'M':
		mul = 1024 * 1024;
		break;
	case 'G':
		mul = 1024ULL * 1024 * 1024;
		break;
	case 'T':
		mul = 1024ULL * 1024 * 1024 * 1024;
		break;
	}
	if (mul > 1) {
		p++;
		if (toupper((unsigned char)*p) == 'I')
			p++;
		if (toupper((unsigned char)*p) == 'B')
			p++;
	}
	if (*p != '\0')
		goto bad;
	if (num > UINT64_MAX / mul) {
		*error_r = mf_strdup_printf("size '%s' is too large", str);
		return -1;
	}
	*bytes_r = num * mul;
	return 0;
bad:
	*error_r = mf_strdup_printf(
	    "invalid size '%s' (expected e.g. 100, 10k, 5M, 1G)", str);
	return -1;
}

int mf_settings_parse_bool(const char *str, bool *value_r, char **error_r)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < MF_N_ELEMENTS(yes); i++) {
		if (strcasecmp(str, yes[i]) == 0) {
			*value_r = true;
			return 0;
		}
		if (strcasecmp(str, no[i]) == 0) {
			*value_r = false;
			return 0;
		}
	}
	*error_r =
	    mf_strdup_printf("invalid boolean '%s' (expected yes or no)", str);
	return -1;
}

/* Run parser on key's value, or return def; errors name the key. */
static int get_parsed(const struct mf_settings *set, const char *key,
                      int (*parser)(const char *, uint64_t *, char **),
                      uint64_t def, uint64_t *value_r, char **error_r)
{
	const char *value = mf_settings_get(set, key);
	char *error;

	if (value == NULL) {
		*value_r = def;
		return 0;
	}
	if (parser(value, value_r, &error) < 0) {
		*error_r = mf_strdup_printf("setting %s: %s", key, error);
		free(error);
		return -1;
	}
	return 0;
}

static int parse_uint(const char *str, uint64_t *value_r, char **error_r)
{
	const char *end;

	if (parse_number(str, value_r, &end) < 0 || *end != '\0') {
		*error_r = mf_strdup_printf("invalid number '%s'", str);
		return -1;
	}
	return 0;
}

int mf_settings_get_uint(const struct mf_settings *set, const char *key,
                         uint64_t def, uint64_t *value_r, char **error_r)
{
	return get_parsed(set, key, parse_uint, def, value_r, error_r);
}

int mf_settings_get_size(const struct mf_settings *set, const char *key,
                         uint64_t def, uint64_t *value_r, char **error_r)
{
	return get_parsed(set, key, mf_settings_parse_size, def, value_r,
	                  error_r);
}

int mf_settings_get_time(const struct mf_settings *set, const char *key,
                         uint64_t def_secs, uint64_t *secs_r, char **error_r)
{
	return get_parsed(set, key, mf_settings_parse_time, def_secs, secs_r,
	                  error_r);
}

int mf_settings_get_bool(const struct mf_settings *set, const char *key,
                         bool def, bool *value_r, char **error_r)
{
	const char *value = mf_settings_get(set, key);
	char *error;

	if (value == NULL) {
		*value_r = def;
		return 0;
	}
	if (mf_settings_parse_bool(value, value_r, &error) < 0) {
		*error_r = mf_strdup_printf("setting %s: %s", key, error);
		free(error);
		return -1;
	}
	return 0;
}

/* ---- the parser ----------------------------------------------------- */

static int parse_text(struct mf_parse *ctx, const char *name, const char *text,
                      size_t len);

static int perr(struct mf_parse *ctx, const char *file, unsigned int line,
                const char *fmt, ...) MF_PRINTF(4, 5);
static int perr(struct mf_parse *ctx, const char *file, unsigned int line,
                const char *fmt, ...)
{
	struct mf_buf buf = MF_BUF_INIT;
	va_list args;

	if (ctx->error != NULL)
		return -1;
	mf_buf_printf(&buf, "%s:%u: ", file, line);
	va_start(args, fmt);
	mf_buf_vprintf(&buf, fmt, args);
	va_end(args);
	ctx->error = mf_buf_detach(&buf);
	return -1;
}

static bool is_white(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Path relative to the directory of the including file. */
static char *relative_path(const char *including, const char *path)
{
	const char *slash = strrchr(including, '/');

	if (path[0] == '/' || slash == NULL)
		return mf_strdup(path);
	return mf_strdup_printf("%.*s/%s", (int)(slash - including), including,
	                        path);
}

static const char *section_prefix(const struct mf_parse *ctx)
{
	return ctx->sections.count == 0
	           ? ""
	           : ctx->sections.items[ctx->sections.count - 1].prefix;
}

static int include_file(struct mf_parse *ctx, const char *file,
                        unsigned int line, const char *path, bool try_only)
{
	struct mf_buf text = MF_BUF_INIT;
	char *real, *error = NULL;
	int ret;

	real = realpath(path, NULL);
	if (real == NULL) {
		if (try_only && errno == ENOENT)
			return 0;
		return perr(ctx, file, line, "!include %s: %s", path,
		            strerror(errno));
	}
	for (size_t i = 0; i < ctx->chain.count; i++) {
		if (strcmp(ctx->chain.items[i], real) == 0) {
			ret = perr(ctx, file, line,
			           "include loop: %s includes itself", path);
			free(real);
			return ret;
		}
	}
	if (ctx->chain.count >= MF_SETTINGS_MAX_INCLUDE_DEPTH) {
		free(real);
		return perr(ctx, file, line,
		            "!include %s: includes nested deeper than %d", path,
		            MF_SETTINGS_MAX_INCLUDE_DEPTH);
	}
	if (mf_file_read_all(path, &text, &error) < 0) {
		free(real);
		if (try_only && errno == ENOENT)
			return 0;
		ret = perr(ctx, file, line, "!include: %s", error);
		free(error);
		return ret;
	}
	mf_array_push(&ctx->chain, real);
	ret = parse_text(ctx, path, mf_buf_str(&text), text.len);
	ctx->chain.count--;
	free(real);
	mf_buf_free(&text);
	return ret;
}

static int handle_include(struct mf_parse *ctx, const char *file,
                          unsigned int line, const char *arg, bool try_only)
{
	char *pattern;
	glob_t gl;
	int ret = 0, gret;

	if (*arg == '\0')
		return perr(ctx, file, line, "!include without a file name");
	pattern = relative_path(file, arg);
	if (strpbrk(pattern, "*?[") == NULL) {
		ret = include_file(ctx, file, line, pattern, try_only);
		free(pattern);
		return ret;
	}
	gret = glob(pattern, GLOB_BRACE, NULL, &gl);
	if (gret == GLOB_NOMATCH) {
		/* an empty conf.d/ is fine, as in Dovecot */
		free(pattern);
		return 0;
	}
	if (gret != 0) {
		ret = perr(ctx, file, line, "!include %s: glob() failed", arg);
		free(pattern);
		return ret;
	}
	for (size_t i = 0; i < gl.gl_pathc && ret == 0; i++)
		ret = include_file(ctx, file, line, gl.gl_pathv[i], try_only);
	globfree(&gl);
	free(pattern);
	return ret;
}

/* Expand $name and $ENV:name in an unquoted value. Names are looked up in
 * the current section first, then globally. */
static int expand_vars(struct mf_parse *ctx, const char *file,
                       unsigned int line, const char *value, char **result_r)
{
	struct mf_buf out = MF_BUF_INIT;
	const char *p = value;

	while (*p != '\0') {
		const char *start, *found;
		char *name, *full;
		bool env;

		if (*p != '$') {
			mf_buf_append_c(&out, *p++);
			continue;
		}
		p++;
		env = mf_str_begins(p, "ENV:");
		if (env)
			p += 4;
		start = p;
		while (isalnum((unsigned char)*p) || *p == '_' ||
		       (!env && (*p == '/' || *p == '-' || *p == '.')))
			p++;
		if (p == start) {
			/* a lone '$' stays literal */
			mf_buf_append_c(&out, '$');
			if (env)
				mf_buf_append_str(&out, "ENV:");
			continue;
		}
		name = mf_strndup(start, (size_t)(p - start));
		if (env) {
			found = getenv(name);
			if (found == NULL)
				found = "";
		} else {
			full =
			    mf_strdup_printf("%s%s", section_prefix(ctx), name);
			found = mf_settings_get(ctx->set, full);
			free(full);
			if (found == NULL)
				found = mf_settings_get(ctx->set, name);
			if (found == NULL) {
				perr(ctx, file, line,
				     "unknown setting $%s in value", name);
				free(name);
				mf_buf_free(&out);
				return -1;
			}
		}
		mf_buf_append_str(&out, found);
		free(name);
		if (out.len > MF_SETTINGS_MAX_EXPANDED) {
			perr(ctx, file, line,
			     "value longer than %d bytes after $ expansion",
			     MF_SETTINGS_MAX_EXPANDED);
			mf_buf_free(&out);
			return -1;
		}
	}
	*result_r = mf_buf_detach(&out);
	return 0;
}

/* Remove quotes and backslash escapes. Returns -1 when the closing quote is
 * missing or something follows it. */
static int unquote(const char *value, char **result_r)
{
	struct mf_buf out = MF_BUF_INIT;
	char quote = value[0];
	const char *p = value + 1;

	for (; *p != '\0' && *p != quote; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		mf_buf_append_c(&out, *p);
	}
	if (*p != quote || p[1] != '\0') {
		mf_buf_free(&out);
		return -1;
	}
	*result_r = mf_buf_detach(&out);
	return 0;
}

static int handle_value(struct mf_parse *ctx, const char *file,
                        unsigned int line, const char *key, const char *value)
{
	char *final = NULL, *full;

	if (*value == '<') {
		struct mf_buf content = MF_BUF_INIT;
		char *path, *error;

		value++;
		while (is_white(*value))
			value++;
		path = relative_path(file, value);
		if (mf_file_read_all(path, &content, &error) < 0) {
			perr(ctx, file, line, "%s = <%s: %s", key, value,
			     error);
			free(error);
			free(path);
			return -1;
		}
		free(path);
		while (content.len > 0 &&
		       (content.data[content.len - 1] == '\n' ||
		        content.data[content.len - 1] == '\r'))
			mf_buf_truncate(&content, content.len - 1);
		final = mf_buf_detach(&content);
	} else if (*value == '"' || *value == '\'') {
		if (unquote(value, &final) < 0)
			return perr(ctx, file, line,
			            "%s: unterminated quoted value or text "
			            "after the closing quote",
			            key);
	} else if (strchr(value, '$') != NULL) {
		if (expand_vars(ctx, file, line, value, &final) < 0)
			return -1;
	} else {
		final = mf_strdup(value);
	}
	full = mf_strdup_printf("%s%s", section_prefix(ctx), key);
	mf_settings_set(ctx->set, full, final);
	free(full);
	free(final);
	return 0;
}

static int handle_section(struct mf_parse *ctx, const char *file,
                          unsigned int line, char *text)
{
	struct mf_section *sec;
	const char *parent;
	char *type = text, *name = NULL, *p, *prefix;

	/* text is "type [name] {" with the '{' last */
	p = text + strlen(text) - 1;
	*p = '\0';
	while (p > text && is_white(p[-1]))
		*--p = '\0';
	for (p = type; *p != '\0' && !is_white(*p); p++)
		;
	if (*p != '\0') {
		*p++ = '\0';
		while (is_white(*p))
			p++;
		name = p;
		if (*name == '"') {
			char *unq;

			if (unquote(name, &unq) < 0)
				return perr(ctx, file, line,
				            "bad quoted section name");
			/* keep it in text's storage: unq is never longer */
			memcpy(name, unq, strlen(unq) + 1);
			free(unq);
		} else {
			for (; *p != '\0'; p++) {
				if (is_white(*p))
					return perr(ctx, file, line,
					            "section '%s': expected "
					            "'type [name] {'",
					            type);
			}
		}
		if (*name == '\0')
			name = NULL;
	}
	if (*type == '\0')
		return perr(ctx, file, line, "'{' without a section type");
	parent = section_prefix(ctx);
	prefix = name == NULL
	             ? mf_strdup_printf("%s%s/", parent, type)
	             : mf_strdup_printf("%s%s/%s/", parent, type, name);
	sec = mf_array_append_zero(&ctx->sections);
	sec->prefix = prefix;
	sec->title = name == NULL ? mf_strdup(type)
	                          : mf_strdup_printf("%s %s", type, name);
	sec->file = file;
	sec->line = line;
	return 0;
}

static void section_pop(struct mf_parse *ctx)
{
	struct mf_section *sec = &ctx->sections.items[--ctx->sections.count];

	free(sec->prefix);
	free(sec->title);
}

/* Cut a trailing comment: '#' outside quotes starts one. */
static void strip_comment(char *line)
{
	char quote = '\0';

	for (char *p = line; *p != '\0'; p++) {
		if (quote != '\0') {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == quote)
				quote = '\0';
		} else if (*p == '"' || *p == '\'') {
			quote = *p;
		} else if (*p == '#') {
			*p = '\0';
			return;
		}
	}
}

static int parse_line(struct mf_parse *ctx, const char *file, unsigned int line,
                      char *text)
{
	char *p, *key, *end;
	size_t len;

	while (is_white(*text))
		text++;
	strip_comment(text);
	len = strlen(text);
	while (len > 0 && is_white(text[len - 1]))
		text[--len] = '\0';
	if (len == 0)
		return 0;

	if (text[0] == '!') {
		bool try_only = mf_str_begins(text, "!include_try") &&
		                (text[12] == '\0' || is_white(text[12]));

		if (!try_only && !(mf_str_begins(text, "!include") &&
		                   (text[8] == '\0' || is_white(text[8]))))
			return perr(ctx, file, line, "unknown directive '%s'",
			            text);
		p = text + (try_only ? 12 : 8);
		while (is_white(*p))
			p++;
		return handle_include(ctx, file, line, p, try_only);
	}
	if (strcmp(text, "}") == 0) {
		if (ctx->sections.count == 0)
			return perr(ctx, file, line,
			            "'}' without an open section");
		if (ctx->sections.items[ctx->sections.count - 1].file != file)
			return perr(
			    ctx, file, line,
			    "'}' closes section '%s' opened in %s",
			    ctx->sections.items[ctx->sections.count - 1].title,
			    ctx->sections.items[ctx->sections.count - 1].file);
		section_pop(ctx);
		return 0;
	}

	/* key = value, or "type [name] {" */
	key = text;
	for (p = text; *p != '\0' && *p != '=' && !is_white(*p); p++)
		;
	end = p;
	while (is_white(*p))
		p++;
	if (*p == '=') {
		*end = '\0';
		if (*key == '\0')
			return perr(ctx, file, line, "missing key before '='");
		p++;
		while (is_white(*p))
			p++;
		return handle_value(ctx, file, line, key, p);
	}
	if (text[len - 1] == '{')
		return handle_section(ctx, file, line, text);
	return perr(ctx, file, line, "expected 'key = value' but got '%s'",
	            text);
}

static int parse_text(struct mf_parse *ctx, const char *name, const char *text,
                      size_t len)
{
	struct mf_buf full = MF_BUF_INIT;
	size_t base = ctx->sections.count, pos = 0;
	unsigned int lineno = 0, start_line = 0;
	int ret = 0;

	while (pos < len && ret == 0) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t llen =
		    nl == NULL ? len - pos : (size_t)(nl - text) - pos;
		bool cont;

		lineno++;
		if (llen > MF_SETTINGS_MAX_LINE) {
			ret = perr(ctx, name, lineno,
			           "line too long (more than %d bytes)",
			           MF_SETTINGS_MAX_LINE);
			break;
		}
		if (memchr(text + pos, '\0', llen) != NULL) {
			ret = perr(ctx, name, lineno, "NUL byte in line");
			break;
		}
		if (full.len == 0) {
			start_line = lineno;
			mf_buf_append(&full, text + pos, llen);
		} else {
			/* a continuation line: drop its indentation */
			size_t skip = 0;

			while (skip < llen && is_white(text[pos + skip]))
				skip++;
			mf_buf_append(&full, text + pos + skip, llen - skip);
		}
		pos += llen + (nl == NULL ? 0 : 1);
		/* a trailing backslash joins the next line */
		while (full.len > 0 && (full.data[full.len - 1] == '\r' ||
		                        full.data[full.len - 1] == ' ' ||
		                        full.data[full.len - 1] == '\t'))
			mf_buf_truncate(&full, full.len - 1);
		cont = full.len > 0 && full.data[full.len - 1] == '\\' &&
		       full.data[0] != '#';
		if (cont) {
			mf_buf_truncate(&full, full.len - 1);
			while (full.len > 0 &&
			       is_white(full.data[full.len - 1]))
				mf_buf_truncate(&full, full.len - 1);
			mf_buf_append_c(&full, ' ');
			if (full.len > MF_SETTINGS_MAX_LINE)
				ret = perr(ctx, name, lineno,
				           "line too long (more than %d bytes)",
				           MF_SETTINGS_MAX_LINE);
			continue;
		}
		ret = parse_line(ctx, name, start_line, full.data);
		mf_buf_truncate(&full, 0);
	}
	if (ret == 0 && full.len > 0)
		ret = parse_line(ctx, name, start_line, full.data);
	mf_buf_free(&full);
	if (ret == 0 && ctx->sections.count > base) {
		const struct mf_section *sec = &ctx->sections.items[base];

		ret = perr(ctx, name, sec->line,
		           "unterminated section '%s' (missing '}' before the "
		           "end of the file)",
		           sec->title);
	}
	/* drop sections this file opened (only left over on errors) */
	while (ctx->sections.count > base)
		section_pop(ctx);
	return ret;
}

static int parse_finish(struct mf_parse *ctx, int ret, char **error_r)
{
	for (size_t i = 0; i < ctx->chain.count; i++)
		free(ctx->chain.items[i]);
	mf_array_free(&ctx->chain);
	while (ctx->sections.count > 0)
		section_pop(ctx);
	mf_array_free(&ctx->sections);
	if (ret < 0) {
		*error_r = ctx->error != NULL ? ctx->error
		                              : mf_strdup("settings: error");
		return -1;
	}
	free(ctx->error);
	return 0;
}

int mf_settings_load_string(struct mf_settings *set, const char *name,
                            const char *text, char **error_r)
{
	struct mf_parse ctx;
	int ret;

	mf_zero(&ctx);
	ctx.set = set;
	ret = parse_text(&ctx, name, text, strlen(text));
	return parse_finish(&ctx, ret, error_r);
}

int mf_settings_load_file(struct mf_settings *set, const char *path,
                          char **error_r)
{
	struct mf_buf text = MF_BUF_INIT;
	struct mf_parse ctx;
	char *real;
	int ret;

	if (mf_file_read_all(path, &text, error_r) < 0)
		return -1;
	real = realpath(path, NULL);
	mf_zero(&ctx);
	ctx.set = set;
	if (real != NULL)
		mf_array_push(&ctx.chain, real);
	ret = parse_text(&ctx, path, mf_buf_str(&text), text.len);
	mf_buf_free(&text);
	return parse_finish(&ctx, ret, error_r);
}
