/* job.c: making, answering and freeing writer jobs; see job.h. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyst.h"
#include "job.h"
#include "log.h"
#include "req.h"
#include "rules.h"
#include "util.h"
#include "verdict.h"

struct job *
job_new(enum job_kind kind)
{
	/* Only check/observe need the event zeroed; the rest is small. */
	struct job	*job = xmalloc(sizeof(*job));

	memset(job, 0, offsetof(struct job, ev));
	job->ev.idlen = 0;	/* error replies echo the id only once decoded */
	job->kind = kind;
	job->op = OP__MAX;
	return (job);
}

void
job_free(struct job *job)
{
	if (job == NULL)
		return;
	if (job->rs != NULL)
		rules_unref(job->rs);
	analyst_req_free(job->ar);
	verdict_eval_free(job->ve);
	free(job->reply);
	free(job->cl_ruleset);
	free(job);
}

void
job_done_free(struct job *job, void *arg)
{
	job_free(job);
}

void
job_set_reply(struct job *job, struct verdict *v)
{
	free(job->reply);
	job->errcode = NULL;
	job->reply = v->reply;
	job->replylen = v->replylen;
	job->action = v->action;
	job->replay = v->replay;
	job->nhits = v->nhits;
	memcpy(job->hits, v->hits, v->nhits * sizeof(job->hits[0]));
	memcpy(job->hits_shadow, v->hits_shadow, v->nhits);
	v->reply = NULL;
}

void
job_set_error(struct job *job, const char *code, const char *field,
    const char *fmt, ...)
{
	struct req_error	err = { .code = code };
	va_list			ap;

	if (field != NULL)
		snprintf(err.field, sizeof(err.field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	free(job->reply);
	job->reply = req_error_reply(&err, job->ev.idlen ? job->ev.id : NULL,
	    job->ev.idlen, &job->replylen);
	job->errcode = code;
}

/* An error for this request, never the record's bytes; the batch goes on. */
void
job_set_corrupt(struct job *job)
{
	char	esc[512];

	log_err("corrupt verdict record id=%s", log_value(job->ev.id,
	    job->ev.idlen, esc, sizeof(esc)));
	job_set_error(job, "store_error", NULL, "corrupt verdict record: it "
	    "fails its checksum; restore it from a backup (refguardctl "
	    "export)");
}
