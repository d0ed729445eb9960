/* SPDX-License-Identifier: MIT */
/*
 * Location strings. Two shapes: Dovecot's mail_location syntax
 * "driver:path:KEY=VALUE..." (with "::" for a literal ':'), and IMAP URLs,
 * which become the imapc driver with lower-case imapc_* options so the
 * driver reads them exactly like the same settings from the config file.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "mf-alloc.h"
#include "mf-buf.h"
#include "mf-location.h"

static void add_option(struct mf_location *loc, const char *key,
                       const char *value)
{
	struct mf_location_option *opt = mf_array_append_zero(&loc->options);

	opt->key = mf_strdup(key);
	opt->value = mf_strdup(value);
}

void mf_location_free(struct mf_location **_loc)
{
	struct mf_location *loc = *_loc;

	if (loc == NULL)
		return;
	for (size_t i = 0; i < loc->options.count; i++) {
		free(loc->options.items[i].key);
		free(loc->options.items[i].value);
	}
	mf_array_free(&loc->options);
	free(loc->driver);
	free(loc->path);
	free(loc->display);
	free(loc);
	*_loc = NULL;
}

const char *mf_location_option(const struct mf_location *loc, const char *key)
{
	for (size_t i = 0; i < loc->options.count; i++) {
		if (strcmp(loc->options.items[i].key, key) == 0)
			return loc->options.items[i].value;
	}
	return NULL;
}

static int fail(char **error_r, const char *str, const char *fmt, ...)
    MF_PRINTF(3, 4);
static int fail(char **error_r, const char *str, const char *fmt, ...)
{
	struct mf_buf buf = MF_BUF_INIT;
	va_list args;

	mf_buf_printf(&buf, "location '%s': ", str);
	va_start(args, fmt);
	mf_buf_vprintf(&buf, fmt, args);
	va_end(args);
	*error_r = mf_buf_detach(&buf);
	return -1;
}

/* Expand ~ (at the start) and %-variables of value. display is the string
 * named in errors. */
static int expand(const char *display, const char *value,
                  const struct mf_location_vars *vars, char **result_r,
                  char **error_r)
{
	static const struct mf_location_vars no_vars = {NULL, NULL};
	struct mf_buf out = MF_BUF_INIT;
	const char *user, *at, *p = value;

	if (vars == NULL)
		vars = &no_vars;
	user = vars->user == NULL ? "" : vars->user;
	at = strchr(user, '@');

	if (p[0] == '~' && (p[1] == '\0' || p[1] == '/')) {
		if (vars->home == NULL || vars->home[0] == '\0')
			return fail(error_r, display,
			            "'~' used but the home directory is "
			            "unknown");
		mf_buf_append_str(&out, vars->home);
		p++;
	} else if (p[0] == '~') {
		return fail(error_r, display,
		            "'~user' is not supported, write the path");
	}
	for (; *p != '\0'; p++) {
		const char *name;
		size_t nlen;

		if (*p != '%') {
			mf_buf_append_c(&out, *p);
			continue;
		}
		p++;
		if (*p == '{') {
			const char *close = strchr(p, '}');

			if (close == NULL) {
				mf_buf_free(&out);
				return fail(error_r, display,
				            "unterminated %%{ variable");
			}
			name = p + 1;
			nlen = (size_t)(close - name);
			p = close;
		} else if (*p == '\0') {
			mf_buf_free(&out);
			return fail(error_r, display,
			            "'%%' at the end (write %%%% for a "
			            "literal '%%')");
		} else {
			name = p;
			nlen = 1;
		}
#define IS(str) (nlen == strlen(str) && strncmp(name, str, nlen) == 0)
		if (IS("%")) {
			mf_buf_append_c(&out, '%');
		} else if (IS("u") || IS("user")) {
			mf_buf_append_str(&out, user);
		} else if (IS("n") || IS("username")) {
			mf_buf_append(&out, user,
			              at == NULL ? strlen(user)
			                         : (size_t)(at - user));
		} else if (IS("d") || IS("domain")) {
			if (at != NULL)
				mf_buf_append_str(&out, at + 1);
		} else if (IS("h") || IS("home")) {
			if (vars->home == NULL || vars->home[0] == '\0') {
				mf_buf_free(&out);
				return fail(error_r, display,
				            "%%h used but the home directory "
				            "is unknown");
			}
			mf_buf_append_str(&out, vars->home);
		} else {
			mf_buf_free(&out);
			return fail(error_r, display,
			            "unknown variable %%%.*s (known: %%u %%n "
			            "%%d %%h %%%%)",
			            (int)nlen, name);
		}
#undef IS
	}
	*result_r = mf_buf_detach(&out);
	return 0;
}

