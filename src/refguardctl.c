/*
 * refguardctl: talk to refguardd over its socket, and the offline tools.
 * main() and the command table; the handlers are in ctl_*.c (ctl.h).
 *
 * Exit status: 0 ok, 1 the daemon answered with an error (or a local
 * command failed: rules check, backtest), 2 usage, 3 cannot connect (or
 * the connection broke).
 */
#include "config.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "ctl.h"
#include "log.h"
#include "util.h"

#define DEFAULT_SOCKET	RUNSTATEDIR "/refguard/refguard.sock"

const char	*ctl_sock_path;
const char	*ctl_conf_path;
bool		 ctl_sock_named;

#define PARTY_HELP(p)							\
	"  --" p "-account A  --" p "-email E  --" p "-ip IP\n"		\
	"  --" p "-phone P  --" p "-payment P  --" p "-device-id D\n"	\
	"  --" p "-ua UA  --" p "-device K=V\n"

const struct ctl_cmd ctl_cmds[] = {
	{ "ping", "", "check that the daemon answers", "", ctl_ping,
	  CTL_DAEMON },
	{ "check", "[-] [--id ID] [--ts T] [--FLAG VALUE]...",
	  "check a referral and print the verdict",
	  "  -                    the JSON request from stdin (flags override)\n"
	  "  --id ID              the referral's id\n"
	  "  --ts T               Unix milliseconds or RFC 3339 (default now)\n"
	  "  --campaign C\n"
	  "  --reward-amount N  --reward-currency CUR\n"
	  PARTY_HELP("referrer") PARTY_HELP("referee"),
	  ctl_check, CTL_DAEMON },
	{ "observe", "[-] --kind KIND --account A [--FLAG VALUE]...",
	  "record account activity",
	  "  -                    the JSON request from stdin (flags override)\n"
	  "  --kind KIND          signup, login, purchase, payout or update\n"
	  "  --account A  --ts T  --email E  --ip IP  --phone P\n"
	  "  --payment P  --device-id D  --ua UA  --device K=V\n",
	  ctl_observe, CTL_DAEMON },
	{ "verdict", "ID", "the stored verdict of a referral", "", ctl_verdict,
	  CTL_DAEMON },
	{ "explain", "ID", "the verdict with the facts it rested on", "",
	  ctl_explain, CTL_DAEMON },
	{ "recheck", "ID [--ts T]",
	  "re-evaluate a referral now, or as of T (before a payout)",
	  "  --ts T               as of T (Unix milliseconds or RFC 3339)\n",
	  ctl_recheck, CTL_DAEMON },
	{ "graph", "ID", "the identities linking a referral's accounts, and "
	  "their timelines", "", ctl_graph, CTL_DAEMON },
	{ "feedback", "(--id ID | --account A) --label LABEL [--note TEXT] "
	  "[--by WHO]", "label a referral's referee or an account",
	  "  --id ID              the referral whose referee is labelled\n"
	  "  --account A          the account labelled\n"
	  "  --label LABEL        fraud, legit, chargeback or abuse\n"
	  "  --note TEXT  --by WHO\n",
	  ctl_feedback, CTL_DAEMON },
	{ "queue", "list|get|claim|unclaim|decide ...",
	  "the review queue: list, claim and decide referrals under review",
	  "  list [--state S] [--action A] [--rule R] [--campaign C] "
	  "[--assignee W]\n"
	  "       [--score-min N] [--score-max N] [--since T] [--until T]\n"
	  "       [--sort newest|score] [--cursor C] [--limit N]\n"
	  "  get ID               the item, its verdict explained, its history\n"
	  "  claim ID --by WHO\n"
	  "  unclaim ID [--by WHO]\n"
	  "  decide ID... --decision approve|void --by WHO [--note TEXT]\n"
	  "  decide --count N [list's filters] --decision D --by WHO\n"
	  "                       every item the filters match, if N still do\n"
	  "  --state S            open (default), claimed or decided\n"
	  "  --since T  --until T RFC 3339, Unix milliseconds or a duration "
	  "ago (7d)\n"
	  "  --cursor C           the \"next\" of the page before\n",
	  ctl_queue, CTL_DAEMON },
	{ "verdicts", "[--since T] [--until T] [--action A] [--rule R] "
	  "[--campaign C] [--limit N] [--format table|csv|ndjson] "
	  "[--state DIR]",
	  "stored verdicts, newest first, as a table, CSV or NDJSON",
	  "  --since T  --until T RFC 3339, Unix milliseconds or a duration "
	  "ago (7d);\n"
	  "                       the referrals' own times\n"
	  "  --action A           allow, review or deny (the latest version)\n"
	  "  --rule R             R is one of the verdict's reasons\n"
	  "  --campaign C         the referral's campaign\n"
	  "  --limit N            at most N rows (0: all; default all, 100 "
	  "for a table)\n"
	  "  --format F           table (default; ndjson with --json), csv "
	  "(RFC 4180),\n"
	  "                       ndjson\n"
	  "  --state DIR          read the store in DIR instead of asking "
	  "the daemon\n"
	  "                       (also done from -c's store when the daemon "
	  "is down)\n",
	  ctl_verdicts, CTL_DAEMON },
	{ "daily", "[--since T] [--until T] [--rule R] [--json]",
	  "verdicts by action and rules' hits, day by day (UTC)",
	  "  --since T  --until T RFC 3339, Unix milliseconds or a duration "
	  "ago (7d);\n"
	  "                       their days (default since 14d)\n"
	  "  --rule R             only rule R's hits\n"
	  "  --json               the stats.daily reply as it is\n",
	  ctl_daily, CTL_DAEMON },
	{ "lists", "add|del|get|log|import|names ...",
	  "runtime list entries (values are hashed)",
	  "  add LIST VALUE [--kind K] [--expires 30d|RFC3339] [--reason R] "
	  "[--by W]\n"
	  "  del LIST VALUE [--kind K] [--reason R] [--by W]\n"
	  "  get LIST VALUE [--kind K]\n"
	  "  log [LIST] [--limit N]\n"
	  "  import LIST FILE [--kind K] [--expires E] [--reason R] [--by W]\n"
	  "                       a value a line, or NDJSON objects\n"
	  "  names                the list names the daemon knows\n"
	  "  --kind K             account, email, phone, payment, ip, "
	  "ip.prefix,\n"
	  "                       device, device.id, device.fuzzy, "
	  "device.stable,\n"
	  "                       email.shape, email.name, phone.block, "
	  "string, domain,\n"
	  "                       "
	  "number, asn\n",
	  ctl_lists, CTL_DAEMON },
	{ "stats", "", "counters, latency, store and data figures", "",
	  ctl_stats, CTL_DAEMON },
	{ "top", "[-n COUNT] [-d SECONDS]",
	  "a live view of checks/s, verdicts, latency and rule hits",
	  "  -n COUNT             stop after COUNT screens (default: run until "
	  "^C)\n"
	  "  -d SECONDS           between screens (default 2)\n",
	  ctl_top, CTL_DAEMON },
	{ "reload", "", "reload rules and data (like SIGHUP)", "", ctl_reload,
	  CTL_DAEMON },
	{ "send", "[FILE]", "send NDJSON requests, print the raw replies",
	  "  FILE                 the requests (default stdin)\n", ctl_send,
	  CTL_DAEMON },
	{ "export", "[--state DIR] [--since 30d|RFC3339] [-o FILE]",
	  "stored events and verdicts as NDJSON (safe while the daemon runs)",
	  "  --state DIR          the state directory (default: from -c)\n"
	  "  --since 30d|RFC3339  only events since then\n"
	  "  -o, --output FILE    write FILE (atomically) instead of stdout\n",
	  ctl_export, 0 },
	{ "import", "[--state DIR] FILE",
	  "load an export into an empty state directory (daemon stopped)",
	  "  --state DIR          the state directory (default: from -c)\n",
	  ctl_import, 0 },
	{ "rules", "check [-v] PATH... | list",
	  "compile, lint and test rule files; list the daemon's rules",
	  "  check PATH...        the files or directories, as one set (no "
	  "daemon\n"
	  "                       needed); several directories merge as\n"
	  "                       rules_dirs\n"
	  "  -v                   one line per rule test\n"
	  "  list                 the rules the daemon runs: action, mode, "
	  "score, hits\n",
	  ctl_rules, CTL_DAEMON },
	{ "backtest", "--rules PATH [--since 30d|RFC3339] [--until RFC3339] "
	  "[--state DIR] [--samples N] [--threads N] [--baseline PATH] "
	  "[--no-reuse]",
	  "replay stored referrals through a rule set and compare verdicts",
	  "  --rules PATH         the candidate rule file or directory;\n"
	  "                       repeated: one set, directories merged\n"
	  "                       as rules_dirs\n"
	  "  --since 30d|RFC3339  --until RFC3339\n"
	  "  --state DIR          the state directory (default: from -c)\n"
	  "  --samples N          changed verdicts shown per kind (default 5)\n"
	  "  --threads N          replay in N parallel workers (default: the\n"
	  "                       online CPUs); the report is the same\n"
	  "  --baseline PATH      the rules that gave the stored verdicts\n"
	  "                       (default: -c's rules): rules unchanged\n"
	  "                       there take their stored outcome\n"
	  "  --no-reuse           evaluate every rule\n",
	  ctl_backtest, 0 },
	{ "help", "[COMMAND]", "this list, or a command's usage", "", NULL,
	  0 },
	{ NULL, NULL, NULL, NULL, NULL, 0 }
};

