/*
 * store_int.h: what store_aux.c needs of store.c's inside. Nothing else
 * includes this: the rest of refguard goes through store.h.
 *
 * store.c opens the aux databases in its setup transaction (through
 * store_aux_open()) and frees them with the store; store_aux.c reaches
 * the raw transaction through the accessors below and reports errors
 * through store_int_fail(), so that a transaction still keeps its first
 * error whichever file it came from.
 */
#ifndef REFGUARD_STORE_INT_H
#define REFGUARD_STORE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <lmdb.h>

struct store;
struct store_txn;
struct store_aux;

/* store.c */
/* The LMDB transaction; NULL once the transaction has failed. */
MDB_txn			*store_int_txn(struct store_txn *t);
bool			 store_int_writable(const struct store_txn *t);
struct store_aux	*store_int_aux(struct store_txn *t);
/* The seq the next stored event will get (last committed or put + 1). */
uint64_t		 store_int_next_seq(const struct store_txn *t);
/* Record rc (an LMDB error) as the transaction's error; returns -1. */
int			 store_int_fail(struct store_txn *t, int rc,
			     const char *what);

/*
 * store_aux.c, called by store.c's setup with its transaction: open (or,
 * when writable, create) the aux databases. A read-only store written by
 * an older refguard has none: *aux then says so and every lookup finds
 * nothing. 0, or -1 and *cause.
 */
int	store_aux_open(MDB_txn *txn, bool readonly, struct store_aux **aux,
	    char **cause);
void	store_aux_free(struct store_aux *aux);
/* store_stat()'s figures of the aux databases (none: zeros). */
struct store_stat;
void	store_aux_stat(MDB_txn *txn, const struct store_aux *aux,
	    struct store_stat *out);
/* How many named databases store_aux_open() opens. */
#define STORE_AUX_NDBI	7

#endif
