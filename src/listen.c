/*
 * listen.c: the daemon's Unix sockets: bound here (stale ones replaced,
 * live ones refused, mode and group set before anyone can connect), or
 * passed by systemd; see listen.h.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/util.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "conf.h"
#include "listen.h"
#include "log.h"
#include "util.h"

/* Is something answering on this socket path? */
static bool
socket_alive(const struct sockaddr_un *sun)
{
	int	fd, rc;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return (false);
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	return (rc == 0);
}

/*
 * The socket files this start-up made, removed when it fails: fatal()
 * exits through exit(3), which runs startup_unlink(), so a refused start
 * leaves no socket behind. Only the process that made them removes them,
 * and only until listen_startup_done() (then shutdown owns them).
 */
static struct {
	char	*path[2];	/* the NDJSON socket, the HTTP one */
	int	 n;
	pid_t	 pid;
} startup_made;

static void
startup_unlink(void)
{
	int	i;

	if (startup_made.pid != getpid())
		return;
	for (i = 0; i < startup_made.n; i++)
		unlink(startup_made.path[i]);
}

static void
startup_made_socket(const char *path)
{
	if (startup_made.n == 0 && startup_made.pid == 0)
		atexit(startup_unlink);
	if (startup_made.n == (int)nitems(startup_made.path))
		return;
	startup_made.pid = getpid();
	startup_made.path[startup_made.n++] = xstrdup(path);
}

void
listen_startup_done(void)
{
	while (startup_made.n > 0)
		free(startup_made.path[--startup_made.n]);
}

int
listen_unix(const struct conf *cf, const char *path, char **cause)
{
	struct sockaddr_un	 sun;
	struct stat		 sb;
	struct group		*gr;
	char			*dir, *slash, esc[256];
	mode_t			 old;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		xasprintf(cause, "socket path %s is longer than %zu bytes",
		    path, sizeof(sun.sun_path) - 1);
		return (-1);
	}
	strcpy(sun.sun_path, path);

	/* The socket's directory, if missing (a checkout, a test). */
	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			log_warn("cannot create the socket directory "
			    "dir=%s error=\"%s\"", log_value(dir, strlen(dir),
			    esc, sizeof(esc)), strerror(errno));
	}
	free(dir);

	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			xasprintf(cause, "%s exists and is not a socket; "
			    "refusing to replace it", path);
			return (-1);
		}
		if (socket_alive(&sun)) {
			xasprintf(cause, "another refguardd is answering on %s",
			    path);
			return (-1);
		}
		log_info("removing stale socket path=%s",
		    log_value(path, strlen(path), esc, sizeof(esc)));
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return (-1);
	}
	/* Never a moment with wider permissions than configured. */
	old = umask(~cf->socket_mode & 0777);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		umask(old);
		xasprintf(cause, "bind %s: %s", path, strerror(errno));
		close(fd);
		return (-1);
	}
	umask(old);
	if (chmod(path, cf->socket_mode) != 0)
		log_warn("cannot chmod the socket path=%s error=\"%s\"",
		    log_value(path, strlen(path), esc, sizeof(esc)),
		    strerror(errno));
	if (cf->socket_group != NULL) {
		if ((gr = getgrnam(cf->socket_group)) == NULL) {
			xasprintf(cause, "socket_group %s: no such group",
			    cf->socket_group);
			unlink(path);
			close(fd);
			return (-1);
		}
		if (chown(path, (uid_t)-1, gr->gr_gid) != 0) {
			xasprintf(cause, "chown %s to group %s: %s",
			    path, cf->socket_group, strerror(errno));
			unlink(path);
			close(fd);
			return (-1);
		}
	}
	if (listen(fd, 1024) != 0) {
		xasprintf(cause, "listen %s: %s", path,
		    strerror(errno));
		unlink(path);
		close(fd);
		return (-1);
	}
	startup_made_socket(path);
	return (fd);
}

int
listen_passed(void)
{
#ifdef HAVE_SYSTEMD
	int	n = sd_listen_fds(1);

	if (n < 0)
		log_warn("sd_listen_fds failed error=\"%s\"", strerror(-n));
	else if (n >= 1) {
		if (n > 1)
			log_warn("systemd passed several sockets, using the "
			    "first count=%d", n);
		if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1,
		    NULL, 0) > 0) {
			/*
			 * systemd passes it blocking (NonBlocking=no): the
			 * listener accepts until EAGAIN, and a blocking
			 * accept would wedge the loop.
			 */
			if (evutil_make_socket_nonblocking(
			    SD_LISTEN_FDS_START) != 0 ||
			    evutil_make_socket_closeonexec(
			    SD_LISTEN_FDS_START) != 0)
				fatal("passed socket");
			return (SD_LISTEN_FDS_START);
		}
		log_warn("binding our own socket reason=\"the socket "
		    "systemd passed is not a Unix stream socket\"");
	}
#endif
	return (-1);
}
