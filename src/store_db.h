/*
 * store_db.h: the LMDB wrapper under the store (store.h): the
 * environment, transactions that keep their first error, map growth,
 * reader slots, and put/get/del/cursor on named databases. It knows LMDB
 * and nothing of refguard's records; every file of the store (store*.c)
 * reaches LMDB through it and lays its databases on top.
 *
 * First error wins. A transaction (struct store_db_txn, filled by
 * store_db_begin()) keeps the first error of any call made on it: ret
 * (an LMDB error, or an errno) and errstr, which says what failed. Every
 * later call on it does nothing and fails (-1, or NULL for a cursor);
 * store_db_commit() of a failed transaction aborts it and fails. So a
 * caller may run a whole batch and look once, at the commit.
 *
 * A full map: ret is MDB_MAP_FULL and grow says whether the map may
 * still grow (below map_max). The caller aborts, calls store_db_grow()
 * and retries the batch; at map_max it gives up (errstr names the limit).
 *
 * Reader slots: a begin that finds LMDB's reader table full clears the
 * slots of dead processes (mdb_reader_check()) and tries again; a
 * writable open clears them once at the start. MDB_MAP_RESIZED (another
 * process grew the map) adopts the new size and tries again.
 *
 * Threads: any thread may begin transactions; a transaction is used by
 * the thread that began it. store_db_grow() waits until this process's
 * other transactions have ended (LMDB resizes with none open).
 */
#ifndef REFGUARD_STORE_DB_H
#define REFGUARD_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

struct store_db;

struct store_db_opts {
	const char	*dir;		/* the environment's directory */
	size_t		 map_size;	/* initial map size (writable opens) */
	uint64_t	 map_max;	/* growth stops there */
	unsigned	 maxdbs;	/* named databases */
	unsigned	 maxreaders;
	bool		 nosync;
	bool		 readonly;
};

/*
 * Open the environment in opts->dir (LMDB creates data.mdb when
 * writable). NULL and *cause (caller frees) on error.
 */
struct store_db	*store_db_open(const struct store_db_opts *opts, char **cause);
/*
 * data.mdb holds every page LMDB's meta says is in use: in a shorter file
 * the first read of a missing page is a SIGBUS. Call before the first
 * transaction. 0, or -1 and *cause.
 */
int		 store_db_check_size(struct store_db *db, char **cause);
/* No transaction may be open. NULL: nothing. */
void		 store_db_close(struct store_db *db);

/*
 * Double the map, capped at map_max; waits for this process's other
 * transactions to end. 0, or -1 when at map_max already (or LMDB
 * refused: logged).
 */
int		 store_db_grow(struct store_db *db);
/* Any thread; takes effect at the next growth. */
void		 store_db_set_map_max(struct store_db *db, uint64_t map_max);
/* Write transactions committed that wrote something (any thread). */
uint64_t	 store_db_writes(struct store_db *db);

struct store_db_info {
	uint64_t	map_size;	/* bytes mapped */
	uint64_t	map_used;	/* up to the last page in use */
	uint64_t	map_max;
	uint64_t	readers;	/* reader slots in use */
};
void		 store_db_info(struct store_db *db, struct store_db_info *out);

struct store_db_txn {
	struct store_db	*db;
	MDB_txn		*txn;		/* NULL once ended */
	bool		 write;
	bool		 child;		/* store_db_child(): no lock of its own */
	int		 ret;		/* the first error: LMDB's, or an errno */
	bool		 grow;		/* ret is MDB_MAP_FULL below map_max */
	char		 errstr[160];
};

/*
 * Begin a transaction into *t. 0, or -1 with t->ret and t->errstr set
 * ("begin transaction: ..."): then there is nothing to end.
 */
int		 store_db_begin(struct store_db *db, struct store_db_txn *t,
		     bool write);
/*
 * Commit t (a read transaction just ends). -1 when t had failed (it is
 * aborted) or the commit failed: t->ret and t->errstr say why ("commit:
 * ..." for the commit's own failure). t is ended either way.
 */
int		 store_db_commit(struct store_db_txn *t);
/* End t, dropping its changes. Safe on an ended t. */
void		 store_db_abort(struct store_db_txn *t);
/*
 * A nested transaction in parent, a write one: -1 when parent has failed
 * already, or LMDB refuses (recorded in parent). Its errors stay in child
 * until store_db_child_end(), which commits it when it has none (else
 * aborts it) and returns its first error (0: committed), for the caller
 * to record in parent or not.
 */
int		 store_db_child(struct store_db_txn *parent,
		     struct store_db_txn *child);
int		 store_db_child_end(struct store_db_txn *child);

/*
 * Record rc (an LMDB error or an errno) with what failed, unless t has
 * an error already; MDB_MAP_FULL says whether the map can grow. Returns
 * -1, for "return (store_db_fail(...))".
 */
int		 store_db_fail(struct store_db_txn *t, int rc, const char *what);
/* The same with a message of the caller's (a corrupt record). */
int		 store_db_failf(struct store_db_txn *t, const char *fmt, ...)
		     __attribute__((format(printf, 2, 3)));

/*
 * Open the named database name (flags: MDB_DUPSORT ..., MDB_CREATE in a
 * write transaction). 0, 1 absent (without MDB_CREATE), -1.
 */
int		 store_db_dbi(struct store_db_txn *t, const char *name,
		     unsigned flags, MDB_dbi *dbi);
/* 0 found (*v valid until t ends), 1 not found, -1 error. */
int		 store_db_get(struct store_db_txn *t, MDB_dbi dbi, MDB_val *k,
		     MDB_val *v, const char *what);
/* 0, or -1 (a read transaction: "what: read-only"). */
int		 store_db_put(struct store_db_txn *t, MDB_dbi dbi, MDB_val *k,
		     MDB_val *v, unsigned flags, const char *what);
/*
 * mdb_put with MDB_NOOVERWRITE or MDB_APPEND: 0 put, 1 refused (the key
 * is there, or not past the last: MDB_KEYEXIST, nothing recorded; with
 * MDB_NOOVERWRITE *v is the stored value), -1 error.
 */
int		 store_db_try_put(struct store_db_txn *t, MDB_dbi dbi,
		     MDB_val *k, MDB_val *v, unsigned flags, const char *what);
/* Delete k (v not NULL: only that duplicate); absent is no error. */
int		 store_db_del(struct store_db_txn *t, MDB_dbi dbi, MDB_val *k,
		     MDB_val *v, const char *what);
/* Entries in dbi as of t; 0 when t failed or LMDB says no. */
uint64_t	 store_db_entries(struct store_db_txn *t, MDB_dbi dbi);

/*
 * Cursor walks: open a cursor (NULL once t failed, or on error), move it
 * with mdb_cursor_get/put/del, and end with store_db_cursor_end(), which
 * closes it and records rc, the walk's last LMDB result, unless 0 or
 * MDB_NOTFOUND (its end). 0, or -1.
 */
MDB_cursor	*store_db_cursor(struct store_db_txn *t, MDB_dbi dbi);
int		 store_db_cursor_end(struct store_db_txn *t, MDB_cursor *c,
		     int rc, const char *what);

static inline MDB_val
store_db_val(const void *p, size_t n)
{
	MDB_val	v = { n, (void *)p };

	return (v);
}

#endif
