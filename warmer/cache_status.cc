#include "warmer/cache_status.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace cdnwarm::warmer {
namespace {

using cdnwarm::v1::CacheStatus;

const std::string* Find(const HeaderMap& h, const char* name) {
  auto it = h.find(name);
  return it == h.end() ? nullptr : &it->second;
}

std::vector<std::string> CommaList(absl::string_view value) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(value, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (!part.empty()) out.emplace_back(part);
  }
  return out;
}

// One token of the X-Cache family: "HIT", "TCP_MEM_HIT", "RefreshHit", "Miss from
// cloudfront" (the first word counts), "HIT: 3" (Varnish hit count).
CacheStatus ClassifyToken(absl::string_view raw) {
  std::string t = absl::AsciiStrToUpper(raw.substr(0, raw.find_first_of(" :;(")));
  absl::string_view v = t;
  absl::ConsumePrefix(&v, "TCP_");
  absl::ConsumePrefix(&v, "UDP_");
  if (v == "HIT" || v == "MEM_HIT" || v == "IMS_HIT" || v == "NEGATIVE_HIT" || v == "CACHED" ||
      v == "HIT-STALE-NONE") {
    return cdnwarm::v1::CACHE_STATUS_HIT;
  }
  if (v == "MISS" || v == "UNCACHED" || v == "CLIENT_REFRESH_MISS") {
    return cdnwarm::v1::CACHE_STATUS_MISS;
  }
  if (v == "REFRESHHIT" || v == "REFRESH_HIT" || v == "REFRESH_MISS" || v == "REFRESH_FAIL_HIT" ||
      v == "EXPIRED" || v == "REVALIDATED") {
    return cdnwarm::v1::CACHE_STATUS_EXPIRED;
  }
  if (v == "STALE" || v == "UPDATING" || v == "HIT-STALE") return cdnwarm::v1::CACHE_STATUS_STALE;
  if (v == "BYPASS" || v == "PASS" || v == "DYNAMIC" || v == "UNCACHEABLE" || v == "NOCACHE" ||
      v == "NO_CACHE" || v == "PRIVATE") {
    return cdnwarm::v1::CACHE_STATUS_BYPASS;
  }
  return cdnwarm::v1::CACHE_STATUS_UNKNOWN;
}

cdnwarm::v1::CacheLayer Layer(absl::string_view name, CacheStatus status, absl::string_view raw) {
  cdnwarm::v1::CacheLayer l;
  l.set_name(std::string(name));
  l.set_status(status);
  l.set_raw(std::string(raw));
  return l;
}

// RFC 9211: `name; hit`, `name; fwd=miss; stored`, `"quoted name"; fwd=bypass`, ...
// Entries are listed from the origin side to the client side. `*client_side_not_stored`:
// the last entry forwarded the request and does not say `stored`.
std::vector<cdnwarm::v1::CacheLayer> ParseRfc9211(absl::string_view value,
                                                  bool* client_side_not_stored) {
  std::vector<cdnwarm::v1::CacheLayer> out;
  for (const std::string& entry : CommaList(value)) {
    std::vector<std::string> params = absl::StrSplit(entry, ';');
    std::string name(absl::StripAsciiWhitespace(params[0]));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      name = name.substr(1, name.size() - 2);
    }
    CacheStatus status = cdnwarm::v1::CACHE_STATUS_UNKNOWN;
    bool hit = false;
    int64_t ttl = 1;
    bool has_ttl = false;
    std::string fwd;
    bool stored = false;
    for (size_t i = 1; i < params.size(); ++i) {
      absl::string_view p = absl::StripAsciiWhitespace(params[i]);
      const std::string key = absl::AsciiStrToLower(p.substr(0, p.find('=')));
      const absl::string_view val = p.find('=') == absl::string_view::npos
                                        ? absl::string_view()
                                        : absl::StripAsciiWhitespace(p.substr(p.find('=') + 1));
      if (key == "hit") hit = true;
      if (key == "stored") stored = val.empty() || val == "?1";
      if (key == "fwd") fwd = absl::AsciiStrToLower(val);
      if (key == "ttl") has_ttl = absl::SimpleAtoi(val, &ttl);
    }
    if (hit) {
      status = has_ttl && ttl < 0 ? cdnwarm::v1::CACHE_STATUS_STALE : cdnwarm::v1::CACHE_STATUS_HIT;
    } else if (fwd == "uri-miss" || fwd == "vary-miss" || fwd == "miss" || fwd == "partial") {
      status = cdnwarm::v1::CACHE_STATUS_MISS;
    } else if (fwd == "stale") {
      status = cdnwarm::v1::CACHE_STATUS_EXPIRED;
    } else if (fwd == "bypass" || fwd == "method" || fwd == "request") {
      status = cdnwarm::v1::CACHE_STATUS_BYPASS;
    }
    out.push_back(Layer(name, status, entry));
    *client_side_not_stored = !hit && !fwd.empty() && !stored;
  }
  return out;
}

