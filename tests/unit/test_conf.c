/* test_conf.c: refguard.conf(5) parsing, defaults and error messages. */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "util.h"

#include "unit.h"

static char	tmpdir[] = "/tmp/rg-conf.XXXXXX";
static char	cpath[300];

/* Write text as the config file and load it. */
static struct conf *
load(const char *text, char **cause)
{
	*cause = NULL;
	unit_write(cpath, text, strlen(text));
	return (conf_load(cpath, cause));
}

static struct conf *
good(const char *text)
{
	struct conf	*c;
	char		*cause;

	c = load(text, &cause);
	ck_assert_msg(c != NULL, "'%.60s' refused: %s", text, cause);
	ck_assert_ptr_null(cause);
	return (c);
}

/*
 * text is refused with "FILE:LINE: ..." and the message holds each of the
 * (up to three) wanted strings.
 */
static void
bad(const char *text, int line, const char *w1, const char *w2,
    const char *w3)
{
	struct conf	*c;
	char		*cause, *want;

	c = load(text, &cause);
	ck_assert_msg(c == NULL, "'%.60s' accepted", text);
	ck_assert_ptr_nonnull(cause);
	xasprintf(&want, "%s:%d: ", cpath, line);
	ck_assert_msg(strncmp(cause, want, strlen(want)) == 0,
	    "'%.60s': message '%s' does not start with '%s'", text, cause, want);
	ck_assert_msg(w1 == NULL || strstr(cause, w1) != NULL,
	    "'%.60s': '%s' lacks '%s'", text, cause, w1);
	ck_assert_msg(w2 == NULL || strstr(cause, w2) != NULL,
	    "'%.60s': '%s' lacks '%s'", text, cause, w2);
	ck_assert_msg(w3 == NULL || strstr(cause, w3) != NULL,
	    "'%.60s': '%s' lacks '%s'", text, cause, w3);
	free(want);
	free(cause);
}

START_TEST(test_defaults)
{
	struct conf	*c = conf_default();

	ck_assert_str_eq(c->socket_path, RUNSTATEDIR "/refguard/refguard.sock");
	ck_assert_uint_eq(c->socket_mode, 0660);
	ck_assert_ptr_null(c->socket_group);
	ck_assert_uint_eq(c->max_line, 64 * 1024);
	ck_assert_uint_eq(c->max_conns, 4096);
	ck_assert_uint_eq(c->max_pipeline, 1024);
	ck_assert_uint_eq(c->max_outbuf, 4 * 1024 * 1024);
	ck_assert_uint_eq(c->max_outbuf_total, 256 * 1024 * 1024);
	ck_assert_int_eq(c->idle_timeout, 0);
	ck_assert_str_eq(c->state_dir, LOCALSTATEDIR "/lib/refguard");
	ck_assert_uint_eq(c->map_size, 1ULL << 30);
	ck_assert_uint_eq(c->map_max, 64ULL << 30);
	ck_assert(c->map_max >= c->map_size);
	ck_assert(c->sync_full);
	ck_assert_int_eq(c->retention, 180LL * 86400 * 1000);
	ck_assert_str_eq(c->rules_path, DATADIR "/refguard/rules "
	    SYSCONFDIR "/refguard/rules.d");
	ck_assert(c->rules_merge);
	ck_assert_uint_eq(c->nrules_paths, 2);
	ck_assert_str_eq(c->rules_paths[1], SYSCONFDIR "/refguard/rules.d");
	ck_assert_uint_eq(c->ip_prefix4, 24);
	ck_assert_uint_eq(c->ip_prefix6, 64);
	ck_assert_uint_eq(c->ngeoip, 0);
	ck_assert_uint_eq(c->nemail_domains, 0);
	ck_assert_int_eq(c->log_level, LOG_LEVEL_INFO);
	ck_assert(!c->log_syslog);
	conf_free(c);
	conf_free(NULL);
}
END_TEST

START_TEST(test_empty_file)
{
	struct conf	*c = good("# nothing but comments\n\n   \n\t# indented\n");
	char		*want;

	/* An empty file is the defaults, and the secret under state_dir. */
	ck_assert_str_eq(c->path, cpath);
	ck_assert_uint_eq(c->max_conns, 4096);
	ck_assert_str_eq(c->state_dir, LOCALSTATEDIR "/lib/refguard");
	xasprintf(&want, "%s/secret", LOCALSTATEDIR "/lib/refguard");
	ck_assert_str_eq(c->hash_secret_file, want);
	free(want);
	conf_free(c);
}
END_TEST

