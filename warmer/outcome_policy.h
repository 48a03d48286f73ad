#pragma once

// What one HTTP exchange means for a warm: WARMED, FAILED (do not retry: it will not get
// better) or RETRY (with a delay, honouring Retry-After).

#include <string>

#include "absl/time/time.h"
#include "warmer/cache_status.h"
#include "warmer/http_engine.h"

namespace cdnwarm::warmer {

enum class Verdict { kWarmed, kFailed, kRetry };

struct Decision {
  Verdict verdict = Verdict::kFailed;
  absl::Duration retry_delay;  // kRetry only; zero lets the bridge choose its backoff
  std::string reason;          // why, for FAILED and RETRY
};

// 2xx and 304 with the whole body and a cacheable answer: WARMED. Transport errors,
// timeouts, 5xx, 408, 429: RETRY (Retry-After honoured, at most an hour). A refused
// address, a capped body, an uncacheable answer, redirects and other 4xx: FAILED.
Decision Decide(const HttpResponse& response, const CacheReport& cache, absl::Time now);

// Retry-After as delta-seconds or an HTTP-date; zero when absent or unparsable.
absl::Duration ParseRetryAfter(const HeaderMap& headers, absl::Time now);

const char* VerdictName(Verdict v);

}  // namespace cdnwarm::warmer
