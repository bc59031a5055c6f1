/* graph.c: a referral's identity graph and timelines; see graph.h. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "analyst.h"
#include "graph.h"
#include "queue.h"
#include "rgev.h"
#include "store.h"
#include "util.h"
#include "verdict.h"

static const char *const party_names[RG_NPARTIES] = { "referrer",
    "referee" };

/* The first GRAPH_PREFIX hex digits of a hash. */
static json_t *
graph_hash(const struct rg_hash *h)
{
	char	hex[2 * RG_HASH_LEN + 1];

	rg_hash_hex(h, hex);
	hex[GRAPH_PREFIX] = '\0';
	return (json_string(hex));
}

/* The readable facts an identity of kind carries in party p. */
static json_t *
graph_facts(const struct party *p, unsigned kind)
{
	json_t	*o = json_object();
	bool	 dev = kind == ENT_DEVICE || kind == ENT_DEVICE_FUZZY ||
		    kind == ENT_DEVICE_STABLE || kind == ENT_DEVICE_ID;

	if (kind == ENT_EMAIL && (p->facts & PF_EMAIL_DOMAIN))
		json_object_set_new(o, "domain", json_string(p->email_domain));
	if (kind == ENT_EMAIL && (p->facts & PF_EMAIL_DISPOSABLE))
		json_object_set_new(o, "disposable",
		    json_boolean(p->email_disposable));
	if (kind == ENT_EMAIL && (p->facts & PF_EMAIL_TAGGED))
		json_object_set_new(o, "tagged", json_boolean(p->email_tagged));
	if ((kind == ENT_IP || kind == ENT_IP_PREFIX) &&
	    (p->facts & PF_IP_INFO)) {
		json_object_set_new(o, "version", json_integer(p->ip_version));
		json_object_set_new(o, "private", json_boolean(p->ip_private));
	}
	if ((kind == ENT_PHONE || kind == ENT_PHONE_BLOCK) &&
	    (p->facts & PF_PHONE_COUNTRY))
		json_object_set_new(o, "country",
		    json_string(p->phone_country));
	if (dev && (p->facts & PF_DEVICE_TZ))
		json_object_set_new(o, "tz_country",
		    json_string(p->device_tz_country));
	if (dev && (p->facts & PF_DEVICE_LANG))
		json_object_set_new(o, "lang_country",
		    json_string(p->device_lang_country));
	if (dev && (p->facts & PF_DEVICE_EMULATOR))
		json_object_set_new(o, "emulator",
		    json_boolean(p->device_emulator));
	if (dev && (p->facts & PF_DEVICE_BROWSER))
		json_object_set_new(o, "browser",
		    json_boolean(p->device_browser));
	if (dev && (p->facts & PF_DEVICE_MODEL))
		json_object_set_new(o, "model",
		    json_string(p->device_model));
	if (kind == ENT_IP || kind == ENT_IP_PREFIX) {
		if (p->geo.have & GEO_COUNTRY)
			json_object_set_new(o, "country",
			    json_string(p->geo.country));
		if (p->geo.have & GEO_ASN)
			json_object_set_new(o, "asn",
			    json_integer(p->geo.asn));
		if (p->geo.have & GEO_AS_ORG)
			json_object_set_new(o, "as_org",
			    json_string(p->geo.as_org));
		if (p->geo.have & GEO_HOSTING)
			json_object_set_new(o, "hosting",
			    json_boolean(p->geo.hosting));
		if (p->geo.have & GEO_ANONYMOUS)
			json_object_set_new(o, "anonymous",
			    json_boolean(p->geo.anonymous));
	}
	return (o);
}

struct graph_scan {
	struct store_txn	*txn;
	const struct rg_event	*ref;		/* the referral */
	struct rg_event		*ev;		/* scratch */
	unsigned		 kind;
	const struct rg_hash	*h;
	struct rg_hash		 seen[GRAPH_NEIGHBOURS_MAX];
	size_t			 nseen;
	size_t			 nread;
	bool			 more;
	json_t			*out;
	int			 err;
};

static bool
graph_is_party(const struct rg_event *ref, const struct rg_hash *acct)
{
	int	i;

	for (i = 0; i < RG_NPARTIES; i++)
		if (memcmp(&ref->party[i].h[ENT_ACCOUNT], acct,
		    sizeof(*acct)) == 0)
			return (true);
	return (false);
}

