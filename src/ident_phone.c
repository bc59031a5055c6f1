/*
 * ident_phone.c: the country of a phone number's calling code (the
 * phone.country fact). International numbers only ("+" and the code, as
 * E.164 writes them): a national number ("030 1234567") says nothing of
 * its country. The codes and their countries are libphonenumber's
 * (libphonenumber-js 1.13.18, metadata.min.json's country_calling_codes);
 * where a code serves several countries, the number is the one whose
 * leading digits libphonenumber lists for it (+7 7: Kazakhstan; +358 18:
 * Åland; +44 1624: the Isle of Man), else the code's main country
 * (Guernsey's and Jersey's numbers are the United Kingdom's: only their
 * full number patterns tell them apart). +1, shared by the United States,
 * Canada and twenty-three other countries whose area codes decide, has
 * none. Calling codes are a prefix code: no code starts another, so the
 * first of the one-, two- and three-digit prefixes found is the one.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ident_int.h"
#include "util.h"

struct calling_code {
	char	code[4];	/* digits, NUL-terminated */
	char	cc[3];		/* ISO 3166-1 alpha-2 */
};

/* Sorted by code as strings (strcmp). */
static const struct calling_code calling_codes[] = {
	{ "20", "EG" }, { "211", "SS" }, { "212", "MA" }, { "213", "DZ" },
	{ "216", "TN" }, { "218", "LY" }, { "220", "GM" }, { "221", "SN" },
	{ "222", "MR" }, { "223", "ML" }, { "224", "GN" }, { "225", "CI" },
	{ "226", "BF" }, { "227", "NE" }, { "228", "TG" }, { "229", "BJ" },
	{ "230", "MU" }, { "231", "LR" }, { "232", "SL" }, { "233", "GH" },
	{ "234", "NG" }, { "235", "TD" }, { "236", "CF" }, { "237", "CM" },
	{ "238", "CV" }, { "239", "ST" }, { "240", "GQ" }, { "241", "GA" },
	{ "242", "CG" }, { "243", "CD" }, { "244", "AO" }, { "245", "GW" },
	{ "246", "IO" }, { "247", "AC" }, { "248", "SC" }, { "249", "SD" },
	{ "250", "RW" }, { "251", "ET" }, { "252", "SO" }, { "253", "DJ" },
	{ "254", "KE" }, { "255", "TZ" }, { "256", "UG" }, { "257", "BI" },
	{ "258", "MZ" }, { "260", "ZM" }, { "261", "MG" }, { "262", "RE" },
	{ "263", "ZW" }, { "264", "NA" }, { "265", "MW" }, { "266", "LS" },
	{ "267", "BW" }, { "268", "SZ" }, { "269", "KM" }, { "27", "ZA" },
	{ "290", "SH" }, { "291", "ER" }, { "297", "AW" }, { "298", "FO" },
	{ "299", "GL" }, { "30", "GR" }, { "31", "NL" }, { "32", "BE" },
	{ "33", "FR" }, { "34", "ES" }, { "350", "GI" }, { "351", "PT" },
	{ "352", "LU" }, { "353", "IE" }, { "354", "IS" }, { "355", "AL" },
	{ "356", "MT" }, { "357", "CY" }, { "358", "FI" }, { "359", "BG" },
	{ "36", "HU" }, { "370", "LT" }, { "371", "LV" }, { "372", "EE" },
	{ "373", "MD" }, { "374", "AM" }, { "375", "BY" }, { "376", "AD" },
	{ "377", "MC" }, { "378", "SM" }, { "380", "UA" }, { "381", "RS" },
	{ "382", "ME" }, { "383", "XK" }, { "385", "HR" }, { "386", "SI" },
	{ "387", "BA" }, { "389", "MK" }, { "39", "IT" }, { "40", "RO" },
	{ "41", "CH" }, { "420", "CZ" }, { "421", "SK" }, { "423", "LI" },
	{ "43", "AT" }, { "44", "GB" }, { "45", "DK" }, { "46", "SE" },
	{ "47", "NO" }, { "48", "PL" }, { "49", "DE" }, { "500", "FK" },
	{ "501", "BZ" }, { "502", "GT" }, { "503", "SV" }, { "504", "HN" },
	{ "505", "NI" }, { "506", "CR" }, { "507", "PA" }, { "508", "PM" },
	{ "509", "HT" }, { "51", "PE" }, { "52", "MX" }, { "53", "CU" },
	{ "54", "AR" }, { "55", "BR" }, { "56", "CL" }, { "57", "CO" },
	{ "58", "VE" }, { "590", "GP" }, { "591", "BO" }, { "592", "GY" },
	{ "593", "EC" }, { "594", "GF" }, { "595", "PY" }, { "596", "MQ" },
	{ "597", "SR" }, { "598", "UY" }, { "599", "CW" }, { "60", "MY" },
	{ "61", "AU" }, { "62", "ID" }, { "63", "PH" }, { "64", "NZ" },
	{ "65", "SG" }, { "66", "TH" }, { "670", "TL" }, { "672", "NF" },
	{ "673", "BN" }, { "674", "NR" }, { "675", "PG" }, { "676", "TO" },
	{ "677", "SB" }, { "678", "VU" }, { "679", "FJ" }, { "680", "PW" },
	{ "681", "WF" }, { "682", "CK" }, { "683", "NU" }, { "685", "WS" },
	{ "686", "KI" }, { "687", "NC" }, { "688", "TV" }, { "689", "PF" },
	{ "690", "TK" }, { "691", "FM" }, { "692", "MH" }, { "7", "RU" },
	{ "81", "JP" }, { "82", "KR" }, { "84", "VN" }, { "850", "KP" },
	{ "852", "HK" }, { "853", "MO" }, { "855", "KH" }, { "856", "LA" },
	{ "86", "CN" }, { "880", "BD" }, { "886", "TW" }, { "90", "TR" },
	{ "91", "IN" }, { "92", "PK" }, { "93", "AF" }, { "94", "LK" },
	{ "95", "MM" }, { "960", "MV" }, { "961", "LB" }, { "962", "JO" },
	{ "963", "SY" }, { "964", "IQ" }, { "965", "KW" }, { "966", "SA" },
	{ "967", "YE" }, { "968", "OM" }, { "970", "PS" }, { "971", "AE" },
	{ "972", "IL" }, { "973", "BH" }, { "974", "QA" }, { "975", "BT" },
	{ "976", "MN" }, { "977", "NP" }, { "98", "IR" }, { "992", "TJ" },
	{ "993", "TM" }, { "994", "AZ" }, { "995", "GE" }, { "996", "KG" },
	{ "998", "UZ" },
};

