#pragma once

// The canonical form of a URL to warm: the WHATWG URL Standard's serialisation, what a
// browser sends, so the warmer fetches the very request target users' requests carry and
// the same resource always has the same Kafka key (same partition, exact coalescing
// downstream). Parsed with ada (third_party/ada), a conformant implementation of the
// standard; tests/common/fetch/url_conformance_test.cc runs the Web Platform Tests' data.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cdnwarm::common {

inline constexpr size_t kMaxUrlBytes = 4096;

struct CanonicalUrl {
  std::string url;     // scheme://host[:port]/path[?query]
  std::string scheme;  // "http" or "https"
  std::string host;    // the standard's host: lower case, punycode, dotted IPv4, [IPv6]
  int port = 0;        // effective port (80/443 when the URL names none)
};

// Validates and canonicalises an absolute http(s) URL by the WHATWG URL Standard:
// - the input is parsed as the standard says (leading and trailing spaces and controls
//   stripped, tabs and newlines removed; the host by its host parser: IPv4 number forms
//   read as addresses, IDNA/UTS 46 to punycode, forbidden code points refused); inputs it
//   rejects are errors naming the reason;
// - the canonical form is its serialisation (`href`) without the fragment: lower-case
//   scheme and host, default port dropped, dot segments (also %2e) resolved, characters
//   outside the percent-encode sets encoded, an empty query ("?") kept. Percent-encodings
//   are never decoded and their case never changed: the edge sees what a browser sends;
// - policy: http/https only, no userinfo, at most kMaxUrlBytes.
// Errors are INVALID_ARGUMENT and start with `field` (e.g. "url: scheme \"ftp\" is not
// http or https").
absl::StatusOr<CanonicalUrl> CanonicalizeUrl(absl::string_view raw,
                                             absl::string_view field = "url");

// Resolves `reference` (absolute or relative) against the absolute `base`, then
// canonicalises the result. For links found in sitemaps and playlists.
absl::StatusOr<CanonicalUrl> ResolveUrl(absl::string_view base, absl::string_view reference,
                                        absl::string_view field = "url");

}  // namespace cdnwarm::common
