#include "common/core/naming.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cdnwarm::common {
namespace {

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Quoted(absl::string_view s) {
  // Bounded so a hostile value cannot flood an error message or a log line.
  constexpr size_t kMax = 64;
  return absl::StrCat("\"", s.substr(0, kMax), s.size() > kMax ? "..." : "", "\"");
}

}  // namespace

absl::Status ValidateInstance(absl::string_view instance) {
  if (instance.empty()) return absl::OkStatus();
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("instance ", Quoted(instance), " ", why,
                                                   " (must match ^[a-z][a-z0-9]{0,15}$)"));
  };
  if (instance.size() > 16) return bad("is longer than 16 characters");
  if (!IsLower(instance[0])) return bad("does not start with a lower-case letter");
  for (char c : instance) {
    if (!IsLower(c) && !IsDigit(c)) return bad("contains a character other than a-z, 0-9");
  }
  return absl::OkStatus();
}

absl::Status CheckKnownRegion(absl::string_view region, const std::vector<std::string>& known,
                              absl::string_view prefix) {
  if (known.empty() || std::find(known.begin(), known.end(), region) != known.end()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(prefix, "\"", region,
                                                 "\" is not one of this deployment's regions (",
                                                 absl::StrJoin(known, ", "), ")"));
}

absl::Status ValidateRegion(absl::string_view region) {
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("region ", Quoted(region), " ", why, " (must match ^[a-z][a-z0-9-]{0,31}$)"));
  };
  if (region.empty()) return bad("is empty");
  if (region.size() > 32) return bad("is longer than 32 characters");
  if (!IsLower(region[0])) return bad("does not start with a lower-case letter");
  for (char c : region) {
    if (!IsLower(c) && !IsDigit(c) && c != '-') {
      return bad("contains a character other than a-z, 0-9, '-'");
    }
  }
  if (region.back() == '-') return bad("ends with '-'");
  return absl::OkStatus();
}

std::string WithInstance(absl::string_view base, absl::string_view instance) {
  if (instance.empty()) return std::string(base);
  return absl::StrCat(base, "-", instance);
}

absl::StatusOr<std::string> RegionGroup(absl::string_view prefix, absl::string_view region,
                                        absl::string_view instance) {
  if (absl::Status s = ValidateRegion(region); !s.ok()) return s;
  if (absl::Status s = ValidateInstance(instance); !s.ok()) return s;
  return WithInstance(absl::StrCat(prefix, ".", region), instance);
}

}  // namespace cdnwarm::common
