/*
 * ctl_offline.c: refguardctl's commands that need no daemon: rules check,
 * backtest, export and import open the rules or the store themselves.
 * See ctl.h.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backtest.h"
#include "conf.h"
#include "ctl.h"
#include "export.h"
#include "ident.h"
#include "rules.h"
#include "secret.h"
#include "store.h"
#include "util.h"

/*
 * The rule set of rules check and backtest: several directories (and
 * nothing else) merge by file name as rules_dirs merges them (overrides
 * and masks), so that the shipped and the local directories load as the
 * daemon loads them; otherwise every file given, and every *.rules file
 * of each directory, loads. As rules_load.
 */
static struct ruleset *
ctl_rules_load(char *const *paths, size_t n, struct ident *id,
    size_t max_bytes, char **diag)
{
	struct stat	sb;
	size_t		i;
	bool		dirs;

	for (i = 0, dirs = n > 1; dirs && i < n; i++)
		dirs = stat(paths[i], &sb) == 0 && S_ISDIR(sb.st_mode);
	return ((dirs ? rules_load_dirs : rules_load_paths)(
	    (const char *const *)paths, n, id, max_bytes, diag));
}

/*
 * rules check: the paths form one rule set (ctl_rules_load), compiled and
 * linted as the daemon would, then its embedded tests run against a
 * scratch store.
 */
