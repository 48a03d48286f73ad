#include "common/fetch/fetch_config.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::vector<std::string>, allowed_hosts, {},
          "Hosts that may be fetched or enqueued: exact names and *.suffix patterns, comma "
          "separated. Empty allows every host");
ABSL_FLAG(std::vector<std::string>, allow_private_ranges, {},
          "CIDR ranges exempt from the private-address refusal, e.g. 127.0.0.0/8 for a local "
          "test edge. Loopback, RFC 1918, link-local, CGNAT and ULA are refused otherwise");
ABSL_FLAG(bool, follow_redirects, false,
          "Follow HTTP redirects; each hop is checked against the allow-list and addresses");
ABSL_FLAG(int, max_redirects, 5, "Most redirects followed when --follow_redirects is set");

namespace cdnwarm::common {

absl::StatusOr<FetchGuard> FetchGuardFromFlags() {
  FetchGuard guard;
  absl::StatusOr<HostAllowList> hosts = HostAllowList::Parse(absl::GetFlag(FLAGS_allowed_hosts));
  if (!hosts.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--allowed_hosts: ", hosts.status().message()));
  }
  guard.hosts = *std::move(hosts);
  absl::StatusOr<AddressPolicy> addresses =
      AddressPolicy::Create(absl::GetFlag(FLAGS_allow_private_ranges));
  if (!addresses.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--allow_private_ranges: ", addresses.status().message()));
  }
  guard.addresses = *std::move(addresses);
  guard.follow_redirects = absl::GetFlag(FLAGS_follow_redirects);
  guard.max_redirects = absl::GetFlag(FLAGS_max_redirects);
  if (guard.max_redirects < 0 || guard.max_redirects > 20) {
    return absl::InvalidArgumentError("--max_redirects must be between 0 and 20");
  }
  return guard;
}

}  // namespace cdnwarm::common
