/*
 * store.c: the store's open and close (store.h): the state directory's
 * checks and lock, the environment (store_db.h), the named databases and
 * the schema, the conversion of older layouts, the recent tier's rebuild;
 * and the figures for stats. The layout is in store.h and store_int.h;
 * each concern has its file (store_int.h lists them).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "log.h"
#include "memtier.h"
#include "store.h"
#include "store_aux.h"
#include "store_convert.h"
#include "store_int.h"
#include "util.h"

/* A named database the store cannot do without. */
static int
setup_dbi(struct store_db_txn *x, const char *name, unsigned flags,
    MDB_dbi *dbi)
{
	char	what[64];
	int	rc;

	if ((rc = store_db_dbi(x, name, flags | (x->write ? MDB_CREATE : 0),
	    dbi)) == 1) {
		snprintf(what, sizeof(what), "open database %s", name);
		return (store_db_fail(x, MDB_NOTFOUND, what));
	}
	return (rc);
}

/*
 * The recent tier's flush marks. A store without them (new, or written
 * before the tier existed) has everything in LMDB: mark every range as
 * flushed up to the last event.
 */
static int
flush_marks_load(struct store *st, struct store_db_txn *x)
{
	char		name[16], what[32];
	uint8_t		buf[8];
	MDB_val		k, v;
	unsigned	r;
	int		rc;

	for (r = 0; r < MT_RANGES; r++) {
		store_tier_mark_name(name, sizeof(name), r);
		snprintf(what, sizeof(what), "read %s", name);
		k = store_db_val(name, strlen(name));
		if ((rc = store_db_get(x, st->meta, &k, &v, what)) < 0)
			return (-1);
		if (rc == 0 && v.mv_size == 8) {
			st->flushed[r] = be_get(v.mv_data, 8);
			if (st->flushed[r] > st->last_seq)
				return (store_db_failf(x, "flush mark %u is "
				    "past the last event: the store is corrupt",
				    r));
			continue;
		}
		st->flushed[r] = st->last_seq;
		if (st->readonly)
			continue;
		snprintf(what, sizeof(what), "write %s", name);
		be_put(buf, st->last_seq, 8);
		v = store_db_val(buf, 8);
		if (store_db_put(x, st->meta, &k, &v, 0, what) != 0)
			return (-1);
	}
	return (0);
}

/* Read the schema record: 0 (*schema; 0 none yet, a new store), -1. */
static int
schema_check(struct store *st, struct store_db_txn *x, uint32_t *schema)
{
	MDB_val	 k = store_db_val("schema", 6), v;
	uint8_t	 buf[4];
	int	 rc;

	*schema = 0;
	if ((rc = store_db_get(x, st->meta, &k, &v, "read schema")) < 0)
		return (-1);
	if (rc == 1 && st->readonly)
		return (store_db_fail(x, MDB_NOTFOUND, "read schema"));
	if (rc == 0) {
		const uint8_t *p = v.mv_data;

		if (v.mv_size != 4)
			return (store_db_failf(x, "schema record is corrupt"));
		*schema = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
		if (*schema > STORE_SCHEMA)
			return (store_db_failf(x, "store schema %u is newer "
			    "than this refguard understands (%u): upgrade "
			    "refguard, or use a fresh state directory",
			    *schema, STORE_SCHEMA));
	}
	/* New, or written from now on in this schema: older ones refuse. */
	if (*schema < STORE_SCHEMA && !st->readonly) {
		buf[0] = 0; buf[1] = 0; buf[2] = 0; buf[3] = STORE_SCHEMA;
		v = store_db_val(buf, 4);
		return (store_db_put(x, st->meta, &k, &v, 0, "write schema"));
	}
	return (0);
}

