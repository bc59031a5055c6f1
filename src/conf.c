/* conf.c: refguard.conf(5); see conf.h. */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "rules.h"
#include "log.h"
#include "sbuf.h"
#include "store.h"
#include "util.h"

#define CONF_MAX_LINE	4096

enum ctype {
	CT_PATH,	/* string; relative to the file's directory */
	CT_STR,
	CT_MODE,	/* octal */
	CT_SIZE,
	CT_DURATION,
	CT_UINT,
	CT_BOOL,
	CT_SYNC,
	CT_LOGLEVEL,
	CT_LOGTARGET,
	CT_LIST,	/* repeatable path */
	CT_LISTEN,	/* a Unix socket path or an address:port */
	CT_AUDIT,
	CT_RULES,	/* rules (one path) or rules_dirs (several) */
};

struct ckey {
	const char	*name;
	enum ctype	 type;
	size_t		 off;		/* into struct conf */
	size_t		 countoff;	/* CT_LIST: the count */
	uint64_t	 min, max;	/* CT_UINT, CT_SIZE bounds; CT_DURATION:
					   min ms when not 0 */
};

#define OFF(f)	offsetof(struct conf, f)
static const struct ckey ckeys[] = {
	{ "socket", CT_PATH, OFF(socket_path), 0, 0, 0 },
	{ "socket_mode", CT_MODE, OFF(socket_mode), 0, 0, 0777 },
	{ "socket_group", CT_STR, OFF(socket_group), 0, 0, 0 },
	{ "max_line", CT_SIZE, OFF(max_line), 0, 256, 64 << 20 },
	{ "max_connections", CT_UINT, OFF(max_conns), 0, 1, 1000000 },
	{ "max_pipeline", CT_UINT, OFF(max_pipeline), 0, 1, 1000000 },
	{ "max_outbuf", CT_SIZE, OFF(max_outbuf), 0, 4096, 1ULL << 32 },
	{ "max_outbuf_total", CT_SIZE, OFF(max_outbuf_total), 0, 1 << 20,
	    1ULL << 40 },
	{ "idle_timeout", CT_DURATION, OFF(idle_timeout), 0, 0, 0 },
	{ "state_dir", CT_PATH, OFF(state_dir), 0, 0, 0 },
	{ "map_size", CT_SIZE, OFF(map_size), 0, 1 << 20, 1ULL << 44 },
	{ "map_max", CT_SIZE, OFF(map_max), 0, 1 << 20, 1ULL << 44 },
	{ "sync", CT_SYNC, OFF(sync_full), 0, 0, 0 },
	{ "recent_entries", CT_UINT, OFF(recent_entries), 0, 1000,
	    STORE_RECENT_MAX },
	{ "eval_threads", CT_UINT, OFF(eval_threads), 0, 0, 64 },
	{ "retention", CT_DURATION, OFF(retention), 0, 0, 0 },
	{ "rules", CT_RULES, OFF(rules_path), 0, 0, 0 },
	{ "rules_dirs", CT_RULES, OFF(rules_paths), 0, 0, 0 },
	{ "rules_max_bytes", CT_SIZE, OFF(rules_max_bytes), 0, 4096,
	    1ULL << 30 },
	{ "hash_secret_file", CT_PATH, OFF(hash_secret_file), 0, 0, 0 },
	{ "disposable_file", CT_PATH, OFF(disposable_file), 0, 0, 0 },
	{ "zoneinfo_dir", CT_PATH, OFF(zoneinfo_dir), 0, 0, 0 },
	{ "ip_prefix4", CT_UINT, OFF(ip_prefix4), 0, 8, 32 },
	{ "ip_prefix6", CT_UINT, OFF(ip_prefix6), 0, 16, 128 },
	{ "geoip_db", CT_LIST, OFF(geoip), OFF(ngeoip), 0, 0 },
	{ "email_domain", CT_LIST, OFF(email_domains), OFF(nemail_domains), 0, 0 },
	{ "data_stamp_file", CT_PATH, OFF(data_stamp_file), 0, 0, 0 },
	/* Ages are compared in whole seconds: 500ms would be 0, no limit. */
	{ "data_max_age", CT_DURATION, OFF(data_max_age), 0, 1000, 0 },
	{ "log_level", CT_LOGLEVEL, OFF(log_level), 0, 0, 0 },
	{ "log_target", CT_LOGTARGET, OFF(log_syslog), 0, 0, 0 },
	{ "audit_log", CT_AUDIT, OFF(audit_log), 0, 0, 0 },
	{ "http_listen", CT_LISTEN, OFF(http_listen), 0, 0, 0 },
	{ "http_allow_remote", CT_BOOL, OFF(http_allow_remote), 0, 0, 0 },
	{ "http_token_file", CT_PATH, OFF(http_token_file), 0, 0, 0 },
	{ "http_host", CT_LIST, OFF(http_hosts), OFF(nhttp_hosts), 0, 0 },
	{ "http_max_body", CT_SIZE, OFF(http_max_body), 0, 256, 64 << 20 },
	{ "http_max_connections", CT_UINT, OFF(http_max_conns), 0, 1, 1000000 },
	{ "http_timeout", CT_DURATION, OFF(http_timeout), 0, 0, 0 },
	{ "http_ui_dir", CT_PATH, OFF(http_ui_dir), 0, 0, 0 },
	{ "cluster_nats_url", CT_STR, OFF(cluster_nats_url), 0, 0, 0 },
	{ "cluster_stream", CT_STR, OFF(cluster_stream), 0, 0, 0 },
	{ "cluster_creds", CT_PATH, OFF(cluster_creds), 0, 0, 0 },
	{ "cluster_node", CT_STR, OFF(cluster_node), 0, 0, 0 },
	{ "cluster_replicas", CT_UINT, OFF(cluster_replicas), 0, 1, 5 },
	{ "cluster_max_age", CT_DURATION, OFF(cluster_max_age), 0, 0, 0 },
};