/* An index entry of the identity: which other accounts carried it. */
static int
graph_neighbour(void *arg, const struct store_entry *e)
{
	struct graph_scan	*g = arg;
	const struct party	*p;
	size_t			 i, j;
	int			 rc;

	if (g->nread++ == GRAPH_SCAN_MAX) {
		g->more = true;
		return (1);
	}
	if ((rc = store_get_event(g->txn, e->seq, g->ev)) < 0) {
		g->err = 1;
		return (1);
	}
	if (rc > 0)
		return (0);
	for (i = 0; i < g->ev->nparties; i++) {
		p = &g->ev->party[i];
		if (!PARTY_HAS(p, g->kind) || !PARTY_HAS(p, ENT_ACCOUNT) ||
		    memcmp(&p->h[g->kind], g->h, sizeof(*g->h)) != 0 ||
		    graph_is_party(g->ref, &p->h[ENT_ACCOUNT]))
			continue;
		for (j = 0; j < g->nseen; j++)
			if (memcmp(&g->seen[j], &p->h[ENT_ACCOUNT],
			    sizeof(g->seen[j])) == 0)
				break;
		if (j < g->nseen)
			continue;
		if (g->nseen == GRAPH_NEIGHBOURS_MAX) {
			g->more = true;
			return (1);
		}
		g->seen[g->nseen++] = p->h[ENT_ACCOUNT];
		json_array_append_new(g->out, graph_hash(&p->h[ENT_ACCOUNT]));
	}
	return (0);
}

/* An event of an account's timeline. */
static int
graph_event(void *arg, const struct store_entry *e)
{
	struct graph_scan	*g = arg;
	const char		*role;
	char			 ts[40];
	json_t			*o;
	int			 rc;

	if (g->nread++ == GRAPH_EVENTS_MAX) {
		g->more = true;
		return (1);
	}
	role = (e->roles & ROLE_REFERRER) ? "referrer" :
	    (e->roles & ROLE_REFEREE) ? "referee" : "subject";
	o = json_pack("{s:s,s:s,s:I,s:s}", "ts", fmt_rfc3339(e->ts, ts),
	    "type", rgev_type_name(e->type) != NULL ?
	    rgev_type_name(e->type) : "?", "seq", (json_int_t)e->seq,
	    "role", role);
	if (e->type == EV_REFERRAL) {
		if ((rc = store_get_event(g->txn, e->seq, g->ev)) < 0) {
			json_decref(o);
			g->err = 1;
			return (1);
		}
		if (rc == 0)
			json_object_set_new(o, "id", json_stringn(g->ev->id,
			    g->ev->idlen));
	}
	json_array_append_new(g->out, o);
	return (0);
}

/* The event of referral id into ev: 0, 1 none, VERDICT_CORRUPT, -1. */
static int
graph_event_of(struct store_txn *txn, const char *id, size_t idlen,
    struct rg_event *ev)
{
	struct verdict	v = { 0 };
	uint64_t	seq;
	int		rc;

	rc = verdict_lookup(txn, id, idlen, false, &v);
	seq = v.seq;
	verdict_clear(&v);
	if (rc != 0)
		return (rc);
	return (store_get_event(txn, seq, ev));
}

/* The parties of many referrals (graph.h). */
static int
graph_parties(struct store_txn *txn, const struct queue_req *q,
    struct verdict *out)
{
	struct rg_event	*ev = xcalloc(1, sizeof(*ev));
	json_t		*o, *arr, *p;
	size_t		 i;
	int		 rc, k;

	arr = json_array();
	for (i = 0; i < q->nids; i++) {
		p = json_pack("{s:s}", "id", q->ids[i]);
		rc = graph_event_of(txn, q->ids[i], strlen(q->ids[i]), ev);
		if (rc < 0) {
			json_decref(p);
			json_decref(arr);
			free(ev);
			return (-1);
		}
		if (rc == 0) {
			for (k = 0; k < ev->nparties && k < RG_NPARTIES; k++)
				if (PARTY_HAS(&ev->party[k], ENT_ACCOUNT))
					json_object_set_new(p, party_names[k],
					    graph_hash(&ev->party[k].h[
					    ENT_ACCOUNT]));
		} else
			json_object_set_new(p, "error", json_string(rc == 1 ?
			    "not_found" : "corrupt"));
		json_array_append_new(arr, p);
	}
	free(ev);
	o = json_pack("{s:b,s:o}", "ok", 1, "parties", arr);
	out->reply = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (out->reply == NULL)
		return (-1);
	out->replylen = strlen(out->reply);
	return (0);
}

