/*
 * log.h: logging for the daemon and tools.
 *
 * Lines go to stderr, prefixed with sd-daemon priorities ("<3>") when
 * stderr is the journal (JOURNAL_STREAM matches) or when asked, or to
 * syslog. One line per event, key=value after a short message; callers
 * escape client bytes with str_escape() before logging them.
 */
#ifndef REFGUARD_LOG_H
#define REFGUARD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARN = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

enum log_target {
	LOG_TARGET_STDERR,	/* plain, or with <N> prefixes under journald */
	LOG_TARGET_SYSLOG,
};

void	log_init(const char *ident, enum log_target target, int level);
void	log_set_level(int level);
int	log_get_level(void);
/* "err" "warn" "notice" "info" "debug" -> level, -1 if unknown. */
int	log_level_from_name(const char *name);

void	log_err(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_notice(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));

/*
 * Rate limit for lines a client can cause: log_rate_ok() says whether one
 * more may be written now, at most burst a second; when it says yes after
 * refusing some, *dropped holds how many were refused since (else 0).
 * Zero-initialise a struct log_rate before first use.
 */
struct log_rate {
	uint64_t	window;		/* the second (monotonic) counted */
	unsigned	n;		/* lines written in it */
	uint64_t	dropped;
};
bool	log_rate_ok(struct log_rate *, unsigned burst, uint64_t *dropped);

/*
 * An audit line (conf audit_log): always written, whatever log_level, at
 * notice priority.
 */
void	log_audit(const char *, ...) __attribute__((format(printf, 1, 2)));

/*
 * A client's bytes as the value of a key=value pair: str_escape()d, and
 * in double quotes when empty or holding a space or '='. Returns dst.
 */
char	*log_value(const char *src, size_t len, char *dst, size_t cap);

/*
 * While fd >= 0 (-1: stop), fatal() and fatalx() also write their
 * message and a newline to fd: the start-up pipe of a daemon that
 * detached, whose parent prints it (refguardd.c).
 */
void	log_set_fatal_fd(int fd);

/* Log and exit(1): start-up failures and broken invariants only. */
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));	/* appends strerror(errno) */
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
