/*
 * store.c: the LMDB store; the layout and contract are in store.h.
 *
 * All LMDB calls go through this file. A transaction keeps its first
 * error; MDB_MAP_FULL becomes STORE_MAP_GROW (the caller aborts, grows,
 * retries) or STORE_FULL at map_max; MDB_READERS_FULL runs
 * mdb_reader_check() and retries once; MDB_MAP_RESIZED (another process
 * grew the map) adopts the new size.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
#include "rec.h"
#include "sbuf.h"
#include "util.h"
#include "verdict_rec.h"
#include "store_vrec.h"

/*
 * Keys and values (rec.h fields; times as ts_key(), so that they sort):
 *   events: seq(8) -> the event record (rgev.h)
 *   ident_index (schema 4; MDB_DUPSORT | MDB_DUPFIXED): kind(1) hash(16)
 *     -> one sorted duplicate per entry: ts(8) seq(8) type(1) roles(1);
 *     an identity's key is stored once, its entries packed 18 bytes
 *     each. Schema 3's "index" (kind hash ts seq -> type roles, one node
 *     per entry) is converted at the first writable open (store_convert.h).
 *   acct_links (schema 4; MDB_DUPSORT | MDB_DUPFIXED): account(16) ->
 *     one sorted duplicate per link: kind(1) hash(16) first_ts(8)
 *     first_seq(8) last_ts(8); schema 3's "links" (account kind hash ->
 *     first_ts first_seq last_ts) is converted like the index.
 *   verdict_ids: referral id -> seq(8); verdict_recs: seq(8) -> the
 *     verdict record (verdict_rec.h)
 */
#define INDEX_KEY_LEN	(1 + RG_HASH_LEN)
#define INDEX_VAL_LEN	(8 + 8 + 1 + 1)
#define LINK_KEY_LEN	(RG_HASH_LEN + 1 + RG_HASH_LEN)	/* a link's place */
#define LINK_VAL_LEN	24
#define LINK_ID_LEN	(1 + RG_HASH_LEN)	/* kind, hash: a dup's head */
#define LINK_DUP_LEN	(LINK_ID_LEN + LINK_VAL_LEN)
/* A link's last_ts is rewritten only when it moves by this much. */
#define LINK_TOUCH_MS	(3600 * 1000LL)
/* The recent tier: default budget, and how often each range is flushed. */
#define RECENT_MAX_DEFAULT	(1u << 20)
#define FLUSH_INTERVAL_US	(30 * 1000000ULL)
/*
 * Over budget, a commit writes out twice what it added, and at least
 * this share of the budget (two ranges' worth). Not more: each flushed
 * range dirties its own pages, which LMDB holds in malloc'd buffers until
 * the commit, so bounded flushes keep the daemon's memory small.
 */
#define FLUSH_MIN_SHARE		128
/* LMDB refuses a transaction that dirties 128Ki pages (MDB_TXN_FULL). */
#define FLUSH_MAX_ENTRIES	65536
/*
 * An index-only kind: the referee account of each referral, so that "who
 * referred this account" (store_scan_referred) reads that account's few
 * referee entries, not every referral a busy referrer made.
 */
#define IDX_REFEREE		0x80

struct store {
	MDB_env			*env;
	MDB_dbi			 events;
	MDB_dbi			 index;		/* "ident_index" */
	MDB_dbi			 links;		/* "acct_links" */
	MDB_dbi			 vids;		/* id -> seq */
	MDB_dbi			 vrecs;		/* seq -> verdict record */
	MDB_dbi			 verdicts;	/* schema 1: id -> record */
	MDB_dbi			 meta;
	bool			 readonly;
	bool			 have_vids;	/* false: read-only schema 1 */
	uint64_t		 referee_from;	/* first seq with IDX_REFEREE */
	bool			 legacy;	/* "verdicts" holds records */
	uint64_t		 map_max;
	/*
	 * Held shared by every transaction, exclusively by a map resize:
	 * LMDB allows mdb_env_set_mapsize() only with no transaction open
	 * in this process.
	 */
	pthread_rwlock_t	 maplock;
	uint64_t		 last_seq;	/* committed; writer only */
	uint8_t			 link_cursor[LINK_KEY_LEN];	/* retention resume */
	bool			 link_cursor_set;

	/* The recent tier (memtier.h); writer only, counts from any thread. */
	struct memtier		*mt;
	uint64_t		 recent_max;	/* entries + links */
	uint64_t		 flushed[MT_RANGES];	/* meta "flush:<r>" */
	uint64_t		 flush_due[MT_RANGES];	/* mono_us() */
	unsigned		 rot;		/* next range to flush */
	uint64_t		 flushes;	/* ranges flushed (stats) */
	uint64_t		 flushed_entries;
	/*
	 * Index entries and links, LMDB's and the tier's together, as of
	 * the last write commit: published by the writer, because a flush
	 * moves entries from the tier to LMDB inside a transaction, and a
	 * reader adding the two counts while one is open would miss them.
	 */
	uint64_t		 pub_index, pub_links;
	bool			 pub_valid;
	/*
	 * Replaying events into the tier (recent_replay()): range r's
	 * entries of the events up to derived[r] are in LMDB or the tier.
	 * A read-only store keeps a tier of its own in step with the
	 * writer's (recent_sync()), one transaction at a time.
	 */
	uint64_t		 derived[MT_RANGES];
	bool			 ro_synced;	/* its tier was built once */
	bool			 ro_busy;	/* a transaction is open */
	struct store_aux	*aux;		/* store_aux.c's databases */
	uint64_t		 writes;	/* commits that wrote (atomic) */
	int			 lockfd;	/* STORE_LOCK_FILE, or -1 */
};

struct store_txn {
	struct store	*st;
	MDB_txn		*txn;
	bool		 write;
	enum store_err	 err;
	char		 errstr[160];
	uint64_t	 next_seq;
	/* Ranges flushed by this transaction, with their marks. */
	bool		 fl[MT_RANGES];
	uint64_t	 fl_mark[MT_RANGES];
	size_t		 nfl;
	uint64_t	 memtier_begin;	/* tier size when the txn began */
	/* Verdict records unpacked by store_get_verdict(), until the end. */
	void		**recs;
	size_t		 nrecs;
};

/* Time in keys: offset so that negative times still sort first. */
static uint64_t
ts_key(int64_t ts)
{
	return ((uint64_t)ts ^ (1ULL << 63));
}

static int64_t
ts_unkey(uint64_t v)
{
	return ((int64_t)(v ^ (1ULL << 63)));
}

/* Map full: can it still grow, and the message that names the limit. */
static enum store_err
store_full_err(struct store *st, char *buf, size_t len)
{
	MDB_envinfo	info;
	size_t		cur = 0;
	uint64_t	max = __atomic_load_n(&st->map_max, __ATOMIC_RELAXED);

	if (mdb_env_info(st->env, &info) == 0)
		cur = info.me_mapsize;
	snprintf(buf, len, "store full: map size %zu bytes reached "
	    "(map_max %llu)", cur, (unsigned long long)max);
	return (cur < max ? STORE_MAP_GROW : STORE_FULL);
}

/* Record the first error of a transaction; later ones are dropped. */
static int
txn_fail(struct store_txn *t, int rc, const char *what)
{
	if (t->err != STORE_OK)
		return (-1);
	if (rc == MDB_MAP_FULL)
		t->err = store_full_err(t->st, t->errstr, sizeof(t->errstr));
	else {
		t->err = STORE_IO;
		snprintf(t->errstr, sizeof(t->errstr), "%s: %s", what,
		    mdb_strerror(rc));
	}
	return (-1);
}

static MDB_val
val(const void *p, size_t n)
{
	MDB_val	v = { n, (void *)p };

	return (v);
}

static int
store_dbi_flags(struct store *st, MDB_txn *txn, const char *name,
    unsigned flags, MDB_dbi *dbi, char **cause)
{
	int	rc;

	rc = mdb_dbi_open(txn, name, flags | (st->readonly ? 0 : MDB_CREATE),
	    dbi);
	if (rc != 0) {
		xasprintf(cause, "open database %s: %s", name, mdb_strerror(rc));
		return (-1);
	}
	return (0);
}

static void
flush_mark_name(char *buf, size_t len, unsigned r)
{
	snprintf(buf, len, "flush:%02x", r);
}

static int
store_dbi(struct store *st, MDB_txn *txn, const char *name, MDB_dbi *dbi,
    char **cause)
{
	return (store_dbi_flags(st, txn, name, 0, dbi, cause));
}

/*
 * The recent tier's flush marks. A store without them (new, or written
 * before the tier existed) has everything in LMDB: mark every range as
 * flushed up to the last event.
 */
static int
flush_marks_load(struct store *st, MDB_txn *txn, char **cause)
{
	char		name[16];
	uint8_t		buf[8];
	MDB_val		k, v;
	unsigned	r;
	int		rc;

	for (r = 0; r < MT_RANGES; r++) {
		flush_mark_name(name, sizeof(name), r);
		k = val(name, strlen(name));
		rc = mdb_get(txn, st->meta, &k, &v);
		if (rc == 0 && v.mv_size == 8) {
			st->flushed[r] = be_get(v.mv_data, 8);
			if (st->flushed[r] > st->last_seq) {
				xasprintf(cause, "flush mark %u is past the "
				    "last event: the store is corrupt", r);
				return (-1);
			}
			continue;
		}
		if (rc != 0 && rc != MDB_NOTFOUND) {
			xasprintf(cause, "read %s: %s", name, mdb_strerror(rc));
			return (-1);
		}
		st->flushed[r] = st->last_seq;
		if (st->readonly)
			continue;
		be_put(buf, st->last_seq, 8);
		v = val(buf, 8);
		if ((rc = mdb_put(txn, st->meta, &k, &v, 0)) != 0) {
			xasprintf(cause, "write %s: %s", name, mdb_strerror(rc));
			return (-1);
		}
	}
	return (0);
}

