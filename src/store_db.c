/*
 * store_db.c: the LMDB wrapper; the contract is in store_db.h.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "log.h"
#include "store_db.h"
#include "util.h"

struct store_db {
	MDB_env			*env;
	uint64_t		 map_max;	/* atomic */
	/*
	 * Held shared by every transaction, exclusively by a map resize:
	 * LMDB allows mdb_env_set_mapsize() only with no transaction open
	 * in this process.
	 */
	pthread_rwlock_t	 maplock;
	uint64_t		 writes;	/* atomic */
};

struct store_db *
store_db_open(const struct store_db_opts *opts, char **cause)
{
	struct store_db	*db = xcalloc(1, sizeof(*db));
	unsigned	 flags = MDB_NOTLS | MDB_NORDAHEAD;
	int		 rc, dead = 0;

	db->map_max = opts->map_max;
	pthread_rwlock_init(&db->maplock, NULL);
	if (opts->nosync)
		flags |= MDB_NOSYNC;
	if (opts->readonly)
		flags |= MDB_RDONLY;
	if ((rc = mdb_env_create(&db->env)) != 0) {
		xasprintf(cause, "mdb_env_create: %s", mdb_strerror(rc));
		db->env = NULL;
		goto fail;
	}
	mdb_env_set_maxdbs(db->env, opts->maxdbs);
	mdb_env_set_maxreaders(db->env, opts->maxreaders);
	if (!opts->readonly &&
	    (rc = mdb_env_set_mapsize(db->env, opts->map_size)) != 0) {
		xasprintf(cause, "map size %zu: %s", opts->map_size,
		    mdb_strerror(rc));
		goto fail;
	}
	if ((rc = mdb_env_open(db->env, opts->dir, flags, 0600)) != 0) {
		xasprintf(cause, "open store in %s: %s", opts->dir,
		    mdb_strerror(rc));
		goto fail;
	}
	if (!opts->readonly) {
		/* Reader slots left behind by a killed process. */
		mdb_reader_check(db->env, &dead);
		if (dead > 0)
			log_info("store: cleared %d stale reader slots", dead);
	}
	return (db);
fail:
	store_db_close(db);
	return (NULL);
}

int
store_db_check_size(struct store_db *db, char **cause)
{
	MDB_envinfo	info;
	MDB_stat	ms;
	struct stat	sb;
	uint64_t	need;
	int		fd, rc;

	/* The meta first: the file only grows while another process commits. */
	if ((rc = mdb_env_info(db->env, &info)) != 0 ||
	    (rc = mdb_env_stat(db->env, &ms)) != 0 ||
	    (rc = mdb_env_get_fd(db->env, &fd)) != 0) {
		xasprintf(cause, "read LMDB's meta: %s", mdb_strerror(rc));
		return (-1);
	}
	if (fstat(fd, &sb) != 0) {
		xasprintf(cause, "data.mdb: %s", strerror(errno));
		return (-1);
	}
	need = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
	if ((uint64_t)sb.st_size < need) {
		xasprintf(cause, "data.mdb is truncated: %lld bytes, but LMDB's "
		    "meta page says %llu pages of %u bytes are in use (%llu "
		    "bytes); restore the state directory from a backup",
		    (long long)sb.st_size,
		    (unsigned long long)info.me_last_pgno + 1, ms.ms_psize,
		    (unsigned long long)need);
		return (-1);
	}
	return (0);
}

void
store_db_close(struct store_db *db)
{
	if (db == NULL)
		return;
	if (db->env != NULL)
		mdb_env_close(db->env);
	pthread_rwlock_destroy(&db->maplock);
	free(db);
}

void
store_db_set_map_max(struct store_db *db, uint64_t map_max)
{
	__atomic_store_n(&db->map_max, map_max, __ATOMIC_RELAXED);
}

uint64_t
store_db_writes(struct store_db *db)
{
	return (__atomic_load_n(&db->writes, __ATOMIC_RELAXED));
}