static int
ctl_rules_check(int argc, char **argv)
{
	struct ident_conf	 ic;
	struct conf		*cf = NULL;
	struct ident		*id;
	struct ruleset		*rs;
	char			*cause = NULL, *diag = NULL;
	int			 ch, verbose = 0, failed = 0, ntests;

	while ((ch = getopt(argc, argv, "v")) != -1) {
		if (ch != 'v')
			ctl_badusage();
		verbose = 1;
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		ctl_badusage();
	if (ctl_conf_path != NULL &&
	    (cf = conf_load(ctl_conf_path, &cause)) == NULL) {
		fprintf(stderr, "refguardctl: %s\n", cause);
		return (CTL_EXIT_USAGE);
	}
	if (cf == NULL)
		cf = conf_default();
	conf_ident(cf, &ic);
	ic.secret_file = NULL;
	ic.geoip = NULL;	/* tests state geo facts with assume */
	ic.ngeoip = 0;
	if ((id = ident_new(&ic, &cause)) == NULL) {
		fprintf(stderr, "refguardctl: %s\n", cause);
		return (CTL_EXIT_USAGE);
	}
	rs = ctl_rules_load(argv, (size_t)argc, id, cf->rules_max_bytes,
	    &diag);
	if (diag != NULL)
		fprintf(stderr, "%s%s", diag, diag[strlen(diag) - 1] == '\n' ?
		    "" : "\n");
	free(diag);
	if (rs == NULL) {
		ident_free(id);
		conf_free(cf);
		return (CTL_EXIT_ERROR);
	}
	ntests = rules_run_tests(rs, id, stdout, verbose, &failed, &cause);
	if (ntests < 0)
		fprintf(stderr, "refguardctl: rule tests: %s\n", cause);
	else
		printf("ruleset %s: %zu rules, %d tests, %d failed\n",
		    rules_hash(rs), rules_count(rs), ntests, failed);
	rules_unref(rs);
	ident_free(id);
	conf_free(cf);
	return (ntests < 0 || failed > 0 ? CTL_EXIT_ERROR : 0);
}

/* --since: a duration back from now (30d), or an RFC 3339 time. */
static int
ctl_since(const char *since, int64_t *out)
{
	int64_t	ms;

	if (parse_duration(since, &ms) == 0) {
		*out = now_ms() - ms;
		return (0);
	}
	if (parse_rfc3339(since, strlen(since), out) == 0)
		return (0);
	fprintf(stderr, "refguardctl: --since: neither a duration (30d) nor "
	    "an RFC 3339 time: %s\n", since);
	return (-1);
}

/* The configuration for the commands that open the store (ctl.h). */
struct conf *
ctl_conf(const char **state)
{
	struct conf	*cf;
	char		*cause = NULL;

	if (ctl_conf_path != NULL || *state == NULL) {
		const char *p = ctl_conf_path ? ctl_conf_path : CONF_DEFAULT_PATH;

		if ((cf = conf_load(p, &cause)) == NULL) {
			fprintf(stderr, "refguardctl: %s\n", cause);
			free(cause);
			return (NULL);
		}
	} else
		cf = conf_default();
	if (*state == NULL)
		*state = cf->state_dir;
	return (cf);
}

/*
 * The hash secret of the store in state: -c's hash_secret_file, else
 * (--state DIR alone) DIR/secret, which the daemon would be run with.
 * Caller frees.
 */
static char *
ctl_secret_path(const struct conf *cf, const char *state)
{
	char	*path;

	if (ctl_conf_path != NULL && cf->hash_secret_file != NULL)
		return (xstrdup(cf->hash_secret_file));
	xasprintf(&path, "%s/secret", state);
	return (path);
}

/* optarg as the next of v's cap paths of a repeatable option: 0, or -1. */
static int
ctl_add_path(char **v, size_t *n, size_t cap, const char *opt)
{
	if (*n == cap) {
		fprintf(stderr, "refguardctl: %s: at most %zu\n", opt, cap);
		return (-1);
	}
	v[(*n)++] = optarg;
	return (0);
}

/*
 * The base set of backtest (the rules that gave the stored verdicts,
 * whose unchanged rules' outcomes it reuses): --baseline's paths, loaded
 * as --rules; without them, -c's rules as the daemon loads them, when
 * -c is given. An error in --baseline's rules fails (-1, diagnostics on
 * stderr); -c's rules that do not load only reuse nothing (a warning).
 * *base NULL: none.
 */
static int
ctl_backtest_base(char *const *paths, size_t n, const struct conf *cf,
    struct ident *id, struct ruleset **base)
{
	char	*diag = NULL;

	*base = NULL;
	if (n > 0) {
		*base = ctl_rules_load(paths, n, id, cf->rules_max_bytes,
		    &diag);
		if (*base == NULL && diag != NULL)
			fprintf(stderr, "refguardctl: --baseline:\n%s%s", diag,
			    diag[strlen(diag) - 1] == '\n' ? "" : "\n");
		free(diag);
		return (*base == NULL ? -1 : 0);
	}
	if (ctl_conf_path == NULL || cf->nrules_paths == 0)
		return (0);
	*base = (cf->rules_merge ? rules_load_dirs : rules_load_paths)(
	    (const char *const *)cf->rules_paths, cf->nrules_paths, id,
	    cf->rules_max_bytes, &diag);
	if (*base == NULL)
		fprintf(stderr, "refguardctl: warning: the rules of %s do not "
		    "load: every rule is evaluated\n", ctl_conf_path);
	free(diag);
	return (0);
}

/*
 * backtest: the store opened read-only (never blocks the daemon), the
 * candidate rules compiled with the installation's secret so that list
 * values hash as the stored events' do; the secret is never created, and
 * must be the one the store records (secret.h).
 */
int
ctl_backtest(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rules",	required_argument,	NULL, 'r' },
		{ "since",	required_argument,	NULL, 'S' },
		{ "until",	required_argument,	NULL, 'U' },
		{ "state",	required_argument,	NULL, 'd' },
		{ "samples",	required_argument,	NULL, 'n' },
		{ "threads",	required_argument,	NULL, 't' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "baseline",	required_argument,	NULL, 'b' },
		{ "no-reuse",	no_argument,		NULL, 'N' },
		{ NULL,		0,			NULL, 0 }
	};
	struct backtest_opts	 bo;
	struct ident_conf	 ic;
	struct conf		*cf;
	struct ident		*id;
	struct ruleset		*rs, *base = NULL;
	struct store		*st;
	struct backtest		*bt;
	struct secret_status	 ss;
	const char		*state = NULL, *since = NULL, *until = NULL;
	char			*cause = NULL, *diag = NULL, *secret = NULL, *end;
	char			*rules[16];	/* --rules, repeatable */
	char			*bases[16];	/* --baseline, repeatable */
	bool			 json = ctl_out_json();
	unsigned long		 n;
	size_t			 nrules = 0, nbases = 0;
	int			 ch;

	memset(&bo, 0, sizeof(bo));
	bo.since = INT64_MIN;
	bo.until = INT64_MAX;
	bo.samples = 5;
	bo.workers = cpus_usable(64);
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			if (ctl_add_path(rules, &nrules, nitems(rules),
			    "--rules") != 0)
				return (CTL_EXIT_USAGE);
			break;
		case 'b':
			if (ctl_add_path(bases, &nbases, nitems(bases),
			    "--baseline") != 0)
				return (CTL_EXIT_USAGE);
			break;
		case 'N': bo.no_reuse = true; break;
		case 'S': since = optarg; break;
		case 'U': until = optarg; break;
		case 'd': state = optarg; break;
		case 'j': json = true; break;
		case 'n':
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || *optarg == '\0' ||
			    n > 100000) {
				fprintf(stderr, "refguardctl: --samples: "
				    "not a number up to 100000: %s\n", optarg);
				return (CTL_EXIT_USAGE);
			}
			bo.samples = n;
			break;
		case 't':
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || *optarg == '\0' ||
			    n < 1 || n > 64) {
				fprintf(stderr, "refguardctl: --threads: "
				    "not a number from 1 to 64: %s\n", optarg);
				return (CTL_EXIT_USAGE);
			}
			bo.workers = (unsigned)n;
			break;
		default:
			ctl_badusage();
		}
	}
	if (optind != argc || nrules == 0)
		ctl_badusage();
	if (since != NULL && ctl_since(since, &bo.since) != 0)
		return (CTL_EXIT_USAGE);
	if (until != NULL &&
	    parse_rfc3339(until, strlen(until), &bo.until) != 0) {
		fprintf(stderr, "refguardctl: --until: not an RFC 3339 time: "
		    "%s\n", until);
		return (CTL_EXIT_USAGE);
	}

	/* -c: the daemon's store and secret; --state DIR: DIR, DIR/secret. */
	if ((cf = ctl_conf(&state)) == NULL)
		return (CTL_EXIT_ERROR);
	if (ctl_open_store(state, cf, true, &st) != 0) {
		conf_free(cf);
		return (CTL_EXIT_ERROR);
	}
	conf_ident(cf, &ic);
	ic.secret_file = secret = ctl_secret_path(cf, state);
	ic.secret_nocreate = true;
	ic.geoip = NULL;	/* events already hold their geo facts */
	ic.ngeoip = 0;
	if ((id = secret_ident_new(st, state, &ic, &ss, &cause)) == NULL) {
		fprintf(stderr, "refguardctl: %s (backtest reads the "
		    "installation's secret and never creates one)\n", cause);
		free(cause);
		free(secret);
		store_close(st);
		conf_free(cf);
		return (CTL_EXIT_ERROR);
	}
	if (ss.unverified)
		fprintf(stderr, "refguardctl: warning: the store in %s records "
		    "no fingerprint of its secret yet (refguardd records it at "
		    "its next start): %s could not be checked\n", state,
		    ic.secret_file);
	free(secret);
	rs = ctl_rules_load(rules, nrules, id, cf->rules_max_bytes, &diag);
	if (diag != NULL)
		fprintf(stderr, "%s%s", diag, diag[strlen(diag) - 1] == '\n' ?
		    "" : "\n");
	free(diag);
	if (rs != NULL && !bo.no_reuse && ctl_backtest_base(bases, nbases,
	    cf, id, &base) != 0) {
		rules_unref(rs);
		rs = NULL;
	}
	ident_free(id);
	if (rs == NULL) {
		store_close(st);
		conf_free(cf);
		return (CTL_EXIT_ERROR);
	}
	bo.base = base;
	bo.dir = state;
	bt = backtest_run(st, rs, &bo, &cause);
	if (bt == NULL)
		fprintf(stderr, "refguardctl: %s\n", cause);
	else
		backtest_print(bt, stdout, json);
	fflush(stdout);
	free(cause);
	backtest_free(bt);
	store_close(st);
	rules_unref(rs);
	rules_unref(base);
	conf_free(cf);
	return (bt == NULL ? CTL_EXIT_ERROR : 0);
}


