/*
 * ident_device.c: device fingerprints from client attributes.
 *
 *   device        every attribute but "id", canonicalized, sorted by name
 *   device.fuzzy  the stable subset: browser and OS family from "ua" (no
 *                 versions), tz, lang, screen (orientation-free), platform
 *   device.stable the device's own attributes without version numbers:
 *                 "ua" with its versions cut out (the model kept), tz,
 *                 lang, screen (orientation-free), platform, hw, webgl,
 *                 fonts; no canvas, no attribute refguard does not know
 *   device.id     the SDK's "id"
 *
 * docs/identity.md lists the exact canonical forms; changing them changes
 * every stored fingerprint.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "ident_int.h"
#include "util.h"

enum dev_kind {
	DK_EXTRA, DK_ID, DK_UA, DK_TZ, DK_LANG, DK_SCREEN, DK_PLATFORM,
	DK_HW, DK_CANVAS, DK_WEBGL, DK_FONTS,
};

static const struct {
	const char	*name;
	enum dev_kind	 kind;
} dev_known[] = {
	{ "id", DK_ID }, { "ua", DK_UA }, { "tz", DK_TZ }, { "lang", DK_LANG },
	{ "screen", DK_SCREEN }, { "platform", DK_PLATFORM }, { "hw", DK_HW },
	{ "canvas", DK_CANVAS }, { "webgl", DK_WEBGL }, { "fonts", DK_FONTS },
};

struct dev_item {
	char			 key[IDENT_DEV_KEYMAX + 1];	/* lowercased */
	size_t			 keylen;
	enum dev_kind		 kind;
	const char		*val;		/* trimmed */
	size_t			 vallen;
};

/* Scratch for one canonical value: fonts may need 2 bytes per input byte. */
#define DEV_CANON_MAX	(IDENT_DEV_VALMAX + 1)

/* ---- user agent families ------------------------------------------- */

struct dev_token {
	const char	*tok;
	const char	*family;
};

/* First match wins: the specific browsers before the engines they wrap. */
static const struct dev_token dev_browsers[] = {
	{ "bot/", "bot" }, { "bot;", "bot" }, { "spider", "bot" },
	{ "crawler", "bot" },
	{ "edg/", "edge" }, { "edge/", "edge" }, { "edga/", "edge" },
	{ "edgios/", "edge" },
	{ "opr/", "opera" }, { "opt/", "opera" }, { "opios/", "opera" },
	{ "opera", "opera" },
	{ "samsungbrowser/", "samsung" },
	{ "yabrowser/", "yandex" }, { "ucbrowser/", "uc" },
	{ "vivaldi/", "vivaldi" },
	{ "fban/", "facebook" }, { "fbav/", "facebook" },
	{ "instagram", "instagram" },
	{ "fxios/", "firefox" }, { "firefox/", "firefox" },
	{ "crios/", "chrome" },
	{ "; wv)", "webview" },
	{ "headlesschrome/", "headless" },
	{ "chrome/", "chrome" }, { "chromium/", "chrome" },
	{ "msie ", "ie" }, { "trident/", "ie" },
};

static const struct dev_token dev_oses[] = {
	{ "windows phone", "windowsphone" }, { "windows", "windows" },
	{ "win64", "windows" }, { "win32", "windows" },
	{ "iphone", "ios" }, { "ipad", "ios" }, { "ipod", "ios" },
	{ "ios", "ios" }, { "cpu os ", "ios" },
	{ "android", "android" },
	{ "cros", "chromeos" },
	{ "mac os x", "macos" }, { "macintosh", "macos" }, { "macos", "macos" },
	{ "darwin", "darwin" },
	{ "linux", "linux" }, { "freebsd", "bsd" }, { "openbsd", "bsd" },
	{ "netbsd", "bsd" }, { "x11", "unix" },
};

static bool
dev_has(const char *s, size_t len, const char *tok)
{
	return (memmem(s, len, tok, strlen(tok)) != NULL);
}

static const char *
dev_match(const char *s, size_t len, const struct dev_token *t, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (dev_has(s, len, t[i].tok))
			return (t[i].family);
	return (NULL);
}

/*
 * App and SDK agents ("MyApp/3.2 (iPhone; iOS 17.1)", "okhttp/4.9.0",
 * "Dalvik/2.1.0 (Linux; U; Android 13)") are named by their first
 * product token, without the version.
 */
