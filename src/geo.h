/*
 * geo.h: GeoIP facts from any number of MaxMind DB files.
 *
 * A geo holds an ordered set of opened databases. Each database is
 * classified when it is opened, from its metadata database_type, by the
 * facts it can give:
 *
 *   City, Country      country.iso_code, continent.code (GeoIP2 layout)
 *                      or a top-level country_code (ip-location-db layout)
 *   ASN, ISP           autonomous_system_number, autonomous_system_organization
 *   Anonymous-IP       is_anonymous, is_anonymous_vpn, is_tor_exit_node,
 *                      is_hosting_provider, is_residential_proxy
 *
 * A database of an unknown type is asked for all of them. When several
 * databases give the same fact, the first in configuration order wins.
 * A fact is set (GEO_* bit) only when a database has a record for the
 * address and the record carries that fact with the expected type;
 * absent flags in a found Anonymous-IP record read as false.
 *
 * Lookup errors (a corrupt data section or search tree) never crash: the
 * database answers nothing for that address and the first error of each
 * database is logged with log_warn.
 *
 * Threading: one thread at a time (the event loop).
 */
#ifndef REFGUARD_GEO_H
#define REFGUARD_GEO_H

#include <stddef.h>

#include <sys/socket.h>

#include "event.h"
#include "ident.h"	/* struct conf_str */

struct geo;

/* An empty set: lookups answer nothing. */
struct geo	*geo_new(void);
void		 geo_free(struct geo *);

/*
 * Make the set the databases named in paths (in that order), opening
 * each file anew so that a replaced file (geoipupdate renames new files
 * into place) is picked up. A file that fails to open keeps the database
 * previously opened from the same path, if any, and is reported in *cause
 * ("FILE:LINE: geoip_db PATH: reason", several joined by "; ", caller
 * frees; NULL when every file opened). Returns 0, or -1 if any failed.
 * With strict set, any failure leaves the set unchanged.
 */
int		 geo_load(struct geo *, const struct conf_str *paths, size_t n,
		     int strict, char **cause);

/* Number of databases in the set. */
size_t		 geo_count(const struct geo *);

/*
 * Fill *gf (zeroed first) with what the databases know about the address
 * in sa (AF_INET or AF_INET6, already parsed; not looked up as a string).
 * Allocates nothing.
 */
void		 geo_lookup(struct geo *, const struct sockaddr *sa,
		     struct geo_facts *gf);

/*
 * A JSON array (json_t *, new reference) describing each database: path,
 * database_type, build_epoch (null if it does not fit), node_count,
 * bytes (the file's size), ip_version and the facts it is used for.
 */
void		*geo_info(const struct geo *);

#endif
