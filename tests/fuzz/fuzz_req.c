/*
 * fuzz_req.c: libFuzzer harness for the request decoder (req_decode) and
 * its error replies. Linked with replay.c it is a plain program
 * that replays the saved corpus (tests/fuzz/corpus/req, or the files and
 * directories named on the command line) under make check.
 *
 * Beyond "no crash": a refused line has a known code and a message, its
 * error reply is valid JSON that says the same, an echoed id is short and
 * free of control bytes, and an accepted check or observe survives the
 * event record round trip byte for byte.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rgev.h"
#include "ident.h"
#include "analyst.h"
#include "req.h"
#include "util.h"

#include "replay.h"

const char	fuzz_name[] = "req";

static struct ident	*fuzz_id;

static void
fuzz_check_reply(const struct req_error *err, const struct rg_event *ev)
{
	json_error_t	 je;
	json_t		*j, *e, *jid;
	char		*r;
	size_t		 len;

	r = req_error_reply(err, ev->id, ev->idlen, &len);
	if (len != strlen(r) || memchr(r, '\n', len) != NULL)
		abort();
	if ((j = json_loadb(r, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		fprintf(stderr, "reply is not JSON: %s: %s\n", je.text, r);
		abort();
	}
	e = json_object_get(j, "error");
	if (!json_is_object(e) ||
	    !json_is_string(json_object_get(e, "code")) ||
	    strcmp(json_string_value(json_object_get(e, "code")),
	    err->code) != 0 ||
	    !json_is_string(json_object_get(e, "msg")))
		abort();
	jid = json_object_get(j, "id");
	if ((ev->idlen > 0) != (jid != NULL))
		abort();
	if (jid != NULL && (json_string_length(jid) != ev->idlen ||
	    memcmp(json_string_value(jid), ev->id, ev->idlen) != 0))
		abort();
	json_decref(j);
	free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rg_event	 ev, back;
	static uint8_t		 rec[EVENT_REC_MAX], rec2[EVENT_REC_MAX];
	struct req_opts		 o = { 1795428000000LL, 180 * 86400000LL,
				    3600000 };
	static struct analyst_req ar;
	struct req_error	 err;
	enum req_op		 op;
	size_t			 i, n, n2;

	if (fuzz_id == NULL)
		fuzz_id = fuzz_ident_new();
	/* The analyst's and the queue's fields: decoded, then released. */
	if (req_decode_full((const char *)data, size, fuzz_id, &o, &op, &ev,
	    &ar, &err) == 0 && analyst_op(op)) {
		if (ar.queue.nids > QUEUE_IDS_MAX ||
		    ar.queue.limit > QUEUE_LIMIT_MAX)
			abort();
		analyst_req_clear(&ar);
	}
	if (req_decode((const char *)data, size, fuzz_id, &o, &op, &ev,
	    &err) != 0) {
		if (err.code == NULL || err.msg[0] == '\0')
			abort();
		if (strcmp(err.code, "bad_json") != 0 &&
		    strcmp(err.code, "bad_request") != 0 &&
		    strcmp(err.code, "unknown_op") != 0)
			abort();
		if (strlen(err.field) >= sizeof(err.field) ||
		    strlen(err.msg) >= sizeof(err.msg))
			abort();
		if (ev.idlen > RG_ID_MAX || ev.id[ev.idlen] != '\0')
			abort();
		for (i = 0; i < ev.idlen; i++)
			if ((unsigned char)ev.id[i] < 0x20 || ev.id[i] == 0x7f)
				abort();
		fuzz_check_reply(&err, &ev);
		return (0);
	}
	if (op >= OP__MAX)
		abort();
	if (op != OP_CHECK && op != OP_OBSERVE)
		return (0);
	if (ev.ts < o.now - o.retention || ev.ts > o.now + o.max_future)
		abort();
	if (op == OP_CHECK && (ev.type != EV_REFERRAL || ev.nparties != 2 ||
	    !ev.has_edge || ev.idlen == 0 ||
	    !PARTY_HAS(&ev.party[0], ENT_ACCOUNT) ||
	    !PARTY_HAS(&ev.party[1], ENT_ACCOUNT)))
		abort();
	if (op == OP_OBSERVE && (ev.type == EV_REFERRAL || ev.nparties != 1))
		abort();
	/* What the store keeps reads back as the same event. */
	n = rgev_encode(&ev, rec);
	if (n == 0 || n > EVENT_REC_MAX)
		abort();
	memset(&back, 0, sizeof(back));
	if (rgev_decode(rec, n, &back) != 0)
		abort();
	n2 = rgev_encode(&back, rec2);
	if (n2 != n || memcmp(rec, rec2, n) != 0)
		abort();
	return (0);
}