static size_t
dev_app_family(const char *ua, size_t len, char *out, size_t cap)
{
	size_t	i;

	for (i = 0; i < len && i + 1 < cap; i++) {
		if (ua[i] == '/' || ua[i] == ' ' || ua[i] == '(' || ua[i] == ';')
			break;
		out[i] = ua[i];
	}
	return (i);
}

/*
 * The browser family of a canonical (lowercased) user agent, or NULL for
 * an app's or an SDK's agent (not "Mozilla/", no browser's token).
 */
static const char *
dev_ua_browser(const char *ua, size_t len)
{
	const char	*b;

	b = dev_match(ua, len, dev_browsers, nitems(dev_browsers));
	if (b == NULL && len >= 8 && memcmp(ua, "mozilla/", 8) == 0) {
		if (dev_has(ua, len, "safari/") && dev_has(ua, len, "version/"))
			b = "safari";
		else if (dev_has(ua, len, "applewebkit"))
			b = "webview";
		else
			b = "other";
	}
	return (b);
}

/* "browser/os" from a canonical (lowercased) user agent. */
static size_t
dev_ua_family(const char *ua, size_t len, char *out, size_t cap)
{
	const char	*b, *os;
	char		 app[33];
	size_t		 n;

	if ((os = dev_match(ua, len, dev_oses, nitems(dev_oses))) == NULL)
		os = "other";
	b = dev_ua_browser(ua, len);
	if (b == NULL) {
		n = dev_app_family(ua, len, app, sizeof(app));
		app[n] = '\0';
		b = n > 0 ? app : "other";
	}
	/* "app:" keeps an app named "chrome" apart from the browser */
	if (b == app)
		n = (size_t)snprintf(out, cap, "app:%s/%s", b, os);
	else
		n = (size_t)snprintf(out, cap, "%s/%s", b, os);
	return (n < cap ? n : cap - 1);
}

/* ---- canonical values ---------------------------------------------- */

/* Blank runs become one space; ASCII lowercased when fold is set. */
static size_t
dev_canon_text(const char *s, size_t len, bool fold, char *out)
{
	size_t	i, o = 0;
	char	c;

	for (i = 0; i < len; i++) {
		c = s[i];
		if (c == ' ' || c == '\t') {
			if (o > 0 && out[o - 1] == ' ')
				continue;
			c = ' ';
		} else if (fold && c >= 'A' && c <= 'Z')
			c = (char)(c + ('a' - 'A'));
		out[o++] = c;
	}
	return (o);
}

size_t
ident_device_ua_family(const char *ua, size_t len, char *out, size_t cap)
{
	char	buf[DEV_CANON_MAX];

	if (len > IDENT_DEV_VALMAX)
		len = IDENT_DEV_VALMAX;
	ident_trim(&ua, &len);
	len = dev_canon_text(ua, len, true, buf);
	return (dev_ua_family(buf, len, out, cap));
}

/* "en_GB, en;q=0.9" -> "en-gb,en;q=0.9" */
static size_t
dev_canon_lang(const char *s, size_t len, char *out)
{
	size_t	i, o = 0;
	char	c;

	for (i = 0; i < len; i++) {
		c = s[i];
		if (c == ' ' || c == '\t')
			continue;
		if (c == '_')
			c = '-';
		else if (c >= 'A' && c <= 'Z')
			c = (char)(c + ('a' - 'A'));
		out[o++] = c;
	}
	return (o);
}

/*
 * Screen sizes: "1920x1080", "1920 × 1080", "1920*1080x24" -> "1920x1080"
 * (+"x24" when a depth is given). With sorted set, larger side first so
 * that a rotated phone keeps its fuzzy fingerprint. 0 when not W x H.
 */
