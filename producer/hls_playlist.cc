#include "producer/hls_playlist.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace cdnwarm::producer {
namespace {

// The value of the quoted URI="..." attribute of a tag line, or empty.
std::string UriAttribute(absl::string_view line) {
  const size_t start = line.find("URI=\"");
  if (start == absl::string_view::npos) return "";
  const size_t begin = start + 5;
  const size_t end = line.find('"', begin);
  if (end == absl::string_view::npos) return "";
  return std::string(line.substr(begin, end - begin));
}

}  // namespace

absl::StatusOr<HlsPlaylist> ParseHlsPlaylist(absl::string_view text) {
  if (absl::StartsWith(text, "\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 BOM
  if (!absl::StartsWith(text, "#EXTM3U")) {
    return absl::InvalidArgumentError("playlist does not start with #EXTM3U");
  }
  HlsPlaylist out;
  bool next_is_variant = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    if (line[0] != '#') {
      if (next_is_variant) {
        out.playlists.emplace_back(line);
      } else {
        out.segments.emplace_back(line);
      }
      next_is_variant = false;
      continue;
    }
    if (absl::StartsWith(line, "#EXT-X-STREAM-INF")) {
      out.is_master = true;
      next_is_variant = true;
    } else if (absl::StartsWith(line, "#EXT-X-MEDIA:") ||
               absl::StartsWith(line, "#EXT-X-I-FRAME-STREAM-INF:")) {
      out.is_master = true;
      if (std::string uri = UriAttribute(line); !uri.empty()) out.playlists.push_back(uri);
    } else if (absl::StartsWith(line, "#EXT-X-MAP:") || absl::StartsWith(line, "#EXT-X-PART:")) {
      if (std::string uri = UriAttribute(line); !uri.empty()) out.segments.push_back(uri);
    }
  }
  if (out.is_master) {
    // A master playlist lists no segments; stray URI lines are variants.
    out.playlists.insert(out.playlists.end(), out.segments.begin(), out.segments.end());
    out.segments.clear();
  }
  return out;
}

}  // namespace cdnwarm::producer
