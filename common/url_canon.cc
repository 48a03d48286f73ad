#include "common/url_canon.h"

#include <idn2.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/curl_handles.h"

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

absl::Status CheckBytes(absl::string_view raw, absl::string_view field) {
  if (raw.empty()) return Invalid(field, "is empty");
  if (raw.size() > kMaxUrlBytes) {
    return Invalid(field,
                   absl::StrFormat("is %d bytes; the limit is %d", raw.size(), kMaxUrlBytes));
  }
  for (size_t i = 0; i < raw.size(); ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (c <= 0x20 || c == 0x7f) {
      return Invalid(field, absl::StrFormat("contains a control character or space (0x%02x) at "
                                            "byte %d",
                                            c, i));
    }
  }
  return absl::OkStatus();
}

// Checks the scheme by hand first, for a clearer message than the parser would give.
absl::Status CheckScheme(absl::string_view raw, absl::string_view field) {
  size_t i = 0;
  while (i < raw.size() &&
         (absl::ascii_isalnum(raw[i]) || raw[i] == '+' || raw[i] == '-' || raw[i] == '.')) {
    ++i;
  }
  if (i == 0 || i == raw.size() || raw[i] != ':' || !absl::ascii_isalpha(raw[0])) {
    return Invalid(field, absl::StrCat(Quote(raw), " is not an absolute http:// or https:// URL"));
  }
  const std::string scheme = absl::AsciiStrToLower(raw.substr(0, i));
  if (scheme != "http" && scheme != "https") {
    return Invalid(field, absl::StrCat("scheme ", Quote(scheme), " is not http or https"));
  }
  if (raw.substr(i + 1, 2) != "//") {
    return Invalid(field, absl::StrCat("expected \"//\" after \"", scheme, ":\""));
  }
  if (raw.substr(i + 3, 1) == "/" || raw.size() == i + 3) return Invalid(field, "host is missing");
  return absl::OkStatus();
}

// Gets one part, or nullopt-like empty pointer when the URL has none.
CurlStringPtr GetPart(CURLU* h, CURLUPart part, unsigned flags, CURLUcode* rc) {
  char* out = nullptr;
  *rc = curl_url_get(h, part, &out, flags);
  return CurlStringPtr(out);
}