static char	*conf_path(const char *, const char *);

/*
 * Where each key was set last, "file:line", for the checks across keys
 * (conf_finish): a drop-in may set one side of a pair and the main file
 * the other, and the message must lead to the line that set it.
 */
struct conf_src {
	char	*at[nitems(ckeys)];
};

static const struct ckey *
conf_key(const char *name)
{
	size_t	i;

	for (i = 0; i < nitems(ckeys); i++)
		if (strcmp(ckeys[i].name, name) == 0)
			return (&ckeys[i]);
	return (NULL);
}

/* "file:line" of the last of the keys named that was set, else the file. */
static const char *
conf_src_at(const struct conf_src *src, const struct conf *c,
    const char *key1, const char *key2)
{
	const struct ckey	*k;

	if ((k = conf_key(key1)) != NULL && src->at[k - ckeys] != NULL)
		return (src->at[k - ckeys]);
	if (key2 != NULL && (k = conf_key(key2)) != NULL &&
	    src->at[k - ckeys] != NULL)
		return (src->at[k - ckeys]);
	return (c->path != NULL ? c->path : "config");
}

static void
conf_rules_clear(struct conf *c)
{
	size_t	i;

	for (i = 0; i < c->nrules_paths; i++)
		free(c->rules_paths[i]);
	free(c->rules_paths);
	free(c->rules_path);
	c->rules_paths = NULL;
	c->nrules_paths = 0;
	c->rules_path = NULL;
}

/*
 * rules = PATH (a file or a directory, as one value) or rules_dirs =
 * DIR... (whitespace-separated, merged by file name): either replaces
 * what was set before. rules_path keeps the resolved value for stats.
 */
static void
conf_rules(struct conf *c, const char *dir, const char *v, bool merge)
{
	char	*copy, *w, *last;
	size_t	 len = 0;

	conf_rules_clear(c);
	c->rules_merge = merge;
	if (!merge) {
		c->rules_paths = xcalloc(1, sizeof(*c->rules_paths));
		c->rules_paths[c->nrules_paths++] = conf_path(dir, v);
		c->rules_path = xstrdup(c->rules_paths[0]);
		return;
	}
	copy = xstrdup(v);
	for (w = strtok_r(copy, " \t", &last); w != NULL;
	    w = strtok_r(NULL, " \t", &last)) {
		c->rules_paths = xreallocarray(c->rules_paths,
		    c->nrules_paths + 1, sizeof(*c->rules_paths));
		c->rules_paths[c->nrules_paths] = conf_path(dir, w);
		len += strlen(c->rules_paths[c->nrules_paths++]) + 1;
	}
	free(copy);
	c->rules_path = xcalloc(1, len + 1);
	for (len = 0; len < c->nrules_paths; len++) {
		if (len > 0)
			strcat(c->rules_path, " ");
		strcat(c->rules_path, c->rules_paths[len]);
	}
}

