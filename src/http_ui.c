/* http_ui.c: the console's static files; see http_ui.h. */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http_ui.h"
#include "util.h"

struct http_ui {
	struct http_ui_file	*files;		/* sorted by name */
	size_t			 n;
};

static const struct {
	const char	*ext;
	const char	*ctype;
} ui_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".json", "application/json" },
	{ ".txt", "text/plain; charset=utf-8" },
};

/* The Content-Type of a file name this table serves, or NULL. */
static const char *
ui_ctype(const char *name)
{
	size_t	i, n = strlen(name), e;

	if (n == 0 || !((name[0] >= 'a' && name[0] <= 'z') ||
	    (name[0] >= 'A' && name[0] <= 'Z') ||
	    (name[0] >= '0' && name[0] <= '9')))
		return (NULL);
	if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") != n)
		return (NULL);
	for (i = 0; i < nitems(ui_types); i++) {
		e = strlen(ui_types[i].ext);
		if (n > e && strcmp(name + n - e, ui_types[i].ext) == 0)
			return (ui_types[i].ctype);
	}
	return (NULL);
}

static int
ui_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct http_ui_file *)a)->name,
	    ((const struct http_ui_file *)b)->name));
}

struct http_ui *
http_ui_load(const char *dir, char **cause)
{
	struct http_ui		*ui = xcalloc(1, sizeof(*ui));
	struct http_ui_file	*f;
	struct dirent		*de;
	struct stat		 sb;
	const char		*ctype;
	char			*path, *msg;
	size_t			 total = 0;
	DIR			*dp;

	if ((dp = opendir(dir)) == NULL) {
		xasprintf(cause, "http_ui_dir %s: %s", dir, strerror(errno));
		free(ui);
		return (NULL);
	}
	while ((de = readdir(dp)) != NULL) {
		if ((ctype = ui_ctype(de->d_name)) == NULL)
			continue;
		if (ui->n == HTTP_UI_FILES_MAX) {
			xasprintf(cause, "http_ui_dir %s: more than %u files",
			    dir, HTTP_UI_FILES_MAX);
			goto fail;
		}
		ui->files = xreallocarray(ui->files, ui->n + 1,
		    sizeof(*ui->files));
		f = &ui->files[ui->n];
		xasprintf(&path, "%s/%s", dir, de->d_name);
		errno = 0;	/* a file too large sets none */
		if (file_read_regular(path, FILE_NOFOLLOW, HTTP_UI_FILE_MAX,
		    &f->body, &f->len, &sb, &msg) != 0) {
			free(path);
			if (errno == EINVAL || errno == ELOOP) {
				/* a directory, a link: not the console's */
				free(msg);
				continue;
			}
			xasprintf(cause, "http_ui_dir %s", msg);
			free(msg);
			goto fail;
		}
		free(path);
		f->name = xstrdup(de->d_name);
		f->ctype = ctype;
		ui->n++;
		if ((total += f->len) > HTTP_UI_TOTAL_MAX) {
			xasprintf(cause, "http_ui_dir %s: more than %u bytes "
			    "in all", dir, HTTP_UI_TOTAL_MAX);
			goto fail;
		}
	}
	closedir(dp);
	dp = NULL;
	qsort(ui->files, ui->n, sizeof(*ui->files), ui_cmp);
	if (http_ui_get(ui, "") == NULL) {
		xasprintf(cause, "http_ui_dir %s: no index.html", dir);
		goto fail;
	}
	return (ui);
fail:
	if (dp != NULL)
		closedir(dp);
	http_ui_free(ui);
	return (NULL);
}

void
http_ui_free(struct http_ui *ui)
{
	size_t	i;

	if (ui == NULL)
		return;
	for (i = 0; i < ui->n; i++) {
		free(ui->files[i].name);
		free(ui->files[i].body);
	}
	free(ui->files);
	free(ui);
}

size_t
http_ui_count(const struct http_ui *ui)
{
	return (ui != NULL ? ui->n : 0);
}

const struct http_ui_file *
http_ui_get(const struct http_ui *ui, const char *path)
{
	struct http_ui_file	key;

	if (ui == NULL || ui->n == 0)
		return (NULL);
	key.name = (char *)(*path == '\0' ? "index.html" : path);
	return (bsearch(&key, ui->files, ui->n, sizeof(*ui->files), ui_cmp));
}

void
http_ui_headers(struct evkeyvalq *out)
{
	evhttp_add_header(out, "Content-Security-Policy", HTTP_UI_CSP);
	evhttp_add_header(out, "Referrer-Policy", "no-referrer");
	evhttp_add_header(out, "X-Frame-Options", "DENY");
	evhttp_add_header(out, "Cross-Origin-Opener-Policy", "same-origin");
	evhttp_add_header(out, "Cross-Origin-Resource-Policy", "same-origin");
}