/* Decode %XX escapes of a URL part. */
static int url_decode(const char *str, size_t len, char **result_r)
{
	struct mf_buf out = MF_BUF_INIT;

	for (size_t i = 0; i < len; i++) {
		if (str[i] == '%') {
			char hex[3];
			char *end;

			if (i + 2 >= len) {
				mf_buf_free(&out);
				return -1;
			}
			hex[0] = str[i + 1];
			hex[1] = str[i + 2];
			hex[2] = '\0';
			if (!isxdigit((unsigned char)hex[0]) ||
			    !isxdigit((unsigned char)hex[1])) {
				mf_buf_free(&out);
				return -1;
			}
			mf_buf_append_c(&out, (char)strtoul(hex, &end, 16));
			i += 2;
		} else {
			mf_buf_append_c(&out, str[i]);
		}
	}
	*result_r = mf_buf_detach(&out);
	return 0;
}

/* str with the password of a "scheme://user:password@" prefix replaced by
 * "***", for error messages. */
static char *redact(const char *str)
{
	const char *p = strstr(str, "://"), *at, *colon;

	if (p == NULL)
		return mf_strdup(str);
	p += 3;
	at = strchr(p, '@');
	if (at == NULL)
		return mf_strdup(str);
	colon = memchr(p, ':', (size_t)(at - p));
	if (colon == NULL)
		return mf_strdup(str);
	return mf_strdup_printf("%.*s:***%s", (int)(colon - str), str, at);
}

/* imap://[user[:password]@]host[:port][/] and imaps:// */
static int parse_url(const char *str, struct mf_location *loc, char **error_r)
{
	bool ssl = mf_str_begins(str, "imaps://");
	const char *p = str + (ssl ? 8 : 7), *at, *hostend, *end;
	char *user = NULL, *password = NULL, *host = NULL, *port = NULL;
	struct mf_buf display = MF_BUF_INIT;
	char *safe = redact(str);
	int ret = -1;

	end = p + strcspn(p, "/?#");
	if (*end == '?' || *end == '#' || (*end == '/' && end[1] != '\0')) {
		/* the mailbox part of RFC 5092 URLs has no meaning here */
		fail(error_r, safe,
		     "only imap[s]://[user@]host[:port]/ is supported (no "
		     "mailbox or query part)");
		goto out;
	}
	at = memchr(p, '@', (size_t)(end - p));
	if (at != NULL) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		size_t ulen = (size_t)((colon != NULL ? colon : at) - p);

		if (url_decode(p, ulen, &user) < 0 ||
		    (colon != NULL &&
		     url_decode(colon + 1, (size_t)(at - colon - 1),
		                &password) < 0)) {
			fail(error_r, safe,
			     "bad %%-escape in the user name or password");
			goto out;
		}
		if (*user == '\0') {
			fail(error_r, safe, "empty user name before '@'");
			goto out;
		}
		p = at + 1;
	}
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (close == NULL) {
			fail(error_r, safe, "unterminated '[' in IPv6 address");
			goto out;
		}
		host = mf_strndup(p + 1, (size_t)(close - p - 1));
		hostend = close + 1;
	} else {
		hostend = p + strcspn(p, ":/");
		if (hostend > end)
			hostend = end;
		host = mf_strndup(p, (size_t)(hostend - p));
	}
	if (*host == '\0') {
		fail(error_r, safe, "missing host name");
		goto out;
	}
	if (hostend < end && *hostend == ':') {
		char *pend;
		unsigned long n;

		port = mf_strndup(hostend + 1, (size_t)(end - hostend - 1));
		n = strtoul(port, &pend, 10);
		if (*port == '\0' || *pend != '\0' || n == 0 || n > 65535 ||
		    !isdigit((unsigned char)*port)) {
			fail(error_r, safe, "bad port '%s'", port);
			goto out;
		}
	} else if (hostend != end) {
		fail(error_r, safe, "unexpected text after the host name");
		goto out;
	}
	if (port == NULL)
		port = mf_strdup(ssl ? "993" : "143");

	loc->driver = mf_strdup("imapc");
	loc->path = mf_strdup("");
	add_option(loc, "imapc_host", host);
	add_option(loc, "imapc_port", port);
	if (user != NULL)
		add_option(loc, "imapc_user", user);
	if (password != NULL)
		add_option(loc, "imapc_password", password);
	add_option(loc, "imapc_ssl", ssl ? "imaps" : "no");

	/* the display form never carries the password */
	mf_buf_append_str(&display, ssl ? "imaps://" : "imap://");
	if (user != NULL)
		mf_buf_printf(&display, "%s@", user);
	if (strchr(host, ':') != NULL)
		mf_buf_printf(&display, "[%s]", host);
	else
		mf_buf_append_str(&display, host);
	mf_buf_printf(&display, ":%s/", port);
	loc->display = mf_buf_detach(&display);
	ret = 0;