static const struct ctl_cmd	*running;

static void
cmd_usage(FILE *f, const struct ctl_cmd *c)
{
	fprintf(f, "usage: refguardctl [-s socket] [-c conf] [--json] %s%s%s\n"
	    "%s\n", c->name, *c->args != '\0' ? " " : "", c->args, c->summary);
	if (*c->options != '\0')
		fprintf(f, "%s", c->options);
}

static void
usage(FILE *f)
{
	const struct ctl_cmd	*c;

	fprintf(f,
	    "usage: refguardctl [-s socket] [-c conf] [--json] command [args]\n"
	    "       refguardctl help COMMAND | COMMAND --help\n"
	    "commands:\n");
	for (c = ctl_cmds; c->name != NULL; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f,
	    "options:\n"
	    "  -s SOCKET  the daemon's socket (else from -c, else\n"
	    "             $REFGUARD_SOCKET, else %s)\n"
	    "  -c FILE    the daemon's configuration: its socket, state\n"
	    "             directory, secret and identity settings\n"
	    "  --json     the daemon's reply lines as they are, for scripts\n"
	    "  -h, --help this text;  -V, --version the version\n"
	    "exit: 0 ok, 1 an error reply or a failed command, 2 usage, 3 cannot\n"
	    "      connect\n", DEFAULT_SOCKET);
}