static size_t
dev_canon_screen(const char *s, size_t len, bool sorted, char *out)
{
	unsigned long	v[3] = { 0, 0, 0 }, t;
	size_t		i, nv = 0, digits = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && s[i] >= '0' && s[i] <= '9') {
			if (++digits > 6 || nv == 3)
				return (0);
			v[nv] = v[nv] * 10 + (unsigned long)(s[i] - '0');
			continue;
		}
		if (digits > 0) {
			nv++;
			digits = 0;
		}
		if (i == len)
			break;
		if (s[i] == 'x' || s[i] == 'X' || s[i] == '*' || s[i] == ' ' ||
		    s[i] == ',')
			continue;
		if (len - i >= 2 && memcmp(s + i, "\xc3\x97", 2) == 0) {
			i++;	/* U+00D7 multiplication sign */
			continue;
		}
		return (0);
	}
	if (nv < 2)
		return (0);
	if (sorted && v[1] > v[0]) {
		t = v[0];
		v[0] = v[1];
		v[1] = t;
	}
	if (nv == 3 && !sorted)
		return ((size_t)snprintf(out, DEV_CANON_MAX, "%lux%lux%lu",
		    v[0], v[1], v[2]));
	return ((size_t)snprintf(out, DEV_CANON_MAX, "%lux%lu", v[0], v[1]));
}

struct dev_span {
	uint16_t	off;
	uint16_t	len;
};

static int
dev_span_cmp(const char *base, const struct dev_span *a,
    const struct dev_span *b)
{
	size_t	n = a->len < b->len ? a->len : b->len;
	int	c = memcmp(base + a->off, base + b->off, n);

	return (c != 0 ? c : (int)a->len - (int)b->len);
}

/* Font lists: lowercased, items trimmed, sorted, duplicates dropped. */
static size_t
dev_canon_fonts(const char *s, size_t len, char *out)
{
	char		 low[IDENT_DEV_VALMAX];
	struct dev_span	 sp[IDENT_DEV_VALMAX / 2 + 1], t;
	size_t		 n = 0, i, j, o = 0, start = 0;
	const char	*item;
	size_t		 ilen;

	len = dev_canon_text(s, len, true, low);
	for (i = 0; i <= len; i++) {
		if (i < len && low[i] != ',')
			continue;
		item = low + start;
		ilen = i - start;
		start = i + 1;
		ident_trim(&item, &ilen);
		if (ilen == 0)
			continue;
		sp[n].off = (uint16_t)(item - low);
		sp[n].len = (uint16_t)ilen;
		/* insertion sort: lists are short */
		for (j = n++; j > 0 && dev_span_cmp(low, &sp[j], &sp[j - 1]) < 0;
		    j--) {
			t = sp[j];
			sp[j] = sp[j - 1];
			sp[j - 1] = t;
		}
	}
	for (i = 0; i < n; i++) {
		if (i > 0 && dev_span_cmp(low, &sp[i], &sp[i - 1]) == 0)
			continue;
		if (o > 0)
			out[o++] = ',';
		memcpy(out + o, low + sp[i].off, sp[i].len);
		o += sp[i].len;
	}
	return (o);
}

/* The canonical value of it into out (DEV_CANON_MAX bytes). */
static size_t
dev_canon(const struct dev_item *it, char *out)
{
	size_t	n;

	switch (it->kind) {
	case DK_LANG:
		return (dev_canon_lang(it->val, it->vallen, out));
	case DK_SCREEN:
		if ((n = dev_canon_screen(it->val, it->vallen, false, out)) > 0)
			return (n);
		return (dev_canon_text(it->val, it->vallen, true, out));
	case DK_FONTS:
		return (dev_canon_fonts(it->val, it->vallen, out));
	case DK_UA:
	case DK_TZ:
	case DK_PLATFORM:
	case DK_HW:
	case DK_WEBGL:
		return (dev_canon_text(it->val, it->vallen, true, out));
	default:	/* canvas hashes, extras: case may matter */
		return (dev_canon_text(it->val, it->vallen, false, out));
	}
}

/* ---- validation ---------------------------------------------------- */

static const char *
dev_check_key(const struct dev_attr *a, struct dev_item *it)
{
	size_t	i;
	char	c;

	if (a->keylen == 0)
		return ("empty attribute name");
	if (a->keylen > IDENT_DEV_KEYMAX)
		return ("attribute name longer than 64 bytes");
	for (i = 0; i < a->keylen; i++) {
		c = a->key[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + ('a' - 'A'));
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-' || c == '.'))
			return ("attribute name has characters other than "
			    "letters, digits, '_', '-' and '.'");
		it->key[i] = c;
	}
	it->key[a->keylen] = '\0';
	it->keylen = a->keylen;
	it->kind = DK_EXTRA;
	for (i = 0; i < nitems(dev_known); i++)
		if (strcmp(it->key, dev_known[i].name) == 0)
			it->kind = dev_known[i].kind;
	return (NULL);
}