out:
	free(user);
	if (password != NULL) {
		/* do not leave the secret lying around in freed memory */
		memset(password, 0, strlen(password));
		free(password);
	}
	free(host);
	free(port);
	free(safe);
	return ret;
}

/* Split str (after the driver prefix) on single ':' into fields; "::" is a
 * literal ':'. */
struct mf_fields {
	MF_ARRAY(char *) list;
};

static void split_fields(const char *str, struct mf_fields *fields)
{
	struct mf_buf cur = MF_BUF_INIT;

	for (const char *p = str;; p++) {
		if (*p == ':' && p[1] == ':') {
			mf_buf_append_c(&cur, ':');
			p++;
		} else if (*p == ':' || *p == '\0') {
			mf_array_push(&fields->list, mf_buf_detach(&cur));
			if (*p == '\0')
				break;
		} else {
			mf_buf_append_c(&cur, *p);
		}
	}
}

static bool valid_driver_name(const char *name, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

int mf_location_parse(const char *str, const struct mf_location_vars *vars,
                      struct mf_location **loc_r, char **error_r)
{
	struct mf_location *loc = mf_calloc(1, sizeof(*loc));
	struct mf_fields fields = {MF_ARRAY_INIT};
	char *safe = NULL;
	const char *colon;
	int ret = -1;

	if (mf_str_begins(str, "imap://") || mf_str_begins(str, "imaps://")) {
		if (parse_url(str, loc, error_r) < 0) {
			mf_location_free(&loc);
			return -1;
		}
		*loc_r = loc;
		return 0;
	}

	/* Credentials belong only in imap URLs; anything else with them is a
	 * mistake whose message must not repeat the password. */
	safe = redact(str);
	if (strcmp(safe, str) != 0) {
		fail(error_r, safe,
		     "not a location: only imap:// and imaps:// URLs may carry "
		     "a user and password");
		goto out;
	}
	colon = strchr(str, ':');
	if (colon == NULL) {
		fail(error_r, str,
		     "expected driver:path (e.g. maildir:~/Maildir)");
		goto out;
	}
	if (!valid_driver_name(str, (size_t)(colon - str))) {
		if (colon == str)
			fail(error_r, str, "no driver name before ':'");
		else
			fail(error_r, str,
			     "bad driver name '%.*s' (allowed: a-z 0-9 _ -)",
			     (int)(colon - str), str);
		goto out;
	}
	loc->driver = mf_strndup(str, (size_t)(colon - str));
	loc->display = mf_strdup(str);
	split_fields(colon + 1, &fields);

	if (expand(str, fields.list.items[0], vars, &loc->path, error_r) < 0)
		goto out;
	for (size_t i = 1; i < fields.list.count; i++) {
		const char *field = fields.list.items[i];
		const char *eq = strchr(field, '=');
		char *key, *value;

		if (eq == NULL) {
			/* bare flags such as Dovecot's NO-NOSELECT */
			bool upper = *field != '\0';

			for (const char *p = field; *p != '\0'; p++) {
				if (!(isupper((unsigned char)*p) ||
				      isdigit((unsigned char)*p) || *p == '_' ||
				      *p == '-'))
					upper = false;
			}
			if (!upper) {
				fail(error_r, str,
				     "option '%s' is not KEY=VALUE (write "
				     "'::' for a ':' inside the path)",
				     field);
				goto out;
			}
			add_option(loc, field, "");
			continue;
		}
		if (eq == field) {
			fail(error_r, str, "option '%s' has no key", field);
			goto out;
		}
		if (expand(str, eq + 1, vars, &value, error_r) < 0)
			goto out;
		key = mf_strndup(field, (size_t)(eq - field));
		add_option(loc, key, value);
		free(key);
		free(value);
	}
	ret = 0;
out:
	for (size_t i = 0; i < fields.list.count; i++)
		free(fields.list.items[i]);
	mf_array_free(&fields.list);
	free(safe);
	if (ret < 0)
		mf_location_free(&loc);
	else
		*loc_r = loc;
	return ret;
}