int
store_db_grow(struct store_db *db)
{
	MDB_envinfo	info;
	uint64_t	size, max;
	int		rc;

	pthread_rwlock_wrlock(&db->maplock);
	max = __atomic_load_n(&db->map_max, __ATOMIC_RELAXED);
	mdb_env_info(db->env, &info);
	if (info.me_mapsize >= max) {
		pthread_rwlock_unlock(&db->maplock);
		return (-1);
	}
	size = (uint64_t)info.me_mapsize * 2;
	if (size > max)
		size = max;
	rc = mdb_env_set_mapsize(db->env, size);
	pthread_rwlock_unlock(&db->maplock);
	if (rc != 0) {
		log_err("store: grow map to %llu bytes: %s",
		    (unsigned long long)size, mdb_strerror(rc));
		return (-1);
	}
	log_notice("store: map grown to %llu bytes", (unsigned long long)size);
	return (0);
}

void
store_db_info(struct store_db *db, struct store_db_info *out)
{
	MDB_envinfo	info;
	MDB_stat	ms;

	memset(&info, 0, sizeof(info));
	memset(&ms, 0, sizeof(ms));
	mdb_env_info(db->env, &info);
	mdb_env_stat(db->env, &ms);
	out->map_size = info.me_mapsize;
	out->map_used = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
	out->map_max = __atomic_load_n(&db->map_max, __ATOMIC_RELAXED);
	out->readers = info.me_numreaders;
}

/* Map full: the message that names the limit; can it still grow? */
static bool
db_full(struct store_db *db, char *buf, size_t len)
{
	MDB_envinfo	info;
	size_t		cur = 0;
	uint64_t	max = __atomic_load_n(&db->map_max, __ATOMIC_RELAXED);

	if (mdb_env_info(db->env, &info) == 0)
		cur = info.me_mapsize;
	snprintf(buf, len, "store full: map size %zu bytes reached "
	    "(map_max %llu)", cur, (unsigned long long)max);
	return (cur < max);
}

int
store_db_fail(struct store_db_txn *t, int rc, const char *what)
{
	if (t->ret != 0)
		return (-1);
	t->ret = rc;
	if (rc == MDB_MAP_FULL)
		t->grow = db_full(t->db, t->errstr, sizeof(t->errstr));
	else
		snprintf(t->errstr, sizeof(t->errstr), "%s: %s", what,
		    mdb_strerror(rc));
	return (-1);
}

int
store_db_failf(struct store_db_txn *t, const char *fmt, ...)
{
	va_list	ap;

	if (t->ret != 0)
		return (-1);
	t->ret = MDB_CORRUPTED;
	va_start(ap, fmt);
	vsnprintf(t->errstr, sizeof(t->errstr), fmt, ap);
	va_end(ap);
	return (-1);
}

int
store_db_begin(struct store_db *db, struct store_db_txn *t, bool write)
{
	int	rc, tries, dead;

	memset(t, 0, sizeof(*t));
	t->db = db;
	t->write = write;
	for (tries = 0;; tries++) {
		pthread_rwlock_rdlock(&db->maplock);
		rc = mdb_txn_begin(db->env, NULL, write ? 0 : MDB_RDONLY,
		    &t->txn);
		if (rc == 0)
			return (0);
		pthread_rwlock_unlock(&db->maplock);
		if (tries > 2)
			break;
		if (rc == MDB_MAP_RESIZED) {
			pthread_rwlock_wrlock(&db->maplock);
			mdb_env_set_mapsize(db->env, 0);
			pthread_rwlock_unlock(&db->maplock);
		} else if (rc == MDB_READERS_FULL) {
			dead = 0;
			mdb_reader_check(db->env, &dead);
			log_warn("store: reader table full; cleared %d stale "
			    "slots", dead);
		} else
			break;
	}
	t->txn = NULL;
	t->ret = rc;
	snprintf(t->errstr, sizeof(t->errstr), "begin transaction: %s",
	    mdb_strerror(rc));
	return (-1);
}

int
store_db_commit(struct store_db_txn *t)
{
	struct store_db	*db = t->db;
	MDB_envinfo	 info;
	char		 msg[128];
	size_t		 txnid;
	int		 rc;

	if (t->ret != 0 || t->txn == NULL) {
		store_db_abort(t);
		return (-1);
	}
	txnid = t->write ? mdb_txn_id(t->txn) : 0;
	rc = mdb_txn_commit(t->txn);
	t->txn = NULL;
	/* LMDB writes nothing (and keeps its txnid) for a clean txn. */
	if (rc == 0 && t->write && mdb_env_info(db->env, &info) == 0 &&
	    info.me_last_txnid == txnid)
		__atomic_add_fetch(&db->writes, 1, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&db->maplock);
	if (rc == 0)
		return (0);
	t->ret = rc;
	if (rc == MDB_MAP_FULL) {
		t->grow = db_full(db, msg, sizeof(msg));
		snprintf(t->errstr, sizeof(t->errstr), "commit: %s", msg);
	} else
		snprintf(t->errstr, sizeof(t->errstr), "commit: %s",
		    mdb_strerror(rc));
	return (-1);
}