START_TEST(test_every_key)
{
	struct conf	*c;
	char		*want;

	c = good(
	    "socket = /run/rg/rg.sock\n"
	    "socket_mode = 0600\n"
	    "socket_group = refguard\n"
	    "max_line = 128k\n"
	    "max_connections = 10\n"
	    "max_pipeline = 7\n"
	    "max_outbuf = 1m\n"
	    "max_outbuf_total = 3m\n"
	    "idle_timeout = 90s\n"
	    "state_dir = /var/db/rg\n"
	    "map_size = 16m\n"
	    "map_max = 2g\n"
	    "sync = none\n"
	    "retention = 30d\n"
	    "rules = /etc/rg/rules\n"
	    "hash_secret_file = /etc/rg/secret\n"
	    "disposable_file = /etc/rg/disposable.txt\n"
	    "ip_prefix4 = 20\n"
	    "ip_prefix6 = 48\n"
	    "geoip_db = /usr/share/GeoIP/GeoLite2-ASN.mmdb\n"
	    "email_domain = gmail.com dots\n"
	    "log_level = debug\n"
	    "log_target = syslog\n");
	ck_assert_str_eq(c->socket_path, "/run/rg/rg.sock");
	ck_assert_uint_eq(c->socket_mode, 0600);
	ck_assert_str_eq(c->socket_group, "refguard");
	ck_assert_uint_eq(c->max_line, 128 * 1024);
	ck_assert_uint_eq(c->max_conns, 10);
	ck_assert_uint_eq(c->max_pipeline, 7);
	ck_assert_uint_eq(c->max_outbuf, 1024 * 1024);
	ck_assert_uint_eq(c->max_outbuf_total, 3 * 1024 * 1024);
	ck_assert_int_eq(c->idle_timeout, 90000);
	ck_assert_str_eq(c->state_dir, "/var/db/rg");
	ck_assert_uint_eq(c->map_size, 16ULL << 20);
	ck_assert_uint_eq(c->map_max, 2ULL << 30);
	ck_assert(!c->sync_full);
	ck_assert_int_eq(c->retention, 30LL * 86400000);
	ck_assert_str_eq(c->rules_path, "/etc/rg/rules");
	ck_assert_str_eq(c->hash_secret_file, "/etc/rg/secret");
	ck_assert_str_eq(c->disposable_file, "/etc/rg/disposable.txt");
	ck_assert_uint_eq(c->ip_prefix4, 20);
	ck_assert_uint_eq(c->ip_prefix6, 48);
	ck_assert_uint_eq(c->ngeoip, 1);
	ck_assert_str_eq(c->geoip[0].val, "/usr/share/GeoIP/GeoLite2-ASN.mmdb");
	ck_assert_uint_eq(c->nemail_domains, 1);
	ck_assert_str_eq(c->email_domains[0].val, "gmail.com dots");
	ck_assert_int_eq(c->log_level, LOG_LEVEL_DEBUG);
	ck_assert(c->log_syslog);
	conf_free(c);

	/* The other values of the enumerations. */
	c = good("sync = full\nlog_target = stderr\nlog_level = err\n");
	ck_assert(c->sync_full);
	ck_assert(!c->log_syslog);
	ck_assert_int_eq(c->log_level, LOG_LEVEL_ERR);
	conf_free(c);
	c = good("log_level = warn\n");
	ck_assert_int_eq(c->log_level, LOG_LEVEL_WARN);
	conf_free(c);
	c = good("log_level = notice\n");
	ck_assert_int_eq(c->log_level, LOG_LEVEL_NOTICE);
	conf_free(c);

	/* The secret follows state_dir unless set. */
	c = good("state_dir = /srv/rg\n");
	ck_assert_str_eq(c->hash_secret_file, "/srv/rg/secret");
	conf_free(c);

	/* Bounds are inclusive. */
	c = good("ip_prefix4 = 8\nip_prefix6 = 128\nmax_line = 256\n"
	    "max_outbuf = 4096\nmax_connections = 1000000\n"
	    "map_size = 1m\nmap_max = 1m\nsocket_mode = 0\n");
	ck_assert_uint_eq(c->ip_prefix4, 8);
	ck_assert_uint_eq(c->ip_prefix6, 128);
	ck_assert_uint_eq(c->max_line, 256);
	ck_assert_uint_eq(c->max_outbuf, 4096);
	ck_assert_uint_eq(c->max_conns, 1000000);
	ck_assert_uint_eq(c->map_size, 1 << 20);
	ck_assert_uint_eq(c->socket_mode, 0);
	conf_free(c);
	c = good("ip_prefix4 = 32\nsocket_mode = 777\nmax_line = 64m\n"
	    "max_outbuf = 4g\n");
	ck_assert_uint_eq(c->ip_prefix4, 32);
	ck_assert_uint_eq(c->socket_mode, 0777);
	ck_assert_uint_eq(c->max_line, 64 << 20);
	ck_assert_uint_eq(c->max_outbuf, 1ULL << 32);
	/* the total is raised to one connection's limit */
	ck_assert_uint_eq(c->max_outbuf_total, 1ULL << 32);
	conf_free(c);

	/* A later line wins. */
	c = good("max_pipeline = 3\nmax_pipeline = 4\n");
	ck_assert_uint_eq(c->max_pipeline, 4);
	conf_free(c);
	(void)want;
}
END_TEST

