/*
 * test_rec.c: the on-disk records byte for byte. Each record a store
 * keeps (events, verdicts, index and link keys, labels, lists, feedback)
 * is encoded from known values and compared with the bytes refguard has
 * always written: a store written by one version must read back the same
 * in the next, so a change here is a change of the store's format.
 */
#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <xxhash.h>

#include "rgev.h"
#include "rec.h"
#include "store.h"
#include "store_aux.h"
#include "util.h"
#include "verdict.h"

#include "unit.h"

#define T0	1795428000000LL		/* 2026-11-23T10:00:00Z */
#define MIB	(1024 * 1024)

static char	tmpdir[] = "/tmp/rg-rec.XXXXXX";

static struct rg_hash
H(uint8_t x)
{
	struct rg_hash	h;

	memset(h.b, x, sizeof(h.b));
	return (h);
}

static void
hex(char *out, const uint8_t *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = '\0';
}

/* p[0..n) must be the bytes of hex string want; prints what it got. */
static void
same_bytes(const char *what, const uint8_t *p, size_t n, const char *want)
{
	char	*got = xmalloc(2 * n + 1);

	hex(got, p, n);
	ck_assert_msg(strcmp(got, want) == 0, "%s: got\n%s\nwant\n%s", what,
	    got, want);
	free(got);
}

/* A referral carrying every field the record can hold. */
static void
full_event(struct rg_event *ev)
{
	struct party	*p;
	unsigned	 i, k;

	memset(ev, 0, sizeof(*ev));
	ev->type = EV_REFERRAL;
	ev->ts = T0;
	ev->data_id = 0x0102030405060708ULL;
	ev->idlen = 3;
	memcpy(ev->id, "r-1", 3);
	snprintf(ev->campaign, sizeof(ev->campaign), "spring");
	ev->has_reward = true;
	ev->reward_amount = 12.5;
	memcpy(ev->reward_currency, "EUR", 4);
	ev->has_edge = true;
	ev->edge = H(0xee);
	ev->nparties = 2;
	for (i = 0; i < 2; i++) {
		p = &ev->party[i];
		for (k = ENT_ACCOUNT; k <= ENT_DEVICE; k += 2) {
			p->h[k] = H((uint8_t)(0x10 * (i + 1) + k));
			p->have |= 1u << k;
		}
	}
	p = &ev->party[1];
	p->facts = PF_EMAIL_DOMAIN | PF_EMAIL_DISPOSABLE | PF_IP_INFO;
	snprintf(p->email_domain, sizeof(p->email_domain), "example.org");
	p->email_disposable = true;
	p->ip_version = 6;
	p->ip_private = false;
	p->geo.have = GEO_COUNTRY | GEO_CONTINENT | GEO_ASN | GEO_AS_ORG |
	    GEO_VPN | GEO_HOSTING;
	memcpy(p->geo.country, "DE", 3);
	memcpy(p->geo.continent, "EU", 3);
	p->geo.asn = 64500;
	snprintf(p->geo.as_org, sizeof(p->geo.as_org), "Example AS");
	p->geo.vpn = true;
	p->geo.hosting = true;
}

/*
 * The codec itself: fields big-endian, a reader that runs short stays
 * short and reads zeros, the end check wants every byte read, and a
 * fixed writer never writes past its buffer.
 */