static const char *
dev_check(const struct dev_attr *a, struct dev_item *it)
{
	const char	*e;

	if ((e = dev_check_key(a, it)) != NULL)
		return (e);
	if (a->vallen > IDENT_DEV_VALMAX)
		return ("longer than 1024 bytes");
	if (a->vallen > 0 && a->val == NULL)
		return ("missing value");
	if (ident_has_ctl(a->val, a->vallen))
		return ("contains control characters");
	if (utf8_valid(a->val, a->vallen) != a->vallen)
		return ("not valid UTF-8");
	it->val = a->val;
	it->vallen = a->vallen;
	ident_trim(&it->val, &it->vallen);
	return (NULL);
}

/* ---- hashing ------------------------------------------------------- */

static void
dev_feed(XXH3_state_t *st, const char *k, size_t klen, const char *v,
    size_t vlen)
{
	uint8_t	kl = (uint8_t)klen, vl[2];

	vl[0] = (uint8_t)(vlen >> 8);
	vl[1] = (uint8_t)vlen;
	XXH3_128bits_update(st, &kl, 1);
	XXH3_128bits_update(st, k, klen);
	XXH3_128bits_update(st, vl, 2);
	XXH3_128bits_update(st, v, vlen);
}

/* Exact fingerprint: needs one high-entropy attribute. */
static void
dev_exact(const struct ident *id, const struct dev_item *it, size_t n,
    struct party *p)
{
	XXH3_state_t	st;
	char		buf[DEV_CANON_MAX];
	size_t		i, len;
	bool		strong = false;

	ident_hash_begin(id, ENT_DEVICE, &st);
	for (i = 0; i < n; i++) {
		if (it[i].kind == DK_ID || it[i].vallen == 0)
			continue;	/* empty values say nothing */
		strong |= it[i].kind == DK_UA || it[i].kind == DK_CANVAS ||
		    it[i].kind == DK_WEBGL || it[i].kind == DK_FONTS;
		len = dev_canon(&it[i], buf);
		dev_feed(&st, it[i].key, it[i].keylen, buf, len);
	}
	if (!strong)
		return;
	ident_hash_end(&st, &p->h[ENT_DEVICE]);
	p->have |= 1u << ENT_DEVICE;
}

static const struct dev_item *
dev_find(const struct dev_item *it, size_t n, enum dev_kind k)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (it[i].kind == k && it[i].vallen > 0)
			return (&it[i]);
	return (NULL);
}

/*
 * Fuzzy fingerprint: needs ua (u, its canonical form; NULL without one)
 * and one more stable attribute.
 */
static void
dev_fuzzy(const struct ident *id, const struct dev_item *it, size_t n,
    const char *u, size_t ul, struct party *p)
{
	static const enum dev_kind	 rest[] = {
		DK_TZ, DK_LANG, DK_SCREEN, DK_PLATFORM,
	};
	XXH3_state_t			 st;
	const struct dev_item		*x;
	char				 buf[DEV_CANON_MAX], fam[96];
	size_t				 i, len, more = 0;

	if (u == NULL)
		return;
	ident_hash_begin(id, ENT_DEVICE_FUZZY, &st);
	len = dev_ua_family(u, ul, fam, sizeof(fam));
	dev_feed(&st, "ua", 2, fam, len);
	for (i = 0; i < nitems(rest); i++) {
		if ((x = dev_find(it, n, rest[i])) == NULL)
			continue;
		if (x->kind != DK_SCREEN ||
		    (len = dev_canon_screen(x->val, x->vallen, true, buf)) == 0)
			len = dev_canon(x, buf);
		dev_feed(&st, x->key, x->keylen, buf, len);
		more++;
	}
	if (more == 0)
		return;
	ident_hash_end(&st, &p->h[ENT_DEVICE_FUZZY]);
	p->have |= 1u << ENT_DEVICE_FUZZY;
}