/* Open the named databases and check (or write) the schema version. */
static int
store_setup(struct store *st, char **cause)
{
	MDB_txn		*txn;
	MDB_val		 k = val("schema", 6), v;
	MDB_cursor	*c;
	MDB_stat	 ms;
	uint8_t		 buf[4], buf8[8];
	uint32_t	 schema;
	int		 rc;

	rc = mdb_txn_begin(st->env, NULL, st->readonly ? MDB_RDONLY : 0, &txn);
	if (rc != 0) {
		xasprintf(cause, "begin: %s", mdb_strerror(rc));
		return (-1);
	}
	/* Schema 3's index: converted by the first writable open. */
	if (st->readonly && (mdb_dbi_open(txn, "index", 0, &st->index) == 0 ||
	    mdb_dbi_open(txn, "links", 0, &st->links) == 0)) {
		xasprintf(cause, "its identity index is in an older layout "
		    "(store schema 3): start refguardd on it once to convert it");
		goto fail;
	}
	if (store_dbi(st, txn, "events", &st->events, cause) ||
	    store_dbi_flags(st, txn, "ident_index", MDB_DUPSORT | MDB_DUPFIXED,
	    &st->index, cause) ||
	    store_dbi_flags(st, txn, "acct_links", MDB_DUPSORT | MDB_DUPFIXED,
	    &st->links, cause) ||
	    store_dbi(st, txn, "verdicts", &st->verdicts, cause) ||
	    store_dbi(st, txn, "meta", &st->meta, cause) ||
	    store_aux_open(txn, st->readonly, &st->aux, cause))
		goto fail;
	/*
	 * Schema 2 keeps verdict records by seq, appended, and a small id ->
	 * seq index; schema 1 kept them by id. A schema 1 store still reads
	 * its old records; new ones go to the new pair.
	 */
	st->have_vids = true;
	if (st->readonly && mdb_dbi_open(txn, "verdict_ids", 0,
	    &st->vids) == MDB_NOTFOUND)
		st->have_vids = false;
	else if (store_dbi(st, txn, "verdict_ids", &st->vids, cause) ||
	    store_dbi(st, txn, "verdict_recs", &st->vrecs, cause))
		goto fail;
	if ((rc = mdb_stat(txn, st->verdicts, &ms)) != 0) {
		xasprintf(cause, "stat verdicts: %s", mdb_strerror(rc));
		goto fail;
	}
	st->legacy = ms.ms_entries > 0;

	rc = mdb_get(txn, st->meta, &k, &v);
	schema = 0;			/* none yet: a new store */
	if (rc == MDB_NOTFOUND && !st->readonly)
		;
	else if (rc != 0) {
		xasprintf(cause, "read schema: %s", mdb_strerror(rc));
		goto fail;
	} else {
		const uint8_t *p = v.mv_data;

		if (v.mv_size != 4) {
			xasprintf(cause, "schema record is corrupt");
			goto fail;
		}
		schema = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
		if (schema > STORE_SCHEMA) {
			xasprintf(cause, "store schema %u is newer than this "
			    "refguard understands (%u): upgrade refguard, or "
			    "use a fresh state directory", schema, STORE_SCHEMA);
			goto fail;
		}
	}
	/* New, or written from now on in this schema: older ones refuse. */
	if (schema < STORE_SCHEMA && !st->readonly) {
		buf[0] = 0; buf[1] = 0; buf[2] = 0; buf[3] = STORE_SCHEMA;
		v = val(buf, 4);
		if ((rc = mdb_put(txn, st->meta, &k, &v, 0)) != 0) {
			xasprintf(cause, "write schema: %s", mdb_strerror(rc));
			goto fail;
		}
	}

	if ((rc = mdb_cursor_open(txn, st->events, &c)) != 0) {
		xasprintf(cause, "cursor: %s", mdb_strerror(rc));
		goto fail;
	}
	if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
		st->last_seq = be_get(k.mv_data, 8);
	mdb_cursor_close(c);
	/* Retention may have deleted every event (expire_event()). */
	k = val("seq_floor", 9);
	if (mdb_get(txn, st->meta, &k, &v) == 0 && v.mv_size == 8 &&
	    be_get(v.mv_data, 8) > st->last_seq)
		st->last_seq = be_get(v.mv_data, 8);
	/* A store written before IDX_REFEREE existed has it from now on. */
	k = val("referee_index_from", 18);
	if (mdb_get(txn, st->meta, &k, &v) == 0 && v.mv_size == 8)
		st->referee_from = be_get(v.mv_data, 8);
	else {
		st->referee_from = st->last_seq + 1;
		be_put(buf8, st->referee_from, 8);
		v = val(buf8, 8);
		if (!st->readonly &&
		    (rc = mdb_put(txn, st->meta, &k, &v, 0)) != 0) {
			xasprintf(cause, "write referee_index_from: %s",
			    mdb_strerror(rc));
			goto fail;
		}
	}
	if (flush_marks_load(st, txn, cause) != 0)
		goto fail;

	if ((rc = mdb_txn_commit(txn)) != 0) {
		xasprintf(cause, "commit: %s", mdb_strerror(rc));
		return (-1);
	}
	return (0);
fail:
	mdb_txn_abort(txn);
	return (-1);
}

static int	recent_rebuild(struct store *, char **);
static int	recent_sync(struct store_txn *, char **);

