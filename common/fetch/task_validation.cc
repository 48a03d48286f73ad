#include "common/fetch/task_validation.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/core/naming.h"

namespace cdnwarm::common {
namespace {

// RFC 9110 token characters.
bool IsTokenChar(char c) {
  constexpr absl::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return absl::ascii_isalnum(c) || kSymbols.find(c) != absl::string_view::npos;
}

constexpr const char* kRefusedHeaders[] = {"host",
                                           "content-length",
                                           "transfer-encoding",
                                           "connection",
                                           "keep-alive",
                                           "upgrade",
                                           "te",
                                           "trailer",
                                           "proxy-authorization",
                                           "proxy-connection",
                                           "expect",
                                           "range",
                                           "authorization"};

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

absl::Status ValidateHeader(const cdnwarm::v1::Header& h, const std::string& field) {
  const std::string& name = h.name();
  if (name.empty()) return Invalid(absl::StrCat(field, ".name"), "is empty");
  if (name.size() > kMaxHeaderNameBytes) {
    return Invalid(absl::StrCat(field, ".name"),
                   absl::StrCat("is longer than ", kMaxHeaderNameBytes, " bytes"));
  }
  for (char c : name) {
    if (!IsTokenChar(c)) {
      return Invalid(absl::StrCat(field, ".name"),
                     absl::StrCat("\"", absl::CHexEscape(name), "\" is not an HTTP header name"));
    }
  }
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "authorization") {
    return Invalid(absl::StrCat(field, ".name"),
                   "header \"Authorization\" may not be set on a warm request: the credential "
                   "would be kept on the requests topic for its retention, and a shared cache "
                   "does not serve an authorised response to other users anyway");
  }
  for (const char* refused : kRefusedHeaders) {
    if (lower == refused) {
      return Invalid(absl::StrCat(field, ".name"),
                     absl::StrCat("header \"", name, "\" may not be set on a warm request"));
    }
  }
  if (h.value().size() > kMaxHeaderValueBytes) {
    return Invalid(absl::StrCat(field, ".value"),
                   absl::StrCat("is longer than ", kMaxHeaderValueBytes, " bytes"));
  }
  for (char c : h.value()) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) {
      return Invalid(absl::StrCat(field, ".value"), "contains a control character");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateVariants(
    const google::protobuf::RepeatedPtrField<cdnwarm::v1::RequestVariant>& variants,
    absl::string_view field) {
  if (variants.size() > kMaxVariants) {
    return Invalid(field,
                   absl::StrCat("has ", variants.size(), " entries; the limit is ", kMaxVariants));
  }
  std::set<std::string> names;
  for (int i = 0; i < variants.size(); ++i) {
    const cdnwarm::v1::RequestVariant& v = variants[i];
    const std::string vf = absl::StrCat(field, "[", i, "]");
    if (v.name().size() > kMaxVariantNameBytes) {
      return Invalid(absl::StrCat(vf, ".name"),
                     absl::StrCat("is longer than ", kMaxVariantNameBytes, " bytes"));
    }
    if (!names.insert(v.name()).second) {
      return Invalid(absl::StrCat(vf, ".name"),
                     absl::StrCat("\"", v.name(), "\" names another variant too"));
    }
    if (v.headers_size() > kMaxHeadersPerVariant) {
      return Invalid(
          absl::StrCat(vf, ".headers"),
          absl::StrCat("has ", v.headers_size(), " entries; the limit is ", kMaxHeadersPerVariant));
    }
    for (int j = 0; j < v.headers_size(); ++j) {
      if (absl::Status s = ValidateHeader(v.headers(j), absl::StrCat(vf, ".headers[", j, "]"));
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTargetRegions(const google::protobuf::RepeatedPtrField<std::string>& regions,
                                   absl::string_view field) {
  if (regions.size() > kMaxTargetRegions) {
    return Invalid(
        field, absl::StrCat("has ", regions.size(), " entries; the limit is ", kMaxTargetRegions));
  }
  for (int i = 0; i < regions.size(); ++i) {
    if (absl::Status s = ValidateRegion(regions[i]); !s.ok()) {
      return Invalid(absl::StrCat(field, "[", i, "]"), s.message());
    }
  }
  return absl::OkStatus();
}

}  // namespace cdnwarm::common