int
graph_run(struct store_txn *txn, const struct rg_event *ev,
    const struct analyst_req *ar, struct verdict *out)
{
	const char	*id = ev->id;
	size_t		 idlen = ev->idlen;
	struct rg_event		*ref, *scratch;
	struct graph_scan	 g;
	const struct party	*p, *q;
	json_t			*o, *ids, *accts, *tl, *n, *parties;
	char			 ts[40];
	unsigned		 k;
	int			 rc, i, j, ret = -1;

	memset(out, 0, sizeof(*out));
	if (ar->queue.nids > 0)
		return (graph_parties(txn, &ar->queue, out));
	ref = xcalloc(1, sizeof(*ref));
	scratch = xcalloc(1, sizeof(*scratch));
	if ((rc = graph_event_of(txn, id, idlen, ref)) != 0) {
		ret = rc;
		goto out;
	}
	o = json_object();
	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "id", json_stringn(id, idlen));
	json_object_set_new(o, "ts", json_string(fmt_rfc3339(ref->ts, ts)));
	json_object_set_new(o, "seq", json_integer((json_int_t)ref->seq));
	accts = json_object();
	ids = json_array();
	tl = json_object();
	memset(&g, 0, sizeof(g));
	g.txn = txn;
	g.ref = ref;
	g.ev = scratch;
	for (i = 0; i < ref->nparties && i < RG_NPARTIES; i++) {
		p = &ref->party[i];
		if (!PARTY_HAS(p, ENT_ACCOUNT))
			continue;
		json_object_set_new(accts, party_names[i],
		    graph_hash(&p->h[ENT_ACCOUNT]));
		/* the account's events, newest first */
		g.out = json_array();
		g.nread = 0;
		g.more = false;
		if (store_scan(txn, ENT_ACCOUNT, &p->h[ENT_ACCOUNT],
		    EV_MASK_ANY, ROLE_ANY, INT64_MIN, INT64_MAX, 0, true,
		    graph_event, &g) != 0 || g.err) {
			json_decref(g.out);
			goto fail;
		}
		json_object_set_new(tl, party_names[i], json_pack("{s:o,s:b}",
		    "events", g.out, "more", g.more));
	}
	/* Each identity once, with the parties that carried it. */
	for (i = 0; i < ref->nparties && i < RG_NPARTIES; i++) {
		p = &ref->party[i];
		for (k = ENT_ACCOUNT + 1; k < ENT__MAX; k++) {
			if (k == ENT_EDGE || k == ENT_CAMPAIGN ||
			    !PARTY_HAS(p, k))
				continue;
			for (j = 0; j < i; j++) {
				q = &ref->party[j];
				if (PARTY_HAS(q, k) && memcmp(&q->h[k],
				    &p->h[k], sizeof(p->h[k])) == 0)
					break;
			}
			if (j < i)
				continue;	/* listed with party j */
			parties = json_array();
			for (j = i; j < ref->nparties && j < RG_NPARTIES;
			    j++) {
				q = &ref->party[j];
				if (PARTY_HAS(q, k) && memcmp(&q->h[k],
				    &p->h[k], sizeof(p->h[k])) == 0)
					json_array_append_new(parties,
					    json_string(party_names[j]));
			}
			g.out = json_array();
			g.kind = k;
			g.h = &p->h[k];
			g.nseen = g.nread = 0;
			g.more = false;
			if (store_scan(txn, k, &p->h[k], EV_MASK_ANY, ROLE_ANY,
			    INT64_MIN, INT64_MAX, 0, true, graph_neighbour,
			    &g) != 0 || g.err) {
				json_decref(g.out);
				json_decref(parties);
				goto fail;
			}
			n = json_pack("{s:s,s:o,s:o,s:o,s:o,s:b}", "kind",
			    ent_kind_name(k), "hash", graph_hash(&p->h[k]),
			    "parties", parties, "facts", graph_facts(p, k),
			    "neighbours", g.out, "more", g.more);
			json_array_append_new(ids, n);
		}
	}
	json_object_set_new(o, "accounts", accts);
	json_object_set_new(o, "identities", ids);
	json_object_set_new(o, "timelines", tl);
	ids = accts = tl = NULL;
	out->reply = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (out->reply == NULL)
		goto out;
	out->replylen = strlen(out->reply);
	out->seq = ref->seq;
	ret = 0;
	goto out;
fail:
	json_decref(accts);
	json_decref(ids);
	json_decref(tl);
	json_decref(o);
out:
	free(ref);
	free(scratch);
	return (ret);
}
