#include "common/fetch/ssrf_guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace cdnwarm::common {
namespace {

constexpr const char* kRefusedRanges[] = {
    // IPv4
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    // IPv6 (IPv4-mapped addresses are checked as the IPv4 address they carry)
    "::/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001:db8::/32", "2002::/16", "fc00::/7",
    "fe80::/10", "fec0::/10", "ff00::/8"};

std::array<uint8_t, 16> MappedV4(const in_addr& a) {
  std::array<uint8_t, 16> b{};
  b[10] = 0xff;
  b[11] = 0xff;
  std::memcpy(&b[12], &a, 4);
  return b;
}

bool ParseAddress(const std::string& text, std::array<uint8_t, 16>* out, bool* v4) {
  in_addr a4;
  in6_addr a6;
  if (inet_pton(AF_INET, text.c_str(), &a4) == 1) {
    *out = MappedV4(a4);
    *v4 = true;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), &a6) == 1) {
    std::memcpy(out->data(), &a6, 16);
    *v4 = false;
    return true;
  }
  return false;
}

curl_socket_t OpenCheckedSocket(void* clientp, curlsocktype purpose, curl_sockaddr* address) {
  auto* check = static_cast<ConnectCheck*>(clientp);
  if (purpose == CURLSOCKTYPE_IPCXN && check != nullptr && check->policy != nullptr) {
    absl::Status s = check->policy->Check(&address->addr, address->addrlen);
    if (!s.ok()) {
      check->refusal = std::string(s.message());
      return CURL_SOCKET_BAD;
    }
  }
  return ::socket(address->family, address->socktype, address->protocol);
}

}  // namespace

absl::StatusOr<IpRange> IpRange::Parse(absl::string_view cidr) {
  IpRange r;
  r.text = std::string(cidr);
  const std::vector<std::string> parts = absl::StrSplit(cidr, absl::MaxSplits('/', 1));
  bool v4 = false;
  if (!ParseAddress(parts[0], &r.bytes, &v4)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", cidr, "\" is not an IP address or CIDR range"));
  }
  const int max_bits = v4 ? 32 : 128;
  int bits = max_bits;
  if (parts.size() == 2 && (!absl::SimpleAtoi(parts[1], &bits) || bits < 0 || bits > max_bits)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", cidr, "\": prefix length must be 0..", max_bits));
  }
  r.prefix_bits = v4 ? bits + 96 : bits;
  return r;
}

bool IpRange::Contains(const std::array<uint8_t, 16>& address) const {
  int bits = prefix_bits;
  for (size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const int mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address[i] & mask) != (bytes[i] & mask)) return false;
  }
  return true;
}

AddressPolicy::AddressPolicy() {
  for (const char* cidr : kRefusedRanges) refused_.push_back(*IpRange::Parse(cidr));
}

absl::StatusOr<AddressPolicy> AddressPolicy::Create(const std::vector<std::string>& allowed) {
  AddressPolicy p;
  for (const std::string& cidr : allowed) {
    absl::StatusOr<IpRange> r = IpRange::Parse(cidr);
    if (!r.ok()) return r.status();
    p.allowed_.push_back(*std::move(r));
  }
  return p;
}

absl::Status AddressPolicy::CheckBytes(const std::array<uint8_t, 16>& mapped,
                                       absl::string_view shown) const {
  for (const IpRange& a : allowed_) {
    if (a.Contains(mapped)) return absl::OkStatus();
  }
  for (const IpRange& r : refused_) {
    if (r.Contains(mapped)) {
      return absl::PermissionDeniedError(
          absl::StrCat("address ", shown, " is in refused range ", r.text,
                       " (private, loopback, link-local or reserved; allow it with "
                       "--allow_private_ranges=",
                       r.text, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status AddressPolicy::Check(const sockaddr* address, socklen_t length) const {
  char shown[INET6_ADDRSTRLEN] = {};
  if (address->sa_family == AF_INET && length >= sizeof(sockaddr_in)) {
    sockaddr_in v4;
    std::memcpy(&v4, address, sizeof(v4));
    inet_ntop(AF_INET, &v4.sin_addr, shown, sizeof(shown));
    return CheckBytes(MappedV4(v4.sin_addr), shown);
  }
  if (address->sa_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    sockaddr_in6 v6;
    std::memcpy(&v6, address, sizeof(v6));
    inet_ntop(AF_INET6, &v6.sin6_addr, shown, sizeof(shown));
    std::array<uint8_t, 16> bytes;
    std::memcpy(bytes.data(), &v6.sin6_addr, 16);
    return CheckBytes(bytes, shown);
  }
  return absl::PermissionDeniedError("address family is not IPv4 or IPv6");
}

absl::Status AddressPolicy::CheckText(absl::string_view ip) const {
  std::array<uint8_t, 16> bytes;
  bool v4 = false;
  if (!ParseAddress(std::string(ip), &bytes, &v4)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", ip, "\" is not an IP address"));
  }
  return CheckBytes(bytes, ip);
}

absl::StatusOr<HostAllowList> HostAllowList::Parse(const std::vector<std::string>& patterns) {
  HostAllowList list;
  for (const std::string& raw : patterns) {
    const std::string p = absl::AsciiStrToLower(absl::StripAsciiWhitespace(raw));
    if (p.empty()) continue;
    const bool wildcard = absl::StartsWith(p, "*.");
    const absl::string_view name = wildcard ? absl::string_view(p).substr(2) : p;
    bool ok = !name.empty() && name.size() <= 253;
    for (char c : name) {
      ok = ok &&
           (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == ':' || c == '[' || c == ']');
    }
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("host pattern \"", raw, "\" is not a host name or \"*.\" followed by one"));
    }
    if (wildcard) {
      list.suffixes_.push_back(absl::StrCat(".", name));
    } else {
      list.exact_.push_back(std::string(name));
    }
  }
  return list;
}

bool HostAllowList::Allows(absl::string_view host) const {
  if (empty()) return true;
  for (const std::string& e : exact_) {
    if (host == e) return true;
  }
  for (const std::string& s : suffixes_) {
    if (host.size() > s.size() && absl::EndsWith(host, s)) return true;
  }
  return false;
}

absl::Status FetchGuard::CheckHost(absl::string_view host) const {
  // A fully qualified name ("example.com.") is the same host.
  absl::string_view name = host;
  while (absl::ConsumeSuffix(&name, ".")) {
  }
  if (hosts.Allows(name)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("host \"", host, "\" is not in the allowed hosts list (--allowed_hosts)"));
}

void ApplyFetchGuard(CURL* easy, ConnectCheck* check) {
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  // A proxy from the environment would make the proxy the connect address and hide the
  // real destination from the check.
  curl_easy_setopt(easy, CURLOPT_PROXY, "");
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &OpenCheckedSocket);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, check);
}

}  // namespace cdnwarm::common