/* Open the named databases and check (or write) the schema version. */
static int
store_setup(struct store *st, char **cause)
{
	struct store_db_txn	 x;
	MDB_cursor		*c;
	MDB_val			 k, v;
	MDB_dbi			 old;
	uint8_t			 buf8[8];
	uint64_t		 first = 0, floor;	/* the oldest event's seq */
	uint32_t		 schema;
	int			 rc;

	if (store_db_begin(st->db, &x, !st->readonly) != 0) {
		xasprintf(cause, "%s", x.errstr);
		return (-1);
	}
	/* Schema 3's and 4's index: converted by the first writable open. */
	if (st->readonly && (store_db_dbi(&x, "index", 0, &old) == 0 ||
	    store_db_dbi(&x, "links", 0, &old) == 0 ||
	    store_db_dbi(&x, "ident_index", 0, &old) == 0 ||
	    store_db_dbi(&x, "acct_links", 0, &old) == 0)) {
		store_db_abort(&x);
		xasprintf(cause, "its identity index is in an older layout "
		    "(store schema 3 or 4): start refguardd on it once to "
		    "convert it");
		return (-1);
	}
	setup_dbi(&x, "events", 0, &st->events);
	setup_dbi(&x, "identities", MDB_DUPSORT | MDB_DUPFIXED, &st->index);
	setup_dbi(&x, "account_links", MDB_DUPSORT | MDB_DUPFIXED,
	    &st->links);
	setup_dbi(&x, "verdicts", 0, &st->verdicts);
	setup_dbi(&x, "meta", 0, &st->meta);
	store_aux_open(&x, &st->aux);
	/*
	 * Schema 2 keeps verdict records by seq, appended, and a small id ->
	 * seq index; schema 1 kept them by id. A schema 1 store still reads
	 * its old records; new ones go to the new pair.
	 */
	st->have_vids = store_db_dbi(&x, "verdict_ids",
	    st->readonly ? 0 : MDB_CREATE, &st->vids) != 1;
	if (st->have_vids)
		setup_dbi(&x, "verdict_recs", 0, &st->vrecs);
	st->legacy = store_db_entries(&x, st->verdicts) > 0;
	if (x.ret != 0 || schema_check(st, &x, &schema) != 0)
		goto fail;

	if ((c = store_db_cursor(&x, st->events)) == NULL)
		goto fail;
	if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
		st->last_seq = be_get(k.mv_data, 8);
	if (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0 && k.mv_size == 8)
		first = be_get(k.mv_data, 8);
	store_db_cursor_end(&x, c, 0, "events");
	/* Retention may have deleted every event (store_expire.c). */
	k = store_db_val("seq_floor", 9);
	if (store_db_get(&x, st->meta, &k, &v, "read seq_floor") == 0 &&
	    v.mv_size == 8 && be_get(v.mv_data, 8) > st->last_seq)
		st->last_seq = be_get(v.mv_data, 8);
	/*
	 * Where the sweep stands. A store that has no record yet was
	 * written before retention left anything to a sweep (schema 8 and
	 * older): nothing is left below its first event.
	 */
	if (!st->readonly && (rc = store_sweep_load(&x, st->meta,
	    &st->sweep)) >= 0) {
		/*
		 * None, or one past the floor (another store's, damage): the
		 * sweep must never take what counts. Begin from the floor.
		 */
		floor = first != 0 ? first : st->last_seq + 1;
		if (rc == 2 || (rc == 0 && (st->sweep.swept > floor ||
		    (st->sweep.on && st->sweep.cycle > floor)))) {
			log_warn("store: the sweep's record in meta is damaged "
			    "or past the oldest event (seq %llu): sweeping "
			    "from there", (unsigned long long)floor);
			rc = 1;
		}
		if (rc == 1) {
			memset(&st->sweep, 0, sizeof(st->sweep));
			st->sweep.swept = floor;
			store_sweep_save(&x, st->meta, &st->sweep);
		}
		st->pub_sweeping = st->sweep.on;
	}
	/* A store written before IDX_REFEREE existed has it from now on. */
	k = store_db_val("referee_index_from", 18);
	if (store_db_get(&x, st->meta, &k, &v,
	    "read referee_index_from") == 0 && v.mv_size == 8)
		st->referee_from = be_get(v.mv_data, 8);
	else {
		st->referee_from = st->last_seq + 1;
		be_put(buf8, st->referee_from, 8);
		v = store_db_val(buf8, 8);
		if (!st->readonly)
			store_db_put(&x, st->meta, &k, &v, 0,
			    "write referee_index_from");
	}
	if (store_pairs_load(st, &x) != 0 || flush_marks_load(st, &x) != 0)
		goto fail;
	if (store_db_commit(&x) == 0)
		return (0);
fail:
	store_db_abort(&x);
	xasprintf(cause, "%s", x.errstr);
	return (-1);
}

/*
 * Anyone who can write to the state directory can replace the store or
 * its lock: refuse one that group or others can write to, as PostgreSQL
 * refuses a data directory that is not its own alone.
 */