START_TEST(test_codec)
{
	uint8_t		buf[16];
	char		s[8];
	struct rec_w	w;
	struct rec_r	r;

	memset(buf, 0xaa, sizeof(buf));
	rec_w_fixed(&w, buf, 15);
	rec_put_u8(&w, 1);
	rec_put_u16(&w, 0x0203);
	rec_put_u32(&w, 0x04050607);
	rec_put_str8(&w, "abc", 8);
	ck_assert_int_eq(rec_w_err(&w), 0);
	ck_assert_uint_eq(w.len, 11);
	same_bytes("fields", buf, w.len, "0102030405060703616263");
	rec_put_u64(&w, 1);		/* 8 more do not fit in 15 */
	ck_assert_int_eq(rec_w_err(&w), -1);
	ck_assert_uint_eq(w.len, 11);
	rec_put_u8(&w, 9);		/* sticky: nothing more either */
	ck_assert_uint_eq(w.len, 11);
	same_bytes("untouched", buf + 11, 5, "aaaaaaaaaa");

	rec_r_init(&r, buf, 11);
	ck_assert_uint_eq(rec_get_u8(&r), 1);
	ck_assert_uint_eq(rec_get_u16(&r), 0x0203);
	ck_assert_int_eq(rec_r_end(&r), -1);	/* bytes left */
	ck_assert_uint_eq(rec_get_u32(&r), 0x04050607);
	ck_assert_uint_eq(rec_get_str8(&r, s, sizeof(s)), 3);
	ck_assert_str_eq(s, "abc");
	ck_assert_int_eq(rec_r_end(&r), 0);
	ck_assert_uint_eq(rec_get_u8(&r), 0);	/* past the end */
	ck_assert_int_eq(rec_r_end(&r), -1);
	ck_assert_uint_eq(rec_get_u32(&r), 0);	/* and stays there */
	ck_assert_ptr_null(rec_get_ref(&r, 0));

	/* A u16-length string: beyond what a u8 length says. */
	{
		struct rec_w	w2;
		char		big[300], back[301];
		uint8_t		*p;
		size_t		n;

		memset(big, 'x', 299);
		big[299] = '\0';
		rec_w_init(&w2, 8);
		rec_put_str16(&w2, big, 1000);
		p = rec_w_take(&w2, &n);
		ck_assert_uint_eq(n, 301);
		ck_assert_uint_eq(p[0], 0x01);
		ck_assert_uint_eq(p[1], 0x2b);
		rec_r_init(&r, p, n);
		ck_assert_uint_eq(rec_get_str16(&r, back, sizeof(back)), 299);
		ck_assert_str_eq(back, big);
		ck_assert_int_eq(rec_r_end(&r), 0);
		rec_r_init(&r, p, n);
		ck_assert_uint_eq(rec_get_str16(&r, back, 299), 0);
		ck_assert_int_eq(rec_r_err(&r), -1);
		free(p);
	}

	/* A string longer than its buffer is an error, not a cut. */
	rec_r_init(&r, buf + 7, 4);
	ck_assert_uint_eq(rec_get_str8(&r, s, 3), 0);
	ck_assert_str_eq(s, "");
	ck_assert_int_eq(rec_r_err(&r), -1);
}
END_TEST

static const char event_golden[] =
    "0101000001a207d92100010203040506070803722d3106737072696e67034029"
    "000000000000455552eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee02000000aa1111"
    "1111111111111111111111111111131313131313131313131313131313131515"
    "1515151515151515151515151515171717171717171717171717171717170000"
    "000000000000000000aa21212121212121212121212121212121232323232323"
    "2323232323232323232325252525252525252525252525252525272727272727"
    "27272727272727272727000000070b6578616d706c652e6f7267010600000000"
    "af444545550000fbf40a4578616d706c652041530a";

/*
 * Set the fact bit (size bytes at off in struct party, from val) on
 * party 1 of ev, whose record was prev bytes: the record is grows bytes
 * longer and reads back with it and every fact set before, on party 1
 * only. Returns the new length.
 */
static size_t
party_fact(struct rg_event *ev, size_t prev, uint32_t bit, size_t off,
    const void *val, size_t size, size_t grows)
{
	static const char	zero[16];
	static uint8_t		rec[EVENT_REC_MAX];
	static struct rg_event	back;
	size_t			len;

	ev->party[1].facts |= bit;
	memcpy((char *)&ev->party[1] + off, val, size);
	len = rgev_encode(ev, rec);
	ck_assert_uint_eq(len, prev + grows);
	ck_assert_int_eq(rgev_decode(rec, len, &back), 0);
	ck_assert_uint_eq(back.party[1].facts, ev->party[1].facts);
	ck_assert_mem_eq((char *)&back.party[1] + off, val, size);
	ck_assert_str_eq(back.party[1].device_tz_country, "NL");
	ck_assert(!(back.party[0].facts & bit));
	ck_assert_mem_eq((char *)&back.party[0] + off, zero, size);
	return (len);
}