START_TEST(test_bad_values)
{
	struct conf	*c;

	bad("socket_mode = 0999\n", 1, "socket_mode", "'0999'", "octal");
	bad("socket_mode = 1000\n", 1, "socket_mode", "'1000'", NULL);
	bad("socket_mode = rw\n", 1, "socket_mode", "'rw'", NULL);
	bad("socket_mode = -1\n", 1, "socket_mode", "'-1'", NULL);
	bad("max_line = 255\n", 1, "max_line", "'255'", "between 256");
	bad("max_line = 65m\n", 1, "max_line", "'65m'", NULL);
	bad("max_line = big\n", 1, "max_line", "'big'", NULL);
	bad("max_connections = 0\n", 1, "max_connections", "'0'", "between 1");
	bad("max_connections = 1000001\n", 1, "max_connections", "'1000001'",
	    NULL);
	bad("max_connections = -5\n", 1, "max_connections", "'-5'", NULL);
	bad("max_connections = 10k\n", 1, "max_connections", "'10k'", NULL);
	bad("max_connections = 99999999999999999999999\n", 1,
	    "max_connections", NULL, NULL);
	bad("max_pipeline = 0\n", 1, "max_pipeline", "'0'", NULL);
	bad("max_pipeline = 2.5\n", 1, "max_pipeline", "'2.5'", NULL);
	bad("max_outbuf = 4095\n", 1, "max_outbuf", "'4095'", NULL);
	bad("max_outbuf = 5g\n", 1, "max_outbuf", "'5g'", NULL);
	bad("idle_timeout = 5 minutes\n", 1, "idle_timeout", "'5 minutes'",
	    "duration");
	bad("idle_timeout = -1s\n", 1, "idle_timeout", "'-1s'", NULL);
	bad("map_size = 1023k\n", 1, "map_size", "'1023k'", NULL);
	bad("map_size = 17t\n", 1, "map_size", "'17t'", NULL);
	bad("map_max = 1k\n", 1, "map_max", "'1k'", NULL);
	bad("recent_entries = 4000001\n", 1, "recent_entries", "'4000001'",
	    "4000000");
	bad("sync = always\n", 1, "sync", "'always'", "full or none");
	bad("sync = FULL\n", 1, "sync", "'FULL'", NULL);
	bad("retention = forever\n", 1, "retention", "'forever'", NULL);
	/* Ages are whole seconds: below one would silently mean no limit. */
	bad("data_max_age = 500ms\n", 1, "data_max_age", "'500ms'",
	    "below 1s");
	bad("data_max_age = 999ms\n", 1, "data_max_age", "'999ms'",
	    "0 means no limit");
	c = good("data_max_age = 1000ms\n");
	ck_assert_int_eq(c->data_max_age, 1000);
	conf_free(c);
	bad("ip_prefix4 = 7\n", 1, "ip_prefix4", "'7'", "between 8 and 32");
	bad("ip_prefix4 = 33\n", 1, "ip_prefix4", "'33'", NULL);
	bad("ip_prefix6 = 15\n", 1, "ip_prefix6", "'15'", "between 16 and 128");
	bad("ip_prefix6 = 129\n", 1, "ip_prefix6", "'129'", NULL);
	bad("log_level = verbose\n", 1, "log_level", "'verbose'", NULL);
	bad("log_target = file\n", 1, "log_target", "'file'", NULL);
	/* Empty values, for each kind of key. */
	bad("socket =\n", 1, "missing value", NULL, NULL);
	bad("socket_group = # a comment\n", 1, "missing value", NULL, NULL);
	bad("max_connections =   \n", 1, "missing value", NULL, NULL);
}
END_TEST