struct conf *
conf_default(void)
{
	struct conf	*c = xcalloc(1, sizeof(*c));

	c->socket_path = xstrdup(RUNSTATEDIR "/refguard/refguard.sock");
	c->socket_mode = 0660;
	c->max_line = 64 * 1024;
	c->max_conns = 4096;
	c->max_pipeline = 1024;
	c->max_outbuf = 4 * 1024 * 1024;
	c->max_outbuf_total = 256 * 1024 * 1024;
	c->idle_timeout = 0;
	c->state_dir = xstrdup(LOCALSTATEDIR "/lib/refguard");
	c->map_size = 1ULL << 30;
	c->map_max = 64ULL << 30;
	c->recent_entries = 1000000;
	c->eval_threads = 0;	/* the CPUs it may use (refguardd.c) */
	c->sync_full = true;
	c->retention = 180LL * 86400 * 1000;
	conf_rules(c, NULL, CONF_RULES_DIRS, true);
	c->data_stamp_file = xstrdup(LOCALSTATEDIR
	    "/lib/refguard/data/last-success");
	c->rules_max_bytes = RULES_MAX_BYTES;
	c->ip_prefix4 = 24;
	c->ip_prefix6 = 64;
	c->log_level = LOG_LEVEL_INFO;
	c->http_max_body = 64 * 1024;
	c->http_max_conns = 256;
	c->http_timeout = 30 * 1000;
	c->http_ui_dir = xstrdup(DATADIR "/refguard/ui");
	c->cluster_stream = xstrdup("REFGUARD");
	c->cluster_replicas = 3;
	return (c);
}

static void
conf_strs_free(struct conf_str *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(v[i].val);
		free(v[i].file);
	}
	free(v);
}

void
conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->socket_path);
	free(c->socket_group);
	free(c->state_dir);
	conf_rules_clear(c);
	free(c->hash_secret_file);
	free(c->disposable_file);
	free(c->zoneinfo_dir);
	free(c->data_stamp_file);
	free(c->http_listen);
	free(c->http_path);
	free(c->http_token_file);
	free(c->http_ui_dir);
	free(c->cluster_nats_url);
	free(c->cluster_stream);
	free(c->cluster_creds);
	free(c->cluster_node);
	conf_strs_free(c->geoip, c->ngeoip);
	conf_strs_free(c->email_domains, c->nemail_domains);
	conf_strs_free(c->http_hosts, c->nhttp_hosts);
	free(c);
}

void
conf_ident(const struct conf *c, struct ident_conf *ic)
{
	memset(ic, 0, sizeof(*ic));
	ic->secret_file = c->hash_secret_file;
	ic->disposable_file = c->disposable_file;
	ic->zoneinfo_dir = c->zoneinfo_dir;
	ic->prefix4 = c->ip_prefix4;
	ic->prefix6 = c->ip_prefix6;
	ic->geoip = c->geoip;
	ic->ngeoip = c->ngeoip;
	ic->email_domains = c->email_domains;
	ic->nemail_domains = c->nemail_domains;
}

/* A relative path in a config file is relative to the file. */
static char *
conf_path(const char *dir, const char *v)
{
	char	*p;

	if (v[0] == '/' || dir == NULL)
		return (xstrdup(v));
	xasprintf(&p, "%s/%s", dir, v);
	return (p);
}

/*
 * Split "key = value # comment" in place. The value may be double-quoted
 * (with \" and \\ escapes); a '#' inside quotes is kept. Returns 0, 1 for
 * a blank line, -1 with *err on bad syntax.
 */
static int
conf_split(char *line, char **key, char **value, const char **err)
{
	char	*p = line, *q, *o;

	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#')
		return (1);
	*key = p;
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	if (p == *key) {
		*err = "expected a key";
		return (-1);
	}
	q = p;
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '=') {
		*err = "expected '=' after the key";
		return (-1);
	}
	*q = '\0';
	p++;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '"') {
		*value = o = ++p;
		for (; *p != '"'; p++) {
			if (*p == '\0') {
				*err = "unterminated quoted string";
				return (-1);
			}
			if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
				p++;
			*o++ = *p;
		}
		*o = '\0';
		p++;
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '\0' && *p != '#') {
			*err = "unexpected text after the quoted value";
			return (-1);
		}
		return (0);
	}
	*value = p;
	if ((q = strchr(p, '#')) != NULL)
		*q = '\0';
	q = p + strlen(p);
	while (q > p && isspace((unsigned char)q[-1]))
		*--q = '\0';
	if (*p == '\0') {
		*err = "missing value";
		return (-1);
	}
	return (0);
}

