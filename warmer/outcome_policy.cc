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
    case Verdict::kUnverified:
      return "UNVERIFIED";
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

bool NeedsVerify(const Decision& warming, const CacheReport& cache) {
  return warming.verdict == Verdict::kWarmed && cache.edge != cdnwarm::v1::CACHE_STATUS_HIT;
}

Decision Prove(const CacheReport& warming, const HttpResponse* verify,
               const CacheReport* verify_cache) {
  Decision d;
  d.verdict = Verdict::kWarmed;
  if (warming.edge == cdnwarm::v1::CACHE_STATUS_HIT) return d;
  const bool cache_spoke = warming.edge != cdnwarm::v1::CACHE_STATUS_UNKNOWN;
  if (verify != nullptr && verify_cache != nullptr) {
    if (verify->curl_code != CURLE_OK || !verify->refusal.empty()) {
      d.verdict = Verdict::kRetry;
      d.reason = absl::StrCat("verify request: ",
                              verify->refusal.empty() ? verify->error : verify->refusal);
      return d;
    }
    if (verify->status != 304 && (verify->status < 200 || verify->status >= 300)) {
      d.verdict = Verdict::kRetry;
      d.reason = absl::StrCat("verify request: HTTP ", verify->status);
      return d;
    }
    if (verify_cache->edge == cdnwarm::v1::CACHE_STATUS_HIT) return d;
    if (!cache_spoke && verify_cache->edge == cdnwarm::v1::CACHE_STATUS_UNKNOWN) {
      d.verdict = Verdict::kUnverified;
      d.reason = absl::StrCat(
          "no cache information (Cache-Status, CF-Cache-Status, X-Cache-Status, X-Cache, "
          "X-Varnish or Age) in the warming or the verify response: nothing proves the edge "
          "stored it (verify: HTTP ",
          verify->status, ")");
      return d;
    }
    d.verdict = Verdict::kFailed;
    d.reason = absl::StrCat("the verify request right after the warm was ",
                            CacheStatusName(verify_cache->edge), " (HTTP ", verify->status,
                            "; the warm was ", CacheStatusName(warming.edge),
                            "): the edge did not keep the object");
    return d;
  }
  if (warming.edge_not_stored) {
    d.verdict = Verdict::kFailed;
    d.reason =
        "the edge says it forwarded the request and did not store the response "
        "(Cache-Status without `stored`)";
    return d;
  }
  if (!cache_spoke) {
    d.verdict = Verdict::kUnverified;
    d.reason =
        "no cache information (Cache-Status, CF-Cache-Status, X-Cache-Status, X-Cache, "
        "X-Varnish or Age) in the response, and no verify request (--verify=false): "
        "nothing proves the edge stored it";
  }
  return d;
}

}  // namespace cdnwarm::warmer
