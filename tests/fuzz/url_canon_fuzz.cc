// URL validation and canonicalisation: never crashes, and what it accepts is stable (the
// canonical form canonicalises to itself) and within the documented rules.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "common/fetch/url_canon.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view raw(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<cdnwarm::common::CanonicalUrl> url = cdnwarm::common::CanonicalizeUrl(raw);
  if (!url.ok()) {
    // Errors name the field.
    if (!absl::StartsWith(url.status().message(), "url")) std::abort();
    return 0;
  }
  const std::string& u = url->url;
  if (!absl::StartsWith(u, "http://") && !absl::StartsWith(u, "https://")) std::abort();
  for (char c : u) {
    const auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b >= 0x7f || c == '#') std::abort();  // ASCII, no spaces, no fragment
  }
  absl::StatusOr<cdnwarm::common::CanonicalUrl> again = cdnwarm::common::CanonicalizeUrl(u);
  if (!again.ok() || again->url != u) std::abort();  // idempotent
  // Resolving a reference against an accepted base is safe too, and canonical.
  absl::StatusOr<cdnwarm::common::CanonicalUrl> resolved =
      cdnwarm::common::ResolveUrl(u, raw.substr(0, raw.size() / 2));
  if (resolved.ok()) {
    absl::StatusOr<cdnwarm::common::CanonicalUrl> same =
        cdnwarm::common::CanonicalizeUrl(resolved->url);
    if (!same.ok() || same->url != resolved->url || same->host != resolved->host ||
        same->port != resolved->port) {
      std::abort();
    }
  }
  return 0;
}