/*
 * http_listen: a path ("/run/refguard/http.sock", or "http.sock" relative
 * to the file, as socket takes it: anything with a '/', or without a ':'
 * that is not digits and dots)
 * or a numeric address and port ("127.0.0.1:8470", "[::1]:8470"); no host
 * names, nothing is looked up.
 */
static int
conf_listen(struct conf *c, const char *dir, const char *v, char **cause)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&c->http_addr;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&c->http_addr;
	static const uint8_t	 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
				    0xff, 0xff };
	char			 host[INET6_ADDRSTRLEN + 1], *end;
	const char		*colon;
	unsigned long		 port;
	size_t			 n;

	free(c->http_listen);
	free(c->http_path);
	c->http_listen = xstrdup(v);
	c->http_path = NULL;
	memset(&c->http_addr, 0, sizeof(c->http_addr));
	if (strchr(v, '/') != NULL || (strpbrk(v, ":[") == NULL &&
	    strspn(v, "0123456789.") != strlen(v))) {
		c->http_path = conf_path(dir, v);
		if (strlen(c->http_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			xasprintf(cause, "http_listen: socket path %s is too "
			    "long", c->http_path);
			return (-1);
		}
		return (0);
	}
	if (v[0] == '[') {
		colon = strstr(v, "]:");
		n = colon != NULL ? (size_t)(colon - v - 1) : 0;
		colon = colon != NULL ? colon + 1 : NULL;
		v++;
	} else {
		/* An IPv6 address needs its brackets: "::1:8470" is ambiguous. */
		colon = strchr(v, ':');
		n = colon != NULL && strchr(colon + 1, ':') == NULL ?
		    (size_t)(colon - v) : 0;
	}
	if (colon == NULL || n == 0 || n >= sizeof(host))
		goto bad;
	memcpy(host, v, n);
	host[n] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (!isdigit((unsigned char)colon[1]) || *end != '\0' || errno != 0 ||
	    port == 0 || port > 65535)
		goto bad;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		c->http_addrlen = sizeof(*sin);
		c->http_loopback = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
		return (0);
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		c->http_addrlen = sizeof(*sin6);
		c->http_loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) ||
		    (memcmp(sin6->sin6_addr.s6_addr, mapped, 12) == 0 &&
		    sin6->sin6_addr.s6_addr[12] == 127);
		return (0);
	}
bad:
	xasprintf(cause, "http_listen: '%s' is neither a socket path "
	    "(/run/refguard/http.sock) nor a numeric address and port "
	    "(127.0.0.1:8470, [::1]:8470)", c->http_listen);
	return (-1);
}

/*
 * An optional data file, "-PATH" as systemd writes them: true (and the
 * key is left out) when the file does not exist yet, so that a package
 * can name the files its data updater will fetch; the next reload after
 * they arrive reads them.
 */
static bool
conf_optional_absent(const char *dir, const char **v)
{
	char	*p;
	bool	 absent;

	if ((*v)[0] != '-' || (*v)[1] == '\0')
		return (false);
	(*v)++;
	p = conf_path(dir, *v);
	absent = access(p, F_OK) != 0 && errno == ENOENT;
	free(p);
	return (absent);
}

