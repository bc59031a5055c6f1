/* log.c: see log.h. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* log_audit(): written at notice priority whatever the level. */
#define LOG_LEVEL_AUDIT	(-1)

static const char	*log_ident = "refguard";
static enum log_target	 log_target = LOG_TARGET_STDERR;
static int		 log_level = LOG_LEVEL_INFO;
static bool		 log_prefix;	/* sd-daemon "<N>" prefixes */
static int		 log_fatal_fd = -1;

/* True when stderr is the journal's stream (systemd sets JOURNAL_STREAM). */
static bool
log_stderr_is_journal(void)
{
	const char	*js = getenv("JOURNAL_STREAM");
	struct stat	 sb;
	unsigned long	 dev, ino;

	if (js == NULL || sscanf(js, "%lu:%lu", &dev, &ino) != 2)
		return (false);
	if (fstat(STDERR_FILENO, &sb) != 0)
		return (false);
	return (sb.st_dev == dev && sb.st_ino == ino);
}

void
log_init(const char *ident, enum log_target target, int level)
{
	log_ident = ident;
	log_target = target;
	log_level = level;
	log_prefix = log_stderr_is_journal();
	if (target == LOG_TARGET_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_fatal_fd(int fd)
{
	log_fatal_fd = fd;
}

void
log_set_level(int level)
{
	log_level = level;
}

int
log_get_level(void)
{
	return (log_level);
}

bool
log_rate_ok(struct log_rate *r, unsigned burst, uint64_t *dropped)
{
	uint64_t	now = mono_us() / 1000000;

	*dropped = 0;
	if (now != r->window) {
		r->window = now;
		r->n = 0;
	}
	if (r->n >= burst) {
		r->dropped++;
		return (false);
	}
	r->n++;
	*dropped = r->dropped;
	r->dropped = 0;
	return (true);
}

int
log_level_from_name(const char *name)
{
	static const struct { const char *name; int level; } names[] = {
		{ "err", LOG_LEVEL_ERR }, { "error", LOG_LEVEL_ERR },
		{ "warn", LOG_LEVEL_WARN }, { "warning", LOG_LEVEL_WARN },
		{ "notice", LOG_LEVEL_NOTICE }, { "info", LOG_LEVEL_INFO },
		{ "debug", LOG_LEVEL_DEBUG },
	};
	size_t	i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i].name) == 0)
			return (names[i].level);
	return (-1);
}

static void
log_vwrite(int level, const char *fmt, va_list ap)
{
	static pthread_mutex_t	 mtx = PTHREAD_MUTEX_INITIALIZER;
	char			 msg[2048];

	if (level > log_level && level != LOG_LEVEL_AUDIT)
		return;
	if (level == LOG_LEVEL_AUDIT)
		level = LOG_LEVEL_NOTICE;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_target == LOG_TARGET_SYSLOG) {
		syslog(level, "%s", msg);
		return;
	}
	/* One fprintf per line under a lock: lines from threads never mix. */
	pthread_mutex_lock(&mtx);
	if (log_prefix)
		fprintf(stderr, "<%d>%s\n", level, msg);
	else
		fprintf(stderr, "%s: %s\n", log_ident, msg);
	fflush(stderr);
	pthread_mutex_unlock(&mtx);
}

#define LOG_FN(name, level)					\
void								\
name(const char *fmt, ...)					\
{								\
	va_list	ap;						\
	va_start(ap, fmt);					\
	log_vwrite(level, fmt, ap);				\
	va_end(ap);						\
}
LOG_FN(log_err, LOG_LEVEL_ERR)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_notice, LOG_LEVEL_NOTICE)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)
LOG_FN(log_audit, LOG_LEVEL_AUDIT)

char *
log_value(const char *src, size_t len, char *dst, size_t cap)
{
	size_t	n;

	if (cap < 3) {
		if (cap > 0)
			dst[0] = '\0';
		return (dst);
	}
	str_escape(src, len, dst + 1, cap - 2);
	n = strlen(dst + 1);
	if (n > 0 && strpbrk(dst + 1, " =") == NULL) {
		memmove(dst, dst + 1, n + 1);
		return (dst);
	}
	dst[0] = '"';
	dst[n + 1] = '"';
	dst[n + 2] = '\0';
	return (dst);
}

/* "fatal error=..." with the message escaped: one line, whatever it holds. */
static void __attribute__((noreturn))
log_fatal(const char *msg, const char *why)
{
	char	esc[2048], full[1536];

	if (why != NULL)
		snprintf(full, sizeof(full), "%s: %s", msg, why);
	else
		snprintf(full, sizeof(full), "%s", msg);
	log_err("fatal error=%s", log_value(full, strlen(full), esc,
	    sizeof(esc)));
	if (log_fatal_fd >= 0 && (write_all(log_fatal_fd, full,
	    strlen(full)) != 0 || write_all(log_fatal_fd, "\n", 1) != 0))
		log_err("cannot report the error to the starting process");
	exit(1);
}

void
fatal(const char *fmt, ...)
{
	char	msg[1024];
	int	saved = errno;
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_fatal(msg, strerror(saved));
}

void
fatalx(const char *fmt, ...)
{
	char	msg[1024];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_fatal(msg, NULL);
}
