#pragma once

// What one HTTP exchange means for a warm: WARMED, UNVERIFIED, FAILED (do not retry: it
// will not get better) or RETRY (with a delay, honouring Retry-After). Decide judges the
// warming exchange; Prove then asks whether the edge showed it holds the object.

#include <string>

#include "absl/time/time.h"
#include "warmer/cache_status.h"
#include "warmer/http_engine.h"

namespace cdnwarm::warmer {

// Worst last: a task's verdict in a region is its worst variant's.
enum class Verdict { kWarmed, kUnverified, kFailed, kRetry };

struct Decision {
  Verdict verdict = Verdict::kFailed;
  absl::Duration retry_delay;  // kRetry only; zero lets the bridge choose its backoff
  std::string reason;          // why, for FAILED and RETRY
};

// 2xx and 304 with the whole body and a cacheable answer: WARMED. Transport errors,
// timeouts, 5xx, 408, 429: RETRY (Retry-After honoured, at most an hour). A refused
// address, a capped body, an uncacheable answer, redirects and other 4xx: FAILED.
Decision Decide(const HttpResponse& response, const CacheReport& cache, absl::Time now);

// Whether the warming exchange needs a verify request (when verification is on): its
// answer was fetched and cacheable (Decide said kWarmed), but not a HIT.
bool NeedsVerify(const Decision& warming, const CacheReport& cache);

// Whether the edge proved it holds the object, for an exchange Decide called kWarmed:
//   - a HIT on the warming request, or on the verify request right after it: kWarmed;
//   - a verify request answered MISS (or anything but HIT) while some cache spoke: kFailed,
//     the edge did not keep it; a verify request without an answer: kRetry;
//   - no verify request (verification off): MISS/EXPIRED/STALE is kWarmed, the edge
//     fetched a cacheable object; an RFC 9211 `fwd` without `stored` is kFailed;
//   - no cache information anywhere: kUnverified.
// `verify` and `verify_cache` are null when no verify request was made.
Decision Prove(const CacheReport& warming, const HttpResponse* verify,
               const CacheReport* verify_cache);

// Retry-After as delta-seconds or an HTTP-date; zero when absent or unparsable.
absl::Duration ParseRetryAfter(const HeaderMap& headers, absl::Time now);

const char* VerdictName(Verdict v);

}  // namespace cdnwarm::warmer