/* Index entries and links held in the recent tier. */
static uint64_t
recent_size(const struct store *st)
{
	return (memtier_index_count(st->mt) + memtier_link_count(st->mt));
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

/*
 * data.mdb must hold every page that LMDB's meta says is in use: in a
 * shorter file (a bad copy, a full disk, a slip of the hand) the first
 * read of a missing page is a SIGBUS. Checked after mdb_env_open(), which
 * reads the meta pages with read(2), and before any transaction touches
 * the map. The meta first: the file only grows while another process
 * commits.
 */
static int
store_check_size(struct store *st, char **cause)
{
	MDB_envinfo	info;
	MDB_stat	ms;
	struct stat	sb;
	uint64_t	need;
	int		fd, rc;

	if ((rc = mdb_env_info(st->env, &info)) != 0 ||
	    (rc = mdb_env_stat(st->env, &ms)) != 0 ||
	    (rc = mdb_env_get_fd(st->env, &fd)) != 0) {
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
	struct store	*st = xcalloc(1, sizeof(*st));
	unsigned	 flags = MDB_NOTLS | MDB_NORDAHEAD;
	int		 rc;

	st->readonly = opts->readonly;
	st->map_max = opts->map_max ? opts->map_max : opts->map_size;
	st->lockfd = -1;
	pthread_rwlock_init(&st->maplock, NULL);
	if (opts->nosync)
		flags |= MDB_NOSYNC;
	if (opts->readonly)
		flags |= MDB_RDONLY;

	if (store_check_dir(opts->dir, cause) != 0)
		goto fail;
	if (opts->readonly ? store_check_empty(opts->dir, cause) != 0 :
	    store_lock(st, opts->dir, cause) != 0)
		goto fail;
	if ((rc = mdb_env_create(&st->env)) != 0) {
		xasprintf(cause, "mdb_env_create: %s", mdb_strerror(rc));
		goto fail;
	}
	mdb_env_set_maxdbs(st->env, 10 + STORE_AUX_NDBI);
	mdb_env_set_maxreaders(st->env, 254);
	if (!opts->readonly &&
	    (rc = mdb_env_set_mapsize(st->env, opts->map_size)) != 0) {
		xasprintf(cause, "map size %zu: %s", opts->map_size,
		    mdb_strerror(rc));
		goto fail;
	}
	if ((rc = mdb_env_open(st->env, opts->dir, flags, 0600)) != 0) {
		xasprintf(cause, "open store in %s: %s", opts->dir,
		    mdb_strerror(rc));
		goto fail;
	}
	if (store_check_size(st, cause) != 0) {
		char *inner = *cause;

		xasprintf(cause, "store %s: %s", opts->dir, inner);
		free(inner);
		goto fail;
	}
	if (!opts->readonly) {
		int	dead = 0;

		/* Reader slots left behind by a killed process. */
		mdb_reader_check(st->env, &dead);
		if (dead > 0)
			log_info("store: cleared %d stale reader slots", dead);
	}
	if (store_setup(st, cause) != 0 || (!st->readonly &&
	    (store_convert_index(st->env, st->index, cause) < 0 ||
	    store_convert_links(st->env, st->links, cause) < 0))) {
		char *inner = *cause;

		xasprintf(cause, "store %s: %s", opts->dir, inner);
		free(inner);
		goto fail;
	}
	st->mt = memtier_new();
	st->recent_max = opts->recent_max ? opts->recent_max :
	    RECENT_MAX_DEFAULT;
	/* Read-only: built by the first transaction (recent_sync()). */
	if (!st->readonly && recent_rebuild(st, cause) != 0) {
		char *inner = *cause;

		xasprintf(cause, "store %s: rebuild the recent index: %s",
		    opts->dir, inner);
		free(inner);
		goto fail;
	}
	return (st);
fail:
	memtier_free(st->mt);
	store_aux_free(st->aux);
	if (st->env != NULL)
		mdb_env_close(st->env);
	store_unlock(st);
	pthread_rwlock_destroy(&st->maplock);
	free(st);
	return (NULL);
}

static int	flush_range(struct store_txn *, unsigned);

/*
 * Write the whole recent tier to LMDB: at a clean close, so that the
 * next open has nothing to rebuild. Failure only costs that rebuild.
 */
static void
recent_flush_all(struct store *st)
{
	struct store_txn	*t;
	char			*cause = NULL;
	unsigned		 r, i;
	enum store_err		 err;

	if (st->readonly || recent_size(st) == 0)
		return;
	/* Sixteen ranges a transaction, so that none dirties too much. */
	for (r = 0; r < MT_RANGES;) {
		if ((t = store_begin(st, true, &cause)) == NULL)
			break;
		for (i = r; i < r + 16 && t->err == STORE_OK; i++)
			flush_range(t, i);
		if (store_commit(t, &err, &cause) == 0) {
			r += 16;
			continue;
		}
		if (err != STORE_MAP_GROW || store_grow(st) != 0)
			break;
		free(cause);
		cause = NULL;
	}
	if (r >= MT_RANGES)
		return;
	log_warn("store: the recent index stays to be rebuilt at the next "
	    "start error=%s", cause != NULL ? cause : "unknown");
	free(cause);
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	recent_flush_all(st);
	memtier_free(st->mt);
	store_aux_free(st->aux);
	mdb_env_close(st->env);
	store_unlock(st);
	pthread_rwlock_destroy(&st->maplock);
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
	__atomic_store_n(&st->map_max, map_max, __ATOMIC_RELAXED);
}

int
store_grow(struct store *st)
{
	MDB_envinfo	info;
	uint64_t	size;
	int		rc;

	pthread_rwlock_wrlock(&st->maplock);
	mdb_env_info(st->env, &info);
	if (info.me_mapsize >= __atomic_load_n(&st->map_max, __ATOMIC_RELAXED)) {
		pthread_rwlock_unlock(&st->maplock);
		return (-1);
	}
	size = (uint64_t)info.me_mapsize * 2;
	if (size > __atomic_load_n(&st->map_max, __ATOMIC_RELAXED))
		size = __atomic_load_n(&st->map_max, __ATOMIC_RELAXED);
	rc = mdb_env_set_mapsize(st->env, size);
	pthread_rwlock_unlock(&st->maplock);
	if (rc != 0) {
		log_err("store: grow map to %llu bytes: %s",
		    (unsigned long long)size, mdb_strerror(rc));
		return (-1);
	}
	log_notice("store: map grown to %llu bytes", (unsigned long long)size);
	return (0);
}

struct store_txn *
store_begin(struct store *st, bool write, char **cause)
{
	struct store_txn	*t;
	MDB_txn			*txn;
	int			 rc, tries;

	for (tries = 0;; tries++) {
		pthread_rwlock_rdlock(&st->maplock);
		rc = mdb_txn_begin(st->env, NULL, write ? 0 : MDB_RDONLY, &txn);
		if (rc == 0)
			break;
		pthread_rwlock_unlock(&st->maplock);
		if (tries > 2)
			break;
		if (rc == MDB_MAP_RESIZED) {
			pthread_rwlock_wrlock(&st->maplock);
			mdb_env_set_mapsize(st->env, 0);
			pthread_rwlock_unlock(&st->maplock);
		} else if (rc == MDB_READERS_FULL) {
			int	dead = 0;

			mdb_reader_check(st->env, &dead);
			log_warn("store: reader table full; cleared %d stale "
			    "slots", dead);
		} else
			break;
	}
	if (rc != 0) {
		xasprintf(cause, "begin transaction: %s", mdb_strerror(rc));
		return (NULL);
	}
	if (st->readonly && st->ro_busy) {
		mdb_txn_abort(txn);
		pthread_rwlock_unlock(&st->maplock);
		xasprintf(cause, "begin transaction: a read-only store has "
		    "one transaction at a time");
		return (NULL);
	}
	t = xcalloc(1, sizeof(*t));
	t->st = st;
	t->txn = txn;
	t->write = write;
	t->next_seq = st->last_seq;
	if (write)
		t->memtier_begin = recent_size(st);
	if (st->readonly) {
		st->ro_busy = true;
		if (recent_sync(t, cause) != 0) {
			store_abort(t);
			return (NULL);
		}
		t->next_seq = st->last_seq;
	}
	return (t);
}

static void	recent_flush(struct store_txn *);
static void	txn_free(struct store_txn *);

int
store_commit(struct store_txn *t, enum store_err *err, char **cause)
{
	struct store	*st = t->st;
	MDB_envinfo	 info;
	MDB_stat	 ms;
	uint64_t	 nindex = 0, nlinks = 0;
	char		 msg[160];
	size_t		 txnid;
	unsigned	 r;
	int		 rc;

	if (t->write && t->err == STORE_OK)
		recent_flush(t);
	if (err != NULL)
		*err = t->err;
	if (t->err != STORE_OK) {
		xasprintf(cause, "%s", t->errstr);
		store_abort(t);
		return (-1);
	}
	txnid = t->write ? mdb_txn_id(t->txn) : 0;
	if (t->write) {
		/* This transaction's counts, its flushes included. */
		nindex = mdb_stat(t->txn, st->index, &ms) == 0 ?
		    ms.ms_entries : 0;
		nlinks = mdb_stat(t->txn, st->links, &ms) == 0 ?
		    ms.ms_entries : 0;
	}
	rc = mdb_txn_commit(t->txn);
	/* LMDB writes nothing (and keeps its txnid) for a clean txn. */
	if (rc == 0 && t->write && mdb_env_info(st->env, &info) == 0 &&
	    info.me_last_txnid == txnid)
		__atomic_add_fetch(&st->writes, 1, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&st->maplock);
	if (st->readonly)
		st->ro_busy = false;
	if (t->write) {
		if (rc == 0) {
			__atomic_store_n(&st->last_seq, t->next_seq,
			    __ATOMIC_RELEASE);
			for (r = 0; r < MT_RANGES && t->nfl > 0; r++)
				if (t->fl[r])
					st->flushed[r] = t->fl_mark[r];
			memtier_commit(st->mt);
			__atomic_store_n(&st->pub_index, nindex +
			    memtier_index_count(st->mt), __ATOMIC_RELAXED);
			__atomic_store_n(&st->pub_links, nlinks +
			    memtier_link_count(st->mt), __ATOMIC_RELAXED);
			__atomic_store_n(&st->pub_valid, true,
			    __ATOMIC_RELEASE);
		} else
			memtier_abort(st->mt);
	}
	txn_free(t);
	if (rc == MDB_MAP_FULL) {
		enum store_err e = store_full_err(st, msg, sizeof(msg));

		if (err != NULL)
			*err = e;
		xasprintf(cause, "commit: %s", msg);
		return (-1);
	}
	if (rc != 0) {
		if (err != NULL)
			*err = STORE_IO;
		xasprintf(cause, "commit: %s", mdb_strerror(rc));
		return (-1);
	}
	return (0);
}

uint64_t
store_writes(struct store *st)
{
	return (__atomic_load_n(&st->writes, __ATOMIC_RELAXED));
}

void
store_abort(struct store_txn *t)
{
	if (t == NULL)
		return;
	if (t->write)
		memtier_abort(t->st->mt);
	mdb_txn_abort(t->txn);
	pthread_rwlock_unlock(&t->st->maplock);
	if (t->st->readonly)
		t->st->ro_busy = false;
	txn_free(t);
}

enum store_err
store_txn_err(const struct store_txn *t)
{
	return (t->err);
}

const char *
store_txn_errstr(const struct store_txn *t)
{
	return (t->err == STORE_OK ? "no error" : t->errstr);
}

static int
txn_put(struct store_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v,
    unsigned flags, const char *what)
{
	int	rc;

	if (t->err != STORE_OK)
		return (-1);
	if (!t->write) {
		t->err = STORE_IO;
		snprintf(t->errstr, sizeof(t->errstr), "%s: read-only", what);
		return (-1);
	}
	if ((rc = mdb_put(t->txn, dbi, k, v, flags)) != 0)
		return (txn_fail(t, rc, what));
	return (0);
}

/*
 * mdb_put with MDB_NOOVERWRITE or MDB_APPEND: 0 put, 1 refused (the key
 * is there, or not past the last: MDB_KEYEXIST, nothing recorded; with
 * MDB_NOOVERWRITE *v is the stored value), -1 error.
 */
static int
txn_try_put(struct store_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v,
    unsigned flags, const char *what)
{
	int	rc;

	if (t->err != STORE_OK || !t->write)
		return (txn_put(t, dbi, k, v, flags, what));	/* says why */
	if ((rc = mdb_put(t->txn, dbi, k, v, flags)) == MDB_KEYEXIST)
		return (1);
	if (rc != 0)
		return (txn_fail(t, rc, what));
	return (0);
}

/* 0 found, 1 not found, -1 error. */
static int
txn_get(struct store_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v,
    const char *what)
{
	int	rc;

	if (t->err != STORE_OK)
		return (-1);
	rc = mdb_get(t->txn, dbi, k, v);
	if (rc == MDB_NOTFOUND)
		return (1);
	if (rc != 0)
		return (txn_fail(t, rc, what));
	return (0);
}

/* Delete k's duplicate v (v NULL: k and all its duplicates). */
static int
txn_del_dup(struct store_txn *t, MDB_dbi dbi, MDB_val *k, MDB_val *v,
    const char *what)
{
	int	rc;

	if (t->err != STORE_OK)
		return (-1);
	rc = mdb_del(t->txn, dbi, k, v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (txn_fail(t, rc, what));
	return (0);
}

static int
txn_del(struct store_txn *t, MDB_dbi dbi, MDB_val *k, const char *what)
{
	return (txn_del_dup(t, dbi, k, NULL, what));
}

static MDB_cursor *
txn_cursor(struct store_txn *t, MDB_dbi dbi)
{
	MDB_cursor	*c;
	int		 rc;

	if (t->err != STORE_OK)
		return (NULL);
	if ((rc = mdb_cursor_open(t->txn, dbi, &c)) != 0) {
		txn_fail(t, rc, "cursor");
		return (NULL);
	}
	return (c);
}

/* An identity's index key, and one of its entries (a duplicate). */
static void
index_key(uint8_t *key, unsigned kind, const struct rg_hash *h)
{
	struct rec_w	w;

	rec_w_fixed(&w, key, INDEX_KEY_LEN);
	rec_put_u8(&w, (uint8_t)kind);
	rec_put_bytes(&w, h->b, RG_HASH_LEN);
}

static void
index_val(uint8_t *val, int64_t ts, uint64_t seq, uint8_t type,
    uint8_t roles)
{
	struct rec_w	w;

	rec_w_fixed(&w, val, INDEX_VAL_LEN);
	rec_put_u64(&w, ts_key(ts));
	rec_put_u64(&w, seq);
	rec_put_u8(&w, type);
	rec_put_u8(&w, roles);
}

/* One identity of an event, with the roles it plays in it. */
struct ent {
	uint8_t			 kind;
	uint8_t			 roles;
	const struct rg_hash	*h;
};

/*
 * Every identity an event carries, the same one in two roles merged;
 * campaign holds the campaign's key (rgev_campaign_key()).
 */
static size_t
event_ents(const struct rg_event *ev, struct ent *out, struct rg_hash *campaign)
{
	size_t		n = 0, i, j;
	unsigned	k;
	uint8_t		role;

	for (i = 0; i < ev->nparties; i++) {
		const struct party *p = &ev->party[i];

		if (ev->type != EV_REFERRAL)
			role = ROLE_SUBJECT;
		else
			role = i == PARTY_REFERRER ? ROLE_REFERRER : ROLE_REFEREE;
		for (k = 1; k < ENT__MAX; k++) {
			if (!PARTY_HAS(p, k))
				continue;
			for (j = 0; j < n; j++)
				if (out[j].kind == k &&
				    memcmp(out[j].h->b, p->h[k].b,
				    RG_HASH_LEN) == 0)
					break;
			if (j < n) {
				out[j].roles |= role;
				continue;
			}
			out[n].kind = (uint8_t)k;
			out[n].roles = role;
			out[n].h = &p->h[k];
			n++;
		}
	}
	if (ev->has_edge) {
		out[n].kind = ENT_EDGE;
		out[n].roles = ROLE_EVENT;
		out[n].h = &ev->edge;
		n++;
	}
	if (rgev_campaign_key(ev, campaign)) {
		out[n].kind = ENT_CAMPAIGN;
		out[n].roles = ROLE_EVENT;
		out[n].h = campaign;
		n++;
	}
	/* The referee's account again, under a kind of its own. */
	if (ev->type == EV_REFERRAL && ev->nparties > PARTY_REFEREE &&
	    PARTY_HAS(&ev->party[PARTY_REFEREE], ENT_ACCOUNT)) {
		out[n].kind = IDX_REFEREE;
		out[n].roles = ROLE_REFEREE;
		out[n].h = &ev->party[PARTY_REFEREE].h[ENT_ACCOUNT];
		n++;
	}
	return (n);
}
#define EVENT_ENTS_MAX	(RG_NPARTIES * ENT__MAX + 3)

/* A link from its duplicate (the caller checked the length). */
static void
link_decode(const MDB_val *v, struct store_link *l)
{
	struct rec_r	r;

	rec_r_init(&r, v->mv_data, v->mv_size);
	l->kind = rec_get_u8(&r);
	rec_get_bytes(&r, l->h.b, RG_HASH_LEN);
	l->first_ts = ts_unkey(rec_get_u64(&r));
	l->first_seq = rec_get_u64(&r);
	l->last_ts = ts_unkey(rec_get_u64(&r));
}

/* A link's place: account, kind, hash (its key, then its dup's head). */
static void
link_key(uint8_t *key, const struct rg_hash *account, unsigned kind,
    const struct rg_hash *h)
{
	struct rec_w	w;

	rec_w_fixed(&w, key, LINK_KEY_LEN);
	rec_put_bytes(&w, account->b, RG_HASH_LEN);
	rec_put_u8(&w, (uint8_t)kind);
	rec_put_bytes(&w, h->b, RG_HASH_LEN);
}

static void
link_encode(uint8_t *dup, const struct store_link *l)
{
	struct rec_w	w;

	rec_w_fixed(&w, dup, LINK_DUP_LEN);
	rec_put_u8(&w, l->kind);
	rec_put_bytes(&w, l->h.b, RG_HASH_LEN);
	rec_put_u64(&w, ts_key(l->first_ts));
	rec_put_u64(&w, l->first_seq);
	rec_put_u64(&w, ts_key(l->last_ts));
}

/*
 * Put c on the first link at or after place key (link_key()), in any
 * account from key's on: 0 (*k, *v the link), or an LMDB error
 * (MDB_NOTFOUND: none).
 */
static int
link_seek(MDB_cursor *c, const uint8_t *key, MDB_val *k, MDB_val *v)
{
	uint8_t	dup[LINK_DUP_LEN];
	int	rc;

	memset(dup, 0, sizeof(dup));
	memcpy(dup, key + RG_HASH_LEN, LINK_ID_LEN);
	*k = val(key, RG_HASH_LEN);
	*v = val(dup, sizeof(dup));
	rc = mdb_cursor_get(c, k, v, MDB_GET_BOTH_RANGE);
	if (rc != MDB_NOTFOUND)
		return (rc);
	/* None at or after it in that account: the next account's first. */
	*k = val(key, RG_HASH_LEN);
	rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
	if (rc == 0 && k->mv_size == RG_HASH_LEN &&
	    memcmp(k->mv_data, key, RG_HASH_LEN) == 0)
		rc = mdb_cursor_get(c, k, v, MDB_NEXT_NODUP);
	return (rc);
}

/*
 * LMDB's link at place key: 0 (*l), 1 none, -1 error. With put, the
 * cursor stays on it for an MDB_CURRENT replace.
 */
static int
link_lookup(struct store_txn *t, MDB_cursor *c, const uint8_t *key,
    struct store_link *l)
{
	MDB_val	k, v;
	int	rc;

	rc = link_seek(c, key, &k, &v);
	if (rc == MDB_NOTFOUND)
		return (1);
	if (rc != 0)
		return (txn_fail(t, rc, "links get"));
	if (k.mv_size != RG_HASH_LEN || v.mv_size != LINK_DUP_LEN ||
	    memcmp(k.mv_data, key, RG_HASH_LEN) != 0 ||
	    memcmp(v.mv_data, key + RG_HASH_LEN, LINK_ID_LEN) != 0)
		return (1);
	link_decode(&v, l);
	return (0);
}

/* The same with a cursor of its own. */
static int
link_get(struct store_txn *t, const uint8_t *key, struct store_link *l)
{
	MDB_cursor	*c;
	int		 rc;

	if ((c = txn_cursor(t, t->st->links)) == NULL)
		return (-1);
	rc = link_lookup(t, c, key, l);
	mdb_cursor_close(c);
	return (rc);
}

/*
 * Record that the party's account carries each of its other identities,
 * in the recent tier. The newest state of a link is the tier's when it
 * has one, else LMDB's. A link's last_ts moves only by LINK_TOUCH_MS or
 * more.
 */
static int
put_links(struct store_txn *t, const struct rg_event *ev, const struct party *p)
{
	const struct rg_hash	*acct = &p->h[ENT_ACCOUNT];
	const struct store_link	*ml;
	struct store_link	 l;
	uint8_t			 key[LINK_KEY_LEN];
	unsigned		 kind;
	int			 rc;

	if (!PARTY_HAS(p, ENT_ACCOUNT))
		return (0);
	for (kind = 1; kind < ENT__MAX; kind++) {
		if (kind == ENT_ACCOUNT || !PARTY_HAS(p, kind))
			continue;
		if ((ml = memtier_link_get(t->st->mt, acct, kind, &p->h[kind]))
		    != NULL)
			l = *ml;
		else {
			link_key(key, acct, kind, &p->h[kind]);
			rc = link_get(t, key, &l);
			if (rc < 0)
				return (-1);
			if (rc == 1) {
				l.kind = kind;
				l.h = p->h[kind];
				l.first_ts = ev->ts;
				l.first_seq = ev->seq;
				l.last_ts = ev->ts;
				memtier_link_set(t->st->mt, acct, &l);
				continue;
			}
		}
		if (ev->ts < l.last_ts + LINK_TOUCH_MS)
			continue;
		l.last_ts = ev->ts;
		memtier_link_set(t->st->mt, acct, &l);
	}
	return (0);
}

/*
 * An event's index entries and links, into the recent tier. When
 * replaying events (have: st->derived), the ranges that have the event
 * already (in LMDB or the tier) are skipped.
 */
static int
derive_event(struct store_txn *t, const struct rg_event *ev, const uint64_t *have)
{
	struct store	*st = t->st;
	struct ent	 ents[EVENT_ENTS_MAX];
	struct rg_hash	 campaign;
	const struct party *p;
	size_t		 n, i;

	n = event_ents(ev, ents, &campaign);
	for (i = 0; i < n; i++) {
		if (have != NULL && ev->seq <= have[MT_RANGE(ents[i].h)])
			continue;
		memtier_index_add(st->mt, ents[i].kind, ents[i].h, ev->ts, ev->seq,
		    ev->type, ents[i].roles);
	}
	for (i = 0; i < ev->nparties; i++) {
		p = &ev->party[i];
		if (have != NULL && PARTY_HAS(p, ENT_ACCOUNT) &&
		    ev->seq <= have[MT_RANGE(&p->h[ENT_ACCOUNT])])
			continue;
		if (put_links(t, ev, p) != 0)
			return (-1);
	}
	return (0);
}

int
store_put_event(struct store_txn *t, struct rg_event *ev)
{
	uint8_t		rec[EVENT_REC_MAX], seqkey[8];
	MDB_val		k, v;
	size_t		len;

	if (t->err != STORE_OK)
		return (-1);
	ev->seq = t->next_seq + 1;
	len = rgev_encode(ev, rec);
	be_put(seqkey, ev->seq, 8);
	k = val(seqkey, 8);
	v = val(rec, len);
	if (txn_put(t, t->st->events, &k, &v, MDB_APPEND, "events put") != 0)
		return (-1);
	if (derive_event(t, ev, NULL) != 0)
		return (-1);
	t->next_seq = ev->seq;
	return (0);
}

/*
 * Put identity key's entries e[n] (seq order) as duplicates through cur.
 * Those past its last stored entry (all of them, unless events came with
 * earlier times) are appended (MDB_APPENDDUP): full pages instead of the
 * half-full ones that in-order inserts leave after each split. 0, or an
 * LMDB error.
 */
static int
index_put_ident(MDB_cursor *cur, const uint8_t *key,
    const struct memtier_ent *e, uint32_t n)
{
	uint8_t		 last[INDEX_VAL_LEN], d[INDEX_VAL_LEN];
	MDB_val		 k = val(key, INDEX_KEY_LEN), v;
	uint32_t	 j;
	bool		 have = false;
	int		 rc;

	rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
	if (rc == 0 && (rc = mdb_cursor_get(cur, &k, &v, MDB_LAST_DUP)) == 0 &&
	    v.mv_size == INDEX_VAL_LEN) {
		memcpy(last, v.mv_data, INDEX_VAL_LEN);
		have = true;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (rc);
	for (j = 0; j < n; j++) {
		index_val(d, e[j].ts, e[j].seq, e[j].type, e[j].roles);
		k = val(key, INDEX_KEY_LEN);
		v = val(d, INDEX_VAL_LEN);
		if (!have || memcmp(d, last, INDEX_VAL_LEN) > 0) {
			rc = mdb_cursor_put(cur, &k, &v, MDB_APPENDDUP);
			memcpy(last, d, INDEX_VAL_LEN);
			have = true;
		} else
			rc = mdb_cursor_put(cur, &k, &v, 0);
		if (rc != 0)
			return (rc);
	}
	return (0);
}

/*
 * Put link l of account through cur: a new duplicate, or in place of
 * the link's older state (the same kind and hash sort it to the same
 * place). 0, or an LMDB error.
 */
static int
link_put(MDB_cursor *cur, const struct rg_hash *account,
    const struct store_link *l)
{
	uint8_t	key[LINK_KEY_LEN], dup[LINK_DUP_LEN];
	MDB_val	k, v;
	int	rc;

	link_key(key, account, l->kind, &l->h);
	rc = link_seek(cur, key, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (rc);
	link_encode(dup, l);
	if (rc == 0 && k.mv_size == RG_HASH_LEN && v.mv_size == LINK_DUP_LEN &&
	    memcmp(k.mv_data, key, RG_HASH_LEN) == 0 &&
	    memcmp(v.mv_data, key + RG_HASH_LEN, LINK_ID_LEN) == 0) {
		k = val(key, RG_HASH_LEN);
		v = val(dup, sizeof(dup));
		return (mdb_cursor_put(cur, &k, &v, MDB_CURRENT));
	}
	k = val(key, RG_HASH_LEN);
	v = val(dup, sizeof(dup));
	return (mdb_cursor_put(cur, &k, &v, 0));
}

/*
 * Write range r of the recent tier to LMDB, with its flush mark, in a
 * nested transaction: when the map is full at map_max the batch itself is
 * still committed and the range waits. 0, or -1 (not flushed).
 */
static int
flush_range(struct store_txn *t, unsigned r)
{
	struct store		*st = t->st;
	struct memtier_ident		**ids;
	struct memtier_acct		**accts;
	uint8_t			 key[INDEX_KEY_LEN];
	uint8_t			 mark[8];
	char			 name[16];
	size_t			 ni, na, i, n = 0;
	uint32_t		 j;
	MDB_txn			*c;
	MDB_cursor		*cur;
	MDB_val			 k, v;
	int			 rc;

	if (t->fl[r])
		return (-1);		/* once per transaction */
	if ((rc = mdb_txn_begin(st->env, t->txn, 0, &c)) != 0)
		return (txn_fail(t, rc, "flush begin"));
	memtier_range(st->mt, r, &ids, &ni, &accts, &na);
	if ((rc = mdb_cursor_open(c, st->index, &cur)) != 0) {
		mdb_txn_abort(c);
		return (txn_fail(t, rc, "flush cursor"));
	}
	for (i = 0; i < ni && rc == 0; i++) {
		index_key(key, ids[i]->kind, &ids[i]->h);
		rc = index_put_ident(cur, key, ids[i]->e, ids[i]->n);
		n += ids[i]->n;
	}
	mdb_cursor_close(cur);
	if (rc == 0 && (rc = mdb_cursor_open(c, st->links, &cur)) == 0) {
		for (i = 0; i < na && rc == 0; i++)
			for (j = 0; j < accts[i]->n && rc == 0; j++)
				rc = link_put(cur, &accts[i]->account,
				    &accts[i]->l[j]);
		mdb_cursor_close(cur);
	}
	if (rc == 0) {
		flush_mark_name(name, sizeof(name), r);
		be_put(mark, t->next_seq, 8);
		k = val(name, strlen(name));
		v = val(mark, 8);
		rc = mdb_put(c, st->meta, &k, &v, 0);
	}
	if (rc == 0)
		rc = mdb_txn_commit(c);
	else
		mdb_txn_abort(c);
	if (rc == MDB_MAP_FULL) {
		char	msg[160];

		if (store_full_err(st, msg, sizeof(msg)) == STORE_MAP_GROW)
			return (txn_fail(t, rc, "index flush"));
		return (-1);		/* at map_max: keep the batch */
	}
	if (rc != 0)
		return (txn_fail(t, rc, "index flush"));
	memtier_range_flushed(st->mt, r);
	t->fl[r] = true;
	t->fl_mark[r] = t->next_seq;
	t->nfl++;
	__atomic_fetch_add(&st->flushes, 1, __ATOMIC_RELAXED);
	st->flushed_entries += n;
	return (0);
}

/*
 * Flush what is due, at the end of a write transaction: ranges in turn
 * while the tier is over its budget (at least twice what this
 * transaction added, so that it shrinks back), and any range not flushed
 * for FLUSH_INTERVAL_US (so the replay after a crash stays short).
 */
static void
recent_flush(struct store_txn *t)
{
	struct store	*st = t->st;
	uint64_t	 now = mono_us(), size, added, goal, flushed = 0;
	unsigned	 r;
	size_t		 n;
	bool		 over;

	size = recent_size(st);
	added = size > t->memtier_begin ? size - t->memtier_begin : 0;
	goal = 2 * added;
	if (goal < st->recent_max / FLUSH_MIN_SHARE)
		goal = st->recent_max / FLUSH_MIN_SHARE;
	if (goal > FLUSH_MAX_ENTRIES)
		goal = FLUSH_MAX_ENTRIES;
	for (n = 0; n < MT_RANGES && t->err == STORE_OK; n++) {
		r = st->rot;
		size = recent_size(st);
		over = size > st->recent_max && flushed < goal;
		if (!over && now < st->flush_due[r])
			break;
		if (!t->fl[r] && flush_range(t, r) != 0)
			break;
		flushed += size - recent_size(st);
		st->flush_due[r] = now + FLUSH_INTERVAL_US;
		st->rot = (r + 1) % MT_RANGES;
	}
}

static int
replay_cb(void *arg, const struct rg_event *ev)
{
	struct store_txn	*t = arg;

	return (derive_event(t, ev, t->st->derived) != 0);
}

/*
 * Replay the events up to last into the tier, in t: each range r takes
 * the entries of the events after st->derived[r]. Then every range is
 * derived up to last. 0, or -1 (the cause in t).
 */
static int
recent_replay(struct store_txn *t, uint64_t last)
{
	struct store	*st = t->st;
	uint64_t	 from = UINT64_MAX;
	unsigned	 r;
	int		 rc = 0;

	for (r = 0; r < MT_RANGES; r++)
		if (st->derived[r] < from)
			from = st->derived[r];
	if (from < last)
		rc = store_scan_events(t, from + 1, last, replay_cb, t);
	memtier_commit(st->mt);
	for (r = 0; rc == 0 && r < MT_RANGES; r++)
		if (st->derived[r] < last)
			st->derived[r] = last;
	return (rc);
}

/*
 * Rebuild the recent tier from the events past the oldest flush mark:
 * what was in memory when the last process ended.
 */
static int
recent_rebuild(struct store *st, char **cause)
{
	struct store_txn	*t;
	uint64_t		 from = UINT64_MAX, now = mono_us();
	unsigned		 r;
	int			 rc;

	for (r = 0; r < MT_RANGES; r++) {
		st->derived[r] = st->flushed[r];
		if (st->flushed[r] < from)
			from = st->flushed[r];
		/* Staggered, so that ranges come due one at a time. */
		st->flush_due[r] = now + FLUSH_INTERVAL_US * (r + 1) /
		    MT_RANGES;
	}
	if (from >= st->last_seq)
		return (0);
	if ((t = store_begin(st, false, cause)) == NULL)
		return (-1);
	rc = recent_replay(t, st->last_seq);
	if (rc != 0)
		xasprintf(cause, "%s", store_txn_errstr(t));
	store_abort(t);
	if (rc == 0)
		log_info("store: recent index rebuilt from %llu events",
		    (unsigned long long)(st->last_seq - from));
	return (rc);
}

/*
 * A read-only store, at the start of each transaction: bring its own tier
 * in step with what the writer (the daemon, in another process) has
 * committed as of t's snapshot. The writer appends events and flushes
 * ranges of its tier to LMDB all the time; its tier is not visible here,
 * but the events and the flush marks are. A range whose mark moved has
 * in LMDB now what this tier held of it: drop it, and take its entries
 * of the events after the new mark again; every range takes those of the
 * events appended since the last call. The first call builds the tier,
 * as recent_rebuild() does at the daemon's start.
 */
static int
recent_sync(struct store_txn *t, char **cause)
{
	struct store	*st = t->st;
	MDB_cursor	*c;
	MDB_val		 k, v;
	char		 name[16];
	uint64_t	 last = 0, mark;
	unsigned	 r;
	int		 rc;

	if ((c = txn_cursor(t, st->events)) == NULL)
		goto fail;
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	if (rc == 0 && k.mv_size == 8)
		last = be_get(k.mv_data, 8);
	else if (rc != 0 && rc != MDB_NOTFOUND) {
		txn_fail(t, rc, "events last");
		goto fail;
	}
	for (r = 0; r < MT_RANGES; r++) {
		flush_mark_name(name, sizeof(name), r);
		k = val(name, strlen(name));
		if ((rc = txn_get(t, st->meta, &k, &v, "flush mark")) < 0)
			goto fail;
		/* None: a store from before the tier, all in LMDB. */
		mark = rc == 0 && v.mv_size == 8 ? be_get(v.mv_data, 8) : last;
		if (st->ro_synced && mark == st->flushed[r])
			continue;
		memtier_range_flushed(st->mt, r);
		st->flushed[r] = mark;
		st->derived[r] = mark;
	}
	st->ro_synced = true;
	if (recent_replay(t, last) != 0)
		goto fail;
	if (last > st->last_seq)
		st->last_seq = last;
	return (0);
fail:
	/* Empty the tier: the next transaction builds it again. */
	memtier_commit(st->mt);
	for (r = 0; r < MT_RANGES; r++)
		memtier_range_flushed(st->mt, r);
	memtier_commit(st->mt);
	st->ro_synced = false;
	xasprintf(cause, "bring the recent index up to date: %s",
	    store_txn_errstr(t));
	return (-1);
}

int
store_get_event(struct store_txn *t, uint64_t seq, struct rg_event *ev)
{
	uint8_t	key[8];
	MDB_val	k, v;
	int	rc;

	be_put(key, seq, 8);
	k = val(key, 8);
	if ((rc = txn_get(t, t->st->events, &k, &v, "events get")) != 0)
		return (rc);
	if (rgev_decode(v.mv_data, v.mv_size, ev) != 0) {
		t->err = STORE_IO;
		snprintf(t->errstr, sizeof(t->errstr),
		    "event %llu: corrupt record", (unsigned long long)seq);
		return (-1);
	}
	ev->seq = seq;
	return (0);
}

/*
 * The events from from_seq up to to_seq (0: the last), or back: from
 * from_seq (0: the last) down to to_seq.
 */
static int
scan_events(struct store_txn *t, uint64_t from_seq, uint64_t to_seq,
    bool back, store_event_cb cb, void *arg)
{
	struct rg_event	 ev;
	uint8_t		 key[8];
	MDB_cursor	*c;
	MDB_val		 k, v;
	uint64_t	 seq;
	int		 rc, ret = 0;

	if ((c = txn_cursor(t, t->st->events)) == NULL)
		return (-1);
	be_put(key, from_seq, 8);
	k = val(key, 8);
	if (!back)
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	else if (from_seq == 0 ||
	    (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)) == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	else if (rc == 0 && k.mv_size == 8 && be_get(k.mv_data, 8) > from_seq)
		rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, back ? MDB_PREV :
	    MDB_NEXT)) {
		if (k.mv_size != 8)
			continue;
		seq = be_get(k.mv_data, 8);
		if (back ? seq < to_seq : to_seq != 0 && seq > to_seq)
			break;
		if (rgev_decode(v.mv_data, v.mv_size, &ev) != 0) {
			t->err = STORE_IO;
			snprintf(t->errstr, sizeof(t->errstr),
			    "event %llu: corrupt record",
			    (unsigned long long)seq);
			ret = -1;
			break;
		}
		ev.seq = seq;
		if (cb(arg, &ev) != 0)
			break;
		if (t->err != STORE_OK) {	/* cb's queries failed */
			ret = -1;
			break;
		}
	}
	if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
		ret = txn_fail(t, rc, "events scan");
	mdb_cursor_close(c);
	return (ret);
}

int
store_scan_events(struct store_txn *t, uint64_t from_seq, uint64_t to_seq,
    store_event_cb cb, void *arg)
{
	return (scan_events(t, from_seq, to_seq, false, cb, arg));
}

int
store_scan_events_back(struct store_txn *t, uint64_t from_seq,
    uint64_t to_seq, store_event_cb cb, void *arg)
{
	return (scan_events(t, from_seq, to_seq, true, cb, arg));
}

/*
 * A verdict record starts with its version byte and its event's seq
 * (verdict.c), which keys it: records are appended in seq order and fill
 * their pages, instead of landing on a random page of a tree keyed by
 * client ids. The id -> seq index is small.
 */
/* Free what the transaction handed out, at its end. */
static void
txn_free(struct store_txn *t)
{
	size_t	i;

	for (i = 0; i < t->nrecs; i++)
		free(t->recs[i]);
	free(t->recs);
	free(t);
}

/* Put a record as the store keeps it (packed or not). */
static int
put_verdict(struct store_txn *t, const char *id, size_t idlen,
    const void *rec, size_t len)
{
	uint8_t		sk[8], old[8];
	uint64_t	seq;
	MDB_val		k = val(id, idlen), v, kk;
	int		rc;

	if (verdict_rec_seq(rec, len, &seq) != 0)
		return (txn_fail(t, EINVAL, "verdicts put: short record"));
	be_put(sk, seq, 8);
	v = val(sk, sizeof(sk));
	if ((rc = txn_try_put(t, t->st->vids, &k, &v, MDB_NOOVERWRITE,
	    "verdict ids put")) < 0)
		return (-1);
	/* The id at another seq (its old record was unreadable): move it. */
	if (rc == 1 && (v.mv_size != 8 || memcmp(v.mv_data, sk, 8) != 0)) {
		if (v.mv_size == 8) {
			memcpy(old, v.mv_data, sizeof(old));
			kk = val(old, sizeof(old));
			if (txn_del(t, t->st->vrecs, &kk,
			    "verdict records del") != 0)
				return (-1);
		}
		v = val(sk, sizeof(sk));
		if (txn_put(t, t->st->vids, &k, &v, 0, "verdict ids put") != 0)
			return (-1);
	}
	/* A new check's seq is the largest; a recheck rewrites in place. */
	kk = val(sk, sizeof(sk));
	v = val(rec, len);
	if ((rc = txn_try_put(t, t->st->vrecs, &kk, &v, MDB_APPEND,
	    "verdict records put")) < 0)
		return (-1);
	if (rc == 1 && txn_put(t, t->st->vrecs, &kk, &v, 0,
	    "verdict records put") != 0)
		return (-1);
	if (t->st->legacy)
		return (txn_del(t, t->st->verdicts, &k, "verdicts del"));
	return (0);
}

int
store_put_verdict(struct store_txn *t, const char *id, size_t idlen,
    const void *rec, size_t len)
{
	struct sbuf	packed;
	int		rc;

	if (t->err != STORE_OK)
		return (-1);
	sbuf_init(&packed, len);
	if ((rc = store_vrec_pack(t, rec, len, &packed)) == 1)
		rc = put_verdict(t, id, idlen, packed.buf, packed.len);
	else if (rc == 0)
		rc = put_verdict(t, id, idlen, rec, len);
	sbuf_free(&packed);
	return (rc);
}

int
store_get_verdict(struct store_txn *t, const char *id, size_t idlen,
    const void **rec, size_t *len)
{
	MDB_val	k = val(id, idlen), v;
	void	*plain;
	size_t	 plen;
	int	 rc = 1;

	if (t->st->have_vids &&
	    (rc = txn_get(t, t->st->vids, &k, &v, "verdict ids get")) == 0) {
		/*
		 * The id index naming no record cannot happen with a sound
		 * store; one bad id must not fail a whole batch: not found.
		 */
		if (v.mv_size != 8) {
			log_warn("store: verdict id index entry of %zu bytes",
			    v.mv_size);
			return (1);
		}
		k = val(v.mv_data, 8);
		if ((rc = txn_get(t, t->st->vrecs, &k, &v,
		    "verdict records get")) == 1)
			log_warn("store: the verdict id index names a missing "
			    "record seq=%llu", (unsigned long long)be_get(
			    k.mv_data, 8));
	} else if (rc == 1 && t->st->legacy)
		rc = txn_get(t, t->st->verdicts, &k, &v, "verdicts get");
	if (rc != 0)
		return (rc);
	*rec = v.mv_data;
	*len = v.mv_size;
	/* Packed: the record back. Else (corrupt) its reader says so. */
	if (store_vrec_packed(v.mv_data, v.mv_size) &&
	    store_vrec_unpack(t, v.mv_data, v.mv_size, &plain, &plen) == 0) {
		t->recs = xreallocarray(t->recs, t->nrecs + 1,
		    sizeof(*t->recs));
		t->recs[t->nrecs++] = plain;
		*rec = plain;
		*len = plen;
	}
	return (0);
}

/* Delete the verdict of event seq (not one a later event's id took). */
static int
del_verdict(struct store_txn *t, const char *id, size_t idlen, uint64_t seq)
{
	uint8_t		 sk[8];
	const void	*rec;
	uint64_t	 rseq;
	size_t		 len;
	MDB_val		 k = val(id, idlen), kk = val(sk, sizeof(sk));
	int		 rc;

	if ((rc = store_get_verdict(t, id, idlen, &rec, &len)) != 0)
		return (rc < 0 ? -1 : 0);
	if (verdict_rec_seq(rec, len, &rseq) != 0 || rseq != seq)
		return (0);
	be_put(sk, seq, 8);
	/* Its review queue item goes with it. */
	if (txn_del(t, t->st->vids, &k, "verdict ids del") != 0 ||
	    txn_del(t, t->st->vrecs, &kk, "verdict records del") != 0 ||
	    store_queue_del(t, seq) != 0)
		return (-1);
	if (t->st->legacy)
		return (txn_del(t, t->st->verdicts, &k, "verdicts del"));
	return (0);
}

/* Walk the index entries of (kind, h) in [from_ts, to_ts]. */
struct iwalk {
	uint32_t	type_mask;
	uint32_t	role_mask;
	uint64_t	max_seq;
};

static bool
iwalk_match(const struct iwalk *w, const MDB_val *v, struct store_entry *e)
{
	struct rec_r	r;

	if (v->mv_size != INDEX_VAL_LEN)
		return (false);
	rec_r_init(&r, v->mv_data, v->mv_size);
	e->ts = ts_unkey(rec_get_u64(&r));
	e->seq = rec_get_u64(&r);
	e->type = rec_get_u8(&r);
	e->roles = rec_get_u8(&r);
	if (w->max_seq != 0 && e->seq > w->max_seq)
		return (false);
	if (e->type >= 32 || !(w->type_mask & EV_MASK(e->type)))
		return (false);
	return ((w->role_mask & e->roles) != 0);
}

/* Does a recent tier entry pass w and [from_ts, to_ts]? Fills *out. */
static bool
recent_match(const struct memtier_ent *e, const struct iwalk *w, int64_t from_ts,
    int64_t to_ts, struct store_entry *out)
{
	if (e->ts < from_ts || e->ts > to_ts)
		return (false);
	if (w->max_seq != 0 && e->seq > w->max_seq)
		return (false);
	if (e->type >= 32 || !(w->type_mask & EV_MASK(e->type)) ||
	    !(w->role_mask & e->roles))
		return (false);
	out->ts = e->ts;
	out->seq = e->seq;
	out->type = e->type;
	out->roles = e->roles;
	return (true);
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct store_entry	*x = a, *y = b;

	if (x->ts != y->ts)
		return (x->ts < y->ts ? -1 : 1);
	if (x->seq != y->seq)
		return (x->seq < y->seq ? -1 : 1);
	return (0);
}

static int	index_walk(struct store_txn *, enum ent_kind,
		    const struct rg_hash *, const struct iwalk *, int64_t,
		    int64_t, bool, const struct store_entry *, size_t,
		    store_entry_cb, void *);

/*
 * Walk the index entries of (kind, h) in [from_ts, to_ts], in (ts, seq)
 * order: LMDB's merged with the recent tier's (the two never hold the
 * same entry).
 */
int
store_scan(struct store_txn *t, enum ent_kind kind, const struct rg_hash *h,
    uint32_t type_mask, uint32_t role_mask, int64_t from_ts, int64_t to_ts,
    uint64_t max_seq, bool newest_first, store_entry_cb cb, void *arg)
{
	struct iwalk		 w = { type_mask, role_mask, max_seq };
	const struct memtier_ident	*id;
	struct store_entry	 mbuf[32], *m = mbuf;
	size_t			 nm = 0;
	uint32_t		 i;
	int			 ret;

	if (from_ts > to_ts)
		return (0);
	if ((id = memtier_index_get(t->st->mt, kind, h)) != NULL) {
		if (id->n > nitems(mbuf))
			m = xreallocarray(NULL, id->n, sizeof(*m));
		for (i = 0; i < id->n; i++)
			if (recent_match(&id->e[i], &w, from_ts, to_ts, &m[nm]))
				nm++;
		qsort(m, nm, sizeof(*m), entry_cmp);
	}
	ret = index_walk(t, kind, h, &w, from_ts, to_ts, newest_first, m, nm,
	    cb, arg);
	if (m != mbuf)
		free(m);
	return (ret);
}

struct scan_stop {
	store_entry_cb	 cb;
	void		*arg;
	bool		 stopped;
};

static int
scan_stop_cb(void *arg, const struct store_entry *e)
{
	struct scan_stop	*s = arg;

	if (s->cb(s->arg, e) == 0)
		return (0);
	s->stopped = true;
	return (1);
}

int
store_scan_referred(struct store_txn *t, const struct rg_hash *acct,
    int64_t to_ts, uint64_t max_seq, store_entry_cb cb, void *arg)
{
	struct scan_stop	 s = { cb, arg, false };
	uint64_t		 from = t->st->referee_from;

	if (store_scan(t, IDX_REFEREE, acct, EV_MASK(EV_REFERRAL),
	    ROLE_REFEREE, INT64_MIN, to_ts, max_seq, true, scan_stop_cb,
	    &s) != 0)
		return (-1);
	if (s.stopped || from <= 1)
		return (0);
	/* Referrals stored before the kind existed: the slow way. */
	return (store_scan(t, ENT_ACCOUNT, acct, EV_MASK(EV_REFERRAL),
	    ROLE_REFEREE, INT64_MIN, to_ts, max_seq != 0 && max_seq < from ?
	    max_seq : from - 1, true, cb, arg));
}

/*
 * LMDB's entries of (kind, h) in [from_ts, to_ts] that pass w, merged in
 * (ts, seq) order with m[nm], the recent tier's, sorted.
 */
static int
index_walk(struct store_txn *t, enum ent_kind kind, const struct rg_hash *h,
    const struct iwalk *wp, int64_t from_ts, int64_t to_ts, bool newest_first,
    const struct store_entry *m, size_t nm, store_entry_cb cb, void *arg)
{
	struct iwalk		 w = *wp;
	struct store_entry	 e;
	uint8_t			 key[INDEX_KEY_LEN];
	uint8_t			 lo[INDEX_VAL_LEN], hi[INDEX_VAL_LEN];
	MDB_cursor		*c;
	MDB_val			 k, v;
	size_t			 mi = 0;
	int			 rc, ret = 0, stop = 0;

	if ((c = txn_cursor(t, t->st->index)) == NULL)
		return (-1);
	index_key(key, kind, h);
	index_val(lo, from_ts, 0, 0, 0);
	index_val(hi, to_ts, UINT64_MAX, 0xff, 0xff);
	k = val(key, sizeof(key));
	if (!newest_first) {
		v = val(lo, sizeof(lo));
		rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE);
		for (; rc == 0 && !stop;
		    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
			if (v.mv_size != INDEX_VAL_LEN ||
			    memcmp(v.mv_data, hi, INDEX_VAL_LEN) > 0)
				break;
			if (!iwalk_match(&w, &v, &e))
				continue;
			while (!stop && mi < nm && entry_cmp(&m[mi], &e) < 0)
				stop = cb(arg, &m[mi++]);
			if (!stop)
				stop = cb(arg, &e);
		}
		while (!stop && mi < nm)
			stop = cb(arg, &m[mi++]);
	} else {
		/* First entry past the range, then walk back. */
		mi = nm;
		v = val(hi, sizeof(hi));
		rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE);
		if (rc == MDB_NOTFOUND) {
			/* None past it: from the identity's last, if any. */
			k = val(key, sizeof(key));
			rc = mdb_cursor_get(c, &k, &v, MDB_SET);
			if (rc == 0)
				rc = mdb_cursor_get(c, &k, &v, MDB_LAST_DUP);
		} else if (rc == 0 && memcmp(v.mv_data, hi, INDEX_VAL_LEN) > 0)
			rc = mdb_cursor_get(c, &k, &v, MDB_PREV_DUP);
		for (; rc == 0 && !stop;
		    rc = mdb_cursor_get(c, &k, &v, MDB_PREV_DUP)) {
			if (v.mv_size != INDEX_VAL_LEN ||
			    memcmp(v.mv_data, lo, INDEX_VAL_LEN) < 0)
				break;
			if (!iwalk_match(&w, &v, &e))
				continue;
			while (!stop && mi > 0 && entry_cmp(&m[mi - 1], &e) > 0)
				stop = cb(arg, &m[--mi]);
			if (!stop)
				stop = cb(arg, &e);
		}
		while (!stop && mi > 0)
			stop = cb(arg, &m[--mi]);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		ret = txn_fail(t, rc, "index scan");
	mdb_cursor_close(c);
	return (ret);
}

struct count_arg {
	uint64_t	n;
	uint64_t	limit;
};

static int
count_cb(void *arg, const struct store_entry *e)
{
	struct count_arg	*a = arg;

	a->n++;
	return (a->limit != 0 && a->n >= a->limit);
}

/* Counting needs no order: the recent tier first, then LMDB's rest. */
int64_t
store_count(struct store_txn *t, enum ent_kind kind, const struct rg_hash *h,
    uint32_t type_mask, uint32_t role_mask, int64_t from_ts, int64_t to_ts,
    uint64_t max_seq, uint64_t limit)
{
	struct iwalk		 w = { type_mask, role_mask, max_seq };
	const struct memtier_ident	*id;
	struct count_arg	 a = { 0, limit };
	struct store_entry	 e;
	uint32_t		 i;

	if (from_ts > to_ts)
		return (0);
	if ((id = memtier_index_get(t->st->mt, kind, h)) != NULL)
		for (i = 0; i < id->n; i++)
			if (recent_match(&id->e[i], &w, from_ts, to_ts, &e) &&
			    ++a.n == limit)
				return ((int64_t)a.n);
	if (index_walk(t, kind, h, &w, from_ts, to_ts, false, NULL, 0,
	    count_cb, &a) != 0)
		return (-1);
	return ((int64_t)a.n);
}

static int
first_cb(void *arg, const struct store_entry *e)
{
	*(struct store_entry *)arg = *e;
	return (1);
}

/*
 * The recent tier's oldest entry (a pass, no sort: its entries are in
 * seq order), then LMDB's first entry before it, if any.
 */
int
store_first(struct store_txn *t, enum ent_kind kind, const struct rg_hash *h,
    int64_t to_ts, uint64_t max_seq, struct store_entry *out)
{
	struct iwalk		 w = { EV_MASK_ANY, ROLE_ANY, max_seq };
	const struct memtier_ident	*id;
	struct store_entry	 e, best;
	uint32_t		 i;

	best.seq = 0;
	if ((id = memtier_index_get(t->st->mt, kind, h)) != NULL)
		for (i = 0; i < id->n; i++)
			if (recent_match(&id->e[i], &w, INT64_MIN, to_ts, &e) &&
			    (best.seq == 0 || entry_cmp(&e, &best) < 0))
				best = e;
	e.seq = 0;
	if (index_walk(t, kind, h, &w, INT64_MIN, best.seq != 0 ? best.ts :
	    to_ts, false, NULL, 0, first_cb, &e) != 0)
		return (-1);
	if (e.seq != 0 && (best.seq == 0 || entry_cmp(&e, &best) < 0))
		best = e;
	if (best.seq == 0)
		return (1);
	*out = best;
	return (0);
}

int
store_link_get(struct store_txn *t, const struct rg_hash *account,
    enum ent_kind kind, const struct rg_hash *h, uint64_t max_seq,
    uint64_t *first_seq, int64_t *first_ts)
{
	uint8_t			 key[LINK_KEY_LEN];
	const struct store_link	*ml;
	struct store_link	 l;
	int			 rc;

	if ((ml = memtier_link_get(t->st->mt, account, kind, h)) != NULL)
		l = *ml;
	else {
		link_key(key, account, kind, h);
		if ((rc = link_get(t, key, &l)) != 0)
			return (rc);
	}
	if (max_seq != 0 && l.first_seq > max_seq)
		return (1);
	if (first_seq != NULL)
		*first_seq = l.first_seq;
	if (first_ts != NULL)
		*first_ts = l.first_ts;
	return (0);
}

static int
link_cmp(const void *a, const void *b)
{
	const struct store_link	*x = a, *y = b;

	if (x->kind != y->kind)
		return (x->kind < y->kind ? -1 : 1);
	return (memcmp(x->h.b, y->h.b, RG_HASH_LEN));
}

/*
 * The account's links in (kind, hash) order: LMDB's, each replaced by the
 * recent tier's newer state of the same link, merged with the tier's new
 * ones.
 */
int
store_link_scan(struct store_txn *t, const struct rg_hash *account,
    enum ent_kind kind, uint64_t max_seq, store_link_cb cb, void *arg)
{
	uint8_t			 key[LINK_KEY_LEN];
	const struct memtier_acct	*a;
	struct store_link	 l, mbuf[64], *m = mbuf, *cur;
	MDB_cursor		*c;
	MDB_val			 k, v;
	size_t			 nm = 0, mi = 0;
	uint32_t		 i;
	int			 rc, ret = 0, stop = 0, cmp;

	if ((a = memtier_acct_get(t->st->mt, account)) != NULL && a->n > 0) {
		if (a->n > nitems(mbuf))
			m = xreallocarray(NULL, a->n, sizeof(*m));
		for (i = 0; i < a->n; i++)
			if (kind == 0 || a->l[i].kind == kind)
				m[nm++] = a->l[i];
		qsort(m, nm, sizeof(*m), link_cmp);
	}
	if ((c = txn_cursor(t, t->st->links)) == NULL) {
		if (m != mbuf)
			free(m);
		return (-1);
	}
	memset(key, 0, sizeof(key));
	memcpy(key, account->b, RG_HASH_LEN);
	key[RG_HASH_LEN] = (uint8_t)kind;
	for (rc = link_seek(c, key, &k, &v); rc == 0 && !stop;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
		if (k.mv_size != RG_HASH_LEN ||
		    memcmp(k.mv_data, key, RG_HASH_LEN) != 0)
			break;
		if (v.mv_size != LINK_DUP_LEN)
			continue;
		if (kind != 0 && ((const uint8_t *)v.mv_data)[0] != kind)
			break;
		link_decode(&v, &l);
		cmp = 1;
		while (!stop && mi < nm && (cmp = link_cmp(&m[mi], &l)) < 0) {
			cur = &m[mi++];
			if (max_seq == 0 || cur->first_seq <= max_seq)
				stop = cb(arg, cur);
		}
		if (stop)
			break;
		cur = &l;
		if (cmp == 0)
			cur = &m[mi++];		/* the newer state */
		if (max_seq == 0 || cur->first_seq <= max_seq)
			stop = cb(arg, cur);
	}
	for (; !stop && mi < nm; mi++)
		if (max_seq == 0 || m[mi].first_seq <= max_seq)
			stop = cb(arg, &m[mi]);
	if (rc != 0 && rc != MDB_NOTFOUND)
		ret = txn_fail(t, rc, "links scan");
	mdb_cursor_close(c);
	if (m != mbuf)
		free(m);
	return (ret);
}

int
store_meta_get(struct store_txn *t, const char *name, const void **out,
    size_t *len)
{
	MDB_val	k = val(name, strlen(name)), v;
	int	rc;

	if ((rc = txn_get(t, t->st->meta, &k, &v, "meta get")) != 0)
		return (rc);
	*out = v.mv_data;
	*len = v.mv_size;
	return (0);
}

int
store_meta_put(struct store_txn *t, const char *name, const void *p,
    size_t len)
{
	MDB_val	k = val(name, strlen(name)), v = val(p, len);

	return (txn_put(t, t->st->meta, &k, &v, 0, "meta put"));
}

/* Delete one event's index entries and its verdict, then the event. */
static int
expire_event(struct store_txn *t, MDB_val *seqkey, const struct rg_event *ev)
{
	struct ent	ents[EVENT_ENTS_MAX];
	struct rg_hash	campaign;
	uint8_t		ikey[INDEX_KEY_LEN], ival[INDEX_VAL_LEN];
	size_t		n, i;
	MDB_val		k, v;

	n = event_ents(ev, ents, &campaign);
	for (i = 0; i < n; i++) {
		index_key(ikey, ents[i].kind, ents[i].h);
		index_val(ival, ev->ts, ev->seq, ev->type, ents[i].roles);
		k = val(ikey, sizeof(ikey));
		v = val(ival, sizeof(ival));
		if (txn_del_dup(t, t->st->index, &k, &v, "index del") != 0)
			return (-1);
	}
	/* The verdict goes with its event. */
	if (ev->idlen > 0 && del_verdict(t, ev->id, ev->idlen, ev->seq) != 0)
		return (-1);
	/*
	 * The newest event going leaves no event to tell the last seq at the
	 * next open (seqs must never be reused; flush marks point at them):
	 * keep it in meta.
	 */
	if (ev->seq == t->next_seq) {
		uint8_t	buf[8];

		be_put(buf, ev->seq, 8);
		if (store_meta_put(t, "seq_floor", buf, sizeof(buf)) != 0)
			return (-1);
	}
	return (txn_del(t, t->st->events, seqkey, "events del"));
}

/* Links not seen since before_ts, resuming where the last pass stopped. */
static int64_t
expire_links(struct store_txn *t, int64_t before_ts, size_t max)
{
	struct store	*st = t->st;
	struct store_link l;
	MDB_cursor	*c;
	MDB_val		 k, v;
	size_t		 seen = 0;
	int64_t		 n = 0;
	int		 rc;

	if ((c = txn_cursor(t, st->links)) == NULL)
		return (-1);
	if (st->link_cursor_set)
		rc = link_seek(c, st->link_cursor, &k, &v);
	else
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	for (; rc == 0 && seen < max; seen++) {
		if (k.mv_size == RG_HASH_LEN && v.mv_size == LINK_DUP_LEN) {
			link_decode(&v, &l);
			memcpy(st->link_cursor, k.mv_data, RG_HASH_LEN);
			memcpy(st->link_cursor + RG_HASH_LEN, v.mv_data,
			    LINK_ID_LEN);
			st->link_cursor_set = true;
			if (l.last_ts < before_ts) {
				if ((rc = mdb_cursor_del(c, 0)) != 0)
					break;
				n++;
				/* On from the place of the link deleted. */
				rc = link_seek(c, st->link_cursor, &k, &v);
				continue;
			}
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	if (rc == MDB_NOTFOUND)
		st->link_cursor_set = false;	/* wrap around next time */
	else if (rc != 0) {
		mdb_cursor_close(c);
		return (txn_fail(t, rc, "links expire"));
	}
	mdb_cursor_close(c);
	return (n);
}

/* The seq up to which every event's index entries are in LMDB. */
static uint64_t
in_lmdb_seq(const struct store_txn *t)
{
	uint64_t	m, low = UINT64_MAX;
	unsigned	r;

	for (r = 0; r < MT_RANGES; r++) {
		m = t->fl[r] ? t->fl_mark[r] : t->st->flushed[r];
		if (m < low)
			low = m;
	}
	return (low);
}

int64_t
store_expire(struct store_txn *t, int64_t before_ts, size_t max)
{
	struct rg_event	 ev;
	MDB_cursor	*c;
	MDB_val		 k, v;
	uint8_t		 seqkey[8];
	uint64_t	 in_lmdb = in_lmdb_seq(t);
	int64_t		 n = 0;
	unsigned	 r;
	int		 rc;

	if ((c = txn_cursor(t, t->st->events)) == NULL)
		return (-1);
	/* Events in sequence order; stop at the first one still young. */
	while ((size_t)n < max &&
	    (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
		if (k.mv_size != 8 || rgev_decode(v.mv_data, v.mv_size,
		    &ev) != 0) {
			log_warn("store: dropping corrupt event record");
			if ((rc = mdb_cursor_del(c, 0)) != 0)
				break;
			continue;
		}
		ev.seq = be_get(k.mv_data, 8);
		if (ev.ts >= before_ts)
			break;
		memcpy(seqkey, k.mv_data, 8);
		mdb_cursor_close(c);
		c = NULL;
		if (ev.seq > in_lmdb) {
			/*
			 * Its index entries may still be in the recent tier:
			 * rare (events past the retention horizon are
			 * refused), so flush every range, then go on.
			 */
			for (r = 0; r < MT_RANGES && t->err == STORE_OK; r++)
				if (!t->fl[r])
					flush_range(t, r);
			if (t->err != STORE_OK)
				return (-1);
			if (ev.seq > (in_lmdb = in_lmdb_seq(t)))
				break;		/* map_max: next pass */
		}
		k = val(seqkey, 8);
		if (expire_event(t, &k, &ev) != 0)
			return (-1);
		n++;
		if ((c = txn_cursor(t, t->st->events)) == NULL)
			return (-1);
	}
	if (c != NULL)
		mdb_cursor_close(c);
	if (expire_links(t, before_ts, max) < 0)
		return (-1);
	return (n);
}

int
store_stat(struct store *st, struct store_stat *out, char **cause)
{
	MDB_envinfo	info;
	MDB_stat	ms;
	MDB_txn		*txn;
	int		rc;

	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&st->maplock);
	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0) {
		pthread_rwlock_unlock(&st->maplock);
		xasprintf(cause, "stat: %s", mdb_strerror(rc));
		return (-1);
	}
	if (mdb_stat(txn, st->events, &ms) == 0)
		out->events = ms.ms_entries;
	if (mdb_stat(txn, st->index, &ms) == 0)
		out->index_entries = ms.ms_entries;
	if (mdb_stat(txn, st->links, &ms) == 0)
		out->links = ms.ms_entries;
	if (mdb_stat(txn, st->verdicts, &ms) == 0)
		out->verdicts = ms.ms_entries;
	if (st->have_vids && mdb_stat(txn, st->vids, &ms) == 0)
		out->verdicts += ms.ms_entries;
	store_aux_stat(txn, st->aux, out);
	mdb_env_info(st->env, &info);
	mdb_env_stat(st->env, &ms);
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&st->maplock);
	out->map_size = info.me_mapsize;
	out->map_used = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
	out->map_max = __atomic_load_n(&st->map_max, __ATOMIC_RELAXED);
	out->last_seq = __atomic_load_n(&st->last_seq, __ATOMIC_ACQUIRE);
	out->readers = info.me_numreaders;
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
	out->recent_flushes = __atomic_load_n(&st->flushes, __ATOMIC_RELAXED);
	return (0);
}

/* store_int.h: the inside store_aux.c works with. */
MDB_txn *
store_int_txn(struct store_txn *t)
{
	return (t->err == STORE_OK ? t->txn : NULL);
}

bool
store_int_writable(const struct store_txn *t)
{
	return (t->write);
}

struct store_aux *
store_int_aux(struct store_txn *t)
{
	return (t->st->aux);
}

uint64_t
store_int_next_seq(const struct store_txn *t)
{
	return (t->next_seq + 1);
}

int
store_int_fail(struct store_txn *t, int rc, const char *what)
{
	return (txn_fail(t, rc, what));
}