/* Apply one key; -1 with *cause (the message, no location) on error. */
static int
conf_set(struct conf *c, const char *dir, const char *file, int lineno,
    const char *key, const char *v, char **cause)
{
	const struct ckey	*ck;
	uint64_t		 u;
	int64_t			 d;
	char			*end, **sp;
	bool			 b;
	size_t			 *np;
	struct conf_str		**lp;
	int			 lvl;

	if ((ck = conf_key(key)) == NULL) {
		xasprintf(cause, "unknown key '%s'", key);
		return (-1);
	}
	if (*v == '\0') {
		xasprintf(cause, "%s: empty value", key);
		return (-1);
	}
	if ((ck->off == OFF(geoip) || ck->off == OFF(disposable_file)) &&
	    conf_optional_absent(dir, &v))
		return (0);
	switch (ck->type) {
	case CT_PATH:
	case CT_STR:
		sp = (char **)((char *)c + ck->off);
		free(*sp);
		*sp = ck->type == CT_PATH ? conf_path(dir, v) : xstrdup(v);
		return (0);
	case CT_MODE:
		errno = 0;
		u = strtoull(v, &end, 8);
		if (!isdigit((unsigned char)*v) || *end != '\0' || errno != 0 ||
		    u > ck->max) {
			xasprintf(cause, "%s: '%s' is not an octal mode like "
			    "0660", key, v);
			return (-1);
		}
		*(unsigned *)((char *)c + ck->off) = (unsigned)u;
		return (0);
	case CT_SIZE:
		if (parse_size(v, &u) != 0 || u < ck->min || u > ck->max) {
			xasprintf(cause, "%s: '%s' is not a size between %llu "
			    "and %llu bytes (units k, m, g, t)", key, v,
			    (unsigned long long)ck->min,
			    (unsigned long long)ck->max);
			return (-1);
		}
		if (ck->off == OFF(max_line) || ck->off == OFF(max_outbuf) ||
		    ck->off == OFF(max_outbuf_total) ||
		    ck->off == OFF(http_max_body))
			*(size_t *)((char *)c + ck->off) = (size_t)u;
		else
			*(uint64_t *)((char *)c + ck->off) = u;
		return (0);
	case CT_DURATION:
		if (parse_duration(v, &d) != 0) {
			xasprintf(cause, "%s: '%s' is not a duration like 30s, "
			    "15m, 1h or 7d", key, v);
			return (-1);
		}
		if (d != 0 && (uint64_t)d < ck->min) {
			xasprintf(cause, "%s: '%s' is below %llus (0 means no "
			    "limit)", key, v, (unsigned long long)ck->min / 1000);
			return (-1);
		}
		*(int64_t *)((char *)c + ck->off) = d;
		return (0);
	case CT_UINT:
		errno = 0;
		u = strtoull(v, &end, 10);
		if (!isdigit((unsigned char)*v) || *end != '\0' || errno != 0 ||
		    u < ck->min || u > ck->max) {
			xasprintf(cause, "%s: '%s' is not a number between %llu "
			    "and %llu", key, v, (unsigned long long)ck->min,
			    (unsigned long long)ck->max);
			return (-1);
		}
		*(unsigned *)((char *)c + ck->off) = (unsigned)u;
		return (0);
	case CT_BOOL:
		if (parse_bool(v, &b) != 0) {
			xasprintf(cause, "%s: '%s' is not yes or no", key, v);
			return (-1);
		}
		*(bool *)((char *)c + ck->off) = b;
		return (0);
	case CT_SYNC:
		if (strcmp(v, "full") == 0)
			c->sync_full = true;
		else if (strcmp(v, "none") == 0)
			c->sync_full = false;
		else {
			xasprintf(cause, "sync: '%s' is not full or none", v);
			return (-1);
		}
		return (0);
	case CT_LOGLEVEL:
		if ((lvl = log_level_from_name(v)) < 0) {
			xasprintf(cause, "log_level: '%s' is not one of err, "
			    "warn, notice, info, debug", v);
			return (-1);
		}
		c->log_level = lvl;
		return (0);
	case CT_LOGTARGET:
		if (strcmp(v, "stderr") == 0)
			c->log_syslog = false;
		else if (strcmp(v, "syslog") == 0)
			c->log_syslog = true;
		else {
			xasprintf(cause, "log_target: '%s' is not stderr or "
			    "syslog", v);
			return (-1);
		}
		return (0);
	case CT_AUDIT:
		if (strcmp(v, "none") == 0)
			c->audit_log = AUDIT_NONE;
		else if (strcmp(v, "flagged") == 0)
			c->audit_log = AUDIT_FLAGGED;
		else if (strcmp(v, "all") == 0)
			c->audit_log = AUDIT_ALL;
		else {
			xasprintf(cause, "audit_log: '%s' is not none, flagged "
			    "or all", v);
			return (-1);
		}
		return (0);
	case CT_LISTEN:
		return (conf_listen(c, dir, v, cause));
	case CT_RULES:
		conf_rules(c, dir, v, ck->off == OFF(rules_paths));
		if (c->nrules_paths == 0) {
			xasprintf(cause, "%s: names no directory", key);
			return (-1);
		}
		return (0);
	case CT_LIST:
		lp = (struct conf_str **)((char *)c + ck->off);
		np = (size_t *)((char *)c + ck->countoff);
		*lp = xreallocarray(*lp, *np + 1, sizeof(**lp));
		(*lp)[*np].val = ck->off == OFF(geoip) ? conf_path(dir, v) :
		    xstrdup(v);
		(*lp)[*np].file = xstrdup(file);
		(*lp)[*np].line = lineno;
		(*np)++;
		return (0);
	}
	return (-1);
}