void
ctl_badusage(void)
{
	if (running != NULL)
		cmd_usage(stderr, running);
	else
		usage(stderr);
	exit(CTL_EXIT_USAGE);
}

/* Levenshtein distance, for "did you mean". */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b), i, j, *row, prev, tmp, d;

	row = xcalloc(lb + 1, sizeof(*row));
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			d = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < d)
				d = row[j] + 1;
			if (row[j - 1] + 1 < d)
				d = row[j - 1] + 1;
			row[j] = d;
			prev = tmp;
		}
	}
	d = row[lb];
	free(row);
	return (d);
}

static const struct ctl_cmd *
cmd_find(const char *name)
{
	const struct ctl_cmd	*c;

	for (c = ctl_cmds; c->name != NULL; c++)
		if (strcmp(c->name, name) == 0)
			return (c);
	return (NULL);
}

static void __attribute__((noreturn))
unknown(const char *name)
{
	const struct ctl_cmd	*c, *best = NULL;
	size_t			 d, bestd = SIZE_MAX;

	for (c = ctl_cmds; c->name != NULL; c++) {
		d = strncmp(c->name, name, strlen(name)) == 0 ? 0 :
		    edit_distance(name, c->name);
		if (d < bestd) {
			bestd = d;
			best = c;
		}
	}
	fprintf(stderr, "refguardctl: unknown command '%s'", name);
	if (best != NULL && bestd <= 2 + strlen(name) / 4)
		fprintf(stderr, "; did you mean '%s'?", best->name);
	fprintf(stderr, "\nusage: refguardctl [-s socket] [-c conf] [--json] "
	    "command [args]; 'refguardctl help' lists the commands\n");
	exit(CTL_EXIT_USAGE);
}