static int
store_check_dir(const char *dir, char **cause)
{
	struct stat	sb;

	if (stat(dir, &sb) != 0) {
		xasprintf(cause, "state directory %s: %s", dir, strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(sb.st_mode)) {
		xasprintf(cause, "state directory %s is not a directory", dir);
		return (-1);
	}
	if ((sb.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		xasprintf(cause, "state directory %s is writable by group or "
		    "others (mode %04o): whoever can write there can replace "
		    "the store; chmod go-w %s", dir,
		    (unsigned)(sb.st_mode & 07777), dir);
		return (-1);
	}
	return (0);
}

/* The name of process pid (/proc/PID/comm), or "a process". */
static void
proc_name(long pid, char *buf, size_t len)
{
	char	 path[64];
	FILE	*f;

	snprintf(buf, len, "a process");
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if (pid <= 0 || (f = fopen(path, "re")) == NULL)
		return;
	if (fgets(buf, (int)len, f) == NULL)
		snprintf(buf, len, "a process");
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/*
 * One writer per state directory: a second refguardd (or an import
 * beside the daemon) would write with its own idea of the last seq and
 * fail every write. A write lock (fcntl) on STORE_LOCK_FILE, which then
 * holds our pid. fcntl locks belong to a process and are not inherited by
 * fork(): the process that serves takes it (refguardd detaches first).
 */
static int
store_lock(struct store *st, const char *dir, char **cause)
{
	struct flock	 fl;
	char		*path, name[64];
	int		 fd;

	xasprintf(&path, "%s/%s", dir, STORE_LOCK_FILE);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		xasprintf(cause, "lock file %s: %s", path, strerror(errno));
		free(path);
		return (-1);
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) != 0) {
		if (errno != EAGAIN && errno != EACCES)
			xasprintf(cause, "lock file %s: %s", path,
			    strerror(errno));
		else {
			memset(&fl, 0, sizeof(fl));
			fl.l_type = F_WRLCK;
			fl.l_whence = SEEK_SET;
			if (fcntl(fd, F_GETLK, &fl) != 0 ||
			    fl.l_type == F_UNLCK)
				fl.l_pid = 0;
			proc_name((long)fl.l_pid, name, sizeof(name));
			xasprintf(cause, "the state directory %s is in use by "
			    "%s (pid %ld), which holds %s: one refguardd, or "
			    "refguardctl import, at a time", dir, name,
			    (long)fl.l_pid, path);
		}
		close(fd);
		free(path);
		return (-1);
	}
	/* A pid file: our pid while we hold it, empty after a clean exit. */
	if (ftruncate(fd, 0) != 0 || dprintf(fd, "%ld\n", (long)getpid()) < 0)
		log_warn("store: cannot write the pid file=%s error=\"%s\"",
		    path, strerror(errno));
	free(path);
	st->lockfd = fd;
	return (0);
}

static void
store_unlock(struct store *st)
{
	if (st->lockfd < 0)
		return;
	/* Failing leaves a stale pid only: the lock is what counts. */
	(void)!ftruncate(st->lockfd, 0);
	close(st->lockfd);	/* drops the lock */
	st->lockfd = -1;
}

/* Read-only, an empty data.mdb is no store (LMDB would initialize it). */
static int
store_check_empty(const char *dir, char **cause)
{
	struct stat	 sb;
	char		*path;
	int		 rc = 0;

	xasprintf(&path, "%s/data.mdb", dir);
	if (stat(path, &sb) == 0 && sb.st_size == 0) {
		xasprintf(cause, "%s is empty (0 bytes): no store here, or it "
		    "was emptied", path);
		rc = -1;
	}
	free(path);
	return (rc);
}

struct store *
store_open(const struct store_opts *opts, char **cause)
{
	struct store		*st = xcalloc(1, sizeof(*st));
	struct store_db_opts	 o;
	char			*inner;

	static uint64_t		 stores;

	st->readonly = opts->readonly;
	st->lockfd = -1;
	/* Epochs of two stores never meet: 2^32 aborts apart. */
	st->epoch = __atomic_add_fetch(&stores, 1, __ATOMIC_RELAXED) << 32;
	memset(&o, 0, sizeof(o));
	o.dir = opts->dir;
	o.map_size = opts->map_size;
	o.map_max = opts->map_max ? opts->map_max : opts->map_size;
	o.maxdbs = 10 + STORE_AUX_NDBI;
	o.maxreaders = 254;
	o.nosync = opts->nosync;
	o.readonly = opts->readonly;

	if (store_check_dir(opts->dir, cause) != 0)
		goto fail;
	if (opts->readonly ? store_check_empty(opts->dir, cause) != 0 :
	    store_lock(st, opts->dir, cause) != 0)
		goto fail;
	if ((st->db = store_db_open(&o, cause)) == NULL)
		goto fail;
	if (store_db_check_size(st->db, cause) != 0 ||
	    store_setup(st, cause) != 0 || (!st->readonly &&
	    (store_convert_index(st->db, st->index, cause) < 0 ||
	    store_convert_links(st->db, st->links, cause) < 0))) {
		inner = *cause;
		xasprintf(cause, "store %s: %s", opts->dir, inner);
		free(inner);
		goto fail;
	}
	st->mt = memtier_new();
	st->recent_max = opts->recent_max ? opts->recent_max :
	    STORE_RECENT_MAX_DEFAULT;
	/* Read-only: built by the first transaction (store_tier_sync()). */
	if (!st->readonly && store_tier_rebuild(st, cause) != 0) {
		inner = *cause;
		xasprintf(cause, "store %s: rebuild the recent index: %s",
		    opts->dir, inner);
		free(inner);
		goto fail;
	}
	return (st);
fail:
	memtier_free(st->mt);
	store_aux_free(st->aux);
	store_db_close(st->db);
	store_unlock(st);
	free(st);
	return (NULL);
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	store_tier_flush_all(st);
	memtier_free(st->mt);
	store_aux_free(st->aux);
	store_db_close(st->db);
	store_unlock(st);
	free(st);
}

bool
store_readonly(const struct store *st)
{
	return (st->readonly);
}

void
store_set_map_max(struct store *st, uint64_t map_max)
{
	store_db_set_map_max(st->db, map_max);
}

int
store_grow(struct store *st)
{
	return (store_db_grow(st->db));
}

int
store_stat(struct store *st, struct store_stat *out, char **cause)
{
	struct store_db_txn	x;
	struct store_db_info	info;

	memset(out, 0, sizeof(*out));
	if (store_db_begin(st->db, &x, false) != 0) {
		xasprintf(cause, "stat: %s", mdb_strerror(x.ret));
		return (-1);
	}
	out->events = store_db_entries(&x, st->events);
	out->index_entries = store_db_entries(&x, st->index);
	out->links = store_db_entries(&x, st->links);
	out->verdicts = store_db_entries(&x, st->verdicts);
	if (st->have_vids)	/* one record each; ids wait for the sweep */
		out->verdicts += store_db_entries(&x, st->vrecs);
	store_aux_stat(&x, st->aux, out);
	store_db_info(st->db, &info);
	store_db_abort(&x);
	out->map_size = info.map_size;
	out->map_used = info.map_used;
	out->map_max = info.map_max;
	out->last_seq = __atomic_load_n(&st->last_seq, __ATOMIC_ACQUIRE);
	out->readers = info.readers;
	if (__atomic_load_n(&st->pub_valid, __ATOMIC_ACQUIRE)) {
		out->index_entries = __atomic_load_n(&st->pub_index,
		    __ATOMIC_RELAXED);
		out->links = __atomic_load_n(&st->pub_links, __ATOMIC_RELAXED);
	} else {
		out->index_entries += memtier_index_count(st->mt);
		out->links += memtier_link_count(st->mt);
	}
	out->recent_entries = memtier_index_count(st->mt);
	out->recent_links = memtier_link_count(st->mt);
	out->recent_bytes = memtier_bytes(st->mt);
	out->recent_flushes = __atomic_load_n(&st->flushes, __ATOMIC_RELAXED);
	out->recent_flush_waits = __atomic_load_n(&st->flush_txn_full,
	    __ATOMIC_RELAXED);
	out->pairs_indexed = __atomic_load_n(&st->npairs_committed,
	    __ATOMIC_RELAXED);
	out->index_swept = __atomic_load_n(&st->pub_swept, __ATOMIC_RELAXED);
	out->index_sweeping = __atomic_load_n(&st->pub_sweeping,
	    __ATOMIC_RELAXED);
	return (0);
}
