/*
 * test_http_ui.c: the console's file table (http_ui.h): which files of
 * the directory it takes, their types, lookups that name a file of the
 * table or nothing, and the errors that name the problem.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_ui.h"
#include "unit.h"

static char	dir[] = "/tmp/rg-http-ui-XXXXXX";

static void
put(const char *name, const char *text)
{
	char	path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unit_write(path, text, strlen(text));
}

START_TEST(test_table)
{
	const struct http_ui_file	*f;
	struct http_ui			*ui;
	char				*cause = NULL, path[512], sub[512];

	put("index.html", "<!doctype html>");
	put("app.js", "export {};");
	put("app.css", "body{}");
	put("logo.svg", "<svg/>");
	put(".hidden.js", "x");
	put("notes.md", "no");		/* not a known type */
	put("-dash.js", "x");		/* must start with a letter or digit */
	put("back\\slash.js", "x");
	snprintf(sub, sizeof(sub), "%s/sub.js", dir);
	ck_assert_int_eq(mkdir(sub, 0755), 0);	/* a directory named .js */
	snprintf(path, sizeof(path), "%s/link.js", dir);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);

	ui = http_ui_load(dir, &cause);
	ck_assert_msg(ui != NULL, "%s", cause != NULL ? cause : "?");
	ck_assert_uint_eq(http_ui_count(ui), 4);
	f = http_ui_get(ui, "");
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->name, "index.html");
	ck_assert_str_eq(f->ctype, "text/html; charset=utf-8");
	ck_assert_uint_eq(f->len, 15);
	f = http_ui_get(ui, "app.js");
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->ctype, "text/javascript; charset=utf-8");
	ck_assert_mem_eq(f->body, "export {};", 10);
	ck_assert_str_eq(http_ui_get(ui, "app.css")->ctype,
	    "text/css; charset=utf-8");
	ck_assert_str_eq(http_ui_get(ui, "logo.svg")->ctype, "image/svg+xml");
	/* Nothing else: no decoding, no directories, no way out. */
	ck_assert_ptr_null(http_ui_get(ui, ".hidden.js"));
	ck_assert_ptr_null(http_ui_get(ui, "notes.md"));
	ck_assert_ptr_null(http_ui_get(ui, "-dash.js"));
	ck_assert_ptr_null(http_ui_get(ui, "back\\slash.js"));
	ck_assert_ptr_null(http_ui_get(ui, "link.js"));
	ck_assert_ptr_null(http_ui_get(ui, "sub.js"));
	ck_assert_ptr_null(http_ui_get(ui, "../index.html"));
	ck_assert_ptr_null(http_ui_get(ui, "./index.html"));
	ck_assert_ptr_null(http_ui_get(ui, "%61pp.js"));
	ck_assert_ptr_null(http_ui_get(ui, "app.js/"));
	ck_assert_ptr_null(http_ui_get(ui, "index.html/"));
	ck_assert_ptr_null(http_ui_get(NULL, "index.html"));
	http_ui_free(ui);

	/* Without index.html, or without the directory: why. */
	snprintf(path, sizeof(path), "%s/index.html", dir);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_ptr_null(http_ui_load(dir, &cause));
	ck_assert_msg(strstr(cause, "no index.html") != NULL, "%s", cause);
	free(cause);
	ck_assert_ptr_null(http_ui_load("/nonexistent/ui", &cause));
	ck_assert_msg(strstr(cause, "http_ui_dir /nonexistent/ui: No such "
	    "file") != NULL, "%s", cause);
	free(cause);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("http_ui");
	TCase	*tc = tcase_create("table");

	if (unit_tmpdir(dir) != 0)
		return (1);
	tcase_add_test(tc, test_table);
	suite_add_tcase(s, tc);
	return (unit_run_in(s, dir));
}
