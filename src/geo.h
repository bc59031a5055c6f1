/* geo.h: MaxMind DB lookups (owned by the identity work; see ident.h). */
#ifndef REFGUARD_GEO_H
#define REFGUARD_GEO_H
#endif