/*
 * A user agent without its version numbers: a token that starts with a
 * digit after anything but a letter or digit ("chrome/120.0.6099.71",
 * "os 17_4", "mobile/15e148", "rv:121.0") is cut out up to the next
 * character that is not a letter, digit, '.' or '_'; digits inside a
 * word stay ("sm-s918b", "win64", "iphone15,"). ua is canonical
 * (lowercased); out has room for len bytes.
 */
static size_t
dev_ua_unversioned(const char *ua, size_t len, char *out)
{
	size_t	i, o = 0;

	for (i = 0; i < len; i++) {
		if (ua[i] >= '0' && ua[i] <= '9' &&
		    (i == 0 || !isalnum((unsigned char)ua[i - 1]))) {
			while (i + 1 < len && (isalnum((unsigned char)ua[i + 1]) ||
			    ua[i + 1] == '.' || ua[i + 1] == '_'))
				i++;
			continue;
		}
		out[o++] = ua[i];
	}
	return (o);
}

/*
 * Stable fingerprint: the known attributes that a browser, app or OS
 * update leaves alone, in name order. Needs ua and one more.
 */
static void
dev_stable(const struct ident *id, const struct dev_item *it, size_t n,
    struct party *p)
{
	XXH3_state_t	st;
	char		buf[DEV_CANON_MAX], cut[DEV_CANON_MAX];
	size_t		i, len, more = 0;
	bool		ua = false;

	ident_hash_begin(id, ENT_DEVICE_STABLE, &st);
	for (i = 0; i < n; i++) {
		if (it[i].vallen == 0)
			continue;
		switch (it[i].kind) {
		case DK_UA:
			len = dev_canon(&it[i], buf);
			len = dev_ua_unversioned(buf, len, cut);
			dev_feed(&st, it[i].key, it[i].keylen, cut, len);
			ua = true;
			continue;
		case DK_SCREEN:
			if ((len = dev_canon_screen(it[i].val, it[i].vallen,
			    true, buf)) == 0)
				len = dev_canon(&it[i], buf);
			break;
		case DK_TZ:
		case DK_LANG:
		case DK_PLATFORM:
		case DK_HW:
		case DK_WEBGL:
		case DK_FONTS:
			len = dev_canon(&it[i], buf);
			break;
		default:	/* id, canvas, attributes not known */
			continue;
		}
		dev_feed(&st, it[i].key, it[i].keylen, buf, len);
		more++;
	}
	if (!ua || more == 0)
		return;
	ident_hash_end(&st, &p->h[ENT_DEVICE_STABLE]);
	p->have |= 1u << ENT_DEVICE_STABLE;
}

/* ---- emulators ------------------------------------------------------ */

/* Does canon, an item's canonical value (dev_canon), hold any of toks? */
static bool
dev_says(const char *canon, size_t len, const char *const *toks)
{
	for (; *toks != NULL; toks++)
		if (dev_has(canon, len, *toks))
			return (true);
	return (false);
}

/*
 * Phones are ARM: since the last Atom phones (2016) an Android that runs
 * on x86 is an emulator (BlueStacks, LDPlayer, MuMu, Nox, the SDK's),
 * whatever model it claims; the SDK's own images also name themselves.
 * An app says its ABI ("hw"); a browser says its platform, and there
 * only 32-bit x86 counts: Chrome's device mode on a desktop, and many
 * real fingerprints besides, show an Android agent beside "Linux
 * x86_64", while no desktop has shipped a 32-bit Chrome since 2016.
 */
static bool
dev_emulator(const struct dev_item *it, size_t n, const char *u, size_t ul)
{
	static const char *const android[] = { "android", NULL };
	static const char *const abi[] = { "x86", "i686", NULL };
	static const char *const ia32[] = { "i686", "i386", NULL };
	static const char *const images[] = { "sdk_gphone", "sdk built for",
	    "generic_x86", "vbox86", "genymotion", NULL };
	const struct dev_item	*platform, *hw;
	char			 p[DEV_CANON_MAX], h[DEV_CANON_MAX];
	size_t			 pl = 0, hl = 0;

	if ((platform = dev_find(it, n, DK_PLATFORM)) != NULL)
		pl = dev_canon(platform, p);
	if ((hw = dev_find(it, n, DK_HW)) != NULL)
		hl = dev_canon(hw, h);
	if (dev_says(u, ul, images))
		return (true);
	if (!dev_says(u, ul, android) && !dev_says(p, pl, android))
		return (false);
	return (dev_says(h, hl, abi) || dev_says(p, pl, ia32));
}

