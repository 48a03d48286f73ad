// Request variants and target regions: every refusal names the field that was wrong.

#include "common/fetch/task_validation.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cdnwarm::common {
namespace {

using ::testing::HasSubstr;
using Variants = google::protobuf::RepeatedPtrField<cdnwarm::v1::RequestVariant>;

cdnwarm::v1::RequestVariant Variant(const std::string& name, const std::string& header,
                                    const std::string& value) {
  cdnwarm::v1::RequestVariant v;
  v.set_name(name);
  auto* h = v.add_headers();
  h->set_name(header);
  h->set_value(value);
  return v;
}

std::string Why(const Variants& v) { return std::string(ValidateVariants(v, "v").message()); }

TEST(TaskValidationTest, VariantsAreCheckedHeaderByHeaderNamingTheField) {
  Variants v;
  *v.Add() = Variant("gzip", "Accept-Encoding", "gzip");
  *v.Add() = Variant("webp", "Accept", "image/webp,*/*");
  EXPECT_TRUE(ValidateVariants(v, "v").ok());

  Variants twice = v;
  twice.Mutable(1)->set_name("gzip");
  EXPECT_THAT(Why(twice), HasSubstr("v[1].name: \"gzip\" names another variant too"));

  Variants bad_name = v;
  bad_name.Mutable(1)->mutable_headers(0)->set_name("Bad Header");
  EXPECT_THAT(Why(bad_name), HasSubstr("v[1].headers[0].name"));

  Variants injected = v;
  injected.Mutable(0)->mutable_headers(0)->set_value("gzip\r\nHost: evil");
  EXPECT_THAT(Why(injected), HasSubstr("v[0].headers[0].value"));

  for (const char* framing : {"Host", "Content-Length", "Transfer-Encoding", "Connection"}) {
    Variants f = v;
    f.Mutable(0)->mutable_headers(0)->set_name(framing);
    EXPECT_THAT(Why(f), HasSubstr("v[0].headers[0].name")) << framing;
  }

  Variants many;
  for (int i = 0; i <= kMaxVariants; ++i) *many.Add() = Variant(std::to_string(i), "A", "b");
  EXPECT_THAT(Why(many), HasSubstr("the limit is 8"));
  Variants headers;
  *headers.Add() = Variant("x", "A", "b");
  for (int i = 0; i < kMaxHeadersPerVariant; ++i) {
    auto* h = headers.Mutable(0)->add_headers();
    h->set_name("X-H" + std::to_string(i));
    h->set_value("1");
  }
  EXPECT_THAT(Why(headers), HasSubstr("v[0].headers: has 17 entries"));
}

TEST(TaskValidationTest, TargetRegionsAreWellFormedAndBounded) {
  google::protobuf::RepeatedPtrField<std::string> r;
  *r.Add() = "eu-west";
  *r.Add() = "us-east-1";
  EXPECT_TRUE(ValidateTargetRegions(r, "options.target_regions").ok());
  *r.Add() = "EU West";
  EXPECT_THAT(std::string(ValidateTargetRegions(r, "options.target_regions").message()),
              HasSubstr("options.target_regions[2]"));
  google::protobuf::RepeatedPtrField<std::string> many;
  for (int i = 0; i <= kMaxTargetRegions; ++i) *many.Add() = "r" + std::to_string(i);
  EXPECT_THAT(std::string(ValidateTargetRegions(many, "t").message()), HasSubstr("the limit is"));
}

}  // namespace
}  // namespace cdnwarm::common