START_TEST(test_syntax)
{
	/* The line number counts blank and comment lines. */
	bad("# header\n\nmax_pipeline = 4\nfrobnicate = 1\n", 4,
	    "unknown key 'frobnicate'", NULL, NULL);
	bad("Socket = /x\n", 1, "unknown key 'Socket'", NULL, NULL);
	bad("max_pipeline 4\n", 1, "expected '='", NULL, NULL);
	bad("max_pipeline\n", 1, "expected '='", NULL, NULL);
	bad("= 4\n", 1, "expected a key", NULL, NULL);
	bad("max-pipeline = 4\n", 1, "expected '='", NULL, NULL);
	bad("socket_group = \"wheel\n", 1, "unterminated", NULL, NULL);
	bad("socket_group = \"wheel\" staff\n", 1, "after the quoted value",
	    NULL, NULL);
	bad("\n\nmax_line = 10\n", 3, "max_line", "'10'", NULL);
}
END_TEST

START_TEST(test_quotes_comments)
{
	struct conf	*c;

	c = good("socket_group = \"a # not a comment\"  # a comment\n"
	    "socket = \"/run/with space/rg.sock\"\n"
	    "rules = /etc/rules # trailing comment\n"
	    "   max_pipeline=5   \n"
	    "email_domain = \"say \\\"hi\\\" \\\\ there\"\n"
	    "log_level = \"debug\"\n"
	    "max_connections = 12\r\n");
	ck_assert_str_eq(c->socket_group, "a # not a comment");
	ck_assert_str_eq(c->socket_path, "/run/with space/rg.sock");
	ck_assert_str_eq(c->rules_path, "/etc/rules");
	ck_assert_uint_eq(c->max_pipeline, 5);
	ck_assert_str_eq(c->email_domains[0].val, "say \"hi\" \\ there");
	ck_assert_int_eq(c->log_level, LOG_LEVEL_DEBUG);
	ck_assert_uint_eq(c->max_conns, 12);
	conf_free(c);

	/* An empty quoted string is refused like an empty bare one. */
	bad("socket_group = \"\"\n", 1, "socket_group", "empty", NULL);
}
END_TEST

START_TEST(test_relative_paths)
{
	struct conf	*c;
	char		*want;

	c = good("socket = run/rg.sock\n"
	    "state_dir = state\n"
	    "rules = ../rules.d\n"
	    "disposable_file = \"lists/disp.txt\"\n"
	    "geoip_db = geo/ASN.mmdb\n"
	    "geoip_db = /abs/City.mmdb\n"
	    "socket_group = relative-is-not-a-path\n"
	    "email_domain = example.com\n");
	xasprintf(&want, "%s/run/rg.sock", tmpdir);
	ck_assert_str_eq(c->socket_path, want);
	free(want);
	xasprintf(&want, "%s/state", tmpdir);
	ck_assert_str_eq(c->state_dir, want);
	free(want);
	xasprintf(&want, "%s/state/secret", tmpdir);
	ck_assert_str_eq(c->hash_secret_file, want);
	free(want);
	xasprintf(&want, "%s/../rules.d", tmpdir);
	ck_assert_str_eq(c->rules_path, want);
	free(want);
	xasprintf(&want, "%s/lists/disp.txt", tmpdir);
	ck_assert_str_eq(c->disposable_file, want);
	free(want);
	xasprintf(&want, "%s/geo/ASN.mmdb", tmpdir);
	ck_assert_str_eq(c->geoip[0].val, want);
	free(want);
	ck_assert_str_eq(c->geoip[1].val, "/abs/City.mmdb");
	ck_assert_str_eq(c->socket_group, "relative-is-not-a-path");
	ck_assert_str_eq(c->email_domains[0].val, "example.com");
	conf_free(c);

	c = good("hash_secret_file = keys/secret\n");
	xasprintf(&want, "%s/keys/secret", tmpdir);
	ck_assert_str_eq(c->hash_secret_file, want);
	free(want);
	conf_free(c);
}
END_TEST