START_TEST(test_event_record)
{
	static const bool yes = true;
	struct rg_event	ev, back;
	uint8_t		rec[EVENT_REC_MAX], rec2[EVENT_REC_MAX];
	size_t		len, len2;

	full_event(&ev);
	len = rgev_encode(&ev, rec);
	same_bytes("event record", rec, len, event_golden);
	ck_assert_int_eq(rgev_decode(rec, len, &back), 0);
	len2 = rgev_encode(&back, rec2);
	ck_assert_uint_eq(len2, len);
	ck_assert_mem_eq(rec2, rec, len);
	/* Every byte is read: one more or one less is malformed. */
	ck_assert_int_eq(rgev_decode(rec, len - 1, &back), -1);
	rec[len] = 0;
	ck_assert_int_eq(rgev_decode(rec, len + 1, &back), -1);

	/*
	 * The facts, each read back beside the others: a device's time
	 * zone country (two bytes), the one-byte facts, a phone's country,
	 * a device's model, its language's country.
	 */
	len = party_fact(&ev, len, PF_DEVICE_TZ,
	    offsetof(struct party, device_tz_country), "NL", 3, 2);
	len = party_fact(&ev, len, PF_EMAIL_TAGGED,
	    offsetof(struct party, email_tagged), &yes, 1, 1);
	len = party_fact(&ev, len, PF_DEVICE_EMULATOR,
	    offsetof(struct party, device_emulator), &yes, 1, 1);
	len = party_fact(&ev, len, PF_DEVICE_BROWSER,
	    offsetof(struct party, device_browser), &yes, 1, 1);
	len = party_fact(&ev, len, PF_PHONE_COUNTRY,
	    offsetof(struct party, phone_country), "NG", 3, 2);
	/* A device's model: a length byte and its bytes. */
	len = party_fact(&ev, len, PF_DEVICE_MODEL,
	    offsetof(struct party, device_model), "sm-a546b", 9, 9);
	len = party_fact(&ev, len, PF_DEVICE_LANG,
	    offsetof(struct party, device_lang_country), "DE", 3, 2);
}
END_TEST

static const char verdict_golden[] =
    "82000000000000000702ffffff9c0000001c0000000200017b226964223a2272"
    "2d31222c22616374696f6e223a2264656e79227d5b5d00000000000000090100"
    "0000050000001800000002000000027b226964223a22722d31222c2276657273"
    "696f6e223a327d7b7d5b5d6b5b3d800d5aa700";

