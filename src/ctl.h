/*
 * ctl.h: refguardctl's command table and what its commands share.
 *
 * Every command is one struct ctl_cmd in refguardctl.c (ctl_cmds): its
 * name, its synopsis, its options, its handler and whether it talks to
 * the daemon. main() finds the command, answers "--help" from the entry
 * without running it, and calls the handler with argv[0] the command's
 * name. A handler returns the exit status (CTL_EXIT_*); it may call
 * ctl_badusage() on bad arguments, which prints its entry's usage on
 * stderr and exits CTL_EXIT_USAGE.
 *
 * The handlers live by concern: ctl_remote.c (requests to the daemon),
 * ctl_lists.c (lists and feedback), ctl_offline.c (commands that need no
 * daemon: rules check, backtest, export, import), ctl_top.c (the live
 * view). ctl_out.h prints the replies.
 */
#ifndef REFGUARD_CTL_H
#define REFGUARD_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "ctl_out.h"

/* Exit status: 1 an error reply or a failed local command. */
#define CTL_EXIT_OK		0
#define CTL_EXIT_ERROR		1
#define CTL_EXIT_USAGE		2
#define CTL_EXIT_CONNECT	3

#define CTL_DAEMON	0x1	/* talks to the daemon over its socket (rules:
				   its list subcommand) */

struct ctl_cmd {
	const char	*name;
	const char	*args;		/* synopsis after the name */
	const char	*summary;	/* one line for the command list */
	/*
	 * The options and operands, one "  --flag ARG  what" line each; the
	 * bash and zsh completions are checked against the flags here.
	 */
	const char	*options;
	int		(*fn)(int argc, char **argv);
	int		 flags;		/* CTL_DAEMON */
};

extern const struct ctl_cmd	ctl_cmds[];
extern const char		*ctl_sock_path;	/* -s, -c, $REFGUARD_SOCKET */
extern const char		*ctl_conf_path;	/* -c, or NULL */
extern bool			 ctl_sock_named;	/* by -s or $REFGUARD_SOCKET
						   (not the default's) */

/* The usage of the running command on stderr, then exit 2. */
void	ctl_badusage(void) __attribute__((noreturn));

/* ctl_remote.c: the socket. Each exits 3 when it cannot connect. */
int	ctl_connect(void);
/* The same, but -1 (errno set) instead of exiting. */
int	ctl_try_connect(void);
/*
 * Send everything read from fd in, hand each reply line to fmt; the exit
 * status (1 when fmt saw an error reply, 3 when the connection broke).
 */
int	ctl_pipe(int in, ctl_fmt_fn fmt);
/* One request line (no newline), its reply to fmt. */
int	ctl_one(const char *line, ctl_fmt_fn fmt);
/* One request built as a JSON object (taken over). */
int	ctl_json(json_t *o, ctl_fmt_fn fmt);
/*
 * One request, its reply parsed: the object, or NULL with the error said
 * on stderr and *rc the exit status. For ctl_top.c.
 */
json_t	*ctl_call(const char *line, int *rc);

/*
 * A time operand: Unix milliseconds as a number, else text (the daemon
 * reads RFC 3339, and durations ago where the field takes them).
 */
json_t	*ctl_time_arg(const char *s);

/*
 * ctl_offline.c: the configuration of the commands that open the store
 * (-c FILE, else with --state DIR the defaults, else the default file;
 * *state, NULL when not given, becomes the state directory; NULL and said
 * on error), and the store opened with its map sizes (-1 and said).
 */
struct conf;
struct store;
struct conf	*ctl_conf(const char **state);
int	 ctl_open_store(const char *state, const struct conf *cf,
	    bool readonly, struct store **st);

/* Handlers, by file. */
int	ctl_ping(int, char **);
int	ctl_stats(int, char **);
int	ctl_reload(int, char **);
int	ctl_rules_list(int, char **);	/* rules list (ctl_rules calls it) */
int	ctl_verdict(int, char **);
int	ctl_explain(int, char **);
int	ctl_graph(int, char **);
int	ctl_check(int, char **);
int	ctl_observe(int, char **);
int	ctl_recheck(int, char **);
int	ctl_queue(int, char **);
int	ctl_send(int, char **);
int	ctl_feedback(int, char **);
int	ctl_lists(int, char **);
int	ctl_rules(int, char **);
int	ctl_backtest(int, char **);
int	ctl_export(int, char **);
int	ctl_import(int, char **);
int	ctl_top(int, char **);
int	ctl_verdicts(int, char **);	/* ctl_verdicts.c */

#endif
