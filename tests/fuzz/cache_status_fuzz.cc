// Cache-status header parsing: arbitrary header values never crash the parser, and the
// report is consistent (an edge status is one of the enum's values).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "warmer/cache_status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The input is split on '\n' into the values of the headers the parser reads.
  static const char* const kNames[] = {
      "cache-status", "cf-cache-status", "x-cache-status", "x-cache", "age",  "cache-control",
      "x-served-by",  "x-amz-cf-pop",    "cf-ray",         "via",     "vary", "x-edge-location"};
  cdnwarm::warmer::HeaderMap headers;
  absl::string_view rest(reinterpret_cast<const char*>(data), size);
  for (const char* name : kNames) {
    if (rest.empty()) break;
    const size_t nl = rest.find('\n');
    headers[name] = std::string(rest.substr(0, nl));
    rest = nl == absl::string_view::npos ? absl::string_view() : rest.substr(nl + 1);
  }
  const cdnwarm::warmer::CacheReport report = cdnwarm::warmer::ParseCacheStatus(headers);
  if (!cdnwarm::v1::CacheStatus_IsValid(report.edge)) std::abort();
  if (cdnwarm::warmer::CacheStatusName(report.edge) == nullptr) std::abort();
  if (!report.cacheable && report.not_cacheable_reason.empty()) std::abort();
  (void)cdnwarm::warmer::ParsePop(headers);
  (void)cdnwarm::warmer::UnvariedHeaders(headers, {"accept-encoding"});
  return 0;
}