/* refguardctl help [COMMAND] */
static int
help(int argc, char **argv)
{
	const struct ctl_cmd	*c;

	if (argc == 1) {
		usage(stdout);
		return (0);
	}
	if (argc != 2)
		ctl_badusage();
	if ((c = cmd_find(argv[1])) == NULL)
		unknown(argv[1]);
	cmd_usage(stdout, c);
	return (0);
}

/* -c FILE gives the socket when -s does not. */
static void
sock_from_conf(void)
{
	struct conf	*cf;
	char		*cause = NULL;

	if ((cf = conf_load(ctl_conf_path, &cause)) == NULL) {
		fprintf(stderr, "refguardctl: %s\n", cause);
		free(cause);
		exit(CTL_EXIT_USAGE);
	}
	ctl_sock_path = xstrdup(cf->socket_path);	/* lives until exit */
	conf_free(cf);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,	NULL, 'j' },
		{ "help",	no_argument,	NULL, 'h' },
		{ "version",	no_argument,	NULL, 'V' },
		{ NULL,		0,		NULL, 0 }
	};
	const struct ctl_cmd	*c;
	bool			 json = false, sflag = false;
	int			 ch, i, j;

	ctl_sock_path = getenv("REFGUARD_SOCKET");
	ctl_sock_named = ctl_sock_path != NULL && *ctl_sock_path != '\0';
	if (!ctl_sock_named)
		ctl_sock_path = DEFAULT_SOCKET;
	log_init("refguardctl", LOG_TARGET_STDERR, LOG_LEVEL_WARN);
	while ((ch = getopt_long(argc, argv, "+c:s:hjV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			ctl_conf_path = optarg;
			break;
		case 's':
			ctl_sock_path = optarg;
			ctl_sock_named = sflag = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return (0);
		case 'V':
			printf("refguardctl %s\n", PACKAGE_VERSION);
			return (0);
		default:
			usage(stderr);
			return (CTL_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return (CTL_EXIT_USAGE);
	}
	if ((c = cmd_find(argv[0])) == NULL)
		unknown(argv[0]);
	running = c;
	/*
	 * --help anywhere before "--" (or -h first) is the command's usage,
	 * never a request; --json may also follow the command.
	 */
	for (i = j = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc)
				argv[j++] = argv[i++];
			break;
		}
		if (i > 0 && (strcmp(argv[i], "--help") == 0 ||
		    (i == 1 && strcmp(argv[i], "-h") == 0))) {
			cmd_usage(stdout, c);
			return (0);
		}
		if (i > 0 && strcmp(argv[i], "--json") == 0)
			json = true;
		else
			argv[j++] = argv[i];
	}
	argc = j;
	argv[argc] = NULL;
	ctl_out_init(json);
	if (c->fn == NULL)
		return (help(argc, argv));
	if ((c->flags & CTL_DAEMON) && !sflag && ctl_conf_path != NULL)
		sock_from_conf();
	/*
	 * Handlers scan their flags with getopt from their argv[1]: glibc
	 * starts a new scan at optind 0 (this one stopped at the command).
	 */
	optind = 0;
	return (c->fn(argc, argv));
}