/* One more error for conf_load()'s list: a line each. */
static void __attribute__((format(printf, 2, 3)))
conf_err(struct sbuf *errs, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if (errs->len > 0)
		sbuf_addc(errs, '\n');
	sbuf_adds(errs, msg);
	free(msg);
}

/*
 * The cluster keys: cluster_nats_url a comma-separated list of nats:// or
 * tls:// URLs, a stream name JetStream takes (letters, digits, '-', '_'),
 * a node name of the same characters (the host name by default).
 */
static bool
conf_name_ok(const char *s, size_t max)
{
	size_t	n = strlen(s);

	return (n > 0 && n <= max && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n);
}

static void
conf_cluster(struct conf *c, const struct conf_src *src, struct sbuf *errs)
{
	char	*urls, *u, *save = NULL, host[256];

	if (!conf_name_ok(c->cluster_stream, 64))
		conf_err(errs, "%s: cluster_stream '%s' is not a stream name "
		    "(1 to 64 letters, digits, '-' or '_')", conf_src_at(src,
		    c, "cluster_stream", NULL), c->cluster_stream);
	if (c->cluster_node == NULL) {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "node");
		host[sizeof(host) - 1] = '\0';
		host[strcspn(host, ".")] = '\0';
		c->cluster_node = xstrdup(host);
	} else if (!conf_name_ok(c->cluster_node, 64))
		conf_err(errs, "%s: cluster_node '%s' is not a node name "
		    "(1 to 64 letters, digits, '-' or '_')", conf_src_at(src,
		    c, "cluster_node", NULL), c->cluster_node);
	if (c->cluster_nats_url == NULL) {
		if (c->cluster_creds != NULL)
			conf_err(errs, "%s: cluster_creds without "
			    "cluster_nats_url: cluster mode is off",
			    conf_src_at(src, c, "cluster_creds", NULL));
		return;
	}
#ifndef HAVE_NATS
	conf_err(errs, "%s: cluster_nats_url: this refguardd was built "
	    "without libnats (configure --with-nats): cluster mode is not "
	    "available", conf_src_at(src, c, "cluster_nats_url", NULL));
#endif
	urls = xstrdup(c->cluster_nats_url);
	for (u = strtok_r(urls, ",", &save); u != NULL;
	    u = strtok_r(NULL, ",", &save)) {
		u += strspn(u, " ");
		if (strncmp(u, "nats://", 7) != 0 &&
		    strncmp(u, "tls://", 6) != 0) {
			conf_err(errs, "%s: cluster_nats_url: '%s' is not a "
			    "nats:// or tls:// URL", conf_src_at(src, c,
			    "cluster_nats_url", NULL), u);
			break;
		}
	}
	free(urls);
}

/* Settings that depend on others, and checks across keys. */
static void
conf_finish(struct conf *c, const struct conf_src *src, struct sbuf *errs)
{
	if (c->hash_secret_file == NULL)
		xasprintf(&c->hash_secret_file, "%s/secret", c->state_dir);
	if (c->map_max < c->map_size)
		conf_err(errs, "%s: map_max (%llu) is smaller than map_size "
		    "(%llu)", conf_src_at(src, c, "map_max", "map_size"), (unsigned long long)c->map_max,
		    (unsigned long long)c->map_size);
	/* One connection's limit fits in the total. */
	if (c->max_outbuf_total < c->max_outbuf)
		c->max_outbuf_total = c->max_outbuf;
	if (c->http_listen != NULL && c->http_path == NULL &&
	    !c->http_loopback && !c->http_allow_remote)
		conf_err(errs, "%s: http_listen %s is not a loopback address; "
		    "set http_allow_remote = yes (with http_token_file) to "
		    "serve other hosts", conf_src_at(src, c, "http_listen",
		    NULL), c->http_listen);
	conf_cluster(c, src, errs);
	if (c->http_allow_remote && c->http_token_file == NULL)
		conf_err(errs, "%s: http_allow_remote = yes needs "
		    "http_token_file: clients from other hosts must send a "
		    "bearer token", conf_src_at(src, c, "http_allow_remote",
		    NULL));
}

