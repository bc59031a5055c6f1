/*
 * ctl_lists.c: refguardctl's analyst commands: feedback (labels) and the
 * runtime lists (add, del, get, log, import). See ctl.h.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"
#include "sbuf.h"
#include "util.h"

/* feedback (--id ID | --account A) --label L [--note N] [--by WHO] */
int
ctl_feedback(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "id",		required_argument,	NULL, 'i' },
		{ "account",	required_argument,	NULL, 'a' },
		{ "label",	required_argument,	NULL, 'l' },
		{ "note",	required_argument,	NULL, 'n' },
		{ "by",		required_argument,	NULL, 'b' },
		{ NULL,		0,			NULL, 0 }
	};
	const char	*id = NULL, *account = NULL, *label = NULL;
	const char	*note = NULL, *by = NULL;
	json_t		*o;
	int		 ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'i': id = optarg; break;
		case 'a': account = optarg; break;
		case 'l': label = optarg; break;
		case 'n': note = optarg; break;
		case 'b': by = optarg; break;
		default: ctl_badusage();
		}
	}
	if (optind != argc || label == NULL || (id == NULL) == (account == NULL))
		ctl_badusage();
	o = json_pack("{s:s,s:s}", "op", "feedback", "label", label);
	if (id != NULL)
		json_object_set_new(o, "id", json_string(id));
	if (account != NULL)
		json_object_set_new(o, "account", json_string(account));
	if (note != NULL)
		json_object_set_new(o, "note", json_string(note));
	if (by != NULL)
		json_object_set_new(o, "by", json_string(by));
	return (ctl_json(o, ctl_out_reply));
}

/* The options lists add/del/get/import share. */
struct ctl_listopts {
	const char	*kind, *expires, *reason, *by;
	long		 limit;
};

static int
ctl_list_opts(int argc, char **argv, struct ctl_listopts *lo)
{
	static const struct option longopts[] = {
		{ "kind",	required_argument,	NULL, 'k' },
		{ "expires",	required_argument,	NULL, 'e' },
		{ "reason",	required_argument,	NULL, 'r' },
		{ "by",		required_argument,	NULL, 'b' },
		{ "limit",	required_argument,	NULL, 'n' },
		{ NULL,		0,			NULL, 0 }
	};
	char	*end;
	int	 ch;

	memset(lo, 0, sizeof(*lo));
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'k': lo->kind = optarg; break;
		case 'e': lo->expires = optarg; break;
		case 'r': lo->reason = optarg; break;
		case 'b': lo->by = optarg; break;
		case 'n':
			lo->limit = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || lo->limit < 1) {
				fprintf(stderr, "refguardctl: --limit: not a "
				    "positive number: %s\n", optarg);
				exit(CTL_EXIT_USAGE);
			}
			break;
		default: ctl_badusage();
		}
	}
	return (optind);
}

/* A list request; fields from lo unless already set in o. */
static json_t *
ctl_list_req(const char *op, const char *list, const struct ctl_listopts *lo)
{
	json_t	*o = json_pack("{s:s}", "op", op);

	if (list != NULL)
		json_object_set_new(o, "list", json_string(list));
	if (lo->kind != NULL)
		json_object_set_new(o, "kind", json_string(lo->kind));
	if (lo->expires != NULL && strcmp(op, "list.add") == 0)
		json_object_set_new(o, "expires", json_string(lo->expires));
	if (lo->reason != NULL && strcmp(op, "list.get") != 0)
		json_object_set_new(o, "reason", json_string(lo->reason));
	if (lo->by != NULL && strcmp(op, "list.get") != 0)
		json_object_set_new(o, "by", json_string(lo->by));
	return (o);
}

/*
 * lists import LIST FILE: a value a line ('#' comments and blank lines
 * skipped), or NDJSON objects {"value", "kind", "expires", "reason",
 * "by"}; sent in batches of pipelined requests. Prints a summary and the
 * lines that failed.
 */
