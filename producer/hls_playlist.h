#pragma once

// Parses HLS playlists (RFC 8216) into the URIs they reference, unresolved: a master
// playlist's variant, rendition and I-frame playlists, a media playlist's segments, init
// sections (EXT-X-MAP) and low-latency parts (EXT-X-PART). Keys are left out on purpose:
// they are usually per-viewer and must not be cached at the edge.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cdnwarm::producer {

struct HlsPlaylist {
  bool is_master = false;
  std::vector<std::string> playlists;  // master only
  std::vector<std::string> segments;   // media only
};

// INVALID_ARGUMENT when the text does not start with #EXTM3U.
absl::StatusOr<HlsPlaylist> ParseHlsPlaylist(absl::string_view text);

}  // namespace cdnwarm::producer