/* ---- browsers and apps ---------------------------------------------- */

/* Does s (len bytes) start with p? */
static bool
dev_prefix(const char *s, size_t len, const char *p)
{
	size_t	pl = strlen(p);

	return (len >= pl && memcmp(s, p, pl) == 0);
}

/*
 * A web browser's agent, not an app's: one that starts with "Mozilla/"
 * and is no crawler's (dev_ua_browser's families but "bot"), or with a
 * browser's own name ("Opera/9.80"). In-app browsers and webviews count
 * (the page, not the app, asked), and so do headless browsers: a script
 * driving a browser is a browser. An app whose name or agent holds a
 * browser's ("SmartEdge/2.0", "Shoply/5.3 (via Instagram)") does not.
 * u is the canonical agent.
 */
static bool
dev_browser(const char *u, size_t ul)
{
	const char	*b;
	size_t		 i;

	if (dev_prefix(u, ul, "mozilla/")) {
		b = dev_ua_browser(u, ul);
		return (b != NULL && strcmp(b, "bot") != 0);
	}
	for (i = 0; i < nitems(dev_browsers); i++) {
		if (dev_prefix(u, ul, dev_browsers[i].tok))
			return (strcmp(dev_browsers[i].family, "bot") != 0);
	}
	return (false);
}

/* ---- phone models --------------------------------------------------- */

static bool
dev_all(const char *s, size_t len, int (*is)(int))
{
	for (; len > 0; s++, len--)
		if (!is((unsigned char)*s))
			return (false);
	return (true);
}

static bool
dev_has_digit(const char *s, size_t len)
{
	for (; len > 0; s++, len--)
		if (*s >= '0' && *s <= '9')
			return (true);
	return (false);
}

/* Trim blanks around the item s .. e; its length. */
static size_t
dev_item_trim(const char **s, const char *e)
{
	size_t	len;

	while (*s < e && **s == ' ')
		(*s)++;
	len = (size_t)(e - *s);
	while (len > 0 && (*s)[len - 1] == ' ')
		len--;
	return (len);
}

/* A locale: two or three letters, "-" or "_", two letters or three digits. */
static bool
dev_locale(const char *s, size_t len)
{
	const char	*sep;
	size_t		 a, r;

	if ((sep = memchr(s, '-', len)) == NULL &&
	    (sep = memchr(s, '_', len)) == NULL)
		return (false);
	a = (size_t)(sep - s);
	r = len - a - 1;
	return ((a == 2 || a == 3) && dev_all(s, a, isalpha) &&
	    ((r == 2 && dev_all(sep + 1, 2, isalpha)) ||
	    (r == 3 && dev_all(sep + 1, 3, isdigit))));
}

/*
 * The region of the first language a device names, uppercased into out
 * (3 bytes): "en_GB, en;q=0.9" -> "GB", "zh-Hant-TW" -> "TW". The first
 * tag is language[-script][-region] (BCP 47); a two-letter region after
 * the language, or after a four-letter script, is the country. None
 * (false) for a tag without one ("de"), a numeric region ("es-419": a
 * part of the world, not a country) or anything else.
 */
static bool
dev_lang_country(const char *s, size_t len, char *out)
{
	size_t	i = 0, n, sub;

	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	for (sub = 0; i < len; sub++) {
		for (n = 0; i + n < len && s[i + n] != '-' && s[i + n] != '_' &&
		    s[i + n] != ',' && s[i + n] != ';' && s[i + n] != ' '; n++)
			;
		if (sub == 0 && (n < 2 || n > 3 || !dev_all(s + i, n, isalpha)))
			return (false);
		if (sub > 0 && n == 2 && dev_all(s + i, n, isalpha)) {
			out[0] = (char)toupper((unsigned char)s[i]);
			out[1] = (char)toupper((unsigned char)s[i + 1]);
			out[2] = '\0';
			return (true);
		}
		if (sub > 0 && (sub > 1 || n != 4 ||
		    !dev_all(s + i, n, isalpha)))
			return (false);
		i += n;
		if (i >= len || (s[i] != '-' && s[i] != '_'))
			return (false);
		i++;
	}
	return (false);
}