// Varnish: X-Varnish carries the id of this request, then the id of the request that
// stored the object when it is served from cache ("32770 3").
cdnwarm::v1::CacheLayer ParseXVarnish(absl::string_view value) {
  std::vector<absl::string_view> ids =
      absl::StrSplit(absl::StripAsciiWhitespace(value), ' ', absl::SkipEmpty());
  CacheStatus status = cdnwarm::v1::CACHE_STATUS_UNKNOWN;
  if (ids.size() == 1) status = cdnwarm::v1::CACHE_STATUS_MISS;
  if (ids.size() == 2) status = cdnwarm::v1::CACHE_STATUS_HIT;
  return Layer("x-varnish", status, value);
}

}  // namespace

const char* CacheStatusName(cdnwarm::v1::CacheStatus status) {
  switch (status) {
    case cdnwarm::v1::CACHE_STATUS_HIT:
      return "HIT";
    case cdnwarm::v1::CACHE_STATUS_MISS:
      return "MISS";
    case cdnwarm::v1::CACHE_STATUS_STALE:
      return "STALE";
    case cdnwarm::v1::CACHE_STATUS_EXPIRED:
      return "EXPIRED";
    case cdnwarm::v1::CACHE_STATUS_BYPASS:
      return "BYPASS";
    default:
      return "UNKNOWN";
  }
}

CacheReport ParseCacheStatus(const HeaderMap& headers) {
  CacheReport r;
  bool decided = false;
  auto decide = [&](const std::vector<cdnwarm::v1::CacheLayer>& layers) {
    r.layers.insert(r.layers.end(), layers.begin(), layers.end());
    if (!decided && !layers.empty()) {
      r.edge = layers.back().status();
      decided = true;
    }
  };
  if (const std::string* v = Find(headers, "cache-status")) {
    decide(ParseRfc9211(*v, &r.edge_not_stored));
  }
  for (const char* name : {"cf-cache-status", "x-cache-status", "x-cache"}) {
    const std::string* v = Find(headers, name);
    if (v == nullptr) continue;
    std::vector<cdnwarm::v1::CacheLayer> layers;
    for (const std::string& token : CommaList(*v)) {
      layers.push_back(Layer(name, ClassifyToken(token), token));
    }
    decide(layers);
  }
  if (const std::string* v = Find(headers, "x-varnish")) decide({ParseXVarnish(*v)});
  if (const std::string* age = Find(headers, "age")) {
    int64_t seconds = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(*age), &seconds)) {
      decide({Layer("age",
                    seconds > 0 ? cdnwarm::v1::CACHE_STATUS_HIT : cdnwarm::v1::CACHE_STATUS_UNKNOWN,
                    *age)});
    }
  }
  if (r.edge == cdnwarm::v1::CACHE_STATUS_BYPASS) {
    r.cacheable = false;
    r.not_cacheable_reason = "the edge reports it does not cache this response (BYPASS/DYNAMIC)";
  }
  if (const std::string* cc = Find(headers, "cache-control")) {
    for (const std::string& d : CommaList(absl::AsciiStrToLower(*cc))) {
      if (d == "no-store" || d == "private") {
        r.cacheable = false;
        r.not_cacheable_reason = "Cache-Control: " + d + " (a shared cache will not store it)";
      }
    }
  }
  return r;
}

std::string ParsePop(const HeaderMap& headers) {
  // The last entry of a comma list header; empty when absent or blank (",", "").
  const auto last_of = [&](const char* name) -> std::string {
    const std::string* v = Find(headers, name);
    if (v == nullptr) return "";
    std::vector<std::string> entries = CommaList(*v);
    return entries.empty() ? "" : entries.back();
  };
  if (std::string pop = last_of("x-amz-cf-pop"); !pop.empty()) return pop;
  if (std::string pop = last_of("x-served-by"); !pop.empty()) return pop;
  if (const std::string* v = Find(headers, "cf-ray")) {
    const size_t dash = v->rfind('-');
    if (dash != std::string::npos) return v->substr(dash + 1);
  }
  if (const std::string* v = Find(headers, "x-edge-location")) return *v;
  if (std::string via = last_of("via"); !via.empty()) {
    // "1.1 abc.cloudfront.net (CloudFront)": the received-by part.
    std::vector<std::string> words = absl::StrSplit(via, ' ', absl::SkipEmpty());
    return words.size() >= 2 ? words[1] : words.empty() ? "" : words[0];
  }
  return "";
}

std::vector<std::string> UnvariedHeaders(const HeaderMap& headers,
                                         const std::vector<std::string>& request_header_names) {
  std::vector<std::string> out;
  const std::string* vary = Find(headers, "vary");
  if (vary == nullptr) return out;
  for (const std::string& name : CommaList(absl::AsciiStrToLower(*vary))) {
    const bool varied =
        std::any_of(request_header_names.begin(), request_header_names.end(),
                    [&](const std::string& n) { return absl::EqualsIgnoreCase(n, name); });
    if (!varied) out.push_back(name);
  }
  return out;
}

}  // namespace cdnwarm::warmer