START_TEST(test_verdict_record)
{
	static const char	 reply[] = "{\"id\":\"r-1\",\"action\":\"deny\"}";
	static const char	 vreply[] = "{\"id\":\"r-1\",\"version\":2}";
	struct verdict_rec	 r, d;
	struct verdict_ver	 vv;
	uint8_t			 ver[25 + sizeof(vreply) - 1 + 4];
	uint8_t			*rec;
	size_t			 len;

	memset(&r, 0, sizeof(r));
	r.seq = 7;
	r.action = 2;
	r.score = -100;
	r.reply = reply;
	r.replylen = strlen(reply);
	r.explain = "[]";
	r.explainlen = 2;
	rec = verdict_rec_encode(&r, &len);
	same_bytes("check verdict record", rec, len,
	    "81000000000000000702ffffff9c0000001c7b226964223a22722d31222c2261"
	    "6374696f6e223a2264656e79227d5b5ddd9b9273e0957280");
	free(rec);

	memset(ver, 0, sizeof(ver));
	ver[7] = 9;			/* ts */
	ver[8] = 1;			/* action */
	ver[12] = 5;			/* score */
	ver[16] = sizeof(vreply) - 1;	/* replylen */
	ver[20] = 2;			/* deltalen */
	ver[24] = 2;			/* explainlen */
	memcpy(ver + 25, vreply, sizeof(vreply) - 1);
	memcpy(ver + 25 + sizeof(vreply) - 1, "{}[]", 4);
	r.nrechecks = 1;
	r.rechecks = ver;
	r.rechecks_len = sizeof(ver);
	rec = verdict_rec_encode(&r, &len);
	same_bytes("re-checked verdict record", rec, len, verdict_golden);
	ck_assert_int_eq(verdict_rec_decode(rec, len, &d), 0);
	ck_assert_int_eq(verdict_rec_latest(&d, &vv), 0);
	ck_assert_int_eq(vv.ts, 9);
	ck_assert_int_eq(vv.score, 5);
	ck_assert_uint_eq(vv.deltalen, 2);
	ck_assert_uint_eq(vv.explainlen, 2);
	/*
	 * Without its checksum (as before schema 3): read; claiming no
	 * re-checks, or with a byte after them, it is malformed.
	 */
	rec[0] &= 0x7f;
	len -= 8;
	ck_assert_int_eq(verdict_rec_decode(rec, len, &d), 0);
	rec[23] = 0;			/* nrechecks: 0 */
	ck_assert_int_eq(verdict_rec_decode(rec, len, &d), -1);
	rec[23] = 1;
	rec[len] = 0;
	ck_assert_int_eq(verdict_rec_decode(rec, len + 1, &d), -1);
	free(rec);
}
END_TEST

/* Every database of the store in dir, dumped as text into out. */
static void
dump_store(const char *dir, FILE *out)
{
	MDB_env		*env;
	MDB_txn		*txn;
	MDB_dbi		 main, dbi;
	MDB_cursor	*mc, *c;
	MDB_val		 name, k, v;
	char		 dbname[64], *h;

	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 32), 0);
	ck_assert_int_eq(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &main), 0);
	ck_assert_int_eq(mdb_cursor_open(txn, main, &mc), 0);
	while (mdb_cursor_get(mc, &name, NULL, MDB_NEXT) == 0) {
		ck_assert_uint_lt(name.mv_size, sizeof(dbname));
		memcpy(dbname, name.mv_data, name.mv_size);
		dbname[name.mv_size] = '\0';
		ck_assert_int_eq(mdb_dbi_open(txn, dbname, 0, &dbi), 0);
		ck_assert_int_eq(mdb_cursor_open(txn, dbi, &c), 0);
		while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
			h = xmalloc(2 * (k.mv_size + v.mv_size) + 2);
			hex(h, k.mv_data, k.mv_size);
			fprintf(out, "%s %s ", dbname, h);
			hex(h, v.mv_data, v.mv_size);
			fprintf(out, "%s\n", h);
			free(h);
		}
		mdb_cursor_close(c);
	}
	mdb_cursor_close(mc);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

/*
 * A store after a check, a re-check, an observe, a label, a list entry
 * and feedback: every key and value of every database, as in
 * tests/unit/rec-store.golden (one "database key value" line each, hex).
 */
