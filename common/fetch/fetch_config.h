#pragma once

// Flags of the services that fetch URLs (producer, warmer): the SSRF guard's settings.

#include "absl/status/statusor.h"
#include "common/fetch/ssrf_guard.h"

namespace cdnwarm::common {

// From --allowed_hosts, --allow_private_ranges, --follow_redirects, --max_redirects.
// Errors name the flag.
absl::StatusOr<FetchGuard> FetchGuardFromFlags();

}  // namespace cdnwarm::common
