/* geo.c: placeholder until GeoIP lands. */
#include "config.h"
#include "geo.h"
