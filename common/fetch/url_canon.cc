#include "common/fetch/url_canon.h"

#include <ada.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace cdnwarm::common {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

// A short, printable excerpt of user input for error messages.
std::string Quote(absl::string_view s) {
  constexpr size_t kMax = 64;
  std::string out = absl::CHexEscape(s.substr(0, kMax));
  if (s.size() > kMax) out += "...";
  return absl::StrCat("\"", out, "\"");
}

// The input without leading and trailing C0 controls and spaces.
absl::string_view Trimmed(absl::string_view raw) {
  while (!raw.empty() && static_cast<unsigned char>(raw.front()) <= 0x20) raw.remove_prefix(1);
  while (!raw.empty() && static_cast<unsigned char>(raw.back()) <= 0x20) raw.remove_suffix(1);
  return raw;
}

// WHATWG's first steps: leading and trailing C0 controls and spaces are stripped, and
// ASCII tab and newline removed anywhere (what a browser does with a pasted URL).
std::string Preprocess(absl::string_view raw) {
  raw = Trimmed(raw);
  // Most URLs have no tab or newline: one copy.
  if (raw.find_first_of("\t\n\r") == absl::string_view::npos) return std::string(raw);
  std::string out;
  out.reserve(raw.size());
  for (char c : raw) {
    if (c != '\t' && c != '\n' && c != '\r') out.push_back(c);
  }
  return out;
}

absl::Status CheckSize(absl::string_view raw, absl::string_view field) {
  // Empty after Preprocess exactly when empty trimmed: what trimming keeps begins with a
  // character above 0x20, which Preprocess keeps.
  if (Trimmed(raw).empty()) return Invalid(field, "is empty");
  if (raw.size() > kMaxUrlBytes) {
    return Invalid(field,
                   absl::StrFormat("is %d bytes; the limit is %d", raw.size(), kMaxUrlBytes));
  }
  return absl::OkStatus();
}

bool IsSpecialScheme(absl::string_view s) { return s == "http" || s == "https"; }

// The scheme, checked by hand for a clearer message than "does not parse".
absl::Status CheckScheme(absl::string_view input, absl::string_view field) {
  size_t i = 0;
  while (i < input.size() &&
         (absl::ascii_isalnum(input[i]) || input[i] == '+' || input[i] == '-' || input[i] == '.')) {
    ++i;
  }
  if (i == 0 || i == input.size() || input[i] != ':' || !absl::ascii_isalpha(input[0])) {
    return Invalid(field,
                   absl::StrCat(Quote(input), " is not an absolute http:// or https:// URL"));
  }
  const std::string scheme = absl::AsciiStrToLower(input.substr(0, i));
  if (!IsSpecialScheme(scheme)) {
    return Invalid(field, absl::StrCat("scheme ", Quote(scheme), " is not http or https"));
  }
  return absl::OkStatus();
}

// Why the standard's parser refused an http(s) URL, as near as the authority shows it.
std::string WhyNotParsed(absl::string_view input) {
  absl::string_view rest = input;
  if (CheckScheme(input, "").ok()) rest.remove_prefix(input.find(':') + 1);  // a scheme
  while (!rest.empty() && (rest.front() == '/' || rest.front() == '\\')) rest.remove_prefix(1);
  absl::string_view authority = rest.substr(0, rest.find_first_of("/\\?#"));
  if (const size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  if (authority.empty()) return "host is missing";
  absl::string_view host = authority;
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) return "IPv6 address has no closing \"]\"";
    host = authority.substr(0, close + 1);
    authority.remove_prefix(close + 1);
  } else {
    host = authority.substr(0, authority.find(':'));
    authority.remove_prefix(host.size());
  }
  if (absl::ConsumePrefix(&authority, ":") && !authority.empty()) {
    int port = 0;
    if (!std::all_of(authority.begin(), authority.end(),
                     [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); })) {
      return absl::StrCat("port ", Quote(authority), " is not a number");
    }
    if (!absl::SimpleAtoi(authority, &port) || port > 65535) {
      return absl::StrCat("port ", Quote(authority), " is out of range (0..65535)");
    }
  }
  if (host.empty()) return "host is missing";
  if (host.front() == '[') return absl::StrCat("IPv6 address ", Quote(host), " is not valid");
  for (char c : host) {
    if (absl::string_view(" #%/:<>?@[\\]^|").find(c) != absl::string_view::npos ||
        static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::StrCat("host ", Quote(host), " contains the forbidden code point ",
                          Quote(absl::string_view(&c, 1)));
    }
  }
  // The standard reads a host whose last label is a number as an IPv4 address.
  absl::string_view last = host;
  if (absl::EndsWith(last, ".")) last.remove_suffix(1);
  last = last.substr(last.rfind('.') + 1);
  const bool numeric =
      !last.empty() &&
      (std::all_of(last.begin(), last.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
       ((absl::StartsWith(last, "0x") || absl::StartsWith(last, "0X")) &&
        std::all_of(last.begin() + 2, last.end(),
                    [](char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); })));
  if (numeric) {
    return absl::StrCat("host ", Quote(host),
                        " is an IPv4 address with a part out of range or not a number");
  }
  return absl::StrCat("host ", Quote(host),
                      " is not a valid domain name (IDNA: a disallowed or invalid label)");
}