bool IsUnreserved(unsigned char c) {
  return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

bool IsAllowedLiteral(unsigned char c, bool query) {
  // RFC 3986 sub-delims, ':' '@' '/' in paths, and '?' too in queries.
  constexpr absl::string_view kPathChars = "!$&'()*+,;=:@/";
  if (IsUnreserved(c) || kPathChars.find(static_cast<char>(c)) != absl::string_view::npos) {
    return true;
  }
  return query && c == '?';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes escaped unreserved characters, upper-cases other escapes and escapes bytes that
// may not appear literally.
absl::Status NormalizePercent(absl::string_view in, bool query, absl::string_view field,
                              std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (c == '%') {
      const int hi = i + 1 < in.size() ? HexValue(in[i + 1]) : -1;
      const int lo = i + 2 < in.size() ? HexValue(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return Invalid(field, absl::StrCat("malformed percent-escape ", Quote(in.substr(i, 3)),
                                           " in the ", query ? "query" : "path"));
      }
      const auto decoded = static_cast<unsigned char>(hi * 16 + lo);
      if (IsUnreserved(decoded)) {
        out->push_back(static_cast<char>(decoded));
      } else {
        absl::StrAppendFormat(out, "%%%02X", decoded);
      }
      i += 2;
    } else if (IsAllowedLiteral(c, query)) {
      out->push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(out, "%%%02X", c);
    }
  }
  return absl::OkStatus();
}

// RFC 3986 section 5.2.4.
std::string RemoveDotSegments(absl::string_view path) {
  std::vector<absl::string_view> kept;
  const std::vector<absl::string_view> segments = absl::StrSplit(path.substr(1), '/');
  for (size_t i = 0; i < segments.size(); ++i) {
    const absl::string_view s = segments[i];
    const bool last = i + 1 == segments.size();
    if (s == "." || s == "..") {
      if (s == ".." && !kept.empty()) kept.pop_back();
      if (last) kept.push_back("");  // "/a/b/.." is "/a/", not "/a"
      continue;
    }
    kept.push_back(s);
  }
  std::string out;
  for (absl::string_view s : kept) absl::StrAppend(&out, "/", s);
  return out.empty() ? "/" : out;
}

// A DNS name (letters, digits, '-', '_', '.') or a bracketed IPv6 literal; anything else
// (e.g. '|' decoded from %7C, or let through by IDNA mapping) would neither parse again
// nor resolve.
absl::Status CheckHostCharacters(absl::string_view host, absl::string_view field) {
  const bool ipv6 = host.size() > 2 && host.front() == '[' && host.back() == ']';
  for (char c : ipv6 ? host.substr(1, host.size() - 2) : host) {
    const auto u = static_cast<unsigned char>(c);
    const bool ok = ipv6 ? (absl::ascii_isxdigit(u) || c == ':' || c == '.')
                         : (absl::ascii_isalnum(u) || c == '-' || c == '_' || c == '.');
    if (!ok) {
      return Invalid(
          field, absl::StrCat("host ", Quote(host), " contains ", Quote(absl::string_view(&c, 1)),
                              ", which no host name or address contains"));
    }
  }
  return absl::OkStatus();
}

// Lower-case ASCII; an internationalised name becomes punycode (IDNA 2008 with TR46
// mapping). libidn2 is called directly because libcurl's conversion depends on the
// process locale.
absl::StatusOr<std::string> HostToAscii(absl::string_view host, absl::string_view field) {
  for (char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u == 0x7f || u == '%') {
      return Invalid(field, "host contains a control character, space or percent sign");
    }
  }
  const bool ascii = std::all_of(host.begin(), host.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  std::string ascii_host;
  if (ascii) {
    ascii_host = absl::AsciiStrToLower(host);
  } else {
    char* out = nullptr;
    const std::string in(host);
    const int rc = idn2_to_ascii_8z(in.c_str(), &out, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    if (rc != IDN2_OK) {
      return Invalid(field, absl::StrCat("host ", Quote(host),
                                         " is not a valid internationalised "
                                         "domain name: ",
                                         idn2_strerror(rc)));
    }
    ascii_host = absl::AsciiStrToLower(out);
    idn2_free(out);
  }
  if (absl::Status s = CheckHostCharacters(ascii_host, field); !s.ok()) return s;
  return ascii_host;
}

absl::StatusOr<CanonicalUrl> CanonicalizeParsed(CURLU* h, absl::string_view field) {
  CanonicalUrl result;
  CURLUcode rc;
  CurlStringPtr scheme = GetPart(h, CURLUPART_SCHEME, 0, &rc);
  if (rc != CURLUE_OK) return Invalid(field, "has no scheme");
  result.scheme = absl::AsciiStrToLower(scheme.get());
  if (result.scheme != "http" && result.scheme != "https") {
    return Invalid(field, absl::StrCat("scheme ", Quote(result.scheme), " is not http or https"));
  }

  for (CURLUPart part : {CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_OPTIONS}) {
    CurlStringPtr present = GetPart(h, part, 0, &rc);
    if (rc == CURLUE_OK) return Invalid(field, "userinfo (user:password@) is not allowed");
  }

  CurlStringPtr host = GetPart(h, CURLUPART_HOST, CURLU_URLDECODE, &rc);
  if (rc != CURLUE_OK || host == nullptr || host.get()[0] == '\0') {
    return Invalid(field, rc == CURLUE_OK || rc == CURLUE_NO_HOST
                              ? std::string("host is missing")
                              : absl::StrCat("host: ", curl_url_strerror(rc)));
  }
  absl::StatusOr<std::string> ascii_host = HostToAscii(host.get(), field);
  if (!ascii_host.ok()) return ascii_host.status();
  result.host = *std::move(ascii_host);
  // One trailing dot (a fully qualified name) is dropped; an empty label anywhere else
  // ("a..b", ".a", "a..") is an error, so canonicalising twice gives the same host.
  if (result.host.size() > 1 && result.host.back() == '.') {
    result.host.pop_back();
    // "127." is a host name to libcurl, but "127" would be the address 0.0.0.127: a numeric
    // last label with a trailing dot has no one meaning, so it is refused.
    const absl::string_view last =
        absl::string_view(result.host).substr(result.host.rfind('.') + 1);
    if (!last.empty() && absl::ascii_isdigit(static_cast<unsigned char>(last.front())) &&
        std::all_of(last.begin(), last.end(), [](char c) {
          return absl::ascii_isxdigit(static_cast<unsigned char>(c)) || c == 'x';
        })) {
      return Invalid(field, absl::StrCat("host ", Quote(result.host),
                                         ". looks like an IP address with a trailing dot"));
    }
  }
  if (result.host.front() == '.' || result.host.back() == '.' ||
      absl::StrContains(result.host, "..")) {
    return Invalid(field, absl::StrCat("host ", Quote(result.host), " has an empty label"));
  }
  if (result.host.size() > 253) return Invalid(field, "host is longer than 253 bytes");

  const int default_port = result.scheme == "https" ? 443 : 80;
  result.port = default_port;
  CurlStringPtr port = GetPart(h, CURLUPART_PORT, 0, &rc);
  if (rc == CURLUE_OK) {
    if (!absl::SimpleAtoi(port.get(), &result.port) || result.port < 1 || result.port > 65535) {
      return Invalid(field, absl::StrCat("port ", Quote(port.get()), " is not 1..65535"));
    }
  } else if (rc != CURLUE_NO_PORT) {
    return Invalid(field, absl::StrCat("port: ", curl_url_strerror(rc)));
  }

  CurlStringPtr raw_path = GetPart(h, CURLUPART_PATH, 0, &rc);
  std::string path;
  if (absl::Status s =
          NormalizePercent(rc == CURLUE_OK ? raw_path.get() : "/", false, field, &path);
      !s.ok()) {
    return s;
  }
  if (path.empty() || path[0] != '/') path.insert(0, "/");
  path = RemoveDotSegments(path);

  std::string query;
  CurlStringPtr raw_query = GetPart(h, CURLUPART_QUERY, 0, &rc);
  if (rc == CURLUE_OK) {
    if (absl::Status s = NormalizePercent(raw_query.get(), true, field, &query); !s.ok()) return s;
  }

  result.url = absl::StrCat(result.scheme, "://", result.host);
  if (result.port != default_port) absl::StrAppend(&result.url, ":", result.port);
  absl::StrAppend(&result.url, path);
  if (!query.empty()) absl::StrAppend(&result.url, "?", query);
  if (result.url.size() > kMaxUrlBytes) {
    return Invalid(field, absl::StrFormat("is %d bytes once canonical; the limit is %d",
                                          result.url.size(), kMaxUrlBytes));
  }
  return result;
}

absl::StatusOr<CurlUrlPtr> Parse(absl::string_view raw, absl::string_view field) {
  if (absl::Status s = CheckBytes(raw, field); !s.ok()) return s;
  if (absl::Status s = CheckScheme(raw, field); !s.ok()) return s;
  EnsureCurlInitialized();
  CurlUrlPtr h(curl_url());
  if (h == nullptr) return absl::ResourceExhaustedError("curl_url: out of memory");
  const std::string copy(raw);
  if (CURLUcode rc = curl_url_set(h.get(), CURLUPART_URL, copy.c_str(), 0); rc != CURLUE_OK) {
    return Invalid(field, absl::StrCat(Quote(raw), " does not parse: ", curl_url_strerror(rc)));
  }
  return h;
}

}  // namespace

absl::StatusOr<CanonicalUrl> CanonicalizeUrl(absl::string_view raw, absl::string_view field) {
  absl::StatusOr<CurlUrlPtr> h = Parse(raw, field);
  if (!h.ok()) return h.status();
  return CanonicalizeParsed(h->get(), field);
}

absl::StatusOr<CanonicalUrl> ResolveUrl(absl::string_view base, absl::string_view reference,
                                        absl::string_view field) {
  absl::StatusOr<CurlUrlPtr> h = Parse(base, "base url");
  if (!h.ok()) return h.status();
  if (absl::Status s = CheckBytes(reference, field); !s.ok()) return s;
  const std::string copy(reference);
  if (CURLUcode rc = curl_url_set(h->get(), CURLUPART_URL, copy.c_str(), 0); rc != CURLUE_OK) {
    return Invalid(field, absl::StrCat(Quote(reference), " does not resolve against ", Quote(base),
                                       ": ", curl_url_strerror(rc)));
  }
  return CanonicalizeParsed(h->get(), field);
}

}  // namespace cdnwarm::common
