#pragma once

// The canonical form of a URL to warm, so the same resource always has the same Kafka key
// (same partition, exact coalescing downstream). Parsed with libcurl's URL API, the same
// parser the warmer fetches with, so what is validated is what is fetched.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cdnwarm::common {

inline constexpr size_t kMaxUrlBytes = 4096;

struct CanonicalUrl {
  std::string url;     // scheme://host[:port]/path[?query]
  std::string scheme;  // "http" or "https"
  std::string host;    // lower case, IDN as punycode, IPv6 in brackets
  int port = 0;        // effective port (80/443 when the URL names none)
};

// Validates and canonicalises an absolute http(s) URL:
// - http/https only, host required, no userinfo, at most kMaxUrlBytes, no control
//   characters or spaces;
// - lower-case scheme and host, IDN host to punycode, default port dropped, fragment
//   dropped, dot segments resolved, empty path made "/";
// - percent-encoding normalised: unreserved characters decoded, other escapes upper-case,
//   non-ASCII bytes encoded; a malformed escape is an error.
// Errors are INVALID_ARGUMENT and start with `field` (e.g. "url: scheme \"ftp\" is not
// http or https").
absl::StatusOr<CanonicalUrl> CanonicalizeUrl(absl::string_view raw,
                                             absl::string_view field = "url");

// Resolves `reference` (absolute or relative) against the absolute `base`, then
// canonicalises the result. For links found in sitemaps and playlists.
absl::StatusOr<CanonicalUrl> ResolveUrl(absl::string_view base, absl::string_view reference,
                                        absl::string_view field = "url");

}  // namespace cdnwarm::common