// Debian's Abseil has its own string_view.
absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::StatusOr<CanonicalUrl> FromParsed(const ada::url_aggregator& u, absl::string_view field) {
  CanonicalUrl result;
  absl::string_view protocol = View(u.get_protocol());
  absl::ConsumeSuffix(&protocol, ":");
  result.scheme = std::string(protocol);
  if (!IsSpecialScheme(result.scheme)) {
    return Invalid(field, absl::StrCat("scheme ", Quote(result.scheme), " is not http or https"));
  }
  if (!u.get_username().empty() || !u.get_password().empty()) {
    return Invalid(field, "userinfo (user:password@) is not allowed");
  }
  result.host = std::string(View(u.get_hostname()));
  if (result.host.empty()) return Invalid(field, "host is missing");
  const int default_port = result.scheme == "https" ? 443 : 80;
  result.port = default_port;
  if (const absl::string_view port = View(u.get_port()); !port.empty()) {
    if (!absl::SimpleAtoi(port, &result.port)) {
      return Invalid(field, absl::StrCat("port ", Quote(port), " is not a number"));
    }
    if (result.port == 0) return Invalid(field, "port 0 cannot be fetched");
  }
  // The standard's serialisation, without the fragment (never sent to a server).
  result.url = std::string(View(u.get_href()));
  if (const uint32_t hash = u.get_components().hash_start; hash != ada::url_components::omitted) {
    result.url.resize(hash);
  }
  if (result.url.size() > kMaxUrlBytes) {
    return Invalid(field, absl::StrFormat("is %d bytes once canonical; the limit is %d",
                                          result.url.size(), kMaxUrlBytes));
  }
  return result;
}

absl::StatusOr<ada::url_aggregator> ParseAbsolute(absl::string_view raw, absl::string_view field) {
  if (absl::Status s = CheckSize(raw, field); !s.ok()) return s;
  const std::string input = Preprocess(raw);
  if (absl::Status s = CheckScheme(input, field); !s.ok()) return s;
  ada::result<ada::url_aggregator> u = ada::parse<ada::url_aggregator>(std::string_view(input));
  if (!u) return Invalid(field, absl::StrCat(Quote(input), ": ", WhyNotParsed(input)));
  return *std::move(u);
}

}  // namespace

absl::StatusOr<CanonicalUrl> CanonicalizeUrl(absl::string_view raw, absl::string_view field) {
  absl::StatusOr<ada::url_aggregator> u = ParseAbsolute(raw, field);
  if (!u.ok()) return u.status();
  return FromParsed(*u, field);
}

absl::StatusOr<CanonicalUrl> ResolveUrl(absl::string_view base, absl::string_view reference,
                                        absl::string_view field) {
  absl::StatusOr<ada::url_aggregator> b = ParseAbsolute(base, "base url");
  if (!b.ok()) return b.status();
  if (absl::Status s = CheckSize(reference, field); !s.ok()) return s;
  const std::string input = Preprocess(reference);
  ada::result<ada::url_aggregator> u =
      ada::parse<ada::url_aggregator>(std::string_view(input), &*b);
  if (!u) {
    return Invalid(field, absl::StrCat(Quote(reference), " does not resolve against ", Quote(base),
                                       ": ", WhyNotParsed(input)));
  }
  return FromParsed(*u, field);
}

}  // namespace cdnwarm::common