/* A shared code's other countries, by the national number's first digits. */
static const struct {
	const char	*code;
	const char	*lead;
	char		 cc[3];
} calling_leads[] = {
	{ "7", "7", "KZ" },
	{ "44", "74576", "IM" }, { "44", "1624", "IM" }, { "44", "7524", "IM" },
	{ "44", "7624", "IM" },
	{ "47", "79", "SJ" },
	{ "290", "8", "TA" },
	{ "358", "18", "AX" },
	{ "39", "06698", "VA" },
	{ "599", "3", "BQ" }, { "599", "4", "BQ" }, { "599", "7", "BQ" },
};

static int
calling_code_cmp(const void *key, const void *elem)
{
	return (strcmp(key, ((const struct calling_code *)elem)->code));
}

const char *
ident_phone_country(const char *digits, size_t len)
{
	const struct calling_code	*c;
	char				 code[4];
	size_t				 i, n, l;

	for (n = 1; n <= 3 && n < len; n++) {
		memcpy(code, digits, n);
		code[n] = '\0';
		if (n == 1 && code[0] == '1')
			return (NULL);
		c = bsearch(code, calling_codes, sizeof(calling_codes) /
		    sizeof(calling_codes[0]), sizeof(calling_codes[0]),
		    calling_code_cmp);
		if (c == NULL)
			continue;
		for (i = 0; i < nitems(calling_leads); i++) {
			l = strlen(calling_leads[i].lead);
			if (strcmp(calling_leads[i].code, code) == 0 &&
			    len - n >= l &&
			    memcmp(digits + n, calling_leads[i].lead, l) == 0)
				return (calling_leads[i].cc);
		}
		return (c->cc);
	}
	return (NULL);
}
