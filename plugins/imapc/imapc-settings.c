/* SPDX-License-Identifier: MIT */
/*
 * imapc-settings.c - reading the imapc_* settings (see imapc-settings.h).
 *
 * Secrets (password, OAuth2 token) come from a setting, a file or the
 * environment, so they never have to be typed on a command line where
 * other users could read them from the process list.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "mf-alloc.h"
#include "mf-file.h"
#include "imapc-private.h"
#include "imapc-settings.h"

struct lookup {
	struct mailferry_ctx *ctx;
	const struct mailferry_open_params *params;
};

/* Location options win over configuration settings. */
static const char *get(const struct lookup *lk, const char *key)
{
	const struct mailferry_open_params *p = lk->params;

	for (size_t i = 0; i < p->option_count; i++) {
		if (strcasecmp(p->option_keys[i], key) == 0)
			return p->option_values[i];
	}
	return imapc_api->setting(lk->ctx, key);
}

static int parse_uint_suffix(const char *str, uint64_t *num_r,
                             const char **suffix_r)
{
	char *end;

	while (isspace((unsigned char)*str))
		str++;
	if (!isdigit((unsigned char)*str))
		return -1;
	errno = 0;
	unsigned long long n = strtoull(str, &end, 10);
	if (errno != 0)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	*num_r = n;
	*suffix_r = end;
	return 0;
}

int imapc_parse_secs(const char *str, uint64_t *secs_r)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = {
	    {"", 1},         {"s", 1},        {"sec", 1},      {"secs", 1},
	    {"second", 1},   {"seconds", 1},  {"m", 60},       {"min", 60},
	    {"mins", 60},    {"minute", 60},  {"minutes", 60}, {"h", 3600},
	    {"hour", 3600},  {"hours", 3600}, {"d", 86400},    {"day", 86400},
	    {"days", 86400},
	};
	uint64_t n;
	const char *suffix;

	if (parse_uint_suffix(str, &n, &suffix) < 0)
		return -1;
	for (size_t i = 0; i < MF_N_ELEMENTS(units); i++) {
		if (strcasecmp(suffix, units[i].unit) == 0) {
			*secs_r = n * units[i].mult;
			return 0;
		}
	}
	return -1;
}

int imapc_parse_size(const char *str, uint64_t *bytes_r)
{
	uint64_t n, mult;
	const char *suffix;

	if (parse_uint_suffix(str, &n, &suffix) < 0)
		return -1;
	switch (toupper((unsigned char)suffix[0])) {
	case '\0':
	case 'B':
		mult = 1;
		break;
	case 'K':
		mult = 1024;
		break;
	case 'M':
		mult = 1024 * 1024;
		break;
	case 'G':
		mult = 1024ull * 1024 * 1024;
		break;
	default:
		return -1;
	}
	if (suffix[0] != '\0' && suffix[1] != '\0' &&
	    strcasecmp(suffix + 1, "B") != 0)
		return -1;
	*bytes_r = n * mult;
	return 0;
}

static void trim_end(char *s)
{
	size_t len = strlen(s);

	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' ||
	                   s[len - 1] == ' ' || s[len - 1] == '\t'))
		s[--len] = '\0';
}

static int read_secret_file(const char *key, const char *path, char **out_r,
                            char **error_r)
{
	struct mf_buf buf = MF_BUF_INIT;
	char *ferr;

	if (mf_file_read_all(path, &buf, &ferr) < 0) {
		*error_r = mf_strdup_printf("%s: %s", key, ferr);
		free(ferr);
		return MAILFERRY_E_INVALID;
	}
	*out_r = mf_buf_detach(&buf);
	trim_end(*out_r);
	return 0;
}

