// Sitemap parsing: arbitrary bytes (XML or gzip), fed in arbitrary pieces, never crash the
// parser or exceed its limits; every <loc> it reports is within max_loc_bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "producer/sitemap_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  cdnwarm::producer::SitemapLimits limits;
  limits.max_decompressed_bytes = 1 << 20;
  limits.max_loc_bytes = 512;
  size_t locs = 0;
  cdnwarm::producer::SitemapParser parser(
      limits, [&](cdnwarm::producer::SitemapKind kind, absl::string_view loc) {
        if (kind == cdnwarm::producer::SitemapKind::kUnknown) std::abort();
        if (loc.size() > limits.max_loc_bytes) std::abort();
        ++locs;
        return absl::OkStatus();
      });
  // The first byte chooses the piece size, so chunk boundaries fall everywhere.
  const size_t piece = 1 + data[0] % 64;
  absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  absl::Status s;
  while (!rest.empty() && s.ok()) {
    const size_t n = std::min(piece, rest.size());
    s = parser.Feed(rest.substr(0, n));
    rest.remove_prefix(n);
  }
  if (s.ok()) (void)parser.Finish();
  return 0;
}