void
store_db_abort(struct store_db_txn *t)
{
	if (t->txn == NULL)
		return;
	mdb_txn_abort(t->txn);
	t->txn = NULL;
	if (!t->child)
		pthread_rwlock_unlock(&t->db->maplock);
}

int
store_db_child(struct store_db_txn *parent, struct store_db_txn *child)
{
	int	rc;

	memset(child, 0, sizeof(*child));
	child->db = parent->db;
	child->write = true;
	child->child = true;
	if (parent->ret != 0)
		return (-1);
	if ((rc = mdb_txn_begin(parent->db->env, parent->txn, 0,
	    &child->txn)) != 0) {
		child->txn = NULL;
		return (store_db_fail(parent, rc, "begin nested transaction"));
	}
	return (0);
}

int
store_db_child_end(struct store_db_txn *child)
{
	int	rc;

	if (child->ret != 0) {
		store_db_abort(child);
		return (child->ret);
	}
	rc = mdb_txn_commit(child->txn);
	child->txn = NULL;
	if (rc != 0)
		store_db_fail(child, rc, "commit nested transaction");
	return (rc);
}

int
store_db_dbi(struct store_db_txn *t, const char *name, unsigned flags,
    MDB_dbi *dbi)
{
	char	what[64];
	int	rc;

	if (t->ret != 0)
		return (-1);
	rc = mdb_dbi_open(t->txn, name, flags, dbi);
	if (rc == MDB_NOTFOUND)
		return (1);
	if (rc != 0) {
		snprintf(what, sizeof(what), "open database %s", name);
		return (store_db_fail(t, rc, what));
	}
	return (0);
}

int
store_db_get(struct store_db_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v,
    const char *what)
{
	int	rc;

	if (t->ret != 0)
		return (-1);
	rc = mdb_get(t->txn, dbi, k, v);
	if (rc == MDB_NOTFOUND)
		return (1);
	if (rc != 0)
		return (store_db_fail(t, rc, what));
	return (0);
}

/* mdb_put; refusable: MDB_KEYEXIST is an answer (1), not an error. */
static int
db_put(struct store_db_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v,
    unsigned flags, const char *what, bool refusable)
{
	int	rc;

	if (t->ret != 0)
		return (-1);
	if (!t->write) {
		t->ret = EACCES;
		snprintf(t->errstr, sizeof(t->errstr), "%s: read-only", what);
		return (-1);
	}
	if ((rc = mdb_put(t->txn, dbi, k, v, flags)) == MDB_KEYEXIST &&
	    refusable)
		return (1);
	if (rc != 0)
		return (store_db_fail(t, rc, what));
	return (0);
}

int
store_db_put(struct store_db_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v,
    unsigned flags, const char *what)
{
	return (db_put(t, dbi, k, v, flags, what, false));
}

int
store_db_try_put(struct store_db_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v,
    unsigned flags, const char *what)
{
	return (db_put(t, dbi, k, v, flags, what, true));
}

int
store_db_del(struct store_db_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v,
    const char *what)
{
	int	rc;

	if (t->ret != 0)
		return (-1);
	rc = mdb_del(t->txn, dbi, k, v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (store_db_fail(t, rc, what));
	return (0);
}

uint64_t
store_db_entries(struct store_db_txn *t, MDB_dbi dbi)
{
	MDB_stat	ms;

	if (t->ret != 0 || mdb_stat(t->txn, dbi, &ms) != 0)
		return (0);
	return (ms.ms_entries);
}

MDB_cursor *
store_db_cursor(struct store_db_txn *t, MDB_dbi dbi)
{
	MDB_cursor	*c;
	int		 rc;

	if (t->ret != 0)
		return (NULL);
	if ((rc = mdb_cursor_open(t->txn, dbi, &c)) != 0) {
		store_db_fail(t, rc, "cursor");
		return (NULL);
	}
	return (c);
}

int
store_db_cursor_end(struct store_db_txn *t, MDB_cursor *c, int rc,
    const char *what)
{
	if (c != NULL)
		mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (store_db_fail(t, rc, what));
	return (0);
}
