/*
 * conf.h: refguard.conf(5): "key = value" lines, '#' comments, values
 * optionally in double quotes, durations and sizes with units. Unknown
 * keys and bad values are errors reported as "file:line: message".
 *
 * Repeatable keys (geoip_db, email_domain) collect into arrays.
 */
#ifndef REFGUARD_CONF_H
#define REFGUARD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ident.h"	/* struct conf_str */

#define CONF_DEFAULT_PATH	SYSCONFDIR "/refguard/refguard.conf"
/* Drop-ins: DIR/conf.d/ *.conf beside the file read, in lexical order. */
#define CONF_DROPIN_DIR		"conf.d"
/* The shipped rules, then the local ones (refguard.rules(5)). */
#define CONF_RULES_DIRS		DATADIR "/refguard/rules " \
				SYSCONFDIR "/refguard/rules.d"

/* eval_threads = 0: one thread per CPU the daemon may use, up to this. */
#define EVAL_THREADS_AUTO_MAX	8

struct conf {
	char		*path;		/* the file read, for messages */

	/* listener */
	char		*socket_path;
	unsigned	 socket_mode;	/* octal in the file, default 0660 */
	char		*socket_group;	/* NULL: leave as created */
	size_t		 max_line;	/* bytes, default 64k */
	unsigned	 max_conns;	/* default 4096 */
	unsigned	 max_pipeline;	/* requests in flight per connection */
	size_t		 max_outbuf;	/* unsent reply bytes per connection */
	size_t		 max_outbuf_total; /* the same over all connections */
	int64_t		 idle_timeout;	/* ms, 0: none */

	/* store */
	char		*state_dir;
	uint64_t	 map_size;
	uint64_t	 map_max;
	bool		 sync_full;	/* sync = full | none */
	unsigned	 recent_entries; /* recent tier budget (store.h) */
	unsigned	 eval_threads;	/* the writer's evaluation threads;
					   0: one per usable CPU, at most
					   EVAL_THREADS_AUTO_MAX */
	int64_t		 retention;	/* ms */

	/* rules and identity */
	char		*rules_path;	/* as written (resolved), for stats */
	char		**rules_paths;	/* what rules or rules_dirs names */
	size_t		 nrules_paths;
	bool		 rules_merge;	/* rules_dirs: merged by file name */
	uint64_t	 rules_max_bytes; /* its rule and list files, in all */
	char		*hash_secret_file;	/* default STATE_DIR/secret */
	char		*disposable_file;
	char		*zoneinfo_dir;	/* NULL: the system's (ident.h) */
	unsigned	 ip_prefix4;
	unsigned	 ip_prefix6;
	struct conf_str	*geoip;
	size_t		 ngeoip;
	struct conf_str	*email_domains;
	size_t		 nemail_domains;
	char		*data_stamp_file;	/* refguard-update-data's stamp */
	int64_t		 data_max_age;	/* ms; 0: no limit */

	/* HTTP listener (http.c): off unless http_listen is set */
	char		*http_listen;	/* as written; NULL: no HTTP */
	char		*http_path;	/* Unix socket; NULL: TCP at http_addr */
	struct sockaddr_storage http_addr;
	socklen_t	 http_addrlen;
	bool		 http_loopback;	/* http_addr is a loopback address */
	bool		 http_allow_remote;
	char		*http_token_file;	/* NULL: no bearer token */
	struct conf_str	*http_hosts;	/* more names for Host (http.c) */
	size_t		 nhttp_hosts;
	size_t		 http_max_body;	/* bytes */
	unsigned	 http_max_conns;
	int64_t		 http_timeout;	/* ms */
	char		*http_ui_dir;	/* the console's files (http_ui.h) */

	/* cluster mode (cluster.h, docs/cluster.md): off unless
	 * cluster_nats_url is set */
	char		*cluster_nats_url;	/* "nats://h:p,nats://h2:p" */
	char		*cluster_stream;	/* JetStream stream name */
	char		*cluster_creds;		/* NATS credentials file */
	char		*cluster_node;		/* this node's name; default
						   the host name */
	unsigned	 cluster_replicas;	/* of a stream this node creates */
	int64_t		 cluster_max_age;	/* ms; its age limit, 0 none */

	/* logging */
	int		 log_level;
	bool		 log_syslog;
	int		 audit_log;	/* AUDIT_* */
};

#define AUDIT_NONE	0
#define AUDIT_FLAGGED	1	/* deny and review verdicts */
#define AUDIT_ALL	2

/*
 * Read the file at path into a new conf with defaults for what it does not
 * set, then each drop-in DIR/conf.d/NAME.conf (DIR: path's directory) in
 * lexical order: a key a drop-in sets replaces the earlier value, a
 * repeatable key adds to it. A missing conf.d is not an error; a
 * drop-in that is not a regular file (a FIFO, a directory) is. Relative
 * paths in a file are taken relative to that file's directory. NULL and
 * *cause (caller frees) on error: every error found, one
 * "file:line: message" line each (no trailing newline).
 */
struct conf	*conf_load(const char *path, char **cause);
/* Defaults only (tests, and refguardctl's local commands). */
struct conf	*conf_default(void);
void		 conf_free(struct conf *);
/* The identity settings of a conf, pointing into it. */
void		 conf_ident(const struct conf *, struct ident_conf *);

#endif
