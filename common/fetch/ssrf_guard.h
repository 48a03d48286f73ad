#pragma once

// The one SSRF guard of cdnwarm, used by every fetch the producer (sitemaps, playlists)
// and the warmer make: a host allow-list checked on the URL, and an address policy checked
// on the address actually connected to (libcurl's open-socket hook, after DNS), so DNS
// rebinding cannot reach loopback, private, link-local or metadata addresses.

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "curl/curl.h"

namespace cdnwarm::common {

// An IPv4 or IPv6 network, e.g. "10.0.0.0/8" or "fc00::/7". IPv4 is held as IPv4-mapped
// IPv6 (::ffff:a.b.c.d), so one comparison covers both spellings of an address.
struct IpRange {
  std::array<uint8_t, 16> bytes{};
  int prefix_bits = 0;  // of the 128-bit form
  std::string text;

  static absl::StatusOr<IpRange> Parse(absl::string_view cidr);
  bool Contains(const std::array<uint8_t, 16>& address) const;
};

// Which connect addresses are refused: loopback, RFC 1918, link-local (incl. the
// 169.254.169.254 metadata address), CGNAT, "this network", benchmarking, multicast,
// reserved, IPv6 loopback, ULA, link-local, NAT64 and the IPv4-mapped forms of all of them,
// unless an explicitly allowed range contains the address.
class AddressPolicy {
 public:
  // `allowed` ranges are exceptions to the refusals, e.g. {"127.0.0.0/8"} for tests.
  static absl::StatusOr<AddressPolicy> Create(const std::vector<std::string>& allowed);
  AddressPolicy();  // refuses every private range, allows nothing extra

  // OK, or PERMISSION_DENIED naming the address and the range that refuses it.
  absl::Status Check(const sockaddr* address, socklen_t length) const;
  absl::Status CheckText(absl::string_view ip) const;  // for tests and literal hosts

 private:
  absl::Status CheckBytes(const std::array<uint8_t, 16>& mapped, absl::string_view shown) const;
  std::vector<IpRange> refused_;
  std::vector<IpRange> allowed_;
};

// Host patterns: "example.com" (exactly that host) and "*.example.com" (any host under
// it, not example.com itself). An empty list allows every host.
class HostAllowList {
 public:
  static absl::StatusOr<HostAllowList> Parse(const std::vector<std::string>& patterns);
  // `host` as CanonicalizeUrl returns it (lower case, punycode).
  bool Allows(absl::string_view host) const;
  bool empty() const { return exact_.empty() && suffixes_.empty(); }

 private:
  std::vector<std::string> exact_;
  std::vector<std::string> suffixes_;  // ".example.com"
};

struct FetchGuard {
  HostAllowList hosts;
  AddressPolicy addresses;
  // Redirects are not followed unless enabled; each hop is then checked like the first.
  bool follow_redirects = false;
  int max_redirects = 5;

  // PERMISSION_DENIED naming the host when the allow-list does not list it.
  absl::Status CheckHost(absl::string_view host) const;
};

// Per-transfer state of the connect-time check: the policy, and why it refused, if it did.
struct ConnectCheck {
  const AddressPolicy* policy = nullptr;
  std::string refusal;  // non-empty after a refused connect
};

// Restricts an easy handle to http/https, no proxy from the environment, no redirects
// (callers follow them by hand, re-checking each hop), and installs the address check.
// `check` must outlive the transfer.
void ApplyFetchGuard(CURL* easy, ConnectCheck* check);

}  // namespace cdnwarm::common
