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
 * Threading: a set is used by one thread at a time (lookups write to it);
 * geo_open() only reads the old set it is given.
 */
#ifndef REFGUARD_GEO_H
#define REFGUARD_GEO_H

#include <stddef.h>

#include <sys/socket.h>

#include "rgev.h"
#include "ident.h"	/* struct conf_str */

struct geo;

/*
 * A new set of the databases named in paths (in that order). Each file
 * must be a regular file (util.h file_open_regular); it is copied whole
 * into private memory (a memfd sealed against any change) and read from
 * there, so that a file overwritten or truncated in place afterwards
 * changes nothing until the next load, and a replaced file (geoipupdate
 * renames new files into place) is picked up by it.
 *
 * With old NULL (start-up) any file that fails fails the whole: NULL and
 * *cause. Otherwise a file that fails keeps the database old had opened
 * from the same path, if any (a handle of its own on the same private
 * copy), the failures are in *cause ("FILE:LINE: geoip_db PATH: reason",
 * several joined by "; ", caller frees; NULL when every file opened) and
 * the new set is returned. old is only read: the thread that uses it may
 * go on using it meanwhile. n == 0: an empty set.
 */
struct geo	*geo_open(const struct geo *old, const struct conf_str *paths,
		     size_t n, char **cause);
void		 geo_free(struct geo *);

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
