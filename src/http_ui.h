/*
 * http_ui.h: the security team's web console, the static files the HTTP
 * listener serves at /ui/ (docs/console.md).
 *
 * The files are read once into a fixed table, at start-up and at each
 * reload (in the reload's thread), from one flat directory (conf
 * http_ui_dir). A request names a file of the table or nothing: no path
 * from a request ever reaches the file system, so no request can read
 * outside the directory, whatever its dots, slashes or encodings. The
 * files hold no data (everything the console shows comes from the API,
 * which asks for the bearer token when one is configured): they are
 * served without it, as a login page is.
 */
#ifndef REFGUARD_HTTP_UI_H
#define REFGUARD_HTTP_UI_H

#include <stddef.h>

struct evkeyvalq;

#define HTTP_UI_FILE_MAX	(2u << 20)	/* bytes, one file */
#define HTTP_UI_TOTAL_MAX	(16u << 20)	/* bytes, all files */
#define HTTP_UI_FILES_MAX	256

/*
 * Every /ui/ reply's policy: scripts, styles, images and requests from
 * the listener's own origin only, nothing inline, never in a frame.
 */
#define HTTP_UI_CSP	"default-src 'self'; script-src 'self'; " \
	"style-src 'self'; img-src 'self'; connect-src 'self'; " \
	"object-src 'none'; base-uri 'none'; form-action 'none'; " \
	"frame-ancestors 'none'"

struct http_ui;

struct http_ui_file {
	char		*name;		/* as in the URL, below /ui/ */
	const char	*ctype;		/* Content-Type */
	char		*body;
	size_t		 len;
};

/*
 * Read the console's files from dir: every regular file whose name is
 * [A-Za-z0-9][A-Za-z0-9._-]* with a known extension (html, css, js, svg,
 * png, ico, json, txt); others (dot files, subdirectories, symbolic
 * links) are left out. index.html must be there. At most
 * HTTP_UI_FILES_MAX files, each at most HTTP_UI_FILE_MAX bytes, in all
 * HTTP_UI_TOTAL_MAX. NULL and *cause ("http_ui_dir DIR: reason", caller
 * frees) on error.
 */
struct http_ui	*http_ui_load(const char *dir, char **cause);
void		 http_ui_free(struct http_ui *ui);
/* How many files it holds (for the log). */
size_t		 http_ui_count(const struct http_ui *ui);

/*
 * The file a request path names, path being what follows "/ui/" ("" is
 * index.html), byte for byte: no decoding, no directories. NULL: none.
 */
const struct http_ui_file *http_ui_get(const struct http_ui *ui,
		     const char *path);

/* Add the headers every /ui/ reply carries (CSP and its companions). */
void		 http_ui_headers(struct evkeyvalq *out);

#endif
