#include "common/fetch/safe_fetch.h"

#include "absl/strings/str_cat.h"
#include "common/fetch/curl_handles.h"
#include "common/fetch/url_canon.h"

namespace cdnwarm::common {
namespace {

struct Transfer {
  CURL* easy = nullptr;
  const ChunkSink* sink = nullptr;
  int64_t max_bytes = 0;
  int64_t bytes = 0;
  bool deliver = false;  // decided on the first body chunk, from the status code
  bool decided = false;
  absl::Status stop;  // why the write callback stopped the transfer
};

size_t OnBody(char* data, size_t size, size_t n, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const size_t len = size * n;
  if (!t->decided) {
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    t->deliver = code >= 200 && code < 300;
    t->decided = true;
  }
  if (!t->deliver) return len;  // error or redirect bodies are read and dropped
  t->bytes += static_cast<int64_t>(len);
  if (t->bytes > t->max_bytes) {
    t->stop = absl::FailedPreconditionError(
        absl::StrCat("body is larger than the limit of ", t->max_bytes, " bytes"));
    return 0;
  }
  t->stop = (*t->sink)(absl::string_view(data, len));
  return t->stop.ok() ? len : 0;
}

}  // namespace

absl::StatusOr<FetchedResponse> FetchStreaming(const FetchGuard& guard, absl::string_view url,
                                               const FetchLimits& limits, const ChunkSink& sink) {
  EnsureCurlInitialized();
  std::string next(url);
  for (int hop = 0;; ++hop) {
    absl::StatusOr<CanonicalUrl> canonical = CanonicalizeUrl(next);
    if (!canonical.ok()) return canonical.status();
    if (absl::Status s = guard.CheckHost(canonical->host); !s.ok()) return s;

    CurlEasyPtr easy(curl_easy_init());
    if (easy == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
    ConnectCheck check;
    check.policy = &guard.addresses;
    Transfer t;
    t.easy = easy.get();
    t.sink = &sink;
    t.max_bytes = limits.max_bytes;
    char error[CURL_ERROR_SIZE] = {};
    ApplyFetchGuard(easy.get(), &check);
    curl_easy_setopt(easy.get(), CURLOPT_URL, canonical->url.c_str());
    curl_easy_setopt(easy.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy.get(), CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(easy.get(), CURLOPT_USERAGENT, limits.user_agent.c_str());
    const long timeout_ms = absl::ToInt64Milliseconds(limits.timeout);
    const long connect_timeout_ms = absl::ToInt64Milliseconds(limits.connect_timeout);
    curl_easy_setopt(easy.get(), CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(easy.get(), CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(easy.get(), CURLOPT_ERRORBUFFER, error);

    const CURLcode rc = curl_easy_perform(easy.get());
    if (!check.refusal.empty()) {
      return absl::PermissionDeniedError(
          absl::StrCat("fetch ", canonical->url, ": ", check.refusal));
    }
    if (rc == CURLE_WRITE_ERROR && !t.stop.ok()) {
      return absl::Status(t.stop.code(),
                          absl::StrCat("fetch ", canonical->url, ": ", t.stop.message()));
    }
    if (rc != CURLE_OK) {
      return absl::UnavailableError(absl::StrCat(
          "fetch ", canonical->url, ": ", error[0] != '\0' ? error : curl_easy_strerror(rc)));
    }
    long code = 0;
    curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &code);
    if (code >= 300 && code < 400) {
      char* location = nullptr;
      curl_easy_getinfo(easy.get(), CURLINFO_REDIRECT_URL, &location);
      if (location != nullptr && guard.follow_redirects) {
        if (hop >= guard.max_redirects) {
          return absl::FailedPreconditionError(
              absl::StrCat("fetch ", url, ": more than ", guard.max_redirects, " redirects"));
        }
        next = location;
        continue;
      }
      return absl::FailedPreconditionError(
          absl::StrCat("fetch ", canonical->url, ": HTTP ", code, " redirect to ",
                       location != nullptr ? location : "(no Location)",
                       " not followed (redirects are disabled)"));
    }
    if (code < 200 || code >= 300) {
      return absl::FailedPreconditionError(
          absl::StrCat("fetch ", canonical->url, ": HTTP status ", code));
    }
    return FetchedResponse{.final_url = canonical->url, .http_status = code, .body_bytes = t.bytes};
  }
}

}  // namespace cdnwarm::common