START_TEST(test_store_records)
{
	struct store		*st;
	struct store_txn	*t;
	struct rg_event		 ev;
	struct verdict		 v;
	struct store_label	 l = { 1, T0, 1 };
	struct store_list_entry	 e;
	struct store_list_member m[2];
	struct rg_hash		 dev = H(0x31);
	char			 dir[300], path[600], *cause = NULL, *text;
	char			*golden;
	const char		*top;
	uint64_t		 id;
	size_t			 len;
	FILE			*f;

	snprintf(dir, sizeof(dir), "%s/s", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	st = unit_store_recent(dir, 4 * MIB, 64 * MIB, 0);
	t = store_begin(st, true, &cause);
	ck_assert_msg(t != NULL, "%s", cause);
	full_event(&ev);
	ck_assert_int_eq(verdict_check(t, NULL, &ev, &v), 0);
	verdict_clear(&v);
	ck_assert_int_eq(verdict_recheck(t, NULL, "r-1", 3, T0 + 60000, true,
	    &v), 0);
	verdict_clear(&v);
	full_event(&ev);
	ev.type = EV_LOGIN;
	ev.idlen = 0;
	ev.campaign[0] = '\0';
	ev.has_reward = ev.has_edge = false;
	ev.nparties = 1;
	ev.ts = T0 + 1000;
	ck_assert_int_eq(verdict_observe(t, &ev, &v), 0);
	verdict_clear(&v);
	ck_assert_int_eq(store_label_put(t, ENT_DEVICE, &dev, LABEL_FRAUD,
	    &l), 0);
	memset(&e, 0, sizeof(e));
	e.h = H(0x50);
	e.kind = ENT_IP;
	e.cidr = 31;
	e.added = T0;
	e.seq = 2;
	e.expires = T0 + 86400000;
	e.nmembers = 2;
	snprintf(e.by, sizeof(e.by), "ann");
	snprintf(e.reason, sizeof(e.reason), "ticket");
	m[0].kind = m[1].kind = ENT_IP;
	m[0].h = H(0x51);
	m[1].h = H(0x52);
	ck_assert_int_eq(store_list_put(t, "ips", &e, m, 2), 0);
	ck_assert_int_eq(store_feedback_put(t, "{\"a\":1}", 7, &id), 0);
	ck_assert_int_eq(store_listlog_put(t, "{\"b\":2}", 7), 0);
	ck_assert_int_eq(store_commit(t, NULL, &cause), 0);
	store_close(st);

	f = open_memstream(&text, &len);
	dump_store(dir, f);
	fclose(f);
	if ((top = getenv("top_srcdir")) == NULL)
		top = ".";
	snprintf(path, sizeof(path), "%s/tests/unit/rec-store.golden", top);
	golden = unit_slurp(path, NULL);
	if (strcmp(text, golden) != 0)
		fprintf(stderr, "store: got\n%s", text);
	ck_assert_msg(strcmp(text, golden) == 0, "store: not the records of "
	    "%s (what it holds is on stderr)", path);
	free(golden);
	free(text);
}
END_TEST

/* verdict_reply_rules(): the hits, "name:s" for a shadow one, joined. */
static int
reply_rule_cb(void *arg, const char *name, bool shadow)
{
	char	*out = arg;

	if (*out != '\0')
		strcat(out, " ");
	strcat(out, name);
	if (shadow)
		strcat(out, ":s");
	return (strcmp(name, "stop") == 0);
}

static const char *
reply_rules(const char *reply)
{
	static char	out[4096];

	out[0] = '\0';
	if (verdict_reply_rules(reply, strlen(reply), reply_rule_cb, out) != 0)
		return ("(error)");
	return (out);
}

/*
 * The rules a reply names: replies as verdict.c writes them (read
 * without building their JSON) and others (read as JSON) give the same.
 */
START_TEST(test_reply_rules)
{
	static const char	 hit[] = "{\"rule\":\"h%d\",\"action\":\"review\","
	    "\"score\":1}";
	char			 many[4096], *p;
	int			 i;

	ck_assert_str_eq(reply_rules("{\"id\":\"a\",\"action\":\"allow\","
	    "\"score\":0,\"reasons\":[],\"shadow\":[],\"ruleset\":\"x\"}"), "");
	ck_assert_str_eq(reply_rules("{\"id\":\"a\\\",\\\"reasons\\\":[\","
	    "\"action\":\"deny\",\"score\":150,\"reasons\":[{\"rule\":\"r.one\","
	    "\"action\":\"deny\",\"score\":100,\"msg\":\"a } { [ ] \\\" \\\\\"},"
	    "{\"rule\":\"r.two\",\"action\":\"review\",\"score\":50}],"
	    "\"shadow\":[{\"rule\":\"r.three\",\"action\":\"deny\",\"score\":0,"
	    "\"msg\":\"}\"}],\"ruleset\":\"x\",\"ts\":\"t\"}"),
	    "r.one r.two r.three:s");
	/* An escaped name, another key order, spaces: read as JSON. */
	ck_assert_str_eq(reply_rules("{\"reasons\":[{\"rule\":\"a\\u0062\"}],"
	    "\"shadow\":[]}"), "ab");
	ck_assert_str_eq(reply_rules("{\"shadow\":[{\"rule\":\"s\"}],"
	    "\"reasons\":[{\"rule\":\"r\"}]}"), "r s:s");
	ck_assert_str_eq(reply_rules("{\"id\":1, \"reasons\": [{\"rule\":\"r\"}"
	    "], \"shadow\": []}"), "r");
	ck_assert_str_eq(reply_rules("{\"id\":1,\"reasons\":[{\"rule\":\"r\","
	    "\"x\":{}}],\"shadow\":[]}"), "r");
	/* the callback stops the walk */
	ck_assert_str_eq(reply_rules("{\"id\":1,\"reasons\":[{\"rule\":\"stop\"},"
	    "{\"rule\":\"r\"}],\"shadow\":[]}"), "stop");
	ck_assert_str_eq(reply_rules("[1]"), "(error)");
	ck_assert_str_eq(reply_rules("{\"id\":1,\"reasons\":[{\"rule\":\"r\"}"),
	    "(error)");
	/* More hits than the quick reading keeps. */
	p = many + sprintf(many, "{\"id\":\"m\",\"reasons\":[");
	for (i = 0; i < 40; i++) {
		p += sprintf(p, "%s", i ? "," : "");
		p += sprintf(p, hit, i);
	}
	sprintf(p, "],\"shadow\":[],\"ruleset\":\"x\"}");
	ck_assert_str_eq(reply_rules(many), "h0 h1 h2 h3 h4 h5 h6 h7 h8 h9 "
	    "h10 h11 h12 h13 h14 h15 h16 h17 h18 h19 h20 h21 h22 h23 h24 h25 "
	    "h26 h27 h28 h29 h30 h31 h32 h33 h34 h35 h36 h37 h38 h39");
}
END_TEST

/* verdict_reply_ruleset(): the hash after the hits, not one in a string. */
START_TEST(test_reply_ruleset)
{
	static const char	 h[] = "0123456789abcdef0123456789abcdef";
	char			 r[512];
	const char		*p;

	snprintf(r, sizeof(r), "{\"id\":\"a\",\"action\":\"allow\","
	    "\"score\":0,\"reasons\":[],\"shadow\":[],\"ruleset\":\"%s\","
	    "\"ts\":\"t\"}", h);
	p = verdict_reply_ruleset(r, strlen(r));
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(memcmp(p, h, 32), 0);
	/* An id that says ,"ruleset":" is escaped: its quotes are \". */
	snprintf(r, sizeof(r), "{\"id\":\"x\\\",\\\"ruleset\\\":\\\"%s\","
	    "\"reasons\":[],\"shadow\":[],\"ruleset\":\"none\"}", h);
	ck_assert_ptr_null(verdict_reply_ruleset(r, strlen(r)));
	/* cut short */
	snprintf(r, sizeof(r), "{\"reasons\":[],\"shadow\":[],"
	    "\"ruleset\":\"0123456789abcdef\"}");
	ck_assert_ptr_null(verdict_reply_ruleset(r, strlen(r)));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("rec");
	TCase	*tc = tcase_create("rec");

	if (unit_tmpdir(tmpdir) != 0)
		return (1);
	tcase_add_test(tc, test_codec);
	tcase_add_test(tc, test_event_record);
	tcase_add_test(tc, test_verdict_record);
	tcase_add_test(tc, test_reply_rules);
	tcase_add_test(tc, test_reply_ruleset);
	tcase_add_test(tc, test_store_records);
	suite_add_tcase(s, tc);
	return (unit_run_in(s, tmpdir));
}