/*
 * An item of an agent's comment that is no phone model: one without a
 * digit ("u", "wv", "k", "mobile", "zh_cn_#hans"), a product token
 * ("scale/3.00"), a locale ("en-us", "es-419"), "sdk 33" or "api 33", an
 * ABI ("arm64-v8a", "x86_64"), a screen ("1080x2400").
 */
static bool
dev_not_model(const char *s, size_t len)
{
	const char	*x;

	if (len == 0 || !dev_has_digit(s, len) || memchr(s, '/', len) != NULL ||
	    dev_locale(s, len) || dev_prefix(s, len, "sdk ") ||
	    dev_prefix(s, len, "api ") || dev_prefix(s, len, "arm") ||
	    dev_prefix(s, len, "x86") || dev_prefix(s, len, "mips"))
		return (true);
	x = memchr(s, 'x', len);
	return (x != NULL && x > s && x < s + len - 1 &&
	    dev_all(s, (size_t)(x - s), isdigit) &&
	    dev_all(x + 1, len - (size_t)(x - s) - 1, isdigit));
}

/*
 * The model's part of an item: up to a " (" or a product token (" build/
 * ...", Xiaomi's " miui/..."), trailing blanks dropped.
 */
static size_t
dev_model_cut(const char *s, size_t len)
{
	size_t	i, k;

	for (i = 0; i < len; i++) {
		if (s[i] != ' ' || i + 1 == len)
			continue;
		if (s[i + 1] == '(')
			break;
		for (k = i + 1; k < len && isalpha((unsigned char)s[k]); k++)
			;
		if (k > i + 1 && k < len && s[k] == '/')
			break;
	}
	while (i > 0 && s[i - 1] == ' ')
		i--;
	return (i);
}

/* An Apple device identifier: "iphone17,3", "ipad13,4", "ipod9,1". */
static bool
dev_apple(const char *s, size_t len)
{
	const char	*c;
	size_t		 p;

	if (dev_prefix(s, len, "iphone"))
		p = 6;
	else if (dev_prefix(s, len, "ipad") || dev_prefix(s, len, "ipod"))
		p = 4;
	else
		return (false);
	if ((c = memchr(s, ',', len)) == NULL)
		return (false);
	return (c > s + p && c < s + len - 1 &&
	    dev_all(s + p, (size_t)(c - s) - p, isdigit) &&
	    dev_all(c + 1, len - (size_t)(c - s) - 1, isdigit));
}

static size_t
dev_model_put(const char *s, size_t len, char *out)
{
	if (len == 0 || len > RG_MODEL_MAX)
		return (0);
	memcpy(out, s, len);
	out[len] = '\0';
	return (len);
}

/*
 * The phone model an app's agent names, into out (RG_MODEL_MAX + 1
 * bytes); its length, 0 for none. u is the canonical (lowercased) agent.
 * Android puts it in a comment after "android VERSION", as the system's
 * own agent does ("dalvik/2.1.0 (linux; u; android 14; sm-a546b
 * build/up1a.231005.007)") and apps copy it ("myapp/3.2 (android 14;
 * pixel 8; build/...)"): the item that carries " build/", else the first
 * that is a model at all (dev_not_model), up to its " build/...",
 * " miui/..." or " (...", at most RG_MODEL_MAX bytes. Apple devices name
 * theirs in "hw" ("iphone17,3"), never in an agent. A browser's agent
 * (any "mozilla/" one, crawlers' too) names none worth having: Chrome's
 * reduced agent says "k" for every phone, and whatever else it says is
 * what a script set. Nor an emulator's (the caller's business): it
 * claims whatever model it was told to.
 */
