#pragma once

// What the edge says about its cache: the response headers of the major CDNs and caches,
// classified per layer. Matching is by token, never by substring ("MISS, HIT" is two
// layers; "TCP_REFRESH_MISS" is not a HIT).

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "cdnwarm/v1/common.pb.h"

namespace cdnwarm::warmer {

// Response headers: lower-case names, values of repeated headers joined with ", ".
using HeaderMap = std::map<std::string, std::string>;

struct CacheReport {
  // Every layer found, in the order the headers list them (origin side first where the
  // header defines an order).
  std::vector<cdnwarm::v1::CacheLayer> layers;
  // The status of the layer closest to the client, from the most authoritative header:
  // Cache-Status (RFC 9211) > CF-Cache-Status > X-Cache-Status > X-Cache > X-Varnish (one
  // id: MISS, two: HIT) > Age (> 0: HIT).
  cdnwarm::v1::CacheStatus edge = cdnwarm::v1::CACHE_STATUS_UNKNOWN;
  // True when the edge says it forwarded the request and did not store the response
  // (RFC 9211: `fwd` without `stored` on the client-side entry).
  bool edge_not_stored = false;
  // False when the edge says it will not cache this response (BYPASS/DYNAMIC, or
  // Cache-Control no-store/private), so warming it cannot help.
  bool cacheable = true;
  std::string not_cacheable_reason;
};

CacheReport ParseCacheStatus(const HeaderMap& headers);

// The PoP that answered, where a header names one: X-Amz-Cf-Pop, X-Served-By (last entry),
// the CF-Ray suffix, X-Edge-Location, or the last Via entry. Empty when none does.
std::string ParsePop(const HeaderMap& headers);

// Header names in Vary that the request did not set (lower case); "*" as is.
std::vector<std::string> UnvariedHeaders(const HeaderMap& headers,
                                         const std::vector<std::string>& request_header_names);

const char* CacheStatusName(cdnwarm::v1::CacheStatus status);

}  // namespace cdnwarm::warmer
