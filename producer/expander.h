#pragma once

// Expands documents that list URLs (sitemaps and sitemap indexes, HLS playlists) into the
// URLs to warm, fetching through the shared SSRF guard.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/fetch/safe_fetch.h"

namespace cdnwarm::producer {

// Where expanded URLs go, in document order.
class UrlSink {
 public:
  virtual ~UrlSink() = default;
  // A URL to enqueue (as found; the sink validates it). An error stops the expansion.
  virtual absl::Status Add(absl::string_view url) = 0;
  // A listed document that could not be expanded (fetch or parse failure, depth limit).
  virtual void Reject(absl::string_view url, absl::string_view reason) = 0;
  // True once the caller went away: no further documents are fetched.
  virtual bool Stopped() const { return false; }
};

struct ExpandOptions {
  common::FetchLimits fetch;
  uint32_t max_depth = 3;  // sitemap index nesting
  uint32_t max_urls = 50000;
  bool include_playlists = false;  // HLS: enqueue playlists too, not only segments
};

// What an expansion found and kept. Truncated when it stopped at max_urls.
struct ExpansionSummary {
  uint64_t found = 0;
  uint64_t kept = 0;
  uint32_t unread_sitemaps = 0;
  bool truncated() const { return found > kept || unread_sitemaps > 0; }
};

// Fetches the sitemap or sitemap index at `url` and adds every <loc> of every urlset it
// leads to, the first max_urls of them. Past the limit the document being read is still
// counted to its end, and the sitemaps not read yet are counted, not fetched. Errors
// concern the top-level document only; nested failures are rejections.
absl::Status ExpandSitemap(const common::FetchGuard& guard, absl::string_view url,
                           const ExpandOptions& options, UrlSink& sink,
                           ExpansionSummary* summary = nullptr);

// Fetches the HLS playlist at `url` (master or media) and adds its segments, following a
// master's media playlists one level down; the first max_urls of them, all counted.
absl::Status ExpandPlaylist(const common::FetchGuard& guard, absl::string_view url,
                            const ExpandOptions& options, UrlSink& sink,
                            ExpansionSummary* summary = nullptr);

}  // namespace cdnwarm::producer