/*
 * Read one file's keys into c, every error a line in errs: -1 when the
 * file cannot be opened (the rest of its errors are not worth reading).
 */
static int
conf_read(struct conf *c, const char *path,
    struct conf_src *src, struct sbuf *errs)
{
	char		 line[CONF_MAX_LINE + 2], *key, *value, *msg, *tmp, *dir;
	char		**at;
	const char	*err;
	struct stat	 sb;
	FILE		*f;
	int		 lineno = 0, rc, ch, fd;

	/*
	 * The file and its drop-ins are regular files: anything else (a
	 * FIFO would block -t and the reload thread for good) is an error
	 * naming it.
	 */
	if ((fd = file_open_regular(path, 0, &sb, &msg)) < 0) {
		conf_err(errs, "%s", msg);
		free(msg);
		return (-1);
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		conf_err(errs, "%s: %s", path, strerror(errno));
		close(fd);
		return (-1);
	}
	tmp = xstrdup(path);
	dir = xstrdup(dirname(tmp));
	free(tmp);
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			conf_err(errs, "%s:%d: line longer than %d bytes",
			    path, lineno, CONF_MAX_LINE);
			while ((ch = getc(f)) != EOF && ch != '\n')
				;
			continue;
		}
		line[strcspn(line, "\r\n")] = '\0';
		rc = conf_split(line, &key, &value, &err);
		if (rc == 1)
			continue;
		if (rc < 0) {
			conf_err(errs, "%s:%d: %s", path, lineno, err);
			continue;
		}
		if (conf_set(c, dir, path, lineno, key, value, &msg) != 0) {
			conf_err(errs, "%s:%d: %s", path, lineno, msg);
			free(msg);
			continue;
		}
		at = &src->at[conf_key(key) - ckeys];
		free(*at);
		xasprintf(at, "%s:%d", path, lineno);
	}
	if (ferror(f))
		conf_err(errs, "%s: read error", path);
	fclose(f);
	free(dir);
	return (0);
}

/* The drop-ins of the file at path, in lexical order, errors into errs. */
static void
conf_read_dropins(struct conf *c, const char *path, struct conf_src *src,
    struct sbuf *errs)
{
	struct stat	 sb;
	char		*tmp, *ddir, *pat;
	glob_t		 g;
	size_t		 i;
	int		 r;

	tmp = xstrdup(path);
	xasprintf(&ddir, "%s/" CONF_DROPIN_DIR, dirname(tmp));
	free(tmp);
	if (stat(ddir, &sb) != 0 && errno == ENOENT) {
		free(ddir);
		return;
	}
	xasprintf(&pat, "%s/*.conf", ddir);
	r = glob(pat, GLOB_ERR, NULL, &g);
	free(pat);
	if (r != 0 && r != GLOB_NOMATCH)
		conf_err(errs, "%s: cannot read the directory", ddir);
	free(ddir);
	if (r != 0)
		return;
	for (i = 0; i < g.gl_pathc; i++)
		conf_read(c, g.gl_pathv[i], src, errs);
	globfree(&g);
}

/* Every error is collected (a line each in *cause), not only the first. */
struct conf *
conf_load(const char *path, char **cause)
{
	struct conf	*c = conf_default();
	struct conf_src	 src;
	struct sbuf	 errs;
	size_t		 i;

	memset(&src, 0, sizeof(src));
	c->path = xstrdup(path);
	sbuf_init(&errs, 256);
	if (conf_read(c, path, &src, &errs) == 0) {
		conf_read_dropins(c, path, &src, &errs);
		conf_finish(c, &src, &errs);
	}
	for (i = 0; i < nitems(ckeys); i++)
		free(src.at[i]);
	if (errs.len > 0) {
		sbuf_addc(&errs, '\0');
		*cause = sbuf_take(&errs, NULL);
		conf_free(c);
		return (NULL);
	}
	sbuf_free(&errs);
	return (c);
}
