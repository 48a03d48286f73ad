// Task options validated with errors that name the field, and task ids.

#include "producer/task_factory.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cdnwarm::producer {
namespace {

using ::testing::HasSubstr;

TEST(TaskOptionsTest, ValidationNamesTheField) {
  cdnwarm::v1::TaskOptions o;
  o.add_target_regions("eu-west");
  auto* v = o.add_variants();
  v->set_name("br");
  auto* h = v->add_headers();
  h->set_name("Accept-Encoding");
  h->set_value("br");
  EXPECT_TRUE(ValidateOptions(o, {}).ok());

  cdnwarm::v1::TaskOptions bad_region = o;
  bad_region.add_target_regions("EU");
  EXPECT_THAT(std::string(ValidateOptions(bad_region, {}).status().message()),
              HasSubstr("options.target_regions[1]"));
  cdnwarm::v1::TaskOptions bad_header = o;
  bad_header.mutable_variants(0)->mutable_headers(0)->set_value("br\r\nX-Evil: 1");
  EXPECT_THAT(std::string(ValidateOptions(bad_header, {}).status().message()),
              HasSubstr("options.variants[0].headers[0].value"));
  cdnwarm::v1::TaskOptions host_header = o;
  host_header.mutable_variants(0)->mutable_headers(0)->set_name("Host");
  EXPECT_THAT(std::string(ValidateOptions(host_header, {}).status().message()),
              HasSubstr("may not be set"));
  // A credential would be kept on the requests topic: refused, as common.proto says.
  cdnwarm::v1::TaskOptions auth = o;
  auth.mutable_variants(0)->mutable_headers(0)->set_name("authorization");
  auth.mutable_variants(0)->mutable_headers(0)->set_value("Bearer secret");
  EXPECT_THAT(std::string(ValidateOptions(auth, {}).status().message()),
              HasSubstr("options.variants[0].headers[0].name: header \"Authorization\" may "
                        "not be set on a warm request"));
  cdnwarm::v1::TaskOptions too_many = o;
  for (int i = 0; i < 9; ++i) too_many.add_variants()->set_name(std::to_string(i));
  EXPECT_THAT(std::string(ValidateOptions(too_many, {}).status().message()),
              HasSubstr("the limit is 8"));
  cdnwarm::v1::TaskOptions ttl = o;
  ttl.mutable_ttl()->set_seconds(8 * 24 * 3600);
  EXPECT_THAT(std::string(ValidateOptions(ttl, {}).status().message()), HasSubstr("options.ttl"));
  // A region the deployment does not have (a typo) is refused, naming it.
  EXPECT_TRUE(ValidateOptions(o, {"eu-west", "us-east"}).ok());
  cdnwarm::v1::TaskOptions typo;
  typo.add_target_regions("us-east");
  typo.add_target_regions("eu-wset");
  EXPECT_EQ(std::string(ValidateOptions(typo, {"eu-west", "us-east"}).status().message()),
            "options.target_regions[1]: region \"eu-wset\" is not one of this deployment's "
            "regions (eu-west, us-east)");
}

TEST(TaskIdTest, RoundTrips) {
  std::string job;
  uint32_t index = 0;
  ASSERT_TRUE(ParseTaskId(TaskId("jabc", 42), &job, &index));
  EXPECT_EQ(job, "jabc");
  EXPECT_EQ(index, 42u);
  EXPECT_FALSE(ParseTaskId("no-slash", &job, &index));
  EXPECT_FALSE(ParseTaskId("j/notanumber", &job, &index));
  EXPECT_NE(NewJobId(), NewJobId());
}

}  // namespace
}  // namespace cdnwarm::producer