static size_t
dev_model(const struct dev_item *it, size_t n, const char *u, size_t ul,
    char *out)
{
	const struct dev_item	*hw;
	const char		*c, *end, *s, *e, *first;
	char			 h[DEV_CANON_MAX];
	size_t			 hl, len, flen = 0;
	bool			 after, build;

	if (dev_prefix(u, ul, "mozilla/"))
		return (0);
	for (c = u; ul > 0 && (c = memchr(c, '(', ul - (size_t)(c - u))) !=
	    NULL; c = end + 1) {
		if ((end = memchr(c, ')', ul - (size_t)(c - u))) == NULL)
			break;
		after = false;
		first = NULL;
		for (s = c + 1; s < end; s = e + 1) {
			if ((e = memchr(s, ';', (size_t)(end - s))) == NULL)
				e = end;
			len = dev_item_trim(&s, e);
			if (dev_prefix(s, len, "android") &&
			    (len == 7 || s[7] == ' ')) {
				after = true;
				continue;
			}
			if (!after)
				continue;
			build = memmem(s, len, " build/", 7) != NULL;
			len = dev_model_cut(s, len);
			if (dev_not_model(s, len))
				continue;
			if (build)
				return (dev_model_put(s, len, out));
			if (first == NULL) {
				first = s;
				flen = len;
			}
		}
		if (first != NULL)
			return (dev_model_put(first, flen, out));
	}
	if ((hw = dev_find(it, n, DK_HW)) == NULL)
		return (0);
	hl = dev_canon(hw, h);
	for (s = h; s < h + hl; s = e + 1) {
		if ((e = memchr(s, ';', hl - (size_t)(s - h))) == NULL)
			e = h + hl;
		len = dev_item_trim(&s, e);
		if (dev_apple(s, len))
			return (dev_model_put(s, len, out));
	}
	return (0);
}

int
ident_device(const struct ident *id, const struct dev_attr *attrs, size_t n,
    struct party *p, const char **errkey, const char **err)
{
	struct dev_item		 it[IDENT_DEV_MAXATTRS], t;
	const struct dev_item	*idv, *ua;
	const char		*cc;
	char			 u[DEV_CANON_MAX];
	size_t			 i, j, used = 0, ul = 0;

	*errkey = NULL;
	if (n == 0) {
		*err = "empty device object";
		return (-1);
	}
	if (n > IDENT_DEV_MAXATTRS) {
		*err = "more than 32 attributes";
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if ((*err = dev_check(&attrs[i], &it[i])) != NULL) {
			*errkey = attrs[i].key;
			return (-1);
		}
		for (j = 0; j < i; j++) {
			if (strcmp(it[j].key, it[i].key) == 0) {
				*errkey = attrs[i].key;
				*err = "duplicate attribute (names ignore case)";
				return (-1);
			}
		}
		used += it[i].vallen > 0;
	}
	if (used == 0) {
		*err = "empty device object (every attribute is empty)";
		return (-1);
	}
	/* Sorted by name, so the order the client sent does not matter. */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(it[j].key, it[j - 1].key) < 0; j--) {
			t = it[j];
			it[j] = it[j - 1];
			it[j - 1] = t;
		}
	/* The canonical agent, for the fuzzy print and the facts. */
	if ((ua = dev_find(it, n, DK_UA)) != NULL)
		ul = dev_canon(ua, u);
	dev_exact(id, it, n, p);
	dev_fuzzy(id, it, n, ua != NULL ? u : NULL, ul, p);
	dev_stable(id, it, n, p);
	if (ua != NULL) {
		p->device_browser = dev_browser(u, ul);
		p->facts |= PF_DEVICE_BROWSER;
	}
	p->device_emulator = dev_emulator(it, n, u, ul);
	p->facts |= PF_DEVICE_EMULATOR;
	/* An emulator's model is whatever it was told to claim. */
	if ((ua == NULL || !p->device_browser) && !p->device_emulator &&
	    dev_model(it, n, u, ua != NULL ? ul : 0, p->device_model) > 0)
		p->facts |= PF_DEVICE_MODEL;
	if ((idv = dev_find(it, n, DK_ID)) != NULL)
		ident_set_hash(id, p, ENT_DEVICE_ID, idv->val, idv->vallen);
	if ((idv = dev_find(it, n, DK_TZ)) != NULL &&
	    (cc = ident_tz_country(id->tz, idv->val, idv->vallen)) != NULL) {
		memcpy(p->device_tz_country, cc, 3);
		p->facts |= PF_DEVICE_TZ;
	}
	if ((idv = dev_find(it, n, DK_LANG)) != NULL &&
	    dev_lang_country(idv->val, idv->vallen, p->device_lang_country))
		p->facts |= PF_DEVICE_LANG;
	return (0);
}
