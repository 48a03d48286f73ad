#pragma once

// A blocking, guarded HTTP GET that streams the body to a sink: for the documents the
// producer expands (sitemaps, playlists). Every hop obeys the FetchGuard.

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/fetch/ssrf_guard.h"

namespace cdnwarm::common {

struct FetchLimits {
  int64_t max_bytes = 64 << 20;  // body bytes after content decoding
  absl::Duration timeout = absl::Seconds(30);
  absl::Duration connect_timeout = absl::Seconds(5);
  std::string user_agent = "cdnwarm";
};

struct FetchedResponse {
  std::string final_url;  // after redirects, canonical
  long http_status = 0;
  int64_t body_bytes = 0;
};

// Receives the body in chunks; an error stops the transfer and is returned as is.
using ChunkSink = std::function<absl::Status(absl::string_view chunk)>;

// GETs `url` and streams a 2xx body to `sink`. Errors name the URL:
// INVALID_ARGUMENT (bad URL), PERMISSION_DENIED (host not allowed, refused address),
// FAILED_PRECONDITION (non-2xx status, too many redirects, body over the limit),
// UNAVAILABLE (connect, TLS, timeout).
absl::StatusOr<FetchedResponse> FetchStreaming(const FetchGuard& guard, absl::string_view url,
                                               const FetchLimits& limits, const ChunkSink& sink);

}  // namespace cdnwarm::common