#define CTL_IMPORT_BATCH	256
static int
ctl_lists_import(const char *list, const char *path,
    const struct ctl_listopts *lo)
{
	FILE		*f;
	struct sbuf	 out;
	char		*line = NULL, *p, *e, buf[4096];
	size_t		 cap = 0, n = 0, added = 0, failed = 0, lineno = 0;
	size_t		 got, linenos[CTL_IMPORT_BATCH];
	ssize_t		 len;
	json_t		*o, *in, *v;
	const char	*key;
	FILE		*sock;
	int		 fd, eof = 0;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "refguardctl: %s: %s\n", path, strerror(errno));
		return (CTL_EXIT_USAGE);
	}
	fd = ctl_connect();
	if ((sock = fdopen(dup(fd), "r")) == NULL) {
		perror("fdopen");
		return (CTL_EXIT_CONNECT);
	}
	sbuf_init(&out, 65536);
	while (!eof) {
		n = 0;
		sbuf_reset(&out);
		while (n < CTL_IMPORT_BATCH) {
			if ((len = getline(&line, &cap, f)) < 0) {
				eof = 1;
				break;
			}
			lineno++;
			for (p = line; *p == ' ' || *p == '\t'; p++)
				;
			e = p + strlen(p);
			while (e > p && (e[-1] == '\n' || e[-1] == '\r' ||
			    e[-1] == ' ' || e[-1] == '\t'))
				*--e = '\0';
			if (*p == '\0' || *p == '#')
				continue;
			o = ctl_list_req("list.add", list, lo);
			if (*p == '{') {
				if ((in = json_loads(p, 0, NULL)) == NULL ||
				    !json_is_object(in)) {
					fprintf(stderr, "%s:%zu: not a JSON "
					    "object\n", path, lineno);
					json_decref(in);
					json_decref(o);
					failed++;
					continue;
				}
				json_object_foreach(in, key, v)
					json_object_set(o, key, v);
				json_decref(in);
			} else
				json_object_set_new(o, "value", json_string(p));
			json_object_set_new(o, "op", json_string("list.add"));
			if ((p = json_dumps(o, JSON_COMPACT)) != NULL) {
				sbuf_adds(&out, p);
				sbuf_addc(&out, '\n');
				free(p);
				linenos[n++] = lineno;
			}
			json_decref(o);
		}
		if (n == 0)
			continue;
		if (write_all(fd, out.buf, out.len) != 0) {
			perror("write");
			return (CTL_EXIT_CONNECT);
		}
		for (got = 0; got < n; got++) {
			if (fgets(buf, sizeof(buf), sock) == NULL) {
				fprintf(stderr, "refguardctl: the daemon closed "
				    "the connection\n");
				return (CTL_EXIT_CONNECT);
			}
			if (ctl_reply_is_error(buf, strlen(buf))) {
				buf[strcspn(buf, "\n")] = '\0';
				fprintf(stderr, "%s:%zu: %s\n", path,
				    linenos[got], buf);
				failed++;
			} else
				added++;
		}
	}
	printf("imported %zu values into list %s, %zu failed\n", added, list,
	    failed);
	free(line);
	sbuf_free(&out);
	fclose(sock);
	close(fd);
	fclose(f);
	return (failed > 0 ? CTL_EXIT_ERROR : 0);
}

/*
 * lists names: the list names the daemon knows, one a line: the rule
 * set's list files (stats) and the runtime lists that ever changed (the
 * list log). For scripts and the shell completions.
 */
static int
ctl_lists_names(void)
{
	json_t		*st, *log, *names = json_object(), *e;
	const char	*k;
	size_t		 i;
	int		 rc;

	if ((st = ctl_call("{\"op\":\"stats\"}", &rc)) == NULL)
		return (rc);
	json_array_foreach(json_object_get(json_object_get(st, "data"),
	    "lists"), i, e)
		if (json_is_string(json_object_get(e, "name")))
			json_object_set_new(names, json_string_value(
			    json_object_get(e, "name")), json_true());
	json_decref(st);
	if ((log = ctl_call("{\"op\":\"list.log\",\"limit\":10000}",
	    &rc)) == NULL)
		return (rc);
	json_array_foreach(json_object_get(log, "entries"), i, e)
		if (json_is_string(json_object_get(e, "list")))
			json_object_set_new(names, json_string_value(
			    json_object_get(e, "list")), json_true());
	json_decref(log);
	json_object_foreach(names, k, e)
		printf("%s\n", k);
	json_decref(names);
	return (CTL_EXIT_OK);
}

/* lists add|del|get|log|import|names ... */
int
ctl_lists(int argc, char **argv)
{
	struct ctl_listopts	 lo;
	const char		*sub;
	json_t			*o;
	int			 i;

	if (argc < 2)
		ctl_badusage();
	sub = argv[1];
	i = ctl_list_opts(argc - 1, argv + 1, &lo) + 1;
	argc -= i;
	argv += i;
	if (strcmp(sub, "names") == 0 && argc == 0)
		return (ctl_lists_names());
	if (strcmp(sub, "log") == 0 && argc <= 1) {
		o = ctl_list_req("list.log", argc == 1 ? argv[0] : NULL, &lo);
		if (lo.limit > 0)
			json_object_set_new(o, "limit", json_integer(lo.limit));
		return (ctl_json(o, ctl_out_reply));
	}
	if (argc != 2)
		ctl_badusage();
	if (strcmp(sub, "import") == 0)
		return (ctl_lists_import(argv[0], argv[1], &lo));
	if (strcmp(sub, "add") == 0)
		o = ctl_list_req("list.add", argv[0], &lo);
	else if (strcmp(sub, "del") == 0)
		o = ctl_list_req("list.del", argv[0], &lo);
	else if (strcmp(sub, "get") == 0)
		o = ctl_list_req("list.get", argv[0], &lo);
	else
		ctl_badusage();
	json_object_set_new(o, "value", json_string(argv[1]));
	return (ctl_json(o, ctl_out_reply));
}

