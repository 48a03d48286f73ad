#include "producer/expander.h"

#include <algorithm>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/fetch/url_canon.h"
#include "producer/hls_playlist.h"
#include "producer/sitemap_parser.h"

namespace cdnwarm::producer {
namespace {

constexpr size_t kMaxSitemapsPerIndex = 50000;  // sitemaps.org's limit
constexpr int64_t kMaxPlaylistBytes = 8 << 20;

struct SitemapWalk {
  const common::FetchGuard& guard;
  const ExpandOptions& options;
  UrlSink& sink;
  ExpansionSummary summary = {};
  bool limit_reached = false;
  std::set<std::string> visited = {};

  absl::Status Walk(const std::string& url, uint32_t depth) {
    std::vector<std::string> children;
    SitemapParser parser({}, [&](SitemapKind kind, absl::string_view loc) -> absl::Status {
      if (kind == SitemapKind::kIndex) {
        if (children.size() >= kMaxSitemapsPerIndex) {
          return absl::FailedPreconditionError(
              absl::StrCat("sitemap index lists more than ", kMaxSitemapsPerIndex, " sitemaps"));
        }
        children.emplace_back(loc);
        return absl::OkStatus();
      }
      ++summary.found;
      if (summary.kept >= options.max_urls) {
        limit_reached = true;  // counted, not added
        return absl::OkStatus();
      }
      ++summary.kept;
      return sink.Add(loc);
    });
    absl::StatusOr<common::FetchedResponse> fetched = common::FetchStreaming(
        guard, url, options.fetch, [&](absl::string_view chunk) { return parser.Feed(chunk); });
    if (!fetched.ok()) return fetched.status();
    if (absl::Status s = parser.Finish(); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("sitemap ", url, ": ", s.message()));
    }
    for (size_t i = 0; i < children.size(); ++i) {
      const std::string& child = children[i];
      if (limit_reached) {
        summary.unread_sitemaps += static_cast<uint32_t>(children.size() - i);
        break;
      }
      if (sink.Stopped()) break;
      absl::StatusOr<common::CanonicalUrl> canonical = common::ResolveUrl(url, child, "loc");
      if (!canonical.ok()) {
        sink.Reject(child, canonical.status().message());
        continue;
      }
      // Depth first: a sitemap too deep by one path is not "read", so a shallower
      // reference to it later still reads it.
      if (depth + 1 > options.max_depth) {
        sink.Reject(child, absl::StrCat("nested deeper than max_depth ", options.max_depth));
        continue;
      }
      if (!visited.insert(canonical->url).second) {
        sink.Reject(child, "sitemap already read (a loop in the sitemap index)");
        continue;
      }
      if (absl::Status s = Walk(canonical->url, depth + 1); !s.ok()) {
        sink.Reject(child, s.message());
      }
    }
    return absl::OkStatus();
  }
};

absl::StatusOr<HlsPlaylist> FetchPlaylist(const common::FetchGuard& guard, const std::string& url,
                                          const ExpandOptions& options) {
  std::string body;
  common::FetchLimits limits = options.fetch;
  limits.max_bytes = std::min<int64_t>(limits.max_bytes, kMaxPlaylistBytes);
  absl::StatusOr<common::FetchedResponse> fetched =
      common::FetchStreaming(guard, url, limits, [&](absl::string_view chunk) {
        body.append(chunk.data(), chunk.size());
        return absl::OkStatus();
      });
  if (!fetched.ok()) return fetched.status();
  absl::StatusOr<HlsPlaylist> parsed = ParseHlsPlaylist(body);
  if (!parsed.ok()) {
    return absl::Status(parsed.status().code(),
                        absl::StrCat("playlist ", url, ": ", parsed.status().message()));
  }
  return parsed;
}

}  // namespace

absl::Status ExpandSitemap(const common::FetchGuard& guard, absl::string_view url,
                           const ExpandOptions& options, UrlSink& sink, ExpansionSummary* summary) {
  SitemapWalk walk{guard, options, sink};
  absl::StatusOr<common::CanonicalUrl> canonical = common::CanonicalizeUrl(url, "sitemap_url");
  if (!canonical.ok()) return canonical.status();
  walk.visited.insert(canonical->url);
  absl::Status s = walk.Walk(canonical->url, 0);
  if (summary != nullptr) *summary = walk.summary;
  return s;
}

absl::Status ExpandPlaylist(const common::FetchGuard& guard, absl::string_view url,
                            const ExpandOptions& options, UrlSink& sink,
                            ExpansionSummary* summary) {
  ExpansionSummary unused;
  ExpansionSummary& counted = summary != nullptr ? *summary : unused;
  counted = {};
  absl::StatusOr<common::CanonicalUrl> top = common::CanonicalizeUrl(url, "playlist_url");
  if (!top.ok()) return top.status();
  absl::StatusOr<HlsPlaylist> master = FetchPlaylist(guard, top->url, options);
  if (!master.ok()) return master.status();

  // Past the limit URLs are counted, not added; false stops at a sink error.
  auto add = [&](absl::string_view u) -> bool {
    ++counted.found;
    if (counted.kept >= options.max_urls) return true;
    ++counted.kept;
    return sink.Add(u).ok();
  };
  // A media playlist given directly is its own single rendition.
  std::vector<std::pair<std::string, HlsPlaylist>> media;
  if (!master->is_master) {
    media.emplace_back(top->url, *std::move(master));
  } else {
    std::set<std::string> seen;
    for (const std::string& ref : master->playlists) {
      if (sink.Stopped()) return absl::CancelledError("the call was cancelled");
      absl::StatusOr<common::CanonicalUrl> u = common::ResolveUrl(top->url, ref, "uri");
      if (!u.ok()) {
        sink.Reject(ref, u.status().message());
        continue;
      }
      if (!seen.insert(u->url).second) continue;
      absl::StatusOr<HlsPlaylist> p = FetchPlaylist(guard, u->url, options);
      if (!p.ok()) {
        sink.Reject(u->url, p.status().message());
        continue;
      }
      if (p->is_master) {
        sink.Reject(u->url, "a master playlist inside a master playlist is not followed");
        continue;
      }
      media.emplace_back(u->url, *std::move(p));
    }
    if (options.include_playlists && !add(top->url)) return absl::OkStatus();
  }
  for (const auto& [playlist_url, playlist] : media) {
    if (options.include_playlists && !add(playlist_url)) return absl::OkStatus();
    for (const std::string& ref : playlist.segments) {
      absl::StatusOr<common::CanonicalUrl> u = common::ResolveUrl(playlist_url, ref, "uri");
      if (!u.ok()) {
        sink.Reject(ref, u.status().message());
        continue;
      }
      if (!add(u->url)) return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

}  // namespace cdnwarm::producer