START_TEST(test_repeatable)
{
	struct conf		*c;
	struct ident_conf	 ic;

	c = good("geoip_db = /g/a.mmdb\n"
	    "# between\n"
	    "email_domain = gmail.com dots\n"
	    "geoip_db = /g/b.mmdb\n"
	    "\n"
	    "email_domain = fastmail.com\n"
	    "email_domain = example.org tags=-\n");
	ck_assert_uint_eq(c->ngeoip, 2);
	ck_assert_str_eq(c->geoip[0].val, "/g/a.mmdb");
	ck_assert_str_eq(c->geoip[0].file, cpath);
	ck_assert_int_eq(c->geoip[0].line, 1);
	ck_assert_str_eq(c->geoip[1].val, "/g/b.mmdb");
	ck_assert_int_eq(c->geoip[1].line, 4);
	ck_assert_uint_eq(c->nemail_domains, 3);
	ck_assert_str_eq(c->email_domains[0].val, "gmail.com dots");
	ck_assert_int_eq(c->email_domains[0].line, 3);
	ck_assert_str_eq(c->email_domains[1].val, "fastmail.com");
	ck_assert_int_eq(c->email_domains[1].line, 6);
	ck_assert_str_eq(c->email_domains[2].val, "example.org tags=-");
	ck_assert_int_eq(c->email_domains[2].line, 7);
	ck_assert_str_eq(c->email_domains[2].file, cpath);

	/* conf_ident points into the conf. */
	conf_ident(c, &ic);
	ck_assert_ptr_eq(ic.secret_file, c->hash_secret_file);
	ck_assert_ptr_eq(ic.geoip, c->geoip);
	ck_assert_uint_eq(ic.ngeoip, 2);
	ck_assert_ptr_eq(ic.email_domains, c->email_domains);
	ck_assert_uint_eq(ic.nemail_domains, 3);
	ck_assert_uint_eq(ic.prefix4, 24);
	ck_assert_uint_eq(ic.prefix6, 64);
	ck_assert_ptr_null(ic.disposable_file);
	conf_free(c);
}
END_TEST

START_TEST(test_map_max)
{
	struct conf	*c;

	/* The message names the line that set map_max (else map_size). */
	bad("map_size = 2g\nmap_max = 1g\n", 2, "map_max", "map_size", NULL);
	/* Against the default map_max too. */
	bad("\nmap_size = 65g\n", 2, "map_max", NULL, NULL);
	c = good("map_size = 2g\nmap_max = 2g\n");
	ck_assert_uint_eq(c->map_max, c->map_size);
	conf_free(c);
}
END_TEST