static int run_token_command(const char *cmd, char **out_r, char **error_r)
{
	FILE *f = popen(cmd, "re");
	struct mf_buf buf = MF_BUF_INIT;
	char chunk[512];
	size_t n;

	if (f == NULL) {
		*error_r = mf_strdup_printf(
		    "imapc_oauth2_token_command: popen() failed: %s",
		    strerror(errno));
		return MAILFERRY_E_INVALID;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		mf_buf_append(&buf, chunk, n);
	int status = pclose(f);
	if (status != 0) {
		explicit_bzero(buf.data == NULL ? chunk : buf.data,
		               buf.data == NULL ? sizeof(chunk) : buf.len);
		mf_buf_free(&buf);
		*error_r = mf_strdup_printf(
		    "imapc_oauth2_token_command '%s' failed (status %d)", cmd,
		    status);
		return MAILFERRY_E_INVALID;
	}
	*out_r = mf_buf_detach(&buf);
	trim_end(*out_r);
	return 0;
}

static int parse_bool(const char *key, const char *value, bool def,
                      bool *value_r, char **error_r)
{
	if (value == NULL || *value == '\0') {
		*value_r = def;
		return 0;
	}
	if (strcasecmp(value, "yes") == 0 || strcasecmp(value, "true") == 0 ||
	    strcmp(value, "1") == 0) {
		*value_r = true;
		return 0;
	}
	if (strcasecmp(value, "no") == 0 || strcasecmp(value, "false") == 0 ||
	    strcmp(value, "0") == 0) {
		*value_r = false;
		return 0;
	}
	*error_r = mf_strdup_printf("%s: '%s' is not yes or no", key, value);
	return MAILFERRY_E_INVALID;
}

/* imapc_features: words that switch capabilities off (for broken servers
 * and tests) or on; Dovecot's own words we do not need are ignored. */
static void parse_features(const struct lookup *lk, const char *value,
                           struct imapc_client_settings *set, bool *xguid_r)
{
	static const struct {
		const char *word;
		uint32_t cap;
	} no_words[] = {
	    {"no-qresync", IMAPC_CAP_QRESYNC},
	    {"no-condstore", IMAPC_CAP_CONDSTORE | IMAPC_CAP_QRESYNC},
	    {"no-literal+", IMAPC_CAP_LITERALPLUS | IMAPC_CAP_LITERALMINUS},
	    {"no-uidplus", IMAPC_CAP_UIDPLUS},
	    {"no-multiappend", IMAPC_CAP_MULTIAPPEND},
	    {"no-list-status", IMAPC_CAP_LIST_STATUS},
	    {"no-list-extended", IMAPC_CAP_LIST_EXTENDED},
	    {"no-x-guid", IMAPC_CAP_X_GUID},
	    {"no-objectid", IMAPC_CAP_OBJECTID},
	    {"no-sasl-ir", IMAPC_CAP_SASL_IR},
	    {"no-namespace", IMAPC_CAP_NAMESPACE},
	    {"no-utf8", IMAPC_CAP_UTF8_ACCEPT},
	    {"no-utf8=accept", IMAPC_CAP_UTF8_ACCEPT},
	    {"no-move", IMAPC_CAP_MOVE},
	    {"no-create-special-use", IMAPC_CAP_CREATE_SPECIAL_USE},
	};
	char *copy = mf_strdup(value), *save = NULL;

	for (char *w = strtok_r(copy, " ,", &save); w != NULL;
	     w = strtok_r(NULL, " ,", &save)) {
		bool known = false;
		for (size_t i = 0; i < MF_N_ELEMENTS(no_words); i++) {
			if (strcasecmp(w, no_words[i].word) == 0) {
				set->caps_disabled |= no_words[i].cap;
				known = true;
			}
		}
		if (strcasecmp(w, "x-guid") == 0 ||
		    strcasecmp(w, "guid-forced") == 0) {
			*xguid_r = true;
			known = true;
		}
		if (!known)
			imapc_api->log(lk->ctx, MAILFERRY_LOG_DEBUG,
			               "imapc_features: '%s' ignored", w);
	}
	free(copy);
}

int imapc_settings_read(struct mailferry_ctx *ctx,
                        const struct mailferry_open_params *params,
                        struct imapc_settings *set, char **error_r)
{
	struct lookup lk = {ctx, params};
	struct imapc_client_settings *cs = &set->client;
	const char *v;
	uint64_t n;
	int ret;

	memset(set, 0, sizeof(*set));
	cs->conn.ssl_verify = true;

	v = get(&lk, "imapc_ssl");
	/* an imap:// URL says "no"; a configured starttls still upgrades it
	 * (settings may make a connection safer, never weaker) */
	const char *vset = imapc_api->setting(ctx, "imapc_ssl");
	if (v != NULL && strcasecmp(v, "no") == 0 && vset != NULL &&
	    strcasecmp(vset, "starttls") == 0)
		v = vset;
	if (v == NULL || *v == '\0' || strcasecmp(v, "no") == 0)
		cs->conn.ssl = IMAPC_SSL_NONE;
	else if (strcasecmp(v, "imaps") == 0)
		cs->conn.ssl = IMAPC_SSL_IMAPS;
	else if (strcasecmp(v, "starttls") == 0)
		cs->conn.ssl = IMAPC_SSL_STARTTLS;
	else {
		*error_r = mf_strdup_printf(
		    "imapc_ssl: '%s' is not imaps, starttls or no", v);
		return MAILFERRY_E_INVALID;
	}
	if ((ret = parse_bool("imapc_ssl_verify", get(&lk, "imapc_ssl_verify"),
	                      true, &cs->conn.ssl_verify, error_r)) < 0)
		return ret;
	if (!cs->conn.ssl_verify && cs->conn.ssl != IMAPC_SSL_NONE)
		imapc_api->log(ctx, MAILFERRY_LOG_WARNING,
		               "imapc_ssl_verify = no: the server's TLS "
		               "certificate is NOT checked; anyone on the "
		               "network path can read and change this mail "
		               "and steal the password");

	v = get(&lk, "imapc_command");
	set->command = v != NULL && *v != '\0' ? mf_strdup(v) : NULL;
	v = get(&lk, "imapc_host");
	if ((v == NULL || *v == '\0') && set->command == NULL) {
		*error_r = mf_strdup("imapc_host is not set (use "
		                     "imap://user@host/ or imapc_host)");
		return MAILFERRY_E_INVALID;
	}
	set->host = mf_strdup(v != NULL && *v != '\0' ? v : "localhost");
	cs->conn.port = cs->conn.ssl == IMAPC_SSL_IMAPS ? 993 : 143;
	v = get(&lk, "imapc_port");
	if (v != NULL && *v != '\0') {
		char *end;
		unsigned long p = strtoul(v, &end, 10);
		if (*end != '\0' || p == 0 || p > 65535) {
			*error_r = mf_strdup_printf(
			    "imapc_port: '%s' is not a port number", v);
			return MAILFERRY_E_INVALID;
		}
		cs->conn.port = (unsigned int)p;
	}
	v = get(&lk, "imapc_ssl_ca_file");
	if (v == NULL)
		v = get(&lk, "ssl_client_ca_file");
	set->ca_file = v != NULL && *v != '\0' ? mf_strdup(v) : NULL;

	v = get(&lk, "imapc_user");
	if (v == NULL || *v == '\0')
		v = params->user;
	set->user = v != NULL ? mf_strdup(v) : NULL;
	v = get(&lk, "imapc_master_user");
	set->master_user = v != NULL && *v != '\0' ? mf_strdup(v) : NULL;

	v = get(&lk, "imapc_sasl_mechanisms");
	if (v == NULL || *v == '\0')
		cs->mech = IMAPC_AUTH_AUTO;
	else if (strcasecmp(v, "plain") == 0)
		cs->mech = IMAPC_AUTH_PLAIN;
	else if (strcasecmp(v, "login") == 0)
		cs->mech = IMAPC_AUTH_LOGIN;
	else if (strcasecmp(v, "xoauth2") == 0)
		cs->mech = IMAPC_AUTH_XOAUTH2;
	else if (strcasecmp(v, "oauthbearer") == 0)
		cs->mech = IMAPC_AUTH_OAUTHBEARER;
	else {
		*error_r = mf_strdup_printf(
		    "imapc_sasl_mechanisms: '%s' is not plain, login, "
		    "xoauth2 or oauthbearer",
		    v);
		return MAILFERRY_E_INVALID;
	}

	/* secret: OAuth2 token sources, then password sources */
	const char *token_file = get(&lk, "imapc_oauth2_token_file");
	const char *token_cmd = get(&lk, "imapc_oauth2_token_command");
	if (token_file != NULL && *token_file != '\0') {
		if ((ret =
		         read_secret_file("imapc_oauth2_token_file", token_file,
		                          &set->password, error_r)) < 0)
			return ret;
	} else if (token_cmd != NULL && *token_cmd != '\0') {
		if ((ret = run_token_command(token_cmd, &set->password,
		                             error_r)) < 0)
			return ret;
	}
	if (set->password != NULL && cs->mech == IMAPC_AUTH_AUTO)
		cs->mech = IMAPC_AUTH_OAUTHBEARER;
	if (set->password == NULL) {
		const char *pf = get(&lk, "imapc_password_file");
		v = get(&lk, "imapc_password");
		if (v != NULL && *v != '\0')
			set->password = mf_strdup(v);
		else if (pf != NULL && *pf != '\0') {
			if ((ret = read_secret_file("imapc_password_file", pf,
			                            &set->password, error_r)) <
			    0)
				return ret;
		} else if ((v = getenv("MAILFERRY_IMAPC_PASSWORD")) != NULL)
			set->password = mf_strdup(v);
	}

	v = get(&lk, "imapc_list_prefix");
	set->list_prefix = mf_strdup(v != NULL ? v : "");

	bool force_xguid = false;
	v = get(&lk, "imapc_features");
	if (v != NULL)
		parse_features(&lk, v, cs, &force_xguid);
	(void)force_xguid;

	cs->conn.read_timeout_secs = 300;
	v = get(&lk, "imapc_cmd_timeout");
	if (v != NULL && *v != '\0') {
		if (imapc_parse_secs(v, &n) < 0 || n == 0 || n > 86400) {
			*error_r = mf_strdup_printf(
			    "imapc_cmd_timeout: '%s' is not a time", v);
			return MAILFERRY_E_INVALID;
		}
		cs->conn.read_timeout_secs = (unsigned int)n;
	}
	cs->conn.connect_timeout_secs = 30;
	v = get(&lk, "imapc_connection_timeout_interval");
	if (v != NULL && *v != '\0') {
		if (imapc_parse_secs(v, &n) < 0 || n == 0 || n > 86400) {
			*error_r = mf_strdup_printf(
			    "imapc_connection_timeout_interval: '%s' is "
			    "not a time",
			    v);
			return MAILFERRY_E_INVALID;
		}
		cs->conn.connect_timeout_secs = (unsigned int)n;
	}
	set->max_idle_msecs = 29 * 60 * 1000;
	v = get(&lk, "imapc_max_idle_time");
	if (v != NULL && *v != '\0') {
		if (imapc_parse_secs(v, &n) < 0 || n > 86400) {
			*error_r = mf_strdup_printf(
			    "imapc_max_idle_time: '%s' is not a time", v);
			return MAILFERRY_E_INVALID;
		}
		set->max_idle_msecs = n * 1000;
	}
	cs->retry_count = 3;
	v = get(&lk, "imapc_connection_retry_count");
	if (v != NULL && *v != '\0') {
		char *end;
		unsigned long c = strtoul(v, &end, 10);
		if (*end != '\0' || c > 100) {
			*error_r = mf_strdup_printf(
			    "imapc_connection_retry_count: '%s' is not a "
			    "number up to 100",
			    v);
			return MAILFERRY_E_INVALID;
		}
		cs->retry_count = (unsigned int)c;
	}
	cs->retry_interval_msecs = 1000;
	v = get(&lk, "imapc_connection_retry_interval");
	if (v != NULL && *v != '\0') {
		/* milliseconds, as Dovecot's setting ("1 secs" allowed) */
		char *end;
		unsigned long ms = strtoul(v, &end, 10);
		if (*end != '\0') {
			if (imapc_parse_secs(v, &n) < 0) {
				*error_r = mf_strdup_printf(
				    "imapc_connection_retry_interval: "
				    "'%s' is not a time",
				    v);
				return MAILFERRY_E_INVALID;
			}
			ms = (unsigned long)n * 1000;
		}
		cs->retry_interval_msecs = (unsigned int)ms;
	}
	v = get(&lk, "imapc_rate_limit");
	if (v != NULL && *v != '\0' &&
	    imapc_parse_size(v, &cs->conn.rate_limit) < 0) {
		*error_r = mf_strdup_printf(
		    "imapc_rate_limit: '%s' is not a size (bytes/s)", v);
		return MAILFERRY_E_INVALID;
	}
	set->window = IMAPC_DEFAULT_WINDOW;
	v = get(&lk, "imapc_prefetch_window");
	if (v != NULL && *v != '\0' &&
	    (imapc_parse_size(v, &set->window) < 0 || set->window == 0)) {
		*error_r = mf_strdup_printf(
		    "imapc_prefetch_window: '%s' is not a size", v);
		return MAILFERRY_E_INVALID;
	}
	v = get(&lk, "imapc_rawlog");
	if (v == NULL || *v == '\0')
		v = getenv("MAILFERRY_RAWLOG");
	set->rawlog = v != NULL && *v != '\0' ? mf_strdup(v) : NULL;

	cs->conn.host = set->host;
	cs->conn.ca_file = set->ca_file;
	cs->conn.command = set->command;
	cs->conn.rawlog_path = set->rawlog;
	cs->user = set->user;
	cs->master_user = set->master_user;
	cs->password = set->password;
	if (force_xguid)
		cs->force_caps |= IMAPC_CAP_X_GUID;
	return 0;
}

void imapc_settings_free(struct imapc_settings *set)
{
	free(set->host);
	free(set->user);
	free(set->master_user);
	if (set->password != NULL) {
		explicit_bzero(set->password, strlen(set->password));
		free(set->password);
	}
	free(set->ca_file);
	free(set->command);
	free(set->rawlog);
	free(set->list_prefix);
	memset(set, 0, sizeof(*set));
}
