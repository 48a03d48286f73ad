#pragma once

// A streaming parser of sitemaps (sitemaps.org): bytes go in as they arrive, <loc> values
// come out, so a 50,000-URL sitemap never sits whole in memory. Gzip is recognised by its
// magic bytes, whatever the file is called. DOCTYPEs (and so entity expansion) are refused.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cdnwarm::producer {

enum class SitemapKind { kUnknown, kUrlSet, kIndex };

struct SitemapLimits {
  int64_t max_decompressed_bytes = 100 << 20;  // sitemaps.org allows 50 MB uncompressed
  size_t max_loc_bytes = 8192;
};

class SitemapParser {
 public:
  // Receives each <loc> of a <urlset> (kUrlSet) or <sitemapindex> (kIndex). An error
  // stops parsing and is returned from Feed.
  using LocSink = std::function<absl::Status(SitemapKind kind, absl::string_view loc)>;

  SitemapParser(SitemapLimits limits, LocSink sink);
  ~SitemapParser();
  SitemapParser(const SitemapParser&) = delete;
  SitemapParser& operator=(const SitemapParser&) = delete;

  // Feeds the next bytes (compressed or not). INVALID_ARGUMENT for malformed XML, naming
  // the line; FAILED_PRECONDITION for limits.
  absl::Status Feed(absl::string_view bytes);
  // Ends the document; an unfinished document is an error.
  absl::Status Finish();

  SitemapKind kind() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cdnwarm::producer