START_TEST(test_http)
{
	static const struct {
		const char	*v;
		int		 family;
		bool		 loopback;
	} ok[] = {
		{ "127.0.0.1:8470", AF_INET, true },
		{ "127.9.9.9:1", AF_INET, true },
		{ "[::1]:8470", AF_INET6, true },
		{ "[::ffff:127.0.0.1]:80", AF_INET6, true },
		{ "10.0.0.1:8470", AF_INET, false },
		{ "[::]:8470", AF_INET6, false },
	};
	static const char *const nok[] = {
		"localhost:8470", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
		"127.0.0.1:65536", "127.0.0.1:80x", "[::1]", "::1:8470",
		"[::1:8470",
	};
	struct conf	*c;
	char		*cause, text[128];
	size_t		 i;

	c = good("\n");
	ck_assert_ptr_null(c->http_listen);
	ck_assert_int_eq(c->audit_log, AUDIT_NONE);
	conf_free(c);
	c = good("http_listen = /run/rg/http.sock\n");
	ck_assert_str_eq(c->http_path, "/run/rg/http.sock");
	conf_free(c);
	/* A bare name is a path relative to the file, as for socket. */
	c = good("http_listen = http.sock\n");
	ck_assert_msg(strncmp(c->http_path, cpath, strrchr(cpath, '/') -
	    cpath + 1) == 0 && strcmp(strrchr(c->http_path, '/'),
	    "/http.sock") == 0, "%s", c->http_path);
	conf_free(c);
	c = good("http_listen = ./http.sock\n");
	ck_assert_ptr_nonnull(strstr(c->http_path, "/./http.sock"));
	ck_assert_msg(c->http_path[0] == '/', "%s", c->http_path);
	conf_free(c);
	for (i = 0; i < nitems(ok); i++) {
		snprintf(text, sizeof(text), "http_listen = %s\n"
		    "http_allow_remote = yes\nhttp_token_file = /t\n", ok[i].v);
		c = good(text);
		ck_assert_ptr_null(c->http_path);
		ck_assert_int_eq(c->http_addr.ss_family, ok[i].family);
		ck_assert_msg(c->http_loopback == ok[i].loopback, "%s", ok[i].v);
		conf_free(c);
		if (ok[i].loopback)
			continue;
		/* Not loopback: refused without http_allow_remote. */
		snprintf(text, sizeof(text), "http_listen = %s\n", ok[i].v);
		c = load(text, &cause);
		ck_assert_ptr_null(c);
		ck_assert_msg(strstr(cause, "not a loopback address") != NULL &&
		    strstr(cause, "http_allow_remote") != NULL, "%s", cause);
		free(cause);
	}
	for (i = 0; i < nitems(nok); i++) {
		snprintf(text, sizeof(text), "http_listen = %s\n", nok[i]);
		bad(text, 1, "http_listen", "numeric address", NULL);
	}
	c = load("http_listen = 0.0.0.0:80\nhttp_allow_remote = yes\n", &cause);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(cause, "needs http_token_file") != NULL, "%s",
	    cause);
	free(cause);
	c = good("audit_log = flagged\nhttp_max_body = 1m\n"
	    "http_max_connections = 3\nhttp_timeout = 5s\n");
	ck_assert_int_eq(c->audit_log, AUDIT_FLAGGED);
	ck_assert_uint_eq(c->http_max_body, 1 << 20);
	ck_assert_uint_eq(c->http_max_conns, 3);
	ck_assert_int_eq(c->http_timeout, 5000);
	conf_free(c);
	bad("audit_log = some\n", 1, "audit_log", "none, flagged or all", NULL);
	/* The rule set's files in all: 16m unless set, 4k to 1g. */
	c = good("");
	ck_assert_uint_eq(c->rules_max_bytes, 16 << 20);
	conf_free(c);
	c = good("rules_max_bytes = 64m\n");
	ck_assert_uint_eq(c->rules_max_bytes, 64 << 20);
	conf_free(c);
	bad("rules_max_bytes = 2g\n", 1, "rules_max_bytes", "between 4096",
	    NULL);
}
END_TEST

START_TEST(test_missing_file)
{
	struct conf	*c;
	char		*cause = NULL;

	c = conf_load("/nonexistent/refguard.conf", &cause);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_nonnull(strstr(cause, "/nonexistent/refguard.conf"));
	ck_assert_ptr_nonnull(strstr(cause, "No such file"));
	free(cause);
}
END_TEST

/*
 * Drop-ins are regular files: a FIFO (which fopen would wait on for a
 * writer, holding up -t or a reload for ever) or a directory named
 * *.conf is an error naming it.
 */