/* Progress of export and import: a bar when stderr is a terminal. */
static void
ctl_progress_cb(void *arg, uint64_t done, uint64_t total)
{
	struct ctl_progress	*p = arg;

	ctl_progress_set(p, done, total);
}

int
ctl_open_store(const char *state, const struct conf *cf, bool readonly,
    struct store **st)
{
	struct store_opts	 so;
	char			*cause = NULL;

	memset(&so, 0, sizeof(so));
	so.dir = state;
	so.readonly = readonly;
	so.map_size = cf->map_size;
	so.map_max = cf->map_max;
	if ((*st = store_open(&so, &cause)) == NULL) {
		fprintf(stderr, "refguardctl: %s\n", cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/*
 * export: read-only, like backtest; the total for the progress bar is
 * the store's event count at the start.
 */
int
ctl_export(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state",	required_argument,	NULL, 'd' },
		{ "since",	required_argument,	NULL, 'S' },
		{ "output",	required_argument,	NULL, 'o' },
		{ NULL,		0,			NULL, 0 }
	};
	struct export_opts	 eo;
	struct export_counts	 ec;
	struct store_stat	 ss;
	struct conf		*cf;
	struct store		*st;
	const char		*state = NULL, *path = NULL;
	char			*cause = NULL, *tmp = NULL;
	FILE			*out = stdout;
	int			 ch, rc = CTL_EXIT_ERROR;

	memset(&eo, 0, sizeof(eo));
	eo.since = INT64_MIN;
	while ((ch = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': state = optarg; break;
		case 'o': path = optarg; break;
		case 'S':
			if (ctl_since(optarg, &eo.since) != 0)
				return (CTL_EXIT_USAGE);
			break;
		default:
			ctl_badusage();
		}
	}
	if (optind != argc)
		ctl_badusage();
	if ((cf = ctl_conf(&state)) == NULL)
		return (CTL_EXIT_ERROR);
	if (ctl_open_store(state, cf, true, &st) != 0) {
		conf_free(cf);
		return (CTL_EXIT_ERROR);
	}
	/* -o FILE: written beside, renamed into place when complete. */
	if (path != NULL && strcmp(path, "-") != 0) {
		xasprintf(&tmp, "%s.tmp", path);
		if ((out = fopen(tmp, "we")) == NULL) {
			fprintf(stderr, "refguardctl: %s: %s\n", tmp,
			    strerror(errno));
			goto done;
		}
	}
	if (store_stat(st, &ss, &cause) == 0) {
		struct ctl_progress *p = ctl_progress_new("export", ss.events);

		eo.progress = ctl_progress_cb;
		eo.progress_arg = p;
		if (export_run(st, out, &eo, &ec, &cause) == 0)
			rc = 0;
		ctl_progress_done(p);
	}
	if (out != stdout && fclose(out) != 0 && rc == 0) {
		fprintf(stderr, "refguardctl: %s: %s\n", tmp, strerror(errno));
		rc = CTL_EXIT_ERROR;
	}
	if (rc == 0 && tmp != NULL && rename(tmp, path) != 0) {
		fprintf(stderr, "refguardctl: %s: %s\n", path, strerror(errno));
		rc = CTL_EXIT_ERROR;
	}
	if (rc != 0 && tmp != NULL)
		unlink(tmp);
	if (rc != 0 && cause != NULL)
		fprintf(stderr, "refguardctl: export: %s\n", cause);
	if (rc == 0 && out != stdout)
		fprintf(stderr, "refguardctl: exported %" PRIu64 " events, %"
		    PRIu64 " verdicts, %" PRIu64 " feedback, %" PRIu64 " labels, %"
		    PRIu64 " list entries, %" PRIu64 " queue items to %s\n",
		    ec.events, ec.verdicts, ec.feedback, ec.labels, ec.lists,
		    ec.queue, path);
	if (rc == 0 && ec.queue_dropped > 0)
		fprintf(stderr, "refguardctl: export: left out %" PRIu64
		    " queue items whose events are not in the export (older "
		    "than --since, or checked after the export began)\n",
		    ec.queue_dropped);
done:
	free(cause);
	free(tmp);
	store_close(st);
	conf_free(cf);
	return (rc);
}

/*
 * Is the LMDB environment in dir open in another process? Every process
 * that has it open holds a shared fcntl lock on byte 0 of lock.mdb (LMDB's
 * mdb_env_excl_lock()), so a write lock there would conflict. Checked
 * before this process opens it: closing our fd drops only our own locks,
 * and there are none yet. Returns the pid, 0 when free, -1 on error.
 */
static pid_t
ctl_env_user(const char *dir)
{
	struct flock	 fl;
	char		*path;
	int		 fd;

	xasprintf(&path, "%s/lock.mdb", dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return (errno == ENOENT ? 0 : -1);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 1;
	if (fcntl(fd, F_GETLK, &fl) != 0) {
		close(fd);
		return (-1);
	}
	close(fd);
	return (fl.l_type == F_UNLCK ? 0 : fl.l_pid);
}

/*
 * The export holds hashes keyed by the old installation's secret: the
 * target's secret file (caller frees), and its fingerprint when it exists
 * (export_import() refuses an export made with another). 0 with *have
 * set, or -1 (said).
 */
static int
ctl_import_secret(const struct conf *cf, const char *state, char **path,
    struct rg_hash *fp, bool *have)
{
	struct ident_conf	 ic;
	struct ident		*id;
	struct stat		 sb;
	char			*cause = NULL;

	*path = ctl_secret_path(cf, state);
	*have = stat(*path, &sb) == 0;
	if (!*have)
		return (0);
	memset(&ic, 0, sizeof(ic));
	ic.secret_file = *path;
	ic.secret_nocreate = true;
	if ((id = ident_new(&ic, &cause)) == NULL) {
		fprintf(stderr, "refguardctl: %s\n", cause);
		free(cause);
		return (-1);
	}
	ident_secret_fp(id, fp);
	ident_free(id);
	return (0);
}

int
ctl_import(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state",	required_argument,	NULL, 'd' },
		{ NULL,		0,			NULL, 0 }
	};
	struct export_opts	 eo;
	struct export_counts	 ec;
	struct ctl_progress	*p;
	struct conf		*cf = NULL;
	struct store		*st;
	struct rg_hash		 fp;
	const char		*state = NULL, *path;
	char			*cause = NULL, *secret = NULL;
	FILE			*in;
	pid_t			 pid;
	bool			 have_secret;
	int			 ch, rc = CTL_EXIT_ERROR;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'd')
			ctl_badusage();
		state = optarg;
	}
	if (optind != argc - 1)
		ctl_badusage();
	path = argv[optind];
	if (strcmp(path, "-") == 0)
		in = stdin;
	else if ((in = fopen(path, "re")) == NULL) {
		fprintf(stderr, "refguardctl: %s: %s\n", path, strerror(errno));
		return (CTL_EXIT_USAGE);
	}
	if ((cf = ctl_conf(&state)) == NULL)
		goto close;
	if (mkdir(state, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "refguardctl: %s: %s\n", state,
		    strerror(errno));
		goto close;
	}
	if ((pid = ctl_env_user(state)) != 0) {
		if (pid < 0)
			fprintf(stderr, "refguardctl: %s/lock.mdb: %s\n", state,
			    strerror(errno));
		else
			fprintf(stderr, "refguardctl: the store in %s is in use "
			    "by process %ld (a running refguardd?): stop it "
			    "before importing\n", state, (long)pid);
		goto close;
	}
	if (ctl_import_secret(cf, state, &secret, &fp, &have_secret) != 0)
		goto close;
	if (ctl_open_store(state, cf, false, &st) != 0)
		goto close;
	memset(&eo, 0, sizeof(eo));
	eo.secret_fp = have_secret ? &fp : NULL;
	p = ctl_progress_new("import", 0);
	eo.progress = ctl_progress_cb;
	eo.progress_arg = p;
	if (export_import(st, in, strcmp(path, "-") == 0 ? "stdin" : path,
	    &eo, &ec, &cause) == 0) {
		rc = 0;
		ctl_progress_done(p);
		fprintf(stderr, "refguardctl: imported %" PRIu64 " events, %"
		    PRIu64 " verdicts, %" PRIu64 " feedback, %" PRIu64
		    " labels, %" PRIu64 " list entries, %" PRIu64 " queue items "
		    "into %s\n", ec.events, ec.verdicts, ec.feedback, ec.labels,
		    ec.lists, ec.queue, state);
		if (!have_secret)
			fprintf(stderr, "refguardctl: warning: %s does not "
			    "exist: copy the exporting installation's "
			    "hash_secret_file there (mode 0600) before starting "
			    "refguardd, which refuses to start on this store "
			    "without it\n", secret);
	} else {
		ctl_progress_done(p);
		fprintf(stderr, "refguardctl: import: %s\n", cause);
		free(cause);
	}
	store_close(st);
close:
	free(secret);
	if (cf != NULL)
		conf_free(cf);
	if (in != stdin)
		fclose(in);
	return (rc);
}


/* rules check PATH...: the only subcommand of rules today. */
int
ctl_rules(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return (ctl_rules_list(argc - 1, argv + 1));
	if (argc < 2 || strcmp(argv[1], "check") != 0)
		ctl_badusage();
	return (ctl_rules_check(argc - 1, argv + 1));
}
