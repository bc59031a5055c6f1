/* label.c: feedback's record and labels; see label.h. */
#include "config.h"

#include <string.h>

#include "label.h"
#include "sbuf.h"
#include "store.h"
#include "store_aux.h"
#include "verdict.h"

/* The labels of one feedback as they are put. */
struct fb_ctx {
	struct store_txn	*txn;
	int			 label;
	struct store_label	 l;
	uint64_t		 n, added;
	int			 err;
};

static int
fb_label(struct fb_ctx *f, uint8_t kind, const struct rg_hash *h)
{
	size_t	i;
	int	rc;

	for (i = 0; i < store_label_nkinds; i++)
		if (store_label_kinds[i] == kind)
			break;
	if (i == store_label_nkinds)
		return (0);
	if ((rc = store_label_put(f->txn, kind, h, f->label, &f->l)) < 0) {
		f->err = 1;
		return (-1);
	}
	f->n++;
	if (rc == 0)
		f->added++;
	return (0);
}

static int
fb_link_cb(void *arg, const struct store_link *l)
{
	return (fb_label(arg, (uint8_t)l->kind, &l->h) != 0);
}

int
label_apply(struct store_txn *txn, const char *id, size_t idlen,
    uint64_t seq, const struct rg_hash *account, int label, const char *note,
    const char *by, int64_t now, struct label_result *out)
{
	struct verdict_rec	 r;
	struct rg_event		 ev;
	struct fb_ctx		 f;
	struct sbuf		 rec;
	const struct party	*p;
	const void		*vrec;
	size_t			 vlen, i;
	char			 hex[2 * RG_HASH_LEN + 1];
	int			 rc;

	memset(&f, 0, sizeof(f));
	f.txn = txn;
	f.label = label;
	f.l.seq = store_aux_next_seq(txn);
	f.l.ts = now;
	if (account == NULL && seq == 0) {
		rc = store_get_verdict(txn, id, idlen, &vrec, &vlen);
		if (rc < 0)
			return (-1);
		if (rc == 1 || verdict_rec_decode(vrec, vlen, &r) != 0)
			return (1);
		seq = r.seq;
	}
	if (account == NULL) {
		if ((rc = store_get_event(txn, seq, &ev)) < 0)
			return (-1);
		if (rc == 1 || ev.nparties < 2)
			return (1);
	}

	sbuf_init(&rec, 256);
	sbuf_addf(&rec, "{\"ts\":%lld", (long long)now);
	/* The account's whole hash too: backtests match referees by it. */
	if (account != NULL) {
		rg_hash_hex(account, hex);
		sbuf_addf(&rec, ",\"account\":\"account:%.12s\","
		    "\"account_hash\":\"%s\"", hex, hex);
	} else {
		sbuf_adds(&rec, ",\"id\":");
		sbuf_add_jstr(&rec, id, idlen);
	}
	sbuf_add_jmember(&rec, "label", store_label_name(label));
	sbuf_add_jmember(&rec, "note", note);
	sbuf_add_jmember(&rec, "by", by);
	sbuf_addf(&rec, ",\"seq\":%llu}", (unsigned long long)f.l.seq);
	rc = store_feedback_put(txn, rec.buf, rec.len, &out->feedback);
	sbuf_free(&rec);
	if (rc != 0)
		return (-1);
	f.l.feedback = out->feedback;

	if (account != NULL) {
		if (fb_label(&f, ENT_ACCOUNT, account) != 0 ||
		    store_link_scan(txn, account, 0, 0, fb_link_cb,
		    &f) != 0 || f.err)
			return (-1);
	} else {
		p = &ev.party[PARTY_REFEREE];
		for (i = 1; i < ENT__MAX; i++)
			if (PARTY_HAS(p, i) && fb_label(&f, (uint8_t)i,
			    &p->h[i]) != 0)
				return (-1);
	}
	out->identities = f.n;
	out->added = f.added;
	out->seq = f.l.seq;
	return (0);
}