START_TEST(test_dropin_not_regular)
{
	struct conf	*c;
	char		*cause = NULL, path[400], want[500];

	snprintf(path, sizeof(path), "%s/conf.d", tmpdir);
	(void)mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/conf.d/10-fifo.conf", tmpdir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	snprintf(path, sizeof(path), "%s/conf.d/20-dir.conf", tmpdir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	c = load("log_level = warn\n", &cause);
	ck_assert_ptr_null(c);
	snprintf(want, sizeof(want), "%s/conf.d/10-fifo.conf: not a regular "
	    "file (a FIFO)\n%s/conf.d/20-dir.conf: not a regular file (a "
	    "directory)", tmpdir, tmpdir);
	ck_assert_msg(cause != NULL && strcmp(cause, want) == 0, "%s", cause);
	free(cause);
	snprintf(path, sizeof(path), "%s/conf.d", tmpdir);
	ck_assert_int_eq(unit_rmrf(path), 0);

	/* The main file too: a FIFO is refused, not waited on. */
	snprintf(path, sizeof(path), "%s/fifo.conf", tmpdir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	c = conf_load(path, &cause);
	ck_assert_ptr_null(c);
	snprintf(want, sizeof(want), "%s: not a regular file (a FIFO)", path);
	ck_assert_msg(cause != NULL && strcmp(cause, want) == 0, "%s", cause);
	free(cause);
	ck_assert_int_eq(unlink(path), 0);
}
END_TEST

START_TEST(test_long_lines)
{
	char	*text;

	/* 5000 bytes: refused, not split into two lines. */
	text = xmalloc(5100);
	memset(text, 'x', 5100);
	memcpy(text, "socket = /", 10);
	memcpy(text + 5000, "\n", 2);
	bad(text, 1, "longer than", NULL, NULL);

	/* Up to 4095 bytes a line is fine, also without a final newline. */
	memset(text, ' ', 4095);
	memcpy(text, "socket_group = g", 16);
	text[4095] = '\0';
	conf_free(good(text));
	text[4095] = '\n';
	text[4096] = '\0';
	conf_free(good(text));
	free(text);
}
END_TEST

/* Every error is reported, a line each in order, not only the first. */
START_TEST(test_all_errors)
{
	struct conf	*c;
	char		*cause, *want, *text;
	size_t		 n = 0;
	const char	*p;

	text = xmalloc(5200);
	memset(text, 'x', 5200);
	memcpy(text, "bogus = 1\nsync = maybe\nsocket = /", 33);
	strcpy(text + 5000, "\nmap_size = 2g\nmap_max = 1g\nretention = x\n");
	c = load(text, &cause);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(cause);
	for (p = cause; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	ck_assert_msg(n == 4, "not 5 lines: %s", cause);
	xasprintf(&want, "%s:1: unknown key 'bogus'\n%s:2: sync: ", cpath,
	    cpath);
	ck_assert_msg(strncmp(cause, want, strlen(want)) == 0, "%s", cause);
	free(want);
	xasprintf(&want, "\n%s:3: line longer than", cpath);
	ck_assert_msg(strstr(cause, want) != NULL, "%s", cause);
	free(want);
	xasprintf(&want, "\n%s:6: retention: ", cpath);
	ck_assert_msg(strstr(cause, want) != NULL, "%s", cause);
	free(want);
	xasprintf(&want, "\n%s:5: map_max (", cpath);
	ck_assert_msg(strstr(cause, want) != NULL, "%s", cause);
	free(want);
	ck_assert_msg(cause[strlen(cause) - 1] != '\n', "trailing newline");
	free(cause);
	free(text);
}
END_TEST

START_TEST(test_rules_dirs)
{
	struct conf	*c;

	c = good("rules_dirs = /usr/share/rg/rules  local.d\n");
	ck_assert(c->rules_merge);
	ck_assert_uint_eq(c->nrules_paths, 2);
	ck_assert_str_eq(c->rules_paths[0], "/usr/share/rg/rules");
	ck_assert_msg(strncmp(c->rules_paths[1], tmpdir, strlen(tmpdir)) == 0 &&
	    strcmp(c->rules_paths[1] + strlen(tmpdir), "/local.d") == 0, "%s",
	    c->rules_paths[1]);
	conf_free(c);
	/* The later of rules and rules_dirs wins, whole. */
	c = good("rules_dirs = /a /b\nrules = /etc/one.rules\n");
	ck_assert(!c->rules_merge);
	ck_assert_uint_eq(c->nrules_paths, 1);
	ck_assert_str_eq(c->rules_paths[0], "/etc/one.rules");
	ck_assert_str_eq(c->rules_path, "/etc/one.rules");
	conf_free(c);
	c = good("rules = /etc/one.rules\nrules_dirs = /a /b\n");
	ck_assert(c->rules_merge);
	ck_assert_str_eq(c->rules_path, "/a /b");
	conf_free(c);
	/* Blanks only: no directory, said at its line. */
	bad("\nrules_dirs = \"  \"\n", 2, "rules_dirs: names no directory",
	    NULL, NULL);
}
END_TEST

START_TEST(test_optional_data)
{
	struct conf	*c;
	char		 path[400];

	/* "-PATH": left out while the file does not exist. */
	c = good("geoip_db = -/nonexistent/a.mmdb\n"
	    "disposable_file = -/nonexistent/d.txt\n");
	ck_assert_uint_eq(c->ngeoip, 0);
	ck_assert_ptr_null(c->disposable_file);
	conf_free(c);
	snprintf(path, sizeof(path), "%s/b.mmdb", tmpdir);
	unit_write(path, "x", 1);
	c = good("geoip_db = -b.mmdb\ngeoip_db = -/nonexistent/a.mmdb\n"
	    "disposable_file = -b.mmdb\n");
	ck_assert_uint_eq(c->ngeoip, 1);
	ck_assert_str_eq(c->geoip[0].val, path);
	ck_assert_str_eq(c->disposable_file, path);
	conf_free(c);
	/* Without the dash a missing file is the daemon's error, as before. */
	c = good("geoip_db = /nonexistent/a.mmdb\n");
	ck_assert_uint_eq(c->ngeoip, 1);
	conf_free(c);
	unlink(path);
}
END_TEST

/* Write text as tmpdir/conf.d/name. */
static void
dropin(const char *name, const char *text)
{
	char	path[400];

	snprintf(path, sizeof(path), "%s/conf.d", tmpdir);
	(void)mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/conf.d/%s", tmpdir, name);
	unit_write(path, text, strlen(text));
}

START_TEST(test_dropins)
{
	struct conf	*c;
	char		 path[400];

	/* Read after the file, in lexical order; only *.conf. */
	dropin("20-b.conf", "log_level = debug\ngeoip_db = b.mmdb\n");
	dropin("10-a.conf", "log_level = warn\nmax_pipeline = 9\n");
	dropin("30-c.conf.disabled", "max_pipeline = 1\n");
	c = good("log_level = err\nmax_pipeline = 3\ngeoip_db = /g/a.mmdb\n");
	ck_assert_int_eq(c->log_level, LOG_LEVEL_DEBUG);
	ck_assert_uint_eq(c->max_pipeline, 9);
	/* Repeatable keys add up; relative paths follow their file. */
	ck_assert_uint_eq(c->ngeoip, 2);
	ck_assert_str_eq(c->geoip[0].val, "/g/a.mmdb");
	snprintf(path, sizeof(path), "%s/conf.d/b.mmdb", tmpdir);
	ck_assert_str_eq(c->geoip[1].val, path);
	snprintf(path, sizeof(path), "%s/conf.d/20-b.conf", tmpdir);
	ck_assert_str_eq(c->geoip[1].file, path);
	conf_free(c);

	/* An error in a drop-in names the drop-in and its line. */
	dropin("40-bad.conf", "\nmax_pipeline = lots\n");
	snprintf(path, sizeof(path), "%s/conf.d/40-bad.conf:2: ", tmpdir);
	{
		char	*cause;

		c = load("\n", &cause);
		ck_assert_ptr_null(c);
		ck_assert_msg(strncmp(cause, path, strlen(path)) == 0, "%s",
		    cause);
		free(cause);
	}
	snprintf(path, sizeof(path), "%s/conf.d/40-bad.conf", tmpdir);
	ck_assert_int_eq(unlink(path), 0);

	/*
	 * A check across keys names the drop-in line that set the key, not
	 * the main file (which may not mention it at all).
	 */
	dropin("50-map.conf", "# smaller\nmap_max = 2m\n");
	dropin("60-http.conf", "http_listen = 0.0.0.0:8470\n"
	    "http_allow_remote = yes\n");
	{
		char	*cause, want[400];

		c = load("map_size = 10m\n", &cause);
		ck_assert_ptr_null(c);
		snprintf(want, sizeof(want), "%s/conf.d/50-map.conf:2: map_max "
		    "(2097152) is smaller than map_size", tmpdir);
		ck_assert_msg(strstr(cause, want) != NULL, "%s", cause);
		snprintf(want, sizeof(want), "%s/conf.d/60-http.conf:2: "
		    "http_allow_remote = yes needs http_token_file", tmpdir);
		ck_assert_msg(strstr(cause, want) != NULL, "%s", cause);
		free(cause);
	}
	snprintf(path, sizeof(path), "%s/conf.d", tmpdir);
	ck_assert_int_eq(unit_rmrf(path), 0);
}
END_TEST

static Suite *
conf_suite(void)
{
	Suite	*s = suite_create("conf");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_empty_file);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_bad_values);
	tcase_add_test(tc, test_syntax);
	tcase_add_test(tc, test_quotes_comments);
	tcase_add_test(tc, test_relative_paths);
	tcase_add_test(tc, test_repeatable);
	tcase_add_test(tc, test_map_max);
	tcase_add_test(tc, test_http);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_dropin_not_regular);
	tcase_add_test(tc, test_long_lines);
	tcase_add_test(tc, test_all_errors);
	tcase_add_test(tc, test_rules_dirs);
	tcase_add_test(tc, test_dropins);
	tcase_add_test(tc, test_optional_data);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	if (unit_tmpdir(tmpdir) != 0)
		return (99);
	snprintf(cpath, sizeof(cpath), "%s/refguard.conf", tmpdir);
	return (unit_run_in(conf_suite(), tmpdir));
}
