#include "warmer/outcome_policy.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace cdnwarm::warmer {
namespace {
constexpr absl::Duration kMaxRetryAfter = absl::Hours(1);
}  // namespace

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kWarmed:
      return "WARMED";
    case Verdict::kRetry:
      return "RETRY";
    default:
      return "FAILED";
  }
}

absl::Duration ParseRetryAfter(const HeaderMap& headers, absl::Time now) {
  auto it = headers.find("retry-after");
  if (it == headers.end()) return absl::ZeroDuration();
  const absl::string_view v = absl::StripAsciiWhitespace(it->second);
  int64_t seconds = 0;
  if (absl::SimpleAtoi(v, &seconds)) {
    return std::clamp(absl::Seconds(seconds), absl::ZeroDuration(), kMaxRetryAfter);
  }
  absl::Time when;
  std::string err;
  if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", std::string(v), &when, &err)) {
    return std::clamp(when - now, absl::ZeroDuration(), kMaxRetryAfter);
  }
  return absl::ZeroDuration();
}

Decision Decide(const HttpResponse& r, const CacheReport& cache, absl::Time now) {
  Decision d;
  if (!r.refusal.empty()) {
    d.reason = absl::StrCat("refused before connecting: ", r.refusal);
    return d;
  }
  if (r.host_backed_off) {
    d.verdict = Verdict::kRetry;
    d.retry_delay = r.backoff_left;
    d.reason = r.error;
    return d;
  }
  if (r.body_capped) {
    d.reason = absl::StrCat("body larger than the ", r.body_bytes,
                            "-byte cap: not read whole, so not proven warm");
    return d;
  }
  if (r.curl_code != CURLE_OK) {
    d.verdict = Verdict::kRetry;
    d.reason = absl::StrCat("transport: ", r.error);
    return d;
  }
  if (r.status >= 500 || r.status == 408 || r.status == 429) {
    d.verdict = Verdict::kRetry;
    d.retry_delay = ParseRetryAfter(r.headers, now);
    d.reason = absl::StrCat("HTTP ", r.status);
    return d;
  }
  if (r.status == 304 || (r.status >= 200 && r.status < 300)) {
    if (r.status != 304 && r.content_length >= 0 && r.body_bytes != r.content_length) {
      d.verdict = Verdict::kRetry;
      d.reason =
          absl::StrCat("body incomplete: ", r.body_bytes, " of ", r.content_length, " bytes");
      return d;
    }
    if (!cache.cacheable) {
      d.reason = absl::StrCat("not cacheable: ", cache.not_cacheable_reason);
      return d;
    }
    d.verdict = Verdict::kWarmed;
    return d;
  }
  if (r.status >= 300 && r.status < 400) {
    d.reason = absl::StrCat("HTTP ", r.status, " redirect (redirects are not followed)");
    return d;
  }
  d.reason = absl::StrCat("HTTP ", r.status);
  return d;
}

}  // namespace cdnwarm::warmer
